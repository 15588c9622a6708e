//! Shopify: the official HMAC vectors, every shared webhook and REST fixture, and the topics whose
//! samples are not shared (from `tests/fixtures/shopify/`), checked field by field.

use mindset_connectors::{Context, Error, shopify};
use mindset_schemas::{ConsentChannel, OrderLine, Platform};
use serde_json::json;

use crate::support::*;

const S: Platform = Platform::Shopify;

fn normalise(topic: &str, body: &[u8]) -> mindset_connectors::Normalised {
    let n = shopify::normalise(topic, body, &ctx()).unwrap_or_else(|e| panic!("{topic}: {e}"));
    check(&n);
    n
}

#[test]
fn official_hmac_vector_passes_and_tampering_fails() {
    let v = shared_json("shopify/signatures/webhook_hmac_vectors.json");
    let official = &v["official_vectors"][0];
    let secret = official["secret"].as_str().unwrap().as_bytes();
    let body = official["raw_body"].as_str().unwrap().as_bytes();
    let expected = official["expected_x_shopify_hmac_sha256"].as_str().unwrap();
    let mut h: mindset_connectors::Headers = official["request_headers_used_in_test"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(h["X-Shopify-Hmac-Sha256"], expected);
    assert_eq!(shopify::verify(secret, &h, body), Ok(()));

    // Header names are case-insensitive, and the newer spelling without `X-` is accepted.
    let lower = headers(&[("x-shopify-hmac-sha256", expected)]);
    assert_eq!(shopify::verify(secret, &lower, body), Ok(()));
    let events_style = headers(&[("shopify-hmac-sha256", expected)]);
    assert_eq!(shopify::verify(secret, &events_style, body), Ok(()));

    // One changed byte of body, secret or signature fails.
    assert_eq!(
        shopify::verify(secret, &h, b"{\"foo\": \"baz\"}"),
        Err(Error::SignatureMismatch {
            header: "X-Shopify-Hmac-Sha256"
        })
    );
    assert!(shopify::verify(b"test_secret_kez", &h, body).is_err());
    h.insert("X-Shopify-Hmac-Sha256".into(), "fake".into());
    assert_eq!(
        shopify::verify(secret, &h, body),
        Err(Error::SignatureMismatch {
            header: "X-Shopify-Hmac-Sha256"
        })
    );
    h.insert("X-Shopify-Hmac-Sha256".into(), "not base64!".into());
    let err = shopify::verify(secret, &h, body).unwrap_err();
    assert!(matches!(err, Error::BadBase64 { .. }), "{err}");
    assert!(err.is_authentication());
    h.remove("X-Shopify-Hmac-Sha256");
    assert_eq!(
        shopify::verify(secret, &h, body),
        Err(Error::MissingHeader {
            header: "X-Shopify-Hmac-Sha256"
        })
    );

    // The vector's topic (products/*) is not one Mindset maps: a clear refusal, not a panic.
    let err = shopify::normalise("products/create", body, &ctx()).unwrap_err();
    assert!(matches!(err, Error::UnknownTopic { .. }), "{err}");
    assert!(err.to_string().contains("orders/create"));
}

#[test]
fn derived_vectors_over_the_webhook_fixtures() {
    let v = shared_json("shopify/signatures/webhook_hmac_vectors.json");
    let items = v["DERIVED_NOT_OFFICIAL_vectors_over_fixture_files"]["items"]
        .as_array()
        .unwrap();
    assert_eq!(items.len(), 3);
    for item in items {
        let file = item["file"].as_str().unwrap();
        let secret = item["secret"].as_str().unwrap().as_bytes();
        let hmac = item["x_shopify_hmac_sha256"].as_str().unwrap();
        let mut body = shared(&format!("shopify/{file}"));
        let h = headers(&[("X-Shopify-Hmac-Sha256", hmac)]);
        assert_eq!(shopify::verify(secret, &h, &body), Ok(()), "{file}");
        // A re-serialised body is a different message.
        let reserialised = bytes(&serde_json::from_slice(&body).unwrap());
        assert!(
            shopify::verify(secret, &h, &reserialised).is_err(),
            "{file}"
        );
        let last = body.len() - 3;
        body[last] ^= 0x01;
        assert!(shopify::verify(secret, &h, &body).is_err(), "{file}");
    }
}

fn sample_order_lines() -> Vec<OrderLine> {
    let line = |product: &str, sku: &str, title: &str, price: i64| OrderLine {
        product_id: product.into(),
        variant_id: None,
        sku: Some(sku.into()),
        title: title.into(),
        category: None,
        brand: None,
        quantity: 1,
        unit_price_minor: price,
        discount_minor: 0,
    };
    vec![
        line(
            "788032119674292922",
            "SKU2006-001",
            "Aviator sunglasses",
            8_999,
        ),
        line(
            "sku:LENS-PROTECT-2YR",
            "LENS-PROTECT-2YR",
            "Lens Protection Plan (2 Year)",
            1_999,
        ),
        line(
            "sku:CASE-LEATHER-PREM",
            "CASE-LEATHER-PREM",
            "Premium Leather Case",
            2_499,
        ),
        line(
            "788032119674292922",
            "SKU2006-020",
            "Mid-century lounger",
            15_999,
        ),
        line("788032119674292922", "SKU2006-035", "Coffee table", 11_999),
    ]
}

#[test]
fn orders_create_webhook_maps_field_by_field() {
    let n = normalise(
        "orders/create",
        &shared("shopify/webhooks/orders_create.json"),
    );
    assert_eq!(types(&n), ["CustomerUpserted", "OrderPlaced"]);
    // 2021-12-31T19:00:00-05:00
    let at = 1_640_995_200_000;

    let c = &n.events[0];
    assert_eq!(
        c.event_id,
        id(
            S,
            "CustomerUpserted",
            &["115310627314723954", "1640995200000"]
        )
    );
    assert_eq!(c.customer_key.as_deref(), Some("email:john@example.com"));
    assert_eq!(c.source_id, "115310627314723954");
    assert_eq!(c.occurred_at, at);
    let cu = customer(c);
    assert_eq!(cu.platform_customer_id, "115310627314723954");
    assert_eq!(cu.email.as_deref(), Some("john@example.com"));
    assert_eq!(
        (cu.first_name.as_deref(), cu.last_name.as_deref()),
        (Some("John"), Some("Smith"))
    );
    assert_eq!(
        (cu.country.as_deref(), cu.city.as_deref()),
        (Some("CA"), Some("Ottawa"))
    );
    assert!(!cu.accepts_marketing);
    assert_eq!(cu.platform_created_at, None);

    let ev = &n.events[1];
    assert_eq!(
        ev.event_id,
        id(S, "OrderPlaced", &["820982911946154508", "1640995200000"])
    );
    assert_eq!(ev.source_id, "820982911946154508");
    assert_eq!(ev.customer_key.as_deref(), Some("email:john@example.com"));
    assert_eq!(ev.occurred_at, at);
    let o = order(ev);
    assert_eq!(o.order_id, "820982911946154508");
    assert_eq!(o.order_number.as_deref(), Some("#9999"));
    assert_eq!(o.currency, "USD");
    assert_eq!(o.lines, sample_order_lines());
    assert_eq!(o.subtotal_minor, 41_495);
    assert_eq!(o.discount_minor, 2_000);
    assert_eq!(o.shipping_minor, 1_000);
    assert_eq!(o.tax_minor, 0);
    assert_eq!(o.total_minor, 40_495);
    assert!(o.discount_codes.is_empty());
    assert_eq!(o.financial_status, "voided");
    assert!(o.is_test);
    assert!(!o.guest);
    assert_eq!(o.checkout_id, None);
    assert_eq!(o.channel.as_deref(), Some("web"));

    assert_eq!(n.raw.platform, "shopify");
    assert_eq!(n.raw.source, "orders/create");
    assert_eq!(n.raw.body, shared("shopify/webhooks/orders_create.json"));
    assert_eq!(n.raw.content_type.as_deref(), Some("application/json"));
}

#[test]
fn redelivery_and_the_same_version_under_other_topics_share_ids() {
    let body = shared("shopify/webhooks/orders_create.json");
    let first = normalise("orders/create", &body);
    assert_eq!(normalise("orders/create", &body), first);
    // SOURCES.md: the orders/paid and orders/updated samples are this same payload.
    for topic in ["orders/paid", "orders/updated"] {
        let other = normalise(topic, &body);
        let ids: Vec<_> = other.events.iter().map(|e| &e.event_id).collect();
        assert_eq!(
            ids,
            first.events.iter().map(|e| &e.event_id).collect::<Vec<_>>()
        );
        assert_ne!(other.raw.raw_id, first.raw.raw_id, "raw ids name the topic");
    }
    // A later version is a distinct fact: a new OrderPlaced id for the same order.
    let mut v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    v["updated_at"] = json!("2022-01-02T08:00:00-05:00");
    v["financial_status"] = json!("paid");
    let updated = normalise("orders/updated", &bytes(&v));
    let o = &updated.events[1];
    assert_eq!(
        o.event_id,
        id(S, "OrderPlaced", &["820982911946154508", "1641128400000"])
    );
    assert_ne!(o.event_id, first.events[1].event_id);
    assert_eq!(order(o).financial_status, "paid");
    assert_eq!(
        o.occurred_at, first.events[1].occurred_at,
        "placed time, in every version"
    );
}

#[test]
fn guest_orders_key_by_email_then_by_order() {
    let mut v = shared_json("shopify/webhooks/orders_create.json");
    v.as_object_mut().unwrap().remove("customer");
    let n = normalise("orders/create", &bytes(&v));
    assert_eq!(types(&n), ["OrderPlaced"]);
    assert_eq!(
        n.events[0].customer_key.as_deref(),
        Some("email:jon@example.com")
    );
    assert!(order(&n.events[0]).guest);

    v["email"] = json!(null);
    v["contact_email"] = json!(null);
    let n = normalise("orders/create", &bytes(&v));
    assert_eq!(
        n.events[0].customer_key.as_deref(),
        Some("guest:shopify:820982911946154508")
    );

    // A customer without an email of their own shares the order's contact email as key.
    let mut v = shared_json("shopify/webhooks/orders_create.json");
    v["customer"]["email"] = json!(null);
    let n = normalise("orders/create", &bytes(&v));
    assert_eq!(
        n.events[0].customer_key.as_deref(),
        Some("email:jon@example.com")
    );
    assert_eq!(
        n.events[1].customer_key.as_deref(),
        Some("email:jon@example.com")
    );
    assert_eq!(
        customer(&n.events[0]).email.as_deref(),
        Some("jon@example.com")
    );
    // Without any email, a customer is keyed by Shopify's id.
    v["email"] = json!(null);
    v["contact_email"] = json!("");
    let n = normalise("orders/create", &bytes(&v));
    assert_eq!(
        n.events[1].customer_key.as_deref(),
        Some("shopify:115310627314723954")
    );
    assert_eq!(
        n.events[0].customer_key.as_deref(),
        Some("shopify:115310627314723954")
    );
}

#[test]
fn rest_orders_page_maps_order_customer_consents_and_refund() {
    let v = shared_json("shopify/rest_admin/orders_list.status_any.json");
    let n = normalise("rest/orders", &bytes(&v["response_body"]));
    assert_eq!(
        types(&n),
        [
            "CustomerUpserted",
            "ConsentChanged",
            "ConsentChanged",
            "OrderPlaced",
            "OrderRefunded"
        ]
    );
    let key = Some("email:bob.norman@mail.example.com");
    assert!(n.events.iter().all(|e| e.customer_key.as_deref() == key));

    let cu = customer(&n.events[0]);
    assert_eq!(n.events[0].occurred_at, 1_743_611_399_000); // 2025-04-02T11:29:59-05:00
    assert_eq!(cu.phone.as_deref(), Some("+16136120707"));
    assert_eq!(cu.tags, ["Léon", "Noël"]);
    assert_eq!(
        (cu.country.as_deref(), cu.city.as_deref()),
        (Some("US"), Some("Louisville"))
    );
    assert_eq!(cu.platform_created_at, Some(1_743_611_399_000));

    let email = consent(&n.events[1]);
    assert_eq!(
        (email.channel, email.granted),
        (ConsentChannel::Email, false)
    );
    assert_eq!(email.source.as_deref(), Some("shopify:not_subscribed"));
    assert_eq!(n.events[1].occurred_at, 1_087_142_231_000); // 2004-06-13T11:57:11-04:00
    assert_eq!(
        n.events[1].event_id,
        id(
            S,
            "ConsentChanged",
            &["207119551", "email", "1087142231000"]
        )
    );
    let sms = consent(&n.events[2]);
    assert_eq!((sms.channel, sms.granted), (ConsentChannel::Sms, false));
    assert_eq!(n.events[2].occurred_at, 1_704_110_400_000);

    let ev = &n.events[3];
    assert_eq!(ev.occurred_at, 1_199_980_800_000); // processed_at 2008-01-10T11:00:00-05:00
    assert_eq!(
        ev.event_id,
        id(S, "OrderPlaced", &["450789469", "1199980800000"])
    );
    let o = order(ev);
    assert_eq!(o.order_number.as_deref(), Some("#1001"));
    let lines: Vec<_> = o
        .lines
        .iter()
        .map(|l| {
            (
                l.product_id.as_str(),
                l.variant_id.as_deref(),
                l.sku.as_deref(),
                l.quantity,
                l.unit_price_minor,
                l.discount_minor,
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (
                "632910392",
                Some("39072856"),
                Some("IPOD2008GREEN"),
                1,
                19_900,
                334
            ),
            (
                "632910392",
                Some("49148385"),
                Some("IPOD2008RED"),
                1,
                19_900,
                333
            ),
            (
                "632910392",
                Some("457924702"),
                Some("IPOD2008BLACK"),
                1,
                19_900,
                333
            ),
        ]
    );
    assert_eq!(
        (
            o.subtotal_minor,
            o.discount_minor,
            o.shipping_minor,
            o.tax_minor,
            o.total_minor
        ),
        (59_700, 1_000, 0, 1_194, 59_894)
    );
    assert_eq!(o.discount_codes, ["TENOFF"]);
    assert_eq!(o.financial_status, "partially_refunded");
    assert!(!o.is_test && !o.guest);
    assert_eq!(
        o.checkout_id.as_deref(),
        Some("bd5a8aa1ecd019dd3520ff791ee3a24c")
    );

    let ev = &n.events[4];
    assert_eq!(
        ev.event_id,
        id(S, "OrderRefunded", &["450789469", "509562969"])
    );
    assert_eq!(ev.source_id, "509562969");
    assert_eq!(ev.occurred_at, 1_743_611_399_000);
    let r = refund(ev);
    assert_eq!(
        (
            r.order_id.as_str(),
            r.refund_id.as_str(),
            r.currency.as_str()
        ),
        ("450789469", "509562969", "USD")
    );
    assert_eq!(r.amount_minor, 20_900, "the successful refund transaction");
    assert_eq!(r.reason.as_deref(), Some("it broke during shipping"));
    let lines: Vec<_> = r
        .lines
        .iter()
        .map(|l| (l.product_id.as_str(), l.quantity, l.amount_minor))
        .collect();
    assert_eq!(lines, [("632910392", 1, 19_566), ("632910392", 1, 19_567)]);

    // The same order as a single-order response gets the same ids.
    let one = json!({ "order": v["response_body"]["orders"][0] });
    let single = normalise("rest/order", &bytes(&one));
    assert_eq!(single.events, n.events);
}

#[test]
fn customers_create_webhook_and_rest_page() {
    let n = normalise(
        "customers/create",
        &shared("shopify/webhooks/customers_create.json"),
    );
    assert_eq!(types(&n), ["CustomerUpserted"]);
    let ev = &n.events[0];
    assert_eq!(ev.customer_key.as_deref(), Some("email:bob@biller.com"));
    assert_eq!(
        ev.event_id,
        id(
            S,
            "CustomerUpserted",
            &["706405506930370084", "1640995200000"]
        )
    );
    let c = customer(ev);
    assert_eq!(c.platform_customer_id, "706405506930370084");
    assert_eq!(
        (c.first_name.as_deref(), c.last_name.as_deref()),
        (Some("Bob"), Some("Biller"))
    );
    assert_eq!(
        (c.country.as_deref(), c.city.as_deref()),
        (Some("CA"), Some("Ottawa"))
    );
    assert_eq!(c.platform_created_at, Some(1_640_995_200_000));
    assert!(c.tags.is_empty() && !c.accepts_marketing);

    let v = shared_json("shopify/rest_admin/customers_list.json");
    let n = normalise("rest/customers", &bytes(&v["response_body"]));
    assert_eq!(
        types(&n),
        ["CustomerUpserted", "ConsentChanged", "ConsentChanged"]
    );
    let c = customer(&n.events[0]);
    assert_eq!(c.platform_customer_id, "207119551");
    assert_eq!(
        n.events[0].customer_key.as_deref(),
        Some("email:bob.norman@mail.example.com")
    );
    assert_eq!(n.events[0].occurred_at, 1_743_611_134_000); // 2025-04-02T11:25:34-05:00
    assert_eq!(c.phone.as_deref(), Some("+16136120707"));
    let single = normalise(
        "rest/customer",
        &bytes(&json!({"customer": v["response_body"]["customers"][0]})),
    );
    assert_eq!(single.events, n.events);
}

#[test]
fn customers_update_with_consents() {
    let n = normalise(
        "customers/update",
        &own("shopify/customers_update_consent.json"),
    );
    assert_eq!(
        types(&n),
        ["CustomerUpserted", "ConsentChanged", "ConsentChanged"]
    );
    let key = Some("email:bob@biller.com");
    assert!(n.events.iter().all(|e| e.customer_key.as_deref() == key));
    let c = customer(&n.events[0]);
    assert_eq!(
        c.email.as_deref(),
        Some("bob@biller.com"),
        "trimmed and lowercased"
    );
    assert!(c.accepts_marketing);
    assert_eq!(c.tags, ["vip", "newsletter"]);
    assert_eq!(n.events[0].occurred_at, 1_643_727_600_000); // 2022-02-01T10:00:00-05:00
    let email = consent(&n.events[1]);
    assert_eq!(
        (email.channel, email.granted),
        (ConsentChannel::Email, true)
    );
    assert_eq!(n.events[1].occurred_at, 1_643_727_540_000);
    let sms = consent(&n.events[2]);
    assert_eq!((sms.channel, sms.granted), (ConsentChannel::Sms, false));
    assert_eq!(sms.source.as_deref(), Some("shopify:unsubscribed"));

    // The legacy flag stands in when the consent objects are absent.
    let mut v = own_json("shopify/customers_update_consent.json");
    let o = v.as_object_mut().unwrap();
    o.remove("email_marketing_consent");
    o.remove("sms_marketing_consent");
    o.insert("accepts_marketing".into(), json!(true));
    o.insert(
        "accepts_marketing_updated_at".into(),
        json!("2022-01-20T00:00:00Z"),
    );
    let n = normalise("customers/update", &bytes(&v));
    assert_eq!(types(&n), ["CustomerUpserted", "ConsentChanged"]);
    assert!(customer(&n.events[0]).accepts_marketing);
    assert!(consent(&n.events[1]).granted);
    assert_eq!(n.events[1].occurred_at, 1_642_636_800_000);
}

#[test]
fn checkouts_create_gives_checkout_cart_and_customer() {
    let n = normalise(
        "checkouts/create",
        &shared("shopify/webhooks/checkouts_create.json"),
    );
    assert_eq!(
        types(&n),
        ["CustomerUpserted", "CheckoutStarted", "CartUpdated"]
    );
    let key = Some("email:john@example.com");
    assert!(n.events.iter().all(|e| e.customer_key.as_deref() == key));
    assert_eq!(
        customer(&n.events[0]).platform_customer_id,
        "603851970716743426"
    );

    let ev = &n.events[1];
    assert_eq!(
        ev.event_id,
        id(S, "CheckoutStarted", &["123123123", "1640995200000"])
    );
    assert_eq!(ev.source_id, "123123123");
    assert_eq!(ev.occurred_at, 1_640_995_200_000);
    let c = checkout(ev);
    assert_eq!(c.checkout_id, "123123123");
    assert_eq!(
        c.cart_id.as_deref(),
        Some("eeafa272cebfd4b22385bc4b645e762c")
    );
    assert_eq!(
        (c.currency.as_str(), c.total_minor, c.line_count),
        ("USD", 42_188, 2)
    );
    assert_eq!(
        c.recovery_url.as_deref(),
        Some(
            "https://checkout.local/548380009/checkouts/123123123/recover?key=example-secret-token"
        )
    );

    let ev = &n.events[2];
    assert_eq!(
        ev.event_id,
        id(
            S,
            "CartUpdated",
            &["eeafa272cebfd4b22385bc4b645e762c", "1640995200000"]
        )
    );
    let cart = cart(ev);
    assert_eq!((cart.currency.as_str(), cart.total_minor), ("USD", 39_800));
    let lines: Vec<_> = cart
        .lines
        .iter()
        .map(|l| {
            (
                l.product_id.as_str(),
                l.variant_id.as_deref(),
                l.title.as_deref(),
                l.quantity,
                l.unit_price_minor,
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            (
                "632910392",
                Some("808950810"),
                Some("IPod Nano - 8GB"),
                1,
                19_900
            );
            2
        ]
    );

    // The abandoned-checkouts REST page holds the same objects.
    let page = json!({ "checkouts": [serde_json::from_slice::<serde_json::Value>(&shared("shopify/webhooks/checkouts_create.json")).unwrap()] });
    assert_eq!(normalise("rest/checkouts", &bytes(&page)).events, n.events);
}

#[test]
fn refunds_create_needs_the_orders_customer() {
    let body = own("shopify/refunds_create.json");
    let n = normalise("refunds/create", &body);
    assert!(n.events.is_empty());
    assert!(n.note.as_deref().unwrap().contains("orders/updated"));

    let owners = |p: Platform, order: &str| {
        (p == Platform::Shopify && order == "820982911946154508")
            .then(|| "email:john@example.com".to_owned())
    };
    let with_owner = Context::new(TENANT, RECEIVED).with_order_owners(&owners);
    let n = shopify::normalise("refunds/create", &body, &with_owner).unwrap();
    check(&n);
    assert_eq!(types(&n), ["OrderRefunded"]);
    let ev = &n.events[0];
    assert_eq!(
        ev.event_id,
        id(
            S,
            "OrderRefunded",
            &["820982911946154508", "890088186047892319"]
        )
    );
    assert_eq!(ev.customer_key.as_deref(), Some("email:john@example.com"));
    assert_eq!(ev.occurred_at, 1_641_402_000_000); // 2022-01-05T12:00:00-05:00
    let r = refund(ev);
    assert_eq!((r.currency.as_str(), r.amount_minor), ("USD", 8_999));
    assert_eq!(r.reason.as_deref(), Some("Things were damaged"));
    let lines: Vec<_> = r
        .lines
        .iter()
        .map(|l| (l.product_id.as_str(), l.quantity, l.amount_minor))
        .collect();
    assert_eq!(lines, [("788032119674292922", 1, 8_999)]);

    // The JSON-float amounts give the same minor units as the strings.
    let mut v = own_json("shopify/refunds_create.json");
    let line = &mut v["refund_line_items"][0];
    line.as_object_mut().unwrap().remove("subtotal_set");
    line.as_object_mut().unwrap().remove("total_tax_set");
    v["transactions"] = json!([]);
    let n = shopify::normalise("refunds/create", &bytes(&v), &with_owner).unwrap();
    assert_eq!(refund(&n.events[0]).amount_minor, 8_999);

    // A refund page from the poller maps the same way.
    let page = json!({ "refunds": [own_json("shopify/refunds_create.json")] });
    let p = shopify::normalise("rest/refunds", &bytes(&page), &with_owner).unwrap();
    assert_eq!(p.events[0].event_id, ev.event_id);
}

#[test]
fn carts_update_and_its_currency() {
    let n = normalise("carts/update", &own("shopify/carts_update.json"));
    assert_eq!(types(&n), ["CartUpdated"]);
    let ev = &n.events[0];
    assert_eq!(
        ev.customer_key.as_deref(),
        Some("guest:shopify:eeafa272cebfd4b22385bc4b645e762c")
    );
    assert_eq!(ev.occurred_at, 1_640_995_200_000);
    assert_eq!(
        ev.event_id,
        id(
            S,
            "CartUpdated",
            &["eeafa272cebfd4b22385bc4b645e762c", "1640995200000"]
        )
    );
    let c = cart(ev);
    assert_eq!(
        (c.cart_id.as_str(), c.currency.as_str(), c.total_minor),
        ("eeafa272cebfd4b22385bc4b645e762c", "USD", 5_997)
    );
    let l = &c.lines[0];
    assert_eq!(
        (
            l.product_id.as_str(),
            l.variant_id.as_deref(),
            l.quantity,
            l.unit_price_minor
        ),
        ("788032119674292922", Some("704912205188288575"), 3, 1_999)
    );

    // Without any currency in the cart, the shop's currency is needed.
    let mut v = own_json("shopify/carts_update.json");
    v["line_items"][0]
        .as_object_mut()
        .unwrap()
        .remove("price_set");
    let err = shopify::normalise("carts/update", &bytes(&v), &ctx()).unwrap_err();
    assert!(err.to_string().contains("shop_currency"), "{err}");
    let eur = ctx().with_shop_currency("eur");
    let n = shopify::normalise("carts/update", &bytes(&v), &eur).unwrap();
    assert_eq!(cart(&n.events[0]).currency, "EUR");
    v["line_items"] = json!([]);
    let n = normalise("carts/update", &bytes(&v));
    assert_eq!(
        (
            cart(&n.events[0]).currency.as_str(),
            cart(&n.events[0]).total_minor
        ),
        ("XXX", 0)
    );
}

#[test]
fn compliance_topics() {
    let n = normalise("customers/redact", &own("shopify/customers_redact.json"));
    assert_eq!(types(&n), ["RedactionRequested"]);
    let ev = &n.events[0];
    assert_eq!(ev.customer_key.as_deref(), Some("email:john@example.com"));
    assert_eq!(
        ev.occurred_at, RECEIVED,
        "the payload has no time of its own"
    );
    assert_eq!(
        ev.event_id,
        id(
            S,
            "RedactionRequested",
            &["191167", "299938", "280263", "220458"]
        )
    );
    let r = redaction(ev);
    assert_eq!(r.request_id, "954889:191167");
    assert_eq!(r.email.as_deref(), Some("john@example.com"));
    assert_eq!(r.phone.as_deref(), Some("555-625-1199"));
    assert_eq!(r.orders_to_redact, ["299938", "280263", "220458"]);

    let h = headers(&[("X-Shopify-Triggered-At", "2025-07-10T16:15:47.000000Z")]);
    let n = shopify::normalise(
        "customers/redact",
        &own("shopify/customers_redact.json"),
        &ctx().with_headers(&h),
    )
    .unwrap();
    assert_eq!(n.events[0].occurred_at, 1_752_164_147_000);

    for (topic, file) in [
        (
            "customers/data_request",
            "shopify/customers_data_request.json",
        ),
        ("shop/redact", "shopify/shop_redact.json"),
    ] {
        let n = normalise(topic, &own(file));
        assert!(n.events.is_empty(), "{topic}");
        assert!(
            n.note.as_deref().unwrap().contains("not a customer event"),
            "{topic}"
        );
        assert_eq!(n.raw.body, own(file));
    }
    let n = normalise("customers/delete", br#"{"id": 706405506930370084}"#);
    assert!(n.events.is_empty());
}

#[test]
fn documented_headers_are_kept_without_credentials() {
    let v = shared_json("shopify/webhooks/_headers.json");
    let mut h: mindset_connectors::Headers = v["example_request_docs"]["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    h.insert("Authorization".into(), "Bearer secret".into());
    let n = shopify::normalise(
        "customers/create",
        &shared("shopify/webhooks/customers_create.json"),
        &ctx().with_headers(&h),
    )
    .unwrap();
    check(&n);
    assert_eq!(n.raw.headers["x-shopify-topic"], "products/update");
    assert_eq!(
        n.raw.headers["x-shopify-webhook-id"],
        "545ebdd4-b7be-4d3d-b14e-54aa78e0e0f9"
    );
    assert!(!n.raw.headers.contains_key("authorization"));
    assert_eq!(n.raw.content_type.as_deref(), Some("application/json"));
    assert_eq!(n.raw.headers.len(), h.len() - 1);
}

#[test]
fn malformed_bodies_say_where() {
    let err = shopify::normalise("orders/create", b"{\"id\": 1,\n \"line_items\": 5}", &ctx())
        .unwrap_err();
    match &err {
        Error::Malformed { path, line, .. } => {
            assert_eq!(path, "line_items");
            assert_eq!(*line, 2);
        }
        other => panic!("{other}"),
    }
    assert!(!err.is_authentication());
    let err = shopify::normalise("orders/create", b"{\"id\": ", &ctx()).unwrap_err();
    assert!(matches!(err, Error::Malformed { line: 1, .. }), "{err}");
    let err = shopify::normalise("orders/create", b"{} trailing", &ctx()).unwrap_err();
    assert!(matches!(err, Error::Malformed { .. }), "{err}");
    let err = shopify::normalise(
        "orders/create",
        b"{\"id\": 5, \"currency\": \"USD\"}",
        &ctx(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("created_at"), "{err}");
    let mut v = shared_json("shopify/webhooks/orders_create.json");
    v["line_items"][0]["price"] = json!("89.999");
    v["line_items"][0]
        .as_object_mut()
        .unwrap()
        .remove("price_set");
    let err = shopify::normalise("orders/create", &bytes(&v), &ctx()).unwrap_err();
    assert!(err.to_string().contains("more decimals than USD"), "{err}");
    let bad_tenant = Context::new("a|b", RECEIVED);
    assert!(matches!(
        shopify::normalise(
            "orders/create",
            &shared("shopify/webhooks/orders_create.json"),
            &bad_tenant
        ),
        Err(Error::BadTenant(_))
    ));
}

/// Found by `fuzz/` (shopify target): an empty REST page gave no events and no note.
#[test]
fn an_empty_rest_page_says_why_it_gives_no_events() {
    for (kind, body, note) in [
        (
            "rest/orders",
            r#"{"orders":[]}"#,
            "rest/orders: no orders in the page",
        ),
        (
            "rest/refunds",
            r#"{"refunds":[]}"#,
            "rest/refunds: no refunds in the page",
        ),
        (
            "rest/customers",
            r#"{"customers":[]}"#,
            "rest/customers: no customers in the page",
        ),
        (
            "rest/checkouts",
            r#"{"checkouts":[]}"#,
            "rest/checkouts: no checkouts in the page",
        ),
    ] {
        let n = normalise(kind, body.as_bytes());
        assert!(n.events.is_empty(), "{kind}");
        assert_eq!(n.note.as_deref(), Some(note));
        assert_eq!(n.raw.body, body.as_bytes());
    }
}
