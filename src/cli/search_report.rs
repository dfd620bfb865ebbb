//! The result of `search`: best architecture, its ONNX file, score components, best-so-far
//! curve (and ground-truth accuracy along the run when a benchmark table is given), plot.

use std::path::Path;

use serde::Serialize;

use super::search::RunFile;
use crate::error::{Error, Result};
use crate::eval::GroundTruth;
use crate::plot::{Color, Figure, Panel, Series};
use crate::search::{HistoryEntry, Search};
use crate::space::{Arch, LowerOptions, SearchSpace};

/// Ground-truth view of a run.
#[derive(Debug, Clone, Serialize)]
pub struct TruthReport {
    /// The accuracy column.
    pub column: String,
    /// Accuracy of the best architecture found.
    pub best_accuracy: Option<f64>,
    /// The best accuracy in the whole table (the optimum).
    pub optimum: f64,
    /// Accuracy of the best-so-far architecture after each iteration.
    pub best_so_far: Vec<Option<f64>>,
}

/// The outcome of a search (also `DIR/result.json`).
#[derive(Debug, Clone, Serialize)]
pub struct SearchOutcome {
    /// Iterations done.
    pub iterations: usize,
    /// Architectures scored (the rest reused a functionally identical architecture's score).
    pub evaluations: usize,
    /// Seconds spent scoring (sum over evaluations).
    pub scoring_seconds: f64,
    /// The best entry.
    pub best: Option<HistoryEntry>,
    /// Score of each iteration's candidate.
    pub scores: Vec<f64>,
    /// Best score after each iteration.
    pub best_so_far: Vec<f64>,
    /// Ground truth, with --truth.
    pub truth: Option<TruthReport>,
}

impl SearchOutcome {
    /// Summarises a search.
    pub fn new(
        search: &Search<'_>,
        truth: Option<&Path>,
        column: &str,
        arch_column: &str,
    ) -> Result<SearchOutcome> {
        let h = search.history();
        let mut best_so_far = Vec::with_capacity(h.len());
        let mut best_idx: Vec<usize> = Vec::with_capacity(h.len());
        let mut b: Option<usize> = None;
        for (i, e) in h.iter().enumerate() {
            if e.score.is_finite() && b.is_none_or(|j| e.score > h[j].score) {
                b = Some(i);
            }
            best_so_far.push(b.map_or(f64::NAN, |j| h[j].score));
            best_idx.push(b.unwrap_or(0));
        }
        let truth = match truth {
            None => None,
            Some(p) => {
                let t = GroundTruth::read(p, arch_column)?;
                let col =
                    t.column(column).map_err(|e| Error::Usage(format!("{}: {e}", p.display())))?;
                let acc = |arch: &str| t.row(arch).map(|r| col[r]);
                Some(TruthReport {
                    column: column.into(),
                    best_accuracy: search.best().and_then(|e| acc(&e.record.arch)),
                    optimum: col.iter().copied().filter(|v| v.is_finite()).fold(f64::NAN, f64::max),
                    best_so_far: best_idx
                        .iter()
                        .map(|&j| h.get(j).and_then(|e| acc(&e.record.arch)))
                        .collect(),
                })
            }
        };
        Ok(SearchOutcome {
            iterations: h.len(),
            evaluations: h.iter().filter(|e| !e.reused).count(),
            scoring_seconds: h.iter().map(|e| e.record.seconds).sum(),
            best: search.best().cloned(),
            scores: h.iter().map(|e| e.score).collect(),
            best_so_far,
            truth,
        })
    }

    /// Prints the readable summary.
    pub fn print(&self, dir: &Path) {
        let Some(b) = &self.best else {
            outln!("no iteration done");
            return;
        };
        outln!(
            "best architecture after {} iterations ({} scored, {:.1} s scoring):",
            self.iterations,
            self.evaluations,
            self.scoring_seconds
        );
        outln!("  {}", b.record.arch);
        outln!(
            "  score {:.4}   InTrain {:.4}   gamma {:.4}   o {:.4}   L {}   params {}   FLOPs {}   MACs {}",
            b.score,
            b.record.intrain,
            b.record.gamma,
            b.record.o,
            b.record.layers,
            b.record.params,
            b.record.flops,
            b.record.macs
        );
        if let Some(t) = &self.truth {
            match t.best_accuracy {
                Some(acc) => {
                    outln!("  {}: {acc:.2} (optimum of the table {:.2})", t.column, t.optimum)
                }
                None => outln!("  {}: not in the table", t.column),
            }
        }
        outln!("wrote {}/best.onnx, result.json, history.jsonl, progress.png", dir.display());
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// Writes best.onnx, result.json and progress.png into `dir`.
pub fn write_outcome(
    dir: &Path,
    space: &SearchSpace,
    run: &RunFile,
    o: &SearchOutcome,
) -> Result<()> {
    let path = dir.join("result.json");
    let text = serde_json::to_string_pretty(o).map_err(|e| Error::Usage(e.to_string()))?;
    std::fs::write(&path, text + "\n").map_err(io(&path))?;
    let Some(best) = &o.best else { return Ok(()) };
    let arch = Arch::parse(space, &best.record.arch)?;
    let g = space
        .lower(&arch, &LowerOptions { seed: Some(run.protocol.seed), ..Default::default() })?;
    crate::onnx::save(&g, &dir.join("best.onnx"))?;
    let scores: Vec<(f64, f64)> =
        (0..o.iterations).zip(&o.best_so_far).map(|(i, &s)| (i as f64 + 1.0, s)).collect();
    let mut fig = Figure::new(900, if o.truth.is_some() { 750 } else { 500 }).title(format!(
        "{:?} search, {} iterations: best {} = {:.3}",
        run.search.strategy, o.iterations, run.search.proxy, best.score
    ));
    fig = fig.panel(
        Panel::new(format!("best {} so far", run.search.proxy))
            .x_label("iteration")
            .y_label(run.search.proxy.clone())
            .series(
                Series::scatter(
                    "candidate",
                    o.scores.iter().enumerate().map(|(i, &s)| (i as f64 + 1.0, s)).collect(),
                )
                .with_color(Color::rgb(150, 150, 150)),
            )
            .series(Series::line("best so far", scores)),
    );
    if let Some(t) = &o.truth {
        let pts: Vec<(f64, f64)> = t
            .best_so_far
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i as f64 + 1.0, v)))
            .collect();
        let opt: Vec<(f64, f64)> = vec![(1.0, t.optimum), (o.iterations.max(1) as f64, t.optimum)];
        fig = fig.panel(
            Panel::new(format!("{} of the best-so-far architecture", t.column))
                .x_label("iteration")
                .y_label("accuracy (%)")
                .series(Series::line("best so far", pts))
                .series(
                    Series::line("optimum of the table", opt).with_color(Color::rgb(150, 150, 150)),
                ),
        );
    }
    fig.save(dir.join("progress.png"))
}
