//! The shell of the nlp app on the log: reads the customer texts of `customer.events.v1` (reviews and
//! customers' own messages), has the batching thread analyse each shell batch in one go, and writes
//! one `TextInsight` per text to `text.insights.v1`, keyed like the event.
//!
//! At least once: the shell commits a batch's offsets only after its insights are written, so a
//! crash re-analyses at most one batch. Models are deterministic, so a repeat carries the same
//! values, and consumers (enrich) keep one insight per event id.

use std::path::PathBuf;

use mindset_pipeline::{
    Log, Message, Record,
    shell::{self, Output, Poison, Processor, RunOptions, RunStats, ShellError},
    shutdown::Shutdown,
};
use mindset_schemas::{
    CanonicalEvent, Payload, TextInsight,
    insights::{
        BigFive, Cue, EmotionScores, SentimentLabel, SentimentScore, SentimentSource, Trait,
        TraitEvidence,
    },
};
use mindset_topics::{CUSTOMER_EVENTS, CUSTOMER_EVENTS_DLQ, CustomerKey, KeyCodec, TEXT_INSIGHTS};

use crate::{
    Label, NAME,
    batch::{BatchConfig, Batcher},
    core::{Analyze, Insight, Nlp, Source, TextInput, TextKind},
};

/// What the app runs with.
#[derive(Clone, Debug)]
pub struct NlpConfig {
    /// The prepared sentiment model (`mindset models prepare`); VADER when there is none.
    pub sentiment_dir: PathBuf,
    pub batch: BatchConfig,
}

impl Default for NlpConfig {
    fn default() -> Self {
        NlpConfig {
            sentiment_dir: crate::sentiment::default_dir(),
            batch: BatchConfig {
                max_batch: 256,
                ..BatchConfig::default()
            },
        }
    }
}

/// The shell's view of the core: texts of the current batch wait here until `flush`.
pub struct NlpApp {
    core: Nlp,
    batcher: Batcher,
    pending: Vec<(TextInput, Message)>,
}

impl NlpApp {
    /// The app with `make` building its models on the batching thread.
    pub fn new<A, F>(batch: BatchConfig, make: F) -> NlpApp
    where
        A: Analyze,
        F: FnOnce() -> A + Send + 'static,
    {
        NlpApp::with_batcher(Batcher::spawn(batch, make))
    }

    /// The app on a batching thread already running its models.
    pub fn with_batcher(batcher: Batcher) -> NlpApp {
        NlpApp {
            core: Nlp::new(),
            batcher,
            pending: Vec::new(),
        }
    }

    /// Which models the app runs.
    pub fn models(&self) -> &str {
        self.batcher.models()
    }

    fn analyse(&mut self, pending: Vec<(TextInput, Message)>, now_ms: i64) -> Vec<Output> {
        let inputs: Vec<TextInput> = pending.iter().map(|(i, _)| i.clone()).collect();
        let fresh = self.core.fresh(&inputs);
        if fresh.is_empty() {
            return Vec::new();
        }
        let texts: Vec<String> = fresh.iter().map(|i| i.text.clone()).collect();
        let models = self.batcher.models().to_owned();
        let ticket = self.batcher.submit(texts);
        let answer = blocking(|| ticket.wait());
        match answer.and_then(|a| self.core.insights(&fresh, a, &models)) {
            Ok(insights) => insights.iter().map(to_output).collect(),
            Err(e) => {
                // One text the models cannot take should not hold up the others: score each
                // alone, and dead-letter only those that still fail.
                tracing::warn!(app = NAME, error = %e, "batch failed; analysing its texts one by one");
                let mut out = Vec::new();
                for input in fresh {
                    let ticket = self.batcher.submit(vec![input.text.clone()]);
                    let one = blocking(|| ticket.wait())
                        .and_then(|a| self.core.insights(&[input], a, &models));
                    match one {
                        Ok(insights) => out.extend(insights.iter().map(to_output)),
                        Err(e) => {
                            let msg = &pending
                                .iter()
                                .find(|(i, _)| i.event_id == input.event_id)
                                .expect("every fresh input is pending")
                                .1;
                            let poison =
                                Poison::new(format!("nlp could not analyse the text: {e}"));
                            out.push(Output {
                                topic: &CUSTOMER_EVENTS_DLQ.spec,
                                record: shell::dead_letter(NAME, msg, &poison, now_ms),
                            });
                        }
                    }
                }
                out
            }
        }
    }
}

/// Waits for the batching thread. On a multi-threaded runtime the wait is announced to tokio, so
/// the worker's other tasks move elsewhere meanwhile.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

fn to_output(insight: &Insight) -> Output {
    Output {
        topic: &TEXT_INSIGHTS.spec,
        record: to_record(insight),
    }
}

/// The `text.insights.v1` record of an insight (keyed tenant|customer like its event).
pub fn to_record(insight: &Insight) -> Record {
    let v = text_insight(insight);
    let key = CustomerKey::new(&v.tenant_id, &v.customer_key).encode_key();
    let value = v.encode().expect("insights match their schema");
    Record::new(key, value, v.occurred_at)
}

fn text_insight(i: &Insight) -> TextInsight {
    let big5 = |a: &[f32; 5]| BigFive::from_array(a.map(f64::from));
    TextInsight {
        event_id: i.event_id.clone(),
        tenant_id: i.tenant_id.clone(),
        customer_key: i.customer_key.clone().unwrap_or_default(),
        occurred_at: i.occurred_at,
        kind: match i.kind {
            TextKind::Review => mindset_schemas::insights::TextKind::Review,
            TextKind::Message => mindset_schemas::insights::TextKind::Message,
        },
        product_id: i.product_id.clone(),
        chars: i32::try_from(i.chars).unwrap_or(i32::MAX),
        sentiment: SentimentScore {
            label: match i.sentiment.label {
                Label::Negative => SentimentLabel::Negative,
                Label::Positive => SentimentLabel::Positive,
            },
            score: f64::from(i.sentiment.score),
            source: match i.source {
                Source::Model => SentimentSource::Model,
                Source::Lexicon => SentimentSource::Lexicon,
            },
        },
        emotions: i
            .emotions
            .map(|e| EmotionScores::from_array(e.scores.map(f64::from))),
        traits: i.traits.as_ref().map(|t| TraitEvidence {
            signal: big5(&t.signal),
            weight: big5(&t.weight),
            cues: t
                .cues
                .iter()
                .filter_map(|c| {
                    Some(Cue {
                        trait_: *Trait::ALL.get(usize::from(c.trait_index))?,
                        cue: c.cue.clone(),
                        contribution: f64::from(c.contribution),
                    })
                })
                .collect(),
        }),
        models: i.models.clone(),
    }
}

/// The text input of a canonical event, if it carries a customer's text.
pub fn text_input(ev: &CanonicalEvent) -> Option<TextInput> {
    let text = ev.payload.customer_text()?;
    let (kind, product_id) = match &ev.payload {
        Payload::ReviewPosted(r) => (TextKind::Review, r.product_id.clone()),
        _ => (TextKind::Message, None),
    };
    Some(TextInput {
        event_id: ev.event_id.clone(),
        tenant_id: ev.tenant_id.clone(),
        customer_key: ev.customer_key.clone(),
        occurred_at: ev.occurred_at,
        kind,
        product_id,
        text: text.to_owned(),
    })
}

impl Processor for NlpApp {
    fn name(&self) -> &'static str {
        NAME
    }

    fn inputs(&self) -> Vec<&'static mindset_topics::TopicSpec> {
        vec![&CUSTOMER_EVENTS.spec]
    }

    fn handle(&mut self, msg: &Message, _now_ms: i64) -> Result<Vec<Output>, Poison> {
        let ev: CanonicalEvent = shell::decode(msg)?;
        let Some(input) = text_input(&ev) else {
            return Ok(Vec::new());
        };
        if input.customer_key.is_none() {
            return Err(Poison::new(
                "a customer text without a customer key: no customer to attach its insight to",
            ));
        }
        if input.text.trim().is_empty() {
            return Ok(Vec::new());
        }
        self.pending.push((input, msg.clone()));
        Ok(Vec::new())
    }

    fn flush(&mut self, now_ms: i64) -> Vec<Output> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        let pending = std::mem::take(&mut self.pending);
        let n = pending.len();
        let out = self.analyse(pending, now_ms);
        metrics::counter!("mindset_nlp_texts_total", "app" => NAME).increment(n as u64);
        out
    }
}

/// Runs the app on `log` until shutdown (or until caught up, with `stop_when_caught_up`).
pub async fn run(
    log: &Log,
    config: NlpConfig,
    opts: &RunOptions,
    shutdown: Shutdown,
) -> Result<RunStats, ShellError> {
    let dir = config.sentiment_dir.clone();
    let batcher = Batcher::try_spawn(config.batch, move || crate::load_models(&dir))
        .map_err(|e| ShellError::Start(format!("loading the nlp models: {e}")))?;
    let mut app = NlpApp::with_batcher(batcher);
    tracing::info!(app = NAME, models = app.models(), "models loaded");
    log.ensure_topics(&[&TEXT_INSIGHTS.spec]).await?;
    shell::run(log, &mut app, opts, shutdown).await
}
