//! GAT (Veličković et al. 2018): multi-head attention over each node and
//! its neighbours, `α_ij = softmax_j LeakyReLU(a_dst·Wx_i + a_src·Wx_j)`,
//! with attention dropout; heads are concatenated or averaged.
//!
//! The softmax runs per destination over an edge list with self-loops:
//! scores are shifted by each destination's maximum (a constant, so the
//! gradient is unchanged) before `exp`, sums are scatter-adds.

use burn::module::{Module, Param};
use burn::tensor::activation::leaky_relu;
use burn::tensor::{IndexingUpdateOp, Tensor, TensorData};

use super::Linear;
use super::dropout::dropout;
use crate::hop::Hop;
use crate::layers::linear::glorot;
use crate::{Input, train_device};

/// Configuration of a [`GatConv`].
#[derive(Clone, Debug)]
pub struct GatConvConfig {
    /// Input width.
    pub d_in: usize,
    /// Output width per head.
    pub d_out: usize,
    /// Attention heads.
    pub heads: usize,
    /// Concatenate heads (else average them).
    pub concat: bool,
    /// Dropout on attention coefficients during training.
    pub attn_dropout: f64,
}

impl GatConvConfig {
    /// `heads` heads of `d_out` each, concatenated, no attention dropout.
    pub fn new(d_in: usize, d_out: usize, heads: usize) -> Self {
        GatConvConfig { d_in, d_out, heads, concat: true, attn_dropout: 0.0 }
    }

    /// Sets concatenation.
    pub fn with_concat(mut self, c: bool) -> Self {
        self.concat = c;
        self
    }

    /// Sets attention dropout.
    pub fn with_attn_dropout(mut self, p: f64) -> Self {
        self.attn_dropout = p;
        self
    }

    /// Builds the layer with weights drawn from `seed`.
    pub fn init(&self, seed: u64) -> GatConv {
        let s = |i: u64| ferrograph_sample::rng::derive(seed, i);
        let bias = if self.concat { self.heads * self.d_out } else { self.d_out };
        GatConv {
            lin: Linear::new(self.d_in, self.heads * self.d_out, false, s(0)),
            att_src: Param::from_tensor(glorot(self.heads, self.d_out, s(1)).reshape([1, self.heads, self.d_out])),
            att_dst: Param::from_tensor(glorot(self.heads, self.d_out, s(2)).reshape([1, self.heads, self.d_out])),
            bias: Param::from_tensor(Tensor::zeros([bias], &train_device())),
            heads: self.heads,
            concat: self.concat,
            attn_dropout: self.attn_dropout,
        }
    }
}

/// A GAT layer.
#[derive(Module, Debug)]
pub struct GatConv {
    pub(crate) lin: Linear,
    pub(crate) att_src: Param<Tensor<3>>,
    pub(crate) att_dst: Param<Tensor<3>>,
    pub(crate) bias: Param<Tensor<1>>,
    heads: usize,
    concat: bool,
    attn_dropout: f64,
}

impl GatConv {
    /// Output rows for `hop`'s destinations; `seed` drives attention
    /// dropout (training) or is `None` (evaluation).
    pub fn forward(&self, hop: &Hop, x_dst: Tensor<2>, x_nbr: Tensor<2>, seed: Option<u64>) -> Tensor<2> {
        let h_nbr = self.lin.forward(x_nbr);
        let h_dst = if hop.is_sparse() { h_nbr.clone().narrow(0, 0, hop.n_dst) } else { self.lin.forward(x_dst) };
        self.attend_projected(hop, h_dst, h_nbr, seed)
    }

    /// [`forward`](Self::forward) over a block whose source rows are `x`
    /// (destinations first), dense or sparse.
    pub fn forward_input(&self, hop: &Hop, x: &Input, seed: Option<u64>) -> Tensor<2> {
        let h_nbr = self.lin.forward_input(x);
        let h_dst = h_nbr.clone().narrow(0, 0, hop.n_dst);
        self.attend_projected(hop, h_dst, h_nbr, seed)
    }

    fn attend_projected(&self, hop: &Hop, h_dst: Tensor<2>, h_nbr: Tensor<2>, seed: Option<u64>) -> Tensor<2> {
        let f = self.lin.d_out() / self.heads;
        let out = attend(hop, h_dst, h_nbr, self.heads, f, self.att_src.val(), self.att_dst.val(), self.attn_dropout, seed);
        let out = if self.concat { out } else { out.reshape([hop.n_dst, self.heads, f]).mean_dim(1).reshape([hop.n_dst, f]) };
        out + self.bias.val().unsqueeze::<2>()
    }
}

/// Attention-weighted sum of `h` rows over each destination and its
/// neighbours: `h_dst [n_dst, heads·f]`, `h_nbr [n_src, heads·f]`,
/// attention vectors `[1, heads, f]`. Returns `[n_dst, heads·f]`.
#[allow(clippy::too_many_arguments)]
pub fn attend(
    hop: &Hop,
    h_dst: Tensor<2>,
    h_nbr: Tensor<2>,
    heads: usize,
    f: usize,
    a_src: Tensor<3>,
    a_dst: Tensor<3>,
    attn_dropout: f64,
    seed: Option<u64>,
) -> Tensor<2> {
    let n_dst = hop.n_dst;
    let device = h_nbr.device();
    let edges = hop.edge_list(&device);
    let h_all = if hop.is_sparse() { h_nbr } else { Tensor::cat(vec![h_nbr, h_dst.clone()], 0) };
    let n_all = h_all.dims()[0];
    let s_src = (h_all.clone().reshape([n_all, heads, f]) * a_src).sum_dim(2).reshape([n_all, heads]);
    let s_dst = (h_dst.reshape([n_dst, heads, f]) * a_dst).sum_dim(2).reshape([n_dst, heads]);
    let e = leaky_relu(s_src.select(0, edges.src.clone()) + s_dst.select(0, edges.dst.clone()), 0.2);
    // Per-destination maximum, as a constant.
    let host = e.to_data().convert::<f32>();
    let host = host.as_slice::<f32>().expect("f32 scores");
    let mut max = vec![f32::NEG_INFINITY; n_dst * heads];
    for (k, &d) in edges.dst_host.iter().enumerate() {
        for h in 0..heads {
            let m = &mut max[d as usize * heads + h];
            *m = m.max(host[k * heads + h]);
        }
    }
    let shift: Vec<f32> = edges.dst_host.iter().flat_map(|&d| max[d as usize * heads..][..heads].to_vec()).collect();
    let ex = (e - Tensor::<2>::from_data(TensorData::new(shift, [edges.len, heads]), &device)).exp();
    let denom = Tensor::<2>::zeros([n_dst, heads], &device).select_assign(0, edges.dst.clone(), ex.clone(), IndexingUpdateOp::Add);
    let alpha = ex / denom.select(0, edges.dst.clone());
    let alpha = dropout(alpha, attn_dropout, seed);
    let msg = h_all.select(0, edges.src.clone()).reshape([edges.len, heads, f]) * alpha.reshape([edges.len, heads, 1]);
    Tensor::<2>::zeros([n_dst, heads * f], &device).select_assign(0, edges.dst.clone(), msg.reshape([edges.len, heads * f]), IndexingUpdateOp::Add)
}
