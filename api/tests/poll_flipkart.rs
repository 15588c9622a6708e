//! The Flipkart Seller API v3 poller against a local axum mock of the documented endpoints
//! (`shared/platforms/flipkart`): the client-credentials token (`GET …/oauth/token` with Basic
//! auth), the shipment search (`POST /sellers/v3/shipments/filter`, `hasMore`/`nextPageUrl`
//! paging followed with GET) and the shipment details (`GET /sellers/v3/shipments/{ids}`). The
//! mock filters by `filter.type`/`states` and `modifiedDate`, expires tokens, throttles and
//! fails on request. Events are filed into an embedded log in a temporary directory.

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    body::Body,
    extract::State,
    http::{Request, StatusCode},
    response::{IntoResponse, Response},
    routing::any,
};
use http_body_util::BodyExt;
use mindset::poll::{
    Decision, PollError, PollSettings, RetryPolicy,
    flipkart::{AccessTokens, FlipkartConfig},
};
use mindset_connectors::Context;
use mindset_pipeline::Log;
use mindset_schemas::{CanonicalEvent, Payload, RawPayload};
use mindset_topics::{CUSTOMER_EVENTS, RAW_PAYLOADS, RAW_PAYLOADS_DLQ, TopicSpec, ValueCodec};
use serde_json::{Value, json};

const TENANT: &str = "fk-seller";
/// 2026-01-01T00:00:00Z
const NOW: i64 = 1_767_225_600_000;
const APP_ID: &str = "6113ca4a-fe05-11e4-a322-1697f925ec7b";
const APP_SECRET: &str = "669a57f4-fe05-11e4-a322-1697f925ec7b";

fn shared_json(rel: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/platforms/flipkart")
        .join(rel);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

fn ms(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .unwrap()
        .timestamp_millis()
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

    async fn read<V: ValueCodec>(&self, topic: &TopicSpec) -> Vec<V> {
        support::records(&self.log, topic)
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
        self.read::<RawPayload>(&RAW_PAYLOADS.spec).await
    }

    fn config(&self, mock: SocketAddr) -> FlipkartConfig {
        let mut s = PollSettings::new(TENANT, self.cursors());
        s.retry = RetryPolicy {
            max_attempts: 4,
            base_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            max_retry_after: Duration::from_secs(5),
        };
        s.requests_per_second = std::num::NonZeroU32::new(500).unwrap();
        s.burst = std::num::NonZeroU32::new(50).unwrap();
        let clock = self.clock.clone();
        s.clock = Arc::new(move || clock.load(Ordering::SeqCst));
        let mut c = FlipkartConfig::new(APP_ID, APP_SECRET, s);
        c.api_base = format!("http://{mock}/sellers");
        c.token_url = format!("http://{mock}/oauth-service/oauth/token");
        c.page_size = 2;
        c
    }
}

// ---------------------------------------------------------------------------------------------
// The mock

/// One request as the mock saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
    auth: String,
    body: Value,
}

/// A scripted answer for the next request whose path starts with `prefix`.
struct Fault {
    method: &'static str,
    prefix: &'static str,
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
    body: Value,
}

#[derive(Default)]
struct Mock {
    /// The seller's shipments, API shape.
    shipments: Vec<Value>,
    /// Tokens accepted now.
    valid: BTreeSet<String>,
    issued: u32,
    expires_in: u64,
    /// Paging tokens handed out: token → (remaining matching ids, page size).
    pages: BTreeMap<String, (Vec<String>, usize)>,
    faults: Vec<Fault>,
    seen: Vec<Seen>,
    /// `nextPageUrl`s point here instead (a foreign host).
    foreign_next: Option<String>,
}

type Shared = Arc<Mutex<Mock>>;

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

fn states_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "preDispatch" => &[
            "APPROVED",
            "PACKING_IN_PROGRESS",
            "FORM_FAILED",
            "PACKED",
            "READY_TO_DISPATCH",
        ],
        "postDispatch" => &["PICKUP_COMPLETE", "SHIPPED", "DELIVERED"],
        other => panic!("filter type {other:?}"),
    }
}

/// A page of `ids`, with a `nextPageUrl` when more remain.
fn page(m: &mut Mock, ids: Vec<String>, size: usize) -> Response {
    let (now, rest) = ids.split_at(size.min(ids.len()));
    let shipments: Vec<Value> = now
        .iter()
        .map(|id| {
            m.shipments
                .iter()
                .find(|s| s["shipmentId"] == id.as_str())
                .unwrap()
                .clone()
        })
        .collect();
    let mut body = json!({"hasMore": !rest.is_empty(), "shipments": shipments});
    if !rest.is_empty() {
        let token = format!("page-{}", m.pages.len() + 1);
        m.pages.insert(token.clone(), (rest.to_vec(), size));
        body["nextPageUrl"] = json!(match &m.foreign_next {
            Some(host) => format!("{host}/sellers/v3/shipments/filter?nextToken={token}"),
            None => format!("/v3/shipments/filter?nextToken={token}"),
        });
    }
    Json(body).into_response()
}

async fn handle(State(mock): State<Shared>, req: Request<Body>) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        auth: parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    };
    let mut m = mock.lock().unwrap();
    m.seen.push(seen.clone());
    if let Some(i) = m
        .faults
        .iter()
        .position(|f| f.method == seen.method && seen.path.starts_with(f.prefix))
    {
        let f = m.faults.remove(i);
        let mut r = (StatusCode::from_u16(f.status).unwrap(), Json(f.body)).into_response();
        for (k, v) in f.headers {
            r.headers_mut().insert(k, v.parse().unwrap());
        }
        return r;
    }
    if seen.path == "/oauth-service/oauth/token" {
        assert_eq!(
            seen.method, "GET",
            "oauth.json: a GET with query parameters"
        );
        assert_eq!(seen.query, "grant_type=client_credentials&scope=Seller_Api");
        if seen.auth != basic(APP_ID, APP_SECRET) {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "invalid_client", "error_description": "Bad client credentials"})),
            )
                .into_response();
        }
        m.issued += 1;
        let token = format!("token-{}", m.issued);
        m.valid.insert(token.clone());
        return Json(json!({
            "access_token": token,
            "token_type": "bearer",
            "expires_in": m.expires_in,
            "scope": "Seller_Api",
        }))
        .into_response();
    }
    let token = seen.auth.strip_prefix("Bearer ").unwrap_or("");
    if !m.valid.contains(token) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_token", "error_description": "Access token expired"})),
        )
            .into_response();
    }
    match (seen.method.as_str(), seen.path.as_str()) {
        ("POST", "/sellers/v3/shipments/filter") => {
            let f = &seen.body["filter"];
            let kind = f["type"].as_str().unwrap();
            let states: Vec<&str> = f["states"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect();
            assert_eq!(states, states_of(kind));
            let from = ms(f["modifiedDate"]["from"].as_str().unwrap());
            let to = ms(f["modifiedDate"]["to"].as_str().unwrap());
            let size = seen.body["pagination"]["pageSize"].as_u64().unwrap() as usize;
            let mut matching: Vec<(i64, String)> = m
                .shipments
                .iter()
                .filter(|s| {
                    let at = ms(s["updatedAt"].as_str().unwrap());
                    let state = s["orderItems"][0]["status"].as_str().unwrap_or("");
                    at >= from && at <= to && states_of(kind).contains(&state)
                })
                .map(|s| {
                    (
                        ms(s["updatedAt"].as_str().unwrap()),
                        s["shipmentId"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            matching.sort();
            let ids = matching.into_iter().map(|(_, id)| id).collect();
            page(&mut m, ids, size)
        }
        ("GET", "/sellers/v3/shipments/filter") => {
            let token = seen.query.strip_prefix("nextToken=").unwrap().to_owned();
            let (ids, size) = m.pages.get(&token).cloned().expect("a token handed out");
            page(&mut m, ids, size)
        }
        ("GET", p) if p.starts_with("/sellers/v3/shipments/") => {
            let ids = p.trim_start_matches("/sellers/v3/shipments/");
            let shipments: Vec<Value> = ids
                .split(',')
                .filter_map(|id| {
                    m.shipments
                        .iter()
                        .find(|s| s["shipmentId"] == id)
                        .cloned()
                        .map(|mut s| {
                            // Details carry more than the listing; the poller files them.
                            s["detailed"] = json!(true);
                            s
                        })
                })
                .collect();
            Json(json!({"shipments": shipments})).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn mock() -> (SocketAddr, Shared) {
    let state = Shared::default();
    state.lock().unwrap().expires_in = 3_330_779;
    let app = Router::new()
        .route("/{*rest}", any(handle))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, state)
}

// ---------------------------------------------------------------------------------------------
// Shipments

/// The API shape of a `shipment_created` notification, field by field: the envelope's
/// `shipmentId` and `locationId`, and every attribute at the shipment's top level.
fn api_shipment_of(notification: &Value) -> Value {
    let a = &notification["attributes"];
    json!({
        "shipmentId": notification["shipmentId"],
        "locationId": notification["locationId"],
        "dispatchByDate": a["dispatchByDate"],
        "dispatchAfterDate": a["dispatchAfterDate"],
        "updatedAt": a["updatedAt"],
        "hold": a["hold"],
        "mps": a["mps"],
        "packagingPolicy": a["packagingPolicy"],
        "subShipments": a["subShipments"],
        "orderItems": a["orderItems"],
        "forms": a["forms"],
        "shipmentType": "NORMAL",
    })
}

/// A shipment of one order item.
fn shipment(id: &str, order: &str, updated: &str, status: &str, price: f64) -> Value {
    json!({
        "shipmentId": id,
        "locationId": "LOC1234",
        "updatedAt": updated,
        "hold": false,
        "mps": false,
        "subShipments": [],
        "orderItems": [{
            "orderItemId": format!("{order}-1"),
            "orderId": order,
            "orderDate": "2025-12-20T10:00:00.000+05:30",
            "paymentType": "PREPAID",
            "status": status,
            "quantity": 2,
            "fsn": format!("FSN{id}"),
            "sku": format!("SKU-{id}"),
            "listingId": format!("LST{id}"),
            "title": format!("Item {id}"),
            "packageIds": [],
            "priceComponents": {
                "sellingPrice": price,
                "totalPrice": price + 40.0,
                "shippingCharge": 40.0,
                "customerPrice": price + 40.0,
                "flipkartDiscount": 10.0
            },
            "is_replacement": false
        }],
        "forms": [],
    })
}

fn order_of(ev: &CanonicalEvent) -> &mindset_schemas::OrderPlaced {
    match &ev.payload {
        Payload::OrderPlaced(o) => o,
        other => panic!("not OrderPlaced: {other:?}"),
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

fn event_ids(events: &[CanonicalEvent]) -> BTreeSet<String> {
    events.iter().map(|e| e.event_id.clone()).collect()
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_reads_details_and_files_the_notification_events_field_by_field() {
    let seller = Seller::new().await;
    let (addr, mock) = mock().await;
    let created = shared_json("notifications/shipment_created.example.json");
    let example = api_shipment_of(&created);
    {
        let mut m = mock.lock().unwrap();
        m.shipments = vec![
            shipment("S-1", "OD-1", "2025-12-20T05:00:00.000Z", "APPROVED", 500.0),
            shipment("S-2", "OD-2", "2025-12-21T05:00:00.000Z", "PACKED", 250.5),
            // Outside the first poll's 30-day backfill.
            shipment("S-old", "OD-0", "2025-11-01T05:00:00.000Z", "APPROVED", 1.0),
            shipment("S-3", "OD-3", "2025-12-22T05:00:00.000Z", "SHIPPED", 99.0),
            // Updated inside the settle window: the next poll's.
            shipment("S-4", "OD-4", "2025-12-31T23:59:30.000Z", "APPROVED", 10.0),
        ];
        // The documented example, re-dated into the window.
        let mut ex = example.clone();
        ex["updatedAt"] = json!("2025-12-23T10:00:00.000+05:30");
        m.shipments.push(ex);
    }
    let config = seller.config(addr);
    let producer = seller.log.producer().unwrap();
    let mut tokens = AccessTokens::new();
    let stats = mindset::poll::flipkart::poll_once(&config, &mut tokens, &producer)
        .await
        .unwrap();

    // preDispatch: S-1, S-2, the example (3 shipments, 2 pages); postDispatch: S-3 (1 page).
    assert_eq!((stats.pages, stats.filed, stats.dead_lettered), (3, 4, 0));
    assert_eq!(stats.events, 4);
    assert_eq!(tokens.exchanges, 1, "one token for the whole poll");
    let seen = mock.lock().unwrap().seen.clone();
    let calls: Vec<String> = seen
        .iter()
        .map(|s| {
            format!(
                "{} {}{}",
                s.method,
                s.path,
                if s.query.is_empty() {
                    String::new()
                } else {
                    format!("?{}", s.query)
                }
            )
        })
        .collect();
    assert_eq!(
        calls,
        [
            "GET /oauth-service/oauth/token?grant_type=client_credentials&scope=Seller_Api",
            "POST /sellers/v3/shipments/filter",
            "GET /sellers/v3/shipments/S-1,S-2",
            "GET /sellers/v3/shipments/filter?nextToken=page-1",
            "GET /sellers/v3/shipments/d133588f-b0ac-443b-99b4-7ac8648a0f89",
            "POST /sellers/v3/shipments/filter",
            "GET /sellers/v3/shipments/S-3",
        ]
    );
    for s in &seen[1..] {
        assert_eq!(s.auth, "Bearer token-1");
    }
    // The window: 30 days back (1 s earlier, see the module docs) to now - settle (60 s).
    assert_eq!(
        seen[1].body,
        json!({
            "filter": {
                "type": "preDispatch",
                "states": states_of("preDispatch"),
                "modifiedDate": {"from": "2025-12-02T00:00:00.000Z", "to": "2025-12-31T23:59:00.000Z"}
            },
            "pagination": {"pageSize": 2}
        })
    );

    // The raw payloads are the details, as received.
    let raws = seller.raws().await;
    assert_eq!(raws.len(), 4);
    for r in &raws {
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["shipments"][0]["detailed"], true, "{v}");
        assert_eq!(r.source, "shipments");
        assert_eq!(
            r.headers.get("x-mindset-poll").map(String::as_str),
            Some("flipkart GET /v3/shipments")
        );
    }

    // The example shipment gives the events its shipment_created notification gives.
    let events = seller.events().await;
    let ctx = Context::new(TENANT, NOW);
    let notified = mindset_connectors::flipkart::normalise(
        "notification",
        &serde_json::to_vec(&created).unwrap(),
        &ctx,
    )
    .unwrap();
    assert_eq!(notified.events.len(), 1);
    let want = &notified.events[0];
    let got = events
        .iter()
        .find(|e| e.event_id == want.event_id)
        .expect("the notification's event id");
    assert_eq!(got.tenant_id, want.tenant_id);
    assert_eq!(got.platform, want.platform);
    assert_eq!(got.source_id, want.source_id);
    assert_eq!(got.customer_key, want.customer_key);
    assert_eq!(got.occurred_at, want.occurred_at);
    assert_eq!(got.payload, want.payload);
    // And what that is, from the example's fields.
    assert_eq!(got.source_id, "d133588f-b0ac-443b-99b4-7ac8648a0f89");
    assert_eq!(
        got.customer_key.as_deref(),
        Some("guest:flipkart:OD108833803073636000")
    );
    assert_eq!(got.occurred_at, ms("2017-04-06T18:15:57.000+05:30"));
    let o = order_of(got);
    assert_eq!(o.order_id, "OD108833803073636000");
    assert_eq!(o.currency, "INR");
    assert_eq!(
        (
            o.subtotal_minor,
            o.discount_minor,
            o.shipping_minor,
            o.tax_minor,
            o.total_minor
        ),
        (29_500, 0, 0, 0, 29_500)
    );
    assert_eq!(o.financial_status, "pending", "COD");
    assert!(o.guest);
    assert_eq!(o.lines.len(), 1);
    let l = &o.lines[0];
    assert_eq!(l.product_id, "DIAE777EDCWNZSPZ");
    assert_eq!(l.sku.as_deref(), Some("LKA041150"));
    assert_eq!(l.variant_id.as_deref(), Some("LSTDIAE777EDCWNZSPZQMLAT0"));
    assert_eq!(l.title, "Lokalart Pocket-size Journal Yellow LKA041150");
    assert_eq!(
        (l.quantity, l.unit_price_minor, l.discount_minor),
        (1, 29_500, 0)
    );

    // A generated shipment: prepaid, two units, Flipkart's discount and shipping.
    let s2 = events
        .iter()
        .find(|e| order_of(e).order_id == "OD-2")
        .unwrap();
    let o = order_of(s2);
    assert_eq!(s2.source_id, "S-2");
    assert_eq!(
        (
            o.subtotal_minor,
            o.discount_minor,
            o.shipping_minor,
            o.total_minor
        ),
        (25_050, 1_000, 4_000, 29_050)
    );
    assert_eq!(o.financial_status, "paid");
    assert_eq!(
        (o.lines[0].quantity, o.lines[0].unit_price_minor),
        (2, 12_525)
    );

    // The cursors: the latest updatedAt of each type and the ids at that instant.
    let cursor: Value = serde_json::from_slice(
        &std::fs::read(
            seller
                .cursors()
                .join(format!("flipkart.{TENANT}.pre-dispatch.json")),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(cursor["updated_at"], "2025-12-23T10:00:00.000+05:30");
    assert_eq!(
        cursor["ids"],
        json!(["d133588f-b0ac-443b-99b4-7ac8648a0f89"])
    );

    // Once settled, S-4 is filed by the next poll; nothing else is filed again, and the cached
    // token serves it.
    seller.clock.store(NOW + 120_000, Ordering::SeqCst);
    let stats = mindset::poll::flipkart::poll_once(&config, &mut tokens, &producer)
        .await
        .unwrap();
    assert_eq!((stats.filed, stats.already_seen), (1, 2), "{stats:?}");
    assert_eq!(tokens.exchanges, 1);
    let after = seller.events().await;
    assert_eq!(after.len(), 5);
    assert!(after.iter().any(|e| order_of(e).order_id == "OD-4"));
    assert!(!after.iter().any(|e| order_of(e).order_id == "OD-0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_placeholder_shipment_is_read_and_a_refused_one_dead_lettered() {
    let seller = Seller::new().await;
    let (addr, mock) = mock().await;
    // The docs' "Example (from schema)" shipment, as the search and details pages publish it.
    let doc = shared_json("api_examples/search-pre-dispatch-shipment-post.json");
    let mut placeholder = doc["examples"][0]["shipments"][0].clone();
    placeholder["updatedAt"] = json!("2025-12-20T00:00:00.000Z");
    let mut broken = shipment("S-bad", "OD-9", "2025-12-21T00:00:00.000Z", "APPROVED", 5.0);
    broken["orderItems"][0]
        .as_object_mut()
        .unwrap()
        .remove("orderId");
    mock.lock().unwrap().shipments = vec![placeholder, broken];
    let mut config = seller.config(addr);
    config.filter_types = vec![mindset::poll::flipkart::FilterType::PreDispatch];
    let producer = seller.log.producer().unwrap();
    let stats = mindset::poll::flipkart::poll_once(&config, &mut AccessTokens::new(), &producer)
        .await
        .unwrap();
    assert_eq!((stats.filed, stats.dead_lettered), (1, 1), "{stats:?}");
    // The example's only item is a free replacement (`is_replacement: true`): its raw payload is
    // kept, and it is no sale.
    let raws = seller.raws().await;
    assert_eq!(raws.len(), 1);
    let body: Value = serde_json::from_slice(&raws[0].body).unwrap();
    assert_eq!(body["shipments"][0]["shipmentId"], "string");
    assert!(seller.events().await.is_empty());
    let dead = support::records(&seller.log, &RAW_PAYLOADS_DLQ.spec).await;
    assert_eq!(dead.len(), 1);
    let reason = dead[0]
        .headers
        .iter()
        .find(|(k, _)| k == "mindset.dlq.reason")
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .unwrap();
    assert!(reason.contains("orderItems[].orderId"), "{reason}");
    let body: Value = serde_json::from_slice(&dead[0].value).unwrap();
    assert_eq!(
        body["shipments"][0]["shipmentId"], "S-bad",
        "the shipment, kept whole"
    );
    // The cursor moved past both: the refused shipment (the latest) is read again only to be
    // recognised.
    let again = mindset::poll::flipkart::poll_once(&config, &mut AccessTokens::new(), &producer)
        .await
        .unwrap();
    assert_eq!(
        (again.filed, again.dead_lettered, again.already_seen),
        (0, 0, 1)
    );

    // The same example shipment once its item is a sale: one OrderPlaced from its fields.
    {
        let mut m = mock.lock().unwrap();
        m.shipments[0]["orderItems"][0]["is_replacement"] = json!(false);
        m.shipments[0]["updatedAt"] = json!("2025-12-25T00:00:00.000Z");
    }
    let stats = mindset::poll::flipkart::poll_once(&config, &mut AccessTokens::new(), &producer)
        .await
        .unwrap();
    assert_eq!(stats.filed, 1);
    let events = seller.events().await;
    assert_eq!(events.len(), 1);
    let o = order_of(&events[0]);
    assert_eq!(
        (o.order_id.as_str(), events[0].source_id.as_str()),
        ("string", "string")
    );
    assert_eq!(
        (
            o.lines[0].product_id.as_str(),
            o.lines[0].quantity,
            o.total_minor
        ),
        ("string", 0, 0)
    );
    assert_eq!(events[0].occurred_at, ms("2024-06-07T09:55:17.484Z"));
    assert_eq!(o.financial_status, "pending", "paymentType COD");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_requested_again_once_and_a_refused_app_stops_the_poll() {
    let seller = Seller::new().await;
    let (addr, mock) = mock().await;
    mock.lock().unwrap().shipments = vec![
        shipment("S-1", "OD-1", "2025-12-20T05:00:00.000Z", "APPROVED", 1.0),
        shipment("S-2", "OD-2", "2025-12-21T05:00:00.000Z", "APPROVED", 2.0),
        shipment("S-3", "OD-3", "2025-12-22T05:00:00.000Z", "APPROVED", 3.0),
    ];
    let mut config = seller.config(addr);
    config.filter_types = vec![mindset::poll::flipkart::FilterType::PreDispatch];
    let producer = seller.log.producer().unwrap();
    let mut tokens = AccessTokens::new();
    mindset::poll::flipkart::poll_once(&config, &mut tokens, &producer)
        .await
        .unwrap();
    assert_eq!(tokens.exchanges, 1);

    // Flipkart expires the token: the 401 gets a new one and the request is sent again.
    {
        let mut m = mock.lock().unwrap();
        m.valid.clear();
        m.shipments.push(shipment(
            "S-5",
            "OD-5",
            "2025-12-30T05:00:00.000Z",
            "APPROVED",
            5.0,
        ));
    }
    let stats = mindset::poll::flipkart::poll_once(&config, &mut tokens, &producer)
        .await
        .unwrap();
    assert_eq!((tokens.exchanges, stats.filed), (2, 1));
    assert!(
        notices(&stats.decisions)
            .iter()
            .any(|n| n.contains("401 on /v3/shipments/filter")),
        "{:?}",
        stats.decisions
    );
    let auths: Vec<String> = mock.lock().unwrap().seen[5..]
        .iter()
        .map(|s| s.auth.clone())
        .collect();
    assert_eq!(
        auths,
        [
            "Bearer token-1".to_owned(),
            basic(APP_ID, APP_SECRET),
            "Bearer token-2".to_owned(),
            "Bearer token-2".to_owned(),
        ]
    );

    // Near the end of its life (expires_in by the poller's clock, less the margin) the token is
    // replaced before use, without a 401.
    seller
        .clock
        .store(NOW + 3_330_779_000 - 3_000_000, Ordering::SeqCst);
    let seen_before = mock.lock().unwrap().seen.len();
    mindset::poll::flipkart::poll_once(&config, &mut tokens, &producer)
        .await
        .unwrap();
    assert_eq!(tokens.exchanges, 3);
    assert_eq!(
        mock.lock().unwrap().seen[seen_before].path,
        "/oauth-service/oauth/token"
    );

    // A token refused on every try ends the poll; nothing is written, the cursor stays.
    let cursor_file = seller
        .cursors()
        .join(format!("flipkart.{TENANT}.pre-dispatch.json"));
    let cursor = std::fs::read(&cursor_file).unwrap();
    let sizes = support::sizes(&seller.log).await;
    {
        let mut m = mock.lock().unwrap();
        m.shipments.push(shipment(
            "S-6",
            "OD-6",
            "2026-02-01T05:00:00.000Z",
            "APPROVED",
            6.0,
        ));
        for _ in 0..2 {
            m.faults.push(Fault {
                method: "POST",
                prefix: "/sellers/v3/shipments/filter",
                status: 401,
                headers: vec![],
                body: json!({"error": "invalid_token", "error_description": "Access token expired"}),
            });
        }
    }
    let err = mindset::poll::flipkart::poll_once(&config, &mut tokens, &producer)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PollError::Unauthorized { status: 401, path, message, .. }
            if path == "/v3/shipments/filter" && message == "invalid_token: Access token expired"),
        "{err:?}"
    );
    assert_eq!(support::sizes(&seller.log).await, sizes);
    assert_eq!(std::fs::read(&cursor_file).unwrap(), cursor);

    // Wrong app credentials: the token request is refused, no API call is made.
    let mut bad = config.clone();
    bad.app_secret = "wrong".into();
    let seen = mock.lock().unwrap().seen.len();
    let err = mindset::poll::flipkart::poll_once(&bad, &mut AccessTokens::new(), &producer)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PollError::Unauthorized { status: 401, path, message, .. }
            if path == "/oauth-service/oauth/token" && message.contains("invalid_client: Bad client credentials")),
        "{err:?}"
    );
    assert_eq!(mock.lock().unwrap().seen.len(), seen + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_server_errors_are_retried_and_file_once() {
    let seller = Seller::new().await;
    let (addr, mock) = mock().await;
    {
        let mut m = mock.lock().unwrap();
        m.shipments = vec![
            shipment("S-1", "OD-1", "2025-12-20T05:00:00.000Z", "APPROVED", 1.0),
            shipment("S-2", "OD-2", "2025-12-21T05:00:00.000Z", "APPROVED", 2.0),
            shipment("S-3", "OD-3", "2025-12-22T05:00:00.000Z", "APPROVED", 3.0),
        ];
        let fault = |method, prefix, status, headers| Fault {
            method,
            prefix,
            status,
            headers,
            body: json!({"errors": [{"code": "X", "message": "try later"}]}),
        };
        m.faults = vec![
            fault(
                "POST",
                "/sellers/v3/shipments/filter",
                429,
                vec![("retry-after", "1")],
            ),
            fault("GET", "/sellers/v3/shipments/S-1", 503, vec![]),
            fault("GET", "/sellers/v3/shipments/S-1", 500, vec![]),
            fault("GET", "/sellers/v3/shipments/filter", 499, vec![]),
        ];
    }
    let mut config = seller.config(addr);
    config.filter_types = vec![mindset::poll::flipkart::FilterType::PreDispatch];
    let producer = seller.log.producer().unwrap();
    let stats = mindset::poll::flipkart::poll_once(&config, &mut AccessTokens::new(), &producer)
        .await
        .unwrap();
    let retries: Vec<(Option<u16>, u32, Duration)> = stats
        .decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Retry {
                status,
                attempt,
                wait,
                ..
            } => Some((*status, *attempt, *wait)),
            _ => None,
        })
        .collect();
    assert_eq!(
        retries,
        [
            (Some(429), 1, Duration::from_secs(1)),
            (Some(503), 1, Duration::from_millis(20)),
            (Some(500), 2, Duration::from_millis(40)),
            (Some(499), 1, Duration::from_millis(20)),
        ]
    );
    assert_eq!((stats.filed, stats.pages), (3, 2));
    assert_eq!(seller.events().await.len(), 3);

    // Past the retry budget: the poll stops, the cursor stays, and the next poll files the rest.
    let cursor_file = seller
        .cursors()
        .join(format!("flipkart.{TENANT}.pre-dispatch.json"));
    let cursor = std::fs::read(&cursor_file).unwrap();
    {
        let mut m = mock.lock().unwrap();
        m.shipments.push(shipment(
            "S-4",
            "OD-4",
            "2025-12-30T05:00:00.000Z",
            "APPROVED",
            4.0,
        ));
        for _ in 0..4 {
            m.faults.push(Fault {
                method: "POST",
                prefix: "/sellers/v3/shipments/filter",
                status: 503,
                headers: vec![],
                body: json!({}),
            });
        }
    }
    let err = mindset::poll::flipkart::poll_once(&config, &mut AccessTokens::new(), &producer)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PollError::RetriesExhausted { attempts: 4, .. }),
        "{err:?}"
    );
    assert_eq!(std::fs::read(&cursor_file).unwrap(), cursor);
    let stats = mindset::poll::flipkart::poll_once(&config, &mut AccessTokens::new(), &producer)
        .await
        .unwrap();
    assert_eq!((stats.filed, stats.already_seen), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_from_the_cursor_neither_misses_nor_duplicates() {
    let seller = Seller::new().await;
    let (addr, mock) = mock().await;
    let same = "2025-12-22T05:00:00.000Z";
    mock.lock().unwrap().shipments = vec![
        shipment("S-1", "OD-1", "2025-12-20T05:00:00.000Z", "APPROVED", 1.0),
        shipment("S-2", "OD-2", same, "APPROVED", 2.0),
        shipment("S-3", "OD-3", same, "PACKED", 3.0),
    ];
    let mut config = seller.config(addr);
    config.filter_types = vec![mindset::poll::flipkart::FilterType::PreDispatch];
    let producer = seller.log.producer().unwrap();

    // The first poll dies on its second page after filing the first one.
    {
        let mut m = mock.lock().unwrap();
        for _ in 0..4 {
            m.faults.push(Fault {
                method: "GET",
                prefix: "/sellers/v3/shipments/filter",
                status: 500,
                headers: vec![],
                body: json!({}),
            });
        }
    }
    let err = mindset::poll::flipkart::poll_once(&config, &mut AccessTokens::new(), &producer)
        .await
        .unwrap_err();
    assert!(matches!(err, PollError::RetriesExhausted { .. }), "{err:?}");
    assert!(
        !seller
            .cursors()
            .join(format!("flipkart.{TENANT}.pre-dispatch.json"))
            .exists(),
        "no cursor saved by a failed poll"
    );
    let partial = event_ids(&seller.events().await);
    assert_eq!(partial.len(), 2, "page one was filed");

    // A new process (new tokens) reads it all again: the same ids, nothing missing.
    let stats = mindset::poll::flipkart::poll_once(&config, &mut AccessTokens::new(), &producer)
        .await
        .unwrap();
    assert_eq!(stats.filed, 3);
    let all = event_ids(&seller.events().await);
    assert_eq!(all.len(), 3);
    assert!(partial.is_subset(&all));

    // Another shipment updated in the cursor's own second, and S-1 updated again: both are read
    // (the search starts one second before the cursor); S-2 and S-3 are not filed again.
    {
        let mut m = mock.lock().unwrap();
        m.shipments
            .push(shipment("S-4", "OD-4", same, "APPROVED", 4.0));
        m.shipments[0]["updatedAt"] = json!("2025-12-28T05:00:00.000Z");
    }
    let raws_before = seller.raws().await.len();
    let stats = mindset::poll::flipkart::poll_once(&config, &mut AccessTokens::new(), &producer)
        .await
        .unwrap();
    assert_eq!((stats.filed, stats.already_seen), (2, 2), "{stats:?}");
    let from = mock
        .lock()
        .unwrap()
        .seen
        .iter()
        .rev()
        .find(|s| s.method == "POST")
        .unwrap()
        .body["filter"]["modifiedDate"]["from"]
        .clone();
    assert_eq!(from, "2025-12-22T04:59:59.000Z");
    let raws = seller.raws().await;
    assert_eq!(raws.len(), raws_before + 2);
    let distinct: BTreeSet<String> = raws.iter().map(|r| r.raw_id.clone()).collect();
    assert_eq!(
        distinct.len(),
        5,
        "S-1 twice (two versions), S-2, S-3, S-4 (the failed poll's page refiled under the same ids)"
    );
    let events = seller.events().await;
    let ids = event_ids(&events);
    assert_eq!(
        ids.len(),
        4,
        "S-1's new version has its first version's event id"
    );
    // A poll with nothing new files nothing.
    let stats = mindset::poll::flipkart::poll_once(&config, &mut AccessTokens::new(), &producer)
        .await
        .unwrap();
    assert_eq!(stats.filed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_that_points_elsewhere_or_nowhere_stops_the_poll() {
    let seller = Seller::new().await;
    let (addr, mock) = mock().await;
    {
        let mut m = mock.lock().unwrap();
        m.shipments = vec![
            shipment("S-1", "OD-1", "2025-12-20T05:00:00.000Z", "APPROVED", 1.0),
            shipment("S-2", "OD-2", "2025-12-21T05:00:00.000Z", "APPROVED", 2.0),
            shipment("S-3", "OD-3", "2025-12-22T05:00:00.000Z", "APPROVED", 3.0),
        ];
        m.foreign_next = Some("https://elsewhere.example.com".into());
    }
    let mut config = seller.config(addr);
    config.filter_types = vec![mindset::poll::flipkart::FilterType::PreDispatch];
    let producer = seller.log.producer().unwrap();
    let err = mindset::poll::flipkart::poll_once(&config, &mut AccessTokens::new(), &producer)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PollError::Protocol { reason, .. } if reason.contains("names another host")),
        "{err:?}"
    );

    // hasMore without a nextPageUrl.
    {
        let mut m = mock.lock().unwrap();
        m.foreign_next = None;
        m.faults.push(Fault {
            method: "POST",
            prefix: "/sellers/v3/shipments/filter",
            status: 200,
            headers: vec![],
            body: json!({"hasMore": true, "shipments": []}),
        });
    }
    let err = mindset::poll::flipkart::poll_once(&config, &mut AccessTokens::new(), &producer)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PollError::Protocol { reason, .. } if reason.contains("no nextPageUrl")),
        "{err:?}"
    );

    // A nextPageUrl under the base's own path is taken from the host, and the poll completes.
    {
        let mut m = mock.lock().unwrap();
        m.foreign_next = Some(String::new());
    }
    let stats = mindset::poll::flipkart::poll_once(&config, &mut AccessTokens::new(), &producer)
        .await
        .unwrap();
    assert_eq!(stats.pages, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipments_the_details_call_refuses_or_leaves_out_are_filed_as_listed() {
    let seller = Seller::new().await;
    let (addr, mock) = mock().await;
    {
        let mut m = mock.lock().unwrap();
        m.shipments = vec![
            shipment("S-1", "OD-1", "2025-12-20T05:00:00.000Z", "APPROVED", 1.0),
            shipment("S-2", "OD-2", "2025-12-21T05:00:00.000Z", "APPROVED", 2.0),
            shipment("S-3", "OD-3", "2025-12-22T05:00:00.000Z", "APPROVED", 3.0),
        ];
        // Page one's details are refused; page two's answer leaves its shipment out.
        m.faults.push(Fault {
            method: "GET",
            prefix: "/sellers/v3/shipments/S-1,S-2",
            status: 422,
            headers: vec![],
            body: json!({"errors": [{"code": "INVALID", "message": "unknown shipment"}]}),
        });
        m.faults.push(Fault {
            method: "GET",
            prefix: "/sellers/v3/shipments/S-3",
            status: 200,
            headers: vec![],
            body: json!({"shipments": []}),
        });
    }
    let mut config = seller.config(addr);
    config.filter_types = vec![mindset::poll::flipkart::FilterType::PreDispatch];
    let producer = seller.log.producer().unwrap();
    let stats = mindset::poll::flipkart::poll_once(&config, &mut AccessTokens::new(), &producer)
        .await
        .unwrap();
    assert_eq!((stats.filed, stats.dead_lettered), (3, 0));
    let n = notices(&stats.decisions);
    assert_eq!(n.len(), 2, "{n:?}");
    assert!(
        n[0].contains("422 unknown shipment; filing the 2 shipments as listed"),
        "{}",
        n[0]
    );
    assert!(
        n[1].contains("shipment S-3 is missing from the details answer"),
        "{}",
        n[1]
    );
    let raws = seller.raws().await;
    assert_eq!(raws.len(), 3);
    for r in &raws {
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(
            v["shipments"][0].get("detailed").is_none(),
            "the listed version: {v}"
        );
    }
    assert_eq!(seller.events().await.len(), 3);
}
