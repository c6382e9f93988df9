//! Importers and generators: from the user's files (graph-learn tables,
//! CSV/TSV, SNAP edge lists, NPY/NPZ, Parquet) or from a seeded generator to a
//! [`ferrograph_graph::Graph`], described by one TOML import config.
//!
//! Every error names the file and, where the format has them, the line and
//! column (or config field) of the problem; see [`Error`].
#![warn(missing_docs)]

pub mod config;
mod error;
pub mod generate;
pub mod homogeneous;
pub mod import;
pub mod npy;
pub mod parquet_table;
pub mod split;
pub mod table;
pub mod text;

pub use config::ImportConfig;
pub use error::{Error, Result};
pub use import::{import, import_file};
