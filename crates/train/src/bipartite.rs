//! Bipartite GraphSAGE for recommendation: users and items in one graph
//! (users `0..U`, items `U..U+I`, interactions in both directions), a
//! learnable input table, and two towers — one GraphSAGE encoding users, one
//! encoding items — over the same sampled blocks; BPR on dot scores; exact
//! layer-wise inference for the final embeddings and the LightGCN
//! evaluation protocol (Recall@K, NDCG@K over all unseen items).

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::activation::softplus;
use ferrograph_graph::topology::{BuildOptions, build_topology};
use ferrograph_sample::neighbor::Hop as SHop;
use ferrograph_sample::rng::{SplitMix, derive};
use ferrograph_sample::{LocalGraph, NeighborSampler, Relation, Strategy};

use crate::batch::blocks;
use crate::lightgcn::{Interactions, recall_ndcg, triples};
use crate::linktrain::LinkSageConfig;
use crate::model::Gnn;
use crate::trainer::{adam, host, infer_all_with};
use crate::{Error, Result, index};

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

/// Trains on `train` and returns Recall@K and NDCG@K on `test` and the
/// mean BPR loss of each epoch.
pub fn train_bipartite_sage(train: &Interactions, test: &Interactions, k: usize, cfg: &LinkSageConfig) -> Result<((f64, f64), Vec<f64>)> {
    let t = train_bipartite(train, cfg, &mut |_, _| Ok(()))?;
    Ok((recall_ndcg(&t.users, &t.items, t.dim, train, test, k), t.losses))
}

/// Final embeddings of a bipartite GraphSAGE run.
#[derive(Clone, Debug)]
pub struct Towers {
    /// User embeddings, `users × dim`, row-major.
    pub users: Vec<f32>,
    /// Item embeddings, `items × dim`.
    pub items: Vec<f32>,
    /// Width.
    pub dim: usize,
    /// Mean BPR loss of each epoch.
    pub losses: Vec<f64>,
}

/// Trains on `train`, calling `after_epoch(epoch, loss)` after each epoch;
/// returns the final embeddings (exact layer-wise inference).
pub fn train_bipartite(train: &Interactions, cfg: &LinkSageConfig, after_epoch: &mut dyn FnMut(usize, f64) -> Result<()>) -> Result<Towers> {
    let (u, n) = (train.users, train.users + train.items);
    let (mut src, mut dst) = (Vec::with_capacity(2 * train.len()), Vec::with_capacity(2 * train.len()));
    for user in 0..u {
        for &i in train.row(user) {
            src.extend([user as u32, (u + i as usize) as u32]);
            dst.extend([(u + i as usize) as u32, user as u32]);
        }
    }
    let built = build_topology(n, n, src, dst, BuildOptions::default()).map_err(|e| Error::Invalid(e.to_string()))?;
    let g = ferrograph_io::generate::homogeneous_graph(n, built, Vec::new()).map_err(|e| Error::Invalid(e.to_string()))?;
    let local = LocalGraph::new(&g);
    let rel = Relation::resolve(&g, "edge").map_err(|e| Error::Invalid(e.to_string()))?;
    let layers = cfg.model.layers();
    let sampler = NeighborSampler::new(cfg.fanouts.iter().map(|&f| SHop { relation: rel, fanout: f }).collect(), Strategy::RandomWithoutReplacement)?;
    let mut model = TwoTower {
        table: Param::from_tensor(crate::layers::linear::glorot(n, cfg.input_dim, derive(cfg.seed, 1))),
        user: cfg.model.init(cfg.input_dim, cfg.out_dim, derive(cfg.seed, 2)),
        item: cfg.model.init(cfg.input_dim, cfg.out_dim, derive(cfg.seed, 3)),
    };
    let mut optim = adam(0.0);
    let mut rng = SplitMix::new(derive(cfg.seed, 4));
    let mut losses = Vec::new();
    for epoch in 0..cfg.epochs {
        let all = triples(train, train.len(), &mut rng);
        let (mut sum, mut steps) = (0.0, 0);
        for (b, batch) in all.chunks(cfg.batch_size).enumerate() {
            let users: Vec<u32> = batch.iter().map(|t| t[0]).collect();
            let pos: Vec<u32> = batch.iter().map(|t| u as u32 + t[1]).collect();
            let neg: Vec<u32> = batch.iter().map(|t| u as u32 + t[2]).collect();
            let mut seeds: Vec<u32> = users.iter().chain(&pos).chain(&neg).copied().collect();
            seeds.sort_unstable();
            seeds.dedup();
            let out = sampler.sample(&local, &seeds, derive(derive(cfg.seed, 10 + epoch as u64), b as u64))?;
            let hops = blocks(&out, layers, None);
            let hop_refs: Vec<_> = hops.iter().collect();
            let x = model.table.val().select(0, index(&out.node));
            let dseed = Some(derive(cfg.seed ^ 0x77, (epoch * 1_000_003 + b) as u64));
            let hu = model.user.forward_blocks(&hop_refs, x.clone(), dseed);
            let hi = model.item.forward_blocks(&hop_refs, x, dseed);
            let at = |v: &[u32]| index(&v.iter().map(|x| seeds.binary_search(x).expect("seed") as u32).collect::<Vec<_>>());
            let eu = hu.select(0, at(&users));
            let (ei, ej) = (hi.clone().select(0, at(&pos)), hi.select(0, at(&neg)));
            let loss = softplus((eu.clone() * ej).sum_dim(1) - (eu * ei).sum_dim(1), 1.0).mean();
            let grads = loss.backward();
            sum += f64::from(host(loss.reshape([1, 1]))[0]);
            steps += 1;
            let gp = burn::optim::GradientsParams::from_grads(grads, &model);
            model = optim.step(cfg.lr, model, gp);
        }
        losses.push(sum / steps.max(1) as f64);
        after_epoch(epoch + 1, sum / steps.max(1) as f64)?;
    }
    let table = model.table.val();
    let input = |nodes: &[u32]| -> Result<Tensor<2>> { Ok(table.clone().select(0, index(nodes))) };
    let (users_all, d) = infer_all_with(&model.user, &local, rel, n, &input, layers, None)?;
    let (items_all, _) = infer_all_with(&model.item, &local, rel, n, &input, layers, None)?;
    Ok(Towers { users: users_all[..u * d].to_vec(), items: items_all[u * d..].to_vec(), dim: d, losses })
}
