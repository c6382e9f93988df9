//! Negative sampling: destination nodes that are (probably, or with
//! `strict`, certainly) not neighbours of a source, for link prediction.

use ferrograph_graph::{Direction, Graph};

use crate::access::{LocalGraph, NeighborAccess, Relation, Sampled, Strategy};
use crate::rng::{SplitMix, derive};
use crate::{Error, Result};

/// Which nodes negatives are drawn from.
#[derive(Clone, Debug, PartialEq)]
pub enum NegativeStrategy {
    /// Uniform over the destination type.
    Random,
    /// Proportional to in-degree^0.75 along the relation (word2vec's unigram^0.75).
    InDegree,
    /// Proportional to a non-negative numeric attribute of the destination type.
    NodeWeight(String),
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
        if n == 0 || total.is_nan() || total <= 0.0 || weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(Error::Invalid("an alias table needs non-negative weights with a positive sum".into()));
        }
        let mut prob: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut alias = vec![0u32; n];
        let (mut small, mut large): (Vec<u32>, Vec<u32>) = (0..n as u32).partition(|&i| prob[i as usize] < 1.0);
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
        if u < self.prob[i] { i as u32 } else { self.alias[i] }
    }
}

/// Neighbour rows fetched for a batch of sources (empty when not strict).
struct Rows(Sampled);

impl Rows {
    fn row(&self, i: usize) -> &[u32] {
        match self.0.offsets.get(i..i + 2) {
            Some(w) => &self.0.neighbors[w[0] as usize..w[1] as usize],
            None => &[],
        }
    }
}

/// Draws `k` negatives per source node. Rows (for `strict`) and degrees
/// (for `in_degree`) are read through a [`NeighborAccess`], so negatives
/// over a remote graph equal local ones; attributes (`node_weight`,
/// conditional negatives) come from the graph's columns.
pub struct NegativeSampler<'g> {
    graph: &'g Graph,
    access: &'g dyn NeighborAccess,
    relation: Relation,
    strict: bool,
    table: Option<AliasTable>,
    n_dst: usize,
    /// For conditional negatives: destination nodes grouped by attribute value.
    groups: Option<Groups>,
}

/// Attribute value of every destination node, and the nodes of each value.
struct Groups {
    values: Vec<i64>,
    members: std::collections::HashMap<i64, Vec<u32>>,
}

/// The value of an int, categorical or hashed attribute as an i64 per row.
fn attribute_values(g: &ferrograph_graph::Graph, t: ferrograph_graph::NodeTypeId, name: &str) -> Result<Vec<i64>> {
    use ferrograph_graph::column::Column;
    Ok(match g.node_column(t, name)? {
        Column::Int(a) => a.as_slice().to_vec(),
        Column::Categorical { codes, .. } | Column::Hashed { codes, .. } => codes.as_slice().iter().map(|&c| i64::from(c)).collect(),
        c => return Err(Error::Invalid(format!("conditional negatives need an int or string attribute; `{name}` is {}", c.kind().describe()))),
    })
}

/// How many re-draws a strict negative may take before giving up.
const STRICT_TRIES: usize = 1000;

impl<'g> NegativeSampler<'g> {
    /// A sampler of destinations of `relation`; with `strict`, a candidate
    /// that is a true neighbour of its source is drawn again.
    pub fn new(graph: &'g LocalGraph<'g>, relation: Relation, strategy: NegativeStrategy, strict: bool) -> Result<Self> {
        Self::over(graph.graph(), graph, relation, strategy, strict)
    }

    /// [`NegativeSampler::new`] reading rows and degrees through `access`
    /// (a remote graph, say) and attributes from `graph`, the same graph's
    /// schema and columns.
    pub fn over(graph: &'g Graph, access: &'g dyn NeighborAccess, relation: Relation, strategy: NegativeStrategy, strict: bool) -> Result<Self> {
        let g = graph;
        let n_dst = g.node_count(relation.to);
        if access.node_count(relation.to) != n_dst || access.node_count(relation.from) != g.node_count(relation.from) {
            return Err(Error::Invalid("the graph read for attributes and the one sampled have different node counts".into()));
        }
        if n_dst == 0 {
            return Err(Error::Invalid("the destination type has no nodes".into()));
        }
        let table = match strategy {
            NegativeStrategy::Random => None,
            NegativeStrategy::InDegree => {
                // In-degree of destinations along the relation = row lengths of the reverse walk.
                let direction = match relation.direction {
                    Direction::Out => Direction::In,
                    Direction::In => Direction::Out,
                };
                let back = Relation { edge_type: relation.edge_type, direction, from: relation.to, to: relation.from };
                let all: Vec<u32> = (0..n_dst as u32).collect();
                let mut degrees = Vec::with_capacity(n_dst);
                for chunk in all.chunks(1 << 18) {
                    access.degrees(back, chunk, &mut degrees)?;
                }
                let w: Vec<f64> = degrees.iter().map(|&d| (d as f64).powf(0.75)).collect();
                Some(AliasTable::new(&w).map_err(|_| Error::Invalid("in_degree negatives need at least one edge".into()))?)
            }
            NegativeStrategy::NodeWeight(name) => {
                use ferrograph_graph::column::Column;
                let w: Vec<f64> = match g.node_column(relation.to, &name)? {
                    Column::Float(a) => a.as_slice().iter().map(|&x| f64::from(x)).collect(),
                    Column::Int(a) => a.as_slice().iter().map(|&x| x as f64).collect(),
                    c => return Err(Error::Invalid(format!("node_weight needs a float or int attribute; `{name}` is {}", c.kind().describe()))),
                };
                Some(AliasTable::new(&w).map_err(|e| Error::Invalid(format!("attribute `{name}`: {e}")))?)
            }
        };
        Ok(NegativeSampler { graph, access, relation, strict, table, n_dst, groups: None })
    }

    /// Makes the sampler conditional: each negative has the same value of
    /// attribute `name` (int or string) as the positive it stands against
    /// (see [`NegativeSampler::sample_conditional`]); draws are uniform within that value.
    pub fn condition_on(mut self, name: &str) -> Result<Self> {
        let values = attribute_values(self.graph, self.relation.to, name)?;
        let mut groups: std::collections::HashMap<i64, Vec<u32>> = std::collections::HashMap::new();
        for (i, &v) in values.iter().enumerate() {
            groups.entry(v).or_default().push(i as u32);
        }
        self.groups = Some(Groups { values, members: groups });
        Ok(self)
    }

    /// `k` negatives per `(sources[i], positives[i])` pair, each sharing the
    /// positive's value of the conditioning attribute.
    pub fn sample_conditional(&self, sources: &[u32], positives: &[u32], k: usize, seed: u64) -> Result<Vec<u32>> {
        let Groups { values, members: groups } = self.groups.as_ref().ok_or_else(|| Error::Invalid("call condition_on(attribute) first".into()))?;
        if sources.len() != positives.len() {
            return Err(Error::Invalid("one positive per source is needed".into()));
        }
        let rows = self.rows(sources)?;
        let mut out = crate::room(sources.len().checked_mul(k), || format!("{k} negatives for each of {} sources", sources.len()))?;
        for (i, (&s, &p)) in sources.iter().zip(positives).enumerate() {
            let value = *values.get(p as usize).ok_or_else(|| Error::Invalid(format!("positive node {p} is outside the destination type")))?;
            let group = &groups[&value];
            let row = rows.row(i);
            let mut rng = SplitMix::new(derive(seed, i as u64));
            for _ in 0..k {
                let mut tries = 0;
                let v = loop {
                    let v = group[rng.below(group.len() as u64) as usize];
                    if !self.strict || row.binary_search(&v).is_err() {
                        break v;
                    }
                    tries += 1;
                    if tries == STRICT_TRIES {
                        return Err(Error::Invalid(format!(
                            "source node {s} is linked to nearly every node with value {value}; no strict negative found"
                        )));
                    }
                };
                out.push(v);
            }
        }
        Ok(out)
    }

    /// `k` negatives for each of `sources`, row-major (`sources.len() * k`).
    /// Draws for `sources[i]` come from `derive(seed, i)`.
    pub fn sample(&self, sources: &[u32], k: usize, seed: u64) -> Result<Vec<u32>> {
        let rows = self.rows(sources)?;
        let mut out = crate::room(sources.len().checked_mul(k), || format!("{k} negatives for each of {} sources", sources.len()))?;
        for (i, &s) in sources.iter().enumerate() {
            let mut rng = SplitMix::new(derive(seed, i as u64));
            let row = rows.row(i);
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

    /// The neighbour rows of `sources` when strict (one batched request), after
    /// checking that every source exists.
    fn rows(&self, sources: &[u32]) -> Result<Rows> {
        let n = self.graph.node_count(self.relation.from);
        if let Some(bad) = crate::access::first_outside(sources, n) {
            return Err(Error::Invalid(format!("source node {bad} is outside 0..{n}")));
        }
        let mut rows = Sampled::default();
        if self.strict {
            self.access.sample_neighbors(self.relation, sources, 0, Strategy::Full, 0, &mut rows)?;
        }
        Ok(Rows(rows))
    }
}
