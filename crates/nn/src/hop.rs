//! One message-passing hop, in either sampler layout, and the aggregations
//! every layer builds on.
//!
//! * **Sparse** (message-flow block): destinations are the first `n_dst`
//!   rows of the source matrix (the sampler lists seeds first, then each
//!   hop's new nodes), and an [`Adj`] lists each destination's sampled
//!   sources. Every distinct node is computed once per batch.
//! * **Dense** (ego tensors): destination `i`'s neighbours are rows
//!   `i·k .. i·k + k` of a separate neighbour matrix, with a padding mask.
//!   Padding never reaches a result: sums weight it 0, maxima and softmaxes
//!   mask it out, and a row without neighbours aggregates to 0.
//!
//! Weights derived from the structure (mean, GCN normalisation, edge lists)
//! are built on first use and cached on the hop.

use std::sync::{Arc, OnceLock};

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use crate::ops::{Adj, segment_max, spmm, spmm_with_own_rows, spmm_with_self};

/// The layout of a hop.
#[derive(Debug)]
pub enum Structure {
    /// A message-flow block.
    Sparse(Arc<Adj>),
    /// Fixed fan-out `k` with a validity flag per slot (`n_dst · k`).
    Dense {
        /// Fan-out.
        k: usize,
        /// Slot validity.
        mask: Vec<bool>,
    },
}

/// Edge weighting of a linear aggregation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Norm {
    /// Weight 1.
    Sum,
    /// Weight `1 / count`.
    Mean,
    /// GCN symmetric normalisation `1 / sqrt((d_i + 1)(d_j + 1))`, scaled
    /// by `d_i / count_i` so that a sampled neighbourhood estimates the full
    /// sum; the self-loop weight is `1 / (d_i + 1)`.
    Gcn,
}

/// One hop; see the module docs.
#[derive(Debug)]
pub struct Hop {
    /// Destination rows.
    pub n_dst: usize,
    /// Rows of the neighbour matrix.
    pub n_src: usize,
    /// Layout.
    pub structure: Structure,
    counts: Vec<u32>,
    /// Graph degree of each destination and of each neighbour row (for GCN
    /// normalisation); the sampled counts when absent.
    degrees: Option<(Vec<f32>, Vec<f32>)>,
    /// Derived tensors, one cache per device kind (autodiff, plain), so a
    /// hop used by training and by evaluation never mixes the two.
    cache: [Cache; 2],
}

#[derive(Debug, Default)]
struct Cache {
    mean: OnceLock<Weighted>,
    sum: OnceLock<Weighted>,
    gcn: OnceLock<(Weighted, Vec<f32>)>,
    gcn_self: OnceLock<Tensor<2>>,
    dense_mask: OnceLock<(Tensor<3, Bool>, Tensor<2, Bool>)>,
    edges: OnceLock<EdgeList>,
}

#[derive(Debug)]
enum Weighted {
    Sparse(Arc<Adj>),
    Dense(Box<Tensor<3>>),
}

/// Edges of a hop including one self-loop per destination, as index
/// tensors (for attention): `dst`, `src` (rows of the neighbour matrix; for
/// a dense hop self-loops point at row `n_src + i` of the neighbour matrix
/// with the destinations appended).
#[derive(Debug)]
pub struct EdgeList {
    /// Destination of each edge.
    pub dst: Tensor<1, Int>,
    /// Source row of each edge.
    pub src: Tensor<1, Int>,
    /// Host copies.
    pub dst_host: Vec<u32>,
    /// Edge count.
    pub len: usize,
}

impl Hop {
    /// A message-flow block hop.
    pub fn sparse(adj: Adj, degrees: Option<(Vec<f32>, Vec<f32>)>) -> Hop {
        assert!(adj.n_dst <= adj.n_src, "a block's destinations are a prefix of its sources");
        let counts = (0..adj.n_dst).map(|i| adj.degree(i) as u32).collect();
        Hop { n_dst: adj.n_dst, n_src: adj.n_src, structure: Structure::Sparse(Arc::new(adj)), counts, degrees, cache: Default::default() }
    }

    /// A hop between two node sets (a relation between node types):
    /// destinations need not be a prefix of the sources. Mean / sum / max
    /// aggregations work on it; GCN's self-loop and attention's self edge
    /// assume the prefix layout and are not for it.
    pub fn bipartite(adj: Adj) -> Hop {
        let counts = (0..adj.n_dst).map(|i| adj.degree(i) as u32).collect();
        Hop { n_dst: adj.n_dst, n_src: adj.n_src, structure: Structure::Sparse(Arc::new(adj)), counts, degrees: None, cache: Default::default() }
    }

    /// Another hop over the same structure (the adjacency is shared; the
    /// derived weights are rebuilt on first use).
    pub fn shared(&self) -> Hop {
        Hop {
            n_dst: self.n_dst,
            n_src: self.n_src,
            structure: match &self.structure {
                Structure::Sparse(a) => Structure::Sparse(a.clone()),
                Structure::Dense { k, mask } => Structure::Dense { k: *k, mask: mask.clone() },
            },
            counts: self.counts.clone(),
            degrees: self.degrees.clone(),
            cache: Default::default(),
        }
    }

    /// An ego hop of fan-out `k` over `n_dst` destinations.
    pub fn dense(n_dst: usize, k: usize, mask: Vec<bool>, degrees: Option<(Vec<f32>, Vec<f32>)>) -> Hop {
        assert_eq!(mask.len(), n_dst * k, "one mask flag per slot");
        let counts = mask.chunks(k.max(1)).map(|c| c.iter().filter(|&&m| m).count() as u32).collect();
        Hop { n_dst, n_src: n_dst * k, structure: Structure::Dense { k, mask }, counts, degrees, cache: Default::default() }
    }

    /// Valid neighbours per destination.
    pub fn counts(&self) -> &[u32] {
        &self.counts
    }

    /// Valid edges (sampled neighbours, padding excluded).
    pub fn edges(&self) -> usize {
        match &self.structure {
            Structure::Sparse(a) => a.nnz(),
            Structure::Dense { mask, .. } => mask.iter().filter(|&&m| m).count(),
        }
    }

    /// Whether destinations are the first rows of the neighbour matrix.
    pub fn is_sparse(&self) -> bool {
        matches!(self.structure, Structure::Sparse(_))
    }

    fn degree_pair(&self, i: usize, j_row: usize) -> (f32, f32) {
        match &self.degrees {
            Some((d, s)) => (d[i], s[j_row]),
            None => (self.counts[i] as f32, self.src_count(j_row)),
        }
    }

    fn src_count(&self, row: usize) -> f32 {
        // Without graph degrees a source row's degree is its own count when
        // it is also a destination (full-batch: every node is), else 0.
        match &self.structure {
            Structure::Sparse(_) if row < self.n_dst => self.counts[row] as f32,
            _ => 0.0,
        }
    }

    fn weights(&self, f: impl Fn(usize, usize) -> f32, device: &Device) -> Weighted {
        match &self.structure {
            Structure::Sparse(a) => Weighted::Sparse(Arc::new(a.reweighted(|i, e| f(i, a.cols[e] as usize)))),
            Structure::Dense { k, mask } => {
                let k = *k;
                let w: Vec<f32> = mask.iter().enumerate().map(|(s, &m)| if m { f(s / k, s) } else { 0.0 }).collect();
                Weighted::Dense(Box::new(Tensor::from_data(TensorData::new(w, [self.n_dst, k, 1]), device)))
            }
        }
    }

    fn cache(&self, device: &Device) -> &Cache {
        &self.cache[usize::from(device.is_autodiff())]
    }

    fn weighted(&self, norm: Norm, device: &Device) -> &Weighted {
        let counts = &self.counts;
        let cache = self.cache(device);
        match norm {
            Norm::Sum => cache.sum.get_or_init(|| match &self.structure {
                Structure::Sparse(a) => Weighted::Sparse(a.clone()),
                Structure::Dense { .. } => self.weights(|_, _| 1.0, device),
            }),
            Norm::Mean => cache.mean.get_or_init(|| self.weights(|i, _| 1.0 / counts[i] as f32, device)),
            Norm::Gcn => {
                &cache
                    .gcn
                    .get_or_init(|| {
                        let w = self.weights(
                            |i, j| {
                                let (di, dj) = self.degree_pair(i, j);
                                (di / counts[i] as f32) / ((di + 1.0) * (dj + 1.0)).sqrt()
                            },
                            device,
                        );
                        let own = (0..self.n_dst).map(|i| 1.0 / (self.degree_pair(i, 0).0 + 1.0)).collect();
                        (w, own)
                    })
                    .0
            }
        }
    }

    /// The GCN self-loop weight of each destination, `[n_dst, 1]`.
    pub fn gcn_self(&self, device: &Device) -> Tensor<2> {
        self.weighted(Norm::Gcn, device);
        let cache = self.cache(device);
        cache
            .gcn_self
            .get_or_init(|| {
                let own = cache.gcn.get().map(|g| g.1.clone()).unwrap_or_default();
                Tensor::from_data(TensorData::new(own, [self.n_dst, 1]), device)
            })
            .clone()
    }

    /// `Σ_j w_ij x_nbr[j]` over each destination's neighbours.
    pub fn aggregate(&self, norm: Norm, x_nbr: Tensor<2>) -> Tensor<2> {
        match self.weighted(norm, &x_nbr.device()) {
            Weighted::Sparse(a) => spmm(a, x_nbr),
            Weighted::Dense(w) => {
                let [_, d] = x_nbr.dims();
                let k = w.dims()[1];
                (x_nbr.reshape([self.n_dst, k, d]) * (**w).clone()).sum_dim(1).reshape([self.n_dst, d])
            }
        }
    }

    /// `[x_dst, aggregate(norm, x_nbr)]` side by side (see
    /// [`spmm_with_self`]); `None` for a dense hop, whose aggregation is a
    /// tensor expression.
    pub fn aggregate_with_self(&self, norm: Norm, x_dst: Tensor<2>, x_nbr: Tensor<2>) -> Option<Tensor<2>> {
        match self.weighted(norm, &x_nbr.device()) {
            Weighted::Sparse(a) => Some(spmm_with_self(a, x_dst, x_nbr)),
            Weighted::Dense(_) => None,
        }
    }

    /// [`aggregate_with_self`](Self::aggregate_with_self) on a block whose
    /// destinations are the first rows of `x` (see [`spmm_with_own_rows`]);
    /// `None` for a dense hop.
    pub fn aggregate_with_own(&self, norm: Norm, x: Tensor<2>) -> Option<Tensor<2>> {
        match self.weighted(norm, &x.device()) {
            Weighted::Sparse(a) => Some(spmm_with_own_rows(a, x)),
            Weighted::Dense(_) => None,
        }
    }

    fn dense_masks(&self, device: &Device) -> &(Tensor<3, Bool>, Tensor<2, Bool>) {
        self.cache(device).dense_mask.get_or_init(|| {
            let Structure::Dense { k, mask } = &self.structure else { unreachable!("dense hop") };
            let invalid: Vec<bool> = mask.iter().map(|m| !m).collect();
            let empty: Vec<bool> = self.counts.iter().map(|&c| c == 0).collect();
            (
                Tensor::from_data(TensorData::new(invalid, [self.n_dst, *k, 1]), device),
                Tensor::from_data(TensorData::new(empty, [self.n_dst, 1]), device),
            )
        })
    }

    /// Element-wise max over each destination's neighbours (0 for none).
    pub fn max(&self, x_nbr: Tensor<2>) -> Tensor<2> {
        match &self.structure {
            Structure::Sparse(a) => segment_max(a, x_nbr),
            Structure::Dense { k, .. } => {
                let [_, d] = x_nbr.dims();
                let (invalid, empty) = self.dense_masks(&x_nbr.device());
                let m = x_nbr.reshape([self.n_dst, *k, d]).mask_fill(invalid.clone().expand([self.n_dst, *k, d]), f32::NEG_INFINITY);
                m.max_dim(1).reshape([self.n_dst, d]).mask_fill(empty.clone().expand([self.n_dst, d]), 0.0)
            }
        }
    }

    /// The hop's edges with a self-loop per destination; see [`EdgeList`].
    pub fn edge_list(&self, device: &Device) -> &EdgeList {
        self.cache(device).edges.get_or_init(|| {
            let (mut dst, mut src) = (Vec::new(), Vec::new());
            match &self.structure {
                Structure::Sparse(a) => {
                    for i in 0..a.n_dst {
                        dst.push(i as u32);
                        src.push(i as u32);
                        for e in a.offsets[i] as usize..a.offsets[i + 1] as usize {
                            dst.push(i as u32);
                            src.push(a.cols[e]);
                        }
                    }
                }
                Structure::Dense { k, mask } => {
                    for i in 0..self.n_dst {
                        dst.push(i as u32);
                        src.push((self.n_src + i) as u32);
                        for j in 0..*k {
                            if mask[i * k + j] {
                                dst.push(i as u32);
                                src.push((i * k + j) as u32);
                            }
                        }
                    }
                }
            }
            let len = dst.len();
            EdgeList { dst: crate::index(&dst, device), src: crate::index(&src, device), dst_host: dst, len }
        })
    }
}
