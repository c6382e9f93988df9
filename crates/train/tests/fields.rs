//! Every config field means something (table-driven over every task and
//! model kind): for each case, every field of [`fields::ALL`] is either
//!
//! * accepted, and then setting it to another value changes the run (the
//!   per-epoch records, the kept epoch, the test metrics, the files or the
//!   output folder differ from the base run's), or the other value is
//!   refused with an error that names the field; or
//! * not read by that task and model, and then giving it at all is refused
//!   before training with an error that names the field and the task.
//!
//! The base run of each case is run twice first: it must be deterministic,
//! or "differs" would prove nothing. The data source fields (`task`,
//! `model.kind`, `data.snapshot`, `data.import`, `data.builtin`) choose the
//! case itself and are covered by the cases differing.

use std::path::{Path, PathBuf};

use ferrograph_graph::Graph;
use ferrograph_train::config::TrainConfig;
use ferrograph_train::engine::{Quiet, RunOptions};
use ferrograph_train::fields::{ALL, accepted};
use toml::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Fields that choose the case rather than change it.
const STRUCTURAL: &[&str] = &["task", "model.kind", "data.snapshot", "data.import", "data.builtin"];

/// Another value for `field` (TOML), given the base table: the table's
/// value, moved off the base's when the two happen to be equal.
fn alternative(field: &str, base: &toml::Table) -> Value {
    let v = candidate(field, base);
    let mut t = base;
    let parts: Vec<&str> = field.split('.').collect();
    for p in &parts[..parts.len() - 1] {
        match t.get(*p).and_then(Value::as_table) {
            Some(x) => t = x,
            None => return v,
        }
    }
    match (t.get(*parts.last().unwrap()), v) {
        (Some(Value::Integer(b)), Value::Integer(a)) if *b == a => Value::Integer(a + 1),
        (Some(Value::Float(b)), Value::Float(a)) if *b == a => Value::Float(a * 2.0),
        (_, v) => v,
    }
}

fn candidate(field: &str, base: &toml::Table) -> Value {
    let get = |path: &str| -> Option<&Value> {
        let mut t = base;
        let parts: Vec<&str> = path.split('.').collect();
        for p in &parts[..parts.len() - 1] {
            t = t.get(*p)?.as_table()?;
        }
        t.get(*parts.last()?)
    };
    let s = |x: &str| Value::String(x.into());
    let ints = |v: &[i64]| Value::Array(v.iter().map(|&i| Value::Integer(i)).collect());
    match field {
        "output" => s("elsewhere"),
        "data.node_type" | "data.relation" | "data.label" | "data.test_set" => s("nope"),
        "data.features" => s(if get(field).is_some() { "nope" } else { "feat" }),
        "data.heldout" => s("/nonexistent/heldout"),
        "data.test_relation" => s(if get(field).is_some() { "listens" } else { "listens_test" }),
        "data.val_relation" => s("listens_test"),
        "data.relations" => match get(field) {
            Some(Value::Array(a)) if a.len() > 1 => Value::Array(a[..a.len() - 1].to_vec()),
            _ => Value::Array(vec![s("nope")]),
        },
        "data.metapaths" => Value::Array(vec![Value::Array(vec![s("nope")])]),
        "data.inputs" => {
            let mut t = toml::Table::new();
            let mut spec = toml::Table::new();
            spec.insert("embedding".into(), Value::Integer(8));
            t.insert("nope".into(), Value::Table(spec));
            Value::Table(t)
        }
        "data.normalize_features" | "model.normalize" | "link.strict" => Value::Boolean(true),
        "data.classes" => Value::Integer(40),
        "data.train_set" => s("val"),
        "data.val_set" => s("test"),
        "model.hidden" => ints(&[24]),
        "model.aggregator" => s(if get(field).and_then(Value::as_str) == Some("sum") { "mean" } else { "sum" }),
        "model.heads" => Value::Integer(3),
        "model.out_heads" => Value::Integer(2),
        "model.dropout" => Value::Float(0.45),
        "model.attn_dropout" => Value::Float(0.35),
        "model.embedding_dim" | "model.input_dim" => Value::Integer(24),
        "model.layers" => Value::Integer(1),
        "model.bases" => Value::Integer(2),
        "model.relation_aggr" => s(if get(field).and_then(Value::as_str) == Some("attention") { "sum" } else { "attention" }),
        "model.semantic_dim" => Value::Integer(12),
        "model.edge_dim" => Value::Integer(4),
        "model.attention_dim" => Value::Integer(6),
        "model.neighbor_samples" => Value::Integer(3),
        "train.mode" => s(if get(field).and_then(Value::as_str) == Some("ego") { "sampled" } else { "ego" }),
        "train.fanouts" => match get(field) {
            Some(Value::Array(a)) => ints(&vec![2; a.len().max(1)]),
            _ => ints(&[2, 2]),
        },
        "train.batch_size" => Value::Integer(77),
        "train.optimizer" => s("sgd"),
        "train.lr" => Value::Float(0.2),
        "train.weight_decay" => Value::Float(0.05),
        "train.epochs" => Value::Integer(3),
        "train.patience" => Value::Integer(0),
        "train.seed" => Value::Integer(7),
        "train.prefetch" => Value::Integer(0),
        "train.history_staleness" => Value::Integer(if get(field).is_some() { 0 } else { 3 }),
        "train.history_capacity" => Value::Integer(16),
        "train.relation_fanouts" => {
            let mut t = toml::Table::new();
            t.insert("nope".into(), ints(&[2, 2]));
            Value::Table(t)
        }
        "link.negatives" | "walk.negatives" => Value::Integer(3),
        "link.negative" => s("in_degree"),
        "link.score" => s(if get(field).and_then(Value::as_str) == Some("cosine") { "dot" } else { "cosine" }),
        "link.loss" => s("bpr"),
        "link.temperature" => Value::Float(0.5),
        "walk.walks_per_node" => Value::Integer(2),
        "walk.length" => Value::Integer(6),
        "walk.p" => Value::Float(0.25),
        "walk.q" => Value::Float(4.0),
        "walk.window" => Value::Integer(2),
        "walk.lr" => Value::Float(0.1),
        "eval.k" => ints(&[3]),
        "eval.every" => Value::Integer(2),
        other => panic!("no alternative value for `{other}`: add one to this table"),
    }
}

fn set(t: &mut toml::Table, path: &str, v: Value) {
    let parts: Vec<&str> = path.split('.').collect();
    let mut cur = t;
    for p in &parts[..parts.len() - 1] {
        cur = cur.entry(p.to_string()).or_insert_with(|| Value::Table(toml::Table::new())).as_table_mut().unwrap();
    }
    cur.insert(parts[parts.len() - 1].to_string(), v);
}

/// What a run did, without its timings: the records, the summary's
/// choices and metrics, the files and the output folder.
fn observe(out: &Path) -> String {
    let records: Vec<serde_json::Value> = std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            for k in ["train_seconds", "steps_per_second", "wait_fraction", "eval_seconds"] {
                v.as_object_mut().unwrap().remove(k);
            }
            v
        })
        .collect();
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    // Exported embeddings: their bytes.
    let emb: Vec<u64> = files
        .iter()
        .filter(|f| f.ends_with(".npy"))
        .map(|f| std::fs::read(out.join(f)).unwrap().iter().fold(0u64, |h, &b| h.wrapping_mul(1_000_003).wrapping_add(u64::from(b))))
        .collect();
    format!("{} {records:?} {} {} {} {} {} {files:?} {emb:?}", out.display(), s["val"], s["test"], s["best_epoch"], s["epochs"], s["steps"])
}

/// Trains `text` (written to `dir/NAME.toml`) on `g`: the observation, or the error text.
fn run(dir: &Path, name: &str, text: &str, g: &Graph) -> Result<String, String> {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    let cfg = TrainConfig::parse(text, &path).map_err(|e| e.to_string())?;
    let o = ferrograph_train::tasks::run(&cfg, g, RunOptions::default(), &Quiet).map_err(|e| e.to_string())?;
    Ok(observe(&o.out))
}

struct Case {
    name: &'static str,
    graph: &'static str,
    toml: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "node-sage",
        graph: "planted",
        toml: r#"output = "run"
[data]
builtin = "planted"
node_type = "node"
label = "label"
features = "feat"
[model]
kind = "sage"
hidden = [16]
[train]
fanouts = [4, 4]
batch_size = 100
epochs = 2
lr = 0.01
"#,
    },
    Case {
        name: "node-gcn-history",
        graph: "planted",
        toml: r#"output = "run"
[data]
builtin = "planted"
node_type = "node"
label = "label"
features = "feat"
[model]
kind = "gcn"
hidden = [16]
[train]
fanouts = [4, 4]
batch_size = 100
epochs = 2
history_staleness = 2
"#,
    },
    Case {
        name: "node-gat-full",
        graph: "planted",
        toml: r#"output = "run"
[data]
builtin = "planted"
node_type = "node"
label = "label"
features = "feat"
[model]
kind = "gat"
hidden = [8]
heads = 2
[train]
mode = "full"
epochs = 2
lr = 0.01
"#,
    },
    Case {
        name: "link-sage",
        graph: "planted",
        toml: r#"task = "link_prediction"
output = "run"
[data]
builtin = "planted"
node_type = "node"
relation = "link"
[model]
kind = "sage"
hidden = [16]
embedding_dim = 16
input_dim = 16
[train]
fanouts = [3, 3]
batch_size = 1024
epochs = 2
[link]
score = "cosine"
"#,
    },
    Case {
        name: "rec-lightgcn",
        graph: "lastfm",
        toml: r#"task = "recommendation"
output = "run"
[data]
builtin = "planted"
relation = "listens"
test_relation = "listens_test"
[model]
kind = "lightgcn"
embedding_dim = 16
layers = 2
[train]
batch_size = 8192
epochs = 2
lr = 0.01
"#,
    },
    Case {
        name: "rec-sage",
        graph: "lastfm",
        toml: r#"task = "recommendation"
output = "run"
[data]
builtin = "planted"
relation = "listens"
test_relation = "listens_test"
[model]
kind = "sage"
hidden = [16]
embedding_dim = 16
input_dim = 16
[train]
fanouts = [3, 3]
batch_size = 8192
epochs = 2
"#,
    },
    Case {
        name: "node2vec",
        graph: "planted",
        toml: r#"task = "embedding"
output = "run"
[data]
builtin = "planted"
node_type = "node"
relation = "link"
[model]
kind = "node2vec"
embedding_dim = 16
[walk]
walks_per_node = 1
length = 10
p = 0.5
q = 2.0
[train]
epochs = 2
"#,
    },
    Case {
        name: "deepwalk",
        graph: "planted",
        toml: r#"task = "embedding"
output = "run"
[data]
builtin = "planted"
node_type = "node"
relation = "link"
[model]
kind = "deepwalk"
embedding_dim = 16
[walk]
walks_per_node = 1
length = 10
[train]
epochs = 2
"#,
    },
    Case {
        name: "gatne",
        graph: "multiplex",
        toml: r#"task = "embedding"
output = "run"
[data]
builtin = "planted"
node_type = "node"
relations = ["r0", "r1", "r2"]
[model]
kind = "gatne"
embedding_dim = 16
[walk]
walks_per_node = 1
length = 6
[train]
epochs = 2
batch_size = 32
"#,
    },
    Case {
        name: "rgcn",
        graph: "acm",
        toml: r#"output = "run"
[data]
builtin = "planted"
node_type = "paper"
label = "label"
features = "feat"
train_set = "train_20"
val_set = "val_20"
test_set = "test_20"
relations = ["written_by", "writes", "has_subject", "subject_of"]
inputs = { subject = { embedding = 8 } }
[model]
kind = "rgcn"
hidden = [16]
[train]
fanouts = [4, 4]
batch_size = 32
epochs = 2
lr = 0.01
"#,
    },
    Case {
        name: "hetero-sage",
        graph: "acm",
        toml: r#"output = "run"
[data]
builtin = "planted"
node_type = "paper"
label = "label"
features = "feat"
train_set = "train_20"
val_set = "val_20"
test_set = "test_20"
relations = ["written_by", "writes", "has_subject", "subject_of"]
inputs = { subject = { embedding = 8 } }
[model]
kind = "hetero_sage"
hidden = [16]
[train]
fanouts = [4, 4]
batch_size = 32
epochs = 2
lr = 0.01
"#,
    },
    Case {
        name: "han",
        graph: "acm",
        toml: r#"output = "run"
[data]
builtin = "planted"
node_type = "paper"
label = "label"
features = "feat"
train_set = "train_20"
val_set = "val_20"
test_set = "test_20"
metapaths = [["written_by", "writes"], ["has_subject", "subject_of"]]
[model]
kind = "han"
hidden = [16]
heads = 2
[train]
fanouts = [4]
batch_size = 32
epochs = 2
lr = 0.01
"#,
    },
];

fn graph(name: &str) -> Graph {
    use ferrograph_graph::progress::NoProgress;
    match name {
        "planted" => ferrograph_io::generate::Planted { nodes: 1_500, classes: 4, feature_dim: 8, ..Default::default() }.graph().unwrap(),
        "multiplex" => {
            ferrograph_io::generate::Multiplex { nodes: 300, relations: 3, communities: 5, avg_degree: 6.0, p_in: 0.9, seed: 1 }.graph().unwrap()
        }
        "lastfm" => ferrograph_io::import_file(&repo().join("configs/lastfm.toml"), &NoProgress).unwrap(),
        "acm" => ferrograph_io::import_file(&repo().join("configs/acm.toml"), &NoProgress).unwrap(),
        other => panic!("{other}"),
    }
}

#[test]
fn every_field_changes_the_run_or_is_refused_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let mut graphs: std::collections::BTreeMap<&str, Graph> = Default::default();
    let mut report = Vec::new();
    for case in CASES {
        let g = graphs.entry(case.graph).or_insert_with(|| graph(case.graph));
        let dir = d.path().join(case.name);
        std::fs::create_dir_all(&dir).unwrap();
        let base_table: toml::Table = toml::from_str(case.toml).unwrap();
        let base = run(&dir, "base", case.toml, g).unwrap_or_else(|e| panic!("{}: the base config fails: {e}", case.name));
        let again = run(&dir, "base", case.toml, g).unwrap();
        assert_eq!(base, again, "{}: the base run is not deterministic", case.name);
        let cfg = TrainConfig::parse(case.toml, &dir.join("base.toml")).unwrap();
        let ok = accepted(&cfg);
        let (mut changed, mut refused_value, mut refused_field) = (0, 0, 0);
        for &field in ALL {
            if STRUCTURAL.contains(&field) {
                continue;
            }
            let mut t = base_table.clone();
            set(&mut t, field, alternative(field, &base_table));
            let text = toml::to_string(&t).unwrap();
            let got = run(&dir, "alt", &text, g);
            if ok.contains(&field) {
                match got {
                    Ok(obs) => {
                        assert_ne!(
                            obs,
                            base,
                            "{}: `{field}` is accepted but another value ({}) changes nothing",
                            case.name,
                            alternative(field, &base_table)
                        );
                        changed += 1;
                    }
                    Err(e) => {
                        // Either the value is refused, naming the field, or it
                        // switches off another field the base sets, which is then
                        // refused as unread (e.g. `train.mode = "ego"` with a
                        // history cache): both show the field is read.
                        assert!(
                            e.contains(field) || e.contains("is not read by task"),
                            "{}: `{field}` = {}: the error does not name the field: {e}",
                            case.name,
                            alternative(field, &base_table)
                        );
                        refused_value += 1;
                    }
                }
            } else {
                let e = got.err().unwrap_or_else(|| panic!("{}: `{field}` is not read, yet a config setting it trained", case.name));
                assert!(e.contains(field), "{}: refused `{field}` without naming it: {e}", case.name);
                assert!(e.contains("is not read by task"), "{}: `{field}`: {e}", case.name);
                refused_field += 1;
            }
        }
        report.push(format!("{}: {changed} fields change the run, {refused_value} refuse a bad value, {refused_field} refused as unread", case.name));
    }
    eprintln!("{}", report.join("\n"));
}
