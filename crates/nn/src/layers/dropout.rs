//! Dropout with masks drawn from a caller-given seed, so a run (and a
//! resumed run) is reproducible bit for bit.

use burn::tensor::{Tensor, TensorData};
use ferrograph_sample::rng::SplitMix;

/// Zeroes each element with probability `p` and scales the rest by
/// `1 / (1 - p)`; `seed = None` (evaluation) or `p = 0` is the identity.
pub fn dropout<const D: usize>(x: Tensor<D>, p: f64, seed: Option<u64>) -> Tensor<D> {
    let Some(seed) = seed else { return x };
    if p <= 0.0 {
        return x;
    }
    let dims = x.dims();
    let n: usize = dims.iter().product();
    let mut rng = SplitMix::new(seed);
    let keep = 1.0 / (1.0 - p) as f32;
    let threshold = (p * (1u64 << 32) as f64) as u64;
    let mut v = Vec::with_capacity(n);
    // Two decisions per 64-bit draw.
    while v.len() < n {
        let r = rng.next_u64();
        v.push(if (r & 0xffff_ffff) < threshold { 0.0 } else { keep });
        if v.len() < n {
            v.push(if (r >> 32) < threshold { 0.0 } else { keep });
        }
    }
    let device = x.device();
    x * Tensor::from_data(TensorData::new(v, dims), &device)
}
