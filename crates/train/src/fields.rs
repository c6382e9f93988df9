//! Which config fields each task and model reads. A field that a run would
//! not read is an error naming the field, the task and the model — never
//! silently ignored — so every field a user sets changes the run. The table
//! below is the single source; `tests/fields.rs` checks, for every task and
//! model, that each field it accepts changes the run and that every other
//! field is refused.

use crate::config::{Mode, ModelKind, Task, TrainConfig};
use crate::{Error, Result};
use ferrograph_nn::link::Score;

/// Every field of a training config, as dotted paths.
pub const ALL: &[&str] = &[
    "task",
    "output",
    "data.snapshot",
    "data.import",
    "data.builtin",
    "data.node_type",
    "data.relation",
    "data.label",
    "data.features",
    "data.heldout",
    "data.test_relation",
    "data.val_relation",
    "data.relations",
    "data.metapaths",
    "data.inputs",
    "data.normalize_features",
    "data.classes",
    "data.train_set",
    "data.val_set",
    "data.test_set",
    "model.kind",
    "model.hidden",
    "model.aggregator",
    "model.normalize",
    "model.heads",
    "model.out_heads",
    "model.dropout",
    "model.attn_dropout",
    "model.embedding_dim",
    "model.input_dim",
    "model.layers",
    "model.bases",
    "model.relation_aggr",
    "model.semantic_dim",
    "model.edge_dim",
    "model.attention_dim",
    "model.neighbor_samples",
    "train.mode",
    "train.fanouts",
    "train.batch_size",
    "train.optimizer",
    "train.lr",
    "train.weight_decay",
    "train.epochs",
    "train.patience",
    "train.seed",
    "train.prefetch",
    "train.history_staleness",
    "train.history_capacity",
    "train.relation_fanouts",
    "link.negatives",
    "link.negative",
    "link.strict",
    "link.score",
    "link.loss",
    "link.temperature",
    "walk.walks_per_node",
    "walk.length",
    "walk.p",
    "walk.q",
    "walk.window",
    "walk.negatives",
    "walk.lr",
    "eval.k",
    "eval.every",
];

/// The fields a run of `cfg` reads, given its task, model and the values
/// that switch parts on or off (mode, score, history cache, held-out data).
pub fn accepted(cfg: &TrainConfig) -> Vec<&'static str> {
    let (kind, t, d) = (cfg.model.kind, &cfg.train, &cfg.data);
    let mut f: Vec<&'static str> = vec!["task", "output", "data.snapshot", "data.import", "data.builtin", "model.kind", "train.seed", "train.epochs"];
    let gnn = |f: &mut Vec<&'static str>| {
        f.extend(["model.hidden", "model.dropout"]);
        match kind {
            ModelKind::Sage => f.extend(["model.aggregator", "model.normalize"]),
            ModelKind::Gat => f.extend(["model.heads", "model.out_heads", "model.attn_dropout"]),
            _ => {}
        }
    };
    let optimiser = |f: &mut Vec<&'static str>| f.extend(["train.optimizer", "train.lr", "train.weight_decay"]);
    let sampled = t.mode != Mode::Full;
    match (cfg.task, kind) {
        (Task::NodeClassification, k) if k.is_hetero() => {
            f.extend(["data.node_type", "data.relations", "data.inputs", "data.label", "data.features", "data.normalize_features", "data.classes"]);
            f.extend(["data.train_set", "data.val_set", "data.test_set", "model.hidden", "model.dropout", "train.mode"]);
            // The width of categorical inputs that do not give their own `dim`.
            if d.inputs.values().any(|s| s.categorical.is_some() && s.dim.is_none()) {
                f.push("model.input_dim");
            }
            f.extend(["train.patience", "eval.every"]);
            optimiser(&mut f);
            if sampled {
                f.extend(["train.fanouts", "train.relation_fanouts", "train.batch_size", "train.prefetch"]);
            }
            match k {
                ModelKind::Han => f.extend(["data.metapaths", "model.heads", "model.attn_dropout", "model.semantic_dim"]),
                ModelKind::Rgcn => f.extend(["model.bases", "model.relation_aggr"]),
                _ => f.push("model.relation_aggr"),
            }
            if k != ModelKind::Han && cfg.model.relation_aggr == ferrograph_nn::hetero::RelationAggr::Attention {
                f.push("model.semantic_dim");
            }
        }
        (Task::NodeClassification, _) => {
            f.extend(["data.node_type", "data.relation", "data.label", "data.features", "data.normalize_features", "data.classes"]);
            f.extend(["data.train_set", "data.val_set", "data.test_set", "train.mode", "train.patience", "eval.every"]);
            gnn(&mut f);
            optimiser(&mut f);
            if sampled {
                f.extend(["train.fanouts", "train.batch_size", "train.prefetch"]);
            }
            if t.mode == Mode::Sampled {
                f.push("train.history_staleness");
                if t.history_staleness.is_some() {
                    f.push("train.history_capacity");
                }
            }
        }
        (Task::LinkPrediction, _) => {
            f.extend(["data.node_type", "data.relation", "data.features", "data.heldout", "model.embedding_dim"]);
            f.extend(["train.fanouts", "train.batch_size", "train.prefetch"]);
            f.extend(["link.negatives", "link.negative", "link.strict", "link.score", "link.loss"]);
            gnn(&mut f);
            optimiser(&mut f);
            if d.features.is_some() {
                f.push("data.normalize_features");
            } else {
                f.push("model.input_dim");
            }
            if cfg.link.score == Score::Cosine {
                f.push("link.temperature");
            }
            if d.heldout.is_some() {
                f.extend(["eval.k", "eval.every", "train.patience"]);
            }
        }
        (Task::Recommendation, k) => {
            f.extend(["data.relation", "data.test_relation", "data.val_relation", "model.embedding_dim", "train.batch_size", "train.prefetch"]);
            optimiser(&mut f);
            if k == ModelKind::LightGcn {
                f.push("model.layers");
            } else {
                f.extend(["model.hidden", "model.dropout", "model.aggregator", "model.normalize", "model.input_dim", "train.fanouts"]);
            }
            if d.test_relation.is_some() || d.val_relation.is_some() {
                f.extend(["eval.k", "eval.every"]);
            }
            if d.val_relation.is_some() {
                f.push("train.patience");
            }
        }
        (Task::Embedding, k) => {
            f.extend(["data.node_type", "data.heldout", "model.embedding_dim"]);
            f.extend(["walk.walks_per_node", "walk.length", "walk.window", "walk.negatives", "walk.lr"]);
            // GATNE walks `data.relations`; its `data.relation` only names
            // the embeddings that score `data.heldout`.
            if k != ModelKind::Gatne || d.heldout.is_some() {
                f.push("data.relation");
            }
            if k != ModelKind::Deepwalk {
                f.extend(["walk.p", "walk.q"]);
            }
            if k == ModelKind::Gatne {
                f.extend(["data.relations", "model.edge_dim", "model.attention_dim", "model.neighbor_samples", "train.lr", "train.batch_size"]);
            }
            if d.heldout.is_some() {
                f.extend(["eval.k", "eval.every", "train.patience"]);
            }
        }
    }
    f.sort_unstable();
    f.dedup();
    f
}

/// Why `field` is not read, for the message.
fn reason(cfg: &TrainConfig, field: &str) -> String {
    let t = &cfg.train;
    let hint = match field {
        "train.fanouts" | "train.batch_size" | "train.prefetch" | "train.relation_fanouts" if t.mode == Mode::Full => {
            " (mode = \"full\" trains on the whole graph per step)".to_string()
        }
        "train.history_staleness" | "train.history_capacity" if t.mode != Mode::Sampled => " (the history cache needs mode = \"sampled\")".into(),
        "train.history_capacity" => " (it sizes the history cache: set `train.history_staleness` to use one)".into(),
        "link.temperature" => " (it scales cosine scores: set `link.score = \"cosine\"`)".into(),
        "model.input_dim" if cfg.model.kind.is_hetero() => {
            " (it is the width of `data.inputs` entries `{ categorical = ... }` without a `dim`; none here)".into()
        }
        "model.input_dim" if cfg.data.features.is_some() => " (the input is the `data.features` column, not a learnable table)".into(),
        "eval.k" | "eval.every" | "train.patience" => match cfg.task {
            Task::LinkPrediction | Task::Embedding => " (nothing is evaluated without `data.heldout`)".into(),
            Task::Recommendation if field == "train.patience" => " (early stopping needs `data.val_relation`)".into(),
            Task::Recommendation => " (nothing is evaluated without `data.test_relation` or `data.val_relation`)".into(),
            _ => String::new(),
        },
        "data.relation" if cfg.model.kind == ModelKind::Gatne => {
            " (GATNE walks `data.relations`; `data.relation` names the embeddings that score `data.heldout`)".into()
        }
        "walk.p" | "walk.q" if cfg.model.kind == ModelKind::Deepwalk => " (DeepWalk is p = q = 1; use model.kind = \"node2vec\")".into(),
        "model.semantic_dim" => " (it sizes semantic attention: HAN, or `model.relation_aggr = \"attention\"`)".into(),
        _ => String::new(),
    };
    format!("is not read by task `{}` with model `{}`{hint}; remove it", cfg.task.name(), cfg.model.kind.name())
}

/// Refuses every field `cfg` sets that its run would not read.
pub fn check(cfg: &TrainConfig) -> Result<()> {
    let ok = accepted(cfg);
    for field in &cfg.given {
        let known = ALL.contains(&field.as_str());
        if known && !ok.contains(&field.as_str()) {
            return Err(Error::Config { file: cfg.path.clone(), field: field.clone(), message: reason(cfg, field) });
        }
    }
    Ok(())
}
