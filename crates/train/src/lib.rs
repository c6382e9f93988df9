//! GNN layers, models and the training pipeline on burn's Flex CPU backend.
//!
//! * [`ops`]: sparse kernels (weighted neighbour sum, segment max) with
//!   their gradients registered in burn's autodiff.
//! * [`hop`]: one message-passing hop in block or ego layout.
//! * [`layers`]: SAGE, GCN and GAT layers; [`model`]: stacks of them.
//! * [`batch`]: sampler outputs → hops.
//! * [`config`], [`trainer`], [`metrics`], [`report`]: `ferrograph train`.

pub mod batch;
pub mod bipartite;
pub mod config;
pub mod gatne;
pub mod hetero;
pub mod history;
pub mod hop;
pub mod layers;
pub mod lightgcn;
pub mod linkpred;
pub mod linktrain;
pub mod metrics;
pub mod model;
pub mod ops;
pub mod report;
pub mod skipgram;
pub mod tasks;
pub mod trainer;

/// The device every tensor of the crate lives on: burn's pure-Rust CPU
/// backend with autodiff (inference simply leaves gradients untracked).
pub fn device() -> burn::tensor::Device {
    burn::tensor::Device::flex().autodiff()
}

/// Keeps freed memory in the process instead of returning it to the
/// kernel, so that a training step's large, short-lived buffers (feature
/// blocks, activations, gradients: megabytes each, every step) reuse warm
/// pages instead of faulting in and zeroing fresh ones. Measured: page
/// faults were about a third of a step's time before this. glibc only; a
/// no-op elsewhere. Call once, early, before threads start.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before
    // other threads allocate.
    unsafe {
        // 32 MiB is glibc's ceiling for the mmap threshold on 64-bit.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}

/// A `[rows, cols]` matrix on [`device`] from row-major values.
pub fn matrix(values: Vec<f32>, rows: usize, cols: usize) -> burn::tensor::Tensor<2> {
    burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(values, [rows, cols]), &device())
}

/// An index tensor on [`device`] from local node indices.
pub fn index(v: &[u32]) -> burn::tensor::Tensor<1, burn::tensor::Int> {
    burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(v.iter().map(|&x| i64::from(x)).collect::<Vec<_>>(), [v.len()]), &device())
}

/// Errors of configuration, data and training.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad config field (the message names the file and field).
    #[error("{0}")]
    Config(String),
    /// A file could not be read or written.
    #[error("{0}")]
    Io(String),
    /// Bad input to an operation.
    #[error("{0}")]
    Invalid(String),
    /// Training diverged.
    #[error("{0}")]
    Diverged(String),
    /// Stopped by `RunOptions::abort_after_steps`.
    #[error("training aborted on request")]
    Aborted,
    /// Sampling failed.
    #[error(transparent)]
    Sample(#[from] ferrograph_sample::Error),
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Tensor, TensorData};
    use ops::{Adj, segment_max, spmm};
    use std::sync::Arc;

    fn t2(v: Vec<f32>, r: usize, c: usize) -> Tensor<2> {
        Tensor::from_data(TensorData::new(v, [r, c]), &device())
    }

    #[test]
    fn spmm_and_its_gradient_match_hand_computation() {
        // dst 0 <- src {0 (w 0.5), 2 (w 2)}, dst 1 <- src {1 (w 1)}
        let a = Arc::new(Adj::from_edges(2, 3, &[0, 1, 0], &[0, 1, 2], Some(&[0.5, 1.0, 2.0])));
        let x = t2(vec![1., 2., 3., 4., 5., 6.], 3, 2).require_grad();
        let y = spmm(&a, x.clone());
        assert_eq!(y.to_data().try_to_vec::<f32>().unwrap(), vec![0.5 + 10., 1. + 12., 3., 4.]);
        let g = y.sum().backward();
        assert_eq!(x.grad(&g).unwrap().to_data().try_to_vec::<f32>().unwrap(), vec![0.5, 0.5, 1., 1., 2., 2.]);
    }

    #[test]
    fn segment_max_routes_gradient_to_the_winner() {
        let a = Arc::new(Adj::from_edges(3, 3, &[0, 0, 1], &[0, 2, 1], None));
        let x = t2(vec![1., 9., 3., 4., 5., 6.], 3, 2).require_grad();
        let y = segment_max(&a, x.clone());
        assert_eq!(y.to_data().try_to_vec::<f32>().unwrap(), vec![5., 9., 3., 4., 0., 0.]);
        let g = y.sum().backward();
        assert_eq!(x.grad(&g).unwrap().to_data().try_to_vec::<f32>().unwrap(), vec![0., 1., 1., 1., 1., 0.]);
    }
}
