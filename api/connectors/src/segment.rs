//! First-party collection: messages of the Segment HTTP Tracking API (which RudderStack speaks
//! too) and Mindset's own `/v1/messages` text calls, normalised into canonical events.
//!
//! One message in, one [`Normalised`] out: the message exactly as sent (its JSON text) as the raw
//! payload, and the canonical events it maps to. What maps (Segment "Ecommerce Events" v2):
//!
//! | call | canonical event |
//! | --- | --- |
//! | `identify` | `CustomerUpserted` (traits), plus `IdentityLinked` joining the browser to the customer |
//! | `alias` | `IdentityLinked` (`previousId` joined to `userId`'s customer) |
//! | `track` `Products Searched` | `ProductSearched` |
//! | `track` `Product Viewed`, `Product Clicked` | `ProductViewed` |
//! | `track` `Product Added`, `Product Removed` | `CartItemChanged` (quantity +n / −n) |
//! | `track` `Cart Viewed` | `CartUpdated` (the whole cart) |
//! | `track` `Checkout Started` | `CheckoutStarted` |
//! | `track` `Order Completed` | `OrderPlaced` (+ `IdentityLinked` when the order names an email) |
//! | `track` `Order Refunded` | `OrderRefunded` |
//! | `track` `Product Reviewed` | `ReviewPosted` |
//! | `/v1/messages` | `MessageReceived` |
//! | `page`, `screen`, `group`, any other `track` | none: kept in the raw topic, with a note |
//!
//! **What is refused** (the HTTP layer answers 400 and writes nothing of the request): a message
//! that is not a JSON object, an unknown `type`, neither `userId` nor `anonymousId`, a `track`
//! without `event`, an `alias` without `previousId`, a `group` without `groupId`, fields of the
//! wrong JSON type, unreadable timestamps, and money or quantities that cannot be read. An
//! ecommerce event that lacks what its canonical event needs (a `Product Viewed` without a
//! product id) is not refused: it stays raw, with a note saying what was missing.
//!
//! **Identity.** A customer key is `email:<address>` when the message names an email
//! (`traits.email`, `context.traits.email`, `properties.email`), else what `user:<userId>` or
//! `anon:<anonymousId>` has been joined to ([`Identities`]), else that key itself. `identify`,
//! `alias`, and checkouts or orders naming an email join keys with an [`IdentityLinked`] event
//! keyed by the customer it joins to; nothing already in the log is re-keyed (readers resolve
//! `from_key`). [`Links`] holds the joins a request makes until the HTTP layer has filed them.
//!
//! **Time.** As the spec describes: with `sentAt` (the message's or the batch's), the event time
//! is `receivedAt − (sentAt − timestamp)`, which cancels the device's clock skew; without it,
//! `timestamp`; without that, the arrival time.
//!
//! **Ids.** Every event id derives from the tenant and the `messageId` (a message without one gets
//! the SHA-256 of its text), so a redelivered message repeats its ids.

use std::collections::HashMap;

use mindset_schemas::{
    CartItemChanged, CartLine, CartUpdated, CheckoutStarted, CustomerUpserted, IdentityLinked,
    MessageAuthor, MessageChannel, MessageReceived, OrderLine, OrderPlaced, OrderRefunded, Payload,
    Platform, ProductSearched, ProductViewed, RefundLine, ReviewPosted,
};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::common::{Out, minor_units, normalise_email, rfc3339_millis};
use crate::{Context, Error, Normalised};

const PLATFORM: Platform = Platform::Storefront;
const NAME: &str = "track API";

/// The largest message accepted, in bytes of JSON (the spec's 32 KB per call and per batched
/// event).
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;

/// The largest batch request accepted, in bytes of JSON (the spec's 500 KB).
pub const MAX_BATCH_BYTES: usize = 500 * 1024;

/// The calls of the Tracking API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Track,
    Identify,
    Page,
    Screen,
    Alias,
    Group,
}

impl Call {
    pub const ALL: [Call; 6] = [
        Call::Track,
        Call::Identify,
        Call::Page,
        Call::Screen,
        Call::Alias,
        Call::Group,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Call::Track => "track",
            Call::Identify => "identify",
            Call::Page => "page",
            Call::Screen => "screen",
            Call::Alias => "alias",
            Call::Group => "group",
        }
    }

    pub fn from_name(name: &str) -> Option<Call> {
        Call::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// What the keys of a tenant have been joined to: `from_key` → customer key.
pub trait Identities {
    fn resolve(&self, from_key: &str) -> Option<String>;
}

impl Identities for HashMap<String, String> {
    fn resolve(&self, from_key: &str) -> Option<String> {
        self.get(from_key).cloned()
    }
}

/// The joins of one request on top of what the tenant already knows. The HTTP layer applies
/// [`Links::made`] to its map once the request's events are durable.
pub struct Links<'a> {
    known: &'a dyn Identities,
    new: HashMap<String, String>,
    made: Vec<(String, String)>,
}

impl<'a> Links<'a> {
    pub fn new(known: &'a dyn Identities) -> Links<'a> {
        Links {
            known,
            new: HashMap::new(),
            made: Vec::new(),
        }
    }

    /// The customer key `key` has been joined to, following joins (at most a few hops).
    pub fn resolve(&self, key: &str) -> String {
        let mut k = key.to_owned();
        for _ in 0..8 {
            let next = self.new.get(&k).cloned().or_else(|| self.known.resolve(&k));
            match next {
                Some(n) if n != k => k = n,
                _ => break,
            }
        }
        k
    }

    /// Join `from` to `to`; false when it is already joined there (nothing to record).
    fn join(&mut self, from: &str, to: &str) -> bool {
        if from == to || self.resolve(from) == self.resolve(to) {
            return false;
        }
        self.new.insert(from.to_owned(), to.to_owned());
        self.made.push((from.to_owned(), to.to_owned()));
        true
    }

    /// The joins made, in order: `(from_key, to_key)`.
    pub fn made(&self) -> &[(String, String)] {
        &self.made
    }
}

/// A Tracking API message's customer key and the keys it may join.
struct Who {
    key: String,
    email_key: Option<String>,
    user_key: Option<String>,
    anon_key: Option<String>,
    anonymous_id: Option<String>,
    user_id: Option<String>,
}

/// Normalise one message. `call` is the endpoint's call (`None` for batch items, which name
/// theirs in `type`); `batch_sent_at` is the batch's `sentAt`; `text` is the message's JSON.
pub fn normalise(
    ctx: &Context<'_>,
    call: Option<Call>,
    batch: &Map<String, Value>,
    text: &[u8],
    links: &mut Links<'_>,
) -> Result<Normalised, Error> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(invalid(
            call.map_or("batch", Call::name),
            "message",
            format!(
                "{} bytes; at most {MAX_MESSAGE_BYTES} per message",
                text.len()
            ),
        ));
    }
    let value: Value = serde_json::from_slice(text).map_err(|e| Error::Malformed {
        platform: NAME,
        topic: call.map_or("batch", Call::name).to_owned(),
        path: ".".into(),
        line: e.line(),
        column: e.column(),
        reason: e.to_string(),
    })?;
    let Value::Object(m) = value else {
        return Err(invalid(
            call.map_or("batch", Call::name),
            "message",
            "not a JSON object",
        ));
    };
    let call = match call {
        Some(c) => c,
        None => {
            let t = str_field(&m, "type", "batch")?
                .ok_or_else(|| invalid("batch", "type", "missing"))?;
            Call::from_name(t).ok_or_else(|| {
                invalid(
                    "batch",
                    "type",
                    format!(
                        "{t:?} is not a call; one of track, identify, page, screen, alias, group"
                    ),
                )
            })?
        }
    };
    let f = Fields { m: &m, call };
    let message_id = match f.id("messageId")? {
        Some(id) => id,
        None => format!("sha256:{:x}", Sha256::digest(text)),
    };
    let occurred_at = f.occurred_at(batch, ctx.received_at)?;
    let user_id = f.id("userId")?;
    let anonymous_id = f.id("anonymousId")?;
    if user_id.is_none() && anonymous_id.is_none() {
        return Err(f.invalid("userId", "a message needs a userId or an anonymousId"));
    }
    let traits = f.object("traits")?;
    let context = Fields {
        m: f.object("context")?.unwrap_or(&EMPTY),
        call,
    };
    let context_traits = context.object("traits")?;
    let properties = f.object("properties")?;
    let email = [traits, context_traits, properties]
        .into_iter()
        .flatten()
        .find_map(|o| {
            o.get("email")
                .and_then(Value::as_str)
                .and_then(normalise_email)
        });
    let who = {
        let email_key = email.as_ref().map(|e| format!("email:{e}"));
        let user_key = user_id.as_ref().map(|u| format!("user:{u}"));
        let anon_key = anonymous_id.as_ref().map(|a| format!("anon:{a}"));
        let key = match (&email_key, &user_key, &anon_key) {
            (Some(e), _, _) => e.clone(),
            (None, Some(u), _) => links.resolve(u),
            (None, None, Some(a)) => links.resolve(a),
            (None, None, None) => unreachable!("checked above"),
        };
        Who {
            key,
            email_key,
            user_key,
            anon_key,
            anonymous_id: anonymous_id.clone(),
            user_id: user_id.clone(),
        }
    };

    let event_name = match call {
        Call::Track => Some(
            f.string("event")?
                .filter(|e| !e.trim().is_empty())
                .ok_or_else(|| f.invalid("event", "a track call needs an event name"))?,
        ),
        _ => None,
    };
    let source = match event_name {
        Some(e) => format!("track:{e}"),
        None => call.name().to_owned(),
    };
    let mut out = Out::new(ctx, PLATFORM, &source)?;
    let ids: [&str; 1] = [&message_id];
    let join = |out: &mut Out, links: &mut Links, from: &Option<String>, reason: &str| {
        if let Some(from) = from
            && links.join(from, &who.key)
        {
            let pair = [from.as_str(), who.key.as_str()];
            out.push(
                &pair,
                &message_id,
                Some(who.key.clone()),
                occurred_at,
                Payload::IdentityLinked(IdentityLinked {
                    from_key: from.clone(),
                    reason: reason.to_owned(),
                    anonymous_id: who.anonymous_id.clone(),
                    user_id: who.user_id.clone(),
                }),
            );
        }
    };

    match call {
        Call::Identify => {
            let t = Fields {
                m: traits.unwrap_or(&EMPTY),
                call,
            };
            let address = t.object("address")?;
            let a = Fields {
                m: address.unwrap_or(&EMPTY),
                call,
            };
            out.push(
                &ids,
                &message_id,
                Some(who.key.clone()),
                occurred_at,
                Payload::CustomerUpserted(CustomerUpserted {
                    platform_customer_id: user_id
                        .clone()
                        .or(anonymous_id.clone())
                        .unwrap_or_default(),
                    email: email.clone(),
                    phone: t.string("phone")?.map(str::to_owned),
                    first_name: t.either("firstName", "first_name")?,
                    last_name: t.either("lastName", "last_name")?,
                    country: a.string("country")?.map(str::to_owned),
                    city: a.string("city")?.map(str::to_owned),
                    accepts_marketing: false,
                    platform_created_at: None,
                    tags: Vec::new(),
                }),
            );
            join(&mut out, links, &who.anon_key, "identify");
            if who.email_key.is_some() {
                join(&mut out, links, &who.user_key, "identify");
            }
        }
        Call::Alias => {
            let previous = f
                .id("previousId")?
                .ok_or_else(|| f.invalid("previousId", "an alias call needs previousId"))?;
            if user_id.is_none() {
                return Err(f.invalid("userId", "an alias call needs userId"));
            }
            // previousId is the earlier id: a known user id, else an anonymous id.
            let user_prev = format!("user:{previous}");
            let from = if links.resolve(&user_prev) != user_prev {
                user_prev
            } else {
                format!("anon:{previous}")
            };
            join(&mut out, links, &Some(from), "alias");
        }
        Call::Group => {
            if f.id("groupId")?.is_none() {
                return Err(f.invalid("groupId", "a group call needs groupId"));
            }
            out.note("group calls are kept raw");
        }
        Call::Page | Call::Screen => out.note(format!("{} calls are kept raw", call.name())),
        Call::Track => {
            let name = event_name.expect("track has a name");
            let p = Fields {
                m: properties.unwrap_or(&EMPTY),
                call,
            };
            let currency = match p.string("currency")? {
                Some(c) => out.currency("properties.currency", c)?,
                None => ctx.shop_currency.unwrap_or("USD").to_owned(),
            };
            let session_id = match p.id("session_id")? {
                Some(s) => Some(s),
                None => context.id("sessionId")?,
            };
            let ecommerce = match name {
                "Products Searched" => p.string("query")?.map(|q| {
                    Payload::ProductSearched(ProductSearched {
                        query: q.to_owned(),
                        results_count: None,
                        session_id: session_id.clone(),
                    })
                }),
                "Product Viewed" | "Product Clicked" => match p.product_id()? {
                    None => None,
                    Some(product_id) => Some(Payload::ProductViewed(ProductViewed {
                        product_id,
                        variant_id: p.text("variant")?,
                        title: p.string("name")?.map(str::to_owned),
                        category: p.string("category")?.map(str::to_owned),
                        price_minor: p.money("price", &currency)?,
                        currency: Some(currency.clone()),
                        url: p.string("url")?.map(str::to_owned),
                        session_id: session_id.clone(),
                    })),
                },
                "Product Added" | "Product Removed" => match p.product_id()? {
                    None => None,
                    Some(product_id) => {
                        let q = p.quantity("quantity")?.unwrap_or(1);
                        let q = q.checked_abs().ok_or_else(|| {
                            p.invalid("properties.quantity", format!("{q} is out of range"))
                        })?;
                        Some(Payload::CartItemChanged(CartItemChanged {
                            cart_id: p.id("cart_id")?,
                            product_id,
                            variant_id: p.text("variant")?,
                            title: p.string("name")?.map(str::to_owned),
                            quantity: if name == "Product Added" { q } else { -q },
                            unit_price_minor: p.money("price", &currency)?,
                            currency: Some(currency.clone()),
                            session_id: session_id.clone(),
                        }))
                    }
                },
                "Cart Viewed" => match p.id("cart_id")? {
                    None => None,
                    Some(cart_id) => {
                        let lines = p.cart_lines(&currency)?;
                        let total_minor =
                            p.lines_total(lines.iter().map(|l| (l.unit_price_minor, l.quantity)))?;
                        Some(Payload::CartUpdated(CartUpdated {
                            cart_id,
                            currency: currency.clone(),
                            lines,
                            total_minor,
                            session_id: session_id.clone(),
                        }))
                    }
                },
                "Checkout Started" => match p.id("checkout_id")?.or(p.id("order_id")?) {
                    None => None,
                    Some(checkout_id) => {
                        let lines = p.order_lines(&currency)?;
                        let total_minor =
                            match p.first_money(&["total", "revenue", "value"], &currency)? {
                                Some(t) => t,
                                None => p.lines_total(
                                    lines.iter().map(|l| (l.unit_price_minor, l.quantity)),
                                )?,
                            };
                        Some(Payload::CheckoutStarted(CheckoutStarted {
                            checkout_id,
                            cart_id: p.id("cart_id")?,
                            currency: currency.clone(),
                            total_minor,
                            line_count: lines.len() as i32,
                            recovery_url: None,
                        }))
                    }
                },
                "Order Completed" => match p.id("order_id")? {
                    None => None,
                    Some(order_id) => {
                        let lines = p.order_lines(&currency)?;
                        let line_sum =
                            p.lines_total(lines.iter().map(|l| (l.unit_price_minor, l.quantity)))?;
                        let discount_minor = p.money("discount", &currency)?.unwrap_or(0);
                        let shipping_minor = p.money("shipping", &currency)?.unwrap_or(0);
                        let tax_minor = p.money("tax", &currency)?.unwrap_or(0);
                        let subtotal_minor = p.money("subtotal", &currency)?.unwrap_or(line_sum);
                        let total_minor =
                            match p.first_money(&["total", "revenue", "value"], &currency)? {
                                Some(t) => t,
                                None => subtotal_minor
                                    .checked_sub(discount_minor)
                                    .and_then(|t| t.checked_add(shipping_minor))
                                    .and_then(|t| t.checked_add(tax_minor))
                                    .ok_or_else(|| {
                                        p.invalid(
                                            "properties.total",
                                            "subtotal - discount + shipping + tax overflows",
                                        )
                                    })?,
                            };
                        Some(Payload::OrderPlaced(OrderPlaced {
                            order_id,
                            order_number: None,
                            currency: currency.clone(),
                            lines,
                            subtotal_minor,
                            discount_minor,
                            shipping_minor,
                            tax_minor,
                            total_minor,
                            discount_codes: p
                                .string("coupon")?
                                .map(str::to_owned)
                                .into_iter()
                                .collect(),
                            financial_status: "paid".to_owned(),
                            is_test: false,
                            guest: who.email_key.is_none() && who.user_key.is_none(),
                            checkout_id: p.id("checkout_id")?,
                            channel: Some("storefront".to_owned()),
                        }))
                    }
                },
                "Order Refunded" => match p.id("order_id")? {
                    None => None,
                    Some(order_id) => {
                        let lines: Vec<RefundLine> = p
                            .order_lines(&currency)?
                            .into_iter()
                            .map(|l| {
                                Ok(RefundLine {
                                    amount_minor: p
                                        .lines_total([(l.unit_price_minor, l.quantity)])?,
                                    product_id: l.product_id,
                                    quantity: l.quantity,
                                })
                            })
                            .collect::<Result<_, Error>>()?;
                        let amount_minor =
                            match p.first_money(&["total", "revenue", "value"], &currency)? {
                                Some(t) => t,
                                None => p.lines_total(lines.iter().map(|l| (l.amount_minor, 1)))?,
                            };
                        Some(Payload::OrderRefunded(OrderRefunded {
                            order_id,
                            refund_id: p.id("refund_id")?.unwrap_or_else(|| message_id.clone()),
                            currency: currency.clone(),
                            amount_minor,
                            reason: p.string("reason")?.map(str::to_owned),
                            lines,
                        }))
                    }
                },
                "Product Reviewed" => match (p.id("review_id")?, p.string("review_body")?) {
                    (Some(review_id), Some(text)) if !text.trim().is_empty() => {
                        let rating = match p.quantity("rating")? {
                            Some(r) if (1..=5).contains(&r) => r,
                            Some(r) => {
                                return Err(p.invalid(
                                    "properties.rating",
                                    format!("{r} is not a rating from 1 to 5"),
                                ));
                            }
                            None => 0,
                        };
                        Some(Payload::ReviewPosted(ReviewPosted {
                            review_id,
                            product_id: p.id("product_id")?,
                            rating,
                            title: None,
                            text: text.to_owned(),
                            verified_purchase: false,
                            language: None,
                        }))
                    }
                    _ => None,
                },
                _ => {
                    out.note(format!("track {name:?} has no canonical event; kept raw"));
                    None
                }
            };
            let known = matches!(
                name,
                "Products Searched"
                    | "Product Viewed"
                    | "Product Clicked"
                    | "Product Added"
                    | "Product Removed"
                    | "Cart Viewed"
                    | "Checkout Started"
                    | "Order Completed"
                    | "Order Refunded"
                    | "Product Reviewed"
            );
            match ecommerce {
                Some(payload) => {
                    let order_or_checkout = matches!(
                        payload,
                        Payload::OrderPlaced(_) | Payload::CheckoutStarted(_)
                    );
                    out.push(
                        &ids,
                        &message_id,
                        Some(who.key.clone()),
                        occurred_at,
                        payload,
                    );
                    if order_or_checkout && who.email_key.is_some() {
                        let reason = if name == "Order Completed" {
                            "order"
                        } else {
                            "checkout"
                        };
                        join(&mut out, links, &who.anon_key, reason);
                        join(&mut out, links, &who.user_key, reason);
                    }
                }
                None if known => out.note(format!(
                    "track {name:?} lacks the ids its canonical event needs; kept raw"
                )),
                None => {}
            }
        }
    }
    Ok(out.finish(&[message_id], text))
}

/// Normalise one `/v1/messages` call: text a customer (or an agent) wrote in a chat, a support
/// ticket or a feedback form, outside the shop platforms.
pub fn normalise_text(
    ctx: &Context<'_>,
    text: &[u8],
    links: &mut Links<'_>,
) -> Result<Normalised, Error> {
    const CALL: &str = "messages";
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(invalid(
            CALL,
            "message",
            format!("{} bytes; at most {MAX_MESSAGE_BYTES}", text.len()),
        ));
    }
    let value: Value = serde_json::from_slice(text).map_err(|e| Error::Malformed {
        platform: NAME,
        topic: CALL.into(),
        path: ".".into(),
        line: e.line(),
        column: e.column(),
        reason: e.to_string(),
    })?;
    let Value::Object(m) = value else {
        return Err(invalid(CALL, "message", "not a JSON object"));
    };
    let f = Fields {
        m: &m,
        call: Call::Track,
    };
    let body = f
        .string("text")?
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| invalid(CALL, "text", "missing or empty"))?;
    let channel = match f.string("channel")?.map(str::to_ascii_lowercase).as_deref() {
        None | Some("chat") => MessageChannel::Chat,
        Some("support") => MessageChannel::Support,
        Some("feedback") => MessageChannel::Feedback,
        Some("email") => MessageChannel::Email,
        Some("sms") => MessageChannel::Sms,
        Some("social") => MessageChannel::Social,
        Some("other") => MessageChannel::Other,
        Some(c) => {
            return Err(invalid(
                CALL,
                "channel",
                format!("{c:?} is not one of chat, support, feedback, email, sms, social, other"),
            ));
        }
    };
    let author = match f.string("author")?.map(str::to_ascii_lowercase).as_deref() {
        None | Some("customer") => MessageAuthor::Customer,
        Some("agent") => MessageAuthor::Agent,
        Some("system") => MessageAuthor::System,
        Some(a) => {
            return Err(invalid(
                CALL,
                "author",
                format!("{a:?} is not one of customer, agent, system"),
            ));
        }
    };
    let email = f.string("email")?.and_then(normalise_email);
    let user = f.id("userId")?;
    let anon = f.id("anonymousId")?;
    let key = match (&email, &user, &anon) {
        (Some(e), _, _) => format!("email:{e}"),
        (None, Some(u), _) => links.resolve(&format!("user:{u}")),
        (None, None, Some(a)) => links.resolve(&format!("anon:{a}")),
        (None, None, None) => {
            return Err(invalid(
                CALL,
                "userId",
                "a message needs an email, a userId or an anonymousId",
            ));
        }
    };
    let message_id = match f.id("messageId")? {
        Some(id) => id,
        None => format!("sha256:{:x}", Sha256::digest(text)),
    };
    let occurred_at = match f.string("timestamp")? {
        Some(t) => rfc3339_millis(t).map_err(|r| invalid(CALL, "timestamp", r))?,
        None => ctx.received_at,
    };
    let mut out = Out::new(ctx, PLATFORM, CALL)?;
    out.push(
        &[&message_id],
        &message_id,
        Some(key),
        occurred_at,
        Payload::MessageReceived(MessageReceived {
            message_id: message_id.clone(),
            channel,
            thread_id: f.id("threadId")?,
            text: body.to_owned(),
            language: f.string("language")?.map(str::to_owned),
            author,
        }),
    );
    Ok(out.finish(&[message_id], text))
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

fn invalid(call: &str, field: &str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        platform: NAME,
        topic: call.to_owned(),
        field: field.to_owned(),
        reason: reason.into(),
    }
}

fn str_field<'m>(
    m: &'m Map<String, Value>,
    key: &str,
    call: &str,
) -> Result<Option<&'m str>, Error> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(invalid(
            call,
            key,
            format!("expected a string, got {}", kind(other)),
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Typed reads of one JSON object, with errors naming the field.
struct Fields<'m> {
    m: &'m Map<String, Value>,
    call: Call,
}

impl<'m> Fields<'m> {
    fn invalid(&self, field: &str, reason: impl Into<String>) -> Error {
        invalid(self.call.name(), field, reason)
    }

    fn string(&self, key: &str) -> Result<Option<&'m str>, Error> {
        str_field(self.m, key, self.call.name())
    }

    fn either(&self, a: &str, b: &str) -> Result<Option<String>, Error> {
        Ok(self.string(a)?.or(self.string(b)?).map(str::to_owned))
    }

    /// An id: a non-empty string, or an integer written as text.
    fn id(&self, key: &str) -> Result<Option<String>, Error> {
        match self.m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => {
                Ok(Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_owned))
            }
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
            Some(other) => {
                Err(self.invalid(key, format!("expected a string id, got {}", kind(other))))
            }
        }
    }

    /// A string or a number, as text.
    fn text(&self, key: &str) -> Result<Option<String>, Error> {
        match self.m.get(key) {
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            _ => Ok(self.string(key)?.map(str::to_owned)),
        }
    }

    fn object(&self, key: &str) -> Result<Option<&'m Map<String, Value>>, Error> {
        match self.m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(o)) => Ok(Some(o)),
            Some(other) => {
                Err(self.invalid(key, format!("expected an object, got {}", kind(other))))
            }
        }
    }

    fn array(&self, key: &str) -> Result<&'m [Value], Error> {
        match self.m.get(key) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(other) => {
                Err(self.invalid(key, format!("expected an array, got {}", kind(other))))
            }
        }
    }

    /// A product's id: `product_id`, else `sku`, else `id`.
    fn product_id(&self) -> Result<Option<String>, Error> {
        Ok(self
            .id("product_id")?
            .or(self.id("sku")?)
            .or(self.id("id")?))
    }

    fn money(&self, key: &str, currency: &str) -> Result<Option<i64>, Error> {
        let text = match self.m.get(key) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
            Some(other) => {
                return Err(self.invalid(key, format!("expected an amount, got {}", kind(other))));
            }
        };
        minor_units(&text, currency)
            .map(Some)
            .map_err(|r| self.invalid(key, r))
    }

    fn first_money(&self, keys: &[&str], currency: &str) -> Result<Option<i64>, Error> {
        for k in keys {
            if let Some(v) = self.money(k, currency)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    fn quantity(&self, key: &str) -> Result<Option<i32>, Error> {
        match self.m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .and_then(|q| i32::try_from(q).ok())
                .map(Some)
                .ok_or_else(|| self.invalid(key, format!("{n} is not a whole number in range"))),
            Some(Value::String(s)) => s
                .trim()
                .parse::<i32>()
                .map(Some)
                .map_err(|_| self.invalid(key, format!("{s:?} is not a whole number"))),
            Some(other) => {
                Err(self.invalid(key, format!("expected a number, got {}", kind(other))))
            }
        }
    }

    /// `products[]` as order lines; items without a product id are skipped.
    fn order_lines(&self, currency: &str) -> Result<Vec<OrderLine>, Error> {
        let mut lines = Vec::new();
        for (i, item) in self.array("products")?.iter().enumerate() {
            let Value::Object(o) = item else {
                return Err(self.invalid(
                    &format!("products[{i}]"),
                    format!("expected an object, got {}", kind(item)),
                ));
            };
            let p = Fields {
                m: o,
                call: self.call,
            };
            let Some(product_id) = p.product_id()? else {
                continue;
            };
            lines.push(OrderLine {
                product_id,
                variant_id: p.text("variant")?,
                sku: p.text("sku")?,
                title: p.string("name")?.unwrap_or_default().to_owned(),
                category: p.string("category")?.map(str::to_owned),
                brand: p.string("brand")?.map(str::to_owned),
                quantity: p.quantity("quantity")?.unwrap_or(1),
                unit_price_minor: p.money("price", currency)?.unwrap_or(0),
                discount_minor: 0,
            });
        }
        Ok(lines)
    }

    /// Σ unit price × quantity over `(unit price, quantity)` pairs; a total that does not fit in
    /// 64 bits is refused rather than wrapped.
    fn lines_total(&self, lines: impl IntoIterator<Item = (i64, i32)>) -> Result<i64, Error> {
        lines
            .into_iter()
            .try_fold(0i64, |total, (unit, quantity)| {
                unit.checked_mul(i64::from(quantity))
                    .and_then(|amount| total.checked_add(amount))
            })
            .ok_or_else(|| self.invalid("properties.products", "price × quantity overflows"))
    }

    fn cart_lines(&self, currency: &str) -> Result<Vec<CartLine>, Error> {
        Ok(self
            .order_lines(currency)?
            .into_iter()
            .map(|l| CartLine {
                product_id: l.product_id,
                variant_id: l.variant_id,
                title: Some(l.title).filter(|t| !t.is_empty()),
                quantity: l.quantity,
                unit_price_minor: l.unit_price_minor,
            })
            .collect())
    }

    /// The event time with the spec's clock-skew correction.
    fn occurred_at(&self, batch: &Map<String, Value>, received_at: i64) -> Result<i64, Error> {
        let stamp = |f: &Fields, key: &str| -> Result<Option<i64>, Error> {
            match f.string(key)? {
                Some(t) => rfc3339_millis(t).map(Some).map_err(|r| f.invalid(key, r)),
                None => Ok(None),
            }
        };
        let timestamp = match stamp(self, "timestamp")? {
            Some(t) => Some(t),
            None => stamp(self, "originalTimestamp")?,
        };
        let sent_at = match stamp(self, "sentAt")? {
            Some(s) => Some(s),
            None => stamp(
                &Fields {
                    m: batch,
                    call: self.call,
                },
                "sentAt",
            )?,
        };
        Ok(match (timestamp, sent_at) {
            (Some(t), Some(s)) => (received_at - (s - t)).max(1),
            (Some(t), None) => t,
            (None, _) => received_at,
        })
    }
}
