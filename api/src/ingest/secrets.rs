//! The tenants' platform secrets and shop settings `mindset serve` and `mindset poll` need: which
//! tenants exist, and for each one the Shopify app secret, the WooCommerce webhook secret, the
//! Flipkart application credentials and notification URL, the Amazon forwarding key, the track
//! API's write keys and origins, the REST API credentials the pollers read with, and the store's
//! currency.
//!
//! They are not part of `mindset.default.toml` (that file is safe to print with `mindset config`):
//! `mindset serve` reads them from the TOML file named by `--secrets` or the environment variable
//! [`SECRETS_ENV`]. Tests build them in code with [`Secrets::with_tenant`]. The layout, with every
//! key (see also `docs/platforms/secrets.example.toml`):
//!
//! ```toml
//! [tenants.acme]                 # the tenant id, as in /webhooks/<platform>/acme
//! currency = "EUR"               # optional: the store's currency (WooCommerce products carry none)
//!
//! [tenants.acme.shopify]
//! secret = "…"                   # the app's client secret, or the key Shopify shows under Notifications
//!
//! [tenants.acme.woocommerce]
//! secret = "…"                   # the Secret field of the store's webhooks
//!
//! [tenants.acme.flipkart]
//! app_id = "…"                   # the seller application's id
//! app_secret = "…"               # its secret
//! url = "https://ingest.example.com/webhooks/flipkart/acme"   # exactly as registered with Flipkart
//! max_skew_secs = 900            # optional: how far X_Date may be from now (default 900)
//!
//! [tenants.acme.track]            # first-party collection: the Segment-compatible track API
//! write_keys = ["wk_…"]          # the shop's write keys (Basic auth user, or "writeKey" in the body)
//! origins = ["https://shop.example.com"]   # storefront origins allowed to call it from a browser
//!
//! [tenants.acme.shopify_api]     # mindset poll: Shopify Admin API (read_orders, read_customers)
//! shop_url = "https://acme.myshopify.com"
//! access_token = "shpat_…"
//! leak_per_second = 2.0          # optional: the store's call-limit leak rate
//!
//! [tenants.acme.woocommerce_api] # mindset poll: WooCommerce REST API v3, a read key pair
//! store_url = "https://shop.example.com"
//! consumer_key = "ck_…"
//! consumer_secret = "cs_…"
//!
//! [tenants.acme.amazon_api]      # mindset poll: SP-API Orders v0 (LWA credentials, refresh token)
//! endpoint = "https://sellingpartnerapi-na.amazon.com"
//! client_id = "amzn1.application-oa2-client.…"
//! client_secret = "…"
//! refresh_token = "Atzr|…"
//! marketplace_ids = ["ATVPDKIKX0DER"]
//!
//! [tenants.acme.flipkart_api]    # mindset poll: Seller API v3 shipments (client credentials)
//! app_id = "…"
//! app_secret = "…"
//! api_base = "https://api.flipkart.net/sellers"                      # optional (sandbox: https://sandbox-api.flipkart.net/sellers)
//! token_url = "https://api.flipkart.net/oauth-service/oauth/token"   # optional
//!
//! [tenants.acme.amazon]
//! api_key = "…"                  # the value EventBridge sends in the x-api-key header
//! application_id = "amzn1.sp.solution.…"   # optional: refuse notifications for other SP-API apps
//! ```
//!
//! Loading reports every problem at once. `Debug` never prints a secret.

use std::{collections::BTreeMap, fmt, path::Path};

use serde::Deserialize;

/// The environment variable `mindset serve` reads the secrets file's path from.
pub const SECRETS_ENV: &str = "MINDSET_INGEST_SECRETS";

/// Every tenant the webhook endpoints accept, with its secrets.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    #[serde(default)]
    tenants: BTreeMap<String, TenantSecrets>,
}

/// One tenant: its store currency and the platforms it connected. A platform left out refuses
/// deliveries for this tenant (404).
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSecrets {
    /// ISO 4217 code of the store's currency, for payloads that carry none.
    pub currency: Option<String>,
    pub shopify: Option<ShopifySecrets>,
    pub woocommerce: Option<WooCommerceSecrets>,
    pub flipkart: Option<FlipkartSecrets>,
    pub amazon: Option<AmazonSecrets>,
    pub track: Option<TrackSecrets>,
    /// Shopify Admin API access, for `mindset poll` (backfill and missed webhooks).
    pub shopify_api: Option<ShopifyApiSecrets>,
    /// WooCommerce REST API keys, for `mindset poll`.
    pub woocommerce_api: Option<WooCommerceApiSecrets>,
    /// Amazon SP-API (Orders v0) access, for `mindset poll`.
    pub amazon_api: Option<AmazonApiSecrets>,
    /// Flipkart Seller API (v3 shipments) access, for `mindset poll`.
    pub flipkart_api: Option<FlipkartApiSecrets>,
}

/// What `mindset poll` reads a Flipkart seller's shipments with: the seller application's id and
/// secret (client credentials, scope `Seller_Api`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlipkartApiSecrets {
    pub app_id: String,
    pub app_secret: String,
    /// The Seller API base; default `https://api.flipkart.net/sellers`.
    pub api_base: Option<String>,
    /// The token endpoint; default `https://api.flipkart.net/oauth-service/oauth/token`.
    pub token_url: Option<String>,
}

/// What `mindset poll` reads an Amazon seller's orders with: the SP-API application's LWA client
/// credentials, the seller's refresh token, the regional endpoint and the marketplaces.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmazonApiSecrets {
    /// `https://sellingpartnerapi-na.amazon.com` (or -eu, -fe).
    pub endpoint: String,
    pub client_id: String,
    pub client_secret: String,
    /// The seller's LWA refresh token (`Atzr|…`).
    pub refresh_token: String,
    pub marketplace_ids: Vec<String>,
    /// The LWA token endpoint; default `https://api.amazon.com/auth/o2/token`.
    pub token_url: Option<String>,
}

/// What `mindset poll` reads a Shopify store with: its URL and an Admin API access token with
/// `read_orders` and `read_customers`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopifyApiSecrets {
    pub shop_url: String,
    pub access_token: String,
    /// Calls per second the store's bucket leaks (2 standard, 4 Advanced, 20 Plus).
    pub leak_per_second: Option<f64>,
}

/// What `mindset poll` reads a WooCommerce store with: its URL and a REST API key pair
/// (WooCommerce > Settings > Advanced > REST API, read access).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WooCommerceApiSecrets {
    pub store_url: String,
    pub consumer_key: String,
    pub consumer_secret: String,
}

/// The track API (`/v1/*`) knows a shop by its write keys; browsers may call it from `origins`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackSecrets {
    pub write_keys: Vec<String>,
    #[serde(default)]
    pub origins: Vec<String>,
}

/// Shopify signs each webhook with the app's client secret (`X-Shopify-Hmac-Sha256`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopifySecrets {
    pub secret: String,
}

/// WooCommerce signs each webhook with the webhook's secret (`X-WC-Webhook-Signature`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WooCommerceSecrets {
    pub secret: String,
}

/// Flipkart authenticates notifications with the seller application's credentials and the
/// notification URL as registered (`X_Authorization`, `X_Date`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlipkartSecrets {
    pub app_id: String,
    pub app_secret: String,
    pub url: String,
    /// Seconds `X_Date` may be away from now; `None` means
    /// [`mindset_connectors::flipkart::DEFAULT_MAX_SKEW_SECS`].
    pub max_skew_secs: Option<i64>,
}

/// Amazon SP-API notifications are not signed: the EventBridge API destination (or whatever
/// forwards the SQS messages) sends this key in the `x-api-key` header, and the notification
/// must be for `application_id` when it is set.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmazonSecrets {
    pub api_key: String,
    pub application_id: Option<String>,
}

/// Every problem found in a secrets file, one per line.
#[derive(Debug, thiserror::Error)]
#[error("invalid ingest secrets {source_name}:\n  - {}", .problems.join("\n  - "))]
pub struct SecretsError {
    pub source_name: String,
    pub problems: Vec<String>,
}

impl Secrets {
    /// No tenants: every webhook is refused until one is added.
    pub fn new() -> Secrets {
        Secrets::default()
    }

    /// Add (or replace) a tenant. For tests and embedding; [`Secrets::load`] validates, this
    /// does not.
    pub fn with_tenant(mut self, tenant: impl Into<String>, secrets: TenantSecrets) -> Secrets {
        self.tenants.insert(tenant.into(), secrets);
        self
    }

    /// Read and validate the TOML file at `path`.
    pub fn load(path: &Path) -> Result<Secrets, SecretsError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SecretsError {
            source_name: name.clone(),
            problems: vec![e.to_string()],
        })?;
        Secrets::from_toml(&text, &name)
    }

    /// Parse and validate the TOML text of a secrets file; `source_name` names it in errors.
    pub fn from_toml(text: &str, source_name: &str) -> Result<Secrets, SecretsError> {
        let fail = |problems| SecretsError {
            source_name: source_name.to_owned(),
            problems,
        };
        let secrets: Secrets = toml::from_str(text)
            .map_err(|e| fail(vec![e.to_string().trim().replace('\n', " ")]))?;
        let problems = secrets.problems();
        if problems.is_empty() {
            Ok(secrets)
        } else {
            Err(fail(problems))
        }
    }

    /// The tenant's secrets, if it is configured.
    pub fn tenant(&self, tenant: &str) -> Option<&TenantSecrets> {
        self.tenants.get(tenant)
    }

    /// The configured tenant ids, sorted.
    pub fn tenants(&self) -> impl Iterator<Item = &str> {
        self.tenants.keys().map(String::as_str)
    }

    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.tenants.is_empty() {
            p.push("no [tenants.<id>] table: every webhook would be refused".to_owned());
        }
        for (id, t) in &self.tenants {
            if let Err(reason) = check_tenant_id(id) {
                p.push(format!("tenants.{id:?}: {reason}"));
            }
            let at = |key: &str| format!("tenants.{id}.{key}");
            if let Some(c) = &t.currency
                && let Err(reason) = mindset_connectors::common::currency_code(c)
            {
                p.push(format!("{}: {reason}", at("currency")));
            }
            let mut blank = |key: &str, value: &str| {
                if value.trim().is_empty() {
                    p.push(format!("{} must not be empty", at(key)));
                }
            };
            if let Some(s) = &t.shopify {
                blank("shopify.secret", &s.secret);
            }
            if let Some(w) = &t.woocommerce {
                blank("woocommerce.secret", &w.secret);
            }
            if let Some(f) = &t.flipkart {
                blank("flipkart.app_id", &f.app_id);
                blank("flipkart.app_secret", &f.app_secret);
                blank("flipkart.url", &f.url);
            }
            if let Some(a) = &t.shopify_api {
                blank("shopify_api.access_token", &a.access_token);
            }
            if let Some(a) = &t.woocommerce_api {
                blank("woocommerce_api.consumer_key", &a.consumer_key);
                blank("woocommerce_api.consumer_secret", &a.consumer_secret);
            }
            if let Some(a) = &t.amazon_api {
                blank("amazon_api.client_id", &a.client_id);
                blank("amazon_api.client_secret", &a.client_secret);
                blank("amazon_api.refresh_token", &a.refresh_token);
            }
            if let Some(a) = &t.flipkart_api {
                blank("flipkart_api.app_id", &a.app_id);
                blank("flipkart_api.app_secret", &a.app_secret);
            }
            if let Some(a) = &t.amazon {
                blank("amazon.api_key", &a.api_key);
                if let Some(app) = &a.application_id {
                    blank("amazon.application_id", app);
                }
            }
            if let Some(f) = &t.flipkart {
                let http = f.url.starts_with("https://") || f.url.starts_with("http://");
                if !f.url.trim().is_empty() && !http {
                    p.push(format!(
                        "{}: {:?} is not an http(s) URL (use the notification URL exactly as registered with Flipkart)",
                        at("flipkart.url"),
                        f.url
                    ));
                }
                if let Some(s) = f.max_skew_secs
                    && s < 1
                {
                    p.push(format!(
                        "{} must be at least 1, not {s}",
                        at("flipkart.max_skew_secs")
                    ));
                }
            }
            if let Some(tr) = &t.track {
                if tr.write_keys.is_empty() {
                    p.push(format!(
                        "{} must list at least one key",
                        at("track.write_keys")
                    ));
                }
                for k in &tr.write_keys {
                    if k.len() < 16 || k.contains(':') || k.trim() != k {
                        p.push(format!(
                            "{}: a write key has at least 16 characters, no ':' and no surrounding spaces",
                            at("track.write_keys")
                        ));
                    }
                    if let Some((other, _)) = self.tenants.iter().find(|(o, ot)| {
                        *o != id && ot.track.as_ref().is_some_and(|x| x.write_keys.contains(k))
                    }) {
                        p.push(format!(
                            "{}: a write key is also listed by tenant {other}",
                            at("track.write_keys")
                        ));
                    }
                }
                for o in &tr.origins {
                    let ok = (o.starts_with("https://") || o.starts_with("http://"))
                        && !o.ends_with('/')
                        && o.matches('/').count() == 2;
                    if !ok {
                        p.push(format!(
                            "{}: {o:?} is not an origin (scheme://host[:port], no path)",
                            at("track.origins")
                        ));
                    }
                }
            }
            if let Some(l) = t.shopify_api.as_ref().and_then(|a| a.leak_per_second)
                && (l.is_nan() || l <= 0.0)
            {
                p.push(format!(
                    "{} must be above 0",
                    at("shopify_api.leak_per_second")
                ));
            }
            for (key, url) in [
                (
                    "shopify_api.shop_url",
                    t.shopify_api.as_ref().map(|a| &a.shop_url),
                ),
                (
                    "woocommerce_api.store_url",
                    t.woocommerce_api.as_ref().map(|a| &a.store_url),
                ),
                (
                    "amazon_api.endpoint",
                    t.amazon_api.as_ref().map(|a| &a.endpoint),
                ),
                (
                    "amazon_api.token_url",
                    t.amazon_api.as_ref().and_then(|a| a.token_url.as_ref()),
                ),
                (
                    "flipkart_api.api_base",
                    t.flipkart_api.as_ref().and_then(|a| a.api_base.as_ref()),
                ),
                (
                    "flipkart_api.token_url",
                    t.flipkart_api.as_ref().and_then(|a| a.token_url.as_ref()),
                ),
            ] {
                // The pollers' own rule: https, or plain http to a loopback address only.
                if let Some(url) = url
                    && let Err(e) = crate::poll::check_base(key, url)
                {
                    p.push(format!("{}: {e}", at(key)));
                }
            }
            if let Some(a) = &t.amazon_api
                && (a.marketplace_ids.is_empty() || a.marketplace_ids.len() > 50)
            {
                p.push(format!(
                    "{} must list 1 to 50 marketplace ids",
                    at("amazon_api.marketplace_ids")
                ));
            }
            if t.shopify.is_none()
                && t.amazon_api.is_none()
                && t.flipkart_api.is_none()
                && t.shopify_api.is_none()
                && t.woocommerce_api.is_none()
                && t.woocommerce.is_none()
                && t.flipkart.is_none()
                && t.amazon.is_none()
                && t.track.is_none()
            {
                p.push(format!(
                    "tenants.{id} connects no platform: add [tenants.{id}.shopify], .shopify_api, .woocommerce, .woocommerce_api, .flipkart, .flipkart_api, .amazon, .amazon_api or .track"
                ));
            }
        }
        p
    }
}

/// Tenant ids appear in webhook URLs and in record keys (`tenant|id`).
fn check_tenant_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 64 {
        return Err("a tenant id has 1 to 64 characters".into());
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err("a tenant id may only use ASCII letters, digits, '-', '_' and '.'".into());
    }
    Ok(())
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.tenants.iter()).finish()
    }
}

impl fmt::Debug for TenantSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |present: bool| if present { "***" } else { "-" };
        f.debug_struct("TenantSecrets")
            .field("currency", &self.currency)
            .field("shopify", &set(self.shopify.is_some()))
            .field("woocommerce", &set(self.woocommerce.is_some()))
            .field("flipkart", &set(self.flipkart.is_some()))
            .field("amazon", &set(self.amazon.is_some()))
            .field("track", &set(self.track.is_some()))
            .field("shopify_api", &set(self.shopify_api.is_some()))
            .field("woocommerce_api", &set(self.woocommerce_api.is_some()))
            .field("amazon_api", &set(self.amazon_api.is_some()))
            .field("flipkart_api", &set(self.flipkart_api.is_some()))
            .finish()
    }
}

macro_rules! redacted_debug {
    ($($ty:ident),*) => {$(
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($ty), "(***)"))
            }
        }
    )*};
}

redacted_debug!(
    ShopifySecrets,
    WooCommerceSecrets,
    FlipkartSecrets,
    AmazonSecrets,
    TrackSecrets,
    ShopifyApiSecrets,
    WooCommerceApiSecrets,
    AmazonApiSecrets,
    FlipkartApiSecrets
);

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../docs/platforms/secrets.example.toml");

    #[test]
    fn the_documented_example_loads() {
        let s = Secrets::from_toml(EXAMPLE, "secrets.example.toml").unwrap();
        let t = s.tenant("acme").unwrap();
        assert_eq!(t.currency.as_deref(), Some("EUR"));
        assert!(t.shopify.is_some() && t.woocommerce.is_some());
        assert!(t.flipkart.is_some() && t.amazon.is_some());
        let f = t.flipkart_api.as_ref().unwrap();
        assert!(!f.app_id.is_empty() && f.api_base.is_none());
        assert_eq!(s.tenants().collect::<Vec<_>>(), ["acme"]);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = r#"
            [tenants."bad|id".shopify]
            secret = "x"

            [tenants.shop-1]
            currency = "EURO"
            [tenants.shop-1.shopify]
            secret = " "
            [tenants.shop-1.flipkart]
            app_id = "a"
            app_secret = ""
            url = "seller.example.com/notify"
            max_skew_secs = 0

            [tenants.empty]
        "#;
        let err = Secrets::from_toml(text, "s.toml").unwrap_err();
        let all = err.to_string();
        for expected in [
            "tenants.\"bad|id\": a tenant id may only use",
            "tenants.shop-1.currency: \"EURO\" is not an ISO 4217 currency code",
            "tenants.shop-1.shopify.secret must not be empty",
            "tenants.shop-1.flipkart.app_secret must not be empty",
            "tenants.shop-1.flipkart.url: \"seller.example.com/notify\" is not an http(s) URL",
            "tenants.shop-1.flipkart.max_skew_secs must be at least 1",
            "tenants.empty connects no platform",
        ] {
            assert!(all.contains(expected), "{expected:?} missing from:\n{all}");
        }
        assert_eq!(err.problems.len(), 7, "{all}");
    }

    #[test]
    fn flipkart_api_problems_are_reported() {
        let text = r#"
            [tenants.fk.flipkart_api]
            app_id = "a"
            app_secret = " "
            api_base = "http://api.flipkart.net/sellers"
        "#;
        let err = Secrets::from_toml(text, "s.toml").unwrap_err();
        let all = err.to_string();
        assert!(
            all.contains("tenants.fk.flipkart_api.app_secret must not be empty"),
            "{all}"
        );
        assert!(
            all.contains("tenants.fk.flipkart_api.api_base") && all.contains("use https"),
            "{all}"
        );
        assert_eq!(err.problems.len(), 2, "{all}");
    }

    #[test]
    fn unknown_keys_and_bad_toml_are_refused() {
        let err = Secrets::from_toml("[tenants.a.shopify]\nsecret = \"x\"\nscret = 1\n", "s")
            .unwrap_err();
        assert!(err.to_string().contains("scret"), "{err}");
        assert!(Secrets::from_toml("[tenants", "s").is_err());
        let err = Secrets::from_toml("", "s").unwrap_err();
        assert!(err.to_string().contains("no [tenants.<id>] table"), "{err}");
    }

    #[test]
    fn debug_never_prints_a_secret() {
        let s = Secrets::from_toml(EXAMPLE, "secrets.example.toml").unwrap();
        let shown = format!("{s:?}");
        let t = s.tenant("acme").unwrap();
        for secret in [
            &t.shopify.as_ref().unwrap().secret,
            &t.woocommerce.as_ref().unwrap().secret,
            &t.flipkart.as_ref().unwrap().app_secret,
            &t.amazon.as_ref().unwrap().api_key,
        ] {
            assert!(!shown.contains(secret.as_str()), "{shown}");
        }
        assert!(shown.contains("acme") && shown.contains("EUR"), "{shown}");
    }
}
