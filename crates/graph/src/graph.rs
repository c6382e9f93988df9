//! The frozen, lock-free graph: node stores and edge stores over a schema.

use std::path::PathBuf;
use std::sync::OnceLock;

use rayon::prelude::*;

use crate::array::Array;
use crate::column::Column;
use crate::error::closest;
use crate::idmap::NodeIds;
use crate::ids::{Direction, EdgeTypeId, LocalIdx, NodeTypeId};
use crate::schema::{Schema, reserved};
use crate::topology::{Csr, CsrPart};
use crate::{Error, Result};

/// Everything stored for one node type.
#[derive(Debug)]
pub struct NodeStore {
    /// External ids.
    pub ids: NodeIds,
    /// Attribute columns, in schema order, each with `ids.len()` rows.
    pub columns: Vec<Column>,
    /// Named node sets, in schema order: sorted, distinct local indices.
    pub sets: Vec<Array<u32>>,
}

/// Everything stored for one edge type.
#[derive(Debug)]
pub struct EdgeStore {
    /// Out-neighbours by source; its positions are the edge positions.
    pub out: Csr,
    /// In-neighbours by destination; `None` for undirected types (use `out`).
    pub inn: Option<Csr>,
    /// Attribute columns, in schema order, aligned with out-positions.
    pub columns: Vec<Column>,
    /// Self-loops among the stored edges.
    pub self_loops: u64,
}

impl EdgeStore {
    /// Logical edge count: stored entries, with each undirected pair counted once.
    pub fn logical_edges(&self, undirected: bool) -> u64 {
        let stored = self.out.len() as u64;
        if undirected { (stored + self.self_loops) / 2 } else { stored }
    }
}

/// A structural check's outcome, once run: `Err((file, what is wrong))`,
/// the file relative to the snapshot directory.
type Verdict = OnceLock<std::result::Result<(), (String, String)>>;

/// An immutable heterogeneous graph. `Send + Sync`; reads take no locks.
#[derive(Debug)]
pub struct Graph {
    schema: Schema,
    nodes: Vec<NodeStore>,
    edges: Vec<EdgeStore>,
    /// Per edge type, out- and in-topology: [`Graph::checked_topology`]'s
    /// one-time structural check, once run.
    /// A failed check holds the damaged file (relative to the snapshot)
    /// and what is wrong with it.
    checked: Vec<[Verdict; 2]>,
    /// Per node type: [`Graph::checked_ids`]'s one-time check, likewise.
    checked_ids: Vec<Verdict>,
    /// The snapshot directory the graph was opened from, for messages.
    origin: Option<PathBuf>,
}

impl Graph {
    /// Assembles a graph, checking that every part agrees with the schema
    /// (counts, column kinds and lengths, topology sizes). Cheap: it does not
    /// scan the arrays (see [`Graph::check_deep`]).
    pub fn from_parts(schema: Schema, nodes: Vec<NodeStore>, edges: Vec<EdgeStore>) -> Result<Self> {
        schema.validate()?;
        if nodes.len() != schema.node_types.len() || edges.len() != schema.edge_types.len() {
            return Err(Error::Invalid("schema and stores disagree on the number of types".into()));
        }
        for (t, n) in schema.node_types.iter().zip(&nodes) {
            if n.ids.kind() != t.id_kind {
                return Err(Error::Invalid(format!("node type `{}`: id kind differs from the schema", t.name)));
            }
            check_columns(&t.name, &t.attributes, &n.columns, n.ids.len())?;
            if n.sets.len() != t.sets.len() {
                return Err(Error::Invalid(format!("node type `{}`: node sets differ from the schema", t.name)));
            }
        }
        let checked = edges.iter().map(|_| Default::default()).collect();
        let checked_ids = nodes.iter().map(|_| Default::default()).collect();
        let g = Graph { schema, nodes, edges, checked, checked_ids, origin: None };
        for (i, (t, e)) in g.schema.edge_types.iter().zip(&g.edges).enumerate() {
            let (ns, nd) = g.endpoint_counts(EdgeTypeId(i as u16));
            if e.out.rows() != ns {
                return Err(Error::Invalid(format!("edge type {}: out-topology has {} rows for {ns} source nodes", t.display_name(), e.out.rows())));
            }
            match (&e.inn, t.undirected) {
                (None, true) => {}
                (Some(inn), false) if inn.rows() == nd && inn.len() == e.out.len() => {}
                _ => {
                    return Err(Error::Invalid(format!("edge type {}: in-topology does not match", t.display_name())));
                }
            }
            check_columns(&t.display_name(), &t.attributes, &e.columns, e.out.len())?;
        }
        Ok(g)
    }

    /// Scans every array and checks all invariants (sorted rows, indices in
    /// range, id index order, column contents). Linear in the graph size.
    pub fn check_deep(&self) -> std::result::Result<(), String> {
        // Topologies, in→out edge maps, id maps and set ranges: the checks
        // kernels rely on (cached, each naming its file).
        self.check_structure().map_err(|e| e.to_string())?;
        for (t, n) in self.schema.node_types.iter().zip(&self.nodes) {
            for (a, c) in t.attributes.iter().zip(&n.columns) {
                c.check(n.ids.len()).map_err(|m| format!("node type `{}` attribute `{}`: {m}", t.name, a.name))?;
            }
            for (s, set) in t.sets.iter().zip(&n.sets) {
                if set.as_slice().windows(2).any(|w| w[0] >= w[1]) {
                    return Err(format!("node type `{}` set `{s}`: not sorted or repeated", t.name));
                }
            }
        }
        for (t, e) in self.schema.edge_types.iter().zip(&self.edges) {
            for (a, c) in t.attributes.iter().zip(&e.columns) {
                c.check(e.out.len()).map_err(|m| format!("edge type {} attribute `{}`: {m}", t.display_name(), a.name))?;
            }
        }
        Ok(())
    }

    /// Takes the graph apart (the inverse of [`Graph::from_parts`]), to
    /// rebuild it with some parts replaced.
    pub fn into_parts(self) -> (Schema, Vec<NodeStore>, Vec<EdgeStore>) {
        (self.schema, self.nodes, self.edges)
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The store of node type `t`.
    pub fn nodes(&self, t: NodeTypeId) -> &NodeStore {
        &self.nodes[t.0 as usize]
    }

    /// The store of edge type `e`.
    pub fn edges(&self, e: EdgeTypeId) -> &EdgeStore {
        &self.edges[e.0 as usize]
    }

    /// All node stores, in schema order.
    pub fn node_stores(&self) -> &[NodeStore] {
        &self.nodes
    }

    /// All edge stores, in schema order.
    pub fn edge_stores(&self) -> &[EdgeStore] {
        &self.edges
    }

    /// Number of nodes of type `t`.
    pub fn node_count(&self, t: NodeTypeId) -> usize {
        self.nodes(t).ids.len()
    }

    /// Source and destination node counts of edge type `e`.
    pub fn endpoint_counts(&self, e: EdgeTypeId) -> (usize, usize) {
        let s = &self.schema.edge_types[e.0 as usize];
        let count = |name: &str| self.schema.node_type(name).map(|t| self.node_count(t)).unwrap_or(0);
        (count(&s.src), count(&s.dst))
    }

    /// The topology to walk edge type `e` in direction `dir`.
    pub fn topology(&self, e: EdgeTypeId, dir: Direction) -> &Csr {
        let s = self.edges(e);
        match dir {
            Direction::Out => &s.out,
            Direction::In => s.inn.as_ref().unwrap_or(&s.out),
        }
    }

    /// [`Graph::topology`] after a check of its whole structure, run on the
    /// first call for each edge type and direction ([`Csr::check`], and for
    /// an in-topology its edge map against the edge count). A snapshot opens
    /// without reading its arrays, so a damaged CSR file would otherwise show
    /// up as an index out of range deep in a sampler, or as node ids past
    /// the last node in its output; the kernels that index by the stored
    /// neighbours take their topology from here. The first call reads
    /// offsets and targets once, in parallel (12 bytes an edge, 8 a node).
    /// A damaged file is named: `<snapshot>/edges/<e>/out.dst.u32`, ….
    pub fn checked_topology(&self, e: EdgeTypeId, dir: Direction) -> Result<&Csr> {
        let s = self.edges(e);
        let (csr, side) = match (dir, &s.inn) {
            (Direction::In, Some(inn)) => (inn, 1),
            _ => (&s.out, 0),
        };
        let verdict = self.checked[e.0 as usize][side].get_or_init(|| {
            let (ns, nd) = self.endpoint_counts(e);
            let (name, ends, bound) = if side == 0 { ("out", "dst", nd) } else { ("in", "src", ns) };
            let file = |part: CsrPart| match part {
                CsrPart::Offsets => format!("edges/{}/{name}.off.u64", e.0),
                CsrPart::Targets => format!("edges/{}/{name}.{ends}.u32", e.0),
                CsrPart::EdgeMap => format!("edges/{}/{name}.edge.u32", e.0),
            };
            csr.check(bound).map_err(|(part, m)| (file(part), m))?;
            if let Some(map) = &csr.edge
                && let Some(p) = map.as_slice().par_iter().find_first(|&&p| p as usize >= s.out.len())
            {
                return Err((file(CsrPart::EdgeMap), format!("edge position {p} is past the last edge ({} edges)", s.out.len())));
            }
            Ok(())
        });
        match verdict {
            Ok(()) => Ok(csr),
            Err((file, message)) => Err(self.damaged(file, message, &format!("edge type {}", self.schema.edge_types[e.0 as usize].display_name()))),
        }
    }

    /// The external-id map of node type `t` after a check of its structure,
    /// run on the first call for each type ([`NodeIds::check`]: the sorted
    /// index a permutation that orders the ids, string offsets in order):
    /// lookups by id and the ids of local indices read through it, and a
    /// damaged file would otherwise index out of range. The first call
    /// reads the map once (O(n) for int ids, O(n) string comparisons).
    pub fn checked_ids(&self, t: NodeTypeId) -> Result<&NodeIds> {
        let ids = &self.nodes(t).ids;
        let verdict = self.checked_ids[t.0 as usize].get_or_init(|| ids.check().map_err(|m| (format!("nodes/{}/ids.*", t.0), m)));
        match verdict {
            Ok(()) => Ok(ids),
            Err((file, message)) => Err(self.damaged(file, message, &format!("node type `{}`", self.schema.node_types[t.0 as usize].name))),
        }
    }

    /// A failed structural check as an error naming the damaged file (under
    /// the snapshot directory, when the graph was opened from one).
    fn damaged(&self, file: &str, message: &str, what: &str) -> Error {
        let message = format!("{message} ({what}; the snapshot is damaged: `ferrograph verify` checks every file)");
        match &self.origin {
            Some(dir) => Error::Corrupt { path: dir.join(file), message },
            None => Error::Invalid(format!("{file}: {message}")),
        }
    }

    /// [`Graph::checked_topology`] for every edge type and direction,
    /// [`Graph::checked_ids`] for every node type and [`Graph::node_set`]'s
    /// check of every set: for a job that reads the whole graph anyway
    /// (training, partitioning, rewriting a snapshot), so that its kernels
    /// may index by any stored neighbour, id and set member.
    pub fn check_structure(&self) -> Result<()> {
        for e in 0..self.edges.len() {
            for dir in [Direction::Out, Direction::In] {
                self.checked_topology(EdgeTypeId(e as u16), dir)?;
            }
        }
        for (t, ts) in self.schema.node_types.iter().enumerate() {
            self.checked_ids(NodeTypeId(t as u16))?;
            for s in &ts.sets {
                self.node_set(NodeTypeId(t as u16), s)?;
            }
        }
        Ok(())
    }

    /// Records the snapshot directory the graph was opened from (named in
    /// [`Graph::checked_topology`]'s errors).
    pub(crate) fn set_origin(&mut self, dir: PathBuf) {
        self.origin = Some(dir);
    }

    /// Neighbours of `node` along edge type `e` in direction `dir`.
    pub fn neighbors(&self, e: EdgeTypeId, dir: Direction, node: LocalIdx) -> &[u32] {
        self.topology(e, dir).neighbors(node.get())
    }

    /// Attribute column `name` of node type `t`.
    pub fn node_column(&self, t: NodeTypeId, name: &str) -> Result<&Column> {
        let attrs = &self.schema.node_types[t.0 as usize].attributes;
        let i = find_attr(attrs.iter().map(|a| a.name.as_str()), name)?;
        Ok(&self.nodes(t).columns[i])
    }

    /// Attribute column `name` of edge type `e`.
    pub fn edge_column(&self, e: EdgeTypeId, name: &str) -> Result<&Column> {
        let attrs = &self.schema.edge_types[e.0 as usize].attributes;
        let i = find_attr(attrs.iter().map(|a| a.name.as_str()), name)?;
        Ok(&self.edges(e).columns[i])
    }

    /// Edge weights of type `e` by out-position, if it has a float `weight` column.
    pub fn edge_weights(&self, e: EdgeTypeId) -> Option<&[f32]> {
        match self.edge_column(e, reserved::WEIGHT) {
            Ok(Column::Float(a)) => Some(a.as_slice()),
            _ => None,
        }
    }

    /// Node set `name` of type `t` (sorted local indices), checked to hold
    /// only nodes of the type (one vectorised pass over the set each call;
    /// a damaged set file is named rather than handed out as seeds).
    pub fn node_set(&self, t: NodeTypeId, name: &str) -> Result<&[u32]> {
        let sets = &self.schema.node_types[t.0 as usize].sets;
        let i = sets.iter().position(|s| s == name).ok_or_else(|| Error::Unknown {
            what: "node set",
            name: name.into(),
            suggestion: closest(name, sets.iter().map(String::as_str)),
        })?;
        let set = self.nodes(t).sets[i].as_slice();
        let n = self.node_count(t);
        if let Some(bad) = crate::array::first_outside(set, n) {
            let what = format!("node type `{}`", self.schema.node_types[t.0 as usize].name);
            return Err(self.damaged(
                &format!("nodes/{}/set{i}.u32", t.0),
                &format!("set `{name}` holds node {bad}, and there are {n} nodes"),
                &what,
            ));
        }
        Ok(set)
    }
}

fn find_attr<'a>(names: impl Iterator<Item = &'a str> + Clone, name: &str) -> Result<usize> {
    names.clone().position(|n| n == name).ok_or_else(|| Error::Unknown { what: "attribute", name: name.into(), suggestion: closest(name, names) })
}

fn check_columns(owner: &str, attrs: &[crate::AttrSchema], cols: &[Column], rows: usize) -> Result<()> {
    if attrs.len() != cols.len() {
        return Err(Error::Invalid(format!("{owner}: {} columns for {} attributes", cols.len(), attrs.len())));
    }
    for (a, c) in attrs.iter().zip(cols) {
        if c.kind() != a.kind {
            return Err(Error::Invalid(format!("{owner}: attribute `{}` is {} but holds {}", a.name, a.kind.describe(), c.kind().describe())));
        }
        if c.rows() != rows {
            return Err(Error::Invalid(format!("{owner}: attribute `{}` has {} rows, expected {rows}", a.name, c.rows())));
        }
    }
    Ok(())
}
