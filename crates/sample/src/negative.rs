//! Negative sampling: destination nodes that are (probably, or with
//! `strict`, certainly) not neighbours of a source, for link prediction.

use ferrograph_graph::Direction;

use crate::access::{LocalGraph, Relation};
use crate::rng::{SplitMix, derive};
use crate::{Error, Result};

/// Which nodes negatives are drawn from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NegativeStrategy {
    /// Uniform over the destination type.
    Random,
    /// Proportional to in-degree^0.75 along the relation (word2vec's unigram^0.75).
    InDegree,
}

/// Walker's alias table: O(1) draws from a fixed discrete distribution.
#[derive(Clone, Debug)]
pub struct AliasTable {
    prob: Vec<f64>,
    alias: Vec<u32>,
}

impl AliasTable {
    /// From non-negative weights with a positive sum (Vose's construction).
    pub fn new(weights: &[f64]) -> Result<Self> {
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        if n == 0
            || total.is_nan()
            || total <= 0.0
            || weights.iter().any(|w| !(w.is_finite() && *w >= 0.0))
        {
            return Err(Error::Invalid(
                "an alias table needs non-negative weights with a positive sum".into(),
            ));
        }
        let mut prob: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut alias = vec![0u32; n];
        let (mut small, mut large): (Vec<u32>, Vec<u32>) =
            (0..n as u32).partition(|&i| prob[i as usize] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            alias[s as usize] = l;
            prob[l as usize] -= 1.0 - prob[s as usize];
            if prob[l as usize] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        for i in small.into_iter().chain(large) {
            prob[i as usize] = 1.0;
        }
        Ok(AliasTable { prob, alias })
    }

    /// One draw.
    #[inline]
    pub fn sample(&self, rng: &mut SplitMix) -> u32 {
        let i = rng.below(self.prob.len() as u64) as usize;
        let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        if u < self.prob[i] {
            i as u32
        } else {
            self.alias[i]
        }
    }
}

/// Draws `k` negatives per source node.
pub struct NegativeSampler<'g> {
    graph: &'g LocalGraph<'g>,
    relation: Relation,
    strict: bool,
    table: Option<AliasTable>,
    n_dst: usize,
}

/// How many re-draws a strict negative may take before giving up.
const STRICT_TRIES: usize = 1000;

impl<'g> NegativeSampler<'g> {
    /// A sampler of destinations of `relation`; with `strict`, a candidate
    /// that is a true neighbour of its source is drawn again.
    pub fn new(
        graph: &'g LocalGraph<'g>,
        relation: Relation,
        strategy: NegativeStrategy,
        strict: bool,
    ) -> Result<Self> {
        let g = graph.graph();
        let n_dst = g.node_count(relation.to);
        if n_dst == 0 {
            return Err(Error::Invalid("the destination type has no nodes".into()));
        }
        let table = match strategy {
            NegativeStrategy::Random => None,
            NegativeStrategy::InDegree => {
                // In-degree of destinations along the relation = row lengths of the reverse walk.
                let back = match relation.direction {
                    Direction::Out => Direction::In,
                    Direction::In => Direction::Out,
                };
                let csr = g.topology(relation.edge_type, back);
                let w: Vec<f64> = (0..n_dst)
                    .map(|v| (csr.degree(v) as f64).powf(0.75))
                    .collect();
                Some(AliasTable::new(&w).map_err(|_| {
                    Error::Invalid("in_degree negatives need at least one edge".into())
                })?)
            }
        };
        Ok(NegativeSampler {
            graph,
            relation,
            strict,
            table,
            n_dst,
        })
    }

    /// `k` negatives for each of `sources`, row-major (`sources.len() * k`).
    /// Draws for `sources[i]` come from `derive(seed, i)`.
    pub fn sample(&self, sources: &[u32], k: usize, seed: u64) -> Result<Vec<u32>> {
        let g = self.graph.graph();
        let csr = g.topology(self.relation.edge_type, self.relation.direction);
        let mut out = Vec::with_capacity(sources.len() * k);
        for (i, &s) in sources.iter().enumerate() {
            if s as usize >= csr.rows() {
                return Err(Error::Invalid(format!(
                    "source node {s} is outside 0..{}",
                    csr.rows()
                )));
            }
            let mut rng = SplitMix::new(derive(seed, i as u64));
            let row = csr.neighbors(s as usize);
            for _ in 0..k {
                let mut tries = 0;
                let v = loop {
                    let v = match &self.table {
                        Some(t) => t.sample(&mut rng),
                        None => rng.below(self.n_dst as u64) as u32,
                    };
                    if !self.strict || row.binary_search(&v).is_err() {
                        break v;
                    }
                    tries += 1;
                    if tries == STRICT_TRIES {
                        return Err(Error::Invalid(format!(
                            "source node {s} is linked to nearly every candidate; no strict negative found in {STRICT_TRIES} draws"
                        )));
                    }
                };
                out.push(v);
            }
        }
        Ok(out)
    }
}
