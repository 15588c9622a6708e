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

/// The targets' mutator: half the time libFuzzer's own byte-level mutations; otherwise, when the
/// body (or one of Amazon's `---`-separated pages) is JSON, one structural change of the kind a
/// platform can send and a byte flip rarely makes: a value swapped for a hostile one (zero,
/// negative, huge, empty, wrong type, odd dates and currencies), a key removed, a list emptied,
/// shortened or grown by a copy of its first item. The result stays valid JSON, so it reaches the
/// mapping code behind the parser's syntax checks.
pub fn mutate(data: &mut [u8], size: usize, max_size: usize, seed: u32) -> usize {
    let mut rng = Rng(u64::from(seed));
    if rng.below(2) == 0 {
        return libfuzzer_sys::fuzzer_mutate(data, size, max_size);
    }
    let Some(out) = mutate_json(&data[..size], &mut rng) else {
        return libfuzzer_sys::fuzzer_mutate(data, size, max_size);
    };
    if out.len() > max_size {
        return libfuzzer_sys::fuzzer_mutate(data, size, max_size);
    }
    data[..out.len()].copy_from_slice(&out);
    out.len()
}

const PAGE_BREAK: &[u8] = b"\n---\n";

fn mutate_json(input: &[u8], rng: &mut Rng) -> Option<Vec<u8>> {
    let newline = input.iter().position(|&b| b == b'\n')?;
    let (topic, body) = (&input[..=newline], &input[newline + 1..]);
    let mut pages: Vec<&[u8]> = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.windows(PAGE_BREAK.len()).position(|w| w == PAGE_BREAK) {
        pages.push(&rest[..i]);
        rest = &rest[i + PAGE_BREAK.len()..];
    }
    pages.push(rest);
    let pick = rng.below(pages.len());
    let mut value: serde_json::Value = serde_json::from_slice(pages[pick]).ok()?;
    let nodes = count(&value);
    mutate_node(&mut value, rng.below(nodes), rng);
    let changed = serde_json::to_vec(&value).ok()?;
    let mut out = topic.to_vec();
    for (i, page) in pages.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(PAGE_BREAK);
        }
        out.extend_from_slice(if i == pick { &changed } else { page });
    }
    Some(out)
}

fn count(v: &serde_json::Value) -> usize {
    1 + match v {
        serde_json::Value::Array(a) => a.iter().map(count).sum(),
        serde_json::Value::Object(m) => m.values().map(count).sum(),
        _ => 0,
    }
}

/// Change node number `k` (pre-order) of `v`; returns how many nodes were passed.
fn mutate_node(v: &mut serde_json::Value, k: usize, rng: &mut Rng) -> usize {
    use serde_json::Value;
    if k == 0 {
        match v {
            Value::Array(a) if !a.is_empty() && rng.below(2) == 0 => match rng.below(3) {
                0 => a.clear(),
                1 => {
                    a.remove(rng.below(a.len()));
                }
                _ => a.push(a[0].clone()),
            },
            Value::Object(m) if !m.is_empty() && rng.below(2) == 0 => {
                let key = m.keys().nth(rng.below(m.len())).cloned();
                if let Some(key) = key {
                    m.remove(&key);
                }
            }
            _ => *v = hostile(rng),
        }
        return 1;
    }
    let mut passed = 1;
    let children: Vec<&mut Value> = match v {
        Value::Array(a) => a.iter_mut().collect(),
        Value::Object(m) => m.values_mut().collect(),
        _ => Vec::new(),
    };
    for child in children {
        let n = count(child);
        if k < passed + n {
            return passed + mutate_node(child, k - passed, rng);
        }
        passed += n;
    }
    passed
}

fn hostile(rng: &mut Rng) -> serde_json::Value {
    use serde_json::{Value, json};
    const TEXT: &[&str] = &[
        "",
        " ",
        "0",
        "-1",
        "0.001",
        "1e400",
        "99999999999999999999.99",
        "NaN",
        "1969-12-31T23:59:59Z",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999+14:00",
        "2026-02-30",
        "Tue, 19 May 2015 09:02:15 GMT",
        "JPY",
        "KWD",
        "XXX",
        "usd",
        "COD",
        "CANCELLED",
        "a|b",
        "\u{0}",
        "é",
        "<b>&amp;</b>",
        "@",
        "x@",
    ];
    match rng.below(12) {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(i64::MAX),
        3 => json!(i64::MIN),
        4 => json!(u64::MAX),
        5 => json!(1e308),
        6 => json!(-0.5),
        7 => Value::Null,
        8 => json!(rng.below(2) == 0),
        9 => json!([]),
        10 => json!({}),
        _ => json!(TEXT[rng.below(TEXT.len())]),
    }
}

/// splitmix64, seeded by libFuzzer.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}
