//! node2vec on an imported graph, as `ferrograph bench node2vec` does it
//! (the CLI's bench, runnable while the CLI does not build): walks (walk
//! seed 1), skip-gram (timed: `SkipGram::new` plus the epochs), and
//! `walks.npy` (−1 after a dead end), `ours.npy`, `labels.npy` in `--out`
//! for `bench/peers/node2vec_gensim.py`. Threads: `RAYON_NUM_THREADS`.
//!
//!     cargo run --release -p ferrograph-shallow --example node2vec_email -- \
//!         --config configs/snap-email-eu-core.toml --seed 0 --out /tmp/n2v
//!
//! Defaults: relation `emails`, label `department`, 10 walks × 80 steps per
//! node, p = q = 1, dim 128, window 5, 5 negatives, 1 epoch; `--chunk W`
//! trains each epoch in ranges of W walks (an outside epoch loop's steps).
//! Prints one `RESULT {json}` line.

use std::path::PathBuf;
use std::time::Instant;

use ferrograph_graph::column::Column;
use ferrograph_graph::progress::NoProgress;
use ferrograph_io::npy;
use ferrograph_sample::walk::{PAD, Walker};
use ferrograph_sample::{LocalGraph, Relation};
use ferrograph_shallow::StepStats;
use ferrograph_shallow::skipgram::{SkipGram, SkipGramConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let num = |name: &str, default: usize| get(name).map_or(Ok(default), |v| v.parse::<usize>());
    let config = PathBuf::from(get("--config").unwrap_or_else(|| "configs/snap-email-eu-core.toml".into()));
    let relation = get("--relation").unwrap_or_else(|| "emails".into());
    let label = get("--label").unwrap_or_else(|| "department".into());
    let out = PathBuf::from(get("--out").unwrap_or_else(|| "/tmp/node2vec".into()));
    let (walks_per_node, length, seed) = (num("--walks-per-node", 10)?, num("--length", 80)?, num("--seed", 0)? as u64);
    let cfg = SkipGramConfig {
        dim: num("--dim", 128)?,
        window: num("--window", 5)?,
        negatives: num("--negatives", 5)?,
        epochs: num("--epochs", 1)?,
        lr: 0.025,
    };
    let chunk = num("--chunk", 0)?;

    let g = ferrograph_io::import_file(&config, &NoProgress)?;
    let rel = Relation::resolve(&g, &relation)?;
    let n = g.node_count(rel.from);
    let labels: Vec<i64> = match g.node_column(rel.from, &label)? {
        Column::Int(a) => a.as_slice().to_vec(),
        _ => return Err(format!("column `{label}` is not an integer column").into()),
    };
    let walker = Walker::node2vec(rel, length, 1.0, 1.0)?;
    let starts: Vec<u32> = (0..walks_per_node).flat_map(|_| 0..n as u32).collect();
    let t0 = Instant::now();
    let walks = walker.walks(&LocalGraph::new(&g), &starts, 1)?;
    let walk_s = t0.elapsed().as_secs_f64();
    let len = length + 1;

    let t1 = Instant::now();
    let mut model = SkipGram::new(n, &walks, len, &cfg, seed)?;
    let mut losses = Vec::new();
    for epoch in 0..cfg.epochs {
        let step = if chunk == 0 { model.walks() } else { chunk };
        let mut s = StepStats::default();
        for lo in (0..model.walks()).step_by(step.max(1)) {
            s += model.train_range(&walks, len, epoch, lo..(lo + step).min(model.walks()))?;
        }
        losses.push(s.mean_loss());
    }
    let emb = model.embeddings();
    let train_s = t1.elapsed().as_secs_f64();

    std::fs::create_dir_all(&out)?;
    let w: Vec<i64> = walks.iter().map(|&v| if v == PAD { -1 } else { i64::from(v) }).collect();
    npy::write_npy_i64(&out.join("walks.npy"), &[starts.len(), len], &w)?;
    npy::write_npy_f32(&out.join("ours.npy"), &[n, cfg.dim], &emb)?;
    npy::write_npy_i64(&out.join("labels.npy"), &[n], &labels)?;
    let tokens = walks.iter().filter(|&&v| v != PAD).count();
    println!(
        "RESULT {{\"system\": \"ferrograph\", \"nodes\": {n}, \"walks\": {}, \"tokens\": {tokens}, \"walk_s\": {walk_s:.4}, \"train_s\": {train_s:.4}, \"tokens_per_s\": {:.0}, \"threads\": {}, \"dim\": {}, \"window\": {}, \"negatives\": {}, \"epochs\": {}, \"seed\": {seed}, \"chunk\": {chunk}, \"loss_per_epoch\": {losses:?}}}",
        starts.len(),
        (tokens * cfg.epochs) as f64 / train_s,
        rayon::current_num_threads(),
        cfg.dim,
        cfg.window,
        cfg.negatives,
        cfg.epochs,
    );
    Ok(())
}
