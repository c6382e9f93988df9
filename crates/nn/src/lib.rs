//! Neural-network building blocks on burn's pure-Rust Flex CPU backend: the
//! only ferrograph crate that uses burn. Everything here is a module, a
//! tensor operation or the state that goes with them (optimisers, records);
//! the training engine and its tasks (`ferrograph-train`) drive them.
//!
//! * [`ops`]: sparse kernels burn lacks (weighted neighbour sum, segment
//!   max) with their gradients registered in burn's autodiff; they also run
//!   without autodiff (inference).
//! * [`batch`]: sampler outputs → hops.
//! * [`hop`]: one message-passing hop in block or ego layout; [`input`]:
//!   a layer's input rows, dense or sparse (never densified).
//! * [`layers`]: SAGE, GCN, GAT, seeded linear and dropout layers.
//! * [`gnn`]: stacks of them ([`Gnn`]), layer-wise inference.
//! * [`hetero`]: R-GCN, HeteroSAGE and HAN over typed blocks;
//!   [`embedding`]: learnable tables with sparse (lazy Adam) updates.
//! * [`link`]: edge-level encoders, scores and losses; [`lightgcn`]:
//!   LightGCN; [`towers`]: bipartite GraphSAGE's two towers.
//! * [`loss`]: cross-entropy and ranking losses; [`optim`]: Adam, AdamW and
//!   SGD over any module; [`record`]: module parameters to and from bytes,
//!   with shape checks; [`collective`]: the gradient sum of data-parallel
//!   training, as a trait (MPI implements it in `ferrograph-dist`).
//!
//! Devices: parameters live on the autodiff device ([`train_device`]);
//! inference takes `module.valid()` (burn's plain copy of the parameters)
//! and feeds it tensors on [`infer_device`], so no autodiff graph is
//! recorded and memory does not grow with the number of inference chunks.
#![warn(missing_docs)]

pub mod batch;
pub mod collective;
pub mod embedding;
pub mod gnn;
pub mod hetero;
pub mod hop;
pub mod input;
pub mod layers;
pub mod lightgcn;
pub mod link;
pub mod loss;
pub mod ops;
pub mod optim;
pub mod record;
pub mod towers;

pub use burn::module::Module;
pub use burn::tensor::{Device, Int, Tensor, TensorData};
pub use gnn::{ConvKind, Gnn, GnnConfig};
pub use hop::Hop;
pub use input::Input;

/// Burn's CPU backend with autodiff: where parameters live and training runs.
pub fn train_device() -> Device {
    Device::flex().autodiff()
}

/// Burn's CPU backend without autodiff: inference inputs, so no graph is
/// recorded.
pub fn infer_device() -> Device {
    Device::flex()
}

pub use ferrograph_graph::array::tune_allocator;

/// A `[rows, cols]` matrix on `device` from row-major values.
pub fn matrix(values: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, [rows, cols]), device)
}

/// An index tensor on `device` from local node indices.
pub fn index(v: &[u32], device: &Device) -> Tensor<1, Int> {
    Tensor::from_data(TensorData::new(v.iter().map(|&x| i64::from(x)).collect::<Vec<_>>(), [v.len()]), device)
}

/// Host copy of a 2-D tensor, row-major.
pub fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default()
}

/// The single value of a one-element tensor (a loss).
pub fn scalar(t: Tensor<1>) -> f32 {
    t.into_data().convert::<f32>().try_into_vec::<f32>().ok().and_then(|v| v.first().copied()).unwrap_or(f32::NAN)
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Saved parameters do not fit the module they are loaded into (the
    /// message names the tensor and both shapes).
    #[error("the saved parameters do not fit this model: {0}")]
    Shape(String),
    /// Saved parameters or optimiser state could not be decoded.
    #[error("cannot decode saved {what}: {message}")]
    Decode {
        /// "parameters" or "optimiser state".
        what: &'static str,
        /// The decoder's message.
        message: String,
    },
    /// An input that does not fit the model (widths, counts).
    #[error("{0}")]
    Input(String),
    /// Sampling a neighbourhood (layer-wise inference) failed.
    #[error(transparent)]
    Sample(#[from] ferrograph_sample::Error),
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use ops::{Adj, segment_max, spmm, spmm_with_self};
    use std::sync::Arc;

    fn t2(v: Vec<f32>, r: usize, c: usize, d: &Device) -> Tensor<2> {
        matrix(v, r, c, d)
    }

    #[test]
    fn spmm_and_its_gradient_match_hand_computation() {
        // dst 0 <- src {0 (w 0.5), 2 (w 2)}, dst 1 <- src {1 (w 1)}
        let a = Arc::new(Adj::from_edges(2, 3, &[0, 1, 0], &[0, 1, 2], Some(&[0.5, 1.0, 2.0])));
        let x = t2(vec![1., 2., 3., 4., 5., 6.], 3, 2, &train_device()).require_grad();
        let y = spmm(&a, x.clone());
        assert_eq!(host(y.clone()), vec![0.5 + 10., 1. + 12., 3., 4.]);
        let g = y.sum().backward();
        assert_eq!(host(x.grad(&g).unwrap()), vec![0.5, 0.5, 1., 1., 2., 2.]);
        // The same without autodiff.
        let y = spmm(&a, t2(vec![1., 2., 3., 4., 5., 6.], 3, 2, &infer_device()));
        assert!(!y.is_autodiff());
        assert_eq!(host(y), vec![0.5 + 10., 1. + 12., 3., 4.]);
    }

    #[test]
    fn spmm_with_self_and_its_gradients_match_hand_computation() {
        // The block of the test above: destinations are the first 2 of 3 rows.
        let a = Arc::new(Adj::from_edges(2, 3, &[0, 1, 0], &[0, 1, 2], Some(&[0.5, 1.0, 2.0])));
        let x = t2(vec![1., 2., 3., 4., 5., 6.], 3, 2, &train_device()).require_grad();
        let y = spmm_with_self(&a, x.clone().narrow(0, 0, 2), x.clone());
        assert_eq!(host(y.clone()), vec![1., 2., 10.5, 13., 3., 4., 3., 4.]);
        // d/dx of Σ_ij c_j y_ij with column weights c = [1, 10, 100, 1000]:
        // own rows get [1, 10], sources get w · [100, 1000].
        let c = t2(vec![1., 10., 100., 1000.], 1, 4, &train_device());
        let g = (y * c).sum().backward();
        assert_eq!(host(x.grad(&g).unwrap()), vec![1. + 50., 10. + 500., 1. + 100., 10. + 1000., 200., 2000.]);
        // The same with the destinations read as the first rows of `x`.
        let x = t2(vec![1., 2., 3., 4., 5., 6.], 3, 2, &train_device()).require_grad();
        let y = ops::spmm_with_own_rows(&a, x.clone());
        assert_eq!(host(y.clone()), vec![1., 2., 10.5, 13., 3., 4., 3., 4.]);
        let g = (y * t2(vec![1., 10., 100., 1000.], 1, 4, &train_device())).sum().backward();
        assert_eq!(host(x.grad(&g).unwrap()), vec![1. + 50., 10. + 500., 1. + 100., 10. + 1000., 200., 2000.]);
        assert_eq!(
            host(ops::spmm_with_own_rows(&a, t2(vec![1., 2., 3., 4., 5., 6.], 3, 2, &infer_device()))),
            vec![1., 2., 10.5, 13., 3., 4., 3., 4.]
        );
        let y = spmm_with_self(&a, t2(vec![1., 2., 3., 4.], 2, 2, &infer_device()), t2(vec![1., 2., 3., 4., 5., 6.], 3, 2, &infer_device()));
        assert!(!y.is_autodiff());
        assert_eq!(host(y), vec![1., 2., 10.5, 13., 3., 4., 3., 4.]);
    }

    #[test]
    fn linear_and_its_gradients_equal_burns_matmul_bias_and_relu() {
        // More rows than one product task, at 1 and 2 threads, with and
        // without the bias and the ReLU; against burn's own ops.
        let (m, k, n) = (1100, 37, 19);
        let mut rng = ferrograph_sample::rng::SplitMix::new(7);
        let mut draw = |len: usize| -> Vec<f32> { (0..len).map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0).collect() };
        let (xv, wv, bv, cv) = (draw(m * k), draw(k * n), draw(n), draw(m * n));
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                for (bias, relu) in [(false, false), (true, false), (true, true)] {
                    let d = train_device();
                    let c = t2(cv.clone(), m, n, &d);
                    // Output and gradients of Σ c ⊙ f(x, w, b) for fresh leaves.
                    let run = |f: &dyn Fn(Tensor<2>, Tensor<2>, Tensor<1>) -> Tensor<2>| {
                        let x = t2(xv.clone(), m, k, &d).require_grad();
                        let w = t2(wv.clone(), k, n, &d).require_grad();
                        let b = Tensor::<1>::from_data(TensorData::new(bv.clone(), [n]), &d).require_grad();
                        let y = f(x.clone(), w.clone(), b.clone());
                        let g = (y.clone() * c.clone()).sum().backward();
                        (
                            host(y),
                            host(x.grad(&g).unwrap()),
                            host(w.grad(&g).unwrap()),
                            bias.then(|| b.grad(&g).unwrap().into_data().try_to_vec::<f32>().unwrap()),
                        )
                    };
                    let ours = run(&|x, w, b| ops::linear(x, w, bias.then_some(b), relu));
                    let want = run(&|x, w, b| {
                        let mut y = x.matmul(w);
                        if bias {
                            y = y + b.unsqueeze::<2>();
                        }
                        if relu { burn::tensor::activation::relu(y) } else { y }
                    });
                    let near = |a: &[f32], b: &[f32], what: &str| {
                        assert_eq!(a.len(), b.len(), "{what}");
                        for (i, (p, q)) in a.iter().zip(b).enumerate() {
                            assert!((p - q).abs() <= 1e-4 * (1.0 + q.abs()), "{what}[{i}]: {p} vs {q} (threads {threads}, bias {bias}, relu {relu})");
                        }
                    };
                    near(&ours.0, &want.0, "output");
                    near(&ours.1, &want.1, "x gradient");
                    near(&ours.2, &want.2, "w gradient");
                    if let (Some(a), Some(b)) = (&ours.3, &want.3) {
                        near(a, b, "b gradient");
                    }
                    // Without autodiff: the same values, nothing recorded.
                    let i = infer_device();
                    let y = ops::linear(
                        t2(xv.clone(), m, k, &i),
                        t2(wv.clone(), k, n, &i),
                        bias.then(|| Tensor::<1>::from_data(TensorData::new(bv.clone(), [n]), &i)),
                        relu,
                    );
                    assert!(!y.is_autodiff());
                    near(&host(y), &want.0, "plain output");
                    // A leading narrow of a larger tensor (its buffer runs past its rows).
                    let big: Vec<f32> = xv.iter().chain(&xv).copied().collect();
                    let y = ops::linear(
                        t2(big, 2 * m, k, &i).narrow(0, 0, m),
                        t2(wv.clone(), k, n, &i),
                        bias.then(|| Tensor::<1>::from_data(TensorData::new(bv.clone(), [n]), &i)),
                        relu,
                    );
                    near(&host(y), &want.0, "output of a narrowed input");
                }
            });
        }
    }

    #[test]
    fn segment_max_routes_gradient_to_the_winner() {
        let a = Arc::new(Adj::from_edges(3, 3, &[0, 0, 1], &[0, 2, 1], None));
        let x = t2(vec![1., 9., 3., 4., 5., 6.], 3, 2, &train_device()).require_grad();
        let y = segment_max(&a, x.clone());
        assert_eq!(host(y.clone()), vec![5., 9., 3., 4., 0., 0.]);
        let g = y.sum().backward();
        assert_eq!(host(x.grad(&g).unwrap()), vec![0., 1., 1., 1., 1., 0.]);
        let y = segment_max(&a, t2(vec![1., 9., 3., 4., 5., 6.], 3, 2, &infer_device()));
        assert_eq!(host(y), vec![5., 9., 3., 4., 0., 0.]);
    }
}
