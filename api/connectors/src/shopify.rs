//! Shopify: webhook signatures and the mapping of webhook topics and REST Admin pages to
//! canonical events.
//!
//! **Signature.** `X-Shopify-Hmac-Sha256` (or `shopify-hmac-sha256` on newer event deliveries) is
//! `base64(HMAC-SHA256(app client secret, raw body))`; [`verify`] recomputes it over the bytes as
//! received and compares in constant time.
//!
//! **Topics** (the `X-Shopify-Topic` header, or a `rest/…` kind for poller pages):
//!
//! | topic | events |
//! | --- | --- |
//! | `orders/create`, `orders/paid`, `orders/updated`, `orders/cancelled`, `orders/fulfilled`, `orders/partially_fulfilled`, `rest/orders`, `rest/order` | `OrderPlaced`; `CustomerUpserted` (+ `ConsentChanged`) when the order has a customer object; `OrderRefunded` per embedded refund |
//! | `refunds/create`, `rest/refunds` | `OrderRefunded`, when [`crate::Context::order_owners`] knows the order's customer (else none: the refund comes again inside `orders/updated`, which names the customer) |
//! | `customers/create`, `customers/update`, `customers/enable`, `customers/disable`, `rest/customers`, `rest/customer` | `CustomerUpserted`, plus `ConsentChanged` for `email_marketing_consent`, `sms_marketing_consent`, or the legacy `accepts_marketing` |
//! | `checkouts/create`, `checkouts/update`, `rest/checkouts` | `CheckoutStarted` (`abandoned_checkout_url` as `recovery_url`), `CartUpdated` when the checkout has a `cart_token`, `CustomerUpserted` when it has a customer |
//! | `carts/create`, `carts/update` | `CartUpdated` (customer `guest:shopify:<cart token>`: carts name no customer) |
//! | `customers/redact` | `RedactionRequested` |
//! | `customers/data_request`, `shop/redact`, `customers/delete`, `checkouts/delete` | none, raw kept: a data request is answered from stored data, `shop/redact` erases a whole shop (not a customer event), deletions carry only an id |
//!
//! **Ids.** An order's `event_id` is over its id and `updated_at`: the same order version seen as
//! `orders/create`, `orders/paid`, `orders/updated` or on a REST page gets one id, and a later
//! version a new one. Consumers treat repeated `OrderPlaced` for one `order_id` as restatements
//! (latest wins). `occurred_at` is the order's `processed_at` (else `created_at`) in every
//! version. Checkouts and customers are versioned by `updated_at` the same way; consents by
//! `consent_updated_at`; refunds by order id and refund id.
//!
//! **Identity.** An order or checkout is keyed by its customer's email, else its own contact
//! email, else the customer's id, else `guest:shopify:<order id or checkout token>`. A customer
//! embedded in it gets the same key, so the customer and the order land together.
//!
//! **Amounts** are shop-currency amounts (`*_set.shop_money` when present, else the plain
//! field). A line's `product_id` is Shopify's, else `sku:<sku>`, else `line:<line item id>`
//! (custom items). `checkout_id` on orders and checkouts is the checkout token, the only id
//! both payloads always carry.

use base64::Engine;
use hmac::{Hmac, Mac};
use mindset_schemas::{
    CartLine, CartUpdated, CheckoutStarted, ConsentChanged, ConsentChannel, CustomerUpserted,
    OrderLine, OrderPlaced, OrderRefunded, Payload, Platform, RedactionRequested, RefundLine,
};
use serde::Deserialize;
use sha2::Sha256;

use crate::common::{
    Amount, Id, Out, checked_sum, ct_eq, customer_key, first_email, header, nullable, parse_json,
    rfc3339_millis,
};
use crate::{Context, Error, Headers, Normalised};

const P: Platform = Platform::Shopify;

/// The signature header.
pub const HMAC_HEADER: &str = "X-Shopify-Hmac-Sha256";

/// Every topic and poller kind [`normalise`] accepts.
pub const TOPICS: &str = "orders/create, orders/paid, orders/updated, orders/cancelled, \
orders/fulfilled, orders/partially_fulfilled, refunds/create, customers/create, customers/update, \
customers/enable, customers/disable, customers/delete, checkouts/create, checkouts/update, \
checkouts/delete, carts/create, carts/update, customers/data_request, customers/redact, \
shop/redact, rest/orders, rest/order, rest/customers, rest/customer, rest/checkouts, rest/refunds";

/// Check `X-Shopify-Hmac-Sha256` against the raw body and the app's client secret.
pub fn verify(secret: &[u8], headers: &Headers, body: &[u8]) -> Result<(), Error> {
    let value = header(headers, HMAC_HEADER)
        .or_else(|| header(headers, "shopify-hmac-sha256"))
        .ok_or(Error::MissingHeader {
            header: HMAC_HEADER,
        })?;
    let given = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|e| Error::BadBase64 {
            header: HMAC_HEADER,
            reason: e.to_string(),
        })?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    if ct_eq(&mac.finalize().into_bytes(), &given) {
        Ok(())
    } else {
        Err(Error::SignatureMismatch {
            header: HMAC_HEADER,
        })
    }
}

/// Map one webhook body (by its topic) or REST page (by its `rest/…` kind) to canonical events.
pub fn normalise(topic: &str, body: &[u8], ctx: &Context<'_>) -> Result<Normalised, Error> {
    let mut out = Out::new(ctx, P, topic)?;
    let raw_ids = match topic {
        "orders/create"
        | "orders/paid"
        | "orders/updated"
        | "orders/cancelled"
        | "orders/fulfilled"
        | "orders/partially_fulfilled" => {
            let order: Order = parse_json(P, topic, body)?;
            order_events(&mut out, &order)?
        }
        "rest/orders" => {
            let page: OrdersPage = parse_json(P, topic, body)?;
            out.note_if_empty(page.orders.len(), "orders in the page");
            let mut ids = Vec::new();
            for order in &page.orders {
                ids.extend(order_events(&mut out, order)?);
            }
            ids
        }
        "rest/order" => {
            let one: OneOrder = parse_json(P, topic, body)?;
            order_events(&mut out, &one.order)?
        }
        "refunds/create" => {
            let refund: Refund = parse_json(P, topic, body)?;
            standalone_refund(&mut out, &refund)?
        }
        "rest/refunds" => {
            let page: RefundsPage = parse_json(P, topic, body)?;
            out.note_if_empty(page.refunds.len(), "refunds in the page");
            let mut ids = Vec::new();
            for refund in &page.refunds {
                ids.extend(standalone_refund(&mut out, refund)?);
            }
            ids
        }
        "customers/create" | "customers/update" | "customers/enable" | "customers/disable" => {
            let customer: Customer = parse_json(P, topic, body)?;
            customer_page_entry(&mut out, &customer)?
        }
        "rest/customers" => {
            let page: CustomersPage = parse_json(P, topic, body)?;
            out.note_if_empty(page.customers.len(), "customers in the page");
            let mut ids = Vec::new();
            for customer in &page.customers {
                ids.extend(customer_page_entry(&mut out, customer)?);
            }
            ids
        }
        "rest/customer" => {
            let one: OneCustomer = parse_json(P, topic, body)?;
            customer_page_entry(&mut out, &one.customer)?
        }
        "checkouts/create" | "checkouts/update" => {
            let checkout: Checkout = parse_json(P, topic, body)?;
            checkout_events(&mut out, &checkout)?
        }
        "rest/checkouts" => {
            let page: CheckoutsPage = parse_json(P, topic, body)?;
            out.note_if_empty(page.checkouts.len(), "checkouts in the page");
            let mut ids = Vec::new();
            for checkout in &page.checkouts {
                ids.extend(checkout_events(&mut out, checkout)?);
            }
            ids
        }
        "carts/create" | "carts/update" => {
            let cart: Cart = parse_json(P, topic, body)?;
            cart_events(&mut out, &cart)?
        }
        "customers/redact" => {
            let redact: Compliance = parse_json(P, topic, body)?;
            redaction(&mut out, &redact)?
        }
        "customers/data_request" => {
            let request: Compliance = parse_json(P, topic, body)?;
            let id = request
                .data_request
                .as_ref()
                .and_then(|d| pid(&d.id))
                .or_else(|| request.customer.as_ref().and_then(|c| pid(&c.id)));
            let id = out.required("data_request.id", id)?.to_owned();
            out.note("customers/data_request: answered from stored data, not a customer event");
            vec![id]
        }
        "shop/redact" => {
            let request: Compliance = parse_json(P, topic, body)?;
            let shop = out.required("shop_id", pid(&request.shop_id))?.to_owned();
            out.note("shop/redact: erases the whole shop's data, not a customer event");
            vec![shop]
        }
        "customers/delete" | "checkouts/delete" => {
            let deleted: Deleted = parse_json(P, topic, body)?;
            let id = out.required("id", pid(&deleted.id))?.to_owned();
            out.note(format!("{topic}: carries only an id; no canonical event"));
            vec![id]
        }
        _ => {
            return Err(Error::UnknownTopic {
                platform: "shopify",
                topic: topic.to_owned(),
                handled: TOPICS,
            });
        }
    };
    Ok(out.finish(&raw_ids, body))
}

// ---------------------------------------------------------------------------------------------
// Payload shapes (only the fields Mindset reads; unknown fields are ignored)

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Money {
    amount: Option<Amount>,
    currency_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MoneySet {
    shop_money: Option<Money>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Code {
    code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Allocation {
    amount: Option<Amount>,
    amount_set: Option<MoneySet>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LineItem {
    id: Option<Id>,
    product_id: Option<Id>,
    variant_id: Option<Id>,
    sku: Option<String>,
    title: Option<String>,
    name: Option<String>,
    vendor: Option<String>,
    quantity: Option<i64>,
    price: Option<Amount>,
    price_set: Option<MoneySet>,
    line_price: Option<Amount>,
    total_discount: Option<Amount>,
    total_discount_set: Option<MoneySet>,
    #[serde(deserialize_with = "nullable")]
    discount_allocations: Vec<Allocation>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ShippingLine {
    price: Option<Amount>,
    price_set: Option<MoneySet>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Consent {
    state: Option<String>,
    consent_updated_at: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Address {
    city: Option<String>,
    country_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Customer {
    id: Option<Id>,
    email: Option<String>,
    phone: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
    tags: Option<String>,
    accepts_marketing: Option<bool>,
    accepts_marketing_updated_at: Option<String>,
    email_marketing_consent: Option<Consent>,
    sms_marketing_consent: Option<Consent>,
    default_address: Option<Address>,
    #[serde(deserialize_with = "nullable")]
    addresses: Vec<Address>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Transaction {
    kind: Option<String>,
    status: Option<String>,
    amount: Option<Amount>,
    currency: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RefundLineItem {
    line_item_id: Option<Id>,
    quantity: Option<i64>,
    subtotal: Option<Amount>,
    subtotal_set: Option<MoneySet>,
    total_tax: Option<Amount>,
    total_tax_set: Option<MoneySet>,
    line_item: Option<LineItem>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Refund {
    id: Option<Id>,
    order_id: Option<Id>,
    created_at: Option<String>,
    processed_at: Option<String>,
    note: Option<String>,
    #[serde(deserialize_with = "nullable")]
    transactions: Vec<Transaction>,
    #[serde(deserialize_with = "nullable")]
    refund_line_items: Vec<RefundLineItem>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Order {
    id: Option<Id>,
    name: Option<String>,
    email: Option<String>,
    contact_email: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
    processed_at: Option<String>,
    currency: Option<String>,
    financial_status: Option<String>,
    #[serde(deserialize_with = "nullable")]
    test: bool,
    checkout_token: Option<String>,
    source_name: Option<String>,
    total_line_items_price: Option<Amount>,
    total_line_items_price_set: Option<MoneySet>,
    total_discounts: Option<Amount>,
    total_discounts_set: Option<MoneySet>,
    total_shipping_price_set: Option<MoneySet>,
    total_tax: Option<Amount>,
    total_tax_set: Option<MoneySet>,
    total_price: Option<Amount>,
    total_price_set: Option<MoneySet>,
    #[serde(deserialize_with = "nullable")]
    discount_codes: Vec<Code>,
    customer: Option<Customer>,
    #[serde(deserialize_with = "nullable")]
    line_items: Vec<LineItem>,
    #[serde(deserialize_with = "nullable")]
    shipping_lines: Vec<ShippingLine>,
    #[serde(deserialize_with = "nullable")]
    refunds: Vec<Refund>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Checkout {
    id: Option<Id>,
    token: Option<String>,
    cart_token: Option<String>,
    email: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
    currency: Option<String>,
    presentment_currency: Option<String>,
    total_price: Option<Amount>,
    total_line_items_price: Option<Amount>,
    abandoned_checkout_url: Option<String>,
    customer: Option<Customer>,
    #[serde(deserialize_with = "nullable")]
    line_items: Vec<LineItem>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Cart {
    id: Option<Id>,
    token: Option<String>,
    currency: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
    #[serde(deserialize_with = "nullable")]
    line_items: Vec<LineItem>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ComplianceCustomer {
    id: Option<Id>,
    email: Option<String>,
    phone: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DataRequest {
    id: Option<Id>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Compliance {
    shop_id: Option<Id>,
    customer: Option<ComplianceCustomer>,
    #[serde(deserialize_with = "nullable")]
    orders_to_redact: Vec<Id>,
    data_request: Option<DataRequest>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Deleted {
    id: Option<Id>,
}

#[derive(Debug, Deserialize)]
struct OrdersPage {
    orders: Vec<Order>,
}

#[derive(Debug, Deserialize)]
struct OneOrder {
    order: Order,
}

#[derive(Debug, Deserialize)]
struct RefundsPage {
    refunds: Vec<Refund>,
}

#[derive(Debug, Deserialize)]
struct CustomersPage {
    customers: Vec<Customer>,
}

#[derive(Debug, Deserialize)]
struct OneCustomer {
    customer: Customer,
}

#[derive(Debug, Deserialize)]
struct CheckoutsPage {
    checkouts: Vec<Checkout>,
}

// ---------------------------------------------------------------------------------------------
// Mapping

fn pid(id: &Option<Id>) -> Option<&str> {
    id.as_ref().and_then(Id::present)
}

fn text(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn owned(s: &Option<String>) -> Option<String> {
    text(s).map(str::to_owned)
}

/// The shop-money amount of a `*_set`, else the plain field.
fn shop_amount<'x>(set: &'x Option<MoneySet>, plain: &'x Option<Amount>) -> Option<&'x str> {
    set.as_ref()
        .and_then(|s| s.shop_money.as_ref())
        .and_then(|m| m.amount.as_ref())
        .and_then(Amount::text)
        .or_else(|| plain.as_ref().and_then(Amount::text))
}

fn set_currency(set: &Option<MoneySet>) -> Option<&str> {
    set.as_ref()
        .and_then(|s| s.shop_money.as_ref())
        .and_then(|m| text(&m.currency_code))
}

fn stamp(out: &Out, field: &str, value: &Option<String>) -> Result<Option<i64>, Error> {
    text(value)
        .map(|s| out.field(field, rfc3339_millis(s)))
        .transpose()
}

fn amount_or_zero(
    out: &Out,
    field: &str,
    value: Option<&str>,
    currency: &str,
) -> Result<i64, Error> {
    value.map_or(Ok(0), |v| out.money(field, v, currency))
}

/// `product_id`, else `sku:<sku>`, else `line:<line item id>`.
fn line_product(out: &Out, li: &LineItem) -> Result<String, Error> {
    if let Some(p) = pid(&li.product_id) {
        return Ok(p.to_owned());
    }
    if let Some(sku) = text(&li.sku) {
        return Ok(format!("sku:{sku}"));
    }
    let line = out.required("line_items[].id", pid(&li.id))?;
    Ok(format!("line:{line}"))
}

fn line_title(li: &LineItem) -> String {
    text(&li.title)
        .or_else(|| text(&li.name))
        .or_else(|| text(&li.sku))
        .unwrap_or("untitled")
        .to_owned()
}

fn order_events(out: &mut Out, order: &Order) -> Result<Vec<String>, Error> {
    let order_id = out.required("id", pid(&order.id))?.to_owned();
    let currency = text(&order.currency)
        .or_else(|| set_currency(&order.total_price_set))
        .ok_or_else(|| out.invalid("currency", "missing"))?;
    let currency = out.currency("currency", currency)?;
    let placed_at = match stamp(out, "processed_at", &order.processed_at)? {
        Some(t) => t,
        None => stamp(out, "created_at", &order.created_at)?
            .ok_or_else(|| out.invalid("created_at", "missing"))?,
    };
    let version = stamp(out, "updated_at", &order.updated_at)?.unwrap_or(placed_at);
    let version_text = version.to_string();

    let customer = order.customer.as_ref().filter(|c| pid(&c.id).is_some());
    let email = first_email([
        customer.and_then(|c| c.email.as_deref()),
        order.email.as_deref(),
        order.contact_email.as_deref(),
    ]);
    let key = customer_key(
        P,
        email.as_deref(),
        customer.and_then(|c| pid(&c.id)),
        &order_id,
    );
    if let Some(c) = customer {
        customer_events(out, c, version, email.clone())?;
    }

    let mut lines = Vec::with_capacity(order.line_items.len());
    for li in &order.line_items {
        let quantity = out.quantity("line_items[].quantity", li.quantity.unwrap_or(1))?;
        let unit = out.money(
            "line_items[].price",
            out.required("line_items[].price", shop_amount(&li.price_set, &li.price))?,
            &currency,
        )?;
        let discount = if li.discount_allocations.is_empty() {
            amount_or_zero(
                out,
                "line_items[].total_discount",
                shop_amount(&li.total_discount_set, &li.total_discount),
                &currency,
            )?
        } else {
            let mut parts = Vec::new();
            for a in &li.discount_allocations {
                parts.push(amount_or_zero(
                    out,
                    "line_items[].discount_allocations[].amount",
                    shop_amount(&a.amount_set, &a.amount),
                    &currency,
                )?);
            }
            out.field("line_items[].discount_allocations", checked_sum(parts))?
        };
        lines.push(OrderLine {
            product_id: line_product(out, li)?,
            variant_id: pid(&li.variant_id).map(str::to_owned),
            sku: owned(&li.sku),
            title: line_title(li),
            category: None,
            brand: owned(&li.vendor),
            quantity,
            unit_price_minor: unit,
            discount_minor: discount,
        });
    }
    let subtotal = match shop_amount(
        &order.total_line_items_price_set,
        &order.total_line_items_price,
    ) {
        Some(v) => out.money("total_line_items_price", v, &currency)?,
        None => {
            let gross = lines
                .iter()
                .map(|l| l.unit_price_minor.checked_mul(i64::from(l.quantity)));
            let gross: Option<Vec<i64>> = gross.collect();
            let gross = gross.ok_or_else(|| out.invalid("line_items", "line totals overflow"))?;
            out.field("line_items", checked_sum(gross))?
        }
    };
    let shipping = match shop_amount(&order.total_shipping_price_set, &None) {
        Some(v) => out.money("total_shipping_price_set", v, &currency)?,
        None => {
            let mut parts = Vec::new();
            for s in &order.shipping_lines {
                parts.push(amount_or_zero(
                    out,
                    "shipping_lines[].price",
                    shop_amount(&s.price_set, &s.price),
                    &currency,
                )?);
            }
            out.field("shipping_lines", checked_sum(parts))?
        }
    };
    let total = out.money(
        "total_price",
        out.required(
            "total_price",
            shop_amount(&order.total_price_set, &order.total_price),
        )?,
        &currency,
    )?;
    let placed = OrderPlaced {
        order_id: order_id.clone(),
        order_number: owned(&order.name),
        currency: currency.clone(),
        lines,
        subtotal_minor: subtotal,
        discount_minor: amount_or_zero(
            out,
            "total_discounts",
            shop_amount(&order.total_discounts_set, &order.total_discounts),
            &currency,
        )?,
        shipping_minor: shipping,
        tax_minor: amount_or_zero(
            out,
            "total_tax",
            shop_amount(&order.total_tax_set, &order.total_tax),
            &currency,
        )?,
        total_minor: total,
        discount_codes: order
            .discount_codes
            .iter()
            .filter_map(|c| owned(&c.code))
            .collect(),
        financial_status: owned(&order.financial_status).unwrap_or_else(|| "pending".to_owned()),
        is_test: order.test,
        guest: customer.is_none(),
        checkout_id: owned(&order.checkout_token),
        channel: owned(&order.source_name),
    };
    out.push(
        &[&order_id, &version_text],
        &order_id,
        Some(key.clone()),
        placed_at,
        Payload::OrderPlaced(placed),
    );
    for refund in &order.refunds {
        refund_event(out, refund, &order_id, Some(&currency), &key)?;
    }
    Ok(vec![order_id, version_text])
}

/// `CustomerUpserted` and its consents. `fallback_version` versions customers embedded without
/// timestamps (as in order payloads). `email` is the address the customer is keyed by: their own,
/// or, for a customer embedded in an order or checkout without one, the order's contact email, so
/// the customer and the order share a key. Returns nothing when the customer has no id.
fn customer_events(
    out: &mut Out,
    c: &Customer,
    fallback_version: i64,
    email: Option<String>,
) -> Result<Option<String>, Error> {
    let Some(id) = pid(&c.id) else {
        return Ok(None);
    };
    let key = customer_key(P, email.as_deref(), Some(id), id);
    let created = stamp(out, "customer.created_at", &c.created_at)?;
    let updated = stamp(out, "customer.updated_at", &c.updated_at)?;
    let version = updated.or(created).unwrap_or(fallback_version);
    let version_text = version.to_string();
    let address = c.default_address.as_ref().or(c.addresses.first());
    let email_consent = c.email_marketing_consent.as_ref();
    let subscribed = email_consent.and_then(|s| text(&s.state)) == Some("subscribed")
        || (email_consent.is_none() && c.accepts_marketing == Some(true));
    out.push(
        &[id, &version_text],
        id,
        Some(key.clone()),
        version,
        Payload::CustomerUpserted(CustomerUpserted {
            platform_customer_id: id.to_owned(),
            email,
            phone: owned(&c.phone),
            first_name: owned(&c.first_name),
            last_name: owned(&c.last_name),
            country: address.and_then(|a| owned(&a.country_code)),
            city: address.and_then(|a| owned(&a.city)),
            accepts_marketing: subscribed,
            platform_created_at: created,
            tags: c
                .tags
                .as_deref()
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
        }),
    );
    for (channel, label, consent) in [
        (
            ConsentChannel::Email,
            "email",
            c.email_marketing_consent.as_ref(),
        ),
        (ConsentChannel::Sms, "sms", c.sms_marketing_consent.as_ref()),
    ] {
        let Some(consent) = consent else { continue };
        let Some(state) = text(&consent.state) else {
            continue;
        };
        let granted = match state {
            "subscribed" => true,
            "not_subscribed" | "unsubscribed" | "pending" | "redacted" | "invalid" => false,
            other => {
                out.note(format!("{label} consent state {other:?} is not mapped"));
                continue;
            }
        };
        let at = stamp(out, "consent_updated_at", &consent.consent_updated_at)?.unwrap_or(version);
        let at_text = at.to_string();
        out.push(
            &[id, label, &at_text],
            id,
            Some(key.clone()),
            at,
            Payload::ConsentChanged(ConsentChanged {
                channel,
                granted,
                source: Some(format!("shopify:{state}")),
            }),
        );
    }
    if c.email_marketing_consent.is_none()
        && let Some(granted) = c.accepts_marketing
    {
        let at = stamp(
            out,
            "accepts_marketing_updated_at",
            &c.accepts_marketing_updated_at,
        )?
        .unwrap_or(version);
        let at_text = at.to_string();
        out.push(
            &[id, "email", &at_text],
            id,
            Some(key.clone()),
            at,
            Payload::ConsentChanged(ConsentChanged {
                channel: ConsentChannel::Email,
                granted,
                source: Some("shopify:accepts_marketing".to_owned()),
            }),
        );
    }
    Ok(Some(key))
}

fn customer_page_entry(out: &mut Out, c: &Customer) -> Result<Vec<String>, Error> {
    let id = out.required("id", pid(&c.id))?.to_owned();
    // The version stamp keeps ids stable across redeliveries, so one timestamp is required.
    let version = match stamp(out, "updated_at", &c.updated_at)? {
        Some(t) => t,
        None => stamp(out, "created_at", &c.created_at)?
            .ok_or_else(|| out.invalid("updated_at", "missing (and no created_at)"))?,
    };
    customer_events(out, c, version, first_email([c.email.as_deref()]))?;
    let version = text(&c.updated_at).unwrap_or("").to_owned();
    Ok(vec![id, version])
}

fn refund_event(
    out: &mut Out,
    r: &Refund,
    order_id: &str,
    order_currency: Option<&str>,
    key: &str,
) -> Result<(), Error> {
    let refund_id = out.required("refunds[].id", pid(&r.id))?.to_owned();
    let refunds: Vec<&Transaction> = r
        .transactions
        .iter()
        .filter(|t| text(&t.kind) == Some("refund"))
        .collect();
    let succeeded: Vec<&Transaction> = refunds
        .iter()
        .copied()
        .filter(|t| text(&t.status) == Some("success"))
        .collect();
    let currency = succeeded
        .iter()
        .find_map(|t| text(&t.currency))
        .or_else(|| {
            r.refund_line_items.iter().find_map(|l| {
                set_currency(&l.subtotal_set)
                    .or_else(|| set_currency(&l.total_tax_set))
                    .or_else(|| {
                        l.line_item
                            .as_ref()
                            .and_then(|li| set_currency(&li.price_set))
                    })
            })
        })
        .or(order_currency)
        .or(out.ctx.shop_currency)
        .ok_or_else(|| out.invalid("refunds[].currency", "no transaction or line names one"))?;
    let currency = out.currency("refunds[].currency", currency)?;
    let mut lines = Vec::new();
    let mut line_amounts = Vec::new();
    for l in &r.refund_line_items {
        let amount = amount_or_zero(
            out,
            "refund_line_items[].subtotal",
            shop_amount(&l.subtotal_set, &l.subtotal),
            &currency,
        )?;
        let tax = amount_or_zero(
            out,
            "refund_line_items[].total_tax",
            shop_amount(&l.total_tax_set, &l.total_tax),
            &currency,
        )?;
        line_amounts.push(amount);
        line_amounts.push(tax);
        let product_id = match &l.line_item {
            Some(li) => line_product(out, li)?,
            None => format!(
                "line:{}",
                out.required("refund_line_items[].line_item_id", pid(&l.line_item_id))?
            ),
        };
        lines.push(RefundLine {
            product_id,
            quantity: out.quantity("refund_line_items[].quantity", l.quantity.unwrap_or(0))?,
            amount_minor: amount,
        });
    }
    let amount = if refunds.is_empty() {
        out.field("refund_line_items", checked_sum(line_amounts))?
    } else if succeeded.is_empty() {
        out.note(format!(
            "refund {refund_id}: no successful refund transaction"
        ));
        return Ok(());
    } else {
        let mut parts = Vec::new();
        for t in &succeeded {
            parts.push(out.money(
                "transactions[].amount",
                out.required(
                    "transactions[].amount",
                    t.amount.as_ref().and_then(Amount::text),
                )?,
                &currency,
            )?);
        }
        out.field("transactions", checked_sum(parts))?
    };
    let at = match stamp(out, "refunds[].processed_at", &r.processed_at)? {
        Some(t) => t,
        None => stamp(out, "refunds[].created_at", &r.created_at)?
            .ok_or_else(|| out.invalid("refunds[].created_at", "missing"))?,
    };
    out.push(
        &[order_id, &refund_id],
        &refund_id,
        Some(key.to_owned()),
        at,
        Payload::OrderRefunded(OrderRefunded {
            order_id: order_id.to_owned(),
            refund_id: refund_id.clone(),
            currency,
            amount_minor: amount,
            reason: owned(&r.note),
            lines,
        }),
    );
    Ok(())
}

fn standalone_refund(out: &mut Out, r: &Refund) -> Result<Vec<String>, Error> {
    let order_id = out.required("order_id", pid(&r.order_id))?.to_owned();
    let refund_id = out.required("id", pid(&r.id))?.to_owned();
    match out
        .ctx
        .order_owners
        .and_then(|o| o.customer_key(P, &order_id))
    {
        Some(key) => refund_event(out, r, &order_id, None, &key)?,
        None => out.note(format!(
            "refund {refund_id}: the customer of order {order_id} is unknown here; \
             the refund is mapped when orders/updated carries it"
        )),
    }
    Ok(vec![order_id, refund_id])
}

fn cart_lines(
    out: &Out,
    items: &[LineItem],
    currency: &str,
) -> Result<(Vec<CartLine>, i64), Error> {
    let mut lines = Vec::with_capacity(items.len());
    let mut totals = Vec::with_capacity(items.len());
    for li in items {
        let quantity = out.quantity("line_items[].quantity", li.quantity.unwrap_or(1))?;
        let unit = out.money(
            "line_items[].price",
            out.required("line_items[].price", shop_amount(&li.price_set, &li.price))?,
            currency,
        )?;
        let line_total = match li.line_price.as_ref().and_then(Amount::text) {
            Some(v) => out.money("line_items[].line_price", v, currency)?,
            None => unit
                .checked_mul(i64::from(quantity))
                .ok_or_else(|| out.invalid("line_items[]", "line total overflows"))?,
        };
        totals.push(line_total);
        lines.push(CartLine {
            product_id: line_product(out, li)?,
            variant_id: pid(&li.variant_id).map(str::to_owned),
            title: Some(line_title(li)),
            quantity,
            unit_price_minor: unit,
        });
    }
    let total = out.field("line_items", checked_sum(totals))?;
    Ok((lines, total))
}

fn checkout_events(out: &mut Out, c: &Checkout) -> Result<Vec<String>, Error> {
    let token = text(&c.token)
        .or_else(|| pid(&c.id))
        .ok_or_else(|| out.invalid("token", "missing or empty"))?
        .to_owned();
    let currency = text(&c.currency)
        .or_else(|| text(&c.presentment_currency))
        .ok_or_else(|| out.invalid("currency", "missing"))?;
    let currency = out.currency("currency", currency)?;
    let created = stamp(out, "created_at", &c.created_at)?
        .ok_or_else(|| out.invalid("created_at", "missing"))?;
    let version = stamp(out, "updated_at", &c.updated_at)?.unwrap_or(created);
    let version_text = version.to_string();
    let customer = c.customer.as_ref().filter(|cu| pid(&cu.id).is_some());
    let email = first_email([
        customer.and_then(|cu| cu.email.as_deref()),
        c.email.as_deref(),
    ]);
    let key = customer_key(
        P,
        email.as_deref(),
        customer.and_then(|cu| pid(&cu.id)),
        &token,
    );
    if let Some(cu) = customer {
        customer_events(out, cu, version, email.clone())?;
    }
    let (lines, lines_total) = cart_lines(out, &c.line_items, &currency)?;
    let total = out.money(
        "total_price",
        out.required("total_price", c.total_price.as_ref().and_then(Amount::text))?,
        &currency,
    )?;
    let line_count = i32::try_from(c.line_items.len())
        .map_err(|_| out.invalid("line_items", "too many lines"))?;
    out.push(
        &[&token, &version_text],
        &token,
        Some(key.clone()),
        created,
        Payload::CheckoutStarted(CheckoutStarted {
            checkout_id: token.clone(),
            cart_id: owned(&c.cart_token),
            currency: currency.clone(),
            total_minor: total,
            line_count,
            recovery_url: owned(&c.abandoned_checkout_url),
        }),
    );
    if let Some(cart) = text(&c.cart_token) {
        let cart_total = match c.total_line_items_price.as_ref().and_then(Amount::text) {
            Some(v) => out.money("total_line_items_price", v, &currency)?,
            None => lines_total,
        };
        out.push(
            &[cart, &version_text],
            cart,
            Some(key),
            version,
            Payload::CartUpdated(CartUpdated {
                cart_id: cart.to_owned(),
                currency,
                lines,
                total_minor: cart_total,
                session_id: None,
            }),
        );
    }
    Ok(vec![token, version_text])
}

fn cart_events(out: &mut Out, cart: &Cart) -> Result<Vec<String>, Error> {
    let cart_id = text(&cart.token)
        .or_else(|| pid(&cart.id))
        .ok_or_else(|| out.invalid("token", "missing or empty"))?
        .to_owned();
    let version = match stamp(out, "updated_at", &cart.updated_at)? {
        Some(t) => t,
        None => stamp(out, "created_at", &cart.created_at)?
            .ok_or_else(|| out.invalid("updated_at", "missing"))?,
    };
    let version_text = version.to_string();
    let from_lines = cart
        .line_items
        .iter()
        .find_map(|li| set_currency(&li.price_set));
    let currency = match from_lines
        .or(text(&cart.currency))
        .or(out.ctx.shop_currency)
    {
        Some(c) => out.currency("currency", c)?,
        // An empty cart has no amounts: ISO 4217 "no currency".
        None if cart.line_items.is_empty() => "XXX".to_owned(),
        None => {
            return Err(out.invalid(
                "currency",
                "the cart names no currency; set Context::shop_currency",
            ));
        }
    };
    let (lines, total) = cart_lines(out, &cart.line_items, &currency)?;
    let key = customer_key(P, None, None, &cart_id);
    out.push(
        &[&cart_id, &version_text],
        &cart_id,
        Some(key),
        version,
        Payload::CartUpdated(CartUpdated {
            cart_id: cart_id.clone(),
            currency,
            lines,
            total_minor: total,
            session_id: None,
        }),
    );
    Ok(vec![cart_id, version_text])
}

fn redaction(out: &mut Out, r: &Compliance) -> Result<Vec<String>, Error> {
    let customer = r
        .customer
        .as_ref()
        .ok_or_else(|| out.invalid("customer", "missing"))?;
    let id = pid(&customer.id);
    let email = first_email([customer.email.as_deref()]);
    if id.is_none() && email.is_none() {
        return Err(out.invalid("customer", "has neither id nor email"));
    }
    let subject = id.map(str::to_owned).or(email.clone()).unwrap_or_default();
    let key = customer_key(P, email.as_deref(), id, &subject);
    let shop = pid(&r.shop_id).unwrap_or("shop");
    let orders: Vec<String> = r
        .orders_to_redact
        .iter()
        .filter_map(Id::present)
        .map(str::to_owned)
        .collect();
    let mut ids: Vec<&str> = vec![&subject];
    ids.extend(orders.iter().map(String::as_str));
    let at = match header(out.ctx.headers, "x-shopify-triggered-at") {
        Some(t) => out.field("X-Shopify-Triggered-At", rfc3339_millis(t))?,
        None => out.ctx.received_at,
    };
    let request_id = format!("{shop}:{subject}");
    out.push(
        &ids,
        &subject,
        Some(key),
        at,
        Payload::RedactionRequested(RedactionRequested {
            request_id,
            email,
            phone: owned(&customer.phone),
            orders_to_redact: orders.clone(),
        }),
    );
    let mut raw = vec![subject];
    raw.extend(orders);
    Ok(raw)
}
