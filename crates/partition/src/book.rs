//! The partition book on disk: `book.json` (what was partitioned, how, and
//! the quality figures) and `assignment.u16` (the partition of every node
//! in the combined id space, little-endian). The assignment is written
//! first and the book names its checksum, so a book never describes an
//! assignment it was not written with; both are written atomically.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::methods::{MAX_PARTS, Method};
use crate::quality::Quality;
use crate::{Error, Result};

/// The `format` field of every book.
pub const FORMAT: &str = "ferrograph-partition-book";
/// The version this build writes and reads.
pub const VERSION: u32 = 1;
/// File names inside a book directory.
pub const BOOK_FILE: &str = "book.json";
/// See the module docs.
pub const ASSIGNMENT_FILE: &str = "assignment.u16";

/// One node type's place in the combined id space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BookType {
    /// Type name.
    pub name: String,
    /// Nodes of the type.
    pub count: u64,
    /// Combined id of its node 0.
    pub base: u64,
}

/// A partition book (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Book {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// The partitioner.
    pub method: Method,
    /// Partitions.
    pub parts: usize,
    /// Seed of the partitioner.
    pub seed: u64,
    /// xxh3-64 of the partitioned snapshot's `manifest.json` (16 hex
    /// digits): servers and clients refuse a book of another snapshot.
    pub snapshot_xxh3: String,
    /// Node types in combined-id order.
    pub node_types: Vec<BookType>,
    /// xxh3-64 of `assignment.u16`.
    pub assignment_xxh3: String,
    /// Quality of the assignment.
    pub quality: Quality,
    /// Seconds the partitioner took (adjacency build excluded).
    pub seconds: f64,
    /// The partition of each node (combined ids); not in the JSON.
    #[serde(skip)]
    pub assignment: Vec<u16>,
}

impl Book {
    /// The partition that owns node `local` of node type `ty` (an index into
    /// [`Book::node_types`]), or `None` when either is out of range.
    pub fn owner(&self, ty: usize, local: u64) -> Option<u16> {
        let t = self.node_types.get(ty)?;
        (local < t.count).then(|| self.assignment[(t.base + local) as usize])
    }

    /// [`Book::owner`] of every node of `nodes` (of type `ty`), appended to
    /// `out`; `Err(v)` names the first node outside the type. The
    /// assignment is read a few nodes ahead (one cache miss a node
    /// otherwise, on a graph whose assignment is larger than the caches),
    /// and not at all for a one-partition book.
    pub fn owners(&self, ty: usize, nodes: &[u32], out: &mut Vec<u16>) -> std::result::Result<(), u32> {
        use ferrograph_graph::array::{AHEAD, touch};
        let Some(t) = self.node_types.get(ty) else {
            return Err(nodes.first().copied().unwrap_or(0));
        };
        if let Some(&bad) = nodes.iter().find(|&&v| u64::from(v) >= t.count) {
            return Err(bad);
        }
        if self.parts == 1 {
            out.resize(out.len() + nodes.len(), 0);
            return Ok(());
        }
        let part = &self.assignment[t.base as usize..(t.base + t.count) as usize];
        out.reserve(nodes.len());
        for (i, &v) in nodes.iter().enumerate() {
            if let Some(&ahead) = nodes.get(i + 2 * AHEAD) {
                touch(part, ahead as usize);
            }
            out.push(part[v as usize]);
        }
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
}

/// xxh3-64 of a snapshot's manifest, as the book records it.
pub fn snapshot_fingerprint(snapshot: &Path) -> Result<String> {
    let path = snapshot.join("manifest.json");
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    Ok(hex(&bytes))
}

/// Writes `book` (with its assignment) into `dir`, creating it.
pub fn write_book(dir: &Path, book: &Book) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let bytes: Vec<u8> = book.assignment.iter().flat_map(|p| p.to_le_bytes()).collect();
    let mut b = book.clone();
    b.assignment_xxh3 = hex(&bytes);
    ferrograph_graph::atomic::write_file(&dir.join(ASSIGNMENT_FILE), &bytes)?;
    let json = serde_json::to_vec_pretty(&b).map_err(|e| Error::Invalid(format!("cannot encode the book: {e}")))?;
    ferrograph_graph::atomic::write_file(&dir.join(BOOK_FILE), &json)?;
    Ok(())
}

/// Reads the book in `dir`, checking every field against the assignment.
pub fn read_book(dir: &Path) -> Result<Book> {
    let path = dir.join(BOOK_FILE);
    let bad = |message: String| Error::Book { path: path.clone(), message };
    let text = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let mut book: Book = serde_json::from_slice(&text).map_err(|e| bad(format!("line {} column {}: {e}", e.line(), e.column())))?;
    if book.format != FORMAT {
        return Err(bad(format!("format is `{}`, not `{FORMAT}`", book.format)));
    }
    if book.version != VERSION {
        return Err(bad(format!("version {} is not the {VERSION} this build reads", book.version)));
    }
    if book.parts == 0 || book.parts > MAX_PARTS {
        return Err(bad(format!("parts is {}, not between 1 and {MAX_PARTS}", book.parts)));
    }
    let mut next = 0u64;
    for t in &book.node_types {
        if t.base != next {
            return Err(bad(format!("node type `{}` starts at {}, not {next}", t.name, t.base)));
        }
        next = t.base.checked_add(t.count).ok_or_else(|| bad(format!("node type `{}` overflows the id space", t.name)))?;
    }
    let apath = dir.join(ASSIGNMENT_FILE);
    let abad = |message: String| Error::Book { path: apath.clone(), message };
    let bytes = std::fs::read(&apath).map_err(|e| Error::io(&apath, e))?;
    if bytes.len() as u64 != next.saturating_mul(2) {
        return Err(abad(format!("{} bytes, not the {} of {next} nodes", bytes.len(), next.saturating_mul(2))));
    }
    if hex(&bytes) != book.assignment_xxh3 {
        return Err(abad(format!("checksum {} does not match the book's {}", hex(&bytes), book.assignment_xxh3)));
    }
    book.assignment = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    if let Some((v, &p)) = book.assignment.iter().enumerate().find(|&(_, &p)| p as usize >= book.parts) {
        return Err(abad(format!("node {v} is in partition {p}, but there are {} partitions", book.parts)));
    }
    let mut sizes = vec![0u64; book.parts];
    for &p in &book.assignment {
        sizes[p as usize] += 1;
    }
    if sizes != book.quality.sizes {
        return Err(bad(format!("quality.sizes {:?} disagree with the assignment's {sizes:?}", book.quality.sizes)));
    }
    Ok(book)
}
