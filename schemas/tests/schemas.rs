//! The schemas are the source of truth: these tests check the Rust types against them, that released
//! versions never change, and that every version can read its neighbours' data.

use apache_avro::{Schema, schema_compatibility::SchemaCompatibility};
use mindset_schemas::{examples::*, *};
use proptest::prelude::*;

fn all_examples() -> Vec<CanonicalEvent> {
    let mut out = Vec::new();
    for (i, p) in every_payload(true)
        .into_iter()
        .chain(every_payload(false))
        .enumerate()
    {
        let customer = (!p.is_catalog()).then_some("cust-1");
        out.push(event("shop-1", customer, i as u64, p));
    }
    out
}

#[test]
fn every_payload_round_trips_through_the_latest_schema() {
    for ev in all_examples() {
        let bytes = ev
            .encode()
            .unwrap_or_else(|e| panic!("{}: {e}", ev.payload.type_name()));
        assert_eq!(bytes[..2], SINGLE_OBJECT_MAGIC);
        let back = CanonicalEvent::decode(&bytes).unwrap();
        assert_eq!(back, ev, "{}", ev.payload.type_name());
    }
}

#[test]
fn every_payload_type_of_the_schema_has_a_rust_type_and_back() {
    let Schema::Record(r) = &CANONICAL_EVENT.latest().schema else {
        panic!()
    };
    let Schema::Union(u) = &r.fields[r.lookup["payload"]].schema else {
        panic!()
    };
    let schema_names: Vec<String> = u
        .variants()
        .iter()
        .map(|s| match s {
            Schema::Record(r) => r.name.name.clone(),
            other => panic!("non-record payload {other:?}"),
        })
        .collect();
    let rust_names: Vec<String> = every_payload(true)
        .iter()
        .map(|p| p.type_name().to_owned())
        .collect();
    assert_eq!(schema_names, rust_names);
}

#[test]
fn released_versions_match_the_lock_file() {
    let lock = include_str!("../avro/fingerprints.lock");
    let mut problems = Vec::new();
    for family in families() {
        for v in &family.versions {
            let line = format!("{} v{} {:016x}", family.name, v.version, v.fingerprint);
            let prefix = format!("{} v{} ", family.name, v.version);
            match lock.lines().find(|l| l.starts_with(&prefix)) {
                Some(l) if l.trim() == line => {}
                Some(l) => problems.push(format!(
                    "{} v{} changed after release (lock: `{l}`, now `{line}`): add a new version instead",
                    family.name, v.version
                )),
                None => problems.push(format!("missing lock line: {line}")),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn each_version_reads_the_previous_one_and_the_previous_reads_it() {
    for family in families() {
        for pair in family.versions.windows(2) {
            let (old, new) = (&pair[0], &pair[1]);
            SchemaCompatibility::can_read(&old.schema, &new.schema).unwrap_or_else(|e| {
                panic!(
                    "{} v{} cannot read v{} data: {e}",
                    family.name, new.version, old.version
                )
            });
            // Forward: old readers read new data, except for payload types the new version
            // adds (Avro cannot read an unknown union branch); those are checked on data below
            // and need readers upgraded before producers write them.
            let adds_payload_types = family.name == "canonical_event"
                && mindset_schemas::canonical_payload_types(new.version).len()
                    > mindset_schemas::canonical_payload_types(old.version).len();
            if !adds_payload_types {
                SchemaCompatibility::can_read(&new.schema, &old.schema).unwrap_or_else(|e| {
                    panic!(
                        "{} v{} readers cannot read v{} data: {e}",
                        family.name, old.version, new.version
                    )
                });
            }
        }
    }
}

#[test]
fn old_data_is_upcast_and_old_readers_read_new_data() {
    let latest = CANONICAL_EVENT.latest_version();
    for version in 1..latest {
        let known = mindset_schemas::canonical_payload_types(version);
        for ev in all_examples() {
            let latest_bytes = ev.encode().unwrap();
            if !known.iter().any(|t| t == ev.payload.type_name()) {
                // A payload type added after `version`: an old reader refuses it with a reason
                // (poison for that reader: it goes to the dead-letter topic, nothing is lost).
                let err = CanonicalEvent::decode_as(&latest_bytes, version).unwrap_err();
                assert!(
                    matches!(err, DecodeError::Shape { .. } | DecodeError::Corrupt { .. }),
                    "v{version} reader on {}: {err}",
                    ev.payload.type_name()
                );
                continue;
            }
            // Old writer, latest reader: fields the old version lacked come back as defaults.
            let old = ev.encode_version(version).unwrap();
            let up = CanonicalEvent::decode(&old).unwrap();
            assert_eq!(up.schema_version, version as i32);
            let mut expected = ev.clone();
            expected.schema_version = version as i32;
            match &mut expected.payload {
                Payload::ReviewPosted(r) if version < 2 => r.language = None,
                Payload::MessageReceived(m) => {
                    if version < 2 {
                        m.language = None;
                    }
                    if version < 3 {
                        m.author = MessageAuthor::Customer;
                    }
                }
                _ => {}
            }
            assert_eq!(
                up,
                expected,
                "v{version} data of {}",
                ev.payload.type_name()
            );

            // Latest writer, old reader (a consumer not yet upgraded): it sees what it knows.
            let seen_by_old = CanonicalEvent::decode_as(&latest_bytes, version)
                .unwrap_or_else(|e| panic!("v{version} reader on {}: {e}", ev.payload.type_name()));
            expected.schema_version = latest as i32;
            assert_eq!(
                seen_by_old,
                expected,
                "v{version} reader of {}",
                ev.payload.type_name()
            );
        }
    }
}

#[test]
fn bad_bytes_are_poison_with_a_reason() {
    let err = CanonicalEvent::decode(b"{\"json\": true}").unwrap_err();
    assert!(matches!(err, DecodeError::NotAvro { .. }), "{err}");

    let mut unknown = all_examples()[0].encode().unwrap();
    unknown[2..10].copy_from_slice(&0xdead_beef_u64.to_le_bytes());
    let err = CanonicalEvent::decode(&unknown).unwrap_err();
    assert!(matches!(err, DecodeError::UnknownSchema { .. }), "{err}");
    assert!(err.to_string().contains("00000000deadbeef"));

    let raw = RawPayload {
        raw_id: "r".into(),
        tenant_id: "t".into(),
        platform: "shopify".into(),
        source: "orders/create".into(),
        received_at: 1,
        headers: [("x-shopify-topic".to_owned(), "orders/create".to_owned())].into(),
        content_type: Some("application/json".into()),
        body: b"{}".to_vec(),
    };
    let bytes = raw.encode().unwrap();
    assert_eq!(RawPayload::decode(&bytes).unwrap(), raw);
    let err = CanonicalEvent::decode(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::WrongFamily {
                found: "raw_payload",
                ..
            }
        ),
        "{err}"
    );

    let good = all_examples()[1].encode().unwrap();
    // Cuts inside the datum. (apache-avro reads end-of-input where a trailing optional field's union
    // index should be as null, so a cut exactly there is not detectable; log records carry exact
    // lengths, so such truncation does not arise in transport.)
    for cut in [11, good.len() / 2] {
        let Err(err) = CanonicalEvent::decode(&good[..cut]) else {
            panic!("cut at {cut} of {} decoded", good.len())
        };
        assert!(
            matches!(err, DecodeError::Corrupt { .. }),
            "cut at {cut}: {err}"
        );
    }
    let mut long = good.clone();
    long.push(0);
    assert!(matches!(
        CanonicalEvent::decode(&long),
        Err(DecodeError::Corrupt { .. })
    ));
}

#[test]
fn event_ids_are_deterministic_and_distinct() {
    let a = event_id("shop", Platform::Shopify, "OrderPlaced", &["1"]);
    assert_eq!(
        a,
        event_id("shop", Platform::Shopify, "OrderPlaced", &["1"])
    );
    assert_ne!(
        a,
        event_id("shop", Platform::Shopify, "OrderPlaced", &["2"])
    );
    assert_ne!(
        a,
        event_id("shop", Platform::Woocommerce, "OrderPlaced", &["1"])
    );
    assert_ne!(
        event_id("s", Platform::Shopify, "X", &["ab", "c"]),
        event_id("s", Platform::Shopify, "X", &["a", "bc"])
    );
    assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 5);
}

#[test]
fn json_form_is_tagged_by_type() {
    let ev = &all_examples()[1];
    let json = serde_json::to_value(ev).unwrap();
    assert_eq!(json["payload"]["type"], "OrderPlaced");
    let back: CanonicalEvent = serde_json::from_value(json).unwrap();
    assert_eq!(&back, ev);
}

proptest! {
    #[test]
    fn arbitrary_orders_round_trip(
        order_id in "\\PC{1,24}",
        qty in 1i32..1000,
        price in 0i64..10_000_000,
        codes in proptest::collection::vec("[A-Z0-9]{1,10}", 0..4),
        occurred in 0i64..4_000_000_000_000,
        customer in proptest::option::of("[a-z0-9:@.]{1,40}"),
    ) {
        let payload = Payload::OrderPlaced(OrderPlaced {
            order_id,
            order_number: None,
            currency: "INR".into(),
            lines: vec![OrderLine {
                product_id: "p".into(), variant_id: None, sku: None, title: "t".into(),
                category: None, brand: None, quantity: qty, unit_price_minor: price, discount_minor: 0,
            }],
            subtotal_minor: price * qty as i64,
            discount_minor: 0, shipping_minor: 0, tax_minor: 0,
            total_minor: price * qty as i64,
            discount_codes: codes,
            financial_status: "paid".into(),
            is_test: false, guest: customer.is_none(), checkout_id: None, channel: None,
        });
        let mut ev = event("shop", customer.as_deref(), 7, payload);
        ev.occurred_at = occurred;
        let back = CanonicalEvent::decode(&ev.encode().unwrap()).unwrap();
        prop_assert_eq!(back, ev);
    }
}

#[test]
fn customer_features_round_trip() {
    let f = CustomerFeatures {
        tenant_id: "shop".into(),
        customer_key: "email:a@b.c".into(),
        feature_version: 1,
        as_of: 1_700_000_000_000,
        shop_clock: 1_700_000_100_000,
        events: 12,
        first_seen: 1_690_000_000_000,
        last_seen: 1_700_000_000_000,
        shop_currency: "USD".into(),
        orders: 3,
        first_order_at: Some(1_691_000_000_000),
        last_order_at: None,
        monetary_minor: 12_345,
        avg_order_value_minor: 4_115,
        units: 7,
        avg_basket_units: 2.33,
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
        browse_to_buy: 6.7,
        mean_days_between_orders: Some(12.5),
        active_hour: 22,
        night_share: 0.4,
        reviews: 1,
        mean_rating: None,
        messages: 2,
        recency_days: 3.5,
        r_score: 5,
        f_score: 4,
        m_score: 3,
        spend_percentile: 0.61,
        price_tier: -1.0,
        p_alive: Some(0.93),
        expected_orders_90d: None,
        clv_12m_minor: Some(9_000),
        texts: 3,
        sentiment_mean: Some(0.25),
        sentiment_recent: Some(-0.5),
        sentiment_trend: None,
        negative_share: 1.0 / 3.0,
        emotions: Some(mindset_schemas::insights::EmotionScores::from_array([
            0.1, 0.1, 0.1, 0.3, 0.2, 0.1, 0.1,
        ])),
        dominant_emotion: Some("joy".into()),
        ocean: Some(mindset_schemas::insights::BigFive::from_array([
            0.5, 0.6, 0.7, 0.4, 0.3,
        ])),
        ocean_confidence: None,
        ocean_cues: vec![mindset_schemas::features::TraitCue {
            trait_: "extraversion".into(),
            cue: "Am the life of the party. (+)".into(),
            event_id: "e-7".into(),
            contribution: 0.12,
        }],
        merged_into: None,
        dropped: [("test_order".to_owned(), 2)].into(),
    };
    let bytes = f.encode().unwrap();
    assert_eq!(CustomerFeatures::decode(&bytes).unwrap(), f);
    let via_reference: CustomerFeatures =
        mindset_schemas::reference::decode_value(&mindset_schemas::CUSTOMER_FEATURES, &bytes)
            .unwrap();
    assert_eq!(via_reference, f);
    // A v1 snapshot reads as v2 with the text fields at their defaults.
    let v1 = mindset_schemas::CUSTOMER_FEATURES.version(1).unwrap();
    let mut old = f.clone();
    old.texts = 0;
    old.sentiment_mean = None;
    old.sentiment_recent = None;
    old.negative_share = 0.0;
    old.emotions = None;
    old.dominant_emotion = None;
    old.ocean = None;
    old.ocean_cues = Vec::new();
    let value = apache_avro::to_value(&old)
        .unwrap()
        .resolve(&v1.schema)
        .unwrap();
    let v1_bytes = mindset_schemas::CUSTOMER_FEATURES
        .write_value(1, value)
        .unwrap();
    assert_ne!(v1_bytes[2..10], bytes[2..10], "written as v1");
    assert_eq!(CustomerFeatures::decode(&v1_bytes).unwrap(), old);
}

fn insight(emotions: bool, traits: bool) -> TextInsight {
    use mindset_schemas::insights::*;
    TextInsight {
        event_id: "e-1".into(),
        tenant_id: "shop".into(),
        customer_key: "email:a@b.c".into(),
        occurred_at: 1_700_000_000_000,
        kind: TextKind::Review,
        product_id: Some("p-9".into()),
        chars: 42,
        sentiment: SentimentScore {
            label: SentimentLabel::Negative,
            score: -0.75,
            source: SentimentSource::Model,
        },
        emotions: emotions
            .then(|| EmotionScores::from_array([0.4, 0.1, 0.05, 0.05, 0.2, 0.15, 0.05])),
        traits: traits.then(|| TraitEvidence {
            signal: BigFive::from_array([0.1, -0.2, 0.3, -0.4, 0.5]),
            weight: BigFive::from_array([0.0, 0.5, 1.0, 0.25, 0.75]),
            cues: vec![
                Cue {
                    trait_: Trait::Neuroticism,
                    cue: "Get upset easily. (+)".into(),
                    contribution: 0.3,
                },
                Cue {
                    trait_: Trait::Agreeableness,
                    cue: "Insult people. (-)".into(),
                    contribution: -0.2,
                },
            ],
        }),
        models: "sentiment-minilm-vader@abc;zero-shot-minilm".into(),
    }
}

#[test]
fn text_insight_round_trips_and_matches_apache_avro() {
    for (e, t) in [(false, false), (true, false), (false, true), (true, true)] {
        let i = insight(e, t);
        let bytes = i.encode().unwrap();
        assert_eq!(TextInsight::decode(&bytes).unwrap(), i);
        // The hand-written codec writes what apache-avro reads with the .avsc.
        let via_reference: TextInsight =
            mindset_schemas::reference::decode_value(&mindset_schemas::TEXT_INSIGHT, &bytes)
                .unwrap();
        assert_eq!(via_reference, i);
    }
}
