//! The undirected simple graph every partitioner reads.

use ferrograph_graph::{Direction, EdgeTypeId, Graph, NodeTypeId};
use rayon::prelude::*;

use crate::{Error, Result};

/// All node types in one id space (type `t`'s node `i` is `base[t] + i`)
/// and every edge type's edges as undirected pairs, without self-loops or
/// repeats: row `v` is `targets[offsets[v]..offsets[v + 1]]`, sorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adjacency {
    /// First combined id of each node type, and the node count at the end.
    pub base: Vec<u64>,
    /// `nodes + 1` row offsets.
    pub offsets: Vec<u64>,
    /// Neighbours (combined ids).
    pub targets: Vec<u32>,
}

impl Adjacency {
    /// Nodes in all.
    pub fn nodes(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Undirected edges (each pair once).
    pub fn edges(&self) -> u64 {
        self.targets.len() as u64 / 2
    }

    /// Neighbours of `v`.
    pub fn row(&self, v: usize) -> &[u32] {
        &self.targets[self.offsets[v] as usize..self.offsets[v + 1] as usize]
    }

    /// From explicit pairs over `n` nodes (one node type); pairs may repeat,
    /// come in either direction or be self-loops.
    pub fn from_pairs(n: usize, pairs: &[(u32, u32)]) -> Result<Adjacency> {
        if let Some(&(a, b)) = pairs.iter().find(|&&(a, b)| a as usize >= n || b as usize >= n) {
            return Err(Error::Invalid(format!("pair ({a}, {b}) is outside the {n} nodes")));
        }
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); n];
        for &(a, b) in pairs {
            if a != b {
                rows[a as usize].push(b);
                rows[b as usize].push(a);
            }
        }
        Ok(Self::from_rows(vec![0, n as u64], rows))
    }

    /// The whole graph: every node type and every edge type.
    pub fn of_graph(g: &Graph) -> Result<Adjacency> {
        let schema = g.schema();
        let mut base = vec![0u64];
        for t in 0..schema.node_types.len() {
            base.push(base[t] + g.node_count(NodeTypeId(t as u16)) as u64);
        }
        let n = *base.last().unwrap_or(&0);
        if n > u64::from(u32::MAX) {
            return Err(Error::Invalid(format!("{n} nodes in all; partitioning holds at most 2^32 - 1")));
        }
        let n = n as usize;
        // Degrees first, then one fill: memory is the final arrays plus a
        // cursor per node, not a vector per node.
        let mut degree = vec![0u64; n + 1];
        // The passes below index by every stored neighbour.
        g.check_structure()?;
        let mut ends = Vec::new();
        for et in &schema.edge_types {
            ends.push((base[schema.node_type(&et.src)?.0 as usize] as usize, base[schema.node_type(&et.dst)?.0 as usize] as usize));
        }
        let each = |f: &mut dyn FnMut(usize, usize)| {
            for (e, et) in schema.edge_types.iter().enumerate() {
                let csr = g.topology(EdgeTypeId(e as u16), Direction::Out);
                let (bs, bd) = ends[e];
                let (off, tgt) = (csr.offsets.as_slice(), csr.targets.as_slice());
                for u in 0..off.len().saturating_sub(1) {
                    for &v in &tgt[off[u] as usize..off[u + 1] as usize] {
                        let (a, b) = (bs + u, bd + v as usize);
                        if a != b {
                            f(a, b);
                            if !et.undirected {
                                f(b, a);
                            }
                        }
                    }
                }
            }
        };
        each(&mut |a, _| degree[a + 1] += 1);
        for v in 0..n {
            degree[v + 1] += degree[v];
        }
        let total = degree[n];
        let mut targets = vec![0u32; total as usize];
        let mut cursor: Vec<u64> = degree[..n].to_vec();
        each(&mut |a, b| {
            targets[cursor[a] as usize] = b as u32;
            cursor[a] += 1;
        });
        drop(cursor);
        Ok(Self::dedup(base, degree, targets))
    }

    fn from_rows(base: Vec<u64>, rows: Vec<Vec<u32>>) -> Adjacency {
        let mut offsets = Vec::with_capacity(rows.len() + 1);
        offsets.push(0u64);
        let mut targets = Vec::new();
        for r in rows {
            targets.extend_from_slice(&r);
            offsets.push(targets.len() as u64);
        }
        Self::dedup(base, offsets, targets)
    }

    /// Sorts every row and drops repeats, compacting in place.
    fn dedup(base: Vec<u64>, offsets: Vec<u64>, mut targets: Vec<u32>) -> Adjacency {
        let n = offsets.len() - 1;
        let mut rows: Vec<&mut [u32]> = Vec::with_capacity(n);
        let mut rest = targets.as_mut_slice();
        for v in 0..n {
            let (row, tail) = rest.split_at_mut((offsets[v + 1] - offsets[v]) as usize);
            rows.push(row);
            rest = tail;
        }
        let kept: Vec<usize> = rows
            .into_par_iter()
            .map(|row| {
                row.sort_unstable();
                let mut k = 0;
                for i in 0..row.len() {
                    if i == 0 || row[i] != row[k - 1] {
                        row[k] = row[i];
                        k += 1;
                    }
                }
                k
            })
            .collect();
        let mut new_offsets = Vec::with_capacity(n + 1);
        new_offsets.push(0u64);
        let mut w = 0usize;
        for v in 0..n {
            let start = offsets[v] as usize;
            targets.copy_within(start..start + kept[v], w);
            w += kept[v];
            new_offsets.push(w as u64);
        }
        targets.truncate(w);
        targets.shrink_to_fit();
        Adjacency { base, offsets: new_offsets, targets }
    }
}
