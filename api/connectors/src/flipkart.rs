//! Flipkart Marketplace Seller API: push-notification authentication and the mapping of shipment
//! notifications and shipment API responses to canonical events.
//!
//! **Authentication.** A notification carries `X_Date` and
//! `X_Authorization: FKLOGIN base64(<appId>:<fk_signature>)`, where `fk_signature` is the
//! lowercase hex SHA-1 (plain, not an HMAC, body not covered) of
//! `date_timestamp + notification URL + HTTP method + app secret`. Flipkart's prose calls
//! `date_timestamp` an HTTP-Date and its `X_Date` sample is `Tue, 19 May 2015 09:02:15 GMT`, but
//! its published signature is computed over the epoch seconds of that instant (`1432026135`).
//! [`verify`] reads `X_Date` (HTTP-Date or epoch seconds), tries the epoch-seconds form first and
//! then the header text as sent, and compares in constant time. Flipkart documents no freshness
//! window; because the body is not signed, [`verify`] refuses an `X_Date` more than
//! [`NotificationAuth::max_skew_secs`] (default [`DEFAULT_MAX_SKEW_SECS`], Mindset's choice)
//! away from `now`, which bounds how long a captured header can be replayed. Header names use
//! underscores; the hyphenated spellings some proxies produce are accepted too.
//!
//! **Kinds** for [`normalise`]:
//!
//! | kind | events |
//! | --- | --- |
//! | `notification` (or the `eventType` itself) with `shipment_created` | `OrderPlaced` per order in the shipment |
//! | `shipments` (`GET /sellers/v3/shipments/{ids}` or `POST /sellers/v3/shipments/filter` response) | `OrderPlaced` per order per shipment |
//! | other `shipment_*` events (`packed`, `hold`, `shipped`, `delivered`, `cancelled` …) | none, raw kept: status changes without order content |
//! | `return_*` events | none, raw kept: return notifications carry neither an amount nor an order id, so no `OrderRefunded` can be built from them |
//!
//! **Orders.** Flipkart sells in INR. Flipkart reports orders by shipment: each `OrderPlaced` holds
//! the lines of one order in one shipment (`event_id` over order id and shipment id, so the
//! notification and the shipment API give the same id). An order split across shipments gives
//! one `OrderPlaced` per shipment with the same `order_id`. `priceComponents` are read as the
//! order item's totals: unit price `sellingPrice / quantity`, line discount `flipkartDiscount`,
//! subtotal Σ `sellingPrice`, shipping Σ `shippingCharge`, total Σ `totalPrice`; prices include
//! GST, so `tax_minor` is 0. Cancelled items and free replacements (`is_replacement`) are left out.
//! `COD` orders are `pending`, prepaid ones `paid`. `occurred_at` is the earliest `orderDate`.
//! Flipkart never shares the buyer, so every order is a guest: `guest:flipkart:<orderId>`.

use mindset_schemas::{OrderLine, OrderPlaced, Payload, Platform};
use serde::Deserialize;
use sha1::{Digest, Sha1};

use crate::common::{
    Amount, Id, Out, checked_sum, ct_eq, customer_key, header, http_date_secs, nullable,
    parse_json, parse_value, per_unit, rfc3339_millis,
};
use crate::{Context, Error, Headers, Normalised};

const P: Platform = Platform::Flipkart;

/// Refuse notifications whose `X_Date` is further than this from now, unless configured.
pub const DEFAULT_MAX_SKEW_SECS: i64 = 15 * 60;

/// Every kind [`normalise`] accepts.
pub const KINDS: &str = "notification (or an eventType), shipments; eventTypes: \
shipment_created, shipment_hold, shipment_unhold, shipment_packed, shipment_ready_to_dispatch, \
shipment_pickup_complete, shipment_shipped, shipment_delivered, shipment_dispatch_dates_changed, \
shipment_cancelled, shipment_form_failed, return_created, return_cancelled, return_completed, \
return_picked_up, return_expected_date_changed, return_item_tracking_id_update";

const EVENT_TYPES: [&str; 17] = [
    "shipment_created",
    "shipment_hold",
    "shipment_unhold",
    "shipment_packed",
    "shipment_ready_to_dispatch",
    "shipment_pickup_complete",
    "shipment_shipped",
    "shipment_delivered",
    "shipment_dispatch_dates_changed",
    "shipment_cancelled",
    "shipment_form_failed",
    "return_created",
    "return_cancelled",
    "return_completed",
    "return_picked_up",
    "return_expected_date_changed",
    "return_item_tracking_id_update",
];

const AUTH_HEADER: &str = "X_Authorization";
const DATE_HEADER: &str = "X_Date";

/// The seller application's credentials and the notification endpoint it registered.
#[derive(Debug, Clone, Copy)]
pub struct NotificationAuth<'a> {
    pub app_id: &'a str,
    pub app_secret: &'a str,
    /// The notification URL exactly as registered with Flipkart.
    pub url: &'a str,
    /// The HTTP method of the notification (`POST`).
    pub method: &'a str,
    /// How far `X_Date` may be from now, in seconds; `None` disables the check.
    pub max_skew_secs: Option<i64>,
}

impl<'a> NotificationAuth<'a> {
    pub fn new(app_id: &'a str, app_secret: &'a str, url: &'a str) -> Self {
        NotificationAuth {
            app_id,
            app_secret,
            url,
            method: "POST",
            max_skew_secs: Some(DEFAULT_MAX_SKEW_SECS),
        }
    }
}

fn sha1_hex(parts: &[&str]) -> String {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Check `X_Authorization` and `X_Date` of a notification; `now_ms` is the current time.
pub fn verify(auth: &NotificationAuth<'_>, headers: &Headers, now_ms: i64) -> Result<(), Error> {
    let value = header(headers, "x_authorization")
        .or_else(|| header(headers, "x-authorization"))
        .ok_or(Error::MissingHeader {
            header: AUTH_HEADER,
        })?;
    let bad = |reason: &str| Error::BadHeader {
        header: AUTH_HEADER,
        reason: reason.to_owned(),
    };
    let value = value.trim();
    let encoded = value
        .split_once(char::is_whitespace)
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("FKLOGIN"))
        .map(|(_, rest)| rest.trim())
        .ok_or_else(|| bad("expected `FKLOGIN <base64>`"))?;
    let decoded = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, encoded)
        .map_err(|e| Error::BadBase64 {
            header: AUTH_HEADER,
            reason: e.to_string(),
        })?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad("credentials are not UTF-8"))?;
    let (app_id, signature) = decoded
        .split_once(':')
        .ok_or_else(|| bad("credentials are not `<appId>:<signature>`"))?;

    let date = header(headers, "x_date")
        .or_else(|| header(headers, "x-date"))
        .ok_or(Error::MissingHeader {
            header: DATE_HEADER,
        })?
        .trim();
    let secs = if !date.is_empty() && date.bytes().all(|b| b.is_ascii_digit()) {
        date.parse::<i64>().map_err(|e| Error::BadHeader {
            header: DATE_HEADER,
            reason: e.to_string(),
        })?
    } else {
        http_date_secs(date).map_err(|reason| Error::BadHeader {
            header: DATE_HEADER,
            reason,
        })?
    };
    if let Some(allowed) = auth.max_skew_secs {
        let skew = (now_ms / 1000).saturating_sub(secs).saturating_abs();
        if skew > allowed {
            return Err(Error::StaleTimestamp {
                header: DATE_HEADER,
                skew_secs: skew,
                allowed_secs: allowed,
            });
        }
    }
    let given = signature.trim().to_ascii_lowercase();
    let epoch = secs.to_string();
    let mut matched = ct_eq(app_id.as_bytes(), auth.app_id.as_bytes());
    let by_epoch = ct_eq(
        sha1_hex(&[&epoch, auth.url, auth.method, auth.app_secret]).as_bytes(),
        given.as_bytes(),
    );
    let by_text = ct_eq(
        sha1_hex(&[date, auth.url, auth.method, auth.app_secret]).as_bytes(),
        given.as_bytes(),
    );
    matched &= by_epoch | by_text;
    if matched {
        Ok(())
    } else {
        Err(Error::SignatureMismatch {
            header: AUTH_HEADER,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Payload shapes

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    event_type: String,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    attributes: serde_json::Value,
    #[serde(default)]
    shipment_id: Option<String>,
    #[serde(default)]
    return_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct PriceComponents {
    selling_price: Option<Amount>,
    total_price: Option<Amount>,
    shipping_charge: Option<Amount>,
    flipkart_discount: Option<Amount>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct OrderItem {
    order_item_id: Option<Id>,
    order_id: Option<Id>,
    order_date: Option<String>,
    payment_type: Option<String>,
    status: Option<String>,
    quantity: Option<i64>,
    fsn: Option<String>,
    sku: Option<String>,
    listing_id: Option<String>,
    title: Option<String>,
    price_components: Option<PriceComponents>,
    #[serde(
        rename = "is_replacement",
        alias = "isReplacement",
        deserialize_with = "nullable"
    )]
    is_replacement: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ShipmentAttributes {
    updated_at: Option<String>,
    #[serde(deserialize_with = "nullable")]
    order_items: Vec<OrderItem>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Shipment {
    shipment_id: Option<String>,
    updated_at: Option<String>,
    #[serde(deserialize_with = "nullable")]
    order_items: Vec<OrderItem>,
}

#[derive(Debug, Deserialize)]
struct Shipments {
    shipments: Vec<Shipment>,
}

// ---------------------------------------------------------------------------------------------
// Mapping

fn text(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Map one notification or shipments response to canonical events.
pub fn normalise(kind: &str, body: &[u8], ctx: &Context<'_>) -> Result<Normalised, Error> {
    if kind != "notification" && kind != "shipments" && !EVENT_TYPES.contains(&kind) {
        return Err(Error::UnknownTopic {
            platform: "flipkart",
            topic: kind.to_owned(),
            handled: KINDS,
        });
    }
    let mut out = Out::new(ctx, P, kind)?;
    if kind == "shipments" {
        let page: Shipments = parse_json(P, kind, body)?;
        out.note_if_empty(page.shipments.len(), "shipments in the page");
        let mut raw_ids = Vec::new();
        for s in &page.shipments {
            let id = out
                .required("shipments[].shipmentId", text(&s.shipment_id))?
                .to_owned();
            let fallback = text(&s.updated_at)
                .map(|t| out.field("shipments[].updatedAt", rfc3339_millis(t)))
                .transpose()?;
            shipment_orders(&mut out, &id, &s.order_items, fallback)?;
            raw_ids.push(id);
            raw_ids.push(s.updated_at.clone().unwrap_or_default());
        }
        return Ok(out.finish(&raw_ids, body));
    }
    let n: Notification = parse_json(P, kind, body)?;
    if !EVENT_TYPES.contains(&n.event_type.as_str()) {
        return Err(Error::UnknownTopic {
            platform: "flipkart",
            topic: n.event_type,
            handled: KINDS,
        });
    }
    if kind != "notification" && kind != n.event_type {
        return Err(out.invalid(
            "eventType",
            format!("is {:?}, delivered as {kind:?}", n.event_type),
        ));
    }
    let at = out.required("timestamp", text(&n.timestamp))?;
    let at = out.field("timestamp", rfc3339_millis(at))?;
    let subject = if n.event_type.starts_with("return_") {
        out.required("returnId", text(&n.return_id))?.to_owned()
    } else {
        out.required("shipmentId", text(&n.shipment_id))?.to_owned()
    };
    match n.event_type.as_str() {
        "shipment_created" => {
            let attrs: ShipmentAttributes =
                parse_value(P, kind, n.attributes.clone(), "attributes")?;
            let fallback = match text(&attrs.updated_at) {
                Some(t) => out.field("attributes.updatedAt", rfc3339_millis(t))?,
                None => at,
            };
            shipment_orders(&mut out, &subject, &attrs.order_items, Some(fallback))?;
        }
        t if t.starts_with("return_") => out.note(format!(
            "{t}: return notifications carry no amount or order id; no OrderRefunded"
        )),
        t => out.note(format!(
            "{t}: a shipment status change without order content"
        )),
    }
    let raw_ids = [n.event_type.clone(), subject, at.to_string()];
    Ok(out.finish(&raw_ids, body))
}

/// One `OrderPlaced` per order among a shipment's items.
fn shipment_orders(
    out: &mut Out,
    shipment_id: &str,
    items: &[OrderItem],
    fallback_time: Option<i64>,
) -> Result<(), Error> {
    if items.is_empty() {
        out.note(format!("shipment {shipment_id}: no order items"));
    }
    let mut orders: Vec<(String, Vec<&OrderItem>)> = Vec::new();
    for item in items {
        let order_id = out
            .required(
                "orderItems[].orderId",
                item.order_id.as_ref().and_then(Id::present),
            )?
            .to_owned();
        if item.is_replacement
            || text(&item.status).is_some_and(|s| s.eq_ignore_ascii_case("CANCELLED"))
        {
            out.note(format!(
                "shipment {shipment_id}: an item of order {order_id} is cancelled or a replacement"
            ));
            continue;
        }
        match orders.iter_mut().find(|(id, _)| *id == order_id) {
            Some((_, list)) => list.push(item),
            None => orders.push((order_id, vec![item])),
        }
    }
    for (order_id, items) in orders {
        let currency = "INR";
        let mut lines = Vec::with_capacity(items.len());
        let (mut selling, mut discounts, mut shipping, mut totals) =
            (vec![], vec![], vec![], vec![]);
        let mut placed_at: Option<i64> = None;
        let mut cod = false;
        for item in &items {
            let prices = item.price_components.as_ref();
            let amount = |field: &str, a: Option<&Amount>| -> Result<i64, Error> {
                match a.and_then(Amount::text) {
                    Some(v) => out.money(field, v, currency),
                    None => Ok(0),
                }
            };
            let sell = amount(
                "priceComponents.sellingPrice",
                prices.and_then(|p| p.selling_price.as_ref()),
            )?;
            let discount = amount(
                "priceComponents.flipkartDiscount",
                prices.and_then(|p| p.flipkart_discount.as_ref()),
            )?;
            let ship = amount(
                "priceComponents.shippingCharge",
                prices.and_then(|p| p.shipping_charge.as_ref()),
            )?;
            let total = match prices
                .and_then(|p| p.total_price.as_ref())
                .and_then(Amount::text)
            {
                Some(v) => out.money("priceComponents.totalPrice", v, currency)?,
                None => sell
                    .checked_add(ship)
                    .ok_or_else(|| out.invalid("priceComponents", "total overflows"))?,
            };
            selling.push(sell);
            discounts.push(discount);
            shipping.push(ship);
            totals.push(total);
            if let Some(d) = text(&item.order_date) {
                let t = out.field("orderItems[].orderDate", rfc3339_millis(d))?;
                placed_at = Some(placed_at.map_or(t, |p| p.min(t)));
            }
            cod |= text(&item.payment_type).is_some_and(|p| p.eq_ignore_ascii_case("COD"));
            let quantity = item.quantity.unwrap_or(1);
            let product_id = text(&item.fsn)
                .map(str::to_owned)
                .or_else(|| text(&item.sku).map(|s| format!("sku:{s}")))
                .or_else(|| {
                    item.order_item_id
                        .as_ref()
                        .and_then(Id::present)
                        .map(|i| format!("line:{i}"))
                })
                .ok_or_else(|| out.invalid("orderItems[].fsn", "no fsn, sku or orderItemId"))?;
            lines.push(OrderLine {
                product_id,
                variant_id: text(&item.listing_id).map(str::to_owned),
                sku: text(&item.sku).map(str::to_owned),
                title: text(&item.title).unwrap_or("untitled").to_owned(),
                category: None,
                brand: None,
                quantity: out.quantity("orderItems[].quantity", quantity)?,
                unit_price_minor: per_unit(sell, quantity),
                discount_minor: discount,
            });
        }
        let occurred_at = placed_at
            .or(fallback_time)
            .ok_or_else(|| out.invalid("orderItems[].orderDate", "missing"))?;
        let placed = OrderPlaced {
            order_id: order_id.clone(),
            order_number: None,
            currency: currency.to_owned(),
            lines,
            subtotal_minor: out.field("priceComponents.sellingPrice", checked_sum(selling))?,
            discount_minor: out
                .field("priceComponents.flipkartDiscount", checked_sum(discounts))?,
            shipping_minor: out.field("priceComponents.shippingCharge", checked_sum(shipping))?,
            tax_minor: 0,
            total_minor: out.field("priceComponents.totalPrice", checked_sum(totals))?,
            discount_codes: Vec::new(),
            financial_status: if cod { "pending" } else { "paid" }.to_owned(),
            is_test: false,
            guest: true,
            checkout_id: None,
            channel: None,
        };
        let key = customer_key(P, None, None, &order_id);
        out.push(
            &[&order_id, shipment_id],
            shipment_id,
            Some(key),
            occurred_at,
            Payload::OrderPlaced(placed),
        );
    }
    Ok(())
}
