//! The distributed graph (AliGraph's layer 6, graph-learn's server/client
//! split): graph servers over gRPC (tonic), each answering batched requests
//! for the nodes one partition of a partition book owns, and
//! [`RemoteGraph`], a `NeighborAccess` over a set of servers so that every
//! sampler runs over it unchanged.
//!
//! * [`proto`]: the wire types and service, generated from
//!   `proto/graph.proto` at build time (protox + tonic-prost-build; no
//!   system protoc).
//! * [`server`]: [`server::serve`] — one partition, token checked on every
//!   call, request sizes bounded, counters for the batching check.
//! * [`remote`]: [`RemoteGraph`] — one request per server that owns part
//!   of a hop's frontier, concurrently, stitched back in order; draws keyed
//!   by the node's position in the whole batch, so remote output equals
//!   local output bit for bit; a deadline per call and bounded, jittered
//!   retries of unavailable servers, then a typed error naming the
//!   partition, the address, the attempts and the time spent; and
//!   AliGraph's importance cache ([`RemoteGraph::cache`]), the rows of the
//!   most important nodes held in process so hops reaching them send
//!   nothing.
//! * [`servers`]: the servers file of a distributed training run.
//! * [`netns`]: network namespaces joined by veth pairs (optionally with
//!   `netem` delay), where tests and `bench remote --netns` put servers so
//!   traffic crosses a real network stack.
//! * `world` (feature `mpi`): the MPI world of data-parallel training,
//!   the engine's gradient all-reduce and broadcasts (rsmpi, OpenMPI).

pub mod netns;
pub mod remote;
pub mod server;
pub mod servers;
mod wire;
#[cfg(feature = "mpi")]
pub mod world;

/// Generated from `proto/graph.proto`.
#[allow(missing_docs, clippy::all)]
pub mod proto {
    tonic::include_proto!("ferrograph.graph.v1");
}

pub use remote::{CacheOptions, CacheStats, ClientOptions, RemoteGraph, Traffic};
pub use server::{ServerLimits, serve};
pub use servers::Servers;

/// The metadata key of the shared-secret token.
pub const TOKEN_KEY: &str = "authorization";

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A server did not answer within the deadline and retries.
    #[error("partition {part} at {addr}: no answer after {attempts} attempts in {elapsed_ms} ms: {last}")]
    Unavailable {
        /// Partition.
        part: usize,
        /// Address.
        addr: String,
        /// Attempts made.
        attempts: u32,
        /// Time spent, in milliseconds.
        elapsed_ms: u128,
        /// The last failure.
        last: String,
    },
    /// A server refused a request (a bug or a bad request, not retried).
    #[error("partition {part} at {addr} refused the request: {message}")]
    Refused {
        /// Partition.
        part: usize,
        /// Address.
        addr: String,
        /// gRPC status and message.
        message: String,
    },
    /// A server of another book, snapshot or partition than expected.
    #[error("partition {part} at {addr}: {message}")]
    Mismatch {
        /// Partition expected.
        part: usize,
        /// Address.
        addr: String,
        /// What differs.
        message: String,
    },
    /// Bad configuration (addresses, token, book).
    #[error("{0}")]
    Config(String),
    /// The partition book.
    #[error(transparent)]
    Partition(#[from] ferrograph_partition::Error),
    /// The snapshot.
    #[error(transparent)]
    Graph(#[from] ferrograph_graph::Error),
    /// The sampler.
    #[error(transparent)]
    Sample(#[from] ferrograph_sample::Error),
    /// Sockets and files.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, Error>;
