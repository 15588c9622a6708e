//! What the HTTP ingest benches share: keep-alive loopback clients that replay prepared requests,
//! latency percentiles and per-thread CPU accounting.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Result;

/// The allocator `mindset serve` runs with (api/src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use axum::body::Bytes;

/// One request to send: path, headers, body, and what a successful answer's body contains.
pub struct Prepared {
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
    pub ok_contains: &'static [u8],
}

/// What the client connections saw.
#[derive(Default)]
pub struct Seen {
    pub latencies_us: Vec<u32>,
    pub failures: Vec<String>,
}

/// Send requests (taken in turn from `next`) over one keep-alive connection until none are
/// left or `deadline` passes.
///
/// The client writes HTTP/1.1 itself (the request head rendered into a reused buffer, then head
/// and body in one `writev`) and reads each answer by its `Content-Length`: it shares the two
/// cores with the server, so every microsecond it spends is one the server does not get. The
/// hyper client this replaced took 13–17 µs per request; this one takes a few.
async fn connection(
    addr: SocketAddr,
    work: Arc<Vec<Prepared>>,
    next: Arc<AtomicUsize>,
    deadline: Instant,
) -> Result<Seen> {
    use std::io::IoSlice;
    use std::io::Write as _;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut seen = Seen::default();
    let mut head = Vec::with_capacity(1024);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= work.len() || Instant::now() >= deadline {
            return Ok(seen);
        }
        let p = &work[i];
        head.clear();
        write!(head, "POST {} HTTP/1.1\r\nhost: 127.0.0.1\r\n", p.path)?;
        for (k, v) in &p.headers {
            write!(head, "{k}: {v}\r\n")?;
        }
        write!(head, "content-length: {}\r\n\r\n", p.body.len())?;
        let t = Instant::now();
        let (mut h, mut b) = (&head[..], &p.body[..]);
        while !h.is_empty() || !b.is_empty() {
            let n = stream
                .write_vectored(&[IoSlice::new(h), IoSlice::new(b)])
                .await?;
            anyhow::ensure!(n > 0, "the server closed the connection");
            let from_head = n.min(h.len());
            h = &h[from_head..];
            b = &b[n - from_head..];
        }
        let (status, body) = read_response(&mut stream, &mut buf).await?;
        seen.latencies_us
            .push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
        let body = &buf[body];
        if status != 200
            || !body
                .windows(p.ok_contains.len())
                .any(|w| w == p.ok_contains)
        {
            seen.failures
                .push(format!("{status} {}", String::from_utf8_lossy(body)));
        }
    }

    /// Read one answer into `buf`; returns its status and where its body is in `buf`.
    async fn read_response(
        stream: &mut tokio::net::TcpStream,
        buf: &mut Vec<u8>,
    ) -> Result<(u16, std::ops::Range<usize>)> {
        let mut filled = 0;
        loop {
            if filled == buf.len() {
                buf.resize(buf.len() * 2, 0);
            }
            let n = stream.read(&mut buf[filled..]).await?;
            anyhow::ensure!(n > 0, "the server closed the connection mid-answer");
            filled += n;
            let Some(end) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = std::str::from_utf8(&buf[..end])?;
            let status: u16 = head
                .get(9..12)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| anyhow::anyhow!("not an HTTP/1.1 answer: {head:?}"))?;
            let len: usize = head
                .split("\r\n")
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .ok_or_else(|| anyhow::anyhow!("an answer without Content-Length: {head:?}"))?;
            let body = end + 4..end + 4 + len;
            if buf.len() < body.end {
                buf.resize(body.end, 0);
            }
            while filled < body.end {
                let n = stream.read(&mut buf[filled..]).await?;
                anyhow::ensure!(n > 0, "the server closed the connection mid-answer");
                filled += n;
            }
            anyhow::ensure!(
                filled == body.end,
                "bytes after the answer to a single request"
            );
            return Ok((status, body));
        }
    }
}

/// Drive `work` through `connections` connections; returns what they saw and the wall time.
pub async fn drive(
    addr: SocketAddr,
    work: Vec<Prepared>,
    connections: usize,
    deadline: Instant,
) -> Result<(Seen, Duration)> {
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(connection(addr, work.clone(), next.clone(), deadline)))
        .collect();
    let mut all = Seen::default();
    for task in tasks {
        let seen = task.await??;
        all.latencies_us.extend(seen.latencies_us);
        all.failures.extend(seen.failures);
    }
    Ok((all, t.elapsed()))
}

/// CPU seconds used so far by this process's threads, by thread name, the serving threads
/// `<name>-<n>` as one (Linux `/proc`; empty elsewhere). Clock ticks are taken as 100 per second.
pub fn cpu_by_thread() -> std::collections::BTreeMap<String, f64> {
    let mut by = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return by;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        // One entry for the serving threads `<name>-<n>` together.
        let full = &stat[open + 1..close];
        let name = match full.rsplit_once('-') {
            Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
            _ => full,
        }
        .to_owned();
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
            f.iter().filter_map(|v| v.parse::<f64>().ok()).sum()
        });
        *by.entry(name).or_insert(0.0) += ticks / 100.0;
    }
    by
}

/// The `p` quantile of sorted microsecond latencies, in milliseconds.
pub fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// The machine's CPU time so far by state (user, nice, system, idle, iowait, irq, softirq, steal)
/// in clock ticks, from `/proc/stat` (`None` elsewhere).
pub fn machine_cpu() -> Option<[u64; 8]> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let mut t = [0u64; 8];
    for (slot, v) in t.iter_mut().zip(line.split_whitespace().skip(1)) {
        *slot = v.parse().ok()?;
    }
    Some(t)
}

/// How the whole machine's CPU was spent between two [`machine_cpu`] readings, in percent:
/// "busy B % (user U, system S, irq+softirq Q, steal T), iowait W, idle I" (all processes, not
/// just this one; steal is time the hypervisor gave to others while this VM wanted to run).
pub fn machine_cpu_between(before: Option<[u64; 8]>, after: Option<[u64; 8]>) -> Option<String> {
    let (b, a) = (before?, after?);
    let d: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(a, b)| a.saturating_sub(b) as f64)
        .collect();
    let total: f64 = d.iter().sum();
    if total == 0.0 {
        return None;
    }
    let pct = |x: f64| 100.0 * x / total;
    let (user, system, idle, iowait, irq) = (d[0] + d[1], d[2], d[3], d[4], d[5] + d[6]);
    Some(format!(
        "busy {:.0} % (user {:.0}, system {:.0}, irq+softirq {:.0}, steal {:.0}), iowait {:.0} %, idle {:.0} %",
        pct(user + system + irq + d[7]),
        pct(user),
        pct(system),
        pct(irq),
        pct(d[7]),
        pct(iowait),
        pct(idle)
    ))
}

/// Page faults taken so far by this process (minor and major; Linux `/proc`, `None` elsewhere).
/// On a VM that hands back memory to its host, a fault on memory not touched recently is slow.
pub fn process_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    // After the command: state, ppid, pgrp, session, tty, tpgid, flags, minflt, cminflt, majflt.
    Some(fields.get(7)?.parse::<u64>().ok()? + fields.get(9)?.parse::<u64>().ok()?)
}

/// Page faults between two [`process_faults`] readings.
pub fn faults_between(before: Option<u64>, after: Option<u64>) -> Option<u64> {
    Some(after?.saturating_sub(before?))
}

/// CPU per unit by thread between two [`cpu_by_thread`] readings, as "name N us" items.
pub fn cpu_per(
    before: &std::collections::BTreeMap<String, f64>,
    after: &std::collections::BTreeMap<String, f64>,
    units: usize,
) -> Vec<String> {
    after
        .iter()
        .map(|(name, t)| (name, t - before.get(name).copied().unwrap_or(0.0)))
        .filter(|(_, t)| *t > 0.0)
        .map(|(name, t)| format!("{name} {:.1} us", t * 1e6 / units.max(1) as f64))
        .collect()
}

/// `name` from the environment as a number, else `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The ingest router served on 127.0.0.1 (a random port) as `mindset serve` runs it, with an
/// embedded log in a temporary directory.
pub struct Server {
    pub rt: tokio::runtime::Runtime,
    pub addr: SocketAddr,
    pub log: mindset_pipeline::Log,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    pub fn start(secrets: mindset::ingest::Secrets) -> Result<Server> {
        let dir = tempfile::tempdir()?;
        let log = mindset_pipeline::Log::Embedded(mindset_pipeline::embedded::EmbeddedLog::open(
            dir.path().join("log.redb"),
        )?);
        Self::serve(dir, log, "server", move |log| async move {
            log.ensure_topics(&mindset_topics::all()).await?;
            Ok(mindset::ingest::router(mindset::ingest::IngestState::new(
                log.producer()?,
                secrets,
            )))
        })
    }

    /// `router` alone on the same kind of runtime, with a log it does not use: the HTTP floor the
    /// ingest figures stand on.
    #[allow(dead_code)] // webhook_ingest's reference; track_ingest has none
    pub fn start_plain(router: axum::Router) -> Result<Server> {
        let dir = tempfile::tempdir()?;
        let log = mindset_pipeline::Log::Embedded(mindset_pipeline::embedded::EmbeddedLog::open(
            dir.path().join("unused.redb"),
        )?);
        Self::serve(dir, log, "plain", |_| async { Ok(router) })
    }

    /// Serve the router `make` builds on 127.0.0.1 (a random port) as `mindset serve` does
    /// ([`mindset::serve::serve_on_threads`]): one serving thread per core, named
    /// `<thread_name>-<n>`, and the acceptor on a one-thread runtime of its own.
    fn serve<F, Fut>(
        dir: tempfile::TempDir,
        log: mindset_pipeline::Log,
        thread_name: &str,
        make: F,
    ) -> Result<Server>
    where
        F: FnOnce(mindset_pipeline::Log) -> Fut,
        Fut: std::future::Future<Output = Result<axum::Router>>,
    {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .thread_name(format!("{thread_name}-accept"))
            .build()?;
        let threads = mindset::serve::default_threads();
        let name = thread_name.to_owned();
        let (addr, stop) = rt.block_on(async {
            let app = make(log.clone()).await?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            tokio::spawn(async move {
                mindset::serve::serve_on_threads(listener, app, threads, &name, async {
                    let _ = stopped.await;
                })
                .await
            });
            anyhow::Ok((addr, stop))
        })?;
        Ok(Server {
            rt,
            addr,
            log,
            stop: Some(stop),
            _dir: dir,
        })
    }

    /// Records on `topic` so far.
    pub fn records(&self, topic: &mindset_topics::TopicSpec) -> Result<u64> {
        self.rt
            .block_on(async { anyhow::Ok(self.log.end_offsets(topic).await?.iter().sum::<u64>()) })
    }

    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A single-threaded client runtime, so the server keeps the cores it can get.
pub fn client_runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
