//! Heterogeneous neighbour sampling into typed message-flow blocks, and
//! metapath neighbours.
//!
//! # Output ([`HeteroOutput`])
//! - `nodes[t]`: the sampled nodes of node type `t`, each once, in the
//!   order they were first reached: the seeds first (their type only), then
//!   the nodes first reached at hop 1, then hop 2, … `num_nodes[t][h]` says
//!   how many of type `t` came at hop `h`.
//! - `edges`: one [`RelEdges`] per (hop, relation) of the sampler, in that
//!   order: `nodes[to][row[i]]` is a neighbour sampled along `relation` for
//!   `nodes[from][col[i]]`, so messages flow `row → col` (from the
//!   relation's `to` type into its `from` type).
//! - Hop `h + 1` expands, along every relation of that hop that starts at
//!   type `t`, exactly the nodes of type `t` first reached at hop `h`: each
//!   node is expanded once per relation, so its sampled neighbourhood is the
//!   same in every layer that reads it (PyG's heterogeneous semantics).
//!
//! For an `L`-layer model, layer `k` (0 = first applied) computes the
//! nodes of hops `0..L-1-k` of every type from those of hops `0..L-k` over
//! the edges of hops `1..=L-k` (see [`HeteroOutput::layer_counts`]): per
//! type, destinations are a prefix of the sources, as in the homogeneous
//! blocks.
//!
//! Randomness: node `i` of relation `r`'s input at hop `h` draws from
//! `derive(derive(derive(seed, h), r), i)` through [`NeighborAccess`], so
//! the output is identical for any thread count.

use std::cell::RefCell;

use ferrograph_graph::NodeTypeId;

use crate::access::{NeighborAccess, Relation, Sampled, Strategy};
use crate::rng::derive;
use crate::walk::{PAD, Walker};
use crate::{Error, Result};

/// One relation of a hop with its fan-out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypedHopSpec {
    /// The relation walked (its `from` nodes are expanded).
    pub relation: Relation,
    /// Neighbours per node.
    pub fanout: usize,
}

/// The sampled edges of one relation at one hop.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RelEdges {
    /// 1-based hop.
    pub hop: usize,
    /// Index of the relation within its hop's list.
    pub relation: usize,
    /// Neighbour (message source) of each edge: index into `nodes[to]`.
    pub row: Vec<u32>,
    /// Expanded node (message destination): index into `nodes[from]`.
    pub col: Vec<u32>,
}

/// The re-indexed typed sample of one batch; see the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeteroOutput {
    /// Per node type: sampled nodes (local indices), in order of first reach.
    pub nodes: Vec<Vec<u32>>,
    /// Per node type: nodes added at each hop (`[0]`: the seeds).
    pub num_nodes: Vec<Vec<usize>>,
    /// Sampled edges per (hop, relation).
    pub edges: Vec<RelEdges>,
    /// Position in `nodes[seed type]` of each seed as given.
    pub seed_index: Vec<u32>,
}

impl HeteroOutput {
    /// Nodes of each type reached at hops `0..=h`.
    pub fn reached(&self, h: usize) -> Vec<usize> {
        self.num_nodes.iter().map(|c| c[..=h.min(c.len() - 1)].iter().sum()).collect()
    }

    /// For layer `k` of an `layers`-layer model: (destination counts,
    /// source counts) per node type, and the highest hop whose edges it uses.
    pub fn layer_counts(&self, layers: usize, k: usize) -> (Vec<usize>, Vec<usize>, usize) {
        let top = layers - k;
        (self.reached(top - 1), self.reached(top), top)
    }
}

/// Per-thread maps from node to position, one per node type (see
/// `neighbor.rs`: an epoch stamp makes starting a batch O(1)).
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
    fn get_or_insert(&mut self, v: u32, node: &mut Vec<u32>) -> u32 {
        let i = v as usize;
        if self.stamp[i] == self.epoch {
            return self.local[i];
        }
        self.stamp[i] = self.epoch;
        let l = node.len() as u32;
        self.local[i] = l;
        node.push(v);
        l
    }
}

thread_local! {
    static SCRATCH: RefCell<(Vec<Remap>, Sampled)> = RefCell::new((Vec::new(), Sampled::default()));
}

/// A multi-hop sampler over typed relations.
#[derive(Clone, Debug)]
pub struct HeteroSampler {
    hops: Vec<Vec<TypedHopSpec>>,
    strategy: Strategy,
    seed_type: NodeTypeId,
    types: usize,
}

impl HeteroSampler {
    /// A sampler from seeds of `seed_type` through `hops` (the relations
    /// walked at each hop, each with its fan-out), over a graph with `types`
    /// node types.
    pub fn new(seed_type: NodeTypeId, types: usize, hops: Vec<Vec<TypedHopSpec>>, strategy: Strategy) -> Result<Self> {
        if hops.is_empty() {
            return Err(Error::Invalid("a heterogeneous sampler needs at least one hop".into()));
        }
        if seed_type.0 as usize >= types {
            return Err(Error::Invalid(format!("seed node type {} is not one of the graph's {types}", seed_type.0)));
        }
        for (h, hop) in hops.iter().enumerate() {
            for t in hop {
                if t.relation.from.0 as usize >= types || t.relation.to.0 as usize >= types {
                    return Err(Error::Invalid(format!("hop {}: relation joins node types outside the graph", h + 1)));
                }
                if t.fanout == 0 && strategy != Strategy::Full {
                    return Err(Error::Invalid(format!("hop {}: fan-out must be at least 1", h + 1)));
                }
            }
        }
        Ok(HeteroSampler { hops, strategy, seed_type, types })
    }

    /// Hops.
    pub fn hops(&self) -> &[Vec<TypedHopSpec>] {
        &self.hops
    }

    /// Samples one batch of `seeds` with randomness from `seed`.
    pub fn sample<G: NeighborAccess + ?Sized>(&self, g: &G, seeds: &[u32], seed: u64) -> Result<HeteroOutput> {
        let n_seed = g.node_count(self.seed_type);
        if let Some(bad) = crate::access::first_outside(seeds, n_seed) {
            return Err(Error::Invalid(format!("seed node {bad} is outside 0..{n_seed}")));
        }
        SCRATCH.with(|cell| {
            let (remaps, sampled) = &mut *cell.borrow_mut();
            remaps.resize_with(self.types, Remap::default);
            for (t, r) in remaps.iter_mut().enumerate() {
                r.begin(g.node_count(NodeTypeId(t as u16)));
            }
            let st = self.seed_type.0 as usize;
            let mut out = HeteroOutput { nodes: vec![Vec::new(); self.types], num_nodes: vec![Vec::new(); self.types], ..Default::default() };
            out.seed_index = seeds.iter().map(|&s| remaps[st].get_or_insert(s, &mut out.nodes[st])).collect();
            for t in 0..self.types {
                out.num_nodes[t].push(out.nodes[t].len());
            }
            // Frontier per type: the nodes first reached at the previous hop.
            let mut frontier: Vec<std::ops::Range<usize>> = (0..self.types).map(|t| 0..out.nodes[t].len()).collect();
            for (h, hop) in self.hops.iter().enumerate() {
                let before: Vec<usize> = out.nodes.iter().map(Vec::len).collect();
                for (r, th) in hop.iter().enumerate() {
                    let (from, to) = (th.relation.from.0 as usize, th.relation.to.0 as usize);
                    let range = frontier[from].clone();
                    let mut e = RelEdges { hop: h + 1, relation: r, ..Default::default() };
                    if !range.is_empty() {
                        sampled.clear();
                        let nodes: Vec<u32> = out.nodes[from][range.clone()].to_vec();
                        g.sample_neighbors(th.relation, &nodes, th.fanout, self.strategy, derive(derive(seed, h as u64), r as u64), sampled)?;
                        e.row.reserve(sampled.neighbors.len());
                        e.col.reserve(sampled.neighbors.len());
                        for (j, w) in sampled.offsets.windows(2).enumerate() {
                            let dst = (range.start + j) as u32;
                            for &v in &sampled.neighbors[w[0] as usize..w[1] as usize] {
                                let src = remaps[to].get_or_insert(v, &mut out.nodes[to]);
                                e.row.push(src);
                                e.col.push(dst);
                            }
                        }
                    }
                    out.edges.push(e);
                }
                for t in 0..self.types {
                    out.num_nodes[t].push(out.nodes[t].len() - before[t]);
                    frontier[t] = before[t]..out.nodes[t].len();
                }
            }
            Ok(out)
        })
    }
}

/// Metapath neighbours: for every seed, `k` walks along `metapath` (a chain
/// of relations from the seed type back to it, e.g. paper → author →
/// paper), each step uniform among the current node's neighbours; the
/// walk's last node is a metapath neighbour (HAN's neighbourhood). Walks
/// that dead-end yield nothing. Returns CSR offsets (`seeds + 1`) and the
/// neighbours; walk `i·k + j` is walk `i·k + j` of one [`Walker::walks`]
/// call, so it depends only on its seed and index.
pub fn metapath_neighbors<G: NeighborAccess + ?Sized>(
    g: &G,
    metapath: &[Relation],
    seeds: &[u32],
    k: usize,
    seed: u64,
) -> Result<(Vec<u64>, Vec<u32>)> {
    let first = metapath.first().ok_or_else(|| Error::Invalid("a metapath needs at least one relation".into()))?;
    let last = metapath[metapath.len() - 1];
    if last.to != first.from {
        return Err(Error::Invalid("a metapath for neighbours must end at the node type it starts from".into()));
    }
    let walker = Walker::metapath(metapath.to_vec(), metapath.len())?;
    let starts: Vec<u32> = seeds.iter().flat_map(|&s| std::iter::repeat_n(s, k)).collect();
    let walks = walker.walks(g, &starts, seed)?;
    let len = metapath.len() + 1;
    let mut offsets = Vec::with_capacity(seeds.len() + 1);
    let mut out = Vec::with_capacity(starts.len());
    offsets.push(0);
    for i in 0..seeds.len() {
        for j in 0..k {
            let end = walks[(i * k + j) * len + len - 1];
            if end != PAD {
                out.push(end);
            }
        }
        offsets.push(out.len() as u64);
    }
    Ok((offsets, out))
}
