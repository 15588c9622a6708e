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
//! three times: in f32, bf16 and int8 (`encoder::Precision`), with how many labels bf16 and int8
//! changed and how long each took.

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
    // The same weights predict the held-out sentences in each precision (f32; bf16, what the app
    // runs on CPUs with AMX; int8, what it runs on other CPUs with AVX2).
    let texts: Vec<&str> = dataset.test.iter().map(|e| e.text.as_str()).collect();
    let labels = |p: Vec<Polarity>| p.into_iter().map(|p| p.label).collect::<Vec<Label>>();
    let started = Instant::now();
    let f32_labels = labels(model.predict(&texts)?);
    let secs = started.elapsed().as_secs_f64();
    let acc = Accuracy::score(&dataset.test, &f32_labels);
    let mut others = Vec::new();
    for precision in [Precision::Bf16, Precision::Int8] {
        let m = Sentiment::load_with(&dir, precision)?;
        let started = Instant::now();
        let predicted = labels(m.predict(&texts)?);
        let secs = started.elapsed().as_secs_f64();
        let changed = f32_labels
            .iter()
            .zip(&predicted)
            .filter(|(a, b)| a != b)
            .count();
        let score = Accuracy::score(&dataset.test, &predicted);
        others.push((precision, score, changed, secs));
    }
    let vader = Accuracy::score(&dataset.test, &labels(Lexicon::new().classify_all(&texts)));

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
        "{:<17} {:>6} {:>8} {:>8} {:>8}{probe_head} {:>8}",
        "held-out domain", "n", "model", "bf16", "int8", "VADER"
    );
    let cell = |a: &Option<Accuracy>, d: Option<Domain>| match a {
        Some(a) => format!(
            " {:>7.1}%",
            100.0 * d.map_or_else(|| a.overall(), |d| a.domain(d))
        ),
        None => String::new(),
    };
    let pct = |a: &Accuracy, d: Option<Domain>| {
        format!(
            " {:>7.1}%",
            100.0 * d.map_or_else(|| a.overall(), |d| a.domain(d))
        )
    };
    for domain in Domain::ALL.map(Some).into_iter().chain([None]) {
        let n = domain.map_or(acc.total, |d| acc.per_domain.get(&d).map_or(0, |d| d.1));
        let precisions: String = others.iter().map(|o| pct(&o.1, domain)).collect();
        println!(
            "{:<17} {n:>6}{}{precisions}{}{}",
            domain.map_or("all", |d| d.name()),
            pct(&acc, domain),
            cell(&probe, domain),
            pct(&vader, domain)
        );
    }
    let count = |a: &Accuracy, d: Domain| a.per_domain.get(&d).map_or(0, |d| d.0);
    println!("\ncorrect, of {}:", acc.total);
    println!(
        "  model f32 {}, {}, VADER {}",
        acc.correct,
        others
            .iter()
            .map(|(p, a, _, _)| format!("{} {}", p.name(), a.correct))
            .collect::<Vec<_>>()
            .join(", "),
        vader.correct
    );
    for domain in Domain::ALL {
        println!(
            "  {:<17} f32 {}, {}, VADER {} of {}",
            domain.name(),
            count(&acc, domain),
            others
                .iter()
                .map(|(p, a, _, _)| format!("{} {}", p.name(), count(a, domain)))
                .collect::<Vec<_>>()
                .join(", "),
            count(&vader, domain),
            acc.per_domain.get(&domain).map_or(0, |d| d.1)
        );
    }
    println!(
        "\nthe model scored {} texts in {secs:.1} s in f32 ({:.0} texts/s); 2 threads, batches of 32, the head's VADER features included",
        acc.total,
        acc.total as f64 / secs,
    );
    for (precision, _, changed, secs) in &others {
        println!(
            "  in {}: {secs:.1} s ({:.0} texts/s), {changed} labels differ from f32",
            precision.name(),
            acc.total as f64 / secs
        );
    }
    Ok(())
}
