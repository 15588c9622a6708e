//! A RoBERTa emotion classifier loaded from a local folder the user supplies, e.g. a converted
//! `emotion-english-distilroberta-base` checkpoint. No registry package ships such weights, so Mindset
//! neither fetches nor runs one by default ([`crate::emotion::EmotionModel`] falls back to the zero-shot
//! method); with a folder configured, this is the emotion model.
//!
//! The folder holds `config.json` (a Hugging Face RoBERTa config whose `id2label` names the seven
//! labels of [`EMOTIONS`], in any order and any case), `vocab.json` and `merges.txt` (the byte-level
//! BPE tokenizer) and `model.safetensors` with Hugging Face tensor names (`roberta.…`, `classifier.…`).
//! A checkpoint whose labels are not exactly those seven is refused, naming the labels it has.
//!
//! The model is built as rust-bert 0.23's `SequenceClassificationModel` builds it (same variable
//! names, so the same weight files load), but run with an attention mask: the pipeline's `predict`
//! passes none, so a text's scores there would change with the padding of the texts batched with it
//! (the same fix as [`crate::distilbert`]).

use std::path::Path;

use rust_bert::bert::BertConfig;
use rust_bert::roberta::RobertaForSequenceClassification;
use rust_tokenizers::tokenizer::{RobertaTokenizer, Tokenizer, TruncationStrategy};
use rust_tokenizers::vocab::Vocab;
use tch::{Device, Kind, Tensor, nn};

use crate::{EMOTIONS, Emotions, NlpError};

/// The files of a RoBERTa emotion folder.
pub const CONFIG_FILE: &str = "config.json";
pub const VOCAB_FILE: &str = "vocab.json";
pub const MERGES_FILE: &str = "merges.txt";
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// Texts per forward pass (texts are sorted by length first, so a pass pads little).
const BATCH: usize = 32;

/// A RoBERTa sequence classifier over the seven [`EMOTIONS`].
pub struct RobertaEmotion {
    _vs: nn::VarStore,
    model: RobertaForSequenceClassification,
    tokenizer: RobertaTokenizer,
    /// `order[k]` is the model's output index of `EMOTIONS[k]`.
    order: [i64; 7],
    pad_id: i64,
    max_len: usize,
}

impl RobertaEmotion {
    /// Loads the folder; refuses one with a missing file, an unreadable config or labels that are not
    /// the seven of [`EMOTIONS`].
    pub fn load(dir: &Path) -> Result<RobertaEmotion, NlpError> {
        for file in [CONFIG_FILE, VOCAB_FILE, MERGES_FILE, WEIGHTS_FILE] {
            if !dir.join(file).is_file() {
                return Err(NlpError::Model(format!("{} has no {file}", dir.display())));
            }
        }
        let path = dir.join(CONFIG_FILE);
        let body = std::fs::read_to_string(&path).map_err(|source| NlpError::Read {
            path: path.clone(),
            source,
        })?;
        let config: BertConfig = serde_json::from_str(&body)
            .map_err(|e| NlpError::Model(format!("{}: {e}", path.display())))?;
        let order = label_order(&config)
            .map_err(|e| NlpError::Model(format!("{}: {e}", path.display())))?;
        let tokenizer =
            RobertaTokenizer::from_file(dir.join(VOCAB_FILE), dir.join(MERGES_FILE), false, false)
                .map_err(|e| NlpError::Model(format!("{}: {e}", dir.display())))?;
        let pad_id = tokenizer
            .vocab()
            .token_to_id(tokenizer.vocab().get_pad_value());
        let mut vs = nn::VarStore::new(Device::Cpu);
        let model = RobertaForSequenceClassification::new(vs.root(), &config)
            .map_err(|e| NlpError::Model(e.to_string()))?;
        vs.load(dir.join(WEIGHTS_FILE))
            .map_err(|e| NlpError::Model(format!("{}: {e}", dir.join(WEIGHTS_FILE).display())))?;
        vs.freeze();
        // RoBERTa's positions start after the padding index (2 for the usual 514 positions).
        let max_len = (config.max_position_embeddings - 2).clamp(2, 512) as usize;
        Ok(RobertaEmotion {
            _vs: vs,
            model,
            tokenizer,
            order,
            pad_id,
            max_len,
        })
    }

    /// Token ids of each text, with `<s>`/`</s>`, truncated to the model's length.
    pub fn tokenize<S: AsRef<str>>(&self, texts: &[S]) -> Vec<Vec<i64>> {
        self.tokenizer
            .encode_list(texts, self.max_len, &TruncationStrategy::LongestFirst, 0)
            .into_iter()
            .map(|t| t.token_ids)
            .collect()
    }

    /// Emotion probabilities per text, in order, in the order of [`EMOTIONS`].
    pub fn emotions<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Emotions>, NlpError> {
        let ids = self.tokenize(texts);
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        let mut out = vec![Emotions { scores: [0.0; 7] }; ids.len()];
        let select = Tensor::from_slice(&self.order);
        for chunk in order.chunks(BATCH) {
            let seqs: Vec<&[i64]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
            let (t_ids, mask) = pad(&seqs, self.pad_id);
            let logits = tch::no_grad(|| {
                self.model
                    .forward_t(Some(&t_ids), Some(&mask), None, None, None, false)
                    .logits
            });
            let probs = logits
                .softmax(-1, Kind::Float)
                .index_select(1, &select)
                .contiguous();
            let flat: Vec<f32> = Vec::try_from(probs.flatten(0, -1))?;
            for (row, &i) in chunk.iter().enumerate() {
                out[i].scores.copy_from_slice(&flat[7 * row..7 * row + 7]);
            }
        }
        Ok(out)
    }
}

/// Pads to the longest sequence with `pad_id`; returns `(ids, mask)`, both `[batch, len]` i64.
fn pad(seqs: &[&[i64]], pad_id: i64) -> (Tensor, Tensor) {
    let len = seqs.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
    let mut ids = vec![pad_id; seqs.len() * len];
    let mut mask = vec![0i64; seqs.len() * len];
    for (row, seq) in seqs.iter().enumerate() {
        ids[row * len..row * len + seq.len()].copy_from_slice(seq);
        mask[row * len..row * len + seq.len()].fill(1);
    }
    let shape = [seqs.len() as i64, len as i64];
    (
        Tensor::from_slice(&ids).view(shape),
        Tensor::from_slice(&mask).view(shape),
    )
}

/// For each label of [`EMOTIONS`], the model output that carries it. The checkpoint must have exactly
/// seven labels, matching the seven names case-insensitively, with ids 0..7.
pub fn label_order(config: &BertConfig) -> Result<[i64; 7], String> {
    let id2label = config
        .id2label
        .as_ref()
        .ok_or("no id2label: the checkpoint does not name its labels")?;
    let mut labels: Vec<(i64, String)> = id2label
        .iter()
        .map(|(&id, l)| (id, l.to_lowercase()))
        .collect();
    labels.sort();
    let named = || {
        labels
            .iter()
            .map(|(i, l)| format!("{i}={l}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if labels.len() != EMOTIONS.len()
        || labels
            .iter()
            .enumerate()
            .any(|(k, (id, _))| *id != k as i64)
    {
        return Err(format!(
            "labels {} are not the seven emotions {EMOTIONS:?} with ids 0..7",
            named()
        ));
    }
    let mut order = [0i64; 7];
    for (k, emotion) in EMOTIONS.iter().enumerate() {
        order[k] = labels
            .iter()
            .find(|(_, l)| l == emotion)
            .map(|(id, _)| *id)
            .ok_or_else(|| {
                format!(
                    "labels {} do not map onto {EMOTIONS:?}: no {emotion:?}",
                    named()
                )
            })?;
    }
    Ok(order)
}

/// The config.json of a RoBERTa emotion classifier with `labels` (index = class id), for tests and
/// for writing a folder of the expected shape.
pub fn emotion_config(
    hidden_size: i64,
    layers: i64,
    heads: i64,
    intermediate_size: i64,
    vocab_size: i64,
    labels: &[&str],
) -> serde_json::Value {
    let id2label: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (i.to_string(), serde_json::Value::from(*l)))
        .collect();
    let label2id: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.to_string(), serde_json::Value::from(i)))
        .collect();
    serde_json::json!({
        "architectures": ["RobertaForSequenceClassification"], "model_type": "roberta",
        "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "hidden_size": hidden_size, "initializer_range": 0.02, "intermediate_size": intermediate_size,
        "layer_norm_eps": 1e-5, "max_position_embeddings": 514, "num_attention_heads": heads,
        "num_hidden_layers": layers, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
        "type_vocab_size": 1, "vocab_size": vocab_size,
        "id2label": id2label, "label2id": label2id
    })
}
