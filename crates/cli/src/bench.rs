//! `ferrograph bench`: measurements to compare with the peers on the same
//! data (`../shared/bench/peers`), never run as tests.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ferrograph_graph::snapshot;
use ferrograph_graph::topology::{BuildOptions, build_topology_from};
use ferrograph_io::config::{EdgeTable, Format, ImportConfig, NodeTable, TextOptions};
use ferrograph_io::npy::{self, NpyData};
use serde_json::json;

/// A field of /proc/self/status in MiB (VmRSS, VmHWM).
pub fn proc_status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Minor page faults of this process so far (/proc/self/stat field 10).
fn minor_faults() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()?
                .split_whitespace()
                .nth(7)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
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
pub fn build(
    data: &Path,
    nodes: usize,
    threads: &[usize],
    reps: usize,
    tsv: Option<PathBuf>,
) -> Result<()> {
    let src_path = data.join("rmat/src.npy");
    let t = Instant::now();
    let src = load_ids(&src_path).with_context(|| {
        format!(
            "run ../shared/bench/peers/gen_data.py first ({})",
            src_path.display()
        )
    })?;
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
        let (build_s, bytes_per_edge, tsv_s, tsv_edges) =
            pool.install(|| -> Result<(f64, f64, f64, usize)> {
                let mut times = Vec::new();
                let mut bpe = 0.0;
                for _ in 0..reps {
                    let f0 = minor_faults();
                    let t0 = Instant::now();
                    let b = build_topology_from(nodes, nodes, &src, &dst, BuildOptions::default())?;
                    times.push(t0.elapsed().as_secs_f64());
                    tracing::info!(
                        secs = t0.elapsed().as_secs_f64(),
                        minor_faults = minor_faults() - f0,
                        "build rep"
                    );
                    let inn = b
                        .inn
                        .as_ref()
                        .map_or(0, |c| c.offsets.byte_len() + c.targets.byte_len());
                    bpe = (b.out.offsets.byte_len() + b.out.targets.byte_len() + inn) as f64
                        / e as f64;
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
        .filter(|f| {
            f.path.starts_with("edges/") && (f.path.contains("/out.") || f.path.contains("/in."))
        })
        .map(|f| f.len)
        .sum();
    // One access to show the mapping is live: degree of the first node.
    let first_degree = snap
        .graph
        .edge_stores()
        .first()
        .map(|e| if e.out.rows() > 0 { e.out.degree(0) } else { 0 });
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

/// Two-hop in-neighbour sampling on the peers' R-MAT graph and seeds:
/// fan-outs [15, 10], 100 batches of 1,024 seeds after 2 warm-up batches,
/// output re-indexed message-flow blocks (the peers' `sample` task).
pub fn sample(
    data: &Path,
    nodes: usize,
    threads: &[usize],
    reps: usize,
    strategy: &str,
) -> Result<()> {
    use ferrograph_sample::{LocalGraph, NeighborSampler, Relation, Strategy, neighbor::Hop};
    let strategy = match strategy {
        "random" => Strategy::Random,
        "random_without_replacement" => Strategy::RandomWithoutReplacement,
        other => bail!("unknown strategy `{other}` (random, random_without_replacement)"),
    };
    let src = load_ids(&data.join("rmat/src.npy"))
        .with_context(|| "run ../shared/bench/peers/gen_data.py first")?;
    let dst = load_ids(&data.join("rmat/dst.npy"))?;
    let seeds = load_ids(&data.join("rmat/seeds.npy"))?;
    let to_u32 = |v: &[i64]| -> Result<Vec<u32>> {
        v.iter()
            .map(|&x| {
                u32::try_from(x)
                    .ok()
                    .filter(|&y| (y as usize) < nodes)
                    .with_context(|| format!("node id {x} outside 0..{nodes}"))
            })
            .collect()
    };
    let g = ferrograph_io::generate::rmat_graph(nodes, to_u32(&src)?, to_u32(&dst)?)?;
    drop((src, dst));
    let seeds = to_u32(&seeds)?;
    let rel = Relation::resolve(&g, "rev_edge")?;
    let sampler = NeighborSampler::new(
        vec![
            Hop {
                relation: rel,
                fanout: 15,
            },
            Hop {
                relation: rel,
                fanout: 10,
            },
        ],
        strategy,
    )?;
    let warm: Vec<u32> = seeds.iter().rev().take(2048).copied().collect();
    let g = LocalGraph::new(&g);
    for &t in threads {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build()?;
        let (secs, edges, sampled_nodes) = pool.install(|| -> Result<(f64, usize, usize)> {
            sampler.sample_batches(&g, &warm, 1024, 1)?;
            let mut times = Vec::new();
            let (mut edges, mut sampled_nodes) = (0, 0);
            for rep in 0..reps {
                let t0 = Instant::now();
                let out = sampler.sample_batches(&g, &seeds, 1024, rep as u64)?;
                times.push(t0.elapsed().as_secs_f64());
                edges = out.iter().map(|o| o.row.len()).sum();
                sampled_nodes = out.iter().map(|o| o.node.len()).sum();
            }
            Ok((median(times), edges, sampled_nodes))
        })?;
        let r = json!({
            "system": "ferrograph",
            "threads": t,
            "batches": seeds.len().div_ceil(1024),
            "sample_s": secs,
            "seeds_per_s": seeds.len() as f64 / secs,
            "edges_per_s": edges as f64 / secs,
            "sampled_edges": edges,
            "sampled_nodes": sampled_nodes,
            "peak_rss_mb": proc_status_mib("VmHWM"),
        });
        println!("RESULT {r}");
    }
    Ok(())
}
