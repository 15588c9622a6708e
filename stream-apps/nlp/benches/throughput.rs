//! Inference throughput (texts/s) of the sentiment models at batch 1 and 32, on 1 and 2 libtorch
//! threads, over real sentences (a mix of the four domains of the held-out split, 17 words on average).
//!
//! ```text
//! eval "$(infra/fetch-libtorch.sh)"; eval "$(infra/fetch-nlp.sh)"
//! cargo bench -p mindset-nlp --bench throughput
//! ```
//!
//! Models: the fine-tuned MiniLM (`mindset models prepare`; skipped when not prepared), and a
//! DistilBERT-SST-2-shaped model (66M parameters, the bert-base-uncased vocabulary) with random weights
//! written to a temporary folder, since no registry carries the real weights; speed does not depend on
//! the weights' values.
//!
//! Columns: batch 1; batch 32 (calls of 32 texts in arrival order, so each call pads to its longest
//! text); and 256 per call, which the models sort by length and run as batches of 32 of similar
//! length (what the batching thread gets when `max_batch` is raised). Each figure is the best of three
//! runs, alternating, because these machines are shared and swing from run to run.

use std::time::Instant;

use mindset_nlp::{
    core::Analyzer,
    data,
    distilbert::{self, DistilBertSentiment, Shape},
    encoder::{self, VOCAB_FILE},
    sentiment::{self, Sentiment},
};

const BATCH_1_TEXTS: usize = 64;
const BATCH_32_TEXTS: usize = 256;

const RUNS: usize = 3;

fn measure(model: &dyn Analyzer, texts: &[&str], batch: usize) -> f64 {
    let started = Instant::now();
    for chunk in texts.chunks(batch) {
        model.sentiment(chunk).expect("scoring");
    }
    texts.len() as f64 / started.elapsed().as_secs_f64()
}

fn main() -> anyhow::Result<()> {
    let dataset = data::load(&data::default_dir())?;
    // Every 15th held-out sentence: a fixed mix of the four domains.
    let texts: Vec<&str> = dataset
        .test
        .iter()
        .step_by(15)
        .map(|e| e.text.as_str())
        .take(BATCH_32_TEXTS)
        .collect();
    anyhow::ensure!(texts.len() == BATCH_32_TEXTS, "too few held-out sentences");
    let words: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
    println!(
        "{} texts, {:.1} words on average",
        texts.len(),
        words as f64 / texts.len() as f64
    );

    let mut models: Vec<(&str, Box<dyn Analyzer>)> = Vec::new();
    match Sentiment::load(&sentiment::default_dir()) {
        Ok(m) => models.push(("MiniLM-L6 fine-tuned (22.7M)", Box::new(m))),
        Err(e) => println!("skipping the fine-tuned MiniLM: {e}"),
    }
    let tmp = tempfile::tempdir()?;
    let vocab = encoder::default_base_dir().join(VOCAB_FILE);
    distilbert::write_random(tmp.path(), Shape::SST2, &vocab, 0)?;
    models.push((
        "DistilBERT-SST-2 shape (66M)",
        Box::new(DistilBertSentiment::load(tmp.path())?),
    ));

    let configs: Vec<(usize, i32)> = (0..models.len())
        .flat_map(|m| [1, 2].map(|threads| (m, threads)))
        .collect();
    let mut best = vec![[0f64; 3]; configs.len()];
    for _ in 0..RUNS {
        for (c, &(m, threads)) in configs.iter().enumerate() {
            tch::set_num_threads(threads);
            let model = models[m].1.as_ref();
            model.sentiment(&texts[..32]).expect("warm-up");
            let runs = [
                measure(model, &texts[..BATCH_1_TEXTS], 1),
                measure(model, &texts, 32),
                measure(model, &texts, 256),
            ];
            for (b, r) in best[c].iter_mut().zip(runs) {
                *b = b.max(r);
            }
        }
    }
    println!(
        "\ntexts/s, best of {RUNS}\n{:<30} {:>8} {:>8} {:>9} {:>15}",
        "model", "threads", "batch 1", "batch 32", "256 by length"
    );
    for (c, &(m, threads)) in configs.iter().enumerate() {
        let [one, many, sorted] = best[c];
        println!(
            "{:<30} {threads:>8} {one:>8.0} {many:>9.0} {sorted:>15.0}",
            models[m].0
        );
    }
    Ok(())
}
