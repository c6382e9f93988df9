//! The k-hop induced subgraph of a seed set: every node within `hops` steps
//! (all neighbours, no sampling) and every edge of the relation among them.

use crate::access::{NeighborAccess, Relation, Sampled, Strategy};
use crate::{Error, Result};

/// A subgraph re-indexed to `0..nodes.len()`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subgraph {
    /// Member nodes: seeds first (duplicates merged), then by discovery.
    pub nodes: Vec<u32>,
    /// Edge sources, as indices into `nodes`.
    pub src: Vec<u32>,
    /// Edge destinations, as indices into `nodes`.
    pub dst: Vec<u32>,
}

/// The induced subgraph of `seeds` and their `hops`-hop neighbourhood along
/// `rel` (which must stay within one node type). Rows are fetched level by
/// level with one batched `NeighborAccess` request each (`hops + 1` in all).
pub fn induced_subgraph<G: NeighborAccess + ?Sized>(g: &G, rel: Relation, seeds: &[u32], hops: usize) -> Result<Subgraph> {
    subgraph(g, rel, seeds, hops, None)
}

/// [`induced_subgraph`] that stops with [`Error::TooLarge`] as soon as its
/// nodes, or the neighbour ids its levels fetch (which bound its edges), would
/// pass `max_size`. Each level first asks for its nodes' degrees (one
/// [`NeighborAccess::degrees`] request), so a level that would pass the bound
/// is never fetched: memory stays within `max_size` ids.
pub fn induced_subgraph_bounded<G: NeighborAccess + ?Sized>(g: &G, rel: Relation, seeds: &[u32], hops: usize, max_size: u64) -> Result<Subgraph> {
    subgraph(g, rel, seeds, hops, Some(max_size))
}

fn subgraph<G: NeighborAccess + ?Sized>(g: &G, rel: Relation, seeds: &[u32], hops: usize, max_size: Option<u64>) -> Result<Subgraph> {
    if rel.from != rel.to {
        return Err(Error::Invalid("an induced subgraph needs a relation within one node type".into()));
    }
    let n = g.node_count(rel.from);
    if let Some(bad) = crate::access::first_outside(seeds, n) {
        return Err(Error::Invalid(format!("seed node {bad} is outside 0..{n}")));
    }
    let mut index: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
    let mut nodes = Vec::new();
    for &s in seeds {
        index.entry(s).or_insert_with(|| {
            nodes.push(s);
            (nodes.len() - 1) as u32
        });
    }
    // rows[i]: the neighbours of nodes[i], filled level by level.
    let mut rows: Vec<Vec<u32>> = Vec::new();
    let mut fetched = Sampled::default();
    let mut level = 0..nodes.len();
    let mut degrees = Vec::new();
    let mut total_fetched = 0u64;
    let too_large = |what: String, limit| Error::TooLarge { what, limit };
    for depth in 0..=hops {
        if let Some(max) = max_size {
            if nodes.len() as u64 > max {
                return Err(too_large(format!("the subgraph's {} nodes after {depth} hops", nodes.len()), max));
            }
            degrees.clear();
            g.degrees(rel, &nodes[level.clone()], &mut degrees)?;
            let level_ids = degrees.iter().fold(0u64, |a, &d| a.saturating_add(d));
            total_fetched = total_fetched.saturating_add(level_ids);
            if total_fetched > max {
                return Err(too_large(format!("the rows of the subgraph's nodes within {depth} hops ({total_fetched} neighbour ids)"), max));
            }
        }
        fetched.clear();
        g.sample_neighbors(rel, &nodes[level.clone()], 0, Strategy::Full, 0, &mut fetched)?;
        let end = nodes.len();
        for j in 0..level.len() {
            let row = fetched.neighbors[fetched.offsets[j] as usize..fetched.offsets[j + 1] as usize].to_vec();
            if depth < hops {
                for &v in &row {
                    index.entry(v).or_insert_with(|| {
                        nodes.push(v);
                        (nodes.len() - 1) as u32
                    });
                }
            }
            rows.push(row);
        }
        level = end..nodes.len();
        if level.is_empty() {
            break;
        }
    }
    let mut sub = Subgraph { nodes, ..Default::default() };
    for (i, row) in rows.iter().enumerate() {
        for &v in row {
            if let Some(&j) = index.get(&v) {
                sub.src.push(i as u32);
                sub.dst.push(j);
            }
        }
    }
    Ok(sub)
}
