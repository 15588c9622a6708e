//! WooCommerce: webhook signatures (and the unsigned creation ping), and the mapping of webhook
//! topics and REST v3 pages to canonical events.
//!
//! **Signature.** `X-WC-Webhook-Signature` is `base64(HMAC-SHA256(secret, raw body))`. WooCommerce
//! keys the HMAC with the secret after `wp_specialchars_decode` (`&amp;` → `&` …), so [`verify`]
//! does the same to the configured secret. When a webhook is created WooCommerce POSTs an
//! unsigned, form-encoded `webhook_id=<id>` with no `X-WC-*` headers; [`verify`] recognises
//! exactly that body and returns [`Delivery::Ping`], and [`normalise`] maps it (topic `ping`, or
//! an empty topic) to no events.
//!
//! **Topics** (the `X-WC-Webhook-Topic` header, or a `rest/…` kind for poller pages). Resource
//! webhooks carry the same JSON as `GET /wp-json/wc/v3/<resource>s/<id>`:
//!
//! | topic | events |
//! | --- | --- |
//! | `order.created`, `order.updated`, `order.restored`, `rest/orders` | `OrderPlaced`; `OrderRefunded` per entry of the order's `refunds` |
//! | `customer.created`, `customer.updated`, `rest/customers` | `CustomerUpserted` (core WooCommerce has no marketing consent, so no `ConsentChanged`) |
//! | `product.created`, `product.updated`, `product.restored`, `rest/products` | `ProductUpserted`, `PriceChanged` (when it has a price), `InventoryChanged` (when stock is managed); a `variation` gives only the last two, on its parent |
//! | `product_review.created`, `product_review.updated`, `rest/products/reviews` | `ReviewPosted` (not for `spam`/`trash`). WooCommerce core has no review topic: a store adds this resource with the `woocommerce_valid_webhook_resources` and `woocommerce_webhook_payload` filters and sends the REST review object |
//! | `action.<hook>` | `{"action", "arg"}`: `ReviewPosted` when `arg` is a review object; otherwise none (a bare id says nothing) |
//! | `*.deleted`, `coupon.*`, `ping` | none, raw kept (`{"id"}` only; coupons are not customer facts) |
//!
//! **Identity and amounts.** `customer_id` 0 is a guest. The key is `email:<billing email>`, else
//! `woocommerce:<customer_id>`, else `guest:woocommerce:<order id>`. Timestamps are the `*_gmt`
//! fields (UTC). A line's unit price is its `subtotal` (before coupons) divided by its quantity,
//! rounded to the minor unit; its discount is `subtotal - total`. Order `subtotal_minor` is the
//! sum of line subtotals. Products carry no currency: set [`crate::Context::shop_currency`].
//! `PriceChanged` and `InventoryChanged` are observations of the current value (`old_price_minor`
//! and `previous` are `None`): the connector keeps no state, so a consumer that wants the delta
//! compares with the last value it saw.
//!
//! **Ids.** Orders, customers and products are versioned by `date_modified_gmt`: a redelivery gets
//! the same `event_id`, a later modification a new one. Refunds by order id and refund id (they
//! repeat on every later order delivery and are dropped as duplicates). Reviews by id, rating and
//! text.

use base64::Engine;
use hmac::{Hmac, Mac};
use mindset_schemas::{
    CustomerUpserted, InventoryChanged, OrderLine, OrderPlaced, OrderRefunded, Payload, Platform,
    PriceChanged, ProductUpserted, ReviewPosted,
};
use serde::Deserialize;
use sha2::Sha256;

use crate::common::{
    Amount, Id, Out, checked_sum, ct_eq, customer_key, decode_entities, first_email, header,
    html_text, nullable, parse_json, per_unit, utc_naive_millis,
};
use crate::{Context, Error, Headers, Normalised};

const P: Platform = Platform::Woocommerce;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-WC-Webhook-Signature";

/// Every topic and poller kind [`normalise`] accepts (`action.<hook>` stands for any hook).
pub const TOPICS: &str = "order.created, order.updated, order.restored, order.deleted, \
customer.created, customer.updated, customer.deleted, product.created, product.updated, \
product.restored, product.deleted, product_review.created, product_review.updated, \
product_review.deleted, coupon.created, coupon.updated, coupon.deleted, coupon.restored, \
action.<hook>, ping, rest/orders, rest/customers, rest/products, rest/products/reviews";

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A resource or action delivery whose signature matches.
    Signed,
    /// The unsigned `webhook_id=<id>` ping sent when a webhook is created.
    Ping { webhook_id: String },
}

/// The webhook id of a creation ping body (`webhook_id=<digits>`), if `body` is one.
pub fn ping_webhook_id(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?.trim();
    let id = text.strip_prefix("webhook_id=")?;
    (!id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit()))
        .then(|| id.to_owned())
}

/// Check `X-WC-Webhook-Signature` against the raw body, or recognise the creation ping.
pub fn verify(secret: &str, headers: &Headers, body: &[u8]) -> Result<Delivery, Error> {
    let Some(value) = header(headers, SIGNATURE_HEADER) else {
        return match ping_webhook_id(body) {
            Some(webhook_id) => Ok(Delivery::Ping { webhook_id }),
            None => Err(Error::MissingHeader {
                header: SIGNATURE_HEADER,
            }),
        };
    };
    let given = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|e| Error::BadBase64 {
            header: SIGNATURE_HEADER,
            reason: e.to_string(),
        })?;
    let key = wp_specialchars_decode(secret);
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(body);
    if ct_eq(&mac.finalize().into_bytes(), &given) {
        Ok(Delivery::Signed)
    } else {
        Err(Error::SignatureMismatch {
            header: SIGNATURE_HEADER,
        })
    }
}

/// WordPress's `wp_specialchars_decode($s, ENT_QUOTES)`: only `&amp; &lt; &gt; &quot; &#039;`
/// (and their numeric forms) are decoded.
fn wp_specialchars_decode(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    s.replace("&lt;", "<")
        .replace("&#060;", "<")
        .replace("&gt;", ">")
        .replace("&#062;", ">")
        .replace("&quot;", "\"")
        .replace("&#034;", "\"")
        .replace("&#x22;", "\"")
        .replace("&#039;", "'")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
        .replace("&#038;", "&")
        .replace("&#x26;", "&")
}

/// Map one webhook body (by its topic) or REST page (by its `rest/…` kind) to canonical events.
pub fn normalise(topic: &str, body: &[u8], ctx: &Context<'_>) -> Result<Normalised, Error> {
    let mut out = Out::new(ctx, P, topic)?;
    if topic.is_empty() || topic == "ping" {
        let Some(webhook_id) = ping_webhook_id(body) else {
            return Err(out.invalid("body", "a ping body is `webhook_id=<digits>`"));
        };
        out.note("webhook creation ping");
        return Ok(out.finish(&[webhook_id], body));
    }
    let raw_ids = match topic {
        "order.created" | "order.updated" | "order.restored" => {
            let order: Order = parse_json(P, topic, body)?;
            order_events(&mut out, &order)?
        }
        "rest/orders" => {
            let page: Vec<Order> = parse_json(P, topic, body)?;
            out.note_if_empty(page.len(), "orders in the page");
            let mut ids = Vec::new();
            for order in &page {
                ids.extend(order_events(&mut out, order)?);
            }
            ids
        }
        "customer.created" | "customer.updated" => {
            let customer: Customer = parse_json(P, topic, body)?;
            customer_event(&mut out, &customer)?
        }
        "rest/customers" => {
            let page: Vec<Customer> = parse_json(P, topic, body)?;
            out.note_if_empty(page.len(), "customers in the page");
            let mut ids = Vec::new();
            for customer in &page {
                ids.extend(customer_event(&mut out, customer)?);
            }
            ids
        }
        "product.created" | "product.updated" | "product.restored" => {
            let product: Product = parse_json(P, topic, body)?;
            product_events(&mut out, &product)?
        }
        "rest/products" => {
            let page: Vec<Product> = parse_json(P, topic, body)?;
            out.note_if_empty(page.len(), "products in the page");
            let mut ids = Vec::new();
            for product in &page {
                ids.extend(product_events(&mut out, product)?);
            }
            ids
        }
        "product_review.created" | "product_review.updated" => {
            let review: Review = parse_json(P, topic, body)?;
            review_event(&mut out, &review)?
        }
        "rest/products/reviews" => {
            let page: Vec<Review> = parse_json(P, topic, body)?;
            out.note_if_empty(page.len(), "reviews in the page");
            let mut ids = Vec::new();
            for review in &page {
                ids.extend(review_event(&mut out, review)?);
            }
            ids
        }
        "order.deleted"
        | "customer.deleted"
        | "product.deleted"
        | "product_review.deleted"
        | "coupon.created"
        | "coupon.updated"
        | "coupon.deleted"
        | "coupon.restored" => {
            let object: Deleted = parse_json(P, topic, body)?;
            let id = out
                .required("id", object.id.as_ref().and_then(Id::present))?
                .to_owned();
            out.note(format!("{topic}: no canonical event"));
            vec![id]
        }
        _ if topic.starts_with("action.") && topic.len() > "action.".len() => {
            let action: Action = parse_json(P, topic, body)?;
            action_events(&mut out, topic, &action)?
        }
        _ => {
            return Err(Error::UnknownTopic {
                platform: "woocommerce",
                topic: topic.to_owned(),
                handled: TOPICS,
            });
        }
    };
    Ok(out.finish(&raw_ids, body))
}

// ---------------------------------------------------------------------------------------------
// Payload shapes (REST API v3)

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Billing {
    first_name: Option<String>,
    last_name: Option<String>,
    city: Option<String>,
    country: Option<String>,
    email: Option<String>,
    phone: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Line {
    id: Option<Id>,
    name: Option<String>,
    product_id: Option<Id>,
    variation_id: Option<Id>,
    quantity: Option<i64>,
    subtotal: Option<Amount>,
    total: Option<Amount>,
    sku: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CouponLine {
    code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RefundRef {
    id: Option<Id>,
    reason: Option<String>,
    total: Option<Amount>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Order {
    id: Option<Id>,
    number: Option<String>,
    status: Option<String>,
    currency: Option<String>,
    created_via: Option<String>,
    date_created_gmt: Option<String>,
    date_modified_gmt: Option<String>,
    discount_total: Option<Amount>,
    shipping_total: Option<Amount>,
    total_tax: Option<Amount>,
    total: Option<Amount>,
    customer_id: Option<Id>,
    billing: Option<Billing>,
    #[serde(deserialize_with = "nullable")]
    line_items: Vec<Line>,
    #[serde(deserialize_with = "nullable")]
    coupon_lines: Vec<CouponLine>,
    #[serde(deserialize_with = "nullable")]
    refunds: Vec<RefundRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Customer {
    id: Option<Id>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    date_created_gmt: Option<String>,
    date_modified_gmt: Option<String>,
    billing: Option<Billing>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Term {
    name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Product {
    id: Option<Id>,
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    parent_id: Option<Id>,
    status: Option<String>,
    price: Option<Amount>,
    regular_price: Option<Amount>,
    date_created_gmt: Option<String>,
    date_modified_gmt: Option<String>,
    /// `true`, `false`, or `"parent"` on variations.
    manage_stock: Option<serde_json::Value>,
    stock_quantity: Option<i64>,
    #[serde(deserialize_with = "nullable")]
    categories: Vec<Term>,
    #[serde(deserialize_with = "nullable")]
    tags: Vec<Term>,
    #[serde(deserialize_with = "nullable")]
    brands: Vec<Term>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Review {
    id: Option<Id>,
    date_created_gmt: Option<String>,
    product_id: Option<Id>,
    status: Option<String>,
    reviewer_email: Option<String>,
    review: Option<String>,
    rating: Option<i64>,
    #[serde(deserialize_with = "nullable")]
    verified: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Deleted {
    id: Option<Id>,
}

#[derive(Debug, Deserialize)]
struct Action {
    action: String,
    #[serde(default)]
    arg: serde_json::Value,
}

// ---------------------------------------------------------------------------------------------
// Mapping

fn text(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn owned(s: &Option<String>) -> Option<String> {
    text(s).map(str::to_owned)
}

fn pid(id: &Option<Id>) -> Option<&str> {
    id.as_ref().and_then(Id::present)
}

fn gmt(out: &Out, field: &str, value: &Option<String>) -> Result<Option<i64>, Error> {
    text(value)
        .map(|s| out.field(field, utc_naive_millis(s)))
        .transpose()
}

fn money_or_zero(
    out: &Out,
    field: &str,
    value: &Option<Amount>,
    currency: &str,
) -> Result<i64, Error> {
    match value.as_ref().and_then(Amount::text) {
        Some(v) => out.money(field, v, currency),
        None => Ok(0),
    }
}

/// WooCommerce order status → the financial status canonical orders carry.
fn financial_status(status: Option<&str>) -> String {
    match status {
        Some("processing" | "completed") => "paid",
        Some("pending" | "on-hold" | "checkout-draft") | None => "pending",
        Some("cancelled") => "voided",
        Some("refunded") => "refunded",
        Some("failed") => "failed",
        Some(other) => other,
    }
    .to_owned()
}

fn order_events(out: &mut Out, order: &Order) -> Result<Vec<String>, Error> {
    let order_id = out.required("id", pid(&order.id))?.to_owned();
    let currency = out.required("currency", text(&order.currency))?;
    let currency = out.currency("currency", currency)?;
    let created = gmt(out, "date_created_gmt", &order.date_created_gmt)?
        .ok_or_else(|| out.invalid("date_created_gmt", "missing"))?;
    let version = gmt(out, "date_modified_gmt", &order.date_modified_gmt)?.unwrap_or(created);
    let version_text = version.to_string();
    let billing = order.billing.as_ref();
    let customer = pid(&order.customer_id);
    let email = first_email([billing.and_then(|b| b.email.as_deref())]);
    let key = customer_key(P, email.as_deref(), customer, &order_id);

    let mut lines = Vec::with_capacity(order.line_items.len());
    let mut subtotals = Vec::with_capacity(order.line_items.len());
    for li in &order.line_items {
        let quantity = li.quantity.unwrap_or(1);
        let subtotal = money_or_zero(out, "line_items[].subtotal", &li.subtotal, &currency)?;
        let total = match li.total.as_ref().and_then(Amount::text) {
            Some(v) => out.money("line_items[].total", v, &currency)?,
            None => subtotal,
        };
        subtotals.push(subtotal);
        let product_id = match (pid(&li.product_id), text(&li.sku)) {
            (Some(p), _) => p.to_owned(),
            (None, Some(sku)) => format!("sku:{sku}"),
            (None, None) => format!("line:{}", out.required("line_items[].id", pid(&li.id))?),
        };
        lines.push(OrderLine {
            product_id,
            variant_id: pid(&li.variation_id).map(str::to_owned),
            sku: owned(&li.sku),
            title: text(&li.name).map_or_else(|| "untitled".to_owned(), decode_entities),
            category: None,
            brand: None,
            quantity: out.quantity("line_items[].quantity", quantity)?,
            unit_price_minor: per_unit(subtotal, quantity),
            discount_minor: subtotal
                .checked_sub(total)
                .ok_or_else(|| out.invalid("line_items[]", "discount overflows"))?,
        });
    }
    let total = out.money(
        "total",
        out.required("total", order.total.as_ref().and_then(Amount::text))?,
        &currency,
    )?;
    let placed = OrderPlaced {
        order_id: order_id.clone(),
        order_number: owned(&order.number),
        currency: currency.clone(),
        lines,
        subtotal_minor: out.field("line_items", checked_sum(subtotals))?,
        discount_minor: money_or_zero(out, "discount_total", &order.discount_total, &currency)?,
        shipping_minor: money_or_zero(out, "shipping_total", &order.shipping_total, &currency)?,
        tax_minor: money_or_zero(out, "total_tax", &order.total_tax, &currency)?,
        total_minor: total,
        discount_codes: order
            .coupon_lines
            .iter()
            .filter_map(|c| owned(&c.code))
            .collect(),
        financial_status: financial_status(text(&order.status)),
        is_test: false,
        guest: customer.is_none(),
        checkout_id: None,
        channel: owned(&order.created_via),
    };
    out.push(
        &[&order_id, &version_text],
        &order_id,
        Some(key.clone()),
        created,
        Payload::OrderPlaced(placed),
    );
    for refund in &order.refunds {
        let refund_id = out.required("refunds[].id", pid(&refund.id))?.to_owned();
        let amount = money_or_zero(out, "refunds[].total", &refund.total, &currency)?;
        out.push(
            &[&order_id, &refund_id],
            &refund_id,
            Some(key.clone()),
            version,
            Payload::OrderRefunded(OrderRefunded {
                order_id: order_id.clone(),
                refund_id: refund_id.clone(),
                currency: currency.clone(),
                amount_minor: amount
                    .checked_abs()
                    .ok_or_else(|| out.invalid("refunds[].total", "out of range"))?,
                reason: owned(&refund.reason),
                lines: Vec::new(),
            }),
        );
    }
    Ok(vec![order_id, version_text])
}

fn customer_event(out: &mut Out, c: &Customer) -> Result<Vec<String>, Error> {
    let id = out.required("id", pid(&c.id))?.to_owned();
    let created = gmt(out, "date_created_gmt", &c.date_created_gmt)?;
    let version = match gmt(out, "date_modified_gmt", &c.date_modified_gmt)?.or(created) {
        Some(v) => v,
        None => return Err(out.invalid("date_created_gmt", "missing")),
    };
    let version_text = version.to_string();
    let billing = c.billing.as_ref();
    let email = first_email([c.email.as_deref(), billing.and_then(|b| b.email.as_deref())]);
    let key = customer_key(P, email.as_deref(), Some(&id), &id);
    out.push(
        &[&id, &version_text],
        &id,
        Some(key),
        version,
        Payload::CustomerUpserted(CustomerUpserted {
            platform_customer_id: id.clone(),
            email,
            phone: billing.and_then(|b| owned(&b.phone)),
            first_name: owned(&c.first_name).or_else(|| billing.and_then(|b| owned(&b.first_name))),
            last_name: owned(&c.last_name).or_else(|| billing.and_then(|b| owned(&b.last_name))),
            country: billing.and_then(|b| owned(&b.country)),
            city: billing.and_then(|b| owned(&b.city)),
            accepts_marketing: false,
            platform_created_at: created,
            tags: Vec::new(),
        }),
    );
    Ok(vec![id, version_text])
}

fn product_status(status: Option<&str>) -> String {
    match status {
        Some("publish") | None => "active",
        Some("draft" | "pending" | "private" | "future") => "draft",
        Some("trash") => "archived",
        Some(other) => other,
    }
    .to_owned()
}

fn product_events(out: &mut Out, p: &Product) -> Result<Vec<String>, Error> {
    let id = out.required("id", pid(&p.id))?.to_owned();
    let created = gmt(out, "date_created_gmt", &p.date_created_gmt)?;
    let version = gmt(out, "date_modified_gmt", &p.date_modified_gmt)?
        .or(created)
        .ok_or_else(|| out.invalid("date_modified_gmt", "missing"))?;
    let version_text = version.to_string();
    let currency = out.ctx.shop_currency.ok_or_else(|| {
        out.invalid(
            "currency",
            "WooCommerce products carry no currency; set Context::shop_currency",
        )
    })?;
    let currency = out.currency("shop_currency", currency)?;
    let price = p
        .price
        .as_ref()
        .and_then(Amount::text)
        .map(|v| out.money("price", v, &currency))
        .transpose()?;
    let regular = p
        .regular_price
        .as_ref()
        .and_then(Amount::text)
        .map(|v| out.money("regular_price", v, &currency))
        .transpose()?;
    let variation = text(&p.kind) == Some("variation");
    let (product_id, variant_id) = match (variation, pid(&p.parent_id)) {
        (true, Some(parent)) => (parent.to_owned(), Some(id.clone())),
        _ => (id.clone(), None),
    };
    if !variation {
        out.push(
            &[&id, &version_text],
            &id,
            None,
            version,
            Payload::ProductUpserted(ProductUpserted {
                product_id: product_id.clone(),
                title: text(&p.name).map_or_else(|| "untitled".to_owned(), decode_entities),
                category: p
                    .categories
                    .iter()
                    .find_map(|t| text(&t.name).map(decode_entities)),
                brand: p
                    .brands
                    .iter()
                    .find_map(|t| text(&t.name).map(decode_entities)),
                currency: currency.clone(),
                price_minor: price.unwrap_or(0),
                compare_at_price_minor: regular.filter(|r| Some(*r) != price),
                status: product_status(text(&p.status)),
                tags: p
                    .tags
                    .iter()
                    .filter_map(|t| text(&t.name).map(decode_entities))
                    .collect(),
            }),
        );
    }
    match price {
        Some(new_price) => out.push(
            &[&id, &version_text],
            &id,
            None,
            version,
            Payload::PriceChanged(PriceChanged {
                product_id: product_id.clone(),
                variant_id: variant_id.clone(),
                currency,
                old_price_minor: None,
                new_price_minor: new_price,
            }),
        ),
        None => out.note(format!("product {id} has no price")),
    }
    let managed = matches!(p.manage_stock, Some(serde_json::Value::Bool(true)));
    match (managed, p.stock_quantity) {
        (true, Some(available)) => {
            let available = i32::try_from(available)
                .map_err(|_| out.invalid("stock_quantity", "out of range"))?;
            out.push(
                &[&id, &version_text],
                &id,
                None,
                version,
                Payload::InventoryChanged(InventoryChanged {
                    product_id,
                    variant_id,
                    available,
                    previous: None,
                }),
            );
        }
        (true, None) => out.note(format!(
            "product {id} manages stock but has no stock_quantity"
        )),
        (false, _) => {}
    }
    Ok(vec![id, version_text])
}

fn review_event(out: &mut Out, r: &Review) -> Result<Vec<String>, Error> {
    let id = out.required("id", pid(&r.id))?.to_owned();
    let status = text(&r.status).unwrap_or("approved");
    if matches!(status, "spam" | "trash") {
        out.note(format!("review {id} is {status}"));
        return Ok(vec![id]);
    }
    let posted = gmt(out, "date_created_gmt", &r.date_created_gmt)?
        .ok_or_else(|| out.invalid("date_created_gmt", "missing"))?;
    let rating = r.rating.unwrap_or(0);
    let rating = i32::try_from(rating)
        .ok()
        .filter(|r| (0..=5).contains(r))
        .ok_or_else(|| out.invalid("rating", format!("{rating} is not 0..=5")))?;
    let text_plain = html_text(r.review.as_deref().unwrap_or(""));
    let key = customer_key(
        P,
        r.reviewer_email.as_deref(),
        None,
        &format!("review-{id}"),
    );
    let rating_text = rating.to_string();
    out.push(
        &[&id, &rating_text, &text_plain],
        &id,
        Some(key),
        posted,
        Payload::ReviewPosted(ReviewPosted {
            review_id: id.clone(),
            product_id: pid(&r.product_id).map(str::to_owned),
            rating,
            title: None,
            text: text_plain.clone(),
            verified_purchase: r.verified,
            language: None,
        }),
    );
    Ok(vec![id, rating_text])
}

fn action_events(out: &mut Out, topic: &str, action: &Action) -> Result<Vec<String>, Error> {
    let looks_like_review =
        action.arg.get("review").is_some() && action.arg.get("rating").is_some();
    if looks_like_review {
        let review: Review = serde_json::from_value(action.arg.clone())
            .map_err(|e| out.invalid("arg", format!("review object: {e}")))?;
        let mut ids = vec![action.action.clone()];
        ids.extend(review_event(out, &review)?);
        return Ok(ids);
    }
    let arg = match &action.arg {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        other => other.to_string(),
    };
    out.note(format!(
        "{topic}: argument is not a review object; no canonical event"
    ));
    Ok(vec![action.action.clone(), arg])
}
