//! The connections API (`mindset::connect`) against mock Shopify, WooCommerce, Amazon SP-API
//! (with Login with Amazon) and Flipkart Seller API servers (axum on 127.0.0.1:0): detection,
//! validation, encryption at rest, webhook registration and removal, backfill and the Shopify
//! OAuth install flow.

use std::{
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Body,
    extract::State,
    http::{HeaderMap, Method, Request, StatusCode},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use mindset::connect::{self, ConnectConfig, ConnectState, ShopifyApp};
use mindset_pipeline::{Log, embedded::EmbeddedLog};
use serde_json::{Value, json};
use sha2::Sha256;
use tower::ServiceExt;

const ADMIN: &str = "admin-token-123";
const GOOD_TOKEN: &str = "shpat_good_token_9f3a";
const PLAIN_TOKEN: &str = "opaque_good_token_77zz";
const CK: &str = "ck_good_key_1234";
const CS: &str = "cs_good_secret_5678";
const PUBLIC: &str = "https://mindset.example.com";
const APP_ID: &str = "app-client-id";
const APP_SECRET: &str = "app-client-secret";
const OAUTH_CODE: &str = "the-grant-code";

/// One request as a mock saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    query: String,
    token: Option<String>,
    auth: Option<String>,
    body: Value,
}

type Log2 = Arc<Mutex<Vec<Seen>>>;

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn record(seen: &Log2, req: Request<Body>) -> Seen {
    let (parts, body) = req.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let h = |n: &str| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let s = Seen {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        token: h("x-shopify-access-token"),
        auth: h("authorization"),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    };
    seen.lock().unwrap().push(s.clone());
    s
}

/// Shopify: shop.json (200 with a known token, else 401), webhooks.json, empty orders and
/// customers, the OAuth token exchange; 404 elsewhere (no /wp-json/).
async fn shopify_mock() -> (Log2, String) {
    let seen: Log2 = Arc::default();
    async fn handle(State(seen): State<Log2>, req: Request<Body>) -> Response {
        let s = record(&seen, req).await;
        let good = matches!(s.token.as_deref(), Some(GOOD_TOKEN | PLAIN_TOKEN));
        match (s.method.as_str(), s.path.as_str()) {
            ("GET", "/admin/api/2026-07/shop.json") if good => {
                Json(json!({"shop": {"name": "Acme", "currency": "EUR"}})).into_response()
            }
            ("POST", "/admin/oauth/access_token") => {
                if s.body["client_id"] == APP_ID
                    && s.body["client_secret"] == APP_SECRET
                    && s.body["code"] == OAUTH_CODE
                {
                    Json(json!({"access_token": GOOD_TOKEN, "scope": "read_orders,read_customers"}))
                        .into_response()
                } else {
                    (
                        StatusCode::BAD_REQUEST,
                        Json(json!({"error": "invalid_request"})),
                    )
                        .into_response()
                }
            }
            (_, p) if p.starts_with("/admin/api/") && !good => (
                StatusCode::UNAUTHORIZED,
                Json(json!({"errors": "[API] Invalid API key or access token"})),
            )
                .into_response(),
            ("POST", "/admin/api/2026-07/webhooks.json") => {
                let n = seen.lock().unwrap().len();
                (
                    StatusCode::CREATED,
                    Json(json!({"webhook": {"id": 1000 + n, "topic": s.body["webhook"]["topic"]}})),
                )
                    .into_response()
            }
            ("DELETE", p) if p.starts_with("/admin/api/2026-07/webhooks/") => {
                Json(json!({})).into_response()
            }
            ("GET", "/admin/api/2026-07/orders.json") => {
                Json(json!({"orders": []})).into_response()
            }
            ("GET", "/admin/api/2026-07/customers.json") => {
                Json(json!({"customers": []})).into_response()
            }
            _ => StatusCode::NOT_FOUND.into_response(),
        }
    }
    let app = Router::new()
        .route("/{*rest}", any(handle))
        .with_state(seen.clone());
    let addr = serve(app).await;
    (seen, format!("http://{addr}"))
}

fn basic(k: &str, s: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{k}:{s}"))
    )
}

/// WooCommerce: /wp-json/ with the wc/v3 namespace, orders and customers (Basic auth, else 401
/// WP error), webhooks (created, and deleted unless the switch says to fail).
async fn woo_mock() -> (Log2, String) {
    let (seen, base, _) = woo_mock_with_switch().await;
    (seen, base)
}

#[derive(Clone)]
struct WooState {
    seen: Log2,
    /// The webhook id whose DELETE fails with a 500.
    fail_delete: Arc<Mutex<Option<String>>>,
}

async fn woo_mock_with_switch() -> (Log2, String, Arc<Mutex<Option<String>>>) {
    let seen: Log2 = Arc::default();
    let fail_delete: Arc<Mutex<Option<String>>> = Arc::default();
    async fn handle(State(w): State<WooState>, req: Request<Body>) -> Response {
        let seen = w.seen;
        let s = record(&seen, req).await;
        let good = s.auth.as_deref() == Some(basic(CK, CS).as_str())
            || s.auth.as_deref() == Some(basic("plain_key", "plain_secret").as_str());
        let mut headers = HeaderMap::new();
        headers.insert("x-wp-total", "0".parse().unwrap());
        headers.insert("x-wp-totalpages", "1".parse().unwrap());
        match (s.method.as_str(), s.path.as_str()) {
            ("GET", "/wp-json/") => {
                Json(json!({"name": "Shop", "namespaces": ["oembed/1.0", "wc/v3", "wp/v2"]}))
                    .into_response()
            }
            (_, p) if p.starts_with("/wp-json/wc/") && !good => (
                StatusCode::UNAUTHORIZED,
                Json(json!({"code": "woocommerce_rest_cannot_view",
                    "message": "Sorry, you cannot list resources.", "data": {"status": 401}})),
            )
                .into_response(),
            ("GET", "/wp-json/wc/v3/orders" | "/wp-json/wc/v3/customers") => {
                (headers, Json(json!([]))).into_response()
            }
            ("POST", "/wp-json/wc/v3/webhooks") => {
                let n = seen.lock().unwrap().len();
                (
                    StatusCode::CREATED,
                    Json(json!({"id": 500 + n, "topic": s.body["topic"]})),
                )
                    .into_response()
            }
            ("DELETE", p) if p.starts_with("/wp-json/wc/v3/webhooks/") => {
                let id = p.rsplit('/').next().unwrap().to_owned();
                if w.fail_delete.lock().unwrap().as_deref() == Some(id.as_str()) {
                    return (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Json(json!({"code": "internal", "message": "database gone"})),
                    )
                        .into_response();
                }
                Json(json!({"id": id.parse::<u64>().unwrap()})).into_response()
            }
            _ => StatusCode::NOT_FOUND.into_response(),
        }
    }
    let app = Router::new()
        .route("/{*rest}", any(handle))
        .with_state(WooState {
            seen: seen.clone(),
            fail_delete: fail_delete.clone(),
        });
    let addr = serve(app).await;
    (seen, format!("http://{addr}"), fail_delete)
}

/// A server that is neither platform.
async fn other_mock() -> String {
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/{*rest}", any(|| async { StatusCode::NOT_FOUND }));
    format!("http://{}", serve(app).await)
}

struct Env {
    _dir: tempfile::TempDir,
    data: std::path::PathBuf,
    state: ConnectState,
    app: Router,
}

async fn env(shopify_override: Option<&str>) -> Env {
    let shopify_override = shopify_override.map(str::to_owned);
    env_with(move |c| c.shopify_base_override = shopify_override).await
}

async fn env_with(adjust: impl FnOnce(&mut ConnectConfig)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = Log::Embedded(EmbeddedLog::open(dir.path().join("log.redb")).unwrap());
    log.ensure_topics(&mindset_topics::all()).await.unwrap();
    let mut config = ConnectConfig::new(&data, ADMIN, PUBLIC);
    adjust(&mut config);
    config.shopify_app = Some(ShopifyApp {
        client_id: APP_ID.into(),
        client_secret: APP_SECRET.into(),
        scopes: "read_orders,read_customers".into(),
        redirect_uri: "https://mindset.example.com/api/connections/shopify/callback".into(),
    });
    let state = ConnectState::new(config, log.producer().unwrap()).unwrap();
    let app = connect::router(state.clone());
    Env {
        _dir: dir,
        data,
        state,
        app,
    }
}

impl Env {
    async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn connect(&self, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self
            .call("POST", "/api/connections", Some(ADMIN), Some(body))
            .await;
        (s, v)
    }

    fn files(&self) -> Vec<std::path::PathBuf> {
        let dir = self.data.join("connections");
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Wait (bounded) until the backfill of `id` has ended; returns its status.
    async fn backfill_end(&self, id: &str) -> Value {
        for _ in 0..200 {
            let (_, _, v) = self
                .call("GET", &format!("/api/connections/{id}"), Some(ADMIN), None)
                .await;
            if v["backfill"]["state"] != "running" {
                return v["backfill"].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the backfill of {id} did not end");
    }
}

fn seen_paths(seen: &Log2) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopify_by_url_validates_registers_webhooks_and_backfills() {
    let (seen, base) = shopify_mock().await;
    let env = env(Some(&base)).await;
    let (status, v) = env
        .connect(json!({"shop": "https://acme.myshopify.com", "access_token": PLAIN_TOKEN}))
        .await;
    assert!(
        status == StatusCode::ACCEPTED || status == StatusCode::CREATED,
        "{status} {v}"
    );
    assert_eq!(v["platform"], "shopify");
    assert_eq!(v["detected_by"], "url");
    assert_eq!(v["tenant"], "acme");
    assert_eq!(v["shop_name"], "Acme");
    assert_eq!(v["currency"], "EUR");
    assert_eq!(v["backfill_started"], true);

    // The validation call carried the token.
    let log = seen.lock().unwrap().clone();
    let shop = log
        .iter()
        .find(|s| s.path == "/admin/api/2026-07/shop.json")
        .unwrap();
    assert_eq!(shop.token.as_deref(), Some(PLAIN_TOKEN));

    // One webhook per topic, each with the tenant's address and the token.
    let hooks: Vec<&Seen> = log
        .iter()
        .filter(|s| s.method == Method::POST && s.path == "/admin/api/2026-07/webhooks.json")
        .collect();
    let topics: Vec<&str> = hooks
        .iter()
        .map(|s| s.body["webhook"]["topic"].as_str().unwrap())
        .collect();
    assert_eq!(topics, connect::SHOPIFY_TOPICS);
    for h in &hooks {
        assert_eq!(
            h.body["webhook"]["address"],
            "https://mindset.example.com/webhooks/shopify/acme"
        );
        assert_eq!(h.body["webhook"]["format"], "json");
        assert_eq!(h.token.as_deref(), Some(PLAIN_TOKEN));
    }
    let outcomes: Vec<&str> = v["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["registered"; 7]);
    assert!(v["webhooks"][0]["id"].as_str().is_some());

    // The backfill polled orders and customers.
    let id = v["id"].as_str().unwrap().to_owned();
    let end = env.backfill_end(&id).await;
    assert_eq!(end["state"], "done", "{end}");
    let paths = seen_paths(&seen);
    assert!(
        paths.contains(&"GET /admin/api/2026-07/orders.json".to_owned()),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"GET /admin/api/2026-07/customers.json".to_owned()),
        "{paths:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detection_by_key_shape() {
    let (_, shop) = shopify_mock().await;
    let (_, woo) = woo_mock().await;
    let env = env(None).await;
    let (s, v) = env
        .connect(
            json!({"url": shop, "tenant": "t1", "access_token": GOOD_TOKEN,
            "register_webhooks": false, "backfill": false}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        (v["platform"].as_str(), v["detected_by"].as_str()),
        (Some("shopify"), Some("credentials"))
    );
    let (s, v) = env
        .connect(
            json!({"url": woo, "tenant": "t2", "consumer_key": CK, "consumer_secret": CS,
            "register_webhooks": false, "backfill": false}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        (v["platform"].as_str(), v["detected_by"].as_str()),
        (Some("woocommerce"), Some("credentials"))
    );
    assert_eq!(v["backfill_started"], false);
    assert!(v["webhooks"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detection_by_probe_and_explicit_platform() {
    let (_, shop) = shopify_mock().await;
    let (_, woo) = woo_mock().await;
    let env = env(None).await;
    let (s, v) = env
        .connect(json!({"url": shop, "access_token": PLAIN_TOKEN, "register_webhooks": false, "backfill": false}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        (v["platform"].as_str(), v["detected_by"].as_str()),
        (Some("shopify"), Some("probe"))
    );
    let (s, v) = env
        .connect(
            json!({"url": woo, "consumer_key": "plain_key", "consumer_secret": "plain_secret",
            "register_webhooks": false, "backfill": false}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        (v["platform"].as_str(), v["detected_by"].as_str()),
        (Some("woocommerce"), Some("probe"))
    );

    // Neither platform answers: 422 with the reason, nothing stored.
    let other = other_mock().await;
    let before = env.files().len();
    let (s, v) = env
        .connect(json!({"url": other, "access_token": PLAIN_TOKEN}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let why = v["error"].as_str().unwrap();
    assert!(
        why.contains("cannot tell the platform") && why.contains("/wp-json/ answered 404"),
        "{why}"
    );
    assert_eq!(env.files().len(), before);

    // The explicit platform wins over the key shape (and then the platform refuses the call).
    let (s, v) = env
        .connect(json!({"url": woo, "platform": "shopify", "access_token": GOOD_TOKEN}))
        .await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("shopify answered 404"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_store_nothing() {
    let (_, shop) = shopify_mock().await;
    let (_, woo) = woo_mock().await;
    let env = env(None).await;
    let (s, v) = env
        .connect(json!({"url": shop, "access_token": "shpat_wrong"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("credentials refused by shopify: 401"),
        "{v}"
    );
    let (s, v) = env
        .connect(json!({"url": woo, "consumer_key": "ck_wrong", "consumer_secret": "cs_wrong"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let why = v["error"].as_str().unwrap();
    assert!(
        why.starts_with("credentials refused by woocommerce: 401"),
        "{why}"
    );
    assert!(why.contains("Sorry, you cannot list resources."), "{why}");
    assert!(env.files().is_empty(), "{:?}", env.files());
    let (_, _, list) = env.call("GET", "/api/connections", Some(ADMIN), None).await;
    assert_eq!(list["connections"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_encrypted_listed_without_secrets_and_deleted() {
    let (seen, woo) = woo_mock().await;
    let env = env(None).await;
    let (s, v) = env
        .connect(
            json!({"url": woo, "tenant": "wshop", "consumer_key": CK, "consumer_secret": CS,
            "webhook_secret": "whsec_tenant_secret"}),
        )
        .await;
    assert!(
        s == StatusCode::ACCEPTED || s == StatusCode::CREATED,
        "{s} {v}"
    );
    let id = v["id"].as_str().unwrap().to_owned();

    // WooCommerce webhooks: every topic, the tenant's delivery URL and secret, Basic auth.
    let hooks: Vec<Seen> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.method == Method::POST && s.path == "/wp-json/wc/v3/webhooks")
        .cloned()
        .collect();
    let topics: Vec<&str> = hooks
        .iter()
        .map(|h| h.body["topic"].as_str().unwrap())
        .collect();
    assert_eq!(topics, connect::WOO_TOPICS);
    for h in &hooks {
        assert_eq!(
            h.body["delivery_url"],
            "https://mindset.example.com/webhooks/woocommerce/wshop"
        );
        assert_eq!(h.body["secret"], "whsec_tenant_secret");
        assert_eq!(h.auth.as_deref(), Some(basic(CK, CS).as_str()));
    }
    assert_eq!(env.backfill_end(&id).await["state"], "done");
    assert!(seen_paths(&seen).contains(&"GET /wp-json/wc/v3/customers".to_owned()));
    let validation = seen
        .lock()
        .unwrap()
        .iter()
        .find(|s| s.path == "/wp-json/wc/v3/orders")
        .cloned()
        .unwrap();
    assert_eq!(validation.query, "per_page=1");

    // At rest: one file, no secret in clear, decrypts back (also with a fresh state and the key
    // file, which is private).
    let files = env.files();
    assert_eq!(files, [env.data.join(format!("connections/{id}.bin"))]);
    let bytes = std::fs::read(&files[0]).unwrap();
    for secret in [CK, CS, "whsec_tenant_secret", "wshop"] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} in clear"
        );
    }
    let c = env.state.load(&id).unwrap().unwrap();
    match &c.credentials {
        connect::Credentials::WooCommerceKeys {
            consumer_key,
            consumer_secret,
        } => {
            assert_eq!((consumer_key.as_str(), consumer_secret.as_str()), (CK, CS));
        }
        _ => panic!("not woocommerce keys"),
    }
    assert_eq!(c.webhook_secret.as_deref(), Some("whsec_tenant_secret"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&env.data.join("connections.key")), 0o600);
        assert_eq!(mode(&files[0]), 0o600);
    }
    let log = Log::Embedded(EmbeddedLog::open(env._dir.path().join("log2.redb")).unwrap());
    let again = ConnectState::new(
        ConnectConfig::new(&env.data, ADMIN, PUBLIC),
        log.producer().unwrap(),
    )
    .unwrap();
    assert_eq!(again.load(&id).unwrap().unwrap().tenant, "wshop");
    // Another key cannot read it.
    let mut other = ConnectConfig::new(&env.data, ADMIN, PUBLIC);
    other.key = Some([7; 32]);
    let other = ConnectState::new(other, log.producer().unwrap()).unwrap();
    assert!(other.load(&id).unwrap_err().contains("cannot be decrypted"));

    // List and get show the last 4 characters only.
    let (s, _, list) = env.call("GET", "/api/connections", Some(ADMIN), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, one) = env
        .call("GET", &format!("/api/connections/{id}"), Some(ADMIN), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    for shown in [list.to_string(), one.to_string(), v.to_string()] {
        for secret in [CK, CS, "whsec_tenant_secret"] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
    }
    assert_eq!(list["connections"].as_array().unwrap().len(), 1);
    assert_eq!(one["credentials"]["consumer_key"], "…1234");
    assert_eq!(one["credentials"]["consumer_secret"], "…5678");
    assert_eq!(one["webhook_secret"], "…cret");

    // Delete removes the webhooks it registered from the store, then the file.
    let registered: Vec<String> = v["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(registered.len(), connect::WOO_TOPICS.len());
    let (s, _, gone) = env
        .call(
            "DELETE",
            &format!("/api/connections/{id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{gone}");
    assert_eq!(gone["deleted"], true);
    let deletes: Vec<Seen> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.method == Method::DELETE)
        .cloned()
        .collect();
    let paths: Vec<String> = deletes.iter().map(|d| d.path.clone()).collect();
    let expected: Vec<String> = registered
        .iter()
        .map(|id| format!("/wp-json/wc/v3/webhooks/{id}"))
        .collect();
    assert_eq!(paths, expected);
    for d in &deletes {
        assert_eq!(
            d.query, "force=true",
            "WooCommerce trashes webhooks without force"
        );
        assert_eq!(d.auth.as_deref(), Some(basic(CK, CS).as_str()));
    }
    let outcomes: Vec<&str> = gone["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["removed"; 5]);
    assert!(env.files().is_empty());
    let (s, _, _) = env
        .call("GET", &format!("/api/connections/{id}"), Some(ADMIN), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = env
        .call(
            "DELETE",
            &format!("/api/connections/{id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_need_the_bearer_token() {
    let env = env(None).await;
    for (method, uri) in [
        ("GET", "/api/connections"),
        ("POST", "/api/connections"),
        ("GET", "/api/connections/0123456789abcdef0123456789abcdef"),
        (
            "DELETE",
            "/api/connections/0123456789abcdef0123456789abcdef",
        ),
    ] {
        for token in [None, Some("wrong"), Some("admin-token-12")] {
            let (s, h, _) = env
                .call(method, uri, token, Some(json!({"shop": "x"})))
                .await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {uri} {token:?}");
            assert_eq!(h["www-authenticate"], "Bearer");
        }
    }
    let (s, _, _) = env.call("GET", "/api/connections", Some(ADMIN), None).await;
    assert_eq!(s, StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------
// Shopify OAuth

/// The query Shopify sends: the params plus `hmac` (hex HMAC-SHA256 with the app secret over the
/// others, sorted by key, `k=v` joined by `&`), percent-encoded.
fn signed_query(params: &[(&str, &str)], secret: &str) -> String {
    let mut sorted: Vec<_> = params.to_vec();
    sorted.sort();
    let message = sorted
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    let hmac: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut q: Vec<String> = params
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.replace('%', "%25")
                    .replace(' ', "%20")
                    .replace('&', "%26")
            )
        })
        .collect();
    q.push(format!("hmac={hmac}"));
    q.join("&")
}

fn query_param(url: &str, key: &str) -> Option<String> {
    url.split_once('?')?.1.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.to_owned())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopify_oauth_install_and_callback() {
    let (seen, base) = shopify_mock().await;
    let env = env(Some(&base)).await;
    let shop = "acme-store.myshopify.com";
    let install = signed_query(
        &[
            ("shop", shop),
            ("timestamp", "1767225600"),
            ("host", "YWNtZQ"),
        ],
        APP_SECRET,
    );
    let (s, h, _) = env
        .call(
            "GET",
            &format!("/api/connections/shopify/install?{install}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FOUND);
    let location = h["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("https://acme-store.myshopify.com/admin/oauth/authorize?"),
        "{location}"
    );
    assert_eq!(query_param(&location, "client_id").as_deref(), Some(APP_ID));
    assert_eq!(
        query_param(&location, "scope").as_deref(),
        Some("read_orders%2Cread_customers")
    );
    assert_eq!(
        query_param(&location, "redirect_uri").as_deref(),
        Some("https%3A%2F%2Fmindset.example.com%2Fapi%2Fconnections%2Fshopify%2Fcallback")
    );
    let state = query_param(&location, "state").unwrap();
    assert_eq!(state.len(), 32);

    // Tampered install queries: 401; a bad shop domain, correctly signed: 400.
    let tampered = install.replace("timestamp=1767225600", "timestamp=1767225601");
    let (s, _, _) = env
        .call(
            "GET",
            &format!("/api/connections/shopify/install?{tampered}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let wrong_key = signed_query(
        &[("shop", shop), ("timestamp", "1767225600")],
        "not-the-secret",
    );
    let (s, _, _) = env
        .call(
            "GET",
            &format!("/api/connections/shopify/install?{wrong_key}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let evil = signed_query(
        &[
            ("shop", "evil.com/.myshopify.com"),
            ("timestamp", "1767225600"),
        ],
        APP_SECRET,
    );
    let (s, _, _) = env
        .call(
            "GET",
            &format!("/api/connections/shopify/install?{evil}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Callback: a wrong state is refused, a tampered code too, before any exchange.
    let cb = |state: &str, code: &str| {
        signed_query(
            &[
                ("code", code),
                ("shop", shop),
                ("state", state),
                ("timestamp", "1767225700"),
            ],
            APP_SECRET,
        )
    };
    let (s, _, _) = env
        .call(
            "GET",
            &format!(
                "/api/connections/shopify/callback?{}",
                cb("0123", OAUTH_CODE)
            ),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let tampered = cb(&state, OAUTH_CODE).replace(OAUTH_CODE, "other-code");
    let (s, _, _) = env
        .call(
            "GET",
            &format!("/api/connections/shopify/callback?{tampered}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(!seen_paths(&seen).contains(&"POST /admin/oauth/access_token".to_owned()));

    let (s, _, v) = env
        .call(
            "GET",
            &format!(
                "/api/connections/shopify/callback?{}",
                cb(&state, OAUTH_CODE)
            ),
            None,
            None,
        )
        .await;
    assert!(
        s == StatusCode::ACCEPTED || s == StatusCode::CREATED,
        "{s} {v}"
    );
    assert_eq!(v["tenant"], "acme-store");
    assert_eq!(v["detected_by"], "oauth");
    assert_eq!(v["credentials"]["scope"], "read_orders,read_customers");
    let exchange = seen
        .lock()
        .unwrap()
        .iter()
        .find(|s| s.path == "/admin/oauth/access_token")
        .cloned()
        .unwrap();
    assert_eq!(
        exchange.body,
        json!({"client_id": APP_ID, "client_secret": APP_SECRET, "code": OAUTH_CODE})
    );
    let id = v["id"].as_str().unwrap();
    match env.state.load(id).unwrap().unwrap().credentials {
        connect::Credentials::ShopifyToken { access_token, .. } => {
            assert_eq!(access_token, GOOD_TOKEN)
        }
        _ => panic!("not a shopify token"),
    }
    let hooks = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.path == "/admin/api/2026-07/webhooks.json")
        .map(|s| (s.token.clone(), s.body["webhook"]["address"].clone()))
        .collect::<Vec<_>>();
    assert_eq!(hooks.len(), 7);
    assert!(hooks.iter().all(|(t, a)| t.as_deref() == Some(GOOD_TOKEN)
        && a == "https://mindset.example.com/webhooks/shopify/acme-store"));
    assert_eq!(env.backfill_end(id).await["state"], "done");

    // The state is single-use.
    let (s, _, _) = env
        .call(
            "GET",
            &format!(
                "/api/connections/shopify/callback?{}",
                cb(&state, OAUTH_CODE)
            ),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[test]
fn query_hmac_matches_the_documented_scheme() {
    let params: Vec<(String, String)> = [
        ("shop", "some-shop.myshopify.com"),
        ("timestamp", "1337178173"),
        ("code", "0907a61c0c8d55e99db179b68161bc00"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        connect::query_hmac_message(&params),
        "code=0907a61c0c8d55e99db179b68161bc00&shop=some-shop.myshopify.com&timestamp=1337178173"
    );
    let q = signed_query(
        &[
            ("shop", "some-shop.myshopify.com"),
            ("timestamp", "1337178173"),
            ("code", "0907a61c0c8d55e99db179b68161bc00"),
        ],
        "hush",
    );
    let hmac = query_param(&format!("?{q}"), "hmac").unwrap();
    let mut with = params.clone();
    with.push(("hmac".into(), hmac.clone()));
    assert!(connect::verify_query_hmac("hush", &with));
    assert!(!connect::verify_query_hmac("hush2", &with));
    with[0].1 = "other-shop.myshopify.com".into();
    assert!(!connect::verify_query_hmac("hush", &with));
}

// ---------------------------------------------------------------------------------------------
// Amazon SP-API and Flipkart

const LWA_CLIENT_ID: &str = "amzn1.application-oa2-client.0123456789abcdef";
const LWA_SECRET: &str = "lwa-client-secret-4242";
const REFRESH: &str = "Atzr|IQEBLzAtAhRPpMJxdwVz2Nn6f2y-tpJX2DeXEXAMPLE";
const SELLER: &str = "A2SELLER9XYZ";
const FK_APP: &str = "6113ca4a-fe05-11e4-a322-1697f925ec7b";
const FK_SECRET: &str = "669a57f4-fe05-11e4-a322-1697f925ec7b";

fn shared_json(rel: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/platforms")
        .join(rel);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Login with Amazon (`POST /auth/o2/token`, answering the documented body to the right form,
/// `invalid_grant` otherwise) and the SP-API: `getMarketplaceParticipations` (one marketplace
/// participated in, one not) and an empty `getOrders`, both with the issued access token.
async fn amazon_mock() -> (Log2, String) {
    let seen: Log2 = Arc::default();
    async fn handle(State(seen): State<Log2>, req: Request<Body>) -> Response {
        let token = req
            .headers()
            .get("x-amz-access-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let ct = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let (parts, body) = req.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        let form: Vec<(String, String)> = url_form(&bytes);
        seen.lock().unwrap().push(Seen {
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or("").to_owned(),
            token: token.clone(),
            auth: None,
            body: json!(form),
        });
        let lwa = shared_json("amazon_sp_api/lwa/refresh_token.response.body.json");
        let access = lwa["access_token"].as_str().unwrap();
        match (parts.method.as_str(), parts.uri.path()) {
            ("POST", "/auth/o2/token") => {
                assert!(ct.starts_with("application/x-www-form-urlencoded"), "{ct}");
                let want = [
                    ("grant_type", "refresh_token"),
                    ("refresh_token", REFRESH),
                    ("client_id", LWA_CLIENT_ID),
                    ("client_secret", LWA_SECRET),
                ]
                .map(|(k, v)| (k.to_owned(), v.to_owned()));
                if form == want {
                    Json(lwa).into_response()
                } else {
                    (
                        StatusCode::BAD_REQUEST,
                        Json(json!({"error": "invalid_grant",
                            "error_description": "The request has an invalid grant parameter : refresh_token"})),
                    )
                        .into_response()
                }
            }
            (_, _) if token.as_deref() != Some(access) => (
                StatusCode::FORBIDDEN,
                Json(json!({"errors": [{"code": "Unauthorized",
                    "message": "Access to requested resource is denied."}]})),
            )
                .into_response(),
            ("GET", "/sellers/v1/marketplaceParticipations") => Json(json!({"payload": [
                {"marketplace": {"id": "ATVPDKIKX0DER", "countryCode": "US", "name": "Amazon.com",
                    "defaultCurrencyCode": "USD", "defaultLanguageCode": "en_US",
                    "domainName": "www.amazon.com"},
                 "participation": {"isParticipating": true, "hasSuspendedListings": false}},
                {"marketplace": {"id": "A2EUQ1WTGCTBG2", "countryCode": "CA", "name": "Amazon.ca",
                    "defaultCurrencyCode": "CAD", "defaultLanguageCode": "en_CA",
                    "domainName": "www.amazon.ca"},
                 "participation": {"isParticipating": false, "hasSuspendedListings": false}}
            ]}))
            .into_response(),
            ("GET", "/orders/v0/orders") => {
                Json(json!({"payload": {"Orders": []}})).into_response()
            }
            _ => StatusCode::NOT_FOUND.into_response(),
        }
    }
    let app = Router::new()
        .route("/{*rest}", any(handle))
        .with_state(seen.clone());
    let addr = serve(app).await;
    (seen, format!("http://{addr}"))
}

fn url_form(bytes: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(bytes);
    text.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let decode = |s: &str| {
                let mut out = Vec::new();
                let b = s.as_bytes();
                let mut i = 0;
                while i < b.len() {
                    if b[i] == b'%' && i + 2 < b.len() {
                        let h = u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap();
                        out.push(h);
                        i += 3;
                    } else {
                        out.push(b[i]);
                        i += 1;
                    }
                }
                String::from_utf8(out).unwrap()
            };
            (decode(k), decode(v))
        })
        .collect()
}

/// Flipkart: the client-credentials token (`GET …/oauth/token?grant_type=client_credentials&
/// scope=Seller_Api`, Basic app id:secret), the shipment search (Bearer) with an empty answer.
async fn flipkart_mock() -> (Log2, String) {
    let seen: Log2 = Arc::default();
    async fn handle(State(seen): State<Log2>, req: Request<Body>) -> Response {
        let s = record(&seen, req).await;
        match (s.method.as_str(), s.path.as_str()) {
            ("GET", "/oauth-service/oauth/token") => {
                assert_eq!(s.query, "grant_type=client_credentials&scope=Seller_Api");
                if s.auth.as_deref() == Some(basic(FK_APP, FK_SECRET).as_str()) {
                    let mut answer =
                        shared_json("flipkart/oauth/oauth.json")["client_credentials_response_docs_example"].clone();
                    answer["access_token"] = json!("fk-token-1");
                    Json(answer).into_response()
                } else {
                    (
                        StatusCode::UNAUTHORIZED,
                        Json(json!({"error": "unauthorized", "error_description": "Bad credentials"})),
                    )
                        .into_response()
                }
            }
            (_, p)
                if p.starts_with("/sellers/") && s.auth.as_deref() != Some("Bearer fk-token-1") =>
            {
                StatusCode::UNAUTHORIZED.into_response()
            }
            ("POST", "/sellers/v3/shipments/filter") => {
                Json(json!({"hasMore": false, "shipments": []})).into_response()
            }
            _ => StatusCode::NOT_FOUND.into_response(),
        }
    }
    let app = Router::new()
        .route("/{*rest}", any(handle))
        .with_state(seen.clone());
    let addr = serve(app).await;
    (seen, format!("http://{addr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amazon_by_credential_shape_validates_with_lwa_and_backfills() {
    let (seen, base) = amazon_mock().await;
    let b = base.clone();
    let env = env_with(move |c| {
        c.amazon_lwa_url = format!("{b}/auth/o2/token");
        c.amazon_endpoint_override = Some(b);
    })
    .await;
    let (s, v) = env
        .connect(json!({"seller_id": SELLER, "client_id": LWA_CLIENT_ID,
            "client_secret": LWA_SECRET, "refresh_token": REFRESH, "region": "na"}))
        .await;
    assert!(
        s == StatusCode::ACCEPTED || s == StatusCode::CREATED,
        "{s} {v}"
    );
    assert_eq!(
        (v["platform"].as_str(), v["detected_by"].as_str()),
        (Some("amazon"), Some("credentials"))
    );
    assert_eq!(v["tenant"], "a2seller9xyz");
    assert_eq!(v["base_url"], "https://sellingpartnerapi-na.amazon.com");
    assert_eq!(v["currency"], "USD");
    assert_eq!(v["credentials"]["seller_id"], SELLER);
    assert_eq!(
        v["credentials"]["marketplace_ids"],
        json!(["ATVPDKIKX0DER"])
    );
    assert_eq!(v["credentials"]["refresh_token"], "…MPLE");
    assert_eq!(v["webhooks"], json!([]), "no webhook API");
    assert!(
        v["notifications"]
            .as_str()
            .unwrap()
            .contains("SQS or EventBridge"),
        "{v}"
    );
    for secret in [LWA_SECRET, REFRESH] {
        assert!(!v.to_string().contains(secret));
    }
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(env.backfill_end(&id).await["state"], "done");
    // The calls: the LWA exchange, getMarketplaceParticipations, then the backfill's own LWA
    // exchange and getOrders for the participated marketplace.
    let paths = seen_paths(&seen);
    assert_eq!(
        paths,
        [
            "POST /auth/o2/token",
            "GET /sellers/v1/marketplaceParticipations",
            "POST /auth/o2/token",
            "GET /orders/v0/orders",
        ]
    );
    let orders = seen.lock().unwrap()[3].clone();
    assert!(
        orders.query.contains("MarketplaceIds=ATVPDKIKX0DER"),
        "{}",
        orders.query
    );
    match env.state.load(&id).unwrap().unwrap().credentials {
        connect::Credentials::AmazonSpApi {
            refresh_token,
            client_secret,
            ..
        } => assert_eq!(
            (refresh_token.as_str(), client_secret.as_str()),
            (REFRESH, LWA_SECRET)
        ),
        _ => panic!("not amazon credentials"),
    }

    // A marketplace the seller does not participate in, a refused refresh token, missing
    // fields: 422, nothing more stored.
    let files = env.files().len();
    let (s, v) = env
        .connect(
            json!({"seller_id": SELLER, "client_id": LWA_CLIENT_ID, "tenant": "t2",
            "client_secret": LWA_SECRET, "refresh_token": REFRESH,
            "marketplace_ids": ["A2EUQ1WTGCTBG2"]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("A2EUQ1WTGCTBG2"),
        "{v}"
    );
    let (s, v) = env
        .connect(
            json!({"seller_id": SELLER, "client_id": LWA_CLIENT_ID, "tenant": "t3",
            "client_secret": LWA_SECRET, "refresh_token": "Atzr|revoked"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(
        v["error"],
        "credentials refused by amazon (the LWA refresh-token exchange): 400 invalid_grant: The \
         request has an invalid grant parameter : refresh_token"
    );
    let (s, v) = env
        .connect(json!({"refresh_token": REFRESH, "client_id": LWA_CLIENT_ID}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(
        v["error"],
        "amazon needs seller_id, client_id, client_secret and refresh_token; missing: seller_id, \
         client_secret"
    );
    let (s, v) = env
        .connect(
            json!({"platform": "amazon", "seller_id": SELLER, "client_id": "x",
            "client_secret": "y", "refresh_token": "z", "region": "mars"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("one of na, eu, fe"),
        "{v}"
    );
    assert_eq!(env.files().len(), files);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipkart_by_app_credentials_validates_with_a_token_and_a_search_and_backfills() {
    let (seen, base) = flipkart_mock().await;
    let b = base.clone();
    let env = env_with(move |c| {
        c.flipkart_api_base = format!("{b}/sellers");
        c.flipkart_token_url = format!("{b}/oauth-service/oauth/token");
    })
    .await;
    let (s, v) = env
        .connect(json!({"seller_id": "PilotSeller", "app_id": FK_APP, "app_secret": FK_SECRET}))
        .await;
    assert!(
        s == StatusCode::ACCEPTED || s == StatusCode::CREATED,
        "{s} {v}"
    );
    assert_eq!(
        (v["platform"].as_str(), v["detected_by"].as_str()),
        (Some("flipkart"), Some("credentials"))
    );
    assert_eq!(v["tenant"], "pilotseller");
    assert_eq!(v["currency"], "INR");
    assert_eq!(v["credentials"]["app_secret"], "…ec7b");
    assert!(!v.to_string().contains(FK_SECRET));
    assert!(
        v["notifications"]
            .as_str()
            .unwrap()
            .contains("seller-api-queries@flipkart.com"),
        "{v}"
    );
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(env.backfill_end(&id).await["state"], "done");
    let log = seen.lock().unwrap().clone();
    // Validation: the token, then one shipment search of one shipment with it.
    assert_eq!(
        (log[0].method.as_str(), log[0].path.as_str()),
        ("GET", "/oauth-service/oauth/token")
    );
    assert_eq!(
        log[0].auth.as_deref(),
        Some(basic(FK_APP, FK_SECRET).as_str())
    );
    assert_eq!(
        (log[1].method.as_str(), log[1].path.as_str()),
        ("POST", "/sellers/v3/shipments/filter")
    );
    assert_eq!(log[1].auth.as_deref(), Some("Bearer fk-token-1"));
    assert_eq!(log[1].body["pagination"]["pageSize"], 1);
    assert_eq!(log[1].body["filter"]["type"], "preDispatch");
    // The backfill: its own token, then both filter types over the backfill window.
    let backfill: Vec<String> = log[2..]
        .iter()
        .map(|s| format!("{} {} {}", s.method, s.path, s.body["filter"]["type"]))
        .collect();
    assert_eq!(
        backfill,
        [
            "GET /oauth-service/oauth/token null",
            "POST /sellers/v3/shipments/filter \"preDispatch\"",
            "POST /sellers/v3/shipments/filter \"postDispatch\"",
        ]
    );
    assert!(log[3].body["filter"]["modifiedDate"]["from"].is_string());

    // Wrong secret: 422 with Flipkart's words, nothing stored; no tenant and no seller id: 422.
    let files = env.files().len();
    let (s, v) = env
        .connect(json!({"tenant": "fk2", "app_id": FK_APP, "app_secret": "wrong"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(
        v["error"],
        "credentials refused by flipkart (the client-credentials token request): 401 \
         unauthorized: Bad credentials"
    );
    let (s, v) = env
        .connect(json!({"app_id": FK_APP, "app_secret": FK_SECRET}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(
        v["error"],
        "flipkart: give a tenant or the seller_id to name it"
    );
    assert_eq!(env.files().len(), files);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_shopify_connection_removes_its_webhooks() {
    let (seen, base) = shopify_mock().await;
    let env = env(Some(&base)).await;
    let (s, v) = env
        .connect(json!({"shop": "acme", "access_token": GOOD_TOKEN, "backfill": false}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let ids: Vec<String> = v["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), connect::SHOPIFY_TOPICS.len());
    let (s, _, gone) = env
        .call(
            "DELETE",
            &format!("/api/connections/{id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{gone}");
    let deletes: Vec<Seen> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.method == Method::DELETE)
        .cloned()
        .collect();
    assert_eq!(
        deletes.iter().map(|d| d.path.clone()).collect::<Vec<_>>(),
        ids.iter()
            .map(|i| format!("/admin/api/2026-07/webhooks/{i}.json"))
            .collect::<Vec<_>>()
    );
    for d in &deletes {
        assert_eq!(d.token.as_deref(), Some(GOOD_TOKEN));
    }
    assert!(env.files().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_cannot_be_removed_keeps_the_connection_unless_forced() {
    let (seen, woo, fail) = woo_mock_with_switch().await;
    let env = env(None).await;
    let (s, v) = env
        .connect(
            json!({"url": woo, "tenant": "w", "consumer_key": CK, "consumer_secret": CS,
            "backfill": false}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let ids: Vec<String> = v["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_owned())
        .collect();
    *fail.lock().unwrap() = Some(ids[2].clone());

    // One removal fails: 502, the connection stays with only that webhook left to remove.
    let (s, _, r) = env
        .call(
            "DELETE",
            &format!("/api/connections/{id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{r}");
    let outcomes: Vec<&str> = r["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["removed", "removed", "failed", "removed", "removed"]
    );
    assert_eq!(r["webhooks"][2]["error"], "500: database gone");
    let kept = env.state.load(&id).unwrap().expect("kept");
    assert_eq!(
        kept.webhooks
            .iter()
            .map(|w| w.id.clone().unwrap())
            .collect::<Vec<_>>(),
        [ids[2].clone()]
    );

    // Still failing, forced: forgotten anyway, the failure reported.
    let (s, _, r) = env
        .call(
            "DELETE",
            &format!("/api/connections/{id}?force=true"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["webhooks"][0]["outcome"], "failed");
    assert!(env.files().is_empty());
    let deletes = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.method == Method::DELETE)
        .count();
    assert_eq!(deletes, 6, "five, then the one left");
    let (s, _, r) = env
        .call(
            "DELETE",
            "/api/connections/0123456789abcdef0123456789abcdef?force=maybe",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
}
