//! The webhook endpoints through the router (`tower::ServiceExt::oneshot`) against a real
//! embedded log in a temporary directory: every signed delivery under `shared/platforms` is
//! accepted and lands as its raw payload and its canonical events; refused deliveries write
//! nothing; redeliveries are answered 200 and filed once.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
};
use base64::Engine;
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use mindset::ingest::{
    AmazonSecrets, FlipkartSecrets, IngestState, Secrets, ShopifySecrets, TenantSecrets,
    WooCommerceSecrets, router,
};
use mindset_pipeline::{Log, embedded::EmbeddedLog};
use mindset_schemas::{CanonicalEvent, Payload, Platform, RawPayload, event_id};
use mindset_topics::{CATALOG_EVENTS, CUSTOMER_EVENTS, RAW_PAYLOADS, TopicSpec, ValueCodec};
use serde_json::{Value, json};
use sha2::Sha256;
use tower::ServiceExt;

const TENANT: &str = "shop-1";
const NOW: i64 = 1_760_000_000_000;
const SHOPIFY_SECRET: &str = "test_secret_key";
const WOO_SECRET: &str = "secret";
const AMAZON_KEY: &str = "amazon-forwarding-key-0123456789";
const AMAZON_APP: &str = "app-id-d0e9e693-c3ad-4373-979f-ed4ec98dd746";
const FLIPKART_VECTORS: &str = "flipkart/signatures/notification_signature_vectors.json";

// ---------------------------------------------------------------------------------------------
// Fixtures

/// `shared/platforms` beside the repository clone (`/work/shared/platforms` for `/work/main`).
fn shared_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/platforms");
    assert!(
        dir.join("README.md").is_file(),
        "the shared platform fixtures are not at {}",
        dir.display()
    );
    dir
}

fn shared(rel: &str) -> Vec<u8> {
    let path = shared_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn shared_json(rel: &str) -> Value {
    serde_json::from_slice(&shared(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn hmac_b64(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The Flipkart vector: credentials, URL, the signed headers and the instant they were signed.
struct FlipkartVector {
    app_id: String,
    secret: String,
    url: String,
    date: String,
    authorization: String,
    at_ms: i64,
}

fn flipkart_vector() -> FlipkartVector {
    let v = shared_json(FLIPKART_VECTORS)["official_vector"].clone();
    let s = |k: &str| v[k].as_str().unwrap().to_owned();
    FlipkartVector {
        app_id: s("oauth_application_id"),
        secret: s("oauth_application_secret"),
        url: s("notification_url"),
        date: v["headers"]["X_Date"].as_str().unwrap().to_owned(),
        authorization: v["headers"]["X_Authorization"].as_str().unwrap().to_owned(),
        at_ms: s("timestamp").parse::<i64>().unwrap() * 1000,
    }
}

fn secrets() -> Secrets {
    let fk = flipkart_vector();
    Secrets::new()
        .with_tenant(
            TENANT,
            TenantSecrets {
                currency: Some("USD".into()),
                shopify: Some(ShopifySecrets {
                    secret: SHOPIFY_SECRET.into(),
                }),
                woocommerce: Some(WooCommerceSecrets {
                    secret: WOO_SECRET.into(),
                }),
                flipkart: Some(FlipkartSecrets {
                    app_id: fk.app_id,
                    app_secret: fk.secret,
                    url: fk.url,
                    max_skew_secs: None,
                }),
                amazon: Some(AmazonSecrets {
                    api_key: AMAZON_KEY.into(),
                    application_id: Some(AMAZON_APP.into()),
                }),
                track: None,
                shopify_api: None,
                woocommerce_api: None,
                amazon_api: None,
                flipkart_api: None,
            },
        )
        .with_tenant(
            "shopify-only",
            TenantSecrets {
                shopify: Some(ShopifySecrets {
                    secret: "another".into(),
                }),
                ..TenantSecrets::default()
            },
        )
}

// ---------------------------------------------------------------------------------------------
// A shop: the router on an embedded log in a temporary directory

struct Shop {
    _dir: tempfile::TempDir,
    log: Log,
    app: Router,
}

struct Answer {
    status: StatusCode,
    body: Value,
}

impl Answer {
    fn error(&self) -> &str {
        self.body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {}", self.body))
    }
}

static GROUPS: AtomicU32 = AtomicU32::new(0);

impl Shop {
    async fn new() -> Shop {
        Shop::at(NOW).await
    }

    /// A shop whose clock reads `now_ms`.
    async fn at(now_ms: i64) -> Shop {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::Embedded(EmbeddedLog::open(dir.path().join("log.redb")).unwrap());
        log.ensure_topics(&mindset_topics::all()).await.unwrap();
        let app =
            router(IngestState::new(log.producer().unwrap(), secrets()).with_clock(move || now_ms));
        Shop {
            _dir: dir,
            log,
            app,
        }
    }

    /// The same log served by a fresh process (its redelivery memory is empty).
    fn restarted(&self, now_ms: i64) -> Router {
        router(IngestState::new(self.log.producer().unwrap(), secrets()).with_clock(move || now_ms))
    }

    async fn post(&self, path: &str, headers: &[(&str, &str)], body: impl Into<Body>) -> Answer {
        send(&self.app, "POST", path, headers, body.into()).await
    }

    /// Records per topic, over every declared topic.
    async fn sizes(&self) -> BTreeMap<&'static str, u64> {
        let mut sizes = BTreeMap::new();
        for t in mindset_topics::all() {
            sizes.insert(t.name, self.log.end_offsets(t).await.unwrap().iter().sum());
        }
        sizes
    }

    async fn assert_nothing_written(&self) {
        let sizes = self.sizes().await;
        assert!(sizes.values().all(|n| *n == 0), "{sizes:?}");
    }

    /// Every record of `topic`, as (key, value).
    async fn read<V: ValueCodec>(&self, topic: &TopicSpec) -> Vec<(String, V)> {
        let total: u64 = self.log.end_offsets(topic).await.unwrap().iter().sum();
        let group = format!("ingest-test-{}", GROUPS.fetch_add(1, Ordering::Relaxed));
        let mut c = self.log.consumer(&group, &[topic]).unwrap();
        let mut out = Vec::new();
        let mut idle = 0;
        while (out.len() as u64) < total && idle < 20 {
            let batch = c.poll(1_000, Duration::from_millis(100)).await.unwrap();
            if batch.is_empty() {
                idle += 1;
            }
            for m in batch {
                let value = V::decode_value(&m.value)
                    .unwrap_or_else(|e| panic!("{}@{}: {e}", m.topic, m.offset));
                out.push((String::from_utf8(m.key).unwrap(), value));
            }
        }
        assert_eq!(out.len() as u64, total, "read all of {}", topic.name);
        out
    }

    async fn events(&self) -> Vec<(String, CanonicalEvent)> {
        let mut all = self.read::<CanonicalEvent>(&CUSTOMER_EVENTS.spec).await;
        all.extend(self.read::<CanonicalEvent>(&CATALOG_EVENTS.spec).await);
        all
    }

    async fn raws(&self) -> Vec<(String, RawPayload)> {
        self.read::<RawPayload>(&RAW_PAYLOADS.spec).await
    }
}

async fn send(
    app: &Router,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Body,
) -> Answer {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{status}: not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    Answer { status, body }
}

fn shopify_headers<'a>(topic: &'a str, hmac: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("Content-Type", "application/json"),
        ("X-Shopify-Topic", topic),
        ("X-Shopify-Hmac-Sha256", hmac),
        ("X-Shopify-Shop-Domain", "shop1.myshopify.io"),
        ("X-Shopify-API-Version", "2026-07"),
        (
            "X-Shopify-Webhook-Id",
            "545ebdd4-b7be-4d3d-b14e-54aa78e0e0f9",
        ),
    ]
}

fn by_type<'e>(
    events: &'e [(String, CanonicalEvent)],
    ty: &str,
) -> Vec<&'e (String, CanonicalEvent)> {
    events
        .iter()
        .filter(|(_, e)| e.payload.type_name() == ty)
        .collect()
}

fn id(platform: Platform, ty: &str, ids: &[&str]) -> String {
    event_id(TENANT, platform, ty, ids)
}

// ---------------------------------------------------------------------------------------------
// Accepted deliveries

#[tokio::test]
async fn shopify_webhooks_land_as_canonical_events_and_raw_payloads() {
    let shop = Shop::new().await;
    let vectors = shared_json("shopify/signatures/webhook_hmac_vectors.json");
    let items = vectors["DERIVED_NOT_OFFICIAL_vectors_over_fixture_files"]["items"]
        .as_array()
        .unwrap();
    // The documented header set, with each fixture's topic and signature.
    let documented = shared_json("shopify/webhooks/_headers.json");
    assert_eq!(
        documented["example_request_docs"]["headers"]["X-Shopify-Topic"],
        "products/update"
    );
    let expected = [
        ("webhooks/orders_create.json", "orders/create", 2),
        ("webhooks/customers_create.json", "customers/create", 1),
        ("webhooks/checkouts_create.json", "checkouts/create", 3),
    ];
    let mut raw_ids = BTreeMap::new();
    for (file, topic, n_events) in expected {
        let item = items.iter().find(|i| i["file"] == file).unwrap();
        assert_eq!(item["secret"], SHOPIFY_SECRET);
        let hmac = item["x_shopify_hmac_sha256"].as_str().unwrap();
        let mut headers: Vec<(&str, &str)> = documented["example_request_docs"]["headers"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| !k.starts_with("X-Shopify-Topic") && !k.starts_with("X-Shopify-Hmac"))
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
            .collect();
        headers.push(("X-Shopify-Topic", topic));
        headers.push(("X-Shopify-Hmac-Sha256", hmac));
        let a = shop
            .post(
                &format!("/webhooks/shopify/{TENANT}"),
                &headers,
                shared(&format!("shopify/{file}")),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{file}: {}", a.body);
        assert_eq!(a.body["accepted"], n_events, "{file}");
        raw_ids.insert(file, a.body["raw_id"].as_str().unwrap().to_owned());
    }

    // Raw payloads: the bodies exactly as delivered, keyed tenant|raw_id.
    let raws = shop.raws().await;
    assert_eq!(raws.len(), 3);
    for (file, topic, _) in expected {
        let raw_id = &raw_ids[file];
        let (key, raw) = raws.iter().find(|(_, r)| &r.raw_id == raw_id).unwrap();
        assert_eq!(key, &format!("{TENANT}|{raw_id}"));
        assert_eq!(raw.body, shared(&format!("shopify/{file}")), "{file}");
        assert_eq!(
            (
                raw.tenant_id.as_str(),
                raw.platform.as_str(),
                raw.source.as_str()
            ),
            (TENANT, "shopify", topic)
        );
        assert_eq!(raw.received_at, NOW);
        assert_eq!(raw.content_type.as_deref(), Some("application/json"));
        assert_eq!(raw.headers["x-shopify-topic"], topic);
        assert_eq!(
            raw.headers["x-shopify-shop-domain"],
            "snowdevil.myshopify.com"
        );
    }

    // Canonical events: six on the customer topic, none on the catalogue topic.
    let events = shop.events().await;
    assert_eq!(events.len(), 6);
    assert!(
        shop.read::<CanonicalEvent>(&CATALOG_EVENTS.spec)
            .await
            .is_empty()
    );
    for (key, ev) in &events {
        assert_eq!(
            key,
            &format!("{TENANT}|{}", ev.customer_key.as_deref().unwrap())
        );
        assert_eq!(
            (ev.tenant_id.as_str(), ev.platform),
            (TENANT, Platform::Shopify)
        );
        assert_eq!(ev.received_at, NOW);
    }

    let orders = by_type(&events, "OrderPlaced");
    assert_eq!(orders.len(), 1);
    let (key, ev) = orders[0];
    assert_eq!(key, "shop-1|email:john@example.com");
    assert_eq!(
        ev.event_id,
        id(
            Platform::Shopify,
            "OrderPlaced",
            &["820982911946154508", "1640995200000"]
        )
    );
    assert_eq!(ev.occurred_at, 1_640_995_200_000);
    let Payload::OrderPlaced(o) = &ev.payload else {
        unreachable!()
    };
    assert_eq!(
        (o.order_id.as_str(), o.currency.as_str()),
        ("820982911946154508", "USD")
    );
    assert_eq!(
        (
            o.subtotal_minor,
            o.discount_minor,
            o.shipping_minor,
            o.tax_minor,
            o.total_minor
        ),
        (41_495, 2_000, 1_000, 0, 40_495)
    );
    assert_eq!(o.lines.len(), 5);

    let customers = by_type(&events, "CustomerUpserted");
    let mut keys: Vec<&str> = customers.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "shop-1|email:bob@biller.com",
            "shop-1|email:john@example.com",
            "shop-1|email:john@example.com"
        ]
    );
    assert!(customers.iter().any(|(_, e)| e.event_id
        == id(
            Platform::Shopify,
            "CustomerUpserted",
            &["706405506930370084", "1640995200000"]
        )));

    let checkouts = by_type(&events, "CheckoutStarted");
    let (key, ev) = checkouts[0];
    assert_eq!(key, "shop-1|email:john@example.com");
    assert_eq!(
        ev.event_id,
        id(
            Platform::Shopify,
            "CheckoutStarted",
            &["123123123", "1640995200000"]
        )
    );
    let Payload::CheckoutStarted(c) = &ev.payload else {
        unreachable!()
    };
    assert_eq!(
        (c.currency.as_str(), c.total_minor, c.line_count),
        ("USD", 42_188, 2)
    );
    let carts = by_type(&events, "CartUpdated");
    assert_eq!(
        carts[0].1.event_id,
        id(
            Platform::Shopify,
            "CartUpdated",
            &["eeafa272cebfd4b22385bc4b645e762c", "1640995200000"]
        )
    );
}

#[tokio::test]
async fn shopify_event_deliveries_use_the_unprefixed_headers() {
    let shop = Shop::new().await;
    let body = shared("shopify/webhooks/customers_create.json");
    let hmac = hmac_b64(SHOPIFY_SECRET, &body);
    let a = shop
        .post(
            "/webhooks/shopify/shop-1",
            &[
                ("shopify-topic", "customers/create"),
                ("shopify-hmac-sha256", &hmac),
            ],
            body,
        )
        .await;
    assert_eq!(
        (a.status, &a.body["accepted"]),
        (StatusCode::OK, &json!(1)),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn shopify_official_vector_verifies_but_its_topic_is_refused() {
    let shop = Shop::new().await;
    let v =
        shared_json("shopify/signatures/webhook_hmac_vectors.json")["official_vectors"][0].clone();
    assert_eq!(v["secret"], SHOPIFY_SECRET);
    let headers: Vec<(&str, &str)> = v["request_headers_used_in_test"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
        .collect();
    let body = v["raw_body"].as_str().unwrap().to_owned();
    let a = shop
        .post("/webhooks/shopify/shop-1", &headers, body.clone())
        .await;
    // Signed correctly, so not 401: the topic (products/create) is one Mindset does not map.
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(
        a.error().contains("unknown topic \"products/create\""),
        "{}",
        a.error()
    );
    assert!(
        a.error().contains("orders/create"),
        "the handled topics are listed"
    );
    // The same body under another tenant's secret is not authentic.
    let a = shop
        .post("/webhooks/shopify/shopify-only", &headers, body)
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    shop.assert_nothing_written().await;
}

#[tokio::test]
async fn woocommerce_order_is_filed_and_the_creation_ping_writes_nothing() {
    let shop = Shop::new().await;
    let ping = shop
        .post(
            "/webhooks/woocommerce/shop-1",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            "webhook_id=42",
        )
        .await;
    assert_eq!(ping.status, StatusCode::OK, "{}", ping.body);
    assert_eq!(
        ping.body,
        json!({ "accepted": 0, "ping": true, "webhook_id": "42" })
    );
    shop.assert_nothing_written().await;

    let vectors = shared_json("woocommerce/signatures/webhook_signature_vectors.json");
    let item = vectors["DERIVED_NOT_OFFICIAL_vectors"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["file"] == "webhooks/order_created.payload.json")
        .unwrap()
        .clone();
    assert_eq!(item["secret"], WOO_SECRET);
    let body = shared("woocommerce/webhooks/order_created.payload.json");
    let a = shop
        .post(
            "/webhooks/woocommerce/shop-1",
            &[
                ("Content-Type", "application/json"),
                ("X-WC-Webhook-Topic", "order.created"),
                ("X-WC-Webhook-Resource", "order"),
                ("X-WC-Webhook-Event", "created"),
                ("X-WC-Webhook-ID", "42"),
                (
                    "X-WC-Webhook-Signature",
                    item["signature_over_exact_file_bytes"].as_str().unwrap(),
                ),
            ],
            body.clone(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["accepted"], 1);

    let events = shop.events().await;
    assert_eq!(events.len(), 1);
    let (key, ev) = &events[0];
    assert_eq!(key, "shop-1|email:john.doe@example.com");
    assert_eq!(ev.platform, Platform::Woocommerce);
    assert_eq!(
        ev.event_id,
        id(
            Platform::Woocommerce,
            "OrderPlaced",
            &["727", "1490210888000"]
        )
    );
    let Payload::OrderPlaced(o) = &ev.payload else {
        unreachable!()
    };
    assert_eq!((o.order_id.as_str(), o.currency.as_str()), ("727", "USD"));
    assert_eq!(o.lines.len(), 2);
    assert!(o.total_minor > 0);
    let raws = shop.raws().await;
    assert_eq!(raws.len(), 1);
    assert_eq!(raws[0].1.raw_id, a.body["raw_id"].as_str().unwrap());
    assert_eq!(raws[0].1.body, body);
    assert_eq!(raws[0].1.source, "order.created");
}

#[tokio::test]
async fn flipkart_official_vector_files_the_shipment() {
    let fk = flipkart_vector();
    let shop = Shop::at(fk.at_ms).await;
    let headers = [
        ("Content-Type", "application/json"),
        ("X_Date", fk.date.as_str()),
        ("X_Authorization", fk.authorization.as_str()),
    ];
    let created = shared("flipkart/notifications/shipment_created.example.json");
    let a = shop
        .post("/webhooks/flipkart/shop-1", &headers, created.clone())
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["accepted"], 1);
    let packed = shop
        .post(
            "/webhooks/flipkart/shop-1",
            &headers,
            shared("flipkart/notifications/packed.example.json"),
        )
        .await;
    assert_eq!(packed.status, StatusCode::OK, "{}", packed.body);
    assert_eq!(packed.body["accepted"], 0);
    assert!(
        packed.body["note"].is_string(),
        "a delivery without events says why"
    );

    let events = shop.events().await;
    assert_eq!(events.len(), 1);
    let (key, ev) = &events[0];
    assert_eq!(key, "shop-1|guest:flipkart:OD108833803073636000");
    assert_eq!(
        ev.event_id,
        id(
            Platform::Flipkart,
            "OrderPlaced",
            &[
                "OD108833803073636000",
                "d133588f-b0ac-443b-99b4-7ac8648a0f89"
            ]
        )
    );
    assert_eq!(ev.received_at, fk.at_ms);
    let Payload::OrderPlaced(o) = &ev.payload else {
        unreachable!()
    };
    assert_eq!(o.currency, "INR");
    assert_eq!(
        (o.lines[0].unit_price_minor, o.total_minor),
        (29_500, 29_500)
    );

    let raws = shop.raws().await;
    assert_eq!(raws.len(), 2);
    let created_raw = raws.iter().find(|(_, r)| r.body == created).unwrap();
    assert!(
        !created_raw.1.headers.contains_key("x_authorization"),
        "credentials are not kept"
    );
    assert_eq!(created_raw.1.headers["x_date"], fk.date);

    // The same signed headers an hour later are refused as stale, and write nothing more.
    let later = Shop::at(fk.at_ms + 3_600_000).await;
    let a = later
        .post("/webhooks/flipkart/shop-1", &headers, created)
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    assert!(a.error().contains("X_Date"), "{}", a.error());
    later.assert_nothing_written().await;
}

#[tokio::test]
async fn amazon_notifications_are_kept_raw_behind_the_forwarding_key() {
    let shop = Shop::new().await;
    let body = shared("amazon_sp_api/notifications/OrderChangeNotification.example.json");
    let keyed = [
        ("Content-Type", "application/json"),
        ("x-api-key", AMAZON_KEY),
    ];
    let a = shop
        .post("/webhooks/amazon/shop-1", &keyed, body.clone())
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["accepted"], 0);
    assert!(
        a.body["note"]
            .as_str()
            .unwrap()
            .contains("903-8868176-2219830")
    );

    // The same notification as an EventBridge event (what an API destination POSTs).
    let notification: Value = serde_json::from_slice(&body).unwrap();
    let bridged = json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "ORDER_CHANGE",
        "source": "aws.partner/sellingpartnerapi.amazon/amzn1.sellerapps.app.0000",
        "account": "123456789012",
        "time": "2020-01-11T00:09:53Z",
        "region": "us-east-1",
        "resources": [],
        "detail": notification,
    });
    let a = shop
        .post(
            "/webhooks/amazon/shop-1",
            &keyed,
            serde_json::to_vec(&bridged).unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);

    let raws = shop.raws().await;
    assert_eq!(raws.len(), 2);
    assert_eq!(raws[0].1.body, body);
    assert_eq!(raws[0].1.platform, "amazon");
    assert!(
        raws.iter()
            .all(|(_, r)| !r.headers.contains_key("x-api-key")),
        "the forwarding key is not kept"
    );
    assert!(shop.events().await.is_empty());

    // Refusals write nothing more.
    let before = shop.sizes().await;
    let a = shop
        .post("/webhooks/amazon/shop-1", &[], body.clone())
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(
        a.error().contains("missing header x-api-key"),
        "{}",
        a.error()
    );
    let a = shop
        .post(
            "/webhooks/amazon/shop-1",
            &[("x-api-key", "guess")],
            body.clone(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let mut other_app = notification.clone();
    other_app["NotificationMetadata"]["ApplicationId"] = json!("app-id-someone-else");
    let a = shop
        .post(
            "/webhooks/amazon/shop-1",
            &keyed,
            serde_json::to_vec(&other_app).unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.error().contains("app-id-someone-else"), "{}", a.error());
    let mut no_envelope = notification;
    no_envelope
        .as_object_mut()
        .unwrap()
        .remove("NotificationMetadata");
    let a = shop
        .post(
            "/webhooks/amazon/shop-1",
            &keyed,
            serde_json::to_vec(&no_envelope).unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(a.error().contains("NotificationMetadata"), "{}", a.error());
    assert_eq!(shop.sizes().await, before);
}

// ---------------------------------------------------------------------------------------------
// Refused deliveries write nothing

#[tokio::test]
async fn tampered_and_unsigned_deliveries_are_401_and_write_nothing() {
    let fk = flipkart_vector();
    let shop = Shop::at(fk.at_ms).await;
    let order = shared("shopify/webhooks/orders_create.json");
    let good = hmac_b64(SHOPIFY_SECRET, &order);
    let mut tampered = order.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x01;

    let a = shop
        .post(
            "/webhooks/shopify/shop-1",
            &shopify_headers("orders/create", &good),
            tampered,
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.error().contains("does not match"), "{}", a.error());
    let a = shop
        .post(
            "/webhooks/shopify/shop-1",
            &[("X-Shopify-Topic", "orders/create")],
            order.clone(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.error(), "missing header X-Shopify-Hmac-Sha256");
    let a = shop
        .post(
            "/webhooks/shopify/shop-1",
            &shopify_headers("orders/create", "%%%"),
            order.clone(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.error().contains("not valid base64"), "{}", a.error());
    // A wrong signature is refused before the topic is looked at.
    let a = shop
        .post(
            "/webhooks/shopify/shop-1",
            &shopify_headers("products/create", &good),
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    let woo = shared("woocommerce/webhooks/order_created.payload.json");
    let woo_sig = hmac_b64(WOO_SECRET, &woo);
    let mut woo_tampered = woo.clone();
    woo_tampered[10] ^= 0x01;
    let a = shop
        .post(
            "/webhooks/woocommerce/shop-1",
            &[
                ("X-WC-Webhook-Topic", "order.created"),
                ("X-WC-Webhook-Signature", &woo_sig),
            ],
            woo_tampered,
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = shop
        .post(
            "/webhooks/woocommerce/shop-1",
            &[("X-WC-Webhook-Topic", "order.created")],
            woo,
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.error(), "missing header X-WC-Webhook-Signature");

    let created = shared("flipkart/notifications/shipment_created.example.json");
    let a = shop
        .post(
            "/webhooks/flipkart/shop-1",
            &[("X_Date", fk.date.as_str())],
            created.clone(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.error(), "missing header X_Authorization");
    let forged = format!(
        "FKLOGIN {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            fk.app_id,
            "0".repeat(40)
        ))
    );
    let a = shop
        .post(
            "/webhooks/flipkart/shop-1",
            &[
                ("X_Date", fk.date.as_str()),
                ("X_Authorization", forged.as_str()),
            ],
            created,
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.error().contains("does not match"), "{}", a.error());

    shop.assert_nothing_written().await;
}

#[tokio::test]
async fn bad_bodies_with_valid_signatures_are_4xx_with_the_reason_and_write_nothing() {
    let shop = Shop::new().await;
    let post_signed = |topic: &'static str, body: Vec<u8>| {
        let hmac = hmac_b64(SHOPIFY_SECRET, &body);
        let shop = &shop;
        async move {
            shop.post(
                "/webhooks/shopify/shop-1",
                &shopify_headers(topic, &hmac),
                body,
            )
            .await
        }
    };

    // Not JSON at all.
    let order = shared("shopify/webhooks/orders_create.json");
    let a = post_signed("orders/create", order[..order.len() / 2].to_vec()).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(a.error().contains("malformed body"), "{}", a.error());
    assert!(
        a.error().contains("line"),
        "the reason says where: {}",
        a.error()
    );

    // JSON of the wrong shape.
    let a = post_signed("orders/create", br#"{"id": "x", "line_items": 7}"#.to_vec()).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(a.error().contains("line_items"), "{}", a.error());

    // Well-formed, but a value Mindset cannot take: money with more decimals than the currency.
    let mut v: Value = serde_json::from_slice(&order).unwrap();
    v["total_price"] = json!("404.955");
    v["total_price_set"]["shop_money"]["amount"] = json!("404.955");
    let a = post_signed("orders/create", serde_json::to_vec(&v).unwrap()).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.error().contains("total_price"), "{}", a.error());

    // Topics: unknown, and missing.
    let a = post_signed("products/update", order.clone()).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.error().contains("unknown topic"), "{}", a.error());
    let hmac = hmac_b64(SHOPIFY_SECRET, &order);
    let a = shop
        .post(
            "/webhooks/shopify/shop-1",
            &[("X-Shopify-Hmac-Sha256", hmac.as_str())],
            order,
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.error(), "missing header X-Shopify-Topic");

    // WooCommerce: a signed delivery needs its topic too.
    let woo = shared("woocommerce/webhooks/order_created.payload.json");
    let sig = hmac_b64(WOO_SECRET, &woo);
    let a = shop
        .post(
            "/webhooks/woocommerce/shop-1",
            &[("X-WC-Webhook-Signature", sig.as_str())],
            woo,
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.error(), "missing header X-WC-Webhook-Topic");

    shop.assert_nothing_written().await;
}

// ---------------------------------------------------------------------------------------------
// Redeliveries

#[tokio::test]
async fn a_redelivery_is_accepted_and_filed_once() {
    let shop = Shop::new().await;
    let order = shared("shopify/webhooks/orders_create.json");
    let hmac = hmac_b64(SHOPIFY_SECRET, &order);
    let headers = shopify_headers("orders/create", &hmac);
    let first = shop
        .post("/webhooks/shopify/shop-1", &headers, order.clone())
        .await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body["accepted"], 2);
    let after_first = shop.sizes().await;
    assert_eq!(after_first["ingest.raw.v1"], 1);
    assert_eq!(after_first["customer.events.v1"], 2);

    let again = shop
        .post("/webhooks/shopify/shop-1", &headers, order.clone())
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        again.body,
        json!({ "duplicate": true, "raw_id": first.body["raw_id"] })
    );
    assert_eq!(shop.sizes().await, after_first, "no second record");

    // After a restart the process has forgotten it: the delivery is filed again with the same
    // ids, and consumers drop the repeat.
    let restarted = shop.restarted(NOW + 60_000);
    let later = send(
        &restarted,
        "POST",
        "/webhooks/shopify/shop-1",
        &headers,
        order.into(),
    )
    .await;
    assert_eq!(later.status, StatusCode::OK);
    assert_eq!(later.body["raw_id"], first.body["raw_id"]);
    let events = shop.events().await;
    assert_eq!(events.len(), 4);
    let distinct: std::collections::BTreeSet<&str> =
        events.iter().map(|(_, e)| e.event_id.as_str()).collect();
    assert_eq!(distinct.len(), 2, "a redelivery repeats its event ids");
}

// ---------------------------------------------------------------------------------------------
// Routing, limits, health

#[tokio::test]
async fn unknown_tenants_routes_and_methods_and_the_body_limit() {
    let shop = Shop::new().await;
    let health = send(&shop.app, "GET", "/healthz", &[], Body::empty()).await;
    assert_eq!(
        (health.status, health.body),
        (StatusCode::OK, json!({ "status": "ok" }))
    );

    let a = shop.post("/webhooks/shopify/nobody", &[], "{}").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(
        a.error(),
        "no shopify webhook is configured for tenant \"nobody\""
    );
    let a = shop
        .post("/webhooks/flipkart/shopify-only", &[], "{}")
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = shop.post("/webhooks/etsy/shop-1", &[], "{}").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(
        a.error()
            .contains("/webhooks/<shopify|woocommerce|flipkart|amazon>/<tenant>")
    );
    let a = send(
        &shop.app,
        "GET",
        "/webhooks/shopify/shop-1",
        &[],
        Body::empty(),
    )
    .await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(a.error().contains("POST"));

    // 1 MiB is accepted as far as the signature check; one byte more is 413, declared or not.
    let limit = mindset::ingest::BODY_LIMIT;
    let hmac = hmac_b64(SHOPIFY_SECRET, b"x");
    let a = shop
        .post(
            "/webhooks/shopify/shop-1",
            &shopify_headers("orders/create", &hmac),
            vec![b' '; limit],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    let a = shop
        .post(
            "/webhooks/shopify/shop-1",
            &shopify_headers("orders/create", &hmac),
            vec![b' '; limit + 1],
        )
        .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.body);
    assert_eq!(a.error(), format!("the body is larger than {limit} bytes"));
    let declared = (limit + 1).to_string();
    let mut headers = shopify_headers("orders/create", &hmac);
    headers.push(("Content-Length", &declared));
    let a = shop
        .post("/webhooks/shopify/shop-1", &headers, vec![b' '; limit + 1])
        .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);

    shop.assert_nothing_written().await;
}
