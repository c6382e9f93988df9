//! The ferrograph graph store: a heterogeneous attributed graph held as
//! compressed sparse rows per edge type, attribute columns per node and edge
//! type, and an immutable, checksummed on-disk snapshot that reopens by memory
//! mapping.
//!
//! Two halves, kept apart on purpose (graph-learn mixed them):
//! - building: [`topology::build_topology`] turns edge arrays into CSR + CSC
//!   with a stable parallel counting sort; [`Graph::from_parts`] checks and
//!   freezes what an importer assembled;
//! - reading: [`Graph`] is immutable, `Send + Sync` and lock-free, whether its
//!   arrays live in RAM ([`array::Array::Owned`]) or in a memory-mapped
//!   snapshot ([`array::Array::Mapped`]).
//!
//! Indices: a node is addressed by its [`NodeTypeId`] and a dense
//! [`LocalIdx`] within that type; an edge by its [`EdgeTypeId`] and its
//! [`EdgePos`] in the out-CSR of that type. External ids (64-bit ints or
//! strings, as found in the user's files) map to local indices through
//! [`idmap::NodeIds`].
#![warn(missing_docs)]

pub mod array;
pub mod atomic;
pub mod column;
mod error;
pub mod graph;
pub mod idmap;
pub mod ids;
pub mod progress;
pub mod schema;
pub mod snapshot;
pub mod stats;
pub mod topology;

pub use error::{Error, Result, closest as error_closest};
pub use graph::{EdgeStore, Graph, NodeStore};
pub use ids::{Direction, EdgePos, EdgeTypeId, GlobalId, LocalIdx, NodeTypeId};
pub use schema::{AttrKind, AttrSchema, EdgeTypeSchema, IdKind, NodeTypeSchema, Schema};

#[cfg(not(target_endian = "little"))]
compile_error!("ferrograph snapshots are little-endian and are mapped without conversion");
