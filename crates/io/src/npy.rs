//! NumPy `.npy` arrays (read and write) and scipy `.npz` sparse matrices
//! (CSR, CSC and COO; read).
//!
//! The format is small enough to read directly (magic, version, a Python
//! dict literal header, raw data); reading it ourselves lets a
//! 10-million-element array load with one parallel pass and no per-element
//! decoding calls. `.npz` is a zip of `.npy` files, read with the `zip` crate.
//!
//! Every input is treated as hostile: the header is parsed as bytes by a
//! small parser for the Python literals numpy writes (so no text is ever
//! sliced at a byte offset), every size is checked against the bytes
//! actually present before anything is allocated from it, and every error
//! names the file (for `.npz`, the archive member).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::Location;
use crate::{Error, Result};

/// Element data of an array, widened to the types the graph stores.
#[derive(Clone, Debug, PartialEq)]
pub enum NpyData {
    /// Any integer or bool dtype.
    Int(Vec<i64>),
    /// `float32` or `float64` (narrowed).
    Float(Vec<f32>),
}

/// An array read from `.npy`.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    /// Shape (C order).
    pub shape: Vec<usize>,
    /// Elements.
    pub data: NpyData,
}

impl NpyArray {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            NpyData::Int(v) => v.len(),
            NpyData::Float(v) => v.len(),
        }
    }
    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn bad(path: &Path, msg: impl Into<String>) -> Error {
    Error::input(Location { file: path.to_path_buf(), ..Default::default() }, msg)
}

fn bad_row(path: &Path, row: usize, msg: impl Into<String>) -> Error {
    Error::input(Location { file: path.to_path_buf(), row: Some(row as u64), ..Default::default() }, msg)
}

/// Bytes from a file shown in a one-line message: printable, at most `max` characters.
fn show(b: &[u8], max: usize) -> String {
    let s: String = String::from_utf8_lossy(b).escape_debug().collect();
    if s.chars().count() > max { format!("{}…", s.chars().take(max).collect::<String>()) } else { s }
}

/// Reads a `.npy` file.
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    let bytes = crate::read_regular(path)?;
    parse_npy(&bytes, path)
}

// ---------------------------------------------------------------------------
// Header

const MAGIC: &[u8] = b"\x93NUMPY";
/// numpy's own limit on the number of dimensions.
const MAX_DIMS: usize = 64;
/// Nesting depth of tuples and lists accepted in a header (structured dtypes nest a few levels).
const MAX_NESTING: usize = 32;

/// How the elements are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Bool,
    Int,
    UInt,
    Float,
    /// `S` / `a`: fixed-width bytes.
    Bytes,
    /// `U`: fixed-width UTF-32.
    Unicode,
}

#[derive(Clone, Copy, Debug)]
struct Dtype {
    kind: Kind,
    /// Bytes per element.
    size: usize,
    big_endian: bool,
}

/// A checked header: the data that follows holds exactly `count * dtype.size` bytes.
struct Header {
    /// `descr` as written, for messages.
    descr: String,
    dtype: Dtype,
    fortran: bool,
    shape: Vec<usize>,
    count: usize,
    data_start: usize,
}

/// A Python literal of the kinds a `.npy` header holds.
#[derive(Debug)]
enum Lit {
    Str(Vec<u8>),
    /// `None` when it does not fit an `i128`.
    Int(Option<i128>),
    Bool(bool),
    None,
    /// A tuple or a list.
    Seq(Vec<Lit>),
}

impl Lit {
    fn describe(&self) -> &'static str {
        match self {
            Lit::Str(_) => "a string",
            Lit::Int(_) => "an integer",
            Lit::Bool(_) => "a boolean",
            Lit::None => "None",
            Lit::Seq(_) => "a tuple or list",
        }
    }
}

/// A cursor over the header bytes; `base` is the file offset of `s[0]`, for messages.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
    base: usize,
}

impl Cursor<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn err(&self, what: impl std::fmt::Display) -> String {
        let found = match self.peek() {
            None => "the end of the header".to_string(),
            Some(_) => format!("`{}`", show(&self.s[self.i..], 12)),
        };
        format!("malformed .npy header at byte {}: {what}, found {found} (header: {})", self.base + self.i, show(self.s, 80))
    }

    fn value(&mut self, depth: usize) -> std::result::Result<Lit, String> {
        self.ws();
        if depth > MAX_NESTING {
            return Err(self.err("values nested too deeply"));
        }
        match self.peek() {
            Some(q @ (b'\'' | b'"')) => self.string(q),
            Some(b'u' | b'b') if matches!(self.s.get(self.i + 1), Some(b'\'' | b'"')) => {
                self.i += 1;
                let q = self.s[self.i];
                self.string(q)
            }
            Some(open @ (b'(' | b'[')) => {
                let close = if open == b'(' { b')' } else { b']' };
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    if self.eat(close) {
                        break;
                    }
                    items.push(self.value(depth + 1)?);
                    if self.eat(b',') {
                        continue;
                    }
                    if self.eat(close) {
                        break;
                    }
                    return Err(self.err(format!("expected `,` or `{}`", close as char)));
                }
                Ok(Lit::Seq(items))
            }
            Some(b'-' | b'+' | b'0'..=b'9') => self.int(),
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.i;
                while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
                    self.i += 1;
                }
                match &self.s[start..self.i] {
                    b"True" => Ok(Lit::Bool(true)),
                    b"False" => Ok(Lit::Bool(false)),
                    b"None" => Ok(Lit::None),
                    _ => {
                        self.i = start;
                        Err(self.err("expected a Python literal"))
                    }
                }
            }
            _ => Err(self.err("expected a Python literal")),
        }
    }

    /// A quoted string; a backslash takes the next byte literally.
    fn string(&mut self, q: u8) -> std::result::Result<Lit, String> {
        let start = self.i;
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => {
                    self.i = start;
                    return Err(self.err("unterminated string"));
                }
                Some(b'\\') => {
                    self.i += 1;
                    if let Some(c) = self.peek() {
                        out.push(c);
                        self.i += 1;
                    }
                }
                Some(c) if c == q => {
                    self.i += 1;
                    return Ok(Lit::Str(out));
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }

    /// A decimal integer, optionally signed, optionally with Python 2's `L` suffix.
    fn int(&mut self) -> std::result::Result<Lit, String> {
        let neg = self.peek() == Some(b'-');
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.i += 1;
        }
        let start = self.i;
        let mut v: Option<i128> = Some(0);
        while let Some(c @ b'0'..=b'9') = self.peek() {
            v = v.and_then(|v| v.checked_mul(10)).and_then(|v| v.checked_add(i128::from(c - b'0')));
            self.i += 1;
        }
        if self.i == start {
            return Err(self.err("expected digits"));
        }
        if matches!(self.peek(), Some(b'L' | b'l')) {
            self.i += 1;
        }
        if self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_') {
            return Err(self.err("expected an integer"));
        }
        Ok(Lit::Int(if neg { v.map(|v| -v) } else { v }))
    }
}

/// Parses the header dict into (key, value) pairs in order.
fn parse_dict(h: &[u8], base: usize) -> std::result::Result<Vec<(Vec<u8>, Lit)>, String> {
    let mut c = Cursor { s: h, i: 0, base };
    if !c.eat(b'{') {
        return Err(c.err("expected the header dict to start with `{`"));
    }
    let mut entries = Vec::new();
    loop {
        if c.eat(b'}') {
            break;
        }
        c.ws();
        let key_at = c.i;
        let key = match c.value(1)? {
            Lit::Str(k) => k,
            other => {
                c.i = key_at;
                return Err(c.err(format!("expected a string key, not {}", other.describe())));
            }
        };
        if !c.eat(b':') {
            return Err(c.err(format!("expected `:` after the key '{}'", show(&key, 40))));
        }
        let v = c.value(1)?;
        entries.push((key, v));
        if c.eat(b',') {
            continue;
        }
        if c.eat(b'}') {
            break;
        }
        return Err(c.err("expected `,` or `}`"));
    }
    c.ws();
    if c.i != h.len() {
        return Err(c.err("expected only padding after the closing `}`"));
    }
    Ok(entries)
}

fn parse_dtype(d: &[u8]) -> std::result::Result<Dtype, String> {
    let shown = show(d, 40);
    let unsupported = || format!("unsupported dtype `{shown}` (use an integer, bool or float dtype)");
    let (order, rest) = match d.first() {
        Some(&c @ (b'<' | b'>' | b'|' | b'=')) => (c, &d[1..]),
        _ => (b'=', d),
    };
    let Some((&kind, digits)) = rest.split_first() else {
        return Err(unsupported());
    };
    let size: Option<usize> = if digits.is_empty() {
        None
    } else if digits.len() <= 18 && digits.iter().all(u8::is_ascii_digit) {
        digits.iter().try_fold(0usize, |a, &c| a.checked_mul(10)?.checked_add(usize::from(c - b'0')))
    } else {
        return Err(unsupported());
    };
    let (kind, size) = match (kind, size) {
        (b'O', _) => {
            return Err(format!("object arrays (dtype `{shown}`) are not supported: they hold pickled Python objects; save a numeric array"));
        }
        (b'?', None) | (b'b', Some(1)) => (Kind::Bool, 1),
        (b'i', Some(s @ (1 | 2 | 4 | 8))) => (Kind::Int, s),
        (b'u', Some(s @ (1 | 2 | 4 | 8))) => (Kind::UInt, s),
        (b'f', Some(s @ (4 | 8))) => (Kind::Float, s),
        (b'f' | b'e', Some(2)) => return Err(format!("float16 (dtype `{shown}`) is not supported; save as float32")),
        (b'S' | b'a', Some(n)) if n > 0 => (Kind::Bytes, n),
        (b'U', Some(n)) if n > 0 => (Kind::Unicode, n.checked_mul(4).ok_or_else(unsupported)?),
        _ => return Err(unsupported()),
    };
    let big_endian = match order {
        b'>' => true,
        b'<' => false,
        _ => cfg!(target_endian = "big"),
    };
    Ok(Dtype { kind, size, big_endian })
}

fn parse_header(bytes: &[u8], path: &Path) -> Result<Header> {
    if bytes.is_empty() {
        return Err(bad(path, "the file is empty, not a NumPy .npy file (bad magic)"));
    }
    if !bytes.starts_with(MAGIC) {
        return Err(bad(path, "not a NumPy .npy file (bad magic)"));
    }
    let (Some(&major), Some(&minor)) = (bytes.get(6), bytes.get(7)) else {
        return Err(bad(path, format!("truncated .npy header: the file has only {} bytes", bytes.len())));
    };
    let len_bytes = match (major, minor) {
        (1, 0) => 2,
        (2 | 3, 0) => 4,
        _ => return Err(bad(path, format!("unsupported .npy format version {major}.{minor} (1.0, 2.0 and 3.0 are read)"))),
    };
    let hstart = 8 + len_bytes;
    let Some(len_field) = bytes.get(8..hstart) else {
        return Err(bad(path, format!("truncated .npy header: the file has only {} bytes", bytes.len())));
    };
    let hlen = len_field.iter().rev().fold(0usize, |a, &b| (a << 8) | usize::from(b));
    let hend = match hstart.checked_add(hlen) {
        Some(e) if e <= bytes.len() => e,
        _ => {
            return Err(bad(
                path,
                format!("truncated .npy header: it declares {hlen} bytes but the file has {} after the length field", bytes.len() - hstart),
            ));
        }
    };
    let entries = parse_dict(&bytes[hstart..hend], hstart).map_err(|m| bad(path, m))?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (key, value) in entries {
        let slot = match key.as_slice() {
            b"descr" => &mut descr,
            b"fortran_order" => &mut fortran,
            b"shape" => &mut shape,
            _ => {
                return Err(bad(
                    path,
                    format!("unexpected key '{}' in the .npy header (numpy writes 'descr', 'fortran_order' and 'shape')", show(&key, 40)),
                ));
            }
        };
        if slot.is_some() {
            return Err(bad(path, format!("the .npy header has the key '{}' twice", show(&key, 40))));
        }
        *slot = Some(value);
    }
    let descr = match descr {
        Some(Lit::Str(d)) => d,
        Some(Lit::Seq(_)) => return Err(bad(path, "structured dtypes (a list 'descr') are not supported; save a plain numeric array")),
        Some(other) => return Err(bad(path, format!("'descr' must be a string, not {}", other.describe()))),
        None => return Err(bad(path, "the .npy header has no 'descr'")),
    };
    let fortran = match fortran {
        Some(Lit::Bool(b)) => b,
        Some(other) => return Err(bad(path, format!("'fortran_order' must be True or False, not {}", other.describe()))),
        None => return Err(bad(path, "the .npy header has no 'fortran_order'")),
    };
    let dims = match shape {
        Some(Lit::Seq(items)) => items,
        Some(other) => return Err(bad(path, format!("'shape' must be a tuple of integers, not {}", other.describe()))),
        None => return Err(bad(path, "the .npy header has no 'shape'")),
    };
    let dtype = parse_dtype(&descr).map_err(|m| bad(path, m))?;
    let descr = show(&descr, 40);
    if dims.len() > MAX_DIMS {
        return Err(bad(path, format!("'shape' has {} dimensions; numpy allows at most {MAX_DIMS}", dims.len())));
    }
    let mut shape = Vec::with_capacity(dims.len());
    for d in &dims {
        match d {
            Lit::Int(Some(v)) if *v < 0 => return Err(bad(path, format!("negative dimension {v} in 'shape'"))),
            Lit::Int(Some(v)) if *v <= isize::MAX as i128 => shape.push(*v as usize),
            Lit::Int(_) => return Err(bad(path, "a dimension in 'shape' is too large")),
            other => return Err(bad(path, format!("'shape' must be a tuple of integers, but holds {}", other.describe()))),
        }
    }
    // As numpy does: the bytes of the non-zero dimensions must fit an isize,
    // even when another dimension is zero.
    let nonzero_bytes = shape.iter().filter(|&&d| d != 0).try_fold(dtype.size, |a, &d| a.checked_mul(d).filter(|&n| n <= isize::MAX as usize));
    if nonzero_bytes.is_none() {
        return Err(bad(path, format!("shape {shape:?} of `{descr}` is too large: its size in bytes overflows")));
    }
    let count = if shape.contains(&0) { 0 } else { shape.iter().product() };
    let need = count * dtype.size;
    let have = bytes.len() - hend;
    if have < need {
        return Err(bad(path, format!("truncated: {have} data bytes, shape {shape:?} of `{descr}` needs {need}")));
    }
    if have > need {
        return Err(bad(
            path,
            format!("{} bytes follow the data of shape {shape:?} of `{descr}` ({need} bytes); one array per .npy file is read", have - need),
        ));
    }
    if fortran && shape.len() > 2 {
        return Err(bad(path, "Fortran-ordered arrays of more than 2 dimensions are not supported; save with np.ascontiguousarray"));
    }
    Ok(Header { descr, dtype, fortran, shape, count, data_start: hend })
}

/// Fortran (column-major) order → C order, for a `rows` x `cols` array.
fn from_fortran<T: Copy + Send + Sync>(v: Vec<T>, rows: usize, cols: usize) -> Vec<T> {
    (0..v.len()).into_par_iter().map(|k| v[(k % cols) * rows + k / cols]).collect()
}

/// Parses `.npy` bytes; `path` names the file in errors.
pub fn parse_npy(bytes: &[u8], path: &Path) -> Result<NpyArray> {
    let h = parse_header(bytes, path)?;
    let Dtype { kind, size, big_endian: big } = h.dtype;
    let data = &bytes[h.data_start..h.data_start + h.count * size];
    macro_rules! conv {
        ($t:ty, $out:ty) => {
            data.par_chunks_exact(size)
                .map(|c| {
                    let a = c.try_into().unwrap_or_default();
                    (if big { <$t>::from_be_bytes(a) } else { <$t>::from_le_bytes(a) }) as $out
                })
                .collect::<Vec<$out>>()
        };
    }
    let out = match (kind, size) {
        (Kind::Int, 8) => NpyData::Int(conv!(i64, i64)),
        (Kind::Int, 4) => NpyData::Int(conv!(i32, i64)),
        (Kind::Int, 2) => NpyData::Int(conv!(i16, i64)),
        (Kind::Int, 1) => NpyData::Int(conv!(i8, i64)),
        (Kind::UInt, 4) => NpyData::Int(conv!(u32, i64)),
        (Kind::UInt, 2) => NpyData::Int(conv!(u16, i64)),
        (Kind::UInt, 1) => NpyData::Int(conv!(u8, i64)),
        (Kind::Bool, _) => NpyData::Int(data.par_iter().map(|&b| i64::from(b != 0)).collect()),
        (Kind::UInt, 8) => {
            let v = conv!(u64, u64);
            if let Some(i) = v.iter().position(|&x| x > i64::MAX as u64) {
                let width = h.shape.iter().skip(1).product::<usize>().max(1);
                return Err(bad_row(path, i / width, format!("uint64 value {} does not fit in int64", v[i])));
            }
            NpyData::Int(v.into_iter().map(|x| x as i64).collect())
        }
        (Kind::Float, 4) => NpyData::Float(conv!(f32, f32)),
        (Kind::Float, 8) => NpyData::Float(conv!(f64, f32)),
        (Kind::Bytes | Kind::Unicode, _) => {
            return Err(bad(path, format!("string arrays (dtype `{}`) are not supported; use an integer, bool or float dtype", h.descr)));
        }
        _ => return Err(bad(path, format!("unsupported dtype `{}` (use an integer, bool or float dtype)", h.descr))),
    };
    let out = match (h.fortran, h.shape.as_slice()) {
        (true, &[rows, cols]) => match out {
            NpyData::Int(v) => NpyData::Int(from_fortran(v, rows, cols)),
            NpyData::Float(v) => NpyData::Float(from_fortran(v, rows, cols)),
        },
        _ => out,
    };
    Ok(NpyArray { shape: h.shape, data: out })
}

/// Parses a `.npy` holding one string (a `S` or `U` scalar, as scipy's
/// `format.npy`), without its trailing NULs.
fn parse_npy_string(bytes: &[u8], path: &Path) -> Result<String> {
    let h = parse_header(bytes, path)?;
    if h.count != 1 {
        return Err(bad(path, format!("expected one string, found shape {:?}", h.shape)));
    }
    let data = &bytes[h.data_start..h.data_start + h.dtype.size];
    let s: String = match h.dtype.kind {
        Kind::Bytes => String::from_utf8_lossy(data).into_owned(),
        Kind::Unicode => data
            .chunks_exact(4)
            .map(|c| {
                let a = [c[0], c[1], c[2], c[3]];
                let u = if h.dtype.big_endian { u32::from_be_bytes(a) } else { u32::from_le_bytes(a) };
                char::from_u32(u).unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect(),
        _ => return Err(bad(path, format!("expected a string array, found dtype `{}`", h.descr))),
    };
    Ok(s.trim_end_matches('\0').to_string())
}

// ---------------------------------------------------------------------------
// Writing

fn write_npy_raw(path: &Path, descr: &str, shape: &[usize], values: usize, data: &[u8]) -> Result<()> {
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if count != Some(values) {
        return Err(bad(path, format!("cannot write: shape {shape:?} does not hold the {values} values given")));
    }
    let shape_txt = match shape {
        [n] => format!("({n},)"),
        s => format!("({})", s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_txt}, }}");
    // Version 1.0 has a 2-byte header length; longer headers (shapes of
    // thousands of dimensions) need version 2.0's 4 bytes.
    let (version, preamble) = if 10 + header.len() + 64 <= usize::from(u16::MAX) { (1u8, 10) } else { (2u8, 12) };
    // Pad so that data starts on a 64-byte boundary, ending with a newline.
    let total = preamble + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut head = MAGIC.to_vec();
    head.extend_from_slice(&[version, 0]);
    if version == 1 {
        head.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        let len = u32::try_from(header.len()).map_err(|_| bad(path, "cannot write: the .npy header would exceed 4 GiB"))?;
        head.extend_from_slice(&len.to_le_bytes());
    }
    head.extend_from_slice(header.as_bytes());
    Ok(ferrograph_graph::atomic::write_with(path, |w| w.write_all(&head).and_then(|()| w.write_all(data)))?)
}

/// Writes an `int64` array (atomically: temporary file, fsync, rename; a
/// failed write leaves the destination as it was and no temporary file).
/// `shape` must hold exactly `data.len()` values.
pub fn write_npy_i64(path: &Path, shape: &[usize], data: &[i64]) -> Result<()> {
    write_npy_raw(path, "<i8", shape, data.len(), bytemuck::cast_slice(data))
}

/// Writes a `float32` array (atomically, as [`write_npy_i64`]).
pub fn write_npy_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    write_npy_raw(path, "<f4", shape, data.len(), bytemuck::cast_slice(data))
}

// ---------------------------------------------------------------------------
// scipy sparse .npz

/// A scipy CSR matrix from `.npz`.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseCsr {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `rows + 1` offsets.
    pub indptr: Vec<u64>,
    /// Column indices.
    pub indices: Vec<u32>,
    /// Values.
    pub values: Vec<f32>,
}

/// Sparse layouts of scipy's `save_npz` that are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SparseFormat {
    /// Compressed sparse rows (`indptr` over rows, `indices` are columns).
    Csr,
    /// Compressed sparse columns (`indptr` over columns, `indices` are rows).
    Csc,
    /// Coordinates (`row`, `col`).
    Coo,
}

/// Most rows a sparse matrix may have: node indices are 32-bit.
const MAX_SPARSE_ROWS: i64 = u32::MAX as i64;
/// Most columns: column indices are stored as `u32`.
const MAX_SPARSE_COLS: i64 = 1 << 32;
/// Rows a COO or CSC matrix may always declare, whatever its number of entries.
const MIN_UNBACKED_ROWS: usize = 1 << 24;

/// A scipy sparse `.npz` whose `format` and `shape` are read and checked;
/// [`NpzMatrix::read`] then reads and checks the arrays. Opening first lets a
/// caller compare the shape with what it expects before anything is
/// allocated by it.
pub struct NpzMatrix {
    path: PathBuf,
    zip: zip::ZipArchive<File>,
    /// Layout (CSR when the archive has no `format.npy`).
    pub format: SparseFormat,
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
}

impl NpzMatrix {
    /// Opens the archive and reads its `format` and `shape`.
    pub fn open(path: &Path) -> Result<NpzMatrix> {
        let file = crate::open_regular(path)?;
        let zip = zip::ZipArchive::new(file).map_err(|e| bad(path, format!("not a .npz (zip) archive: {}", one_line(&e))))?;
        let mut m = NpzMatrix { path: path.to_path_buf(), zip, format: SparseFormat::Csr, rows: 0, cols: 0 };
        if let Some(bytes) = m.member_bytes("format.npy")? {
            let mpath = m.path.join("format.npy");
            m.format = match parse_npy_string(&bytes, &mpath)?.as_str() {
                "csr" => SparseFormat::Csr,
                "csc" => SparseFormat::Csc,
                "coo" => SparseFormat::Coo,
                other => return Err(bad(&mpath, format!("unsupported sparse format `{}` (csr, csc and coo are read)", show(other.as_bytes(), 20)))),
            };
        }
        let shape = m.ints("shape")?;
        let spath = m.path.join("shape.npy");
        let &[r, c] = shape.as_slice() else {
            return Err(bad(&spath, format!("`shape` has {} entries; expected 2 (rows, columns)", shape.len())));
        };
        if r < 0 || c < 0 {
            return Err(bad(&spath, format!("`shape` ({r}, {c}) has a negative size")));
        }
        if r > MAX_SPARSE_ROWS {
            return Err(bad(&spath, format!("`shape` ({r}, {c}) has more than {MAX_SPARSE_ROWS} rows (32-bit node indices)")));
        }
        if c > MAX_SPARSE_COLS {
            return Err(bad(&spath, format!("`shape` ({r}, {c}) has more than {MAX_SPARSE_COLS} columns (32-bit column indices)")));
        }
        (m.rows, m.cols) = (r as usize, c as usize);
        Ok(m)
    }

    /// The bytes of a member (`None` when absent), read no further than its
    /// declared size: a member that inflates past it is an error, not an
    /// allocation.
    fn member_bytes(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        let mpath = self.path.join(name);
        let mut f = match self.zip.by_name(name) {
            Ok(f) => f,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(bad(&mpath, format!("cannot read this archive member: {}", one_line(&e)))),
        };
        let declared = f.size();
        let mut buf = Vec::new();
        (&mut f).take(declared.saturating_add(1)).read_to_end(&mut buf).map_err(|e| bad(&mpath, format!("cannot decompress: {}", one_line(&e))))?;
        if buf.len() as u64 > declared {
            return Err(bad(&mpath, format!("inflates past the {declared} bytes its zip entry declares")));
        }
        Ok(Some(buf))
    }

    /// A required member, parsed as a 1-D array.
    fn array(&mut self, stem: &str) -> Result<(PathBuf, NpyData)> {
        let name = format!("{stem}.npy");
        let mpath = self.path.join(&name);
        let bytes = self.member_bytes(&name)?.ok_or_else(|| bad(&self.path, format!("no `{name}` in the archive; is this a scipy sparse .npz?")))?;
        let a = parse_npy(&bytes, &mpath)?;
        if a.shape.len() != 1 {
            return Err(bad(&mpath, format!("`{stem}` has shape {:?}; expected a 1-D array", a.shape)));
        }
        Ok((mpath, a.data))
    }

    fn ints(&mut self, stem: &str) -> Result<Vec<i64>> {
        match self.array(stem)? {
            (_, NpyData::Int(v)) => Ok(v),
            (mpath, NpyData::Float(_)) => Err(bad(&mpath, format!("`{stem}` is not an integer array"))),
        }
    }

    /// Reads and checks the arrays, into CSR with sorted column indices and
    /// duplicates summed (as scipy's `tocsr()`).
    pub fn read(mut self) -> Result<SparseCsr> {
        let (rows, cols) = (self.rows, self.cols);
        let values: Vec<f32> = match self.array("data")?.1 {
            NpyData::Float(v) => v,
            NpyData::Int(v) => v.into_par_iter().map(|x| x as f32).collect(),
        };
        let nnz = values.len();
        // CSR rows are backed by `indptr`; COO and CSC rows are not, and the
        // CSR built from them needs `rows + 1` offsets: a shape far beyond
        // the stored entries is refused rather than allocated.
        let unbacked_limit = nnz.saturating_mul(16).max(MIN_UNBACKED_ROWS);
        if self.format != SparseFormat::Csr && rows > unbacked_limit {
            return Err(bad(
                &self.path.join("shape.npy"),
                format!(
                    "`shape` declares {rows} rows for {nnz} stored entries; a {} matrix is read with at most {unbacked_limit} rows (16 per entry, or {MIN_UNBACKED_ROWS})",
                    if self.format == SparseFormat::Coo { "COO" } else { "CSC" }
                ),
            ));
        }
        let outside = |what: &str, k: usize, v: i64| format!("entry {k}: {what} {v} is outside the shape {rows} x {cols}");
        // Every format becomes (row, col) pairs checked against the shape.
        let (row_of, col_of): (Vec<u32>, Vec<u32>) = match self.format {
            SparseFormat::Coo => {
                let r = self.ints("row")?;
                let c = self.ints("col")?;
                for (stem, v) in [("row", &r), ("col", &c)] {
                    if v.len() != nnz {
                        return Err(bad(&self.path.join(format!("{stem}.npy")), format!("`{stem}` has {} entries but `data` has {nnz}", v.len())));
                    }
                }
                for (stem, v, limit, what) in [("row", &r, rows, "row"), ("col", &c, cols, "column")] {
                    if let Some(k) = v.par_iter().position_first(|&x| x < 0 || x as u64 >= limit as u64) {
                        return Err(bad(&self.path.join(format!("{stem}.npy")), outside(what, k, v[k])));
                    }
                }
                (r.into_par_iter().map(|x| x as u32).collect(), c.into_par_iter().map(|x| x as u32).collect())
            }
            major => {
                let indptr = self.ints("indptr")?;
                let indices = self.ints("indices")?;
                let ppath = self.path.join("indptr.npy");
                let ipath = self.path.join("indices.npy");
                let csr = major == SparseFormat::Csr;
                let (outer, inner) = if csr { (rows, cols) } else { (cols, rows) };
                if indptr.len() != outer + 1 {
                    return Err(bad(&ppath, format!("`indptr` has {} entries; shape {rows} x {cols} needs {}", indptr.len(), outer + 1)));
                }
                if indptr[0] != 0 {
                    return Err(bad(&ppath, format!("`indptr` starts at {}, not 0", indptr[0])));
                }
                if let Some(k) = indptr.windows(2).position(|w| w[0] > w[1]) {
                    return Err(bad(&ppath, format!("`indptr` decreases at entry {}: {} after {}", k + 1, indptr[k + 1], indptr[k])));
                }
                if indptr[outer] as u64 != indices.len() as u64 {
                    return Err(bad(&ppath, format!("`indptr` ends at {} but `indices` has {} entries", indptr[outer], indices.len())));
                }
                if indices.len() != nnz {
                    return Err(bad(&ipath, format!("`indices` has {} entries but `data` has {nnz}", indices.len())));
                }
                if let Some(k) = indices.par_iter().position_first(|&x| x < 0 || x as u64 >= inner as u64) {
                    return Err(bad(&ipath, outside(if csr { "column" } else { "row" }, k, indices[k])));
                }
                let inner_idx: Vec<u32> = indices.into_par_iter().map(|x| x as u32).collect();
                // Already canonical CSR (sorted, distinct columns per row): no sort needed.
                if csr && (0..outer).all(|r| inner_idx[indptr[r] as usize..indptr[r + 1] as usize].windows(2).all(|w| w[0] < w[1])) {
                    let indptr = indptr.into_iter().map(|x| x as u64).collect();
                    return Ok(SparseCsr { rows, cols, indptr, indices: inner_idx, values });
                }
                let mut outer_idx = Vec::with_capacity(nnz);
                for r in 0..outer {
                    outer_idx.extend(std::iter::repeat_n(r as u32, (indptr[r + 1] - indptr[r]) as usize));
                }
                if csr { (outer_idx, inner_idx) } else { (inner_idx, outer_idx) }
            }
        };
        // Sort by (row, col, position in the file) and sum duplicates in file order.
        let mut order: Vec<usize> = (0..nnz).collect();
        order.par_sort_unstable_by_key(|&i| (row_of[i], col_of[i], i));
        let mut indptr = vec![0u64; rows + 1];
        let mut indices: Vec<u32> = Vec::with_capacity(nnz);
        let mut vals: Vec<f32> = Vec::with_capacity(nnz);
        let mut last: Option<(u32, u32)> = None;
        for &i in &order {
            let key = (row_of[i], col_of[i]);
            if last == Some(key) {
                if let Some(v) = vals.last_mut() {
                    *v += values[i];
                }
                continue;
            }
            last = Some(key);
            indices.push(key.1);
            vals.push(values[i]);
            indptr[key.0 as usize + 1] += 1;
        }
        for r in 0..rows {
            indptr[r + 1] += indptr[r];
        }
        Ok(SparseCsr { rows, cols, indptr, indices, values: vals })
    }
}

/// An error's text on one line (the zip crate's messages may span several).
fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads a scipy `save_npz` sparse matrix (CSR, CSC or COO) as CSR.
pub fn read_npz_csr(path: &Path) -> Result<SparseCsr> {
    NpzMatrix::open(path)?.read()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_truncation() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.npy");
        write_npy_f32(&p, &[2, 3], &[1., 2., 3., 4., 5., 6.]).unwrap();
        let a = read_npy(&p).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, NpyData::Float(vec![1., 2., 3., 4., 5., 6.]));
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!((bytes.len() - 24) % 64, 0, "data is 64-byte aligned");
        let e = parse_npy(&bytes[..bytes.len() - 1], &p).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        write_npy_i64(&p, &[3], &[-1, 0, i64::MAX]).unwrap();
        assert_eq!(read_npy(&p).unwrap().data, NpyData::Int(vec![-1, 0, i64::MAX]));
    }

    #[test]
    fn header_literals() {
        let dict = |h: &str| parse_dict(h.as_bytes(), 10);
        let e = dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }  \n").unwrap();
        assert_eq!(e.len(), 3);
        assert!(matches!(&e[2].1, Lit::Seq(v) if v.len() == 2));
        assert!(dict("{\"descr\":\"<f4\",\"fortran_order\":False,\"shape\":(3L,)}").is_ok());
        assert!(dict("{'a': ((((((((((((((((((((((((((((((((((1,),),),),),),),),),),),),),),),),),),),),),),),),),),),),),),),),),)}").is_err());
        for bad in ["", "{", "{'a'}", "{'a': }", "{'a': 'x}", "{'a': 1,, }", "{'a': 1} x", "{'a': 1.5}", "{1: 2}", "{'a': Truex}"] {
            assert!(dict(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fortran_order_2d_is_transposed() {
        assert_eq!(from_fortran(vec![1, 4, 2, 5, 3, 6], 2, 3), vec![1, 2, 3, 4, 5, 6]);
    }
}
