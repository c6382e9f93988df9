//! The training engine and its tasks: `ferrograph train` for every task and
//! model kind through one run loop.
//!
//! * [`config`]: the TOML training config, checked before anything runs;
//!   [`fields`]: which config fields each task and model reads (any other
//!   field given is refused, naming it).
//! * [`engine`]: the one run loop ([`engine::Task`] is what a task
//!   implements): prefetching, progress, metrics, checkpoints, `--resume`,
//!   early stopping, the divergence check.
//! * [`checkpoint`]: the checkpoint format (fingerprint of the config and
//!   the model shape, model and optimiser state).
//! * [`record`]: `metrics.jsonl` lines and `summary.json`, one schema for
//!   every task; [`report`]: `report.md` and `curves.png` ([`plot`]).
//! * [`export`]: embeddings as NPY and Parquet with external ids.
//! * [`metrics`]: accuracy and F1, AUC/MRR/Hits@K, Recall/NDCG@K.
//! * [`history`]: AliGraph's cross-batch reuse of first-layer outputs.
//! * [`tasks`]: node classification (homogeneous and heterogeneous), link
//!   prediction, recommendation (LightGCN, bipartite GraphSAGE) and
//!   random-walk embeddings (skip-gram, GATNE).
#![warn(missing_docs)]

pub mod checkpoint;
pub mod config;
pub mod engine;
pub mod export;
pub mod fields;
pub mod history;
pub mod metrics;
pub mod plot;
pub mod record;
pub mod report;
pub mod tasks;

/// Allocator tuning for training processes (see [`ferrograph_nn::tune_allocator`]).
pub use ferrograph_nn::tune_allocator;

use std::path::{Path, PathBuf};

/// Errors of configuration, data and training.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A bad config field, found before training starts.
    #[error("{}: `{field}`: {message}", file.display())]
    Config {
        /// The config file.
        file: PathBuf,
        /// The field (`train.lr`, `data.inputs.author`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A config file that does not parse.
    #[error("{}{}: {message}", file.display(), at.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
    Syntax {
        /// The config file.
        file: PathBuf,
        /// Line and column, when known.
        at: Option<(usize, usize)>,
        /// The parser's message.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A checkpoint or run file that is not what it should be.
    #[error("{}: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `--resume` (or loading a checkpoint) with a config or data that
    /// differ from the checkpoint's.
    #[error("{}: cannot continue from this checkpoint: {differences}; train without --resume to start over (or restore the old config)", path.display())]
    Mismatch {
        /// The checkpoint.
        path: PathBuf,
        /// Each difference, `field: checkpoint X, now Y`.
        differences: String,
    },
    /// Input data that the task cannot use (the message says why).
    #[error("{0}")]
    Data(String),
    /// The loss stopped being a finite number.
    #[error("training diverged: the loss became {loss} at epoch {epoch}, step {step}; lower train.lr (now {lr})")]
    Diverged {
        /// Epoch (1-based).
        epoch: usize,
        /// Step within the epoch (1-based).
        step: usize,
        /// The loss value.
        loss: f64,
        /// The learning rate.
        lr: f64,
    },
    /// Stopped by `RunOptions::abort_after_steps` (crash tests): nothing was
    /// written after the step.
    #[error("training aborted on request after {0} steps (--abort-after-steps)")]
    Aborted(usize),
    /// From the graph store.
    #[error(transparent)]
    Graph(#[from] ferrograph_graph::Error),
    /// From the importers and file writers.
    #[error(transparent)]
    Import(#[from] ferrograph_io::Error),
    /// From sampling.
    #[error(transparent)]
    Sample(#[from] ferrograph_sample::Error),
    /// From the models.
    #[error(transparent)]
    Nn(#[from] ferrograph_nn::Error),
    /// From shallow-embedding training.
    #[error(transparent)]
    Shallow(#[from] ferrograph_shallow::Error),
    /// Drawing the curves.
    #[error("curves.png: {0}")]
    Plot(#[from] plot::PlotError),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io { path: path.as_ref().to_path_buf(), source }
    }
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Writes `bytes` to `path` atomically (the one writer of every run output).
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(ferrograph_graph::atomic::write_file(path, bytes)?)
}
