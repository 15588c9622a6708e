//! The fuzz targets' seed corpus (`fuzz/seeds.txt`, read the way `infra/fuzz.sh` reads it) stays
//! useful: every seed is accepted by its parser, and the ones that should map give events, so
//! fuzzing starts deep inside each parser rather than at its first refusal. A parser change that
//! stops accepting a seed fails here, not silently in the fuzzer's coverage.

#[path = "platforms/support.rs"]
mod support;

use std::path::Path;

use mindset_connectors::{
    Normalised, amazon,
    flipkart::{self, NotificationAuth},
    segment::{self, Call, Links},
    shopify, woocommerce,
};
use support::*;

/// Seeds for an error path: the parser must refuse them.
const REFUSED: &[&str] = &["fuzz/seeds/amazon/errors.json"];

/// Seeds whose payload maps to no canonical event (kept raw, with a note).
const NO_EVENTS: &[(&str, &str)] = &[
    ("shopify", "checkouts/delete"),
    ("shopify", "customers/data_request"),
    ("shopify", "shop/redact"),
    ("woocommerce", "action.woocommerce_add_to_cart"),
    ("woocommerce", "order.deleted"),
    ("woocommerce", "ping"),
    ("amazon", "notification"),
    ("amazon", "ORDER_CHANGE"),
    ("amazon", "getOrderItems"),
    ("flipkart", "shipment_packed"),
    ("flipkart", "return_created"),
    ("segment", "page"),
    ("segment", "screen"),
    ("segment", "group"),
];

struct Seed {
    target: String,
    topic: String,
    files: Vec<String>,
    body: Vec<u8>,
}

/// `<target> <topic> <file>...`; several files make a JSON array.
fn seeds() -> Vec<Seed> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let list = std::fs::read_to_string(dir.join("fuzz/seeds.txt")).unwrap();
    let mut seeds = Vec::new();
    for line in list.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace().map(str::to_owned);
        let (target, topic) = (words.next().unwrap(), words.next().unwrap());
        let files: Vec<String> = words.collect();
        assert!(!files.is_empty(), "{line}: no file");
        let read = |f: &String| std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        let body = if files.len() == 1 {
            read(&files[0])
        } else {
            let parts: Vec<Vec<u8>> = files.iter().map(read).collect();
            [b"[".to_vec(), parts.join(&b","[..]), b"]".to_vec()].concat()
        };
        seeds.push(Seed {
            target,
            topic,
            files,
            body,
        });
    }
    seeds
}

fn owner(_: mindset_schemas::Platform, order_id: &str) -> Option<String> {
    Some(format!("email:owner-of-{order_id}@example.com"))
}

/// The seed through its target's entry point; `None` for the entry points that give no
/// `Normalised` (Amazon's order join and Flipkart's header check report their own way).
fn run(seed: &Seed) -> Result<Option<Normalised>, String> {
    let ctx = ctx().with_shop_currency("USD").with_order_owners(&owner);
    let (topic, body) = (seed.topic.as_str(), seed.body.as_slice());
    let e = |e: mindset_connectors::Error| e.to_string();
    match (seed.target.as_str(), topic) {
        ("shopify", _) => shopify::normalise(topic, body, &ctx).map(Some).map_err(e),
        ("woocommerce", _) => woocommerce::normalise(topic, body, &ctx)
            .map(Some)
            .map_err(e),
        ("amazon", "order_placed") => {
            let text = std::str::from_utf8(body).unwrap();
            let pages: Vec<&[u8]> = text.split("\n---\n").map(str::as_bytes).collect();
            let joined = amazon::order_placed(pages[0], "902-3159896-1390916", &pages[1..], &ctx)
                .map_err(e)?;
            assert_eq!(types_of(&joined.events), ["OrderPlaced"]);
            joined.events.iter().for_each(check_event);
            Ok(None)
        }
        ("amazon", _) => amazon::normalise(topic, body, &ctx).map(Some).map_err(e),
        ("flipkart", "verify") => {
            let text = std::str::from_utf8(body).unwrap();
            let (authorization, date) = text.split_once('\n').unwrap();
            let headers = headers(&[("X_Authorization", authorization), ("X_Date", date)]);
            let auth = NotificationAuth::new("fuzz-app", "fuzz-secret", "https://example.com/fk");
            flipkart::verify(&auth, &headers, 1_432_026_135_000).map_err(e)?;
            Ok(None)
        }
        ("flipkart", _) => flipkart::normalise(topic, body, &ctx).map(Some).map_err(e),
        ("segment", call) => {
            let known = std::collections::HashMap::new();
            let mut links = Links::new(&known);
            let batch = serde_json::Map::new();
            match call {
                "messages" => segment::normalise_text(&ctx, body, &mut links),
                "batch" => segment::normalise(&ctx, None, &batch, body, &mut links),
                name => {
                    let call = Call::from_name(name).expect("a track API call");
                    segment::normalise(&ctx, Some(call), &batch, body, &mut links)
                }
            }
            .map(Some)
            .map_err(e)
        }
        (other, _) => panic!("seeds.txt names no fuzz target {other:?}"),
    }
}

fn types_of(events: &[mindset_schemas::CanonicalEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.payload.type_name()).collect()
}

#[test]
fn every_seed_reaches_its_parser_and_maps() {
    let seeds = seeds();
    for target in ["shopify", "woocommerce", "amazon", "flipkart", "segment"] {
        assert!(
            seeds.iter().any(|s| s.target == target),
            "no seed for the {target} target"
        );
    }
    let mut problems = Vec::new();
    for seed in &seeds {
        let what = format!("{} {} {:?}", seed.target, seed.topic, seed.files);
        let result = run(seed);
        if REFUSED.contains(&seed.files[0].as_str()) {
            if result.is_ok() {
                problems.push(format!("{what}: an error-path seed was accepted"));
            }
            continue;
        }
        let n = match result {
            Err(e) => {
                problems.push(format!("{what}: refused: {e}"));
                continue;
            }
            Ok(None) => continue,
            Ok(Some(n)) => n,
        };
        check(&n);
        let none_expected = NO_EVENTS.contains(&(seed.target.as_str(), seed.topic.as_str()));
        if n.events.is_empty() != none_expected {
            problems.push(format!("{what}: events {:?}, note {:?}", types(&n), n.note));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
