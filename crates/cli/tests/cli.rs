//! The `ferrograph` binary end to end: import, info --json, verify,
//! generate, quickstart, and refusal of damaged snapshots.

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
    String::from_utf8(o.stdout).unwrap()
}

fn info(dir: &Path) -> Value {
    serde_json::from_str(&ok(&["info", dir.to_str().unwrap(), "--json"])).unwrap()
}

fn import(config: &str, out: &Path) -> Value {
    ok(&["import", repo().join("configs").join(config).to_str().unwrap(), "--out", out.to_str().unwrap()]);
    info(out)
}

fn attr<'a>(node_type: &'a Value, name: &str) -> &'a Value {
    node_type["attributes"].as_array().unwrap().iter().find(|a| a["name"] == name).unwrap_or_else(|| panic!("no attribute {name}"))
}

#[test]
fn cora_info_json_reports_nodes_edges_features_and_classes() {
    let d = tempfile::tempdir().unwrap();
    for config in ["cora-csv.toml", "cora-graphlearn.toml"] {
        let out = d.path().join(config);
        let j = import(config, &out);
        let paper = &j["node_types"][0];
        assert_eq!(paper["name"], "paper");
        assert_eq!(paper["count"], 2708, "{config}");
        assert_eq!(attr(paper, "feat")["dim"], 1433, "{config}");
        assert_eq!(attr(paper, "label")["distinct"], 7, "{config}");
        let cites = &j["edge_types"][0];
        assert_eq!((cites["name"].as_str(), cites["src"].as_str(), cites["dst"].as_str()), (Some("cites"), Some("paper"), Some("paper")));
        assert_eq!(cites["count"], 10_556, "{config}");
        assert!(cites["out_degree"]["p99"].as_u64().unwrap() >= cites["out_degree"]["p50"].as_u64().unwrap());
        assert!(j["bytes_on_disk"].as_u64().unwrap() > 2708 * 1433 * 4);
        let v = ok(&["verify", out.to_str().unwrap()]);
        assert!(v.starts_with("ok:"), "{v}");
    }
}

#[test]
fn acm_and_gowalla_counts_through_the_cli() {
    let d = tempfile::tempdir().unwrap();
    let j = import("acm.toml", &d.path().join("acm"));
    let counts: Vec<(String, u64)> =
        j["node_types"].as_array().unwrap().iter().map(|t| (t["name"].as_str().unwrap().to_string(), t["count"].as_u64().unwrap())).collect();
    assert_eq!(counts, [("paper".to_string(), 4019), ("author".into(), 7167), ("subject".into(), 60)]);
    let edges: Vec<u64> = j["edge_types"].as_array().unwrap().iter().map(|e| e["count"].as_u64().unwrap()).collect();
    assert_eq!(edges, [13_407, 4019]);
    assert_eq!(j["edge_types"][0]["reverse"], "writes");
    let g = import("gowalla.toml", &d.path().join("gowalla"));
    assert_eq!((g["node_types"][0]["count"].as_u64(), g["node_types"][1]["count"].as_u64()), (Some(29_858), Some(40_981)));
    assert_eq!(g["edge_types"][0]["count"], 810_128);
}

#[test]
fn generate_rmat_and_planted_then_verify() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("rmat");
    let stdout = ok(&["generate", "rmat", "--nodes", "4096", "--edges", "40000", "--seed", "3", "--out", out.to_str().unwrap()]);
    assert!(stdout.contains("\"edges\":40000"), "{stdout}");
    let j = info(&out);
    assert_eq!(j["edge_types"][0]["count"], 40_000);
    assert_eq!(j["node_types"][0]["count"], 4096);
    ok(&["verify", out.to_str().unwrap()]);
    // Same seed, same graph, whatever the thread count.
    let again = d.path().join("rmat1");
    ok(&["--threads", "1", "generate", "rmat", "--nodes", "4096", "--edges", "40000", "--seed", "3", "--out", again.to_str().unwrap()]);
    for f in ["edges/0/out.dst.u32", "edges/0/in.src.u32"] {
        assert_eq!(std::fs::read(out.join(f)).unwrap(), std::fs::read(again.join(f)).unwrap(), "{f}");
    }
    let p = d.path().join("planted");
    ok(&["generate", "planted", "--nodes", "3000", "--out", p.to_str().unwrap()]);
    let j = info(&p);
    assert_eq!(attr(&j["node_types"][0], "label")["distinct"], 8);
    assert_eq!(j["edge_types"][0]["undirected"], true);
    let sets: Vec<&str> = j["node_types"][0]["sets"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(sets, ["train", "val", "test"]);
}

#[test]
fn quickstart_runs_from_nothing() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("qs");
    let s = ok(&["quickstart", "--out", out.to_str().unwrap()]);
    assert!(s.contains("20,000 nodes") && s.contains("quickstart:"), "{s}");
    // The documented accuracy (README: at least 0.90) and every output.
    let run = out.join("train");
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let acc = summary["test"]["accuracy"].as_f64().unwrap();
    assert!(acc >= 0.90, "quickstart test accuracy {acc}");
    for f in ["report.md", "curves.png", "metrics.jsonl", "embeddings.npy", "embeddings.parquet", "best.ckpt", "last.ckpt"] {
        assert!(run.join(f).is_file(), "missing {f}");
    }
    let png = std::fs::read(run.join("curves.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // Embeddings: 20,000 rows of the hidden width 64.
    let npy = std::fs::read(run.join("embeddings.npy")).unwrap();
    let header = String::from_utf8_lossy(&npy[..128]);
    assert!(header.contains("(20000, 64)"), "{header}");
}

#[test]
fn damaged_snapshots_are_refused_naming_the_file() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("cora");
    import("cora-csv.toml", &out);
    let feat = out.join("nodes/0/a2.f32");
    let mut bytes = std::fs::read(&feat).unwrap();
    bytes[1000] ^= 1;
    std::fs::write(&feat, &bytes).unwrap();
    let o = ferrograph(&["verify", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("nodes/0/a2.f32") && err.contains("checksum mismatch"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one-line cause: {err}");
    bytes.truncate(bytes.len() - 8);
    std::fs::write(&feat, &bytes).unwrap();
    let o = ferrograph(&["bench", "open", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("nodes/0/a2.f32") && err.contains("truncated"), "{err}");
    let o = ferrograph(&["info", d.path().join("missing").to_str().unwrap()]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("missing"));
}

#[test]
fn absurd_thread_counts_are_refused_before_any_pool_starts() {
    for (args, want) in [
        (vec!["--threads", "1000000", "info", "x"], "1000000 threads: at most "),
        (vec!["--threads", "0", "info", "x"], "0 threads: at least one"),
        (vec!["bench", "sample", "--thread-counts", "1,99999999"], "99999999 threads: at most "),
    ] {
        let t0 = std::time::Instant::now();
        let o = ferrograph(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: expected `{want}` in: {err}");
        assert!(t0.elapsed().as_secs() < 10, "{args:?} took {:?}", t0.elapsed());
    }
}

#[test]
fn import_refuses_to_overwrite_without_force() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("g");
    import("snap-ca-grqc.toml", &out);
    let manifest = std::fs::read(out.join("manifest.json")).unwrap();
    let cfg = repo().join("configs/snap-email-eu-core.toml");
    let o = ferrograph(&["import", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
    assert_eq!(std::fs::read(out.join("manifest.json")).unwrap(), manifest, "existing snapshot untouched");
    ok(&["import", cfg.to_str().unwrap(), "--out", out.to_str().unwrap(), "--force"]);
    assert_eq!(info(&out)["node_types"][0]["count"], 1005);
}

#[test]
fn sample_runs_a_query_and_reports_bad_ones_by_column() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("cora");
    import("cora-graphlearn.toml", &out);
    let q = r#"g.V("paper", "train").batch(8).alias("seed").outV("cites").sample(4).by("random").alias("hop1").values()"#;
    let j: Value = serde_json::from_str(&ok(&["sample", out.to_str().unwrap(), q, "--seed", "5", "--json"])).unwrap();
    assert_eq!(j["aliases"][0]["ids"].as_array().unwrap().len(), 8);
    assert_eq!(j["aliases"][1]["ids"].as_array().unwrap().len(), 32, "train papers all have out-edges, 4 draws each");
    let again: Value = serde_json::from_str(&ok(&["sample", out.to_str().unwrap(), q, "--seed", "5", "--json"])).unwrap();
    assert_eq!(j, again, "deterministic for a seed");
    let o = ferrograph(&["sample", out.to_str().unwrap(), r#"g.V("paper").outV("cite").sample(2).by("random")"#]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("column 19") && err.contains("did you mean `cites`?"), "{err}");
}
