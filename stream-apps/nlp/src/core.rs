//! The nlp app's pure core: texts in, one [`Insight`] per text out. No async, no Kafka; the analyzer (a
//! trained model or the lexicon) comes in as an argument, so tests drive it with plain values.
//!
//! Idempotent: a text is known by its event id, and an id seen before yields nothing, so a replayed or
//! duplicated event changes nothing downstream.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::{Emotions, NlpError, Polarity, TraitEvidence, lexicon::Lexicon, sentiment::Sentiment};

/// A customer's text (a review or a message), with what identifies it.
#[derive(Clone, Debug, PartialEq)]
pub struct TextInput {
    pub event_id: String,
    pub tenant_id: String,
    pub customer_key: Option<String>,
    /// Event time, milliseconds since the Unix epoch.
    pub occurred_at: i64,
    pub kind: TextKind,
    /// The reviewed product, for reviews.
    pub product_id: Option<String>,
    pub text: String,
}

/// What kind of customer text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextKind {
    Review,
    Message,
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

/// What the app says about one text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Insight {
    pub event_id: String,
    pub tenant_id: String,
    pub customer_key: Option<String>,
    pub occurred_at: i64,
    pub kind: TextKind,
    pub product_id: Option<String>,
    /// Length of the text in characters.
    pub chars: usize,
    pub sentiment: Polarity,
    pub source: Source,
    /// Absent when no emotion model ran.
    pub emotions: Option<Emotions>,
    /// Absent when no trait model ran.
    pub traits: Option<TraitEvidence>,
    /// Which models made it ([`Analyze::describe`]).
    pub models: String,
}

/// Anything that scores the sentiment of a batch of texts, in order.
pub trait Analyzer {
    fn source(&self) -> Source;
    fn sentiment(&self, texts: &[&str]) -> Result<Vec<Polarity>, NlpError>;
    /// Name (and preparation key) for the insight's `models` field.
    fn describe(&self) -> String {
        match self.source() {
            Source::Model => "sentiment-model".into(),
            Source::Lexicon => "vader-lexicon".into(),
        }
    }
}

impl Analyzer for Box<dyn Analyzer> {
    fn source(&self) -> Source {
        (**self).source()
    }

    fn sentiment(&self, texts: &[&str]) -> Result<Vec<Polarity>, NlpError> {
        (**self).sentiment(texts)
    }

    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// Emotions and Big Five evidence of a text, from a reader that runs beside sentiment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reading {
    pub emotions: Option<Emotions>,
    pub traits: Option<TraitEvidence>,
}

/// Reads emotions and trait evidence from a batch of texts, in order.
pub trait Reader {
    /// Name (and version) for the insight's `models` field.
    fn describe(&self) -> String;
    fn read(&self, texts: &[&str]) -> Result<Vec<Reading>, NlpError>;
}

/// Everything known about one text after a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    pub sentiment: Polarity,
    pub source: Source,
    pub reading: Reading,
}

/// What the core and the batching thread call: a sentiment analyzer alone (every [`Analyzer`] is
/// one), or [`Models`], sentiment with a reader.
pub trait Analyze {
    fn analyze(&self, texts: &[&str]) -> Result<Vec<Analysis>, NlpError>;
    fn describe(&self) -> String;
}

impl<A: Analyzer> Analyze for A {
    fn analyze(&self, texts: &[&str]) -> Result<Vec<Analysis>, NlpError> {
        let source = self.source();
        Ok(self
            .sentiment(texts)?
            .into_iter()
            .map(|sentiment| Analysis {
                sentiment,
                source,
                reading: Reading::default(),
            })
            .collect())
    }

    fn describe(&self) -> String {
        Analyzer::describe(self)
    }
}

/// The models the app runs over each batch: sentiment, and a reader for emotions and traits.
pub struct Models {
    pub sentiment: Box<dyn Analyzer>,
    pub reader: Option<Box<dyn Reader>>,
}

impl Analyze for Models {
    fn analyze(&self, texts: &[&str]) -> Result<Vec<Analysis>, NlpError> {
        let mut out = self.sentiment.analyze(texts)?;
        if let Some(reader) = &self.reader {
            let readings = reader.read(texts)?;
            if readings.len() != out.len() {
                return Err(NlpError::Model(format!(
                    "reader returned {} readings for {} texts",
                    readings.len(),
                    out.len()
                )));
            }
            for (a, r) in out.iter_mut().zip(readings) {
                a.reading = r;
            }
        }
        Ok(out)
    }

    fn describe(&self) -> String {
        match &self.reader {
            Some(r) => format!("{};{}", Analyzer::describe(&self.sentiment), r.describe()),
            None => Analyzer::describe(&self.sentiment),
        }
    }
}

impl Analyzer for Sentiment {
    fn source(&self) -> Source {
        Source::Model
    }

    fn describe(&self) -> String {
        let precision = self.precision().name();
        match self.manifest() {
            Some(m) => format!(
                "sentiment-minilm-vader@{}/{precision}",
                &m.key[..m.key.len().min(12)]
            ),
            None => format!("sentiment-minilm-vader/{precision}"),
        }
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
        analyzer: &dyn Analyze,
    ) -> Result<Vec<Insight>, NlpError> {
        let fresh = self.fresh(inputs);
        if fresh.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<&str> = fresh.iter().map(|i| i.text.as_str()).collect();
        let analyses = analyzer.analyze(&texts)?;
        self.insights(&fresh, analyses, &analyzer.describe())
    }

    /// Insights from analyses made elsewhere (the batching thread) for the texts of `inputs` not
    /// seen before, as [`Nlp::fresh`] lists them. Marks them seen.
    pub fn insights(
        &mut self,
        fresh: &[&TextInput],
        analyses: Vec<Analysis>,
        models: &str,
    ) -> Result<Vec<Insight>, NlpError> {
        if analyses.len() != fresh.len() {
            return Err(NlpError::Model(format!(
                "analyzer returned {} scores for {} texts",
                analyses.len(),
                fresh.len()
            )));
        }
        Ok(fresh
            .iter()
            .zip(analyses)
            .map(|(input, a)| {
                self.seen.insert(input.event_id.clone());
                Insight {
                    event_id: input.event_id.clone(),
                    tenant_id: input.tenant_id.clone(),
                    customer_key: input.customer_key.clone(),
                    occurred_at: input.occurred_at,
                    kind: input.kind,
                    product_id: input.product_id.clone(),
                    chars: input.text.chars().count(),
                    sentiment: a.sentiment,
                    source: a.source,
                    emotions: a.reading.emotions,
                    traits: a.reading.traits,
                    models: models.to_owned(),
                }
            })
            .collect())
    }

    /// The inputs not seen before, in order, each id once.
    pub fn fresh<'a>(&self, inputs: &'a [TextInput]) -> Vec<&'a TextInput> {
        let mut batch_ids = HashSet::new();
        inputs
            .iter()
            .filter(|i| !self.seen.contains(&i.event_id) && batch_ids.insert(i.event_id.as_str()))
            .collect()
    }

    /// How many distinct texts have been analysed.
    pub fn seen(&self) -> usize {
        self.seen.len()
    }
}
