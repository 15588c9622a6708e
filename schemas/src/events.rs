//! Rust types of the canonical events in `avro/canonical_event/`. They are checked against the
//! schema by the round-trip tests in `tests/schemas.rs`: every payload variant, with every optional
//! field set and unset, must encode with the schema and decode back equal.

use serde::{Deserialize, Serialize};

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Platform {
    Shopify,
    Woocommerce,
    Amazon,
    Flipkart,
    /// First-party collection (track API, storefront script).
    Storefront,
    /// Bulk import of exports.
    Import,
    Other,
}

impl Platform {
    pub const ALL: [Platform; 7] = [
        Platform::Shopify,
        Platform::Woocommerce,
        Platform::Amazon,
        Platform::Flipkart,
        Platform::Storefront,
        Platform::Import,
        Platform::Other,
    ];

    /// The Avro enum symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Platform::Shopify => "SHOPIFY",
            Platform::Woocommerce => "WOOCOMMERCE",
            Platform::Amazon => "AMAZON",
            Platform::Flipkart => "FLIPKART",
            Platform::Storefront => "STOREFRONT",
            Platform::Import => "IMPORT",
            Platform::Other => "OTHER",
        }
    }

    pub fn from_symbol(s: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.symbol() == s)
    }
}

/// One canonical event: the envelope and its payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanonicalEvent {
    /// Deterministic id (see [`crate::event_id`]): a redelivered webhook yields the same id.
    pub event_id: String,
    pub tenant_id: String,
    pub platform: Platform,
    /// The platform's own id of the object or delivery this event came from.
    pub source_id: String,
    /// Stable per-tenant customer key; `None` for catalogue events.
    #[serde(default)]
    pub customer_key: Option<String>,
    /// Event time, milliseconds since the Unix epoch.
    pub occurred_at: i64,
    /// Arrival time at Mindset, milliseconds since the Unix epoch.
    pub received_at: i64,
    /// The schema version the producer wrote with (filled on encode and decode).
    #[serde(default = "current_version")]
    pub schema_version: i32,
    pub payload: Payload,
}

fn current_version() -> i32 {
    crate::CANONICAL_EVENT.latest_version() as i32
}

/// The event-specific part. In JSON it is tagged by `"type"`; in Avro it is a union branch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Payload {
    CustomerUpserted(CustomerUpserted),
    OrderPlaced(OrderPlaced),
    OrderRefunded(OrderRefunded),
    CartUpdated(CartUpdated),
    CheckoutStarted(CheckoutStarted),
    CheckoutCompleted(CheckoutCompleted),
    ProductViewed(ProductViewed),
    ProductSearched(ProductSearched),
    ReviewPosted(ReviewPosted),
    MessageReceived(MessageReceived),
    ProductUpserted(ProductUpserted),
    PriceChanged(PriceChanged),
    InventoryChanged(InventoryChanged),
    ConsentChanged(ConsentChanged),
    RedactionRequested(RedactionRequested),
    /// Added in schema v3.
    CartItemChanged(CartItemChanged),
    /// Added in schema v3.
    IdentityLinked(IdentityLinked),
}

impl Payload {
    /// The Avro record name of this payload (the union branch).
    pub fn type_name(&self) -> &'static str {
        match self {
            Payload::CustomerUpserted(_) => "CustomerUpserted",
            Payload::OrderPlaced(_) => "OrderPlaced",
            Payload::OrderRefunded(_) => "OrderRefunded",
            Payload::CartUpdated(_) => "CartUpdated",
            Payload::CheckoutStarted(_) => "CheckoutStarted",
            Payload::CheckoutCompleted(_) => "CheckoutCompleted",
            Payload::ProductViewed(_) => "ProductViewed",
            Payload::ProductSearched(_) => "ProductSearched",
            Payload::ReviewPosted(_) => "ReviewPosted",
            Payload::MessageReceived(_) => "MessageReceived",
            Payload::ProductUpserted(_) => "ProductUpserted",
            Payload::PriceChanged(_) => "PriceChanged",
            Payload::InventoryChanged(_) => "InventoryChanged",
            Payload::ConsentChanged(_) => "ConsentChanged",
            Payload::RedactionRequested(_) => "RedactionRequested",
            Payload::CartItemChanged(_) => "CartItemChanged",
            Payload::IdentityLinked(_) => "IdentityLinked",
        }
    }

    /// Catalogue events are keyed by product and live on the catalog topic; all others by customer.
    pub fn is_catalog(&self) -> bool {
        matches!(
            self,
            Payload::ProductUpserted(_) | Payload::PriceChanged(_) | Payload::InventoryChanged(_)
        )
    }

    /// The text a customer wrote, for the NLP stream-app (an agent's or a system's message is not
    /// the customer's text).
    pub fn customer_text(&self) -> Option<&str> {
        match self {
            Payload::ReviewPosted(r) => Some(&r.text),
            Payload::MessageReceived(m) if m.author == MessageAuthor::Customer => Some(&m.text),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerUpserted {
    pub platform_customer_id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub accepts_marketing: bool,
    #[serde(default)]
    pub platform_created_at: Option<i64>,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_id: String,
    #[serde(default)]
    pub variant_id: Option<String>,
    #[serde(default)]
    pub sku: Option<String>,
    pub title: String,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub brand: Option<String>,
    pub quantity: i32,
    pub unit_price_minor: i64,
    #[serde(default)]
    pub discount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderPlaced {
    pub order_id: String,
    #[serde(default)]
    pub order_number: Option<String>,
    pub currency: String,
    pub lines: Vec<OrderLine>,
    pub subtotal_minor: i64,
    #[serde(default)]
    pub discount_minor: i64,
    #[serde(default)]
    pub shipping_minor: i64,
    #[serde(default)]
    pub tax_minor: i64,
    pub total_minor: i64,
    #[serde(default)]
    pub discount_codes: Vec<String>,
    #[serde(default = "paid")]
    pub financial_status: String,
    #[serde(default)]
    pub is_test: bool,
    #[serde(default)]
    pub guest: bool,
    #[serde(default)]
    pub checkout_id: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
}

fn paid() -> String {
    "paid".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefundLine {
    pub product_id: String,
    pub quantity: i32,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRefunded {
    pub order_id: String,
    pub refund_id: String,
    pub currency: String,
    pub amount_minor: i64,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub lines: Vec<RefundLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartLine {
    pub product_id: String,
    #[serde(default)]
    pub variant_id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    pub quantity: i32,
    pub unit_price_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartUpdated {
    pub cart_id: String,
    pub currency: String,
    pub lines: Vec<CartLine>,
    pub total_minor: i64,
    #[serde(default)]
    pub session_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckoutStarted {
    pub checkout_id: String,
    #[serde(default)]
    pub cart_id: Option<String>,
    pub currency: String,
    pub total_minor: i64,
    pub line_count: i32,
    #[serde(default)]
    pub recovery_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckoutCompleted {
    pub checkout_id: String,
    pub order_id: String,
    pub currency: String,
    pub total_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductViewed {
    pub product_id: String,
    #[serde(default)]
    pub variant_id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub price_minor: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub session_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductSearched {
    pub query: String,
    #[serde(default)]
    pub results_count: Option<i32>,
    #[serde(default)]
    pub session_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewPosted {
    pub review_id: String,
    #[serde(default)]
    pub product_id: Option<String>,
    pub rating: i32,
    #[serde(default)]
    pub title: Option<String>,
    pub text: String,
    #[serde(default)]
    pub verified_purchase: bool,
    /// Added in schema v2; `None` when read from v1 data.
    #[serde(default)]
    pub language: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageChannel {
    Chat,
    Support,
    Feedback,
    Email,
    Sms,
    Social,
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageReceived {
    pub message_id: String,
    pub channel: MessageChannel,
    #[serde(default)]
    pub thread_id: Option<String>,
    pub text: String,
    /// Added in schema v2; `None` when read from v1 data.
    #[serde(default)]
    pub language: Option<String>,
    /// Added in schema v3; `Customer` when read from older data (which carried customer text only).
    #[serde(default)]
    pub author: MessageAuthor,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageAuthor {
    #[default]
    Customer,
    Agent,
    System,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductUpserted {
    pub product_id: String,
    pub title: String,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub brand: Option<String>,
    pub currency: String,
    pub price_minor: i64,
    #[serde(default)]
    pub compare_at_price_minor: Option<i64>,
    #[serde(default = "active")]
    pub status: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

fn active() -> String {
    "active".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceChanged {
    pub product_id: String,
    #[serde(default)]
    pub variant_id: Option<String>,
    pub currency: String,
    #[serde(default)]
    pub old_price_minor: Option<i64>,
    pub new_price_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryChanged {
    pub product_id: String,
    #[serde(default)]
    pub variant_id: Option<String>,
    pub available: i32,
    #[serde(default)]
    pub previous: Option<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConsentChannel {
    Email,
    Sms,
    Push,
    Tracking,
    All,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsentChanged {
    pub channel: ConsentChannel,
    pub granted: bool,
    #[serde(default)]
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedactionRequested {
    pub request_id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub orders_to_redact: Vec<String>,
}

/// One product added to (positive `quantity`) or removed from (negative) a cart, when the whole
/// cart is not known (storefront script, track API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartItemChanged {
    #[serde(default)]
    pub cart_id: Option<String>,
    pub product_id: String,
    #[serde(default)]
    pub variant_id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    pub quantity: i32,
    #[serde(default)]
    pub unit_price_minor: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub session_id: Option<String>,
}

/// `from_key` is the same person as the event's `customer_key` from now on. Nothing already in the
/// log is re-keyed; readers resolve `from_key` to the event's key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityLinked {
    pub from_key: String,
    /// identify, alias, checkout, order or import.
    pub reason: String,
    #[serde(default)]
    pub anonymous_id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
}

/// A payload exactly as a platform delivered it (`avro/raw_payload/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawPayload {
    pub raw_id: String,
    pub tenant_id: String,
    pub platform: String,
    pub source: String,
    pub received_at: i64,
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(with = "serde_bytes_vec")]
    pub body: Vec<u8>,
}

/// Avro `bytes` must be serialized as bytes, not as a sequence of integers.
mod serde_bytes_vec {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
                Ok(v.as_bytes().to_vec())
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = a.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_any(V)
    }
}
