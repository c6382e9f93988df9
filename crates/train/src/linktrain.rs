//! Edge-level (unsupervised) GraphSAGE: batches of training edges, one
//! uniformly drawn negative destination per positive, both ends encoded by
//! the GNN over sampled blocks of the batch's distinct endpoints, dot-product
//! scores, binary cross-entropy. For graphs without features the input is a
//! learnable node-embedding table (selected per batch, so its gradient is a
//! row scatter; Adam then updates the table densely, which suits tables of
//! up to a few million values).

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::activation::softplus;
use ferrograph_sample::neighbor::Hop as SHop;
use ferrograph_sample::rng::{SplitMix, derive};
use ferrograph_sample::{LocalGraph, NeighborSampler, Relation, Strategy};

use crate::batch::blocks;
use crate::model::{Gnn, ModelConfig};
use crate::trainer::{adam, host, infer_all_with};
use crate::{Result, index};

/// Hyper-parameters of [`train_link_sage`] and
/// [`train_bipartite_sage`](crate::bipartite::train_bipartite_sage) (there
/// `epochs` draw as many triples as there are interactions, `batch_size`
/// counts triples).
#[derive(Clone, Debug)]
pub struct LinkSageConfig {
    /// The GNN (its input width is `input_dim`).
    pub model: ModelConfig,
    /// Width of the learnable input table.
    pub input_dim: usize,
    /// Output (embedding) width.
    pub out_dim: usize,
    /// Neighbours per hop, one per layer.
    pub fanouts: Vec<usize>,
    /// Positive edges per step.
    pub batch_size: usize,
    /// Passes over the training edges.
    pub epochs: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Seed.
    pub seed: u64,
}

/// A learnable input table and the GNN on top.
#[derive(Module, Debug)]
pub struct LinkSage {
    /// Input rows, one per node.
    pub table: Param<Tensor<2>>,
    /// The encoder.
    pub gnn: Gnn,
}

/// Trains on every stored edge of `rel` in `local`'s graph and returns the
/// final embeddings of all `n` nodes (exact layer-wise inference), row-major
/// `n × out_dim`, and the mean loss of each epoch.
pub fn train_link_sage(local: &LocalGraph<'_>, rel: Relation, cfg: &LinkSageConfig) -> Result<(Vec<f32>, Vec<f64>)> {
    let g = local.graph();
    let n = g.node_count(rel.from);
    let csr = g.topology(rel.edge_type, rel.direction);
    let mut rows = Vec::with_capacity(csr.len());
    for s in 0..csr.rows() {
        rows.extend(std::iter::repeat_n(s as u32, csr.degree(s)));
    }
    let targets = csr.targets.as_slice();
    let table = crate::layers::linear::glorot(n, cfg.input_dim, derive(cfg.seed, 1));
    let mut model = LinkSage { table: Param::from_tensor(table), gnn: cfg.model.init(cfg.input_dim, cfg.out_dim, derive(cfg.seed, 2)) };
    let mut optim = adam(0.0);
    let sampler = NeighborSampler::new(cfg.fanouts.iter().map(|&k| SHop { relation: rel, fanout: k }).collect(), Strategy::RandomWithoutReplacement)?;
    let layers = cfg.model.layers();
    let mut losses = Vec::new();
    for epoch in 0..cfg.epochs {
        let mut order: Vec<u32> = (0..rows.len() as u32).collect();
        let mut rng = SplitMix::new(derive(cfg.seed, 100 + epoch as u64));
        rng.shuffle(&mut order);
        let (mut sum, mut steps) = (0.0, 0);
        for (b, chunk) in order.chunks(cfg.batch_size).enumerate() {
            let src: Vec<u32> = chunk.iter().map(|&e| rows[e as usize]).collect();
            let dst: Vec<u32> = chunk.iter().map(|&e| targets[e as usize]).collect();
            let neg: Vec<u32> = chunk.iter().map(|_| rng.below(n as u64) as u32).collect();
            let mut seeds: Vec<u32> = src.iter().chain(&dst).chain(&neg).copied().collect();
            seeds.sort_unstable();
            seeds.dedup();
            let out = sampler.sample(local, &seeds, derive(derive(cfg.seed, epoch as u64), b as u64))?;
            let hops = blocks(&out, layers, None);
            let x = model.table.val().select(0, index(&out.node));
            let h = model.gnn.forward_blocks(&hops.iter().collect::<Vec<_>>(), x, Some(derive(cfg.seed ^ 0x5a, (epoch * 1_000_003 + b) as u64)));
            // Rows of `h` are the distinct seeds in sorted order.
            let pos_of = |v: &u32| seeds.binary_search(v).expect("endpoint is a seed") as u32;
            let (hs, hd, hn) = (
                h.clone().select(0, index(&src.iter().map(pos_of).collect::<Vec<_>>())),
                h.clone().select(0, index(&dst.iter().map(pos_of).collect::<Vec<_>>())),
                h.select(0, index(&neg.iter().map(pos_of).collect::<Vec<_>>())),
            );
            let pos = (hs.clone() * hd).sum_dim(1);
            let negs = (hs * hn).sum_dim(1);
            // -log σ(pos) - log σ(-neg) = softplus(-pos) + softplus(neg)
            let loss = (softplus(pos.neg(), 1.0) + softplus(negs, 1.0)).mean();
            let grads = loss.backward();
            sum += f64::from(host(loss.reshape([1, 1]))[0]);
            steps += 1;
            let gp = burn::optim::GradientsParams::from_grads(grads, &model);
            model = optim.step(cfg.lr, model, gp);
        }
        losses.push(sum / steps.max(1) as f64);
    }
    let table = model.table.val();
    let input = |nodes: &[u32]| -> Result<Tensor<2>> { Ok(table.clone().select(0, index(nodes))) };
    let (emb, _) = infer_all_with(&model.gnn, local, rel, n, &input, layers, None)?;
    Ok((emb, losses))
}
