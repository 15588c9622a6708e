//! The sentiment training and evaluation data: the 23.7k human-rated sentences that come with the
//! VADER paper (Hutto & Gilbert, ICWSM 2014; `infra/fetch-nlp.sh` takes them from the
//! `vaderSentiment==3.3.2` sdist). Four domains, each a tab-separated `<id>\t<mean rating>\t<text>`
//! file, the mean rating in [-4, 4] over about 20 raters.
//!
//! **Labels.** A sentence is positive when its mean rating is ≥ +0.5, negative when ≤ −0.5, and left
//! out (near-neutral) in between: 19,459 of 23,703 sentences are kept. The same rule holds for training
//! and for every accuracy figure, the model's and VADER's.
//!
//! **Split.** Fixed and deterministic, by hashing, never by position or a random draw: a sentence is in
//! the test split when the first 8 bytes of `sha256("<domain>/<group>")`, as a big-endian integer, are
//! below 20 % of 2^64. The group is the sentence id for tweets and movie snippets, and the document
//! (the id before `_`: one review or one editorial) for product reviews and editorials, so sentences of
//! one document never sit on both sides.

use std::{
    fmt,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Label;

/// Mean ratings strictly between −0.5 and +0.5 are too close to neutral to label.
pub const NEUTRAL_BAND: f32 = 0.5;
/// Share of groups in the test split, in percent.
pub const TEST_PERCENT: u64 = 20;

/// Where a sentence comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Domain {
    Tweets,
    MovieReviews,
    ProductReviews,
    Editorials,
}

impl Domain {
    pub const ALL: [Domain; 4] = [
        Domain::Tweets,
        Domain::MovieReviews,
        Domain::ProductReviews,
        Domain::Editorials,
    ];

    /// The file holding this domain's sentences, in the `hutto_ICWSM_2014` folder.
    pub fn file_name(self) -> &'static str {
        match self {
            Domain::Tweets => "tweets_GroundTruth.txt",
            Domain::MovieReviews => "movieReviewSnippets_GroundTruth.txt",
            Domain::ProductReviews => "amazonReviewSnippets_GroundTruth.txt",
            Domain::Editorials => "nytEditorialSnippets_GroundTruth.txt",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Domain::Tweets => "tweets",
            Domain::MovieReviews => "movie reviews",
            Domain::ProductReviews => "product reviews",
            Domain::Editorials => "nyt editorials",
        }
    }

    /// The unit that is assigned to a split as a whole (see the module docs).
    fn group(self, id: &str) -> &str {
        match self {
            Domain::ProductReviews | Domain::Editorials => id.split('_').next().unwrap_or(id),
            Domain::Tweets | Domain::MovieReviews => id,
        }
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Test,
}

/// Which split a sentence belongs to; depends only on its domain and id.
pub fn split_of(domain: Domain, id: &str) -> Split {
    let digest = Sha256::digest(format!("{domain:?}/{}", domain.group(id)).as_bytes());
    let head = u64::from_be_bytes(digest[..8].try_into().expect("sha256 has 32 bytes"));
    if head < u64::MAX / 100 * TEST_PERCENT {
        Split::Test
    } else {
        Split::Train
    }
}

/// The label of a mean rating, or `None` when it is near-neutral.
pub fn label_of(rating: f32) -> Option<Label> {
    if rating >= NEUTRAL_BAND {
        Some(Label::Positive)
    } else if rating <= -NEUTRAL_BAND {
        Some(Label::Negative)
    } else {
        None
    }
}

/// One labelled sentence.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    pub domain: Domain,
    pub id: String,
    pub text: String,
    pub rating: f32,
    pub label: Label,
}

/// The labelled sentences, split, plus a digest of the files they came from.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub train: Vec<Example>,
    pub test: Vec<Example>,
    /// Near-neutral sentences left out (of both splits).
    pub neutral: usize,
    /// The near-neutral sentences of the training split, labelled by the sign of their rating
    /// (0 counts as positive): for training towards soft targets only, never scored.
    pub train_neutral: Vec<Example>,
    /// sha256 (hex) over the four files, in `Domain::ALL` order: what a trained model was trained on.
    pub digest: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("reading {path}: {source} (run infra/fetch-nlp.sh, or set MINDSET_NLP_DATA)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {reason}")]
    Parse {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// Parses one domain's file. Lines are `<id>\t<mean rating>\t<text>`; the files have CRLF endings and
/// a few movie snippets are not valid UTF-8 (read lossily).
pub fn parse(
    domain: Domain,
    body: &[u8],
    path: &Path,
) -> Result<Vec<(String, f32, String)>, DataError> {
    let body = String::from_utf8_lossy(body);
    let mut rows = Vec::new();
    for (n, line) in body.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let parse_err = |reason: String| DataError::Parse {
            path: path.to_path_buf(),
            line: n + 1,
            reason,
        };
        let mut fields = line.splitn(3, '\t');
        let (Some(id), Some(rating), Some(text)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(parse_err(format!(
                "{domain} line is not id<TAB>rating<TAB>text"
            )));
        };
        let rating: f32 = rating
            .trim()
            .parse()
            .map_err(|e| parse_err(format!("rating {rating:?}: {e}")))?;
        if !(-4.0..=4.0).contains(&rating) {
            return Err(parse_err(format!("rating {rating} outside [-4, 4]")));
        }
        rows.push((id.trim().to_string(), rating, text.trim().to_string()));
    }
    Ok(rows)
}

/// Loads the four domains from `dir` (the `hutto_ICWSM_2014` folder), labels and splits them.
pub fn load(dir: &Path) -> Result<Dataset, DataError> {
    let mut hasher = Sha256::new();
    let (mut train, mut test, mut neutral) = (Vec::new(), Vec::new(), 0);
    let mut train_neutral = Vec::new();
    for domain in Domain::ALL {
        let path = dir.join(domain.file_name());
        let body = std::fs::read(&path).map_err(|source| DataError::Read {
            path: path.clone(),
            source,
        })?;
        hasher.update(&body);
        for (id, rating, text) in parse(domain, &body, &path)? {
            let labelled = label_of(rating);
            let example = Example {
                domain,
                id,
                text,
                rating,
                label: labelled.unwrap_or(if rating >= 0.0 {
                    Label::Positive
                } else {
                    Label::Negative
                }),
            };
            match (labelled, split_of(domain, &example.id)) {
                (Some(_), Split::Train) => train.push(example),
                (Some(_), Split::Test) => test.push(example),
                (None, Split::Train) => {
                    neutral += 1;
                    train_neutral.push(example);
                }
                (None, Split::Test) => neutral += 1,
            }
        }
    }
    Ok(Dataset {
        train,
        test,
        neutral,
        train_neutral,
        digest: hex(&hasher.finalize()),
    })
}

/// The data folder: `$MINDSET_NLP_DATA`, else `$MINDSET_CACHE/data/vader/hutto_ICWSM_2014`, else
/// `$HOME/.cache/mindset/data/vader/hutto_ICWSM_2014` (where `infra/fetch-nlp.sh` puts it).
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MINDSET_NLP_DATA") {
        return dir.into();
    }
    crate::cache_dir().join("data/vader/hutto_ICWSM_2014")
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
