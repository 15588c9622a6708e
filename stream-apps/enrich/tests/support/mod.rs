//! Shared by the enrich tests.

use mindset_schemas::{
    CanonicalEvent, TextInsight,
    insights::{
        BigFive, Cue, EmotionScores, SentimentLabel, SentimentScore, SentimentSource, TextKind,
        Trait, TraitEvidence,
    },
};

/// An insight for a text event of the sample shop, with made-up but deterministic readings.
pub fn insight_for(ev: &CanonicalEvent, n: usize) -> TextInsight {
    let score = ((n * 37) % 200) as f64 / 100.0 - 1.0;
    let e = (n % 7) as f64;
    let mut mix = [0.1; 7];
    mix[n % 7] = 0.4;
    TextInsight {
        event_id: ev.event_id.clone(),
        tenant_id: ev.tenant_id.clone(),
        customer_key: ev.customer_key.clone().unwrap(),
        occurred_at: ev.occurred_at,
        kind: TextKind::Review,
        product_id: None,
        chars: 20,
        sentiment: SentimentScore {
            label: if score < 0.0 {
                SentimentLabel::Negative
            } else {
                SentimentLabel::Positive
            },
            score,
            source: SentimentSource::Lexicon,
        },
        emotions: Some(EmotionScores::from_array(mix)),
        traits: Some(TraitEvidence {
            signal: BigFive::from_array([0.5, -0.5, e / 7.0, -e / 7.0, 0.25]),
            weight: BigFive::from_array([0.2, 0.4, 0.6, 0.0, 1.0]),
            cues: vec![Cue {
                trait_: Trait::Extraversion,
                cue: format!("cue {}", n % 3),
                contribution: e / 7.0,
            }],
        }),
        models: "test".into(),
    }
}
