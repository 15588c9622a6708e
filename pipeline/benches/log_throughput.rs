//! Produce and consume throughput of both log backends on the same 100k-event sample shop,
//! side by side in one run, next to plain rdkafka on the same broker (the floor our Kafka path
//! cannot beat: the difference is our code's overhead).
//!
//! `cargo bench -p mindset-pipeline --bench log_throughput`; set MINDSET_KAFKA_BOOTSTRAP to a
//! broker (e.g. from `bash infra/kafka-start.sh`) to include the Kafka rows.

use std::time::{Duration, Instant};

use mindset_pipeline::{
    Log, Record,
    embedded::EmbeddedLog,
    kafka::{KafkaLog, KafkaSettings},
    publish::prepare,
};
use mindset_sample_events::{GenConfig, generate};
use mindset_topics::{Retention, TopicSpec};
use rdkafka::{
    ClientConfig, Message as _,
    consumer::{BaseConsumer, Consumer as _},
    producer::{FutureProducer, FutureRecord},
};

const BATCH: usize = 10_000;

fn bench_topic(tag: &str) -> &'static TopicSpec {
    let name = format!(
        "bench.{tag}-{}.v1",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    Box::leak(Box::new(TopicSpec {
        name: Box::leak(name.into_boxed_str()),
        partitions: 12,
        retention: Retention::Days(1),
        dead_letter: None,
        value_schema: Some("canonical_event"),
        doc: "benchmark",
    }))
}

struct Row {
    what: String,
    produce: Option<f64>,
    consume: Option<f64>,
}

async fn through_log(log: &Log, t: &'static TopicSpec, records: &[Record]) -> (f64, f64) {
    log.ensure_topics(&[t]).await.unwrap();
    let p = log.producer().unwrap();
    let start = Instant::now();
    // Several batches in flight, as a busy ingest endpoint has.
    let mut inflight = Vec::new();
    for chunk in records.chunks(BATCH) {
        let p = p.clone();
        let chunk = chunk.to_vec();
        inflight.push(tokio::spawn(async move {
            p.send_batch(t, chunk).await.unwrap()
        }));
        if inflight.len() == 4 {
            inflight.remove(0).await.unwrap();
        }
    }
    for h in inflight {
        h.await.unwrap();
    }
    let produce = records.len() as f64 / start.elapsed().as_secs_f64();

    let mut c = log.consumer(&format!("bench-{}", t.name), &[t]).unwrap();
    // A Kafka group's first join takes a few seconds: the clock starts at the first record.
    let mut first = c.poll(50_000, Duration::from_secs(30)).await.unwrap();
    assert!(!first.is_empty(), "no record within 30 s of joining");
    let start = Instant::now();
    let mut n = first.len();
    c.commit_messages(&first).await.unwrap();
    first.clear();
    while n < records.len() {
        let b = c.poll(50_000, Duration::from_secs(10)).await.unwrap();
        assert!(!b.is_empty(), "consumer stalled at {n}");
        n += b.len();
        c.commit_messages(&b).await.unwrap();
    }
    let consume = n as f64 / start.elapsed().as_secs_f64();
    (produce, consume)
}

async fn plain_rdkafka(bootstrap: &str, t: &'static TopicSpec, records: &[Record]) -> (f64, f64) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .unwrap();
    let start = Instant::now();
    let mut futs = Vec::with_capacity(records.len());
    for r in records {
        futs.push(
            producer
                .send_result(
                    FutureRecord::to(t.name)
                        .key(&r.key)
                        .payload(&r.value)
                        .timestamp(r.timestamp_ms),
                )
                .map_err(|(e, _)| e)
                .unwrap(),
        );
    }
    for f in futs {
        f.await.unwrap().map_err(|(e, _)| e).unwrap();
    }
    let produce = records.len() as f64 / start.elapsed().as_secs_f64();

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("bench-plain-{}", t.name))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .create()
        .unwrap();
    consumer.subscribe(&[t.name]).unwrap();
    let total = records.len();
    let (n, secs) = tokio::task::spawn_blocking(move || {
        let mut n = 0usize;
        let mut bytes = 0usize;
        let mut start = None;
        let mut last_progress = Instant::now();
        while n < total {
            // poll also returns None after serving a rebalance: only a long silence is a stall.
            match consumer.poll(Duration::from_secs(1)) {
                Some(Ok(m)) => {
                    // As above, the clock starts at the first record.
                    start.get_or_insert_with(Instant::now);
                    bytes += m.payload().map_or(0, <[u8]>::len);
                    n += 1;
                    last_progress = Instant::now();
                }
                Some(Err(e)) => panic!("{e}"),
                None => assert!(
                    last_progress.elapsed() < Duration::from_secs(30),
                    "plain consumer stalled at {n}"
                ),
            }
        }
        assert!(bytes > 0);
        (n, start.map_or(0.0, |s| s.elapsed().as_secs_f64()))
    })
    .await
    .unwrap();
    (produce, n as f64 / secs.max(1e-3))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let events = generate(&GenConfig::standard());
    let (by_topic, rejected) = prepare(&events);
    assert!(rejected.is_empty());
    let records: Vec<Record> = by_topic.into_values().flat_map(|(_, r)| r).collect();
    let bytes: usize = records.iter().map(|r| r.key.len() + r.value.len()).sum();
    println!(
        "log throughput: {} sample-shop events ({:.1} MB of Avro), batches of {BATCH}, 4 in flight, 12 partitions, 2 cores",
        records.len(),
        bytes as f64 / 1e6
    );
    let mut rows = Vec::new();

    let dir = tempfile::tempdir().unwrap();
    let log = Log::Embedded(EmbeddedLog::open(dir.path().join("bench.redb")).unwrap());
    let (p, c) = through_log(&log, bench_topic("embedded"), &records).await;
    rows.push(Row {
        what: "embedded (journal fsync per group commit, redb index)".into(),
        produce: Some(p),
        consume: Some(c),
    });

    match std::env::var("MINDSET_KAFKA_BOOTSTRAP") {
        Ok(bootstrap) => {
            let log = Log::Kafka(KafkaLog::new(KafkaSettings {
                bootstrap_servers: bootstrap.clone(),
                client: Default::default(),
                replication_factor: 1,
            }));
            let (p, c) = through_log(&log, bench_topic("kafka"), &records).await;
            rows.push(Row {
                what: format!("kafka via mindset-pipeline ({bootstrap})"),
                produce: Some(p),
                consume: Some(c),
            });
            let t = bench_topic("plain");
            log.ensure_topics(&[t]).await.unwrap();
            let (p, c) = plain_rdkafka(&bootstrap, t, &records).await;
            rows.push(Row {
                what: "kafka via plain rdkafka (same broker)".into(),
                produce: Some(p),
                consume: Some(c),
            });
        }
        Err(_) => rows.push(Row {
            what: "kafka: not measured (set MINDSET_KAFKA_BOOTSTRAP)".into(),
            produce: None,
            consume: None,
        }),
    }

    println!(
        "{:<52} {:>16} {:>16}",
        "backend", "produce ev/s", "consume ev/s"
    );
    for r in rows {
        let f = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.0}"));
        println!("{:<52} {:>16} {:>16}", r.what, f(r.produce), f(r.consume));
    }
}
