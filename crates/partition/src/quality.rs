//! How good an assignment is.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::adjacency::Adjacency;

/// Edge-cut, balance and replication of an assignment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// Partitions.
    pub parts: usize,
    /// Undirected edges whose ends are in different partitions.
    pub cut_edges: u64,
    /// `cut_edges` over all undirected edges (0 for a graph without edges).
    pub edge_cut: f64,
    /// Nodes per partition.
    pub sizes: Vec<u64>,
    /// Largest partition over the mean size (1 is perfect).
    pub balance: f64,
    /// Halo nodes of each partition: nodes it does not own with a neighbour
    /// it owns (what a server must fetch elsewhere or replicate).
    pub halo: Vec<u64>,
    /// `(nodes + Σ halo) / nodes`: copies of a node a 1-hop cache needs.
    pub replication: f64,
}

impl Quality {
    /// Measures `part` on `adj`.
    pub fn measure(adj: &Adjacency, part: &[u16], parts: usize) -> Quality {
        let n = adj.nodes();
        assert_eq!(part.len(), n, "one part per node");
        let (cut2, halo) = (0..n)
            .into_par_iter()
            .fold(
                || (0u64, vec![0u64; parts], Vec::<u16>::new()),
                |(mut cut, mut halo, mut seen), v| {
                    let own = part[v];
                    seen.clear();
                    for &u in adj.row(v) {
                        let p = part[u as usize];
                        if p != own {
                            cut += 1;
                            seen.push(p);
                        }
                    }
                    // `v` is a halo node of each other partition that owns a neighbour.
                    seen.sort_unstable();
                    seen.dedup();
                    for &p in &seen {
                        halo[p as usize] += 1;
                    }
                    (cut, halo, seen)
                },
            )
            .map(|(c, h, _)| (c, h))
            .reduce(
                || (0, vec![0; parts]),
                |(a, mut ha), (b, hb)| {
                    ha.iter_mut().zip(hb).for_each(|(x, y)| *x += y);
                    (a + b, ha)
                },
            );
        let mut sizes = vec![0u64; parts];
        for &p in part {
            sizes[p as usize] += 1;
        }
        let edges = adj.edges();
        let mean = n as f64 / parts as f64;
        Quality {
            parts,
            cut_edges: cut2 / 2,
            edge_cut: if edges == 0 { 0.0 } else { (cut2 / 2) as f64 / edges as f64 },
            balance: if n == 0 { 1.0 } else { *sizes.iter().max().unwrap_or(&0) as f64 / mean },
            replication: if n == 0 { 1.0 } else { (n as u64 + halo.iter().sum::<u64>()) as f64 / n as f64 },
            sizes,
            halo,
        }
    }
}
