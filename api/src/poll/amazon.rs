//! Amazon Selling Partner API Orders v0 poller: `GET /orders/v0/orders` (`getOrders`) and, for
//! each order not filed yet, `GET /orders/v0/orders/{orderId}/orderItems` (`getOrderItems`),
//! joined by [`mindset_connectors::amazon::order_placed`] into `OrderPlaced`.
//!
//! **Auth.** Login with Amazon: the refresh token is exchanged at `POST /auth/o2/token`
//! (`grant_type=refresh_token`, `refresh_token`, `client_id`, `client_secret`, form-encoded) for
//! an access token sent as `x-amz-access-token`. [`AccessTokens`] keeps it across polls and
//! exchanges again only when less than `refresh_margin` of its `expires_in` is left (by the
//! settings' clock), so one exchange serves a token's whole lifetime. A `403` on an access token
//! taken from an earlier poll drops it and retries that request once with a fresh one (Amazon
//! answers an expired or revoked token with `403 Unauthorized`); a `403` on a fresh token ends
//! the poll. LWA's `{error, error_description}` refusals end the poll as
//! [`PollError::Unauthorized`].
//!
//! **Window.** The first page asks for `MarketplaceIds`, `LastUpdatedAfter=<cursor>` ("after (or
//! at)", so the cursor's second is re-read and filtered by the cursor's ids; `backfill` before
//! now on the first poll), `LastUpdatedBefore=<now - settle>` (the model requires it at least two
//! minutes before now; an order updated while the poll pages leaves the window for the next poll)
//! and `MaxResultsPerPage`. A page with `payload.NextToken` is followed by a request carrying
//! `NextToken` and `MarketplaceIds` only (the model makes `MarketplaceIds` required; the token
//! keeps the other filters). `getOrderItems` pages the same way. A `NextToken` already followed
//! in the same listing ends it, and so does an item page identical to one already read (it is
//! dropped: its items would count twice); both are recorded as a [`Decision::Notice`] (a mock
//! serving the model's static examples answers every token with the same page and token).
//!
//! **Rate limit.** Each operation has its own token bucket ([`governor`]), the documented
//! defaults ([`GET_ORDERS`]: 0.0167/s, burst 20; [`GET_ORDER_ITEMS`]: 0.5/s, burst 30) unless
//! an `x-amzn-RateLimit-Limit` response header says otherwise: then the bucket is rebuilt at the
//! header's rate, less the requests already spent from it (a [`Decision::Notice`] says so). A
//! `429` waits `Retry-After` when sent (Amazon documents none), else one token's refill; `5xx`
//! retry with backoff ([`super::Http`]). Errors are `{"errors": [{code, message, details}]}`:
//! `401`/`403` end the poll as [`PollError::Unauthorized`], other `4xx` as [`PollError::Api`]
//! with the first error's code.
//!
//! **Filing.** One object per new order: its raw payload body is the order exactly as listed,
//! as a `getOrder` response (`{"payload": <order>}`), with its `getOrderItems` responses as
//! received alongside (`"getOrderItems": [...]`); source `getOrder`, raw id over the order id
//! and `LastUpdateDate`. Its events are the connector's `getOrder` normalisation
//! (`CustomerUpserted` when the buyer's email is present) and the joined `OrderPlaced` (none
//! while the order's items are not priced: the order is filed with a note and read again when
//! Amazon updates it). An order the connector refuses is dead-lettered with the reason. The
//! cursor is `LastUpdateDate` (else `PurchaseDate`) and the `AmazonOrderId`s at that instant.

use std::{
    collections::{BTreeMap, HashSet},
    num::NonZeroU32,
    time::Duration,
};

use http_body_util::{BodyExt, Full, Limited};
use hyper::{
    Request, StatusCode, Uri,
    body::Bytes,
    header::{CONTENT_TYPE, HeaderName, HeaderValue},
};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use mindset_connectors::{Normalised, amazon};
use mindset_pipeline::Producer;
use serde::Deserialize;
use serde_json::value::RawValue;

pub use super::AccessTokens;
use super::{
    Answer, CursorStore, Decision, Http, Limiter, Object, OperationPace, PollError, PollSettings,
    PollStats, Progress, check_base, file_page, finish_resource, query, raw_headers, snippet,
    utc_seconds,
};

const PLATFORM: &str = "amazon";
/// The cursor's resource name.
const RESOURCE: &str = "orders";
const TOKEN_PATH: &str = "/auth/o2/token";
const ORDERS_PATH: &str = "/orders/v0/orders";

/// An operation's usage plan: sustained requests per second and burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UsagePlan {
    pub rate: f64,
    pub burst: u32,
}

/// `getOrders`' documented default usage plan.
pub const GET_ORDERS: UsagePlan = UsagePlan {
    rate: 0.0167,
    burst: 20,
};

/// `getOrderItems`' documented default usage plan.
pub const GET_ORDER_ITEMS: UsagePlan = UsagePlan {
    rate: 0.5,
    burst: 30,
};

/// One seller's poller settings.
#[derive(Clone)]
pub struct AmazonConfig {
    /// The regional SP-API endpoint, `https://sellingpartnerapi-na.amazon.com`.
    pub endpoint: String,
    /// The LWA token endpoint, `https://api.amazon.com/auth/o2/token`.
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    /// The seller's LWA refresh token (`Atzr|…`).
    pub refresh_token: String,
    /// `MarketplaceIds` (1..=50).
    pub marketplace_ids: Vec<String>,
    /// Orders per `getOrders` page (1..=100).
    pub max_results_per_page: u32,
    /// How far back the first poll reads.
    pub backfill: Duration,
    /// How far behind now the window ends; at least two minutes (the model's rule for
    /// `LastUpdatedBefore`).
    pub settle: Duration,
    /// Exchange the refresh token again when less than this is left of the access token's life.
    pub refresh_margin: Duration,
    pub get_orders: UsagePlan,
    pub get_order_items: UsagePlan,
    pub settings: PollSettings,
}

impl std::fmt::Debug for AmazonConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmazonConfig")
            .field("endpoint", &self.endpoint)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("marketplace_ids", &self.marketplace_ids)
            .field("max_results_per_page", &self.max_results_per_page)
            .field("backfill", &self.backfill)
            .field("settle", &self.settle)
            .field("refresh_margin", &self.refresh_margin)
            .field("get_orders", &self.get_orders)
            .field("get_order_items", &self.get_order_items)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AmazonConfig {
    /// The North America endpoints and the documented usage plans. The operations' buckets pace
    /// the requests, so the client-wide limit of `settings` is raised to 10/s, burst 30.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        refresh_token: impl Into<String>,
        marketplace_ids: Vec<String>,
        mut settings: PollSettings,
    ) -> AmazonConfig {
        settings.requests_per_second = NonZeroU32::new(10).expect("non-zero");
        settings.burst = NonZeroU32::new(30).expect("non-zero");
        AmazonConfig {
            endpoint: "https://sellingpartnerapi-na.amazon.com".into(),
            token_url: "https://api.amazon.com/auth/o2/token".into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            refresh_token: refresh_token.into(),
            marketplace_ids,
            max_results_per_page: 100,
            backfill: Duration::from_secs(30 * 86_400),
            settle: Duration::from_secs(180),
            refresh_margin: Duration::from_secs(300),
            get_orders: GET_ORDERS,
            get_order_items: GET_ORDER_ITEMS,
            settings,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Login with Amazon

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct TokenRefusal {
    error: Option<String>,
    error_description: Option<String>,
}

type PostClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A token with more than the margin left: the cached one, else a new exchange.
async fn token(
    tokens: &mut AccessTokens,
    lwa: &Lwa<'_>,
    http: &mut Http,
) -> Result<(HeaderValue, u32), PollError> {
    let now = (lwa.config.settings.clock)();
    if let Some(t) = tokens.fresh(now, lwa.config.refresh_margin) {
        return Ok(t);
    }
    let (value, expires_in) = lwa.exchange(http).await?;
    Ok(tokens.keep(value, now, expires_in))
}

/// The token endpoint and its client.
struct Lwa<'a> {
    config: &'a AmazonConfig,
    uri: Uri,
    client: PostClient,
}

impl Lwa<'_> {
    /// One refresh-token exchange, retrying 429, 5xx and transport errors like [`Http::get`].
    async fn exchange(&self, http: &mut Http) -> Result<(HeaderValue, u64), PollError> {
        let c = self.config;
        let form = query(&[
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", c.refresh_token.clone()),
            ("client_id", c.client_id.clone()),
            ("client_secret", c.client_secret.clone()),
        ]);
        let retry = &c.settings.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            http.requests += 1;
            let request = http.requests;
            let (wait, status, reason) = match self.post(&form).await {
                Ok(a) if a.status.is_success() => {
                    let t: TokenAnswer =
                        serde_json::from_slice(&a.body).map_err(|e| PollError::Protocol {
                            platform: PLATFORM,
                            path: TOKEN_PATH.to_owned(),
                            reason: format!("not an LWA token answer: {e}"),
                        })?;
                    let value = HeaderValue::from_str(&t.access_token).map_err(|_| {
                        PollError::Protocol {
                            platform: PLATFORM,
                            path: TOKEN_PATH.to_owned(),
                            reason: "the access token is not a valid header value".into(),
                        }
                    })?;
                    if t.access_token.is_empty() || t.expires_in == 0 {
                        return Err(PollError::Protocol {
                            platform: PLATFORM,
                            path: TOKEN_PATH.to_owned(),
                            reason: "an empty access token or expires_in 0".into(),
                        });
                    }
                    return Ok((value, t.expires_in));
                }
                Ok(a) if a.status == StatusCode::TOO_MANY_REQUESTS => {
                    let wait = a
                        .header("retry-after")
                        .and_then(super::parse_retry_after)
                        .unwrap_or_else(|| retry.backoff(attempt))
                        .min(retry.max_retry_after);
                    (wait, Some(429), "429 Too Many Requests".to_owned())
                }
                Ok(a) if a.status.is_server_error() => (
                    retry.backoff(attempt),
                    Some(a.status.as_u16()),
                    format!("{}: {}", a.status, snippet(&a.body)),
                ),
                Ok(a) => {
                    let status = a.status.as_u16();
                    let message = match serde_json::from_slice::<TokenRefusal>(&a.body) {
                        Ok(r) if r.error.is_some() => format!(
                            "{}: {}",
                            r.error.unwrap_or_default(),
                            r.error_description.unwrap_or_default()
                        ),
                        _ => snippet(&a.body),
                    };
                    return Err(PollError::Unauthorized {
                        platform: PLATFORM,
                        status,
                        path: TOKEN_PATH.to_owned(),
                        message: format!("the refresh-token exchange was refused: {message}"),
                    });
                }
                Err(reason) => (retry.backoff(attempt), None, reason),
            };
            if attempt >= retry.max_attempts {
                return Err(PollError::RetriesExhausted {
                    platform: PLATFORM,
                    path: TOKEN_PATH.to_owned(),
                    attempts: attempt,
                    last: reason,
                });
            }
            tracing::warn!(platform = PLATFORM, path = TOKEN_PATH, attempt, ?wait, %reason, "retrying");
            http.decisions.push(Decision::Retry {
                request,
                status,
                attempt,
                wait,
                reason,
            });
            tokio::time::sleep(wait).await;
        }
    }

    async fn post(&self, form: &str) -> Result<Answer, String> {
        let req = Request::post(self.uri.clone())
            .header(
                CONTENT_TYPE,
                "application/x-www-form-urlencoded;charset=UTF-8",
            )
            .header(hyper::header::ACCEPT, "application/json")
            .header(hyper::header::USER_AGENT, "mindset-poller/0.1")
            .body(Full::new(Bytes::from(form.to_owned())))
            .map_err(|e| format!("request: {e}"))?;
        let exchange = async {
            let res = self
                .client
                .request(req)
                .await
                .map_err(|e| format!("transport: {e}"))?;
            let (parts, body) = res.into_parts();
            let body = Limited::new(body, 1024 * 1024)
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
        let timeout = self.config.settings.request_timeout;
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| format!("no complete answer within {timeout:?}"))?
    }
}

// ---------------------------------------------------------------------------------------------
// Rate limits

/// One operation's bucket.
struct Bucket {
    operation: &'static str,
    limiter: Limiter,
    rate: f64,
    burst: NonZeroU32,
    /// Requests sent through it in this poll.
    sent: u32,
    /// A header that is not a rate was reported once already.
    unreadable_reported: bool,
}

fn quota(plan: UsagePlan, operation: &str) -> Result<(governor::Quota, NonZeroU32), PollError> {
    let bad = || PollError::Config(format!("{operation}: usage plan {plan:?} is not positive"));
    if !(plan.rate.is_finite() && plan.rate > 0.0) {
        return Err(bad());
    }
    let burst = NonZeroU32::new(plan.burst).ok_or_else(bad)?;
    let period = Duration::from_secs_f64(1.0 / plan.rate);
    let q = governor::Quota::with_period(period).ok_or_else(bad)?;
    Ok((q.allow_burst(burst), burst))
}

impl Bucket {
    fn new(operation: &'static str, plan: UsagePlan) -> Result<Bucket, PollError> {
        let (q, burst) = quota(plan, operation)?;
        Ok(Bucket {
            operation,
            limiter: governor::RateLimiter::direct(q),
            rate: plan.rate,
            burst,
            sent: 0,
            unreadable_reported: false,
        })
    }

    fn pace(&self) -> OperationPace<'_> {
        OperationPace {
            limiter: &self.limiter,
            throttled_wait: Duration::from_secs_f64(1.0 / self.rate),
        }
    }

    /// Adopt the rate of an `x-amzn-RateLimit-Limit` header when it differs from the bucket's.
    fn observe(&mut self, header: Option<&str>, http: &mut Http) {
        let Some(text) = header else { return };
        let rate = match text.trim().parse::<f64>() {
            Ok(r) if r.is_finite() && r > 0.0 => r,
            _ => {
                if !self.unreadable_reported {
                    self.unreadable_reported = true;
                    let message = format!(
                        "{}: x-amzn-RateLimit-Limit {text:?} is not a rate; keeping {}/s",
                        self.operation, self.rate
                    );
                    tracing::warn!(platform = PLATFORM, %message);
                    http.decisions.push(Decision::Notice {
                        after_request: http.requests,
                        message,
                    });
                }
                return;
            }
        };
        if (rate - self.rate).abs() <= self.rate * 0.01 {
            return;
        }
        let plan = UsagePlan {
            rate,
            burst: self.burst.get(),
        };
        let Ok((q, _)) = quota(plan, self.operation) else {
            return;
        };
        let limiter = governor::RateLimiter::direct(q);
        // The platform's bucket started this poll at most full: take off what was spent.
        if let Some(spent) = NonZeroU32::new(self.sent.min(self.burst.get())) {
            let _ = limiter.check_n(spent);
        }
        let message = format!(
            "{}: x-amzn-RateLimit-Limit says {rate}/s (was {}/s); bucket rebuilt, burst {}, {} \
             already spent",
            self.operation,
            self.rate,
            self.burst,
            self.sent.min(self.burst.get())
        );
        tracing::info!(platform = PLATFORM, %message);
        http.decisions.push(Decision::Notice {
            after_request: http.requests,
            message,
        });
        self.limiter = limiter;
        self.rate = rate;
    }
}

// ---------------------------------------------------------------------------------------------
// Pages

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    details: Option<String>,
}

#[derive(Deserialize)]
struct ErrorList {
    #[serde(default)]
    errors: Vec<ApiError>,
}

#[derive(Deserialize)]
struct Response<'a> {
    #[serde(borrow)]
    payload: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OrdersList<'a> {
    #[serde(borrow)]
    orders: Vec<&'a RawValue>,
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ItemsList {
    #[serde(default)]
    amazon_order_id: Option<String>,
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OrderMeta {
    #[serde(default)]
    amazon_order_id: Option<String>,
    #[serde(default)]
    last_update_date: Option<String>,
    #[serde(default)]
    purchase_date: Option<String>,
}

fn stamp(meta: &OrderMeta) -> Option<(i64, String)> {
    [&meta.last_update_date, &meta.purchase_date]
        .into_iter()
        .flatten()
        .find_map(|t| {
            mindset_connectors::common::rfc3339_millis(t)
                .ok()
                .map(|ms| (ms, t.clone()))
        })
}

/// The `payload` of a 2xx answer, read as `T`.
fn payload<'a, T: Deserialize<'a>>(answer: &'a Answer, shown: &str) -> Result<T, PollError> {
    let protocol = |reason: String| PollError::Protocol {
        platform: PLATFORM,
        path: shown.to_owned(),
        reason,
    };
    let r: Response<'a> = serde_json::from_slice(&answer.body)
        .map_err(|e| protocol(format!("not a JSON object: {e}")))?;
    let p = r.payload.ok_or_else(|| {
        let errors = serde_json::from_slice::<ErrorList>(&answer.body)
            .map(|l| describe(&l.errors))
            .unwrap_or_default();
        protocol(format!("no payload {errors}").trim_end().to_owned())
    })?;
    serde_json::from_str(p.get()).map_err(|e| protocol(format!("payload: {e}")))
}

fn describe(errors: &[ApiError]) -> String {
    errors
        .iter()
        .map(|e| {
            let mut s = e.message.clone().unwrap_or_else(|| "(no message)".into());
            if let Some(d) = e.details.as_deref().filter(|d| !d.trim().is_empty()) {
                s.push_str(&format!(" ({d})"));
            }
            s
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn check_status(answer: &Answer, shown: &str) -> Result<(), PollError> {
    if answer.status.is_success() {
        return Ok(());
    }
    let status = answer.status.as_u16();
    let (code, message) = match serde_json::from_slice::<ErrorList>(&answer.body) {
        Ok(l) if !l.errors.is_empty() => (
            l.errors.iter().find_map(|e| e.code.clone()),
            describe(&l.errors),
        ),
        _ => (None, snippet(&answer.body)),
    };
    if matches!(status, 401 | 403) {
        Err(PollError::Unauthorized {
            platform: PLATFORM,
            status,
            path: shown.to_owned(),
            message: match code {
                Some(c) => format!("{c}: {message}"),
                None => message,
            },
        })
    } else {
        Err(PollError::Api {
            platform: PLATFORM,
            status,
            path: shown.to_owned(),
            code,
            message,
        })
    }
}

/// The order of a filed object's body and its `getOrderItems` responses (see the module docs).
#[derive(Deserialize)]
struct Joined<'a> {
    #[serde(borrow)]
    payload: &'a RawValue,
    #[serde(borrow, rename = "getOrderItems")]
    items: Vec<&'a RawValue>,
}

/// `{"payload": <order>, "getOrderItems": [<response>, …]}`, every part as received.
fn joined_body(order: &RawValue, item_pages: &[Bytes]) -> Vec<u8> {
    let mut body = Vec::with_capacity(
        order.get().len() + item_pages.iter().map(|p| p.len() + 1).sum::<usize>() + 32,
    );
    body.extend_from_slice(b"{\"payload\":");
    body.extend_from_slice(order.get().as_bytes());
    body.extend_from_slice(b",\"getOrderItems\":[");
    for (i, page) in item_pages.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(page);
    }
    body.extend_from_slice(b"]}");
    body
}

/// The normalisation of one joined order: the connector's `getOrder` events (and raw payload)
/// and the `OrderPlaced` of [`amazon::order_placed`].
pub fn normalise_order(
    kind: &str,
    body: &[u8],
    ctx: &mindset_connectors::Context<'_>,
) -> Result<Normalised, mindset_connectors::Error> {
    let invalid = |field: &str, reason: String| mindset_connectors::Error::Invalid {
        platform: PLATFORM,
        topic: kind.to_owned(),
        field: field.to_owned(),
        reason,
    };
    let joined: Joined<'_> = serde_json::from_slice(body)
        .map_err(|e| invalid("getOrderItems", format!("not a joined order: {e}")))?;
    let meta: OrderMeta = serde_json::from_str(joined.payload.get())
        .map_err(|e| invalid("payload", format!("not an order: {e}")))?;
    let order_id = meta
        .amazon_order_id
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| invalid("AmazonOrderId", "missing".into()))?;
    let mut n = amazon::normalise(kind, body, ctx)?;
    let pages: Vec<&[u8]> = joined.items.iter().map(|p| p.get().as_bytes()).collect();
    let placed = amazon::order_placed(body, &order_id, &pages, ctx)?;
    n.events.extend(placed.events);
    // The getOrder note ("needs the order's items") is what this join answers.
    n.note = placed.note;
    Ok(n)
}

// ---------------------------------------------------------------------------------------------
// The poll

/// Everything one poll uses.
struct Run<'a> {
    config: &'a AmazonConfig,
    base: String,
    lwa: Lwa<'a>,
    tokens: &'a mut AccessTokens,
    http: Http,
    orders_bucket: Bucket,
    items_bucket: Bucket,
    /// The exchange count when the poll began: tokens from before may have been revoked.
    exchanges_before: u32,
    deprecation_reported: bool,
}

impl Run<'_> {
    /// GET with the access token and the operation's bucket; a 403 on a token from an earlier
    /// poll is retried once with a fresh token.
    async fn get(&mut self, items: bool, url: &str, shown: &str) -> Result<Answer, PollError> {
        let uri: Uri = url
            .parse()
            .map_err(|e| PollError::Config(format!("request URL: {e}")))?;
        let mut refreshed = false;
        loop {
            let (token, exchange) = token(self.tokens, &self.lwa, &mut self.http).await?;
            let headers = [(HeaderName::from_static("x-amz-access-token"), token)];
            let bucket = if items {
                &mut self.items_bucket
            } else {
                &mut self.orders_bucket
            };
            let before = self.http.requests;
            let answer = self
                .http
                .get_paced(Some(&bucket.pace()), &uri, &headers, shown)
                .await;
            bucket.sent += self.http.requests - before;
            let answer = answer?;
            if answer.status == StatusCode::FORBIDDEN
                && !refreshed
                && exchange <= self.exchanges_before
            {
                refreshed = true;
                self.tokens.forget();
                let message = format!(
                    "403 on {shown} with an access token from an earlier poll: exchanging the \
                     refresh token again"
                );
                tracing::warn!(platform = PLATFORM, %message);
                self.http.decisions.push(Decision::Notice {
                    after_request: self.http.requests,
                    message,
                });
                continue;
            }
            if answer.status.is_success() {
                let limit = answer.header("x-amzn-ratelimit-limit").map(str::to_owned);
                bucket.observe(limit.as_deref(), &mut self.http);
            }
            if !self.deprecation_reported
                && let Some(v) = answer.header("deprecation")
            {
                self.deprecation_reported = true;
                tracing::warn!(path = %shown, deprecation = v, "Amazon marks this operation deprecated");
            }
            return Ok(answer);
        }
    }

    /// Every `getOrderItems` page of `order_id`, as received.
    async fn items(&mut self, order_id: &str) -> Result<Vec<Bytes>, PollError> {
        let shown = format!("{ORDERS_PATH}/{order_id}/orderItems");
        let path = format!(
            "{}{ORDERS_PATH}/{}/orderItems",
            self.base,
            super::encode(order_id)
        );
        let mut url = path.clone();
        let mut pages: Vec<Bytes> = Vec::new();
        let mut sent = HashSet::new();
        loop {
            let answer = self.get(true, &url, &shown).await?;
            check_status(&answer, &shown)?;
            let list: ItemsList = payload(&answer, &shown)?;
            if pages.contains(&answer.body) {
                // The server answered a NextToken with a page already read: its items would be
                // counted twice.
                self.repeated(
                    &shown,
                    "a NextToken page repeats an earlier page; dropped it",
                );
                break;
            }
            if list.amazon_order_id.as_deref() != Some(order_id) {
                // The connector refuses the join (and the order is dead-lettered); say why here.
                tracing::warn!(
                    path = %shown,
                    got = ?list.amazon_order_id,
                    "getOrderItems answered for another order"
                );
            }
            let next = list.next_token.filter(|t| !t.is_empty());
            pages.push(answer.body);
            match next {
                Some(t) if sent.contains(&t) => {
                    self.repeated(&shown, "NextToken repeats one already followed");
                    break;
                }
                Some(t) => {
                    url = format!("{path}?{}", query(&[("NextToken", t.clone())]));
                    sent.insert(t);
                }
                None => break,
            }
        }
        Ok(pages)
    }

    fn repeated(&mut self, shown: &str, what: &str) {
        let message = format!("{shown}: {what}; stopped paging (the server is not advancing)");
        tracing::warn!(platform = PLATFORM, %message);
        self.http.decisions.push(Decision::Notice {
            after_request: self.http.requests,
            message,
        });
    }
}

/// Read the orders updated since the cursor, join each new one with its items, file them with
/// `producer`, and save the cursor. Pages until caught up. `tokens` keeps the LWA access token
/// between polls.
pub async fn poll_once(
    config: &AmazonConfig,
    tokens: &mut AccessTokens,
    producer: &Producer,
) -> Result<PollStats, PollError> {
    let base = check_base(PLATFORM, &config.endpoint)?;
    let token_uri = check_base(PLATFORM, &config.token_url)?;
    if config.client_id.is_empty()
        || config.client_secret.is_empty()
        || config.refresh_token.is_empty()
    {
        return Err(PollError::Config(
            "amazon client_id, client_secret and refresh_token are required".into(),
        ));
    }
    if config.marketplace_ids.is_empty()
        || config.marketplace_ids.len() > 50
        || config.marketplace_ids.iter().any(|m| m.trim().is_empty())
    {
        return Err(PollError::Config(
            "amazon marketplace_ids: 1 to 50 non-empty ids".into(),
        ));
    }
    if config.max_results_per_page == 0 || config.max_results_per_page > 100 {
        return Err(PollError::Config(format!(
            "amazon max_results_per_page {} must be 1..=100",
            config.max_results_per_page
        )));
    }
    if config.settle < Duration::from_secs(120) {
        return Err(PollError::Config(
            "amazon settle must be at least two minutes (LastUpdatedBefore's rule)".into(),
        ));
    }
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| PollError::Config(format!("TLS setup: {e}")))?
        .https_or_http()
        .enable_http1()
        .build();
    let exchanges_before = tokens.exchanges;
    let mut run = Run {
        config,
        base: base.to_string().trim_end_matches('/').to_owned(),
        lwa: Lwa {
            config,
            uri: token_uri,
            client: Client::builder(TokioExecutor::new()).build(https),
        },
        tokens,
        http: Http::new(PLATFORM, &config.settings)?,
        orders_bucket: Bucket::new("getOrders", config.get_orders)?,
        items_bucket: Bucket::new("getOrderItems", config.get_order_items)?,
        exchanges_before,
        deprecation_reported: false,
    };
    let mut stats = PollStats::default();
    let result = poll_orders(&mut run, producer, &mut stats).await;
    run.http.outcome(stats, result)
}

async fn poll_orders(
    run: &mut Run<'_>,
    producer: &Producer,
    stats: &mut PollStats,
) -> Result<(), PollError> {
    let config = run.config;
    let settings = &config.settings;
    let store = CursorStore::new(&settings.cursor_dir);
    let start = store.load(PLATFORM, &settings.tenant, RESOURCE)?;
    let mut progress = Progress::new(start.clone());
    let now = (settings.clock)();
    let upper_ms = now - config.settle.as_millis() as i64;
    let after_ms = match &start {
        Some(c) => c.updated_at_ms,
        None => now - config.backfill.as_millis() as i64,
    };
    if after_ms > upper_ms {
        // The cursor is ahead of the window (clock skew): nothing can be asked for yet.
        return finish_resource(
            &store,
            PLATFORM,
            &settings.tenant,
            RESOURCE,
            progress,
            stats,
        );
    }
    let path = format!("{}{ORDERS_PATH}", run.base);
    let marketplaces = config.marketplace_ids.join(",");
    let first = query(&[
        ("MarketplaceIds", marketplaces.clone()),
        ("LastUpdatedAfter", format!("{}Z", utc_seconds(after_ms))),
        ("LastUpdatedBefore", format!("{}Z", utc_seconds(upper_ms))),
        ("MaxResultsPerPage", config.max_results_per_page.to_string()),
    ]);
    let mut url = format!("{path}?{first}");
    let mut next_tokens = HashSet::new();
    let mut fetched: HashSet<(String, i64)> = HashSet::new();
    loop {
        let answer = run.get(false, &url, ORDERS_PATH).await?;
        check_status(&answer, ORDERS_PATH)?;
        stats.pages += 1;
        let list: OrdersList<'_> = payload(&answer, ORDERS_PATH)?;
        let mut metas = Vec::with_capacity(list.orders.len());
        for raw in &list.orders {
            let meta: OrderMeta =
                serde_json::from_str(raw.get()).map_err(|e| PollError::Protocol {
                    platform: PLATFORM,
                    path: ORDERS_PATH.to_owned(),
                    reason: format!("an entry is not an order: {e}"),
                })?;
            metas.push((
                meta.amazon_order_id.clone().unwrap_or_default(),
                stamp(&meta),
            ));
        }
        // Items only for the orders this page will file (getOrderItems is a scarce bucket).
        let mut bodies: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
        for (i, (id, st)) in metas.iter().enumerate() {
            let new = match st {
                Some((ms, _)) => {
                    *ms <= upper_ms
                        && !super::Cursor::seen(progress.start.as_ref(), *ms, id)
                        && fetched.insert((id.clone(), *ms))
                }
                // No readable stamp: the connector refuses the order (dead letter).
                None => false,
            };
            let pages = if new && !id.is_empty() {
                run.items(id).await?
            } else {
                Vec::new()
            };
            bodies.insert(i, joined_body(list.orders[i], &pages));
        }
        let objects: Vec<Object<'_>> = metas
            .iter()
            .enumerate()
            .map(|(i, (id, st))| Object {
                id: id.clone(),
                body: &bodies[&i],
                stamp: st.clone(),
            })
            .collect();
        let raw_h = raw_headers(PLATFORM, ORDERS_PATH, &answer);
        file_page(
            producer,
            settings,
            &mut progress,
            stats,
            &objects,
            normalise_order,
            "getOrder",
            "amazon/orders",
            &raw_h,
            upper_ms,
        )
        .await?;
        match list.next_token.filter(|t| !t.is_empty()) {
            Some(t) if next_tokens.contains(&t) => {
                run.repeated(ORDERS_PATH, "NextToken repeats one already followed");
                break;
            }
            Some(t) => {
                url = format!(
                    "{path}?{}",
                    query(&[
                        ("MarketplaceIds", marketplaces.clone()),
                        ("NextToken", t.clone())
                    ])
                );
                next_tokens.insert(t);
            }
            None => break,
        }
    }
    finish_resource(
        &store,
        PLATFORM,
        &settings.tenant,
        RESOURCE,
        progress,
        stats,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_plans_are_the_documented_defaults() {
        let doc: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/platforms/amazon_sp_api/http/rate_limits_pagination_errors.json"
            ))
            .unwrap(),
        )
        .unwrap();
        for (op, plan) in [
            ("getOrders", GET_ORDERS),
            ("getOrderItems", GET_ORDER_ITEMS),
        ] {
            let d = &doc["operations"][format!("ordersV0.json#{op}")];
            assert_eq!(d["rate_rps"].as_f64(), Some(plan.rate), "{op}");
            assert_eq!(d["burst"].as_u64(), Some(u64::from(plan.burst)), "{op}");
        }
    }

    #[test]
    fn a_joined_order_keeps_its_parts_as_received() {
        let order: &RawValue = serde_json::from_str(r#"{ "AmazonOrderId" : "1-2-3" }"#).unwrap();
        let pages = [
            Bytes::from_static(br#"{"payload": {"AmazonOrderId":"1-2-3","OrderItems":[]}}"#),
            Bytes::from_static(br#"{"payload":{"AmazonOrderId":"1-2-3","OrderItems":[ ]}}"#),
        ];
        let body = joined_body(order, &pages);
        let j: Joined<'_> = serde_json::from_slice(&body).unwrap();
        assert_eq!(j.payload.get(), order.get());
        let items: Vec<&str> = j.items.iter().map(|p| p.get()).collect();
        assert_eq!(
            items,
            [&pages[0][..], &pages[1][..]].map(|p| std::str::from_utf8(p).unwrap())
        );
        assert!(
            normalise_order(
                "getOrder",
                b"{\"payload\":{}}",
                &mindset_connectors::Context::new("t", 1)
            )
            .is_err()
        );
    }

    #[test]
    fn a_rate_header_rebuilds_the_bucket_less_what_was_spent() {
        let mut http = Http::new(PLATFORM, &PollSettings::new("t", "/nonexistent")).unwrap();
        let mut b = Bucket::new(
            "getOrders",
            UsagePlan {
                rate: 0.0167,
                burst: 3,
            },
        )
        .unwrap();
        b.sent = 2;
        b.observe(Some("0.0167"), &mut http);
        b.observe(Some(" 0.01675 "), &mut http);
        assert!(http.decisions.is_empty(), "the same rate changes nothing");
        b.observe(Some("string"), &mut http);
        b.observe(Some("-1"), &mut http);
        assert_eq!(
            http.decisions.len(),
            1,
            "an unreadable header is reported once"
        );
        b.observe(Some("0.5"), &mut http);
        assert_eq!(b.rate, 0.5);
        assert!(
            matches!(&http.decisions[1], Decision::Notice { message, .. } if message.contains("0.5/s"))
        );
        // Two of the burst of three were spent: one is left, the next must wait.
        assert!(b.limiter.check().is_ok());
        assert!(b.limiter.check().is_err());
    }
}
