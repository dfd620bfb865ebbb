//! `--plot` of `score` and `check`: the per-layer PR/C and per-tensor gradient health profile.

use std::path::Path;

use intrain::error::Result;
use intrain::plot::{Color, Figure, Panel, Series};
use intrain::scoring::ScoreOutput;

/// Tick labels: at most `max` names, evenly spread, shortened to their last path parts.
fn name_ticks(names: &[&str], max: usize) -> Vec<(f64, String)> {
    let step = names.len().div_ceil(max.max(1)).max(1);
    names
        .iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0)
        .map(|(i, n)| {
            // `stage2/cell3/node3_sum2` reads best as `stage2/cell3`.
            let parts: Vec<&str> = n.split('/').filter(|p| !p.is_empty()).collect();
            let short = if parts.len() >= 3 { parts[..2].join("/") } else { parts.join("/") };
            (i as f64, short)
        })
        .collect()
}

/// Draws the profile of a score report to `path` (.png or .svg).
pub fn save(r: &ScoreOutput, path: &Path) -> Result<()> {
    let layers = &r.report.layers;
    let live: Vec<(f64, f64)> = layers
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.spectrum.dead && !l.spectrum.non_finite)
        .map(|(i, l)| (i as f64, l.spectrum.pr_over_c))
        .collect();
    let dead: Vec<(f64, f64)> = layers
        .iter()
        .enumerate()
        .filter(|(_, l)| l.spectrum.dead || l.spectrum.non_finite)
        .map(|(i, _)| (i as f64, 0.0))
        .collect();
    let names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
    let mut pr = Panel::new("Participation ratio per layer (PR / channels)")
        .x_label("layer")
        .y_label("PR/C")
        .y_range(0.0, 1.0)
        .x_ticks(name_ticks(&names, 8))
        .series(Series::line_markers("PR/C", live));
    if !dead.is_empty() {
        pr =
            pr.series(Series::scatter("dead or NaN/Inf", dead).with_color(Color::rgb(214, 39, 40)));
    }
    let h: Vec<(f64, f64)> = r
        .report
        .tensors
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.h.map(|h| (i as f64, h)))
        .collect();
    let grads = Panel::new("Gradient health h = std / max|g| per parameter tensor")
        .x_label("parameter tensor (graph order)")
        .y_label("h")
        .y_range(0.0, 1.0)
        .series(Series::bars("h", h));
    let s = &r.report.score;
    let title = format!(
        "InTrain {:.2} (gamma {:.2}, o {:.2}, L {}): {}{}",
        s.intrain,
        s.gamma,
        s.o,
        s.layers,
        r.model,
        r.arch.as_ref().map(|a| format!(" {a}")).unwrap_or_default(),
    );
    Figure::new(1000, 700).title(title).panel(pr).panel(grads).save(path)
}
