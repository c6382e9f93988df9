//! A heterogeneous config resolved against a graph — target type, labels
//! and splits, the relations messages travel along, HAN's metapaths, each
//! node type's input (a feature column, a learnable [`SparseEmbedding`], or
//! a categorical attribute's codes into one); every mistake names its field
//! — and typed blocks built from samples or the whole graph.

use ferrograph_graph::column::Column;
use ferrograph_graph::{Graph, NodeTypeId};
use ferrograph_nn::Tensor;
use ferrograph_nn::embedding::SparseEmbedding;
use ferrograph_nn::hetero::LayerBlock;
use ferrograph_nn::ops::Adj;
use ferrograph_nn::{Hop, infer_device, matrix, train_device};
use ferrograph_sample::Relation;
use ferrograph_sample::hetero::HeteroOutput;

use crate::config::{ModelKind, TrainConfig};
use crate::{Error, Result};

/// Where a node type's input rows come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A numeric column (dense vectors, sparse rows, or scalars).
    Features(String),
    /// A learnable table, one row per node.
    Embedding(usize),
    /// A learnable table indexed by the codes of a categorical attribute.
    Categorical {
        /// Code of each node.
        codes: Vec<u32>,
        /// Distinct codes (table rows).
        rows: usize,
        /// Width.
        dim: usize,
    },
}

/// A node type's input: its source and width.
#[derive(Clone, Debug)]
pub struct TypeInput {
    /// The node type.
    pub node_type: NodeTypeId,
    /// Source.
    pub source: Source,
    /// Row width.
    pub dim: usize,
}

/// The config resolved against a graph.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// Node type classified.
    pub target: NodeTypeId,
    /// Label of every target node.
    pub labels: Vec<i64>,
    /// Classes.
    pub classes: usize,
    /// Training nodes.
    pub train: Vec<u32>,
    /// Validation nodes.
    pub val: Vec<u32>,
    /// Test nodes.
    pub test: Vec<u32>,
    /// Relations, in model-slot order.
    pub relations: Vec<Relation>,
    /// Their names, for reports.
    pub relation_names: Vec<String>,
    /// HAN's metapaths.
    pub metapaths: Vec<Vec<Relation>>,
    /// Metapath names (relations joined with `-`).
    pub metapath_names: Vec<String>,
    /// Input of every node type (index = node type).
    pub inputs: Vec<TypeInput>,
    /// Scale feature rows to sum 1 (`data.normalize_features`).
    pub normalize: bool,
}

impl Resolved {
    /// Node types.
    pub fn types(&self) -> usize {
        self.inputs.len()
    }
}

/// Resolves the heterogeneous parts of `cfg` in `g`.
pub fn resolve(cfg: &TrainConfig, g: &Graph) -> Result<Resolved> {
    let d = &cfg.data;
    let schema = g.schema();
    let target = schema.node_type(&d.node_type).map_err(|e| cfg.field("data.node_type", e))?;
    let label = d.label.as_deref().ok_or_else(|| cfg.field("data.label", "node classification needs it"))?;
    let labels: Vec<i64> = match g.node_column(target, label).map_err(|e| cfg.field("data.label", e))? {
        Column::Int(a) => a.as_slice().to_vec(),
        Column::Categorical { codes, .. } | Column::Hashed { codes, .. } => codes.as_slice().iter().map(|&c| i64::from(c)).collect(),
        other => {
            return Err(cfg.field("data.label", format!("column `{label}` is {}, not an integer or categorical column", other.kind().describe())));
        }
    };
    let set = |field: &str, name: &str| -> Result<Vec<u32>> {
        let s = g.node_set(target, name).map_err(|e| cfg.field(field, e))?;
        if s.is_empty() {
            return Err(cfg.field(field, format!("node set `{name}` is empty")));
        }
        Ok(s.to_vec())
    };
    let (train, val, test) = (set("data.train_set", &d.train_set)?, set("data.val_set", &d.val_set)?, set("data.test_set", &d.test_set)?);
    let mut max = 0i64;
    for &v in train.iter().chain(&val).chain(&test) {
        let l = labels[v as usize];
        if l < 0 {
            return Err(cfg.field("data.label", format!("node {v} of a split has label {l}; labels must be 0 or more")));
        }
        max = max.max(l);
    }
    let classes = match d.classes {
        Some(c) if max as usize >= c => return Err(cfg.field("data.classes", format!("label {max} is out of range for {c} classes"))),
        Some(c) => c,
        None => max as usize + 1,
    };
    if classes < 2 {
        return Err(cfg.field("data.label", "at least two classes are needed"));
    }
    // Relations: as named, else every edge type both ways.
    let names: Vec<String> = match &d.relations {
        Some(r) if r.is_empty() => return Err(cfg.field("data.relations", "name at least one relation")),
        Some(r) => r.clone(),
        None => schema
            .edge_types
            .iter()
            .flat_map(|e| if e.undirected { vec![e.relation.clone()] } else { vec![e.relation.clone(), e.reverse.clone()] })
            .collect(),
    };
    let mut relations = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let r = Relation::resolve(g, n).map_err(|e| cfg.field(&format!("data.relations[{i}]"), e))?;
        if relations.contains(&r) {
            return Err(cfg.field(&format!("data.relations[{i}]"), format!("relation `{n}` is listed twice")));
        }
        relations.push(r);
    }
    if cfg.model.kind != ModelKind::Han && !relations.iter().any(|r| r.from == target) {
        return Err(cfg.field("data.relations", format!("no relation starts at `{}`, so its nodes would receive no messages", d.node_type)));
    }
    // Metapaths.
    let mut metapaths = Vec::new();
    let mut metapath_names = Vec::new();
    for (i, mp) in d.metapaths.iter().flatten().enumerate() {
        let field = format!("data.metapaths[{i}]");
        if mp.is_empty() {
            return Err(cfg.field(&field, "a metapath needs at least one relation"));
        }
        let mut path = Vec::new();
        for (j, n) in mp.iter().enumerate() {
            path.push(Relation::resolve(g, n).map_err(|e| cfg.field(&format!("{field}[{j}]"), e))?);
        }
        let type_name = |t: NodeTypeId| schema.node_types[t.0 as usize].name.clone();
        if path[0].from != target {
            return Err(cfg.field(&field, format!("starts at `{}`, not at `{}`", type_name(path[0].from), d.node_type)));
        }
        for j in 1..path.len() {
            if path[j - 1].to != path[j].from {
                return Err(cfg.field(
                    &field,
                    format!(
                        "`{}` ends at `{}` but `{}` starts at `{}`: the types do not chain",
                        mp[j - 1],
                        type_name(path[j - 1].to),
                        mp[j],
                        type_name(path[j].from)
                    ),
                ));
            }
        }
        if path[path.len() - 1].to != target {
            return Err(cfg.field(&field, format!("ends at `{}`, not back at `{}`", type_name(path[path.len() - 1].to), d.node_type)));
        }
        metapaths.push(path);
        metapath_names.push(mp.join("-"));
    }
    // Inputs per node type: every type the model reads needs one.
    let han = cfg.model.kind == ModelKind::Han;
    let used = |t: NodeTypeId| if han { t == target } else { t == target || relations.iter().any(|r| r.to == t || r.from == t) };
    let mut inputs = Vec::new();
    for (t, ts) in schema.node_types.iter().enumerate() {
        let node_type = NodeTypeId(t as u16);
        let field = format!("data.inputs.{}", ts.name);
        let spec = d.inputs.get(&ts.name);
        let features_of = |name: &str, field: &str| -> Result<TypeInput> {
            let c = g.node_column(node_type, name).map_err(|e| cfg.field(field, e))?;
            let dim = ferrograph_sample::features::width(c);
            if dim == 0 {
                return Err(cfg.field(field, format!("column `{name}` of `{}` is {}, not numeric features", ts.name, c.kind().describe())));
            }
            Ok(TypeInput { node_type, source: Source::Features(name.to_string()), dim })
        };
        let input = match spec {
            Some(s) if s.features.is_some() => features_of(s.features.as_deref().unwrap_or_default(), &format!("{field}.features"))?,
            Some(s) if s.embedding.is_some() => {
                let dim = s.embedding.unwrap_or(cfg.model.input_dim);
                TypeInput { node_type, source: Source::Embedding(dim), dim }
            }
            Some(s) => {
                let attr = s.categorical.as_deref().unwrap_or_default();
                let f = format!("{field}.categorical");
                let (codes, rows): (Vec<u32>, usize) = match g.node_column(node_type, attr).map_err(|e| cfg.field(&f, e))? {
                    Column::Categorical { codes, dict } => (codes.as_slice().to_vec(), dict.len()),
                    Column::Hashed { codes, buckets } => (codes.as_slice().to_vec(), *buckets as usize),
                    Column::Int(a) => {
                        let v = a.as_slice();
                        if v.iter().any(|&x| x < 0 || x > u32::MAX as i64 / 2) {
                            return Err(cfg.field(&f, format!("integer attribute `{attr}` has values outside 0..2^31")));
                        }
                        let rows = v.iter().max().map_or(0, |&m| m as usize + 1);
                        (v.iter().map(|&x| x as u32).collect(), rows)
                    }
                    other => return Err(cfg.field(&f, format!("`{attr}` is {}, not a categorical attribute", other.kind().describe()))),
                };
                let dim = s.dim.unwrap_or(cfg.model.input_dim);
                TypeInput { node_type, source: Source::Categorical { codes, rows, dim }, dim }
            }
            None => match d.features.as_deref().filter(|f| g.node_column(node_type, f).is_ok()) {
                Some(f) => features_of(f, "data.features")?,
                // A type the model never reads needs no input.
                None if !used(node_type) => TypeInput { node_type, source: Source::Embedding(0), dim: 0 },
                None => {
                    return Err(cfg.field(
                        &field,
                        format!(
                            "node type `{}` has {}; give it `{{ embedding = 64 }}` (a learnable table), `{{ features = \"column\" }}` or `{{ categorical = \"attribute\", dim = 16 }}`",
                            ts.name,
                            match &d.features {
                                Some(f) => format!("no `{f}` column (the default input, `data.features`)"),
                                None => "no input (no `data.features`)".to_string(),
                            }
                        ),
                    ));
                }
            },
        };
        inputs.push(input);
    }
    for k in d.inputs.keys() {
        if schema.node_type(k).is_err() {
            return Err(cfg.field(&format!("data.inputs.{k}"), format!("`{k}` is not a node type of the graph")));
        }
    }
    if cfg.model.kind == ModelKind::Han && !matches!(inputs[target.0 as usize].source, Source::Features(_)) {
        return Err(cfg.field("data.features", "HAN reads the features of the classified type: name its column"));
    }
    Ok(Resolved {
        target,
        labels,
        classes,
        train,
        val,
        test,
        relations,
        relation_names: names,
        metapaths,
        metapath_names,
        inputs,
        normalize: cfg.data.normalize_features,
    })
}

/// The learnable tables of a model's inputs (one per node type that has one).
#[derive(Clone, Debug)]
pub struct Tables {
    /// Per node type.
    pub tables: Vec<Option<SparseEmbedding>>,
}

impl Tables {
    /// Fresh tables for `r`'s inputs.
    pub fn new(g: &Graph, r: &Resolved, seed: u64) -> Tables {
        let tables = r
            .inputs
            .iter()
            .map(|i| match &i.source {
                Source::Features(_) => None,
                Source::Embedding(0) => None,
                Source::Embedding(d) => {
                    Some(SparseEmbedding::new(g.node_count(i.node_type), *d, ferrograph_sample::rng::derive(seed, 900 + i.node_type.0 as u64)))
                }
                Source::Categorical { rows, dim, .. } => {
                    Some(SparseEmbedding::new(*rows, *dim, ferrograph_sample::rng::derive(seed, 900 + i.node_type.0 as u64)))
                }
            })
            .collect();
        Tables { tables }
    }
}

/// Input rows of `nodes` of one type: a constant for features, or a
/// gradient-tracking lookup (with the table rows it reads).
pub struct Rows {
    /// `[nodes, dim]`.
    pub x: Tensor<2>,
    /// Table rows read, when the input is learnable.
    pub lookup: Option<Vec<u32>>,
}

/// Feature rows of `nodes` of type `t` from column `name` (row-normalised
/// when the config asks), row-major.
pub fn feature_rows(g: &Graph, r: &Resolved, t: usize, name: &str, nodes: &[u32]) -> Result<Vec<f32>> {
    let inp = &r.inputs[t];
    let c = g.node_column(inp.node_type, name)?;
    let mut buf = Vec::new();
    ferrograph_sample::features::gather(c, nodes, &mut buf)?;
    if r.normalize {
        for row in buf.chunks_mut(inp.dim.max(1)) {
            let s: f32 = row.iter().map(|x| x.abs()).sum();
            if s != 0.0 {
                row.iter_mut().for_each(|x| *x /= s);
            }
        }
    }
    Ok(buf)
}

/// Reads the input rows of `nodes` of type `t`; `train` tracks gradients of learnable rows.
pub fn input_rows(g: &Graph, r: &Resolved, tables: &Tables, t: usize, nodes: &[u32], train: bool) -> Result<Rows> {
    let inp = &r.inputs[t];
    Ok(match &inp.source {
        Source::Features(name) => {
            let device = if train { train_device() } else { infer_device() };
            Rows { x: matrix(feature_rows(g, r, t, name, nodes)?, nodes.len(), inp.dim, &device), lookup: None }
        }
        Source::Embedding(_) | Source::Categorical { .. } => {
            let idx: Vec<u32> = match &inp.source {
                Source::Categorical { codes, .. } => nodes.iter().map(|&n| codes[n as usize]).collect(),
                _ => nodes.to_vec(),
            };
            let table = tables.tables[t].as_ref().ok_or_else(|| Error::Data(format!("node type {t} has no input table")))?;
            if train { Rows { x: table.lookup(&idx), lookup: Some(idx) } } else { Rows { x: table.rows_of(&idx), lookup: None } }
        }
    })
}

/// The typed blocks of a sampled batch for an `layers`-layer model whose
/// sampler walked `relations` (in slot order) at every hop.
pub fn blocks(out: &HeteroOutput, relations: &[Relation], layers: usize) -> Vec<LayerBlock> {
    (0..layers)
        .map(|k| {
            let (n_dst, n_src, top) = out.layer_counts(layers, k);
            let hops = relations
                .iter()
                .enumerate()
                .map(|(slot, rel)| {
                    let (from, to) = (rel.from.0 as usize, rel.to.0 as usize);
                    let (mut dst, mut src) = (Vec::new(), Vec::new());
                    for e in out.edges.iter().filter(|e| e.relation == slot && e.hop <= top) {
                        dst.extend_from_slice(&e.col);
                        src.extend_from_slice(&e.row);
                    }
                    (n_dst[from] > 0).then(|| Hop::bipartite(Adj::from_edges(n_dst[from], n_src[to], &dst, &src, None)))
                })
                .collect();
            LayerBlock { dst_start: vec![0; n_dst.len()], n_dst, n_src, hops }
        })
        .collect()
}

/// The whole graph as one layer (every node of every type a destination),
/// restricted to destinations `rows` of type `only` when given (chunked
/// inference); sources are always every node.
pub fn full_layer(g: &Graph, relations: &[Relation], only: Option<(usize, std::ops::Range<usize>)>) -> LayerBlock {
    let types = g.schema().node_types.len();
    let counts: Vec<usize> = (0..types).map(|t| g.node_count(NodeTypeId(t as u16))).collect();
    let n_dst: Vec<usize> = match &only {
        Some((t, rows)) => (0..types).map(|u| if u == *t { rows.len() } else { 0 }).collect(),
        None => counts.clone(),
    };
    let dst_start: Vec<usize> = (0..types).map(|u| if let Some((t, rows)) = &only { if u == *t { rows.start } else { 0 } } else { 0 }).collect();
    let hops = relations
        .iter()
        .map(|rel| {
            let (from, to) = (rel.from.0 as usize, rel.to.0 as usize);
            if n_dst[from] == 0 {
                return None;
            }
            let csr = g.topology(rel.edge_type, rel.direction);
            let rows = match &only {
                Some((_, r)) => r.clone(),
                None => 0..counts[from],
            };
            let o = csr.offsets.as_slice();
            let base = o[rows.start];
            let offsets: Vec<u32> = o[rows.start..=rows.end].iter().map(|&x| (x - base) as u32).collect();
            let cols = csr.targets.as_slice()[base as usize..o[rows.end] as usize].to_vec();
            Some(Hop::bipartite(Adj::new(rows.len(), counts[to], offsets, cols, None)))
        })
        .collect();
    LayerBlock { n_dst, dst_start, n_src: counts, hops }
}

/// HAN's exact metapath neighbourhoods over all target nodes (self
/// excluded; the attention layer adds a self-loop), as one hop.
pub fn metapath_hop(g: &Graph, path: &[Relation]) -> Hop {
    let n = g.node_count(path[0].from);
    let mut offsets = vec![0u32];
    let mut cols = Vec::new();
    let mut mark: Vec<Vec<u32>> = path.iter().map(|r| vec![u32::MAX; g.node_count(r.to)]).collect();
    let mut frontier = Vec::new();
    let mut next = Vec::new();
    for v in 0..n as u32 {
        frontier.clear();
        frontier.push(v);
        for (s, rel) in path.iter().enumerate() {
            let csr = g.topology(rel.edge_type, rel.direction);
            next.clear();
            for &u in &frontier {
                for &w in csr.neighbors(u as usize) {
                    if mark[s][w as usize] != v {
                        mark[s][w as usize] = v;
                        next.push(w);
                    }
                }
            }
            std::mem::swap(&mut frontier, &mut next);
        }
        frontier.retain(|&w| w != v);
        frontier.sort_unstable();
        cols.extend_from_slice(&frontier);
        offsets.push(cols.len() as u32);
    }
    Hop::sparse(Adj::new(n, n, offsets, cols, None), None)
}

/// Sampled metapath neighbourhoods of `seeds`: one shared node list (the
/// seeds first, then every sampled neighbour once) and a hop per metapath.
pub fn metapath_batch<G: ferrograph_sample::NeighborAccess + ?Sized>(
    g: &G,
    paths: &[Vec<Relation>],
    seeds: &[u32],
    k: &[usize],
    seed: u64,
) -> Result<(Vec<u32>, Vec<Hop>)> {
    let mut nodes: Vec<u32> = seeds.to_vec();
    let mut pos: std::collections::HashMap<u32, u32> = seeds.iter().enumerate().map(|(i, &s)| (s, i as u32)).collect();
    let mut lists = Vec::new();
    for (m, path) in paths.iter().enumerate() {
        let (off, nbrs) = ferrograph_sample::hetero::metapath_neighbors(g, path, seeds, k[m], ferrograph_sample::rng::derive(seed, m as u64))?;
        let (mut dst, mut src) = (Vec::new(), Vec::new());
        for i in 0..seeds.len() {
            for &w in &nbrs[off[i] as usize..off[i + 1] as usize] {
                if w == seeds[i] {
                    continue;
                }
                let p = *pos.entry(w).or_insert_with(|| {
                    nodes.push(w);
                    (nodes.len() - 1) as u32
                });
                dst.push(i as u32);
                src.push(p);
            }
        }
        lists.push((dst, src));
    }
    let hops = lists.into_iter().map(|(d, s)| Hop::sparse(Adj::from_edges(seeds.len(), nodes.len(), &d, &s, None), None)).collect();
    Ok((nodes, hops))
}
