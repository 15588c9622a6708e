//! Webhook ingest throughput and latency, end to end over loopback HTTP/1.1: the ingest router
//! served on 127.0.0.1 (a random port) with the embedded log in a temporary directory, driven by a
//! fixed number of keep-alive client connections sending signed Shopify `orders/create` webhooks.
//! Every order has its own id and customer, so nothing is deduplicated: each request is verified,
//! normalised into two events, and filed durably (raw payload + events) before it is answered.
//!
//! `cargo bench -p mindset --bench webhook_ingest`; `MINDSET_BENCH_REQUESTS` (default 40,000) and
//! `MINDSET_BENCH_CONNECTIONS` (default 64) change the load. It prints its figures and asserts no
//! timing; it stops after `MINDSET_BENCH_SECONDS` (default 120) whatever it has done.

use std::{
    net::SocketAddr,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use axum::{body::Bytes, serve::ListenerExt};
use base64::Engine;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use mindset::ingest::{IngestState, Secrets, ShopifySecrets, TenantSecrets, router};
use mindset_pipeline::{Log, embedded::EmbeddedLog};
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &str = "bench-secret";
const TENANT: &str = "bench";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One signed delivery: the body and its `X-Shopify-Hmac-Sha256`.
struct Delivery {
    body: Bytes,
    hmac: String,
}

/// Distinct orders (and customers) made from the shared `orders/create` sample.
fn deliveries(template: &Value, first: u64, n: usize) -> Vec<Delivery> {
    (0..n as u64)
        .map(|i| {
            let id = first + i;
            let mut v = template.clone();
            let email = format!("buyer{id}@example.com");
            v["id"] = json!(id);
            v["order_number"] = json!(id);
            v["email"] = json!(email);
            v["contact_email"] = json!(email);
            v["customer"]["id"] = json!(id);
            v["customer"]["email"] = json!(email);
            let body = serde_json::to_vec(&v).expect("serialises");
            let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key");
            mac.update(&body);
            let hmac =
                base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
            Delivery {
                body: body.into(),
                hmac,
            }
        })
        .collect()
}

/// What one client connection saw.
#[derive(Default)]
struct Seen {
    latencies_us: Vec<u32>,
    failures: Vec<String>,
}

/// Send deliveries (taken in turn from `next`) over one keep-alive connection until none are
/// left or `deadline` passes.
async fn connection(
    addr: SocketAddr,
    work: Arc<Vec<Delivery>>,
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
        let d = &work[i];
        let req = hyper::Request::post(format!("/webhooks/shopify/{TENANT}"))
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .header("x-shopify-topic", "orders/create")
            .header("x-shopify-hmac-sha256", &d.hmac)
            .header("x-shopify-shop-domain", "bench.myshopify.com")
            .body(Full::new(d.body.clone()))?;
        let t = Instant::now();
        sender.ready().await?;
        let res = sender.send_request(req).await?;
        let status = res.status();
        let body = res.into_body().collect().await?.to_bytes();
        seen.latencies_us
            .push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
        if status != hyper::StatusCode::OK || !body.starts_with(b"{\"accepted\":2") {
            seen.failures
                .push(format!("{status} {}", String::from_utf8_lossy(&body)));
        }
    }
}

/// Drive `work` through `connections` connections; returns the latencies and the wall time.
async fn drive(
    addr: SocketAddr,
    work: Vec<Delivery>,
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
fn cpu_by_thread() -> std::collections::BTreeMap<String, f64> {
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

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() -> Result<()> {
    let requests = env_or("MINDSET_BENCH_REQUESTS", 40_000);
    let connections = env_or("MINDSET_BENCH_CONNECTIONS", 64).max(1);
    let seconds = env_or("MINDSET_BENCH_SECONDS", 120) as u64;
    let warmup = (connections * 20).min(requests);

    let sample = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/platforms/shopify/webhooks/orders_create.json");
    let template: Value = serde_json::from_slice(
        &std::fs::read(&sample).with_context(|| format!("reading {}", sample.display()))?,
    )?;
    let warm = deliveries(&template, 1_000_000_000, warmup);
    let work = deliveries(&template, 2_000_000_000, requests);
    let body_bytes = work.first().map_or(0, |d| d.body.len());

    // The server: its own runtime, as `mindset serve` runs it.
    let dir = tempfile::tempdir()?;
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("server")
        .build()?;
    let (addr, log, stop) = server_rt.block_on(async {
        let log = Log::Embedded(EmbeddedLog::open(dir.path().join("log.redb"))?);
        log.ensure_topics(&mindset_topics::all()).await?;
        let secrets = Secrets::new().with_tenant(
            TENANT,
            TenantSecrets {
                currency: Some("USD".into()),
                shopify: Some(ShopifySecrets {
                    secret: SECRET.into(),
                }),
                ..TenantSecrets::default()
            },
        );
        let app = router(IngestState::new(log.producer()?, secrets));
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
        anyhow::Ok((addr, log, stop))
    })?;

    // The clients: one thread, so the server keeps the cores it can get.
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (warm_seen, _) = client_rt.block_on(drive(addr, warm, connections, deadline))?;
    if let Some(f) = warm_seen.failures.first() {
        bail!("warm-up request refused: {f}");
    }
    let cpu_before = cpu_by_thread();
    let (mut seen, wall) = client_rt.block_on(drive(addr, work, connections, deadline))?;
    let cpu_after = cpu_by_thread();
    let _ = stop.send(());

    let done = seen.latencies_us.len();
    let filed: u64 = server_rt.block_on(async {
        let spec = &mindset_topics::RAW_PAYLOADS.spec;
        anyhow::Ok(log.end_offsets(spec).await?.iter().sum::<u64>())
    })?;
    let events: u64 = server_rt.block_on(async {
        let spec = &mindset_topics::CUSTOMER_EVENTS.spec;
        anyhow::Ok(log.end_offsets(spec).await?.iter().sum::<u64>())
    })?;
    seen.latencies_us.sort_unstable();
    let l = &seen.latencies_us;
    println!(
        "webhook_ingest: {done} signed Shopify orders/create ({body_bytes} B bodies, 2 events each) over {connections} keep-alive connections on {addr}, embedded log, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "  {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "requests/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "refused"
    );
    println!(
        "  {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9}",
        done as f64 / wall.as_secs_f64(),
        percentile(l, 0.50),
        percentile(l, 0.90),
        percentile(l, 0.99),
        percentile(l, 0.999),
        percentile(l, 1.0),
        seen.failures.len()
    );
    println!(
        "  on the log: {filed} raw payloads (warm-up {} + measured {done}), {events} customer events; {:.1} s wall",
        warm_seen.latencies_us.len(),
        wall.as_secs_f64()
    );
    let cpu: Vec<String> = cpu_after
        .iter()
        .map(|(name, t)| (name, t - cpu_before.get(name).copied().unwrap_or(0.0)))
        .filter(|(_, t)| *t > 0.0)
        .map(|(name, t)| format!("{name} {:.0} us", t * 1e6 / done.max(1) as f64))
        .collect();
    if !cpu.is_empty() {
        println!("  CPU per request by thread: {}", cpu.join(", "));
    }
    if let Some(f) = seen.failures.first() {
        println!("  first refusal: {f}");
    }
    if done < requests {
        println!("  stopped at the {seconds} s limit after {done} of {requests} requests");
    }
    Ok(())
}
