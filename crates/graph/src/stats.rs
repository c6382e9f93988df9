//! Degree statistics, computed when a snapshot is written and kept in its manifest.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Distribution of row lengths of a CSR.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DegreeStats {
    /// Smallest degree.
    pub min: u64,
    /// Mean degree.
    pub mean: f64,
    /// Median degree.
    pub p50: u64,
    /// 99th percentile (nearest rank).
    pub p99: u64,
    /// Largest degree.
    pub max: u64,
    /// Rows with no entries.
    pub zero: u64,
}

impl DegreeStats {
    /// From CSR offsets (`rows + 1` entries).
    pub fn from_offsets(offsets: &[u64]) -> Self {
        let rows = offsets.len().saturating_sub(1);
        if rows == 0 {
            return DegreeStats::default();
        }
        let mut deg: Vec<u64> = offsets.par_windows(2).map(|w| w[1] - w[0]).collect();
        let total: u64 = deg.par_iter().sum();
        let zero = deg.par_iter().filter(|&&d| d == 0).count() as u64;
        let rank = |q: f64| (((rows as f64) * q).ceil() as usize).clamp(1, rows) - 1;
        let (_, &mut p50, _) = deg.select_nth_unstable(rank(0.5));
        let (_, &mut p99, _) = deg.select_nth_unstable(rank(0.99));
        let min = *deg.par_iter().min().unwrap_or(&0);
        let max = *deg.par_iter().max().unwrap_or(&0);
        DegreeStats { min, mean: total as f64 / rows as f64, p50, p99, max, zero }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        // degrees 0,1,2,...,99
        let mut off = vec![0u64];
        for d in 0..100u64 {
            off.push(off.last().unwrap() + d);
        }
        let s = DegreeStats::from_offsets(&off);
        assert_eq!((s.min, s.p50, s.p99, s.max, s.zero), (0, 49, 98, 99, 1));
        assert!((s.mean - 49.5).abs() < 1e-9);
    }
}
