//! Emotions per text: a probability for each of the seven [`EMOTIONS`].
//!
//! Two models give them ([`EmotionModel`]):
//! - **RoBERTa** ([`crate::roberta::RobertaEmotion`]), when the user supplies a fine-tuned checkpoint
//!   folder (`$MINDSET_NLP_EMOTION_MODEL`, e.g. a converted emotion-english-distilroberta-base).
//! - **Zero-shot** on the all-MiniLM-L6-v2 sentence encoder ([`EmotionPrototypes`]), the default, which
//!   needs nothing beyond the encoder: each emotion is described by a few short sentences
//!   ([`PROTOTYPES`]); their embeddings are averaged into one unit vector per emotion; a text's scores
//!   are the softmax over the seven labels of its cosine similarity to each of these, divided by
//!   [`TEMPERATURE`]. Nothing is trained. How well it does is measured by `benches/emotion_accuracy.rs`
//!   (see the README: no openly licensed emotion-labelled sentence set was found in a registry, so the
//!   measure there is a proxy, the valence of the emotions against human-rated polarity).

use std::path::Path;

use tch::{Kind, Tensor};

use crate::{
    EMOTIONS, Emotions, NlpError,
    encoder::{SentenceEncoder, default_base_dir},
    roberta::RobertaEmotion,
};

/// Tokens per text for the encoder (MiniLM was trained on up to 128 word pieces; longer texts are cut).
pub const MAX_LEN: usize = 128;
/// Texts per encoder pass.
pub const ENCODE_BATCH: usize = 32;

/// The descriptions of each emotion, in the order of [`EMOTIONS`]: first-person statements of the
/// feeling, the way a customer would put it. Adding each emotion's everyday words as a further
/// description ("anger, rage, fury, outrage"), or describing emotions by those words alone, did worse
/// on the calibration part of `benches/emotion_accuracy.rs`, which chose these. Neutral is described as
/// the absence of feeling, not by topic: a first version described it with delivery messages ("The
/// package arrived on Tuesday."), which pulled any text about a delivery towards neutral (a surprised
/// "Wow, I did not expect it to arrive a whole week early!" came out neutral in `tests/zero_shot.rs`).
/// They are written from the label names (Ekman's six basic emotions plus neutral), not fitted to the
/// data the benchmark reports on.
pub const PROTOTYPES: [&[&str]; 7] = [
    // anger
    &[
        "I am angry.",
        "This makes me furious.",
        "I am so annoyed and irritated by this.",
        "I am outraged, this is unacceptable.",
    ],
    // disgust
    &[
        "This is disgusting.",
        "That is gross and revolting.",
        "I feel sick just looking at it.",
        "It was nasty and repulsive.",
    ],
    // fear
    &[
        "I am scared.",
        "I am afraid something bad will happen.",
        "I feel anxious and worried.",
        "This is frightening and terrifying.",
    ],
    // joy
    &[
        "I am so happy.",
        "This is wonderful, I love it.",
        "I feel joyful and delighted.",
        "What a great day, I am thrilled.",
    ],
    // neutral
    &[
        "This is a plain statement of fact.",
        "I have no strong feelings about it.",
        "Just letting you know.",
        "My order number is 4512.",
    ],
    // sadness
    &[
        "I am sad.",
        "I feel down and unhappy.",
        "This is heartbreaking and depressing.",
        "I miss them and feel lonely.",
    ],
    // surprise
    &[
        "I am surprised.",
        "Wow, I did not expect that!",
        "That was astonishing and unexpected.",
        "I can't believe it, what a shock!",
    ],
];

/// Divides the cosine similarities before the softmax. Chosen by `benches/emotion_accuracy.rs` on its
/// calibration part (the grid value with the best valence macro-F1); it is the lowest value of the
/// grid, so the scores are close to one-hot: read them as a vote more than as calibrated
/// probabilities. The bench prints the value it finds, so a change of prototypes or encoder shows
/// whether this needs updating.
pub const TEMPERATURE: f32 = 0.01;

/// Whether the emotion vectors are centred (their mean removed, then made unit length again), which
/// turns what the seven descriptions share into no emotion in particular. Chosen with the temperature.
pub const CENTRED: bool = false;

/// One unit vector per emotion (the mean of its prototypes' embeddings) and the temperature.
pub struct EmotionPrototypes {
    /// `[7, dim]`, unit rows, in the order of [`EMOTIONS`].
    centroids: Tensor,
    temperature: f32,
}

impl EmotionPrototypes {
    /// Embeds [`PROTOTYPES`] with `encoder`, centred when [`CENTRED`].
    pub fn new(encoder: &SentenceEncoder) -> Result<EmotionPrototypes, NlpError> {
        Ok(Self::from_descriptions(encoder, &PROTOTYPES)?.centred(CENTRED))
    }

    /// Embeds other descriptions (at least one per emotion, in the order of [`EMOTIONS`]), not centred.
    pub fn from_descriptions(
        encoder: &SentenceEncoder,
        descriptions: &[&[&str]; 7],
    ) -> Result<EmotionPrototypes, NlpError> {
        let mut rows = Vec::with_capacity(7);
        for (label, texts) in EMOTIONS.iter().zip(descriptions) {
            if texts.is_empty() {
                return Err(NlpError::Model(format!("no description of {label}")));
            }
            let embedded = encoder.encode(texts, ENCODE_BATCH)?;
            rows.push(unit_rows(&embedded.mean_dim(
                [0i64].as_slice(),
                true,
                Kind::Float,
            )));
        }
        Ok(EmotionPrototypes {
            centroids: Tensor::cat(&rows, 0),
            temperature: TEMPERATURE,
        })
    }

    /// With `centre`, the emotion vectors less their mean, made unit length again.
    pub fn centred(mut self, centre: bool) -> EmotionPrototypes {
        if centre {
            let mean = self
                .centroids
                .mean_dim([0i64].as_slice(), true, Kind::Float);
            self.centroids = unit_rows(&(&self.centroids - mean));
        }
        self
    }

    /// The same prototypes with another temperature (> 0).
    pub fn with_temperature(mut self, temperature: f32) -> EmotionPrototypes {
        assert!(temperature > 0.0, "temperature must be positive");
        self.temperature = temperature;
        self
    }

    pub fn temperature(&self) -> f32 {
        self.temperature
    }

    /// Cosine similarity of each embedding (unit rows `[n, dim]`) to each emotion: `[n, 7]`.
    pub fn similarities(&self, embeddings: &Tensor) -> Tensor {
        embeddings.matmul(&self.centroids.tr())
    }

    /// Emotion probabilities for unit-length embeddings `[n, dim]` (as [`SentenceEncoder::encode`]
    /// returns them).
    pub fn emotions(&self, embeddings: &Tensor) -> Result<Vec<Emotions>, NlpError> {
        softmax_rows(&self.similarities(embeddings), self.temperature)
    }
}

/// Softmax over the seven columns of `similarities / temperature`, one [`Emotions`] per row.
pub fn softmax_rows(similarities: &Tensor, temperature: f32) -> Result<Vec<Emotions>, NlpError> {
    let probs = (similarities / f64::from(temperature)).softmax(-1, Kind::Float);
    let flat: Vec<f32> = Vec::try_from(probs.contiguous().flatten(0, -1))?;
    Ok(flat
        .chunks_exact(7)
        .map(|row| {
            let mut scores = [0.0; 7];
            scores.copy_from_slice(row);
            Emotions { scores }
        })
        .collect())
}

fn unit_rows(t: &Tensor) -> Tensor {
    t / t
        .norm_scalaropt_dim(2.0, [1i64].as_slice(), true)
        .clamp_min(1e-12)
}

/// The zero-shot emotion model on its own: the encoder and the prototypes.
pub struct ZeroShotEmotion {
    encoder: SentenceEncoder,
    prototypes: EmotionPrototypes,
}

impl ZeroShotEmotion {
    /// Loads the MiniLM encoder from `base_dir` and embeds the prototypes.
    pub fn load(base_dir: &Path) -> Result<ZeroShotEmotion, NlpError> {
        let encoder = SentenceEncoder::load(base_dir, MAX_LEN)?;
        let prototypes = EmotionPrototypes::new(&encoder)?;
        Ok(ZeroShotEmotion {
            encoder,
            prototypes,
        })
    }

    pub fn emotions<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Emotions>, NlpError> {
        let embeddings = self.encoder.encode(texts, ENCODE_BATCH)?;
        self.prototypes.emotions(&embeddings)
    }
}

/// Which model produced a text's emotions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmotionSource {
    /// A user-supplied RoBERTa checkpoint.
    Roberta,
    /// Prototype similarity on the MiniLM sentence encoder.
    ZeroShot,
}

/// The emotion model to run: a RoBERTa folder when one is configured, else the zero-shot method.
pub enum EmotionModel {
    Roberta(RobertaEmotion),
    ZeroShot(ZeroShotEmotion),
}

impl EmotionModel {
    /// RoBERTa from `roberta_dir` when given (an error if it does not load: a configured model that
    /// fails is not silently replaced), else zero-shot on the encoder in `base_dir`.
    pub fn load(roberta_dir: Option<&Path>, base_dir: &Path) -> Result<EmotionModel, NlpError> {
        match roberta_dir {
            Some(dir) => Ok(EmotionModel::Roberta(RobertaEmotion::load(dir)?)),
            None => Ok(EmotionModel::ZeroShot(ZeroShotEmotion::load(base_dir)?)),
        }
    }

    /// [`EmotionModel::load`] with the folders from the environment: `$MINDSET_NLP_EMOTION_MODEL`
    /// (RoBERTa, optional) and [`default_base_dir`] (MiniLM).
    pub fn from_env() -> Result<EmotionModel, NlpError> {
        let roberta = roberta_dir_from_env();
        EmotionModel::load(roberta.as_deref(), &default_base_dir())
    }

    pub fn source(&self) -> EmotionSource {
        match self {
            EmotionModel::Roberta(_) => EmotionSource::Roberta,
            EmotionModel::ZeroShot(_) => EmotionSource::ZeroShot,
        }
    }

    /// Emotion probabilities per text, in order.
    pub fn emotions(&self, texts: &[&str]) -> Result<Vec<Emotions>, NlpError> {
        match self {
            EmotionModel::Roberta(m) => m.emotions(texts),
            EmotionModel::ZeroShot(m) => m.emotions(texts),
        }
    }
}

/// `$MINDSET_NLP_EMOTION_MODEL` when set and not empty: the folder of a RoBERTa emotion checkpoint.
pub fn roberta_dir_from_env() -> Option<std::path::PathBuf> {
    std::env::var_os("MINDSET_NLP_EMOTION_MODEL")
        .filter(|v| !v.is_empty())
        .map(Into::into)
}
