//! The nlp app on the embedded log: one insight per customer text of the sample shop, keyed like
//! its event; a text the models cannot take is dead-lettered with the reason, the others go on.

use std::time::Duration;

use mindset_nlp::{
    NlpApp, NlpError, Polarity,
    batch::BatchConfig,
    core::{Analyzer, Source},
    lexicon::Lexicon,
};
use mindset_pipeline::{
    Log,
    embedded::EmbeddedLog,
    publish::publish,
    shell::{self, DLQ_REASON, RunOptions},
    shutdown::Shutdown,
};
use mindset_sample_events::{GenConfig, generate};
use mindset_schemas::{CanonicalEvent, TextInsight, insights::SentimentSource};
use mindset_topics::{CUSTOMER_EVENTS_DLQ, CustomerKey, KeyCodec, TEXT_INSIGHTS, TopicSpec};

fn opts() -> RunOptions {
    RunOptions {
        poll_timeout: Duration::from_millis(50),
        stop_when_caught_up: true,
        ..RunOptions::default()
    }
}

async fn shop_log(dir: &std::path::Path) -> (Log, Vec<CanonicalEvent>) {
    let log = Log::Embedded(EmbeddedLog::open(dir.join("log.redb")).unwrap());
    log.ensure_topics(&mindset_topics::all()).await.unwrap();
    let events = generate(&GenConfig::small());
    publish(&log.producer().unwrap(), &events, 1_000)
        .await
        .unwrap();
    (log, events)
}

async fn read_all(log: &Log, spec: &'static TopicSpec) -> Vec<mindset_pipeline::Message> {
    let mut c = log.consumer("check", &[spec]).unwrap();
    let mut out = Vec::new();
    loop {
        let b = c.poll(10_000, Duration::from_millis(300)).await.unwrap();
        if b.is_empty() {
            return out;
        }
        out.extend(b);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_customer_text_gets_one_insight_keyed_by_its_customer() {
    let dir = tempfile::tempdir().unwrap();
    let (log, events) = shop_log(dir.path()).await;
    // No prepared model in this folder: the lexicon reads, and says so in every insight.
    let config = mindset_nlp::NlpConfig {
        sentiment_dir: dir.path().join("no-model"),
        ..mindset_nlp::NlpConfig::default()
    };
    let stats = mindset_nlp::run(&log, config.clone(), &opts(), Shutdown::new())
        .await
        .unwrap();
    assert_eq!(stats.dead_lettered, 0);
    let texts: Vec<&CanonicalEvent> = events
        .iter()
        .filter(|e| e.payload.customer_text().is_some())
        .collect();
    assert!(texts.len() > 50);
    let insights = read_all(&log, &TEXT_INSIGHTS.spec).await;
    assert_eq!(insights.len(), texts.len());
    let lexicon = Lexicon::new();
    for (m, ev) in insights.iter().zip(sorted_like(&insights, &texts)) {
        let i = TextInsight::decode(&m.value).unwrap();
        assert_eq!(i.event_id, ev.event_id);
        let key = CustomerKey::decode_key(&m.key).unwrap();
        assert_eq!(
            (key.tenant, key.customer),
            (ev.tenant_id.clone(), ev.customer_key.clone().unwrap())
        );
        assert_eq!(i.occurred_at, ev.occurred_at);
        assert_eq!(i.sentiment.source, SentimentSource::Lexicon);
        let text = ev.payload.customer_text().unwrap();
        assert_eq!(i.chars as usize, text.chars().count());
        let expected = lexicon.classify(text);
        assert!((i.sentiment.score - f64::from(expected.score)).abs() < 1e-6);
        // The zero-shot reader runs beside the lexicon (infra/fetch-nlp.sh fetched its parts).
        assert!(
            i.models
                .starts_with("vader-lexicon;emotions zero-shot-minilm"),
            "{}",
            i.models
        );
        let mix = i.emotions.expect("emotions").to_array();
        assert!((mix.iter().sum::<f64>() - 1.0).abs() < 1e-4, "{mix:?}");
        let traits = i.traits.expect("trait evidence");
        assert!(traits.weight.to_array().iter().all(|w| *w >= 0.0));
        assert!(
            traits
                .signal
                .to_array()
                .iter()
                .all(|s| (-1.0..=1.0).contains(s))
        );
    }
    // A second run has nothing left to read: the group's offsets were committed.
    let again = mindset_nlp::run(&log, config, &opts(), Shutdown::new())
        .await
        .unwrap();
    assert_eq!(again.produced, 0);
}

/// The text events in the order of the insights (matched by event id).
fn sorted_like<'a>(
    insights: &[mindset_pipeline::Message],
    texts: &[&'a CanonicalEvent],
) -> Vec<&'a CanonicalEvent> {
    insights
        .iter()
        .map(|m| {
            let id = TextInsight::decode(&m.value).unwrap().event_id;
            *texts
                .iter()
                .find(|e| e.event_id == id)
                .expect("an insight of a text event")
        })
        .collect()
}

/// The lexicon, except that it cannot read texts containing "refund".
struct Picky(Lexicon);

impl Analyzer for Picky {
    fn source(&self) -> Source {
        Source::Lexicon
    }
    fn sentiment(&self, texts: &[&str]) -> Result<Vec<Polarity>, NlpError> {
        if texts.iter().any(|t| t.to_lowercase().contains("refund")) {
            return Err(NlpError::Model("cannot read refunds".into()));
        }
        Ok(self.0.classify_all(texts))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_the_models_cannot_read_is_dead_lettered_and_the_rest_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let (log, events) = shop_log(dir.path()).await;
    let texts: Vec<&str> = events
        .iter()
        .filter_map(|e| e.payload.customer_text())
        .collect();
    let refunds = texts
        .iter()
        .filter(|t| t.to_lowercase().contains("refund"))
        .count();
    assert!(
        refunds > 0 && refunds < texts.len(),
        "{refunds} of {}",
        texts.len()
    );
    let mut app = NlpApp::new(BatchConfig::default(), || Picky(Lexicon::new()));
    let stats = shell::run(&log, &mut app, &opts(), Shutdown::new())
        .await
        .unwrap();
    assert_eq!(stats.dead_lettered as usize, refunds);
    assert_eq!(
        read_all(&log, &TEXT_INSIGHTS.spec).await.len(),
        texts.len() - refunds
    );
    let dead = read_all(&log, &CUSTOMER_EVENTS_DLQ.spec).await;
    assert_eq!(dead.len(), refunds);
    for m in &dead {
        let ev = CanonicalEvent::decode(&m.value).unwrap();
        assert!(
            ev.payload
                .customer_text()
                .unwrap()
                .to_lowercase()
                .contains("refund")
        );
        let reason = m.headers.iter().find(|(k, _)| k == DLQ_REASON).unwrap();
        assert!(String::from_utf8_lossy(&reason.1).contains("cannot read refunds"));
    }
}
