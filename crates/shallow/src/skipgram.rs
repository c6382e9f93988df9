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
#[derive(Clone, Copy)]
struct Hogwild {
    ptr: *mut f32,
    /// Floats from one row to the next (the width rounded up to a cache line).
    stride: usize,
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
        self.ptr.wrapping_add(row * self.stride)
    }
}

/// One cache line of floats; tables are vectors of these so that every row
/// starts on a cache line. A vector load that straddles two lines costs two,
/// and a store that straddles them cannot forward to the load of the next
/// step that reads the same row (measured: TODO).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// `rows` rows of `stride` floats (a multiple of 16), cache-line aligned.
#[derive(Clone)]
struct Table {
    lines: Vec<Line>,
    stride: usize,
}

impl Table {
    fn new(rows: usize, dim: usize) -> Table {
        let stride = dim.next_multiple_of(16);
        Table { lines: vec![Line([0.0; 16]); rows * stride / 16], stride }
    }

    fn floats(&mut self) -> &mut [f32] {
        // SAFETY: `Line` is 16 floats with no padding (64 bytes, align 64).
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<f32>(), self.lines.len() * 16) }
    }

    fn hogwild(&mut self) -> Hogwild {
        Hogwild { ptr: self.floats().as_mut_ptr(), stride: self.stride }
    }

    /// The first `dim` floats of each row, rows packed.
    fn packed(mut self, dim: usize) -> Vec<f32> {
        let stride = self.stride;
        self.floats().chunks_exact(stride).flat_map(|r| r[..dim].iter().copied()).collect()
    }
}

/// Scores are clamped to ±this before the sigmoid (word2vec's table covers
/// the same range).
const MAX_EXP: f32 = 6.0;

/// Walker's alias table over `count^0.75` (O(1) draws).
pub(crate) struct Noise {
    /// Per cell: the acceptance threshold (probability · 2^24) and the alias.
    cells: Vec<(u32, u32)>,
    /// Nodes in the walks (pads excluded).
    tokens: usize,
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
        Noise { cells, tokens: count.iter().sum::<u64>() as usize }
    }

    /// One draw: a uniform cell, kept or replaced by its alias, without a
    /// branch (the choice is a coin flip the predictor cannot learn).
    #[inline(always)]
    pub(crate) fn draw(&self, rng: &mut SplitMix) -> u32 {
        let r = rng.next_u64();
        let i = (((r & 0xffff_ffff) * self.cells.len() as u64) >> 32) as usize;
        let u = (r >> 40) as u32;
        let (keep, alias) = self.cells[i];
        std::hint::select_unpredictable(u < keep, i as u32, alias)
    }
}

/// Most targets (the positive and its negatives) scored together.
const MAX_GROUP: usize = 8;

/// One group of a skip-gram pair, per instruction set.
///
/// A pair is the context row `c` (word2vec's `syn0`, read in place) against
/// the positive and the negatives (rows `t_q` of `syn1`), `M` ≤
/// [`MAX_GROUP`] of them at a time:
///
/// 1. scores `s_q = c·t_q`, all rows in one pass with independent
///    accumulators (scoring the targets one after another, as word2vec
///    does, chains every multiply-add of a dot product on the previous
///    one; interleaving changes nothing else, since word2vec also scores
///    every target against the same, not yet updated, context row);
/// 2. coefficients `g_q = (label_q − σ(s_q))·coef_q` (label 1 for the
///    positive, lane 0 of a group that starts with it, else 0), the
///    horizontal sums, the sigmoid and the products for all rows at once in
///    one vector (`coef` is the learning rate, or 0 for a negative that is
///    the positive itself: word2vec skips those);
/// 3. `t_q += g_q·c` and `acc += Σ g_q·t_q` (the rows as they were), where
///    `acc` is the context's gradient so far, kept in `grad` between calls
///    (`first`: it starts at zero; `last`: it is added to `c` instead of
///    stored). The context row is thus read by every call and written by
///    the last one only.
///
/// `M` is a compile-time constant, so the row pointers and coefficients
/// stay in registers.
trait Kernels {
    /// # Safety
    /// `ctx`, `grad` and every row address `d` floats no live reference
    /// covers; the rows do not overlap `ctx` or `grad`, but may repeat
    /// (a repeated row is then updated twice, in order). `grad` is read
    /// unless `first` and written unless `last`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn step<const M: usize>(
        ctx: *mut f32,
        d: usize,
        grad: *mut f32,
        rows: &[*mut f32; M],
        positive: bool,
        coef: &[f32; M],
        first: bool,
        last: bool,
    );
}

/// The logistic function on a score clamped to ±[`MAX_EXP`] (word2vec's
/// table covers the same range).
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x.clamp(-MAX_EXP, MAX_EXP)).exp())
}

/// Plain Rust, for CPUs without AVX2 and FMA.
struct Portable;

impl Kernels for Portable {
    #[inline(always)]
    unsafe fn step<const M: usize>(
        ctx: *mut f32,
        d: usize,
        grad: *mut f32,
        rows: &[*mut f32; M],
        positive: bool,
        coef: &[f32; M],
        first: bool,
        last: bool,
    ) {
        let mut g = [0f32; M];
        for q in 0..M {
            let r = rows[q];
            let mut acc = [0f32; 8];
            let mut s = 0.0;
            let mut i = 0;
            while i + 8 <= d {
                for (l, a) in acc.iter_mut().enumerate() {
                    // SAFETY: see the contract; `i + l` < d.
                    *a += unsafe { *ctx.add(i + l) * *r.add(i + l) };
                }
                i += 8;
            }
            for i in i..d {
                // SAFETY: as above.
                s += unsafe { *ctx.add(i) * *r.add(i) };
            }
            let label = if positive && q == 0 { 1.0 } else { 0.0 };
            g[q] = (label - sigmoid(acc.iter().sum::<f32>() + s)) * coef[q];
        }
        // SAFETY: see the contract.
        unsafe { scalar_update(ctx, 0..d, grad, rows, &g, first, last) };
    }
}

/// Step 3 of [`Kernels::step`] one float at a time, over `lanes` (the
/// portable kernel's whole row, the AVX2 kernel's tail).
///
/// # Safety
/// As [`Kernels::step`], for the floats in `lanes`.
#[inline(always)]
unsafe fn scalar_update<const M: usize>(
    ctx: *mut f32,
    lanes: std::ops::Range<usize>,
    grad: *mut f32,
    rows: &[*mut f32; M],
    g: &[f32],
    first: bool,
    last: bool,
) {
    for i in lanes {
        // SAFETY: see the contract.
        unsafe {
            let cv = *ctx.add(i);
            let mut acc = if first { 0.0 } else { *grad.add(i) };
            for (&p, &gq) in rows.iter().zip(g) {
                let tv = *p.add(i);
                acc += gq * tv;
                *p.add(i) = tv + gq * cv;
            }
            if last {
                *ctx.add(i) = cv + acc;
            } else {
                *grad.add(i) = acc;
            }
        }
    }
}

/// Eight-lane helpers shared by the AVX2 and AVX-512 kernels.
#[cfg(target_arch = "x86_64")]
mod lanes8 {
    use std::arch::x86_64::*;

    /// The eight horizontal sums `[Σ v0, Σ v1, …, Σ v7]`.
    ///
    /// # Safety
    /// AVX is available.
    #[inline(always)]
    pub(super) unsafe fn sums(v: &[__m256; 8]) -> __m256 {
        unsafe {
            let a = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
            let b = _mm256_hadd_ps(_mm256_hadd_ps(v[4], v[5]), _mm256_hadd_ps(v[6], v[7]));
            _mm256_add_ps(_mm256_permute2f128_ps::<0x20>(a, b), _mm256_permute2f128_ps::<0x31>(a, b))
        }
    }

    /// `(label − σ(x))·coef` per lane (label 1 in lane 0 if `positive`,
    /// else 0; `coef` 0 beyond `M`), σ on `x` clamped to ±MAX_EXP, with
    /// `e^−x` as `2^n·2^f` (`n` an integer, `|f| ≤ ½`, `2^f` by its
    /// degree-5 Taylor polynomial: relative error under 3·10⁻⁷).
    ///
    /// # Safety
    /// AVX2 and FMA are available.
    #[inline(always)]
    pub(super) unsafe fn coefficients<const M: usize>(x: __m256, positive: bool, coef: &[f32; M]) -> __m256 {
        let c8: [f32; 8] = std::array::from_fn(|q| if q < M { coef[q] } else { 0.0 });
        unsafe {
            let lim = _mm256_set1_ps(super::MAX_EXP);
            let x = _mm256_min_ps(_mm256_max_ps(x, _mm256_sub_ps(_mm256_setzero_ps(), lim)), lim);
            let t = _mm256_mul_ps(x, _mm256_set1_ps(-std::f32::consts::LOG2_E));
            let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(t);
            let f = _mm256_sub_ps(t, n);
            let c = [std::f32::consts::LN_2, 0.240_226_5, 0.055_504_11, 0.009_618_129, 0.001_333_355];
            let mut p = _mm256_set1_ps(c[4]);
            for &k in c[..4].iter().rev() {
                p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(k));
            }
            p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0));
            let scale = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127))));
            let e = _mm256_mul_ps(p, scale);
            let sig = _mm256_div_ps(_mm256_set1_ps(1.0), _mm256_add_ps(_mm256_set1_ps(1.0), e));
            let label = _mm256_setr_ps(if positive { 1.0 } else { 0.0 }, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
            _mm256_mul_ps(_mm256_sub_ps(label, sig), _mm256_loadu_ps(c8.as_ptr()))
        }
    }
}

/// AVX-512 with fused multiply-adds (Rust does not contract `a * b + c`
/// into an FMA by itself, and the portable version spills its accumulators).
#[cfg(target_arch = "x86_64")]
struct Avx512;

#[cfg(target_arch = "x86_64")]
impl Kernels for Avx512 {
    /// Only instantiated by the AVX-512 variant of the training loop,
    /// which runs only where the CPU has AVX-512F, AVX2 and FMA.
    #[inline(always)]
    unsafe fn step<const M: usize>(
        ctx: *mut f32,
        d: usize,
        grad: *mut f32,
        rows: &[*mut f32; M],
        positive: bool,
        coef: &[f32; M],
        first: bool,
        last: bool,
    ) {
        use std::arch::x86_64::*;
        // Mask of the `d % 16` lanes of the tail.
        let k = ((1u32 << (d % 16)) - 1) as __mmask16;
        // Plain (unmasked) loads and stores for whole vectors: a load that
        // follows a masked store to the same place cannot take its value
        // from the store buffer, and the next pair reads these rows at once.
        let full = d / 16 * 16;
        // SAFETY: see the contract; every offset is below `d` (masked tail).
        unsafe {
            let mut acc = [_mm512_setzero_ps(); M];
            let mut at = 0;
            while at < full {
                let cv = _mm512_loadu_ps(ctx.add(at));
                for m in 0..M {
                    acc[m] = _mm512_fmadd_ps(cv, _mm512_loadu_ps(rows[m].add(at)), acc[m]);
                }
                at += 16;
            }
            if full < d {
                let cv = _mm512_maskz_loadu_ps(k, ctx.add(full));
                for m in 0..M {
                    acc[m] = _mm512_fmadd_ps(cv, _mm512_maskz_loadu_ps(k, rows[m].add(full)), acc[m]);
                }
            }
            let halves: [__m256; 8] = std::array::from_fn(|m| {
                if m < M {
                    let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(acc[m])));
                    _mm256_add_ps(_mm512_castps512_ps256(acc[m]), hi)
                } else {
                    _mm256_setzero_ps()
                }
            });
            let mut g = [0f32; 8];
            _mm256_storeu_ps(g.as_mut_ptr(), lanes8::coefficients(lanes8::sums(&halves), positive, coef));
            let gv: [__m512; M] = std::array::from_fn(|m| _mm512_set1_ps(g[m]));
            let mut at = 0;
            while at < full {
                let cv = _mm512_loadu_ps(ctx.add(at));
                let mut acc = if first { _mm512_setzero_ps() } else { _mm512_loadu_ps(grad.add(at)) };
                for m in 0..M {
                    let tv = _mm512_loadu_ps(rows[m].add(at));
                    acc = _mm512_fmadd_ps(gv[m], tv, acc);
                    _mm512_storeu_ps(rows[m].add(at), _mm512_fmadd_ps(gv[m], cv, tv));
                }
                if last {
                    _mm512_storeu_ps(ctx.add(at), _mm512_add_ps(cv, acc));
                } else {
                    _mm512_storeu_ps(grad.add(at), acc);
                }
                at += 16;
            }
            if full < d {
                let cv = _mm512_maskz_loadu_ps(k, ctx.add(full));
                let mut acc = if first { _mm512_setzero_ps() } else { _mm512_maskz_loadu_ps(k, grad.add(full)) };
                for m in 0..M {
                    let tv = _mm512_maskz_loadu_ps(k, rows[m].add(full));
                    acc = _mm512_fmadd_ps(gv[m], tv, acc);
                    _mm512_mask_storeu_ps(rows[m].add(full), k, _mm512_fmadd_ps(gv[m], cv, tv));
                }
                if last {
                    _mm512_mask_storeu_ps(ctx.add(full), k, _mm512_add_ps(cv, acc));
                } else {
                    _mm512_mask_storeu_ps(grad.add(full), k, acc);
                }
            }
        }
    }
}

/// AVX2 with fused multiply-adds, 8 lanes (the same structure as
/// [`Avx512`], for CPUs without AVX-512, e.g. AMD EPYC before Zen 4).
#[cfg(target_arch = "x86_64")]
struct Avx2;

#[cfg(target_arch = "x86_64")]
impl Kernels for Avx2 {
    /// Only instantiated by the AVX2 variant of the training loop, which
    /// runs only where the CPU has AVX2 and FMA.
    #[inline(always)]
    unsafe fn step<const M: usize>(
        ctx: *mut f32,
        d: usize,
        grad: *mut f32,
        rows: &[*mut f32; M],
        positive: bool,
        coef: &[f32; M],
        first: bool,
        last: bool,
    ) {
        use std::arch::x86_64::*;
        let full = d / 8 * 8;
        // SAFETY: see the contract; every offset is below `d`.
        unsafe {
            let mut acc = [_mm256_setzero_ps(); 8];
            let mut at = 0;
            while at < full {
                let cv = _mm256_loadu_ps(ctx.add(at));
                for m in 0..M {
                    acc[m] = _mm256_fmadd_ps(cv, _mm256_loadu_ps(rows[m].add(at)), acc[m]);
                }
                at += 8;
            }
            let mut tail = [0f32; 8];
            for (m, t) in tail.iter_mut().enumerate().take(M) {
                for i in full..d {
                    *t += *ctx.add(i) * *rows[m].add(i);
                }
            }
            let scores = _mm256_add_ps(lanes8::sums(&acc), _mm256_loadu_ps(tail.as_ptr()));
            let mut g = [0f32; 8];
            _mm256_storeu_ps(g.as_mut_ptr(), lanes8::coefficients(scores, positive, coef));
            let gv: [__m256; M] = std::array::from_fn(|m| _mm256_set1_ps(g[m]));
            let mut at = 0;
            while at < full {
                let cv = _mm256_loadu_ps(ctx.add(at));
                let mut acc = if first { _mm256_setzero_ps() } else { _mm256_loadu_ps(grad.add(at)) };
                for m in 0..M {
                    let tv = _mm256_loadu_ps(rows[m].add(at));
                    acc = _mm256_fmadd_ps(gv[m], tv, acc);
                    _mm256_storeu_ps(rows[m].add(at), _mm256_fmadd_ps(gv[m], cv, tv));
                }
                if last {
                    _mm256_storeu_ps(ctx.add(at), _mm256_add_ps(cv, acc));
                } else {
                    _mm256_storeu_ps(grad.add(at), acc);
                }
                at += 8;
            }
            scalar_update(ctx, full..d, grad, rows, &g[..M], first, last);
        }
    }
}

struct Shared<'a> {
    syn0: Hogwild,
    syn1: Hogwild,
    noise: &'a Noise,
    cfg: &'a SkipGramConfig,
}

/// Trains on a range of walks; compiled once per instruction set (no
/// closures inside, so that everything inlines into the `target_feature`
/// variants).
#[inline(always)]
fn train_walks<K: Kernels>(sh: &Shared<'_>, walks: &[u32], walk_len: usize, range: std::ops::Range<usize>, lr: &Schedule, rng: &mut SplitMix) {
    let targets = sh.cfg.negatives + 1;
    match targets {
        1 => train_walks_fused::<K, 1>(sh, walks, walk_len, range, lr, rng),
        2 => train_walks_fused::<K, 2>(sh, walks, walk_len, range, lr, rng),
        3 => train_walks_fused::<K, 3>(sh, walks, walk_len, range, lr, rng),
        4 => train_walks_fused::<K, 4>(sh, walks, walk_len, range, lr, rng),
        5 => train_walks_fused::<K, 5>(sh, walks, walk_len, range, lr, rng),
        6 => train_walks_fused::<K, 6>(sh, walks, walk_len, range, lr, rng),
        7 => train_walks_fused::<K, 7>(sh, walks, walk_len, range, lr, rng),
        8 => train_walks_fused::<K, 8>(sh, walks, walk_len, range, lr, rng),
        _ => train_walks_grouped::<K>(sh, walks, walk_len, range, lr, rng),
    }
}

/// The pairs of a walk: for each context position `j`, a window `b` drawn
/// in `1..=window` and every other position `i` within `b` of it; `f(j,
/// i, first, last)`, first and last saying whether the pair opens or
/// closes `j`'s window.
///
/// word2vec draws the window around the centre `i` and loops over the
/// contexts `j`; here it is drawn around the context (the pairs are the
/// same in distribution), so that the loop over a window shares the
/// context row, which is only read until the window's last pair adds the
/// accumulated gradient to it (word2vec adds it after each pair).
/// Consecutive pairs then share no row that is written, and the processor
/// overlaps them; sharing the positive, as word2vec's loop does, chains
/// every pair on the previous pair's update of the positive's row.
#[inline(always)]
fn for_pairs(walk: &[u32], window: usize, rng: &mut SplitMix, mut f: impl FnMut(usize, usize, bool, bool, &mut SplitMix)) {
    let len = walk.iter().position(|&v| v == PAD).unwrap_or(walk.len());
    for j in 0..len {
        let b = 1 + rng.below(window as u64) as usize;
        let (lo, hi) = (j.saturating_sub(b), (j + b + 1).min(len));
        // The window's first and last positions other than `j` (none at all
        // when the walk is one node long: then the loop does not run).
        let first = if lo == j { j + 1 } else { lo };
        let last = if hi == j + 1 { j.wrapping_sub(1) } else { hi - 1 };
        for i in (lo..hi).filter(|&i| i != j) {
            f(j, i, i == first, i == last, rng);
        }
    }
}

/// [`train_walks`] for `M` = negatives + 1 ≤ [`MAX_GROUP`]: a pair is one
/// group.
#[inline(always)]
fn train_walks_fused<K: Kernels, const M: usize>(
    sh: &Shared<'_>,
    walks: &[u32],
    walk_len: usize,
    range: std::ops::Range<usize>,
    lr: &Schedule,
    rng: &mut SplitMix,
) {
    let d = sh.cfg.dim;
    // The context's gradient between the pairs of its window (one cache
    // line aligned row).
    let mut grad = Table::new(1, d);
    let grad = grad.floats().as_mut_ptr();
    for w in range {
        let lr = lr.at(w);
        let walk = &walks[w * walk_len..(w + 1) * walk_len];
        for_pairs(walk, sh.cfg.window, rng, |j, i, first, last, rng| {
            let ctx = sh.syn0.row_ptr(walk[j] as usize);
            // The positive first, then the negatives, drawn without a
            // data-dependent branch; a negative that is the positive itself
            // gets a zero coefficient, which leaves every row as word2vec's
            // skip of it would.
            let centre = walk[i];
            let mut rows = [sh.syn1.row_ptr(centre as usize); M];
            let mut coef = [lr; M];
            for q in 1..M {
                let t = sh.noise.draw(rng);
                rows[q] = sh.syn1.row_ptr(t as usize);
                coef[q] = std::hint::select_unpredictable(t == centre, 0.0, lr);
            }
            // SAFETY: `ctx` and every row address a whole row (ids < rows)
            // and no reference to either table exists; syn0 and syn1 are
            // distinct tables and `grad` a buffer of its own.
            unsafe { K::step::<M>(ctx, d, grad, &rows, true, &coef, first, last) };
        });
    }
}

/// [`train_walks`] for more than [`MAX_GROUP`] targets per pair: groups
/// of [`MAX_GROUP`], the last one smaller.
#[inline(always)]
fn train_walks_grouped<K: Kernels>(
    sh: &Shared<'_>,
    walks: &[u32],
    walk_len: usize,
    range: std::ops::Range<usize>,
    lr: &Schedule,
    rng: &mut SplitMix,
) {
    let d = sh.cfg.dim;
    let targets = sh.cfg.negatives + 1;
    let mut grad = Table::new(1, d);
    let grad = grad.floats().as_mut_ptr();
    let mut ids = vec![0u32; targets];
    let mut coef = vec![0f32; targets];
    for w in range {
        let lr = lr.at(w);
        let walk = &walks[w * walk_len..(w + 1) * walk_len];
        for_pairs(walk, sh.cfg.window, rng, |j, i, first, last, rng| {
            let ctx = sh.syn0.row_ptr(walk[j] as usize);
            let centre = walk[i];
            ids[0] = centre;
            coef[0] = lr;
            for (t, c) in ids[1..].iter_mut().zip(&mut coef[1..]) {
                *t = sh.noise.draw(rng);
                *c = if *t == centre { 0.0 } else { lr };
            }
            let mut start = 0;
            while start < targets {
                let end = (start + MAX_GROUP).min(targets);
                let rows: [*mut f32; MAX_GROUP] = std::array::from_fn(|q| sh.syn1.row_ptr(ids[(start + q).min(end - 1)] as usize));
                let c: [f32; MAX_GROUP] = std::array::from_fn(|q| coef[(start + q).min(end - 1)]);
                let (first, last) = (first && start == 0, last && end == targets);
                macro_rules! group {
                    ($m:literal) => {{
                        let rows: &[*mut f32; $m] = rows[..$m].try_into().expect("group size");
                        let c: &[f32; $m] = c[..$m].try_into().expect("group size");
                        // SAFETY: as in `train_walks_fused`.
                        unsafe { K::step::<$m>(ctx, d, grad, rows, start == 0, c, first, last) }
                    }};
                }
                match end - start {
                    1 => group!(1),
                    2 => group!(2),
                    3 => group!(3),
                    4 => group!(4),
                    5 => group!(5),
                    6 => group!(6),
                    7 => group!(7),
                    _ => group!(8),
                }
                start = end;
            }
        });
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn train_walks_avx512(sh: &Shared<'_>, walks: &[u32], walk_len: usize, range: std::ops::Range<usize>, lr: &Schedule, rng: &mut SplitMix) {
    train_walks::<Avx512>(sh, walks, walk_len, range, lr, rng)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn train_walks_avx2(sh: &Shared<'_>, walks: &[u32], walk_len: usize, range: std::ops::Range<usize>, lr: &Schedule, rng: &mut SplitMix) {
    train_walks::<Avx2>(sh, walks, walk_len, range, lr, rng)
}

fn train_walks_best(sh: &Shared<'_>, walks: &[u32], walk_len: usize, range: std::ops::Range<usize>, lr: &Schedule, rng: &mut SplitMix) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the features the function was compiled for.
            return unsafe { train_walks_avx512(sh, walks, walk_len, range, lr, rng) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { train_walks_avx2(sh, walks, walk_len, range, lr, rng) };
        }
    }
    train_walks::<Portable>(sh, walks, walk_len, range, lr, rng)
}

/// word2vec's learning rate: linear from `lr` at the first walk of the
/// first epoch to `lr / 10⁴` at the end, by walk index (so the same for any
/// number of threads).
struct Schedule {
    lr: f32,
    /// Walks before this epoch's first.
    before: usize,
    total: f64,
}

impl Schedule {
    #[inline(always)]
    fn at(&self, walk: usize) -> f32 {
        let progress = (self.before + walk) as f64 / self.total;
        (self.lr as f64 * (1.0 - progress)).max(self.lr as f64 * 1e-4) as f32
    }
}

/// Trains `n × dim` node embeddings on `walks` (each `walk_len` long,
/// padded with [`PAD`]); returns the input table, row-major.
///
/// Threads: rayon's pool. One thread trains in place. Several threads
/// train in place too (Hogwild) when the tables are large, since two
/// threads then rarely write the same row at the same time. On small tables
/// they would: with 1,005 nodes two Hogwild threads ran at a quarter of the
/// speed of one (measured, email-Eu-core), every written cache line moving
/// between the cores. There each thread trains a replica of both tables
/// instead, on its share of a round of walks, and after each round the
/// replicas' changes are all added to the tables and the replicas reset:
/// the same sum of updates, with each thread seeing the others' a round
/// late (bounded staleness) rather than at once. Rounds are long enough
/// (the walks of a round hold several times as many nodes as the table has
/// rows) for the merge to cost a few percent. Replicated training is
/// deterministic for a seed and a thread count.
pub fn train_skipgram(walks: &[u32], walk_len: usize, n: usize, cfg: &SkipGramConfig, seed: u64) -> Vec<f32> {
    let d = cfg.dim;
    let mut init = SplitMix::new(seed);
    let mut syn0 = Table::new(n, d);
    let stride = syn0.stride;
    for row in syn0.floats().chunks_exact_mut(stride) {
        for x in &mut row[..d] {
            // Uniform in ±1/dim, as gensim 4 initialises (word2vec.c: ±0.5/dim).
            // On email-Eu-core (5 seeds × 5 probe splits) this raised the
            // probe's macro-F1 from 0.345 to 0.366.
            *x = ((init.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0) / d as f32;
        }
    }
    let mut syn1 = Table::new(n, d);
    if walks.is_empty() || n == 0 || walk_len == 0 {
        return syn0.packed(d);
    }
    let noise = Noise::new(walks, n);
    let n_walks = walks.len() / walk_len;
    let total = (n_walks * cfg.epochs) as f64;
    let threads = rayon::current_num_threads().max(1);
    // Above this many floats per table, Hogwild: the merges of replicas
    // cost more than the contention they save. Measured with two threads on
    // uniform walks (dim 128): replicas 1.3-1.7× faster than Hogwild at
    // 1,005 and 4,000 nodes, even at 8,000, 1.6× slower at 16,000.
    const REPLICATE_MAX_FLOATS: usize = 1 << 20;
    let replicate = threads > 1 && n * stride <= REPLICATE_MAX_FLOATS;
    const WALKS_PER_TASK: usize = 64;
    for epoch in 0..cfg.epochs {
        let sched = Schedule { lr: cfg.lr, before: epoch * n_walks, total };
        let rng_for = |task: usize| SplitMix::new(derive(derive(seed, epoch as u64 + 1), task as u64));
        if replicate {
            train_replicated(&mut syn0, &mut syn1, threads, walks, walk_len, &noise, cfg, &sched, &rng_for);
            continue;
        }
        let sh = Shared { syn0: syn0.hogwild(), syn1: syn1.hogwild(), noise: &noise, cfg };
        let task = |task: usize| {
            let range = task * WALKS_PER_TASK..((task + 1) * WALKS_PER_TASK).min(n_walks);
            train_walks_best(&sh, walks, walk_len, range, &sched, &mut rng_for(task));
        };
        let tasks = n_walks.div_ceil(WALKS_PER_TASK);
        if threads == 1 {
            (0..tasks).for_each(task);
        } else {
            (0..tasks).into_par_iter().for_each(task);
        }
    }
    syn0.packed(d)
}

/// A barrier that spins: the rounds of [`train_replicated`] are a
/// millisecond or two, and waking a sleeping thread (futex, and in a VM
/// an interrupt to a halted virtual CPU) costs a good part of that.
struct SpinBarrier {
    threads: usize,
    arrived: std::sync::atomic::AtomicUsize,
    generation: std::sync::atomic::AtomicUsize,
}

impl SpinBarrier {
    fn new(threads: usize) -> SpinBarrier {
        SpinBarrier { threads, arrived: 0.into(), generation: 0.into() }
    }

    fn wait(&self) {
        use std::sync::atomic::Ordering::{AcqRel, Acquire, Release};
        let generation = self.generation.load(Acquire);
        if self.arrived.fetch_add(1, AcqRel) + 1 == self.threads {
            self.arrived.store(0, Release);
            self.generation.fetch_add(1, Release);
        } else {
            let mut spins = 0u32;
            while self.generation.load(Acquire) == generation {
                if spins < 1 << 16 {
                    std::hint::spin_loop();
                    spins += 1;
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }
}

/// One epoch on per-thread replicas merged after every round (see
/// [`train_skipgram`]): one thread per replica, a barrier after the
/// training of a round and one after the merge, in which each thread
/// merges its share of the rows of every replica.
#[allow(clippy::too_many_arguments)]
fn train_replicated(
    syn0: &mut Table,
    syn1: &mut Table,
    threads: usize,
    walks: &[u32],
    walk_len: usize,
    noise: &Noise,
    cfg: &SkipGramConfig,
    sched: &Schedule,
    rng_for: &(dyn Fn(usize) -> SplitMix + Sync),
) {
    let n_walks = walks.len() / walk_len;
    let stride = syn0.stride;
    let rows = syn0.lines.len() * 16 / stride;
    // Walks per thread per round: about two thirds as many tokens as the
    // tables have rows. The staleness costs quality beyond that: on
    // email-Eu-core (1,005 nodes, 5 seeds × 5 probe splits) macro-F1 was
    // the same as one thread's with 8 or 16 walks (~330 or ~670 tokens)
    // per thread per round, and 0.009 lower with 32; the merge costs about
    // 0.15 ms per round there.
    let round_tokens = (rows * 2 / 3).max(512);
    let per = (round_tokens * n_walks).div_ceil(noise.tokens.max(1)).max(1);
    let rounds = n_walks.div_ceil(threads * per);
    let mut replicas: Vec<[Table; 2]> = (0..threads).map(|_| [syn0.clone(), syn1.clone()]).collect();
    let reps: Vec<[Hogwild; 2]> = replicas.iter_mut().map(|[a, b]| [a.hogwild(), b.hogwild()]).collect();
    let master = [syn0.hogwild(), syn1.hogwild()];
    let barrier = SpinBarrier::new(threads);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (reps, master, barrier) = (&reps, &master, &barrier);
            s.spawn(move || {
                // Rows merged per block, through a scratch block.
                const BLOCK_ROWS: usize = 32;
                let mut sum = vec![0f32; BLOCK_ROWS * stride];
                let (first_row, end_row) = (rows * t / threads, rows * (t + 1) / threads);
                for round in 0..rounds {
                    let start = round * threads * per;
                    let lo = (start + t * per).min(n_walks);
                    let hi = (start + (t + 1) * per).min(n_walks);
                    let sh = Shared { syn0: reps[t][0], syn1: reps[t][1], noise, cfg };
                    train_walks_best(&sh, walks, walk_len, lo..hi, sched, &mut rng_for(round * threads + t));
                    barrier.wait();
                    // table += Σ (replica − table), in replica order, then
                    // every replica := table; rows `first_row..end_row`
                    // only, which no other thread touches until the next
                    // barrier.
                    for which in 0..2 {
                        let mut row = first_row;
                        while row < end_row {
                            let len = (end_row - row).min(BLOCK_ROWS) * stride;
                            // SAFETY: rows `row..row + len / stride` of the
                            // tables are this thread's alone between the
                            // barriers, and one view of each is alive at a
                            // time.
                            unsafe {
                                let base = std::slice::from_raw_parts_mut(master[which].row_ptr(row), len);
                                let sum = &mut sum[..len];
                                sum.copy_from_slice(base);
                                for r in reps {
                                    let rep = std::slice::from_raw_parts(r[which].row_ptr(row), len);
                                    for ((s, &x), &b) in sum.iter_mut().zip(rep).zip(base.iter()) {
                                        *s += x - b;
                                    }
                                }
                                base.copy_from_slice(sum);
                                for r in reps {
                                    std::slice::from_raw_parts_mut(r[which].row_ptr(row), len).copy_from_slice(sum);
                                }
                            }
                            row += BLOCK_ROWS;
                        }
                    }
                    barrier.wait();
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    // The kernel signature, once per instruction set.
    #![allow(clippy::too_many_arguments, clippy::type_complexity)]

    use super::*;

    fn uniform(rng: &mut SplitMix, n: usize) -> Vec<f32> {
        (0..n).map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5).collect()
    }

    /// One group step of `K` on copies of the inputs; `map[q]` is the row
    /// target `q` addresses (repeats allowed).
    fn run<const M: usize>(
        step: unsafe fn(*mut f32, usize, *mut f32, &[*mut f32; M], bool, &[f32; M], bool, bool),
        d: usize,
        ctx: &[f32],
        grad: &[f32],
        rows: &[Vec<f32>],
        map: [usize; M],
        coef: [f32; M],
        flags: (bool, bool, bool),
    ) -> (Vec<f32>, Vec<f32>, Vec<Vec<f32>>) {
        let (mut c, mut g, mut r) = (ctx.to_vec(), grad.to_vec(), rows.to_vec());
        let base: Vec<*mut f32> = r.iter_mut().map(|v| v.as_mut_ptr()).collect();
        let ptrs: [*mut f32; M] = std::array::from_fn(|q| base[map[q]]);
        // SAFETY: every pointer addresses `d` floats of its own vector.
        unsafe { step(c.as_mut_ptr(), d, g.as_mut_ptr(), &ptrs, flags.0, &coef, flags.1, flags.2) };
        (c, g, r)
    }

    fn close(a: &[f32], b: &[f32], what: &str) {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-5 * (1.0 + x.abs()), "{what}[{i}]: {x} vs {y}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn avx512_step<const M: usize>(c: *mut f32, d: usize, g: *mut f32, r: &[*mut f32; M], p: bool, k: &[f32; M], f: bool, l: bool) {
        // SAFETY: the caller checked the features and the pointers.
        unsafe { Avx512::step::<M>(c, d, g, r, p, k, f, l) }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2_step<const M: usize>(c: *mut f32, d: usize, g: *mut f32, r: &[*mut f32; M], p: bool, k: &[f32; M], f: bool, l: bool) {
        // SAFETY: as above.
        unsafe { Avx2::step::<M>(c, d, g, r, p, k, f, l) }
    }

    unsafe fn portable_step<const M: usize>(c: *mut f32, d: usize, g: *mut f32, r: &[*mut f32; M], p: bool, k: &[f32; M], f: bool, l: bool) {
        // SAFETY: as above.
        unsafe { Portable::step::<M>(c, d, g, r, p, k, f, l) }
    }

    /// The vector kernels give the portable kernel's results (the sigmoid
    /// approximation included) for every width tail, group size, flag and
    /// a repeated row.
    fn kernels_agree<const M: usize>() {
        let mut rng = SplitMix::new(M as u64);
        for d in [1, 5, 8, 15, 16, 17, 31, 64, 100, 128] {
            let ctx: Vec<f32> = uniform(&mut rng, d).iter().map(|x| x * 2.0).collect();
            let grad = uniform(&mut rng, d);
            let rows: Vec<Vec<f32>> = (0..M).map(|_| uniform(&mut rng, d).iter().map(|x| x * 3.0).collect()).collect();
            // Target M-1 repeats target 0's row when there are two or more.
            let map: [usize; M] = std::array::from_fn(|q| if q == M - 1 && M > 1 { 0 } else { q });
            let coef: [f32; M] = std::array::from_fn(|q| if q == 1 { 0.0 } else { 0.05 + q as f32 * 0.01 });
            for flags in [(true, true, true), (false, true, false), (true, false, false), (false, false, true)] {
                let want = run::<M>(portable_step::<M>, d, &ctx, &grad, &rows, map, coef, flags);
                let mut have = Vec::new();
                #[cfg(target_arch = "x86_64")]
                {
                    if std::arch::is_x86_feature_detected!("avx512f") {
                        have.push(("avx512", run::<M>(avx512_step::<M>, d, &ctx, &grad, &rows, map, coef, flags)));
                    }
                    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                        have.push(("avx2", run::<M>(avx2_step::<M>, d, &ctx, &grad, &rows, map, coef, flags)));
                    }
                }
                for (name, (c, g, r)) in have {
                    let at = format!("{name} M={M} d={d} flags={flags:?}");
                    close(&c, &want.0, &format!("{at} ctx"));
                    if !flags.2 {
                        close(&g, &want.1, &format!("{at} grad"));
                    }
                    for (x, y) in r.iter().zip(&want.2) {
                        close(x, y, &format!("{at} row"));
                    }
                }
                // The step moved something (the comparison is not vacuous).
                assert!(want.2[0] != rows[0] || M == 1 && d == 0);
            }
        }
    }

    #[test]
    fn vector_kernels_agree_with_portable() {
        kernels_agree::<1>();
        kernels_agree::<2>();
        kernels_agree::<3>();
        kernels_agree::<6>();
        kernels_agree::<8>();
    }

    #[test]
    fn sigmoid_of_the_vector_kernels_is_accurate() {
        // The portable kernel's coefficient for a lone positive row is
        // (1 − σ(s))·coef with σ from `exp`; compare with f64.
        for s in [-7.0f32, -6.0, -3.2, -0.5, 0.0, 0.3, 2.9, 5.99, 8.0] {
            let want = 1.0 / (1.0 + (-(s.clamp(-6.0, 6.0)) as f64).exp());
            assert!((f64::from(sigmoid(s)) - want).abs() < 1e-6, "σ({s})");
        }
    }

    /// Walks on four planted communities of 40 nodes: each step stays in
    /// the community with probability 0.9.
    fn community_walks(walks: usize, len: usize, seed: u64) -> Vec<u32> {
        let mut rng = SplitMix::new(seed);
        let mut out = Vec::with_capacity(walks * len);
        for w in 0..walks {
            let mut v = (w % 160) as u32;
            for _ in 0..len {
                out.push(v);
                let c = if rng.below(10) == 0 { rng.below(4) as u32 } else { v / 40 };
                v = c * 40 + rng.below(40) as u32;
            }
        }
        out
    }

    /// Mean cosine similarity within communities minus between them.
    fn separation(emb: &[f32], d: usize) -> f32 {
        let unit: Vec<Vec<f32>> = emb
            .chunks_exact(d)
            .map(|r| {
                let n = r.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                r.iter().map(|x| x / n).collect()
            })
            .collect();
        let (mut within, mut between, mut nw, mut nb) = (0.0, 0.0, 0, 0);
        for a in 0..160 {
            for b in a + 1..160 {
                let c: f32 = unit[a].iter().zip(&unit[b]).map(|(x, y)| x * y).sum();
                if a / 40 == b / 40 {
                    within += c;
                    nw += 1;
                } else {
                    between += c;
                    nb += 1;
                }
            }
        }
        within / nw as f32 - between / nb as f32
    }

    fn train_in_pool(threads: usize, walks: &[u32], len: usize, cfg: &SkipGramConfig, seed: u64) -> Vec<f32> {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| train_skipgram(walks, len, 160, cfg, seed))
    }

    #[test]
    fn communities_separate_on_one_and_two_threads_and_replicas_are_deterministic() {
        let walks = community_walks(1600, 40, 5);
        for (dim, negatives) in [(32, 5), (33, 9), (16, 1)] {
            let cfg = SkipGramConfig { dim, negatives, epochs: 2, ..Default::default() };
            let untrained = separation(&train_skipgram(&[], 40, 160, &cfg, 1), dim);
            for threads in [1, 2] {
                let emb = train_in_pool(threads, &walks, 40, &cfg, 1);
                let s = separation(&emb, dim);
                assert!(
                    s > 0.5 && untrained.abs() < 0.05,
                    "dim {dim}, {negatives} negatives, {threads} threads: separation {s} (untrained {untrained})"
                );
            }
            // Two threads on replicas (160 rows) are deterministic.
            assert_eq!(train_in_pool(2, &walks, 40, &cfg, 1), train_in_pool(2, &walks, 40, &cfg, 1));
        }
    }

    #[test]
    fn pads_and_one_node_walks_are_handled() {
        // Walks of 4 slots: one full, one of a single node, one empty.
        let walks = [0, 1, 2, 1, 3, PAD, PAD, PAD, PAD, PAD, PAD, PAD];
        for threads in [1, 2] {
            let emb = train_in_pool(threads, &walks, 4, &SkipGramConfig { dim: 8, ..Default::default() }, 2);
            assert_eq!(emb.len(), 160 * 8);
            assert!(emb.iter().all(|x| x.is_finite()));
        }
    }
}
