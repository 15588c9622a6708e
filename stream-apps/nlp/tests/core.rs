//! The pure core (idempotent insights) and the batching thread, with the lexicon and a recording
//! analyzer standing in for the model.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use mindset_nlp::{
    Label, NlpError, Polarity,
    batch::{BatchConfig, Batcher},
    core::{Analyzer, Nlp, Source, TextInput, TextKind},
    lexicon::Lexicon,
};

fn input(id: &str, text: &str) -> TextInput {
    TextInput {
        event_id: id.into(),
        tenant_id: "shop-1".into(),
        customer_key: Some("email:a@example.com".into()),
        occurred_at: 1_700_000_000_000,
        kind: TextKind::Review,
        product_id: Some("p-1".into()),
        text: text.into(),
    }
}

#[test]
fn given_texts_when_handled_then_one_insight_each_in_order() {
    let mut core = Nlp::new();
    let out = core
        .handle(
            &[
                input("e1", "I love it, great quality"),
                input("e2", "Terrible, it broke"),
            ],
            &Lexicon::new(),
        )
        .unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(
        (out[0].event_id.as_str(), out[0].sentiment.label),
        ("e1", Label::Positive)
    );
    assert_eq!(
        (out[1].event_id.as_str(), out[1].sentiment.label),
        ("e2", Label::Negative)
    );
    assert!(
        out.iter()
            .all(|i| i.source == Source::Lexicon && i.tenant_id == "shop-1")
    );
}

#[test]
fn given_replayed_or_duplicated_events_then_nothing_new() {
    let mut core = Nlp::new();
    let lex = Lexicon::new();
    let first = core
        .handle(
            &[input("e1", "good"), input("e1", "good"), input("e2", "bad")],
            &lex,
        )
        .unwrap();
    assert_eq!(first.len(), 2);
    let replay = core
        .handle(&[input("e2", "bad"), input("e1", "good")], &lex)
        .unwrap();
    assert!(replay.is_empty());
    assert_eq!(core.seen(), 2);
}

struct Failing;
impl Analyzer for Failing {
    fn source(&self) -> Source {
        Source::Model
    }
    fn sentiment(&self, _: &[&str]) -> Result<Vec<Polarity>, NlpError> {
        Err(NlpError::Model("boom".into()))
    }
}

#[test]
fn given_an_analyzer_error_then_the_batch_can_be_retried() {
    let mut core = Nlp::new();
    assert!(core.handle(&[input("e1", "good")], &Failing).is_err());
    assert_eq!(core.seen(), 0);
    assert_eq!(
        core.handle(&[input("e1", "good")], &Lexicon::new())
            .unwrap()
            .len(),
        1
    );
}

/// The lexicon, recording the size of every batch it is given.
struct Recording {
    lex: Lexicon,
    sizes: Arc<Mutex<Vec<usize>>>,
}
impl Analyzer for Recording {
    fn source(&self) -> Source {
        Source::Lexicon
    }
    fn sentiment(&self, texts: &[&str]) -> Result<Vec<Polarity>, NlpError> {
        self.sizes.lock().unwrap().push(texts.len());
        std::thread::sleep(Duration::from_millis(2));
        Ok(self.lex.classify_all(texts))
    }
}

#[test]
fn batcher_groups_requests_within_bounds_and_answers_each_in_order() {
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let recorded = sizes.clone();
    let config = BatchConfig {
        max_batch: 16,
        max_wait: Duration::from_millis(20),
    };
    let batcher = Arc::new(Batcher::spawn(config, move || Recording {
        lex: Lexicon::new(),
        sizes: recorded,
    }));
    let texts = |t: usize| -> Vec<String> {
        (0..3)
            .map(|i| {
                if (t + i).is_multiple_of(2) {
                    format!("great {t} {i}")
                } else {
                    format!("awful {t} {i}")
                }
            })
            .collect()
    };
    let handles: Vec<_> = (0..24)
        .map(|t| {
            let batcher = batcher.clone();
            std::thread::spawn(move || (t, batcher.submit(texts(t)).wait()))
        })
        .collect();
    let lex = Lexicon::new();
    for h in handles {
        let (t, got) = h.join().unwrap();
        let got: Vec<Polarity> = got.unwrap().into_iter().map(|a| a.sentiment).collect();
        assert_eq!(got, lex.classify_all(&texts(t)));
    }
    let sizes = sizes.lock().unwrap().clone();
    assert_eq!(sizes.iter().sum::<usize>(), 72);
    assert!(sizes.iter().all(|&s| s <= 16), "{sizes:?}");
    assert!(
        sizes.len() < 24,
        "requests were batched together: {sizes:?}"
    );
}

#[test]
fn batcher_reports_analyzer_errors_to_every_request() {
    let batcher = Batcher::spawn(BatchConfig::default(), || Failing);
    let a = batcher.submit(vec!["x".into()]);
    let b = batcher.submit(vec!["y".into()]);
    assert!(a.wait().is_err());
    assert!(b.wait().is_err());
}
