//! How samplers reach the graph: a small capability trait over whole
//! batches, implemented here for the in-process [`Graph`] (RAM or
//! memory-mapped snapshot).

use ferrograph_graph::topology::Csr;
use ferrograph_graph::{Direction, EdgeTypeId, Graph, NodeTypeId};

use crate::rng::{SplitMix, derive};
use crate::{Error, Result};

/// An edge type walked in one direction, with its endpoint node types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Relation {
    /// The edge type.
    pub edge_type: EdgeTypeId,
    /// Along (`Out`) or against (`In`) its edges.
    pub direction: Direction,
    /// Type of the nodes expanded.
    pub from: NodeTypeId,
    /// Type of the neighbours returned.
    pub to: NodeTypeId,
}

impl Relation {
    /// Resolves a relation or reverse-relation name (`cites`, `rev_cites`).
    pub fn resolve(g: &Graph, name: &str) -> Result<Relation> {
        let schema = g.schema();
        let (edge_type, direction) = schema.relation(name)?;
        let e = &schema.edge_types[edge_type.0 as usize];
        let (src, dst) = (schema.node_type(&e.src)?, schema.node_type(&e.dst)?);
        let (from, to) = match direction {
            Direction::Out => (src, dst),
            Direction::In => (dst, src),
        };
        Ok(Relation {
            edge_type,
            direction,
            from,
            to,
        })
    }
}

/// How neighbours are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// `k` independent uniform draws (with replacement); none for isolated nodes.
    Random,
    /// `min(k, degree)` distinct neighbours, every subset equally likely.
    RandomWithoutReplacement,
    /// Every neighbour (`k` ignored).
    Full,
}

/// Neighbours sampled for a batch of nodes: node `i` of the request got
/// `neighbors[offsets[i]..offsets[i + 1]]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sampled {
    /// `request.len() + 1` offsets.
    pub offsets: Vec<u32>,
    /// Neighbour local indices (of the relation's `to` type).
    pub neighbors: Vec<u32>,
}

impl Sampled {
    /// Empties for reuse, keeping capacity.
    pub fn clear(&mut self) {
        self.offsets.clear();
        self.neighbors.clear();
    }
}

/// What a sampler needs from a graph, one batch at a time.
pub trait NeighborAccess: Sync {
    /// Number of nodes of a type.
    fn node_count(&self, t: NodeTypeId) -> usize;

    /// Samples up to `k` neighbours of every node of `nodes` along `rel`
    /// with `strategy`, appending to `out`. Draws for `nodes[i]` come from
    /// the stream `derive(seed, i)`, so the answer is the same wherever it is
    /// computed.
    fn sample_neighbors(
        &self,
        rel: Relation,
        nodes: &[u32],
        k: usize,
        strategy: Strategy,
        seed: u64,
        out: &mut Sampled,
    ) -> Result<()>;
}

impl NeighborAccess for Graph {
    fn node_count(&self, t: NodeTypeId) -> usize {
        Graph::node_count(self, t)
    }

    fn sample_neighbors(
        &self,
        rel: Relation,
        nodes: &[u32],
        k: usize,
        strategy: Strategy,
        seed: u64,
        out: &mut Sampled,
    ) -> Result<()> {
        let csr = self.topology(rel.edge_type, rel.direction);
        if out.offsets.is_empty() {
            out.offsets.push(out.neighbors.len() as u32);
        }
        let rows = csr.rows();
        if let Some(&bad) = nodes.iter().find(|&&u| u as usize >= rows) {
            return Err(Error::Invalid(format!("node {bad} is outside 0..{rows}")));
        }
        sample_csr(csr, nodes, k, strategy, seed, out);
        Ok(())
    }
}

/// How far ahead the row offsets are prefetched: a random row costs a DRAM
/// miss for its offsets and another for its neighbours; touching rows a few
/// nodes ahead lets those misses overlap.
const AHEAD: usize = 8;

#[inline]
fn touch<T>(s: &[T], i: usize) {
    #[cfg(target_arch = "x86_64")]
    if i < s.len() {
        // SAFETY: prefetching has no effect on memory; the address is in bounds.
        unsafe {
            std::arch::x86_64::_mm_prefetch(
                s.as_ptr().add(i) as *const i8,
                std::arch::x86_64::_MM_HINT_T0,
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (s, i);
}

fn sample_csr(
    csr: &Csr,
    nodes: &[u32],
    k: usize,
    strategy: Strategy,
    seed: u64,
    out: &mut Sampled,
) {
    let offsets = csr.offsets.as_slice();
    let targets = csr.targets.as_slice();
    let mut chosen: Vec<u32> = Vec::with_capacity(k);
    for (i, &u) in nodes.iter().enumerate() {
        if let Some(&ahead) = nodes.get(i + AHEAD) {
            touch(offsets, ahead as usize);
        }
        if let Some(&next) = nodes.get(i + AHEAD / 2) {
            touch(targets, offsets[next as usize] as usize);
        }
        let (lo, hi) = (
            offsets[u as usize] as usize,
            offsets[u as usize + 1] as usize,
        );
        let row = &targets[lo..hi];
        let d = row.len();
        match strategy {
            Strategy::Full => out.neighbors.extend_from_slice(row),
            _ if d == 0 => {}
            Strategy::RandomWithoutReplacement if d <= k => out.neighbors.extend_from_slice(row),
            Strategy::RandomWithoutReplacement => {
                // Floyd's algorithm: k distinct positions, every k-subset equally likely.
                let mut rng = SplitMix::new(derive(seed, i as u64));
                chosen.clear();
                for j in (d - k)..d {
                    let t = rng.below(j as u64 + 1) as u32;
                    let pick = if chosen.contains(&t) { j as u32 } else { t };
                    chosen.push(pick);
                }
                out.neighbors
                    .extend(chosen.iter().map(|&p| row[p as usize]));
            }
            Strategy::Random => {
                let mut rng = SplitMix::new(derive(seed, i as u64));
                out.neighbors
                    .extend((0..k).map(|_| row[rng.below(d as u64) as usize]));
            }
        }
        out.offsets.push(out.neighbors.len() as u32);
    }
}
