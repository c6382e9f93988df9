//! Heterogeneous node classification (`model.kind = "rgcn" | "hetero_sage"
//! | "han"`): mini-batches of typed blocks (`train.mode = "sampled"`) or the
//! whole graph per step (`"full"`); the optimiser on the model, lazy sparse
//! Adam on the learnable input tables; exact evaluation over every target
//! node after each epoch (layer by layer, full neighbourhoods, in chunks of
//! destinations, without autodiff). HAN trains on sampled metapath
//! neighbourhoods and evaluates on 4× more walks per node (exact
//! neighbourhoods of dense metapaths — ACM's paper–subject–paper has 4.3M
//! pairs — cost more than the model), or exact ones in `full` mode.

pub mod resolve;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use ferrograph_graph::{Graph, NodeTypeId};
use ferrograph_nn::hetero::{HeteroModel, HeteroShape, LayerBlock, init};
use ferrograph_nn::optim::Optimizer;
use ferrograph_nn::{Hop, Module, Tensor, host, matrix, record, train_device};
use ferrograph_sample::hetero::{HeteroSampler, TypedHopSpec};
use ferrograph_sample::rng::derive;
use ferrograph_sample::traverse::Batches;
use ferrograph_sample::{LocalGraph, Strategy};

use self::resolve::{Resolved, Source, Tables, blocks, full_layer, input_rows, metapath_batch, metapath_hop};
use super::{Embedding, Export, shape};
use crate::checkpoint::{Sections, bytes_f32, f32_bytes};
use crate::config::{Mode, TrainConfig};
use crate::engine::{Evaluation, Finish, Observer, StepOut, Task};
use crate::metrics::{argmax, classify};
use crate::{Error, Result};

/// Destinations per chunk of evaluation.
const CHUNK: usize = 8192;

/// The task.
pub struct HeteroTask<'g> {
    cfg: &'g TrainConfig,
    g: &'g Graph,
    local: LocalGraph<'g>,
    r: Resolved,
    sampler: Option<HeteroSampler>,
    metapath_k: Vec<usize>,
    /// HAN's evaluation neighbourhoods over every target node.
    han_hops: Option<Vec<Hop>>,
    batches: Batches,
    layers: usize,
}

/// The learned state.
pub struct HeteroState {
    model: HeteroModel,
    tables: Tables,
    optim: Optimizer,
}

/// A batch prepared on a loader thread.
pub struct Batch {
    /// Sampled nodes per type (HAN: the shared node list, target type).
    nodes: Vec<Vec<u32>>,
    /// Typed blocks (HeteroSAGE, R-GCN).
    blocks: Vec<LayerBlock>,
    /// HAN: a hop per metapath.
    metapath_hops: Vec<Hop>,
    /// Feature rows per type, where the type reads features.
    features: Vec<Option<Vec<f32>>>,
    /// Labels of the seeds.
    labels: Vec<i64>,
    /// Rows of the target type's output the labels belong to (default: the
    /// first `labels.len()`, the seeds).
    label_rows: Option<Vec<u32>>,
}

impl<'g> HeteroTask<'g> {
    /// Resolves `cfg` in `g`.
    pub fn new(cfg: &'g TrainConfig, g: &'g Graph) -> Result<Self> {
        let r = resolve::resolve(cfg, g)?;
        let local = LocalGraph::new(g);
        let han = cfg.model.kind == crate::config::ModelKind::Han;
        let layers = if han { 1 } else { cfg.model.num_layers() };
        let t = &cfg.train;
        if let Some(unknown) = t.relation_fanouts.keys().find(|k| !r.relation_names.contains(k) && !r.metapath_names.contains(k)) {
            let known: Vec<&str> = r.relation_names.iter().chain(&r.metapath_names).map(String::as_str).collect();
            return Err(
                cfg.field("train.relation_fanouts", format!("`{unknown}` is not one of the model's relations or metapaths ({})", known.join(", ")))
            );
        }
        let sampler = if han {
            None
        } else {
            let hops = (0..layers)
                .map(|h| {
                    r.relations
                        .iter()
                        .zip(&r.relation_names)
                        .map(|(&relation, name)| {
                            let f = t.relation_fanouts.get(name).unwrap_or(&t.fanouts);
                            TypedHopSpec { relation, fanout: f[h.min(f.len().saturating_sub(1))] }
                        })
                        .collect()
                })
                .collect();
            Some(HeteroSampler::new(r.target, r.types(), hops, Strategy::RandomWithoutReplacement)?)
        };
        let metapath_k: Vec<usize> = r.metapath_names.iter().map(|n| t.relation_fanouts.get(n).map_or(t.fanouts[0], |f| f[0])).collect();
        let han_hops = if !han {
            None
        } else if t.mode == Mode::Full {
            Some(r.metapaths.iter().map(|p| metapath_hop(g, p)).collect())
        } else {
            const EVAL_WALKS: usize = 4;
            let all: Vec<u32> = (0..g.node_count(r.target) as u32).collect();
            let k: Vec<usize> = metapath_k.iter().map(|k| k * EVAL_WALKS).collect();
            Some(metapath_batch(&local, &r.metapaths, &all, &k, derive(t.seed, 0xe7a1))?.1)
        };
        let batches = Batches::new(r.train.clone(), t.batch_size, true, false, t.seed)?;
        Ok(HeteroTask { cfg, g, local, r, sampler, metapath_k, han_hops, batches, layers })
    }

    fn han(&self) -> bool {
        self.han_hops.is_some()
    }

    fn target(&self) -> usize {
        self.r.target.0 as usize
    }

    fn input_dims(&self) -> Vec<usize> {
        self.r.inputs.iter().map(|i| i.dim).collect()
    }

    /// Feature rows of `nodes` for every type that reads a column.
    fn gather(&self, nodes: &[Vec<u32>]) -> Result<Vec<Option<Vec<f32>>>> {
        self.r
            .inputs
            .iter()
            .zip(nodes)
            .zip(0..)
            .map(|((inp, ns), t)| match &inp.source {
                Source::Features(name) if !ns.is_empty() => Ok(Some(resolve::feature_rows(self.g, &self.r, t, name, ns)?)),
                _ => Ok(None),
            })
            .collect()
    }

    /// Exact outputs over all target nodes with a plain copy of the model:
    /// logits (`[n, classes]`) and the last hidden representation.
    fn infer(&self, model: &HeteroModel, tables: &Tables, obs: &dyn Observer, what: &str) -> Result<(Vec<f32>, Vec<f32>, usize)> {
        let model = model.valid();
        let g = self.g;
        let r = &self.r;
        let target = self.target();
        let n = g.node_count(r.target);
        match &model {
            HeteroModel::Han(han) => {
                let hops = self.han_hops.as_deref().ok_or_else(|| Error::Data("HAN inference needs the metapath hops".into()))?;
                let all: Vec<u32> = (0..n as u32).collect();
                let x = input_rows(g, r, tables, target, &all, false)?.x;
                let (z, _) = han.embed(hops, x.clone(), None);
                let width = z.dims()[1];
                let logits = han.forward(hops, x, None);
                obs.progress(what, n, n);
                Ok((host(logits), host(z), width))
            }
            HeteroModel::Layers(m) => {
                let types = r.types();
                let mut h: Vec<Option<Tensor<2>>> = (0..types)
                    .map(|t| {
                        let count = g.node_count(NodeTypeId(t as u16));
                        if count == 0 || r.inputs[t].dim == 0 {
                            return Ok(None);
                        }
                        let mut parts = Vec::new();
                        for start in (0..count).step_by(CHUNK) {
                            let ids: Vec<u32> = (start as u32..(start + CHUNK).min(count) as u32).collect();
                            parts.push(m.project(t, input_rows(g, r, tables, t, &ids, false)?.x));
                        }
                        Ok(Some(Tensor::cat(parts, 0)))
                    })
                    .collect::<Result<_>>()?;
                let layers = m.num_layers();
                let mut hidden = None;
                for l in 0..layers {
                    let last = l + 1 == layers;
                    if last {
                        hidden = h[target].clone();
                    }
                    let mut next: Vec<Option<Tensor<2>>> = vec![None; types];
                    for (t, slot) in next.iter_mut().enumerate() {
                        if (last && t != target) || h[t].is_none() {
                            continue;
                        }
                        let count = g.node_count(NodeTypeId(t as u16));
                        let mut parts = Vec::new();
                        for start in (0..count).step_by(CHUNK) {
                            let block = full_layer(g, &r.relations, Some((t, start..(start + CHUNK).min(count))));
                            let mut out = m.layer(l, &r.relations, &block, h.clone(), None);
                            if let Some(y) = out[t].take() {
                                parts.push(y);
                            }
                            obs.progress(&format!("{what}: layer {}/{layers}", l + 1), (start + CHUNK).min(count), count);
                        }
                        if !parts.is_empty() {
                            *slot = Some(Tensor::cat(parts, 0));
                        }
                    }
                    h = next;
                }
                let logits = h[target].take().ok_or_else(|| Error::Data("the model produced no output for the classified type".into()))?;
                let hidden = hidden.unwrap_or_else(|| logits.clone());
                let width = hidden.dims()[1];
                Ok((host(logits), host(hidden), width))
            }
        }
    }
}

impl Task for HeteroTask<'_> {
    type Model = HeteroState;
    type Plan = Vec<Vec<u32>>;
    type Batch = Batch;

    fn selection(&self) -> Option<String> {
        Some("accuracy".into())
    }

    fn shape(&self) -> BTreeMap<String, String> {
        shape(&[
            ("types", self.r.types().to_string()),
            ("input_widths", format!("{:?}", self.input_dims())),
            ("relations", self.r.relation_names.join(",")),
            ("classes", self.r.classes.to_string()),
        ])
    }

    fn init(&self) -> Result<HeteroState> {
        let t = &self.cfg.train;
        let dims = self.input_dims();
        let shape = HeteroShape {
            target: self.target(),
            classes: self.r.classes,
            input_dims: &dims,
            relations: &self.r.relations,
            metapaths: self.r.metapaths.len(),
        };
        Ok(HeteroState {
            model: init(&self.cfg.hetero_config(), &shape, t.seed),
            tables: Tables::new(self.g, &self.r, t.seed),
            optim: Optimizer::new(t.optimizer, t.weight_decay),
        })
    }

    fn plan(&self, epoch: usize) -> Result<Self::Plan> {
        Ok(match self.cfg.train.mode {
            Mode::Full => vec![self.r.train.clone()],
            _ => self.batches.epoch(epoch as u64).collect(),
        })
    }

    fn steps(&self, plan: &Self::Plan) -> usize {
        plan.len()
    }

    fn prepare(&self, plan: &Self::Plan, epoch: usize, step: usize) -> Result<Batch> {
        let (g, r) = (self.g, &self.r);
        let target = self.target();
        if self.cfg.train.mode == Mode::Full {
            let nodes: Vec<Vec<u32>> = (0..r.types()).map(|ty| (0..g.node_count(NodeTypeId(ty as u16)) as u32).collect()).collect();
            let features = self.gather(&nodes)?;
            let (blocks, hops) = match &self.han_hops {
                Some(h) => (Vec::new(), h.iter().map(Hop::shared).collect()),
                None => ((0..self.layers).map(|_| full_layer(g, &r.relations, None)).collect(), Vec::new()),
            };
            let labels = r.train.iter().map(|&v| r.labels[v as usize]).collect();
            return Ok(Batch { nodes, blocks, metapath_hops: hops, features, labels, label_rows: Some(r.train.clone()) });
        }
        let seeds = &plan[step];
        let bseed = derive(derive(self.cfg.train.seed, epoch as u64), step as u64);
        if self.han() {
            let (ns, hops) = metapath_batch(&self.local, &r.metapaths, seeds, &self.metapath_k, bseed)?;
            let mut nodes = vec![Vec::new(); r.types()];
            nodes[target] = ns;
            let features = self.gather(&nodes)?;
            let labels = seeds.iter().map(|&s| r.labels[s as usize]).collect();
            return Ok(Batch { nodes, blocks: Vec::new(), metapath_hops: hops, features, labels, label_rows: None });
        }
        let s = self.sampler.as_ref().ok_or_else(|| Error::Data("no sampler".into()))?;
        let o = s.sample(&self.local, seeds, bseed)?;
        let blocks = blocks(&o, &r.relations, self.layers);
        let features = self.gather(&o.nodes)?;
        let labels = o.nodes[target][..o.num_nodes[target][0]].iter().map(|&v| r.labels[v as usize]).collect();
        Ok(Batch { nodes: o.nodes, blocks, metapath_hops: Vec::new(), features, labels, label_rows: None })
    }

    fn step(&self, state: HeteroState, p: Batch, epoch: usize, step: usize) -> Result<(HeteroState, StepOut)> {
        let HeteroState { model, mut tables, mut optim } = state;
        let (r, t) = (&self.r, &self.cfg.train);
        let target = self.target();
        let dev = train_device();
        let dseed = derive(derive(t.seed ^ 0xd0, epoch as u64), step as u64);
        // Input tensors per type; learnable rows are looked up with gradients.
        let mut lookups = Vec::new();
        let xs: Vec<Option<Tensor<2>>> = p
            .features
            .into_iter()
            .enumerate()
            .map(|(ty, f)| {
                if p.nodes[ty].is_empty() {
                    return None;
                }
                match (f, &r.inputs[ty].source) {
                    (Some(buf), _) => Some(matrix(buf, p.nodes[ty].len(), r.inputs[ty].dim, &dev)),
                    (None, Source::Features(_)) => None,
                    (None, src) => {
                        let idx: Vec<u32> = match src {
                            Source::Categorical { codes, .. } => p.nodes[ty].iter().map(|&n| codes[n as usize]).collect(),
                            _ => p.nodes[ty].clone(),
                        };
                        let x = tables.tables[ty].as_ref()?.lookup(&idx);
                        lookups.push((ty, idx, x.clone()));
                        Some(x)
                    }
                }
            })
            .collect();
        let logits = match &model {
            HeteroModel::Layers(m) => {
                let mut outs = m.forward(&r.relations, &p.blocks, xs, Some(dseed));
                outs[target].take().ok_or_else(|| Error::Data("no output for the classified type".into()))?
            }
            HeteroModel::Han(h) => {
                let x = xs.into_iter().nth(target).flatten().ok_or_else(|| Error::Data("HAN needs the classified type's features".into()))?;
                h.forward(&p.metapath_hops, x, Some(dseed))
            }
        };
        let n = p.labels.len();
        let logits = match &p.label_rows {
            Some(rows) => logits.select(0, ferrograph_nn::index(rows, &dev)),
            None => logits.narrow(0, 0, n),
        };
        let pred = host(logits.clone().detach());
        let classes = r.classes;
        let correct = p.labels.iter().enumerate().filter(|(i, l)| argmax(&pred[i * classes..][..classes]) == **l as usize).count();
        let loss = ferrograph_nn::loss::cross_entropy(logits, &p.labels);
        let grads = loss.backward();
        let lv = ferrograph_nn::scalar(loss);
        for (ty, idx, x) in &lookups {
            if let (Some(g), Some(tb)) = (x.grad(&grads), tables.tables[*ty].as_mut()) {
                tb.step(idx, g, t.lr);
            }
        }
        let model = optim.step(t.lr, model, grads);
        Ok((HeteroState { model, tables, optim }, StepOut { loss: f64::from(lv), examples: n, correct: Some(correct), history: None }))
    }

    fn evaluate(&self, state: &HeteroState, _epoch: usize, obs: &dyn Observer) -> Result<Evaluation> {
        let (logits, _, _) = self.infer(&state.model, &state.tables, obs, "validation")?;
        Ok(Evaluation { val: classify(&logits, self.r.classes, &self.r.labels, &self.r.val).metrics(), test: Default::default() })
    }

    fn finish(&self, state: &HeteroState, out: &Path, obs: &dyn Observer) -> Result<Finish> {
        obs.phase("test");
        let t0 = Instant::now();
        let (logits, hidden, width) = self.infer(&state.model, &state.tables, obs, "test")?;
        let test = classify(&logits, self.r.classes, &self.r.labels, &self.r.test).metrics();
        let test_s = t0.elapsed().as_secs_f64();
        obs.phase("export");
        let t1 = Instant::now();
        let files = crate::export::write_embeddings(self.g, self.r.target, &hidden, width, out, "embeddings")?;
        let phases = [("test".to_string(), test_s), ("export".to_string(), t1.elapsed().as_secs_f64())].into_iter().collect();
        Ok(Finish { test, baseline: Default::default(), files, phases })
    }

    fn save(&self, state: &HeteroState, optimizer: bool) -> Result<Vec<u8>> {
        let m = record::to_bytes(&state.model)?;
        let o = if optimizer { state.optim.to_bytes()? } else { Vec::new() };
        let mut blobs = vec![m, o];
        for tb in state.tables.tables.iter().flatten() {
            let (table, mo, v, steps) = tb.state();
            blobs.extend([f32_bytes(table), f32_bytes(mo), f32_bytes(v), steps.iter().flat_map(|s| s.to_le_bytes()).collect()]);
        }
        Ok(Sections::pack(&blobs.iter().map(Vec::as_slice).collect::<Vec<_>>()))
    }

    fn load(&self, bytes: &[u8]) -> Result<HeteroState> {
        let mut fresh = self.init()?;
        let count = fresh.tables.tables.iter().flatten().count();
        let parts = Sections::unpack(bytes, 2 + 4 * count, "heterogeneous model")?;
        let model = record::from_bytes(fresh.model, parts[0])?;
        let optim = if parts[1].is_empty() { fresh.optim } else { fresh.optim.with_bytes(parts[1])? };
        let bad = || Error::Data("heterogeneous model: an input table in the checkpoint does not fit".into());
        for (k, slot) in fresh.tables.tables.iter_mut().filter(|t| t.is_some()).enumerate() {
            let Some(tb) = slot.as_ref() else { continue };
            let p = &parts[2 + 4 * k..2 + 4 * k + 4];
            let steps: Vec<u32> = p[3].chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            let (table, m, v) = (bytes_f32(p[0]).ok_or_else(bad)?, bytes_f32(p[1]).ok_or_else(bad)?, bytes_f32(p[2]).ok_or_else(bad)?);
            *slot = Some(ferrograph_nn::embedding::SparseEmbedding::from_state(tb.rows, tb.dim, table, m, v, steps).ok_or_else(bad)?);
        }
        Ok(HeteroState { model, tables: fresh.tables, optim })
    }

    fn describe(&self) -> String {
        let (m, t) = (&self.cfg.model, &self.cfg.train);
        format!(
            "Heterogeneous node classification of `{}` ({} classes; {} train / {} val / {} test). Model {} (hidden {:?}, dropout {}); relations {}{}; mode {:?}, fan-outs {:?}, batch {}, {} lr {} weight decay {}, seed {}.",
            self.cfg.data.node_type,
            self.r.classes,
            self.r.train.len(),
            self.r.val.len(),
            self.r.test.len(),
            m.kind.name(),
            m.hidden,
            m.dropout,
            self.r.relation_names.join(", "),
            if self.r.metapath_names.is_empty() { String::new() } else { format!("; metapaths {}", self.r.metapath_names.join(", ")) },
            t.mode,
            t.fanouts,
            t.batch_size,
            t.optimizer.name(),
            t.lr,
            t.weight_decay,
            t.seed
        )
    }
}

impl Export for HeteroTask<'_> {
    fn embeddings(&self, state: &HeteroState, output_layer: bool, obs: &dyn Observer) -> Result<Vec<Embedding>> {
        let (logits, hidden, width) = self.infer(&state.model, &state.tables, obs, "embeddings")?;
        let (values, dim) = if output_layer { (logits, self.r.classes) } else { (hidden, width) };
        Ok(vec![Embedding { node_type: self.r.target, stem: "embeddings".into(), values, dim }])
    }
}

#[cfg(test)]
mod tests {
    //! Typed blocks against exact inference: with fan-outs larger than any
    //! degree, a sampled batch holds every neighbourhood in full, so R-GCN
    //! and HeteroSAGE must give the seeds exactly the outputs that
    //! layer-wise full-graph inference gives them (checks block layout, hop
    //! counts, prefixes and relation slots together).
    use super::*;
    use crate::engine::Quiet;

    #[test]
    fn sampled_blocks_with_full_fanouts_match_exact_inference() {
        let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let g = ferrograph_io::import_file(&repo.join("configs/acm.toml"), &ferrograph_graph::progress::NoProgress).unwrap();
        for name in ["acm-rgcn", "acm-hetero-sage"] {
            let path = repo.join(format!("configs/train/{name}.toml"));
            let text = std::fs::read_to_string(&path).unwrap().replace("fanouts = [10, 10]", "fanouts = [100000, 100000]");
            assert!(text.contains("100000"), "{name}: the config's fan-outs were not replaced");
            let cfg = TrainConfig::parse(&text, &path).unwrap();
            let task = HeteroTask::new(&cfg, &g).unwrap();
            let state = task.init().unwrap();
            let (exact, _, _) = task.infer(&state.model, &state.tables, &Quiet, "test").unwrap();
            let HeteroModel::Layers(m) = state.model.valid() else { unreachable!("not HAN") };
            let r = &task.r;
            let seeds: Vec<u32> = (0..4019).step_by(20).collect();
            let out = task.sampler.as_ref().unwrap().sample(&task.local, &seeds, 3).unwrap();
            let b = blocks(&out, &r.relations, m.num_layers());
            let xs = (0..r.types())
                .map(|t| (!out.nodes[t].is_empty()).then(|| input_rows(&g, r, &state.tables, t, &out.nodes[t], false).unwrap().x))
                .collect();
            let logits = m.forward(&r.relations, &b, xs, None)[r.target.0 as usize].clone().unwrap();
            let got = host(logits);
            let c = r.classes;
            let mut worst = 0f32;
            for (i, &v) in out.nodes[r.target.0 as usize][..seeds.len()].iter().enumerate() {
                for k in 0..c {
                    worst = worst.max((got[i * c + k] - exact[v as usize * c + k]).abs());
                }
            }
            assert!(worst < 1e-3, "{name}: sampled and exact logits differ by {worst}");
        }
    }
}
