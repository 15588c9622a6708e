//! Text insights folded into customers: sentiment level and trend, the emotion mix, and Big Five
//! scores with confidence and cues, the same whatever order insights and events arrive in.

use mindset_pipeline::{Message, shell::Processor};
use mindset_sample_events::{GenConfig, generate};
use mindset_schemas::{
    CanonicalEvent,
    insights::{BigFive, Cue, EmotionScores, SentimentLabel, Trait, TraitEvidence},
};
use mindset_topics::{CustomerKey, KeyCodec, TEXT_INSIGHTS, route};
use rand::{SeedableRng, seq::SliceRandom};

mod support;
use support::insight_for;

use mindset_enrich::{
    EnrichApp,
    core::{Applied, Enrich, EnrichConfig},
};

fn message(topic: &str, key: Vec<u8>, value: Vec<u8>, offset: u64) -> Message {
    Message {
        topic: topic.to_owned(),
        partition: 0,
        offset,
        key,
        value,
        headers: Vec::new(),
        timestamp_ms: 0,
    }
}

/// The sample shop's events and one insight per customer text, as log messages.
fn shop_messages() -> (Vec<Message>, usize) {
    let events = generate(&GenConfig::small());
    let mut msgs = Vec::new();
    let mut texts = 0;
    for (i, ev) in events.iter().enumerate() {
        let (topic, key) = route(ev).unwrap();
        msgs.push(message(topic.name, key, ev.encode().unwrap(), i as u64));
        if ev.payload.customer_text().is_some() {
            let ins = insight_for(ev, texts);
            texts += 1;
            let key = CustomerKey::new(&ins.tenant_id, &ins.customer_key).encode_key();
            msgs.push(message(
                TEXT_INSIGHTS.spec.name,
                key,
                ins.encode().unwrap(),
                i as u64,
            ));
        }
    }
    (msgs, texts)
}

/// Every customer's final snapshot after folding `msgs` in, in key order.
fn final_snapshots(msgs: &[Message]) -> Vec<Vec<u8>> {
    let mut app = EnrichApp::new(EnrichConfig::default());
    for m in msgs {
        app.handle(m, 0).unwrap();
    }
    app.refit();
    let core = app.core();
    core.customers()
        .into_iter()
        .filter_map(|(t, c)| core.features(&t, &c))
        .map(|f| f.encode().unwrap())
        .collect()
}

#[test]
fn insights_fold_in_the_same_in_any_order_and_repeats_change_nothing() {
    let (msgs, texts) = shop_messages();
    assert!(texts > 50, "the sample shop has texts: {texts}");
    let reference = final_snapshots(&msgs);
    let features: Vec<_> = reference
        .iter()
        .map(|b| mindset_schemas::CustomerFeatures::decode(b).unwrap())
        .collect();
    assert_eq!(
        features.iter().map(|f| f.texts as usize).sum::<usize>(),
        texts
    );

    let mut shuffled = msgs.clone();
    shuffled.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(7));
    assert_eq!(
        final_snapshots(&shuffled),
        reference,
        "arrival order changed a snapshot"
    );

    let mut doubled = msgs.clone();
    doubled.extend(
        msgs.iter()
            .filter(|m| m.topic == TEXT_INSIGHTS.spec.name)
            .cloned(),
    );
    assert_eq!(
        final_snapshots(&doubled),
        reference,
        "a repeated insight changed a snapshot"
    );
}

#[test]
fn given_texts_then_sentiment_trend_emotions_and_traits_follow_them() {
    let events = generate(&GenConfig::small());
    let text_events: Vec<&CanonicalEvent> = events
        .iter()
        .filter(|e| e.payload.customer_text().is_some())
        .collect();
    let customer = text_events[0].customer_key.clone().unwrap();
    let mut core = Enrich::new(EnrichConfig::default());
    for e in &events {
        core.apply(e);
    }
    let tenant = text_events[0].tenant_id.clone();
    // Four texts of one customer, a day apart: two happy, then two angry.
    let mut at = 1_800_000_000_000;
    let mut ids = Vec::new();
    for (k, (score, dominant, signal, weight)) in [
        (0.8, 3, 0.6, 1.0),
        (0.6, 3, 0.2, 1.0),
        (-0.7, 0, -0.4, 2.0),
        (-0.9, 0, 0.0, 0.0),
    ]
    .into_iter()
    .enumerate()
    {
        let mut i = insight_for(text_events[0], 0);
        i.event_id = format!("text-{k}");
        i.customer_key = customer.clone();
        i.occurred_at = at;
        at += 86_400_000;
        i.sentiment.score = score;
        i.sentiment.label = if score < 0.0 {
            SentimentLabel::Negative
        } else {
            SentimentLabel::Positive
        };
        let mut mix = [0.05; 7];
        mix[dominant] = 0.7;
        i.emotions = Some(EmotionScores::from_array(mix));
        i.traits = Some(TraitEvidence {
            signal: BigFive::from_array([0.0, 0.0, signal, 0.0, 0.0]),
            weight: BigFive::from_array([0.0, 0.0, weight, 0.0, 0.0]),
            cues: vec![Cue {
                trait_: Trait::Extraversion,
                cue: format!("cue of text {k}"),
                contribution: signal,
            }],
        });
        ids.push(i.event_id.clone());
        assert_eq!(core.apply_insight(&i), Applied::Customer);
        assert_eq!(core.apply_insight(&i), Applied::Duplicate);
    }
    let f = core.features(&tenant, &customer).unwrap();
    assert_eq!(
        f.texts, 4,
        "events' texts count only once nlp made insights of them"
    );
    let mean = (0.8 + 0.6 - 0.7 - 0.9) / 4.0;
    assert!((f.sentiment_mean.unwrap() - mean).abs() < 1e-12);
    let recent = (0.6 - 0.7 - 0.9) / 3.0;
    assert!((f.sentiment_recent.unwrap() - recent).abs() < 1e-12);
    assert!((f.sentiment_trend.unwrap() - (recent - 0.8)).abs() < 1e-12);
    assert_eq!(f.negative_share, 0.5);
    // Two joy texts and two anger texts: an even mix; anger comes first in label order.
    let e = f.emotions.unwrap();
    assert!((e.joy - 0.375).abs() < 1e-12 && (e.anger - 0.375).abs() < 1e-12);
    assert_eq!(f.dominant_emotion.as_deref(), Some("anger"));
    // Extraversion: 0.5 + 0.5 * (1*0.6 + 1*0.2 + 2*-0.4 + 0) / 4 = 0.5; confidence 4 / (4 + 2).
    let o = f.ocean.unwrap();
    assert!((o.extraversion - 0.5).abs() < 1e-12, "{o:?}");
    assert_eq!(o.openness, 0.5, "no weight: the neutral middle");
    let c = f.ocean_confidence.unwrap();
    assert!((c.extraversion - 4.0 / 6.0).abs() < 1e-12);
    assert_eq!(c.openness, 0.0);
    // The two cues that moved extraversion most: text 2 (2 * -0.4) then text 0 (1 * 0.6).
    let cues: Vec<(&str, f64)> = f
        .ocean_cues
        .iter()
        .map(|c| (c.event_id.as_str(), c.contribution))
        .collect();
    assert_eq!(cues, vec![("text-2", -0.8), ("text-0", 0.6)]);
    assert!(f.ocean_cues.iter().all(|c| c.trait_ == "extraversion"));
}

#[test]
fn an_insight_before_its_customers_events_waits_for_them() {
    let events = generate(&GenConfig::small());
    let text = events
        .iter()
        .find(|e| e.payload.customer_text().is_some())
        .unwrap();
    let mut core = Enrich::new(EnrichConfig::default());
    let i = insight_for(text, 3);
    assert_eq!(core.apply_insight(&i), Applied::Customer);
    assert!(
        core.features(&i.tenant_id, &i.customer_key).is_none(),
        "no snapshot of a customer known only from an insight"
    );
    for e in &events {
        core.apply(e);
    }
    let f = core.features(&i.tenant_id, &i.customer_key).unwrap();
    assert!(f.texts >= 1);
    assert!(f.sentiment_mean.is_some());
}
