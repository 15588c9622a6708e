//! Held-out sentiment accuracy, per domain and overall, of the model Mindset trains and of VADER on the
//! same sentences (the fixed test split of `mindset_nlp::data`).
//!
//! ```text
//! eval "$(infra/fetch-libtorch.sh)"; eval "$(infra/fetch-nlp.sh)"
//! cargo bench -p mindset-nlp --bench sentiment_accuracy [-- --probe] [--model DIR]
//! ```
//!
//! Prepares the model first when `$MINDSET_CACHE/models/sentiment-minilm-vader` does not hold it
//! (968 steps; 22.7 minutes measured on cores shared with other builds, load average 5–7). The accuracy is recomputed from the saved model, not read from its manifest. `--probe` adds a column for a logistic-regression probe on frozen MiniLM embeddings
//! (fitted here on the training split; about two more minutes). `--model DIR` scores a model folder
//! written earlier (any configuration) instead of preparing the default one. The model is scored
//! twice: in f32 and in bf16 (`encoder::Precision`), with the number of labels bf16 changed.

use std::time::Instant;

use anyhow::Context;
use mindset_nlp::{
    Label, Polarity,
    data::{self, Domain},
    encoder::{Precision, SentenceEncoder},
    lexicon::Lexicon,
    probe::Probe,
    sentiment::{self, Accuracy, PrepareOptions, Progress, Sentiment},
};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let with_probe = args.iter().any(|a| a == "--probe");
    let model_dir = args
        .iter()
        .position(|a| a == "--model")
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from);
    let opts = PrepareOptions::default();
    let dataset = data::load(&opts.data_dir).context("loading the VADER sentences")?;
    println!(
        "data: {} train, {} test sentences ({} near-neutral left out of every score, {} of them \
         in the training split and trained towards soft targets by default), sha256 {}",
        dataset.train.len(),
        dataset.test.len(),
        dataset.neutral,
        dataset.train_neutral.len(),
        &dataset.digest[..16]
    );
    let dir = match model_dir {
        Some(dir) => dir,
        None => {
            let mut last = 0;
            let prepared = sentiment::prepare(&opts, &mut |p| {
                if let Progress::Training { step, steps, loss } = p
                    && (step - last >= 50 || step == steps)
                {
                    last = step;
                    eprintln!("training: step {step}/{steps}, loss {loss:.3}");
                }
            })?;
            if !prepared.reused {
                println!("trained now");
            }
            prepared.dir
        }
    };
    tch::set_num_threads(2);
    let model = Sentiment::load_with(&dir, Precision::F32)?;
    let manifest = model.manifest().context("a saved model has a manifest")?;
    println!(
        "model: {} (trained in {:.0} s, {:?})",
        dir.display(),
        manifest.train_seconds,
        manifest.config
    );
    let max_len = manifest.config.max_len;
    // Each model predicts the held-out sentences once; the same weights run in f32 and in bf16
    // (what the app runs on CPUs with native bf16 arithmetic).
    let texts: Vec<&str> = dataset.test.iter().map(|e| e.text.as_str()).collect();
    let labels = |p: Vec<Polarity>| p.into_iter().map(|p| p.label).collect::<Vec<Label>>();
    let started = Instant::now();
    let f32_labels = labels(model.predict(&texts)?);
    let secs = started.elapsed().as_secs_f64();
    let bf16_model = Sentiment::load_with(&dir, Precision::Bf16)?;
    let started = Instant::now();
    let bf16_labels = labels(bf16_model.predict(&texts)?);
    let bf16_secs = started.elapsed().as_secs_f64();
    let acc = Accuracy::score(&dataset.test, &f32_labels);
    let bf16 = Accuracy::score(&dataset.test, &bf16_labels);
    let vader = Accuracy::score(&dataset.test, &labels(Lexicon::new().classify_all(&texts)));
    let changed = f32_labels
        .iter()
        .zip(&bf16_labels)
        .filter(|(a, b)| a != b)
        .count();

    let probe = if with_probe {
        let started = Instant::now();
        let encoder = SentenceEncoder::load_with(&opts.base_dir, max_len, Precision::F32)?;
        let texts = |xs: &[data::Example]| xs.iter().map(|e| e.text.clone()).collect::<Vec<_>>();
        let train_x = encoder.encode(&texts(&dataset.train), 64)?;
        let test_x = encoder.encode(&texts(&dataset.test), 64)?;
        let labels: Vec<Label> = dataset.train.iter().map(|e| e.label).collect();
        let probe = Probe::fit(&train_x, &labels, 1e-4, 300)?;
        let predicted = probe.predict(&test_x)?;
        eprintln!(
            "probe: encoded and fitted in {:.0} s",
            started.elapsed().as_secs_f64()
        );
        Some(Accuracy::score(&dataset.test, &predicted))
    } else {
        None
    };

    println!();
    let probe_head = if probe.is_some() { "   probe" } else { "" };
    println!(
        "{:<17} {:>6} {:>8} {:>8}{probe_head} {:>8}",
        "held-out domain", "n", "model", "bf16", "VADER"
    );
    let cell = |a: &Option<Accuracy>, d: Option<Domain>| match a {
        Some(a) => format!(
            " {:>7.1}%",
            100.0 * d.map_or_else(|| a.overall(), |d| a.domain(d))
        ),
        None => String::new(),
    };
    for domain in Domain::ALL {
        let n = acc.per_domain.get(&domain).map_or(0, |d| d.1);
        println!(
            "{:<17} {:>6} {:>7.1}% {:>7.1}%{} {:>7.1}%",
            domain.name(),
            n,
            100.0 * acc.domain(domain),
            100.0 * bf16.domain(domain),
            cell(&probe, Some(domain)),
            100.0 * vader.domain(domain)
        );
    }
    println!(
        "{:<17} {:>6} {:>7.1}% {:>7.1}%{} {:>7.1}%",
        "all",
        acc.total,
        100.0 * acc.overall(),
        100.0 * bf16.overall(),
        cell(&probe, None),
        100.0 * vader.overall()
    );
    println!(
        "\nbf16 changed the label of {changed} of {} texts",
        acc.total
    );
    println!(
        "model scored {} texts in {secs:.1} s in f32 ({:.0} texts/s), {bf16_secs:.1} s in bf16 ({:.0} texts/s) (2 threads, batches of 32, the head's VADER features included)",
        acc.total,
        acc.total as f64 / secs,
        acc.total as f64 / bf16_secs
    );
    Ok(())
}
