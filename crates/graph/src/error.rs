//! The graph crate's error type.

use std::path::PathBuf;

/// Result alias used throughout the graph crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong building, writing, opening or verifying a graph.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system error on a file, with the file named.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error (shown in the message, not chained, so it is said once).
        cause: std::io::Error,
    },
    /// A snapshot file whose content does not match the manifest or its own format.
    #[error("{}: {message}", path.display())]
    Corrupt {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A snapshot written by an unknown format version.
    #[error("{}: snapshot format version {found} is not supported (this build reads version {supported})", path.display())]
    Version {
        /// The manifest file.
        path: PathBuf,
        /// The version written in it.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// A graph assembled from inconsistent parts (lengths, indices, names).
    #[error("invalid graph: {0}")]
    Invalid(String),
    /// A name (node type, edge type, attribute) that the schema does not hold.
    #[error("unknown {what} `{name}`{}", suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    Unknown {
        /// What kind of name ("node type", "edge type", "attribute").
        what: &'static str,
        /// The name asked for.
        name: String,
        /// The closest known name, if any is close.
        suggestion: Option<String>,
    },
    /// The destination of a snapshot already exists.
    #[error("{}: already exists (use --force to replace it)", path.display())]
    Exists {
        /// The destination directory.
        path: PathBuf,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), cause: source }
    }
    pub(crate) fn corrupt(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Corrupt { path: path.into(), message: message.into() }
    }
}

/// The candidate closest to `name` by edit distance, if it is close enough to
/// be a likely typo (at most a third of the name's length, and at least 1).
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let limit = (name.chars().count() / 3).max(1);
    candidates.into_iter().map(|c| (levenshtein(name, c), c)).filter(|(d, _)| *d <= limit).min_by_key(|(d, _)| *d).map(|(_, c)| c.to_string())
}

/// Optimal-string-alignment distance: edits plus adjacent transpositions,
/// so `trian` is one step from `train`.
fn levenshtein(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, x) in d[0].iter_mut().enumerate() {
        *x = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(closest("cite", ["cites", "writes"]), Some("cites".into()));
        assert_eq!(closest("zzzz", ["cites", "writes"]), None);
        assert_eq!(closest("trian", ["train", "test"]), Some("train".into()));
    }
}
