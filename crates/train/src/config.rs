//! The training config (`ferrograph train CONFIG.toml`) and its checks
//! against the graph, all done before any training starts.

use std::path::{Path, PathBuf};

use ferrograph_graph::column::Column;
use ferrograph_graph::{Graph, NodeTypeId};
use serde::{Deserialize, Serialize};

use crate::model::ModelConfig;
use crate::{Error, Result};

/// A whole training run.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Where the graph comes from and what to learn.
    pub data: DataConfig,
    /// The model.
    pub model: ModelConfig,
    /// Optimisation.
    #[serde(default)]
    pub train: TrainSection,
    /// Output directory (relative to the config file).
    pub output: PathBuf,
    /// The directory relative paths are resolved against (the config file's).
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The config file, for messages.
    #[serde(skip)]
    pub path: PathBuf,
}

/// `[data]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// A snapshot directory (`ferrograph import` output).
    pub snapshot: Option<PathBuf>,
    /// Or an import config, imported in memory.
    pub import: Option<PathBuf>,
    /// Or the built-in planted-partition graph (`"planted"`).
    pub builtin: Option<String>,
    /// The node type to classify.
    pub node_type: String,
    /// The relation messages travel along (a relation name or its reverse);
    /// default: the reverse of the only edge type between `node_type`s, so
    /// that nodes aggregate their in-neighbours.
    pub relation: Option<String>,
    /// Integer label column.
    pub label: String,
    /// Float-vector feature column.
    pub features: String,
    /// Scale each node's feature row to sum 1 (PyG's `NormalizeFeatures`).
    #[serde(default)]
    pub normalize_features: bool,
    /// Number of classes; default: largest label + 1.
    pub classes: Option<usize>,
    /// Node set names of the splits.
    #[serde(default = "train_set")]
    pub train_set: String,
    /// Validation set.
    #[serde(default = "val_set")]
    pub val_set: String,
    /// Test set.
    #[serde(default = "test_set")]
    pub test_set: String,
}

fn train_set() -> String {
    "train".into()
}
fn val_set() -> String {
    "val".into()
}
fn test_set() -> String {
    "test".into()
}

/// Full-batch (every node, exact neighbourhoods, one step per epoch) or
/// sampled mini-batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Neighbour-sampled mini-batches (message-flow blocks).
    #[default]
    Sampled,
    /// Dense ego tensors with padding masks.
    Ego,
    /// Whole graph per step.
    Full,
}

/// `[train]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    /// Batching mode.
    #[serde(default)]
    pub mode: Mode,
    /// Neighbours per hop, one per layer (sampled and ego modes).
    #[serde(default = "fanouts")]
    pub fanouts: Vec<usize>,
    /// Seeds per batch.
    #[serde(default = "batch_size")]
    pub batch_size: usize,
    /// `adam` (the only optimiser so far).
    #[serde(default = "adam")]
    pub optimizer: String,
    /// Learning rate.
    #[serde(default = "lr")]
    pub lr: f64,
    /// L2 weight decay.
    #[serde(default)]
    pub weight_decay: f64,
    /// Epochs.
    #[serde(default = "epochs")]
    pub epochs: usize,
    /// Stop after this many epochs without a better validation accuracy.
    pub patience: Option<usize>,
    /// Seed of everything random.
    #[serde(default)]
    pub seed: u64,
    /// Batches prepared ahead by the loader.
    #[serde(default = "prefetch")]
    pub prefetch: usize,
    /// Reuse first-layer outputs across batches when at most this many
    /// steps old (two-layer sampled models; see `history` in the crate
    /// docs). Off by default: exact, reproducible training.
    pub history_staleness: Option<u64>,
    /// Rows the history cache holds.
    #[serde(default = "history_capacity")]
    pub history_capacity: usize,
}

fn fanouts() -> Vec<usize> {
    vec![10, 10]
}
fn batch_size() -> usize {
    512
}
fn adam() -> String {
    "adam".into()
}
fn lr() -> f64 {
    0.01
}
fn epochs() -> usize {
    20
}
fn prefetch() -> usize {
    4
}
fn history_capacity() -> usize {
    1 << 17
}

impl Default for TrainSection {
    fn default() -> Self {
        toml::from_str("").expect("defaults parse")
    }
}

impl TrainConfig {
    /// Reads and parses a config file (paths inside resolve against its folder).
    pub fn load(path: &Path) -> Result<TrainConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        Self::parse(&text, path)
    }

    /// Parses config text read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<TrainConfig> {
        let mut c: TrainConfig = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|s| {
                let line = text[..s.start].matches('\n').count() + 1;
                let col = s.start - text[..s.start].rfind('\n').map_or(0, |p| p + 1) + 1;
                format!(":{line}:{col}")
            });
            Error::Config(format!("{}{}: {}", path.display(), at.unwrap_or_default(), e.message()))
        })?;
        c.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        c.path = path.to_path_buf();
        c.check_static()?;
        Ok(c)
    }

    /// A path from the config, resolved against its folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() { p.to_path_buf() } else { self.base_dir.join(p) }
    }

    fn field(&self, name: &str, msg: impl std::fmt::Display) -> Error {
        Error::Config(format!("{}: `{name}`: {msg}", self.path.display()))
    }

    /// Checks that need no graph.
    pub fn check_static(&self) -> Result<()> {
        let sources = [self.data.snapshot.is_some(), self.data.import.is_some(), self.data.builtin.is_some()];
        if sources.iter().filter(|&&s| s).count() != 1 {
            return Err(self.field("data", "give exactly one of `snapshot`, `import` or `builtin`"));
        }
        if let Some(b) = &self.data.builtin
            && b != "planted"
        {
            return Err(self.field("data.builtin", format!("unknown built-in graph `{b}` (planted)")));
        }
        if let Some(s) = &self.data.snapshot {
            let dir = self.resolve(s);
            if !dir.join("manifest.json").is_file() {
                return Err(self.field(
                    "data.snapshot",
                    format!("{} is not a snapshot directory (no manifest.json); create it with `ferrograph import`", dir.display()),
                ));
            }
        }
        if let Some(s) = &self.data.import {
            let f = self.resolve(s);
            if !f.is_file() {
                return Err(self.field("data.import", format!("{} does not exist", f.display())));
            }
        }
        let t = &self.train;
        let layers = self.model.layers();
        if t.mode != Mode::Full && t.fanouts.len() != layers {
            return Err(self.field(
                "train.fanouts",
                format!(
                    "{} fan-outs for a {layers}-layer model (model.hidden has {} entries); give one fan-out per layer",
                    t.fanouts.len(),
                    self.model.hidden.len()
                ),
            ));
        }
        if t.mode != Mode::Full && t.fanouts.contains(&0) {
            return Err(self.field("train.fanouts", "fan-outs must be at least 1"));
        }
        if t.history_staleness.is_some() && (t.mode != Mode::Sampled || layers != 2) {
            return Err(self.field("train.history_staleness", "history caching needs mode = \"sampled\" and a two-layer model (one `hidden` entry)"));
        }
        if t.batch_size == 0 {
            return Err(self.field("train.batch_size", "must be at least 1"));
        }
        if t.optimizer != "adam" {
            return Err(self.field("train.optimizer", format!("unknown optimiser `{}` (adam)", t.optimizer)));
        }
        if !(t.lr > 0.0 && t.lr.is_finite()) {
            return Err(self.field("train.lr", "must be a positive number"));
        }
        if !(t.weight_decay >= 0.0 && t.weight_decay.is_finite()) {
            return Err(self.field("train.weight_decay", "must be a non-negative number"));
        }
        if t.epochs == 0 {
            return Err(self.field("train.epochs", "must be at least 1"));
        }
        for (name, p) in [("model.dropout", self.model.dropout), ("model.attn_dropout", self.model.attn_dropout)] {
            if !(0.0..1.0).contains(&p) {
                return Err(self.field(name, "must be in [0, 1)"));
            }
        }
        if self.model.hidden.contains(&0) {
            return Err(self.field("model.hidden", "widths must be at least 1"));
        }
        if self.model.heads == 0 || self.model.out_heads == 0 {
            return Err(self.field("model.heads", "must be at least 1"));
        }
        Ok(())
    }
}

/// What the config names, resolved in a graph and checked.
#[derive(Debug)]
pub struct Resolved {
    /// The node type.
    pub node_type: NodeTypeId,
    /// The walked relation.
    pub relation: ferrograph_sample::Relation,
    /// Label of every node (`-1` where the column has no class).
    pub labels: Vec<i64>,
    /// Number of classes.
    pub classes: usize,
    /// Feature width.
    pub dim: usize,
    /// Split node sets.
    pub train: Vec<u32>,
    /// Validation nodes.
    pub val: Vec<u32>,
    /// Test nodes.
    pub test: Vec<u32>,
}

impl TrainConfig {
    /// Resolves node type, relation, columns and sets in `g`; every error
    /// names the config field.
    pub fn resolve_in(&self, g: &Graph) -> Result<Resolved> {
        let d = &self.data;
        let schema = g.schema();
        let node_type = schema.node_type(&d.node_type).map_err(|e| self.field("data.node_type", e))?;
        let relation = match &d.relation {
            Some(r) => ferrograph_sample::Relation::resolve(g, r).map_err(|e| self.field("data.relation", e))?,
            None => {
                let own: Vec<_> = schema.edge_types.iter().filter(|e| e.src == d.node_type && e.dst == d.node_type).collect();
                match own.as_slice() {
                    [e] => ferrograph_sample::Relation::resolve(g, &e.reverse).map_err(|err| self.field("data.relation", err))?,
                    _ => {
                        return Err(
                            self.field("data.relation", format!("{} edge types join `{}` to itself; name the one to use", own.len(), d.node_type))
                        );
                    }
                }
            }
        };
        if relation.from != node_type || relation.to != node_type {
            return Err(
                self.field("data.relation", format!("relation `{}` does not join `{}` to itself", d.relation.as_deref().unwrap_or(""), d.node_type))
            );
        }
        let labels = match g.node_column(node_type, &d.label).map_err(|e| self.field("data.label", e))? {
            Column::Int(a) => a.as_slice().to_vec(),
            Column::Categorical { codes, .. } | Column::Hashed { codes, .. } => codes.as_slice().iter().map(|&c| i64::from(c)).collect(),
            other => {
                return Err(self.field("data.label", format!("column `{}` is {:?}, not an integer or categorical column", d.label, other.kind())));
            }
        };
        let dim = match g.node_column(node_type, &d.features).map_err(|e| self.field("data.features", e))? {
            Column::Vector { dim, .. } => *dim,
            other => return Err(self.field("data.features", format!("column `{}` is {:?}, not a float-vector column", d.features, other.kind()))),
        };
        let set = |field: &str, name: &str| -> Result<Vec<u32>> {
            let s = g.node_set(node_type, name).map_err(|e| self.field(field, e))?;
            if s.is_empty() {
                return Err(self.field(field, format!("node set `{name}` is empty")));
            }
            Ok(s.to_vec())
        };
        let (train, val, test) = (set("data.train_set", &d.train_set)?, set("data.val_set", &d.val_set)?, set("data.test_set", &d.test_set)?);
        let mut max = 0i64;
        for s in [&train, &val, &test] {
            for &v in s {
                let l = labels[v as usize];
                if l < 0 {
                    return Err(self.field("data.label", format!("node {v} of a split has label {l}; labels must be 0 or more")));
                }
                max = max.max(l);
            }
        }
        let classes = match d.classes {
            Some(c) if (max as usize) >= c => {
                return Err(self.field("data.classes", format!("label {max} is out of range for {c} classes (labels must be 0..{c})")));
            }
            Some(c) => c,
            None => max as usize + 1,
        };
        if classes < 2 {
            return Err(self.field("data.label", "at least two classes are needed"));
        }
        Ok(Resolved { node_type, relation, labels, classes, dim, train, val, test })
    }
}
