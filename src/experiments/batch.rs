//! Batch scoring: many architectures of a space into an append-only record file, skipping
//! those already scored under the same protocol.

use std::collections::HashSet;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::scoring::shard::{Manifest, Shard};
use crate::scoring::{Protocol, Scorer, space_id};
use crate::space::{Arch, SearchSpace, rng};

/// Reads an architecture list: one string per line, blank lines and `#` comments ignored.
pub fn read_arch_list(space: &SearchSpace, path: &Path) -> Result<Vec<Arch>> {
    let text = crate::limits::read_text(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let a = Arch::parse(space, line)
            .map_err(|e| Error::ArchString(format!("{}:{}: {e}", path.display(), i + 1)))?;
        out.push(a);
    }
    if out.is_empty() {
        return Err(Error::Data(format!("{}: lists no architecture", path.display())));
    }
    Ok(out)
}

/// `n` functionally distinct seeded uniform samples (fewer if the space has fewer).
pub fn distinct_samples(space: &SearchSpace, n: usize, seed: u64) -> Vec<Arch> {
    let mut r = rng(seed);
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut tries = 0usize;
    while out.len() < n && tries < n.saturating_mul(50).max(1000) {
        tries += 1;
        let a = Arch::sample(space, &mut r);
        if seen.insert(a.canonical(space)) {
            out.push(a);
        }
    }
    out
}

/// Shard `shard`'s part of `archs` (by canonical form), after writing beside the record file
/// `out` the manifest of what the shard owes: each of its architectures under each protocol key
/// of `keys` (and the fingerprint of the whole job, so that merge does not mix jobs).
pub fn take_shard(
    space: &SearchSpace,
    archs: Vec<Arch>,
    keys: &[String],
    shard: Shard,
    out: &Path,
) -> Result<Vec<Arch>> {
    let all: Vec<String> = archs.iter().map(|a| a.format(space)).collect();
    let (mine, names): (Vec<Arch>, Vec<String>) =
        archs.into_iter().zip(all.iter().cloned()).filter(|(a, _)| shard.owns(space, a)).unzip();
    Manifest::new(shard, keys, &all, &names).write(out)?;
    Ok(mine)
}

/// What a batch scoring did.
#[derive(Debug, Clone, Serialize)]
pub struct BatchSummary {
    /// The record file.
    pub out: String,
    /// The protocol key.
    pub key: String,
    /// Architectures asked for.
    pub requested: usize,
    /// Architectures scored now.
    pub scored: usize,
    /// Architectures already in the file.
    pub skipped: usize,
    /// The best architecture by InTrain in the file under this protocol.
    pub best_arch: Option<String>,
    /// Its InTrain.
    pub best_intrain: Option<f64>,
}

/// Scores `archs` of `space` under `p` through `scorer` (whose record file receives them); with
/// `shard`, only that shard's part, after writing its manifest beside the record file.
pub fn score_all(
    scorer: &mut Scorer<'_>,
    space: &SearchSpace,
    archs: Vec<Arch>,
    p: &Protocol,
    shard: Option<Shard>,
    bar: &indicatif::ProgressBar,
) -> Result<BatchSummary> {
    let key = p.key(&space_id(space), space.spec.input.resolution);
    let path = scorer.records().map(|f| f.path().to_path_buf());
    let archs = match (shard, &path) {
        (Some(s), Some(path)) => take_shard(space, archs, std::slice::from_ref(&key), s, path)?,
        (Some(_), None) => {
            return Err(Error::Settings("a shard needs a record file for its manifest".into()));
        }
        (None, _) => archs,
    };
    let out = path.map(|f| f.display().to_string()).unwrap_or_default();
    bar.set_length(archs.len() as u64);
    let before = scorer.scored();
    let mut best: Option<(f64, String)> = scorer
        .records()
        .into_iter()
        .flat_map(|f| f.records())
        .filter(|r| r.key == key)
        .map(|r| (r.intrain, r.arch.clone()))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    scorer.get_or_score_all(space, &archs, p, &mut |r| {
        if best.as_ref().is_none_or(|b| r.intrain > b.0) {
            best = Some((r.intrain, r.arch.clone()));
        }
        if let Some((v, _)) = &best {
            bar.set_message(format!("best I {v:.3}"));
        }
        bar.inc(1);
    })?;
    let scored = scorer.scored() - before;
    Ok(BatchSummary {
        out,
        key,
        requested: archs.len(),
        scored,
        skipped: archs.len() - scored,
        best_intrain: best.as_ref().map(|b| b.0),
        best_arch: best.map(|b| b.1),
    })
}
