//! What the API's integration tests share: an embedded log in a temporary directory, and reading
//! a topic back to its end.

#![allow(dead_code)]

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use mindset_pipeline::{Log, Message, embedded::EmbeddedLog};
use mindset_topics::{TopicSpec, ValueCodec};

/// An embedded log at `dir/log.redb` with every declared topic.
pub async fn open_log(dir: &std::path::Path) -> Log {
    let log = Log::Embedded(EmbeddedLog::open(dir.join("log.redb")).unwrap());
    log.ensure_topics(&mindset_topics::all()).await.unwrap();
    log
}

/// Records on `topic`.
pub async fn count(log: &Log, topic: &TopicSpec) -> u64 {
    log.end_offsets(topic).await.unwrap().iter().sum()
}

/// Records per topic, over every declared topic.
pub async fn sizes(log: &Log) -> BTreeMap<&'static str, u64> {
    let mut sizes = BTreeMap::new();
    for t in mindset_topics::all() {
        sizes.insert(t.name, count(log, t).await);
    }
    sizes
}

static GROUPS: AtomicU32 = AtomicU32::new(0);

/// Every record of `topic`, read with a consumer group of its own; fails unless all are read.
pub async fn records(log: &Log, topic: &TopicSpec) -> Vec<Message> {
    let total = count(log, topic).await;
    let group = format!("api-test-{}", GROUPS.fetch_add(1, Ordering::Relaxed));
    let mut c = log.consumer(&group, &[topic]).unwrap();
    let mut out = Vec::new();
    let mut idle = 0;
    while (out.len() as u64) < total && idle < 20 {
        let batch = c.poll(1_000, Duration::from_millis(100)).await.unwrap();
        if batch.is_empty() {
            idle += 1;
        }
        out.extend(batch);
    }
    assert_eq!(out.len() as u64, total, "read all of {}", topic.name);
    out
}

/// Every record of `topic` as (key, decoded value).
pub async fn read<V: ValueCodec>(log: &Log, topic: &TopicSpec) -> Vec<(String, V)> {
    records(log, topic)
        .await
        .into_iter()
        .map(|m| {
            let value = V::decode_value(&m.value)
                .unwrap_or_else(|e| panic!("{}@{}: {e}", m.topic, m.offset));
            (String::from_utf8(m.key).unwrap(), value)
        })
        .collect()
}
