//! `ferrograph info`: what a snapshot holds, as text or JSON.

use ferrograph_graph::column::ColumnStats;
use ferrograph_graph::snapshot::Manifest;
use ferrograph_graph::stats::DegreeStats;
use ferrograph_graph::{AttrKind, AttrSchema};
use serde_json::{Value, json};

fn attr_json(a: &AttrSchema, s: Option<&ColumnStats>) -> Value {
    let mut v = json!({ "name": a.name, "type": a.kind.describe() });
    let m = v.as_object_mut().expect("object");
    match a.kind {
        AttrKind::FloatVector { dim } | AttrKind::Sparse { dim } => {
            m.insert("dim".into(), json!(dim));
        }
        AttrKind::String { buckets: Some(b) } => {
            m.insert("buckets".into(), json!(b));
        }
        _ => {}
    }
    if let Some(s) = s {
        for (k, x) in [("min", s.min), ("max", s.max)] {
            if let Some(x) = x {
                m.insert(k.into(), json!(x));
            }
        }
        if let Some(d) = s.distinct {
            m.insert("distinct".into(), json!(d));
        }
        if let Some(n) = s.nnz {
            m.insert("nnz".into(), json!(n));
        }
    }
    v
}

pub fn to_json(dir: &std::path::Path, m: &Manifest) -> Value {
    let nodes: Vec<Value> = m
        .schema
        .node_types
        .iter()
        .zip(&m.node_types)
        .map(|(t, s)| {
            json!({
                "name": t.name,
                "count": s.count,
                "id_kind": t.id_kind,
                "attributes": t.attributes.iter().enumerate().map(|(i, a)| attr_json(a, s.column_stats.get(i))).collect::<Vec<_>>(),
                "sets": t.sets.iter().zip(&s.set_sizes).map(|(n, c)| json!({"name": n, "size": c})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let edges: Vec<Value> = m
        .schema
        .edge_types
        .iter()
        .zip(&m.edge_types)
        .map(|(t, s)| {
            json!({
                "name": t.relation,
                "src": t.src,
                "dst": t.dst,
                "reverse": t.reverse,
                "undirected": t.undirected,
                "count": s.count,
                "stored": s.stored,
                "self_loops": s.self_loops,
                "out_degree": s.out_degree,
                "in_degree": s.in_degree,
                "attributes": t.attributes.iter().enumerate().map(|(i, a)| attr_json(a, s.column_stats.get(i))).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "path": dir.display().to_string(),
        "format_version": m.format_version,
        "created_by": m.created_by,
        "bytes_on_disk": m.data_bytes(),
        "files": m.files.len(),
        "node_types": nodes,
        "edge_types": edges,
    })
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn human_bytes(b: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut x = b as f64;
    let mut u = 0;
    while x >= 1024.0 && u < units.len() - 1 {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{b} B") } else { format!("{x:.1} {}", units[u]) }
}

fn stats_text(s: Option<&ColumnStats>) -> String {
    let Some(s) = s else { return String::new() };
    let mut parts = Vec::new();
    if let (Some(a), Some(b)) = (s.min, s.max) {
        let num = |x: f64| {
            if x.fract() == 0.0 && x.abs() < 1e15 { format!("{x}") } else { format!("{x:.4}") }
        };
        parts.push(format!("range {}..={}", num(a), num(b)));
    }
    if let Some(d) = s.distinct {
        parts.push(format!("{} distinct", thousands(d)));
    }
    if let Some(n) = s.nnz {
        parts.push(format!("{} non-zeros", thousands(n)));
    }
    parts.join(", ")
}

fn degree_text(d: &DegreeStats) -> String {
    format!("min {}  mean {:.2}  p50 {}  p99 {}  max {}  (zero: {})", d.min, d.mean, d.p50, d.p99, d.max, thousands(d.zero))
}

pub fn to_text(dir: &std::path::Path, m: &Manifest) -> String {
    let mut o = String::new();
    o += &format!(
        "snapshot {}  (format {}, {} in {} files, {})\n",
        dir.display(),
        m.format_version,
        human_bytes(m.data_bytes()),
        m.files.len(),
        m.created_by
    );
    o += "node types:\n";
    for (t, s) in m.schema.node_types.iter().zip(&m.node_types) {
        o += &format!("  {:<16} {:>14} nodes   ids: {:?}\n", t.name, thousands(s.count), t.id_kind);
        for (i, a) in t.attributes.iter().enumerate() {
            o += &format!("    {:<20} {:<22} {}\n", a.name, a.kind.describe(), stats_text(s.column_stats.get(i)));
        }
        if !t.sets.is_empty() {
            let sets: Vec<String> = t.sets.iter().zip(&s.set_sizes).map(|(n, c)| format!("{n} {}", thousands(*c))).collect();
            o += &format!("    sets: {}\n", sets.join(", "));
        }
    }
    o += "edge types:\n";
    for (t, s) in m.schema.edge_types.iter().zip(&m.edge_types) {
        let dir_txt = if t.undirected { format!("undirected, {} stored", thousands(s.stored)) } else { "directed".into() };
        o += &format!("  {:<36} {:>14} edges   ({dir_txt}; reverse `{}`)\n", t.display_name(), thousands(s.count), t.reverse);
        o += &format!("    out-degree  {}\n", degree_text(&s.out_degree));
        if !t.undirected {
            o += &format!("    in-degree   {}\n", degree_text(&s.in_degree));
        }
        for (i, a) in t.attributes.iter().enumerate() {
            o += &format!("    {:<20} {:<22} {}\n", a.name, a.kind.describe(), stats_text(s.column_stats.get(i)));
        }
    }
    o
}
