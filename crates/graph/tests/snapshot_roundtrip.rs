//! Property tests: every binary array codec of the snapshot round-trips, the
//! topology builder agrees with a naive model, and damaged snapshots are
//! refused with the file named.

use ferrograph_graph::array::{Array, StringArray};
use ferrograph_graph::column::Column;
use ferrograph_graph::idmap::NodeIds;
use ferrograph_graph::snapshot;
use ferrograph_graph::topology::{BuildOptions, build_topology};
use ferrograph_graph::{AttrSchema, Direction, EdgeStore, EdgeTypeId, EdgeTypeSchema, Graph, NodeStore, NodeTypeId, NodeTypeSchema, Schema};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Spec {
    n_a: usize,
    n_b: usize,
    string_ids: bool,
    ints: Vec<i64>,
    floats: Vec<f32>,
    cats: Vec<u8>,
    dim: usize,
    vecs: Vec<f32>,
    sparse_rows: Vec<Vec<(u8, f32)>>,
    edges: Vec<(usize, usize, f32, i64)>,
    undirected: Vec<(usize, usize)>,
    set: Vec<usize>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (1usize..40, 1usize..30, any::<bool>(), 1usize..5)
        .prop_flat_map(|(n_a, n_b, string_ids, dim)| {
            (
                Just((n_a, n_b, string_ids, dim)),
                prop::collection::vec(any::<i64>(), n_a),
                prop::collection::vec(-1e6f32..1e6, n_a),
                prop::collection::vec(0u8..5, n_a),
                prop::collection::vec(-10f32..10., n_a * dim),
                prop::collection::vec(prop::collection::vec((0u8..50, -5f32..5.), 0..4), n_a),
                prop::collection::vec((0..n_a, 0..n_b, -3f32..3., any::<i64>()), 0..200),
                prop::collection::vec((0..n_a, 0..n_a), 0..100),
                prop::collection::btree_set(0..n_a, 0..n_a),
            )
        })
        .prop_map(|((n_a, n_b, string_ids, dim), ints, floats, cats, vecs, sparse_rows, edges, undirected, set)| Spec {
            n_a,
            n_b,
            string_ids,
            ints,
            floats,
            cats,
            dim,
            vecs,
            sparse_rows,
            edges,
            undirected,
            set: set.into_iter().collect(),
        })
}

fn build(s: &Spec) -> Graph {
    let ids = if s.string_ids {
        let names: Vec<String> = (0..s.n_a).map(|i| format!("node-{}", i * 7919 % 10007)).collect();
        NodeIds::from_strings(StringArray::from_strings(&names)).unwrap()
    } else {
        NodeIds::from_ints((0..s.n_a as i64).map(|i| i * 3 - 50).collect()).unwrap()
    };
    let words = ["a", "bb", "", "dddd", "é"];
    let cat_strs: Vec<&str> = s.cats.iter().map(|&c| words[c as usize]).collect();
    let dict_order: Vec<&str> = {
        let mut v: Vec<&str> = Vec::new();
        for w in &cat_strs {
            if !v.contains(w) {
                v.push(w);
            }
        }
        v
    };
    let codes: Vec<u32> = cat_strs.iter().map(|w| dict_order.iter().position(|d| d == w).unwrap() as u32).collect();
    let mut indptr = vec![0u64];
    let (mut ix, mut vals) = (Vec::new(), Vec::new());
    for row in &s.sparse_rows {
        for &(c, v) in row {
            ix.push(u32::from(c));
            vals.push(v);
        }
        indptr.push(ix.len() as u64);
    }
    let a_cols = vec![
        Column::Int(s.ints.clone().into()),
        Column::Float(s.floats.clone().into()),
        Column::Categorical { codes: codes.into(), dict: StringArray::from_strings(&dict_order) },
        Column::Hashed { buckets: 5, codes: s.cats.iter().map(|&c| u32::from(c)).collect::<Vec<_>>().into() },
        Column::Vector { dim: s.dim, data: s.vecs.clone().into() },
        Column::Sparse { dim: 50, indptr: indptr.into(), indices: ix.into(), values: vals.into() },
    ];
    let a_attrs: Vec<AttrSchema> =
        ["i", "f", "c", "h", "v", "s"].iter().zip(&a_cols).map(|(n, c)| AttrSchema { name: n.to_string(), kind: c.kind() }).collect();
    let (src, dst): (Vec<u32>, Vec<u32>) = s.edges.iter().map(|e| (e.0 as u32, e.1 as u32)).unzip();
    let b1 = build_topology(s.n_a, s.n_b, src, dst, BuildOptions { edge_ids: true, ..Default::default() }).unwrap();
    let order = b1.input_edge.clone().unwrap();
    let w = Column::Float(s.edges.iter().map(|e| e.2).collect::<Vec<_>>().into()).permute(&order);
    let t = Column::Int(s.edges.iter().map(|e| e.3).collect::<Vec<_>>().into()).permute(&order);
    let (us, ud): (Vec<u32>, Vec<u32>) = s.undirected.iter().map(|e| (e.0 as u32, e.1 as u32)).unzip();
    let b2 = build_topology(s.n_a, s.n_a, us, ud, BuildOptions { undirected: true, dedup: true, edge_ids: false }).unwrap();
    let schema = Schema {
        node_types: vec![
            NodeTypeSchema { name: "a".into(), id_kind: ids.kind(), attributes: a_attrs, sets: vec!["train".into()] },
            NodeTypeSchema { name: "b".into(), id_kind: ferrograph_graph::IdKind::Dense, attributes: vec![], sets: vec![] },
        ],
        edge_types: vec![
            EdgeTypeSchema {
                relation: "r".into(),
                src: "a".into(),
                dst: "b".into(),
                reverse: "rev_r".into(),
                undirected: false,
                attributes: vec![
                    AttrSchema { name: "weight".into(), kind: ferrograph_graph::AttrKind::Float },
                    AttrSchema { name: "timestamp".into(), kind: ferrograph_graph::AttrKind::Int },
                ],
            },
            EdgeTypeSchema { relation: "u".into(), src: "a".into(), dst: "a".into(), reverse: "u".into(), undirected: true, attributes: vec![] },
        ],
    };
    let nodes = vec![
        NodeStore { ids, columns: a_cols, sets: vec![s.set.iter().map(|&x| x as u32).collect::<Vec<_>>().into()] },
        NodeStore { ids: NodeIds::Dense(s.n_b as u32), columns: vec![], sets: vec![] },
    ];
    let edges = vec![
        EdgeStore { out: b1.out, inn: b1.inn, columns: vec![w, t], self_loops: b1.self_loops },
        EdgeStore { out: b2.out, inn: None, columns: vec![], self_loops: b2.self_loops },
    ];
    Graph::from_parts(schema, nodes, edges).unwrap()
}

fn bytes_of_column(c: &Column) -> Vec<Vec<u8>> {
    match c {
        Column::Int(a) => vec![a.as_bytes().to_vec()],
        Column::Float(a) => vec![a.as_bytes().to_vec()],
        Column::Categorical { codes, dict } => vec![codes.as_bytes().to_vec(), dict.offsets.as_bytes().to_vec(), dict.bytes.as_bytes().to_vec()],
        Column::Hashed { codes, .. } => vec![codes.as_bytes().to_vec()],
        Column::Vector { data, .. } => vec![data.as_bytes().to_vec()],
        Column::Sparse { indptr, indices, values, .. } => vec![indptr.as_bytes().to_vec(), indices.as_bytes().to_vec(), values.as_bytes().to_vec()],
    }
}

fn assert_same(a: &Graph, b: &Graph) {
    assert_eq!(a.schema(), b.schema());
    for t in 0..a.schema().node_types.len() {
        let (x, y) = (a.nodes(NodeTypeId(t as u16)), b.nodes(NodeTypeId(t as u16)));
        assert_eq!(x.ids.len(), y.ids.len());
        for i in 0..x.ids.len() {
            assert_eq!(x.ids.external(ferrograph_graph::LocalIdx(i as u32)), y.ids.external(ferrograph_graph::LocalIdx(i as u32)));
        }
        for (c, d) in x.columns.iter().zip(&y.columns) {
            assert_eq!(bytes_of_column(c), bytes_of_column(d));
        }
        for (s, r) in x.sets.iter().zip(&y.sets) {
            assert_eq!(s.as_slice(), r.as_slice());
        }
    }
    for e in 0..a.schema().edge_types.len() {
        let et = EdgeTypeId(e as u16);
        for dir in [Direction::Out, Direction::In] {
            let (x, y) = (a.topology(et, dir), b.topology(et, dir));
            assert_eq!(x.offsets.as_slice(), y.offsets.as_slice());
            assert_eq!(x.targets.as_slice(), y.targets.as_slice());
            assert_eq!(x.edge.as_ref().map(|e| e.as_slice().to_vec()), y.edge.as_ref().map(|e| e.as_slice().to_vec()));
        }
        for (c, d) in a.edges(et).columns.iter().zip(&b.edges(et).columns) {
            assert_eq!(bytes_of_column(c), bytes_of_column(d));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn snapshot_round_trips_every_codec(s in spec()) {
        let g = build(&s);
        g.check_deep().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("snap");
        snapshot::write(&g, &out).unwrap();
        let opened = snapshot::open(&out).unwrap();
        assert_same(&g, &opened.graph);
        prop_assert!(opened.graph.edges(EdgeTypeId(0)).out.targets.is_mapped() || s.edges.is_empty());
        snapshot::verify(&out, &ferrograph_graph::progress::NoProgress).unwrap();
        // Lookups through the mapped id index agree with the original.
        let t = NodeTypeId(0);
        for i in 0..s.n_a {
            let ext = g.nodes(t).ids.external(ferrograph_graph::LocalIdx(i as u32));
            let found = match &ext {
                ferrograph_graph::idmap::ExternalId::Int(x) => opened.graph.nodes(t).ids.lookup_int(*x),
                ferrograph_graph::idmap::ExternalId::Str(x) => opened.graph.nodes(t).ids.lookup_str(x),
            };
            prop_assert_eq!(found, Some(ferrograph_graph::LocalIdx(i as u32)));
        }
    }

    #[test]
    fn edge_attributes_follow_their_edges(s in spec()) {
        let g = build(&s);
        let et = EdgeTypeId(0);
        let out = &g.edges(et).out;
        let w = g.edge_weights(et).unwrap();
        // every (src, dst, weight) triple of the input is found at some out-position
        let mut want: Vec<(u32, u32, u32)> = s.edges.iter().map(|e| (e.0 as u32, e.1 as u32, e.2.to_bits())).collect();
        let mut got: Vec<(u32, u32, u32)> = (0..s.n_a).flat_map(|r| out.range(r).map(move |p| (r as u32, p))).map(|(r, p)| (r, out.targets.as_slice()[p], w[p].to_bits())).collect();
        want.sort_unstable();
        got.sort_unstable();
        prop_assert_eq!(want, got);
        // the in-topology reaches the same attribute through its edge map
        let inn = g.topology(et, Direction::In);
        let em = inn.edge.as_ref().unwrap().as_slice();
        for v in 0..s.n_b {
            for p in inn.range(v) {
                let q = em[p] as usize;
                prop_assert_eq!(out.targets.as_slice()[q] as usize, v);
            }
        }
    }
}

fn small_snapshot() -> (tempfile::TempDir, std::path::PathBuf) {
    small_snapshot_with(false)
}

/// A three-node snapshot, with string ids for type `a` if `string_ids`.
fn small_snapshot_with(string_ids: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    let s = Spec {
        n_a: 3,
        n_b: 2,
        string_ids,
        ints: vec![1, 2, 3],
        floats: vec![0.5; 3],
        cats: vec![0, 1, 0],
        dim: 2,
        vecs: vec![1.0; 6],
        sparse_rows: vec![vec![(1, 1.0)], vec![], vec![(3, 2.0)]],
        edges: vec![(0, 1, 1.0, 5), (2, 0, 2.0, 6)],
        undirected: vec![(0, 1)],
        set: vec![1],
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("snap");
    snapshot::write(&build(&s), &out).unwrap();
    (dir, out)
}

#[test]
fn truncated_file_is_named_at_open() {
    let (_d, out) = small_snapshot();
    let f = out.join("edges/0/out.dst.u32");
    let len = std::fs::metadata(&f).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&f).unwrap().set_len(len - 1).unwrap();
    let e = snapshot::open(&out).unwrap_err().to_string();
    assert!(e.contains("edges/0/out.dst.u32") && e.contains("truncated"), "{e}");
}

#[test]
fn flipped_byte_fails_verify_with_the_file_named() {
    let (_d, out) = small_snapshot();
    let f = out.join("nodes/0/a0.i64");
    let mut b = std::fs::read(&f).unwrap();
    b[3] ^= 0x40;
    std::fs::write(&f, b).unwrap();
    let e = snapshot::verify(&out, &ferrograph_graph::progress::NoProgress).unwrap_err().to_string();
    assert!(e.contains("nodes/0/a0.i64") && e.contains("checksum mismatch"), "{e}");
}

/// Overwrites the little-endian `u32` at `index` of the snapshot file `rel`.
fn poke_u32(out: &std::path::Path, rel: &str, index: usize, value: u32) {
    let f = out.join(rel);
    let mut b = std::fs::read(&f).unwrap();
    b[index * 4..index * 4 + 4].copy_from_slice(&value.to_le_bytes());
    std::fs::write(&f, b).unwrap();
}

#[test]
fn damaged_topology_is_named_on_first_use_not_met_mid_kernel() {
    use ferrograph_graph::{Direction, EdgeTypeId};
    // A neighbour past the last node: open (which reads no array) succeeds,
    // the checked topology names the file, the other direction is sound.
    let (_d, out) = small_snapshot();
    poke_u32(&out, "edges/0/out.dst.u32", 0, 7_000_000);
    let snap = snapshot::open(&out).unwrap();
    let e = snap.graph.checked_topology(EdgeTypeId(0), Direction::Out).unwrap_err().to_string();
    assert!(e.contains("edges/0/out.dst.u32") && e.contains("neighbour 7000000") && e.contains(&out.display().to_string()), "{e}");
    assert!(snap.graph.checked_topology(EdgeTypeId(0), Direction::In).is_ok());
    assert!(snap.graph.check_structure().is_err(), "the whole-graph check fails too");
    // The verdict is kept: asking again gives the same error.
    assert_eq!(snap.graph.checked_topology(EdgeTypeId(0), Direction::Out).unwrap_err().to_string(), e);

    // Offsets that go down name the offsets file.
    let (_d, out) = small_snapshot();
    let f = out.join("edges/1/out.off.u64");
    let mut b = std::fs::read(&f).unwrap();
    b[8..16].copy_from_slice(&5u64.to_le_bytes());
    std::fs::write(&f, b).unwrap();
    let snap = snapshot::open(&out).unwrap();
    let e = snap.graph.checked_topology(EdgeTypeId(1), Direction::Out).unwrap_err().to_string();
    assert!(e.contains("edges/1/out.off.u64") && e.contains("offsets go down at row 1"), "{e}");

    // An in→out edge position past the last edge names the edge map.
    let (_d, out) = small_snapshot();
    poke_u32(&out, "edges/0/in.edge.u32", 1, 99);
    let snap = snapshot::open(&out).unwrap();
    let e = snap.graph.checked_topology(EdgeTypeId(0), Direction::In).unwrap_err().to_string();
    assert!(e.contains("edges/0/in.edge.u32") && e.contains("edge position 99"), "{e}");
    assert!(snap.graph.checked_topology(EdgeTypeId(0), Direction::Out).is_ok());
}

#[test]
fn damaged_id_index_is_named_on_first_use() {
    let (_d, out) = small_snapshot_with(true);
    assert!(snapshot::open(&out).unwrap().graph.checked_ids(ferrograph_graph::NodeTypeId(0)).is_ok());
    poke_u32(&out, "nodes/0/ids.sorted.u32", 1, 4_000_000_000);
    let snap = snapshot::open(&out).unwrap();
    let e = snap.graph.checked_ids(ferrograph_graph::NodeTypeId(0)).unwrap_err().to_string();
    assert!(e.contains("nodes/0/ids.") && e.contains("node type `a`") && e.contains("damaged"), "{e}");
    assert!(snap.graph.checked_ids(ferrograph_graph::NodeTypeId(1)).is_ok(), "dense ids need no index");
}

#[test]
fn unknown_version_and_foreign_manifest_are_refused() {
    let (_d, out) = small_snapshot();
    let m = out.join("manifest.json");
    let text = std::fs::read_to_string(&m).unwrap();
    std::fs::write(&m, text.replace("\"format_version\": 1", "\"format_version\": 99")).unwrap();
    let e = snapshot::open(&out).unwrap_err().to_string();
    assert!(e.contains("manifest.json") && e.contains("version 99"), "{e}");
    std::fs::write(&m, "{\"hello\": 1}").unwrap();
    let e = snapshot::open(&out).unwrap_err().to_string();
    assert!(e.contains("not a ferrograph snapshot"), "{e}");
    std::fs::write(&m, "{ broken").unwrap();
    let e = snapshot::open(&out).unwrap_err().to_string();
    assert!(e.contains("line 1"), "{e}");
}

#[test]
fn existing_destination_is_kept_unless_forced() {
    let (_d, out) = small_snapshot();
    let before = std::fs::read(out.join("manifest.json")).unwrap();
    let g = snapshot::open(&out).unwrap().graph;
    let err = snapshot::write(&g, &out).unwrap_err().to_string();
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(out.join("manifest.json")).unwrap(), before);
    // Replacing a snapshot with a copy of itself read from its own mapping works.
    let copy = out.with_file_name("copy");
    snapshot::write(&g, &copy).unwrap();
    let g2 = snapshot::open(&copy).unwrap().graph;
    snapshot::write_with(&g2, &out, snapshot::WriteOptions { force: true, progress: None }).unwrap();
    snapshot::verify(&out, &ferrograph_graph::progress::NoProgress).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary directories left behind: {leftovers:?}");
}

#[test]
fn mapped_arrays_are_not_owned() {
    let (_d, out) = small_snapshot();
    let s = snapshot::open(&out).unwrap();
    let a: &Array<u32> = &s.graph.edges(EdgeTypeId(0)).out.targets;
    assert!(a.is_mapped());
}
