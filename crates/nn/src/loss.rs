//! Losses: cross-entropy for classification, and the pairwise and listwise
//! losses of edge-level training (binary cross-entropy, BPR, sampled
//! softmax) over positive and negative scores.

use burn::tensor::activation::{log_softmax, softplus};
use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// Mean cross-entropy of `logits` (`[n, classes]`) against `labels`.
pub fn cross_entropy(logits: Tensor<2>, labels: &[i64]) -> Tensor<1> {
    let n = labels.len();
    let idx = Tensor::<2, Int>::from_data(TensorData::new(labels.to_vec(), [n, 1]), &logits.device());
    log_softmax(logits, 1).gather(1, idx).mean().neg()
}

/// Edge-level losses (`link.loss`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LinkLoss {
    /// Binary cross-entropy: positives towards 1, each negative towards 0.
    #[default]
    Bce,
    /// Bayesian personalised ranking: each positive above each of its negatives.
    Bpr,
    /// Sampled softmax: the positive against its negatives, one cross-entropy.
    Softmax,
}

/// The loss of positive scores `[B]` against negative scores `[B, k]`.
pub fn link_loss(pos: Tensor<1>, neg: Tensor<2>, how: LinkLoss) -> Tensor<1> {
    let b = pos.dims()[0];
    let pos2 = pos.reshape([b, 1]);
    match how {
        // -log σ(pos) - log σ(-neg) = softplus(-pos) + softplus(neg)
        LinkLoss::Bce => softplus(pos2.neg(), 1.0).mean() + softplus(neg, 1.0).mean(),
        LinkLoss::Bpr => softplus(neg - pos2, 1.0).mean(),
        LinkLoss::Softmax => log_softmax(Tensor::cat(vec![pos2, neg], 1), 1).narrow(1, 0, 1).mean().neg(),
    }
}

/// BPR over triples: mean of `softplus(score(u, j) − score(u, i))` for the
/// rows of user `eu`, seen item `ei` and unseen item `ej` embeddings.
pub fn bpr(eu: Tensor<2>, ei: Tensor<2>, ej: Tensor<2>) -> Tensor<1> {
    softplus((eu.clone() * ej).sum_dim(1) - (eu * ei).sum_dim(1), 1.0).mean()
}
