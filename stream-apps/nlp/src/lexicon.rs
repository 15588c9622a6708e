//! The lexicon baseline: VADER (the `vader_sentiment` crate, a port of `vaderSentiment` 3.x). It needs
//! no model files, so it is both the yardstick the trained model is compared against and the fallback
//! when that model has not been prepared.

use vader_sentiment::SentimentIntensityAnalyzer;

use crate::{Label, Polarity};

/// VADER with its built-in lexicon.
pub struct Lexicon {
    analyzer: SentimentIntensityAnalyzer<'static>,
}

impl Default for Lexicon {
    fn default() -> Self {
        Lexicon::new()
    }
}

impl Lexicon {
    pub fn new() -> Lexicon {
        Lexicon {
            analyzer: SentimentIntensityAnalyzer::new(),
        }
    }

    /// VADER's compound score in [-1, 1].
    pub fn compound(&self, text: &str) -> f32 {
        self.analyzer
            .polarity_scores(text)
            .get("compound")
            .copied()
            .unwrap_or(0.0) as f32
    }

    /// VADER's four scores `[compound, pos, neu, neg]`, the lexicon features of the sentiment model.
    pub fn scores(&self, text: &str) -> [f32; 4] {
        let s = self.analyzer.polarity_scores(text);
        let get = |k: &str| s.get(k).copied().unwrap_or(0.0) as f32;
        [get("compound"), get("pos"), get("neu"), get("neg")]
    }

    /// Two-way label from the compound score: negative below 0, positive otherwise. A compound of
    /// exactly 0 (no lexicon word) counts as positive, the more common class over the four domains;
    /// VADER's own ±0.05 neutral band has no place in a two-way comparison. The score is the compound.
    pub fn classify(&self, text: &str) -> Polarity {
        let score = self.compound(text);
        let label = if score < 0.0 {
            Label::Negative
        } else {
            Label::Positive
        };
        Polarity { label, score }
    }

    pub fn classify_all<S: AsRef<str>>(&self, texts: &[S]) -> Vec<Polarity> {
        texts.iter().map(|t| self.classify(t.as_ref())).collect()
    }
}
