//! Index newtypes. A node type, an edge type, a node's local index, an edge's
//! position and a global node id are different things and different types.

use serde::{Deserialize, Serialize};

/// Index of a node type in the [`crate::Schema`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeTypeId(pub u16);

/// Index of an edge type in the [`crate::Schema`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EdgeTypeId(pub u16);

/// Dense index of a node within its node type: `0..node_count(type)`.
/// Topology arrays store these as `u32`, so a node type holds at most `u32::MAX` nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LocalIdx(pub u32);

/// Position of an edge in the out-CSR of its edge type: `0..stored_edges(type)`.
/// Edge attribute columns are aligned with these positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EdgePos(pub u64);

/// A node of any type: its type in the top 16 bits, its local index in the low 32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GlobalId(pub u64);

impl GlobalId {
    /// Packs a node type and a local index.
    pub fn new(ty: NodeTypeId, idx: LocalIdx) -> Self {
        GlobalId((u64::from(ty.0) << 48) | u64::from(idx.0))
    }
    /// The node's type.
    pub fn node_type(self) -> NodeTypeId {
        NodeTypeId((self.0 >> 48) as u16)
    }
    /// The node's index within its type.
    pub fn local(self) -> LocalIdx {
        LocalIdx(self.0 as u32)
    }
}

/// Which way an edge type is walked: along its edges (out-neighbours, CSR) or
/// against them (in-neighbours, CSC; the "reverse relation").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// From source to destination.
    Out,
    /// From destination back to source.
    In,
}

impl LocalIdx {
    /// As a `usize` for indexing.
    #[inline]
    pub fn get(self) -> usize {
        self.0 as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_id_round_trips() {
        let g = GlobalId::new(NodeTypeId(7), LocalIdx(u32::MAX));
        assert_eq!(g.node_type(), NodeTypeId(7));
        assert_eq!(g.local(), LocalIdx(u32::MAX));
    }
}
