//! Typed column builders filled row by row from any table format, and their
//! conversion to graph columns.
//!
//! A [`Plan`] says which source field feeds which output and how to parse it;
//! [`Rows`] holds the outputs of one chunk of a file; chunks parsed in
//! parallel are appended in file order.

use rustc_hash::FxHashMap;

use ferrograph_graph::array::StringArray;
use ferrograph_graph::column::Column;

use crate::config::{ColumnSpec, ValueType};

/// How one output column is parsed from a field.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// 64-bit integer.
    Int,
    /// 32-bit float.
    Float,
    /// A string (ids, categorical attributes).
    Str,
    /// A string hashed into buckets.
    Hashed(u32),
    /// `dim` floats in one field separated by `sep`.
    Vector {
        /// Length.
        dim: usize,
        /// Separator.
        sep: u8,
    },
}

impl Target {
    /// From a config column spec.
    pub fn from_spec(c: &ColumnSpec) -> Target {
        match c.ty {
            ValueType::Int => Target::Int,
            ValueType::Float => Target::Float,
            ValueType::String => c.buckets.map_or(Target::Str, Target::Hashed),
            ValueType::FloatVector => {
                Target::Vector { dim: c.dim.unwrap_or(1) as usize, sep: c.delimiter.as_deref().and_then(|d| d.bytes().next()).unwrap_or(b':') }
            }
        }
    }

    /// Human name for messages.
    pub fn describe(&self) -> String {
        match self {
            Target::Int => "an integer".into(),
            Target::Float => "a float".into(),
            Target::Str => "a string".into(),
            Target::Hashed(b) => format!("a string hashed into {b} buckets"),
            Target::Vector { dim, .. } => format!("a vector of {dim} floats"),
        }
    }

    /// Number of values this target takes from a joined attribute string.
    fn width(&self) -> usize {
        match self {
            Target::Vector { dim, .. } => *dim,
            _ => 1,
        }
    }
}

/// One source field and what it feeds.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// The field is one value.
    Single {
        /// Index of the field in the row.
        field: usize,
        /// Column name for errors.
        name: String,
        /// Parse as.
        target: Target,
    },
    /// The field joins several attributes with `sep` (graph-learn decoder).
    Joined {
        /// Index of the field in the row.
        field: usize,
        /// Column name for errors.
        name: String,
        /// Separator.
        sep: u8,
        /// The attributes in order.
        targets: Vec<Target>,
    },
}

/// The parse plan of a table: steps in order; outputs are numbered in step
/// order (a joined step contributes one output per attribute).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// The steps.
    pub steps: Vec<Step>,
    /// Number of fields every row must have (`None`: at least the largest index + 1).
    pub fields: Option<usize>,
}

impl Plan {
    /// Output targets in order.
    pub fn outputs(&self) -> Vec<Target> {
        self.steps
            .iter()
            .flat_map(|s| match s {
                Step::Single { target, .. } => vec![target.clone()],
                Step::Joined { targets, .. } => targets.clone(),
            })
            .collect()
    }

    fn min_fields(&self) -> usize {
        self.steps
            .iter()
            .map(|s| match s {
                Step::Single { field, .. } | Step::Joined { field, .. } => field + 1,
            })
            .max()
            .unwrap_or(0)
    }
}

/// A parse failure inside one row; the caller adds file and line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Column name (or 1-based position).
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// Growing storage of one output column.
#[derive(Debug)]
pub enum Builder {
    /// Integers.
    Int(Vec<i64>),
    /// Floats.
    Float(Vec<f32>),
    /// Strings: bytes and `rows + 1` offsets.
    Str(Vec<u8>, Vec<u64>),
    /// Hashed strings.
    Hashed(u32, Vec<u32>),
    /// Vectors, row-major.
    Vector(usize, Vec<f32>),
}

impl Builder {
    fn new(t: &Target) -> Builder {
        match t {
            Target::Int => Builder::Int(Vec::new()),
            Target::Float => Builder::Float(Vec::new()),
            Target::Str => Builder::Str(Vec::new(), vec![0]),
            Target::Hashed(b) => Builder::Hashed(*b, Vec::new()),
            Target::Vector { dim, .. } => Builder::Vector(*dim, Vec::new()),
        }
    }

    fn append(&mut self, other: Builder) {
        match (self, other) {
            (Builder::Int(a), Builder::Int(b)) => a.extend(b),
            (Builder::Float(a), Builder::Float(b)) => a.extend(b),
            (Builder::Hashed(_, a), Builder::Hashed(_, b)) => a.extend(b),
            (Builder::Vector(_, a), Builder::Vector(_, b)) => a.extend(b),
            (Builder::Str(a, ao), Builder::Str(b, bo)) => {
                let base = a.len() as u64;
                a.extend_from_slice(&b);
                ao.extend(bo[1..].iter().map(|o| o + base));
            }
            _ => unreachable!("chunks share one plan"),
        }
    }

    /// Into an integer vector (for `Int` builders).
    pub fn into_ints(self) -> Vec<i64> {
        match self {
            Builder::Int(v) => v,
            _ => Vec::new(),
        }
    }

    /// Into a string array (for `Str` builders).
    pub fn into_strings(self) -> StringArray {
        match self {
            Builder::Str(b, o) => StringArray { offsets: o.into(), bytes: b.into() },
            _ => StringArray::from_strings::<&str>(&[]),
        }
    }

    /// Into a graph column (strings are dictionary-encoded in order of first appearance).
    pub fn into_column(self) -> Column {
        match self {
            Builder::Int(v) => Column::Int(v.into()),
            Builder::Float(v) => Column::Float(v.into()),
            Builder::Hashed(b, v) => Column::Hashed { buckets: b, codes: v.into() },
            Builder::Vector(dim, v) => Column::Vector { dim, data: v.into() },
            Builder::Str(bytes, offs) => {
                let mut dict: FxHashMap<&[u8], u32> = FxHashMap::default();
                let mut order: Vec<&[u8]> = Vec::new();
                let codes: Vec<u32> = offs
                    .windows(2)
                    .map(|w| {
                        let s = &bytes[w[0] as usize..w[1] as usize];
                        *dict.entry(s).or_insert_with(|| {
                            order.push(s);
                            (order.len() - 1) as u32
                        })
                    })
                    .collect();
                let strs: Vec<&str> = order.iter().map(|s| std::str::from_utf8(s).unwrap_or("")).collect();
                Column::Categorical { codes: codes.into(), dict: StringArray::from_strings(&strs) }
            }
        }
    }
}

/// Parsed outputs of a run of rows.
#[derive(Debug)]
pub struct Rows {
    /// One builder per plan output.
    pub builders: Vec<Builder>,
    /// Rows parsed.
    pub rows: usize,
}

/// Parses an integer field (surrounding spaces allowed).
#[inline]
pub fn parse_i64(b: &[u8]) -> Option<i64> {
    let b = b.trim_ascii();
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(i64::from(d))?;
    }
    Some(if neg { -v } else { v })
}

/// Parses a float field.
#[inline]
pub fn parse_f32(b: &[u8]) -> Option<f32> {
    let s = std::str::from_utf8(b.trim_ascii()).ok()?;
    if s.is_empty() {
        return None;
    }
    s.parse::<f32>().ok()
}

fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.chars().count() > 40 { format!("{}…", s.chars().take(40).collect::<String>()) } else { s.into_owned() }
}

impl Rows {
    /// Empty outputs for `plan`.
    pub fn new(plan: &Plan) -> Rows {
        Rows { builders: plan.outputs().iter().map(Builder::new).collect(), rows: 0 }
    }

    /// Makes room for `rows` more rows in the fixed-width builders.
    pub fn reserve(&mut self, rows: usize) {
        for b in &mut self.builders {
            match b {
                Builder::Int(v) => v.reserve(rows),
                Builder::Float(v) => v.reserve(rows),
                Builder::Hashed(_, v) => v.reserve(rows),
                Builder::Vector(d, v) => v.reserve(rows * *d),
                Builder::Str(_, o) => o.reserve(rows),
            }
        }
    }

    /// Appends rows parsed later in the file.
    pub fn append(&mut self, other: Rows) {
        for (a, b) in self.builders.iter_mut().zip(other.builders) {
            a.append(b);
        }
        self.rows += other.rows;
    }

    /// Parses one row of fields. On error the builders may hold a partial row;
    /// the whole import is abandoned then.
    pub fn push(&mut self, plan: &Plan, fields: &[&[u8]]) -> Result<(), FieldError> {
        let ok = match plan.fields {
            Some(n) => fields.len() == n,
            None => fields.len() >= plan.min_fields(),
        };
        if !ok {
            let want = plan.fields.map_or_else(|| format!("at least {}", plan.min_fields()), |n| n.to_string());
            return Err(FieldError { column: None, message: format!("expected {want} fields, found {}", fields.len()) });
        }
        let mut out = 0;
        for step in &plan.steps {
            match step {
                Step::Single { field, name, target } => {
                    push_value(&mut self.builders[out], target, fields[*field]).map_err(|m| FieldError { column: Some(name.clone()), message: m })?;
                    out += 1;
                }
                Step::Joined { field, name, sep, targets } => {
                    let want: usize = targets.iter().map(Target::width).sum();
                    let raw = fields[*field];
                    let mut parts = raw.split(|&c| c == *sep);
                    for t in targets {
                        let b = &mut self.builders[out];
                        out += 1;
                        let r = match (t, b) {
                            (Target::Vector { dim, .. }, Builder::Vector(_, v)) => {
                                let mut r = Ok(());
                                for _ in 0..*dim {
                                    match parts.next().map(|p| (p, parse_f32(p))) {
                                        Some((_, Some(x))) => v.push(x),
                                        Some((p, None)) => {
                                            r = Err(format!("`{}` is not a float", show(p)));
                                            break;
                                        }
                                        None => {
                                            r = Err(format!("expected {want} values joined by `{}`, found fewer", *sep as char));
                                            break;
                                        }
                                    }
                                }
                                r
                            }
                            (t, b) => match parts.next() {
                                Some(p) => push_value(b, t, p),
                                None => Err(format!("expected {want} values joined by `{}`, found fewer", *sep as char)),
                            },
                        };
                        r.map_err(|m| FieldError { column: Some(name.clone()), message: m })?;
                    }
                    if parts.next().is_some() {
                        let found = raw.split(|&c| c == *sep).count();
                        return Err(FieldError {
                            column: Some(name.clone()),
                            message: format!("expected {want} values joined by `{}`, found {found}", *sep as char),
                        });
                    }
                }
            }
        }
        self.rows += 1;
        Ok(())
    }
}

fn push_value(b: &mut Builder, t: &Target, raw: &[u8]) -> Result<(), String> {
    match (t, b) {
        (Target::Int, Builder::Int(v)) => v.push(parse_i64(raw).ok_or_else(|| format!("`{}` is not an integer", show(raw)))?),
        (Target::Float, Builder::Float(v)) => v.push(parse_f32(raw).ok_or_else(|| format!("`{}` is not a number", show(raw)))?),
        (Target::Str, Builder::Str(bytes, offs)) => {
            std::str::from_utf8(raw).map_err(|_| "not valid UTF-8".to_string())?;
            bytes.extend_from_slice(raw);
            offs.push(bytes.len() as u64);
        }
        (Target::Hashed(0), _) => return Err("cannot hash strings into 0 buckets".into()),
        (Target::Hashed(n), Builder::Hashed(_, v)) => v.push((xxhash_rust::xxh3::xxh3_64(raw) % u64::from(*n)) as u32),
        (Target::Vector { dim, sep }, Builder::Vector(_, v)) => {
            let before = v.len();
            for p in raw.split(|c| c == sep) {
                v.push(parse_f32(p).ok_or_else(|| format!("`{}` is not a float", show(p)))?);
            }
            let got = v.len() - before;
            if got != *dim {
                v.truncate(before);
                return Err(format!("expected {dim} values joined by `{}`, found {got}", *sep as char));
            }
        }
        _ => unreachable!("builders are made from the same targets"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ints_strictly() {
        assert_eq!(parse_i64(b" -42 "), Some(-42));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"4x"), None);
        assert_eq!(parse_i64(b""), None);
        assert_eq!(parse_i64(b"-"), None);
    }

    #[test]
    fn joined_attributes_count_is_checked() {
        let plan = Plan {
            steps: vec![Step::Joined {
                field: 0,
                name: "feature".into(),
                sep: b':',
                targets: vec![Target::Int, Target::Vector { dim: 2, sep: b':' }],
            }],
            fields: Some(1),
        };
        let mut r = Rows::new(&plan);
        r.push(&plan, &[b"3:0.5:1"]).unwrap();
        let e = r.push(&plan, &[b"3:0.5:1:7"]).unwrap_err();
        assert!(e.message.contains("expected 3 values"), "{e:?}");
        let e = r.push(&plan, &[b"3:0.5"]).unwrap_err();
        assert!(e.message.contains("fewer"), "{e:?}");
    }

    #[test]
    fn strings_are_dictionary_encoded_in_first_seen_order() {
        let plan = Plan { steps: vec![Step::Single { field: 0, name: "s".into(), target: Target::Str }], fields: Some(1) };
        let mut a = Rows::new(&plan);
        a.push(&plan, &[b"b"]).unwrap();
        let mut b = Rows::new(&plan);
        b.push(&plan, &[b"a"]).unwrap();
        b.push(&plan, &[b"b"]).unwrap();
        a.append(b);
        match a.builders.pop().unwrap().into_column() {
            Column::Categorical { codes, dict } => {
                assert_eq!(codes.as_slice(), &[0, 1, 0]);
                assert_eq!((dict.get(0), dict.get(1)), ("b", "a"));
            }
            _ => unreachable!(),
        }
    }
}
