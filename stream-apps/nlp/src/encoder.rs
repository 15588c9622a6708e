//! The text encoder: a BERT-architecture model (all-MiniLM-L6-v2, from `infra/fetch-nlp.sh`) loaded
//! from a local folder, and the pieces every head on top of it shares: the WordPiece tokenizer, batches
//! padded to their longest text, and mean pooling over real tokens.
//!
//! A model folder holds `config.json` (a Hugging Face BERT config), `vocab.txt` and
//! `model.safetensors` whose tensor names are the Hugging Face ones (`embeddings.…`, `encoder.layer.N.…`).
//! [`Encoder`] is Mindset's own BERT forward pass on tch (fused attention, no arithmetic on padding),
//! over the same variables as rust-bert's `BertModel`; the sentiment model trains its weights.
//! `tests/encoder.rs` checks that it computes what rust-bert's `BertModel` and its sentence-embeddings
//! pipeline compute on the real model.

use std::path::{Path, PathBuf};

use rust_bert::{Activation, bert::BertConfig};
use rust_tokenizers::tokenizer::{BertTokenizer, Tokenizer, TruncationStrategy};
use tch::{Device, Kind, Tensor, nn};

use crate::NlpError;

/// The files of a model folder.
pub const CONFIG_FILE: &str = "config.json";
pub const VOCAB_FILE: &str = "vocab.txt";
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// The arithmetic an encoder computes in: for inference ([`Encoder::set_precision`]), and for
/// mixed-precision training ([`Encoder::set_compute_precision`]; f32 unless asked).
///
/// - `F32`: single precision.
/// - `Bf16`: the weights and activations in bfloat16 (8 exponent bits, as f32, and 8 mantissa
///   bits), with pooling and everything after it in f32. On CPUs with native bf16 arithmetic
///   (AVX512-BF16, AMX) libtorch's oneDNN kernels multiply several times faster than in f32. The
///   unit-length embeddings moved by at most 2.6e-3 per component in the throughput bench,
///   `tests/encoder.rs` checks a cosine above 0.995 to f32, and the held-out accuracy is measured
///   for both in `benches/sentiment_accuracy.rs`.
/// - `Int8`: f32, except the attention's projections and the feed-forward block's first layer,
///   which multiply int8 weights (one scale per matrix) by activations quantised to uint8 per
///   call, through libtorch's fbgemm kernels ([`Int8Linear`]), as `torch.ao.quantization.
///   quantize_dynamic` does. The feed-forward block's second layer stays in f32: its inputs (GELU
///   outputs with a few very large values) lose too much in 8 bits. The activations' range is the
///   whole batch's, so a text's vector moves a little with the texts batched beside it (cosine
///   0.989 at worst in `tests/encoder.rs`); quantising text by text removed that but cost a third
///   of the speed and fell behind Python's int8 on sorted batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    F32,
    Bf16,
    Int8,
}

/// AMX-BF16 and AMX-TILE (CPUID leaf 7, EDX bits 22 and 24), and an OS that lets a process use
/// the tile state (Linux lists `amx_tile` in `/proc/cpuinfo` when the CPU has it and the kernel
/// supports its state).
fn has_amx_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        #[allow(unused_unsafe)]
        // SAFETY: CPUID leaf 7 exists on every x86-64 CPU that reports it (leaf 0's maximum).
        let (max, leaf7) = unsafe {
            (
                std::arch::x86_64::__cpuid(0).eax,
                std::arch::x86_64::__cpuid_count(7, 0),
            )
        };
        let cpu = max >= 7 && leaf7.edx & (1 << 22) != 0 && leaf7.edx & (1 << 24) != 0;
        cpu && std::fs::read_to_string("/proc/cpuinfo")
            .map(|c| c.contains(" amx_tile"))
            .unwrap_or(false)
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// libtorch allocates each tensor with glibc's `malloc` (Mindset's own allocations go through
/// mimalloc). By default glibc serves the large ones with fresh `mmap`s, and gives the top of its heap
/// back to the kernel as soon as it is free, so every forward pass faults in and zeroes new pages
/// for its activations. Once per process, this keeps up to 1 GiB of freed heap, 64 MiB of padding
/// on each growth, and serves blocks up to 32 MiB from the heap. Measured on 2026-12-02 (the int8
/// encoder, 256 held-out sentences sorted into batches of 32, three alternating pairs): 302 → 322
/// texts/s on one thread and 451 → 518 on two. The cost: the process's resident memory stays at
/// its peak instead of shrinking after it.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only changes glibc's allocator parameters; it is safe to call at any
            // time from any thread (glibc takes its own lock).
            unsafe {
                libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
                libc::mallopt(libc::M_TOP_PAD, 64 << 20);
                libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            }
        });
    }
}

/// AVX2 and FMA, which fbgemm's int8 kernels need.
fn has_int8_kernels() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The variable that chooses the precision: `auto` (the default), `f32`, `bf16` or `int8`.
pub const PRECISION_ENV: &str = "MINDSET_NLP_PRECISION";

impl Precision {
    /// bf16 where the CPU has AMX (its bf16 tile multiplies); else int8 where it has AVX2 and FMA
    /// (fbgemm's int8 kernels; without AVX2 fbgemm falls back to plain loops); else f32.
    /// AVX512-BF16 alone is not enough for bf16: on a Xeon VM with AVX512-BF16 but no AMX exposed,
    /// bf16 inference ran at 125 texts/s on one thread against f32's 175 (2026-12-02), where with
    /// AMX it ran at 460 against 154. See `stream-apps/nlp/README.md` for int8's speed and accuracy.
    pub fn auto() -> Precision {
        if has_amx_bf16() {
            Precision::Bf16
        } else if has_int8_kernels() {
            Precision::Int8
        } else {
            Precision::F32
        }
    }

    /// Whether training should multiply in bf16 by default ([`crate::sentiment::TrainConfig`]):
    /// where the CPU has native bf16 arithmetic (AVX512-BF16, with or without AMX). The default
    /// sentiment model was measured trained this way on a CPU with AVX512-BF16 and no AMX.
    pub fn native_bf16() -> bool {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512bf16") {
            return true;
        }
        false
    }

    /// `auto`, `f32`, `bf16` or `int8`.
    pub fn parse(value: &str) -> Result<Precision, NlpError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(Precision::auto()),
            "f32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            "int8" => Ok(Precision::Int8),
            other => Err(NlpError::Model(format!(
                "{PRECISION_ENV}={other:?}: expected auto, f32, bf16 or int8"
            ))),
        }
    }

    /// From `$MINDSET_NLP_PRECISION`, [`Precision::auto`] when it is not set.
    pub fn configured() -> Result<Precision, NlpError> {
        match std::env::var(PRECISION_ENV) {
            Ok(v) => Precision::parse(&v),
            Err(_) => Ok(Precision::auto()),
        }
    }

    /// The kind of the activations between layers.
    pub fn kind(self) -> Kind {
        match self {
            Precision::F32 | Precision::Int8 => Kind::Float,
            Precision::Bf16 => Kind::BFloat16,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::Int8 => "int8",
        }
    }

    /// The additive attention mask's value at padding: the lowest finite number of the kind (as
    /// `transformers` uses `torch.finfo(dtype).min`); f32's lowest would round to -inf in bf16.
    fn mask_min(self) -> f64 {
        match self {
            Precision::F32 | Precision::Int8 => f32::MIN as f64,
            Precision::Bf16 => -3.389_531_389_251_535_5e38,
        }
    }
}

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

/// The transformer, with its variables under the given var-store path: BERT's embeddings and layers
/// (the names of Hugging Face's `BertModel` without the pooler, so the same `model.safetensors` loads
/// into it and into rust-bert's `BertModel`), computed the way `transformers` does with its "sdpa"
/// attention:
///
/// - attention goes through libtorch's fused `scaled_dot_product_attention` instead of an explicit
///   matmul, softmax and matmul;
/// - the padding of a batch is dropped before every dense layer (they do nearly all the arithmetic) and
///   put back only for attention, so a batch costs what its real tokens cost (at inference, only when
///   the padding is more than a tenth of the batch);
/// - GELU is one fused op; after [`Encoder::fuse`] the query, key and value projections are one matmul.
///
/// `tests/encoder.rs` checks that it computes what rust-bert's `BertModel` computes on the real weights.
pub struct Encoder {
    word_embeddings: Tensor,
    position_embeddings: Tensor,
    token_type_embeddings: Tensor,
    embeddings_norm: nn::LayerNorm,
    layers: Vec<Layer>,
    hidden_size: i64,
    heads: i64,
    activation: Activation,
    hidden_dropout: f64,
    attention_dropout: f64,
    /// Blocks (the embeddings, then the layers from the bottom) that get no gradient while training.
    frozen_blocks: usize,
    /// The precision activations are computed in (see [`Precision`]).
    precision: Precision,
}

/// BERT layer norms use ε = 1e-12 (rust-bert hard-codes it too).
const LAYER_NORM_EPS: f64 = 1e-12;

struct Layer {
    query: nn::Linear,
    key: nn::Linear,
    value: nn::Linear,
    /// `[3·hidden, hidden]` and `[3·hidden]`: query, key and value stacked, set by [`Encoder::fuse`].
    qkv: Option<(Tensor, Tensor)>,
    attention_output: nn::Linear,
    attention_norm: nn::LayerNorm,
    intermediate: nn::Linear,
    output: nn::Linear,
    output_norm: nn::LayerNorm,
    /// Int8 copies of the projections, set by [`Encoder::set_precision`] with [`Precision::Int8`].
    int8: Option<Int8Layer>,
}

/// The layers [`Precision::Int8`] quantises.
struct Int8Layer {
    qkv: Int8Linear,
    attention_output: Int8Linear,
    intermediate: Int8Linear,
}

/// `x · wᵀ + b` with `w` quantised to int8 once, with one scale and zero point for the whole matrix
/// as fbgemm chooses them (the range of `w` widened to include 0, mapped onto −128..127), and `x`
/// quantised to uint8 on each call from its own range: libtorch's
/// `fbgemm_linear_int8_weight_fp32_activation`. It returns f32. libtorch 2.4 marks these
/// functions deprecated and prints so once per process; it has no other int8 product that tch can
/// call (`quantized::linear_dynamic` takes a packed-parameters object tch cannot hold).
pub struct Int8Linear {
    weight: Tensor,
    packed: Tensor,
    col_offsets: Tensor,
    scale: f64,
    zero_point: i64,
    bias: Tensor,
}

impl Int8Linear {
    /// From an f32 weight `[out, in]` and bias `[out]`.
    pub fn new(weight: &Tensor, bias: &Tensor) -> Int8Linear {
        tch::no_grad(|| {
            let w = weight.to_kind(Kind::Float).contiguous();
            let (qmin, qmax) = (-128.0f64, 127.0f64);
            let lo = w.min().double_value(&[]).min(0.0);
            let hi = w.max().double_value(&[]).max(0.0);
            let mut scale = (hi - lo) / (qmax - qmin);
            if (scale as f32) == 0.0 || (1.0 / scale as f32).is_infinite() {
                scale = 0.1;
            }
            // fbgemm's ChooseQuantizationParams: the zero point from whichever end is exact with
            // the smaller error, nudged to an integer inside the range.
            let (from_min, from_max) = (qmin - lo / scale, qmax - hi / scale);
            let err_min = qmin.abs() + (lo / scale).abs();
            let err_max = qmax.abs() + (hi / scale).abs();
            let initial = if err_min < err_max {
                from_min
            } else {
                from_max
            };
            let zero_point = initial.round_ties_even().clamp(qmin, qmax) as i64;
            let q = (&w / scale + zero_point as f64)
                .round()
                .clamp(qmin, qmax)
                .to_kind(Kind::Int8)
                .contiguous();
            let k = w.size()[1];
            let col_offsets = (q.sum_dim_intlist([1i64].as_slice(), false, Kind::Int)
                - zero_point * k)
                .to_kind(Kind::Int);
            let packed = q.fbgemm_pack_quantized_matrix();
            Int8Linear {
                weight: q,
                packed,
                col_offsets,
                scale,
                zero_point,
                bias: bias.to_kind(Kind::Float).contiguous(),
            }
        })
    }

    /// `[rows, in]` f32 → `[rows, out]` f32, the activations quantised from the range of all rows
    /// (all the texts of a batch).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.contiguous().fbgemm_linear_int8_weight_fp32_activation(
            &self.weight,
            &self.packed,
            &self.col_offsets,
            tch::Scalar::float(self.scale),
            tch::Scalar::int(self.zero_point),
            &self.bias,
        )
    }
}

/// Where a batch's real tokens are: `index` holds the positions in the flattened `[batch·len]` grid
/// that the dense layers compute (None when they compute the whole grid: nothing is padded, or
/// little, see [`PACK_ABOVE_PADDING`]); `attention_mask` is the additive `[batch, 1, 1, len]` mask: 0 at real
/// tokens, the lowest float at padding (as transformers builds it). The mask is passed even when it is
/// all zeros, because tch 0.17 hands libtorch 2.4 an undefined tensor for `None`, which its
/// `scaled_dot_product_attention` rejects.
struct Packing {
    batch: i64,
    len: i64,
    /// The rows the dense layers compute: the real tokens' positions, or None for the whole grid.
    index: Option<Tensor>,
    /// The real tokens' positions when any is padding (whether or not the dense layers skip it).
    real: Option<Tensor>,
    attention_mask: Tensor,
}

/// At inference, the dense layers skip the padding only when it is more than this share of a
/// batch's grid. Below it (batches sorted by length), dropping and restoring the padding around
/// each layer's attention cost more than computing the few padded rows.
const PACK_ABOVE_PADDING: f64 = 0.1;

impl Packing {
    /// Training always skips the padding (its figures were measured so).
    fn new(mask: &Tensor, precision: Precision, train: bool) -> Packing {
        let (batch, len) = mask.size2().expect("mask is [batch, len]");
        let index = mask.flatten(0, -1).nonzero().squeeze_dim(1);
        let grid = batch * len;
        let padding = (grid - index.size()[0]) as f64 / grid.max(1) as f64;
        let real = (padding > 0.0).then_some(index);
        let index = real
            .as_ref()
            .filter(|_| train || padding > PACK_ABOVE_PADDING)
            .map(Tensor::shallow_clone);
        let attention_mask = mask
            .eq(0)
            .to_kind(Kind::Float)
            .g_mul_scalar(precision.mask_min())
            .to_kind(precision.kind())
            .view([batch, 1, 1, len]);
        Packing {
            batch,
            len,
            index,
            real,
            attention_mask,
        }
    }

    /// `[batch·len, d]` → `[tokens, d]`.
    fn pack(&self, x: &Tensor) -> Tensor {
        match &self.index {
            Some(index) => x.index_select(0, index),
            None => x.shallow_clone(),
        }
    }

    /// `[tokens, d]` → `[batch·len, d]` with zeros at the padding.
    fn unpack(&self, x: &Tensor) -> Tensor {
        match &self.index {
            Some(index) => {
                let d = x.size()[1];
                Tensor::zeros([self.batch * self.len, d], (x.kind(), x.device()))
                    .index_copy(0, index, x)
            }
            None => x.shallow_clone(),
        }
    }
}

impl Encoder {
    /// Declares the encoder's variables (names as in Hugging Face's BERT, no pooler).
    /// Also sets this process's glibc `malloc` to keep freed memory ([`keep_freed_memory`]).
    pub fn new(p: &nn::Path, config: &BertConfig) -> Encoder {
        keep_freed_memory();
        let h = config.hidden_size;
        let embedding = |name: &str, rows: i64| {
            (p / "embeddings" / name).var(
                "weight",
                &[rows, h],
                nn::Init::Randn {
                    mean: 0.0,
                    stdev: config.initializer_range as f64,
                },
            )
        };
        let norm_config = nn::LayerNormConfig {
            eps: LAYER_NORM_EPS,
            ..Default::default()
        };
        let norm = |p: nn::Path| nn::layer_norm(p / "LayerNorm", vec![h], norm_config);
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let p = p / "encoder" / "layer" / i;
                let attention = &p / "attention";
                let linear = |p: nn::Path, i, o| nn::linear(p, i, o, Default::default());
                Layer {
                    query: linear(&attention / "self" / "query", h, h),
                    key: linear(&attention / "self" / "key", h, h),
                    value: linear(&attention / "self" / "value", h, h),
                    qkv: None,
                    attention_output: linear(&attention / "output" / "dense", h, h),
                    attention_norm: norm(&attention / "output"),
                    intermediate: linear(
                        &p / "intermediate" / "dense",
                        h,
                        config.intermediate_size,
                    ),
                    output: linear(&p / "output" / "dense", config.intermediate_size, h),
                    output_norm: norm(&p / "output"),
                    int8: None,
                }
            })
            .collect();
        Encoder {
            word_embeddings: embedding("word_embeddings", config.vocab_size),
            position_embeddings: embedding("position_embeddings", config.max_position_embeddings),
            token_type_embeddings: embedding("token_type_embeddings", config.type_vocab_size),
            embeddings_norm: norm(p / "embeddings"),
            layers,
            hidden_size: h,
            heads: config.num_attention_heads,
            activation: config.hidden_act,
            hidden_dropout: config.hidden_dropout_prob,
            attention_dropout: config.attention_probs_dropout_prob,
            frozen_blocks: 0,
            precision: Precision::F32,
        }
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Computes in `precision` while keeping the weights as they are (f32 variables): each product
    /// casts its weights, so training updates f32 master weights from bf16 arithmetic (mixed
    /// precision). For training; inference uses [`Encoder::set_precision`], which casts once.
    pub fn set_compute_precision(&mut self, precision: Precision) {
        self.precision = precision;
    }

    /// Runs inference in `precision` from now on: the encoder's weights are replaced by copies in
    /// that precision (the var store keeps the f32 variables). For inference only, once the weights
    /// are final and after [`Encoder::fuse`]; a model that trains stays in f32.
    pub fn set_precision(&mut self, precision: Precision) {
        if precision == Precision::Int8 {
            tch::no_grad(|| {
                for layer in &mut self.layers {
                    // The f32 stack is not needed beside its int8 copy.
                    let (w, b) = layer.qkv.take().unwrap_or_else(|| layer.stacked_qkv());
                    let int8 = |l: &nn::Linear| {
                        Int8Linear::new(&l.ws, l.bs.as_ref().expect("BERT layers have a bias"))
                    };
                    layer.int8 = Some(Int8Layer {
                        qkv: Int8Linear::new(&w, &b),
                        attention_output: int8(&layer.attention_output),
                        intermediate: int8(&layer.intermediate),
                    });
                }
            });
            self.precision = precision;
            return;
        }
        let kind = precision.kind();
        let cast = |t: &mut Tensor| *t = t.to_kind(kind);
        let cast_norm = |n: &mut nn::LayerNorm| {
            n.ws.iter_mut().chain(n.bs.iter_mut()).for_each(cast);
        };
        let cast_linear = |l: &mut nn::Linear| {
            cast(&mut l.ws);
            l.bs.iter_mut().for_each(cast);
        };
        tch::no_grad(|| {
            cast(&mut self.word_embeddings);
            cast(&mut self.position_embeddings);
            cast(&mut self.token_type_embeddings);
            cast_norm(&mut self.embeddings_norm);
            for layer in &mut self.layers {
                for l in [
                    &mut layer.query,
                    &mut layer.key,
                    &mut layer.value,
                    &mut layer.attention_output,
                    &mut layer.intermediate,
                    &mut layer.output,
                ] {
                    cast_linear(l);
                }
                if let Some((w, b)) = &mut layer.qkv {
                    cast(w);
                    cast(b);
                }
                cast_norm(&mut layer.attention_norm);
                cast_norm(&mut layer.output_norm);
            }
        });
        self.precision = precision;
    }

    pub fn hidden_size(&self) -> i64 {
        self.hidden_size
    }

    /// While training, the lowest `blocks` blocks get no gradient, counting the embeddings as the
    /// first block: 1 freezes the embeddings (whose 30,522-row table is most of the optimiser's
    /// work), 3 the embeddings and two layers. Their part of a step is the forward pass only.
    pub fn freeze_lowest(&mut self, blocks: usize) {
        self.frozen_blocks = blocks;
    }

    /// Stacks each layer's query, key and value weights into one matrix, for inference: one matmul
    /// instead of three. Call it once the weights are final (loaded or trained); a later change to the
    /// variables would not reach the stacked copies.
    pub fn fuse(&mut self) {
        tch::no_grad(|| {
            for layer in &mut self.layers {
                layer.qkv = Some(layer.stacked_qkv());
            }
        });
    }

    /// Mean-pooled sentence vectors `[batch, hidden]`; dropout is on when `train`.
    pub fn forward_t(&self, ids: &Tensor, mask: &Tensor, train: bool) -> Result<Tensor, NlpError> {
        let packing = Packing::new(mask, self.precision, train);
        // Pooling sums up to `len` vectors: in f32 whatever the encoder's precision.
        let hidden = self
            .packed_hidden(ids, &packing, train)?
            .to_kind(Kind::Float);
        // The real tokens' rows only (the dense layers may have computed the padding too).
        let hidden = match (&packing.index, &packing.real) {
            (None, Some(real)) => hidden.index_select(0, real),
            _ => hidden,
        };
        let rows = match &packing.real {
            Some(real) => real.divide_scalar_mode(packing.len, "floor"),
            None => Tensor::arange(packing.batch, (Kind::Int64, ids.device()))
                .repeat_interleave_self_int(packing.len, 0, None),
        };
        let summed = Tensor::zeros(
            [packing.batch, self.hidden_size],
            (hidden.kind(), hidden.device()),
        )
        .index_add(0, &rows, &hidden);
        let counts = mask
            .sum_dim_intlist([1i64].as_slice(), true, hidden.kind())
            .clamp_min(1e-9);
        Ok(summed / counts)
    }

    /// The last layer's token vectors `[batch, len, hidden]` in f32, zero at padded positions.
    pub fn hidden_states_t(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        train: bool,
    ) -> Result<Tensor, NlpError> {
        let packing = Packing::new(mask, self.precision, train);
        let hidden = self
            .packed_hidden(ids, &packing, train)?
            .to_kind(Kind::Float);
        let hidden = match (&packing.index, &packing.real) {
            // Computed on the whole grid: zero the padding's rows.
            (None, Some(_)) => hidden * mask.flatten(0, -1).unsqueeze(1).to_kind(Kind::Float),
            _ => packing.unpack(&hidden),
        };
        Ok(hidden.view([packing.batch, packing.len, self.hidden_size]))
    }

    /// The last layer's vectors of the rows `packing` computes (the real tokens, or the whole grid),
    /// `[rows, hidden]`, in row-major order.
    fn packed_hidden(
        &self,
        ids: &Tensor,
        packing: &Packing,
        train: bool,
    ) -> Result<Tensor, NlpError> {
        let len = packing.len;
        let max = self.position_embeddings.size()[0];
        if len > max {
            return Err(NlpError::Model(format!(
                "{len} tokens, but the model has {max} positions"
            )));
        }
        // Block 0 is the embeddings, block i the layer i − 1; frozen blocks run without gradient.
        let frozen = if train {
            self.frozen_blocks.min(self.layers.len() + 1)
        } else {
            0
        };
        let below = frozen.saturating_sub(1);
        let lowest = || {
            let embedded = self.embed(ids, packing, train);
            self.layers[..below].iter().fold(embedded, |x, layer| {
                layer.forward_t(&x, packing, self, train)
            })
        };
        let mut x = if frozen > 0 {
            tch::no_grad(lowest)
        } else {
            lowest()
        };
        for layer in &self.layers[below..] {
            x = layer.forward_t(&x, packing, self, train);
        }
        Ok(x)
    }

    /// Word + position + token type 0, normalised: `[tokens, hidden]`.
    fn embed(&self, ids: &Tensor, packing: &Packing, train: bool) -> Tensor {
        let device = ids.device();
        let positions = Tensor::arange(packing.len, (Kind::Int64, device)).repeat([packing.batch]);
        let ids = packing
            .pack(&ids.flatten(0, -1).unsqueeze(1))
            .squeeze_dim(1);
        let positions = packing.pack(&positions.unsqueeze(1)).squeeze_dim(1);
        let x = Tensor::embedding(&self.word_embeddings, &ids, 0, false, false)
            + Tensor::embedding(&self.position_embeddings, &positions, -1, false, false)
            + self.token_type_embeddings.get(0);
        // In the compute precision from here on (a no-op for f32, and for weights already cast).
        x.apply(&self.embeddings_norm)
            .dropout(self.hidden_dropout, train)
            .to_kind(self.precision.kind())
    }

    fn activate(&self, x: &Tensor) -> Tensor {
        match self.activation {
            Activation::gelu => x.gelu("none"),
            Activation::gelu_new => x.gelu("tanh"),
            other => (other.get_function().get_fn())(x),
        }
    }
}

/// `x · wᵀ + b` in `x`'s kind: weights of another kind (f32 variables while training in bf16) are
/// cast for the product, and the gradient flows back through the cast to them.
fn linear_in_kind(x: &Tensor, l: &nn::Linear) -> Tensor {
    if l.ws.kind() == x.kind() {
        return x.apply(l);
    }
    let kind = x.kind();
    x.linear(&l.ws.to_kind(kind), l.bs.as_ref().map(|b| b.to_kind(kind)))
}

/// Layer norm in `x`'s kind (see [`linear_in_kind`]).
fn norm_in_kind(x: &Tensor, n: &nn::LayerNorm) -> Tensor {
    let kind = x.kind();
    if n.ws.as_ref().is_none_or(|w| w.kind() == kind) {
        return x.apply(n);
    }
    let cast = |t: &Option<Tensor>| t.as_ref().map(|t| t.to_kind(kind));
    x.layer_norm(
        n.normalized_shape.as_slice(),
        cast(&n.ws).as_ref(),
        cast(&n.bs).as_ref(),
        LAYER_NORM_EPS,
        false,
    )
}

impl Layer {
    fn stacked_qkv(&self) -> (Tensor, Tensor) {
        let bias = |l: &nn::Linear| {
            l.bs.as_ref()
                .expect("BERT projections have a bias")
                .shallow_clone()
        };
        (
            Tensor::cat(&[&self.query.ws, &self.key.ws, &self.value.ws], 0),
            Tensor::cat(&[bias(&self.query), bias(&self.key), bias(&self.value)], 0),
        )
    }

    /// `[tokens, hidden]` → `[tokens, hidden]`.
    fn forward_t(&self, x: &Tensor, packing: &Packing, enc: &Encoder, train: bool) -> Tensor {
        let (b, l, h, heads) = (packing.batch, packing.len, enc.hidden_size, enc.heads);
        let int8 = self.int8.as_ref().filter(|_| !train);
        let qkv = match (&self.qkv, int8) {
            (_, Some(q)) => q.qkv.forward(x),
            (Some((w, bias)), None) => x.linear(w, Some(bias)),
            (None, None) => {
                let (w, bias) = self.stacked_qkv();
                let kind = x.kind();
                x.linear(&w.to_kind(kind), Some(&bias.to_kind(kind)))
            }
        };
        // [batch·len, 3·hidden] → three [batch, heads, len, head size].
        let qkv = packing
            .unpack(&qkv)
            .view([b, l, 3, heads, h / heads])
            .permute([2, 0, 3, 1, 4]);
        let context = Tensor::scaled_dot_product_attention(
            &qkv.get(0),
            &qkv.get(1),
            &qkv.get(2),
            Some(&packing.attention_mask),
            if train { enc.attention_dropout } else { 0.0 },
            false,
            None,
        );
        let context = packing.pack(&context.transpose(1, 2).reshape([b * l, h]));
        let projected = match int8 {
            Some(q) => q.attention_output.forward(&context),
            None => linear_in_kind(&context, &self.attention_output),
        };
        let attended = norm_in_kind(
            &(projected.dropout(enc.hidden_dropout, train) + x),
            &self.attention_norm,
        );
        let inner = enc.activate(&match int8 {
            Some(q) => q.intermediate.forward(&attended),
            None => linear_in_kind(&attended, &self.intermediate),
        });
        norm_in_kind(
            &(linear_in_kind(&inner, &self.output).dropout(enc.hidden_dropout, train) + attended),
            &self.output_norm,
        )
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
    /// Loads a model folder, to run in the configured precision ([`Precision::configured`]).
    pub fn load(dir: &Path, max_len: usize) -> Result<SentenceEncoder, NlpError> {
        SentenceEncoder::load_with(dir, max_len, Precision::configured()?)
    }

    /// Loads a model folder, to run in `precision`.
    pub fn load_with(
        dir: &Path,
        max_len: usize,
        precision: Precision,
    ) -> Result<SentenceEncoder, NlpError> {
        let config = read_config(dir)?;
        let mut vs = nn::VarStore::new(Device::Cpu);
        let mut encoder = Encoder::new(&vs.root(), &config);
        vs.load(dir.join(WEIGHTS_FILE))
            .map_err(|e| NlpError::Model(format!("{}: {e}", dir.join(WEIGHTS_FILE).display())))?;
        vs.freeze();
        encoder.fuse();
        encoder.set_precision(precision);
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

    pub fn precision(&self) -> Precision {
        self.encoder.precision()
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
