//! Skip-gram with negative sampling over random walks (DeepWalk,
//! node2vec), trained the way word2vec does it: SGD over two embedding
//! tables (`syn0`, the input rows that become the embeddings, and `syn1`,
//! the output rows), a linearly decaying learning rate, negatives drawn
//! from the walk-frequency distribution raised to 0.75 (an alias table, one
//! draw in O(1)).
//!
//! A step reads the context row, scores the positive and its negatives
//! together (independent accumulators, so the dot products do not wait on
//! each other), updates each target row and adds the accumulated gradient
//! to the context row at the end of its window. Kernels are explicit
//! AVX-512 or AVX2 FMA code where the CPU has it (chosen at run time) and
//! portable Rust elsewhere. Each pair's exact loss, `−log σ(s⁺) − Σ log
//! σ(−s⁻)` on the scores the kernel has already computed, comes out of the
//! same vector pass (a vector `exp` and `log1p`), so every training call
//! returns the real loss ([`StepStats`]).
//!
//! # Steps, determinism and checkpoints
//!
//! [`SkipGram`] holds the tables, the noise table and the configuration;
//! [`SkipGram::train_range`] trains a range of walks of one epoch. The
//! learning rate of walk `w` of epoch `e` is word2vec's linear decay over
//! all `epochs × walks` walks, and every walk draws from its own generator
//! seeded by `(seed, e, w)`, so what a walk does depends on nothing but the
//! tables it finds. Hence:
//!
//! * **one thread**: the tables after an epoch are bit-identical however the
//!   epoch is cut into consecutive ranges (and to [`train_skipgram`]);
//! * **replicas** (several threads, small tables): bit-identical for a
//!   given thread count and a given cut into ranges (the rounds of the
//!   replicas start at each range's start);
//! * **Hogwild** (several threads, large tables): the order in which the
//!   threads' updates of one row land is the scheduler's, so results vary
//!   run to run (the number of pairs and tokens does not); always finite
//!   and free of undefined behaviour (see below).
//!
//! [`SkipGram::to_bytes`] writes the whole training state (configuration,
//! seed, noise table, both tables); [`SkipGram::from_bytes`] checks it
//! (checksum, every length, every alias index) and errors on anything
//! else. Restoring between ranges and continuing gives the same tables as
//! not stopping, bit for bit, in the deterministic modes above.
//!
//! # Threads and soundness
//!
//! One thread trains the tables in place with plain loads and stores
//! (`&mut self` makes them exclusive).
//!
//! Several threads on **small tables** (at most 2^20 floats each) train
//! per-thread replicas: each thread trains its own copy of both tables on
//! its share of a round of walks, then after a barrier each thread merges
//! a disjoint band of rows (table += Σ replica − table, replicas := table),
//! then another barrier. A replica is only touched by its thread between
//! the barriers of a round, and a band of rows only by its thread between
//! the two barriers of a merge, so every access is a plain one on memory
//! no other thread accesses concurrently. *SAFETY*: the barrier
//! ([`SpinBarrier`]) is an acquire-release counter (every arriving thread's
//! `fetch_add` is `AcqRel`, so the last arrival acquires every earlier
//! one's release; it then releases a generation bump that every waiter
//! acquires), so everything a thread wrote before a barrier happens-before
//! everything any thread does after it: no two conflicting accesses are
//! unordered, hence no data race.
//!
//! Several threads on **large tables** run Hogwild: all threads update the
//! shared tables at once, and two of them may update the same row at the
//! same time (rarely, on large tables; one of the two updates of a float
//! may then be lost, word2vec's accepted approximation). To make that
//! sound, every access to the tables during a Hogwild pass is atomic: the
//! scalar accesses are `AtomicU32` (the float's bits) relaxed loads and
//! stores, and the vector loads and stores are `vmovups` instructions in
//! inline assembly (`Racy` below). *SAFETY*: an `asm!` block is opaque to the
//! compiler and its effect on the abstract machine must be one that Rust
//! operations could have had; a `vmovups` of 8 or 16 floats that starts
//! at a multiple of 8 (AVX2) or 16 (AVX-512) floats from a cache-line
//! aligned row lies inside one cache line, where x86 performs each aligned
//! 4-byte element access single-copy atomically, so it is exactly a set of
//! relaxed `AtomicU32` loads or stores of those elements, in some order.
//! Since every concurrent access to a table float is then atomic and of the
//! same size, there is no data race (plain SIMD loads and stores through
//! `core::arch` would be non-atomic accesses racing with other threads'
//! writes: undefined behaviour, whatever the algorithm tolerates). Before
//! and after the pass, rayon's fork and join order the plain accesses of
//! initialisation and of reading the embeddings. Costs: the vector
//! accesses are the same instructions as before; what is lost is the
//! compiler's freedom to fold a load into an FMA or to move accesses
//! across one another, measured in `bench/README.md` (no slowdown beyond
//! run-to-run noise on a 200k-node table, where a pair waits on DRAM).

use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use ferrograph_sample::rng::{SplitMix, derive};
use ferrograph_sample::walk::PAD;
use rayon::prelude::*;

pub use crate::StepStats;
use crate::bytes::{Reader, Writer, product};
use crate::{Error, Result};

/// Hyper-parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct SkipGramConfig {
    /// Embedding width.
    pub dim: usize,
    /// Maximum context distance (each context draws a window in `1..=window`).
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

/// How several threads share the work (one thread always trains in place).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Parallelism {
    /// Replicas for tables of at most 2^20 floats, Hogwild above.
    #[default]
    Auto,
    /// Per-thread replicas merged every round (deterministic for a thread
    /// count); costs a copy of both tables per thread.
    Replicas,
    /// All threads on the shared tables (not deterministic).
    Hogwild,
}

/// Above this many floats per table, [`Parallelism::Auto`] picks Hogwild:
/// the merges of replicas cost more than the contention they save.
/// Measured with two threads on uniform walks (dim 128): replicas 1.3-1.7×
/// faster than Hogwild at 1,005 and 4,000 nodes, even at 8,000, 1.6× slower
/// at 16,000.
const REPLICATE_MAX_FLOATS: usize = 1 << 20;

/// Walks per Hogwild task.
const WALKS_PER_TASK: usize = 64;

/// A raw view of a table's rows, copied into the threads that train it;
/// every use states which kind of access ([`Access`]) it makes and why no
/// other thread's access conflicts.
#[derive(Clone, Copy)]
struct Rows {
    ptr: *mut f32,
    /// Floats from one row to the next (the width rounded up to a cache line).
    stride: usize,
}

// SAFETY: `Rows` is an address; sending or sharing it is harmless, and
// every dereference is an `unsafe` block that argues its own exclusivity
// (barriers, disjoint rows) or atomicity (`Racy`).
unsafe impl Send for Rows {}
unsafe impl Sync for Rows {}

impl Rows {
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
/// step that reads the same row (measured: 0.51 → 0.45 s on email-Eu-core).
/// The Hogwild soundness argument also needs it: a vector access then never
/// crosses a line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// `rows` rows of `stride` floats (a multiple of 16), cache-line aligned;
/// the floats past `dim` in a row stay zero.
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

    fn floats(&self) -> &[f32] {
        // SAFETY: `Line` is 16 floats with no padding (64 bytes, align 64).
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<f32>(), self.lines.len() * 16) }
    }

    fn floats_mut(&mut self) -> &mut [f32] {
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<f32>(), self.lines.len() * 16) }
    }

    fn rows(&mut self) -> Rows {
        Rows { ptr: self.floats_mut().as_mut_ptr(), stride: self.stride }
    }

    /// The first `dim` floats of each row, rows packed.
    fn packed(&self, dim: usize) -> Vec<f32> {
        if self.stride == 0 {
            return Vec::new();
        }
        self.floats().chunks_exact(self.stride).flat_map(|r| r[..dim].iter().copied()).collect()
    }

    /// A table of `rows × dim` from packed rows.
    fn from_packed(rows: usize, dim: usize, packed: &[f32]) -> Table {
        let mut t = Table::new(rows, dim);
        let stride = t.stride;
        for (row, src) in t.floats_mut().chunks_exact_mut(stride).zip(packed.chunks_exact(dim)) {
            row[..dim].copy_from_slice(src);
        }
        t
    }
}

/// Scores are clamped to ±this before the sigmoid of the gradient
/// (word2vec's table covers the same range); the loss uses the raw score.
const MAX_EXP: f32 = 6.0;

/// Walker's alias table over `count^0.75` (O(1) draws).
#[derive(Clone)]
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

    pub(crate) fn write(&self, w: &mut Writer) {
        w.usize(self.tokens);
        for &(keep, alias) in &self.cells {
            w.u32(keep);
            w.u32(alias);
        }
    }

    /// Reads a table over `n` nodes, checking every threshold and alias
    /// (an alias is a row index).
    pub(crate) fn read(r: &mut Reader<'_>, n: usize) -> Result<Noise> {
        let tokens = r.usize()?;
        let raw = r.u32s(product(&[n, 2])?)?;
        let cells: Vec<(u32, u32)> = raw.chunks_exact(2).map(|c| (c[0], c[1])).collect();
        if let Some(i) = cells.iter().position(|&(keep, alias)| keep > 1 << 24 || alias as usize >= n) {
            return Err(Error::Checkpoint(format!("noise cell {i} is out of range")));
        }
        Ok(Noise { cells, tokens })
    }
}

/// How a kernel reads and writes table rows.
trait Access {
    /// Whether other threads access the same rows at the same time.
    const SHARED: bool;
}

/// Rows no other thread accesses during the call (one thread; a replica):
/// plain loads and stores, which the compiler may fold and reorder.
struct Exclusive;

impl Access for Exclusive {
    const SHARED: bool = false;
}

/// Rows other threads read and write at the same time (Hogwild): every
/// access is atomic (see the module docs): relaxed `AtomicU32` for single
/// floats, `vmovups` in inline assembly for vectors.
struct Racy;

impl Access for Racy {
    const SHARED: bool = true;
}

/// Loads one float.
///
/// # Safety
/// `p` is valid for reads and 4-aligned; if `A` is [`Exclusive`], no other
/// thread accesses it concurrently; if [`Racy`], every concurrent access
/// is atomic.
#[inline(always)]
unsafe fn ld<A: Access>(p: *const f32) -> f32 {
    if A::SHARED {
        // SAFETY: per the contract; `AtomicU32` has f32's size and alignment.
        f32::from_bits(unsafe { AtomicU32::from_ptr(p.cast_mut().cast::<u32>()) }.load(Ordering::Relaxed))
    } else {
        // SAFETY: per the contract.
        unsafe { *p }
    }
}

/// Stores one float.
///
/// # Safety
/// As [`ld`], for writes.
#[inline(always)]
unsafe fn st<A: Access>(p: *mut f32, v: f32) {
    if A::SHARED {
        // SAFETY: per the contract.
        unsafe { AtomicU32::from_ptr(p.cast::<u32>()) }.store(v.to_bits(), Ordering::Relaxed);
    } else {
        // SAFETY: per the contract.
        unsafe { *p = v }
    }
}

/// Vector loads and stores of table rows. With [`Racy`] they are inline
/// assembly, which the compiler treats as opaque operations with the
/// effect of per-element relaxed atomic accesses (module docs); with
/// [`Exclusive`] they are the ordinary intrinsics.
///
/// # Safety (every function)
/// The CPU has the function's target features; the 8 or 16 floats (the
/// lanes of the mask, for the masked ones) are valid and, for [`Racy`],
/// lie in one cache line (a row start plus a multiple of the vector width)
/// and are accessed by other threads only atomically; for [`Exclusive`]
/// no other thread accesses them concurrently.
#[cfg(target_arch = "x86_64")]
mod vmem {
    use super::Access;
    use std::arch::asm;
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn ld8<A: Access>(p: *const f32) -> __m256 {
        if A::SHARED {
            let v: __m256;
            // SAFETY: per the module contract: one aligned 32-byte access
            // inside a cache line, 8 relaxed atomic 4-byte loads.
            unsafe {
                asm!("vmovups {v}, ymmword ptr [{p}]", p = in(reg) p, v = lateout(ymm_reg) v, options(pure, readonly, nostack, preserves_flags))
            };
            v
        } else {
            // SAFETY: per the module contract.
            unsafe { _mm256_loadu_ps(p) }
        }
    }

    #[inline]
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn st8<A: Access>(p: *mut f32, v: __m256) {
        if A::SHARED {
            // SAFETY: as `ld8`: 8 relaxed atomic 4-byte stores.
            unsafe { asm!("vmovups ymmword ptr [{p}], {v}", p = in(reg) p, v = in(ymm_reg) v, options(nostack, preserves_flags)) };
        } else {
            // SAFETY: per the module contract.
            unsafe { _mm256_storeu_ps(p, v) }
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn ld16<A: Access>(p: *const f32) -> __m512 {
        if A::SHARED {
            let v: __m512;
            // SAFETY: as `ld8`: one whole aligned cache line, 16 relaxed
            // atomic 4-byte loads.
            unsafe {
                asm!("vmovups {v}, zmmword ptr [{p}]", p = in(reg) p, v = lateout(zmm_reg) v, options(pure, readonly, nostack, preserves_flags))
            };
            v
        } else {
            // SAFETY: per the module contract.
            unsafe { _mm512_loadu_ps(p) }
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn st16<A: Access>(p: *mut f32, v: __m512) {
        if A::SHARED {
            // SAFETY: as `ld16`, stores.
            unsafe { asm!("vmovups zmmword ptr [{p}], {v}", p = in(reg) p, v = in(zmm_reg) v, options(nostack, preserves_flags)) };
        } else {
            // SAFETY: per the module contract.
            unsafe { _mm512_storeu_ps(p, v) }
        }
    }

    /// The lanes of `k` loaded, the others zero (masked-off lanes are not
    /// accessed).
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn ld16z<A: Access>(k: __mmask16, p: *const f32) -> __m512 {
        if A::SHARED {
            let v: __m512;
            // SAFETY: as `ld16`, for the lanes of `k` only.
            unsafe {
                asm!("vmovups {v}{{{k}}}{{z}}, zmmword ptr [{p}]", p = in(reg) p, k = in(kreg) k, v = lateout(zmm_reg) v, options(pure, readonly, nostack, preserves_flags))
            };
            v
        } else {
            // SAFETY: per the module contract.
            unsafe { _mm512_maskz_loadu_ps(k, p) }
        }
    }

    /// Stores the lanes of `k` (the others are not accessed).
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn st16m<A: Access>(p: *mut f32, k: __mmask16, v: __m512) {
        if A::SHARED {
            // SAFETY: as `st16`, for the lanes of `k` only.
            unsafe {
                asm!("vmovups zmmword ptr [{p}]{{{k}}}, {v}", p = in(reg) p, k = in(kreg) k, v = in(zmm_reg) v, options(nostack, preserves_flags))
            };
        } else {
            // SAFETY: per the module contract.
            unsafe { _mm512_mask_storeu_ps(p, k, v) }
        }
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
///    the positive itself: word2vec skips those), and the loss
///    `Σ_q softplus(∓s_q)` over the targets with a non-zero `coef`
///    (− for the positive), from the raw scores;
/// 3. `t_q += g_q·c` and `acc += Σ g_q·t_q` (the rows as they were), where
///    `acc` is the context's gradient so far, kept in `grad` between calls
///    (`first`: it starts at zero; `last`: it is added to `c` instead of
///    stored). The context row is thus read by every call and written by
///    the last one only.
///
/// `M` is a compile-time constant, so the row pointers and coefficients
/// stay in registers. Returns the group's loss.
trait Kernels {
    /// # Safety
    /// `ctx`, `grad` and every row address `d` floats no live reference
    /// covers; the rows do not overlap `ctx` or `grad`, but may repeat
    /// (a repeated row is then updated twice, in order). `grad` is read
    /// unless `first` and written unless `last`, and no other thread
    /// accesses it. `ctx` and the rows are accessed as `A` says (and, for
    /// [`Racy`], start on a cache line); the CPU has the kernel's features.
    #[allow(clippy::too_many_arguments)]
    unsafe fn step<A: Access, const M: usize>(
        ctx: *mut f32,
        d: usize,
        grad: *mut f32,
        rows: &[*mut f32; M],
        positive: bool,
        coef: &[f32; M],
        first: bool,
        last: bool,
    ) -> f32;
}

/// The logistic function on a score clamped to ±[`MAX_EXP`] (word2vec's
/// table covers the same range).
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x.clamp(-MAX_EXP, MAX_EXP)).exp())
}

/// `log(1 + e^t)`, without overflow.
#[inline(always)]
fn softplus(t: f32) -> f32 {
    t.max(0.0) + (-t.abs()).exp().ln_1p()
}

/// Plain Rust, for CPUs without AVX2 and FMA.
struct Portable;

impl Kernels for Portable {
    #[inline(always)]
    unsafe fn step<A: Access, const M: usize>(
        ctx: *mut f32,
        d: usize,
        grad: *mut f32,
        rows: &[*mut f32; M],
        positive: bool,
        coef: &[f32; M],
        first: bool,
        last: bool,
    ) -> f32 {
        let mut g = [0f32; M];
        let mut loss = 0.0;
        for q in 0..M {
            let r = rows[q];
            let mut acc = [0f32; 8];
            let mut s = 0.0;
            let mut i = 0;
            while i + 8 <= d {
                for (l, a) in acc.iter_mut().enumerate() {
                    // SAFETY: see the contract; `i + l` < d.
                    *a += unsafe { ld::<A>(ctx.add(i + l)) * ld::<A>(r.add(i + l)) };
                }
                i += 8;
            }
            for i in i..d {
                // SAFETY: as above.
                s += unsafe { ld::<A>(ctx.add(i)) * ld::<A>(r.add(i)) };
            }
            let score = acc.iter().sum::<f32>() + s;
            let pos = positive && q == 0;
            let label = if pos { 1.0 } else { 0.0 };
            g[q] = (label - sigmoid(score)) * coef[q];
            if coef[q] != 0.0 {
                loss += softplus(if pos { -score } else { score });
            }
        }
        // SAFETY: see the contract.
        unsafe { scalar_update::<A, M>(ctx, 0..d, grad, rows, &g, first, last) };
        loss
    }
}

/// Step 3 of [`Kernels::step`] one float at a time, over `lanes` (the
/// portable kernel's whole row, the AVX2 kernel's tail).
///
/// # Safety
/// As [`Kernels::step`], for the floats in `lanes`.
#[inline(always)]
unsafe fn scalar_update<A: Access, const M: usize>(
    ctx: *mut f32,
    lanes: Range<usize>,
    grad: *mut f32,
    rows: &[*mut f32; M],
    g: &[f32],
    first: bool,
    last: bool,
) {
    for i in lanes {
        // SAFETY: see the contract; `grad` is this thread's alone.
        unsafe {
            let cv = ld::<A>(ctx.add(i));
            let mut acc = if first { 0.0 } else { *grad.add(i) };
            for (&p, &gq) in rows.iter().zip(g) {
                let tv = ld::<A>(p.add(i));
                acc += gq * tv;
                st::<A>(p.add(i), tv + gq * cv);
            }
            if last {
                st::<A>(ctx.add(i), cv + acc);
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

    /// The sum of the eight lanes.
    ///
    /// # Safety
    /// AVX is available.
    #[inline(always)]
    pub(super) unsafe fn total(v: __m256) -> f32 {
        unsafe {
            let q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let h = _mm_add_ps(q, _mm_movehl_ps(q, q));
            _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)))
        }
    }

    /// `e^−x` per lane for `|x| ≤ 87`, as `2^n·2^f` (`n` an integer,
    /// `|f| ≤ ½`, `2^f` by its degree-5 Taylor polynomial: relative error
    /// under 3·10⁻⁷).
    ///
    /// # Safety
    /// AVX2 and FMA are available.
    #[inline(always)]
    unsafe fn exp_neg(x: __m256) -> __m256 {
        unsafe {
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
            _mm256_mul_ps(p, scale)
        }
    }

    /// The gradient coefficients and the loss of a group from its raw
    /// scores `x`: `(label − σ(x))·coef` per lane (label 1 in lane 0 if
    /// `positive`, else 0; `coef` 0 beyond `M`), σ on `x` clamped to
    /// ±MAX_EXP, and the sum over the lanes with a non-zero `coef` of
    /// `softplus(∓x)` (− in a positive lane) from the unclamped score:
    /// `max(t, 0) + log1p(e^−|t|)`, `log1p(u) = 2 atanh(u / (2 + u))` by
    /// its odd series to z¹¹ (`z ≤ ⅓`: error under 2·10⁻⁷), `|t|` capped at
    /// 80 (where `log1p` is below 10⁻³⁴).
    ///
    /// # Safety
    /// AVX2 and FMA are available.
    #[inline(always)]
    pub(super) unsafe fn coefficients<const M: usize>(x: __m256, positive: bool, coef: &[f32; M]) -> (__m256, f32) {
        let c8: [f32; 8] = std::array::from_fn(|q| if q < M { coef[q] } else { 0.0 });
        unsafe {
            let cv = _mm256_loadu_ps(c8.as_ptr());
            let lim = _mm256_set1_ps(super::MAX_EXP);
            let xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_sub_ps(_mm256_setzero_ps(), lim)), lim);
            let e = exp_neg(xc);
            let sig = _mm256_div_ps(_mm256_set1_ps(1.0), _mm256_add_ps(_mm256_set1_ps(1.0), e));
            let label = _mm256_setr_ps(if positive { 1.0 } else { 0.0 }, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
            let g = _mm256_mul_ps(_mm256_sub_ps(label, sig), cv);
            // Loss: t = −x in the positive lane, x elsewhere.
            let flip = _mm256_setr_ps(if positive { -0.0 } else { 0.0 }, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
            let t = _mm256_xor_ps(x, flip);
            let a = _mm256_min_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0), t), _mm256_set1_ps(80.0));
            let u = exp_neg(a);
            let z = _mm256_div_ps(u, _mm256_add_ps(_mm256_set1_ps(2.0), u));
            let z2 = _mm256_mul_ps(z, z);
            let mut p = _mm256_set1_ps(1.0 / 11.0);
            for k in [1.0 / 9.0, 1.0 / 7.0, 1.0 / 5.0, 1.0 / 3.0, 1.0] {
                p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps(k));
            }
            let log1p = _mm256_mul_ps(_mm256_add_ps(z, z), p);
            let loss = _mm256_add_ps(_mm256_max_ps(t, _mm256_setzero_ps()), log1p);
            let trained = _mm256_cmp_ps::<_CMP_NEQ_OQ>(cv, _mm256_setzero_ps());
            (g, total(_mm256_and_ps(loss, trained)))
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
    unsafe fn step<A: Access, const M: usize>(
        ctx: *mut f32,
        d: usize,
        grad: *mut f32,
        rows: &[*mut f32; M],
        positive: bool,
        coef: &[f32; M],
        first: bool,
        last: bool,
    ) -> f32 {
        use std::arch::x86_64::*;
        use vmem::{ld16, ld16z, st16, st16m};
        // Mask of the `d % 16` lanes of the tail.
        let k = ((1u32 << (d % 16)) - 1) as __mmask16;
        // Plain (unmasked) loads and stores for whole vectors: a load that
        // follows a masked store to the same place cannot take its value
        // from the store buffer, and the next pair reads these rows at once.
        let full = d / 16 * 16;
        // SAFETY: see the contract; every offset is below `d` (masked tail)
        // and a multiple of 16 floats from the row start; `grad` is
        // exclusive.
        unsafe {
            let mut acc = [_mm512_setzero_ps(); M];
            let mut at = 0;
            while at < full {
                let cv = ld16::<A>(ctx.add(at));
                for m in 0..M {
                    acc[m] = _mm512_fmadd_ps(cv, ld16::<A>(rows[m].add(at)), acc[m]);
                }
                at += 16;
            }
            if full < d {
                let cv = ld16z::<A>(k, ctx.add(full));
                for m in 0..M {
                    acc[m] = _mm512_fmadd_ps(cv, ld16z::<A>(k, rows[m].add(full)), acc[m]);
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
            let (gv8, loss) = lanes8::coefficients(lanes8::sums(&halves), positive, coef);
            _mm256_storeu_ps(g.as_mut_ptr(), gv8);
            let gv: [__m512; M] = std::array::from_fn(|m| _mm512_set1_ps(g[m]));
            let mut at = 0;
            while at < full {
                let cv = ld16::<A>(ctx.add(at));
                let mut acc = if first { _mm512_setzero_ps() } else { _mm512_loadu_ps(grad.add(at)) };
                for m in 0..M {
                    let tv = ld16::<A>(rows[m].add(at));
                    acc = _mm512_fmadd_ps(gv[m], tv, acc);
                    st16::<A>(rows[m].add(at), _mm512_fmadd_ps(gv[m], cv, tv));
                }
                if last {
                    st16::<A>(ctx.add(at), _mm512_add_ps(cv, acc));
                } else {
                    _mm512_storeu_ps(grad.add(at), acc);
                }
                at += 16;
            }
            if full < d {
                let cv = ld16z::<A>(k, ctx.add(full));
                let mut acc = if first { _mm512_setzero_ps() } else { _mm512_maskz_loadu_ps(k, grad.add(full)) };
                for m in 0..M {
                    let tv = ld16z::<A>(k, rows[m].add(full));
                    acc = _mm512_fmadd_ps(gv[m], tv, acc);
                    st16m::<A>(rows[m].add(full), k, _mm512_fmadd_ps(gv[m], cv, tv));
                }
                if last {
                    st16m::<A>(ctx.add(full), k, _mm512_add_ps(cv, acc));
                } else {
                    _mm512_mask_storeu_ps(grad.add(full), k, acc);
                }
            }
            loss
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
    unsafe fn step<A: Access, const M: usize>(
        ctx: *mut f32,
        d: usize,
        grad: *mut f32,
        rows: &[*mut f32; M],
        positive: bool,
        coef: &[f32; M],
        first: bool,
        last: bool,
    ) -> f32 {
        use std::arch::x86_64::*;
        use vmem::{ld8, st8};
        let full = d / 8 * 8;
        // SAFETY: see the contract; every offset is below `d`, vectors
        // start at multiples of 8 floats from the row start; `grad` is
        // exclusive.
        unsafe {
            let mut acc = [_mm256_setzero_ps(); 8];
            let mut at = 0;
            while at < full {
                let cv = ld8::<A>(ctx.add(at));
                for m in 0..M {
                    acc[m] = _mm256_fmadd_ps(cv, ld8::<A>(rows[m].add(at)), acc[m]);
                }
                at += 8;
            }
            let mut tail = [0f32; 8];
            for (m, t) in tail.iter_mut().enumerate().take(M) {
                for i in full..d {
                    *t += ld::<A>(ctx.add(i)) * ld::<A>(rows[m].add(i));
                }
            }
            let scores = _mm256_add_ps(lanes8::sums(&acc), _mm256_loadu_ps(tail.as_ptr()));
            let mut g = [0f32; 8];
            let (gv8, loss) = lanes8::coefficients(scores, positive, coef);
            _mm256_storeu_ps(g.as_mut_ptr(), gv8);
            let gv: [__m256; M] = std::array::from_fn(|m| _mm256_set1_ps(g[m]));
            let mut at = 0;
            while at < full {
                let cv = ld8::<A>(ctx.add(at));
                let mut acc = if first { _mm256_setzero_ps() } else { _mm256_loadu_ps(grad.add(at)) };
                for m in 0..M {
                    let tv = ld8::<A>(rows[m].add(at));
                    acc = _mm256_fmadd_ps(gv[m], tv, acc);
                    st8::<A>(rows[m].add(at), _mm256_fmadd_ps(gv[m], cv, tv));
                }
                if last {
                    st8::<A>(ctx.add(at), _mm256_add_ps(cv, acc));
                } else {
                    _mm256_storeu_ps(grad.add(at), acc);
                }
                at += 8;
            }
            scalar_update::<A, M>(ctx, full..d, grad, rows, &g[..M], first, last);
            loss
        }
    }
}

/// What the training loops read.
struct Shared<'a> {
    syn0: Rows,
    syn1: Rows,
    noise: &'a Noise,
    cfg: &'a SkipGramConfig,
    sched: Schedule,
    /// `derive(seed, epoch + 1)`: walk `w` draws from `derive(this, w)`.
    epoch_seed: u64,
}

/// Pairs, loss and tokens of a range of walks.
#[derive(Clone, Copy, Default)]
struct Tally {
    pairs: u64,
    loss: f64,
    tokens: u64,
}

impl Tally {
    fn add(mut self, o: Tally) -> Tally {
        self.pairs += o.pairs;
        self.loss += o.loss;
        self.tokens += o.tokens;
        self
    }
}

/// Trains on a range of walks; compiled once per instruction set and
/// access kind (no closures inside, so that everything inlines into the
/// `target_feature` variants).
///
/// # Safety
/// The rows of `sh` are `A`-accessible for the whole call (see [`Access`]),
/// every node of the walks is a row of both tables, and the CPU has `K`'s
/// features.
#[inline(always)]
unsafe fn train_walks<K: Kernels, A: Access>(sh: &Shared<'_>, walks: &[u32], walk_len: usize, range: Range<usize>) -> Tally {
    let targets = sh.cfg.negatives + 1;
    // SAFETY: forwarded.
    unsafe {
        match targets {
            1 => train_walks_fused::<K, A, 1>(sh, walks, walk_len, range),
            2 => train_walks_fused::<K, A, 2>(sh, walks, walk_len, range),
            3 => train_walks_fused::<K, A, 3>(sh, walks, walk_len, range),
            4 => train_walks_fused::<K, A, 4>(sh, walks, walk_len, range),
            5 => train_walks_fused::<K, A, 5>(sh, walks, walk_len, range),
            6 => train_walks_fused::<K, A, 6>(sh, walks, walk_len, range),
            7 => train_walks_fused::<K, A, 7>(sh, walks, walk_len, range),
            8 => train_walks_fused::<K, A, 8>(sh, walks, walk_len, range),
            _ => train_walks_grouped::<K, A>(sh, walks, walk_len, range),
        }
    }
}

/// The pairs of a walk: for each context position `j`, a window `b` drawn
/// in `1..=window` and every other position `i` within `b` of it; `f(j,
/// i, first, last)`, first and last saying whether the pair opens or
/// closes `j`'s window. Returns the walk's length (pads excluded).
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
fn for_pairs(walk: &[u32], window: usize, rng: &mut SplitMix, mut f: impl FnMut(usize, usize, bool, bool, &mut SplitMix)) -> usize {
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
    len
}

/// [`train_walks`] for `M` = negatives + 1 ≤ [`MAX_GROUP`]: a pair is one
/// group.
///
/// # Safety
/// As [`train_walks`].
#[inline(always)]
unsafe fn train_walks_fused<K: Kernels, A: Access, const M: usize>(sh: &Shared<'_>, walks: &[u32], walk_len: usize, range: Range<usize>) -> Tally {
    let d = sh.cfg.dim;
    // The context's gradient between the pairs of its window (one cache
    // line aligned row, this thread's alone).
    let mut grad = Table::new(1, d);
    let grad = grad.floats_mut().as_mut_ptr();
    let mut tally = Tally::default();
    for w in range {
        let lr = sh.sched.at(w);
        let mut rng = SplitMix::new(derive(sh.epoch_seed, w as u64));
        let walk = &walks[w * walk_len..(w + 1) * walk_len];
        let (mut pairs, mut loss) = (0u64, 0f32);
        let len = for_pairs(walk, sh.cfg.window, &mut rng, |j, i, first, last, rng| {
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
            // SAFETY: `ctx` and every row address a whole row (ids < rows,
            // checked when the model was built), row starts are cache-line
            // aligned, and the tables are `A`-accessible (the caller's
            // contract); syn0 and syn1 are distinct tables and `grad` a
            // buffer of its own.
            loss += unsafe { K::step::<A, M>(ctx, d, grad, &rows, true, &coef, first, last) };
            pairs += 1;
        });
        tally.pairs += pairs;
        tally.loss += f64::from(loss);
        tally.tokens += len as u64;
    }
    tally
}

/// [`train_walks`] for more than [`MAX_GROUP`] targets per pair: groups
/// of [`MAX_GROUP`], the last one smaller.
///
/// # Safety
/// As [`train_walks`].
#[inline(always)]
unsafe fn train_walks_grouped<K: Kernels, A: Access>(sh: &Shared<'_>, walks: &[u32], walk_len: usize, range: Range<usize>) -> Tally {
    let d = sh.cfg.dim;
    let targets = sh.cfg.negatives + 1;
    let mut grad = Table::new(1, d);
    let grad = grad.floats_mut().as_mut_ptr();
    let mut ids = vec![0u32; targets];
    let mut coef = vec![0f32; targets];
    let mut tally = Tally::default();
    for w in range {
        let lr = sh.sched.at(w);
        let mut rng = SplitMix::new(derive(sh.epoch_seed, w as u64));
        let walk = &walks[w * walk_len..(w + 1) * walk_len];
        let (mut pairs, mut loss) = (0u64, 0f32);
        let len = for_pairs(walk, sh.cfg.window, &mut rng, |j, i, first, last, rng| {
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
                        unsafe { K::step::<A, $m>(ctx, d, grad, rows, start == 0, c, first, last) }
                    }};
                }
                loss += match end - start {
                    1 => group!(1),
                    2 => group!(2),
                    3 => group!(3),
                    4 => group!(4),
                    5 => group!(5),
                    6 => group!(6),
                    7 => group!(7),
                    _ => group!(8),
                };
                start = end;
            }
            pairs += 1;
        });
        tally.pairs += pairs;
        tally.loss += f64::from(loss);
        tally.tokens += len as u64;
    }
    tally
}

/// # Safety
/// As [`train_walks`], the CPU checked.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn train_walks_avx512<A: Access>(sh: &Shared<'_>, walks: &[u32], walk_len: usize, range: Range<usize>) -> Tally {
    // SAFETY: forwarded; the features are enabled here.
    unsafe { train_walks::<Avx512, A>(sh, walks, walk_len, range) }
}

/// # Safety
/// As [`train_walks`], the CPU checked.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn train_walks_avx2<A: Access>(sh: &Shared<'_>, walks: &[u32], walk_len: usize, range: Range<usize>) -> Tally {
    // SAFETY: forwarded; the features are enabled here.
    unsafe { train_walks::<Avx2, A>(sh, walks, walk_len, range) }
}

/// The fastest kernels this CPU runs.
///
/// # Safety
/// As [`train_walks`], less the CPU features (checked here).
unsafe fn train_walks_best<A: Access>(sh: &Shared<'_>, walks: &[u32], walk_len: usize, range: Range<usize>) -> Tally {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the features the function was compiled
            // for; the rest is the caller's contract.
            return unsafe { train_walks_avx512::<A>(sh, walks, walk_len, range) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { train_walks_avx2::<A>(sh, walks, walk_len, range) };
        }
    }
    // SAFETY: the caller's contract; the portable kernel needs no feature.
    unsafe { train_walks::<Portable, A>(sh, walks, walk_len, range) }
}

/// word2vec's learning rate: linear from `lr` at the first walk of the
/// first epoch to `lr / 10⁴` at the end, by walk index (so the same for any
/// number of threads and any cut of an epoch into ranges).
#[derive(Clone, Copy)]
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

/// A skip-gram model in training: both tables, the noise table, the
/// configuration and the seed (everything a training call depends on
/// besides the walks). See the module docs for what is deterministic.
#[derive(Clone)]
pub struct SkipGram {
    cfg: SkipGramConfig,
    n: usize,
    seed: u64,
    walk_len: usize,
    n_walks: usize,
    syn0: Table,
    syn1: Table,
    noise: Noise,
    parallelism: Parallelism,
    /// Per-thread copies of both tables for the replica mode, equal to the
    /// tables whenever no call is running (or empty); kept between calls
    /// so that short ranges do not copy the tables every time.
    replicas: Vec<[Table; 2]>,
}

impl std::fmt::Debug for SkipGram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkipGram")
            .field("cfg", &self.cfg)
            .field("nodes", &self.n)
            .field("walks", &self.n_walks)
            .field("walk_len", &self.walk_len)
            .field("seed", &self.seed)
            .field("parallelism", &self.parallelism)
            .finish_non_exhaustive()
    }
}

const MAGIC: &[u8; 8] = b"FGSKIPG\0";

fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}

fn check_config(cfg: &SkipGramConfig) -> Result<()> {
    if cfg.dim == 0 || cfg.window == 0 {
        return Err(invalid(format!("skip-gram needs dim ≥ 1 and window ≥ 1 (dim {}, window {})", cfg.dim, cfg.window)));
    }
    if !(cfg.lr.is_finite() && cfg.lr > 0.0) {
        return Err(invalid(format!("skip-gram's learning rate must be positive and finite, not {}", cfg.lr)));
    }
    Ok(())
}

impl SkipGram {
    /// A model over `n` nodes for `walks` (rows of `walk_len` slots,
    /// padded with [`PAD`]): the input table uniform in ±1/dim, the output
    /// table zero, negatives from the walks' node frequencies to the 0.75.
    /// Errors on a bad configuration, walks that are not whole rows, or a
    /// node ≥ `n`.
    pub fn new(n: usize, walks: &[u32], walk_len: usize, cfg: &SkipGramConfig, seed: u64) -> Result<SkipGram> {
        check_config(cfg)?;
        let n_walks = if walks.is_empty() {
            0
        } else if walk_len == 0 || !walks.len().is_multiple_of(walk_len) {
            return Err(invalid(format!("{} walk slots are not whole walks of {walk_len} slots", walks.len())));
        } else {
            walks.len() / walk_len
        };
        if let Some(&v) = walks.iter().find(|&&v| v != PAD && v as usize >= n) {
            return Err(invalid(format!("walk node {v} is not below the node count {n}")));
        }
        product(&[n, cfg.dim.next_multiple_of(16)]).map_err(|_| invalid("the tables would not fit in memory"))?;
        let d = cfg.dim;
        let mut init = SplitMix::new(seed);
        let mut syn0 = Table::new(n, d);
        let stride = syn0.stride;
        for row in syn0.floats_mut().chunks_exact_mut(stride) {
            for x in &mut row[..d] {
                // Uniform in ±1/dim, as gensim 4 initialises (word2vec.c: ±0.5/dim).
                // On email-Eu-core (5 seeds × 5 probe splits) this raised the
                // probe's macro-F1 from 0.345 to 0.366.
                *x = ((init.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0) / d as f32;
            }
        }
        Ok(SkipGram {
            cfg: cfg.clone(),
            n,
            seed,
            walk_len: if n_walks == 0 { walk_len } else { walk_len.max(1) },
            n_walks,
            syn1: Table::new(n, d),
            syn0,
            noise: Noise::new(walks, n),
            parallelism: Parallelism::Auto,
            replicas: Vec::new(),
        })
    }

    /// Chooses how several threads share a call (one thread always trains
    /// in place). Part of the checkpoint.
    pub fn set_parallelism(&mut self, p: Parallelism) {
        self.parallelism = p;
    }

    /// How several threads share a call.
    pub fn parallelism(&self) -> Parallelism {
        self.parallelism
    }

    /// The configuration.
    pub fn config(&self) -> &SkipGramConfig {
        &self.cfg
    }

    /// Nodes (rows of each table).
    pub fn nodes(&self) -> usize {
        self.n
    }

    /// Walks the model was built for (training ranges index these).
    pub fn walks(&self) -> usize {
        self.n_walks
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Trains on walks `range` of epoch `epoch` (`walks` the walks the
    /// model was built from, rows of `walk_len`) and returns the pairs
    /// trained, their exact loss and the tokens.
    ///
    /// Walk `w` of epoch `e` trains at the learning rate of its position in
    /// all `cfg.epochs` passes and draws its randomness from `(seed, e, w)`
    /// alone. Threads: rayon's current pool (one thread in place; replicas
    /// or Hogwild above, see [`Parallelism`] and the module docs).
    pub fn train_range(&mut self, walks: &[u32], walk_len: usize, epoch: usize, range: Range<usize>) -> Result<StepStats> {
        let started = Instant::now();
        if walks.len() != self.n_walks * self.walk_len || (self.n_walks > 0 && walk_len != self.walk_len) {
            return Err(invalid(format!(
                "the model was built for {} walks of {} slots; got {} slots in walks of {walk_len}",
                self.n_walks,
                self.walk_len,
                walks.len()
            )));
        }
        if epoch >= self.cfg.epochs {
            return Err(invalid(format!("epoch {epoch} is past the configured {} epoch(s)", self.cfg.epochs)));
        }
        if range.start > range.end || range.end > self.n_walks {
            return Err(invalid(format!("walk range {range:?} is not within the {} walks", self.n_walks)));
        }
        let (n, len) = (self.n, self.walk_len);
        if let Some(&v) = walks[range.start * len..range.end * len].iter().find(|&&v| v != PAD && v as usize >= n) {
            return Err(invalid(format!("walk node {v} is not below the node count {n}")));
        }
        let threads = rayon::current_num_threads().max(1);
        let sched = Schedule { lr: self.cfg.lr, before: epoch * self.n_walks, total: (self.n_walks * self.cfg.epochs) as f64 };
        let epoch_seed = derive(self.seed, epoch as u64 + 1);
        let small = self.syn0.lines.len() * 16 <= REPLICATE_MAX_FLOATS;
        let mode = match self.parallelism {
            _ if threads == 1 => None,
            Parallelism::Auto if small => Some(Parallelism::Replicas),
            Parallelism::Auto => Some(Parallelism::Hogwild),
            p => Some(p),
        };
        let tally = if range.is_empty() {
            Tally::default()
        } else if mode == Some(Parallelism::Replicas) {
            self.train_replicated(threads, walks, range, sched, epoch_seed)
        } else {
            // The tables change here: the replicas would be stale.
            self.replicas.clear();
            let sh = Shared { syn0: self.syn0.rows(), syn1: self.syn1.rows(), noise: &self.noise, cfg: &self.cfg, sched, epoch_seed };
            let walk_len = self.walk_len;
            if mode.is_none() {
                // SAFETY: `&mut self` makes the tables this thread's alone
                // for the call (plain access); every node of the range's
                // walks is a row (checked above).
                unsafe { train_walks_best::<Exclusive>(&sh, walks, walk_len, range) }
            } else {
                let tasks = range.len().div_ceil(WALKS_PER_TASK);
                let start = range.start;
                let end = range.end;
                (0..tasks)
                    .into_par_iter()
                    .map(|t| {
                        let lo = start + t * WALKS_PER_TASK;
                        // SAFETY: Hogwild: during the parallel pass every
                        // access to the tables, by every thread, is a `Racy`
                        // (atomic) one, and nothing else touches them until
                        // rayon's join orders the pass before our return.
                        unsafe { train_walks_best::<Racy>(&sh, walks, walk_len, lo..(lo + WALKS_PER_TASK).min(end)) }
                    })
                    .reduce(Tally::default, Tally::add)
            }
        };
        Ok(StepStats { pairs: tally.pairs, loss_sum: tally.loss, tokens: tally.tokens, seconds: started.elapsed().as_secs_f64() })
    }

    /// Trains all walks of epoch `epoch` in one call.
    pub fn train_epoch(&mut self, walks: &[u32], walk_len: usize, epoch: usize) -> Result<StepStats> {
        self.train_range(walks, walk_len, epoch, 0..self.n_walks)
    }

    /// The embeddings: the input table, `n × dim`, row-major.
    pub fn embeddings(&self) -> Vec<f32> {
        self.syn0.packed(self.cfg.dim)
    }

    /// The output (context) table, `n × dim`, row-major.
    pub fn context_embeddings(&self) -> Vec<f32> {
        self.syn1.packed(self.cfg.dim)
    }

    /// The whole training state as bytes (see [`SkipGram::from_bytes`]):
    /// about `8 · n · (dim + 1)` bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(MAGIC);
        let c = &self.cfg;
        for x in [self.n, c.dim, c.window, c.negatives, c.epochs, self.walk_len, self.n_walks] {
            w.usize(x);
        }
        w.f32(c.lr);
        w.u64(self.seed);
        w.u32(match self.parallelism {
            Parallelism::Auto => 0,
            Parallelism::Replicas => 1,
            Parallelism::Hogwild => 2,
        });
        self.noise.write(&mut w);
        w.f32s(self.syn0.packed(c.dim));
        w.f32s(self.syn1.packed(c.dim));
        w.finish()
    }

    /// A model from [`SkipGram::to_bytes`]; errors (never panics) on bytes
    /// that are not a whole, uncorrupted skip-gram checkpoint of this
    /// format version.
    pub fn from_bytes(bytes: &[u8]) -> Result<SkipGram> {
        let mut r = Reader::open(bytes, MAGIC, "skip-gram")?;
        let n = r.usize()?;
        let dim = r.usize()?;
        let window = r.usize()?;
        let negatives = r.usize()?;
        let epochs = r.usize()?;
        let walk_len = r.usize()?;
        let n_walks = r.usize()?;
        let lr = r.f32()?;
        let cfg = SkipGramConfig { dim, window, negatives, epochs, lr };
        check_config(&cfg).map_err(|e| Error::Checkpoint(e.to_string()))?;
        product(&[n_walks, walk_len])?;
        let seed = r.u64()?;
        let parallelism = match r.u32()? {
            0 => Parallelism::Auto,
            1 => Parallelism::Replicas,
            2 => Parallelism::Hogwild,
            p => return Err(Error::Checkpoint(format!("unknown parallelism {p}"))),
        };
        let noise = Noise::read(&mut r, n)?;
        let floats = product(&[n, dim])?;
        product(&[n, dim.next_multiple_of(16)])?;
        let syn0 = Table::from_packed(n, dim, &r.f32s(floats)?);
        let syn1 = Table::from_packed(n, dim, &r.f32s(floats)?);
        r.finish()?;
        Ok(SkipGram { cfg, n, seed, walk_len, n_walks, syn0, syn1, noise, parallelism, replicas: Vec::new() })
    }

    /// `range` on per-thread replicas merged after every round (see the
    /// module docs): one OS thread per replica (this one is replica 0), a
    /// barrier after the training of a round and one after the merge, in
    /// which each thread merges its band of rows of every replica.
    fn train_replicated(&mut self, threads: usize, walks: &[u32], range: Range<usize>, sched: Schedule, epoch_seed: u64) -> Tally {
        let stride = self.syn0.stride;
        let rows = self.n;
        // Walks per thread per round: about two thirds as many tokens as the
        // tables have rows. The staleness costs quality beyond that: on
        // email-Eu-core (1,005 nodes, 5 seeds × 5 probe splits) macro-F1 was
        // the same as one thread's with 8 or 16 walks (~330 or ~670 tokens)
        // per thread per round, and 0.009 lower with 32; the merge costs about
        // 0.15 ms per round there.
        let round_tokens = (rows * 2 / 3).max(512);
        let per = (round_tokens * self.n_walks).div_ceil(self.noise.tokens.max(1)).max(1);
        let rounds = range.len().div_ceil(threads * per);
        if self.replicas.len() != threads {
            self.replicas = (0..threads).map(|_| [self.syn0.clone(), self.syn1.clone()]).collect();
        }
        let reps: Vec<[Rows; 2]> = self.replicas.iter_mut().map(|[a, b]| [a.rows(), b.rows()]).collect();
        let master = [self.syn0.rows(), self.syn1.rows()];
        let barrier = SpinBarrier::new(threads);
        let (noise, cfg, walk_len) = (&self.noise, &self.cfg, self.walk_len);
        let work = &|t: usize| -> Tally {
            // Rows merged per block, through a scratch block.
            const BLOCK_ROWS: usize = 32;
            let mut sum = vec![0f32; BLOCK_ROWS * stride];
            let (first_row, end_row) = (rows * t / threads, rows * (t + 1) / threads);
            let mut tally = Tally::default();
            for round in 0..rounds {
                let start = range.start + round * threads * per;
                let lo = (start + t * per).min(range.end);
                let hi = (start + (t + 1) * per).min(range.end);
                let sh = Shared { syn0: reps[t][0], syn1: reps[t][1], noise, cfg, sched, epoch_seed };
                // SAFETY: replica `t` is this thread's alone from the
                // barrier that ended the last merge (or from the spawn) to
                // the next barrier: plain access; every walk node is a row.
                tally = tally.add(unsafe { train_walks_best::<Exclusive>(&sh, walks, walk_len, lo..hi) });
                barrier.wait();
                // table += Σ (replica − table), in replica order, then
                // every replica := table; rows `first_row..end_row` only,
                // which no other thread touches until the next barrier.
                for which in 0..2 {
                    let mut row = first_row;
                    while row < end_row {
                        let len = (end_row - row).min(BLOCK_ROWS) * stride;
                        // SAFETY: rows `row..row + len / stride` of the
                        // tables and of every replica are this thread's
                        // alone between the two barriers (bands are
                        // disjoint), every other thread's writes to them
                        // happen-before the barrier just passed, and one
                        // view of each is alive at a time.
                        unsafe {
                            let base = std::slice::from_raw_parts_mut(master[which].row_ptr(row), len);
                            let sum = &mut sum[..len];
                            sum.copy_from_slice(base);
                            for r in &reps {
                                let rep = std::slice::from_raw_parts(r[which].row_ptr(row), len);
                                for ((s, &x), &b) in sum.iter_mut().zip(rep).zip(base.iter()) {
                                    *s += x - b;
                                }
                            }
                            base.copy_from_slice(sum);
                            for r in &reps {
                                std::slice::from_raw_parts_mut(r[which].row_ptr(row), len).copy_from_slice(sum);
                            }
                        }
                        row += BLOCK_ROWS;
                    }
                }
                barrier.wait();
            }
            tally
        };
        std::thread::scope(|s| {
            let handles: Vec<_> = (1..threads).map(|t| s.spawn(move || work(t))).collect();
            let mine = work(0);
            // Joining orders every thread's last merge before our return
            // (and before any later plain access to the tables).
            handles.into_iter().fold(mine, |acc, h| acc.add(h.join().expect("a skip-gram replica thread panicked")))
        })
    }
}

/// Trains `n × dim` node embeddings on `walks` (each `walk_len` long,
/// padded with [`PAD`]) for `cfg.epochs` passes; returns the input table,
/// row-major. A wrapper over [`SkipGram`]: one [`SkipGram::train_epoch`]
/// per epoch.
///
/// # Panics
/// On what [`SkipGram::new`] refuses (a node ≥ `n`, walks that are not
/// whole rows, dim or window 0, a non-positive rate).
pub fn train_skipgram(walks: &[u32], walk_len: usize, n: usize, cfg: &SkipGramConfig, seed: u64) -> Vec<f32> {
    let mut model = SkipGram::new(n, walks, walk_len, cfg, seed).unwrap_or_else(|e| panic!("train_skipgram: {e}"));
    for epoch in 0..cfg.epochs {
        model.train_epoch(walks, walk_len, epoch).unwrap_or_else(|e| panic!("train_skipgram: {e}"));
    }
    model.embeddings()
}

/// A barrier that spins: the rounds of replica training are a millisecond
/// or two, and waking a sleeping thread (futex, and in a VM an interrupt to
/// a halted virtual CPU) costs a good part of that.
///
/// Memory ordering: each arrival is an `AcqRel` `fetch_add` on `arrived`,
/// so the last arrival (whose `fetch_add` reads the value the others'
/// release sequence wrote) acquires every earlier arrival; it then resets
/// `arrived` and bumps `generation` with `Release`, which each waiter
/// acquires when it sees the bump. Everything any thread did before
/// `wait` therefore happens-before everything any thread does after it.
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

#[cfg(test)]
mod tests;
