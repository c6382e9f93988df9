//! The training config (`ferrograph train CONFIG.toml`) and its checks
//! against the graph, all done before any training starts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use ferrograph_graph::column::Column;
use ferrograph_graph::{Graph, NodeTypeId};
use ferrograph_nn::gnn::{ConvKind, GnnConfig};
use ferrograph_nn::hetero::{HeteroConfig, HeteroKind, RelationAggr};
use ferrograph_nn::layers::Aggregator;
use ferrograph_nn::link::Score;
use ferrograph_nn::loss::LinkLoss;
use ferrograph_nn::optim::OptimizerKind;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// What a run learns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Node labels from features and neighbours (`sage`, `gcn`, `gat`).
    #[default]
    NodeClassification,
    /// Edges of a relation, scored by an encoder trained edge by edge
    /// against sampled negatives (`sage`, `gcn`, `gat`); evaluated on the
    /// held-out pairs of `ferrograph split-edges`.
    LinkPrediction,
    /// Items for users of a bipartite user → item relation (`lightgcn`,
    /// or `sage`: bipartite GraphSAGE with user and item towers);
    /// Recall@K / NDCG@K on a test relation.
    Recommendation,
    /// Unsupervised node embeddings from random walks (`node2vec`, `deepwalk`).
    Embedding,
}

impl Task {
    /// The name used in configs.
    pub fn name(self) -> &'static str {
        match self {
            Task::NodeClassification => "node_classification",
            Task::LinkPrediction => "link_prediction",
            Task::Recommendation => "recommendation",
            Task::Embedding => "embedding",
        }
    }

    /// Model kinds the task trains.
    pub fn kinds(self) -> &'static [ModelKind] {
        match self {
            Task::NodeClassification => &[ModelKind::Sage, ModelKind::Gcn, ModelKind::Gat, ModelKind::Rgcn, ModelKind::HeteroSage, ModelKind::Han],
            Task::LinkPrediction => &[ModelKind::Sage, ModelKind::Gcn, ModelKind::Gat],
            Task::Recommendation => &[ModelKind::LightGcn, ModelKind::Sage],
            Task::Embedding => &[ModelKind::Node2vec, ModelKind::Deepwalk, ModelKind::Gatne],
        }
    }
}

/// A whole training run.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// What to learn (default `node_classification`).
    #[serde(default)]
    pub task: Task,
    /// Where the graph comes from and what to learn.
    pub data: DataConfig,
    /// The model.
    pub model: ModelSection,
    /// Optimisation.
    #[serde(default)]
    pub train: TrainSection,
    /// Edge-level training (link prediction, bipartite GraphSAGE).
    #[serde(default)]
    pub link: LinkSection,
    /// Random walks and skip-gram (embedding).
    #[serde(default)]
    pub walk: WalkSection,
    /// Evaluation of the link, recommendation and embedding tasks.
    #[serde(default)]
    pub eval: EvalSection,
    /// Output directory (relative to the config file).
    pub output: PathBuf,
    /// The directory relative paths are resolved against (the config file's).
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The config file, for messages.
    #[serde(skip)]
    pub path: PathBuf,
    /// The fields the file sets (dotted paths such as `train.lr`), for
    /// [`crate::fields`]: a field that does not apply to the task and model
    /// is refused, not ignored.
    #[serde(skip)]
    pub given: BTreeSet<String>,
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
    /// The node type to classify (link prediction and embedding: the node
    /// type of `relation`, which it may be left to name).
    #[serde(default)]
    pub node_type: String,
    /// The relation messages travel along (a relation name or its reverse);
    /// default: the reverse of the only edge type between `node_type`s, so
    /// that nodes aggregate their in-neighbours. GATNE: the relation whose
    /// embeddings score `heldout`.
    pub relation: Option<String>,
    /// Integer label column (node classification).
    pub label: Option<String>,
    /// Float-vector feature column (node classification; optional for
    /// link prediction, which otherwise learns an input table).
    pub features: Option<String>,
    /// Link prediction and embedding: the folder `ferrograph split-edges`
    /// wrote the held-out pairs to (`val.npy`, `val_neg.npy`, `test.npy`,
    /// `test_neg.npy`), relative to this file.
    pub heldout: Option<PathBuf>,
    /// Recommendation: the relation holding each user's test items.
    pub test_relation: Option<String>,
    /// Recommendation: the relation holding each user's validation items
    /// (they pick the kept epoch; without it the last epoch is kept and the
    /// test items are only logged, labelled `test`).
    pub val_relation: Option<String>,
    /// Heterogeneous models: the relations messages travel along (names or
    /// reverse names; a node's messages come from its neighbours along each
    /// relation that starts at its type). Default: every edge type, both ways.
    /// GATNE: the relations of the multiplex graph, each joining `node_type`
    /// to itself (default: every such edge type).
    pub relations: Option<Vec<String>>,
    /// HAN: metapaths, each a chain of relations from `node_type` back to it
    /// (e.g. `["written_by", "writes"]` for paper–author–paper).
    pub metapaths: Option<Vec<Vec<String>>>,
    /// Heterogeneous models: where each node type's input comes from
    /// (`{ features = "col" }`, `{ embedding = 64 }`, or `{ categorical =
    /// "attr", dim = 16 }`). Default: the `features` column where a type has
    /// it, else a learnable embedding of `model.input_dim`.
    #[serde(default)]
    pub inputs: std::collections::BTreeMap<String, InputSpec>,
    /// Scale each node's feature row to unit L1 norm (divide by the sum of
    /// absolute values; for non-negative rows such as bag-of-words, PyG's
    /// `NormalizeFeatures`: rows sum to 1). Rows of zeros stay zero.
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

/// The model of a run: a message-passing encoder (`sage`, `gcn`, `gat`),
/// or one of the task-specific models (`lightgcn` for recommendation,
/// `node2vec` / `deepwalk` for embeddings). The config checks which kinds
/// a task accepts before anything is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// GraphSAGE.
    Sage,
    /// GCN.
    Gcn,
    /// GAT.
    Gat,
    /// LightGCN (recommendation).
    #[serde(rename = "lightgcn")]
    LightGcn,
    /// node2vec walks + skip-gram (embedding).
    Node2vec,
    /// DeepWalk: node2vec with p = q = 1 (embedding).
    Deepwalk,
    /// R-GCN with basis decomposition (heterogeneous node classification).
    Rgcn,
    /// A GraphSAGE layer per relation, summed or attended per destination type.
    HeteroSage,
    /// HAN: node-level attention within metapaths, semantic attention across them.
    Han,
    /// GATNE-T: a base embedding plus relation-specific embeddings per node
    /// (multiplex embedding).
    Gatne,
}

impl ModelKind {
    /// A message-passing encoder (`sage`, `gcn`, `gat`), which [`ModelConfig::init`] builds.
    pub fn is_encoder(self) -> bool {
        matches!(self, ModelKind::Sage | ModelKind::Gcn | ModelKind::Gat)
    }

    /// A heterogeneous model (`rgcn`, `hetero_sage`, `han`).
    pub fn is_hetero(self) -> bool {
        matches!(self, ModelKind::Rgcn | ModelKind::HeteroSage | ModelKind::Han)
    }

    /// The name used in configs.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Sage => "sage",
            ModelKind::Gcn => "gcn",
            ModelKind::Gat => "gat",
            ModelKind::LightGcn => "lightgcn",
            ModelKind::Node2vec => "node2vec",
            ModelKind::Deepwalk => "deepwalk",
            ModelKind::Rgcn => "rgcn",
            ModelKind::HeteroSage => "hetero_sage",
            ModelKind::Han => "han",
            ModelKind::Gatne => "gatne",
        }
    }
}

/// `[model]`: model hyper-parameters.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// The model.
    pub kind: ModelKind,
    /// Hidden widths, one per hidden layer (layers = `hidden.len() + 1`).
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
    /// GraphSAGE aggregator.
    #[serde(default)]
    pub aggregator: Aggregator,
    /// GraphSAGE: L2-normalise hidden layers.
    #[serde(default)]
    pub normalize: bool,
    /// GAT heads of hidden layers.
    #[serde(default = "default_heads")]
    pub heads: usize,
    /// GAT heads of the output layer (averaged).
    #[serde(default = "one")]
    pub out_heads: usize,
    /// Dropout on each layer's input.
    #[serde(default)]
    pub dropout: f64,
    /// GAT attention dropout.
    #[serde(default)]
    pub attn_dropout: f64,
    /// Output (embedding) width of link prediction, recommendation and
    /// embedding models.
    #[serde(default = "sixty_four")]
    pub embedding_dim: usize,
    /// Width of the learnable input table used when the nodes have no
    /// feature column (link prediction, bipartite GraphSAGE).
    #[serde(default = "sixty_four")]
    pub input_dim: usize,
    /// LightGCN propagation layers.
    #[serde(default = "three")]
    pub layers: usize,
    /// R-GCN: bases of the per-relation weights (0: one full matrix per relation).
    #[serde(default)]
    pub bases: usize,
    /// HeteroSAGE: how relation outputs combine per destination type.
    #[serde(default)]
    pub relation_aggr: RelationAggr,
    /// HAN: width of the semantic attention.
    #[serde(default = "semantic_dim")]
    pub semantic_dim: usize,
    /// GATNE: width of the edge-type embeddings.
    #[serde(default = "ten")]
    pub edge_dim: usize,
    /// GATNE: width of the attention over relations.
    #[serde(default = "twenty")]
    pub attention_dim: usize,
    /// GATNE: neighbours sampled per node and relation for aggregation.
    #[serde(default = "ten")]
    pub neighbor_samples: usize,
}

fn ten() -> usize {
    10
}
fn twenty() -> usize {
    20
}

fn semantic_dim() -> usize {
    128
}

fn sixty_four() -> usize {
    64
}
fn three() -> usize {
    3
}

fn default_hidden() -> Vec<usize> {
    vec![64]
}
fn default_heads() -> usize {
    8
}
fn one() -> usize {
    1
}

impl ModelSection {
    /// Message-passing layers of an encoder (`hidden.len() + 1`).
    pub fn num_layers(&self) -> usize {
        self.hidden.len() + 1
    }
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
    /// `adam`, `adamw` or `sgd`.
    #[serde(default)]
    pub optimizer: OptimizerKind,
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
    /// Heterogeneous models: fan-outs of a relation (one per layer),
    /// overriding `fanouts` for it; HAN: metapath instances per node, keyed
    /// by the metapath's relations joined with `-`.
    #[serde(default)]
    pub relation_fanouts: std::collections::BTreeMap<String, Vec<usize>>,
}

fn fanouts() -> Vec<usize> {
    vec![10, 10]
}
fn batch_size() -> usize {
    512
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

/// One node type's input in a heterogeneous model.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// A float-vector, sparse or numeric column.
    pub features: Option<String>,
    /// A learnable embedding of this width (sparse row updates).
    pub embedding: Option<usize>,
    /// A categorical or hashed string attribute whose codes index a learnable table.
    pub categorical: Option<String>,
    /// Width of the `categorical` table.
    pub dim: Option<usize>,
}

/// How negatives are drawn for edge-level training.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NegativeKind {
    /// Uniform over the destination type.
    #[default]
    Random,
    /// Proportional to in-degree^0.75 (word2vec's unigram^0.75).
    InDegree,
}

/// `[link]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSection {
    /// Negatives per positive edge.
    #[serde(default = "one")]
    pub negatives: usize,
    /// Where negatives come from.
    #[serde(default)]
    pub negative: NegativeKind,
    /// Never a true neighbour of the source as a negative.
    #[serde(default)]
    pub strict: bool,
    /// Edge score.
    #[serde(default)]
    pub score: Score,
    /// Loss.
    #[serde(default)]
    pub loss: LinkLoss,
    /// Cosine scores are divided by this.
    #[serde(default = "temperature")]
    pub temperature: f64,
}

fn temperature() -> f64 {
    0.1
}

impl Default for LinkSection {
    fn default() -> Self {
        toml::from_str("").expect("defaults parse")
    }
}

/// `[walk]`: random walks and the skip-gram trained on them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalkSection {
    /// Walks started from every node.
    #[serde(default = "walks_per_node")]
    pub walks_per_node: usize,
    /// Steps per walk.
    #[serde(default = "walk_length")]
    pub length: usize,
    /// node2vec return parameter.
    #[serde(default = "unit")]
    pub p: f64,
    /// node2vec in-out parameter.
    #[serde(default = "unit")]
    pub q: f64,
    /// Skip-gram window.
    #[serde(default = "window")]
    pub window: usize,
    /// Skip-gram negatives per pair.
    #[serde(default = "five")]
    pub negatives: usize,
    /// Skip-gram starting learning rate (linear decay; word2vec's 0.025).
    #[serde(default = "sgd_lr")]
    pub lr: f64,
}

fn sgd_lr() -> f64 {
    0.025
}

fn walks_per_node() -> usize {
    10
}
fn walk_length() -> usize {
    80
}
fn unit() -> f64 {
    1.0
}
fn window() -> usize {
    5
}
fn five() -> usize {
    5
}

impl Default for WalkSection {
    fn default() -> Self {
        toml::from_str("").expect("defaults parse")
    }
}

/// `[eval]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSection {
    /// Cut-offs: Hits@K (link prediction) or Recall@K / NDCG@K (recommendation).
    #[serde(default = "ks")]
    pub k: Vec<usize>,
    /// Evaluate every this many epochs (and after the last).
    #[serde(default = "one")]
    pub every: usize,
}

fn ks() -> Vec<usize> {
    vec![20]
}

impl Default for EvalSection {
    fn default() -> Self {
        toml::from_str("").expect("defaults parse")
    }
}

impl Default for TrainSection {
    fn default() -> Self {
        toml::from_str("").expect("defaults parse")
    }
}

impl TrainConfig {
    /// Reads and parses a config file (paths inside resolve against its folder).
    pub fn load(path: &Path) -> Result<TrainConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parses config text read from `path`; relative paths in it resolve
    /// against `path`'s folder, made absolute now so that a run started from
    /// any working directory writes where the config says.
    pub fn parse(text: &str, path: &Path) -> Result<TrainConfig> {
        let syntax = |e: toml::de::Error| {
            let at = e.span().map(|s| {
                let line = text[..s.start].matches('\n').count() + 1;
                let col = text[..s.start].rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                (line, col)
            });
            Error::Syntax { file: path.to_path_buf(), at, message: e.message().to_string() }
        };
        let table: toml::Table = toml::from_str(text).map_err(syntax)?;
        let mut c: TrainConfig = toml::from_str(text).map_err(syntax)?;
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        c.base_dir = std::path::absolute(parent).map_err(|e| Error::io(parent, e))?;
        c.path = path.to_path_buf();
        c.given = given_fields(&table);
        // The model must train the task before anything else is judged;
        // then a field the run would not read is refused whatever its value.
        c.check_kind()?;
        crate::fields::check(&c)?;
        c.check_static()?;
        Ok(c)
    }

    /// A path from the config, resolved against its folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() { p.to_path_buf() } else { self.base_dir.join(p) }
    }

    /// The output directory (absolute).
    pub fn output_dir(&self) -> PathBuf {
        self.resolve(&self.output)
    }

    /// An error about config field `name`.
    pub fn field(&self, name: &str, msg: impl std::fmt::Display) -> Error {
        Error::Config { file: self.path.clone(), field: name.to_string(), message: msg.to_string() }
    }

    /// Every field of the config with its value (defaults included), as
    /// dotted paths and JSON text: what a checkpoint's fingerprint records.
    pub fn flat_fields(&self) -> BTreeMap<String, String> {
        let v = serde_json::to_value(self).unwrap_or_default();
        let mut out = BTreeMap::new();
        flatten("", &v, &mut out);
        out
    }

    /// The GNN the `[model]` table describes (encoder kinds).
    pub fn gnn_config(&self) -> GnnConfig {
        let m = &self.model;
        let conv = match m.kind {
            ModelKind::Gcn => ConvKind::Gcn,
            ModelKind::Gat => ConvKind::Gat,
            _ => ConvKind::Sage,
        };
        GnnConfig {
            conv,
            hidden: m.hidden.clone(),
            aggregator: m.aggregator,
            normalize: m.normalize,
            heads: m.heads,
            out_heads: m.out_heads,
            dropout: m.dropout,
            attn_dropout: m.attn_dropout,
        }
    }

    /// The heterogeneous model the `[model]` table describes.
    pub fn hetero_config(&self) -> HeteroConfig {
        let m = &self.model;
        HeteroConfig {
            kind: match m.kind {
                ModelKind::Rgcn => HeteroKind::Rgcn,
                ModelKind::Han => HeteroKind::Han,
                _ => HeteroKind::HeteroSage,
            },
            hidden: m.hidden.clone(),
            heads: m.heads,
            dropout: m.dropout,
            attn_dropout: m.attn_dropout,
            bases: m.bases,
            relation_aggr: m.relation_aggr,
            semantic_dim: m.semantic_dim,
        }
    }

    /// Refuses a model kind that does not train the config's task.
    pub fn check_kind(&self) -> Result<()> {
        let kinds = self.task.kinds();
        if !kinds.contains(&self.model.kind) {
            let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
            return Err(self.field(
                "model.kind",
                format!("`{}` does not train task `{}` (it trains: {})", self.model.kind.name(), self.task.name(), names.join(", ")),
            ));
        }
        Ok(())
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
        self.check_kind()?;
        match self.task {
            Task::NodeClassification => {
                if self.data.node_type.is_empty() {
                    return Err(self.field("data.node_type", "node classification needs the node type to classify"));
                }
                if self.data.label.is_none() {
                    return Err(self.field("data.label", "node classification needs it"));
                }
                if !self.model.kind.is_hetero() && self.data.features.is_none() {
                    return Err(self.field("data.features", "node classification needs it (heterogeneous models may name inputs per type instead)"));
                }
                if self.model.kind == ModelKind::Han && self.data.metapaths.as_ref().is_none_or(Vec::is_empty) {
                    return Err(self.field("data.metapaths", "HAN needs one or more metapaths, e.g. [[\"written_by\", \"writes\"]]"));
                }
                if self.model.kind.is_hetero() && self.train.mode == Mode::Ego {
                    return Err(self.field("train.mode", "heterogeneous models train in `sampled` or `full` mode"));
                }
                if self.model.kind.is_hetero() && self.train.history_staleness.is_some() {
                    return Err(self.field("train.history_staleness", "the history cache is for homogeneous models"));
                }
                for (t, spec) in &self.data.inputs {
                    let given = [spec.features.is_some(), spec.embedding.is_some(), spec.categorical.is_some()].iter().filter(|&&b| b).count();
                    if given != 1 {
                        return Err(self.field(&format!("data.inputs.{t}"), "give exactly one of `features`, `embedding` or `categorical`"));
                    }
                    if spec.embedding == Some(0) || spec.dim == Some(0) {
                        return Err(self.field(&format!("data.inputs.{t}"), "widths must be at least 1"));
                    }
                    if spec.dim.is_some() && spec.categorical.is_none() {
                        return Err(self.field(&format!("data.inputs.{t}.dim"), "`dim` goes with `categorical`"));
                    }
                }
            }
            Task::Recommendation => {
                if self.data.relation.is_none() {
                    return Err(self.field("data.relation", "name the user → item relation to train on"));
                }
            }
            Task::Embedding if self.model.kind == ModelKind::Gatne => {
                let m = &self.model;
                for (field, v) in [
                    ("model.embedding_dim", m.embedding_dim),
                    ("model.edge_dim", m.edge_dim),
                    ("model.attention_dim", m.attention_dim),
                    ("model.neighbor_samples", m.neighbor_samples),
                ] {
                    if v == 0 {
                        return Err(self.field(field, "must be at least 1"));
                    }
                }
                if self.data.relations.as_ref().is_some_and(Vec::is_empty) {
                    return Err(self.field("data.relations", "list one or more relations (or leave it out for all of `node_type`'s)"));
                }
            }
            Task::LinkPrediction | Task::Embedding => {}
        }
        if let Some(h) = &self.data.heldout {
            let dir = self.resolve(h);
            for f in ["test.npy", "test_neg.npy"] {
                if !dir.join(f).is_file() {
                    return Err(self.field("data.heldout", format!("{} has no {f}; write it with `ferrograph split-edges`", dir.display())));
                }
            }
        }
        if self.eval.every == 0 {
            return Err(self.field("eval.every", "must be at least 1"));
        }
        if self.eval.k.is_empty() || self.eval.k.contains(&0) {
            return Err(self.field("eval.k", "give one or more cut-offs of at least 1"));
        }
        if self.link.negatives == 0 {
            return Err(self.field("link.negatives", "must be at least 1"));
        }
        if !(self.link.temperature > 0.0 && self.link.temperature.is_finite()) {
            return Err(self.field("link.temperature", "must be a positive number"));
        }
        let w = &self.walk;
        if w.walks_per_node == 0 || w.length == 0 || w.window == 0 || w.negatives == 0 {
            return Err(self.field("walk", "walks_per_node, length, window and negatives must be at least 1"));
        }
        if !(w.lr > 0.0 && w.lr.is_finite()) {
            return Err(self.field("walk.lr", "must be a positive number"));
        }
        if !(w.p > 0.0 && w.q > 0.0 && w.p.is_finite() && w.q.is_finite()) {
            return Err(self.field("walk.p", "p and q must be positive numbers"));
        }
        if self.model.embedding_dim == 0 || self.model.input_dim == 0 {
            return Err(self.field("model.embedding_dim", "embedding_dim and input_dim must be at least 1"));
        }
        if self.model.kind == ModelKind::LightGcn && self.model.layers == 0 {
            return Err(self.field("model.layers", "LightGCN needs at least one propagation layer"));
        }
        let t = &self.train;
        let layers = self.model.num_layers();
        let encoder = self.model.kind.is_encoder() || matches!(self.model.kind, ModelKind::Rgcn | ModelKind::HeteroSage);
        if encoder && t.mode != Mode::Full && t.fanouts.len() != layers {
            return Err(self.field(
                "train.fanouts",
                format!(
                    "{} fan-outs for a {layers}-layer model (model.hidden has {} entries); give one fan-out per layer",
                    t.fanouts.len(),
                    self.model.hidden.len()
                ),
            ));
        }
        if encoder && t.mode != Mode::Full && t.fanouts.contains(&0) {
            return Err(self.field("train.fanouts", "fan-outs must be at least 1"));
        }
        for (r, f) in &t.relation_fanouts {
            let want = if self.model.kind == ModelKind::Han { 1 } else { layers };
            if t.mode != Mode::Full && (f.len() != want || f.contains(&0)) {
                return Err(self.field(&format!("train.relation_fanouts.{r}"), format!("give {want} fan-out(s) of at least 1")));
            }
        }
        if t.history_staleness.is_some() && (t.mode != Mode::Sampled || layers != 2) {
            return Err(self.field("train.history_staleness", "history caching needs mode = \"sampled\" and a two-layer model (one `hidden` entry)"));
        }
        if t.batch_size == 0 {
            return Err(self.field("train.batch_size", "must be at least 1"));
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
    /// The features are sparse rows (read without densifying).
    pub sparse: bool,
    /// Split node sets.
    pub train: Vec<u32>,
    /// Validation nodes.
    pub val: Vec<u32>,
    /// Test nodes.
    pub test: Vec<u32>,
}

impl TrainConfig {
    /// The node type and the relation joining it to itself that messages
    /// (or walks) follow: `data.relation`, or by default the reverse of the
    /// only edge type from `node_type` to itself (nodes aggregate their
    /// in-neighbours).
    pub fn self_relation(&self, g: &Graph) -> Result<(NodeTypeId, ferrograph_sample::Relation)> {
        let d = &self.data;
        let schema = g.schema();
        if d.node_type.is_empty() {
            let Some(r) = &d.relation else {
                return Err(self.field("data.node_type", "name the node type (or `data.relation`)"));
            };
            let relation = ferrograph_sample::Relation::resolve(g, r).map_err(|e| self.field("data.relation", e))?;
            if relation.from != relation.to {
                return Err(self.field("data.relation", format!("relation `{r}` joins two node types; this task needs one joining a type to itself")));
            }
            return Ok((relation.from, relation));
        }
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
        Ok((node_type, relation))
    }

    /// Resolves node type, relation, columns and sets in `g`; every error
    /// names the config field.
    pub fn resolve_in(&self, g: &Graph) -> Result<Resolved> {
        let d = &self.data;
        let (node_type, relation) = self.self_relation(g)?;
        let (label, features) = match (&d.label, &d.features) {
            (Some(l), Some(f)) => (l, f),
            _ => return Err(self.field("data", "node classification needs `label` and `features`")),
        };
        let labels = match g.node_column(node_type, label).map_err(|e| self.field("data.label", e))? {
            Column::Int(a) => a.as_slice().to_vec(),
            Column::Categorical { codes, .. } | Column::Hashed { codes, .. } => codes.as_slice().iter().map(|&c| i64::from(c)).collect(),
            other => {
                return Err(
                    self.field("data.label", format!("column `{label}` is {}, not an integer or categorical column", other.kind().describe()))
                );
            }
        };
        let column = g.node_column(node_type, features).map_err(|e| self.field("data.features", e))?;
        let dim = ferrograph_sample::features::width(column);
        if dim == 0 {
            return Err(self.field(
                "data.features",
                format!("column `{features}` is {}, not numeric features (a float vector, a sparse vector or a number)", column.kind().describe()),
            ));
        }
        let sparse = matches!(column, Column::Sparse { .. });
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
        Ok(Resolved { node_type, relation, labels, classes, dim, sparse, train, val, test })
    }
}

/// The dotted paths of every value a TOML table sets (tables of tables are
/// walked; arrays and inline values are leaves, except `data.inputs.T`
/// whose keys are node types).
fn given_fields(t: &toml::Table) -> BTreeSet<String> {
    fn walk(prefix: &str, t: &toml::Table, out: &mut BTreeSet<String>) {
        for (k, v) in t {
            let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            match v {
                // Fields whose values are tables (`data.inputs`,
                // `train.relation_fanouts`) are leaves.
                toml::Value::Table(inner) if !crate::fields::ALL.contains(&path.as_str()) => walk(&path, inner, out),
                _ => {
                    out.insert(path);
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk("", t, &mut out);
    out
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&path, x, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}
