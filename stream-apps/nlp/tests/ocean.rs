//! Trait evidence from similarities to IPIP items (no model): the arithmetic of `ocean::evidence`, and
//! reading the item file.

use mindset_nlp::{
    TRAITS,
    ocean::{IpipItem, MAX_CUES, SIMILARITY_FLOOR, TOP_K, evidence, read_items},
};

fn item(trait_index: u8, keying: i8, text: &str) -> IpipItem {
    IpipItem {
        trait_index,
        keying,
        text: text.into(),
    }
}

/// Extraversion (index 2): three + items, two - items; conscientiousness (1): one of each.
fn items() -> Vec<IpipItem> {
    vec![
        item(2, 1, "I love large parties."),
        item(2, 1, "I make friends easily."),
        item(2, 1, "I talk to a lot of different people at parties."),
        item(2, -1, "I prefer to be alone."),
        item(2, -1, "I avoid crowds."),
        item(1, 1, "I like to tidy up."),
        item(1, -1, "I leave a mess in my room."),
    ]
}

#[test]
fn nothing_above_the_floor_is_no_evidence() {
    let sims = [SIMILARITY_FLOOR - 0.01; 7];
    let e = evidence(&items(), &sims);
    assert_eq!(e.signal, [0.0; 5]);
    assert_eq!(e.weight, [0.0; 5]);
    assert!(e.cues.is_empty());
}

#[test]
fn only_plus_items_matching_gives_plus_one_and_cues_sum_to_the_signal() {
    let f = SIMILARITY_FLOOR;
    let sims = [
        f + 0.3,
        f + 0.1,
        f - 0.1,
        f - 0.2,
        f - 0.05,
        f - 0.1,
        f - 0.1,
    ];
    let e = evidence(&items(), &sims);
    assert!((e.signal[2] - 1.0).abs() < 1e-6, "{:?}", e.signal);
    let w = 0.3 / (1.0 - f);
    assert!((e.weight[2] - w).abs() < 1e-5, "{:?}", e.weight);
    assert_eq!(e.weight[1], 0.0);
    let shares: f32 = e
        .cues
        .iter()
        .filter(|c| c.trait_index == 2)
        .map(|c| c.contribution)
        .sum();
    assert!((shares - e.signal[2]).abs() < 1e-5, "{shares}");
    assert_eq!(e.cues[0].cue, "I love large parties. (+)");
    assert!(e.cues[0].contribution > e.cues[1].contribution);
}

#[test]
fn both_keyings_matching_gives_their_balance() {
    let f = SIMILARITY_FLOOR;
    // + side: 0.2 and 0.1 above the floor; - side: 0.3 above.
    let sims = [
        f + 0.2,
        f + 0.1,
        f - 0.1,
        f + 0.3,
        f - 0.1,
        f + 0.4,
        f + 0.4,
    ];
    let e = evidence(&items(), &sims);
    let (rp, rm) = (0.3 / TOP_K as f32, 0.3 / TOP_K as f32);
    assert!((e.signal[2] - (rp - rm) / (rp + rm)).abs() < 1e-5);
    // Equal matches of a + and a - item cancel; the weight still says the trait was addressed.
    assert!(e.signal[1].abs() < 1e-6);
    assert!((e.weight[1] - 0.4 / (1.0 - f)).abs() < 1e-5);
    assert!(e.cues.len() <= MAX_CUES);
    let minus = e
        .cues
        .iter()
        .find(|c| c.cue == "I prefer to be alone. (-)")
        .expect("the - item is a cue");
    assert!(minus.contribution < 0.0);
}

#[test]
fn more_items_of_one_keying_do_not_pull_the_signal_that_way() {
    // One + item and six - items; the + item and one - item match equally, the rest not at all. Top-k
    // means weigh one match alike on both sides, so the signal is 0 (a mean over all items of each
    // keying would give (0.2 - 0.2/6) / (0.2 + 0.2/6) = 0.71).
    let mut items = vec![item(0, 1, "p")];
    for i in 0..6 {
        items.push(item(0, -1, &format!("m{i}")));
    }
    let mut sims = vec![SIMILARITY_FLOOR - 0.1; items.len()];
    sims[0] = SIMILARITY_FLOOR + 0.2;
    sims[4] = SIMILARITY_FLOOR + 0.2;
    let e = evidence(&items, &sims);
    assert!(e.signal[0].abs() < 1e-6, "{:?}", e.signal);
    assert!(e.weight[0] > 0.0);
}

#[test]
fn the_item_file_is_read_and_a_broken_one_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("items.tsv");
    let mut body = String::from("index\ttrait\tkeying\titem\n");
    for (t, name) in TRAITS.iter().enumerate() {
        body.push_str(&format!("{}\t{name}\t+\tI am high on {name}.\n", 2 * t));
        body.push_str(&format!("{}\t{name}\t-\tI am low on {name}.\n", 2 * t + 1));
    }
    std::fs::write(&good, &body).unwrap();
    let items = read_items(&good).unwrap();
    assert_eq!(items.len(), 10);
    assert_eq!(items[3], item(1, -1, "I am low on conscientiousness."));

    let missing_minus = tmp.path().join("no-minus.tsv");
    std::fs::write(
        &missing_minus,
        body.lines()
            .filter(|l| !l.contains("low on openness"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    let err = read_items(&missing_minus).unwrap_err().to_string();
    assert!(err.contains("openness has no --keyed item"), "{err}");

    let bad_keying = tmp.path().join("bad.tsv");
    std::fs::write(
        &bad_keying,
        body.replace("\t+\tI am high on agree", "\t?\tI am high on agree"),
    )
    .unwrap();
    let err = read_items(&bad_keying).unwrap_err().to_string();
    assert!(err.contains("line 8") && err.contains("\"?\""), "{err}");
}
