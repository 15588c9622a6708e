//! The Kafka backend, through rdkafka (librdkafka). Producer: idempotent, `acks=all`, murmur2
//! partitioner (the Java client's, and [`crate::partition::partition_for`]). Consumer: explicit
//! commits only (`enable.auto.commit=false`, `enable.auto.offset.store=false`), earliest reset.
//! No Kafka transactions are used: outputs are produced, then inputs committed (at-least-once),
//! and every consumer is idempotent.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use mindset_topics::TopicSpec;
use rdkafka::{
    ClientConfig, Message as _, Offset, TopicPartitionList,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, CommitMode, Consumer as _},
    error::KafkaError,
    message::{Header, Headers as _, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
    types::RDKafkaErrorCode,
};

use crate::log::{CommitPosition, Delivered, LogError, Message, Record, Result};

/// Connection settings.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    pub bootstrap_servers: String,
    /// Extra librdkafka properties (security, SASL, tuning), applied last.
    pub client: BTreeMap<String, String>,
    /// Replication factor for topics Mindset creates.
    pub replication_factor: i32,
}

#[derive(Clone)]
pub struct KafkaLog {
    settings: Arc<KafkaSettings>,
    producer: Arc<std::sync::OnceLock<FutureProducer>>,
}

impl KafkaLog {
    pub fn new(settings: KafkaSettings) -> KafkaLog {
        KafkaLog {
            settings: Arc::new(settings),
            producer: Arc::new(std::sync::OnceLock::new()),
        }
    }

    fn base_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.settings.bootstrap_servers);
        c.set("client.id", "mindset");
        for (k, v) in &self.settings.client {
            c.set(k, v);
        }
        c
    }

    fn admin(&self) -> Result<AdminClient<DefaultClientContext>> {
        Ok(self.base_config().create()?)
    }

    pub async fn ensure_topics(&self, specs: &[&TopicSpec]) -> Result<Vec<String>> {
        let admin = self.admin()?;
        let configs: Vec<Vec<(&str, String)>> = specs.iter().map(|s| s.kafka_config()).collect();
        let new: Vec<NewTopic> = specs
            .iter()
            .zip(&configs)
            .map(|(s, cfg)| {
                let mut t = NewTopic::new(
                    s.name,
                    s.partitions as i32,
                    TopicReplication::Fixed(self.settings.replication_factor),
                );
                for (k, v) in cfg {
                    t = t.set(k, v);
                }
                t
            })
            .collect();
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = admin.create_topics(&new, &opts).await?;
        let mut created = Vec::new();
        for r in results {
            match r {
                Ok(name) => created.push(name),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(LogError::Kafka(KafkaError::AdminOp(code)))
                        .map_err(|e| LogError::Config(format!("creating topic {name}: {e}")));
                }
            }
        }
        Ok(created)
    }

    pub fn producer(&self) -> Result<KafkaProducer> {
        if let Some(p) = self.producer.get() {
            return Ok(KafkaProducer { inner: p.clone() });
        }
        let p: FutureProducer = self
            .base_config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5")
            .set("queue.buffering.max.messages", "1000000")
            .set("message.timeout.ms", "120000")
            .create()?;
        let p = self.producer.get_or_init(|| p).clone();
        Ok(KafkaProducer { inner: p })
    }

    pub fn consumer(&self, group: &str, topics: &[&TopicSpec]) -> Result<KafkaConsumer> {
        let c: BaseConsumer = self
            .base_config()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            .create()?;
        let names: Vec<&str> = topics.iter().map(|t| t.name).collect();
        c.subscribe(&names)?;
        Ok(KafkaConsumer {
            inner: Arc::new(c),
            group: group.to_owned(),
        })
    }

    fn metadata_consumer(&self) -> Result<BaseConsumer> {
        Ok(self
            .base_config()
            .set("group.id", "mindset-metadata")
            .create()?)
    }

    pub async fn end_offsets(&self, topic: &TopicSpec) -> Result<Vec<u64>> {
        let c = self.metadata_consumer()?;
        let name = topic.name.to_owned();
        let parts = topic.partitions;
        blocking(move || {
            (0..parts)
                .map(|p| {
                    let (_, high) = c.fetch_watermarks(&name, p as i32, Duration::from_secs(10))?;
                    Ok(high.max(0) as u64)
                })
                .collect()
        })
        .await
    }

    pub async fn committed(&self, group: &str, topic: &TopicSpec) -> Result<Vec<Option<u64>>> {
        let c: BaseConsumer = self.base_config().set("group.id", group).create()?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..topic.partitions {
            tpl.add_partition(topic.name, p as i32);
        }
        let name = topic.name.to_owned();
        blocking(move || {
            let got = c.committed_offsets(tpl, Duration::from_secs(10))?;
            Ok((0..topic_partitions(&got, &name))
                .map(
                    |p| match got.find_partition(&name, p as i32).map(|e| e.offset()) {
                        Some(Offset::Offset(o)) if o >= 0 => Some(o as u64),
                        _ => None,
                    },
                )
                .collect())
        })
        .await
    }

    pub async fn reset_group(&self, group: &str, topics: &[&TopicSpec]) -> Result<()> {
        let c: BaseConsumer = self.base_config().set("group.id", group).create()?;
        let mut tpl = TopicPartitionList::new();
        for t in topics {
            for p in 0..t.partitions {
                tpl.add_partition_offset(t.name, p as i32, Offset::Offset(0))?;
            }
        }
        blocking(move || Ok(c.commit(&tpl, CommitMode::Sync)?)).await
    }
}

fn topic_partitions(tpl: &TopicPartitionList, topic: &str) -> u32 {
    tpl.elements_for_topic(topic).len() as u32
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| LogError::Storage(format!("blocking task failed: {e}")))?
}

#[derive(Clone)]
pub struct KafkaProducer {
    inner: FutureProducer,
}

impl KafkaProducer {
    pub async fn send_batch(
        &self,
        topic: &TopicSpec,
        records: &[Record],
    ) -> Result<Vec<Delivered>> {
        let mut pending = Vec::with_capacity(records.len());
        for r in records {
            let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
            for (k, v) in &r.headers {
                headers = headers.insert(Header {
                    key: k,
                    value: Some(v),
                });
            }
            let mut rec = FutureRecord::to(topic.name)
                .key(&r.key)
                .payload(&r.value)
                .timestamp(r.timestamp_ms)
                .headers(headers);
            loop {
                match self.inner.send_result(rec) {
                    Ok(fut) => {
                        pending.push(fut);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        rec = back;
                        self.inner.poll(Duration::from_millis(10));
                        tokio::task::yield_now().await;
                    }
                    Err((e, _)) => return Err(e.into()),
                }
            }
        }
        let mut out = Vec::with_capacity(pending.len());
        for fut in pending {
            match fut.await {
                Ok(Ok(d)) => out.push(Delivered {
                    partition: d.partition as u32,
                    offset: d.offset as u64,
                }),
                Ok(Err((e, _))) => return Err(e.into()),
                Err(_) => return Err(LogError::Closed),
            }
        }
        Ok(out)
    }
}

pub struct KafkaConsumer {
    inner: Arc<BaseConsumer>,
    group: String,
}

impl KafkaConsumer {
    pub async fn poll(&mut self, max: usize, timeout: Duration) -> Result<Vec<Message>> {
        let c = self.inner.clone();
        blocking(move || {
            let mut out = Vec::new();
            let deadline = std::time::Instant::now() + timeout;
            while out.len() < max {
                let wait = if out.is_empty() {
                    deadline.saturating_duration_since(std::time::Instant::now())
                } else {
                    Duration::ZERO
                };
                match c.poll(wait) {
                    Some(Ok(m)) => out.push(owned(&m)),
                    Some(Err(KafkaError::PartitionEOF(_))) => {}
                    Some(Err(e)) => return Err(e.into()),
                    None => {
                        if !out.is_empty() || std::time::Instant::now() >= deadline {
                            break;
                        }
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    pub async fn commit(&mut self, positions: &[CommitPosition]) -> Result<()> {
        commit(&self.inner, positions).await
    }

    /// A handle that commits this consumer's positions from another task.
    pub fn committer(&self) -> Arc<BaseConsumer> {
        self.inner.clone()
    }

    /// Records behind the end of each assigned partition. Until the group has given this member
    /// its partitions (the first polls of a rebalance), the group's lag on every partition of
    /// the subscribed topics, from its committed offsets: an empty assignment is not "caught up".
    pub async fn lag(&mut self) -> Result<u64> {
        let c = self.inner.clone();
        let group = self.group.clone();
        blocking(move || {
            let timeout = Duration::from_secs(10);
            let pos = if c.assignment()?.count() > 0 {
                c.position()?
            } else {
                let mut all = TopicPartitionList::new();
                for t in c.subscription()?.elements() {
                    let md = c.fetch_metadata(Some(t.topic()), timeout)?;
                    for mt in md.topics() {
                        for p in mt.partitions() {
                            all.add_partition(mt.name(), p.id());
                        }
                    }
                }
                c.committed_offsets(all, timeout)?
            };
            let mut per_topic: BTreeMap<String, u64> = BTreeMap::new();
            for e in pos.elements() {
                let (low, high) = c.fetch_watermarks(e.topic(), e.partition(), timeout)?;
                // No position or commit yet: the partition is read from its start
                // (`auto.offset.reset=earliest`).
                let at = match e.offset() {
                    Offset::Offset(o) => o,
                    _ => low,
                };
                *per_topic.entry(e.topic().to_owned()).or_default() += (high - at).max(0) as u64;
            }
            for (topic, lag) in &per_topic {
                metrics::gauge!("mindset_consumer_lag", "group" => group.clone(), "topic" => topic.clone())
                    .set(*lag as f64);
            }
            Ok(per_topic.values().sum())
        })
        .await
    }

    pub fn assignment(&mut self) -> Vec<(String, u32)> {
        self.inner
            .assignment()
            .map(|tpl| {
                tpl.elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition() as u32))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn owned(m: &rdkafka::message::BorrowedMessage<'_>) -> Message {
    let headers = m
        .headers()
        .map(|h| {
            h.iter()
                .map(|x| {
                    (
                        x.key.to_owned(),
                        x.value.map(<[u8]>::to_vec).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Message {
        topic: m.topic().to_owned(),
        partition: m.partition() as u32,
        offset: m.offset() as u64,
        key: m.key().map(<[u8]>::to_vec).unwrap_or_default(),
        value: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        headers,
        timestamp_ms: m.timestamp().to_millis().unwrap_or(0),
    }
}

/// Commit `positions` synchronously on `consumer` (off the async threads).
pub(crate) async fn commit(
    consumer: &Arc<BaseConsumer>,
    positions: &[CommitPosition],
) -> Result<()> {
    let mut tpl = TopicPartitionList::new();
    for p in positions {
        tpl.add_partition_offset(
            &p.topic,
            p.partition as i32,
            Offset::Offset(p.next_offset as i64),
        )?;
    }
    let c = consumer.clone();
    blocking(move || match c.commit(&tpl, CommitMode::Sync) {
        Ok(()) => Ok(()),
        Err(KafkaError::ConsumerCommit(
            RDKafkaErrorCode::RebalanceInProgress
            | RDKafkaErrorCode::IllegalGeneration
            | RDKafkaErrorCode::UnknownMemberId,
        )) => Err(LogError::Rebalanced),
        Err(e) => Err(e.into()),
    })
    .await
}
