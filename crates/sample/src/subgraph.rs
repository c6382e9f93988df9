//! The k-hop induced subgraph of a seed set: every node within `hops` steps
//! (all neighbours, no sampling) and every edge of the relation among them.

use crate::access::{LocalGraph, Relation};
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
/// `rel` (which must stay within one node type).
pub fn induced_subgraph(g: &LocalGraph<'_>, rel: Relation, seeds: &[u32], hops: usize) -> Result<Subgraph> {
    if rel.from != rel.to {
        return Err(Error::Invalid("an induced subgraph needs a relation within one node type".into()));
    }
    let csr = g.graph().topology(rel.edge_type, rel.direction);
    let n = csr.rows();
    if let Some(&bad) = seeds.iter().find(|&&s| s as usize >= n) {
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
    let mut frontier = 0..nodes.len();
    for _ in 0..hops {
        let end = nodes.len();
        for i in frontier.clone() {
            for &v in csr.neighbors(nodes[i] as usize) {
                index.entry(v).or_insert_with(|| {
                    nodes.push(v);
                    (nodes.len() - 1) as u32
                });
            }
        }
        frontier = end..nodes.len();
    }
    let mut sub = Subgraph { nodes, ..Default::default() };
    for (i, &u) in sub.nodes.iter().enumerate() {
        for &v in csr.neighbors(u as usize) {
            if let Some(&j) = index.get(&v) {
                sub.src.push(i as u32);
                sub.dst.push(j);
            }
        }
    }
    Ok(sub)
}
