//! Random walks: DeepWalk (uniform), node2vec (exact second-order
//! transition probabilities with return parameter `p` and in-out parameter
//! `q`), and metapath walks over a cycle of typed relations.

use rayon::prelude::*;

use crate::access::{NeighborAccess, Relation, Sampled, Strategy};
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
    /// so the result is identical for any thread count. Walks advance in
    /// chunks of 4,096, one step at a time: each step fetches the rows of all
    /// live walks of the chunk with one batched `NeighborAccess` request.
    pub fn walks<G: NeighborAccess + ?Sized>(&self, g: &G, starts: &[u32], seed: u64) -> Result<Vec<u32>> {
        const CHUNK: usize = 4096;
        let n0 = g.node_count(self.relations[0].from);
        if let Some(&s) = starts.iter().find(|&&s| s as usize >= n0) {
            return Err(Error::Invalid(format!("start node {s} is outside 0..{n0}")));
        }
        let len = self.length + 1;
        let mut out = vec![PAD; starts.len() * len];
        out.par_chunks_mut(CHUNK * len)
            .zip(starts.par_chunks(CHUNK))
            .enumerate()
            .try_for_each(|(c, (walks, starts))| self.walk_chunk(g, starts, c * CHUNK, seed, walks))?;
        Ok(out)
    }

    fn walk_chunk<G: NeighborAccess + ?Sized>(&self, g: &G, starts: &[u32], base: usize, seed: u64, out: &mut [u32]) -> Result<()> {
        let len = self.length + 1;
        let n = starts.len();
        let mut rngs: Vec<SplitMix> = (0..n).map(|i| SplitMix::new(derive(seed, (base + i) as u64))).collect();
        for (i, &s) in starts.iter().enumerate() {
            out[i * len] = s;
        }
        let mut alive: Vec<usize> = (0..n).collect();
        let (mut rows, mut prev_rows) = (Sampled::default(), Sampled::default());
        // For each walk, the index of its row in `prev_rows` (the previous node's row).
        let mut prev_index = vec![u32::MAX; n];
        let mut weights: Vec<f64> = Vec::new();
        for step in 1..len {
            let rel = self.relations[(step - 1) % self.relations.len()];
            let nodes: Vec<u32> = alive.iter().map(|&w| out[w * len + step - 1]).collect();
            rows.clear();
            g.sample_neighbors(rel, &nodes, 0, Strategy::Full, 0, &mut rows)?;
            let second_order = self.relations.len() == 1 && step >= 2 && (self.p != 1.0 || self.q != 1.0);
            let mut cur_index = vec![u32::MAX; n];
            let mut next_alive = Vec::with_capacity(alive.len());
            for (j, &w) in alive.iter().enumerate() {
                let row = &rows.neighbors[rows.offsets[j] as usize..rows.offsets[j + 1] as usize];
                if row.is_empty() {
                    continue;
                }
                let rng = &mut rngs[w];
                out[w * len + step] = if second_order {
                    let prev = out[w * len + step - 2];
                    let k = prev_index[w] as usize;
                    let prev_row = &prev_rows.neighbors[prev_rows.offsets[k] as usize..prev_rows.offsets[k + 1] as usize];
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
                    for (i, w) in weights.iter().enumerate() {
                        if r < *w {
                            pick = i;
                            break;
                        }
                        r -= w;
                    }
                    row[pick]
                } else {
                    row[rng.below(row.len() as u64) as usize]
                };
                cur_index[w] = j as u32;
                next_alive.push(w);
            }
            std::mem::swap(&mut rows, &mut prev_rows);
            prev_index = cur_index;
            alive = next_alive;
        }
        Ok(())
    }
}
