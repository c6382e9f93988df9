//! Hostile binary inputs: `.npy` headers (non-ASCII `descr`, lying shapes,
//! truncation), `.npz` archives (corrupted bytes, members that lie about
//! their sizes, CSR arrays out of range) and Parquet files (corrupted
//! bytes, truncation) end in an error that names the file, never a panic,
//! and quickly (each case is bounded by the bytes present, not by what a
//! header claims).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use ferrograph_graph::progress::NoProgress;
use ferrograph_io::ImportConfig;
use proptest::prelude::*;

fn npy_header(descr: &str, shape: &str) -> Vec<u8> {
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(h.len() as u16).to_le_bytes());
    b.extend_from_slice(h.as_bytes());
    b
}

fn err_of(bytes: &[u8], path: &Path) -> String {
    let t = Instant::now();
    let e = ferrograph_io::npy::parse_npy(bytes, path).expect_err("must be refused").to_string();
    assert!(t.elapsed().as_secs_f64() < 1.0, "took {:?}", t.elapsed());
    assert!(e.contains(&path.display().to_string()), "the error does not name the file: {e}");
    e
}

#[test]
fn npy_headers_that_lie_are_refused() {
    let p = Path::new("hostile.npy");
    // The regression: a non-ASCII character in `descr` (the old parser sliced
    // the header at a byte offset inside it and panicked).
    for descr in ["<f4é", "é<f4", "<\u{10348}4", "<i8\u{0}", "<f\u{2603}"] {
        let mut b = npy_header(descr, "(2,)");
        b.extend_from_slice(&[0u8; 16]);
        let e = err_of(&b, p);
        assert!(e.contains("dtype") || e.contains("descr"), "{descr}: {e}");
    }
    // A shape that needs far more data than present: refused before any allocation.
    let mut b = npy_header("<f4", "(4000000000, 4000000000)");
    b.extend_from_slice(&[0u8; 64]);
    let e = err_of(&b, p);
    assert!(e.contains("truncated") || e.contains("too large"), "{e}");
    let mut b = npy_header("<i8", "(-3,)");
    b.extend_from_slice(&[0u8; 64]);
    assert!(err_of(&b, p).contains("negative"));
    // A header length beyond the file, a nested shape, an unknown key.
    let mut b = npy_header("<f4", "(2,)");
    b[8] = 0xff;
    b[9] = 0xff;
    assert!(err_of(&b, p).contains("truncated"));
    let b = npy_header("<f4", &format!("{}1{}", "(".repeat(200), ")".repeat(200)));
    let _ = err_of(&b, p);
    let mut h = npy_header("<f4", "(1,)");
    h.extend_from_slice(&[0u8; 4]);
    let text = String::from_utf8_lossy(&h).replace("'fortran_order'", "'fortran_ordeé'").into_bytes();
    let _ = err_of(&text, p);
}

/// A scipy-style CSR `.npz` from its member arrays (already `.npy` bytes).
fn npz(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in members {
        z.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap().into_inner()
}

fn npy_i64(v: &[i64]) -> Vec<u8> {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("a.npy");
    ferrograph_io::npy::write_npy_i64(&p, &[v.len()], v).unwrap();
    std::fs::read(p).unwrap()
}

fn npy_f32(v: &[f32]) -> Vec<u8> {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("a.npy");
    ferrograph_io::npy::write_npy_f32(&p, &[v.len()], v).unwrap();
    std::fs::read(p).unwrap()
}

fn csr(indptr: &[i64], indices: &[i64], data: &[f32], shape: [i64; 2]) -> Vec<u8> {
    npz(&[("indptr.npy", npy_i64(indptr)), ("indices.npy", npy_i64(indices)), ("data.npy", npy_f32(data)), ("shape.npy", npy_i64(&shape))])
}

fn read_npz(bytes: &[u8]) -> Result<ferrograph_io::npy::SparseCsr, String> {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("m.npz");
    std::fs::write(&p, bytes).unwrap();
    let t = Instant::now();
    let r = ferrograph_io::npy::read_npz_csr(&p).map_err(|e| e.to_string());
    assert!(t.elapsed().as_secs_f64() < 1.0, "took {:?}", t.elapsed());
    if let Err(e) = &r {
        assert!(e.contains("m.npz"), "the error does not name the archive: {e}");
    }
    r
}

#[test]
fn npz_matrices_that_lie_are_refused() {
    assert!(read_npz(&csr(&[0, 1, 2], &[0, 3], &[1.0, 2.0], [2, 4])).is_ok());
    let cases: [(Vec<u8>, &str); 6] = [
        (csr(&[0, 1, 2], &[0, 9], &[1.0, 2.0], [2, 4]), "column"),
        (csr(&[0, 2, 1], &[0, 1], &[1.0, 2.0], [2, 4]), "indptr"),
        (csr(&[0, 1, 5], &[0, 1], &[1.0, 2.0], [2, 4]), "indptr"),
        (csr(&[0, 1], &[0, 1], &[1.0, 2.0], [2, 4]), "indptr"),
        (csr(&[0, 1, 2], &[0, 1], &[1.0], [2, 4]), "data"),
        (csr(&[0, 1, 2], &[0, 1], &[1.0, 2.0], [-2, 4]), "negative"),
    ];
    for (bytes, word) in cases {
        let e = read_npz(&bytes).expect_err("must be refused");
        assert!(e.contains(word), "wanted `{word}` in: {e}");
    }
    // A member missing, and a file that is not a zip.
    let e = read_npz(&npz(&[("indptr.npy", npy_i64(&[0, 1]))])).unwrap_err();
    assert!(e.contains("indices") || e.contains("shape"), "{e}");
    assert!(read_npz(b"PK\x03\x04 not really").is_err());
}

fn parquet_bytes() -> Vec<u8> {
    use arrow_array::{Float64Array, Int64Array, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("x", DataType::Float64, true)]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(Int64Array::from((0..50).collect::<Vec<i64>>())), Arc::new(Float64Array::from((0..50).map(f64::from).collect::<Vec<f64>>()))],
    )
    .unwrap();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

fn import_parquet(bytes: &[u8]) -> Result<ferrograph_graph::Graph, String> {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("nodes.parquet"), bytes).unwrap();
    let text = "[[nodes]]\ntype = \"n\"\nfile = \"nodes.parquet\"\ncolumns = [{ name = \"x\", type = \"float\" }]\n";
    let cfg = ImportConfig::parse(text, &d.path().join("c.toml"), d.path()).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let r = ferrograph_io::import(&cfg, &NoProgress).map_err(|e| e.to_string());
    assert!(t.elapsed().as_secs_f64() < 2.0, "took {:?}", t.elapsed());
    if let Err(e) = &r {
        assert!(e.contains("nodes.parquet"), "the error does not name the file: {e}");
    }
    r
}

#[test]
fn a_valid_parquet_table_imports() {
    let g = import_parquet(&parquet_bytes()).unwrap();
    assert_eq!(g.node_count(ferrograph_graph::NodeTypeId(0)), 50);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn corrupted_npy_files_never_panic(flips in prop::collection::vec((0usize..200, any::<u8>()), 1..8), keep in 0usize..300) {
        let mut b = npy_f32(&[1.0, 2.0, 3.0, 4.0]);
        for (i, v) in flips {
            let n = b.len();
            b[i % n] = v;
        }
        b.truncate(keep.max(1).min(b.len()));
        let _ = ferrograph_io::npy::parse_npy(&b, Path::new("x.npy"));
    }

    #[test]
    fn corrupted_npz_archives_never_panic(flips in prop::collection::vec((0usize..2000, any::<u8>()), 1..8), keep in 0usize..2000) {
        let mut b = csr(&[0, 1, 2, 4], &[0, 3, 1, 2], &[1.0, 2.0, 3.0, 4.0], [3, 4]);
        for (i, v) in flips {
            let n = b.len();
            b[i % n] = v;
        }
        b.truncate(keep.max(1).min(b.len()));
        let _ = read_npz(&b);
    }

    #[test]
    fn corrupted_parquet_files_never_panic(flips in prop::collection::vec((0usize..4000, any::<u8>()), 1..8), keep in 0usize..4000) {
        let mut b = parquet_bytes();
        for (i, v) in flips {
            let n = b.len();
            b[i % n] = v;
        }
        b.truncate(keep.max(1).min(b.len()));
        let _ = import_parquet(&b);
    }
}
