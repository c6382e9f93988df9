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

/// Opens an input file for reading, refusing anything but a regular file: a
/// directory, FIFO or device named in a config would otherwise block in
/// `open`, never reach end of file (`/dev/zero`), or read as empty.
pub(crate) fn open_regular(path: &std::path::Path) -> Result<std::fs::File> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        let what = if meta.is_dir() { "is a directory, not a file" } else { "is not a regular file (a device, FIFO or socket)" };
        return Err(Error::input(error::Location { file: path.to_path_buf(), ..Default::default() }, what));
    }
    std::fs::File::open(path).map_err(|e| Error::io(path, e))
}

/// Reads a whole regular file (see [`open_regular`]).
pub(crate) fn read_regular(path: &std::path::Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut f = open_regular(path)?;
    let len = f.metadata().map_or(0, |m| m.len());
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    f.read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    Ok(bytes)
}
