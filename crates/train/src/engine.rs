//! The one run loop. Every task — node classification, link prediction,
//! recommendation, random-walk embeddings — implements [`Task`] (plan an
//! epoch, prepare a batch, take a step, evaluate, finish) and is driven by
//! [`run`], which alone owns:
//!
//! * prefetching: batches are prepared on the rayon pool ahead of the step
//!   ([`ferrograph_sample::loader`]); `--threads 1` prepares them inline;
//! * progress: an [`Observer`] hears of every phase, epoch, step and
//!   inference chunk (the CLI draws bars from it);
//! * `metrics.jsonl` (rewritten atomically every epoch) and `summary.json`
//!   in one schema ([`crate::record`]), `report.md` and `curves.png`;
//! * checkpoints: `last.ckpt` at every epoch end (model, optimiser, loop
//!   state, fingerprint) and `best.ckpt` (the kept model), so `--resume`
//!   continues any task and ends where an uninterrupted run ends;
//! * early stopping on the task's validation metric (`train.patience`),
//!   and the divergence check (a non-finite loss ends the run with
//!   [`Error::Diverged`]).
//!
//! Randomness belongs to the tasks and derives from (seed, epoch, step), so
//! a resumed epoch repeats exactly.
//!
//! Data-parallel training ([`RunOptions::group`] of more than one rank):
//! every rank runs this loop over the same plans; rank 0 starts or resumes
//! the model and the loop state and broadcasts both; each step's task
//! trains on its rank's share of the batch and sums gradients over the
//! group ([`ferrograph_nn::collective`]); the step's loss, examples and
//! hits are summed too, so every rank sees the global figures. Rank 0
//! alone evaluates (broadcasting the metrics so every rank takes the same
//! early-stopping decision), writes every file and runs `finish`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use ferrograph_nn::collective::{Collective, Solo};

use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, Fingerprint, Sections};
use crate::config::TrainConfig;
use crate::record::{EpochRecord, Metrics, Summary, proc_status_mib};
use crate::{Error, Result};

/// What one step did.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepOut {
    /// The step's loss (mean over its examples).
    pub loss: f64,
    /// Examples trained on.
    pub examples: usize,
    /// Examples predicted right (classification).
    pub correct: Option<usize>,
    /// History cache hits and lookups (node classification with the cache).
    pub history: Option<(usize, usize)>,
}

/// Metrics after an epoch.
#[derive(Clone, Debug, Default)]
pub struct Evaluation {
    /// Validation metrics (choose the kept epoch).
    pub val: Metrics,
    /// Test metrics logged for monitoring (only where there is no validation split).
    pub test: Metrics,
}

/// What a task leaves at the end.
#[derive(Clone, Debug, Default)]
pub struct Finish {
    /// Test metrics of the kept model.
    pub test: Metrics,
    /// Reference scores under the same protocol.
    pub baseline: Metrics,
    /// Files written into the output directory.
    pub files: Vec<String>,
    /// Seconds per phase (`test`, `export`).
    pub phases: BTreeMap<String, f64>,
}

/// A task the run loop drives. `prepare` runs on loader threads while
/// `step` runs on the caller's, so everything `prepare` reads is shared and
/// immutable; the learned state is the separate [`Task::Model`].
pub trait Task: Sync {
    /// The learned state: modules, optimiser, tables.
    type Model;
    /// One epoch's plan (batch order, sampled triples), from (seed, epoch).
    type Plan: Sync;
    /// One prepared batch.
    type Batch: Send;

    /// The validation metric that chooses the kept epoch (higher is
    /// better), or `None`: the last epoch is kept.
    fn selection(&self) -> Option<String>;
    /// The model's shape as the data fixed it, for checkpoint fingerprints.
    fn shape(&self) -> BTreeMap<String, String>;
    /// A fresh model.
    fn init(&self) -> Result<Self::Model>;
    /// The plan of `epoch` (1-based).
    fn plan(&self, epoch: usize) -> Result<Self::Plan>;
    /// Steps in a plan.
    fn steps(&self, plan: &Self::Plan) -> usize;
    /// Prepares batch `step` of the plan (on a loader thread).
    fn prepare(&self, plan: &Self::Plan, epoch: usize, step: usize) -> Result<Self::Batch>;
    /// One optimiser step.
    fn step(&self, model: Self::Model, batch: Self::Batch, epoch: usize, step: usize) -> Result<(Self::Model, StepOut)>;
    /// Metrics after `epoch`.
    fn evaluate(&self, model: &Self::Model, epoch: usize, obs: &dyn Observer) -> Result<Evaluation>;
    /// Tests the kept model and writes its exports into `out`.
    fn finish(&self, model: &Self::Model, out: &Path, obs: &dyn Observer) -> Result<Finish>;
    /// The model as bytes (with the optimiser state when `optimizer`).
    fn save(&self, model: &Self::Model, optimizer: bool) -> Result<Vec<u8>>;
    /// A model from [`save`](Self::save)'s bytes (without optimiser state:
    /// a fresh optimiser).
    fn load(&self, bytes: &[u8]) -> Result<Self::Model>;
    /// A paragraph for `report.md` describing the run.
    fn describe(&self) -> String;
    /// The ranks the task splits each batch over (data-parallel training;
    /// a task that cannot says 1).
    fn ranks(&self) -> usize {
        1
    }
}

/// Progress of a run; every method defaults to nothing.
pub trait Observer {
    /// A phase starts (`training`, `validation`, `test`, `export`, …).
    fn phase(&self, _name: &str) {}
    /// An epoch of `steps` steps starts.
    fn epoch_start(&self, _epoch: usize, _epochs: usize, _steps: usize) {}
    /// Step `step` (1-based) ended with this loss.
    fn step(&self, _step: usize, _loss: f64) {}
    /// Work of a phase advanced (inference chunks, walks): `done` of `total`.
    fn progress(&self, _what: &str, _done: usize, _total: usize) {}
    /// An epoch ended.
    fn epoch_end(&self, _r: &EpochRecord) {}
}

/// No display.
pub struct Quiet;
impl Observer for Quiet {}

/// The ranks training one model together ([`Solo`] by default).
#[derive(Clone)]
pub struct Group(pub Arc<dyn Collective>);

impl Default for Group {
    fn default() -> Self {
        Group(Arc::new(Solo))
    }
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rank {} of {}", self.0.rank(), self.0.size())
    }
}

/// Options of a run that are not part of the config.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The data-parallel group (one rank unless started by MPI).
    pub group: Group,
    /// Continue from `last.ckpt` in the output directory.
    pub resume: bool,
    /// Stop as if killed after this many optimiser steps of this process:
    /// nothing more is written (crash tests).
    pub abort_after_steps: Option<usize>,
    /// Phases timed before the run (loading the graph, building the task).
    pub phases: BTreeMap<String, f64>,
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// `summary.json`.
    pub summary: Summary,
    /// Per-epoch records (`metrics.jsonl`).
    pub history: Vec<EpochRecord>,
    /// The output directory.
    pub out: PathBuf,
}

/// The loop's own state, carried in `last.ckpt`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct State {
    epoch: usize,
    best: Option<(f64, usize)>,
    since_best: usize,
    history: Vec<EpochRecord>,
    seconds: f64,
}

/// The files of a run.
pub struct Paths {
    /// `last.ckpt`.
    pub last: PathBuf,
    /// `best.ckpt`.
    pub best: PathBuf,
    /// `metrics.jsonl`.
    pub metrics: PathBuf,
}

impl Paths {
    /// The files in `out`.
    pub fn new(out: &Path) -> Paths {
        Paths { last: out.join("last.ckpt"), best: out.join("best.ckpt"), metrics: out.join("metrics.jsonl") }
    }
}

/// Totals of one epoch's steps.
#[derive(Clone, Copy, Debug, Default)]
pub struct EpochStats {
    /// Steps taken.
    pub steps: usize,
    /// Sum of step losses.
    pub loss_sum: f64,
    /// Examples.
    pub examples: usize,
    /// Correct predictions and predictions (classification).
    pub correct: Option<(usize, usize)>,
    /// History cache hits and lookups.
    pub history: Option<(usize, usize)>,
    /// Time waiting for batches.
    pub waiting: Duration,
    /// Wall time of the epoch's training.
    pub seconds: f64,
    /// Most batches ready at once.
    pub max_ready: usize,
}

/// Limits of [`train_epoch`].
#[derive(Clone, Copy, Debug, Default)]
pub struct EpochLimits {
    /// End the epoch after this many steps (benchmarks).
    pub max_steps: Option<usize>,
    /// Abort after this many steps of the process (crash tests).
    pub abort_after_steps: Option<usize>,
}

/// Trains one epoch: the plan's batches, prepared `depth` ahead, each a
/// step. `steps_done` counts the process's steps across epochs. This is
/// the code path of every run (and of `ferrograph bench train`).
#[allow(clippy::too_many_arguments)]
pub fn train_epoch<T: Task>(
    task: &T,
    model: T::Model,
    epoch: usize,
    epochs: usize,
    depth: usize,
    lr: f64,
    limits: EpochLimits,
    steps_done: &mut usize,
    group: &dyn Collective,
    obs: &dyn Observer,
) -> Result<(T::Model, EpochStats)> {
    let t0 = Instant::now();
    let plan = task.plan(epoch)?;
    let n = limits.max_steps.map_or(task.steps(&plan), |m| m.min(task.steps(&plan)));
    obs.epoch_start(epoch, epochs, n);
    let mut stats = EpochStats::default();
    let mut slot = Some(model);
    let loader = ferrograph_sample::loader::for_each(
        n,
        depth,
        |s| task.prepare(&plan, epoch, s),
        |s, batch| {
            let m = slot.take().ok_or_else(|| Error::Data("the model was lost in a failed step".into()))?;
            let (m, mut out) = task.step(m, batch, epoch, s)?;
            if group.size() > 1 {
                // Global figures: the tasks scale their loss by their share.
                let (h, l) = out.history.unwrap_or_default();
                let mut v = [out.loss, out.examples as f64, out.correct.unwrap_or_default() as f64, h as f64, l as f64];
                group.sum_f64(&mut v);
                out.loss = v[0];
                out.examples = v[1] as usize;
                out.correct = out.correct.map(|_| v[2] as usize);
                out.history = out.history.map(|_| (v[3] as usize, v[4] as usize));
            }
            if !out.loss.is_finite() {
                return Err(Error::Diverged { epoch, step: s + 1, loss: out.loss, lr });
            }
            slot = Some(m);
            stats.steps += 1;
            stats.loss_sum += out.loss;
            stats.examples += out.examples;
            if let Some(c) = out.correct {
                let (a, b) = stats.correct.unwrap_or_default();
                stats.correct = Some((a + c, b + out.examples));
            }
            if let Some((h, l)) = out.history {
                let (a, b) = stats.history.unwrap_or_default();
                stats.history = Some((a + h, b + l));
            }
            obs.step(s + 1, out.loss);
            *steps_done += 1;
            if limits.abort_after_steps.is_some_and(|a| *steps_done >= a) {
                return Err(Error::Aborted(*steps_done));
            }
            Ok(())
        },
    )?;
    stats.waiting = loader.waiting;
    stats.max_ready = loader.max_ready;
    stats.seconds = t0.elapsed().as_secs_f64();
    let model = slot.ok_or_else(|| Error::Data("the model was lost in a failed step".into()))?;
    Ok((model, stats))
}

/// Runs `task` per `cfg`, writing into `out`; see the module docs.
pub fn run<T: Task>(task: &T, cfg: &TrainConfig, out: &Path, opts: &RunOptions, obs: &dyn Observer) -> Result<Outcome> {
    let started = Instant::now();
    let group = &*opts.group.0;
    if task.ranks() != group.size() {
        return Err(Error::Data(format!(
            "{} ranks were started, but task `{}` with model `{}` trains on {}: data-parallel training supports node classification with GraphSAGE, GCN or GAT in mode = \"sampled\"",
            group.size(),
            cfg.task.name(),
            cfg.model.kind.name(),
            task.ranks()
        )));
    }
    let writer = group.rank() == 0;
    if writer {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    }
    let paths = Paths::new(out);
    let t = &cfg.train;
    let fingerprint = Fingerprint { config: cfg.flat_fields(), shape: task.shape() };
    let selection = task.selection();
    let (mut model, mut state) = if writer { start(task, opts, &paths, &fingerprint)? } else { (task.init()?, State::default()) };
    if group.size() > 1 {
        // Everyone continues from rank 0's model, optimiser and loop state.
        let mut bytes = if writer {
            let state = serde_json::to_vec(&state).map_err(|e| Error::Data(format!("loop state: {e}")))?;
            Sections::pack(&[&task.save(&model, true)?, &state])
        } else {
            Vec::new()
        };
        group.broadcast(&mut bytes);
        if !writer {
            let parts = Sections::unpack(&bytes, 2, "rank 0's model")?;
            model = task.load(parts[0])?;
            state = serde_json::from_slice(parts[1]).map_err(|e| Error::Data(format!("rank 0's loop state: {e}")))?;
        }
    }
    let resumed_seconds = state.seconds;
    let mut steps_done = 0;
    let limits = EpochLimits { max_steps: None, abort_after_steps: opts.abort_after_steps };
    let every = cfg.eval.every.max(1);
    while state.epoch < t.epochs {
        if let (Some(p), Some(_)) = (t.patience, &selection)
            && state.best.is_some()
            && state.since_best >= p
        {
            break;
        }
        let epoch = state.epoch + 1;
        obs.phase("training");
        let (m, st) = train_epoch(task, model, epoch, t.epochs, t.prefetch, t.lr, limits, &mut steps_done, group, obs)?;
        model = m;
        let e0 = Instant::now();
        let eval = if epoch % every == 0 || epoch == t.epochs {
            obs.phase("validation");
            let eval = if writer { task.evaluate(&model, epoch, obs)? } else { Evaluation::default() };
            share_evaluation(group, eval)?
        } else {
            Evaluation::default()
        };
        let mut extra = Metrics::new();
        if let Some((h, l)) = st.history {
            extra.insert("history_hit_rate".into(), h as f64 / l.max(1) as f64);
        }
        if st.max_ready > 0 {
            extra.insert("prefetched_max".into(), st.max_ready as f64);
        }
        let rec = EpochRecord {
            epoch,
            loss: st.loss_sum / st.steps.max(1) as f64,
            steps: st.steps,
            examples: st.examples,
            train_seconds: st.seconds,
            steps_per_second: st.steps as f64 / st.seconds.max(1e-9),
            wait_fraction: st.waiting.as_secs_f64() / st.seconds.max(1e-9),
            eval_seconds: if eval.val.is_empty() && eval.test.is_empty() { 0.0 } else { e0.elapsed().as_secs_f64() },
            train_accuracy: st.correct.map(|(c, n)| c as f64 / n.max(1) as f64),
            val: eval.val,
            test: eval.test,
            extra,
        };
        obs.epoch_end(&rec);
        state.epoch = epoch;
        if let Some(metric) = &selection
            && let Some(&v) = rec.val.get(metric)
        {
            if state.best.is_none_or(|(b, _)| v > b) {
                state.best = Some((v, epoch));
                state.since_best = 0;
                if writer {
                    let best_state = serde_json::to_value(&state).unwrap_or_default();
                    checkpoint::save(&paths.best, &fingerprint, best_state, &task.save(&model, false)?)?;
                }
            } else {
                state.since_best += 1;
            }
        }
        state.history.push(rec);
        state.seconds = resumed_seconds + started.elapsed().as_secs_f64();
        if writer {
            let lines: String = state.history.iter().map(|h| serde_json::to_string(h).unwrap_or_default() + "\n").collect();
            crate::write_file(&paths.metrics, lines.as_bytes())?;
            checkpoint::save(&paths.last, &fingerprint, serde_json::to_value(&state).unwrap_or_default(), &task.save(&model, true)?)?;
        }
    }
    if !writer {
        // The other ranks end here: rank 0 tests, exports and reports.
        let summary = Summary { epochs: state.epoch, seed: t.seed, peak_rss_mib: proc_status_mib("VmHWM"), ..Summary::default() };
        return Ok(Outcome { summary, history: state.history, out: out.to_path_buf() });
    }
    // The kept model: the best validation epoch, or the last.
    let (kept, best_epoch, selected_by) = match (&selection, state.best) {
        (Some(metric), Some((_, e))) => {
            let c = checkpoint::load_compatible(&paths.best, &fingerprint)?;
            (task.load(&c.payload)?, e, format!("val {metric}"))
        }
        _ => {
            let kept_state = serde_json::to_value(&state).unwrap_or_default();
            checkpoint::save(&paths.best, &fingerprint, kept_state, &task.save(&model, false)?)?;
            (model, state.epoch, "last epoch".to_string())
        }
    };
    drop(selection);
    let fin = task.finish(&kept, out, obs)?;
    let h = &state.history;
    let mut phases = opts.phases.clone();
    phases.insert("train".into(), h.iter().map(|r| r.train_seconds).sum());
    phases.insert("validation".into(), h.iter().map(|r| r.eval_seconds).sum());
    phases.extend(fin.phases.clone());
    let steps: usize = h.iter().map(|r| r.steps).sum();
    let train_s: f64 = h.iter().map(|r| r.train_seconds).sum();
    let mut files = fin.files.clone();
    files.extend(["best.ckpt", "last.ckpt", "metrics.jsonl", "summary.json", "report.md", "curves.png"].map(String::from));
    let summary = Summary {
        task: cfg.task.name().to_string(),
        model: cfg.model.kind.name().to_string(),
        seed: t.seed,
        threads: rayon::current_num_threads(),
        epochs: state.epoch,
        best_epoch,
        selected_by,
        val: h.iter().find(|r| r.epoch == best_epoch).map(|r| r.val.clone()).unwrap_or_default(),
        test: fin.test,
        baseline: fin.baseline,
        steps,
        steps_per_second: steps as f64 / train_s.max(1e-9),
        wait_fraction: h.iter().map(|r| r.wait_fraction * r.train_seconds).sum::<f64>() / train_s.max(1e-9),
        phases,
        seconds: resumed_seconds + started.elapsed().as_secs_f64() + opts.phases.values().sum::<f64>(),
        peak_rss_mib: proc_status_mib("VmHWM"),
        files,
    };
    crate::report::write(out, cfg, &summary, h, &task.describe())?;
    Ok(Outcome { summary, history: state.history, out: out.to_path_buf() })
}

/// Rank 0's start: the model and loop state of `last.ckpt` when resuming,
/// else fresh ones (and the previous run's files removed).
fn start<T: Task>(task: &T, opts: &RunOptions, paths: &Paths, fingerprint: &Fingerprint) -> Result<(T::Model, State)> {
    Ok(match opts.resume.then(|| paths.last.is_file()) {
        Some(true) => {
            let c = checkpoint::load_compatible(&paths.last, fingerprint)?;
            let state: State =
                serde_json::from_value(c.state).map_err(|e| Error::Corrupt { path: paths.last.clone(), message: format!("loop state: {e}") })?;
            (task.load(&c.payload)?, state)
        }
        _ => {
            for p in [&paths.last, &paths.best, &paths.metrics] {
                match std::fs::remove_file(p) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(p, e)),
                    _ => {}
                }
            }
            (task.init()?, State::default())
        }
    })
}

/// Rank 0's evaluation, sent to every rank.
fn share_evaluation(group: &dyn Collective, eval: Evaluation) -> Result<Evaluation> {
    if group.size() == 1 {
        return Ok(eval);
    }
    // Values as bits: JSON has no NaN.
    let bits = |m: &Metrics| m.iter().map(|(k, v)| (k.clone(), v.to_bits())).collect::<Vec<_>>();
    let mut bytes = if group.rank() == 0 {
        serde_json::to_vec(&(bits(&eval.val), bits(&eval.test))).map_err(|e| Error::Data(format!("metrics: {e}")))?
    } else {
        Vec::new()
    };
    group.broadcast(&mut bytes);
    type Bits = Vec<(String, u64)>;
    let (val, test): (Bits, Bits) = serde_json::from_slice(&bytes).map_err(|e| Error::Data(format!("rank 0's metrics: {e}")))?;
    let back = |b: Bits| b.into_iter().map(|(k, v)| (k, f64::from_bits(v))).collect();
    Ok(Evaluation { val: back(val), test: back(test) })
}
