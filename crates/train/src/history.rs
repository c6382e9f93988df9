//! AliGraph-style reuse of intermediate outputs *across* batches: a
//! bounded cache of each node's last-layer input (the first layer's
//! activated output in a two-layer model), written after every step and
//! read when later batches sample the node again at hop 1. A node served
//! from the cache is not expanded at hop 2 and not recomputed at layer 1:
//! its cached row enters the last layer as a constant (no gradient flows
//! through it, as in historical-embedding methods such as GNNAutoScale).
//!
//! **Staleness bound**: a row is used only if it was computed at most
//! `staleness` optimiser steps before the batch was prepared; with a
//! prefetching loader the batch is consumed up to `prefetch` steps later,
//! so a row used at step `t` was computed at step `t - staleness - prefetch`
//! or later. `staleness = 0` never serves a row (exact training).
//!
//! Memory: `capacity × width × 4` bytes plus 4 bytes per node; rows are
//! evicted in insertion order (a ring).

use std::sync::RwLock;

use ferrograph_nn::Hop;
use ferrograph_nn::batch::Degree;
use ferrograph_nn::ops::Adj;
use std::sync::atomic::{AtomicU64, Ordering};

/// The cache; shared between the loader threads (readers) and the step
/// loop (the writer).
pub struct History {
    inner: RwLock<Inner>,
    staleness: u64,
    step: AtomicU64,
    dim: usize,
}

struct Inner {
    slot_of: Vec<u32>,
    node_of: Vec<u32>,
    stamp: Vec<u64>,
    rows: Vec<f32>,
    next: usize,
}

/// Counts of one batch's lookups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hits {
    /// Rows served from the cache.
    pub hits: usize,
    /// Rows looked up.
    pub lookups: usize,
}

impl History {
    /// A cache for `nodes` nodes holding up to `capacity` rows of `dim`.
    pub fn new(nodes: usize, capacity: usize, dim: usize, staleness: u64) -> History {
        let capacity = capacity.max(1);
        History {
            inner: RwLock::new(Inner {
                slot_of: vec![u32::MAX; nodes],
                node_of: vec![u32::MAX; capacity],
                stamp: vec![0; capacity],
                rows: vec![0.0; capacity * dim],
                next: 0,
            }),
            staleness,
            step: AtomicU64::new(0),
            dim,
        }
    }

    /// Row width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Steps stored so far.
    pub fn now(&self) -> u64 {
        self.step.load(Ordering::Acquire)
    }

    /// Runs `f` with a lookup function: `lookup(node, out)` appends the
    /// node's row to `out` and returns true if a fresh row exists.
    pub fn with_reader<R>(&self, f: impl FnOnce(&mut dyn FnMut(u32, &mut Vec<f32>) -> bool) -> R) -> R {
        let now = self.now();
        let g = self.inner.read().expect("history lock");
        let mut lookup = |v: u32, out: &mut Vec<f32>| {
            if self.staleness == 0 {
                return false;
            }
            let s = g.slot_of[v as usize];
            if s == u32::MAX || g.node_of[s as usize] != v || now.saturating_sub(g.stamp[s as usize]) > self.staleness {
                return false;
            }
            out.extend_from_slice(&g.rows[s as usize * self.dim..][..self.dim]);
            true
        };
        f(&mut lookup)
    }

    /// Stores the rows of `nodes` (row-major `values`) computed at the
    /// current step, then advances the step.
    pub fn store(&self, nodes: &[u32], values: &[f32]) {
        assert_eq!(values.len(), nodes.len() * self.dim);
        let now = self.now();
        if self.staleness > 0 {
            let mut g = self.inner.write().expect("history lock");
            let cap = g.node_of.len();
            for (i, &v) in nodes.iter().enumerate() {
                let mut s = g.slot_of[v as usize];
                if s == u32::MAX || g.node_of[s as usize] != v {
                    s = g.next as u32;
                    g.next = (g.next + 1) % cap;
                    let old = g.node_of[s as usize];
                    if old != u32::MAX && g.slot_of[old as usize] == s {
                        g.slot_of[old as usize] = u32::MAX;
                    }
                    g.node_of[s as usize] = v;
                    g.slot_of[v as usize] = s;
                }
                g.stamp[s as usize] = now;
                let d = self.dim;
                g.rows[s as usize * d..][..d].copy_from_slice(&values[i * d..][..d]);
            }
        }
        self.step.store(now + 1, Ordering::Release);
    }
}

/// A two-hop sample in which hop-1 nodes with a fresh cached row were not
/// expanded at hop 2. Nodes are ordered seeds, computed hop-1 nodes, cached
/// hop-1 nodes, hop-2 nodes, so both blocks stay prefixes.
pub struct HistorySample {
    /// The re-ordered sample.
    pub out: ferrograph_sample::SamplerOutput,
    /// Rows the first layer computes (seeds and uncached hop-1 nodes).
    pub computed: usize,
    /// Cached rows of the remaining hop-1 nodes, in node order.
    pub cached: Vec<f32>,
    /// Lookups and hits.
    pub hits: Hits,
}

/// Samples two hops for `seeds`, serving hop-1 nodes from `history` where
/// it holds a fresh row (see [`crate::history`]).
pub fn sample_with_history<G: ferrograph_sample::NeighborAccess + ?Sized>(
    sampler: &ferrograph_sample::NeighborSampler,
    g: &G,
    seeds: &[u32],
    seed: u64,
    history: &History,
) -> ferrograph_sample::Result<HistorySample> {
    let mut cached = Vec::new();
    let mut cached_pos: Vec<u32> = Vec::new();
    let mut lookups = 0;
    let mut out = history.with_reader(|lookup| {
        sampler.sample_with(g, seeds, seed, &mut |h, pos, v| {
            if h != 1 {
                return true;
            }
            lookups += 1;
            if lookup(v, &mut cached) {
                cached_pos.push(pos);
                false
            } else {
                true
            }
        })
    })?;
    assert_eq!(out.num_sampled_nodes.len(), 3, "history caching needs exactly two hops");
    let (n0, n1) = (out.num_sampled_nodes[0], out.num_sampled_nodes[1]);
    let computed = n0 + n1 - cached_pos.len();
    if !cached_pos.is_empty() {
        // perm[old] = new within the hop-1 range.
        let mut perm: Vec<u32> = (0..(n0 + n1) as u32).collect();
        let mut is_cached = vec![false; n1];
        for &p in &cached_pos {
            is_cached[p as usize - n0] = true;
        }
        let mut next = n0 as u32;
        for i in n0..n0 + n1 {
            if !is_cached[i - n0] {
                perm[i] = next;
                next += 1;
            }
        }
        for &p in &cached_pos {
            perm[p as usize] = next;
            next += 1;
        }
        let map = |x: &mut u32| {
            if (*x as usize) < n0 + n1 {
                *x = perm[*x as usize];
            }
        };
        out.row.iter_mut().for_each(map);
        out.col.iter_mut().for_each(map);
        let old: Vec<u32> = out.node[n0..n0 + n1].to_vec();
        for (i, v) in old.into_iter().enumerate() {
            out.node[perm[n0 + i] as usize] = v;
        }
    }
    let hits = Hits { hits: cached_pos.len(), lookups };
    Ok(HistorySample { out, computed, cached, hits })
}

/// The two blocks of a [`HistorySample`]: the first layer maps all nodes to
/// the `computed` rows, the second the seeds and every hop-1 node (computed,
/// then cached) to the seeds.
pub fn history_blocks(s: &HistorySample, degree: Option<Degree<'_>>) -> Vec<Hop> {
    let o = &s.out;
    let (n0, n1) = (o.num_sampled_nodes[0], o.num_sampled_nodes[1]);
    let total = o.node.len();
    let degrees = |n_dst: usize, n_src: usize| {
        degree.map(|d| (o.node[..n_dst].iter().map(|&v| d(v)).collect(), o.node[..n_src].iter().map(|&v| d(v)).collect()))
    };
    let first = Adj::from_edges(s.computed, total, &o.col, &o.row, None);
    let m = o.num_sampled_edges[0];
    let second = Adj::from_edges(n0, n0 + n1, &o.col[..m], &o.row[..m], None);
    vec![Hop::sparse(first, degrees(s.computed, total)), Hop::sparse(second, degrees(n0, n0 + n1))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_expire_after_the_staleness_bound_and_ring_evicts() {
        let h = History::new(10, 2, 2, 2);
        h.store(&[3], &[1.0, 2.0]); // step 0
        let get = |v| {
            let mut out = Vec::new();
            h.with_reader(|f| f(v, &mut out)).then_some(out)
        };
        assert_eq!(get(3), Some(vec![1.0, 2.0]));
        assert_eq!(get(4), None);
        h.store(&[4], &[5.0, 6.0]); // step 1
        assert_eq!(get(3), Some(vec![1.0, 2.0]), "age 2 is within the bound");
        h.store(&[], &[]); // step 2
        assert_eq!(get(3), None, "age 3 is past the bound");
        assert_eq!(get(4), Some(vec![5.0, 6.0]));
        // The ring: a third row evicts the oldest.
        let r = History::new(10, 2, 1, 100);
        r.store(&[1, 2], &[1.0, 2.0]);
        r.store(&[3], &[3.0]);
        let mut out = Vec::new();
        assert!(!r.with_reader(|f| f(1, &mut out)));
        assert!(r.with_reader(|f| f(2, &mut out) && f(3, &mut out)));
        assert_eq!(out, vec![2.0, 3.0]);
        let z = History::new(10, 4, 2, 0);
        z.store(&[1], &[1.0, 1.0]);
        let mut out = Vec::new();
        assert!(!z.with_reader(|f| f(1, &mut out)), "staleness 0 never serves");
    }
}
