//! What every connector fuzz target shares: how an input is read (a topic line, then the body),
//! the context `normalise` runs in, and the checks a result must pass. A target fails on a panic
//! anywhere in a parser and on a result that breaks the connectors' contract (`src/lib.rs`):
//! every event is fileable (what `mindset_pipeline::publish::validate` and
//! `mindset_topics::route` check) and survives the Avro wire format, the raw payload too, and a
//! payload that gives no events says why.

use std::collections::BTreeMap;

use mindset_connectors::{Context, Error, Headers, Normalised};
use mindset_schemas::{CanonicalEvent, Platform, RawPayload};

pub const TENANT: &str = "fuzz";
pub const RECEIVED: i64 = 1_760_000_000_000;

/// An input is `<topic>\n<body>`: the first line names the topic (or kind, or call) the body is
/// given under, so seeds are readable fixture files and the fuzzer can also vary the topic
/// (WooCommerce `action.<hook>`, Flipkart event types and Amazon notification types are open
/// sets). Without a newline the whole input is the topic and the body is empty.
pub fn split(data: &[u8]) -> (String, &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (
            String::from_utf8_lossy(&data[..i]).into_owned(),
            &data[i + 1..],
        ),
        None => (String::from_utf8_lossy(data).into_owned(), &[]),
    }
}

/// Request headers as an ingest would pass them: one ordinary header and one credential (which
/// the raw payload must not keep).
pub fn headers() -> Headers {
    BTreeMap::from([
        ("content-type".to_owned(), "application/json".to_owned()),
        ("authorization".to_owned(), "Bearer fuzz-secret".to_owned()),
    ])
}

/// Answers every order with a customer, so refund payloads that name only an order map too.
pub fn owner(platform: Platform, order_id: &str) -> Option<String> {
    Some(format!("{platform:?}:owner-of-{order_id}"))
}

/// The context of a delivery to tenant [`TENANT`] with a shop currency and an order lookup.
pub fn context<'a>(
    headers: &'a Headers,
    owners: &'a dyn mindset_connectors::OrderOwners,
) -> Context<'a> {
    Context::new(TENANT, RECEIVED)
        .with_headers(headers)
        .with_shop_currency("USD")
        .with_order_owners(owners)
}

/// A refusal must say what is wrong; an accepted payload must keep the connectors' contract.
pub fn check(topic: &str, body: &[u8], result: &Result<Normalised, Error>) {
    match result {
        Err(e) => assert!(
            !e.to_string().is_empty(),
            "{topic}: an error without a message"
        ),
        Ok(n) => {
            for ev in &n.events {
                check_event(topic, ev);
            }
            if n.events.is_empty() {
                assert!(
                    n.note.is_some(),
                    "{topic}: a payload without events says why"
                );
            }
            check_raw(topic, &n.raw);
            assert_eq!(
                n.raw.body, body,
                "{topic}: the raw payload must keep the body as received"
            );
        }
    }
}

/// One event: what the pipeline's `publish::validate` and `mindset_topics::route` require, and
/// an Avro round trip that gives the same event back.
pub fn check_event(topic: &str, ev: &CanonicalEvent) {
    assert!(!ev.event_id.is_empty(), "{topic}: empty event_id: {ev:?}");
    assert!(!ev.source_id.is_empty(), "{topic}: empty source_id: {ev:?}");
    assert!(
        ev.occurred_at > 0 && ev.received_at > 0,
        "{topic}: timestamps must be positive: {ev:?}"
    );
    assert_eq!(ev.tenant_id, TENANT, "{topic}: {ev:?}");
    assert_eq!(ev.received_at, RECEIVED, "{topic}: {ev:?}");
    if let Err(e) = mindset_topics::route(ev) {
        panic!("{topic}: the event cannot be routed ({e}): {ev:?}");
    }
    let bytes = ev
        .encode()
        .unwrap_or_else(|e| panic!("{topic}: the event does not encode ({e}): {ev:?}"));
    let back = CanonicalEvent::decode(&bytes)
        .unwrap_or_else(|e| panic!("{topic}: the encoded event does not decode ({e}): {ev:?}"));
    assert_eq!(&back, ev, "{topic}: the Avro round trip changed the event");
}

/// The raw payload survives its wire format, belongs to the tenant and keeps no credential.
pub fn check_raw(topic: &str, raw: &RawPayload) {
    assert_eq!(raw.tenant_id, TENANT, "{topic}");
    assert!(
        !raw.headers.contains_key("authorization"),
        "{topic}: the raw payload kept a credential header"
    );
    assert_eq!(raw.received_at, RECEIVED, "{topic}");
    assert!(!raw.raw_id.is_empty(), "{topic}: empty raw_id");
    let bytes = raw
        .encode()
        .unwrap_or_else(|e| panic!("{topic}: the raw payload does not encode ({e})"));
    let back = RawPayload::decode(&bytes)
        .unwrap_or_else(|e| panic!("{topic}: the raw payload does not decode ({e})"));
    assert_eq!(
        &back, raw,
        "{topic}: the raw payload's round trip changed it"
    );
}
