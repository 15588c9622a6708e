//! Emotions and Big Five evidence from one MiniLM encode per batch: what the batching thread calls.
//!
//! [`ZeroShot::analyze`] embeds the batch once with all-MiniLM-L6-v2 and compares the embeddings with
//! the emotion prototypes ([`crate::emotion`]) and the IPIP items ([`crate::ocean`]). When a RoBERTa
//! emotion checkpoint is configured ([`crate::emotion::EmotionModel::Roberta`]), its emotions replace
//! the zero-shot ones and [`ZeroShot::traits`] still gives the trait evidence.

use std::path::Path;

use crate::{
    Emotions, NlpError, TraitEvidence,
    emotion::{ENCODE_BATCH, EmotionPrototypes, MAX_LEN},
    encoder::{Precision, SentenceEncoder, default_base_dir},
    ocean::{self, TraitPrototypes},
};

/// The MiniLM encoder with the emotion prototypes and the IPIP items embedded.
pub struct ZeroShot {
    encoder: SentenceEncoder,
    emotions: EmotionPrototypes,
    traits: TraitPrototypes,
}

impl ZeroShot {
    /// Loads the encoder from `base_dir` (all-MiniLM-L6-v2) and the items from `ipip_path` (the TSV
    /// `infra/fetch-nlp.sh` writes), and embeds the prototypes and items once.
    /// The encoder runs in the configured precision ([`Precision::configured`]).
    pub fn load(base_dir: &Path, ipip_path: &Path) -> Result<ZeroShot, NlpError> {
        ZeroShot::load_with(base_dir, ipip_path, Precision::configured()?)
    }

    /// [`ZeroShot::load`] with the encoder in `precision`.
    pub fn load_with(
        base_dir: &Path,
        ipip_path: &Path,
        precision: Precision,
    ) -> Result<ZeroShot, NlpError> {
        let encoder = SentenceEncoder::load_with(base_dir, MAX_LEN, precision)?;
        let emotions = EmotionPrototypes::new(&encoder)?;
        let traits = TraitPrototypes::new(&encoder, ocean::read_items(ipip_path)?)?;
        Ok(ZeroShot {
            encoder,
            emotions,
            traits,
        })
    }

    /// [`ZeroShot::load`] from `$MINDSET_NLP_MODEL` and `$MINDSET_NLP_IPIP` (or their defaults under
    /// `$MINDSET_CACHE`).
    pub fn from_env() -> Result<ZeroShot, NlpError> {
        ZeroShot::load(&default_base_dir(), &ocean::default_ipip_path())
    }

    /// Emotions and trait evidence per text, in order, from one encoder pass over the batch.
    pub fn analyze(&self, texts: &[&str]) -> Result<Vec<(Emotions, TraitEvidence)>, NlpError> {
        let embeddings = self.encoder.encode(texts, ENCODE_BATCH)?;
        let emotions = self.emotions.emotions(&embeddings)?;
        let traits = self.traits.evidence(&embeddings)?;
        Ok(emotions.into_iter().zip(traits).collect())
    }

    /// The precision the encoder runs in.
    pub fn precision(&self) -> Precision {
        self.encoder.precision()
    }

    /// Emotions per text, in order.
    pub fn emotions(&self, texts: &[&str]) -> Result<Vec<Emotions>, NlpError> {
        let embeddings = self.encoder.encode(texts, ENCODE_BATCH)?;
        self.emotions.emotions(&embeddings)
    }

    /// Trait evidence per text, in order.
    pub fn traits(&self, texts: &[&str]) -> Result<Vec<TraitEvidence>, NlpError> {
        let embeddings = self.encoder.encode(texts, ENCODE_BATCH)?;
        self.traits.evidence(&embeddings)
    }

    /// The encoder, for callers that embed texts themselves (the accuracy bench).
    pub fn encoder(&self) -> &SentenceEncoder {
        &self.encoder
    }

    pub fn emotion_prototypes(&self) -> &EmotionPrototypes {
        &self.emotions
    }

    pub fn trait_prototypes(&self) -> &TraitPrototypes {
        &self.traits
    }
}

/// The reader the app runs beside sentiment: emotions and traits zero-shot from one encode, or
/// emotions from a user's RoBERTa checkpoint with the traits still zero-shot.
pub struct TextReader {
    zero_shot: ZeroShot,
    roberta: Option<(crate::roberta::RobertaEmotion, String)>,
}

impl TextReader {
    /// The zero-shot reader, with RoBERTa emotions from `roberta_dir` when given (an error if that
    /// folder does not load: a configured model is never silently replaced).
    pub fn load(
        base_dir: &Path,
        ipip_path: &Path,
        roberta_dir: Option<&Path>,
    ) -> Result<TextReader, NlpError> {
        let roberta = match roberta_dir {
            Some(dir) => {
                let name = dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                Some((crate::roberta::RobertaEmotion::load(dir)?, name))
            }
            None => None,
        };
        Ok(TextReader {
            zero_shot: ZeroShot::load(base_dir, ipip_path)?,
            roberta,
        })
    }
}

impl crate::core::Reader for TextReader {
    fn describe(&self) -> String {
        let precision = self.zero_shot.precision().name();
        match &self.roberta {
            Some((_, name)) => {
                format!("emotions roberta:{name};traits zero-shot-minilm/{precision}+ipip-neo-120")
            }
            None => format!(
                "emotions zero-shot-minilm/{precision};traits zero-shot-minilm/{precision}+ipip-neo-120"
            ),
        }
    }

    fn read(&self, texts: &[&str]) -> Result<Vec<crate::core::Reading>, NlpError> {
        let pairs: Vec<(Emotions, TraitEvidence)> = match &self.roberta {
            Some((roberta, _)) => roberta
                .emotions(texts)?
                .into_iter()
                .zip(self.zero_shot.traits(texts)?)
                .collect(),
            None => self.zero_shot.analyze(texts)?,
        };
        Ok(pairs
            .into_iter()
            .map(|(e, t)| crate::core::Reading {
                emotions: Some(e),
                traits: Some(t),
            })
            .collect())
    }
}
