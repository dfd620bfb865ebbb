//! The search history: one JSON line per iteration, appended and flushed as it completes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::scoring::records::{open_for_append, read_complete_lines};
use crate::scoring::{Proxy, ScoreRecord};

/// One iteration of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Iteration (0-based).
    pub iteration: usize,
    /// Value of the searched proxy.
    #[serde(deserialize_with = "crate::scoring::records::nan_if_null")]
    pub score: f64,
    /// The score was reused from a functionally identical architecture seen before.
    pub reused: bool,
    /// Canonical form of the architecture.
    pub canonical: String,
    /// Score components, costs and time.
    #[serde(flatten)]
    pub record: ScoreRecord,
}

impl HistoryEntry {
    /// An entry scoring `record` by `proxy`.
    pub fn new(
        iteration: usize,
        proxy: Proxy,
        record: ScoreRecord,
        reused: bool,
        canonical: String,
    ) -> HistoryEntry {
        let score = proxy.value(&record);
        HistoryEntry { iteration, score, reused, canonical, record }
    }
}

/// The entries of the complete lines `text` of a history file `path` (named in errors).
pub fn parse_history(text: &str, path: &Path) -> Result<Vec<HistoryEntry>> {
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let e: HistoryEntry = serde_json::from_str(line).map_err(|e| {
            Error::Data(format!("{}:{}: not a history entry: {e}", path.display(), i + 1))
        })?;
        entries.push(e);
    }
    Ok(entries)
}

/// The append-only history file.
#[derive(Debug)]
pub struct HistoryFile {
    path: PathBuf,
    out: BufWriter<File>,
}

impl HistoryFile {
    /// Opens `path`, returning the complete entries already there (a partial last line, from
    /// a kill mid-write, is cut off).
    pub fn open(path: &Path) -> Result<(HistoryFile, Vec<HistoryEntry>)> {
        let (text, complete) = read_complete_lines(path)?;
        let entries = parse_history(&text[..complete], path)?;
        let out = open_for_append(path, complete)?;
        Ok((HistoryFile { path: path.to_path_buf(), out }, entries))
    }

    /// Appends an entry and flushes it.
    pub fn append(&mut self, e: &HistoryEntry) -> Result<()> {
        let io = |source| Error::Io { path: self.path.clone(), source };
        let line = serde_json::to_string(e).map_err(|e| Error::Data(e.to_string()))?;
        writeln!(self.out, "{line}").map_err(io)?;
        self.out.flush().map_err(io)
    }
}
