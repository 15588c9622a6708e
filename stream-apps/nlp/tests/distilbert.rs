//! A DistilBERT-SST-2-shaped model loads from a local folder with the weights written (not
//! re-initialised): its probabilities equal a forward pass of the generating model, and a text's
//! score does not depend on the texts batched with it.

use mindset_nlp::{
    Label,
    distilbert::{DistilBertSentiment, Shape, write_random},
    encoder::{load_tokenizer, tokenize},
};
use tch::{Kind, Tensor};

#[test]
fn a_generated_sst2_folder_loads_and_scores_as_its_weights_say() {
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let vocab = tmp.path().join("vocab.txt");
    let words = [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "film", "was", "good", "bad", "not",
        "very", "boring", "fun",
    ];
    std::fs::write(&vocab, words.join("\n") + "\n").unwrap();
    let dir = tmp.path().join("sst2");
    let shape = Shape {
        dim: 32,
        hidden_dim: 64,
        n_layers: 2,
        n_heads: 4,
    };
    let (_vs, reference) = write_random(&dir, shape, &vocab, 3).unwrap();

    let model = DistilBertSentiment::load(&dir).unwrap();
    let texts = [
        "the film was good",
        "not very fun",
        "boring boring film",
        "the",
    ];
    let batched = model.predict(&texts).unwrap();
    assert_eq!(batched.len(), texts.len());

    let tokenizer = load_tokenizer(&dir).unwrap();
    for (text, polarity) in texts.iter().zip(&batched) {
        let ids = tokenize(&tokenizer, &[text], 64).remove(0);
        let logits = tch::no_grad(|| {
            reference
                .forward_t(
                    Some(&Tensor::from_slice(&ids).unsqueeze(0)),
                    None,
                    None,
                    false,
                )
                .unwrap()
                .logits
        });
        let p: Vec<f32> = Vec::try_from(logits.softmax(-1, Kind::Float).flatten(0, -1)).unwrap();
        let want = if p[1] >= p[0] {
            Label::Positive
        } else {
            Label::Negative
        };
        assert_eq!(polarity.label, want, "{text}");
        let diff = (polarity.score - (p[1] - p[0])).abs();
        assert!(diff < 1e-4, "{text}: {} vs {}", polarity.score, p[1] - p[0]);
        let alone = model.predict(&[text]).unwrap()[0];
        assert!(
            (alone.score - polarity.score).abs() < 1e-4,
            "{text}: batch-dependent score"
        );
    }
}

#[test]
fn a_folder_without_weights_is_refused_with_the_file_named() {
    let tmp = tempfile::tempdir().unwrap();
    let err = DistilBertSentiment::load(tmp.path())
        .err()
        .expect("empty folder refused");
    assert!(err.to_string().contains("config.json"), "{err}");
}
