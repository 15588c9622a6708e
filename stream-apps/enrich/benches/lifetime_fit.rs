//! Fit time of the lifetime models on CDNOW (2,357 customers, 946 with repeat purchases), in Rust
//! and with Python `lifetimes` 0.11.3 on the same summaries in the same run.
//!
//! `cargo bench -p mindset-enrich --bench lifetime_fit` prints the median wall time of each fit,
//! the fitted parameters of both, and the speed ratio. The Python side runs in the venv that
//! `infra/fetch-cdnow.sh --python` makes. `LIFETIME_BENCH_RUNS` (default 31) and
//! `LIFETIME_BENCH_PYTHON_RUNS` (default 7) set the number of timed fits.

#[path = "../tests/cdnow/mod.rs"]
mod cdnow;

use std::{
    io::Write,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use mindset_enrich::lifetime::{BgNbd, BgNbdParams, CustomerSummary, GammaGamma, GammaGammaParams};
use serde_json::Value;

/// Times `fit` `runs` times after two warm-up calls; returns the median and the last result.
fn median_time<T>(runs: usize, mut fit: impl FnMut() -> T) -> (Duration, T) {
    for _ in 0..2 {
        std::hint::black_box(fit());
    }
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let result = std::hint::black_box(fit());
        times.push(start.elapsed());
        last = Some(result);
    }
    times.sort();
    (times[runs / 2], last.expect("at least one run"))
}

const PYTHON_BENCH: &str = r#"
import json, statistics, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np
import lifetimes
from lifetimes import BetaGeoFitter, GammaGammaFitter

runs = int(sys.argv[1])
data = np.loadtxt(sys.stdin, delimiter=",", ndmin=2)
frequency, recency, T, monetary = data[:, 0], data[:, 1], data[:, 2], data[:, 3]
repeat = frequency > 0

def bench(fit):
    fit()
    times, model = [], None
    for _ in range(runs):
        start = time.perf_counter()
        model = fit()
        times.append(time.perf_counter() - start)
    return statistics.median(times), {k: float(v) for k, v in model.params_.items()}

bg = bench(lambda: BetaGeoFitter().fit(frequency, recency, T))
gg = bench(lambda: GammaGammaFitter().fit(frequency[repeat], monetary[repeat]))
print(json.dumps({
    "bg": {"seconds": bg[0], "params": bg[1]},
    "gg": {"seconds": gg[0], "params": gg[1]},
    "versions": {"python": sys.version.split()[0], "lifetimes": lifetimes.__version__,
                 "numpy": np.__version__, "scipy": __import__("scipy").__version__,
                 "pandas": __import__("pandas").__version__},
}))
"#;

/// Runs `lifetimes` on the same summaries; returns its JSON report.
fn run_lifetimes(customers: &[CustomerSummary], runs: usize) -> Result<Value, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/fetch-cdnow.sh");
    let setup = Command::new("bash")
        .arg(&script)
        .arg("--python")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !setup.status.success() {
        return Err(format!(
            "{} --python failed ({}): {}",
            script.display(),
            setup.status,
            String::from_utf8_lossy(&setup.stderr).trim()
        ));
    }
    let python = String::from_utf8_lossy(&setup.stdout).trim().to_string();
    let mut csv = String::new();
    for c in customers {
        csv.push_str(&format!(
            "{},{:?},{:?},{:?}\n",
            c.frequency, c.recency, c.age, c.monetary_value
        ));
    }
    // OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE work around old OpenBLAS bugs on some processors and
    // slow a current numpy; lifetimes' fits are element-wise, but do not handicap it.
    let mut child = Command::new(&python)
        .args(["-c", PYTHON_BENCH, &runs.to_string()])
        .env_remove("OPENBLAS_CORETYPE")
        .env_remove("OPENBLAS_L2_SIZE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {python}: {e}"))?;
    child
        .stdin
        .take()
        .ok_or("no stdin for python")?
        .write_all(csv.as_bytes())
        .map_err(|e| format!("writing to python: {e}"))?;
    let output = child
        .wait_with_output()
        .map_err(|e| format!("python: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "the lifetimes benchmark failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("lifetimes' report: {e}"))
}

fn runs_from_env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

fn param(report: &Value, model: &str, name: &str) -> f64 {
    report[model]["params"][name].as_f64().unwrap_or(f64::NAN)
}

fn main() -> Result<(), String> {
    let dir = cdnow::data_dir()?;
    let customers: Vec<CustomerSummary> = cdnow::calibration_summaries(&dir)?
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    let runs = runs_from_env("LIFETIME_BENCH_RUNS", 31);
    let python_runs = runs_from_env("LIFETIME_BENCH_PYTHON_RUNS", 7);

    let (bg_time, bg) = median_time(runs, || BgNbd::fit(&customers));
    let bg = bg.map_err(|e| e.to_string())?;
    let (gg_time, gg) = median_time(runs, || GammaGamma::fit(&customers));
    let gg = gg.map_err(|e| e.to_string())?;
    let BgNbdParams { r, alpha, a, b } = bg.model.params();
    let GammaGammaParams { p, q, gamma } = gg.model.params();

    println!(
        "CDNOW calibration summary: {} customers ({} unique (x, t_x, T) patterns), {} with repeat purchases",
        customers.len(),
        bg.patterns,
        gg.customers
    );
    println!(
        "Rust    BG/NBD       r={r:.4} alpha={alpha:.4} a={a:.4} b={b:.4}  LL={:.2}  {} iterations  median of {runs}: {:.3} ms",
        bg.log_likelihood,
        bg.iterations,
        bg_time.as_secs_f64() * 1e3
    );
    println!(
        "Rust    Gamma-Gamma  p={p:.4} q={q:.4} gamma={gamma:.4}  {} iterations  median of {runs}: {:.3} ms",
        gg.iterations,
        gg_time.as_secs_f64() * 1e3
    );

    let report = run_lifetimes(&customers, python_runs)?;
    let py_bg = report["bg"]["seconds"].as_f64().unwrap_or(f64::NAN);
    let py_gg = report["gg"]["seconds"].as_f64().unwrap_or(f64::NAN);
    println!(
        "lifetimes BG/NBD     r={:.4} alpha={:.4} a={:.4} b={:.4}  median of {python_runs}: {:.3} ms",
        param(&report, "bg", "r"),
        param(&report, "bg", "alpha"),
        param(&report, "bg", "a"),
        param(&report, "bg", "b"),
        py_bg * 1e3
    );
    println!(
        "lifetimes Gamma-Gamma p={:.4} q={:.4} v={:.4}  median of {python_runs}: {:.3} ms",
        param(&report, "gg", "p"),
        param(&report, "gg", "q"),
        param(&report, "gg", "v"),
        py_gg * 1e3
    );
    println!("lifetimes environment: {}", report["versions"]);
    let largest_difference = [
        (r, param(&report, "bg", "r")),
        (alpha, param(&report, "bg", "alpha")),
        (a, param(&report, "bg", "a")),
        (b, param(&report, "bg", "b")),
        (p, param(&report, "gg", "p")),
        (q, param(&report, "gg", "q")),
        (gamma, param(&report, "gg", "v")),
    ]
    .iter()
    .map(|(ours, theirs)| ((ours - theirs) / theirs).abs())
    .fold(0.0, f64::max);
    println!(
        "largest relative difference between the two sets of parameters: {largest_difference:.2e}"
    );
    println!(
        "speed-up (lifetimes / Rust): BG/NBD {:.0}x, Gamma-Gamma {:.0}x, both fits {:.0}x",
        py_bg / bg_time.as_secs_f64(),
        py_gg / gg_time.as_secs_f64(),
        (py_bg + py_gg) / (bg_time + gg_time).as_secs_f64()
    );
    Ok(())
}
