//! AliGraph's importance cache: the rows of the nodes a sampler reaches
//! most often for their size, held in process so that a remote graph
//! answers hops that reach them without a request.
//!
//! The importance of a node `v` for a relation is (AliGraph, k = 1)
//! `Imp(v) = D_against(v) / D_along(v)`: how many rows of the relation hold
//! `v` (so how often a hop reaches it) over the length of its own row (what
//! caching it costs). A node with an empty row but reachable has infinite
//! importance: caching it costs nothing and saves a request. [`choose`]
//! ranks nodes by importance, keeps those at or above `tau`, up to a node
//! budget; [`RowCache`] holds their rows as a small CSR and samples them
//! with the very kernel [`crate::LocalGraph`] uses, so a cached node's draws
//! equal the server's bit for bit.
//!
//! Only strategies that read nothing but the row (`random`,
//! `random_without_replacement`, `full`) are answered from the cache; the
//! others need per-edge tables (weights, times, degrees) and go to the
//! servers.

use ferrograph_graph::topology::Csr;

use crate::access::{Relation, Sampled, Strategy, Tables, sample_csr};
use crate::{Error, Result};

/// The nodes worth caching for a relation, most important first (ties:
/// smaller id first): importance `against[v] / along[v]` at least `tau`
/// (nodes reached by no row are never chosen). A cache of `b` nodes holds
/// the first `b`. `along` and `against` are the degrees of every node of
/// the relation's type along the relation and against it.
pub fn choose(along: &[u64], against: &[u64], tau: f64) -> Result<Vec<u32>> {
    if along.len() != against.len() {
        return Err(Error::Invalid(format!("{} degrees along the relation, {} against it", along.len(), against.len())));
    }
    if !(tau.is_finite() && tau >= 0.0) {
        return Err(Error::Invalid(format!("the importance threshold tau must be a finite number >= 0, not {tau}")));
    }
    let imp = |v: usize| if along[v] == 0 { f64::INFINITY } else { against[v] as f64 / along[v] as f64 };
    let mut nodes: Vec<u32> = (0..along.len() as u32).filter(|&v| against[v as usize] > 0 && imp(v as usize) >= tau).collect();
    nodes.sort_unstable_by(|&a, &b| imp(b as usize).total_cmp(&imp(a as usize)).then(a.cmp(&b)));
    Ok(nodes)
}

/// Cached rows of one relation (see the module docs).
pub struct RowCache {
    relation: Relation,
    /// Per node of the relation's type: its row in `rows`, or `u32::MAX`.
    slot: Vec<u32>,
    rows: Csr,
}

impl std::fmt::Debug for RowCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowCache").field("relation", &self.relation).field("nodes", &self.nodes()).field("bytes", &self.bytes()).finish()
    }
}

const NONE: u32 = u32::MAX;

impl RowCache {
    /// A cache of `nodes` (distinct, of the `n` nodes of the relation's
    /// type) whose `Full` rows along `relation` are `rows` (as a `Full`
    /// request for `nodes` returns them).
    pub fn new(relation: Relation, n: usize, nodes: &[u32], rows: Sampled) -> Result<RowCache> {
        if rows.offsets.len() != nodes.len() + 1 || rows.offsets.last().map(|&l| l as usize) != Some(rows.neighbors.len()) {
            return Err(Error::Invalid(format!("{} row offsets for {} cached nodes", rows.offsets.len(), nodes.len())));
        }
        if rows.offsets.first() != Some(&0) || rows.offsets.windows(2).any(|w| w[0] > w[1]) {
            return Err(Error::Invalid("cached row offsets must start at 0 and never decrease".into()));
        }
        let mut slot = vec![NONE; n];
        for (i, &v) in nodes.iter().enumerate() {
            match slot.get_mut(v as usize) {
                Some(s) if *s == NONE => *s = i as u32,
                Some(_) => return Err(Error::Invalid(format!("node {v} is cached twice"))),
                None => return Err(Error::Invalid(format!("cached node {v} is outside 0..{n}"))),
            }
        }
        let offsets: Vec<u64> = rows.offsets.iter().map(|&o| u64::from(o)).collect();
        Ok(RowCache { relation, slot, rows: Csr { offsets: offsets.into(), targets: rows.neighbors.into(), edge: None } })
    }

    /// The relation cached.
    pub fn relation(&self) -> Relation {
        self.relation
    }

    /// Whether `strategy` can be answered from cached rows.
    pub fn serves(strategy: Strategy) -> bool {
        matches!(strategy, Strategy::Random | Strategy::RandomWithoutReplacement | Strategy::Full)
    }

    /// The cache row of `v`, if cached.
    pub fn slot(&self, v: u32) -> Option<u32> {
        self.slot.get(v as usize).copied().filter(|&s| s != NONE)
    }

    /// Nodes cached.
    pub fn nodes(&self) -> usize {
        self.rows.rows()
    }

    /// Neighbour ids held.
    pub fn entries(&self) -> usize {
        self.rows.len()
    }

    /// Memory held: the node → row index, the row offsets and the rows.
    pub fn bytes(&self) -> usize {
        self.slot.len() * 4 + self.rows.offsets.len() * 8 + self.rows.len() * 4
    }

    /// Samples the cached rows `slots` (from [`RowCache::slot`]) as
    /// [`crate::LocalGraph::sample_streams`] samples the nodes they cache,
    /// with the draws of `slots[i]` from `derive(seed, streams[i])`.
    pub fn sample(&self, slots: &[u32], streams: &[u64], k: usize, strategy: Strategy, seed: u64, out: &mut Sampled) -> Result<()> {
        if !Self::serves(strategy) {
            return Err(Error::Invalid(format!("the importance cache does not answer {strategy:?} (it needs per-edge tables)")));
        }
        if slots.len() != streams.len() {
            return Err(Error::Invalid(format!("{} stream indices for {} cached rows", streams.len(), slots.len())));
        }
        crate::access::check_nodes(&self.rows, slots)?;
        if out.offsets.is_empty() {
            out.offsets.push(out.neighbors.len() as u32);
        }
        sample_csr(&self.rows, slots, Some(streams), k, strategy, Tables::None, seed, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LocalGraph, NeighborAccess};
    use ferrograph_graph::{Direction, EdgeTypeId, NodeTypeId};

    fn ring(n: u32) -> ferrograph_graph::Graph {
        // Node v links to v+1 and v+2, node 0 also to every tenth node: rows
        // of different lengths and in-degrees.
        let mut edges = Vec::new();
        for v in 0..n {
            edges.extend([(v, (v + 1) % n), (v, (v + 2) % n)]);
            if v % 10 == 5 {
                edges.push((0, v));
            }
        }
        crate::neighbor::tests::graph(n as usize, &edges)
    }

    #[test]
    fn cached_rows_sample_as_the_graph_does() {
        let g = ring(200);
        let lg = LocalGraph::new(&g);
        let rel = Relation { edge_type: EdgeTypeId(0), direction: Direction::Out, from: NodeTypeId(0), to: NodeTypeId(0) };
        let back = Relation { direction: Direction::In, ..rel };
        let all: Vec<u32> = (0..200).collect();
        let (mut along, mut against) = (Vec::new(), Vec::new());
        lg.degrees(rel, &all, &mut along).unwrap();
        lg.degrees(back, &all, &mut against).unwrap();
        let ranked = choose(&along, &against, 0.2).unwrap();
        let chosen = &ranked[..60];
        // Node 0 (row of 21) is the least important; the tenth nodes (in-degree 3) the most.
        assert!(!chosen.contains(&0) && chosen.contains(&5) && chosen.contains(&15));
        let mut rows = Sampled::default();
        lg.sample_neighbors(rel, chosen, 0, Strategy::Full, 0, &mut rows).unwrap();
        let cache = RowCache::new(rel, 200, chosen, rows).unwrap();
        assert_eq!(cache.nodes(), 60);
        let batch: Vec<u32> = chosen.iter().rev().copied().collect();
        let streams: Vec<u64> = (0..batch.len() as u64).map(|i| i * 7 + 3).collect();
        let slots: Vec<u32> = batch.iter().map(|&v| cache.slot(v).unwrap()).collect();
        for strategy in [Strategy::Random, Strategy::RandomWithoutReplacement, Strategy::Full] {
            let (mut a, mut b) = (Sampled::default(), Sampled::default());
            lg.sample_streams(rel, &batch, Some(&streams), 1, strategy, 42, &mut a).unwrap();
            cache.sample(&slots, &streams, 1, strategy, 42, &mut b).unwrap();
            assert_eq!(a, b, "{strategy:?}");
        }
        assert!(cache.sample(&slots, &streams, 1, Strategy::TopK, 42, &mut Sampled::default()).is_err());
        assert_eq!(cache.slot(0), None);
        assert!(choose(&along, &against, f64::NAN).is_err());
        assert!(RowCache::new(rel, 200, &[1, 1], Sampled { offsets: vec![0, 0, 0], neighbors: vec![] }).is_err());
    }
}
