//! The outputs of `eval`: a Markdown table (with the paper's numbers next to ours for
//! NAS-Bench-201), a JSON result, per-architecture score CSVs and scatter plots.

use std::fmt::Write as _;
use std::path::Path;

use intrain::error::{Error, Result};
use intrain::eval::{Correlation, GroundTruth, PAPER_BATCH_STUDY, paper_value};
use intrain::experiments::eval_grid::{EvalOutcome, EvalResult, Inputs};
use intrain::plot::{Figure, Panel, Series};
use intrain::scoring::records::csv_error;
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
pub fn write_outputs(out: &Path, inp: &Inputs, outcome: &EvalOutcome) -> Result<String> {
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
        let mut rows: Vec<&str> = Vec::new();
        for c in &r.correlations {
            if !rows.contains(&c.proxy.as_str()) {
                rows.push(&c.proxy);
            }
        }
        let table = |md: &mut String, render: &dyn Fn(&Correlation) -> Option<String>| {
            let _ = writeln!(md, "| proxy | {} |", targets.join(" | "));
            let _ = writeln!(md, "|---|{}", "---|".repeat(targets.len()));
            for proxy in &rows {
                let row: Vec<String> = targets
                    .iter()
                    .map(|t| {
                        r.correlations
                            .iter()
                            .find(|c| c.proxy == *proxy && &c.target == t)
                            .and_then(render)
                            .unwrap_or_else(|| "-".into())
                    })
                    .collect();
                let _ = writeln!(md, "| {proxy} | {} |", row.join(" | "));
            }
        };
        table(&mut md, &|c| Some(cell(c, nb201)));
        if r.correlations.iter().any(|c| c.kendall_within_params.is_some()) {
            let _ = writeln!(
                md,
                "\nKendall tau-b within groups of equal parameter count (groups weighted by their pairs; the parameter count ranks nothing there):\n"
            );
            table(&mut md, &|c| c.kendall_within_params.map(|k| format!("{k:.3}")));
        }
        if r.correlations.iter().any(|c| c.seed_spearman.is_some()) {
            let _ = writeln!(
                md,
                "\nStability: Spearman rho between the values of each pair of seeds (mean), and the std of Kendall tau over seeds:\n"
            );
            let _ = writeln!(md, "| proxy | rho between seeds | std of tau ({}) |", targets[0]);
            let _ = writeln!(md, "|---|---|---|");
            for proxy in &rows {
                if let Some(c) =
                    r.correlations.iter().find(|c| c.proxy == *proxy && c.target == targets[0])
                {
                    let rho = c.seed_spearman.map_or("-".into(), |v| format!("{v:.3}"));
                    let _ = writeln!(md, "| {proxy} | {rho} | {:.3} |", c.kendall_mean_std.1);
                }
            }
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
    let path = out.join(format!("scores-b{batch}.csv"));
    let csv_err = |e| csv_error(&path, e);
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["arch".to_string()];
    header.extend(targets.iter().cloned());
    let columns = "intrain,gamma,o,additive,layers,dead_layers,non_finite,params,flops";
    header.extend(columns.split(',').map(String::from));
    header.extend((0..recs.len()).map(|seed| format!("intrain_seed{seed}")));
    w.write_record(&header).map_err(csv_err)?;
    for (i, c) in cells.iter().enumerate() {
        let mut row = vec![c.clone()];
        for t in targets {
            row.push(truth.column(t)?[truth.row(c).unwrap_or(0)].to_string());
        }
        let r0 = &recs[0][i];
        let means = [
            seed_mean(recs, i, "intrain"),
            seed_mean(recs, i, "gamma"),
            seed_mean(recs, i, "o"),
            seed_mean(recs, i, "additive"),
        ];
        row.extend(means.map(|v| v.to_string()));
        row.extend([r0.layers, r0.dead_layers, r0.non_finite].map(|n| n.to_string()));
        row.extend([r0.params, r0.flops].map(|n| n.to_string()));
        row.extend(recs.iter().map(|seeds| seeds[i].intrain.to_string()));
        w.write_record(&row).map_err(csv_err)?;
    }
    let bytes = w.into_inner().map_err(|e| csv_err(e.into_error().into()))?;
    std::fs::write(&path, bytes).map_err(io(&path))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(arch: &str, intrain: f64) -> ScoreRecord {
        ScoreRecord {
            key: "k".into(),
            arch: arch.into(),
            intrain,
            gamma: 1.5,
            o: 2.25,
            layers: 9,
            tensors: 20,
            dead_layers: 0,
            non_finite: 0,
            loss: 2.3,
            params: 1000,
            flops: 2000,
            macs: 900,
            seconds: 0.5,
            pass_seconds: 0.25,
            proxies: Default::default(),
        }
    }

    #[test]
    fn scores_csv_quotes_arch_strings_with_commas_and_keeps_number_formatting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let chain = "w24:ir-k5-e3,skip|w64:ir-k3-e6";
        let cell = "|nor_conv_3x3~0|+|none~0|skip_connect~1|";
        let truth = dir.path().join("truth.csv");
        std::fs::write(&truth, format!("arch,acc\n\"{chain}\",71.5\n{cell},\n")).expect("write");
        let truth = GroundTruth::read(&truth, "arch").expect("truth");
        let cells = [chain.to_string(), cell.to_string()];
        let recs =
            vec![vec![rec(chain, 10.0), rec(cell, 0.1)], vec![rec(chain, 20.0), rec(cell, 0.2)]];
        scores_csv(dir.path(), 8, &cells, &truth, &["acc".into()], &recs).expect("write");
        let text = std::fs::read_to_string(dir.path().join("scores-b8.csv")).expect("read");
        let want = "arch,acc,intrain,gamma,o,additive,layers,dead_layers,non_finite,params,flops,\
                    intrain_seed0,intrain_seed1\n\
                    \"w24:ir-k5-e3,skip|w64:ir-k3-e6\",71.5,15,1.5,2.25,2.9014417228548774,9,0,0,\
                    1000,2000,10,20\n\
                    |nor_conv_3x3~0|+|none~0|skip_connect~1|,NaN,0.15000000000000002,1.5,2.25,\
                    2.9014417228548774,9,0,0,1000,2000,0.1,0.2\n";
        assert_eq!(text, want);
    }
}
