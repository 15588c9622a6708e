//! DistilBERT fine-tuned on SST-2, the architecture of rust-bert's stock sentiment pipeline, loaded
//! from a local folder (`config.json` with `id2label`, `vocab.txt`, `model.safetensors`). No registry package with those weights is fetched today, so Mindset does not ship or run
//! this model; the loader is here so that such weights can be dropped in and compared, and
//! [`write_random`] writes folders of the same shape for tests and the throughput benchmark.

use std::path::Path;

use rust_bert::distilbert::{DistilBertConfig, DistilBertModelClassifier};
use rust_tokenizers::tokenizer::BertTokenizer;
use tch::{Device, Kind, nn};

use crate::{
    Label, NlpError, Polarity,
    core::{Analyzer, Source},
    encoder::{self, CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE},
};

/// Texts per forward pass.
const BATCH: usize = 32;

/// A DistilBERT sequence classifier with labels 0 = negative, 1 = positive.
///
/// Built as rust-bert's `SequenceClassificationModel` builds it (same variable names, so the same
/// weight files load), but run with an attention mask: rust-bert 0.23's pipeline `predict` passes no
/// mask, so a text's score there changes with the padding of the texts batched with it.
pub struct DistilBertSentiment {
    _vs: nn::VarStore,
    model: DistilBertModelClassifier,
    tokenizer: BertTokenizer,
    max_len: usize,
}

impl DistilBertSentiment {
    pub fn load(dir: &Path) -> Result<DistilBertSentiment, NlpError> {
        for file in [CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE] {
            if !dir.join(file).is_file() {
                return Err(NlpError::Model(format!("{} has no {file}", dir.display())));
            }
        }
        let path = dir.join(CONFIG_FILE);
        let body = std::fs::read_to_string(&path).map_err(|source| NlpError::Read {
            path: path.clone(),
            source,
        })?;
        let config: DistilBertConfig = serde_json::from_str(&body)
            .map_err(|e| NlpError::Model(format!("{}: {e}", path.display())))?;
        let mut vs = nn::VarStore::new(Device::Cpu);
        let model = DistilBertModelClassifier::new(vs.root(), &config)
            .map_err(|e| NlpError::Model(e.to_string()))?;
        vs.load(dir.join(WEIGHTS_FILE))
            .map_err(|e| NlpError::Model(format!("{}: {e}", dir.join(WEIGHTS_FILE).display())))?;
        vs.freeze();
        Ok(DistilBertSentiment {
            _vs: vs,
            model,
            tokenizer: encoder::load_tokenizer(dir)?,
            max_len: config.max_position_embeddings.min(512) as usize,
        })
    }

    /// Label and P(positive) − P(negative) per text, in order.
    pub fn predict<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Polarity>, NlpError> {
        let ids = encoder::tokenize(&self.tokenizer, texts, self.max_len);
        let order = encoder::by_length(&ids);
        let mut out = vec![
            Polarity {
                label: Label::Positive,
                score: 0.0
            };
            ids.len()
        ];
        for chunk in order.chunks(BATCH) {
            let seqs: Vec<&[i64]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
            let (t_ids, mask) = encoder::pad_batch(&seqs, Device::Cpu);
            let logits =
                tch::no_grad(|| self.model.forward_t(Some(&t_ids), Some(&mask), None, false))
                    .map_err(|e| NlpError::Model(e.to_string()))?
                    .logits;
            let probs: Vec<f32> = Vec::try_from(logits.softmax(-1, Kind::Float).flatten(0, -1))?;
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
}

impl Analyzer for DistilBertSentiment {
    fn source(&self) -> Source {
        Source::Model
    }

    fn sentiment(&self, texts: &[&str]) -> Result<Vec<Polarity>, NlpError> {
        self.predict(texts)
    }
}

/// The size of a DistilBERT.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub dim: i64,
    pub hidden_dim: i64,
    pub n_layers: i64,
    pub n_heads: i64,
}

impl Shape {
    /// distilbert-base-uncased-finetuned-sst-2-english: 66M parameters.
    pub const SST2: Shape = Shape {
        dim: 768,
        hidden_dim: 3072,
        n_layers: 6,
        n_heads: 12,
    };
}

/// The config.json of an SST-2 DistilBERT of `shape` over a vocabulary of `vocab_size`.
pub fn sst2_config(shape: Shape, vocab_size: usize) -> serde_json::Value {
    serde_json::json!({
        "activation": "gelu", "architectures": ["DistilBertForSequenceClassification"],
        "attention_dropout": 0.1, "dim": shape.dim, "dropout": 0.1, "hidden_dim": shape.hidden_dim,
        "id2label": {"0": "NEGATIVE", "1": "POSITIVE"}, "label2id": {"NEGATIVE": 0, "POSITIVE": 1},
        "initializer_range": 0.02, "max_position_embeddings": 512, "model_type": "distilbert",
        "n_heads": shape.n_heads, "n_layers": shape.n_layers, "pad_token_id": 0, "qa_dropout": 0.1,
        "seq_classif_dropout": 0.2, "sinusoidal_pos_embds": false, "tie_weights_": true,
        "vocab_size": vocab_size
    })
}

/// Writes a DistilBERT-SST-2-shaped folder with random weights (seeded) and a copy of `vocab`.
/// Returns the var store the weights came from, so a caller can compare against it.
pub fn write_random(
    dir: &Path,
    shape: Shape,
    vocab: &Path,
    seed: i64,
) -> Result<(nn::VarStore, DistilBertModelClassifier), NlpError> {
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| NlpError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_err(dir))?;
    let vocab_body = std::fs::read_to_string(vocab).map_err(|source| NlpError::Read {
        path: vocab.to_path_buf(),
        source,
    })?;
    let vocab_size = vocab_body.lines().count();
    std::fs::copy(vocab, dir.join(VOCAB_FILE)).map_err(write_err(&dir.join(VOCAB_FILE)))?;
    let config = sst2_config(shape, vocab_size);
    std::fs::write(dir.join(CONFIG_FILE), config.to_string())
        .map_err(write_err(&dir.join(CONFIG_FILE)))?;
    let config: DistilBertConfig =
        serde_json::from_value(config).map_err(|e| NlpError::Model(e.to_string()))?;
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = DistilBertModelClassifier::new(vs.root(), &config)
        .map_err(|e| NlpError::Model(e.to_string()))?;
    vs.save(dir.join(WEIGHTS_FILE))?;
    Ok((vs, model))
}
