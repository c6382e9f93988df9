//! A proptest harness driving every text parser with arbitrary and
//! near-valid input: each must return a result or an error, never panic,
//! and valid tables must round-trip.

use std::path::Path;

use ferrograph_graph::progress::NoProgress;
use ferrograph_io::ImportConfig;
use proptest::prelude::*;

fn import(dir: &Path, config: &str) -> Result<ferrograph_graph::Graph, String> {
    let cfg = ImportConfig::parse(config, &dir.join("c.toml"), dir).map_err(|e| e.to_string())?;
    ferrograph_io::import(&cfg, &NoProgress).map_err(|e| e.to_string())
}

const GL: &str = r#"
[[nodes]]
type = "n"
file = "nodes"
format = "graphlearn"
attributes = { column = "f", fields = [{ name = "v", type = "float_vector", dim = 2 }, { name = "c", type = "string", buckets = 7 }] }
[[edges]]
src_type = "n"
relation = "e"
dst_type = "n"
file = "edges"
format = "graphlearn"
"#;

const CSV: &str = r#"
[[nodes]]
type = "n"
id_type = "string"
file = "nodes.csv"
columns = [{ name = "x", type = "float" }, { name = "s", type = "string" }]
[[edges]]
src_type = "n"
relation = "e"
dst_type = "n"
file = "edges.csv"
"#;

const SNAP: &str = r#"
[[nodes]]
type = "n"
[[edges]]
src_type = "n"
relation = "e"
dst_type = "n"
file = "g.txt"
format = "snap"
create_nodes = true
undirected = true
dedup = true
"#;

/// Bytes that look like table text: digits, separators, quotes, newlines, junk.
fn tableish() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            8 => prop::sample::select(b"0123456789".to_vec()),
            3 => prop::sample::select(b"\t,:\n\r\" -.#e".to_vec()),
            1 => any::<u8>(),
        ],
        0..400,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn graphlearn_tables_never_panic(nodes in tableish(), edges in tableish()) {
        let d = tempfile::tempdir().unwrap();
        let mut n = b"id:int64\tf:string\n".to_vec();
        n.extend(nodes);
        let mut e = b"src_id:int64\tdst_id:int64\tweight:float\n".to_vec();
        e.extend(edges);
        std::fs::write(d.path().join("nodes"), n).unwrap();
        std::fs::write(d.path().join("edges"), e).unwrap();
        let _ = import(d.path(), GL);
    }

    #[test]
    fn csv_tables_never_panic(nodes in tableish(), edges in tableish()) {
        let d = tempfile::tempdir().unwrap();
        let mut n = b"id,x,s\n".to_vec();
        n.extend(nodes);
        let mut e = b"src,dst\n".to_vec();
        e.extend(edges);
        std::fs::write(d.path().join("nodes.csv"), n).unwrap();
        std::fs::write(d.path().join("edges.csv"), e).unwrap();
        let _ = import(d.path(), CSV);
    }

    #[test]
    fn snap_lists_never_panic(text in tableish()) {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("g.txt"), text).unwrap();
        let _ = import(d.path(), SNAP);
    }

    #[test]
    fn configs_never_panic(text in "[a-z_\\[\\]=\" \n0-9.{},]{0,200}") {
        let d = tempfile::tempdir().unwrap();
        let _ = import(d.path(), &text);
    }

    #[test]
    fn npy_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300), keep in 0usize..200) {
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&bytes);
        let _ = ferrograph_io::npy::parse_npy(&b, Path::new("x.npy"));
        let good = {
            let d = tempfile::tempdir().unwrap();
            let p = d.path().join("a.npy");
            ferrograph_io::npy::write_npy_i64(&p, &[3], &[1, 2, 3]).unwrap();
            std::fs::read(p).unwrap()
        };
        let cut = &good[..keep.min(good.len())];
        let _ = ferrograph_io::npy::parse_npy(cut, Path::new("x.npy"));
    }

    #[test]
    fn valid_edge_lists_round_trip(edges in prop::collection::vec((0i64..50, 0i64..50, -5.0f32..5.0), 1..300)) {
        let d = tempfile::tempdir().unwrap();
        let mut text = String::from("src_id:int64\tdst_id:int64\tweight:float\n");
        for (s, t, w) in &edges {
            text += &format!("{s}\t{t}\t{w}\n");
        }
        std::fs::write(d.path().join("edges"), text).unwrap();
        let g = import(d.path(), r#"
            [[nodes]]
            type = "n"
            [[edges]]
            src_type = "n"
            relation = "e"
            dst_type = "n"
            file = "edges"
            format = "graphlearn"
            create_nodes = true
        "#).unwrap();
        let t = g.schema().node_type("n").unwrap();
        let ids = &g.nodes(t).ids;
        let (e, _) = g.schema().relation("e").unwrap();
        let csr = &g.edges(e).out;
        let w = g.edge_weights(e).unwrap();
        let mut got: Vec<(i64, i64, u32)> = Vec::new();
        for r in 0..csr.rows() {
            for p in csr.range(r) {
                let ext = |i: u32| match ids.external(ferrograph_graph::LocalIdx(i)) {
                    ferrograph_graph::idmap::ExternalId::Int(x) => x,
                    ferrograph_graph::idmap::ExternalId::Str(_) => unreachable!(),
                };
                got.push((ext(r as u32), ext(csr.targets.as_slice()[p]), w[p].to_bits()));
            }
        }
        let mut want: Vec<(i64, i64, u32)> = edges.iter().map(|(s, t, w)| (*s, *t, format!("{w}").parse::<f32>().unwrap().to_bits())).collect();
        got.sort_unstable();
        want.sort_unstable();
        prop_assert_eq!(got, want);
    }
}
