//! Random walks: DeepWalk (uniform), node2vec (exact second-order
//! transition probabilities with return parameter `p` and in-out parameter
//! `q`), and metapath walks over a cycle of typed relations.

use rayon::prelude::*;

use crate::access::{LocalGraph, Relation};
use crate::rng::{SplitMix, derive};
use crate::{Error, Result};

/// Marks the steps of a walk that stopped early (a node without neighbours).
pub const PAD: u32 = u32::MAX;

/// A random-walk sampler.
#[derive(Clone, Debug)]
pub struct Walker {
    relations: Vec<Relation>,
    length: usize,
    p: f64,
    q: f64,
}

impl Walker {
    /// node2vec walks of `length` steps along one relation; `p = q = 1` is DeepWalk.
    pub fn node2vec(relation: Relation, length: usize, p: f64, q: f64) -> Result<Self> {
        if !(p > 0.0 && q > 0.0 && p.is_finite() && q.is_finite()) {
            return Err(Error::Invalid(format!("node2vec needs p > 0 and q > 0 (got p = {p}, q = {q})")));
        }
        if relation.from != relation.to {
            return Err(Error::Invalid("node2vec walks one node type; use a metapath for typed walks".into()));
        }
        Ok(Walker { relations: vec![relation], length, p, q })
    }

    /// Uniform walks following `relations` in a cycle (e.g. paper→author,
    /// author→paper); consecutive relations must chain node types.
    pub fn metapath(relations: Vec<Relation>, length: usize) -> Result<Self> {
        let n = relations.len();
        if n == 0 {
            return Err(Error::Invalid("a metapath needs at least one relation".into()));
        }
        for i in 0..n {
            let (a, b) = (relations[i], relations[(i + 1) % n]);
            if a.to != b.from && (i + 1 < n || length > n) {
                return Err(Error::Invalid(format!(
                    "metapath step {} ends at a different node type than step {} starts from",
                    i + 1,
                    (i + 1) % n + 1
                )));
            }
        }
        Ok(Walker { relations, length, p: 1.0, q: 1.0 })
    }

    /// One walk per start, `length + 1` nodes each (the start first), padded
    /// with [`PAD`] after a dead end; walk `i` draws from `derive(seed, i)`,
    /// so the result is identical for any thread count.
    pub fn walks(&self, g: &LocalGraph<'_>, starts: &[u32], seed: u64) -> Result<Vec<u32>> {
        let n0 = g.graph().node_count(self.relations[0].from);
        if let Some(&s) = starts.iter().find(|&&s| s as usize >= n0) {
            return Err(Error::Invalid(format!("start node {s} is outside 0..{n0}")));
        }
        let len = self.length + 1;
        let mut out = vec![PAD; starts.len() * len];
        out.par_chunks_mut(len).zip(starts.par_iter()).enumerate().for_each(|(i, (walk, &s))| {
            let mut rng = SplitMix::new(derive(seed, i as u64));
            let mut weights: Vec<f64> = Vec::new();
            walk[0] = s;
            for step in 1..len {
                let rel = self.relations[(step - 1) % self.relations.len()];
                let csr = g.graph().topology(rel.edge_type, rel.direction);
                let cur = walk[step - 1] as usize;
                let row = csr.neighbors(cur);
                if row.is_empty() {
                    break;
                }
                let second_order = self.relations.len() == 1 && step >= 2 && (self.p != 1.0 || self.q != 1.0);
                walk[step] = if second_order {
                    let prev = walk[step - 2];
                    let prev_row = csr.neighbors(prev as usize);
                    weights.clear();
                    weights.extend(row.iter().map(|&x| {
                        if x == prev {
                            1.0 / self.p
                        } else if prev_row.binary_search(&x).is_ok() {
                            1.0
                        } else {
                            1.0 / self.q
                        }
                    }));
                    let total: f64 = weights.iter().sum();
                    let mut r = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
                    let mut pick = row.len() - 1;
                    for (j, w) in weights.iter().enumerate() {
                        if r < *w {
                            pick = j;
                            break;
                        }
                        r -= w;
                    }
                    row[pick]
                } else {
                    row[rng.below(row.len() as u64) as usize]
                };
            }
        });
        Ok(out)
    }
}
