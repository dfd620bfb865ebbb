//! Append-only score records (JSONL or CSV): one line per scored architecture, flushed as it
//! completes, so a killed run loses nothing and a rerun skips what is already there.
//!
//! A line cut short by a kill (no trailing newline) is dropped when the file is opened again.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The score components of one architecture under one protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScoreRecord {
    /// Protocol key ([`super::Protocol::key`]).
    pub key: String,
    /// Architecture string (as scored; functionally identical strings are scored apart).
    pub arch: String,
    /// InTrain I.
    pub intrain: f64,
    /// γ = Σ log PR.
    pub gamma: f64,
    /// o = Σ h.
    pub o: f64,
    /// Layers L.
    pub layers: usize,
    /// Parameter tensors counted in o.
    pub tensors: usize,
    /// Dead layers.
    pub dead_layers: usize,
    /// Layers or tensors with NaN/Inf.
    pub non_finite: usize,
    /// Loss of the pass.
    pub loss: f64,
    /// Parameters of the network.
    pub params: u64,
    /// FLOPs of one sample at the space's resolution, in the space's convention.
    pub flops: u64,
    /// Multiply-accumulates of one sample at the space's resolution.
    pub macs: u64,
    /// Seconds spent scoring (lowering, differentiation, session, pass, reductions).
    pub seconds: f64,
    /// Seconds of the forward + backward pass alone.
    pub pass_seconds: f64,
}

const CSV_COLUMNS: [&str; 15] = [
    "key",
    "arch",
    "intrain",
    "gamma",
    "o",
    "layers",
    "tensors",
    "dead_layers",
    "non_finite",
    "loss",
    "params",
    "flops",
    "macs",
    "seconds",
    "pass_seconds",
];

impl ScoreRecord {
    fn csv_row(&self) -> String {
        let f = |x: f64| format!("{x:e}");
        [
            csv_field(&self.key),
            csv_field(&self.arch),
            f(self.intrain),
            f(self.gamma),
            f(self.o),
            self.layers.to_string(),
            self.tensors.to_string(),
            self.dead_layers.to_string(),
            self.non_finite.to_string(),
            f(self.loss),
            self.params.to_string(),
            self.flops.to_string(),
            self.macs.to_string(),
            format!("{:.4}", self.seconds),
            format!("{:.5}", self.pass_seconds),
        ]
        .join(",")
    }

    fn from_csv(fields: &[String]) -> Option<ScoreRecord> {
        if fields.len() != CSV_COLUMNS.len() {
            return None;
        }
        let f = |i: usize| fields[i].parse::<f64>().ok();
        let u = |i: usize| fields[i].parse::<u64>().ok();
        Some(ScoreRecord {
            key: fields[0].clone(),
            arch: fields[1].clone(),
            intrain: f(2)?,
            gamma: f(3)?,
            o: f(4)?,
            layers: u(5)? as usize,
            tensors: u(6)? as usize,
            dead_layers: u(7)? as usize,
            non_finite: u(8)? as usize,
            loss: f(9)?,
            params: u(10)?,
            flops: u(11)?,
            macs: u(12)?,
            seconds: f(13)?,
            pass_seconds: f(14)?,
        })
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.into() }
}

/// Splits one CSV line (RFC 4180 quoting).
pub fn csv_split(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Reads an append-only text file (empty when absent): its text and the length of its complete
/// lines (a line cut short by a kill has no newline yet).
pub(crate) fn read_complete_lines(path: &Path) -> Result<(String, usize)> {
    let text = match std::fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => return Err(Error::Io { path: path.to_path_buf(), source }),
    };
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    Ok((text, complete))
}

/// Opens an append-only file for appending, cutting it to its first `complete` bytes (dropping
/// a partial last line). Appends are whole lines, so concurrent writers do not interleave.
pub(crate) fn open_for_append(path: &Path, complete: usize) -> Result<BufWriter<File>> {
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let file = OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
    file.set_len(complete as u64).map_err(io)?;
    Ok(BufWriter::new(file))
}

/// File format, from the extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Jsonl,
    Csv,
}

/// An append-only record file with the records already in it, indexed by (key, arch).
#[derive(Debug)]
pub struct RecordFile {
    path: PathBuf,
    format: Format,
    out: BufWriter<File>,
    known: HashMap<(String, String), usize>,
    records: Vec<ScoreRecord>,
}

impl RecordFile {
    /// Opens (creating if needed) a record file: `.csv` for CSV, anything else JSONL. Existing
    /// records are read; a partial last line is dropped.
    pub fn open(path: &Path) -> Result<RecordFile> {
        let io = |source| Error::Io { path: path.to_path_buf(), source };
        let format = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
            Format::Csv
        } else {
            Format::Jsonl
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let (text, complete) = read_complete_lines(path)?;
        let mut records = Vec::new();
        for (i, line) in text[..complete].lines().enumerate() {
            if line.trim().is_empty() || (format == Format::Csv && i == 0) {
                continue;
            }
            let r = match format {
                Format::Jsonl => serde_json::from_str(line).ok(),
                Format::Csv => ScoreRecord::from_csv(&csv_split(line)),
            };
            let r = r.ok_or_else(|| {
                Error::Usage(format!(
                    "{}: line {} is not a score record (is this the right file?)",
                    path.display(),
                    i + 1
                ))
            })?;
            records.push(r);
        }
        if format == Format::Csv && complete > 0 {
            let header = text.lines().next().unwrap_or("");
            if header != CSV_COLUMNS.join(",") {
                return Err(Error::Usage(format!(
                    "{}: header is not intrain's score columns ({})",
                    path.display(),
                    CSV_COLUMNS.join(",")
                )));
            }
        }
        let mut out = open_for_append(path, complete)?;
        if format == Format::Csv && complete == 0 {
            writeln!(out, "{}", CSV_COLUMNS.join(",")).map_err(io)?;
            out.flush().map_err(io)?;
        }
        let mut known = HashMap::new();
        for (i, r) in records.iter().enumerate() {
            known.insert((r.key.clone(), r.arch.clone()), i);
        }
        Ok(RecordFile { path: path.to_path_buf(), format, out, known, records })
    }

    /// The record of `arch` under protocol `key`, if present.
    pub fn get(&self, key: &str, arch: &str) -> Option<&ScoreRecord> {
        self.known.get(&(key.to_string(), arch.to_string())).map(|&i| &self.records[i])
    }

    /// All records, in file order.
    pub fn records(&self) -> &[ScoreRecord] {
        &self.records
    }

    /// Appends a record and flushes it to disk.
    pub fn append(&mut self, r: ScoreRecord) -> Result<()> {
        let io = |source| Error::Io { path: self.path.clone(), source };
        let line = match self.format {
            Format::Jsonl => serde_json::to_string(&r)
                .map_err(|e| Error::Usage(format!("{}: {e}", self.path.display())))?,
            Format::Csv => r.csv_row(),
        };
        writeln!(self.out, "{line}").map_err(io)?;
        self.out.flush().map_err(io)?;
        self.known.insert((r.key.clone(), r.arch.clone()), self.records.len());
        self.records.push(r);
        Ok(())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(arch: &str, i: f64) -> ScoreRecord {
        ScoreRecord {
            key: "k/b64".into(),
            arch: arch.into(),
            intrain: i,
            gamma: 1.5,
            o: 2.25,
            layers: 18,
            tensors: 40,
            dead_layers: 0,
            non_finite: 0,
            loss: 2.3,
            params: 1000,
            flops: 2000,
            macs: 900,
            seconds: 0.5,
            pass_seconds: 0.25,
        }
    }

    #[test]
    fn records_survive_reopen_and_partial_lines_are_dropped() {
        for ext in ["jsonl", "csv"] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join(format!("scores.{ext}"));
            {
                let mut f = RecordFile::open(&path).expect("open");
                f.append(rec("|a~0|,x", 1.0)).expect("append");
                f.append(rec("|b~0|", 2.0)).expect("append");
            }
            // A kill in the middle of a line.
            let mut text = std::fs::read_to_string(&path).expect("read");
            text.push_str("{\"key\":\"k/b64\",\"arch\":\"|c~");
            std::fs::write(&path, text).expect("write");
            let mut f = RecordFile::open(&path).expect("reopen");
            assert_eq!(f.records().len(), 2);
            assert_eq!(f.get("k/b64", "|a~0|,x"), Some(&rec("|a~0|,x", 1.0)));
            assert!(f.get("k/b64", "|c~0|").is_none());
            f.append(rec("|c~0|", 3.0)).expect("append");
            drop(f);
            let f = RecordFile::open(&path).expect("reopen");
            assert_eq!(f.records().len(), 3, "{ext}");
            assert_eq!(f.records()[2].intrain, 3.0);
        }
    }
}
