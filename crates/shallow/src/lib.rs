//! Shallow node embeddings: one learned vector per node, trained on random
//! walks without a neural-network framework (AliGraph's "embedding"
//! operators; no burn here).
//!
//! * [`skipgram`]: word2vec's skip-gram with negative sampling over walks
//!   (DeepWalk, node2vec), explicit AVX-512 / AVX2 kernels.
//! * [`gatne`]: GATNE-T for multiplex graphs (a base embedding plus one
//!   embedding per relation), trained by skip-gram on per-relation walks.
//!
//! Both models are steppable: `new` builds the initial model, a
//! `train_range` call trains one range of walks of one epoch and returns
//! its [`StepStats`] (the exact training loss of the pairs it trained), and
//! `to_bytes` / `from_bytes` checkpoint the whole training state, so an
//! outside epoch loop (progress per step, checkpoints, `--resume`) can
//! drive them. The one-call functions ([`skipgram::train_skipgram`],
//! [`gatne::fit`]) are thin wrappers over the same calls.
#![warn(missing_docs)]

mod bytes;
pub mod gatne;
pub mod skipgram;

/// Errors of shallow-embedding training.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad hyper-parameters or inputs (the message says which).
    #[error("{0}")]
    Invalid(String),
    /// Sampling the walks failed.
    #[error(transparent)]
    Sample(#[from] ferrograph_sample::Error),
    /// Checkpoint bytes that are not a model of this kind and version
    /// (truncated, corrupted, or of another model).
    #[error("checkpoint: {0}")]
    Checkpoint(String),
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What one training call did.
///
/// `loss_sum` is the exact skip-gram loss of every trained pair, summed:
/// for a pair with positive score `s⁺` and negative scores `s⁻ᵢ`,
/// `−log σ(s⁺) − Σᵢ log σ(−s⁻ᵢ)` (scores before the pair's update; a
/// negative that is the positive itself is neither trained nor counted).
/// `loss_sum / pairs` ([`StepStats::mean_loss`]) is the mean loss per
/// pair.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepStats {
    /// Positive pairs (context, centre) trained.
    pub pairs: u64,
    /// Sum of the pairs' losses.
    pub loss_sum: f64,
    /// Walk tokens (pads excluded) in the walks trained.
    pub tokens: u64,
    /// Wall-clock seconds the call took.
    pub seconds: f64,
}

impl StepStats {
    /// Mean loss per pair (NaN when no pair was trained).
    pub fn mean_loss(&self) -> f64 {
        if self.pairs == 0 { f64::NAN } else { self.loss_sum / self.pairs as f64 }
    }
}

impl std::ops::AddAssign for StepStats {
    fn add_assign(&mut self, o: StepStats) {
        self.pairs += o.pairs;
        self.loss_sum += o.loss_sum;
        self.tokens += o.tokens;
        self.seconds += o.seconds;
    }
}

/// `−log σ(x)`, computed without overflow for any `x` (`softplus(−x)`).
#[inline]
pub(crate) fn neg_log_sigmoid(x: f64) -> f64 {
    (-x).max(0.0) + (-x.abs()).exp().ln_1p()
}
