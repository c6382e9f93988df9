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
//! deterministic for a seed. Neighbour aggregation is a mean where the
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

use crate::Result;
use crate::skipgram::Noise;

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
/// per-epoch losses.
pub fn fit(g: &Graph, relations: &[Relation], walk: &WalkSpec, cfg: &GatneConfig, seed: u64) -> Result<(Gatne, Vec<f64>)> {
    let Some(first) = relations.first() else {
        return Err(crate::Error::Config("GATNE needs at least one relation".into()));
    };
    if let Some(r) = relations.iter().find(|r| r.from != first.from || r.to != first.from) {
        return Err(crate::Error::Config(format!(
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
    let mut model = Gatne::new(n, &refs, cfg, seed);
    let losses = model.train(&walks, walk.length + 1, seed)?;
    Ok((model, losses))
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

/// A trained GATNE-T model.
#[derive(Clone, Debug)]
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
}

/// Adam state of one shared parameter block.
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
    /// Initial model over `n` nodes and `m` relations, with `neighbors[r][v]`
    /// the training neighbours of `v` in relation `r`.
    pub fn new(n: usize, neighbors: &[&dyn Fn(usize) -> Vec<u32>], cfg: &GatneConfig, seed: u64) -> Gatne {
        let m = neighbors.len();
        let (d, s, a, k) = (cfg.dim, cfg.edge_dim, cfg.att_dim, cfg.neighbor_samples.max(1));
        let mut rng = SplitMix::new(derive(seed, 0x6a7e));
        let mut uniform = |scale: f32| ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale;
        let base = (0..n * d).map(|_| uniform(0.5 / d as f32)).collect();
        let edge = (0..n * m * s).map(|_| uniform(0.5 / s as f32)).collect();
        let trans = (0..m * s * d).map(|_| uniform((3.0 / s as f32).sqrt())).collect();
        let att1 = (0..m * s * a).map(|_| uniform((3.0 / s as f32).sqrt())).collect();
        let att2 = (0..m * a).map(|_| uniform((3.0 / a as f32).sqrt())).collect();
        let mut neigh = vec![0u32; n * m * k];
        let mut pick = SplitMix::new(derive(seed, 0x6e16));
        for v in 0..n {
            for (r, list) in neighbors.iter().enumerate() {
                let list = list(v);
                let row = &mut neigh[(v * m + r) * k..(v * m + r + 1) * k];
                for slot in row {
                    *slot = if list.is_empty() { v as u32 } else { list[(pick.next_u64() % list.len() as u64) as usize] };
                }
            }
        }
        Gatne { n, m, cfg: cfg.clone(), base, edge, ctx: vec![0.0; n * d], trans, att1, att2, neigh }
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

    /// Trains on `walks[r]`: flat walks of `walk_len` slots (padded with
    /// [`PAD`]) on relation `r`'s subgraph. Returns the mean negative
    /// log-likelihood per pair of each epoch.
    pub fn train(&mut self, walks: &[Vec<u32>], walk_len: usize, seed: u64) -> Result<Vec<f64>> {
        if walks.len() != self.m
            || walk_len == 0
            || walks.iter().any(|w| w.len() % walk_len != 0 || w.iter().any(|&v| v != PAD && v as usize >= self.n))
        {
            return Err(crate::Error::Invalid(format!(
                "GATNE needs {} walk sets (one per relation) of whole {walk_len}-slot walks over nodes 0..{}",
                self.m, self.n
            )));
        }
        let d = self.cfg.dim;
        let all: Vec<u32> = walks.iter().flatten().copied().collect();
        let noise = Noise::new(&all, self.n);
        // Walks of all relations interleaved, so every Adam batch mixes them.
        let mut order: Vec<(u32, u32)> =
            walks.iter().enumerate().flat_map(|(r, w)| (0..(w.len() / walk_len) as u32).map(move |i| (r as u32, i))).collect();
        let mut rng = SplitMix::new(derive(seed, 0x7a1));
        for i in (1..order.len()).rev() {
            order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
        let total = (order.len() * self.cfg.epochs).max(1) as f32;
        let mut grads = Grads { trans: vec![0.0; self.trans.len()], att1: vec![0.0; self.att1.len()], att2: vec![0.0; self.att2.len()] };
        let mut adam = [Adam::new(self.trans.len()), Adam::new(self.att1.len()), Adam::new(self.att2.len())];
        let mut centres = 0usize;
        let mut losses = Vec::new();
        let mut g_ctx = vec![0f32; d];
        for epoch in 0..self.cfg.epochs {
            let (mut loss, mut pairs) = (0f64, 0u64);
            for (step, &(r, w)) in order.iter().enumerate() {
                let lr = (self.cfg.lr * (1.0 - (epoch * order.len() + step) as f32 / total)).max(self.cfg.lr * 1e-4);
                let walk = &walks[r as usize][w as usize * walk_len..(w as usize + 1) * walk_len];
                let len = walk.iter().position(|&x| x == PAD).unwrap_or(walk_len);
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
                            let (c, label) = if q == 0 { (target, 1.0) } else { (noise.draw(&mut rng) as usize, 0.0) };
                            if q > 0 && c == target {
                                continue;
                            }
                            let row = &mut self.ctx[c * d..(c + 1) * d];
                            let p = sigmoid(dot(&out, row));
                            loss -= if label > 0.0 { (p.max(1e-7)).ln() } else { ((1.0 - p).max(1e-7)).ln() } as f64;
                            let g = label - p;
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
                    centres += 1;
                    if centres.is_multiple_of(self.cfg.batch.max(1)) {
                        self.step_shared(&mut grads, &mut adam);
                    }
                }
            }
            losses.push(loss / pairs.max(1) as f64);
        }
        self.step_shared(&mut grads, &mut adam);
        Ok(losses)
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
struct Grads {
    trans: Vec<f32>,
    att1: Vec<f32>,
    att2: Vec<f32>,
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
        let mut g = Gatne::new(n, &[&f0, &f1], &cfg, 3);
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
}
