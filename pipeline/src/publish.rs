//! Filing canonical events on the log: validate, route (topic + key), encode, produce. Every
//! entry point that brings events in (connectors, the track API, imports, the demo) goes through
//! here, so an event that cannot be filed is rejected with its reason before anything of it
//! enters the log.

use std::collections::BTreeMap;

use mindset_schemas::CanonicalEvent;
use mindset_topics::{TopicSpec, route};

use crate::log::{LogError, Producer, Record};

/// What happened to a set of events.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PublishReport {
    /// Records appended, per topic name.
    pub appended: BTreeMap<&'static str, u64>,
    /// Events refused: their index in the input and why.
    pub rejected: Vec<(usize, String)>,
}

impl PublishReport {
    pub fn total(&self) -> u64 {
        self.appended.values().sum()
    }
}

/// Validate one event beyond what the schema enforces.
pub fn validate(ev: &CanonicalEvent) -> Result<(), String> {
    if ev.event_id.is_empty() {
        return Err("event_id is empty".into());
    }
    if ev.source_id.is_empty() {
        return Err("source_id is empty".into());
    }
    if ev.occurred_at <= 0 || ev.received_at <= 0 {
        return Err("occurred_at and received_at must be positive epoch milliseconds".into());
    }
    Ok(())
}

/// Records to append, per topic name.
pub type RecordsByTopic = BTreeMap<&'static str, (&'static TopicSpec, Vec<Record>)>;

/// Add `record` to `topic`'s records (order kept per topic).
pub fn add(by_topic: &mut RecordsByTopic, topic: &'static TopicSpec, record: Record) {
    by_topic
        .entry(topic.name)
        .or_insert((topic, Vec::new()))
        .1
        .push(record);
}

/// Encode and route events; returns the records per topic and the refused ones.
pub fn prepare(events: &[CanonicalEvent]) -> (RecordsByTopic, Vec<(usize, String)>) {
    let mut by_topic = RecordsByTopic::new();
    let mut rejected = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        let prepared = validate(ev).and_then(|()| {
            let (topic, key) = route(ev).map_err(|e| e.to_string())?;
            let value = ev.encode().map_err(|e| e.to_string())?;
            Ok((topic, key, value))
        });
        match prepared {
            // No headers: the value says everything, and tansu (sqlite storage) serves
            // records with headers roughly 100x slower (docs/BENCHMARKS.md).
            Ok((topic, key, value)) => add(
                &mut by_topic,
                topic,
                Record::new(key, value, ev.occurred_at),
            ),
            Err(reason) => rejected.push((i, reason)),
        }
    }
    (by_topic, rejected)
}

/// Publish `events`, in chunks of `chunk` records per produce call. Nothing of a refused event
/// is written; the others are written in input order per key.
pub async fn publish(
    producer: &Producer,
    events: &[CanonicalEvent],
    chunk: usize,
) -> Result<PublishReport, LogError> {
    let (by_topic, rejected) = prepare(events);
    let mut report = PublishReport {
        rejected,
        ..PublishReport::default()
    };
    for (name, (topic, records)) in by_topic {
        for part in records.chunks(chunk.max(1)) {
            producer.send_batch(topic, part.to_vec()).await?;
        }
        report.appended.insert(name, records.len() as u64);
    }
    Ok(report)
}
