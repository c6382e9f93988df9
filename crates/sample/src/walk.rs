//! Random walks: DeepWalk (uniform), node2vec (exact second-order
//! transition probabilities with return parameter `p` and in-out parameter
//! `q`), and metapath walks over a cycle of typed relations.
//!
//! # Requests
//! Walks advance in chunks of 4,096, one step at a time, and no step fetches
//! a neighbour row:
//! - a first-order step (DeepWalk, metapaths, node2vec's first step, or
//!   `p = q = 1`) draws one neighbour per walk with one
//!   `sample_neighbors(k = 1, Random)` request;
//! - a second-order node2vec step is exact rejection sampling (KnightKing):
//!   a uniform neighbour `x` of the current node is accepted with probability
//!   `w(x) / max(1/p, 1, 1/q)`, where `w = 1/p` if `x` is the previous node,
//!   `1` if `x` is a neighbour of the previous node and `1/q` otherwise.
//!   Candidates come in rounds of 1, 1, 2, 4, 8, 16 and 32 per walk (64 in
//!   all); a round is one `sample_neighbors` request plus at most one batched
//!   [`NeighborAccess::has_edges`] request, for the walks still rejecting, and
//!   only candidates whose fate depends on the membership are tested. A walk
//!   with no accepted candidate after 64 (rare unless `p` or `q` is extreme)
//!   takes the step from its current and previous full rows with the exact
//!   weights, so every step has exactly node2vec's distribution.
//!
//! # Randomness
//! Walk `i` of a call is slot `i mod 4096` of chunk `⌊i / 4096⌋`. Its
//! candidates at step `s`, round `r` are what `sample_neighbors` draws at
//! position `i mod 4096` of a request seeded with
//! `derive(derive(derive(seed ^ CANDIDATES, ⌊i / 4096⌋), s), r)` (requests
//! always cover the slots up to the last walk still drawing; other slots
//! carry a filler node whose draws are ignored); its acceptance coins and
//! full-row draws come from `SplitMix(derive(seed, i))`. Walk `i` thus
//! depends on its start and on `(seed, i)` only: the output is identical for
//! any thread count and whatever the other starts are.

use rayon::prelude::*;

use crate::access::{NeighborAccess, Relation, Sampled, Strategy};
use crate::rng::{SplitMix, derive};
use crate::{Error, Result};

/// Marks the steps of a walk that stopped early (a node without neighbours).
pub const PAD: u32 = u32::MAX;

/// Walks per chunk: one request per step covers a chunk.
const CHUNK: usize = 4096;
/// Candidates per walk in each rejection round of a second-order step.
const ROUNDS: [usize; 7] = [1, 1, 2, 4, 8, 16, 32];
/// Separates the request streams from the walks' own `derive(seed, i)`.
const CANDIDATES: u64 = 0x243f_6a88_85a3_08d3;

/// The seed of the candidate request of `chunk` at `step`, `round`.
fn request_seed(seed: u64, chunk: usize, step: usize, round: usize) -> u64 {
    derive(derive(derive(seed ^ CANDIDATES, chunk as u64), step as u64), round as u64)
}

/// A uniform draw in `[0, 1)` from 53 random bits.
#[inline]
fn unit(rng: &mut SplitMix) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A random-walk sampler.
#[derive(Clone, Debug)]
pub struct Walker {
    relations: Vec<Relation>,
    length: usize,
    p: f64,
    q: f64,
}

/// What a coin says about a candidate before (or without) the membership test.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Accept,
    Reject,
    /// Accepted iff the candidate is a neighbour of the previous node.
    IfNeighbor,
    /// Accepted iff the candidate is not a neighbour of the previous node.
    IfNotNeighbor,
}

/// node2vec's acceptance thresholds: `w / max(1/p, 1, 1/q)` for each weight.
#[derive(Clone, Copy)]
struct Thresholds {
    back: f64,
    common: f64,
    out: f64,
}

impl Thresholds {
    fn new(p: f64, q: f64) -> Self {
        let (b, o) = (1.0 / p, 1.0 / q);
        let m = b.max(1.0).max(o);
        Thresholds { back: b / m, common: 1.0 / m, out: o / m }
    }

    /// The verdict on candidate `x` (previous node `prev`) with coin `u`:
    /// accepted iff `u < w(x) / max`.
    fn verdict(self, x: u32, prev: u32, u: f64) -> Verdict {
        if x == prev {
            return if u < self.back { Verdict::Accept } else { Verdict::Reject };
        }
        match (u < self.common, u < self.out) {
            (true, true) => Verdict::Accept,
            (false, false) => Verdict::Reject,
            (true, false) => Verdict::IfNeighbor,
            (false, true) => Verdict::IfNotNeighbor,
        }
    }
}

/// One walk's candidates in a rejection round.
struct Drawn {
    /// Slot of the walk in its chunk.
    walk: usize,
    /// Its candidates: `cands.neighbors[range]`, coins alike.
    range: std::ops::Range<usize>,
    /// Where its membership answers start, if it asked any.
    asks: usize,
}

impl Walker {
    /// node2vec walks of `length` steps along one relation; `p = q = 1` is DeepWalk.
    pub fn node2vec(relation: Relation, length: usize, p: f64, q: f64) -> Result<Self> {
        if !(p > 0.0 && q > 0.0 && (1.0 / p).is_finite() && (1.0 / q).is_finite() && p.is_finite() && q.is_finite()) {
            return Err(Error::Invalid(format!("node2vec needs finite p > 0 and q > 0 with finite 1/p and 1/q (got p = {p}, q = {q})")));
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
    /// with [`PAD`] after a dead end. Walk `i` depends only on its start and
    /// its own streams (see the module docs), so the result is identical for
    /// any thread count. Each step of a chunk of 4,096 walks is one batched
    /// `NeighborAccess` request (a few for node2vec's rejection rounds).
    pub fn walks<G: NeighborAccess + ?Sized>(&self, g: &G, starts: &[u32], seed: u64) -> Result<Vec<u32>> {
        let n0 = g.node_count(self.relations[0].from);
        if let Some(s) = crate::access::first_outside(starts, n0) {
            return Err(Error::Invalid(format!("start node {s} is outside 0..{n0}")));
        }
        if starts.is_empty() {
            return Ok(Vec::new());
        }
        // The output is `starts × (length + 1)` ids; refuse what cannot be allocated.
        const MAX_IDS: u64 = (isize::MAX as u64) / 4;
        let len = self
            .length
            .checked_add(1)
            .filter(|&l| (l as u64).saturating_mul(starts.len() as u64) <= MAX_IDS)
            .ok_or_else(|| Error::TooLarge { what: format!("{} walks of length {}", starts.len(), self.length), limit: MAX_IDS })?;
        let mut out = crate::room(Some(starts.len() * len), || format!("{} walks of length {}", starts.len(), self.length))?;
        out.resize(starts.len() * len, PAD);
        let chunk = CHUNK.min(starts.len());
        out.par_chunks_mut(chunk * len)
            .zip(starts.par_chunks(chunk))
            .enumerate()
            .try_for_each(|(c, (walks, starts))| self.walk_chunk(g, starts, c, seed, walks))?;
        Ok(out)
    }

    fn walk_chunk<G: NeighborAccess + ?Sized>(&self, g: &G, starts: &[u32], chunk: usize, seed: u64, out: &mut [u32]) -> Result<()> {
        let len = self.length + 1;
        let n = starts.len();
        let base = chunk * CHUNK;
        let mut rngs: Vec<SplitMix> = (0..n).map(|i| SplitMix::new(derive(seed, (base + i) as u64))).collect();
        for (i, &s) in starts.iter().enumerate() {
            out[i * len] = s;
        }
        let mut alive: Vec<usize> = (0..n).collect();
        let second_order = self.relations.len() == 1 && (self.p != 1.0 || self.q != 1.0);
        let mut s = Scratch::default();
        for step in 1..len {
            if alive.is_empty() {
                break;
            }
            let rel = self.relations[(step - 1) % self.relations.len()];
            alive = if second_order && step >= 2 {
                self.second_order_step(g, rel, chunk, seed, step, &alive, out, &mut rngs, &mut s)?
            } else {
                slot_request(out, len, step, &alive, &mut s.nodes);
                s.cands.clear();
                g.sample_neighbors(rel, &s.nodes, 1, Strategy::Random, request_seed(seed, chunk, step, 0), &mut s.cands)?;
                let mut next = Vec::with_capacity(alive.len());
                for &w in &alive {
                    if let Some(&x) = row(&s.cands, w).first() {
                        out[w * len + step] = x;
                        next.push(w);
                    }
                }
                next
            };
        }
        Ok(())
    }

    /// One second-order step for the walks `alive` (slots, ascending):
    /// rejection rounds, then the exact full-row draw for walks still
    /// unresolved. Returns the walks that moved.
    #[allow(clippy::too_many_arguments)]
    fn second_order_step<G: NeighborAccess + ?Sized>(
        &self,
        g: &G,
        rel: Relation,
        chunk: usize,
        seed: u64,
        step: usize,
        alive: &[usize],
        out: &mut [u32],
        rngs: &mut [SplitMix],
        s: &mut Scratch,
    ) -> Result<Vec<usize>> {
        let len = self.length + 1;
        let th = Thresholds::new(self.p, self.q);
        let at = |out: &[u32], w: usize, back: usize| out[w * len + step - back];
        let mut moved = Vec::with_capacity(alive.len());
        let mut pending: Vec<usize> = alive.to_vec();
        for (round, &k) in ROUNDS.iter().enumerate() {
            if pending.is_empty() {
                break;
            }
            slot_request(out, len, step, &pending, &mut s.nodes);
            s.cands.clear();
            g.sample_neighbors(rel, &s.nodes, k, Strategy::Random, request_seed(seed, chunk, step, round), &mut s.cands)?;
            // Coins first (as many as candidates, so a walk's stream advances
            // the same whatever is asked), then the membership tests that
            // matter: those before the first certain acceptance.
            s.coins.clear();
            s.coins.resize(s.cands.neighbors.len(), 0.0);
            s.drawn.clear();
            s.ask_nodes.clear();
            s.ask_targets.clear();
            for &w in &pending {
                let range = s.cands.offsets[w] as usize..s.cands.offsets[w + 1] as usize;
                if range.is_empty() {
                    continue; // a dead end: the walk stops here
                }
                let prev = at(out, w, 2);
                let asks = s.ask_nodes.len();
                for i in range.clone() {
                    s.coins[i] = unit(&mut rngs[w]);
                }
                for i in range.clone() {
                    match th.verdict(s.cands.neighbors[i], prev, s.coins[i]) {
                        Verdict::Accept => break,
                        Verdict::Reject => {}
                        Verdict::IfNeighbor | Verdict::IfNotNeighbor => {
                            s.ask_nodes.push(prev);
                            s.ask_targets.push(s.cands.neighbors[i]);
                        }
                    }
                }
                s.drawn.push(Drawn { walk: w, range, asks });
            }
            s.answers.clear();
            if !s.ask_nodes.is_empty() {
                g.has_edges(rel, &s.ask_nodes, &s.ask_targets, &mut s.answers)?;
            }
            pending.clear();
            for d in &s.drawn {
                let prev = at(out, d.walk, 2);
                let mut asked = d.asks;
                let mut chosen = None;
                for i in d.range.clone() {
                    let x = s.cands.neighbors[i];
                    let accept = match th.verdict(x, prev, s.coins[i]) {
                        Verdict::Accept => true,
                        Verdict::Reject => false,
                        v => {
                            asked += 1;
                            s.answers[asked - 1] == (v == Verdict::IfNeighbor)
                        }
                    };
                    if accept {
                        chosen = Some(x);
                        break;
                    }
                }
                match chosen {
                    Some(x) => {
                        out[d.walk * len + step] = x;
                        moved.push(d.walk);
                    }
                    None => pending.push(d.walk),
                }
            }
        }
        if !pending.is_empty() {
            // The exact distribution from the full rows, for the few walks left.
            s.nodes.clear();
            s.nodes.extend(pending.iter().map(|&w| at(out, w, 1)));
            s.cands.clear();
            g.sample_neighbors(rel, &s.nodes, 0, Strategy::Full, 0, &mut s.cands)?;
            s.nodes.clear();
            s.nodes.extend(pending.iter().map(|&w| at(out, w, 2)));
            s.prev_rows.clear();
            g.sample_neighbors(rel, &s.nodes, 0, Strategy::Full, 0, &mut s.prev_rows)?;
            for (j, &w) in pending.iter().enumerate() {
                let cur_row = row(&s.cands, j);
                if cur_row.is_empty() {
                    continue;
                }
                let prev = at(out, w, 2);
                let prev_row = row(&s.prev_rows, j);
                out[w * len + step] = self.exact_step(cur_row, prev, prev_row, &mut rngs[w], &mut s.coins);
                moved.push(w);
            }
        }
        moved.sort_unstable();
        Ok(moved)
    }

    /// node2vec's step from a full row, with the exact weights (`prev_row`
    /// sorted, as `Full` rows are).
    fn exact_step(&self, row: &[u32], prev: u32, prev_row: &[u32], rng: &mut SplitMix, weights: &mut Vec<f64>) -> u32 {
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
        let mut r = unit(rng) * total;
        let mut pick = row.len() - 1;
        for (i, w) in weights.iter().enumerate() {
            if r < *w {
                pick = i;
                break;
            }
            r -= w;
        }
        row[pick]
    }
}

/// Buffers reused across the steps of a chunk.
#[derive(Default)]
struct Scratch {
    nodes: Vec<u32>,
    cands: Sampled,
    prev_rows: Sampled,
    coins: Vec<f64>,
    drawn: Vec<Drawn>,
    ask_nodes: Vec<u32>,
    ask_targets: Vec<u32>,
    answers: Vec<bool>,
}

/// Row `i` of a batched answer.
fn row(s: &Sampled, i: usize) -> &[u32] {
    &s.neighbors[s.offsets[i] as usize..s.offsets[i + 1] as usize]
}

/// The nodes of a request whose position `w` is walk `w`'s current node, for
/// the walks `walks` (slots, ascending); the other slots up to the last walk
/// carry the first walk's node (valid for the relation; draws ignored).
fn slot_request(out: &[u32], len: usize, step: usize, walks: &[usize], nodes: &mut Vec<u32>) {
    let cur = |w: usize| out[w * len + step - 1];
    let last = walks[walks.len() - 1];
    nodes.clear();
    nodes.resize(last + 1, cur(walks[0]));
    for &w in walks {
        nodes[w] = cur(w);
    }
}
