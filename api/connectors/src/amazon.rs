//! Amazon Selling Partner API: notification envelopes and the Orders v0 pages a poller fetches.
//!
//! **Authenticity.** SP-API notifications are not signed: they arrive as the SQS message body, or
//! as the `detail` of an EventBridge event, and their authenticity rests on the queue policy or
//! the partner event source. [`verify`] therefore checks the envelope's shape
//! (`NotificationVersion`, `NotificationType`, `PayloadVersion`, `EventTime`, an object
//! `Payload`, and `NotificationMetadata` with `ApplicationId`, `SubscriptionId`, `PublishTime`,
//! `NotificationId`) and, when given, that the notification is for this application.
//!
//! **Kinds** for [`normalise`]:
//!
//! | kind | events |
//! | --- | --- |
//! | `notification` (or the `NotificationType` itself) | none. `ORDER_CHANGE` (payload 1.0) names an order, its status and item quantities but no prices, currency or buyer, which `OrderPlaced` needs; the poller reads it with [`order_change`] and fetches `getOrder` and `getOrderItems`. Other notification types are not customer facts. The raw payload is kept either way |
//! | `getOrders`, `getOrder` | `CustomerUpserted` for each order whose `BuyerInfo` has a `BuyerEmail` |
//! | `getOrderItems` | none on its own: the page has no purchase date and no buyer |
//!
//! **Orders.** [`order_placed`] joins one order of a `getOrders`/`getOrder` response with its
//! `getOrderItems` page(s) into `OrderPlaced`: lines by ASIN (`ItemPrice` is the price of the
//! whole quantity, so the unit price is `ItemPrice / QuantityOrdered`), subtotal = Σ `ItemPrice`,
//! discount = Σ `PromotionDiscount` + Σ `ShippingDiscount`, shipping = Σ `ShippingPrice`, tax =
//! Σ `ItemTax` + Σ `ShippingTax`, total = `OrderTotal` (else computed), `PromotionIds` as discount
//! codes. Gift wrap and COD fees are not mapped. An order whose items are not priced yet
//! (`Pending`) gives no event: poll it again. Its `event_id` is over the order id and
//! `LastUpdateDate`, so a re-polled page repeats ids and a changed order gets a new one.
//!
//! **Identity.** `BuyerEmail` is an anonymised relay address, unique per buyer and seller: it is a
//! stable key (`email:<relay address>`, also the `platform_customer_id`) that never matches the
//! same person on another platform. Amazon removes it after fulfilment; without it the key is
//! `guest:amazon:<AmazonOrderId>`.

use std::collections::BTreeSet;

use mindset_schemas::{
    CanonicalEvent, CustomerUpserted, OrderLine, OrderPlaced, Payload, Platform,
};
use serde::Deserialize;

use crate::common::{
    Amount, Out, Stamp, checked_sum, customer_key, first_email, parse_json, parse_value, per_unit,
};
use crate::{Context, Error, Normalised};

const P: Platform = Platform::Amazon;

/// Every kind [`normalise`] accepts.
pub const KINDS: &str = "notification (or a NotificationType such as ORDER_CHANGE), getOrders, \
getOrder, getOrderItems";

/// A notification envelope that passed [`verify`].
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub notification_type: String,
    pub notification_version: String,
    pub payload_version: String,
    pub notification_id: String,
    pub application_id: String,
    pub subscription_id: String,
    /// `EventTime`, epoch milliseconds.
    pub event_time: i64,
    /// `NotificationMetadata.PublishTime`, epoch milliseconds.
    pub publish_time: i64,
    pub payload: serde_json::Map<String, serde_json::Value>,
}

/// What an `ORDER_CHANGE` notification says: which order to fetch, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderChange {
    pub amazon_order_id: String,
    pub seller_id: String,
    pub marketplace_id: String,
    /// `BuyerRequestedChange`, `DeliveryTipChange` or `OrderStatusChange`.
    pub change_type: String,
    pub change_reason: Option<String>,
    pub order_status: String,
    /// `OrderChangeTrigger.TimeOfOrderChange`, epoch milliseconds, when given.
    pub changed_at: Option<i64>,
    pub order_item_ids: Vec<String>,
}

/// The result of [`order_placed`].
#[derive(Debug, Clone, PartialEq)]
pub struct Joined {
    pub events: Vec<CanonicalEvent>,
    /// Why no event was made (the order is not priced yet, or has no items).
    pub note: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Envelope

#[derive(Debug, Deserialize)]
struct Probe {
    #[serde(rename = "detail-type")]
    detail_type: Option<String>,
}

#[derive(Debug, Deserialize)]
struct EventBridge {
    detail: Envelope,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope {
    notification_version: String,
    notification_type: String,
    payload_version: String,
    event_time: Stamp,
    payload: serde_json::Map<String, serde_json::Value>,
    notification_metadata: Metadata,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Metadata {
    application_id: String,
    subscription_id: String,
    publish_time: Stamp,
    notification_id: String,
}

/// Check a notification's envelope (SQS body, or EventBridge event with the notification as
/// `detail`) and, when `expected_application_id` is given, that it is addressed to this app.
pub fn verify(body: &[u8], expected_application_id: Option<&str>) -> Result<Notification, Error> {
    let topic = "notification";
    let invalid = |field: &str, reason: String| Error::Invalid {
        platform: "amazon",
        topic: topic.to_owned(),
        field: field.to_owned(),
        reason,
    };
    let probe: Probe = parse_json(P, topic, body)?;
    let env = match probe.detail_type {
        Some(_) => parse_json::<EventBridge>(P, topic, body)?.detail,
        None => parse_json::<Envelope>(P, topic, body)?,
    };
    let meta = &env.notification_metadata;
    for (field, value) in [
        ("NotificationVersion", &env.notification_version),
        ("NotificationType", &env.notification_type),
        ("PayloadVersion", &env.payload_version),
        ("NotificationMetadata.ApplicationId", &meta.application_id),
        ("NotificationMetadata.SubscriptionId", &meta.subscription_id),
        ("NotificationMetadata.NotificationId", &meta.notification_id),
    ] {
        if value.trim().is_empty() {
            return Err(invalid(field, "empty".into()));
        }
    }
    if let Some(expected) = expected_application_id
        && meta.application_id != expected
    {
        return Err(invalid(
            "NotificationMetadata.ApplicationId",
            format!(
                "is {:?}, not this application ({expected:?})",
                meta.application_id
            ),
        ));
    }
    let event_time = env
        .event_time
        .millis()
        .map_err(|r| invalid("EventTime", r))?;
    let publish_time = meta
        .publish_time
        .millis()
        .map_err(|r| invalid("NotificationMetadata.PublishTime", r))?;
    Ok(Notification {
        notification_type: env.notification_type.clone(),
        notification_version: env.notification_version.clone(),
        payload_version: env.payload_version.clone(),
        notification_id: meta.notification_id.clone(),
        application_id: meta.application_id.clone(),
        subscription_id: meta.subscription_id.clone(),
        event_time,
        publish_time,
        payload: env.payload,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OrderChangeNotification {
    seller_id: String,
    amazon_order_id: String,
    order_change_type: String,
    order_change_trigger: Trigger,
    summary: Summary,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Trigger {
    time_of_order_change: Option<Stamp>,
    change_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Summary {
    marketplace_id: String,
    order_status: String,
    #[serde(default)]
    order_items: Vec<SummaryItem>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SummaryItem {
    order_item_id: String,
}

fn parse_order_change(n: &Notification, topic: &str) -> Result<OrderChange, Error> {
    let inner = n
        .payload
        .get("OrderChangeNotification")
        .cloned()
        .ok_or_else(|| Error::Invalid {
            platform: "amazon",
            topic: topic.to_owned(),
            field: "Payload.OrderChangeNotification".into(),
            reason: "missing".into(),
        })?;
    let c: OrderChangeNotification =
        parse_value(P, topic, inner, "Payload.OrderChangeNotification")?;
    if c.amazon_order_id.trim().is_empty() {
        return Err(Error::Invalid {
            platform: "amazon",
            topic: topic.to_owned(),
            field: "Payload.OrderChangeNotification.AmazonOrderId".into(),
            reason: "empty".into(),
        });
    }
    let changed_at = c
        .order_change_trigger
        .time_of_order_change
        .as_ref()
        .map(Stamp::millis)
        .transpose()
        .map_err(|reason| Error::Invalid {
            platform: "amazon",
            topic: topic.to_owned(),
            field: "OrderChangeTrigger.TimeOfOrderChange".into(),
            reason,
        })?;
    Ok(OrderChange {
        amazon_order_id: c.amazon_order_id,
        seller_id: c.seller_id,
        marketplace_id: c.summary.marketplace_id,
        change_type: c.order_change_type,
        change_reason: c.order_change_trigger.change_reason,
        order_status: c.summary.order_status,
        changed_at,
        order_item_ids: c
            .summary
            .order_items
            .into_iter()
            .map(|i| i.order_item_id)
            .collect(),
    })
}

/// Read an `ORDER_CHANGE` notification (envelope checked as in [`verify`]).
pub fn order_change(body: &[u8]) -> Result<OrderChange, Error> {
    let n = verify(body, None)?;
    if n.notification_type != "ORDER_CHANGE" {
        return Err(Error::Invalid {
            platform: "amazon",
            topic: "notification".into(),
            field: "NotificationType".into(),
            reason: format!("is {:?}, not ORDER_CHANGE", n.notification_type),
        });
    }
    parse_order_change(&n, "ORDER_CHANGE")
}

// ---------------------------------------------------------------------------------------------
// Orders v0

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Money {
    currency_code: Option<String>,
    amount: Option<Amount>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Address {
    city: Option<String>,
    country_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct BuyerInfo {
    buyer_email: Option<String>,
    buyer_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Order {
    amazon_order_id: String,
    #[serde(default)]
    seller_order_id: Option<String>,
    #[serde(default)]
    purchase_date: Option<Stamp>,
    #[serde(default)]
    last_update_date: Option<Stamp>,
    #[serde(default)]
    order_status: Option<String>,
    #[serde(default)]
    sales_channel: Option<String>,
    #[serde(default)]
    order_total: Option<Money>,
    #[serde(default)]
    shipping_address: Option<Address>,
    #[serde(default)]
    buyer_info: Option<BuyerInfo>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OrdersList {
    orders: Vec<Order>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct OrderItem {
    #[serde(rename = "ASIN")]
    asin: Option<String>,
    #[serde(rename = "SellerSKU")]
    seller_sku: Option<String>,
    order_item_id: Option<String>,
    title: Option<String>,
    quantity_ordered: Option<i64>,
    item_price: Option<Money>,
    shipping_price: Option<Money>,
    item_tax: Option<Money>,
    shipping_tax: Option<Money>,
    shipping_discount: Option<Money>,
    promotion_discount: Option<Money>,
    promotion_ids: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OrderItemsList {
    amazon_order_id: String,
    order_items: Vec<OrderItem>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ApiError {
    code: Option<String>,
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Response<T> {
    payload: Option<T>,
    #[serde(default)]
    errors: Vec<ApiError>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OrdersPayload {
    List(OrdersList),
    One(Box<Order>),
}

fn payload_of<T>(out: &Out, response: Response<T>) -> Result<T, Error> {
    match response.payload {
        Some(p) => Ok(p),
        None if !response.errors.is_empty() => {
            let reasons: Vec<String> = response
                .errors
                .iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e.code.as_deref().unwrap_or("?"),
                        e.message.as_deref().unwrap_or("")
                    )
                })
                .collect();
            Err(out.invalid("errors", reasons.join("; ")))
        }
        None => Err(out.invalid("payload", "missing")),
    }
}

fn text(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn buyer_email(o: &Order) -> Option<String> {
    first_email([o.buyer_info.as_ref().and_then(|b| b.buyer_email.as_deref())])
}

/// Map one kind (see the module docs) to canonical events.
pub fn normalise(kind: &str, body: &[u8], ctx: &Context<'_>) -> Result<Normalised, Error> {
    let mut out = Out::new(ctx, P, kind)?;
    let raw_ids = match kind {
        "getOrders" | "getOrder" => {
            let response: Response<OrdersPayload> = parse_json(P, kind, body)?;
            let orders = match payload_of(&out, response)? {
                OrdersPayload::List(list) => list.orders,
                OrdersPayload::One(order) => vec![*order],
            };
            let mut ids = Vec::new();
            for o in &orders {
                ids.extend(buyer_event(&mut out, o)?);
            }
            out.note(
                "OrderPlaced needs the order's items: the poller joins getOrderItems with \
                 amazon::order_placed",
            );
            ids
        }
        "getOrderItems" => {
            let response: Response<OrderItemsList> = parse_json(P, kind, body)?;
            let items = payload_of(&out, response)?;
            let id = out
                .required("AmazonOrderId", Some(&items.amazon_order_id))?
                .to_owned();
            out.note(format!(
                "getOrderItems has no purchase date or buyer; order {id} is mapped by \
                 amazon::order_placed"
            ));
            let mut ids = vec![id];
            ids.extend(
                items
                    .order_items
                    .iter()
                    .filter_map(|i| i.order_item_id.clone()),
            );
            ids
        }
        _ => {
            let notification_type = !kind.is_empty()
                && kind
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            if kind != "notification" && !notification_type {
                return Err(Error::UnknownTopic {
                    platform: "amazon",
                    topic: kind.to_owned(),
                    handled: KINDS,
                });
            }
            let n = verify(body, None)?;
            if kind != "notification" && kind != n.notification_type {
                return Err(out.invalid(
                    "NotificationType",
                    format!("is {:?}, delivered as {kind:?}", n.notification_type),
                ));
            }
            if n.notification_type == "ORDER_CHANGE" {
                let change = parse_order_change(&n, kind)?;
                out.note(format!(
                    "ORDER_CHANGE carries no prices, currency or buyer; fetch order {} with \
                     getOrder and getOrderItems",
                    change.amazon_order_id
                ));
            } else {
                out.note(format!("{}: not a customer fact", n.notification_type));
            }
            vec![n.notification_type, n.notification_id]
        }
    };
    Ok(out.finish(&raw_ids, body))
}

fn buyer_event(out: &mut Out, o: &Order) -> Result<Vec<String>, Error> {
    let order_id = out
        .required("AmazonOrderId", Some(&o.amazon_order_id))?
        .to_owned();
    let updated = o
        .last_update_date
        .as_ref()
        .or(o.purchase_date.as_ref())
        .ok_or_else(|| out.invalid("LastUpdateDate", "missing"))?;
    let updated = out.field("LastUpdateDate", updated.millis())?;
    let Some(email) = buyer_email(o) else {
        return Ok(vec![order_id, updated.to_string()]);
    };
    let name = o.buyer_info.as_ref().and_then(|b| text(&b.buyer_name));
    let (first, last) = match name.map(|n| n.split_once(' ')) {
        Some(Some((f, l))) => (Some(f.to_owned()), Some(l.trim().to_owned())),
        Some(None) => (name.map(str::to_owned), None),
        None => (None, None),
    };
    let address = o.shipping_address.as_ref();
    let key = customer_key(P, Some(&email), None, &order_id);
    out.push(
        &[&email, &order_id],
        &order_id,
        Some(key),
        updated,
        Payload::CustomerUpserted(CustomerUpserted {
            platform_customer_id: email.clone(),
            email: Some(email.clone()),
            phone: None,
            first_name: first,
            last_name: last,
            country: address
                .and_then(|a| text(&a.country_code))
                .map(str::to_owned),
            city: address.and_then(|a| text(&a.city)).map(str::to_owned),
            accepts_marketing: false,
            platform_created_at: None,
            tags: Vec::new(),
        }),
    );
    Ok(vec![order_id, updated.to_string()])
}

/// Amazon order status → the financial status canonical orders carry.
fn financial_status(status: Option<&str>) -> String {
    match status {
        Some("Pending" | "PendingAvailability") | None => "pending",
        Some("Canceled") => "voided",
        Some(_) => "paid",
    }
    .to_owned()
}

/// Join order `order_id` of a `getOrders` or `getOrder` response with its `getOrderItems` pages
/// into one `OrderPlaced` (see the module docs).
pub fn order_placed(
    order_page: &[u8],
    order_id: &str,
    item_pages: &[&[u8]],
    ctx: &Context<'_>,
) -> Result<Joined, Error> {
    let mut out = Out::new(ctx, P, "getOrders+getOrderItems")?;
    out.required("order_id", Some(order_id))?;
    let response: Response<OrdersPayload> = parse_json(P, "getOrders", order_page)?;
    let orders = match payload_of(&out, response)? {
        OrdersPayload::List(list) => list.orders,
        OrdersPayload::One(order) => vec![*order],
    };
    let order = orders
        .iter()
        .find(|o| o.amazon_order_id == order_id)
        .ok_or_else(|| {
            out.invalid(
                "AmazonOrderId",
                format!("order {order_id} is not in the page"),
            )
        })?;
    let mut items = Vec::new();
    for page in item_pages {
        let response: Response<OrderItemsList> = parse_json(P, "getOrderItems", page)?;
        let list = payload_of(&out, response)?;
        if list.amazon_order_id != order_id {
            return Err(out.invalid(
                "getOrderItems.AmazonOrderId",
                format!("is {:?}, expected {order_id:?}", list.amazon_order_id),
            ));
        }
        items.extend(list.order_items);
    }
    if items.is_empty() {
        out.note(format!("order {order_id} has no items yet"));
        return Ok(Joined {
            events: out.events,
            note: out.note,
        });
    }
    if items.iter().any(|i| i.item_price.is_none()) {
        out.note(format!(
            "order {order_id} ({}) is not priced yet; poll it again",
            order.order_status.as_deref().unwrap_or("no status")
        ));
        return Ok(Joined {
            events: out.events,
            note: out.note,
        });
    }
    let currency = order
        .order_total
        .as_ref()
        .and_then(|m| text(&m.currency_code))
        .or_else(|| {
            items
                .iter()
                .find_map(|i| i.item_price.as_ref().and_then(|m| text(&m.currency_code)))
        })
        .ok_or_else(|| {
            out.invalid(
                "OrderTotal.CurrencyCode",
                "no currency on the order or its items",
            )
        })?;
    let currency = out.currency("CurrencyCode", currency)?;
    let money = |field: &str, m: &Option<Money>| -> Result<i64, Error> {
        let Some(m) = m else { return Ok(0) };
        if let Some(c) = text(&m.currency_code)
            && !c.eq_ignore_ascii_case(&currency)
        {
            return Err(out.invalid(field, format!("is in {c}, the order is in {currency}")));
        }
        match m.amount.as_ref().and_then(Amount::text) {
            Some(a) => out.money(field, a, &currency),
            None => Ok(0),
        }
    };
    let mut lines = Vec::with_capacity(items.len());
    let (mut gross, mut discounts, mut shipping, mut taxes) = (vec![], vec![], vec![], vec![]);
    let mut codes = BTreeSet::new();
    for item in &items {
        let price = money("OrderItems[].ItemPrice", &item.item_price)?;
        let promo = money("OrderItems[].PromotionDiscount", &item.promotion_discount)?;
        gross.push(price);
        discounts.push(promo);
        discounts.push(money(
            "OrderItems[].ShippingDiscount",
            &item.shipping_discount,
        )?);
        shipping.push(money("OrderItems[].ShippingPrice", &item.shipping_price)?);
        taxes.push(money("OrderItems[].ItemTax", &item.item_tax)?);
        taxes.push(money("OrderItems[].ShippingTax", &item.shipping_tax)?);
        codes.extend(
            item.promotion_ids
                .iter()
                .flatten()
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty()),
        );
        let quantity = item.quantity_ordered.unwrap_or(1);
        let asin = out
            .required("OrderItems[].ASIN", item.asin.as_deref())?
            .to_owned();
        lines.push(OrderLine {
            title: text(&item.title).unwrap_or(&asin).to_owned(),
            product_id: asin,
            variant_id: None,
            sku: text(&item.seller_sku).map(str::to_owned),
            category: None,
            brand: None,
            quantity: out.quantity("OrderItems[].QuantityOrdered", quantity)?,
            unit_price_minor: per_unit(price, quantity),
            discount_minor: promo,
        });
    }
    let subtotal = out.field("OrderItems[].ItemPrice", checked_sum(gross))?;
    let discount = out.field("OrderItems[].PromotionDiscount", checked_sum(discounts))?;
    let shipping = out.field("OrderItems[].ShippingPrice", checked_sum(shipping))?;
    let tax = out.field("OrderItems[].ItemTax", checked_sum(taxes))?;
    let total = match order.order_total.as_ref().filter(|m| m.amount.is_some()) {
        Some(_) => money("OrderTotal", &order.order_total)?,
        None => subtotal
            .checked_sub(discount)
            .and_then(|v| v.checked_add(shipping))
            .and_then(|v| v.checked_add(tax))
            .ok_or_else(|| out.invalid("OrderTotal", "computed total overflows"))?,
    };
    let purchased = order
        .purchase_date
        .as_ref()
        .ok_or_else(|| out.invalid("PurchaseDate", "missing"))?;
    let purchased = out.field("PurchaseDate", purchased.millis())?;
    let version = match &order.last_update_date {
        Some(s) => out.field("LastUpdateDate", s.millis())?,
        None => purchased,
    };
    let email = buyer_email(order);
    let key = customer_key(P, email.as_deref(), None, order_id);
    let version_text = version.to_string();
    let placed = OrderPlaced {
        order_id: order_id.to_owned(),
        order_number: text(&order.seller_order_id).map(str::to_owned),
        currency,
        lines,
        subtotal_minor: subtotal,
        discount_minor: discount,
        shipping_minor: shipping,
        tax_minor: tax,
        total_minor: total,
        discount_codes: codes.into_iter().collect(),
        financial_status: financial_status(text(&order.order_status)),
        is_test: false,
        guest: email.is_none(),
        checkout_id: None,
        channel: text(&order.sales_channel).map(str::to_owned),
    };
    out.push(
        &[order_id, &version_text],
        order_id,
        Some(key),
        purchased,
        Payload::OrderPlaced(placed),
    );
    Ok(Joined {
        events: out.events,
        note: out.note,
    })
}
