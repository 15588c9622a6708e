//! `mindset models prepare` and the demo's first step: the sentiment model trained from registry
//! parts (or found in the cache), with the progress of `mindset_nlp::progress`.

use anyhow::{Context, Result};
use mindset_nlp::sentiment::{PrepareOptions, Prepared};

/// Trains or finds the sentiment model in the default folder, saying which and how well it does.
pub fn prepare() -> Result<Prepared> {
    let opts = PrepareOptions::default();
    let prepared = mindset_nlp::progress::prepare_with_bar(&opts).with_context(|| {
        format!(
            "preparing the sentiment model from {} and {} (infra/fetch-nlp.sh fetches them)",
            opts.base_dir.display(),
            opts.data_dir.display()
        )
    })?;
    let m = &prepared.manifest;
    println!(
        "Sentiment model {} {} (trained in {:.0} s on {} sentences): held-out accuracy {:.1} %, VADER lexicon {:.1} % ({} sentences).",
        if prepared.reused {
            "cached in"
        } else {
            "prepared in"
        },
        prepared.dir.display(),
        m.train_seconds,
        m.train_examples,
        100.0 * m.test_accuracy.overall(),
        100.0 * m.vader_test_accuracy.overall(),
        m.test_examples
    );
    Ok(prepared)
}
