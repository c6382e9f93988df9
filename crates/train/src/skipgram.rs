//! Skip-gram with negative sampling over random walks (DeepWalk,
//! node2vec), trained the way word2vec does it: lock-free parallel SGD
//! ("Hogwild") over two embedding tables, a linearly decaying learning rate,
//! negatives drawn from the walk-frequency distribution raised to 0.75.
//!
//! The two tables are shared between threads without locks, as in
//! word2vec.c and finalfrontier: each (context, target) step copies the rows
//! it needs into thread-local buffers, computes there (vectorised: AVX-512 or
//! AVX2 when the CPU has them, chosen at run time) and copies the rows back,
//! so concurrent steps on one row may overwrite each other's update (the
//! Hogwild approximation). Noise nodes come from an alias table in O(1).

use std::sync::atomic::{AtomicU64, Ordering};

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

/// A table written by several threads without synchronisation (Hogwild).
struct Hogwild {
    ptr: *mut f32,
    dim: usize,
}

// SAFETY: see the module docs: rows are only copied in and out whole with
// `copy_nonoverlapping` at well-defined points; racing updates of the same
// row lose one of the updates, which is the algorithm's accepted
// approximation. No reference to the shared memory is ever held across
// those copies.
unsafe impl Send for Hogwild {}
unsafe impl Sync for Hogwild {}

impl Hogwild {
    #[inline(always)]
    fn read(&self, row: usize, out: &mut [f32]) {
        // SAFETY: `row` < rows (callers index nodes of the graph) and `out`
        // has `dim` elements; the source stays allocated for the whole
        // training (the owning Vec outlives every thread).
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.add(row * self.dim), out.as_mut_ptr(), self.dim) }
    }

    #[inline(always)]
    fn write(&self, row: usize, v: &[f32]) {
        // SAFETY: as in `read`.
        unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), self.ptr.add(row * self.dim), self.dim) }
    }

    /// Row `row` for one in-place update (a plain function, not a closure,
    /// so that it is compiled with the caller's instruction set).
    ///
    /// # Safety
    /// The slice must not outlive the update; other threads touching the
    /// same row race as word2vec's do (see the module docs).
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    unsafe fn row_mut(&self, row: usize) -> &mut [f32] {
        // SAFETY: `row` < rows; see the function's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(row * self.dim), self.dim) }
    }
}

const MAX_EXP: f32 = 6.0;
const SIGMOID_STEPS: usize = 1000;

/// word2vec's sigmoid table over [-6, 6].
fn sigmoid_table() -> Vec<f32> {
    (0..=SIGMOID_STEPS)
        .map(|i| {
            let x = (i as f32 / SIGMOID_STEPS as f32 * 2.0 - 1.0) * MAX_EXP;
            1.0 / (1.0 + (-x).exp())
        })
        .collect()
}

/// Walker's alias table over `count^0.75` (O(1) draws).
struct Noise {
    prob: Vec<f32>,
    alias: Vec<u32>,
}

impl Noise {
    fn new(walks: &[u32], n: usize) -> Noise {
        let mut count = vec![0u64; n];
        for &v in walks {
            if v != PAD {
                count[v as usize] += 1;
            }
        }
        let w: Vec<f64> = count.iter().map(|&c| (c as f64).powf(0.75)).collect();
        let total: f64 = w.iter().sum();
        let mut prob: Vec<f64> = w.iter().map(|x| x * n as f64 / total.max(f64::MIN_POSITIVE)).collect();
        let mut alias = vec![0u32; n];
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| prob[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            alias[s] = l as u32;
            prob[l] -= 1.0 - prob[s];
            if prob[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        for i in large.into_iter().chain(small) {
            prob[i] = 1.0;
        }
        Noise { prob: prob.into_iter().map(|p| p as f32).collect(), alias }
    }

    #[inline(always)]
    fn draw(&self, rng: &mut SplitMix) -> usize {
        let r = rng.next_u64();
        let i = (((r & 0xffff_ffff) * self.prob.len() as u64) >> 32) as usize;
        let u = (r >> 40) as f32 / (1u64 << 24) as f32;
        if u < self.prob[i] { i } else { self.alias[i] as usize }
    }
}

#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..16 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

struct Shared<'a> {
    syn0: Hogwild,
    syn1: Hogwild,
    noise: &'a Noise,
    sigmoid: Vec<f32>,
    cfg: &'a SkipGramConfig,
}

/// Trains on a range of walks; compiled once per instruction set (no
/// closures inside, so that everything inlines into the `target_feature`
/// variants).
#[inline(always)]
fn train_walks(sh: &Shared<'_>, walks: &[u32], walk_len: usize, range: std::ops::Range<usize>, lr_at: &dyn Fn() -> f32, rng: &mut SplitMix) {
    let d = sh.cfg.dim;
    let (mut center, mut grad) = (vec![0f32; d], vec![0f32; d]);
    for w in range {
        let lr = lr_at();
        let walk = &walks[w * walk_len..(w + 1) * walk_len];
        let len = walk.iter().position(|&v| v == PAD).unwrap_or(walk_len);
        for i in 0..len {
            let b = 1 + rng.below(sh.cfg.window as u64) as usize;
            for j in i.saturating_sub(b)..(i + b + 1).min(len) {
                if j == i {
                    continue;
                }
                // word2vec's orientation: the context node's input vector
                // predicts the centre (and the negatives) through the
                // output table.
                let ctx = walk[j] as usize;
                sh.syn0.read(ctx, &mut center);
                grad.fill(0.0);
                for k in 0..=sh.cfg.negatives {
                    let (t, label) = if k == 0 {
                        (walk[i] as usize, 1.0)
                    } else {
                        let t = sh.noise.draw(rng);
                        if t == walk[i] as usize {
                            continue;
                        }
                        (t, 0.0)
                    };
                    // SAFETY: the slice is dropped at the end of this step.
                    let target = unsafe { sh.syn1.row_mut(t) };
                    let x = dot(&center, target).clamp(-MAX_EXP, MAX_EXP);
                    let sig = sh.sigmoid[((x + MAX_EXP) * (SIGMOID_STEPS as f32 / (2.0 * MAX_EXP))) as usize];
                    let g = (label - sig) * lr;
                    for ((gr, tv), cv) in grad.iter_mut().zip(target.iter_mut()).zip(&center) {
                        *gr += g * *tv;
                        *tv += g * cv;
                    }
                }
                for (c, g) in center.iter_mut().zip(&grad) {
                    *c += g;
                }
                sh.syn0.write(ctx, &center);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn train_walks_avx512(sh: &Shared<'_>, walks: &[u32], walk_len: usize, range: std::ops::Range<usize>, lr_at: &dyn Fn() -> f32, rng: &mut SplitMix) {
    train_walks(sh, walks, walk_len, range, lr_at, rng)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn train_walks_avx2(sh: &Shared<'_>, walks: &[u32], walk_len: usize, range: std::ops::Range<usize>, lr_at: &dyn Fn() -> f32, rng: &mut SplitMix) {
    train_walks(sh, walks, walk_len, range, lr_at, rng)
}

fn train_walks_best(sh: &Shared<'_>, walks: &[u32], walk_len: usize, range: std::ops::Range<usize>, lr_at: &dyn Fn() -> f32, rng: &mut SplitMix) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the features the function was compiled for.
            return unsafe { train_walks_avx512(sh, walks, walk_len, range, lr_at, rng) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { train_walks_avx2(sh, walks, walk_len, range, lr_at, rng) };
        }
    }
    train_walks(sh, walks, walk_len, range, lr_at, rng)
}

/// Trains `n × dim` node embeddings on `walks` (each `walk_len` long,
/// padded with [`PAD`]); returns the input table, row-major.
pub fn train_skipgram(walks: &[u32], walk_len: usize, n: usize, cfg: &SkipGramConfig, seed: u64) -> Vec<f32> {
    let d = cfg.dim;
    let mut init = SplitMix::new(seed);
    let mut syn0: Vec<f32> = (0..n * d).map(|_| ((init.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) / d as f32).collect();
    let mut syn1 = vec![0f32; n * d];
    if walks.is_empty() || n == 0 || walk_len == 0 {
        return syn0;
    }
    let noise = Noise::new(walks, n);
    let n_walks = walks.len() / walk_len;
    let total = (n_walks * cfg.epochs) as f64;
    let done = AtomicU64::new(0);
    let sh = Shared {
        syn0: Hogwild { ptr: syn0.as_mut_ptr(), dim: d },
        syn1: Hogwild { ptr: syn1.as_mut_ptr(), dim: d },
        noise: &noise,
        sigmoid: sigmoid_table(),
        cfg,
    };
    let lr_at = || {
        let progress = done.fetch_add(1, Ordering::Relaxed) as f64 / total;
        (cfg.lr as f64 * (1.0 - progress)).max(cfg.lr as f64 * 1e-4) as f32
    };
    const WALKS_PER_TASK: usize = 64;
    // With few nodes, threads keep writing the same rows and the cache lines
    // bounce between cores: measured on email-Eu-core (1,005 nodes), two
    // threads ran at half the speed of one. Below this size, one thread.
    const PARALLEL_MIN_NODES: usize = 20_000;
    for epoch in 0..cfg.epochs {
        let task = |task: usize| {
            let mut rng = SplitMix::new(derive(derive(seed, epoch as u64 + 1), task as u64));
            let range = task * WALKS_PER_TASK..((task + 1) * WALKS_PER_TASK).min(n_walks);
            train_walks_best(&sh, walks, walk_len, range, &lr_at, &mut rng);
        };
        let tasks = n_walks.div_ceil(WALKS_PER_TASK);
        if n < PARALLEL_MIN_NODES {
            (0..tasks).for_each(task);
        } else {
            (0..tasks).into_par_iter().for_each(task);
        }
    }
    syn0
}
