//! Sparse message-passing kernels burn does not have, registered with
//! burn's autodiff so their gradients flow like any other op.
//!
//! A sampled hop is a CSR matrix [`Adj`] from destination rows to source
//! rows. `spmm` is the weighted sum `out[i] = Σ_e w_e · x[src_e]` (mean,
//! sum and GCN aggregation are weightings of it) and `segment_max` the
//! element-wise max over a row's neighbours (max-pool aggregation). Both
//! run on the Flex CPU backend's storage directly: one pass over the rows,
//! parallel over destination rows, no `[edges, dim]` intermediate. Their
//! backward passes are the transpose product and the arg-max scatter.

use std::sync::{Arc, OnceLock};

use burn::tensor::{Tensor, TensorData};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_backend::TensorMetadata;
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

type Ad = Autodiff<Flex>;

/// Rows per rayon task in the kernels: large enough that scheduling costs
/// nothing next to the row work.
const ROWS_PER_TASK: usize = 256;

/// A hop's adjacency: destination row `i` reads source rows
/// `cols[offsets[i]..offsets[i + 1]]` with weights `vals` (1 when absent).
#[derive(Debug)]
pub struct Adj {
    /// Destination rows.
    pub n_dst: usize,
    /// Source rows.
    pub n_src: usize,
    /// Row offsets, `n_dst + 1` entries.
    pub offsets: Vec<u32>,
    /// Source row of each edge.
    pub cols: Vec<u32>,
    /// Edge weights, aligned with `cols`.
    pub vals: Option<Vec<f32>>,
    transpose: OnceLock<Box<Adj>>,
}

impl Adj {
    /// Builds from CSR parts (checked: offsets monotone, columns in range).
    pub fn new(n_dst: usize, n_src: usize, offsets: Vec<u32>, cols: Vec<u32>, vals: Option<Vec<f32>>) -> Adj {
        assert_eq!(offsets.len(), n_dst + 1, "offsets must have n_dst + 1 entries");
        assert_eq!(*offsets.last().unwrap() as usize, cols.len(), "offsets must end at the edge count");
        assert!(offsets.windows(2).all(|w| w[0] <= w[1]), "offsets must not decrease");
        assert!(cols.iter().all(|&c| (c as usize) < n_src), "a column is outside the source rows");
        if let Some(v) = &vals {
            assert_eq!(v.len(), cols.len(), "one weight per edge");
        }
        Adj { n_dst, n_src, offsets, cols, vals, transpose: OnceLock::new() }
    }

    /// Builds from `(dst, src)` edge lists by a counting sort on `dst`
    /// (stable, so each row keeps the given order).
    pub fn from_edges(n_dst: usize, n_src: usize, dst: &[u32], src: &[u32], vals: Option<&[f32]>) -> Adj {
        let mut offsets = vec![0u32; n_dst + 1];
        for &d in dst {
            offsets[d as usize + 1] += 1;
        }
        for i in 0..n_dst {
            offsets[i + 1] += offsets[i];
        }
        let mut next = offsets.clone();
        let mut cols = vec![0u32; src.len()];
        let mut w = vals.map(|_| vec![0f32; src.len()]);
        for (e, (&d, &s)) in dst.iter().zip(src).enumerate() {
            let p = next[d as usize] as usize;
            next[d as usize] += 1;
            cols[p] = s;
            if let (Some(w), Some(v)) = (w.as_mut(), vals) {
                w[p] = v[e];
            }
        }
        Adj::new(n_dst, n_src, offsets, cols, w)
    }

    /// Edges.
    pub fn nnz(&self) -> usize {
        self.cols.len()
    }

    /// Neighbours of destination row `i`.
    pub fn degree(&self, i: usize) -> usize {
        (self.offsets[i + 1] - self.offsets[i]) as usize
    }

    /// The same edges with every weight replaced by `f(row, edge)`.
    pub fn reweighted(&self, f: impl Fn(usize, usize) -> f32) -> Adj {
        let mut vals = Vec::with_capacity(self.nnz());
        for i in 0..self.n_dst {
            vals.extend((self.offsets[i] as usize..self.offsets[i + 1] as usize).map(|e| f(i, e)));
        }
        Adj::new(self.n_dst, self.n_src, self.offsets.clone(), self.cols.clone(), Some(vals))
    }

    /// The transposed matrix (source rows reading destination rows), built
    /// once on first use by the backward pass.
    pub fn transposed(&self) -> &Adj {
        self.transpose.get_or_init(|| {
            let dst: Vec<u32> = (0..self.n_dst).flat_map(|i| std::iter::repeat_n(i as u32, self.degree(i))).collect();
            Box::new(Adj::from_edges(self.n_src, self.n_dst, &self.cols, &dst, self.vals.as_deref()))
        })
    }
}

/// `n` rows of `width` values made by `fill(row, values)` in parallel; each
/// row is zeroed just before `fill` sees it (while it is in cache), not in a
/// separate pass over the whole buffer.
fn rows(n: usize, width: usize, fill: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::with_capacity(n * width);
    if width > 0 {
        out.spare_capacity_mut()[..n * width].par_chunks_mut(ROWS_PER_TASK * width).enumerate().for_each(|(t, chunk)| {
            for (r, row) in chunk.chunks_exact_mut(width).enumerate() {
                for v in row.iter_mut() {
                    v.write(0.0);
                }
                // SAFETY: every element of `row` was written just above.
                let row = unsafe { &mut *(row as *mut [std::mem::MaybeUninit<f32>] as *mut [f32]) };
                fill(t * ROWS_PER_TASK + r, row);
            }
        });
    }
    // SAFETY: the chunks cover the first `n * width` elements and each was written.
    unsafe { out.set_len(n * width) };
    out
}

/// `row += Σ_e w_e · x[cols[e]]` over destination `i`'s edges.
#[inline]
fn accumulate(a: &Adj, i: usize, x: &[f32], row: &mut [f32]) {
    let dim = row.len();
    for e in a.offsets[i] as usize..a.offsets[i + 1] as usize {
        let src = &x[a.cols[e] as usize * dim..][..dim];
        let w = a.vals.as_ref().map_or(1.0, |v| v[e]);
        for (o, s) in row.iter_mut().zip(src) {
            *o += w * s;
        }
    }
}

/// `out[i] = Σ_e w_e · x[cols[e]]` for a row-major `x` of `dim` columns.
fn spmm_kernel(a: &Adj, x: &[f32], dim: usize) -> Vec<f32> {
    rows(a.n_dst, dim, |i, row| accumulate(a, i, x, row))
}

/// `out[i] = [x_dst[i], Σ_e w_e · x[cols[e]]]`: a row's own features beside
/// its aggregate, so that a layer's self and neighbour transforms are one
/// matrix product.
fn self_spmm_kernel(a: &Adj, x_dst: &[f32], x: &[f32], dim: usize) -> Vec<f32> {
    rows(a.n_dst, 2 * dim, |i, row| {
        let (own, agg) = row.split_at_mut(dim);
        own.copy_from_slice(&x_dst[i * dim..][..dim]);
        accumulate(a, i, x, agg);
    })
}

/// Max over each row's neighbours; rows without neighbours are 0. Returns
/// the values and, per output element, the source row that won (u32::MAX
/// for empty rows).
fn segment_max_kernel(a: &Adj, x: &[f32], dim: usize) -> (Vec<f32>, Vec<u32>) {
    let mut out = vec![0f32; a.n_dst * dim];
    let mut arg = vec![u32::MAX; a.n_dst * dim];
    out.par_chunks_mut(ROWS_PER_TASK * dim.max(1)).zip(arg.par_chunks_mut(ROWS_PER_TASK * dim.max(1))).enumerate().for_each(|(t, (o, g))| {
        let first = t * ROWS_PER_TASK;
        for (r, (row, arg)) in o.chunks_exact_mut(dim).zip(g.chunks_exact_mut(dim)).enumerate() {
            let i = first + r;
            let (lo, hi) = (a.offsets[i] as usize, a.offsets[i + 1] as usize);
            if lo == hi {
                continue;
            }
            row.fill(f32::NEG_INFINITY);
            for e in lo..hi {
                let c = a.cols[e];
                let src = &x[c as usize * dim..][..dim];
                for ((o, g), &s) in row.iter_mut().zip(arg.iter_mut()).zip(src) {
                    if s > *o {
                        *o = s;
                        *g = c;
                    }
                }
            }
        }
    });
    (out, arg)
}

fn flex_rows(t: &FlexTensor) -> (Vec<usize>, FlexTensor) {
    let shape = t.shape().to_vec();
    let t = if t.is_contiguous() && t.layout().start_offset() == 0 { t.clone() } else { t.to_contiguous() };
    (shape, t)
}

fn flex_from(values: Vec<f32>, shape: [usize; 2]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

fn spmm_flex(a: &Adj, x: &FlexTensor) -> FlexTensor {
    let (shape, x) = flex_rows(x);
    assert_eq!(shape[0], a.n_src, "spmm: the input has {} rows, the adjacency {} source rows", shape[0], a.n_src);
    flex_from(spmm_kernel(a, x.storage::<f32>(), shape[1]), [a.n_dst, shape[1]])
}

#[derive(Debug)]
struct SpmmBackward;

impl Backward<Flex, 1> for SpmmBackward {
    type State = Arc<Adj>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad: FlexTensor = grads.consume::<Flex>(&ops.node);
        if let Some(parent) = parent {
            let gx = spmm_flex(ops.state.transposed(), &grad);
            grads.register::<Flex>(parent.id, gx);
        }
    }
}

/// Weighted neighbour sum over `a` of `x` (`[a.n_src, d]` → `[a.n_dst, d]`),
/// differentiable in `x` when `x` is on the autodiff device; on the plain
/// device nothing is recorded.
pub fn spmm(a: &Arc<Adj>, x: Tensor<2>) -> Tensor<2> {
    if !x.is_autodiff() {
        let x = x.try_into_primitive::<Flex>().unwrap_or_else(|e| panic!("spmm runs on the Flex CPU backend: {e:?}"));
        return Tensor::from_primitive::<Flex>(spmm_flex(a, &x));
    }
    let x = x.try_into_primitive::<Ad>().unwrap_or_else(|e| panic!("spmm runs on the Flex CPU backend: {e:?}"));
    let out = spmm_flex(a, x.primitive());
    let (_, node) = x.into_parts();
    let out = match SpmmBackward.prepare::<NoCheckpointing>([node]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(a.clone(), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Tensor::from_primitive::<Ad>(out)
}

#[derive(Debug)]
struct SelfSpmmBackward;

impl Backward<Flex, 2> for SelfSpmmBackward {
    type State = (Arc<Adj>, usize);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [own, nbr] = ops.parents;
        let grad: FlexTensor = grads.consume::<Flex>(&ops.node);
        let (a, dim) = ops.state;
        let (_, grad) = flex_rows(&grad);
        let g = grad.storage::<f32>();
        let half = |h: usize| -> Vec<f32> { g.chunks_exact(2 * dim).flat_map(|r| &r[h * dim..(h + 1) * dim]).copied().collect() };
        if let Some(own) = own {
            grads.register::<Flex>(own.id, flex_from(half(0), [a.n_dst, dim]));
        }
        if let Some(nbr) = nbr {
            let gx = spmm_kernel(a.transposed(), &half(1), dim);
            grads.register::<Flex>(nbr.id, flex_from(gx, [a.n_src, dim]));
        }
    }
}

/// `[x_dst, spmm(a, x)]` side by side (`[a.n_dst, 2·d]`): a layer whose
/// output is `x_dst·W_self + spmm(a, x)·W_nbr` makes it one product with
/// the stacked weights, one pass over the output instead of two products
/// and a sum. Differentiable in both inputs on the autodiff device.
pub fn spmm_with_self(a: &Arc<Adj>, x_dst: Tensor<2>, x: Tensor<2>) -> Tensor<2> {
    let check = |xd: &FlexTensor, x: &FlexTensor| {
        let (ds, xd) = flex_rows(xd);
        let (xs, x) = flex_rows(x);
        assert_eq!(xs[0], a.n_src, "spmm_with_self: the input has {} rows, the adjacency {} source rows", xs[0], a.n_src);
        assert_eq!(ds, [a.n_dst, xs[1]], "spmm_with_self: the destination rows are {ds:?}, not [{}, {}]", a.n_dst, xs[1]);
        (xs[1], flex_from(self_spmm_kernel(a, xd.storage::<f32>(), x.storage::<f32>(), xs[1]), [a.n_dst, 2 * xs[1]]))
    };
    if !x.is_autodiff() {
        let flex = |t: Tensor<2>| t.try_into_primitive::<Flex>().unwrap_or_else(|e| panic!("spmm runs on the Flex CPU backend: {e:?}"));
        return Tensor::from_primitive::<Flex>(check(&flex(x_dst), &flex(x)).1);
    }
    let ad = |t: Tensor<2>| t.try_into_primitive::<Ad>().unwrap_or_else(|e| panic!("spmm runs on the Flex CPU backend: {e:?}"));
    let (xd, x) = (ad(x_dst), ad(x));
    let (dim, out) = check(xd.primitive(), x.primitive());
    let (_, own) = xd.into_parts();
    let (_, nbr) = x.into_parts();
    let out = match SelfSpmmBackward.prepare::<NoCheckpointing>([own, nbr]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish((a.clone(), dim), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Tensor::from_primitive::<Ad>(out)
}

#[derive(Debug)]
struct SegmentMaxBackward;

impl Backward<Flex, 1> for SegmentMaxBackward {
    type State = (Arc<Vec<u32>>, usize, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad: FlexTensor = grads.consume::<Flex>(&ops.node);
        if let Some(parent) = parent {
            let (arg, n_src, dim) = ops.state;
            let (_, grad) = flex_rows(&grad);
            let g = grad.storage::<f32>();
            let mut gx = vec![0f32; n_src * dim];
            for (k, &src) in arg.iter().enumerate() {
                if src != u32::MAX {
                    gx[src as usize * dim + k % dim] += g[k];
                }
            }
            grads.register::<Flex>(parent.id, flex_from(gx, [n_src, dim]));
        }
    }
}

/// Element-wise max over each destination's neighbours (0 for a row with
/// none), differentiable in `x` (the gradient goes to the arg-max) when
/// `x` is on the autodiff device.
pub fn segment_max(a: &Arc<Adj>, x: Tensor<2>) -> Tensor<2> {
    if !x.is_autodiff() {
        let x = x.try_into_primitive::<Flex>().unwrap_or_else(|e| panic!("segment_max runs on the Flex CPU backend: {e:?}"));
        let (shape, xs) = flex_rows(&x);
        assert_eq!(shape[0], a.n_src, "segment_max: the input has {} rows, the adjacency {} source rows", shape[0], a.n_src);
        let (values, _) = segment_max_kernel(a, xs.storage::<f32>(), shape[1]);
        return Tensor::from_primitive::<Flex>(flex_from(values, [a.n_dst, shape[1]]));
    }
    let x = x.try_into_primitive::<Ad>().unwrap_or_else(|e| panic!("segment_max runs on the Flex CPU backend: {e:?}"));
    let (shape, xs) = flex_rows(x.primitive());
    assert_eq!(shape[0], a.n_src, "segment_max: the input has {} rows, the adjacency {} source rows", shape[0], a.n_src);
    let (values, arg) = segment_max_kernel(a, xs.storage::<f32>(), shape[1]);
    let out = flex_from(values, [a.n_dst, shape[1]]);
    let (_, node) = x.into_parts();
    let out = match SegmentMaxBackward.prepare::<NoCheckpointing>([node]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish((Arc::new(arg), a.n_src, shape[1]), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Tensor::from_primitive::<Ad>(out)
}

/// Rows per task of the dense products: each task runs one single-threaded
/// `gemm` over this many rows, so two cores split a layer's rows evenly
/// instead of sharing the few output tiles of one call (measured on
/// `[5500 × 256]·[256 × 256]`: 187 GFLOP/s on one core, 281 on two through
/// gemm's own threading).
const GEMM_ROWS: usize = 512;

/// `dst (+)= lhs · rhs` for general strides (`rs`: row stride, `cs`:
/// column stride, in elements), on the calling thread.
///
/// # Safety
/// Every pointer must address a matrix of the given shape and strides;
/// `dst` must not overlap `lhs` or `rhs`. With `accumulate = false`, `dst`
/// is written, never read.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_f32(
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    dst_rs: usize,
    accumulate: bool,
    (lhs, lhs_rs, lhs_cs): (*const f32, usize, usize),
    (rhs, rhs_rs, rhs_cs): (*const f32, usize, usize),
) {
    // SAFETY: forwarded from the caller. gemm computes
    // dst := alpha·dst + beta·lhs·rhs, reading dst only when asked.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            lhs,
            lhs_cs as isize,
            lhs_rs as isize,
            rhs,
            rhs_cs as isize,
            rhs_rs as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// `[m × n]` rows made by `fill(first_row, rows)` in parallel, `GEMM_ROWS`
/// rows a task; `fill` must write every element of its slice.
fn gemm_rows(m: usize, n: usize, fill: impl Fn(usize, &mut [std::mem::MaybeUninit<f32>]) + Sync) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::with_capacity(m * n);
    if n > 0 {
        out.spare_capacity_mut()[..m * n].par_chunks_mut(GEMM_ROWS * n).enumerate().for_each(|(t, chunk)| fill(t * GEMM_ROWS, chunk));
    }
    // SAFETY: the chunks cover the first `m * n` elements and `fill` wrote each.
    unsafe { out.set_len(m * n) };
    out
}

/// Forward of [`linear`]: `act(x·w + b)` for row-major `x: [m, k]`,
/// `w: [k, n]`, `b: [n]`. Bias and ReLU are applied to each task's rows
/// right after its product, while they are in cache.
fn linear_kernel(x: &[f32], w: &[f32], b: Option<&[f32]>, relu: bool, (m, k, n): (usize, usize, usize)) -> Vec<f32> {
    // A contiguous tensor's storage may run past its rows (a leading
    // `narrow` keeps its parent's buffer): read the prefix.
    assert!(x.len() >= m * k, "linear: the input is not [{m}, {k}]");
    assert!(w.len() >= k * n, "linear: the weight is not [{k}, {n}]");
    let (x, w) = (&x[..m * k], &w[..k * n]);
    let b = b.map(|b| {
        assert!(b.len() >= n, "linear: the bias is not [{n}]");
        &b[..n]
    });
    gemm_rows(m, n, |first, chunk| {
        let rows = chunk.len() / n;
        let dst = chunk.as_mut_ptr().cast::<f32>();
        if k == 0 {
            chunk.iter_mut().for_each(|v| {
                v.write(0.0);
            });
        } else {
            // SAFETY: `dst` holds `rows × n` elements; `x` from row `first`
            // holds `rows × k`, `w` holds `k × n`; nothing overlaps.
            unsafe { gemm_f32((rows, n, k), dst, n, false, (x.as_ptr().add(first * k), k, 1), (w.as_ptr(), n, 1)) };
        }
        // SAFETY: every element of `chunk` was written just above.
        let chunk = unsafe { &mut *(chunk as *mut [std::mem::MaybeUninit<f32>] as *mut [f32]) };
        if b.is_some() || relu {
            for row in chunk.chunks_exact_mut(n) {
                if let Some(b) = b {
                    row.iter_mut().zip(b).for_each(|(o, b)| *o += b);
                }
                if relu {
                    row.iter_mut().for_each(|o| *o = o.max(0.0));
                }
            }
        }
    })
}

/// Gradients of [`linear`] from the output gradient `g: [m, n]`: of `x`
/// (`g'·wᵀ`), of `w` (`xᵀ·g'`, the rows split over the threads and the
/// partial products summed) and of `b` (column sums of `g'`), each only
/// when asked; `g' = g ⊙ [out > 0]` after a ReLU.
fn linear_grads(x: &[f32], w: &[f32], out: Option<&[f32]>, g: &[f32], (m, k, n): (usize, usize, usize), want: [bool; 3]) -> [Option<Vec<f32>>; 3] {
    assert!(x.len() >= m * k && w.len() >= k * n && g.len() >= m * n, "linear: the saved tensors are not [{m}, {k}], [{k}, {n}]");
    let (x, w, g) = (&x[..m * k], &w[..k * n], &g[..m * n]);
    let out = out.map(|o| &o[..m * n]);
    let masked;
    let g = match out {
        Some(out) => {
            masked = rows(m, n, |i, row| {
                for ((o, &gv), &y) in row.iter_mut().zip(&g[i * n..][..n]).zip(&out[i * n..][..n]) {
                    *o = if y > 0.0 { gv } else { 0.0 };
                }
            });
            &masked[..]
        }
        None => g,
    };
    let gx = want[0].then(|| {
        gemm_rows(m, k, |first, chunk| {
            let rows = chunk.len() / k.max(1);
            if n == 0 {
                chunk.iter_mut().for_each(|v| {
                    v.write(0.0);
                });
                return;
            }
            // SAFETY: `chunk` holds `rows × k`; `g` from row `first` holds
            // `rows × n`; `wᵀ` is `w` read with swapped strides.
            unsafe { gemm_f32((rows, k, n), chunk.as_mut_ptr().cast(), k, false, (g.as_ptr().add(first * n), n, 1), (w.as_ptr(), 1, n)) };
        })
    });
    let (gw, gb) = if want[1] || want[2] {
        // One share of the rows per thread; each share's `xᵀ·g'` and
        // column sums, then their sum.
        let shares = rayon::current_num_threads().clamp(1, m.div_ceil(GEMM_ROWS).max(1));
        let per = m.div_ceil(shares).max(1);
        let parts: Vec<(Vec<f32>, Vec<f32>)> = (0..shares)
            .into_par_iter()
            .map(|s| {
                let (lo, hi) = ((s * per).min(m), ((s + 1) * per).min(m));
                let mut pw = vec![0f32; if want[1] { k * n } else { 0 }];
                if want[1] && hi > lo && k > 0 && n > 0 {
                    // SAFETY: `pw` holds `k × n`; `xᵀ` over rows lo..hi is
                    // `x` read with swapped strides; `g` rows lo..hi.
                    unsafe { gemm_f32((k, n, hi - lo), pw.as_mut_ptr(), n, false, (x.as_ptr().add(lo * k), 1, k), (g.as_ptr().add(lo * n), n, 1)) };
                }
                let mut pb = vec![0f32; if want[2] { n } else { 0 }];
                if want[2] {
                    for row in g[lo * n..hi * n].chunks_exact(n.max(1)) {
                        pb.iter_mut().zip(row).for_each(|(s, v)| *s += v);
                    }
                }
                (pw, pb)
            })
            .collect();
        let mut parts = parts.into_iter();
        let (mut gw, mut gb) = parts.next().unwrap_or_default();
        for (pw, pb) in parts {
            gw.iter_mut().zip(&pw).for_each(|(a, b)| *a += b);
            gb.iter_mut().zip(&pb).for_each(|(a, b)| *a += b);
        }
        (want[1].then_some(gw), want[2].then_some(gb))
    } else {
        (None, None)
    };
    [gx, gw, gb]
}

/// What the backward pass of [`linear`] keeps: the input, the weight, the
/// output when a ReLU followed, and the shape `(m, k, n)`.
type LinearState = (FlexTensor, FlexTensor, Option<FlexTensor>, (usize, usize, usize));

fn linear_backward<const N: usize>(ops: Ops<LinearState, N>, grads: &mut Gradients) {
    let grad: FlexTensor = grads.consume::<Flex>(&ops.node);
    let (x, w, out, shape) = ops.state;
    let (m, k, n) = shape;
    let (_, grad) = flex_rows(&grad);
    let want = [ops.parents[0].is_some(), ops.parents[1].is_some(), N == 3 && ops.parents[N - 1].is_some()];
    let [gx, gw, gb] =
        linear_grads(x.storage::<f32>(), w.storage::<f32>(), out.as_ref().map(|o| o.storage::<f32>()), grad.storage::<f32>(), shape, want);
    if let (Some(p), Some(g)) = (&ops.parents[0], gx) {
        grads.register::<Flex>(p.id, flex_from(g, [m, k]));
    }
    if let (Some(p), Some(g)) = (&ops.parents[1], gw) {
        grads.register::<Flex>(p.id, flex_from(g, [k, n]));
    }
    if N == 3
        && let (Some(p), Some(g)) = (&ops.parents[N - 1], gb)
    {
        grads.register::<Flex>(p.id, FlexTensor::from_data(TensorData::new(g, [n])));
    }
}

#[derive(Debug)]
struct LinearBackward;

impl Backward<Flex, 2> for LinearBackward {
    type State = LinearState;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        linear_backward(ops, grads);
    }
}

#[derive(Debug)]
struct LinearBiasBackward;

impl Backward<Flex, 3> for LinearBiasBackward {
    type State = LinearState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        linear_backward(ops, grads);
    }
}

/// A dense layer `x·w + b`, with the ReLU after it when `relu`, as one op:
/// one pass over the output (bias and activation applied while each
/// task's rows are in cache), the rows split over the threads in the
/// product and in its gradients, and no zero-filled buffers.
/// Differentiable in `x`, `w` and `b` on the autodiff device; on the
/// plain device nothing is recorded.
pub fn linear(x: Tensor<2>, w: Tensor<2>, b: Option<Tensor<1>>, relu: bool) -> Tensor<2> {
    let [m, k] = x.dims();
    let [kw, n] = w.dims();
    assert_eq!(k, kw, "linear: the input is {k} wide, the weight has {kw} rows");
    let run = |x: &FlexTensor, w: &FlexTensor, b: Option<&FlexTensor>| {
        let (_, x) = flex_rows(x);
        let (_, w) = flex_rows(w);
        let b = b.map(|b| flex_rows(b).1);
        let out = linear_kernel(x.storage::<f32>(), w.storage::<f32>(), b.as_ref().map(|b| b.storage::<f32>()), relu, (m, k, n));
        (x, w, flex_from(out, [m, n]))
    };
    if !x.is_autodiff() {
        let flex = |t: Tensor<2>| t.try_into_primitive::<Flex>().unwrap_or_else(|e| panic!("linear runs on the Flex CPU backend: {e:?}"));
        let b = b.map(|b| b.try_into_primitive::<Flex>().unwrap_or_else(|e| panic!("linear runs on the Flex CPU backend: {e:?}")));
        return Tensor::from_primitive::<Flex>(run(&flex(x), &flex(w), b.as_ref()).2);
    }
    let ad = |t: Tensor<2>| t.try_into_primitive::<Ad>().unwrap_or_else(|e| panic!("linear runs on the Flex CPU backend: {e:?}"));
    let (x, w) = (ad(x), ad(w));
    let b = b.map(|b| b.try_into_primitive::<Ad>().unwrap_or_else(|e| panic!("linear runs on the Flex CPU backend: {e:?}")));
    let (xs, ws, out) = run(x.primitive(), w.primitive(), b.as_ref().map(|b| b.primitive()));
    let state = (xs, ws, relu.then(|| out.clone()), (m, k, n));
    let (_, nx) = x.into_parts();
    let (_, nw) = w.into_parts();
    let out = match b {
        Some(b) => {
            let (_, nb) = b.into_parts();
            match LinearBiasBackward.prepare::<NoCheckpointing>([nx, nw, nb]).compute_bound().stateful() {
                OpsKind::Tracked(prep) => prep.finish(state, out),
                OpsKind::UnTracked(prep) => prep.finish(out),
            }
        }
        None => match LinearBackward.prepare::<NoCheckpointing>([nx, nw]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(state, out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        },
    };
    Tensor::from_primitive::<Ad>(out)
}

#[derive(Debug)]
struct OwnRowsSpmmBackward;

impl Backward<Flex, 1> for OwnRowsSpmmBackward {
    type State = (Arc<Adj>, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad: FlexTensor = grads.consume::<Flex>(&ops.node);
        let Some(parent) = parent else { return };
        let (a, dim) = ops.state;
        let (_, grad) = flex_rows(&grad);
        let g = grad.storage::<f32>();
        let t = a.transposed();
        // Source row j: its own half when it is a destination, plus each
        // destination's neighbour half that read it, weighted. One buffer,
        // no separate gradients of a slice and of the whole to add up.
        let gx = rows(a.n_src, dim, |j, row| {
            if j < a.n_dst {
                row.copy_from_slice(&g[j * 2 * dim..][..dim]);
            }
            for e in t.offsets[j] as usize..t.offsets[j + 1] as usize {
                let src = &g[t.cols[e] as usize * 2 * dim + dim..][..dim];
                let w = t.vals.as_ref().map_or(1.0, |v| v[e]);
                row.iter_mut().zip(src).for_each(|(o, s)| *o += w * s);
            }
        });
        grads.register::<Flex>(parent.id, flex_from(gx, [a.n_src, dim]));
    }
}

/// [`spmm_with_self`] for a block whose destinations are the first
/// `a.n_dst` rows of `x` (the sampler's layout): `[x[i], Σ_e w_e ·
/// x[cols[e]]]`, with one gradient buffer for `x` in the backward pass.
pub fn spmm_with_own_rows(a: &Arc<Adj>, x: Tensor<2>) -> Tensor<2> {
    let run = |x: &FlexTensor| {
        let (xs, x) = flex_rows(x);
        assert_eq!(xs[0], a.n_src, "spmm_with_own_rows: the input has {} rows, the adjacency {} source rows", xs[0], a.n_src);
        assert!(a.n_dst <= a.n_src, "spmm_with_own_rows: {} destinations are not a prefix of {} sources", a.n_dst, a.n_src);
        let v = x.storage::<f32>();
        (xs[1], flex_from(self_spmm_kernel(a, &v[..a.n_dst * xs[1]], v, xs[1]), [a.n_dst, 2 * xs[1]]))
    };
    if !x.is_autodiff() {
        let x = x.try_into_primitive::<Flex>().unwrap_or_else(|e| panic!("spmm runs on the Flex CPU backend: {e:?}"));
        return Tensor::from_primitive::<Flex>(run(&x).1);
    }
    let x = x.try_into_primitive::<Ad>().unwrap_or_else(|e| panic!("spmm runs on the Flex CPU backend: {e:?}"));
    let (dim, out) = run(x.primitive());
    let (_, node) = x.into_parts();
    let out = match OwnRowsSpmmBackward.prepare::<NoCheckpointing>([node]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish((a.clone(), dim), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Tensor::from_primitive::<Ad>(out)
}
