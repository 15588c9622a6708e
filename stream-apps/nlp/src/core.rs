//! The nlp app's pure core: texts in, one [`Insight`] per text out. No async, no Kafka; the analyzer (a
//! trained model or the lexicon) comes in as an argument, so tests drive it with plain values.
//!
//! Idempotent: a text is known by its event id, and an id seen before yields nothing, so a replayed or
//! duplicated event changes nothing downstream.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::{NlpError, Polarity, lexicon::Lexicon, sentiment::Sentiment};

/// A customer's text (a review or a message), with what identifies it.
#[derive(Clone, Debug, PartialEq)]
pub struct TextInput {
    pub event_id: String,
    pub tenant_id: String,
    pub customer_key: Option<String>,
    /// Event time, milliseconds since the Unix epoch.
    pub occurred_at: i64,
    pub text: String,
}

/// Which analyzer produced an insight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The fine-tuned MiniLM sentiment model.
    Model,
    /// VADER, when no model is prepared.
    Lexicon,
}

/// What the app says about one text. Emotions and OCEAN traits will be further fields, filled by
/// further analyzers over the same batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Insight {
    pub event_id: String,
    pub tenant_id: String,
    pub customer_key: Option<String>,
    pub occurred_at: i64,
    pub sentiment: Polarity,
    pub source: Source,
}

/// Anything that scores the sentiment of a batch of texts, in order.
pub trait Analyzer {
    fn source(&self) -> Source;
    fn sentiment(&self, texts: &[&str]) -> Result<Vec<Polarity>, NlpError>;
}

impl Analyzer for Box<dyn Analyzer> {
    fn source(&self) -> Source {
        (**self).source()
    }

    fn sentiment(&self, texts: &[&str]) -> Result<Vec<Polarity>, NlpError> {
        (**self).sentiment(texts)
    }
}

impl Analyzer for Sentiment {
    fn source(&self) -> Source {
        Source::Model
    }

    fn sentiment(&self, texts: &[&str]) -> Result<Vec<Polarity>, NlpError> {
        self.predict(texts)
    }
}

impl Analyzer for Lexicon {
    fn source(&self) -> Source {
        Source::Lexicon
    }

    fn sentiment(&self, texts: &[&str]) -> Result<Vec<Polarity>, NlpError> {
        Ok(self.classify_all(texts))
    }
}

/// The core's state: the ids of texts already analysed.
#[derive(Default)]
pub struct Nlp {
    seen: HashSet<String>,
}

impl Nlp {
    pub fn new() -> Nlp {
        Nlp::default()
    }

    /// Insights for the texts of `inputs` not seen before, in input order (an id repeated within the
    /// batch counts once). Texts are scored in one call to the analyzer. On an error nothing is
    /// marked seen, so the batch can be retried whole.
    pub fn handle(
        &mut self,
        inputs: &[TextInput],
        analyzer: &dyn Analyzer,
    ) -> Result<Vec<Insight>, NlpError> {
        let mut batch_ids = HashSet::new();
        let fresh: Vec<&TextInput> = inputs
            .iter()
            .filter(|i| !self.seen.contains(&i.event_id) && batch_ids.insert(i.event_id.as_str()))
            .collect();
        if fresh.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<&str> = fresh.iter().map(|i| i.text.as_str()).collect();
        let scores = analyzer.sentiment(&texts)?;
        if scores.len() != fresh.len() {
            return Err(NlpError::Model(format!(
                "analyzer returned {} scores for {} texts",
                scores.len(),
                fresh.len()
            )));
        }
        let source = analyzer.source();
        Ok(fresh
            .into_iter()
            .zip(scores)
            .map(|(input, sentiment)| {
                self.seen.insert(input.event_id.clone());
                Insight {
                    event_id: input.event_id.clone(),
                    tenant_id: input.tenant_id.clone(),
                    customer_key: input.customer_key.clone(),
                    occurred_at: input.occurred_at,
                    sentiment,
                    source,
                }
            })
            .collect())
    }

    /// How many distinct texts have been analysed.
    pub fn seen(&self) -> usize {
        self.seen.len()
    }
}
