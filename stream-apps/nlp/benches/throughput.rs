//! Inference throughput (texts/s) at batch 1 and 32, on 1 and 2 libtorch threads, over real sentences
//! (a fixed mix of the four domains of the held-out split, 17 words on average), with the same
//! all-MiniLM-L6-v2 run by Python `transformers` in the same run.
//!
//! ```text
//! eval "$(bash infra/setup.sh --nlp)"; bash infra/fetch-python-peer.sh   # the peer's venv, once
//! OMP_WAIT_POLICY=PASSIVE cargo bench -p mindset-nlp --bench throughput [-- --distilbert]
//! ```
//!
//! Rows:
//! - **encoder, Rust**: `SentenceEncoder::encode`, our BERT forward (`src/encoder.rs`) on the
//!   all-MiniLM-L6-v2 folder: tokenizing, the encoder, mean pooling, L2 normalisation.
//! - **encoder, Python**: the same folder through `transformers` 4.44.2 (`AutoModel`, "sdpa"
//!   attention) on torch 2.4.0, tokenized by its fast tokenizer, pooled the same way
//!   (`benches/python/throughput.py`, in the venv of `infra/fetch-python-peer.sh`; without it the row
//!   says how to install it). Both sides run the same libtorch 2.4.0 build.
//! - **sentiment, Rust**: `Sentiment::predict` of the prepared model (the encoder, VADER's four
//!   scores, the head); skipped when `mindset models prepare` has not run.
//! - each of these in f32, bf16 and int8 (`encoder::Precision`). The Python peer casts the model to
//!   `torch.bfloat16` (pooled in float32 like ours), or for int8 runs `quantize_dynamic` with int8
//!   weights on the same layers as ours: the query, key and value projections, the attention
//!   output and the feed-forward block's first layer. bf16 is what the app runs on CPUs with AMX,
//!   int8 on other CPUs with AVX2; the bench prints which this CPU gets.
//! - with `--distilbert`: a DistilBERT-SST-2-shaped model (66M parameters, random weights, since no
//!   registry carries the real ones; speed does not depend on the values), `src/distilbert.rs`.
//!
//! Columns: batch 1 (64 texts, one per call); batch 32 (256 texts, calls of 32 in arrival order, so
//! each call pads to its longest text); and 256 per call, which each side sorts by length and runs as
//! batches of 32 (what the batching thread gets when `max_batch` is 256). Each figure is the best of
//! three runs; the rows alternate within each run, because these machines are shared and swing from
//! run to run. The table ends with the largest difference between each pair of encoders' embeddings
//! of the first 32 texts: Rust and Python compute the same model in each precision, and bf16 moves
//! the embeddings a little (2.6e-3 at most, measured).

use std::{
    io::{BufRead, BufReader, Write},
    path::PathBuf,
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    time::Instant,
};

use anyhow::{Context, bail};
use mindset_nlp::{
    core::Analyzer,
    data,
    distilbert::{self, DistilBertSentiment, Shape},
    encoder::{self, Precision, SentenceEncoder, VOCAB_FILE},
    sentiment::{self, Sentiment},
};

const BATCH_1_TEXTS: usize = 64;
const TEXTS: usize = 256;
const MAX_LEN: usize = 128;
const RUNS: usize = 3;

/// (batch, sorted, texts) of the three columns.
const COLUMNS: [(usize, bool, usize); 3] = [
    (1, false, BATCH_1_TEXTS),
    (32, false, TEXTS),
    (256, true, TEXTS),
];

/// The Python side, one process for the whole run.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    versions: String,
}

impl Peer {
    fn python() -> PathBuf {
        mindset_nlp::cache_dir().join("pyenv-nlp-peer/bin/python")
    }

    /// `dtype`: torch's name of the precision, `float32` or `bfloat16`, or `qint8` (the same layers
    /// as [`Precision::Int8`] through `torch.ao.quantization.quantize_dynamic`).
    fn start(
        model: &std::path::Path,
        texts_json: &std::path::Path,
        dtype: &str,
    ) -> anyhow::Result<Peer> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/python/throughput.py");
        let mut child = Command::new(Self::python())
            .args([script.as_ref(), model.as_os_str(), texts_json.as_os_str()])
            .arg(MAX_LEN.to_string())
            .arg(dtype)
            .env("HF_HUB_OFFLINE", "1")
            .env("TRANSFORMERS_OFFLINE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the python peer")?;
        let stdin = child.stdin.take().context("peer stdin")?;
        let mut stdout = BufReader::new(child.stdout.take().context("peer stdout")?);
        let mut versions = String::new();
        stdout.read_line(&mut versions)?;
        if versions.is_empty() {
            bail!("the python peer exited before it was ready");
        }
        Ok(Peer {
            child,
            stdin,
            stdout,
            versions: versions.trim().to_string(),
        })
    }

    fn ask(&mut self, command: &str) -> anyhow::Result<String> {
        writeln!(self.stdin, "{command}")?;
        self.stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        if line.is_empty() {
            bail!("the python peer exited on {command:?}");
        }
        Ok(line)
    }

    fn measure(
        &mut self,
        threads: i32,
        (batch, sorted, n): (usize, bool, usize),
    ) -> anyhow::Result<f64> {
        let answer = self.ask(&format!(
            "measure {threads} {batch} {} {n}",
            u8::from(sorted)
        ))?;
        Ok(answer.trim().parse()?)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum Model {
    Encoder(Box<SentenceEncoder>),
    Python(Box<Peer>),
    Analyzer(Box<dyn Analyzer>),
}

impl Model {
    fn measure(
        &mut self,
        texts: &[&str],
        threads: i32,
        column: (usize, bool, usize),
    ) -> anyhow::Result<f64> {
        let (batch, _, n) = column;
        let texts = &texts[..n];
        tch::set_num_threads(threads);
        match self {
            Model::Python(peer) => peer.measure(threads, column),
            Model::Encoder(enc) => {
                let _warm_up = enc.encode(&texts[..32.min(n)], 32)?; // at this thread count
                let started = Instant::now();
                for chunk in texts.chunks(batch) {
                    let _embeddings = enc.encode(chunk, 32)?;
                }
                Ok(n as f64 / started.elapsed().as_secs_f64())
            }
            Model::Analyzer(model) => {
                model.sentiment(&texts[..32.min(n)])?;
                let started = Instant::now();
                for chunk in texts.chunks(batch) {
                    model.sentiment(chunk)?;
                }
                Ok(n as f64 / started.elapsed().as_secs_f64())
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let with_distilbert = std::env::args().any(|a| a == "--distilbert");
    let dataset = data::load(&data::default_dir())?;
    // Every 15th held-out sentence: a fixed mix of the four domains.
    let texts: Vec<&str> = dataset
        .test
        .iter()
        .step_by(15)
        .map(|e| e.text.as_str())
        .take(TEXTS)
        .collect();
    anyhow::ensure!(texts.len() == TEXTS, "too few held-out sentences");
    let words: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
    println!(
        "{} texts, {:.1} words on average",
        texts.len(),
        words as f64 / texts.len() as f64
    );

    let base = encoder::default_base_dir();
    let tmp = tempfile::tempdir()?;
    let texts_json = tmp.path().join("texts.json");
    std::fs::write(&texts_json, serde_json::to_string(&texts)?)?;
    println!(
        "this CPU's automatic precision: {}",
        Precision::auto().name()
    );
    let mut models: Vec<(String, Model)> = Vec::new();
    for (precision, dtype) in [
        (Precision::F32, "float32"),
        (Precision::Bf16, "bfloat16"),
        (Precision::Int8, "qint8"),
    ] {
        let p = precision.name();
        models.push((
            format!("MiniLM-L6 encoder, Rust, {p}"),
            Model::Encoder(Box::new(SentenceEncoder::load_with(
                &base, MAX_LEN, precision,
            )?)),
        ));
        if Peer::python().is_file() {
            let peer = Peer::start(&base, &texts_json, dtype)?;
            println!("python peer: {}", peer.versions);
            models.push((
                format!("MiniLM-L6 encoder, Python, {p}"),
                Model::Python(Box::new(peer)),
            ));
        } else if precision == Precision::F32 {
            println!(
                "python peer not installed: run infra/fetch-python-peer.sh (looked for {})",
                Peer::python().display()
            );
        }
    }
    for precision in [Precision::F32, Precision::Bf16, Precision::Int8] {
        match Sentiment::load_with(&sentiment::default_dir(), precision) {
            Ok(m) => models.push((
                format!("sentiment model, Rust, {}", precision.name()),
                Model::Analyzer(Box::new(m)),
            )),
            Err(e) => println!("skipping the sentiment model: {e}"),
        }
    }
    if with_distilbert {
        let vocab = base.join(VOCAB_FILE);
        distilbert::write_random(tmp.path(), Shape::SST2, &vocab, 0)?;
        models.push((
            "DistilBERT-SST-2 shape (66M), f32".into(),
            Model::Analyzer(Box::new(DistilBertSentiment::load(tmp.path())?)),
        ));
    }

    let configs: Vec<(i32, usize)> = [1, 2]
        .into_iter()
        .flat_map(|threads| (0..models.len()).map(move |m| (threads, m)))
        .collect();
    let mut best = vec![[0f64; 3]; configs.len()];
    for run in 0..RUNS {
        for (c, &(threads, m)) in configs.iter().enumerate() {
            for (col, &column) in COLUMNS.iter().enumerate() {
                let r = models[m].1.measure(&texts, threads, column)?;
                best[c][col] = best[c][col].max(r);
            }
        }
        eprintln!("run {}/{RUNS} done", run + 1);
    }
    println!(
        "\ntexts/s, best of {RUNS}\n{:<32} {:>8} {:>8} {:>9} {:>15}",
        "model", "threads", "batch 1", "batch 32", "256 by length"
    );
    for (c, &(threads, m)) in configs.iter().enumerate() {
        let [one, many, sorted] = best[c];
        println!(
            "{:<32} {threads:>8} {one:>8.0} {many:>9.0} {sorted:>15.0}",
            models[m].0
        );
    }

    // Each pair of encoders computes the same embeddings; bf16 moves them a little.
    let mut embeddings: Vec<(String, Vec<Vec<f32>>)> = Vec::new();
    for (name, model) in &mut models {
        let rows = match model {
            Model::Python(peer) => serde_json::from_str(&peer.ask("embed 32")?)?,
            Model::Encoder(ours) => {
                let e = ours.encode(&texts[..32], 32)?;
                (0..32)
                    .map(|i| Vec::<f32>::try_from(e.get(i)))
                    .collect::<Result<_, _>>()?
            }
            Model::Analyzer(_) => continue,
        };
        embeddings.push((name.clone(), rows));
    }
    println!("\nlargest difference over 32 unit-length embeddings:");
    for (i, (a, ea)) in embeddings.iter().enumerate() {
        for (b, eb) in &embeddings[i + 1..] {
            let diff = ea
                .iter()
                .flatten()
                .zip(eb.iter().flatten())
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            println!("  {a:<34} vs {b:<34} {diff:.2e}");
        }
    }
    Ok(())
}
