//! The sentiment model Mindset trains itself: all-MiniLM-L6-v2 fine-tuned (by default its six layers,
//! the embeddings frozen, towards soft targets from the mean human ratings), with a linear
//! head on its mean-pooled output (by default with VADER's four scores for the text beside it), on the
//! training split of the VADER human-rated sentences ([`crate::data`]). Two classes, negative and
//! positive.
//!
//! [`prepare`] trains it and saves it into a folder (`model.safetensors` with the encoder and the head,
//! the base model's `config.json` and `vocab.txt`, and `manifest.json`). The manifest's key is a hash of
//! the base weights, the data files and the training configuration; when a folder already holds a model
//! with the same key, [`prepare`] returns at once. [`Sentiment::load`] and [`Sentiment::predict`] use it.
//!
//! Training is deterministic for a given thread count: a fixed seed drives libtorch (head
//! initialisation, dropout) and the order of batches.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Instant,
};

use rand::{SeedableRng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;
use rust_bert::bert::BertConfig;
use rust_tokenizers::tokenizer::BertTokenizer;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tch::{Device, Kind, Tensor, nn, nn::Module, nn::OptimizerConfig};

use crate::{
    Label, NlpError, Polarity,
    data::{self, Dataset, Domain, Example, hex},
    encoder::{self, CONFIG_FILE, Encoder, Precision, VOCAB_FILE, WEIGHTS_FILE},
    lexicon::Lexicon,
};

pub const MANIFEST_FILE: &str = "manifest.json";
/// Bumped when a change to this file changes what training produces.
const TRAINING_CODE_VERSION: u32 = 3;
/// Texts per inference batch.
const PREDICT_BATCH: usize = 32;

/// The prepared model's folder: `$MINDSET_CACHE/models/sentiment-minilm-vader`.
pub fn default_dir() -> PathBuf {
    crate::cache_dir().join("models/sentiment-minilm-vader")
}

/// How the model is trained. The defaults are the published model's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the training split; a fraction stops part-way through the last one.
    pub epochs: f64,
    pub batch_size: usize,
    /// Peak learning rate of AdamW, reached after `warmup` of the steps, then decayed linearly to 0.
    pub learning_rate: f64,
    pub warmup: f64,
    pub weight_decay: f64,
    /// Tokens per text, `[CLS]` and `[SEP]` included; longer texts are truncated.
    pub max_len: usize,
    pub seed: u64,
    /// libtorch intra-op threads while training. Results are reproducible for a fixed count.
    pub threads: usize,
    /// The head's learning rate is the encoder's times this (the head starts from random values).
    #[serde(default = "one")]
    pub head_lr_multiplier: f64,
    /// Feed VADER's four scores (compound, pos, neu, neg) to the head beside the pooled encoding.
    #[serde(default)]
    pub lexicon_features: bool,
    /// Blocks of the encoder left untrained, from the bottom, the embeddings counting as the first
    /// (1: the embeddings; 3: the embeddings and two layers). A frozen block costs no backward pass
    /// and no optimiser update.
    #[serde(default)]
    pub frozen_blocks: usize,
    /// When set, each sentence is trained towards P(positive) = sigmoid(mean rating × this) instead
    /// of its 0/1 label, so a sentence the raters found barely positive pulls less than a glowing one.
    #[serde(default)]
    pub rating_target_scale: Option<f64>,
    /// Train with the encoder's products in bf16 (f32 master weights, f32 head and loss): mixed
    /// precision, much quicker on CPUs with native bf16 arithmetic. Left out of the serialised
    /// configuration (and so of the model's key) when off.
    #[serde(default, skip_serializing_if = "is_false")]
    pub bf16_compute: bool,
    /// With lexicon features: also feed the head the pooled encoding times VADER's compound score,
    /// so how far the head follows the lexicon can depend on the text (its domain, its style)
    /// rather than being one weight for every text. Left out of the serialised configuration
    /// (and so of the model's key) when off.
    #[serde(default, skip_serializing_if = "is_false")]
    pub lexicon_gate: bool,
    /// With `rating_target_scale`: also train on the training split's near-neutral sentences
    /// (mean rating between −0.5 and +0.5, left out of every score), towards their soft targets.
    /// Left out of the serialised configuration when off.
    #[serde(default, skip_serializing_if = "is_false")]
    pub train_near_neutral: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn one() -> f64 {
    1.0
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 2.0,
            batch_size: 32,
            learning_rate: 1e-4,
            warmup: 0.1,
            weight_decay: 0.01,
            max_len: 64,
            seed: 5,
            threads: 2,
            head_lr_multiplier: 20.0,
            lexicon_features: true,
            frozen_blocks: 1,
            rating_target_scale: Some(3.0),
            // Mixed precision where the CPU has native bf16 arithmetic (what the measured
            // default was trained with), f32 elsewhere.
            bf16_compute: Precision::native_bf16(),
            lexicon_gate: true,
            train_near_neutral: true,
        }
    }
}

/// Correct / total, overall and per domain.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    pub correct: usize,
    pub total: usize,
    pub per_domain: BTreeMap<Domain, (usize, usize)>,
}

impl Accuracy {
    /// Scores `predicted[i]` against `examples[i].label`.
    pub fn score(examples: &[Example], predicted: &[Label]) -> Accuracy {
        let mut acc = Accuracy::default();
        for (ex, &label) in examples.iter().zip(predicted) {
            let hit = usize::from(ex.label == label);
            acc.correct += hit;
            acc.total += 1;
            let entry = acc.per_domain.entry(ex.domain).or_default();
            entry.0 += hit;
            entry.1 += 1;
        }
        acc
    }

    pub fn overall(&self) -> f64 {
        ratio(self.correct, self.total)
    }

    pub fn domain(&self, domain: Domain) -> f64 {
        self.per_domain
            .get(&domain)
            .map_or(f64::NAN, |&(c, t)| ratio(c, t))
    }
}

fn ratio(c: usize, t: usize) -> f64 {
    if t == 0 {
        f64::NAN
    } else {
        c as f64 / t as f64
    }
}

/// What a prepared folder says about its model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// sha256 over the three inputs below and the training code version: equal keys, equal models.
    pub key: String,
    pub base_weights_sha256: String,
    pub data_sha256: String,
    pub config: TrainConfig,
    pub train_examples: usize,
    pub test_examples: usize,
    pub train_seconds: f64,
    /// On the held-out split, for the model and for VADER.
    pub test_accuracy: Accuracy,
    pub vader_test_accuracy: Accuracy,
}

/// What [`prepare`] reports as it goes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Progress {
    /// Hashing inputs, loading data and weights.
    Loading,
    /// `step` of `steps` optimiser steps done; `loss` is a running mean over recent steps.
    Training {
        step: usize,
        steps: usize,
        loss: f64,
    },
    /// `done` of `total` held-out texts scored.
    Evaluating {
        done: usize,
        total: usize,
    },
    Saving,
}

/// Where [`prepare`] reads and writes.
#[derive(Clone, Debug)]
pub struct PrepareOptions {
    /// all-MiniLM-L6-v2 (or any BERT folder with config.json, vocab.txt, model.safetensors).
    pub base_dir: PathBuf,
    /// The `hutto_ICWSM_2014` folder.
    pub data_dir: PathBuf,
    /// Where the trained model goes.
    pub out_dir: PathBuf,
    pub train: TrainConfig,
}

impl Default for PrepareOptions {
    fn default() -> Self {
        PrepareOptions {
            base_dir: encoder::default_base_dir(),
            data_dir: data::default_dir(),
            out_dir: default_dir(),
            train: TrainConfig::default(),
        }
    }
}

/// The result of [`prepare`].
#[derive(Debug)]
pub struct Prepared {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// True when the folder already held this model and nothing was trained.
    pub reused: bool,
}

/// Trains the sentiment model into `opts.out_dir`, or returns at once when it is already there.
pub fn prepare(
    opts: &PrepareOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Prepared, NlpError> {
    progress(Progress::Loading);
    let dataset = data::load(&opts.data_dir)?;
    let base_sha = sha256_file(&opts.base_dir.join(WEIGHTS_FILE))?;
    let key = manifest_key(&base_sha, &dataset.digest, &opts.train);
    if let Some(manifest) = read_manifest(&opts.out_dir)
        && manifest.key == key
        && opts.out_dir.join(WEIGHTS_FILE).is_file()
    {
        return Ok(Prepared {
            dir: opts.out_dir.clone(),
            manifest,
            reused: true,
        });
    }

    let started = Instant::now();
    // The labelled training sentences, and with `train_near_neutral` the near-neutral ones too.
    let training: std::borrow::Cow<[Example]> =
        if opts.train.train_near_neutral && opts.train.rating_target_scale.is_some() {
            dataset
                .train
                .iter()
                .chain(&dataset.train_neutral)
                .cloned()
                .collect::<Vec<_>>()
                .into()
        } else {
            (&dataset.train[..]).into()
        };
    let trained = train(&opts.base_dir, &training, &opts.train, progress)?;
    // Whole milliseconds: serde_json (without `float_roundtrip`) reads a long decimal back a bit
    // off, and a manifest must read back equal to what was written.
    let train_seconds = started.elapsed().as_millis() as f64 / 1000.0;

    let texts: Vec<&str> = dataset.test.iter().map(|e| e.text.as_str()).collect();
    let mut predicted = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(256) {
        predicted.extend(trained.predict(chunk)?.into_iter().map(|p| p.label));
        progress(Progress::Evaluating {
            done: predicted.len(),
            total: texts.len(),
        });
    }
    let lexicon = Lexicon::new();
    let vader: Vec<Label> = texts.iter().map(|t| lexicon.classify(t).label).collect();
    let manifest = Manifest {
        key,
        base_weights_sha256: base_sha,
        data_sha256: dataset.digest.clone(),
        config: opts.train.clone(),
        train_examples: training.len(),
        test_examples: dataset.test.len(),
        train_seconds,
        test_accuracy: Accuracy::score(&dataset.test, &predicted),
        vader_test_accuracy: Accuracy::score(&dataset.test, &vader),
    };
    progress(Progress::Saving);
    trained.save(&opts.base_dir, &opts.out_dir, &manifest)?;
    Ok(Prepared {
        dir: opts.out_dir.clone(),
        manifest,
        reused: false,
    })
}

/// Test-split accuracy of a prepared model and of VADER, recomputed from the data.
pub fn evaluate(model: &Sentiment, dataset: &Dataset) -> Result<(Accuracy, Accuracy), NlpError> {
    let texts: Vec<&str> = dataset.test.iter().map(|e| e.text.as_str()).collect();
    let predicted: Vec<Label> = model
        .predict(&texts)?
        .into_iter()
        .map(|p| p.label)
        .collect();
    let lexicon = Lexicon::new();
    let vader: Vec<Label> = texts.iter().map(|t| lexicon.classify(t).label).collect();
    Ok((
        Accuracy::score(&dataset.test, &predicted),
        Accuracy::score(&dataset.test, &vader),
    ))
}

fn manifest_key(base_sha: &str, data_sha: &str, config: &TrainConfig) -> String {
    let config = serde_json::to_string(config).expect("TrainConfig serialises");
    let mut h = Sha256::new();
    for part in [
        base_sha,
        data_sha,
        &config,
        &TRAINING_CODE_VERSION.to_string(),
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    hex(&h.finalize())
}

fn read_manifest(dir: &Path) -> Option<Manifest> {
    let body = std::fs::read_to_string(dir.join(MANIFEST_FILE)).ok()?;
    serde_json::from_str(&body).ok()
}

fn sha256_file(path: &Path) -> Result<String, NlpError> {
    let body = std::fs::read(path).map_err(|source| NlpError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(hex(&Sha256::digest(&body)))
}

/// Number of lexicon features (VADER's compound, pos, neu, neg).
const LEXICON_FEATURES: i64 = 4;

/// Encoder plus a linear head on its mean-pooled output (and, optionally, the lexicon features).
struct Net {
    encoder: Encoder,
    dropout: f64,
    head: nn::Linear,
    /// The head also takes the pooled encoding times the compound score.
    gate: bool,
}

impl Net {
    /// The encoder's variables are in optimiser group 0, the head's in group 1.
    fn new(root: &nn::Path, config: &BertConfig, train: &TrainConfig) -> Net {
        let encoder = Encoder::new(root, config);
        let gate = train.lexicon_features && train.lexicon_gate;
        let extra = match (train.lexicon_features, gate) {
            (false, _) => 0,
            (true, false) => LEXICON_FEATURES,
            (true, true) => LEXICON_FEATURES + encoder.hidden_size(),
        };
        let head = nn::linear(
            root.set_group(1) / "sentiment_head",
            encoder.hidden_size() + extra,
            2,
            Default::default(),
        );
        Net {
            encoder,
            dropout: config.hidden_dropout_prob,
            head,
            gate,
        }
    }

    /// Logits `[batch, 2]` (index 0 negative, 1 positive). `features` is `[batch, 4]` when the
    /// head takes lexicon features.
    fn forward_t(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        features: Option<&Tensor>,
        train: bool,
    ) -> Result<Tensor, NlpError> {
        let pooled = self
            .encoder
            .forward_t(ids, mask, train)?
            .dropout(self.dropout, train);
        let input = match features {
            Some(f) if self.gate => {
                let gated = &pooled * f.narrow(1, 0, 1);
                Tensor::cat(&[pooled, f.shallow_clone(), gated], 1)
            }
            Some(f) => Tensor::cat(&[pooled, f.shallow_clone()], 1),
            None => pooled,
        };
        Ok(self.head.forward(&input))
    }
}

/// A trained sentiment model, ready to predict.
pub struct Sentiment {
    vs: nn::VarStore,
    net: Net,
    tokenizer: BertTokenizer,
    max_len: usize,
    /// Present when the head takes lexicon features.
    lexicon: Option<Lexicon>,
    manifest: Option<Manifest>,
}

/// `[texts, 4]` VADER scores.
fn lexicon_features(lexicon: &Lexicon, texts: &[&str]) -> Tensor {
    let flat: Vec<f32> = texts.iter().flat_map(|t| lexicon.scores(t)).collect();
    Tensor::from_slice(&flat).view([texts.len() as i64, LEXICON_FEATURES])
}

impl Sentiment {
    /// Loads a folder written by [`prepare`], to run in the configured precision
    /// ([`Precision::configured`]).
    pub fn load(dir: &Path) -> Result<Sentiment, NlpError> {
        Sentiment::load_with(dir, Precision::configured()?)
    }

    /// Loads a folder written by [`prepare`]; the encoder runs in `precision`, the head in f32.
    pub fn load_with(dir: &Path, precision: Precision) -> Result<Sentiment, NlpError> {
        let manifest =
            read_manifest(dir).ok_or_else(|| NlpError::NotPrepared(dir.to_path_buf()))?;
        let config = encoder::read_config(dir)?;
        let mut vs = nn::VarStore::new(Device::Cpu);
        let mut net = Net::new(&vs.root(), &config, &manifest.config);
        vs.load(dir.join(WEIGHTS_FILE))
            .map_err(|e| NlpError::Model(format!("{}: {e}", dir.join(WEIGHTS_FILE).display())))?;
        vs.freeze();
        net.encoder.fuse();
        net.encoder.set_precision(precision);
        Ok(Sentiment {
            vs,
            net,
            tokenizer: encoder::load_tokenizer(dir)?,
            max_len: manifest.config.max_len,
            lexicon: manifest.config.lexicon_features.then(Lexicon::new),
            manifest: Some(manifest),
        })
    }

    /// The precision the encoder runs in.
    pub fn precision(&self) -> Precision {
        self.net.encoder.precision()
    }

    /// The manifest of a loaded model (None for a model trained in memory and not saved).
    pub fn manifest(&self) -> Option<&Manifest> {
        self.manifest.as_ref()
    }

    /// Label and score per text, in the callers' order. The score is P(positive) − P(negative).
    pub fn predict<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Polarity>, NlpError> {
        let texts: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        let ids = encoder::tokenize(&self.tokenizer, &texts, self.max_len);
        let order = encoder::by_length(&ids);
        let mut out = vec![
            Polarity {
                label: Label::Positive,
                score: 0.0
            };
            ids.len()
        ];
        for chunk in order.chunks(PREDICT_BATCH) {
            let seqs: Vec<&[i64]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
            let (t_ids, mask) = encoder::pad_batch(&seqs, self.vs.device());
            let features = self.lexicon.as_ref().map(|lex| {
                let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
                lexicon_features(lex, &batch)
            });
            let probs =
                tch::no_grad(|| self.net.forward_t(&t_ids, &mask, features.as_ref(), false))?
                    .softmax(-1, Kind::Float);
            let probs: Vec<f32> = Vec::<f32>::try_from(probs.flatten(0, -1))
                .map_err(|e| NlpError::Model(e.to_string()))?;
            for (row, &i) in chunk.iter().enumerate() {
                let (neg, pos) = (probs[2 * row], probs[2 * row + 1]);
                out[i] = Polarity {
                    label: if pos >= neg {
                        Label::Positive
                    } else {
                        Label::Negative
                    },
                    score: pos - neg,
                };
            }
        }
        Ok(out)
    }

    fn save(&self, base_dir: &Path, out_dir: &Path, manifest: &Manifest) -> Result<(), NlpError> {
        let parent = out_dir.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|source| NlpError::Write {
            path: parent.to_path_buf(),
            source,
        })?;
        let staging = parent.join(format!(
            ".{}.staging.{}",
            out_dir
                .file_name()
                .map_or("model".into(), |n| n.to_string_lossy()),
            std::process::id()
        ));
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| NlpError::Write { path, source }
        };
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).map_err(write_err(&staging))?;
        self.vs
            .save(staging.join(WEIGHTS_FILE))
            .map_err(|e| NlpError::Model(format!("saving weights: {e}")))?;
        for file in [CONFIG_FILE, VOCAB_FILE] {
            std::fs::copy(base_dir.join(file), staging.join(file))
                .map_err(write_err(&staging.join(file)))?;
        }
        let body = serde_json::to_string_pretty(manifest).expect("manifest serialises");
        std::fs::write(staging.join(MANIFEST_FILE), body)
            .map_err(write_err(&staging.join(MANIFEST_FILE)))?;
        if out_dir.exists() {
            std::fs::remove_dir_all(out_dir).map_err(write_err(out_dir))?;
        }
        std::fs::rename(&staging, out_dir).map_err(write_err(out_dir))?;
        Ok(())
    }
}

/// Fine-tunes the encoder in `base_dir` plus a new head on `examples`.
pub fn train(
    base_dir: &Path,
    examples: &[Example],
    config: &TrainConfig,
    progress: &mut dyn FnMut(Progress),
) -> Result<Sentiment, NlpError> {
    if examples.is_empty() {
        return Err(NlpError::Model("no training examples".into()));
    }
    tch::set_num_threads(config.threads.max(1) as i32);
    tch::manual_seed(config.seed as i64);
    let bert_config = encoder::read_config(base_dir)?;
    let tokenizer = encoder::load_tokenizer(base_dir)?;
    let mut vs = nn::VarStore::new(Device::Cpu);
    let mut net = Net::new(&vs.root(), &bert_config, config);
    net.encoder.freeze_lowest(config.frozen_blocks);
    if config.bf16_compute {
        net.encoder.set_compute_precision(Precision::Bf16);
    }
    let weights = base_dir.join(WEIGHTS_FILE);
    let missing = vs
        .load_partial(&weights)
        .map_err(|e| NlpError::Model(format!("{}: {e}", weights.display())))?;
    if let Some(name) = missing.iter().find(|n| !n.starts_with("sentiment_head.")) {
        return Err(NlpError::Model(format!(
            "{}: no tensor named {name}",
            weights.display()
        )));
    }

    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let ids = encoder::tokenize(&tokenizer, &texts, config.max_len);
    let lexicon = config.lexicon_features.then(Lexicon::new);
    let features = lexicon.as_ref().map(|lex| lexicon_features(lex, &texts));
    // P(positive) each sentence is trained towards.
    let targets: Vec<f32> = examples
        .iter()
        .map(|e| match (config.rating_target_scale, e.label) {
            (Some(scale), _) => 1.0 / (1.0 + (-(e.rating as f64) * scale).exp()) as f32,
            (None, Label::Negative) => 0.0,
            (None, Label::Positive) => 1.0,
        })
        .collect();

    let batch = config.batch_size.max(1);
    let per_epoch = examples.len().div_ceil(batch);
    let steps = ((config.epochs * per_epoch as f64).ceil() as usize).max(1);
    let warmup = (config.warmup * steps as f64).round() as usize;
    let mut opt = nn::AdamW {
        wd: config.weight_decay,
        ..Default::default()
    }
    .build(&vs, config.learning_rate)
    .map_err(|e| NlpError::Model(e.to_string()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);

    let mut step = 0;
    let mut recent = Vec::with_capacity(50);
    'epochs: loop {
        for batch_idx in epoch_batches(&ids, batch, &mut rng) {
            if step == steps {
                break 'epochs;
            }
            let seqs: Vec<&[i64]> = batch_idx.iter().map(|&i| ids[i].as_slice()).collect();
            let (t_ids, mask) = encoder::pad_batch(&seqs, Device::Cpu);
            let p = Tensor::from_slice(&batch_idx.iter().map(|&i| targets[i]).collect::<Vec<_>>());
            let batch_features = features.as_ref().map(|f| {
                f.index_select(
                    0,
                    &Tensor::from_slice(&batch_idx.iter().map(|&i| i as i64).collect::<Vec<_>>()),
                )
            });
            let logits = net.forward_t(&t_ids, &mask, batch_features.as_ref(), true)?;
            // Cross-entropy against [1 − p, p]; with 0/1 targets it is the usual one.
            let log_probs = logits.log_softmax(-1, Kind::Float);
            let q: Tensor = 1.0 - &p;
            let loss: Tensor =
                -(log_probs.select(1, 1) * &p + log_probs.select(1, 0) * q).mean(Kind::Float);
            let lr = learning_rate(config.learning_rate, step, warmup, steps);
            opt.set_lr_group(0, lr);
            opt.set_lr_group(1, lr * config.head_lr_multiplier);
            opt.backward_step_clip_norm(&loss, 1.0);
            step += 1;
            if recent.len() == 50 {
                recent.remove(0);
            }
            recent.push(loss.double_value(&[]));
            progress(Progress::Training {
                step,
                steps,
                loss: recent.iter().sum::<f64>() / recent.len() as f64,
            });
        }
    }
    vs.freeze();
    // The trained model predicts in f32 (what its manifest scores), whatever it trained in.
    net.encoder.set_compute_precision(Precision::F32);
    net.encoder.fuse();
    Ok(Sentiment {
        vs,
        net,
        tokenizer,
        max_len: config.max_len,
        lexicon,
        manifest: None,
    })
}

/// Linear warmup from 0 to `peak` over `warmup` steps, then linear decay to 0 at `steps`.
pub fn learning_rate(peak: f64, step: usize, warmup: usize, steps: usize) -> f64 {
    if step < warmup {
        peak * (step + 1) as f64 / warmup as f64
    } else {
        peak * (steps - step) as f64 / (steps - warmup).max(1) as f64
    }
}

/// One epoch's batches: shuffled, then texts of similar length grouped (sorted within windows of 50
/// batches) so little padding is computed, then the batches shuffled again.
fn epoch_batches(ids: &[Vec<i64>], batch: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.shuffle(rng);
    let mut batches = Vec::with_capacity(ids.len().div_ceil(batch));
    for window in order.chunks_mut(batch * 50) {
        window.sort_by_key(|&i| ids[i].len());
        batches.extend(window.chunks(batch).map(<[usize]>::to_vec));
    }
    batches.shuffle(rng);
    batches
}
