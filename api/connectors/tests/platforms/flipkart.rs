//! Flipkart: the official notification-signature vector (with its HTTP-Date/epoch ambiguity and a
//! freshness window), the shipment notifications, and the shipment API examples.

use mindset_connectors::flipkart::NotificationAuth;
use mindset_connectors::{Error, flipkart};
use mindset_schemas::Platform;
use serde_json::json;

use crate::support::*;

const F: Platform = Platform::Flipkart;
const VECTORS: &str = "flipkart/signatures/notification_signature_vectors.json";

fn normalise(kind: &str, body: &[u8]) -> mindset_connectors::Normalised {
    let n = flipkart::normalise(kind, body, &ctx()).unwrap_or_else(|e| panic!("{kind}: {e}"));
    check(&n);
    n
}

struct Vector {
    app_id: String,
    secret: String,
    url: String,
    headers: mindset_connectors::Headers,
    at_ms: i64,
}

fn vector() -> Vector {
    let v = shared_json(VECTORS)["official_vector"].clone();
    let s = |k: &str| v[k].as_str().unwrap().to_owned();
    assert_eq!(s("http_method"), "POST");
    Vector {
        app_id: s("oauth_application_id"),
        secret: s("oauth_application_secret"),
        url: s("notification_url"),
        headers: v["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect(),
        at_ms: s("timestamp").parse::<i64>().unwrap() * 1000,
    }
}

#[test]
fn official_vector_passes_within_the_skew() {
    let v = vector();
    let auth = NotificationAuth::new(&v.app_id, &v.secret, &v.url);
    assert_eq!(auth.max_skew_secs, Some(flipkart::DEFAULT_MAX_SKEW_SECS));
    assert_eq!(flipkart::verify(&auth, &v.headers, v.at_ms), Ok(()));
    assert_eq!(
        flipkart::verify(&auth, &v.headers, v.at_ms + 900_000),
        Ok(())
    );
    assert_eq!(
        flipkart::verify(&auth, &v.headers, v.at_ms + 3_600_000),
        Err(Error::StaleTimestamp {
            header: "X_Date",
            skew_secs: 3_600,
            allowed_secs: 900
        })
    );
    assert!(
        flipkart::verify(&auth, &v.headers, v.at_ms - 901_000).is_err(),
        "from the future"
    );
    let unbounded = NotificationAuth {
        max_skew_secs: None,
        ..auth
    };
    assert_eq!(
        flipkart::verify(&unbounded, &v.headers, 1_900_000_000_000),
        Ok(())
    );

    // X_Date given as the epoch seconds that were signed, and hyphenated header names.
    let mut h = v.headers.clone();
    h.insert("X_Date".into(), "1432026135".into());
    assert_eq!(flipkart::verify(&auth, &h, v.at_ms), Ok(()));
    let hyphens = headers(&[
        ("x-date", &v.headers["X_Date"]),
        ("x-authorization", &v.headers["X_Authorization"]),
    ]);
    assert_eq!(flipkart::verify(&auth, &hyphens, v.at_ms), Ok(()));
}

#[test]
fn tampered_vector_fails() {
    let v = vector();
    let auth = NotificationAuth::new(&v.app_id, &v.secret, &v.url);
    let mismatch = Err(Error::SignatureMismatch {
        header: "X_Authorization",
    });
    let wrong_secret = NotificationAuth {
        app_secret: "669a57f4-fe05-11e4-a322-1697f925ec7c",
        ..auth
    };
    assert_eq!(
        flipkart::verify(&wrong_secret, &v.headers, v.at_ms),
        mismatch
    );
    let wrong_url = NotificationAuth {
        url: "http://seller.api.pilotseller.com/notify/fkj",
        ..auth
    };
    assert_eq!(flipkart::verify(&wrong_url, &v.headers, v.at_ms), mismatch);
    let wrong_method = NotificationAuth {
        method: "PUT",
        ..auth
    };
    assert_eq!(
        flipkart::verify(&wrong_method, &v.headers, v.at_ms),
        mismatch
    );
    let wrong_app = NotificationAuth {
        app_id: "6113ca4a-fe05-11e4-a322-1697f925ec7c",
        ..auth
    };
    assert_eq!(flipkart::verify(&wrong_app, &v.headers, v.at_ms), mismatch);

    // Another date (one second later) was not signed.
    let mut h = v.headers.clone();
    h.insert("X_Date".into(), "Tue, 19 May 2015 09:02:16 GMT".into());
    assert_eq!(flipkart::verify(&auth, &h, v.at_ms), mismatch);

    let with_auth = |value: &str| {
        let mut h = v.headers.clone();
        h.insert("X_Authorization".into(), value.into());
        flipkart::verify(&auth, &h, v.at_ms)
    };
    assert!(matches!(
        with_auth("Bearer abc"),
        Err(Error::BadHeader { .. })
    ));
    assert!(matches!(
        with_auth("FKLOGIN ***"),
        Err(Error::BadBase64 { .. })
    ));
    assert!(
        matches!(
            with_auth("FKLOGIN bm9jb2xvbg=="),
            Err(Error::BadHeader { .. })
        ),
        "no colon"
    );
    let signed = shared_json(VECTORS)["official_vector"]["authorization_base64"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(with_auth(&format!("fklogin  {signed}")), Ok(()));

    let mut h = v.headers.clone();
    h.remove("X_Date");
    assert_eq!(
        flipkart::verify(&auth, &h, v.at_ms),
        Err(Error::MissingHeader { header: "X_Date" })
    );
    h.insert("X_Date".into(), "yesterday".into());
    assert!(matches!(
        flipkart::verify(&auth, &h, v.at_ms),
        Err(Error::BadHeader {
            header: "X_Date",
            ..
        })
    ));
    let mut h = v.headers.clone();
    h.remove("X_Authorization");
    let err = flipkart::verify(&auth, &h, v.at_ms).unwrap_err();
    assert_eq!(
        err,
        Error::MissingHeader {
            header: "X_Authorization"
        }
    );
    assert!(err.is_authentication());
}

#[test]
fn shipment_created_maps_field_by_field() {
    let body = shared("flipkart/notifications/shipment_created.example.json");
    for kind in ["notification", "shipment_created"] {
        let n = normalise(kind, &body);
        assert_eq!(types(&n), ["OrderPlaced"]);
        let ev = &n.events[0];
        assert_eq!(
            ev.event_id,
            id(
                F,
                "OrderPlaced",
                &[
                    "OD108833803073636000",
                    "d133588f-b0ac-443b-99b4-7ac8648a0f89"
                ]
            )
        );
        assert_eq!(ev.source_id, "d133588f-b0ac-443b-99b4-7ac8648a0f89");
        assert_eq!(
            ev.customer_key.as_deref(),
            Some("guest:flipkart:OD108833803073636000")
        );
        assert_eq!(ev.occurred_at, 1_491_482_757_000); // orderDate 2017-04-06T18:15:57.000+05:30
        let o = order(ev);
        assert_eq!(
            (o.order_id.as_str(), o.currency.as_str()),
            ("OD108833803073636000", "INR")
        );
        let l = &o.lines[0];
        assert_eq!(
            (
                l.product_id.as_str(),
                l.variant_id.as_deref(),
                l.sku.as_deref(),
                l.quantity,
                l.unit_price_minor,
                l.discount_minor
            ),
            (
                "DIAE777EDCWNZSPZ",
                Some("LSTDIAE777EDCWNZSPZQMLAT0"),
                Some("LKA041150"),
                1,
                29_500,
                0
            )
        );
        assert_eq!(l.title, "Lokalart Pocket-size Journal Yellow LKA041150");
        assert_eq!(
            (
                o.subtotal_minor,
                o.discount_minor,
                o.shipping_minor,
                o.tax_minor,
                o.total_minor
            ),
            (29_500, 0, 0, 0, 29_500)
        );
        assert_eq!(o.financial_status, "pending", "cash on delivery");
        assert!(o.guest);
    }
    let err = flipkart::normalise("shipment_packed", &body, &ctx()).unwrap_err();
    assert!(err.to_string().contains("delivered as"), "{err}");
}

#[test]
fn status_and_return_notifications_keep_the_raw_payload_only() {
    let body = shared("flipkart/notifications/packed.example.json");
    let n = normalise("notification", &body);
    assert!(n.events.is_empty());
    assert!(n.note.as_deref().unwrap().contains("shipment_packed"));
    assert_eq!(n.raw.source, "notification");
    let again = normalise("shipment_packed", &body);
    assert_eq!(again.events, n.events);

    // The documented return_created structure, with values filled in.
    let ret = json!({
        "returnId": "R-1", "eventType": "return_created", "source": "flipkart",
        "timestamp": "2022-08-09T15:59:21+05:30", "locationId": "LOC1234",
        "attributes": {"status": "RETURN_CREATED", "returnItems": [{
            "returnId": "R-1", "orderItemId": "22567472313060400", "source": "customer_return",
            "quantity": 1, "orderDate": "2022-08-07T17:06:02.363Z", "reason": "DAMAGED"}]}
    });
    let n = normalise("notification", &bytes(&ret));
    assert!(n.events.is_empty());
    assert!(n.note.as_deref().unwrap().contains("no OrderRefunded"));

    let mut unknown = ret.clone();
    unknown["eventType"] = json!("order_item_created");
    assert!(matches!(
        flipkart::normalise("notification", &bytes(&unknown), &ctx()),
        Err(Error::UnknownTopic { .. })
    ));
    assert!(matches!(
        flipkart::normalise("orders", b"{}", &ctx()),
        Err(Error::UnknownTopic { .. })
    ));
}

#[test]
fn the_structure_file_is_not_json_and_is_refused() {
    let err = flipkart::normalise(
        "notification",
        &shared("flipkart/notifications/shipment_created.structure.jsonc"),
        &ctx(),
    )
    .unwrap_err();
    match err {
        Error::Malformed { line, column, .. } => assert!(line > 1 && column > 0),
        other => panic!("{other}"),
    }
}

#[test]
fn shipment_api_examples() {
    for file in [
        "flipkart/api_examples/get-shipment-details.json",
        "flipkart/api_examples/search-pre-dispatch-shipment-post.json",
    ] {
        let doc = shared_json(file);
        let example = &doc["examples"][0];
        // The generated example's only item is a free replacement: not a sale.
        let n = normalise("shipments", &bytes(example));
        assert!(n.events.is_empty(), "{file}");
        assert!(n.note.as_deref().unwrap().contains("replacement"), "{file}");

        let mut sale = example.clone();
        let item = &mut sale["shipments"][0]["orderItems"][0];
        item["is_replacement"] = json!(false);
        item["quantity"] = json!(2);
        item["paymentType"] = json!("PREPAID");
        item["priceComponents"] = json!({"sellingPrice": 590.0, "totalPrice": 630.0, "shippingCharge": 40.0, "customerPrice": 560.0, "flipkartDiscount": 30.0});
        let n = normalise("shipments", &bytes(&sale));
        assert_eq!(types(&n), ["OrderPlaced"], "{file}");
        let ev = &n.events[0];
        assert_eq!(ev.event_id, id(F, "OrderPlaced", &["string", "string"]));
        assert_eq!(
            ev.occurred_at,
            if file.contains("details") {
                1_717_754_117_490
            } else {
                1_717_754_117_484
            }
        );
        let o = order(ev);
        let l = &o.lines[0];
        assert_eq!(
            (l.quantity, l.unit_price_minor, l.discount_minor),
            (2, 29_500, 3_000)
        );
        assert_eq!(
            (
                o.subtotal_minor,
                o.discount_minor,
                o.shipping_minor,
                o.total_minor,
                o.financial_status.as_str()
            ),
            (59_000, 3_000, 4_000, 63_000, "paid")
        );
    }
}

#[test]
fn a_shipment_with_two_orders_gives_two_events() {
    let mut v = shared_json("flipkart/notifications/shipment_created.example.json");
    let mut second = v["attributes"]["orderItems"][0].clone();
    second["orderId"] = json!("OD200000000000000001");
    second["orderItemId"] = json!("2000000000000001");
    let mut cancelled = second.clone();
    cancelled["status"] = json!("CANCELLED");
    v["attributes"]["orderItems"]
        .as_array_mut()
        .unwrap()
        .extend([second, cancelled]);
    let n = normalise("notification", &bytes(&v));
    assert_eq!(types(&n), ["OrderPlaced", "OrderPlaced"]);
    assert_eq!(order(&n.events[1]).order_id, "OD200000000000000001");
    assert_eq!(
        order(&n.events[1]).lines.len(),
        1,
        "the cancelled item is left out"
    );
    assert_eq!(
        n.events[1].customer_key.as_deref(),
        Some("guest:flipkart:OD200000000000000001")
    );
}

/// Found by `fuzz/` (flipkart target): a `shipment_created` whose `orderItems` is missing, and an
/// empty shipments page, gave no events and no note.
#[test]
fn a_shipment_without_order_items_says_why_it_gives_no_events() {
    let n = normalise(
        "notification",
        br#"{"eventType":"shipment_created","timestamp":"2026-01-05T10:20:30+05:30","shipmentId":"S-1","attributes":{"updatedAt":"2026-01-05T10:20:29+05:30"}}"#,
    );
    assert!(n.events.is_empty());
    assert_eq!(n.note.as_deref(), Some("shipment S-1: no order items"));
    let n = normalise(
        "shipments",
        br#"{"shipments":[{"shipmentId":"S-2","orderItems":null}]}"#,
    );
    assert!(n.events.is_empty());
    assert_eq!(n.note.as_deref(), Some("shipment S-2: no order items"));
    let n = normalise("shipments", br#"{"shipments":[]}"#);
    assert!(n.events.is_empty());
    assert_eq!(
        n.note.as_deref(),
        Some("shipments: no shipments in the page")
    );
}
