//! Pollers: read orders and customers from a platform's REST API, for backfills and for stores
//! whose webhooks cannot reach Mindset, and file them exactly as the webhook ingest does.
//!
//! - [`shopify::poll_once`]: REST Admin `orders.json?status=any` and `customers.json`, cursor
//!   paging through the `Link` header, pacing by `X-Shopify-Shop-Api-Call-Limit`.
//! - [`woocommerce::poll_once`]: REST v3 `/wp-json/wc/v3/orders` and `customers`, page numbers up
//!   to `X-WP-TotalPages`, errors as `{code, message, data: {status}}`.
//! - [`amazon::poll_once`]: SP-API Orders v0 `getOrders` by `LastUpdatedAfter`, each new order
//!   joined with its `getOrderItems`, `NextToken` paging, an LWA access token exchanged from the
//!   refresh token and cached, a token bucket per operation.
//! - [`flipkart::poll_once`]: Seller API v3 shipment search (`POST /v3/shipments/filter` by
//!   `modifiedDate`, `hasMore`/`nextPageUrl` paging) and shipment details for the new ones, a
//!   client-credentials token cached for its lifetime and requested again on `401`.
//!
//! **Filing.** Every object of a page is normalised alone, with the topic its webhook would carry
//! (`orders/updated`, `customers/update`, `order.updated`, `customer.updated`; Flipkart's
//! shipments as the `shipments` kind, whose events are those of the `shipment_created`
//! notification), so a polled object gets the event ids the webhook or notification of the same
//! version gets, and the two paths never double-count. Per page, the raw payloads go to `ingest.raw.v1` and the events to the topics
//! `publish::prepare` routes them to, all in one set of durable writes. An object the connector
//! refuses (a malformed or invalid value) is dead-lettered to `ingest.raw.v1.dlq` with the reason
//! in its headers (never dropped, never blocking the objects after it).
//!
//! **Incremental.** Each resource keeps a [`cursor::Cursor`] (latest version stamp seen and the
//! ids seen at that instant). A poll reads from the stamp itself (the overlap is filtered by the
//! cursor, so a re-read files nothing twice), pages until caught up, and saves the cursor only
//! after all of it is durable: a failed or interrupted poll leaves the cursor as it was and the
//! next one reads the same objects again, which file the same ids.
//!
//! **HTTP.** hyper with rustls (webpki roots): `https`, or plain `http` to a loopback address
//! only (tests and local tunnels), since every request carries credentials. Requests are spaced
//! by a client-side rate limit ([`governor`]); `429` waits `Retry-After` (seconds, fractional
//! allowed, or an HTTP date; 1 s when absent) and retries; `5xx` and transport errors retry with
//! bounded exponential backoff; other `4xx` stop the poll with the platform's message. Every wait
//! the poller decides is recorded in [`PollStats::decisions`].

pub mod amazon;
pub mod cursor;
pub mod flipkart;
pub mod shopify;
pub mod woocommerce;

use std::{collections::HashSet, num::NonZeroU32, path::PathBuf, sync::Arc, time::Duration};

use http_body_util::{BodyExt, Full, Limited};
use hyper::{
    HeaderMap, Method, Request, StatusCode, Uri,
    body::Bytes,
    header::{HeaderName, HeaderValue},
};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use mindset_connectors::{Headers, Normalised};
use mindset_pipeline::{
    LogError, Producer, Record,
    publish::{self, RecordsByTopic},
    shell::{DLQ_APP, DLQ_AT, DLQ_REASON, DLQ_SOURCE},
};
use mindset_schemas::EncodeError;
use mindset_topics::{RAW_PAYLOADS, RAW_PAYLOADS_DLQ};

pub use cursor::{Cursor, CursorStore};

use crate::ingest::Clock;

/// The value of the `mindset.dlq.app` header on the pollers' dead letters.
pub const DLQ_APP_NAME: &str = "mindset-poll";

/// The largest response body read, in bytes (a 250-order Shopify page is a few MiB at most).
pub const RESPONSE_LIMIT: usize = 64 * 1024 * 1024;

/// Why a poll stopped. The cursor is unchanged whenever a poll returns an error.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// 401/403: the credentials are wrong or lack a scope. Retrying cannot help.
    #[error("{platform}: {status} on {path}: {message}")]
    Unauthorized {
        platform: &'static str,
        status: u16,
        path: String,
        message: String,
    },
    /// Any other refusal: the platform's code (WooCommerce) and message.
    #[error("{platform}: {status} on {path}: {}{message}", code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default())]
    Api {
        platform: &'static str,
        status: u16,
        path: String,
        code: Option<String>,
        message: String,
    },
    /// 429, 5xx or transport errors that outlasted the retry budget.
    #[error("{platform}: gave up on {path} after {attempts} attempts: {last}")]
    RetriesExhausted {
        platform: &'static str,
        path: String,
        attempts: u32,
        last: String,
    },
    /// A response the poller cannot read (not JSON, missing paging headers, …).
    #[error("{platform}: unexpected response from {path}: {reason}")]
    Protocol {
        platform: &'static str,
        path: String,
        reason: String,
    },
    #[error("poller configuration: {0}")]
    Config(String),
    #[error("poller cursor: {0}")]
    Cursor(String),
    #[error("the raw payload could not be encoded: {0}")]
    Encode(EncodeError),
    #[error("the log refused the poll's records: {0}")]
    Log(#[from] LogError),
}

/// A wait the poller decided on, in request order (for logs and tests).
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The platform's rate-limit header said the bucket is nearly full: wait before the next
    /// request.
    Pause {
        /// 1-based number of the request whose answer said so.
        after_request: u32,
        used: u32,
        limit: u32,
        wait: Duration,
    },
    /// The request failed in a way that may pass: wait, then send it again.
    Retry {
        /// 1-based number of the failed request.
        request: u32,
        /// The status, or `None` for a transport error or timeout.
        status: Option<u16>,
        /// The attempt that failed (1 = the first try).
        attempt: u32,
        wait: Duration,
        reason: String,
    },
    /// The poller did something other than what the platform's answer asked for (a paging
    /// token that repeats, a rate-limit header it adopted or could not read).
    Notice {
        /// 1-based number of the request whose answer it concerns.
        after_request: u32,
        message: String,
    },
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PollStats {
    /// HTTP requests sent, retries included.
    pub requests: u32,
    /// Pages read (successful responses).
    pub pages: u32,
    /// Objects on those pages.
    pub objects: u64,
    /// Objects an earlier poll (or an earlier page of this one) already filed.
    pub already_seen: u64,
    /// Objects filed: their raw payload and events written.
    pub filed: u64,
    /// Events written.
    pub events: u64,
    /// Objects the connector refused, written to `ingest.raw.v1.dlq`.
    pub dead_lettered: u64,
    /// The waits the poller decided on.
    pub decisions: Vec<Decision>,
    /// The cursors saved at the end, per resource (`None`: nothing read yet).
    pub cursors: Vec<(String, Option<Cursor>)>,
}

/// How failed requests are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// The first backoff after a 5xx or transport error; doubled each time.
    pub base_backoff: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured; a longer one ends the poll (try again later).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(32),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The wait after the `attempt`-th failure (1-based): base × 2^(attempt-1), at most the cap.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        self.base_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// What every poller needs besides its platform's settings.
#[derive(Clone)]
pub struct PollSettings {
    /// The tenant the objects belong to (also names the cursor files).
    pub tenant: String,
    /// Where the cursors are kept.
    pub cursor_dir: PathBuf,
    /// The store's currency, for payloads that carry none.
    pub shop_currency: Option<String>,
    /// Client-side rate limit: requests per second, and the burst allowed.
    pub requests_per_second: NonZeroU32,
    pub burst: NonZeroU32,
    pub retry: RetryPolicy,
    /// Time allowed for one request, body included.
    pub request_timeout: Duration,
    /// Arrival time of what is read (epoch milliseconds).
    pub clock: Clock,
}

impl PollSettings {
    pub fn new(tenant: impl Into<String>, cursor_dir: impl Into<PathBuf>) -> PollSettings {
        PollSettings {
            tenant: tenant.into(),
            cursor_dir: cursor_dir.into(),
            shop_currency: None,
            requests_per_second: NonZeroU32::new(2).expect("non-zero"),
            burst: NonZeroU32::new(1).expect("non-zero"),
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(60),
            clock: Arc::new(system_now_ms),
        }
    }
}

impl std::fmt::Debug for PollSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollSettings")
            .field("tenant", &self.tenant)
            .field("cursor_dir", &self.cursor_dir)
            .field("shop_currency", &self.shop_currency)
            .field("requests_per_second", &self.requests_per_second)
            .field("burst", &self.burst)
            .field("retry", &self.retry)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

fn system_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// HTTP

pub(crate) type Limiter = governor::DefaultDirectRateLimiter;

/// A per-operation token bucket, on top of the client-wide limit (SP-API limits each operation
/// separately).
pub(crate) struct OperationPace<'a> {
    pub limiter: &'a Limiter,
    /// The wait after a 429 without `Retry-After` (instead of 1 s): one token's refill.
    pub throttled_wait: Duration,
}

/// A response read in full.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The HTTP side shared by the pollers: one client, the rate limit, retries, and the record of
/// what was decided.
pub(crate) struct Http {
    platform: &'static str,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    limiter: Limiter,
    retry: RetryPolicy,
    timeout: Duration,
    /// Statuses outside 5xx that are retried like one (Flipkart lists `499`, a timeout).
    also_retried: &'static [u16],
    /// Requests sent so far (retries included).
    pub requests: u32,
    pub decisions: Vec<Decision>,
}

impl Http {
    pub fn new(platform: &'static str, settings: &PollSettings) -> Result<Http, PollError> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| PollError::Config(format!("TLS setup: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        let quota =
            governor::Quota::per_second(settings.requests_per_second).allow_burst(settings.burst);
        Ok(Http {
            platform,
            client: Client::builder(TokioExecutor::new()).build(https),
            limiter: governor::RateLimiter::direct(quota),
            retry: settings.retry.clone(),
            timeout: settings.request_timeout,
            also_retried: &[],
            requests: 0,
            decisions: Vec::new(),
        })
    }

    /// Retry `statuses` too, like a `5xx`.
    pub fn also_retry(mut self, statuses: &'static [u16]) -> Http {
        self.also_retried = statuses;
        self
    }

    /// GET `uri` with `headers`, retrying 429, 5xx and transport errors per the policy. Returns
    /// the first answer that is neither (a 2xx, or a 4xx for the caller to explain).
    /// `shown` is the path to name in errors and logs (never the query: it may hold secrets).
    pub async fn get(
        &mut self,
        uri: &Uri,
        headers: &[(HeaderName, HeaderValue)],
        shown: &str,
    ) -> Result<Answer, PollError> {
        self.get_paced(None, uri, headers, shown).await
    }

    /// [`Http::get`], every attempt also spaced by an operation's own bucket when given.
    pub async fn get_paced(
        &mut self,
        pace: Option<&OperationPace<'_>>,
        uri: &Uri,
        headers: &[(HeaderName, HeaderValue)],
        shown: &str,
    ) -> Result<Answer, PollError> {
        self.request(pace, Method::GET, uri, headers, None, shown)
            .await
    }

    /// POST `body` as `application/json`, retried like [`Http::get`] (for search endpoints
    /// that read their filter from the body: a retried search changes nothing).
    pub async fn post_json(
        &mut self,
        uri: &Uri,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
        shown: &str,
    ) -> Result<Answer, PollError> {
        self.request(None, Method::POST, uri, headers, Some(body), shown)
            .await
    }

    /// One request, paced by the client-wide limit and `pace`, retried per the policy.
    pub async fn request(
        &mut self,
        pace: Option<&OperationPace<'_>>,
        method: Method,
        uri: &Uri,
        headers: &[(HeaderName, HeaderValue)],
        body: Option<Bytes>,
        shown: &str,
    ) -> Result<Answer, PollError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.limiter.until_ready().await;
            if let Some(p) = pace {
                p.limiter.until_ready().await;
            }
            self.requests += 1;
            let request = self.requests;
            let (wait, status, reason) = match self.send(&method, uri, headers, body.as_ref()).await
            {
                Ok(answer) if answer.status == StatusCode::TOO_MANY_REQUESTS => {
                    let wait = match answer.header("retry-after") {
                        Some(v) => parse_retry_after(v).ok_or_else(|| PollError::Protocol {
                            platform: self.platform,
                            path: shown.to_owned(),
                            reason: format!("Retry-After {v:?} is neither seconds nor a date"),
                        })?,
                        None => pace.map_or(Duration::from_secs(1), |p| p.throttled_wait),
                    };
                    if wait > self.retry.max_retry_after {
                        return Err(PollError::RetriesExhausted {
                            platform: self.platform,
                            path: shown.to_owned(),
                            attempts: attempt,
                            last: format!(
                                "429 asks to wait {wait:?}, longer than the {:?} allowed",
                                self.retry.max_retry_after
                            ),
                        });
                    }
                    (wait, Some(429), "429 Too Many Requests".to_owned())
                }
                Ok(answer)
                    if answer.status.is_server_error()
                        || self.also_retried.contains(&answer.status.as_u16()) =>
                {
                    (
                        self.retry.backoff(attempt),
                        Some(answer.status.as_u16()),
                        format!("{}: {}", answer.status, snippet(&answer.body)),
                    )
                }
                Ok(answer) => return Ok(answer),
                Err(reason) => (self.retry.backoff(attempt), None, reason),
            };
            if attempt >= self.retry.max_attempts {
                return Err(PollError::RetriesExhausted {
                    platform: self.platform,
                    path: shown.to_owned(),
                    attempts: attempt,
                    last: reason,
                });
            }
            tracing::warn!(platform = self.platform, path = shown, attempt, ?wait, %reason, "retrying");
            self.decisions.push(Decision::Retry {
                request,
                status,
                attempt,
                wait,
                reason,
            });
            tokio::time::sleep(wait).await;
        }
    }

    /// The poll's outcome: `stats` with the requests sent and the waits decided, or the error
    /// that stopped it.
    pub fn outcome(
        &mut self,
        mut stats: PollStats,
        result: Result<(), PollError>,
    ) -> Result<PollStats, PollError> {
        stats.requests = self.requests;
        stats.decisions = std::mem::take(&mut self.decisions);
        result.map(|()| stats)
    }

    /// Wait `wait` because the platform's rate-limit header asked for it; recorded.
    pub async fn pause(&mut self, used: u32, limit: u32, wait: Duration) {
        tracing::debug!(platform = self.platform, used, limit, ?wait, "pacing");
        self.decisions.push(Decision::Pause {
            after_request: self.requests,
            used,
            limit,
            wait,
        });
        tokio::time::sleep(wait).await;
    }

    async fn send(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &[(HeaderName, HeaderValue)],
        body: Option<&Bytes>,
    ) -> Result<Answer, String> {
        let mut req = Request::builder().method(method.clone()).uri(uri.clone());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req = req
            .header(hyper::header::ACCEPT, "application/json")
            .header(hyper::header::USER_AGENT, "mindset-poller/0.1");
        if body.is_some() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(body.cloned().unwrap_or_default()))
            .map_err(|e| format!("request: {e}"))?;
        let exchange = async {
            let res = self
                .client
                .request(req)
                .await
                .map_err(|e| format!("transport: {e}"))?;
            let (parts, body) = res.into_parts();
            let body = Limited::new(body, RESPONSE_LIMIT)
                .collect()
                .await
                .map_err(|e| format!("reading the body: {e}"))?
                .to_bytes();
            Ok::<_, String>(Answer {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| format!("no complete answer within {:?}", self.timeout))?
    }
}

/// `Retry-After` as seconds (`"2"`, `"2.0"`, `"0.5"`) or an HTTP date (then relative to now).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = mindset_connectors::common::http_date_secs(v).ok()?;
    let now = system_now_ms() / 1000;
    Some(Duration::from_secs(at.saturating_sub(now).max(0) as u64))
}

/// The beginning of a body, for error messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// Refuse plain http except to loopback addresses: every request carries credentials.
pub(crate) fn check_base(platform: &str, base: &str) -> Result<Uri, PollError> {
    let uri: Uri = base
        .trim_end_matches('/')
        .parse()
        .map_err(|e| PollError::Config(format!("{platform} base URL {base:?}: {e}")))?;
    let host = uri.host().unwrap_or("");
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1") => {}
        Some("http") => {
            return Err(PollError::Config(format!(
                "{platform} base URL {base:?}: plain http is allowed only to a loopback address \
                 (requests carry credentials); use https"
            )));
        }
        _ => {
            return Err(PollError::Config(format!(
                "{platform} base URL {base:?} must start with https://"
            )));
        }
    }
    if host.is_empty() {
        return Err(PollError::Config(format!(
            "{platform} base URL {base:?} has no host"
        )));
    }
    Ok(uri)
}

/// Percent-encode a query value (RFC 3986 unreserved characters stay).
pub(crate) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `k=v&…`, values encoded.
pub(crate) fn query(params: &[(&str, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The headers a polled object's raw payload keeps: which request read it (no credentials,
/// no query), and the response's identifying headers.
pub(crate) fn raw_headers(platform: &str, shown: &str, answer: &Answer) -> Headers {
    let mut h = Headers::new();
    h.insert("x-mindset-poll".into(), format!("{platform} GET {shown}"));
    for name in [
        "content-type",
        "date",
        "x-request-id",
        "x-shopify-api-version",
        "x-shopify-shop-api-call-limit",
        "x-wp-total",
        "x-wp-totalpages",
        "x-amzn-requestid",
        "x-amzn-ratelimit-limit",
    ] {
        if let Some(v) = answer.header(name) {
            h.insert(name.into(), v.to_owned());
        }
    }
    h
}

// ---------------------------------------------------------------------------------------------
// Access tokens

/// An OAuth access token kept between polls (pass the same value to every poll of one seller):
/// reused while more than the poller's margin of its `expires_in` is left, by the settings'
/// clock. Amazon's LWA and Flipkart's client-credentials pollers keep theirs here.
#[derive(Default)]
pub struct AccessTokens {
    current: Option<CachedToken>,
    /// Tokens obtained so far (LWA exchanges, Flipkart token requests).
    pub exchanges: u32,
}

struct CachedToken {
    value: HeaderValue,
    /// Epoch milliseconds, by the settings' clock.
    expires_at_ms: i64,
    /// The number of the exchange that made it.
    exchange: u32,
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokens")
            .field("cached", &self.current.is_some())
            .field(
                "expires_at_ms",
                &self.current.as_ref().map(|t| t.expires_at_ms),
            )
            .field("exchanges", &self.exchanges)
            .finish()
    }
}

impl AccessTokens {
    pub fn new() -> AccessTokens {
        AccessTokens::default()
    }

    /// The cached token and the number of the exchange that made it, while more than `margin`
    /// of its life is left at `now_ms`.
    pub(crate) fn fresh(&self, now_ms: i64, margin: Duration) -> Option<(HeaderValue, u32)> {
        let margin = margin.as_millis() as i64;
        self.current
            .as_ref()
            .filter(|t| now_ms.saturating_add(margin) < t.expires_at_ms)
            .map(|t| (t.value.clone(), t.exchange))
    }

    /// Keep a new token, valid `expires_in_secs` from `now_ms`; returns it with its number.
    pub(crate) fn keep(
        &mut self,
        value: HeaderValue,
        now_ms: i64,
        expires_in_secs: u64,
    ) -> (HeaderValue, u32) {
        self.exchanges += 1;
        self.current = Some(CachedToken {
            value: value.clone(),
            expires_at_ms: now_ms.saturating_add(expires_in_secs.saturating_mul(1_000) as i64),
            exchange: self.exchanges,
        });
        (value, self.exchanges)
    }

    /// Forget the cached token (the platform refused it).
    pub(crate) fn forget(&mut self) {
        self.current = None;
    }
}

// ---------------------------------------------------------------------------------------------
// Filing

/// One object of a page, as the connector will see it.
pub(crate) struct Object<'a> {
    pub id: String,
    pub body: &'a [u8],
    /// The version stamp, when the object has a readable one.
    pub stamp: Option<(i64, String)>,
}

/// The records of one page, ready to write.
#[derive(Default)]
pub(crate) struct Batch {
    raws: Vec<Record>,
    events: RecordsByTopic,
    dead: Vec<Record>,
    pub filed: u64,
    pub event_count: u64,
    pub dead_lettered: u64,
}

impl Batch {
    /// Add one object's normalisation (or its refusal).
    pub fn add(
        &mut self,
        tenant: &str,
        source: &str,
        object: &Object<'_>,
        normalised: Result<Normalised, mindset_connectors::Error>,
        now_ms: i64,
    ) -> Result<(), PollError> {
        let n = match normalised {
            Ok(n) => n,
            Err(e) => {
                self.dead_letter(tenant, source, object, &e.to_string(), now_ms);
                return Ok(());
            }
        };
        let (by_topic, rejected) = publish::prepare(&n.events);
        if !rejected.is_empty() {
            let reasons: Vec<String> = rejected
                .iter()
                .map(|(i, reason)| {
                    format!("event {i} ({}): {reason}", n.events[*i].payload.type_name())
                })
                .collect();
            self.dead_letter(
                tenant,
                source,
                object,
                &format!("events refused: {}", reasons.join("; ")),
                now_ms,
            );
            return Ok(());
        }
        let raw = &n.raw;
        self.raws
            .push(crate::ingest::raw_record(raw).map_err(PollError::Encode)?);
        for (_, (topic, records)) in by_topic {
            for r in records {
                publish::add(&mut self.events, topic, r);
            }
        }
        if let Some(note) = &n.note {
            tracing::debug!(tenant, source, id = %object.id, note, "filed with a note");
        }
        self.filed += 1;
        self.event_count += n.events.len() as u64;
        Ok(())
    }

    fn dead_letter(
        &mut self,
        tenant: &str,
        source: &str,
        object: &Object<'_>,
        reason: &str,
        now_ms: i64,
    ) {
        tracing::warn!(tenant, source, id = %object.id, reason, "object dead-lettered");
        let mut r = Record::new(
            format!("{tenant}|{source}|{}", object.id).into_bytes(),
            object.body.to_vec(),
            now_ms,
        );
        r = r
            .header(DLQ_REASON, reason.as_bytes().to_vec())
            .header(DLQ_SOURCE, format!("poll:{source}").into_bytes())
            .header(DLQ_APP, DLQ_APP_NAME.as_bytes().to_vec())
            .header(DLQ_AT, now_ms.to_string().into_bytes());
        self.dead.push(r);
        self.dead_lettered += 1;
    }

    /// Write everything; returns once all of it is durable.
    pub async fn write(self, producer: &Producer) -> Result<(), PollError> {
        let mut batches = vec![(&RAW_PAYLOADS.spec, self.raws)];
        batches.extend(self.events.into_values());
        batches.push((&RAW_PAYLOADS_DLQ.spec, self.dead));
        producer.send_topics(batches).await?;
        Ok(())
    }
}

/// What one resource's poll tracks while it pages: the cursor it started from, the one it will
/// save, and the objects already handled in this run (a page boundary that shifts re-serves one).
pub(crate) struct Progress {
    pub start: Option<Cursor>,
    pub next: Option<Cursor>,
    handled: HashSet<(String, i64)>,
}

impl Progress {
    pub fn new(start: Option<Cursor>) -> Progress {
        Progress {
            next: start.clone(),
            start,
            handled: HashSet::new(),
        }
    }

    /// True when `object` must be filed now (and remembers it).
    pub fn take(&mut self, object: &Object<'_>) -> bool {
        let Some((ms, _)) = &object.stamp else {
            // No readable stamp: the connector will say what is wrong (dead letter).
            return self.handled.insert((object.id.clone(), i64::MIN));
        };
        if Cursor::seen(self.start.as_ref(), *ms, &object.id) {
            return false;
        }
        self.handled.insert((object.id.clone(), *ms))
    }

    pub fn advance(&mut self, object: &Object<'_>) {
        if let Some((ms, text)) = &object.stamp {
            Cursor::advance(&mut self.next, *ms, text, &object.id);
        }
    }
}

/// A connector's `normalise`.
pub(crate) type Normalise = fn(
    &str,
    &[u8],
    &mindset_connectors::Context<'_>,
) -> Result<Normalised, mindset_connectors::Error>;

/// File the new objects of one page (those past the cursor and not after `upper_ms`), write
/// them durably, and move `progress` past them.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn file_page(
    producer: &Producer,
    settings: &PollSettings,
    progress: &mut Progress,
    stats: &mut PollStats,
    objects: &[Object<'_>],
    normalise: Normalise,
    topic: &str,
    source: &str,
    headers: &Headers,
    upper_ms: i64,
) -> Result<(), PollError> {
    let now = (settings.clock)();
    let mut ctx = mindset_connectors::Context::new(&settings.tenant, now).with_headers(headers);
    if let Some(c) = &settings.shop_currency {
        ctx = ctx.with_shop_currency(c);
    }
    let mut batch = Batch::default();
    let mut taken = Vec::new();
    for object in objects {
        stats.objects += 1;
        if object.stamp.as_ref().is_some_and(|(ms, _)| *ms > upper_ms) {
            // Updated while this poll runs: the next poll reads it (see the platform docs).
            continue;
        }
        if !progress.take(object) {
            stats.already_seen += 1;
            continue;
        }
        batch.add(
            &settings.tenant,
            source,
            object,
            normalise(topic, object.body, &ctx),
            now,
        )?;
        taken.push(object);
    }
    let (filed, events, dead) = (batch.filed, batch.event_count, batch.dead_lettered);
    batch.write(producer).await?;
    for object in taken {
        progress.advance(object);
    }
    stats.filed += filed;
    stats.events += events;
    stats.dead_lettered += dead;
    Ok(())
}

/// Save `progress`'s cursor if it moved, and report it.
pub(crate) fn finish_resource(
    store: &CursorStore,
    platform: &str,
    tenant: &str,
    resource: &str,
    progress: Progress,
    stats: &mut PollStats,
) -> Result<(), PollError> {
    if progress.next != progress.start
        && let Some(c) = &progress.next
    {
        store.save(platform, tenant, resource, c)?;
    }
    stats.cursors.push((resource.to_owned(), progress.next));
    Ok(())
}

/// Seconds-resolution UTC text of `ms` (floored), `2026-01-01T00:00:00`.
pub(crate) fn utc_seconds(ms: i64) -> String {
    chrono::DateTime::from_timestamp(ms.div_euclid(1000), 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_else(|| "1970-01-01T00:00:00".to_owned())
}

/// The id of a JSON object (`"id"`: number or string), for cursors and dead letters.
pub(crate) fn json_id(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("2.0"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("100"), Some(Duration::from_secs(100)));
        assert_eq!(
            parse_retry_after("Tue, 19 May 2015 09:02:15 GMT"),
            Some(Duration::ZERO),
            "a date in the past: retry now"
        );
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        let waits: Vec<u64> = (1..=8).map(|a| p.backoff(a).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 32, 32]);
    }

    #[test]
    fn only_loopback_may_use_plain_http() {
        assert!(check_base("shopify", "https://shop.myshopify.com").is_ok());
        assert!(check_base("shopify", "http://127.0.0.1:8080").is_ok());
        assert!(check_base("shopify", "http://localhost:8080/").is_ok());
        assert!(check_base("shopify", "http://shop.example.com").is_err());
        assert!(check_base("shopify", "ftp://shop.example.com").is_err());
        assert_eq!(query(&[("a", "x y+z".into())]), "a=x%20y%2Bz");
    }
}
