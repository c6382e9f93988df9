//! GCN (Kipf & Welling 2017): `out_i = Σ_{j ∈ N(i) ∪ {i}} x_j W / sqrt((d_i+1)(d_j+1)) + b`.
//! On a sampled neighbourhood the neighbour sum is scaled by
//! `d_i / sampled_i` (see [`Norm::Gcn`]); on a full graph it is exact.

use burn::module::{Module, Param};
use burn::tensor::Tensor;

use super::Linear;
use super::sage::transform_first;
use crate::hop::{Hop, Norm};
use crate::{Input, train_device};

/// Configuration of a [`GcnConv`].
#[derive(Clone, Debug)]
pub struct GcnConvConfig {
    /// Input width.
    pub d_in: usize,
    /// Output width.
    pub d_out: usize,
}

impl GcnConvConfig {
    /// A layer `d_in → d_out`.
    pub fn new(d_in: usize, d_out: usize) -> Self {
        GcnConvConfig { d_in, d_out }
    }

    /// Builds the layer with weights drawn from `seed`.
    pub fn init(&self, seed: u64) -> GcnConv {
        GcnConv { lin: Linear::new(self.d_in, self.d_out, false, seed), bias: Param::from_tensor(Tensor::zeros([self.d_out], &train_device())) }
    }
}

/// A GCN layer.
#[derive(Module, Debug)]
pub struct GcnConv {
    pub(crate) lin: Linear,
    pub(crate) bias: Param<Tensor<1>>,
}

impl GcnConv {
    /// Output rows for `hop`'s destinations.
    pub fn forward(&self, hop: &Hop, x_dst: Tensor<2>, x_nbr: Tensor<2>) -> Tensor<2> {
        let own = hop.gcn_self(&x_nbr.device());
        let out = if transform_first(hop, self.lin.d_in(), self.lin.d_out()) {
            let h_nbr = self.lin.forward(x_nbr);
            let h_dst = if hop.is_sparse() { h_nbr.clone().narrow(0, 0, hop.n_dst) } else { self.lin.forward(x_dst) };
            hop.aggregate(Norm::Gcn, h_nbr) + h_dst * own
        } else {
            self.lin.forward(hop.aggregate(Norm::Gcn, x_nbr) + x_dst * own)
        };
        out + self.bias.val().unsqueeze::<2>()
    }

    /// [`forward`](Self::forward) over a block whose source rows are `x`
    /// (destinations first). Sparse rows are transformed first (`X·W` as a
    /// sparse product), dense rows take the cheaper order.
    pub fn forward_input(&self, hop: &Hop, x: &Input) -> Tensor<2> {
        match x {
            Input::Dense(t) => self.forward(hop, t.clone().narrow(0, 0, hop.n_dst), t.clone()),
            Input::Sparse(_) => {
                let h_nbr = self.lin.forward_input(x);
                let own = hop.gcn_self(&h_nbr.device());
                let h_dst = h_nbr.clone().narrow(0, 0, hop.n_dst);
                hop.aggregate(Norm::Gcn, h_nbr) + h_dst * own + self.bias.val().unsqueeze::<2>()
            }
        }
    }
}
