//! GATNE-T (`task = "embedding"`, `model.kind = "gatne"`,
//! [`ferrograph_shallow::gatne`]): walks on each relation of a multiplex
//! graph (`data.relations`, default every edge type joining
//! `data.node_type` to itself) and one embedding per node and relation. A
//! step trains [`WALKS_PER_STEP`] walks of the epoch's shuffled order; its
//! loss is the exact mean skip-gram loss of the pairs it trained. Writes
//! `embeddings_<relation>.npy`/`.parquet` per relation and
//! `embeddings.npy`, the relations side by side (`n × (relations · dim)`,
//! block `i` for relation `i` in config order). Held-out pairs are scored
//! with the embeddings of `data.relation` (needed when there are several
//! relations).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Instant;

use ferrograph_graph::{Graph, NodeTypeId};
use ferrograph_sample::Relation;
use ferrograph_shallow::gatne::{Gatne, GatneConfig, WalkSpec, prepare};

use super::heldout::Heldout;
use super::walk::WALKS_PER_STEP;
use super::{Embedding, Export, shape};
use crate::config::TrainConfig;
use crate::engine::{Evaluation, Finish, Observer, StepOut, Task};
use crate::{Error, Result};

/// The task.
pub struct GatneTask<'g> {
    cfg: &'g TrainConfig,
    g: &'g Graph,
    node_type: NodeTypeId,
    relations: Vec<(String, Relation)>,
    gc: GatneConfig,
    /// Walks per relation, `walk.length + 1` slots each.
    walks: Vec<Vec<u32>>,
    /// The initial model (walks and neighbour samples drawn from the seed).
    fresh: Gatne,
    walk_seconds: f64,
    /// Held-out pairs and the relation whose embeddings score them.
    heldout: Option<(usize, Heldout)>,
}

/// GATNE's relations, names and node type, checked against the graph.
pub fn gatne_relations(cfg: &TrainConfig, g: &Graph) -> Result<(NodeTypeId, Vec<(String, Relation)>)> {
    let schema = g.schema();
    let names: Vec<String> = match &cfg.data.relations {
        Some(r) => r.clone(),
        None => {
            if cfg.data.node_type.is_empty() {
                return Err(cfg.field("data.node_type", "name the node type whose relations GATNE embeds (or list `data.relations`)"));
            }
            schema.edge_types.iter().filter(|e| e.src == cfg.data.node_type && e.dst == cfg.data.node_type).map(|e| e.relation.clone()).collect()
        }
    };
    let mut out: Vec<(String, Relation)> = Vec::with_capacity(names.len());
    for name in names {
        let r = Relation::resolve(g, &name).map_err(|e| cfg.field("data.relations", e))?;
        if r.from != r.to {
            return Err(
                cfg.field("data.relations", format!("relation `{name}` joins two node types; GATNE's relations each join one node type to itself"))
            );
        }
        if let Some((first, f)) = out.first()
            && f.from != r.from
        {
            return Err(cfg.field("data.relations", format!("relations `{first}` and `{name}` are over different node types")));
        }
        if out.iter().any(|(_, o)| o.edge_type == r.edge_type) {
            return Err(cfg.field("data.relations", format!("relation `{name}` is listed twice")));
        }
        out.push((name, r));
    }
    let Some((_, first)) = out.first() else {
        return Err(cfg.field("data.relations", format!("no edge type joins `{}` to itself", cfg.data.node_type)));
    };
    let t = first.from;
    if !cfg.data.node_type.is_empty() && schema.node_type(&cfg.data.node_type).map_err(|e| cfg.field("data.node_type", e))? != t {
        return Err(cfg.field("data.relations", format!("the relations are not over `{}`", cfg.data.node_type)));
    }
    Ok((t, out))
}

impl<'g> GatneTask<'g> {
    /// Resolves `cfg` in `g`, draws the walks and the initial model.
    pub fn new(cfg: &'g TrainConfig, g: &'g Graph, obs: &dyn Observer) -> Result<Self> {
        let (node_type, relations) = gatne_relations(cfg, g)?;
        let n = g.node_count(node_type);
        let heldout = match &cfg.data.heldout {
            None => None,
            Some(d) => {
                let which = match (&cfg.data.relation, relations.len()) {
                    (Some(name), _) => relations.iter().position(|(r, _)| r == name).ok_or_else(|| {
                        let names: Vec<&str> = relations.iter().map(|r| r.0.as_str()).collect();
                        cfg.field("data.relation", format!("`{name}` is not one of the GATNE relations ({})", names.join(", ")))
                    })?,
                    (None, 1) => 0,
                    (None, _) => return Err(cfg.field("data.relation", "name the relation whose embeddings score `data.heldout`")),
                };
                Some((which, Heldout::load(cfg, &cfg.resolve(d), n)?))
            }
        };
        let (w, m) = (&cfg.walk, &cfg.model);
        let gc = GatneConfig {
            dim: m.embedding_dim,
            edge_dim: m.edge_dim,
            att_dim: m.attention_dim,
            neighbor_samples: m.neighbor_samples,
            window: w.window,
            negatives: w.negatives,
            epochs: cfg.train.epochs,
            lr: w.lr as f32,
            lr_shared: cfg.train.lr as f32,
            batch: cfg.train.batch_size.max(1),
        };
        // Refused here, naming the field, rather than in the walker: the
        // count bounds the start list, the (untouched) reservation the walks.
        drop(super::walk::walk_room(cfg, super::walk::walk_count(cfg, n, relations.len())?)?);
        let spec = WalkSpec { walks_per_node: w.walks_per_node, length: w.length, p: w.p, q: w.q };
        let rels: Vec<Relation> = relations.iter().map(|r| r.1).collect();
        obs.phase("walks");
        let t0 = Instant::now();
        let (fresh, walks) = prepare(g, &rels, &spec, &gc, cfg.train.seed)?;
        Ok(GatneTask { cfg, g, node_type, relations, gc, walks, fresh, walk_seconds: t0.elapsed().as_secs_f64(), heldout })
    }

    fn walk_len(&self) -> usize {
        self.cfg.walk.length + 1
    }

    fn n(&self) -> usize {
        self.g.node_count(self.node_type)
    }

    fn metrics(&self, model: &Gatne, test: bool) -> crate::record::Metrics {
        match &self.heldout {
            Some((r, h)) if test => h.test_metrics(&model.embeddings(*r), self.gc.dim, &self.cfg.eval.k),
            Some((r, h)) if h.has_val() => h.val_metrics(&model.embeddings(*r), self.gc.dim, &self.cfg.eval.k),
            _ => Default::default(),
        }
    }
}

impl Task for GatneTask<'_> {
    type Model = Gatne;
    type Plan = ();
    type Batch = Range<usize>;

    fn selection(&self) -> Option<String> {
        self.heldout.as_ref().is_some_and(|(_, h)| h.has_val()).then(|| "auc".to_string())
    }

    fn shape(&self) -> BTreeMap<String, String> {
        let names: Vec<&str> = self.relations.iter().map(|r| r.0.as_str()).collect();
        shape(&[("nodes", self.n().to_string()), ("relations", names.join(",")), ("walks", self.fresh.walks().to_string())])
    }

    fn init(&self) -> Result<Gatne> {
        Ok(self.fresh.clone())
    }

    fn plan(&self, _epoch: usize) -> Result<()> {
        Ok(())
    }

    fn steps(&self, _plan: &()) -> usize {
        self.fresh.walks().div_ceil(WALKS_PER_STEP)
    }

    fn prepare(&self, _plan: &(), _epoch: usize, step: usize) -> Result<Range<usize>> {
        Ok(step * WALKS_PER_STEP..((step + 1) * WALKS_PER_STEP).min(self.fresh.walks()))
    }

    fn step(&self, mut model: Gatne, range: Range<usize>, epoch: usize, _step: usize) -> Result<(Gatne, StepOut)> {
        let s = model.train_range(&self.walks, self.walk_len(), epoch - 1, range)?;
        let loss = if s.pairs == 0 { 0.0 } else { s.mean_loss() };
        Ok((model, StepOut { loss, examples: s.pairs as usize, ..Default::default() }))
    }

    fn evaluate(&self, model: &Gatne, _epoch: usize, _obs: &dyn Observer) -> Result<Evaluation> {
        Ok(Evaluation { val: self.metrics(model, false), test: Default::default() })
    }

    fn finish(&self, model: &Gatne, out: &Path, obs: &dyn Observer) -> Result<Finish> {
        obs.phase("test");
        let t0 = Instant::now();
        let test = self.metrics(model, true);
        let test_s = t0.elapsed().as_secs_f64();
        obs.phase("export");
        let t1 = Instant::now();
        let tables = self.embeddings(model, false, obs)?;
        let files = super::write_all(self.g, &tables, out)?;
        let phases = [("test".to_string(), test_s), ("export".to_string(), t1.elapsed().as_secs_f64())].into_iter().collect();
        Ok(Finish { test, baseline: Default::default(), files, phases })
    }

    fn save(&self, model: &Gatne, _optimizer: bool) -> Result<Vec<u8>> {
        Ok(model.to_bytes())
    }

    fn load(&self, bytes: &[u8]) -> Result<Gatne> {
        let m = Gatne::from_bytes(bytes)?;
        if m.nodes() != self.n() || m.relations() != self.relations.len() || m.walks() != self.fresh.walks() {
            return Err(Error::Data(format!(
                "the checkpoint's GATNE model ({} nodes, {} relations, {} walks) is not this config's ({} nodes, {} relations, {} walks)",
                m.nodes(),
                m.relations(),
                m.walks(),
                self.n(),
                self.relations.len(),
                self.fresh.walks()
            )));
        }
        Ok(m)
    }

    fn describe(&self) -> String {
        let (w, gc) = (&self.cfg.walk, &self.gc);
        let names: Vec<&str> = self.relations.iter().map(|r| r.0.as_str()).collect();
        format!(
            "GATNE-T over {} relation(s) of `{}` ({}): {} walks of {} steps per node and relation, drawn in {:.2} s; dim {}, edge dim {}, attention {}, {} sampled neighbours, window {}, {} negatives, embedding lr {}, shared-weight Adam lr {} every {} centres; {} walks per step. {}`embeddings_<relation>.npy` per relation; `embeddings.npy` holds them side by side in the order above.",
            self.relations.len(),
            self.g.schema().node_types[self.node_type.0 as usize].name,
            names.join(", "),
            w.walks_per_node,
            w.length,
            self.walk_seconds,
            gc.dim,
            gc.edge_dim,
            gc.att_dim,
            gc.neighbor_samples,
            gc.window,
            gc.negatives,
            gc.lr,
            gc.lr_shared,
            gc.batch,
            WALKS_PER_STEP,
            match &self.heldout {
                Some((r, _)) => format!("Held-out pairs scored with the `{}` embeddings. ", self.relations[*r].0),
                None => "No `data.heldout` was given, so nothing was evaluated. ".into(),
            }
        )
    }
}

impl Export for GatneTask<'_> {
    fn embeddings(&self, model: &Gatne, _output_layer: bool, _obs: &dyn Observer) -> Result<Vec<Embedding>> {
        let (n, d) = (self.n(), self.gc.dim);
        let per_rel: Vec<Vec<f32>> = (0..self.relations.len()).map(|r| model.embeddings(r)).collect();
        let side: Vec<f32> = (0..n).flat_map(|v| per_rel.iter().flat_map(move |e| e[v * d..(v + 1) * d].iter().copied())).collect();
        let mut out: Vec<Embedding> = self
            .relations
            .iter()
            .zip(per_rel)
            .map(|((name, _), values)| Embedding { node_type: self.node_type, stem: format!("embeddings_{name}"), values, dim: d })
            .collect();
        out.push(Embedding { node_type: self.node_type, stem: "embeddings".into(), values: side, dim: d * self.relations.len() });
        Ok(out)
    }
}
