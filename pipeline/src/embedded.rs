//! The embedded log: topics, partitions and consumer-group offsets in one redb database on local
//! disk (redb: ACID, copy-on-write B-trees, checksummed commits, crash-safe). One writer thread
//! group-commits every pending append and offset commit in a single fsynced transaction, then
//! acknowledges them: an acknowledged record or offset survives `kill -9`. Readers use MVCC read
//! transactions and never block the writer. Consumer groups are coordinated in-process (one
//! process owns the database file; redb locks it): partitions are spread round-robin over the
//! group's live members and reassigned when one joins or leaves.
//!
//! Values of [`LARGE_VALUE_BYTES`] or more (raw webhook payloads, large state records) are not
//! copied into redb's B-trees: the writer appends them to a sibling file, `<log file>.values`,
//! syncs that file, and then commits the partition row, which holds the value's position, length
//! and CRC-32. A row is committed only after its value is durable. The committed end of the values
//! file is stored with the rows, and opening the log cuts off anything past it (the bytes of a
//! group that was never acknowledged). A value whose bytes do not match their CRC is reported as a
//! corrupt record.
//!
//! Retention and compaction settings of a topic are not enforced by this backend: it keeps every
//! record (see docs/adr/0002-embedded-log-on-redb.md).

use std::{
    collections::{BTreeMap, HashMap},
    fs::File,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use mindset_topics::TopicSpec;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError};
use tokio::sync::{oneshot, watch};

use crate::{
    log::{CommitPosition, Delivered, LogError, Message, Record, Result},
    partition::partition_for,
};

/// The embedded log's default page cache: 64 MiB. redb's own default (1 GiB) made the writer
/// thread take fresh memory for every page it wrote until the gigabyte filled, and the kernel
/// zeroing that memory was half of the writer's time in the webhook benchmark. Consumers read
/// the recent end of each partition, which a small cache (then the OS page cache) serves.
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// Values this large or larger go to the values file instead of redb's pages. Canonical events
/// (a few hundred bytes) stay in the B-trees, where consumers read them without a system call;
/// raw payloads (kilobytes) are appended once, without redb copying them into pages, checksumming
/// and writing those pages at commit.
pub const LARGE_VALUE_BYTES: usize = 2048;

const TOPICS: TableDefinition<&str, u32> = TableDefinition::new("topics");
const OFFSETS: TableDefinition<&str, u64> = TableDefinition::new("offsets");
/// Log-wide settings: [`VALUES_END`].
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The committed length of the values file.
const VALUES_END: &str = "values_end";

/// The file that holds the large values of the log in `path`.
pub fn values_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".values");
    PathBuf::from(name)
}

fn part_name(topic: &str, partition: u32) -> String {
    format!("log/{topic}/{partition}")
}

fn offset_key(group: &str, topic: &str, partition: u32) -> String {
    format!("{group}\u{0}{topic}\u{0}{partition}")
}

fn storage(e: impl std::fmt::Display) -> LogError {
    LogError::Storage(e.to_string())
}

enum WriteReq {
    Append {
        topic: String,
        partitions: u32,
        records: Arc<Vec<Record>>,
        ack: oneshot::Sender<Result<Vec<Delivered>>>,
    },
    Commit {
        group: String,
        positions: Vec<CommitPosition>,
        ack: oneshot::Sender<Result<()>>,
    },
    CreateTopics {
        specs: Vec<(String, u32)>,
        ack: oneshot::Sender<Result<Vec<String>>>,
    },
    ResetGroup {
        group: String,
        topics: Vec<(String, u32)>,
        ack: oneshot::Sender<Result<()>>,
    },
}

struct Group {
    generation: u64,
    /// member id -> subscribed (topic, partitions)
    members: BTreeMap<u64, Vec<(String, u32)>>,
}

struct Inner {
    db: Arc<Database>,
    /// The large values, read with positional reads (the writer thread has its own handle).
    values: File,
    path: PathBuf,
    topics: RwLock<HashMap<String, u32>>,
    writer: Mutex<Option<mpsc::Sender<WriteReq>>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    appended: watch::Sender<u64>,
    groups: Mutex<HashMap<String, Group>>,
    next_member: AtomicU64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.writer.lock().expect("writer lock").take();
        if let Some(t) = self.writer_thread.lock().expect("thread lock").take() {
            let _ = t.join();
        }
    }
}

/// The embedded log. Cheap to clone; the database closes when the last clone, producer and
/// consumer are dropped.
#[derive(Clone)]
pub struct EmbeddedLog {
    inner: Arc<Inner>,
}

impl EmbeddedLog {
    /// Open (or create) the log in the file `path`, with a page cache of
    /// [`DEFAULT_CACHE_BYTES`].
    pub fn open(path: impl AsRef<Path>) -> Result<EmbeddedLog> {
        EmbeddedLog::open_with_cache(path, DEFAULT_CACHE_BYTES)
    }

    /// Open (or create) the log in the file `path`, keeping at most `cache_bytes` of its pages
    /// in memory (read cache and write buffer together).
    pub fn open_with_cache(path: impl AsRef<Path>, cache_bytes: usize) -> Result<EmbeddedLog> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(storage)?;
        }
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(&path)
            .map_err(|e| LogError::Storage(format!("cannot open {}: {e}", path.display())))?;
        let db = Arc::new(db);
        let mut topics = HashMap::new();
        let mut next = HashMap::new();
        let values_end;
        {
            let tx = db.begin_write().map_err(storage)?;
            {
                tx.open_table(TOPICS).map_err(storage)?;
                tx.open_table(OFFSETS).map_err(storage)?;
                tx.open_table(META).map_err(storage)?;
            }
            tx.commit().map_err(storage)?;
            let rx = db.begin_read().map_err(storage)?;
            values_end = rx
                .open_table(META)
                .and_then(|t| Ok(t.get(VALUES_END)?.map(|v| v.value())))
                .map_err(storage)?
                .unwrap_or(0);
            let t = rx.open_table(TOPICS).map_err(storage)?;
            for row in t.iter().map_err(storage)? {
                let (name, parts) = row.map_err(storage)?;
                let (name, parts) = (name.value().to_owned(), parts.value());
                for p in 0..parts {
                    next.insert(
                        (name.clone(), p),
                        last_offset(&rx, &name, p)?.map_or(0, |o| o + 1),
                    );
                }
                topics.insert(name, parts);
            }
        }
        let values = open_values(&path, values_end)?;
        let writer_values = ValueFile {
            file: values.try_clone().map_err(storage)?,
            end: values_end,
            staged: Vec::new(),
        };
        let (tx, rx) = mpsc::channel();
        let (appended, _) = watch::channel(0u64);
        let writer_db = db.clone();
        let notify = appended.clone();
        let thread = std::thread::Builder::new()
            .name("mindset-log-writer".into())
            .spawn(move || writer_loop(writer_db, writer_values, rx, next, notify))
            .map_err(storage)?;
        Ok(EmbeddedLog {
            inner: Arc::new(Inner {
                db,
                values,
                path,
                topics: RwLock::new(topics),
                writer: Mutex::new(Some(tx)),
                writer_thread: Mutex::new(Some(thread)),
                appended,
                groups: Mutex::new(HashMap::new()),
                next_member: AtomicU64::new(1),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn request<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T>>) -> WriteReq,
    ) -> Result<oneshot::Receiver<Result<T>>> {
        let (ack, rx) = oneshot::channel();
        let guard = self.inner.writer.lock().expect("writer lock");
        let sender = guard.as_ref().ok_or(LogError::Closed)?;
        sender.send(make(ack)).map_err(|_| LogError::Closed)?;
        Ok(rx)
    }

    pub async fn ensure_topics(&self, specs: &[&TopicSpec]) -> Result<Vec<String>> {
        let specs: Vec<(String, u32)> = specs
            .iter()
            .map(|s| (s.name.to_owned(), s.partitions))
            .collect();
        let rx = self.request(|ack| WriteReq::CreateTopics {
            specs: specs.clone(),
            ack,
        })?;
        let created = rx.await.map_err(|_| LogError::Closed)??;
        let mut topics = self.inner.topics.write().expect("topics lock");
        for (name, parts) in specs {
            topics.entry(name).or_insert(parts);
        }
        Ok(created)
    }

    fn partitions(&self, topic: &str) -> Result<u32> {
        self.inner
            .topics
            .read()
            .expect("topics lock")
            .get(topic)
            .copied()
            .ok_or_else(|| LogError::UnknownTopic(topic.to_owned()))
    }

    pub fn producer(&self) -> EmbeddedProducer {
        EmbeddedProducer { log: self.clone() }
    }

    pub fn consumer(&self, group: &str, topics: &[&TopicSpec]) -> Result<EmbeddedConsumer> {
        let mut subs = Vec::new();
        for t in topics {
            subs.push((t.name.to_owned(), self.partitions(t.name)?));
        }
        let member = self.inner.next_member.fetch_add(1, Ordering::Relaxed);
        {
            let mut groups = self.inner.groups.lock().expect("groups lock");
            let g = groups.entry(group.to_owned()).or_insert(Group {
                generation: 0,
                members: BTreeMap::new(),
            });
            g.members.insert(member, subs.clone());
            g.generation += 1;
        }
        self.inner.appended.send_modify(|v| *v += 1);
        Ok(EmbeddedConsumer {
            log: self.clone(),
            group: group.to_owned(),
            member,
            generation: 0,
            positions: BTreeMap::new(),
            changes: self.inner.appended.subscribe(),
            next_start: 0,
        })
    }

    pub fn end_offsets(&self, topic: &TopicSpec) -> Result<Vec<u64>> {
        let parts = self.partitions(topic.name)?;
        let rx = self.inner.db.begin_read().map_err(storage)?;
        (0..parts)
            .map(|p| Ok(last_offset(&rx, topic.name, p)?.map_or(0, |o| o + 1)))
            .collect()
    }

    pub fn committed(&self, group: &str, topic: &TopicSpec) -> Result<Vec<Option<u64>>> {
        let parts = self.partitions(topic.name)?;
        let rx = self.inner.db.begin_read().map_err(storage)?;
        let t = rx.open_table(OFFSETS).map_err(storage)?;
        (0..parts)
            .map(|p| {
                Ok(t.get(offset_key(group, topic.name, p).as_str())
                    .map_err(storage)?
                    .map(|v| v.value()))
            })
            .collect()
    }

    pub async fn reset_group(&self, group: &str, topics: &[&TopicSpec]) -> Result<()> {
        let live = self
            .inner
            .groups
            .lock()
            .expect("groups lock")
            .get(group)
            .is_some_and(|g| !g.members.is_empty());
        if live {
            return Err(LogError::Config(format!(
                "group {group} has live consumers; stop them before a replay"
            )));
        }
        let mut subs = Vec::new();
        for t in topics {
            subs.push((t.name.to_owned(), self.partitions(t.name)?));
        }
        let rx = self.request(|ack| WriteReq::ResetGroup {
            group: group.to_owned(),
            topics: subs,
            ack,
        })?;
        rx.await.map_err(|_| LogError::Closed)?
    }
}

fn last_offset(rx: &redb::ReadTransaction, topic: &str, partition: u32) -> Result<Option<u64>> {
    let name = part_name(topic, partition);
    let def: TableDefinition<u64, &[u8]> = TableDefinition::new(&name);
    match rx.open_table(def) {
        Ok(t) => Ok(t.last().map_err(storage)?.map(|(k, _)| k.value())),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(storage(e)),
    }
}

/// Open the values file of the log in `path` and cut it to its committed length `end`: bytes
/// past it belong to a group commit that failed or was cut short, whose rows were never
/// committed. A file shorter than `end` has lost acknowledged values, which is an error.
fn open_values(path: &Path, end: u64) -> Result<File> {
    let vpath = values_path(path);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&vpath)
        .map_err(|e| LogError::Storage(format!("cannot open {}: {e}", vpath.display())))?;
    let len = file.metadata().map_err(storage)?.len();
    if len < end {
        return Err(LogError::Storage(format!(
            "{} holds {len} bytes but the log has committed {end}: values of acknowledged records are missing",
            vpath.display()
        )));
    }
    if len > end {
        file.set_len(end).map_err(storage)?;
        file.sync_all().map_err(storage)?;
    }
    Ok(file)
}

/// The writer's side of the values file: its committed end and the values staged for the group
/// being written.
struct ValueFile {
    file: File,
    end: u64,
    staged: Vec<u8>,
}

impl ValueFile {
    /// Stage `value` for this group; returns where it will be.
    fn stage(&mut self, value: &[u8]) -> ValueRef {
        let at = ValueRef {
            pos: self.end + self.staged.len() as u64,
            len: value.len() as u32,
            crc: crc32fast::hash(value),
        };
        self.staged.extend_from_slice(value);
        at
    }

    /// Write and sync what is staged; returns the new end, to be committed with the rows.
    fn flush(&mut self) -> std::io::Result<Option<u64>> {
        if self.staged.is_empty() {
            return Ok(None);
        }
        self.file.write_all_at(&self.staged, self.end)?;
        self.file.sync_data()?;
        Ok(Some(self.end + self.staged.len() as u64))
    }
}

/// Where a large value is in the values file.
#[derive(Clone, Copy)]
struct ValueRef {
    pos: u64,
    len: u32,
    crc: u32,
}

const VALUE_REF_BYTES: usize = 16;

// ---------------------------------------------------------------------------------------------
// Record encoding inside a partition table value:
// [timestamp i64][key len u32][key][header count u16]{[name len u16][name][value len u32][value]}[value]
// A value in the values file sets the top bit of the key length, and the trailing value is
// replaced by its reference: [position u64][length u32][CRC-32 u32].

const IN_VALUES_FILE: u32 = 1 << 31;

fn encode_record(r: &Record, large: Option<ValueRef>, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&r.timestamp_ms.to_le_bytes());
    let flag = if large.is_some() { IN_VALUES_FILE } else { 0 };
    out.extend_from_slice(&(r.key.len() as u32 | flag).to_le_bytes());
    out.extend_from_slice(&r.key);
    out.extend_from_slice(&(r.headers.len() as u16).to_le_bytes());
    for (k, v) in &r.headers {
        out.extend_from_slice(&(k.len() as u16).to_le_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
        out.extend_from_slice(v);
    }
    match large {
        Some(at) => {
            out.extend_from_slice(&at.pos.to_le_bytes());
            out.extend_from_slice(&at.len.to_le_bytes());
            out.extend_from_slice(&at.crc.to_le_bytes());
        }
        None => out.extend_from_slice(&r.value),
    }
}

fn decode_record(
    values: &File,
    topic: &str,
    partition: u32,
    offset: u64,
    b: &[u8],
) -> Result<Message> {
    let mut m = Message::default();
    decode_record_into(&mut m, values, topic, partition, offset, b)?;
    Ok(m)
}

/// [`decode_record`] over an existing message, reusing its strings and buffers.
fn decode_record_into(
    m: &mut Message,
    values: &File,
    topic: &str,
    partition: u32,
    offset: u64,
    b: &[u8],
) -> Result<()> {
    let bad = || LogError::Storage(format!("corrupt record {topic}/{partition}@{offset}"));
    let mut pos = 0usize;
    let mut take = |n: usize| -> Result<&[u8]> {
        let s = b.get(pos..pos + n).ok_or_else(bad)?;
        pos += n;
        Ok(s)
    };
    let ts = i64::from_le_bytes(take(8)?.try_into().expect("8 bytes"));
    let klen = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes"));
    let in_values_file = klen & IN_VALUES_FILE != 0;
    let klen = (klen & !IN_VALUES_FILE) as usize;
    m.key.clear();
    m.key.extend_from_slice(take(klen)?);
    let hn = u16::from_le_bytes(take(2)?.try_into().expect("2 bytes")) as usize;
    m.headers.truncate(hn);
    for i in 0..hn {
        let nl = u16::from_le_bytes(take(2)?.try_into().expect("2 bytes")) as usize;
        let name = std::str::from_utf8(take(nl)?).map_err(|_| bad())?;
        let vl = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
        let value = take(vl)?;
        match m.headers.get_mut(i) {
            Some((n, v)) => {
                n.clear();
                n.push_str(name);
                v.clear();
                v.extend_from_slice(value);
            }
            None => m.headers.push((name.to_owned(), value.to_vec())),
        }
    }
    m.value.clear();
    if in_values_file {
        let r = b
            .get(pos..)
            .filter(|r| r.len() == VALUE_REF_BYTES)
            .ok_or_else(bad)?;
        let at = u64::from_le_bytes(r[..8].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(r[8..12].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(r[12..].try_into().expect("4 bytes"));
        m.value.resize(len as usize, 0);
        values.read_exact_at(&mut m.value, at).map_err(|e| {
            LogError::Storage(format!(
                "corrupt record {topic}/{partition}@{offset}: its value ({len} bytes at {at} in the values file) cannot be read: {e}"
            ))
        })?;
        if crc32fast::hash(&m.value) != crc {
            return Err(LogError::Storage(format!(
                "corrupt record {topic}/{partition}@{offset}: its value ({len} bytes at {at} in the values file) fails its checksum"
            )));
        }
    } else {
        m.value.extend_from_slice(&b[pos..]);
    }
    if m.topic != topic {
        m.topic.clear();
        m.topic.push_str(topic);
    }
    m.partition = partition;
    m.offset = offset;
    m.timestamp_ms = ts;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The writer thread: group commit.

const MAX_GROUP_RECORDS: usize = 262_144;

fn writer_loop(
    db: Arc<Database>,
    mut values: ValueFile,
    rx: mpsc::Receiver<WriteReq>,
    mut next: HashMap<(String, u32), u64>,
    appended: watch::Sender<u64>,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        let mut records = batch_records(&batch[0]);
        while records < MAX_GROUP_RECORDS {
            match rx.try_recv() {
                Ok(r) => {
                    records += batch_records(&r);
                    batch.push(r);
                }
                Err(_) => break,
            }
        }
        let saved = next.clone();
        match apply(&db, &mut values, &mut next, &batch) {
            Ok(results) => {
                let wrote = results.iter().any(|r| matches!(r, Done::Appended(_)));
                for (req, res) in batch.into_iter().zip(results) {
                    answer(req, Ok(res));
                }
                if wrote {
                    appended.send_modify(|v| *v += 1);
                }
            }
            Err(e) => {
                next = saved;
                let msg = e.to_string();
                for req in batch {
                    answer(req, Err(LogError::Storage(msg.clone())));
                }
            }
        }
    }
}

fn batch_records(r: &WriteReq) -> usize {
    match r {
        WriteReq::Append { records, .. } => records.len(),
        _ => 1,
    }
}

enum Done {
    Appended(Vec<Delivered>),
    Committed,
    Created(Vec<String>),
}

fn answer(req: WriteReq, res: Result<Done>) {
    match (req, res) {
        (WriteReq::Append { ack, .. }, Ok(Done::Appended(d))) => {
            let _ = ack.send(Ok(d));
        }
        (WriteReq::Commit { ack, .. } | WriteReq::ResetGroup { ack, .. }, Ok(Done::Committed)) => {
            let _ = ack.send(Ok(()));
        }
        (WriteReq::CreateTopics { ack, .. }, Ok(Done::Created(c))) => {
            let _ = ack.send(Ok(c));
        }
        (WriteReq::Append { ack, .. }, Err(e)) => {
            let _ = ack.send(Err(e));
        }
        (WriteReq::Commit { ack, .. } | WriteReq::ResetGroup { ack, .. }, Err(e)) => {
            let _ = ack.send(Err(e));
        }
        (WriteReq::CreateTopics { ack, .. }, Err(e)) => {
            let _ = ack.send(Err(e));
        }
        _ => unreachable!("each request gets its own kind of result"),
    }
}

type ApplyError = Box<dyn std::error::Error + Send + Sync>;

/// One group commit: assign offsets, write and sync the large values, then insert every row and
/// commit (fsync) the transaction.
fn apply(
    db: &Database,
    values: &mut ValueFile,
    next: &mut HashMap<(String, u32), u64>,
    batch: &[WriteReq],
) -> std::result::Result<Vec<Done>, ApplyError> {
    // Assign partitions and offsets in input order, and stage the large values.
    type Rows<'a> = BTreeMap<u32, Vec<(u64, &'a Record, Option<ValueRef>)>>;
    values.staged.clear();
    let mut appends: Vec<Option<(Rows, Vec<Delivered>)>> = Vec::with_capacity(batch.len());
    for req in batch {
        let WriteReq::Append {
            topic,
            partitions,
            records,
            ..
        } = req
        else {
            appends.push(None);
            continue;
        };
        let mut rows: Rows = BTreeMap::new();
        let mut delivered = Vec::with_capacity(records.len());
        for r in records.iter() {
            let p = partition_for(&r.key, *partitions);
            let slot = next.entry((topic.clone(), p)).or_insert(0);
            let offset = *slot;
            *slot += 1;
            let large = (r.value.len() >= LARGE_VALUE_BYTES).then(|| values.stage(&r.value));
            rows.entry(p).or_default().push((offset, r, large));
            delivered.push(Delivered {
                partition: p,
                offset,
            });
        }
        appends.push(Some((rows, delivered)));
    }
    // The values are durable before any row that points at them is committed.
    let values_end = values.flush()?;

    let tx = db.begin_write()?;
    let mut results = Vec::with_capacity(batch.len());
    let mut buf = Vec::with_capacity(512);
    for (req, append) in batch.iter().zip(appends) {
        match req {
            WriteReq::Append { topic, .. } => {
                let (rows, delivered) = append.expect("planned above");
                for (p, recs) in rows {
                    let name = part_name(topic, p);
                    let def: TableDefinition<u64, &[u8]> = TableDefinition::new(&name);
                    let mut t = tx.open_table(def)?;
                    for (offset, r, large) in recs {
                        encode_record(r, large, &mut buf);
                        t.insert(offset, buf.as_slice())?;
                    }
                }
                results.push(Done::Appended(delivered));
            }
            WriteReq::Commit {
                group, positions, ..
            } => {
                let mut t = tx.open_table(OFFSETS)?;
                for c in positions {
                    t.insert(
                        offset_key(group, &c.topic, c.partition).as_str(),
                        c.next_offset,
                    )?;
                }
                results.push(Done::Committed);
            }
            WriteReq::ResetGroup { group, topics, .. } => {
                let mut t = tx.open_table(OFFSETS)?;
                for (topic, parts) in topics {
                    for p in 0..*parts {
                        t.remove(offset_key(group, topic, p).as_str())?;
                    }
                }
                results.push(Done::Committed);
            }
            WriteReq::CreateTopics { specs, .. } => {
                let mut created = Vec::new();
                let mut t = tx.open_table(TOPICS)?;
                for (name, parts) in specs {
                    if t.get(name.as_str())?.is_none() {
                        t.insert(name.as_str(), *parts)?;
                        created.push(name.clone());
                        for p in 0..*parts {
                            let pn = part_name(name, p);
                            let def: TableDefinition<u64, &[u8]> = TableDefinition::new(&pn);
                            tx.open_table(def)?;
                            next.entry((name.clone(), p)).or_insert(0);
                        }
                    }
                }
                results.push(Done::Created(created));
            }
        }
    }
    if let Some(end) = values_end {
        tx.open_table(META)?.insert(VALUES_END, end)?;
    }
    tx.commit()?;
    if let Some(end) = values_end {
        values.end = end;
    }
    Ok(results)
}

/// Appends to the embedded log.
#[derive(Clone)]
pub struct EmbeddedProducer {
    log: EmbeddedLog,
}

impl EmbeddedProducer {
    pub async fn send_batch(
        &self,
        topic: &TopicSpec,
        records: Arc<Vec<Record>>,
    ) -> Result<Vec<Delivered>> {
        let partitions = self.log.partitions(topic.name)?;
        let rx = self.log.request(|ack| WriteReq::Append {
            topic: topic.name.to_owned(),
            partitions,
            records,
            ack,
        })?;
        rx.await.map_err(|_| LogError::Closed)?
    }
}

/// The partitions `member` of `g` owns: of each topic it subscribes to, every n-th partition,
/// n being the topic's number of subscribers.
fn assigned(g: &Group, member: u64) -> Vec<(String, u32)> {
    let mut mine = Vec::new();
    let Some(subscribed) = g.members.get(&member) else {
        return mine;
    };
    for (topic, parts) in subscribed {
        let subscribers: Vec<u64> = g
            .members
            .iter()
            .filter(|(_, subs)| subs.iter().any(|(t, _)| t == topic))
            .map(|(id, _)| *id)
            .collect();
        let idx = subscribers
            .iter()
            .position(|id| *id == member)
            .expect("member subscribes");
        for p in 0..*parts {
            if p as usize % subscribers.len() == idx {
                mine.push((topic.clone(), p));
            }
        }
    }
    mine
}

/// Commits a consumer's positions from another task: what [`EmbeddedConsumer::commit`] does,
/// checked against the group's assignment at the time of the commit.
#[derive(Clone)]
pub struct EmbeddedCommitter {
    log: EmbeddedLog,
    group: String,
    member: u64,
}

impl EmbeddedCommitter {
    pub async fn commit(&self, positions: Vec<CommitPosition>) -> Result<()> {
        {
            let groups = self.log.inner.groups.lock().expect("groups lock");
            let mine = groups
                .get(&self.group)
                .map(|g| assigned(g, self.member))
                .unwrap_or_default();
            if positions
                .iter()
                .any(|c| !mine.iter().any(|(t, p)| *t == c.topic && *p == c.partition))
            {
                return Err(LogError::Rebalanced);
            }
        }
        send_commit(&self.log, &self.group, positions).await
    }
}

/// Durably store `positions` for `group` (the writer's next transaction).
async fn send_commit(log: &EmbeddedLog, group: &str, positions: Vec<CommitPosition>) -> Result<()> {
    let rx = log.request(|ack| WriteReq::Commit {
        group: group.to_owned(),
        positions,
        ack,
    })?;
    rx.await.map_err(|_| LogError::Closed)?
}

/// A member of a consumer group on the embedded log.
pub struct EmbeddedConsumer {
    log: EmbeddedLog,
    group: String,
    member: u64,
    /// Group generation the current assignment was computed for.
    generation: u64,
    /// Assigned partitions and the next offset to read in each.
    positions: BTreeMap<(String, u32), u64>,
    changes: watch::Receiver<u64>,
    next_start: usize,
}

impl Drop for EmbeddedConsumer {
    fn drop(&mut self) {
        if let Ok(mut groups) = self.log.inner.groups.lock()
            && let Some(g) = groups.get_mut(&self.group)
        {
            g.members.remove(&self.member);
            g.generation += 1;
        }
        self.log.inner.appended.send_modify(|v| *v += 1);
    }
}

impl EmbeddedConsumer {
    /// Recompute the assignment if the group changed; returns whether it did.
    fn sync_assignment(&mut self) -> Result<bool> {
        let (generation, mine) = {
            let groups = self.log.inner.groups.lock().expect("groups lock");
            let g = &groups[&self.group];
            if g.generation == self.generation {
                return Ok(false);
            }
            (g.generation, assigned(g, self.member))
        };
        // A partition kept through the rebalance keeps its position; a newly assigned one starts
        // from the committed position, as after a Kafka rebalance: what its previous owner read
        // but did not commit is read again.
        let rx = self.log.inner.db.begin_read().map_err(storage)?;
        let t = rx.open_table(OFFSETS).map_err(storage)?;
        let mut positions = BTreeMap::new();
        for (topic, p) in mine {
            if let Some(pos) = self.positions.get(&(topic.clone(), p)) {
                positions.insert((topic, p), *pos);
                continue;
            }
            let committed = t
                .get(offset_key(&self.group, &topic, p).as_str())
                .map_err(storage)?
                .map_or(0, |v| v.value());
            positions.insert((topic, p), committed);
        }
        self.positions = positions;
        self.generation = generation;
        Ok(true)
    }

    /// A handle that commits this member's positions from another task.
    pub fn committer(&self) -> EmbeddedCommitter {
        EmbeddedCommitter {
            log: self.log.clone(),
            group: self.group.clone(),
            member: self.member,
        }
    }

    pub fn assignment(&mut self) -> Vec<(String, u32)> {
        let _ = self.sync_assignment();
        self.positions.keys().cloned().collect()
    }

    pub async fn poll(&mut self, max: usize, timeout: Duration) -> Result<Vec<Message>> {
        let mut out = Vec::new();
        self.poll_into(&mut out, max, timeout).await?;
        Ok(out)
    }

    /// [`EmbeddedConsumer::poll`] into `out`, whose messages it overwrites (reusing their
    /// buffers: a consumer that polls into the same vector allocates only when a record outgrows
    /// the one it replaces); `out` holds exactly the records read.
    pub async fn poll_into(
        &mut self,
        out: &mut Vec<Message>,
        max: usize,
        timeout: Duration,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.changes.borrow_and_update();
            // After an error `out` may hold a message half overwritten: it is emptied.
            let filled = match self.sync_assignment().and_then(|_| self.read(out, max)) {
                Ok(filled) => filled,
                Err(e) => {
                    out.clear();
                    return Err(e);
                }
            };
            if filled > 0 {
                out.truncate(filled);
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline
                || tokio::time::timeout(deadline - now, self.changes.changed())
                    .await
                    .is_err()
            {
                out.clear();
                return Ok(());
            }
        }
    }

    /// Reads up to `max` records into `out` from its start, overwriting the messages there and
    /// pushing more as needed; returns how many it read (`out` may hold more, left over).
    fn read(&mut self, out: &mut Vec<Message>, max: usize) -> Result<usize> {
        let mut filled = 0;
        if self.positions.is_empty() || max == 0 {
            return Ok(filled);
        }
        let rx = self.log.inner.db.begin_read().map_err(storage)?;
        let values = &self.log.inner.values;
        let keys: Vec<(String, u32)> = self.positions.keys().cloned().collect();
        let n = keys.len();
        let start = self.next_start % n;
        self.next_start = self.next_start.wrapping_add(1);
        for i in 0..n {
            if filled >= max {
                break;
            }
            let (topic, p) = &keys[(start + i) % n];
            let pos = self.positions[&(topic.clone(), *p)];
            let name = part_name(topic, *p);
            let def: TableDefinition<u64, &[u8]> = TableDefinition::new(&name);
            let t = match rx.open_table(def) {
                Ok(t) => t,
                Err(TableError::TableDoesNotExist(_)) => continue,
                Err(e) => return Err(storage(e)),
            };
            let mut last = None;
            for row in t.range(pos..).map_err(storage)? {
                if filled >= max {
                    break;
                }
                let (k, v) = row.map_err(storage)?;
                let offset = k.value();
                match out.get_mut(filled) {
                    Some(m) => decode_record_into(m, values, topic, *p, offset, v.value())?,
                    None => out.push(decode_record(values, topic, *p, offset, v.value())?),
                }
                filled += 1;
                last = Some(offset);
            }
            if let Some(l) = last {
                self.positions.insert((topic.clone(), *p), l + 1);
            }
        }
        Ok(filled)
    }

    pub async fn commit(&mut self, positions: &[CommitPosition]) -> Result<()> {
        self.sync_assignment()?;
        if positions
            .iter()
            .any(|c| !self.positions.contains_key(&(c.topic.clone(), c.partition)))
        {
            return Err(LogError::Rebalanced);
        }
        send_commit(&self.log, &self.group, positions.to_vec()).await
    }

    pub fn lag(&mut self) -> Result<u64> {
        self.sync_assignment()?;
        let rx = self.log.inner.db.begin_read().map_err(storage)?;
        let mut per_topic: BTreeMap<&str, u64> = BTreeMap::new();
        for ((topic, p), pos) in &self.positions {
            let end = last_offset(&rx, topic, *p)?.map_or(0, |o| o + 1);
            *per_topic.entry(topic).or_default() += end.saturating_sub(*pos);
        }
        for (topic, lag) in &per_topic {
            metrics::gauge!("mindset_consumer_lag", "group" => self.group.clone(), "topic" => topic.to_string())
                .set(*lag as f64);
        }
        Ok(per_topic.values().sum())
    }
}
