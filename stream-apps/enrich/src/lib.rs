//! The enrich stream-app: per-customer features from canonical events. [`core`] is the pure
//! state machine; [`EnrichApp`] is its shell on the log: it folds every record of a batch in,
//! then emits one snapshot per changed customer to `customer.features.v1`.
//!
//! State is rebuilt by replay: on start, [`run`] reads `customer.events.v1` and
//! `catalog.events.v1` from the beginning up to the group's committed positions, folding without
//! emitting, then continues from there (the log is the source of truth; see the app's README).

pub mod core;
pub mod lifetime;
pub mod sketch;

use std::{
    collections::{BTreeSet, HashSet},
    time::Duration,
};

use mindset_pipeline::{
    Log, LogError, Message, Record,
    shell::{self, Output, Poison, Processor, RunOptions, RunStats, ShellError},
    shutdown::Shutdown,
};
use mindset_schemas::{CanonicalEvent, Payload, TextInsight};
use mindset_topics::{
    CATALOG_EVENTS, CUSTOMER_EVENTS, CUSTOMER_FEATURES, CustomerKey, KeyCodec, TEXT_INSIGHTS,
    TopicSpec,
};

use crate::core::{Applied, Enrich, EnrichConfig};

pub const NAME: &str = "enrich";

/// The shell's view of the core.
pub struct EnrichApp {
    core: Enrich,
    dirty: HashSet<(String, String)>,
    /// Batches smaller than this mean the app has caught up: a good moment to refit models.
    batch_size: usize,
    batch_seen: usize,
}

impl EnrichApp {
    pub fn new(config: EnrichConfig) -> EnrichApp {
        EnrichApp {
            core: Enrich::new(config),
            dirty: HashSet::new(),
            batch_size: RunOptions::default().batch,
            batch_seen: 0,
        }
    }

    pub fn core(&self) -> &Enrich {
        &self.core
    }

    /// Fold a record in; marks its customer changed; returns what the core did.
    pub fn fold(&mut self, msg: &Message) -> Result<Applied, Poison> {
        if msg.topic == TEXT_INSIGHTS.spec.name {
            let insight: TextInsight = shell::decode(msg)?;
            let applied = self.core.apply_insight(&insight);
            if applied == Applied::Customer {
                let customer = self
                    .core
                    .resolve(&insight.tenant_id, &insight.customer_key)
                    .to_owned();
                self.dirty.insert((insight.tenant_id, customer));
            }
            return Ok(applied);
        }
        let ev: CanonicalEvent = shell::decode(msg)?;
        let applied = self.core.apply(&ev);
        if matches!(applied, Applied::Customer | Applied::Dropped { .. })
            && let Some(key) = ev.customer_key
        {
            if let Payload::IdentityLinked(link) = ev.payload {
                // The joined key's last snapshot says where it went (if it had one).
                self.dirty.insert((ev.tenant_id.clone(), link.from_key));
            }
            let customer = match self.core.resolve(&ev.tenant_id, &key) {
                k if k == key => key,
                joined => joined.to_owned(),
            };
            self.dirty.insert((ev.tenant_id, customer));
        }
        Ok(applied)
    }

    /// Refit the shops' lifetime models and mark their buyers changed (their P(alive),
    /// expected orders and CLV move with the model).
    pub fn refit(&mut self) {
        for tenant in self.core.refit() {
            for customer in self.core.buyers(&tenant) {
                self.dirty.insert((tenant.clone(), customer));
            }
        }
    }

    /// Snapshots of every customer changed since the last call, in key order.
    pub fn snapshots(&mut self) -> Vec<Output> {
        let mut dirty: Vec<(String, String)> =
            std::mem::take(&mut self.dirty).into_iter().collect();
        dirty.sort_unstable();
        dirty
            .into_iter()
            .filter_map(|(tenant, customer)| {
                let f = self.core.features(&tenant, &customer)?;
                let key = CustomerKey::new(&tenant, &customer).encode_key();
                let value = f.encode().expect("features match their schema");
                Some(Output {
                    topic: &CUSTOMER_FEATURES.spec,
                    record: Record::new(key, value, f.as_of),
                })
            })
            .collect()
    }
}

impl Processor for EnrichApp {
    fn name(&self) -> &'static str {
        NAME
    }

    fn inputs(&self) -> Vec<&'static TopicSpec> {
        vec![
            &CUSTOMER_EVENTS.spec,
            &CATALOG_EVENTS.spec,
            &TEXT_INSIGHTS.spec,
        ]
    }

    fn handle(&mut self, msg: &Message, _now_ms: i64) -> Result<Vec<Output>, Poison> {
        self.batch_seen += 1;
        self.fold(msg)?;
        Ok(Vec::new())
    }

    fn flush(&mut self, _now_ms: i64) -> Vec<Output> {
        // A short batch means the inputs are drained: refit the models on everything so far.
        if std::mem::take(&mut self.batch_seen) < self.batch_size {
            self.refit();
        }
        self.snapshots()
    }
}

/// Rebuild the state from the log up to `group`'s committed positions, without emitting.
pub async fn restore(log: &Log, app: &mut EnrichApp, group: &str) -> Result<u64, LogError> {
    let inputs = app.inputs();
    let mut stops = Vec::new();
    for t in &inputs {
        for (p, c) in log.committed(group, t).await?.into_iter().enumerate() {
            if let Some(c) = c.filter(|c| *c > 0) {
                stops.push((t.name.to_owned(), p as u32, c));
            }
        }
    }
    if stops.is_empty() {
        return Ok(0);
    }
    let restore_group = format!("{group}-restore-{}", std::process::id());
    let mut c = log.consumer(&restore_group, &inputs)?;
    let mut remaining: BTreeSet<(String, u32)> =
        stops.iter().map(|(t, p, _)| (t.clone(), *p)).collect();
    let stop_at = |t: &str, p: u32| {
        stops
            .iter()
            .find(|(st, sp, _)| st == t && *sp == p)
            .map_or(0, |s| s.2)
    };
    let mut folded = 0u64;
    let mut idle = 0;
    while !remaining.is_empty() && idle < 20 {
        let batch = c.poll(20_000, Duration::from_millis(500)).await?;
        if batch.is_empty() {
            idle += 1;
            continue;
        }
        idle = 0;
        for m in &batch {
            let stop = stop_at(&m.topic, m.partition);
            if m.offset < stop {
                // Poison was dead-lettered when first seen; skip it here as well.
                if app.fold(m).is_ok() {
                    folded += 1;
                }
            }
            if m.offset + 1 >= stop {
                remaining.remove(&(m.topic.clone(), m.partition));
            }
        }
    }
    app.dirty.clear();
    app.core.refit();
    Ok(folded)
}

/// Run enrich on `log` until shutdown (or until caught up, with `opts.stop_when_caught_up`).
pub async fn run(
    log: &Log,
    config: EnrichConfig,
    opts: &RunOptions,
    shutdown: Shutdown,
) -> Result<RunStats, ShellError> {
    let mut app = EnrichApp::new(config);
    app.batch_size = opts.batch;
    let restored = restore(log, &mut app, NAME).await?;
    if restored > 0 {
        tracing::info!(app = NAME, restored, "state rebuilt from the log");
    }
    log.ensure_topics(&[&CUSTOMER_FEATURES.spec]).await?;
    shell::run(log, &mut app, opts, shutdown).await
}
