//! The enrich stream-app: per-customer features from canonical events. [`core`] is the pure
//! state machine; [`EnrichApp`] is its shell on the log: it folds every record of a batch in,
//! then emits one snapshot per changed customer to `customer.features.v1`.
//!
//! State is durable in a compacted changelog, `enrich.state.v1`: with each batch's snapshots the
//! app writes the state of every shop, customer key and product the batch changed. On start,
//! [`run`] reads the changelog back ([`restore_changelog`]) and continues from the group's
//! committed positions; records re-read after a crash are duplicates by event id and change
//! nothing. Without a changelog (a log written before it existed), [`restore`] rebuilds the state
//! by replaying the inputs up to the committed positions instead. See the app's README.

pub mod core;
pub mod lifetime;
pub mod sketch;

use std::{collections::BTreeSet, time::Duration};

use mindset_pipeline::{
    Log, LogError, Message, Record,
    shell::{self, Output, Poison, Processor, RunOptions, RunStats, ShellError},
    shutdown::Shutdown,
};
use mindset_schemas::{CanonicalDecoder, Payload, TextInsight};
use mindset_topics::{
    CATALOG_EVENTS, CUSTOMER_EVENTS, CUSTOMER_FEATURES, CustomerKey, ENRICH_STATE, EntityKey,
    KeyCodec, TEXT_INSIGHTS, TopicSpec,
};

use crate::core::{Applied, Enrich, EnrichConfig, HashMap, HashSet, StateId};

pub const NAME: &str = "enrich";

/// The shell's view of the core.
pub struct EnrichApp {
    core: Enrich,
    /// Customer keys changed since the last flush, by shop (snapshot and changelog record each).
    dirty: HashMap<String, HashSet<String>>,
    /// Buyers whose shop's models were refitted since the last flush: a snapshot each (their
    /// P(alive), expected orders and CLV moved), but no changelog record (their state did not).
    refitted: HashMap<String, HashSet<String>>,
    /// Products whose price changed, by shop, and shops whose clock or models moved (changelog
    /// only).
    dirty_products: HashMap<String, HashSet<String>>,
    dirty_shops: HashSet<String>,
    /// The changelog epoch its records are written in (see [`reset_changelog`]).
    epoch: i64,
    /// Batches smaller than this mean the app has caught up: a good moment to refit models.
    batch_size: usize,
    batch_seen: usize,
    decoder: CanonicalDecoder,
}

/// Mark `key` (a customer or a product) of `tenant` changed, allocating only the first time.
fn mark(marked: &mut HashMap<String, HashSet<String>>, tenant: &str, key: &str) {
    let keys = match marked.get_mut(tenant) {
        Some(k) => k,
        None => marked.entry(tenant.to_owned()).or_default(),
    };
    if !keys.contains(key) {
        keys.insert(key.to_owned());
    }
}

/// The marked pairs, in key order, leaving the map empty.
fn drain_sorted(marked: &mut HashMap<String, HashSet<String>>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = marked
        .drain()
        .flat_map(|(t, ks)| ks.into_iter().map(move |k| (t.clone(), k)))
        .collect();
    out.sort_unstable();
    out
}

impl EnrichApp {
    pub fn new(config: EnrichConfig) -> EnrichApp {
        EnrichApp {
            core: Enrich::new(config),
            dirty: HashMap::default(),
            refitted: HashMap::default(),
            dirty_products: HashMap::default(),
            dirty_shops: HashSet::default(),
            epoch: 0,
            batch_size: RunOptions::default().batch,
            batch_seen: 0,
            decoder: CanonicalDecoder::new(),
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
                let customer = self.core.resolve(&insight.tenant_id, &insight.customer_key);
                mark(&mut self.dirty, &insight.tenant_id, customer);
            }
            return Ok(applied);
        }
        // Events are decoded into values the decoder keeps (one per payload type), not fresh
        // ones: a fresh event allocated a dozen strings.
        let ev = self
            .decoder
            .decode(&msg.value)
            .map_err(|e| Poison::new(e.to_string()))?;
        let applied = self.core.apply(ev);
        if applied == Applied::Catalog {
            if let Some(product) = Enrich::catalog_product(ev) {
                mark(&mut self.dirty_products, &ev.tenant_id, product);
            }
            if !self.dirty_shops.contains(&ev.tenant_id) {
                self.dirty_shops.insert(ev.tenant_id.clone());
            }
            return Ok(applied);
        }
        if matches!(applied, Applied::Customer | Applied::Dropped { .. })
            && let Some(key) = &ev.customer_key
        {
            if let Payload::IdentityLinked(link) = &ev.payload {
                // The joined key's last snapshot says where it went (if it had one).
                mark(&mut self.dirty, &ev.tenant_id, &link.from_key);
            }
            let customer = self.core.resolve(&ev.tenant_id, key);
            mark(&mut self.dirty, &ev.tenant_id, customer);
        }
        Ok(applied)
    }

    /// Refit the shops' lifetime models and mark their buyers changed (their P(alive),
    /// expected orders and CLV move with the model).
    pub fn refit(&mut self) {
        for tenant in self.core.refit() {
            for customer in self.core.buyers(&tenant) {
                mark(&mut self.refitted, &tenant, &customer);
            }
            self.dirty_shops.insert(tenant);
        }
    }

    /// Snapshots of every customer changed since the last call, in key order (and nothing
    /// for the changelog: see [`EnrichApp::changes`]).
    pub fn snapshots(&mut self) -> Vec<Output> {
        let dirty = self.take_dirty();
        self.dirty_products.clear();
        self.dirty_shops.clear();
        let snapshot = self.with_refitted(dirty);
        self.snapshots_of(&snapshot)
    }

    /// `dirty` and the refitted buyers, in key order, each once (and the refitted cleared).
    fn with_refitted(&mut self, mut dirty: Vec<(String, String)>) -> Vec<(String, String)> {
        let refitted = drain_sorted(&mut self.refitted);
        if !refitted.is_empty() {
            dirty.extend(refitted);
            dirty.sort_unstable();
            dirty.dedup();
        }
        dirty
    }

    /// Everything changed since the last call: the changelog records of the shops, keys and
    /// products changed, then the snapshots of the customers changed (and of the buyers of
    /// shops refitted), each in key order.
    pub fn changes(&mut self) -> Vec<Output> {
        let dirty = self.take_dirty();
        let products = drain_sorted(&mut self.dirty_products);
        let mut shops: Vec<String> = self.dirty_shops.drain().collect();
        shops.extend(dirty.iter().map(|(t, _)| t.clone()));
        shops.sort_unstable();
        shops.dedup();
        let ids = shops
            .into_iter()
            .map(|t| (t, StateId::Shop))
            .chain(
                dirty
                    .iter()
                    .map(|(t, k)| (t.clone(), StateId::Key(k.clone()))),
            )
            .chain(products.into_iter().map(|(t, p)| (t, StateId::Product(p))));
        let mut out = self.state_records(ids);
        let snapshot = self.with_refitted(dirty);
        out.extend(self.snapshots_of(&snapshot));
        out
    }

    /// The changelog records of the given parts of the state (those that exist).
    fn state_records(&self, ids: impl Iterator<Item = (String, StateId)>) -> Vec<Output> {
        let epoch = self.epoch.to_string().into_bytes();
        ids.filter_map(|(tenant, id)| {
            let value = self.core.state_record(&tenant, &id)?;
            let key = EntityKey::new(tenant, id.encode()).encode_key();
            Some(Output {
                topic: &ENRICH_STATE.spec,
                record: Record::new(key, value, 0).header(EPOCH_HEADER, epoch.clone()),
            })
        })
        .collect()
    }

    fn take_dirty(&mut self) -> Vec<(String, String)> {
        drain_sorted(&mut self.dirty)
    }

    fn snapshots_of(&self, dirty: &[(String, String)]) -> Vec<Output> {
        dirty
            .iter()
            .filter_map(|(tenant, customer)| {
                let f = self.core.features(tenant, customer)?;
                let key = CustomerKey::new(tenant, customer).encode_key();
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
        self.changes()
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
    app.refitted.clear();
    app.dirty_products.clear();
    app.dirty_shops.clear();
    app.core.refit();
    Ok(folded)
}

/// Key of the changelog's epoch marker (no tenant is empty, so no state record has it).
const EPOCH_KEY: &[u8] = b"|epoch";
/// Header of every state record: the epoch it belongs to.
const EPOCH_HEADER: &str = "epoch";

/// Start a new changelog epoch (`mindset replay enrich` does, with the group's rewind): state
/// records written before it are ignored from now on, so the replayed inputs rebuild the state
/// and emit again. Returns the new epoch (the wall clock in ms, above every earlier one).
pub async fn reset_changelog(log: &Log) -> Result<i64, LogError> {
    log.ensure_topics(&[&ENRICH_STATE.spec]).await?;
    let epoch = shell::now_ms();
    log.producer()?
        .send(
            &ENRICH_STATE.spec,
            Record::new(EPOCH_KEY.to_vec(), epoch.to_string().into_bytes(), epoch),
        )
        .await?;
    Ok(epoch)
}

fn epoch_of(bytes: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("epoch {:?} is not a number", String::from_utf8_lossy(bytes)))
}

/// Read the changelog (`enrich.state.v1`) back into `app`, up to its end: the number of records
/// taken in, `None` when there are none of the current epoch (an empty changelog, or one reset
/// by a replay). Of each key the last record counts. A record enrich cannot read stops the start
/// with its position and the reason (the state would be wrong without it).
pub async fn restore_changelog(log: &Log, app: &mut EnrichApp) -> Result<Option<u64>, ShellError> {
    let ends = log.end_offsets(&ENRICH_STATE.spec).await?;
    let mut remaining: BTreeSet<u32> = ends
        .iter()
        .enumerate()
        .filter(|(_, e)| **e > 0)
        .map(|(p, _)| p as u32)
        .collect();
    if remaining.is_empty() {
        return Ok(None);
    }
    let group = format!("{NAME}-state-restore-{}", std::process::id());
    let mut c = log.consumer(&group, &[&ENRICH_STATE.spec])?;
    // The last record of each key, with its epoch and position.
    let mut latest: HashMap<Vec<u8>, (i64, Message)> = HashMap::default();
    let mut epoch = 0i64;
    let mut idle = 0;
    while !remaining.is_empty() && idle < 20 {
        let batch = c.poll(20_000, Duration::from_millis(500)).await?;
        if batch.is_empty() {
            idle += 1;
            continue;
        }
        idle = 0;
        for m in batch {
            let end = ends[m.partition as usize];
            if m.offset + 1 >= end {
                remaining.remove(&m.partition);
            }
            if m.offset >= end {
                continue;
            }
            if m.key == EPOCH_KEY {
                epoch = epoch.max(epoch_of(&m.value).map_err(|why| bad_record(&m, why))?);
                continue;
            }
            let e = match m.header(EPOCH_HEADER) {
                Some(h) => epoch_of(h).map_err(|why| bad_record(&m, why))?,
                None => 0,
            };
            latest.insert(m.key.clone(), (e, m));
        }
    }
    if !remaining.is_empty() {
        return Err(ShellError::Start(format!(
            "{} partitions of {} did not reach their end while restoring",
            remaining.len(),
            ENRICH_STATE.spec.name
        )));
    }
    app.epoch = epoch;
    let mut current: Vec<Message> = latest
        .into_values()
        .filter(|(e, _)| *e == epoch)
        .map(|(_, m)| m)
        .collect();
    if current.is_empty() {
        return Ok(None);
    }
    current.sort_by_key(|m| (m.partition, m.offset));
    for m in &current {
        let key = EntityKey::decode_key(&m.key).map_err(|e| bad_record(m, e.to_string()))?;
        let id = StateId::parse(&key.id).map_err(|why| bad_record(m, why))?;
        app.core
            .restore_record(&key.tenant, &id, &m.value)
            .map_err(|why| bad_record(m, why))?;
    }
    app.core.finish_restore();
    Ok(Some(current.len() as u64))
}

fn bad_record(m: &Message, why: String) -> ShellError {
    ShellError::Start(format!(
        "{}/{}@{}: unreadable state record: {why}",
        m.topic, m.partition, m.offset
    ))
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
    log.ensure_topics(&[&CUSTOMER_FEATURES.spec, &ENRICH_STATE.spec])
        .await?;
    match restore_changelog(log, &mut app).await? {
        Some(records) => tracing::info!(app = NAME, records, "state restored from the changelog"),
        None => {
            let folded = restore(log, &mut app, NAME).await?;
            if folded > 0 {
                // A log from before the changelog: write the whole state once, so the changes
                // written from now on complete it.
                let records: Vec<Record> = app
                    .state_records(app.core.state_ids().into_iter())
                    .into_iter()
                    .map(|o| o.record)
                    .collect();
                let written = records.len();
                log.producer()?
                    .send_batch(&ENRICH_STATE.spec, records)
                    .await?;
                tracing::info!(
                    app = NAME,
                    folded,
                    written,
                    "state rebuilt by replaying the inputs, and written to the changelog"
                );
            }
        }
    }
    shell::run(log, &mut app, opts, shutdown).await
}
