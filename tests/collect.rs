//! Real clients no one here wrote, unchanged but for their host: Segment's `@segment/analytics-node`
//! and a shop page running `mindset.js` in headless Chromium (Playwright), against `mindset`'s
//! router served over TCP on an embedded log. The node scripts live in `tests/collect/`; their
//! packages are installed by `infra/test.sh` (`npm ci`), Chromium by `infra/setup.sh`.

use std::{path::PathBuf, process::Command, time::Duration};

use mindset::ingest::{IngestState, Secrets, TenantSecrets, TrackSecrets, router};
use mindset_pipeline::{Log, embedded::EmbeddedLog};
use mindset_schemas::{CanonicalEvent, Payload, RawPayload};
use mindset_topics::{CUSTOMER_EVENTS, RAW_PAYLOADS, TopicSpec, ValueCodec};
use serde_json::Value;

const KEY: &str = "wk_e2e_collect_0123456789";

fn collect_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("collect")
}

fn node(args: &[&str]) -> Value {
    let dir = collect_dir();
    assert!(
        dir.join("node_modules/@segment/analytics-node").exists(),
        "tests/collect has no node_modules: run `npm ci` in tests/collect (infra/test.sh does)"
    );
    let out = Command::new("node")
        .args(args)
        .current_dir(&dir)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "node {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "node {args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    _dir: tempfile::TempDir,
    log: Log,
    url: String,
}

async fn serve(origins: Vec<String>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::Embedded(EmbeddedLog::open(dir.path().join("log.redb")).unwrap());
    log.ensure_topics(&mindset_topics::all()).await.unwrap();
    let secrets = Secrets::new().with_tenant(
        "shop-1",
        TenantSecrets {
            currency: Some("USD".into()),
            track: Some(TrackSecrets {
                write_keys: vec![KEY.into()],
                origins,
            }),
            ..TenantSecrets::default()
        },
    );
    let app = router(IngestState::new(log.producer().unwrap(), secrets));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        _dir: dir,
        log,
        url,
    }
}

async fn read<V: ValueCodec>(log: &Log, topic: &TopicSpec, group: &str) -> Vec<V> {
    let total: u64 = log.end_offsets(topic).await.unwrap().iter().sum();
    let mut c = log.consumer(group, &[topic]).unwrap();
    let mut out = Vec::new();
    let mut idle = 0;
    while (out.len() as u64) < total && idle < 20 {
        let batch = c.poll(1_000, Duration::from_millis(100)).await.unwrap();
        if batch.is_empty() {
            idle += 1;
        }
        out.extend(batch.iter().map(|m| V::decode_value(&m.value).unwrap()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_analytics_node_reaches_mindset_unchanged_but_for_its_host() {
    let server = serve(vec![]).await;
    let url = server.url.clone();
    let out = tokio::task::spawn_blocking(move || node(&["segment-node.mjs", &url, KEY]))
        .await
        .unwrap();
    let sent = out["sent"].as_array().unwrap();
    assert_eq!(sent.len(), 9, "{out}");

    // Every call is kept raw: the client's batches as they came.
    let raws: Vec<RawPayload> = read(&server.log, &RAW_PAYLOADS.spec, "e2e-raw").await;
    let kept: Vec<Value> = raws
        .iter()
        .flat_map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["batch"]
                .as_array()
                .cloned()
                .unwrap_or_else(|| vec![body])
        })
        .collect();
    for s in sent {
        let id = s["messageId"].as_str().unwrap();
        assert!(
            kept.iter().any(|m| m["messageId"] == id),
            "no raw payload holds {s}"
        );
    }
    let events: Vec<CanonicalEvent> = read(&server.log, &CUSTOMER_EVENTS.spec, "e2e-ev").await;
    let of = |ty: &str| {
        events
            .iter()
            .filter(|e| e.payload.type_name() == ty)
            .collect::<Vec<_>>()
    };
    let ada = Some("email:ada@example.com");
    // identify arrives first in the batch: every later call of u-42 is Ada's.
    let customer = of("CustomerUpserted");
    assert_eq!(customer.len(), 1);
    assert_eq!(customer[0].customer_key.as_deref(), ada);
    for ty in [
        "ProductViewed",
        "ProductSearched",
        "CartItemChanged",
        "OrderPlaced",
    ] {
        let evs = of(ty);
        assert_eq!(evs.len(), 1, "{ty}");
        assert_eq!(evs[0].customer_key.as_deref(), ada, "{ty}");
    }
    let Payload::OrderPlaced(o) = &of("OrderPlaced")[0].payload else {
        panic!()
    };
    assert_eq!((o.order_id.as_str(), o.total_minor), ("o-9", 3_998));
    assert_eq!(o.lines[0].sku.as_deref(), Some("RR-42"));
    let Payload::CartItemChanged(c) = &of("CartItemChanged")[0].payload else {
        panic!()
    };
    assert_eq!((c.quantity, c.unit_price_minor), (2, Some(1_999)));
    let joins: Vec<&str> = of("IdentityLinked")
        .iter()
        .map(|e| match &e.payload {
            Payload::IdentityLinked(l) => l.from_key.as_str(),
            _ => unreachable!(),
        })
        .collect();
    assert!(
        joins.contains(&"anon:anon-1") && joins.contains(&"user:u-42"),
        "{joins:?}"
    );
    // page, group, alias (already joined) and the custom event add no canonical event.
    assert_eq!(events.len(), 1 + 4 + joins.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storefront_script_in_chromium_records_views_search_and_cart() {
    let port = free_port();
    let server = serve(vec![format!("http://127.0.0.1:{port}")]).await;
    let url = server.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        node(&["storefront.mjs", &url, KEY, &port.to_string()])
    })
    .await
    .unwrap();
    assert_eq!(out["dntRequests"], 0, "{out}");
    let anonymous = out["anonymousId"].as_str().unwrap().to_owned();

    let events: Vec<CanonicalEvent> = read(&server.log, &CUSTOMER_EVENTS.spec, "e2e-sf").await;
    let mine: Vec<&CanonicalEvent> = events
        .iter()
        .filter(|e| e.customer_key.as_deref() == Some(&format!("anon:{anonymous}")))
        .collect();
    let viewed = mine
        .iter()
        .find_map(|e| match &e.payload {
            Payload::ProductViewed(v) => Some(v),
            _ => None,
        })
        .expect("a Product Viewed from the page");
    assert_eq!(
        (viewed.product_id.as_str(), viewed.price_minor),
        ("p-1", Some(1_999))
    );
    assert!(viewed.session_id.is_some());
    assert!(
        mine.iter()
            .any(|e| matches!(&e.payload, Payload::ProductSearched(q) if q.query == "red shoes")),
        "no search from the page"
    );
    let mut cart: Vec<i32> = mine
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::CartItemChanged(c) => Some(c.quantity),
            _ => None,
        })
        .collect();
    cart.sort();
    cart.dedup();
    assert_eq!(cart, vec![-1, 2], "add 2, remove 1");
    let raws: Vec<RawPayload> = read(&server.log, &RAW_PAYLOADS.spec, "e2e-sf-raw").await;
    let pages = raws
        .iter()
        .flat_map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["batch"]
                .as_array()
                .cloned()
                .unwrap_or_else(|| vec![body])
        })
        .filter(|m| m["type"] == "page")
        .count();
    assert!(
        pages >= 1,
        "the page view is kept raw (in the script's batches)"
    );
}
