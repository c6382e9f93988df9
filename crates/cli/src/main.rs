//! `ferrograph`: the command-line front end. Parses arguments, sets up
//! logging and progress bars, and calls the library crates; the only crate
//! that uses `anyhow`.

mod bench;
mod info;
mod progress;
mod train;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use ferrograph_graph::snapshot::{self, WriteOptions};
use ferrograph_io::generate::{Multiplex, Planted, Rmat, rmat_graph};

/// `--threads N`, checked before any pool starts.
fn threads_arg(s: &str) -> std::result::Result<usize, String> {
    let n = s.parse::<usize>().map_err(|e| format!("`{s}`: {e}"))?;
    ferrograph_graph::array::check_threads(n)
}

/// ferrograph: heterogeneous graph store, sampler and GNN trainer.
#[derive(Parser)]
#[command(name = "ferrograph", version, about, propagate_version = true)]
struct Cli {
    /// Worker threads (default: all cores; at most 8 per core).
    #[arg(long, global = true, value_parser = threads_arg)]
    threads: Option<usize>,
    /// Log progress details (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate the built-in planted-partition graph, snapshot it, train GraphSAGE on it and report.
    Quickstart {
        /// Output folder (snapshot, config, checkpoints, report, embeddings).
        #[arg(long, default_value = "out/quickstart")]
        out: PathBuf,
    },
    /// Train per a TOML config (see configs/train/): node classification, link prediction, recommendation or embedding (`task`); writes the model, metrics, report and embeddings.
    Train {
        /// The training config.
        config: PathBuf,
        /// Output folder (overrides the config's `output`; relative to the working directory).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Continue an interrupted run from its last checkpoint (any task).
        #[arg(long)]
        resume: bool,
        /// Stop abruptly after this many optimiser steps (crash testing).
        #[arg(long, hide = true)]
        abort_after_steps: Option<usize>,
        /// Override `train.seed`.
        #[arg(long)]
        seed: Option<u64>,
        /// Train this many runs with seeds seed, seed+1, … (each in OUTPUT/seed-K) and report mean and spread.
        #[arg(long)]
        repeat: Option<usize>,
        /// Sample through graph servers (`ferrograph serve`) listed in this file (book, addresses, token); see the README's distributed section. Under `mpirun -np N` (a build with `--features mpi`) each rank trains on its share of every batch.
        #[arg(long)]
        servers: Option<PathBuf>,
    },
    /// Assign every node of a snapshot to one of N partitions (hash, METIS or Fennel) and write the partition book (book.json + assignment.u16) with its edge-cut, balance and halo figures.
    Partition {
        /// Snapshot directory.
        snapshot: PathBuf,
        /// Number of partitions.
        #[arg(long)]
        parts: usize,
        /// Partitioner.
        #[arg(long, value_enum, default_value_t = PartitionMethod::Metis)]
        method: PartitionMethod,
        /// Output folder of the partition book.
        #[arg(long)]
        out: PathBuf,
        /// Seed (hash and METIS).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Print one JSON line instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Serve one partition of a partition book over gRPC (batched neighbour sampling and degrees for the nodes it owns), until killed. The shared-secret token comes from --token-file or FERROGRAPH_TOKEN.
    Serve {
        /// The snapshot the book was made from.
        snapshot: PathBuf,
        /// The partition book (`ferrograph partition --out`).
        #[arg(long)]
        book: PathBuf,
        /// The partition to serve.
        #[arg(long)]
        part: usize,
        /// Address to listen on (port 0: any free port; see --ready-file).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Written with the bound address once the server listens.
        #[arg(long)]
        ready_file: Option<PathBuf>,
        /// File holding the token (else the FERROGRAPH_TOKEN variable).
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// Most nodes in one request.
        #[arg(long, default_value_t = 1 << 20)]
        max_nodes: usize,
        /// Largest fan-out of one request.
        #[arg(long, default_value_t = 10_000)]
        max_fanout: usize,
    },
    /// Hold out edges of one type for link prediction: a training snapshot without them, and the held-out edges with as many sampled non-edges.
    SplitEdges {
        /// Snapshot directory to split.
        snapshot: PathBuf,
        /// The edge type (relation name).
        #[arg(long)]
        relation: String,
        /// Share of edges for validation.
        #[arg(long, default_value_t = 0.05)]
        val: f64,
        /// Share of edges for test.
        #[arg(long, default_value_t = 0.1)]
        test: f64,
        /// Shuffle and negative-sampling seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Training snapshot to create.
        #[arg(long)]
        out: PathBuf,
        /// Folder for val.npy, val_neg.npy, test.npy, test_neg.npy (int64 [m, 2] local indices; default OUT-heldout).
        #[arg(long)]
        heldout: Option<PathBuf>,
    },
    /// Erase the types of a heterogeneous snapshot: one node type, one undirected relation, features and labels merged (for homogeneous baselines).
    EraseTypes {
        /// Snapshot directory to read.
        snapshot: PathBuf,
        /// Feature column (float vector or sparse) to merge into `feat`.
        #[arg(long, default_value = "feat")]
        features: String,
        /// Int label column to merge into `label` (-1 where a type has none).
        #[arg(long, default_value = "label")]
        label: String,
        /// Snapshot to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// Export node embeddings of a trained model (exact layer-wise inference) to NPY and Parquet.
    Embed {
        /// The training config of the run.
        config: PathBuf,
        /// Checkpoint (default: the run's best.ckpt).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Export the output layer instead of the last hidden layer.
        #[arg(long)]
        output_layer: bool,
        /// Output path without extension; writes OUT.npy and OUT.parquet.
        #[arg(long)]
        out: PathBuf,
    },
    /// Top-K items for a user, from a recommendation run (`task = "recommendation"`).
    Recommend {
        /// The snapshot the run trained on (its user and item ids).
        snapshot: PathBuf,
        /// The run's output folder (holds recommender.json and the embeddings).
        #[arg(long)]
        model: PathBuf,
        /// External id of the user.
        #[arg(long)]
        user: String,
        /// Items to list.
        #[arg(short, long, default_value_t = 20)]
        k: usize,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Import tables described by a TOML config into a snapshot directory.
    Import {
        /// The import config (see configs/ for examples).
        config: PathBuf,
        /// Snapshot directory to create.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing snapshot.
        #[arg(long)]
        force: bool,
    },
    /// Describe a snapshot: schema, counts, degree statistics, attributes, size.
    Info {
        /// Snapshot directory.
        dir: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Run one sampling query on a snapshot and print its first batch.
    ///
    /// Example: ferrograph sample out/cora 'g.V("paper").batch(4).alias("seed").outV("cites").sample(3).by("random").alias("hop1").values()'
    Sample {
        /// Snapshot directory.
        dir: PathBuf,
        /// The query, e.g. g.V("paper").batch(512).outV("cites").sample(10).by("random").values()
        query: String,
        /// Random seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Epoch of the batch (shuffled sources visit a new order each epoch).
        #[arg(long, default_value_t = 0)]
        epoch: u64,
        /// Which batch of the epoch to run (0-based).
        #[arg(long, default_value_t = 0)]
        batch: usize,
        /// Print JSON (aliases with external ids and offsets).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        limits: QueryLimits,
    },
    /// Sample message-flow blocks for given seed nodes (the Python
    /// `NeighborSampler`'s output) and print them as JSON: `node` (local
    /// indices, seeds first), `row`, `col`, `num_sampled_nodes`, `num_sampled_edges`.
    Blocks {
        /// Snapshot directory.
        dir: PathBuf,
        /// Relation walked at every hop (a reverse name walks edges backwards).
        #[arg(long)]
        relation: String,
        /// Fan-out per hop, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        fanouts: Vec<usize>,
        /// Strategy (`random`, `random_without_replacement`, `full`, `edge_weight`, `topk`, ...).
        #[arg(long, default_value = "random_without_replacement")]
        strategy: String,
        /// Seed nodes as local indices, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        nodes: Vec<u32>,
        /// Random seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Epoch (mixed into the seed as the Python sampler does).
        #[arg(long, default_value_t = 0)]
        epoch: u64,
    },
    /// Recompute every checksum and check every invariant of a snapshot.
    Verify {
        /// Snapshot directory.
        dir: PathBuf,
    },
    /// Generate a synthetic graph into a snapshot.
    #[command(subcommand)]
    Generate(Generate),
    /// Measurements (see bench/README.md).
    #[command(subcommand)]
    Bench(Bench),
}

/// Work limits of one query (each refused with the query column that
/// exceeds it).
#[derive(Args)]
struct QueryLimits {
    /// Largest `batch(n)`.
    #[arg(long, default_value_t = ferrograph_query::Limits::default().max_batch)]
    max_batch: usize,
    /// Most steps after the source (hops, negatives, walks; a subgraph of h hops counts h).
    #[arg(long, default_value_t = ferrograph_query::Limits::default().max_steps)]
    max_steps: usize,
    /// Largest `sample(k)`.
    #[arg(long, default_value_t = ferrograph_query::Limits::default().max_fanout)]
    max_fanout: usize,
    /// Longest random walk.
    #[arg(long, default_value_t = ferrograph_query::Limits::default().max_walk_length)]
    max_walk_length: usize,
    /// Most nodes one batch may produce over all its aliases.
    #[arg(long, default_value_t = ferrograph_query::Limits::default().max_nodes)]
    max_nodes: usize,
}

impl QueryLimits {
    fn limits(&self) -> ferrograph_query::Limits {
        ferrograph_query::Limits {
            max_batch: self.max_batch,
            max_steps: self.max_steps,
            max_fanout: self.max_fanout,
            max_walk_length: self.max_walk_length,
            max_nodes: self.max_nodes,
        }
    }
}

#[derive(Args)]
struct Output {
    /// Snapshot directory to create.
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing snapshot.
    #[arg(long)]
    force: bool,
}

#[derive(Subcommand)]
enum Generate {
    /// R-MAT power-law graph (distinct directed edges, no self-loops, ids permuted).
    Rmat {
        /// Number of nodes.
        #[arg(long, default_value_t = 1 << 20)]
        nodes: u64,
        /// Number of edges.
        #[arg(long, default_value_t = 10 << 20)]
        edges: u64,
        /// Quadrant probabilities (d = 1 - a - b - c).
        #[arg(long, default_value_t = 0.55)]
        a: f64,
        #[arg(long, default_value_t = 0.15)]
        b: f64,
        #[arg(long, default_value_t = 0.15)]
        c: f64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[command(flatten)]
        output: Output,
    },
    /// Planted-partition graph with class labels, noisy class-indicative features and splits.
    Planted {
        #[arg(long, default_value_t = 20_000)]
        nodes: u64,
        #[arg(long, default_value_t = 8)]
        classes: u32,
        #[arg(long, default_value_t = 10.0)]
        avg_degree: f64,
        /// Share of edges inside a class.
        #[arg(long, default_value_t = 0.8)]
        p_in: f64,
        #[arg(long, default_value_t = 32)]
        feature_dim: u32,
        /// Feature noise standard deviation (class signal is 1.0).
        #[arg(long, default_value_t = 1.5)]
        noise: f32,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[command(flatten)]
        output: Output,
    },
    /// Multiplex graph (one node type, relations r0, r1, … each with its own planted communities), for GATNE.
    Multiplex {
        #[arg(long, default_value_t = 2_000)]
        nodes: u64,
        #[arg(long, default_value_t = 3)]
        relations: u32,
        /// Communities per relation (drawn independently for each relation).
        #[arg(long, default_value_t = 20)]
        communities: u32,
        /// Mean neighbours per node in each relation.
        #[arg(long, default_value_t = 10.0)]
        avg_degree: f64,
        /// Share of edges inside a community.
        #[arg(long, default_value_t = 0.9)]
        p_in: f64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[command(flatten)]
        output: Output,
    },
}

/// Where the peers' shared benchmark data is, and how to measure.
#[derive(Args)]
struct PeerData {
    /// The peers' data directory (holds rmat/src.npy, dst.npy, seeds.npy, feat.npy).
    #[arg(long, default_value = "~/.cache/ferrograph-peers/data")]
    data: String,
    /// Number of nodes of the R-MAT graph.
    #[arg(long, default_value_t = 1_000_000)]
    nodes: usize,
    /// Thread counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,2", value_parser = threads_arg)]
    thread_counts: Vec<usize>,
    /// Repetitions (median reported).
    #[arg(long, default_value_t = 3)]
    reps: usize,
}

#[derive(Subcommand)]
enum Bench {
    /// Two-hop [15, 10] sampling of the peers' R-MAT seeds through 1..N local graph servers (child processes on 127.0.0.1, hash partitions) against sampling the snapshot in process, in one run.
    Remote {
        /// The R-MAT snapshot (`ferrograph bench train` writes it).
        #[arg(long, default_value = "~/.cache/ferrograph-peers/data/ferrograph-train/rmat-snapshot")]
        snapshot: String,
        /// The peers' data directory (rmat/seeds.npy).
        #[arg(long, default_value = "~/.cache/ferrograph-peers/data")]
        data: String,
        /// Server counts to measure.
        #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
        servers: Vec<usize>,
        /// Folder for the books and ready files.
        #[arg(long, default_value = "/tmp/ferrograph-bench-remote")]
        work: PathBuf,
        /// Put each server in a network namespace of its own, joined by a veth pair (root, iproute2).
        #[arg(long)]
        netns: bool,
        /// With --netns: netem delay on each end of each link, in milliseconds (needs the kernel's sch_netem).
        #[arg(long, default_value_t = 0, requires = "netns")]
        delay_ms: u32,
    },
    /// Topology build from the peers' R-MAT arrays and import of the same edges as a graph-learn TSV.
    Build {
        #[command(flatten)]
        peers: PeerData,
        /// TSV to import (default: the graph-learn peer's file, else one written from the arrays).
        #[arg(long)]
        tsv: Option<PathBuf>,
    },
    /// Two-hop [15, 10] in-neighbour sampling on the peers' R-MAT graph and seeds.
    Sample {
        #[command(flatten)]
        peers: PeerData,
        /// `random_without_replacement` (as DGL and PyG), `random`, `edge_weight` (hashed weights), `topk`.
        #[arg(long, default_value = "random_without_replacement")]
        strategy: String,
        /// `blocks` (re-indexed message-flow blocks) or `ego` (dense tensors with masks).
        #[arg(long, default_value = "blocks")]
        output: String,
        /// Also gather the 128-wide features of the sampled nodes from rmat/feat.npy.
        #[arg(long)]
        features: bool,
        /// Sample this R-MAT snapshot, memory-mapped (`ferrograph bench train` writes one), instead of the graph built in RAM from rmat/src.npy and rmat/dst.npy: what `ferrograph.open` gives the Python sampler.
        #[arg(long)]
        snapshot: Option<PathBuf>,
    },
    /// GraphSAGE training throughput on the peers' R-MAT graph, features and labels (the peers' `train` task), through `ferrograph train`'s own epoch loop.
    ///
    /// One thread count per process (set it with the global --threads): 1 thread samples inline, more prefetch batches. Also writes the import and training configs of the full R-MAT run (`ferrograph train WORK/rmat-sage.toml`).
    Train {
        /// Peers' data directory.
        #[arg(long, default_value = "~/.cache/ferrograph-peers/data")]
        data: String,
        /// Node count of the R-MAT graph.
        #[arg(long, default_value_t = 1_000_000)]
        nodes: usize,
        /// Timed steps (after 2 warm-up steps).
        #[arg(long, default_value_t = 50)]
        steps: usize,
        /// Folder for the configs, node sets and snapshot (default DATA/ferrograph-train).
        #[arg(long)]
        work: Option<PathBuf>,
    },
    /// node2vec walks and skip-gram training timed; writes the walks, the embeddings and the node labels as NPY for the gensim peer.
    Node2vec {
        /// Import config.
        #[arg(long, default_value = "configs/snap-email-eu-core.toml")]
        config: PathBuf,
        /// Relation to walk.
        #[arg(long, default_value = "emails")]
        relation: String,
        /// Integer label column of the walked node type (written as labels.npy).
        #[arg(long, default_value = "department")]
        label: String,
        /// Walks per node.
        #[arg(long, default_value_t = 10)]
        walks: usize,
        /// Steps per walk.
        #[arg(long, default_value_t = 80)]
        length: usize,
        /// Return parameter.
        #[arg(long, default_value_t = 1.0)]
        p: f64,
        /// In-out parameter.
        #[arg(long, default_value_t = 1.0)]
        q: f64,
        /// Embedding width.
        #[arg(long, default_value_t = 128)]
        dim: usize,
        /// Skip-gram window.
        #[arg(long, default_value_t = 5)]
        window: usize,
        /// Epochs over the walks.
        #[arg(long, default_value_t = 1)]
        epochs: usize,
        /// Seed of the skip-gram training (the walks keep theirs).
        #[arg(long, default_value_t = 2)]
        seed: u64,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Open a snapshot and report time and resident memory before any access.
    Open {
        /// Snapshot directory.
        dir: PathBuf,
    },
}

/// `ferrograph partition --method`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum PartitionMethod {
    /// Seeded hash of the node (baseline).
    Hash,
    /// METIS multilevel k-way (vendored METIS 5).
    Metis,
    /// Fennel, one streaming pass.
    Fennel,
}

fn expand_home(p: &str) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME").map_or_else(|| PathBuf::from(p), |h| PathBuf::from(h).join(rest)),
        None => PathBuf::from(p),
    }
}

fn write_snapshot(g: &ferrograph_graph::Graph, out: &Path, force: bool, bars: &progress::Bars) -> Result<f64> {
    let t = Instant::now();
    snapshot::write_with(g, out, WriteOptions { force, progress: Some(bars) }).with_context(|| format!("writing snapshot {}", out.display()))?;
    Ok(t.elapsed().as_secs_f64())
}

fn run(cli: Cli) -> Result<()> {
    let bars = progress::Bars::new();
    match cli.command {
        Command::Quickstart { out } => {
            let t = Instant::now();
            let snap_dir = out.join("graph");
            write_snapshot(&Planted::default().graph()?, &snap_dir, true, &bars)?;
            print!("{}", info::to_text(&snap_dir, &snapshot::read_manifest(&snap_dir)?));
            let cfg = train::quickstart_config(&out)?;
            let o = train::run_training(&cfg, Default::default(), &bars, false)?;
            let (s, dir) = (&o.summary, &o.out);
            let get = |m: &std::collections::BTreeMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(f64::NAN);
            println!(
                "quickstart: GraphSAGE test accuracy {:.4} (best validation {:.4} at epoch {}), {} epochs, {:.1}s in all",
                get(&s.test, "accuracy"),
                get(&s.val, "accuracy"),
                s.best_epoch,
                s.epochs,
                t.elapsed().as_secs_f64()
            );
            println!("report: {}  (curves.png, metrics.jsonl, summary.json, embeddings.npy/.parquet beside it)", dir.join("report.md").display());
        }
        Command::Train { config, out, resume, abort_after_steps, seed, repeat, servers } => {
            let group = train::group()?;
            let mut cfg = ferrograph_train::config::TrainConfig::load(&config)?;
            if let Some(s) = seed {
                cfg.train.seed = s;
            }
            if let Some(o) = out {
                // Relative to the working directory, as any CLI path.
                cfg.output = std::path::absolute(&o).with_context(|| format!("--out {}", o.display()))?;
            }
            let opts = ferrograph_train::engine::RunOptions { resume, abort_after_steps, group: group.clone(), ..Default::default() };
            if let Some(n) = repeat {
                if resume || abort_after_steps.is_some() || servers.is_some() || group.0.size() > 1 {
                    anyhow::bail!(
                        "--repeat starts every run afresh on one process: it cannot be combined with --resume, --abort-after-steps, --servers or mpirun"
                    );
                }
                return train::repeat(&cfg, n, &opts, &bars);
            }
            let o = train::run_ranked(&cfg, servers.as_deref(), opts, &bars)?;
            if group.0.rank() == 0 {
                train::print_outcome(&o.summary, &o.out);
            }
        }
        Command::EraseTypes { snapshot: dir, features, label, out } => {
            let snap = snapshot::open(&dir)?;
            let g = ferrograph_io::homogeneous::erase_types(&snap.graph, &features, &label)?;
            write_snapshot(&g, &out, false, &bars)?;
            println!(
                "wrote {} ({} nodes, {} edges, types erased)",
                out.display(),
                g.node_count(ferrograph_graph::NodeTypeId(0)),
                g.edge_stores()[0].out.len() / 2
            );
        }
        Command::Partition { snapshot: dir, parts, method, out, seed, json } => {
            use ferrograph_partition as fp;
            let method = match method {
                PartitionMethod::Hash => fp::Method::Hash,
                PartitionMethod::Metis => fp::Method::Metis,
                PartitionMethod::Fennel => fp::Method::Fennel,
            };
            let snap = snapshot::open(&dir)?;
            let g = &snap.graph;
            let t0 = std::time::Instant::now();
            let adj = fp::Adjacency::of_graph(g)?;
            let adjacency_s = t0.elapsed().as_secs_f64();
            let t1 = std::time::Instant::now();
            let assignment = fp::partition(&adj, parts, method, seed)?;
            let seconds = t1.elapsed().as_secs_f64();
            let quality = fp::Quality::measure(&adj, &assignment, parts);
            let node_types = g
                .schema()
                .node_types
                .iter()
                .enumerate()
                .map(|(t, nt)| fp::book::BookType { name: nt.name.clone(), count: (adj.base[t + 1] - adj.base[t]), base: adj.base[t] })
                .collect();
            let book = fp::Book {
                format: fp::book::FORMAT.into(),
                version: fp::book::VERSION,
                method,
                parts,
                seed,
                snapshot_xxh3: fp::book::snapshot_fingerprint(&dir)?,
                node_types,
                assignment_xxh3: String::new(),
                quality,
                seconds,
                assignment,
            };
            fp::write_book(&out, &book)?;
            let q = &book.quality;
            let peak = bench::proc_status_mib("VmHWM");
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "snapshot": dir.display().to_string(), "method": method.name(), "parts": parts, "nodes": adj.nodes(), "edges": adj.edges(),
                        "edge_cut": q.edge_cut, "cut_edges": q.cut_edges, "balance": q.balance, "replication": q.replication,
                        "partition_s": seconds, "adjacency_s": adjacency_s, "peak_rss_mib": peak, "out": out.display().to_string(),
                    })
                );
            } else {
                println!(
                    "{} nodes, {} undirected edges → {parts} partitions by {} in {seconds:.2} s (adjacency {adjacency_s:.2} s, peak RSS {peak:.0} MiB)",
                    adj.nodes(),
                    adj.edges(),
                    method.name()
                );
                println!("edge-cut {:.4} ({} edges), balance {:.3}, replication {:.3}", q.edge_cut, q.cut_edges, q.balance, q.replication);
                println!("{:>6} {:>12} {:>12}", "part", "nodes", "halo");
                for (p, (s, h)) in q.sizes.iter().zip(&q.halo).enumerate() {
                    println!("{p:>6} {s:>12} {h:>12}");
                }
                println!("wrote {}", out.display());
            }
        }
        Command::Serve { snapshot: dir, book, part, listen, ready_file, token_file, max_nodes, max_fanout } => {
            let token = match &token_file {
                Some(f) => std::fs::read_to_string(f).with_context(|| format!("reading the token file {}", f.display()))?.trim().to_string(),
                None => std::env::var("FERROGRAPH_TOKEN").map_err(|_| anyhow::anyhow!("no token: give --token-file FILE or set FERROGRAPH_TOKEN"))?,
            };
            let limits = ferrograph_dist::ServerLimits { max_nodes, max_fanout, ..Default::default() };
            ferrograph_dist::serve(&dir, &book, part, &listen, ready_file.as_deref(), &token, limits)?;
        }
        Command::SplitEdges { snapshot: dir, relation, val, test, seed, out, heldout } => {
            let snap = snapshot::open(&dir)?;
            let (e, _) = snap.graph.schema().relation(&relation)?;
            let split = ferrograph_io::split::split_edges(snap.graph, e, val, test, seed)?;
            write_snapshot(&split.graph, &out, false, &bars)?;
            let held = heldout.unwrap_or_else(|| PathBuf::from(format!("{}-heldout", out.display())));
            std::fs::create_dir_all(&held).with_context(|| format!("creating {}", held.display()))?;
            for (name, pairs) in [("val", &split.val), ("val_neg", &split.val_neg), ("test", &split.test), ("test_neg", &split.test_neg)] {
                let flat: Vec<i64> = pairs.iter().flat_map(|p| [i64::from(p[0]), i64::from(p[1])]).collect();
                ferrograph_io::npy::write_npy_i64(&held.join(format!("{name}.npy")), &[pairs.len(), 2], &flat)?;
            }
            println!(
                "wrote {} (training graph) and {} ({} val, {} test edges, as many non-edges each)",
                out.display(),
                held.display(),
                split.val.len(),
                split.test.len()
            );
        }
        Command::Embed { config, checkpoint, output_layer, out } => {
            train::embed(&config, checkpoint.as_deref(), output_layer, &out, &bars)?;
        }
        Command::Recommend { snapshot: dir, model, user, k, json } => {
            let snap = snapshot::open(&dir)?;
            let recs = ferrograph_train::tasks::interactions::recommend(&snap.graph, &model, &user, k)?;
            if json {
                println!("{}", serde_json::json!({ "user": user, "items": recs }));
            } else {
                println!("top {} items for user {user}:", recs.len());
                for (i, r) in recs.iter().enumerate() {
                    println!("{:>4}  {:<20} {:.4}", i + 1, r.item, r.score);
                }
            }
        }
        Command::Import { config, out, force } => {
            if out.exists() && !force {
                anyhow::bail!("{}: already exists (use --force to replace it)", out.display());
            }
            let t = Instant::now();
            let g = ferrograph_io::import_file(&config, &bars)?;
            let read_s = t.elapsed().as_secs_f64();
            let write_s = write_snapshot(&g, &out, force, &bars)?;
            let counts: Vec<String> =
                g.schema().edge_types.iter().zip(g.edge_stores()).map(|(t, e)| format!("{} {}", t.relation, e.logical_edges(t.undirected))).collect();
            eprintln!(
                "imported {} in {read_s:.2}s, wrote in {write_s:.2}s (edges: {}; peak RSS {:.0} MiB)",
                out.display(),
                counts.join(", "),
                bench::proc_status_mib("VmHWM")
            );
        }
        Command::Info { dir, json } => {
            let m = snapshot::read_manifest(&dir)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info::to_json(&dir, &m))?);
            } else {
                print!("{}", info::to_text(&dir, &m));
            }
        }
        Command::Sample { dir, query, seed, epoch, batch, json, limits } => {
            use ferrograph_query::{PlanBatches, batch_seed, execute_batch};
            let limits = limits.limits();
            let plan = ferrograph_query::parse_with(&query, &limits).map_err(|e| anyhow::anyhow!("query {e}"))?;
            let snap = snapshot::open(&dir)?;
            let g = &snap.graph;
            plan.check_with(g, &limits).map_err(|e| anyhow::anyhow!("query {e}"))?;
            let batches = PlanBatches::new(&plan, g, seed).map_err(|e| anyhow::anyhow!("query {e}"))?;
            let per = batches.per_epoch();
            // An endless plan (`shuffle(traverse=False)`) runs on into the next epochs.
            let (epoch, index) = if batches.endless() && per > 0 { (epoch + (batch / per) as u64, batch % per) } else { (epoch, batch) };
            let Some(b) = batches.epoch(g, epoch).into_iter().nth(index) else {
                anyhow::bail!("--batch {batch}: the query has {per} batches per epoch");
            };
            let access = ferrograph_sample::LocalGraph::new(g);
            let r = execute_batch(&plan, g, &access, b, batch_seed(seed, epoch, index as u64), &limits).map_err(|e| anyhow::anyhow!("query {e}"))?;
            let j = r.to_json(&snap.graph);
            if json {
                println!("{}", serde_json::to_string(&j)?);
            } else {
                for a in j["aliases"].as_array().into_iter().flatten() {
                    let ids = a["ids"].as_array().map_or(0, Vec::len);
                    let shown: Vec<String> = a["ids"].as_array().into_iter().flatten().take(12).map(|v| v.to_string()).collect();
                    let more = if ids > 12 { ", …" } else { "" };
                    println!(
                        "{:<10} {:<10} {:>7} nodes  [{}{more}]",
                        a["alias"].as_str().unwrap_or(""),
                        a["type"].as_str().unwrap_or(""),
                        ids,
                        shown.join(", ")
                    );
                }
            }
        }
        Command::Blocks { dir, relation, fanouts, strategy, nodes, seed, epoch } => {
            use ferrograph_sample::neighbor::HopSpec;
            use ferrograph_sample::{LocalGraph, NeighborSampler, Relation, Strategy};
            let snap = snapshot::open(&dir)?;
            let g = &snap.graph;
            let rel = Relation::resolve(g, &relation)?;
            let st = Strategy::parse(&strategy).with_context(|| format!("--strategy: unknown strategy `{strategy}`"))?;
            let hops = fanouts.iter().map(|&fanout| HopSpec { relation: rel, fanout }).collect();
            let s = NeighborSampler::new(hops, st)?;
            let o = s.sample(&LocalGraph::new(g), &nodes, ferrograph_sample::rng::derive(seed, epoch))?;
            let j = serde_json::json!({
                "node": o.node, "row": o.row, "col": o.col,
                "num_sampled_nodes": o.num_sampled_nodes, "num_sampled_edges": o.num_sampled_edges,
            });
            println!("{}", serde_json::to_string(&j)?);
        }
        Command::Verify { dir } => {
            let r = snapshot::verify(&dir, &bars)?;
            println!("ok: {} files, {} verified", r.files, info::human_bytes(r.bytes));
        }
        Command::Generate(Generate::Rmat { nodes, edges, a, b, c, seed, output }) => {
            let p = Rmat { nodes, edges, a, b, c, seed };
            let t = Instant::now();
            let sp = progress::spinner("generate R-MAT edges");
            let (src, dst) = p.edges()?;
            sp.finish_and_clear();
            let gen_s = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let sp = progress::spinner("build CSR + CSC");
            let g = rmat_graph(nodes as usize, src, dst)?;
            sp.finish_and_clear();
            let build_s = t.elapsed().as_secs_f64();
            let write_s = write_snapshot(&g, &output.out, output.force, &bars)?;
            let e = &g.edge_stores()[0];
            let topo =
                e.out.offsets.byte_len() + e.out.targets.byte_len() + e.inn.as_ref().map_or(0, |c| c.offsets.byte_len() + c.targets.byte_len());
            println!(
                "RESULT {}",
                serde_json::json!({
                    "nodes": nodes, "edges": e.out.len(), "generate_s": gen_s, "build_s": build_s, "write_s": write_s,
                    "topology_bytes_per_edge": topo as f64 / e.out.len() as f64,
                    "peak_rss_mib": bench::proc_status_mib("VmHWM"), "out": output.out.display().to_string(),
                })
            );
        }
        Command::Generate(Generate::Planted { nodes, classes, avg_degree, p_in, feature_dim, noise, seed, output }) => {
            let p = Planted { nodes, classes, avg_degree, p_in, feature_dim, noise, seed, ..Planted::default() };
            let g = p.graph()?;
            write_snapshot(&g, &output.out, output.force, &bars)?;
            eprintln!("wrote {}", output.out.display());
        }
        Command::Generate(Generate::Multiplex { nodes, relations, communities, avg_degree, p_in, seed, output }) => {
            let g = Multiplex { nodes, relations, communities, avg_degree, p_in, seed }.graph()?;
            write_snapshot(&g, &output.out, output.force, &bars)?;
            eprintln!("wrote {}", output.out.display());
        }
        Command::Bench(Bench::Build { peers, tsv }) => {
            bench::build(&expand_home(&peers.data), peers.nodes, &peers.thread_counts, peers.reps.max(1), tsv)?;
        }
        Command::Bench(Bench::Open { dir }) => bench::open(&dir)?,
        Command::Bench(Bench::Remote { snapshot, data, servers, work, netns, delay_ms }) => {
            let netns = netns.then_some(delay_ms);
            bench::remote(&expand_home(&snapshot), &expand_home(&data), &servers, &work, netns)?;
        }
        Command::Bench(Bench::Node2vec { config, relation, label, walks, length, p, q, dim, window, epochs, seed, out }) => {
            let sg = ferrograph_shallow::skipgram::SkipGramConfig { dim, window, epochs, ..Default::default() };
            bench::node2vec(&config, &relation, &label, walks, length, p, q, &sg, seed, &out, &bars)?;
        }
        Command::Bench(Bench::Train { data, nodes, steps, work }) => {
            let data = expand_home(&data);
            let work = work.unwrap_or_else(|| data.join("ferrograph-train"));
            bench::train(&data, nodes, steps, &work, &bars)?;
        }
        Command::Bench(Bench::Sample { peers, strategy, output, features, snapshot }) => {
            let data = expand_home(&peers.data);
            bench::sample(bench::SampleOpts {
                data: &data,
                nodes: peers.nodes,
                threads: &peers.thread_counts,
                reps: peers.reps.max(1),
                strategy: &strategy,
                output: &output,
                features,
                snapshot: snapshot.as_deref(),
            })?;
        }
    }
    Ok(())
}

fn main() {
    ferrograph_train::tune_allocator();
    let cli = Cli::parse();
    let default = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    // Training runs its steps on the main thread, which joins the pool as
    // one of its workers: a step's parallel kernels then start on the
    // thread that asks for them instead of being handed to a sleeping
    // worker and waited for (at one thread, one hand-off per kernel).
    // Commands whose main thread blocks on other threads' pool work (the
    // graph server) keep a separate pool.
    let trains = matches!(cli.command, Command::Train { .. } | Command::Quickstart { .. } | Command::Bench(Bench::Train { .. }));
    if cli.threads.is_some() || trains {
        let t = cli.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let b = rayon::ThreadPoolBuilder::new().num_threads(t);
        if let Err(e) = (if trains { b.use_current_thread() } else { b }).build_global() {
            eprintln!("error: cannot start {t} threads: {e}");
            std::process::exit(2);
        }
    }
    if let Err(e) = run(cli) {
        // One line: the cause chain joined by ": ".
        let msg = format!("{e:#}").replace('\n', " ");
        eprintln!("error: {msg}");
        std::process::exit(1);
    }
}
