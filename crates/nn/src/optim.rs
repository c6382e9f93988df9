//! Optimisers over any module: Adam (L2 weight decay, PyTorch's
//! `Adam(weight_decay=…)`), AdamW (decoupled decay) and SGD with momentum,
//! on burn's `ModuleOptimizer`; their state goes to and from bytes for
//! checkpoints. With a [`Collective`] of more than one rank, the gradients
//! are summed over the ranks before every update (data-parallel training).

use std::sync::Arc;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Bytes, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::collective::Collective;
use crate::{Error, Result, infer_device, scalar};

struct Gather<'a> {
    grads: &'a mut GradientsParams,
    flat: Vec<f32>,
    shapes: Vec<(ParamId, Vec<usize>)>,
}

impl ModuleVisitor for Gather<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let shape = param.val().dims().to_vec();
        match self.grads.remove::<D>(param.id) {
            Some(g) => self.flat.extend(g.into_data().iter::<f32>()),
            None => self.flat.resize(self.flat.len() + shape.iter().product::<usize>(), 0.0),
        }
        self.shapes.push((param.id, shape));
    }
}

struct Scatter<'a> {
    grads: &'a mut GradientsParams,
    flat: &'a [f32],
    shapes: &'a [(ParamId, Vec<usize>)],
    at: usize,
    next: usize,
}

impl ModuleVisitor for Scatter<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some((id, shape)) = self.shapes.get(self.next) else { return };
        debug_assert_eq!(*id, param.id);
        let n: usize = shape.iter().product();
        let values = self.flat[self.at..self.at + n].to_vec();
        self.grads.register::<D>(*id, Tensor::from_data(TensorData::new(values, shape.clone()), &infer_device()));
        self.at += n;
        self.next += 1;
    }
}

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
    group: Option<Arc<dyn Collective>>,
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
        Optimizer { inner, group: None }
    }

    /// Sums every gradient over `group`'s ranks before each update (a group
    /// of one changes nothing).
    pub fn with_group(mut self, group: Arc<dyn Collective>) -> Self {
        self.group = (group.size() > 1).then_some(group);
        self
    }

    /// Backward pass of `loss`, then one update of `model` at rate `lr`;
    /// returns the updated model and the loss value.
    pub fn minimize<M: Module>(&mut self, lr: f64, model: M, loss: Tensor<1>) -> (M, f32) {
        let grads = loss.backward();
        let value = scalar(loss);
        let gp = GradientsParams::from_grads(grads, &model);
        (self.update(lr, model, gp), value)
    }

    /// One update of `model` from gradients already computed (when the
    /// caller also reads gradients of non-module tensors, e.g. sparse tables).
    pub fn step<M: Module>(&mut self, lr: f64, model: M, grads: burn::tensor::Gradients) -> M {
        let gp = GradientsParams::from_grads(grads, &model);
        self.update(lr, model, gp)
    }

    /// An update with no gradient of this rank's own (its share of the
    /// batch was empty): it still takes part in the gradient sum, adding
    /// zeros, so every rank applies the same update.
    pub fn idle_step<M: Module>(&mut self, lr: f64, model: M) -> M {
        self.update(lr, model, GradientsParams::new())
    }

    fn update<M: Module>(&mut self, lr: f64, model: M, mut gp: GradientsParams) -> M {
        if let Some(group) = &self.group {
            // Every float parameter in module order, a missing gradient as
            // zeros: the flat buffers line up on every rank.
            let mut gather = Gather { grads: &mut gp, flat: Vec::new(), shapes: Vec::new() };
            model.visit(&mut gather);
            let Gather { mut flat, shapes, .. } = gather;
            group.sum_f32(&mut flat);
            model.visit(&mut Scatter { grads: &mut gp, flat: &flat, shapes: &shapes, at: 0, next: 0 });
        }
        self.inner.step(lr, model, gp)
    }

    /// The state as bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.inner.into_bytes().map(|b| b.to_vec()).map_err(|e| Error::Decode { what: "optimiser state", message: e.to_string() })
    }

    /// Restores state written by [`to_bytes`](Self::to_bytes) into this
    /// (freshly made, same kind) optimiser.
    pub fn with_bytes(self, bytes: &[u8]) -> Result<Self> {
        let Optimizer { inner, group } = self;
        let inner =
            inner.from_bytes(Bytes::from_bytes_vec(bytes.to_vec())).map_err(|e| Error::Decode { what: "optimiser state", message: e.to_string() })?;
        Ok(Optimizer { inner, group })
    }
}
