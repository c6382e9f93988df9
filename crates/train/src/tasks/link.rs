//! Link prediction (`task = "link_prediction"`): an encoder (`sage`, `gcn`,
//! `gat`) trained edge by edge on the config's relation. A step takes a
//! batch of training edges, draws `link.negatives` negatives per edge
//! (uniform, in-degree^0.75, optionally strict: never a true neighbour),
//! encodes the batch's distinct endpoints over sampled blocks, scores pairs
//! (dot, or cosine over `link.temperature`) and minimises BCE, BPR or a
//! sampled softmax. The input is a feature column or, without one, a
//! learnable `n × model.input_dim` table. With `data.heldout` (from
//! `ferrograph split-edges`) validation AUC picks the kept epoch and the
//! test pairs score it (AUC, MRR, Hits@K).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use ferrograph_graph::{Graph, NodeTypeId};
use ferrograph_nn::batch::blocks;
use ferrograph_nn::gnn::{GnnConfig, infer_layerwise};
use ferrograph_nn::link::{LinkEncoder, score};
use ferrograph_nn::loss::link_loss;
use ferrograph_nn::optim::Optimizer;
use ferrograph_nn::{Hop, Input, Module, index, infer_device, record, train_device};
use ferrograph_sample::negative::{NegativeSampler, NegativeStrategy};
use ferrograph_sample::neighbor::HopSpec;
use ferrograph_sample::rng::{SplitMix, derive};
use ferrograph_sample::{LocalGraph, NeighborSampler, Relation, Strategy};

use super::heldout::Heldout;
use super::input::{Features, Rows};
use super::{Embedding, Export, shape};
use crate::checkpoint::Sections;
use crate::config::{NegativeKind, TrainConfig};
use crate::engine::{Evaluation, Finish, Observer, StepOut, Task};
use crate::{Error, Result};

/// The task.
pub struct LinkTask<'g> {
    cfg: &'g TrainConfig,
    g: &'g Graph,
    local: &'g LocalGraph<'g>,
    node_type: NodeTypeId,
    rel: Relation,
    features: Option<Features<'g>>,
    gnn: GnnConfig,
    sampler: NeighborSampler,
    negatives: NegativeSampler<'g>,
    /// Source node of each stored edge (out-CSR order).
    sources: Vec<u32>,
    heldout: Option<Heldout>,
}

/// The learned state.
pub struct LinkModel {
    enc: LinkEncoder,
    optim: Optimizer,
}

/// A prepared batch: blocks over the batch's distinct endpoints and the
/// rows of the sources, positives and negatives among them.
#[allow(missing_docs)] // the fields are the parts named above
pub struct Batch {
    hops: Vec<Hop>,
    nodes: Vec<u32>,
    rows: Option<Rows>,
    src: Vec<u32>,
    dst: Vec<u32>,
    src_k: Vec<u32>,
    neg: Vec<u32>,
}

impl<'g> LinkTask<'g> {
    /// Resolves `cfg` in `local`'s graph.
    pub fn new(cfg: &'g TrainConfig, local: &'g LocalGraph<'g>) -> Result<Self> {
        let g = local.graph();
        let (node_type, rel) = cfg.self_relation(g)?;
        let n = g.node_count(node_type);
        let features = cfg.data.features.as_deref().map(|f| Features::new(cfg, g, node_type, f, "data.features")).transpose()?;
        let gnn = cfg.gnn_config();
        if features.is_some_and(|f| f.is_sparse()) && !gnn.reads_sparse() {
            return Err(cfg.field("model.aggregator", "the attention aggregator needs dense features; `data.features` is a sparse column"));
        }
        let heldout = cfg.data.heldout.as_ref().map(|d| Heldout::load(cfg, &cfg.resolve(d), n)).transpose()?;
        let t = &cfg.train;
        let sampler =
            NeighborSampler::new(t.fanouts.iter().map(|&k| HopSpec { relation: rel, fanout: k }).collect(), Strategy::RandomWithoutReplacement)?;
        let strategy = match cfg.link.negative {
            NegativeKind::Random => NegativeStrategy::Random,
            NegativeKind::InDegree => NegativeStrategy::InDegree,
        };
        let negatives = NegativeSampler::new(local, rel, strategy, cfg.link.strict)?;
        let csr = g.topology(rel.edge_type, rel.direction);
        if csr.is_empty() {
            return Err(cfg.field("data.relation", "the relation has no edges to train on"));
        }
        let mut sources = Vec::with_capacity(csr.len());
        for s in 0..csr.rows() {
            sources.extend(std::iter::repeat_n(s as u32, csr.degree(s)));
        }
        Ok(LinkTask { cfg, g, local, node_type, rel, features, gnn, sampler, negatives, sources, heldout })
    }

    fn n(&self) -> usize {
        self.g.node_count(self.node_type)
    }

    fn input_dim(&self) -> usize {
        self.features.map_or(self.cfg.model.input_dim, |f| f.dim())
    }

    fn embed_all(&self, enc: &LinkEncoder, obs: &dyn Observer, what: &str) -> Result<(Vec<f32>, usize)> {
        let plain = enc.valid();
        let input = |nodes: &[u32]| -> ferrograph_nn::Result<Input> {
            match (&self.features, plain.table_rows(nodes)) {
                (Some(f), _) => f.input(nodes, &infer_device()).map_err(|e| ferrograph_nn::Error::Input(e.to_string())),
                (None, Some(x)) => Ok(Input::Dense(x)),
                (None, None) => Err(ferrograph_nn::Error::Input("the model has neither features nor an input table".into())),
            }
        };
        let layers = plain.gnn.num_layers();
        let n = self.n();
        Ok(infer_layerwise(&plain.gnn, self.local, self.rel, n, &input, layers, None, &|l, d| {
            obs.progress(&format!("{what}: layer {}/{layers}", l + 1), d, n)
        })?)
    }
}

impl Task for LinkTask<'_> {
    type Model = LinkModel;
    type Plan = Vec<u32>;
    type Batch = Batch;

    fn selection(&self) -> Option<String> {
        self.heldout.as_ref().is_some_and(Heldout::has_val).then(|| "auc".to_string())
    }

    fn shape(&self) -> BTreeMap<String, String> {
        shape(&[("nodes", self.n().to_string()), ("input", self.input_dim().to_string()), ("edges", self.sources.len().to_string())])
    }

    fn init(&self) -> Result<LinkModel> {
        let (m, t) = (&self.cfg.model, &self.cfg.train);
        let gnn = self.gnn.init(self.input_dim(), m.embedding_dim, derive(t.seed, 2));
        let table = self.features.is_none().then_some((self.n(), m.input_dim));
        Ok(LinkModel { enc: LinkEncoder::new(gnn, table, derive(t.seed, 1)), optim: Optimizer::new(t.optimizer, t.weight_decay) })
    }

    fn plan(&self, epoch: usize) -> Result<Vec<u32>> {
        let mut order: Vec<u32> = (0..self.sources.len() as u32).collect();
        SplitMix::new(derive(self.cfg.train.seed, 100 + epoch as u64)).shuffle(&mut order);
        Ok(order)
    }

    fn steps(&self, plan: &Vec<u32>) -> usize {
        plan.len().div_ceil(self.cfg.train.batch_size)
    }

    fn prepare(&self, plan: &Vec<u32>, epoch: usize, step: usize) -> Result<Batch> {
        let b = self.cfg.train.batch_size;
        let chunk = &plan[step * b..((step + 1) * b).min(plan.len())];
        let bseed = derive(derive(self.cfg.train.seed, epoch as u64), step as u64);
        let targets = self.g.topology(self.rel.edge_type, self.rel.direction).targets.as_slice();
        let src: Vec<u32> = chunk.iter().map(|&e| self.sources[e as usize]).collect();
        let dst: Vec<u32> = chunk.iter().map(|&e| targets[e as usize]).collect();
        let k = self.cfg.link.negatives;
        let neg = self.negatives.sample(&src, k, derive(bseed, 7))?;
        let mut seeds: Vec<u32> = src.iter().chain(&dst).chain(&neg).copied().collect();
        seeds.sort_unstable();
        seeds.dedup();
        let out = self.sampler.sample(self.local, &seeds, bseed)?;
        let hops = blocks(&out, self.gnn.num_layers(), None);
        let rows = self.features.map(|f| f.rows(&out.node)).transpose()?;
        // Rows of the encoder's output are the distinct seeds in sorted order.
        let at = |v: &[u32]| v.iter().map(|x| seeds.binary_search(x).unwrap_or(0) as u32).collect::<Vec<_>>();
        let src_k: Vec<u32> = src.iter().flat_map(|&s| std::iter::repeat_n(s, k)).collect();
        Ok(Batch { hops, nodes: out.node, rows, src: at(&src), dst: at(&dst), src_k: at(&src_k), neg: at(&neg) })
    }

    fn step(&self, model: LinkModel, b: Batch, epoch: usize, step: usize) -> Result<(LinkModel, StepOut)> {
        let (l, t) = (&self.cfg.link, &self.cfg.train);
        let LinkModel { enc, mut optim } = model;
        let dev = train_device();
        let x = match (b.rows, enc.table_rows(&b.nodes)) {
            (Some(r), _) => r.into_input(self.input_dim(), &dev)?,
            (None, Some(x)) => Input::Dense(x),
            (None, None) => return Err(Error::Data("the model has neither features nor an input table".into())),
        };
        let dseed = Some(derive(derive(t.seed ^ 0x5a, epoch as u64), step as u64));
        let h = enc.gnn.forward_blocks(&b.hops.iter().collect::<Vec<_>>(), x, dseed);
        let sel = |v: &[u32]| h.clone().select(0, index(v, &dev));
        let pos = score(sel(&b.src), sel(&b.dst), l.score, l.temperature);
        let negs = score(sel(&b.src_k), sel(&b.neg), l.score, l.temperature).reshape([b.src.len(), l.negatives]);
        let loss = link_loss(pos, negs, l.loss);
        let (enc, lv) = optim.minimize(t.lr, enc, loss);
        Ok((LinkModel { enc, optim }, StepOut { loss: f64::from(lv), examples: b.src.len(), ..Default::default() }))
    }

    fn evaluate(&self, model: &LinkModel, _epoch: usize, obs: &dyn Observer) -> Result<Evaluation> {
        let Some(h) = self.heldout.as_ref().filter(|h| h.has_val()) else { return Ok(Evaluation::default()) };
        let (emb, dim) = self.embed_all(&model.enc, obs, "validation")?;
        Ok(Evaluation { val: h.val_metrics(&emb, dim, &self.cfg.eval.k), test: Default::default() })
    }

    fn finish(&self, model: &LinkModel, out: &Path, obs: &dyn Observer) -> Result<Finish> {
        obs.phase("test");
        let t0 = Instant::now();
        let (emb, dim) = self.embed_all(&model.enc, obs, "embeddings")?;
        let test = self.heldout.as_ref().map(|h| h.test_metrics(&emb, dim, &self.cfg.eval.k)).unwrap_or_default();
        let test_s = t0.elapsed().as_secs_f64();
        obs.phase("export");
        let t1 = Instant::now();
        let files = crate::export::write_embeddings(self.g, self.node_type, &emb, dim, out, "embeddings")?;
        let phases = [("test".to_string(), test_s), ("export".to_string(), t1.elapsed().as_secs_f64())].into_iter().collect();
        Ok(Finish { test, baseline: Default::default(), files, phases })
    }

    fn save(&self, model: &LinkModel, optimizer: bool) -> Result<Vec<u8>> {
        let m = record::to_bytes(&model.enc)?;
        let o = if optimizer { model.optim.to_bytes()? } else { Vec::new() };
        Ok(Sections::pack(&[&m, &o]))
    }

    fn load(&self, bytes: &[u8]) -> Result<LinkModel> {
        let parts = Sections::unpack(bytes, 2, "link prediction model")?;
        let fresh = self.init()?;
        let enc = record::from_bytes(fresh.enc, parts[0])?;
        let optim = if parts[1].is_empty() { fresh.optim } else { fresh.optim.with_bytes(parts[1])? };
        Ok(LinkModel { enc, optim })
    }

    fn describe(&self) -> String {
        let (m, t, l) = (&self.cfg.model, &self.cfg.train, &self.cfg.link);
        format!(
            "Link prediction on `{}` ({} nodes, {} training edges). Encoder {} (hidden {:?}, embedding {}), input {}; {} negative(s) per edge ({:?}{}), {:?} score, {:?} loss; fan-outs {:?}, batch {}, {} lr {}.{}",
            self.cfg.data.relation.as_deref().unwrap_or(""),
            self.n(),
            self.sources.len(),
            m.kind.name(),
            m.hidden,
            m.embedding_dim,
            match &self.cfg.data.features {
                None => format!("a learnable {}-wide table", m.input_dim),
                Some(f) => format!("feature column `{f}`"),
            },
            l.negatives,
            l.negative,
            if l.strict { ", strict" } else { "" },
            l.score,
            l.loss,
            t.fanouts,
            t.batch_size,
            t.optimizer.name(),
            t.lr,
            if self.heldout.is_none() { " No `data.heldout` was given, so nothing was evaluated." } else { "" }
        )
    }
}

impl Export for LinkTask<'_> {
    fn embeddings(&self, model: &LinkModel, _output_layer: bool, obs: &dyn Observer) -> Result<Vec<Embedding>> {
        let (values, dim) = self.embed_all(&model.enc, obs, "embeddings")?;
        Ok(vec![Embedding { node_type: self.node_type, stem: "embeddings".into(), values, dim }])
    }
}
