//! A corpus of malformed inputs, one per kind of mistake: each must make
//! `ferrograph import` exit non-zero with a one-line message naming the file
//! and the line/column (or config field), and leave no snapshot behind.

use std::path::Path;
use std::process::Command;

struct Case {
    name: &'static str,
    files: Vec<(&'static str, Vec<u8>)>,
    config: &'static str,
    /// Every one of these must appear in the error message.
    expect: Vec<&'static str>,
}

fn case(name: &'static str, files: &[(&'static str, &[u8])], config: &'static str, expect: &[&'static str]) -> Case {
    Case { name, files: files.iter().map(|(n, c)| (*n, c.to_vec())).collect(), config, expect: expect.to_vec() }
}

const PAPERS: &str = r#"
[[nodes]]
type = "paper"
file = "nodes.csv"
columns = [{ name = "label", type = "int" }]
[[edges]]
src_type = "paper"
relation = "cites"
dst_type = "paper"
file = "edges.csv"
"#;

const GL: &str = r#"
[[nodes]]
type = "paper"
file = "node_table"
format = "graphlearn"
attributes = { column = "feature", fields = [{ name = "feat", type = "float_vector", dim = 3 }] }
[[edges]]
src_type = "paper"
relation = "cites"
dst_type = "paper"
file = "edge_table"
format = "graphlearn"
"#;

const WITH_FEATURES: &str = r#"
[[nodes]]
type = "paper"
file = "nodes.csv"
features = [{ name = "x", file = "x.npy" }]
[[edges]]
src_type = "paper"
relation = "cites"
dst_type = "paper"
file = "edges.csv"
"#;

const NODES: &[u8] = b"id,label\n1,0\n2,1\n3,0\n";
const GL_NODES: &[u8] = b"id:int64\tlabel:int64\tfeature:string\n1\t0\t0.1:0.2:0.3\n2\t1\t0.4:0.5:0.6\n";
const GL_EDGES: &[u8] = b"src_id: int64\tdst_id: int64\tweight: double\n1\t2\t1.0\n";

fn npy_f32(rows: usize, cols: usize) -> Vec<u8> {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("x.npy");
    ferrograph_io_npy(&p, rows, cols);
    std::fs::read(p).unwrap()
}

fn ferrograph_io_npy(p: &Path, rows: usize, cols: usize) {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    b.extend(std::iter::repeat_n(0u8, rows * cols * 4));
    std::fs::write(p, b).unwrap();
}

fn corpus() -> Vec<Case> {
    let good_npy = npy_f32(3, 2);
    let short_npy = npy_f32(2, 2);
    let mut truncated = npy_f32(3, 2);
    truncated.truncate(truncated.len() - 3);
    vec![
        case(
            "graph-learn edge to an unknown node",
            &[("node_table", GL_NODES), ("edge_table", b"src_id: int64\tdst_id: int64\tweight: double\n1\t2\t1.0\n1\t5\t1.0\n")],
            GL,
            &["edge_table:3", "column `dst_id`", "node id 5 is not a `paper` node"],
        ),
        case(
            "line without a delimiter",
            &[("nodes.csv", NODES), ("edges.csv", b"src,dst\n1,2\n3\n")],
            PAPERS,
            &["edges.csv:3", "expected 2 fields, found 1"],
        ),
        case("extra column", &[("nodes.csv", NODES), ("edges.csv", b"src,dst\n1,2,9\n")], PAPERS, &["edges.csv:2", "expected 2 fields, found 3"]),
        case(
            "unparsable integer",
            &[("nodes.csv", NODES), ("edges.csv", b"src,dst\n1,2\nx1,3\n")],
            PAPERS,
            &["edges.csv:3", "column `src`", "`x1` is not an integer"],
        ),
        case(
            "integer overflow",
            &[("nodes.csv", b"id,label\n1,99999999999999999999\n"), ("edges.csv", b"src,dst\n1,1\n")],
            PAPERS,
            &["nodes.csv:2", "column `label`", "not an integer"],
        ),
        case(
            "unparsable float",
            &[("node_table", b"id:int64\tlabel:int64\tfeature:string\n1\t0\t0.1:abc:0.3\n"), ("edge_table", GL_EDGES)],
            GL,
            &["node_table:2", "column `feature`", "`abc` is not a float"],
        ),
        case(
            "duplicate node id",
            &[("nodes.csv", b"id,label\n1,0\n2,0\n1,1\n"), ("edges.csv", b"src,dst\n1,2\n")],
            PAPERS,
            &["nodes.csv:4", "duplicate node id 1", "line 2"],
        ),
        case(
            "unknown edge endpoint",
            &[("nodes.csv", NODES), ("edges.csv", b"src,dst\n1,2\n2,99\n")],
            PAPERS,
            &["edges.csv:3", "column `dst`", "node id 99 is not a `paper` node"],
        ),
        case(
            "header type mismatch",
            &[("node_table", b"id:string\tlabel:int64\tfeature:string\n1\t0\t0.1:0.2:0.3\n"), ("edge_table", GL_EDGES)],
            GL,
            &["node_table:1", "column `id`", "header declares `id:string` but the config reads it as an integer"],
        ),
        case(
            "header without types",
            &[("node_table", b"id\tlabel\tfeature\n1\t0\t0.1:0.2:0.3\n"), ("edge_table", GL_EDGES)],
            GL,
            &["node_table:1", "has no type"],
        ),
        case(
            "unknown header type",
            &[("node_table", b"id:int64\tlabel:decimal\tfeature:string\n"), ("edge_table", GL_EDGES)],
            GL,
            &["node_table:1", "column `label`", "unknown header type `decimal`"],
        ),
        case(
            "attribute count",
            &[("node_table", b"id:int64\tlabel:int64\tfeature:string\n1\t0\t0.1:0.2\n"), ("edge_table", GL_EDGES)],
            GL,
            &["node_table:2", "column `feature`", "expected 3 values"],
        ),
        case("empty file", &[("nodes.csv", b""), ("edges.csv", b"src,dst\n1,2\n")], PAPERS, &["nodes.csv", "the file is empty"]),
        case("missing file", &[("nodes.csv", NODES)], PAPERS, &["edges.csv", "No such file"]),
        case(
            "missing column",
            &[("nodes.csv", NODES), ("edges.csv", b"source,dst\n1,2\n")],
            PAPERS,
            &["edges.csv:1", "column `src`", "no such column"],
        ),
        case(
            "invalid UTF-8",
            &[("nodes.csv", b"id,label,name\n1,0,\xff\xfe\n"), ("edges.csv", b"src,dst\n1,1\n")],
            r#"
[[nodes]]
type = "paper"
file = "nodes.csv"
columns = [{ name = "name", type = "string" }]
[[edges]]
src_type = "paper"
relation = "cites"
dst_type = "paper"
file = "edges.csv"
"#,
            &["nodes.csv:2", "column `name`", "not valid UTF-8"],
        ),
        case(
            "bad gzip",
            &[("g.txt.gz", b"\x1f\x8b\x08\x00garbage")],
            r#"
[[nodes]]
type = "n"
[[edges]]
src_type = "n"
relation = "e"
dst_type = "n"
file = "g.txt.gz"
create_nodes = true
"#,
            &["g.txt.gz", "bad gzip data"],
        ),
        case(
            "not a parquet file",
            &[("n.parquet", b"PAR1 this is not parquet")],
            r#"
[[nodes]]
type = "n"
file = "n.parquet"
"#,
            &["n.parquet", "not a readable Parquet file"],
        ),
        case(
            "feature rows mismatch",
            &[("nodes.csv", NODES), ("edges.csv", b"src,dst\n1,2\n"), ("x.npy", &short_npy)],
            WITH_FEATURES,
            &["x.npy", "has 2 rows but node type `paper` has 3"],
        ),
        case(
            "truncated npy",
            &[("nodes.csv", NODES), ("edges.csv", b"src,dst\n1,2\n"), ("x.npy", &truncated)],
            WITH_FEATURES,
            &["x.npy", "truncated"],
        ),
        case(
            "not an npy file",
            &[("nodes.csv", NODES), ("edges.csv", b"src,dst\n1,2\n"), ("x.npy", b"hello, world")],
            WITH_FEATURES,
            &["x.npy", "bad magic"],
        ),
        case(
            "unknown id in a node set",
            &[("nodes.csv", NODES), ("edges.csv", b"src,dst\n1,2\n"), ("train.csv", b"id\n1\n42\n")],
            r#"
[[nodes]]
type = "paper"
file = "nodes.csv"
[[edges]]
src_type = "paper"
relation = "cites"
dst_type = "paper"
file = "edges.csv"
[[node_sets]]
type = "paper"
name = "train"
file = "train.csv"
"#,
            &["train.csv:3", "node id 42 is not a `paper` node"],
        ),
        case(
            "unknown node type in config",
            &[("nodes.csv", NODES), ("edges.csv", b"src,dst\n1,2\n")],
            r#"
[[nodes]]
type = "paper"
file = "nodes.csv"
[[edges]]
src_type = "papers"
relation = "cites"
dst_type = "paper"
file = "edges.csv"
"#,
            &["import.toml", "edges[0].src_type", "did you mean `paper`?"],
        ),
        case("unknown config field", &[], "[[nodes]]\ntype = \"paper\"\nfiel = \"nodes.csv\"\n", &["import.toml:3:1", "unknown field `fiel`"]),
        case("TOML syntax error", &[], "[[nodes]\ntype = \"paper\"\n", &["import.toml:1:"]),
        case(
            "undirected across types",
            &[("nodes.csv", NODES), ("edges.csv", b"src,dst\n1,2\n")],
            r#"
[[nodes]]
type = "paper"
file = "nodes.csv"
[[nodes]]
type = "author"
count = 3
[[edges]]
src_type = "paper"
relation = "by"
dst_type = "author"
file = "edges.csv"
undirected = true
"#,
            &["import.toml", "edges[0].undirected"],
        ),
        case("node type without nodes", &[], "[[nodes]]\ntype = \"lonely\"\n", &["import.toml", "nodes[0]", "has no nodes"]),
        case(
            "float vector without dim",
            &[("nodes.csv", NODES)],
            r#"
[[nodes]]
type = "paper"
file = "nodes.csv"
columns = [{ name = "label", type = "float_vector" }]
"#,
            &["import.toml", "nodes[0].columns[0].dim"],
        ),
        case(
            "negative id in a count-declared type",
            &[("e.csv", b"src,dst\n0,1\n-1,2\n")],
            r#"
[[nodes]]
type = "n"
count = 3
[[edges]]
src_type = "n"
relation = "e"
dst_type = "n"
file = "e.csv"
"#,
            &["e.csv:3", "column `src`", "node id -1 is not a `n` node"],
        ),
        case(
            "valid npy of the wrong kind for edges",
            &[("e.npy", &good_npy)],
            r#"
[[nodes]]
type = "n"
count = 3
[[edges]]
src_type = "n"
relation = "e"
dst_type = "n"
file = "e.npy"
"#,
            &["e.npy", "must be an integer array"],
        ),
    ]
}

#[test]
fn every_malformed_input_fails_cleanly_with_its_place_named() {
    let cases = corpus();
    assert!(cases.len() >= 20, "the corpus holds {} cases", cases.len());
    for c in cases {
        let d = tempfile::tempdir().unwrap();
        for (name, content) in &c.files {
            std::fs::write(d.path().join(name), content).unwrap();
        }
        let cfg = d.path().join("import.toml");
        std::fs::write(&cfg, c.config).unwrap();
        let out = d.path().join("snap");
        let o = Command::new(env!("CARGO_BIN_EXE_ferrograph")).arg("import").arg(&cfg).arg("--out").arg(&out).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{}: exit status {:?}, stderr: {err}", c.name, o.status);
        assert!(!err.contains("panicked"), "{}: panicked: {err}", c.name);
        assert_eq!(err.trim_end().lines().count(), 1, "{}: one-line message expected, got: {err}", c.name);
        assert!(err.starts_with("error: "), "{}: {err}", c.name);
        for e in &c.expect {
            assert!(err.contains(e), "{}: expected `{e}` in: {err}", c.name);
        }
        assert!(!out.exists(), "{}: a snapshot was left behind", c.name);
        let hidden: Vec<_> =
            std::fs::read_dir(d.path()).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().starts_with('.')).collect();
        assert!(hidden.is_empty(), "{}: temporary files left: {hidden:?}", c.name);
    }
}
