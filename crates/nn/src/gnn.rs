//! Stacked message-passing models over blocks, ego tensors or full graphs.

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::activation::{elu, relu};
use ferrograph_sample::rng::derive;
use serde::{Deserialize, Serialize};

use crate::hop::Hop;
use crate::layers::dropout::dropout;
use crate::layers::{Aggregator, GatConv, GatConvConfig, GcnConv, GcnConvConfig, SageConv, SageConvConfig};

/// The model of a run: a message-passing encoder (`sage`, `gcn`, `gat`),
/// or one of the task-specific models (`lightgcn` for recommendation,
/// `node2vec` / `deepwalk` for embeddings). The config checks which kinds
/// a task accepts before anything is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// GraphSAGE.
    Sage,
    /// GCN.
    Gcn,
    /// GAT.
    Gat,
    /// LightGCN (recommendation).
    #[serde(rename = "lightgcn")]
    LightGcn,
    /// node2vec walks + skip-gram (embedding).
    Node2vec,
    /// DeepWalk: node2vec with p = q = 1 (embedding).
    Deepwalk,
    /// R-GCN with basis decomposition (heterogeneous node classification).
    Rgcn,
    /// A GraphSAGE layer per relation, summed or attended per destination type.
    HeteroSage,
    /// HAN: node-level attention within metapaths, semantic attention across them.
    Han,
    /// GATNE-T: a base embedding plus relation-specific embeddings per node
    /// (multiplex embedding).
    Gatne,
}

impl ModelKind {
    /// A message-passing encoder (`sage`, `gcn`, `gat`), which [`ModelConfig::init`] builds.
    pub fn is_encoder(self) -> bool {
        matches!(self, ModelKind::Sage | ModelKind::Gcn | ModelKind::Gat)
    }

    /// A heterogeneous model (`rgcn`, `hetero_sage`, `han`).
    pub fn is_hetero(self) -> bool {
        matches!(self, ModelKind::Rgcn | ModelKind::HeteroSage | ModelKind::Han)
    }

    /// The name used in configs.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Sage => "sage",
            ModelKind::Gcn => "gcn",
            ModelKind::Gat => "gat",
            ModelKind::LightGcn => "lightgcn",
            ModelKind::Node2vec => "node2vec",
            ModelKind::Deepwalk => "deepwalk",
            ModelKind::Rgcn => "rgcn",
            ModelKind::HeteroSage => "hetero_sage",
            ModelKind::Han => "han",
            ModelKind::Gatne => "gatne",
        }
    }
}

/// Model hyper-parameters (the `[model]` table of a training config).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// `sage`, `gcn` or `gat`.
    pub kind: ModelKind,
    /// Hidden widths, one per hidden layer (layers = `hidden.len() + 1`).
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
    /// GraphSAGE aggregator.
    #[serde(default)]
    pub aggregator: Aggregator,
    /// GraphSAGE: L2-normalise hidden layers.
    #[serde(default)]
    pub normalize: bool,
    /// GAT heads of hidden layers.
    #[serde(default = "default_heads")]
    pub heads: usize,
    /// GAT heads of the output layer (averaged).
    #[serde(default = "one")]
    pub out_heads: usize,
    /// Dropout on each layer's input.
    #[serde(default)]
    pub dropout: f64,
    /// GAT attention dropout.
    #[serde(default)]
    pub attn_dropout: f64,
    /// Output (embedding) width of link prediction, recommendation and
    /// embedding models.
    #[serde(default = "sixty_four")]
    pub embedding_dim: usize,
    /// Width of the learnable input table used when the nodes have no
    /// feature column (link prediction, bipartite GraphSAGE).
    #[serde(default = "sixty_four")]
    pub input_dim: usize,
    /// LightGCN propagation layers.
    #[serde(default = "three")]
    pub layers: usize,
    /// R-GCN: bases of the per-relation weights (0: one full matrix per relation).
    #[serde(default)]
    pub bases: usize,
    /// HeteroSAGE: how relation outputs combine per destination type.
    #[serde(default)]
    pub relation_aggr: RelationAggr,
    /// HAN: width of the semantic attention.
    #[serde(default = "semantic_dim")]
    pub semantic_dim: usize,
    /// GATNE: width of the edge-type embeddings.
    #[serde(default = "ten")]
    pub edge_dim: usize,
    /// GATNE: width of the attention over relations.
    #[serde(default = "twenty")]
    pub attention_dim: usize,
    /// GATNE: neighbours sampled per node and relation for aggregation.
    #[serde(default = "ten")]
    pub neighbor_samples: usize,
}

fn ten() -> usize {
    10
}
fn twenty() -> usize {
    20
}

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

fn semantic_dim() -> usize {
    128
}

fn sixty_four() -> usize {
    64
}
fn three() -> usize {
    3
}

fn default_hidden() -> Vec<usize> {
    vec![64]
}
fn default_heads() -> usize {
    8
}
fn one() -> usize {
    1
}

impl ModelConfig {
    /// A config of `kind` with defaults.
    pub fn new(kind: ModelKind) -> Self {
        ModelConfig {
            kind,
            hidden: default_hidden(),
            aggregator: Aggregator::Mean,
            normalize: false,
            heads: 8,
            out_heads: 1,
            dropout: 0.0,
            attn_dropout: 0.0,
            embedding_dim: 64,
            input_dim: 64,
            layers: 3,
            bases: 0,
            relation_aggr: RelationAggr::Sum,
            semantic_dim: 128,
            edge_dim: 10,
            attention_dim: 20,
            neighbor_samples: 10,
        }
    }

    /// Number of message-passing layers.
    pub fn layers(&self) -> usize {
        self.hidden.len() + 1
    }

    /// Output width of hidden layer `l` (GAT: heads × per-head width).
    pub fn width(&self, l: usize) -> usize {
        match self.kind {
            ModelKind::Gat => self.hidden[l].div_ceil(self.heads) * self.heads,
            _ => self.hidden[l],
        }
    }

    /// Builds a model `d_in → hidden… → d_out` with weights drawn from `seed`
    /// (an encoder kind: the config checks refuse the others before this).
    pub fn init(&self, d_in: usize, d_out: usize, seed: u64) -> Gnn {
        let mut convs = Vec::new();
        let mut width = d_in;
        for l in 0..self.layers() {
            let last = l + 1 == self.layers();
            let out = if last { d_out } else { self.hidden[l] };
            let s = derive(seed, l as u64);
            convs.push(match self.kind {
                ModelKind::Sage
                | ModelKind::LightGcn
                | ModelKind::Node2vec
                | ModelKind::Deepwalk
                | ModelKind::Rgcn
                | ModelKind::HeteroSage
                | ModelKind::Han
                | ModelKind::Gatne => {
                    Conv::Sage(SageConvConfig::new(width, out).with_aggregator(self.aggregator).with_normalize(self.normalize && !last).init(s))
                }
                ModelKind::Gcn => Conv::Gcn(GcnConvConfig::new(width, out).init(s)),
                ModelKind::Gat => {
                    let heads = if last { self.out_heads } else { self.heads };
                    let per_head = if last { out } else { out.div_ceil(heads) };
                    Conv::Gat(GatConvConfig::new(width, per_head, heads).with_concat(!last).with_attn_dropout(self.attn_dropout).init(s))
                }
            });
            width = if last { out } else { self.width(l) };
        }
        Gnn { convs, dropout: self.dropout, elu: self.kind == ModelKind::Gat }
    }
}

/// One layer of a [`Gnn`].
#[derive(Module, Debug)]
pub enum Conv {
    /// GraphSAGE.
    Sage(SageConv),
    /// GCN.
    Gcn(GcnConv),
    /// GAT.
    Gat(GatConv),
}

impl Conv {
    fn forward(&self, hop: &Hop, x_dst: Tensor<2>, x_nbr: Tensor<2>, seed: Option<u64>) -> Tensor<2> {
        match self {
            Conv::Sage(c) => c.forward(hop, x_dst, x_nbr),
            Conv::Gcn(c) => c.forward(hop, x_dst, x_nbr),
            Conv::Gat(c) => c.forward(hop, x_dst, x_nbr, seed),
        }
    }
}

/// A stack of message-passing layers with ReLU (ELU for GAT) between them.
#[derive(Module, Debug)]
pub struct Gnn {
    convs: Vec<Conv>,
    dropout: f64,
    elu: bool,
}

impl Gnn {
    /// Layers.
    pub fn layers(&self) -> usize {
        self.convs.len()
    }

    fn activate(&self, x: Tensor<2>) -> Tensor<2> {
        if self.elu { elu(x, 1.0) } else { relu(x) }
    }

    /// Applies layer `l` alone (layer-wise inference): `x` holds the hop's
    /// source rows, destinations first.
    pub fn layer(&self, l: usize, hop: &Hop, x: Tensor<2>) -> Tensor<2> {
        let x_dst = x.clone().narrow(0, 0, hop.n_dst);
        let h = self.convs[l].forward(hop, x_dst, x, None);
        if l + 1 < self.convs.len() { self.activate(h) } else { h }
    }

    /// Outputs for the seeds of message-flow `blocks` (first-applied layer
    /// first) from the features `x` of all sampled nodes. `seed` enables
    /// dropout (training); `None` evaluates.
    pub fn forward_blocks(&self, blocks: &[&Hop], x: Tensor<2>, seed: Option<u64>) -> Tensor<2> {
        self.forward_inner(blocks, x, seed, None).0
    }

    /// [`forward_blocks`](Self::forward_blocks) for a two-layer model whose
    /// last layer also reads `cached` rows (constants) after the rows the
    /// first layer computes; returns the logits and the first layer's
    /// activated output (detached), to be cached.
    pub fn forward_blocks_history(&self, blocks: &[&Hop], x: Tensor<2>, cached: Tensor<2>, seed: Option<u64>) -> (Tensor<2>, Tensor<2>) {
        let (logits, h0) = self.forward_inner(blocks, x, seed, Some(cached));
        (logits, h0.expect("a two-layer model"))
    }

    fn forward_inner(&self, blocks: &[&Hop], x: Tensor<2>, seed: Option<u64>, inject: Option<Tensor<2>>) -> (Tensor<2>, Option<Tensor<2>>) {
        assert_eq!(blocks.len(), self.convs.len(), "one block per layer");
        let mut h = x;
        let mut inject = inject;
        let mut first = None;
        for (l, (conv, hop)) in self.convs.iter().zip(blocks).enumerate() {
            let s = seed.map(|s| derive(s, l as u64));
            let hin = dropout(h, self.dropout, s.map(|s| derive(s, 1 << 20)));
            let x_dst = hin.clone().narrow(0, 0, hop.n_dst);
            h = conv.forward(hop, x_dst, hin, s);
            if l + 1 < self.convs.len() {
                h = self.activate(h);
            }
            if l == 0
                && let Some(c) = inject.take()
            {
                first = Some(h.clone().detach());
                if c.dims()[0] > 0 {
                    h = Tensor::cat(vec![h, c], 0);
                }
            }
        }
        (h, first)
    }

    /// Outputs for the batch of an ego sample: `hops[t]` maps depth `t + 1`
    /// onto depth `t`, `xs[t]` are the features of depth `t`'s slots.
    pub fn forward_ego(&self, hops: &[Hop], xs: Vec<Tensor<2>>, seed: Option<u64>) -> Tensor<2> {
        assert_eq!(hops.len(), self.convs.len(), "one ego hop per layer");
        assert_eq!(xs.len(), hops.len() + 1, "features for every depth");
        let mut hs = xs;
        for (l, conv) in self.convs.iter().enumerate() {
            let s = seed.map(|s| derive(s, l as u64));
            let hin: Vec<Tensor<2>> =
                hs.into_iter().enumerate().map(|(t, h)| dropout(h, self.dropout, s.map(|s| derive(s, (1 << 20) + t as u64)))).collect();
            hs = (0..hin.len() - 1)
                .map(|t| {
                    let h = conv.forward(&hops[t], hin[t].clone(), hin[t + 1].clone(), s);
                    if l + 1 < self.convs.len() { self.activate(h) } else { h }
                })
                .collect();
        }
        hs.into_iter().next().expect("depth 0")
    }
}
