//! Stacked message-passing models ([`Gnn`]) over blocks, ego tensors or full
//! graphs, and exact layer-wise inference over every node.

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::activation::{elu, relu};
use ferrograph_sample::neighbor::HopSpec;
use ferrograph_sample::rng::derive;
use ferrograph_sample::{NeighborAccess, NeighborSampler, Relation, Strategy};

use crate::batch::{Degree, blocks};
use crate::hop::Hop;
use crate::layers::dropout::dropout;
use crate::layers::{Aggregator, GatConv, GatConvConfig, GcnConv, GcnConvConfig, SageConv, SageConvConfig};
use crate::{Input, Result, host, infer_device, matrix};

/// The layer kind of a [`Gnn`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvKind {
    /// GraphSAGE.
    Sage,
    /// GCN.
    Gcn,
    /// GAT.
    Gat,
}

/// Hyper-parameters of a [`Gnn`] (burn style: `GnnConfig` → [`init`](GnnConfig::init)).
#[derive(Clone, Debug, PartialEq)]
pub struct GnnConfig {
    /// Layer kind.
    pub conv: ConvKind,
    /// Hidden widths, one per hidden layer (layers = `hidden.len() + 1`).
    pub hidden: Vec<usize>,
    /// GraphSAGE aggregator.
    pub aggregator: Aggregator,
    /// GraphSAGE: L2-normalise hidden layers.
    pub normalize: bool,
    /// GAT heads of hidden layers.
    pub heads: usize,
    /// GAT heads of the output layer (averaged).
    pub out_heads: usize,
    /// Dropout on each layer's input.
    pub dropout: f64,
    /// GAT attention dropout.
    pub attn_dropout: f64,
}

impl GnnConfig {
    /// `conv` layers with one hidden layer of 64, mean aggregation, 8 GAT
    /// heads, no dropout.
    pub fn new(conv: ConvKind) -> Self {
        GnnConfig { conv, hidden: vec![64], aggregator: Aggregator::Mean, normalize: false, heads: 8, out_heads: 1, dropout: 0.0, attn_dropout: 0.0 }
    }

    /// Number of message-passing layers.
    pub fn num_layers(&self) -> usize {
        self.hidden.len() + 1
    }

    /// Output width of hidden layer `l` (GAT: heads × per-head width).
    pub fn width(&self, l: usize) -> usize {
        match self.conv {
            ConvKind::Gat => self.hidden[l].div_ceil(self.heads) * self.heads,
            _ => self.hidden[l],
        }
    }

    /// Whether the first layer can read sparse rows (every layer but
    /// GraphSAGE's attention aggregator).
    pub fn reads_sparse(&self) -> bool {
        !(self.conv == ConvKind::Sage && self.aggregator == Aggregator::Attention)
    }

    /// Builds a model `d_in → hidden… → d_out` with weights drawn from `seed`.
    pub fn init(&self, d_in: usize, d_out: usize, seed: u64) -> Gnn {
        let mut convs = Vec::new();
        let mut width = d_in;
        for l in 0..self.num_layers() {
            let last = l + 1 == self.num_layers();
            let out = if last { d_out } else { self.hidden[l] };
            let s = derive(seed, l as u64);
            convs.push(match self.conv {
                ConvKind::Sage => {
                    Conv::Sage(SageConvConfig::new(width, out).with_aggregator(self.aggregator).with_normalize(self.normalize && !last).init(s))
                }
                ConvKind::Gcn => Conv::Gcn(GcnConvConfig::new(width, out).init(s)),
                ConvKind::Gat => {
                    let heads = if last { self.out_heads } else { self.heads };
                    let per_head = if last { out } else { out.div_ceil(heads) };
                    Conv::Gat(GatConvConfig::new(width, per_head, heads).with_concat(!last).with_attn_dropout(self.attn_dropout).init(s))
                }
            });
            width = if last { out } else { self.width(l) };
        }
        Gnn { convs, dropout: self.dropout, elu: self.conv == ConvKind::Gat }
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

    /// Over a block whose source rows are `x` (destinations first).
    fn forward_input(&self, hop: &Hop, x: &Input, seed: Option<u64>) -> Tensor<2> {
        match self {
            Conv::Sage(c) => c.forward_input(hop, x),
            Conv::Gcn(c) => c.forward_input(hop, x),
            Conv::Gat(c) => c.forward_input(hop, x, seed),
        }
    }

    /// [`forward_input`](Self::forward_input), then a ReLU when `relu`
    /// (fused into the layer's product where the layer can).
    fn forward_input_relu(&self, hop: &Hop, x: &Input, seed: Option<u64>, relu: bool) -> Tensor<2> {
        match self {
            Conv::Sage(c) => c.forward_input_relu(hop, x, relu),
            c => {
                let out = c.forward_input(hop, x, seed);
                if relu { burn::tensor::activation::relu(out) } else { out }
            }
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
    /// Message-passing layers.
    pub fn num_layers(&self) -> usize {
        self.convs.len()
    }

    fn activate(&self, x: Tensor<2>) -> Tensor<2> {
        if self.elu { elu(x, 1.0) } else { relu(x) }
    }

    /// Layer `l` over a block whose source rows are `x`, with the
    /// activation after every layer but the last.
    fn apply(&self, l: usize, hop: &Hop, x: &Input, seed: Option<u64>) -> Tensor<2> {
        let act = l + 1 < self.convs.len();
        if self.elu {
            let h = self.convs[l].forward_input(hop, x, seed);
            if act { elu(h, 1.0) } else { h }
        } else {
            self.convs[l].forward_input_relu(hop, x, seed, act)
        }
    }

    /// Applies layer `l` alone (layer-wise inference): `x` holds the hop's
    /// source rows, destinations first.
    pub fn layer(&self, l: usize, hop: &Hop, x: &Input) -> Tensor<2> {
        self.apply(l, hop, x, None)
    }

    /// Outputs for the seeds of message-flow `blocks` (first-applied layer
    /// first) from the input rows `x` of all sampled nodes (dense or
    /// sparse). `seed` enables dropout (training); `None` evaluates.
    pub fn forward_blocks(&self, blocks: &[&Hop], x: Input, seed: Option<u64>) -> Tensor<2> {
        self.forward_inner(blocks, x, seed, None).0
    }

    /// [`forward_blocks`](Self::forward_blocks) for a two-layer model whose
    /// last layer also reads `cached` rows (constants) after the rows the
    /// first layer computes; returns the logits and the first layer's
    /// activated output (detached), to be cached.
    pub fn forward_blocks_history(&self, blocks: &[&Hop], x: Input, cached: Tensor<2>, seed: Option<u64>) -> (Tensor<2>, Tensor<2>) {
        let (logits, h0) = self.forward_inner(blocks, x, seed, Some(cached));
        (logits, h0.expect("a two-layer model"))
    }

    fn forward_inner(&self, blocks: &[&Hop], x: Input, seed: Option<u64>, inject: Option<Tensor<2>>) -> (Tensor<2>, Option<Tensor<2>>) {
        assert_eq!(blocks.len(), self.convs.len(), "one block per layer");
        let mut inject = inject;
        let mut first = None;
        let mut input = x;
        let mut h = None;
        for (l, hop) in blocks.iter().enumerate() {
            let s = seed.map(|s| derive(s, l as u64));
            let hin = input.dropout(self.dropout, s.map(|s| derive(s, 1 << 20)));
            let mut out = self.apply(l, hop, &hin, s);
            if l == 0
                && let Some(c) = inject.take()
            {
                first = Some(out.clone().detach());
                if c.dims()[0] > 0 {
                    out = Tensor::cat(vec![out, c], 0);
                }
            }
            input = Input::Dense(out.clone());
            h = Some(out);
        }
        (h.expect("at least one layer"), first)
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

/// Destinations per chunk of layer-wise inference.
pub const INFERENCE_CHUNK: usize = 8192;

/// What layer-wise inference reads for one layer.
pub enum LayerSource<'a> {
    /// The model's input: `input(nodes)` gives the rows (a feature column,
    /// a learnable table, sparse rows) on [`infer_device`].
    Input(&'a dyn Fn(&[u32]) -> Result<Input>),
    /// The previous layer's output for all nodes, row-major, and its width.
    Rows(&'a [f32], usize),
}

/// Layer `l` of `model` (a plain copy, `model.valid()`) for all `n` nodes,
/// each from its full neighbourhood along `relation`, in chunks of
/// [`INFERENCE_CHUNK`] destinations; `progress(done)` is told each chunk.
/// Returns the output row-major and its width. Memory: the output
/// (`n × width`) plus one chunk's neighbourhood rows.
#[allow(clippy::too_many_arguments)]
pub fn infer_layer<G: NeighborAccess + ?Sized>(
    model: &Gnn,
    g: &G,
    relation: Relation,
    n: usize,
    l: usize,
    source: LayerSource<'_>,
    degree: Option<Degree<'_>>,
    progress: &dyn Fn(usize),
) -> Result<(Vec<f32>, usize)> {
    let device = infer_device();
    let one_hop = NeighborSampler::new(vec![HopSpec { relation, fanout: 0 }], Strategy::Full)?;
    let mut out: Vec<f32> = Vec::new();
    let mut width = 0;
    for start in (0..n).step_by(INFERENCE_CHUNK) {
        let end = (start + INFERENCE_CHUNK).min(n);
        let seeds: Vec<u32> = (start as u32..end as u32).collect();
        let s = one_hop.sample(g, &seeds, 0)?;
        let hop = blocks(&s, 1, degree).pop().expect("one block");
        let x = match &source {
            LayerSource::Input(input) => input(&s.node)?,
            LayerSource::Rows(p, w) => {
                let mut v = Vec::with_capacity(s.node.len() * w);
                for &u in &s.node {
                    v.extend_from_slice(&p[u as usize * w..][..*w]);
                }
                Input::Dense(matrix(v, s.node.len(), *w, &device))
            }
        };
        let y = model.layer(l, &hop, &x);
        width = y.dims()[1];
        if out.capacity() == 0 {
            out.reserve_exact(n * width);
        }
        out.extend_from_slice(&host(y));
        progress(end);
    }
    Ok((out, width))
}

/// Exact layer-wise inference over all `n` nodes: layers `0..upto` (so the
/// output of layer `upto`, 1-based), each by [`infer_layer`], on burn's
/// plain device (no autodiff graph). `progress(layer, done)` is told each
/// chunk.
///
/// Memory: the previous layer's output for all nodes (`n × w_{l-1}`
/// floats; none for the first layer, whose input is read per chunk) plus
/// this layer's (`n × w_l`) plus one chunk's neighbourhood rows; nothing
/// grows with the number of chunks, and each layer's input is freed when
/// the layer ends.
#[allow(clippy::too_many_arguments)]
pub fn infer_layerwise<G: NeighborAccess + ?Sized>(
    model: &Gnn,
    g: &G,
    relation: Relation,
    n: usize,
    input: &dyn Fn(&[u32]) -> Result<Input>,
    upto: usize,
    degree: Option<Degree<'_>>,
    progress: &dyn Fn(usize, usize),
) -> Result<(Vec<f32>, usize)> {
    let model = model.valid();
    let mut prev: Option<(Vec<f32>, usize)> = None;
    for l in 0..upto.min(model.num_layers()) {
        let source = match &prev {
            None => LayerSource::Input(input),
            Some((p, w)) => LayerSource::Rows(p, *w),
        };
        let next = infer_layer(&model, g, relation, n, l, source, degree, &|done| progress(l, done))?;
        prev = Some(next);
    }
    Ok(prev.unwrap_or_default())
}
