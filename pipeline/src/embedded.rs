//! The embedded log: topics, partitions and consumer-group offsets in one redb database on local
//! disk (redb: ACID, copy-on-write B-trees, checksummed commits, crash-safe). One writer thread
//! group-commits every pending append and offset commit in a single fsynced transaction, then
//! acknowledges them: an acknowledged record or offset survives `kill -9`. Readers use MVCC read
//! transactions and never block the writer. Consumer groups are coordinated in-process (one
//! process owns the database file; redb locks it): partitions are spread round-robin over the
//! group's live members and reassigned when one joins or leaves.
//!
//! **The journal.** Each group commit is first appended to a sibling file, `<log file>.journal`,
//! as one CRC-checked frame holding every row of the group, and that file is synced: this one
//! `fdatasync` is what makes an append durable. The rows are then committed to redb without an
//! fsync of their own (`Durability::None`: visible to readers at once, kept in redb's write
//! buffer). Every [`CHECKPOINT_INTERVAL`] or [`CHECKPOINT_BYTES`] of rows, and in any group that
//! commits offsets, creates topics or resets a group, redb commits durably; each commit also
//! records how far into the journal redb's state reaches. Opening the log replays the frames past
//! the last durable commit into redb and cuts off a torn last frame (a group that was never
//! acknowledged). Values of [`LARGE_VALUE_BYTES`] or more (canonical events, raw webhook
//! payloads, state records: all but the smallest) are not copied into redb's B-trees at all:
//! their row points at their bytes in the journal (position, length, CRC-32), and a value that
//! fails its CRC is reported as a corrupt record. A frame holds its records partition by
//! partition, so a consumer reads the values of neighbouring records through one window of the
//! journal ([`READ_WINDOW_BYTES`]), never past the frames its redb transaction covers.
//!
//! **Zeroed space ahead.** A second thread keeps the space just past the journal's end written
//! with zeros (up to [`JOURNAL_AHEAD_BYTES`], synced), so that a group's frame overwrites blocks
//! the file system has already allocated and pages the page cache already holds: its
//! `fdatasync` then writes the data alone, without allocating blocks, growing the file or
//! committing the file system's own journal. The same thread lets the page cache drop the
//! journal's pages more than [`JOURNAL_AHEAD_BYTES`] behind the end, so that the cache recycles
//! memory instead of taking memory never touched before, which is slow to get on a virtual
//! machine. On ext4 here a 100 KB frame's write and sync took ~160 µs instead of ~240–330 µs, and
//! less CPU counting the zeroing (docs/BENCHMARKS.md). Replay stops at the zeros (no frame
//! starts with them) and opening cuts them off, as closing does.
//!
//! **Direct writes.** Where the file system takes `O_DIRECT` (ext4, xfs; not tmpfs) and zeroed
//! space is kept, frames and zeros are written past the page cache
//! ([`EmbeddedOptions::journal_direct`]). A frame's write covers whole 4 KiB blocks: it starts
//! with the bytes of the block it begins in that the journal already holds (kept from the last
//! write, or read back after opening) and ends with zeros to the end of its last block, and it
//! returns once the disk has the data (`O_DSYNC`), so no `fdatasync` follows. The previous
//! frame's tail is rewritten with the bytes it already holds. The zeros go in one 1 MiB write
//! per piece. The journal's bytes are the same as when written through the page cache (tested),
//! but no page-cache memory is filled for them, and the zeroing thread's CPU fell from
//! 11–15 µs to 2–2.5 µs per webhook request. A file system that refuses a direct write
//! (`EINVAL`) gets the page cache from then on.
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

/// Values this large or larger stay in the journal, and their row in redb points at them (a
/// 16-byte reference). That is every canonical event (a few hundred bytes) and raw payload
/// (kilobytes): each is written once, in its frame, instead of being copied again into redb's
/// pages, checksummed and written with them, at every commit and checkpoint that touches those
/// pages. Smaller values (a reference would save little) are kept in the row. Consumers read the
/// journal through a window of [`READ_WINDOW_BYTES`], so that the values of neighbouring records
/// cost one read between them.
pub const LARGE_VALUE_BYTES: usize = 64;

/// How much of the journal a consumer reads at once to find the values of its records: one
/// positional read serves every later value that lies within it.
pub const READ_WINDOW_BYTES: usize = 256 << 10;

/// The longest redb goes without a durable commit while appends arrive (a checkpoint: what
/// opening the log after a crash replays from the journal starts there). A checkpoint writes
/// every page changed since the last one and stalls the writer meanwhile, so they are kept small.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);

/// Rows written to redb since its last durable commit that make the next commit a checkpoint.
pub const CHECKPOINT_BYTES: usize = 2 << 20;

/// How far past its end the journal is kept written with zeros, at most: a log that has
/// written less since it was opened keeps that much (but 64 KiB at least), so a small log
/// stays small.
pub const JOURNAL_AHEAD_BYTES: u64 = 32 << 20;

/// The least zeroed space kept ahead, and the largest piece zeroed (and synced) at once.
const AHEAD_MIN: u64 = 64 << 10;
const AHEAD_CHUNK: u64 = 1 << 20;
/// The zeros' writes through the page cache (larger ones held the inode's lock long enough to
/// make the writer spin on it).
const ZERO_WRITE: u64 = 64 << 10;

/// How an embedded log keeps its pages and checkpoints.
#[derive(Clone, Debug)]
pub struct EmbeddedOptions {
    /// redb's page cache (read cache and write buffer together); [`DEFAULT_CACHE_BYTES`].
    pub cache_bytes: usize,
    /// [`CHECKPOINT_INTERVAL`].
    pub checkpoint_interval: Duration,
    /// [`CHECKPOINT_BYTES`].
    pub checkpoint_bytes: usize,
    /// [`JOURNAL_AHEAD_BYTES`]; 0 appends every frame past the file's end instead.
    pub journal_ahead_bytes: u64,
    /// Write the journal's frames and zeros past the page cache (`O_DIRECT`, each frame synced
    /// by its write), where the file system allows it and zeroed space is kept ahead; true by
    /// default. False writes them through the page cache, each frame then `fdatasync`ed.
    pub journal_direct: bool,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            cache_bytes: DEFAULT_CACHE_BYTES,
            checkpoint_interval: CHECKPOINT_INTERVAL,
            checkpoint_bytes: CHECKPOINT_BYTES,
            journal_ahead_bytes: JOURNAL_AHEAD_BYTES,
            journal_direct: true,
        }
    }
}

const TOPICS: TableDefinition<&str, u32> = TableDefinition::new("topics");
const OFFSETS: TableDefinition<&str, u64> = TableDefinition::new("offsets");
/// Log-wide positions: [`JOURNAL_END`].
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// How far into the journal the rows in redb reach.
const JOURNAL_END: &str = "journal_end";

/// The journal of the log in `path`.
pub fn journal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".journal");
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

/// Records for one topic, in a write request.
struct Part {
    topic: String,
    partitions: u32,
    records: Arc<Vec<Record>>,
}

enum WriteReq {
    /// Records for one or more topics, acknowledged together.
    Append {
        parts: Vec<Part>,
        ack: oneshot::Sender<Result<Vec<Vec<Delivered>>>>,
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
    /// Commit the acknowledged rows readers do not see yet.
    Flush { ack: oneshot::Sender<Result<()>> },
}

struct Group {
    generation: u64,
    /// member id -> subscribed (topic, partitions)
    members: BTreeMap<u64, Vec<(String, u32)>>,
}

struct Inner {
    db: Arc<Database>,
    /// The journal, where readers find large values with positional reads (the writer thread
    /// has its own handle).
    journal: File,
    /// Rows replayed from the journal when the log was opened.
    recovered: u64,
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
        EmbeddedLog::open_with(path, EmbeddedOptions::default())
    }

    /// Open (or create) the log in the file `path`, keeping at most `cache_bytes` of its pages
    /// in memory (read cache and write buffer together).
    pub fn open_with_cache(path: impl AsRef<Path>, cache_bytes: usize) -> Result<EmbeddedLog> {
        EmbeddedLog::open_with(
            path,
            EmbeddedOptions {
                cache_bytes,
                ..EmbeddedOptions::default()
            },
        )
    }

    /// Open (or create) the log in the file `path` with `options`.
    pub fn open_with(path: impl AsRef<Path>, options: EmbeddedOptions) -> Result<EmbeddedLog> {
        let cache_bytes = options.cache_bytes;
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
        {
            let tx = db.begin_write().map_err(storage)?;
            {
                tx.open_table(TOPICS).map_err(storage)?;
                tx.open_table(OFFSETS).map_err(storage)?;
                tx.open_table(META).map_err(storage)?;
            }
            tx.commit().map_err(storage)?;
        }
        let (journal, journal_end, recovered) = open_journal(&db, &path)?;
        {
            let rx = db.begin_read().map_err(storage)?;
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
        // Direct writes need zeroed space ahead: a direct write that allocates blocks or grows
        // the file costs about what a buffered one does.
        let (direct, direct_zeros) = match (options.journal_direct
            && options.journal_ahead_bytes > 0)
            .then(|| Direct::open(&journal_path(&path)))
            .flatten()
        {
            Some((d, z)) => (Some(d), Some(z)),
            None => (None, None),
        };
        let ahead = match options.journal_ahead_bytes {
            0 => None,
            bytes => Some(Ahead::start(
                journal.try_clone().map_err(storage)?,
                direct_zeros,
                journal_end,
                bytes,
            )?),
        };
        let writer_journal = Journal {
            file: journal.try_clone().map_err(storage)?,
            direct,
            end: journal_end,
            ahead,
            frame: Vec::new(),
            rows: Vec::new(),
            failed: None,
            unsynced_rows: 0,
            last_checkpoint: Instant::now(),
            checkpoint_interval: options.checkpoint_interval,
            checkpoint_bytes: options.checkpoint_bytes,
        };
        let (tx, rx) = mpsc::channel();
        let (appended, _) = watch::channel(0u64);
        let writer_db = db.clone();
        let notify = appended.clone();
        let thread = std::thread::Builder::new()
            .name("mindset-log-writer".into())
            .spawn(move || writer_loop(writer_db, writer_journal, rx, next, notify))
            .map_err(storage)?;
        Ok(EmbeddedLog {
            inner: Arc::new(Inner {
                db,
                journal,
                recovered,
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

    /// How many rows opening the log replayed from the journal (those of the groups committed
    /// after redb's last durable commit: non-zero after a crash or `kill -9`).
    pub fn recovered(&self) -> u64 {
        self.inner.recovered
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
            window: JournalWindow::default(),
        })
    }

    /// The next offset of each partition of `topic`, counting every acknowledged append.
    pub async fn end_offsets(&self, topic: &TopicSpec) -> Result<Vec<u64>> {
        let parts = self.partitions(topic.name)?;
        let flushed = self.request(|ack| WriteReq::Flush { ack })?;
        flushed.await.map_err(|_| LogError::Closed)??;
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

/// Open the journal of the log in `path`, replay into redb the frames past the end its rows
/// reach (groups committed after its last durable commit), and cut off a torn last frame.
/// Returns the journal, its end, and how many rows were replayed. A journal shorter than redb's
/// end has lost acknowledged records, which is an error.
fn open_journal(db: &Database, path: &Path) -> Result<(File, u64, u64)> {
    let jpath = journal_path(path);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&jpath)
        .map_err(|e| LogError::Storage(format!("cannot open {}: {e}", jpath.display())))?;
    let durable_end = journal_end(&db.begin_read().map_err(storage)?)?;
    let len = file.metadata().map_err(storage)?.len();
    if len < durable_end {
        return Err(LogError::Storage(format!(
            "{} holds {len} bytes but the log has committed {durable_end}: acknowledged records are missing",
            jpath.display()
        )));
    }
    // Replay whole frames; the first that is short or fails its CRC ends the journal.
    let mut end = durable_end;
    let mut recovered = 0u64;
    let mut header = [0u8; FRAME_HEADER];
    let mut payload = Vec::new();
    let tx = db.begin_write().map_err(storage)?;
    while end + FRAME_HEADER as u64 <= len {
        file.read_exact_at(&mut header, end).map_err(storage)?;
        let (magic, plen, crc) = frame_header(&header);
        if magic != FRAME_MAGIC || end + (FRAME_HEADER + plen) as u64 > len {
            break;
        }
        payload.resize(plen, 0);
        file.read_exact_at(&mut payload, end + FRAME_HEADER as u64)
            .map_err(storage)?;
        if crc32fast::hash(&payload) != crc {
            break;
        }
        for entry in FrameEntries(&payload) {
            let (topic, partition, offset, row) = entry.map_err(|e| {
                LogError::Storage(format!(
                    "{}: the frame at {end} passes its CRC but {e}",
                    jpath.display()
                ))
            })?;
            let name = part_name(topic, partition);
            let def: TableDefinition<u64, &[u8]> = TableDefinition::new(&name);
            let mut t = tx.open_table(def).map_err(storage)?;
            t.insert(offset, row).map_err(storage)?;
            recovered += 1;
        }
        end += (FRAME_HEADER + plen) as u64;
    }
    tx.open_table(META)
        .map_err(storage)?
        .insert(JOURNAL_END, end)
        .map_err(storage)?;
    tx.commit().map_err(storage)?;
    if len > end {
        file.set_len(end).map_err(storage)?;
        file.sync_all().map_err(storage)?;
    }
    if recovered > 0 {
        tracing::info!(
            rows = recovered,
            journal = %jpath.display(),
            "replayed the groups committed after the last durable commit"
        );
    }
    Ok((file, end, recovered))
}

// A journal frame: [magic u32][payload length u32][CRC-32 of the payload u32][payload]. The
// payload is a sequence of entries:
//   row:   [1][topic length u16][topic][partition u32][offset u64][row length u32][row]
//   value: [2][length u32][bytes]   (a large value; its row points at these bytes)
const FRAME_MAGIC: u32 = u32::from_le_bytes(*b"MSJ1");
const FRAME_HEADER: usize = 12;
const ENTRY_ROW: u8 = 1;
const ENTRY_VALUE: u8 = 2;

fn frame_header(h: &[u8; FRAME_HEADER]) -> (u32, usize, u32) {
    let word = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().expect("4 bytes"));
    (word(0), word(4) as usize, word(8))
}

/// The rows of a frame's payload: (topic, partition, offset, row).
struct FrameEntries<'a>(&'a [u8]);

impl<'a> Iterator for FrameEntries<'a> {
    type Item = std::result::Result<(&'a str, u32, u64, &'a [u8]), &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        type Row<'b> = (&'b str, u32, u64, &'b [u8]);
        fn take<'b>(b: &mut &'b [u8], n: usize) -> std::result::Result<&'b [u8], &'static str> {
            if b.len() < n {
                return Err("an entry runs past its end");
            }
            let (head, rest) = b.split_at(n);
            *b = rest;
            Ok(head)
        }
        fn u32_of(b: &[u8]) -> u32 {
            u32::from_le_bytes(b.try_into().expect("4 bytes"))
        }
        /// The next entry: a row, or `None` for a value.
        fn entry<'b>(b: &mut &'b [u8]) -> std::result::Result<Option<Row<'b>>, &'static str> {
            match take(b, 1)?[0] {
                ENTRY_VALUE => {
                    let len = u32_of(take(b, 4)?) as usize;
                    take(b, len)?;
                    Ok(None)
                }
                ENTRY_ROW => {
                    let tlen = u16::from_le_bytes(take(b, 2)?.try_into().expect("2 bytes"));
                    let topic = std::str::from_utf8(take(b, tlen as usize)?)
                        .map_err(|_| "a topic is not UTF-8")?;
                    let partition = u32_of(take(b, 4)?);
                    let offset = u64::from_le_bytes(take(b, 8)?.try_into().expect("8 bytes"));
                    let rlen = u32_of(take(b, 4)?) as usize;
                    Ok(Some((topic, partition, offset, take(b, rlen)?)))
                }
                _ => Err("an entry has an unknown kind"),
            }
        }
        while !self.0.is_empty() {
            match entry(&mut self.0) {
                Ok(Some(r)) => return Some(Ok(r)),
                Ok(None) => {}
                Err(e) => {
                    self.0 = &[];
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

/// The writer's side of the journal: its end, the frame of the group being written, and when
/// redb last committed durably.
struct Journal {
    file: File,
    /// Frames are written past the page cache, when the file system allows it.
    direct: Option<Direct>,
    end: u64,
    /// The zeroed space past `end`, when the log keeps one.
    ahead: Option<Ahead>,
    frame: Vec<u8>,
    /// The group's rows: (topic, partition, offset, where the row is in `frame`).
    rows: Vec<(Arc<str>, u32, u64, std::ops::Range<usize>)>,
    /// Set when the log stops writing until it is reopened: redb refused a commit (the
    /// acknowledged rows it held are in the journal, and reopening replays them), or a refused
    /// group's frame could not be cut back out of the journal.
    failed: Option<String>,
    unsynced_rows: usize,
    last_checkpoint: Instant,
    checkpoint_interval: Duration,
    checkpoint_bytes: usize,
}

impl Journal {
    fn begin(&mut self) {
        self.frame.clear();
        self.frame.resize(FRAME_HEADER, 0);
        self.rows.clear();
    }

    /// Add a large value to the frame; returns where it will be in the journal.
    fn value(&mut self, value: &[u8]) -> ValueRef {
        self.frame.push(ENTRY_VALUE);
        self.frame
            .extend_from_slice(&(value.len() as u32).to_le_bytes());
        let at = ValueRef {
            pos: self.end + self.frame.len() as u64,
            len: value.len() as u32,
            crc: crc32fast::hash(value),
        };
        self.frame.extend_from_slice(value);
        at
    }

    /// Add the row of `r` at `offset` of `topic`/`partition` to the frame.
    fn row(
        &mut self,
        topic: &Arc<str>,
        partition: u32,
        offset: u64,
        r: &Record,
        large: Option<ValueRef>,
    ) {
        let f = &mut self.frame;
        f.push(ENTRY_ROW);
        f.extend_from_slice(&(topic.len() as u16).to_le_bytes());
        f.extend_from_slice(topic.as_bytes());
        f.extend_from_slice(&partition.to_le_bytes());
        f.extend_from_slice(&offset.to_le_bytes());
        let len_at = f.len();
        f.extend_from_slice(&[0; 4]);
        let start = f.len();
        encode_record(r, large, f);
        let len = (f.len() - start) as u32;
        f[len_at..start].copy_from_slice(&len.to_le_bytes());
        self.rows
            .push((topic.clone(), partition, offset, start..f.len()));
    }

    /// Write and sync the frame, if it holds anything (the caller then moves `end` past it).
    fn write(&mut self) -> std::io::Result<()> {
        if self.frame.len() == FRAME_HEADER {
            return Ok(());
        }
        let plen = (self.frame.len() - FRAME_HEADER) as u32;
        let crc = crc32fast::hash(&self.frame[FRAME_HEADER..]);
        self.frame[..4].copy_from_slice(&FRAME_MAGIC.to_le_bytes());
        self.frame[4..8].copy_from_slice(&plen.to_le_bytes());
        self.frame[8..12].copy_from_slice(&crc.to_le_bytes());
        let stop = self.end + self.frame.len() as u64;
        // A direct write reaches to the end of the block the frame ends in.
        let reach = match self.direct {
            Some(_) => align_up(stop),
            None => stop,
        };
        match &self.ahead {
            Some(a) if reach > a.ready() => {
                // Past the zeroed space: appended while the zeroing thread is idle, and it
                // resumes after what was written.
                let mut st = a.idle();
                let written = put(&mut self.direct, &self.file, self.end, &self.frame)?;
                let to = written.max(st.zeroed);
                a.shared.set_zeroed(&mut st, to);
            }
            _ => {
                put(&mut self.direct, &self.file, self.end, &self.frame)?;
            }
        }
        if let Some(a) = &self.ahead {
            a.want(stop);
        }
        Ok(())
    }

    /// Cut the journal back to `end` (a group that was refused must not be replayed); if that
    /// fails, stop writing.
    fn take_back(&mut self, end: u64, why: &str) {
        self.end = end;
        if let Some(d) = &mut self.direct {
            d.tail = None;
        }
        // The zeroed space goes too: nothing past `end` may be read as a frame.
        let ahead = self.ahead.as_ref().map(|a| (a, a.idle()));
        let cut = self.file.set_len(end).and_then(|_| self.file.sync_all());
        if let Some((a, mut st)) = ahead {
            a.shared.set_zeroed(&mut st, end);
        }
        if let Err(cut) = cut {
            self.failed.get_or_insert_with(|| {
                format!(
                    "the log stopped writing: a refused group ({why}) could not be taken back out of the journal ({cut}); reopen it"
                )
            });
        }
    }
}

/// The alignment of direct writes (their file position, length and memory): the largest
/// logical block size of common disks.
const DIRECT_ALIGN: usize = 4096;

fn align_up(at: u64) -> u64 {
    at.next_multiple_of(DIRECT_ALIGN as u64)
}

/// One aligned block of a direct write's memory.
#[repr(C, align(4096))]
#[derive(Clone, Copy)]
struct Block([u8; DIRECT_ALIGN]);

/// Memory for direct writes: whole blocks, aligned.
#[derive(Default)]
struct AlignedBuf(Vec<Block>);

impl AlignedBuf {
    /// The first `n` bytes rounded up to whole blocks (growing the buffer with zeros).
    fn blocks(&mut self, n: usize) -> &mut [u8] {
        let blocks = n.div_ceil(DIRECT_ALIGN);
        if self.0.len() < blocks {
            self.0.resize(blocks, Block([0; DIRECT_ALIGN]));
        }
        // SAFETY: `Block` is plain bytes (`repr(C)`, no padding), and the vector holds at least
        // `blocks` of them, contiguous; the slice borrows `self` mutably.
        unsafe {
            std::slice::from_raw_parts_mut(self.0.as_mut_ptr().cast::<u8>(), blocks * DIRECT_ALIGN)
        }
    }
}

/// The journal written past the page cache (`O_DIRECT`): each frame is written together with
/// the bytes of the block it starts in that are already in the journal (so every write is whole,
/// aligned blocks) and zeros to the end of the block it ends in, into the zeroed space, and the
/// write returns once the data is on the disk (`O_DSYNC`). Rewriting the tail of the previous
/// frame writes the bytes it already holds. The page cache is not filled with the journal, so
/// no memory is taken for it or dropped, and the sync writes the frame alone instead of
/// searching the cache for dirty pages.
struct Direct {
    /// The journal opened `O_DIRECT | O_DSYNC`.
    file: File,
    buf: AlignedBuf,
    /// The journal's bytes from the start of the block its end is in up to its end, or `None`
    /// when they must be read from the file first (after opening or taking a group back).
    tail: Option<Vec<u8>>,
}

impl Direct {
    /// The writer's direct handle and the zeroing thread's (`O_DIRECT` alone); `None` where the
    /// file system refuses `O_DIRECT` (tmpfs) or off Linux.
    fn open(jpath: &Path) -> Option<(Direct, File)> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::OpenOptionsExt;
            let open = |flags: i32| {
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(flags)
                    .open(jpath)
            };
            match (open(libc::O_DIRECT | libc::O_DSYNC), open(libc::O_DIRECT)) {
                (Ok(file), Ok(zeros)) => Some((
                    Direct {
                        file,
                        buf: AlignedBuf::default(),
                        tail: None,
                    },
                    zeros,
                )),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::debug!(error = %e, journal = %jpath.display(), "direct writes unavailable; the journal goes through the page cache");
                    None
                }
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = jpath;
            None
        }
    }

    /// Write `frame` at `end` of the journal `buffered` (the same file through the page cache,
    /// to read the tail from) and wait for it to reach the disk.
    fn put(&mut self, buffered: &File, end: u64, frame: &[u8]) -> std::io::Result<()> {
        let start = end - end % DIRECT_ALIGN as u64;
        let head = (end - start) as usize;
        let tail = match self.tail.take() {
            Some(t) if t.len() == head => t,
            _ => {
                let mut t = vec![0; head];
                buffered.read_exact_at(&mut t, start)?;
                t
            }
        };
        let n = head + frame.len();
        let out = self.buf.blocks(n);
        out[..head].copy_from_slice(&tail);
        out[head..n].copy_from_slice(frame);
        out[n..].fill(0);
        self.file.write_all_at(out, start)?;
        // What the next frame's write starts with.
        let mut tail = tail;
        tail.clear();
        tail.extend_from_slice(&out[n - n % DIRECT_ALIGN..n]);
        self.tail = Some(tail);
        Ok(())
    }
}

/// Write `frame` at `end` of the journal `file` and make it durable, directly when `direct`;
/// returns where what was written ends (past the frame, with zeros, for a direct write).
fn put(direct: &mut Option<Direct>, file: &File, end: u64, frame: &[u8]) -> std::io::Result<u64> {
    let stop = end + frame.len() as u64;
    if let Some(d) = direct {
        match d.put(file, end, frame) {
            Ok(()) => return Ok(align_up(stop)),
            // The file system refuses direct writes (of this alignment): nothing was written,
            // and the page cache is used from now on.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                tracing::warn!(error = %e, "the journal cannot be written directly; writing it through the page cache");
                *direct = None;
            }
            Err(e) => return Err(e),
        }
    }
    file.write_all_at(frame, end)?;
    file.sync_data()?;
    Ok(stop)
}

/// The zeroed space past the journal's end and the thread that extends it. The writer
/// overwrites zeros below [`Ahead::ready`] without asking; a frame that reaches past it is
/// appended while the thread is idle, and the thread resumes after it.
struct Ahead {
    shared: Arc<AheadShared>,
    thread: Option<JoinHandle<()>>,
    /// Where the journal was when the log was opened (what it has written since bounds how far
    /// ahead it zeroes).
    base: u64,
}

struct AheadShared {
    state: Mutex<AheadState>,
    wake: std::sync::Condvar,
    /// `state.zeroed`, for the writer's check without the lock.
    ready: AtomicU64,
    /// The journal's end as the writer last reported it.
    written: AtomicU64,
    /// How much is zeroed ahead, and kept cached behind, at most.
    most: u64,
}

struct AheadState {
    /// Everything from the journal's end up to here is zeros, synced.
    zeroed: u64,
    /// Zero up to here.
    want: u64,
    /// Zeros are being written past `zeroed`.
    busy: bool,
    /// Closing, or zeroing failed: zero no more.
    stop: bool,
}

impl AheadShared {
    /// Move the end of the zeroed space (under the state's lock), keeping `ready` equal to it.
    fn set_zeroed(&self, st: &mut AheadState, to: u64) {
        st.zeroed = to;
        self.ready.store(to, Ordering::Release);
    }
}

impl Ahead {
    /// `direct`: the journal opened `O_DIRECT`, to write the zeros past the page cache.
    fn start(file: File, direct: Option<File>, end: u64, most: u64) -> Result<Ahead> {
        let shared = Arc::new(AheadShared {
            state: Mutex::new(AheadState {
                zeroed: end,
                want: end,
                busy: false,
                stop: false,
            }),
            wake: std::sync::Condvar::new(),
            ready: AtomicU64::new(end),
            written: AtomicU64::new(end),
            most,
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("mindset-log-zero".into())
                .spawn(move || zero_ahead(&shared, &file, direct))
                .map_err(storage)?
        };
        Ok(Ahead {
            shared,
            thread: Some(thread),
            base: end,
        })
    }

    fn ready(&self) -> u64 {
        self.shared.ready.load(Ordering::Acquire)
    }

    /// The state, once no zeros are being written.
    fn idle(&self) -> std::sync::MutexGuard<'_, AheadState> {
        let mut st = self.shared.state.lock().expect("ahead lock");
        while st.busy {
            st = self.shared.wake.wait(st).expect("ahead lock");
        }
        st
    }

    /// The journal now ends at `end`: ask for more zeros if less than half the space it should
    /// keep ahead is left.
    fn want(&self, end: u64) {
        self.shared.written.store(end, Ordering::Relaxed);
        let keep = end
            .saturating_sub(self.base)
            .clamp(AHEAD_MIN, self.shared.most.max(AHEAD_MIN));
        if self.ready() >= end + keep / 2 {
            return;
        }
        let mut st = self.shared.state.lock().expect("ahead lock");
        if end + keep > st.want {
            st.want = end + keep;
            self.shared.wake.notify_all();
        }
    }

    /// Stop the thread (once its current piece is written).
    fn stop(&mut self) {
        self.shared.state.lock().expect("ahead lock").stop = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The zeroing thread: writes zeros past `zeroed` up to `want`, a piece at a time, syncing each
/// piece before the writer may use it. If a piece fails (a full disk), it is cut back off and
/// zeroing stops: frames are appended past the file's end from then on. With `direct` (the
/// journal opened `O_DIRECT`) whole blocks are written past the page cache, and pieces end on
/// a block boundary; the part of a block before one is written through the cache.
fn zero_ahead(shared: &AheadShared, file: &File, mut direct: Option<File>) {
    // The zeros, aligned for direct writes (and as good for the page cache's).
    let mut zeros = AlignedBuf::default();
    let mut dropped = 0;
    loop {
        let (from, to) = {
            let mut st = shared.state.lock().expect("ahead lock");
            while !st.stop && st.zeroed >= st.want {
                st = shared.wake.wait(st).expect("ahead lock");
            }
            if st.stop {
                return;
            }
            st.busy = true;
            (st.zeroed, st.want.min(st.zeroed + AHEAD_CHUNK))
        };
        let behind = shared
            .written
            .load(Ordering::Relaxed)
            .saturating_sub(shared.most);
        drop_cached(file, &mut dropped, behind & !4095);
        let to = match direct {
            Some(_) => align_up(to),
            None => to,
        };
        let mut at = from;
        let written = loop {
            if at >= to {
                break file.sync_data();
            }
            let mut n = (to - at).min(ZERO_WRITE) as usize;
            if direct.is_some() {
                if at % DIRECT_ALIGN as u64 == 0 {
                    // Whole blocks (`at` and `to` are on boundaries), a piece in one write: the
                    // writer waits for a write that grows the file, but one write costs it one
                    // wait, where 64 KiB writes cost it sixteen.
                    n = (to - at).min(AHEAD_CHUNK) as usize;
                    let d = direct.as_ref().expect("checked");
                    match d.write_all_at(&zeros.blocks(n)[..n], at) {
                        Ok(()) => {
                            at += n as u64;
                            continue;
                        }
                        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                            tracing::warn!(error = %e, "the journal's zeros cannot be written directly; writing them through the page cache");
                            direct = None;
                            n = n.min(ZERO_WRITE as usize);
                        }
                        Err(e) => break Err(e),
                    }
                } else {
                    n = n.min((align_up(at) - at) as usize);
                }
            }
            if let Err(e) = file.write_all_at(&zeros.blocks(n)[..n], at) {
                break Err(e);
            }
            at += n as u64;
        };
        if let Err(e) = &written {
            tracing::warn!(error = %e, "the journal's space ahead could not be zeroed; appending past its end from now on");
            let _ = file.set_len(from);
        }
        let mut st = shared.state.lock().expect("ahead lock");
        st.busy = false;
        match written {
            Ok(()) => {
                shared.set_zeroed(&mut st, to);
            }
            Err(_) => st.stop = true,
        }
        shared.wake.notify_all();
    }
}

/// Let the page cache drop the journal's pages in `from..to` (synced frames, read again only
/// by consumers far behind), so that new pages reuse their memory. Memory the system has not
/// touched before is slow to hand out on virtual machines (each first touch traps to the
/// host); without this the journal's cache kept taking such memory, as fast as the journal
/// grew (~180 MB/s in the webhook benchmark).
fn drop_cached(file: &File, from: &mut u64, to: u64) {
    if to <= *from {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: posix_fadvise only reads its arguments; the descriptor is open (borrowed).
        let len = (to - *from) as libc::off_t;
        let _ = unsafe {
            libc::posix_fadvise(
                file.as_raw_fd(),
                *from as libc::off_t,
                len,
                libc::POSIX_FADV_DONTNEED,
            )
        };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
    *from = to;
}

/// Where a large value is in the journal.
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
// A value kept in the journal sets the top bit of the key length, and the trailing value is
// replaced by its reference: [position u64][length u32][CRC-32 u32].

const IN_JOURNAL: u32 = 1 << 31;

/// Append the row of `r` to `out`.
fn encode_record(r: &Record, large: Option<ValueRef>, out: &mut Vec<u8>) {
    out.extend_from_slice(&r.timestamp_ms.to_le_bytes());
    let flag = if large.is_some() { IN_JOURNAL } else { 0 };
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

/// A reader's view of the journal: the last window of it read, from which the values of later
/// records are copied while they lie within it.
///
/// Only bytes below the journal end recorded by the reader's redb transaction are read into the
/// window. They belong to acknowledged frames, which are never written again (a refused group's
/// frame is cut off past that end, and reopening cuts only past it), so a window never goes
/// stale.
#[derive(Default)]
struct JournalWindow {
    at: u64,
    bytes: Vec<u8>,
}

impl JournalWindow {
    /// The `len` bytes at `at` into `out`, reading no further than `limit` (where the reader's
    /// transaction says the acknowledged frames end).
    fn read(
        &mut self,
        journal: &File,
        at: u64,
        len: usize,
        limit: u64,
        out: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        out.clear();
        let end = at + len as u64;
        if at >= self.at && end <= self.at + self.bytes.len() as u64 {
            let from = (at - self.at) as usize;
            out.extend_from_slice(&self.bytes[from..from + len]);
            return Ok(());
        }
        let want = (len.max(READ_WINDOW_BYTES) as u64).min(limit.saturating_sub(at));
        if want <= len as u64 {
            // Nothing past the value is known to be there (or it fills the window alone).
            out.resize(len, 0);
            return journal.read_exact_at(out, at);
        }
        self.bytes.resize(want as usize, 0);
        if let Err(e) = journal.read_exact_at(&mut self.bytes, at) {
            self.bytes.clear();
            return Err(e);
        }
        self.at = at;
        out.extend_from_slice(&self.bytes[..len]);
        Ok(())
    }
}

/// How far into the journal the rows committed as of `rx` reach (0 before the first commit).
fn journal_end(rx: &redb::ReadTransaction) -> Result<u64> {
    match rx.open_table(META) {
        Ok(t) => Ok(t
            .get(JOURNAL_END)
            .map_err(storage)?
            .map_or(0, |v| v.value())),
        Err(TableError::TableDoesNotExist(_)) => Ok(0),
        Err(e) => Err(storage(e)),
    }
}

fn decode_record(
    journal: (&File, &mut JournalWindow, u64),
    topic: &str,
    partition: u32,
    offset: u64,
    b: &[u8],
) -> Result<Message> {
    let mut m = Message::default();
    decode_record_into(&mut m, journal, topic, partition, offset, b)?;
    Ok(m)
}

/// [`decode_record`] over an existing message, reusing its strings and buffers. A value in the
/// journal is read through the window, up to the given journal end.
fn decode_record_into(
    m: &mut Message,
    (journal, window, limit): (&File, &mut JournalWindow, u64),
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
    let in_journal = klen & IN_JOURNAL != 0;
    let klen = (klen & !IN_JOURNAL) as usize;
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
    if in_journal {
        let r = b
            .get(pos..)
            .filter(|r| r.len() == VALUE_REF_BYTES)
            .ok_or_else(bad)?;
        let at = u64::from_le_bytes(r[..8].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(r[8..12].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(r[12..].try_into().expect("4 bytes"));
        window.read(journal, at, len as usize, limit, &mut m.value).map_err(|e| {
            LogError::Storage(format!(
                "corrupt record {topic}/{partition}@{offset}: its value ({len} bytes at {at} in the journal) cannot be read: {e}"
            ))
        })?;
        if crc32fast::hash(&m.value) != crc {
            return Err(LogError::Storage(format!(
                "corrupt record {topic}/{partition}@{offset}: its value ({len} bytes at {at} in the journal) fails its checksum"
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

/// While more appends are waiting, rows already acknowledged (durable in the journal) may wait
/// this long for their redb commit, so that one commit covers several groups. Readers see them
/// when it lands; [`EmbeddedLog::end_offsets`] waits for it.
pub const VISIBILITY_DELAY: Duration = Duration::from_millis(2);

/// The writer thread's state besides the journal.
struct Writer {
    db: Arc<Database>,
    appended: watch::Sender<u64>,
    next: HashMap<(String, u32), u64>,
    /// The open redb transaction holding acknowledged rows that readers do not see yet, and
    /// when it was opened.
    pending: Option<(redb::WriteTransaction, Instant)>,
    pending_rows: usize,
}

fn writer_loop(
    db: Arc<Database>,
    mut journal: Journal,
    rx: mpsc::Receiver<WriteReq>,
    next: HashMap<(String, u32), u64>,
    appended: watch::Sender<u64>,
) {
    let mut w = Writer {
        db,
        appended,
        next,
        pending: None,
        pending_rows: 0,
    };
    let mut carry: Option<WriteReq> = None;
    loop {
        // The next request: carried over, or waited for (only until pending rows are due).
        let first = match carry.take() {
            Some(r) => r,
            None => match &w.pending {
                None => match rx.recv() {
                    Ok(r) => r,
                    Err(_) => break,
                },
                Some((_, since)) => {
                    let wait =
                        (*since + VISIBILITY_DELAY).saturating_duration_since(Instant::now());
                    match rx.recv_timeout(wait) {
                        Ok(r) => r,
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            w.publish(&mut journal, false);
                            continue;
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                }
            },
        };
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
        if let Some(why) = &journal.failed {
            for req in batch {
                answer(req, Err(LogError::Storage(why.clone())));
            }
            continue;
        }
        w.group(&mut journal, batch, || {
            // Whether more work arrived while the frame was synced decides if this group's rows
            // may wait for a later redb commit.
            carry = rx.try_recv().ok();
            carry.is_some()
        });
    }
    // Closing: one durable commit, so that the next open has nothing to replay.
    if journal.failed.is_none() && (w.pending.is_some() || journal.unsynced_rows > 0) {
        match w.tx() {
            Ok(_) => w.publish(&mut journal, true),
            Err(e) => {
                tracing::warn!(error = %e, "the log's closing commit failed; the next open replays the journal")
            }
        }
    }
    // And the zeroed space ahead is given back (opening would cut it off anyway).
    if let Some(a) = &mut journal.ahead {
        a.stop();
        if journal.failed.is_none()
            && let Err(e) = journal.file.set_len(journal.end)
        {
            tracing::warn!(error = %e, "the journal's zeroed space could not be cut off at close; the next open does it");
        }
    }
}

impl Writer {
    /// One group: its frame is written and synced, then its rows go to redb. Appends alone are
    /// acknowledged at once when `more` says requests are waiting (their rows joining the open
    /// transaction, committed within [`VISIBILITY_DELAY`]); otherwise the transaction commits
    /// first.
    fn group(&mut self, journal: &mut Journal, batch: Vec<WriteReq>, more: impl FnOnce() -> bool) {
        let start = journal.end;
        let appends = stage(journal, &mut self.next, &batch);
        let only_appends = appends.iter().all(Option::is_some);
        let durable = batch.iter().any(|r| {
            matches!(
                r,
                WriteReq::Commit { .. }
                    | WriteReq::ResetGroup { .. }
                    | WriteReq::CreateTopics { .. }
            )
        });
        if let Err(e) = journal.write() {
            // The group's offsets are free again: each partition's first row holds its
            // lowest.
            for (topic, p, offset, _) in journal.rows.iter().rev() {
                if let Some(slot) = self.next.get_mut(&(topic.to_string(), *p)) {
                    *slot = *offset;
                }
            }
            journal.take_back(start, &e.to_string());
            refuse(batch, &e.to_string());
            return;
        }
        if journal.frame.len() > FRAME_HEADER {
            journal.end += journal.frame.len() as u64;
        }
        if only_appends && more() {
            // Durable in the journal: acknowledged now, visible with the next commit.
            for (req, delivered) in batch.into_iter().zip(appends) {
                answer(req, Ok(Done::Appended(delivered.expect("appends only"))));
            }
            match self.insert(journal) {
                Ok(rows) => self.pending_rows += rows,
                // The rows are acknowledged and in the journal: reopening replays them.
                Err(e) => {
                    self.pending = None;
                    self.pending_rows = 0;
                    journal
                        .failed
                        .get_or_insert_with(|| stopped(&e.to_string()));
                    return;
                }
            }
            if let Some((_, since)) = &self.pending
                && since.elapsed() >= VISIBILITY_DELAY
            {
                self.publish(journal, false);
            }
            return;
        }
        match self.insert(journal) {
            Ok(rows) => self.pending_rows += rows,
            Err(e) => return self.fail(journal, start, batch, &e.to_string()),
        }
        let results = match self.others(&batch, appends) {
            Ok(r) => r,
            Err(e) => return self.fail(journal, start, batch, &e.to_string()),
        };
        if let Err(e) = self.commit(journal, durable) {
            return self.fail(journal, start, batch, &e.to_string());
        }
        for (req, res) in batch.into_iter().zip(results) {
            answer(req, Ok(res));
        }
    }

    /// The open transaction (beginning one if needed).
    fn tx(&mut self) -> std::result::Result<&mut redb::WriteTransaction, ApplyError> {
        if self.pending.is_none() {
            let mut tx = self.db.begin_write()?;
            tx.set_durability(redb::Durability::None)?;
            self.pending = Some((tx, Instant::now()));
        }
        Ok(&mut self.pending.as_mut().expect("just opened").0)
    }

    /// Insert the frame's rows into the open transaction, partition by partition (`stage` put
    /// them in (topic, partition, offset) order); returns their bytes.
    fn insert(&mut self, journal: &Journal) -> std::result::Result<usize, ApplyError> {
        let tx = self.tx()?;
        debug_assert!(
            journal
                .rows
                .is_sorted_by(|a, b| (&a.0, a.1, a.2) < (&b.0, b.1, b.2)),
            "stage orders a frame's rows by topic, partition and offset"
        );
        let mut i = 0;
        let mut bytes = 0;
        while i < journal.rows.len() {
            let (topic, p) = (&journal.rows[i].0, journal.rows[i].1);
            let name = part_name(topic, p);
            let def: TableDefinition<u64, &[u8]> = TableDefinition::new(&name);
            let mut t = tx.open_table(def)?;
            while let Some((tp, pp, offset, row)) = journal.rows.get(i)
                && (tp, *pp) == (topic, p)
            {
                t.insert(*offset, &journal.frame[row.clone()])?;
                bytes += row.len();
                i += 1;
            }
        }
        if !journal.rows.is_empty() {
            tx.open_table(META)?.insert(JOURNAL_END, journal.end)?;
        }
        Ok(bytes)
    }

    /// Apply the group's offset commits, topic creations and group resets to the open
    /// transaction; returns every request's result.
    fn others(
        &mut self,
        batch: &[WriteReq],
        appends: Vec<Option<Vec<Vec<Delivered>>>>,
    ) -> std::result::Result<Vec<Done>, ApplyError> {
        let mut results = Vec::with_capacity(batch.len());
        self.tx()?;
        let (Some((tx, _)), next) = (&mut self.pending, &mut self.next) else {
            unreachable!("opened above");
        };
        for (req, delivered) in batch.iter().zip(appends) {
            match req {
                WriteReq::Append { .. } => {
                    results.push(Done::Appended(delivered.expect("assigned in stage")));
                }
                WriteReq::Flush { .. } => results.push(Done::Committed),
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
        Ok(results)
    }

    /// Commit the open transaction, durably when `durable` or a checkpoint is due, and tell
    /// readers.
    fn commit(
        &mut self,
        journal: &mut Journal,
        durable: bool,
    ) -> std::result::Result<(), ApplyError> {
        let Some((mut tx, _)) = self.pending.take() else {
            return Ok(());
        };
        let durable = durable
            || journal.unsynced_rows + self.pending_rows >= journal.checkpoint_bytes
            || journal.last_checkpoint.elapsed() >= journal.checkpoint_interval;
        if durable {
            tx.set_durability(redb::Durability::Immediate)?;
        }
        tx.commit()?;
        if durable {
            journal.unsynced_rows = 0;
            journal.last_checkpoint = Instant::now();
        } else {
            journal.unsynced_rows += self.pending_rows;
        }
        self.pending_rows = 0;
        self.appended.send_modify(|v| *v += 1);
        Ok(())
    }

    /// Commit the acknowledged rows waiting in the open transaction (durably when `durable`).
    fn publish(&mut self, journal: &mut Journal, durable: bool) {
        if let Err(e) = self.commit(journal, durable) {
            journal
                .failed
                .get_or_insert_with(|| stopped(&e.to_string()));
        }
    }

    /// redb refused a group after its frame was written: take the frame back (the group is not
    /// acknowledged) and refuse its requests. The open transaction is gone, with any
    /// acknowledged rows it held, so the log stops writing until it is reopened, which replays
    /// those rows from the journal.
    fn fail(&mut self, journal: &mut Journal, start: u64, batch: Vec<WriteReq>, why: &str) {
        self.pending = None;
        self.pending_rows = 0;
        journal.take_back(start, why);
        journal.failed.get_or_insert_with(|| stopped(why));
        refuse(batch, why);
    }
}

fn stopped(why: &str) -> String {
    format!(
        "the log stopped writing after a failed commit ({why}); reopen it (the journal replays every acknowledged record)"
    )
}

fn refuse(batch: Vec<WriteReq>, why: &str) {
    for req in batch {
        answer(req, Err(LogError::Storage(why.to_owned())));
    }
}

fn batch_records(r: &WriteReq) -> usize {
    match r {
        WriteReq::Append { parts, .. } => parts.iter().map(|p| p.records.len()).sum(),
        _ => 1,
    }
}

enum Done {
    Appended(Vec<Vec<Delivered>>),
    Committed,
    Created(Vec<String>),
}

fn answer(req: WriteReq, res: Result<Done>) {
    match (req, res) {
        (WriteReq::Append { ack, .. }, Ok(Done::Appended(d))) => {
            let _ = ack.send(Ok(d));
        }
        (
            WriteReq::Commit { ack, .. }
            | WriteReq::ResetGroup { ack, .. }
            | WriteReq::Flush { ack },
            Ok(Done::Committed),
        ) => {
            let _ = ack.send(Ok(()));
        }
        (WriteReq::CreateTopics { ack, .. }, Ok(Done::Created(c))) => {
            let _ = ack.send(Ok(c));
        }
        (WriteReq::Append { ack, .. }, Err(e)) => {
            let _ = ack.send(Err(e));
        }
        (
            WriteReq::Commit { ack, .. }
            | WriteReq::ResetGroup { ack, .. }
            | WriteReq::Flush { ack },
            Err(e),
        ) => {
            let _ = ack.send(Err(e));
        }
        (WriteReq::CreateTopics { ack, .. }, Err(e)) => {
            let _ = ack.send(Err(e));
        }
        _ => unreachable!("each request gets its own kind of result"),
    }
}

type ApplyError = Box<dyn std::error::Error + Send + Sync>;

/// Assign partitions and offsets to the group's appends in input order and build its frame;
/// returns each request's deliveries (`None` for a request that is not an append).
///
/// The frame holds the records partition by partition, in offset order, each value just before
/// its row: a consumer reading one partition then finds the values of neighbouring records side
/// by side, and one read of its [`JournalWindow`] serves many of them.
fn stage(
    journal: &mut Journal,
    next: &mut HashMap<(String, u32), u64>,
    batch: &[WriteReq],
) -> Vec<Option<Vec<Vec<Delivered>>>> {
    journal.begin();
    let mut placed: Vec<(Arc<str>, u32, u64, &Record)> = Vec::new();
    let mut appends = Vec::with_capacity(batch.len());
    for req in batch {
        let WriteReq::Append { parts, .. } = req else {
            appends.push(None);
            continue;
        };
        let mut per_part = Vec::with_capacity(parts.len());
        for Part {
            topic,
            partitions,
            records,
        } in parts
        {
            let topic_name: Arc<str> = Arc::from(topic.as_str());
            let mut delivered = Vec::with_capacity(records.len());
            for r in records.iter() {
                let p = partition_for(&r.key, *partitions);
                let slot = next.entry((topic.clone(), p)).or_insert(0);
                let offset = *slot;
                *slot += 1;
                placed.push((topic_name.clone(), p, offset, r));
                delivered.push(Delivered {
                    partition: p,
                    offset,
                });
            }
            per_part.push(delivered);
        }
        appends.push(Some(per_part));
    }
    placed.sort_unstable_by(|a, b| (&a.0, a.1, a.2).cmp(&(&b.0, b.1, b.2)));
    for (topic, p, offset, r) in placed {
        let large = (r.value.len() >= LARGE_VALUE_BYTES).then(|| journal.value(&r.value));
        journal.row(&topic, p, offset, r, large);
    }
    appends
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
        let mut d = self.send_topics(vec![(topic, records)]).await?;
        Ok(d.pop().expect("one topic"))
    }

    /// Append records to several topics in one write request: one group commit makes them all
    /// durable, and they are acknowledged together. Returns each topic's deliveries in order.
    pub async fn send_topics(
        &self,
        batches: Vec<(&TopicSpec, Arc<Vec<Record>>)>,
    ) -> Result<Vec<Vec<Delivered>>> {
        let mut parts = Vec::with_capacity(batches.len());
        for (topic, records) in batches {
            parts.push(Part {
                topic: topic.name.to_owned(),
                partitions: self.log.partitions(topic.name)?,
                records,
            });
        }
        let rx = self.log.request(|ack| WriteReq::Append { parts, ack })?;
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
    window: JournalWindow,
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
        let journal = &self.log.inner.journal;
        let limit = journal_end(&rx)?;
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
                    Some(m) => decode_record_into(
                        m,
                        (journal, &mut self.window, limit),
                        topic,
                        *p,
                        offset,
                        v.value(),
                    )?,
                    None => out.push(decode_record(
                        (journal, &mut self.window, limit),
                        topic,
                        *p,
                        offset,
                        v.value(),
                    )?),
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
