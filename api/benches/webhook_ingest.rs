//! Webhook ingest throughput and latency, end to end over loopback HTTP/1.1: the ingest router
//! served on 127.0.0.1 (a random port) with the embedded log in a temporary directory, driven by a
//! fixed number of keep-alive client connections sending signed Shopify `orders/create` webhooks.
//! Every order has its own id and customer, so nothing is deduplicated: each request is verified,
//! normalised into two events, and filed durably (raw payload + events) before it is answered.
//!
//! `cargo bench -p mindset --bench webhook_ingest`; `MINDSET_BENCH_REQUESTS` (default 40,000) and
//! `MINDSET_BENCH_CONNECTIONS` (default 64) change the load. It prints its figures and asserts no
//! timing; it stops after `MINDSET_BENCH_SECONDS` (default 120) whatever it has done.
//!
//! Beside the ingest figures it prints two references, measured in the same run: the same client
//! and bodies against an axum handler that only reads the body (the HTTP floor on these cores),
//! and verify + normalise + Avro encoding of the same bodies on one thread without HTTP or log.

mod support;

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use base64::Engine;
use hmac::{Hmac, Mac};
use mindset::ingest::{Secrets, ShopifySecrets, TenantSecrets};
use serde_json::{Value, json};
use sha2::Sha256;
use support::{
    Prepared, Server, client_runtime, cpu_by_thread, cpu_per, drive, env_or, faults_between,
    machine_cpu, machine_cpu_between, percentile, process_faults,
};

const SECRET: &str = "bench-secret";
const TENANT: &str = "bench";

/// Distinct orders (and customers) made from the shared `orders/create` sample.
fn deliveries(template: &Value, first: u64, n: usize) -> Vec<Prepared> {
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
            Prepared {
                path: format!("/webhooks/shopify/{TENANT}"),
                headers: vec![
                    ("content-type", "application/json".into()),
                    ("x-shopify-topic", "orders/create".into()),
                    ("x-shopify-hmac-sha256", hmac),
                    ("x-shopify-shop-domain", "bench.myshopify.com".into()),
                ],
                body: body.into(),
                ok_contains: b"{\"accepted\":2",
            }
        })
        .collect()
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

    let mut server = Server::start(Secrets::new().with_tenant(
        TENANT,
        TenantSecrets {
            currency: Some("USD".into()),
            shopify: Some(ShopifySecrets {
                secret: SECRET.into(),
            }),
            ..TenantSecrets::default()
        },
    ))?;
    let addr = server.addr;

    // The clients: one thread, so the server keeps the cores it can get.
    let client_rt = client_runtime()?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (warm_seen, _) = client_rt.block_on(drive(addr, warm, connections, deadline))?;
    if let Some(f) = warm_seen.failures.first() {
        bail!("warm-up request refused: {f}");
    }
    let cpu_before = cpu_by_thread();
    let machine_before = machine_cpu();
    let faults_before = process_faults();
    let (mut seen, wall) = client_rt.block_on(drive(addr, work, connections, deadline))?;
    let faults = faults_between(faults_before, process_faults());
    let machine = machine_cpu_between(machine_before, machine_cpu());
    let cpu_after = cpu_by_thread();
    server.stop();

    let done = seen.latencies_us.len();
    let filed = server.records(&mindset_topics::RAW_PAYLOADS.spec)?;
    let events = server.records(&mindset_topics::CUSTOMER_EVENTS.spec)?;
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
    let cpu = cpu_per(&cpu_before, &cpu_after, done);
    if !cpu.is_empty() {
        println!("  CPU per request by thread: {}", cpu.join(", "));
    }
    if let Some(f) = faults {
        println!(
            "  page faults meanwhile (this process): {f}, {:.3} per request",
            f as f64 / done.max(1) as f64
        );
    }
    if let Some(m) = machine {
        println!("  the machine meanwhile: {m}");
    }
    if let Some(f) = seen.failures.first() {
        println!("  first refusal: {f}");
    }
    if done < requests {
        println!("  stopped at the {seconds} s limit after {done} of {requests} requests");
    }

    // Reference 1: the HTTP floor, the same client and bodies against a handler that only reads
    // the body and answers as ingest does.
    let mut plain = Server::start_plain(axum::Router::new().route(
        "/webhooks/shopify/{tenant}",
        axum::routing::post(|body: axum::body::Bytes| async move {
            axum::Json(json!({ "accepted": 2, "bytes": body.len() }))
        }),
    ))?;
    let plain_work = deliveries(&template, 3_000_000_000, requests);
    let cpu_before = cpu_by_thread();
    let (mut plain_seen, plain_wall) = client_rt.block_on(drive(
        plain.addr,
        plain_work,
        connections,
        Instant::now() + Duration::from_secs(seconds),
    ))?;
    let cpu_after = cpu_by_thread();
    plain.stop();
    plain_seen.latencies_us.sort_unstable();
    println!(
        "  reference, HTTP alone (a handler that only reads the body): {:.0} requests/s, p99 {:.2} ms; CPU per request: {}",
        plain_seen.latencies_us.len() as f64 / plain_wall.as_secs_f64(),
        percentile(&plain_seen.latencies_us, 0.99),
        cpu_per(&cpu_before, &cpu_after, plain_seen.latencies_us.len()).join(", ")
    );

    // Reference 2: the work of one request without HTTP or log, on this thread.
    let bodies = deliveries(&template, 4_000_000_000, requests.min(10_000));
    let start = Instant::now();
    let mut encoded = 0usize;
    for p in &bodies {
        let headers: mindset_connectors::Headers = p
            .headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        mindset_connectors::shopify::verify(SECRET.as_bytes(), &headers, &p.body)?;
        let ctx = mindset_connectors::Context::new(TENANT, 0)
            .with_headers(&headers)
            .with_shop_currency("USD");
        let n = mindset_connectors::shopify::normalise("orders/create", &p.body, &ctx)?;
        encoded += n.raw.encode()?.len();
        for e in &n.events {
            encoded += e.encode()?.len();
        }
    }
    std::hint::black_box(encoded);
    println!(
        "  reference, verify + normalise + Avro encode alone (one thread, no HTTP, no log): {:.1} us per request",
        start.elapsed().as_secs_f64() * 1e6 / bodies.len() as f64
    );
    Ok(())
}
