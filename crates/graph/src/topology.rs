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
//! [`build_topology`] runs three stable counting sorts (scatter passes), never a
//! comparison sort: input → grouped by destination (A) → grouped by source
//! with rows sorted by destination (the CSR) → grouped by destination with rows
//! sorted by source (the CSC). Each pass splits its input into one chunk per
//! thread, counts keys per chunk, turns counts into disjoint write cursors, and
//! scatters in parallel. A stable counting sort has exactly one result, so the
//! output is identical whatever the thread count. Memory: the input arrays are
//! consumed by the first pass, so at any time at most one temporary copy of
//! the edge array exists besides the output (plus `threads × keys` counters).
//! Cost: three passes of random writes over `E` entries; at 10M edges each pass
//! is bounded by DRAM write-miss throughput (~1 cache miss per edge, overlapped
//! by the CPU's memory-level parallelism).

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
        if let Some(e) = &self.edge {
            if e.len() != t.len() {
                return Err("edge map length differs from the targets".into());
            }
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
struct Flat<'a> {
    keys: &'a [u32],
    values: &'a [u32],
}

impl Pairs for Flat<'_> {
    fn chunks(&self, n: usize) -> Vec<Range<usize>> {
        split_even(self.keys.len(), n)
    }
    fn for_each(&self, range: Range<usize>, mut f: impl FnMut(u32, u32, usize)) {
        for i in range {
            f(self.keys[i], self.values[i], i);
        }
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

struct Sorted {
    offsets: Vec<u64>,
    values: Vec<u32>,
    payload: Option<Vec<u32>>,
}

/// Stable counting sort of `pairs` by key into `num_keys` groups.
fn counting_sort<P: Pairs>(pairs: &P, total: usize, num_keys: usize, payload: Payload<'_>) -> Sorted {
    let threads = rayon::current_num_threads().max(1);
    let chunks = pairs.chunks(threads);
    // 1. Count keys per chunk.
    let mut counts: Vec<Vec<u64>> = chunks
        .par_iter()
        .map(|r| {
            let mut c = vec![0u64; num_keys];
            pairs.for_each(r.clone(), |k, _, _| c[k as usize] += 1);
            c
        })
        .collect();
    // 2. Exclusive prefix over (key, chunk): per key block totals in parallel,
    //    a short sequential scan over blocks, then per block cursors in parallel.
    let blocks = split_even(num_keys, (threads * 8).min(num_keys.max(1)));
    let block_totals: Vec<u64> = blocks
        .par_iter()
        .map(|b| counts.iter().map(|c| c[b.clone()].iter().sum::<u64>()).sum())
        .collect();
    let mut block_start = Vec::with_capacity(blocks.len());
    let mut acc = 0u64;
    for t in &block_totals {
        block_start.push(acc);
        acc += t;
    }
    let mut offsets = vec![0u64; num_keys + 1];
    offsets[num_keys] = acc;
    {
        let off = SharedMut(offsets.as_mut_ptr());
        let cnt: Vec<SharedMut<u64>> = counts.iter_mut().map(|c| SharedMut(c.as_mut_ptr())).collect();
        blocks.par_iter().zip(block_start.par_iter()).for_each(|(b, &start)| {
            let mut run = start;
            for k in b.clone() {
                // SAFETY: key blocks are disjoint, so each key's counters and offset
                // are touched by exactly one task.
                unsafe {
                    off.write(k, run);
                    for c in &cnt {
                        let n = *c.0.add(k);
                        c.write(k, run);
                        run += n;
                    }
                }
            }
        });
    }
    // 3. Scatter.
    let mut values: Vec<u32> = Vec::with_capacity(total);
    let mut pay: Option<Vec<u32>> = payload.present().then(|| Vec::with_capacity(total));
    let vptr = SharedMut(values.as_mut_ptr());
    let pptr = pay.as_mut().map(|p| SharedMut(p.as_mut_ptr()));
    chunks.par_iter().zip(counts.par_iter_mut()).for_each(|(r, cursor)| {
        pairs.for_each(r.clone(), |k, v, pos| {
            let slot = cursor[k as usize] as usize;
            cursor[k as usize] += 1;
            // SAFETY: cursors of different chunks and keys cover disjoint slots of
            // `0..total` (step 2), and every slot is written exactly once.
            unsafe {
                vptr.write(slot, v);
                if let Some(p) = pptr {
                    p.write(slot, payload.get(pos));
                }
            }
        });
    });
    // SAFETY: all `total` slots were written in step 3.
    unsafe {
        values.set_len(total);
        if let Some(p) = pay.as_mut() {
            p.set_len(total);
        }
    }
    Sorted { offsets, values, payload: pay }
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
pub fn build_topology(
    num_src: usize,
    num_dst: usize,
    mut src: Vec<u32>,
    mut dst: Vec<u32>,
    opts: BuildOptions,
) -> Result<Built> {
    if src.len() != dst.len() {
        return Err(Error::Invalid(format!("{} sources but {} destinations", src.len(), dst.len())));
    }
    if let Some(i) = src.par_iter().position_any(|&s| s as usize >= num_src) {
        return Err(Error::Invalid(format!("edge {i}: source index {} out of range (< {num_src})", src[i])));
    }
    if let Some(i) = dst.par_iter().position_any(|&d| d as usize >= num_dst) {
        return Err(Error::Invalid(format!("edge {i}: destination index {} out of range (< {num_dst})", dst[i])));
    }
    let input_len = src.len();
    let mut input_ids: Option<Vec<u32>> = None;
    if opts.undirected {
        if num_src != num_dst {
            return Err(Error::Invalid("an undirected edge type needs the same source and destination type".into()));
        }
        // Append the reverse of every non-loop edge.
        let rev: Vec<(u32, u32, u32)> = (0..input_len)
            .into_par_iter()
            .filter(|&i| src[i] != dst[i])
            .map(|i| (dst[i], src[i], i as u32))
            .collect();
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
    let total = src.len();
    // Pass 1: group by destination (values: sources, payload: input edge ids).
    let payload = match (&input_ids, opts.edge_ids) {
        (Some(ids), _) => Payload::Slice(ids),
        (None, true) => Payload::Identity,
        (None, false) => Payload::None,
    };
    let a = counting_sort(&Flat { keys: &dst, values: &src }, total, num_dst, payload);
    drop(src);
    drop(dst);
    drop(input_ids);
    // Pass 2: group A by source; rows come out sorted by destination (stable).
    let payload = a.payload.as_deref().map_or(Payload::None, Payload::Slice);
    let mut out = counting_sort(&Grouped { offsets: &a.offsets, targets: &a.values }, total, num_src, payload);
    drop(a);
    if opts.dedup {
        dedup_rows(&mut out);
    }
    let self_loops = if num_src == num_dst {
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
    // Pass 3: group the CSR by destination; rows come out sorted by source.
    let inn = if opts.undirected {
        None
    } else {
        let payload = if opts.edge_ids { Payload::Identity } else { Payload::None };
        let stored = out.values.len();
        let c = counting_sort(&Grouped { offsets: &out.offsets, targets: &out.values }, stored, num_dst, payload);
        Some(Csr { offsets: c.offsets.into(), targets: c.values.into(), edge: c.payload.map(Array::from) })
    };
    Ok(Built {
        out: Csr { offsets: out.offsets.into(), targets: out.values.into(), edge: None },
        inn,
        input_edge: out.payload,
        self_loops,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(n: usize, edges: &[(u32, u32)], by_src: bool) -> Vec<Vec<u32>> {
        let mut rows = vec![Vec::new(); n];
        for &(s, d) in edges {
            if by_src {
                rows[s as usize].push(d)
            } else {
                rows[d as usize].push(s)
            }
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
        let edges = vec![(0, 1), (1, 0), (1, 2), (2, 2), (1, 2)];
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
