//! Events/s through enrich on one core: the sample shop's non-text events appended to the
//! embedded log, then consumed, folded and turned into feature snapshots by the real shell
//! (`mindset run enrich --until-caught-up` does the same). Printed beside the core alone (no log,
//! no Avro) and beside a stateful aggregation of the same events with pandas groupby, in one run.
//!
//! `cargo bench -p mindset-enrich --bench enrich_throughput`. pandas comes from MINDSET_PYTHON,
//! or a venv under ~/.cache/mindset/pyenv-pandas that this bench creates with pip.

use std::{
    io::Write,
    process::Command,
    time::{Duration, Instant},
};

/// The allocator the `mindset` binary runs with (api/src/main.rs), so this measures what
/// `mindset run enrich` does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use mindset_enrich::{
    core::{Enrich, EnrichConfig},
    run,
};
use mindset_pipeline::{
    Log, embedded::EmbeddedLog, publish::publish, shell::RunOptions, shutdown::Shutdown,
};
use mindset_sample_events::{GenConfig, generate};
use mindset_schemas::{CanonicalEvent, Payload};

fn python() -> Option<String> {
    if let Ok(p) = std::env::var("MINDSET_PYTHON") {
        return Some(p);
    }
    let cache = std::env::var("MINDSET_CACHE").unwrap_or_else(|_| {
        format!(
            "{}/.cache/mindset",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let venv = format!("{cache}/pyenv-pandas");
    let py = format!("{venv}/bin/python");
    if !std::path::Path::new(&py).exists() {
        let ok = Command::new("python3")
            .args(["-m", "venv", &venv])
            .status()
            .ok()?
            .success()
            && Command::new(&py)
                .args(["-m", "pip", "install", "-q", "pandas==2.2.3"])
                .status()
                .ok()?
                .success();
        if !ok {
            return None;
        }
    }
    Some(py)
}

const PANDAS: &str = r#"
import sys, time, pandas as pd
df = pd.read_csv(sys.argv[1])
t0 = time.perf_counter()
orders = df[df.kind == "order"]
agg = df.groupby("customer").agg(events=("kind", "size"), first_seen=("ts", "min"), last_seen=("ts", "max"))
o = orders.groupby("customer").agg(orders=("order_id", "nunique"), monetary=("amount", "sum"), last_order=("ts", "max"), units=("units", "sum"))
v = df[df.kind == "view"].groupby("customer").size().rename("views")
r = df[df.kind == "refund"].groupby("customer").agg(refunded=("amount", "sum"))
out = agg.join(o).join(v).join(r).fillna(0)
out["aov"] = out.monetary / out.orders.where(out.orders > 0)
for col in ["last_order", "orders", "monetary"]:
    out[col + "_score"] = (out[col].rank(pct=True) * 5).clip(upper=4.999).astype(int) + 1
t1 = time.perf_counter()
print(len(df) / (t1 - t0), len(out))
"#;

fn main() {
    let events: Vec<CanonicalEvent> = generate(&GenConfig::standard())
        .into_iter()
        .filter(|e| e.payload.customer_text().is_none())
        .collect();
    let n = events.len();
    println!("enrich throughput: {n} non-text sample-shop events, one core");

    // The core alone.
    let mut best_core = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let mut core = Enrich::new(EnrichConfig::default());
        for e in &events {
            core.apply(e);
        }
        let customers = core.customers();
        let mut bytes = 0;
        for (t, c) in &customers {
            bytes += core.features(t, c).unwrap().monetary_minor;
        }
        std::hint::black_box(bytes);
        best_core = best_core.min(start.elapsed().as_secs_f64());
    }

    // Through the log with the real shell, on a current-thread runtime (one core for our code;
    // the embedded log's writer thread does the fsyncs). Each run starts from a fresh log; a run
    // takes about a quarter of a second, so the machine's noise shows: five runs, median and best.
    let runs: usize = std::env::var("ENRICH_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut rates = Vec::new();
    let mut stats = None;
    for _ in 0..runs.max(1) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (rate, s) = rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let log = Log::Embedded(EmbeddedLog::open(dir.path().join("log.redb")).unwrap());
            log.ensure_topics(&mindset_topics::all()).await.unwrap();
            publish(&log.producer().unwrap(), &events, 20_000)
                .await
                .unwrap();
            let opts = RunOptions {
                batch: 10_000,
                // Short: the run ends with empty polls (two or three), and their wait is not work.
                poll_timeout: Duration::from_millis(1),
                stop_when_caught_up: true,
                ..RunOptions::default()
            };
            let start = Instant::now();
            let stats = run(&log, EnrichConfig::default(), &opts, Shutdown::new())
                .await
                .unwrap();
            (stats.consumed as f64 / start.elapsed().as_secs_f64(), stats)
        });
        assert_eq!(s.consumed as usize, n);
        rates.push(rate);
        stats = Some(s);
    }
    let stats = stats.expect("one run");
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    let best = rates[rates.len() - 1];

    // pandas on the same events.
    let csv = tempfile::NamedTempFile::new().unwrap();
    {
        let mut w = std::io::BufWriter::new(csv.as_file());
        writeln!(w, "customer,kind,ts,order_id,amount,units").unwrap();
        for e in &events {
            let c = e.customer_key.as_deref().unwrap_or("");
            let (kind, order, amount, units) = match &e.payload {
                Payload::OrderPlaced(o) => (
                    "order",
                    o.order_id.as_str(),
                    o.total_minor,
                    o.lines.iter().map(|l| i64::from(l.quantity)).sum(),
                ),
                Payload::OrderRefunded(r) => ("refund", r.order_id.as_str(), r.amount_minor, 0),
                Payload::ProductViewed(_) => ("view", "", 0, 0),
                _ => ("other", "", 0, 0),
            };
            writeln!(w, "{c},{kind},{},{order},{amount},{units}", e.occurred_at).unwrap();
        }
    }
    let pandas = python().and_then(|py| {
        let out = Command::new(py)
            .args(["-c", PANDAS, csv.path().to_str().unwrap()])
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "pandas run failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        String::from_utf8(out.stdout)
            .ok()?
            .split_whitespace()
            .next()?
            .parse::<f64>()
            .ok()
    });

    println!("{:<62} {:>14}", "path", "events/s");
    println!(
        "{:<62} {:>14.0}",
        "enrich core alone (fold + one snapshot per customer, no Avro)",
        n as f64 / best_core
    );
    println!(
        "{:<62} {:>14.0}",
        format!(
            "enrich from the embedded log, median of {} ({} records produced)",
            rates.len(),
            stats.produced
        ),
        median
    );
    println!(
        "{:<62} {:>14.0}",
        "enrich from the embedded log, best run", best
    );
    match pandas {
        Some(r) => println!(
            "{:<62} {:>14.0}",
            "pandas groupby, same events (in memory, no log)", r
        ),
        None => println!(
            "{:<62} {:>14}",
            "pandas groupby: not measured (no python/pandas)", "-"
        ),
    }
}
