//! The VADER baseline.

use mindset_nlp::{Label, lexicon::Lexicon};

#[test]
fn vader_classifies_obvious_sentences() {
    let lex = Lexicon::new();
    for text in [
        "I love this phone, it is wonderful!",
        "Great service and a very friendly team :)",
        "The best purchase I made this year.",
    ] {
        let p = lex.classify(text);
        assert_eq!(p.label, Label::Positive, "{text}");
        assert!(p.score > 0.5, "{text}: {}", p.score);
    }
    for text in [
        "This is terrible, I hate it.",
        "Awful quality, broke after one day. Very disappointed.",
        "The worst purchase ever, horrible and useless.",
    ] {
        let p = lex.classify(text);
        assert_eq!(p.label, Label::Negative, "{text}");
        assert!(p.score < -0.5, "{text}: {}", p.score);
    }
    assert!(
        lex.compound("not good") < 0.0,
        "negation flips the polarity"
    );
}
