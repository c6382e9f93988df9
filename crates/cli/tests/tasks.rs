//! `ferrograph train` for link prediction, recommendation and embedding
//! (the shipped configs, end to end through the binary), `ferrograph
//! embed` for them, `ferrograph recommend`, and their config errors.

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

/// A copy of `configs/train/NAME.toml` in `dir` with `../../out/X` paths
/// pointing into `dir/X` and `../X.toml` imports made absolute.
fn config(name: &str, dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("configs/train").join(format!("{name}.toml"))).unwrap();
    let mut text = text.replace("\"../../out/", &format!("\"{}/", dir.display()));
    for imp in ["lastfm", "gowalla", "snap-ca-grqc"] {
        text = text.replace(&format!("\"../{imp}.toml\""), &format!("{:?}", repo().join(format!("configs/{imp}.toml"))));
    }
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, edit(text)).unwrap();
    path
}

fn summary(run: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap()
}

fn metric(s: &Value, part: &str, name: &str) -> f64 {
    s[part][name].as_f64().unwrap_or_else(|| panic!("{part}.{name} missing in {s}"))
}

/// ca-GrQc imported and split (10% test, 5% validation) into `dir`.
fn grqc_split(dir: &Path) {
    let snap = dir.join("grqc");
    ok(&["import", repo().join("configs/snap-ca-grqc.toml").to_str().unwrap(), "--out", snap.to_str().unwrap()]);
    let train = dir.join("grqc-train");
    ok(&[
        "split-edges",
        snap.to_str().unwrap(),
        "--relation",
        "edge",
        "--test",
        "0.1",
        "--val",
        "0.05",
        "--seed",
        "0",
        "--out",
        train.to_str().unwrap(),
    ]);
}

#[test]
fn link_prediction_and_embedding_tasks_on_held_out_grqc_edges() {
    let d = tempfile::tempdir().unwrap();
    grqc_split(d.path());
    // Unsupervised GraphSAGE, edge by edge; the kept epoch is the best validation AUC.
    let cfg = config("grqc-linkpred-sage", d.path(), |t| t);
    let out = ok(&["train", cfg.to_str().unwrap()]);
    assert!(out.contains("test: auc"), "{out}");
    let run = d.path().join("grqc-linkpred-sage");
    let s = summary(&run);
    assert_eq!(s["task"], "link_prediction");
    let auc = metric(&s, "test", "auc");
    assert!(auc >= 0.85, "GraphSAGE link prediction test AUC {auc}");
    assert!(metric(&s, "test", "hits@10") <= metric(&s, "test", "hits@50"));
    for f in ["best.ckpt", "embeddings.npy", "embeddings.parquet", "report.md", "curves.png", "metrics.jsonl"] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let lines = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 3, "one record per epoch");
    // `embed` reloads the model and reproduces the embeddings exactly.
    let emb = d.path().join("again");
    ok(&["embed", cfg.to_str().unwrap(), "--out", emb.to_str().unwrap()]);
    assert_eq!(std::fs::read(emb.with_extension("npy")).unwrap(), std::fs::read(run.join("embeddings.npy")).unwrap());

    // Cosine scores with BPR and two in-degree negatives: still a working model.
    let cfg = config("grqc-linkpred-sage", d.path(), |t| {
        t.replace("negatives = 1", "negatives = 2")
            .replace("negative = \"random\"", "negative = \"in_degree\"")
            .replace("score = \"dot\"", "score = \"cosine\"")
            .replace("loss = \"bce\"", "loss = \"bpr\"")
            .replace("grqc-linkpred-sage\"", "grqc-linkpred-cosine\"")
    });
    ok(&["train", cfg.to_str().unwrap()]);
    let s = summary(&d.path().join("grqc-linkpred-cosine"));
    // Evaluation uses dot products of the embeddings; cosine training still ranks edges above non-edges.
    assert!(metric(&s, "test", "auc") >= 0.75, "{s}");

    // node2vec embeddings of the same training graph.
    let cfg = config("grqc-node2vec", d.path(), |t| t);
    ok(&["train", cfg.to_str().unwrap()]);
    let s = summary(&d.path().join("grqc-node2vec"));
    assert_eq!(s["model"], "node2vec");
    let auc = metric(&s, "test", "auc");
    assert!(auc >= 0.85, "node2vec test AUC {auc}");
}

#[test]
fn recommendation_task_and_recommend_command_on_lastfm() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config("lastfm-lightgcn", d.path(), |t| t.replace("epochs = 30", "epochs = 15").replace("every = 10", "every = 5"));
    let out = ok(&["train", cfg.to_str().unwrap()]);
    assert!(out.contains("baseline: popularity"), "{out}");
    let run = d.path().join("lastfm-lightgcn");
    let s = summary(&run);
    let (recall, ndcg) = (metric(&s, "test", "recall@20"), metric(&s, "test", "ndcg@20"));
    let (pop_recall, pop_ndcg) = (metric(&s, "baseline", "popularity recall@20"), metric(&s, "baseline", "popularity ndcg@20"));
    assert!(recall >= pop_recall + 0.05 && ndcg >= pop_ndcg + 0.05, "LightGCN {recall}/{ndcg} vs popularity {pop_recall}/{pop_ndcg}");
    let lines: Vec<Value> = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 15);
    assert_eq!(lines.iter().filter(|l| l["test"]["recall@20"].is_number()).count(), 3, "evaluated at epochs 5, 10, 15");

    // Serve it: top items for a user, none of them already in the user's training items.
    let snap = d.path().join("lastfm");
    ok(&["import", repo().join("configs/lastfm.toml").to_str().unwrap(), "--out", snap.to_str().unwrap()]);
    let json = ok(&["recommend", snap.to_str().unwrap(), "--model", run.to_str().unwrap(), "--user", "3", "-k", "10", "--json"]);
    let v: Value = serde_json::from_str(&json).unwrap();
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 10);
    let scores: Vec<f64> = items.iter().map(|i| i["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "sorted by score: {scores:?}");
    let train_csv = std::fs::read_to_string(repo().join("../shared/data/lastfm/train.csv")).unwrap();
    let seen: Vec<&str> = train_csv.lines().skip(1).filter(|l| l.split(',').next() == Some("3")).map(|l| l.split(',').nth(1).unwrap()).collect();
    assert!(!seen.is_empty());
    for i in items {
        assert!(!seen.contains(&i["item"].as_str().unwrap()), "recommended a training item: {i}");
    }
    let bad = ferrograph(&["recommend", snap.to_str().unwrap(), "--model", run.to_str().unwrap(), "--user", "123456"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("user `123456` is not a `user` node"));
    // `embed` exports both sides.
    let emb = d.path().join("rec");
    ok(&["embed", cfg.to_str().unwrap(), "--out", emb.to_str().unwrap()]);
    assert!(d.path().join("rec-users.parquet").is_file() && d.path().join("rec-items.npy").is_file());
}

/// A generated multiplex graph with r0 split (20% test) into `dir`.
fn multiplex_split(dir: &Path) {
    let snap = dir.join("multiplex");
    ok(&["generate", "multiplex", "--nodes", "1000", "--communities", "10", "--seed", "5", "--out", snap.to_str().unwrap()]);
    let train = dir.join("multiplex-train");
    ok(&["split-edges", snap.to_str().unwrap(), "--relation", "r0", "--val", "0.05", "--test", "0.2", "--out", train.to_str().unwrap()]);
}

#[test]
fn gatne_task_on_a_generated_multiplex_graph() {
    let d = tempfile::tempdir().unwrap();
    multiplex_split(d.path());
    let cfg = config("multiplex-gatne", d.path(), |t| t);
    let out = ok(&["train", cfg.to_str().unwrap()]);
    assert!(out.contains("test: auc"), "{out}");
    let run = d.path().join("multiplex-gatne");
    let s = summary(&run);
    assert_eq!(s["model"], "gatne");
    let auc = metric(&s, "test", "auc");
    assert!(auc >= 0.85, "GATNE r0 test AUC {auc}");
    for f in ["embeddings_r0.npy", "embeddings_r1.parquet", "embeddings_r2.npy", "embeddings.npy", "report.md", "metrics.jsonl"] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let emb = d.path().join("again");
    ok(&["embed", cfg.to_str().unwrap(), "--out", emb.to_str().unwrap()]);
    assert_eq!(std::fs::read(emb.with_extension("npy")).unwrap(), std::fs::read(run.join("embeddings.npy")).unwrap());
    // Relation-specific: the r0 and r1 embeddings of a node differ.
    assert_ne!(std::fs::read(run.join("embeddings_r0.npy")).unwrap(), std::fs::read(run.join("embeddings_r1.npy")).unwrap());
    type Edit = Box<dyn Fn(String) -> String>;
    let cases: Vec<(Edit, &str)> = vec![
        (Box::new(|t: String| t.replace("relations = [\"r0\", \"r1\", \"r2\"]", "relations = [\"r0\", \"r9\"]")), "`data.relations`"),
        (Box::new(|t: String| t.replace("relations = [\"r0\", \"r1\", \"r2\"]", "relations = [\"r0\", \"r0\"]")), "listed twice"),
        (Box::new(|t: String| t.replace("relation = \"r0\"", "relation = \"r7\"")), "`data.relation`"),
        (Box::new(|t: String| t.replace("edge_dim = 10", "edge_dim = 0")), "`model.edge_dim`"),
        (Box::new(|t: String| t.replace("length = 10", "length = 1000000000000")), "`walk.length`"),
        (Box::new(|t: String| t.replace("walks_per_node = 10 ", "walks_per_node = 1000000000000 ")), "walks per node for each of 3 relations"),
    ];
    for (edit, want) in cases {
        let cfg = config("multiplex-gatne", d.path(), edit);
        let o = ferrograph(&["train", cfg.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(want), "wanted {want:?}, got {err}");
    }
}

#[test]
fn task_config_errors_name_the_field() {
    let d = tempfile::tempdir().unwrap();
    type Edit = Box<dyn Fn(String) -> String>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "lastfm-lightgcn",
            Box::new(|t: String| t.replace("kind = \"lightgcn\"", "kind = \"gat\"")),
            "`model.kind`: `gat` does not train task `recommendation`",
        ),
        ("lastfm-lightgcn", Box::new(|t: String| t.replace("relation = \"listens\"", "")), "`data.relation`"),
        (
            "lastfm-lightgcn",
            Box::new(|t: String| t.replace("test_relation = \"listens_test\"", "test_relation = \"listen_test\"")),
            "`data.test_relation`",
        ),
        ("lastfm-lightgcn", Box::new(|t: String| t.replace("relation = \"listens\"", "relation = \"trusts\"")), "joins a node type to itself"),
        ("grqc-node2vec", Box::new(|t: String| t.replace("kind = \"node2vec\"", "kind = \"lightgcn\"")), "`model.kind`"),
        ("grqc-node2vec", Box::new(|t: String| t.replace("window = 5", "window = 0")), "`walk`"),
        // Absurd sizes are refused naming the field (a failed allocation
        // used to abort the process; a huge start list used to run on).
        (
            "grqc-node2vec",
            Box::new(|t: String| t.replace("length = 40", "length = 1000000000000")),
            "`walk.length`: 52420 walks of 1000000000000 steps would need 209680000000209680 bytes, more than this process can allocate",
        ),
        (
            "grqc-node2vec",
            Box::new(|t: String| t.replace("walks_per_node = 10", "walks_per_node = 1000000000000")),
            "`walk.walks_per_node`: 5242 nodes × 1000000000000 walks per node is more walks than one run holds",
        ),
        ("grqc-linkpred-sage", Box::new(|t: String| t.replace("negatives = 1", "negatives = 0")), "`link.negatives`"),
        ("grqc-linkpred-sage", Box::new(|t: String| t.replace("loss = \"bce\"", "loss = \"hinge\"")), "unknown variant `hinge`"),
        ("grqc-linkpred-sage", Box::new(|t: String| t.replace("heldout = ", "heldout = \"nowhere\" #")), "`data.heldout`"),
    ];
    grqc_split(d.path());
    for (name, edit, want) in cases {
        let cfg = config(name, d.path(), edit);
        let o = ferrograph(&["train", cfg.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(want), "{name}: wanted {want:?}, got {err}");
    }
}

/// Bipartite GraphSAGE (user and item towers over a learnable input
/// table) on Last.fm beats the popularity baseline under the same protocol.
#[test]
fn bipartite_graphsage_beats_popularity_on_lastfm() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config("lastfm-sage", d.path(), |t| t);
    let out = ok(&["train", cfg.to_str().unwrap()]);
    assert!(out.contains("baseline: popularity"), "{out}");
    let s = summary(&d.path().join("lastfm-sage"));
    let (recall, ndcg) = (metric(&s, "test", "recall@20"), metric(&s, "test", "ndcg@20"));
    let (pop_recall, pop_ndcg) = (metric(&s, "baseline", "popularity recall@20"), metric(&s, "baseline", "popularity ndcg@20"));
    assert!(recall >= pop_recall + 0.05, "bipartite GraphSAGE Recall@20 {recall} vs popularity {pop_recall}");
    assert!(ndcg >= pop_ndcg + 0.03, "bipartite GraphSAGE NDCG@20 {ndcg} vs popularity {pop_ndcg}");
    let lines: Vec<Value> =
        std::fs::read_to_string(d.path().join("lastfm-sage/metrics.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.last().unwrap()["loss"].as_f64().unwrap() < lines[0]["loss"].as_f64().unwrap(), "BPR loss falls");
}
