//! A linear layer (dense or sparse input) with seeded Glorot initialisation (burn's own `Linear`
//! draws from a global RNG; training must be reproducible from one seed).

use burn::module::{Module, Param};
use burn::tensor::{Tensor, TensorData};
use ferrograph_sample::rng::SplitMix;

use crate::ops::{linear, spmm};
use crate::{Input, train_device};

/// `y = x W (+ b)`, `W: [in, out]`.
#[derive(Module, Debug)]
pub struct Linear {
    /// Weight `[in, out]`.
    pub weight: Param<Tensor<2>>,
    /// Optional bias `[out]`.
    pub bias: Option<Param<Tensor<1>>>,
}

/// Glorot-uniform values for a `[rows, cols]` matrix.
pub fn glorot(rows: usize, cols: usize, seed: u64) -> Tensor<2> {
    let mut rng = SplitMix::new(seed);
    let a = (6.0 / (rows + cols) as f64).sqrt();
    let v: Vec<f32> = (0..rows * cols).map(|_| ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32 * a as f32).collect();
    Tensor::from_data(TensorData::new(v, [rows, cols]), &train_device())
}

impl Linear {
    /// A new layer; weights from `seed`, bias zero.
    pub fn new(d_in: usize, d_out: usize, bias: bool, seed: u64) -> Linear {
        Linear {
            weight: Param::from_tensor(glorot(d_in, d_out, seed)),
            bias: bias.then(|| Param::from_tensor(Tensor::zeros([d_out], &train_device()))),
        }
    }

    /// Applies the layer to `[n, in]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        linear(x, self.weight.val(), self.bias.as_ref().map(|b| b.val()), false)
    }

    /// Applies the layer to dense or sparse rows (sparse: `X·W` as a sparse
    /// product, never densifying `X`).
    pub fn forward_input(&self, x: &Input) -> Tensor<2> {
        match x {
            Input::Dense(t) => self.forward(t.clone()),
            Input::Sparse(a) => {
                let y = spmm(a, self.weight.val());
                match &self.bias {
                    Some(b) => y + b.val().unsqueeze::<2>(),
                    None => y,
                }
            }
        }
    }

    /// Input width.
    pub fn d_in(&self) -> usize {
        self.weight.val().dims()[0]
    }

    /// Output width.
    pub fn d_out(&self) -> usize {
        self.weight.val().dims()[1]
    }
}
