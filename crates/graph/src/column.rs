//! Attribute columns, stored apart from topology, one array (or a few) per column.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::array::{Array, StringArray};
use crate::schema::AttrKind;

/// The values of one attribute column for all rows (nodes of a type, or edges
/// of a type in out-position order).
#[derive(Debug)]
pub enum Column {
    /// 64-bit integers.
    Int(Array<i64>),
    /// 32-bit floats.
    Float(Array<f32>),
    /// Dictionary-encoded strings: `codes[row]` indexes `dict`.
    Categorical {
        /// One code per row.
        codes: Array<u32>,
        /// Distinct strings, in order of first appearance.
        dict: StringArray,
    },
    /// Strings hashed into `0..buckets`; one bucket per row.
    Hashed {
        /// Number of buckets.
        buckets: u32,
        /// One bucket per row.
        codes: Array<u32>,
    },
    /// Dense vectors, row-major: row `r` is `data[r*dim..(r+1)*dim]`.
    Vector {
        /// Vector length.
        dim: usize,
        /// `rows * dim` values.
        data: Array<f32>,
    },
    /// Sparse vectors as CSR: row `r` has `indices[indptr[r]..indptr[r+1]]`
    /// with the matching `values`.
    Sparse {
        /// Number of columns.
        dim: usize,
        /// `rows + 1` offsets.
        indptr: Array<u64>,
        /// Column indices (`< dim`).
        indices: Array<u32>,
        /// Values.
        values: Array<f32>,
    },
}

/// Summary statistics of a column, computed once when a graph is written.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    /// Smallest value (numbers) or smallest code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Number of distinct values (ints, strings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct: Option<u64>,
    /// Stored non-zeros (sparse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nnz: Option<u64>,
}

impl Column {
    /// [`Array::prefault`] of every array of the column; whether all were.
    pub fn prefault(&self) -> bool {
        match self {
            Column::Int(a) => a.prefault(),
            Column::Float(a) | Column::Vector { data: a, .. } => a.prefault(),
            Column::Categorical { codes, .. } | Column::Hashed { codes, .. } => codes.prefault(),
            Column::Sparse { indptr, indices, values, .. } => indptr.prefault() & indices.prefault() & values.prefault(),
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        match self {
            Column::Int(a) => a.len(),
            Column::Float(a) => a.len(),
            Column::Categorical { codes, .. } | Column::Hashed { codes, .. } => codes.len(),
            Column::Vector { dim, data } => data.len().checked_div(*dim).unwrap_or(0),
            Column::Sparse { indptr, .. } => indptr.len().saturating_sub(1),
        }
    }

    /// The schema kind of this column.
    pub fn kind(&self) -> AttrKind {
        match self {
            Column::Int(_) => AttrKind::Int,
            Column::Float(_) => AttrKind::Float,
            Column::Categorical { .. } => AttrKind::String { buckets: None },
            Column::Hashed { buckets, .. } => AttrKind::String { buckets: Some(*buckets) },
            Column::Vector { dim, .. } => AttrKind::FloatVector { dim: *dim as u32 },
            Column::Sparse { dim, .. } => AttrKind::Sparse { dim: *dim as u32 },
        }
    }

    /// Row `r` of a vector column, if this is one.
    pub fn vector(&self, r: usize) -> Option<&[f32]> {
        match self {
            Column::Vector { dim, data } => data.as_slice().get(r * dim..(r + 1) * dim),
            _ => None,
        }
    }

    /// Takes the rows in `order` (`new[i] = old[order[i]]`): aligns edge
    /// columns read in input order with the out-positions of the topology.
    pub fn permute(&self, order: &[u32]) -> Column {
        fn take<T: bytemuck::Pod + Send + Sync>(a: &Array<T>, order: &[u32]) -> Array<T> {
            let s = a.as_slice();
            order.par_iter().map(|&i| s[i as usize]).collect::<Vec<T>>().into()
        }
        match self {
            Column::Int(a) => Column::Int(take(a, order)),
            Column::Float(a) => Column::Float(take(a, order)),
            Column::Categorical { codes, dict } => Column::Categorical {
                codes: take(codes, order),
                dict: StringArray { offsets: dict.offsets.as_slice().to_vec().into(), bytes: dict.bytes.as_slice().to_vec().into() },
            },
            Column::Hashed { buckets, codes } => Column::Hashed { buckets: *buckets, codes: take(codes, order) },
            Column::Vector { dim, data } => {
                let s = data.as_slice();
                let mut out = Vec::with_capacity(order.len() * dim);
                for &i in order {
                    out.extend_from_slice(&s[i as usize * dim..(i as usize + 1) * dim]);
                }
                Column::Vector { dim: *dim, data: out.into() }
            }
            Column::Sparse { dim, indptr, indices, values } => {
                let (p, ix, v) = (indptr.as_slice(), indices.as_slice(), values.as_slice());
                let mut np = Vec::with_capacity(order.len() + 1);
                let (mut ni, mut nv) = (Vec::new(), Vec::new());
                np.push(0u64);
                for &i in order {
                    let r = p[i as usize] as usize..p[i as usize + 1] as usize;
                    ni.extend_from_slice(&ix[r.clone()]);
                    nv.extend_from_slice(&v[r]);
                    np.push(ni.len() as u64);
                }
                Column::Sparse { dim: *dim, indptr: np.into(), indices: ni.into(), values: nv.into() }
            }
        }
    }

    /// Computes summary statistics (one parallel pass).
    pub fn stats(&self) -> ColumnStats {
        match self {
            Column::Int(a) => {
                let s = a.as_slice();
                let (min, max) = s
                    .par_iter()
                    .fold(|| (i64::MAX, i64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)))
                    .reduce(|| (i64::MAX, i64::MIN), |a, b| (a.0.min(b.0), a.1.max(b.1)));
                let mut sorted = s.to_vec();
                sorted.par_sort_unstable();
                sorted.dedup();
                ColumnStats {
                    min: (!s.is_empty()).then_some(min as f64),
                    max: (!s.is_empty()).then_some(max as f64),
                    distinct: Some(sorted.len() as u64),
                    nnz: None,
                }
            }
            Column::Float(a) => float_range(a.as_slice()),
            Column::Vector { data, .. } => float_range(data.as_slice()),
            Column::Categorical { dict, .. } => ColumnStats { distinct: Some(dict.len() as u64), ..Default::default() },
            Column::Hashed { codes, .. } => {
                let mut v = codes.as_slice().to_vec();
                v.par_sort_unstable();
                v.dedup();
                ColumnStats { distinct: Some(v.len() as u64), ..Default::default() }
            }
            Column::Sparse { values, .. } => {
                let mut s = float_range(values.as_slice());
                s.nnz = Some(values.len() as u64);
                s
            }
        }
    }

    /// Checks internal consistency against the expected row count.
    pub fn check(&self, rows: usize) -> Result<(), String> {
        if self.rows() != rows {
            return Err(format!("has {} rows, expected {rows}", self.rows()));
        }
        match self {
            Column::Categorical { codes, dict } => {
                dict.check()?;
                let n = dict.len() as u32;
                if codes.as_slice().par_iter().any(|&c| c >= n) {
                    return Err("a category code points past the dictionary".into());
                }
            }
            Column::Hashed { buckets, codes } => {
                if codes.as_slice().par_iter().any(|c| c >= buckets) {
                    return Err("a bucket is out of range".into());
                }
            }
            Column::Vector { dim, data } => {
                if *dim == 0 || data.len() % dim != 0 {
                    return Err("vector data is not a whole number of rows".into());
                }
            }
            Column::Sparse { dim, indptr, indices, values } => {
                let p = indptr.as_slice();
                if p.first() != Some(&0) || p.last().copied() != Some(indices.len() as u64) || indices.len() != values.len() {
                    return Err("sparse offsets do not span the entries".into());
                }
                if p.windows(2).any(|w| w[0] > w[1]) {
                    return Err("sparse offsets decrease".into());
                }
                if indices.as_slice().par_iter().any(|&i| i as usize >= *dim) {
                    return Err("a sparse column index is out of range".into());
                }
            }
            Column::Int(_) | Column::Float(_) => {}
        }
        Ok(())
    }
}

fn float_range(s: &[f32]) -> ColumnStats {
    if s.is_empty() {
        return ColumnStats::default();
    }
    let (min, max) = s
        .par_iter()
        .fold(|| (f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)))
        .reduce(|| (f32::INFINITY, f32::NEG_INFINITY), |a, b| (a.0.min(b.0), a.1.max(b.1)));
    ColumnStats { min: Some(min as f64), max: Some(max as f64), ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permute_and_stats() {
        let c = Column::Int(vec![5, 7, 5, 9].into());
        let p = c.permute(&[3, 0, 1]);
        match &p {
            Column::Int(a) => assert_eq!(a.as_slice(), &[9, 5, 7]),
            _ => unreachable!(),
        }
        let s = c.stats();
        assert_eq!((s.min, s.max, s.distinct), (Some(5.0), Some(9.0), Some(3)));
        let v = Column::Vector { dim: 2, data: vec![1., 2., 3., 4.].into() };
        assert_eq!(v.permute(&[1, 0]).vector(0), Some(&[3.0f32, 4.0][..]));
    }
}
