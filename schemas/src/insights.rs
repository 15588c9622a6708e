//! Rust type of `avro/text_insight/` (checked against apache-avro by `tests/schemas.rs`): what the
//! nlp stream-app read in one customer text.

use serde::{Deserialize, Serialize};

use crate::{DecodeError, EncodeError, TEXT_INSIGHT};

/// One insight per customer text (see the schema for each field's meaning).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextInsight {
    pub event_id: String,
    pub tenant_id: String,
    pub customer_key: String,
    pub occurred_at: i64,
    pub kind: TextKind,
    pub product_id: Option<String>,
    pub chars: i32,
    pub sentiment: SentimentScore,
    pub emotions: Option<EmotionScores>,
    pub traits: Option<TraitEvidence>,
    pub models: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TextKind {
    Review,
    Message,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SentimentLabel {
    Negative,
    Positive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SentimentSource {
    Model,
    Lexicon,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename = "Sentiment")]
pub struct SentimentScore {
    pub label: SentimentLabel,
    pub score: f64,
    pub source: SentimentSource,
}

/// A probability per emotion, in the schema's field order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename = "Emotions")]
pub struct EmotionScores {
    pub anger: f64,
    pub disgust: f64,
    pub fear: f64,
    pub joy: f64,
    pub neutral: f64,
    pub sadness: f64,
    pub surprise: f64,
}

impl EmotionScores {
    /// The labels, in field order.
    pub const LABELS: [&'static str; 7] = [
        "anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise",
    ];

    pub fn from_array(a: [f64; 7]) -> EmotionScores {
        let [anger, disgust, fear, joy, neutral, sadness, surprise] = a;
        EmotionScores {
            anger,
            disgust,
            fear,
            joy,
            neutral,
            sadness,
            surprise,
        }
    }

    pub fn to_array(&self) -> [f64; 7] {
        [
            self.anger,
            self.disgust,
            self.fear,
            self.joy,
            self.neutral,
            self.sadness,
            self.surprise,
        ]
    }
}

/// One value per Big Five trait, in the schema's field order.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BigFive {
    pub openness: f64,
    pub conscientiousness: f64,
    pub extraversion: f64,
    pub agreeableness: f64,
    pub neuroticism: f64,
}

impl BigFive {
    pub fn from_array(a: [f64; 5]) -> BigFive {
        let [
            openness,
            conscientiousness,
            extraversion,
            agreeableness,
            neuroticism,
        ] = a;
        BigFive {
            openness,
            conscientiousness,
            extraversion,
            agreeableness,
            neuroticism,
        }
    }

    pub fn to_array(&self) -> [f64; 5] {
        [
            self.openness,
            self.conscientiousness,
            self.extraversion,
            self.agreeableness,
            self.neuroticism,
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Trait {
    Openness,
    Conscientiousness,
    Extraversion,
    Agreeableness,
    Neuroticism,
}

impl Trait {
    pub const ALL: [Trait; 5] = [
        Trait::Openness,
        Trait::Conscientiousness,
        Trait::Extraversion,
        Trait::Agreeableness,
        Trait::Neuroticism,
    ];
}

/// What a text says about its writer's Big Five traits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraitEvidence {
    pub signal: BigFive,
    pub weight: BigFive,
    pub cues: Vec<Cue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cue {
    #[serde(rename = "trait")]
    pub trait_: Trait,
    pub cue: String,
    pub contribution: f64,
}

impl TextInsight {
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        Ok(crate::fast::single_object(
            TEXT_INSIGHT.latest().fingerprint,
            self,
        ))
    }

    pub fn decode(bytes: &[u8]) -> Result<TextInsight, DecodeError> {
        match crate::decode_latest(&TEXT_INSIGHT, bytes)? {
            Some(i) => Ok(i),
            None => crate::reference::decode_value(&TEXT_INSIGHT, bytes),
        }
    }
}
