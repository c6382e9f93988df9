//! Compressed sparse rows per edge type, and the parallel builder that makes them.
//!
//! # Layout
//! A [`Csr`] over `n` rows holds `offsets` (`n + 1` entries, `offsets[0] == 0`,
//! non-decreasing, `offsets[n] == targets.len()`) and `targets` (local indices
//! of the neighbours). Each row's targets are sorted ascending, so membership is
//! a binary search. The out-CSR of an edge type is indexed by source and its
//! positions are the edge type's [`crate::EdgePos`]; the in-CSR (CSC) is indexed
//! by destination and, when the edge type has attributes, carries `edge`: for
//! each in-entry, the out-position of the same edge, so attributes are reachable
//! from both directions.
//!
//! # Building
//! [`build_topology`] runs two stable counting sorts: input → grouped by
//! source (the CSR; each row then sorted by destination while it is still in
//! cache) → grouped by destination (the CSC; reading the CSR in source order
//! makes every in-row sorted by source for free). A plain counting sort
//! scatters every edge to a random place: one DRAM write miss per edge, about
//! 10 ns each on this machine (measured: 100 ms per pass at 10M edges). Each
//! sort here is instead two cache-friendly steps (see `counting_sort`): a
//! streaming partition by the key's high bits, then per-bucket placement in
//! L2. Chunks and buckets run in parallel; a stable sort has exactly one
//! result, so the output is identical whatever the thread count. Memory: the
//! input arrays are consumed by the first pass; besides the output at most
//! one temporary copy of the edges (8 bytes each, plus 4 for edge ids) lives
//! at a time.

use std::ops::Range;

use rayon::prelude::*;

use crate::array::Array;
use crate::{Error, Result};

/// One direction of an edge type's topology.
#[derive(Debug, Default)]
pub struct Csr {
    /// `rows + 1` offsets into `targets`.
    pub offsets: Array<u64>,
    /// Neighbour local indices, sorted within each row.
    pub targets: Array<u32>,
    /// For an in-CSR of an edge type with attributes: the out-position (CSR
    /// position) of each entry's edge. `None` for out-CSRs and attribute-free types.
    pub edge: Option<Array<u32>>,
}

impl Csr {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Number of stored entries.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Position range of row `r` (panics if `r >= rows()`).
    #[inline]
    pub fn range(&self, r: usize) -> Range<usize> {
        let o = self.offsets.as_slice();
        o[r] as usize..o[r + 1] as usize
    }

    /// Neighbours of row `r`.
    #[inline]
    pub fn neighbors(&self, r: usize) -> &[u32] {
        &self.targets.as_slice()[self.range(r)]
    }

    /// Degree of row `r`.
    #[inline]
    pub fn degree(&self, r: usize) -> usize {
        let o = self.offsets.as_slice();
        (o[r + 1] - o[r]) as usize
    }

    /// Whether `r → t` is stored (binary search in the sorted row).
    pub fn contains(&self, r: usize, t: u32) -> bool {
        self.neighbors(r).binary_search(&t).is_ok()
    }

    /// Checks every invariant against `targets_bound` (number of nodes of the
    /// target type). Reads the whole structure: used by `verify`, not by `open`.
    pub fn check(&self, targets_bound: usize) -> std::result::Result<(), String> {
        let o = self.offsets.as_slice();
        let t = self.targets.as_slice();
        if o.is_empty() || o[0] != 0 || o[o.len() - 1] != t.len() as u64 {
            return Err("offsets do not span the targets".into());
        }
        let bad_row = (0..o.len() - 1).into_par_iter().find_any(|&r| {
            if o[r] > o[r + 1] || o[r + 1] > t.len() as u64 {
                return true;
            }
            let row = &t[o[r] as usize..o[r + 1] as usize];
            row.windows(2).any(|w| w[0] > w[1]) || row.iter().any(|&x| x as usize >= targets_bound)
        });
        if let Some(r) = bad_row {
            return Err(format!("row {r} is out of order or points past the last node"));
        }
        if let Some(e) = &self.edge
            && e.len() != t.len()
        {
            return Err("edge map length differs from the targets".into());
        }
        Ok(())
    }
}

/// How to build one edge type's topology.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuildOptions {
    /// Store both directions of every edge in the out-CSR (source and
    /// destination type must be the same); the in-CSR is then the out-CSR itself.
    pub undirected: bool,
    /// Drop repeated `(src, dst)` pairs, keeping the first occurrence in input order.
    pub dedup: bool,
    /// Keep, for every out-position, the index of the input edge it came from
    /// (needed to align edge attributes), and the in→out edge map.
    pub edge_ids: bool,
}

/// The result of [`build_topology`].
#[derive(Debug)]
pub struct Built {
    /// Out-neighbours, indexed by source.
    pub out: Csr,
    /// In-neighbours, indexed by destination; `None` for undirected types.
    pub inn: Option<Csr>,
    /// With [`BuildOptions::edge_ids`]: the input edge index of every out-position.
    pub input_edge: Option<Vec<u32>>,
    /// Self-loops stored (counted once each).
    pub self_loops: u64,
}

enum Payload<'a> {
    None,
    Identity,
    Slice(&'a [u32]),
}

impl Payload<'_> {
    #[inline]
    fn get(&self, pos: usize) -> u32 {
        match self {
            Payload::None => 0,
            Payload::Identity => pos as u32,
            Payload::Slice(s) => s[pos],
        }
    }
    fn present(&self) -> bool {
        !matches!(self, Payload::None)
    }
}

/// A sequence of `(key, value)` pairs at positions `0..len`, readable in chunks.
trait Pairs: Sync {
    fn chunks(&self, n: usize) -> Vec<Range<usize>>;
    /// Calls `f(key, value, position)` for every pair of chunk `range`, in order.
    fn for_each(&self, range: Range<usize>, f: impl FnMut(u32, u32, usize));
}

/// Flat arrays: key = `keys[i]`, value = `values[i]`.
struct Flat<'a, T> {
    keys: &'a [T],
    values: &'a [T],
}

impl<T: EdgeIndex> Pairs for Flat<'_, T> {
    fn chunks(&self, n: usize) -> Vec<Range<usize>> {
        split_even(self.keys.len(), n)
    }
    fn for_each(&self, range: Range<usize>, mut f: impl FnMut(u32, u32, usize)) {
        for i in range {
            f(self.keys[i].index() as u32, self.values[i].index() as u32, i);
        }
    }
}

/// Integer types that edge endpoints may be given in (`u32` local indices,
/// or `i64` as in NumPy/PyTorch edge arrays), read without a conversion copy.
pub trait EdgeIndex: Copy + Send + Sync {
    /// The value as an index; negative values map to `u64::MAX` (out of range).
    fn index(self) -> u64;
}

impl EdgeIndex for u32 {
    #[inline]
    fn index(self) -> u64 {
        u64::from(self)
    }
}

impl EdgeIndex for i64 {
    #[inline]
    fn index(self) -> u64 {
        u64::try_from(self).unwrap_or(u64::MAX)
    }
}

fn check_range<T: EdgeIndex>(what: &str, v: &[T], n: usize) -> Result<()> {
    // A vectorisable max per chunk first; the position only on failure
    // (rayon's per-item `position_first` costs ~10 ns an element).
    let max = v.par_chunks(1 << 16).map(|c| c.iter().map(|x| x.index()).max().unwrap_or(0)).max().unwrap_or(0);
    if v.is_empty() || max < n as u64 {
        return Ok(());
    }
    match v.iter().position(|&x| x.index() >= n as u64) {
        Some(i) => {
            let shown = v[i].index();
            let shown = if shown == u64::MAX { "negative".to_string() } else { shown.to_string() };
            Err(Error::Invalid(format!("edge {i}: {what} index {shown} out of range (< {n})")))
        }
        None => Ok(()),
    }
}

/// Grouped rows: key = target, value = row. Chunks are row ranges.
struct Grouped<'a> {
    offsets: &'a [u64],
    targets: &'a [u32],
}

impl Pairs for Grouped<'_> {
    fn chunks(&self, n: usize) -> Vec<Range<usize>> {
        // Split rows so that chunks hold about the same number of entries.
        let rows = self.offsets.len() - 1;
        let total = self.targets.len() as u64;
        let mut out = Vec::with_capacity(n);
        let mut start = 0usize;
        for c in 1..=n {
            let goal = total * c as u64 / n as u64;
            let end = if c == n { rows } else { self.offsets.partition_point(|&o| o < goal).min(rows).max(start) };
            out.push(start..end);
            start = end;
        }
        out
    }
    fn for_each(&self, rows: Range<usize>, mut f: impl FnMut(u32, u32, usize)) {
        for r in rows {
            for p in self.offsets[r] as usize..self.offsets[r + 1] as usize {
                f(self.targets[p], r as u32, p);
            }
        }
    }
}

fn split_even(len: usize, n: usize) -> Vec<Range<usize>> {
    (0..n).map(|c| len * c / n..len * (c + 1) / n).collect()
}

/// A raw pointer that may be shared across the scatter threads, each of
/// which writes a disjoint set of positions.
#[derive(Clone, Copy)]
struct SharedMut<T>(*mut T);
unsafe impl<T: Send> Send for SharedMut<T> {}
unsafe impl<T: Send> Sync for SharedMut<T> {}

impl<T> SharedMut<T> {
    /// # Safety
    /// `i` is in bounds and no other thread writes position `i`.
    #[inline]
    unsafe fn write(self, i: usize, v: T) {
        unsafe { self.0.add(i).write(v) }
    }
}

/// An empty vector with room for `len` elements whose pages the kernel is
/// asked to back with transparent huge pages: at 10M edges, first-touch page
/// faults on 4 KiB pages cost as much as the sort itself.
pub fn big_vec<T>(len: usize) -> Vec<T> {
    let v = Vec::with_capacity(len);
    advise_huge(v.as_ptr() as usize, len * std::mem::size_of::<T>());
    v
}

#[cfg(target_os = "linux")]
fn advise_huge(addr: usize, bytes: usize) {
    const HUGE: usize = 2 << 20;
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if bytes < 2 * HUGE || *OFF.get_or_init(|| std::env::var_os("FERROGRAPH_NO_HUGEPAGES").is_some()) {
        return;
    }
    let start = addr.next_multiple_of(HUGE);
    let end = (addr + bytes) / HUGE * HUGE;
    if end > start {
        // SAFETY: the range lies inside an allocation we own; MADV_HUGEPAGE is
        // only advice and changes no contents.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_: usize, _: usize) {}

struct Sorted {
    offsets: Vec<u64>,
    values: Vec<u32>,
    payload: Option<Vec<u32>>,
    /// Groups `k` holding value `k` (self-loops), when asked for.
    diagonal: u64,
}

/// Reusable temporaries of the two passes of one build.
#[derive(Default)]
struct Scratch {
    narrow: Vec<u32>,
    wide: Vec<u64>,
    payload: Vec<u32>,
}

/// A pair packed for the partition step: the key's low bits (its place
/// inside its bucket) and the value. `u32` when both fit, halving the
/// memory traffic of the two streaming steps; `u64` otherwise.
trait Packed: Copy + Send + Sync + 'static {
    fn pack(low: u32, value: u32, value_bits: u32) -> Self;
    fn low(self, value_bits: u32) -> usize;
    fn value(self, value_bits: u32) -> u32;
    fn buffer(s: &mut Scratch) -> &mut Vec<Self>;
}

impl Packed for u32 {
    #[inline]
    fn pack(low: u32, value: u32, value_bits: u32) -> Self {
        (low << value_bits) | value
    }
    #[inline]
    fn low(self, value_bits: u32) -> usize {
        (self >> value_bits) as usize
    }
    #[inline]
    fn value(self, value_bits: u32) -> u32 {
        self & ((1u32 << value_bits) - 1)
    }
    fn buffer(s: &mut Scratch) -> &mut Vec<Self> {
        &mut s.narrow
    }
}

impl Packed for u64 {
    #[inline]
    fn pack(low: u32, value: u32, _: u32) -> Self {
        (u64::from(low) << 32) | u64::from(value)
    }
    #[inline]
    fn low(self, _: u32) -> usize {
        (self >> 32) as usize
    }
    #[inline]
    fn value(self, _: u32) -> u32 {
        self as u32
    }
    fn buffer(s: &mut Scratch) -> &mut Vec<Self> {
        &mut s.wide
    }
}

/// Keys per bucket so that a bucket's entries (about `total / buckets`)
/// stay in L2 while they are counted and placed.
fn bucket_shift(total: usize, num_keys: usize) -> u32 {
    let buckets = (total / 16_384).clamp(1, 1 << 14).next_power_of_two();
    let keys_per_bucket = num_keys.div_ceil(buckets).max(1);
    keys_per_bucket.next_power_of_two().trailing_zeros()
}

/// Sorts a row; most rows of real graphs hold a handful of entries, where
/// an inline insertion sort beats the general sort's setup.
#[inline]
fn sort_small<T: Ord + Copy>(row: &mut [T]) {
    if row.len() > 24 {
        row.sort_unstable();
        return;
    }
    for i in 1..row.len() {
        let x = row[i];
        let mut j = i;
        while j > 0 && row[j - 1] > x {
            row[j] = row[j - 1];
            j -= 1;
        }
        row[j] = x;
    }
}

fn bits_for(n: usize) -> u32 {
    usize::BITS - n.saturating_sub(1).leading_zeros()
}

/// What one counting sort is asked to do.
struct SortJob<'a> {
    total: usize,
    num_keys: usize,
    /// Values are below this bound.
    num_values: usize,
    payload: Payload<'a>,
    /// Sort each group by (value, payload) once placed.
    sort_rows: bool,
    /// Count groups `k` that hold value `k` (needs `sort_rows`).
    diagonal: bool,
}

/// Stable sort of `pairs` by key into `num_keys` groups, in two
/// cache-friendly steps instead of one random scatter:
/// 1. partition: stream every pair into the bucket of its key's high bits
///    (a few thousand sequential write streams; chunks in parallel, each
///    with its own cursors, so the partition is stable);
/// 2. place: each bucket (a key range small enough for L2) is counted and
///    scattered into its own slice of the output, buckets in parallel, and
///    with `sort_rows` each group is sorted while still in cache.
fn counting_sort<P: Pairs>(pairs: &P, job: SortJob<'_>, scratch: &mut Scratch) -> Sorted {
    let shift = bucket_shift(job.total, job.num_keys);
    let value_bits = bits_for(job.num_values).max(1);
    if shift + value_bits <= 32 {
        sort_packed::<u32, P>(pairs, job, shift, value_bits, scratch)
    } else {
        sort_packed::<u64, P>(pairs, job, shift, value_bits, scratch)
    }
}

fn sort_packed<W: Packed, P: Pairs>(pairs: &P, job: SortJob<'_>, shift: u32, value_bits: u32, scratch: &mut Scratch) -> Sorted {
    let SortJob { total, num_keys, payload, sort_rows, diagonal, .. } = job;
    let threads = rayon::current_num_threads().max(1);
    let chunks = pairs.chunks(threads);
    let nb = (num_keys >> shift) + 1;
    let mask = (1u32 << shift) - 1;
    let with_payload = payload.present();
    // 1a. Bucket sizes per chunk.
    let mut cursors: Vec<Vec<usize>> = chunks
        .par_iter()
        .map(|r| {
            let mut c = vec![0usize; nb];
            pairs.for_each(r.clone(), |k, _, _| c[(k >> shift) as usize] += 1);
            c
        })
        .collect();
    let mut bucket_start = vec![0usize; nb + 1];
    let mut run = 0usize;
    for b in 0..nb {
        bucket_start[b] = run;
        for c in cursors.iter_mut() {
            let n = c[b];
            c[b] = run;
            run += n;
        }
    }
    bucket_start[nb] = run;
    // 1b. Partition.
    if W::buffer(scratch).capacity() < total {
        *W::buffer(scratch) = big_vec(total);
    }
    if with_payload && scratch.payload.capacity() < total {
        scratch.payload = big_vec(total);
    }
    let tptr = SharedMut(W::buffer(scratch).as_mut_ptr());
    let pptr = SharedMut(scratch.payload.as_mut_ptr());
    chunks.par_iter().zip(cursors.par_iter_mut()).for_each(|(r, cur)| {
        pairs.for_each(r.clone(), |k, v, pos| {
            let b = (k >> shift) as usize;
            let slot = cur[b];
            cur[b] += 1;
            // SAFETY: each (chunk, bucket) owns the slots between its cursor start
            // and the next one (prefix sums above), all below `total`, within
            // the capacity reserved above; every slot is written once.
            unsafe {
                tptr.write(slot, W::pack(k & mask, v, value_bits));
                if with_payload {
                    pptr.write(slot, payload.get(pos));
                }
            }
        });
    });
    drop(cursors);
    // SAFETY: slots 0..total were all written in step 1b (capacity >= total).
    let tmp: &[W] = unsafe { std::slice::from_raw_parts(tptr.0, total) };
    let tmp_pay: &[u32] = if with_payload { unsafe { std::slice::from_raw_parts(pptr.0, total) } } else { &[] };
    // 2. Place each bucket into its own output range.
    let mut offsets: Vec<u64> = big_vec(num_keys + 1);
    let mut values: Vec<u32> = big_vec(total);
    let mut pay_out: Vec<u32> = big_vec(if with_payload { total } else { 0 });
    let optr = SharedMut(offsets.as_mut_ptr());
    let vptr = SharedMut(values.as_mut_ptr());
    let qptr = SharedMut(pay_out.as_mut_ptr());
    let diag: u64 = (0..nb)
        .into_par_iter()
        .map(|b| {
            let (lo, hi) = (bucket_start[b], bucket_start[b + 1]);
            let k0 = b << shift;
            let k1 = ((b + 1) << shift).min(num_keys);
            if k0 >= num_keys {
                return 0;
            }
            let mut count = vec![0usize; k1 - k0];
            for &x in &tmp[lo..hi] {
                count[x.low(value_bits)] += 1;
            }
            let mut run = lo;
            for (i, c) in count.iter_mut().enumerate() {
                // SAFETY: key ranges of buckets are disjoint.
                unsafe { optr.write(k0 + i, run as u64) };
                let n = *c;
                *c = run;
                run += n;
            }
            for i in lo..hi {
                let x = tmp[i];
                let k = x.low(value_bits);
                let slot = count[k];
                count[k] += 1;
                // SAFETY: slots of this bucket lie in lo..hi, owned by this task.
                unsafe {
                    vptr.write(slot, x.value(value_bits));
                    if with_payload {
                        qptr.write(slot, tmp_pay[i]);
                    }
                }
            }
            if !sort_rows {
                return 0;
            }
            // SAFETY: this task owns values[lo..hi] and pay_out[lo..hi], all written above.
            let vals = unsafe { std::slice::from_raw_parts_mut(vptr.0.add(lo), hi - lo) };
            let pays: &mut [u32] = if with_payload { unsafe { std::slice::from_raw_parts_mut(qptr.0.add(lo), hi - lo) } } else { &mut [] };
            let mut pairs_buf: Vec<u64> = Vec::new();
            let mut diag = 0u64;
            let mut start = 0;
            for (i, &end) in count.iter().enumerate() {
                let end = end - lo;
                let row = &mut vals[start..end];
                if row.len() > 1 {
                    if with_payload {
                        let p = &mut pays[start..end];
                        pairs_buf.clear();
                        pairs_buf.extend(row.iter().zip(p.iter()).map(|(&v, &q)| (u64::from(v) << 32) | u64::from(q)));
                        sort_small(&mut pairs_buf);
                        for ((v, q), x) in row.iter_mut().zip(p.iter_mut()).zip(&pairs_buf) {
                            *v = (x >> 32) as u32;
                            *q = *x as u32;
                        }
                    } else {
                        sort_small(row);
                    }
                }
                if diagonal && row.binary_search(&((k0 + i) as u32)).is_ok() {
                    diag += 1;
                }
                start = end;
            }
            diag
        })
        .sum();
    // SAFETY: every key below `num_keys` lies in exactly one bucket, which wrote
    // its offset; every slot of `values` and `pay_out` was written by the bucket
    // owning it; the last offset is written here.
    unsafe {
        offsets.set_len(num_keys + 1);
        values.set_len(total);
        if with_payload {
            pay_out.set_len(total);
        }
    }
    offsets[num_keys] = total as u64;
    Sorted { offsets, values, payload: with_payload.then_some(pay_out), diagonal: diag }
}

/// Removes repeated targets within each row (rows are sorted, so repeats are adjacent).
fn dedup_rows(s: &mut Sorted) {
    let rows = s.offsets.len() - 1;
    let mut write = 0usize;
    let mut start = 0usize;
    for r in 0..rows {
        let end = s.offsets[r + 1] as usize;
        let row_start = write;
        for p in start..end {
            if write > row_start && s.values[write - 1] == s.values[p] {
                continue;
            }
            s.values[write] = s.values[p];
            if let Some(pl) = s.payload.as_mut() {
                pl[write] = pl[p];
            }
            write += 1;
        }
        start = end;
        s.offsets[r + 1] = write as u64;
    }
    s.values.truncate(write);
    s.values.shrink_to_fit();
    if let Some(pl) = s.payload.as_mut() {
        pl.truncate(write);
        pl.shrink_to_fit();
    }
}

/// Builds the out- and in-topology of one edge type from its endpoints.
///
/// `src[i] → dst[i]` is input edge `i`; sources must be `< num_src` and
/// destinations `< num_dst` (checked). The arrays are consumed so that their
/// memory is released as soon as the first pass is done.
pub fn build_topology(num_src: usize, num_dst: usize, mut src: Vec<u32>, mut dst: Vec<u32>, opts: BuildOptions) -> Result<Built> {
    if src.len() != dst.len() {
        return Err(Error::Invalid(format!("{} sources but {} destinations", src.len(), dst.len())));
    }
    check_range("source", &src, num_src)?;
    check_range("destination", &dst, num_dst)?;
    let input_len = src.len();
    let mut input_ids: Option<Vec<u32>> = None;
    if opts.undirected {
        if num_src != num_dst {
            return Err(Error::Invalid("an undirected edge type needs the same source and destination type".into()));
        }
        // Append the reverse of every non-loop edge.
        let rev: Vec<(u32, u32, u32)> = (0..input_len).into_par_iter().filter(|&i| src[i] != dst[i]).map(|i| (dst[i], src[i], i as u32)).collect();
        let total = input_len + rev.len();
        if total > u32::MAX as usize {
            return Err(Error::Invalid(format!("{total} stored edges exceed the limit of {} per edge type", u32::MAX)));
        }
        src.reserve_exact(rev.len());
        dst.reserve_exact(rev.len());
        if opts.edge_ids {
            let mut ids: Vec<u32> = (0..input_len as u32).collect();
            ids.extend(rev.iter().map(|r| r.2));
            input_ids = Some(ids);
        }
        for (s, d, _) in rev {
            src.push(s);
            dst.push(d);
        }
    } else if input_len > u32::MAX as usize {
        return Err(Error::Invalid(format!("{input_len} edges exceed the limit of {} per edge type", u32::MAX)));
    }
    let mut scratch = Scratch::default();
    let out = out_pass(num_src, num_dst, &src, &dst, input_ids.as_deref(), opts, &mut scratch);
    drop(src);
    drop(dst);
    drop(input_ids);
    Ok(finish(out, num_src, num_dst, opts, &mut scratch))
}

/// Like [`build_topology`], reading borrowed endpoint arrays of any
/// [`EdgeIndex`] type (e.g. `i64` from NumPy) without converting them first.
/// Undirected types are converted and passed to [`build_topology`].
pub fn build_topology_from<T: EdgeIndex>(num_src: usize, num_dst: usize, src: &[T], dst: &[T], opts: BuildOptions) -> Result<Built> {
    if src.len() != dst.len() {
        return Err(Error::Invalid(format!("{} sources but {} destinations", src.len(), dst.len())));
    }
    check_range("source", src, num_src)?;
    check_range("destination", dst, num_dst)?;
    if opts.undirected {
        let conv = |v: &[T]| v.par_iter().map(|x| x.index() as u32).collect::<Vec<u32>>();
        return build_topology(num_src, num_dst, conv(src), conv(dst), opts);
    }
    if src.len() > u32::MAX as usize {
        return Err(Error::Invalid(format!("{} edges exceed the limit of {} per edge type", src.len(), u32::MAX)));
    }
    let mut scratch = Scratch::default();
    let out = out_pass(num_src, num_dst, src, dst, None, opts, &mut scratch);
    Ok(finish(out, num_src, num_dst, opts, &mut scratch))
}

/// Pass 1: group by source, rows sorted by (destination, input edge).
fn out_pass<T: EdgeIndex>(
    num_src: usize,
    num_dst: usize,
    src: &[T],
    dst: &[T],
    input_ids: Option<&[u32]>,
    opts: BuildOptions,
    scratch: &mut Scratch,
) -> Sorted {
    let payload = match (input_ids, opts.edge_ids) {
        (Some(ids), _) => Payload::Slice(ids),
        (None, true) => Payload::Identity,
        (None, false) => Payload::None,
    };
    let t = std::time::Instant::now();
    // Self-loops are counted while rows are in cache, except when dedup will
    // change the rows afterwards (then `finish` counts them).
    let job =
        SortJob { total: src.len(), num_keys: num_src, num_values: num_dst, payload, sort_rows: true, diagonal: num_src == num_dst && !opts.dedup };
    let out = counting_sort(&Flat { keys: src, values: dst }, job, scratch);
    tracing::debug!(secs = t.elapsed().as_secs_f64(), "out-topology");
    out
}

/// Dedup, self-loop count, and pass 2: group the CSR by destination;
/// reading rows in source order makes every in-row sorted by source (the
/// sort is stable).
fn finish(mut out: Sorted, num_src: usize, num_dst: usize, opts: BuildOptions, scratch: &mut Scratch) -> Built {
    if opts.dedup {
        dedup_rows(&mut out);
    }
    let self_loops = if num_src == num_dst && !opts.dedup {
        out.diagonal
    } else if num_src == num_dst {
        (0..num_src)
            .into_par_iter()
            .map(|r| {
                let row = &out.values[out.offsets[r] as usize..out.offsets[r + 1] as usize];
                row.binary_search(&(r as u32)).map_or(0u64, |_| 1)
            })
            .sum()
    } else {
        0
    };
    let inn = if opts.undirected {
        None
    } else {
        let payload = if opts.edge_ids { Payload::Identity } else { Payload::None };
        let stored = out.values.len();
        let t = std::time::Instant::now();
        let job = SortJob { total: stored, num_keys: num_dst, num_values: num_src, payload, sort_rows: false, diagonal: false };
        let c = counting_sort(&Grouped { offsets: &out.offsets, targets: &out.values }, job, scratch);
        tracing::debug!(secs = t.elapsed().as_secs_f64(), "in-topology");
        Some(Csr { offsets: c.offsets.into(), targets: c.values.into(), edge: c.payload.map(Array::from) })
    };
    Built { out: Csr { offsets: out.offsets.into(), targets: out.values.into(), edge: None }, inn, input_edge: out.payload, self_loops }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(n: usize, edges: &[(u32, u32)], by_src: bool) -> Vec<Vec<u32>> {
        let mut rows = vec![Vec::new(); n];
        for &(s, d) in edges {
            if by_src { rows[s as usize].push(d) } else { rows[d as usize].push(s) }
        }
        rows.iter_mut().for_each(|r| r.sort());
        rows
    }

    fn rows(c: &Csr) -> Vec<Vec<u32>> {
        (0..c.rows()).map(|r| c.neighbors(r).to_vec()).collect()
    }

    #[test]
    fn csr_and_csc_match_naive() {
        let edges = vec![(0, 2), (2, 1), (0, 1), (3, 0), (2, 1), (1, 1), (0, 3)];
        let (s, d): (Vec<u32>, Vec<u32>) = edges.iter().copied().unzip();
        let b = build_topology(4, 4, s, d, BuildOptions { edge_ids: true, ..Default::default() }).unwrap();
        assert_eq!(rows(&b.out), naive(4, &edges, true));
        let inn = b.inn.as_ref().unwrap();
        assert_eq!(rows(inn), naive(4, &edges, false));
        // input edge ids point back at the right edges
        let ids = b.input_edge.unwrap();
        for r in 0..4 {
            for p in b.out.range(r) {
                let (s, d) = edges[ids[p] as usize];
                assert_eq!((s as usize, d), (r, b.out.targets.as_slice()[p]));
            }
        }
        // in→out edge map is consistent
        let emap = inn.edge.as_ref().unwrap().as_slice();
        for v in 0..4 {
            for p in inn.range(v) {
                let u = inn.targets.as_slice()[p] as usize;
                let q = emap[p] as usize;
                assert!(b.out.range(u).contains(&q));
                assert_eq!(b.out.targets.as_slice()[q] as usize, v);
            }
        }
        assert_eq!(b.self_loops, 1);
    }

    #[test]
    fn undirected_dedup_counts_pairs_once() {
        // both directions listed, plus a self-loop and a repeat
        let edges = [(0, 1), (1, 0), (1, 2), (2, 2), (1, 2)];
        let (s, d): (Vec<u32>, Vec<u32>) = edges.iter().copied().unzip();
        let b = build_topology(3, 3, s, d, BuildOptions { undirected: true, dedup: true, edge_ids: true }).unwrap();
        assert!(b.inn.is_none());
        assert_eq!(rows(&b.out), vec![vec![1], vec![0, 2], vec![1, 2]]);
        assert_eq!(b.self_loops, 1);
    }

    #[test]
    fn rejects_out_of_range() {
        let e = build_topology(2, 2, vec![0, 5], vec![1, 1], BuildOptions::default()).unwrap_err();
        assert!(e.to_string().contains("source index 5"), "{e}");
    }

    #[test]
    fn same_result_for_any_thread_count() {
        let n = 1000u32;
        let mut x = 12345u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as u32
        };
        let (s, d): (Vec<u32>, Vec<u32>) = (0..20_000).map(|_| (next(), next())).unzip();
        let run = |t: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap();
            pool.install(|| {
                let b = build_topology(n as usize, n as usize, s.clone(), d.clone(), BuildOptions { edge_ids: true, ..Default::default() }).unwrap();
                (b.out.targets.as_slice().to_vec(), b.input_edge.unwrap(), b.inn.unwrap().targets.as_slice().to_vec())
            })
        };
        let one = run(1);
        assert_eq!(one, run(3));
        assert_eq!(one, run(8));
    }
}
