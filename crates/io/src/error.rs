//! The io crate's error type: every variant says where the problem is.

use std::fmt;
use std::path::PathBuf;

/// Result alias of the io crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A place in an input file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, for text formats.
    pub line: Option<u64>,
    /// 0-based row, for binary formats (Parquet, NPY).
    pub row: Option<u64>,
    /// The column (name, or 1-based position).
    pub column: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(r) = self.row {
            write!(f, ": row {r}")?;
        }
        if let Some(c) = &self.column {
            write!(f, ": column `{c}`")?;
        }
        Ok(())
    }
}

/// What went wrong while importing or generating.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad content in an input file.
    #[error("{at}: {message}")]
    Input {
        /// Where.
        at: Location,
        /// What.
        message: String,
    },
    /// A bad value in the import config (or a generator's parameters).
    #[error("{}: field `{field}`: {message}", file.display())]
    Config {
        /// The config file.
        file: PathBuf,
        /// Dotted path of the field, e.g. `edges[1].src_type`.
        field: String,
        /// What.
        message: String,
    },
    /// A config file that is not valid TOML or has unknown fields.
    #[error("{}:{line}:{column}: {message}", file.display())]
    ConfigSyntax {
        /// The config file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What.
        message: String,
    },
    /// A file that cannot be read.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error (shown in the message, not chained, so it is said once).
        cause: std::io::Error,
    },
    /// An error from the graph store (building or writing the snapshot).
    #[error(transparent)]
    Graph(#[from] ferrograph_graph::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), cause: source }
    }
    pub(crate) fn input(at: Location, message: impl Into<String>) -> Self {
        Error::Input { at, message: message.into() }
    }
    pub(crate) fn config(file: impl Into<PathBuf>, field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config { file: file.into(), field: field.into(), message: message.into() }
    }
}
