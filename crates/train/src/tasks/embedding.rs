//! `task = "embedding"`: DeepWalk / node2vec. Walks from every node along
//! the config's relation (`walk.walks_per_node` of `walk.length` steps,
//! node2vec's `p` and `q`; DeepWalk is `p = q = 1`), then skip-gram with
//! negative sampling ([`crate::skipgram`]) for `train.epochs` passes; the
//! input table is the embedding. With `data.heldout`, the embeddings score
//! the held-out pairs (AUC, MRR, Hits@K).

use std::path::Path;
use std::time::Instant;

use ferrograph_graph::Graph;
use ferrograph_sample::LocalGraph;
use ferrograph_sample::walk::Walker;

use super::{Heldout, Log, TaskEpoch, TaskSummary, finish, link_metrics, write_embeddings};
use crate::Result;
use crate::config::TrainConfig;
use crate::model::ModelKind;
use crate::skipgram::{SkipGramConfig, train_skipgram};

pub(super) fn run(cfg: &TrainConfig, g: &Graph, out: &Path, mut log: Log, on_epoch: &dyn Fn(&TaskEpoch)) -> Result<TaskSummary> {
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
        Some(h) => (link_metrics(&emb, dim, &h.val, &h.val_neg, &cfg.eval.k), link_metrics(&emb, dim, &h.test, &h.test_neg, &cfg.eval.k)),
        None => Default::default(),
    };
    // Skip-gram's passes share one learning-rate schedule; they are logged as one record.
    log.push(TaskEpoch { epoch: sg.epochs, loss: f64::NAN, seconds: train_s, metrics: val.clone() }, on_epoch)?;
    let mut files = write_embeddings(g, node_type, &emb, dim, out, "embeddings")?;
    files.extend(["summary.json", "report.md", "curves.png", "metrics.jsonl"].map(String::from));
    let summary = TaskSummary {
        task: cfg.task,
        model: cfg.model.kind,
        epochs: sg.epochs,
        best_epoch: sg.epochs,
        seconds: started.elapsed().as_secs_f64(),
        seed: cfg.train.seed,
        val,
        test,
        baseline: Default::default(),
        files,
    };
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
