//! The two machine-readable outputs of every run, one schema for every task
//! and model:
//!
//! * `metrics.jsonl`: one [`EpochRecord`] per line, rewritten atomically at
//!   every epoch end;
//! * `summary.json`: one [`Summary`] at the end.
//!
//! Metric names are lower case: `accuracy`, `macro_f1`, `micro_f1` (node
//! classification), `auc`, `mrr`, `hits@K` (link prediction and held-out
//! pairs of embeddings), `recall@K`, `ndcg@K` (recommendation). `val` holds
//! validation metrics (they choose the kept epoch); `test` in an epoch
//! record holds test metrics logged only to follow training when a task
//! has no validation split (recommendation without `data.val_relation`):
//! they never choose anything.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Metric name → value.
pub type Metrics = BTreeMap<String, f64>;

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's steps.
    pub loss: f64,
    /// Optimiser steps.
    pub steps: usize,
    /// Training examples (seeds, edges, triples or skip-gram pairs).
    pub examples: usize,
    /// Seconds of training (batch preparation and steps, not evaluation).
    pub train_seconds: f64,
    /// Steps per second.
    pub steps_per_second: f64,
    /// Share of training time the step loop waited for batches.
    pub wait_fraction: f64,
    /// Seconds of evaluation after the epoch (0 when not evaluated).
    pub eval_seconds: f64,
    /// Accuracy on the training batches as trained (dropout on); node
    /// classification only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_accuracy: Option<f64>,
    /// Validation metrics (empty on epochs that were not evaluated).
    #[serde(default)]
    pub val: Metrics,
    /// Test metrics logged for monitoring where there is no validation split.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub test: Metrics,
    /// Task-specific figures of the epoch (`history_hit_rate`,
    /// `prefetched_max`: the most batches ready at once).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: Metrics,
}

/// `summary.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// `node_classification`, `link_prediction`, `recommendation` or `embedding`.
    pub task: String,
    /// The model kind.
    pub model: String,
    /// `train.seed`.
    pub seed: u64,
    /// Worker threads.
    pub threads: usize,
    /// Epochs run (fewer than configured after early stopping).
    pub epochs: usize,
    /// The epoch whose model was kept and tested.
    pub best_epoch: usize,
    /// What chose it: `val <metric>`, or `last epoch` without validation.
    pub selected_by: String,
    /// Validation metrics of the kept epoch.
    pub val: Metrics,
    /// Test metrics of the kept model.
    pub test: Metrics,
    /// Reference scores under the same protocol (recommendation: popularity).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub baseline: Metrics,
    /// Optimiser steps, all epochs.
    pub steps: usize,
    /// Mean training steps per second.
    pub steps_per_second: f64,
    /// Share of training time spent waiting for batches.
    pub wait_fraction: f64,
    /// Seconds per phase: `load` (graph), `prepare` (resolving the config,
    /// building samplers, walks), `train`, `validation`, `test`, `export`.
    pub phases: BTreeMap<String, f64>,
    /// Seconds of the whole run.
    pub seconds: f64,
    /// Peak resident memory of the process so far, MiB (Linux; else NaN).
    pub peak_rss_mib: f64,
    /// Files written, relative to the output directory.
    pub files: Vec<String>,
}

/// A field of /proc/self/status in MiB (`VmRSS`, `VmHWM`); NaN elsewhere.
pub fn proc_status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}
