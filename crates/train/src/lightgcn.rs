//! LightGCN (He et al. 2020) for user–item recommendation, and its
//! evaluation. No feature transforms, no non-linearities: the ego
//! embeddings `E0` of users and items are propagated over the symmetric
//! normalised bipartite adjacency, `E_{k+1} = D^-1/2 A D^-1/2 E_k`, the
//! final embedding is the mean of `E0..EK`, a user–item score is a dot
//! product, and training minimises BPR over (user, seen item, unseen item)
//! triples plus L2 on the ego embeddings of the batch, as the reference
//! implementation does. Propagation is the crate's sparse `spmm` (parallel
//! over rows, its backward the same matrix, which is symmetric).
//!
//! Evaluation is the reference protocol: for every test user, rank all
//! items not in the user's training set; Recall@K and NDCG@K, in parallel
//! over users.

use std::sync::Arc;

use burn::module::{Module, Param};
use burn::tensor::activation::softplus;
use burn::tensor::{Tensor, TensorData};
use ferrograph_sample::rng::{SplitMix, derive};
use rayon::prelude::*;

use crate::ops::{Adj, spmm};
use crate::trainer::{adam, host};
use crate::{Result, device, index};

/// User → item lists (CSR rows per user, sorted items).
#[derive(Clone, Debug)]
pub struct Interactions {
    /// Users.
    pub users: usize,
    /// Items.
    pub items: usize,
    /// `users + 1` offsets.
    pub offsets: Vec<u64>,
    /// Items of each user, sorted.
    pub items_of: Vec<u32>,
}

impl Interactions {
    /// From CSR parts of a user → item relation.
    pub fn new(users: usize, items: usize, offsets: &[u64], targets: &[u32]) -> Interactions {
        Interactions { users, items, offsets: offsets.to_vec(), items_of: targets.to_vec() }
    }

    /// The user → item relation `relation` of `g` (rows: the relation's
    /// starting node type).
    pub fn from_graph(g: &ferrograph_graph::Graph, relation: &str) -> Result<Interactions> {
        let (e, dir) = g.schema().relation(relation).map_err(|err| crate::Error::Invalid(err.to_string()))?;
        let csr = g.topology(e, dir);
        let (src, dst) = g.endpoint_counts(e);
        let (users, items) = if dir == ferrograph_graph::Direction::Out { (src, dst) } else { (dst, src) };
        Ok(Interactions::new(users, items, csr.offsets.as_slice(), csr.targets.as_slice()))
    }

    /// Items of user `u`.
    pub fn row(&self, u: usize) -> &[u32] {
        &self.items_of[self.offsets[u] as usize..self.offsets[u + 1] as usize]
    }

    /// Interactions.
    pub fn len(&self) -> usize {
        self.items_of.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items_of.is_empty()
    }
}

/// Hyper-parameters (the reference defaults).
#[derive(Clone, Debug)]
pub struct LightGcnConfig {
    /// Embedding width.
    pub dim: usize,
    /// Propagation layers.
    pub layers: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// L2 weight on the batch's ego embeddings.
    pub l2: f64,
    /// Triples per step.
    pub batch_size: usize,
    /// Epochs (each draws as many triples as there are interactions).
    pub epochs: usize,
    /// Seed.
    pub seed: u64,
}

impl Default for LightGcnConfig {
    fn default() -> Self {
        LightGcnConfig { dim: 64, layers: 3, lr: 0.001, l2: 1e-4, batch_size: 2048, epochs: 100, seed: 0 }
    }
}

/// The ego embeddings of users then items.
#[derive(Module, Debug)]
pub struct LightGcn {
    /// `[users + items, dim]`.
    pub ego: Param<Tensor<2>>,
}

/// The symmetric normalised bipartite adjacency over users then items.
pub fn normalized_adjacency(r: &Interactions) -> Adj {
    let n = r.users + r.items;
    let mut item_deg = vec![0u32; r.items];
    for &i in &r.items_of {
        item_deg[i as usize] += 1;
    }
    let (mut dst, mut src, mut w) = (Vec::with_capacity(2 * r.len()), Vec::with_capacity(2 * r.len()), Vec::with_capacity(2 * r.len()));
    for u in 0..r.users {
        let du = r.row(u).len() as f32;
        for &i in r.row(u) {
            let x = 1.0 / (du * item_deg[i as usize] as f32).sqrt();
            let item = (r.users + i as usize) as u32;
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
        let mut v = Vec::with_capacity(nodes * dim);
        while v.len() < nodes * dim {
            // Box–Muller.
            let u1 = ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64).max(f64::MIN_POSITIVE);
            let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let r = (-2.0 * u1.ln()).sqrt() * 0.1;
            v.push((r * (std::f64::consts::TAU * u2).cos()) as f32);
            v.push((r * (std::f64::consts::TAU * u2).sin()) as f32);
        }
        v.truncate(nodes * dim);
        LightGcn { ego: Param::from_tensor(Tensor::from_data(TensorData::new(v, [nodes, dim]), &device())) }
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
}

/// BPR triples for one epoch: a user drawn uniformly among users with
/// interactions, one of their items, and an item they have not seen.
pub(crate) fn triples(r: &Interactions, count: usize, rng: &mut SplitMix) -> Vec<[u32; 3]> {
    let active: Vec<u32> = (0..r.users as u32).filter(|&u| !r.row(u as usize).is_empty()).collect();
    let mut out = Vec::with_capacity(count);
    if active.is_empty() || r.items == 0 {
        return out;
    }
    while out.len() < count {
        let u = active[rng.below(active.len() as u64) as usize];
        let row = r.row(u as usize);
        if row.len() == r.items {
            continue;
        }
        let i = row[rng.below(row.len() as u64) as usize];
        let j = loop {
            let j = rng.below(r.items as u64) as u32;
            if row.binary_search(&j).is_err() {
                break j;
            }
        };
        out.push([u, i, j]);
    }
    out
}

/// Per-epoch record.
#[derive(Clone, Debug)]
pub struct RecEpoch {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean BPR loss (without the L2 term).
    pub loss: f64,
    /// Seconds of training.
    pub seconds: f64,
    /// Recall@K and NDCG@K on the test interactions, when evaluated.
    pub eval: Option<(f64, f64)>,
}

/// Trains LightGCN on `train`, evaluating on `test` at `K = k` every
/// `eval_every` epochs (and after the last). Returns the model and the
/// per-epoch records.
pub fn train_lightgcn(
    train: &Interactions,
    test: &Interactions,
    k: usize,
    eval_every: usize,
    cfg: &LightGcnConfig,
) -> Result<(LightGcn, Vec<RecEpoch>)> {
    train_lightgcn_with(train, test, k, eval_every, cfg, &mut |_| {})
}

/// [`train_lightgcn`] calling `on_epoch` after every epoch.
pub fn train_lightgcn_with(
    train: &Interactions,
    test: &Interactions,
    k: usize,
    eval_every: usize,
    cfg: &LightGcnConfig,
    on_epoch: &mut dyn FnMut(&RecEpoch),
) -> Result<(LightGcn, Vec<RecEpoch>)> {
    let adj = Arc::new(normalized_adjacency(train));
    let mut model = LightGcn::new(train.users + train.items, cfg.dim, derive(cfg.seed, 1));
    let mut optim = adam(0.0);
    let mut rng = SplitMix::new(derive(cfg.seed, 2));
    let mut history = Vec::new();
    for epoch in 1..=cfg.epochs {
        let t0 = std::time::Instant::now();
        let all = triples(train, train.len(), &mut rng);
        let (mut sum, mut steps) = (0.0, 0);
        for batch in all.chunks(cfg.batch_size) {
            let users: Vec<u32> = batch.iter().map(|t| t[0]).collect();
            let pos: Vec<u32> = batch.iter().map(|t| train.users as u32 + t[1]).collect();
            let neg: Vec<u32> = batch.iter().map(|t| train.users as u32 + t[2]).collect();
            let e = model.propagate(&adj, cfg.layers);
            let (eu, ei, ej) = (e.clone().select(0, index(&users)), e.clone().select(0, index(&pos)), e.select(0, index(&neg)));
            let diff = (eu.clone() * ej).sum_dim(1) - (eu * ei).sum_dim(1);
            let bpr = softplus(diff, 1.0).mean();
            let ego = model.ego.val();
            let reg = (ego.clone().select(0, index(&users)).powi_scalar(2).sum()
                + ego.clone().select(0, index(&pos)).powi_scalar(2).sum()
                + ego.select(0, index(&neg)).powi_scalar(2).sum())
                * (0.5 / batch.len() as f64);
            let loss = bpr.clone() + reg * cfg.l2;
            let grads = loss.backward();
            sum += f64::from(host(bpr.reshape([1, 1]))[0]);
            steps += 1;
            let gp = burn::optim::GradientsParams::from_grads(grads, &model);
            model = optim.step(cfg.lr, model, gp);
        }
        let seconds = t0.elapsed().as_secs_f64();
        let eval = (epoch % eval_every.max(1) == 0 || epoch == cfg.epochs).then(|| {
            let e = host(model.propagate(&adj, cfg.layers).detach());
            let (u, i) = e.split_at(train.users * cfg.dim);
            recall_ndcg(u, i, cfg.dim, train, test, k)
        });
        let rec = RecEpoch { epoch, loss: sum / steps.max(1) as f64, seconds, eval };
        on_epoch(&rec);
        history.push(rec);
    }
    Ok((model, history))
}

/// Recall@K and NDCG@K (reference protocol) for users with test items,
/// scoring every item by `user · item` and excluding training items.
pub fn recall_ndcg(users: &[f32], items: &[f32], dim: usize, train: &Interactions, test: &Interactions, k: usize) -> (f64, f64) {
    let n_items = items.len() / dim;
    rank_eval(train, test, k, |u, scores| {
        let eu = &users[u * dim..][..dim];
        for (i, s) in scores.iter_mut().enumerate().take(n_items) {
            *s = eu.iter().zip(&items[i * dim..][..dim]).map(|(a, b)| a * b).sum();
        }
    })
}

/// The same protocol with every user scoring items by training popularity.
pub fn popularity_baseline(train: &Interactions, test: &Interactions, k: usize) -> (f64, f64) {
    let mut pop = vec![0f32; train.items];
    for &i in &train.items_of {
        pop[i as usize] += 1.0;
    }
    rank_eval(train, test, k, |_, scores| scores.copy_from_slice(&pop))
}

fn rank_eval(train: &Interactions, test: &Interactions, k: usize, score: impl Fn(usize, &mut [f32]) + Sync) -> (f64, f64) {
    let items = train.items;
    let (recall, ndcg, users) = (0..test.users.min(train.users))
        .into_par_iter()
        .filter(|&u| !test.row(u).is_empty())
        .map_init(
            || vec![0f32; items],
            |scores, u| {
                score(u, scores);
                for &i in train.row(u) {
                    scores[i as usize] = f32::NEG_INFINITY;
                }
                let mut top: Vec<u32> = (0..items as u32).collect();
                let kk = k.min(items);
                if kk < items {
                    top.select_nth_unstable_by(kk, |&a, &b| scores[b as usize].total_cmp(&scores[a as usize]).then(a.cmp(&b)));
                }
                top.truncate(kk);
                top.sort_unstable_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]).then(a.cmp(&b)));
                let truth = test.row(u);
                let mut hits = 0.0;
                let mut dcg = 0.0;
                for (rank, &i) in top.iter().enumerate() {
                    if truth.binary_search(&i).is_ok() {
                        hits += 1.0;
                        dcg += 1.0 / ((rank + 2) as f64).log2();
                    }
                }
                let idcg: f64 = (0..truth.len().min(kk)).map(|r| 1.0 / ((r + 2) as f64).log2()).sum();
                (hits / truth.len() as f64, dcg / idcg, 1usize)
            },
        )
        .reduce(|| (0.0, 0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
    (recall / users.max(1) as f64, ndcg / users.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_and_ndcg_by_hand() {
        // 1 user, 4 items; item 0 seen in training; test items {1, 3}.
        let train = Interactions::new(1, 4, &[0, 1], &[0]);
        let test = Interactions::new(1, 4, &[0, 2], &[1, 3]);
        // Scores: item 0 highest (excluded), then 3, 2, 1.
        let items = [9.0, 1.0, 2.0, 3.0];
        let (r, n) = recall_ndcg(&[1.0], &items, 1, &train, &test, 2);
        // Top-2 = [3, 2]: one hit of two; DCG = 1/log2(2) = 1; IDCG = 1 + 1/log2(3).
        assert!((r - 0.5).abs() < 1e-12);
        assert!((n - 1.0 / (1.0 + 1.0 / 3f64.log2())).abs() < 1e-12);
        let adj = normalized_adjacency(&Interactions::new(2, 2, &[0, 2, 3], &[0, 1, 1]));
        // user 0 (deg 2) – item 1 (deg 2): 1/2; user 1 (deg 1) – item 1: 1/√2.
        let w: Vec<(u32, f32)> = adj.cols[adj.offsets[1] as usize..adj.offsets[2] as usize]
            .iter()
            .copied()
            .zip(adj.vals.as_ref().unwrap()[adj.offsets[1] as usize..adj.offsets[2] as usize].iter().copied())
            .collect();
        assert_eq!(w, vec![(3, 1.0 / 2f32.sqrt())]);
    }
}
