//! Flipkart Marketplace Seller API v3 poller: `POST /sellers/v3/shipments/filter` (shipment
//! search, one listing per filter type), then `GET /sellers/v3/shipments/{shipmentIds}` (shipment
//! details) for the listed shipments not filed yet, each filed as the `shipments` kind of
//! [`mindset_connectors::flipkart::normalise`].
//!
//! **Auth.** OAuth 2.0 client credentials, as Flipkart's docs and official Java SDK send them:
//! `GET <oauth>/oauth/token?grant_type=client_credentials&scope=Seller_Api` with
//! `Authorization: Basic base64(<app id>:<app secret>)` (a GET with query parameters, not a form
//! POST). The answer's `access_token` is sent as `Authorization: Bearer <token>`. [`AccessTokens`]
//! keeps it across polls until less than `refresh_margin` of its `expires_in` is left (by the
//! settings' clock); Flipkart's tokens live about 60 days. A `401` on an API call drops the token
//! and retries that request once with a fresh one (Flipkart answers an expired token with `401`);
//! a `401` on a fresh token ends the poll as [`PollError::Unauthorized`], and so do the token
//! endpoint's refusals (`{error, error_description}`). Flipkart's published token examples carry
//! U+00AD soft hyphens inside the tokens (an artefact of its HTML); they are removed before the
//! token is used.
//!
//! **Window.** Each filter type ([`FilterType`]: `preDispatch` with the states before dispatch,
//! `postDispatch` with the states after it) is its own resource with its own cursor. The first
//! page is a POST with `filter: {type, states, modifiedDate: {from, to}}` and `pagination:
//! {pageSize}`; `from` is one second before the cursor (Flipkart does not say whether `from` is
//! inclusive, so the cursor's own second is re-read and filtered by the cursor's ids; `backfill`
//! before now on the first poll), `to` is `now - settle` (a shipment updated while the poll pages
//! leaves the window for the next poll).
//!
//! **Paging.** While an answer says `hasMore: true`, its `nextPageUrl` is fetched with GET (the
//! documented GET variant of the search). Flipkart publishes only the placeholder `"string"` for
//! its format, so it is resolved against the API base: an absolute URL must name the configured
//! host (the token is never sent elsewhere), a path under the base's own path (`/sellers/…`) is
//! taken from the host, any other path or relative URL is appended to the base
//! (`/v3/shipments/filter?…` → `<base>/v3/shipments/filter?…`). `hasMore` without a
//! `nextPageUrl` ends the poll as [`PollError::Protocol`]; a `nextPageUrl` already followed ends
//! the listing with a [`Decision::Notice`].
//!
//! **Details.** For the shipments of a page that will be filed (past the cursor, inside the
//! window, not filed earlier in this poll), one `GET /v3/shipments/{id,id,…}` reads their details;
//! each is filed with the details' version. A shipment the details answer leaves out, or a details
//! call refused with a `4xx` other than `401`/`403`, is filed as listed (a
//! [`Decision::Notice`] says so): the listing has the same shape and the same order content.
//!
//! **Filing.** One object per shipment: its body is `{"shipments": [<shipment>]}`, the
//! shipment exactly as received, so it reads as a `shipments` response; raw id over shipment id
//! and `updatedAt`. The events are those of the `shipment_created` notification of the same
//! shipment (one `OrderPlaced` per order in it, `event_id` over order id and shipment id: the two
//! paths never double-count). A shipment the connector refuses is dead-lettered with the reason.
//! The cursor is `updatedAt` and the shipment ids at that instant.
//!
//! **Rate limit.** Flipkart documents none (no `429`, no rate headers): requests are spaced by
//! the settings' client-side limit; a `429` still waits `Retry-After` (or 1 s); `5xx` and `499`
//! (listed by Flipkart as "connection timed out") retry with backoff ([`super::Http`]).

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use base64::Engine;
use hyper::{
    StatusCode, Uri,
    body::Bytes,
    header::{AUTHORIZATION, HeaderValue},
};
use mindset_connectors::flipkart;
use mindset_pipeline::Producer;
use serde::Deserialize;
use serde_json::value::RawValue;

pub use super::AccessTokens;
use super::{
    Answer, CursorStore, Decision, Http, Object, PollError, PollSettings, PollStats, Progress,
    check_base, file_page, finish_resource, raw_headers, snippet,
};

const PLATFORM: &str = "flipkart";
/// The search path, relative to the API base (`https://api.flipkart.net/sellers`).
pub const FILTER_PATH: &str = "/v3/shipments/filter";
/// The details path prefix, relative to the API base.
pub const DETAILS_PATH: &str = "/v3/shipments";
/// The token path, shown in errors.
const TOKEN_PATH: &str = "/oauth-service/oauth/token";
/// Statuses retried besides `5xx`: Flipkart lists `499` "Connection timed out".
const ALSO_RETRIED: &[u16] = &[499];

/// A shipment search filter type and the states it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterType {
    /// `preDispatch`: `APPROVED`, `PACKING_IN_PROGRESS`, `FORM_FAILED`, `PACKED`,
    /// `READY_TO_DISPATCH`.
    PreDispatch,
    /// `postDispatch`: `PICKUP_COMPLETE`, `SHIPPED`, `DELIVERED`.
    PostDispatch,
}

impl FilterType {
    /// The cursor's resource name.
    pub fn name(self) -> &'static str {
        match self {
            FilterType::PreDispatch => "pre-dispatch",
            FilterType::PostDispatch => "post-dispatch",
        }
    }

    /// The `filter.type` value.
    pub fn wire(self) -> &'static str {
        match self {
            FilterType::PreDispatch => "preDispatch",
            FilterType::PostDispatch => "postDispatch",
        }
    }

    /// The `filter.states` asked for.
    pub fn states(self) -> &'static [&'static str] {
        match self {
            FilterType::PreDispatch => &[
                "APPROVED",
                "PACKING_IN_PROGRESS",
                "FORM_FAILED",
                "PACKED",
                "READY_TO_DISPATCH",
            ],
            FilterType::PostDispatch => &["PICKUP_COMPLETE", "SHIPPED", "DELIVERED"],
        }
    }
}

/// The body of a shipment search: `filter` (type, states, `modifiedDate` window when given) and
/// `pagination.pageSize`.
pub fn filter_body(kind: FilterType, window: Option<(i64, i64)>, page_size: u32) -> Bytes {
    let mut filter = serde_json::json!({
        "type": kind.wire(),
        "states": kind.states(),
    });
    if let Some((from, to)) = window {
        filter["modifiedDate"] = serde_json::json!({"from": iso_ms(from), "to": iso_ms(to)});
    }
    let body = serde_json::json!({"filter": filter, "pagination": {"pageSize": page_size}});
    Bytes::from(body.to_string())
}

/// `2026-01-01T00:00:00.000Z`.
fn iso_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".to_owned())
}

/// One seller application's poller settings.
#[derive(Clone)]
pub struct FlipkartConfig {
    /// The Seller API base, `https://api.flipkart.net/sellers` (sandbox:
    /// `https://sandbox-api.flipkart.net/sellers`).
    pub api_base: String,
    /// The token endpoint, `https://api.flipkart.net/oauth-service/oauth/token`.
    pub token_url: String,
    pub app_id: String,
    pub app_secret: String,
    pub filter_types: Vec<FilterType>,
    /// Shipments per search page (`pagination.pageSize`, 1..=100).
    pub page_size: u32,
    /// How far back the first poll reads.
    pub backfill: Duration,
    /// How far behind now the window ends.
    pub settle: Duration,
    /// Fetch a new token when less than this is left of the current one's life.
    pub refresh_margin: Duration,
    pub settings: PollSettings,
}

impl std::fmt::Debug for FlipkartConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlipkartConfig")
            .field("api_base", &self.api_base)
            .field("token_url", &self.token_url)
            .field("app_id", &self.app_id)
            .field("filter_types", &self.filter_types)
            .field("page_size", &self.page_size)
            .field("backfill", &self.backfill)
            .field("settle", &self.settle)
            .field("refresh_margin", &self.refresh_margin)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl FlipkartConfig {
    /// The production hosts, both filter types, 20 shipments a page, 30 days of backfill.
    pub fn new(
        app_id: impl Into<String>,
        app_secret: impl Into<String>,
        settings: PollSettings,
    ) -> FlipkartConfig {
        FlipkartConfig {
            api_base: "https://api.flipkart.net/sellers".into(),
            token_url: "https://api.flipkart.net/oauth-service/oauth/token".into(),
            app_id: app_id.into(),
            app_secret: app_secret.into(),
            filter_types: vec![FilterType::PreDispatch, FilterType::PostDispatch],
            page_size: 20,
            backfill: Duration::from_secs(30 * 86_400),
            settle: Duration::from_secs(60),
            refresh_margin: Duration::from_secs(3_600),
            settings,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// OAuth

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

/// The token of a client-credentials answer, with Flipkart's documented soft hyphens removed.
pub fn read_token_answer(body: &[u8]) -> Result<(String, u64), String> {
    let t: TokenAnswer =
        serde_json::from_slice(body).map_err(|e| format!("not a token answer: {e}"))?;
    let token: String = t
        .access_token
        .chars()
        .filter(|c| *c != '\u{00AD}')
        .collect();
    let token = token.trim().to_owned();
    if token.is_empty() || t.expires_in == 0 {
        return Err("an empty access_token or expires_in 0".into());
    }
    Ok((token, t.expires_in))
}

/// `Authorization: Basic base64(app id:app secret)`.
pub fn basic_auth(app_id: &str, app_secret: &str) -> Result<HeaderValue, String> {
    let v = base64::engine::general_purpose::STANDARD.encode(format!("{app_id}:{app_secret}"));
    HeaderValue::from_str(&format!("Basic {v}"))
        .map_err(|_| "the app id or secret holds characters a header cannot carry".to_owned())
}

/// The client-credentials request URL for the token endpoint `token_url`.
pub fn token_request_url(token_url: &str) -> String {
    format!(
        "{}?grant_type=client_credentials&scope=Seller_Api",
        token_url.trim_end_matches('/')
    )
}

/// A token with more than the margin left: the cached one, else a new token request.
async fn token(
    tokens: &mut AccessTokens,
    config: &FlipkartConfig,
    http: &mut Http,
) -> Result<HeaderValue, PollError> {
    let now = (config.settings.clock)();
    if let Some((t, _)) = tokens.fresh(now, config.refresh_margin) {
        return Ok(t);
    }
    let uri: Uri = token_request_url(&config.token_url)
        .parse()
        .map_err(|e| PollError::Config(format!("flipkart token URL: {e}")))?;
    let basic = basic_auth(&config.app_id, &config.app_secret).map_err(PollError::Config)?;
    let answer = http
        .get(&uri, &[(AUTHORIZATION, basic)], TOKEN_PATH)
        .await?;
    if !answer.status.is_success() {
        let status = answer.status.as_u16();
        let message = match serde_json::from_slice::<TokenRefusal>(&answer.body) {
            Ok(r) if r.error.is_some() || r.error_description.is_some() => format!(
                "{}: {}",
                r.error.unwrap_or_default(),
                r.error_description.unwrap_or_default()
            ),
            _ => snippet(&answer.body),
        };
        return Err(PollError::Unauthorized {
            platform: PLATFORM,
            status,
            path: TOKEN_PATH.to_owned(),
            message: format!("the client-credentials token request was refused: {message}"),
        });
    }
    let protocol = |reason: String| PollError::Protocol {
        platform: PLATFORM,
        path: TOKEN_PATH.to_owned(),
        reason,
    };
    let (token, expires_in) = read_token_answer(&answer.body).map_err(protocol)?;
    let value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| protocol("the access token is not a valid header value".into()))?;
    Ok(tokens.keep(value, now, expires_in).0)
}

// ---------------------------------------------------------------------------------------------
// Pages

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchPage<'a> {
    #[serde(default)]
    has_more: bool,
    #[serde(default)]
    next_page_url: Option<String>,
    #[serde(borrow, default)]
    shipments: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct DetailsPage<'a> {
    #[serde(borrow, default)]
    shipments: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShipmentMeta {
    #[serde(default)]
    shipment_id: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
}

fn meta(raw: &RawValue, shown: &str) -> Result<(String, Option<(i64, String)>), PollError> {
    let m: ShipmentMeta = serde_json::from_str(raw.get()).map_err(|e| PollError::Protocol {
        platform: PLATFORM,
        path: shown.to_owned(),
        reason: format!("a shipment is not an object: {e}"),
    })?;
    let stamp = m.updated_at.as_deref().and_then(|t| {
        mindset_connectors::common::rfc3339_millis(t)
            .ok()
            .map(|ms| (ms, t.to_owned()))
    });
    Ok((
        m.shipment_id
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
        stamp,
    ))
}

/// `{"shipments":[<shipment>]}`, the shipment as received.
fn shipment_body(shipment: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(shipment.len() + 16);
    body.extend_from_slice(b"{\"shipments\":[");
    body.extend_from_slice(shipment.as_bytes());
    body.extend_from_slice(b"]}");
    body
}

/// A Flipkart error body: `{"errors":[{code, message|description}]}`, `{code, message}` or the
/// OAuth `{error, error_description}`.
fn error_message(body: &[u8]) -> (Option<String>, String) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (None, snippet(body));
    };
    let text =
        |v: &serde_json::Value, k: &str| v.get(k).and_then(|m| m.as_str()).map(str::to_owned);
    if let Some(list) = v.get("errors").and_then(|e| e.as_array())
        && !list.is_empty()
    {
        let code = list.iter().find_map(|e| text(e, "code"));
        let message = list
            .iter()
            .map(|e| {
                text(e, "message")
                    .or_else(|| text(e, "description"))
                    .unwrap_or_else(|| e.to_string())
            })
            .collect::<Vec<_>>()
            .join("; ");
        return (code, message);
    }
    let code = text(&v, "code").or_else(|| text(&v, "error"));
    let message = text(&v, "message")
        .or_else(|| text(&v, "error_description"))
        .unwrap_or_else(|| snippet(body));
    (code, message)
}

fn check_status(answer: &Answer, shown: &str) -> Result<(), PollError> {
    if answer.status.is_success() {
        return Ok(());
    }
    let status = answer.status.as_u16();
    let (code, message) = error_message(&answer.body);
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

// ---------------------------------------------------------------------------------------------
// The poll

struct Run<'a> {
    config: &'a FlipkartConfig,
    base: Uri,
    tokens: &'a mut AccessTokens,
    http: Http,
}

impl Run<'_> {
    /// A request with the bearer token; a `401` drops the token and retries once with a new one.
    async fn send(
        &mut self,
        post: Option<&Bytes>,
        uri: &Uri,
        shown: &str,
    ) -> Result<Answer, PollError> {
        let mut refreshed = false;
        loop {
            let token = token(self.tokens, self.config, &mut self.http).await?;
            let headers = [(AUTHORIZATION, token)];
            let answer = match post {
                Some(body) => {
                    self.http
                        .post_json(uri, &headers, body.clone(), shown)
                        .await?
                }
                None => self.http.get(uri, &headers, shown).await?,
            };
            if answer.status == StatusCode::UNAUTHORIZED && !refreshed {
                refreshed = true;
                self.tokens.forget();
                self.notice(format!(
                    "401 on {shown}: the access token expired or was revoked; requesting a new one"
                ));
                continue;
            }
            return Ok(answer);
        }
    }

    fn notice(&mut self, message: String) {
        tracing::warn!(platform = PLATFORM, %message);
        self.http.decisions.push(Decision::Notice {
            after_request: self.http.requests,
            message,
        });
    }

    /// The URL of a `nextPageUrl` (see the module docs).
    fn next_url(&self, next: &str) -> Result<Uri, PollError> {
        let protocol = |reason: String| PollError::Protocol {
            platform: PLATFORM,
            path: FILTER_PATH.to_owned(),
            reason,
        };
        let base = self.base.to_string();
        let base = base.trim_end_matches('/');
        let origin = format!(
            "{}://{}",
            self.base.scheme_str().unwrap_or("https"),
            self.base.authority().map(|a| a.as_str()).unwrap_or("")
        );
        let base_path = self.base.path().trim_end_matches('/');
        let next = next.trim();
        let url = if next.contains("://") {
            let u: Uri = next
                .parse()
                .map_err(|e| protocol(format!("nextPageUrl {next:?}: {e}")))?;
            if u.scheme() != self.base.scheme() || u.authority() != self.base.authority() {
                return Err(protocol(format!(
                    "nextPageUrl {next:?} names another host than {origin}; not sending the \
                     token there"
                )));
            }
            next.to_owned()
        } else if !base_path.is_empty()
            && (next == base_path || next.starts_with(&format!("{base_path}/")))
        {
            format!("{origin}{next}")
        } else if next.starts_with('/') {
            format!("{base}{next}")
        } else {
            format!("{base}/{next}")
        };
        url.parse()
            .map_err(|e| protocol(format!("nextPageUrl {next:?}: {e}")))
    }

    /// The details of `ids`, by shipment id, as received (with the answer, for its headers);
    /// `None` when Flipkart refused the call with a 4xx (the listed shipments are filed
    /// instead).
    async fn details(
        &mut self,
        ids: &[&str],
    ) -> Result<Option<(Answer, HashMap<String, String>)>, PollError> {
        let joined: Vec<String> = ids.iter().map(|id| super::encode(id)).collect();
        let shown = format!("{DETAILS_PATH}/{{shipmentIds}}");
        let uri: Uri = format!(
            "{}{DETAILS_PATH}/{}",
            self.base.to_string().trim_end_matches('/'),
            joined.join(",")
        )
        .parse()
        .map_err(|e| PollError::Config(format!("details URL: {e}")))?;
        let answer = self.send(None, &uri, &shown).await?;
        if answer.status.is_client_error() && !matches!(answer.status.as_u16(), 401 | 403) {
            let (_, message) = error_message(&answer.body);
            self.notice(format!(
                "{shown}: {} {message}; filing the {} shipments as listed",
                answer.status.as_u16(),
                ids.len()
            ));
            return Ok(None);
        }
        check_status(&answer, &shown)?;
        let page: DetailsPage<'_> =
            serde_json::from_slice(&answer.body).map_err(|e| PollError::Protocol {
                platform: PLATFORM,
                path: shown.clone(),
                reason: format!("not a shipments answer: {e}"),
            })?;
        let mut found = HashMap::new();
        for raw in &page.shipments {
            let (id, _) = meta(raw, &shown)?;
            found.insert(id, raw.get().to_owned());
        }
        Ok(Some((answer, found)))
    }
}

/// Read the shipments updated since each filter type's cursor, file the new ones with `producer`,
/// and save the cursors. Pages until caught up. `tokens` keeps the access token between polls.
pub async fn poll_once(
    config: &FlipkartConfig,
    tokens: &mut AccessTokens,
    producer: &Producer,
) -> Result<PollStats, PollError> {
    let base = check_base(PLATFORM, &config.api_base)?;
    check_base(PLATFORM, &config.token_url)?;
    if config.app_id.trim().is_empty() || config.app_secret.trim().is_empty() {
        return Err(PollError::Config(
            "flipkart app_id and app_secret are required".into(),
        ));
    }
    if config.page_size == 0 || config.page_size > 100 {
        return Err(PollError::Config(format!(
            "flipkart page_size {} must be 1..=100",
            config.page_size
        )));
    }
    if config.filter_types.is_empty() {
        return Err(PollError::Config(
            "flipkart filter_types: at least one of preDispatch, postDispatch".into(),
        ));
    }
    let mut run = Run {
        config,
        base,
        tokens,
        http: Http::new(PLATFORM, &config.settings)?.also_retry(ALSO_RETRIED),
    };
    let mut stats = PollStats::default();
    let result = async {
        for &kind in &config.filter_types {
            poll_type(&mut run, producer, &mut stats, kind).await?;
        }
        Ok(())
    }
    .await;
    run.http.outcome(stats, result)
}

async fn poll_type(
    run: &mut Run<'_>,
    producer: &Producer,
    stats: &mut PollStats,
    kind: FilterType,
) -> Result<(), PollError> {
    let config = run.config;
    let settings = &config.settings;
    let store = CursorStore::new(&settings.cursor_dir);
    let name = kind.name();
    let start = store.load(PLATFORM, &settings.tenant, name)?;
    let mut progress = Progress::new(start.clone());
    let now = (settings.clock)();
    let upper_ms = now - config.settle.as_millis() as i64;
    let from_ms = match &start {
        Some(c) => c.updated_at_ms - 1_000,
        None => now - config.backfill.as_millis() as i64,
    };
    if from_ms > upper_ms {
        // The cursor is ahead of the window (clock skew): nothing can be asked for yet.
        return finish_resource(&store, PLATFORM, &settings.tenant, name, progress, stats);
    }
    let first: Uri = format!(
        "{}{FILTER_PATH}",
        run.base.to_string().trim_end_matches('/')
    )
    .parse()
    .map_err(|e| PollError::Config(format!("search URL: {e}")))?;
    let body = filter_body(kind, Some((from_ms, upper_ms)), config.page_size);
    let mut post = Some(body);
    let mut uri = first;
    let mut followed: HashSet<String> = HashSet::new();
    let mut fetched: HashSet<(String, i64)> = HashSet::new();
    loop {
        let answer = run.send(post.as_ref(), &uri, FILTER_PATH).await?;
        check_status(&answer, FILTER_PATH)?;
        stats.pages += 1;
        let page: SearchPage<'_> =
            serde_json::from_slice(&answer.body).map_err(|e| PollError::Protocol {
                platform: PLATFORM,
                path: FILTER_PATH.to_owned(),
                reason: format!("not a shipment search answer: {e}"),
            })?;
        let metas = page
            .shipments
            .iter()
            .map(|raw| meta(raw, FILTER_PATH))
            .collect::<Result<Vec<_>, _>>()?;
        // Details only for the shipments this page will file.
        let wanted: Vec<&str> = metas
            .iter()
            .filter(|(id, st)| match st {
                Some((ms, _)) => {
                    !id.is_empty()
                        && *ms <= upper_ms
                        && !super::Cursor::seen(progress.start.as_ref(), *ms, id)
                        && fetched.insert((id.clone(), *ms))
                }
                None => false,
            })
            .map(|(id, _)| id.as_str())
            .collect();
        let details = if wanted.is_empty() {
            None
        } else {
            run.details(&wanted).await?
        };
        let mut bodies = Vec::with_capacity(metas.len());
        for (i, (id, _)) in metas.iter().enumerate() {
            let detailed = details.as_ref().and_then(|(_, found)| found.get(id));
            let body = match detailed {
                Some(d) => shipment_body(d),
                None => {
                    if details.is_some() && wanted.contains(&id.as_str()) {
                        run.notice(format!(
                            "{DETAILS_PATH}: shipment {id} is missing from the details answer; \
                             filing it as listed"
                        ));
                    }
                    shipment_body(page.shipments[i].get())
                }
            };
            bodies.push(body);
        }
        let objects: Vec<Object<'_>> = metas
            .iter()
            .zip(&bodies)
            .map(|((id, st), body)| Object {
                id: id.clone(),
                body,
                stamp: st.clone(),
            })
            .collect();
        let mut raw_h = match &details {
            Some((a, _)) => raw_headers(PLATFORM, DETAILS_PATH, a),
            None => raw_headers(PLATFORM, FILTER_PATH, &answer),
        };
        if post.is_some() && details.is_none() {
            raw_h.insert(
                "x-mindset-poll".into(),
                format!("{PLATFORM} POST {FILTER_PATH}"),
            );
        }
        file_page(
            producer,
            settings,
            &mut progress,
            stats,
            &objects,
            flipkart::normalise,
            "shipments",
            "flipkart/shipments",
            &raw_h,
            upper_ms,
        )
        .await?;
        if !page.has_more {
            break;
        }
        let Some(next) = page.next_page_url.filter(|n| !n.trim().is_empty()) else {
            return Err(PollError::Protocol {
                platform: PLATFORM,
                path: FILTER_PATH.to_owned(),
                reason: "hasMore is true but there is no nextPageUrl".into(),
            });
        };
        if !followed.insert(next.clone()) {
            run.notice(format!(
                "{FILTER_PATH}: nextPageUrl repeats one already followed; stopped paging (the \
                 server is not advancing)"
            ));
            break;
        }
        uri = run.next_url(&next)?;
        post = None;
    }
    finish_resource(&store, PLATFORM, &settings.tenant, name, progress, stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_token_answers_are_read() {
        let doc: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/platforms/flipkart/oauth/oauth.json"
            ))
            .unwrap(),
        )
        .unwrap();
        let verbatim = doc["authorization_code"]["response_docs_example_verbatim"].to_string();
        let (token, expires) = read_token_answer(verbatim.as_bytes()).unwrap();
        assert_eq!(token, "f638949ac9794172b33c23311a168647");
        assert_eq!(expires, 5_183_999);
        assert!(HeaderValue::from_str(&format!("Bearer {token}")).is_ok());
        let cc = doc["client_credentials_response_docs_example"].to_string();
        assert_eq!(read_token_answer(cc.as_bytes()).unwrap().1, 3_330_779);
        assert!(read_token_answer(br#"{"access_token":"","expires_in":10}"#).is_err());
        assert!(read_token_answer(br#"{"error":"invalid_client"}"#).is_err());
        // The request, as oauth.json gives it.
        let url = doc["client_credentials_request"]["url"].as_str().unwrap();
        assert_eq!(
            token_request_url("https://api.flipkart.net/oauth-service/oauth/token"),
            url
        );
        assert_eq!(doc["client_credentials_request"]["method"], "GET");
    }

    #[test]
    fn the_search_body_has_the_filter_window_and_page_size() {
        let body = filter_body(
            FilterType::PostDispatch,
            Some((1_767_225_600_000, 1_767_225_660_500)),
            20,
        );
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "filter": {
                    "type": "postDispatch",
                    "states": ["PICKUP_COMPLETE", "SHIPPED", "DELIVERED"],
                    "modifiedDate": {
                        "from": "2026-01-01T00:00:00.000Z",
                        "to": "2026-01-01T00:01:00.500Z"
                    }
                },
                "pagination": {"pageSize": 20}
            })
        );
    }

    #[test]
    fn error_bodies_in_every_documented_shape() {
        assert_eq!(
            error_message(br#"{"errors":[{"code":"E1","message":"bad filter"}]}"#),
            (Some("E1".into()), "bad filter".into())
        );
        assert_eq!(
            error_message(br#"{"error":"invalid_token","error_description":"expired"}"#),
            (Some("invalid_token".into()), "expired".into())
        );
        assert_eq!(
            error_message(b"<html>oops</html>"),
            (None, "<html>oops</html>".into())
        );
    }
}
