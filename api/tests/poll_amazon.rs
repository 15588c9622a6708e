//! The Amazon SP-API Orders v0 poller against Stoplight Prism serving Amazon's official
//! `ordersV0.json` model (`shared/platforms/amazon_sp_api/models`), installed in
//! `tests/platforms` by `infra/setup.sh --broker`:
//!
//! - `prism mock`: Prism answers with the model's own examples and validates every request
//!   against the model (an invalid one gets a `400`/`422` and a logged violation);
//! - `prism proxy --errors` in front of a local axum mock that pages over three `NextToken`
//!   pages, throttles, fails and refuses: every request and every response is validated
//!   against the model on the way (a violation becomes a `422`/`500` and a logged error).
//!
//! The Login with Amazon token endpoint is a local mock that counts the exchanges. Events are
//! filed into an embedded log in a temporary directory.

mod support;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use axum::{
    Form, Json, Router,
    extract::{Path as UrlPath, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use mindset::poll::{
    Decision, PollError, PollSettings, RetryPolicy,
    amazon::{AccessTokens, AmazonConfig, UsagePlan},
};
use mindset_pipeline::Log;
use mindset_schemas::{CanonicalEvent, Payload, RawPayload};
use mindset_topics::{CUSTOMER_EVENTS, RAW_PAYLOADS, RAW_PAYLOADS_DLQ, TopicSpec, ValueCodec};
use serde_json::{Value, json};

const TENANT: &str = "seller-1";
/// 2026-01-01T00:00:00Z
const NOW: i64 = 1_767_225_600_000;
const MARKETPLACE: &str = "ATVPDKIKX0DER";
const CLIENT_ID: &str = "amzn1.application-oa2-client.test";
const CLIENT_SECRET: &str = "lwa-secret";
const REFRESH: &str = "Atzr|refresh-test";
const EXAMPLE_ORDER: &str = "902-3159896-1390916";

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/platforms/amazon_sp_api")
        .join(rel)
}

fn shared_json(rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(shared(rel)).unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The log

struct Seller {
    dir: tempfile::TempDir,
    log: Log,
    clock: Arc<AtomicI64>,
}

impl Seller {
    async fn new() -> Seller {
        let dir = tempfile::tempdir().unwrap();
        let log = support::open_log(dir.path()).await;
        Seller {
            dir,
            log,
            clock: Arc::new(AtomicI64::new(NOW)),
        }
    }

    fn cursors(&self) -> PathBuf {
        self.dir.path().join("cursors")
    }

    async fn sizes(&self) -> BTreeMap<&'static str, u64> {
        support::sizes(&self.log).await
    }

    async fn read_records(&self, topic: &TopicSpec) -> Vec<mindset_pipeline::Message> {
        support::records(&self.log, topic).await
    }

    async fn read<V: ValueCodec>(&self, topic: &TopicSpec) -> Vec<V> {
        self.read_records(topic)
            .await
            .iter()
            .map(|m| V::decode_value(&m.value).unwrap())
            .collect()
    }

    async fn events(&self) -> Vec<CanonicalEvent> {
        let mut all = self.read::<CanonicalEvent>(&CUSTOMER_EVENTS.spec).await;
        all.sort_by(|a, b| a.event_id.cmp(&b.event_id));
        all
    }

    async fn raws(&self) -> Vec<RawPayload> {
        let mut r = self.read::<RawPayload>(&RAW_PAYLOADS.spec).await;
        r.sort_by(|a, b| a.raw_id.cmp(&b.raw_id));
        r
    }

    fn config(&self, endpoint: &str, lwa: SocketAddr) -> AmazonConfig {
        let mut s = PollSettings::new(TENANT, self.cursors());
        s.retry = RetryPolicy {
            max_attempts: 4,
            base_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            max_retry_after: Duration::from_secs(5),
        };
        let clock = self.clock.clone();
        s.clock = Arc::new(move || clock.load(Ordering::SeqCst));
        let mut c = AmazonConfig::new(
            CLIENT_ID,
            CLIENT_SECRET,
            REFRESH,
            vec![MARKETPLACE.into()],
            s,
        );
        c.endpoint = endpoint.to_owned();
        c.token_url = format!("http://{lwa}/auth/o2/token");
        // The documented plans would space getOrders a minute apart once the burst is spent.
        c.get_orders = UsagePlan {
            rate: 200.0,
            burst: 20,
        };
        c.get_order_items = UsagePlan {
            rate: 200.0,
            burst: 30,
        };
        c
    }
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

// ---------------------------------------------------------------------------------------------
// Login with Amazon mock

#[derive(Default)]
struct LwaMock {
    exchanges: u32,
    /// The access tokens issued, newest last.
    issued: Vec<String>,
}

type SharedLwa = Arc<Mutex<LwaMock>>;

async fn lwa_token(
    State(lwa): State<SharedLwa>,
    headers: HeaderMap,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        ct.starts_with("application/x-www-form-urlencoded"),
        "LWA content type {ct:?}"
    );
    let expected = BTreeMap::from([
        ("grant_type".to_owned(), "refresh_token".to_owned()),
        ("refresh_token".to_owned(), REFRESH.to_owned()),
        ("client_id".to_owned(), CLIENT_ID.to_owned()),
        ("client_secret".to_owned(), CLIENT_SECRET.to_owned()),
    ]);
    if form != expected {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client", "error_description": "Client authentication failed"})),
        )
            .into_response();
    }
    let mut m = lwa.lock().unwrap();
    m.exchanges += 1;
    let token = format!("Atza|access-{}", m.exchanges);
    m.issued.push(token.clone());
    Json(json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": 3600,
        "refresh_token": REFRESH,
    }))
    .into_response()
}

async fn lwa() -> (SocketAddr, SharedLwa) {
    let state = SharedLwa::default();
    let app = Router::new()
        .route("/auth/o2/token", post(lwa_token))
        .with_state(state.clone());
    (serve(app).await, state)
}

// ---------------------------------------------------------------------------------------------
// Prism

/// A Prism process on a free port, killed when dropped.
struct Prism {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Prism {
    async fn start(args: &[&str], log_dir: &Path) -> Prism {
        let bin = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/platforms/node_modules/.bin/prism");
        assert!(
            bin.exists(),
            "{} is missing: run `infra/setup.sh --broker` (npm ci in tests/platforms)",
            bin.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = log_dir.join(format!("prism-{port}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let mut child = Command::new(&bin)
            .args(args)
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        for _ in 0..600 {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "prism exited ({status}) before listening:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("Prism is listening")
                && tokio::net::TcpStream::connect(addr).await.is_ok()
            {
                return Prism { child, addr, log };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = child.kill();
        panic!(
            "prism did not listen within 60 s:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// Lines where Prism found a request or a response that does not match the model.
    fn violations(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| {
                l.contains("Violation")
                    || l.contains("did not pass the validation")
                    || l.contains("terminated with error")
            })
            .map(str::to_owned)
            .collect()
    }

    /// The number of requests Prism received.
    fn received(&self) -> usize {
        self.log().matches("Request received").count()
    }
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn notices(decisions: &[Decision]) -> Vec<&str> {
    decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Notice { message, .. } => Some(message.as_str()),
            _ => None,
        })
        .collect()
}

fn order_of(ev: &CanonicalEvent) -> &mindset_schemas::OrderPlaced {
    match &ev.payload {
        Payload::OrderPlaced(o) => o,
        other => panic!("not OrderPlaced: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// (a) prism mock on the official model

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prism_mock_of_the_official_model_accepts_every_request() {
    let seller = Seller::new().await;
    let model = shared("models/ordersV0.json");
    let prism = Prism::start(&["mock", model.to_str().unwrap()], seller.dir.path()).await;
    let (lwa_addr, lwa) = lwa().await;
    let config = seller.config(&prism.url(), lwa_addr);
    let mut tokens = AccessTokens::new();

    let stats =
        mindset::poll::amazon::poll_once(&config, &mut tokens, &seller.log.producer().unwrap())
            .await
            .unwrap();
    assert_eq!(prism.violations(), Vec::<String>::new(), "{}", prism.log());
    // The static example always carries the same NextToken: each listing stops at the repeat.
    // getOrders: page, NextToken page; getOrderItems: page, NextToken page; plus the exchange.
    assert_eq!((stats.requests, stats.pages), (5, 2));
    assert_eq!(prism.received(), 4);
    let n = notices(&stats.decisions);
    assert_eq!(
        n.iter()
            .filter(|m| m.starts_with("/orders/v0/orders: NextToken repeats"))
            .count(),
        1,
        "{n:?}"
    );
    assert_eq!(
        n.iter()
            .filter(|m| m.starts_with(&format!(
                "/orders/v0/orders/{EXAMPLE_ORDER}/orderItems: a NextToken page repeats"
            )))
            .count(),
        1,
        "{n:?}"
    );
    assert!(
        n.iter()
            .any(|m| m.contains("x-amzn-RateLimit-Limit \"string\" is not a rate")),
        "Prism fills declared headers with \"string\": {n:?}"
    );
    assert_eq!(lwa.lock().unwrap().exchanges, 1);
    // The same order on both pages is filed once.
    assert_eq!(
        (stats.objects, stats.already_seen, stats.dead_lettered),
        (2, 1, 1)
    );

    // The model's two examples are different orders (902-… listed, 903-… items): the join
    // refuses to mix them, so the order is dead-lettered, its buyer never filed.
    let dead = seller.read_records(&RAW_PAYLOADS_DLQ.spec).await;
    assert_eq!(dead.len(), 1);
    let reason = dead[0]
        .headers
        .iter()
        .find(|(k, _)| k == mindset_pipeline::shell::DLQ_REASON)
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .unwrap();
    assert!(
        reason.contains("is \"903-1671087-0812628\", expected \"902-3159896-1390916\""),
        "{reason}"
    );
    let body: Value = serde_json::from_slice(&dead[0].value).unwrap();
    let example = shared_json("examples/ordersV0.getOrders.200.example.json");
    assert_eq!(body["payload"], example["payload"]["Orders"][0]);
    assert_eq!(
        body["getOrderItems"],
        json!([shared_json(
            "examples/ordersV0.getOrderItems.200.example.json"
        )])
    );
    let sizes = seller.sizes().await;
    assert_eq!(sizes[RAW_PAYLOADS.spec.name], 0);
    assert_eq!(sizes[CUSTOMER_EVENTS.spec.name], 0);
    // The dead letter keeps the order: the cursor moves past it.
    let cursor = stats.cursors[0].1.clone().unwrap();
    assert_eq!(cursor.updated_at, "2017-01-20T19:49:35Z");
    assert_eq!(cursor.ids.iter().collect::<Vec<_>>(), [EXAMPLE_ORDER]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prism_mock_example_order_files_order_placed_field_by_field() {
    let seller = Seller::new().await;
    // The official model with one change: the getOrderItems example names the getOrders
    // example's order, in USD (its JPY amounts have cents, which JPY money cannot have).
    let mut model = shared_json("models/ordersV0.json");
    let items_example = &mut model["paths"]["/orders/v0/orders/{orderId}/orderItems"]["get"]["responses"]
        ["200"]["examples"]["application/json"];
    assert_eq!(
        items_example["payload"]["AmazonOrderId"],
        "903-1671087-0812628"
    );
    let patched = serde_json::to_string(items_example)
        .unwrap()
        .replace("903-1671087-0812628", EXAMPLE_ORDER)
        .replace("\"JPY\"", "\"USD\"");
    *items_example = serde_json::from_str(&patched).unwrap();
    let model_path = seller.dir.path().join("ordersV0.matched.json");
    std::fs::write(&model_path, serde_json::to_vec(&model).unwrap()).unwrap();
    let prism = Prism::start(&["mock", model_path.to_str().unwrap()], seller.dir.path()).await;
    let (lwa_addr, lwa) = lwa().await;
    let config = seller.config(&prism.url(), lwa_addr);
    let mut tokens = AccessTokens::new();
    let producer = seller.log.producer().unwrap();

    let stats = mindset::poll::amazon::poll_once(&config, &mut tokens, &producer)
        .await
        .unwrap();
    assert_eq!(prism.violations(), Vec::<String>::new(), "{}", prism.log());
    assert_eq!((stats.filed, stats.events, stats.dead_lettered), (1, 2, 0));

    // What the connector makes of the two examples, joined directly.
    let orders_page =
        std::fs::read(shared("examples/ordersV0.getOrders.200.example.json")).unwrap();
    let ctx = mindset_connectors::Context::new(TENANT, NOW);
    let direct = mindset_connectors::amazon::order_placed(
        &orders_page,
        EXAMPLE_ORDER,
        &[patched.as_bytes()],
        &ctx,
    )
    .unwrap();
    let buyer = mindset_connectors::amazon::normalise("getOrders", &orders_page, &ctx).unwrap();
    let events = seller.events().await;
    let mut expected: Vec<CanonicalEvent> = buyer.events.into_iter().chain(direct.events).collect();
    expected.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    assert_eq!(events, expected);

    let placed = events
        .iter()
        .find(|e| matches!(e.payload, Payload::OrderPlaced(_)))
        .unwrap();
    assert_eq!(placed.occurred_at, 1_484_941_775_000); // PurchaseDate 2017-01-20T19:49:35Z
    assert_eq!(
        placed.customer_key.as_deref(),
        Some("email:user@example.com")
    );
    assert_eq!(placed.source_id, EXAMPLE_ORDER);
    let o = order_of(placed);
    assert_eq!(
        (o.order_id.as_str(), o.currency.as_str()),
        (EXAMPLE_ORDER, "USD")
    );
    let lines: Vec<_> = o
        .lines
        .iter()
        .map(|l| {
            (
                l.product_id.as_str(),
                l.sku.as_deref(),
                l.quantity,
                l.unit_price_minor,
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("BT0093TELA", Some("CBA_OTF_1"), 1, 2_599),
            ("BCTU1104UEFB", Some("CBA_OTF_5"), 2, 898)
        ]
    );
    assert_eq!(
        (
            o.subtotal_minor,
            o.discount_minor,
            o.shipping_minor,
            o.tax_minor,
            o.total_minor
        ),
        (4_394, 0, 126, 0, 4_520)
    );
    assert_eq!(o.discount_codes, ["FREESHIP"]);
    assert_eq!(o.financial_status, "pending"); // OrderStatus Pending
    assert!(!o.guest);

    // One raw payload: the listed order as a getOrder response, its items alongside.
    let raws = seller.raws().await;
    assert_eq!(raws.len(), 1);
    assert_eq!(raws[0].source, "getOrder");
    assert_eq!(raws[0].platform, "amazon");
    assert_eq!(
        raws[0].headers.get("x-mindset-poll").map(String::as_str),
        Some("amazon GET /orders/v0/orders")
    );
    let body: Value = serde_json::from_slice(&raws[0].body).unwrap();
    let example = shared_json("examples/ordersV0.getOrders.200.example.json");
    assert_eq!(body["payload"], example["payload"]["Orders"][0]);
    assert_eq!(
        body["getOrderItems"],
        json!([serde_json::from_str::<Value>(&patched).unwrap()])
    );

    // Restart from the saved cursor (a new process: no cached token): only the cursor's order
    // comes back, already filed; no getOrderItems, nothing written.
    let before = seller.sizes().await;
    let received = prism.received();
    let mut fresh = AccessTokens::new();
    let again = mindset::poll::amazon::poll_once(&config, &mut fresh, &producer)
        .await
        .unwrap();
    assert_eq!((again.filed, again.already_seen), (0, 2));
    assert_eq!(
        prism.received() - received,
        2,
        "getOrders and its NextToken page only"
    );
    assert_eq!(seller.sizes().await, before);
    assert_eq!(lwa.lock().unwrap().exchanges, 2);
    assert_eq!(prism.violations(), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// (b) prism proxy --errors in front of a scripted SP-API mock

#[derive(Default)]
struct SpMock {
    orders: Vec<Value>,
    /// Item pages per order id (each a list of items).
    items: BTreeMap<String, Vec<Vec<Value>>>,
    /// (path, query, access token) per request.
    seen: Vec<(String, BTreeMap<String, String>, Option<String>)>,
    /// getOrders answers by getOrders request number (1-based), instead of the real one.
    orders_script: BTreeMap<usize, Scripted>,
    /// getOrderItems answers by getOrderItems request number (1-based).
    items_script: BTreeMap<usize, Scripted>,
    /// Access tokens refused (revoked).
    revoked: Vec<String>,
    lwa: SharedLwa,
}

type SharedSp = Arc<Mutex<SpMock>>;

/// A scripted answer: status, headers, JSON body.
type Scripted = (u16, Vec<(&'static str, &'static str)>, Value);

const PAGE: usize = 2;

fn order(id: &str, updated: &str, email: &str) -> Value {
    json!({
        "AmazonOrderId": id,
        "SellerOrderId": format!("S-{id}"),
        "PurchaseDate": "2025-12-01T10:00:00Z",
        "LastUpdateDate": updated,
        "OrderStatus": "Unshipped",
        "SalesChannel": "Amazon.com",
        "MarketplaceId": MARKETPLACE,
        "OrderTotal": {"CurrencyCode": "USD", "Amount": "30.00"},
        "BuyerInfo": {"BuyerEmail": email, "BuyerName": "Ann Lee"},
        "ShippingAddress": {"City": "Seattle", "CountryCode": "US"}
    })
}

fn item(n: u32, price: &str) -> Value {
    json!({
        "ASIN": format!("B00000000{n}"),
        "OrderItemId": format!("item-{n}"),
        "SellerSKU": format!("SKU-{n}"),
        "Title": format!("Thing {n}"),
        "QuantityOrdered": 1,
        "ItemPrice": {"CurrencyCode": "USD", "Amount": price}
    })
}

fn ms(t: &str) -> i64 {
    mindset_connectors::common::rfc3339_millis(t).unwrap()
}

fn scripted((status, headers, body): (u16, Vec<(&'static str, &'static str)>, Value)) -> Response {
    let mut res = (StatusCode::from_u16(status).unwrap(), Json(body)).into_response();
    for (k, v) in headers {
        res.headers_mut().insert(k, v.parse().unwrap());
    }
    res
}

fn unauthorized(details: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        [("x-amzn-RequestId", "a8c8d99a-6ab5-11e8-b0f8-19363980175b")],
        Json(json!({"errors": [{
            "code": "Unauthorized",
            "message": "Access to requested resource is denied.",
            "details": details
        }]})),
    )
        .into_response()
}

/// The token check of both operations: the newest LWA token, not revoked.
fn token_problem(m: &SpMock, headers: &HeaderMap) -> Option<Response> {
    let token = headers
        .get("x-amz-access-token")
        .map(|v| v.to_str().unwrap().to_owned());
    let issued = m.lwa.lock().unwrap().issued.clone();
    match token {
        None => Some(unauthorized(
            "Access token is missing in the request header.",
        )),
        Some(t) if !issued.contains(&t) || m.revoked.contains(&t) => Some(unauthorized(
            "The access token you provided is revoked, malformed or invalid.",
        )),
        Some(_) => None,
    }
}

async fn sp_orders(
    State(mock): State<SharedSp>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut m = mock.lock().unwrap();
    let token = headers
        .get("x-amz-access-token")
        .map(|v| v.to_str().unwrap().to_owned());
    m.seen.push(("getOrders".into(), q.clone(), token));
    let n = m.seen.iter().filter(|s| s.0 == "getOrders").count();
    if let Some(answer) = m.orders_script.get(&n).cloned() {
        return scripted(answer);
    }
    if let Some(refused) = token_problem(&m, &headers) {
        return refused;
    }
    // The filters come on the first page; NextToken pages carry MarketplaceIds and the token
    // (which holds the filters and the offset).
    let (after, before, offset) = match q.get("NextToken") {
        Some(t) => {
            let parts: Vec<&str> = t.split('|').collect();
            (
                ms(parts[0]),
                ms(parts[1]),
                parts[2].parse::<usize>().unwrap(),
            )
        }
        None => (ms(&q["LastUpdatedAfter"]), ms(&q["LastUpdatedBefore"]), 0),
    };
    let mut matching: Vec<Value> = m
        .orders
        .iter()
        .filter(|o| {
            let u = ms(o["LastUpdateDate"].as_str().unwrap());
            after <= u && u <= before
        })
        .cloned()
        .collect();
    matching.sort_by_key(|o| ms(o["LastUpdateDate"].as_str().unwrap()));
    let page: Vec<Value> = matching.iter().skip(offset).take(PAGE).cloned().collect();
    let mut payload = json!({"Orders": page});
    if offset + PAGE < matching.len() {
        let fmt = |v: i64| {
            chrono::DateTime::from_timestamp_millis(v)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        };
        payload["NextToken"] = json!(format!("{}|{}|{}", fmt(after), fmt(before), offset + PAGE));
    }
    (
        [
            ("x-amzn-RateLimit-Limit", "150"),
            ("x-amzn-RequestId", "11111111-2222-3333-4444-555555555555"),
        ],
        Json(json!({ "payload": payload })),
    )
        .into_response()
}

async fn sp_items(
    State(mock): State<SharedSp>,
    UrlPath(order_id): UrlPath<String>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut m = mock.lock().unwrap();
    let token = headers
        .get("x-amz-access-token")
        .map(|v| v.to_str().unwrap().to_owned());
    m.seen
        .push((format!("getOrderItems {order_id}"), q.clone(), token));
    let n = m
        .seen
        .iter()
        .filter(|s| s.0.starts_with("getOrderItems"))
        .count();
    if let Some(answer) = m.items_script.get(&n).cloned() {
        return scripted(answer);
    }
    if let Some(refused) = token_problem(&m, &headers) {
        return refused;
    }
    let Some(pages) = m.items.get(&order_id) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"errors": [{"code": "NotFound", "message": "no such order"}]})),
        )
            .into_response();
    };
    let i: usize = q.get("NextToken").map_or(0, |t| t.parse().unwrap());
    let mut payload = json!({"AmazonOrderId": order_id, "OrderItems": pages[i]});
    if i + 1 < pages.len() {
        payload["NextToken"] = json!((i + 1).to_string());
    }
    (
        [("x-amzn-RateLimit-Limit", "0.5")],
        Json(json!({ "payload": payload })),
    )
        .into_response()
}

struct Proxied {
    prism: Prism,
    sp: SharedSp,
    lwa: SharedLwa,
    lwa_addr: SocketAddr,
}

async fn proxied(seller: &Seller) -> Proxied {
    let (lwa_addr, lwa) = lwa().await;
    let sp = Arc::new(Mutex::new(SpMock {
        lwa: lwa.clone(),
        ..SpMock::default()
    }));
    let app = Router::new()
        .route("/orders/v0/orders", get(sp_orders))
        .route("/orders/v0/orders/{order_id}/orderItems", get(sp_items))
        .with_state(sp.clone());
    let upstream = serve(app).await;
    let model = shared("models/ordersV0.json");
    let prism = Prism::start(
        &[
            "proxy",
            "--errors",
            model.to_str().unwrap(),
            &format!("http://{upstream}"),
        ],
        seller.dir.path(),
    )
    .await;
    Proxied {
        prism,
        sp,
        lwa,
        lwa_addr,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prism_proxy_pages_throttles_retries_and_resumes_from_the_cursor() {
    let seller = Seller::new().await;
    let p = proxied(&seller).await;
    {
        let mut m = p.sp.lock().unwrap();
        m.orders = vec![
            order(
                "111-0000001-0000001",
                "2025-12-02T08:00:00Z",
                "a@marketplace.amazon.com",
            ),
            order(
                "111-0000002-0000002",
                "2025-12-03T08:00:00Z",
                "b@marketplace.amazon.com",
            ),
            order(
                "111-0000003-0000003",
                "2025-12-04T08:00:00Z",
                "c@marketplace.amazon.com",
            ),
            order(
                "111-0000004-0000004",
                "2025-12-05T08:00:00Z",
                "d@marketplace.amazon.com",
            ),
            order(
                "111-0000005-0000005",
                "2025-12-05T08:00:00Z",
                "e@marketplace.amazon.com",
            ),
        ];
        for (i, o) in m.orders.clone().iter().enumerate() {
            let id = o["AmazonOrderId"].as_str().unwrap().to_owned();
            let pages = if i == 1 {
                vec![vec![item(1, "10.00")], vec![item(2, "20.00")]]
            } else {
                vec![vec![item(1, "10.00"), item(2, "20.00")]]
            };
            m.items.insert(id, pages);
        }
        // getOrders #2 (the second page) is throttled once; getOrderItems #3 fails once.
        m.orders_script.insert(
            2,
            (
                429,
                vec![("Retry-After", "0.05"), ("x-amzn-RateLimit-Limit", "150")],
                json!({"errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota for the requested resource."}]}),
            ),
        );
        m.items_script.insert(
            3,
            (
                503,
                vec![],
                json!({"errors": [{"code": "ServiceUnavailable", "message": "Try again."}]}),
            ),
        );
    }
    let config = seller.config(&p.prism.url(), p.lwa_addr);
    let producer = seller.log.producer().unwrap();
    let mut tokens = AccessTokens::new();
    let stats = mindset::poll::amazon::poll_once(&config, &mut tokens, &producer)
        .await
        .unwrap();
    assert_eq!(
        p.prism.violations(),
        Vec::<String>::new(),
        "{}",
        p.prism.log()
    );
    assert_eq!(p.lwa.lock().unwrap().exchanges, 1);
    assert_eq!((stats.pages, stats.filed, stats.events), (3, 5, 10));
    assert_eq!(stats.dead_lettered, 0);

    // Request shapes, as the mock saw them through Prism.
    let seen = p.sp.lock().unwrap().seen.clone();
    let orders: Vec<&BTreeMap<String, String>> = seen
        .iter()
        .filter(|s| s.0 == "getOrders")
        .map(|s| &s.1)
        .collect();
    assert_eq!(orders.len(), 4, "3 pages + the throttled retry");
    let first: Vec<&str> = orders[0].keys().map(String::as_str).collect();
    assert_eq!(
        first,
        [
            "LastUpdatedAfter",
            "LastUpdatedBefore",
            "MarketplaceIds",
            "MaxResultsPerPage"
        ]
    );
    assert_eq!(orders[0]["MarketplaceIds"], MARKETPLACE);
    assert_eq!(orders[0]["LastUpdatedAfter"], "2025-12-02T00:00:00Z"); // now - 30 days
    assert_eq!(orders[0]["LastUpdatedBefore"], "2025-12-31T23:57:00Z"); // now - 3 min
    for q in &orders[1..] {
        let keys: Vec<&str> = q.keys().map(String::as_str).collect();
        assert_eq!(keys, ["MarketplaceIds", "NextToken"]);
    }
    assert!(seen.iter().all(|s| s.2.as_deref() == Some("Atza|access-1")));
    let items: Vec<&str> = seen
        .iter()
        .filter(|s| s.0.starts_with("getOrderItems"))
        .map(|s| s.0.as_str())
        .collect();
    assert_eq!(
        items.len(),
        7,
        "5 orders, one with 2 pages, one 503 retried"
    );

    // The decisions: the header's rate adopted for each operation, the 429 and the 503.
    let retries: Vec<(Option<u16>, Duration)> = stats
        .decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Retry { status, wait, .. } => Some((*status, *wait)),
            _ => None,
        })
        .collect();
    assert_eq!(
        retries,
        [
            (Some(503), Duration::from_millis(20)),
            (Some(429), Duration::from_millis(50))
        ]
    );
    let n = notices(&stats.decisions);
    assert!(
        n.iter()
            .any(|m| m.starts_with("getOrders: x-amzn-RateLimit-Limit says 150/s")),
        "{n:?}"
    );
    assert!(
        n.iter()
            .any(|m| m.starts_with("getOrderItems: x-amzn-RateLimit-Limit says 0.5/s")),
        "{n:?}"
    );

    // The order with two item pages has both lines.
    let events = seller.events().await;
    let placed: Vec<&mindset_schemas::OrderPlaced> = events
        .iter()
        .filter(|e| matches!(e.payload, Payload::OrderPlaced(_)))
        .map(order_of)
        .collect();
    assert_eq!(placed.len(), 5);
    assert!(
        placed
            .iter()
            .all(|o| o.lines.len() == 2 && o.total_minor == 3_000)
    );
    let raws = seller.raws().await;
    let two_pages = raws
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .find(|b| b["payload"]["AmazonOrderId"] == "111-0000002-0000002")
        .unwrap();
    assert_eq!(two_pages["getOrderItems"].as_array().unwrap().len(), 2);
    assert_eq!(two_pages["getOrderItems"][0]["payload"]["NextToken"], "1");

    // The cursor: the last instant and both orders at it.
    let cursor = stats.cursors[0].1.clone().unwrap();
    assert_eq!(cursor.updated_at, "2025-12-05T08:00:00Z");
    assert_eq!(
        cursor.ids.iter().map(String::as_str).collect::<Vec<_>>(),
        ["111-0000004-0000004", "111-0000005-0000005"]
    );

    // A second poll with the same token: no exchange; a new order at the cursor's instant is
    // new, the two there are not.
    let before = seller.sizes().await;
    let first_request = p.sp.lock().unwrap().seen.len();
    p.sp.lock().unwrap().orders.push(order(
        "111-0000006-0000006",
        "2025-12-05T08:00:00Z",
        "f@marketplace.amazon.com",
    ));
    p.sp.lock()
        .unwrap()
        .items
        .insert("111-0000006-0000006".into(), vec![vec![item(1, "30.00")]]);
    let again = mindset::poll::amazon::poll_once(&config, &mut tokens, &producer)
        .await
        .unwrap();
    assert_eq!(
        p.lwa.lock().unwrap().exchanges,
        1,
        "the cached token serves"
    );
    assert_eq!((again.filed, again.already_seen), (1, 2));
    let last = p.sp.lock().unwrap().seen.clone();
    assert_eq!(
        last[first_request].1["LastUpdatedAfter"],
        "2025-12-05T08:00:00Z"
    );
    assert_eq!(last.last().unwrap().0, "getOrderItems 111-0000006-0000006");
    let after = seller.sizes().await;
    assert_eq!(
        after[RAW_PAYLOADS.spec.name],
        before[RAW_PAYLOADS.spec.name] + 1
    );

    // Restart (new process, new token): from the persisted cursor nothing is new.
    let mut restarted = AccessTokens::new();
    let requests_before = p.sp.lock().unwrap().seen.len();
    let third = mindset::poll::amazon::poll_once(&config, &mut restarted, &producer)
        .await
        .unwrap();
    assert_eq!((third.filed, third.already_seen), (0, 3));
    assert_eq!(
        p.sp.lock().unwrap().seen.len() - requests_before,
        2,
        "two getOrders pages, no getOrderItems"
    );
    assert_eq!(seller.sizes().await, after);
    assert_eq!(p.lwa.lock().unwrap().exchanges, 2);

    // The token's lifetime (3600 s) minus the margin (300 s) later, the next poll exchanges
    // again; before that, it does not.
    seller
        .clock
        .fetch_add(3_600_000 - 300_000 - 1_000, Ordering::SeqCst);
    mindset::poll::amazon::poll_once(&config, &mut restarted, &producer)
        .await
        .unwrap();
    assert_eq!(p.lwa.lock().unwrap().exchanges, 2);
    seller.clock.fetch_add(1_000, Ordering::SeqCst);
    mindset::poll::amazon::poll_once(&config, &mut restarted, &producer)
        .await
        .unwrap();
    assert_eq!(p.lwa.lock().unwrap().exchanges, 3);
    assert_eq!(seller.sizes().await, after);
    assert_eq!(
        p.prism.violations(),
        Vec::<String>::new(),
        "{}",
        p.prism.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prism_proxy_403_stops_the_poll_and_writes_nothing() {
    let seller = Seller::new().await;
    let p = proxied(&seller).await;
    {
        let mut m = p.sp.lock().unwrap();
        m.orders = vec![order(
            "111-0000001-0000001",
            "2025-12-02T08:00:00Z",
            "a@marketplace.amazon.com",
        )];
        m.items
            .insert("111-0000001-0000001".into(), vec![vec![item(1, "30.00")]]);
    }
    let config = seller.config(&p.prism.url(), p.lwa_addr);
    let producer = seller.log.producer().unwrap();
    let mut tokens = AccessTokens::new();

    // A token from an earlier poll that was revoked: exchanged again once, then it works.
    mindset::poll::amazon::poll_once(&config, &mut tokens, &producer)
        .await
        .unwrap();
    let filed = seller.sizes().await;
    p.sp.lock().unwrap().revoked.push("Atza|access-1".into());
    let stats = mindset::poll::amazon::poll_once(&config, &mut tokens, &producer)
        .await
        .unwrap();
    assert_eq!(p.lwa.lock().unwrap().exchanges, 2);
    assert!(
        notices(&stats.decisions)
            .iter()
            .any(|m| m
                .contains("403 on /orders/v0/orders with an access token from an earlier poll")),
        "{:?}",
        stats.decisions
    );

    // Every token refused: the poll stops with Amazon's error, writes nothing, keeps the cursor.
    let cursor_file = seller
        .cursors()
        .join(format!("amazon.{TENANT}.orders.json"));
    let cursor = std::fs::read(&cursor_file).unwrap();
    {
        let mut m = p.sp.lock().unwrap();
        m.orders.push(order(
            "111-0000002-0000002",
            "2025-12-03T08:00:00Z",
            "b@marketplace.amazon.com",
        ));
        m.revoked.push("Atza|access-2".into());
        m.revoked.push("Atza|access-3".into());
    }
    let err = mindset::poll::amazon::poll_once(&config, &mut tokens, &producer)
        .await
        .unwrap_err();
    match &err {
        PollError::Unauthorized {
            platform,
            status,
            path,
            message,
        } => {
            assert_eq!(
                (*platform, *status, path.as_str()),
                ("amazon", 403, "/orders/v0/orders")
            );
            assert_eq!(
                message,
                "Unauthorized: Access to requested resource is denied. (The access token you \
                 provided is revoked, malformed or invalid.)"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("Unauthorized"), "{err}");
    assert_eq!(seller.sizes().await, filed);
    assert_eq!(std::fs::read(&cursor_file).unwrap(), cursor);
    assert_eq!(
        p.prism.violations(),
        Vec::<String>::new(),
        "{}",
        p.prism.log()
    );

    // LWA refusing the refresh token also stops the poll, before any SP-API request.
    let mut bad = config.clone();
    bad.client_secret = "wrong".into();
    let seen = p.sp.lock().unwrap().seen.len();
    let err = mindset::poll::amazon::poll_once(&bad, &mut AccessTokens::new(), &producer)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PollError::Unauthorized { status: 401, path, message, .. }
            if path == "/auth/o2/token" && message.contains("invalid_client: Client authentication failed")),
        "{err:?}"
    );
    assert_eq!(p.sp.lock().unwrap().seen.len(), seen);
}
