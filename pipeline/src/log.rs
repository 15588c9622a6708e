//! One produce/consume interface over two backends: [`crate::embedded`] (redb on local disk, the
//! default on one machine) and [`crate::kafka`] (rdkafka, any real Kafka). Both pass the same
//! conformance suite (`tests/conformance/mod.rs`).
//!
//! Semantics, both backends:
//! - a record's partition is [`crate::partition::partition_for`] of its key, so one key's records
//!   stay in order;
//! - `send`/`send_batch` return only once the records are durable (embedded: fsynced commit;
//!   Kafka: idempotent producer, `acks=all`);
//! - consumers in one group share partitions; offsets are stored only by an explicit
//!   [`Consumer::commit`] (the shell commits after an input's outputs are produced: at-least-once);
//! - a new group starts at the earliest offset.

use std::{sync::Arc, time::Duration};

use mindset_topics::TopicSpec;

use crate::{embedded, kafka};

/// A record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

impl Record {
    pub fn new(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>, timestamp_ms: i64) -> Self {
        Record {
            key: key.into(),
            value: value.into(),
            headers: Vec::new(),
            timestamp_ms,
        }
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A record read from the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub timestamp_ms: i64,
}

impl Message {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// Where an appended record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub partition: u32,
    pub offset: u64,
}

/// A committed position: the next offset the group will read in a partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CommitPosition {
    pub topic: String,
    pub partition: u32,
    pub next_offset: u64,
}

/// The positions to commit after processing `messages`: per partition, last offset + 1.
pub fn positions_after(messages: &[Message]) -> Vec<CommitPosition> {
    let mut map = std::collections::BTreeMap::<(&str, u32), u64>::new();
    // A poll returns each partition's records as one run: one map update per run.
    for run in messages.chunk_by(|a, b| a.partition == b.partition && a.topic == b.topic) {
        let last = run.iter().map(|m| m.offset + 1).max().unwrap_or(0);
        let e = map
            .entry((run[0].topic.as_str(), run[0].partition))
            .or_insert(0);
        *e = (*e).max(last);
    }
    map.into_iter()
        .map(|((topic, partition), next_offset)| CommitPosition {
            topic: topic.to_owned(),
            partition,
            next_offset,
        })
        .collect()
}

/// Log errors. `retryable()` tells the shell whether trying again can help.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("unknown topic {0}: run `mindset topics apply` (or create it) first")]
    UnknownTopic(String),
    #[error(
        "partitions of this group were reassigned; the batch will be redelivered to their new owner"
    )]
    Rebalanced,
    #[error("embedded log storage: {0}")]
    Storage(String),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("the log is closed")]
    Closed,
    #[error("{0}")]
    Config(String),
}

impl LogError {
    pub fn retryable(&self) -> bool {
        match self {
            LogError::Kafka(e) => !matches!(
                e.rdkafka_error_code(),
                Some(
                    rdkafka::types::RDKafkaErrorCode::InvalidConfig
                        | rdkafka::types::RDKafkaErrorCode::TopicAuthorizationFailed
                        | rdkafka::types::RDKafkaErrorCode::MessageSizeTooLarge
                )
            ),
            LogError::Rebalanced => true,
            LogError::Storage(_) => true,
            LogError::UnknownTopic(_) | LogError::Closed | LogError::Config(_) => false,
        }
    }
}

pub type Result<T, E = LogError> = std::result::Result<T, E>;

/// A log: either backend, chosen by configuration.
#[derive(Clone)]
pub enum Log {
    Embedded(embedded::EmbeddedLog),
    Kafka(kafka::KafkaLog),
}

impl Log {
    pub fn backend_name(&self) -> &'static str {
        match self {
            Log::Embedded(_) => "embedded",
            Log::Kafka(_) => "kafka",
        }
    }

    /// Create the topics that do not exist yet (idempotent).
    pub async fn ensure_topics(&self, specs: &[&TopicSpec]) -> Result<Vec<String>> {
        match self {
            Log::Embedded(l) => l.ensure_topics(specs).await,
            Log::Kafka(l) => l.ensure_topics(specs).await,
        }
    }

    pub fn producer(&self) -> Result<Producer> {
        Ok(match self {
            Log::Embedded(l) => Producer::Embedded(l.producer()),
            Log::Kafka(l) => Producer::Kafka(l.producer()?),
        })
    }

    /// A consumer in `group` subscribed to `topics`.
    pub fn consumer(&self, group: &str, topics: &[&TopicSpec]) -> Result<Consumer> {
        Ok(match self {
            Log::Embedded(l) => Consumer::Embedded(l.consumer(group, topics)?),
            Log::Kafka(l) => Consumer::Kafka(l.consumer(group, topics)?),
        })
    }

    /// The next offset to be written in each partition of `topic` (the high watermarks).
    pub async fn end_offsets(&self, topic: &TopicSpec) -> Result<Vec<u64>> {
        match self {
            Log::Embedded(l) => l.end_offsets(topic).await,
            Log::Kafka(l) => l.end_offsets(topic).await,
        }
    }

    /// The committed positions of `group` in `topic`, per partition (`None`: nothing committed).
    pub async fn committed(&self, group: &str, topic: &TopicSpec) -> Result<Vec<Option<u64>>> {
        match self {
            Log::Embedded(l) => l.committed(group, topic),
            Log::Kafka(l) => l.committed(group, topic).await,
        }
    }

    /// Move `group`'s committed positions in `topics` back to the earliest offset (replay).
    /// The group must have no live members.
    pub async fn reset_group(&self, group: &str, topics: &[&TopicSpec]) -> Result<()> {
        match self {
            Log::Embedded(l) => l.reset_group(group, topics).await,
            Log::Kafka(l) => l.reset_group(group, topics).await,
        }
    }
}

/// Appends records.
#[derive(Clone)]
pub enum Producer {
    Embedded(embedded::EmbeddedProducer),
    Kafka(kafka::KafkaProducer),
}

impl Producer {
    pub async fn send(&self, topic: &TopicSpec, record: Record) -> Result<Delivered> {
        let mut d = self.send_batch(topic, vec![record]).await?;
        Ok(d.pop().expect("one delivery per record"))
    }

    /// Append records; returns once all are durable, in input order.
    pub async fn send_batch(
        &self,
        topic: &TopicSpec,
        records: Vec<Record>,
    ) -> Result<Vec<Delivered>> {
        self.send_shared(topic, Arc::new(records)).await
    }

    /// Append records to several topics; returns once all are durable, each topic's deliveries
    /// in input order. The embedded log files them in one group commit; on Kafka the topics'
    /// batches are sent concurrently.
    pub async fn send_topics(
        &self,
        batches: Vec<(&TopicSpec, Vec<Record>)>,
    ) -> Result<Vec<Vec<Delivered>>> {
        self.send_topics_shared(batches.into_iter().map(|(t, r)| (t, Arc::new(r))).collect())
            .await
    }

    /// [`Producer::send_batch`] of records the caller keeps too (to retry them without a copy).
    pub async fn send_shared(
        &self,
        topic: &TopicSpec,
        records: Arc<Vec<Record>>,
    ) -> Result<Vec<Delivered>> {
        let mut d = self.send_topics_shared(vec![(topic, records)]).await?;
        Ok(d.pop().expect("one topic"))
    }

    /// [`Producer::send_topics`] of shared records. An empty batch is answered with no
    /// deliveries and not sent.
    async fn send_topics_shared(
        &self,
        batches: Vec<SharedBatch<'_>>,
    ) -> Result<Vec<Vec<Delivered>>> {
        let mut out = vec![Vec::new(); batches.len()];
        let (filled, sent): (Vec<usize>, Vec<SharedBatch<'_>>) = batches
            .into_iter()
            .enumerate()
            .filter(|(_, (_, r))| !r.is_empty())
            .unzip();
        if sent.is_empty() {
            return Ok(out);
        }
        let counts: Vec<(&'static str, u64)> =
            sent.iter().map(|(t, r)| (t.name, r.len() as u64)).collect();
        let delivered = match self {
            Producer::Embedded(p) => p.send_topics(sent).await?,
            Producer::Kafka(p) => {
                futures::future::try_join_all(sent.iter().map(|(t, r)| p.send_batch(t, r))).await?
            }
        };
        for (topic, n) in counts {
            metrics::counter!("mindset_log_produced_total", "topic" => topic).increment(n);
        }
        for (i, d) in filled.into_iter().zip(delivered) {
            out[i] = d;
        }
        Ok(out)
    }
}

/// A topic and records the caller keeps too.
type SharedBatch<'a> = (&'a TopicSpec, Arc<Vec<Record>>);

/// Commits a consumer's positions from another task ([`Consumer::committer`]). A commit of a
/// partition the consumer no longer owns fails with [`LogError::Rebalanced`].
#[derive(Clone)]
pub enum Committer {
    Embedded(embedded::EmbeddedCommitter),
    Kafka(Arc<rdkafka::consumer::BaseConsumer>),
}

impl Committer {
    pub async fn commit(&self, positions: Vec<CommitPosition>) -> Result<()> {
        if positions.is_empty() {
            return Ok(());
        }
        match self {
            Committer::Embedded(c) => c.commit(positions).await,
            Committer::Kafka(c) => kafka::commit(c, &positions).await,
        }
    }
}

/// Reads records of a group's share of partitions.
pub enum Consumer {
    Embedded(embedded::EmbeddedConsumer),
    Kafka(kafka::KafkaConsumer),
}

impl Consumer {
    /// Up to `max` records, waiting at most `timeout` for the first.
    pub async fn poll(&mut self, max: usize, timeout: Duration) -> Result<Vec<Message>> {
        match self {
            Consumer::Embedded(c) => c.poll(max, timeout).await,
            Consumer::Kafka(c) => c.poll(max, timeout).await,
        }
    }

    /// [`Consumer::poll`] into `out`: afterwards `out` holds exactly the records read. The
    /// embedded log overwrites the messages `out` held, reusing their buffers, so a consumer
    /// that polls into the same vector batch after batch allocates little.
    pub async fn poll_into(
        &mut self,
        out: &mut Vec<Message>,
        max: usize,
        timeout: Duration,
    ) -> Result<()> {
        match self {
            Consumer::Embedded(c) => c.poll_into(out, max, timeout).await,
            Consumer::Kafka(c) => {
                out.clear();
                out.append(&mut c.poll(max, timeout).await?);
                Ok(())
            }
        }
    }

    /// Durably store positions for this group.
    pub async fn commit(&mut self, positions: &[CommitPosition]) -> Result<()> {
        if positions.is_empty() {
            return Ok(());
        }
        match self {
            Consumer::Embedded(c) => c.commit(positions).await,
            Consumer::Kafka(c) => c.commit(positions).await,
        }
    }

    /// Commit the positions after `messages`.
    pub async fn commit_messages(&mut self, messages: &[Message]) -> Result<()> {
        self.commit(&positions_after(messages)).await
    }

    /// Records behind the end of each assigned partition, summed (on Kafka, until the group has
    /// assigned this member its partitions, the group's lag over every partition of its topics);
    /// also published as the `mindset_consumer_lag` gauge labelled by group and topic.
    pub async fn lag(&mut self) -> Result<u64> {
        match self {
            Consumer::Embedded(c) => c.lag(),
            Consumer::Kafka(c) => c.lag().await,
        }
    }

    /// A handle that commits this consumer's positions from another task (the shell commits a
    /// batch there once its outputs are durable, while the next batch is processed).
    pub fn committer(&self) -> Committer {
        match self {
            Consumer::Embedded(c) => Committer::Embedded(c.committer()),
            Consumer::Kafka(c) => Committer::Kafka(c.committer()),
        }
    }

    /// The partitions this consumer currently owns.
    pub fn assignment(&mut self) -> Vec<(String, u32)> {
        match self {
            Consumer::Embedded(c) => c.assignment(),
            Consumer::Kafka(c) => c.assignment(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(topic: &str, partition: u32, offset: u64) -> Message {
        Message {
            topic: topic.to_owned(),
            partition,
            offset,
            ..Message::default()
        }
    }

    #[test]
    fn positions_after_takes_the_highest_offset_of_each_partition() {
        // Runs per partition, a partition seen twice, and two topics with the same partition.
        let batch = [
            msg("a", 0, 4),
            msg("a", 0, 5),
            msg("a", 1, 9),
            msg("b", 1, 2),
            msg("a", 0, 7),
            msg("a", 0, 6),
            msg("b", 1, 1),
        ];
        let got: Vec<(String, u32, u64)> = positions_after(&batch)
            .into_iter()
            .map(|c| (c.topic, c.partition, c.next_offset))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a".to_owned(), 0, 8),
                ("a".to_owned(), 1, 10),
                ("b".to_owned(), 1, 3),
            ]
        );
        assert!(positions_after(&[]).is_empty());
    }
}
