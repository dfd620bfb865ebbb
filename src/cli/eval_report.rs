//! The outputs of `eval`: a Markdown table (with the paper's numbers next to ours for
//! NAS-Bench-201), a JSON result, per-architecture score CSVs and scatter plots.

use std::fmt::Write as _;
use std::path::Path;

use intrain::error::{Error, Result};
use intrain::eval::{Correlation, GroundTruth, PAPER_BATCH_STUDY, paper_value};
use intrain::experiments::eval_grid::{EvalOutcome, EvalResult, Inputs};
use intrain::plot::{Figure, Panel, Series};
use intrain::scoring::{Proxy, ScoreRecord};
use intrain::stats::mean_std;

fn cell(c: &Correlation, with_paper: bool) -> String {
    let (k, ks) = c.kendall_mean_std;
    let (s, _) = c.spearman_mean_std;
    let mut t = if c.kendall.len() > 1 { format!("{k:.3} ± {ks:.3}") } else { format!("{k:.3}") };
    if let Some((lo, hi)) = c.kendall_ci95 {
        let _ = write!(t, " [{lo:.3}, {hi:.3}]");
    }
    let _ = write!(t, " / {s:.3}");
    if with_paper {
        match paper_value(&c.proxy, &c.target) {
            (Some(pk), Some(ps)) => {
                let _ = write!(t, " (paper {pk:.3} / {ps:.3})");
            }
            (Some(pk), None) => {
                let _ = write!(t, " (paper {pk:.3})");
            }
            _ => {}
        }
    }
    t
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// Writes results.md, results.json, scores-bB.csv and scatter-TARGET-bB.png into `out`;
/// returns the Markdown.
pub fn write_outputs(
    out: &Path,
    inp: &Inputs,
    proxies: &[Proxy],
    outcome: &EvalOutcome,
) -> Result<String> {
    let (space, cell_set, cells, truth, targets) =
        (&inp.space, &inp.cell_set, &inp.cells, &inp.truth, &inp.targets);
    let (records, results) = (&outcome.records, &outcome.results);
    let nb201 = space.spec.name == "nas-bench-201";
    let mut md = String::new();
    for r in results {
        let p = &r.protocol;
        let _ = writeln!(
            md,
            "### {}: Kendall tau-b [95% bootstrap] / Spearman rho\n\ncells: {cell_set}; seeds {:?}; batch {}; resolution {}; init {}; BN {}; layers {}; o over {}; NaN/Inf in {} scores\n",
            space.spec.name,
            r.seeds,
            r.batch,
            p.resolution_for(space.spec.input.resolution),
            super::value_name(&p.init),
            super::value_name(&p.bn),
            super::value_name(&p.layers),
            super::value_name(&p.params),
            r.non_finite_archs
        );
        let _ = writeln!(md, "| proxy | {} |", targets.join(" | "));
        let _ = writeln!(md, "|---|{}", "---|".repeat(targets.len()));
        for proxy in proxies {
            let row: Vec<String> = targets
                .iter()
                .map(|t| {
                    r.correlations
                        .iter()
                        .find(|c| c.proxy == proxy.name() && &c.target == t)
                        .map_or("-".into(), |c| cell(c, nb201))
                })
                .collect();
            let _ = writeln!(md, "| {proxy} | {} |", row.join(" | "));
        }
        let _ = writeln!(
            md,
            "\nmean per architecture: forward+backward {:.1} ms, end to end {:.1} ms\n",
            r.mean_pass_ms, r.mean_total_ms
        );
    }
    if results.len() > 1 {
        let _ = writeln!(
            md,
            "### Batch-size study: InTrain vs {} (ours; paper on an RTX 4090 in brackets)\n",
            targets[0]
        );
        let _ = writeln!(
            md,
            "| B | Kendall | Spearman | fwd+bwd ms | end-to-end ms |\n|---|---|---|---|---|"
        );
        for r in results {
            let c = r.correlations.iter().find(|c| c.proxy == "intrain" && c.target == targets[0]);
            let paper = PAPER_BATCH_STUDY.iter().find(|x| x.0 == r.batch).filter(|_| nb201);
            let br = |v: Option<f64>, d: usize| v.map_or(String::new(), |v| format!(" ({v:.d$})"));
            let _ = writeln!(
                md,
                "| {} | {:.3}{} | {:.3}{} | {:.1}{} | {:.1} |",
                r.batch,
                c.map_or(f64::NAN, |c| c.kendall_mean_std.0),
                br(paper.map(|x| x.1), 3),
                c.map_or(f64::NAN, |c| c.spearman_mean_std.0),
                br(paper.map(|x| x.2), 3),
                r.mean_pass_ms,
                br(paper.map(|x| x.3), 2),
                r.mean_total_ms
            );
        }
        study_plot(out, results, &targets[0])?;
    }
    let json = serde_json::to_string_pretty(results).map_err(|e| Error::Usage(e.to_string()))?;
    std::fs::write(out.join("results.json"), json + "\n").map_err(io(&out.join("results.json")))?;
    std::fs::write(out.join("results.md"), &md).map_err(io(&out.join("results.md")))?;
    for (r, recs) in results.iter().zip(records) {
        scores_csv(out, r.batch, cells, truth, targets, recs)?;
        for t in targets {
            scatter(out, r, cells, truth, t, recs)?;
        }
    }
    Ok(md)
}

fn seed_mean(recs: &[Vec<ScoreRecord>], i: usize, proxy: &str) -> f64 {
    let proxy = Proxy::named(proxy).expect("a registered proxy");
    let v: Vec<f64> = recs.iter().map(|row| proxy.value(&row[i])).collect();
    mean_std(&v).0
}

fn scores_csv(
    out: &Path,
    batch: usize,
    cells: &[String],
    truth: &GroundTruth,
    targets: &[String],
    recs: &[Vec<ScoreRecord>],
) -> Result<()> {
    let mut s = String::from("arch");
    for t in targets {
        let _ = write!(s, ",{t}");
    }
    s.push_str(",intrain,gamma,o,additive,layers,dead_layers,non_finite,params,flops");
    for seed in 0..recs.len() {
        let _ = write!(s, ",intrain_seed{seed}");
    }
    s.push('\n');
    for (i, c) in cells.iter().enumerate() {
        let _ = write!(s, "{c}");
        for t in targets {
            let v = truth.column(t)?[truth.row(c).unwrap_or(0)];
            let _ = write!(s, ",{v}");
        }
        let r0 = &recs[0][i];
        let _ = write!(
            s,
            ",{},{},{},{},{},{},{},{},{}",
            seed_mean(recs, i, "intrain"),
            seed_mean(recs, i, "gamma"),
            seed_mean(recs, i, "o"),
            seed_mean(recs, i, "additive"),
            r0.layers,
            r0.dead_layers,
            r0.non_finite,
            r0.params,
            r0.flops
        );
        for row in recs {
            let _ = write!(s, ",{}", row[i].intrain);
        }
        s.push('\n');
    }
    let path = out.join(format!("scores-b{batch}.csv"));
    std::fs::write(&path, s).map_err(io(&path))
}

fn scatter(
    out: &Path,
    r: &EvalResult,
    cells: &[String],
    truth: &GroundTruth,
    target: &str,
    recs: &[Vec<ScoreRecord>],
) -> Result<()> {
    let col = truth.column(target)?;
    let pts: Vec<(f64, f64)> = cells
        .iter()
        .enumerate()
        .map(|(i, c)| (col[truth.row(c).unwrap_or(0)], seed_mean(recs, i, "intrain")))
        .collect();
    let k = r
        .correlations
        .iter()
        .find(|c| c.proxy == "intrain" && c.target == target)
        .map_or(f64::NAN, |c| c.kendall_mean_std.0);
    let title = format!(
        "InTrain vs {target}: Kendall τ = {k:.3} (n = {}, B = {}, seeds {})",
        cells.len(),
        r.batch,
        r.seeds.len()
    );
    let panel = Panel::new("")
        .x_label(format!("{target} accuracy (%)"))
        .y_label("InTrain (mean over seeds)")
        .series(Series::scatter("architectures", pts));
    Figure::new(900, 650)
        .title(title)
        .panel(panel)
        .save(out.join(format!("scatter-{target}-b{}.png", r.batch)))
}

fn study_plot(out: &Path, results: &[EvalResult], target: &str) -> Result<()> {
    let pick = |f: fn(&Correlation) -> f64| -> Vec<(f64, f64)> {
        results
            .iter()
            .filter_map(|r| {
                r.correlations
                    .iter()
                    .find(|c| c.proxy == "intrain" && c.target == target)
                    .map(|c| ((r.batch as f64).log2(), f(c)))
            })
            .collect()
    };
    let ticks: Vec<(f64, String)> =
        results.iter().map(|r| ((r.batch as f64).log2(), r.batch.to_string())).collect();
    let panel = Panel::new(format!("InTrain vs {target}"))
        .x_label("batch size")
        .y_label("rank correlation")
        .x_ticks(ticks)
        .series(Series::line_markers("Kendall", pick(|c| c.kendall_mean_std.0)))
        .series(Series::line_markers("Spearman", pick(|c| c.spearman_mean_std.0)));
    Figure::new(900, 600).title("Batch-size study").panel(panel).save(out.join("batch-study.png"))
}
