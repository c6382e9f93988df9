//! Every bundled dataset config imports with the counts published for it
//! (`../shared/data/README.md`). The data live beside the checkout; these
//! tests fail, never skip, when it is missing.

use std::path::PathBuf;

use ferrograph_graph::column::Column;
use ferrograph_graph::progress::NoProgress;
use ferrograph_graph::{Direction, Graph, LocalIdx};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn import(name: &str) -> Graph {
    let data = repo().join("../shared/data");
    assert!(data.join("README.md").exists(), "the shared datasets are missing: expected {}", data.display());
    ferrograph_io::import_file(&repo().join("configs").join(format!("{name}.toml")), &NoProgress).unwrap_or_else(|e| panic!("importing {name}: {e}"))
}

fn count(g: &Graph, ty: &str) -> usize {
    g.node_count(g.schema().node_type(ty).unwrap())
}

fn edges(g: &Graph, rel: &str) -> u64 {
    let (e, _) = g.schema().relation(rel).unwrap();
    g.edges(e).logical_edges(g.schema().edge_types[e.0 as usize].undirected)
}

fn edge_set(g: &Graph) -> Vec<(u32, u32)> {
    let (e, _) = g.schema().relation("cites").unwrap();
    let csr = g.topology(e, Direction::Out);
    (0..csr.rows()).flat_map(|r| csr.neighbors(r).iter().map(move |&c| (r as u32, c))).collect()
}

fn int_column(g: &Graph, ty: &str, name: &str) -> Vec<i64> {
    match g.node_column(g.schema().node_type(ty).unwrap(), name).unwrap() {
        Column::Int(a) => a.as_slice().to_vec(),
        c => panic!("{name} is {:?}", c.kind()),
    }
}

#[test]
fn cora_from_csv_and_from_graphlearn_tables_is_the_same_graph() {
    let csv = import("cora-csv");
    let gl = import("cora-graphlearn");
    for g in [&csv, &gl] {
        assert_eq!(count(g, "paper"), 2708);
        assert_eq!(edges(g, "cites"), 10_556);
        let feat = g.node_column(g.schema().node_type("paper").unwrap(), "feat").unwrap();
        assert_eq!(feat.kind(), ferrograph_graph::AttrKind::FloatVector { dim: 1433 });
        let labels = int_column(g, "paper", "label");
        let mut distinct = labels.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct, (0..7).collect::<Vec<i64>>());
        let t = g.schema().node_type("paper").unwrap();
        assert_eq!(
            [g.node_set(t, "train").unwrap().len(), g.node_set(t, "val").unwrap().len(), g.node_set(t, "test").unwrap().len()],
            [140, 500, 1000]
        );
    }
    // The same edges, labels, splits, and the same feature support (graph-learn's are row-normalised).
    assert_eq!(edge_set(&csv), edge_set(&gl));
    assert_eq!(int_column(&csv, "paper", "label"), int_column(&gl, "paper", "label"));
    let t = csv.schema().node_type("paper").unwrap();
    for s in ["train", "val", "test"] {
        assert_eq!(csv.node_set(t, s).unwrap(), gl.node_set(t, s).unwrap(), "set {s}");
    }
    let (a, b) = (csv.node_column(t, "feat").unwrap(), gl.node_column(t, "feat").unwrap());
    for r in [0usize, 1, 1000, 2707] {
        let (x, y) = (a.vector(r).unwrap(), b.vector(r).unwrap());
        assert!(x.iter().zip(y).all(|(p, q)| (*p > 0.0) == (*q > 0.0)), "row {r}");
        let sum: f32 = y.iter().sum();
        assert!((sum - 1.0).abs() < 1e-3 || sum == 0.0, "graph-learn row {r} sums to {sum}");
    }
    // graph-learn edge tables carry their weight column as the edge weight.
    let (e, _) = gl.schema().relation("cites").unwrap();
    assert!(gl.edge_weights(e).unwrap().iter().all(|&w| w == 1.0));
    // Reverse relation walks in-edges.
    let (e2, d) = gl.schema().relation("cited_by").unwrap();
    assert_eq!((e2, d), (e, Direction::In));
    let v = gl.neighbors(e, Direction::Out, LocalIdx(0))[0];
    assert!(gl.neighbors(e, Direction::In, LocalIdx(v)).contains(&0));
}

#[test]
fn acm_has_three_node_types_and_both_relations() {
    let g = import("acm");
    assert_eq!((count(&g, "paper"), count(&g, "author"), count(&g, "subject")), (4019, 7167, 60));
    assert_eq!(edges(&g, "written_by"), 13_407);
    assert_eq!(edges(&g, "has_subject"), 4019);
    // reverses are walkable: every paper has an author, so authors' in-lists cover 13,407 edges
    let (e, d) = g.schema().relation("writes").unwrap();
    assert_eq!(d, Direction::In);
    assert_eq!(g.topology(e, d).len(), 13_407);
    assert_eq!(g.topology(e, d).rows(), 7167);
    let p = g.schema().node_type("paper").unwrap();
    assert_eq!(g.node_set(p, "train_20").unwrap().len(), 60);
    assert_eq!(g.node_set(p, "test_60").unwrap().len(), 1000);
    assert_eq!(g.node_column(p, "feat").unwrap().kind(), ferrograph_graph::AttrKind::Sparse { dim: 1902 });
    let a = g.schema().node_type("author").unwrap();
    match g.node_column(a, "feat").unwrap() {
        Column::Sparse { values, .. } => assert_eq!(values.len(), 888_869, "a_feat.npz (COO) keeps every non-zero"),
        _ => unreachable!(),
    }
    let mut labels = int_column(&g, "paper", "label");
    labels.sort_unstable();
    labels.dedup();
    assert_eq!(labels, vec![0, 1, 2]);
}

/// ACM with its types erased: types become blocks of one node type, every
/// edge one undirected pair, features and labels land on the right rows.
#[test]
fn acm_with_types_erased_keeps_every_node_edge_feature_and_split() {
    let g = import("acm");
    let h = ferrograph_io::homogeneous::erase_types(&g, "feat", "label").unwrap();
    let t = ferrograph_graph::NodeTypeId(0);
    assert_eq!(h.node_count(t), 4019 + 7167 + 60);
    // 13,407 paper–author and 4,019 paper–subject pairs, both directions.
    assert_eq!(h.edge_stores()[0].out.len(), 2 * (13_407 + 4019));
    // paper 0's authors are nodes 4019 + a, its subject 4019 + 7167 + s.
    let p0: Vec<u32> = h.neighbors(ferrograph_graph::EdgeTypeId(0), Direction::Out, LocalIdx(0)).to_vec();
    let (wb, _) = g.schema().relation("written_by").unwrap();
    let (hs, _) = g.schema().relation("has_subject").unwrap();
    let mut want: Vec<u32> = g.neighbors(wb, Direction::Out, LocalIdx(0)).iter().map(|a| a + 4019).collect();
    want.extend(g.neighbors(hs, Direction::Out, LocalIdx(0)).iter().map(|s| s + 4019 + 7167));
    want.sort_unstable();
    assert_eq!(p0, want);
    let labels = match h.node_column(t, "label").unwrap() {
        Column::Int(a) => a.as_slice().to_vec(),
        _ => unreachable!(),
    };
    assert_eq!(&labels[..4019], int_column(&g, "paper", "label").as_slice());
    assert!(labels[4019..].iter().all(|&l| l == -1));
    let (Column::Vector { dim, data }, Column::Sparse { indptr, indices, values, .. }) =
        (h.node_column(t, "feat").unwrap(), g.node_column(g.schema().node_type("author").unwrap(), "feat").unwrap())
    else {
        unreachable!()
    };
    assert_eq!(*dim, 1902);
    let a = 123usize;
    let row = &data.as_slice()[(4019 + a) * dim..(4020 + a) * dim];
    let mut dense = vec![0f32; 1902];
    for k in indptr.as_slice()[a] as usize..indptr.as_slice()[a + 1] as usize {
        dense[indices.as_slice()[k] as usize] = values.as_slice()[k];
    }
    assert_eq!(row, dense.as_slice());
    assert!(data.as_slice()[(4019 + 7167) * dim..].iter().all(|&x| x == 0.0), "subjects have no features");
    let p = g.schema().node_type("paper").unwrap();
    assert_eq!(h.node_set(t, "test_20").unwrap(), g.node_set(p, "test_20").unwrap());
}

#[test]
fn gowalla_and_lastfm_are_bipartite_user_item_graphs() {
    let g = import("gowalla");
    assert_eq!((count(&g, "user"), count(&g, "item")), (29_858, 40_981));
    assert_eq!(edges(&g, "visits"), 810_128);
    assert_eq!(edges(&g, "visits_test"), 217_242);
    let l = import("lastfm");
    assert_eq!((count(&l, "user"), count(&l, "item")), (1892, 4489));
    assert_eq!((edges(&l, "listens"), edges(&l, "listens_test"), edges(&l, "trusts")), (42_135, 10_533, 25_434));
    let (e, _) = l.schema().relation("listens").unwrap();
    assert!(l.edge_weights(e).unwrap().iter().all(|&w| w > 0.0));
}

#[test]
fn snap_graphs_match_their_published_counts() {
    // (config, nodes, edges as counted by SNAP: undirected pairs once)
    let want = [
        ("snap-ego-facebook", 4039, 88_234),
        ("snap-ca-grqc", 5242, 14_496),
        ("snap-email-eu-core", 1005, 25_571),
        ("snap-soc-slashdot0902", 82_168, 948_464),
        ("snap-ego-twitter", 81_306, 1_342_310),
        ("snap-email-enron", 36_692, 183_831),
        ("snap-cit-hepth", 27_770, 352_807),
        ("twitch-en", 7126, 35_324),
    ];
    for (name, n, m) in want {
        let g = import(name);
        let nodes: usize = g.node_stores().iter().map(|s| s.ids.len()).sum();
        let e = &g.schema().edge_types[0];
        let got = g.edge_stores()[0].logical_edges(e.undirected);
        assert_eq!((nodes, got), (n, m), "{name}");
    }
    let g = import("snap-email-eu-core");
    let mut d = int_column(&g, "person", "department");
    d.sort_unstable();
    d.dedup();
    assert_eq!(d.len(), 42);
}
