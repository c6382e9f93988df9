//! A layer's input rows: a dense matrix, or sparse rows (bag-of-words
//! features) that are never densified — the first layer multiplies them
//! into its weights directly (sparse × dense, [`crate::ops::spmm`] with the
//! weight matrix as the "source rows"), so a batch costs its non-zeros, not
//! `rows × width`.

use std::sync::Arc;

use burn::tensor::Tensor;
use ferrograph_sample::rng::SplitMix;

use crate::layers::dropout::dropout;
use crate::ops::Adj;

/// Input rows of a layer.
// One value per step, moved into the first layer: boxing the tensor would
// only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Input {
    /// `[rows, width]`.
    Dense(Tensor<2>),
    /// Row `i`'s non-zeros as CSR row `i` of an [`Adj`] with `n_dst = rows`,
    /// `n_src = width` and the values as weights.
    Sparse(Arc<Adj>),
}

impl Input {
    /// Sparse rows from CSR parts (`offsets.len() = rows + 1`; column indices
    /// below `width`; one value per index).
    pub fn sparse(width: usize, offsets: Vec<u32>, indices: Vec<u32>, values: Vec<f32>) -> crate::Result<Input> {
        let rows = offsets.len().checked_sub(1).ok_or_else(|| crate::Error::Input("sparse rows need at least one offset".into()))?;
        if offsets.last().copied().unwrap_or(0) as usize != indices.len() || values.len() != indices.len() {
            return Err(crate::Error::Input(format!(
                "sparse rows: {} indices and {} values for offsets ending at {:?}",
                indices.len(),
                values.len(),
                offsets.last()
            )));
        }
        if offsets.windows(2).any(|w| w[0] > w[1]) {
            return Err(crate::Error::Input("sparse rows: offsets decrease".into()));
        }
        if let Some(&bad) = indices.iter().find(|&&c| c as usize >= width) {
            return Err(crate::Error::Input(format!("sparse rows: column {bad} is outside 0..{width}")));
        }
        Ok(Input::Sparse(Arc::new(Adj::new(rows, width, offsets, indices, Some(values)))))
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        match self {
            Input::Dense(t) => t.dims()[0],
            Input::Sparse(a) => a.n_dst,
        }
    }

    /// Row width.
    pub fn width(&self) -> usize {
        match self {
            Input::Dense(t) => t.dims()[1],
            Input::Sparse(a) => a.n_src,
        }
    }

    /// The first `n` rows.
    pub fn prefix(&self, n: usize) -> Input {
        match self {
            Input::Dense(t) => Input::Dense(t.clone().narrow(0, 0, n)),
            Input::Sparse(a) if n == a.n_dst => Input::Sparse(a.clone()),
            Input::Sparse(a) => {
                let end = a.offsets[n] as usize;
                let vals = a.vals.as_ref().map(|v| v[..end].to_vec());
                Input::Sparse(Arc::new(Adj::new(n, a.n_src, a.offsets[..=n].to_vec(), a.cols[..end].to_vec(), vals)))
            }
        }
    }

    /// Dropout (`seed = None` or `p = 0`: identity); on sparse rows it
    /// drops stored values, which is the same as dropping the dense matrix's
    /// elements (a zero stays zero).
    pub fn dropout(self, p: f64, seed: Option<u64>) -> Input {
        match (self, seed) {
            (Input::Dense(t), _) => Input::Dense(dropout(t, p, seed)),
            (Input::Sparse(a), Some(seed)) if p > 0.0 => {
                let mut rng = SplitMix::new(seed);
                let keep = 1.0 / (1.0 - p) as f32;
                let threshold = (p * (1u64 << 32) as f64) as u64;
                let vals = a.vals.as_ref().map_or_else(|| vec![1.0; a.nnz()], Clone::clone);
                let vals = vals.into_iter().map(|v| if (rng.next_u64() >> 32) < threshold { 0.0 } else { v * keep }).collect();
                Input::Sparse(Arc::new(Adj::new(a.n_dst, a.n_src, a.offsets.clone(), a.cols.clone(), Some(vals))))
            }
            (x, _) => x,
        }
    }
}
