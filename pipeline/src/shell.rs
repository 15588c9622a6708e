//! The thin shell around a stream-app's pure core: consume a batch, hand each record to the
//! [`Processor`], produce its outputs (and the dead letters of poison records), and only then
//! commit the batch's offsets — rust-rdkafka's at-least-once pattern. A record that fails is
//! either poison (goes to its topic's dead-letter topic with the reason, never dropped) or a
//! retryable log error (retried with back-off; offsets stay uncommitted, so nothing is lost).

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use mindset_topics::{TopicSpec, ValueCodec};

use crate::{
    log::{Log, LogError, Message, Record, positions_after},
    publish::{RecordsByTopic, add},
    shutdown::Shutdown,
};

/// Headers a dead letter carries.
pub const DLQ_REASON: &str = "mindset.dlq.reason";
pub const DLQ_SOURCE: &str = "mindset.dlq.source";
pub const DLQ_APP: &str = "mindset.dlq.app";
pub const DLQ_AT: &str = "mindset.dlq.at";

/// A record that can never be processed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poison {
    pub reason: String,
}

impl Poison {
    pub fn new(reason: impl Into<String>) -> Poison {
        Poison {
            reason: reason.into(),
        }
    }
}

/// Decode a message's value, or say why it is poison.
pub fn decode<V: ValueCodec>(msg: &Message) -> Result<V, Poison> {
    V::decode_value(&msg.value).map_err(|e| Poison::new(e.to_string()))
}

/// A record for an output topic.
#[derive(Debug, Clone)]
pub struct Output {
    pub topic: &'static TopicSpec,
    pub record: Record,
}

/// A stream-app's core as the shell sees it.
pub trait Processor: Send {
    /// The app's name: its folder, binary subcommand, consumer group and metric label.
    fn name(&self) -> &'static str;
    /// Topics it reads.
    fn inputs(&self) -> Vec<&'static TopicSpec>;
    /// Handle one record: its outputs, or why it is poison.
    fn handle(&mut self, msg: &Message, now_ms: i64) -> Result<Vec<Output>, Poison>;
    /// Called once after every record of a batch was handled, before anything is produced (for
    /// cores that emit one output per changed key per batch rather than one per record), and on
    /// every empty poll (for work that waits for a quiet moment).
    fn flush(&mut self, _now_ms: i64) -> Vec<Output> {
        Vec::new()
    }
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub batch: usize,
    pub poll_timeout: Duration,
    /// Stop once every input is fully consumed (demo, replay, tests).
    pub stop_when_caught_up: bool,
    /// How long to keep retrying a retryable log error before giving up.
    pub retry_for: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            batch: 2_000,
            poll_timeout: Duration::from_millis(500),
            stop_when_caught_up: false,
            retry_for: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunStats {
    pub consumed: u64,
    pub produced: u64,
    pub dead_lettered: u64,
    pub batches: u64,
    pub redelivery_rebalances: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("topic {0} declares no dead-letter topic, so its poison records have nowhere to go")]
    NoDeadLetter(String),
    /// The app could not start (e.g. a configured model does not load).
    #[error("{0}")]
    Start(String),
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The dead letter of `msg`: the original key, value and headers, plus why and where from.
pub fn dead_letter(app: &str, msg: &Message, poison: &Poison, now_ms: i64) -> Record {
    let mut headers = msg.headers.clone();
    headers.push((DLQ_REASON.into(), poison.reason.clone().into_bytes()));
    headers.push((
        DLQ_SOURCE.into(),
        format!("{}/{}@{}", msg.topic, msg.partition, msg.offset).into_bytes(),
    ));
    headers.push((DLQ_APP.into(), app.as_bytes().to_vec()));
    headers.push((DLQ_AT.into(), now_ms.to_string().into_bytes()));
    Record {
        key: msg.key.clone(),
        value: msg.value.clone(),
        headers,
        timestamp_ms: msg.timestamp_ms,
    }
}

/// Records produced, and how the commit after them went.
type Produced = (u64, Result<(), LogError>);

/// A batch whose outputs are being produced (and then its positions committed) on another task
/// while the shell processes the next one.
struct InFlight {
    task: tokio::task::JoinHandle<Result<Produced, LogError>>,
    consumed: u64,
    poison: u64,
}

/// Records handled between two chances for the batch in flight to move on (on a current-thread
/// runtime it runs only when the shell yields).
const YIELD_EVERY: usize = 1024;

/// Wait for the batch in flight: its outputs durable, then its positions committed.
async fn settle(
    app: &'static str,
    in_flight: &mut Option<InFlight>,
    stats: &mut RunStats,
) -> Result<(), ShellError> {
    let Some(f) = in_flight.take() else {
        return Ok(());
    };
    let (produced, committed) = f.task.await.map_err(|e| {
        ShellError::Start(format!("{app}: the task producing a batch failed: {e}"))
    })??;
    match committed {
        Ok(()) => {}
        Err(LogError::Rebalanced) => {
            stats.redelivery_rebalances += 1;
            tracing::info!(
                app,
                "partitions reassigned before commit; the batch will be redelivered"
            );
        }
        Err(e) => return Err(e.into()),
    }
    stats.consumed += f.consumed;
    stats.produced += produced - f.poison;
    stats.dead_lettered += f.poison;
    stats.batches += 1;
    metrics::counter!("mindset_consumed_total", "app" => app).increment(f.consumed);
    metrics::counter!("mindset_dead_lettered_total", "app" => app).increment(f.poison);
    Ok(())
}

/// Run `processor` until shutdown (or until caught up, with `stop_when_caught_up`).
///
/// A batch is handled, then its outputs are produced and its positions committed on another task
/// while the next batch is polled and handled; the next batch's outputs are produced only after
/// that (so outputs stay in order), and nothing is committed before its batch's outputs are
/// durable. When `run` returns, every batch it handled is produced and committed.
pub async fn run<P: Processor>(
    log: &Log,
    processor: &mut P,
    opts: &RunOptions,
    mut shutdown: Shutdown,
) -> Result<RunStats, ShellError> {
    let app = processor.name();
    let inputs = processor.inputs();
    let dlq_of: BTreeMap<&str, &'static TopicSpec> = inputs
        .iter()
        .map(|t| {
            let d = t
                .dead_letter
                .and_then(|d| dlq_spec(d, t))
                .ok_or_else(|| ShellError::NoDeadLetter(t.name.to_owned()))?;
            Ok((t.name, d))
        })
        .collect::<Result<_, ShellError>>()?;
    let mut consumer = log.consumer(app, &inputs)?;
    let producer = log.producer()?;
    let mut stats = RunStats::default();
    let mut in_flight: Option<InFlight> = None;
    // One vector, and one set of message buffers, for every batch's records.
    let mut batch: Vec<Message> = Vec::new();
    tracing::info!(app, backend = log.backend_name(), "started");
    loop {
        if shutdown.is_triggered() {
            break;
        }
        let polled = tokio::select! {
            p = consumer.poll_into(&mut batch, opts.batch, opts.poll_timeout) => p,
            _ = shutdown.wait() => break,
        };
        match polled {
            Ok(()) => {}
            Err(e) if e.retryable() => {
                tracing::warn!(app, error = %e, "poll failed, retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        if batch.is_empty() {
            settle(app, &mut in_flight, &mut stats).await?;
            // Idle: the processor may have work that waits for a quiet moment.
            let idle = processor.flush(now_ms());
            if !idle.is_empty() {
                let mut outputs = RecordsByTopic::new();
                for o in idle {
                    add(&mut outputs, o.topic, o.record);
                }
                stats.produced += produce_all(opts, app, &producer, outputs).await?;
                continue;
            }
            if opts.stop_when_caught_up && consumer.lag().await? == 0 {
                break;
            }
            continue;
        }
        let now = now_ms();
        let mut outputs = RecordsByTopic::new();
        let mut poison = 0u64;
        for (i, msg) in batch.iter().enumerate() {
            if i % YIELD_EVERY == YIELD_EVERY - 1 && in_flight.is_some() {
                tokio::task::yield_now().await;
            }
            match processor.handle(msg, now) {
                Ok(outs) => {
                    for o in outs {
                        add(&mut outputs, o.topic, o.record);
                    }
                }
                Err(p) => {
                    let dlq = dlq_of[msg.topic.as_str()];
                    tracing::warn!(app, topic = %msg.topic, partition = msg.partition, offset = msg.offset, reason = %p.reason, "poison record to {}", dlq.name);
                    add(&mut outputs, dlq, dead_letter(app, msg, &p, now));
                    poison += 1;
                }
            }
        }
        if in_flight.is_some() {
            tokio::task::yield_now().await;
        }
        let flushed = processor.flush(now);
        // Size each topic's records once (a flush can emit tens of thousands).
        let mut counts: BTreeMap<&'static str, (&'static TopicSpec, usize)> = BTreeMap::new();
        for o in &flushed {
            counts.entry(o.topic.name).or_insert((o.topic, 0)).1 += 1;
        }
        for (name, (topic, n)) in counts {
            outputs
                .entry(name)
                .or_insert((topic, Vec::new()))
                .1
                .reserve(n);
        }
        for o in flushed {
            // A processor that finds poison only when it flushes (nlp, after its models ran)
            // dead-letters it itself; count it as such.
            if dlq_of.values().any(|d| d.name == o.topic.name) {
                poison += 1;
            }
            add(&mut outputs, o.topic, o.record);
        }
        // The batch in flight settles before this one's outputs are produced.
        settle(app, &mut in_flight, &mut stats).await?;
        let positions = positions_after(&batch);
        let consumed = batch.len() as u64;
        // `batch` keeps its messages: the next poll overwrites them, reusing their buffers.
        let committer = consumer.committer();
        let (task_opts, task_producer) = (opts.clone(), producer.clone());
        let task = tokio::spawn(async move {
            let produced = produce_all(&task_opts, app, &task_producer, outputs).await?;
            let committed = retry(&task_opts, app, "commit", || {
                committer.commit(positions.clone())
            })
            .await;
            Ok((produced, committed))
        });
        in_flight = Some(InFlight {
            task,
            consumed,
            poison,
        });
        // Let it send its records now: a current-thread runtime runs it only when we yield.
        tokio::task::yield_now().await;
    }
    settle(app, &mut in_flight, &mut stats).await?;
    tracing::info!(
        app,
        consumed = stats.consumed,
        produced = stats.produced,
        dead_lettered = stats.dead_lettered,
        "stopped"
    );
    Ok(stats)
}

/// Produce every topic's records (each with retries); returns how many were written.
async fn produce_all(
    opts: &RunOptions,
    app: &str,
    producer: &crate::log::Producer,
    outputs: RecordsByTopic,
) -> Result<u64, LogError> {
    // Every topic's records are sent at once (one durable write for all on the embedded log).
    let sends = outputs.into_values().map(|(topic, records)| {
        let records = Arc::new(records);
        async move {
            let n = records.len() as u64;
            retry(opts, app, "produce", || {
                producer.send_shared(topic, records.clone())
            })
            .await?;
            Ok::<u64, LogError>(n)
        }
    });
    Ok(futures::future::try_join_all(sends)
        .await?
        .into_iter()
        .sum())
}

fn dlq_spec(name: &str, of: &TopicSpec) -> Option<&'static TopicSpec> {
    mindset_topics::by_name(name).or_else(|| {
        // Topics declared outside `mindset_topics::all()` (tests) name a DLQ by convention.
        (name == format!("{}.dlq", of.name)).then(|| {
            &*Box::leak(Box::new(TopicSpec {
                name: Box::leak(name.to_owned().into_boxed_str()),
                partitions: 1,
                retention: mindset_topics::Retention::Days(30),
                dead_letter: None,
                value_schema: None,
                doc: "dead letters",
            }))
        })
    })
}

async fn retry<T, F, Fut>(opts: &RunOptions, app: &str, what: &str, mut f: F) -> Result<T, LogError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, LogError>>,
{
    let start = std::time::Instant::now();
    let mut delay = Duration::from_millis(50);
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(LogError::Rebalanced) => return Err(LogError::Rebalanced),
            Err(e) if e.retryable() && start.elapsed() < opts.retry_for => {
                tracing::warn!(app, error = %e, "{what} failed, retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}
