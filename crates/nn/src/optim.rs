//! Optimisers over any module: Adam (L2 weight decay, PyTorch's
//! `Adam(weight_decay=…)`), AdamW (decoupled decay) and SGD with momentum,
//! on burn's `ModuleOptimizer`; their state goes to and from bytes for
//! checkpoints.

use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Bytes, Tensor};
use serde::{Deserialize, Serialize};

use crate::{Error, Result, scalar};

/// Which optimiser (`train.optimizer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Adam with L2 weight decay added to the gradient (ε = 1e-8, as PyTorch).
    #[default]
    Adam,
    /// AdamW: weight decay applied to the weights, apart from the moments.
    Adamw,
    /// Stochastic gradient descent with momentum 0.9 and L2 weight decay.
    Sgd,
}

impl OptimizerKind {
    /// The name used in configs.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Adam => "adam",
            OptimizerKind::Adamw => "adamw",
            OptimizerKind::Sgd => "sgd",
        }
    }
}

/// An optimiser and its state.
pub struct Optimizer {
    inner: ModuleOptimizer,
}

impl Optimizer {
    /// A fresh optimiser of `kind` with weight decay `weight_decay` (0: none).
    pub fn new(kind: OptimizerKind, weight_decay: f64) -> Self {
        let decay = (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32));
        let inner = match kind {
            OptimizerKind::Adam => AdamConfig::new().with_epsilon(1e-8).with_weight_decay(decay).init(),
            OptimizerKind::Adamw => AdamWConfig::new().with_epsilon(1e-8).with_weight_decay(weight_decay as f32).init(),
            OptimizerKind::Sgd => SgdConfig::new().with_weight_decay(decay).with_momentum(Some(MomentumConfig::new().with_momentum(0.9))).init(),
        };
        Optimizer { inner }
    }

    /// Backward pass of `loss`, then one update of `model` at rate `lr`;
    /// returns the updated model and the loss value.
    pub fn minimize<M: Module>(&mut self, lr: f64, model: M, loss: Tensor<1>) -> (M, f32) {
        let grads = loss.backward();
        let value = scalar(loss);
        let gp = GradientsParams::from_grads(grads, &model);
        (self.inner.step(lr, model, gp), value)
    }

    /// One update of `model` from gradients already computed (when the
    /// caller also reads gradients of non-module tensors, e.g. sparse tables).
    pub fn step<M: Module>(&mut self, lr: f64, model: M, grads: burn::tensor::Gradients) -> M {
        let gp = GradientsParams::from_grads(grads, &model);
        self.inner.step(lr, model, gp)
    }

    /// The state as bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.inner.into_bytes().map(|b| b.to_vec()).map_err(|e| Error::Decode { what: "optimiser state", message: e.to_string() })
    }

    /// Restores state written by [`to_bytes`](Self::to_bytes) into this
    /// (freshly made, same kind) optimiser.
    pub fn with_bytes(self, bytes: &[u8]) -> Result<Self> {
        let inner = self
            .inner
            .from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
            .map_err(|e| Error::Decode { what: "optimiser state", message: e.to_string() })?;
        Ok(Optimizer { inner })
    }
}
