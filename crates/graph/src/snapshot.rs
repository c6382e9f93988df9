//! The on-disk snapshot: an immutable directory of little-endian arrays and a
//! JSON manifest, written atomically and reopened by memory mapping.
//!
//! # Layout
//! ```text
//! DIR/manifest.json            format, version, schema, counts, statistics,
//!                              and for every file: its length and xxh3-64
//! DIR/nodes/<t>/ids.i64        external ids (int ids), ids.off.u64 + ids.bytes (string ids)
//! DIR/nodes/<t>/ids.sorted.u32 local indices ordered by id (binary-search lookup)
//! DIR/nodes/<t>/a<i>.*         attribute column i (parts depend on its kind)
//! DIR/nodes/<t>/set<i>.u32     node set i
//! DIR/edges/<e>/out.off.u64, out.dst.u32      out-CSR
//! DIR/edges/<e>/in.off.u64, in.src.u32, in.edge.u32   in-CSR (+ in→out edge map)
//! DIR/edges/<e>/a<i>.*         edge attribute column i, by out-position
//! ```
//! Types and files are numbered, never named after user strings, so any type
//! name is safe on any file system.
//!
//! # Guarantees
//! - Writing goes to a hidden temporary directory beside the destination,
//!   every file is fsynced, then the directory is renamed into place: a crash
//!   leaves either no snapshot or a whole one.
//! - [`open`] reads only the manifest, checks every file's length, and maps
//!   the files; it touches no array page beyond the last offset of each CSR,
//!   so open time and resident memory do not grow with the graph.
//! - [`verify`] recomputes every checksum and checks every structural invariant.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytemuck::Pod;
use memmap2::Mmap;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::array::{Array, StringArray};
use crate::column::{Column, ColumnStats};
use crate::graph::{EdgeStore, Graph, NodeStore};
use crate::idmap::NodeIds;
use crate::ids::EdgeTypeId;
use crate::progress::{NoProgress, Progress};
use crate::schema::{AttrKind, AttrSchema, IdKind, Schema};
use crate::stats::DegreeStats;
use crate::topology::Csr;
use crate::{Error, Result};

/// Magic string in every manifest.
pub const FORMAT: &str = "ferrograph-snapshot";
/// The manifest format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const MANIFEST: &str = "manifest.json";

/// One file of the snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the snapshot directory.
    pub path: String,
    /// Length in bytes.
    pub len: u64,
    /// xxh3-64 of the content, as 16 hex digits.
    pub xxh3: String,
}

/// Per node type counts and statistics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeSummary {
    /// Number of nodes.
    pub count: u64,
    /// Statistics of each attribute column, in schema order.
    pub column_stats: Vec<ColumnStats>,
    /// Size of each node set, in schema order.
    pub set_sizes: Vec<u64>,
}

/// Per edge type counts and statistics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EdgeSummary {
    /// Logical edges (undirected pairs counted once).
    pub count: u64,
    /// Entries in the out-topology (both directions for undirected types).
    pub stored: u64,
    /// Self-loops among the stored entries.
    pub self_loops: u64,
    /// Out-degree distribution over source nodes.
    pub out_degree: DegreeStats,
    /// In-degree distribution over destination nodes.
    pub in_degree: DegreeStats,
    /// Statistics of each attribute column, in schema order.
    pub column_stats: Vec<ColumnStats>,
}

/// The manifest of a snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Format version, see [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The program that wrote it.
    pub created_by: String,
    /// The schema.
    pub schema: Schema,
    /// One entry per node type.
    pub node_types: Vec<NodeSummary>,
    /// One entry per edge type.
    pub edge_types: Vec<EdgeSummary>,
    /// Every data file.
    pub files: Vec<FileEntry>,
}

impl Manifest {
    /// Total bytes of all data files.
    pub fn data_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.len).sum()
    }
}

/// An opened snapshot: the graph (memory-mapped) and its manifest.
#[derive(Debug)]
pub struct Snapshot {
    /// The graph, whose arrays map the snapshot's files.
    pub graph: Graph,
    /// The manifest read at open.
    pub manifest: Manifest,
    /// Where it was opened from.
    pub dir: PathBuf,
}

fn hex(h: u64) -> String {
    format!("{h:016x}")
}

// ---------------------------------------------------------------- writing

struct Writer<'p> {
    root: PathBuf,
    files: Vec<FileEntry>,
    progress: &'p dyn Progress,
}

impl Writer<'_> {
    fn put_bytes(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
        let path = self.root.join(rel);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let step = self.progress.start(&format!("write {rel}"), bytes.len() as u64);
        let mut f = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        for chunk in bytes.chunks(64 << 20) {
            hasher.update(chunk);
            f.write_all(chunk).map_err(|e| Error::io(&path, e))?;
            step.inc(chunk.len() as u64);
        }
        f.sync_all().map_err(|e| Error::io(&path, e))?;
        self.files.push(FileEntry { path: rel.to_string(), len: bytes.len() as u64, xxh3: hex(hasher.digest()) });
        Ok(())
    }

    fn put<T: Pod>(&mut self, rel: &str, a: &Array<T>) -> Result<()> {
        self.put_bytes(rel, a.as_bytes())
    }

    fn put_strings(&mut self, rel: &str, s: &StringArray) -> Result<()> {
        self.put(&format!("{rel}.off.u64"), &s.offsets)?;
        self.put(&format!("{rel}.bytes"), &s.bytes)
    }

    fn put_column(&mut self, rel: &str, c: &Column) -> Result<()> {
        match c {
            Column::Int(a) => self.put(&format!("{rel}.i64"), a),
            Column::Float(a) | Column::Vector { data: a, .. } => self.put(&format!("{rel}.f32"), a),
            Column::Categorical { codes, dict } => {
                self.put(&format!("{rel}.codes.u32"), codes)?;
                self.put_strings(&format!("{rel}.dict"), dict)
            }
            Column::Hashed { codes, .. } => self.put(&format!("{rel}.codes.u32"), codes),
            Column::Sparse { indptr, indices, values, .. } => {
                self.put(&format!("{rel}.indptr.u64"), indptr)?;
                self.put(&format!("{rel}.indices.u32"), indices)?;
                self.put(&format!("{rel}.values.f32"), values)
            }
        }
    }

    fn put_csr(&mut self, rel: &str, c: &Csr, target: &str) -> Result<()> {
        self.put(&format!("{rel}.off.u64"), &c.offsets)?;
        self.put(&format!("{rel}.{target}.u32"), &c.targets)?;
        if let Some(e) = &c.edge {
            self.put(&format!("{rel}.edge.u32"), e)?;
        }
        Ok(())
    }
}

/// Removes the temporary directory unless the write completed.
struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Options for [`write_with`].
#[derive(Clone, Copy, Default)]
pub struct WriteOptions<'p> {
    /// Replace an existing snapshot at the destination.
    pub force: bool,
    /// Progress display.
    pub progress: Option<&'p dyn Progress>,
}

/// Writes `graph` as a snapshot at `dir`, which must not exist.
pub fn write(graph: &Graph, dir: &Path) -> Result<Manifest> {
    write_with(graph, dir, WriteOptions::default())
}

/// Writes `graph` as a snapshot at `dir` (see the module docs for the guarantees).
pub fn write_with(graph: &Graph, dir: &Path, opts: WriteOptions<'_>) -> Result<Manifest> {
    if dir.exists() && !opts.force {
        return Err(Error::Exists { path: dir.to_path_buf() });
    }
    let name = dir.file_name().ok_or_else(|| Error::Invalid(format!("{}: not a directory name", dir.display())))?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let tmp = TempDir { path: parent.join(format!(".{}.tmp-{}-{stamp}", name.to_string_lossy(), std::process::id())), keep: false };
    fs::create_dir(&tmp.path).map_err(|e| Error::io(&tmp.path, e))?;
    let mut w = Writer { root: tmp.path.clone(), files: Vec::new(), progress: opts.progress.unwrap_or(&NoProgress) };
    let schema = graph.schema();
    let mut node_sums = Vec::new();
    for (t, n) in graph.node_stores().iter().enumerate() {
        let base = format!("nodes/{t}");
        match &n.ids {
            NodeIds::Dense(_) => {}
            NodeIds::Int { ids, sorted } => {
                w.put(&format!("{base}/ids.i64"), ids)?;
                w.put(&format!("{base}/ids.sorted.u32"), sorted)?;
            }
            NodeIds::Str { ids, sorted } => {
                w.put_strings(&format!("{base}/ids"), ids)?;
                w.put(&format!("{base}/ids.sorted.u32"), sorted)?;
            }
        }
        for (i, c) in n.columns.iter().enumerate() {
            w.put_column(&format!("{base}/a{i}"), c)?;
        }
        for (i, s) in n.sets.iter().enumerate() {
            w.put(&format!("{base}/set{i}.u32"), s)?;
        }
        node_sums.push(NodeSummary {
            count: n.ids.len() as u64,
            column_stats: n.columns.par_iter().map(Column::stats).collect(),
            set_sizes: n.sets.iter().map(|s| s.len() as u64).collect(),
        });
    }
    let mut edge_sums = Vec::new();
    for (e, (es, s)) in schema.edge_types.iter().zip(graph.edge_stores()).enumerate() {
        let base = format!("edges/{e}");
        w.put_csr(&format!("{base}/out"), &s.out, "dst")?;
        if let Some(inn) = &s.inn {
            w.put_csr(&format!("{base}/in"), inn, "src")?;
        }
        for (i, c) in s.columns.iter().enumerate() {
            w.put_column(&format!("{base}/a{i}"), c)?;
        }
        let inn = graph.topology(EdgeTypeId(e as u16), crate::Direction::In);
        edge_sums.push(EdgeSummary {
            count: s.logical_edges(es.undirected),
            stored: s.out.len() as u64,
            self_loops: s.self_loops,
            out_degree: DegreeStats::from_offsets(s.out.offsets.as_slice()),
            in_degree: DegreeStats::from_offsets(inn.offsets.as_slice()),
            column_stats: s.columns.par_iter().map(Column::stats).collect(),
        });
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        created_by: format!("ferrograph {}", env!("CARGO_PKG_VERSION")),
        schema: schema.clone(),
        node_types: node_sums,
        edge_types: edge_sums,
        files: w.files,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Invalid(e.to_string()))?;
    let mpath = tmp.path.join(MANIFEST);
    let mut f = File::create(&mpath).map_err(|e| Error::io(&mpath, e))?;
    f.write_all(&json).and_then(|_| f.sync_all()).map_err(|e| Error::io(&mpath, e))?;
    File::open(&tmp.path).and_then(|d| d.sync_all()).map_err(|e| Error::io(&tmp.path, e))?;
    // Move into place; an existing snapshot (with --force) is moved aside first
    // and removed only once the new one is in place.
    let mut tmp = tmp;
    if dir.exists() {
        let old = parent.join(format!(".{}.old-{}-{stamp}", name.to_string_lossy(), std::process::id()));
        fs::rename(dir, &old).map_err(|e| Error::io(dir, e))?;
        fs::rename(&tmp.path, dir).map_err(|e| Error::io(dir, e))?;
        let _ = fs::remove_dir_all(&old);
    } else {
        fs::rename(&tmp.path, dir).map_err(|e| Error::io(dir, e))?;
    }
    tmp.keep = true;
    File::open(&parent).and_then(|d| d.sync_all()).map_err(|e| Error::io(&parent, e))?;
    Ok(manifest)
}

// ---------------------------------------------------------------- reading

/// Reads and checks the manifest of the snapshot at `dir`.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    if !dir.is_dir() {
        return Err(Error::io(dir, std::io::Error::new(std::io::ErrorKind::NotFound, "no snapshot directory here")));
    }
    let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::corrupt(&path, format!("not valid JSON (line {}, column {}): {e}", e.line(), e.column())))?;
    if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(Error::corrupt(&path, format!("not a ferrograph snapshot manifest (no \"format\": \"{FORMAT}\")")));
    }
    let version = v.get("format_version").and_then(|x| x.as_u64()).unwrap_or(0) as u32;
    if version != FORMAT_VERSION {
        return Err(Error::Version { path, found: version, supported: FORMAT_VERSION });
    }
    serde_json::from_value(v).map_err(|e| Error::corrupt(&path, format!("manifest does not match format {FORMAT_VERSION}: {e}")))
}

struct Reader {
    dir: PathBuf,
    files: std::collections::HashMap<String, (u64, Option<Arc<Mmap>>)>,
}

impl Reader {
    fn new(dir: &Path, m: &Manifest) -> Result<Self> {
        let mut files = std::collections::HashMap::new();
        for f in &m.files {
            let path = dir.join(&f.path);
            let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
            let len = file.metadata().map_err(|e| Error::io(&path, e))?.len();
            if len != f.len {
                let what = if len < f.len { "truncated" } else { "longer than expected" };
                return Err(Error::corrupt(&path, format!("{what}: {len} bytes, the manifest says {}", f.len)));
            }
            let map = if len == 0 {
                None
            } else {
                // SAFETY: snapshot files are immutable once written (they are only
                // ever replaced as a whole directory); mapping them read-only is
                // the documented contract of a snapshot.
                Some(Arc::new(unsafe { Mmap::map(&file) }.map_err(|e| Error::io(&path, e))?))
            };
            files.insert(f.path.clone(), (len, map));
        }
        Ok(Reader { dir: dir.to_path_buf(), files })
    }

    fn get<T: Pod>(&self, rel: &str, expect: Option<usize>) -> Result<Array<T>> {
        let path = self.dir.join(rel);
        let (len, map) = self.files.get(rel).ok_or_else(|| Error::corrupt(&path, "listed nowhere in the manifest"))?;
        let size = std::mem::size_of::<T>() as u64;
        if len % size != 0 {
            return Err(Error::corrupt(&path, format!("{len} bytes is not a whole number of {size}-byte values")));
        }
        let n = (len / size) as usize;
        if let Some(e) = expect
            && n != e
        {
            return Err(Error::corrupt(&path, format!("holds {n} values, expected {e}")));
        }
        match map {
            None => Ok(Array::Owned(Vec::new())),
            Some(m) => Array::mapped(m.clone(), 0, n).ok_or_else(|| Error::corrupt(&path, "misaligned mapping")),
        }
    }

    fn strings(&self, rel: &str, count: Option<usize>) -> Result<StringArray> {
        let offsets: Array<u64> = self.get(&format!("{rel}.off.u64"), count.map(|c| c + 1))?;
        let bytes: Array<u8> = self.get(&format!("{rel}.bytes"), None)?;
        let o = offsets.as_slice();
        if o.first().copied().unwrap_or(1) != 0 || o.last().copied() != Some(bytes.len() as u64) {
            return Err(Error::corrupt(self.dir.join(format!("{rel}.off.u64")), "offsets do not span the string bytes"));
        }
        Ok(StringArray { offsets, bytes })
    }

    fn column(&self, rel: &str, a: &AttrSchema, rows: usize) -> Result<Column> {
        Ok(match &a.kind {
            AttrKind::Int => Column::Int(self.get(&format!("{rel}.i64"), Some(rows))?),
            AttrKind::Float => Column::Float(self.get(&format!("{rel}.f32"), Some(rows))?),
            AttrKind::String { buckets: None } => {
                Column::Categorical { codes: self.get(&format!("{rel}.codes.u32"), Some(rows))?, dict: self.strings(&format!("{rel}.dict"), None)? }
            }
            AttrKind::String { buckets: Some(b) } => Column::Hashed { buckets: *b, codes: self.get(&format!("{rel}.codes.u32"), Some(rows))? },
            AttrKind::FloatVector { dim } => {
                let dim = *dim as usize;
                Column::Vector { dim, data: self.get(&format!("{rel}.f32"), Some(rows * dim))? }
            }
            AttrKind::Sparse { dim } => {
                let indptr: Array<u64> = self.get(&format!("{rel}.indptr.u64"), Some(rows + 1))?;
                let indices: Array<u32> = self.get(&format!("{rel}.indices.u32"), None)?;
                let values: Array<f32> = self.get(&format!("{rel}.values.f32"), Some(indices.len()))?;
                if indptr.as_slice().last().copied() != Some(indices.len() as u64) {
                    return Err(Error::corrupt(self.dir.join(format!("{rel}.indptr.u64")), "offsets do not span the entries"));
                }
                Column::Sparse { dim: *dim as usize, indptr, indices, values }
            }
        })
    }

    fn csr(&self, rel: &str, target: &str, rows: usize, entries: usize, edge: bool) -> Result<Csr> {
        let offsets: Array<u64> = self.get(&format!("{rel}.off.u64"), Some(rows + 1))?;
        let targets: Array<u32> = self.get(&format!("{rel}.{target}.u32"), Some(entries))?;
        let o = offsets.as_slice();
        if o.first().copied() != Some(0) || o.last().copied() != Some(entries as u64) {
            return Err(Error::corrupt(self.dir.join(format!("{rel}.off.u64")), "offsets do not span the neighbour array"));
        }
        let edge = if edge { Some(self.get(&format!("{rel}.edge.u32"), Some(entries))?) } else { None };
        Ok(Csr { offsets, targets, edge })
    }
}

/// Opens the snapshot at `dir` by memory mapping (see the module docs).
pub fn open(dir: &Path) -> Result<Snapshot> {
    let manifest = read_manifest(dir)?;
    let mpath = dir.join(MANIFEST);
    let schema = &manifest.schema;
    if manifest.node_types.len() != schema.node_types.len() || manifest.edge_types.len() != schema.edge_types.len() {
        return Err(Error::corrupt(&mpath, "type summaries do not match the schema"));
    }
    let r = Reader::new(dir, &manifest)?;
    let mut nodes = Vec::new();
    for (t, (ts, sum)) in schema.node_types.iter().zip(&manifest.node_types).enumerate() {
        let n = sum.count as usize;
        let base = format!("nodes/{t}");
        let ids = match ts.id_kind {
            IdKind::Dense => NodeIds::Dense(u32::try_from(n).map_err(|_| Error::corrupt(&mpath, "node count too large"))?),
            IdKind::Int => {
                NodeIds::Int { ids: r.get(&format!("{base}/ids.i64"), Some(n))?, sorted: r.get(&format!("{base}/ids.sorted.u32"), Some(n))? }
            }
            IdKind::String => {
                NodeIds::Str { ids: r.strings(&format!("{base}/ids"), Some(n))?, sorted: r.get(&format!("{base}/ids.sorted.u32"), Some(n))? }
            }
        };
        let columns = ts.attributes.iter().enumerate().map(|(i, a)| r.column(&format!("{base}/a{i}"), a, n)).collect::<Result<_>>()?;
        let sets =
            (0..ts.sets.len()).map(|i| r.get(&format!("{base}/set{i}.u32"), sum.set_sizes.get(i).map(|&s| s as usize))).collect::<Result<_>>()?;
        nodes.push(NodeStore { ids, columns, sets });
    }
    let count_of = |name: &str| -> Result<usize> { Ok(manifest.node_types[schema.node_type(name)?.0 as usize].count as usize) };
    let mut edges = Vec::new();
    for (e, (es, sum)) in schema.edge_types.iter().zip(&manifest.edge_types).enumerate() {
        let base = format!("edges/{e}");
        let stored = sum.stored as usize;
        let out = r.csr(&format!("{base}/out"), "dst", count_of(&es.src)?, stored, false)?;
        let inn =
            if es.undirected { None } else { Some(r.csr(&format!("{base}/in"), "src", count_of(&es.dst)?, stored, !es.attributes.is_empty())?) };
        let columns = es.attributes.iter().enumerate().map(|(i, a)| r.column(&format!("{base}/a{i}"), a, stored)).collect::<Result<_>>()?;
        edges.push(EdgeStore { out, inn, columns, self_loops: sum.self_loops });
    }
    let mut graph = Graph::from_parts(schema.clone(), nodes, edges).map_err(|e| Error::corrupt(&mpath, e.to_string()))?;
    graph.set_origin(dir.to_path_buf());
    Ok(Snapshot { graph, manifest, dir: dir.to_path_buf() })
}

/// What [`verify`] checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Files whose checksum was recomputed.
    pub files: usize,
    /// Bytes read.
    pub bytes: u64,
}

/// Recomputes every checksum and checks every invariant of the snapshot at `dir`.
pub fn verify(dir: &Path, progress: &dyn Progress) -> Result<VerifyReport> {
    let manifest = read_manifest(dir)?;
    let total = manifest.data_bytes();
    let step = progress.start("verify checksums", total);
    manifest.files.par_iter().try_for_each(|f| -> Result<()> {
        let path = dir.join(&f.path);
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let len = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        if len != f.len {
            return Err(Error::corrupt(&path, format!("{len} bytes, the manifest says {}", f.len)));
        }
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        if len > 0 {
            // SAFETY: read-only mapping of a snapshot file, see `Reader::new`.
            let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(&path, e))?;
            for chunk in map.chunks(16 << 20) {
                hasher.update(chunk);
                step.inc(chunk.len() as u64);
            }
        }
        let got = hex(hasher.digest());
        if got != f.xxh3 {
            return Err(Error::corrupt(&path, format!("checksum mismatch: xxh3 {got}, the manifest says {}", f.xxh3)));
        }
        Ok(())
    })?;
    drop(step);
    let snap = open(dir)?;
    snap.graph.check_deep().map_err(|m| Error::corrupt(dir, m))?;
    Ok(VerifyReport { files: manifest.files.len(), bytes: total })
}
