//! The TOML import config: which files hold which node and edge types.
//!
//! ```toml
//! [[nodes]]
//! type = "paper"
//! file = "nodes.csv"                  # relative to this config file
//! id = "id"
//! columns = [{ name = "label", type = "int" }, { name = "split", type = "string" }]
//! features = [{ name = "feat", file = "features.npy" }]
//!
//! [[edges]]
//! src_type = "paper"
//! relation = "cites"
//! dst_type = "paper"
//! file = "edges.csv"
//! src = "src"
//! dst = "dst"
//!
//! [[node_sets]]
//! type = "paper"
//! name = "train"
//! column = "split"
//! value = "train"
//! ```
//! See `configs/` in the repository for one config per bundled dataset and
//! `docs/import.md` for every field.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Error, Result};

/// File formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Comma-separated with a header row (quoting allowed).
    Csv,
    /// Tab-separated with a header row.
    Tsv,
    /// graph-learn / AliGraph tables: tab-separated, typed header `name:type`.
    Graphlearn,
    /// SNAP edge list: `#` comments, whitespace-separated, no header; plain or `.gz`.
    Snap,
    /// Apache Parquet.
    Parquet,
    /// NumPy `.npy` arrays.
    Npy,
}

impl Format {
    /// Guesses the format from a file name.
    pub fn from_path(p: &Path) -> Option<Format> {
        let name = p.file_name()?.to_string_lossy().to_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        Some(match Path::new(name).extension()?.to_str()? {
            "csv" => Format::Csv,
            "tsv" => Format::Tsv,
            "txt" => Format::Snap,
            "parquet" | "pq" => Format::Parquet,
            "npy" => Format::Npy,
            _ => return None,
        })
    }
}

/// Value types of a column taken from a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// 64-bit integer.
    Int,
    /// 32-bit float.
    Float,
    /// Categorical string (optionally hashed into `buckets`).
    String,
    /// Fixed-length float vector written in one field, values separated by `delimiter`.
    FloatVector,
}

/// Node id type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdType {
    /// 64-bit integers.
    #[default]
    Int,
    /// Strings.
    String,
}

/// One attribute column taken from a table.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// Attribute name in the graph.
    pub name: String,
    /// Column in the file (default: `name`).
    pub source: Option<String>,
    /// Value type.
    #[serde(rename = "type")]
    pub ty: ValueType,
    /// For strings: hash into this many buckets instead of keeping a dictionary.
    pub buckets: Option<u32>,
    /// For float vectors: the length.
    pub dim: Option<u32>,
    /// For float vectors: the separator inside the field (default `:`).
    pub delimiter: Option<String>,
}

/// graph-learn's attribute decoder: one string column holding several
/// attributes joined by a delimiter (`attr_types` in graph-learn's `Decoder`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributesSpec {
    /// The column holding the joined attributes (graph-learn: `attributes` or `feature`).
    pub column: String,
    /// The separator (default `:`).
    #[serde(default = "colon")]
    pub delimiter: String,
    /// The attributes, in order. A `float_vector` of `dim` d takes d values.
    pub fields: Vec<ColumnSpec>,
}

fn colon() -> String {
    ":".into()
}

/// A feature file aligned row by row with a node or edge table.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureFile {
    /// Attribute name in the graph.
    pub name: String,
    /// `.npy` (1-D int → int, 1-D float → float, 2-D float → float_vector) or
    /// scipy `.npz` CSR (→ sparse).
    pub file: PathBuf,
    /// Read a 1-D array as this type (`int` turns whole-number floats, such
    /// as labels saved as float64, into integers; anything else is an error).
    #[serde(rename = "type")]
    pub ty: Option<ValueType>,
}

/// Options shared by text tables.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextOptions {
    /// Field separator: one character, or "whitespace".
    pub delimiter: Option<String>,
    /// Honour double quotes (CSV default: true; others: false).
    pub quoting: Option<bool>,
    /// First line is a header (default true except for SNAP).
    pub header: Option<bool>,
    /// Column names when there is no header.
    pub names: Option<Vec<String>>,
    /// Lines starting with this character are skipped (SNAP default `#`).
    pub comment: Option<String>,
}

/// A node type and where its nodes come from.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(from = "RawNodeTable")]
pub struct NodeTable {
    /// Node type name.
    pub ty: String,
    /// Table file; absent for `count`-declared types and for types whose
    /// nodes come only from edges (`create_nodes`).
    pub file: Option<PathBuf>,
    /// Format (default: from the file extension; graph-learn tables have none, say `graphlearn`).
    pub format: Option<Format>,
    /// Id column (default `id`).
    pub id: Option<String>,
    /// Id type (default `int`).
    pub id_type: IdType,
    /// Declares `count` nodes with ids `0..count` and no table.
    pub count: Option<u64>,
    /// Attribute columns to take from the table.
    pub columns: Vec<ColumnSpec>,
    /// graph-learn attribute decoder.
    pub attributes: Option<AttributesSpec>,
    /// Feature files aligned with the rows.
    pub features: Vec<FeatureFile>,
    /// Text options (written inline in the table: `delimiter`, `quoting`, ...).
    pub text: TextOptions,
}

/// An edge type and where its edges come from.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(from = "RawEdgeTable")]
pub struct EdgeTable {
    /// Source node type.
    pub src_type: String,
    /// Relation name.
    pub relation: String,
    /// Destination node type.
    pub dst_type: String,
    /// Table file (for NPY: a `[2, E]` or `[E, 2]` integer array).
    pub file: Option<PathBuf>,
    /// NPY: 1-D source ids.
    pub src_file: Option<PathBuf>,
    /// NPY: 1-D destination ids.
    pub dst_file: Option<PathBuf>,
    /// Format (default: from the extension).
    pub format: Option<Format>,
    /// Source id column (default `src_id` for graph-learn, `src` otherwise; SNAP: first field).
    pub src: Option<String>,
    /// Destination id column (default `dst_id` / `dst`; SNAP: second field).
    pub dst: Option<String>,
    /// Weight column (float). graph-learn tables use `weight` automatically.
    pub weight: Option<String>,
    /// Label column (int).
    pub label: Option<String>,
    /// Timestamp column (int).
    pub timestamp: Option<String>,
    /// Other attribute columns.
    pub columns: Vec<ColumnSpec>,
    /// graph-learn attribute decoder.
    pub attributes: Option<AttributesSpec>,
    /// Feature files aligned with the edge rows.
    pub features: Vec<FeatureFile>,
    /// Store both directions (same source and destination type).
    pub undirected: bool,
    /// Drop repeated edges.
    pub dedup: bool,
    /// Name of the reverse relation (default `rev_<relation>`).
    pub reverse: Option<String>,
    /// Endpoint ids missing from the node tables become new nodes (plain edge lists).
    pub create_nodes: bool,
    /// Added to integer endpoint ids before lookup (`-1` for 1-based files).
    pub id_offset: i64,
    /// Text options (written inline in the table).
    pub text: TextOptions,
}

/// A named node set (train/val/test split), from a table of ids or from a column value.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(from = "RawNodeSetSpec")]
pub struct NodeSetSpec {
    /// Node type.
    pub ty: String,
    /// Set name.
    pub name: String,
    /// File of ids (graph-learn table, CSV, SNAP-like text, or 1-D NPY).
    pub file: Option<PathBuf>,
    /// Format of `file`.
    pub format: Option<Format>,
    /// Id column in `file` (default `id`).
    pub id: Option<String>,
    /// Alternatively: a string or int attribute of the node type...
    pub column: Option<String>,
    /// ...and the value that puts a node in the set.
    pub value: Option<String>,
    /// Text options for `file` (written inline in the table).
    pub text: TextOptions,
}

// The tables as written. Text options sit inline in each table; they are
// listed here field by field rather than through `#[serde(flatten)]`, which
// would make toml report a bad or unknown text option at its table's header
// instead of at the field itself.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNodeTable {
    #[serde(rename = "type")]
    ty: String,
    file: Option<PathBuf>,
    format: Option<Format>,
    id: Option<String>,
    #[serde(default)]
    id_type: IdType,
    count: Option<u64>,
    #[serde(default)]
    columns: Vec<ColumnSpec>,
    attributes: Option<AttributesSpec>,
    #[serde(default)]
    features: Vec<FeatureFile>,
    delimiter: Option<String>,
    quoting: Option<bool>,
    header: Option<bool>,
    names: Option<Vec<String>>,
    comment: Option<String>,
}

impl From<RawNodeTable> for NodeTable {
    fn from(r: RawNodeTable) -> Self {
        NodeTable {
            ty: r.ty,
            file: r.file,
            format: r.format,
            id: r.id,
            id_type: r.id_type,
            count: r.count,
            columns: r.columns,
            attributes: r.attributes,
            features: r.features,
            text: TextOptions { delimiter: r.delimiter, quoting: r.quoting, header: r.header, names: r.names, comment: r.comment },
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEdgeTable {
    src_type: String,
    relation: String,
    dst_type: String,
    file: Option<PathBuf>,
    src_file: Option<PathBuf>,
    dst_file: Option<PathBuf>,
    format: Option<Format>,
    src: Option<String>,
    dst: Option<String>,
    weight: Option<String>,
    label: Option<String>,
    timestamp: Option<String>,
    #[serde(default)]
    columns: Vec<ColumnSpec>,
    attributes: Option<AttributesSpec>,
    #[serde(default)]
    features: Vec<FeatureFile>,
    #[serde(default)]
    undirected: bool,
    #[serde(default)]
    dedup: bool,
    reverse: Option<String>,
    #[serde(default)]
    create_nodes: bool,
    #[serde(default)]
    id_offset: i64,
    delimiter: Option<String>,
    quoting: Option<bool>,
    header: Option<bool>,
    names: Option<Vec<String>>,
    comment: Option<String>,
}

impl From<RawEdgeTable> for EdgeTable {
    fn from(r: RawEdgeTable) -> Self {
        EdgeTable {
            src_type: r.src_type,
            relation: r.relation,
            dst_type: r.dst_type,
            file: r.file,
            src_file: r.src_file,
            dst_file: r.dst_file,
            format: r.format,
            src: r.src,
            dst: r.dst,
            weight: r.weight,
            label: r.label,
            timestamp: r.timestamp,
            columns: r.columns,
            attributes: r.attributes,
            features: r.features,
            undirected: r.undirected,
            dedup: r.dedup,
            reverse: r.reverse,
            create_nodes: r.create_nodes,
            id_offset: r.id_offset,
            text: TextOptions { delimiter: r.delimiter, quoting: r.quoting, header: r.header, names: r.names, comment: r.comment },
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNodeSetSpec {
    #[serde(rename = "type")]
    ty: String,
    name: String,
    file: Option<PathBuf>,
    format: Option<Format>,
    id: Option<String>,
    column: Option<String>,
    value: Option<String>,
    delimiter: Option<String>,
    quoting: Option<bool>,
    header: Option<bool>,
    names: Option<Vec<String>>,
    comment: Option<String>,
}

impl From<RawNodeSetSpec> for NodeSetSpec {
    fn from(r: RawNodeSetSpec) -> Self {
        NodeSetSpec {
            ty: r.ty,
            name: r.name,
            file: r.file,
            format: r.format,
            id: r.id,
            column: r.column,
            value: r.value,
            text: TextOptions { delimiter: r.delimiter, quoting: r.quoting, header: r.header, names: r.names, comment: r.comment },
        }
    }
}

/// The dotted path (`nodes[1].columns[0].type`) of the innermost key or
/// value of `doc` whose span holds byte `pos`.
fn field_at(doc: &toml::de::DeTable<'_>, pos: usize) -> Option<String> {
    fn in_table(t: &toml::de::DeTable<'_>, pos: usize, out: &mut String, depth: usize) -> bool {
        if depth > 128 {
            return false;
        }
        for (k, v) in t.iter() {
            let mark = out.len();
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(k.get_ref());
            if k.span().contains(&pos) || in_value(v, pos, out, depth + 1) {
                return true;
            }
            out.truncate(mark);
        }
        false
    }
    fn in_value(v: &toml::Spanned<toml::de::DeValue<'_>>, pos: usize, out: &mut String, depth: usize) -> bool {
        match v.get_ref() {
            toml::de::DeValue::Table(t) if in_table(t, pos, out, depth) => return true,
            toml::de::DeValue::Array(a) if depth <= 128 => {
                for (i, el) in a.iter().enumerate() {
                    let mark = out.len();
                    out.push_str(&format!("[{i}]"));
                    if in_value(el, pos, out, depth + 1) {
                        return true;
                    }
                    out.truncate(mark);
                }
            }
            _ => {}
        }
        v.span().contains(&pos)
    }
    let mut out = String::new();
    (in_table(doc, pos, &mut out, 0) && !out.is_empty()).then_some(out)
}

/// A toml error as [`Error::ConfigSyntax`]: line and column of its span
/// (in characters), and the field it is about when the span names one.
fn syntax_error(text: &str, path: &Path, e: &toml::de::Error) -> Error {
    let message: String = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
    let span = e.span();
    let mut at = span.as_ref().map_or(0, |s| s.start.min(text.len()));
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let line = text[..at].matches('\n').count() + 1;
    let line_start = text[..at].rfind('\n').map_or(0, |p| p + 1);
    let column = text[line_start..at].chars().count() + 1;
    let field = span.and_then(|_| toml::de::DeTable::parse(text).ok()).and_then(|doc| field_at(doc.get_ref(), at));
    let message = match field {
        Some(f) => format!("field `{f}`: {message}"),
        None => message,
    };
    Error::ConfigSyntax { file: path.to_path_buf(), line, column, message }
}

/// A whole import config.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportConfig {
    /// Node types.
    #[serde(default)]
    pub nodes: Vec<NodeTable>,
    /// Edge types.
    #[serde(default)]
    pub edges: Vec<EdgeTable>,
    /// Node sets.
    #[serde(default)]
    pub node_sets: Vec<NodeSetSpec>,
    /// The config file (for error messages); set by [`ImportConfig::load`].
    #[serde(skip)]
    pub path: PathBuf,
    /// Directory relative paths are resolved against.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

impl ImportConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, path, &base)
    }

    /// Parses and validates config text; `path` names it in errors and
    /// relative file names are resolved against `base_dir`.
    pub fn parse(text: &str, path: &Path, base_dir: &Path) -> Result<Self> {
        let mut c: ImportConfig = toml::from_str(text).map_err(|e| syntax_error(text, path, &e))?;
        c.path = path.to_path_buf();
        c.base_dir = base_dir.to_path_buf();
        c.validate()?;
        Ok(c)
    }

    /// Resolves a file name from the config.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() { p.to_path_buf() } else { self.base_dir.join(p) }
    }

    fn err(&self, field: String, message: impl Into<String>) -> Error {
        Error::config(&self.path, field, message)
    }

    fn check_type(&self, field: String, name: &str) -> Result<()> {
        if self.nodes.iter().any(|n| n.ty == name) {
            return Ok(());
        }
        let hint = ferrograph_graph::error_closest(name, self.nodes.iter().map(|n| n.ty.as_str()))
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_else(|| "; declare it in a [[nodes]] section".into());
        Err(self.err(field, format!("unknown node type `{name}`{hint}")))
    }

    fn validate(&self) -> Result<()> {
        if self.nodes.is_empty() {
            return Err(self.err("nodes".into(), "no node types are declared"));
        }
        for (i, n) in self.nodes.iter().enumerate() {
            let f = |x: &str| format!("nodes[{i}].{x}");
            if n.ty.trim().is_empty() {
                return Err(self.err(f("type"), "is empty"));
            }
            if self.nodes[..i].iter().any(|m| m.ty == n.ty) {
                return Err(self.err(f("type"), format!("node type `{}` is declared twice", n.ty)));
            }
            if n.file.is_some() && n.count.is_some() {
                return Err(self.err(f("count"), "give either `file` or `count`, not both"));
            }
            if n.file.is_none() && (!n.columns.is_empty() || n.attributes.is_some()) {
                return Err(self.err(f("columns"), "columns need a `file` to read them from"));
            }
            if n.count.is_some() && n.id_type == IdType::String {
                return Err(self.err(f("id_type"), "`count` declares integer ids 0..count"));
            }
            if let Some(file) = &n.file {
                let fmt = n.format.or_else(|| Format::from_path(file));
                match fmt {
                    None => {
                        return Err(self.err(f("format"), format!("cannot tell the format of {}; set `format`", file.display())));
                    }
                    Some(Format::Npy) => {
                        return Err(self.err(f("format"), "a node table cannot be NPY; use `count` and `features`"));
                    }
                    _ => {}
                }
            }
            if !n.features.is_empty() && n.file.is_none() && n.count.is_none() {
                return Err(self.err(f("features"), "feature files need a node table or a `count`"));
            }
            if n.count.is_some_and(|c| c > u64::from(u32::MAX)) {
                return Err(self.err(f("count"), "at most 4294967295 nodes per type"));
            }
            self.check_columns(&n.columns, n.attributes.as_ref(), &f(""))?;
            self.check_text(&n.text, &f(""))?;
        }
        for (i, e) in self.edges.iter().enumerate() {
            let f = |x: &str| format!("edges[{i}].{x}");
            self.check_type(f("src_type"), &e.src_type)?;
            self.check_type(f("dst_type"), &e.dst_type)?;
            if e.relation.trim().is_empty() {
                return Err(self.err(f("relation"), "is empty"));
            }
            let fmt = e.format.or_else(|| e.file.as_deref().or(e.src_file.as_deref()).and_then(Format::from_path));
            match (fmt, &e.file, &e.src_file, &e.dst_file) {
                (None, _, _, _) => {
                    return Err(self.err(f("format"), "cannot tell the format; set `format`"));
                }
                (Some(Format::Npy), None, Some(_), Some(_)) | (Some(Format::Npy), Some(_), None, None) => {}
                (Some(Format::Npy), _, _, _) => {
                    return Err(self.err(f("file"), "NPY edges need `file` ([2, E] array) or both `src_file` and `dst_file`"));
                }
                (Some(_), Some(_), None, None) => {}
                (Some(_), _, _, _) => {
                    return Err(self.err(f("file"), "give the edge table as `file`"));
                }
            }
            if e.undirected && e.src_type != e.dst_type {
                return Err(
                    self.err(f("undirected"), format!("`{}` joins two node types; leave it directed and walk its reverse relation", e.relation))
                );
            }
            self.check_columns(&e.columns, e.attributes.as_ref(), &f(""))?;
            self.check_text(&e.text, &f(""))?;
        }
        for (i, s) in self.node_sets.iter().enumerate() {
            let f = |x: &str| format!("node_sets[{i}].{x}");
            self.check_type(f("type"), &s.ty)?;
            match (&s.file, &s.column, &s.value) {
                (Some(_), None, None) | (None, Some(_), Some(_)) => {}
                _ => return Err(self.err(f("file"), "give either `file`, or `column` and `value`")),
            }
            if self.node_sets[..i].iter().any(|o| o.ty == s.ty && o.name == s.name) {
                return Err(self.err(f("name"), format!("set `{}` of `{}` is declared twice", s.name, s.ty)));
            }
            self.check_text(&s.text, &f(""))?;
        }
        Ok(())
    }

    fn check_columns(&self, cols: &[ColumnSpec], attrs: Option<&AttributesSpec>, prefix: &str) -> Result<()> {
        if let Some(a) = attrs
            && !one_ascii_char(&a.delimiter)
        {
            return Err(self.err(format!("{prefix}attributes.delimiter"), format!("`{}` is not one ASCII character", a.delimiter.escape_debug())));
        }
        let all = cols
            .iter()
            .enumerate()
            .map(|(j, c)| (c, format!("{prefix}columns[{j}]")))
            .chain(attrs.into_iter().flat_map(|a| a.fields.iter().enumerate().map(|(j, c)| (c, format!("{prefix}attributes.fields[{j}]")))));
        for (c, field) in all {
            match c.ty {
                ValueType::FloatVector if c.dim.unwrap_or(0) == 0 => {
                    return Err(self.err(field + ".dim", "a float_vector needs `dim` > 0"));
                }
                ValueType::String => {}
                _ if c.buckets.is_some() => {
                    return Err(self.err(field + ".buckets", "only string columns are hashed into buckets"));
                }
                _ => {}
            }
            if c.buckets == Some(0) {
                return Err(self.err(field + ".buckets", "must be > 0"));
            }
            if let Some(d) = &c.delimiter
                && !one_ascii_char(d)
            {
                return Err(self.err(field + ".delimiter", format!("`{}` is not one ASCII character", d.escape_debug())));
            }
        }
        Ok(())
    }

    fn check_text(&self, t: &TextOptions, prefix: &str) -> Result<()> {
        if let Some(d) = &t.delimiter
            && !(one_ascii_char(d) || matches!(d.as_str(), "whitespace" | "tab" | "\\t"))
        {
            return Err(self.err(format!("{prefix}delimiter"), format!("`{}` is not one ASCII character or \"whitespace\"", d.escape_debug())));
        }
        if let Some(c) = &t.comment
            && !one_ascii_char(c)
        {
            return Err(self.err(format!("{prefix}comment"), format!("`{}` is not one ASCII character", c.escape_debug())));
        }
        for (j, n) in t.names.iter().flatten().enumerate() {
            if n.trim().is_empty() {
                return Err(self.err(format!("{prefix}names[{j}]"), "is empty"));
            }
            if t.names.iter().flatten().take(j).any(|m| m == n) {
                return Err(self.err(format!("{prefix}names[{j}]"), format!("column name `{n}` appears twice")));
            }
        }
        Ok(())
    }
}

fn one_ascii_char(s: &str) -> bool {
    s.len() == 1 && s.is_ascii()
}
