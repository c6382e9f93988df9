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
//! [`build_topology`] groups the edges twice with a stable counting sort
//! (`group.rs`): input → by source, each row ordered by destination (the
//! CSR) → by destination, reading the CSR row by row, which leaves every
//! in-row ordered by source for free (the CSC). A counting sort that
//! scatters each edge straight to its row costs a DRAM miss per edge; each
//! grouping here is instead a count, a partition into L2-sized buckets of
//! consecutive keys through write-combined streaming stores (`lines.rs`),
//! and a per-bucket radix sort in cache written back in place, so the
//! partition buffer becomes the output. Chunks and buckets run in
//! parallel; a stable sort has exactly one result, so the output is
//! identical whatever the thread count. Memory: besides the output (4 bytes
//! per stored edge and direction, plus offsets) only per-thread scratch;
//! `build_topology` releases its input arrays once the CSR is built.

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
    /// [`Array::prefault`] of the offsets, targets and edge positions;
    /// whether all were.
    pub fn prefault(&self) -> bool {
        self.offsets.prefault() & self.targets.prefault() & self.edge.as_ref().is_none_or(Array::prefault)
    }

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
    /// target type): offsets that start at 0, never go down and end at the
    /// targets' length; rows sorted; every target below the bound; an edge
    /// map as long as the targets. Reads the whole structure (in parallel):
    /// used by `verify` and, once per topology, by
    /// [`Graph::checked_topology`](crate::Graph::checked_topology), not by
    /// `open`. The error says which array is at fault.
    pub fn check(&self, targets_bound: usize) -> std::result::Result<(), (CsrPart, String)> {
        let o = self.offsets.as_slice();
        let t = self.targets.as_slice();
        if o.is_empty() || o[0] != 0 || o[o.len() - 1] != t.len() as u64 {
            return Err((CsrPart::Offsets, "offsets do not span the targets".into()));
        }
        // Fast passes first, in chunks the compiler vectorises: offsets that
        // never go down, the largest target, and the count of descents
        // `t[i] > t[i + 1]`, every one of which must sit at a row start (the
        // rows are sorted exactly then). Only a failure is looked for row by
        // row, to name it. The first sample over the 10M-entry R-MAT
        // in-topology took 55-70 ms with the check row by row throughout,
        // 26-43 ms so, most of that faulting in the mapped pages (which the
        // sampling would otherwise do over its first batches).
        const CHUNK: usize = 1 << 16;
        let offsets_ok = o.par_chunks(CHUNK).enumerate().all(|(i, c)| {
            // Each chunk also compares its first offset with the one before.
            let before = if i == 0 { 0 } else { o[i * CHUNK - 1] };
            before <= c[0] && c.iter().zip(&c[1..]).fold(true, |ok, (a, b)| ok & (a <= b))
        });
        if !offsets_ok {
            let r = (0..o.len() - 1).into_par_iter().find_first(|&r| o[r] > o[r + 1]).unwrap_or(0);
            return Err((CsrPart::Offsets, format!("offsets go down at row {r}: {}, then {}", o[r], o[r + 1])));
        }
        let max = t.par_chunks(CHUNK).map(|c| c.iter().fold(0u32, |m, &x| m.max(x))).max().unwrap_or(0);
        let descents: usize = (0..t.len().saturating_sub(1))
            .into_par_iter()
            .step_by(CHUNK)
            .map(|i| {
                let c = &t[i..(i + CHUNK + 1).min(t.len())];
                c.iter().zip(&c[1..]).fold(0usize, |n, (a, b)| n + usize::from(a > b))
            })
            .sum();
        // A descent is allowed where a non-empty row starts (each such row
        // has its own start; empty rows share theirs).
        let at_row_starts: usize = (0..o.len() - 1)
            .into_par_iter()
            .map(|r| {
                let (p, q) = (o[r] as usize, o[r + 1] as usize);
                usize::from(p > 0 && p < q && t[p - 1] > t[p])
            })
            .sum();
        if (t.is_empty() || (max as usize) < targets_bound) && descents == at_row_starts {
            return self.check_edge_map();
        }
        let bad_row = (0..o.len() - 1).into_par_iter().find_first(|&r| {
            let row = &t[o[r] as usize..o[r + 1] as usize];
            row.windows(2).any(|w| w[0] > w[1]) || row.iter().any(|&x| x as usize >= targets_bound)
        });
        let Some(r) = bad_row else {
            return Err((CsrPart::Targets, "the rows are out of order".into()));
        };
        let row = &t[o[r] as usize..o[r + 1] as usize];
        Err((
            CsrPart::Targets,
            match row.iter().find(|&&x| x as usize >= targets_bound) {
                Some(x) => format!("row {r} holds neighbour {x}, and there are {targets_bound} nodes"),
                None => format!("row {r} is out of order"),
            },
        ))
    }

    /// [`Csr::check`]'s last part: an edge map as long as the targets.
    fn check_edge_map(&self) -> std::result::Result<(), (CsrPart, String)> {
        if let Some(e) = &self.edge
            && e.len() != self.targets.len()
        {
            return Err((CsrPart::EdgeMap, "edge map length differs from the targets".into()));
        }
        Ok(())
    }
}

/// The array of a [`Csr`] that [`Csr::check`] found at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsrPart {
    /// `offsets`.
    Offsets,
    /// `targets`.
    Targets,
    /// `edge`.
    EdgeMap,
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

mod group;
mod lines;

use group::{Bad, Job, Pairs, Sorted, Tuning};

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

/// Flat arrays: edge `i` is `keys[i] → values[i]`; payload `i`.
struct Flat<'a, T> {
    keys: &'a [T],
    values: &'a [T],
}

impl<T: EdgeIndex> Pairs for Flat<'_, T> {
    fn approx_len(&self) -> usize {
        self.keys.len()
    }
    fn chunks(&self, n: usize) -> Vec<Range<usize>> {
        split_even(self.keys.len(), n)
    }
    #[inline(always)]
    fn for_each(&self, range: Range<usize>, mut f: impl FnMut(u64, u64, u32)) {
        for i in range {
            f(self.keys[i].index(), self.values[i].index(), i as u32);
        }
    }
}

/// Flat arrays of an undirected type: every edge in both directions
/// (self-loops once); payload: the input edge.
struct Both<'a, T> {
    src: &'a [T],
    dst: &'a [T],
}

impl<T: EdgeIndex> Pairs for Both<'_, T> {
    fn approx_len(&self) -> usize {
        2 * self.src.len()
    }
    fn chunks(&self, n: usize) -> Vec<Range<usize>> {
        split_even(self.src.len(), n)
    }
    #[inline(always)]
    fn for_each(&self, range: Range<usize>, mut f: impl FnMut(u64, u64, u32)) {
        for i in range {
            let (s, d) = (self.src[i].index(), self.dst[i].index());
            f(s, d, i as u32);
            if s != d {
                f(d, s, i as u32);
            }
        }
    }
}

/// Grouped rows: key = target, value = row, payload = position. Chunks are row ranges.
struct Grouped<'a> {
    offsets: &'a [u64],
    targets: &'a [u32],
}

impl Pairs for Grouped<'_> {
    fn approx_len(&self) -> usize {
        self.targets.len()
    }
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
    #[inline(always)]
    fn for_each(&self, rows: Range<usize>, mut f: impl FnMut(u64, u64, u32)) {
        for r in rows {
            for p in self.offsets[r] as usize..self.offsets[r + 1] as usize {
                f(u64::from(self.targets[p]), r as u64, p as u32);
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
    /// The pointer (a method, so that closures capture the whole `Sync` wrapper).
    #[inline(always)]
    fn ptr(self) -> *mut T {
        self.0
    }

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
/// memory is released as soon as the out-topology is built.
pub fn build_topology(num_src: usize, num_dst: usize, src: Vec<u32>, dst: Vec<u32>, opts: BuildOptions) -> Result<Built> {
    let out = out_pass(num_src, num_dst, &src, &dst, opts, Tuning::default())?;
    drop(src);
    drop(dst);
    Ok(finish(out, num_src, num_dst, opts, Tuning::default()))
}

/// Like [`build_topology`], reading borrowed endpoint arrays of any
/// [`EdgeIndex`] type (e.g. `i64` from NumPy) without converting them first.
pub fn build_topology_from<T: EdgeIndex>(num_src: usize, num_dst: usize, src: &[T], dst: &[T], opts: BuildOptions) -> Result<Built> {
    build_tuned(num_src, num_dst, src, dst, opts, Tuning::default())
}

fn build_tuned<T: EdgeIndex>(num_src: usize, num_dst: usize, src: &[T], dst: &[T], opts: BuildOptions, tuning: Tuning) -> Result<Built> {
    let out = out_pass(num_src, num_dst, src, dst, opts, tuning)?;
    Ok(finish(out, num_src, num_dst, opts, tuning))
}

/// Pass 1: group by source, rows sorted by (destination, input edge).
fn out_pass<T: EdgeIndex>(num_src: usize, num_dst: usize, src: &[T], dst: &[T], opts: BuildOptions, tuning: Tuning) -> Result<Sorted> {
    if src.len() != dst.len() {
        return Err(Error::Invalid(format!("{} sources but {} destinations", src.len(), dst.len())));
    }
    if opts.undirected && num_src != num_dst {
        return Err(Error::Invalid("an undirected edge type needs the same source and destination type".into()));
    }
    let t = std::time::Instant::now();
    let job = Job { num_keys: num_src, num_values: num_dst, payload: opts.edge_ids, sort_rows: true, diagonal: num_src == num_dst };
    let sorted =
        if opts.undirected { group::group(&Both { src, dst }, job, tuning) } else { group::group(&Flat { keys: src, values: dst }, job, tuning) };
    let sorted = sorted.map_err(|bad| match bad {
        Bad::Key | Bad::Value => {
            let err = check_range("source", src, num_src).and_then(|()| check_range("destination", dst, num_dst));
            err.err().unwrap_or_else(|| Error::Invalid("an edge endpoint is out of range".into()))
        }
        Bad::TooMany(n) => Error::Invalid(format!("{n} stored edges exceed the limit of {} per edge type", u32::MAX)),
    })?;
    tracing::debug!(secs = t.elapsed().as_secs_f64(), "out-topology");
    Ok(sorted)
}

/// Dedup and pass 2: group the CSR by destination; reading rows in source
/// order makes every in-row sorted by source (the grouping is stable).
fn finish(mut out: Sorted, num_src: usize, num_dst: usize, opts: BuildOptions, tuning: Tuning) -> Built {
    if opts.dedup {
        dedup_rows(&mut out);
    }
    let inn = if opts.undirected {
        None
    } else {
        let t = std::time::Instant::now();
        let job = Job { num_keys: num_dst, num_values: num_src, payload: opts.edge_ids, sort_rows: false, diagonal: false };
        // Entries of a built CSR are in range and fewer than u32::MAX: the grouping cannot fail.
        let c = group::group(&Grouped { offsets: &out.offsets, targets: &out.values }, job, tuning).expect("in-topology of a valid CSR");
        tracing::debug!(secs = t.elapsed().as_secs_f64(), "in-topology");
        Some(Csr { offsets: c.offsets.into(), targets: c.values.into(), edge: c.payload.map(Array::from) })
    };
    let self_loops = out.diagonal;
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

    /// Every property of a build, against a naive reference.
    fn check(n_src: usize, n_dst: usize, edges: &[(u32, u32)], opts: BuildOptions, b: &Built) {
        let mut stored: Vec<(u32, u32)> = edges.to_vec();
        if opts.undirected {
            stored.extend(edges.iter().filter(|e| e.0 != e.1).map(|&(s, d)| (d, s)));
        }
        if opts.dedup {
            stored.sort_unstable();
            stored.dedup();
        }
        assert_eq!(rows(&b.out), naive(n_src, &stored, true), "out rows");
        assert_eq!(b.out.offsets.as_slice()[n_src] as usize, stored.len());
        let loops = {
            let mut l: Vec<u32> = stored.iter().filter(|e| e.0 == e.1).map(|e| e.0).collect();
            l.sort_unstable();
            l.dedup();
            l.len() as u64
        };
        assert_eq!(b.self_loops, if n_src == n_dst { loops } else { 0 }, "self-loops");
        if opts.undirected {
            assert!(b.inn.is_none());
        } else {
            assert_eq!(rows(b.inn.as_ref().unwrap()), naive(n_dst, &stored, false), "in rows");
        }
        if opts.edge_ids {
            let ids = b.input_edge.as_ref().unwrap();
            for r in 0..n_src {
                let row = b.out.range(r);
                for p in row.clone() {
                    let (s, d) = edges[ids[p] as usize];
                    let t = b.out.targets.as_slice()[p];
                    assert!((s as usize, d) == (r, t) || (opts.undirected && (d as usize, s) == (r, t)), "input edge of position {p}");
                    // equal targets keep input order (dedup keeps the first)
                    if p > row.start && b.out.targets.as_slice()[p - 1] == t {
                        assert!(ids[p - 1] < ids[p] || (opts.undirected && ids[p - 1] == ids[p]));
                    }
                }
            }
            if opts.dedup {
                let mut first = std::collections::HashMap::new();
                for (i, &(s, d)) in edges.iter().enumerate() {
                    first.entry((s, d)).or_insert(i);
                    if opts.undirected {
                        first.entry((d, s)).or_insert(i);
                    }
                }
                for r in 0..n_src {
                    for p in b.out.range(r) {
                        assert_eq!(ids[p] as usize, first[&(r as u32, b.out.targets.as_slice()[p])], "dedup keeps the first occurrence");
                    }
                }
            }
            if let Some(inn) = &b.inn {
                let emap = inn.edge.as_ref().unwrap().as_slice();
                for v in 0..n_dst {
                    for p in inn.range(v) {
                        let u = inn.targets.as_slice()[p] as usize;
                        let q = emap[p] as usize;
                        assert!(b.out.range(u).contains(&q));
                        assert_eq!(b.out.targets.as_slice()[q] as usize, v);
                    }
                }
                let mut seen = emap.to_vec();
                seen.sort_unstable();
                assert!(seen.iter().enumerate().all(|(i, &q)| q as usize == i), "in→out map is a permutation");
            }
        }
    }

    fn random_edges(n_src: usize, n_dst: usize, m: usize, seed: u64) -> Vec<(u32, u32)> {
        let mut x = seed | 1;
        let mut next = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // skewed: low ids are far more frequent (hubs, long rows)
            let r = (x >> 11) % n as u64;
            (if x & 3 == 0 { r % 7 } else { r }) as u32
        };
        (0..m).map(|_| (next(n_src), next(n_dst))).collect()
    }

    const ALL_OPTS: [BuildOptions; 6] = [
        BuildOptions { undirected: false, dedup: false, edge_ids: false },
        BuildOptions { undirected: false, dedup: false, edge_ids: true },
        BuildOptions { undirected: false, dedup: true, edge_ids: true },
        BuildOptions { undirected: true, dedup: false, edge_ids: false },
        BuildOptions { undirected: true, dedup: true, edge_ids: true },
        BuildOptions { undirected: false, dedup: true, edge_ids: false },
    ];

    #[test]
    fn csr_and_csc_match_naive() {
        let edges = vec![(0, 2), (2, 1), (0, 1), (3, 0), (2, 1), (1, 1), (0, 3)];
        for opts in ALL_OPTS {
            let (s, d): (Vec<u32>, Vec<u32>) = edges.iter().copied().unzip();
            let b = build_topology(4, 4, s, d, opts).unwrap();
            check(4, 4, &edges, opts, &b);
        }
    }

    #[test]
    fn every_layout_matches_naive() {
        // Small buckets (many of them, rows split across chunk boundaries and
        // cache lines), the split key layout, bipartite shapes, empty inputs.
        let tunings = [
            Tuning::default(),
            Tuning { bucket_entries: 7, force_split: false },
            Tuning { bucket_entries: 64, force_split: true },
            Tuning { bucket_entries: 1, force_split: false },
        ];
        let shapes = [(50, 50, 2000), (300, 40, 5000), (7, 900, 3000), (1, 1, 10), (5, 5, 0), (3000, 3000, 20_000)];
        for (si, &(ns, nd, m)) in shapes.iter().enumerate() {
            let edges = random_edges(ns, nd, m, si as u64 + 7);
            for opts in ALL_OPTS {
                if opts.undirected && ns != nd {
                    continue;
                }
                for &tuning in &tunings {
                    for threads in [1, 3] {
                        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                        let (s, d): (Vec<u32>, Vec<u32>) = edges.iter().copied().unzip();
                        let b = pool.install(|| build_tuned(ns, nd, &s, &d, opts, tuning)).unwrap();
                        check(ns, nd, &edges, opts, &b);
                    }
                }
            }
        }
    }

    #[test]
    fn i64_input_matches_u32_input() {
        let edges = random_edges(1000, 1000, 30_000, 3);
        let (s, d): (Vec<u32>, Vec<u32>) = edges.iter().copied().unzip();
        let (s64, d64): (Vec<i64>, Vec<i64>) = (s.iter().map(|&x| i64::from(x)).collect(), d.iter().map(|&x| i64::from(x)).collect());
        let a = build_topology_from(1000, 1000, &s64, &d64, BuildOptions::default()).unwrap();
        let b = build_topology(1000, 1000, s, d, BuildOptions::default()).unwrap();
        assert_eq!(a.out.targets.as_slice(), b.out.targets.as_slice());
        assert_eq!(a.inn.unwrap().targets.as_slice(), b.inn.unwrap().targets.as_slice());
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
        assert!(e.to_string().contains("edge 1: source index 5"), "{e}");
        let e = build_topology(2, 3, vec![0, 1], vec![1, 3], BuildOptions::default()).unwrap_err();
        assert!(e.to_string().contains("edge 1: destination index 3"), "{e}");
        let e = build_topology(3, 3, vec![0, 1], vec![1, 7], BuildOptions { undirected: true, ..Default::default() }).unwrap_err();
        assert!(e.to_string().contains("destination index 7"), "{e}");
        let e = build_topology_from(3, 3, &[0i64, -1], &[1i64, 1], BuildOptions::default()).unwrap_err();
        assert!(e.to_string().contains("source index negative"), "{e}");
        let e = build_topology(0, 3, vec![0], vec![1], BuildOptions::default()).unwrap_err();
        assert!(e.to_string().contains("source index 0"), "{e}");
        assert!(build_topology(2, 3, vec![0], vec![1], BuildOptions { undirected: true, ..Default::default() }).is_err());
        assert!(build_topology(2, 2, vec![0], vec![], BuildOptions::default()).is_err());
    }

    #[test]
    fn same_result_for_any_thread_count() {
        let edges = random_edges(1000, 1000, 20_000, 12345);
        let (s, d): (Vec<u32>, Vec<u32>) = edges.iter().copied().unzip();
        let run = |t: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap();
            pool.install(|| {
                let b = build_topology(1000, 1000, s.clone(), d.clone(), BuildOptions { edge_ids: true, ..Default::default() }).unwrap();
                (b.out.targets.as_slice().to_vec(), b.input_edge.unwrap(), b.inn.unwrap().targets.as_slice().to_vec())
            })
        };
        let one = run(1);
        assert_eq!(one, run(3));
        assert_eq!(one, run(8));
    }

    #[test]
    fn check_sees_faults_on_chunk_boundaries() {
        // 100,000 rows of 3 sorted targets: faults placed where the check's
        // 65,536-element chunks meet.
        let rows = 100_000usize;
        let offsets: Vec<u64> = (0..=rows as u64).map(|r| 3 * r).collect();
        let targets: Vec<u32> = (0..3 * rows as u32).map(|i| (i % 3) * 7 + (i / 3) % 5).collect();
        let csr = |o: &[u64], t: &[u32]| Csr { offsets: o.to_vec().into(), targets: t.to_vec().into(), edge: None };
        assert!(csr(&offsets, &targets).check(1000).is_ok());
        for at in [65_535usize, 65_536, 65_537, 131_072] {
            let mut t = targets.clone();
            // Inside a row unless `at` starts one: then the row before ends high.
            let row = at / 3;
            let (lo, hi) = (3 * row, 3 * row + 2);
            t.swap(lo, hi);
            let r = csr(&offsets, &t).check(1000);
            assert_eq!(r.map_err(|e| e.1), Err(format!("row {row} is out of order")), "swap in row {row}");
            let mut t = targets.clone();
            t[at] = 1000;
            assert!(matches!(csr(&offsets, &t).check(1000), Err((CsrPart::Targets, m)) if m.contains("neighbour 1000")));
            if at < rows {
                let mut o = offsets.clone();
                o[at] = o[at - 1] - 1;
                assert!(matches!(csr(&o, &targets).check(1000), Err((CsrPart::Offsets, _))), "offset {at}");
            }
        }
    }

    proptest::proptest! {
        /// The vectorised check says what checking row by row says, for
        /// rows with empty ones among them, out of order or past the bound;
        /// offsets that go down are named as such.
        #[test]
        fn check_agrees_with_checking_row_by_row(
            rows in proptest::collection::vec(proptest::collection::vec(0u32..12, 0..6), 0..40),
            sort in proptest::bool::ANY,
            swap in proptest::option::of((0usize..400, 0usize..400)),
        ) {
            let bound = 10;
            let mut rows = rows;
            if sort {
                rows.iter_mut().for_each(|r| r.sort());
            }
            let mut offsets = vec![0u64];
            let mut targets: Vec<u32> = Vec::new();
            for r in &rows {
                targets.extend(r);
                offsets.push(targets.len() as u64);
            }
            let mut offsets_ok = true;
            if let Some((a, b)) = swap
                && offsets.len() > 2
            {
                // Two inner offsets exchanged: offsets may go down.
                let (a, b) = (1 + a % (offsets.len() - 2), 1 + b % (offsets.len() - 2));
                offsets.swap(a, b);
                offsets_ok = offsets.windows(2).all(|w| w[0] <= w[1]);
            }
            let csr = Csr { offsets: offsets.clone().into(), targets: targets.clone().into(), edge: None };
            let got = csr.check(bound);
            if !offsets_ok {
                proptest::prop_assert_eq!(got.map_err(|e| e.0), Err(CsrPart::Offsets));
            } else {
                let want = rows.iter().all(|r| r.windows(2).all(|w| w[0] <= w[1]) && r.iter().all(|&x| (x as usize) < bound));
                proptest::prop_assert_eq!(got.is_ok(), want, "{:?}", got);
                if let Err((part, message)) = got {
                    proptest::prop_assert_eq!(part, CsrPart::Targets);
                    proptest::prop_assert!(message.starts_with("row "), "{}", message);
                }
            }
        }
    }
}
