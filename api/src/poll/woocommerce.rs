//! WooCommerce REST v3 poller: `GET /wp-json/wc/v3/orders` and `/customers`.
//!
//! **Auth.** The consumer key and secret as HTTP Basic (the default; https only, or loopback),
//! or as `consumer_key`/`consumer_secret` query parameters for servers that drop the
//! `Authorization` header. Query strings are never logged or kept in raw payloads.
//!
//! **Orders** are read with `modified_after=<cursor - 1 s>&dates_are_gmt=true` (WooCommerce's
//! `modified_after` is exclusive and second-resolution, so stepping back one second re-reads the
//! cursor's own second, filtered by the cursor's ids), `orderby=modified&order=desc`, page
//! numbers up to `X-WP-TotalPages`. Newest first because page numbers are offsets: an order
//! modified while the poll pages moves to the front (already read; the next poll gets it above
//! the cursor) and shifts the rest back by one, so a page boundary re-serves an object (filed
//! once per poll) but never skips one. With ascending order the same modification would shift an
//! unread order onto a page already read, below the saved cursor: missed for good. A deletion
//! while paging still shifts the other way; the next full backfill (an empty cursor directory)
//! recovers from that.
//!
//! **Customers**: the v3 customers endpoint has no modified filter and cannot be ordered by
//! modification, so every poll pages through all of them (`orderby=id&order=asc`) and files
//! those past the cursor (`date_modified_gmt`, else `date_created_gmt`).
//!
//! Objects stamped after `now - settle` are left for the next poll (they are being updated
//! while this one reads). Errors are `{code, message, data: {status}}`; 401/403 end the poll as
//! [`PollError::Unauthorized`], other 4xx as [`PollError::Api`] with the code and message.

use std::time::Duration;

use base64::Engine;
use hyper::{
    Uri,
    header::{AUTHORIZATION, HeaderName, HeaderValue},
};
use mindset_connectors::woocommerce;
use mindset_pipeline::Producer;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    Answer, CursorStore, Http, Object, PollError, PollSettings, PollStats, Progress, check_base,
    file_page, finish_resource, json_id, query, raw_headers, utc_seconds,
};

const PLATFORM: &str = "woocommerce";

/// What a WooCommerce poll reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `/orders`, filed as `order.updated`.
    Orders,
    /// `/customers`, filed as `customer.updated`.
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
            Resource::Orders => "order.updated",
            Resource::Customers => "customer.updated",
        }
    }
}

/// How the consumer key and secret are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Basic base64(key:secret)`.
    Basic,
    /// `?consumer_key=…&consumer_secret=…`.
    QueryString,
}

/// One store's poller settings.
#[derive(Clone)]
pub struct WooConfig {
    /// The site root, `https://shop.example.com` (`/wp-json/wc/v3` is appended).
    pub store_url: String,
    pub consumer_key: String,
    pub consumer_secret: String,
    pub auth: Auth,
    pub resources: Vec<Resource>,
    /// Objects per page (WooCommerce allows 1..=100).
    pub per_page: u32,
    /// Objects stamped later than `now - settle` wait for the next poll.
    pub settle: Duration,
    pub settings: PollSettings,
}

impl std::fmt::Debug for WooConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WooConfig")
            .field("store_url", &self.store_url)
            .field("consumer_key", &self.consumer_key)
            .field("auth", &self.auth)
            .field("resources", &self.resources)
            .field("per_page", &self.per_page)
            .field("settle", &self.settle)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl WooConfig {
    pub fn new(
        store_url: impl Into<String>,
        consumer_key: impl Into<String>,
        consumer_secret: impl Into<String>,
        settings: PollSettings,
    ) -> WooConfig {
        WooConfig {
            store_url: store_url.into(),
            consumer_key: consumer_key.into(),
            consumer_secret: consumer_secret.into(),
            auth: Auth::Basic,
            resources: vec![Resource::Orders, Resource::Customers],
            per_page: 100,
            settle: Duration::from_secs(60),
            settings,
        }
    }
}

/// A WooCommerce / WordPress REST error body.
#[derive(Debug, Deserialize)]
struct ApiError {
    code: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    id: serde_json::Value,
    #[serde(default)]
    date_modified_gmt: Option<String>,
    #[serde(default)]
    date_created_gmt: Option<String>,
}

fn stamp(meta: &Meta) -> Option<(i64, String)> {
    [&meta.date_modified_gmt, &meta.date_created_gmt]
        .into_iter()
        .flatten()
        .find_map(|t| {
            mindset_connectors::common::utc_naive_millis(t)
                .ok()
                .map(|ms| (ms, t.clone()))
        })
}

/// Read every resource of `config` past its cursor, file it with `producer`, and save the
/// cursors. Pages until caught up.
pub async fn poll_once(config: &WooConfig, producer: &Producer) -> Result<PollStats, PollError> {
    let base = check_base(PLATFORM, &config.store_url)?;
    if config.consumer_key.is_empty() || config.consumer_secret.is_empty() {
        return Err(PollError::Config(
            "woocommerce consumer key and secret are required".into(),
        ));
    }
    let store = CursorStore::new(&config.settings.cursor_dir);
    let mut http = Http::new(PLATFORM, &config.settings)?;
    let mut stats = PollStats::default();
    let result = async {
        for &resource in &config.resources {
            poll_resource(
                config, producer, &store, &mut http, &mut stats, &base, resource,
            )
            .await?;
        }
        Ok(())
    }
    .await;
    http.outcome(stats, result)
}

async fn poll_resource(
    config: &WooConfig,
    producer: &Producer,
    store: &CursorStore,
    http: &mut Http,
    stats: &mut PollStats,
    base: &Uri,
    resource: Resource,
) -> Result<(), PollError> {
    let settings = &config.settings;
    let name = resource.name();
    let start = store.load(PLATFORM, &settings.tenant, name)?;
    let mut progress = Progress::new(start.clone());
    let upper_ms = (settings.clock)() - config.settle.as_millis() as i64;
    let shown = format!("/wp-json/wc/v3/{name}");
    let path = format!("{}{shown}", base.to_string().trim_end_matches('/'));
    let mut params = vec![("per_page", config.per_page.to_string())];
    match resource {
        Resource::Orders => {
            params.push(("orderby", "modified".into()));
            params.push(("order", "desc".into()));
            if let Some(c) = &start {
                params.push(("modified_after", utc_seconds(c.updated_at_ms - 1_000)));
                params.push(("dates_are_gmt", "true".into()));
            }
        }
        Resource::Customers => {
            params.push(("orderby", "id".into()));
            params.push(("order", "asc".into()));
        }
    }
    let mut headers = Vec::new();
    match config.auth {
        Auth::Basic => {
            let token = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                config.consumer_key, config.consumer_secret
            ));
            let value = HeaderValue::from_str(&format!("Basic {token}"))
                .map_err(|_| PollError::Config("consumer key is not header-safe".into()))?;
            headers.push((AUTHORIZATION, value));
        }
        Auth::QueryString => {
            params.push(("consumer_key", config.consumer_key.clone()));
            params.push(("consumer_secret", config.consumer_secret.clone()));
        }
    }
    let headers: Vec<(HeaderName, HeaderValue)> = headers;
    let mut page = 1u32;
    loop {
        let mut p = params.clone();
        p.push(("page", page.to_string()));
        let uri: Uri = format!("{path}?{}", query(&p))
            .parse()
            .map_err(|e| PollError::Config(format!("request URL: {e}")))?;
        let answer = http.get(&uri, &headers, &shown).await?;
        check_status(&answer, &shown)?;
        stats.pages += 1;
        let list: Vec<&RawValue> =
            serde_json::from_slice(&answer.body).map_err(|e| PollError::Protocol {
                platform: PLATFORM,
                path: shown.clone(),
                reason: format!("not a JSON list: {e}"),
            })?;
        let objects = objects_of(&list, &shown)?;
        let raw_h = raw_headers(PLATFORM, &shown, &answer);
        file_page(
            producer,
            settings,
            &mut progress,
            stats,
            &objects,
            woocommerce::normalise,
            resource.topic(),
            &format!("woocommerce/{name}"),
            &raw_h,
            upper_ms,
        )
        .await?;
        let total_pages = match answer.header("x-wp-totalpages") {
            Some(v) => v.trim().parse::<u32>().map_err(|_| PollError::Protocol {
                platform: PLATFORM,
                path: shown.clone(),
                reason: format!("X-WP-TotalPages {v:?} is not a number"),
            })?,
            // Without the header, a short page is the last one.
            None if list.len() < config.per_page as usize => page,
            None => page + 1,
        };
        if list.is_empty() || page >= total_pages {
            break;
        }
        page += 1;
    }
    finish_resource(store, PLATFORM, &settings.tenant, name, progress, stats)
}

fn check_status(answer: &Answer, shown: &str) -> Result<(), PollError> {
    if answer.status.is_success() {
        return Ok(());
    }
    let status = answer.status.as_u16();
    let (code, message) = match serde_json::from_slice::<ApiError>(&answer.body) {
        Ok(e) if e.message.is_some() || e.code.is_some() => (
            e.code,
            e.message.unwrap_or_else(|| "(no message)".to_owned()),
        ),
        _ => (None, super::snippet(&answer.body)),
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
