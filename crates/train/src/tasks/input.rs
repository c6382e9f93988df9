//! Feature rows of a node type from a column: dense vectors, scalars, or
//! sparse rows that stay sparse (the first layer multiplies them in
//! directly), optionally scaled to sum 1 per row.

use ferrograph_graph::column::Column;
use ferrograph_graph::{Graph, NodeTypeId};
use ferrograph_nn::{Device, Input, matrix};
use ferrograph_sample::features::FeatureAccess;

use crate::config::TrainConfig;
use crate::{Error, Result};

/// A feature column read as model input: from the snapshot, or (dense
/// columns) from the graph servers that own the rows.
#[derive(Clone, Copy)]
pub struct Features<'g> {
    column: &'g Column,
    node_type: NodeTypeId,
    name: &'g str,
    dim: usize,
    normalize: bool,
    remote: Option<&'g dyn FeatureAccess>,
}

/// Rows gathered on a loader thread, turned into an [`Input`] by the step.
#[derive(Debug)]
pub enum Rows {
    /// `rows × dim` values.
    Dense(Vec<f32>, usize),
    /// CSR rows over the feature dimensions.
    Sparse {
        /// `rows + 1` offsets.
        offsets: Vec<u32>,
        /// Feature indices.
        indices: Vec<u32>,
        /// Values.
        values: Vec<f32>,
    },
}

impl<'g> Features<'g> {
    /// Column `name` of `node_type`, checked (errors name `field`).
    pub fn new(cfg: &TrainConfig, g: &'g Graph, node_type: NodeTypeId, name: &'g str, field: &str) -> Result<Self> {
        let column = g.node_column(node_type, name).map_err(|e| cfg.field(field, e))?;
        let dim = ferrograph_sample::features::width(column);
        if dim == 0 {
            return Err(cfg.field(field, format!("column `{name}` is {}, not numeric features", column.kind().describe())));
        }
        Ok(Features { column, node_type, name, dim, normalize: cfg.data.normalize_features, remote: None })
    }

    /// Maps the whole column in now (batches read random rows of it).
    pub fn prefault(&self) {
        self.column.prefault();
    }

    /// Reads dense rows from `remote` (the graph servers) from now on;
    /// sparse rows still come from the snapshot.
    pub fn through(mut self, remote: &'g dyn FeatureAccess) -> Self {
        self.remote = Some(remote);
        self
    }

    /// Whether dense rows come from the graph servers.
    pub fn is_remote(&self) -> bool {
        self.remote.is_some() && !self.is_sparse()
    }

    /// Row width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Whether the rows are sparse.
    pub fn is_sparse(&self) -> bool {
        matches!(self.column, Column::Sparse { .. })
    }

    /// The rows of `nodes` (host buffers).
    pub fn rows(&self, nodes: &[u32]) -> Result<Rows> {
        if let Column::Sparse { indptr, indices, values, .. } = self.column {
            let (p, ix, vs) = (indptr.as_slice(), indices.as_slice(), values.as_slice());
            let rows = p.len().saturating_sub(1);
            if let Some(&bad) = nodes.iter().find(|&&n| n as usize >= rows) {
                return Err(Error::Data(format!("node {bad} is outside the {rows} rows of the feature column")));
            }
            let nnz: u64 = nodes.iter().map(|&n| p[n as usize + 1] - p[n as usize]).sum();
            if nnz > u64::from(u32::MAX) {
                return Err(Error::Data(format!(
                    "a batch of {} nodes has {nnz} non-zero features, more than 2^32; lower train.batch_size",
                    nodes.len()
                )));
            }
            let mut offsets = Vec::with_capacity(nodes.len() + 1);
            offsets.push(0u32);
            let (mut out_ix, mut out_v) = (Vec::with_capacity(nnz as usize), Vec::with_capacity(nnz as usize));
            for &n in nodes {
                let (a, b) = (p[n as usize] as usize, p[n as usize + 1] as usize);
                out_ix.extend_from_slice(&ix[a..b]);
                let start = out_v.len();
                out_v.extend_from_slice(&vs[a..b]);
                if self.normalize {
                    let s: f32 = out_v[start..].iter().map(|x| x.abs()).sum();
                    if s != 0.0 {
                        out_v[start..].iter_mut().for_each(|x| *x /= s);
                    }
                }
                offsets.push(out_ix.len() as u32);
            }
            return Ok(Rows::Sparse { offsets, indices: out_ix, values: out_v });
        }
        let mut out = Vec::with_capacity(nodes.len() * self.dim);
        match self.remote {
            Some(r) => {
                let dim = r.gather(self.node_type, self.name, nodes, &mut out)?;
                if dim != self.dim && !nodes.is_empty() {
                    return Err(Error::Data(format!(
                        "the graph servers' `{}` rows are {dim} wide, the snapshot's {}: they serve another graph",
                        self.name, self.dim
                    )));
                }
            }
            None => {
                ferrograph_sample::features::gather(self.column, nodes, &mut out)?;
            }
        }
        if self.normalize {
            for row in out.chunks_mut(self.dim) {
                let s: f32 = row.iter().map(|x| x.abs()).sum();
                if s != 0.0 {
                    row.iter_mut().for_each(|x| *x /= s);
                }
            }
        }
        Ok(Rows::Dense(out, nodes.len()))
    }

    /// The rows of `nodes` as an input on `device`.
    pub fn input(&self, nodes: &[u32], device: &Device) -> Result<Input> {
        self.rows(nodes)?.into_input(self.dim, device)
    }
}

impl Rows {
    /// As a layer input on `device`.
    pub fn into_input(self, dim: usize, device: &Device) -> Result<Input> {
        Ok(match self {
            Rows::Dense(v, n) => Input::Dense(matrix(v, n, dim, device)),
            Rows::Sparse { offsets, indices, values } => Input::sparse(dim, offsets, indices, values)?,
        })
    }
}
