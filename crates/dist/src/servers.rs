//! The servers file of a distributed run (`ferrograph train CONFIG
//! --servers SERVERS.toml`): where the partition book is and which address
//! serves each partition.
//!
//! ```toml
//! book = "parts"                                # the book's folder, relative to this file
//! servers = ["10.0.0.1:7100", "10.0.0.2:7100"]  # partition 0, 1, … in order
//! token_file = "token"                          # else the FERROGRAPH_TOKEN variable
//! deadline_ms = 2000                            # optional: per-call deadline
//! attempts = 3                                  # optional: attempts per call
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::{ClientOptions, Error, RemoteGraph, Result};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    book: PathBuf,
    servers: Vec<String>,
    token_file: Option<PathBuf>,
    deadline_ms: Option<u64>,
    attempts: Option<u32>,
}

/// A parsed servers file.
#[derive(Clone, Debug)]
pub struct Servers {
    /// The partition book's folder.
    pub book: PathBuf,
    /// Address of each partition's server, in partition order.
    pub addrs: Vec<String>,
    /// The shared-secret token.
    pub token: String,
    /// Deadlines and retries.
    pub options: ClientOptions,
}

impl Servers {
    /// Reads `path`; every mistake names the file and the field.
    pub fn load(path: &Path) -> Result<Servers> {
        let bad = |message: String| Error::Config(format!("{}: {message}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read the servers file: {e}")))?;
        let f: File = toml::from_str(&text).map_err(|e| bad(e.to_string().trim_end().replace('\n', " ")))?;
        let base = path.parent().unwrap_or(Path::new("."));
        if f.servers.is_empty() {
            return Err(bad("`servers` lists no address".into()));
        }
        let token = match &f.token_file {
            Some(t) => {
                let t = base.join(t);
                std::fs::read_to_string(&t).map_err(|e| bad(format!("`token_file` {}: {e}", t.display())))?.trim().to_string()
            }
            None => std::env::var("FERROGRAPH_TOKEN").map_err(|_| bad("no token: set `token_file` or the FERROGRAPH_TOKEN variable".into()))?,
        };
        let mut options = ClientOptions::default();
        if let Some(ms) = f.deadline_ms {
            if ms == 0 || ms > 600_000 {
                return Err(bad(format!("`deadline_ms` = {ms}: give 1 to 600000 milliseconds")));
            }
            options.deadline = Duration::from_millis(ms);
        }
        if let Some(a) = f.attempts {
            if a == 0 || a > 100 {
                return Err(bad(format!("`attempts` = {a}: give 1 to 100")));
            }
            options.attempts = a;
        }
        Ok(Servers { book: base.join(f.book), addrs: f.servers, token, options })
    }

    /// Connects to every server (each checked against the book).
    pub fn connect(&self) -> Result<RemoteGraph> {
        RemoteGraph::connect(&self.book, &self.addrs, &self.token, self.options)
    }
}
