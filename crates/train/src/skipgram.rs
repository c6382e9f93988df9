//! Skip-gram with negative sampling over random walks (DeepWalk,
//! node2vec), trained the way word2vec does it: lock-free parallel SGD
//! ("Hogwild") over two embedding tables, a linearly decaying learning rate,
//! negatives drawn from the walk-frequency distribution raised to 0.75.
//!
//! The two tables are shared between threads without locks, as in
//! word2vec.c: a step reads the context row in place, scores the positive
//! and its negatives together (independent accumulators, so the dot
//! products do not wait on each other), updates each target row in place
//! and adds the accumulated gradient to the context row at the end, so
//! concurrent steps on one row may overwrite each other's update (the
//! Hogwild approximation). Kernels are explicit AVX-512 FMA code where the
//! CPU has it (chosen at run time) and portable Rust elsewhere. Noise nodes
//! come from an alias table in O(1).

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

// SAFETY: see the module docs: each step holds views of a few rows for the
// length of one update; racing updates of the same row from another thread
// lose one of the updates, which is word2vec's accepted approximation.
unsafe impl Send for Hogwild {}
unsafe impl Sync for Hogwild {}

impl Hogwild {
    /// Start of row `row`.
    #[inline(always)]
    fn row_ptr(&self, row: usize) -> *mut f32 {
        // Wrapping: computing the address is safe; callers keep `row` < rows.
        self.ptr.wrapping_add(row * self.dim)
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
pub(crate) struct Noise {
    /// Per cell: the acceptance threshold (probability · 2^24) and the alias.
    cells: Vec<(u32, u32)>,
}

impl Noise {
    pub(crate) fn new(walks: &[u32], n: usize) -> Noise {
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
        let cells = prob.iter().zip(alias).map(|(&p, a)| (((p * (1u64 << 24) as f64) as u64).min(1 << 24) as u32, a)).collect();
        Noise { cells }
    }

    /// One draw: a uniform cell, kept or replaced by its alias, without a
    /// branch (the choice is a coin flip the predictor cannot learn).
    #[inline(always)]
    pub(crate) fn draw(&self, rng: &mut SplitMix) -> u32 {
        let r = rng.next_u64();
        let i = (((r & 0xffff_ffff) * self.cells.len() as u64) >> 32) as usize;
        let u = (r >> 40) as u32;
        let (keep, alias) = self.cells[i];
        if u < keep { i as u32 } else { alias }
    }
}

/// Most targets (the positive and its negatives) scored together.
const MAX_GROUP: usize = 8;

/// The two vector kernels of a skip-gram step, per instruction set.
///
/// Scoring: dot products of the context row with up to [`MAX_GROUP`]
/// target rows in one pass, with independent accumulators. Scoring the
/// targets one after another (as word2vec does) chains every multiply-add
/// of a dot product on the previous one; interleaving keeps the FMA units
/// busy and changes nothing else: word2vec also scores every target of a
/// context against the same, not yet updated, context row.
///
/// Update: `grad += Σ g[q]·row_q` and `row_q += g[q]·context`, a vector of
/// lanes at a time with the context and the gradient held in registers.
trait Kernels {
    /// # Safety
    /// Each pointer addresses `center.len()` readable floats.
    unsafe fn dots(center: &[f32], rows: &[*const f32], out: &mut [f32; MAX_GROUP]);
    /// # Safety
    /// Each pointer addresses `center.len()` floats no other live reference
    /// covers; pointers may repeat (the row is then updated twice, in order).
    unsafe fn update(center: &[f32], grad: &mut [f32], rows: &[*mut f32], g: &[f32]);
}

/// Plain Rust, for CPUs without AVX2 and FMA.
struct Portable;

impl Kernels for Portable {
    #[inline(always)]
    unsafe fn dots(center: &[f32], rows: &[*const f32], out: &mut [f32; MAX_GROUP]) {
        for (o, &r) in out.iter_mut().zip(rows) {
            // SAFETY: see the contract.
            let row = unsafe { std::slice::from_raw_parts(r, center.len()) };
            let mut acc = [0f32; 8];
            let (ca, ra) = (center.chunks_exact(8), row.chunks_exact(8));
            let tail: f32 = ca.remainder().iter().zip(ra.remainder()).map(|(x, y)| x * y).sum();
            for (x, y) in ca.zip(ra) {
                for l in 0..8 {
                    acc[l] += x[l] * y[l];
                }
            }
            *o = acc.iter().sum::<f32>() + tail;
        }
    }

    #[inline(always)]
    unsafe fn update(center: &[f32], grad: &mut [f32], rows: &[*mut f32], g: &[f32]) {
        for (&r, &gq) in rows.iter().zip(g) {
            // SAFETY: see the contract; one view of the row at a time.
            let row = unsafe { std::slice::from_raw_parts_mut(r, center.len()) };
            for ((gr, tv), cv) in grad.iter_mut().zip(row.iter_mut()).zip(center) {
                *gr += gq * *tv;
                *tv += gq * cv;
            }
        }
    }
}

/// AVX-512 with fused multiply-adds (Rust does not contract `a * b + c`
/// into an FMA by itself, and the portable version spills its accumulators).
#[cfg(target_arch = "x86_64")]
struct Avx512;

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// Mask of the `len % 16` lanes of the tail.
    #[inline(always)]
    fn tail_mask(len: usize) -> __mmask16 {
        ((1u32 << (len % 16)) - 1) as __mmask16
    }

    /// # Safety
    /// AVX-512F is available; each pointer addresses `center.len()` floats.
    #[inline(always)]
    pub(super) unsafe fn dots<const M: usize>(center: &[f32], rows: &[*const f32], out: &mut [f32]) {
        let d = center.len();
        let full = d / 16 * 16;
        unsafe {
            let mut acc = [_mm512_setzero_ps(); M];
            let mut at = 0;
            while at < full {
                let cv = _mm512_loadu_ps(center.as_ptr().add(at));
                for m in 0..M {
                    acc[m] = _mm512_fmadd_ps(cv, _mm512_loadu_ps(rows[m].add(at)), acc[m]);
                }
                at += 16;
            }
            if full < d {
                let k = tail_mask(d);
                let cv = _mm512_maskz_loadu_ps(k, center.as_ptr().add(full));
                for m in 0..M {
                    acc[m] = _mm512_fmadd_ps(cv, _mm512_maskz_loadu_ps(k, rows[m].add(full)), acc[m]);
                }
            }
            for m in 0..M {
                out[m] = _mm512_reduce_add_ps(acc[m]);
            }
        }
    }

    /// # Safety
    /// AVX-512F is available; see `Kernels::update`.
    #[inline(always)]
    pub(super) unsafe fn update(center: &[f32], grad: &mut [f32], rows: &[*mut f32], g: &[f32]) {
        // Plain (unmasked) loads and stores for whole vectors: a load that
        // follows a masked store to the same place cannot take its value
        // from the store buffer, and the next step reads these rows at once.
        let d = center.len();
        let full = d / 16 * 16;
        unsafe {
            let mut at = 0;
            while at < full {
                let cv = _mm512_loadu_ps(center.as_ptr().add(at));
                let mut gr = _mm512_loadu_ps(grad.as_ptr().add(at));
                for (&p, &gq) in rows.iter().zip(g) {
                    let gv = _mm512_set1_ps(gq);
                    let tv = _mm512_loadu_ps(p.add(at));
                    gr = _mm512_fmadd_ps(gv, tv, gr);
                    _mm512_storeu_ps(p.add(at), _mm512_fmadd_ps(gv, cv, tv));
                }
                _mm512_storeu_ps(grad.as_mut_ptr().add(at), gr);
                at += 16;
            }
            if full < d {
                let k = tail_mask(d);
                let cv = _mm512_maskz_loadu_ps(k, center.as_ptr().add(full));
                let mut gr = _mm512_maskz_loadu_ps(k, grad.as_ptr().add(full));
                for (&p, &gq) in rows.iter().zip(g) {
                    let gv = _mm512_set1_ps(gq);
                    let tv = _mm512_maskz_loadu_ps(k, p.add(full));
                    gr = _mm512_fmadd_ps(gv, tv, gr);
                    _mm512_mask_storeu_ps(p.add(full), k, _mm512_fmadd_ps(gv, cv, tv));
                }
                _mm512_mask_storeu_ps(grad.as_mut_ptr().add(full), k, gr);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl Kernels for Avx512 {
    #[inline(always)]
    unsafe fn dots(center: &[f32], rows: &[*const f32], out: &mut [f32; MAX_GROUP]) {
        // SAFETY: only instantiated by the AVX-512 variant of the training
        // loop, which runs only where the CPU has AVX-512F.
        unsafe {
            match rows.len() {
                1 => avx512::dots::<1>(center, rows, out),
                2 => avx512::dots::<2>(center, rows, out),
                3 => avx512::dots::<3>(center, rows, out),
                4 => avx512::dots::<4>(center, rows, out),
                5 => avx512::dots::<5>(center, rows, out),
                6 => avx512::dots::<6>(center, rows, out),
                7 => avx512::dots::<7>(center, rows, out),
                _ => avx512::dots::<8>(center, rows, out),
            }
        }
    }

    #[inline(always)]
    unsafe fn update(center: &[f32], grad: &mut [f32], rows: &[*mut f32], g: &[f32]) {
        // SAFETY: as above.
        unsafe { avx512::update(center, grad, rows, g) }
    }
}

/// AVX2 with fused multiply-adds, 8 lanes (the same structure as
/// [`Avx512`], for CPUs without AVX-512, e.g. AMD EPYC before Zen 4).
#[cfg(target_arch = "x86_64")]
struct Avx2;

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// # Safety
    /// AVX2 and FMA are available.
    #[inline(always)]
    unsafe fn sum(v: __m256) -> f32 {
        unsafe {
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps::<1>(s, s)))
        }
    }

    /// # Safety
    /// AVX2 and FMA are available; each pointer addresses `center.len()` floats.
    #[inline(always)]
    pub(super) unsafe fn dots<const M: usize>(center: &[f32], rows: &[*const f32], out: &mut [f32]) {
        let d = center.len();
        let full = d / 8 * 8;
        unsafe {
            let mut acc = [_mm256_setzero_ps(); M];
            let mut at = 0;
            while at < full {
                let cv = _mm256_loadu_ps(center.as_ptr().add(at));
                for m in 0..M {
                    acc[m] = _mm256_fmadd_ps(cv, _mm256_loadu_ps(rows[m].add(at)), acc[m]);
                }
                at += 8;
            }
            for m in 0..M {
                let mut t = sum(acc[m]);
                for (i, &c) in center.iter().enumerate().skip(full) {
                    t += c * *rows[m].add(i);
                }
                out[m] = t;
            }
        }
    }

    /// # Safety
    /// AVX2 and FMA are available; see `Kernels::update`.
    #[inline(always)]
    pub(super) unsafe fn update(center: &[f32], grad: &mut [f32], rows: &[*mut f32], g: &[f32]) {
        let d = center.len();
        let full = d / 8 * 8;
        unsafe {
            let mut at = 0;
            while at < full {
                let cv = _mm256_loadu_ps(center.as_ptr().add(at));
                let mut gr = _mm256_loadu_ps(grad.as_ptr().add(at));
                for (&p, &gq) in rows.iter().zip(g) {
                    let gv = _mm256_set1_ps(gq);
                    let tv = _mm256_loadu_ps(p.add(at));
                    gr = _mm256_fmadd_ps(gv, tv, gr);
                    _mm256_storeu_ps(p.add(at), _mm256_fmadd_ps(gv, cv, tv));
                }
                _mm256_storeu_ps(grad.as_mut_ptr().add(at), gr);
                at += 8;
            }
            for (&p, &gq) in rows.iter().zip(g) {
                for (i, (gr, &c)) in grad.iter_mut().zip(center).enumerate().skip(full) {
                    let tv = *p.add(i);
                    *gr += gq * tv;
                    *p.add(i) = tv + gq * c;
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl Kernels for Avx2 {
    #[inline(always)]
    unsafe fn dots(center: &[f32], rows: &[*const f32], out: &mut [f32; MAX_GROUP]) {
        // SAFETY: only instantiated by the AVX2 variant of the training
        // loop, which runs only where the CPU has AVX2 and FMA.
        unsafe {
            match rows.len() {
                1 => avx2::dots::<1>(center, rows, out),
                2 => avx2::dots::<2>(center, rows, out),
                3 => avx2::dots::<3>(center, rows, out),
                4 => avx2::dots::<4>(center, rows, out),
                5 => avx2::dots::<5>(center, rows, out),
                6 => avx2::dots::<6>(center, rows, out),
                7 => avx2::dots::<7>(center, rows, out),
                _ => avx2::dots::<8>(center, rows, out),
            }
        }
    }

    #[inline(always)]
    unsafe fn update(center: &[f32], grad: &mut [f32], rows: &[*mut f32], g: &[f32]) {
        // SAFETY: as above.
        unsafe { avx2::update(center, grad, rows, g) }
    }
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
fn train_walks<K: Kernels>(
    sh: &Shared<'_>,
    walks: &[u32],
    walk_len: usize,
    range: std::ops::Range<usize>,
    lr_at: &dyn Fn() -> f32,
    rng: &mut SplitMix,
) {
    let d = sh.cfg.dim;
    let mut grad = vec![0f32; d];
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
                // The context row is read in place (word2vec: `syn0`), and
                // only written once, at the end of the step.
                // SAFETY: `ctx` < rows; no mutable view of `syn0` exists
                // while this one is alive (other threads race as word2vec's).
                let center = unsafe { std::slice::from_raw_parts(sh.syn0.row_ptr(ctx), d) };
                grad.fill(0.0);
                let centre = walk[i] as usize;
                let mut k = 0;
                while k <= sh.cfg.negatives {
                    // The positive first, then negatives (a draw of the
                    // centre itself is skipped, as in word2vec), in groups.
                    let mut ids = [0usize; MAX_GROUP];
                    let mut labels = [0f32; MAX_GROUP];
                    let mut m = 0;
                    while m < MAX_GROUP && k <= sh.cfg.negatives {
                        let t = if k == 0 { centre } else { sh.noise.draw(rng) as usize };
                        if k == 0 || t != centre {
                            ids[m] = t;
                            labels[m] = if k == 0 { 1.0 } else { 0.0 };
                            m += 1;
                        }
                        k += 1;
                    }
                    // Scores first (shared views of the rows), then one row at a
                    // time updated; a row drawn twice is updated twice, in order.
                    let mut ptrs = [std::ptr::null_mut(); MAX_GROUP];
                    for (p, &t) in ptrs.iter_mut().zip(&ids[..m]) {
                        *p = sh.syn1.row_ptr(t);
                    }
                    let mut score = [0f32; MAX_GROUP];
                    let cptrs: [*const f32; MAX_GROUP] = ptrs.map(|p| p as *const f32);
                    // SAFETY: every pointer addresses a whole row of the table.
                    unsafe { K::dots(center, &cptrs[..m], &mut score) };
                    let mut g = [0f32; MAX_GROUP];
                    for q in 0..m {
                        let x = score[q].clamp(-MAX_EXP, MAX_EXP);
                        let at = ((x + MAX_EXP) * (SIGMOID_STEPS as f32 / (2.0 * MAX_EXP))) as usize;
                        // SAFETY: `x` is clamped to ±MAX_EXP, so `at` <= SIGMOID_STEPS < len.
                        let sig = unsafe { *sh.sigmoid.get_unchecked(at.min(SIGMOID_STEPS)) };
                        g[q] = (labels[q] - sig) * lr;
                    }
                    // SAFETY: as above; no reference to the table is alive.
                    unsafe { K::update(center, &mut grad, &ptrs[..m], &g[..m]) };
                }
                // SAFETY: the read-only view above is no longer used.
                let row = unsafe { std::slice::from_raw_parts_mut(sh.syn0.row_ptr(ctx), d) };
                for (c, g) in row.iter_mut().zip(&grad) {
                    *c += g;
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn train_walks_avx512(sh: &Shared<'_>, walks: &[u32], walk_len: usize, range: std::ops::Range<usize>, lr_at: &dyn Fn() -> f32, rng: &mut SplitMix) {
    train_walks::<Avx512>(sh, walks, walk_len, range, lr_at, rng)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn train_walks_avx2(sh: &Shared<'_>, walks: &[u32], walk_len: usize, range: std::ops::Range<usize>, lr_at: &dyn Fn() -> f32, rng: &mut SplitMix) {
    train_walks::<Avx2>(sh, walks, walk_len, range, lr_at, rng)
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
    train_walks::<Portable>(sh, walks, walk_len, range, lr_at, rng)
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
