//! The encoder loads the real all-MiniLM-L6-v2 weights and computes the same sentence embeddings as
//! rust-bert's own sentence-embeddings pipeline over the same local files.

mod common;

use mindset_nlp::encoder::SentenceEncoder;
use rust_bert::{
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
    let ours = SentenceEncoder::load(&dir, 128).unwrap();
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
