//! Rendering the outcome of `search`: the readable summary and the progress plot.

use std::path::Path;

use intrain::error::Result;
use intrain::plot::{Color, Figure, Panel, Series};
use intrain::search::run::{SearchOutcome, SearchRun};

/// Prints the readable summary of a search.
pub fn print_outcome(o: &SearchOutcome, dir: &Path) {
    let Some(b) = &o.best else {
        outln!("no iteration done");
        return;
    };
    outln!(
        "best architecture after {} iterations ({} scored, {:.1} s scoring):",
        o.iterations,
        o.evaluations,
        o.scoring_seconds
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
    if let Some(t) = &o.truth {
        match t.best_accuracy {
            Some(acc) => {
                outln!("  {}: {acc:.2} (optimum of the table {:.2})", t.column, t.optimum)
            }
            None => outln!("  {}: not in the table", t.column),
        }
    }
    outln!("wrote {}/best.onnx, result.json, history.jsonl, progress.png", dir.display());
}

/// Draws `progress.png` in the run's folder: the best score so far (and the ground-truth
/// accuracy of the best-so-far architecture when a table was given).
pub fn save_progress_plot(run: &SearchRun, o: &SearchOutcome) -> Result<()> {
    let Some(best) = &o.best else { return Ok(()) };
    let dir = run.dir();
    let run = run.settings();
    let scores: Vec<(f64, f64)> =
        (0..o.iterations).zip(&o.best_so_far).map(|(i, &s)| (i as f64 + 1.0, s)).collect();
    let mut fig = Figure::new(900, if o.truth.is_some() { 750 } else { 500 }).title(format!(
        "{:?} search, {} iterations: best {} = {:.3}",
        run.search.strategy, o.iterations, run.search.proxy, best.score
    ));
    fig = fig.panel(
        Panel::new(format!("best {} so far", run.search.proxy))
            .x_label("iteration")
            .y_label(run.search.proxy.name())
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
