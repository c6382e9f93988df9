//! The checkpoint file (`last.ckpt`, `best.ckpt`): a magic line, a JSON
//! header and the task's payload (model parameters, optimiser state,
//! learned tables), written atomically.
//!
//! The header carries a fingerprint: every config field with its value and
//! the model's shape as the data fixed it (input width, classes, node
//! counts). Loading compares both with the run at hand and refuses with
//! every difference named, so `--resume` after a change to the model in the
//! config, or `embed` with the wrong config, fails with a message instead
//! of a panic or a silently different model. Fields that may change
//! between a run and its continuation (how long to train, where to write)
//! are listed in [`MAY_CHANGE`].

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"FGCKPT2\n";

/// Config fields that a resumed run (or a model export) may change.
pub const MAY_CHANGE: &[&str] = &["output", "train.epochs", "train.patience", "train.prefetch", "eval.every", "eval.k"];

/// What a checkpoint was made from.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Fingerprint {
    /// Every config field and its value ([`crate::config::TrainConfig::flat_fields`]).
    pub config: BTreeMap<String, String>,
    /// The model's shape as the data fixed it (`input_width`, `classes`, …).
    pub shape: BTreeMap<String, String>,
}

impl Fingerprint {
    /// The differences of `other` (the run at hand) from `self` (the
    /// checkpoint), ignoring [`MAY_CHANGE`]; empty when compatible.
    pub fn differences(&self, other: &Fingerprint) -> Vec<String> {
        let mut out = Vec::new();
        let mut cmp = |prefix: &str, a: &BTreeMap<String, String>, b: &BTreeMap<String, String>, skip: &[&str]| {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                if skip.contains(&k.as_str()) {
                    continue;
                }
                let (x, y) = (a.get(k), b.get(k));
                if x != y {
                    let show = |v: Option<&String>| v.map_or("(absent)".to_string(), Clone::clone);
                    out.push(format!("{prefix}`{k}` is {} in the checkpoint but {} now", show(x), show(y)));
                }
            }
        };
        cmp("", &self.config, &other.config, MAY_CHANGE);
        cmp("the data's ", &self.shape, &other.shape, &[]);
        out
    }
}

/// A decoded checkpoint.
#[derive(Debug)]
pub struct Checkpoint {
    /// The fingerprint.
    pub fingerprint: Fingerprint,
    /// The run loop's state (epoch, history, best), as JSON.
    pub state: serde_json::Value,
    /// The task's payload.
    pub payload: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    fingerprint: Fingerprint,
    state: serde_json::Value,
}

/// Writes a checkpoint to `path` atomically.
pub fn save(path: &Path, fingerprint: &Fingerprint, state: serde_json::Value, payload: &[u8]) -> Result<()> {
    let header =
        serde_json::to_vec(&Header { fingerprint: fingerprint.clone(), state }).map_err(|e| Error::Data(format!("checkpoint header: {e}")))?;
    let mut head = Vec::with_capacity(8 + 16 + header.len());
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&(header.len() as u64).to_le_bytes());
    head.extend_from_slice(&header);
    head.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    ferrograph_graph::atomic::write_with(path, |w| {
        use std::io::Write;
        w.write_all(&head)?;
        w.write_all(payload)
    })?;
    Ok(())
}

/// Reads a checkpoint; a file that is not one, or is cut short, is an error
/// naming it.
pub fn load(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bad = |m: &str| Error::Corrupt { path: path.to_path_buf(), message: m.to_string() };
    if bytes.len() < 8 || &bytes[..8] != MAGIC {
        return Err(bad("not a ferrograph checkpoint (or one written by an older version)"));
    }
    let mut parts = Sections::reader(&bytes[8..]);
    let header = parts.next_part().ok_or_else(|| bad("truncated header"))?;
    let header: Header = serde_json::from_slice(header).map_err(|e| bad(&format!("header: {e}")))?;
    let payload = parts.next_part().ok_or_else(|| bad("truncated payload"))?.to_vec();
    if !parts.is_empty() {
        return Err(bad("trailing bytes after the payload"));
    }
    Ok(Checkpoint { fingerprint: header.fingerprint, state: header.state, payload })
}

/// Loads `path` and checks its fingerprint against `now`.
pub fn load_compatible(path: &Path, now: &Fingerprint) -> Result<Checkpoint> {
    let c = load(path)?;
    let diff = c.fingerprint.differences(now);
    if !diff.is_empty() {
        return Err(Error::Mismatch { path: path.to_path_buf(), differences: diff.join("; ") });
    }
    Ok(c)
}

/// Length-prefixed byte sections: how tasks pack several blobs (model,
/// optimiser, tables) into one payload.
pub struct Sections<'a> {
    rest: &'a [u8],
}

impl<'a> Sections<'a> {
    /// Packs `parts`.
    pub fn pack(parts: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 8).sum());
        for p in parts {
            out.extend_from_slice(&(p.len() as u64).to_le_bytes());
            out.extend_from_slice(p);
        }
        out
    }

    /// Reads sections from `bytes`.
    pub fn reader(bytes: &'a [u8]) -> Self {
        Sections { rest: bytes }
    }

    /// The next section, or `None` when the bytes end early.
    pub fn next_part(&mut self) -> Option<&'a [u8]> {
        let len = u64::from_le_bytes(self.rest.get(..8)?.try_into().ok()?);
        let len = usize::try_from(len).ok()?;
        let part = self.rest.get(8..8usize.checked_add(len)?)?;
        self.rest = &self.rest[8 + len..];
        Some(part)
    }

    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Exactly `n` sections, or an error naming `what`.
    pub fn unpack(bytes: &'a [u8], n: usize, what: &str) -> Result<Vec<&'a [u8]>> {
        let mut r = Sections::reader(bytes);
        let parts: Vec<&[u8]> = (0..n).map_while(|_| r.next_part()).collect();
        if parts.len() != n || !r.is_empty() {
            return Err(Error::Data(format!("{what}: expected {n} sections in the checkpoint payload")));
        }
        Ok(parts)
    }
}

/// `f32` values as little-endian bytes.
pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Little-endian bytes as `f32` values (`None` when the length is not a multiple of 4).
pub fn bytes_f32(b: &[u8]) -> Option<Vec<f32>> {
    b.len().is_multiple_of(4).then(|| b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_kind_of_bad_file() {
        let dir = std::env::temp_dir().join(format!("fg-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.ckpt");
        let mut fp = Fingerprint::default();
        fp.config.insert("model.hidden".into(), "[64]".into());
        fp.config.insert("train.epochs".into(), "10".into());
        fp.shape.insert("classes".into(), "7".into());
        save(&p, &fp, serde_json::json!({"epoch": 3}), &Sections::pack(&[b"abc", b""])).unwrap();
        let c = load(&p).unwrap();
        assert_eq!(c.state["epoch"], 3);
        assert_eq!(Sections::unpack(&c.payload, 2, "t").unwrap(), vec![&b"abc"[..], &b""[..]]);
        let mut now = fp.clone();
        now.config.insert("train.epochs".into(), "20".into());
        assert!(load_compatible(&p, &now).is_ok(), "epochs may change");
        now.config.insert("model.hidden".into(), "[128]".into());
        now.shape.insert("classes".into(), "8".into());
        let e = load_compatible(&p, &now).unwrap_err().to_string();
        assert!(e.contains("`model.hidden` is [64] in the checkpoint but [128] now"), "{e}");
        assert!(e.contains("`classes` is 7"), "{e}");
        let full = std::fs::read(&p).unwrap();
        for cut in [0, 5, 9, 20, full.len() - 1] {
            std::fs::write(&p, &full[..cut]).unwrap();
            assert!(load(&p).is_err(), "cut at {cut}");
        }
        std::fs::write(&p, b"FGCKPT2\n\xff\xff\xff\xff\xff\xff\xff\xff").unwrap();
        assert!(load(&p).unwrap_err().to_string().contains("truncated"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
