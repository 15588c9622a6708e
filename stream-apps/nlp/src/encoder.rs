//! The text encoder: a BERT-architecture model (all-MiniLM-L6-v2, from `infra/fetch-nlp.sh`) loaded
//! from a local folder, and the pieces every head on top of it shares: the WordPiece tokenizer, batches
//! padded to their longest text, and mean pooling over real tokens.
//!
//! A model folder holds `config.json` (a Hugging Face BERT config), `vocab.txt` and
//! `model.safetensors` whose tensor names are the Hugging Face ones (`embeddings.…`, `encoder.layer.N.…`).
//! The encoder is built directly on rust-bert's `BertModel` rather than through its
//! `SentenceEmbeddingsModel` pipeline, because the sentiment model trains the encoder's weights and the
//! pipeline keeps its variable store private. `tests/encoder.rs` checks that both give the same
//! embeddings for the real model.

use std::path::{Path, PathBuf};

use rust_bert::bert::{BertConfig, BertEmbeddings, BertModel};
use rust_tokenizers::tokenizer::{BertTokenizer, Tokenizer, TruncationStrategy};
use tch::{Device, Kind, Tensor, nn};

use crate::NlpError;

/// The files of a model folder.
pub const CONFIG_FILE: &str = "config.json";
pub const VOCAB_FILE: &str = "vocab.txt";
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// The all-MiniLM-L6-v2 folder: `$MINDSET_NLP_MODEL`, else `$MINDSET_CACHE/models/all-MiniLM-L6-v2`.
pub fn default_base_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MINDSET_NLP_MODEL") {
        return dir.into();
    }
    crate::cache_dir().join("models/all-MiniLM-L6-v2")
}

/// Reads a model folder's `config.json`.
pub fn read_config(dir: &Path) -> Result<BertConfig, NlpError> {
    let path = dir.join(CONFIG_FILE);
    let body = std::fs::read_to_string(&path).map_err(|source| NlpError::Read {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&body).map_err(|e| NlpError::Model(format!("{}: {e}", path.display())))
}

/// Lower-cases and strips accents, as the uncased MiniLM vocabulary expects.
pub fn load_tokenizer(dir: &Path) -> Result<BertTokenizer, NlpError> {
    let path = dir.join(VOCAB_FILE);
    BertTokenizer::from_file(&path, true, true)
        .map_err(|e| NlpError::Model(format!("{}: {e}", path.display())))
}

/// Token ids of each text, with `[CLS]`/`[SEP]`, truncated to `max_len` tokens.
pub fn tokenize<S: AsRef<str>>(
    tokenizer: &BertTokenizer,
    texts: &[S],
    max_len: usize,
) -> Vec<Vec<i64>> {
    tokenizer
        .encode_list(texts, max_len, &TruncationStrategy::LongestFirst, 0)
        .into_iter()
        .map(|t| t.token_ids)
        .collect()
}

/// Pads sequences to the longest with id 0 (`[PAD]`); returns `(ids, mask)`, both `[batch, len]` i64.
pub fn pad_batch(seqs: &[&[i64]], device: Device) -> (Tensor, Tensor) {
    let len = seqs.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
    let mut ids = vec![0i64; seqs.len() * len];
    let mut mask = vec![0i64; seqs.len() * len];
    for (row, seq) in seqs.iter().enumerate() {
        ids[row * len..row * len + seq.len()].copy_from_slice(seq);
        mask[row * len..row * len + seq.len()].fill(1);
    }
    let shape = [seqs.len() as i64, len as i64];
    (
        Tensor::from_slice(&ids).view(shape).to(device),
        Tensor::from_slice(&mask).view(shape).to(device),
    )
}

/// Mean of the token vectors where `mask` is 1: `[batch, len, hidden]` → `[batch, hidden]`.
pub fn mean_pool(hidden: &Tensor, mask: &Tensor) -> Tensor {
    let mask = mask.unsqueeze(-1).to_kind(hidden.kind());
    let summed = (hidden * &mask).sum_dim_intlist([1i64].as_slice(), false, hidden.kind());
    let counts = mask
        .sum_dim_intlist([1i64].as_slice(), false, hidden.kind())
        .clamp_min(1e-9);
    summed / counts
}

/// The transformer, with its variables under the given var-store path.
pub struct Encoder {
    bert: BertModel<BertEmbeddings>,
    hidden_size: i64,
}

impl Encoder {
    /// Declares the encoder's variables (names as in Hugging Face's BERT, no pooler).
    pub fn new(p: &nn::Path, config: &BertConfig) -> Encoder {
        Encoder {
            bert: BertModel::new_with_optional_pooler(p, config, false),
            hidden_size: config.hidden_size,
        }
    }

    pub fn hidden_size(&self) -> i64 {
        self.hidden_size
    }

    /// Mean-pooled sentence vectors `[batch, hidden]`; dropout is on when `train`.
    pub fn forward_t(&self, ids: &Tensor, mask: &Tensor, train: bool) -> Result<Tensor, NlpError> {
        let out = self
            .bert
            .forward_t(Some(ids), Some(mask), None, None, None, None, None, train)
            .map_err(|e| NlpError::Model(e.to_string()))?;
        Ok(mean_pool(&out.hidden_state, mask))
    }
}

/// A frozen sentence encoder: tokenizer + transformer + mean pooling + L2 normalisation, as
/// sentence-transformers computes all-MiniLM-L6-v2's embeddings.
pub struct SentenceEncoder {
    _vs: nn::VarStore,
    encoder: Encoder,
    tokenizer: BertTokenizer,
    max_len: usize,
}

impl SentenceEncoder {
    pub fn load(dir: &Path, max_len: usize) -> Result<SentenceEncoder, NlpError> {
        let config = read_config(dir)?;
        let mut vs = nn::VarStore::new(Device::Cpu);
        let encoder = Encoder::new(&vs.root(), &config);
        vs.load(dir.join(WEIGHTS_FILE))
            .map_err(|e| NlpError::Model(format!("{}: {e}", dir.join(WEIGHTS_FILE).display())))?;
        vs.freeze();
        Ok(SentenceEncoder {
            _vs: vs,
            encoder,
            tokenizer: load_tokenizer(dir)?,
            max_len,
        })
    }

    pub fn dim(&self) -> i64 {
        self.encoder.hidden_size()
    }

    /// Unit-length embeddings `[texts, dim]`, computed in batches of `batch` texts of similar length.
    pub fn encode<S: AsRef<str>>(&self, texts: &[S], batch: usize) -> Result<Tensor, NlpError> {
        let ids = tokenize(&self.tokenizer, texts, self.max_len);
        let order = by_length(&ids);
        let mut rows: Vec<Tensor> = Vec::with_capacity(texts.len().div_ceil(batch.max(1)));
        for chunk in order.chunks(batch.max(1)) {
            let seqs: Vec<&[i64]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
            let (t_ids, mask) = pad_batch(&seqs, Device::Cpu);
            let pooled = tch::no_grad(|| self.encoder.forward_t(&t_ids, &mask, false))?;
            rows.push(pooled);
        }
        if rows.is_empty() {
            return Ok(Tensor::zeros([0, self.dim()], (Kind::Float, Device::Cpu)));
        }
        let sorted = Tensor::cat(&rows, 0);
        // Back to the callers' order.
        let mut inverse = vec![0i64; order.len()];
        for (pos, &i) in order.iter().enumerate() {
            inverse[i] = pos as i64;
        }
        let embeddings = sorted.index_select(0, &Tensor::from_slice(&inverse));
        let norms = embeddings
            .norm_scalaropt_dim(2.0, [1i64].as_slice(), true)
            .clamp_min(1e-12);
        Ok(embeddings / norms)
    }
}

/// Indices of `seqs` sorted by length (stable), so batches pad little.
pub fn by_length(seqs: &[Vec<i64>]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..seqs.len()).collect();
    order.sort_by_key(|&i| seqs[i].len());
    order
}
