//! Delimited text tables (CSV, TSV, graph-learn tables, SNAP edge lists):
//! loading (memory-mapped, or decompressed if gzip), headers, and parsing.
//!
//! The fast path splits the file into one chunk per thread at line
//! boundaries and parses the chunks in parallel with no per-row allocation;
//! rows are appended in file order, so the result does not depend on the
//! thread count. Errors carry the byte offset of the offending line, turned
//! into a line number only when an error is reported. Quoted CSV goes
//! through the `csv` crate, sequentially.

use std::io::Read;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use rayon::prelude::*;

use crate::error::Location;
use crate::table::{FieldError, Plan, Rows, Step, Target};
use crate::{Error, Result};

/// Field separator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delim {
    /// One byte.
    Byte(u8),
    /// Runs of spaces and tabs (SNAP).
    Whitespace,
}

/// How a text table is laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialect {
    /// Separator.
    pub delim: Delim,
    /// Honour double quotes.
    pub quoting: bool,
    /// First line (after comments) is a header.
    pub header: bool,
    /// Comment-line marker.
    pub comment: Option<u8>,
}

/// Column types in a graph-learn header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderType {
    /// int32 / int64.
    Int,
    /// float / double.
    Float,
    /// string.
    Str,
}

/// The header of a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Column names.
    pub names: Vec<String>,
    /// Declared types (graph-learn headers only).
    pub types: Option<Vec<HeaderType>>,
    /// Byte offset where data starts.
    pub data_start: usize,
    /// 1-based line of the header (`None` for header-less tables).
    pub line: Option<u64>,
}

enum Data {
    Map(Mmap),
    Owned(Vec<u8>),
}

/// A text file's bytes, mapped or decompressed.
pub struct TextFile {
    /// The file.
    pub path: PathBuf,
    data: Data,
}

impl TextFile {
    /// Opens `path`; gzip content (by magic bytes) is decompressed into memory.
    pub fn open(path: &Path) -> Result<TextFile> {
        let file = crate::open_regular(path)?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let data = if len == 0 {
            Data::Owned(Vec::new())
        } else {
            // SAFETY: read-only mapping; the importer does not expect inputs to
            // change while it runs (a concurrent writer could only make it read
            // garbage, which the parser rejects, not cause unsoundness in safe code
            // beyond what any reader of a changing file sees).
            let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
            if map.starts_with(&[0x1f, 0x8b]) {
                let mut out = Vec::with_capacity(map.len() * 4);
                flate2::read::MultiGzDecoder::new(&map[..])
                    .read_to_end(&mut out)
                    .map_err(|e| Error::io(path, std::io::Error::new(e.kind(), format!("bad gzip data: {e}"))))?;
                Data::Owned(out)
            } else {
                Data::Map(map)
            }
        };
        Ok(TextFile { path: path.to_path_buf(), data })
    }

    /// The (decompressed) bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.data {
            Data::Map(m) => m,
            Data::Owned(v) => v,
        }
    }

    /// 1-based line number of byte `offset`.
    pub fn line_of(&self, offset: usize) -> u64 {
        let b = self.bytes();
        memchr::memchr_iter(b'\n', &b[..offset.min(b.len())]).count() as u64 + 1
    }

    fn at(&self, line: Option<u64>, column: Option<String>) -> Location {
        Location { file: self.path.clone(), line, row: None, column }
    }

    /// An error at byte `offset`.
    pub fn error_at(&self, offset: usize, column: Option<String>, message: impl Into<String>) -> Error {
        Error::input(self.at(Some(self.line_of(offset)), column), message)
    }
}

/// Lines of `b[start..end]` as (offset of line start, line without `\r\n`).
fn lines(b: &[u8], start: usize, end: usize) -> impl Iterator<Item = (usize, &[u8])> {
    let mut pos = start;
    std::iter::from_fn(move || {
        if pos >= end {
            return None;
        }
        let stop = memchr::memchr(b'\n', &b[pos..end]).map_or(end, |i| pos + i);
        let line_start = pos;
        pos = stop + 1;
        let mut line = &b[line_start..stop];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        Some((line_start, line))
    })
}

fn skip(line: &[u8], comment: Option<u8>) -> bool {
    line.trim_ascii().is_empty() || comment.is_some_and(|c| line.first() == Some(&c))
}

fn split_fields<'a>(line: &'a [u8], delim: Delim, out: &mut Vec<&'a [u8]>) {
    out.clear();
    match delim {
        Delim::Byte(d) => out.extend(line.split(move |&c| c == d)),
        Delim::Whitespace => out.extend(line.split(|c| *c == b' ' || *c == b'\t').filter(|f| !f.is_empty())),
    }
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"').and_then(|x| x.strip_suffix('"')).unwrap_or(s)
}

/// Reads the header line (or, with `dialect.header == false`, finds the data start).
/// `graphlearn`: parse `name:type` fields. An empty file is an error.
pub fn read_header(f: &TextFile, dialect: &Dialect, graphlearn: bool) -> Result<Header> {
    let b = f.bytes();
    let bom = if b.starts_with(&[0xef, 0xbb, 0xbf]) { 3 } else { 0 };
    let first = lines(b, bom, b.len()).find(|(_, l)| !skip(l, dialect.comment));
    let Some((off, line)) = first else {
        return Err(Error::input(f.at(None, None), "the file is empty (no header and no rows)"));
    };
    if !dialect.header {
        return Ok(Header { names: Vec::new(), types: None, data_start: off, line: None });
    }
    let text = std::str::from_utf8(line).map_err(|_| f.error_at(off, None, "the header is not valid UTF-8"))?;
    let mut fields = Vec::new();
    split_fields(text.as_bytes(), dialect.delim, &mut fields);
    let data_start = off + line.len() + 1;
    let data_start = data_start.min(b.len());
    let mut names = Vec::new();
    let mut types = Vec::new();
    for (i, raw) in fields.iter().enumerate() {
        let s = std::str::from_utf8(raw).unwrap_or("").trim();
        let s = if dialect.quoting { unquote(s) } else { s };
        if graphlearn {
            let Some((name, ty)) = s.split_once(':') else {
                return Err(f.error_at(
                    off,
                    Some(format!("{}", i + 1)),
                    format!("header field `{s}` has no type; graph-learn headers are `name:type` (e.g. `id:int64`)"),
                ));
            };
            let ty = match ty.trim().to_ascii_lowercase().as_str() {
                "int" | "int32" | "int64" | "long" => HeaderType::Int,
                "float" | "double" | "float32" | "float64" => HeaderType::Float,
                "string" | "str" => HeaderType::Str,
                other => {
                    return Err(f.error_at(
                        off,
                        Some(name.trim().to_string()),
                        format!("unknown header type `{other}` (expected int64, int32, float, double or string)"),
                    ));
                }
            };
            names.push(name.trim().to_string());
            types.push(ty);
        } else {
            if s.is_empty() {
                return Err(f.error_at(off, Some(format!("{}", i + 1)), "empty column name in the header"));
            }
            names.push(s.to_string());
        }
    }
    if let Some(dup) = names.iter().enumerate().find(|(i, n)| names[..*i].contains(n)) {
        return Err(f.error_at(off, Some(dup.1.clone()), "column name appears twice in the header"));
    }
    Ok(Header { names, types: graphlearn.then_some(types), data_start, line: Some(f.line_of(off)) })
}

/// Parses the data rows of `f` with `plan`.
pub fn parse(f: &TextFile, dialect: &Dialect, header: &Header, plan: &Plan) -> Result<Rows> {
    if dialect.quoting {
        return parse_quoted(f, dialect, header, plan);
    }
    let b = f.bytes();
    let start = header.data_start;
    let end = b.len();
    let threads = rayon::current_num_threads().max(1);
    let pieces = if end - start < (1 << 20) { 1 } else { threads * 4 };
    let mut bounds = vec![start];
    for i in 1..pieces {
        let nominal = start + (end - start) * i / pieces;
        let cut = memchr::memchr(b'\n', &b[nominal..end]).map_or(end, |p| nominal + p + 1);
        bounds.push(cut.max(*bounds.last().unwrap_or(&start)));
    }
    bounds.push(end);
    let fast = int_fields(plan, dialect);
    let parts: Vec<std::result::Result<Rows, (usize, FieldError)>> = bounds
        .par_windows(2)
        .map(|w| {
            if let Some(fields_out) = &fast {
                return parse_ints(b, w[0], w[1], plan, dialect, fields_out);
            }
            let mut rows = Rows::new(plan);
            let mut fields = Vec::new();
            for (off, line) in lines(b, w[0], w[1]) {
                if skip(line, dialect.comment) {
                    continue;
                }
                split_fields(line, dialect.delim, &mut fields);
                rows.push(plan, &fields).map_err(|e| (off, e))?;
            }
            Ok(rows)
        })
        .collect();
    let mut all = Rows::new(plan);
    all.reserve(parts.iter().map(|p| p.as_ref().map_or(0, |r| r.rows)).sum());
    for p in parts {
        match p {
            Ok(r) => all.append(r),
            Err((off, e)) => return Err(f.error_at(off, e.column, e.message)),
        }
    }
    Ok(all)
}

/// For tables whose every field is one integer column (edge lists), the
/// output of each field; `None` when the fast path does not apply.
fn int_fields(plan: &Plan, dialect: &Dialect) -> Option<Vec<usize>> {
    let n = plan.fields?;
    if n == 0 || n > 8 || dialect.quoting || plan.steps.len() != n {
        return None;
    }
    let mut out = vec![usize::MAX; n];
    for (o, step) in plan.steps.iter().enumerate() {
        match step {
            Step::Single { field, target: Target::Int, .. } if *field < n && out[*field] == usize::MAX => out[*field] = o,
            _ => return None,
        }
    }
    Some(out)
}

/// Parses one row of `n` plain integers (`-?[0-9]{1,18}`, one separator byte
/// between fields) starting at `pos`; returns the values and the start of
/// the next line, or `None` for anything else (blank or comment lines,
/// spaces, long numbers, wrong field counts, bad values), which the general
/// path then handles and reports exactly as it would without this one.
#[inline(always)]
fn int_row(b: &[u8], mut pos: usize, end: usize, sep: u8, n: usize, vals: &mut [i64; 8]) -> Option<usize> {
    for (j, slot) in vals.iter_mut().enumerate().take(n) {
        let neg = pos < end && b[pos] == b'-';
        pos += usize::from(neg);
        let start = pos;
        let mut v: i64 = 0;
        // At most 19 digits are read; 18 always fit an i64.
        while pos < end && pos - start < 19 {
            let d = b[pos].wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            v = v.wrapping_mul(10).wrapping_add(i64::from(d));
            pos += 1;
        }
        let digits = pos - start;
        if digits == 0 || digits > 18 {
            return None;
        }
        *slot = if neg { -v } else { v };
        if j + 1 < n {
            if pos >= end || b[pos] != sep {
                return None;
            }
            pos += 1;
        }
    }
    if pos < end && b[pos] == b'\r' {
        pos += 1;
    }
    if pos == end {
        return Some(pos);
    }
    (b[pos] == b'\n').then_some(pos + 1)
}

/// The fast path of [`parse`] for all-integer tables; see [`int_row`].
fn parse_ints(
    b: &[u8],
    start: usize,
    end: usize,
    plan: &Plan,
    dialect: &Dialect,
    field_out: &[usize],
) -> std::result::Result<Rows, (usize, FieldError)> {
    let n = field_out.len();
    let sep = match dialect.delim {
        Delim::Byte(d) => d,
        Delim::Whitespace => b'\t',
    };
    let mut cols: Vec<Vec<i64>> = (0..n).map(|_| Vec::with_capacity((end - start) / (4 * n) + 16)).collect();
    let mut vals = [0i64; 8];
    let mut pos = start;
    let mut fields = Vec::new();
    while pos < end {
        if let Some(next) = int_row(b, pos, end, sep, n, &mut vals) {
            for (j, &o) in field_out.iter().enumerate() {
                cols[o].push(vals[j]);
            }
            pos = next;
            continue;
        }
        // The general path for this one line.
        let stop = memchr::memchr(b'\n', &b[pos..end]).map_or(end, |i| pos + i);
        let mut line = &b[pos..stop];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        if !skip(line, dialect.comment) {
            split_fields(line, dialect.delim, &mut fields);
            let mut one = Rows::new(plan);
            one.push(plan, &fields).map_err(|e| (pos, e))?;
            for (o, builder) in one.builders.into_iter().enumerate() {
                cols[o].extend(builder.into_ints());
            }
        }
        pos = stop + 1;
    }
    let rows = cols.first().map_or(0, Vec::len);
    Ok(Rows { builders: cols.into_iter().map(crate::table::Builder::Int).collect(), rows })
}

fn csv_reader<'a>(f: &'a TextFile, dialect: &Dialect, header: &Header) -> csv::Reader<&'a [u8]> {
    let d = match dialect.delim {
        Delim::Byte(d) => d,
        Delim::Whitespace => b' ',
    };
    csv::ReaderBuilder::new().delimiter(d).has_headers(false).flexible(true).comment(dialect.comment).from_reader(&f.bytes()[header.data_start..])
}

fn parse_quoted(f: &TextFile, dialect: &Dialect, header: &Header, plan: &Plan) -> Result<Rows> {
    let first_line = f.line_of(header.data_start);
    let mut rdr = csv_reader(f, dialect, header);
    let mut rows = Rows::new(plan);
    let mut rec = csv::ByteRecord::new();
    loop {
        let more = rdr.read_byte_record(&mut rec).map_err(|e| {
            let line = e.position().map(|p| p.line() + first_line - 1);
            Error::input(f.at(line, None), format!("malformed CSV: {e}"))
        })?;
        if !more {
            break;
        }
        if rec.len() == 1 && rec[0].trim_ascii().is_empty() {
            continue;
        }
        let fields: Vec<&[u8]> = rec.iter().collect();
        if let Err(e) = rows.push(plan, &fields) {
            let line = rec.position().map(|p| p.line() + first_line - 1);
            return Err(Error::input(f.at(line, e.column), e.message));
        }
    }
    Ok(rows)
}

/// Line number of data row `row` (0-based), for errors found after parsing.
pub fn line_of_row(f: &TextFile, dialect: &Dialect, header: &Header, row: usize) -> Option<u64> {
    if dialect.quoting {
        let first_line = f.line_of(header.data_start);
        let mut rdr = csv_reader(f, dialect, header);
        let mut rec = csv::ByteRecord::new();
        let mut n = 0;
        while rdr.read_byte_record(&mut rec).ok()? {
            if rec.len() == 1 && rec[0].trim_ascii().is_empty() {
                continue;
            }
            if n == row {
                return rec.position().map(|p| p.line() + first_line - 1);
            }
            n += 1;
        }
        return None;
    }
    let b = f.bytes();
    lines(b, header.data_start, b.len()).filter(|(_, l)| !skip(l, dialect.comment)).nth(row).map(|(off, _)| f.line_of(off))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Step, Target};

    fn file(content: &[u8]) -> (tempfile::TempDir, TextFile) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.tsv");
        std::fs::write(&p, content).unwrap();
        let f = TextFile::open(&p).unwrap();
        (d, f)
    }

    fn plan2() -> Plan {
        Plan {
            steps: vec![
                Step::Single { field: 0, name: "src_id".into(), target: Target::Int },
                Step::Single { field: 1, name: "dst_id".into(), target: Target::Int },
            ],
            fields: Some(2),
        }
    }

    const TSV: Dialect = Dialect { delim: Delim::Byte(b'\t'), quoting: false, header: true, comment: None };

    #[test]
    fn graphlearn_header_with_spaces() {
        let (_d, f) = file(b"src_id: int64\tdst_id:int64\n1\t2\r\n\n3\t4\n");
        let h = read_header(&f, &TSV, true).unwrap();
        assert_eq!(h.names, ["src_id", "dst_id"]);
        let r = parse(&f, &TSV, &h, &plan2()).unwrap();
        assert_eq!(r.rows, 2);
        assert_eq!(line_of_row(&f, &TSV, &h, 1), Some(4));
    }

    #[test]
    fn bad_value_names_line_and_column() {
        let (_d, f) = file(b"src_id:int64\tdst_id:int64\n1\t2\n3\tx\n");
        let h = read_header(&f, &TSV, true).unwrap();
        let e = parse(&f, &TSV, &h, &plan2()).unwrap_err().to_string();
        assert!(e.ends_with("t.tsv:3: column `dst_id`: `x` is not an integer"), "{e}");
    }

    #[test]
    fn integer_fast_path_agrees_with_the_general_parser() {
        // Plain rows, and every kind of row the fast path hands back: blank
        // lines, CRLF, signs, spaces, 19-digit ids, a missing final newline.
        let body = b"src_id:int64\tdst_id:int64\n1\t2\n-3\t4\r\n\n+5\t 6\n9223372036854775807\t0\n7\t8";
        let (_d, f) = file(body);
        let h = read_header(&f, &TSV, true).unwrap();
        let fast = parse(&f, &TSV, &h, &plan2()).unwrap();
        let mut general_plan = plan2();
        general_plan.fields = None;
        assert!(int_fields(&general_plan, &TSV).is_none());
        let general = parse(&f, &TSV, &h, &general_plan).unwrap();
        let ints = |r: Rows| r.builders.into_iter().map(|b| b.into_ints()).collect::<Vec<_>>();
        assert_eq!(fast.rows, 5);
        assert_eq!(ints(fast), vec![vec![1, -3, 5, i64::MAX, 7], vec![2, 4, 6, 0, 8]]);
        assert_eq!(ints(general), vec![vec![1, -3, 5, i64::MAX, 7], vec![2, 4, 6, 0, 8]]);
        // Errors still name the line, whichever path met the row.
        for (bad, want) in [
            (&b"1\t2\n3\t4\t5\n"[..], ":3: expected 2 fields, found 3"),
            (b"1\t2\n\n3\n", ":4: expected 2 fields, found 1"),
            (b"1\t2\n3\t99999999999999999999\n", ":3: column `dst_id`"),
        ] {
            let mut content = b"src_id:int64\tdst_id:int64\n".to_vec();
            content.extend_from_slice(bad);
            let (_d, f) = file(&content);
            let h = read_header(&f, &TSV, true).unwrap();
            let e = parse(&f, &TSV, &h, &plan2()).unwrap_err().to_string();
            assert!(e.contains(want), "{e} (wanted {want})");
        }
    }

    #[test]
    fn empty_file_is_an_error() {
        let (_d, f) = file(b"");
        assert!(read_header(&f, &TSV, true).unwrap_err().to_string().contains("empty"));
    }
}
