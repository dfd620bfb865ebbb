//! Merging record files written apart (shards on several machines, or runs in parallel) into
//! one: cut-short last lines dropped, repeats of one architecture and protocol kept once, two
//! different scores for one of them an error, and coverage checked against the shards'
//! manifests.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::RecordFile;
use super::records::{ScoreRecord, parse_records, read_complete_lines};
use super::shard::Manifest;
use crate::error::{Error, Result};

/// What a merge did (the JSON of `intrain merge`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct MergeReport {
    /// The merged record file.
    pub out: String,
    /// Record files read.
    pub inputs: usize,
    /// Records read (complete lines; a CSV header is not one).
    pub lines: usize,
    /// Files whose last line was cut short (a killed writer); the partial line is dropped.
    pub torn: Vec<String>,
    /// Records written: one per architecture and protocol.
    pub records: usize,
    /// Lines that repeated a record already read (the same scores; their proxies joined in),
    /// dropped.
    pub duplicates: usize,
    /// Lines that gave a record already read different scores, dropped (with `keep_first`;
    /// otherwise they are an error).
    pub conflicts: usize,
    /// Coverage against the shards' manifests, when the inputs have them.
    pub coverage: Option<Coverage>,
}

/// What the shards were asked to score, against what the merged file holds.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Coverage {
    /// Number of shards.
    pub shards: usize,
    /// Shard indices without a manifest among the inputs (never started, or not given).
    pub missing_shards: Vec<usize>,
    /// (protocol key, architecture) pairs the manifests ask for.
    pub requested: usize,
    /// Those not in the merged file.
    pub missing: Vec<(String, String)>,
}

impl Coverage {
    /// Whether every shard is present and everything asked for was scored.
    pub fn complete(&self) -> bool {
        self.missing_shards.is_empty() && self.missing.is_empty()
    }
}

/// Equal, or both not finite (JSONL writes NaN and ±inf alike as `null`).
fn same(a: f64, b: f64) -> bool {
    a == b || (!a.is_finite() && !b.is_finite())
}

/// The first field in which two records of one architecture and protocol disagree (timings
/// aside), with both values.
fn conflict(a: &ScoreRecord, b: &ScoreRecord) -> Option<(String, String, String)> {
    let floats = [
        ("intrain", a.intrain, b.intrain),
        ("gamma", a.gamma, b.gamma),
        ("o", a.o, b.o),
        ("loss", a.loss, b.loss),
    ];
    if let Some((f, x, y)) = floats.iter().find(|(_, x, y)| !same(*x, *y)) {
        return Some((f.to_string(), x.to_string(), y.to_string()));
    }
    let ints = [
        ("layers", a.layers as u64, b.layers as u64),
        ("tensors", a.tensors as u64, b.tensors as u64),
        ("dead_layers", a.dead_layers as u64, b.dead_layers as u64),
        ("non_finite", a.non_finite as u64, b.non_finite as u64),
        ("params", a.params, b.params),
        ("flops", a.flops, b.flops),
        ("macs", a.macs, b.macs),
    ];
    if let Some((f, x, y)) = ints.iter().find(|(_, x, y)| x != y) {
        return Some((f.to_string(), x.to_string(), y.to_string()));
    }
    a.proxies.iter().find_map(|(name, &x)| {
        let y = *b.proxies.get(name)?;
        (!same(x, y)).then(|| (format!("proxy {name}"), x.to_string(), y.to_string()))
    })
}

/// Merges the record files `inputs` into the new record file `out` (JSONL, or CSV for `.csv`;
/// it must not exist). Each input's cut-short last line is dropped; a record repeated with the
/// same scores is kept once (the proxies of all its lines together); the same architecture and
/// protocol with different scores in two lines is an error naming both files, or with
/// `keep_first` the first line read wins (scores of one architecture computed on different
/// machines can differ in their last bits). Inputs with shard manifests beside them are checked
/// for coverage, and must come from one job.
pub fn merge(inputs: &[PathBuf], out: &Path, keep_first: bool) -> Result<MergeReport> {
    if inputs.is_empty() {
        return Err(Error::Usage("merge needs at least one record file".into()));
    }
    let mut merged: Vec<(ScoreRecord, usize)> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let (mut lines, mut duplicates, mut conflicts, mut torn) = (0, 0, 0, Vec::new());
    let mut manifests = Vec::new();
    for (f, path) in inputs.iter().enumerate() {
        if !path.is_file() {
            return Err(Error::Io {
                path: path.clone(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        let (text, complete) = read_complete_lines(path)?;
        if complete < text.len() {
            torn.push(path.display().to_string());
        }
        let csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        for r in parse_records(&text[..complete], csv, path)? {
            lines += 1;
            let k = (r.key.clone(), r.arch.clone());
            match index.get(&k) {
                Some(&i) => {
                    let (earlier, from) = &mut merged[i];
                    if let Some((field, x, y)) = conflict(earlier, &r) {
                        if keep_first {
                            conflicts += 1;
                            continue;
                        }
                        return Err(Error::Data(format!(
                            "{}: {} under protocol {}: {field} is {y} here but {x} in {} (--keep-first keeps the first)",
                            path.display(),
                            r.arch,
                            r.key,
                            inputs[*from].display()
                        )));
                    }
                    for (name, v) in r.proxies {
                        earlier.proxies.entry(name).or_insert(v);
                    }
                    duplicates += 1;
                }
                None => {
                    index.insert(k, merged.len());
                    merged.push((r, f));
                }
            }
        }
        if let Some(m) = Manifest::read(path)? {
            manifests.push((path.clone(), m));
        }
    }
    let coverage = coverage(&manifests, &index)?;
    create_new(out)?;
    let mut file = RecordFile::open(out)?;
    for (r, _) in &merged {
        file.append(r.clone())?;
    }
    Ok(MergeReport {
        out: out.display().to_string(),
        inputs: inputs.len(),
        lines,
        torn,
        records: merged.len(),
        duplicates,
        conflicts,
        coverage,
    })
}

/// Creates `out` empty, refusing a path that exists in any form (a file, an input through
/// `..` or a link): merge never writes into a file it did not create.
fn create_new(out: &Path) -> Result<()> {
    let io = |source| Error::Io { path: out.to_path_buf(), source };
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    match std::fs::OpenOptions::new().write(true).create_new(true).open(out) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::Usage(format!(
            "{}: exists; merge writes a new file (remove it to merge again)",
            out.display()
        ))),
        Err(e) => Err(io(e)),
    }
}

/// Coverage of the manifests' requests by the merged records.
fn coverage(
    manifests: &[(PathBuf, Manifest)],
    present: &HashMap<(String, String), usize>,
) -> Result<Option<Coverage>> {
    let Some((first, m0)) = manifests.first() else { return Ok(None) };
    let shards = m0.shard.count;
    let mut seen = BTreeSet::new();
    let mut requested = BTreeSet::new();
    for (path, m) in manifests {
        if m.shard.count != shards || m.job != m0.job {
            return Err(Error::Data(format!(
                "{}: shard {} of job {} but {} is shard {} of job {}: the inputs come from different jobs or splits",
                path.display(),
                m.shard,
                m.job,
                first.display(),
                m0.shard,
                m0.job
            )));
        }
        seen.insert(m.shard.index);
        requested.extend(m.requested.iter().cloned());
    }
    let missing = requested.iter().filter(|k| !present.contains_key(*k)).cloned().collect();
    Ok(Some(Coverage {
        shards,
        missing_shards: (0..shards).filter(|i| !seen.contains(i)).collect(),
        requested: requested.len(),
        missing,
    }))
}
