//! Given/when/then tests of the enrich core and its shell on the sample shop.

use mindset_pipeline::{Message, shell::Processor};
use mindset_sample_events::{GenConfig, generate};
use mindset_schemas::{CanonicalEvent, CustomerFeatures, Payload, examples};
use mindset_topics::route;
use proptest::prelude::*;
use rand::{SeedableRng, seq::SliceRandom};

use mindset_enrich::{
    EnrichApp,
    core::{Applied, Enrich, EnrichConfig},
};

fn message(ev: &CanonicalEvent, offset: u64) -> Message {
    let (topic, key) = route(ev).unwrap();
    Message {
        topic: topic.name.to_owned(),
        partition: 0,
        offset,
        key,
        value: ev.encode().unwrap(),
        headers: Vec::new(),
        timestamp_ms: ev.occurred_at,
    }
}

/// Run events through the shell's handle/flush in batches; every emitted snapshot, in order.
fn emitted(events: &[CanonicalEvent], batch: usize) -> Vec<Vec<u8>> {
    let mut app = EnrichApp::new(EnrichConfig::default());
    let msgs: Vec<Message> = events
        .iter()
        .enumerate()
        .map(|(i, e)| message(e, i as u64))
        .collect();
    let mut out = Vec::new();
    for chunk in msgs.chunks(batch) {
        for m in chunk {
            assert!(app.handle(m, 0).unwrap().is_empty());
        }
        out.extend(app.flush(0).into_iter().map(|o| o.record.value));
    }
    out
}

/// Every customer's snapshot once all events are in.
fn final_snapshots(core: &Enrich) -> Vec<Vec<u8>> {
    core.customers()
        .into_iter()
        .map(|(t, c)| core.features(&t, &c).unwrap().encode().unwrap())
        .collect()
}

fn fold_all(events: &[CanonicalEvent]) -> Enrich {
    let mut core = Enrich::new(EnrichConfig::default());
    for e in events {
        core.apply(e);
    }
    core.refit();
    core
}

#[test]
fn replaying_the_sample_shop_gives_byte_identical_snapshots() {
    let events = generate(&GenConfig::small());
    let first = emitted(&events, 500);
    let second = emitted(&events, 500);
    assert!(first.len() > 100);
    assert_eq!(first, second);
}

#[test]
fn duplicates_and_redelivered_batches_change_nothing() {
    let events = generate(&GenConfig::small());
    let clean = fold_all(&events);
    // Every 5th event delivered twice in a row, and the first 400 redelivered at the end.
    let mut dup = Vec::new();
    for (i, e) in events.iter().enumerate() {
        dup.push(e.clone());
        if i % 5 == 0 {
            dup.push(e.clone());
        }
    }
    dup.extend(events[..400].iter().cloned());
    let with_dups = fold_all(&dup);
    assert_eq!(final_snapshots(&clean), final_snapshots(&with_dups));

    // A redelivered batch (at-least-once after a crash) emits nothing.
    let mut app = EnrichApp::new(EnrichConfig::default());
    let msgs: Vec<Message> = events
        .iter()
        .enumerate()
        .map(|(i, e)| message(e, i as u64))
        .collect();
    for m in &msgs {
        app.handle(m, 0).unwrap();
    }
    app.flush(0);
    // Caught up (an empty batch): the models are refitted and every buyer re-emitted once.
    assert!(!app.flush(0).is_empty());
    for m in &msgs[1000..1500] {
        app.handle(m, 0).unwrap();
    }
    assert!(
        app.flush(0).is_empty(),
        "a redelivered batch produced snapshots"
    );
}

#[test]
fn arrival_order_does_not_change_the_result() {
    let events = generate(&GenConfig::small());
    let reference = final_snapshots(&fold_all(&events));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for _ in 0..3 {
        let mut shuffled = events.clone();
        shuffled.shuffle(&mut rng);
        assert_eq!(final_snapshots(&fold_all(&shuffled)), reference);
    }
}

#[test]
fn features_match_a_hand_count_for_one_customer() {
    let events = generate(&GenConfig::small());
    let core = fold_all(&events);
    // The customer with the most orders.
    let (tenant, customer) = core
        .customers()
        .into_iter()
        .max_by_key(|(t, c)| (core.features(t, c).unwrap().orders, c.clone()))
        .unwrap();
    let f = core.features(&tenant, &customer).unwrap();
    let mine: Vec<&CanonicalEvent> = events
        .iter()
        .filter(|e| e.customer_key.as_deref() == Some(customer.as_str()))
        .collect();
    let orders: std::collections::BTreeSet<&str> = mine
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::OrderPlaced(o) if !o.is_test && o.total_minor > 0 => Some(o.order_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(f.orders as usize, orders.len());
    let views = mine
        .iter()
        .filter(|e| matches!(e.payload, Payload::ProductViewed(_)))
        .count();
    assert_eq!(f.product_views as usize, views);
    assert_eq!(f.events as usize, mine.len());
    assert_eq!(
        f.first_seen,
        mine.iter().map(|e| e.occurred_at).min().unwrap()
    );
    assert!(f.orders >= 3 && (1..=5).contains(&f.f_score));
    assert_eq!(f.f_score, 5, "the heaviest buyer is in the top quintile");
}

#[test]
fn test_orders_non_positive_totals_and_unknown_currencies_are_counted_not_folded() {
    let mut core = Enrich::new(EnrichConfig::default());
    let base = match examples::every_payload(true).remove(1) {
        Payload::OrderPlaced(o) => o,
        _ => unreachable!(),
    };
    let mut variants = Vec::new();
    for (i, change) in ["test", "zero", "currency", "good"].iter().enumerate() {
        let mut o = base.clone();
        o.order_id = format!("o{i}");
        o.is_test = *change == "test";
        if *change == "zero" {
            o.total_minor = 0;
        }
        if *change == "currency" {
            o.currency = "XXX".into();
        }
        if *change == "good" {
            o.is_test = false;
        }
        variants.push(examples::event(
            "shop",
            Some("c1"),
            i as u64,
            Payload::OrderPlaced(o),
        ));
    }
    let results: Vec<Applied> = variants.iter().map(|e| core.apply(e)).collect();
    assert!(matches!(
        results[0],
        Applied::Dropped {
            reason: "test_order",
            ..
        }
    ));
    assert!(matches!(
        results[1],
        Applied::Dropped {
            reason: "non_positive_total",
            ..
        }
    ));
    assert!(matches!(
        results[2],
        Applied::Dropped {
            reason: "unknown_currency",
            ..
        }
    ));
    assert_eq!(results[3], Applied::Customer);
    assert_eq!(core.apply(&variants[3]), Applied::Duplicate);
    let f = core.features("shop", "c1").unwrap();
    assert_eq!(f.orders, 1);
    assert_eq!(f.dropped.len(), 3);
    assert_eq!(f.dropped["test_order"], 1);
    assert_eq!(f.monetary_minor, base.total_minor);
}

#[test]
fn amounts_are_converted_to_the_shop_currency() {
    let mut core = Enrich::new(EnrichConfig::default());
    let mut o = match examples::every_payload(true).remove(1) {
        Payload::OrderPlaced(o) => o,
        _ => unreachable!(),
    };
    o.is_test = false;
    o.currency = "INR".into();
    o.total_minor = 830_000; // ₹8,300.00 = $100.00 at 83 INR/USD
    core.apply(&examples::event(
        "shop",
        Some("c"),
        1,
        Payload::OrderPlaced(o),
    ));
    assert_eq!(core.features("shop", "c").unwrap().monetary_minor, 10_000);
}

fn decode_all(bytes: &[Vec<u8>]) -> Vec<CustomerFeatures> {
    bytes
        .iter()
        .map(|b| CustomerFeatures::decode(b).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn scores_stay_in_range_and_a_purchase_never_lowers_frequency(
        seed in 0u64..1_000,
        take in 200usize..1_500,
    ) {
        let mut cfg = GenConfig::small();
        cfg.seed = seed;
        let events: Vec<CanonicalEvent> = generate(&cfg).into_iter().take(take).collect();
        let mut core = Enrich::new(EnrichConfig::default());
        let mut last_orders: std::collections::HashMap<String, i32> = Default::default();
        for e in &events {
            if core.apply(e) == Applied::Customer {
                let (tenant, customer) = (e.tenant_id.clone(), e.customer_key.clone().unwrap());
                let f = core.features(&tenant, &customer).unwrap();
                for s in [f.r_score, f.f_score, f.m_score] {
                    prop_assert!((1..=5).contains(&s));
                }
                prop_assert!((0.0..=1.0).contains(&f.spend_percentile));
                prop_assert!((0.0..=1.0).contains(&f.cart_abandonment_rate));
                let before = last_orders.insert(customer.clone(), f.orders).unwrap_or(0);
                prop_assert!(f.orders >= before, "orders went down for {customer}");
            }
        }
        for f in decode_all(&final_snapshots(&core)) {
            prop_assert!(f.recency_days >= 0.0);
            prop_assert!(f.first_seen <= f.last_seen);
        }
    }
}

#[test]
fn churn_and_value_models_are_fitted_per_shop_and_used() {
    let events = generate(&GenConfig::small());
    let core = fold_all(&events);
    let tenant = &events[0].tenant_id;
    let models = core
        .models(tenant)
        .expect("the sample shop has enough buyers");
    assert!(models.buyers >= 50);
    let mut repeat_with_clv = 0;
    for c in core.buyers(tenant) {
        let f = core.features(tenant, &c).unwrap();
        let p = f.p_alive.expect("buyers get P(alive)");
        assert!((0.0..=1.0).contains(&p), "{p}");
        assert!(f.expected_orders_90d.unwrap() >= 0.0);
        if f.orders > 1 && f.clv_12m_minor.is_some_and(|v| v > 0) {
            repeat_with_clv += 1;
        }
    }
    assert!(
        repeat_with_clv > 10,
        "repeat buyers get a positive 12-month CLV"
    );
    // Customers without an order get no churn figures.
    let browsers: Vec<_> = core
        .customers()
        .into_iter()
        .filter(|(t, c)| core.features(t, c).unwrap().orders == 0)
        .collect();
    assert!(!browsers.is_empty());
    assert!(
        browsers
            .iter()
            .all(|(t, c)| core.features(t, c).unwrap().p_alive.is_none())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_app_rebuilds_its_state_from_the_log_and_goes_on() {
    use mindset_pipeline::{
        Log, embedded::EmbeddedLog, publish::publish, shell::RunOptions, shutdown::Shutdown,
    };
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let log = Log::Embedded(EmbeddedLog::open(dir.path().join("log.redb")).unwrap());
    log.ensure_topics(&mindset_topics::all()).await.unwrap();
    let events = generate(&GenConfig::small());
    let (first, rest) = events.split_at(2_000);
    let opts = RunOptions {
        poll_timeout: Duration::from_millis(50),
        stop_when_caught_up: true,
        ..RunOptions::default()
    };
    publish(&log.producer().unwrap(), first, 1_000)
        .await
        .unwrap();
    let one = mindset_enrich::run(&log, EnrichConfig::default(), &opts, Shutdown::new())
        .await
        .unwrap();
    assert_eq!(one.consumed, 2_000);
    publish(&log.producer().unwrap(), rest, 1_000)
        .await
        .unwrap();
    // A new process: the state of the first 2,000 events comes back from the log.
    let two = mindset_enrich::run(&log, EnrichConfig::default(), &opts, Shutdown::new())
        .await
        .unwrap();
    assert_eq!(
        two.consumed as usize,
        rest.len(),
        "only the new events are consumed"
    );
    // The latest snapshot per customer equals what one uninterrupted pass computes.
    let whole = fold_all(&events);
    let spec = &mindset_topics::CUSTOMER_FEATURES.spec;
    let mut c = log.consumer("check", &[spec]).unwrap();
    let mut latest = std::collections::BTreeMap::new();
    loop {
        let b = c.poll(10_000, Duration::from_millis(300)).await.unwrap();
        if b.is_empty() {
            break;
        }
        for m in b {
            latest.insert(m.key.clone(), CustomerFeatures::decode(&m.value).unwrap());
        }
    }
    assert_eq!(latest.len(), whole.customers().len());
    for f in latest.values() {
        let expected = whole.features(&f.tenant_id, &f.customer_key).unwrap();
        assert_eq!(f.orders, expected.orders, "{}", f.customer_key);
        assert_eq!(f.events, expected.events, "{}", f.customer_key);
        assert_eq!(
            f.monetary_minor, expected.monetary_minor,
            "{}",
            f.customer_key
        );
    }
}
