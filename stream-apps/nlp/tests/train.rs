//! End-to-end training on a tiny generated BERT and generated sentences in the VADER files' format:
//! prepare trains, saves and evaluates; a second prepare reuses the folder; a loaded model predicts
//! what the trained one did; a different configuration trains again.

use std::path::{Path, PathBuf};

use mindset_nlp::{
    Label,
    data::{self, Domain},
    encoder::{Encoder, Precision, WEIGHTS_FILE},
    sentiment::{self, Manifest, PrepareOptions, Progress, Sentiment, TrainConfig},
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const POSITIVE: [&str; 5] = ["good", "great", "lovely", "excellent", "nice"];
const NEGATIVE: [&str; 5] = ["bad", "awful", "poor", "terrible", "broken"];
const FILLER: [&str; 8] = [
    "the", "item", "was", "really", "service", "product", "quite", "today",
];

fn write_tiny_bert(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut vocab = vec!["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
    vocab.extend(POSITIVE.iter().chain(&NEGATIVE).chain(&FILLER));
    std::fs::write(dir.join("vocab.txt"), vocab.join("\n") + "\n").unwrap();
    let config = serde_json::json!({
        "architectures": ["BertModel"], "model_type": "bert",
        "attention_probs_dropout_prob": 0.1, "hidden_dropout_prob": 0.1, "hidden_act": "gelu",
        "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2, "num_hidden_layers": 2,
        "initializer_range": 0.02, "layer_norm_eps": 1e-12, "max_position_embeddings": 32,
        "type_vocab_size": 2, "vocab_size": vocab.len(), "pad_token_id": 0
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    tch::manual_seed(1);
    let bert_config = mindset_nlp::encoder::read_config(dir).unwrap();
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let _encoder = Encoder::new(&vs.root(), &bert_config);
    vs.save(dir.join(WEIGHTS_FILE)).unwrap();
}

/// 300 rated sentences per domain: filler words around one sentiment word; a tenth near-neutral.
fn write_sentences(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for domain in Domain::ALL {
        let mut body = String::new();
        for i in 0..300 {
            let positive = rng.random_bool(0.5);
            let word = if positive {
                POSITIVE[rng.random_range(0..5)]
            } else {
                NEGATIVE[rng.random_range(0..5)]
            };
            let mut words: Vec<&str> = (0..rng.random_range(2..6))
                .map(|_| FILLER[rng.random_range(0..8)])
                .collect();
            words.insert(rng.random_range(0..=words.len()), word);
            let rating = if i % 10 == 0 {
                0.2
            } else if positive {
                2.1
            } else {
                -1.7
            };
            body += &format!("{}_{}\t{rating}\t{}\r\n", i / 3, i % 3, words.join(" "));
        }
        std::fs::write(dir.join(domain.file_name()), body).unwrap();
    }
}

/// A temporary folder with the tiny model in `base`, the tiny sentences in `data` and `out` for
/// the prepared model: (folder, base, data, out).
fn tiny_setup() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let (base, data_dir, out) = (
        tmp.path().join("base"),
        tmp.path().join("data"),
        tmp.path().join("out"),
    );
    write_tiny_bert(&base);
    write_sentences(&data_dir);
    (tmp, base, data_dir, out)
}

/// The training configuration of these tests: six epochs over the tiny model and sentences, enough to
/// learn them.
fn tiny_config() -> TrainConfig {
    TrainConfig {
        epochs: 6.0,
        batch_size: 16,
        learning_rate: 2e-3,
        max_len: 16,
        threads: 1,
        ..TrainConfig::default()
    }
}

/// The tiny model learned its sentences: 95 % of the held-out ones right.
fn assert_learned(manifest: &Manifest) {
    assert!(
        manifest.test_accuracy.overall() >= 0.95,
        "held-out accuracy {:?}",
        manifest.test_accuracy
    );
}

#[test]
fn prepare_trains_saves_reuses_and_loads() {
    let (_tmp, base, data_dir, out) = tiny_setup();
    let mut opts = PrepareOptions {
        base_dir: base,
        data_dir: data_dir.clone(),
        out_dir: out.clone(),
        train: tiny_config(),
    };
    let mut steps = Vec::new();
    let first = sentiment::prepare(&opts, &mut |p| {
        if let Progress::Training {
            step, steps: total, ..
        } = p
        {
            steps.push((step, total));
        }
    })
    .unwrap();
    assert!(!first.reused);
    let ds = data::load(&data_dir).unwrap();
    // The default trains on the near-neutral sentences of the training split too.
    assert!(!ds.train_neutral.is_empty());
    let trained_on = ds.train.len() + ds.train_neutral.len();
    let per_epoch = trained_on.div_ceil(16);
    assert_eq!(steps.len(), 6 * per_epoch);
    assert_eq!(steps.last(), Some(&(6 * per_epoch, 6 * per_epoch)));
    let m = &first.manifest;
    assert_eq!(
        (m.train_examples, m.test_examples),
        (trained_on, ds.test.len())
    );
    assert_learned(m);

    let again = sentiment::prepare(&opts, &mut |p| {
        assert!(
            !matches!(p, Progress::Training { .. }),
            "a prepared model is not trained again"
        )
    })
    .unwrap();
    assert!(again.reused);
    assert_eq!(again.manifest, first.manifest);

    // In f32, the precision it was trained and scored in.
    let model = Sentiment::load_with(&out, Precision::F32).unwrap();
    let (acc, _vader) = sentiment::evaluate(&model, &ds).unwrap();
    assert_eq!(
        acc, m.test_accuracy,
        "the saved model predicts what the trained one did"
    );
    let p = model
        .predict(&["the service was excellent", "quite broken today"])
        .unwrap();
    assert_eq!((p[0].label, p[1].label), (Label::Positive, Label::Negative));
    assert!(p[0].score > 0.0 && p[1].score < 0.0);

    opts.train.epochs = 1.0;
    let retrained = sentiment::prepare(&opts, &mut |_| {}).unwrap();
    assert!(!retrained.reused, "another configuration is another model");
    assert_ne!(retrained.manifest.key, first.manifest.key);
}

#[test]
fn learning_rate_warms_up_then_decays_to_zero() {
    let lr = |s| sentiment::learning_rate(1.0, s, 10, 100);
    assert!((lr(0) - 0.1).abs() < 1e-12);
    assert!((lr(9) - 1.0).abs() < 1e-12);
    assert!((lr(10) - 1.0).abs() < 1e-12);
    assert!(lr(55) < lr(10) && lr(55) > lr(99));
    assert!(lr(99) > 0.0 && lr(99) <= 1.0 / 90.0 + 1e-12);
}

/// Each tensor of a safetensors file by name.
fn tensors(path: &Path) -> std::collections::HashMap<String, tch::Tensor> {
    tch::Tensor::read_safetensors(path)
        .unwrap()
        .into_iter()
        .collect()
}

#[test]
fn frozen_blocks_stay_as_loaded_and_soft_targets_still_learn() {
    let (_tmp, base, data_dir, out) = tiny_setup();
    let opts = PrepareOptions {
        base_dir: base.clone(),
        data_dir,
        out_dir: out.clone(),
        train: TrainConfig {
            // The embeddings and layer 0 of the tiny model's two.
            frozen_blocks: 2,
            rating_target_scale: Some(3.0),
            ..tiny_config()
        },
    };
    let prepared = sentiment::prepare(&opts, &mut |_| {}).unwrap();
    assert_learned(&prepared.manifest);
    let before = tensors(&base.join(WEIGHTS_FILE));
    let after = tensors(&out.join(WEIGHTS_FILE));
    let same = |name: &str| before[name].equal(&after[name]);
    for frozen in [
        "embeddings.word_embeddings.weight",
        "embeddings.LayerNorm.weight",
        "encoder.layer.0.attention.self.query.weight",
        "encoder.layer.0.output.dense.weight",
    ] {
        assert!(same(frozen), "{frozen} changed although frozen");
    }
    for trained in [
        "encoder.layer.1.attention.self.query.weight",
        "encoder.layer.1.output.dense.weight",
    ] {
        assert!(!same(trained), "{trained} did not change");
    }
}

#[test]
fn mixed_precision_training_learns_and_keeps_f32_weights() {
    let (tmp, base, data_dir, out) = tiny_setup();
    let config = TrainConfig {
        bf16_compute: true,
        ..tiny_config()
    };
    let opts = PrepareOptions {
        base_dir: base.clone(),
        data_dir,
        out_dir: out.clone(),
        train: config.clone(),
    };
    let prepared = sentiment::prepare(&opts, &mut |_| {}).unwrap();
    assert_learned(&prepared.manifest);
    assert_eq!(prepared.manifest.config, config);
    // bf16 products, f32 master weights: what is saved (and updated) is f32.
    let before = tensors(&base.join(WEIGHTS_FILE));
    let after = tensors(&out.join(WEIGHTS_FILE));
    for name in [
        "encoder.layer.1.attention.self.query.weight",
        "encoder.layer.1.output.dense.weight",
        "sentiment_head.weight",
    ] {
        assert_eq!(after[name].kind(), tch::Kind::Float, "{name}");
        if let Some(b) = before.get(name) {
            assert!(!b.equal(&after[name]), "{name} did not change");
        }
    }
    // Another configuration, so another model: the flag is part of the key when set.
    let f32_key = sentiment::prepare(
        &PrepareOptions {
            out_dir: tmp.path().join("f32"),
            train: TrainConfig {
                bf16_compute: false,
                ..config
            },
            ..opts
        },
        &mut |_| {},
    )
    .unwrap()
    .manifest
    .key;
    assert_ne!(f32_key, prepared.manifest.key);
}

#[test]
fn lexicon_gate_trains_saves_and_loads() {
    let (tmp, base, data_dir, out) = tiny_setup();
    let config = TrainConfig {
        lexicon_gate: true,
        ..tiny_config()
    };
    let opts = PrepareOptions {
        base_dir: base,
        data_dir: data_dir.clone(),
        out_dir: out.clone(),
        train: config.clone(),
    };
    let prepared = sentiment::prepare(&opts, &mut |_| {}).unwrap();
    assert_eq!(prepared.manifest.config, config);
    assert_learned(&prepared.manifest);
    // The head reads the pooled vector, VADER's four scores and the pooled vector times the
    // compound score.
    let saved = tensors(&out.join(WEIGHTS_FILE));
    let hidden = saved["embeddings.LayerNorm.weight"].size()[0];
    assert_eq!(
        saved["sentiment_head.weight"].size(),
        vec![2, 2 * hidden + 4]
    );
    // Loaded back, it reads the held-out sentences as well as the manifest says.
    let model = Sentiment::load_with(&out, Precision::F32).unwrap();
    let ds = data::load(&data_dir).unwrap();
    let texts: Vec<&str> = ds.test.iter().map(|e| e.text.as_str()).collect();
    let predicted = model.predict(&texts).unwrap();
    let right = predicted
        .iter()
        .zip(&ds.test)
        .filter(|(p, e)| p.label == e.label)
        .count();
    let accuracy = right as f64 / ds.test.len() as f64;
    assert!(
        (accuracy - prepared.manifest.test_accuracy.overall()).abs() < 1e-9,
        "{accuracy} against {:?}",
        prepared.manifest.test_accuracy
    );
    // Another configuration, so another model.
    let plain = sentiment::prepare(
        &PrepareOptions {
            out_dir: tmp.path().join("plain"),
            train: TrainConfig {
                lexicon_gate: false,
                ..config
            },
            ..opts
        },
        &mut |_| {},
    )
    .unwrap();
    assert_ne!(plain.manifest.key, prepared.manifest.key);
    assert_eq!(
        tensors(&tmp.path().join("plain").join(WEIGHTS_FILE))["sentiment_head.weight"].size(),
        vec![2, hidden + 4]
    );
}
