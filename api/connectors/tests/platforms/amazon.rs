//! Amazon SP-API: the ORDER_CHANGE notification (SQS body and EventBridge event), the Orders v0
//! getOrders / getOrderItems examples, and the poller's join into OrderPlaced.

use mindset_connectors::{Error, amazon};
use mindset_schemas::Platform;
use serde_json::json;

use crate::support::*;

const A: Platform = Platform::Amazon;
const NOTIFICATION: &str = "amazon_sp_api/notifications/OrderChangeNotification.example.json";
const ORDERS: &str = "amazon_sp_api/examples/ordersV0.getOrders.200.example.json";
const ITEMS: &str = "amazon_sp_api/examples/ordersV0.getOrderItems.200.example.json";

fn normalise(kind: &str, body: &[u8]) -> mindset_connectors::Normalised {
    let n = amazon::normalise(kind, body, &ctx()).unwrap_or_else(|e| panic!("{kind}: {e}"));
    check(&n);
    n
}

#[test]
fn order_change_envelope_is_verified() {
    let body = shared(NOTIFICATION);
    let n = amazon::verify(&body, Some("app-id-d0e9e693-c3ad-4373-979f-ed4ec98dd746")).unwrap();
    assert_eq!(n.notification_type, "ORDER_CHANGE");
    assert_eq!(
        (n.notification_version.as_str(), n.payload_version.as_str()),
        ("1.0", "1.0")
    );
    assert_eq!(n.notification_id, "d0e9e693-c3ad-4373-979f-ed4ec98dd746");
    assert_eq!(
        n.subscription_id,
        "subscription-id-d0e9e693-c3ad-4373-979f-ed4ec98dd746"
    );
    assert_eq!(n.event_time, 1_578_701_393_109);
    assert_eq!(n.publish_time, 1_594_669_324_284);
    assert!(n.payload.contains_key("OrderChangeNotification"));

    let err = amazon::verify(&body, Some("app-id-someone-else")).unwrap_err();
    assert!(err.to_string().contains("not this application"), "{err}");

    // The same notification delivered through EventBridge, as the event's detail.
    let detail: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let bridged = json!({
        "version": "0", "id": "2c3b0c5e-0000-4000-8000-000000000001", "detail-type": "ORDER_CHANGE",
        "source": "aws.partner/sellingpartnerapi.amazon/amzn1.sellerapps.app.example",
        "account": "123456789012", "time": "2020-07-13T19:42:04Z", "region": "us-east-1",
        "resources": [], "detail": detail,
    });
    assert_eq!(
        amazon::verify(&bytes(&bridged), None).unwrap(),
        amazon::verify(&body, None).unwrap()
    );

    // Shape errors name the field.
    let mut broken = detail.clone();
    broken
        .as_object_mut()
        .unwrap()
        .remove("NotificationMetadata");
    let err = amazon::verify(&bytes(&broken), None).unwrap_err();
    assert!(err.to_string().contains("NotificationMetadata"), "{err}");
    assert!(matches!(err, Error::Malformed { .. }));
    let mut broken = detail.clone();
    broken["Payload"] = json!("not an object");
    let err = amazon::verify(&bytes(&broken), None).unwrap_err();
    assert!(
        matches!(&err, Error::Malformed { path, .. } if path == "Payload"),
        "{err}"
    );
    let mut broken = detail;
    broken["NotificationMetadata"]["NotificationId"] = json!(" ");
    assert!(amazon::verify(&bytes(&broken), None).is_err());
}

#[test]
fn order_change_gives_no_event_but_says_what_to_fetch() {
    let body = shared(NOTIFICATION);
    let c = amazon::order_change(&body).unwrap();
    assert_eq!(c.amazon_order_id, "903-8868176-2219830");
    assert_eq!(c.seller_id, "A3TH9S8BH6GOGM");
    assert_eq!(c.marketplace_id, "ATVPDKIKX0DER");
    assert_eq!(c.change_type, "BuyerRequestedChange");
    assert_eq!(c.change_reason.as_deref(), Some("Buyer Requested Cancel"));
    assert_eq!(c.order_status, "Unshipped");
    assert_eq!(c.changed_at, Some(1_669_750_924_284));
    assert_eq!(c.order_item_ids, ["OIID34853450"]);

    for kind in ["notification", "ORDER_CHANGE"] {
        let n = normalise(kind, &body);
        assert!(n.events.is_empty());
        assert!(n.note.as_deref().unwrap().contains("903-8868176-2219830"));
        assert_eq!(n.raw.platform, "amazon");
        assert_eq!(n.raw.body, body);
    }
    // A redelivered message (same NotificationId) keeps its raw id.
    assert_eq!(
        normalise("notification", &body).raw.raw_id,
        normalise("notification", &body).raw.raw_id
    );
    let err = amazon::normalise("ANY_OFFER_CHANGED", &body, &ctx()).unwrap_err();
    assert!(err.to_string().contains("delivered as"), "{err}");
    assert!(matches!(
        amazon::normalise("orders", &body, &ctx()),
        Err(Error::UnknownTopic { .. })
    ));

    // The schema file's own example is the same notification.
    let schema = shared_json("amazon_sp_api/notifications/OrderChangeNotification.schema.json");
    let example: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(schema["examples"][0], example);
    let from_schema = normalise("notification", &bytes(&schema["examples"][0]));
    assert!(from_schema.events.is_empty());

    // Other notification types are accepted with their envelope, without events.
    let mut other = example.clone();
    other["NotificationType"] = json!("ANY_OFFER_CHANGED");
    other["Payload"] = json!({"AnyOfferChangedNotification": {}});
    let n = normalise("notification", &bytes(&other));
    assert!(n.events.is_empty());
    assert!(amazon::order_change(&bytes(&other)).is_err());
}

#[test]
fn get_orders_gives_the_buyer_get_order_items_nothing_alone() {
    let n = normalise("getOrders", &shared(ORDERS));
    assert_eq!(types(&n), ["CustomerUpserted"]);
    let ev = &n.events[0];
    assert_eq!(ev.customer_key.as_deref(), Some("email:user@example.com"));
    assert_eq!(ev.occurred_at, 1_484_941_775_000); // LastUpdateDate 2017-01-20T19:49:35Z
    assert_eq!(
        ev.event_id,
        id(
            A,
            "CustomerUpserted",
            &["user@example.com", "902-3159896-1390916"]
        )
    );
    assert_eq!(ev.source_id, "902-3159896-1390916");
    let c = customer(ev);
    assert_eq!(c.platform_customer_id, "user@example.com");
    assert_eq!(
        (c.first_name.as_deref(), c.last_name.as_deref()),
        (Some("John"), Some("Doe"))
    );
    assert_eq!(
        (c.country.as_deref(), c.city.as_deref()),
        (Some("US"), Some("Canton"))
    );
    assert!(n.note.as_deref().unwrap().contains("order_placed"));

    let one = json!({"payload": serde_json::from_slice::<serde_json::Value>(&shared(ORDERS)).unwrap()["payload"]["Orders"][0]});
    assert_eq!(normalise("getOrder", &bytes(&one)).events, n.events);

    let mut masked = shared_json(ORDERS);
    masked["payload"]["Orders"][0]["BuyerInfo"] = json!({});
    assert!(normalise("getOrders", &bytes(&masked)).events.is_empty());

    let items = normalise("getOrderItems", &shared(ITEMS));
    assert!(items.events.is_empty());
    assert!(
        items
            .note
            .as_deref()
            .unwrap()
            .contains("903-1671087-0812628")
    );

    let err = amazon::normalise("getOrders", br#"{"errors":[{"code":"QuotaExceeded","message":"You exceeded your quota for the requested resource."}]}"#, &ctx()).unwrap_err();
    assert!(err.to_string().contains("QuotaExceeded"), "{err}");
}

#[test]
fn order_placed_joins_the_order_and_its_items() {
    let orders = shared(ORDERS);
    let items = shared(ITEMS);
    // The two published examples are different orders: the join refuses to mix them.
    let err = amazon::order_placed(&orders, "902-3159896-1390916", &[&items], &ctx()).unwrap_err();
    assert!(
        err.to_string().contains("expected \"902-3159896-1390916\""),
        "{err}"
    );
    assert!(amazon::order_placed(&orders, "903-1671087-0812628", &[&items], &ctx()).is_err());

    // Matched by id, the example's items are JPY amounts with cents: not JPY money.
    let mut matched = shared_json(ITEMS);
    matched["payload"]["AmazonOrderId"] = json!("902-3159896-1390916");
    let err = amazon::order_placed(&orders, "902-3159896-1390916", &[&bytes(&matched)], &ctx())
        .unwrap_err();
    assert!(err.to_string().contains("more decimals than JPY"), "{err}");

    // In USD the same items make a complete order.
    let usd = serde_json::to_string(&matched)
        .unwrap()
        .replace("\"JPY\"", "\"USD\"");
    let joined =
        amazon::order_placed(&orders, "902-3159896-1390916", &[usd.as_bytes()], &ctx()).unwrap();
    assert_eq!(joined.note, None);
    assert_eq!(joined.events.len(), 1);
    let ev = &joined.events[0];
    check_event(ev);
    assert_eq!(
        ev.event_id,
        id(A, "OrderPlaced", &["902-3159896-1390916", "1484941775000"])
    );
    assert_eq!(ev.customer_key.as_deref(), Some("email:user@example.com"));
    assert_eq!(ev.occurred_at, 1_484_941_775_000);
    let o = order(ev);
    assert_eq!(
        (o.order_id.as_str(), o.currency.as_str()),
        ("902-3159896-1390916", "USD")
    );
    let lines: Vec<_> = o
        .lines
        .iter()
        .map(|l| {
            (
                l.product_id.as_str(),
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
            (
                "BT0093TELA",
                Some("CBA_OTF_1"),
                "Example item name",
                1,
                2_599,
                0
            ),
            (
                "BCTU1104UEFB",
                Some("CBA_OTF_5"),
                "Example item name",
                2,
                898,
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
        (4_394, 0, 126, 0, 4_520)
    );
    assert_eq!(o.discount_codes, ["FREESHIP"]);
    assert_eq!(o.financial_status, "pending");
    assert!(!o.guest);

    // Items split over two pages join the same way; an OrderTotal wins over the computed total.
    let mut first = serde_json::from_str::<serde_json::Value>(&usd).unwrap();
    let mut second = first.clone();
    first["payload"]["OrderItems"]
        .as_array_mut()
        .unwrap()
        .truncate(1);
    second["payload"]["OrderItems"]
        .as_array_mut()
        .unwrap()
        .remove(0);
    let mut with_total = shared_json(ORDERS);
    with_total["payload"]["Orders"][0]["OrderTotal"] =
        json!({"CurrencyCode": "USD", "Amount": "45.20"});
    with_total["payload"]["Orders"][0]["OrderStatus"] = json!("Unshipped");
    with_total["payload"]["Orders"][0]["BuyerInfo"] = json!({});
    let split = amazon::order_placed(
        &bytes(&with_total),
        "902-3159896-1390916",
        &[&bytes(&first), &bytes(&second)],
        &ctx(),
    )
    .unwrap();
    let o = order(&split.events[0]);
    assert_eq!(
        (
            o.lines.len(),
            o.total_minor,
            o.financial_status.as_str(),
            o.guest
        ),
        (2, 4_520, "paid", true)
    );
    assert_eq!(
        split.events[0].customer_key.as_deref(),
        Some("guest:amazon:902-3159896-1390916")
    );

    // Not priced yet: no event, and a reason.
    let mut pending = first.clone();
    pending["payload"]["OrderItems"][0]
        .as_object_mut()
        .unwrap()
        .remove("ItemPrice");
    let joined =
        amazon::order_placed(&orders, "902-3159896-1390916", &[&bytes(&pending)], &ctx()).unwrap();
    assert!(joined.events.is_empty());
    assert!(joined.note.unwrap().contains("not priced yet"));
}
