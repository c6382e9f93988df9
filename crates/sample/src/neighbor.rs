//! Multi-hop neighbour sampling into re-indexed message-flow blocks.
//!
//! # Output ([`SamplerOutput`], PyG's `SamplerOutput` convention)
//! - `node`: the sampled nodes, each once: the seeds first (in order,
//!   duplicates merged), then the nodes first reached at hop 1, then hop 2, …
//!   `num_sampled_nodes[h]` says how many came at hop `h` (`h = 0`: seeds).
//! - `row`, `col`: one sampled edge per position, as local indices into
//!   `node`: `node[row[i]]` is a neighbour sampled for `node[col[i]]`
//!   (messages flow `row → col`). Edges are grouped by hop,
//!   `num_sampled_edges[h]` of them for hop `h + 1`.
//! - Hop `h + 1` expands exactly the nodes first reached at hop `h`
//!   (PyG/GLT semantics): a node is expanded once, so its sampled
//!   neighbourhood is the same in every layer that needs it.
//!
//! Invariants (tested): every `row`/`col` is `< node.len()`; for hop `h + 1`,
//! `col` lies in the block of hop `h`; `node[row[i]]` is a neighbour of
//! `node[col[i]]` along that hop's relation.

use std::cell::RefCell;

use rayon::prelude::*;

use ferrograph_graph::NodeTypeId;

use crate::access::{NeighborAccess, Relation, Sampled, Strategy};
use crate::rng::derive;
use crate::{Error, Result};

/// One hop: a relation and a fan-out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HopSpec {
    /// The relation walked.
    pub relation: Relation,
    /// Neighbours per node.
    pub fanout: usize,
}

/// A multi-hop neighbour sampler over one node type (homogeneous paths;
/// typed, per-node-type blocks arrive with heterogeneous sampling).
#[derive(Clone, Debug)]
pub struct NeighborSampler {
    hops: Vec<HopSpec>,
    strategy: Strategy,
    node_type: NodeTypeId,
}

/// The integer type a sample's indices are written in: `u32`, the crate's
/// own, or `i64`, NumPy's and PyTorch's index type, which the Python
/// binding has the sampler write directly (a separate widening pass over
/// the ~1 MB of a batch cost 4-5% of a sampling call; stores made inside
/// the sampling loop overlap its DRAM misses).
pub trait Index: Copy + Default + std::fmt::Debug + PartialEq + Eq + Send + Sync + 'static {
    /// `x` in this type (every `u32` fits).
    fn from_u32(x: u32) -> Self;
    /// The `u32` this value was made from.
    fn to_u32(self) -> u32;
    /// `s` as `u32`s without a copy, where the types are the same.
    fn as_u32s(s: &[Self]) -> Option<&[u32]>;
}

impl Index for u32 {
    #[inline]
    fn from_u32(x: u32) -> Self {
        x
    }
    #[inline]
    fn to_u32(self) -> u32 {
        self
    }
    #[inline]
    fn as_u32s(s: &[Self]) -> Option<&[u32]> {
        Some(s)
    }
}

impl Index for i64 {
    #[inline]
    fn from_u32(x: u32) -> Self {
        i64::from(x)
    }
    #[inline]
    fn to_u32(self) -> u32 {
        // Only ever made by `from_u32`.
        self as u32
    }
    #[inline]
    fn as_u32s(_: &[Self]) -> Option<&[u32]> {
        None
    }
}

/// The re-indexed sample of one batch; see the module docs for invariants.
/// Indices are `u32` unless asked otherwise ([`Index`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SamplerOutput<I: Index = u32> {
    /// Sampled nodes (local indices of the node type), seeds first.
    pub node: Vec<I>,
    /// Source (neighbour) of each sampled edge, as an index into `node`.
    pub row: Vec<I>,
    /// Destination (expanded node) of each sampled edge, as an index into `node`.
    pub col: Vec<I>,
    /// Nodes added per hop (`[0]`: distinct seeds).
    pub num_sampled_nodes: Vec<usize>,
    /// Edges sampled per hop.
    pub num_sampled_edges: Vec<usize>,
    /// Position in `node` of each seed as given.
    pub seed_index: Vec<I>,
}

impl<I: Index> SamplerOutput<I> {
    /// Empties every vector, keeping its allocation.
    pub fn clear(&mut self) {
        self.node.clear();
        self.row.clear();
        self.col.clear();
        self.num_sampled_nodes.clear();
        self.num_sampled_edges.clear();
        self.seed_index.clear();
    }
}

/// Per-thread map from node to position in the batch's `node` list: two
/// arrays indexed by node with an epoch stamp, so starting a batch is O(1)
/// and a lookup is one (usually cached) array read instead of a hash probe.
#[derive(Default)]
struct Remap {
    stamp: Vec<u32>,
    local: Vec<u32>,
    epoch: u32,
}

impl Remap {
    fn begin(&mut self, n: usize) {
        if self.stamp.len() < n {
            self.stamp.resize(n, 0);
            self.local.resize(n, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.epoch = 1;
        }
    }

    #[inline]
    fn get_or_insert<I: Index>(&mut self, v: u32, node: &mut Vec<I>) -> u32 {
        let i = v as usize;
        if self.stamp[i] == self.epoch {
            return self.local[i];
        }
        self.stamp[i] = self.epoch;
        let l = node.len() as u32;
        self.local[i] = l;
        node.push(I::from_u32(v));
        l
    }
}

thread_local! {
    static SCRATCH: RefCell<(Remap, Sampled)> = RefCell::new((Remap::default(), Sampled::default()));
}

impl SamplerOutput {
    /// The part of this sample that the seeds at positions `share` (of the
    /// seeds as given) need through all its hops: data-parallel training
    /// samples a global batch once and each rank keeps the receptive field
    /// of its share of the seeds, so every seed sees exactly the neighbours
    /// it has in the whole batch.
    ///
    /// Kept: the nodes within `hops` sampled edges of the share (by a
    /// breadth-first walk along `col → row`), and every sampled edge of each
    /// kept node that lies fewer than `hops` edges from the share. The
    /// result follows the usual layout: hop groups in the original order,
    /// except that group 0 starts with the share's seeds in the order given
    /// (then the other seeds that it reaches); `seed_index` covers the share
    /// only. A node kept at the last distance keeps no edges even where it
    /// has some: the layers only read its input row.
    pub fn receptive_field(&self, share: std::ops::Range<usize>) -> SamplerOutput {
        let hops = self.num_sampled_edges.len();
        let n = self.node.len();
        // Sampled edges by destination.
        let mut start = vec![0u32; n + 1];
        for &c in &self.col {
            start[c as usize + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut by_col = vec![0u32; self.col.len()];
        for (e, &c) in self.col.iter().enumerate() {
            by_col[fill[c as usize] as usize] = e as u32;
            fill[c as usize] += 1;
        }
        const FAR: u32 = u32::MAX;
        let mut depth = vec![FAR; n];
        let mut frontier: Vec<u32> = Vec::new();
        for &l in &self.seed_index[share.clone()] {
            if depth[l as usize] == FAR {
                depth[l as usize] = 0;
                frontier.push(l);
            }
        }
        let mine = frontier.clone();
        for d in 0..hops as u32 {
            let mut next = Vec::new();
            for &u in &frontier {
                for &e in &by_col[start[u as usize] as usize..start[u as usize + 1] as usize] {
                    let r = self.row[e as usize] as usize;
                    if depth[r] == FAR {
                        depth[r] = d + 1;
                        next.push(r as u32);
                    }
                }
            }
            frontier = next;
        }
        // New positions: the share's seeds, then every other kept node in order.
        let mut at = vec![u32::MAX; n];
        let mut out = SamplerOutput::default();
        for &l in &mine {
            at[l as usize] = out.node.len() as u32;
            out.node.push(self.node[l as usize]);
        }
        let mut begin = 0;
        for (h, &count) in self.num_sampled_nodes.iter().enumerate() {
            let before = if h == 0 { 0 } else { out.node.len() };
            for l in begin..begin + count {
                if depth[l] != FAR && at[l] == u32::MAX {
                    at[l] = out.node.len() as u32;
                    out.node.push(self.node[l]);
                }
            }
            out.num_sampled_nodes.push(out.node.len() - before);
            begin += count;
        }
        let mut e0 = 0;
        for &count in &self.num_sampled_edges {
            let before = out.row.len();
            for e in e0..e0 + count {
                let c = self.col[e] as usize;
                if depth[c] < hops as u32 {
                    out.row.push(at[self.row[e] as usize]);
                    out.col.push(at[c]);
                }
            }
            out.num_sampled_edges.push(out.row.len() - before);
            e0 += count;
        }
        out.seed_index = self.seed_index[share].iter().map(|&l| at[l as usize]).collect();
        out
    }
}

impl NeighborSampler {
    /// A sampler for `hops`, all walking node type `node_type` (checked).
    pub fn new(hops: Vec<HopSpec>, strategy: Strategy) -> Result<Self> {
        let first = hops.first().ok_or_else(|| Error::Invalid("a neighbour sampler needs at least one hop".into()))?;
        let node_type = first.relation.from;
        for (i, h) in hops.iter().enumerate() {
            if h.relation.from != node_type || h.relation.to != node_type {
                return Err(Error::Invalid(format!(
                    "hop {}: the relation changes node type; this sampler walks one node type (heterogeneous blocks come with typed sampling)",
                    i + 1
                )));
            }
            if h.fanout == 0 && strategy != Strategy::Full {
                return Err(Error::Invalid(format!("hop {}: fan-out must be at least 1", i + 1)));
            }
        }
        Ok(NeighborSampler { hops, strategy, node_type })
    }

    /// Samples one batch of `seeds` with randomness from `seed`.
    pub fn sample<G: NeighborAccess + ?Sized>(&self, g: &G, seeds: &[u32], seed: u64) -> Result<SamplerOutput> {
        self.sample_with(g, seeds, seed, &mut |_, _, _| true)
    }

    /// [`sample`](Self::sample), expanding at hop `h` (0-based) only the
    /// frontier nodes for which `expand(h, position in out.node, node)` holds;
    /// the others keep no sampled neighbours at that hop (a training loop
    /// that already holds their next-layer input skips their subtree).
    pub fn sample_with<G: NeighborAccess + ?Sized>(
        &self,
        g: &G,
        seeds: &[u32],
        seed: u64,
        expand: &mut dyn FnMut(usize, u32, u32) -> bool,
    ) -> Result<SamplerOutput> {
        let mut out = SamplerOutput::default();
        self.fill(g, seeds, seed, expand, &mut out)?;
        Ok(out)
    }

    /// [`sample`](Self::sample) into `out`, whose vectors are cleared and
    /// refilled, keeping their allocations: a caller that samples batch
    /// after batch into one output touches no fresh memory (the Python
    /// binding, whose process allocator returns freed memory to the kernel).
    /// With `SamplerOutput<i64>`, the indices are written as int64 as they
    /// are sampled (the same values as the `u32` sample).
    pub fn sample_into<G: NeighborAccess + ?Sized, I: Index>(&self, g: &G, seeds: &[u32], seed: u64, out: &mut SamplerOutput<I>) -> Result<()> {
        self.fill(g, seeds, seed, &mut |_, _, _| true, out)
    }

    fn fill<G: NeighborAccess + ?Sized, I: Index>(
        &self,
        g: &G,
        seeds: &[u32],
        seed: u64,
        expand: &mut dyn FnMut(usize, u32, u32) -> bool,
        out: &mut SamplerOutput<I>,
    ) -> Result<()> {
        let n = g.node_count(self.node_type);
        if let Some(bad) = crate::access::first_outside(seeds, n) {
            return Err(Error::Invalid(format!("seed node {bad} is outside 0..{n}")));
        }
        out.clear();
        SCRATCH.with(|cell| {
            let (remap, sampled) = &mut *cell.borrow_mut();
            remap.begin(n);
            out.seed_index.extend(seeds.iter().map(|&s| I::from_u32(remap.get_or_insert(s, &mut out.node))));
            out.num_sampled_nodes.push(out.node.len());
            let mut frontier = 0..out.node.len();
            let mut chosen: Vec<u32> = Vec::new();
            let mut chosen_nodes: Vec<u32> = Vec::new();
            for (h, hop) in self.hops.iter().enumerate() {
                sampled.clear();
                chosen.clear();
                chosen.extend(frontier.clone().map(|i| i as u32).filter(|&i| expand(h, i, out.node[i as usize].to_u32())));
                let all = chosen.len() == frontier.len();
                let nodes = match I::as_u32s(&out.node[frontier.clone()]) {
                    Some(nodes) if all => nodes,
                    _ => {
                        chosen_nodes.clear();
                        chosen_nodes.extend(chosen.iter().map(|&i| out.node[i as usize].to_u32()));
                        &chosen_nodes[..]
                    }
                };
                g.sample_neighbors(hop.relation, nodes, hop.fanout, self.strategy, derive(seed, h as u64), sampled)?;
                let before_nodes = out.node.len();
                let before_edges = out.row.len();
                out.row.reserve(sampled.neighbors.len());
                out.col.reserve(sampled.neighbors.len());
                for (j, w) in sampled.offsets.windows(2).enumerate() {
                    let dst = chosen[j];
                    for &v in &sampled.neighbors[w[0] as usize..w[1] as usize] {
                        let src = remap.get_or_insert(v, &mut out.node);
                        out.row.push(I::from_u32(src));
                        out.col.push(I::from_u32(dst));
                    }
                }
                out.num_sampled_nodes.push(out.node.len() - before_nodes);
                out.num_sampled_edges.push(out.row.len() - before_edges);
                frontier = before_nodes..out.node.len();
            }
            Ok(())
        })
    }

    /// Samples every batch of `batch_size` consecutive seeds, in parallel;
    /// batch `b` draws from `derive(seed, b)`, so the result is identical for
    /// any thread count.
    pub fn sample_batches<G: NeighborAccess + ?Sized>(&self, g: &G, seeds: &[u32], batch_size: usize, seed: u64) -> Result<Vec<SamplerOutput>> {
        if batch_size == 0 {
            return Err(Error::Invalid("batch size must be at least 1".into()));
        }
        seeds.par_chunks(batch_size).enumerate().map(|(b, s)| self.sample(g, s, derive(seed, b as u64))).collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::access::LocalGraph;
    use ferrograph_graph::idmap::NodeIds;
    use ferrograph_graph::topology::{BuildOptions, build_topology};
    use ferrograph_graph::{Direction, EdgeStore, EdgeTypeSchema, Graph, IdKind, NodeStore, NodeTypeSchema, Schema};

    /// A one-type graph of `n` nodes with edge type `e` (reverse `rev_e`).
    pub(crate) fn graph(n: usize, edges: &[(u32, u32)]) -> Graph {
        let (s, d): (Vec<u32>, Vec<u32>) = edges.iter().copied().unzip();
        let b = build_topology(n, n, s, d, BuildOptions::default()).unwrap();
        let schema = Schema {
            node_types: vec![NodeTypeSchema { name: "n".into(), id_kind: IdKind::Dense, attributes: vec![], sets: vec![] }],
            edge_types: vec![EdgeTypeSchema {
                relation: "e".into(),
                src: "n".into(),
                dst: "n".into(),
                reverse: "rev_e".into(),
                undirected: false,
                attributes: vec![],
            }],
        };
        Graph::from_parts(
            schema,
            vec![NodeStore { ids: NodeIds::Dense(n as u32), columns: vec![], sets: vec![] }],
            vec![EdgeStore { out: b.out, inn: b.inn, columns: vec![], self_loops: b.self_loops }],
        )
        .unwrap()
    }

    fn rel(g: &Graph, name: &str) -> Relation {
        Relation::resolve(g, name).unwrap()
    }

    #[test]
    fn blocks_are_reindexed_and_point_at_real_neighbours() {
        let mut edges = Vec::new();
        for u in 0..200u32 {
            for k in 1..=(u % 23) {
                edges.push(((u * 7 + k * 13) % 200, u));
            }
        }
        let g = graph(200, &edges);
        let r = rel(&g, "rev_e");
        let s =
            NeighborSampler::new(vec![HopSpec { relation: r, fanout: 5 }, HopSpec { relation: r, fanout: 3 }], Strategy::RandomWithoutReplacement)
                .unwrap();
        let out = s.sample(&LocalGraph::new(&g), &[3, 17, 3, 150], 9).unwrap();
        assert_eq!(out.num_sampled_nodes[0], 3, "duplicate seed merged");
        assert_eq!(out.seed_index, vec![0, 1, 0, 2]);
        let mut seen = out.node.clone();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), out.node.len(), "each node once");
        let mut start_e = 0;
        let mut block = 0..out.num_sampled_nodes[0];
        for (h, &ne) in out.num_sampled_edges.iter().enumerate() {
            for i in start_e..start_e + ne {
                let (src, dst) = (out.node[out.row[i] as usize], out.node[out.col[i] as usize]);
                assert!(block.contains(&(out.col[i] as usize)), "hop {h} expands its frontier");
                assert!(g.neighbors(r.edge_type, Direction::In, ferrograph_graph::LocalIdx(dst)).contains(&src));
            }
            start_e += ne;
            let end = block.end;
            block = end..end + out.num_sampled_nodes[h + 1];
        }
        // fan-out respected, and no repeats without replacement
        for d in 0..out.num_sampled_nodes[0] as u32 {
            let mut mine: Vec<u32> = (0..out.num_sampled_edges[0]).filter(|&i| out.col[i] == d).map(|i| out.row[i]).collect();
            assert!(mine.len() <= 5);
            mine.sort_unstable();
            mine.dedup();
            assert_eq!(mine.len(), (0..out.num_sampled_edges[0]).filter(|&i| out.col[i] == d).count());
        }
    }

    #[test]
    fn without_replacement_is_uniform_over_neighbours() {
        // node 0 has 10 in-neighbours; draw 3 of them many times (chi-square, 9 dof)
        let edges: Vec<(u32, u32)> = (1..=10).map(|u| (u, 0)).collect();
        let g = graph(11, &edges);
        let s = NeighborSampler::new(vec![HopSpec { relation: rel(&g, "rev_e"), fanout: 3 }], Strategy::RandomWithoutReplacement).unwrap();
        let mut counts = [0f64; 11];
        let trials = 20_000;
        for t in 0..trials {
            let out = s.sample(&LocalGraph::new(&g), &[0], t).unwrap();
            assert_eq!(out.row.len(), 3);
            for &r in &out.row {
                counts[out.node[r as usize] as usize] += 1.0;
            }
        }
        let expect = trials as f64 * 3.0 / 10.0;
        let chi2: f64 = counts[1..].iter().map(|c| (c - expect).powi(2) / expect).sum();
        assert!(chi2 < 27.88, "chi-square {chi2} (p = 0.001 bound for 9 dof)");
    }

    #[test]
    fn with_replacement_draws_fanout_and_full_takes_all() {
        let edges: Vec<(u32, u32)> = (1..=4).map(|u| (u, 0)).collect();
        let g = graph(5, &edges);
        let r = rel(&g, "rev_e");
        let out = NeighborSampler::new(vec![HopSpec { relation: r, fanout: 9 }], Strategy::Random)
            .unwrap()
            .sample(&LocalGraph::new(&g), &[0, 1], 1)
            .unwrap();
        assert_eq!(out.num_sampled_edges, vec![9], "node 1 has no in-neighbours");
        let out =
            NeighborSampler::new(vec![HopSpec { relation: r, fanout: 1 }], Strategy::Full).unwrap().sample(&LocalGraph::new(&g), &[0], 1).unwrap();
        assert_eq!(out.num_sampled_edges, vec![4]);
    }

    #[test]
    fn same_seed_same_batches_for_any_thread_count() {
        let mut x = 1u64;
        let edges: Vec<(u32, u32)> = (0..30_000)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                (((x >> 33) % 3000) as u32, ((x >> 13) % 3000) as u32)
            })
            .collect();
        let g = graph(3000, &edges);
        let r = rel(&g, "rev_e");
        let s =
            NeighborSampler::new(vec![HopSpec { relation: r, fanout: 15 }, HopSpec { relation: r, fanout: 10 }], Strategy::RandomWithoutReplacement)
                .unwrap();
        let seeds: Vec<u32> = (0..3000).rev().collect();
        let run = |t| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
                .install(|| s.sample_batches(&LocalGraph::new(&g), &seeds, 256, 5).unwrap())
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(8));
        assert_ne!(one, s.sample_batches(&LocalGraph::new(&g), &seeds, 256, 6).unwrap(), "another seed differs");
        // Sampling into a used output (longer than the next batch's) gives
        // the same batches.
        let lg = LocalGraph::new(&g);
        let mut out = s.sample(&lg, &seeds, 9).unwrap();
        for (i, (b, want)) in seeds.chunks(256).zip(&one).enumerate() {
            s.sample_into(&lg, b, derive(5, i as u64), &mut out).unwrap();
            assert_eq!(&out, want);
        }
        // Sampled as int64 (the Python binding's arrays), with a partial
        // expansion too: the same values.
        let mut wide = SamplerOutput::<i64>::default();
        let widen = |v: &[u32]| v.iter().map(|&x| i64::from(x)).collect::<Vec<i64>>();
        for (i, (b, want)) in seeds.chunks(256).zip(&one).enumerate() {
            s.sample_into(&lg, b, derive(5, i as u64), &mut wide).unwrap();
            assert_eq!(wide.node, widen(&want.node));
            assert_eq!((&wide.row, &wide.col), (&widen(&want.row), &widen(&want.col)));
            assert_eq!(wide.seed_index, widen(&want.seed_index));
            assert_eq!((&wide.num_sampled_nodes, &wide.num_sampled_edges), (&want.num_sampled_nodes, &want.num_sampled_edges));
        }
        let odd = &mut |h: usize, i: u32, v: u32| !(2 * i + v + h as u32).is_multiple_of(3);
        let narrow = s.sample_with(&lg, &seeds[..256], 4, odd).unwrap();
        s.fill(&lg, &seeds[..256], 4, odd, &mut wide).unwrap();
        let full = s.sample(&lg, &seeds[..256], 4).unwrap();
        assert!(
            narrow.num_sampled_edges[0] < full.num_sampled_edges[0],
            "some nodes were skipped: {:?} {:?}",
            narrow.num_sampled_edges,
            full.num_sampled_edges
        );
        assert_eq!((wide.node, wide.row, wide.col), (widen(&narrow.node), widen(&narrow.row), widen(&narrow.col)));
    }

    #[test]
    fn receptive_fields_keep_each_seeds_neighbourhood() {
        let mut x = 7u64;
        let edges: Vec<(u32, u32)> = (0..4_000)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                (((x >> 33) % 400) as u32, ((x >> 13) % 400) as u32)
            })
            .collect();
        let g = graph(400, &edges);
        let r = rel(&g, "rev_e");
        let s =
            NeighborSampler::new(vec![HopSpec { relation: r, fanout: 4 }, HopSpec { relation: r, fanout: 3 }], Strategy::RandomWithoutReplacement)
                .unwrap();
        let seeds: Vec<u32> = (0..60).map(|i| i * 5).collect();
        let all = s.sample(&LocalGraph::new(&g), &seeds, 3).unwrap();
        // A node's neighbourhood tree, `depth` edges deep, as global ids.
        fn tree(o: &SamplerOutput, l: u32, depth: usize) -> Vec<(u32, Vec<u32>)> {
            if depth == 0 {
                return vec![];
            }
            let mut out = vec![(o.node[l as usize], vec![])];
            let m: usize = o.num_sampled_edges.iter().sum();
            for e in 0..m {
                if o.col[e] == l {
                    out[0].1.push(o.node[o.row[e] as usize]);
                    out.extend(tree(o, o.row[e], depth - 1));
                }
            }
            out
        }
        let whole = all.receptive_field(0..seeds.len());
        assert_eq!(whole, all, "the whole batch's field is the sample itself");
        for share in [0..20, 20..40, 40..60, 7..8] {
            let part = all.receptive_field(share.clone());
            assert_eq!(part.seed_index.len(), share.len());
            for (i, p) in share.clone().enumerate() {
                assert_eq!(part.seed_index[i], i as u32, "the share's seeds come first, in order");
                assert_eq!(tree(&part, part.seed_index[i], 2), tree(&all, all.seed_index[p], 2));
            }
            // The layout invariants of a sample hold.
            let mut block = 0..part.num_sampled_nodes[0];
            let mut e = 0;
            for h in 0..2 {
                for i in e..e + part.num_sampled_edges[h] {
                    assert!(block.contains(&(part.col[i] as usize)));
                    assert!((part.row[i] as usize) < block.end + part.num_sampled_nodes[h + 1]);
                }
                e += part.num_sampled_edges[h];
                block = block.end..block.end + part.num_sampled_nodes[h + 1];
            }
            assert_eq!(part.node.len(), part.num_sampled_nodes.iter().sum::<usize>());
            assert!(part.node.len() < all.node.len());
        }
    }

    #[test]
    fn rejects_bad_seeds_and_type_changes() {
        let g = graph(3, &[(0, 1)]);
        let s = NeighborSampler::new(vec![HopSpec { relation: rel(&g, "e"), fanout: 2 }], Strategy::Random).unwrap();
        assert!(s.sample(&LocalGraph::new(&g), &[7], 0).unwrap_err().to_string().contains("outside 0..3"));
        assert!(NeighborSampler::new(vec![], Strategy::Random).is_err());
    }
}
