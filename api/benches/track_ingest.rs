//! Track API throughput and latency, end to end over loopback HTTP/1.1: the ingest router served
//! on 127.0.0.1 with the embedded log in a temporary directory, driven by keep-alive client
//! connections sending Segment-format `Product Viewed` calls, first one message per request
//! (`/v1/track`), then batches of 100 (`/v1/batch`). Every message has its own `messageId` and
//! browser, so nothing is de-duplicated: each is parsed, checked, normalised into a canonical
//! event, and filed durably with its raw payload before the request is answered.
//!
//! `cargo bench -p mindset --bench track_ingest`; `MINDSET_BENCH_EVENTS` (default 200,000 per
//! run), `MINDSET_BENCH_CONNECTIONS` (default 64 single, 8 and then 16 batched) and `MINDSET_BENCH_BATCH`
//! (default 100) change the load. Prints its figures and asserts no timing; each run stops
//! after `MINDSET_BENCH_SECONDS` (default 60) whatever it has done.

mod support;

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use base64::Engine;
use mindset::ingest::{Secrets, TenantSecrets, TrackSecrets};
use serde_json::{Value, json};
use support::{
    Prepared, Server, client_runtime, cpu_by_thread, cpu_per, drive, env_or, faults_between,
    machine_cpu, machine_cpu_between, percentile, process_faults,
};

const KEY: &str = "wk_bench_0123456789abcdef";

fn message(i: u64) -> Value {
    json!({
        "type": "track",
        "event": "Product Viewed",
        "messageId": format!("bench-{i}"),
        "anonymousId": format!("anon-{}", i % 50_000),
        "timestamp": "2026-01-01T00:00:00.000Z",
        "properties": {
            "product_id": format!("p-{}", i % 977),
            "name": "Red Runner",
            "price": 19.99,
            "currency": "USD",
            "category": "Shoes",
            "url": "https://shop.example.com/products/red-runner"
        },
        "context": {
            "library": {"name": "analytics-node", "version": "3.1.0"},
            "page": {"path": "/products/red-runner", "title": "Red Runner"},
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36"
        }
    })
}

/// `n` messages from `first`, `per` to a request.
fn requests(first: u64, n: usize, per: usize) -> Vec<Prepared> {
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"))
    );
    let ids: Vec<u64> = (first..first + n as u64).collect();
    ids.chunks(per)
        .map(|chunk| {
            let body = if per == 1 {
                serde_json::to_vec(&message(chunk[0]))
            } else {
                let batch: Vec<Value> = chunk.iter().map(|&i| message(i)).collect();
                serde_json::to_vec(&json!({ "batch": batch, "sentAt": "2026-01-01T00:00:01.000Z" }))
            }
            .expect("serialises");
            Prepared {
                path: if per == 1 { "/v1/track" } else { "/v1/batch" }.to_owned(),
                headers: vec![
                    ("authorization", auth.clone()),
                    ("content-type", "application/json".into()),
                ],
                body: body.into(),
                ok_contains: b"\"success\":true",
            }
        })
        .collect()
}

fn run(label: &str, per: usize, events: usize, connections: usize, seconds: u64) -> Result<()> {
    let mut server = Server::start(Secrets::new().with_tenant(
        "bench",
        TenantSecrets {
            currency: Some("USD".into()),
            track: Some(TrackSecrets {
                write_keys: vec![KEY.into()],
                origins: vec![],
            }),
            ..TenantSecrets::default()
        },
    ))?;
    let warm = requests(1_000_000_000, (connections * 20 * per).min(events), per);
    let work = requests(2_000_000_000, events, per);
    let body_bytes = work.first().map_or(0, |r| r.body.len());
    let client_rt = client_runtime()?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (warm_seen, _) = client_rt.block_on(drive(server.addr, warm, connections, deadline))?;
    if let Some(f) = warm_seen.failures.first() {
        bail!("warm-up request refused: {f}");
    }
    let cpu_before = cpu_by_thread();
    let machine_before = machine_cpu();
    let faults_before = process_faults();
    let (mut seen, wall) = client_rt.block_on(drive(server.addr, work, connections, deadline))?;
    let faults = faults_between(faults_before, process_faults());
    let machine = machine_cpu_between(machine_before, machine_cpu());
    let cpu_after = cpu_by_thread();
    server.stop();
    let done = seen.latencies_us.len();
    let messages = done * per;
    let filed = server.records(&mindset_topics::CUSTOMER_EVENTS.spec)?;
    let raw = server.records(&mindset_topics::RAW_PAYLOADS.spec)?;
    seen.latencies_us.sort_unstable();
    let l = &seen.latencies_us;
    println!(
        "track_ingest {label}: {done} requests of {per} Product Viewed ({body_bytes} B bodies) over {connections} keep-alive connections, embedded log, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "  {:>9} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "events/s", "requests/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "refused"
    );
    println!(
        "  {:>9.0} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8}",
        messages as f64 / wall.as_secs_f64(),
        done as f64 / wall.as_secs_f64(),
        percentile(l, 0.50),
        percentile(l, 0.90),
        percentile(l, 0.99),
        percentile(l, 1.0),
        seen.failures.len()
    );
    println!(
        "  on the log: {filed} customer events and {raw} raw payloads (warm-up included); {:.1} s wall",
        wall.as_secs_f64()
    );
    let cpu = cpu_per(&cpu_before, &cpu_after, messages);
    if !cpu.is_empty() {
        println!("  CPU per event by thread: {}", cpu.join(", "));
    }
    if let Some(f) = faults {
        println!(
            "  page faults meanwhile (this process): {f}, {:.4} per event",
            f as f64 / messages.max(1) as f64
        );
    }
    if let Some(m) = machine {
        println!("  the machine meanwhile: {m}");
    }
    if let Some(f) = seen.failures.first() {
        println!("  first refusal: {f}");
    }
    if messages < events {
        println!("  stopped at the {seconds} s limit after {messages} of {events} events");
    }
    Ok(())
}

fn main() -> Result<()> {
    let events = env_or("MINDSET_BENCH_EVENTS", 200_000);
    let seconds = env_or("MINDSET_BENCH_SECONDS", 60) as u64;
    let batch = env_or("MINDSET_BENCH_BATCH", 100).max(2);
    let single_conns = env_or("MINDSET_BENCH_CONNECTIONS", 64).max(1);
    run("single", 1, events / 4, single_conns, seconds)?;
    // Batched at two loads: with more requests in flight the log's writer thread commits more per
    // fsync (group commit), at the price of latency.
    for conns in [8, 16] {
        let conns = env_or("MINDSET_BENCH_CONNECTIONS", conns).max(1);
        run("batched", batch, events, conns, seconds)?;
    }
    Ok(())
}
