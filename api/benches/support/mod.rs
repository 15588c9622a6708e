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
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

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
async fn connection(
    addr: SocketAddr,
    work: Arc<Vec<Prepared>>,
    next: Arc<AtomicUsize>,
    deadline: Instant,
) -> Result<Seen> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut seen = Seen::default();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= work.len() || Instant::now() >= deadline {
            return Ok(seen);
        }
        let p = &work[i];
        let mut req = hyper::Request::post(&p.path).header("host", "127.0.0.1");
        for (k, v) in &p.headers {
            req = req.header(*k, v);
        }
        let req = req.body(Full::new(p.body.clone()))?;
        let t = Instant::now();
        sender.ready().await?;
        let res = sender.send_request(req).await?;
        let status = res.status();
        let body = res.into_body().collect().await?.to_bytes();
        seen.latencies_us
            .push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
        if status != hyper::StatusCode::OK
            || !body
                .windows(p.ok_contains.len())
                .any(|w| w == p.ok_contains)
        {
            seen.failures
                .push(format!("{status} {}", String::from_utf8_lossy(&body)));
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

/// CPU seconds used so far by this process's threads, by thread name (Linux `/proc`; empty
/// elsewhere). Clock ticks are taken as 100 per second.
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
        let name = stat[open + 1..close].to_owned();
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

/// The ingest router served on 127.0.0.1 (a random port) on its own multi-thread runtime, as
/// `mindset serve` runs it, with an embedded log in a temporary directory.
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

    /// Serve the router `make` builds on 127.0.0.1 (a random port), on its own multi-thread
    /// runtime with threads named `thread_name`, as `mindset serve` runs it.
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
        use axum::serve::ListenerExt;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name(thread_name)
            .build()?;
        let (addr, stop) = rt.block_on(async {
            let app = make(log.clone()).await?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
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
