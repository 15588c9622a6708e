//! The log conformance suite: the same checks for every backend. Each function takes a fresh
//! [`Log`] and makes its own topics (random names) and groups.
#![allow(dead_code)]

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use mindset_pipeline::{
    Log, Message, Record,
    log::positions_after,
    partition::partition_for,
    shell::{self, Output, Poison, Processor, RunOptions},
    shutdown::Shutdown,
};
use mindset_schemas::{CanonicalEvent, examples};
use mindset_topics::{Retention, TopicSpec};

/// A fresh topic (and its `.dlq`) with a unique name.
pub fn topic(prefix: &str, partitions: u32) -> &'static TopicSpec {
    let unique = format!(
        "test.{prefix}-{}-{}.v1",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let dlq: &'static str = Box::leak(format!("{unique}.dlq").into_boxed_str());
    Box::leak(Box::new(TopicSpec {
        name: Box::leak(unique.into_boxed_str()),
        partitions,
        retention: Retention::Days(1),
        dead_letter: Some(dlq),
        value_schema: None,
        doc: "conformance test topic",
    }))
}

pub fn dlq_of(t: &'static TopicSpec) -> &'static TopicSpec {
    Box::leak(Box::new(TopicSpec {
        name: t.dead_letter.unwrap(),
        partitions: 1,
        retention: Retention::Days(1),
        dead_letter: None,
        value_schema: None,
        doc: "conformance dlq",
    }))
}

fn group(prefix: &str) -> String {
    format!(
        "test-{prefix}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

fn key_of(k: u64) -> Vec<u8> {
    format!("tenant|customer-{k}").into_bytes()
}

fn value_of(k: u64, seq: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(&k.to_le_bytes());
    v.extend_from_slice(&seq.to_le_bytes());
    v.resize(64, 0xab);
    v
}

fn parse(v: &[u8]) -> (u64, u64) {
    (
        u64::from_le_bytes(v[..8].try_into().unwrap()),
        u64::from_le_bytes(v[8..16].try_into().unwrap()),
    )
}

/// Produce `n` records over `keys` keys (seq increasing per key), in batches of `batch`.
pub async fn produce_sequenced(log: &Log, t: &TopicSpec, n: u64, keys: u64, batch: usize) {
    let producer = log.producer().unwrap();
    let mut seq = vec![0u64; keys as usize];
    let mut i = 0u64;
    while i < n {
        let m = (batch as u64).min(n - i);
        let mut recs = Vec::with_capacity(m as usize);
        for j in 0..m {
            let k = (i + j) * 7919 % keys;
            let s = seq[k as usize];
            seq[k as usize] += 1;
            recs.push(Record::new(
                key_of(k),
                value_of(k, s),
                1_700_000_000_000 + (i + j) as i64,
            ));
        }
        let delivered = producer.send_batch(t, recs.clone()).await.unwrap();
        assert_eq!(delivered.len(), recs.len());
        for (d, r) in delivered.iter().zip(&recs) {
            assert_eq!(
                d.partition,
                partition_for(&r.key, t.partitions),
                "partitioner differs"
            );
        }
        i += m;
    }
}

/// `n` records over many keys are all consumed, once, each key in produce order.
pub async fn in_order_per_key(log: Log, n: u64) {
    let t = topic("order", 6);
    log.ensure_topics(&[t]).await.unwrap();
    let keys = 5_000.min(n);
    produce_sequenced(&log, t, n, keys, 20_000).await;
    let ends: u64 = log.end_offsets(t).await.unwrap().iter().sum();
    assert_eq!(ends, n, "end offsets count every record once");

    let mut c = log.consumer(&group("order"), &[t]).unwrap();
    let mut next_seq = vec![0u64; keys as usize];
    let mut seen = 0u64;
    let mut idle = 0;
    while seen < n && idle < 40 {
        let batch = c.poll(50_000, Duration::from_millis(500)).await.unwrap();
        if batch.is_empty() {
            idle += 1;
            continue;
        }
        idle = 0;
        for m in &batch {
            let (k, s) = parse(&m.value);
            assert_eq!(m.key, key_of(k));
            assert_eq!(m.partition, partition_for(&m.key, t.partitions));
            assert_eq!(
                s, next_seq[k as usize],
                "key {k} out of order or duplicated"
            );
            next_seq[k as usize] += 1;
        }
        seen += batch.len() as u64;
        c.commit_messages(&batch).await.unwrap();
    }
    assert_eq!(seen, n, "every record consumed exactly once");
    assert_eq!(c.lag().await.unwrap(), 0);
    assert!(
        c.poll(10, Duration::from_millis(200))
            .await
            .unwrap()
            .is_empty()
    );
}

/// A consumer killed mid-batch: its successor resumes at the committed positions, so nothing
/// is lost and only the uncommitted batch is delivered again.
pub async fn killed_mid_batch_resumes(log: Log) {
    let t = topic("resume", 3);
    log.ensure_topics(&[t]).await.unwrap();
    let n = 3_000;
    produce_sequenced(&log, t, n, 300, 1_000).await;
    let g = group("resume");

    let mut committed: BTreeSet<(u32, u64)> = BTreeSet::new();
    let uncommitted: Vec<Message>;
    {
        let mut a = log.consumer(&g, &[t]).unwrap();
        let mut batches = 0;
        loop {
            let batch = a.poll(250, Duration::from_secs(5)).await.unwrap();
            if batch.is_empty() {
                continue;
            }
            batches += 1;
            if batches <= 4 {
                a.commit_messages(&batch).await.unwrap();
                committed.extend(batch.iter().map(|m| (m.partition, m.offset)));
            } else {
                uncommitted = batch; // processed, then the process dies before committing
                break;
            }
        }
    } // dropped without commit
    assert!(!uncommitted.is_empty());

    let mut b = log.consumer(&g, &[t]).unwrap();
    let mut after: Vec<Message> = Vec::new();
    let mut idle = 0;
    while (committed.len() + after.len()) < n as usize && idle < 40 {
        let batch = b.poll(1_000, Duration::from_millis(500)).await.unwrap();
        if batch.is_empty() {
            idle += 1;
            continue;
        }
        b.commit_messages(&batch).await.unwrap();
        after.extend(batch);
    }
    let after_set: BTreeSet<(u32, u64)> = after.iter().map(|m| (m.partition, m.offset)).collect();
    assert_eq!(
        after_set.len(),
        after.len(),
        "no duplicates after the restart"
    );
    assert!(
        committed.is_disjoint(&after_set),
        "a committed record was delivered again"
    );
    assert_eq!(
        committed.len() + after_set.len(),
        n as usize,
        "a record was lost"
    );
    // The uncommitted batch is read again, and nothing else is read twice.
    let redelivered: BTreeSet<(u32, u64)> = uncommitted
        .iter()
        .map(|m| (m.partition, m.offset))
        .collect();
    assert!(redelivered.is_subset(&after_set));
}

/// Two members of a group split the partitions; together they read everything.
pub async fn group_members_share_partitions(log: Log) {
    let t = topic("share", 4);
    log.ensure_topics(&[t]).await.unwrap();
    let n = 4_000;
    produce_sequenced(&log, t, n, 400, 2_000).await;
    let g = group("share");
    // One instance runs; a second one joins the running group (scaling out).
    let mut a = log.consumer(&g, &[t]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut first = Vec::new();
    while first.is_empty() && std::time::Instant::now() < deadline {
        first = a.poll(500, Duration::from_millis(200)).await.unwrap();
    }
    assert!(!first.is_empty(), "the first member reads");
    let mut b = log.consumer(&g, &[t]).unwrap();
    let mut seen: BTreeMap<(u32, u64), u32> = BTreeMap::new();
    for m in &first {
        *seen.entry((m.partition, m.offset)).or_default() += 1;
    }
    let _ = a.commit(&positions_after(&first)).await;
    let mut rounds = 0;
    while seen.len() < n as usize && rounds < 300 {
        rounds += 1;
        for c in [&mut a, &mut b] {
            let batch = c.poll(500, Duration::from_millis(100)).await.unwrap();
            for m in &batch {
                *seen.entry((m.partition, m.offset)).or_default() += 1;
            }
            let _ = c.commit(&positions_after(&batch)).await;
        }
    }
    assert_eq!(
        seen.len(),
        n as usize,
        "every record read by one of the members"
    );
    // A Kafka group rebalances asynchronously (a member may read everything before the other one
    // is assigned anything): keep both polling until the group settles, for up to 60 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let (sa, sb) = loop {
        let sa: BTreeSet<_> = a.assignment().into_iter().collect();
        let sb: BTreeSet<_> = b.assignment().into_iter().collect();
        let settled = !sa.is_empty()
            && !sb.is_empty()
            && sa.is_disjoint(&sb)
            && sa.len() + sb.len() == t.partitions as usize;
        if settled || std::time::Instant::now() > deadline {
            break (sa, sb);
        }
        for c in [&mut a, &mut b] {
            // Polling drives the rebalance; a batch whose commit a rebalance refused comes again.
            let batch = c.poll(500, Duration::from_millis(100)).await.unwrap();
            let _ = c.commit(&positions_after(&batch)).await;
        }
    };
    assert!(
        !sa.is_empty() && !sb.is_empty(),
        "both members own partitions: {sa:?} / {sb:?}"
    );
    assert!(sa.is_disjoint(&sb));
    assert_eq!(sa.len() + sb.len(), t.partitions as usize);
}

/// Decodes canonical events and forwards them; anything else is poison.
struct Validate {
    input: &'static TopicSpec,
    output: &'static TopicSpec,
}

impl Processor for Validate {
    fn name(&self) -> &'static str {
        "conformance-validate"
    }
    fn inputs(&self) -> Vec<&'static TopicSpec> {
        vec![self.input]
    }
    fn handle(&mut self, msg: &Message, _now: i64) -> Result<Vec<Output>, Poison> {
        let ev: CanonicalEvent = shell::decode(msg)?;
        Ok(vec![Output {
            topic: self.output,
            record: Record::new(msg.key.clone(), ev.encode().unwrap(), ev.occurred_at),
        }])
    }
}

/// Non-Avro and unknown-schema records go to the dead-letter topic with their reason; the rest
/// flows on; the input is committed to its end.
pub async fn poison_goes_to_dead_letter(log: Log) {
    let input = topic("poison-in", 2);
    let output = topic("poison-out", 2);
    let dlq = dlq_of(input);
    log.ensure_topics(&[input, output, dlq]).await.unwrap();
    let producer = log.producer().unwrap();
    let mut recs = Vec::new();
    for (i, p) in examples::every_payload(true).into_iter().enumerate() {
        let ev = examples::event("shop", Some("c1"), i as u64, p);
        recs.push(Record::new(
            b"shop|c1".to_vec(),
            ev.encode().unwrap(),
            ev.occurred_at,
        ));
    }
    let good = recs.len();
    recs.insert(
        3,
        Record::new(b"shop|c1".to_vec(), b"{\"not\":\"avro\"}".to_vec(), 1)
            .header("origin", "test"),
    );
    let mut unknown = recs[0].value.clone();
    unknown[2..10].copy_from_slice(&0x0123_4567_89ab_cdef_u64.to_le_bytes());
    recs.insert(7, Record::new(b"shop|c1".to_vec(), unknown, 2));
    producer.send_batch(input, recs).await.unwrap();

    let opts = RunOptions {
        batch: 5,
        poll_timeout: Duration::from_millis(500),
        stop_when_caught_up: true,
        ..RunOptions::default()
    };
    let stats = shell::run(
        &log,
        &mut Validate { input, output },
        &opts,
        Shutdown::new(),
    )
    .await
    .unwrap();
    assert_eq!(stats.consumed, good as u64 + 2);
    assert_eq!(stats.dead_lettered, 2);
    assert_eq!(stats.produced, good as u64);

    let dead = read_all(&log, dlq, 2).await;
    assert_eq!(dead.len(), 2);
    let reason =
        |m: &Message| String::from_utf8(m.header(shell::DLQ_REASON).unwrap().to_vec()).unwrap();
    assert!(
        reason(&dead[0]).contains("not Avro single-object encoded"),
        "{}",
        reason(&dead[0])
    );
    assert!(
        reason(&dead[1]).contains("unknown schema fingerprint 0123456789abcdef"),
        "{}",
        reason(&dead[1])
    );
    assert_eq!(
        dead[0].value, b"{\"not\":\"avro\"}",
        "the original bytes are kept"
    );
    assert_eq!(
        dead[0].header("origin"),
        Some(&b"test"[..]),
        "original headers are kept"
    );
    let source = String::from_utf8(dead[0].header(shell::DLQ_SOURCE).unwrap().to_vec()).unwrap();
    assert!(source.starts_with(&format!("{}/", input.name)), "{source}");

    let out = read_all(&log, output, good).await;
    assert_eq!(out.len(), good);
    let types: Vec<String> = out
        .iter()
        .map(|m| {
            CanonicalEvent::decode(&m.value)
                .unwrap()
                .payload
                .type_name()
                .to_owned()
        })
        .collect();
    let expected: Vec<String> = examples::every_payload(true)
        .iter()
        .map(|p| p.type_name().to_owned())
        .collect();
    assert_eq!(types, expected, "one key, so order is kept");
    let committed: u64 = log
        .committed("conformance-validate", input)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.unwrap_or(0))
        .sum();
    assert_eq!(committed, good as u64 + 2);
}

/// Copies each record to `output` on flush, as enrich emits its snapshots: the shell produces a
/// batch's outputs while it handles the next batch.
pub struct CopyOnFlush {
    input: &'static TopicSpec,
    output: &'static TopicSpec,
    pending: Vec<Record>,
}

impl CopyOnFlush {
    pub fn new(input: &'static TopicSpec, output: &'static TopicSpec) -> CopyOnFlush {
        CopyOnFlush {
            input,
            output,
            pending: Vec::new(),
        }
    }
}

impl Processor for CopyOnFlush {
    fn name(&self) -> &'static str {
        "conformance-copy"
    }

    fn inputs(&self) -> Vec<&'static TopicSpec> {
        vec![self.input]
    }

    fn handle(&mut self, msg: &Message, _now_ms: i64) -> Result<Vec<Output>, Poison> {
        self.pending.push(Record::new(
            msg.key.clone(),
            msg.value.clone(),
            msg.timestamp_ms,
        ));
        Ok(Vec::new())
    }

    fn flush(&mut self, _now_ms: i64) -> Vec<Output> {
        let output = self.output;
        self.pending
            .drain(..)
            .map(|record| Output {
                topic: output,
                record,
            })
            .collect()
    }
}

/// Many small batches through the shell, outputs produced while the next batch is handled: when
/// `run` returns every output is there, in order per key, and the input is committed to its end.
pub async fn pipelined_batches_keep_order_and_commit(log: Log) {
    let input = topic("pipelined-in", 3);
    let output = topic("pipelined-out", 3);
    log.ensure_topics(&[input, output, dlq_of(input)])
        .await
        .unwrap();
    let n = 20_000;
    produce_sequenced(&log, input, n, 50, 2_000).await;
    let opts = RunOptions {
        batch: 700,
        poll_timeout: Duration::from_millis(500),
        stop_when_caught_up: true,
        ..RunOptions::default()
    };
    let mut app = CopyOnFlush::new(input, output);
    let stats = shell::run(&log, &mut app, &opts, Shutdown::new())
        .await
        .unwrap();
    assert_eq!(stats.consumed, n);
    assert_eq!(stats.produced, n);
    assert!(stats.batches >= n / 700, "{} batches", stats.batches);
    let committed: u64 = log
        .committed("conformance-copy", input)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.unwrap_or(0))
        .sum();
    assert_eq!(committed, n, "committed to the end when run returns");
    let out = read_all(&log, output, n as usize).await;
    assert_eq!(out.len(), n as usize);
    let mut next: BTreeMap<u64, u64> = BTreeMap::new();
    for m in &out {
        let (key, seq) = parse(&m.value);
        let expected = next.entry(key).or_insert(0);
        assert_eq!(seq, *expected, "key {key}: out of order or duplicated");
        *expected += 1;
    }
}

/// A committer handed to another task commits the consumer's positions.
pub async fn committer_commits_positions(log: Log) {
    let t = topic("committer", 2);
    log.ensure_topics(&[t]).await.unwrap();
    produce_sequenced(&log, t, 100, 10, 100).await;
    let g = group("committer");
    let mut c = log.consumer(&g, &[t]).unwrap();
    let mut seen = Vec::new();
    let mut idle = 0;
    while seen.len() < 100 && idle < 40 {
        let b = c.poll(1_000, Duration::from_millis(500)).await.unwrap();
        if b.is_empty() {
            idle += 1;
        }
        seen.extend(b);
    }
    assert_eq!(seen.len(), 100);
    let committer = c.committer();
    let positions = positions_after(&seen);
    tokio::spawn(async move { committer.commit(positions).await })
        .await
        .unwrap()
        .unwrap();
    let committed: u64 = log
        .committed(&g, t)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.unwrap_or(0))
        .sum();
    assert_eq!(committed, 100);
}

/// Read exactly `n` records of `t` with a throwaway group, in (partition, offset) order.
pub async fn read_all(log: &Log, t: &TopicSpec, n: usize) -> Vec<Message> {
    let mut c = log.consumer(&group("read"), &[t]).unwrap();
    let mut out = Vec::new();
    let mut idle = 0;
    while out.len() < n && idle < 40 {
        let b = c.poll(10_000, Duration::from_millis(500)).await.unwrap();
        if b.is_empty() {
            idle += 1;
        }
        out.extend(b);
    }
    out.sort_by_key(|m| (m.partition, m.offset));
    out
}

/// Polling batch after batch into one vector (whose messages the embedded log overwrites)
/// returns exactly the records, keys, values and headers produced: nothing of a longer record
/// or of more headers is left over from the message a record replaced.
pub async fn poll_into_one_vector_returns_each_record_whole(log: Log) {
    let t = topic("poll-into", 2);
    log.ensure_topics(&[t, dlq_of(t)]).await.unwrap();
    let records: Vec<Record> = (0..120u64)
        .map(|i| {
            let mut r = Record::new(
                format!("k{}", "x".repeat((i * 37 % 11) as usize)).into_bytes(),
                // Every tenth value is kilobytes long (the embedded log keeps those out of its
                // B-trees), each with its own bytes.
                {
                    let len = if i % 10 == 3 {
                        1_500 + (i * 131 % 5_000) as usize
                    } else {
                        (i * 53 % 97) as usize
                    };
                    (0..len)
                        .map(|k| (i as usize * 7 + k) as u8)
                        .collect::<Vec<u8>>()
                },
                1_700_000_000_000 + i as i64,
            );
            for h in 0..(i % 4) {
                r = r.header(
                    format!("h{h}{}", "y".repeat((i % 3) as usize)),
                    vec![h as u8; (i % 5) as usize],
                );
            }
            r
        })
        .collect();
    log.producer()
        .unwrap()
        .send_batch(t, records.clone())
        .await
        .unwrap();
    let mut c = log.consumer(&group("poll-into"), &[t]).unwrap();
    let mut batch = Vec::new();
    let mut got: Vec<Message> = Vec::new();
    let mut idle = 0;
    let mut max = 7;
    while got.len() < records.len() && idle < 40 {
        c.poll_into(&mut batch, max, Duration::from_millis(500))
            .await
            .unwrap();
        assert!(batch.len() <= max);
        if batch.is_empty() {
            idle += 1;
        }
        got.extend(batch.iter().cloned());
        // Batches of changing size: longer, then shorter than the vector's messages.
        max = if max == 7 { 3 } else { 7 };
    }
    assert_eq!(got.len(), records.len());
    got.sort_by_key(|m| m.timestamp_ms);
    for (m, r) in got.iter().zip(&records) {
        assert_eq!(m.topic, t.name);
        assert_eq!(m.key, r.key);
        assert_eq!(m.value, r.value);
        assert_eq!(m.headers, r.headers);
        assert_eq!(m.timestamp_ms, r.timestamp_ms);
        assert_eq!(m.partition, partition_for(&r.key, t.partitions));
    }
}

/// `send_topics` files records for several topics at once: each topic's deliveries come back in
/// input order, and each record is where its delivery says, with its bytes.
pub async fn send_topics_delivers_each_topic_in_order(log: Log) {
    let a = topic("multi-a", 3);
    let b = topic("multi-b", 2);
    log.ensure_topics(&[a, dlq_of(a), b, dlq_of(b)])
        .await
        .unwrap();
    let records = |name: &str, n: u64, big: bool| -> Vec<Record> {
        (0..n)
            .map(|i| {
                let len = if big && i % 3 == 0 { 5_000 } else { 30 };
                let value: Vec<u8> = (0..len).map(|k| (i as usize + k) as u8).collect();
                Record::new(format!("{name}{}", i % 7), value, i as i64 + 1)
            })
            .collect()
    };
    let (ra, rb) = (records("a", 40, true), records("b", 25, false));
    let delivered = log
        .producer()
        .unwrap()
        .send_topics(vec![(a, ra.clone()), (b, rb.clone())])
        .await
        .unwrap();
    assert_eq!(delivered.len(), 2);
    for (t, sent, d) in [(a, &ra, &delivered[0]), (b, &rb, &delivered[1])] {
        assert_eq!(d.len(), sent.len());
        let got = read_all(&log, t, sent.len()).await;
        assert_eq!(got.len(), sent.len());
        for (r, d) in sent.iter().zip(d) {
            assert_eq!(d.partition, partition_for(&r.key, t.partitions));
            let m = got
                .iter()
                .find(|m| (m.partition, m.offset) == (d.partition, d.offset))
                .expect("delivered where it says");
            assert_eq!(
                (&m.key, &m.value, m.timestamp_ms),
                (&r.key, &r.value, r.timestamp_ms)
            );
        }
    }
}

/// A consumer that has not polled yet is not caught up: its lag counts every record of its
/// topics. (A Kafka consumer owns no partitions until its first polls have joined the group; an
/// empty assignment once read as lag 0, so a run with `stop_when_caught_up` could stop before
/// reading anything.) Once everything is read and committed, the lag is 0.
pub async fn lag_counts_every_record_before_the_first_poll(log: Log) {
    let t = topic("lag-first", 3);
    log.ensure_topics(&[t]).await.unwrap();
    let records: Vec<Record> = (0..30u64)
        .map(|i| {
            Record::new(
                format!("k{i}").into_bytes(),
                vec![i as u8; 10],
                1_700_000_000_000 + i as i64,
            )
        })
        .collect();
    log.producer()
        .unwrap()
        .send_batch(t, records)
        .await
        .unwrap();
    let mut c = log.consumer(&group("lag-first"), &[t]).unwrap();
    assert_eq!(c.lag().await.unwrap(), 30, "lag before the first poll");
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while seen.len() < 30 && std::time::Instant::now() < deadline {
        seen.extend(c.poll(100, Duration::from_millis(500)).await.unwrap());
    }
    assert_eq!(seen.len(), 30, "every record read");
    c.commit_messages(&seen).await.unwrap();
    assert_eq!(
        c.lag().await.unwrap(),
        0,
        "lag once everything is committed"
    );
}
