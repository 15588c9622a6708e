//! A linear probe: logistic regression on frozen, L2-normalised all-MiniLM-L6-v2 sentence embeddings.
//! Not what the app runs; the benchmark fits it beside the fine-tuned model to show what fine-tuning
//! the encoder adds over the embeddings as they come.

use tch::{Device, Kind, Tensor, nn, nn::Module, nn::OptimizerConfig};

use crate::{Label, NlpError};

/// A fitted probe.
pub struct Probe {
    _vs: nn::VarStore,
    linear: nn::Linear,
}

impl Probe {
    /// Fits `[n, dim]` embeddings to labels by full-batch Adam on the mean cross-entropy plus
    /// `l2` × ‖w‖², for `iterations` steps from a fixed seed.
    pub fn fit(
        embeddings: &Tensor,
        labels: &[Label],
        l2: f64,
        iterations: usize,
    ) -> Result<Probe, NlpError> {
        let (n, dim) = embeddings.size2()?;
        if n as usize != labels.len() || n == 0 {
            return Err(NlpError::Model(format!(
                "{n} embeddings for {} labels",
                labels.len()
            )));
        }
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let linear = nn::linear(vs.root() / "probe", dim, 2, Default::default());
        let y = Tensor::from_slice(
            &labels
                .iter()
                .map(|l| i64::from(*l == Label::Positive))
                .collect::<Vec<_>>(),
        );
        let mut opt = nn::Adam::default().build(&vs, 0.05)?;
        for _ in 0..iterations {
            let loss = linear.forward(embeddings).cross_entropy_for_logits(&y)
                + linear.ws.pow_tensor_scalar(2).sum(Kind::Float) * l2;
            opt.backward_step(&loss);
        }
        Ok(Probe { _vs: vs, linear })
    }

    pub fn predict(&self, embeddings: &Tensor) -> Result<Vec<Label>, NlpError> {
        let argmax = tch::no_grad(|| self.linear.forward(embeddings).argmax(-1, false));
        let argmax: Vec<i64> = Vec::try_from(argmax)?;
        Ok(argmax
            .into_iter()
            .map(|c| {
                if c == 1 {
                    Label::Positive
                } else {
                    Label::Negative
                }
            })
            .collect())
    }
}
