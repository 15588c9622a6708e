//! The Shopify and WooCommerce pollers against local mock servers (axum on 127.0.0.1:0) that
//! reproduce the platforms' paging, rate-limit and error behaviour as documented in
//! `shared/platforms/*/http`, filing into an embedded log in a temporary directory.

mod support;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    num::NonZeroU32,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    extract::{Query, State},
    http::{HeaderMap, Request, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use base64::Engine;
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use mindset::ingest::{IngestState, Secrets, ShopifySecrets, TenantSecrets, WooCommerceSecrets};
use mindset::poll::{
    Decision, PollError, PollSettings, RetryPolicy, shopify, woocommerce,
    woocommerce::{Auth, WooConfig},
};
use mindset_pipeline::Log;
use mindset_schemas::{CanonicalEvent, Payload, RawPayload};
use mindset_topics::{CATALOG_EVENTS, CUSTOMER_EVENTS, RAW_PAYLOADS, TopicSpec, ValueCodec};
use serde_json::{Value, json};
use sha2::Sha256;
use tower::ServiceExt;

const TENANT: &str = "shop-1";
/// 2026-01-01T00:00:00Z
const NOW: i64 = 1_767_225_600_000;
const TOKEN: &str = "shpat_test_token";
const CK: &str = "ck_test";
const CS: &str = "cs_test";

fn shared_json(rel: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/platforms")
        .join(rel);
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{rel}: {e}"))).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The log

struct Shop {
    dir: tempfile::TempDir,
    log: Log,
}

impl Shop {
    async fn new() -> Shop {
        let dir = tempfile::tempdir().unwrap();
        let log = support::open_log(dir.path()).await;
        Shop { dir, log }
    }

    fn cursors(&self) -> PathBuf {
        self.dir.path().join("cursors")
    }

    async fn sizes(&self) -> BTreeMap<&'static str, u64> {
        support::sizes(&self.log).await
    }

    async fn read<V: ValueCodec>(&self, topic: &TopicSpec) -> Vec<V> {
        support::read(&self.log, topic)
            .await
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    }

    async fn events(&self) -> Vec<CanonicalEvent> {
        let mut all = self.read::<CanonicalEvent>(&CUSTOMER_EVENTS.spec).await;
        all.extend(self.read::<CanonicalEvent>(&CATALOG_EVENTS.spec).await);
        all.sort_by(|a, b| a.event_id.cmp(&b.event_id));
        all
    }

    async fn raws(&self) -> Vec<RawPayload> {
        let mut r = self.read::<RawPayload>(&RAW_PAYLOADS.spec).await;
        r.sort_by(|a, b| a.raw_id.cmp(&b.raw_id));
        r
    }

    fn settings(&self) -> PollSettings {
        let mut s = PollSettings::new(TENANT, self.cursors());
        s.requests_per_second = NonZeroU32::new(1_000).unwrap();
        s.burst = NonZeroU32::new(1_000).unwrap();
        s.retry = RetryPolicy {
            max_attempts: 4,
            base_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            max_retry_after: Duration::from_secs(5),
        };
        s.shop_currency = Some("USD".into());
        s.clock = Arc::new(|| NOW);
        s
    }

    /// What the webhook ingest files for `body` (same tenant, same clock), on a fresh log.
    async fn webhook(path: &str, headers: &[(&str, &str)], body: &[u8]) -> Shop {
        let shop = Shop::new().await;
        let secrets = Secrets::new().with_tenant(
            TENANT,
            TenantSecrets {
                currency: Some("USD".into()),
                shopify: Some(ShopifySecrets {
                    secret: "hook-secret".into(),
                }),
                woocommerce: Some(WooCommerceSecrets {
                    secret: "hook-secret".into(),
                }),
                ..TenantSecrets::default()
            },
        );
        let app = mindset::ingest::router(
            IngestState::new(shop.log.producer().unwrap(), secrets).with_clock(|| NOW),
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(b"hook-secret").unwrap();
        mac.update(body);
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let mut req = Request::post(path).header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req = req
            .header("X-Shopify-Hmac-Sha256", &sig)
            .header("X-WC-Webhook-Signature", &sig);
        let res = app
            .oneshot(req.body(Body::from(body.to_vec())).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&bytes)
        );
        shop
    }
}

fn assert_nothing(sizes: &BTreeMap<&'static str, u64>) {
    assert!(sizes.values().all(|n| *n == 0), "{sizes:?}");
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// One request as the mock saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    query: BTreeMap<String, String>,
    auth: Option<String>,
    at: Instant,
}

// ---------------------------------------------------------------------------------------------
// Shopify mock: keyset paging by page_info, the call-limit header, scripted failures

#[derive(Default)]
struct ShopifyMock {
    orders: Vec<Value>,
    customers: Vec<Value>,
    seen: Vec<Seen>,
    /// Answers to send instead of the real one, by request number (1-based).
    script: BTreeMap<usize, Scripted>,
    /// `X-Shopify-Shop-Api-Call-Limit` per request number (else `1/40`).
    call_limit: BTreeMap<usize, &'static str>,
}

type SharedShopify = Arc<Mutex<ShopifyMock>>;

/// A scripted answer: status, headers, JSON body.
type Scripted = (u16, Vec<(&'static str, &'static str)>, Value);

fn stamp_ms(v: &Value, field: &str) -> i64 {
    chrono_ms(v[field].as_str().unwrap())
}

fn chrono_ms(t: &str) -> i64 {
    mindset_connectors::common::rfc3339_millis(t)
        .or_else(|_| mindset_connectors::common::utc_naive_millis(t))
        .unwrap()
}

async fn shopify_list(
    State(mock): State<SharedShopify>,
    axum::extract::Path((_version, file)): axum::extract::Path<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut m = mock.lock().unwrap();
    m.seen.push(Seen {
        path: file.clone(),
        query: q.clone(),
        auth: headers
            .get("x-shopify-access-token")
            .map(|v| v.to_str().unwrap().to_owned()),
        at: Instant::now(),
    });
    let n = m.seen.len();
    if let Some((status, hs, body)) = m.script.get(&n).cloned() {
        let mut res = (StatusCode::from_u16(status).unwrap(), body.to_string()).into_response();
        for (k, v) in hs {
            res.headers_mut().insert(k, v.parse().unwrap());
        }
        return res;
    }
    if headers.get("x-shopify-access-token").map(|v| v.as_bytes()) != Some(TOKEN.as_bytes()) {
        return (
            StatusCode::UNAUTHORIZED,
            json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}).to_string(),
        )
            .into_response();
    }
    let (key, all) = match file.as_str() {
        "orders.json" => ("orders", m.orders.clone()),
        "customers.json" => ("customers", m.customers.clone()),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let limit: usize = q.get("limit").map_or(50, |l| l.parse().unwrap());
    // page_info encodes the filters and the last id: with it only limit (and fields) may come.
    let (min, max, after) = match q.get("page_info") {
        Some(info) => {
            if q.keys()
                .any(|k| !matches!(k.as_str(), "page_info" | "limit" | "fields"))
            {
                return (
                    StatusCode::BAD_REQUEST,
                    json!({"errors": {"page_info": "page_info cannot be combined with other filters"}}).to_string(),
                )
                    .into_response();
            }
            let v: Vec<i64> = info.split('.').map(|p| p.parse().unwrap()).collect();
            (v[0], v[1], v[2])
        }
        None => (
            q.get("updated_at_min").map_or(i64::MIN, |t| chrono_ms(t)),
            q.get("updated_at_max").map_or(i64::MAX, |t| chrono_ms(t)),
            i64::MIN,
        ),
    };
    let mut hits: Vec<Value> = all
        .into_iter()
        .filter(|o| {
            let t = stamp_ms(o, "updated_at");
            t >= min && t <= max && o["id"].as_i64().unwrap() > after
        })
        .collect();
    hits.sort_by_key(|o| o["id"].as_i64().unwrap());
    let more = hits.len() > limit;
    hits.truncate(limit);
    // Exact bytes: a list of the objects' own serialisations.
    let body = format!(
        "{{\"{key}\":[{}]}}",
        hits.iter()
            .map(|o| o.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert("content-type", "application/json".parse().unwrap());
    h.insert(
        "x-shopify-shop-api-call-limit",
        m.call_limit
            .get(&n)
            .copied()
            .unwrap_or("1/40")
            .parse()
            .unwrap(),
    );
    if more {
        let last = hits.last().unwrap()["id"].as_i64().unwrap();
        h.insert(
            "link",
            format!(
                "<https://elsewhere.example/admin/api/2026-07/{file}?limit={limit}&page_info={min}.{max}.{last}>; rel=\"next\""
            )
            .parse()
            .unwrap(),
        );
    }
    res
}

async fn shopify_mock(mock: ShopifyMock) -> (SharedShopify, String) {
    let shared = Arc::new(Mutex::new(mock));
    let app = Router::new()
        .route("/admin/api/{version}/{file}", get(shopify_list))
        .with_state(shared.clone());
    let addr = serve(app).await;
    (shared, format!("http://{addr}"))
}

/// The fixture order with id `id`, updated at `updated_at`.
fn shopify_order(id: i64, updated_at: &str) -> Value {
    let mut o =
        shared_json("shopify/rest_admin/orders_list.status_any.json")["response_body"]["orders"][0]
            .clone();
    o["id"] = json!(id);
    o["updated_at"] = json!(updated_at);
    o
}

fn shopify_customer() -> Value {
    shared_json("shopify/rest_admin/customers_list.json")["response_body"]["customers"][0].clone()
}

fn shopify_config(shop: &Shop, base: &str, limit: u32) -> shopify::ShopifyConfig {
    let mut c = shopify::ShopifyConfig::new(base, TOKEN, shop.settings());
    c.page_limit = limit;
    c
}

fn six_orders() -> Vec<Value> {
    (0..6)
        .map(|i| shopify_order(450789469 + i, &format!("2025-01-0{}T10:00:00-05:00", i + 1)))
        .collect()
}

#[tokio::test]
async fn shopify_pages_by_link_and_files_what_the_webhook_files() {
    let shop = Shop::new().await;
    let (mock, base) = shopify_mock(ShopifyMock {
        orders: six_orders(),
        customers: vec![shopify_customer()],
        ..ShopifyMock::default()
    })
    .await;
    let stats = shopify::poll_once(
        &shopify_config(&shop, &base, 2),
        &shop.log.producer().unwrap(),
    )
    .await
    .unwrap();
    let seen = mock.lock().unwrap().seen.clone();
    let orders: Vec<&Seen> = seen.iter().filter(|s| s.path == "orders.json").collect();
    assert_eq!(orders.len(), 3, "3 pages of 2: {seen:?}");
    assert_eq!(orders[0].query["status"], "any");
    assert_eq!(orders[0].query["limit"], "2");
    assert!(
        !orders[0].query.contains_key("updated_at_min"),
        "no cursor yet"
    );
    for later in &orders[1..] {
        // Only limit beside page_info (the mock refuses anything else with 400).
        assert_eq!(
            later.query.keys().collect::<Vec<_>>(),
            ["limit", "page_info"]
        );
    }
    assert!(seen.iter().all(|s| s.auth.as_deref() == Some(TOKEN)));
    assert_eq!((stats.pages, stats.objects, stats.filed), (4, 7, 7));
    assert_eq!(stats.dead_lettered, 0);
    assert!(stats.decisions.is_empty(), "{:?}", stats.decisions);

    // Orders: OrderPlaced + CustomerUpserted + consents + 1 refund each; ids vary, so 6 distinct
    // orders; the embedded customer repeats one version (same ids) in all six.
    let events = shop.events().await;
    let raws = shop.raws().await;
    assert_eq!(raws.len(), 7);
    assert_eq!(stats.events, events.len() as u64);
    let placed: Vec<&CanonicalEvent> = events
        .iter()
        .filter(|e| e.payload.type_name() == "OrderPlaced")
        .collect();
    assert_eq!(placed.len(), 6);

    // Field by field, one order.
    let first = placed.iter().find(|e| e.source_id == "450789469").unwrap();
    assert_eq!(first.tenant_id, TENANT);
    assert_eq!(
        first.customer_key.as_deref(),
        Some("email:bob.norman@mail.example.com")
    );
    assert_eq!(first.received_at, NOW);
    assert_eq!(
        first.occurred_at,
        chrono_ms("2008-01-10T11:00:00-05:00"),
        "processed_at"
    );
    assert_eq!(
        first.event_id,
        mindset_schemas::event_id(
            TENANT,
            mindset_schemas::Platform::Shopify,
            "OrderPlaced",
            &[
                "450789469",
                &chrono_ms("2025-01-01T10:00:00-05:00").to_string()
            ]
        )
    );
    let Payload::OrderPlaced(o) = &first.payload else {
        unreachable!()
    };
    assert_eq!(o.order_id, "450789469");
    assert_eq!(o.order_number.as_deref(), Some("#1001"));
    assert_eq!(o.currency, "USD");
    assert_eq!(o.total_minor, 59_894);
    assert_eq!(o.tax_minor, 1_194);
    assert_eq!(o.discount_minor, 1_000);
    assert_eq!(o.lines.len(), 3);
    assert_eq!(o.financial_status, "partially_refunded");
    assert_eq!(
        o.checkout_id.as_deref(),
        Some("bd5a8aa1ecd019dd3520ff791ee3a24c")
    );

    // The webhook path on the same bytes files the same raw id and the same events.
    let body = six_orders()[0].to_string();
    let hook = Shop::webhook(
        &format!("/webhooks/shopify/{TENANT}"),
        &[("X-Shopify-Topic", "orders/updated")],
        body.as_bytes(),
    )
    .await;
    let hook_events = hook.events().await;
    assert_eq!(hook_events.len(), 5, "order, customer, 2 consents, refund");
    for h in &hook_events {
        let p = events.iter().find(|e| e.event_id == h.event_id).unwrap();
        assert_eq!(p, h, "same event from both paths");
    }
    let hook_raw = &hook.raws().await[0];
    let polled_raw = raws.iter().find(|r| r.raw_id == hook_raw.raw_id).unwrap();
    assert_eq!(polled_raw.body, hook_raw.body);
    assert_eq!(polled_raw.source, "orders/updated");
    assert!(polled_raw.headers["x-mindset-poll"].contains("orders.json"));
    assert!(!polled_raw.headers.values().any(|v| v.contains(TOKEN)));

    // The cursor: the latest order, and the customer's stamp.
    let cursor: Value = serde_json::from_slice(
        &std::fs::read(shop.cursors().join("shopify.shop-1.orders.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cursor["updated_at"], "2025-01-06T10:00:00-05:00");
    assert_eq!(cursor["ids"], json!(["450789474"]));

    // A restart reads from the cursor (inclusive) and files nothing again.
    let before = shop.sizes().await;
    let again = shopify::poll_once(
        &shopify_config(&shop, &base, 2),
        &shop.log.producer().unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(shop.sizes().await, before);
    assert_eq!(again.filed, 0);
    assert_eq!(
        again.already_seen, 2,
        "the last order and the customer, re-read"
    );
    let seen = mock.lock().unwrap().seen.clone();
    let last_orders = seen.iter().rev().find(|s| s.path == "orders.json").unwrap();
    assert_eq!(
        last_orders.query["updated_at_min"],
        "2025-01-06T15:00:00+00:00"
    );
    assert_eq!(
        last_orders.query["updated_at_max"],
        "2025-12-31T23:59:00+00:00"
    );

    // A new order at exactly the cursor's instant, and a later one: both filed, nothing else.
    {
        let mut m = mock.lock().unwrap();
        m.orders
            .push(shopify_order(450789400, "2025-01-06T10:00:00-05:00"));
        m.orders
            .push(shopify_order(450789401, "2025-02-01T00:00:00Z"));
    }
    let third = shopify::poll_once(
        &shopify_config(&shop, &base, 2),
        &shop.log.producer().unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(third.filed, 2, "{third:?}");
    let placed: Vec<String> = shop
        .events()
        .await
        .into_iter()
        .filter_map(|e| match e.payload {
            Payload::OrderPlaced(p) => Some(p.order_id),
            _ => None,
        })
        .collect();
    assert_eq!(placed.len(), 8);
    assert!(placed.contains(&"450789400".to_owned()) && placed.contains(&"450789401".to_owned()));
}

#[tokio::test]
async fn shopify_slows_down_near_the_call_limit() {
    let shop = Shop::new().await;
    let (mock, base) = shopify_mock(ShopifyMock {
        orders: six_orders(),
        customers: vec![],
        call_limit: BTreeMap::from([(1, "38/40"), (2, "12/40")]),
        ..ShopifyMock::default()
    })
    .await;
    let mut config = shopify_config(&shop, &base, 2);
    config.leak_per_second = 20.0;
    config.resources = vec![shopify::Resource::Orders];
    let stats = shopify::poll_once(&config, &shop.log.producer().unwrap())
        .await
        .unwrap();
    // 38/40 with 8 of headroom: leak 7 calls at 20/s before the next request; 12/40 is fine.
    let wait = Duration::from_millis(350);
    assert_eq!(
        stats.decisions,
        vec![Decision::Pause {
            after_request: 1,
            used: 38,
            limit: 40,
            wait
        }]
    );
    let seen = mock.lock().unwrap().seen.clone();
    assert!(seen[1].at - seen[0].at >= wait, "the pause was kept");
    assert_eq!(stats.filed, 6);
}

#[tokio::test]
async fn shopify_429_waits_retry_after_and_files_once() {
    let shop = Shop::new().await;
    let (mock, base) = shopify_mock(ShopifyMock {
        orders: six_orders(),
        customers: vec![shopify_customer()],
        script: BTreeMap::from([
            (
                2,
                (
                    429,
                    vec![("Retry-After", "1.0")],
                    json!({"errors": "Call limit exceeded"}),
                ),
            ),
            (4, (503, vec![], json!({"errors": "unavailable"}))),
        ]),
        ..ShopifyMock::default()
    })
    .await;
    let stats = shopify::poll_once(
        &shopify_config(&shop, &base, 2),
        &shop.log.producer().unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        stats.decisions,
        vec![
            Decision::Retry {
                request: 2,
                status: Some(429),
                attempt: 1,
                wait: Duration::from_secs(1),
                reason: "429 Too Many Requests".into()
            },
            Decision::Retry {
                request: 4,
                status: Some(503),
                attempt: 1,
                wait: Duration::from_millis(20),
                reason: "503 Service Unavailable: {\"errors\":\"unavailable\"}".into()
            }
        ]
    );
    let seen = mock.lock().unwrap().seen.clone();
    assert!(seen[2].at - seen[1].at >= Duration::from_secs(1));
    assert_eq!(seen[1].query, seen[2].query, "the same page again");
    assert_eq!(stats.requests, 6);
    // Exactly what a poll without failures files: nothing duplicated by the retries.
    let clean = Shop::new().await;
    let (_m, clean_base) = shopify_mock(ShopifyMock {
        orders: six_orders(),
        customers: vec![shopify_customer()],
        ..ShopifyMock::default()
    })
    .await;
    shopify::poll_once(
        &shopify_config(&clean, &clean_base, 2),
        &clean.log.producer().unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(shop.sizes().await, clean.sizes().await);
    assert_eq!(shop.events().await, clean.events().await);
    assert_eq!(shop.raws().await.len(), 7);
}

#[tokio::test]
async fn shopify_401_stops_with_the_reason_and_writes_nothing() {
    let shop = Shop::new().await;
    let (_mock, base) = shopify_mock(ShopifyMock {
        orders: six_orders(),
        ..ShopifyMock::default()
    })
    .await;
    let mut config = shopify_config(&shop, &base, 2);
    config.access_token = "shpat_wrong".into();
    let err = shopify::poll_once(&config, &shop.log.producer().unwrap())
        .await
        .unwrap_err();
    match &err {
        PollError::Unauthorized {
            status, message, ..
        } => {
            assert_eq!(*status, 401);
            assert!(
                message.contains("Invalid API key or access token"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("401"));
    assert_nothing(&shop.sizes().await);
    assert!(!shop.cursors().exists() || std::fs::read_dir(shop.cursors()).unwrap().count() == 0);
}

#[tokio::test]
async fn shopify_5xx_gives_up_after_the_budget_and_keeps_the_cursor() {
    let shop = Shop::new().await;
    let fail = (500, vec![], json!({"errors": "Internal Server Error"}));
    let (mock, base) = shopify_mock(ShopifyMock {
        orders: six_orders(),
        script: (1..=4).map(|n| (n, fail.clone())).collect(),
        ..ShopifyMock::default()
    })
    .await;
    let err = shopify::poll_once(
        &shopify_config(&shop, &base, 2),
        &shop.log.producer().unwrap(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, PollError::RetriesExhausted { attempts: 4, .. }),
        "{err:?}"
    );
    assert_eq!(mock.lock().unwrap().seen.len(), 4);
    let seen = mock.lock().unwrap().seen.clone();
    // Backoff 20, 40, 80 ms (doubling, capped at 100).
    assert!(seen[3].at - seen[0].at >= Duration::from_millis(140));
    assert_nothing(&shop.sizes().await);
}

#[test]
fn plain_http_is_refused_beyond_loopback() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let shop = Shop::new().await;
        let config = shopify_config(&shop, "http://shop.example.com", 2);
        let err = shopify::poll_once(&config, &shop.log.producer().unwrap())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("plain http"), "{err}");
    });
}

// ---------------------------------------------------------------------------------------------
// WooCommerce mock: page numbers, X-WP-Total(Pages), modified_after, WP error bodies

#[derive(Default)]
struct WooMock {
    orders: Vec<Value>,
    customers: Vec<Value>,
    seen: Vec<Seen>,
}

type SharedWoo = Arc<Mutex<WooMock>>;

fn wp_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        json!({"code": code, "message": message, "data": {"status": status.as_u16()}}).to_string(),
    )
        .into_response()
}

async fn woo_list(
    State(mock): State<SharedWoo>,
    axum::extract::Path(resource): axum::extract::Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut m = mock.lock().unwrap();
    let auth = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned());
    m.seen.push(Seen {
        path: resource.clone(),
        query: q.clone(),
        auth: auth.clone(),
        at: Instant::now(),
    });
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CK}:{CS}"))
    );
    let by_query = q.get("consumer_key").map(String::as_str) == Some(CK)
        && q.get("consumer_secret").map(String::as_str) == Some(CS);
    if auth.as_deref() != Some(basic.as_str()) && !by_query {
        return wp_error(
            StatusCode::UNAUTHORIZED,
            "woocommerce_rest_cannot_view",
            "Sorry, you cannot list resources.",
        );
    }
    let per_page: usize = q.get("per_page").map_or(10, |p| p.parse().unwrap());
    if !(1..=100).contains(&per_page) {
        return wp_error(
            StatusCode::BAD_REQUEST,
            "rest_invalid_param",
            "Invalid parameter(s): per_page",
        );
    }
    let page: usize = q.get("page").map_or(1, |p| p.parse().unwrap());
    let mut hits: Vec<Value> = match resource.as_str() {
        "orders" => {
            assert_eq!(q.get("orderby").map(String::as_str), Some("modified"));
            let after = q.get("modified_after").map(|t| {
                assert_eq!(q.get("dates_are_gmt").map(String::as_str), Some("true"));
                chrono_ms(t)
            });
            let mut v: Vec<Value> = m
                .orders
                .iter()
                .filter(|o| after.is_none_or(|a| stamp_ms(o, "date_modified_gmt") > a))
                .cloned()
                .collect();
            v.sort_by_key(|o| (stamp_ms(o, "date_modified_gmt"), o["id"].as_i64().unwrap()));
            if q.get("order").map(String::as_str) != Some("asc") {
                v.reverse();
            }
            v
        }
        "customers" => {
            let mut v = m.customers.clone();
            v.sort_by_key(|c| c["id"].as_i64().unwrap());
            v
        }
        _ => {
            return wp_error(
                StatusCode::NOT_FOUND,
                "rest_no_route",
                "No route was found matching the URL and request method",
            );
        }
    };
    let total = hits.len();
    let pages = total.div_ceil(per_page);
    let from = ((page - 1) * per_page).min(total);
    hits = hits[from..(from + per_page).min(total)].to_vec();
    let body = format!(
        "[{}]",
        hits.iter()
            .map(|o| o.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    (
        StatusCode::OK,
        [
            ("content-type", "application/json".to_owned()),
            ("x-wp-total", total.to_string()),
            ("x-wp-totalpages", pages.to_string()),
        ],
        body,
    )
        .into_response()
}

async fn woo_mock(mock: WooMock) -> (SharedWoo, String) {
    let shared = Arc::new(Mutex::new(mock));
    let app = Router::new()
        .route("/wp-json/wc/v3/{resource}", get(woo_list))
        .with_state(shared.clone());
    let addr = serve(app).await;
    (shared, format!("http://{addr}"))
}

/// The fixture order 723 (registered customer, two refunds) as `id`, modified at `modified`.
fn woo_order(id: i64, modified: &str) -> Value {
    let list = shared_json("woocommerce/rest_v3/orders.list_all_orders.json");
    let mut o = list
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == 723)
        .unwrap()
        .clone();
    o["id"] = json!(id);
    o["date_modified_gmt"] = json!(modified);
    o
}

fn woo_customers() -> Vec<Value> {
    shared_json("woocommerce/rest_v3/customers.list_all_customers.json")
        .as_array()
        .unwrap()
        .clone()
}

fn woo_config(shop: &Shop, base: &str, per_page: u32) -> WooConfig {
    let mut c = WooConfig::new(base, CK, CS, shop.settings());
    c.per_page = per_page;
    c
}

fn five_woo_orders() -> Vec<Value> {
    (0..5)
        .map(|i| woo_order(800 + i, &format!("2025-03-0{}T12:00:00", i + 1)))
        .collect()
}

#[tokio::test]
async fn woocommerce_pages_to_total_pages_and_files_what_the_webhook_files() {
    let shop = Shop::new().await;
    let (mock, base) = woo_mock(WooMock {
        orders: five_woo_orders(),
        customers: woo_customers(),
        ..WooMock::default()
    })
    .await;
    let stats = woocommerce::poll_once(&woo_config(&shop, &base, 2), &shop.log.producer().unwrap())
        .await
        .unwrap();
    let seen = mock.lock().unwrap().seen.clone();
    let orders: Vec<&Seen> = seen.iter().filter(|s| s.path == "orders").collect();
    assert_eq!(
        orders
            .iter()
            .map(|s| s.query["page"].as_str())
            .collect::<Vec<_>>(),
        ["1", "2", "3"],
        "X-WP-TotalPages = 3"
    );
    assert!(
        seen.iter()
            .all(|s| s.auth.as_deref().unwrap().starts_with("Basic "))
    );
    assert!(
        seen.iter()
            .all(|s| !s.query.contains_key("consumer_secret"))
    );
    // 3 order pages + 1 customer page; 5 orders + 2 customers.
    assert_eq!((stats.pages, stats.filed, stats.dead_lettered), (4, 7, 0));
    let events = shop.events().await;
    assert_eq!(stats.events, events.len() as u64);
    // Per order: OrderPlaced + 2 refunds; per customer: CustomerUpserted.
    assert_eq!(events.len(), 5 * 3 + 2);

    let o = events
        .iter()
        .find(|e| e.payload.type_name() == "OrderPlaced" && e.source_id == "800")
        .unwrap();
    assert_eq!(
        o.customer_key.as_deref(),
        Some("email:joao.silva@example.com")
    );
    let fixture = woo_order(800, "2025-03-01T12:00:00");
    assert_eq!(
        o.occurred_at,
        chrono_ms(fixture["date_created_gmt"].as_str().unwrap()),
        "date_created_gmt"
    );
    assert_eq!(o.received_at, NOW);
    let Payload::OrderPlaced(p) = &o.payload else {
        unreachable!()
    };
    assert_eq!(p.order_id, "800");
    assert_eq!(p.currency, fixture["currency"].as_str().unwrap());
    assert_eq!(
        p.total_minor,
        mindset_connectors::common::minor_units(fixture["total"].as_str().unwrap(), &p.currency)
            .unwrap()
    );
    assert_eq!(
        p.lines.len(),
        fixture["line_items"].as_array().unwrap().len()
    );
    assert!(!p.guest);

    // Same bytes through the webhook: same events, same raw id.
    let body = fixture.to_string();
    let hook = Shop::webhook(
        &format!("/webhooks/woocommerce/{TENANT}"),
        &[("X-WC-Webhook-Topic", "order.updated")],
        body.as_bytes(),
    )
    .await;
    let hook_events = hook.events().await;
    assert_eq!(hook_events.len(), 3);
    for h in &hook_events {
        assert_eq!(events.iter().find(|e| e.event_id == h.event_id), Some(h));
    }
    let hook_raw = &hook.raws().await[0];
    assert!(
        shop.raws()
            .await
            .iter()
            .any(|r| r.raw_id == hook_raw.raw_id && r.body == hook_raw.body)
    );
}

#[tokio::test]
async fn woocommerce_errors_carry_code_and_message_and_write_nothing() {
    let shop = Shop::new().await;
    let (_mock, base) = woo_mock(WooMock {
        orders: five_woo_orders(),
        ..WooMock::default()
    })
    .await;
    let err = woocommerce::poll_once(
        &woo_config(&shop, &base, 101),
        &shop.log.producer().unwrap(),
    )
    .await
    .unwrap_err();
    match &err {
        PollError::Api {
            status,
            code,
            message,
            ..
        } => {
            assert_eq!(*status, 400);
            assert_eq!(code.as_deref(), Some("rest_invalid_param"));
            assert_eq!(message, "Invalid parameter(s): per_page");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .contains("rest_invalid_param: Invalid parameter(s): per_page")
    );

    let mut config = woo_config(&shop, &base, 2);
    config.consumer_secret = "cs_wrong".into();
    let err = woocommerce::poll_once(&config, &shop.log.producer().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PollError::Unauthorized { status: 401, message, .. } if message.contains("woocommerce_rest_cannot_view")),
        "{err:?}"
    );
    assert_nothing(&shop.sizes().await);
    assert!(!shop.cursors().exists());
}

#[tokio::test]
async fn woocommerce_restart_reads_nothing_new_then_picks_up_later_and_same_instant_updates() {
    let shop = Shop::new().await;
    let (mock, base) = woo_mock(WooMock {
        orders: five_woo_orders(),
        customers: woo_customers(),
        ..WooMock::default()
    })
    .await;
    let mut config = woo_config(&shop, &base, 2);
    config.auth = Auth::QueryString;
    let producer = shop.log.producer().unwrap();
    let first = woocommerce::poll_once(&config, &producer).await.unwrap();
    assert_eq!(first.filed, 7);
    let seen = mock.lock().unwrap().seen.clone();
    assert!(
        seen.iter()
            .all(|s| s.auth.is_none() && s.query["consumer_key"] == CK)
    );
    let raws = shop.raws().await;
    assert!(
        raws.iter()
            .all(|r| !r.headers.values().any(|v| v.contains(CS)))
    );

    // Restart (a new poll, the cursor from disk): nothing new is filed.
    let after_first = shop.sizes().await;
    let second = woocommerce::poll_once(&config, &producer).await.unwrap();
    assert_eq!(shop.sizes().await, after_first);
    assert_eq!(second.filed, 0);
    let last = mock
        .lock()
        .unwrap()
        .seen
        .iter()
        .rev()
        .find(|s| s.path == "orders")
        .cloned()
        .unwrap();
    assert_eq!(
        last.query["modified_after"], "2025-03-05T11:59:59",
        "cursor - 1 s"
    );
    assert_eq!(
        second.already_seen,
        1 + 2,
        "the cursor's own order, and both customers"
    );

    // A later update of a known order and a new order at exactly the cursor's instant.
    {
        let mut m = mock.lock().unwrap();
        m.orders[1]["date_modified_gmt"] = json!("2025-03-07T08:00:00");
        m.orders.push(woo_order(900, "2025-03-05T12:00:00"));
    }
    let third = woocommerce::poll_once(&config, &producer).await.unwrap();
    assert_eq!(third.filed, 2, "{third:?}");
    let events = shop.events().await;
    let placed: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::OrderPlaced(p) => Some(p.order_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        placed.iter().filter(|id| **id == "801").count(),
        2,
        "two versions"
    );
    assert_eq!(placed.iter().filter(|id| **id == "900").count(), 1);
    assert_eq!(placed.len(), 7);
    let cursor: Value = serde_json::from_slice(
        &std::fs::read(shop.cursors().join("woocommerce.shop-1.orders.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cursor["updated_at"], "2025-03-07T08:00:00");
    assert_eq!(cursor["ids"], json!(["801"]));

    // And once more: caught up.
    let sizes = shop.sizes().await;
    let fourth = woocommerce::poll_once(&config, &producer).await.unwrap();
    assert_eq!(fourth.filed, 0);
    assert_eq!(shop.sizes().await, sizes);
}

#[tokio::test]
async fn an_object_the_connector_refuses_is_dead_lettered_and_the_rest_filed() {
    let shop = Shop::new().await;
    let mut orders = five_woo_orders();
    orders[2]["currency"] = json!("US");
    let (_mock, base) = woo_mock(WooMock {
        orders,
        ..WooMock::default()
    })
    .await;
    let mut config = woo_config(&shop, &base, 2);
    config.resources = vec![woocommerce::Resource::Orders];
    let stats = woocommerce::poll_once(&config, &shop.log.producer().unwrap())
        .await
        .unwrap();
    assert_eq!((stats.filed, stats.dead_lettered), (4, 1));
    let sizes = shop.sizes().await;
    assert_eq!(sizes["ingest.raw.v1.dlq"], 1);
    assert_eq!(sizes["ingest.raw.v1"], 4);
    let group = "poll-test-dlq";
    let mut c = shop
        .log
        .consumer(group, &[&mindset_topics::RAW_PAYLOADS_DLQ.spec])
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..20 {
        got.extend(c.poll(10, Duration::from_millis(100)).await.unwrap());
        if !got.is_empty() {
            break;
        }
    }
    let m = &got[0];
    assert_eq!(m.key, b"shop-1|woocommerce/orders|802");
    let reason = String::from_utf8(m.header("mindset.dlq.reason").unwrap().to_vec()).unwrap();
    assert!(reason.contains("currency"), "{reason}");
    assert_eq!(m.header("mindset.dlq.app"), Some(&b"mindset-poll"[..]));
    let body: Value = serde_json::from_slice(&m.value).unwrap();
    assert_eq!(body["id"], 802);
    // The cursor moved past it: a restart does not dead-letter it again.
    let again = woocommerce::poll_once(&config, &shop.log.producer().unwrap())
        .await
        .unwrap();
    assert_eq!((again.filed, again.dead_lettered), (0, 0));
    assert_eq!(shop.sizes().await, sizes);
}

#[tokio::test]
async fn mindset_poll_reads_every_configured_store_from_the_secrets_file() {
    let (_mock, base) = shopify_mock(ShopifyMock {
        orders: six_orders(),
        customers: vec![shopify_customer()],
        ..ShopifyMock::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.toml");
    std::fs::write(
        &secrets,
        format!(
            "[tenants.acme]\ncurrency = \"USD\"\n[tenants.acme.shopify_api]\nshop_url = \"{base}\"\naccess_token = \"{TOKEN}\"\nleak_per_second = 40.0\n"
        ),
    )
    .unwrap();
    let mut config = mindset_pipeline::config::Config::defaults();
    config.data_dir = dir.path().join("data");
    mindset::cli::poll(&config, &secrets, None, None)
        .await
        .unwrap();
    let count = |config: &mindset_pipeline::config::Config| {
        let config = config.clone();
        async move {
            let log = config.open_log().unwrap();
            let n: u64 = log
                .end_offsets(&CUSTOMER_EVENTS.spec)
                .await
                .unwrap()
                .iter()
                .sum();
            n
        }
    };
    let first = count(&config).await;
    assert!(first >= 6, "six orders (and a customer) filed, got {first}");
    assert!(config.data_dir.join("cursors").read_dir().unwrap().count() >= 1);
    // Again: the cursor says everything is filed.
    mindset::cli::poll(&config, &secrets, Some("acme"), None)
        .await
        .unwrap();
    assert_eq!(count(&config).await, first);
    // An unknown tenant, and a file without API credentials, are refused with the reason.
    let err = mindset::cli::poll(&config, &secrets, Some("nobody"), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no tenant \"nobody\""), "{err}");
    std::fs::write(
        &secrets,
        "[tenants.acme.track]\nwrite_keys = [\"wk_0123456789abcdef\"]\n",
    )
    .unwrap();
    let err = mindset::cli::poll(&config, &secrets, None, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("shopify_api"), "{err}");
}
