//! NumPy `.npy` arrays (read and write) and scipy `.npz` CSR matrices (read).
//!
//! The format is small enough to read directly (magic, version, a Python
//! dict literal header, raw little-endian data); reading it ourselves lets a
//! 10-million-element array load with one parallel pass and no per-element
//! decoding calls. `.npz` is a zip of `.npy` files, read with the `zip` crate.

use std::io::{Read, Write};
use std::path::Path;

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

/// Reads a `.npy` file.
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy(&bytes, path)
}

fn header_value<'a>(h: &'a str, key: &str) -> Option<&'a str> {
    let i = h.find(&format!("'{key}'")).or_else(|| h.find(&format!("\"{key}\"")))?;
    let rest = h[i + key.len() + 2..].trim_start();
    Some(rest.strip_prefix(':')?.trim_start())
}

/// Parses `.npy` bytes; `path` names the file in errors.
pub fn parse_npy(bytes: &[u8], path: &Path) -> Result<NpyArray> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad(path, "not a NumPy .npy file (bad magic)"));
    }
    let major = bytes[6];
    let (hlen, hstart) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        _ => return Err(bad(path, format!("unsupported .npy version {major}"))),
    };
    let hend = hstart.checked_add(hlen).filter(|&e| e <= bytes.len()).ok_or_else(|| bad(path, "truncated .npy header"))?;
    let header = std::str::from_utf8(&bytes[hstart..hend]).map_err(|_| bad(path, "the .npy header is not text"))?;
    let descr = header_value(header, "descr")
        .and_then(|v| {
            let q = v.chars().next()?;
            let v = &v[1..];
            Some(&v[..v.find(q)?])
        })
        .ok_or_else(|| bad(path, "the .npy header has no 'descr'"))?;
    if header_value(header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err(bad(path, "Fortran-ordered arrays are not supported; save with np.ascontiguousarray"));
    }
    let shape_txt = header_value(header, "shape")
        .and_then(|v| v.strip_prefix('(').and_then(|v| v.split(')').next()))
        .ok_or_else(|| bad(path, "the .npy header has no 'shape'"))?;
    let shape: Vec<usize> = shape_txt
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>().map_err(|_| bad(path, format!("bad shape entry `{s}`"))))
        .collect::<Result<_>>()?;
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| bad(path, "shape overflows"))?;
    let (order, kind, size) = {
        let b = descr.as_bytes();
        if b.len() < 3 {
            return Err(bad(path, format!("unsupported dtype `{descr}`")));
        }
        let size: usize = descr[2..].parse().map_err(|_| bad(path, format!("unsupported dtype `{descr}`")))?;
        (b[0], b[1], size)
    };
    if order == b'>' && size > 1 {
        return Err(bad(path, format!("big-endian dtype `{descr}` is not supported")));
    }
    let data = &bytes[hend..];
    let need = count.checked_mul(size).ok_or_else(|| bad(path, "size overflows"))?;
    if data.len() < need {
        return Err(bad(path, format!("truncated: {} data bytes, shape {shape:?} of `{descr}` needs {need}", data.len())));
    }
    let data = &data[..need];
    macro_rules! ints {
        ($t:ty) => {
            NpyData::Int(data.par_chunks_exact(size).map(|c| <$t>::from_le_bytes(c.try_into().unwrap_or_default()) as i64).collect())
        };
    }
    let out = match (kind, size) {
        (b'i', 8) => ints!(i64),
        (b'i', 4) => ints!(i32),
        (b'i', 2) => ints!(i16),
        (b'i', 1) => ints!(i8),
        (b'u', 4) => ints!(u32),
        (b'u', 2) => ints!(u16),
        (b'u', 1) | (b'b', 1) => ints!(u8),
        (b'u', 8) => {
            let v: Vec<u64> = data.par_chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default())).collect();
            if let Some(x) = v.iter().find(|&&x| x > i64::MAX as u64) {
                return Err(bad(path, format!("uint64 value {x} does not fit in int64")));
            }
            NpyData::Int(v.into_iter().map(|x| x as i64).collect())
        }
        (b'f', 4) => NpyData::Float(data.par_chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap_or_default())).collect()),
        (b'f', 8) => NpyData::Float(data.par_chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()) as f32).collect()),
        _ => {
            return Err(bad(path, format!("unsupported dtype `{descr}` (use an integer, bool or float dtype)")));
        }
    };
    Ok(NpyArray { shape, data: out })
}

fn write_npy_raw(path: &Path, descr: &str, shape: &[usize], data: &[u8]) -> Result<()> {
    let shape_txt = match shape {
        [n] => format!("({n},)"),
        s => format!("({})", s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_txt}, }}");
    // Pad so that data starts on a 64-byte boundary, ending with a newline.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let tmp = path.with_extension("npy.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let mut head = b"\x93NUMPY\x01\x00".to_vec();
    head.extend_from_slice(&(header.len() as u16).to_le_bytes());
    head.extend_from_slice(header.as_bytes());
    f.write_all(&head).and_then(|_| f.write_all(data)).and_then(|_| f.sync_all()).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Writes an `int64` array (atomically: temporary file, then rename).
pub fn write_npy_i64(path: &Path, shape: &[usize], data: &[i64]) -> Result<()> {
    write_npy_raw(path, "<i8", shape, bytemuck::cast_slice(data))
}

/// Writes a `float32` array (atomically).
pub fn write_npy_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    write_npy_raw(path, "<f4", shape, bytemuck::cast_slice(data))
}

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

/// Reads a scipy `save_npz` sparse matrix (CSR, CSC or COO) as CSR.
pub fn read_npz_csr(path: &Path) -> Result<SparseCsr> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(path, format!("not a .npz (zip) archive: {e}")))?;
    let mut member = |name: &str| -> Result<Vec<u8>> {
        let mut m = zip.by_name(name).map_err(|_| bad(path, format!("no `{name}` in the archive; is this a scipy sparse .npz?")))?;
        let mut buf = Vec::new();
        m.read_to_end(&mut buf).map_err(|e| Error::io(path, e))?;
        Ok(buf)
    };
    let format = match member("format.npy") {
        Ok(fmt) => {
            let tail = String::from_utf8_lossy(&fmt[fmt.len().saturating_sub(16)..]).replace('\0', "");
            ["csr", "csc", "coo"]
                .into_iter()
                .find(|f| tail.contains(f))
                .ok_or_else(|| bad(path, format!("unsupported sparse format `{}` (csr, csc and coo are read)", tail.trim())))?
        }
        Err(_) => "csr",
    };
    let arr = |name: &str, bytes: Vec<u8>| parse_npy(&bytes, &path.join(name));
    let ints = |name: &str, a: NpyArray| match a.data {
        NpyData::Int(v) => Ok(v),
        NpyData::Float(_) => Err(bad(path, format!("`{name}` is not an integer array"))),
    };
    let shape = ints("shape", arr("shape.npy", member("shape.npy")?)?)?;
    let (rows, cols) = match shape.as_slice() {
        [r, c] if *r >= 0 && *c >= 0 => (*r as usize, *c as usize),
        _ => return Err(bad(path, "`shape` is not two non-negative integers")),
    };
    let values: Vec<f32> = match arr("data.npy", member("data.npy")?)?.data {
        NpyData::Float(v) => v,
        NpyData::Int(v) => v.into_iter().map(|x| x as f32).collect(),
    };
    // Every format becomes (row, col, value) triplets checked against the shape.
    let (row_of, col_of): (Vec<i64>, Vec<i64>) = match format {
        "coo" => (ints("row", arr("row.npy", member("row.npy")?)?)?, ints("col", arr("col.npy", member("col.npy")?)?)?),
        major => {
            let indptr = ints("indptr", arr("indptr.npy", member("indptr.npy")?)?)?;
            let indices = ints("indices", arr("indices.npy", member("indices.npy")?)?)?;
            let outer = if major == "csr" { rows } else { cols };
            if indptr.len() != outer + 1 || indptr[0] != 0 || indptr.windows(2).any(|w| w[0] > w[1]) || indptr[outer] as usize != indices.len() {
                return Err(bad(path, "`indptr` is not a valid offset array for `shape`"));
            }
            let mut o = Vec::with_capacity(indices.len());
            for r in 0..outer {
                o.extend(std::iter::repeat_n(r as i64, (indptr[r + 1] - indptr[r]) as usize));
            }
            if major == "csr" { (o, indices) } else { (indices, o) }
        }
    };
    if row_of.len() != values.len() || col_of.len() != values.len() {
        return Err(bad(path, "index and `data` arrays differ in length"));
    }
    if let Some(i) = (0..values.len()).find(|&i| row_of[i] < 0 || row_of[i] as usize >= rows || col_of[i] < 0 || col_of[i] as usize >= cols) {
        return Err(bad(path, format!("entry ({}, {}) is outside the shape {rows} x {cols}", row_of[i], col_of[i])));
    }
    // Sort by (row, col) and sum duplicates, as scipy's tocsr() does.
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.par_sort_unstable_by_key(|&i| (row_of[i], col_of[i]));
    let mut indptr = vec![0u64; rows + 1];
    let mut indices: Vec<u32> = Vec::with_capacity(values.len());
    let mut vals: Vec<f32> = Vec::with_capacity(values.len());
    let mut last: Option<(i64, i64)> = None;
    for &i in &order {
        let key = (row_of[i], col_of[i]);
        if last == Some(key) {
            if let Some(v) = vals.last_mut() {
                *v += values[i];
            }
            continue;
        }
        last = Some(key);
        indices.push(key.1 as u32);
        vals.push(values[i]);
        indptr[key.0 as usize + 1] += 1;
    }
    for r in 0..rows {
        indptr[r + 1] += indptr[r];
    }
    Ok(SparseCsr { rows, cols, indptr, indices, values: vals })
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
}
