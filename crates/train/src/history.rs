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
