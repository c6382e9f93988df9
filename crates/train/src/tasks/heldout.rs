//! Held-out node pairs written by `ferrograph split-edges` (`val.npy`,
//! `val_neg.npy`, `test.npy`, `test_neg.npy`: int64 `[m, 2]` local
//! indices), and their link metrics.

use std::path::Path;

use crate::Result;
use crate::config::TrainConfig;
use crate::metrics::link_metrics;
use crate::record::Metrics;

/// Held-out pairs written by `ferrograph split-edges` (local indices).
#[derive(Clone, Debug, Default)]
pub struct Heldout {
    /// Validation positives (may be empty).
    pub val: Vec<[u32; 2]>,
    /// Validation non-edges.
    pub val_neg: Vec<[u32; 2]>,
    /// Test positives.
    pub test: Vec<[u32; 2]>,
    /// Test non-edges.
    pub test_neg: Vec<[u32; 2]>,
}

impl Heldout {
    /// Reads `dir` (as named by `data.heldout`), checking every index is below `n`.
    pub fn load(cfg: &TrainConfig, dir: &Path, n: usize) -> Result<Heldout> {
        let read = |name: &str, required: bool| -> Result<Vec<[u32; 2]>> {
            let p = dir.join(format!("{name}.npy"));
            if !p.is_file() && !required {
                return Ok(Vec::new());
            }
            let a = ferrograph_io::npy::read_npy(&p).map_err(|e| cfg.field("data.heldout", e))?;
            let ints = match a.data {
                ferrograph_io::npy::NpyData::Int(v) if a.shape.len() == 2 && a.shape[1] == 2 => v,
                _ => return Err(cfg.field("data.heldout", format!("{}: expected an int64 [m, 2] array of node pairs", p.display()))),
            };
            ints.chunks_exact(2)
                .enumerate()
                .map(|(i, c)| match (u32::try_from(c[0]), u32::try_from(c[1])) {
                    (Ok(a), Ok(b)) if (a as usize) < n && (b as usize) < n => Ok([a, b]),
                    _ => Err(cfg.field("data.heldout", format!("{}: pair {i} ({}, {}) is not two nodes of 0..{n}", p.display(), c[0], c[1]))),
                })
                .collect()
        };
        Ok(Heldout { val: read("val", false)?, val_neg: read("val_neg", false)?, test: read("test", true)?, test_neg: read("test_neg", true)? })
    }

    /// Validation [`link_metrics`] of `emb` (`n × dim`).
    pub fn val_metrics(&self, emb: &[f32], dim: usize, ks: &[usize]) -> Metrics {
        link_metrics(emb, dim, &self.val, &self.val_neg, ks)
    }

    /// Test [`link_metrics`] of `emb`.
    pub fn test_metrics(&self, emb: &[f32], dim: usize, ks: &[usize]) -> Metrics {
        link_metrics(emb, dim, &self.test, &self.test_neg, ks)
    }

    /// Whether validation pairs exist (they choose the kept epoch).
    pub fn has_val(&self) -> bool {
        !self.val.is_empty() && !self.val_neg.is_empty()
    }
}
