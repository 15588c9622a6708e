//! The nlp stream-app: one insight per customer text (sentiment, emotions, Big Five evidence) to
//! `text.insights.v1`. Sentiment comes from a MiniLM model Mindset fine-tunes itself on the VADER
//! human-rated sentences ([`sentiment`]), or from the VADER lexicon ([`lexicon`]) when that model has
//! not been prepared. [`core`] is the pure part; [`NlpApp`] is its shell on the log, with the
//! models on the batching thread of [`batch`].

pub mod batch;
pub mod core;
pub mod data;
pub mod distilbert;
pub mod emotion;
pub mod encoder;
pub mod lexicon;
pub mod ocean;
pub mod probe;
pub mod progress;
pub mod roberta;
pub mod sentiment;
pub mod zero_shot;

mod app;
pub use app::{NlpApp, NlpConfig, run, to_record};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const NAME: &str = "nlp";

/// Two-way sentiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    Negative,
    Positive,
}

/// A label with a signed score in [-1, 1]: for the trained model P(positive) − P(negative), for the
/// lexicon VADER's compound score.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Polarity {
    pub label: Label,
    pub score: f32,
}

/// The seven emotion labels (Ekman's six plus neutral), in this order wherever scores are an array:
/// the labels of emotion-english-distilroberta-base, so a user's converted checkpoint maps one to one.
pub const EMOTIONS: [&str; 7] = [
    "anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise",
];

/// A probability per label of [`EMOTIONS`] (they sum to 1).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Emotions {
    pub scores: [f32; 7],
}

impl Emotions {
    /// The label with the highest score and that score.
    pub fn dominant(&self) -> (&'static str, f32) {
        let (i, s) = self
            .scores
            .iter()
            .enumerate()
            .fold(
                (0, f32::MIN),
                |best, (i, &s)| if s > best.1 { (i, s) } else { best },
            );
        (EMOTIONS[i], s)
    }
}

/// The Big Five traits, in this order wherever traits are an array.
pub const TRAITS: [&str; 5] = [
    "openness",
    "conscientiousness",
    "extraversion",
    "agreeableness",
    "neuroticism",
];

/// What one text says about its writer's Big Five traits. A customer's trait scores are the
/// weight-averaged signals of all their texts (enrich accumulates them), so each text's part in a
/// score is its `weight` and `signal`, and `cues` say why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraitEvidence {
    /// Per trait, in [-1, 1]: where this text places its writer, from low (-1) to high (+1).
    pub signal: [f32; 5],
    /// Per trait, ≥ 0: how much the text says about the trait (0: nothing, so it leaves the score).
    pub weight: [f32; 5],
    /// The strongest cues behind the signals, strongest first.
    pub cues: Vec<Cue>,
}

/// One reason a text moved a trait: the item or cue it matched and its share of the signal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cue {
    /// Index into [`TRAITS`].
    pub trait_index: u8,
    /// What matched, e.g. an IPIP item ("Am the life of the party.", keyed +) or a cue word.
    pub cue: String,
    /// Signed share of the signal: + raises the trait, - lowers it.
    pub contribution: f32,
}

#[derive(Debug, thiserror::Error)]
pub enum NlpError {
    #[error(transparent)]
    Data(#[from] data::DataError),
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no prepared model in {0} (run `mindset models prepare`)")]
    NotPrepared(PathBuf),
    #[error("model: {0}")]
    Model(String),
}

impl From<tch::TchError> for NlpError {
    fn from(e: tch::TchError) -> Self {
        NlpError::Model(e.to_string())
    }
}

/// `$MINDSET_CACHE`, else `$HOME/.cache/mindset` (as in infra/lib.sh).
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MINDSET_CACHE") {
        return dir.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".cache/mindset")
}

/// The sentiment analyzer to run: the prepared model in `dir`, or VADER when there is none there
/// (logged, so a missing `mindset models prepare` is visible).
pub fn load_analyzer(dir: &Path) -> Box<dyn core::Analyzer> {
    match sentiment::Sentiment::load(dir) {
        Ok(model) => Box::new(model),
        Err(e) => {
            tracing::warn!(error = %e, "sentiment model unavailable; falling back to the VADER lexicon");
            Box::new(lexicon::Lexicon::new())
        }
    }
}

/// The models the app runs: the sentiment analyzer of [`load_analyzer`], and the emotion and
/// trait reader ([`zero_shot::TextReader`]) from the MiniLM weights and the IPIP items
/// (`$MINDSET_NLP_MODEL`, `$MINDSET_NLP_IPIP`), with a user's RoBERTa emotion checkpoint when
/// `$MINDSET_NLP_EMOTION_MODEL` names one. Without the weights or items the app runs without the
/// reader (logged; insights then carry no emotions or traits). A configured RoBERTa folder that
/// does not load is an error. Both MiniLM models run in the precision `$MINDSET_NLP_PRECISION`
/// chooses ([`encoder::Precision`]: bf16 on CPUs with native bf16 arithmetic unless it says `f32`);
/// a value other than `auto`, `f32`, `bf16` or `int8` is an error.
pub fn load_models(sentiment_dir: &Path) -> Result<core::Models, NlpError> {
    let precision = encoder::Precision::configured()?;
    tracing::info!(
        precision = precision.name(),
        "nlp models run in {}",
        precision.name()
    );
    let roberta = emotion::roberta_dir_from_env();
    let reader = match zero_shot::TextReader::load(
        &encoder::default_base_dir(),
        &ocean::default_ipip_path(),
        roberta.as_deref(),
    ) {
        Ok(r) => Some(Box::new(r) as Box<dyn core::Reader>),
        Err(e) if roberta.is_none() => {
            tracing::warn!(error = %e, "emotion and trait reader unavailable (run infra/fetch-nlp.sh); insights carry sentiment only");
            None
        }
        Err(e) => return Err(e),
    };
    Ok(core::Models {
        sentiment: load_analyzer(sentiment_dir),
        reader,
    })
}
