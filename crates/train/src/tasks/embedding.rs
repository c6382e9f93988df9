//! `task = "embedding"`: DeepWalk / node2vec. Walks from every node along
//! the config's relation (`walk.walks_per_node` of `walk.length` steps,
//! node2vec's `p` and `q`; DeepWalk is `p = q = 1`), then skip-gram with
//! negative sampling ([`crate::skipgram`]) for `train.epochs` passes; the
//! input table is the embedding. With `data.heldout`, the embeddings score
//! the held-out pairs (AUC, MRR, Hits@K).
//!
//! `model.kind = "gatne"` ([`crate::gatne`]): walks on each relation of a
//! multiplex graph (`data.relations`, default every edge type joining
//! `node_type` to itself) and one embedding per node and relation; writes
//! `embeddings_<relation>.npy`/`.parquet` per relation and
//! `embeddings.npy`, the relations side by side (`n × (relations · dim)`,
//! block `i` for relation `i` in config order). Held-out pairs are scored
//! with the embeddings of `data.relation`.

use std::path::Path;
use std::time::Instant;

use ferrograph_graph::{Graph, NodeTypeId};
use ferrograph_sample::walk::Walker;
use ferrograph_sample::{LocalGraph, Relation};

use super::{Heldout, Log, TaskEpoch, TaskSummary, finish, write_embeddings};
use crate::Result;
use crate::config::TrainConfig;
use crate::gatne::{GatneConfig, WalkSpec, fit};
use crate::model::ModelKind;
use crate::skipgram::{SkipGramConfig, train_skipgram};

pub(super) fn run(cfg: &TrainConfig, g: &Graph, out: &Path, log: Log, on_epoch: &dyn Fn(&TaskEpoch)) -> Result<TaskSummary> {
    if cfg.model.kind == ModelKind::Gatne {
        return run_gatne(cfg, g, out, log, on_epoch);
    }
    run_skipgram(cfg, g, out, log, on_epoch)
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

fn run_gatne(cfg: &TrainConfig, g: &Graph, out: &Path, mut log: Log, on_epoch: &dyn Fn(&TaskEpoch)) -> Result<TaskSummary> {
    let started = Instant::now();
    let (node_type, relations) = gatne_relations(cfg, g)?;
    let n = g.node_count(node_type);
    let heldout = match &cfg.data.heldout {
        None => None,
        Some(d) => {
            let which = match (&cfg.data.relation, relations.len()) {
                (Some(name), _) => relations.iter().position(|(r, _)| r == name).ok_or_else(|| {
                    cfg.field(
                        "data.relation",
                        format!(
                            "`{name}` is not one of the GATNE relations ({})",
                            relations.iter().map(|r| r.0.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    )
                })?,
                (None, 1) => 0,
                (None, _) => return Err(cfg.field("data.relation", "name the relation whose embeddings score `data.heldout`")),
            };
            Some((which, Heldout::load(cfg, &cfg.resolve(d), n)?))
        }
    };
    let w = &cfg.walk;
    let m = &cfg.model;
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
    let spec = WalkSpec { walks_per_node: w.walks_per_node, length: w.length, p: w.p, q: w.q };
    let rels: Vec<Relation> = relations.iter().map(|r| r.1).collect();
    let t0 = Instant::now();
    let (model, losses) = fit(g, &rels, &spec, &gc, cfg.train.seed)?;
    let train_s = t0.elapsed().as_secs_f64();
    let dim = gc.dim;
    let per_rel: Vec<Vec<f32>> = (0..rels.len()).map(|r| model.embeddings(r)).collect();
    let (val, test) = match &heldout {
        Some((r, h)) => h.metrics(&per_rel[*r], dim, &cfg.eval.k),
        None => Default::default(),
    };
    for (e, &loss) in losses.iter().enumerate() {
        let metrics = if e + 1 == losses.len() { val.clone() } else { Default::default() };
        log.push(TaskEpoch { epoch: e + 1, loss, seconds: train_s / losses.len() as f64, metrics }, on_epoch)?;
    }
    let mut files = Vec::new();
    for ((name, _), emb) in relations.iter().zip(&per_rel) {
        files.extend(write_embeddings(g, node_type, emb, dim, out, &format!("embeddings_{name}"))?);
    }
    let side: Vec<f32> = (0..n).flat_map(|v| per_rel.iter().flat_map(move |e| e[v * dim..(v + 1) * dim].iter().copied())).collect();
    files.extend(write_embeddings(g, node_type, &side, dim * rels.len(), out, "embeddings")?);
    let summary = TaskSummary::new(cfg, gc.epochs, gc.epochs, started, val, test, files);
    let body = format!(
        "GATNE-T over {} relation(s) of `{}` ({}): {} walks of {} steps per node and relation; dim {dim}, edge dim {}, attention {}, {} sampled neighbours; {} epoch(s) in {train_s:.2} s.\n{}{}",
        rels.len(),
        g.schema().node_types[node_type.0 as usize].name,
        relations.iter().map(|r| r.0.as_str()).collect::<Vec<_>>().join(", "),
        w.walks_per_node,
        w.length,
        gc.edge_dim,
        gc.att_dim,
        gc.neighbor_samples,
        gc.epochs,
        match &heldout {
            Some((r, _)) => format!("\nHeld-out pairs scored with the `{}` embeddings.\n", relations[*r].0),
            None => "\nNo `data.heldout` was given, so nothing was evaluated.\n".into(),
        },
        "\n`embeddings_<relation>.npy` per relation; `embeddings.npy` holds them side by side in the order above.\n"
    );
    finish(out, cfg, &summary, &log.history, "auc", &body)?;
    Ok(summary)
}

fn run_skipgram(cfg: &TrainConfig, g: &Graph, out: &Path, mut log: Log, on_epoch: &dyn Fn(&TaskEpoch)) -> Result<TaskSummary> {
    let started = Instant::now();
    let (node_type, rel) = cfg.self_relation(g)?;
    let n = g.node_count(node_type);
    let w = &cfg.walk;
    let (p, q) = if cfg.model.kind == ModelKind::Deepwalk { (1.0, 1.0) } else { (w.p, w.q) };
    let heldout = cfg.data.heldout.as_ref().map(|d| Heldout::load(cfg, &cfg.resolve(d), n)).transpose()?;
    let walker = Walker::node2vec(rel, w.length, p, q).map_err(|e| cfg.field("walk", e))?;
    let starts: Vec<u32> = (0..w.walks_per_node).flat_map(|_| 0..n as u32).collect();
    let t0 = Instant::now();
    let walks = walker.walks(&LocalGraph::new(g), &starts, cfg.train.seed)?;
    let walk_s = t0.elapsed().as_secs_f64();
    let sg = SkipGramConfig { dim: cfg.model.embedding_dim, window: w.window, negatives: w.negatives, epochs: cfg.train.epochs, lr: w.lr as f32 };
    let t1 = Instant::now();
    let emb = train_skipgram(&walks, w.length + 1, n, &sg, cfg.train.seed);
    let train_s = t1.elapsed().as_secs_f64();
    let tokens = walks.iter().filter(|&&v| v != ferrograph_sample::walk::PAD).count();
    let dim = sg.dim;
    let (val, test) = match &heldout {
        Some(h) => h.metrics(&emb, dim, &cfg.eval.k),
        None => Default::default(),
    };
    // Skip-gram's passes share one learning-rate schedule; they are logged as one record.
    log.push(TaskEpoch { epoch: sg.epochs, loss: f64::NAN, seconds: train_s, metrics: val.clone() }, on_epoch)?;
    let files = write_embeddings(g, node_type, &emb, dim, out, "embeddings")?;
    let summary = TaskSummary::new(cfg, sg.epochs, sg.epochs, started, val, test, files);
    let body = format!(
        "{} walks of {} steps (p = {p}, q = {q}) from each of {n} nodes: {tokens} tokens in {walk_s:.2} s; skip-gram dim {dim}, window {}, {} negatives, {} epoch(s), lr {}: {train_s:.2} s ({:.0} tokens/s, {} thread(s)).\n{}",
        w.walks_per_node,
        w.length,
        w.window,
        w.negatives,
        sg.epochs,
        w.lr,
        (tokens * sg.epochs) as f64 / train_s.max(1e-9),
        rayon::current_num_threads(),
        if heldout.is_none() { "\nNo `data.heldout` was given, so nothing was evaluated.\n" } else { "" }
    );
    finish(out, cfg, &summary, &log.history, "auc", &body)?;
    Ok(summary)
}
