//! Shopify REST Admin poller: `GET /admin/api/<version>/orders.json?status=any` and
//! `customers.json`, with the `X-Shopify-Access-Token` header.
//!
//! **Window.** The first page asks for `updated_at_min=<cursor>` (inclusive, so objects updated
//! in the cursor's second are re-read and filtered by the cursor's ids) and
//! `updated_at_max=<now - settle>`: an object updated while the poll pages leaves the window (the
//! next poll reads it) instead of being updated behind the pages already read, which would put it
//! below the saved cursor. `settle` also absorbs clock skew between Mindset and Shopify.
//!
//! **Paging.** The next page is the `page_info` of the `Link` header's `rel="next"` URL; a request
//! with `page_info` carries only `limit` besides it (Shopify refuses other filters there). The
//! request goes to the configured shop, never to the host named in `Link`.
//!
//! **Rate limit.** Requests are spaced client-side (standard plans leak 2 requests/s from a
//! 40-request bucket). After each answer, `X-Shopify-Shop-Api-Call-Limit: used/limit` is read:
//! when fewer than `headroom` calls are left, the poller waits for the bucket to leak back to
//! `limit - headroom` at `leak_per_second` before its next request ([`super::Decision::Pause`]).

use std::time::Duration;

use hyper::{
    Uri,
    header::{HeaderName, HeaderValue},
};
use mindset_connectors::shopify;
use mindset_pipeline::Producer;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    Answer, CursorStore, Http, Object, PollError, PollSettings, PollStats, Progress, check_base,
    file_page, finish_resource, json_id, query, raw_headers, utc_seconds,
};

const PLATFORM: &str = "shopify";

/// What a Shopify poll reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `orders.json?status=any`, filed as `orders/updated`.
    Orders,
    /// `customers.json`, filed as `customers/update`.
    Customers,
}

impl Resource {
    pub fn name(self) -> &'static str {
        match self {
            Resource::Orders => "orders",
            Resource::Customers => "customers",
        }
    }

    /// The webhook topic whose normalisation a polled object gets.
    pub fn topic(self) -> &'static str {
        match self {
            Resource::Orders => "orders/updated",
            Resource::Customers => "customers/update",
        }
    }
}

/// One shop's poller settings.
#[derive(Debug, Clone)]
pub struct ShopifyConfig {
    /// `https://<shop>.myshopify.com` (plain http only to loopback, for tests).
    pub shop_url: String,
    /// The Admin API version, `2026-07`.
    pub api_version: String,
    /// The app's Admin API access token.
    pub access_token: String,
    pub resources: Vec<Resource>,
    /// Objects per page (Shopify allows at most 250).
    pub page_limit: u32,
    /// Pause when fewer calls than this are left in the bucket.
    pub headroom: u32,
    /// How fast the bucket leaks (2/s on standard plans, 4 Advanced, 20 Plus).
    pub leak_per_second: f64,
    /// How far behind now the window ends (see the module docs).
    pub settle: Duration,
    pub settings: PollSettings,
}

impl ShopifyConfig {
    pub fn new(
        shop_url: impl Into<String>,
        access_token: impl Into<String>,
        settings: PollSettings,
    ) -> ShopifyConfig {
        ShopifyConfig {
            shop_url: shop_url.into(),
            api_version: "2026-07".into(),
            access_token: access_token.into(),
            resources: vec![Resource::Orders, Resource::Customers],
            page_limit: 250,
            headroom: 8,
            leak_per_second: 2.0,
            settle: Duration::from_secs(60),
            settings,
        }
    }
}

/// The wait before the next request when the bucket holds `used` of `limit` calls: none while at
/// least `headroom` are left, else the time for it to leak back to `limit - headroom`.
pub fn call_limit_pause(used: u32, limit: u32, headroom: u32, leak_per_second: f64) -> Duration {
    let target = limit.saturating_sub(headroom);
    if used < target || leak_per_second <= 0.0 {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(f64::from(used - target + 1) / leak_per_second)
}

/// `X-Shopify-Shop-Api-Call-Limit: 32/40` → (32, 40).
pub fn parse_call_limit(value: &str) -> Option<(u32, u32)> {
    let (used, limit) = value.trim().split_once('/')?;
    let used = used.trim().parse().ok()?;
    let limit: u32 = limit.trim().parse().ok()?;
    (limit > 0).then_some((used, limit))
}

/// The `page_info` of the `rel="next"` link in a `Link` header, if there is one.
pub fn next_page_info(link: &str) -> Option<String> {
    let mut rest = link;
    while let Some(open) = rest.find('<') {
        let close = open + rest[open..].find('>')?;
        let url = &rest[open + 1..close];
        let params_end = rest[close..].find('<').map_or(rest.len(), |i| close + i);
        let params = &rest[close + 1..params_end];
        let is_next = params.split(';').any(|p| {
            let p = p.trim().trim_end_matches(',').trim();
            p.strip_prefix("rel=")
                .map(|v| v.trim_matches('"').split_whitespace().any(|r| r == "next"))
                .unwrap_or(false)
        });
        if is_next {
            let query = url.split_once('?')?.1;
            return query.split('&').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k == "page_info").then(|| v.to_owned())
            });
        }
        rest = &rest[params_end..];
    }
    None
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    id: serde_json::Value,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
}

fn stamp(meta: &Meta) -> Option<(i64, String)> {
    [&meta.updated_at, &meta.created_at]
        .into_iter()
        .flatten()
        .find_map(|t| {
            mindset_connectors::common::rfc3339_millis(t)
                .ok()
                .map(|ms| (ms, t.clone()))
        })
}

/// Read every resource of `config` past its cursor, file it with `producer`, and save the
/// cursors. Pages until caught up.
pub async fn poll_once(
    config: &ShopifyConfig,
    producer: &Producer,
) -> Result<PollStats, PollError> {
    let base = check_base(PLATFORM, &config.shop_url)?;
    if config.page_limit == 0 || config.page_limit > 250 {
        return Err(PollError::Config(format!(
            "shopify page_limit {} must be 1..=250",
            config.page_limit
        )));
    }
    let token = HeaderValue::from_str(&config.access_token)
        .map_err(|_| PollError::Config("the access token is not a valid header value".into()))?;
    let store = CursorStore::new(&config.settings.cursor_dir);
    let mut http = Http::new(PLATFORM, &config.settings)?;
    let mut stats = PollStats::default();
    let mut pace = None;
    let result = async {
        for &resource in &config.resources {
            poll_resource(
                config, producer, &store, &mut http, &mut stats, &base, &token, resource, &mut pace,
            )
            .await?;
        }
        Ok(())
    }
    .await;
    http.outcome(stats, result)
}

#[allow(clippy::too_many_arguments)]
async fn poll_resource(
    config: &ShopifyConfig,
    producer: &Producer,
    store: &CursorStore,
    http: &mut Http,
    stats: &mut PollStats,
    base: &Uri,
    token: &HeaderValue,
    resource: Resource,
    pace: &mut Option<(u32, u32, Duration)>,
) -> Result<(), PollError> {
    let settings = &config.settings;
    let name = resource.name();
    let start = store.load(PLATFORM, &settings.tenant, name)?;
    let mut progress = Progress::new(start.clone());
    let upper_ms = (settings.clock)() - config.settle.as_millis() as i64;
    let path = format!(
        "{}/admin/api/{}/{name}.json",
        base.to_string().trim_end_matches('/'),
        config.api_version
    );
    let shown = format!("/admin/api/{}/{name}.json", config.api_version);
    let limit = config.page_limit.to_string();
    let mut params = Vec::new();
    if resource == Resource::Orders {
        params.push(("status", "any".to_owned()));
    }
    params.push(("limit", limit.clone()));
    if let Some(c) = &start {
        params.push((
            "updated_at_min",
            format!("{}+00:00", utc_seconds(c.updated_at_ms)),
        ));
    }
    params.push(("updated_at_max", format!("{}+00:00", utc_seconds(upper_ms))));
    let mut url = format!("{path}?{}", query(&params));
    let headers = [(
        HeaderName::from_static("x-shopify-access-token"),
        token.clone(),
    )];
    loop {
        if let Some((used, lim, wait)) = pace.take() {
            http.pause(used, lim, wait).await;
        }
        let uri: Uri = url
            .parse()
            .map_err(|e| PollError::Config(format!("request URL: {e}")))?;
        let answer = http.get(&uri, &headers, &shown).await?;
        check_status(&answer, &shown)?;
        if let Some(v) = answer.header("x-shopify-api-deprecated-reason") {
            tracing::warn!(path = %shown, reason = v, "Shopify marks this endpoint deprecated");
        }
        stats.pages += 1;
        let page = parse_page(&answer, name, &shown)?;
        let objects = objects_of(&page, &shown)?;
        let raw_h = raw_headers(PLATFORM, &shown, &answer);
        file_page(
            producer,
            settings,
            &mut progress,
            stats,
            &objects,
            shopify::normalise,
            resource.topic(),
            &format!("shopify/{name}"),
            &raw_h,
            upper_ms,
        )
        .await?;
        if let Some((used, lim)) = answer
            .header("x-shopify-shop-api-call-limit")
            .and_then(parse_call_limit)
        {
            let wait = call_limit_pause(used, lim, config.headroom, config.leak_per_second);
            *pace = (!wait.is_zero()).then_some((used, lim, wait));
        }
        let next = answer.header("link").and_then(next_page_info);
        match next {
            Some(page_info) => {
                url = format!(
                    "{path}?{}",
                    query(&[("limit", limit.clone()), ("page_info", page_info)])
                );
            }
            None => break,
        }
    }
    finish_resource(store, PLATFORM, &settings.tenant, name, progress, stats)
}

fn check_status(answer: &Answer, shown: &str) -> Result<(), PollError> {
    if answer.status.is_success() {
        return Ok(());
    }
    let message = serde_json::from_slice::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|v| v.get("errors").cloned())
        .map(|e| match e {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        })
        .unwrap_or_else(|| super::snippet(&answer.body));
    let status = answer.status.as_u16();
    if matches!(status, 401 | 403) {
        Err(PollError::Unauthorized {
            platform: PLATFORM,
            status,
            path: shown.to_owned(),
            message,
        })
    } else {
        Err(PollError::Api {
            platform: PLATFORM,
            status,
            path: shown.to_owned(),
            code: None,
            message,
        })
    }
}

fn parse_page<'a>(
    answer: &'a Answer,
    key: &str,
    shown: &str,
) -> Result<Vec<&'a RawValue>, PollError> {
    let protocol = |reason: String| PollError::Protocol {
        platform: PLATFORM,
        path: shown.to_owned(),
        reason,
    };
    let top: std::collections::HashMap<&str, &RawValue> = serde_json::from_slice(&answer.body)
        .map_err(|e| protocol(format!("not a JSON object: {e}")))?;
    let list = top
        .get(key)
        .ok_or_else(|| protocol(format!("no {key:?} list")))?;
    serde_json::from_str(list.get()).map_err(|e| protocol(format!("{key:?} is not a list: {e}")))
}

fn objects_of<'a>(page: &[&'a RawValue], shown: &str) -> Result<Vec<Object<'a>>, PollError> {
    page.iter()
        .map(|raw| {
            let meta: Meta = serde_json::from_str(raw.get()).map_err(|e| PollError::Protocol {
                platform: PLATFORM,
                path: shown.to_owned(),
                reason: format!("an entry is not an object: {e}"),
            })?;
            Ok(Object {
                id: json_id(&meta.id).unwrap_or_default(),
                body: raw.get().as_bytes(),
                stamp: stamp(&meta),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_from_the_official_cases() {
        let cases: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/platforms/shopify/http/rest_headers_cases.json"
            ))
            .unwrap(),
        )
        .unwrap();
        let mut checked = 0;
        for case in cases["pagination_link_header"].as_array().unwrap() {
            let link = case["Link"].as_str().unwrap();
            let expect = &case["expect"];
            if let Some(next) = expect.get("next_page_info") {
                assert_eq!(next_page_info(link).as_deref(), next.as_str(), "{link}");
                checked += 1;
            }
            if let Some(url) = expect.get("next_page_url").and_then(|v| v.as_str()) {
                let info = url.split("page_info=").nth(1).unwrap();
                assert_eq!(next_page_info(link).as_deref(), Some(info), "{link}");
                checked += 1;
            }
            if expect.get("previous_page_url").is_some() {
                assert_eq!(next_page_info(link), None, "{link}");
                checked += 1;
            }
        }
        assert_eq!(checked, 5);
        for case in cases["call_limit_header"].as_array().unwrap() {
            let Some(v) = case["X-Shopify-Shop-Api-Call-Limit"].as_str() else {
                continue;
            };
            let (used, limit) = parse_call_limit(v).unwrap();
            let e = &case["expect"];
            if let Some(n) = e.get("request_count").or(e.get("credit_used")) {
                assert_eq!(u64::from(used), n.as_u64().unwrap());
            }
            if let Some(n) = e.get("bucket_size").or(e.get("credit_limit")) {
                assert_eq!(u64::from(limit), n.as_u64().unwrap());
            }
            if let Some(n) = e.get("credit_left") {
                assert_eq!(u64::from(limit - used), n.as_u64().unwrap());
            }
            if let Some(maxed) = e.get("credit_maxed") {
                assert_eq!(used >= limit, maxed.as_bool().unwrap());
            }
        }
    }

    #[test]
    fn pauses_grow_as_the_bucket_fills() {
        assert_eq!(call_limit_pause(1, 40, 8, 2.0), Duration::ZERO);
        assert_eq!(call_limit_pause(31, 40, 8, 2.0), Duration::ZERO);
        assert_eq!(call_limit_pause(32, 40, 8, 2.0), Duration::from_millis(500));
        assert_eq!(
            call_limit_pause(40, 40, 8, 2.0),
            Duration::from_millis(4_500)
        );
        assert_eq!(
            call_limit_pause(292, 300, 8, 20.0),
            Duration::from_millis(50)
        );
        assert_eq!(parse_call_limit("bad"), None);
        assert_eq!(parse_call_limit("3/0"), None);
    }
}
