//! Deterministic held-out edge splits for link prediction
//! (`ferrograph split-edges`).
//!
//! The edges of one type are shuffled with a seed; the first `test` share
//! becomes the test set, the next `val` share the validation set, and the
//! training graph is rebuilt from the rest only — its out- and in-CSRs (and
//! both directions of an undirected type) never hold a held-out edge, so no
//! sampler over it can reach one. Each held-out set comes with as many
//! sampled non-edges: uniform pairs that are not edges of the *original*
//! graph (in either direction for undirected types), not self-loops, and
//! distinct. Node stores are moved unchanged, so local indices (and
//! external ids) are the same in both graphs.

use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rustc_hash::FxHashSet;

use ferrograph_graph::topology::{BuildOptions, build_topology};
use ferrograph_graph::{EdgeStore, EdgeTypeId, Graph};

use crate::{Error, Result};

/// A training graph and the held-out edges, as `(src, dst)` local indices.
pub struct EdgeSplit {
    /// The graph without the held-out edges.
    pub graph: Graph,
    /// Validation edges.
    pub val: Vec<[u32; 2]>,
    /// Test edges.
    pub test: Vec<[u32; 2]>,
    /// Validation non-edges (as many as `val`).
    pub val_neg: Vec<[u32; 2]>,
    /// Test non-edges (as many as `test`).
    pub test_neg: Vec<[u32; 2]>,
}

fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::config("split-edges", field, message)
}

/// Splits edge type `e` of `g`; see the module docs.
pub fn split_edges(g: Graph, e: EdgeTypeId, val: f64, test: f64, seed: u64) -> Result<EdgeSplit> {
    if !(0.0..1.0).contains(&val) || !(0.0..1.0).contains(&test) || val + test >= 1.0 || val + test <= 0.0 {
        return Err(invalid("val/test", "fractions must be in [0, 1), not both 0, and sum to less than 1"));
    }
    let et = g.schema().edge_types.get(e.0 as usize).ok_or_else(|| invalid("edge type", format!("no edge type {}", e.0)))?.clone();
    // Every edge is read by index: a damaged file is named first.
    g.check_structure()?;
    let undirected = et.undirected;
    let (n_src, n_dst) = g.endpoint_counts(e);
    let store = g.edges(e);
    // Logical edges with their out-position (undirected: each pair once).
    let mut edges: Vec<(u32, u32, u32)> = Vec::with_capacity(store.out.len());
    for s in 0..store.out.rows() {
        let range = store.out.range(s);
        for (p, &d) in range.clone().zip(store.out.neighbors(s)) {
            if !undirected || s as u32 <= d {
                edges.push((s as u32, d, p as u32));
            }
        }
    }
    let m = edges.len();
    let n_test = (m as f64 * test).round() as usize;
    let n_val = (m as f64 * val).round() as usize;
    if n_test + n_val >= m {
        return Err(invalid("val/test", format!("{m} edges leave none for training")));
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    for i in (1..m).rev() {
        let j = rng.random_range(0..=i);
        edges.swap(i, j);
    }
    let pair = |x: &(u32, u32, u32)| [x.0, x.1];
    let test_pos: Vec<[u32; 2]> = edges[..n_test].iter().map(pair).collect();
    let val_pos: Vec<[u32; 2]> = edges[n_test..n_test + n_val].iter().map(pair).collect();
    let mut keep = edges[n_test + n_val..].to_vec();
    // Input order by out-position keeps the rebuilt rows in the original order.
    keep.sort_unstable_by_key(|x| x.2);
    // Non-edges, checked against the original graph.
    let exists = |s: u32, d: u32| store.out.contains(s as usize, d) || (undirected && store.out.contains(d as usize, s));
    let mut seen: FxHashSet<(u32, u32)> = FxHashSet::default();
    let mut draw = |count: usize, rng: &mut Xoshiro256PlusPlus| -> Result<Vec<[u32; 2]>> {
        let mut out = Vec::with_capacity(count);
        let mut tries = 0usize;
        while out.len() < count {
            tries += 1;
            if tries > 100 * count + 1000 {
                return Err(invalid("negatives", format!("found only {} of {count} non-edges: the graph is too dense", out.len())));
            }
            let (s, d) = (rng.random_range(0..n_src as u32), rng.random_range(0..n_dst as u32));
            let key = if undirected { (s.min(d), s.max(d)) } else { (s, d) };
            if (n_src == n_dst && s == d) || exists(s, d) || !seen.insert(key) {
                continue;
            }
            out.push([s, d]);
        }
        Ok(out)
    };
    let test_neg = draw(n_test, &mut rng)?;
    let val_neg = draw(n_val, &mut rng)?;
    let with_columns = !store.columns.is_empty();
    let src: Vec<u32> = keep.iter().map(|x| x.0).collect();
    let dst: Vec<u32> = keep.iter().map(|x| x.1).collect();
    let built = build_topology(n_src, n_dst, src, dst, BuildOptions { undirected, dedup: false, edge_ids: with_columns })
        .map_err(|err| invalid("rebuild", err.to_string()))?;
    let columns = match &built.input_edge {
        Some(order) => {
            let positions: Vec<u32> = order.iter().map(|&i| keep[i as usize].2).collect();
            store.columns.iter().map(|c| c.permute(&positions)).collect()
        }
        None => Vec::new(),
    };
    let new_store = EdgeStore { out: built.out, inn: built.inn, columns, self_loops: built.self_loops };
    let (schema, nodes, mut stores) = g.into_parts();
    stores[e.0 as usize] = new_store;
    let graph = Graph::from_parts(schema, nodes, stores).map_err(|err| invalid("rebuild", err.to_string()))?;
    Ok(EdgeSplit { graph, val: val_pos, test: test_pos, val_neg, test_neg })
}
