//! The CDNOW sample (2,357 customers who first bought from CDNOW in Q1 1997, with all their purchases
//! to June 1998) as Fader, Hardie & Lee (2005) and `lifetimes` use it: located through
//! `MINDSET_CDNOW_DIR` or `infra/fetch-cdnow.sh`, and summarised over the 39-week calibration period
//! ending 1997-09-30 with time in weeks. Shared by `tests/lifetime.rs` and `benches/lifetime_fit.rs`.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

use mindset_enrich::lifetime::{CustomerSummary, Purchase};

/// Last day of the calibration period (inclusive), as (year, month, day).
pub const CALIBRATION_END: (i64, i64, i64) = (1997, 9, 30);
pub const DAYS_PER_WEEK: f64 = 7.0;

/// The directory holding `CDNOW_sample.txt`: `$MINDSET_CDNOW_DIR`, or what `infra/fetch-cdnow.sh`
/// prints. An error says why neither worked.
pub fn data_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("MINDSET_CDNOW_DIR") {
        let dir = PathBuf::from(dir);
        return if dir.join("CDNOW_sample.txt").is_file() {
            Ok(dir)
        } else {
            Err(format!(
                "MINDSET_CDNOW_DIR={} has no CDNOW_sample.txt",
                dir.display()
            ))
        };
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/fetch-cdnow.sh");
    let output = Command::new("bash")
        .arg(&script)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed ({}) and MINDSET_CDNOW_DIR is not set: {}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let dir = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
    if dir.join("CDNOW_sample.txt").is_file() {
        Ok(dir)
    } else {
        Err(format!(
            "{} printed {:?}, which has no CDNOW_sample.txt",
            script.display(),
            stdout
        ))
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil((year, month, day): (i64, i64, i64)) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Every customer's purchases from `CDNOW_sample.txt` (columns: master id, sample id 1..=2357,
/// yyyymmdd, CDs bought, dollars), keyed by sample id, with time in weeks since 1970-01-01.
pub fn purchases(dir: &Path) -> Result<BTreeMap<u32, Vec<Purchase>>, String> {
    let path = dir.join("CDNOW_sample.txt");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut customers: BTreeMap<u32, Vec<Purchase>> = BTreeMap::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |what: &str| format!("{}:{}: {what}: {line:?}", path.display(), n + 1);
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, id, date, _, amount] = fields[..] else {
            return Err(bad("expected 5 columns"));
        };
        let id: u32 = id.parse().map_err(|_| bad("bad customer id"))?;
        let date: i64 = date.parse().map_err(|_| bad("bad date"))?;
        let amount: f64 = amount.parse().map_err(|_| bad("bad amount"))?;
        let day = days_from_civil((date / 10_000, date / 100 % 100, date % 100));
        customers.entry(id).or_default().push(Purchase {
            time: day as f64 / DAYS_PER_WEEK,
            amount,
        });
    }
    Ok(customers)
}

/// The calibration-period summary of every customer, by sample id, in weeks.
pub fn calibration_summaries(dir: &Path) -> Result<Vec<(u32, CustomerSummary)>, String> {
    let end = days_from_civil(CALIBRATION_END) as f64 / DAYS_PER_WEEK;
    let mut summaries = Vec::new();
    for (id, purchases) in purchases(dir)? {
        let summary = CustomerSummary::from_purchases(&purchases, end)
            .map_err(|e| format!("customer {id}: {e}"))?
            .ok_or_else(|| format!("customer {id} made no purchase in the calibration period"))?;
        summaries.push((id, summary));
    }
    Ok(summaries)
}
