//! `intrain score SPACE.yaml --archs FILE | --sample N`: many architectures into an
//! append-only record file, skipping those already scored under the same protocol.

use std::collections::HashSet;
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

use super::target::TargetArgs;
use crate::error::{Error, Result};
use crate::scoring::{RecordFile, score_arch, space_id};
use crate::space::{Arch, SearchSpace, rng};

/// Reads an architecture list: one string per line, blank lines and `#` comments ignored.
pub fn read_arch_list(space: &SearchSpace, path: &Path) -> Result<Vec<Arch>> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let a = Arch::parse(space, line)
            .map_err(|e| Error::Usage(format!("{}:{}: {e}", path.display(), i + 1)))?;
        out.push(a);
    }
    if out.is_empty() {
        return Err(Error::Usage(format!("{}: lists no architecture", path.display())));
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

#[derive(Debug, Serialize)]
struct BatchSummary {
    out: String,
    key: String,
    requested: usize,
    scored: usize,
    skipped: usize,
    best_arch: Option<String>,
    best_intrain: Option<f64>,
}

/// A progress bar on stderr with ETA.
pub fn progress(len: usize, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    let style = indicatif::ProgressStyle::with_template(&format!(
        "{what} {{bar:30}} {{pos}}/{{len}} [{{elapsed_precise}} < {{eta_precise}}] {{msg}}"
    ));
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar
}

/// Runs batch scoring.
pub fn run(
    t: &TargetArgs,
    archs: Option<&Path>,
    sample: Option<usize>,
    out: &Path,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if t.layers.is_some() || t.pass.input.is_some() || t.pass.labels.is_some() {
        return Err(Error::Usage(
            "--layers, --input and --labels score one architecture (--arch); batch scoring uses the protocol's seeded inputs".into(),
        )
        .into());
    }
    let space = t.space()?;
    let p = t.protocol()?;
    let list = match (archs, sample) {
        (Some(f), _) => read_arch_list(&space, f)?,
        (None, Some(n)) => distinct_samples(&space, n, p.seed),
        (None, None) => return Err(Error::Usage("give --archs FILE or --sample N".into()).into()),
    };
    let key = p.key(&space_id(&space), space.spec.input.resolution);
    let mut records = RecordFile::open(out)?;
    let rt = t.runtime.runtime()?;
    let bar = progress(list.len(), "scoring");
    let (mut scored, mut skipped) = (0, 0);
    let mut best: Option<(f64, String)> = records
        .records()
        .iter()
        .filter(|r| r.key == key)
        .map(|r| (r.intrain, r.arch.clone()))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    for a in &list {
        let canonical = a.format(&space);
        if records.get(&key, &canonical).is_some() {
            skipped += 1;
            bar.inc(1);
            continue;
        }
        let s = score_arch(&rt, &space, a, &p)
            .map_err(|e| Error::Usage(format!("architecture {canonical}: {e}")))?;
        if best.as_ref().is_none_or(|b| s.record.intrain > b.0) {
            best = Some((s.record.intrain, canonical.clone()));
        }
        records.append(s.record)?;
        scored += 1;
        if let Some((v, _)) = &best {
            bar.set_message(format!("best I {v:.3}"));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let summary = BatchSummary {
        out: out.display().to_string(),
        key,
        requested: list.len(),
        scored,
        skipped,
        best_intrain: best.as_ref().map(|b| b.0),
        best_arch: best.map(|b| b.1),
    };
    if json {
        super::print_json(&summary)?;
    } else {
        outln!(
            "{}: {} scored, {} already there (protocol {})",
            summary.out,
            summary.scored,
            summary.skipped,
            summary.key
        );
        if let (Some(a), Some(v)) = (&summary.best_arch, summary.best_intrain) {
            outln!("best InTrain {v:.4}: {a}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
