//! Feature gathering: the attribute rows of sampled nodes into one
//! contiguous, row-major `f32` buffer, ready for a tensor.

use rayon::prelude::*;

use ferrograph_graph::column::Column;

use crate::{Error, Result};

/// Width of the rows [`gather`] makes from `column` (0 for non-numeric columns).
pub fn width(column: &Column) -> usize {
    match column {
        Column::Vector { dim, .. } | Column::Sparse { dim, .. } => *dim,
        Column::Float(_) | Column::Int(_) => 1,
        _ => 0,
    }
}

/// Copies the rows `nodes` of `column` into `out` (resized to
/// `nodes.len() * dim`, reusing its allocation) and returns `dim`. Dense
/// vectors are copied, scalars widened, sparse rows scattered into zeros.
pub fn gather(column: &Column, nodes: &[u32], out: &mut Vec<f32>) -> Result<usize> {
    let rows = column.rows();
    if let Some(&bad) = nodes.iter().find(|&&n| n as usize >= rows) {
        return Err(Error::Invalid(format!("node {bad} is outside 0..{rows}")));
    }
    let dim = match column {
        Column::Vector { dim, .. } | Column::Sparse { dim, .. } => *dim,
        Column::Float(_) | Column::Int(_) => 1,
        _ => {
            return Err(Error::Invalid(format!("{} attributes are not numeric features", column.kind().describe())));
        }
    };
    out.clear();
    out.resize(nodes.len() * dim, 0.0);
    if dim == 0 {
        return Ok(0);
    }
    let chunk = (4096 / dim).max(1);
    out.par_chunks_mut(chunk * dim).zip(nodes.par_chunks(chunk)).for_each(|(dst, ns)| {
        for (row, &n) in dst.chunks_mut(dim).zip(ns) {
            let n = n as usize;
            match column {
                Column::Vector { data, .. } => row.copy_from_slice(&data.as_slice()[n * dim..(n + 1) * dim]),
                Column::Float(a) => row[0] = a.as_slice()[n],
                Column::Int(a) => row[0] = a.as_slice()[n] as f32,
                Column::Sparse { indptr, indices, values, .. } => {
                    let p = indptr.as_slice();
                    for q in p[n] as usize..p[n + 1] as usize {
                        row[indices.as_slice()[q] as usize] += values.as_slice()[q];
                    }
                }
                _ => {}
            }
        }
    });
    Ok(dim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathers_dense_scalar_and_sparse_rows() {
        let v = Column::Vector { dim: 2, data: vec![0., 1., 10., 11., 20., 21.].into() };
        let mut out = Vec::new();
        assert_eq!(gather(&v, &[2, 0, 2], &mut out).unwrap(), 2);
        assert_eq!(out, vec![20., 21., 0., 1., 20., 21.]);
        let s = Column::Sparse { dim: 3, indptr: vec![0u64, 1, 1, 3].into(), indices: vec![2u32, 0, 1].into(), values: vec![5., 6., 7.].into() };
        gather(&s, &[0, 2, 1], &mut out).unwrap();
        assert_eq!(out, vec![0., 0., 5., 6., 7., 0., 0., 0., 0.]);
        assert!(gather(&s, &[3], &mut out).is_err());
    }
}
