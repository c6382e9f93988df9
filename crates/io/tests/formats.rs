//! Importers on small files written by the test: Parquet, gzip SNAP, NPY
//! edges, string ids, graph-learn decoders, quoting, nodes from edges.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{Float32Builder, ListBuilder};
use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
use ferrograph_graph::column::Column;
use ferrograph_graph::progress::NoProgress;
use ferrograph_graph::{Direction, Graph, LocalIdx};
use ferrograph_io::ImportConfig;

fn run(dir: &Path, config: &str) -> ferrograph_io::Result<Graph> {
    let cfg = ImportConfig::parse(config, &dir.join("import.toml"), dir)?;
    ferrograph_io::import(&cfg, &NoProgress)
}

fn write(dir: &Path, name: &str, content: &[u8]) {
    std::fs::write(dir.join(name), content).unwrap();
}

#[test]
fn parquet_node_and_edge_tables() {
    let d = tempfile::tempdir().unwrap();
    let mut emb = ListBuilder::new(Float32Builder::new());
    for i in 0..3 {
        emb.values().append_value(i as f32);
        emb.values().append_value(1.0);
        emb.append(true);
    }
    let nodes = RecordBatch::try_from_iter(vec![
        ("uid", Arc::new(StringArray::from(vec!["u1", "u2", "u3"])) as _),
        ("age", Arc::new(Int64Array::from(vec![30, 40, 50])) as _),
        ("emb", Arc::new(emb.finish()) as _),
    ])
    .unwrap();
    let edges = RecordBatch::try_from_iter(vec![
        ("a", Arc::new(StringArray::from(vec!["u1", "u3", "u2"])) as _),
        ("b", Arc::new(StringArray::from(vec!["u2", "u1", "u3"])) as _),
        ("w", Arc::new(Float64Array::from(vec![0.5, 1.5, 2.5])) as _),
    ])
    .unwrap();
    for (name, batch) in [("nodes.parquet", nodes), ("edges.parquet", edges)] {
        let f = std::fs::File::create(d.path().join(name)).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }
    let g = run(
        d.path(),
        r#"
        [[nodes]]
        type = "user"
        file = "nodes.parquet"
        id = "uid"
        id_type = "string"
        columns = [{ name = "age", type = "int" }, { name = "emb", type = "float_vector", dim = 2 }]
        [[edges]]
        src_type = "user"
        relation = "follows"
        dst_type = "user"
        file = "edges.parquet"
        src = "a"
        dst = "b"
        weight = "w"
        "#,
    )
    .unwrap();
    let u = g.schema().node_type("user").unwrap();
    let ids = &g.nodes(u).ids;
    let u3 = ids.lookup_str("u3").unwrap();
    assert_eq!(g.node_column(u, "emb").unwrap().vector(u3.get()).unwrap(), &[2.0, 1.0]);
    let (e, _) = g.schema().relation("follows").unwrap();
    let out = g.topology(e, Direction::Out);
    let p = out.range(u3.get()).start;
    assert_eq!(LocalIdx(out.targets.as_slice()[p]), ids.lookup_str("u1").unwrap());
    assert_eq!(g.edge_weights(e).unwrap()[p], 1.5);
}

#[test]
fn gzip_snap_with_comments_and_string_ids_created_from_edges() {
    let d = tempfile::tempdir().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"# comment\n# another\nalice\tbob\nbob carol\n\ncarol   alice\nalice\tbob\n").unwrap();
    write(d.path(), "g.txt.gz", &gz.finish().unwrap());
    let g = run(
        d.path(),
        r#"
        [[nodes]]
        type = "person"
        id_type = "string"
        [[edges]]
        src_type = "person"
        relation = "knows"
        dst_type = "person"
        file = "g.txt.gz"
        create_nodes = true
        undirected = true
        dedup = true
        "#,
    )
    .unwrap();
    let t = g.schema().node_type("person").unwrap();
    assert_eq!(g.node_count(t), 3);
    assert_eq!(g.edge_stores()[0].logical_edges(true), 3);
    let ids = &g.nodes(t).ids;
    let (a, b) = (ids.lookup_str("alice").unwrap(), ids.lookup_str("bob").unwrap());
    let (e, _) = g.schema().relation("knows").unwrap();
    assert!(g.topology(e, Direction::Out).contains(b.get(), a.0), "undirected stores both directions");
}

#[test]
fn npy_edge_index_and_features_with_counts() {
    let d = tempfile::tempdir().unwrap();
    ferrograph_io::npy::write_npy_i64(&d.path().join("ei.npy"), &[2, 4], &[0, 1, 2, 3, 1, 2, 3, 0]).unwrap();
    ferrograph_io::npy::write_npy_f32(&d.path().join("x.npy"), &[4, 2], &[0., 1., 2., 3., 4., 5., 6., 7.]).unwrap();
    ferrograph_io::npy::write_npy_i64(&d.path().join("train.npy"), &[2], &[3, 1]).unwrap();
    let g = run(
        d.path(),
        r#"
        [[nodes]]
        type = "n"
        count = 4
        features = [{ name = "x", file = "x.npy" }]
        [[edges]]
        src_type = "n"
        relation = "e"
        dst_type = "n"
        file = "ei.npy"
        [[node_sets]]
        type = "n"
        name = "train"
        file = "train.npy"
        "#,
    )
    .unwrap();
    let t = g.schema().node_type("n").unwrap();
    assert_eq!(g.node_set(t, "train").unwrap(), &[1, 3]);
    let (e, _) = g.schema().relation("e").unwrap();
    assert_eq!(g.neighbors(e, Direction::Out, LocalIdx(3)), &[0]);
    assert_eq!(g.neighbors(e, Direction::In, LocalIdx(0)), &[3]);
    assert_eq!(g.node_column(t, "x").unwrap().vector(2).unwrap(), &[4.0, 5.0]);
}

#[test]
fn graphlearn_decoders_with_hashed_strings_and_labels() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "user",
        b"id:int64\tweight:float\tlabel:int64\tattributes:string\n10\t0.5\t1\tbeijing:3:0.1:0.2\n20\t1.5\t0\tshanghai:4:0.3:0.4\n",
    );
    write(d.path(), "buy", b"src_id:int64\tdst_id:int64\tweight:float\ttimestamp:int64\n10\t20\t2.0\t100\n20\t10\t3.0\t200\n");
    let g = run(
        d.path(),
        r#"
        [[nodes]]
        type = "user"
        file = "user"
        format = "graphlearn"
        [nodes.attributes]
        column = "attributes"
        fields = [
          { name = "city", type = "string", buckets = 100 },
          { name = "level", type = "int" },
          { name = "emb", type = "float_vector", dim = 2 },
        ]
        [[edges]]
        src_type = "user"
        relation = "buy"
        dst_type = "user"
        file = "buy"
        format = "graphlearn"
        "#,
    )
    .unwrap();
    let t = g.schema().node_type("user").unwrap();
    let names: Vec<&str> = g.schema().node_types[0].attributes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["city", "level", "emb", "weight", "label"]);
    match g.node_column(t, "city").unwrap() {
        Column::Hashed { buckets: 100, codes } => assert_ne!(codes.as_slice()[0], codes.as_slice()[1]),
        c => panic!("{:?}", c.kind()),
    }
    let twenty = g.nodes(t).ids.lookup_int(20).unwrap();
    assert_eq!(g.node_column(t, "emb").unwrap().vector(twenty.get()).unwrap(), &[0.3, 0.4]);
    let (e, _) = g.schema().relation("buy").unwrap();
    match g.edge_column(e, "timestamp").unwrap() {
        Column::Int(ts) => {
            let p = g.topology(e, Direction::Out).range(twenty.get()).start;
            assert_eq!(ts.as_slice()[p], 200);
        }
        c => panic!("{:?}", c.kind()),
    }
}

#[test]
fn quoted_csv_and_nodes_from_edges_beside_a_table() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "n.csv", b"id,name\n1,\"Smith, J.\"\n2,\"O\"\"Brien\"\n");
    write(d.path(), "e.csv", b"s,t\n1,2\n2,7\n");
    let g = run(
        d.path(),
        r#"
        [[nodes]]
        type = "p"
        file = "n.csv"
        columns = [{ name = "name", type = "string" }]
        [[edges]]
        src_type = "p"
        relation = "r"
        dst_type = "p"
        file = "e.csv"
        src = "s"
        dst = "t"
        create_nodes = true
        "#,
    );
    // Node 7 is not in the table, which has attributes: every node must be listed there.
    let e = g.unwrap_err().to_string();
    assert!(e.contains("list every node in its table"), "{e}");
    write(d.path(), "e.csv", b"s,t\n1,2\n2,1\n");
    let g = run(
        d.path(),
        r#"
        [[nodes]]
        type = "p"
        file = "n.csv"
        columns = [{ name = "name", type = "string" }]
        [[edges]]
        src_type = "p"
        relation = "r"
        dst_type = "p"
        file = "e.csv"
        src = "s"
        dst = "t"
        "#,
    )
    .unwrap();
    let t = g.schema().node_type("p").unwrap();
    match g.node_column(t, "name").unwrap() {
        Column::Categorical { dict, codes } => {
            assert_eq!(dict.get(codes.as_slice()[0] as usize), "Smith, J.");
            assert_eq!(dict.get(codes.as_slice()[1] as usize), "O\"Brien");
        }
        c => panic!("{:?}", c.kind()),
    }
}

#[test]
fn import_does_not_depend_on_thread_count() {
    let d = tempfile::tempdir().unwrap();
    let mut text = String::from("src_id:int64\tdst_id:int64\tweight:float\n");
    let mut x = 7u64;
    for _ in 0..300_000 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        text += &format!("{}\t{}\t{}\n", (x >> 40) % 5000, (x >> 20) % 5000, (x >> 50) % 100);
    }
    write(d.path(), "e", text.as_bytes());
    let cfg = r#"
        [[nodes]]
        type = "n"
        [[edges]]
        src_type = "n"
        relation = "e"
        dst_type = "n"
        file = "e"
        format = "graphlearn"
        create_nodes = true
    "#;
    let go = |t: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap();
        pool.install(|| {
            let g = run(d.path(), cfg).unwrap();
            let e = &g.edge_stores()[0];
            (e.out.targets.as_slice().to_vec(), g.edge_weights(ferrograph_graph::EdgeTypeId(0)).unwrap().to_vec())
        })
    };
    assert_eq!(go(1), go(4));
}
