//! The changelog (`enrich.state.v1`) on the embedded log: a restart restores the state from it
//! and ends exactly where one uninterrupted run ends; inputs re-read after a crash change
//! nothing; an unreadable record stops the start; a log from before the changelog is replayed
//! once and its state written.

use std::{collections::BTreeMap, time::Duration};

use mindset_enrich::{EnrichApp, core::EnrichConfig, reset_changelog, restore_changelog, run};
use mindset_pipeline::{
    Log, Record, embedded::EmbeddedLog, publish::publish, shell::RunOptions, shell::ShellError,
    shutdown::Shutdown,
};
use mindset_sample_events::{GenConfig, generate};
use mindset_schemas::{CanonicalEvent, CustomerFeatures, TextInsight};
use mindset_topics::{
    CATALOG_EVENTS, CUSTOMER_EVENTS, CUSTOMER_FEATURES, CustomerKey, ENRICH_STATE, KeyCodec,
    TEXT_INSIGHTS, TopicSpec,
};

mod support;
use support::insight_for;

/// The small sample shop and one insight per customer text.
fn shop() -> (Vec<CanonicalEvent>, Vec<TextInsight>) {
    let events = generate(&GenConfig::small());
    let insights = events
        .iter()
        .filter(|e| e.payload.customer_text().is_some())
        .enumerate()
        .map(|(n, e)| insight_for(e, n))
        .collect();
    (events, insights)
}

fn open() -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::Embedded(EmbeddedLog::open(dir.path().join("log.redb")).unwrap());
    (dir, log)
}

async fn append(log: &Log, events: &[CanonicalEvent], insights: &[TextInsight]) {
    log.ensure_topics(&mindset_topics::all()).await.unwrap();
    let producer = log.producer().unwrap();
    let report = publish(&producer, events, 1_000).await.unwrap();
    assert_eq!(report.rejected.len(), 0);
    let records = insights
        .iter()
        .map(|i| {
            Record::new(
                CustomerKey::new(&i.tenant_id, &i.customer_key).encode_key(),
                i.encode().unwrap(),
                i.occurred_at,
            )
        })
        .collect();
    producer
        .send_batch(&TEXT_INSIGHTS.spec, records)
        .await
        .unwrap();
}

fn opts() -> RunOptions {
    RunOptions {
        batch: 700,
        poll_timeout: Duration::from_millis(20),
        stop_when_caught_up: true,
        ..RunOptions::default()
    }
}

async fn enrich(log: &Log) -> Result<u64, ShellError> {
    run(log, EnrichConfig::default(), &opts(), Shutdown::new())
        .await
        .map(|s| s.produced)
}

/// The latest value of every key of a topic (what compaction keeps).
async fn latest(log: &Log, topic: &'static TopicSpec) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let ends = log.end_offsets(topic).await.unwrap();
    let total: u64 = ends.iter().sum();
    static READS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = READS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut c = log.consumer(&format!("read-{n}"), &[topic]).unwrap();
    let (mut out, mut seen) = (BTreeMap::new(), 0u64);
    while seen < total {
        let batch = c.poll(10_000, Duration::from_secs(2)).await.unwrap();
        assert!(!batch.is_empty(), "{} ended early", topic.name);
        seen += batch.len() as u64;
        for m in batch {
            out.insert(m.key, m.value);
        }
    }
    out
}

/// The latest snapshot of every customer with an order (re-emitted by the last refit of a run).
async fn buyers(log: &Log) -> BTreeMap<Vec<u8>, Vec<u8>> {
    latest(log, &CUSTOMER_FEATURES.spec)
        .await
        .into_iter()
        .filter(|(_, v)| CustomerFeatures::decode(v).unwrap().orders > 0)
        .collect()
}

fn split(
    events: &[CanonicalEvent],
    insights: &[TextInsight],
) -> [(Vec<CanonicalEvent>, Vec<TextInsight>); 2] {
    let cut = events.len() / 2;
    let ids: std::collections::HashSet<&str> =
        events[..cut].iter().map(|e| e.event_id.as_str()).collect();
    let (early, late): (Vec<TextInsight>, Vec<TextInsight>) = insights
        .iter()
        .cloned()
        .partition(|i| ids.contains(i.event_id.as_str()));
    [
        (events[..cut].to_vec(), early),
        (events[cut..].to_vec(), late),
    ]
}

#[tokio::test]
async fn a_restart_restores_the_changelog_and_ends_where_one_run_ends() {
    let (events, insights) = shop();
    assert!(!insights.is_empty());

    let (_a_dir, one) = open();
    append(&one, &events, &insights).await;
    enrich(&one).await.unwrap();
    let one_state = latest(&one, &ENRICH_STATE.spec).await;
    assert!(one_state.len() > 150, "{} state records", one_state.len());

    let (_b_dir, two) = open();
    let [first, second] = split(&events, &insights);
    append(&two, &first.0, &first.1).await;
    enrich(&two).await.unwrap();
    // What the second run starts from: the first run's state, read back from the changelog.
    let mut restored = EnrichApp::new(EnrichConfig::default());
    let records = restore_changelog(&two, &mut restored)
        .await
        .unwrap()
        .unwrap();
    assert!(records > 100);
    assert!(!restored.core().customers().is_empty());
    append(&two, &second.0, &second.1).await;
    enrich(&two).await.unwrap();

    let two_state = latest(&two, &ENRICH_STATE.spec).await;
    assert_eq!(
        one_state.keys().collect::<Vec<_>>(),
        two_state.keys().collect::<Vec<_>>()
    );
    for (k, v) in &one_state {
        assert_eq!(
            String::from_utf8_lossy(v),
            String::from_utf8_lossy(&two_state[k]),
            "state of {} differs",
            String::from_utf8_lossy(k)
        );
    }
    let (b1, b2) = (buyers(&one).await, buyers(&two).await);
    assert!(b1.len() > 50);
    assert_eq!(b1, b2, "the buyers' last snapshots differ");
}

#[tokio::test]
async fn inputs_reread_after_a_crash_change_nothing() {
    let (events, insights) = shop();
    let (_dir, log) = open();
    append(&log, &events, &insights).await;
    enrich(&log).await.unwrap();
    let state = latest(&log, &ENRICH_STATE.spec).await;
    let snapshots = log.end_offsets(&CUSTOMER_FEATURES.spec).await.unwrap();

    // As if enrich had written its outputs but died before committing: every input again.
    log.reset_group(
        "enrich",
        &[
            &CUSTOMER_EVENTS.spec,
            &CATALOG_EVENTS.spec,
            &TEXT_INSIGHTS.spec,
        ],
    )
    .await
    .unwrap();
    enrich(&log).await.unwrap();
    assert_eq!(
        log.end_offsets(&CUSTOMER_FEATURES.spec).await.unwrap(),
        snapshots,
        "re-read inputs produced snapshots"
    );
    assert_eq!(latest(&log, &ENRICH_STATE.spec).await, state);
}

#[tokio::test]
async fn an_unreadable_state_record_stops_the_start_with_its_position() {
    let (_dir, log) = open();
    log.ensure_topics(&mindset_topics::all()).await.unwrap();
    log.producer()
        .unwrap()
        .send(
            &ENRICH_STATE.spec,
            Record::new(b"shop|k:c-1".to_vec(), b"{\"customer\": 42}".to_vec(), 0),
        )
        .await
        .unwrap();
    match enrich(&log).await {
        Err(ShellError::Start(why)) => {
            assert!(why.contains("enrich.state.v1/"), "{why}");
            assert!(why.contains("unreadable state record"), "{why}");
        }
        other => panic!("started on a bad changelog: {other:?}"),
    }
}

#[tokio::test]
async fn a_log_from_before_the_changelog_is_replayed_and_its_state_written() {
    let (events, insights) = shop();
    let (_a_dir, one) = open();
    append(&one, &events, &insights).await;
    enrich(&one).await.unwrap();
    let expected = latest(&one, &ENRICH_STATE.spec).await;

    // An older enrich consumed everything (committed) but kept no changelog.
    let (_b_dir, old) = open();
    append(&old, &events, &insights).await;
    let inputs = [
        &CUSTOMER_EVENTS.spec,
        &CATALOG_EVENTS.spec,
        &TEXT_INSIGHTS.spec,
    ];
    let total: u64 = [
        old.end_offsets(inputs[0]).await.unwrap(),
        old.end_offsets(inputs[1]).await.unwrap(),
        old.end_offsets(inputs[2]).await.unwrap(),
    ]
    .iter()
    .flatten()
    .sum();
    let mut c = old.consumer("enrich", &inputs).unwrap();
    let mut seen = 0;
    while seen < total {
        let batch = c.poll(10_000, Duration::from_secs(2)).await.unwrap();
        assert!(!batch.is_empty());
        seen += batch.len() as u64;
        c.commit_messages(&batch).await.unwrap();
    }
    drop(c);
    assert_eq!(
        old.end_offsets(&ENRICH_STATE.spec)
            .await
            .unwrap()
            .iter()
            .sum::<u64>(),
        0
    );

    enrich(&old).await.unwrap();
    assert_eq!(latest(&old, &ENRICH_STATE.spec).await, expected);
}

#[tokio::test]
async fn a_replay_starts_a_new_epoch_rebuilds_and_emits_again() {
    let (events, insights) = shop();
    let (_dir, log) = open();
    append(&log, &events, &insights).await;
    enrich(&log).await.unwrap();
    let state = latest(&log, &ENRICH_STATE.spec).await;
    let snapshots: u64 = log
        .end_offsets(&CUSTOMER_FEATURES.spec)
        .await
        .unwrap()
        .iter()
        .sum();
    let customers = latest(&log, &CUSTOMER_FEATURES.spec).await.len() as u64;

    // What `mindset replay enrich` does.
    log.reset_group("enrich", &[&CUSTOMER_EVENTS.spec, &CATALOG_EVENTS.spec])
        .await
        .unwrap();
    reset_changelog(&log).await.unwrap();
    enrich(&log).await.unwrap();
    let again: u64 = log
        .end_offsets(&CUSTOMER_FEATURES.spec)
        .await
        .unwrap()
        .iter()
        .sum();
    assert!(
        again >= snapshots + customers,
        "the replay emitted {} snapshots for {customers} customers",
        again - snapshots
    );
    // The same state, written again in the new epoch, which the next start restores whole.
    let mut after = latest(&log, &ENRICH_STATE.spec).await;
    after.remove(b"|epoch".as_slice());
    assert_eq!(after, state);
    let mut app = EnrichApp::new(EnrichConfig::default());
    let restored = restore_changelog(&log, &mut app).await.unwrap();
    assert_eq!(restored, Some(state.len() as u64));
}

/// A refit moves every buyer's P(alive), expected orders and CLV, so each gets a snapshot; their
/// state did not change, so the changelog gets the shop's new models and no customer record.
#[test]
fn a_refit_snapshots_the_buyers_and_writes_only_the_shops_state() {
    let (events, _) = shop();
    let mut app = EnrichApp::new(EnrichConfig::default());
    for (offset, ev) in events.iter().enumerate() {
        let msg = mindset_pipeline::Message {
            topic: if ev.payload.is_catalog() {
                CATALOG_EVENTS.spec.name
            } else {
                CUSTOMER_EVENTS.spec.name
            }
            .to_owned(),
            partition: 0,
            offset: offset as u64,
            key: Vec::new(),
            value: ev.encode().unwrap(),
            headers: Vec::new(),
            timestamp_ms: ev.occurred_at,
        };
        app.fold(&msg).unwrap();
    }
    let first = app.changes();
    assert!(
        first.iter().any(|o| o.topic.name == ENRICH_STATE.spec.name
            && o.record.key.windows(3).any(|w| w == b"|k:")),
        "the events wrote customer state"
    );
    app.refit();
    let tenants: std::collections::BTreeSet<&str> =
        events.iter().map(|e| e.tenant_id.as_str()).collect();
    let buyers: usize = tenants.iter().map(|t| app.core().buyers(t).len()).sum();
    assert!(buyers >= 50, "{buyers} buyers: too few for a fit");
    let after = app.changes();
    let (state, snapshots): (Vec<_>, Vec<_>) = after
        .iter()
        .partition(|o| o.topic.name == ENRICH_STATE.spec.name);
    assert_eq!(snapshots.len(), buyers);
    assert!(
        snapshots
            .iter()
            .all(|o| o.topic.name == CUSTOMER_FEATURES.spec.name)
    );
    assert_eq!(
        state.len(),
        tenants.len(),
        "one shop record per shop refitted"
    );
    for o in &state {
        assert!(
            o.record.key.ends_with(b"|s"),
            "{:?}",
            String::from_utf8_lossy(&o.record.key)
        );
    }
    assert!(app.changes().is_empty(), "nothing left after");
}
