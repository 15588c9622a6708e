//! WooCommerce: the official and derived signature vectors, the creation ping, the shared order
//! payload and REST lists, and the fixtures written from the documented REST v3 shapes.

use mindset_connectors::woocommerce::Delivery;
use mindset_connectors::{Error, woocommerce};
use mindset_schemas::Platform;
use serde_json::json;

use crate::support::*;

const W: Platform = Platform::Woocommerce;

fn normalise(topic: &str, body: &[u8]) -> mindset_connectors::Normalised {
    let n = woocommerce::normalise(topic, body, &ctx().with_shop_currency("USD"))
        .unwrap_or_else(|e| panic!("{topic}: {e}"));
    check(&n);
    n
}

fn sig(value: &str) -> mindset_connectors::Headers {
    headers(&[("X-WC-Webhook-Signature", value)])
}

#[test]
fn official_and_derived_signature_vectors() {
    let v = shared_json("woocommerce/signatures/webhook_signature_vectors.json");
    let official = &v["official_vectors"][0];
    let (secret, message) = (
        official["secret"].as_str().unwrap(),
        official["message"].as_str().unwrap(),
    );
    let expected = official["expected_x_wc_webhook_signature"]
        .as_str()
        .unwrap();
    assert_eq!(
        secret, "",
        "the official vector's trap: the key is empty, the payload is 'secret'"
    );
    assert_eq!(
        woocommerce::verify(secret, &sig(expected), message.as_bytes()),
        Ok(Delivery::Signed)
    );
    assert!(woocommerce::verify("secret", &sig(expected), message.as_bytes()).is_err());

    let items = v["DERIVED_NOT_OFFICIAL_vectors"]["items"]
        .as_array()
        .unwrap();
    assert_eq!(items.len(), 3);
    for item in items {
        let secret = item["secret"].as_str().unwrap();
        let (body, signature) = match item["file"].as_str() {
            Some(file) => (
                shared(&format!("woocommerce/{file}")),
                item["signature_over_exact_file_bytes"].as_str().unwrap(),
            ),
            None => (
                item["message"].as_str().unwrap().as_bytes().to_vec(),
                item["signature"].as_str().unwrap(),
            ),
        };
        assert_eq!(
            woocommerce::verify(secret, &sig(signature), &body),
            Ok(Delivery::Signed)
        );
        let mut tampered = body.clone();
        tampered.push(b' ');
        assert_eq!(
            woocommerce::verify(secret, &sig(signature), &tampered),
            Err(Error::SignatureMismatch {
                header: "X-WC-Webhook-Signature"
            })
        );
    }
    // Header names are case-insensitive; a bad encoding and a missing header are refused.
    let order = shared("woocommerce/webhooks/order_created.payload.json");
    let lower = headers(&[(
        "x-wc-webhook-signature",
        "/2Uiy0spvjeuf1I8VwjWRhzkoImTaWGDa0/DMwAkIX8=",
    )]);
    assert_eq!(
        woocommerce::verify("secret", &lower, &order),
        Ok(Delivery::Signed)
    );
    assert!(matches!(
        woocommerce::verify("secret", &sig("%%%"), &order),
        Err(Error::BadBase64 { .. })
    ));
    assert_eq!(
        woocommerce::verify("secret", &headers(&[]), &order),
        Err(Error::MissingHeader {
            header: "X-WC-Webhook-Signature"
        })
    );
}

#[test]
fn the_secret_is_html_decoded_like_wordpress_does() {
    // WordPress stores `a&b` as `a&amp;b` and signs with wp_specialchars_decode of it.
    let body = b"{\"id\":1}";
    let signed_with_plain = {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"a&b\"c").unwrap();
        mac.update(body);
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            mac.finalize().into_bytes(),
        )
    };
    assert_eq!(
        woocommerce::verify("a&amp;b&quot;c", &sig(&signed_with_plain), body),
        Ok(Delivery::Signed)
    );
    assert_eq!(
        woocommerce::verify("a&b\"c", &sig(&signed_with_plain), body),
        Ok(Delivery::Signed)
    );
}

#[test]
fn the_creation_ping_is_accepted_without_events() {
    let doc = shared_json("woocommerce/webhooks/_headers_and_delivery.json");
    assert_eq!(doc["ping_on_creation"]["body"], "webhook_id=<id>");
    let ping = own("woocommerce/ping.txt");
    assert_eq!(
        woocommerce::verify("secret", &headers(&[]), &ping),
        Ok(Delivery::Ping {
            webhook_id: "42".into()
        })
    );
    assert_eq!(woocommerce::ping_webhook_id(b"webhook_id=abc"), None);
    assert_eq!(woocommerce::ping_webhook_id(b"webhook_id="), None);
    assert!(woocommerce::verify("secret", &headers(&[]), b"webhook_id=abc").is_err());
    // A signed body that merely looks like a ping is still verified.
    assert!(woocommerce::verify("secret", &sig("AAAA"), &ping).is_err());

    let h = headers(&[("Content-Type", "application/x-www-form-urlencoded")]);
    for topic in ["ping", ""] {
        let n = woocommerce::normalise(topic, &ping, &ctx().with_headers(&h)).unwrap();
        check(&n);
        assert!(n.events.is_empty());
        assert_eq!(n.raw.body, ping);
        assert_eq!(
            n.raw.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
    }
    assert!(woocommerce::normalise("ping", b"{}", &ctx()).is_err());
}

#[test]
fn order_created_payload_maps_field_by_field() {
    let doc = shared_json("woocommerce/webhooks/_headers_and_delivery.json");
    let mut h: mindset_connectors::Headers = doc["headers"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| (k.clone(), "x".to_owned()))
        .collect();
    h.insert("Content-Type".into(), "application/json".into());
    h.insert("X-WC-Webhook-Topic".into(), "order.created".into());
    let body = shared("woocommerce/webhooks/order_created.payload.json");
    let n = woocommerce::normalise("order.created", &body, &ctx().with_headers(&h)).unwrap();
    check(&n);
    assert_eq!(n.raw.headers["x-wc-webhook-topic"], "order.created");
    assert_eq!(n.raw.headers.len(), h.len());
    assert_eq!(types(&n), ["OrderPlaced"]);
    let ev = &n.events[0];
    // date_created_gmt 2017-03-22T19:28:02, date_modified_gmt 2017-03-22T19:28:08
    assert_eq!(ev.occurred_at, 1_490_210_882_000);
    assert_eq!(ev.event_id, id(W, "OrderPlaced", &["727", "1490210888000"]));
    assert_eq!(ev.source_id, "727");
    assert_eq!(
        ev.customer_key.as_deref(),
        Some("email:john.doe@example.com")
    );
    let o = order(ev);
    assert_eq!(
        (
            o.order_id.as_str(),
            o.order_number.as_deref(),
            o.currency.as_str()
        ),
        ("727", Some("727"), "USD")
    );
    let lines: Vec<_> = o
        .lines
        .iter()
        .map(|l| {
            (
                l.product_id.as_str(),
                l.variant_id.as_deref(),
                l.sku.as_deref(),
                l.title.as_str(),
                l.quantity,
                l.unit_price_minor,
                l.discount_minor,
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("93", None, None, "Woo Single #1", 2, 300, 0),
            (
                "22",
                Some("23"),
                Some("Bar3"),
                "Ship Your Idea – Color: Black, Size: M Test",
                1,
                1_200,
                0
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
        (1_800, 0, 1_000, 135, 2_935)
    );
    assert_eq!(o.financial_status, "paid");
    assert!(o.guest, "customer_id 0 is a guest");
    assert_eq!(o.channel.as_deref(), Some("rest-api"));
    assert!(o.discount_codes.is_empty() && !o.is_test);

    // order.updated of the same modification is the same fact.
    let again = normalise("order.updated", &body);
    assert_eq!(again.events[0].event_id, ev.event_id);
}

#[test]
fn rest_orders_list_with_refunds() {
    let n = normalise(
        "rest/orders",
        &shared("woocommerce/rest_v3/orders.list_all_orders.json"),
    );
    assert_eq!(
        types(&n),
        [
            "OrderPlaced",
            "OrderPlaced",
            "OrderRefunded",
            "OrderRefunded"
        ]
    );
    let o = order(&n.events[1]);
    assert_eq!(o.order_id, "723");
    assert_eq!(
        n.events[1].customer_key.as_deref(),
        Some("email:joao.silva@example.com")
    );
    assert!(!o.guest);
    assert_eq!(n.events[1].occurred_at, 1_490_123_760_000);
    assert_eq!(
        n.events[1].event_id,
        id(W, "OrderPlaced", &["723", "1490126091000"])
    );
    assert_eq!(
        (o.subtotal_minor, o.shipping_minor, o.total_minor),
        (2_900, 1_000, 3_900)
    );
    assert_eq!(o.financial_status, "paid");
    assert_eq!(o.channel.as_deref(), Some("checkout"));
    let refunds: Vec<_> = n.events[2..]
        .iter()
        .map(|e| {
            (
                e.event_id.clone(),
                refund(e).refund_id.clone(),
                refund(e).amount_minor,
                refund(e).reason.clone(),
            )
        })
        .collect();
    assert_eq!(
        refunds,
        [
            (
                id(W, "OrderRefunded", &["723", "726"]),
                "726".into(),
                1_000,
                None
            ),
            (
                id(W, "OrderRefunded", &["723", "724"]),
                "724".into(),
                900,
                None
            ),
        ]
    );
}

#[test]
fn order_with_coupon_and_refunds() {
    let n = normalise(
        "order.updated",
        &own("woocommerce/order_updated_refunds.json"),
    );
    assert_eq!(types(&n), ["OrderPlaced", "OrderRefunded", "OrderRefunded"]);
    assert!(
        n.events
            .iter()
            .all(|e| e.customer_key.as_deref() == Some("email:joao.silva@example.com"))
    );
    let ev = &n.events[0];
    assert_eq!(ev.occurred_at, 1_490_274_312_000);
    assert_eq!(ev.event_id, id(W, "OrderPlaced", &["735", "1490356841000"]));
    let o = order(ev);
    assert_eq!(o.currency, "EUR");
    let l = &o.lines[0];
    assert_eq!(
        (
            l.product_id.as_str(),
            l.variant_id.as_deref(),
            l.title.as_str(),
            l.quantity,
            l.unit_price_minor,
            l.discount_minor
        ),
        ("34", Some("41"), "Woo Ninja – Size: L", 3, 833, 500)
    );
    assert_eq!(
        (
            o.lines[1].unit_price_minor,
            o.lines[1].discount_minor,
            o.lines[1].sku.as_deref()
        ),
        (1_000, 0, None)
    );
    assert_eq!(
        (
            o.subtotal_minor,
            o.discount_minor,
            o.shipping_minor,
            o.tax_minor,
            o.total_minor
        ),
        (3_500, 500, 490, 0, 3_490)
    );
    assert_eq!(o.discount_codes, ["spring5"]);
    assert!(!o.guest);
    let r = refund(&n.events[1]);
    assert_eq!(
        (r.refund_id.as_str(), r.amount_minor, r.currency.as_str()),
        ("737", 1_000, "EUR")
    );
    assert_eq!(r.reason.as_deref(), Some("Damaged in transit"));
    assert_eq!(n.events[1].occurred_at, 1_490_356_841_000);
    assert_eq!(
        (
            refund(&n.events[2]).amount_minor,
            refund(&n.events[2]).reason.as_deref()
        ),
        (490, None)
    );

    // Without an email the registered customer's id keys the order.
    let mut v = own_json("woocommerce/order_updated_refunds.json");
    v["billing"]["email"] = json!("");
    let n = normalise("order.updated", &bytes(&v));
    assert_eq!(n.events[0].customer_key.as_deref(), Some("woocommerce:26"));
    v["customer_id"] = json!(0);
    let n = normalise("order.updated", &bytes(&v));
    assert_eq!(
        n.events[0].customer_key.as_deref(),
        Some("guest:woocommerce:735")
    );
}

#[test]
fn customers() {
    let n = normalise(
        "rest/customers",
        &shared("woocommerce/rest_v3/customers.list_all_customers.json"),
    );
    assert_eq!(types(&n), ["CustomerUpserted", "CustomerUpserted"]);
    let ev = &n.events[0];
    assert_eq!(
        ev.customer_key.as_deref(),
        Some("email:joao.silva@example.com")
    );
    assert_eq!(ev.occurred_at, 1_490_123_476_000);
    assert_eq!(
        ev.event_id,
        id(W, "CustomerUpserted", &["26", "1490123476000"])
    );
    let c = customer(ev);
    assert_eq!(c.platform_customer_id, "26");
    assert_eq!(
        (c.first_name.as_deref(), c.last_name.as_deref()),
        (Some("João"), Some("Silva"))
    );
    assert_eq!(
        (c.city.as_deref(), c.country.as_deref(), c.phone.as_deref()),
        (Some("Rio de Janeiro"), Some("BR"), Some("(55) 5555-5555"))
    );
    assert_eq!(c.platform_created_at, Some(1_490_123_474_000));
    assert!(!c.accepts_marketing);

    let created = normalise(
        "customer.created",
        &own("woocommerce/customer_created.json"),
    );
    assert_eq!(
        created.events,
        n.events[1..].to_vec(),
        "the docs' create response is customer 25 of the list"
    );
    assert_eq!(
        customer(&created.events[0]).city.as_deref(),
        Some("San Francisco")
    );
}

#[test]
fn products_and_variations_on_the_catalog_side() {
    let n = normalise("product.updated", &own("woocommerce/product_updated.json"));
    assert_eq!(
        types(&n),
        ["ProductUpserted", "PriceChanged", "InventoryChanged"]
    );
    for ev in &n.events {
        assert_eq!(ev.customer_key, None);
        assert_eq!(ev.source_id, "794");
        assert_eq!(ev.occurred_at, 1_490_355_000_000);
    }
    assert_eq!(
        n.events[0].event_id,
        id(W, "ProductUpserted", &["794", "1490355000000"])
    );
    let p = product(&n.events[0]);
    assert_eq!(p.product_id, "794");
    assert_eq!(p.title, "Premium Quality & Comfort");
    assert_eq!(
        (p.category.as_deref(), p.brand.as_deref()),
        (Some("Clothing"), Some("Woo & Co"))
    );
    assert_eq!(
        (p.currency.as_str(), p.price_minor, p.compare_at_price_minor),
        ("USD", 1_999, Some(2_199))
    );
    assert_eq!(
        (p.status.as_str(), p.tags.clone()),
        ("active", vec!["Summer".to_owned()])
    );
    let pr = price(&n.events[1]);
    assert_eq!(
        (
            pr.product_id.as_str(),
            pr.variant_id.as_deref(),
            pr.old_price_minor,
            pr.new_price_minor
        ),
        ("794", None, None, 1_999)
    );
    let inv = inventory(&n.events[2]);
    assert_eq!(
        (inv.product_id.as_str(), inv.available, inv.previous),
        ("794", 37, None)
    );

    let n = normalise(
        "product.updated",
        &own("woocommerce/product_variation_updated.json"),
    );
    assert_eq!(types(&n), ["PriceChanged", "InventoryChanged"]);
    let pr = price(&n.events[0]);
    assert_eq!(
        (
            pr.product_id.as_str(),
            pr.variant_id.as_deref(),
            pr.new_price_minor
        ),
        ("34", Some("41"), 850)
    );
    let inv = inventory(&n.events[1]);
    assert_eq!(
        (
            inv.product_id.as_str(),
            inv.variant_id.as_deref(),
            inv.available
        ),
        ("34", Some("41"), 0)
    );

    let err = woocommerce::normalise(
        "product.updated",
        &own("woocommerce/product_updated.json"),
        &ctx(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("shop_currency"), "{err}");
    // A product without a price is upserted at 0 and gives no PriceChanged.
    let mut v = own_json("woocommerce/product_updated.json");
    v["price"] = json!("");
    v["manage_stock"] = json!(false);
    let n = normalise("product.created", &bytes(&v));
    assert_eq!(types(&n), ["ProductUpserted"]);
    assert_eq!(product(&n.events[0]).price_minor, 0);
    let page = normalise(
        "rest/products",
        &bytes(&json!([own_json("woocommerce/product_updated.json")])),
    );
    assert_eq!(page.events.len(), 3);
}

#[test]
fn reviews() {
    let n = normalise(
        "product_review.created",
        &own("woocommerce/product_review_created.json"),
    );
    assert_eq!(types(&n), ["ReviewPosted"]);
    let ev = &n.events[0];
    assert_eq!(
        ev.customer_key.as_deref(),
        Some("email:john.doe@example.com")
    );
    assert_eq!(ev.occurred_at, 1_539_896_357_000);
    let text = "Nice album! It's & great.";
    assert_eq!(ev.event_id, id(W, "ReviewPosted", &["22", "5", text]));
    let r = review(ev);
    assert_eq!(
        (r.review_id.as_str(), r.product_id.as_deref(), r.rating),
        ("22", Some("22"), 5)
    );
    assert_eq!(r.text, text);
    assert!(!r.verified_purchase);
    assert_eq!((r.title.clone(), r.language.clone()), (None, None));

    let n = normalise(
        "action.woocommerce_product_review_created",
        &own("woocommerce/action_review.json"),
    );
    assert_eq!(types(&n), ["ReviewPosted"]);
    let ev = &n.events[0];
    assert_eq!(
        ev.customer_key.as_deref(),
        Some("guest:woocommerce:review-23")
    );
    assert_eq!(ev.occurred_at, 1_539_951_160_000);
    let r = review(ev);
    assert_eq!(
        (r.product_id.as_deref(), r.rating, r.verified_purchase),
        (Some("794"), 2, true)
    );
    assert_eq!(r.text, "Colours faded after one wash.");

    let n = normalise(
        "action.woocommerce_add_to_cart",
        &own("woocommerce/action_add_to_cart.json"),
    );
    assert!(n.events.is_empty());
    let mut spam = own_json("woocommerce/product_review_created.json");
    spam["status"] = json!("spam");
    assert!(
        normalise("product_review.updated", &bytes(&spam))
            .events
            .is_empty()
    );
    let page = normalise(
        "rest/products/reviews",
        &bytes(&json!([own_json(
            "woocommerce/product_review_created.json"
        )])),
    );
    assert_eq!(
        page.events[0].event_id,
        id(W, "ReviewPosted", &["22", "5", text])
    );
    let mut bad = own_json("woocommerce/product_review_created.json");
    bad["rating"] = json!(7);
    assert!(woocommerce::normalise("product_review.created", &bytes(&bad), &ctx()).is_err());
}

#[test]
fn deletions_coupons_and_unknown_topics() {
    for topic in [
        "order.deleted",
        "customer.deleted",
        "product.deleted",
        "coupon.updated",
    ] {
        let n = normalise(topic, &own("woocommerce/order_deleted.json"));
        assert!(n.events.is_empty(), "{topic}");
    }
    for topic in [
        "order.upgraded",
        "action.",
        "wc.product.updated",
        "missingdot",
    ] {
        let err = woocommerce::normalise(topic, b"{}", &ctx()).unwrap_err();
        assert!(matches!(err, Error::UnknownTopic { .. }), "{topic}: {err}");
    }
    let err = woocommerce::normalise("order.created", b"[1, 2]", &ctx()).unwrap_err();
    assert!(matches!(err, Error::Malformed { .. }), "{err}");
}

/// Found by `fuzz/` (woocommerce target): an empty REST page gave no events and no note.
#[test]
fn an_empty_rest_page_says_why_it_gives_no_events() {
    for (kind, what) in [
        ("rest/orders", "orders"),
        ("rest/customers", "customers"),
        ("rest/products", "products"),
        ("rest/products/reviews", "reviews"),
    ] {
        let n = normalise(kind, b"[]");
        assert!(n.events.is_empty(), "{kind}");
        assert_eq!(
            n.note.as_deref(),
            Some(format!("{kind}: no {what} in the page").as_str())
        );
    }
}
