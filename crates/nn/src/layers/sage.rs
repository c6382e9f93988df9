//! GraphSAGE (Hamilton et al. 2017): `out = W_self·x_i + W_nbr·AGG_j x_j`,
//! optionally L2-normalised, with mean, sum, max-pool or attention
//! aggregation. Linear aggregators run aggregate-then-transform or
//! transform-then-aggregate, whichever costs fewer multiply-adds for the
//! hop's shape and the layer's widths.

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

use super::Linear;
use super::gat::attend;
use crate::Input;
use crate::hop::{Hop, Norm};
use crate::layers::linear::glorot;
use crate::ops::linear;

/// Neighbourhood aggregator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Aggregator {
    /// Mean of the neighbours.
    #[default]
    Mean,
    /// Sum of the neighbours.
    Sum,
    /// Element-wise max of `relu(W_pool x_j + b)`.
    MaxPool,
    /// Softmax-weighted sum, GAT-style scores over the node and its neighbours.
    Attention,
}

/// Configuration of a [`SageConv`].
#[derive(Clone, Debug)]
pub struct SageConvConfig {
    /// Input width.
    pub d_in: usize,
    /// Output width.
    pub d_out: usize,
    /// Aggregator.
    pub aggregator: Aggregator,
    /// Add `W_self·x_i` (default true).
    pub root_weight: bool,
    /// L2-normalise output rows (default false).
    pub normalize: bool,
}

impl SageConvConfig {
    /// Mean aggregation with root weight, no normalisation.
    pub fn new(d_in: usize, d_out: usize) -> Self {
        SageConvConfig { d_in, d_out, aggregator: Aggregator::Mean, root_weight: true, normalize: false }
    }

    /// Sets the aggregator.
    pub fn with_aggregator(mut self, a: Aggregator) -> Self {
        self.aggregator = a;
        self
    }

    /// Sets whether to L2-normalise.
    pub fn with_normalize(mut self, n: bool) -> Self {
        self.normalize = n;
        self
    }

    /// Sets the root weight.
    pub fn with_root_weight(mut self, r: bool) -> Self {
        self.root_weight = r;
        self
    }

    /// Builds the layer with weights drawn from `seed`.
    pub fn init(&self, seed: u64) -> SageConv {
        let s = |i: u64| ferrograph_sample::rng::derive(seed, i);
        SageConv {
            lin_nbr: Linear::new(self.d_in, self.d_out, !self.root_weight, s(0)),
            lin_self: self.root_weight.then(|| Linear::new(self.d_in, self.d_out, true, s(1))),
            pool: (self.aggregator == Aggregator::MaxPool).then(|| Linear::new(self.d_in, self.d_in, true, s(2))),
            att: (self.aggregator == Aggregator::Attention).then(|| Param::from_tensor(glorot(2, self.d_in, s(3)))),
            aggregator: self.aggregator as u8,
            normalize: self.normalize,
        }
    }
}

/// A GraphSAGE layer.
#[derive(Module, Debug)]
pub struct SageConv {
    pub(crate) lin_nbr: Linear,
    pub(crate) lin_self: Option<Linear>,
    pub(crate) pool: Option<Linear>,
    pub(crate) att: Option<Param<Tensor<2>>>,
    aggregator: u8,
    normalize: bool,
}

/// Multiply-adds of a linear aggregation over `hop` at input width `d_in`
/// then a transform to `d_out`, against the other order.
pub fn transform_first(hop: &Hop, d_in: usize, d_out: usize) -> bool {
    let aggregate_first = hop.edges() * d_in + hop.n_dst * d_in * d_out;
    let transform_first = hop.n_src * d_in * d_out + hop.edges() * d_out;
    transform_first < aggregate_first
}

impl SageConv {
    fn aggregator(&self) -> Aggregator {
        match self.aggregator {
            0 => Aggregator::Mean,
            1 => Aggregator::Sum,
            2 => Aggregator::MaxPool,
            _ => Aggregator::Attention,
        }
    }

    /// Output rows for `hop`'s destinations.
    pub fn forward(&self, hop: &Hop, x_dst: Tensor<2>, x_nbr: Tensor<2>) -> Tensor<2> {
        let (d_in, d_out) = (self.lin_nbr.d_in(), self.lin_nbr.d_out());
        let nbr = match self.aggregator() {
            a @ (Aggregator::Mean | Aggregator::Sum) => {
                let norm = if a == Aggregator::Mean { Norm::Mean } else { Norm::Sum };
                let first = transform_first(hop, d_in, d_out);
                // Aggregate-then-transform with a root weight on a block:
                // `[x_i, AGG x_j]·[W_self; W_nbr]`, one product.
                if let (false, Some(own)) = (first, &self.lin_self)
                    && let Some(both) = hop.aggregate_with_self(norm, x_dst.clone(), x_nbr.clone())
                {
                    let out = self.stacked(own, both, false);
                    return if self.normalize { l2_normalize(out) } else { out };
                }
                if first { hop.aggregate(norm, self.lin_nbr.forward(x_nbr)) } else { self.lin_nbr.forward(hop.aggregate(norm, x_nbr)) }
            }
            Aggregator::MaxPool => {
                let pool = self.pool.as_ref().expect("max-pool layer has a pool transform");
                self.lin_nbr.forward(hop.max(relu(pool.forward(x_nbr))))
            }
            Aggregator::Attention => {
                let att = self.att.as_ref().expect("attention layer has attention weights").val();
                let a_src = att.clone().narrow(0, 0, 1).reshape([1, 1, d_in]);
                let a_dst = att.narrow(0, 1, 1).reshape([1, 1, d_in]);
                let out = attend(hop, x_dst.clone(), x_nbr, 1, d_in, a_src, a_dst, 0.0, None);
                self.lin_nbr.forward(out)
            }
        };
        let out = match &self.lin_self {
            Some(l) => l.forward(x_dst) + nbr,
            None => nbr,
        };
        if self.normalize { l2_normalize(out) } else { out }
    }
}

impl SageConv {
    /// Whether the layer can read sparse input rows (every aggregator but
    /// attention, whose scores need the raw rows).
    pub fn reads_sparse(&self) -> bool {
        self.aggregator() != Aggregator::Attention
    }

    /// [`forward`](Self::forward) over a block whose source rows are `x`
    /// (destinations first). Sparse rows are transformed first (`X·W` as a
    /// sparse product) and never densified.
    ///
    /// # Panics
    /// On sparse rows with the attention aggregator (see
    /// [`reads_sparse`](Self::reads_sparse); configs are checked before).
    pub fn forward_input(&self, hop: &Hop, x: &Input) -> Tensor<2> {
        self.forward_input_relu(hop, x, false)
    }

    /// [`forward_input`](Self::forward_input), then a ReLU when `relu`. On
    /// a block of dense rows with mean or sum aggregation and a root
    /// weight, rows to activations are two ops: the aggregate beside each
    /// destination's own row, then one product with bias and ReLU
    /// ([`linear`]).
    pub fn forward_input_relu(&self, hop: &Hop, x: &Input, relu: bool) -> Tensor<2> {
        if let Input::Dense(t) = x
            && let Some(out) = self.fused_block(hop, t, relu && !self.normalize)
        {
            return match (self.normalize, relu) {
                (false, _) => out,
                (true, false) => l2_normalize(out),
                (true, true) => self::relu(l2_normalize(out)),
            };
        }
        let out = self.forward_unfused(hop, x);
        if relu { self::relu(out) } else { out }
    }

    /// `act([x_i, AGG x_j]·[W_self; W_nbr] + b)` over a block whose
    /// destinations are the first rows of `x`, when the layer (mean or sum,
    /// root weight, aggregate first for this hop's shape) and the hop
    /// (sparse) allow it.
    fn fused_block(&self, hop: &Hop, x: &Tensor<2>, relu: bool) -> Option<Tensor<2>> {
        let norm = match self.aggregator() {
            Aggregator::Mean => Norm::Mean,
            Aggregator::Sum => Norm::Sum,
            _ => return None,
        };
        let own = self.lin_self.as_ref()?;
        if transform_first(hop, self.lin_nbr.d_in(), self.lin_nbr.d_out()) {
            return None;
        }
        let both = hop.aggregate_with_own(norm, x.clone())?;
        Some(self.stacked(own, both, relu))
    }

    /// `act([x_i, AGG x_j]·[W_self; W_nbr] + b)` from the side-by-side rows
    /// `both`: the self and neighbour transforms as one product.
    fn stacked(&self, own: &Linear, both: Tensor<2>, relu: bool) -> Tensor<2> {
        let w = Tensor::cat(vec![own.weight.val(), self.lin_nbr.weight.val()], 0);
        let b = match (&own.bias, &self.lin_nbr.bias) {
            (Some(a), Some(b)) => Some(a.val() + b.val()),
            (a, b) => a.as_ref().or(b.as_ref()).map(|b| b.val()),
        };
        linear(both, w, b, relu)
    }

    fn forward_unfused(&self, hop: &Hop, x: &Input) -> Tensor<2> {
        let t = match x {
            Input::Dense(t) => return self.forward(hop, t.clone().narrow(0, 0, hop.n_dst), t.clone()),
            Input::Sparse(_) => x,
        };
        let nbr = match self.aggregator() {
            a @ (Aggregator::Mean | Aggregator::Sum) => {
                let norm = if a == Aggregator::Mean { Norm::Mean } else { Norm::Sum };
                hop.aggregate(norm, self.lin_nbr.forward_input(t))
            }
            Aggregator::MaxPool => {
                let pool = self.pool.as_ref().expect("max-pool layer has a pool transform");
                self.lin_nbr.forward(hop.max(relu(pool.forward_input(t))))
            }
            Aggregator::Attention => panic!("the attention aggregator does not read sparse rows"),
        };
        let out = match &self.lin_self {
            Some(l) => l.forward_input(&t.prefix(hop.n_dst)) + nbr,
            None => nbr,
        };
        if self.normalize { l2_normalize(out) } else { out }
    }
}

/// Rows scaled to unit L2 norm (rows of zeros stay zero).
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}
