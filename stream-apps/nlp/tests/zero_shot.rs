//! The zero-shot emotion and trait analysis on the real all-MiniLM-L6-v2 weights and IPIP-NEO-120
//! items: clear texts get the emotion and the trait direction a reader would give them, small talk
//! says little about traits, and results do not depend on the batch.

mod common;

use mindset_nlp::{EMOTIONS, TRAITS, encoder::Precision, zero_shot::ZeroShot};

fn load() -> ZeroShot {
    tch::set_num_threads(1);
    let (model, _) = common::fetched();
    ZeroShot::load(&model, &common::ipip()).expect("MiniLM and the IPIP items load")
}

fn trait_index(name: &str) -> usize {
    TRAITS.iter().position(|t| *t == name).unwrap()
}

#[test]
fn clear_texts_get_their_emotion() {
    let model = load();
    let cases = [
        (
            "I am furious, this is the worst customer service I have ever had!",
            "anger",
        ),
        (
            "The food smelled rotten and there was hair in it, absolutely disgusting.",
            "disgust",
        ),
        (
            "I'm scared someone stole my card details, there are charges I don't recognise.",
            "fear",
        ),
        (
            "I'm so happy with my new shoes, they are perfect and I love them!",
            "joy",
        ),
        (
            "My parcel was delivered to the front desk on Monday.",
            "neutral",
        ),
        (
            "I feel so sad, the gift arrived broken and my daughter cried all evening.",
            "sadness",
        ),
        (
            "Wow, I did not expect it to arrive a whole week early!",
            "surprise",
        ),
    ];
    let texts: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let got = model.emotions(&texts).unwrap();
    let mut wrong = Vec::new();
    for ((text, want), emotions) in cases.iter().zip(&got) {
        let sum: f32 = emotions.scores.iter().sum();
        assert!((sum - 1.0).abs() < 1e-4, "{text}: scores sum to {sum}");
        let (label, _) = emotions.dominant();
        if label != *want {
            wrong.push(format!(
                "{text:?}: {label} (want {want}) {:?}",
                emotions.scores
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "labels {EMOTIONS:?}\n{}",
        wrong.join("\n")
    );
}

#[test]
fn texts_written_to_show_a_trait_move_it_the_right_way() {
    let model = load();
    // (text, trait, expected sign of the signal)
    let cases = [
        (
            "I love big parties and meeting new people, I end up talking to everyone there.",
            "extraversion",
            1.0,
        ),
        (
            "I prefer to stay home alone; crowds and big gatherings drain me.",
            "extraversion",
            -1.0,
        ),
        (
            "I always plan ahead, keep my things tidy and finish my work on time.",
            "conscientiousness",
            1.0,
        ),
        (
            "My room is a mess, I leave my stuff lying around and do things at the last minute.",
            "conscientiousness",
            -1.0,
        ),
        (
            "I worry about everything and get stressed out and panicky very easily.",
            "neuroticism",
            1.0,
        ),
        (
            "I love poetry, art museums and getting lost in philosophical ideas.",
            "openness",
            1.0,
        ),
        (
            "I like helping others and I feel for people who are worse off than me.",
            "agreeableness",
            1.0,
        ),
    ];
    let texts: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let got = model.analyze(&texts).unwrap();
    let mut wrong = Vec::new();
    for ((text, name, sign), (_, evidence)) in cases.iter().zip(&got) {
        let t = trait_index(name);
        let (signal, weight) = (evidence.signal[t], evidence.weight[t]);
        if signal * sign <= 0.0 || weight <= 0.0 {
            wrong.push(format!(
                "{text:?}: {name} signal {signal:.2} weight {weight:.2}, cues {:?}",
                evidence.cues
            ));
        }
        assert!(
            evidence.cues.iter().any(|c| c.trait_index as usize == t),
            "{text:?}: no cue for {name}: {:?}",
            evidence.cues
        );
        for (s, w) in evidence.signal.iter().zip(&evidence.weight) {
            assert!((-1.0..=1.0).contains(s) && (0.0..=1.0).contains(w));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn small_talk_weighs_little_and_results_do_not_depend_on_the_batch() {
    // f32 is exact to float rounding; bf16's matrix products round differently with the number of
    // rows, which moves a probability by about 3e-5 (measured), far below what leaked padding would.
    for (precision, emotion_tolerance) in [(Precision::F32, 1e-5), (Precision::Bf16, 1e-4)] {
        small_talk_and_batches(precision, emotion_tolerance);
    }
}

fn small_talk_and_batches(precision: Precision, emotion_tolerance: f32) {
    tch::set_num_threads(1);
    let (dir, _) = common::fetched();
    let model = ZeroShot::load_with(&dir, &common::ipip(), precision).unwrap();
    let small_talk = [
        "Hi, thanks for the quick reply.",
        "OK, see you tomorrow.",
        "Order 5531, size M.",
    ];
    let clear = "I love big parties and meeting new people, I end up talking to everyone there.";
    let mut texts: Vec<&str> = small_talk.to_vec();
    texts.push(clear);
    let got = model.analyze(&texts).unwrap();
    let clear_weight = got[3].1.weight[trait_index("extraversion")];
    for (text, (_, evidence)) in small_talk.iter().zip(&got) {
        let max = evidence.weight.iter().cloned().fold(0.0, f32::max);
        assert!(
            max < 0.1 && max < clear_weight / 3.0,
            "{text:?}: weights {:?} (a clear text: {clear_weight})",
            evidence.weight
        );
    }
    // Alone, reversed, and twice: the same numbers.
    for (i, text) in texts.iter().enumerate() {
        let alone = model.analyze(&[text]).unwrap().remove(0);
        for k in 0..7 {
            assert!(
                (alone.0.scores[k] - got[i].0.scores[k]).abs() < emotion_tolerance,
                "{precision:?} {text}"
            );
        }
        for t in 0..5 {
            assert!(
                (alone.1.signal[t] - got[i].1.signal[t]).abs() < 1e-4,
                "{text}"
            );
            assert!(
                (alone.1.weight[t] - got[i].1.weight[t]).abs() < 1e-4,
                "{text}"
            );
        }
    }
    let again = model.analyze(&texts).unwrap();
    assert_eq!(again, got);
}
