//! The track API through the router: what a Segment-compatible client sends lands as the right
//! canonical and raw events; bad input is refused with the spec's answers and writes nothing.

mod support;

use std::io::Write;

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
};
use base64::Engine;
use http_body_util::BodyExt;
use mindset::ingest::{IngestState, Secrets, TenantSecrets, TrackSecrets, router};
use mindset_pipeline::Log;
use mindset_schemas::{CanonicalEvent, MessageAuthor, MessageChannel, Payload, RawPayload};
use mindset_topics::{CUSTOMER_EVENTS, IDENTITY_LINKS, RAW_PAYLOADS, TopicSpec, ValueCodec};
use serde_json::{Value, json};
use tower::ServiceExt;

const KEY: &str = "wk_test_0123456789abcdef";
const OTHER_KEY: &str = "wk_other_0123456789abcdef";
const ORIGIN: &str = "https://shop.example.com";
/// 2026-01-01T00:00:00Z
const NOW: i64 = 1_767_225_600_000;

fn secrets() -> Secrets {
    let track = |key: &str| TenantSecrets {
        currency: Some("EUR".into()),
        track: Some(TrackSecrets {
            write_keys: vec![key.into()],
            origins: vec![ORIGIN.into()],
        }),
        ..TenantSecrets::default()
    };
    Secrets::new()
        .with_tenant("shop-1", track(KEY))
        .with_tenant("shop-2", track(OTHER_KEY))
}

struct Shop {
    _dir: tempfile::TempDir,
    log: Log,
    app: Router,
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

fn basic(key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    )
}

impl Shop {
    async fn new() -> Shop {
        let dir = tempfile::tempdir().unwrap();
        let log = support::open_log(dir.path()).await;
        let app = router(IngestState::new(log.producer().unwrap(), secrets()).with_clock(|| NOW));
        Shop {
            _dir: dir,
            log,
            app,
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = self
            .app
            .clone()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Answer {
            status,
            headers,
            body,
        }
    }

    /// POST JSON with the write key as Basic auth.
    async fn post(&self, path: &str, body: &Value) -> Answer {
        let auth = basic(KEY);
        self.send(
            "POST",
            path,
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            serde_json::to_vec(body).unwrap(),
        )
        .await
    }

    async fn count(&self, topic: &TopicSpec) -> u64 {
        support::count(&self.log, topic).await
    }

    async fn total(&self) -> u64 {
        support::sizes(&self.log).await.values().sum()
    }

    async fn read<V: ValueCodec>(&self, topic: &TopicSpec) -> Vec<(String, V)> {
        support::read(&self.log, topic).await
    }

    async fn events(&self) -> Vec<CanonicalEvent> {
        let mut evs: Vec<CanonicalEvent> = self
            .read::<CanonicalEvent>(&CUSTOMER_EVENTS.spec)
            .await
            .into_iter()
            .map(|(_, e)| e)
            .collect();
        evs.sort_by_key(|e| (e.occurred_at, e.payload.type_name()));
        evs
    }
}

fn of_type<'e>(events: &'e [CanonicalEvent], ty: &str) -> Vec<&'e CanonicalEvent> {
    events
        .iter()
        .filter(|e| e.payload.type_name() == ty)
        .collect()
}

#[tokio::test]
async fn ecommerce_events_map_field_by_field_and_every_call_stays_raw() {
    let shop = Shop::new().await;
    let sent_at = "2026-01-01T00:00:00.000Z";
    let batch = json!({
        "sentAt": sent_at,
        "batch": [
            {"type": "track", "event": "Product Viewed", "anonymousId": "a-1", "messageId": "m-1",
             "timestamp": "2025-12-31T23:59:00.000Z",
             "properties": {"product_id": "p-1", "name": "Linen shirt", "price": 45.5,
                            "currency": "usd", "category": "apparel", "url": "https://shop.example.com/p/1"},
             "context": {"sessionId": "s-1"}},
            {"type": "track", "event": "Products Searched", "anonymousId": "a-1", "messageId": "m-2",
             "properties": {"query": "red shoes"}},
            {"type": "track", "event": "Product Added", "anonymousId": "a-1", "messageId": "m-3",
             "properties": {"cart_id": "c-1", "product_id": "p-1", "price": "45.50", "quantity": 2}},
            {"type": "track", "event": "Product Removed", "anonymousId": "a-1", "messageId": "m-4",
             "properties": {"cart_id": "c-1", "product_id": "p-1", "price": 45.5}},
            {"type": "track", "event": "Order Completed", "anonymousId": "a-1", "messageId": "m-5",
             "properties": {"order_id": "o-9", "total": 96, "shipping": 5, "tax": 0, "discount": 0,
                            "coupon": "WELCOME", "currency": "EUR", "email": "Ada@Example.com",
                            "products": [{"product_id": "p-1", "name": "Linen shirt", "price": 45.5, "quantity": 2}]}},
            {"type": "page", "anonymousId": "a-1", "messageId": "m-6", "name": "Home"},
            {"type": "track", "event": "Newsletter Subscribed", "anonymousId": "a-1", "messageId": "m-7"},
            {"type": "group", "anonymousId": "a-1", "messageId": "m-8", "groupId": "g-1"},
        ]
    });
    let a = shop.post("/v1/batch", &batch).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["success"], true);
    assert_eq!(a.body["messages"], 8);

    // The batch is kept raw as it came: every message, mapped or not, is in it.
    let raws = shop.read::<RawPayload>(&RAW_PAYLOADS.spec).await;
    assert_eq!(raws.len(), 1);
    let (key, raw) = &raws[0];
    assert_eq!(
        (raw.platform.as_str(), raw.source.as_str()),
        ("storefront", "batch")
    );
    assert_eq!(key, &format!("shop-1|{}", raw.raw_id));
    assert!(raw.headers.keys().all(|k| k != "authorization"));
    let kept: Value = serde_json::from_slice(&raw.body).unwrap();
    assert_eq!(kept, batch, "the body exactly as sent");

    // A single call is kept raw under its own source.
    let single = shop
        .post(
            "/v1/page",
            &json!({"anonymousId": "a-1", "messageId": "m-9", "name": "About"}),
        )
        .await;
    assert_eq!(single.status, StatusCode::OK);
    let raws = shop.read::<RawPayload>(&RAW_PAYLOADS.spec).await;
    let page = raws
        .iter()
        .find(|(_, r)| r.source == "page")
        .expect("a raw page call");
    assert_eq!(
        serde_json::from_slice::<Value>(&page.1.body).unwrap()["messageId"],
        "m-9"
    );

    let events = shop.events().await;
    let types: Vec<&str> = events.iter().map(|e| e.payload.type_name()).collect();
    assert_eq!(
        of_type(&events, "ProductViewed").len()
            + of_type(&events, "ProductSearched").len()
            + of_type(&events, "CartItemChanged").len()
            + of_type(&events, "OrderPlaced").len()
            + of_type(&events, "IdentityLinked").len(),
        events.len(),
        "{types:?}"
    );

    let viewed = of_type(&events, "ProductViewed")[0];
    // sentAt == received time here, so the timestamp stands as sent.
    assert_eq!(viewed.occurred_at, NOW - 60_000);
    assert_eq!(viewed.customer_key.as_deref(), Some("anon:a-1"));
    let Payload::ProductViewed(v) = &viewed.payload else {
        panic!()
    };
    assert_eq!(v.product_id, "p-1");
    assert_eq!(v.price_minor, Some(4_550));
    assert_eq!(v.currency.as_deref(), Some("USD"));
    assert_eq!(v.category.as_deref(), Some("apparel"));
    assert_eq!(v.session_id.as_deref(), Some("s-1"));

    let Payload::ProductSearched(q) = &of_type(&events, "ProductSearched")[0].payload else {
        panic!()
    };
    assert_eq!(q.query, "red shoes");

    let items = of_type(&events, "CartItemChanged");
    let q: Vec<i32> = items
        .iter()
        .map(|e| match &e.payload {
            Payload::CartItemChanged(c) => {
                assert_eq!(c.cart_id.as_deref(), Some("c-1"));
                assert_eq!(c.unit_price_minor, Some(4_550));
                // No currency on the event: the shop's.
                assert_eq!(c.currency.as_deref(), Some("EUR"));
                c.quantity
            }
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        q.iter().copied().collect::<std::collections::BTreeSet<_>>(),
        [-1, 2].into()
    );

    let order = of_type(&events, "OrderPlaced")[0];
    assert_eq!(order.customer_key.as_deref(), Some("email:ada@example.com"));
    let Payload::OrderPlaced(o) = &order.payload else {
        panic!()
    };
    assert_eq!(o.order_id, "o-9");
    assert_eq!(o.total_minor, 9_600);
    assert_eq!(o.subtotal_minor, 9_100);
    assert_eq!(o.shipping_minor, 500);
    assert_eq!(o.discount_codes, vec!["WELCOME".to_owned()]);
    assert_eq!(o.lines.len(), 1);
    assert_eq!(
        (o.lines[0].quantity, o.lines[0].unit_price_minor),
        (2, 4_550)
    );
    assert!(!o.guest);

    // The order named an email: the browser is joined to that customer.
    let links = of_type(&events, "IdentityLinked");
    assert_eq!(links.len(), 1);
    let Payload::IdentityLinked(l) = &links[0].payload else {
        panic!()
    };
    assert_eq!(
        (l.from_key.as_str(), l.reason.as_str()),
        ("anon:a-1", "order")
    );
    assert_eq!(
        links[0].customer_key.as_deref(),
        Some("email:ada@example.com")
    );
    assert_eq!(shop.count(&IDENTITY_LINKS.spec).await, 1);
}

#[tokio::test]
async fn identify_joins_the_browser_and_later_calls_use_the_customer_key() {
    let shop = Shop::new().await;
    let ok = |a: Answer| assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    ok(shop
        .post(
            "/v1/track",
            &json!({"event": "Product Viewed", "anonymousId": "a-7", "messageId": "x-1",
            "properties": {"product_id": "p-2"}}),
        )
        .await);
    ok(shop
        .post(
            "/v1/identify",
            &json!({"userId": "u-42", "anonymousId": "a-7", "messageId": "x-2",
            "traits": {"email": "Grace@Example.com", "firstName": "Grace", "lastName": "Hopper",
                       "address": {"city": "Arlington", "country": "US"}}}),
        )
        .await);
    ok(shop
        .post(
            "/v1/track",
            &json!({"event": "Product Viewed", "anonymousId": "a-7", "messageId": "x-3",
            "properties": {"product_id": "p-3"}}),
        )
        .await);
    ok(shop
        .post(
            "/v1/track",
            &json!({"event": "Products Searched", "userId": "u-42", "messageId": "x-4",
            "properties": {"query": "boots"}}),
        )
        .await);
    // A second device: alias joins its anonymous id to the user.
    ok(shop
        .post(
            "/v1/alias",
            &json!({"previousId": "a-phone", "userId": "u-42", "messageId": "x-5"}),
        )
        .await);
    ok(shop
        .post(
            "/v1/track",
            &json!({"event": "Product Viewed", "anonymousId": "a-phone", "messageId": "x-6",
            "properties": {"product_id": "p-4"}}),
        )
        .await);

    let events = shop.events().await;
    let key_of = |product: &str| {
        events
            .iter()
            .find(|e| matches!(&e.payload, Payload::ProductViewed(v) if v.product_id == product))
            .and_then(|e| e.customer_key.clone())
            .unwrap()
    };
    // Nothing already in the log is re-keyed; later calls use the customer's key.
    assert_eq!(key_of("p-2"), "anon:a-7");
    assert_eq!(key_of("p-3"), "email:grace@example.com");
    assert_eq!(key_of("p-4"), "email:grace@example.com");
    let searched = of_type(&events, "ProductSearched")[0];
    assert_eq!(
        searched.customer_key.as_deref(),
        Some("email:grace@example.com")
    );

    let Payload::CustomerUpserted(c) = &of_type(&events, "CustomerUpserted")[0].payload else {
        panic!()
    };
    assert_eq!(c.platform_customer_id, "u-42");
    assert_eq!(c.email.as_deref(), Some("grace@example.com"));
    assert_eq!(c.first_name.as_deref(), Some("Grace"));
    assert_eq!(c.city.as_deref(), Some("Arlington"));

    let joins: Vec<(String, String, String)> = of_type(&events, "IdentityLinked")
        .iter()
        .map(|e| match &e.payload {
            Payload::IdentityLinked(l) => (
                l.from_key.clone(),
                e.customer_key.clone().unwrap(),
                l.reason.clone(),
            ),
            _ => unreachable!(),
        })
        .collect();
    let g = "email:grace@example.com".to_owned();
    assert!(
        joins.contains(&("anon:a-7".into(), g.clone(), "identify".into())),
        "{joins:?}"
    );
    assert!(
        joins.contains(&("user:u-42".into(), g.clone(), "identify".into())),
        "{joins:?}"
    );
    assert!(
        joins.contains(&("anon:a-phone".into(), g.clone(), "alias".into())),
        "{joins:?}"
    );
    assert_eq!(joins.len(), 3);

    // A restarted server rebuilds the joins from identity.links.v1.
    let state = IngestState::new(shop.log.producer().unwrap(), secrets()).with_clock(|| NOW);
    assert_eq!(state.identities().restore(&shop.log).await.unwrap(), 3);
    let restarted = Shop {
        _dir: tempfile::tempdir().unwrap(),
        log: shop.log.clone(),
        app: router(state),
    };
    ok(restarted
        .post(
            "/v1/track",
            &json!({"event": "Product Viewed", "anonymousId": "a-phone", "messageId": "x-7",
            "properties": {"product_id": "p-5"}}),
        )
        .await);
    let events = restarted.events().await;
    let p5 = events
        .iter()
        .find(|e| matches!(&e.payload, Payload::ProductViewed(v) if v.product_id == "p-5"))
        .unwrap();
    assert_eq!(p5.customer_key.as_deref(), Some("email:grace@example.com"));
}

#[tokio::test]
async fn redelivered_message_ids_write_nothing_twice() {
    let shop = Shop::new().await;
    let m = json!({"event": "Product Viewed", "anonymousId": "a-1", "messageId": "dup-1",
        "properties": {"product_id": "p-1"}});
    let first = shop.post("/v1/track", &m).await;
    assert_eq!(first.body["messages"], 1);
    let after_first = shop.total().await;
    assert_eq!(after_first, 2, "one raw payload and one event");
    let again = shop.post("/v1/track", &m).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        (
            again.body["messages"].clone(),
            again.body["duplicates"].clone()
        ),
        (json!(0), json!(1))
    );
    // In a batch too, and twice within one batch.
    let b = shop.post("/v1/batch", &json!({"batch": [
        {"type": "track", "event": "Product Viewed", "anonymousId": "a-1", "messageId": "dup-1", "properties": {"product_id": "p-1"}},
        {"type": "track", "event": "Product Viewed", "anonymousId": "a-1", "messageId": "new-1", "properties": {"product_id": "p-1"}},
        {"type": "track", "event": "Product Viewed", "anonymousId": "a-1", "messageId": "new-1", "properties": {"product_id": "p-1"}},
    ]})).await;
    assert_eq!(
        (b.body["messages"].clone(), b.body["duplicates"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(shop.total().await, after_first + 2);
}

#[tokio::test]
async fn clock_skew_is_corrected_with_sent_at() {
    let shop = Shop::new().await;
    // The device's clock is 10 minutes fast: it stamped the event 30 s before it sent it.
    let a = shop
        .post(
            "/v1/track",
            &json!({"event": "Products Searched", "anonymousId": "a-1", "messageId": "s-1",
            "timestamp": "2026-01-01T00:09:30.000Z", "sentAt": "2026-01-01T00:10:00.000Z",
            "properties": {"query": "x"}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let ev = &shop.events().await[0];
    assert_eq!(ev.occurred_at, NOW - 30_000);
    assert_eq!(ev.received_at, NOW);
}

#[tokio::test]
async fn write_keys_origins_and_cors() {
    let shop = Shop::new().await;
    let msg =
        json!({"event": "Products Searched", "anonymousId": "a", "properties": {"query": "q"}});
    let body = serde_json::to_vec(&msg).unwrap();
    let no_key = shop.send("POST", "/v1/track", &[], body.clone()).await;
    assert_eq!(no_key.status, StatusCode::UNAUTHORIZED);
    assert!(
        no_key.body["error"]
            .as_str()
            .unwrap()
            .contains("missing write key")
    );
    let wrong = basic("wk_nobody_0123456789abc");
    let unknown = shop
        .send(
            "POST",
            "/v1/track",
            &[("authorization", &wrong)],
            body.clone(),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.body["error"], "unknown write key");
    assert_eq!(shop.total().await, 0);

    // The key in the body, as sendBeacon sends it (text/plain, no headers).
    let mut with_key = msg.clone();
    with_key["writeKey"] = json!(KEY);
    let beacon = shop
        .send(
            "POST",
            "/v1/track",
            &[
                ("content-type", "text/plain;charset=UTF-8"),
                ("origin", ORIGIN),
            ],
            serde_json::to_vec(&with_key).unwrap(),
        )
        .await;
    assert_eq!(beacon.status, StatusCode::OK, "{}", beacon.body);
    assert_eq!(beacon.headers["access-control-allow-origin"], ORIGIN);

    // Another shop's origin may not use this key.
    let foreign = shop
        .send(
            "POST",
            "/v1/track",
            &[("origin", "https://evil.example")],
            serde_json::to_vec(&with_key).unwrap(),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    assert!(foreign.headers.get("access-control-allow-origin").is_none());

    let preflight = shop
        .send(
            "OPTIONS",
            "/v1/batch",
            &[
                ("origin", ORIGIN),
                ("access-control-request-method", "POST"),
            ],
            vec![],
        )
        .await;
    assert_eq!(preflight.status, StatusCode::NO_CONTENT);
    assert_eq!(preflight.headers["access-control-allow-origin"], ORIGIN);
    assert!(
        preflight.headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );

    // A key of shop-2 files under shop-2.
    let other = basic(OTHER_KEY);
    let a = shop
        .send("POST", "/v1/track", &[("authorization", &other)], body)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let tenants: Vec<String> = shop
        .events()
        .await
        .into_iter()
        .map(|e| e.tenant_id)
        .collect();
    assert_eq!(tenants, vec!["shop-1".to_owned(), "shop-2".to_owned()]);
}

#[tokio::test]
async fn bad_input_gets_the_specs_answers_and_no_partial_batch_enters_the_log() {
    let shop = Shop::new().await;
    let auth = basic(KEY);
    let h = [("authorization", auth.as_str())];
    let malformed = shop
        .send("POST", "/v1/track", &h, b"{\"event\": ".to_vec())
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert!(
        malformed.body["error"]
            .as_str()
            .unwrap()
            .contains("not JSON"),
        "{}",
        malformed.body
    );

    let big = "x".repeat(33 * 1024);
    let oversized = shop
        .post("/v1/track", &json!({"event": "Products Searched", "anonymousId": "a", "properties": {"query": big}}))
        .await;
    assert_eq!(oversized.status, StatusCode::BAD_REQUEST);
    assert!(
        oversized.body["error"].as_str().unwrap().contains("32 KB"),
        "{}",
        oversized.body
    );

    // One batched event over 32 KB in an otherwise fine batch.
    let batch_big_event = shop
        .post("/v1/batch", &json!({"batch": [
            {"type": "track", "event": "Products Searched", "anonymousId": "a", "properties": {"query": "ok"}},
            {"type": "track", "event": "Products Searched", "anonymousId": "a", "properties": {"query": big}},
        ]}))
        .await;
    assert_eq!(batch_big_event.status, StatusCode::BAD_REQUEST);
    assert!(
        batch_big_event.body["error"]
            .as_str()
            .unwrap()
            .starts_with("batch[1]"),
        "{}",
        batch_big_event.body
    );

    let many: Vec<Value> = (0..40)
        .map(|i| {
            json!({"type": "track", "event": "Products Searched", "anonymousId": "a",
                        "messageId": format!("m-{i}"), "properties": {"query": "y".repeat(14_000)}})
        })
        .collect();
    let too_big_batch = shop.post("/v1/batch", &json!({ "batch": many })).await;
    assert_eq!(too_big_batch.status, StatusCode::BAD_REQUEST);
    assert!(
        too_big_batch.body["error"]
            .as_str()
            .unwrap()
            .contains("500 KB"),
        "{}",
        too_big_batch.body
    );

    // One bad event (no user or anonymous id) refuses the whole batch, naming it.
    let one_bad = shop
        .post("/v1/batch", &json!({"batch": [
            {"type": "track", "event": "Products Searched", "anonymousId": "a", "properties": {"query": "a"}},
            {"type": "identify", "traits": {"email": "x@example.com"}},
            {"type": "track", "event": "Products Searched", "anonymousId": "a", "properties": {"query": "b"}},
        ]}))
        .await;
    assert_eq!(one_bad.status, StatusCode::BAD_REQUEST);
    let reason = one_bad.body["error"].as_str().unwrap();
    assert!(
        reason.starts_with("batch[1]") && reason.contains("userId or an anonymousId"),
        "{reason}"
    );

    for (path, body, needle) in [
        ("/v1/track", json!({"anonymousId": "a"}), "event name"),
        (
            "/v1/batch",
            json!({"batch": [{"type": "hello", "anonymousId": "a"}]}),
            "not a call",
        ),
        ("/v1/alias", json!({"userId": "u"}), "previousId"),
        ("/v1/group", json!({"anonymousId": "a"}), "groupId"),
        (
            "/v1/track",
            json!({"event": "Product Added", "anonymousId": "a", "properties": {"product_id": "p", "price": "12.345"}}),
            "price",
        ),
        (
            "/v1/track",
            json!({"event": "x", "anonymousId": "a", "timestamp": "yesterday"}),
            "timestamp",
        ),
        ("/v1/batch", json!({"batch": []}), "empty"),
        (
            "/v1/messages",
            json!({"anonymousId": "a", "text": "hi", "channel": "pigeon"}),
            "channel",
        ),
    ] {
        let a = shop.post(path, &body).await;
        assert_eq!(
            a.status,
            StatusCode::BAD_REQUEST,
            "{path} {body}: {}",
            a.body
        );
        assert!(
            a.body["error"].as_str().unwrap().contains(needle),
            "{path}: {}",
            a.body
        );
    }
    let encoding = shop
        .send(
            "POST",
            "/v1/track",
            &[("authorization", &auth), ("content-encoding", "br")],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(encoding.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        shop.total().await,
        0,
        "nothing of a refused request was written"
    );
}

#[tokio::test]
async fn gzip_bodies_are_read() {
    let shop = Shop::new().await;
    let batch = json!({"batch": [
        {"type": "track", "event": "Products Searched", "anonymousId": "a", "messageId": "g-1", "properties": {"query": "gz"}}
    ]});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&serde_json::to_vec(&batch).unwrap()).unwrap();
    let auth = basic(KEY);
    let a = shop
        .send(
            "POST",
            "/v1/b",
            &[("authorization", &auth), ("content-encoding", "gzip")],
            gz.finish().unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let Payload::ProductSearched(q) = &shop.events().await[0].payload else {
        panic!()
    };
    assert_eq!(q.query, "gz");
    let garbage = shop
        .send(
            "POST",
            "/v1/b",
            &[("authorization", &auth), ("content-encoding", "gzip")],
            b"not gzip".to_vec(),
        )
        .await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn customer_text_arrives_as_messages_and_the_script_is_served() {
    let shop = Shop::new().await;
    let a = shop
        .post("/v1/messages", &json!({"messageId": "chat-1", "email": "Ada@Example.com", "channel": "support",
            "threadId": "t-9", "text": "My parcel never arrived and nobody answers.", "language": "en",
            "timestamp": "2025-12-31T12:00:00Z"}))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let agent = shop
        .post(
            "/v1/messages",
            &json!({"messageId": "chat-2", "email": "ada@example.com", "channel": "support",
            "threadId": "t-9", "text": "Sorry to hear that, checking now.", "author": "agent"}),
        )
        .await;
    assert_eq!(agent.status, StatusCode::OK);
    let events = shop.events().await;
    assert_eq!(events.len(), 2);
    let Payload::MessageReceived(m) = &events[0].payload else {
        panic!()
    };
    assert_eq!(
        events[0].customer_key.as_deref(),
        Some("email:ada@example.com")
    );
    assert_eq!(events[0].occurred_at, NOW - 12 * 3_600_000);
    assert_eq!(
        (m.channel, m.author),
        (MessageChannel::Support, MessageAuthor::Customer)
    );
    assert_eq!(m.thread_id.as_deref(), Some("t-9"));
    assert_eq!(
        events[0].payload.customer_text(),
        Some("My parcel never arrived and nobody answers.")
    );
    // An agent's reply is kept, but it is not the customer's text.
    assert_eq!(events[1].payload.customer_text(), None);

    let js = shop.send("GET", "/js/mindset.js", &[], vec![]).await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(
        js.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/javascript")
    );
    assert!(
        js.body.as_str().unwrap().contains("window")
            || js.body.as_str().unwrap().contains("mindset")
    );
}
