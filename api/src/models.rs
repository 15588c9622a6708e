//! `mindset models prepare` and the demo's first step: the sentiment model trained from registry
//! parts (or found in the cache), with a progress bar on a terminal and a line every 50 steps
//! otherwise (a log file).

use std::{io::IsTerminal, time::Duration};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use mindset_nlp::sentiment::{self, PrepareOptions, Prepared, Progress};

/// Trains or finds the sentiment model in the default folder, saying which and how well it does.
pub fn prepare() -> Result<Prepared> {
    let opts = PrepareOptions::default();
    let plain = !std::io::stderr().is_terminal();
    let bar = ProgressBar::new_spinner();
    if !plain {
        bar.enable_steady_tick(Duration::from_millis(200));
    }
    bar.set_message("sentiment model: loading data and weights");
    let prepared = sentiment::prepare(&opts, &mut |p| match p {
        Progress::Loading => bar.set_message("sentiment model: loading data and weights"),
        Progress::Training { step, steps, loss } if plain => {
            if step == 1 || step % 50 == 0 || step == steps {
                eprintln!(
                    "sentiment model: training step {step}/{steps}, loss {loss:.3}, {:.0?}",
                    bar.elapsed()
                );
            }
        }
        Progress::Training { step, steps, loss } => {
            if step == 1 {
                bar.set_style(
                    ProgressStyle::with_template(
                        "sentiment model: training {bar:40} {pos}/{len} steps, {elapsed} (eta {eta}) {msg}",
                    )
                    .expect("template"),
                );
                bar.set_length(steps as u64);
            }
            bar.set_position(step as u64);
            bar.set_message(format!("loss {loss:.3}"));
        }
        Progress::Evaluating { done, total } => {
            bar.set_message(format!("sentiment model: scoring the held-out split {done}/{total}"))
        }
        Progress::Saving => bar.set_message("sentiment model: saving"),
    })
    .with_context(|| {
        format!(
            "preparing the sentiment model from {} and {} (infra/fetch-nlp.sh fetches them)",
            opts.base_dir.display(),
            opts.data_dir.display()
        )
    })?;
    bar.finish_and_clear();
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
