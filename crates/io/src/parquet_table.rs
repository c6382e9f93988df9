//! Parquet node and edge tables, read with arrow-rs into the same builders as
//! text tables.

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type, UInt32Type};
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
pub fn read_columns(path: &Path, wanted: &[(String, Target)]) -> Result<(Vec<Builder>, usize)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::input(at(path, None, None), format!("not a readable Parquet file: {e}")))?;
    let fields: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    for (name, _) in wanted {
        if !fields.contains(name) {
            let hint = ferrograph_graph::error_closest(name, fields.iter().map(String::as_str))
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            return Err(Error::input(at(path, None, Some(name)), format!("no such column (columns: {}){hint}", fields.join(", "))));
        }
    }
    let reader = builder.build().map_err(|e| Error::input(at(path, None, None), e.to_string()))?;
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
        let batch = batch.map_err(|e| Error::input(at(path, Some(rows as u64), None), format!("cannot decode: {e}")))?;
        for ((name, target), b) in wanted.iter().zip(out.iter_mut()) {
            let col = batch.column_by_name(name).ok_or_else(|| Error::input(at(path, None, Some(name)), "column missing from a row group"))?;
            append(path, name, rows, col, target, b)?;
        }
        rows += batch.num_rows();
    }
    Ok((out, rows))
}

fn append(path: &Path, name: &str, base: usize, col: &ArrayRef, target: &Target, b: &mut Builder) -> Result<()> {
    if let Some(i) = (0..col.len()).find(|&i| col.is_null(i)) {
        return Err(Error::input(at(path, Some((base + i) as u64), Some(name)), "null value"));
    }
    let mismatch = || Error::input(at(path, None, Some(name)), format!("Parquet type {} cannot be read as {}", col.data_type(), target.describe()));
    match (b, col.data_type()) {
        (Builder::Int(v), DataType::Int64) => v.extend(col.as_primitive::<Int64Type>().values().iter().copied()),
        (Builder::Int(v), DataType::Int32) => v.extend(col.as_primitive::<Int32Type>().values().iter().map(|&x| i64::from(x))),
        (Builder::Int(v), DataType::UInt32) => v.extend(col.as_primitive::<UInt32Type>().values().iter().map(|&x| i64::from(x))),
        (Builder::Float(v), DataType::Float32) => v.extend(col.as_primitive::<Float32Type>().values().iter().copied()),
        (Builder::Float(v), DataType::Float64) => v.extend(col.as_primitive::<Float64Type>().values().iter().map(|&x| x as f32)),
        (Builder::Float(v), DataType::Int64) => v.extend(col.as_primitive::<Int64Type>().values().iter().map(|&x| x as f32)),
        (Builder::Str(bytes, offs), DataType::Utf8) => {
            for s in col.as_string::<i32>().iter().flatten() {
                bytes.extend_from_slice(s.as_bytes());
                offs.push(bytes.len() as u64);
            }
        }
        (Builder::Str(bytes, offs), DataType::Int64) => {
            // Integer ids read as strings when the node type has string ids.
            for x in col.as_primitive::<Int64Type>().values() {
                bytes.extend_from_slice(x.to_string().as_bytes());
                offs.push(bytes.len() as u64);
            }
        }
        (Builder::Hashed(n, v), DataType::Utf8) => {
            let n = u64::from(*n);
            v.extend(col.as_string::<i32>().iter().flatten().map(|s| (xxhash_rust::xxh3::xxh3_64(s.as_bytes()) % n) as u32));
        }
        (Builder::Vector(dim, v), DataType::List(_) | DataType::FixedSizeList(_, _)) => {
            let dim = *dim;
            for i in 0..col.len() {
                let item: ArrayRef = match col.data_type() {
                    DataType::List(_) => col.as_list::<i32>().value(i),
                    _ => col.as_fixed_size_list().value(i),
                };
                if item.len() != dim {
                    return Err(Error::input(
                        at(path, Some((base + i) as u64), Some(name)),
                        format!("vector of length {}, expected {dim}", item.len()),
                    ));
                }
                match item.data_type() {
                    DataType::Float32 => v.extend(item.as_primitive::<Float32Type>().values().iter().copied()),
                    DataType::Float64 => v.extend(item.as_primitive::<Float64Type>().values().iter().map(|&x| x as f32)),
                    _ => return Err(mismatch()),
                }
            }
        }
        _ => return Err(mismatch()),
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
    if values.len() != rows * dim {
        return Err(Error::input(at(path, None, None), format!("{} values for {rows} rows of width {dim}", values.len())));
    }
    let dim_i32 = i32::try_from(dim).map_err(|_| Error::input(at(path, None, None), "embedding width over 2^31"))?;
    let id: ArrayRef = match ids {
        EmbeddingIds::Int(v) => Arc::new(Int64Array::from(v)),
        EmbeddingIds::Str(v) => Arc::new(StringArray::from(v)),
    };
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let emb = FixedSizeListArray::try_new(item.clone(), dim_i32, Arc::new(Float32Array::from(values.to_vec())), None)
        .map_err(|e| Error::input(at(path, None, None), e.to_string()))?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", id.data_type().clone(), false),
        Field::new("embedding", DataType::FixedSizeList(item, dim_i32), false),
    ]));
    let batch = RecordBatch::try_new(schema.clone(), vec![id, Arc::new(emb)]).map_err(|e| Error::input(at(path, None, None), e.to_string()))?;
    let tmp = path.with_extension("parquet.tmp");
    let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let mut w = ArrowWriter::try_new(file, schema, None).map_err(|e| Error::input(at(&tmp, None, None), e.to_string()))?;
    w.write(&batch).map_err(|e| Error::input(at(&tmp, None, None), e.to_string()))?;
    w.close().map_err(|e| Error::input(at(&tmp, None, None), e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
