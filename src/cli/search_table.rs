//! `intrain search-table`: the paper's search table (supplementary Table 1). Each run samples
//! N architectures, selects the best by each proxy, and reports the selected architecture's
//! ground-truth accuracies; mean and std over runs. Scores come from (and go to) the score
//! cache shared with `eval`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use super::args::RuntimeArgs;
use super::score_batch::progress;
use super::target::ProtocolArgs;
use crate::error::{Error, Result};
use crate::eval::{GroundTruth, seeded_subset};
use crate::scoring::{RecordFile, ScoreRecord, check_proxies, score_arch, space_id};
use crate::space::{Arch, SearchSpace};
use crate::stats::mean_std;

/// Arguments of `search-table`.
#[derive(Debug, Args)]
pub struct SearchTableArgs {
    /// The search space [default: models/spaces/nb201.yaml].
    #[arg(value_name = "SPACE.yaml")]
    space: Option<PathBuf>,
    /// Ground-truth CSV.
    #[arg(long, value_name = "CSV", default_value = "../shared/data/nasbench201/nb201_all.csv")]
    truth: PathBuf,
    /// Architecture column of --truth.
    #[arg(long, default_value = "arch_str")]
    arch_column: String,
    /// Accuracy columns (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "cifar10_test,cifar100_test,imagenet16_test"
    )]
    targets: Vec<String>,
    /// Architectures sampled per run (the paper: 5,000).
    #[arg(long, default_value_t = 5000)]
    samples: usize,
    /// Runs (the paper: 5); run r samples with seed r.
    #[arg(long, default_value_t = 5)]
    runs: u64,
    /// Sample only among architectures already in the cache under this protocol (a smaller,
    /// stated protocol when scoring all of them is too slow).
    #[arg(long)]
    from_cache: bool,
    /// Proxies that select.
    #[arg(long, value_delimiter = ',', default_value = "intrain,gamma,o,params,flops")]
    proxies: Vec<String>,
    /// Batch size of the scoring pass.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Seed of the scoring pass.
    #[arg(long, default_value_t = 0)]
    score_seed: u64,
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// Score cache (shared with `eval`).
    #[arg(long, value_name = "FILE", default_value = "intrain-eval/scores.jsonl")]
    cache: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

#[derive(Debug, Serialize)]
struct Row {
    proxy: String,
    /// Per target: accuracies of the selected architecture in each run.
    accuracies: Vec<Vec<f64>>,
    mean_std: Vec<(f64, f64)>,
    selected: Vec<String>,
}

/// The paper's search table on NAS-Bench-201 (mean ± std over 5 runs of 5,000 samples).
const PAPER: [(&str, [f64; 3]); 4] = [
    ("intrain", [93.72, 71.05, 45.85]),
    ("params", [93.58, 70.75, 42.15]),
    ("AZ-NAS", [93.65, 70.92, 45.68]),
    ("NASWOT", [92.82, 70.15, 44.68]),
];

/// Runs `search-table`.
pub fn run(a: SearchTableArgs) -> anyhow::Result<ExitCode> {
    check_proxies(&a.proxies)?;
    let space = SearchSpace::read(
        &a.space.clone().unwrap_or_else(|| PathBuf::from("models/spaces/nb201.yaml")),
    )?;
    if !a.truth.exists() {
        return Err(
            Error::Usage(format!("{}: not found (give --truth CSV)", a.truth.display())).into()
        );
    }
    let truth = GroundTruth::read(&a.truth, &a.arch_column)?;
    let cols: Vec<&[f64]> = a.targets.iter().map(|t| truth.column(t)).collect::<Result<_>>()?;
    let p = a.protocol.protocol(a.batch, a.score_seed);
    let key = p.key(&space_id(&space), space.spec.input.resolution);
    let mut cache = RecordFile::open(&a.cache)?;
    let pool: Vec<String> = if a.from_cache {
        truth.archs.iter().filter(|x| cache.get(&key, x).is_some()).cloned().collect()
    } else {
        truth.archs.clone()
    };
    if pool.len() < a.samples {
        return Err(Error::Usage(format!(
            "only {} architectures to sample from ({}), fewer than --samples {}",
            pool.len(),
            if a.from_cache { "scored in the cache under this protocol" } else { "in --truth" },
            a.samples
        ))
        .into());
    }
    let runs: Vec<Vec<String>> = (0..a.runs).map(|r| seeded_subset(&pool, a.samples, r)).collect();
    let missing: Vec<&String> = {
        let mut m: Vec<&String> =
            runs.iter().flatten().filter(|x| cache.get(&key, x).is_none()).collect();
        m.sort();
        m.dedup();
        m
    };
    if !missing.is_empty() {
        let rt = a.runtime.runtime()?;
        let bar = progress(missing.len(), "scoring");
        for name in missing {
            let arch = Arch::parse(&space, name)?;
            let r = score_arch(&rt, &space, &arch, &p)
                .map_err(|e| Error::Usage(format!("architecture {name}: {e}")))?;
            cache.append(r.record)?;
            bar.inc(1);
        }
        bar.finish_and_clear();
    }
    let mut rows = Vec::new();
    let mut oracle = Row {
        proxy: "oracle (best in sample)".into(),
        accuracies: vec![Vec::new(); cols.len()],
        mean_std: Vec::new(),
        selected: Vec::new(),
    };
    for proxy in &a.proxies {
        let mut row = Row {
            proxy: proxy.clone(),
            accuracies: vec![Vec::new(); cols.len()],
            mean_std: Vec::new(),
            selected: Vec::new(),
        };
        for sample in &runs {
            let recs: Vec<&ScoreRecord> =
                sample.iter().filter_map(|x| cache.get(&key, x)).collect();
            let best = recs
                .iter()
                .filter(|r| r.proxy(proxy).is_some_and(f64::is_finite))
                .max_by(|x, y| {
                    x.proxy(proxy)
                        .unwrap_or(f64::NAN)
                        .total_cmp(&y.proxy(proxy).unwrap_or(f64::NAN))
                })
                .ok_or_else(|| Error::Usage(format!("no finite {proxy} score in a sample")))?;
            let r = truth
                .row(&best.arch)
                .ok_or_else(|| Error::Usage(format!("{} not in --truth", best.arch)))?;
            for (c, col) in cols.iter().enumerate() {
                row.accuracies[c].push(col[r]);
            }
            row.selected.push(best.arch.clone());
        }
        row.mean_std = row.accuracies.iter().map(|v| mean_std(v)).collect();
        rows.push(row);
    }
    for sample in &runs {
        for (c, col) in cols.iter().enumerate() {
            let best =
                sample.iter().filter_map(|x| truth.row(x)).map(|r| col[r]).fold(f64::NAN, f64::max);
            oracle.accuracies[c].push(best);
        }
    }
    oracle.mean_std = oracle.accuracies.iter().map(|v| mean_std(v)).collect();
    rows.push(oracle);
    if a.json {
        super::print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut md = String::new();
    let _ = writeln!(
        md,
        "{} runs x {} samples ({}); batch {}, resolution {}, score seed {}\n",
        a.runs,
        a.samples,
        if a.from_cache {
            format!("from the {} architectures scored in the cache", pool.len())
        } else {
            format!("from all {} architectures of the table", pool.len())
        },
        p.batch,
        p.resolution_for(space.spec.input.resolution),
        p.seed
    );
    let _ = writeln!(md, "| selected by | {} |", a.targets.join(" | "));
    let _ = writeln!(md, "|---|{}", "---|".repeat(a.targets.len()));
    for r in &rows {
        let cells: Vec<String> =
            r.mean_std.iter().map(|(m, s)| format!("{m:.2} ± {s:.2}")).collect();
        let _ = writeln!(md, "| {} | {} |", r.proxy, cells.join(" | "));
    }
    if space.spec.name == "nas-bench-201" {
        for (name, v) in PAPER {
            let _ = writeln!(md, "| paper: {name} | {:.2} | {:.2} | {:.2} |", v[0], v[1], v[2]);
        }
    }
    out!("{md}");
    Ok(ExitCode::SUCCESS)
}
