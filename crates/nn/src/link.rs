//! Edge-level encoders: a GNN (optionally over a learnable input table, for
//! featureless graphs) whose output rows score node pairs by dot product or
//! scaled cosine.

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::gnn::Gnn;
use crate::layers::linear::glorot;

/// Edge scores (`link.score`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Score {
    /// Dot product of the two embeddings.
    #[default]
    Dot,
    /// Cosine similarity divided by a temperature.
    Cosine,
}

/// Scores of `a[i]` against `b[i]` (`[B]`).
pub fn score(a: Tensor<2>, b: Tensor<2>, how: Score, temperature: f64) -> Tensor<1> {
    match how {
        Score::Dot => (a * b).sum_dim(1).squeeze_dim(1),
        Score::Cosine => {
            let norm = |x: Tensor<2>| x.clone() / (x.powi_scalar(2).sum_dim(1).sqrt() + 1e-8);
            ((norm(a) * norm(b)).sum_dim(1) / temperature).squeeze_dim(1)
        }
    }
}

/// An optional learnable input table and the GNN on top.
#[derive(Module, Debug)]
pub struct LinkEncoder {
    /// Input rows, one per node (featureless graphs).
    pub table: Option<Param<Tensor<2>>>,
    /// The encoder.
    pub gnn: Gnn,
}

impl LinkEncoder {
    /// An encoder over `gnn`, with a fresh `n × table_dim` Glorot table when
    /// `table_dim` is given.
    pub fn new(gnn: Gnn, table: Option<(usize, usize)>, seed: u64) -> Self {
        LinkEncoder { table: table.map(|(n, d)| Param::from_tensor(glorot(n, d, seed))), gnn }
    }

    /// Table rows `nodes` (with gradients), when the encoder has a table.
    pub fn table_rows(&self, nodes: &[u32]) -> Option<Tensor<2>> {
        self.table.as_ref().map(|t| {
            let v = t.val();
            let d = v.device();
            v.select(0, crate::index(nodes, &d))
        })
    }
}
