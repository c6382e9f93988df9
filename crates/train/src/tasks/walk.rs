//! Random-walk embeddings (`task = "embedding"`, `model.kind = "node2vec"`
//! or `"deepwalk"`): `walk.walks_per_node` walks of `walk.length` steps from
//! every node along the config's relation (node2vec's `walk.p`, `walk.q`;
//! DeepWalk is `p = q = 1`), then skip-gram with negative sampling
//! ([`ferrograph_shallow::skipgram`]) for `train.epochs` passes. A step
//! trains [`WALKS_PER_STEP`] walks; its loss is the exact mean skip-gram
//! loss of the pairs it trained. The input table is the embedding. With
//! `data.heldout`, the embeddings score the held-out pairs (AUC, MRR,
//! Hits@K): validation pairs choose the kept epoch, test pairs score it.
//!
//! The walks depend only on the config and the graph, so a resumed run
//! recomputes them; the checkpoint holds the whole skip-gram state.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Instant;

use ferrograph_graph::{Graph, NodeTypeId};
use ferrograph_sample::walk::{PAD, Walker};
use ferrograph_sample::{LocalGraph, Relation};
use ferrograph_shallow::skipgram::{SkipGram, SkipGramConfig};

use super::heldout::Heldout;
use super::{Embedding, Export, shape};
use crate::Result;
use crate::config::{ModelKind, TrainConfig};
use crate::engine::{Evaluation, Finish, Observer, StepOut, Task};

/// Walks trained per step (one progress tick, one loss record).
pub const WALKS_PER_STEP: usize = 1024;

/// Walks of one run: `walk.walks_per_node` from each of `nodes` nodes, for
/// each of `relations`; at most `u32::MAX`, or the error naming the field.
pub(crate) fn walk_count(cfg: &TrainConfig, nodes: usize, relations: usize) -> Result<usize> {
    let per = cfg.walk.walks_per_node;
    nodes.checked_mul(per).and_then(|t| t.checked_mul(relations)).filter(|&t| t <= u32::MAX as usize).ok_or_else(|| {
        let each = if relations > 1 { format!(" for each of {relations} relations") } else { String::new() };
        cfg.field("walk.walks_per_node", format!("{nodes} nodes × {per} walks per node{each} is more walks than one run holds"))
    })
}

/// An empty vector with room for `walks` walks of `walk.length` steps, or
/// the error naming `walk.length` where they cannot be allocated (a failed
/// allocation would abort the process).
pub(crate) fn walk_room(cfg: &TrainConfig, walks: usize) -> Result<Vec<u32>> {
    let len = cfg.walk.length;
    ferrograph_sample::room(walks.checked_mul(len.saturating_add(1)), || format!("{walks} walks of {len} steps"))
        .map_err(|e| cfg.field("walk.length", e))
}

/// The task: the walks and what scores them.
pub struct WalkTask<'g> {
    cfg: &'g TrainConfig,
    g: &'g Graph,
    node_type: NodeTypeId,
    rel: Relation,
    sg: SkipGramConfig,
    p: f64,
    q: f64,
    /// Flat walks of `walk.length + 1` slots, padded with [`PAD`].
    walks: Vec<u32>,
    tokens: usize,
    walk_seconds: f64,
    heldout: Option<Heldout>,
}

impl<'g> WalkTask<'g> {
    /// Resolves `cfg` in `g` and draws the walks.
    pub fn new(cfg: &'g TrainConfig, g: &'g Graph, obs: &dyn Observer) -> Result<Self> {
        let (node_type, rel) = cfg.self_relation(g)?;
        let n = g.node_count(node_type);
        let w = &cfg.walk;
        let (p, q) = if cfg.model.kind == ModelKind::Deepwalk { (1.0, 1.0) } else { (w.p, w.q) };
        let heldout = cfg.data.heldout.as_ref().map(|d| Heldout::load(cfg, &cfg.resolve(d), n)).transpose()?;
        let walker = Walker::node2vec(rel, w.length, p, q).map_err(|e| cfg.field("walk", e))?;
        let sg = SkipGramConfig { dim: cfg.model.embedding_dim, window: w.window, negatives: w.negatives, epochs: cfg.train.epochs, lr: w.lr as f32 };
        let total = walk_count(cfg, n, 1)?;
        obs.phase("walks");
        let t0 = Instant::now();
        let local = LocalGraph::new(g);
        // Walk in chunks so that progress is visible on large graphs.
        let chunk = 65_536usize;
        let mut walks = walk_room(cfg, total)?;
        let mut start = 0;
        while start < total {
            let end = (start + chunk).min(total);
            let starts: Vec<u32> = (start..end).map(|i| (i % n) as u32).collect();
            let seed = ferrograph_sample::rng::derive(cfg.train.seed, start as u64);
            walks.extend(walker.walks(&local, &starts, seed)?);
            obs.progress("walks", end, total);
            start = end;
        }
        let tokens = walks.iter().filter(|&&v| v != PAD).count();
        Ok(WalkTask { cfg, g, node_type, rel, sg, p, q, walks, tokens, walk_seconds: t0.elapsed().as_secs_f64(), heldout })
    }

    fn walk_len(&self) -> usize {
        self.cfg.walk.length + 1
    }

    fn n_walks(&self) -> usize {
        self.walks.len() / self.walk_len()
    }

    fn n(&self) -> usize {
        self.g.node_count(self.node_type)
    }
}

impl Task for WalkTask<'_> {
    type Model = SkipGram;
    type Plan = ();
    type Batch = Range<usize>;

    fn selection(&self) -> Option<String> {
        self.heldout.as_ref().is_some_and(Heldout::has_val).then(|| "auc".to_string())
    }

    fn shape(&self) -> BTreeMap<String, String> {
        shape(&[("nodes", self.n().to_string()), ("walks", self.n_walks().to_string()), ("relation", format!("{:?}", self.rel))])
    }

    fn init(&self) -> Result<SkipGram> {
        Ok(SkipGram::new(self.n(), &self.walks, self.walk_len(), &self.sg, self.cfg.train.seed)?)
    }

    fn plan(&self, _epoch: usize) -> Result<()> {
        Ok(())
    }

    fn steps(&self, _plan: &()) -> usize {
        self.n_walks().div_ceil(WALKS_PER_STEP)
    }

    fn prepare(&self, _plan: &(), _epoch: usize, step: usize) -> Result<Range<usize>> {
        Ok(step * WALKS_PER_STEP..((step + 1) * WALKS_PER_STEP).min(self.n_walks()))
    }

    fn step(&self, mut model: SkipGram, range: Range<usize>, epoch: usize, _step: usize) -> Result<(SkipGram, StepOut)> {
        let s = model.train_range(&self.walks, self.walk_len(), epoch - 1, range)?;
        // A range whose walks are all single nodes trains no pair: loss 0.
        let loss = if s.pairs == 0 { 0.0 } else { s.mean_loss() };
        Ok((model, StepOut { loss, examples: s.pairs as usize, ..Default::default() }))
    }

    fn evaluate(&self, model: &SkipGram, _epoch: usize, _obs: &dyn Observer) -> Result<Evaluation> {
        let Some(h) = self.heldout.as_ref().filter(|h| h.has_val()) else { return Ok(Evaluation::default()) };
        Ok(Evaluation { val: h.val_metrics(&model.embeddings(), self.sg.dim, &self.cfg.eval.k), test: Default::default() })
    }

    fn finish(&self, model: &SkipGram, out: &Path, obs: &dyn Observer) -> Result<Finish> {
        obs.phase("test");
        let t0 = Instant::now();
        let emb = model.embeddings();
        let test = self.heldout.as_ref().map(|h| h.test_metrics(&emb, self.sg.dim, &self.cfg.eval.k)).unwrap_or_default();
        let test_s = t0.elapsed().as_secs_f64();
        obs.phase("export");
        let t1 = Instant::now();
        let files = crate::export::write_embeddings(self.g, self.node_type, &emb, self.sg.dim, out, "embeddings")?;
        let phases = [("test".to_string(), test_s), ("export".to_string(), t1.elapsed().as_secs_f64())].into_iter().collect();
        Ok(Finish { test, baseline: Default::default(), files, phases })
    }

    fn save(&self, model: &SkipGram, _optimizer: bool) -> Result<Vec<u8>> {
        Ok(model.to_bytes())
    }

    fn load(&self, bytes: &[u8]) -> Result<SkipGram> {
        let m = SkipGram::from_bytes(bytes)?;
        if m.nodes() != self.n() || m.walks() != self.n_walks() || m.config() != &self.sg {
            return Err(crate::Error::Data(format!(
                "the checkpoint's skip-gram model ({} nodes, {} walks, {:?}) is not this config's ({} nodes, {} walks, {:?})",
                m.nodes(),
                m.walks(),
                m.config(),
                self.n(),
                self.n_walks(),
                self.sg
            )));
        }
        Ok(m)
    }

    fn describe(&self) -> String {
        let w = &self.cfg.walk;
        format!(
            "{} on `{}`: {} walks of {} steps (p = {}, q = {}) from each of {} nodes: {} tokens in {:.2} s. Skip-gram dim {}, window {}, {} negatives, {} epoch(s), lr {} decaying linearly, {} walks per step, {} thread(s).{}",
            self.cfg.model.kind.name(),
            self.cfg.data.relation.as_deref().unwrap_or(""),
            w.walks_per_node,
            w.length,
            self.p,
            self.q,
            self.n(),
            self.tokens,
            self.walk_seconds,
            self.sg.dim,
            w.window,
            w.negatives,
            self.sg.epochs,
            w.lr,
            WALKS_PER_STEP,
            rayon::current_num_threads(),
            if self.heldout.is_none() { " No `data.heldout` was given, so nothing was evaluated." } else { "" }
        )
    }
}

impl Export for WalkTask<'_> {
    fn embeddings(&self, model: &SkipGram, _output_layer: bool, _obs: &dyn Observer) -> Result<Vec<Embedding>> {
        Ok(vec![Embedding { node_type: self.node_type, stem: "embeddings".into(), values: model.embeddings(), dim: self.sg.dim }])
    }
}
