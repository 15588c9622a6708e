//! Connecting a store: one admin call that detects the platform, validates the credentials with
//! a real request, stores them encrypted at rest, registers the webhooks and starts the backfill
//! poller; plus the Shopify OAuth install flow.
//!
//! | Route | Auth | What |
//! |---|---|---|
//! | `POST /api/connections` | admin bearer token | connect a store (below) |
//! | `GET /api/connections` | admin bearer token | list (secrets shown as their last 4 characters) |
//! | `GET /api/connections/{id}` | admin bearer token | one connection, with its backfill status |
//! | `DELETE /api/connections/{id}` | admin bearer token | remove the webhooks it registered, stop the backfill, forget it (`?force=true`: even when a webhook could not be removed) |
//! | `GET /api/connections/shopify/install` | Shopify query HMAC | start the OAuth install |
//! | `GET /api/connections/shopify/callback` | Shopify query HMAC + state | finish it, store the token |
//!
//! **Body of `POST /api/connections`**: `tenant` (optional: derived from the host or the seller
//! id), `shop` (alias `url`, `seller_id`: a URL, a `*.myshopify.com` domain or a bare Shopify shop
//! handle; Amazon's or Flipkart's seller id), `platform` (optional override: `shopify` /
//! `woocommerce` / `amazon` / `flipkart`), and credentials: `access_token` (Shopify),
//! `consumer_key` + `consumer_secret` (WooCommerce), `code` (a Shopify OAuth grant, exchanged with
//! the configured app), `client_id` + `client_secret` + `refresh_token` (Amazon SP-API, with
//! `region` `na`/`eu`/`fe`, default `na`, and optional `marketplace_ids`), or `app_id` +
//! `app_secret` (Flipkart); `webhook_secret` (WooCommerce, generated when absent),
//! `register_webhooks` and `backfill` (both default `true`).
//!
//! **Detection**, first that fits: the explicit `platform`; Amazon's credential shapes (a refresh
//! token `Atzr|…` or an LWA client id `amzn1.application-oa2-client.…`); Flipkart's (`app_id` and
//! `app_secret`); a `*.myshopify.com` host; the shape of the credentials (`shpat_`/`shpca_`
//! tokens → Shopify, `ck_`/`cs_` pairs → WooCommerce); a probe (`GET {url}/wp-json/` listing the
//! `wc/v3` namespace → WooCommerce, `GET {url}/admin/api/<v>/shop.json` answering 200 or 401 →
//! Shopify). Nothing fits → 422 with why.
//!
//! **Validation**: Shopify `GET /admin/api/<v>/shop.json` with `X-Shopify-Access-Token`,
//! WooCommerce `GET /wp-json/wc/v3/orders?per_page=1` with Basic auth; Amazon a Login with Amazon
//! refresh-token exchange then `GET /sellers/v1/marketplaceParticipations` (the marketplaces the
//! seller participates in become the poller's, unless `marketplace_ids` names some of them);
//! Flipkart the client-credentials token then `POST /sellers/v3/shipments/filter` for one
//! shipment. 401/403 (and 400 from a token endpoint) → 422 and nothing is stored.
//!
//! **Notifications**: Shopify and WooCommerce webhooks are registered. Amazon's notifications go
//! through SQS or EventBridge and Flipkart's are subscribed by e-mail, so for them nothing is
//! registered and the answer's `notifications` says what the seller has to do; the poller
//! backfills and keeps reading.
//!
//! **Removal**: `DELETE` removes, on the platform, each webhook the connection registered (404
//! counts as removed). When one cannot be removed the connection is kept, with the webhooks still
//! to remove, and the answer is 502 with each outcome; `?force=true` forgets it anyway.
//!
//! **At rest**: each connection is a JSON record sealed with ChaCha20-Poly1305 (random 12-byte
//! nonce, the connection id as associated data) in `<data_dir>/connections/<id>.bin` (nonce then
//! ciphertext, mode 0600). The 32-byte key is `MINDSET_CONNECTIONS_KEY` (base64) or, when unset,
//! `<data_dir>/connections.key`, created with mode 0600 on first use.

use std::{
    collections::{BTreeMap, HashMap},
    io::Write,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{Path as UrlPath, RawQuery, Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use base64::Engine;
use chacha20poly1305::{
    ChaCha20Poly1305, Key, KeyInit, Nonce,
    aead::{Aead, AeadCore, OsRng, Payload, rand_core::RngCore},
};
use http_body_util::{BodyExt, Full, Limited};
use hyper::{
    Uri,
    body::Bytes,
    header::{HeaderName, HeaderValue},
};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use mindset_pipeline::Producer;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::poll::{
    self, PollSettings, amazon::AmazonConfig, check_base, flipkart::FlipkartConfig,
    shopify::ShopifyConfig, woocommerce::WooConfig,
};

/// The environment variable holding the base64 encryption key of the stored connections.
pub const KEY_ENV: &str = "MINDSET_CONNECTIONS_KEY";

/// The Shopify Admin API version used for probes, validation and webhooks.
pub const SHOPIFY_API_VERSION: &str = "2026-07";

/// The Shopify topics registered on connect.
pub const SHOPIFY_TOPICS: [&str; 7] = [
    "orders/create",
    "orders/updated",
    "customers/create",
    "customers/update",
    "checkouts/create",
    "checkouts/update",
    "refunds/create",
];

/// The WooCommerce topics registered on connect.
pub const WOO_TOPICS: [&str; 5] = [
    "order.created",
    "order.updated",
    "customer.created",
    "customer.updated",
    "product.updated",
];

/// The Login with Amazon token endpoint.
pub const AMAZON_LWA_URL: &str = "https://api.amazon.com/auth/o2/token";

/// Flipkart's production Seller API base and token endpoint (`shared/platforms/flipkart/oauth`).
pub const FLIPKART_API_BASE: &str = "https://api.flipkart.net/sellers";
pub const FLIPKART_TOKEN_URL: &str = "https://api.flipkart.net/oauth-service/oauth/token";

/// What a connection says about notifications when Mindset cannot register them itself.
pub const AMAZON_NOTIFICATIONS: &str = "Amazon SP-API notifications are delivered through Amazon SQS or EventBridge, not to an HTTP endpoint Mindset could register: create a destination and subscriptions (ORDER_CHANGE) in your AWS account and forward them to /webhooks/amazon/<tenant> (docs/platforms/amazon.md). Until then the poller is the only source.";
pub const FLIPKART_NOTIFICATIONS: &str = "Flipkart has no self-serve API to subscribe to order notifications: write to seller-api-queries@flipkart.com with your seller id, the HTTPS URL /webhooks/flipkart/<tenant> on your Mindset host and a VAPT certificate (docs/platforms/flipkart.md). Until then the poller is the only source.";

/// How long an OAuth `state` nonce stays valid.
const STATE_TTL: Duration = Duration::from_secs(600);

/// The Shopify app used by the OAuth install flow.
#[derive(Clone)]
pub struct ShopifyApp {
    pub client_id: String,
    pub client_secret: String,
    /// Comma-separated access scopes, `read_orders,read_customers,…`.
    pub scopes: String,
    /// The callback URL registered with the app (`…/api/connections/shopify/callback`).
    pub redirect_uri: String,
}

impl std::fmt::Debug for ShopifyApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopifyApp")
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// What the connections API needs.
#[derive(Clone)]
pub struct ConnectConfig {
    /// Where `connections/` (and the key file, when no key is given) live.
    pub data_dir: PathBuf,
    /// The bearer token of the admin routes.
    pub admin_token: String,
    /// Mindset's public base URL, for webhook addresses (`<base>/webhooks/shopify/<tenant>`).
    pub public_base_url: String,
    pub shopify_api_version: String,
    /// The OAuth app; without it the install flow answers 404.
    pub shopify_app: Option<ShopifyApp>,
    /// The encryption key; `None`: [`KEY_ENV`], else the key file.
    pub key: Option<[u8; 32]>,
    /// Send every Shopify request (token exchange included) to this base instead of
    /// `https://{shop}`: for tests and local tunnels (plain http only to loopback).
    pub shopify_base_override: Option<String>,
    /// Time allowed for one request to a platform.
    pub request_timeout: Duration,
    /// Template of the backfill pollers' settings (tenant and cursor directory are set per
    /// connection).
    pub poll_template: Option<PollSettings>,
    /// The Login with Amazon token endpoint.
    pub amazon_lwa_url: String,
    /// Send every SP-API request to this base instead of the regional endpoint: for tests.
    pub amazon_endpoint_override: Option<String>,
    /// The Flipkart Seller API base (`https://api.flipkart.net/sellers`).
    pub flipkart_api_base: String,
    /// The Flipkart token endpoint (`https://api.flipkart.net/oauth-service/oauth/token`).
    pub flipkart_token_url: String,
}

impl ConnectConfig {
    pub fn new(
        data_dir: impl Into<PathBuf>,
        admin_token: impl Into<String>,
        public_base_url: impl Into<String>,
    ) -> ConnectConfig {
        ConnectConfig {
            data_dir: data_dir.into(),
            admin_token: admin_token.into(),
            public_base_url: public_base_url.into(),
            shopify_api_version: SHOPIFY_API_VERSION.into(),
            shopify_app: None,
            key: None,
            shopify_base_override: None,
            request_timeout: Duration::from_secs(20),
            poll_template: None,
            amazon_lwa_url: AMAZON_LWA_URL.into(),
            amazon_endpoint_override: None,
            flipkart_api_base: FLIPKART_API_BASE.into(),
            flipkart_token_url: FLIPKART_TOKEN_URL.into(),
        }
    }
}

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{KEY_ENV}: {0}")]
    BadKey(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the admin token must not be empty")]
    EmptyAdminToken,
}

/// Where a backfill stands.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Backfill {
    Running,
    Done { filed: u64, pages: u32 },
    Failed { reason: String },
}

/// The shared state of the router.
#[derive(Clone)]
pub struct ConnectState {
    inner: Arc<Inner>,
}

/// A backfill's status and the sender that cancels it.
type BackfillHandle = (Arc<Mutex<Backfill>>, tokio::sync::oneshot::Sender<()>);

struct Inner {
    config: ConnectConfig,
    cipher: ChaCha20Poly1305,
    producer: Producer,
    backfills: Mutex<HashMap<String, BackfillHandle>>,
    /// OAuth `state` nonce → (shop, issued at).
    states: Mutex<HashMap<String, (String, std::time::Instant)>>,
}

impl ConnectState {
    /// `producer` receives what the backfill pollers file.
    pub fn new(config: ConnectConfig, producer: Producer) -> Result<ConnectState, ConnectError> {
        if config.admin_token.is_empty() {
            return Err(ConnectError::EmptyAdminToken);
        }
        let key = match config.key {
            Some(k) => k,
            None => match std::env::var(KEY_ENV) {
                Ok(v) => decode_key(&v)?,
                Err(_) => key_file(&config.data_dir)?,
            },
        };
        let dir = config.data_dir.join("connections");
        std::fs::create_dir_all(&dir).map_err(|source| ConnectError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(ConnectState {
            inner: Arc::new(Inner {
                cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
                config,
                producer,
                backfills: Mutex::new(HashMap::new()),
                states: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Every stored connection, decrypted (secrets included: for the process, never the API).
    pub fn load_all(&self) -> Result<Vec<Connection>, String> {
        let dir = self.dir();
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".bin"))
            else {
                continue;
            };
            if valid_id(id) {
                out.push(self.load(id)?.ok_or_else(|| format!("{id} vanished"))?);
            }
        }
        out.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        Ok(out)
    }

    /// One stored connection, decrypted; `None` when there is none with this id.
    pub fn load(&self, id: &str) -> Result<Option<Connection>, String> {
        if !valid_id(id) {
            return Ok(None);
        }
        let path = self.path(id);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        if bytes.len() < 12 {
            return Err(format!("{}: too short", path.display()));
        }
        let (nonce, sealed) = bytes.split_at(12);
        let plain = self
            .inner
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: id.as_bytes(),
                },
            )
            .map_err(|_| format!("{}: cannot be decrypted with this key", path.display()))?;
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    fn store(&self, c: &Connection) -> Result<(), String> {
        let plain = serde_json::to_vec(c).map_err(|e| e.to_string())?;
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .inner
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &plain,
                    aad: c.id.as_bytes(),
                },
            )
            .map_err(|_| "encryption failed".to_owned())?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        let path = self.path(&c.id);
        let tmp = path.with_extension("bin.tmp");
        write_private(&tmp, &bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn dir(&self) -> PathBuf {
        self.inner.config.data_dir.join("connections")
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir().join(format!("{id}.bin"))
    }

    fn backfill(&self, id: &str) -> Option<Backfill> {
        let map = self.inner.backfills.lock().expect("backfills lock");
        map.get(id)
            .map(|(s, _)| s.lock().expect("backfill lock").clone())
    }
}

fn decode_key(v: &str) -> Result<[u8; 32], ConnectError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .map_err(|e| ConnectError::BadKey(format!("not base64: {e}")))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| ConnectError::BadKey(format!("{} bytes, 32 needed", b.len())))
}

/// Read `<data_dir>/connections.key`, creating it (mode 0600) with a random key when absent.
fn key_file(data_dir: &Path) -> Result<[u8; 32], ConnectError> {
    let path = data_dir.join("connections.key");
    let io = |source| ConnectError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(|source| ConnectError::Io {
        path: data_dir.to_owned(),
        source,
    })?;
    match std::fs::read(&path) {
        Ok(bytes) => bytes.try_into().map_err(|b: Vec<u8>| {
            ConnectError::BadKey(format!("{}: {} bytes, 32 needed", path.display(), b.len()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            OsRng.fill_bytes(&mut key);
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            match opts.open(&path) {
                Ok(mut f) => {
                    f.write_all(&key).map_err(io)?;
                    f.sync_all().map_err(io)?;
                    Ok(key)
                }
                // Another process created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => key_file(data_dir),
                Err(e) => Err(io(e)),
            }
        }
        Err(e) => Err(io(e)),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    OsRng.fill_bytes(&mut b);
    hex(&b)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

// ---------------------------------------------------------------------------------------------
// The stored record

/// A platform Mindset can connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Shopify,
    #[serde(rename = "woocommerce")]
    WooCommerce,
    Amazon,
    Flipkart,
}

impl Platform {
    pub fn name(self) -> &'static str {
        match self {
            Platform::Shopify => "shopify",
            Platform::WooCommerce => "woocommerce",
            Platform::Amazon => "amazon",
            Platform::Flipkart => "flipkart",
        }
    }
}

/// The credentials of a connection.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credentials {
    ShopifyToken {
        access_token: String,
        #[serde(default)]
        scope: Option<String>,
    },
    WooCommerceKeys {
        consumer_key: String,
        consumer_secret: String,
    },
    /// An SP-API application's LWA client credentials and the seller's refresh token.
    AmazonSpApi {
        seller_id: String,
        client_id: String,
        client_secret: String,
        refresh_token: String,
        /// The marketplaces the poller reads (those the seller participates in, unless given).
        marketplace_ids: Vec<String>,
    },
    /// A Flipkart seller application's id and secret (client credentials).
    FlipkartApp { app_id: String, app_secret: String },
}

/// A webhook subscription made on connect.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Webhook {
    pub topic: String,
    /// `registered`, `exists` (the platform already had it) or `failed`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A stored connection, secrets included (what is encrypted at rest). `Debug` shows the public
/// view only.
#[derive(Clone, Serialize, Deserialize)]
pub struct Connection {
    pub id: String,
    pub tenant: String,
    pub platform: Platform,
    /// The base URL requests go to (`https://acme.myshopify.com`).
    pub base_url: String,
    /// How the platform was recognised.
    pub detected_by: String,
    pub credentials: Credentials,
    /// The secret WooCommerce signs webhook deliveries with.
    #[serde(default)]
    pub webhook_secret: Option<String>,
    pub shop_name: Option<String>,
    pub currency: Option<String>,
    pub webhooks: Vec<Webhook>,
    pub created_at_ms: i64,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Connection({})", self.public())
    }
}

fn last4(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("…{tail}")
}

impl Connection {
    /// What the API shows: secrets only as their last 4 characters.
    pub fn public(&self) -> Value {
        let credentials = match &self.credentials {
            Credentials::ShopifyToken {
                access_token,
                scope,
            } => json!({"access_token": last4(access_token), "scope": scope}),
            Credentials::WooCommerceKeys {
                consumer_key,
                consumer_secret,
            } => {
                json!({"consumer_key": last4(consumer_key), "consumer_secret": last4(consumer_secret)})
            }
            Credentials::AmazonSpApi {
                seller_id,
                client_id,
                client_secret,
                refresh_token,
                marketplace_ids,
            } => json!({
                "seller_id": seller_id,
                "client_id": last4(client_id),
                "client_secret": last4(client_secret),
                "refresh_token": last4(refresh_token),
                "marketplace_ids": marketplace_ids,
            }),
            Credentials::FlipkartApp { app_id, app_secret } => {
                json!({"app_id": last4(app_id), "app_secret": last4(app_secret)})
            }
        };
        json!({
            "id": self.id,
            "tenant": self.tenant,
            "platform": self.platform,
            "base_url": self.base_url,
            "detected_by": self.detected_by,
            "credentials": credentials,
            "webhook_secret": self.webhook_secret.as_deref().map(last4),
            "shop_name": self.shop_name,
            "currency": self.currency,
            "webhooks": self.webhooks,
            "created_at_ms": self.created_at_ms,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

fn unprocessable(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::UNPROCESSABLE_ENTITY, msg.into())
}

fn internal(msg: impl Into<String>) -> ApiError {
    tracing::error!(error = %msg.into(), "connections");
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
}

// ---------------------------------------------------------------------------------------------
// HTTP to the platforms

struct Answer {
    status: StatusCode,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    fn message(&self) -> String {
        if let Some(v) = self.json() {
            for k in ["message", "errors", "error"] {
                if let Some(m) = v.get(k) {
                    return match m {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                }
            }
        }
        let text = String::from_utf8_lossy(&self.body);
        text.chars().take(200).collect()
    }
}

/// A small client for the connect calls (GET and POST with a JSON body); TLS as the pollers.
struct Platforms {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl Platforms {
    fn new(timeout: Duration) -> Result<Platforms, String> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| format!("TLS setup: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Platforms {
            client: Client::builder(TokioExecutor::new()).build(https),
            timeout,
        })
    }

    async fn send(
        &self,
        method: hyper::Method,
        uri: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        let body = body.map(|v| ("application/json", Bytes::from(v.to_string())));
        self.send_body(method, uri, headers, body).await
    }

    /// POST a form (`application/x-www-form-urlencoded`).
    async fn send_form(
        &self,
        uri: &str,
        headers: &[(HeaderName, HeaderValue)],
        form: String,
    ) -> Result<Answer, String> {
        let body = (
            "application/x-www-form-urlencoded;charset=UTF-8",
            Bytes::from(form),
        );
        self.send_body(hyper::Method::POST, uri, headers, Some(body))
            .await
    }

    /// One request with a body of the given content type.
    async fn send_body(
        &self,
        method: hyper::Method,
        uri: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Option<(&str, Bytes)>,
    ) -> Result<Answer, String> {
        let uri: Uri = uri.parse().map_err(|e| format!("{uri}: {e}"))?;
        let mut req = hyper::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req = req
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, "mindset-connect/0.1");
        let body = match body {
            Some((content_type, bytes)) => {
                req = req.header(header::CONTENT_TYPE, content_type);
                Full::new(bytes)
            }
            None => Full::new(Bytes::new()),
        };
        let req = req.body(body).map_err(|e| format!("request: {e}"))?;
        let exchange = async {
            let res = self
                .client
                .request(req)
                .await
                .map_err(|e| format!("transport: {e}"))?;
            let (parts, body) = res.into_parts();
            let body = Limited::new(body, poll::RESPONSE_LIMIT)
                .collect()
                .await
                .map_err(|e| format!("reading the body: {e}"))?
                .to_bytes();
            Ok::<_, String>(Answer {
                status: parts.status,
                body,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| format!("no complete answer within {:?}", self.timeout))?
    }
}

fn basic(key: &str, secret: &str) -> Result<(HeaderName, HeaderValue), ApiError> {
    let v = base64::engine::general_purpose::STANDARD.encode(format!("{key}:{secret}"));
    HeaderValue::from_str(&format!("Basic {v}"))
        .map(|v| (header::AUTHORIZATION, v))
        .map_err(|_| unprocessable("the consumer key or secret holds invalid characters"))
}

fn shopify_token(token: &str) -> Result<(HeaderName, HeaderValue), ApiError> {
    HeaderValue::from_str(token)
        .map(|v| (HeaderName::from_static("x-shopify-access-token"), v))
        .map_err(|_| unprocessable("the access token holds invalid characters"))
}

// ---------------------------------------------------------------------------------------------
// The router

/// The connections API. The admin routes need `Authorization: Bearer <admin token>`.
pub fn router(state: ConnectState) -> Router {
    let admin = Router::new()
        .route(
            "/api/connections",
            get(list_connections).post(create_connection),
        )
        .route(
            "/api/connections/{id}",
            get(get_connection).delete(delete_connection),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), require_admin));
    Router::new()
        .route("/api/connections/shopify/install", get(shopify_install))
        .route("/api/connections/shopify/callback", get(shopify_callback))
        .merge(admin)
        .with_state(state)
}

async fn require_admin(
    State(state): State<ConnectState>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let expected = state.inner.config.admin_token.as_bytes();
    match given {
        Some(t) if bool::from(t.as_bytes().ct_eq(expected)) => next.run(req).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({"error": "missing or wrong admin token"})),
        )
            .into_response(),
    }
}

async fn list_connections(State(state): State<ConnectState>) -> Result<Response, ApiError> {
    let all = state.load_all().map_err(internal)?;
    let items: Vec<Value> = all
        .iter()
        .map(|c| with_backfill(&state, c.public(), &c.id))
        .collect();
    Ok(Json(json!({"connections": items})).into_response())
}

fn with_backfill(state: &ConnectState, mut v: Value, id: &str) -> Value {
    if let (Some(obj), Some(b)) = (v.as_object_mut(), state.backfill(id)) {
        obj.insert(
            "backfill".into(),
            serde_json::to_value(b).unwrap_or_default(),
        );
    }
    v
}

async fn get_connection(
    State(state): State<ConnectState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    match state.load(&id).map_err(internal)? {
        Some(c) => Ok(Json(with_backfill(&state, c.public(), &id)).into_response()),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no connection {id}"),
        )),
    }
}

/// `?force=true` on DELETE: forget the connection even when a webhook could not be removed.
fn force_flag(raw: Option<&str>) -> Result<bool, ApiError> {
    let mut force = false;
    for (k, v) in parse_query(raw.unwrap_or("")) {
        match (k.as_str(), v.as_str()) {
            ("force", "true" | "1") => force = true,
            ("force", "false" | "0") => force = false,
            _ => {
                return Err(unprocessable(format!(
                    "query {k}={v}: only force=true or force=false is understood"
                )));
            }
        }
    }
    Ok(force)
}

/// Remove the webhooks this connection registered on the platform, then forget it. A webhook
/// the platform no longer has (404) counts as removed. When one cannot be removed, the
/// connection is kept with the webhooks still registered and the answer is 502 with each
/// outcome (retry later, or `?force=true` to forget it anyway).
async fn delete_connection(
    State(state): State<ConnectState>,
    UrlPath(id): UrlPath<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let force = force_flag(raw.as_deref())?;
    let Some(mut connection) = state.load(&id).map_err(internal)? else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no connection {id}"),
        ));
    };
    if let Some((_, task)) = state
        .inner
        .backfills
        .lock()
        .expect("backfills lock")
        .remove(&id)
    {
        // The receiver is gone when the backfill already ended.
        let _ = task.send(());
    }
    let http = Platforms::new(state.inner.config.request_timeout).map_err(internal)?;
    let removals = remove_webhooks(&state, &http, &connection).await;
    let failed = removals.iter().any(|r| r["outcome"] == "failed");
    if failed && !force {
        // Keep what is still registered, so a retry removes only that.
        connection.webhooks.retain(|w| {
            !removals
                .iter()
                .any(|r| r["topic"] == w.topic.as_str() && r["outcome"] != "failed")
        });
        state.store(&connection).map_err(internal)?;
        return Ok((
            StatusCode::BAD_GATEWAY,
            Json(json!({
                "error": "some webhooks could not be removed from the platform; the connection \
                          is kept (retry, or DELETE with ?force=true to forget it anyway)",
                "webhooks": removals,
            })),
        )
            .into_response());
    }
    let path = state.path(&id);
    std::fs::remove_file(&path).map_err(|e| internal(format!("{}: {e}", path.display())))?;
    Ok(Json(json!({"id": id, "deleted": true, "webhooks": removals})).into_response())
}

/// Delete, on the platform, each webhook the connection registered (those with an id).
async fn remove_webhooks(state: &ConnectState, http: &Platforms, c: &Connection) -> Vec<Value> {
    let config = &state.inner.config;
    let mut out = Vec::new();
    for w in c.webhooks.iter().filter(|w| w.outcome == "registered") {
        let Some(hook) = &w.id else { continue };
        let target = match &c.credentials {
            Credentials::ShopifyToken { access_token, .. } => {
                let api = shopify_api_base(config, Platform::Shopify, &c.base_url);
                shopify_token(access_token).map(|h| {
                    (
                        format!(
                            "{api}/admin/api/{}/webhooks/{}.json",
                            config.shopify_api_version,
                            poll::encode(hook)
                        ),
                        h,
                    )
                })
            }
            Credentials::WooCommerceKeys {
                consumer_key,
                consumer_secret,
            } => basic(consumer_key, consumer_secret).map(|h| {
                (
                    format!(
                        "{}/wp-json/wc/v3/webhooks/{}?force=true",
                        c.base_url,
                        poll::encode(hook)
                    ),
                    h,
                )
            }),
            Credentials::AmazonSpApi { .. } | Credentials::FlipkartApp { .. } => continue,
        };
        let (outcome, error) = match target {
            Err(e) => ("failed", Some(e.1)),
            Ok((url, auth)) => match http.send(hyper::Method::DELETE, &url, &[auth], None).await {
                Ok(a) if a.status.is_success() => ("removed", None),
                Ok(a) if a.status == StatusCode::NOT_FOUND => ("gone", None),
                Ok(a) => (
                    "failed",
                    Some(format!("{}: {}", a.status.as_u16(), a.message())),
                ),
                Err(e) => ("failed", Some(e)),
            },
        };
        let mut r = json!({"topic": w.topic, "id": hook, "outcome": outcome});
        if let Some(e) = error {
            r["error"] = json!(e);
        }
        out.push(r);
    }
    out
}

/// The body of `POST /api/connections`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectRequest {
    #[serde(default)]
    tenant: Option<String>,
    /// The store URL or Shopify handle; Amazon's and Flipkart's seller id.
    #[serde(default, alias = "url", alias = "seller_id")]
    shop: Option<String>,
    #[serde(default)]
    platform: Option<Platform>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    consumer_key: Option<String>,
    #[serde(default)]
    consumer_secret: Option<String>,
    /// A Shopify OAuth authorization code, exchanged with the configured app.
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    webhook_secret: Option<String>,
    /// Amazon: the LWA client id and secret and the seller's refresh token.
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    /// Amazon: `na` (default), `eu` or `fe`.
    #[serde(default)]
    region: Option<String>,
    /// Amazon: the marketplaces to read (default: every one the seller participates in).
    #[serde(default)]
    marketplace_ids: Option<Vec<String>>,
    /// Flipkart: the seller application's id and secret.
    #[serde(default)]
    app_id: Option<String>,
    #[serde(default)]
    app_secret: Option<String>,
    #[serde(default = "yes")]
    register_webhooks: bool,
    #[serde(default = "yes")]
    backfill: bool,
}

fn yes() -> bool {
    true
}

/// A `*.myshopify.com` domain as the install flow accepts it.
pub fn valid_shop_domain(shop: &str) -> bool {
    let Some(handle) = shop.strip_suffix(".myshopify.com") else {
        return false;
    };
    let mut bytes = handle.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The base URL of `shop`: a URL as given (no trailing slash), a Shopify domain or handle as
/// `https://<handle>.myshopify.com`.
fn base_url(shop: &str) -> Result<String, ApiError> {
    let shop = shop.trim().trim_end_matches('/');
    if shop.contains("://") {
        return Ok(shop.to_owned());
    }
    if valid_shop_domain(shop) {
        return Ok(format!("https://{shop}"));
    }
    if valid_shop_domain(&format!("{shop}.myshopify.com")) {
        return Ok(format!("https://{shop}.myshopify.com"));
    }
    Err(unprocessable(format!(
        "shop {shop:?} is neither a URL nor a Shopify shop domain or handle"
    )))
}

fn valid_tenant(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 64
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A tenant id from a host: `acme.myshopify.com` → `acme`, `shop.example.com` → `shop-example-com`.
fn tenant_from(base: &Uri) -> String {
    let host = base.host().unwrap_or("store");
    let host = host.strip_suffix(".myshopify.com").unwrap_or(host);
    let mut t: String = host
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    if let Some(port) = base.port_u16() {
        t.push_str(&format!("-{port}"));
    }
    t.chars().take(64).collect()
}

async fn create_connection(
    State(state): State<ConnectState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let req: ConnectRequest =
        serde_json::from_slice(&body).map_err(|e| unprocessable(format!("the body: {e}")))?;
    let config = &state.inner.config;
    let http = Platforms::new(config.request_timeout).map_err(internal)?;
    match marketplace_shape(&req) {
        Some((Platform::Amazon, by)) => return connect_amazon(&state, &http, &req, by).await,
        Some((Platform::Flipkart, by)) => return connect_flipkart(&state, &http, &req, by).await,
        _ => {}
    }
    let Some(shop) = req.shop.as_deref() else {
        return Err(unprocessable(
            "shop (or url) is required: the store's URL or Shopify shop handle",
        ));
    };
    let base = base_url(shop)?;
    let uri = check_base("connect", &base).map_err(|e| unprocessable(e.to_string()))?;
    let base = base.trim_end_matches('/').to_owned();
    let tenant = match &req.tenant {
        Some(t) if valid_tenant(t) => t.clone(),
        Some(t) => {
            return Err(unprocessable(format!(
                "tenant {t:?}: 1 to 64 letters, digits, '-' or '_'"
            )));
        }
        None => tenant_from(&uri),
    };

    let (platform, detected_by) = detect(&http, config, &req, &base, &uri).await?;
    let credentials = match platform {
        Platform::Shopify => match (&req.access_token, &req.code) {
            (Some(t), _) => Credentials::ShopifyToken {
                access_token: t.clone(),
                scope: None,
            },
            (None, Some(code)) => {
                let shop = uri.host().unwrap_or_default().to_owned();
                exchange_code(&state, &http, &shop, code).await?
            }
            (None, None) => {
                return Err(unprocessable(
                    "shopify needs an access_token or an OAuth code",
                ));
            }
        },
        Platform::WooCommerce => match (&req.consumer_key, &req.consumer_secret) {
            (Some(k), Some(s)) => Credentials::WooCommerceKeys {
                consumer_key: k.clone(),
                consumer_secret: s.clone(),
            },
            _ => {
                return Err(unprocessable(
                    "woocommerce needs consumer_key and consumer_secret",
                ));
            }
        },
        Platform::Amazon | Platform::Flipkart => {
            return Err(internal(
                "amazon and flipkart are connected by marketplace_shape",
            ));
        }
    };
    let api_base = shopify_api_base(config, platform, &base);
    let (shop_name, currency) = validate(&http, config, &api_base, &credentials).await?;

    let webhook_secret = match platform {
        Platform::WooCommerce => Some(req.webhook_secret.clone().unwrap_or_else(|| random_hex(32))),
        _ => None,
    };
    let mut connection = Connection {
        id: random_hex(16),
        tenant,
        platform,
        base_url: base,
        detected_by,
        credentials,
        webhook_secret,
        shop_name,
        currency,
        webhooks: Vec::new(),
        created_at_ms: now_ms(),
    };
    // Stored before anything is registered: a failure below leaves a connection to delete.
    state.store(&connection).map_err(internal)?;
    finish(
        &state,
        &http,
        &mut connection,
        req.register_webhooks,
        req.backfill,
    )
    .await
}

/// Amazon or Flipkart, when the `platform` field or the credentials' shape says so: an LWA
/// refresh token (`Atzr|…`) or client id (`amzn1.application-oa2-client.…`), or a Flipkart
/// `app_id` and `app_secret`.
fn marketplace_shape(req: &ConnectRequest) -> Option<(Platform, String)> {
    match req.platform {
        Some(p @ (Platform::Amazon | Platform::Flipkart)) => {
            return Some((p, "platform field".into()));
        }
        Some(_) => return None,
        None => {}
    }
    let amazon = req
        .refresh_token
        .as_deref()
        .is_some_and(|t| t.starts_with("Atzr|"))
        || req
            .client_id
            .as_deref()
            .is_some_and(|c| c.starts_with("amzn1.application-oa2-client."));
    if amazon {
        return Some((Platform::Amazon, "credentials".into()));
    }
    if req.app_id.is_some() && req.app_secret.is_some() {
        return Some((Platform::Flipkart, "credentials".into()));
    }
    None
}

/// The given text of a required field, or its name for the error.
fn required<'a>(
    value: &'a Option<String>,
    name: &'static str,
    missing: &mut Vec<&'static str>,
) -> &'a str {
    match value.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => v,
        _ => {
            missing.push(name);
            ""
        }
    }
}

/// A tenant id: the one given, else the seller id made safe (lowercase, `[a-z0-9-]`).
fn marketplace_tenant(req: &ConnectRequest, platform: Platform) -> Result<String, ApiError> {
    match (&req.tenant, req.shop.as_deref().map(str::trim)) {
        (Some(t), _) if valid_tenant(t) => Ok(t.clone()),
        (Some(t), _) => Err(unprocessable(format!(
            "tenant {t:?}: 1 to 64 letters, digits, '-' or '_'"
        ))),
        (None, Some(seller)) if !seller.is_empty() => {
            let t: String = seller
                .to_ascii_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .take(64)
                .collect();
            Ok(t)
        }
        (None, _) => Err(unprocessable(format!(
            "{}: give a tenant or the seller_id to name it",
            platform.name()
        ))),
    }
}

/// The SP-API regional endpoint of `region` (`na`, `eu`, `fe`).
fn amazon_endpoint(region: Option<&str>) -> Result<String, ApiError> {
    match region.map(str::trim).unwrap_or("na") {
        r @ ("na" | "eu" | "fe") => Ok(format!("https://sellingpartnerapi-{r}.amazon.com")),
        other => Err(unprocessable(format!(
            "region {other:?}: one of na, eu, fe"
        ))),
    }
}

/// An error body's message (`{errors: [{code, message}]}`, `{error, error_description}`, …).
fn refusal(a: &Answer) -> String {
    let v = a.json().unwrap_or_default();
    if let Some(list) = v.get("errors").and_then(|e| e.as_array()) {
        let parts: Vec<String> = list
            .iter()
            .map(|e| {
                let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
                let msg = e
                    .get("message")
                    .or_else(|| e.get("description"))
                    .and_then(|m| m.as_str())
                    .unwrap_or("");
                format!("{code}: {msg}").trim_matches([':', ' ']).to_owned()
            })
            .collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
        let d = v
            .get("error_description")
            .and_then(|d| d.as_str())
            .unwrap_or("");
        return format!("{e}: {d}").trim_end_matches([':', ' ']).to_owned();
    }
    a.message()
}

/// 401/403 (and, from a token endpoint, 400) → 422 with the platform's words; other failures
/// → 502.
fn check_validation(
    platform: &str,
    what: &str,
    a: &Answer,
    token_endpoint: bool,
) -> Result<(), ApiError> {
    if a.status.is_success() {
        return Ok(());
    }
    let status = a.status.as_u16();
    if matches!(status, 401 | 403) || (token_endpoint && status == 400) {
        return Err(unprocessable(format!(
            "credentials refused by {platform} ({what}): {status} {}",
            refusal(a)
        )));
    }
    Err(ApiError(
        StatusCode::BAD_GATEWAY,
        format!("{platform} answered {status} to {what}: {}", refusal(a)),
    ))
}

/// Amazon SP-API: an LWA refresh-token exchange, then `getMarketplaceParticipations`; stored,
/// no webhook (notifications need SQS or EventBridge), backfill by the Orders poller.
async fn connect_amazon(
    state: &ConnectState,
    http: &Platforms,
    req: &ConnectRequest,
    detected_by: String,
) -> Result<Response, ApiError> {
    let config = &state.inner.config;
    let mut missing = Vec::new();
    let seller_id = required(&req.shop, "seller_id", &mut missing).to_owned();
    let client_id = required(&req.client_id, "client_id", &mut missing).to_owned();
    let client_secret = required(&req.client_secret, "client_secret", &mut missing).to_owned();
    let refresh_token = required(&req.refresh_token, "refresh_token", &mut missing).to_owned();
    if !missing.is_empty() {
        return Err(unprocessable(format!(
            "amazon needs seller_id, client_id, client_secret and refresh_token; missing: {}",
            missing.join(", ")
        )));
    }
    let tenant = marketplace_tenant(req, Platform::Amazon)?;
    let endpoint = amazon_endpoint(req.region.as_deref())?;
    let api = config
        .amazon_endpoint_override
        .clone()
        .unwrap_or_else(|| endpoint.clone());
    let api = api.trim_end_matches('/').to_owned();
    check_base("amazon", &api).map_err(|e| unprocessable(e.to_string()))?;
    check_base("amazon", &config.amazon_lwa_url).map_err(|e| unprocessable(e.to_string()))?;

    let form = poll::query(&[
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh_token.clone()),
        ("client_id", client_id.clone()),
        ("client_secret", client_secret.clone()),
    ]);
    let a = http
        .send_form(&config.amazon_lwa_url, &[], form)
        .await
        .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, format!("amazon LWA: {e}")))?;
    check_validation("amazon", "the LWA refresh-token exchange", &a, true)?;
    let access = a
        .json()
        .and_then(|v| {
            v.get("access_token")
                .and_then(|t| t.as_str())
                .map(str::to_owned)
        })
        .ok_or_else(|| {
            ApiError(
                StatusCode::BAD_GATEWAY,
                "amazon LWA answered without an access_token".into(),
            )
        })?;
    let token = HeaderValue::from_str(&access).map_err(|_| {
        ApiError(
            StatusCode::BAD_GATEWAY,
            "amazon LWA's access token is not a header value".into(),
        )
    })?;
    let a = http
        .send(
            hyper::Method::GET,
            &format!("{api}/sellers/v1/marketplaceParticipations"),
            &[(HeaderName::from_static("x-amz-access-token"), token)],
            None,
        )
        .await
        .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, format!("amazon: {e}")))?;
    check_validation("amazon", "getMarketplaceParticipations", &a, false)?;
    let participations: Vec<Value> = a
        .json()
        .and_then(|v| v.get("payload").and_then(|p| p.as_array()).cloned())
        .ok_or_else(|| {
            ApiError(
                StatusCode::BAD_GATEWAY,
                "amazon: getMarketplaceParticipations answered without a payload list".into(),
            )
        })?;
    // (id, currency) of the marketplaces the seller participates in.
    let joined: Vec<(String, Option<String>)> = participations
        .iter()
        .filter(|p| p["participation"]["isParticipating"].as_bool() != Some(false))
        .filter_map(|p| {
            let m = &p["marketplace"];
            Some((
                m["id"].as_str()?.to_owned(),
                m["defaultCurrencyCode"].as_str().map(str::to_owned),
            ))
        })
        .collect();
    let marketplace_ids = match &req.marketplace_ids {
        Some(given) => {
            let unknown: Vec<&String> = given
                .iter()
                .filter(|g| !joined.iter().any(|(id, _)| id == *g))
                .collect();
            if given.is_empty() || !unknown.is_empty() {
                return Err(unprocessable(format!(
                    "marketplace_ids: the seller participates in {:?}; not in {unknown:?}",
                    joined.iter().map(|(id, _)| id).collect::<Vec<_>>()
                )));
            }
            given.clone()
        }
        None if joined.is_empty() => {
            return Err(unprocessable(
                "amazon: the seller participates in no marketplace",
            ));
        }
        None => joined.iter().map(|(id, _)| id.clone()).collect(),
    };
    let currency = joined
        .iter()
        .find(|(id, _)| *id == marketplace_ids[0])
        .and_then(|(_, c)| c.clone());
    let mut connection = Connection {
        id: random_hex(16),
        tenant,
        platform: Platform::Amazon,
        base_url: endpoint,
        detected_by,
        credentials: Credentials::AmazonSpApi {
            seller_id,
            client_id,
            client_secret,
            refresh_token,
            marketplace_ids,
        },
        webhook_secret: None,
        shop_name: None,
        currency,
        webhooks: Vec::new(),
        created_at_ms: now_ms(),
    };
    state.store(&connection).map_err(internal)?;
    finish(state, http, &mut connection, false, req.backfill).await
}

/// Flipkart: the client-credentials token, then a one-shipment search; stored, no webhook
/// (Flipkart subscribes notifications by e-mail), backfill by the shipments poller.
async fn connect_flipkart(
    state: &ConnectState,
    http: &Platforms,
    req: &ConnectRequest,
    detected_by: String,
) -> Result<Response, ApiError> {
    let config = &state.inner.config;
    let mut missing = Vec::new();
    let app_id = required(&req.app_id, "app_id", &mut missing).to_owned();
    let app_secret = required(&req.app_secret, "app_secret", &mut missing).to_owned();
    if !missing.is_empty() {
        return Err(unprocessable(format!(
            "flipkart needs app_id and app_secret; missing: {}",
            missing.join(", ")
        )));
    }
    let tenant = marketplace_tenant(req, Platform::Flipkart)?;
    let api = config.flipkart_api_base.trim_end_matches('/').to_owned();
    check_base("flipkart", &api).map_err(|e| unprocessable(e.to_string()))?;
    check_base("flipkart", &config.flipkart_token_url).map_err(|e| unprocessable(e.to_string()))?;
    let basic = poll::flipkart::basic_auth(&app_id, &app_secret).map_err(unprocessable)?;
    let a = http
        .send(
            hyper::Method::GET,
            &poll::flipkart::token_request_url(&config.flipkart_token_url),
            &[(header::AUTHORIZATION, basic)],
            None,
        )
        .await
        .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, format!("flipkart: {e}")))?;
    check_validation("flipkart", "the client-credentials token request", &a, true)?;
    let (token, _) = poll::flipkart::read_token_answer(&a.body)
        .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, format!("flipkart token: {e}")))?;
    let bearer = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        ApiError(
            StatusCode::BAD_GATEWAY,
            "flipkart's access token is not a header value".into(),
        )
    })?;
    let search = poll::flipkart::filter_body(poll::flipkart::FilterType::PreDispatch, None, 1);
    let a = http
        .send_body(
            hyper::Method::POST,
            &format!("{api}{}", poll::flipkart::FILTER_PATH),
            &[(header::AUTHORIZATION, bearer)],
            Some(("application/json", search)),
        )
        .await
        .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, format!("flipkart: {e}")))?;
    check_validation("flipkart", "a one-shipment search", &a, false)?;
    if a.json().and_then(|v| v.get("shipments").cloned()).is_none() {
        return Err(ApiError(
            StatusCode::BAD_GATEWAY,
            "flipkart: the shipment search answered without a shipments list".into(),
        ));
    }
    let mut connection = Connection {
        id: random_hex(16),
        tenant,
        platform: Platform::Flipkart,
        base_url: api,
        detected_by,
        credentials: Credentials::FlipkartApp { app_id, app_secret },
        webhook_secret: None,
        shop_name: None,
        currency: Some("INR".into()),
        webhooks: Vec::new(),
        created_at_ms: now_ms(),
    };
    state.store(&connection).map_err(internal)?;
    finish(state, http, &mut connection, false, req.backfill).await
}

/// Register webhooks, store them with the connection, start the backfill, and answer.
async fn finish(
    state: &ConnectState,
    http: &Platforms,
    connection: &mut Connection,
    register: bool,
    backfill: bool,
) -> Result<Response, ApiError> {
    if register {
        connection.webhooks = register_webhooks(state, http, connection).await;
        state.store(connection).map_err(internal)?;
    }
    let running = if backfill {
        start_backfill(state, connection).map_err(internal)?
    } else {
        false
    };
    let mut body = with_backfill(state, connection.public(), &connection.id);
    if let Some(obj) = body.as_object_mut() {
        obj.insert("backfill_started".into(), json!(backfill));
        let note = match connection.platform {
            Platform::Amazon => Some(AMAZON_NOTIFICATIONS),
            Platform::Flipkart => Some(FLIPKART_NOTIFICATIONS),
            Platform::Shopify | Platform::WooCommerce => None,
        };
        if let Some(n) = note {
            obj.insert("notifications".into(), json!(n));
        }
    }
    let status = if running {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(body)).into_response())
}

/// Where Shopify requests for `base` go (the override, for tests and tunnels).
fn shopify_api_base(config: &ConnectConfig, platform: Platform, base: &str) -> String {
    match (&config.shopify_base_override, platform) {
        (Some(o), Platform::Shopify) => o.trim_end_matches('/').to_owned(),
        _ => base.to_owned(),
    }
}

async fn detect(
    http: &Platforms,
    config: &ConnectConfig,
    req: &ConnectRequest,
    base: &str,
    uri: &Uri,
) -> Result<(Platform, String), ApiError> {
    if let Some(p) = req.platform {
        return Ok((p, "platform field".into()));
    }
    if uri.host().is_some_and(valid_shop_domain) {
        return Ok((Platform::Shopify, "url".into()));
    }
    let token = req.access_token.as_deref().unwrap_or("");
    if token.starts_with("shpat_") || token.starts_with("shpca_") {
        return Ok((Platform::Shopify, "credentials".into()));
    }
    if req
        .consumer_key
        .as_deref()
        .is_some_and(|k| k.starts_with("ck_"))
        && req
            .consumer_secret
            .as_deref()
            .is_some_and(|s| s.starts_with("cs_"))
    {
        return Ok((Platform::WooCommerce, "credentials".into()));
    }
    let mut why = Vec::new();
    match http
        .send(hyper::Method::GET, &format!("{base}/wp-json/"), &[], None)
        .await
    {
        Ok(a) if a.status.is_success() => {
            let wc = a
                .json()
                .and_then(|v| v.get("namespaces").cloned())
                .and_then(|n| n.as_array().cloned())
                .is_some_and(|n| n.iter().any(|x| x.as_str() == Some("wc/v3")));
            if wc {
                return Ok((Platform::WooCommerce, "probe".into()));
            }
            why.push("/wp-json/ lists no wc/v3 namespace".to_owned());
        }
        Ok(a) => why.push(format!("/wp-json/ answered {}", a.status.as_u16())),
        Err(e) => why.push(format!("/wp-json/: {e}")),
    }
    let path = format!("/admin/api/{}/shop.json", config.shopify_api_version);
    match http
        .send(hyper::Method::GET, &format!("{base}{path}"), &[], None)
        .await
    {
        Ok(a) if a.status == StatusCode::OK || a.status == StatusCode::UNAUTHORIZED => {
            return Ok((Platform::Shopify, "probe".into()));
        }
        Ok(a) => why.push(format!("{path} answered {}", a.status.as_u16())),
        Err(e) => why.push(format!("{path}: {e}")),
    }
    Err(unprocessable(format!(
        "cannot tell the platform: no myshopify.com host, no shpat_/shpca_ token or ck_/cs_ key \
         pair, and the probes found nothing ({}); say \"platform\"",
        why.join("; ")
    )))
}

/// One real call with the credentials; returns the shop's name and currency when known.
async fn validate(
    http: &Platforms,
    config: &ConnectConfig,
    api_base: &str,
    credentials: &Credentials,
) -> Result<(Option<String>, Option<String>), ApiError> {
    let (platform, path, headers) = match credentials {
        Credentials::ShopifyToken { access_token, .. } => (
            "shopify",
            format!("/admin/api/{}/shop.json", config.shopify_api_version),
            vec![shopify_token(access_token)?],
        ),
        Credentials::WooCommerceKeys {
            consumer_key,
            consumer_secret,
        } => (
            "woocommerce",
            "/wp-json/wc/v3/orders?per_page=1".to_owned(),
            vec![basic(consumer_key, consumer_secret)?],
        ),
        Credentials::AmazonSpApi { .. } | Credentials::FlipkartApp { .. } => {
            return Err(internal(
                "amazon and flipkart are validated by connect_amazon and connect_flipkart",
            ));
        }
    };
    let a = http
        .send(
            hyper::Method::GET,
            &format!("{api_base}{path}"),
            &headers,
            None,
        )
        .await
        .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, format!("{platform}: {e}")))?;
    if a.status == StatusCode::UNAUTHORIZED || a.status == StatusCode::FORBIDDEN {
        return Err(unprocessable(format!(
            "credentials refused by {platform}: {} {}",
            a.status.as_u16(),
            a.message()
        )));
    }
    if !a.status.is_success() {
        return Err(ApiError(
            StatusCode::BAD_GATEWAY,
            format!(
                "{platform} answered {} to the validation call: {}",
                a.status.as_u16(),
                a.message()
            ),
        ));
    }
    let shop = a.json().and_then(|v| v.get("shop").cloned());
    let text = |k: &str| {
        shop.as_ref()
            .and_then(|s| s.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    Ok((text("name"), text("currency")))
}

async fn register_webhooks(state: &ConnectState, http: &Platforms, c: &Connection) -> Vec<Webhook> {
    let config = &state.inner.config;
    let public = config.public_base_url.trim_end_matches('/');
    let mut out = Vec::new();
    match &c.credentials {
        Credentials::ShopifyToken { access_token, .. } => {
            let api = shopify_api_base(config, Platform::Shopify, &c.base_url);
            let url = format!(
                "{api}/admin/api/{}/webhooks.json",
                config.shopify_api_version
            );
            let address = format!("{public}/webhooks/shopify/{}", c.tenant);
            let Ok(token) = shopify_token(access_token) else {
                return out;
            };
            for topic in SHOPIFY_TOPICS {
                let body =
                    json!({"webhook": {"topic": topic, "address": address, "format": "json"}});
                let answer = http
                    .send(
                        hyper::Method::POST,
                        &url,
                        std::slice::from_ref(&token),
                        Some(&body),
                    )
                    .await;
                out.push(outcome(topic, answer, "webhook", |a| {
                    // Shopify: 422 {"errors": {"address": ["for this topic has already been taken"]}}
                    a.status == StatusCode::UNPROCESSABLE_ENTITY
                        && a.message().contains("already been taken")
                }));
            }
        }
        Credentials::WooCommerceKeys {
            consumer_key,
            consumer_secret,
        } => {
            let url = format!("{}/wp-json/wc/v3/webhooks", c.base_url);
            let delivery = format!("{public}/webhooks/woocommerce/{}", c.tenant);
            let Ok(auth) = basic(consumer_key, consumer_secret) else {
                return out;
            };
            for topic in WOO_TOPICS {
                let body = json!({
                    "name": format!("Mindset {topic}"),
                    "topic": topic,
                    "delivery_url": delivery,
                    "secret": c.webhook_secret,
                    "status": "active",
                });
                let answer = http
                    .send(
                        hyper::Method::POST,
                        &url,
                        std::slice::from_ref(&auth),
                        Some(&body),
                    )
                    .await;
                out.push(outcome(topic, answer, "", |_| false));
            }
        }
        // Neither has a webhook API Mindset can call (see the notifications note).
        Credentials::AmazonSpApi { .. } | Credentials::FlipkartApp { .. } => {}
    }
    out
}

fn outcome(
    topic: &str,
    answer: Result<Answer, String>,
    wrapper: &str,
    exists: impl Fn(&Answer) -> bool,
) -> Webhook {
    let mut w = Webhook {
        topic: topic.to_owned(),
        outcome: "failed".into(),
        id: None,
        error: None,
    };
    match answer {
        Ok(a) if a.status.is_success() => {
            let v = a.json().unwrap_or_default();
            let v = if wrapper.is_empty() {
                &v
            } else {
                v.get(wrapper).unwrap_or(&Value::Null)
            };
            w.id = v.get("id").and_then(poll::json_id);
            w.outcome = "registered".into();
        }
        Ok(a) if exists(&a) => w.outcome = "exists".into(),
        Ok(a) => w.error = Some(format!("{}: {}", a.status.as_u16(), a.message())),
        Err(e) => w.error = Some(e),
    }
    w
}

/// Spawn the backfill poller of `c`; true while it runs.
fn start_backfill(state: &ConnectState, c: &Connection) -> Result<bool, String> {
    let config = &state.inner.config;
    let mut settings = config
        .poll_template
        .clone()
        .unwrap_or_else(|| PollSettings::new(&c.tenant, config.data_dir.join("cursors")));
    settings.tenant = c.tenant.clone();
    settings.cursor_dir = config.data_dir.join("cursors");
    if settings.shop_currency.is_none() {
        settings.shop_currency = c.currency.clone();
    }
    enum Job {
        Shopify(Box<ShopifyConfig>),
        Woo(Box<WooConfig>),
        Amazon(Box<AmazonConfig>),
        Flipkart(Box<FlipkartConfig>),
    }
    let job = match &c.credentials {
        Credentials::ShopifyToken { access_token, .. } => {
            let base = shopify_api_base(config, Platform::Shopify, &c.base_url);
            let mut cfg = ShopifyConfig::new(base, access_token.clone(), settings);
            cfg.api_version = config.shopify_api_version.clone();
            Job::Shopify(Box::new(cfg))
        }
        Credentials::WooCommerceKeys {
            consumer_key,
            consumer_secret,
        } => Job::Woo(Box::new(WooConfig::new(
            c.base_url.clone(),
            consumer_key.clone(),
            consumer_secret.clone(),
            settings,
        ))),
        Credentials::AmazonSpApi {
            client_id,
            client_secret,
            refresh_token,
            marketplace_ids,
            ..
        } => {
            let mut cfg = AmazonConfig::new(
                client_id.clone(),
                client_secret.clone(),
                refresh_token.clone(),
                marketplace_ids.clone(),
                settings,
            );
            cfg.endpoint = config
                .amazon_endpoint_override
                .clone()
                .unwrap_or_else(|| c.base_url.clone());
            cfg.token_url = config.amazon_lwa_url.clone();
            Job::Amazon(Box::new(cfg))
        }
        Credentials::FlipkartApp { app_id, app_secret } => {
            let mut cfg = FlipkartConfig::new(app_id.clone(), app_secret.clone(), settings);
            cfg.api_base = c.base_url.clone();
            cfg.token_url = config.flipkart_token_url.clone();
            Job::Flipkart(Box::new(cfg))
        }
    };
    let status = Arc::new(Mutex::new(Backfill::Running));
    let producer = state.inner.producer.clone();
    let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
    let tenant = c.tenant.clone();
    let shared = status.clone();
    // The pollers' futures are not `Send` (the connectors' context): each backfill runs on its
    // own thread with a current-thread runtime.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("backfill runtime: {e}"))?;
    std::thread::Builder::new()
        .name(format!("backfill-{tenant}"))
        .spawn(move || {
            let result = runtime.block_on(async move {
                let poll = async {
                    match &job {
                        Job::Shopify(cfg) => poll::shopify::poll_once(cfg, &producer).await,
                        Job::Woo(cfg) => poll::woocommerce::poll_once(cfg, &producer).await,
                        Job::Amazon(cfg) => {
                            let mut tokens = poll::amazon::AccessTokens::new();
                            poll::amazon::poll_once(cfg, &mut tokens, &producer).await
                        }
                        Job::Flipkart(cfg) => {
                            let mut tokens = poll::flipkart::AccessTokens::new();
                            poll::flipkart::poll_once(cfg, &mut tokens, &producer).await
                        }
                    }
                };
                tokio::select! {
                    r = poll => Some(r),
                    _ = cancelled => None,
                }
            });
            let b = match result {
                Some(Ok(s)) => Backfill::Done {
                    filed: s.filed,
                    pages: s.pages,
                },
                Some(Err(e)) => {
                    tracing::warn!(tenant, error = %e, "backfill failed");
                    Backfill::Failed {
                        reason: e.to_string(),
                    }
                }
                None => Backfill::Failed {
                    reason: "cancelled".into(),
                },
            };
            *shared.lock().expect("backfill lock") = b;
        })
        .map_err(|e| format!("backfill thread: {e}"))?;
    let running = matches!(*status.lock().expect("backfill lock"), Backfill::Running);
    state
        .inner
        .backfills
        .lock()
        .expect("backfills lock")
        .insert(c.id.clone(), (status, cancel));
    Ok(running)
}

// ---------------------------------------------------------------------------------------------
// Shopify OAuth

/// HMAC-SHA256 (RFC 2104) of `msg` with `key`.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let digit = |c: u8| (c as char).to_digit(16);
                match (digit(b[i + 1]), digit(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The decoded query parameters, in order.
fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// The message Shopify signs: every parameter but `hmac`, sorted by key, `k=v` joined by `&`.
pub fn query_hmac_message(params: &[(String, String)]) -> String {
    let mut kept: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "hmac").collect();
    kept.sort();
    kept.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Check a Shopify query HMAC (hex) with the app secret, in constant time.
pub fn verify_query_hmac(secret: &str, params: &[(String, String)]) -> bool {
    let Some(given) = params.iter().find(|(k, _)| k == "hmac").map(|(_, v)| v) else {
        return false;
    };
    let expected = hex(&hmac_sha256(
        secret.as_bytes(),
        query_hmac_message(params).as_bytes(),
    ));
    bool::from(
        expected
            .as_bytes()
            .ct_eq(given.to_ascii_lowercase().as_bytes()),
    )
}

/// Check app, HMAC and shop of an install or callback query; returns the params and the shop.
fn check_shopify_query(
    state: &ConnectState,
    raw: Option<String>,
) -> Result<(ShopifyApp, BTreeMap<String, String>), ApiError> {
    let Some(app) = state.inner.config.shopify_app.clone() else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "no Shopify app is configured".into(),
        ));
    };
    let params = parse_query(raw.as_deref().unwrap_or(""));
    if !verify_query_hmac(&app.client_secret, &params) {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "the query HMAC does not match".into(),
        ));
    }
    let map: BTreeMap<String, String> = params.into_iter().collect();
    match map.get("shop") {
        Some(shop) if valid_shop_domain(shop) => Ok((app, map)),
        Some(shop) => Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("shop {shop:?} is not a *.myshopify.com domain"),
        )),
        None => Err(ApiError(
            StatusCode::BAD_REQUEST,
            "no shop parameter".into(),
        )),
    }
}

async fn shopify_install(
    State(state): State<ConnectState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (app, params) = check_shopify_query(&state, raw)?;
    let shop = params["shop"].clone();
    let nonce = random_hex(16);
    {
        let mut states = state.inner.states.lock().expect("states lock");
        states.retain(|_, (_, at)| at.elapsed() < STATE_TTL);
        states.insert(nonce.clone(), (shop.clone(), std::time::Instant::now()));
    }
    let enc = poll::encode;
    let location = format!(
        "https://{shop}/admin/oauth/authorize?client_id={}&scope={}&redirect_uri={}&state={nonce}",
        enc(&app.client_id),
        enc(&app.scopes),
        enc(&app.redirect_uri),
    );
    Ok((
        StatusCode::FOUND,
        [(header::LOCATION, location)],
        Json(json!({"redirect": "shopify authorize"})),
    )
        .into_response())
}

async fn shopify_callback(
    State(state): State<ConnectState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (_, params) = check_shopify_query(&state, raw)?;
    let shop = params["shop"].clone();
    let nonce = params.get("state").cloned().unwrap_or_default();
    let issued = state
        .inner
        .states
        .lock()
        .expect("states lock")
        .remove(&nonce);
    match issued {
        Some((s, at)) if s == shop && at.elapsed() < STATE_TTL => {}
        _ => {
            return Err(ApiError(
                StatusCode::UNAUTHORIZED,
                "unknown, expired or foreign state".into(),
            ));
        }
    }
    let Some(code) = params.get("code") else {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "no code parameter".into(),
        ));
    };
    let config = &state.inner.config;
    let http = Platforms::new(config.request_timeout).map_err(internal)?;
    let credentials = exchange_code(&state, &http, &shop, code).await?;
    let base = format!("https://{shop}");
    let api_base = shopify_api_base(config, Platform::Shopify, &base);
    let (shop_name, currency) = validate(&http, config, &api_base, &credentials).await?;
    let mut connection = Connection {
        id: random_hex(16),
        tenant: shop.trim_end_matches(".myshopify.com").to_owned(),
        platform: Platform::Shopify,
        base_url: base,
        detected_by: "oauth".into(),
        credentials,
        webhook_secret: None,
        shop_name,
        currency,
        webhooks: Vec::new(),
        created_at_ms: now_ms(),
    };
    state.store(&connection).map_err(internal)?;
    finish(&state, &http, &mut connection, true, true).await
}

/// `POST https://{shop}/admin/oauth/access_token` with the app's id and secret and `code`.
async fn exchange_code(
    state: &ConnectState,
    http: &Platforms,
    shop: &str,
    code: &str,
) -> Result<Credentials, ApiError> {
    let config = &state.inner.config;
    let Some(app) = &config.shopify_app else {
        return Err(unprocessable(
            "an OAuth code needs a configured Shopify app",
        ));
    };
    let base = shopify_api_base(config, Platform::Shopify, &format!("https://{shop}"));
    check_base("shopify", &base).map_err(|e| unprocessable(e.to_string()))?;
    let body =
        json!({"client_id": app.client_id, "client_secret": app.client_secret, "code": code});
    let a = http
        .send(
            hyper::Method::POST,
            &format!("{base}/admin/oauth/access_token"),
            &[],
            Some(&body),
        )
        .await
        .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, format!("shopify: {e}")))?;
    if !a.status.is_success() {
        return Err(unprocessable(format!(
            "shopify refused the OAuth code: {} {}",
            a.status.as_u16(),
            a.message()
        )));
    }
    let v = a.json().unwrap_or_default();
    let Some(token) = v.get("access_token").and_then(|t| t.as_str()) else {
        return Err(ApiError(
            StatusCode::BAD_GATEWAY,
            "shopify's token answer has no access_token".into(),
        ));
    };
    Ok(Credentials::ShopifyToken {
        access_token: token.to_owned(),
        scope: v.get("scope").and_then(|s| s.as_str()).map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shop_domains() {
        assert!(valid_shop_domain("acme.myshopify.com"));
        assert!(valid_shop_domain("a-b_c9.myshopify.com"));
        assert!(!valid_shop_domain("-acme.myshopify.com"));
        assert!(!valid_shop_domain(".myshopify.com"));
        assert!(!valid_shop_domain("acme.myshopify.com.evil.com"));
        assert!(!valid_shop_domain("ac/me.myshopify.com"));
    }

    #[test]
    fn percent_decoding_and_last4() {
        assert_eq!(percent_decode("a%20b+c%2F"), "a b c/");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(last4("shpat_abcdef"), "…cdef");
        assert_eq!(last4("ab"), "…ab");
    }

    #[test]
    fn key_from_the_environment_value() {
        let k = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        assert_eq!(decode_key(&format!(" {k}\n")).unwrap(), [9u8; 32]);
        let short = base64::engine::general_purpose::STANDARD.encode([9u8; 16]);
        assert!(
            decode_key(&short)
                .unwrap_err()
                .to_string()
                .contains("16 bytes")
        );
        assert!(decode_key("not base64!").is_err());
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
