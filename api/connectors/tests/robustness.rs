//! No input makes a connector panic. Random bytes and truncated documents are refused with an
//! error; mutated fixtures (bit flips, truncations, splices, deleted and duplicated ranges,
//! hostile tokens) either fail cleanly or give events the pipeline accepts. The bounded
//! mutation runs (20,000 inputs per platform, fixed seeds) are repeatable; the coverage-guided
//! `fuzz/` targets (infra/fuzz.sh, also in CI) go further in a bounded time.

#[path = "platforms/support.rs"]
mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};

use mindset_connectors::{
    Context, Error, Normalised, amazon, flipkart,
    segment::{self, Call, Links},
    shopify, woocommerce,
};
use proptest::prelude::*;
use support::*;

type Normalise = fn(&str, &[u8], &Context<'_>) -> Result<Normalised, Error>;

const MUTATIONS: usize = 20_000;

fn shopify_corpus() -> Vec<(&'static str, Vec<u8>)> {
    let rest = |file: &str| bytes(&shared_json(file)["response_body"]);
    vec![
        (
            "orders/create",
            shared("shopify/webhooks/orders_create.json"),
        ),
        (
            "customers/create",
            shared("shopify/webhooks/customers_create.json"),
        ),
        (
            "checkouts/create",
            shared("shopify/webhooks/checkouts_create.json"),
        ),
        (
            "rest/orders",
            rest("shopify/rest_admin/orders_list.status_any.json"),
        ),
        (
            "rest/customers",
            rest("shopify/rest_admin/customers_list.json"),
        ),
        ("refunds/create", own("shopify/refunds_create.json")),
        ("carts/update", own("shopify/carts_update.json")),
        (
            "customers/update",
            own("shopify/customers_update_consent.json"),
        ),
        ("customers/redact", own("shopify/customers_redact.json")),
        (
            "customers/data_request",
            own("shopify/customers_data_request.json"),
        ),
        ("shop/redact", own("shopify/shop_redact.json")),
    ]
}

fn woocommerce_corpus() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "order.created",
            shared("woocommerce/webhooks/order_created.payload.json"),
        ),
        (
            "rest/orders",
            shared("woocommerce/rest_v3/orders.list_all_orders.json"),
        ),
        (
            "rest/customers",
            shared("woocommerce/rest_v3/customers.list_all_customers.json"),
        ),
        ("customer.created", own("woocommerce/customer_created.json")),
        (
            "order.updated",
            own("woocommerce/order_updated_refunds.json"),
        ),
        ("product.updated", own("woocommerce/product_updated.json")),
        (
            "product.updated",
            own("woocommerce/product_variation_updated.json"),
        ),
        (
            "product_review.created",
            own("woocommerce/product_review_created.json"),
        ),
        (
            "action.woocommerce_product_review_created",
            own("woocommerce/action_review.json"),
        ),
        ("order.deleted", own("woocommerce/order_deleted.json")),
        ("ping", own("woocommerce/ping.txt")),
    ]
}

fn amazon_corpus() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "notification",
            shared("amazon_sp_api/notifications/OrderChangeNotification.example.json"),
        ),
        (
            "getOrders",
            shared("amazon_sp_api/examples/ordersV0.getOrders.200.example.json"),
        ),
        (
            "getOrderItems",
            shared("amazon_sp_api/examples/ordersV0.getOrderItems.200.example.json"),
        ),
    ]
}

fn flipkart_corpus() -> Vec<(&'static str, Vec<u8>)> {
    let example = |file: &str| bytes(&shared_json(file)["examples"][0]);
    vec![
        (
            "notification",
            shared("flipkart/notifications/shipment_created.example.json"),
        ),
        (
            "notification",
            shared("flipkart/notifications/packed.example.json"),
        ),
        (
            "notification",
            shared("flipkart/notifications/shipment_created.structure.jsonc"),
        ),
        (
            "shipments",
            example("flipkart/api_examples/get-shipment-details.json"),
        ),
        (
            "shipments",
            example("flipkart/api_examples/search-pre-dispatch-shipment-post.json"),
        ),
    ]
}

fn segment_corpus() -> Vec<(&'static str, Vec<u8>)> {
    let m = |v: serde_json::Value| serde_json::to_vec(&v).unwrap();
    let products = serde_json::json!([
        {"product_id": "p-1", "sku": "RR-42", "name": "Red Runner", "price": 19.99, "quantity": 2},
        {"product_id": 7, "price": "5.00", "quantity": "1", "category": "Socks"}
    ]);
    vec![
        (
            "track",
            m(
                serde_json::json!({"event": "Product Viewed", "anonymousId": "a-1", "messageId": "m-1",
            "timestamp": "2026-01-01T00:00:00Z", "sentAt": "2026-01-01T00:00:05Z",
            "properties": {"product_id": "p-1", "price": 19.99, "currency": "USD", "name": "Red Runner"},
            "context": {"sessionId": "s-1", "traits": {"email": "a@example.com"}}}),
            ),
        ),
        (
            "track",
            m(
                serde_json::json!({"event": "Order Completed", "userId": "u-1", "messageId": "m-2",
            "properties": {"order_id": "o-1", "total": 44.98, "shipping": 5, "tax": 0, "discount": 0,
                           "coupon": "X", "currency": "EUR", "email": "b@example.com", "products": products}}),
            ),
        ),
        (
            "track",
            m(
                serde_json::json!({"event": "Cart Viewed", "anonymousId": "a-1",
            "properties": {"cart_id": "c-1", "products": products}}),
            ),
        ),
        (
            "track",
            m(
                serde_json::json!({"event": "Product Reviewed", "anonymousId": "a-1",
            "properties": {"review_id": "r-1", "product_id": "p-1", "review_body": "Great", "rating": 5}}),
            ),
        ),
        (
            "identify",
            m(serde_json::json!({"userId": "u-1", "anonymousId": "a-1",
            "traits": {"email": "C@Example.com", "firstName": "C", "address": {"city": "Paris", "country": "FR"}}})),
        ),
        (
            "alias",
            m(serde_json::json!({"userId": "u-1", "previousId": "a-1"})),
        ),
        (
            "batch",
            m(
                serde_json::json!({"type": "track", "event": "Product Added", "anonymousId": "a-2",
            "properties": {"cart_id": "c-2", "product_id": "p-2", "price": 3, "quantity": 3}}),
            ),
        ),
        (
            "messages",
            m(
                serde_json::json!({"email": "d@example.com", "channel": "support", "text": "Late again",
            "author": "customer", "threadId": 9, "timestamp": "2026-01-01T00:00:00Z"}),
            ),
        ),
    ]
}

/// The track API's two entry points under one signature: `topic` is a call, `batch` (a batched
/// message naming its own type) or `messages` (`/v1/messages`).
fn segment_normalise(topic: &str, body: &[u8], ctx: &Context<'_>) -> Result<Normalised, Error> {
    let known = std::collections::HashMap::from([(
        "anon:a-1".to_owned(),
        "email:z@example.com".to_owned(),
    )]);
    let mut links = Links::new(&known);
    let shared = serde_json::Map::from_iter([(
        "sentAt".to_owned(),
        serde_json::json!("2026-01-01T00:00:09Z"),
    )]);
    match topic {
        "messages" => segment::normalise_text(ctx, body, &mut links),
        "batch" => segment::normalise(ctx, None, &shared, body, &mut links),
        call => segment::normalise(
            ctx,
            Call::from_name(call),
            &serde_json::Map::new(),
            body,
            &mut links,
        ),
    }
}

/// splitmix64: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const TOKENS: &[&[u8]] = &[
    b"null",
    b"true",
    b"\"\"",
    b"0",
    b"-1",
    b"1e308",
    b"-0.0",
    b"99999999999999999999999",
    b"\"1969-12-31T23:59:59Z\"",
    b"\"9999-99-99\"",
    b"\"25.999\"",
    b"[]",
    b"{}",
    b"\"\\u0000\"",
    b"\"\xc3\xa9\"",
    b"\"|\"",
    b"[[[[[[[[",
    b"}}}}",
    b"\"JPY\"",
    b"\"XX\"",
    b"18446744073709551616",
];

fn mutate(rng: &mut Rng, base: &[u8], corpus: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..=rng.below(3) {
        let len = v.len();
        let at = rng.below(len + 1);
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 => v.truncate(at),
            2 => {
                let other = &corpus[rng.below(corpus.len())].1;
                let start = rng.below(other.len());
                let end = (start + rng.below(256)).min(other.len());
                v.splice(at..at, other[start..end].iter().copied());
            }
            3 => {
                let end = (at + rng.below(64)).min(len);
                v.drain(at..end);
            }
            4 => {
                let end = (at + rng.below(128)).min(len);
                let copy = v[at..end].to_vec();
                v.splice(at..at, copy);
            }
            5 if len > 0 => {
                let i = rng.below(len);
                v[i] = b"{}[]\":,0123456789.eE-+ \\nultr"[rng.below(29)];
            }
            _ => {
                // Replace the token after a colon with a hostile one.
                let colons: Vec<usize> = v
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| **b == b':')
                    .map(|(i, _)| i)
                    .collect();
                if let Some(&c) = colons.get(rng.below(colons.len())) {
                    let start = c + 1;
                    let end = v[start..]
                        .iter()
                        .position(|b| matches!(b, b',' | b'}' | b']'))
                        .map_or(v.len(), |p| start + p);
                    v.splice(start..end, TOKENS[rng.below(TOKENS.len())].iter().copied());
                }
            }
        }
    }
    v
}

fn shown(input: &[u8]) -> String {
    let s = String::from_utf8_lossy(input);
    if s.len() > 2_000 {
        format!("{}…", &s[..s.floor_char_boundary(2_000)])
    } else {
        s.into_owned()
    }
}

/// Run `MUTATIONS` mutated inputs through `normalise`; every Ok result must be fileable.
fn bounded_fuzz(
    name: &str,
    seed: u64,
    normalise: Normalise,
    corpus: &[(&str, Vec<u8>)],
    topics: &[&str],
) {
    let mut rng = Rng(seed);
    let currency = ctx().with_shop_currency("USD");
    let (mut ok, mut events, mut err) = (0usize, 0usize, 0usize);
    for i in 0..MUTATIONS {
        let (topic, base) = &corpus[rng.below(corpus.len())];
        let topic = if rng.below(10) == 0 {
            topics[rng.below(topics.len())]
        } else {
            topic
        };
        let input = mutate(&mut rng, base, corpus);
        let run = catch_unwind(AssertUnwindSafe(|| {
            let result = normalise(topic, &input, &currency);
            if let Ok(n) = &result {
                for ev in &n.events {
                    check_event(ev);
                }
            }
            result
        }));
        match run {
            Ok(Ok(n)) => {
                ok += 1;
                events += n.events.len();
            }
            Ok(Err(e)) => {
                err += 1;
                assert!(!e.to_string().is_empty());
            }
            Err(_) => panic!(
                "{name} #{i} (seed {seed}) panicked on topic {topic:?}, input:\n{}",
                shown(&input)
            ),
        }
    }
    eprintln!("{name}: {MUTATIONS} mutated inputs: {ok} ok ({events} events), {err} refused");
    assert!(
        ok > 0 && err > 0,
        "{name}: the mutations should both keep and break inputs"
    );
}

#[test]
fn shopify_survives_20k_mutations() {
    bounded_fuzz(
        "shopify",
        0x5107,
        shopify::normalise,
        &shopify_corpus(),
        &[
            "orders/create",
            "orders/updated",
            "refunds/create",
            "customers/update",
            "checkouts/update",
            "carts/update",
            "customers/redact",
            "rest/orders",
            "rest/customers",
            "rest/checkouts",
        ],
    );
}

#[test]
fn woocommerce_survives_20k_mutations() {
    bounded_fuzz(
        "woocommerce",
        0x0c0,
        woocommerce::normalise,
        &woocommerce_corpus(),
        &[
            "order.created",
            "order.updated",
            "customer.updated",
            "product.updated",
            "product_review.created",
            "action.woocommerce_x",
            "rest/orders",
            "rest/products",
            "ping",
        ],
    );
}

#[test]
fn amazon_survives_20k_mutations() {
    bounded_fuzz(
        "amazon",
        0xa3a,
        amazon::normalise,
        &amazon_corpus(),
        &[
            "notification",
            "ORDER_CHANGE",
            "getOrders",
            "getOrder",
            "getOrderItems",
        ],
    );
}

#[test]
fn flipkart_survives_20k_mutations() {
    bounded_fuzz(
        "flipkart",
        0xf1f,
        flipkart::normalise,
        &flipkart_corpus(),
        &[
            "notification",
            "shipment_created",
            "shipments",
            "return_created",
        ],
    );
}

#[test]
fn segment_survives_20k_mutations() {
    bounded_fuzz(
        "segment",
        0x5e9,
        segment_normalise,
        &segment_corpus(),
        &[
            "track", "identify", "page", "screen", "alias", "group", "batch", "messages",
        ],
    );
}

#[test]
fn amazon_join_survives_mutations() {
    let corpus = amazon_corpus();
    let orders = &corpus[1].1;
    let items = String::from_utf8(corpus[2].1.clone())
        .unwrap()
        .replace("903-1671087-0812628", "902-3159896-1390916")
        .replace("\"JPY\"", "\"USD\"")
        .into_bytes();
    assert_eq!(
        amazon::order_placed(orders, "902-3159896-1390916", &[&items], &ctx())
            .unwrap()
            .events
            .len(),
        1
    );
    let mut rng = Rng(0x101);
    let mut ok = 0;
    for i in 0..MUTATIONS / 4 {
        let (a, b) = if rng.below(2) == 0 {
            (mutate(&mut rng, orders, &corpus), items.clone())
        } else {
            (orders.clone(), mutate(&mut rng, &items, &corpus))
        };
        let run = catch_unwind(AssertUnwindSafe(|| {
            amazon::order_placed(&a, "902-3159896-1390916", &[&b], &ctx()).map(|j| {
                j.events.iter().for_each(check_event);
                j.events.len()
            })
        }));
        match run {
            Ok(r) => ok += usize::from(r.is_ok()),
            Err(_) => panic!("join #{i} panicked:\n{}\n{}", shown(&a), shown(&b)),
        }
    }
    assert!(ok > 0);
}

#[test]
fn verify_survives_mutated_headers_and_bodies() {
    let mut rng = Rng(0x51);
    let corpus = shopify_corpus();
    let fk =
        shared_json("flipkart/signatures/notification_signature_vectors.json")["official_vector"]
            .clone();
    let auth = flipkart::NotificationAuth::new(
        fk["oauth_application_id"].as_str().unwrap(),
        fk["oauth_application_secret"].as_str().unwrap(),
        fk["notification_url"].as_str().unwrap(),
    );
    let seeds: [&[u8]; 4] = [
        b"nDUqIWSLQlBhgRJAVPg4SWZEbBe8M619OS7UyZ+nNxo=",
        fk["headers"]["X_Authorization"]
            .as_str()
            .unwrap()
            .as_bytes(),
        fk["headers"]["X_Date"].as_str().unwrap().as_bytes(),
        b"webhook_id=42",
    ];
    for _ in 0..MUTATIONS / 4 {
        let seed = seeds[rng.below(4)];
        let value = String::from_utf8_lossy(&mutate(&mut rng, seed, &corpus)).into_owned();
        let base = rng.below(corpus.len());
        let body = mutate(&mut rng, &corpus[base].1, &corpus);
        let h = headers(&[
            ("X-Shopify-Hmac-Sha256", &value),
            ("X-WC-Webhook-Signature", &value),
            ("X_Authorization", &value),
            ("X_Date", &value),
        ]);
        let _ = shopify::verify(b"test_secret_key", &h, &body);
        let _ = woocommerce::verify("secret", &h, &body);
        let _ = woocommerce::verify("secret", &headers(&[]), value.as_bytes());
        let _ = flipkart::verify(&auth, &h, 1_432_026_135_000);
        let _ = amazon::verify(&body, Some("app"));
    }
}

fn all_topics() -> Vec<(&'static str, Normalise, &'static str)> {
    let mut v: Vec<(&'static str, Normalise, &'static str)> = Vec::new();
    for t in shopify::TOPICS.split(", ") {
        v.push(("shopify", shopify::normalise, t));
    }
    for t in woocommerce::TOPICS.split(", ").filter(|t| !t.contains('<')) {
        v.push(("woocommerce", woocommerce::normalise, t));
    }
    for t in [
        "notification",
        "ORDER_CHANGE",
        "getOrders",
        "getOrder",
        "getOrderItems",
    ] {
        v.push(("amazon", amazon::normalise, t));
    }
    for t in [
        "notification",
        "shipments",
        "shipment_created",
        "return_created",
    ] {
        v.push(("flipkart", flipkart::normalise, t));
    }
    v
}

#[test]
fn truncated_documents_are_refused() {
    let corpora = [
        shopify_corpus(),
        woocommerce_corpus(),
        amazon_corpus(),
        flipkart_corpus(),
    ];
    let fns: [Normalise; 4] = [
        shopify::normalise,
        woocommerce::normalise,
        amazon::normalise,
        flipkart::normalise,
    ];
    let c = ctx().with_shop_currency("USD");
    let mut checked = 0;
    for (corpus, normalise) in corpora.iter().zip(fns) {
        for (topic, doc) in corpus {
            if !doc.starts_with(b"{") && !doc.starts_with(b"[") {
                continue; // the ping is not JSON
            }
            let full = doc.trim_ascii_end().len();
            let step = if full > 4_096 { 7 } else { 1 };
            for cut in (0..full).step_by(step).chain(full.saturating_sub(64)..full) {
                assert!(
                    normalise(topic, &doc[..cut], &c).is_err(),
                    "{topic}: prefix of {cut} bytes accepted"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 10_000);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_are_refused_without_panic(body in proptest::collection::vec(any::<u8>(), 0..512), pick in any::<usize>()) {
        let topics = all_topics();
        let (_, normalise, topic) = topics[pick % topics.len()];
        let c = ctx().with_shop_currency("USD");
        let result = normalise(topic, &body, &c);
        if serde_json::from_slice::<serde_json::Value>(&body).is_err() && woocommerce::ping_webhook_id(&body).is_none() {
            prop_assert!(result.is_err());
        }
    }

    #[test]
    fn random_json_never_panics_and_ok_is_fileable(value in arb_json(), pick in any::<usize>()) {
        let topics = all_topics();
        let (_, normalise, topic) = topics[pick % topics.len()];
        let c = ctx().with_shop_currency("USD");
        if let Ok(n) = normalise(topic, &bytes(&value), &c) {
            for ev in &n.events {
                check_event(ev);
            }
        }
    }
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{Value, json};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e9f64..1e9).prop_map(|f| json!(f)),
        "[a-zA-Z0-9 .:@+-]{0,24}".prop_map(Value::String),
        Just(json!("2021-12-31T19:00:00-05:00")),
        Just(json!("199.00")),
        Just(json!("USD")),
    ];
    let keys = prop_oneof![
        Just("id"),
        Just("order_id"),
        Just("currency"),
        Just("created_at"),
        Just("updated_at"),
        Just("line_items"),
        Just("price"),
        Just("total_price"),
        Just("quantity"),
        Just("customer"),
        Just("email"),
        Just("token"),
        Just("date_created_gmt"),
        Just("total"),
        Just("payload"),
        Just("Orders"),
        Just("AmazonOrderId"),
        Just("eventType"),
        Just("timestamp"),
        Just("shipmentId"),
        Just("attributes"),
        Just("orderItems"),
        Just("orderId"),
        Just("shipments"),
        Just("refunds"),
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(keys.clone(), inner, 0..8).prop_map(|m| {
                Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

/// Found by `fuzz/` (segment target): track API amounts whose line totals or order total do not
/// fit in 64 bits panicked on overflow (and would have wrapped in a release build); a quantity of
/// i32::MIN did the same in `Product Added`. They are refused with the field named.
#[test]
fn track_api_totals_that_overflow_are_refused() {
    let ctx = ctx().with_shop_currency("USD");
    let huge = "52111133331311111"; // 5.2e18 minor units: one fits in an i64, two do not
    let two = serde_json::json!([
        {"product_id": "p-1", "price": huge},
        {"product_id": "p-2", "price": huge}
    ]);
    let cases = [
        (
            "Checkout Started",
            serde_json::json!({"order_id": "o-2", "products": two}),
            "properties.products",
        ),
        (
            "Cart Viewed",
            serde_json::json!({"cart_id": "c-1", "products": [{"product_id": "p-1", "price": huge, "quantity": 2}]}),
            "properties.products",
        ),
        (
            "Order Completed",
            serde_json::json!({"order_id": "o-1", "products": two}),
            "properties.products",
        ),
        (
            "Order Completed",
            serde_json::json!({"order_id": "o-1", "subtotal": huge, "shipping": huge}),
            "properties.total",
        ),
        (
            "Order Refunded",
            serde_json::json!({"order_id": "o-1", "products": two}),
            "properties.products",
        ),
        (
            "Product Added",
            serde_json::json!({"product_id": "p-1", "cart_id": "c-1", "quantity": i32::MIN}),
            "properties.quantity",
        ),
    ];
    for (event, properties, field) in cases {
        let body = serde_json::to_vec(
            &serde_json::json!({"event": event, "anonymousId": "a-1", "properties": properties}),
        )
        .unwrap();
        match segment_normalise("track", &body, &ctx) {
            Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field, "{event}"),
            other => panic!("{event}: expected a refusal naming {field}, got {other:?}"),
        }
    }
    // One such amount alone still maps.
    let body = serde_json::to_vec(
        &serde_json::json!({"event": "Checkout Started", "anonymousId": "a-1",
        "properties": {"order_id": "o-2", "products": [{"product_id": "p-1", "price": huge}]}}),
    )
    .unwrap();
    let n = segment_normalise("track", &body, &ctx).unwrap();
    assert_eq!(types(&n), ["CheckoutStarted"]);
}
