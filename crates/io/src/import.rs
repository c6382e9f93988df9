//! The import pipeline: config → parsed tables → id mapping → topology →
//! [`Graph`].
//!
//! Order of work: node tables (ids, columns, feature files), then edge tables
//! (raw endpoint ids and edge columns), then nodes created from edges, then
//! endpoint ids mapped to local indices, then one topology build per edge
//! type, then node sets. Any failure returns an error naming the file and
//! line (or row) and column; nothing is written until the whole graph is
//! built, so a failed import never leaves a partial snapshot.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use ferrograph_graph::array::StringArray;
use ferrograph_graph::column::Column;
use ferrograph_graph::idmap::{ExternalId, NodeIds};
use ferrograph_graph::progress::Progress;
use ferrograph_graph::schema::reserved;
use ferrograph_graph::topology::{BuildOptions, build_topology};
use ferrograph_graph::{AttrSchema, EdgeStore, EdgeTypeSchema, Graph, NodeStore, NodeTypeSchema, Schema};

use crate::config::{AttributesSpec, ColumnSpec, EdgeTable, FeatureFile, Format, IdType, ImportConfig, NodeSetSpec, TextOptions, ValueType};
use crate::error::Location;
use crate::npy::{self, NpyData};
use crate::table::{Builder, Plan, Rows, Step, Target};
use crate::text::{self, Delim, Dialect, Header, HeaderType, TextFile};
use crate::{Error, Result, parquet_table};

/// Reads the config at `path` and imports the graph it describes.
pub fn import_file(path: &Path, progress: &dyn Progress) -> Result<Graph> {
    import(&ImportConfig::load(path)?, progress)
}

/// Where the rows of a table came from, to name lines in later errors.
enum Source {
    Text { file: TextFile, dialect: Dialect, header: Header },
    Binary { path: PathBuf },
}

impl Source {
    fn locate(&self, row: usize, column: &str) -> Location {
        match self {
            Source::Text { file, dialect, header } => {
                Location { file: file.path.clone(), line: text::line_of_row(file, dialect, header, row), row: None, column: Some(column.to_string()) }
            }
            Source::Binary { path } => Location { file: path.clone(), line: None, row: Some(row as u64), column: Some(column.to_string()) },
        }
    }
}

/// Raw external ids as read.
enum RawIds {
    Int(Vec<i64>),
    Str(StringArray),
}

impl RawIds {
    fn len(&self) -> usize {
        match self {
            RawIds::Int(v) => v.len(),
            RawIds::Str(s) => s.len(),
        }
    }
    fn from_builder(b: Builder) -> RawIds {
        match b {
            Builder::Int(v) => RawIds::Int(v),
            b => RawIds::Str(b.into_strings()),
        }
    }
    fn show(&self, i: usize) -> String {
        match self {
            RawIds::Int(v) => v[i].to_string(),
            RawIds::Str(s) => format!("{:?}", s.get(i)),
        }
    }
}

/// A node type being assembled.
struct NodeDraft {
    name: String,
    id_type: IdType,
    ids: Option<RawIds>,
    dense: Option<u32>,
    source: Option<Source>,
    attrs: Vec<(AttrSchema, Column)>,
}

/// An edge type being assembled.
struct EdgeDraft {
    schema: EdgeTypeSchema,
    dedup: bool,
    create_nodes: bool,
    src: RawIds,
    dst: RawIds,
    src_col: String,
    dst_col: String,
    source: Source,
    attrs: Vec<(AttrSchema, Column)>,
}

fn dialect(format: Format, t: &TextOptions, cfg: &ImportConfig, field: &str) -> Result<Dialect> {
    let (delim, quoting, header, comment) = match format {
        Format::Csv => (Delim::Byte(b','), true, true, None),
        Format::Tsv | Format::Graphlearn => (Delim::Byte(b'\t'), false, true, None),
        Format::Snap => (Delim::Whitespace, false, false, Some(b'#')),
        Format::Parquet | Format::Npy => unreachable!("binary formats have no dialect"),
    };
    let delim = match t.delimiter.as_deref() {
        None => delim,
        Some("whitespace") => Delim::Whitespace,
        Some(d) if d.len() == 1 => Delim::Byte(d.as_bytes()[0]),
        Some("\\t") | Some("tab") => Delim::Byte(b'\t'),
        Some(d) => {
            return Err(Error::config(&cfg.path, format!("{field}.delimiter"), format!("`{d}` is not one character or \"whitespace\"")));
        }
    };
    let comment = match t.comment.as_deref() {
        None => comment,
        Some(c) if c.len() == 1 => Some(c.as_bytes()[0]),
        Some(c) => {
            return Err(Error::config(&cfg.path, format!("{field}.comment"), format!("`{c}` is not one character")));
        }
    };
    if format == Format::Graphlearn && t.header == Some(false) {
        return Err(Error::config(&cfg.path, format!("{field}.header"), "graph-learn tables always have a typed header"));
    }
    Ok(Dialect { delim, quoting: t.quoting.unwrap_or(quoting), header: t.header.unwrap_or(header), comment })
}

/// Resolves column names to field indices and builds the parse plan.
struct PlanBuilder<'a> {
    file: &'a TextFile,
    header: &'a Header,
    names: Vec<String>,
    plan: Plan,
    /// Output names, in plan output order.
    outputs: Vec<String>,
}

impl<'a> PlanBuilder<'a> {
    fn new(file: &'a TextFile, header: &'a Header, names: Vec<String>, exact: bool) -> Self {
        let fields = exact.then_some(names.len());
        PlanBuilder { file, header, names, plan: Plan { steps: Vec::new(), fields }, outputs: Vec::new() }
    }

    fn index(&self, column: &str) -> Result<usize> {
        self.names.iter().position(|n| n == column).ok_or_else(|| {
            let hint = ferrograph_graph::error_closest(column, self.names.iter().map(String::as_str))
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            Error::input(
                Location { file: self.file.path.clone(), line: self.header.line, row: None, column: Some(column.into()) },
                format!("no such column (the table has: {}){hint}", self.names.join(", ")),
            )
        })
    }

    /// Checks a graph-learn header type against what the config asks for.
    fn check_type(&self, idx: usize, target: &Target) -> Result<()> {
        let Some(types) = &self.header.types else {
            return Ok(());
        };
        let ok = matches!(
            (types[idx], target),
            (HeaderType::Int, Target::Int)
                | (HeaderType::Int | HeaderType::Float, Target::Float)
                | (HeaderType::Str, Target::Str | Target::Hashed(_) | Target::Vector { .. })
                | (HeaderType::Int, Target::Str)
        );
        if ok {
            return Ok(());
        }
        Err(Error::input(
            Location { file: self.file.path.clone(), line: self.header.line, row: None, column: Some(self.names[idx].clone()) },
            format!(
                "the header declares `{}:{}` but the config reads it as {}",
                self.names[idx],
                match types[idx] {
                    HeaderType::Int => "int64",
                    HeaderType::Float => "double",
                    HeaderType::Str => "string",
                },
                target.describe()
            ),
        ))
    }

    fn single(&mut self, column: &str, target: Target, out_name: &str) -> Result<()> {
        let field = self.index(column)?;
        self.check_type(field, &target)?;
        self.plan.steps.push(Step::Single { field, name: column.to_string(), target });
        self.outputs.push(out_name.to_string());
        Ok(())
    }

    fn joined(&mut self, spec: &AttributesSpec) -> Result<()> {
        let field = self.index(&spec.column)?;
        self.check_type(field, &Target::Str)?;
        let sep = spec.delimiter.bytes().next().unwrap_or(b':');
        let targets = spec.fields.iter().map(Target::from_spec).collect();
        self.plan.steps.push(Step::Joined { field, name: spec.column.clone(), sep, targets });
        self.outputs.extend(spec.fields.iter().map(|c| c.name.clone()));
        Ok(())
    }
}

fn header_target(t: HeaderType) -> Target {
    match t {
        HeaderType::Int => Target::Int,
        HeaderType::Float => Target::Float,
        HeaderType::Str => Target::Str,
    }
}

fn id_target(t: IdType) -> Target {
    match t {
        IdType::Int => Target::Int,
        IdType::String => Target::Str,
    }
}

/// A parsed table: named outputs plus the source.
struct Parsed {
    outputs: Vec<(String, Builder)>,
    rows: usize,
    source: Source,
}

impl Parsed {
    fn take(&mut self, name: &str) -> Builder {
        let i = self.outputs.iter().position(|(n, _)| n == name).unwrap_or(0);
        self.outputs.remove(i).1
    }
}

/// What to read from a table: fixed leading outputs (ids) then attributes.
struct TableRequest<'a> {
    field: String,
    file: &'a Path,
    format: Format,
    text: &'a TextOptions,
    /// (column in file, target, output name) read first.
    keys: Vec<(String, Target, String)>,
    /// Explicit attribute columns.
    columns: &'a [ColumnSpec],
    /// Named special columns (weight, label, timestamp) → (column, target, output).
    specials: Vec<(String, Target, String)>,
    attributes: Option<&'a AttributesSpec>,
    /// graph-learn: take every other header column as an attribute.
    auto_columns: bool,
    default_names: &'a [&'a str],
}

fn read_table(cfg: &ImportConfig, req: TableRequest<'_>, progress: &dyn Progress) -> Result<Parsed> {
    let path = cfg.resolve(req.file);
    let started = Instant::now();
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let step = progress.start(&format!("read {}", path.display()), bytes);
    let parsed = if req.format == Format::Parquet {
        let mut wanted: Vec<(String, Target, String)> = req.keys.clone();
        wanted.extend(req.specials.iter().cloned());
        wanted.extend(req.columns.iter().map(|c| (c.source.clone().unwrap_or_else(|| c.name.clone()), Target::from_spec(c), c.name.clone())));
        if req.attributes.is_some() {
            return Err(Error::config(
                &cfg.path,
                format!("{}.attributes", req.field),
                "the graph-learn attribute decoder applies to text tables only",
            ));
        }
        let list: Vec<(String, Target)> = wanted.iter().map(|(c, t, _)| (c.clone(), t.clone())).collect();
        let (builders, rows) = parquet_table::read_columns(&path, &list)?;
        Parsed { outputs: wanted.into_iter().map(|w| w.2).zip(builders).collect(), rows, source: Source::Binary { path } }
    } else {
        let graphlearn = req.format == Format::Graphlearn;
        let dialect = dialect(req.format, req.text, cfg, &req.field)?;
        let file = TextFile::open(&path)?;
        let header = text::read_header(&file, &dialect, graphlearn)?;
        let names: Vec<String> = if dialect.header {
            header.names.clone()
        } else {
            req.text.names.clone().unwrap_or_else(|| req.default_names.iter().map(|s| s.to_string()).collect())
        };
        let exact = dialect.header || req.text.names.is_some();
        let mut pb = PlanBuilder::new(&file, &header, names, exact);
        let mut used: Vec<String> = Vec::new();
        for (col, target, out) in &req.keys {
            pb.single(col, target.clone(), out)?;
            used.push(col.clone());
        }
        for (col, target, out) in &req.specials {
            pb.single(col, target.clone(), out)?;
            used.push(col.clone());
        }
        for c in req.columns {
            let col = c.source.clone().unwrap_or_else(|| c.name.clone());
            pb.single(&col, Target::from_spec(c), &c.name)?;
            used.push(col);
        }
        if let Some(a) = req.attributes {
            pb.joined(a)?;
            used.push(a.column.clone());
        }
        if req.auto_columns
            && req.columns.is_empty()
            && let Some(types) = header.types.clone()
        {
            for (i, n) in header.names.iter().enumerate() {
                if !used.contains(n) {
                    pb.single(n, header_target(types[i]), n)?;
                }
            }
        }
        let (plan, outputs) = (pb.plan, pb.outputs);
        let rows: Rows = text::parse(&file, &dialect, &header, &plan)?;
        Parsed { outputs: outputs.into_iter().zip(rows.builders).collect(), rows: rows.rows, source: Source::Text { file, dialect, header } }
    };
    step.inc(bytes);
    drop(step);
    tracing::info!(file = %req.file.display(), rows = parsed.rows, secs = started.elapsed().as_secs_f64(), "read table");
    Ok(parsed)
}

fn attr_columns(outputs: Vec<(String, Builder)>) -> Vec<(AttrSchema, Column)> {
    outputs
        .into_iter()
        .map(|(name, b)| {
            let col = b.into_column();
            (AttrSchema { name, kind: col.kind() }, col)
        })
        .collect()
}

fn feature_column(cfg: &ImportConfig, f: &FeatureFile, rows: usize, owner: &str) -> Result<(AttrSchema, Column)> {
    let path = cfg.resolve(&f.file);
    let is_npz = path.extension().is_some_and(|e| e == "npz");
    let misaligned = |path: PathBuf, found: usize| {
        Error::input(
            Location { file: path, ..Default::default() },
            format!("has {found} rows but {owner} has {rows}; feature rows must align with the table rows"),
        )
    };
    let col = if is_npz {
        // The shape is checked before the arrays are read, so a huge declared
        // shape is an error rather than an allocation.
        let m = npy::NpzMatrix::open(&path)?;
        if m.rows != rows {
            return Err(misaligned(path, m.rows));
        }
        let m = m.read()?;
        Column::Sparse { dim: m.cols, indptr: m.indptr.into(), indices: m.indices.into(), values: m.values.into() }
    } else {
        let a = npy::read_npy(&path)?;
        match (a.shape.as_slice(), a.data) {
            ([_, d], _) if *d > u32::MAX as usize => {
                return Err(Error::input(Location { file: path, ..Default::default() }, format!("feature width {d} is over 2^32 - 1")));
            }
            ([_], NpyData::Int(v)) => Column::Int(v.into()),
            ([_], NpyData::Float(v)) => Column::Float(v.into()),
            ([_, d], NpyData::Float(v)) => Column::Vector { dim: *d, data: v.into() },
            ([_, d], NpyData::Int(v)) => Column::Vector { dim: *d, data: v.into_iter().map(|x| x as f32).collect::<Vec<_>>().into() },
            (s, _) => {
                return Err(Error::input(Location { file: path, ..Default::default() }, format!("shape {s:?} is not a 1-D or 2-D array")));
            }
        }
    };
    let col = match (f.ty, col) {
        (None, c) => c,
        (Some(ValueType::Int), Column::Int(a)) => Column::Int(a),
        (Some(ValueType::Int), Column::Float(a)) => {
            let v = a.as_slice();
            if let Some(r) = v.iter().position(|x| x.fract() != 0.0 || !x.is_finite()) {
                return Err(Error::input(
                    Location { file: path, row: Some(r as u64), ..Default::default() },
                    format!("{} is not a whole number", v[r]),
                ));
            }
            Column::Int(v.iter().map(|&x| x as i64).collect::<Vec<_>>().into())
        }
        (Some(ValueType::Float), Column::Int(a)) => Column::Float(a.as_slice().iter().map(|&x| x as f32).collect::<Vec<_>>().into()),
        (Some(ValueType::Float), Column::Float(a)) => Column::Float(a),
        (Some(t), c) => {
            return Err(Error::input(
                Location { file: path, ..Default::default() },
                format!("a {} array cannot be read as {t:?}", c.kind().describe()),
            ));
        }
    };
    if let Column::Vector { dim: 0, .. } = col {
        return Err(Error::input(Location { file: path, ..Default::default() }, "feature vectors of width 0"));
    }
    if col.rows() != rows {
        return Err(misaligned(path, col.rows()));
    }
    Ok((AttrSchema { name: f.name.clone(), kind: col.kind() }, col))
}

fn read_nodes(cfg: &ImportConfig, progress: &dyn Progress) -> Result<Vec<NodeDraft>> {
    let mut drafts = Vec::new();
    for (i, n) in cfg.nodes.iter().enumerate() {
        let mut d = NodeDraft { name: n.ty.clone(), id_type: n.id_type, ids: None, dense: None, source: None, attrs: Vec::new() };
        if let Some(count) = n.count {
            d.dense =
                Some(u32::try_from(count).map_err(|_| Error::config(&cfg.path, format!("nodes[{i}].count"), "at most 4294967295 nodes per type"))?);
        }
        if let Some(file) = &n.file {
            let format = n.format.or_else(|| Format::from_path(file)).unwrap_or(Format::Csv);
            let id_col = n.id.clone().unwrap_or_else(|| "id".into());
            let mut parsed = read_table(
                cfg,
                TableRequest {
                    field: format!("nodes[{i}]"),
                    file,
                    format,
                    text: &n.text,
                    keys: vec![(id_col.clone(), id_target(n.id_type), "\0id".into())],
                    columns: &n.columns,
                    specials: Vec::new(),
                    attributes: n.attributes.as_ref(),
                    auto_columns: format == Format::Graphlearn,
                    default_names: &["id"],
                },
                progress,
            )?;
            let ids = RawIds::from_builder(parsed.take("\0id"));
            if ids.len() == 0 {
                return Err(Error::input(Location { file: cfg.resolve(file), ..Default::default() }, "the node table has no rows"));
            }
            d.attrs = attr_columns(std::mem::take(&mut parsed.outputs));
            d.ids = Some(ids);
            d.source = Some(parsed.source);
        }
        let rows = d.ids.as_ref().map_or(d.dense.unwrap_or(0) as usize, RawIds::len);
        for f in &n.features {
            d.attrs.push(feature_column(cfg, f, rows, &format!("node type `{}`", n.ty))?);
        }
        drafts.push(d);
    }
    Ok(drafts)
}

fn read_edges(cfg: &ImportConfig, drafts: &[NodeDraft], progress: &dyn Progress) -> Result<Vec<EdgeDraft>> {
    let mut out = Vec::new();
    for (i, e) in cfg.edges.iter().enumerate() {
        let id_of = |ty: &str| drafts.iter().find(|d| d.name == ty).map_or(IdType::Int, |d| d.id_type);
        let (st, dt) = (id_target(id_of(&e.src_type)), id_target(id_of(&e.dst_type)));
        let format = e.format.or_else(|| e.file.as_deref().or(e.src_file.as_deref()).and_then(Format::from_path)).unwrap_or(Format::Csv);
        let schema = EdgeTypeSchema {
            relation: e.relation.clone(),
            src: e.src_type.clone(),
            dst: e.dst_type.clone(),
            reverse: e.reverse.clone().unwrap_or_else(|| format!("rev_{}", e.relation)),
            undirected: e.undirected,
            attributes: Vec::new(),
        };
        let draft = if format == Format::Npy {
            read_npy_edges(cfg, e, i, schema)?
        } else {
            let gl = format == Format::Graphlearn;
            let (src_col, dst_col) = (
                e.src.clone().unwrap_or_else(|| if gl { "src_id" } else { "src" }.into()),
                e.dst.clone().unwrap_or_else(|| if gl { "dst_id" } else { "dst" }.into()),
            );
            let mut specials = Vec::new();
            for (opt, target, name) in [
                (&e.weight, Target::Float, reserved::WEIGHT),
                (&e.label, Target::Int, reserved::LABEL),
                (&e.timestamp, Target::Int, reserved::TIMESTAMP),
            ] {
                if let Some(c) = opt {
                    specials.push((c.clone(), target, name.to_string()));
                }
            }
            let mut parsed = read_table(
                cfg,
                TableRequest {
                    field: format!("edges[{i}]"),
                    file: e.file.as_deref().unwrap_or(Path::new("")),
                    format,
                    text: &e.text,
                    keys: vec![(src_col.clone(), st, "\0src".into()), (dst_col.clone(), dt, "\0dst".into())],
                    columns: &e.columns,
                    specials,
                    attributes: e.attributes.as_ref(),
                    auto_columns: gl,
                    default_names: &["src", "dst"],
                },
                progress,
            )?;
            let src = RawIds::from_builder(parsed.take("\0src"));
            let dst = RawIds::from_builder(parsed.take("\0dst"));
            if src.len() == 0 {
                let file = cfg.resolve(e.file.as_deref().unwrap_or(Path::new("")));
                return Err(Error::input(Location { file, ..Default::default() }, "the edge table has no rows"));
            }
            // graph-learn's weight/label/timestamp columns keep their meaning.
            let mut attrs = attr_columns(std::mem::take(&mut parsed.outputs));
            for (a, c) in attrs.iter_mut() {
                if a.name == reserved::WEIGHT
                    && let Column::Int(v) = c
                {
                    *c = Column::Float(v.as_slice().iter().map(|&x| x as f32).collect::<Vec<_>>().into());
                    a.kind = c.kind();
                }
            }
            EdgeDraft { schema, dedup: e.dedup, create_nodes: e.create_nodes, src, dst, src_col, dst_col, source: parsed.source, attrs }
        };
        let mut draft = draft;
        if e.id_offset != 0 {
            for raw in [&mut draft.src, &mut draft.dst] {
                if let RawIds::Int(v) = raw {
                    v.par_iter_mut().for_each(|x| *x = x.saturating_add(e.id_offset));
                }
            }
        }
        let rows = draft.src.len();
        for f in &e.features {
            draft.attrs.push(feature_column(cfg, f, rows, &format!("edge table `{}`", e.relation))?);
        }
        out.push(draft);
    }
    Ok(out)
}

fn read_npy_edges(cfg: &ImportConfig, e: &EdgeTable, i: usize, schema: EdgeTypeSchema) -> Result<EdgeDraft> {
    let ints = |p: &Path| -> Result<(PathBuf, Vec<usize>, Vec<i64>)> {
        let path = cfg.resolve(p);
        let a = npy::read_npy(&path)?;
        match a.data {
            NpyData::Int(v) => Ok((path, a.shape, v)),
            NpyData::Float(_) => Err(Error::input(Location { file: path, ..Default::default() }, "edge endpoints must be an integer array")),
        }
    };
    let (path, src, dst) = match (&e.file, &e.src_file, &e.dst_file) {
        (Some(f), _, _) => {
            let (path, shape, v) = ints(f)?;
            match shape.as_slice() {
                [2, n] => (path, v[..*n].to_vec(), v[*n..].to_vec()),
                [_, 2] => (path, v.iter().step_by(2).copied().collect(), v.iter().skip(1).step_by(2).copied().collect()),
                s => {
                    return Err(Error::input(Location { file: path, ..Default::default() }, format!("shape {s:?}: expected [2, E] or [E, 2]")));
                }
            }
        }
        (None, Some(s), Some(d)) => {
            let (path, ss, src) = ints(s)?;
            let (dpath, ds, dst) = ints(d)?;
            if ss.len() != 1 || ds.len() != 1 || src.len() != dst.len() {
                return Err(Error::input(
                    Location { file: dpath, ..Default::default() },
                    format!("expected a 1-D array as long as {} ({} values), found shape {ds:?}", path.display(), src.len()),
                ));
            }
            (path, src, dst)
        }
        _ => {
            return Err(Error::config(&cfg.path, format!("edges[{i}].file"), "NPY edges need `file` or `src_file` and `dst_file`"));
        }
    };
    Ok(EdgeDraft {
        schema,
        dedup: e.dedup,
        create_nodes: e.create_nodes,
        src: RawIds::Int(src),
        dst: RawIds::Int(dst),
        src_col: "src".into(),
        dst_col: "dst".into(),
        source: Source::Binary { path },
        attrs: Vec::new(),
    })
}

/// Final ids of one node type plus a lookup for mapping endpoints.
struct NodeIndex {
    ids: NodeIds,
    /// Integer ids spanning a compact range: `table[id - base]` is the local
    /// index (or `u32::MAX`). One array read per lookup instead of a hash probe.
    table: Option<(i64, Vec<u32>)>,
    ints: Option<FxHashMap<i64, u32>>,
    strs: Option<FxHashMap<Box<str>, u32>>,
}

impl NodeIndex {
    fn new(ids: NodeIds) -> Self {
        let (mut table, mut ints, mut strs) = (None, None, None);
        match &ids {
            NodeIds::Dense(_) => {}
            NodeIds::Int { ids, sorted } => {
                let (v, s) = (ids.as_slice(), sorted.as_slice());
                let (min, max) = (v[s[0] as usize], v[s[s.len() - 1] as usize]);
                let span = max.checked_sub(min).and_then(|d| usize::try_from(d).ok()).filter(|&d| d < v.len().saturating_mul(4) + (1 << 20));
                match span {
                    Some(span) => {
                        let mut t = vec![u32::MAX; span + 1];
                        for (i, &x) in v.iter().enumerate() {
                            t[(x - min) as usize] = i as u32;
                        }
                        table = Some((min, t));
                    }
                    None => ints = Some(v.iter().enumerate().map(|(i, &x)| (x, i as u32)).collect()),
                }
            }
            NodeIds::Str { ids, .. } => strs = Some((0..ids.len()).map(|i| (Box::from(ids.get(i)), i as u32)).collect()),
        }
        NodeIndex { ids, table, ints, strs }
    }

    #[inline]
    fn get_int(&self, x: i64) -> Option<u32> {
        match (&self.ids, &self.table, &self.ints) {
            (NodeIds::Dense(n), _, _) => (x >= 0 && x < i64::from(*n)).then_some(x as u32),
            (_, Some((base, t)), _) => {
                x.checked_sub(*base).and_then(|d| usize::try_from(d).ok()).and_then(|d| t.get(d)).copied().filter(|&i| i != u32::MAX)
            }
            (_, _, Some(m)) => m.get(&x).copied(),
            _ => None,
        }
    }

    fn map(&self, raw: &RawIds) -> std::result::Result<Vec<u32>, usize> {
        let missing = u32::MAX;
        let out: Vec<u32> = match (raw, &self.ids, &self.table) {
            // The two common cases as tight loops (no per-id dispatch).
            (RawIds::Int(v), NodeIds::Dense(n), _) => {
                let n = i64::from(*n);
                map_chunks(v, |x| if (0..n).contains(&x) { x as u32 } else { missing })
            }
            (RawIds::Int(v), _, Some((base, t))) => map_chunks(v, |x| match usize::try_from(x.wrapping_sub(*base)) {
                Ok(d) if x >= *base && d < t.len() => t[d],
                _ => missing,
            }),
            (RawIds::Int(v), _, _) => v.par_iter().map(|&x| self.get_int(x).unwrap_or(missing)).collect(),
            (RawIds::Str(s), _, _) => (0..s.len())
                .into_par_iter()
                .map(|i| match &self.strs {
                    Some(m) => m.get(s.get(i)).copied().unwrap_or(missing),
                    None => s.get(i).parse::<i64>().ok().and_then(|x| self.get_int(x)).unwrap_or(missing),
                })
                .collect(),
        };
        // Chunked check first: rayon's per-item `position_first` is slow on 10M items.
        if !out.par_chunks(1 << 16).any(|c| c.contains(&missing)) {
            return Ok(out);
        }
        Err(out.iter().position(|&x| x == missing).unwrap_or(0))
    }
}

/// `f` over `v` in parallel chunks, into a new vector.
fn map_chunks(v: &[i64], f: impl Fn(i64) -> u32 + Sync) -> Vec<u32> {
    let mut out = ferrograph_graph::topology::big_vec(v.len());
    out.resize(v.len(), 0);
    out.par_chunks_mut(1 << 16).zip(v.par_chunks(1 << 16)).for_each(|(o, i)| {
        for (o, &x) in o.iter_mut().zip(i) {
            *o = f(x);
        }
    });
    out
}

fn duplicate_error(d: &NodeDraft, first: usize, second: usize, id: &ExternalId) -> Error {
    let at = d.source.as_ref().map(|s| s.locate(second, "id")).unwrap_or_default();
    let first_at = d.source.as_ref().and_then(|s| match s.locate(first, "id") {
        Location { line: Some(l), .. } => Some(format!("line {l}")),
        Location { row: Some(r), .. } => Some(format!("row {r}")),
        _ => None,
    });
    Error::input(at, format!("duplicate node id {id} of type `{}` (first seen at {})", d.name, first_at.unwrap_or_else(|| "an earlier row".into())))
}

/// Ids of a node type that come only from edges (sorted), with a presence
/// bitmap when the ids span a compact non-negative range.
fn ids_from_edges(lists: &[&[i64]]) -> NodeIds {
    let total: usize = lists.iter().map(|l| l.len()).sum();
    let (min, max) = lists
        .iter()
        .map(|l| {
            l.par_chunks(1 << 16)
                .map(|c| c.iter().fold((i64::MAX, i64::MIN), |(a, b), &x| (a.min(x), b.max(x))))
                .reduce(|| (i64::MAX, i64::MIN), |a, b| (a.0.min(b.0), a.1.max(b.1)))
        })
        .fold((i64::MAX, i64::MIN), |a, b| (a.0.min(b.0), a.1.max(b.1)));
    let dense_ok = min >= 0 && max < u32::MAX as i64 && (max as usize) < total.saturating_mul(4) + (1 << 20);
    let sorted: Vec<i64> = if dense_ok {
        let mut seen = vec![false; max as usize + 1];
        for l in lists {
            for &x in *l {
                seen[x as usize] = true;
            }
        }
        seen.iter().enumerate().filter(|(_, s)| **s).map(|(i, _)| i as i64).collect()
    } else {
        let mut v: Vec<i64> = lists.concat();
        v.par_sort_unstable();
        v.dedup();
        v
    };
    // Sorted and distinct, so this cannot report a duplicate.
    NodeIds::from_ints(sorted).unwrap_or(NodeIds::Dense(0))
}

/// Imports the graph described by `cfg`.
pub fn import(cfg: &ImportConfig, progress: &dyn Progress) -> Result<Graph> {
    let started = Instant::now();
    let mut nodes = read_nodes(cfg, progress)?;
    let mut edges = read_edges(cfg, &nodes, progress)?;

    // Node ids: tables first (duplicates are errors), then nodes created from edges.
    let mut index: Vec<NodeIndex> = Vec::new();
    for (t, d) in nodes.iter_mut().enumerate() {
        let creators: Vec<usize> =
            edges.iter().enumerate().filter(|(_, e)| e.create_nodes && (e.schema.src == d.name || e.schema.dst == d.name)).map(|(i, _)| i).collect();
        let base = match (d.ids.take(), d.dense) {
            (Some(RawIds::Int(v)), _) => Some(NodeIds::from_ints(v).map_err(|e| duplicate_error(d, e.first, e.second, &e.id))?),
            (Some(RawIds::Str(s)), _) => Some(NodeIds::from_strings(s).map_err(|e| duplicate_error(d, e.first, e.second, &e.id))?),
            (None, Some(n)) => Some(NodeIds::Dense(n)),
            (None, None) => None,
        };
        if base.is_none() && creators.is_empty() {
            return Err(Error::config(
                &cfg.path,
                format!("nodes[{t}]"),
                format!("node type `{}` has no nodes: give `file` or `count`, or set `create_nodes = true` on an edge table that uses it", d.name),
            ));
        }
        let ids = if creators.is_empty() {
            base.unwrap_or(NodeIds::Dense(0))
        } else {
            let existing = base.map(NodeIndex::new);
            let endpoint_lists = creators.iter().flat_map(|&i| {
                let e = &edges[i];
                let mut v = Vec::new();
                if e.schema.src == d.name {
                    v.push(&e.src);
                }
                if e.schema.dst == d.name {
                    v.push(&e.dst);
                }
                v
            });
            match d.id_type {
                IdType::Int => {
                    let lists: Vec<&[i64]> =
                        endpoint_lists.filter_map(|raw| if let RawIds::Int(v) = raw { Some(v.as_slice()) } else { None }).collect();
                    match existing {
                        None => ids_from_edges(&lists),
                        Some(ex) => {
                            let mut new_ids: Vec<i64> = Vec::new();
                            for v in &lists {
                                new_ids.par_extend(v.par_iter().copied().filter(|&x| ex.get_int(x).is_none()));
                            }
                            new_ids.par_sort_unstable();
                            new_ids.dedup();
                            let mut all: Vec<i64> = (0..ex.ids.len())
                                .map(|i| match ex.ids.external(ferrograph_graph::LocalIdx(i as u32)) {
                                    ExternalId::Int(x) => x,
                                    ExternalId::Str(_) => 0,
                                })
                                .collect();
                            all.extend(new_ids);
                            NodeIds::from_ints(all).map_err(|e| duplicate_error(d, e.first, e.second, &e.id))?
                        }
                    }
                }
                IdType::String => {
                    let mut all: Vec<String> = match &existing {
                        Some(NodeIndex { ids: NodeIds::Str { ids, .. }, .. }) => (0..ids.len()).map(|i| ids.get(i).to_string()).collect(),
                        _ => Vec::new(),
                    };
                    let known: std::collections::HashSet<String> = all.iter().cloned().collect();
                    let mut fresh: Vec<String> = Vec::new();
                    for raw in endpoint_lists {
                        if let RawIds::Str(s) = raw {
                            fresh.extend((0..s.len()).map(|i| s.get(i)).filter(|x| !known.contains(*x)).map(str::to_string));
                        }
                    }
                    fresh.par_sort_unstable();
                    fresh.dedup();
                    all.extend(fresh);
                    NodeIds::from_strings(StringArray::from_strings(&all)).map_err(|e| duplicate_error(d, e.first, e.second, &e.id))?
                }
            }
        };
        let rows_before = d.attrs.first().map(|(_, c)| c.rows());
        if let Some(r) = rows_before
            && r != ids.len()
        {
            return Err(Error::config(
                &cfg.path,
                format!("nodes[{t}]"),
                format!("node type `{}` has attributes for {r} nodes but edges created {} more; list every node in its table", d.name, ids.len() - r),
            ));
        }
        index.push(NodeIndex::new(ids));
        tracing::debug!(node_type = %d.name, secs = started.elapsed().as_secs_f64(), "node ids");
    }

    // Endpoints → local indices, then one topology per edge type.
    let type_of = |name: &str| nodes.iter().position(|d| d.name == name).unwrap_or(0);
    let mut edge_stores = Vec::new();
    let mut edge_schemas = Vec::new();
    for e in edges.drain(..) {
        let (si, di) = (type_of(&e.schema.src), type_of(&e.schema.dst));
        let unknown = |i: usize, raw: &RawIds, col: &str, ty: &str| {
            Error::input(
                e.source.locate(i, col),
                format!(
                    "node id {} is not a `{ty}` node{}",
                    raw.show(i),
                    if e.create_nodes { "" } else { " (set `create_nodes = true` to add nodes from edges)" }
                ),
            )
        };
        let src = index[si].map(&e.src).map_err(|i| unknown(i, &e.src, &e.src_col, &e.schema.src))?;
        let dst = index[di].map(&e.dst).map_err(|i| unknown(i, &e.dst, &e.dst_col, &e.schema.dst))?;
        drop(e.src);
        drop(e.dst);
        tracing::debug!(secs = started.elapsed().as_secs_f64(), "endpoints mapped");
        let t = Instant::now();
        let step = progress.start(&format!("build {}", e.schema.display_name()), src.len() as u64);
        let opts = BuildOptions { undirected: e.schema.undirected, dedup: e.dedup, edge_ids: !e.attrs.is_empty() };
        let built = build_topology(index[si].ids.len(), index[di].ids.len(), src, dst, opts)?;
        step.inc(built.out.len() as u64);
        drop(step);
        tracing::info!(edge_type = %e.schema.display_name(), stored = built.out.len(), secs = t.elapsed().as_secs_f64(), "built topology");
        let mut schema = e.schema;
        let mut columns = Vec::new();
        for (a, c) in e.attrs {
            columns.push(match &built.input_edge {
                Some(order) => c.permute(order),
                None => c,
            });
            schema.attributes.push(a);
        }
        edge_stores.push(EdgeStore { out: built.out, inn: built.inn, columns, self_loops: built.self_loops });
        edge_schemas.push(schema);
    }

    // Node sets.
    let mut sets: Vec<Vec<(String, Vec<u32>)>> = vec![Vec::new(); nodes.len()];
    for (i, s) in cfg.node_sets.iter().enumerate() {
        let t = type_of(&s.ty);
        let members = read_node_set(cfg, i, s, &nodes[t], &index[t], progress)?;
        sets[t].push((s.name.clone(), members));
    }

    let mut node_schemas = Vec::new();
    let mut node_stores = Vec::new();
    for ((d, idx), sets) in nodes.into_iter().zip(index).zip(sets) {
        let (attrs, columns): (Vec<_>, Vec<_>) = d.attrs.into_iter().unzip();
        node_schemas.push(NodeTypeSchema {
            name: d.name,
            id_kind: idx.ids.kind(),
            attributes: attrs,
            sets: sets.iter().map(|s| s.0.clone()).collect(),
        });
        node_stores.push(NodeStore { ids: idx.ids, columns, sets: sets.into_iter().map(|s| s.1.into()).collect() });
    }
    let schema = Schema { node_types: node_schemas, edge_types: edge_schemas };
    let g = Graph::from_parts(schema, node_stores, edge_stores)?;
    tracing::info!(secs = started.elapsed().as_secs_f64(), "import done");
    Ok(g)
}

fn read_node_set(cfg: &ImportConfig, i: usize, s: &NodeSetSpec, d: &NodeDraft, idx: &NodeIndex, progress: &dyn Progress) -> Result<Vec<u32>> {
    let mut members: Vec<u32> = if let (Some(column), Some(value)) = (&s.column, &s.value) {
        let pos = d.attrs.iter().position(|(a, _)| &a.name == column).ok_or_else(|| {
            let hint = ferrograph_graph::error_closest(column, d.attrs.iter().map(|(a, _)| a.name.as_str()))
                .map(|x| format!("; did you mean `{x}`?"))
                .unwrap_or_default();
            Error::config(&cfg.path, format!("node_sets[{i}].column"), format!("node type `{}` has no attribute `{column}`{hint}", d.name))
        })?;
        match &d.attrs[pos].1 {
            Column::Categorical { codes, dict } => match (0..dict.len()).find(|&k| dict.get(k) == value) {
                Some(k) => codes.as_slice().iter().enumerate().filter(|(_, c)| **c as usize == k).map(|(r, _)| r as u32).collect(),
                None => Vec::new(),
            },
            Column::Int(v) => {
                let want: i64 =
                    value.parse().map_err(|_| Error::config(&cfg.path, format!("node_sets[{i}].value"), format!("`{value}` is not an integer")))?;
                v.as_slice().iter().enumerate().filter(|(_, x)| **x == want).map(|(r, _)| r as u32).collect()
            }
            _ => {
                return Err(Error::config(&cfg.path, format!("node_sets[{i}].column"), "sets are taken from string or int attributes"));
            }
        }
    } else {
        let file = s.file.as_deref().unwrap_or(Path::new(""));
        let format = s.format.or_else(|| Format::from_path(file)).unwrap_or(Format::Csv);
        let (raw, source) = if format == Format::Npy {
            let path = cfg.resolve(file);
            match npy::read_npy(&path)? {
                npy::NpyArray { data: NpyData::Int(v), shape } if shape.len() == 1 => (RawIds::Int(v), Source::Binary { path }),
                _ => {
                    return Err(Error::input(Location { file: path, ..Default::default() }, "a node set must be a 1-D integer array"));
                }
            }
        } else {
            let id_col = s.id.clone().unwrap_or_else(|| "id".into());
            let mut p = read_table(
                cfg,
                TableRequest {
                    field: format!("node_sets[{i}]"),
                    file,
                    format,
                    text: &s.text,
                    keys: vec![(id_col, id_target(d.id_type), "\0id".into())],
                    columns: &[],
                    specials: Vec::new(),
                    attributes: None,
                    auto_columns: false,
                    default_names: &["id"],
                },
                progress,
            )?;
            (RawIds::from_builder(p.take("\0id")), p.source)
        };
        idx.map(&raw).map_err(|r| Error::input(source.locate(r, "id"), format!("node id {} is not a `{}` node", raw.show(r), d.name)))?
    };
    members.par_sort_unstable();
    members.dedup();
    Ok(members)
}
