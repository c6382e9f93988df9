//! Skip-gram on a large synthetic walk set (the Hogwild path: tables above
//! 2^20 floats): uniform random walks over `--nodes` nodes, dim 128,
//! window 5, 5 negatives, one epoch. Threads: `RAYON_NUM_THREADS`.
//!
//!     cargo run --release -p ferrograph-shallow --example skipgram_large -- --nodes 200000 --walks 100000 --length 40 --seed 1
//!
//! Prints one `RESULT {json}` line: training seconds and tokens per second.

use std::time::Instant;

use ferrograph_sample::rng::SplitMix;
use ferrograph_shallow::skipgram::{SkipGramConfig, train_skipgram};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map_or(default, |v| v.parse().expect("a number"))
}

fn main() {
    let (n, walks, length, seed) = (arg("--nodes", 200_000), arg("--walks", 100_000), arg("--length", 40), arg("--seed", 1) as u64);
    let mut rng = SplitMix::new(seed);
    let data: Vec<u32> = (0..walks * length).map(|_| rng.below(n as u64) as u32).collect();
    let cfg = SkipGramConfig { dim: 128, window: 5, negatives: 5, epochs: 1, lr: 0.025 };
    let t0 = Instant::now();
    let emb = train_skipgram(&data, length, n, &cfg, seed);
    let s = t0.elapsed().as_secs_f64();
    let finite = emb.iter().all(|x| x.is_finite());
    println!(
        "RESULT {{\"nodes\": {n}, \"walks\": {walks}, \"length\": {length}, \"threads\": {}, \"train_s\": {s:.4}, \"tokens_per_s\": {:.0}, \"finite\": {finite}}}",
        rayon::current_num_threads(),
        (walks * length) as f64 / s
    );
}
