//! Seeded synthetic graphs: R-MAT for scale, planted partitions for a
//! learnable built-in dataset.
//!
//! Both are deterministic for a seed whatever the thread count: work is cut
//! into fixed-size chunks, each with its own generator seeded from
//! `(seed, round, chunk)`, and results are combined in chunk order.

use rand::{Rng, RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use ferrograph_graph::array::Array;
use ferrograph_graph::column::Column;
use ferrograph_graph::idmap::NodeIds;
use ferrograph_graph::topology::{BuildOptions, Built, build_topology};
use ferrograph_graph::{AttrKind, AttrSchema, EdgeStore, EdgeTypeSchema, Graph, IdKind, NodeStore, NodeTypeSchema, Schema};

use crate::{Error, Result};

const CHUNK: usize = 1 << 18;

fn rng_for(seed: u64, round: u64, chunk: u64) -> Xoshiro256PlusPlus {
    // SplitMix64-style mixing so nearby seeds give unrelated streams.
    let mut z = seed ^ round.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ chunk.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    Xoshiro256PlusPlus::seed_from_u64(z ^ (z >> 31))
}

fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::config("generate", field, message)
}

/// R-MAT parameters. The fourth quadrant probability is `1 - a - b - c`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rmat {
    /// Number of nodes (ids `0..nodes`; need not be a power of two).
    pub nodes: u64,
    /// Number of distinct directed edges, without self-loops.
    pub edges: u64,
    /// Top-left quadrant probability.
    pub a: f64,
    /// Top-right (destination bit set).
    pub b: f64,
    /// Bottom-left (source bit set).
    pub c: f64,
    /// Seed.
    pub seed: u64,
}

impl Default for Rmat {
    fn default() -> Self {
        Rmat { nodes: 1 << 20, edges: 10 << 20, a: 0.55, b: 0.15, c: 0.15, seed: 0 }
    }
}

impl Rmat {
    fn validate(&self) -> Result<u32> {
        if self.nodes < 2 || self.nodes > u32::MAX as u64 {
            return Err(invalid("nodes", "must be between 2 and 4294967295"));
        }
        let max_edges = self.nodes.saturating_mul(self.nodes - 1);
        if self.edges == 0 || self.edges > max_edges / 2 {
            return Err(invalid("edges", format!("must be between 1 and half of all possible edges ({})", max_edges / 2)));
        }
        if self.edges > u32::MAX as u64 {
            return Err(invalid("edges", "at most 4294967295 edges per edge type"));
        }
        let d = 1.0 - self.a - self.b - self.c;
        if [self.a, self.b, self.c].iter().any(|&p| !(0.0..=1.0).contains(&p)) || d < -1e-9 {
            return Err(invalid("a/b/c", "probabilities must be in [0, 1] with a + b + c <= 1"));
        }
        Ok(64 - (self.nodes - 1).leading_zeros())
    }

    /// Generates the edge list `(src, dst)`: distinct pairs, no self-loops,
    /// node ids randomly permuted. Ordered by pre-permutation (src, dst).
    pub fn edges(&self) -> Result<(Vec<u32>, Vec<u32>)> {
        let scale = self.validate()?;
        let q = |p: f64| (p * 65536.0).round() as u32;
        let (ta, tab, tabc) = (q(self.a), q(self.a + self.b), q(self.a + self.b + self.c));
        let n = self.nodes;
        let target = self.edges as usize;
        let mut keys: Vec<u64> = Vec::new();
        let mut want = (target as f64 * 1.15) as usize + 1024;
        for round in 0.. {
            let chunks = want.div_ceil(CHUNK);
            let fresh: Vec<u64> = (0..chunks)
                .into_par_iter()
                .flat_map_iter(|c| {
                    let mut rng = rng_for(self.seed, round, c as u64);
                    let len = CHUNK.min(want - c * CHUNK);
                    let mut out = Vec::with_capacity(len);
                    for _ in 0..len {
                        let (mut s, mut d) = (0u64, 0u64);
                        let mut bits = 0u64;
                        for lvl in 0..scale {
                            if lvl % 4 == 0 {
                                bits = rng.next_u64();
                            }
                            let r = (bits & 0xffff) as u32;
                            bits >>= 16;
                            let src_bit = r >= tab;
                            let dst_bit = (r >= ta && r < tab) || r >= tabc;
                            s |= u64::from(src_bit) << lvl;
                            d |= u64::from(dst_bit) << lvl;
                        }
                        if s < n && d < n && s != d {
                            out.push((s << 32) | d);
                        }
                    }
                    out
                })
                .collect();
            keys.extend(fresh);
            keys.par_sort_unstable();
            keys.dedup();
            if keys.len() >= target {
                break;
            }
            if round > 64 {
                return Err(invalid("edges", "the R-MAT parameters cannot produce that many distinct edges"));
            }
            want = ((target - keys.len()) as f64 * 1.5) as usize + 1024;
        }
        // Keep exactly `target` keys, chosen uniformly (selection sampling).
        if keys.len() > target {
            let mut rng = rng_for(self.seed, u64::MAX, 0);
            let (mut need, mut left) = (target, keys.len());
            let mut w = 0;
            for r in 0..keys.len() {
                if (rng.next_u64() % left as u64) < need as u64 {
                    keys[w] = keys[r];
                    w += 1;
                    need -= 1;
                }
                left -= 1;
            }
            keys.truncate(w);
        }
        let perm = permutation(n as usize, &mut rng_for(self.seed, u64::MAX - 1, 0));
        let src: Vec<u32> = keys.par_iter().map(|&k| perm[(k >> 32) as usize]).collect();
        let dst: Vec<u32> = keys.par_iter().map(|&k| perm[(k & 0xffff_ffff) as usize]).collect();
        Ok((src, dst))
    }

    /// Generates the graph: one node type `node` (dense ids) and one directed
    /// edge type `(node, edge, node)`.
    pub fn graph(&self) -> Result<Graph> {
        let (src, dst) = self.edges()?;
        rmat_graph(self.nodes as usize, src, dst)
    }
}

/// The graph of an R-MAT edge list (see [`Rmat::graph`]).
pub fn rmat_graph(n: usize, src: Vec<u32>, dst: Vec<u32>) -> Result<Graph> {
    homogeneous_graph(n, build_topology(n, n, src, dst, BuildOptions::default())?, Vec::new())
}

/// A graph of one node type `node` (dense ids `0..n`) and one directed edge
/// type `(node, edge, node)` with reverse `rev_edge`, from a built topology
/// and edge columns aligned with its out-positions.
pub fn homogeneous_graph(n: usize, built: Built, edge_columns: Vec<(AttrSchema, Column)>) -> Result<Graph> {
    let (attributes, columns): (Vec<AttrSchema>, Vec<Column>) = edge_columns.into_iter().unzip();
    let schema = Schema {
        node_types: vec![NodeTypeSchema { name: "node".into(), id_kind: IdKind::Dense, attributes: vec![], sets: vec![] }],
        edge_types: vec![EdgeTypeSchema {
            relation: "edge".into(),
            src: "node".into(),
            dst: "node".into(),
            reverse: "rev_edge".into(),
            undirected: false,
            attributes,
        }],
    };
    let nodes = vec![NodeStore { ids: NodeIds::Dense(n as u32), columns: vec![], sets: vec![] }];
    let edges = vec![EdgeStore { out: built.out, inn: built.inn, columns, self_loops: built.self_loops }];
    Ok(Graph::from_parts(schema, nodes, edges)?)
}

fn permutation(n: usize, rng: &mut Xoshiro256PlusPlus) -> Vec<u32> {
    let mut p: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        p.swap(i, j);
    }
    p
}

/// A planted-partition graph: nodes in `classes` communities, edges mostly
/// inside a community, and features that hint at the class through noise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Planted {
    /// Number of nodes.
    pub nodes: u64,
    /// Number of classes (communities).
    pub classes: u32,
    /// Mean number of neighbours per node (undirected).
    pub avg_degree: f64,
    /// Probability that an edge stays inside its community.
    pub p_in: f64,
    /// Feature width (at least `classes`).
    pub feature_dim: u32,
    /// Standard deviation of the feature noise (the class signal is 1.0).
    pub noise: f32,
    /// Fraction of nodes in the `train` set.
    pub train: f64,
    /// Fraction of nodes in the `val` set (the rest is `test`).
    pub val: f64,
    /// Seed.
    pub seed: u64,
}

impl Default for Planted {
    fn default() -> Self {
        Planted { nodes: 20_000, classes: 8, avg_degree: 10.0, p_in: 0.8, feature_dim: 32, noise: 1.5, train: 0.1, val: 0.1, seed: 0 }
    }
}

fn normal(rng: &mut Xoshiro256PlusPlus) -> f32 {
    // Box–Muller.
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

impl Planted {
    /// Generates the graph: node type `node` with `label` (int), `feat`
    /// (float vector) and sets `train`/`val`/`test`; undirected edge type
    /// `(node, link, node)`.
    pub fn graph(&self) -> Result<Graph> {
        let n = self.nodes as usize;
        if n < 2 || self.nodes > u32::MAX as u64 {
            return Err(invalid("nodes", "must be between 2 and 4294967295"));
        }
        if self.classes < 2 || self.classes as usize > n {
            return Err(invalid("classes", "must be at least 2 and at most the node count"));
        }
        if self.feature_dim < self.classes {
            return Err(invalid("feature_dim", "must be at least the number of classes"));
        }
        if !(0.0..=1.0).contains(&self.p_in) || self.avg_degree.is_nan() || self.avg_degree <= 0.0 {
            return Err(invalid("p_in/avg_degree", "p_in must be in [0, 1] and avg_degree > 0"));
        }
        if self.train <= 0.0 || self.val < 0.0 || self.train + self.val >= 1.0 {
            return Err(invalid("train/val", "fractions must be positive and sum to less than 1"));
        }
        let k = self.classes as usize;
        let mut rng = rng_for(self.seed, 0, 0);
        let label: Vec<i64> = (0..n).map(|_| rng.random_range(0..k) as i64).collect();
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); k];
        for (i, &l) in label.iter().enumerate() {
            members[l as usize].push(i as u32);
        }
        if let Some(c) = members.iter().position(Vec::is_empty) {
            return Err(invalid("classes", format!("class {c} drew no nodes; use fewer classes or more nodes")));
        }
        let m = (n as f64 * self.avg_degree / 2.0).round() as usize;
        let pairs: Vec<(u32, u32)> = (0..m.div_ceil(CHUNK))
            .into_par_iter()
            .flat_map_iter(|c| {
                let mut rng = rng_for(self.seed, 1, c as u64);
                let len = CHUNK.min(m - c * CHUNK);
                let mut out = Vec::with_capacity(len);
                for _ in 0..len {
                    let s = rng.random_range(0..n);
                    let d = if rng.random::<f64>() < self.p_in {
                        let g = &members[label[s] as usize];
                        g[rng.random_range(0..g.len())] as usize
                    } else {
                        rng.random_range(0..n)
                    };
                    if s != d {
                        out.push((s as u32, d as u32));
                    }
                }
                out
            })
            .collect();
        let (src, dst): (Vec<u32>, Vec<u32>) = pairs.into_iter().unzip();
        let built = build_topology(n, n, src, dst, BuildOptions { undirected: true, dedup: true, edge_ids: false })?;
        let dim = self.feature_dim as usize;
        let feat: Vec<f32> = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .flat_map_iter(|c| {
                let mut rng = rng_for(self.seed, 2, c as u64);
                let rows = c * CHUNK..((c + 1) * CHUNK).min(n);
                let mut out = Vec::with_capacity(rows.len() * dim);
                for r in rows {
                    for j in 0..dim {
                        let signal = if j == label[r] as usize { 1.0 } else { 0.0 };
                        out.push(signal + self.noise * normal(&mut rng));
                    }
                }
                out
            })
            .collect();
        let order = permutation(n, &mut rng_for(self.seed, 3, 0));
        let n_train = ((n as f64) * self.train).round().max(1.0) as usize;
        let n_val = ((n as f64) * self.val).round() as usize;
        let split = |range: std::ops::Range<usize>| {
            let mut v: Vec<u32> = order[range].to_vec();
            v.sort_unstable();
            Array::from(v)
        };
        let sets = vec![split(0..n_train), split(n_train..n_train + n_val), split(n_train + n_val..n)];
        let schema = Schema {
            node_types: vec![NodeTypeSchema {
                name: "node".into(),
                id_kind: IdKind::Dense,
                attributes: vec![
                    AttrSchema { name: "label".into(), kind: AttrKind::Int },
                    AttrSchema { name: "feat".into(), kind: AttrKind::FloatVector { dim: dim as u32 } },
                ],
                sets: vec!["train".into(), "val".into(), "test".into()],
            }],
            edge_types: vec![EdgeTypeSchema {
                relation: "link".into(),
                src: "node".into(),
                dst: "node".into(),
                reverse: "link".into(),
                undirected: true,
                attributes: vec![],
            }],
        };
        let nodes = vec![NodeStore {
            ids: NodeIds::Dense(n as u32),
            columns: vec![Column::Int(label.into()), Column::Vector { dim, data: feat.into() }],
            sets,
        }];
        let edges = vec![EdgeStore { out: built.out, inn: None, columns: vec![], self_loops: built.self_loops }];
        Ok(Graph::from_parts(schema, nodes, edges)?)
    }
}

/// A multiplex graph for GATNE-style models: one node type and several
/// undirected relations over the same nodes, each with its *own* planted
/// partition (relation `r` groups the nodes into `communities` drawn
/// independently of the other relations), so what makes two nodes likely
/// to link differs from relation to relation and one embedding shared by
/// all relations cannot fit every one of them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Multiplex {
    /// Number of nodes.
    pub nodes: u64,
    /// Number of relations (edge types `r0`, `r1`, …).
    pub relations: u32,
    /// Communities per relation.
    pub communities: u32,
    /// Mean number of neighbours per node in each relation.
    pub avg_degree: f64,
    /// Probability that an edge stays inside its relation's community.
    pub p_in: f64,
    /// Seed.
    pub seed: u64,
}

impl Default for Multiplex {
    fn default() -> Self {
        Multiplex { nodes: 2_000, relations: 3, communities: 20, avg_degree: 10.0, p_in: 0.9, seed: 0 }
    }
}

impl Multiplex {
    /// Generates the graph: node type `node`, undirected edge types
    /// `(node, r{i}, node)`, and per relation an int column `community_r{i}`
    /// on the nodes (the planted truth, for inspection).
    pub fn graph(&self) -> Result<Graph> {
        let n = self.nodes as usize;
        if n < 2 || self.nodes > u32::MAX as u64 {
            return Err(invalid("nodes", "must be between 2 and 4294967295"));
        }
        if self.relations == 0 || self.relations > 64 {
            return Err(invalid("relations", "must be between 1 and 64"));
        }
        if self.communities == 0 || self.communities as usize > n {
            return Err(invalid("communities", "must be at least 1 and at most the node count"));
        }
        if !(0.0..=1.0).contains(&self.p_in) || self.avg_degree.is_nan() || self.avg_degree <= 0.0 {
            return Err(invalid("p_in/avg_degree", "p_in must be in [0, 1] and avg_degree > 0"));
        }
        let k = self.communities as usize;
        let m = (n as f64 * self.avg_degree / 2.0).round() as usize;
        let mut edge_types = Vec::new();
        let mut edges = Vec::new();
        let mut attributes = Vec::new();
        let mut columns = Vec::new();
        for r in 0..self.relations as u64 {
            let mut rng = rng_for(self.seed, 10 + 2 * r, 0);
            let community: Vec<i64> = (0..n).map(|_| rng.random_range(0..k) as i64).collect();
            let mut members: Vec<Vec<u32>> = vec![Vec::new(); k];
            for (i, &c) in community.iter().enumerate() {
                members[c as usize].push(i as u32);
            }
            let mut rng = rng_for(self.seed, 11 + 2 * r, 0);
            let mut src = Vec::with_capacity(m);
            let mut dst = Vec::with_capacity(m);
            for _ in 0..m {
                let s = rng.random_range(0..n);
                let d = if rng.random::<f64>() < self.p_in {
                    let g = &members[community[s] as usize];
                    g[rng.random_range(0..g.len())] as usize
                } else {
                    rng.random_range(0..n)
                };
                if s != d {
                    src.push(s as u32);
                    dst.push(d as u32);
                }
            }
            let built = build_topology(n, n, src, dst, BuildOptions { undirected: true, dedup: true, edge_ids: false })?;
            let name = format!("r{r}");
            edge_types.push(EdgeTypeSchema {
                relation: name.clone(),
                src: "node".into(),
                dst: "node".into(),
                reverse: name.clone(),
                undirected: true,
                attributes: vec![],
            });
            edges.push(EdgeStore { out: built.out, inn: None, columns: vec![], self_loops: built.self_loops });
            attributes.push(AttrSchema { name: format!("community_{name}"), kind: AttrKind::Int });
            columns.push(Column::Int(community.into()));
        }
        let schema =
            Schema { node_types: vec![NodeTypeSchema { name: "node".into(), id_kind: IdKind::Dense, attributes, sets: vec![] }], edge_types };
        let nodes = vec![NodeStore { ids: NodeIds::Dense(n as u32), columns, sets: vec![] }];
        Ok(Graph::from_parts(schema, nodes, edges)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rmat_is_exact_distinct_and_deterministic() {
        let p = Rmat { nodes: 1000, edges: 20_000, seed: 7, ..Default::default() };
        let (s, d) = p.edges().unwrap();
        assert_eq!(s.len(), 20_000);
        let mut pairs: Vec<(u32, u32)> = s.iter().copied().zip(d.iter().copied()).collect();
        assert!(pairs.iter().all(|(a, b)| a != b && *a < 1000 && *b < 1000));
        pairs.sort_unstable();
        pairs.dedup();
        assert_eq!(pairs.len(), 20_000, "edges are distinct");
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        assert_eq!(pool.install(|| p.edges().unwrap()), (s, d), "same result on one thread");
        // Skewed: the top 1% of nodes by out-degree hold far more than 1% of edges.
        let g = p.graph().unwrap();
        let mut deg: Vec<usize> = (0..1000).map(|r| g.edges(ferrograph_graph::EdgeTypeId(0)).out.degree(r)).collect();
        deg.sort_unstable_by(|a, b| b.cmp(a));
        assert!(deg[..10].iter().sum::<usize>() > 20_000 / 20, "power-law-ish skew: {:?}", &deg[..10]);
    }

    #[test]
    fn planted_partition_is_homophilous() {
        let p = Planted { nodes: 2000, ..Default::default() };
        let g = p.graph().unwrap();
        let t = ferrograph_graph::NodeTypeId(0);
        let labels = match g.node_column(t, "label").unwrap() {
            Column::Int(a) => a.as_slice().to_vec(),
            _ => unreachable!(),
        };
        let csr = &g.edges(ferrograph_graph::EdgeTypeId(0)).out;
        let (mut same, mut all) = (0usize, 0usize);
        for u in 0..2000 {
            for &v in csr.neighbors(u) {
                all += 1;
                same += usize::from(labels[u] == labels[v as usize]);
            }
        }
        assert!(same as f64 / all as f64 > 0.7, "intra-class edge share {}", same as f64 / all as f64);
        assert_eq!(g.node_set(t, "train").unwrap().len(), 200);
    }
}
