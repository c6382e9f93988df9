//! Embeddings to disk: float32 NPY (`[nodes, dim]`, row = local index) and
//! Parquet (`id` with the external ids, `embedding`), each written
//! atomically and streamed (no copy of the table).

use std::path::Path;

use ferrograph_graph::idmap::ExternalId;
use ferrograph_graph::{Graph, LocalIdx, NodeTypeId};
use ferrograph_io::parquet_table::EmbeddingIds;

use crate::Result;

/// Writes `values` (`rows × dim`, row = local index of `node_type`) as
/// `STEM.npy` and `STEM.parquet` in `out`; returns the two file names.
pub fn write_embeddings(g: &Graph, node_type: NodeTypeId, values: &[f32], dim: usize, out: &Path, stem: &str) -> Result<Vec<String>> {
    let (npy, parquet) = (format!("{stem}.npy"), format!("{stem}.parquet"));
    write_embedding_files(g, node_type, values, dim, &out.join(&npy), &out.join(&parquet))?;
    Ok(vec![npy, parquet])
}

/// Writes `values` to `npy` (float32 `[rows, dim]`) and `parquet` (`id`,
/// `embedding`).
pub fn write_embedding_files(g: &Graph, node_type: NodeTypeId, values: &[f32], dim: usize, npy: &Path, parquet: &Path) -> Result<()> {
    let n = values.len() / dim.max(1);
    ferrograph_io::npy::write_npy_f32(npy, &[n, dim], values)?;
    let store_ids = g.checked_ids(node_type)?;
    let ids = match store_ids.kind() {
        ferrograph_graph::IdKind::String => EmbeddingIds::Str(
            (0..n)
                .map(|i| match store_ids.external(LocalIdx(i as u32)) {
                    ExternalId::Str(s) => s,
                    ExternalId::Int(v) => v.to_string(),
                })
                .collect(),
        ),
        _ => EmbeddingIds::Int(
            (0..n)
                .map(|i| match store_ids.external(LocalIdx(i as u32)) {
                    ExternalId::Int(v) => v,
                    ExternalId::Str(_) => i as i64,
                })
                .collect(),
        ),
    };
    ferrograph_io::parquet_table::write_embeddings(parquet, ids, dim, values)?;
    Ok(())
}
