//! Sampling over a ferrograph graph (AliGraph's second layer): multi-hop
//! neighbour sampling into re-indexed message-flow blocks (`random`,
//! `random_without_replacement`, `full`, `edge_weight`, `topk`), negative
//! sampling (`random`, `in_degree`, strict), and random walks (DeepWalk,
//! node2vec, metapaths), all deterministic for a seed whatever the thread
//! count.
//!
//! Design:
//! - Samplers read the graph through [`access::NeighborAccess`], whose unit
//!   of work is a whole batch of nodes for one relation, so that a remote,
//!   partitioned graph can answer it with one request per server per hop.
//! - Randomness is derived per (seed, batch, hop, position of the node in
//!   the hop's input), never from a shared stream, so results do not depend
//!   on thread count, scheduling, or how a graph is partitioned.
#![warn(missing_docs)]

pub mod access;
pub mod cache;
pub mod ego;
pub mod features;
pub mod hetero;
pub mod loader;
pub mod negative;
pub mod neighbor;
pub mod rng;
pub mod subgraph;
pub mod traverse;
pub mod walk;

pub use access::{LocalGraph, NeighborAccess, Relation, Sampled, Strategy};
pub use neighbor::{Index, NeighborSampler, SamplerOutput};

/// Errors of the sampling crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A relation, node type or parameter the graph or sampler does not accept.
    #[error("{0}")]
    Invalid(String),
    /// A request or its result would pass a size bound (nodes, neighbour ids
    /// or walk steps); nothing was allocated for it.
    #[error("{what} would pass the limit of {limit}")]
    TooLarge {
        /// What would be too large, with its size where it is known.
        what: String,
        /// The bound it would pass.
        limit: u64,
    },
    /// A result sized by the request (walks × length, sources × negatives)
    /// that the allocator refused; nothing was written.
    #[error("{what} would need {bytes} bytes, more than this process can allocate")]
    OutOfMemory {
        /// What was asked for, with its size.
        what: String,
        /// Bytes it would take.
        bytes: u128,
    },
    /// An error from the graph store (unknown names, with suggestions).
    #[error(transparent)]
    Graph(#[from] ferrograph_graph::Error),
    /// A remote graph failed: a server that did not answer in time, or
    /// refused the request (the source is the remote crate's typed error).
    #[error(transparent)]
    Remote(Box<dyn std::error::Error + Send + Sync>),
}

/// Result alias of the sampling crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An empty vector with room for `n` values (`None`: more than `usize`
/// counts), or [`Error::OutOfMemory`] naming `what` where the allocator
/// refuses: an output whose size a request sets must fail that request,
/// not abort the process (`vec![x; n]` does on a failed allocation).
pub fn room<T>(n: Option<usize>, what: impl FnOnce() -> String) -> Result<Vec<T>> {
    let mut v = Vec::new();
    match n {
        Some(n) if v.try_reserve_exact(n).is_ok() => Ok(v),
        _ => Err(Error::OutOfMemory { what: what(), bytes: n.map_or(u128::MAX, |n| n as u128 * size_of::<T>() as u128) }),
    }
}
