//! Training heterogeneous node classifiers: mini-batches of typed blocks
//! (`train.mode = "sampled"`, batches prepared on the loader threads while
//! the previous step runs) or the whole graph per step (`"full"`); Adam on
//! the model, lazy sparse Adam on the input tables; exact evaluation over
//! every target node each epoch (layer by layer, full neighbourhoods, in
//! chunks of destinations); the best validation epoch is kept and tested.
//! Writes the same outputs as homogeneous node classification.

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Tensor};
use ferrograph_graph::{Graph, NodeTypeId};
use ferrograph_sample::hetero::{HeteroSampler, TypedHop};
use ferrograph_sample::rng::derive;
use ferrograph_sample::traverse::Batches;
use ferrograph_sample::{LocalGraph, Strategy};

use super::model::{HeteroModel, init};
use super::{LayerBlock, Resolved, Source, Tables, blocks, full_layer, input_rows, metapath_batch, metapath_hop, resolve};
use crate::config::{Mode, TrainConfig};
use crate::hop::Hop;
use crate::trainer::{EpochRecord, Observer, Summary, adam, cross_entropy, host, score, write_atomic};
use crate::{Error, Result, matrix};

/// File names of a run's model and input tables.
pub const MODEL_FILE: &str = "model.bin";

/// A batch prepared on a loader thread.
struct Prepared {
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
    /// Rows of the classified type's output the labels belong to (default:
    /// the first `labels.len()`, the seeds).
    label_rows: Option<Vec<u32>>,
}

/// The sampler of a config (every relation at every hop, per-relation fan-outs).
pub fn sampler(cfg: &TrainConfig, r: &Resolved, layers: usize) -> Result<HeteroSampler> {
    let hops = (0..layers)
        .map(|h| {
            r.relations
                .iter()
                .zip(&r.relation_names)
                .map(|(&relation, name)| {
                    let f = cfg.train.relation_fanouts.get(name).unwrap_or(&cfg.train.fanouts);
                    TypedHop { relation, fanout: f[h.min(f.len() - 1)] }
                })
                .collect()
        })
        .collect();
    Ok(HeteroSampler::new(r.target, r.types(), hops, Strategy::RandomWithoutReplacement)?)
}

/// Metapath instances per node for HAN's sampled mode.
fn metapath_fanouts(cfg: &TrainConfig, r: &Resolved) -> Vec<usize> {
    r.metapath_names.iter().map(|n| cfg.train.relation_fanouts.get(n).map_or(cfg.train.fanouts[0], |f| f[0])).collect()
}

/// HAN's metapath neighbourhoods over every target node: exact in `full`
/// mode; in `sampled` mode, `EVAL_WALKS ×` the training walks per node
/// (fixed seed), since exact neighbourhoods of dense metapaths (ACM's
/// paper–subject–paper has 4.3M pairs) cost more than the model.
pub fn han_eval_hops(cfg: &TrainConfig, g: &Graph, r: &Resolved, local: &LocalGraph<'_>) -> Result<Vec<Hop>> {
    const EVAL_WALKS: usize = 4;
    if cfg.train.mode == Mode::Full {
        return Ok(r.metapaths.iter().map(|p| metapath_hop(g, p)).collect());
    }
    let all: Vec<u32> = (0..g.node_count(r.target) as u32).collect();
    let k: Vec<usize> = metapath_fanouts(cfg, r).iter().map(|k| k * EVAL_WALKS).collect();
    let (nodes, hops) = metapath_batch(local, &r.metapaths, &all, &k, derive(cfg.train.seed, 0xe7a1))?;
    debug_assert_eq!(nodes, all);
    Ok(hops)
}

/// Feature rows of `nodes` for every type that reads a column.
fn gather_features(g: &Graph, r: &Resolved, nodes: &[Vec<u32>]) -> Result<Vec<Option<Vec<f32>>>> {
    r.inputs
        .iter()
        .zip(nodes)
        .zip(0..)
        .map(|((inp, ns), t)| match &inp.source {
            Source::Features(name) if !ns.is_empty() => Ok(Some(super::feature_rows(g, r, t, name, ns)?)),
            _ => Ok(None),
        })
        .collect()
}

/// Input tensors per type; learnable rows are looked up with gradients
/// (returned with their table rows so the step can update them).
#[allow(clippy::type_complexity)]
fn input_tensors(
    r: &Resolved,
    tables: &Tables,
    nodes: &[Vec<u32>],
    features: Vec<Option<Vec<f32>>>,
    train: bool,
) -> (Vec<Option<Tensor<2>>>, Vec<(usize, Vec<u32>, Tensor<2>)>) {
    let mut lookups = Vec::new();
    let xs = features
        .into_iter()
        .enumerate()
        .map(|(t, f)| {
            if nodes[t].is_empty() {
                return None;
            }
            match (f, &r.inputs[t].source) {
                (Some(buf), _) => Some(matrix(buf, nodes[t].len(), r.inputs[t].dim)),
                (None, Source::Features(_)) => None,
                (None, src) => {
                    let idx: Vec<u32> = match src {
                        Source::Categorical { codes, .. } => nodes[t].iter().map(|&n| codes[n as usize]).collect(),
                        _ => nodes[t].clone(),
                    };
                    let table = tables.tables[t].as_ref()?;
                    if train {
                        let x = table.lookup(&idx);
                        lookups.push((t, idx, x.clone()));
                        Some(x)
                    } else {
                        Some(table.rows_of(&idx))
                    }
                }
            }
        })
        .collect();
    (xs, lookups)
}

/// Exact outputs over all target nodes: logits (`[n, classes]`) and the
/// last hidden representation (`[n, width]`), row = local index.
pub fn infer(model: &HeteroModel, g: &Graph, r: &Resolved, tables: &Tables, han_hops: Option<&[Hop]>) -> Result<(Vec<f32>, Vec<f32>, usize)> {
    const CHUNK: usize = 8192;
    let target = r.target.0 as usize;
    let n = g.node_count(r.target);
    match model {
        HeteroModel::Han(han) => {
            let hops = han_hops.ok_or_else(|| Error::Invalid("HAN inference needs the metapath hops".into()))?;
            let all: Vec<u32> = (0..n as u32).collect();
            let x = input_rows(g, r, tables, target, &all, false)?.x;
            let (z, _) = han.embed(hops, x, None);
            let width = z.dims()[1];
            let logits = han.forward(hops, input_rows(g, r, tables, target, &all, false)?.x, None);
            Ok((host(logits), host(z), width))
        }
        HeteroModel::Layers(m) => {
            let types = r.types();
            // Layer 0 input: every node of every type, projected (R-GCN).
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
            let layers = m.layers();
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
                    }
                    if !parts.is_empty() {
                        *slot = Some(Tensor::cat(parts, 0));
                    }
                }
                h = next;
            }
            let logits = h[target].take().ok_or_else(|| Error::Invalid("the model produced no output for the classified type".into()))?;
            let hidden = hidden.unwrap_or_else(|| logits.clone());
            let width = hidden.dims()[1];
            Ok((host(logits), host(hidden), width))
        }
    }
}

/// Saves the model and the input tables into `out`.
fn save(out: &Path, model: &HeteroModel, tables: &Tables, r: &Resolved, g: &Graph) -> Result<()> {
    let bytes = model.clone().into_record().into_bytes().map_err(|e| Error::Io(format!("{MODEL_FILE}: {e:?}")))?;
    write_atomic(&out.join(MODEL_FILE), &bytes)?;
    for (t, table) in tables.tables.iter().enumerate() {
        if let Some(tb) = table {
            let name = &g.schema().node_types[t].name;
            let _ = r;
            ferrograph_io::npy::write_npy_f32(&out.join(format!("input_{name}.npy")), &[tb.rows, tb.dim], &tb.table)
                .map_err(|e| Error::Io(e.to_string()))?;
        }
    }
    Ok(())
}

/// Loads what [`train`] saved in `out` for `cfg` on `g`.
pub fn load(cfg: &TrainConfig, g: &Graph, out: &Path) -> Result<(HeteroModel, Tables, Resolved)> {
    let r = resolve(cfg, g)?;
    let path = out.join(MODEL_FILE);
    let bytes = std::fs::read(&path).map_err(|e| Error::Io(format!("{}: {e} (train first: `ferrograph train CONFIG`)", path.display())))?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes)).map_err(|e| Error::Io(format!("{}: {e:?}", path.display())))?;
    let model = init(&cfg.model, &r, cfg.train.seed).load_record(record);
    let mut tables = Tables::new(g, &r, cfg.train.seed);
    for (t, table) in tables.tables.iter_mut().enumerate() {
        if let Some(tb) = table {
            let p = out.join(format!("input_{}.npy", g.schema().node_types[t].name));
            let a = ferrograph_io::npy::read_npy(&p).map_err(|e| Error::Io(e.to_string()))?;
            match a.data {
                ferrograph_io::npy::NpyData::Float(v) if v.len() == tb.table.len() => tb.table = v,
                _ => return Err(Error::Io(format!("{}: not a float32 [{}, {}] table", p.display(), tb.rows, tb.dim))),
            }
        }
    }
    Ok((model, tables, r))
}

/// What a run leaves besides the summary.
pub struct Outcome {
    /// Summary (also `summary.json`).
    pub summary: Summary,
    /// Per-epoch records.
    pub history: Vec<EpochRecord>,
    /// Last hidden representation of every target node, and its width.
    pub embeddings: (Vec<f32>, usize),
    /// The resolved config.
    pub resolved: Resolved,
}

/// Trains per `cfg` on `g`, writing `metrics.jsonl` and the model into `out`.
pub fn train(cfg: &TrainConfig, g: &Graph, out: &Path, obs: &dyn Observer) -> Result<Outcome> {
    let started = Instant::now();
    let r = resolve(cfg, g)?;
    std::fs::create_dir_all(out).map_err(|e| Error::Io(format!("{}: {e}", out.display())))?;
    let t = &cfg.train;
    let mut model = init(&cfg.model, &r, t.seed);
    let mut tables = Tables::new(g, &r, t.seed);
    let mut optim = adam(t.weight_decay);
    let local = LocalGraph::new(g);
    let han = matches!(model, HeteroModel::Han(_));
    let layers = match &model {
        HeteroModel::Layers(m) => m.layers(),
        HeteroModel::Han(_) => 1,
    };
    let target = r.target.0 as usize;
    let sampler = if han { None } else { Some(sampler(cfg, &r, layers)?) };
    let mp_k = metapath_fanouts(cfg, &r);
    let han_hops = if han { Some(han_eval_hops(cfg, g, &r, &local)?) } else { None };
    let mut history: Vec<EpochRecord> = Vec::new();
    let mut best: Option<(f64, usize, HeteroModel, Tables)> = None;
    let mut since_best = 0;
    let train_batches = Batches::new(r.train.clone(), t.batch_size, true, false, t.seed)?;
    let mut log = std::fs::File::create(out.join("metrics.jsonl")).map_err(|e| Error::Io(format!("{}: {e}", out.display())))?;
    for epoch in 1..=t.epochs {
        let t0 = Instant::now();
        let (mut loss_sum, mut steps, mut correct, mut seen) = (0.0, 0usize, 0usize, 0usize);
        let mut waited = std::time::Duration::ZERO;
        let mut do_step = |model: HeteroModel, tables: &mut Tables, p: Prepared, dseed: u64| -> Result<HeteroModel> {
            let (xs, lookups) = input_tensors(&r, tables, &p.nodes, p.features, true);
            let logits = match &model {
                HeteroModel::Layers(m) => {
                    let mut outs = m.forward(&r.relations, &p.blocks, xs, Some(dseed));
                    outs[target].take().ok_or_else(|| Error::Invalid("no output for the classified type".into()))?
                }
                HeteroModel::Han(h) => {
                    let x = xs.into_iter().nth(target).flatten().ok_or_else(|| Error::Invalid("HAN needs the classified type's features".into()))?;
                    h.forward(&p.metapath_hops, x, Some(dseed))
                }
            };
            let n = p.labels.len();
            let logits = match &p.label_rows {
                Some(rows) => logits.select(0, crate::index(rows)),
                None => logits.narrow(0, 0, n),
            };
            let pred = host(logits.clone().detach());
            let classes = r.classes;
            for (i, &l) in p.labels.iter().enumerate() {
                let row = &pred[i * classes..(i + 1) * classes];
                let arg = row.iter().enumerate().fold(0, |b, (j, &x)| if x > row[b] { j } else { b });
                correct += usize::from(arg as i64 == l);
            }
            seen += n;
            let loss = cross_entropy(logits, &p.labels);
            let grads = loss.backward();
            let lv = f64::from(host(loss.reshape([1, 1]))[0]);
            if !lv.is_finite() {
                return Err(Error::Diverged(format!("epoch {epoch}: the loss is {lv}; lower train.lr")));
            }
            loss_sum += lv;
            steps += 1;
            for (ty, idx, x) in &lookups {
                if let (Some(g), Some(tb)) = (x.grad(&grads), tables.tables[*ty].as_mut()) {
                    tb.step(idx, g, t.lr);
                }
            }
            let gp = GradientsParams::from_grads(grads, &model);
            Ok(optim.step(t.lr, model, gp))
        };
        if t.mode == Mode::Full {
            // The whole graph: every node of every type, one step.
            let nodes: Vec<Vec<u32>> = (0..r.types()).map(|ty| (0..g.node_count(NodeTypeId(ty as u16)) as u32).collect()).collect();
            let features = gather_features(g, &r, &nodes)?;
            let (blocks, hops) = if han {
                (Vec::new(), han_hops.iter().flatten().map(Hop::shared).collect())
            } else {
                ((0..layers).map(|_| full_layer(g, &r.relations, None)).collect(), Vec::new())
            };
            // The loss covers the training nodes.
            let labels = r.train.iter().map(|&v| r.labels[v as usize]).collect();
            let p = Prepared { nodes, blocks, metapath_hops: hops, features, labels, label_rows: Some(r.train.clone()) };
            model = do_step(model, &mut tables, p, derive(t.seed ^ 0xd0, epoch as u64))?;
        } else {
            let batches: Vec<Vec<u32>> = train_batches.epoch(epoch as u64).collect();
            let sampler = sampler.as_ref();
            let make_batch = |b: usize| -> Result<Prepared> {
                let seeds = &batches[b];
                let bseed = derive(derive(t.seed, epoch as u64), b as u64);
                if han {
                    let (ns, hops) = metapath_batch(&local, &r.metapaths, seeds, &mp_k, bseed)?;
                    let mut nodes = vec![Vec::new(); r.types()];
                    nodes[target] = ns;
                    let features = gather_features(g, &r, &nodes)?;
                    let labels = seeds.iter().map(|&s| r.labels[s as usize]).collect();
                    return Ok(Prepared { nodes, blocks: Vec::new(), metapath_hops: hops, features, labels, label_rows: None });
                }
                let s = sampler.ok_or_else(|| Error::Invalid("no sampler".into()))?;
                let o = s.sample(&local, seeds, bseed)?;
                let blocks = blocks(&o, &r.relations, layers);
                let features = gather_features(g, &r, &o.nodes)?;
                let labels = o.nodes[target][..o.num_nodes[target][0]].iter().map(|&v| r.labels[v as usize]).collect();
                Ok(Prepared { nodes: o.nodes, blocks, metapath_hops: Vec::new(), features, labels, label_rows: None })
            };
            let make =
                |b: usize| -> ferrograph_sample::Result<Prepared> { make_batch(b).map_err(|e| ferrograph_sample::Error::Invalid(e.to_string())) };
            let mut slot = Some(model);
            let mut failure = None;
            let stats = ferrograph_sample::loader::for_each_prefetched(batches.len(), t.prefetch, make, |b, p| {
                let Some(m) = slot.take() else { return Err(ferrograph_sample::Error::Invalid("stopped".into())) };
                match do_step(m, &mut tables, p, derive(derive(t.seed ^ 0xd0, epoch as u64), b as u64)) {
                    Ok(m) => {
                        slot = Some(m);
                        obs.step(0.0);
                        Ok(())
                    }
                    Err(e) => {
                        failure = Some(e);
                        Err(ferrograph_sample::Error::Invalid("stopped".into()))
                    }
                }
            });
            if let Some(e) = failure {
                return Err(e);
            }
            waited = stats?.waiting;
            model = slot.ok_or_else(|| Error::Invalid("model missing".into()))?;
        }
        let train_seconds = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let (logits, _, _) = infer(&model, g, &r, &tables, han_hops.as_deref())?;
        let val = score(&logits, r.classes, &r.labels, &r.val);
        let eval_seconds = t1.elapsed().as_secs_f64();
        let rec = EpochRecord {
            epoch,
            loss: loss_sum / steps.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            val_accuracy: val.accuracy,
            val_macro_f1: val.macro_f1,
            steps,
            train_seconds,
            steps_per_second: steps as f64 / train_seconds.max(1e-9),
            wait_fraction: waited.as_secs_f64() / train_seconds.max(1e-9),
            eval_seconds,
            history_hit_rate: None,
        };
        use std::io::Write;
        writeln!(log, "{}", serde_json::to_string(&rec).expect("record serialises")).map_err(|e| Error::Io(format!("metrics.jsonl: {e}")))?;
        obs.epoch_end(&rec);
        history.push(rec);
        if best.as_ref().is_none_or(|b| val.accuracy > b.0) {
            best = Some((val.accuracy, epoch, model.clone(), tables.clone()));
            since_best = 0;
        } else {
            since_best += 1;
        }
        if t.patience.is_some_and(|p| since_best >= p) {
            break;
        }
    }
    let (val_acc, best_epoch, model, tables) = best.ok_or_else(|| Error::Invalid("no epoch ran".into()))?;
    let (logits, hidden, width) = infer(&model, g, &r, &tables, han_hops.as_deref())?;
    let test = score(&logits, r.classes, &r.labels, &r.test);
    save(out, &model, &tables, &r, g)?;
    let steps: usize = history.iter().map(|h| h.steps).sum();
    let train_s: f64 = history.iter().map(|h| h.train_seconds).sum();
    let summary = Summary {
        test_accuracy: test.accuracy,
        test_micro_f1: test.micro_f1,
        test_macro_f1: test.macro_f1,
        val_accuracy: val_acc,
        best_epoch,
        epochs: history.len(),
        seconds: started.elapsed().as_secs_f64(),
        steps_per_second: steps as f64 / train_s.max(1e-9),
        wait_fraction: history.iter().map(|h| h.wait_fraction).sum::<f64>() / history.len().max(1) as f64,
        classes: r.classes,
        model: cfg.model.kind,
        seed: t.seed,
    };
    Ok(Outcome { summary, history, embeddings: (hidden, width), resolved: r })
}
