//! The conformance suite on the embedded log, plus what only it can show here: a `kill -9`
//! neither loses an acknowledged record or commit, nor redelivers a committed one.

mod conformance;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use mindset_pipeline::{
    Log, Message, Record,
    embedded::{EmbeddedLog, EmbeddedOptions, LARGE_VALUE_BYTES, journal_path},
};

/// A log whose redb commits durably only for offsets, topics and resets (no timed
/// checkpoints), so that what a crash leaves to replay is known.
fn without_checkpoints(path: &std::path::Path) -> EmbeddedLog {
    EmbeddedLog::open_with(
        path,
        EmbeddedOptions {
            checkpoint_interval: Duration::from_secs(3600),
            checkpoint_bytes: usize::MAX,
            ..EmbeddedOptions::default()
        },
    )
    .unwrap()
}

fn fresh() -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::Embedded(EmbeddedLog::open(dir.path().join("log.redb")).unwrap());
    (dir, log)
}

fn events() -> u64 {
    std::env::var("MINDSET_CONFORMANCE_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_order_per_key_1m() {
    let (_d, log) = fresh();
    conformance::in_order_per_key(log, events()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_batch_resumes() {
    let (_d, log) = fresh();
    conformance::killed_mid_batch_resumes(log).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_members_share_partitions() {
    let (_d, log) = fresh();
    conformance::group_members_share_partitions(log).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_batches_keep_order_and_commit() {
    let (_d, log) = fresh();
    conformance::pipelined_batches_keep_order_and_commit(log).await;
}

#[tokio::test(flavor = "current_thread")]
async fn pipelined_batches_keep_order_and_commit_on_one_thread() {
    let (_d, log) = fresh();
    conformance::pipelined_batches_keep_order_and_commit(log).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_into_one_vector_returns_each_record_whole() {
    let (_d, log) = fresh();
    conformance::poll_into_one_vector_returns_each_record_whole(log).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_counts_every_record_before_the_first_poll() {
    let (_d, log) = fresh();
    conformance::lag_counts_every_record_before_the_first_poll(log).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_topics_delivers_each_topic_in_order() {
    let (_d, log) = fresh();
    conformance::send_topics_delivers_each_topic_in_order(log).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committer_commits_positions() {
    let (_d, log) = fresh();
    conformance::committer_commits_positions(log).await;
}

/// A member's committer refuses positions of a partition the group gave to another member since.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committer_refuses_a_partition_reassigned() {
    let (_d, log) = fresh();
    let t = conformance::topic("reassigned", 2);
    log.ensure_topics(&[t]).await.unwrap();
    conformance::produce_sequenced(&log, t, 40, 4, 40).await;
    let mut a = log.consumer("reassigned", &[t]).unwrap();
    let mut seen = Vec::new();
    while seen.len() < 40 {
        seen.extend(a.poll(100, Duration::from_millis(500)).await.unwrap());
    }
    let committer = a.committer();
    let _b = log.consumer("reassigned", &[t]).unwrap();
    let positions = mindset_pipeline::log::positions_after(&seen);
    assert_eq!(positions.len(), 2, "a read both partitions");
    assert!(matches!(
        committer.commit(positions).await,
        Err(mindset_pipeline::LogError::Rebalanced)
    ));
    assert!(
        log.committed("reassigned", t)
            .await
            .unwrap()
            .iter()
            .all(Option::is_none),
        "nothing committed"
    );
}

/// When a batch's outputs cannot be produced, `run` fails and neither that batch nor the one
/// handled meanwhile is committed: they are read again on the next start.
#[tokio::test(flavor = "current_thread")]
async fn a_batch_not_produced_is_not_committed() {
    let (_d, log) = fresh();
    let input = conformance::topic("unproduced-in", 1);
    let output = conformance::topic("unproduced-out", 1); // never created
    log.ensure_topics(&[input, conformance::dlq_of(input)])
        .await
        .unwrap();
    conformance::produce_sequenced(&log, input, 50, 5, 50).await;
    let opts = mindset_pipeline::shell::RunOptions {
        batch: 10,
        poll_timeout: Duration::from_millis(200),
        stop_when_caught_up: true,
        ..Default::default()
    };
    let mut app = conformance::CopyOnFlush::new(input, output);
    let err = mindset_pipeline::shell::run(
        &log,
        &mut app,
        &opts,
        mindset_pipeline::shutdown::Shutdown::new(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains(output.name), "{err}");
    assert!(
        log.committed("conformance-copy", input)
            .await
            .unwrap()
            .iter()
            .all(Option::is_none),
        "nothing committed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_goes_to_dead_letter() {
    let (_d, log) = fresh();
    conformance::poison_goes_to_dead_letter(log).await;
}

#[tokio::test]
async fn unknown_topic_is_a_clear_error() {
    let (_d, log) = fresh();
    let t = conformance::topic("missing", 1);
    let err = log
        .producer()
        .unwrap()
        .send(t, Record::new("k", "v", 0))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("mindset topics apply"), "{err}");
}

/// Records whose values straddle [`LARGE_VALUE_BYTES`], with distinct bytes.
fn mixed_records(first: u64, n: u64) -> Vec<Record> {
    (first..first + n)
        .map(|i| {
            let len = match i % 4 {
                0 => LARGE_VALUE_BYTES - 1,
                1 => LARGE_VALUE_BYTES,
                2 => 20_000 + i as usize,
                _ => 40,
            };
            let value: Vec<u8> = (0..len).map(|k| (i as usize * 31 + k) as u8).collect();
            Record::new(format!("k{}", i % 13), value, i as i64).header("seq", i.to_le_bytes())
        })
        .collect()
}

async fn read_sorted(log: &Log, t: &mindset_topics::TopicSpec, n: usize) -> Vec<Message> {
    let mut got = conformance::read_all(log, t, n).await;
    got.sort_by_key(|m| m.timestamp_ms);
    got
}

fn assert_same(got: &[Message], want: &[Record]) {
    assert_eq!(got.len(), want.len());
    for (m, r) in got.iter().zip(want) {
        assert_eq!(
            (&m.key, &m.headers, m.timestamp_ms),
            (&r.key, &r.headers, r.timestamp_ms)
        );
        assert!(
            m.value == r.value,
            "value of record {} differs",
            r.timestamp_ms
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_values_survive_a_reopen_and_a_torn_journal_tail_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.redb");
    let t = conformance::topic("large", 3);
    let first = mixed_records(0, 40);
    {
        let log = Log::Embedded(EmbeddedLog::open(&path).unwrap());
        log.ensure_topics(&[t]).await.unwrap();
        let p = log.producer().unwrap();
        p.send_batch(t, first[..25].to_vec()).await.unwrap();
        p.send_batch(t, first[25..].to_vec()).await.unwrap();
    }
    let journal = journal_path(&path);
    let written = std::fs::read(&journal).unwrap();
    assert!(
        written.len() >= 10 * 20_000,
        "the large values are in the journal"
    );
    let frame_len = 12 + u32::from_le_bytes(written[4..8].try_into().unwrap()) as usize;
    // What a crash leaves behind a group it never acknowledged: the first part of a frame, or a
    // whole frame whose bytes did not all reach the disk (it fails its CRC).
    let mut damaged_copy = written[..frame_len].to_vec();
    damaged_copy[frame_len / 2] ^= 0x40;
    let mut all = first;
    for (round, tail) in [written[..frame_len / 2].to_vec(), damaged_copy]
        .into_iter()
        .enumerate()
    {
        let before = std::fs::metadata(&journal).unwrap().len();
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&journal)
                .unwrap();
            f.write_all(&tail).unwrap();
        }
        let opened = EmbeddedLog::open(&path).unwrap();
        assert_eq!(opened.recovered(), 0, "a torn frame is not replayed");
        assert_eq!(
            std::fs::metadata(&journal).unwrap().len(),
            before,
            "the tail is cut"
        );
        let log = Log::Embedded(opened);
        let more = mixed_records(40 + 20 * round as u64, 20);
        log.producer()
            .unwrap()
            .send_batch(t, more.clone())
            .await
            .unwrap();
        all.extend(more);
        assert_same(&read_sorted(&log, t, all.len()).await, &all);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_image_replays_the_groups_redb_had_not_made_durable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.redb");
    let t = conformance::topic("replay", 4);
    let log = Log::Embedded(without_checkpoints(&path));
    log.ensure_topics(&[t]).await.unwrap();
    let records = mixed_records(0, 300);
    let p = log.producer().unwrap();
    for chunk in records.chunks(30) {
        p.send_batch(t, chunk.to_vec()).await.unwrap();
    }
    // Every batch is acknowledged, so it is in the journal; the files as they are now are what a
    // `kill -9` would leave (redb's last durable commit came with the topics).
    let image = tempfile::tempdir().unwrap();
    let copy = image.path().join("log.redb");
    std::fs::copy(&path, &copy).unwrap();
    std::fs::copy(journal_path(&path), journal_path(&copy)).unwrap();
    drop(p);
    drop(log);
    let opened = EmbeddedLog::open(&copy).unwrap();
    assert_eq!(
        opened.recovered(),
        300,
        "every row after the topics came from the journal"
    );
    let log = Log::Embedded(opened);
    assert_same(&read_sorted(&log, t, records.len()).await, &records);
    // Offsets continue after the replayed rows.
    let d = log
        .producer()
        .unwrap()
        .send(t, Record::new("k1", "after", 10_000))
        .await
        .unwrap();
    let ends = log.end_offsets(t).await.unwrap();
    assert_eq!(d.offset + 1, ends[d.partition as usize]);
    assert_eq!(ends.iter().sum::<u64>(), 301);
}

/// Where the journal's frames end: the first position that does not start a frame.
fn frames_end(journal: &[u8]) -> usize {
    let mut at = 0;
    while at + 12 <= journal.len() && journal[at..at + 4] == *b"MSJ1" {
        at += 12 + u32::from_le_bytes(journal[at + 4..at + 8].try_into().unwrap()) as usize;
    }
    at
}

/// While the log is open its journal keeps zeroed space past its last frame. Frames fill that
/// space, a frame larger than what is left is appended past it, a crash image (zeros and all)
/// replays every acknowledged group, and both opening and closing cut the zeros off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_is_written_into_zeroed_space_and_the_zeros_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.redb");
    let journal = journal_path(&path);
    let t = conformance::topic("ahead", 2);
    let log = Log::Embedded(
        EmbeddedLog::open_with(
            &path,
            EmbeddedOptions {
                journal_ahead_bytes: 256 << 10,
                checkpoint_interval: Duration::from_secs(3600),
                checkpoint_bytes: usize::MAX,
                ..EmbeddedOptions::default()
            },
        )
        .unwrap(),
    );
    log.ensure_topics(&[t]).await.unwrap();
    let p = log.producer().unwrap();
    let mut records = mixed_records(0, 120);
    // One value four times the space kept ahead: its frame cannot fit in the zeros.
    records.insert(
        60,
        Record::new("huge", vec![0xA5; 1 << 20], 59).header("seq", 59u64.to_le_bytes()),
    );
    for (i, r) in records.iter_mut().enumerate() {
        r.timestamp_ms = i as i64;
    }
    for chunk in records.chunks(7) {
        p.send_batch(t, chunk.to_vec()).await.unwrap();
    }
    // The zeroing thread runs behind the writer: wait for it to get ahead of the last frame.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let (bytes, end) = loop {
        let bytes = std::fs::read(&journal).unwrap();
        let end = frames_end(&bytes);
        if bytes.len() > end || std::time::Instant::now() > deadline {
            break (bytes, end);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        end > (1 << 20) + 60 * 10_000,
        "every frame is there ({end} bytes)"
    );
    assert!(
        bytes.len() > end,
        "zeroed space follows the last frame ({} bytes, frames end at {end})",
        bytes.len()
    );
    assert!(
        bytes[end..].iter().all(|&b| b == 0),
        "past the frames: zeros"
    );
    // A crash now leaves the zeros on disk: the copy replays every group and cuts them off.
    let image = tempfile::tempdir().unwrap();
    let copy = image.path().join("log.redb");
    std::fs::copy(&path, &copy).unwrap();
    std::fs::write(journal_path(&copy), &bytes).unwrap();
    drop(p);
    drop(log);
    assert_eq!(
        std::fs::metadata(&journal).unwrap().len(),
        end as u64,
        "closing cuts the zeros off"
    );
    let opened = EmbeddedLog::open(&copy).unwrap();
    assert_eq!(opened.recovered(), records.len() as u64);
    assert_eq!(
        std::fs::metadata(journal_path(&copy)).unwrap().len(),
        end as u64,
        "opening cuts the zeros off"
    );
    let log = Log::Embedded(opened);
    assert_same(&read_sorted(&log, t, records.len()).await, &records);
    // Appends continue where the frames end, into new zeroed space.
    let more = mixed_records(200, 8);
    log.producer()
        .unwrap()
        .send_batch(t, more.clone())
        .await
        .unwrap();
    let mut all = records;
    all.extend(more);
    assert_same(&read_sorted(&log, t, all.len()).await, &all);
}

/// The journal written past the page cache (`O_DIRECT`, the default where the file system
/// allows it) holds exactly the bytes the buffered one does: every direct write rewrites the
/// start of the block it begins in, so each frame must keep the previous frame's tail intact,
/// including after a reopen (when that tail is read back from the file) and around a frame too
/// large for the zeroed space.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_and_buffered_journals_hold_the_same_bytes() {
    let t = conformance::topic("direct", 3);
    let mut first = mixed_records(0, 90);
    first.insert(
        45,
        Record::new("huge", vec![0x5A; 600 << 10], 44).header("seq", 44u64.to_le_bytes()),
    );
    let mut second = mixed_records(500, 40);
    for (i, r) in first.iter_mut().chain(second.iter_mut()).enumerate() {
        r.timestamp_ms = i as i64;
    }
    let mut journals = Vec::new();
    let mut dirs = Vec::new();
    for direct in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        let options = EmbeddedOptions {
            journal_ahead_bytes: 256 << 10,
            journal_direct: direct,
            ..EmbeddedOptions::default()
        };
        for (round, records) in [&first, &second].into_iter().enumerate() {
            let log = Log::Embedded(EmbeddedLog::open_with(&path, options.clone()).unwrap());
            log.ensure_topics(&[t]).await.unwrap();
            if round == 0 {
                assert_eq!(
                    journal_open_direct(&journal_path(&path)),
                    direct && can_open_direct(&journal_path(&path)),
                    "the journal is written directly exactly when asked and the file system allows it"
                );
            }
            let p = log.producer().unwrap();
            // Frames of every size: one record, a few, the huge one among them.
            let mut at = 0;
            for n in (1..).cycle() {
                if at >= records.len() {
                    break;
                }
                let to = (at + n).min(records.len());
                p.send_batch(t, records[at..to].to_vec()).await.unwrap();
                at = to;
            }
        }
        let log = Log::Embedded(EmbeddedLog::open_with(&path, options).unwrap());
        let mut all = first.clone();
        all.extend(second.iter().cloned());
        assert_same(&read_sorted(&log, t, all.len()).await, &all);
        drop(log);
        let bytes = std::fs::read(journal_path(&path)).unwrap();
        assert_eq!(
            frames_end(&bytes),
            bytes.len(),
            "whole frames, the zeros cut off"
        );
        journals.push(bytes);
        dirs.push(dir);
    }
    assert!(journals[0].len() > 600 << 10);
    assert!(
        journals[0] == journals[1],
        "the direct journal ({} bytes) differs from the buffered one ({} bytes)",
        journals[0].len(),
        journals[1].len()
    );
}

/// Whether the file system under `path` takes `O_DIRECT`.
fn can_open_direct(path: &std::path::Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .is_ok()
}

/// Whether this process holds `path` open with `O_DIRECT` (from `/proc/self/fdinfo`).
fn journal_open_direct(path: &std::path::Path) -> bool {
    let want = std::fs::canonicalize(path).unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|to| to == want)
                && std::fs::read_to_string(format!(
                    "/proc/self/fdinfo/{}",
                    fd.file_name().to_string_lossy()
                ))
                .ok()
                .and_then(|info| {
                    let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?;
                    i64::from_str_radix(flags.trim(), 8).ok()
                })
                .is_some_and(|flags| flags & libc::O_DIRECT as i64 != 0)
        })
}

/// A log in a fresh directory holding `records` on a new one-partition topic, closed again.
async fn closed_log(
    name: &str,
    records: Vec<Record>,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    &'static mindset_topics::TopicSpec,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.redb");
    let t = conformance::topic(name, 1);
    let log = Log::Embedded(EmbeddedLog::open(&path).unwrap());
    log.ensure_topics(&[t]).await.unwrap();
    log.producer()
        .unwrap()
        .send_batch(t, records)
        .await
        .unwrap();
    (dir, path, t)
}

/// While other producers keep the writer busy, acknowledged rows may wait up to
/// `VISIBILITY_DELAY` for their redb commit; `end_offsets` still counts every acknowledged
/// append, and a consumer reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_offsets_count_every_acknowledged_append_under_load() {
    let (_d, log) = fresh();
    let busy = conformance::topic("busy", 4);
    let probe = conformance::topic("probe", 1);
    log.ensure_topics(&[busy, probe]).await.unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..8)
        .map(|w| {
            let (p, stop) = (log.producer().unwrap(), stop.clone());
            tokio::spawn(async move {
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = Record::new(format!("w{w}-{}", i % 5), vec![7u8; 300], 1);
                    p.send(busy, r).await.unwrap();
                    i += 1;
                }
                i
            })
        })
        .collect();
    let p = log.producer().unwrap();
    for i in 0..200u64 {
        let d = p
            .send(probe, Record::new("probe", i.to_le_bytes().to_vec(), 1))
            .await
            .unwrap();
        assert_eq!(d.offset, i);
        let ends = log.end_offsets(probe).await.unwrap();
        assert_eq!(
            ends[0],
            i + 1,
            "end_offsets right after acknowledgement {i}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut sent = 0;
    for t in load {
        sent += t.await.unwrap();
    }
    assert!(sent > 200, "the load kept the writer busy ({sent} records)");
    let got = conformance::read_all(&log, probe, 200).await;
    assert_eq!(got.len(), 200);
}

/// A consumer reading right behind the producer reads each value through its journal window
/// just after that value's frame was written. A window that read past the acknowledged frames
/// (into the zeroed space ahead, or a frame not yet written) would hand out those bytes for the
/// next records, which fail their CRC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_right_behind_the_producer_reads_every_value_whole() {
    let (_dir, log) = fresh();
    let t = conformance::topic("behind", 3);
    log.ensure_topics(&[t]).await.unwrap();
    let p = log.producer().unwrap();
    let mut c = log.consumer("behind", &[t]).unwrap();
    let mut got = Vec::new();
    for i in 0..300u64 {
        let value: Vec<u8> = (0..LARGE_VALUE_BYTES as u64 * 4 + i)
            .map(|k| (i * 7 + k) as u8)
            .collect();
        let r = Record::new(format!("k{}", i % 7), value, i as i64);
        p.send_batch(t, vec![r.clone()]).await.unwrap();
        let mut idle = 0;
        let before = got.len();
        while got.len() == before && idle < 20 {
            let b = c.poll(10, Duration::from_millis(500)).await.unwrap();
            idle += usize::from(b.is_empty());
            got.extend(b);
        }
        assert_eq!(got.len(), before + 1, "record {i} read once");
        assert!(got[before].value == r.value, "value of record {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_large_value_is_reported_not_returned() {
    let (_dir, path, t) = closed_log("damaged", mixed_records(2, 1)).await;
    let journal = journal_path(&path);
    let mut bytes = std::fs::read(&journal).unwrap();
    bytes[1_000] ^= 0x01;
    std::fs::write(&journal, &bytes).unwrap();
    let log = Log::Embedded(EmbeddedLog::open(&path).unwrap());
    let mut c = log.consumer("damaged", &[t]).unwrap();
    let err = c.poll(10, Duration::from_secs(1)).await.unwrap_err();
    assert!(err.to_string().contains("fails its checksum"), "{err}");
    assert!(err.to_string().contains("@0"), "names the record: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_missing_acknowledged_bytes_is_refused_at_open() {
    let (_dir, path, _) = closed_log("short", mixed_records(2, 2)).await;
    let journal = journal_path(&path);
    let len = std::fs::metadata(&journal).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&journal)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    let err = EmbeddedLog::open(&path).err().expect("refused");
    assert!(
        err.to_string().contains("acknowledged records are missing"),
        "{err}"
    );
}

#[tokio::test]
async fn a_second_process_cannot_open_the_same_file() {
    let (d, _log) = fresh();
    let err = EmbeddedLog::open(d.path().join("log.redb"))
        .err()
        .expect("locked");
    assert!(err.to_string().contains("cannot open"), "{err}");
}

const CHILD_DIR: &str = "MINDSET_CRASH_DIR";
const CHILD_ROLE: &str = "MINDSET_CRASH_ROLE";

fn crash_topic() -> &'static mindset_topics::TopicSpec {
    Box::leak(Box::new(mindset_topics::TopicSpec {
        name: "crash.records.v1",
        partitions: 4,
        retention: mindset_topics::Retention::Forever,
        dead_letter: None,
        value_schema: None,
        doc: "crash test",
    }))
}

/// The value of crash record `seq`: its sequence number, and for every fifth record kilobytes
/// more (a value the embedded log keeps in its journal, not in redb).
fn crash_value(seq: u64) -> Vec<u8> {
    let mut v = seq.to_le_bytes().to_vec();
    if seq.is_multiple_of(5) {
        v.extend((0..3_000u64).map(|k| (seq + k) as u8));
    }
    v
}

/// The child half of the crash tests (run by `kill_9_*` through the test binary itself).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as a child process by the kill -9 tests"]
async fn crash_child() {
    use std::io::Write;
    let dir = std::env::var(CHILD_DIR).expect("child only");
    let path = std::path::Path::new(&dir).join("log.redb");
    let role = std::env::var(CHILD_ROLE).unwrap();
    let log = Log::Embedded(if role == "produce-checkpointing" {
        // A checkpoint after every commit: the kill lands in one, or between two.
        EmbeddedLog::open_with(
            &path,
            EmbeddedOptions {
                checkpoint_interval: Duration::ZERO,
                ..EmbeddedOptions::default()
            },
        )
        .unwrap()
    } else {
        without_checkpoints(&path)
    });
    let t = crash_topic();
    log.ensure_topics(&[t]).await.unwrap();
    let mut out = std::io::stdout().lock();
    match role.as_str() {
        "produce" | "produce-checkpointing" => {
            let p = log.producer().unwrap();
            let mut i: u64 = 0;
            loop {
                let recs: Vec<Record> = (0..500)
                    .map(|j| Record::new(format!("k{}", (i + j) % 97), crash_value(i + j), 0))
                    .collect();
                p.send_batch(t, recs).await.unwrap();
                i += 500;
                writeln!(out, "acked {i}").unwrap();
                out.flush().unwrap();
            }
        }
        "consume" => {
            let mut c = log.consumer("crash-group", &[t]).unwrap();
            loop {
                let batch = c.poll(300, Duration::from_secs(1)).await.unwrap();
                if batch.is_empty() {
                    continue;
                }
                // Report what this batch holds, then commit it, then report the commit.
                let ids: Vec<String> = batch
                    .iter()
                    .map(|m| format!("{}:{}", m.partition, m.offset))
                    .collect();
                writeln!(out, "read {}", ids.join(",")).unwrap();
                out.flush().unwrap();
                c.commit_messages(&batch).await.unwrap();
                writeln!(out, "committed {}", ids.join(",")).unwrap();
                out.flush().unwrap();
            }
        }
        other => panic!("unknown role {other}"),
    }
}

fn spawn_child(dir: &std::path::Path, role: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "crash_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_DIR, dir)
        .env(CHILD_ROLE, role)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Read lines until `stop` says so, then SIGKILL the child and reap it.
fn kill_after(mut child: std::process::Child, mut stop: impl FnMut(&str) -> bool) -> Vec<String> {
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let done = stop(&line);
        lines.push(line);
        if done {
            break;
        }
    }
    // SIGKILL: no destructor, no flush, no clean close.
    unsafe_kill(child.id());
    let _ = child.wait();
    lines
}

fn unsafe_kill(pid: u32) {
    let status = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_record() {
    kill_9_producer("produce", true).await;
}

/// The same with redb checkpointing after every commit, so that the kill lands in a checkpoint
/// or between two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_checkpoints_loses_no_acknowledged_record() {
    kill_9_producer("produce-checkpointing", false).await;
}

/// SIGKILL a producing child after 60,000 acknowledged records; every one of them is in the
/// log, whole and once, after reopening (`replays`: some came back from the journal).
async fn kill_9_producer(role: &str, replays: bool) {
    let dir = tempfile::tempdir().unwrap();
    let lines = kill_after(spawn_child(dir.path(), role), |l| {
        l.strip_prefix("acked ")
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
            >= 60_000
    });
    let acked: u64 = lines
        .last()
        .unwrap()
        .strip_prefix("acked ")
        .unwrap()
        .parse()
        .unwrap();

    let opened = EmbeddedLog::open(dir.path().join("log.redb")).unwrap();
    assert!(
        !replays || opened.recovered() > 0,
        "the groups after redb's last durable commit came back from the journal"
    );
    let log = Log::Embedded(opened);
    let t = crash_topic();
    let total: u64 = log.end_offsets(t).await.unwrap().iter().sum();
    assert!(
        total >= acked,
        "acknowledged {acked}, found {total} after kill -9"
    );
    // Every acknowledged sequence number is there, once.
    let msgs = conformance::read_all(&log, t, total as usize).await;
    let mut seqs: Vec<u64> = msgs
        .iter()
        .map(|m| u64::from_le_bytes(m.value[..8].try_into().unwrap()))
        .collect();
    for m in &msgs {
        let seq = u64::from_le_bytes(m.value[..8].try_into().unwrap());
        assert!(m.value == crash_value(seq), "record {seq} is whole");
    }
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len() as u64, total, "no duplicates");
    assert!(
        seqs.iter()
            .take(acked as usize)
            .enumerate()
            .all(|(i, s)| *s == i as u64)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_consumer_redelivers_only_uncommitted() {
    let dir = tempfile::tempdir().unwrap();
    // Fill the topic first (in this process, then close it).
    {
        let log = Log::Embedded(EmbeddedLog::open(dir.path().join("log.redb")).unwrap());
        let t = crash_topic();
        log.ensure_topics(&[t]).await.unwrap();
        conformance::produce_sequenced(&log, t, 20_000, 500, 5_000).await;
    }
    let mut reads = 0;
    let lines = kill_after(spawn_child(dir.path(), "consume"), |l| {
        if l.starts_with("read ") {
            reads += 1;
        }
        reads >= 20 // killed right after reading its 20th batch, before committing it
    });
    let mut committed = std::collections::BTreeSet::new();
    let mut read_only = std::collections::BTreeSet::new();
    for l in &lines {
        if let Some(ids) = l.strip_prefix("committed ") {
            committed.extend(ids.split(',').map(str::to_owned));
        }
        if let Some(ids) = l.strip_prefix("read ") {
            read_only.extend(ids.split(',').map(str::to_owned));
        }
    }
    read_only.retain(|id| !committed.contains(id));

    let log = Log::Embedded(EmbeddedLog::open(dir.path().join("log.redb")).unwrap());
    let mut c = log.consumer("crash-group", &[crash_topic()]).unwrap();
    let mut rest = std::collections::BTreeSet::new();
    loop {
        let b = c.poll(5_000, Duration::from_millis(300)).await.unwrap();
        if b.is_empty() {
            break;
        }
        for m in &b {
            assert!(rest.insert(format!("{}:{}", m.partition, m.offset)));
        }
    }
    assert!(
        committed.is_disjoint(&rest),
        "a committed record came back after kill -9"
    );
    // The last batch was read, and the kill came before or after its commit: its records come
    // back all together or not at all, and none is lost.
    let in_rest = read_only.iter().filter(|id| rest.contains(*id)).count();
    assert!(
        in_rest == 0 || in_rest == read_only.len(),
        "the uncommitted batch came back in part ({in_rest} of {})",
        read_only.len()
    );
    let mut all = committed.clone();
    all.extend(rest.iter().cloned());
    all.extend(read_only.iter().cloned());
    assert_eq!(all.len(), 20_000, "a record was lost");
    assert!(!read_only.is_empty());
}
