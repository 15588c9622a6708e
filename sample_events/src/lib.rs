//! Sample events: a seeded, fully deterministic generator of a multi-platform shop's event history
//! as [`CanonicalEvent`]s, the JSON Lines helpers that read and write it, and (next to this crate)
//! `small.jsonl`, the checked-in small set that golden and end-to-end tests run on.
//!
//! The shop sells ~300 products in eight categories and four price tiers, on Shopify, WooCommerce,
//! Amazon and Flipkart, with a first-party storefront script. Each simulated customer carries a
//! latent [`Persona`] that drives how often they visit, what they look at and buy, what they pay,
//! whether they abandon, refund, review or complain, and how they write; the persona itself is
//! never written into an event (see [`generate_with_truth`] for the ground truth).
//!
//! Same [`GenConfig`], same bytes: every random draw comes from ChaCha8 streams seeded from
//! `GenConfig::seed`, collections are iterated in index order, amounts are integers, and time comes
//! from `GenConfig::end_ms`, never the clock.

mod build;
mod calendar;
mod catalog;
mod ids;
mod people;
mod persona;
mod sim;
mod text;

use std::io::{self, BufRead, Write};

use mindset_schemas::{CanonicalEvent, Platform};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub use calendar::date_ms;
pub use persona::Persona;

/// 2026-06-30T00:00:00Z: the end of the standard and small data sets.
pub const STANDARD_END_MS: i64 = calendar::date_ms(2026, 6, 30);

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenConfig {
    pub seed: u64,
    /// Simulated people, guests included (guests never get a `CustomerUpserted`).
    pub customers: usize,
    /// Catalogue size (at least one product per category is always made).
    pub products: usize,
    /// Total events wanted; the output lands within a few events of it unless the customers'
    /// purchases and messages alone already exceed it (browsing volume is what gets tuned).
    pub target_events: usize,
    /// Length of the history, ending at `end_ms` (at least 1).
    pub months: u32,
    /// End of the history, milliseconds since the epoch; no event happens at or after it.
    pub end_ms: i64,
    pub tenant_id: String,
}

impl GenConfig {
    /// 5,000 customers, 300 products, ~100,000 events over 18 months to 2026-06-30.
    pub fn standard() -> GenConfig {
        GenConfig {
            seed: 20_260_630,
            customers: 5_000,
            products: 300,
            target_events: 100_000,
            months: 18,
            end_ms: STANDARD_END_MS,
            tenant_id: "demo-shop".to_owned(),
        }
    }

    /// 150 customers, 60 products, ~3,000 events over the same 18 months: `small.jsonl`.
    pub fn small() -> GenConfig {
        GenConfig {
            seed: 7,
            customers: 150,
            products: 60,
            target_events: 3_000,
            ..GenConfig::standard()
        }
    }
}

/// The hidden truth about one simulated customer, for evaluating segmentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerTruth {
    /// The `customer_key` on this customer's events.
    pub customer_key: String,
    pub persona: Persona,
    pub platform: Platform,
    pub currency: String,
    pub guest: bool,
}

/// Events plus the truth behind them.
#[derive(Debug, Clone)]
pub struct Generated {
    /// Sorted by `occurred_at`, ties by `event_id`.
    pub events: Vec<CanonicalEvent>,
    /// In simulation order; customers with no events are left out.
    pub customers: Vec<CustomerTruth>,
    /// The factor applied to browsing views to land on `target_events`.
    pub browse_scale: f64,
}

/// Generate the event history for `cfg`, sorted by `occurred_at` (ties by `event_id`).
pub fn generate(cfg: &GenConfig) -> Vec<CanonicalEvent> {
    build::run(cfg).events
}

/// Generate the event history and each customer's persona.
pub fn generate_with_truth(cfg: &GenConfig) -> Generated {
    build::run(cfg)
}

/// An amount in a currency's minor units, converted to US cents at the generator's fixed rates.
pub fn usd_minor(amount_minor: i64, currency: &str) -> i64 {
    people::to_usd(amount_minor, currency)
}

/// Write one JSON object per event and line.
pub fn write_jsonl(events: &[CanonicalEvent], mut w: impl Write) -> io::Result<()> {
    for ev in events {
        let line = serde_json::to_string(ev).map_err(io::Error::other)?;
        w.write_all(line.as_bytes())?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

/// Why a JSON Lines file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("line {line}: cannot read: {source}")]
    Io {
        line: usize,
        #[source]
        source: io::Error,
    },
    #[error("line {line}: not a canonical event: {source}")]
    Json {
        line: usize,
        #[source]
        source: serde_json::Error,
    },
}

/// Read events written by [`write_jsonl`]; blank lines are skipped.
pub fn read_jsonl(r: impl BufRead) -> Result<Vec<CanonicalEvent>, ReadError> {
    let mut out = Vec::new();
    for (i, line) in r.lines().enumerate() {
        let line = line.map_err(|source| ReadError::Io {
            line: i + 1,
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let ev = serde_json::from_str(&line).map_err(|source| ReadError::Json {
            line: i + 1,
            source,
        })?;
        out.push(ev);
    }
    Ok(out)
}

/// Index drawn with probability proportional to `weights` (non-positive weights are never drawn,
/// unless all are, then 0).
pub(crate) fn weighted(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().filter(|w| **w > 0.0).sum();
    if total <= 0.0 {
        return 0;
    }
    let mut r = rng.random::<f64>() * total;
    let mut last = 0;
    for (i, &w) in weights.iter().enumerate() {
        if w <= 0.0 {
            continue;
        }
        if r < w {
            return i;
        }
        r -= w;
        last = i;
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn weighted_never_draws_zero_weights() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..10_000 {
            let i = weighted(&mut rng, &[0.0, 1.0, 0.0, 2.0, 0.0]);
            assert!(i == 1 || i == 3);
        }
        assert_eq!(weighted(&mut rng, &[0.0, 0.0]), 0);
    }

    #[test]
    fn read_error_names_the_line() {
        let text = "\n{\"not\": \"an event\"}\n";
        let err = read_jsonl(text.as_bytes()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("line 2: "), "{msg}");
        assert!(msg.contains("missing field"), "{msg}");
    }
}
