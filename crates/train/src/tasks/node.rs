//! Node classification with GraphSAGE, GCN or GAT (`task =
//! "node_classification"`, `model.kind = "sage" | "gcn" | "gat"`).
//!
//! Batches (`train.mode`): `sampled` message-flow blocks (fan-outs per
//! layer, without replacement), `ego` dense tensors with masks, or `full`
//! (the whole graph, one step per epoch). Features are a dense, scalar or
//! sparse column; sparse rows are never densified (the first layer
//! multiplies them in). Optional AliGraph history cache
//! (`train.history_staleness`, [`crate::history`]).
//!
//! Randomness: the epoch's batch order from `(seed, epoch)`, a batch's
//! sample from `(seed, epoch, batch)`, dropout from `(seed ^ 0xd0, epoch,
//! batch)`, weights from `seed`. Validation after an epoch is exact
//! layer-wise inference over every node (no autodiff graph, memory
//! bounded by one layer's output); the kept model is tested the same way
//! and its last hidden layer exported for every node.
//!
//! Data-parallel ([`NodeTask::distributed`]): every rank samples the same
//! global batch, keeps the receptive field of its share of the seeds
//! ([`SamplerOutput::receptive_field`](ferrograph_sample::neighbor::SamplerOutput::receptive_field)),
//! gathers only those rows and scales its loss by its share, so the summed
//! gradient is the single-process gradient of the whole batch. Sampling
//! and inference may go through any [`NeighborAccess`] (the graph servers'
//! `RemoteGraph`); features, labels and node sets come from the snapshot.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use ferrograph_graph::Graph;
use ferrograph_nn::batch::{Degree, blocks, ego_hops, full_hop};
use ferrograph_nn::collective::{Collective, Solo};
use ferrograph_nn::gnn::{GnnConfig, LayerSource, infer_layer, infer_layerwise};
use ferrograph_nn::optim::Optimizer;
use ferrograph_nn::{Gnn, Hop, Input, Module, host, index, infer_device, matrix, record, train_device};
use ferrograph_sample::ego::{Padding, sample_ego};
use ferrograph_sample::neighbor::HopSpec;
use ferrograph_sample::rng::derive;
use ferrograph_sample::traverse::Batches;
use ferrograph_sample::{LocalGraph, NeighborAccess, NeighborSampler, Strategy};

use super::input::{Features, Rows};
use super::{Embedding, Export, shape};
use crate::checkpoint::Sections;
use crate::config::{Mode, ModelKind, Resolved, TrainConfig};
use crate::engine::{Evaluation, Finish, Observer, StepOut, Task};
use crate::history::{History, Hits, history_blocks, sample_with_history};
use crate::metrics::{argmax, classify};
use crate::{Error, Result};

/// The task.
pub struct NodeTask<'g> {
    cfg: &'g TrainConfig,
    g: &'g Graph,
    local: LocalGraph<'g>,
    r: Resolved,
    features: Features<'g>,
    gnn: GnnConfig,
    sampler: NeighborSampler,
    batches: Batches,
    history: Option<History>,
    group: Arc<dyn Collective>,
    remote: Option<&'g dyn NeighborAccess>,
}

/// The learned state.
pub struct NodeModel {
    /// The GNN.
    pub gnn: Gnn,
    optim: Optimizer,
}

/// One epoch's seed batches.
pub struct Plan(Vec<Vec<u32>>);

/// Row-major values for all nodes and their width.
type Table = (Vec<f32>, usize);

/// A prepared batch (host buffers and hops, made on a loader thread).
#[allow(missing_docs)] // the fields are the variant's parts, named as in the docs above
// One batch per step, moved once from the loader: boxing would only allocate.
#[allow(clippy::large_enum_variant)]
pub enum Batch {
    /// Message-flow blocks; `share` scales the loss (this rank's part of
    /// the global batch, 1 on one process).
    Blocks { hops: Vec<Hop>, rows: Rows, labels: Vec<i64>, share: f32 },
    /// Ego tensors: features per depth.
    Ego { hops: Vec<Hop>, xs: Vec<(Vec<f32>, usize)>, labels: Vec<i64> },
    /// Blocks with cached first-layer rows.
    History { hops: Vec<Hop>, rows: Rows, labels: Vec<i64>, cached: Vec<f32>, store: Vec<u32>, hits: Hits },
    /// The whole graph; the loss covers the training nodes.
    Full { hop: Hop, rows: Rows, labels: Vec<i64> },
}

impl<'g> NodeTask<'g> {
    /// Resolves `cfg` in `g` (every mistake names its field).
    pub fn new(cfg: &'g TrainConfig, g: &'g Graph) -> Result<Self> {
        let r = cfg.resolve_in(g)?;
        let name = cfg.data.features.as_deref().unwrap_or_default();
        let features = Features::new(cfg, g, r.node_type, name, "data.features")?;
        let gnn = cfg.gnn_config();
        let t = &cfg.train;
        if features.is_sparse() && !gnn.reads_sparse() {
            return Err(cfg.field("model.aggregator", "the attention aggregator needs dense features; `data.features` is a sparse column"));
        }
        if features.is_sparse() && t.mode == Mode::Ego {
            return Err(cfg.field("train.mode", "ego tensors need dense features; `data.features` is a sparse column (use mode = \"sampled\")"));
        }
        let sampler = NeighborSampler::new(
            t.fanouts.iter().map(|&k| HopSpec { relation: r.relation, fanout: k }).collect(),
            Strategy::RandomWithoutReplacement,
        )?;
        let batches = Batches::new(r.train.clone(), t.batch_size, true, false, t.seed)?;
        let history = t.history_staleness.map(|st| History::new(g.node_count(r.node_type), t.history_capacity, gnn.width(0), st));
        Ok(NodeTask { cfg, g, local: LocalGraph::new(g), r, features, gnn, sampler, batches, history, group: Arc::new(Solo), remote: None })
    }

    /// Trains as one rank of `group` (data-parallel; see the module docs),
    /// sampling, inferring and gathering dense feature rows through
    /// `remote` when given (the graph servers) instead of the snapshot's
    /// topology and columns; without it, the feature column is mapped in.
    pub fn distributed(mut self, group: Arc<dyn Collective>, remote: Option<super::Remote<'g>>) -> Result<Self> {
        let graph = remote.map(|r| r.graph);
        let t = &self.cfg.train;
        if group.size() > 1 {
            if t.mode != Mode::Sampled {
                return Err(self.cfg.field("train.mode", "data-parallel training splits sampled batches; use mode = \"sampled\""));
            }
            if self.history.is_some() {
                return Err(self.cfg.field("train.history_staleness", "the history cache is per process; data-parallel training runs without it"));
            }
        }
        if let Some(g) = graph {
            let (want, have) = (self.n(), g.node_count(self.r.node_type));
            if want != have {
                return Err(Error::Data(format!(
                    "the graph servers hold {have} `{}` nodes, the snapshot {want}: they serve another graph",
                    self.cfg.data.node_type
                )));
            }
        }
        self.group = group;
        self.remote = graph;
        match remote {
            Some(r) => self.features = self.features.through(r.features),
            None => self.features.prefault(),
        }
        if self.features.is_sparse() && remote.is_some() {
            self.features.prefault();
        }
        Ok(self)
    }

    /// Where sampling and inference read the topology.
    fn access(&self) -> &dyn NeighborAccess {
        self.remote.unwrap_or(&self.local)
    }

    fn n(&self) -> usize {
        self.g.node_count(self.r.node_type)
    }

    fn degree_of(&self, v: u32) -> f32 {
        self.g.topology(self.r.relation.edge_type, self.r.relation.direction).degree(v as usize) as f32
    }

    fn labels(&self, nodes: &[u32]) -> Vec<i64> {
        nodes.iter().map(|&v| self.r.labels[v as usize]).collect()
    }

    fn with_degree<R>(&self, f: impl FnOnce(Option<Degree<'_>>) -> R) -> R {
        let d = |v: u32| self.degree_of(v);
        f((self.cfg.model.kind == ModelKind::Gcn).then_some(&d as Degree<'_>))
    }

    /// Layer-wise outputs of the kept model: the last hidden layer (`None`
    /// for a one-layer model) and the logits.
    fn infer(&self, gnn: &Gnn, obs: &dyn Observer, what: &str) -> Result<(Option<Table>, Table)> {
        let n = self.n();
        let layers = gnn.num_layers();
        let input = |nodes: &[u32]| -> ferrograph_nn::Result<Input> {
            self.features.input(nodes, &infer_device()).map_err(|e| ferrograph_nn::Error::Input(e.to_string()))
        };
        let progress = |l: usize, done: usize| obs.progress(&format!("{what}: layer {}/{layers}", l + 1), done, n);
        self.with_degree(|degree| {
            let hidden =
                (layers > 1).then(|| infer_layerwise(gnn, self.access(), self.r.relation, n, &input, layers - 1, degree, &progress)).transpose()?;
            let plain = gnn.valid();
            let source = match &hidden {
                Some((h, w)) => LayerSource::Rows(h, *w),
                None => LayerSource::Input(&input),
            };
            let logits = infer_layer(&plain, self.access(), self.r.relation, n, layers - 1, source, degree, &|d| progress(layers - 1, d))?;
            Ok((hidden, logits))
        })
    }
}

impl Task for NodeTask<'_> {
    type Model = NodeModel;
    type Plan = Plan;
    type Batch = Batch;

    fn selection(&self) -> Option<String> {
        Some("accuracy".into())
    }

    fn shape(&self) -> BTreeMap<String, String> {
        shape(&[
            ("nodes", self.n().to_string()),
            ("features", self.r.dim.to_string()),
            ("sparse_features", self.r.sparse.to_string()),
            ("classes", self.r.classes.to_string()),
        ])
    }

    fn init(&self) -> Result<NodeModel> {
        let t = &self.cfg.train;
        let optim = Optimizer::new(t.optimizer, t.weight_decay).with_group(self.group.clone());
        Ok(NodeModel { gnn: self.gnn.init(self.r.dim, self.r.classes, t.seed), optim })
    }

    fn plan(&self, epoch: usize) -> Result<Plan> {
        Ok(Plan(match self.cfg.train.mode {
            Mode::Full => vec![self.r.train.clone()],
            _ => self.batches.epoch(epoch as u64).collect(),
        }))
    }

    fn steps(&self, plan: &Plan) -> usize {
        plan.0.len()
    }

    fn prepare(&self, plan: &Plan, epoch: usize, step: usize) -> Result<Batch> {
        let t = &self.cfg.train;
        let seeds = &plan.0[step];
        let s = derive(derive(t.seed, epoch as u64), step as u64);
        let labels = self.labels(seeds);
        self.with_degree(|degree| match t.mode {
            Mode::Full => {
                let csr = self.g.topology(self.r.relation.edge_type, self.r.relation.direction);
                let all: Vec<u32> = (0..self.n() as u32).collect();
                Ok(Batch::Full { hop: full_hop(csr.offsets.as_slice(), csr.targets.as_slice())?, rows: self.features.rows(&all)?, labels })
            }
            Mode::Ego => {
                let hops: Vec<_> = t.fanouts.iter().map(|&k| (self.r.relation, k)).collect();
                let e = sample_ego(self.access(), &hops, Strategy::RandomWithoutReplacement, Padding::Mask, seeds, s)?;
                let mut xs = Vec::new();
                for l in &e.layers {
                    match self.features.rows(l)? {
                        Rows::Dense(v, n) => xs.push((v, n)),
                        Rows::Sparse { .. } => return Err(Error::Data("ego tensors need dense features".into())),
                    }
                }
                Ok(Batch::Ego { hops: ego_hops(&e, degree), xs, labels })
            }
            Mode::Sampled => match &self.history {
                Some(hist) => {
                    let hs = sample_with_history(&self.sampler, self.access(), seeds, s, hist)?;
                    let rows = self.features.rows(&hs.out.node)?;
                    let hops = history_blocks(&hs, degree);
                    let store = hs.out.node[..hs.computed].to_vec();
                    Ok(Batch::History { hops, rows, labels, cached: hs.cached, store, hits: hs.hits })
                }
                None => {
                    let o = self.sampler.sample(self.access(), seeds, s)?;
                    let (rank, size) = (self.group.rank(), self.group.size());
                    if size == 1 {
                        let rows = self.features.rows(&o.node)?;
                        return Ok(Batch::Blocks { hops: blocks(&o, self.gnn.num_layers(), degree), rows, labels, share: 1.0 });
                    }
                    let share = rank * seeds.len() / size..(rank + 1) * seeds.len() / size;
                    let o = o.receptive_field(share.clone());
                    let rows = self.features.rows(&o.node)?;
                    let part = share.len() as f32 / seeds.len().max(1) as f32;
                    let labels = labels[share].to_vec();
                    Ok(Batch::Blocks { hops: blocks(&o, self.gnn.num_layers(), degree), rows, labels, share: part })
                }
            },
        })
    }

    fn step(&self, model: NodeModel, batch: Batch, epoch: usize, step: usize) -> Result<(NodeModel, StepOut)> {
        let t = &self.cfg.train;
        let NodeModel { gnn, mut optim } = model;
        let dseed = Some(derive(derive(t.seed ^ 0xd0, epoch as u64), step as u64));
        let dev = train_device();
        let dim = self.r.dim;
        let mut hist = None;
        let mut share = 1.0;
        let (logits, labels) = match batch {
            Batch::Blocks { labels, .. } if labels.is_empty() => {
                // This rank's share of a small last batch is empty: it adds zeros to the gradient sum.
                let gnn = optim.idle_step(t.lr, gnn);
                return Ok((NodeModel { gnn, optim }, StepOut { loss: 0.0, examples: 0, correct: Some(0), history: None }));
            }
            Batch::Blocks { hops, rows, labels, share: s } => {
                share = s;
                let logits = gnn.forward_blocks(&hops.iter().collect::<Vec<_>>(), rows.into_input(dim, &dev)?, dseed);
                // Other ranks' seeds in this receptive field come after ours.
                let logits = if logits.dims()[0] > labels.len() { logits.narrow(0, 0, labels.len()) } else { logits };
                (logits, labels)
            }
            Batch::Ego { hops, xs, labels } => {
                let xs = xs.into_iter().map(|(v, rows)| matrix(v, rows, dim, &dev)).collect();
                (gnn.forward_ego(&hops, xs, dseed), labels)
            }
            Batch::History { hops, rows, labels, cached, store, hits } => {
                let h = self.history.as_ref().ok_or_else(|| Error::Data("history batch without a cache".into()))?;
                let n_cached = cached.len() / h.dim().max(1);
                let c = matrix(cached, n_cached, h.dim(), &dev);
                let (logits, h0) = gnn.forward_blocks_history(&hops.iter().collect::<Vec<_>>(), rows.into_input(dim, &dev)?, c, dseed);
                hist = Some((store, h0, hits));
                (logits, labels)
            }
            Batch::Full { hop, rows, labels } => {
                let layers = gnn.num_layers();
                let logits = gnn.forward_blocks(&vec![&hop; layers], rows.into_input(dim, &dev)?, dseed);
                (logits.select(0, index(&self.r.train, &dev)), labels)
            }
        };
        let pred = host(logits.clone().detach());
        let classes = self.r.classes;
        let correct = labels.iter().enumerate().filter(|(i, l)| argmax(&pred[i * classes..][..classes]) == **l as usize).count();
        let mut loss = ferrograph_nn::loss::cross_entropy(logits, &labels);
        if share != 1.0 {
            loss = loss.mul_scalar(share);
        }
        let (gnn, lv) = optim.minimize(t.lr, gnn, loss);
        let mut out = StepOut { loss: f64::from(lv), examples: labels.len(), correct: Some(correct), history: None };
        if let (Some((store, h0, hits)), Some(h)) = (hist, &self.history) {
            h.store(&store, &host(h0));
            out.history = Some((hits.hits, hits.lookups));
        }
        Ok((NodeModel { gnn, optim }, out))
    }

    fn evaluate(&self, model: &NodeModel, _epoch: usize, obs: &dyn Observer) -> Result<Evaluation> {
        let (_, (logits, _)) = self.infer(&model.gnn, obs, "validation")?;
        Ok(Evaluation { val: classify(&logits, self.r.classes, &self.r.labels, &self.r.val).metrics(), test: Default::default() })
    }

    fn finish(&self, model: &NodeModel, out: &Path, obs: &dyn Observer) -> Result<Finish> {
        obs.phase("test");
        let t0 = Instant::now();
        let (hidden, (logits, width)) = self.infer(&model.gnn, obs, "test")?;
        let test = classify(&logits, self.r.classes, &self.r.labels, &self.r.test).metrics();
        let test_s = t0.elapsed().as_secs_f64();
        obs.phase("export");
        let t1 = Instant::now();
        let (values, dim) = hidden.unwrap_or((logits, width));
        let files = crate::export::write_embeddings(self.g, self.r.node_type, &values, dim, out, "embeddings")?;
        let phases = [("test".to_string(), test_s), ("export".to_string(), t1.elapsed().as_secs_f64())].into_iter().collect();
        Ok(Finish { test, baseline: Default::default(), files, phases })
    }

    fn save(&self, model: &NodeModel, optimizer: bool) -> Result<Vec<u8>> {
        let m = record::to_bytes(&model.gnn)?;
        let o = if optimizer { model.optim.to_bytes()? } else { Vec::new() };
        Ok(Sections::pack(&[&m, &o]))
    }

    fn load(&self, bytes: &[u8]) -> Result<NodeModel> {
        let parts = Sections::unpack(bytes, 2, "node classification model")?;
        let fresh = self.init()?;
        let gnn = record::from_bytes(fresh.gnn, parts[0])?;
        let optim = if parts[1].is_empty() { fresh.optim } else { fresh.optim.with_bytes(parts[1])? };
        Ok(NodeModel { gnn, optim })
    }

    fn ranks(&self) -> usize {
        self.group.size()
    }

    fn describe(&self) -> String {
        let (m, t) = (&self.cfg.model, &self.cfg.train);
        format!(
            "Node classification of `{}` ({} nodes, {} classes; {} train / {} val / {} test) from the {} features `{}` (width {}). Model {}: hidden {:?}{}, dropout {}; mode {:?}{}, {} lr {} weight decay {}, seed {}.",
            self.cfg.data.node_type,
            self.n(),
            self.r.classes,
            self.r.train.len(),
            self.r.val.len(),
            self.r.test.len(),
            if self.r.sparse { "sparse" } else { "dense" },
            self.cfg.data.features.as_deref().unwrap_or(""),
            self.r.dim,
            m.kind.name(),
            m.hidden,
            match m.kind {
                ModelKind::Sage => format!(", aggregator {:?}", m.aggregator),
                ModelKind::Gat => format!(", {} heads ({} on the output)", m.heads, m.out_heads),
                _ => String::new(),
            },
            m.dropout,
            t.mode,
            if t.mode == Mode::Full { String::new() } else { format!(", fan-outs {:?}, batch {}", t.fanouts, t.batch_size) },
            t.optimizer.name(),
            t.lr,
            t.weight_decay,
            t.seed
        )
    }
}

impl Export for NodeTask<'_> {
    fn embeddings(&self, model: &NodeModel, output_layer: bool, obs: &dyn Observer) -> Result<Vec<Embedding>> {
        let (hidden, logits) = self.infer(&model.gnn, obs, "embeddings")?;
        let (values, dim) = if output_layer { logits } else { hidden.unwrap_or(logits) };
        Ok(vec![Embedding { node_type: self.r.node_type, stem: "embeddings".into(), values, dim }])
    }
}
