//! `ferrograph train` for the tasks besides node classification: link
//! prediction ([`link`]), recommendation ([`recommend`]) and random-walk
//! embeddings ([`embedding`]). Each reads the same TOML config as node
//! classification (its `task` key chooses), checks it against the graph
//! before training, and writes the same kinds of output into the output
//! directory: `metrics.jsonl` (a line per epoch, appended as it runs),
//! `summary.json`, `report.md`, `curves.png`, the model, and embeddings as
//! NPY (row = local index) and Parquet (external id, embedding).

pub mod embedding;
pub mod link;
pub mod recommend;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use ferrograph_graph::{Graph, NodeTypeId};
use serde::{Deserialize, Serialize};

use crate::config::{Task, TrainConfig};
use crate::model::ModelKind;
use crate::trainer::write_atomic;
use crate::{Error, Result};

/// One epoch (a line of `metrics.jsonl`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TaskEpoch {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f64,
    /// Seconds of training in the epoch (not evaluation).
    pub seconds: f64,
    /// Validation metrics, when evaluated this epoch.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
}

/// `summary.json` of a link prediction, recommendation or embedding run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TaskSummary {
    /// The task.
    pub task: Task,
    /// The model.
    pub model: ModelKind,
    /// Epochs run.
    pub epochs: usize,
    /// Epoch whose model was kept (best validation score, else the last).
    pub best_epoch: usize,
    /// Seconds of the whole run.
    pub seconds: f64,
    /// Seed.
    pub seed: u64,
    /// Validation metrics of the kept model.
    pub val: BTreeMap<String, f64>,
    /// Test metrics of the kept model.
    pub test: BTreeMap<String, f64>,
    /// Reference scores computed with the same protocol (recommendation:
    /// the popularity baseline).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub baseline: BTreeMap<String, f64>,
    /// Files written, relative to the output directory.
    pub files: Vec<String>,
}

impl TaskSummary {
    /// The summary of a run of `cfg` (no baseline); `files` gets the report
    /// files [`finish`] writes.
    pub fn new(
        cfg: &TrainConfig,
        epochs: usize,
        best_epoch: usize,
        started: std::time::Instant,
        val: BTreeMap<String, f64>,
        test: BTreeMap<String, f64>,
        mut files: Vec<String>,
    ) -> Self {
        files.extend(["summary.json", "report.md", "curves.png", "metrics.jsonl"].map(String::from));
        TaskSummary {
            task: cfg.task,
            model: cfg.model.kind,
            epochs,
            best_epoch,
            seconds: started.elapsed().as_secs_f64(),
            seed: cfg.train.seed,
            val,
            test,
            baseline: Default::default(),
            files,
        }
    }
}

/// Runs the config's task (not node classification) on `g`, writing into
/// `out`; `on_epoch` sees every epoch as it ends.
pub fn run(cfg: &TrainConfig, g: &Graph, out: &Path, on_epoch: &dyn Fn(&TaskEpoch)) -> Result<TaskSummary> {
    std::fs::create_dir_all(out).map_err(|e| Error::Io(format!("{}: {e}", out.display())))?;
    let log = Log::create(out)?;
    match cfg.task {
        Task::LinkPrediction => link::run(cfg, g, out, log, on_epoch),
        Task::Recommendation => recommend::run(cfg, g, out, log, on_epoch),
        Task::Embedding => embedding::run(cfg, g, out, log, on_epoch),
        Task::NodeClassification => Err(Error::Invalid("node classification runs through `trainer::train`".into())),
    }
}

/// `metrics.jsonl`, written a line per epoch so that a long run can be
/// followed (and survives a crash up to its last epoch).
pub struct Log {
    file: std::fs::File,
    path: PathBuf,
    /// Every epoch so far.
    pub history: Vec<TaskEpoch>,
}

impl Log {
    fn create(out: &Path) -> Result<Log> {
        let path = out.join("metrics.jsonl");
        let file = std::fs::File::create(&path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        Ok(Log { file, path, history: Vec::new() })
    }

    /// Appends `r` and tells `on_epoch`.
    pub fn push(&mut self, r: TaskEpoch, on_epoch: &dyn Fn(&TaskEpoch)) -> Result<()> {
        let line = serde_json::to_string(&r).expect("record serialises");
        writeln!(self.file, "{line}").and_then(|()| self.file.flush()).map_err(|e| Error::Io(format!("{}: {e}", self.path.display())))?;
        on_epoch(&r);
        self.history.push(r);
        Ok(())
    }
}

/// Writes `summary.json`, `curves.png` (loss; `metric` of the validation
/// evaluations) and `report.md` (`body` after the standard table).
pub fn finish(out: &Path, cfg: &TrainConfig, summary: &TaskSummary, history: &[TaskEpoch], metric: &str, body: &str) -> Result<()> {
    let json = serde_json::to_string_pretty(summary).expect("summary serialises");
    write_atomic(&out.join("summary.json"), json.as_bytes())?;
    let loss: Vec<(f64, f64)> = history.iter().map(|h| (h.epoch as f64, h.loss)).collect();
    let score: Vec<(f64, f64)> = history.iter().filter_map(|h| h.metrics.get(metric).map(|&v| (h.epoch as f64, v))).collect();
    crate::report::plot_series(&out.join("curves.png"), &loss, &[&score])?;
    let mut r = format!("# Training report: {} ({}) on `{}`\n\n", cfg.task.name(), cfg.model.kind.name(), cfg.path.display());
    r += "| metric | validation | test |\n|---|---|---|\n";
    let names: std::collections::BTreeSet<&String> = summary.val.keys().chain(summary.test.keys()).collect();
    let show = |m: &BTreeMap<String, f64>, k: &String| m.get(k).map_or("–".to_string(), |v| format!("{v:.4}"));
    for k in names {
        r += &format!("| {k} | {} | {} |\n", show(&summary.val, k), show(&summary.test, k));
    }
    for (k, v) in &summary.baseline {
        r += &format!("| baseline {k} | | {v:.4} |\n");
    }
    r += &format!(
        "\nEpochs {}, kept epoch {}, {:.1} s, seed {}.\n\n![training curves](curves.png)\n\nLeft: mean training loss per epoch (red). Right: validation {metric} (blue), 0 to 1.\n\n",
        summary.epochs, summary.best_epoch, summary.seconds, summary.seed
    );
    r += body;
    r += "\nFiles: ";
    r += &summary.files.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ");
    r += "; per-epoch figures in `metrics.jsonl`.\n";
    write_atomic(&out.join("report.md"), r.as_bytes())
}

/// Writes `values` (`rows × dim`, row = local index of `node_type`) as
/// `STEM.npy` and `STEM.parquet` (external ids) in `out`; returns the two
/// file names.
pub fn write_embeddings(g: &Graph, node_type: NodeTypeId, values: &[f32], dim: usize, out: &Path, stem: &str) -> Result<Vec<String>> {
    let (npy, parquet) = (format!("{stem}.npy"), format!("{stem}.parquet"));
    crate::report::write_embedding_files(g, node_type, values, dim, Some(&out.join(&npy)), Some(&out.join(&parquet)))?;
    Ok(vec![npy, parquet])
}

/// Held-out pairs written by `ferrograph split-edges` (local indices).
#[derive(Clone, Debug, Default)]
pub struct Heldout {
    /// Validation positives (may be empty).
    pub val: Vec<[u32; 2]>,
    /// Validation non-edges.
    pub val_neg: Vec<[u32; 2]>,
    /// Test positives.
    pub test: Vec<[u32; 2]>,
    /// Test non-edges.
    pub test_neg: Vec<[u32; 2]>,
}

impl Heldout {
    /// Reads `dir` (as named by `data.heldout`), checking every index is below `n`.
    pub fn load(cfg: &TrainConfig, dir: &Path, n: usize) -> Result<Heldout> {
        let read = |name: &str, required: bool| -> Result<Vec<[u32; 2]>> {
            let p = dir.join(format!("{name}.npy"));
            if !p.is_file() && !required {
                return Ok(Vec::new());
            }
            let a = ferrograph_io::npy::read_npy(&p).map_err(|e| cfg.field("data.heldout", e))?;
            let ints = match a.data {
                ferrograph_io::npy::NpyData::Int(v) if a.shape.len() == 2 && a.shape[1] == 2 => v,
                _ => return Err(cfg.field("data.heldout", format!("{}: expected an int64 [m, 2] array of node pairs", p.display()))),
            };
            ints.chunks_exact(2)
                .enumerate()
                .map(|(i, c)| match (u32::try_from(c[0]), u32::try_from(c[1])) {
                    (Ok(a), Ok(b)) if (a as usize) < n && (b as usize) < n => Ok([a, b]),
                    _ => Err(cfg.field("data.heldout", format!("{}: pair {i} ({}, {}) is not two nodes of 0..{n}", p.display(), c[0], c[1]))),
                })
                .collect()
        };
        Ok(Heldout { val: read("val", false)?, val_neg: read("val_neg", false)?, test: read("test", true)?, test_neg: read("test_neg", true)? })
    }

    /// Validation and test [`link_metrics`] of `emb` (`n × dim`).
    pub fn metrics(&self, emb: &[f32], dim: usize, ks: &[usize]) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
        (link_metrics(emb, dim, &self.val, &self.val_neg, ks), link_metrics(emb, dim, &self.test, &self.test_neg, ks))
    }
}

/// AUC, MRR and Hits@K of scores of `pos` pairs against `neg` pairs.
pub fn link_metrics(emb: &[f32], dim: usize, pos: &[[u32; 2]], neg: &[[u32; 2]], ks: &[usize]) -> BTreeMap<String, f64> {
    use crate::linkpred::{auc, dot_scores, rank_metrics};
    let mut m = BTreeMap::new();
    if pos.is_empty() || neg.is_empty() {
        return m;
    }
    let (p, n) = (dot_scores(emb, dim, pos), dot_scores(emb, dim, neg));
    m.insert("auc".into(), auc(&p, &n));
    let (mrr, hits) = rank_metrics(&p, &n, ks);
    m.insert("mrr".into(), mrr);
    for (k, h) in ks.iter().zip(hits) {
        m.insert(format!("hits@{k}"), h);
    }
    m
}
