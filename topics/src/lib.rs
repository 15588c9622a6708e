//! Every topic of Mindset, declared once as a typed constant. A [`Topic<K, V>`] ties together the
//! topic name (`<domain>.<entity>.v<N>`), how its key and value are encoded ([`KeyCodec`],
//! [`ValueCodec`]), its partition count, its retention or compaction, and where its poison records go
//! (its dead-letter topic). Producers and consumers take these constants, never a string.

use std::marker::PhantomData;

use mindset_schemas::{
    CanonicalEvent, CustomerFeatures, DecodeError, EncodeError, RawPayload, TextInsight,
};

/// How long records stay, or whether the topic is compacted to the latest value per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Delete records older than this many days.
    Days(u32),
    /// Keep everything: the log is the source of truth.
    Forever,
    /// Keep the latest record per key (changelogs, snapshots).
    Compact,
}

/// The untyped description of a topic, for tooling (`mindset topics apply`) and the log backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: &'static str,
    pub partitions: u32,
    pub retention: Retention,
    /// Name of the topic poison records of this topic go to.
    pub dead_letter: Option<&'static str>,
    /// Schema family of the value (`schemas/avro/<family>`), `None` for opaque bytes.
    pub value_schema: Option<&'static str>,
    pub doc: &'static str,
}

impl TopicSpec {
    /// Kafka topic configuration for this spec.
    pub fn kafka_config(&self) -> Vec<(&'static str, String)> {
        match self.retention {
            Retention::Days(d) => vec![
                ("cleanup.policy", "delete".into()),
                ("retention.ms", (u64::from(d) * 86_400_000).to_string()),
            ],
            Retention::Forever => vec![
                ("cleanup.policy", "delete".into()),
                ("retention.ms", "-1".into()),
            ],
            Retention::Compact => vec![("cleanup.policy", "compact".into())],
        }
    }
}

/// A typed topic: keys of type `K`, values of type `V`.
pub struct Topic<K, V> {
    pub spec: TopicSpec,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Topic<K, V> {
    pub const fn new(spec: TopicSpec) -> Self {
        Topic {
            spec,
            _types: PhantomData,
        }
    }

    pub const fn name(&self) -> &'static str {
        self.spec.name
    }
}

impl<K, V> Clone for Topic<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K, V> Copy for Topic<K, V> {}

impl<K, V> std::fmt::Debug for Topic<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Topic").field(&self.spec.name).finish()
    }
}

/// Why a key could not be read.
#[derive(Debug, thiserror::Error)]
#[error("bad key: {0}")]
pub struct KeyError(pub String);

/// Record keys: they decide the partition, so all events of one key stay in order.
pub trait KeyCodec: Sized {
    fn encode_key(&self) -> Vec<u8>;
    fn decode_key(bytes: &[u8]) -> Result<Self, KeyError>;
}

/// Record values.
pub trait ValueCodec: Sized {
    fn encode_value(&self) -> Result<Vec<u8>, EncodeError>;
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError>;
}

const SEP: char = '|';

/// `a|b` as bytes, in one allocation (`format!` made two more and ran the formatter).
fn join_key(a: &str, b: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len() + 1 + b.len());
    out.extend_from_slice(a.as_bytes());
    out.push(SEP as u8);
    out.extend_from_slice(b.as_bytes());
    out
}

fn split2(bytes: &[u8]) -> Result<(String, String), KeyError> {
    let s = std::str::from_utf8(bytes).map_err(|e| KeyError(e.to_string()))?;
    let (a, b) = s
        .split_once(SEP)
        .ok_or_else(|| KeyError(format!("expected `tenant{SEP}id`, got {s:?}")))?;
    Ok((a.to_owned(), b.to_owned()))
}

/// Tenant + customer: the key of everything about one customer (per-customer ordering).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomerKey {
    pub tenant: String,
    pub customer: String,
}

impl CustomerKey {
    pub fn new(tenant: impl Into<String>, customer: impl Into<String>) -> Self {
        CustomerKey {
            tenant: tenant.into(),
            customer: customer.into(),
        }
    }
}

impl KeyCodec for CustomerKey {
    fn encode_key(&self) -> Vec<u8> {
        join_key(&self.tenant, &self.customer)
    }
    fn decode_key(bytes: &[u8]) -> Result<Self, KeyError> {
        let (tenant, customer) = split2(bytes)?;
        Ok(CustomerKey { tenant, customer })
    }
}

/// Tenant + an entity id (product, raw delivery): the key of non-customer streams.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityKey {
    pub tenant: String,
    pub id: String,
}

impl EntityKey {
    pub fn new(tenant: impl Into<String>, id: impl Into<String>) -> Self {
        EntityKey {
            tenant: tenant.into(),
            id: id.into(),
        }
    }
}

impl KeyCodec for EntityKey {
    fn encode_key(&self) -> Vec<u8> {
        join_key(&self.tenant, &self.id)
    }
    fn decode_key(bytes: &[u8]) -> Result<Self, KeyError> {
        let (tenant, id) = split2(bytes)?;
        Ok(EntityKey { tenant, id })
    }
}

/// Keys and values kept as the bytes they are (dead-letter topics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opaque(pub Vec<u8>);

impl KeyCodec for Opaque {
    fn encode_key(&self) -> Vec<u8> {
        self.0.clone()
    }
    fn decode_key(bytes: &[u8]) -> Result<Self, KeyError> {
        Ok(Opaque(bytes.to_vec()))
    }
}

impl ValueCodec for Opaque {
    fn encode_value(&self) -> Result<Vec<u8>, EncodeError> {
        Ok(self.0.clone())
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        Ok(Opaque(bytes.to_vec()))
    }
}

impl ValueCodec for CanonicalEvent {
    fn encode_value(&self) -> Result<Vec<u8>, EncodeError> {
        self.encode()
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        CanonicalEvent::decode(bytes)
    }
}

impl ValueCodec for CustomerFeatures {
    fn encode_value(&self) -> Result<Vec<u8>, EncodeError> {
        self.encode()
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        CustomerFeatures::decode(bytes)
    }
}

impl ValueCodec for TextInsight {
    fn encode_value(&self) -> Result<Vec<u8>, EncodeError> {
        self.encode()
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        TextInsight::decode(bytes)
    }
}

impl ValueCodec for RawPayload {
    fn encode_value(&self) -> Result<Vec<u8>, EncodeError> {
        self.encode()
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        RawPayload::decode(bytes)
    }
}

/// Why an event cannot be filed on a topic.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error(
        "event {event_id} ({event_type}) has no customer_key: customer events need one (guests get `guest:<email or order id>`)"
    )]
    NoCustomer {
        event_id: String,
        event_type: &'static str,
    },
    #[error("tenant id {0:?} must be non-empty and must not contain '|'")]
    BadTenant(String),
}

/// Where an event goes: its topic and its encoded key. Customer events are keyed by
/// tenant|customer (per-customer ordering), catalogue events by tenant|product.
pub fn route(ev: &CanonicalEvent) -> Result<(&'static TopicSpec, Vec<u8>), RouteError> {
    use mindset_schemas::Payload::*;
    if ev.tenant_id.is_empty() || ev.tenant_id.contains(SEP) {
        return Err(RouteError::BadTenant(ev.tenant_id.clone()));
    }
    let product = match &ev.payload {
        ProductUpserted(p) => Some(&p.product_id),
        PriceChanged(p) => Some(&p.product_id),
        InventoryChanged(p) => Some(&p.product_id),
        _ => None,
    };
    if let Some(product) = product {
        return Ok((&CATALOG_EVENTS.spec, join_key(&ev.tenant_id, product)));
    }
    match &ev.customer_key {
        Some(c) => Ok((&CUSTOMER_EVENTS.spec, join_key(&ev.tenant_id, c))),
        None => Err(RouteError::NoCustomer {
            event_id: ev.event_id.clone(),
            event_type: ev.payload.type_name(),
        }),
    }
}

const fn dlq(name: &'static str, doc: &'static str) -> TopicSpec {
    TopicSpec {
        name,
        partitions: 1,
        retention: Retention::Days(30),
        dead_letter: None,
        value_schema: None,
        doc,
    }
}

/// Payloads exactly as platforms delivered them, so normalisation can be replayed after a fix.
pub static RAW_PAYLOADS: Topic<EntityKey, RawPayload> = Topic::new(TopicSpec {
    name: "ingest.raw.v1",
    partitions: 6,
    retention: Retention::Days(90),
    dead_letter: Some(RAW_PAYLOADS_DLQ.spec.name),
    value_schema: Some("raw_payload"),
    doc: "Raw webhook bodies and poller pages, keyed by tenant + platform object id.",
});
pub static RAW_PAYLOADS_DLQ: Topic<Opaque, Opaque> = Topic::new(dlq(
    "ingest.raw.v1.dlq",
    "Raw records that could not be normalised, with the reason in headers.",
));

/// Canonical customer events: the source of truth every stream-app reads. Use [`route`] to file
/// an event on this topic or on [`CATALOG_EVENTS`].
pub static CUSTOMER_EVENTS: Topic<CustomerKey, CanonicalEvent> = Topic::new(TopicSpec {
    name: "customer.events.v1",
    partitions: 12,
    retention: Retention::Forever,
    dead_letter: Some(CUSTOMER_EVENTS_DLQ.spec.name),
    value_schema: Some("canonical_event"),
    doc: "Canonical customer events (orders, carts, browsing, reviews, messages, consent…), keyed by tenant|customer.",
});
pub static CUSTOMER_EVENTS_DLQ: Topic<Opaque, Opaque> = Topic::new(dlq(
    "customer.events.v1.dlq",
    "Poison customer events (not Avro, unknown schema, corrupt), with the reason in headers.",
));

/// Canonical catalogue events (products, prices, inventory), keyed by tenant|product.
pub static CATALOG_EVENTS: Topic<EntityKey, CanonicalEvent> = Topic::new(TopicSpec {
    name: "catalog.events.v1",
    partitions: 6,
    retention: Retention::Forever,
    dead_letter: Some(CATALOG_EVENTS_DLQ.spec.name),
    value_schema: Some("canonical_event"),
    doc: "Product, price and inventory changes, keyed by tenant|product.",
});
pub static CATALOG_EVENTS_DLQ: Topic<Opaque, Opaque> = Topic::new(dlq(
    "catalog.events.v1.dlq",
    "Poison catalogue events, with the reason in headers.",
));

/// Customer feature snapshots from the enrich stream-app: compacted, the latest per customer.
pub static CUSTOMER_FEATURES: Topic<CustomerKey, CustomerFeatures> = Topic::new(TopicSpec {
    name: "customer.features.v1",
    partitions: 12,
    retention: Retention::Compact,
    dead_letter: None,
    value_schema: Some("customer_features"),
    doc: "Per-customer feature snapshots (RFM, behaviour, BG/NBD churn and value), keyed by tenant|customer.",
});

/// Enrich's changelog: its state, one JSON record per shop, customer key and product (key
/// `tenant|s`, `tenant|k:<customer key>`, `tenant|p:<product>`), written with the snapshots of
/// each batch. Compacted, so a restart reads O(keys) rather than every input event. Internal to
/// enrich (its format is enrich's, not a contract); the inputs stay the source of truth.
pub static ENRICH_STATE: Topic<EntityKey, Opaque> = Topic::new(TopicSpec {
    name: "enrich.state.v1",
    partitions: 12,
    retention: Retention::Compact,
    dead_letter: None,
    value_schema: None,
    doc: "Enrich's per-key state (changelog), compacted: restores enrich without re-reading its inputs.",
});

/// What the nlp stream-app read in each customer text (reviews, customers' messages): sentiment,
/// emotions, Big Five evidence. Keyed and partitioned like [`CUSTOMER_EVENTS`], so enrich folds a
/// customer's insights on the partition that holds the customer. Kept: re-deriving it means running
/// the models over every text again.
pub static TEXT_INSIGHTS: Topic<CustomerKey, TextInsight> = Topic::new(TopicSpec {
    name: "text.insights.v1",
    partitions: 12,
    retention: Retention::Forever,
    dead_letter: Some(TEXT_INSIGHTS_DLQ.spec.name),
    value_schema: Some("text_insight"),
    doc: "Per-text sentiment, emotions and Big Five evidence from the nlp app, keyed by tenant|customer.",
});
pub static TEXT_INSIGHTS_DLQ: Topic<Opaque, Opaque> = Topic::new(dlq(
    "text.insights.v1.dlq",
    "Poison text insights (not Avro, unknown schema, corrupt), with the reason in headers.",
));

/// Identity joins made by first-party collection (`IdentityLinked` canonical events), compacted
/// to the latest join per key: the track API rebuilds its `anon:`/`user:` → customer map from it
/// on start. The same events also go to [`CUSTOMER_EVENTS`], keyed by the customer joined to.
pub static IDENTITY_LINKS: Topic<EntityKey, CanonicalEvent> = Topic::new(TopicSpec {
    name: "identity.links.v1",
    partitions: 6,
    retention: Retention::Compact,
    dead_letter: None,
    value_schema: Some("canonical_event"),
    doc: "The latest identity join per tenant|from_key (IdentityLinked events), for the track API's restore.",
});

/// Every topic, in flow order.
pub fn all() -> Vec<&'static TopicSpec> {
    vec![
        &RAW_PAYLOADS.spec,
        &RAW_PAYLOADS_DLQ.spec,
        &CUSTOMER_EVENTS.spec,
        &CUSTOMER_EVENTS_DLQ.spec,
        &CATALOG_EVENTS.spec,
        &CATALOG_EVENTS_DLQ.spec,
        &IDENTITY_LINKS.spec,
        &CUSTOMER_FEATURES.spec,
        &ENRICH_STATE.spec,
        &TEXT_INSIGHTS.spec,
        &TEXT_INSIGHTS_DLQ.spec,
    ]
}

/// Look a topic up by name.
pub fn by_name(name: &str) -> Option<&'static TopicSpec> {
    all().into_iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_convention_and_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for t in all() {
            assert!(seen.insert(t.name), "duplicate topic {}", t.name);
            let base = t.name.strip_suffix(".dlq").unwrap_or(t.name);
            let parts: Vec<&str> = base.split('.').collect();
            assert_eq!(parts.len(), 3, "{} is not <domain>.<entity>.v<N>", t.name);
            assert!(parts[2].starts_with('v') && parts[2][1..].parse::<u32>().is_ok());
            assert!(t.partitions >= 1);
        }
    }

    #[test]
    fn every_dead_letter_topic_is_declared_and_schemas_exist() {
        for t in all() {
            if let Some(d) = t.dead_letter {
                let dlq = by_name(d).unwrap_or_else(|| panic!("{} names undeclared {d}", t.name));
                assert_eq!(dlq.dead_letter, None);
            }
            if let Some(family) = t.value_schema {
                assert!(
                    mindset_schemas::families().iter().any(|f| f.name == family),
                    "{} names unknown schema {family}",
                    t.name
                );
            }
        }
    }

    #[test]
    fn keys_round_trip_and_reject_garbage() {
        let k = CustomerKey::new("shop.example.com", "shopify:42");
        assert_eq!(CustomerKey::decode_key(&k.encode_key()).unwrap(), k);
        assert!(CustomerKey::decode_key(b"no-separator").is_err());
        assert!(CustomerKey::decode_key(&[0xff, b'|', b'a']).is_err());
    }

    #[test]
    fn events_are_filed_by_customer_or_product() {
        use mindset_schemas::examples::{event, every_payload};
        for p in every_payload(true) {
            let catalog = p.is_catalog();
            let ev = event("t", (!catalog).then_some("c"), 1, p);
            let (topic, key) = route(&ev).unwrap();
            let key = String::from_utf8(key).unwrap();
            if catalog {
                assert_eq!(topic.name, "catalog.events.v1");
                assert_eq!(key, "t|p-1");
            } else {
                assert_eq!(topic.name, "customer.events.v1");
                assert_eq!(key, "t|c");
            }
        }
        let mut orphan = event("t", None, 2, every_payload(true).remove(1));
        assert!(matches!(route(&orphan), Err(RouteError::NoCustomer { .. })));
        orphan.customer_key = Some("c".into());
        orphan.tenant_id = "a|b".into();
        assert!(matches!(route(&orphan), Err(RouteError::BadTenant(_))));
    }
}
