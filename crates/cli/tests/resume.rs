//! `--resume` for every task kind through the one run loop: a run stopped
//! abruptly in the middle of its second epoch (`--abort-after-steps`, which
//! exits as a crash would: nothing more is written) and resumed ends with
//! exactly the per-epoch records and the test metrics of an uninterrupted
//! run; resuming after the model's shape changed in the config fails with
//! an error that names what differs. (Node classification with GraphSAGE
//! blocks and ego tensors: `train.rs`.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ferrograph(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrograph")).args(args).output().expect("run ferrograph")
}

fn ok(args: &[&str]) -> String {
    let o = ferrograph(args);
    assert!(o.status.success(), "ferrograph {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `configs/train/NAME.toml` with its data paths pointing into `data` and
/// its output into `out`, `edit` applied.
fn config(name: &str, data: &Path, out: &Path, edit: &dyn Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("configs/train").join(format!("{name}.toml"))).unwrap();
    let mut text = text.replace(&format!("output = \"../../out/{name}\""), &format!("output = {:?}", out.to_str().unwrap()));
    text = text.replace("\"../../out/", &format!("\"{}/", data.display()));
    for imp in ["lastfm", "acm", "snap-ca-grqc"] {
        text = text.replace(&format!("\"../{imp}.toml\""), &format!("{:?}", repo().join(format!("configs/{imp}.toml"))));
    }
    let path = out.with_extension("toml");
    std::fs::write(&path, edit(text)).unwrap();
    path
}

/// Records without their timings (which differ from run to run).
fn records(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            let o = v.as_object_mut().unwrap();
            for k in ["train_seconds", "steps_per_second", "wait_fraction", "eval_seconds", "extra"] {
                o.remove(k);
            }
            v
        })
        .collect()
}

fn summary(run: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap()
}

fn prepare_data(d: &Path) {
    let grqc = d.join("grqc");
    ok(&["import", repo().join("configs/snap-ca-grqc.toml").to_str().unwrap(), "--out", grqc.to_str().unwrap()]);
    let train = d.join("grqc-train");
    ok(&["split-edges", grqc.to_str().unwrap(), "--relation", "edge", "--test", "0.1", "--val", "0.05", "--out", train.to_str().unwrap()]);
    let mp = d.join("multiplex");
    ok(&["generate", "multiplex", "--nodes", "600", "--communities", "10", "--seed", "5", "--out", mp.to_str().unwrap()]);
    let mpt = d.join("multiplex-train");
    ok(&["split-edges", mp.to_str().unwrap(), "--relation", "r0", "--val", "0.05", "--test", "0.2", "--out", mpt.to_str().unwrap()]);
}

/// The keys of `summary.json` (`baseline` only where a task has one), in
/// the order written; documented in `ferrograph_train::record`.
const SUMMARY_KEYS: &[&str] = &[
    "task",
    "model",
    "seed",
    "threads",
    "epochs",
    "best_epoch",
    "selected_by",
    "val",
    "test",
    "baseline",
    "steps",
    "steps_per_second",
    "wait_fraction",
    "phases",
    "seconds",
    "peak_rss_mib",
    "files",
];

/// Keys every `metrics.jsonl` record has.
const RECORD_KEYS: &[&str] = &["epoch", "loss", "steps", "examples", "train_seconds", "steps_per_second", "wait_fraction", "eval_seconds", "val"];

/// One case: a shipped config, edits that make it short, and an edit that
/// changes the model's shape.
struct Case {
    name: &'static str,
    short: &'static dyn Fn(String) -> String,
    reshape: &'static dyn Fn(String) -> String,
}

#[test]
fn every_task_resumes_exactly_and_refuses_a_changed_shape() {
    let d = tempfile::tempdir().unwrap();
    prepare_data(d.path());
    let cases = [
        Case {
            name: "grqc-linkpred-sage",
            short: &|t| t.replace("epochs = 3", "epochs = 2"),
            reshape: &|t| t.replace("hidden = [64]", "hidden = [32]"),
        },
        Case {
            name: "grqc-node2vec",
            short: &|t| t.replace("epochs = 1", "epochs = 2").replace("walks_per_node = 10", "walks_per_node = 4"),
            reshape: &|t| t.replace("embedding_dim = 64", "embedding_dim = 32"),
        },
        Case {
            name: "lastfm-lightgcn",
            short: &|t| t.replace("epochs = 30", "epochs = 2").replace("every = 10", "every = 1"),
            reshape: &|t| t.replace("embedding_dim = 64", "embedding_dim = 32"),
        },
        Case { name: "lastfm-sage", short: &|t| t.replace("epochs = 10", "epochs = 2"), reshape: &|t| t.replace("hidden = [64]", "hidden = [48]") },
        Case { name: "multiplex-gatne", short: &|t| t, reshape: &|t| t.replace("edge_dim = 10", "edge_dim = 6") },
        Case {
            name: "acm-rgcn",
            short: &|t| t.replace("epochs = 200", "epochs = 2").replace("patience = 50\n", ""),
            reshape: &|t| t.replace("hidden = [64]", "hidden = [32]"),
        },
        Case {
            name: "acm-han",
            short: &|t| t.replace("epochs = 200", "epochs = 2").replace("patience = 50\n", ""),
            reshape: &|t| t.replace("hidden = [64]", "hidden = [32]"),
        },
    ];
    for c in cases {
        let a = d.path().join(format!("{}-a", c.name));
        let cfg_a = config(c.name, d.path(), &a, c.short);
        let o = ferrograph(&["train", cfg_a.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{}: {err}", c.name);
        // Progress on every task: a line per epoch (a bar on a terminal).
        assert!(err.contains("epoch   1  loss") && err.contains("epoch   2  loss"), "{}: no progress lines: {err}", c.name);
        // One schema for every task.
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        let s = summary(&a);
        let mut want: Vec<String> = SUMMARY_KEYS.iter().map(|k| k.to_string()).filter(|k| k != "baseline" || s.get("baseline").is_some()).collect();
        want.sort();
        let mut got = keys(&s);
        got.sort();
        assert_eq!(got, want, "{}: summary.json schema", c.name);
        for line in std::fs::read_to_string(a.join("metrics.jsonl")).unwrap().lines() {
            let r: Value = serde_json::from_str(line).unwrap();
            for k in RECORD_KEYS {
                assert!(r.get(k).is_some(), "{}: metrics.jsonl record without `{k}`: {r}", c.name);
            }
        }
        let full = records(&a);
        assert!(full.len() >= 2, "{}: needs two epochs, ran {}", c.name, full.len());
        let first = full[0]["steps"].as_u64().unwrap() as usize;
        let second = full[1]["steps"].as_u64().unwrap() as usize;
        // Mid-epoch 2 (or at its first step when it has one step).
        let stop = first + second.div_ceil(2);

        let b = d.path().join(format!("{}-b", c.name));
        let cfg_b = config(c.name, d.path(), &b, c.short);
        let o = ferrograph(&["train", cfg_b.to_str().unwrap(), "--abort-after-steps", &stop.to_string()]);
        assert!(!o.status.success(), "{}: the aborted run must fail", c.name);
        assert_eq!(records(&b).len(), 1, "{}: one epoch was checkpointed before the stop", c.name);
        assert!(!b.join("summary.json").exists(), "{}: an aborted run writes no summary", c.name);
        ok(&["train", cfg_b.to_str().unwrap(), "--resume"]);
        assert_eq!(records(&b), full, "{}: per-epoch records of the resumed run", c.name);
        let (sa, sb) = (summary(&a), summary(&b));
        for k in ["val", "test", "best_epoch", "epochs", "steps"] {
            assert_eq!(sa[k], sb[k], "{}: summary `{k}`: uninterrupted {} vs resumed {}", c.name, sa[k], sb[k]);
        }
        assert!(sb["test"].as_object().is_some_and(|m| !m.is_empty()), "{}: test metrics missing: {sb}", c.name);

        // The model's shape changed: refused, naming the difference.
        let shipped = std::fs::read_to_string(repo().join("configs/train").join(format!("{}.toml", c.name))).unwrap();
        assert_ne!((c.reshape)((c.short)(shipped.clone())), (c.short)(shipped), "{}: the reshape edit changes nothing", c.name);
        let cfg_c = config(c.name, d.path(), &b, &|t| (c.reshape)((c.short)(t)));
        let o = ferrograph(&["train", cfg_c.to_str().unwrap(), "--resume"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{}: resuming a reshaped model must fail", c.name);
        assert!(err.contains("last.ckpt") && (err.contains("model.") || err.contains("walk.")), "{}: {err}", c.name);
    }
}
