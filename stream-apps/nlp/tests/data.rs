//! The labelled sentences and their fixed split.

mod common;

use std::collections::HashSet;

use mindset_nlp::{
    Label,
    data::{self, Domain, Split, label_of, split_of},
};

#[test]
fn split_is_a_pure_function_of_domain_and_id() {
    for domain in Domain::ALL {
        for i in 0..2000 {
            let id = format!("{i}_3");
            assert_eq!(split_of(domain, &id), split_of(domain, &id));
        }
    }
}

#[test]
fn about_a_fifth_of_groups_are_held_out() {
    for domain in Domain::ALL {
        let test = (0..10_000)
            .filter(|i| split_of(domain, &i.to_string()) == Split::Test)
            .count();
        assert!(
            (1800..=2200).contains(&test),
            "{domain}: {test} of 10000 held out"
        );
    }
}

#[test]
fn sentences_of_one_review_or_editorial_share_a_split() {
    for domain in [Domain::ProductReviews, Domain::Editorials] {
        for doc in 0..300 {
            let first = split_of(domain, &format!("{doc}_1"));
            for sentence in 2..20 {
                assert_eq!(split_of(domain, &format!("{doc}_{sentence}")), first);
            }
        }
    }
    // Tweets are their own groups: "1_1" and "1_2" are unrelated ids there.
    let tweets: HashSet<Split> = (1..50)
        .map(|s| split_of(Domain::Tweets, &format!("1_{s}")))
        .collect();
    assert_eq!(tweets.len(), 2);
}

#[test]
fn near_neutral_ratings_get_no_label() {
    assert_eq!(label_of(0.5), Some(Label::Positive));
    assert_eq!(label_of(0.49), None);
    assert_eq!(label_of(0.0), None);
    assert_eq!(label_of(-0.49), None);
    assert_eq!(label_of(-0.5), Some(Label::Negative));
    assert_eq!(label_of(-3.9), Some(Label::Negative));
}

#[test]
fn the_vader_sentences_load_labelled_and_split() {
    let (_, dir) = common::fetched();
    let ds = data::load(&dir).expect("loading the VADER sentences");
    // 23,703 rated sentences in the four files; 4,244 have a mean rating in (-0.5, 0.5).
    assert_eq!(ds.train.len() + ds.test.len() + ds.neutral, 23_703);
    assert_eq!(ds.neutral, 4_244);
    // Of those, the ones in the training split are kept apart for soft-target training.
    assert_eq!(ds.train_neutral.len(), 3_349);
    for e in &ds.train_neutral {
        assert!(e.rating.abs() < 0.5, "{} {}", e.id, e.rating);
        assert_eq!(
            e.label,
            if e.rating >= 0.0 {
                Label::Positive
            } else {
                Label::Negative
            }
        );
    }
    let neutral_ids: HashSet<(Domain, &str)> = ds
        .train_neutral
        .iter()
        .map(|e| (e.domain, e.id.as_str()))
        .collect();
    let train: HashSet<(Domain, &str)> =
        ds.train.iter().map(|e| (e.domain, e.id.as_str())).collect();
    let test: HashSet<(Domain, &str)> = ds.test.iter().map(|e| (e.domain, e.id.as_str())).collect();
    assert_eq!(train.len(), ds.train.len(), "ids are unique within train");
    assert_eq!(test.len(), ds.test.len(), "ids are unique within test");
    assert!(train.is_disjoint(&test));
    assert!(neutral_ids.is_disjoint(&test) && neutral_ids.is_disjoint(&train));
    // No near-neutral sentence of a held-out group (a review, an editorial) is trained on.
    let held_out_groups: HashSet<(Domain, &str)> = ds
        .test
        .iter()
        .map(|e| (e.domain, e.id.split('_').next().unwrap()))
        .collect();
    assert!(ds.train_neutral.iter().all(|e| {
        !matches!(e.domain, Domain::ProductReviews | Domain::Editorials)
            || !held_out_groups.contains(&(e.domain, e.id.split('_').next().unwrap()))
    }));
    for domain in Domain::ALL {
        let n_train = ds.train.iter().filter(|e| e.domain == domain).count();
        let n_test = ds.test.iter().filter(|e| e.domain == domain).count();
        let share = n_test as f64 / (n_train + n_test) as f64;
        assert!(
            (0.14..0.26).contains(&share),
            "{domain}: {share:.3} held out"
        );
        for label in [Label::Negative, Label::Positive] {
            assert!(
                ds.test
                    .iter()
                    .any(|e| e.domain == domain && e.label == label)
            );
        }
    }
    for e in ds.train.iter().chain(&ds.test) {
        assert_eq!(label_of(e.rating), Some(e.label));
        assert!(!e.text.is_empty());
    }
    // Loading again gives the same split and digest.
    let again = data::load(&dir).unwrap();
    assert_eq!(again.digest, ds.digest);
    assert_eq!(again.test, ds.test);
}
