//! The tasks the run loop drives, one [`Task`](crate::engine::Task) each:
//!
//! * [`node`]: node classification with GraphSAGE, GCN, GAT (sampled
//!   blocks, ego tensors, or the full graph; dense or sparse features;
//!   optional history cache);
//! * [`hetero`]: heterogeneous node classification (R-GCN, HeteroSAGE, HAN);
//! * [`link`]: link prediction with edge-level encoders;
//! * [`lightgcn`] and [`bipartite`]: recommendation;
//! * [`walk`] (DeepWalk, node2vec) and [`gatne`]: random-walk embeddings.
//!
//! Shared pieces: [`input`] (feature rows, dense or sparse), [`heldout`]
//! (held-out pairs of `split-edges`), [`interactions`] (user → item rows,
//! top-K serving).

pub mod bipartite;
pub mod gatne;
pub mod heldout;
pub mod hetero;
pub mod input;
pub mod interactions;
pub mod lightgcn;
pub mod link;
pub mod node;
pub mod walk;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use ferrograph_graph::{Graph, NodeTypeId};

use crate::checkpoint::{self, Fingerprint};
use crate::config::{ModelKind, Task as TaskKind, TrainConfig};
use crate::engine::{self, Observer, Outcome, RunOptions, Solo, Task};
use crate::{Error, Result};
use ferrograph_sample::LocalGraph;

/// One table of embeddings a model exports.
#[derive(Clone, Debug)]
pub struct Embedding {
    /// Its node type.
    pub node_type: NodeTypeId,
    /// File stem (`embeddings`, `user_embeddings`, `embeddings_r0`).
    pub stem: String,
    /// Row-major values, row = local index.
    pub values: Vec<f32>,
    /// Width.
    pub dim: usize,
}

/// A task whose model can export node embeddings (`ferrograph embed`).
pub trait Export: Task {
    /// The model's embeddings; `output_layer` asks for class scores where a
    /// model has them (node classification) instead of the last hidden layer.
    fn embeddings(&self, model: &Self::Model, output_layer: bool, obs: &dyn Observer) -> Result<Vec<Embedding>>;
}

/// Trains per `cfg` on `g`: builds the task the config names (timed as the
/// `prepare` phase) and runs it through the one loop.
pub fn run(cfg: &TrainConfig, g: &Graph, opts: RunOptions, obs: &dyn Observer) -> Result<Outcome> {
    run_with(cfg, g, None, opts, obs)
}

/// The graph servers a run reads through: topology (sampling, inference)
/// and feature rows.
#[derive(Clone, Copy)]
pub struct Remote<'a> {
    /// Sampling and degrees.
    pub graph: &'a dyn ferrograph_sample::NeighborAccess,
    /// Feature rows.
    pub features: &'a dyn ferrograph_sample::features::FeatureAccess,
}

/// [`run`], sampling and gathering features through `graph` (the graph
/// servers) where given, as one rank of `opts.group`: node classification
/// with GraphSAGE, GCN or GAT; the other tasks read the snapshot on one
/// process and say so.
pub fn run_with(cfg: &TrainConfig, g: &Graph, graph: Option<Remote<'_>>, mut opts: RunOptions, obs: &dyn Observer) -> Result<Outcome> {
    let out = cfg.output_dir();
    let homogeneous_nodes = cfg.task == TaskKind::NodeClassification && !cfg.model.kind.is_hetero();
    if graph.is_some() && !homogeneous_nodes {
        return Err(Error::Data(format!(
            "training through graph servers (`--servers`) supports node classification with GraphSAGE, GCN or GAT; task `{}` with model `{}` trains from the snapshot on one process",
            cfg.task.name(),
            cfg.model.kind.name()
        )));
    }
    let t0 = Instant::now();
    obs.phase("preparing");
    macro_rules! go {
        ($task:expr) => {{
            let task = $task;
            opts.phases.insert("prepare".into(), t0.elapsed().as_secs_f64());
            engine::run(&task, cfg, &out, &opts, obs)
        }};
    }
    match (cfg.task, cfg.model.kind) {
        (TaskKind::NodeClassification, k) if k.is_hetero() => go!(hetero::HeteroTask::new(cfg, g)?),
        (TaskKind::NodeClassification, _) => go!(node::NodeTask::new(cfg, g)?.distributed(opts.group.0.clone(), graph)?),
        (TaskKind::LinkPrediction, _) => {
            let local = LocalGraph::new(g);
            go!(link::LinkTask::new(cfg, &local)?)
        }
        (TaskKind::Recommendation, ModelKind::LightGcn) => go!(lightgcn::LightGcnTask::new(cfg, g)?),
        (TaskKind::Recommendation, _) => go!(bipartite::BipartiteTask::new(cfg, g)?),
        (TaskKind::Embedding, ModelKind::Gatne) => go!(gatne::GatneTask::new(cfg, g, obs)?),
        (TaskKind::Embedding, _) => go!(walk::WalkTask::new(cfg, g, obs)?),
    }
}

/// `ferrograph embed`: loads the run's kept model (`best.ckpt` in the
/// output directory, or `checkpoint`), checked against `cfg` and `g`, and
/// writes its embeddings to `OUT.npy` / `OUT.parquet` (other tables:
/// `OUT-r0.*` per GATNE relation, `OUT-users.*` / `OUT-items.*` for
/// recommendation). Returns the files written.
pub fn embed(
    cfg: &TrainConfig,
    g: &Graph,
    checkpoint: Option<&Path>,
    output_layer: bool,
    out: &Path,
    obs: &dyn Observer,
) -> Result<Vec<(PathBuf, usize, usize)>> {
    fn go<T: Export>(
        task: &T,
        cfg: &TrainConfig,
        path: &Path,
        output_layer: bool,
        out: &Path,
        g: &Graph,
        obs: &dyn Observer,
    ) -> Result<Vec<(PathBuf, usize, usize)>> {
        let fp = Fingerprint { config: cfg.flat_fields(), shape: task.shape() };
        if !path.is_file() {
            return Err(Error::Data(format!("{}: no such checkpoint; train first: `ferrograph train {}`", path.display(), cfg.path.display())));
        }
        let c = checkpoint::load_compatible(path, &fp)?;
        let model = task.load(&c.payload)?;
        let tables = task.embeddings(&model, output_layer, obs)?;
        let mut written = Vec::new();
        for t in tables {
            // `embeddings` → OUT, `embeddings_r0` → OUT-r0, `user_embeddings` → OUT-users.
            let suffix = match t.stem.as_str() {
                "embeddings" => String::new(),
                s => match (s.strip_prefix("embeddings_"), s.strip_suffix("_embeddings")) {
                    (Some(rest), _) => rest.to_string(),
                    (None, Some(who)) => format!("{who}s"),
                    _ => s.to_string(),
                },
            };
            let base = if suffix.is_empty() { out.to_path_buf() } else { PathBuf::from(format!("{}-{suffix}", out.display())) };
            let (npy, parquet) = (base.with_extension("npy"), base.with_extension("parquet"));
            crate::export::write_embedding_files(g, t.node_type, &t.values, t.dim, &npy, &parquet)?;
            written.push((npy, t.values.len() / t.dim.max(1), t.dim));
        }
        Ok(written)
    }
    let path = checkpoint.map_or_else(|| cfg.output_dir().join("best.ckpt"), Path::to_path_buf);
    match (cfg.task, cfg.model.kind) {
        (TaskKind::NodeClassification, k) if k.is_hetero() => go(&hetero::HeteroTask::new(cfg, g)?, cfg, &path, output_layer, out, g, obs),
        (TaskKind::NodeClassification, _) => {
            go(&node::NodeTask::new(cfg, g)?.distributed(Arc::new(Solo), None)?, cfg, &path, output_layer, out, g, obs)
        }
        (TaskKind::LinkPrediction, _) => {
            let local = LocalGraph::new(g);
            go(&link::LinkTask::new(cfg, &local)?, cfg, &path, output_layer, out, g, obs)
        }
        (TaskKind::Recommendation, ModelKind::LightGcn) => go(&lightgcn::LightGcnTask::new(cfg, g)?, cfg, &path, output_layer, out, g, obs),
        (TaskKind::Recommendation, _) => go(&bipartite::BipartiteTask::new(cfg, g)?, cfg, &path, output_layer, out, g, obs),
        (TaskKind::Embedding, ModelKind::Gatne) => go(&gatne::GatneTask::new(cfg, g, obs)?, cfg, &path, output_layer, out, g, obs),
        (TaskKind::Embedding, _) => go(&walk::WalkTask::new(cfg, g, obs)?, cfg, &path, output_layer, out, g, obs),
    }
}

/// Writes every table of `tables` into `out` as `STEM.npy`/`STEM.parquet`;
/// returns the file names.
pub fn write_all(g: &Graph, tables: &[Embedding], out: &Path) -> Result<Vec<String>> {
    let mut files = Vec::new();
    for t in tables {
        files.extend(crate::export::write_embeddings(g, t.node_type, &t.values, t.dim, out, &t.stem)?);
    }
    Ok(files)
}

/// A shape map from `(name, value)` pairs.
pub fn shape(items: &[(&str, String)]) -> std::collections::BTreeMap<String, String> {
    items.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}
