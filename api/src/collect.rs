//! First-party collection over HTTP: the Segment-compatible track API, Mindset's `/v1/messages`
//! text endpoint and the storefront script. What a message means is
//! [`mindset_connectors::segment`]'s business; this module owns auth, limits, CORS,
//! de-duplication, identity state and filing.
//!
//! | route | what |
//! | --- | --- |
//! | `POST /v1/track`, `/v1/identify`, `/v1/page`, `/v1/screen`, `/v1/alias`, `/v1/group` (and analytics.js' `/v1/t`, `/v1/i`, `/v1/p`, `/v1/s`, `/v1/a`, `/v1/g`) | one message |
//! | `POST /v1/batch`, `/v1/b` | `{"batch": [messages…], "sentAt"?, "context"?, "writeKey"?}` |
//! | `POST /v1/messages` | chat, support or feedback text (`MessageReceived`) |
//! | `OPTIONS /v1/*` | CORS preflight for the shops' storefront origins |
//! | `GET /js/mindset.js` | the storefront script (`api/assets/mindset.js`) |
//!
//! **Auth.** The shop's write key, as the HTTP Basic user name (password empty), else as
//! `writeKey` in the body. Missing or unknown: 401. A browser call (`Origin` header) from an
//! origin the shop did not list: 403.
//!
//! **Limits** (the spec's): 32 KB per message, 500 KB per batch, counted after gzip
//! (`Content-Encoding: gzip`) is undone; beyond them 400 with the sizes. Any `Content-Type` is
//! read as JSON, so `navigator.sendBeacon` with text works without a preflight.
//!
//! **All or nothing.** Every message of a request is checked and normalised before anything is
//! written; one bad message answers 400 naming it (`batch[3]: …`) and nothing of the request
//! enters the log. Then the request as it came goes to `ingest.raw.v1` (a single call as one raw
//! payload with source `track:<event>`, `identify`, …; a batch as one raw payload with source
//! `batch`), so every call, mapped or not, stays queryable and re-normalisable; its canonical
//! events go to `customer.events.v1`,
//! and identity joins also to the compacted `identity.links.v1`, all in one round of writes;
//! `200 {"success": true, …}` once durable, 503 if the log refused (the client retries).
//!
//! **Redelivered `messageId`s** are answered 200 and counted as `duplicates` without writing
//! again (per process, the last [`crate::ingest::DEDUP_CAPACITY`] messages); beyond that window
//! their event ids repeat and consumers drop them.

use std::{collections::HashMap, io::Read, sync::RwLock};

use axum::{
    Json,
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use base64::Engine;
use mindset_connectors::{
    Context, Headers, Normalised,
    common::raw_payload,
    segment::{self, Call, Links, MAX_BATCH_BYTES, MAX_MESSAGE_BYTES},
};
use mindset_pipeline::{LogError, Record, publish};
use mindset_schemas::{CanonicalEvent, Payload, Platform};
use mindset_topics::{EntityKey, IDENTITY_LINKS, KeyCodec, RAW_PAYLOADS, ValueCodec};
use serde_json::{Map, Value, json, value::RawValue};

use crate::ingest::{IngestError, IngestState, Shared, raw_record};

/// The storefront script, served at `/js/mindset.js`.
pub const STOREFRONT_SCRIPT: &str = include_str!("../assets/mindset.js");

/// The largest request body read off the wire (compressed or not), in bytes.
const WIRE_LIMIT: usize = 1024 * 1024;

/// De-duplication of track messages is by `messageId` alone (the spec's rule), whatever the
/// body: every message is remembered with this digest.
const ANY_BODY: crate::ingest::BodyDigest = 0;

/// Each tenant's identity joins: tenant → (`anon:…`/`user:…` → customer key).
#[derive(Default)]
pub struct IdentityMap {
    tenants: RwLock<HashMap<String, HashMap<String, String>>>,
}

impl IdentityMap {
    /// Record joins (`from`, `to`) of a tenant.
    pub fn apply(&self, tenant: &str, joins: &[(String, String)]) {
        if joins.is_empty() {
            return;
        }
        let mut all = self.tenants.write().expect("identity lock");
        let map = all.entry(tenant.to_owned()).or_default();
        for (from, to) in joins {
            map.insert(from.clone(), to.clone());
        }
    }

    /// How many keys are joined, over all tenants.
    pub fn len(&self) -> usize {
        self.tenants
            .read()
            .expect("identity lock")
            .values()
            .map(HashMap::len)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn with_tenant<T>(&self, tenant: &str, f: impl FnOnce(&HashMap<String, String>) -> T) -> T {
        let all = self.tenants.read().expect("identity lock");
        static NONE: std::sync::LazyLock<HashMap<String, String>> =
            std::sync::LazyLock::new(HashMap::new);
        f(all.get(tenant).unwrap_or(&NONE))
    }

    /// Rebuild from `identity.links.v1` (the latest join per key): read it to its end.
    pub async fn restore(&self, log: &mindset_pipeline::Log) -> Result<usize, LogError> {
        let spec = &IDENTITY_LINKS.spec;
        let total: u64 = log.end_offsets(spec).await?.iter().sum();
        if total == 0 {
            return Ok(0);
        }
        let group = format!("mindset-identity-restore-{}", std::process::id());
        let mut consumer = log.consumer(&group, &[spec])?;
        let (mut read, mut idle, mut joins) = (0u64, 0, 0);
        while read < total && idle < 20 {
            let batch = consumer
                .poll(10_000, std::time::Duration::from_millis(250))
                .await?;
            if batch.is_empty() {
                idle += 1;
            }
            for m in batch {
                read += 1;
                match CanonicalEvent::decode(&m.value) {
                    Ok(CanonicalEvent {
                        tenant_id,
                        customer_key: Some(to),
                        payload: Payload::IdentityLinked(l),
                        ..
                    }) => {
                        self.apply(&tenant_id, &[(l.from_key, to)]);
                        joins += 1;
                    }
                    Ok(other) => tracing::warn!(
                        event_id = %other.event_id,
                        "identity.links.v1 holds a non-IdentityLinked event; skipped"
                    ),
                    Err(e) => tracing::warn!(error = %e, "unreadable identity link; skipped"),
                }
            }
        }
        Ok(joins)
    }
}

/// Why a track call was refused (on top of [`IngestError`]'s shared reasons).
pub(crate) fn bad(reason: impl Into<String>) -> IngestError {
    IngestError::BadRequest(reason.into())
}

/// `/v1/<call>` for one message.
pub(crate) async fn single(
    State(s): Shared,
    axum::extract::Path(call): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, IngestError> {
    let call = match call.as_str() {
        "track" | "t" => Call::Track,
        "identify" | "i" => Call::Identify,
        "page" | "p" => Call::Page,
        "screen" | "s" => Call::Screen,
        "alias" | "a" => Call::Alias,
        "group" | "g" => Call::Group,
        _ => return Err(IngestError::NoRoute),
    };
    let body = read(&headers, body, MAX_MESSAGE_BYTES).await?;
    let tenant = s.track_tenant(&headers, body_write_key(&body)?.as_deref())?;
    let empty = Map::new();
    s.collect(&tenant, &headers, None, |ctx, links| {
        let n = segment::normalise(ctx, Some(call), &empty, &body, links);
        Ok(vec![n.map_err(|e| bad(e.to_string()))?])
    })
    .await
}

/// `/v1/batch` and `/v1/b`.
pub(crate) async fn batch(
    State(s): Shared,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, IngestError> {
    /// The batch envelope, read in one pass; messages stay unparsed text until normalised.
    #[derive(serde::Deserialize)]
    struct Batch<'a> {
        #[serde(borrow)]
        batch: Vec<&'a RawValue>,
        #[serde(rename = "writeKey")]
        write_key: Option<String>,
        #[serde(rename = "sentAt")]
        sent_at: Option<Value>,
        context: Option<Value>,
    }
    let body = read(&headers, body, MAX_BATCH_BYTES).await?;
    let items: Batch = serde_json::from_slice(&body).map_err(|e| {
        bad(format!(
            "the body is not a batch ({{\"batch\": [messages…]}}): {e}"
        ))
    })?;
    let tenant = s.track_tenant(&headers, items.write_key.as_deref())?;
    if items.batch.is_empty() {
        return Err(bad("the batch is empty"));
    }
    // What the batch says once for all its messages.
    let mut shared = Map::new();
    if let Some(sent_at) = items.sent_at.clone() {
        shared.insert("sentAt".into(), sent_at);
    }
    let shared_context = items.context.clone();
    s.collect(&tenant, &headers, Some(&body), |ctx, links| {
        items
            .batch
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let text = with_context(m.get(), shared_context.as_ref());
                segment::normalise(ctx, None, &shared, text.as_bytes(), links)
                    .map_err(|e| bad(format!("batch[{i}]: {e}")))
            })
            .collect()
    })
    .await
}

/// `/v1/messages`: text from chat, support and feedback tools.
pub(crate) async fn messages(
    State(s): Shared,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, IngestError> {
    let body = read(&headers, body, MAX_MESSAGE_BYTES).await?;
    let tenant = s.track_tenant(&headers, body_write_key(&body)?.as_deref())?;
    s.collect(&tenant, &headers, None, |ctx, links| {
        let n = segment::normalise_text(ctx, &body, links);
        Ok(vec![n.map_err(|e| bad(e.to_string()))?])
    })
    .await
}

/// `OPTIONS /v1/*`: the preflight (its headers come from [`cors`]).
pub(crate) async fn preflight() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// `GET /js/mindset.js`.
pub(crate) async fn script() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/javascript; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        STOREFRONT_SCRIPT,
    )
        .into_response()
}

/// CORS for `/v1/*`: answers preflights and marks answers readable for the shops' origins.
pub(crate) async fn cors(State(s): Shared, req: Request, next: Next) -> Response {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| s.origin_known(o))
        .and_then(|o| HeaderValue::from_str(o).ok());
    let preflight = req.method() == Method::OPTIONS;
    let mut res = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    if let Some(origin) = origin {
        let h = res.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        if preflight {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("POST, OPTIONS"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("Authorization, Content-Type, Content-Encoding"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("86400"),
            );
        }
    }
    res
}

impl IngestState {
    /// Is `origin` listed by any tenant (the preflight does not say which tenant calls)?
    fn origin_known(&self, origin: &str) -> bool {
        self.origins.contains(origin)
    }

    /// The tenant of the write key in the Basic auth header, else `body_key` (the body's
    /// `writeKey`); checks the origin.
    fn track_tenant(
        &self,
        headers: &HeaderMap,
        body_key: Option<&str>,
    ) -> Result<String, IngestError> {
        let from_header = match headers.get(header::AUTHORIZATION) {
            None => None,
            Some(v) => Some(basic_user(v).ok_or_else(|| {
                IngestError::Unauthorized(
                    "the Authorization header is not Basic <base64 of writeKey:>".into(),
                )
            })?),
        };
        let key = match from_header {
            Some(k) => k,
            None => match body_key {
                Some(k) => k.to_owned(),
                None => {
                    return Err(IngestError::Unauthorized(
                        "missing write key: send it as the Basic auth user name or as \"writeKey\" in the body".into(),
                    ));
                }
            },
        };
        let tenant = self
            .write_keys
            .iter()
            .find(|(k, _)| {
                k.len() == key.len()
                    && bool::from(subtle::ConstantTimeEq::ct_eq(k.as_bytes(), key.as_bytes()))
            })
            .map(|(_, t)| t.clone())
            .ok_or_else(|| IngestError::Unauthorized("unknown write key".into()))?;
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
            let allowed = self
                .secrets
                .tenant(&tenant)
                .and_then(|t| t.track.as_ref())
                .is_some_and(|t| t.origins.iter().any(|o| o == origin));
            if !allowed {
                return Err(IngestError::Forbidden(format!(
                    "origin {origin} is not one of this shop's storefront origins"
                )));
            }
        }
        Ok(tenant)
    }

    /// Normalise every message of a request with `normalise`, then file all of it or nothing.
    ///
    /// `batch` is the body of a batch request: it is kept as one raw payload (the request as it
    /// came), instead of one per message.
    async fn collect(
        &self,
        tenant: &str,
        headers: &HeaderMap,
        batch: Option<&[u8]>,
        normalise: impl FnOnce(&Context<'_>, &mut Links<'_>) -> Result<Vec<Normalised>, IngestError>,
    ) -> Result<Json<Value>, IngestError> {
        let (normalised, joins, batch_raw) = {
            let h = crate::ingest::headers_of(headers);
            let now = (self.clock)();
            let t = self.secrets.tenant(tenant).expect("write key of a tenant");
            let ctx = crate::ingest::context(tenant, now, &h, t);
            // A batch is kept raw once (below) with the request's headers; its messages' own raw
            // payloads are not kept, so they are built without headers.
            let no_headers = Headers::new();
            let message_ctx = match batch {
                Some(_) => crate::ingest::context(tenant, now, &no_headers, t),
                None => ctx,
            };
            let (n, joins) = self.identities.with_tenant(tenant, |known| {
                let mut links = Links::new(known);
                let n = normalise(&message_ctx, &mut links)?;
                Ok::<_, IngestError>((n, links.made().to_vec()))
            })?;
            let raw = batch.map(|body| {
                let digest = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(body));
                raw_payload(Platform::Storefront, "batch", &[digest], body, &ctx)
            });
            (n, joins, raw)
        };

        let mut events: Vec<CanonicalEvent> = Vec::new();
        let mut raws = Vec::with_capacity(normalised.len());
        let mut fresh = Vec::new();
        let mut duplicates = 0;
        for n in normalised {
            if !self.first_sighting(&n.raw.raw_id, ANY_BODY) {
                duplicates += 1;
                continue;
            }
            fresh.push(n.raw.raw_id.clone());
            if batch_raw.is_none() {
                raws.push(raw_record(&n.raw).map_err(IngestError::Encode)?);
            }
            events.extend(n.events);
        }
        if let Some(raw) = &batch_raw
            && !fresh.is_empty()
        {
            raws.push(raw_record(raw).map_err(IngestError::Encode)?);
        }
        let forget = |state: &IngestState| {
            for id in &fresh {
                state.forget(id, ANY_BODY);
            }
        };
        let (by_topic, rejected) = publish::prepare(&events);
        if !rejected.is_empty() {
            forget(self);
            return Err(IngestError::refused(&events, &rejected));
        }
        let mut links = Vec::new();
        for ev in &events {
            if let Payload::IdentityLinked(l) = &ev.payload {
                links.push(Record::new(
                    EntityKey::new(&ev.tenant_id, &l.from_key).encode_key(),
                    ev.encode_value().map_err(IngestError::Encode)?,
                    ev.received_at,
                ));
            }
        }
        let mut batches = vec![(&RAW_PAYLOADS.spec, raws)];
        batches.extend(by_topic.into_values());
        batches.push((&IDENTITY_LINKS.spec, links));
        if let Err(e) = self.producer.send_topics(batches).await {
            forget(self);
            return Err(IngestError::Log(e));
        }
        // Joins count once they are durable (a refused request made none).
        self.identities.apply(tenant, &joins);
        Ok(Json(json!({
            "success": true,
            "messages": fresh.len(),
            "duplicates": duplicates,
            "events": events.len(),
        })))
    }
}

/// The user name of a Basic authorization header.
fn basic_user(v: &HeaderValue) -> Option<String> {
    let v = v.to_str().ok()?;
    let (scheme, b64) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let user = text.split_once(':').map_or(text.as_str(), |(u, _)| u);
    (!user.is_empty()).then(|| user.to_owned())
}

/// The body, un-gzipped when `Content-Encoding: gzip`, refused above `limit` bytes.
async fn read(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, IngestError> {
    let wire = crate::ingest::read_body_limited(headers, body, WIRE_LIMIT).await?;
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    let body = match gzip.as_deref() {
        None | Some("identity") => wire,
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&wire[..])
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| bad(format!("the gzip body could not be read: {e}")))?;
            Bytes::from(out)
        }
        Some(other) => {
            return Err(IngestError::UnsupportedEncoding(other.to_owned()));
        }
    };
    if body.len() > limit {
        return Err(bad(format!(
            "the request is larger than {limit} bytes (the limit is {} KB per call, {} KB per batch)",
            MAX_MESSAGE_BYTES / 1024,
            MAX_BATCH_BYTES / 1024
        )));
    }
    Ok(body)
}

/// The `writeKey` string of a one-message body, which must be a JSON object (400 otherwise). The
/// fields are only delimited here, not parsed into values: the message is parsed once, when it
/// is normalised.
fn body_write_key(body: &[u8]) -> Result<Option<String>, IngestError> {
    match serde_json::from_slice::<std::collections::BTreeMap<String, &RawValue>>(body) {
        Ok(fields) => Ok(fields
            .get("writeKey")
            .and_then(|k| serde_json::from_str::<String>(k.get()).ok())),
        Err(e) => match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Ok(_) => Err(bad("the body is not a JSON object")),
            Err(_) => Err(bad(format!("the body is not JSON: {e}"))),
        },
    }
}

/// A batched message, with the batch's `context` when the message has none of its own.
fn with_context<'a>(message: &'a str, context: Option<&Value>) -> std::borrow::Cow<'a, str> {
    let Some(context) = context else {
        return message.into();
    };
    match serde_json::from_str::<Value>(message) {
        Ok(Value::Object(mut m)) if !m.contains_key("context") => {
            m.insert("context".into(), context.clone());
            serde_json::to_string(&m).map_or(message.into(), Into::into)
        }
        _ => message.into(),
    }
}
