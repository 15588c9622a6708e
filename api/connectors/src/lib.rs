//! Platform connectors: the first hop of Mindset. For each platform this crate owns two pure
//! functions and nothing else (no I/O, no clock, no state):
//!
//! - `verify`: is this delivery authentic? It checks the platform's signature over the raw
//!   bytes exactly as received, in constant time ([`shopify::verify`], [`woocommerce::verify`],
//!   [`flipkart::verify`]), or, for Amazon's unsigned SQS/EventBridge notifications, the envelope
//!   shape ([`amazon::verify`]).
//! - `normalise`: what does it mean? It turns one webhook body or poller page into canonical
//!   events ([`mindset_schemas::CanonicalEvent`]) and the [`mindset_schemas::RawPayload`] that
//!   keeps the delivery as it came ([`Normalised`]). A payload that carries nothing Mindset can
//!   map gives no events, keeps its raw payload, and says why in [`Normalised::note`].
//!
//! Every event is built so that `mindset_pipeline::publish::validate` and `mindset_topics::route`
//! accept it: a deterministic `event_id` (a redelivery gets the same id, a distinct update a new
//! one), a non-empty `source_id`, positive timestamps, and a `customer_key` on customer events.
//! Money is parsed from decimal text into minor units without floats; identity rules are in
//! [`common`]. The HTTP ingest that calls these functions, and the pollers, live elsewhere.

pub mod amazon;
pub mod common;
pub mod flipkart;
pub mod segment;
pub mod shopify;
pub mod woocommerce;

use std::collections::BTreeMap;

use mindset_schemas::{CanonicalEvent, Platform, RawPayload};

/// Request headers as received. Names are matched case-insensitively; [`Normalised::raw`] keeps
/// them with lowercase names, minus credentials.
pub type Headers = BTreeMap<String, String>;

static NO_HEADERS: Headers = BTreeMap::new();

/// Who placed an order, for payloads that name an order but not its customer (a Shopify
/// `refunds/create` webhook carries only `order_id`). The ingest can answer from the
/// `OrderPlaced` events it has already filed. Returns a `customer_key`.
pub trait OrderOwners {
    fn customer_key(&self, platform: Platform, order_id: &str) -> Option<String>;
}

impl<F: Fn(Platform, &str) -> Option<String>> OrderOwners for F {
    fn customer_key(&self, platform: Platform, order_id: &str) -> Option<String> {
        self(platform, order_id)
    }
}

/// Everything `normalise` needs besides the topic and the body: whose store, when it arrived, the
/// headers to keep, and what the payload itself may lack.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub tenant_id: &'a str,
    /// Arrival time at Mindset, milliseconds since the Unix epoch.
    pub received_at: i64,
    pub headers: &'a Headers,
    /// The store's currency, for payloads that carry none (WooCommerce products, Shopify carts).
    pub shop_currency: Option<&'a str>,
    /// See [`OrderOwners`].
    pub order_owners: Option<&'a dyn OrderOwners>,
}

impl<'a> Context<'a> {
    pub fn new(tenant_id: &'a str, received_at: i64) -> Self {
        Context {
            tenant_id,
            received_at,
            headers: &NO_HEADERS,
            shop_currency: None,
            order_owners: None,
        }
    }

    pub fn with_headers(mut self, headers: &'a Headers) -> Self {
        self.headers = headers;
        self
    }

    pub fn with_shop_currency(mut self, currency: &'a str) -> Self {
        self.shop_currency = Some(currency);
        self
    }

    pub fn with_order_owners(mut self, owners: &'a dyn OrderOwners) -> Self {
        self.order_owners = Some(owners);
        self
    }
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("tenant_id", &self.tenant_id)
            .field("received_at", &self.received_at)
            .field("headers", &self.headers)
            .field("shop_currency", &self.shop_currency)
            .field("order_owners", &self.order_owners.is_some())
            .finish()
    }
}

/// The result of normalising one delivery or page.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalised {
    /// Canonical events, in the order they should be filed.
    pub events: Vec<CanonicalEvent>,
    /// The delivery exactly as received (body bytes untouched), for `ingest.raw.v1`.
    pub raw: RawPayload,
    /// Why the payload gave no events, or fewer than it might have (for logs; never customer data).
    pub note: Option<String>,
}

/// Why a delivery was refused. [`Error::is_authentication`] separates "not from the platform"
/// (answer 401) from "not understood" (answer 400 and dead-letter the raw payload).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("missing header {header}")]
    MissingHeader { header: &'static str },
    #[error("header {header} is not valid base64: {reason}")]
    BadBase64 {
        header: &'static str,
        reason: String,
    },
    #[error("header {header} is malformed: {reason}")]
    BadHeader {
        header: &'static str,
        reason: String,
    },
    #[error("the signature in {header} does not match the body and secret")]
    SignatureMismatch { header: &'static str },
    #[error(
        "the timestamp in {header} is {skew_secs} s away from now; at most {allowed_secs} s is allowed"
    )]
    StaleTimestamp {
        header: &'static str,
        skew_secs: i64,
        allowed_secs: i64,
    },
    #[error("{platform}: unknown topic {topic:?}; handled topics: {handled}")]
    UnknownTopic {
        platform: &'static str,
        topic: String,
        handled: &'static str,
    },
    #[error(
        "{platform} {topic}: malformed body at {path} (line {line}, column {column}): {reason}"
    )]
    Malformed {
        platform: &'static str,
        topic: String,
        path: String,
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("{platform} {topic}: {field}: {reason}")]
    Invalid {
        platform: &'static str,
        topic: String,
        field: String,
        reason: String,
    },
    #[error("tenant id {0:?} must be non-empty and must not contain '|'")]
    BadTenant(String),
}

impl Error {
    /// True when the delivery could not be shown to come from the platform.
    pub fn is_authentication(&self) -> bool {
        matches!(
            self,
            Error::MissingHeader { .. }
                | Error::BadBase64 { .. }
                | Error::BadHeader { .. }
                | Error::SignatureMismatch { .. }
                | Error::StaleTimestamp { .. }
        )
    }
}
