//! LightGCN (He et al. 2020): no feature transforms, no non-linearities.
//! The ego embeddings `E0` of users and items are propagated over the
//! symmetric normalised bipartite adjacency, `E_{k+1} = D^-1/2 A D^-1/2 E_k`;
//! the final embedding is the mean of `E0..EK` and a user–item score is a
//! dot product. Training minimises BPR over (user, seen item, unseen item)
//! triples plus L2 on the batch's ego embeddings, as the reference
//! implementation does. Propagation is [`spmm`] (parallel over rows; its
//! backward is the same matrix, which is symmetric).

use std::sync::Arc;

use burn::module::{Module, Param};
use burn::tensor::{Tensor, TensorData};
use ferrograph_sample::rng::SplitMix;

use crate::ops::{Adj, spmm};
use crate::{index, train_device};

/// The ego embeddings of users then items.
#[derive(Module, Debug)]
pub struct LightGcn {
    /// `[users + items, dim]`.
    pub ego: Param<Tensor<2>>,
}

/// The symmetric normalised adjacency over users `0..users` then items
/// `users..users + items`, from the user → item rows `offsets`/`items_of`
/// (CSR, `users + 1` offsets).
pub fn normalized_adjacency(users: usize, items: usize, offsets: &[u64], items_of: &[u32]) -> Adj {
    let n = users + items;
    let mut item_deg = vec![0u32; items];
    for &i in items_of {
        item_deg[i as usize] += 1;
    }
    let m = items_of.len();
    let (mut dst, mut src, mut w) = (Vec::with_capacity(2 * m), Vec::with_capacity(2 * m), Vec::with_capacity(2 * m));
    for u in 0..users {
        let row = &items_of[offsets[u] as usize..offsets[u + 1] as usize];
        let du = row.len() as f32;
        for &i in row {
            let x = 1.0 / (du * item_deg[i as usize] as f32).sqrt();
            let item = (users + i as usize) as u32;
            dst.extend([u as u32, item]);
            src.extend([item, u as u32]);
            w.extend([x, x]);
        }
    }
    Adj::from_edges(n, n, &dst, &src, Some(&w))
}

impl LightGcn {
    /// Fresh ego embeddings, normal with std 0.1 (the reference init).
    pub fn new(nodes: usize, dim: usize, seed: u64) -> LightGcn {
        let mut rng = SplitMix::new(seed);
        let mut v = Vec::with_capacity(nodes * dim + 1);
        while v.len() < nodes * dim {
            // Box–Muller.
            let u1 = ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64).max(f64::MIN_POSITIVE);
            let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let r = (-2.0 * u1.ln()).sqrt() * 0.1;
            v.push((r * (std::f64::consts::TAU * u2).cos()) as f32);
            v.push((r * (std::f64::consts::TAU * u2).sin()) as f32);
        }
        v.truncate(nodes * dim);
        LightGcn { ego: Param::from_tensor(Tensor::from_data(TensorData::new(v, [nodes, dim]), &train_device())) }
    }

    /// Final embeddings: the mean of `E0..E_layers`.
    pub fn propagate(&self, adj: &Arc<Adj>, layers: usize) -> Tensor<2> {
        let mut e = self.ego.val();
        let mut sum = e.clone();
        for _ in 0..layers {
            e = spmm(adj, e);
            sum = sum + e.clone();
        }
        sum / (layers + 1) as f64
    }

    /// The training loss of a batch of triples (`users`, seen items `pos`
    /// and unseen items `neg`, as rows of the joint table): BPR plus `l2`
    /// times half the squared norm of the batch's ego rows per triple.
    /// Returns (total, BPR alone).
    pub fn loss(&self, adj: &Arc<Adj>, layers: usize, users: &[u32], pos: &[u32], neg: &[u32], l2: f64) -> (Tensor<1>, Tensor<1>) {
        let d = train_device();
        let e = self.propagate(adj, layers);
        let (iu, ip, ineg) = (index(users, &d), index(pos, &d), index(neg, &d));
        let bpr = crate::loss::bpr(e.clone().select(0, iu.clone()), e.clone().select(0, ip.clone()), e.select(0, ineg.clone()));
        let ego = self.ego.val();
        let reg = (ego.clone().select(0, iu).powi_scalar(2).sum()
            + ego.clone().select(0, ip).powi_scalar(2).sum()
            + ego.select(0, ineg).powi_scalar(2).sum())
            * (0.5 / users.len().max(1) as f64);
        (bpr.clone() + reg * l2, bpr)
    }
}
