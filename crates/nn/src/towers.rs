//! Bipartite GraphSAGE's model: one learnable input table over users then
//! items and two towers — one GraphSAGE encoding users, one encoding items
//! — over the same sampled blocks.

use burn::module::{Module, Param};
use burn::tensor::Tensor;

use crate::gnn::{Gnn, GnnConfig};
use crate::layers::linear::glorot;
use ferrograph_sample::rng::derive;

/// The input table and the two towers.
#[derive(Module, Debug)]
pub struct TwoTower {
    /// Input rows, users then items.
    pub table: Param<Tensor<2>>,
    /// User tower.
    pub user: Gnn,
    /// Item tower.
    pub item: Gnn,
}

impl TwoTower {
    /// Fresh towers of `cfg` over an `n × input_dim` table, `out_dim` wide.
    pub fn new(cfg: &GnnConfig, n: usize, input_dim: usize, out_dim: usize, seed: u64) -> TwoTower {
        TwoTower {
            table: Param::from_tensor(glorot(n, input_dim, derive(seed, 1))),
            user: cfg.init(input_dim, out_dim, derive(seed, 2)),
            item: cfg.init(input_dim, out_dim, derive(seed, 3)),
        }
    }
}
