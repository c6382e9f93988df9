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
