//! Big Five (OCEAN) evidence per text, from the IPIP-NEO-120 items used as trait prototypes on the
//! all-MiniLM-L6-v2 sentence encoder. Nothing is trained and no personality-labelled text is used.
//!
//! **Basis.** The 120 items of the IPIP-NEO-120 (Johnson 2014; IPIP items are in the public domain),
//! each a first-person statement ("I love large parties.") with its trait and keying: `+` when agreeing
//! with it raises the trait, `-` when it lowers it. `infra/fetch-nlp.sh` takes them from the `ffm`
//! 0.1.0 wheel (MIT) and writes `index, trait, keying, item` rows to `$MINDSET_NLP_IPIP`.
//!
//! **Per text** ([`evidence`]), with `s_i` the cosine similarity of the text to item `i`:
//! - `r_i = max(0, s_i − SIMILARITY_FLOOR)`: how far the text matches the item beyond the similarity an
//!   unrelated sentence has ([`SIMILARITY_FLOOR`]).
//! - Per trait, `R+` and `R−` are the means of the [`TOP_K`] largest `r_i` among its `+` and its `-`
//!   items (top-k rather than all, so a trait with more items of one keying is not pulled that way).
//! - `signal = (R+ − R−) / (R+ + R−)` in [-1, 1]: the direction, +1 when only `+` items match; 0 when
//!   nothing matches.
//! - `weight = max_i r_i / (1 − SIMILARITY_FLOOR)` in [0, 1]: how strongly the text matches any item of
//!   the trait at all, so small talk weighs about 0. Signal is the direction, weight the strength.
//! - `cues`: the items behind the signals, each with its signed share of its trait's signal
//!   (`±(r_i / TOP_K) / (R+ + R−)`; a trait's shares sum to its signal), strongest (share × weight)
//!   first, at most [`MAX_CUES`]. The cue text is the item with its keying, e.g.
//!   `"I love large parties. (+)"`.
//!
//! **Per customer** (enrich accumulates; not done here): for each trait,
//! `score = 0.5 + 0.5 · Σ(weight · signal) / Σ weight` over the customer's texts, in [0, 1] (0.5, no
//! lean, when Σ weight = 0), with a confidence that grows with `Σ weight`, e.g.
//! `Σ weight / (Σ weight + 1)`: one text that clearly matches an item counts about as much as the
//! prior. A replayed text must not be counted twice (the nlp core already yields nothing for an event id
//! it has seen).
//!
//! **Limits.** Sentence embeddings match topic more than stance: "I hate parties" is close to "I love
//! large parties." too. Top-k on both keyings tempers this (both sides match, so the signal is smaller)
//! but does not remove it. No labelled personality data was available to measure accuracy; the tests
//! only check clear cases on the real encoder (see the README).

use std::path::{Path, PathBuf};

use tch::Tensor;

use crate::{Cue, NlpError, TRAITS, TraitEvidence, encoder::SentenceEncoder};

/// A text's similarity to an item below this says nothing about the item. Set a little above the
/// cosine of unrelated sentences on this encoder; `benches/emotion_accuracy.rs` measures it against the
/// 4,000 held-out VADER sentences (tweets, movie and product reviews, editorials: texts mostly not
/// about their writer's personality): their similarities to the items have a median of 0.07 and a
/// 99th percentile of 0.28, and 5–16 % of them carry any weight for a given trait.
pub const SIMILARITY_FLOOR: f32 = 0.30;
/// Items per keying averaged into `R+` and `R−`.
pub const TOP_K: usize = 3;
/// Cues kept per text.
pub const MAX_CUES: usize = 5;

/// One inventory item.
#[derive(Clone, Debug, PartialEq)]
pub struct IpipItem {
    /// Index into [`TRAITS`].
    pub trait_index: u8,
    /// +1 when agreeing with the item raises the trait, −1 when it lowers it.
    pub keying: i8,
    pub text: String,
}

/// The item file: `$MINDSET_NLP_IPIP`, else `$MINDSET_CACHE/data/ipip/ipip-neo-120.tsv` (where
/// `infra/fetch-nlp.sh` puts it).
pub fn default_ipip_path() -> PathBuf {
    if let Some(path) = std::env::var_os("MINDSET_NLP_IPIP") {
        return path.into();
    }
    crate::cache_dir().join("data/ipip/ipip-neo-120.tsv")
}

/// Reads the items (`index\ttrait\tkeying\titem` with a header line). Refuses a file in which a trait
/// lacks `+` or `-` items, or a row it cannot read, naming the line.
pub fn read_items(path: &Path) -> Result<Vec<IpipItem>, NlpError> {
    let body = std::fs::read_to_string(path).map_err(|source| NlpError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |line: usize, what: &str| {
        NlpError::Model(format!("{}, line {}: {what}", path.display(), line + 1))
    };
    let mut items = Vec::new();
    for (n, line) in body.lines().enumerate() {
        if n == 0 || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [_, trait_name, keying, text] = fields[..] else {
            return Err(bad(n, "expected 4 tab-separated fields"));
        };
        let trait_index = TRAITS
            .iter()
            .position(|t| *t == trait_name)
            .ok_or_else(|| bad(n, &format!("unknown trait {trait_name:?}")))?;
        let keying = match keying {
            "+" => 1,
            "-" => -1,
            other => return Err(bad(n, &format!("keying {other:?} is neither + nor -"))),
        };
        items.push(IpipItem {
            trait_index: trait_index as u8,
            keying,
            text: text.to_string(),
        });
    }
    for (t, name) in TRAITS.iter().enumerate() {
        for keying in [1, -1] {
            if !items
                .iter()
                .any(|i| i.trait_index as usize == t && i.keying == keying)
            {
                return Err(NlpError::Model(format!(
                    "{}: {name} has no {}-keyed item",
                    path.display(),
                    if keying > 0 { '+' } else { '-' }
                )));
            }
        }
    }
    Ok(items)
}

/// The items and their embeddings.
pub struct TraitPrototypes {
    items: Vec<IpipItem>,
    /// `[items, dim]`, unit rows.
    embeddings: Tensor,
}

impl TraitPrototypes {
    /// Embeds the items with `encoder`.
    pub fn new(
        encoder: &SentenceEncoder,
        items: Vec<IpipItem>,
    ) -> Result<TraitPrototypes, NlpError> {
        let texts: Vec<&str> = items.iter().map(|i| i.text.as_str()).collect();
        let embeddings = encoder.encode(&texts, 32)?;
        Ok(TraitPrototypes { items, embeddings })
    }

    pub fn items(&self) -> &[IpipItem] {
        &self.items
    }

    /// Cosine similarity of each text embedding (unit rows `[n, dim]`) to each item: `[n, items]`.
    pub fn similarities(&self, embeddings: &Tensor) -> Tensor {
        embeddings.matmul(&self.embeddings.tr())
    }

    /// Evidence per text for unit-length embeddings `[n, dim]`.
    pub fn evidence(&self, embeddings: &Tensor) -> Result<Vec<TraitEvidence>, NlpError> {
        let sims: Vec<f32> =
            Vec::try_from(self.similarities(embeddings).contiguous().flatten(0, -1))?;
        if self.items.is_empty() {
            return Ok(vec![
                evidence(&self.items, &[]);
                embeddings.size()[0] as usize
            ]);
        }
        Ok(sims
            .chunks_exact(self.items.len())
            .map(|row| evidence(&self.items, row))
            .collect())
    }
}

/// The evidence of one text from its similarity to each item (`similarities[i]` to `items[i]`), as the
/// module documentation describes. Pure: the same numbers give the same evidence.
pub fn evidence(items: &[IpipItem], similarities: &[f32]) -> TraitEvidence {
    assert_eq!(items.len(), similarities.len(), "one similarity per item");
    let mut signal = [0f32; 5];
    let mut weight = [0f32; 5];
    let mut cues: Vec<(f32, Cue)> = Vec::new();
    for t in 0..TRAITS.len() {
        // (r, item index) per keying, largest first.
        let matched = |keying: i8| {
            let mut rs: Vec<(f32, usize)> = items
                .iter()
                .zip(similarities)
                .enumerate()
                .filter(|(_, (item, _))| item.trait_index as usize == t && item.keying == keying)
                .map(|(i, (_, &s))| ((s - SIMILARITY_FLOOR).max(0.0), i))
                .collect();
            rs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            rs.truncate(TOP_K);
            rs
        };
        let plus = matched(1);
        let minus = matched(-1);
        let mean = |rs: &[(f32, usize)]| rs.iter().map(|r| r.0).sum::<f32>() / TOP_K as f32;
        let (r_plus, r_minus) = (mean(&plus), mean(&minus));
        let total = r_plus + r_minus;
        if total <= 0.0 {
            continue;
        }
        signal[t] = (r_plus - r_minus) / total;
        let strongest = plus.iter().chain(&minus).map(|r| r.0).fold(0.0, f32::max);
        weight[t] = (strongest / (1.0 - SIMILARITY_FLOOR)).min(1.0);
        for &(r, i) in plus.iter().chain(&minus) {
            if r <= 0.0 {
                continue;
            }
            let item = &items[i];
            let contribution = f32::from(item.keying) * (r / TOP_K as f32) / total;
            cues.push((
                contribution.abs() * weight[t],
                Cue {
                    trait_index: t as u8,
                    cue: format!(
                        "{} ({})",
                        item.text,
                        if item.keying > 0 { '+' } else { '-' }
                    ),
                    contribution,
                },
            ));
        }
    }
    cues.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(a.1.trait_index.cmp(&b.1.trait_index))
            .then(a.1.cue.cmp(&b.1.cue))
    });
    cues.truncate(MAX_CUES);
    TraitEvidence {
        signal,
        weight,
        cues: cues.into_iter().map(|(_, c)| c).collect(),
    }
}
