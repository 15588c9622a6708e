//! Trains (or finds cached) the sentiment model with a progress bar, as `mindset models prepare` does, with training options for experiments.
//!
//! ```text
//! cargo run -p mindset-nlp --example prepare -- [--epochs 2] [--lr 1e-4] [--head-lr-multiplier 20]
//!     [--no-lexicon-features] [--threads 2] [--max-len 64] [--batch 32] [--seed 5] [--out DIR]
//!     [--frozen-blocks N] [--rating-targets SCALE] [--bf16] [--lexicon-gate] [--near-neutral]
//! ```
//! Options override the defaults of `TrainConfig`; a different configuration is a different model, so
//! pass `--out` to keep the default one.

use anyhow::{Context, bail};
use mindset_nlp::sentiment::PrepareOptions;

fn main() -> anyhow::Result<()> {
    let mut opts = PrepareOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--epochs" => opts.train.epochs = value()?.parse()?,
            "--lr" => opts.train.learning_rate = value()?.parse()?,
            "--threads" => opts.train.threads = value()?.parse()?,
            "--max-len" => opts.train.max_len = value()?.parse()?,
            "--batch" => opts.train.batch_size = value()?.parse()?,
            "--seed" => opts.train.seed = value()?.parse()?,
            "--head-lr-multiplier" => opts.train.head_lr_multiplier = value()?.parse()?,
            "--no-lexicon-features" => opts.train.lexicon_features = false,
            "--frozen-blocks" => opts.train.frozen_blocks = value()?.parse()?,
            "--rating-targets" => opts.train.rating_target_scale = Some(value()?.parse()?),
            "--bf16" => opts.train.bf16_compute = true,
            "--lexicon-gate" => opts.train.lexicon_gate = true,
            "--near-neutral" => opts.train.train_near_neutral = true,
            "--out" => opts.out_dir = value()?.into(),
            other => bail!("unknown option {other}"),
        }
    }
    let prepared = mindset_nlp::progress::prepare_with_bar(&opts)?;
    let m = &prepared.manifest;
    println!(
        "{} {} (trained in {:.0} s on {} train sentences)",
        if prepared.reused {
            "cached:"
        } else {
            "prepared:"
        },
        prepared.dir.display(),
        m.train_seconds,
        m.train_examples
    );
    println!(
        "held-out accuracy: model {:.1} %, VADER {:.1} % ({} sentences)",
        100.0 * m.test_accuracy.overall(),
        100.0 * m.vader_test_accuracy.overall(),
        m.test_examples
    );
    for domain in m.test_accuracy.per_domain.keys() {
        println!(
            "  {:<16} model {:.1} %, VADER {:.1} %",
            domain.name(),
            100.0 * m.test_accuracy.domain(*domain),
            100.0 * m.vader_test_accuracy.domain(*domain)
        );
    }
    Ok(())
}
