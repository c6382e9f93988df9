//! `ferrograph bench`: measurements to compare with the peers on the same
//! data (`../shared/bench/peers`), never run as tests.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ferrograph_graph::snapshot;
use ferrograph_graph::topology::{BuildOptions, build_topology_from};
use ferrograph_io::config::{EdgeTable, Format, ImportConfig, NodeTable, TextOptions};
use ferrograph_io::npy::{self, NpyData};
use rayon::prelude::*;
use serde_json::json;

/// A field of /proc/self/status in MiB (VmRSS, VmHWM).
pub fn proc_status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Minor page faults of this process so far (/proc/self/stat field 10).
fn minor_faults() -> u64 {
    std::fs::read_to_string("/proc/self/stat").ok().and_then(|s| s.rsplit(')').next()?.split_whitespace().nth(7)?.parse().ok()).unwrap_or(0)
}

fn load_ids(path: &Path) -> Result<Vec<i64>> {
    match npy::read_npy(path)?.data {
        NpyData::Int(v) => Ok(v),
        NpyData::Float(_) => bail!("{}: expected an integer array", path.display()),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn edge_list_config(tsv: &Path) -> ImportConfig {
    ImportConfig {
        nodes: vec![NodeTable {
            ty: "n".into(),
            file: None,
            format: None,
            id: None,
            id_type: Default::default(),
            count: None,
            columns: vec![],
            attributes: None,
            features: vec![],
            text: TextOptions::default(),
        }],
        edges: vec![EdgeTable {
            src_type: "n".into(),
            relation: "e".into(),
            dst_type: "n".into(),
            file: Some(tsv.to_path_buf()),
            src_file: None,
            dst_file: None,
            format: Some(Format::Graphlearn),
            src: None,
            dst: None,
            weight: None,
            label: None,
            timestamp: None,
            columns: vec![],
            attributes: None,
            features: vec![],
            undirected: false,
            dedup: false,
            reverse: None,
            create_nodes: true,
            id_offset: 0,
            text: TextOptions::default(),
        }],
        ..Default::default()
    }
}

fn write_tsv(path: &Path, src: &[i64], dst: &[i64]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    writeln!(f, "src_id:int64\tdst_id:int64")?;
    // Reversed, like the graph-learn peer writes it.
    for (s, d) in src.iter().zip(dst) {
        writeln!(f, "{d}\t{s}")?;
    }
    f.flush()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Build speed from the peers' arrays and from a graph-learn TSV.
pub fn build(data: &Path, nodes: usize, threads: &[usize], reps: usize, tsv: Option<PathBuf>) -> Result<()> {
    let src_path = data.join("rmat/src.npy");
    let t = Instant::now();
    let src = load_ids(&src_path).with_context(|| format!("run ../shared/bench/peers/gen_data.py first ({})", src_path.display()))?;
    let dst = load_ids(&data.join("rmat/dst.npy"))?;
    let load_s = t.elapsed().as_secs_f64();
    let e = src.len();
    let tsv = match tsv {
        Some(p) => p,
        None => {
            let gl = data.join("gl/edges_rev.tsv");
            if gl.exists() {
                gl
            } else {
                let own = data.join("ferrograph_edges_rev.tsv");
                if !own.exists() {
                    eprintln!("writing {} (not timed)", own.display());
                    write_tsv(&own, &src, &dst)?;
                }
                own
            }
        }
    };
    let tsv_bytes = std::fs::metadata(&tsv)?.len();
    for &t in threads {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build()?;
        let (build_s, bytes_per_edge, tsv_s, tsv_edges) = pool.install(|| -> Result<(f64, f64, f64, usize)> {
            let mut times = Vec::new();
            let mut bpe = 0.0;
            for _ in 0..reps {
                let f0 = minor_faults();
                let t0 = Instant::now();
                let b = build_topology_from(nodes, nodes, &src, &dst, BuildOptions::default())?;
                times.push(t0.elapsed().as_secs_f64());
                tracing::info!(secs = t0.elapsed().as_secs_f64(), minor_faults = minor_faults() - f0, "build rep");
                let inn = b.inn.as_ref().map_or(0, |c| c.offsets.byte_len() + c.targets.byte_len());
                bpe = (b.out.offsets.byte_len() + b.out.targets.byte_len() + inn) as f64 / e as f64;
            }
            let cfg = edge_list_config(&tsv);
            let mut tsv_times = Vec::new();
            let mut tsv_edges = 0;
            for _ in 0..reps.min(3) {
                let t0 = Instant::now();
                let g = ferrograph_io::import(&cfg, &ferrograph_graph::progress::NoProgress)?;
                tsv_times.push(t0.elapsed().as_secs_f64());
                tsv_edges = g.edge_stores()[0].out.len();
            }
            Ok((median(times), bpe, median(tsv_times), tsv_edges))
        })?;
        let r = json!({
            "system": "ferrograph",
            "threads": t,
            "edges": e,
            "nodes": nodes,
            "npy_load_s": load_s,
            "build_s": build_s,
            "build_bytes_per_edge": bpe_round(bytes_per_edge),
            "tsv_file": tsv.display().to_string(),
            "tsv_mb": tsv_bytes as f64 / 1e6,
            "tsv_import_s": tsv_s,
            "tsv_edges": tsv_edges,
            "peak_rss_mb": proc_status_mib("VmHWM"),
        });
        println!("RESULT {r}");
    }
    Ok(())
}

fn bpe_round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Opening a snapshot: time and resident memory before any array access.
pub fn open(dir: &Path) -> Result<()> {
    let rss0 = proc_status_mib("VmRSS");
    let t = Instant::now();
    let snap = snapshot::open(dir)?;
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let rss1 = proc_status_mib("VmRSS");
    let edges: u64 = snap.manifest.edge_types.iter().map(|e| e.stored).sum();
    let topo_bytes: u64 = snap
        .manifest
        .files
        .iter()
        .filter(|f| f.path.starts_with("edges/") && (f.path.contains("/out.") || f.path.contains("/in.")))
        .map(|f| f.len)
        .sum();
    // One access to show the mapping is live: degree of the first node.
    let first_degree = snap.graph.edge_stores().first().map(|e| if e.out.rows() > 0 { e.out.degree(0) } else { 0 });
    let r = json!({
        "snapshot": dir.display().to_string(),
        "open_ms": open_ms,
        "rss_before_open_mib": rss0,
        "rss_after_open_mib": rss1,
        "rss_open_delta_mib": rss1 - rss0,
        "bytes_on_disk": snap.manifest.data_bytes(),
        "stored_edges": edges,
        "topology_bytes_per_edge": if edges > 0 { bpe_round(topo_bytes as f64 / edges as f64) } else { 0.0 },
        "first_node_degree": first_degree,
    });
    println!("RESULT {r}");
    Ok(())
}

/// Options of `ferrograph bench sample`.
pub struct SampleOpts<'a> {
    /// Peers' data directory.
    pub data: &'a Path,
    /// Node count of the R-MAT graph.
    pub nodes: usize,
    /// Thread counts to measure.
    pub threads: &'a [usize],
    /// Repetitions.
    pub reps: usize,
    /// Strategy name.
    pub strategy: &'a str,
    /// `blocks` (re-indexed message-flow blocks) or `ego` (dense, padded).
    pub output: &'a str,
    /// Also gather the 128-wide features of every sampled node.
    pub features: bool,
    /// Sample this snapshot (memory-mapped) instead of the graph built in RAM.
    pub snapshot: Option<&'a Path>,
}

/// The peers' R-MAT graph; with `weights`, a `weight` attribute (a hash of
/// the input edge index into [0.1, 1.1)) and the in→out edge map.
fn rmat_with_weights(data: &Path, nodes: usize, weights: bool) -> Result<ferrograph_graph::Graph> {
    use ferrograph_graph::column::Column;
    let src = load_ids(&data.join("rmat/src.npy")).with_context(|| "run ../shared/bench/peers/gen_data.py first")?;
    let dst = load_ids(&data.join("rmat/dst.npy"))?;
    let b = build_topology_from(nodes, nodes, &src, &dst, BuildOptions { edge_ids: weights, ..Default::default() })?;
    let columns = match &b.input_edge {
        Some(order) => {
            let w: Vec<f32> = order.iter().map(|&e| 0.1 + (ferrograph_sample::rng::mix(u64::from(e)) >> 40) as f32 / (1u64 << 24) as f32).collect();
            vec![(ferrograph_graph::AttrSchema { name: "weight".into(), kind: ferrograph_graph::AttrKind::Float }, Column::Float(w.into()))]
        }
        None => Vec::new(),
    };
    Ok(ferrograph_io::generate::homogeneous_graph(nodes, b, columns)?)
}

/// Two-hop in-neighbour sampling on the peers' R-MAT graph and seeds:
/// fan-outs [15, 10], 100 batches of 1,024 seeds after 2 warm-up batches
/// (the peers' `sample` task), as blocks or ego tensors, optionally with
/// feature gathering from `rmat/feat.npy`.
pub fn sample(o: SampleOpts<'_>) -> Result<()> {
    use ferrograph_sample::ego::{Padding, sample_ego};
    use ferrograph_sample::{LocalGraph, NeighborSampler, Relation, Strategy, features, neighbor::HopSpec};
    let strategy = Strategy::parse(o.strategy)
        .with_context(|| format!("unknown strategy `{}` (random, random_without_replacement, edge_weight, topk, full)", o.strategy))?;
    if !matches!(o.output, "blocks" | "ego") {
        bail!("unknown output `{}` (blocks, ego)", o.output);
    }
    let built;
    let opened;
    let g: &ferrograph_graph::Graph = match o.snapshot {
        Some(dir) => {
            opened = snapshot::open(dir)?;
            &opened.graph
        }
        None => {
            built = rmat_with_weights(o.data, o.nodes, matches!(strategy, Strategy::EdgeWeight | Strategy::TopK))?;
            &built
        }
    };
    let seeds: Vec<u32> = load_ids(&o.data.join("rmat/seeds.npy"))?.into_iter().map(|x| x as u32).collect();
    if let Some(&bad) = seeds.iter().find(|&&x| x as usize >= o.nodes) {
        bail!("seed {bad} outside 0..{}", o.nodes);
    }
    let feat = if o.features {
        let path = o.data.join("rmat/feat.npy");
        let a = npy::read_npy(&path)?;
        match (a.shape.as_slice(), a.data) {
            ([_, d], NpyData::Float(v)) => Some(ferrograph_graph::column::Column::Vector { dim: *d, data: v.into() }),
            _ => bail!("{}: expected a 2-D float array", path.display()),
        }
    } else {
        None
    };
    let rel = Relation::resolve(g, "rev_edge")?;
    let g = LocalGraph::new(g);
    let sampler = NeighborSampler::new(vec![HopSpec { relation: rel, fanout: 15 }, HopSpec { relation: rel, fanout: 10 }], strategy)?;
    let ego = o.output == "ego";
    // One batch: sampled edges (valid slots for ego), nodes, feature floats.
    let run_batch = |b: &[u32], s: u64| -> Result<(usize, usize, usize)> {
        let (edges, nodes, list): (usize, usize, Vec<u32>) = if ego {
            let e = sample_ego(&g, &[(rel, 15), (rel, 10)], strategy, Padding::Mask, b, s)?;
            let valid = e.masks[1..].iter().map(|m| m.iter().filter(|x| **x).count()).sum();
            let all: Vec<u32> = e.layers.concat();
            (valid, all.len(), all)
        } else {
            let out = sampler.sample(&g, b, s)?;
            (out.row.len(), out.node.len(), out.node)
        };
        let floats = match &feat {
            Some(c) => {
                let mut buf = Vec::new();
                features::gather(c, &list, &mut buf)?;
                buf.len()
            }
            None => 0,
        };
        Ok((edges, nodes, floats))
    };
    let warm: Vec<u32> = seeds.iter().rev().take(2048).copied().collect();
    for &t in o.threads {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build()?;
        let (secs, edges, nodes, floats) = pool.install(|| -> Result<(f64, usize, usize, usize)> {
            warm.par_chunks(1024).map(|b| run_batch(b, 1)).collect::<Result<Vec<_>>>()?;
            let mut times = Vec::new();
            let mut totals = (0, 0, 0);
            for rep in 0..o.reps {
                let t0 = Instant::now();
                let r = seeds
                    .par_chunks(1024)
                    .enumerate()
                    .map(|(i, b)| run_batch(b, ferrograph_sample::rng::derive(rep as u64, i as u64)))
                    .collect::<Result<Vec<_>>>()?;
                times.push(t0.elapsed().as_secs_f64());
                totals = r.iter().fold((0, 0, 0), |a, x| (a.0 + x.0, a.1 + x.1, a.2 + x.2));
            }
            Ok((median(times), totals.0, totals.1, totals.2))
        })?;
        // Rows expanded per seed (each costs two dependent DRAM misses): for the
        // hardware-limit estimate in bench/README.md.
        let expanded: usize = sampler.sample_batches(&g, &seeds, 1024, 0)?.iter().map(|o| o.num_sampled_nodes[..2].iter().sum::<usize>()).sum();
        let r = json!({
            "system": "ferrograph",
            "threads": t,
            "strategy": o.strategy,
            "output": o.output,
            "features": o.features,
            "batches": seeds.len().div_ceil(1024),
            "sample_s": secs,
            "seeds_per_s": seeds.len() as f64 / secs,
            "edges_per_s": edges as f64 / secs,
            "sampled_edges": edges,
            "sampled_nodes": nodes,
            "feature_gb_per_s": floats as f64 * 4.0 / secs / 1e9,
            "expanded_rows_per_seed": expanded as f64 / seeds.len() as f64,
            "peak_rss_mb": proc_status_mib("VmHWM"),
        });
        println!("RESULT {r}");
    }
    Ok(())
}

/// The R-MAT node-classification run of the peers' `train` task, as a user
/// would set it up: an import config (`count = N` nodes, `feat.npy` /
/// `label.npy` features, `src.npy` / `dst.npy` edges, train / val / test
/// sets of 53,248 / 2,048 / 2,048 nodes from `seeds.npy`), its snapshot,
/// and a training config (GraphSAGE mean 128 → 256 → 16, fan-outs
/// [15, 10] over in-neighbours, batch 1,024, Adam lr 0.003, one epoch),
/// all written into `work` (the snapshot once). Returns the training
/// config's path.
pub fn rmat_train_setup(data: &Path, nodes: usize, work: &Path, bars: &crate::progress::Bars) -> Result<PathBuf> {
    let rmat = data.join("rmat");
    let seeds = load_ids(&rmat.join("seeds.npy")).with_context(|| "run ../shared/bench/peers/gen_data.py first")?;
    if seeds.len() < 57_344 {
        bail!("{}: needs at least 57,344 seeds, has {}", rmat.join("seeds.npy").display(), seeds.len());
    }
    std::fs::create_dir_all(work)?;
    for (name, range) in [("train", 0..53_248), ("val", 53_248..55_296), ("test", 55_296..57_344)] {
        npy::write_npy_i64(&work.join(format!("{name}.npy")), &[range.len()], &seeds[range])?;
    }
    let r = rmat.display();
    let import = work.join("rmat-import.toml");
    let text = format!(
        r#"# The peers' R-MAT graph (written by `ferrograph bench train`).
[[nodes]]
type = "node"
count = {nodes}
features = [{{ name = "feat", file = "{r}/feat.npy" }}, {{ name = "label", file = "{r}/label.npy" }}]

[[edges]]
src_type = "node"
relation = "edge"
dst_type = "node"
src_file = "{r}/src.npy"
dst_file = "{r}/dst.npy"

[[node_sets]]
type = "node"
name = "train"
file = "train.npy"

[[node_sets]]
type = "node"
name = "val"
file = "val.npy"

[[node_sets]]
type = "node"
name = "test"
file = "test.npy"
"#
    );
    ferrograph_train::write_file(&import, text.as_bytes())?;
    let snap = work.join("rmat-snapshot");
    if !snap.join("manifest.json").is_file() {
        eprintln!("importing {} into {} (once, not timed)", import.display(), snap.display());
        let g = ferrograph_io::import_file(&import, bars)?;
        snapshot::write_with(&g, &snap, snapshot::WriteOptions { force: true, progress: Some(bars) })?;
    }
    let cfg = work.join("rmat-sage.toml");
    let text = r#"# GraphSAGE on the peers' R-MAT graph (written by `ferrograph bench train`).
output = "rmat-sage-run"

[data]
snapshot = "rmat-snapshot"
node_type = "node"
relation = "rev_edge"
label = "label"
features = "feat"

[model]
kind = "sage"
hidden = [256]
aggregator = "mean"

[train]
fanouts = [15, 10]
batch_size = 1024
lr = 0.003
epochs = 1
seed = 0
"#;
    ferrograph_train::write_file(&cfg, text.as_bytes())?;
    Ok(cfg)
}

/// GraphSAGE training throughput on the peers' R-MAT graph through the
/// code path of `ferrograph train` (`engine::train_epoch` on the node
/// classification task of [`rmat_train_setup`]'s config): 2 warm-up
/// steps, then `steps` timed steps (sampling and feature gathering on the
/// loader, forward, backward and Adam on the caller), on the global rayon
/// pool.
pub fn train(data: &Path, nodes: usize, steps: usize, work: &Path, bars: &crate::progress::Bars) -> Result<()> {
    use ferrograph_train::engine::{self, EpochLimits, Quiet, Task};
    let cfg_path = rmat_train_setup(data, nodes, work, bars)?;
    let cfg = ferrograph_train::config::TrainConfig::load(&cfg_path)?;
    let snap = snapshot::open(&work.join("rmat-snapshot"))?;
    let task =
        ferrograph_train::tasks::node::NodeTask::new(&cfg, &snap.graph)?.distributed(std::sync::Arc::new(ferrograph_train::engine::Solo), None)?;
    let model = task.init()?;
    let t = &cfg.train;
    let mut done = 0;
    let warm = EpochLimits { max_steps: Some(2), abort_after_steps: None };
    let (model, _) = engine::train_epoch(&task, model, 1, 2, t.prefetch, t.lr, warm, &mut done, &engine::Solo, &Quiet)?;
    let timed = EpochLimits { max_steps: Some(steps), abort_after_steps: None };
    let (_model, st) = engine::train_epoch(&task, model, 2, 2, t.prefetch, t.lr, timed, &mut done, &engine::Solo, &Quiet)?;
    let r = json!({
        "system": "ferrograph",
        "threads": rayon::current_num_threads(),
        "output": "blocks",
        "code_path": "ferrograph train: engine::train_epoch on the node classification task",
        "train_steps": st.steps,
        "train_s": st.seconds,
        "steps_per_s": st.steps as f64 / st.seconds,
        "wait_fraction": st.waiting.as_secs_f64() / st.seconds,
        "mean_loss": st.loss_sum / st.steps.max(1) as f64,
        "peak_rss_mb": proc_status_mib("VmHWM"),
        "config": cfg_path.display().to_string(),
    });
    println!("RESULT {r}");
    Ok(())
}

/// node2vec on an imported graph: walks (timed), skip-gram (timed), and
/// `walks.npy` (−1 after a dead end), `ours.npy`, `labels.npy` in `out`.
#[allow(clippy::too_many_arguments)]
pub fn node2vec(
    config: &Path,
    relation: &str,
    label: &str,
    walks_per_node: usize,
    length: usize,
    p: f64,
    q: f64,
    sg: &ferrograph_shallow::skipgram::SkipGramConfig,
    seed: u64,
    out: &Path,
    bars: &crate::progress::Bars,
) -> Result<()> {
    use ferrograph_sample::walk::{PAD, Walker};
    use ferrograph_sample::{LocalGraph, Relation};
    let g = ferrograph_io::import_file(config, bars)?;
    let rel = Relation::resolve(&g, relation)?;
    let n = g.node_count(rel.from);
    let labels: Vec<i64> = match g.node_column(rel.from, label)? {
        ferrograph_graph::column::Column::Int(a) => a.as_slice().to_vec(),
        _ => bail!("column `{label}` is not an integer column"),
    };
    let walker = Walker::node2vec(rel, length, p, q)?;
    let starts: Vec<u32> = (0..walks_per_node).flat_map(|_| 0..n as u32).collect();
    let t0 = Instant::now();
    let walks = walker.walks(&LocalGraph::new(&g), &starts, 1)?;
    let walk_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let emb = ferrograph_shallow::skipgram::train_skipgram(&walks, length + 1, n, sg, seed);
    let train_s = t1.elapsed().as_secs_f64();
    std::fs::create_dir_all(out)?;
    let w: Vec<i64> = walks.iter().map(|&v| if v == PAD { -1 } else { i64::from(v) }).collect();
    npy::write_npy_i64(&out.join("walks.npy"), &[starts.len(), length + 1], &w)?;
    npy::write_npy_f32(&out.join("ours.npy"), &[n, sg.dim], &emb)?;
    npy::write_npy_i64(&out.join("labels.npy"), &[n], &labels)?;
    let tokens = walks.iter().filter(|&&v| v != PAD).count();
    let r = json!({
        "system": "ferrograph", "nodes": n, "walks": starts.len(), "tokens": tokens, "walk_s": walk_s,
        "train_s": train_s, "tokens_per_s": tokens as f64 / train_s, "threads": rayon::current_num_threads(),
        "dim": sg.dim, "window": sg.window, "negatives": sg.negatives, "epochs": sg.epochs, "seed": seed,
    });
    println!("RESULT {r}");
    Ok(())
}

/// `ferrograph bench remote`: local against remote sampling in one run;
/// with `netns = Some(delay_ms)`, each server runs in a network namespace
/// of its own behind a veth pair (netem delay if `delay_ms > 0`).
pub fn remote(snap: &Path, data: &Path, servers: &[usize], work: &Path, netns: Option<u32>) -> Result<()> {
    use ferrograph_sample::neighbor::HopSpec;
    use ferrograph_sample::{LocalGraph, NeighborSampler, Relation, Strategy};
    use std::process::{Child, Command, Stdio};
    struct Kill(Vec<Child>);
    impl Drop for Kill {
        fn drop(&mut self) {
            for c in &mut self.0 {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
    let opened = snapshot::open(snap).with_context(|| format!("opening {} (run `ferrograph bench train` once)", snap.display()))?;
    let g = &opened.graph;
    let rel = Relation::resolve(g, "rev_edge")?;
    let seeds: Vec<u32> = load_ids(&data.join("rmat/seeds.npy"))?.into_iter().map(|x| x as u32).collect();
    let sampler =
        NeighborSampler::new(vec![HopSpec { relation: rel, fanout: 15 }, HopSpec { relation: rel, fanout: 10 }], Strategy::RandomWithoutReplacement)?;
    let time = |f: &dyn Fn(&[u32], u64) -> Result<usize>| -> Result<(f64, usize)> {
        f(&seeds[..1024.min(seeds.len())], 99)?; // warm-up
        let t0 = Instant::now();
        let mut edges = 0;
        for (i, b) in seeds.chunks(1024).enumerate() {
            edges += f(b, i as u64)?;
        }
        Ok((t0.elapsed().as_secs_f64(), edges))
    };
    // A shared VM's speed drifts by tens of percent within a minute: local
    // and remote passes alternate, REPS of each, and the medians are compared.
    const REPS: usize = 5;
    let median = |mut xs: Vec<f64>| {
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    let local = LocalGraph::new(g);
    let local_pass = || time(&|b, s| Ok(sampler.sample(&local, b, s)?.row.len()));
    let (_, local_edges) = local_pass()?;
    std::fs::create_dir_all(work)?;
    let token = "bench-remote-token";
    let exe = std::env::current_exe()?;
    for &n in servers {
        let book = work.join(format!("book-{n}"));
        let st = Command::new(&exe)
            .args([
                "partition",
                snap.to_str().context("snapshot path")?,
                "--parts",
                &n.to_string(),
                "--method",
                "hash",
                "--out",
                book.to_str().context("work path")?,
                "--json",
            ])
            .stdout(Stdio::null())
            .status()?;
        if !st.success() {
            bail!("partitioning {} into {n} failed", snap.display());
        }
        // Namespaces outlive their servers: `kids` is dropped first.
        let spaces: Vec<ferrograph_dist::netns::Netns> = match netns {
            Some(delay) => (0..n)
                .map(|p| ferrograph_dist::netns::Netns::create(&format!("b{}s{p}", std::process::id() % 10_000), (214, (n * 8 + p) as u8), delay))
                .collect::<std::result::Result<_, _>>()?,
            None => Vec::new(),
        };
        let mut kids = Kill(Vec::new());
        let mut addrs = Vec::new();
        for p in 0..n {
            let ready = work.join(format!("ready-{n}-{p}"));
            let _ = std::fs::remove_file(&ready);
            kids.0.push(
                spaces
                    .get(p)
                    .map_or_else(|| Command::new(&exe), |ns| ns.command(&exe))
                    .arg("--threads")
                    .arg("1")
                    .args(["serve", snap.to_str().context("snapshot path")?, "--book", book.to_str().context("work path")?, "--part", &p.to_string()])
                    .args(["--listen", &spaces.get(p).map_or("127.0.0.1:0".to_string(), |ns| format!("{}:0", ns.inside_ip()))])
                    .args(["--ready-file", ready.to_str().context("work path")?])
                    .env("FERROGRAPH_TOKEN", token)
                    .stdout(Stdio::null())
                    .spawn()?,
            );
            let t0 = Instant::now();
            let addr = loop {
                if let Ok(a) = std::fs::read_to_string(&ready) {
                    break a;
                }
                if t0.elapsed().as_secs() > 60 {
                    bail!("server {p} of {n} did not start within 60 s");
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            };
            addrs.push(addr);
        }
        let remote = ferrograph_dist::RemoteGraph::connect(&book, &addrs, token, ferrograph_dist::ClientOptions::default())?;
        let (mut local_s, mut remote_s) = (Vec::new(), Vec::new());
        for _ in 0..REPS {
            local_s.push(local_pass()?.0);
            let (s, edges) = time(&|b, s| Ok(sampler.sample(&remote, b, s)?.row.len()))?;
            if edges != local_edges {
                bail!("remote sampling with {n} servers gave {edges} edges, local {local_edges}");
            }
            remote_s.push(s);
        }
        let (local_rate, rate) = (seeds.len() as f64 / median(local_s), seeds.len() as f64 / median(remote_s));
        let requests: u64 = (0..n).map(|p| remote.info(p).map(|i| i.requests)).sum::<std::result::Result<u64, _>>()?;
        if Some(&n) == servers.iter().max() {
            // AliGraph's importance cache at three sizes (τ = 0.2): the share
            // of row fetches it answers in process, and its memory.
            for fraction in [0.1, 0.2, 0.5] {
                let cached = ferrograph_dist::RemoteGraph::connect(&book, &addrs, token, ferrograph_dist::ClientOptions::default())?;
                let t0 = Instant::now();
                let stats = cached.cache(rel, ferrograph_dist::CacheOptions { fraction, tau: 0.2 })?;
                let build_s = t0.elapsed().as_secs_f64();
                let before = cached.traffic();
                let (s, edges) = time(&|b, s| Ok(sampler.sample(&cached, b, s)?.row.len()))?;
                if edges != local_edges {
                    bail!("remote sampling with a {fraction} cache gave {edges} edges, local {local_edges}");
                }
                let t = cached.traffic().since(&before);
                println!(
                    "RESULT {}",
                    json!({"system": "ferrograph", "mode": "cache", "servers": n, "netns": netns.is_some(), "fraction": fraction, "tau": 0.2,
                           "cached_nodes": stats.nodes, "eligible_nodes": stats.eligible, "cached_entries": stats.entries,
                           "cache_bytes": stats.bytes, "build_s": build_s,
                           "row_fetches": t.rows, "cached_rows": t.cached, "saved_share": t.cached as f64 / (t.rows + t.cached).max(1) as f64,
                           "requests": t.requests, "answer_bytes": t.received, "seeds_per_s": seeds.len() as f64 / s})
                );
            }
        }
        let t = remote.traffic();
        let per_hop = |b: u64| b as f64 / t.calls.max(1) as f64;
        println!(
            "RESULT {}",
            json!({"system": "ferrograph", "mode": "remote", "servers": n, "netns": netns.is_some(), "delay_ms": netns.unwrap_or(0), "seeds_per_s": rate, "local_seeds_per_s": local_rate,
                   "vs_local": rate / local_rate, "reps": REPS, "requests": requests,
                   "batches": REPS * (seeds.len().div_ceil(1024) + 1), "sampled_edges": local_edges,
                   "hops": t.calls, "request_bytes_per_hop": per_hop(t.sent), "answer_bytes_per_hop": per_hop(t.received)})
        );
    }
    Ok(())
}
