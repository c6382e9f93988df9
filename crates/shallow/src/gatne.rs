//! GATNE-T (Cen et al., KDD 2019; AliGraph's model for multiplex graphs):
//! one embedding per node *and relation*, trained on per-relation random
//! walks with skip-gram and negative sampling.
//!
//! For node `v` and relation `r` (of `m` relations over one node type):
//!
//! ```text
//! U_v[r']  = mean of u[j][r'] over a fixed sample of v's r'-neighbours   (s wide, r' = 1..m)
//! α        = softmax over r' of  w_r · tanh(W_r U_v[r'])                 (attention, a wide)
//! e_{v,r}  = b_v + M_r^T Σ_r' α[r'] U_v[r']                              (d wide)
//! ê_{v,r}  = e_{v,r} / |e_{v,r}|
//! ```
//!
//! `b` is the base embedding shared by all relations, `u` the edge-type
//! embeddings (`n × m × s`), `M_r`, `W_r`, `w_r` per-relation weights. A
//! walk on relation `r`'s subgraph gives skip-gram pairs `(v, c)`; the loss
//! is `-log σ(ê_{v,r}·c_c) - Σ log σ(-ê_{v,r}·c_neg)` with context table
//! `c` and negatives drawn from the walk-frequency distribution to the
//! 0.75, as in word2vec.
//!
//! Training follows word2vec where it can: embedding rows (`b`, `u`, `c`)
//! are updated in place by SGD with a linearly decaying rate; the shared
//! per-relation weights, which every pair of their relation touches, are
//! accumulated over `batch` centres and stepped with Adam. A centre's
//! forward pass is computed once and its gradient summed over every
//! context in its window before one backward pass (the window shares the
//! centre's embedding, so this is exact for the summed loss). One thread,
//! deterministic for a seed.
//!
//! Training is steppable ([`Gatne::train_range`]): an epoch visits the walks
//! of all relations in one order shuffled once from the seed
//! ([`Gatne::walks`] of them), and position `i` of epoch `e` draws from its
//! own generator seeded by `(seed, e, i)` at the learning rate of its place
//! in all epochs; the Adam batches count centres across calls. Any cut of an
//! epoch into consecutive ranges therefore gives the same model bit for
//! bit, and [`Gatne::to_bytes`] (parameters, Adam moments, the pending batch
//! gradient, noise table, neighbour samples) resumes exactly. Neighbour aggregation is a mean where the
//! GATNE reference code sums (scale-free, so `s` and the neighbour sample
//! size do not change the step size); a node with no neighbours in a
//! relation aggregates itself, as in the reference code.
//!
//! Cost per centre: `m·k·s` for aggregation, `2·m·s·a` for attention,
//! `2·s·d` for the transform, `2·(1+neg)·d` per context. Everything of one
//! centre lives in a few KiB; the random rows (`u` of `m·k` neighbours,
//! `c` of the contexts and negatives) are the memory traffic.

use ferrograph_graph::{Graph, LocalIdx};
use ferrograph_sample::rng::{SplitMix, derive};
use ferrograph_sample::walk::{PAD, Walker};
use ferrograph_sample::{LocalGraph, Relation};

use std::ops::Range;
use std::time::Instant;

use crate::bytes::{Reader, Writer, product};
use crate::skipgram::Noise;
use crate::{Error, Result, StepStats, neg_log_sigmoid};

/// The walks GATNE trains on, per relation.
#[derive(Clone, Copy, Debug)]
pub struct WalkSpec {
    /// Walks started from every node, per relation.
    pub walks_per_node: usize,
    /// Steps per walk.
    pub length: usize,
    /// node2vec return parameter (1 for DeepWalk walks).
    pub p: f64,
    /// node2vec in-out parameter (1 for DeepWalk walks).
    pub q: f64,
}

/// Walks on each relation of `relations` (all over one node type), builds
/// the neighbour samples from `g` and trains a model; returns it with the
/// mean loss per pair of each epoch (a wrapper over [`fit_with_stats`]).
pub fn fit(g: &Graph, relations: &[Relation], walk: &WalkSpec, cfg: &GatneConfig, seed: u64) -> Result<(Gatne, Vec<f64>)> {
    let (model, stats) = fit_with_stats(g, relations, walk, cfg, seed)?;
    Ok((model, stats.iter().map(StepStats::mean_loss).collect()))
}

/// [`fit`], returning each epoch's [`StepStats`] (pairs, loss, tokens and
/// the epoch's own wall-clock seconds).
pub fn fit_with_stats(g: &Graph, relations: &[Relation], walk: &WalkSpec, cfg: &GatneConfig, seed: u64) -> Result<(Gatne, Vec<StepStats>)> {
    let (mut model, walks) = prepare(g, relations, walk, cfg, seed)?;
    let len = walk.length + 1;
    let stats = (0..cfg.epochs).map(|e| model.train_epoch(&walks, len, e)).collect::<Result<Vec<_>>>()?;
    Ok((model, stats))
}

/// The walks (`walk.length + 1` slots each) on each relation of
/// `relations` and the initial model over them: what [`fit`] trains, for
/// callers that drive the epochs themselves ([`Gatne::train_range`]).
pub fn prepare(g: &Graph, relations: &[Relation], walk: &WalkSpec, cfg: &GatneConfig, seed: u64) -> Result<(Gatne, Vec<Vec<u32>>)> {
    let Some(first) = relations.first() else {
        return Err(crate::Error::Invalid("GATNE needs at least one relation".into()));
    };
    if let Some(r) = relations.iter().find(|r| r.from != first.from || r.to != first.from) {
        return Err(crate::Error::Invalid(format!(
            "GATNE relations must all join one node type to itself; edge type {} does not",
            g.schema().edge_types[r.edge_type.0 as usize].relation
        )));
    }
    let n = g.node_count(first.from);
    let local = LocalGraph::new(g);
    let starts: Vec<u32> = (0..walk.walks_per_node).flat_map(|_| 0..n as u32).collect();
    let mut walks = Vec::with_capacity(relations.len());
    for (i, &r) in relations.iter().enumerate() {
        let walker = Walker::node2vec(r, walk.length, walk.p, walk.q)?;
        walks.push(walker.walks(&local, &starts, derive(seed, 100 + i as u64))?);
    }
    let lists: Vec<Box<dyn Fn(usize) -> Vec<u32> + '_>> = relations
        .iter()
        .map(|&r| Box::new(move |v: usize| g.neighbors(r.edge_type, r.direction, LocalIdx(v as u32)).to_vec()) as Box<dyn Fn(usize) -> Vec<u32>>)
        .collect();
    let refs: Vec<&dyn Fn(usize) -> Vec<u32>> = lists.iter().map(|f| f.as_ref()).collect();
    let model = Gatne::new(n, &refs, &walks, walk.length + 1, cfg, seed)?;
    Ok((model, walks))
}

/// Hyper-parameters (defaults are the reference implementation's where it
/// has them).
#[derive(Clone, Debug)]
pub struct GatneConfig {
    /// Width of the output and base embeddings (`d`).
    pub dim: usize,
    /// Width of the edge-type embeddings (`s`).
    pub edge_dim: usize,
    /// Width of the attention hidden layer (`a`).
    pub att_dim: usize,
    /// Neighbours sampled per node and relation for aggregation.
    pub neighbor_samples: usize,
    /// Maximum context distance (each centre draws a window in `1..=window`).
    pub window: usize,
    /// Negatives per positive pair.
    pub negatives: usize,
    /// Passes over the walks.
    pub epochs: usize,
    /// Starting SGD rate of the embedding rows (decays linearly).
    pub lr: f32,
    /// Adam rate of the shared per-relation weights.
    pub lr_shared: f32,
    /// Centres per Adam step of the shared weights.
    pub batch: usize,
}

impl Default for GatneConfig {
    fn default() -> Self {
        GatneConfig {
            dim: 64,
            edge_dim: 10,
            att_dim: 20,
            neighbor_samples: 10,
            window: 5,
            negatives: 5,
            epochs: 1,
            lr: 0.025,
            lr_shared: 0.01,
            batch: 64,
        }
    }
}

/// A GATNE-T model and its training state.
#[derive(Clone)]
pub struct Gatne {
    n: usize,
    m: usize,
    cfg: GatneConfig,
    /// `n × d` base embeddings.
    base: Vec<f32>,
    /// `n × m × s` edge-type embeddings.
    edge: Vec<f32>,
    /// `n × d` context embeddings.
    ctx: Vec<f32>,
    /// `m × s × d` transforms `M_r`.
    trans: Vec<f32>,
    /// `m × s × a` attention weights `W_r` (transposed).
    att1: Vec<f32>,
    /// `m × a` attention vectors `w_r`.
    att2: Vec<f32>,
    /// `n × m × k` sampled neighbours.
    neigh: Vec<u32>,
    seed: u64,
    /// Slots per walk.
    walk_len: usize,
    /// Walks per relation.
    counts: Vec<usize>,
    /// The epoch's order: (relation, walk), shuffled from the seed (not
    /// stored in checkpoints: recomputed from the seed and `counts`).
    order: Vec<(u32, u32)>,
    noise: Noise,
    /// Adam state of `trans`, `att1`, `att2`.
    adam: [Adam; 3],
    /// Their gradients summed over the centres of the pending batch.
    grads: Grads,
    /// Centres trained so far (a batch ends at every multiple of `batch`).
    centres: u64,
}

impl std::fmt::Debug for Gatne {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gatne")
            .field("nodes", &self.n)
            .field("relations", &self.m)
            .field("cfg", &self.cfg)
            .field("walks", &self.counts)
            .field("walk_len", &self.walk_len)
            .field("centres", &self.centres)
            .finish_non_exhaustive()
    }
}

/// Adam state of one shared parameter block.
#[derive(Clone)]
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    t: i32,
}

impl Adam {
    fn new(len: usize) -> Adam {
        Adam { m: vec![0.0; len], v: vec![0.0; len], t: 0 }
    }

    /// One ascent step (`grad` is the gradient of the log-likelihood), then
    /// clears `grad`.
    fn step(&mut self, w: &mut [f32], grad: &mut [f32], lr: f32) {
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        self.t += 1;
        let (c1, c2) = (1.0 - B1.powi(self.t), 1.0 - B2.powi(self.t));
        for i in 0..w.len() {
            let g = grad[i];
            self.m[i] = B1 * self.m[i] + (1.0 - B1) * g;
            self.v[i] = B2 * self.v[i] + (1.0 - B2) * g * g;
            w[i] += lr * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + 1e-8);
            grad[i] = 0.0;
        }
    }
}

/// Forward intermediates of one `(v, r)`.
struct Forward {
    /// `m × s` aggregated edge embeddings.
    agg: Vec<f32>,
    /// `m × a` attention hidden values.
    hidden: Vec<f32>,
    /// `m` attention weights.
    alpha: Vec<f32>,
    /// `s` attended edge embedding.
    mixed: Vec<f32>,
    /// `d` unnormalised output.
    e: Vec<f32>,
    /// `|e|`.
    norm: f32,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x.clamp(-30.0, 30.0)).exp())
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Gatne {
    /// The initial model over `n` nodes and `m` relations, with
    /// `neighbors[r](v)` the training neighbours of `v` in relation `r`,
    /// for training on `walks[r]`: flat walks of `walk_len` slots (padded
    /// with [`PAD`]) on relation `r`'s subgraph (negatives come from their
    /// node frequencies). Errors on a bad configuration, walk sets that are
    /// not one whole set per relation, or a node ≥ `n`.
    pub fn new(
        n: usize,
        neighbors: &[&dyn Fn(usize) -> Vec<u32>],
        walks: &[Vec<u32>],
        walk_len: usize,
        cfg: &GatneConfig,
        seed: u64,
    ) -> Result<Gatne> {
        let m = neighbors.len();
        check_config(cfg, m)?;
        if walks.len() != m
            || (walk_len == 0 && walks.iter().any(|w| !w.is_empty()))
            || walks.iter().any(|w| (walk_len > 0 && !w.len().is_multiple_of(walk_len)) || w.iter().any(|&v| v != PAD && v as usize >= n))
        {
            return Err(Error::Invalid(format!("GATNE needs {m} walk sets (one per relation) of whole {walk_len}-slot walks over nodes 0..{n}")));
        }
        let (d, s, a, k) = (cfg.dim, cfg.edge_dim, cfg.att_dim, cfg.neighbor_samples.max(1));
        product(&[n, m, s.max(k).max(d)]).map_err(|_| Error::Invalid("GATNE's tables would not fit in memory".into()))?;
        let mut rng = SplitMix::new(derive(seed, 0x6a7e));
        let mut uniform = |scale: f32| ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale;
        let base = (0..n * d).map(|_| uniform(0.5 / d as f32)).collect();
        let edge = (0..n * m * s).map(|_| uniform(0.5 / s as f32)).collect();
        let trans: Vec<f32> = (0..m * s * d).map(|_| uniform((3.0 / s as f32).sqrt())).collect();
        let att1: Vec<f32> = (0..m * s * a).map(|_| uniform((3.0 / s as f32).sqrt())).collect();
        let att2: Vec<f32> = (0..m * a).map(|_| uniform((3.0 / a as f32).sqrt())).collect();
        let mut neigh = vec![0u32; n * m * k];
        let mut pick = SplitMix::new(derive(seed, 0x6e16));
        for v in 0..n {
            for (r, list) in neighbors.iter().enumerate() {
                let list = list(v);
                if let Some(&u) = list.iter().find(|&&u| u as usize >= n) {
                    return Err(Error::Invalid(format!("GATNE: neighbour {u} of node {v} in relation {r} is not below {n}")));
                }
                let row = &mut neigh[(v * m + r) * k..(v * m + r + 1) * k];
                for slot in row {
                    *slot = if list.is_empty() { v as u32 } else { list[(pick.next_u64() % list.len() as u64) as usize] };
                }
            }
        }
        let all: Vec<u32> = walks.iter().flatten().copied().collect();
        let counts: Vec<usize> = walks.iter().map(|w| w.len().checked_div(walk_len).unwrap_or(0)).collect();
        let (grads, adam) = Grads::with_adam(&trans, &att1, &att2);
        Ok(Gatne {
            n,
            m,
            cfg: cfg.clone(),
            base,
            edge,
            ctx: vec![0.0; n * d],
            trans,
            att1,
            att2,
            neigh,
            seed,
            walk_len,
            order: order(&counts, seed),
            counts,
            noise: Noise::new(&all, n),
            adam,
            grads,
            centres: 0,
        })
    }

    /// Walks in an epoch, over all relations ([`Gatne::train_range`]
    /// ranges index these).
    pub fn walks(&self) -> usize {
        self.order.len()
    }

    /// The configuration.
    pub fn config(&self) -> &GatneConfig {
        &self.cfg
    }

    /// Nodes.
    pub fn nodes(&self) -> usize {
        self.n
    }

    /// Number of relations.
    pub fn relations(&self) -> usize {
        self.m
    }

    fn forward(&self, v: usize, r: usize) -> Forward {
        let (m, d, s, a, k) = (self.m, self.cfg.dim, self.cfg.edge_dim, self.cfg.att_dim, self.cfg.neighbor_samples.max(1));
        let mut agg = vec![0f32; m * s];
        for rr in 0..m {
            let out = &mut agg[rr * s..(rr + 1) * s];
            for &j in &self.neigh[(v * m + rr) * k..(v * m + rr + 1) * k] {
                let row = &self.edge[(j as usize * m + rr) * s..(j as usize * m + rr + 1) * s];
                for (o, x) in out.iter_mut().zip(row) {
                    *o += x;
                }
            }
            out.iter_mut().for_each(|o| *o /= k as f32);
        }
        let w1 = &self.att1[r * s * a..(r + 1) * s * a];
        let w2 = &self.att2[r * a..(r + 1) * a];
        let mut hidden = vec![0f32; m * a];
        let mut score = vec![0f32; m];
        for rr in 0..m {
            let h = &mut hidden[rr * a..(rr + 1) * a];
            for (j, &u) in agg[rr * s..(rr + 1) * s].iter().enumerate() {
                for (hi, w) in h.iter_mut().zip(&w1[j * a..(j + 1) * a]) {
                    *hi += u * w;
                }
            }
            h.iter_mut().for_each(|x| *x = x.tanh());
            score[rr] = dot(h, w2);
        }
        let top = score.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let mut alpha: Vec<f32> = score.iter().map(|x| (x - top).exp()).collect();
        let z: f32 = alpha.iter().sum();
        alpha.iter_mut().for_each(|x| *x /= z);
        let mut mixed = vec![0f32; s];
        for rr in 0..m {
            for (o, x) in mixed.iter_mut().zip(&agg[rr * s..(rr + 1) * s]) {
                *o += alpha[rr] * x;
            }
        }
        let mut e = self.base[v * d..(v + 1) * d].to_vec();
        let t = &self.trans[r * s * d..(r + 1) * s * d];
        for (j, &x) in mixed.iter().enumerate() {
            for (o, w) in e.iter_mut().zip(&t[j * d..(j + 1) * d]) {
                *o += x * w;
            }
        }
        let norm = dot(&e, &e).sqrt().max(1e-12);
        Forward { agg, hidden, alpha, mixed, e, norm }
    }

    /// The normalised embedding `ê_{v,r}`.
    pub fn embedding(&self, v: usize, r: usize) -> Vec<f32> {
        let f = self.forward(v, r);
        f.e.iter().map(|x| x / f.norm).collect()
    }

    /// All `n × d` embeddings of relation `r`, row-major.
    pub fn embeddings(&self, r: usize) -> Vec<f32> {
        (0..self.n).flat_map(|v| self.embedding(v, r)).collect()
    }

    /// Backward pass of one centre: `g_out` is the gradient of the
    /// log-likelihood with respect to `ê`. Rows are stepped by `lr`; the
    /// shared weights' gradients are added to `grads`.
    fn backward(&mut self, v: usize, r: usize, f: &Forward, g_out: &[f32], lr: f32, grads: &mut Grads) {
        let (m, d, s, a, k) = (self.m, self.cfg.dim, self.cfg.edge_dim, self.cfg.att_dim, self.cfg.neighbor_samples.max(1));
        // Through the normalisation: de = (g - ê (ê·g)) / |e|.
        let proj = dot(&f.e, g_out) / f.norm;
        let de: Vec<f32> = f.e.iter().zip(g_out).map(|(e, g)| (g - e / f.norm * proj) / f.norm).collect();
        // e = b + M_r^T mixed.
        let t = &self.trans[r * s * d..(r + 1) * s * d];
        let gt = &mut grads.trans[r * s * d..(r + 1) * s * d];
        let mut dmixed = vec![0f32; s];
        for j in 0..s {
            let row = &t[j * d..(j + 1) * d];
            dmixed[j] = dot(row, &de);
            for (gg, x) in gt[j * d..(j + 1) * d].iter_mut().zip(&de) {
                *gg += f.mixed[j] * x;
            }
        }
        for (b, x) in self.base[v * d..(v + 1) * d].iter_mut().zip(&de) {
            *b += lr * x;
        }
        // mixed = Σ α[r'] agg[r'].
        let mut dagg = vec![0f32; m * s];
        let mut dalpha = vec![0f32; m];
        for rr in 0..m {
            let u = &f.agg[rr * s..(rr + 1) * s];
            dalpha[rr] = dot(u, &dmixed);
            for (o, x) in dagg[rr * s..(rr + 1) * s].iter_mut().zip(&dmixed) {
                *o = f.alpha[rr] * x;
            }
        }
        // Softmax, then score = w_r · tanh(W_r agg).
        let mean: f32 = f.alpha.iter().zip(&dalpha).map(|(p, g)| p * g).sum();
        let w1 = &self.att1[r * s * a..(r + 1) * s * a];
        let w2 = &self.att2[r * a..(r + 1) * a];
        for rr in 0..m {
            let dscore = f.alpha[rr] * (dalpha[rr] - mean);
            let h = &f.hidden[rr * a..(rr + 1) * a];
            let mut dpre = vec![0f32; a];
            for i in 0..a {
                grads.att2[r * a + i] += dscore * h[i];
                dpre[i] = dscore * w2[i] * (1.0 - h[i] * h[i]);
            }
            let u = &f.agg[rr * s..(rr + 1) * s];
            for j in 0..s {
                let wrow = &w1[j * a..(j + 1) * a];
                dagg[rr * s + j] += dot(wrow, &dpre);
                for (gg, x) in grads.att1[(r * s + j) * a..(r * s + j + 1) * a].iter_mut().zip(&dpre) {
                    *gg += u[j] * x;
                }
            }
        }
        // agg[r'] = mean of the sampled neighbours' u[·][r'].
        for rr in 0..m {
            let step: Vec<f32> = dagg[rr * s..(rr + 1) * s].iter().map(|x| lr * x / k as f32).collect();
            for q in 0..k {
                let j = self.neigh[(v * m + rr) * k + q] as usize;
                for (o, x) in self.edge[(j * m + rr) * s..(j * m + rr + 1) * s].iter_mut().zip(&step) {
                    *o += x;
                }
            }
        }
    }

    /// Trains positions `range` of epoch `epoch`'s walk order (see the
    /// module docs; `walks` and `walk_len` are what the model was built
    /// for) and returns the pairs, their exact loss (`−log σ(ê·c⁺) − Σ log
    /// σ(−ê·c⁻)` per pair, before its update), the tokens and the seconds.
    /// The shared weights step every `batch` centres, counted across calls,
    /// and once more after the last range of the last epoch.
    pub fn train_range(&mut self, walks: &[Vec<u32>], walk_len: usize, epoch: usize, range: Range<usize>) -> Result<StepStats> {
        let started = Instant::now();
        if walk_len != self.walk_len || walks.len() != self.m || walks.iter().zip(&self.counts).any(|(w, &c)| w.len() != c * walk_len) {
            return Err(Error::Invalid(format!(
                "the model was built for {:?} walks of {} slots per relation; got other walks",
                self.counts, self.walk_len
            )));
        }
        if epoch >= self.cfg.epochs {
            return Err(Error::Invalid(format!("epoch {epoch} is past the configured {} epoch(s)", self.cfg.epochs)));
        }
        if range.start > range.end || range.end > self.order.len() {
            return Err(Error::Invalid(format!("walk range {range:?} is not within the {} walks", self.order.len())));
        }
        let walk_of = |&(r, w): &(u32, u32)| &walks[r as usize][w as usize * walk_len..(w as usize + 1) * walk_len];
        if let Some(&v) = self.order[range.clone()].iter().flat_map(walk_of).find(|&&v| v != PAD && v as usize >= self.n) {
            return Err(Error::Invalid(format!("walk node {v} is not below the node count {}", self.n)));
        }
        let d = self.cfg.dim;
        let total = (self.order.len() * self.cfg.epochs).max(1) as f32;
        let epoch_seed = derive(self.seed, 0x7a1_0000 + epoch as u64);
        let mut grads = std::mem::replace(&mut self.grads, Grads { trans: Vec::new(), att1: Vec::new(), att2: Vec::new() });
        let mut adam = std::mem::replace(&mut self.adam, [Adam::new(0), Adam::new(0), Adam::new(0)]);
        let (mut loss, mut pairs, mut tokens) = (0f64, 0u64, 0u64);
        let mut g_ctx = vec![0f32; d];
        for step in range.clone() {
            let (r, w) = self.order[step];
            let lr = (self.cfg.lr * (1.0 - (epoch * self.order.len() + step) as f32 / total)).max(self.cfg.lr * 1e-4);
            let mut rng = SplitMix::new(derive(epoch_seed, step as u64));
            let walk = walk_of(&(r, w));
            let len = walk.iter().position(|&x| x == PAD).unwrap_or(walk_len);
            tokens += len as u64;
            for i in 0..len {
                let v = walk[i] as usize;
                let f = self.forward(v, r as usize);
                let out: Vec<f32> = f.e.iter().map(|x| x / f.norm).collect();
                let mut g_out = vec![0f32; d];
                let b = 1 + (rng.next_u64() % self.cfg.window.max(1) as u64) as usize;
                let lo = i.saturating_sub(b);
                for (j, &target) in walk[..len].iter().enumerate().skip(lo).take(i + b + 1 - lo) {
                    if j == i {
                        continue;
                    }
                    let target = target as usize;
                    for q in 0..=self.cfg.negatives {
                        let (c, label) = if q == 0 { (target, 1.0) } else { (self.noise.draw(&mut rng) as usize, 0.0) };
                        if q > 0 && c == target {
                            continue;
                        }
                        let row = &mut self.ctx[c * d..(c + 1) * d];
                        let score = dot(&out, row);
                        loss += neg_log_sigmoid(if label > 0.0 { f64::from(score) } else { -f64::from(score) });
                        let g = label - sigmoid(score);
                        for t in 0..d {
                            g_ctx[t] = g * out[t];
                            g_out[t] += g * row[t];
                        }
                        for (x, y) in row.iter_mut().zip(&g_ctx) {
                            *x += lr * y;
                        }
                    }
                    pairs += 1;
                }
                self.backward(v, r as usize, &f, &g_out, lr, &mut grads);
                self.centres += 1;
                if self.centres.is_multiple_of(self.cfg.batch.max(1) as u64) {
                    self.step_shared(&mut grads, &mut adam);
                }
            }
        }
        if epoch + 1 == self.cfg.epochs && range.end == self.order.len() && !range.is_empty() {
            // The last partial batch of the training.
            self.step_shared(&mut grads, &mut adam);
        }
        self.grads = grads;
        self.adam = adam;
        Ok(StepStats { pairs, loss_sum: loss, tokens, seconds: started.elapsed().as_secs_f64() })
    }

    /// Trains all walks of epoch `epoch` in one call.
    pub fn train_epoch(&mut self, walks: &[Vec<u32>], walk_len: usize, epoch: usize) -> Result<StepStats> {
        self.train_range(walks, walk_len, epoch, 0..self.order.len())
    }

    /// The whole model and training state as bytes (see
    /// [`Gatne::from_bytes`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(MAGIC);
        let c = &self.cfg;
        for x in [self.n, self.m, c.dim, c.edge_dim, c.att_dim, c.neighbor_samples, c.window, c.negatives, c.epochs, c.batch, self.walk_len] {
            w.usize(x);
        }
        w.f32(c.lr);
        w.f32(c.lr_shared);
        w.u64(self.seed);
        w.u64(self.centres);
        for &count in &self.counts {
            w.usize(count);
        }
        self.noise.write(&mut w);
        for block in [&self.base, &self.edge, &self.ctx, &self.trans, &self.att1, &self.att2] {
            w.f32s(block.iter().copied());
        }
        w.u32s(self.neigh.iter().copied());
        for (adam, grad) in self.adam.iter().zip([&self.grads.trans, &self.grads.att1, &self.grads.att2]) {
            w.u32(adam.t as u32);
            w.f32s(adam.m.iter().copied());
            w.f32s(adam.v.iter().copied());
            w.f32s(grad.iter().copied());
        }
        w.finish()
    }

    /// A model from [`Gatne::to_bytes`]; errors (never panics) on bytes
    /// that are not a whole, uncorrupted GATNE checkpoint of this format
    /// version.
    pub fn from_bytes(bytes: &[u8]) -> Result<Gatne> {
        let mut r = Reader::open(bytes, MAGIC, "GATNE")?;
        let mut next = || r.usize();
        let (n, m, dim, edge_dim, att_dim, neighbor_samples) = (next()?, next()?, next()?, next()?, next()?, next()?);
        let (window, negatives, epochs, batch, walk_len) = (next()?, next()?, next()?, next()?, next()?);
        let (lr, lr_shared) = (r.f32()?, r.f32()?);
        let cfg = GatneConfig { dim, edge_dim, att_dim, neighbor_samples, window, negatives, epochs, lr, lr_shared, batch };
        check_config(&cfg, m).map_err(|e| Error::Checkpoint(e.to_string()))?;
        let (seed, centres) = (r.u64()?, r.u64()?);
        let counts = (0..m).map(|_| r.usize()).collect::<Result<Vec<_>>>()?;
        let walks = counts.iter().try_fold(0usize, |acc, &c| acc.checked_add(c)).ok_or_else(|| Error::Checkpoint("walk counts overflow".into()))?;
        product(&[walks, walk_len])?;
        if walks > u32::MAX as usize {
            return Err(Error::Checkpoint("too many walks".into()));
        }
        let noise = Noise::read(&mut r, n)?;
        let k = neighbor_samples;
        let base = r.f32s(product(&[n, dim])?)?;
        let edge = r.f32s(product(&[n, m, edge_dim])?)?;
        let ctx = r.f32s(product(&[n, dim])?)?;
        let trans = r.f32s(product(&[m, edge_dim, dim])?)?;
        let att1 = r.f32s(product(&[m, edge_dim, att_dim])?)?;
        let att2 = r.f32s(product(&[m, att_dim])?)?;
        let neigh = r.u32s(product(&[n, m, k])?)?;
        if neigh.iter().any(|&u| u as usize >= n) {
            return Err(Error::Checkpoint("a neighbour sample is not a node".into()));
        }
        let mut shared = Vec::new();
        for len in [trans.len(), att1.len(), att2.len()] {
            let t = r.u32()?;
            let t = i32::try_from(t).map_err(|_| Error::Checkpoint("bad Adam step count".into()))?;
            shared.push((Adam { m: r.f32s(len)?, v: r.f32s(len)?, t }, r.f32s(len)?));
        }
        r.finish()?;
        let [(a0, g0), (a1, g1), (a2, g2)]: [(Adam, Vec<f32>); 3] = shared.try_into().map_err(|_| Error::Checkpoint("Adam state".into()))?;
        Ok(Gatne {
            n,
            m,
            cfg,
            base,
            edge,
            ctx,
            trans,
            att1,
            att2,
            neigh,
            seed,
            walk_len,
            order: order(&counts, seed),
            counts,
            noise,
            adam: [a0, a1, a2],
            grads: Grads { trans: g0, att1: g1, att2: g2 },
            centres,
        })
    }

    fn step_shared(&mut self, grads: &mut Grads, adam: &mut [Adam; 3]) {
        let scale = 1.0 / self.cfg.batch.max(1) as f32;
        for g in [&mut grads.trans, &mut grads.att1, &mut grads.att2] {
            g.iter_mut().for_each(|x| *x *= scale);
        }
        let lr = self.cfg.lr_shared;
        adam[0].step(&mut self.trans, &mut grads.trans, lr);
        adam[1].step(&mut self.att1, &mut grads.att1, lr);
        adam[2].step(&mut self.att2, &mut grads.att2, lr);
    }

    /// The log-likelihood of one centre against fixed contexts, for the
    /// gradient check.
    #[cfg(test)]
    fn objective(&self, v: usize, r: usize, ctx: &[(usize, f32)]) -> f32 {
        let e = self.embedding(v, r);
        let d = self.cfg.dim;
        ctx.iter()
            .map(|&(c, y)| {
                let p = sigmoid(dot(&e, &self.ctx[c * d..(c + 1) * d]));
                if y > 0.0 { p.ln() } else { (1.0 - p).ln() }
            })
            .sum()
    }
}

/// Gradients of the shared per-relation weights.
#[derive(Clone)]
struct Grads {
    trans: Vec<f32>,
    att1: Vec<f32>,
    att2: Vec<f32>,
}

impl Grads {
    /// Zero gradients and fresh Adam states for the shared weights.
    fn with_adam(trans: &[f32], att1: &[f32], att2: &[f32]) -> (Grads, [Adam; 3]) {
        (
            Grads { trans: vec![0.0; trans.len()], att1: vec![0.0; att1.len()], att2: vec![0.0; att2.len()] },
            [Adam::new(trans.len()), Adam::new(att1.len()), Adam::new(att2.len())],
        )
    }
}

const MAGIC: &[u8; 8] = b"FGGATNE\0";

fn check_config(cfg: &GatneConfig, m: usize) -> Result<()> {
    if m == 0 {
        return Err(Error::Invalid("GATNE needs at least one relation".into()));
    }
    if cfg.dim == 0 || cfg.edge_dim == 0 || cfg.att_dim == 0 || cfg.neighbor_samples == 0 || cfg.window == 0 || cfg.batch == 0 {
        return Err(Error::Invalid(format!("GATNE needs every width, the neighbour samples, the window and the batch ≥ 1 ({cfg:?})")));
    }
    if !(cfg.lr.is_finite() && cfg.lr > 0.0 && cfg.lr_shared.is_finite() && cfg.lr_shared >= 0.0) {
        return Err(Error::Invalid(format!("GATNE's learning rates must be finite and positive ({}, {})", cfg.lr, cfg.lr_shared)));
    }
    Ok(())
}

/// An epoch's walk order: the walks of all relations interleaved, so
/// every Adam batch mixes them, shuffled once from the seed.
fn order(counts: &[usize], seed: u64) -> Vec<(u32, u32)> {
    let mut order: Vec<(u32, u32)> = counts.iter().enumerate().flat_map(|(r, &c)| (0..c as u32).map(move |i| (r as u32, i))).collect();
    let mut rng = SplitMix::new(derive(seed, 0x7a1));
    for i in (1..order.len()).rev() {
        order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written backward pass against central differences, for
    /// every parameter block.
    #[test]
    fn backward_matches_finite_differences() {
        let cfg = GatneConfig { dim: 6, edge_dim: 4, att_dim: 3, neighbor_samples: 2, ..Default::default() };
        let n = 5;
        let lists: Vec<Vec<Vec<u32>>> =
            vec![vec![vec![1, 2], vec![0], vec![0, 3], vec![2], vec![]], vec![vec![4], vec![2, 3], vec![1], vec![1, 4], vec![0, 3]]];
        let f0 = |v: usize| lists[0][v].clone();
        let f1 = |v: usize| lists[1][v].clone();
        let mut g = Gatne::new(n, &[&f0, &f1], &[vec![0, 1, 2], vec![3, 4, PAD]], 3, &cfg, 3).unwrap();
        let mut rng = SplitMix::new(9);
        for x in g.ctx.iter_mut() {
            *x = ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0;
        }
        let (v, r) = (2, 1);
        let ctx = [(1usize, 1.0f32), (3, 0.0), (4, 0.0)];
        // Analytic: g_out from the contexts, then one backward with lr = 1
        // (row deltas are the gradients); shared gradients in `grads`.
        let f = g.forward(v, r);
        let out: Vec<f32> = f.e.iter().map(|x| x / f.norm).collect();
        let mut g_out = vec![0f32; cfg.dim];
        for &(c, y) in &ctx {
            let row = &g.ctx[c * cfg.dim..(c + 1) * cfg.dim];
            let p = sigmoid(dot(&out, row));
            for t in 0..cfg.dim {
                g_out[t] += (y - p) * row[t];
            }
        }
        let mut grads = Grads { trans: vec![0.0; g.trans.len()], att1: vec![0.0; g.att1.len()], att2: vec![0.0; g.att2.len()] };
        let mut after = g.clone();
        after.backward(v, r, &f, &g_out, 1.0, &mut grads);
        let numeric = |g: &Gatne, get: &dyn Fn(&mut Gatne) -> &mut f32| {
            let h = 1e-3;
            let (mut a, mut b) = (g.clone(), g.clone());
            *get(&mut a) += h;
            *get(&mut b) -= h;
            (a.objective(v, r, &ctx) - b.objective(v, r, &ctx)) / (2.0 * h)
        };
        let close = |what: &str, i: usize, analytic: f32, num: f32| {
            assert!((analytic - num).abs() < 2e-2 * (1.0 + num.abs()), "{what}[{i}]: analytic {analytic}, numeric {num}");
        };
        for i in 0..g.base.len() {
            close("base", i, after.base[i] - g.base[i], numeric(&g, &|m: &mut Gatne| &mut m.base[i]));
        }
        for i in 0..g.edge.len() {
            close("edge", i, after.edge[i] - g.edge[i], numeric(&g, &|m: &mut Gatne| &mut m.edge[i]));
        }
        for i in 0..g.trans.len() {
            close("trans", i, grads.trans[i], numeric(&g, &|m: &mut Gatne| &mut m.trans[i]));
        }
        for i in 0..g.att1.len() {
            close("att1", i, grads.att1[i], numeric(&g, &|m: &mut Gatne| &mut m.att1[i]));
        }
        for i in 0..g.att2.len() {
            close("att2", i, grads.att2[i], numeric(&g, &|m: &mut Gatne| &mut m.att2[i]));
        }
    }

    /// Two relations over 60 nodes with different communities (relation 0:
    /// blocks of 15, relation 1: residues mod 4), neighbour lists and
    /// walks that stay in the community with probability 0.9.
    fn toy(cfg: &GatneConfig, walks_per_node: usize) -> (Gatne, Vec<Vec<u32>>) {
        let n = 60u32;
        let comm = |r: usize, v: u32| if r == 0 { v / 15 } else { v % 4 };
        let members = |r: usize, c: u32| (0..n).filter(move |&u| comm(r, u) == c).collect::<Vec<u32>>();
        let mut rng = SplitMix::new(11);
        let mut walks = Vec::new();
        for r in 0..2 {
            let mut w = Vec::new();
            for start in (0..n).cycle().take(walks_per_node * n as usize) {
                let mut v = start;
                for _ in 0..10 {
                    w.push(v);
                    let c = if rng.below(10) == 0 { rng.below(4) as u32 } else { comm(r, v) };
                    let m = members(r, c);
                    v = m[rng.below(m.len() as u64) as usize];
                }
            }
            walks.push(w);
        }
        let f0 = move |v: usize| members(0, comm(0, v as u32)).into_iter().filter(|&u| u as usize != v).take(6).collect();
        let f1 = move |v: usize| members(1, comm(1, v as u32)).into_iter().filter(|&u| u as usize != v).take(6).collect();
        let model = Gatne::new(n as usize, &[&f0, &f1], &walks, 10, cfg, 5).unwrap();
        (model, walks)
    }

    fn params(g: &Gatne) -> Vec<Vec<f32>> {
        vec![g.base.clone(), g.edge.clone(), g.ctx.clone(), g.trans.clone(), g.att1.clone(), g.att2.clone(), g.embeddings(0), g.embeddings(1)]
    }

    fn small() -> GatneConfig {
        GatneConfig { dim: 8, edge_dim: 4, att_dim: 4, neighbor_samples: 3, window: 3, negatives: 3, epochs: 2, batch: 16, ..Default::default() }
    }

    #[test]
    fn ranges_and_checkpoints_give_the_model_of_one_call() {
        let cfg = small();
        let (mut whole, walks) = toy(&cfg, 1);
        let steps = whole.walks();
        assert_eq!(steps, 120);
        let whole_stats: Vec<StepStats> = (0..2).map(|e| whole.train_epoch(&walks, 10, e).unwrap()).collect();
        // Ranges of 7, with a checkpoint in the middle of epoch 0 and one
        // at the epoch boundary.
        let (mut m, _) = toy(&cfg, 1);
        let mut stats = [StepStats::default(); 2];
        for (e, stat) in stats.iter_mut().enumerate() {
            for lo in (0..steps).step_by(7) {
                *stat += m.train_range(&walks, 10, e, lo..(lo + 7).min(steps)).unwrap();
                if (e, lo) == (0, 56) {
                    m = Gatne::from_bytes(&m.to_bytes()).unwrap();
                }
            }
            if e == 0 {
                m = Gatne::from_bytes(&m.to_bytes()).unwrap();
            }
        }
        assert!(params(&m) == params(&whole));
        for (a, b) in stats.iter().zip(&whole_stats) {
            assert_eq!((a.pairs, a.tokens), (b.pairs, b.tokens));
            assert!((a.loss_sum - b.loss_sum).abs() <= 1e-9 * b.loss_sum);
        }
        assert_eq!(Gatne::from_bytes(&whole.to_bytes()).unwrap().to_bytes(), whole.to_bytes());
    }

    #[test]
    fn loss_is_finite_and_falls_over_epochs() {
        let cfg = GatneConfig { epochs: 4, ..small() };
        let (mut m, walks) = toy(&cfg, 2);
        let losses: Vec<f64> = (0..4).map(|e| m.train_epoch(&walks, 10, e).unwrap().mean_loss()).collect();
        assert!(losses.iter().all(|l| l.is_finite() && *l > 0.0), "{losses:?}");
        // Four targets at score 0 cost 4 log 2 = 2.77 per pair.
        assert!(losses[0] < 2.8 && losses.windows(2).all(|w| w[1] < w[0]), "{losses:?}");
    }

    #[test]
    fn bad_checkpoints_and_inputs_are_errors() {
        let cfg = small();
        let (mut m, walks) = toy(&cfg, 1);
        m.train_range(&walks, 10, 0, 0..10).unwrap();
        let good = m.to_bytes();
        assert!(Gatne::from_bytes(&good).is_ok());
        for len in (0..good.len()).step_by(11).chain([good.len() - 1]) {
            assert!(matches!(Gatne::from_bytes(&good[..len]), Err(Error::Checkpoint(_))), "truncated to {len}");
        }
        let mut rng = SplitMix::new(4);
        for _ in 0..50 {
            let mut bad = good.clone();
            let i = rng.below(bad.len() as u64) as usize;
            bad[i] ^= 1 << rng.below(8);
            assert!(Gatne::from_bytes(&bad).is_err(), "flipped a bit of byte {i}");
        }
        let garbage: Vec<u8> = (0..good.len()).map(|_| rng.next_u64() as u8).collect();
        assert!(Gatne::from_bytes(&garbage).is_err());
        let sg = crate::skipgram::SkipGram::new(60, &walks[0], 10, &Default::default(), 1).unwrap();
        assert!(Gatne::from_bytes(&sg.to_bytes()).is_err());
        assert!(crate::skipgram::SkipGram::from_bytes(&good).is_err());
        // Inputs.
        assert!(m.train_range(&walks, 10, 2, 0..1).is_err(), "epoch past the last");
        assert!(m.train_range(&walks, 10, 0, 0..121).is_err(), "range past the walks");
        assert!(m.train_range(&walks[..1], 10, 0, 0..1).is_err(), "one walk set missing");
        let mut other = walks.clone();
        other[1][3] = 99;
        assert!(m.train_epoch(&other, 10, 0).is_err(), "a node past the tables");
        let f = |_: usize| vec![0u32];
        assert!(Gatne::new(60, &[&f, &f], &walks, 10, &GatneConfig { dim: 0, ..cfg.clone() }, 1).is_err());
        assert!(Gatne::new(60, &[&f], &walks, 10, &cfg, 1).is_err(), "walk sets ≠ relations");
        let far = |_: usize| vec![60u32];
        assert!(Gatne::new(60, &[&far, &f], &walks, 10, &cfg, 1).is_err(), "neighbour past the nodes");
    }
}
