//! Parquet node and edge tables, read with arrow-rs into the same builders as
//! text tables.

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::Location;
use crate::table::{Builder, Target};
use crate::{Error, Result};

fn at(path: &Path, row: Option<u64>, column: Option<&str>) -> Location {
    Location { file: path.to_path_buf(), line: None, row, column: column.map(str::to_string) }
}

/// Reads the named columns of a Parquet file, each parsed as its target.
///
/// Any file is handled: a file that is not Parquet, is truncated or has a
/// corrupt page, a column of the wrong type, a null (also inside a list) or
/// a vector of the wrong length is an error naming the file and, where it
/// applies, the row and column.
pub fn read_columns(path: &Path, wanted: &[(String, Target)]) -> Result<(Vec<Builder>, usize)> {
    // The parquet crate (60.1) panics on some corrupt pages (e.g. a data page
    // that claims a dictionary encoding before any dictionary page:
    // "Decoder for dict should have been set", found by
    // tests/hostile_files.rs). A hostile file must be an error, so the
    // decoding runs behind `catch_unwind`; nothing it touches outlives it.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_columns_inner(path, wanted))) {
        Ok(r) => r,
        Err(p) => {
            let msg = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_default();
            Err(Error::input(at(path, None, None), format!("corrupt Parquet data: the decoder failed ({msg})")))
        }
    }
}

fn read_columns_inner(path: &Path, wanted: &[(String, Target)]) -> Result<(Vec<Builder>, usize)> {
    let file = crate::open_regular(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::input(at(path, None, None), format!("not a readable Parquet file: {}", one_line(&e))))?;
    let fields: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    for (name, target) in wanted {
        if !fields.contains(name) {
            let hint = ferrograph_graph::error_closest(name, fields.iter().map(String::as_str))
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            return Err(Error::input(at(path, None, Some(name)), format!("no such column (columns: {}){hint}", fields.join(", "))));
        }
        if *target == Target::Hashed(0) {
            return Err(Error::input(at(path, None, Some(name)), "cannot hash strings into 0 buckets"));
        }
    }
    let reader = builder.build().map_err(|e| Error::input(at(path, None, None), one_line(&e)))?;
    let mut out: Vec<Builder> = wanted
        .iter()
        .map(|(_, t)| match t {
            Target::Int => Builder::Int(Vec::new()),
            Target::Float => Builder::Float(Vec::new()),
            Target::Str => Builder::Str(Vec::new(), vec![0]),
            Target::Hashed(b) => Builder::Hashed(*b, Vec::new()),
            Target::Vector { dim, .. } => Builder::Vector(*dim, Vec::new()),
        })
        .collect();
    let mut rows = 0usize;
    for batch in reader {
        let batch = batch.map_err(|e| Error::input(at(path, Some(rows as u64), None), format!("cannot decode: {}", one_line(&e))))?;
        for ((name, target), b) in wanted.iter().zip(out.iter_mut()) {
            let col = batch.column_by_name(name).ok_or_else(|| Error::input(at(path, None, Some(name)), "column missing from a row group"))?;
            append(path, name, rows, col, target, b)?;
        }
        rows += batch.num_rows();
    }
    Ok((out, rows))
}

/// An error's text on one line.
fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first null of `col`, if any.
fn first_null(col: &dyn Array) -> Option<usize> {
    if col.null_count() == 0 {
        return None;
    }
    (0..col.len()).find(|&i| col.is_null(i))
}

/// An integer column widened to `i64` (`Ok(None)` for other types).
fn ints(path: &Path, name: &str, base: usize, col: &ArrayRef) -> Result<Option<Vec<i64>>> {
    macro_rules! widen {
        ($t:ty) => {
            col.as_primitive::<$t>().values().iter().map(|&x| i64::from(x)).collect()
        };
    }
    Ok(Some(match col.data_type() {
        DataType::Int64 => col.as_primitive::<Int64Type>().values().to_vec(),
        DataType::Int32 => widen!(Int32Type),
        DataType::Int16 => widen!(Int16Type),
        DataType::Int8 => widen!(Int8Type),
        DataType::UInt32 => widen!(UInt32Type),
        DataType::UInt16 => widen!(UInt16Type),
        DataType::UInt8 => widen!(UInt8Type),
        DataType::UInt64 => {
            let v = col.as_primitive::<UInt64Type>().values();
            if let Some(i) = v.iter().position(|&x| x > i64::MAX as u64) {
                return Err(Error::input(at(path, Some((base + i) as u64), Some(name)), format!("uint64 value {} does not fit in int64", v[i])));
            }
            v.iter().map(|&x| x as i64).collect()
        }
        _ => return Ok(None),
    }))
}

/// Calls `f` on every string of a string column; `false` for other types.
fn each_str<'a>(col: &'a ArrayRef, mut f: impl FnMut(&'a str)) -> bool {
    match col.data_type() {
        DataType::Utf8 => col.as_string::<i32>().iter().flatten().for_each(&mut f),
        DataType::LargeUtf8 => col.as_string::<i64>().iter().flatten().for_each(&mut f),
        DataType::Utf8View => col.as_string_view().iter().flatten().for_each(&mut f),
        _ => return false,
    }
    true
}

fn append(path: &Path, name: &str, base: usize, col: &ArrayRef, target: &Target, b: &mut Builder) -> Result<()> {
    if let Some(i) = first_null(col.as_ref()) {
        return Err(Error::input(at(path, Some((base + i) as u64), Some(name)), "null value"));
    }
    let mismatch = || Error::input(at(path, None, Some(name)), format!("Parquet type {} cannot be read as {}", col.data_type(), target.describe()));
    match b {
        Builder::Int(v) => v.extend(ints(path, name, base, col)?.ok_or_else(mismatch)?),
        Builder::Float(v) => match col.data_type() {
            DataType::Float32 => v.extend(col.as_primitive::<Float32Type>().values().iter().copied()),
            DataType::Float64 => v.extend(col.as_primitive::<Float64Type>().values().iter().map(|&x| x as f32)),
            _ => v.extend(ints(path, name, base, col)?.ok_or_else(mismatch)?.into_iter().map(|x| x as f32)),
        },
        Builder::Str(bytes, offs) => {
            let is_str = each_str(col, |s| {
                bytes.extend_from_slice(s.as_bytes());
                offs.push(bytes.len() as u64);
            });
            if !is_str {
                // Integer ids read as strings when the node type has string ids.
                for x in ints(path, name, base, col)?.ok_or_else(mismatch)? {
                    bytes.extend_from_slice(x.to_string().as_bytes());
                    offs.push(bytes.len() as u64);
                }
            }
        }
        Builder::Hashed(n, v) => {
            let n = u64::from(*n).max(1);
            if !each_str(col, |s| v.push((xxhash_rust::xxh3::xxh3_64(s.as_bytes()) % n) as u32)) {
                return Err(mismatch());
            }
        }
        Builder::Vector(dim, v) => {
            let dim = *dim;
            let item: fn(&ArrayRef, usize) -> ArrayRef = match col.data_type() {
                DataType::List(_) => |c, i| c.as_list::<i32>().value(i),
                DataType::LargeList(_) => |c, i| c.as_list::<i64>().value(i),
                DataType::FixedSizeList(_, _) => |c, i| c.as_fixed_size_list().value(i),
                _ => return Err(mismatch()),
            };
            for i in 0..col.len() {
                let item = item(col, i);
                let row = at(path, Some((base + i) as u64), Some(name));
                if item.len() != dim {
                    return Err(Error::input(row, format!("vector of length {}, expected {dim}", item.len())));
                }
                if let Some(j) = first_null(item.as_ref()) {
                    return Err(Error::input(row, format!("null value at position {j} of the vector")));
                }
                match item.data_type() {
                    DataType::Float32 => v.extend(item.as_primitive::<Float32Type>().values().iter().copied()),
                    DataType::Float64 => v.extend(item.as_primitive::<Float64Type>().values().iter().map(|&x| x as f32)),
                    _ => return Err(mismatch()),
                }
            }
        }
    }
    Ok(())
}

/// External node ids for [`write_embeddings`].
pub enum EmbeddingIds {
    /// Integer ids.
    Int(Vec<i64>),
    /// String ids.
    Str(Vec<String>),
}

/// Writes node embeddings as a Parquet table with columns `id` (the
/// external id) and `embedding` (a fixed-size list of `dim` float32),
/// through a temporary file renamed into place.
pub fn write_embeddings(path: &Path, ids: EmbeddingIds, dim: usize, values: &[f32]) -> Result<()> {
    use std::sync::Arc;

    use arrow_array::{FixedSizeListArray, Float32Array, Int64Array, RecordBatch, StringArray};
    use arrow_schema::{Field, Schema};
    use parquet::arrow::ArrowWriter;

    let rows = match &ids {
        EmbeddingIds::Int(v) => v.len(),
        EmbeddingIds::Str(v) => v.len(),
    };
    if rows.checked_mul(dim) != Some(values.len()) {
        return Err(Error::input(at(path, None, None), format!("cannot write: {} values for {rows} rows of width {dim}", values.len())));
    }
    let dim_i32 = i32::try_from(dim).map_err(|_| Error::input(at(path, None, None), "embedding width over 2^31"))?;
    let id: ArrayRef = match ids {
        EmbeddingIds::Int(v) => Arc::new(Int64Array::from(v)),
        EmbeddingIds::Str(v) => Arc::new(StringArray::from(v)),
    };
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", id.data_type().clone(), false),
        Field::new("embedding", DataType::FixedSizeList(item.clone(), dim_i32), false),
    ]));
    // Row groups of at most 64Ki rows, each built from its own slice of the
    // values: memory stays at one group, whatever the table's size.
    const GROUP: usize = 1 << 16;
    let bad = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
    ferrograph_graph::atomic::write_with(path, |file| {
        let mut w = ArrowWriter::try_new(file, schema.clone(), None).map_err(|e| bad(&e))?;
        for start in (0..rows).step_by(GROUP) {
            let len = GROUP.min(rows - start);
            let vals = Float32Array::from(values[start * dim..(start + len) * dim].to_vec());
            let emb = FixedSizeListArray::try_new(item.clone(), dim_i32, Arc::new(vals), None).map_err(|e| bad(&e))?;
            let batch = RecordBatch::try_new(schema.clone(), vec![id.slice(start, len), Arc::new(emb)]).map_err(|e| bad(&e))?;
            w.write(&batch).map_err(|e| bad(&e))?;
            w.flush().map_err(|e| bad(&e))?;
        }
        w.close().map_err(|e| bad(&e))?;
        Ok(())
    })?;
    Ok(())
}
