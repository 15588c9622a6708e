//! End to end on the sample events: what a new user sees from `mindset demo` and
//! `mindset produce`, checked against the generator's own output.

use std::{collections::BTreeMap, io::Write, time::Duration};

use mindset_e2e::config_in;
use mindset_sample_events::{GenConfig, generate, write_jsonl};
use mindset_schemas::CanonicalEvent;
use mindset_topics::{CATALOG_EVENTS, CUSTOMER_EVENTS, ValueCodec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_puts_every_sample_event_on_the_log_and_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    // No sentiment model in this folder: nlp reads with the VADER lexicon (fast, and the same on
    // every machine).
    let no_model = mindset::cli::DemoModels::Use(dir.path().join("no-model"));
    let report = mindset::cli::demo(true, dir.path().join("demo"), no_model)
        .await
        .unwrap();
    let events = generate(&GenConfig::small());
    assert_eq!(report.events, events.len() as u64);
    assert_eq!(report.read, report.events);
    let catalog = events.iter().filter(|e| e.payload.is_catalog()).count() as u64;
    assert_eq!(report.appended["catalog.events.v1"], catalog);
    assert_eq!(
        report.appended["customer.events.v1"],
        events.len() as u64 - catalog
    );
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for e in &events {
        *expected
            .entry(e.payload.type_name().to_owned())
            .or_default() += 1;
    }
    assert_eq!(report.by_type, expected);
    assert!(report.log_file.exists());
    // enrich ran: one feature snapshot per customer of the shop ends up on customer.features.v1.
    let customers: std::collections::BTreeSet<&str> = events
        .iter()
        .filter_map(|e| e.customer_key.as_deref())
        .collect();
    assert_eq!(report.features, customers.len());
    // nlp ran: one insight per review and per message a customer wrote.
    let texts = events
        .iter()
        .filter(|e| {
            e.payload
                .customer_text()
                .is_some_and(|t| !t.trim().is_empty())
        })
        .count();
    assert!(texts > 0);
    assert_eq!(report.insights, texts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_files_events_by_customer_in_order_and_refuses_bad_files_whole() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let events: Vec<CanonicalEvent> = generate(&GenConfig::small())
        .into_iter()
        .take(500)
        .collect();

    // A file with one event that has no customer key: refused whole, with its line number.
    let mut bad = events.clone();
    let i = bad.iter().position(|e| !e.payload.is_catalog()).unwrap();
    bad[i].customer_key = None;
    let bad_file = dir.path().join("bad.jsonl");
    write_jsonl(&bad, std::fs::File::create(&bad_file).unwrap()).unwrap();
    let err = mindset::cli::produce(&config, bad_file.clone(), false)
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains(&format!("bad.jsonl:{}:", i + 1)), "{msg}");
    assert!(msg.contains("nothing written"), "{msg}");

    // A line that is not JSON: named by its line number.
    let garbled = dir.path().join("garbled.jsonl");
    let mut f = std::fs::File::create(&garbled).unwrap();
    write_jsonl(&events[..2], &mut f).unwrap();
    writeln!(f, "{{\"event_id\": 12").unwrap();
    drop(f);
    let err = mindset::cli::produce(&config, garbled, false)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("line 3"), "{err:#}");

    // Nothing of either file reached the log.
    let log = config.open_log().unwrap();
    log.ensure_topics(&mindset_topics::all()).await.unwrap();
    assert_eq!(
        log.end_offsets(&CUSTOMER_EVENTS.spec)
            .await
            .unwrap()
            .iter()
            .sum::<u64>(),
        0
    );
    drop(log);

    // The good file lands, each customer's events in file order.
    let good_file = dir.path().join("good.jsonl");
    write_jsonl(&events, std::fs::File::create(&good_file).unwrap()).unwrap();
    mindset::cli::produce(&config, good_file, false)
        .await
        .unwrap();
    let log = config.open_log().unwrap();
    let mut c = log
        .consumer("e2e", &[&CUSTOMER_EVENTS.spec, &CATALOG_EVENTS.spec])
        .unwrap();
    let mut got: BTreeMap<Vec<u8>, Vec<String>> = BTreeMap::new();
    let mut n = 0;
    while n < events.len() {
        let b = c.poll(1_000, Duration::from_secs(2)).await.unwrap();
        assert!(!b.is_empty(), "stalled at {n}");
        for m in &b {
            let ev = CanonicalEvent::decode_value(&m.value).unwrap();
            got.entry(m.key.clone()).or_default().push(ev.event_id);
        }
        n += b.len();
    }
    assert_eq!(n, events.len());
    let mut want: BTreeMap<Vec<u8>, Vec<String>> = BTreeMap::new();
    for e in &events {
        let (_, key) = mindset_topics::route(e).unwrap();
        want.entry(key).or_default().push(e.event_id.clone());
    }
    assert_eq!(got, want);
}
