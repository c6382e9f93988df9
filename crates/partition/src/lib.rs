//! Partitioning a graph for the distributed mode (AliGraph's layer 1 and
//! DistDGL's partition step): every node of every type is assigned to one
//! of `N` partitions, and the assignment is written as a *partition book*
//! that graph servers and trainers read to route a node to its owner.
//!
//! * [`Adjacency`]: the graph as one undirected, simple adjacency over the
//!   combined node space (node types laid out one after another), the input
//!   of every method.
//! * [`Method`]: `hash` (the baseline: a seeded hash of the node), `metis`
//!   (multilevel k-way from METIS 5, vendored by the `metis` crate; 32-bit
//!   indices, so at most 2^31 − 1 nodes and adjacency entries) and `fennel`
//!   (Tsourakakis et al. 2014, one streaming pass with O(N) state besides
//!   the adjacency, for graphs too large for METIS).
//! * [`Quality`]: edge-cut, balance and replication (halo) of an assignment.
//! * [`book`]: the partition book on disk (`book.json` + `assignment.u16`),
//!   written atomically, read back with every field checked.

pub mod adjacency;
pub mod book;
pub mod methods;
pub mod quality;

pub use adjacency::Adjacency;
pub use book::{Book, read_book, write_book};
pub use methods::{MAX_PARTS, Method, partition};
pub use quality::Quality;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request that cannot be met (bad part count, graph too large for a method).
    #[error("{0}")]
    Invalid(String),
    /// METIS failed.
    #[error("METIS failed: {0}")]
    Metis(String),
    /// A malformed partition book.
    #[error("{path}: {message}")]
    Book {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Reading or writing a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Reading the graph or writing the book.
    #[error(transparent)]
    Graph(#[from] ferrograph_graph::Error),
}

impl Error {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Error {
        Error::Io { path: path.to_path_buf(), source }
    }
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, Error>;
