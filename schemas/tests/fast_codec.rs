//! The direct codec writes exactly what apache-avro writes, and reads it back the same.

use mindset_schemas::{examples::*, reference, *};
use proptest::prelude::*;

fn all_examples() -> Vec<CanonicalEvent> {
    every_payload(true)
        .into_iter()
        .chain(every_payload(false))
        .enumerate()
        .map(|(i, p)| {
            let customer = (!p.is_catalog()).then_some("cust-1");
            event("shop-1", customer, i as u64, p)
        })
        .collect()
}

#[test]
fn canonical_events_match_apache_avro_byte_for_byte() {
    for ev in all_examples() {
        let fast = ev.encode().unwrap();
        let reference = reference::encode_canonical(&ev).unwrap();
        assert_eq!(fast, reference, "{}", ev.payload.type_name());
        assert_eq!(
            CanonicalEvent::decode(&reference).unwrap(),
            reference::decode_canonical(&fast).unwrap()
        );
        assert_eq!(CanonicalEvent::decode(&fast).unwrap(), ev);
    }
}

#[test]
fn the_reusing_decoder_returns_what_decode_returns() {
    // Every payload with its optional fields set, then unset, then set again: each event is
    // decoded over the last one of its type, with longer and shorter strings, lists and options.
    let set = all_examples();
    let mut events: Vec<Vec<u8>> = Vec::new();
    for round in 0..3 {
        for (i, ev) in set.iter().enumerate() {
            let mut ev = ev.clone();
            ev.event_id = format!("{}-{}", ev.event_id, "x".repeat((i + round * 7) % 13));
            events.push(ev.encode().unwrap());
        }
    }
    // An older version goes through apache-avro.
    events.push(set[1].encode_version(1).unwrap());
    let mut d = CanonicalDecoder::new();
    for bytes in &events {
        assert_eq!(
            *d.decode(bytes).unwrap(),
            CanonicalEvent::decode(bytes).unwrap()
        );
    }
    // A corrupt event is an error, and the next good one decodes whole.
    let good = set[1].encode().unwrap();
    let cut = &good[..good.len() - 3];
    assert!(d.decode(cut).is_err());
    assert_eq!(*d.decode(&good).unwrap(), set[1]);
    assert!(d.decode(&good[..5]).is_err());
}

#[test]
fn older_versions_still_decode_through_apache_avro() {
    for version in 1..CANONICAL_EVENT.latest_version() {
        let known = mindset_schemas::canonical_payload_types(version);
        for ev in all_examples() {
            if !known.iter().any(|t| t == ev.payload.type_name()) {
                // Payload types added later cannot be written with an older schema.
                assert!(ev.encode_version(version).is_err());
                continue;
            }
            let old = ev.encode_version(version).unwrap();
            assert_eq!(
                CanonicalEvent::decode(&old).unwrap().schema_version,
                version as i32
            );
        }
    }
}

fn features(seed: i64) -> CustomerFeatures {
    let some = seed % 2 == 0;
    CustomerFeatures {
        tenant_id: format!("shop-{seed}"),
        customer_key: "email:a@b.c".into(),
        feature_version: 1,
        as_of: 1_700_000_000_000 + seed,
        shop_clock: 1_700_000_100_000,
        events: 12 + seed,
        first_seen: 1_690_000_000_000,
        last_seen: 1_700_000_000_000,
        shop_currency: "EUR".into(),
        orders: 3,
        first_order_at: some.then_some(1_691_000_000_000),
        last_order_at: (!some).then_some(-5),
        monetary_minor: -12_345 * seed,
        avg_order_value_minor: 4_115,
        units: 7,
        avg_basket_units: 2.33 / (seed as f64 + 1.0),
        categories: 2,
        discount_order_share: 0.5,
        refunds: 1,
        refunded_minor: 100,
        return_rate: 0.33,
        carts: 4,
        checkouts_started: 4,
        checkouts_completed: 3,
        cart_abandonment_rate: 0.25,
        product_views: 20,
        searches: 5,
        browse_to_buy: f64::MAX,
        mean_days_between_orders: some.then_some(12.5),
        active_hour: -1,
        night_share: 0.4,
        reviews: 1,
        mean_rating: (!some).then_some(4.5),
        messages: 2,
        recency_days: 3.5,
        r_score: 5,
        f_score: 4,
        m_score: 3,
        spend_percentile: 0.61,
        price_tier: -1.0,
        p_alive: some.then_some(0.93),
        expected_orders_90d: None,
        clv_12m_minor: Some(i64::MIN),
        texts: seed as i32,
        sentiment_mean: some.then_some(-0.25),
        sentiment_recent: some.then_some(0.5),
        sentiment_trend: (!some).then_some(0.75),
        negative_share: 0.5,
        emotions: some.then(|| {
            mindset_schemas::insights::EmotionScores::from_array([
                0.1, 0.2, 0.1, 0.2, 0.2, 0.1, 0.1,
            ])
        }),
        dominant_emotion: some.then(|| "disgust".to_owned()),
        ocean: (!some)
            .then(|| mindset_schemas::insights::BigFive::from_array([0.1, 0.2, 0.3, 0.4, 0.5])),
        ocean_confidence: (!some)
            .then(|| mindset_schemas::insights::BigFive::from_array([0.5, 0.4, 0.3, 0.2, 0.1])),
        ocean_cues: (0..seed % 3)
            .map(|k| mindset_schemas::features::TraitCue {
                trait_: "openness".into(),
                cue: format!("cue {k}"),
                event_id: format!("e{k}"),
                contribution: -0.5 * k as f64,
            })
            .collect(),
        merged_into: (seed == 3).then(|| "email:b@c.d".to_owned()),
        dropped: match seed % 3 {
            0 => [("test_order".to_owned(), 2), ("x".to_owned(), 1)].into(),
            1 => [("unknown_currency".to_owned(), 7)].into(),
            _ => Default::default(),
        },
    }
}

#[test]
fn features_and_raw_payloads_match_apache_avro() {
    for seed in 0..6 {
        let f = features(seed);
        let fast = f.encode().unwrap();
        let reference_bytes = reference::encode_value(&CUSTOMER_FEATURES, &f).unwrap();
        // apache-avro writes map entries in HashMap order; the direct codec in key order (so a
        // replay is byte-identical). With one entry or none the bytes must be the same.
        if f.dropped.len() <= 1 {
            assert_eq!(fast, reference_bytes);
        }
        assert_eq!(CustomerFeatures::decode(&reference_bytes).unwrap(), f);
        assert_eq!(CustomerFeatures::decode(&fast).unwrap(), f);
        let back: CustomerFeatures = reference::decode_value(&CUSTOMER_FEATURES, &fast).unwrap();
        assert_eq!(back, f);
    }
    let raw = RawPayload {
        raw_id: "r".into(),
        tenant_id: "t".into(),
        platform: "shopify".into(),
        source: "orders/create".into(),
        received_at: 1,
        headers: [
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "2".to_owned()),
        ]
        .into(),
        content_type: None,
        body: (0..=255u8).collect(),
    };
    let fast = raw.encode().unwrap();
    let reference_bytes = reference::encode_value(&RAW_PAYLOAD, &raw).unwrap();
    assert_eq!(fast.len(), reference_bytes.len());
    assert_eq!(RawPayload::decode(&reference_bytes).unwrap(), raw);
    let one_header = RawPayload {
        headers: [("a".to_owned(), "1".to_owned())].into(),
        ..raw.clone()
    };
    assert_eq!(
        one_header.encode().unwrap(),
        reference::encode_value(&RAW_PAYLOAD, &one_header).unwrap()
    );
    assert_eq!(RawPayload::decode(&fast).unwrap(), raw);
}

proptest! {
    #[test]
    fn garbage_after_a_valid_header_is_an_error_not_a_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut bytes = SINGLE_OBJECT_MAGIC.to_vec();
        bytes.extend_from_slice(&CANONICAL_EVENT.latest().fingerprint.to_le_bytes());
        bytes.extend_from_slice(&body);
        let _ = CanonicalEvent::decode(&bytes);
        let mut f = SINGLE_OBJECT_MAGIC.to_vec();
        f.extend_from_slice(&CUSTOMER_FEATURES.latest().fingerprint.to_le_bytes());
        f.extend_from_slice(&body);
        let _ = CustomerFeatures::decode(&f);
    }

    #[test]
    fn truncated_or_flipped_events_never_panic(idx in 0usize..30, cut in 0usize..400, flip in 0usize..400) {
        let evs = all_examples();
        let good = evs[idx % evs.len()].encode().unwrap();
        let _ = CanonicalEvent::decode(&good[..cut.min(good.len())]);
        let mut bad = good.clone();
        let i = 10 + flip % (bad.len() - 10);
        bad[i] ^= 0xff;
        let _ = CanonicalEvent::decode(&bad);
        let mut d = CanonicalDecoder::new();
        let _ = d.decode(&good);
        prop_assert_eq!(d.decode(&bad).ok().cloned(), CanonicalEvent::decode(&bad).ok());
    }

    #[test]
    fn arbitrary_text_matches_the_reference(text in "\\PC{0,200}", rating in 1i32..=5, lang in proptest::option::of("[a-z]{2}")) {
        let ev = event("s", Some("c"), 3, Payload::ReviewPosted(ReviewPosted {
            review_id: text.clone(), product_id: None, rating, title: Some(text.clone()), text,
            verified_purchase: rating > 3, language: lang,
        }));
        prop_assert_eq!(ev.encode().unwrap(), reference::encode_canonical(&ev).unwrap());
    }
}
