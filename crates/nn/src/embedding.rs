//! Learnable node-embedding tables with sparse updates, for node types
//! without features (and categorical attributes). A batch looks up its rows
//! into a small leaf tensor; after the backward pass only those rows are
//! updated, with a lazy row-wise Adam (PyTorch's `SparseAdam`): the moments
//! of a row advance only when the row is used, and the bias correction
//! counts the row's own steps. A step therefore costs `O(rows in the batch ×
//! width)` whatever the table's size — a dense optimiser over a table of
//! millions of rows would touch all of them every step.

use burn::tensor::Tensor;
use ferrograph_sample::rng::SplitMix;
use rayon::prelude::*;

use crate::{host, infer_device, matrix, train_device};

const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const EPS: f32 = 1e-8;

/// A `rows × dim` table.
#[derive(Clone, Debug)]
pub struct SparseEmbedding {
    /// Rows.
    pub rows: usize,
    /// Width.
    pub dim: usize,
    /// Values, row-major.
    pub table: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    steps: Vec<u32>,
}

impl SparseEmbedding {
    /// A table with values uniform in ±sqrt(1 / dim) (Xavier-like), from `seed`.
    pub fn new(rows: usize, dim: usize, seed: u64) -> Self {
        let mut rng = SplitMix::new(seed);
        let a = (1.0 / dim.max(1) as f64).sqrt();
        let table = (0..rows * dim).map(|_| (((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * a) as f32).collect();
        SparseEmbedding { rows, dim, table, m: vec![0.0; rows * dim], v: vec![0.0; rows * dim], steps: vec![0; rows] }
    }

    fn copy_rows(&self, idx: &[u32]) -> Vec<f32> {
        let d = self.dim;
        let mut out = vec![0f32; idx.len() * d];
        out.par_chunks_mut(d.max(1)).zip(idx.par_iter()).for_each(|(o, &i)| o.copy_from_slice(&self.table[i as usize * d..(i as usize + 1) * d]));
        out
    }

    /// Rows `idx` as a tensor that tracks gradients (`[idx.len(), dim]`).
    pub fn lookup(&self, idx: &[u32]) -> Tensor<2> {
        matrix(self.copy_rows(idx), idx.len(), self.dim, &train_device()).require_grad()
    }

    /// Rows `idx` on the inference device (no gradient, no autodiff graph).
    pub fn rows_of(&self, idx: &[u32]) -> Tensor<2> {
        matrix(self.copy_rows(idx), idx.len(), self.dim, &infer_device())
    }

    /// The whole state (values, moments, per-row step counts), for checkpoints.
    pub fn state(&self) -> (&[f32], &[f32], &[f32], &[u32]) {
        (&self.table, &self.m, &self.v, &self.steps)
    }

    /// Restores a state written by [`state`](Self::state); `None` when the
    /// lengths do not fit a `rows × dim` table.
    pub fn from_state(rows: usize, dim: usize, table: Vec<f32>, m: Vec<f32>, v: Vec<f32>, steps: Vec<u32>) -> Option<Self> {
        let n = rows.checked_mul(dim)?;
        (table.len() == n && m.len() == n && v.len() == n && steps.len() == rows).then_some(SparseEmbedding { rows, dim, table, m, v, steps })
    }

    /// One Adam step on rows `idx` with their gradient `grad` (`[idx.len(),
    /// dim]`, the gradient of the tensor [`lookup`](Self::lookup) returned);
    /// repeated indices have their gradients summed first.
    pub fn step(&mut self, idx: &[u32], grad: Tensor<2>, lr: f64) {
        let g = host(grad);
        let d = self.dim;
        let mut order: Vec<u32> = (0..idx.len() as u32).collect();
        order.sort_unstable_by_key(|&k| idx[k as usize]);
        let mut acc = vec![0f32; d];
        let mut k = 0;
        while k < order.len() {
            let row = idx[order[k] as usize] as usize;
            acc.iter_mut().for_each(|a| *a = 0.0);
            while k < order.len() && idx[order[k] as usize] as usize == row {
                let at = order[k] as usize * d;
                for (a, x) in acc.iter_mut().zip(&g[at..at + d]) {
                    *a += x;
                }
                k += 1;
            }
            self.steps[row] += 1;
            let t = self.steps[row] as i32;
            let (c1, c2) = (1.0 - BETA1.powi(t), 1.0 - BETA2.powi(t));
            let base = row * d;
            let (m, v, w) = (&mut self.m[base..base + d], &mut self.v[base..base + d], &mut self.table[base..base + d]);
            for (((m, v), w), &gj) in m.iter_mut().zip(v.iter_mut()).zip(w.iter_mut()).zip(&acc) {
                *m = BETA1 * *m + (1.0 - BETA1) * gj;
                *v = BETA2 * *v + (1.0 - BETA2) * gj * gj;
                *w -= lr as f32 * (*m / c1) / ((*v / c2).sqrt() + EPS);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_looked_up_rows_move_and_repeats_accumulate() {
        let mut e = SparseEmbedding::new(1000, 4, 1);
        let before = e.table.clone();
        let idx = [7u32, 3, 7];
        let x = e.lookup(&idx);
        // loss = sum of the looked-up rows: gradient 1 everywhere.
        let grads = x.clone().sum().backward();
        let g = x.grad(&grads).unwrap();
        e.step(&idx, g, 0.1);
        for r in 0..1000 {
            let moved = e.table[r * 4..r * 4 + 4] != before[r * 4..r * 4 + 4];
            assert_eq!(moved, r == 7 || r == 3, "row {r}");
        }
        // First Adam step moves each coordinate by lr against the gradient's sign.
        for j in 0..4 {
            assert!((before[7 * 4 + j] - e.table[7 * 4 + j] - 0.1).abs() < 1e-4);
        }
        assert_eq!((e.steps[7], e.steps[3], e.steps[0]), (1, 1, 0));
    }
}
