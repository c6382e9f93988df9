//! Edge-level (unsupervised) GraphSAGE and its GCN / GAT variants: batches
//! of training edges, `k` negatives per positive drawn by any negative
//! strategy (uniform, in-degree^0.75, strict), both ends encoded by the GNN
//! over sampled blocks of the batch's distinct endpoints, dot or cosine
//! scores, and binary cross-entropy, BPR or sampled softmax. The input is a
//! feature column when the nodes have one, else a learnable node-embedding
//! table (selected per batch, so its gradient is a row scatter; Adam then
//! updates the table densely, which suits tables of up to a few million
//! values).

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::activation::{log_softmax, softplus};
use ferrograph_graph::column::Column;
use ferrograph_sample::features;
use ferrograph_sample::negative::{NegativeSampler, NegativeStrategy};
use ferrograph_sample::neighbor::Hop as SHop;
use ferrograph_sample::rng::{SplitMix, derive};
use ferrograph_sample::{LocalGraph, NeighborSampler, Relation, Strategy};

use crate::batch::blocks;
use crate::config::{LinkLoss, NegativeKind, Score};
use crate::model::{Gnn, ModelConfig};
use crate::trainer::{adam, host, infer_all_with};
use crate::{Result, index, matrix};

/// Hyper-parameters of [`train_link`] and
/// [`train_bipartite_sage`](crate::bipartite::train_bipartite_sage) (there
/// `epochs` draw as many triples as there are interactions, `batch_size`
/// counts triples).
#[derive(Clone, Debug)]
pub struct LinkSageConfig {
    /// The GNN (its input width is `input_dim` or the feature width).
    pub model: ModelConfig,
    /// Width of the learnable input table (featureless graphs).
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
    /// Negatives per positive.
    pub negatives: usize,
    /// Where negatives come from.
    pub negative: NegativeKind,
    /// Never a true neighbour as a negative.
    pub strict: bool,
    /// Edge score.
    pub score: Score,
    /// Loss.
    pub loss: LinkLoss,
    /// Cosine scores are divided by this.
    pub temperature: f64,
}

impl LinkSageConfig {
    /// Defaults of the edge-level options (one uniform negative, dot, BCE).
    pub fn new(model: ModelConfig, input_dim: usize, out_dim: usize, fanouts: Vec<usize>) -> Self {
        LinkSageConfig {
            model,
            input_dim,
            out_dim,
            fanouts,
            batch_size: 512,
            epochs: 1,
            lr: 0.01,
            seed: 0,
            negatives: 1,
            negative: NegativeKind::Random,
            strict: false,
            score: Score::Dot,
            loss: LinkLoss::Bce,
            temperature: 0.1,
        }
    }
}

/// An optional learnable input table and the GNN on top.
#[derive(Module, Debug)]
pub struct LinkSage {
    /// Input rows, one per node (featureless graphs).
    pub table: Option<Param<Tensor<2>>>,
    /// The encoder.
    pub gnn: Gnn,
}

/// What the encoder reads.
#[derive(Clone, Copy)]
pub enum Input<'a> {
    /// The model's learnable table.
    Table,
    /// A float-vector (or sparse) feature column of the node type.
    Features(&'a Column),
}

impl Input<'_> {
    /// Input width, given the table's.
    pub fn dim(&self, table_dim: usize) -> usize {
        match self {
            Input::Table => table_dim,
            Input::Features(c) => features::width(c),
        }
    }
}

impl LinkSage {
    /// A fresh model for `n` nodes.
    pub fn new(cfg: &LinkSageConfig, n: usize, input: Input<'_>) -> Self {
        let table = matches!(input, Input::Table).then(|| Param::from_tensor(crate::layers::linear::glorot(n, cfg.input_dim, derive(cfg.seed, 1))));
        LinkSage { table, gnn: cfg.model.init(input.dim(cfg.input_dim), cfg.out_dim, derive(cfg.seed, 2)) }
    }

    /// Input rows of `nodes`.
    fn rows(&self, input: Input<'_>, nodes: &[u32]) -> Result<Tensor<2>> {
        match (input, &self.table) {
            (Input::Features(c), _) => {
                let mut buf = Vec::new();
                features::gather(c, nodes, &mut buf)?;
                Ok(matrix(buf, nodes.len(), features::width(c)))
            }
            (Input::Table, Some(t)) => Ok(t.val().select(0, index(nodes))),
            (Input::Table, None) => Err(crate::Error::Invalid("this model was built for a feature column, not a learnable table".into())),
        }
    }

    /// Embeddings of all `n` nodes (exact layer-wise inference), row-major.
    pub fn embed_all(&self, local: &LocalGraph<'_>, rel: Relation, n: usize, input: Input<'_>) -> Result<(Vec<f32>, usize)> {
        let rows = |nodes: &[u32]| self.rows(input, nodes);
        infer_all_with(&self.gnn, local, rel, n, &rows, self.gnn.layers(), None)
    }
}

/// Edge scores of `a[i]` against `b[i]` (`[B]`).
pub fn score(a: Tensor<2>, b: Tensor<2>, how: Score, temperature: f64) -> Tensor<1> {
    match how {
        Score::Dot => (a * b).sum_dim(1).squeeze_dim(1),
        Score::Cosine => {
            let norm = |x: Tensor<2>| x.clone() / (x.powi_scalar(2).sum_dim(1).sqrt() + 1e-8);
            ((norm(a) * norm(b)).sum_dim(1) / temperature).squeeze_dim(1)
        }
    }
}

/// The loss of positive scores `[B]` against negative scores `[B, k]`.
pub fn link_loss(pos: Tensor<1>, neg: Tensor<2>, how: LinkLoss) -> Tensor<1> {
    let b = pos.dims()[0];
    let pos2 = pos.reshape([b, 1]);
    match how {
        // -log σ(pos) - log σ(-neg) = softplus(-pos) + softplus(neg)
        LinkLoss::Bce => softplus(pos2.neg(), 1.0).mean() + softplus(neg, 1.0).mean(),
        LinkLoss::Bpr => softplus(neg - pos2, 1.0).mean(),
        LinkLoss::Softmax => log_softmax(Tensor::cat(vec![pos2, neg], 1), 1).narrow(1, 0, 1).mean().neg(),
    }
}

/// Trains on every stored edge of `rel` in `local`'s graph and returns the
/// final embeddings of all `n` nodes (exact layer-wise inference), row-major
/// `n × out_dim`, and the mean loss of each epoch. Featureless: a learnable
/// input table.
pub fn train_link_sage(local: &LocalGraph<'_>, rel: Relation, cfg: &LinkSageConfig) -> Result<(Vec<f32>, Vec<f64>)> {
    let mut losses = Vec::new();
    let model = train_link(local, rel, cfg, Input::Table, &mut |_, loss, _| {
        losses.push(loss);
        Ok(())
    })?;
    let n = local.graph().node_count(rel.from);
    Ok((model.embed_all(local, rel, n, Input::Table)?.0, losses))
}

/// Trains per `cfg`, calling `after_epoch(epoch, mean loss, model)` after
/// every epoch (1-based); returns the final model.
pub fn train_link(
    local: &LocalGraph<'_>,
    rel: Relation,
    cfg: &LinkSageConfig,
    input: Input<'_>,
    after_epoch: &mut dyn FnMut(usize, f64, &LinkSage) -> Result<()>,
) -> Result<LinkSage> {
    let g = local.graph();
    let n = g.node_count(rel.from);
    let csr = g.topology(rel.edge_type, rel.direction);
    let mut rows = Vec::with_capacity(csr.len());
    for s in 0..csr.rows() {
        rows.extend(std::iter::repeat_n(s as u32, csr.degree(s)));
    }
    let targets = csr.targets.as_slice();
    let mut model = LinkSage::new(cfg, n, input);
    let mut optim = adam(0.0);
    let sampler = NeighborSampler::new(cfg.fanouts.iter().map(|&k| SHop { relation: rel, fanout: k }).collect(), Strategy::RandomWithoutReplacement)?;
    let strategy = match cfg.negative {
        NegativeKind::Random => NegativeStrategy::Random,
        NegativeKind::InDegree => NegativeStrategy::InDegree,
    };
    let negatives = NegativeSampler::new(local, rel, strategy, cfg.strict)?;
    let k = cfg.negatives.max(1);
    for epoch in 0..cfg.epochs {
        let mut order: Vec<u32> = (0..rows.len() as u32).collect();
        let mut rng = SplitMix::new(derive(cfg.seed, 100 + epoch as u64));
        rng.shuffle(&mut order);
        let (mut sum, mut steps) = (0.0, 0);
        for (b, chunk) in order.chunks(cfg.batch_size).enumerate() {
            let bseed = derive(derive(cfg.seed, epoch as u64), b as u64);
            let src: Vec<u32> = chunk.iter().map(|&e| rows[e as usize]).collect();
            let dst: Vec<u32> = chunk.iter().map(|&e| targets[e as usize]).collect();
            let neg = negatives.sample(&src, k, derive(bseed, 7))?;
            let mut seeds: Vec<u32> = src.iter().chain(&dst).chain(&neg).copied().collect();
            seeds.sort_unstable();
            seeds.dedup();
            let out = sampler.sample(local, &seeds, bseed)?;
            let hops = blocks(&out, cfg.model.layers(), None);
            let x = model.rows(input, &out.node)?;
            let h = model.gnn.forward_blocks(&hops.iter().collect::<Vec<_>>(), x, Some(derive(cfg.seed ^ 0x5a, (epoch * 1_000_003 + b) as u64)));
            // Rows of `h` are the distinct seeds in sorted order.
            let at = |v: &[u32]| index(&v.iter().map(|x| seeds.binary_search(x).expect("endpoint is a seed") as u32).collect::<Vec<_>>());
            let src_k: Vec<u32> = src.iter().flat_map(|&s| std::iter::repeat_n(s, k)).collect();
            let (hs, hd) = (h.clone().select(0, at(&src)), h.clone().select(0, at(&dst)));
            let (hsk, hn) = (h.clone().select(0, at(&src_k)), h.select(0, at(&neg)));
            let pos = score(hs, hd, cfg.score, cfg.temperature);
            let negs = score(hsk, hn, cfg.score, cfg.temperature).reshape([src.len(), k]);
            let loss = link_loss(pos, negs, cfg.loss);
            let grads = loss.backward();
            sum += f64::from(host(loss.reshape([1, 1]))[0]);
            steps += 1;
            let gp = burn::optim::GradientsParams::from_grads(grads, &model);
            model = optim.step(cfg.lr, model, gp);
        }
        after_epoch(epoch + 1, sum / steps.max(1) as f64, &model)?;
    }
    Ok(model)
}
