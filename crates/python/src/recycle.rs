//! Memory for the arrays that calls return, recycled within the process.
//!
//! glibc hands blocks above its mmap threshold (128 KiB, raised adaptively
//! up to 32 MiB) and the free top of its heap back to the kernel when they
//! are freed, so every call's fresh output arrays faulted their pages in
//! again, each page zeroed by the kernel: a quarter of the time of a
//! sampling call from Python, and as much as the copy itself for a gather
//! of 35,000 feature rows (18 MB). The CLI raises glibc's thresholds at
//! start (`tune_allocator`); in Python that would change the whole
//! process's allocator, so it is opt-in there. Instead, the memory under
//! the arrays we return comes back here when the last array over it dies,
//! and the next call writes into it while its pages are still mapped.
//!
//! Two kinds of memory come back: cache-line aligned [`Block`]s (feature
//! rows, widened arrays) and the int64 vectors of a neighbour sample
//! ([`Ids`]), which the sampler writes directly. Each kind is kept
//! separately, bounded: at most [`KEEP`] buffers and [`KEEP_BYTES`] bytes
//! (the oldest go first), and a buffer over [`MAX_BLOCK_BYTES`] is never
//! kept.
//! The cache is only ever tried (`try_lock`), never waited for: a forked
//! child that inherits it locked allocates and frees as usual.

use std::mem::MaybeUninit;
use std::sync::Mutex;

use numpy::ndarray::{ArrayView1, ArrayView2};
use numpy::{PyArray1, PyArray2};
use pyo3::prelude::*;

/// Blocks kept for reuse at most.
const KEEP: usize = 64;
/// Bytes kept for reuse at most.
const KEEP_BYTES: usize = 128 << 20;
/// A block larger than this is freed, not kept.
const MAX_BLOCK_BYTES: usize = 64 << 20;

/// The unit of a block: one 64-byte cache line, so that every block starts
/// line-aligned (feature rows are then written with aligned streaming
/// stores, see `ferrograph_sample::features::gather_into`).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line(#[allow(dead_code)] [u64; 8]);

/// Buffers given back, oldest first, and their bytes.
struct Kept<T> {
    items: Vec<Vec<T>>,
    bytes: usize,
}

impl<T> Kept<T> {
    const fn new() -> Self {
        Kept { items: Vec::new(), bytes: 0 }
    }

    /// The smallest kept buffer of at least `cap` elements; of equals, the
    /// last given back (its pages are the likeliest still in cache).
    fn take(&mut self, cap: usize) -> Option<Vec<T>> {
        let best = self
            .items
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= cap)
            .min_by_key(|&(i, b)| (b.capacity(), std::cmp::Reverse(i)))
            .map(|(i, _)| i)?;
        let b = self.items.remove(best);
        self.bytes -= b.capacity() * size_of::<T>();
        Some(b)
    }

    /// Keeps `b` (emptied), dropping the oldest beyond the bounds.
    fn give(&mut self, mut b: Vec<T>) {
        let size = b.capacity() * size_of::<T>();
        if size == 0 || size > MAX_BLOCK_BYTES {
            return;
        }
        b.clear();
        self.items.push(b);
        self.bytes += size;
        while self.items.len() > KEEP || self.bytes > KEEP_BYTES {
            let old = self.items.remove(0);
            self.bytes -= old.capacity() * size_of::<T>();
        }
    }
}

/// Blocks given back.
static FREE: Mutex<Kept<Line>> = Mutex::new(Kept::new());
/// Sample vectors given back.
static FREE_IDS: Mutex<Kept<i64>> = Mutex::new(Kept::new());

/// Capacity in lines for `lines`, rounded up to a size class (four per
/// power of two) so that batches of slightly different sizes reuse each
/// other's blocks.
fn class(lines: usize) -> usize {
    if lines <= 64 {
        return lines.max(1);
    }
    let top = usize::BITS - 1 - lines.leading_zeros();
    let step = 1usize << (top - 2);
    lines.div_ceil(step) * step
}

/// Cache-line aligned memory for the results of one call; given back to
/// the cache when dropped.
pub(crate) struct Block(Vec<Line>);

impl Block {
    /// A block of at least `bytes` bytes: the smallest kept one that fits,
    /// else a new one.
    pub(crate) fn take(bytes: usize) -> Block {
        let lines = bytes.div_ceil(64);
        let kept = FREE.try_lock().ok().and_then(|mut f| f.take(lines));
        Block(kept.unwrap_or_else(|| Vec::with_capacity(class(lines))))
    }

    /// The first `n` `T`s of the block, to be written.
    fn spare<T: Copy>(&mut self, n: usize) -> &mut [MaybeUninit<T>] {
        assert!(size_of::<T>() <= 64 && 64 % size_of::<T>() == 0, "a block holds elements of a size dividing 64");
        let room = self.0.capacity() * (64 / size_of::<T>());
        assert!(n <= room, "block of {room} elements asked for {n}");
        // SAFETY: the allocation is `capacity * 64` bytes, aligned to 64, so
        // it holds `room >= n` values of `T` (size dividing 64); they are
        // exposed as uninitialised.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_mut_ptr().cast::<MaybeUninit<T>>(), n) }
    }

    /// Room for `n` floats, to be written completely before
    /// [`into_f32_array2`](Self::into_f32_array2).
    pub(crate) fn f32s(&mut self, n: usize) -> &mut [MaybeUninit<f32>] {
        self.spare(n)
    }

    /// `parts` widened to int64 into one block, one after another; the
    /// block and each part's length.
    pub(crate) fn widen(parts: &[&[u32]]) -> (Block, Vec<usize>) {
        let total = parts.iter().map(|p| p.len()).sum();
        let mut b = Block::take(total * 8);
        let out = b.spare::<i64>(total);
        let mut at = 0;
        for p in parts {
            widen_into(p, &mut out[at..at + p.len()]);
            at += p.len();
        }
        (b, parts.iter().map(|p| p.len()).collect())
    }

    /// The block as consecutive int64 arrays of `lens` elements (written
    /// by [`widen`](Self::widen)), each a view whose base object owns the
    /// block.
    pub(crate) fn into_i64_arrays<'py>(self, py: Python<'py>, lens: &[usize]) -> PyResult<Vec<Bound<'py, PyArray1<i64>>>> {
        let total: usize = lens.iter().sum();
        let ptr = self.0.as_ptr().cast::<i64>();
        assert!(total * 8 <= self.0.capacity() * 64, "arrays longer than their block");
        let owner = Bound::new(py, Memory(Owned::Block(self)))?.into_any();
        let mut at = 0;
        let mut arrays = Vec::with_capacity(lens.len());
        for &n in lens {
            // SAFETY: elements `at..at + n` lie in the block and were
            // written by `widen`; the block lives as long as `owner`, the
            // array's base object, and nothing else writes to it.
            let a = unsafe {
                let v = ArrayView1::from(std::slice::from_raw_parts(ptr.add(at), n));
                PyArray1::borrow_from_array(&v, owner.clone())
            };
            arrays.push(a);
            at += n;
        }
        Ok(arrays)
    }

    /// The block's first `rows * cols` floats (all written through
    /// [`f32s`](Self::f32s)) as a `(rows, cols)` array whose base object
    /// owns the block.
    pub(crate) fn into_f32_array2(self, py: Python<'_>, rows: usize, cols: usize) -> PyResult<Bound<'_, PyArray2<f32>>> {
        let n = rows * cols;
        assert!(n * 4 <= self.0.capacity() * 64, "an array larger than its block");
        let ptr = self.0.as_ptr().cast::<f32>();
        let owner = Bound::new(py, Memory(Owned::Block(self)))?.into_any();
        // SAFETY: as in `into_i64_arrays`: the first `n` floats were
        // written, and `owner` keeps them alive.
        unsafe {
            let v = ArrayView2::from_shape((rows, cols), std::slice::from_raw_parts(ptr, n)).expect("rows * cols elements");
            Ok(PyArray2::borrow_from_array(&v, owner))
        }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        if let Ok(mut free) = FREE.try_lock() {
            free.give(std::mem::take(&mut self.0));
        }
    }
}

/// An int64 vector that a sampler fills (pushing, so it grows as a `Vec`
/// does) and that becomes one NumPy array; given back to the cache when
/// dropped.
pub(crate) struct Ids(Vec<i64>);

impl Ids {
    /// An empty vector with room for `cap` values: the smallest kept one
    /// that has it, else a new one.
    pub(crate) fn take(cap: usize) -> Vec<i64> {
        let kept = FREE_IDS.try_lock().ok().and_then(|mut f| f.take(cap));
        kept.unwrap_or_else(|| Vec::with_capacity(class(cap.div_ceil(8)) * 8))
    }

    /// `v` (from [`take`](Self::take) or not) as an int64 array whose base
    /// object owns it; it comes back to the cache with the last array.
    pub(crate) fn array(py: Python<'_>, v: Vec<i64>) -> PyResult<Bound<'_, PyArray1<i64>>> {
        let (ptr, n) = (v.as_ptr(), v.len());
        let owner = Bound::new(py, Memory(Owned::Ids(Ids(v))))?.into_any();
        // SAFETY: the `n` values are initialised; the vector lives, unmoved
        // and unchanged, as long as `owner`, the array's base object.
        unsafe {
            let v = ArrayView1::from(std::slice::from_raw_parts(ptr, n));
            Ok(PyArray1::borrow_from_array(&v, owner))
        }
    }
}

impl Drop for Ids {
    fn drop(&mut self) {
        if let Ok(mut free) = FREE_IDS.try_lock() {
            free.give(std::mem::take(&mut self.0));
        }
    }
}

/// Writes `src` widened to int64 into `dst` (as long). On x86-64 the
/// aligned middle goes out as non-temporal stores: a sample's arrays are
/// ~1 MB a batch, written once and read (if at all) by NumPy or torch
/// later, and writing them through the cache evicted the sampler's own
/// working set (L2 is 1 MB here) before the next batch.
fn widen_into(src: &[u32], dst: &mut [MaybeUninit<i64>]) {
    debug_assert_eq!(src.len(), dst.len());
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_setzero_si128, _mm_sfence, _mm_stream_si128, _mm_unpackhi_epi32, _mm_unpacklo_epi32};
        // Scalar up to a 16-byte boundary, then 4 values per step, then the tail.
        let head = dst.as_ptr().align_offset(16).min(dst.len());
        for (o, &v) in dst[..head].iter_mut().zip(&src[..head]) {
            o.write(i64::from(v));
        }
        let body = (dst.len() - head) / 4 * 4;
        let (s, d) = (&src[head..head + body], &mut dst[head..head + body]);
        for (sc, dc) in s.chunks_exact(4).zip(d.chunks_exact_mut(4)) {
            // SAFETY: SSE2 is part of x86-64; `sc` is 4 u32 (16 bytes, read
            // unaligned); `dc` is 4 i64 starting 16-byte aligned (`head`
            // steps of 8 bytes reached the boundary, and each chunk is 32
            // bytes), so both 16-byte stores are aligned and in bounds.
            unsafe {
                let x = _mm_loadu_si128(sc.as_ptr().cast::<__m128i>());
                let z = _mm_setzero_si128();
                let q = dc.as_mut_ptr().cast::<__m128i>();
                _mm_stream_si128(q, _mm_unpacklo_epi32(x, z));
                _mm_stream_si128(q.add(1), _mm_unpackhi_epi32(x, z));
            }
        }
        // Streaming stores are weakly ordered: fence them before the block
        // is handed to another thread (or to Python).
        // SAFETY: SSE2 is part of x86-64.
        unsafe { _mm_sfence() };
        for (o, &v) in dst[head + body..].iter_mut().zip(&src[head + body..]) {
            o.write(i64::from(v));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    for (o, &v) in dst.iter_mut().zip(src) {
        o.write(i64::from(v));
    }
}

/// What a [`Memory`] owns.
enum Owned {
    Block(#[allow(dead_code)] Block),
    Ids(#[allow(dead_code)] Ids),
}

/// The base object of arrays made from a [`Block`] or an [`Ids`]: the
/// memory goes back to the cache when the last of them is gone.
#[pyclass(frozen, module = "ferrograph._native")]
pub(crate) struct Memory(#[allow(dead_code)] Owned);
