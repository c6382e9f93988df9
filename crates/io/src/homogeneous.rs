//! Types erased (`ferrograph erase-types`): a heterogeneous graph as the
//! homogeneous graph a PyG user gets from `HeteroData.to_homogeneous()`,
//! for baselines that show what the types bring.
//!
//! Every node type becomes a block of one node type `node` (type `t`'s
//! local index `i` is `offset[t] + i`, offsets in schema order), and every
//! edge type becomes an edge of one undirected relation `edge` (distinct
//! pairs, no self-loops kept apart). The named feature column becomes one
//! dense vector column `feat` as wide as the widest type's (narrower and
//! sparse rows are written into its first columns, types without it are
//! zeros), the named label column an int `label` (`-1` where a type has
//! none), and `node_type` records each node's original type. Node sets
//! keep their names (a name used by two types becomes `type.name`).

use ferrograph_graph::array::Array;
use ferrograph_graph::column::Column;
use ferrograph_graph::idmap::NodeIds;
use ferrograph_graph::topology::{BuildOptions, build_topology};
use ferrograph_graph::{AttrKind, AttrSchema, EdgeStore, EdgeTypeSchema, Graph, IdKind, NodeStore, NodeTypeId, NodeTypeSchema, Schema};

use crate::{Error, Result};

/// See the module docs.
pub fn erase_types(g: &Graph, features: &str, label: &str) -> Result<Graph> {
    // Every edge and set is copied by index: a damaged file is named first.
    g.check_structure()?;
    let schema = g.schema();
    let types = schema.node_types.len();
    let counts: Vec<usize> = (0..types).map(|t| g.node_count(NodeTypeId(t as u16))).collect();
    let mut offset = vec![0usize; types + 1];
    for t in 0..types {
        offset[t + 1] = offset[t] + counts[t];
    }
    let n = offset[types];
    if n > u32::MAX as usize {
        return Err(Error::config("erase-types", "nodes", format!("{n} nodes do not fit 32-bit indices")));
    }
    let column = |t: usize, name: &str| g.node_column(NodeTypeId(t as u16), name).ok();
    let mut dim = 0usize;
    let mut any_label = false;
    for t in 0..types {
        match column(t, features) {
            Some(Column::Vector { dim: d, .. } | Column::Sparse { dim: d, .. }) => dim = dim.max(*d),
            Some(c) => {
                return Err(Error::config(
                    "erase-types",
                    "features",
                    format!("`{features}` of `{}` is {:?}, not a float vector", schema.node_types[t].name, c.kind()),
                ));
            }
            None => {}
        }
        match column(t, label) {
            Some(Column::Int(_)) => any_label = true,
            Some(c) => {
                return Err(Error::config(
                    "erase-types",
                    "label",
                    format!("`{label}` of `{}` is {:?}, not an int column", schema.node_types[t].name, c.kind()),
                ));
            }
            None => {}
        }
    }
    let mut attributes = vec![AttrSchema { name: "node_type".into(), kind: AttrKind::Int }];
    let mut columns = vec![Column::Int((0..types).flat_map(|t| std::iter::repeat_n(t as i64, counts[t])).collect::<Vec<_>>().into())];
    if dim > 0 {
        let cells = n.checked_mul(dim).filter(|&c| c <= isize::MAX as usize / 4).ok_or_else(|| {
            Error::config("erase-types", "features", format!("{n} nodes x {dim} features are too many to hold as one dense column"))
        })?;
        let mut feat = vec![0f32; cells];
        for t in 0..types {
            let rows = &mut feat[offset[t] * dim..offset[t + 1] * dim];
            match column(t, features) {
                Some(Column::Vector { dim: d, data }) => {
                    for (out, row) in rows.chunks_mut(dim).zip(data.as_slice().chunks(*d)) {
                        out[..*d].copy_from_slice(row);
                    }
                }
                Some(Column::Sparse { indptr, indices, values, .. }) => {
                    let (p, ix, v) = (indptr.as_slice(), indices.as_slice(), values.as_slice());
                    for (r, out) in rows.chunks_mut(dim).enumerate() {
                        for k in p[r] as usize..p[r + 1] as usize {
                            out[ix[k] as usize] = v[k];
                        }
                    }
                }
                _ => {}
            }
        }
        attributes.push(AttrSchema { name: "feat".into(), kind: AttrKind::FloatVector { dim: dim as u32 } });
        columns.push(Column::Vector { dim, data: feat.into() });
    }
    if any_label {
        let mut lab = vec![-1i64; n];
        for t in 0..types {
            if let Some(Column::Int(v)) = column(t, label) {
                lab[offset[t]..offset[t + 1]].copy_from_slice(v.as_slice());
            }
        }
        attributes.push(AttrSchema { name: "label".into(), kind: AttrKind::Int });
        columns.push(Column::Int(lab.into()));
    }
    let mut set_names = Vec::new();
    let mut sets = Vec::new();
    for (t, nt) in schema.node_types.iter().enumerate() {
        for (i, name) in nt.sets.iter().enumerate() {
            let shared = schema.node_types.iter().filter(|o| o.sets.contains(name)).count() > 1;
            set_names.push(if shared { format!("{}.{name}", nt.name) } else { name.clone() });
            let members: Vec<u32> = g.nodes(NodeTypeId(t as u16)).sets[i].as_slice().iter().map(|&v| v + offset[t] as u32).collect();
            sets.push(Array::from(members));
        }
    }
    let (mut src, mut dst) = (Vec::new(), Vec::new());
    for (e, et) in schema.edge_types.iter().enumerate() {
        let (s_off, d_off) = (offset[schema.node_type(&et.src)?.0 as usize] as u32, offset[schema.node_type(&et.dst)?.0 as usize] as u32);
        let csr = &g.edge_stores()[e].out;
        for s in 0..csr.rows() {
            for &d in csr.neighbors(s) {
                src.push(s as u32 + s_off);
                dst.push(d + d_off);
            }
        }
    }
    let built = build_topology(n, n, src, dst, BuildOptions { undirected: true, dedup: true, edge_ids: false })?;
    let schema = Schema {
        node_types: vec![NodeTypeSchema { name: "node".into(), id_kind: IdKind::Dense, attributes, sets: set_names }],
        edge_types: vec![EdgeTypeSchema {
            relation: "edge".into(),
            src: "node".into(),
            dst: "node".into(),
            reverse: "edge".into(),
            undirected: true,
            attributes: vec![],
        }],
    };
    let nodes = vec![NodeStore { ids: NodeIds::Dense(n as u32), columns, sets }];
    let edges = vec![EdgeStore { out: built.out, inn: None, columns: vec![], self_loops: built.self_loops }];
    Ok(Graph::from_parts(schema, nodes, edges)?)
}
