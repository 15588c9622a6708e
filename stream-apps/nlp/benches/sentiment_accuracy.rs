//! Held-out sentiment accuracy, per domain and overall, of the model Mindset trains and of VADER on the
//! same sentences (the fixed test split of `mindset_nlp::data`).
//!
//! ```text
//! eval "$(infra/fetch-libtorch.sh)"; eval "$(infra/fetch-nlp.sh)"
//! cargo bench -p mindset-nlp --bench sentiment_accuracy
//! ```
//!
//! Prepares the model first when `$MINDSET_CACHE/models/sentiment-minilm-vader` does not hold it (about
//! 15 minutes on 2 cores); the accuracy is recomputed from the saved model, not read from its manifest.

use std::time::Instant;

use anyhow::Context;
use mindset_nlp::{
    data::{self, Domain},
    sentiment::{self, PrepareOptions, Progress, Sentiment},
};

fn main() -> anyhow::Result<()> {
    let opts = PrepareOptions::default();
    let dataset = data::load(&opts.data_dir).context("loading the VADER sentences")?;
    println!(
        "data: {} train, {} test sentences ({} near-neutral left out), sha256 {}",
        dataset.train.len(),
        dataset.test.len(),
        dataset.neutral,
        &dataset.digest[..16]
    );
    let mut last = 0;
    let prepared = sentiment::prepare(&opts, &mut |p| {
        if let Progress::Training { step, steps, loss } = p
            && (step - last >= 50 || step == steps)
        {
            last = step;
            eprintln!("training: step {step}/{steps}, loss {loss:.3}");
        }
    })?;
    println!(
        "model: {} ({}; trained in {:.0} s, {:?})",
        prepared.dir.display(),
        if prepared.reused {
            "cached"
        } else {
            "trained now"
        },
        prepared.manifest.train_seconds,
        prepared.manifest.config
    );
    tch::set_num_threads(2);
    let model = Sentiment::load(&prepared.dir)?;
    let started = Instant::now();
    let (acc, vader) = sentiment::evaluate(&model, &dataset)?;
    let secs = started.elapsed().as_secs_f64();
    println!();
    println!(
        "{:<17} {:>6} {:>8} {:>8}",
        "held-out domain", "n", "model", "VADER"
    );
    for domain in Domain::ALL {
        let n = acc.per_domain.get(&domain).map_or(0, |d| d.1);
        println!(
            "{:<17} {:>6} {:>7.1}% {:>7.1}%",
            domain.name(),
            n,
            100.0 * acc.domain(domain),
            100.0 * vader.domain(domain)
        );
    }
    println!(
        "{:<17} {:>6} {:>7.1}% {:>7.1}%",
        "all",
        acc.total,
        100.0 * acc.overall(),
        100.0 * vader.overall()
    );
    println!(
        "\nscored {} texts in {secs:.1} s ({:.0} texts/s, 2 threads, batches of 32)",
        acc.total,
        acc.total as f64 / secs
    );
    Ok(())
}
