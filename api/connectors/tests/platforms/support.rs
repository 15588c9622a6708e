//! Shared helpers of the connector tests: where the fixtures are, and the checks every produced
//! event must pass (the pipeline's `validate`, `route`, and an Avro round trip).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use mindset_connectors::{Context, Headers, Normalised};
use mindset_schemas::{CanonicalEvent, Payload, Platform, RawPayload, event_id};

pub const TENANT: &str = "shop-1";
pub const RECEIVED: i64 = 1_760_000_000_000;

/// `/work/shared/platforms` when the repository is `/work/main`: CI checks `shared/` out beside
/// the repository clone.
pub fn shared_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/platforms");
    assert!(
        dir.join("README.md").is_file(),
        "the shared platform fixtures are not at {} (expected shared/ beside the repository)",
        dir.display()
    );
    dir
}

/// Bytes of a file under the shared platform folder.
pub fn shared(rel: &str) -> Vec<u8> {
    let path = shared_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn shared_json(rel: &str) -> serde_json::Value {
    serde_json::from_slice(&shared(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Bytes of a fixture written for this crate (`tests/fixtures/`).
pub fn own(rel: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn own_json(rel: &str) -> serde_json::Value {
    serde_json::from_slice(&own(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

pub fn bytes(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

pub fn ctx() -> Context<'static> {
    Context::new(TENANT, RECEIVED)
}

pub fn headers(pairs: &[(&str, &str)]) -> Headers {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The id an event of `payload_type` with these platform ids must have.
pub fn id(platform: Platform, payload_type: &str, ids: &[&str]) -> String {
    event_id(TENANT, platform, payload_type, ids)
}

/// Every event is fileable by the pipeline and survives the wire format; the raw payload too.
pub fn check(n: &Normalised) {
    for ev in &n.events {
        check_event(ev);
    }
    let raw = RawPayload::decode(&n.raw.encode().expect("raw payload encodes")).unwrap();
    assert_eq!(raw, n.raw);
    assert_eq!(n.raw.tenant_id, TENANT);
    assert_eq!(n.raw.received_at, RECEIVED);
    assert!(!n.raw.raw_id.is_empty());
    if n.events.is_empty() {
        assert!(n.note.is_some(), "a payload without events says why");
    }
}

pub fn check_event(ev: &CanonicalEvent) {
    mindset_pipeline::publish::validate(ev).unwrap_or_else(|e| panic!("{e}: {ev:?}"));
    let (topic, key) = mindset_topics::route(ev).unwrap_or_else(|e| panic!("{e}: {ev:?}"));
    let key = String::from_utf8(key).unwrap();
    if ev.payload.is_catalog() {
        assert_eq!(topic.name, "catalog.events.v1");
    } else {
        assert_eq!(topic.name, "customer.events.v1");
        assert_eq!(
            key,
            format!("{}|{}", ev.tenant_id, ev.customer_key.as_deref().unwrap())
        );
    }
    let decoded = CanonicalEvent::decode(&ev.encode().expect("event encodes")).unwrap();
    assert_eq!(&decoded, ev);
    assert_eq!(ev.tenant_id, TENANT);
    assert_eq!(ev.received_at, RECEIVED);
}

pub fn types(n: &Normalised) -> Vec<&'static str> {
    n.events.iter().map(|e| e.payload.type_name()).collect()
}

macro_rules! payload_as {
    ($name:ident, $variant:ident) => {
        pub fn $name(ev: &CanonicalEvent) -> &mindset_schemas::$variant {
            match &ev.payload {
                Payload::$variant(p) => p,
                other => panic!("expected {}, got {other:?}", stringify!($variant)),
            }
        }
    };
}

payload_as!(order, OrderPlaced);
payload_as!(refund, OrderRefunded);
payload_as!(customer, CustomerUpserted);
payload_as!(consent, ConsentChanged);
payload_as!(checkout, CheckoutStarted);
payload_as!(cart, CartUpdated);
payload_as!(redaction, RedactionRequested);
payload_as!(review, ReviewPosted);
payload_as!(product, ProductUpserted);
payload_as!(price, PriceChanged);
payload_as!(inventory, InventoryChanged);
