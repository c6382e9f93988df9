//! External node ids (64-bit integers or strings) and their dense local indices.
//!
//! Lookups need no hash table in memory: a node type stores its ids in local
//! order plus the local indices sorted by id, so a lookup is a binary search
//! over (possibly memory-mapped) arrays and opening a snapshot builds nothing.

use std::fmt;

use rayon::prelude::*;

use crate::array::{Array, StringArray};
use crate::ids::LocalIdx;
use crate::schema::IdKind;

/// An id as it appears in the user's files.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExternalId {
    /// A 64-bit integer id.
    Int(i64),
    /// A string id.
    Str(String),
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExternalId::Int(i) => write!(f, "{i}"),
            ExternalId::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// The ids of one node type.
#[derive(Debug)]
pub enum NodeIds {
    /// Ids are `0..n`; the id is the local index.
    Dense(u32),
    /// Integer ids in local order, plus local indices sorted by id.
    Int {
        /// `ids[local]` is the external id.
        ids: Array<i64>,
        /// Local indices ordered by external id.
        sorted: Array<u32>,
    },
    /// String ids in local order, plus local indices sorted by id.
    Str {
        /// `ids.get(local)` is the external id.
        ids: StringArray,
        /// Local indices ordered by external id (byte order).
        sorted: Array<u32>,
    },
}

/// Two rows with the same external id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateId {
    /// The repeated id.
    pub id: ExternalId,
    /// Local index (row) of the first occurrence.
    pub first: usize,
    /// Local index (row) of the second occurrence.
    pub second: usize,
}

impl NodeIds {
    /// Integer ids in local order. Returns `Dense` when the ids are exactly `0..n` in order.
    pub fn from_ints(ids: Vec<i64>) -> Result<Self, DuplicateId> {
        let identity = ids.par_chunks(1 << 16).enumerate().all(|(c, chunk)| {
            let base = (c << 16) as i64;
            chunk.iter().enumerate().all(|(i, &x)| x == base + i as i64)
        });
        if identity {
            return Ok(NodeIds::Dense(ids.len() as u32));
        }
        let mut sorted: Vec<u32> = (0..ids.len() as u32).collect();
        sorted.par_sort_unstable_by_key(|&i| (ids[i as usize], i));
        if let Some(w) = sorted.windows(2).find(|w| ids[w[0] as usize] == ids[w[1] as usize]) {
            return Err(DuplicateId { id: ExternalId::Int(ids[w[0] as usize]), first: w[0] as usize, second: w[1] as usize });
        }
        Ok(NodeIds::Int { ids: ids.into(), sorted: sorted.into() })
    }

    /// String ids in local order.
    pub fn from_strings(ids: StringArray) -> Result<Self, DuplicateId> {
        let mut sorted: Vec<u32> = (0..ids.len() as u32).collect();
        sorted.par_sort_unstable_by(|&a, &b| ids.get(a as usize).cmp(ids.get(b as usize)).then(a.cmp(&b)));
        if let Some(w) = sorted.windows(2).find(|w| ids.get(w[0] as usize) == ids.get(w[1] as usize)) {
            return Err(DuplicateId { id: ExternalId::Str(ids.get(w[0] as usize).to_string()), first: w[0] as usize, second: w[1] as usize });
        }
        Ok(NodeIds::Str { ids, sorted: sorted.into() })
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        match self {
            NodeIds::Dense(n) => *n as usize,
            NodeIds::Int { ids, .. } => ids.len(),
            NodeIds::Str { ids, .. } => ids.len(),
        }
    }

    /// Whether the type has no nodes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kind recorded in the schema.
    pub fn kind(&self) -> IdKind {
        match self {
            NodeIds::Dense(_) => IdKind::Dense,
            NodeIds::Int { .. } => IdKind::Int,
            NodeIds::Str { .. } => IdKind::String,
        }
    }

    /// Local index of integer id `id`.
    pub fn lookup_int(&self, id: i64) -> Option<LocalIdx> {
        match self {
            NodeIds::Dense(n) => (0..i64::from(*n)).contains(&id).then_some(LocalIdx(id as u32)),
            NodeIds::Int { ids, sorted } => {
                let ids = ids.as_slice();
                let s = sorted.as_slice();
                let k = s.partition_point(|&i| ids[i as usize] < id);
                (k < s.len() && ids[s[k] as usize] == id).then(|| LocalIdx(s[k]))
            }
            NodeIds::Str { .. } => None,
        }
    }

    /// Local index of string id `id`. Integer-id types accept the decimal form.
    pub fn lookup_str(&self, id: &str) -> Option<LocalIdx> {
        match self {
            NodeIds::Str { ids, sorted } => {
                let s = sorted.as_slice();
                let k = s.partition_point(|&i| ids.get(i as usize) < id);
                (k < s.len() && ids.get(s[k] as usize) == id).then(|| LocalIdx(s[k]))
            }
            _ => id.trim().parse::<i64>().ok().and_then(|i| self.lookup_int(i)),
        }
    }

    /// External id of local index `idx` (panics if out of range).
    pub fn external(&self, idx: LocalIdx) -> ExternalId {
        match self {
            NodeIds::Dense(_) => ExternalId::Int(i64::from(idx.0)),
            NodeIds::Int { ids, .. } => ExternalId::Int(ids.as_slice()[idx.get()]),
            NodeIds::Str { ids, .. } => ExternalId::Str(ids.get(idx.get()).to_string()),
        }
    }

    /// Checks that `sorted` is a permutation ordering the ids strictly.
    pub fn check(&self) -> Result<(), String> {
        let n = self.len();
        let sorted = match self {
            NodeIds::Dense(_) => return Ok(()),
            NodeIds::Int { sorted, .. } | NodeIds::Str { sorted, .. } => sorted.as_slice(),
        };
        if sorted.len() != n || sorted.iter().any(|&i| i as usize >= n) {
            return Err("id index is not a permutation".into());
        }
        let ordered = match self {
            NodeIds::Int { ids, .. } => {
                let ids = ids.as_slice();
                sorted.windows(2).all(|w| ids[w[0] as usize] < ids[w[1] as usize])
            }
            NodeIds::Str { ids, .. } => {
                ids.check()?;
                sorted.windows(2).all(|w| ids.get(w[0] as usize) < ids.get(w[1] as usize))
            }
            NodeIds::Dense(_) => true,
        };
        if ordered { Ok(()) } else { Err("id index is out of order or holds duplicates".into()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_ids_lookup_and_duplicates() {
        let ids = NodeIds::from_ints(vec![30, 10, 20]).unwrap();
        assert_eq!(ids.lookup_int(10), Some(LocalIdx(1)));
        assert_eq!(ids.lookup_int(11), None);
        assert_eq!(ids.external(LocalIdx(0)), ExternalId::Int(30));
        assert!(matches!(NodeIds::from_ints(vec![0, 1, 2]).unwrap(), NodeIds::Dense(3)));
        let d = NodeIds::from_ints(vec![4, 5, 4]).unwrap_err();
        assert_eq!((d.first, d.second), (0, 2));
    }

    #[test]
    fn string_ids_lookup() {
        let ids = NodeIds::from_strings(StringArray::from_strings(&["bob", "alice", "carol"])).unwrap();
        assert_eq!(ids.lookup_str("alice"), Some(LocalIdx(1)));
        assert_eq!(ids.lookup_str("dave"), None);
        assert!(ids.check().is_ok());
    }
}
