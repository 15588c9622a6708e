//! A RoBERTa emotion folder (tiny config, random weights, a tiny byte-level BPE vocabulary, all written
//! here) loads with the weights written: its probabilities equal a forward pass of the generating model
//! with the checkpoint's labels mapped onto `EMOTIONS` by name, and a text's scores do not depend on the
//! texts padded beside it. Checkpoints whose labels are not the seven emotions are refused.

use std::path::Path;

use mindset_nlp::{
    EMOTIONS,
    emotion::EmotionModel,
    roberta::{MERGES_FILE, RobertaEmotion, VOCAB_FILE, WEIGHTS_FILE, emotion_config},
};
use rust_bert::{bert::BertConfig, roberta::RobertaForSequenceClassification};
use tch::{Device, Kind, Tensor, nn};

/// The checkpoint's own label order, not the one of `EMOTIONS`.
const SHUFFLED: [&str; 7] = [
    "joy", "anger", "Neutral", "fear", "surprise", "sadness", "disgust",
];

/// Writes vocab.json and merges.txt: the five special tokens, the letters, `Ġ` (a space, in byte-level
/// BPE) and a few merges. Returns the vocabulary size.
fn write_tokenizer(dir: &Path) -> i64 {
    let mut tokens: Vec<String> = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    tokens.extend(('a'..='z').map(|c| c.to_string()));
    tokens.push("Ġ".into());
    let merges = [
        ("Ġ", "t"),
        ("h", "e"),
        ("Ġt", "he"),
        ("Ġ", "l"),
        ("o", "v"),
        ("Ġl", "ov"),
        ("Ġlov", "e"),
    ];
    for (a, b) in merges {
        tokens.push(format!("{a}{b}"));
    }
    let vocab: serde_json::Map<String, serde_json::Value> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), serde_json::Value::from(i)))
        .collect();
    std::fs::write(
        dir.join(VOCAB_FILE),
        serde_json::Value::Object(vocab).to_string(),
    )
    .unwrap();
    let mut body = String::from("#version: 0.2\n");
    for (a, b) in merges {
        body.push_str(&format!("{a} {b}\n"));
    }
    std::fs::write(dir.join(MERGES_FILE), body).unwrap();
    tokens.len() as i64
}

/// A folder with random weights (seeded) and `labels`; returns the generating model.
fn write_folder(dir: &Path, labels: &[&str]) -> (nn::VarStore, RobertaForSequenceClassification) {
    std::fs::create_dir_all(dir).unwrap();
    let vocab_size = write_tokenizer(dir);
    let config = emotion_config(32, 2, 4, 64, vocab_size, labels);
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let config: BertConfig = serde_json::from_value(config).unwrap();
    tch::manual_seed(11);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = RobertaForSequenceClassification::new(vs.root(), &config).unwrap();
    vs.save(dir.join(WEIGHTS_FILE)).unwrap();
    (vs, model)
}

#[test]
fn a_generated_emotion_folder_loads_and_scores_as_its_weights_say() {
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("emotion");
    let (_vs, reference) = write_folder(&dir, &SHUFFLED);

    let model = RobertaEmotion::load(&dir).unwrap();
    let texts = [
        "i love the hat",
        "the",
        "zq",
        "i love love love the red hat and the blue box",
    ];
    let batched = model.emotions(&texts).unwrap();
    assert_eq!(batched.len(), texts.len());
    for (text, emotions) in texts.iter().zip(&batched) {
        let ids = model.tokenize(&[text]).remove(0);
        assert!(ids.len() > 2, "{text}: tokenized to {ids:?}");
        let logits = tch::no_grad(|| {
            reference
                .forward_t(
                    Some(&Tensor::from_slice(&ids).unsqueeze(0)),
                    None,
                    None,
                    None,
                    None,
                    false,
                )
                .logits
        });
        let p: Vec<f32> = Vec::try_from(logits.softmax(-1, Kind::Float).flatten(0, -1)).unwrap();
        for (k, emotion) in EMOTIONS.iter().enumerate() {
            let id = SHUFFLED
                .iter()
                .position(|l| l.eq_ignore_ascii_case(emotion))
                .unwrap();
            assert!(
                (emotions.scores[k] - p[id]).abs() < 1e-5,
                "{text}: {emotion} {} vs {}",
                emotions.scores[k],
                p[id]
            );
        }
        let sum: f32 = emotions.scores.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "{text}: scores sum to {sum}");
        let alone = model.emotions(&[text]).unwrap().remove(0);
        for (k, emotion) in EMOTIONS.iter().enumerate() {
            assert!(
                (alone.scores[k] - emotions.scores[k]).abs() < 1e-5,
                "{text}: batch-dependent score for {emotion}"
            );
        }
    }

    let chosen = EmotionModel::load(Some(&dir), Path::new("/nonexistent-minilm")).unwrap();
    assert_eq!(chosen.emotions(&texts).unwrap(), batched);
}

#[test]
fn a_checkpoint_whose_labels_do_not_map_is_refused_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    let sentiment = tmp.path().join("sentiment");
    write_folder(&sentiment, &["NEGATIVE", "POSITIVE"]);
    let err = RobertaEmotion::load(&sentiment)
        .err()
        .expect("2 labels refused");
    assert!(err.to_string().contains("1=positive"), "{err}");

    let other = tmp.path().join("other");
    write_folder(
        &other,
        &[
            "anger",
            "disgust",
            "fear",
            "happiness",
            "neutral",
            "sadness",
            "surprise",
        ],
    );
    let err = RobertaEmotion::load(&other)
        .err()
        .expect("happiness refused");
    let msg = err.to_string();
    assert!(
        msg.contains("no \"joy\"") && msg.contains("3=happiness"),
        "{msg}"
    );
}

#[test]
fn a_folder_without_weights_is_refused_with_the_file_named() {
    let tmp = tempfile::tempdir().unwrap();
    let err = RobertaEmotion::load(tmp.path())
        .err()
        .expect("empty folder refused");
    assert!(err.to_string().contains("config.json"), "{err}");
    assert!(EmotionModel::load(Some(tmp.path()), tmp.path()).is_err());
}
