//! Sparse (`.npz`) feature columns train GraphSAGE and GCN without a
//! densified copy, and `train --repeat` works from any working directory.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn ferrograph(cwd: &Path, args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_ferrograph")).current_dir(cwd).args(args).output().expect("run ferrograph");
    assert!(o.status.success(), "ferrograph {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// SplitMix64, for the generated data.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A scipy-style CSR `.npz` (int64 `indptr`/`indices`, float32 `data`, `shape`).
fn write_npz(path: &Path, rows: usize, cols: usize, indptr: &[i64], indices: &[i64], data: &[f32]) {
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n);
    ferrograph_io::npy::write_npy_i64(&p("indptr.npy"), &[indptr.len()], indptr).unwrap();
    ferrograph_io::npy::write_npy_i64(&p("indices.npy"), &[indices.len()], indices).unwrap();
    ferrograph_io::npy::write_npy_f32(&p("data.npy"), &[data.len()], data).unwrap();
    ferrograph_io::npy::write_npy_i64(&p("shape.npy"), &[2], &[rows as i64, cols as i64]).unwrap();
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for name in ["indptr.npy", "indices.npy", "data.npy", "shape.npy"] {
        z.start_file(name, opts).unwrap();
        z.write_all(&std::fs::read(p(name)).unwrap()).unwrap();
    }
    z.finish().unwrap();
}

/// 20,000 nodes in 4 classes, 8 random edges each (70% inside the class),
/// and bag-of-words features over a 50,000-word vocabulary: 24 words per
/// node, half of them from its class's 2,000 words. Densified, the matrix
/// would take 4 GB.
#[test]
fn sparse_bag_of_words_trains_sage_and_gcn_without_densifying() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let (n, classes, vocab, words) = (20_000usize, 4u64, 50_000usize, 24usize);
    let label: Vec<i64> = (0..n as u64).map(|v| (mix(v) % classes) as i64).collect();
    let by_class: Vec<Vec<i64>> = (0..classes as i64).map(|c| (0..n as i64).filter(|&v| label[v as usize] == c).collect()).collect();
    let (mut src, mut dst) = (Vec::new(), Vec::new());
    for v in 0..n as u64 {
        for k in 0..8u64 {
            let r = mix(v * 131 + k + 7);
            let u = if r % 10 < 7 {
                let same = &by_class[label[v as usize] as usize];
                same[(mix(r) % same.len() as u64) as usize]
            } else {
                (mix(r) % n as u64) as i64
            };
            if u != v as i64 {
                src.push(v as i64);
                dst.push(u);
            }
        }
    }
    let (mut indptr, mut indices, mut data) = (vec![0i64], Vec::new(), Vec::new());
    for (v, &class) in label.iter().enumerate() {
        let mut row: Vec<i64> = (0..words as u64)
            .map(|k| {
                let r = mix((v as u64) << 8 | k);
                if k % 2 == 0 { class * 2_000 + (r % 2_000) as i64 } else { (r % vocab as u64) as i64 }
            })
            .collect();
        row.sort_unstable();
        row.dedup();
        data.extend(std::iter::repeat_n(1.0f32, row.len()));
        indices.extend(row);
        indptr.push(indices.len() as i64);
    }
    write_npz(&dir.join("feat.npz"), n, vocab, &indptr, &indices, &data);
    let npy_i = |name: &str, v: &[i64]| ferrograph_io::npy::write_npy_i64(&dir.join(name), &[v.len()], v).unwrap();
    npy_i("label.npy", &label);
    npy_i("src.npy", &src);
    npy_i("dst.npy", &dst);
    let order: Vec<i64> = {
        let mut o: Vec<i64> = (0..n as i64).collect();
        o.sort_by_key(|&v| mix(v as u64 ^ 0xabc));
        o
    };
    npy_i("train.npy", &order[..4_000]);
    npy_i("val.npy", &order[4_000..5_000]);
    npy_i("test.npy", &order[5_000..7_000]);
    let import = r#"[[nodes]]
type = "doc"
count = 20000
features = [{ name = "feat", file = "feat.npz" }, { name = "label", file = "label.npy" }]

[[edges]]
src_type = "doc"
relation = "links"
dst_type = "doc"
src_file = "src.npy"
dst_file = "dst.npy"
undirected = true
dedup = true

[[node_sets]]
type = "doc"
name = "train"
file = "train.npy"

[[node_sets]]
type = "doc"
name = "val"
file = "val.npy"

[[node_sets]]
type = "doc"
name = "test"
file = "test.npy"
"#;
    std::fs::write(dir.join("import.toml"), import).unwrap();
    ferrograph(dir, &["import", "import.toml", "--out", "snap"]);
    let dense_mib = (n * vocab * 4) as f64 / (1 << 20) as f64;
    for kind in ["sage", "gcn"] {
        let cfg = format!(
            "output = \"run-{kind}\"\n[data]\nsnapshot = \"snap\"\nnode_type = \"doc\"\nrelation = \"links\"\nlabel = \"label\"\nfeatures = \"feat\"\n\
             [model]\nkind = \"{kind}\"\nhidden = [32]\n[train]\nfanouts = [10, 10]\nbatch_size = 256\nlr = 0.01\nepochs = 4\nseed = 0\n"
        );
        std::fs::write(dir.join(format!("{kind}.toml")), cfg).unwrap();
        ferrograph(dir, &["--threads", "2", "train", &format!("{kind}.toml")]);
        let s: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(format!("run-{kind}/summary.json"))).unwrap()).unwrap();
        let acc = s["test"]["accuracy"].as_f64().unwrap();
        let rss = s["peak_rss_mib"].as_f64().unwrap();
        eprintln!(
            "{kind} on sparse bag-of-words (20,000 × 50,000, {} non-zeros): test accuracy {acc:.4}, peak RSS {rss:.0} MiB (dense copy: {dense_mib:.0} MiB)",
            data.len()
        );
        assert!(acc >= 0.9, "{kind}: test accuracy {acc}");
        assert!(rss < 1024.0, "{kind}: peak RSS {rss:.0} MiB: the features were densified");
        let emb = std::fs::read(dir.join(format!("run-{kind}/embeddings.npy"))).unwrap();
        assert!(String::from_utf8_lossy(&emb[..128]).contains("(20000, 32)"));
    }
}

/// `--repeat` with a relative config path from the folder above, as in
/// `holdout/configs/x.toml`: every seed trains, and `repeat.json` lands in
/// the config's output folder.
#[test]
fn repeat_works_from_another_working_directory() {
    let d = tempfile::tempdir().unwrap();
    let cfgdir = d.path().join("holdout/configs");
    std::fs::create_dir_all(&cfgdir).unwrap();
    let text = "output = \"../runs/x\"\n[data]\nbuiltin = \"planted\"\nnode_type = \"node\"\nlabel = \"label\"\nfeatures = \"feat\"\n\
                [model]\nkind = \"sage\"\nhidden = [16]\n[train]\nfanouts = [5, 5]\nbatch_size = 512\nepochs = 2\nseed = 4\n";
    std::fs::write(cfgdir.join("x.toml"), text).unwrap();
    let out = ferrograph(d.path(), &["train", "holdout/configs/x.toml", "--repeat", "2"]);
    assert!(out.contains("2 seeds: test accuracy"), "{out}");
    let root = d.path().join("holdout/runs/x");
    let j: Value = serde_json::from_str(&std::fs::read_to_string(root.join("repeat.json")).unwrap()).unwrap();
    assert_eq!(j["runs"], 2);
    let accs = j["test"]["accuracy"]["runs"].as_array().unwrap();
    assert_eq!(accs.len(), 2);
    for seed in [4, 5] {
        let s: Value = serde_json::from_str(&std::fs::read_to_string(root.join(format!("seed-{seed}/summary.json"))).unwrap()).unwrap();
        assert_eq!(s["seed"], seed);
        assert_eq!(s["test"]["accuracy"], accs[seed as usize - 4]);
    }
    // `--out` overrides the config's output, relative to the working directory.
    ferrograph(d.path(), &["train", "holdout/configs/x.toml", "--out", "elsewhere"]);
    assert!(d.path().join("elsewhere/summary.json").is_file());
}
