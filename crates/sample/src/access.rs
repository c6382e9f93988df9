//! How samplers reach the graph: a small capability trait over whole
//! batches, implemented here by [`LocalGraph`] for the in-process [`Graph`]
//! (RAM or memory-mapped snapshot).

use std::collections::HashSet;
use std::sync::OnceLock;

use rayon::prelude::*;

use ferrograph_graph::topology::Csr;
use ferrograph_graph::{Direction, EdgeTypeId, Graph, NodeTypeId};

use crate::rng::{SplitMix, derive};
use crate::{Error, Result};

/// An edge type walked in one direction, with its endpoint node types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Relation {
    /// The edge type.
    pub edge_type: EdgeTypeId,
    /// Along (`Out`) or against (`In`) its edges.
    pub direction: Direction,
    /// Type of the nodes expanded.
    pub from: NodeTypeId,
    /// Type of the neighbours returned.
    pub to: NodeTypeId,
}

impl Relation {
    /// Resolves a relation or reverse-relation name (`cites`, `rev_cites`).
    pub fn resolve(g: &Graph, name: &str) -> Result<Relation> {
        let schema = g.schema();
        let (edge_type, direction) = schema.relation(name)?;
        let e = &schema.edge_types[edge_type.0 as usize];
        let (src, dst) = (schema.node_type(&e.src)?, schema.node_type(&e.dst)?);
        let (from, to) = match direction {
            Direction::Out => (src, dst),
            Direction::In => (dst, src),
        };
        Ok(Relation { edge_type, direction, from, to })
    }
}

/// How neighbours are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// `k` independent uniform draws (with replacement); none for isolated nodes.
    Random,
    /// `min(k, degree)` distinct neighbours, every subset equally likely.
    RandomWithoutReplacement,
    /// Every neighbour (`k` ignored).
    Full,
    /// `k` draws with probability proportional to the edge weight (with
    /// replacement; rows whose weights are all zero are drawn uniformly).
    EdgeWeight,
    /// The `min(k, degree)` heaviest edges (ties: smaller neighbour first).
    TopK,
    /// `k` draws with probability proportional to the neighbour's in-degree
    /// along the same edge type (with replacement).
    InDegree,
    /// Up to `k` distinct neighbours, uniformly, among edges whose
    /// `timestamp` is strictly before the given time.
    Before(i64),
    /// The (up to) `k` latest edges strictly before the given time, latest
    /// first (ties: smaller neighbour first).
    MostRecent(i64),
}

impl Strategy {
    /// Parses a strategy name as used by graph-learn and the query language.
    pub fn parse(name: &str) -> Option<Strategy> {
        Some(match name {
            "random" => Strategy::Random,
            "random_without_replacement" => Strategy::RandomWithoutReplacement,
            "full" => Strategy::Full,
            "edge_weight" => Strategy::EdgeWeight,
            "topk" => Strategy::TopK,
            "in_degree" => Strategy::InDegree,
            _ => return None,
        })
    }
}

/// Neighbours sampled for a batch of nodes: node `i` of the request got
/// `neighbors[offsets[i]..offsets[i + 1]]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sampled {
    /// `request.len() + 1` offsets.
    pub offsets: Vec<u32>,
    /// Neighbour local indices (of the relation's `to` type).
    pub neighbors: Vec<u32>,
}

impl Sampled {
    /// Empties for reuse, keeping capacity.
    pub fn clear(&mut self) {
        self.offsets.clear();
        self.neighbors.clear();
    }
}

/// What a sampler needs from a graph, one batch at a time.
pub trait NeighborAccess: Sync {
    /// Number of nodes of a type.
    fn node_count(&self, t: NodeTypeId) -> usize;

    /// Samples up to `k` neighbours of every node of `nodes` along `rel`
    /// with `strategy`, appending to `out`. Draws for `nodes[i]` come from
    /// the stream `derive(seed, i)`, so the answer is the same wherever it is
    /// computed.
    fn sample_neighbors(&self, rel: Relation, nodes: &[u32], k: usize, strategy: Strategy, seed: u64, out: &mut Sampled) -> Result<()>;

    /// Whether `targets[i]` is a neighbour of `nodes[i]` along `rel`, for
    /// every `i`, appended to `out`: one request for the whole batch (the
    /// membership test of node2vec's second-order steps). Every node of
    /// `nodes` must exist; a target that is not a node of the relation's `to`
    /// type is simply not a neighbour.
    ///
    /// The default fetches the `Full` rows of `nodes` and scans them: correct
    /// for any implementation, but it costs whole rows, so implementations
    /// should answer from their index ([`LocalGraph`]: a binary search in the
    /// sorted row).
    fn has_edges(&self, rel: Relation, nodes: &[u32], targets: &[u32], out: &mut Vec<bool>) -> Result<()> {
        check_pairs(nodes, targets)?;
        let mut rows = Sampled::default();
        self.sample_neighbors(rel, nodes, 0, Strategy::Full, 0, &mut rows)?;
        let base = full_base(&rows, nodes.len())?;
        out.extend(targets.iter().enumerate().map(|(i, t)| {
            let (a, b) = (rows.offsets[base + i] as usize, rows.offsets[base + i + 1] as usize);
            rows.neighbors[a..b].contains(t)
        }));
        Ok(())
    }

    /// The degree of each of `nodes` along `rel` (the length of the row a
    /// `Full` request returns), appended to `out`, so that a caller can bound
    /// a request before making it. The default fetches the `Full` rows
    /// (correct, but it costs the rows); implementations should override it
    /// ([`LocalGraph`]: the row offsets).
    fn degrees(&self, rel: Relation, nodes: &[u32], out: &mut Vec<u64>) -> Result<()> {
        let mut rows = Sampled::default();
        self.sample_neighbors(rel, nodes, 0, Strategy::Full, 0, &mut rows)?;
        let base = full_base(&rows, nodes.len())?;
        out.extend(rows.offsets[base..].windows(2).map(|w| u64::from(w[1] - w[0])));
        Ok(())
    }
}

/// Where the offsets of a fresh `Full` answer for `n` nodes start.
fn full_base(rows: &Sampled, n: usize) -> Result<usize> {
    rows.offsets.len().checked_sub(n + 1).ok_or_else(|| Error::Invalid("a Full request returned fewer offsets than nodes + 1".into()))
}

fn check_pairs(nodes: &[u32], targets: &[u32]) -> Result<()> {
    if nodes.len() == targets.len() {
        Ok(())
    } else {
        Err(Error::Invalid(format!("has_edges needs one target per node ({} nodes, {} targets)", nodes.len(), targets.len())))
    }
}

/// Most neighbour ids one request may return: offsets are `u32`.
const MAX_REQUEST: u64 = u32::MAX as u64;

/// The in-process graph (in RAM or a memory-mapped snapshot) with the
/// per-relation tables that weighted strategies build once and reuse:
/// cumulative weights per row (`edge_weight`) and rows ordered by weight
/// (`topk`).
pub struct LocalGraph<'g> {
    graph: &'g Graph,
    /// Per edge type, per direction (out, in).
    caches: Vec<[RelCache; 2]>,
}

#[derive(Default)]
struct RelCache {
    cdf: OnceLock<Result<Vec<f32>, String>>,
    by_weight: OnceLock<Result<Vec<u32>, String>>,
    time: OnceLock<Result<Vec<i64>, String>>,
    degree_cdf: OnceLock<Result<Vec<f32>, String>>,
}

impl<'g> LocalGraph<'g> {
    /// Wraps a graph; tables are built on first use.
    pub fn new(graph: &'g Graph) -> Self {
        let caches = (0..graph.schema().edge_types.len()).map(|_| Default::default()).collect();
        LocalGraph { graph, caches }
    }

    /// The wrapped graph.
    pub fn graph(&self) -> &'g Graph {
        self.graph
    }

    fn cache(&self, rel: Relation) -> &RelCache {
        &self.caches[rel.edge_type.0 as usize][usize::from(rel.direction == Direction::In)]
    }

    /// Edge weights aligned with the positions of the walked topology.
    pub fn walked_weights(&self, rel: Relation) -> Result<Vec<f32>> {
        let g = self.graph;
        let name = || g.schema().edge_types[rel.edge_type.0 as usize].display_name();
        let w = g.edge_weights(rel.edge_type).ok_or_else(|| Error::Invalid(format!("edge type {} has no float `weight` attribute", name())))?;
        let csr = g.checked_topology(rel.edge_type, rel.direction)?;
        let walked: Vec<f32> = match (&csr.edge, rel.direction) {
            (Some(map), Direction::In) => map.as_slice().par_iter().map(|&p| w[p as usize]).collect(),
            _ => w.to_vec(),
        };
        if let Some(p) = walked.iter().position(|x| !(x.is_finite() && *x >= 0.0)) {
            return Err(Error::Invalid(format!("edge type {}: weight {} at edge position {p} is negative or not finite", name(), walked[p])));
        }
        Ok(walked)
    }

    /// Edge timestamps aligned with the positions of the walked topology.
    fn times(&self, rel: Relation) -> Result<&[i64]> {
        let r = self.cache(rel).time.get_or_init(|| {
            let g = self.graph;
            let name = g.schema().edge_types[rel.edge_type.0 as usize].display_name();
            let ts = match g.edge_column(rel.edge_type, ferrograph_graph::schema::reserved::TIMESTAMP) {
                Ok(ferrograph_graph::column::Column::Int(a)) => a.as_slice(),
                _ => return Err(format!("edge type {name} has no int `timestamp` attribute")),
            };
            let csr = g.checked_topology(rel.edge_type, rel.direction).map_err(|e| e.to_string())?;
            Ok(match (&csr.edge, rel.direction) {
                (Some(map), Direction::In) => map.as_slice().par_iter().map(|&p| ts[p as usize]).collect(),
                _ => ts.to_vec(),
            })
        });
        r.as_deref().map_err(|e| Error::Invalid(e.clone()))
    }

    /// Cumulative edge weights within each row of the walked topology.
    fn cdf(&self, rel: Relation) -> Result<&[f32]> {
        let r = self.cache(rel).cdf.get_or_init(|| {
            let w = self.walked_weights(rel).map_err(|e| e.to_string())?;
            Ok(row_prefix_sums(self.graph.checked_topology(rel.edge_type, rel.direction).map_err(|e| e.to_string())?, w))
        });
        r.as_deref().map_err(|e| Error::Invalid(e.clone()))
    }

    /// Cumulative in-degrees (along the edge type) of each row's neighbours.
    fn degree_cdf(&self, rel: Relation) -> Result<&[f32]> {
        let r = self.cache(rel).degree_cdf.get_or_init(|| {
            let g = self.graph;
            let csr = g.checked_topology(rel.edge_type, rel.direction).map_err(|e| e.to_string())?;
            // In-degree along the edge type: rows of the in-topology.
            let inn = g.checked_topology(rel.edge_type, Direction::In).map_err(|e| e.to_string())?;
            let w: Vec<f32> = csr.targets.as_slice().par_iter().map(|&x| inn.degree(x as usize) as f32).collect();
            Ok(row_prefix_sums(csr, w))
        });
        r.as_deref().map_err(|e: &String| Error::Invalid(e.clone()))
    }

    /// For each row, its positions (relative to the row start) by weight,
    /// heaviest first; ties keep the smaller neighbour first.
    fn by_weight(&self, rel: Relation) -> Result<&[u32]> {
        let r = self.cache(rel).by_weight.get_or_init(|| {
            let w = self.walked_weights(rel).map_err(|e| e.to_string())?;
            let csr = self.graph.checked_topology(rel.edge_type, rel.direction).map_err(|e| e.to_string())?;
            let off = csr.offsets.as_slice();
            let mut order: Vec<u32> = (0..csr.len()).map(|p| p as u32).collect();
            let mut rows: Vec<(usize, &mut [u32])> = Vec::with_capacity(csr.rows());
            let mut rest = order.as_mut_slice();
            for r in 0..csr.rows() {
                let (row, tail) = rest.split_at_mut((off[r + 1] - off[r]) as usize);
                rows.push((off[r] as usize, row));
                rest = tail;
            }
            rows.into_par_iter().for_each(|(base, row)| {
                row.sort_by(|&a, &b| w[b as usize].total_cmp(&w[a as usize]).then(a.cmp(&b)));
                row.iter_mut().for_each(|p| *p -= base as u32);
            });
            Ok(order)
        });
        r.as_deref().map_err(|e| Error::Invalid(e.clone()))
    }
}

impl LocalGraph<'_> {
    /// [`NeighborAccess::sample_neighbors`] where the draws for `nodes[i]`
    /// come from `derive(seed, streams[i])` instead of `derive(seed, i)`
    /// (`None`: `i`). A graph server answers the part of a batch it owns
    /// with the positions the nodes had in the whole batch, so that a
    /// sample split across servers equals the local one bit for bit.
    #[allow(clippy::too_many_arguments)] // the trait method's six, plus the stream indices
    pub fn sample_streams(
        &self,
        rel: Relation,
        nodes: &[u32],
        streams: Option<&[u64]>,
        k: usize,
        strategy: Strategy,
        seed: u64,
        out: &mut Sampled,
    ) -> Result<()> {
        if let Some(s) = streams
            && s.len() != nodes.len()
        {
            return Err(Error::Invalid(format!("{} stream indices for {} nodes", s.len(), nodes.len())));
        }
        let csr = self.graph.checked_topology(rel.edge_type, rel.direction)?;
        if out.offsets.is_empty() {
            out.offsets.push(out.neighbors.len() as u32);
        }
        check_nodes(csr, nodes)?;
        check_request_size(csr, nodes, k, strategy, out.neighbors.len())?;
        let tables = match strategy {
            Strategy::EdgeWeight => Tables::Cdf(self.cdf(rel)?),
            Strategy::InDegree => Tables::Cdf(self.degree_cdf(rel)?),
            Strategy::TopK => Tables::ByWeight(self.by_weight(rel)?),
            Strategy::Before(_) | Strategy::MostRecent(_) => Tables::Time(self.times(rel)?),
            _ => Tables::None,
        };
        sample_csr(csr, nodes, streams, k, strategy, tables, seed, out);
        Ok(())
    }
}

impl NeighborAccess for LocalGraph<'_> {
    fn node_count(&self, t: NodeTypeId) -> usize {
        self.graph.node_count(t)
    }

    fn sample_neighbors(&self, rel: Relation, nodes: &[u32], k: usize, strategy: Strategy, seed: u64, out: &mut Sampled) -> Result<()> {
        self.sample_streams(rel, nodes, None, k, strategy, seed, out)
    }

    fn has_edges(&self, rel: Relation, nodes: &[u32], targets: &[u32], out: &mut Vec<bool>) -> Result<()> {
        check_pairs(nodes, targets)?;
        let csr = self.graph.checked_topology(rel.edge_type, rel.direction)?;
        check_nodes(csr, nodes)?;
        // Rows are sorted by neighbour (in-rows by source).
        out.extend(nodes.iter().zip(targets).map(|(&u, v)| csr.neighbors(u as usize).binary_search(v).is_ok()));
        Ok(())
    }

    fn degrees(&self, rel: Relation, nodes: &[u32], out: &mut Vec<u64>) -> Result<()> {
        let csr = self.graph.checked_topology(rel.edge_type, rel.direction)?;
        check_nodes(csr, nodes)?;
        out.extend(nodes.iter().map(|&u| csr.degree(u as usize) as u64));
        Ok(())
    }
}

pub(crate) fn check_nodes(csr: &Csr, nodes: &[u32]) -> Result<()> {
    let rows = csr.rows();
    match first_outside(nodes, rows) {
        Some(bad) => Err(Error::Invalid(format!("node {bad} is outside 0..{rows}"))),
        None => Ok(()),
    }
}

/// Refuses a request whose answer could not be indexed by `u32` offsets,
/// before anything is allocated. The exact count (a pass over the row
/// offsets) is computed only when the cheap bound does not settle it.
fn check_request_size(csr: &Csr, nodes: &[u32], k: usize, strategy: Strategy, already: usize) -> Result<()> {
    let n = nodes.len() as u64;
    let per_node = if strategy == Strategy::Full { csr.len() as u64 } else { k as u64 };
    if (already as u64).saturating_add(n.saturating_mul(per_node)) <= MAX_REQUEST {
        return Ok(());
    }
    let k = k as u64;
    let total = nodes.iter().fold(already as u64, |acc, &u| {
        let d = csr.degree(u as usize) as u64;
        let got = match strategy {
            Strategy::Full => d,
            Strategy::Random | Strategy::EdgeWeight | Strategy::InDegree => {
                if d > 0 {
                    k
                } else {
                    0
                }
            }
            _ => d.min(k),
        };
        acc.saturating_add(got)
    });
    if total <= MAX_REQUEST {
        Ok(())
    } else {
        Err(Error::TooLarge { what: format!("a request for {} nodes returning {total} neighbours", nodes.len()), limit: MAX_REQUEST })
    }
}

/// Turns per-position weights into cumulative sums within each row.
fn row_prefix_sums(csr: &Csr, mut w: Vec<f32>) -> Vec<f32> {
    let off = csr.offsets.as_slice();
    // Rows are disjoint slices: prefix sums in parallel, row by row.
    let mut rows: Vec<&mut [f32]> = Vec::with_capacity(csr.rows());
    let mut rest = w.as_mut_slice();
    for r in 0..csr.rows() {
        let (row, tail) = rest.split_at_mut((off[r + 1] - off[r]) as usize);
        rows.push(row);
        rest = tail;
    }
    rows.into_par_iter().for_each(|row| {
        let mut acc = 0f32;
        for x in row.iter_mut() {
            acc += *x;
            *x = acc;
        }
    });
    w
}

pub(crate) enum Tables<'a> {
    None,
    Cdf(&'a [f32]),
    ByWeight(&'a [u32]),
    Time(&'a [i64]),
}

pub(crate) use ferrograph_graph::array::{AHEAD, first_outside, touch};

#[allow(clippy::too_many_arguments)] // the request, its tables and its output, all used by the one loop
pub(crate) fn sample_csr(
    csr: &Csr,
    nodes: &[u32],
    streams: Option<&[u64]>,
    k: usize,
    strategy: Strategy,
    tables: Tables<'_>,
    seed: u64,
    out: &mut Sampled,
) {
    let offsets = csr.offsets.as_slice();
    let targets = csr.targets.as_slice();
    let mut chosen: Vec<u32> = Vec::new();
    let mut seen = HashSet::new();
    for (i, &u) in nodes.iter().enumerate() {
        if let Some(&ahead) = nodes.get(i + AHEAD) {
            touch(offsets, ahead as usize);
        }
        if let Some(&next) = nodes.get(i + AHEAD / 2) {
            touch(targets, offsets[next as usize] as usize);
        }
        let (lo, hi) = (offsets[u as usize] as usize, offsets[u as usize + 1] as usize);
        let row = &targets[lo..hi];
        let stream = streams.map_or(i as u64, |s| s[i]);
        let d = row.len();
        match strategy {
            Strategy::Full => out.neighbors.extend_from_slice(row),
            _ if d == 0 => {}
            Strategy::RandomWithoutReplacement if d <= k => out.neighbors.extend_from_slice(row),
            Strategy::RandomWithoutReplacement => {
                // Floyd's algorithm: k distinct positions, every k-subset equally likely.
                let mut rng = SplitMix::new(derive(seed, stream));
                chosen.clear();
                floyd(&mut rng, d, k, &mut chosen, &mut seen);
                out.neighbors.extend(chosen.iter().map(|&p| row[p as usize]));
            }
            Strategy::Random => {
                let mut rng = SplitMix::new(derive(seed, stream));
                out.neighbors.extend((0..k).map(|_| row[rng.below(d as u64) as usize]));
            }
            Strategy::EdgeWeight | Strategy::InDegree => {
                let mut rng = SplitMix::new(derive(seed, stream));
                let cdf = match &tables {
                    Tables::Cdf(c) => &c[lo..hi],
                    _ => &[][..],
                };
                let total = cdf.last().copied().unwrap_or(0.0);
                for _ in 0..k {
                    let p = if total > 0.0 {
                        // 53 random bits → uniform in [0, total); the first position whose
                        // cumulative weight exceeds it is drawn with probability w / total.
                        let x = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * f64::from(total);
                        cdf.partition_point(|&c| f64::from(c) <= x).min(d - 1)
                    } else {
                        rng.below(d as u64) as usize
                    };
                    out.neighbors.push(row[p]);
                }
            }
            Strategy::Before(t) | Strategy::MostRecent(t) => {
                let ts = match &tables {
                    Tables::Time(x) => &x[lo..hi],
                    _ => &[][..],
                };
                chosen.clear();
                chosen.extend((0..d as u32).filter(|&p| ts[p as usize] < t));
                if let Strategy::MostRecent(_) = strategy {
                    chosen.sort_by(|&a, &b| ts[b as usize].cmp(&ts[a as usize]).then(a.cmp(&b)));
                    chosen.truncate(k);
                } else if chosen.len() > k {
                    // Floyd's algorithm over the eligible positions.
                    let mut rng = SplitMix::new(derive(seed, stream));
                    let mut pick: Vec<u32> = Vec::with_capacity(k);
                    floyd(&mut rng, chosen.len(), k, &mut pick, &mut seen);
                    let eligible = std::mem::take(&mut chosen);
                    chosen.extend(pick.iter().map(|&x| eligible[x as usize]));
                }
                out.neighbors.extend(chosen.iter().map(|&p| row[p as usize]));
            }
            Strategy::TopK => {
                let order = match &tables {
                    Tables::ByWeight(o) => &o[lo..hi],
                    _ => &[][..],
                };
                out.neighbors.extend(order.iter().take(k).map(|&p| row[p as usize]));
            }
        }
        out.offsets.push(out.neighbors.len() as u32);
    }
}

/// Floyd's algorithm: `k < m` distinct positions of `0..m`, every k-subset
/// equally likely, appended to `pick` in draw order. Membership is a scan of
/// the picks for small `k` and a hash set beyond, so a large `k` costs
/// O(k) rather than O(k²); both give the same positions.
fn floyd(rng: &mut SplitMix, m: usize, k: usize, pick: &mut Vec<u32>, seen: &mut HashSet<u32>) {
    const SCAN: usize = 64;
    let start = pick.len();
    seen.clear();
    for j in (m - k)..m {
        let t = rng.below(j as u64 + 1) as u32;
        let taken = if k <= SCAN { pick[start..].contains(&t) } else { !seen.insert(t) };
        let p = if taken { j as u32 } else { t };
        if taken && k > SCAN {
            seen.insert(p);
        }
        pick.push(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_outside_names_the_first_offender() {
        assert_eq!(first_outside(&[], 0), None);
        assert_eq!(first_outside(&[0, 4, 2], 5), None);
        assert_eq!(first_outside(&[1, 7, 5, 9], 5), Some(7));
        assert_eq!(first_outside(&[0], 0), Some(0));
        assert_eq!(first_outside(&[3, u32::MAX], 4), Some(u32::MAX));
    }

    #[test]
    fn floyd_with_a_hash_set_draws_the_same_positions_as_the_scan() {
        for (m, k) in [(100usize, 65usize), (1000, 500), (70, 69)] {
            let mut a = Vec::new();
            floyd(&mut SplitMix::new(3), m, k, &mut a, &mut HashSet::new());
            // the scan, written out
            let mut rng = SplitMix::new(3);
            let mut b: Vec<u32> = Vec::new();
            for j in (m - k)..m {
                let t = rng.below(j as u64 + 1) as u32;
                b.push(if b.contains(&t) { j as u32 } else { t });
            }
            assert_eq!(a, b);
            let mut s = a.clone();
            s.sort_unstable();
            s.dedup();
            assert_eq!(s.len(), k, "distinct");
        }
    }
}
