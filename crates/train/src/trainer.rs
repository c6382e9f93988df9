//! The training loop: prefetched batches → forward → loss → backward →
//! Adam, validation every epoch, best and last checkpoints, test at the end.
//!
//! Everything random derives from `train.seed`: the epoch's batch order
//! from `(seed, epoch)`, a batch's sample from `(seed, epoch, batch)`,
//! dropout from `(seed, epoch, batch)`, weights from `seed`. A run resumed
//! from its last checkpoint (written atomically at every epoch end)
//! therefore repeats the interrupted epoch exactly and ends where an
//! uninterrupted run ends.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::store::ModuleRecord;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Bytes, Int, Tensor, TensorData};
use ferrograph_graph::Graph;
use ferrograph_graph::column::Column;
use ferrograph_sample::ego::{Padding, sample_ego};
use ferrograph_sample::neighbor::Hop as SHop;
use ferrograph_sample::rng::derive;
use ferrograph_sample::{LocalGraph, NeighborSampler, Strategy, features};
use serde::{Deserialize, Serialize};

use crate::batch::{blocks, ego_hops, full_hop, history_blocks, sample_with_history};
use crate::config::{Mode, Resolved, TrainConfig};
use crate::history::{History, Hits};
use crate::hop::Hop;
use crate::metrics::Scores;
use crate::model::{Gnn, ModelKind};
use crate::{Error, Result, device};

/// One epoch's line of `metrics.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f64,
    /// Training accuracy of the batches (as trained, with dropout).
    pub train_accuracy: f64,
    /// Validation accuracy.
    pub val_accuracy: f64,
    /// Validation macro-F1.
    pub val_macro_f1: f64,
    /// Optimiser steps.
    pub steps: usize,
    /// Seconds of training (sampling, gathering, steps; not evaluation).
    pub train_seconds: f64,
    /// Steps per second.
    pub steps_per_second: f64,
    /// Fraction of training time the step loop waited for a batch.
    pub wait_fraction: f64,
    /// Seconds of validation.
    pub eval_seconds: f64,
    /// Share of hop-1 lookups served by the history cache (when on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_hit_rate: Option<f64>,
}

/// `summary.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Test accuracy of the best-validation checkpoint.
    pub test_accuracy: f64,
    /// Test micro-F1.
    pub test_micro_f1: f64,
    /// Test macro-F1.
    pub test_macro_f1: f64,
    /// Best validation accuracy.
    pub val_accuracy: f64,
    /// Epoch of the best validation accuracy.
    pub best_epoch: usize,
    /// Epochs run.
    pub epochs: usize,
    /// Seconds, all epochs and the test.
    pub seconds: f64,
    /// Mean training steps per second.
    pub steps_per_second: f64,
    /// Mean fraction of step time spent waiting for batches.
    pub wait_fraction: f64,
    /// Classes.
    pub classes: usize,
    /// Model kind.
    pub model: ModelKind,
    /// Seed.
    pub seed: u64,
}

/// Hooks for progress display.
pub trait Observer {
    /// An epoch of `steps` steps starts.
    fn epoch_start(&self, _epoch: usize, _steps: usize) {}
    /// A step finished with this loss.
    fn step(&self, _loss: f32) {}
    /// An epoch finished.
    fn epoch_end(&self, _r: &EpochRecord) {}
}

/// No display.
pub struct Quiet;
impl Observer for Quiet {}

/// Run options that are not part of the config.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Continue from `last.ckpt` in the output directory.
    pub resume: bool,
    /// Abort (as if killed) after this many optimiser steps of this
    /// process, without writing anything more; for crash tests.
    pub abort_after_steps: Option<usize>,
}

/// The graph and what the config resolved in it.
pub struct Data<'g> {
    /// The graph.
    pub graph: &'g Graph,
    /// Sampling view.
    pub local: LocalGraph<'g>,
    /// Resolved names.
    pub r: Resolved,
    /// Feature column.
    pub feat: &'g Column,
    /// Row-normalise gathered features.
    pub normalize: bool,
}

impl<'g> Data<'g> {
    /// Resolves `cfg` in `graph`.
    pub fn new(cfg: &TrainConfig, graph: &'g Graph) -> Result<Data<'g>> {
        let r = cfg.resolve_in(graph)?;
        let feat = graph.node_column(r.node_type, cfg.data.features.as_deref().unwrap_or_default()).map_err(|e| Error::Config(e.to_string()))?;
        Ok(Data { graph, local: LocalGraph::new(graph), r, feat, normalize: cfg.data.normalize_features })
    }

    fn csr(&self) -> &ferrograph_graph::topology::Csr {
        self.graph.topology(self.r.relation.edge_type, self.r.relation.direction)
    }

    /// Degree along the walked relation.
    pub fn degree(&self, v: u32) -> f32 {
        self.csr().degree(v as usize) as f32
    }

    /// Appends the features of `nodes` to `out` (row-normalised if asked).
    pub fn gather_into(&self, nodes: &[u32], out: &mut Vec<f32>) -> Result<()> {
        let start = out.len();
        features::gather(self.feat, nodes, out)?;
        if self.normalize {
            for row in out[start..].chunks_mut(self.r.dim.max(1)) {
                let s: f32 = row.iter().sum();
                if s != 0.0 {
                    row.iter_mut().for_each(|x| *x /= s);
                }
            }
        }
        Ok(())
    }

    fn gather(&self, nodes: &[u32]) -> Result<Tensor<2>> {
        let mut v = Vec::with_capacity(nodes.len() * self.r.dim);
        self.gather_into(nodes, &mut v)?;
        Ok(Tensor::from_data(TensorData::new(v, [nodes.len(), self.r.dim]), &device()))
    }

    /// The whole graph as one hop (every node a destination).
    pub fn full_hop(&self) -> Result<Hop> {
        let csr = self.csr();
        full_hop(csr.offsets.as_slice(), csr.targets.as_slice())
    }

    /// All nodes' features.
    pub fn all_features(&self) -> Result<Tensor<2>> {
        let n = self.graph.node_count(self.r.node_type);
        let all: Vec<u32> = (0..n as u32).collect();
        self.gather(&all)
    }
}

/// Cross-entropy of `logits` against `labels` (mean over rows).
pub fn cross_entropy(logits: Tensor<2>, labels: &[i64]) -> Tensor<1> {
    let n = labels.len();
    let idx = Tensor::<2, Int>::from_data(TensorData::new(labels.to_vec(), [n, 1]), &device());
    log_softmax(logits, 1).gather(1, idx).mean().neg()
}

/// Adam (ε = 1e-8 as PyTorch) with optional L2 weight decay.
pub fn adam(weight_decay: f64) -> ModuleOptimizer {
    let adam = AdamConfig::new().with_epsilon(1e-8);
    let adam = if weight_decay > 0.0 { adam.with_weight_decay(Some(WeightDecayConfig::new(weight_decay as f32))) } else { adam };
    adam.init()
}

/// One optimiser step on the cross-entropy of `logits` against `labels`:
/// backward, Adam update; returns the updated model and the loss.
pub fn optimise(model: Gnn, optim: &mut ModuleOptimizer, logits: Tensor<2>, labels: &[i64], lr: f64) -> (Gnn, f32) {
    let loss = cross_entropy(logits, labels);
    let grads = loss.backward();
    let lv = loss.into_data().convert::<f32>().try_into_vec::<f32>().expect("loss")[0];
    let gp = GradientsParams::from_grads(grads, &model);
    (optim.step(lr, model, gp), lv)
}

/// [`optimise`] with the time of loss + backward and of the update.
pub fn optimise_timed(model: Gnn, optim: &mut ModuleOptimizer, logits: Tensor<2>, labels: &[i64], lr: f64) -> (Gnn, f32, Duration, Duration) {
    let t0 = Instant::now();
    let loss = cross_entropy(logits, labels);
    let grads = loss.backward();
    let lv = loss.into_data().convert::<f32>().try_into_vec::<f32>().expect("loss")[0];
    let t1 = Instant::now();
    let gp = GradientsParams::from_grads(grads, &model);
    let m = optim.step(lr, model, gp);
    (m, lv, t1 - t0, t1.elapsed())
}

/// Host copy of a 2-D tensor.
pub fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 data")
}

/// Layer-wise exact inference over all nodes: layer by layer, every node's
/// output from its full neighbourhood, in chunks of destinations. Returns
/// the output of layer `upto` (1-based; `model.layers()` for the logits)
/// row-major, and its width.
pub fn infer_all(model: &Gnn, data: &Data<'_>, upto: usize, kind: ModelKind) -> Result<(Vec<f32>, usize)> {
    let degree = |v: u32| data.degree(v);
    let n = data.graph.node_count(data.r.node_type);
    infer_all_with(model, &data.local, data.r.relation, n, &|nodes| data.gather(nodes), upto, (kind == ModelKind::Gcn).then_some(&degree as _))
}

/// [`infer_all`] over any input: `input(nodes)` gives the first layer's
/// input rows (a feature column, a learnable table, …).
pub fn infer_all_with(
    model: &Gnn,
    local: &LocalGraph<'_>,
    relation: ferrograph_sample::Relation,
    n: usize,
    input: &dyn Fn(&[u32]) -> Result<Tensor<2>>,
    upto: usize,
    degree: Option<crate::batch::Degree<'_>>,
) -> Result<(Vec<f32>, usize)> {
    const CHUNK: usize = 8192;
    let one_hop = NeighborSampler::new(vec![SHop { relation, fanout: 0 }], Strategy::Full)?;
    let mut h: Option<(Vec<f32>, usize)> = None;
    for l in 0..upto {
        let mut out = Vec::new();
        let mut width = 0;
        for start in (0..n).step_by(CHUNK) {
            let seeds: Vec<u32> = (start as u32..(start + CHUNK).min(n) as u32).collect();
            let s = one_hop.sample(local, &seeds, 0)?;
            let hop = blocks(&s, 1, degree).pop().expect("one block");
            let x = match &h {
                None => input(&s.node)?,
                Some((prev, w)) => {
                    let mut v = Vec::with_capacity(s.node.len() * w);
                    for &u in &s.node {
                        v.extend_from_slice(&prev[u as usize * w..][..*w]);
                    }
                    Tensor::from_data(TensorData::new(v, [s.node.len(), *w]), &device())
                }
            };
            let y = model.layer(l, &hop, x);
            width = y.dims()[1];
            out.extend(host(y));
        }
        h = Some((out, width));
    }
    Ok(h.expect("at least one layer"))
}

/// Scores of `nodes` from all-node logits.
pub(crate) fn score(logits: &[f32], classes: usize, labels: &[i64], nodes: &[u32]) -> Scores {
    let pred: Vec<usize> = nodes.iter().map(|&v| argmax(&logits[v as usize * classes..][..classes])).collect();
    let truth: Vec<usize> = nodes.iter().map(|&v| labels[v as usize] as usize).collect();
    Scores::new(&pred, &truth, classes)
}

fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in row.iter().enumerate() {
        if x > row[best] {
            best = i;
        }
    }
    best
}

/// Training state carried in checkpoints.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct State {
    epoch: usize,
    best_val: f64,
    best_epoch: usize,
    since_best: usize,
    history: Vec<EpochRecord>,
    seconds: f64,
}

const MAGIC: &[u8; 8] = b"FGCKPT1\n";

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let io = |e: std::io::Error| Error::Io(format!("{}: {e}", tmp.display()));
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))
}

fn save_checkpoint(path: &Path, state: &State, model: &Gnn, optim: Option<&ModuleOptimizer>) -> Result<()> {
    let rec = |e: burn::store::RecordError| Error::Io(format!("{}: {e:?}", path.display()));
    let s = serde_json::to_vec(state).expect("state serialises");
    let m = model.clone().into_record().into_bytes().map_err(rec)?;
    let o = match optim {
        Some(o) => o.into_bytes().map_err(rec)?.to_vec(),
        None => Vec::new(),
    };
    let mut out = Vec::with_capacity(8 + 24 + s.len() + m.len() + o.len());
    out.extend_from_slice(MAGIC);
    for part in [&s[..], &m[..], &o[..]] {
        out.extend_from_slice(&(part.len() as u64).to_le_bytes());
        out.extend_from_slice(part);
    }
    write_atomic(path, &out)
}

struct Checkpoint {
    state: State,
    model: ModuleRecord,
    optim: Option<Bytes>,
}

fn load_checkpoint(path: &Path) -> Result<Checkpoint> {
    let bad = |m: &str| Error::Io(format!("{}: {m}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    if bytes.len() < 8 || &bytes[..8] != MAGIC {
        return Err(bad("not a ferrograph checkpoint"));
    }
    let mut parts = Vec::new();
    let mut at = 8;
    for _ in 0..3 {
        let len = bytes.get(at..at + 8).ok_or_else(|| bad("truncated"))?;
        let len = u64::from_le_bytes(len.try_into().expect("8 bytes")) as usize;
        at += 8;
        parts.push(bytes.get(at..at + len).ok_or_else(|| bad("truncated"))?.to_vec());
        at += len;
    }
    let state: State = serde_json::from_slice(&parts[0]).map_err(|e| bad(&format!("state: {e}")))?;
    let model = ModuleRecord::from_bytes(Bytes::from_bytes_vec(parts[1].clone())).map_err(|e| bad(&format!("model: {e:?}")))?;
    let optim = (!parts[2].is_empty()).then(|| Bytes::from_bytes_vec(parts[2].clone()));
    Ok(Checkpoint { state, model, optim })
}

/// Loads the model of a checkpoint file into `model`.
pub fn load_model(path: &Path, model: Gnn) -> Result<Gnn> {
    let c = load_checkpoint(path)?;
    Ok(model.load_record(c.model))
}

/// One prepared batch.
enum Prepared {
    Blocks { hops: Vec<Hop>, x: Vec<f32>, rows: usize, labels: Vec<i64> },
    Ego { hops: Vec<Hop>, xs: Vec<(Vec<f32>, usize)>, labels: Vec<i64> },
    History { hops: Vec<Hop>, x: Vec<f32>, rows: usize, labels: Vec<i64>, cached: Vec<f32>, store: Vec<u32>, hits: Hits },
}

/// Where a run writes.
pub fn paths(out: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    (out.join("last.ckpt"), out.join("best.ckpt"), out.join("metrics.jsonl"), out.join("summary.json"))
}

/// Trains per `cfg` on `data`, writing checkpoints and `metrics.jsonl` to
/// `out`; returns the summary and the per-epoch records.
pub fn train(cfg: &TrainConfig, data: &Data<'_>, out: &Path, opts: &RunOptions, obs: &dyn Observer) -> Result<(Summary, Vec<EpochRecord>)> {
    std::fs::create_dir_all(out).map_err(|e| Error::Io(format!("{}: {e}", out.display())))?;
    let (last_path, best_path, metrics_path, _) = paths(out);
    let t = &cfg.train;
    let r = &data.r;
    let kind = cfg.model.kind;
    let mut model = cfg.model.init(r.dim, r.classes, t.seed);
    let mut optim = adam(t.weight_decay);
    let mut state = State { epoch: 0, best_val: -1.0, best_epoch: 0, since_best: 0, history: Vec::new(), seconds: 0.0 };
    if opts.resume {
        if last_path.is_file() {
            let c = load_checkpoint(&last_path)?;
            model = model.load_record(c.model);
            if let Some(o) = c.optim {
                optim = optim.from_bytes(o).map_err(|e| Error::Io(format!("{}: optimiser state: {e:?}", last_path.display())))?;
            }
            state = c.state;
        }
    } else {
        for p in [&last_path, &best_path, &metrics_path] {
            let _ = std::fs::remove_file(p);
        }
    }
    let degree = |v: u32| data.degree(v);
    let degree_fn = (kind == ModelKind::Gcn).then_some(&degree as &(dyn Fn(u32) -> f32 + Sync));
    let layers = cfg.model.layers();
    let sampler =
        NeighborSampler::new(t.fanouts.iter().map(|&k| SHop { relation: r.relation, fanout: k }).collect(), Strategy::RandomWithoutReplacement);
    let train_batches = ferrograph_sample::traverse::Batches::new(r.train.clone(), t.batch_size, true, false, t.seed)?;
    let full = match t.mode {
        Mode::Full => Some((data.full_hop()?, data.all_features())),
        _ => None,
    };
    let history = t.history_staleness.map(|st| History::new(data.graph.node_count(r.node_type), t.history_capacity, cfg.model.width(0), st));
    let started = Instant::now() - Duration::from_secs_f64(state.seconds);
    let mut steps_done = 0usize;

    while state.epoch < t.epochs && t.patience.is_none_or(|p| state.since_best < p || state.epoch == 0) {
        let epoch = state.epoch + 1;
        let t0 = Instant::now();
        let mut loss_sum = 0.0;
        let mut correct = 0usize;
        let mut seen = 0usize;
        let mut steps = 0usize;
        let mut wait = Duration::ZERO;
        let mut hit_count = Hits::default();
        let mut step = |model: Gnn, logits: Tensor<2>, labels: &[i64], optim: &mut ModuleOptimizer| -> Result<Gnn> {
            let pred = host(logits.clone().detach());
            let c = labels.len();
            let classes = pred.len() / c.max(1);
            correct += labels.iter().enumerate().filter(|(i, l)| argmax(&pred[i * classes..][..classes]) == **l as usize).count();
            seen += c;
            let (m, lv) = optimise(model, optim, logits, labels, t.lr);
            if !lv.is_finite() {
                return Err(Error::Diverged(format!("loss became {lv} at epoch {epoch}; lower train.lr")));
            }
            loss_sum += f64::from(lv);
            obs.step(lv);
            steps += 1;
            steps_done += 1;
            if opts.abort_after_steps.is_some_and(|a| steps_done >= a) {
                return Err(Error::Aborted);
            }
            Ok(m)
        };
        if let Some((hop, x)) = &full {
            obs.epoch_start(epoch, 1);
            let x = x.as_ref().map_err(|e| Error::Invalid(e.to_string()))?;
            let logits = model.forward_blocks(&vec![hop; layers], x.clone(), Some(derive(t.seed, epoch as u64)));
            let idx = crate::index(&r.train);
            let labels: Vec<i64> = r.train.iter().map(|&v| r.labels[v as usize]).collect();
            model = step(model, logits.select(0, idx), &labels, &mut optim)?;
        } else {
            let sampler = sampler.as_ref().map_err(|e| Error::Invalid(e.to_string()))?;
            let batches: Vec<Vec<u32>> = train_batches.epoch(epoch as u64).collect();
            obs.epoch_start(epoch, batches.len());
            let make = |b: usize| -> ferrograph_sample::Result<Prepared> {
                let seeds = &batches[b][..];
                let s = derive(derive(t.seed, epoch as u64), b as u64);
                let labels = seeds.iter().map(|&v| r.labels[v as usize]).collect();
                if t.mode == Mode::Ego {
                    let hops: Vec<_> = t.fanouts.iter().map(|&k| (r.relation, k)).collect();
                    let e = sample_ego(&data.local, &hops, Strategy::RandomWithoutReplacement, Padding::Mask, seeds, s)?;
                    let mut xs = Vec::new();
                    for l in &e.layers {
                        let mut v = Vec::new();
                        data.gather_into(l, &mut v).map_err(|e| ferrograph_sample::Error::Invalid(e.to_string()))?;
                        xs.push((v, l.len()));
                    }
                    Ok(Prepared::Ego { hops: ego_hops(&e, degree_fn), xs, labels })
                } else if let Some(hist) = &history {
                    let hs = sample_with_history(sampler, &data.local, seeds, s, hist)?;
                    let mut x = Vec::new();
                    data.gather_into(&hs.out.node, &mut x).map_err(|e| ferrograph_sample::Error::Invalid(e.to_string()))?;
                    let hops = history_blocks(&hs, degree_fn);
                    let store = hs.out.node[..hs.computed].to_vec();
                    Ok(Prepared::History { hops, rows: hs.out.node.len(), x, labels, cached: hs.cached, store, hits: hs.hits })
                } else {
                    let o = sampler.sample(&data.local, seeds, s)?;
                    let mut x = Vec::new();
                    data.gather_into(&o.node, &mut x).map_err(|e| ferrograph_sample::Error::Invalid(e.to_string()))?;
                    Ok(Prepared::Blocks { hops: blocks(&o, layers, degree_fn), rows: o.node.len(), x, labels })
                }
            };
            let mut slot = Some(model);
            let mut failure = None;
            let stats = ferrograph_sample::loader::for_each_prefetched(batches.len(), t.prefetch, make, |b, p| {
                let m = slot.take().expect("model present");
                let dseed = Some(derive(derive(t.seed ^ 0xd0, epoch as u64), b as u64));
                let dev = device();
                let result = match p {
                    Prepared::Blocks { hops, x, rows, labels } => {
                        let x = Tensor::from_data(TensorData::new(x, [rows, r.dim]), &dev);
                        let logits = m.forward_blocks(&hops.iter().collect::<Vec<_>>(), x, dseed);
                        step(m, logits, &labels, &mut optim)
                    }
                    Prepared::History { hops, x, rows, labels, cached, store, hits } => {
                        let hist = history.as_ref().expect("history on");
                        let n_cached = cached.len() / hist.dim();
                        let x = Tensor::from_data(TensorData::new(x, [rows, r.dim]), &dev);
                        let c = Tensor::from_data(TensorData::new(cached, [n_cached, hist.dim()]), &dev);
                        let (logits, h0) = m.forward_blocks_history(&hops.iter().collect::<Vec<_>>(), x, c, dseed);
                        let out = step(m, logits, &labels, &mut optim);
                        hist.store(&store, &host(h0));
                        hit_count.hits += hits.hits;
                        hit_count.lookups += hits.lookups;
                        out
                    }
                    Prepared::Ego { hops, xs, labels } => {
                        let xs = xs.into_iter().map(|(v, rows)| Tensor::from_data(TensorData::new(v, [rows, r.dim]), &dev)).collect();
                        let logits = m.forward_ego(&hops, xs, dseed);
                        step(m, logits, &labels, &mut optim)
                    }
                };
                match result {
                    Ok(m) => {
                        slot = Some(m);
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
            let stats = stats?;
            wait = stats.waiting;
            model = slot.expect("model present");
        }
        let train_seconds = t0.elapsed().as_secs_f64();
        // Validation.
        let e0 = Instant::now();
        let logits = evaluate(&model, data, kind, full.as_ref().map(|(h, x)| (h, x.as_ref().ok())))?;
        let val = score(&logits, r.classes, &r.labels, &r.val);
        let rec = EpochRecord {
            epoch,
            loss: loss_sum / steps.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            val_accuracy: val.accuracy,
            val_macro_f1: val.macro_f1,
            steps,
            train_seconds,
            steps_per_second: steps as f64 / train_seconds.max(1e-9),
            wait_fraction: wait.as_secs_f64() / train_seconds.max(1e-9),
            eval_seconds: e0.elapsed().as_secs_f64(),
            history_hit_rate: history.as_ref().map(|_| hit_count.hits as f64 / hit_count.lookups.max(1) as f64),
        };
        obs.epoch_end(&rec);
        state.epoch = epoch;
        if val.accuracy > state.best_val {
            state.best_val = val.accuracy;
            state.best_epoch = epoch;
            state.since_best = 0;
            save_checkpoint(&best_path, &state, &model, None)?;
        } else {
            state.since_best += 1;
        }
        state.history.push(rec);
        state.seconds = started.elapsed().as_secs_f64();
        let lines: String = state.history.iter().map(|h| serde_json::to_string(h).expect("record serialises") + "\n").collect();
        write_atomic(&metrics_path, lines.as_bytes())?;
        save_checkpoint(&last_path, &state, &model, Some(&optim))?;
    }
    // Test with the best checkpoint.
    let best = load_model(&best_path, cfg.model.init(r.dim, r.classes, t.seed))?;
    let logits = evaluate(&best, data, kind, full.as_ref().map(|(h, x)| (h, x.as_ref().ok())))?;
    let test = score(&logits, r.classes, &r.labels, &r.test);
    let h = &state.history;
    let total_steps: usize = h.iter().map(|e| e.steps).sum();
    let train_time: f64 = h.iter().map(|e| e.train_seconds).sum();
    let waited: f64 = h.iter().map(|e| e.wait_fraction * e.train_seconds).sum();
    let summary = Summary {
        test_accuracy: test.accuracy,
        test_micro_f1: test.micro_f1,
        test_macro_f1: test.macro_f1,
        val_accuracy: state.best_val,
        best_epoch: state.best_epoch,
        epochs: state.epoch,
        seconds: started.elapsed().as_secs_f64(),
        steps_per_second: total_steps as f64 / train_time.max(1e-9),
        wait_fraction: waited / train_time.max(1e-9),
        classes: r.classes,
        model: kind,
        seed: t.seed,
    };
    Ok((summary, state.history))
}

/// All-node logits in evaluation mode: the full graph in one pass when it
/// is at hand, else layer-wise inference.
fn evaluate(model: &Gnn, data: &Data<'_>, kind: ModelKind, full: Option<(&Hop, Option<&Tensor<2>>)>) -> Result<Vec<f32>> {
    match full {
        Some((hop, Some(x))) => Ok(host(model.forward_blocks(&vec![hop; model.layers()], x.clone(), None))),
        _ => Ok(infer_all(model, data, model.layers(), kind)?.0),
    }
}
