//! Append-only score records (JSONL or CSV): one line per scored architecture, flushed as it
//! completes, so a killed run loses nothing and a rerun skips what is already there.
//!
//! A line cut short by a kill (no trailing newline) is dropped when the file is opened again.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The score components of one architecture under one protocol.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScoreRecord {
    /// Protocol key ([`super::Protocol::key`]).
    pub key: String,
    /// Architecture string (as scored; functionally identical strings are scored apart).
    pub arch: String,
    /// InTrain I.
    #[serde(deserialize_with = "nan_if_null")]
    pub intrain: f64,
    /// γ = Σ log PR.
    #[serde(deserialize_with = "nan_if_null")]
    pub gamma: f64,
    /// o = Σ h.
    #[serde(deserialize_with = "nan_if_null")]
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
    #[serde(deserialize_with = "nan_if_null")]
    pub loss: f64,
    /// Parameters of the network.
    pub params: u64,
    /// FLOPs of one sample at the space's resolution, in the space's convention.
    pub flops: u64,
    /// Multiply-accumulates of one sample at the space's resolution.
    pub macs: u64,
    /// Seconds spent scoring (lowering, differentiation, session, pass, reductions).
    #[serde(deserialize_with = "nan_if_null")]
    pub seconds: f64,
    /// Seconds of the forward + backward pass alone.
    #[serde(deserialize_with = "nan_if_null")]
    pub pass_seconds: f64,
    /// Values of the proxies of their own passes, by name (NaN where undefined).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "nan_map")]
    pub proxies: BTreeMap<String, f64>,
}

const CSV_COLUMNS: [&str; 16] = [
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
    "proxies",
];

/// The columns of files written before the proxies column (read, and appended to in kind).
const CSV_COLUMNS_V1: &[&str] = CSV_COLUMNS.split_at(CSV_COLUMNS.len() - 1).0;

impl ScoreRecord {
    /// The CSV fields, in [`CSV_COLUMNS`] order: floats as `{:e}` (exact), seconds to 4 and
    /// pass seconds to 5 decimals, proxies as `name=value` joined by `;`.
    fn csv_row(&self) -> [String; 16] {
        let f = |x: f64| format!("{x:e}");
        [
            self.key.clone(),
            self.arch.clone(),
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
            self.proxies.iter().map(|(k, v)| format!("{k}={v:e}")).collect::<Vec<_>>().join(";"),
        ]
    }

    /// A record from one CSV row, its fields taken as the [`CSV_COLUMNS`] in that order; `None`
    /// unless there are as many and every number parses.
    fn from_csv(fields: &csv::StringRecord) -> Option<ScoreRecord> {
        let n = CSV_COLUMNS_V1.len();
        if fields.len() != n && fields.len() != CSV_COLUMNS.len() {
            return None;
        }
        let first: csv::StringRecord = fields.iter().take(n).collect();
        let mut r: ScoreRecord =
            first.deserialize(Some(&csv::StringRecord::from(CSV_COLUMNS_V1))).ok()?;
        for pair in fields.get(n).unwrap_or("").split(';').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=')?;
            r.proxies.insert(k.to_string(), v.parse().ok()?);
        }
        Some(r)
    }
}

/// A number that JSON wrote as `null` (serde_json writes NaN and ±inf as `null`) reads back as
/// NaN, so a record of a diverging architecture survives reopening its file.
pub fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// A map of numbers in which JSON `null` reads back as NaN (see [`nan_if_null`]).
fn nan_map<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<BTreeMap<String, f64>, D::Error> {
    let m = BTreeMap::<String, Option<f64>>::deserialize(d)?;
    Ok(m.into_iter().map(|(k, v)| (k, v.unwrap_or(f64::NAN))).collect())
}

/// A CSV reader of text with a header line (RFC 4180 quoting; rows may differ in length, so
/// that callers can name the line that does not fit).
pub(crate) fn csv_reader(text: &str) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes())
}

/// Whether a CSV record is a blank line (only spaces).
pub(crate) fn is_blank(record: &csv::StringRecord) -> bool {
    record.len() == 1 && record[0].trim().is_empty()
}

/// The 1-based line of `text` where a CSV record starts. (The reader's position is where it
/// started looking, before the empty lines it skips.)
pub(crate) fn csv_line(text: &str, record: &csv::StringRecord) -> u64 {
    let Some(at) = record.position() else { return 0 };
    let rest = usize::try_from(at.byte()).ok().and_then(|b| text.as_bytes().get(b..));
    let skipped = rest.map_or(0, |r| {
        r.iter().take_while(|&&b| b == b'\n' || b == b'\r').filter(|&&b| b == b'\n').count()
    });
    at.line() + skipped as u64
}

/// One CSV row with its newline, fields quoted where RFC 4180 needs it (a comma, a quote or a
/// line break inside).
pub(crate) fn csv_row_bytes<T: AsRef<[u8]>>(fields: &[T]) -> csv::Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    w.write_record(fields)?;
    w.into_inner().map_err(|e| e.into_error().into())
}

/// A CSV error as ours, naming the file.
pub fn csv_error(path: &Path, e: csv::Error) -> Error {
    let message = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(source) => Error::Io { path: path.to_path_buf(), source },
        _ => Error::Data(format!("{}: {message}", path.display())),
    }
}

/// Reads an append-only text file (empty when absent): its text and the length of its complete
/// lines (a line cut short by a kill has no newline yet).
pub(crate) fn read_complete_lines(path: &Path) -> Result<(String, usize)> {
    let text = match crate::limits::read_file(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            String::new()
        }
        Err(e) => return Err(e),
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
    /// A CSV file written before the proxies column.
    CsvWithoutProxies,
}

/// The records of the complete lines `text` of a record file `path` (named in errors), and its
/// format as read (a CSV file may be of the older columns).
fn parse(text: &str, format: Format, path: &Path) -> Result<(Vec<ScoreRecord>, Format)> {
    let not_a_record = |line: u64| {
        Error::Data(format!(
            "{}: line {line} is not a score record (is this the right file?)",
            path.display()
        ))
    };
    let mut records = Vec::new();
    let mut format = format;
    match format {
        Format::Jsonl => {
            for (i, line) in (1..).zip(text.lines()) {
                if !line.trim().is_empty() {
                    records.push(serde_json::from_str(line).map_err(|_| not_a_record(i))?);
                }
            }
        }
        Format::Csv if !text.is_empty() => {
            let mut rows = csv_reader(text);
            for row in rows.records() {
                let row = row.map_err(|e| not_a_record(e.position().map_or(0, |p| p.line())))?;
                if !is_blank(&row) {
                    records.push(
                        ScoreRecord::from_csv(&row)
                            .ok_or_else(|| not_a_record(csv_line(text, &row)))?,
                    );
                }
            }
            let header = rows.headers().map_err(|e| csv_error(path, e))?;
            if header.iter().eq(CSV_COLUMNS_V1.iter().copied()) {
                format = Format::CsvWithoutProxies;
            } else if header.iter().ne(CSV_COLUMNS) {
                return Err(Error::Data(format!(
                    "{}: header is not intrain's score columns ({})",
                    path.display(),
                    CSV_COLUMNS.join(",")
                )));
            }
        }
        Format::Csv | Format::CsvWithoutProxies => {}
    }
    Ok((records, format))
}

/// Parses the complete lines of a record file, as [`RecordFile::open`] does, without opening
/// one (CSV when `csv`, else JSONL); errors name `origin`.
pub fn parse_records(text: &str, csv: bool, origin: &Path) -> Result<Vec<ScoreRecord>> {
    let format = if csv { Format::Csv } else { Format::Jsonl };
    Ok(parse(text, format, origin)?.0)
}

/// An append-only record file with the records already in it, indexed by (key, arch); the lines
/// of one architecture and protocol merge into one record.
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
        let (records, format) = parse(&text[..complete], format, path)?;
        let mut out = open_for_append(path, complete)?;
        if format == Format::Csv && complete == 0 {
            let header = csv_row_bytes(&CSV_COLUMNS).map_err(|e| csv_error(path, e))?;
            out.write_all(&header).map_err(io)?;
            out.flush().map_err(io)?;
        }
        let mut file = RecordFile {
            path: path.to_path_buf(),
            format,
            out,
            known: HashMap::new(),
            records: vec![],
        };
        for r in records {
            file.insert(r);
        }
        Ok(file)
    }

    /// Indexes a record. A later record of the same architecture and protocol merges into the
    /// earlier one: its fields replace the earlier ones, and the proxies of both are kept (the
    /// later value where both have one), so that record files written apart (in parallel, on
    /// several machines) and concatenated lose nothing.
    fn insert(&mut self, mut r: ScoreRecord) {
        match self.known.get(&(r.key.clone(), r.arch.clone())) {
            Some(&i) => {
                let mut proxies = std::mem::take(&mut self.records[i].proxies);
                proxies.append(&mut r.proxies);
                r.proxies = proxies;
                self.records[i] = r;
            }
            None => {
                self.known.insert((r.key.clone(), r.arch.clone()), self.records.len());
                self.records.push(r);
            }
        }
    }

    /// The record of `arch` under protocol `key`, if present.
    pub fn get(&self, key: &str, arch: &str) -> Option<&ScoreRecord> {
        self.known.get(&(key.to_string(), arch.to_string())).map(|&i| &self.records[i])
    }

    /// All records, one per architecture and protocol (merged), in the order of their first
    /// line.
    pub fn records(&self) -> &[ScoreRecord] {
        &self.records
    }

    /// Appends a record and flushes it to disk.
    pub fn append(&mut self, r: ScoreRecord) -> Result<()> {
        let io = |source| Error::Io { path: self.path.clone(), source };
        let line = match self.format {
            Format::Jsonl => {
                let mut line = serde_json::to_vec(&r)
                    .map_err(|e| Error::Data(format!("{}: {e}", self.path.display())))?;
                line.push(b'\n');
                line
            }
            Format::Csv => csv_row_bytes(&r.csv_row()).map_err(|e| csv_error(&self.path, e))?,
            Format::CsvWithoutProxies if !r.proxies.is_empty() => {
                return Err(Error::Data(format!(
                    "{}: written by an earlier intrain, without a proxies column; give a new file for these proxies",
                    self.path.display()
                )));
            }
            Format::CsvWithoutProxies => csv_row_bytes(&r.csv_row()[..CSV_COLUMNS_V1.len()])
                .map_err(|e| csv_error(&self.path, e))?,
        };
        self.out.write_all(&line).map_err(io)?;
        self.out.flush().map_err(io)?;
        self.insert(r);
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
            proxies: BTreeMap::new(),
        }
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, good) in
            [("s.csv", format!("{}\n", CSV_COLUMNS.join(","))), ("s.jsonl", String::new())]
        {
            let path = dir.path().join(name);
            {
                let mut f = RecordFile::open(&path).expect("open");
                f.append(rec("|a~0|,x", 1.0)).expect("append");
            }
            let mut text = std::fs::read_to_string(&path).expect("read");
            assert!(text.starts_with(&good));
            text.push_str("\n  \nnot,a,record\n");
            std::fs::write(&path, text).expect("write");
            let e = RecordFile::open(&path).expect_err("not a record").to_string();
            let line = if name.ends_with("csv") { 5 } else { 4 };
            assert!(
                e.ends_with(&format!(
                    "{name}: line {line} is not a score record (is this the right file?)"
                )),
                "{e}"
            );
        }
        let path = dir.path().join("h.csv");
        std::fs::write(&path, "arch,acc\n").expect("write");
        let e = RecordFile::open(&path).expect_err("header").to_string();
        assert!(e.contains("h.csv: header is not intrain's score columns (key,arch,"), "{e}");
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

    #[test]
    fn concatenated_files_merge_the_proxies_of_an_architecture() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
        let mut first = rec("|a~0|", 1.0);
        first.proxies = BTreeMap::from([("snip".into(), 1.0), ("zico".into(), 2.0)]);
        let mut second = rec("|a~0|", 1.5);
        second.proxies = BTreeMap::from([("zico".into(), 3.0), ("meco".into(), 4.0)]);
        RecordFile::open(&a).expect("open").append(first).expect("append");
        let mut f = RecordFile::open(&b).expect("open");
        f.append(rec("|b~0|", 5.0)).expect("append");
        f.append(second).expect("append");
        drop(f);
        let both = dir.path().join("both.jsonl");
        let text =
            std::fs::read_to_string(&a).expect("a") + &std::fs::read_to_string(&b).expect("b");
        std::fs::write(&both, text).expect("write");
        let f = RecordFile::open(&both).expect("open");
        assert_eq!(f.records().len(), 2);
        assert_eq!(f.records()[0].arch, "|a~0|", "first appearance keeps its place");
        let r = f.get("k/b64", "|a~0|").expect("record");
        assert_eq!(r.intrain, 1.5, "the later line's fields");
        let want =
            BTreeMap::from([("meco".into(), 4.0), ("snip".into(), 1.0), ("zico".into(), 3.0)]);
        assert_eq!(r.proxies, want);
    }

    #[test]
    fn non_finite_scores_survive_a_jsonl_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("scores.jsonl");
        let mut r = rec("|a~0|", f64::NAN);
        r.gamma = f64::INFINITY;
        RecordFile::open(&path).expect("open").append(r).expect("append");
        let f = RecordFile::open(&path).expect("reopen");
        let back = f.get("k/b64", "|a~0|").expect("record");
        assert!(back.intrain.is_nan() && back.gamma.is_nan(), "{back:?}");
    }

    #[test]
    fn proxy_values_survive_both_formats_and_old_csv_files_refuse_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut r = rec("|a~0|", 1.0);
        r.proxies.insert("snip".into(), 28.5);
        r.proxies.insert("naswot".into(), f64::NAN);
        for name in ["p.jsonl", "p.csv"] {
            let path = dir.path().join(name);
            RecordFile::open(&path).expect("open").append(r.clone()).expect("append");
            let f = RecordFile::open(&path).expect("reopen");
            let back = f.get("k/b64", "|a~0|").expect("record");
            assert_eq!(back.proxies["snip"], 28.5, "{name}");
            assert!(back.proxies["naswot"].is_nan(), "{name}");
        }
        let old = dir.path().join("old.csv");
        std::fs::write(&old, format!("{}\n", CSV_COLUMNS_V1.join(","))).expect("write");
        let mut f = RecordFile::open(&old).expect("open an old file");
        f.append(rec("|b~0|", 2.0)).expect("a record without proxies fits the old columns");
        let e = f.append(r).expect_err("proxies need the new column").to_string();
        assert!(e.contains("old.csv: written by an earlier intrain"), "{e}");
        let text = std::fs::read_to_string(&old).expect("read");
        assert_eq!(text.lines().nth(1).map(|l| l.split(',').count()), Some(15));
    }
}
