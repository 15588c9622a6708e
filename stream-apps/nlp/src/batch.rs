//! Batching across events, off the async threads: one dedicated thread owns the analyzer (the model is
//! not shared), gathers the texts of many requests into one batch, bounded in size and in how long the
//! first request waits, scores it, and answers each request with its own slice.
//!
//! Requests are answered through a `tokio::sync::oneshot`, so async code awaits the answer while a
//! plain thread can block on it ([`Ticket::wait`]).

use std::{
    sync::mpsc::{self, RecvTimeoutError},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use tokio::sync::oneshot;

use crate::{
    NlpError,
    core::{Analysis, Analyze},
};

/// Bounds of one batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchConfig {
    /// At most this many texts per analyzer call (a single larger request is scored alone).
    pub max_batch: usize,
    /// The first request of a batch waits at most this long for others to join it.
    pub max_wait: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_batch: 32,
            max_wait: Duration::from_millis(5),
        }
    }
}

struct Job {
    texts: Vec<String>,
    reply: oneshot::Sender<Result<Vec<Analysis>, String>>,
}

/// The answer to one request, to await or wait for.
pub struct Ticket(oneshot::Receiver<Result<Vec<Analysis>, String>>);

impl Ticket {
    /// Blocks the current thread until the scores are ready (not for async threads).
    pub fn wait(self) -> Result<Vec<Analysis>, NlpError> {
        match self.0.blocking_recv() {
            Ok(answer) => answer.map_err(NlpError::Model),
            Err(_) => Err(NlpError::Model("the batching thread stopped".into())),
        }
    }

    /// Awaits the scores.
    pub async fn scores(self) -> Result<Vec<Analysis>, NlpError> {
        match self.0.await {
            Ok(answer) => answer.map_err(NlpError::Model),
            Err(_) => Err(NlpError::Model("the batching thread stopped".into())),
        }
    }
}

/// Handle to the batching thread; dropping it stops the thread once queued requests are answered.
pub struct Batcher {
    models: String,
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Batcher {
    /// Starts the thread. `make` builds the analyzer on that thread (a model is loaded where it
    /// runs); returns once it is built.
    pub fn spawn<A, F>(config: BatchConfig, make: F) -> Batcher
    where
        A: Analyze,
        F: FnOnce() -> A + Send + 'static,
    {
        Batcher::try_spawn(config, move || Ok(make())).expect("an infallible build")
    }

    /// [`Batcher::spawn`] for a build that can fail: its error is returned, and no thread is left.
    pub fn try_spawn<A, F>(config: BatchConfig, make: F) -> Result<Batcher, NlpError>
    where
        A: Analyze,
        F: FnOnce() -> Result<A, NlpError> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<Job>();
        let (built, described) = mpsc::sync_channel::<Result<String, String>>(1);
        let thread = std::thread::Builder::new()
            .name("nlp-batcher".into())
            .spawn(move || match make() {
                Ok(analyzer) => {
                    let _ = built.send(Ok(analyzer.describe()));
                    run(&analyzer, &rx, config)
                }
                Err(e) => {
                    let _ = built.send(Err(e.to_string()));
                }
            })
            .expect("spawning the batching thread");
        match described.recv() {
            Ok(Ok(models)) => Ok(Batcher {
                models,
                tx: Some(tx),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(NlpError::Model(e))
            }
            Err(_) => {
                let _ = thread.join();
                Err(NlpError::Model("building the models panicked".into()))
            }
        }
    }

    /// The models the thread runs ([`Analyze::describe`]).
    pub fn models(&self) -> &str {
        &self.models
    }

    /// Queues texts for scoring; the ticket yields one score per text, in order.
    pub fn submit(&self, texts: Vec<String>) -> Ticket {
        let (reply, rx) = oneshot::channel();
        let tx = self.tx.as_ref().expect("sender lives until drop");
        // If the thread is gone, `reply` is dropped with the job and the ticket reports it.
        let _ = tx.send(Job { texts, reply });
        Ticket(rx)
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(analyzer: &dyn Analyze, rx: &mpsc::Receiver<Job>, config: BatchConfig) {
    let max_batch = config.max_batch.max(1);
    let mut pending: Option<Job> = None;
    loop {
        let first = match pending.take() {
            Some(job) => job,
            None => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        let deadline = Instant::now() + config.max_wait;
        let mut size = first.texts.len();
        let mut jobs = vec![first];
        let mut closed = false;
        while size < max_batch {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(job) if size + job.texts.len() <= max_batch => {
                    size += job.texts.len();
                    jobs.push(job);
                }
                Ok(job) => {
                    pending = Some(job);
                    break;
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        answer(analyzer, jobs);
        if closed && pending.is_none() {
            return;
        }
    }
}

fn answer(analyzer: &dyn Analyze, jobs: Vec<Job>) {
    let texts: Vec<&str> = jobs
        .iter()
        .flat_map(|j| j.texts.iter().map(String::as_str))
        .collect();
    match analyzer.analyze(&texts) {
        Ok(scores) if scores.len() == texts.len() => {
            let mut scores = scores.into_iter();
            for job in jobs {
                let mine: Vec<Analysis> = scores.by_ref().take(job.texts.len()).collect();
                let _ = job.reply.send(Ok(mine));
            }
        }
        Ok(scores) => {
            let msg = format!(
                "analyzer returned {} scores for {} texts",
                scores.len(),
                texts.len()
            );
            for job in jobs {
                let _ = job.reply.send(Err(msg.clone()));
            }
        }
        Err(e) => {
            let msg = e.to_string();
            for job in jobs {
                let _ = job.reply.send(Err(msg.clone()));
            }
        }
    }
}
