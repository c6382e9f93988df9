//! The partitioners.

use ferrograph_sample::rng::derive;

use crate::adjacency::Adjacency;
use crate::{Error, Result};

/// The most partitions a book holds (part ids are `u16`; far more than a
/// cluster of graph servers needs, and it bounds the work of a request).
pub const MAX_PARTS: usize = 4096;

/// How nodes are assigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// `derive(seed, node) mod N`: balanced in expectation, ignores edges.
    Hash,
    /// METIS 5 multilevel k-way, minimising the edge-cut at 3% imbalance.
    Metis,
    /// Fennel, streamed in breadth-first order and restreamed (with a fixed
    /// and a tempered balance weight, keeping the lower cut): each node to
    /// the partition that holds most of its neighbours less a size penalty.
    Fennel,
}

impl Method {
    /// Its name on the command line and in the book.
    pub fn name(self) -> &'static str {
        match self {
            Method::Hash => "hash",
            Method::Metis => "metis",
            Method::Fennel => "fennel",
        }
    }
}

/// Assigns each node of `adj` to one of `parts` partitions.
pub fn partition(adj: &Adjacency, parts: usize, method: Method, seed: u64) -> Result<Vec<u16>> {
    let n = adj.nodes();
    if parts == 0 || parts > MAX_PARTS {
        return Err(Error::Invalid(format!("--parts must be between 1 and {MAX_PARTS}, not {parts}")));
    }
    if parts > n.max(1) {
        return Err(Error::Invalid(format!("--parts {parts} is more than the graph's {n} nodes")));
    }
    if parts == 1 {
        return Ok(vec![0; n]);
    }
    match method {
        Method::Hash => Ok((0..n).map(|v| (derive(seed, v as u64) % parts as u64) as u16).collect()),
        Method::Metis => metis(adj, parts, seed),
        Method::Fennel => Ok(fennel(adj, parts)),
    }
}

fn metis(adj: &Adjacency, parts: usize, seed: u64) -> Result<Vec<u16>> {
    // METIS as vendored here uses 32-bit indices: the node count and every
    // row offset (twice the edge count at the end) must fit in an i32.
    let limit = i32::MAX as u64;
    if adj.nodes() as u64 > limit || adj.targets.len() as u64 > limit {
        return Err(Error::Invalid(format!(
            "METIS's 32-bit indices hold at most {limit} nodes and {limit} adjacency entries (twice the edges); this graph has {} nodes and {} entries: use --method fennel",
            adj.nodes(),
            adj.targets.len()
        )));
    }
    let xadj: Vec<metis::Idx> = adj.offsets.iter().map(|&o| o as metis::Idx).collect();
    let adjncy: Vec<metis::Idx> = adj.targets.iter().map(|&t| t as metis::Idx).collect();
    let mut part: Vec<metis::Idx> = vec![0; adj.nodes()];
    let g = metis::Graph::new(1, parts as metis::Idx, &xadj, &adjncy).map_err(|e| Error::Metis(format!("{e:?}")))?;
    g.set_option(metis::option::Seed((seed & 0x7fff_ffff) as metis::Idx)).part_kway(&mut part).map_err(|e| Error::Metis(format!("{e:?}")))?;
    Ok(part.into_iter().map(|p| p as u16).collect())
}

/// Passes of restreaming Fennel (Nishimura & Ugander 2013): the first
/// pass sees only the nodes placed before each one; later passes re-place
/// every node knowing where all its neighbours are.
const FENNEL_PASSES: usize = 8;

/// Fennel with γ = 1.5 and α = √N · m / n^1.5 (the paper's choice), and a
/// hard cap of 1.1 · n / N nodes per partition, streaming nodes in
/// breadth-first order (each node arrives after a neighbour, so the first
/// pass already sees neighbours), then restreamed. Two schedules run and
/// the one with the lower cut is kept: α fixed, and α tempered (Nishimura
/// & Ugander's restreaming with tempering: from α/100 up to α over the
/// passes, so communities form before balance is pressed). Neither wins
/// everywhere: on ego-Twitter at N = 8 the fixed one cuts 0.198 and the
/// tempered one 0.143 (METIS 0.125); at N = 4 it is the other way round
/// (0.090 against 0.144). State: the assignment and the order, O(n); cost
/// O(2 · passes · (m + n·N)).
fn fennel(adj: &Adjacency, parts: usize) -> Vec<u16> {
    let order = bfs_order(adj);
    let cut = |part: &[u16]| -> u64 { (0..adj.nodes()).map(|v| adj.row(v).iter().filter(|&&u| part[u as usize] != part[v]).count() as u64).sum() };
    let fixed = restream(adj, parts, &order, 1.0);
    let tempered = restream(adj, parts, &order, TEMPER_FROM);
    if cut(&tempered) < cut(&fixed) { tempered } else { fixed }
}

/// Where tempered restreaming starts, as a share of α.
const TEMPER_FROM: f64 = 0.01;

/// [`FENNEL_PASSES`] passes of Fennel over `order`, pass `k` with balance
/// weight α · (a0 + (1 − a0) · k / (passes − 1)).
fn restream(adj: &Adjacency, parts: usize, order: &[u32], a0: f64) -> Vec<u16> {
    let n = adj.nodes();
    let (nf, m) = (n as f64, adj.edges().max(1) as f64);
    let gamma = 1.5f64;
    let alpha = (parts as f64).sqrt() * m / nf.powf(1.5);
    let cap = ((1.1 * nf / parts as f64).ceil() as usize).max(1);
    let unassigned = u16::MAX;
    let mut part = vec![unassigned; n];
    let mut size = vec![0usize; parts];
    let mut count = vec![0u32; parts];
    let mut touched: Vec<usize> = Vec::with_capacity(parts);
    for pass in 0..FENNEL_PASSES {
        let alpha = alpha * (a0 + (1.0 - a0) * pass as f64 / (FENNEL_PASSES - 1) as f64);
        let mut moved = 0usize;
        for &v in order {
            let v = v as usize;
            let old = part[v];
            if old != unassigned {
                size[old as usize] -= 1;
            }
            for &u in adj.row(v) {
                let p = part[u as usize];
                if p != unassigned {
                    let p = p as usize;
                    if count[p] == 0 {
                        touched.push(p);
                    }
                    count[p] += 1;
                }
            }
            let mut best = (f64::NEG_INFINITY, usize::MAX, 0usize);
            for p in 0..parts {
                if size[p] >= cap {
                    continue;
                }
                let score = f64::from(count[p]) - alpha * gamma * (size[p] as f64).powf(gamma - 1.0);
                // Ties go to the smaller partition, then the lower id.
                if score > best.0 || (score == best.0 && size[p] < best.1) {
                    best = (score, size[p], p);
                }
            }
            part[v] = best.2 as u16;
            size[best.2] += 1;
            moved += usize::from(old != part[v]);
            for p in touched.drain(..) {
                count[p] = 0;
            }
        }
        // A pass that moved nothing is a fixed point only once α is final.
        if moved == 0 && (a0 == 1.0 || pass + 1 == FENNEL_PASSES) {
            break;
        }
    }
    part
}

/// Nodes in breadth-first order from node 0, then from each node not yet
/// reached, in id order.
fn bfs_order(adj: &Adjacency) -> Vec<u32> {
    let n = adj.nodes();
    let mut seen = vec![false; n];
    let mut order = Vec::with_capacity(n);
    for s in 0..n {
        if seen[s] {
            continue;
        }
        seen[s] = true;
        let mut head = order.len();
        order.push(s as u32);
        while head < order.len() {
            let v = order[head] as usize;
            head += 1;
            for &u in adj.row(v) {
                if !seen[u as usize] {
                    seen[u as usize] = true;
                    order.push(u);
                }
            }
        }
    }
    order
}
