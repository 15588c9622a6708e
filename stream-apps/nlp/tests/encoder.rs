//! The encoder loads the real all-MiniLM-L6-v2 weights and computes what rust-bert computes over the
//! same local files: the same token vectors as rust-bert's `BertModel` (a batch with padding, so the
//! packing and the attention mask are exercised), and the same sentence embeddings as rust-bert's
//! sentence-embeddings pipeline. In bf16 it computes nearly the same embeddings as in f32.

mod common;

use mindset_nlp::encoder::{self, Encoder, Precision, SentenceEncoder, WEIGHTS_FILE};
use rust_bert::{
    bert::{BertEmbeddings, BertModel},
    pipelines::{
        common::ModelType,
        sentence_embeddings::{SentenceEmbeddingsConfig, SentenceEmbeddingsModel},
    },
    resources::LocalResource,
};

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

#[test]
fn minilm_embeddings_match_the_rust_bert_pipeline() {
    tch::set_num_threads(1);
    let (dir, _) = common::fetched();
    let local = |f: &str| Box::new(LocalResource::from(dir.join(f)));
    let pipeline = SentenceEmbeddingsModel::new(SentenceEmbeddingsConfig {
        modules_config_resource: local("modules.json"),
        transformer_type: ModelType::Bert,
        transformer_config_resource: local("config.json"),
        transformer_weights_resource: local("model.safetensors"),
        pooling_config_resource: local("1_Pooling/config.json"),
        dense_config_resource: None,
        dense_weights_resource: None,
        sentence_bert_config_resource: local("sentence_bert_config.json"),
        tokenizer_config_resource: local("tokenizer_config.json"),
        tokenizer_vocab_resource: local("vocab.txt"),
        tokenizer_merges_resource: None,
        device: tch::Device::Cpu,
        kind: None,
    })
    .expect("rust-bert pipeline over the local files");
    let texts = [
        "The delivery was fast and the shoes fit perfectly.",
        "My order arrived quickly and the shoes are a perfect fit.",
        "Quarterly interest rates were left unchanged by the central bank.",
        "short",
    ];
    let expected = pipeline.encode(&texts).unwrap();
    let ours = SentenceEncoder::load_with(&dir, 128, Precision::F32).unwrap();
    let got = ours.encode(&texts, 2).unwrap();
    assert_eq!(got.size(), [4, 384]);
    for (i, want) in expected.iter().enumerate() {
        let row: Vec<f32> = Vec::try_from(got.get(i as i64)).unwrap();
        let c = cosine(&row, want);
        assert!(
            c > 0.9999,
            "text {i}: cosine {c} to the pipeline's embedding"
        );
    }
    let row = |i: i64| Vec::<f32>::try_from(got.get(i)).unwrap();
    let paraphrase = cosine(&row(0), &row(1));
    let unrelated = cosine(&row(0), &row(2));
    assert!(
        paraphrase > 0.7 && unrelated < 0.3,
        "paraphrase {paraphrase}, unrelated {unrelated}"
    );
}

#[test]
fn minilm_token_vectors_match_rust_bert_bert_model() {
    tch::set_num_threads(1);
    let (dir, _) = common::fetched();
    let config = encoder::read_config(&dir).unwrap();
    let mut theirs_vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let theirs: BertModel<BertEmbeddings> =
        BertModel::new_with_optional_pooler(theirs_vs.root(), &config, false);
    theirs_vs.load(dir.join(WEIGHTS_FILE)).unwrap();
    let mut ours_vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let mut ours = Encoder::new(&ours_vs.root(), &config);
    ours_vs.load(dir.join(WEIGHTS_FILE)).unwrap();

    let tokenizer = encoder::load_tokenizer(&dir).unwrap();
    // Much padding (the dense layers skip it), then little (they compute the whole grid).
    let much = [
        "Not what I expected: the zipper broke after two days and support never answered.",
        "Great value.",
        "The film is long, but its last hour is worth every minute of the first two.",
    ];
    let little = [
        "Not what I expected: the zipper broke after two days and support never answered.",
        "Not what I expected: the zipper broke after two days and nobody answered.",
    ];
    for (texts, padded) in [(&much[..], 0.1..1.0), (&little[..], 0.0..0.1)] {
        let ids = encoder::tokenize(&tokenizer, texts, 64);
        let seqs: Vec<&[i64]> = ids.iter().map(Vec::as_slice).collect();
        let (t_ids, mask) = encoder::pad_batch(&seqs, tch::Device::Cpu);
        let share = 1.0 - mask.mean(tch::Kind::Float).double_value(&[]);
        assert!(
            share > padded.start && share < padded.end,
            "padding share {share}"
        );
        let want = tch::no_grad(|| {
            theirs
                .forward_t(
                    Some(&t_ids),
                    Some(&mask),
                    None,
                    None,
                    None,
                    None,
                    None,
                    false,
                )
                .unwrap()
                .hidden_state
        });
        let mean_want = encoder::mean_pool(&want, &mask);
        for fused in [false, true] {
            if fused {
                ours.fuse();
            }
            let got = tch::no_grad(|| ours.hidden_states_t(&t_ids, &mask, false)).unwrap();
            assert_eq!(got.size(), want.size());
            // Padded positions are zero in ours and ignored by every consumer; compare real tokens.
            let real = mask.unsqueeze(-1).to_kind(tch::Kind::Float);
            let at_padding = (&got * (-&real + 1.0)).abs().max().double_value(&[]);
            assert_eq!(
                at_padding, 0.0,
                "padding {share}: non-zero at padded positions"
            );
            let diff = ((&got - &want) * &real).abs().max().double_value(&[]);
            let scale = (&want * &real).abs().max().double_value(&[]);
            assert!(
                diff < 1e-4 * scale.max(1.0),
                "padding {share}, fused {fused}: token vectors differ by {diff} (largest value {scale})"
            );
            let pooled = tch::no_grad(|| ours.forward_t(&t_ids, &mask, false)).unwrap();
            let pooled_diff = (&pooled - &mean_want).abs().max().double_value(&[]);
            assert!(
                pooled_diff < 1e-4,
                "padding {share}, fused {fused}: pooled vectors differ by {pooled_diff}"
            );
        }
        // The padding of the shorter text changes nothing: alone it gets the same vector.
        let (alone, alone_mask) = encoder::pad_batch(&seqs[1..2], tch::Device::Cpu);
        let single = tch::no_grad(|| ours.forward_t(&alone, &alone_mask, false)).unwrap();
        let batched = tch::no_grad(|| ours.forward_t(&t_ids, &mask, false))
            .unwrap()
            .get(1);
        let diff = (single.get(0) - batched).abs().max().double_value(&[]);
        assert!(
            diff < 1e-5,
            "padding {share}: a text's vector depends on its batch: {diff}"
        );
    }
}

const TEXTS: [&str; 5] = [
    "The delivery was fast and the shoes fit perfectly.",
    "My order arrived quickly and the shoes are a perfect fit.",
    "Quarterly interest rates were left unchanged by the central bank.",
    "I am furious: the refund never came and nobody answers my emails!!!",
    "short",
];

/// What a precision other than f32 does to [`TEXTS`]' embeddings: each text's cosine to its f32
/// embedding, and the cosine between the last text encoded alone and beside the one before it.
/// Checks on the way that paraphrases stay close and topics apart.
fn against_f32(precision: Precision) -> (Vec<f32>, f32) {
    tch::set_num_threads(1);
    let (dir, _) = common::fetched();
    let f32_encoder = SentenceEncoder::load_with(&dir, 128, Precision::F32).unwrap();
    let encoder = SentenceEncoder::load_with(&dir, 128, precision).unwrap();
    assert_eq!(encoder.precision(), precision);
    let want = f32_encoder.encode(&TEXTS, 8).unwrap();
    // Batches of 2: texts of different lengths share a batch, so the mask is exercised.
    let got = encoder.encode(&TEXTS, 2).unwrap();
    assert_eq!(got.kind(), tch::Kind::Float, "embeddings come back in f32");
    let rows = |t: &tch::Tensor, i: usize| Vec::<f32>::try_from(t.get(i as i64)).unwrap();
    let to_f32 = (0..TEXTS.len())
        .map(|i| cosine(&rows(&got, i), &rows(&want, i)))
        .collect();
    // What the models read from the embeddings survives: paraphrases stay close, topics apart.
    let paraphrase = cosine(&rows(&got, 0), &rows(&got, 1));
    let unrelated = cosine(&rows(&got, 0), &rows(&got, 2));
    assert!(
        paraphrase > 0.7 && unrelated < 0.3,
        "{}: paraphrase {paraphrase}, unrelated {unrelated}",
        precision.name()
    );
    let alone = encoder.encode(&TEXTS[4..5], 1).unwrap();
    let beside = encoder.encode(&TEXTS[3..5], 2).unwrap();
    (to_f32, cosine(&rows(&alone, 0), &rows(&beside, 1)))
}

#[test]
fn bf16_embeddings_stay_close_to_f32() {
    let (to_f32, batch) = against_f32(Precision::Bf16);
    for (i, c) in to_f32.into_iter().enumerate() {
        assert!(c > 0.995, "text {i}: bf16 cosine {c} to the f32 embedding");
    }
    // A text's bf16 vector does not depend on the texts padded beside it.
    assert!(
        batch > 0.9999,
        "a bf16 vector depends on its batch: cosine {batch}"
    );
}

#[test]
fn int8_embeddings_stay_close_to_f32() {
    let (to_f32, batch) = against_f32(Precision::Int8);
    for (i, &c) in to_f32.iter().enumerate() {
        // Not the same numbers (the products are 8-bit), but the same direction.
        assert!(
            c > INT8_MIN_COSINE && c < 0.99999,
            "text {i}: int8 cosine {c} to f32"
        );
    }
    eprintln!(
        "int8: lowest cosine to f32 {}",
        to_f32.iter().fold(1f32, |a, &b| a.min(b))
    );
    // Activations are quantised per call from the whole batch's range, so a text's vector moves a
    // little with the texts beside it (unlike f32 and bf16).
    eprintln!("int8: cosine of a text alone and in a batch {batch}");
    assert!(
        batch > INT8_MIN_COSINE,
        "int8 batch dependence: cosine {batch}"
    );
}

/// The int8 encoder's embeddings point where the f32 encoder's do, within this cosine (0.989–0.991
/// measured).
const INT8_MIN_COSINE: f32 = 0.98;

#[test]
fn precision_is_chosen_by_name() {
    assert_eq!(Precision::parse("f32").unwrap(), Precision::F32);
    assert_eq!(Precision::parse(" BF16 ").unwrap(), Precision::Bf16);
    assert_eq!(Precision::parse("int8").unwrap(), Precision::Int8);
    assert_eq!(Precision::parse("auto").unwrap(), Precision::auto());
    let err = Precision::parse("fp8").unwrap_err().to_string();
    assert!(
        err.contains("MINDSET_NLP_PRECISION") && err.contains("auto, f32, bf16 or int8"),
        "{err}"
    );
}
