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
//! the weights' values. Batches hold texts in the order given (no length sorting across batches).

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

fn measure(model: &dyn Analyzer, texts: &[&str], batch: usize) -> f64 {
    // Warm-up: one batch.
    model.sentiment(&texts[..batch]).expect("warm-up");
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

    println!(
        "\n{:<30} {:>8} {:>14} {:>14}",
        "model", "threads", "batch 1", "batch 32"
    );
    for (name, model) in &models {
        for threads in [1, 2] {
            tch::set_num_threads(threads);
            let one = measure(model.as_ref(), &texts[..BATCH_1_TEXTS], 1);
            let many = measure(model.as_ref(), &texts, 32);
            println!(
                "{name:<30} {threads:>8} {:>8.0} text/s {:>8.0} text/s",
                one, many
            );
        }
    }
    Ok(())
}
