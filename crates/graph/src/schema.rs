//! The schema of a heterogeneous graph: node types with typed attributes and
//! edge types `(src_type, relation, dst_type)`.

use serde::{Deserialize, Serialize};

use crate::error::closest;
use crate::ids::{Direction, EdgeTypeId, NodeTypeId};
use crate::{Error, Result};

/// The kind of values in an attribute column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AttrKind {
    /// 64-bit signed integers.
    Int,
    /// 32-bit floats.
    Float,
    /// Categorical strings. Without `buckets`, stored as a dictionary plus a
    /// code per row; with `buckets`, each string is hashed into `0..buckets`
    /// (graph-learn's `("string", bucket)`) and only the bucket is kept.
    String {
        /// Number of hash buckets, if hashed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        buckets: Option<u32>,
    },
    /// Fixed-length dense float vectors (e.g. features from NPY).
    FloatVector {
        /// Vector length.
        dim: u32,
    },
    /// Sparse float vectors as CSR rows (e.g. features from scipy `.npz`).
    Sparse {
        /// Number of columns.
        dim: u32,
    },
}

impl AttrKind {
    /// Short human name ("int", "float", "string", "float[1433]", "sparse[1902]").
    pub fn describe(&self) -> String {
        match self {
            AttrKind::Int => "int".into(),
            AttrKind::Float => "float".into(),
            AttrKind::String { buckets: None } => "string".into(),
            AttrKind::String { buckets: Some(b) } => format!("string(hashed, {b} buckets)"),
            AttrKind::FloatVector { dim } => format!("float[{dim}]"),
            AttrKind::Sparse { dim } => format!("sparse[{dim}]"),
        }
    }
}

/// One attribute column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttrSchema {
    /// Column name, unique within its node or edge type.
    pub name: String,
    /// Value kind.
    #[serde(flatten)]
    pub kind: AttrKind,
}

/// How a node type's external ids are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    /// The external id of local index `i` is `i` itself; nothing is stored.
    Dense,
    /// 64-bit integer ids.
    Int,
    /// String ids.
    String,
}

/// A node type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeTypeSchema {
    /// Type name, unique in the graph.
    pub name: String,
    /// How external ids are kept.
    pub id_kind: IdKind,
    /// Attribute columns, aligned with local indices.
    pub attributes: Vec<AttrSchema>,
    /// Named node sets (e.g. `train`, `val`, `test`), each a sorted list of local indices.
    #[serde(default)]
    pub sets: Vec<String>,
}

/// Reserved edge attribute names with a meaning to samplers.
pub mod reserved {
    /// Edge weight (float), used by `edge_weight` and `topk` sampling.
    pub const WEIGHT: &str = "weight";
    /// Edge label (int).
    pub const LABEL: &str = "label";
    /// Edge timestamp (int), used by temporal sampling.
    pub const TIMESTAMP: &str = "timestamp";
}

/// An edge type `(src, relation, dst)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeTypeSchema {
    /// Relation name; `(src, relation, dst)` is unique in the graph.
    pub relation: String,
    /// Source node type name.
    pub src: String,
    /// Destination node type name.
    pub dst: String,
    /// Name of the reverse relation (walks in-edges), by default `rev_<relation>`.
    pub reverse: String,
    /// Both directions stored in the out-topology (same source and destination type).
    pub undirected: bool,
    /// Attribute columns aligned with out-positions. `weight`, `label` and
    /// `timestamp` (see [`reserved`]) have their usual meaning.
    pub attributes: Vec<AttrSchema>,
}

impl EdgeTypeSchema {
    /// `src-relation->dst`.
    pub fn display_name(&self) -> String {
        format!("({}, {}, {})", self.src, self.relation, self.dst)
    }
}

/// The whole schema.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// Node types, indexed by [`NodeTypeId`].
    pub node_types: Vec<NodeTypeSchema>,
    /// Edge types, indexed by [`EdgeTypeId`].
    pub edge_types: Vec<EdgeTypeSchema>,
}

impl Schema {
    /// The node type called `name`.
    pub fn node_type(&self, name: &str) -> Result<NodeTypeId> {
        self.node_types.iter().position(|t| t.name == name).map(|i| NodeTypeId(i as u16)).ok_or_else(|| Error::Unknown {
            what: "node type",
            name: name.into(),
            suggestion: closest(name, self.node_types.iter().map(|t| t.name.as_str())),
        })
    }

    /// Resolves a relation name, or a reverse relation name, to an edge type and
    /// the direction in which to walk it. Names must be unambiguous.
    pub fn relation(&self, name: &str) -> Result<(EdgeTypeId, Direction)> {
        let mut found = None;
        for (i, e) in self.edge_types.iter().enumerate() {
            let hit = if e.relation == name {
                Some(Direction::Out)
            } else if e.reverse == name {
                Some(Direction::In)
            } else {
                None
            };
            if let Some(d) = hit {
                if found.is_some() {
                    return Err(Error::Invalid(format!("relation `{name}` names several edge types; use the (src, relation, dst) form")));
                }
                found = Some((EdgeTypeId(i as u16), d));
            }
        }
        found.ok_or_else(|| Error::Unknown {
            what: "edge type",
            name: name.into(),
            suggestion: closest(name, self.edge_types.iter().flat_map(|e| [e.relation.as_str(), e.reverse.as_str()])),
        })
    }

    /// Checks names are unique and edge endpoints exist.
    pub fn validate(&self) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for t in &self.node_types {
            if t.name.is_empty() {
                return Err(Error::Invalid("a node type has an empty name".into()));
            }
            if !seen.insert(t.name.as_str()) {
                return Err(Error::Invalid(format!("node type `{}` is declared twice", t.name)));
            }
            unique_attrs(&t.name, &t.attributes)?;
        }
        if self.node_types.len() > u16::MAX as usize || self.edge_types.len() > u16::MAX as usize {
            return Err(Error::Invalid("too many node or edge types (at most 65535 each)".into()));
        }
        let mut triples = std::collections::HashSet::new();
        for e in &self.edge_types {
            self.node_type(&e.src)?;
            self.node_type(&e.dst)?;
            if !triples.insert((e.src.as_str(), e.relation.as_str(), e.dst.as_str())) {
                return Err(Error::Invalid(format!("edge type {} is declared twice", e.display_name())));
            }
            if e.undirected && e.src != e.dst {
                return Err(Error::Invalid(format!(
                    "edge type {} is undirected but joins two node types; declare it directed and walk `{}` for the other direction",
                    e.display_name(),
                    e.reverse
                )));
            }
            unique_attrs(&e.display_name(), &e.attributes)?;
        }
        Ok(())
    }
}

fn unique_attrs(owner: &str, attrs: &[AttrSchema]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for a in attrs {
        if !seen.insert(a.name.as_str()) {
            return Err(Error::Invalid(format!("{owner}: attribute `{}` appears twice", a.name)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        Schema {
            node_types: vec![NodeTypeSchema { name: "paper".into(), id_kind: IdKind::Int, attributes: vec![], sets: vec![] }],
            edge_types: vec![EdgeTypeSchema {
                relation: "cites".into(),
                src: "paper".into(),
                dst: "paper".into(),
                reverse: "cited_by".into(),
                undirected: false,
                attributes: vec![],
            }],
        }
    }

    #[test]
    fn resolves_relations_and_reverses() {
        let s = schema();
        assert_eq!(s.relation("cites").unwrap(), (EdgeTypeId(0), Direction::Out));
        assert_eq!(s.relation("cited_by").unwrap(), (EdgeTypeId(0), Direction::In));
        let e = s.relation("cite").unwrap_err().to_string();
        assert_eq!(e, "unknown edge type `cite`; did you mean `cites`?");
    }

    #[test]
    fn attr_kind_serialises_flat() {
        let a = AttrSchema { name: "feat".into(), kind: AttrKind::FloatVector { dim: 3 } };
        let j = serde_json::to_string(&a).unwrap();
        assert_eq!(j, r#"{"name":"feat","kind":"float_vector","dim":3}"#);
        assert_eq!(serde_json::from_str::<AttrSchema>(&j).unwrap(), a);
    }
}
