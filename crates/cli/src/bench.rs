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
    use ferrograph_sample::{LocalGraph, NeighborSampler, Relation, Strategy, features, neighbor::Hop};
    let strategy = Strategy::parse(o.strategy)
        .with_context(|| format!("unknown strategy `{}` (random, random_without_replacement, edge_weight, topk, full)", o.strategy))?;
    if !matches!(o.output, "blocks" | "ego") {
        bail!("unknown output `{}` (blocks, ego)", o.output);
    }
    let g = rmat_with_weights(o.data, o.nodes, matches!(strategy, Strategy::EdgeWeight | Strategy::TopK))?;
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
    let rel = Relation::resolve(&g, "rev_edge")?;
    let g = LocalGraph::new(&g);
    let sampler = NeighborSampler::new(vec![Hop { relation: rel, fanout: 15 }, Hop { relation: rel, fanout: 10 }], strategy)?;
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

/// GraphSAGE (mean, 128 → 256 → 16, fan-outs [15, 10] over in-neighbours,
/// batches of 1,024 seeds from `rmat/seeds.npy`, Adam lr 0.003): 2 warm-up
/// steps, then `steps` timed steps of sampling + feature gathering +
/// forward + backward + update, on the global rayon pool.
pub fn train(data: &Path, nodes: usize, steps: usize, output: &str, history: Option<u64>) -> Result<()> {
    use ferrograph_sample::ego::{Padding, sample_ego};
    use ferrograph_sample::{LocalGraph, NeighborSampler, Relation, Strategy, features, neighbor::Hop};
    use ferrograph_train::batch::{blocks, ego_hops};
    use ferrograph_train::matrix;
    use ferrograph_train::model::{ModelConfig, ModelKind};
    use ferrograph_train::trainer::{adam, optimise_timed};
    let ego = match output {
        "blocks" => false,
        "ego" => true,
        other => bail!("unknown output `{other}` (blocks, ego)"),
    };
    let g = rmat_with_weights(data, nodes, false)?;
    let seeds: Vec<u32> = load_ids(&data.join("rmat/seeds.npy"))?.into_iter().map(|x| x as u32).collect();
    let labels = load_ids(&data.join("rmat/label.npy"))?;
    let path = data.join("rmat/feat.npy");
    let a = npy::read_npy(&path)?;
    let feat = match (a.shape.as_slice(), a.data) {
        ([_, d], NpyData::Float(v)) => ferrograph_graph::column::Column::Vector { dim: *d, data: v.into() },
        _ => bail!("{}: expected a 2-D float array", path.display()),
    };
    let dim = match &feat {
        ferrograph_graph::column::Column::Vector { dim, .. } => *dim,
        _ => unreachable!(),
    };
    if seeds.len() < (steps + 2) * 1024 || labels.len() != nodes {
        bail!("need {} seeds and {nodes} labels", (steps + 2) * 1024);
    }
    let classes = labels.iter().max().map_or(1, |m| *m as usize + 1);
    let rel = Relation::resolve(&g, "rev_edge")?;
    let lg = LocalGraph::new(&g);
    let strategy = Strategy::RandomWithoutReplacement;
    let sampler = NeighborSampler::new(vec![Hop { relation: rel, fanout: 15 }, Hop { relation: rel, fanout: 10 }], strategy)?;
    let cfg = ModelConfig { hidden: vec![256], ..ModelConfig::new(ModelKind::Sage) };
    let mut model = Some(cfg.init(dim, classes, 0));
    let mut optim = adam(0.0);
    let threads = rayon::current_num_threads();
    let hist = history.map(|st| ferrograph_train::history::History::new(nodes, 1 << 17, 256, st));
    let hits = std::sync::atomic::AtomicUsize::new(0);
    let lookups = std::sync::atomic::AtomicUsize::new(0);
    enum Batch {
        Cached(Vec<ferrograph_train::hop::Hop>, Vec<f32>, usize, Vec<f32>, Vec<u32>),
        Blocks(Vec<ferrograph_train::hop::Hop>, Vec<f32>, usize),
        Ego(Vec<ferrograph_train::hop::Hop>, Vec<(Vec<f32>, usize)>),
    }
    // Where a step's time goes: batch preparation (on the loader threads),
    // summed in nanoseconds: sample, gather, hop construction, sampled
    // nodes, layer-1 destinations.
    let prep = Phases::default();
    let make = |b: usize| -> ferrograph_sample::Result<(Batch, Vec<i64>)> {
        let s = &seeds[b * 1024..(b + 1) * 1024];
        let y = s.iter().map(|&v| labels[v as usize]).collect();
        let seed = ferrograph_sample::rng::derive(7, b as u64);
        let t = Instant::now();
        if ego {
            let e = sample_ego(&lg, &[(rel, 15), (rel, 10)], strategy, Padding::Mask, s, seed)?;
            let mut xs = Vec::new();
            for l in &e.layers {
                let mut v = Vec::new();
                features::gather(&feat, l, &mut v)?;
                xs.push((v, l.len()));
            }
            Ok((Batch::Ego(ego_hops(&e, None), xs), y))
        } else if let Some(h) = &hist {
            let hs = ferrograph_train::batch::sample_with_history(&sampler, &lg, s, seed, h)?;
            let t1 = Instant::now();
            let mut x = Vec::with_capacity(hs.out.node.len() * dim);
            features::gather(&feat, &hs.out.node, &mut x)?;
            let t2 = Instant::now();
            let hops = ferrograph_train::batch::history_blocks(&hs, None);
            if b >= 2 {
                prep.add(0, t1 - t);
                prep.add(1, t2 - t1);
                prep.add(2, t2.elapsed());
                prep.add(3, std::time::Duration::from_nanos(hs.out.node.len() as u64));
                prep.add(4, std::time::Duration::from_nanos(hs.computed as u64));
                hits.fetch_add(hs.hits.hits, std::sync::atomic::Ordering::Relaxed);
                lookups.fetch_add(hs.hits.lookups, std::sync::atomic::Ordering::Relaxed);
            }
            let store = hs.out.node[..hs.computed].to_vec();
            Ok((Batch::Cached(hops, x, hs.out.node.len(), hs.cached, store), y))
        } else {
            let o = sampler.sample(&lg, s, seed)?;
            let t1 = Instant::now();
            let mut x = Vec::with_capacity(o.node.len() * dim);
            features::gather(&feat, &o.node, &mut x)?;
            let t2 = Instant::now();
            let hops = blocks(&o, 2, None);
            if b >= 2 {
                prep.add(0, t1 - t);
                prep.add(1, t2 - t1);
                prep.add(2, t2.elapsed());
                prep.add(3, std::time::Duration::from_nanos(o.node.len() as u64));
                prep.add(4, std::time::Duration::from_nanos(o.num_sampled_nodes[..2].iter().sum::<usize>() as u64));
            }
            Ok((Batch::Blocks(hops, x, o.node.len()), y))
        }
    };
    // Waiting = time between the end of one step and the start of the
    // next (the loader's queue, or inline sampling with one thread).
    let mut step_times = Vec::new();
    let step_phases = Phases::default();
    let mut timed_wait = 0.0;
    let mut last_end: Option<Instant> = None;
    let mut consume = |i: usize, (batch, y): (Batch, Vec<i64>)| {
        let start = Instant::now();
        let waited = last_end.map_or(0.0, |e| (start - e).as_secs_f64());
        let m = model.take().expect("model");
        let mut to_store = None;
        let logits = match batch {
            Batch::Cached(hops, x, rows, cached, store) => {
                let n = cached.len() / 256;
                let (logits, h0) = m.forward_blocks_history(&hops.iter().collect::<Vec<_>>(), matrix(x, rows, dim), matrix(cached, n, 256), None);
                to_store = Some((store, h0));
                logits
            }
            Batch::Blocks(hops, x, rows) => m.forward_blocks(&hops.iter().collect::<Vec<_>>(), matrix(x, rows, dim), None),
            Batch::Ego(hops, xs) => m.forward_ego(&hops, xs.into_iter().map(|(v, r)| matrix(v, r, dim)).collect(), None),
        };
        let forwarded = Instant::now();
        let (m, _, backward, update) = optimise_timed(m, &mut optim, logits, &y, 0.003);
        model = Some(m);
        if let (Some((store, h0)), Some(h)) = (to_store, &hist) {
            h.store(&store, &ferrograph_train::trainer::host(h0));
        }
        let end = Instant::now();
        if i >= 2 {
            step_times.push((end - start).as_secs_f64() + waited);
            timed_wait += waited;
            step_phases.add(0, forwarded - start);
            step_phases.add(1, backward);
            step_phases.add(2, update);
        }
        last_end = Some(end);
    };
    let t0 = Instant::now();
    if threads == 1 {
        // One core: sample inline, so the wait is the sampling time.
        for i in 0..steps + 2 {
            let b = make(i)?;
            consume(i, b);
        }
    } else {
        ferrograph_sample::loader::for_each_prefetched(steps + 2, 4, make, |i, b| {
            consume(i, b);
            Ok(())
        })?;
    }
    let total = t0.elapsed().as_secs_f64();
    let timed: f64 = step_times.iter().sum();
    let r = json!({
        "system": "ferrograph",
        "threads": threads,
        "output": output,
        "train_steps": steps,
        "train_s": timed,
        "steps_per_s": steps as f64 / timed,
        "median_step_ms": median(step_times.clone()) * 1e3,
        "wait_fraction": timed_wait / timed,
        "total_s_with_warmup": total,
        "peak_rss_mb": proc_status_mib("VmHWM"),
        "profile_ms_per_step": {
            "forward": step_phases.ms(0, steps),
            "loss_and_backward": step_phases.ms(1, steps),
            "adam_update": step_phases.ms(2, steps),
            "waiting": timed_wait * 1e3 / steps as f64,
            "prepare_sample": prep.ms(0, steps),
            "prepare_gather_features": prep.ms(1, steps),
            "prepare_blocks": prep.ms(2, steps),
        },
        "history_staleness": history,
        "history_hit_rate": hits.into_inner() as f64 / lookups.into_inner().max(1) as f64,
        "nodes_per_batch": prep.get(3) as f64 / steps as f64,
        "layer1_rows_per_batch": prep.get(4) as f64 / steps as f64,
    });
    println!("RESULT {r}");
    Ok(())
}

/// Nanosecond counters summed across threads.
#[derive(Default)]
struct Phases([std::sync::atomic::AtomicU64; 5]);

impl Phases {
    fn add(&self, i: usize, d: std::time::Duration) {
        self.0[i].fetch_add(d.as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
    }
    fn get(&self, i: usize) -> u64 {
        self.0[i].load(std::sync::atomic::Ordering::Relaxed)
    }
    fn ms(&self, i: usize, steps: usize) -> f64 {
        self.get(i) as f64 / 1e6 / steps as f64
    }
}

/// LightGCN on the user → item relations `train` and `test` of an import
/// config: one `RESULT` line per evaluated epoch, and the popularity
/// baseline under the same protocol.
pub fn lightgcn(
    config: &Path,
    train: &str,
    test: &str,
    cfg: &ferrograph_train::lightgcn::LightGcnConfig,
    eval_every: usize,
    k: usize,
    bars: &crate::progress::Bars,
) -> Result<()> {
    use ferrograph_train::lightgcn::{Interactions, popularity_baseline, train_lightgcn_with};
    let g = ferrograph_io::import_file(config, bars)?;
    let (tr, te) = (Interactions::from_graph(&g, train)?, Interactions::from_graph(&g, test)?);
    let (pr, pn) = popularity_baseline(&tr, &te, k);
    println!("RESULT {}", json!({"system": "popularity", "recall": pr, "ndcg": pn, "k": k}));
    let t0 = Instant::now();
    train_lightgcn_with(&tr, &te, k, eval_every, cfg, &mut |h| {
        let r = json!({
            "system": "ferrograph", "epoch": h.epoch, "loss": h.loss, "epoch_s": h.seconds,
            "recall": h.eval.map(|e| e.0), "ndcg": h.eval.map(|e| e.1), "k": k,
            "batch": cfg.batch_size, "lr": cfg.lr, "elapsed_s": t0.elapsed().as_secs_f64(),
            "threads": rayon::current_num_threads(),
        });
        if h.eval.is_some() || h.epoch <= 3 {
            println!("RESULT {r}");
        }
    })?;
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
    sg: &ferrograph_train::skipgram::SkipGramConfig,
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
    let emb = ferrograph_train::skipgram::train_skipgram(&walks, length + 1, n, sg, seed);
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
