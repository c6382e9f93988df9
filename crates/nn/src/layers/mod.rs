//! Message-passing layers, one file each, burn-style `XConfig` → `init`.
//! Every layer takes a [`Hop`](crate::hop::Hop) with the destinations'
//! own rows `x_dst` and the neighbour rows `x_nbr` and works on both hop
//! layouts (blocks and ego tensors) and on full graphs (a block of all
//! nodes).

pub mod dropout;
pub mod gat;
pub mod gcn;
pub mod linear;
pub mod sage;
#[cfg(test)]
mod tests;

pub use gat::{GatConv, GatConvConfig};
pub use gcn::{GcnConv, GcnConvConfig};
pub use linear::Linear;
pub use sage::{Aggregator, SageConv, SageConvConfig};
