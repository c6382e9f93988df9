//! The heterogeneous models.
//!
//! * **HeteroSAGE** (PyG's `to_hetero(GraphSAGE)` / `HeteroConv` of
//!   `SAGEConv`s): per layer, for each destination type `t`,
//!   `h'_t = W_t·h_t + Σ_r W_r·mean_{j ∈ N_r} h_j` over the relations `r`
//!   starting at `t` (one root weight per type equals PyG's sum of
//!   per-relation root weights), or with `relation_aggr = "attention"` the
//!   relation terms weighted by semantic attention.
//! * **R-GCN** (Schlichtkrull et al. 2018): each type's input projected to
//!   the first hidden width, then `h'_t = W_0·h_t + Σ_r W_r·mean_{N_r} h_j`
//!   with `W_r = Σ_b a_rb V_b` (basis decomposition; `bases = 0`: one full
//!   matrix per relation), computed as `Σ_b V_b (Σ_r a_rb mean_r)`.
//! * **HAN** (Wang et al. 2019): per metapath a multi-head GAT over the
//!   metapath neighbourhood (with self-loop), ELU, then semantic attention
//!   (`β_Φ = softmax_Φ mean_i qᵀ tanh(W z_Φ,i + b)`) and a linear classifier.
//!
//! ReLU between message-passing layers; dropout on every layer's input.

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::activation::{elu, relu, softmax};
use ferrograph_sample::Relation;
use ferrograph_sample::rng::derive;
use serde::{Deserialize, Serialize};

use crate::hop::{Hop, Norm};
use crate::layers::dropout::dropout;
use crate::layers::linear::glorot;
use crate::layers::sage::transform_first;
use crate::layers::{GatConv, GatConvConfig, Linear};

/// How a heterogeneous layer combines what each relation brings to a node type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RelationAggr {
    /// Sum (PyG's `HeteroConv(aggr="sum")`).
    #[default]
    Sum,
    /// Semantic attention (HAN's), one weight per relation and type.
    Attention,
}

/// Which heterogeneous model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeteroKind {
    /// R-GCN with basis decomposition.
    Rgcn,
    /// A GraphSAGE layer per relation.
    HeteroSage,
    /// HAN over metapaths.
    Han,
}

/// Hyper-parameters of a heterogeneous model.
#[derive(Clone, Debug, PartialEq)]
pub struct HeteroConfig {
    /// The model.
    pub kind: HeteroKind,
    /// Hidden widths (HAN: the first is the GAT width).
    pub hidden: Vec<usize>,
    /// HAN: GAT heads.
    pub heads: usize,
    /// Dropout on every layer's input.
    pub dropout: f64,
    /// HAN: attention dropout.
    pub attn_dropout: f64,
    /// R-GCN: bases of the per-relation weights (0: one full matrix per relation).
    pub bases: usize,
    /// HeteroSAGE / R-GCN: how relation terms combine per destination type.
    pub relation_aggr: RelationAggr,
    /// Width of semantic attention.
    pub semantic_dim: usize,
}

/// What a heterogeneous model is built for: the graph's types and relations.
#[derive(Clone, Copy, Debug)]
pub struct HeteroShape<'a> {
    /// The classified node type.
    pub target: usize,
    /// Classes.
    pub classes: usize,
    /// Input width of every node type (0: the type is never read).
    pub input_dims: &'a [usize],
    /// Relations in model-slot order.
    pub relations: &'a [Relation],
    /// HAN: metapaths.
    pub metapaths: usize,
}

/// One layer of typed blocks.
#[derive(Debug)]
pub struct LayerBlock {
    /// Destination rows per node type: rows `dst_start..dst_start + n_dst`
    /// of the sources (the prefix `0..n_dst` for sampled blocks).
    pub n_dst: Vec<usize>,
    /// First destination row per node type.
    pub dst_start: Vec<usize>,
    /// Source rows per node type.
    pub n_src: Vec<usize>,
    /// Per relation slot: `n_dst[from] × n_src[to]` (None when the layer has no such edges).
    pub hops: Vec<Option<Hop>>,
}

/// Semantic attention over a list of `[n, d]` representations of the same nodes.
#[derive(Module, Debug)]
pub struct Semantic {
    w: Linear,
    q: Param<Tensor<2>>,
}

impl Semantic {
    fn new(d: usize, a: usize, seed: u64) -> Semantic {
        Semantic { w: Linear::new(d, a, true, derive(seed, 0)), q: Param::from_tensor(glorot(a, 1, derive(seed, 1))) }
    }

    /// `Σ_Φ β_Φ z_Φ`; also returns the weights `β` (`[Φ]`).
    pub fn forward(&self, zs: Vec<Tensor<2>>) -> (Tensor<2>, Tensor<1>) {
        let m = zs.len();
        let scores: Vec<Tensor<2>> = zs.iter().map(|z| self.w.forward(z.clone()).tanh().matmul(self.q.val()).mean_dim(0)).collect();
        let beta = softmax(Tensor::cat(scores, 1), 1).reshape([m]);
        let mut out = zs[0].clone() * beta.clone().narrow(0, 0, 1).reshape([1, 1]);
        for (i, z) in zs.into_iter().enumerate().skip(1) {
            out = out + z * beta.clone().narrow(0, i, 1).reshape([1, 1]);
        }
        (out, beta)
    }
}

/// One typed message-passing layer (HeteroSAGE or R-GCN).
#[derive(Module, Debug)]
pub struct HeteroLayer {
    /// Per node type: the root (self) transform, with bias.
    root: Vec<Option<Linear>>,
    /// Per relation: the neighbour transform (HeteroSAGE; R-GCN without bases).
    rel: Vec<Option<Linear>>,
    /// R-GCN bases.
    bases: Vec<Linear>,
    /// R-GCN coefficients `[relations, bases]`.
    coeff: Option<Param<Tensor<2>>>,
    /// Per node type: semantic attention over relation terms.
    attention: Vec<Option<Semantic>>,
}

impl HeteroLayer {
    /// Outputs of the block's destinations per type from the sources `xs`.
    fn forward(&self, relations: &[Relation], block: &LayerBlock, xs: &[Option<Tensor<2>>]) -> Vec<Option<Tensor<2>>> {
        let types = block.n_dst.len();
        (0..types)
            .map(|t| {
                let root = self.root[t].as_ref()?;
                let xt = xs[t].as_ref()?;
                if block.n_dst[t] == 0 {
                    return None;
                }
                let x_dst = xt.clone().narrow(0, block.dst_start[t], block.n_dst[t]);
                let mut terms = Vec::new();
                let mut aggs = Vec::new();
                for (r, rel) in relations.iter().enumerate() {
                    if rel.from.0 as usize != t {
                        continue;
                    }
                    let (Some(hop), Some(src)) = (block.hops[r].as_ref(), xs[rel.to.0 as usize].as_ref()) else { continue };
                    match &self.rel[r] {
                        Some(w) => terms.push(mean_transform(hop, src.clone(), w)),
                        None => aggs.push((r, hop.aggregate(Norm::Mean, src.clone()))),
                    }
                }
                if let Some(coeff) = &self.coeff
                    && !aggs.is_empty()
                {
                    let c = coeff.val();
                    for (b, basis) in self.bases.iter().enumerate() {
                        let mut mix: Option<Tensor<2>> = None;
                        for (r, agg) in &aggs {
                            let a = c.clone().slice([*r..*r + 1, b..b + 1]);
                            let term = agg.clone() * a;
                            mix = Some(match mix {
                                Some(m) => m + term,
                                None => term,
                            });
                        }
                        if let Some(m) = mix {
                            terms.push(basis.forward(m));
                        }
                    }
                }
                let own = root.forward(x_dst);
                Some(match (&self.attention[t], terms.len()) {
                    (_, 0) => own,
                    (Some(att), n) if n > 1 => own + att.forward(terms).0,
                    _ => terms.into_iter().fold(own, |acc, x| acc + x),
                })
            })
            .collect()
    }
}

/// `W·mean(src)` in whichever order costs fewer multiply-adds.
fn mean_transform(hop: &Hop, src: Tensor<2>, w: &Linear) -> Tensor<2> {
    if transform_first(hop, w.d_in(), w.d_out()) { hop.aggregate(Norm::Mean, w.forward(src)) } else { w.forward(hop.aggregate(Norm::Mean, src)) }
}

/// HeteroSAGE or R-GCN: an optional per-type input projection, then typed layers.
#[derive(Module, Debug)]
pub struct HeteroGnn {
    proj: Vec<Option<Linear>>,
    layers: Vec<HeteroLayer>,
    dropout: f64,
}

/// HAN.
#[derive(Module, Debug)]
pub struct Han {
    gats: Vec<GatConv>,
    semantic: Semantic,
    out: Linear,
    dropout: f64,
}

/// A heterogeneous model.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one per run, never in a collection
pub enum HeteroModel {
    /// HeteroSAGE or R-GCN.
    Layers(HeteroGnn),
    /// HAN.
    Han(Han),
}

/// Builds the model `cfg` describes for `shape` (weights from `seed`).
pub fn init(cfg: &HeteroConfig, shape: &HeteroShape<'_>, seed: u64) -> HeteroModel {
    let types = shape.input_dims.len();
    let target = shape.target;
    let classes = shape.classes;
    if cfg.kind == HeteroKind::Han {
        let hidden = cfg.hidden.first().copied().unwrap_or(8);
        let heads = cfg.heads;
        let per_head = hidden.div_ceil(heads).max(1);
        let d_in = shape.input_dims[target];
        let gats = (0..shape.metapaths)
            .map(|m| GatConvConfig::new(d_in, per_head, heads).with_attn_dropout(cfg.attn_dropout).init(derive(seed, 10 + m as u64)))
            .collect();
        let width = per_head * heads;
        return HeteroModel::Han(Han {
            gats,
            semantic: Semantic::new(width, cfg.semantic_dim, derive(seed, 1)),
            out: Linear::new(width, classes, true, derive(seed, 2)),
            dropout: cfg.dropout,
        });
    }
    let rgcn = cfg.kind == HeteroKind::Rgcn;
    let widths: Vec<usize> = cfg.hidden.iter().copied().chain([classes]).collect();
    let proj: Vec<Option<Linear>> =
        (0..types).map(|t| rgcn.then(|| Linear::new(shape.input_dims[t], widths[0], true, derive(seed, 100 + t as u64)))).collect();
    let mut d_in: Vec<usize> = if rgcn { vec![widths[0]; types] } else { shape.input_dims.to_vec() };
    let n_layers = widths.len();
    let mut layers = Vec::new();
    for (l, &d_out) in widths.iter().enumerate() {
        let last = l + 1 == n_layers;
        let s = |i: u64| derive(derive(seed, 1000 + l as u64), i);
        let wanted = |t: usize| !last || t == target;
        let root = (0..types).map(|t| wanted(t).then(|| Linear::new(d_in[t], d_out, true, s(t as u64)))).collect();
        let use_bases = rgcn && cfg.bases > 0;
        let rel = shape
            .relations
            .iter()
            .enumerate()
            .map(|(i, rel)| {
                (wanted(rel.from.0 as usize) && !use_bases).then(|| Linear::new(d_in[rel.to.0 as usize], d_out, false, s(100 + i as u64)))
            })
            .collect();
        let (bases, coeff) = if use_bases {
            let b = (0..cfg.bases).map(|i| Linear::new(d_in[0], d_out, false, s(200 + i as u64))).collect();
            (b, Some(Param::from_tensor(glorot(shape.relations.len(), cfg.bases, s(300)))))
        } else {
            (Vec::new(), None)
        };
        let attention = (0..types)
            .map(|t| (wanted(t) && cfg.relation_aggr == RelationAggr::Attention).then(|| Semantic::new(d_out, cfg.semantic_dim, s(400 + t as u64))))
            .collect();
        layers.push(HeteroLayer { root, rel, bases, coeff, attention });
        d_in = vec![d_out; types];
    }
    HeteroModel::Layers(HeteroGnn { proj, layers, dropout: cfg.dropout })
}

impl HeteroGnn {
    /// Message-passing layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// The per-type input projection (R-GCN), applied to input rows of type `t`.
    pub fn project(&self, t: usize, x: Tensor<2>) -> Tensor<2> {
        match &self.proj[t] {
            Some(p) => relu(p.forward(x)),
            None => x,
        }
    }

    /// Applies layer `l` (activation included but for the last layer);
    /// `seed` enables dropout.
    pub fn layer(
        &self,
        l: usize,
        relations: &[Relation],
        block: &LayerBlock,
        xs: Vec<Option<Tensor<2>>>,
        seed: Option<u64>,
    ) -> Vec<Option<Tensor<2>>> {
        let xs: Vec<Option<Tensor<2>>> = xs
            .into_iter()
            .enumerate()
            .map(|(t, x)| x.map(|x| dropout(x, self.dropout, seed.map(|s| derive(derive(s, l as u64), t as u64)))))
            .collect();
        let out = self.layers[l].forward(relations, block, &xs);
        if l + 1 < self.layers.len() { out.into_iter().map(|x| x.map(relu)).collect() } else { out }
    }

    /// Logits of the target rows of the last block, from input rows per type.
    pub fn forward(&self, relations: &[Relation], blocks: &[LayerBlock], xs: Vec<Option<Tensor<2>>>, seed: Option<u64>) -> Vec<Option<Tensor<2>>> {
        let mut h: Vec<Option<Tensor<2>>> = xs.into_iter().enumerate().map(|(t, x)| x.map(|x| self.project(t, x))).collect();
        for (l, b) in blocks.iter().enumerate() {
            h = self.layer(l, relations, b, h, seed);
        }
        h
    }
}

impl Han {
    /// The semantic-attention output (`[n_dst, width]`) and the metapath weights.
    pub fn embed(&self, hops: &[Hop], x: Tensor<2>, seed: Option<u64>) -> (Tensor<2>, Tensor<1>) {
        let x = dropout(x, self.dropout, seed.map(|s| derive(s, 1)));
        let n_dst = hops[0].n_dst;
        let zs: Vec<Tensor<2>> = self
            .gats
            .iter()
            .zip(hops)
            .enumerate()
            .map(|(m, (g, hop))| elu(g.forward(hop, x.clone().narrow(0, 0, n_dst), x.clone(), seed.map(|s| derive(s, 10 + m as u64))), 1.0))
            .collect();
        self.semantic.forward(zs)
    }

    /// Logits.
    pub fn forward(&self, hops: &[Hop], x: Tensor<2>, seed: Option<u64>) -> Tensor<2> {
        let (z, _) = self.embed(hops, x, seed);
        self.out.forward(dropout(z, self.dropout, seed.map(|s| derive(s, 2))))
    }
}
