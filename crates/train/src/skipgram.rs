//! Skip-gram with negative sampling over random walks (DeepWalk,
//! node2vec), trained the way word2vec does it: lock-free parallel SGD
//! ("Hogwild") over two embedding tables, a linearly decaying learning rate,
//! negatives drawn from the walk-frequency distribution raised to 0.75.
//!
//! The tables are shared between threads as relaxed atomics (plain loads and
//! stores on x86, so no data race in Rust's sense); each pair's arithmetic
//! runs on local copies of the rows, and concurrent updates of one row may
//! overwrite each other, exactly the approximation word2vec makes.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use ferrograph_sample::rng::{SplitMix, derive};
use ferrograph_sample::walk::PAD;
use rayon::prelude::*;

/// Hyper-parameters.
#[derive(Clone, Debug)]
pub struct SkipGramConfig {
    /// Embedding width.
    pub dim: usize,
    /// Maximum context distance (each centre draws a window in `1..=window`).
    pub window: usize,
    /// Negatives per positive pair.
    pub negatives: usize,
    /// Passes over the walks.
    pub epochs: usize,
    /// Starting learning rate (decays linearly to `lr / 1e4`).
    pub lr: f32,
}

impl Default for SkipGramConfig {
    fn default() -> Self {
        SkipGramConfig { dim: 64, window: 5, negatives: 5, epochs: 1, lr: 0.025 }
    }
}

fn load(t: &[AtomicU32], row: usize, out: &mut [f32]) {
    let d = out.len();
    for (o, a) in out.iter_mut().zip(&t[row * d..(row + 1) * d]) {
        *o = f32::from_bits(a.load(Ordering::Relaxed));
    }
}

fn store(t: &[AtomicU32], row: usize, v: &[f32]) {
    let d = v.len();
    for (a, x) in t[row * d..(row + 1) * d].iter().zip(v) {
        a.store(x.to_bits(), Ordering::Relaxed);
    }
}

/// Cumulative negative-sampling weights `count^0.75` over nodes.
struct Noise {
    cdf: Vec<f64>,
}

impl Noise {
    fn new(walks: &[u32], n: usize) -> Noise {
        let mut count = vec![0u64; n];
        for &v in walks {
            if v != PAD {
                count[v as usize] += 1;
            }
        }
        let mut acc = 0.0;
        let cdf = count
            .iter()
            .map(|&c| {
                acc += (c as f64).powf(0.75);
                acc
            })
            .collect();
        Noise { cdf }
    }

    fn draw(&self, rng: &mut SplitMix) -> usize {
        let total = *self.cdf.last().unwrap_or(&0.0);
        let x = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
        self.cdf.partition_point(|&c| c <= x).min(self.cdf.len() - 1)
    }
}

/// Trains `n × dim` node embeddings on `walks` (each `walk_len` long,
/// padded with [`PAD`]); returns the input table, row-major.
pub fn train_skipgram(walks: &[u32], walk_len: usize, n: usize, cfg: &SkipGramConfig, seed: u64) -> Vec<f32> {
    let d = cfg.dim;
    let mut init = SplitMix::new(seed);
    let syn0: Vec<AtomicU32> =
        (0..n * d).map(|_| AtomicU32::new((((init.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) / d as f32).to_bits())).collect();
    let syn1: Vec<AtomicU32> = (0..n * d).map(|_| AtomicU32::new(0f32.to_bits())).collect();
    if walks.is_empty() || n == 0 {
        return syn0.into_iter().map(|a| f32::from_bits(a.into_inner())).collect();
    }
    let noise = Noise::new(walks, n);
    let n_walks = walks.len() / walk_len;
    let total = (n_walks * cfg.epochs) as f64;
    let done = AtomicU64::new(0);
    const WALKS_PER_TASK: usize = 64;
    for epoch in 0..cfg.epochs {
        (0..n_walks.div_ceil(WALKS_PER_TASK)).into_par_iter().for_each(|task| {
            let mut rng = SplitMix::new(derive(derive(seed, epoch as u64 + 1), task as u64));
            let (mut center, mut target, mut grad) = (vec![0f32; d], vec![0f32; d], vec![0f32; d]);
            for w in task * WALKS_PER_TASK..((task + 1) * WALKS_PER_TASK).min(n_walks) {
                let progress = done.fetch_add(1, Ordering::Relaxed) as f64 / total;
                let lr = (cfg.lr as f64 * (1.0 - progress)).max(cfg.lr as f64 * 1e-4) as f32;
                let walk = &walks[w * walk_len..(w + 1) * walk_len];
                let len = walk.iter().position(|&v| v == PAD).unwrap_or(walk_len);
                for i in 0..len {
                    let b = 1 + rng.below(cfg.window as u64) as usize;
                    for j in i.saturating_sub(b)..(i + b + 1).min(len) {
                        if j == i {
                            continue;
                        }
                        // word2vec's orientation: the context word's input
                        // vector predicts the centre (and negatives) through
                        // the output table.
                        let ctx = walk[j] as usize;
                        load(&syn0, ctx, &mut center);
                        grad.iter_mut().for_each(|g| *g = 0.0);
                        for k in 0..=cfg.negatives {
                            let (t, label) = if k == 0 {
                                (walk[i] as usize, 1.0)
                            } else {
                                let t = noise.draw(&mut rng);
                                if t == walk[i] as usize {
                                    continue;
                                }
                                (t, 0.0)
                            };
                            load(&syn1, t, &mut target);
                            let dot: f32 = center.iter().zip(&target).map(|(a, b)| a * b).sum();
                            let g = (label - 1.0 / (1.0 + (-dot.clamp(-6.0, 6.0)).exp())) * lr;
                            for ((gr, tv), cv) in grad.iter_mut().zip(target.iter_mut()).zip(&center) {
                                *gr += g * *tv;
                                *tv += g * cv;
                            }
                            store(&syn1, t, &target);
                        }
                        for (c, g) in center.iter_mut().zip(&grad) {
                            *c += g;
                        }
                        store(&syn0, ctx, &center);
                    }
                }
            }
        });
    }
    syn0.into_iter().map(|a| f32::from_bits(a.into_inner())).collect()
}
