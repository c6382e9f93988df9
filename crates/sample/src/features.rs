//! Feature gathering: the attribute rows of sampled nodes into one
//! contiguous, row-major `f32` buffer, ready for a tensor.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use ferrograph_graph::column::Column;
use ferrograph_graph::{Graph, NodeTypeId};

use crate::{Error, Result};

/// Where feature rows come from, one batch at a time: the snapshot's
/// columns ([`ColumnFeatures`]) or, for a partitioned graph, the graph
/// servers that own the nodes (one request per server per batch).
pub trait FeatureAccess: Sync {
    /// The rows `nodes` of numeric column `column` of `node_type`, row-major
    /// into `out` (replaced); returns the row width. Sparse rows arrive dense.
    fn gather(&self, node_type: NodeTypeId, column: &str, nodes: &[u32], out: &mut Vec<f32>) -> Result<usize>;
}

/// The columns of an in-process graph.
pub struct ColumnFeatures<'g>(pub &'g Graph);

impl FeatureAccess for ColumnFeatures<'_> {
    fn gather(&self, node_type: NodeTypeId, column: &str, nodes: &[u32], out: &mut Vec<f32>) -> Result<usize> {
        gather(self.0.node_column(node_type, column)?, nodes, out)
    }
}

/// How many rows ahead [`gather`] prefetches, and how many cache lines of
/// each such row (see the measurements in [`gather`]).
const ROW_AHEAD: usize = 32;
const ROW_LINES: usize = 4;

/// Rows per rayon task when gathering dense rows: small enough that the
/// threads finish together (2,048-row tasks left one of 2 threads idle for
/// up to a task at the end of a 35,000-row batch), large enough that
/// scheduling costs nothing (~30 µs of copying a task); each task
/// prefetches its first rows before copying.
const ROWS_PER_TASK: usize = 512;

/// Width of the rows [`gather`] makes from `column` (0 for non-numeric columns).
pub fn width(column: &Column) -> usize {
    match column {
        Column::Vector { dim, .. } | Column::Sparse { dim, .. } => *dim,
        Column::Float(_) | Column::Int(_) => 1,
        _ => 0,
    }
}

/// Copies the rows `nodes` of `column` into `out` (resized to
/// `nodes.len() * dim`, reusing its allocation) and returns `dim`. Dense
/// vectors are copied, scalars widened, sparse rows scattered into zeros.
/// Written through the cache: a training step reads the rows right back
/// (streaming stores, as [`gather_into`] uses, are not measured there).
pub fn gather(column: &Column, nodes: &[u32], out: &mut Vec<f32>) -> Result<usize> {
    out.clear();
    let dim = width(column);
    out.reserve(nodes.len() * dim);
    let dim = gather_rows(column, nodes, &mut out.spare_capacity_mut()[..nodes.len() * dim], false)?;
    // SAFETY: `gather_rows` wrote every one of the first `nodes.len() * dim`
    // elements.
    unsafe { out.set_len(nodes.len() * dim) };
    Ok(dim)
}

/// [`gather`] into memory the caller owns (a NumPy array, a recycled
/// buffer): `out` must be exactly `nodes.len() * width(column)` long, and
/// every element of it is written. Returns the width. Dense rows go out
/// as non-temporal stores when `out` is 32-byte aligned (see [`streams`])
/// and too large to stay in the last-level cache ([`outlives_cache`]).
pub fn gather_into(column: &Column, nodes: &[u32], out: &mut [MaybeUninit<f32>]) -> Result<usize> {
    gather_rows(column, nodes, out, outlives_cache(out.len() * 4))
}

/// Dense rows go out with streaming stores if `stream` and [`streams`]
/// allows.
fn gather_rows(column: &Column, nodes: &[u32], out: &mut [MaybeUninit<f32>], stream: bool) -> Result<usize> {
    let rows = column.rows();
    if let Some(bad) = crate::access::first_outside(nodes, rows) {
        return Err(Error::Invalid(format!("node {bad} is outside 0..{rows}")));
    }
    let dim = match column {
        Column::Vector { dim, .. } | Column::Sparse { dim, .. } => *dim,
        Column::Float(_) | Column::Int(_) => 1,
        _ => {
            return Err(Error::Invalid(format!("{} attributes are not numeric features", column.kind().describe())));
        }
    };
    if out.len() != nodes.len() * dim {
        return Err(Error::Invalid(format!("gather: room for {} floats, the rows need {}", out.len(), nodes.len() * dim)));
    }
    if dim == 0 {
        return Ok(0);
    }
    if let Column::Vector { data, .. } = column {
        // Random rows of a large matrix: each costs DRAM misses and a TLB
        // miss, so the first `ROW_LINES` cache lines of the row `ROW_AHEAD`
        // nodes on are prefetched into L2 while this one is copied; the
        // hardware prefetcher follows on with the rest of that row. The
        // output is written once, not zeroed first. See [`copy_rows`] for
        // what was measured.
        let data = data.as_slice();
        let stream = stream && streams(out.as_ptr().cast(), dim);
        // `with_max_len(1)`: every task is a job another thread can steal.
        // Left to rayon's default, a call split into ~2 pieces a thread, run
        // whole, and the thread done first waited up to a piece (~17 tasks)
        // for the other: 1.09-1.11x the rows/s on two threads with it (50
        // alternated rounds of the benchmark's batches from Python).
        out.par_chunks_mut(ROWS_PER_TASK * dim).with_max_len(1).enumerate().for_each(|(t, dst)| {
            let first = t * ROWS_PER_TASK;
            #[cfg(target_arch = "x86_64")]
            if stream {
                // SAFETY: `streams` checked that AVX is present, that `dst`
                // starts 32-byte aligned and that rows are whole 32-byte
                // units; the nodes were checked against the column's rows.
                unsafe { stream_rows(data, nodes, first, dst, dim) };
                return;
            }
            let _ = stream;
            copy_rows(data, nodes, first, dst, dim);
        });
        return Ok(dim);
    }
    let chunk = (4096 / dim).max(1);
    out.par_chunks_mut(chunk * dim).zip(nodes.par_chunks(chunk)).for_each(|(dst, ns)| {
        for x in dst.iter_mut() {
            x.write(0.0);
        }
        // SAFETY: every element was just written.
        let dst = unsafe { &mut *(dst as *mut [MaybeUninit<f32>] as *mut [f32]) };
        for (row, &n) in dst.chunks_mut(dim).zip(ns) {
            let n = n as usize;
            match column {
                Column::Float(a) => row[0] = a.as_slice()[n],
                Column::Int(a) => row[0] = a.as_slice()[n] as f32,
                Column::Sparse { indptr, indices, values, .. } => {
                    let p = indptr.as_slice();
                    for q in p[n] as usize..p[n + 1] as usize {
                        row[indices.as_slice()[q] as usize] += values.as_slice()[q];
                    }
                }
                _ => {}
            }
        }
    });
    Ok(dim)
}

/// Copies the rows of `nodes[first..]` into `dst` (whole rows of `dim`,
/// as many as it holds), each by one memcpy, with the rows `ROW_AHEAD`
/// on prefetched into L2 (see [`prefetch`]) across the end of `dst`: the
/// next task on this thread usually takes the rows that follow, and a
/// task that starts cold (the first, a stolen one) prefetches its own
/// first rows.
///
/// Measured from Python (`ferrograph.gather` on one thread against the
/// same call with other settings, alternated in one process, 20 rounds
/// of the throughput benchmark's 20 R-MAT batches, ~690,000 rows of 512
/// bytes from the 512 MB snapshot column; 2-core Sapphire Rapids-class
/// VM), rows/s relative to 4 lines 16 rows ahead into L1 with the
/// prefetch stopping at each 512-row task's end: the same across task
/// ends 1.07, 32 ahead into L1 1.01-1.02, 32 ahead into L2 1.13-1.18
/// (1.09-1.16 on two threads), 24 or 64 ahead into L2 the same, 8 or 2
/// lines instead of 4 the same, also prefetching the output row 4 rows
/// ahead nothing more. Prefetches into L1 each hold one of the core's
/// few line-fill buffers until the line arrives; into L2, the miss waits
/// in L2's much longer queue, and the copy's loads find it there.
fn copy_rows(data: &[f32], nodes: &[u32], first: usize, dst: &mut [MaybeUninit<f32>], dim: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: AVX-512F is present; the nodes were checked against the
        // column's rows.
        unsafe { copy_rows_avx512(data, nodes, first, dst, dim) };
        return;
    }
    prefetch_first(data, nodes, first, dim);
    for (k, (row, &n)) in dst.chunks_mut(dim).zip(&nodes[first..]).enumerate() {
        prefetch_ahead(data, nodes, first + k, dim);
        let src = &data[n as usize * dim..][..dim];
        // SAFETY: `src` and `row` are `dim` elements long and do not
        // overlap (a mapped column and the caller's buffer). A memcpy
        // call, not an element loop: libc's copy uses the widest vectors,
        // so fewer loads per row are in flight and more rows' misses
        // overlap (measured: 3.7-5.1 ms against 5.8-7.5 ms a batch).
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), row.as_mut_ptr().cast::<f32>(), dim) };
    }
}

/// [`copy_rows`] with each row copied by inline AVX-512 loads and stores:
/// eight 64-byte loads, then their eight stores, per 512 bytes, the
/// remainder masked. No call per row, and a whole 512-byte row's loads
/// issue before its first store. Measured as in [`copy_rows`] against its
/// memcpy loop (60 alternated rounds in one process): 1.075-1.076 of its
/// rows/s on one thread (quartiles 1.03-1.12), 1.16-1.22 on two.
///
/// # Safety
/// AVX-512F must be present, and every node a row of `data`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn copy_rows_avx512(data: &[f32], nodes: &[u32], first: usize, dst: &mut [MaybeUninit<f32>], dim: usize) {
    use std::arch::x86_64::{_mm512_loadu_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_storeu_ps};
    prefetch_first(data, nodes, first, dim);
    // Lanes of the last, partial vector of a row (`dim % 16` of them).
    let tail = ((1u32 << (dim % 16)) - 1) as u16;
    for (k, (row, &n)) in dst.chunks_exact_mut(dim).zip(&nodes[first..]).enumerate() {
        prefetch_ahead(data, nodes, first + k, dim);
        let src = data[n as usize * dim..][..dim].as_ptr();
        let out = row.as_mut_ptr().cast::<f32>();
        let mut j = 0;
        // SAFETY (every access below): `src` and `out` are `dim` floats
        // long; each load and store covers `[j, j + 16)` with `j + 16 <=
        // dim`, or, masked, only the `dim % 16` lanes below `dim`.
        while j + 128 <= dim {
            unsafe {
                let v = [0, 16, 32, 48, 64, 80, 96, 112].map(|o| _mm512_loadu_ps(src.add(j + o)));
                for (o, x) in [0, 16, 32, 48, 64, 80, 96, 112].into_iter().zip(v) {
                    _mm512_storeu_ps(out.add(j + o), x);
                }
            }
            j += 128;
        }
        while j + 16 <= dim {
            unsafe { _mm512_storeu_ps(out.add(j), _mm512_loadu_ps(src.add(j))) };
            j += 16;
        }
        if tail != 0 {
            unsafe { _mm512_mask_storeu_ps(out.add(j), tail, _mm512_maskz_loadu_ps(tail, src.add(j))) };
        }
    }
}

/// Prefetches the rows of the first `ROW_AHEAD` of `nodes[first..]`: a
/// task that starts cold (the first, a stolen one) has nothing in flight.
#[inline(always)]
fn prefetch_first(data: &[f32], nodes: &[u32], first: usize, dim: usize) {
    for &n in nodes[first..].iter().take(ROW_AHEAD) {
        prefetch(data, n, dim);
    }
}

/// Prefetches the row of `nodes[at + ROW_AHEAD]`, if any (past the end of
/// the calling task: the next task on this thread usually starts there).
#[inline(always)]
fn prefetch_ahead(data: &[f32], nodes: &[u32], at: usize, dim: usize) {
    if let Some(&ahead) = nodes.get(at + ROW_AHEAD) {
        prefetch(data, ahead, dim);
    }
}

/// Prefetches the first `ROW_LINES` cache lines of row `n` into L2.
#[inline(always)]
fn prefetch(data: &[f32], n: u32, dim: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let start = n as usize * dim;
        for line in (start..start + dim).step_by(16).take(ROW_LINES) {
            if line < data.len() {
                // SAFETY: prefetching has no effect on memory; the address
                // is in bounds.
                unsafe { std::arch::x86_64::_mm_prefetch(data.as_ptr().add(line).cast::<i8>(), std::arch::x86_64::_MM_HINT_T1) };
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, n, dim);
}

/// Whether rows of `dim` floats written from `dst` on can go out as
/// non-temporal 32-byte stores: AVX, a 32-byte aligned start, whole
/// 32-byte rows. Streaming stores skip reading each destination line
/// before writing it (the output is larger than the caches and written
/// once): measured on this file's R-MAT batches, 1.4-1.6x the rows/s of
/// memcpy into the same buffer, and still 1.4x when the rows are read
/// back right after.
fn streams(dst: *const f32, dim: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx") && (dst as usize).is_multiple_of(32) && (dim * 4).is_multiple_of(32)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (dst, dim);
        false
    }
}

/// Whether an output of `bytes` would not stay in the last-level cache
/// from one call to the next (with the rows read for it, as many bytes
/// again), so that writing it through the cache costs a read of each line
/// from DRAM and a write back later, where a streaming store costs the
/// write alone. Where it would stay, cached stores win: the recycled
/// output block is still in cache when the next call writes it. Measured
/// on the R-MAT batches (17.6 MB of rows a call) from Python against
/// `torch.index_select`: on a 32 MB-L3 Zen 3 streaming gave 1.11-1.29×,
/// on a 260 MB-L3 Sapphire Rapids 0.81-0.95× at 2 threads where cached
/// stores gave 1.06-1.12×. Unknown cache size: stream.
fn outlives_cache(bytes: usize) -> bool {
    static LLC: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    match *LLC.get_or_init(last_level_cache) {
        Some(llc) => bytes.saturating_mul(2) > llc,
        None => true,
    }
}

/// The largest cache's size as Linux reports it for CPU 0
/// (`/sys/devices/system/cpu/cpu0/cache/index*/size`, e.g. `32768K`).
fn last_level_cache() -> Option<usize> {
    let dir = std::fs::read_dir("/sys/devices/system/cpu/cpu0/cache").ok()?;
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("size")).ok()).filter_map(|s| parse_cache_size(s.trim())).max()
}

/// `48K`, `2048K`, `32M`, `1G` or plain bytes.
fn parse_cache_size(s: &str) -> Option<usize> {
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let shift = match unit {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        _ => return None,
    };
    digits.parse::<usize>().ok()?.checked_mul(1 << shift)
}

/// The dense-row copy of [`gather_into`] with non-temporal stores.
///
/// # Safety
/// AVX must be present, `dst` 32-byte aligned, `dim * 4` a multiple of 32,
/// `dst.len() <= (nodes.len() - first) * dim`, and every node a row of
/// `data`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn stream_rows(data: &[f32], nodes: &[u32], first: usize, dst: &mut [MaybeUninit<f32>], dim: usize) {
    use std::arch::x86_64::{_mm_sfence, _mm256_loadu_ps, _mm256_stream_ps};
    prefetch_first(data, nodes, first, dim);
    for (k, (row, &n)) in dst.chunks_exact_mut(dim).zip(&nodes[first..]).enumerate() {
        prefetch_ahead(data, nodes, first + k, dim);
        let src = data[n as usize * dim..][..dim].as_ptr();
        let out = row.as_mut_ptr().cast::<f32>();
        for j in (0..dim).step_by(8) {
            // SAFETY: `j + 8 <= dim` (whole 32-byte rows); `out + j` is
            // 32-byte aligned (an aligned start and whole 32-byte rows).
            unsafe { _mm256_stream_ps(out.add(j), _mm256_loadu_ps(src.add(j))) };
        }
    }
    // Streaming stores are weakly ordered: fence them before this task
    // ends, so that whoever joins it sees the rows.
    _mm_sfence();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_sizes_parse() {
        assert_eq!(parse_cache_size("48K"), Some(48 << 10));
        assert_eq!(parse_cache_size("266240K"), Some(260 << 20));
        assert_eq!(parse_cache_size("32M"), Some(32 << 20));
        assert_eq!(parse_cache_size("512"), Some(512));
        assert_eq!(parse_cache_size("12Q"), None);
        assert_eq!(parse_cache_size(""), None);
        assert_eq!(parse_cache_size("99999999999999999999G"), None);
    }

    #[test]
    fn gathers_dense_scalar_and_sparse_rows() {
        let v = Column::Vector { dim: 2, data: vec![0., 1., 10., 11., 20., 21.].into() };
        let mut out = Vec::new();
        assert_eq!(gather(&v, &[2, 0, 2], &mut out).unwrap(), 2);
        assert_eq!(out, vec![20., 21., 0., 1., 20., 21.]);
        let s = Column::Sparse { dim: 3, indptr: vec![0u64, 1, 1, 3].into(), indices: vec![2u32, 0, 1].into(), values: vec![5., 6., 7.].into() };
        gather(&s, &[0, 2, 1], &mut out).unwrap();
        assert_eq!(out, vec![0., 0., 5., 6., 7., 0., 0., 0., 0.]);
        assert!(gather(&s, &[3], &mut out).is_err());
    }

    #[test]
    fn rows_of_every_width_are_copied_whole_and_nothing_past_them() {
        // Widths below, at and past one 16-float vector and one 128-float
        // block, with and without a partial last vector; more rows than a
        // task holds, so that prefetching runs across task ends.
        for dim in [1, 5, 15, 16, 17, 31, 100, 128, 129, 143, 256, 300] {
            let rows = 700;
            let v = Column::Vector { dim, data: (0..dim * rows).map(|i| i as f32 + 0.25).collect::<Vec<f32>>().into() };
            let nodes: Vec<u32> = (0..1500u32).map(|i| i.wrapping_mul(2_654_435_761) % rows as u32).collect();
            let len = nodes.len() * dim;
            let mut buf = vec![MaybeUninit::new(-7.0f32); len + 40];
            let dim_out = gather_rows(&v, &nodes, &mut buf[3..3 + len], false).unwrap();
            assert_eq!(dim_out, dim);
            // SAFETY: every element of `buf` was initialised.
            let buf: Vec<f32> = buf.iter().map(|x| unsafe { x.assume_init() }).collect();
            assert!(buf[..3].iter().chain(&buf[3 + len..]).all(|&x| x == -7.0), "dim {dim}: written outside the output");
            for (k, &n) in nodes.iter().enumerate() {
                let want: Vec<f32> = (0..dim).map(|j| (n as usize * dim + j) as f32 + 0.25).collect();
                assert_eq!(&buf[3 + k * dim..][..dim], &want[..], "dim {dim}, row {k} (node {n})");
            }
        }
    }

    #[test]
    fn aligned_and_unaligned_outputs_get_the_same_rows() {
        // 24-wide rows (96 bytes, whole 32-byte units): an aligned output
        // takes the streaming path where AVX exists, an output one float
        // off takes memcpy; both must hold exactly the rows asked for.
        let (dim, rows) = (24, 5000);
        let v = Column::Vector { dim, data: (0..dim * rows).map(|i| i as f32 * 0.5).collect::<Vec<f32>>().into() };
        let nodes: Vec<u32> = (0..7000u32).map(|i| i.wrapping_mul(2_654_435_761) % rows as u32).collect();
        #[derive(Clone, Copy)]
        #[repr(align(64))]
        struct Line(#[allow(dead_code)] [f32; 16]);
        let mut buf = vec![Line([0.0; 16]); (nodes.len() * dim + 1).div_ceil(16)];
        // SAFETY: `buf` holds `16 * len` initialised floats.
        let all = unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<MaybeUninit<f32>>(), buf.len() * 16) };
        for skew in [0, 1] {
            let out = &mut all[skew..skew + nodes.len() * dim];
            assert_eq!(streams(out.as_ptr().cast(), dim), skew == 0 && cfg!(target_arch = "x86_64") && std::arch::is_x86_feature_detected!("avx"));
            // Streaming where allowed, cached stores, and `gather_into`'s
            // own choice (by the size of the last-level cache).
            for way in 0..3 {
                out.fill(MaybeUninit::new(f32::NAN));
                let dim_out = if way == 2 { gather_into(&v, &nodes, out) } else { gather_rows(&v, &nodes, out, way == 0) };
                assert_eq!(dim_out.unwrap(), dim);
                for (k, &n) in nodes.iter().enumerate() {
                    // SAFETY: every element was written (NaN, then the row).
                    let got: Vec<f32> = out[k * dim..][..dim].iter().map(|x| unsafe { x.assume_init() }).collect();
                    let want: Vec<f32> = (0..dim).map(|j| (n as usize * dim + j) as f32 * 0.5).collect();
                    assert_eq!(got, want, "row {k} (node {n}), skew {skew}, way {way}");
                }
            }
        }
        let mut short = vec![MaybeUninit::new(0.0f32); 3];
        assert!(gather_into(&v, &nodes, &mut short).is_err(), "a wrong-sized output is refused");
    }
}
