//! HTTP ingest: the webhook endpoints through which Shopify, WooCommerce, Flipkart and Amazon
//! deliver to Mindset. This module owns the HTTP side only; what a delivery means is
//! `mindset_connectors`' business.
//!
//! | route | authenticity | topic |
//! | --- | --- | --- |
//! | `POST /webhooks/shopify/{tenant}` | `X-Shopify-Hmac-Sha256` over the raw body, with the tenant's secret | `X-Shopify-Topic` (or `shopify-topic`) |
//! | `POST /webhooks/woocommerce/{tenant}` | `X-WC-Webhook-Signature` over the raw body; the unsigned creation ping is answered 200 and writes nothing | `X-WC-Webhook-Topic` |
//! | `POST /webhooks/flipkart/{tenant}` | `X_Authorization` / `X_Date` with the tenant's app credentials and registered URL | the body's `eventType` |
//! | `POST /webhooks/amazon/{tenant}` | the `x-api-key` header, then the notification envelope (and its `ApplicationId` when configured) | the envelope's `NotificationType` |
//! | `GET /healthz` | none | |
//!
//! Per delivery: read the raw body (at most [`BODY_LIMIT`], else 413), verify it (401 with the
//! reason), normalise it (400 for an unknown topic or a malformed body, 422 for a well-formed body
//! with invalid values), check that every event can be filed (`publish::prepare`; 422 and nothing
//! written if one cannot), then append the [`RawPayload`](mindset_schemas::RawPayload) to
//! `ingest.raw.v1` (key `tenant|raw_id`) and the events to `customer.events.v1` /
//! `catalog.events.v1`, and answer `200 {"accepted": <events>, "raw_id": …}` once all of it is
//! durable. Nothing is written for a refused delivery. A log failure answers 503 (or 500 when
//! retrying cannot help), so the platform delivers again.
//!
//! **Redeliveries.** Event ids are deterministic, so a redelivered webhook repeats its event ids
//! and consumers drop the repeat. On top of that, each process remembers the last
//! [`DEDUP_CAPACITY`] deliveries (raw id and a SHA-256 of the body): an exact repeat is answered
//! `200 {"duplicate": true}` without appending anything.
//!
//! Every refusal goes through [`IngestError`], which picks the status and answers
//! `{"error": "<reason>"}`.

mod secrets;

use std::{
    collections::HashSet,
    num::NonZeroUsize,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Path, State, rejection::PathRejection},
    http::{HeaderMap, StatusCode, header::CONTENT_LENGTH},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use mindset_connectors::{
    Context, Headers, Normalised, amazon, common::header, flipkart, shopify, woocommerce,
};
use mindset_pipeline::{LogError, Producer, Record, publish};
use mindset_schemas::{CanonicalEvent, EncodeError, RawPayload};
use mindset_topics::{EntityKey, KeyCodec, RAW_PAYLOADS, ValueCodec};
use serde_json::{Value, json};

pub use secrets::{
    AmazonApiSecrets, AmazonSecrets, FlipkartSecrets, SECRETS_ENV, Secrets, SecretsError,
    ShopifyApiSecrets, ShopifySecrets, TenantSecrets, TrackSecrets, WooCommerceApiSecrets,
    WooCommerceSecrets,
};

use crate::collect::{self, IdentityMap};

/// The largest body accepted, in bytes (1 MiB); larger ones are answered 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// How many recent deliveries each process remembers to skip exact redeliveries.
pub const DEDUP_CAPACITY: usize = 65_536;

/// The header that names a Shopify webhook's topic (`shopify-topic` on newer event deliveries).
pub const SHOPIFY_TOPIC_HEADER: &str = "X-Shopify-Topic";

/// The header that names a WooCommerce webhook's topic.
pub const WOOCOMMERCE_TOPIC_HEADER: &str = "X-WC-Webhook-Topic";

/// The header an Amazon notification's forwarder sends the tenant's key in.
pub const AMAZON_KEY_HEADER: &str = "x-api-key";

/// The current time in milliseconds since the Unix epoch.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// What tells two deliveries with the same platform id apart: a 128-bit hash of the body.
pub(crate) type BodyDigest = u128;

/// Two 64-bit foldhash passes with fixed seeds. Only signed (verified) bodies are hashed, so no
/// one but the platform chooses the inputs, and a cryptographic hash (SHA-256 took 8 µs of a
/// 10 KB order's 100) buys nothing here.
pub(crate) fn body_digest(body: &[u8]) -> BodyDigest {
    use std::hash::BuildHasher;
    let pass = |seed| foldhash::quality::FixedState::with_seed(seed).hash_one(body);
    (u128::from(pass(0x6d69_6e64_7365_7431)) << 64) | u128::from(pass(0x7261_775f_626f_6479))
}

/// What the endpoints share: where deliveries are filed, the tenants' secrets, the clock, and the
/// recently seen deliveries.
pub struct IngestState {
    pub(crate) producer: Producer,
    pub(crate) secrets: Secrets,
    pub(crate) clock: Clock,
    seen: Mutex<lru::LruCache<String, BodyDigest>>,
    /// Track API write key → tenant.
    pub(crate) write_keys: Vec<(String, String)>,
    /// Every tenant's storefront origins (for CORS preflights).
    pub(crate) origins: HashSet<String>,
    pub(crate) identities: IdentityMap,
}

impl IngestState {
    /// File deliveries with `producer`, for the tenants in `secrets`, on the system clock.
    pub fn new(producer: Producer, secrets: Secrets) -> IngestState {
        let mut write_keys = Vec::new();
        let mut origins = HashSet::new();
        for tenant in secrets.tenants() {
            if let Some(t) = secrets.tenant(tenant).and_then(|t| t.track.as_ref()) {
                write_keys.extend(t.write_keys.iter().map(|k| (k.clone(), tenant.to_owned())));
                origins.extend(t.origins.iter().cloned());
            }
        }
        IngestState {
            producer,
            secrets,
            clock: Arc::new(system_now_ms),
            seen: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(DEDUP_CAPACITY).expect("non-zero"),
            )),
            write_keys,
            origins,
            identities: IdentityMap::default(),
        }
    }

    /// The identity joins the track API knows (restore them with [`IdentityMap::restore`]).
    pub fn identities(&self) -> &IdentityMap {
        &self.identities
    }

    /// Use `clock` for arrival times and Flipkart's freshness check (tests pass a fixed time).
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> IngestState {
        self.clock = Arc::new(clock);
        self
    }

    /// Remember `capacity` recent deliveries instead of [`DEDUP_CAPACITY`].
    pub fn with_dedup_capacity(mut self, capacity: NonZeroUsize) -> IngestState {
        self.seen = Mutex::new(lru::LruCache::new(capacity));
        self
    }

    /// The tenant's settings and its secrets for one platform; 404 if either is missing.
    fn connected<'s, P>(
        &'s self,
        tenant: &str,
        platform: &'static str,
        pick: impl FnOnce(&'s TenantSecrets) -> Option<&'s P>,
    ) -> Result<(&'s TenantSecrets, &'s P), IngestError> {
        self.secrets
            .tenant(tenant)
            .and_then(|t| Some((t, pick(t)?)))
            .ok_or_else(|| IngestError::UnknownTenant {
                tenant: tenant.to_owned(),
                platform,
            })
    }

    /// Remember a delivery; false if exactly this delivery was seen recently. A repeat that
    /// arrives while the first is still being filed counts as seen: if that filing then fails,
    /// the first is answered 5xx and forgotten, and the platform retries it.
    pub(crate) fn first_sighting(&self, raw_id: &str, digest: BodyDigest) -> bool {
        let mut seen = self.seen.lock().expect("dedup lock");
        if seen.get(raw_id) == Some(&digest) {
            return false;
        }
        seen.put(raw_id.to_owned(), digest);
        true
    }

    /// Forget a delivery whose filing failed, so that the platform's retry is filed.
    pub(crate) fn forget(&self, raw_id: &str, digest: BodyDigest) {
        let mut seen = self.seen.lock().expect("dedup lock");
        if seen.peek(raw_id) == Some(&digest) {
            seen.pop(raw_id);
        }
    }

    /// Append the raw payload and the events of one verified, normalised delivery.
    async fn file(&self, n: Normalised) -> Result<Json<Value>, IngestError> {
        let (by_topic, rejected) = publish::prepare(&n.events);
        if !rejected.is_empty() {
            return Err(IngestError::refused(&n.events, &rejected));
        }
        let raw = &n.raw;
        let digest = body_digest(&raw.body);
        if !self.first_sighting(&raw.raw_id, digest) {
            tracing::debug!(tenant = %raw.tenant_id, platform = %raw.platform, raw_id = %raw.raw_id, "redelivery skipped");
            return Ok(Json(json!({ "duplicate": true, "raw_id": raw.raw_id })));
        }
        let record = raw_record(raw).map_err(IngestError::Encode)?;
        // One write request for every topic (the embedded log commits it as a whole).
        let mut batches = vec![(&RAW_PAYLOADS.spec, vec![record])];
        batches.extend(by_topic.into_values());
        if let Err(e) = self.producer.send_topics(batches).await {
            self.forget(&raw.raw_id, digest);
            return Err(IngestError::Log(e));
        }
        tracing::debug!(
            tenant = %raw.tenant_id,
            platform = %raw.platform,
            topic = %raw.source,
            raw_id = %raw.raw_id,
            events = n.events.len(),
            "delivery filed"
        );
        let mut answer = json!({ "accepted": n.events.len(), "raw_id": raw.raw_id });
        if let Some(note) = n.note {
            answer["note"] = Value::String(note);
        }
        Ok(Json(answer))
    }
}

/// The `ingest.raw.v1` record of a raw payload (key `tenant|raw_id`), as the webhooks, the
/// track API, the pollers and `mindset import` file it.
pub(crate) fn raw_record(raw: &RawPayload) -> Result<Record, EncodeError> {
    Ok(Record::new(
        EntityKey::new(&raw.tenant_id, &raw.raw_id).encode_key(),
        raw.encode_value()?,
        raw.received_at,
    ))
}

fn system_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Why a delivery was refused, and the status it is answered with.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// 404: the tenant does not exist or has not connected this platform.
    #[error("no {platform} webhook is configured for tenant {tenant:?}")]
    UnknownTenant {
        tenant: String,
        platform: &'static str,
    },
    /// 400: the URL's tenant segment is not valid UTF-8.
    #[error("{0}")]
    BadPath(String),
    /// 413.
    #[error("the body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    /// 400: the body could not be read.
    #[error("the body could not be read: {0}")]
    BodyRead(String),
    /// 401: the delivery is not shown to come from the platform.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: a browser call from an origin the shop did not list.
    #[error("{0}")]
    Forbidden(String),
    /// 400: a track call the spec refuses (malformed, too large, a bad message in a batch).
    #[error("{0}")]
    BadRequest(String),
    /// 415.
    #[error("Content-Encoding {0:?} is not supported; send gzip or an uncompressed body")]
    UnsupportedEncoding(String),
    /// 400: a header the platform always sends is missing.
    #[error("missing header {0}")]
    MissingTopic(&'static str),
    /// 401, 400 or 422, from the connector (see [`IngestError::status`]).
    #[error("{0}")]
    Connector(mindset_connectors::Error),
    /// 422: an event of the delivery cannot be filed; nothing of the delivery was written.
    #[error("nothing written; events refused: {}", .reasons.join("; "))]
    EventsRefused { reasons: Vec<String> },
    /// 500.
    #[error("the raw payload could not be encoded: {0}")]
    Encode(EncodeError),
    /// 503 when retrying can help, else 500.
    #[error("the log refused the delivery: {0}")]
    Log(LogError),
    /// 404.
    #[error(
        "no such endpoint: webhooks are POST /webhooks/<shopify|woocommerce|flipkart|amazon>/<tenant>, the track API POST /v1/<track|identify|page|screen|alias|group|batch|messages>"
    )]
    NoRoute,
    /// 405.
    #[error(
        "method not allowed: webhooks and /v1/* take POST; /healthz and /js/mindset.js take GET"
    )]
    MethodNotAllowed,
}

impl From<mindset_connectors::Error> for IngestError {
    fn from(e: mindset_connectors::Error) -> Self {
        IngestError::Connector(e)
    }
}

impl IngestError {
    /// 422 for the events `publish::prepare` refused, each named by index and type.
    pub(crate) fn refused(events: &[CanonicalEvent], rejected: &[(usize, String)]) -> IngestError {
        IngestError::EventsRefused {
            reasons: rejected
                .iter()
                .map(|(i, reason)| {
                    format!("event {i} ({}): {reason}", events[*i].payload.type_name())
                })
                .collect(),
        }
    }

    pub fn status(&self) -> StatusCode {
        use mindset_connectors::Error as C;
        match self {
            IngestError::UnknownTenant { .. } | IngestError::NoRoute => StatusCode::NOT_FOUND,
            IngestError::BadPath(_)
            | IngestError::BodyRead(_)
            | IngestError::MissingTopic(_)
            | IngestError::BadRequest(_) => StatusCode::BAD_REQUEST,
            IngestError::Forbidden(_) => StatusCode::FORBIDDEN,
            IngestError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngestError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            IngestError::Connector(e) if e.is_authentication() => StatusCode::UNAUTHORIZED,
            IngestError::Connector(C::Invalid { .. }) | IngestError::EventsRefused { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            IngestError::Connector(_) => StatusCode::BAD_REQUEST,
            IngestError::Encode(_) => StatusCode::INTERNAL_SERVER_ERROR,
            IngestError::Log(e) if e.retryable() => StatusCode::SERVICE_UNAVAILABLE,
            IngestError::Log(_) => StatusCode::INTERNAL_SERVER_ERROR,
            IngestError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), reason = %self, "delivery failed");
        } else {
            tracing::debug!(status = status.as_u16(), reason = %self, "delivery refused");
        }
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

/// The webhook endpoints, the track API (see [`crate::collect`]), the storefront script and
/// `/healthz`, ready to serve.
pub fn router(state: IngestState) -> Router {
    let state = Arc::new(state);
    let track = Router::new()
        .route(
            "/v1/batch",
            post(collect::batch).options(collect::preflight),
        )
        .route("/v1/b", post(collect::batch).options(collect::preflight))
        .route(
            "/v1/messages",
            post(collect::messages).options(collect::preflight),
        )
        .route(
            "/v1/{call}",
            post(collect::single).options(collect::preflight),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            collect::cors,
        ));
    Router::new()
        .route("/webhooks/shopify/{tenant}", post(shopify_webhook))
        .route("/webhooks/woocommerce/{tenant}", post(woocommerce_webhook))
        .route("/webhooks/flipkart/{tenant}", post(flipkart_notification))
        .route("/webhooks/amazon/{tenant}", post(amazon_notification))
        .route("/healthz", get(healthz))
        .route("/js/mindset.js", get(collect::script))
        .merge(track)
        .fallback(|| async { IngestError::NoRoute })
        .method_not_allowed_fallback(|| async { IngestError::MethodNotAllowed })
        .with_state(state)
}

pub(crate) type Shared = State<Arc<IngestState>>;
type Answer = Result<Json<Value>, IngestError>;
type TenantPath = Result<Path<String>, PathRejection>;

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

fn tenant_of(path: TenantPath) -> Result<String, IngestError> {
    path.map(|Path(t)| t)
        .map_err(|e| IngestError::BadPath(e.body_text()))
}

/// The body as received, up to [`BODY_LIMIT`] bytes.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, IngestError> {
    read_body_limited(headers, body, BODY_LIMIT).await
}

/// The body as received, up to `limit` bytes (413 beyond).
pub(crate) async fn read_body_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, IngestError> {
    let too_large = IngestError::BodyTooLarge { limit };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(too_large),
        Err(e) => Err(IngestError::BodyRead(e.to_string())),
    }
}

/// Request headers as the connectors take them (values that are not text are left out).
pub(crate) fn headers_of(headers: &HeaderMap) -> Headers {
    headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}

pub(crate) fn context<'a>(
    tenant: &'a str,
    now: i64,
    headers: &'a Headers,
    t: &'a TenantSecrets,
) -> Context<'a> {
    let ctx = Context::new(tenant, now).with_headers(headers);
    match &t.currency {
        Some(c) => ctx.with_shop_currency(c),
        None => ctx,
    }
}

async fn shopify_webhook(
    State(s): Shared,
    path: TenantPath,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let tenant = tenant_of(path)?;
    let (t, secrets) = s.connected(&tenant, "shopify", |t| t.shopify.as_ref())?;
    let body = read_body(&headers, body).await?;
    let h = headers_of(&headers);
    shopify::verify(secrets.secret.as_bytes(), &h, &body)?;
    let topic = header(&h, SHOPIFY_TOPIC_HEADER)
        .or_else(|| header(&h, "shopify-topic"))
        .ok_or(IngestError::MissingTopic(SHOPIFY_TOPIC_HEADER))?;
    let n = shopify::normalise(topic.trim(), &body, &context(&tenant, (s.clock)(), &h, t))?;
    s.file(n).await
}

async fn woocommerce_webhook(
    State(s): Shared,
    path: TenantPath,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let tenant = tenant_of(path)?;
    let (t, secrets) = s.connected(&tenant, "woocommerce", |t| t.woocommerce.as_ref())?;
    let body = read_body(&headers, body).await?;
    let h = headers_of(&headers);
    match woocommerce::verify(&secrets.secret, &h, &body)? {
        woocommerce::Delivery::Ping { webhook_id } => {
            // WooCommerce activates a webhook only if its creation ping is answered 2xx. The ping
            // is unsigned and carries nothing about customers: nothing is written.
            tracing::info!(%tenant, %webhook_id, "woocommerce webhook creation ping");
            Ok(Json(
                json!({ "accepted": 0, "ping": true, "webhook_id": webhook_id }),
            ))
        }
        woocommerce::Delivery::Signed => {
            let topic = header(&h, WOOCOMMERCE_TOPIC_HEADER)
                .ok_or(IngestError::MissingTopic(WOOCOMMERCE_TOPIC_HEADER))?;
            let n =
                woocommerce::normalise(topic.trim(), &body, &context(&tenant, (s.clock)(), &h, t))?;
            s.file(n).await
        }
    }
}

async fn flipkart_notification(
    State(s): Shared,
    path: TenantPath,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let tenant = tenant_of(path)?;
    let (t, secrets) = s.connected(&tenant, "flipkart", |t| t.flipkart.as_ref())?;
    let body = read_body(&headers, body).await?;
    let h = headers_of(&headers);
    let now = (s.clock)();
    let mut auth =
        flipkart::NotificationAuth::new(&secrets.app_id, &secrets.app_secret, &secrets.url);
    if let Some(skew) = secrets.max_skew_secs {
        auth.max_skew_secs = Some(skew);
    }
    flipkart::verify(&auth, &h, now)?;
    let n = flipkart::normalise("notification", &body, &context(&tenant, now, &h, t))?;
    s.file(n).await
}

async fn amazon_notification(
    State(s): Shared,
    path: TenantPath,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let tenant = tenant_of(path)?;
    let (t, secrets) = s.connected(&tenant, "amazon", |t| t.amazon.as_ref())?;
    let body = read_body(&headers, body).await?;
    let mut h = headers_of(&headers);
    let key = h
        .remove(AMAZON_KEY_HEADER)
        .ok_or(IngestError::Unauthorized(format!(
            "missing header {AMAZON_KEY_HEADER}"
        )))?;
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        key.trim().as_bytes(),
        secrets.api_key.as_bytes(),
    )) {
        return Err(IngestError::Unauthorized(format!(
            "the key in {AMAZON_KEY_HEADER} is not this tenant's"
        )));
    }
    let notification = amazon::verify(&body, None)?;
    if let Some(expected) = &secrets.application_id
        && &notification.application_id != expected
    {
        return Err(IngestError::Unauthorized(format!(
            "the notification is for SP-API application {:?}, not this tenant's",
            notification.application_id
        )));
    }
    let n = amazon::normalise("notification", &body, &context(&tenant, (s.clock)(), &h, t))?;
    s.file(n).await
}

#[cfg(test)]
mod tests {
    use mindset_pipeline::{Log, embedded::EmbeddedLog};
    use mindset_schemas::examples;

    use super::*;

    async fn state(dir: &std::path::Path) -> (Log, IngestState) {
        let log = Log::Embedded(EmbeddedLog::open(dir.join("log.redb")).unwrap());
        log.ensure_topics(&mindset_topics::all()).await.unwrap();
        let state = IngestState::new(log.producer().unwrap(), Secrets::new())
            .with_dedup_capacity(NonZeroUsize::new(2).unwrap());
        (log, state)
    }

    async fn total(log: &Log) -> u64 {
        let mut n = 0;
        for t in mindset_topics::all() {
            n += log.end_offsets(t).await.unwrap().iter().sum::<u64>();
        }
        n
    }

    fn delivery(raw_id: &str, body: &[u8], events: Vec<CanonicalEvent>) -> Normalised {
        Normalised {
            events,
            raw: RawPayload {
                raw_id: raw_id.to_owned(),
                tenant_id: "shop-1".into(),
                platform: "shopify".into(),
                source: "orders/create".into(),
                received_at: 1_760_000_000_000,
                headers: Default::default(),
                content_type: None,
                body: body.to_vec(),
            },
            note: None,
        }
    }

    fn event(id: &str) -> CanonicalEvent {
        let order = examples::every_payload(true)
            .into_iter()
            .find(|p| p.type_name() == "OrderPlaced")
            .expect("an OrderPlaced example");
        let mut ev = examples::event("shop-1", Some("email:a@example.com"), 1, order);
        ev.event_id = id.to_owned();
        ev
    }

    #[tokio::test]
    async fn one_refused_event_refuses_the_whole_delivery() {
        let dir = tempfile::tempdir().unwrap();
        let (log, state) = state(dir.path()).await;
        let mut bad = event("e-2");
        bad.occurred_at = 0;
        let mut no_customer = event("e-3");
        no_customer.customer_key = None;
        let err = state
            .file(delivery("r-1", b"{}", vec![event("e-1"), bad, no_customer]))
            .await
            .unwrap_err();
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let reason = err.to_string();
        assert!(reason.starts_with("nothing written"), "{reason}");
        assert!(
            reason.contains("event 1 (OrderPlaced): occurred_at"),
            "{reason}"
        );
        assert!(reason.contains("event 2 (OrderPlaced)"), "{reason}");
        assert_eq!(total(&log).await, 0);
        // Refused, so not remembered: the corrected delivery is filed.
        let ok = state
            .file(delivery("r-1", b"{}", vec![event("e-1")]))
            .await
            .unwrap();
        assert_eq!(ok.0["accepted"], 1);
        assert_eq!(total(&log).await, 2);
    }

    #[tokio::test]
    async fn recent_deliveries_are_remembered_up_to_the_capacity() {
        let dir = tempfile::tempdir().unwrap();
        let (log, state) = state(dir.path()).await;
        let file = |id: &'static str, body: &'static [u8]| state.file(delivery(id, body, vec![]));
        assert_eq!(file("a", b"1").await.unwrap().0["accepted"], 0);
        assert_eq!(file("a", b"1").await.unwrap().0["duplicate"], true);
        // Same raw id, other bytes: not an exact redelivery.
        assert_eq!(file("a", b"2").await.unwrap().0["accepted"], 0);
        assert_eq!(total(&log).await, 2);
        // Capacity 2: "a" (the latest version) and "b" are remembered, then "c" evicts "a".
        let _ = file("b", b"1").await.unwrap();
        let _ = file("c", b"1").await.unwrap();
        assert_eq!(file("b", b"1").await.unwrap().0["duplicate"], true);
        assert_eq!(file("a", b"2").await.unwrap().0["accepted"], 0);
        assert_eq!(total(&log).await, 5);
    }

    #[test]
    fn connector_errors_map_to_statuses() {
        use mindset_connectors::Error as C;
        let status = |e: C| IngestError::from(e).status();
        assert_eq!(
            status(C::SignatureMismatch { header: "h" }),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status(C::StaleTimestamp {
                header: "h",
                skew_secs: 1,
                allowed_secs: 0
            }),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status(C::UnknownTopic {
                platform: "p",
                topic: "t".into(),
                handled: "x"
            }),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(C::Malformed {
                platform: "p",
                topic: "t".into(),
                path: ".".into(),
                line: 1,
                column: 1,
                reason: "r".into()
            }),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(C::Invalid {
                platform: "p",
                topic: "t".into(),
                field: "f".into(),
                reason: "r".into()
            }),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            IngestError::Log(LogError::Storage("disk".into())).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            IngestError::Log(LogError::UnknownTopic("t".into())).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
