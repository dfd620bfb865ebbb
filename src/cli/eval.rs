//! `intrain eval`: score a cell set of a benchmark space under one or more seeds and batch
//! sizes (through a persistent score cache), then report rank correlations with the ground
//! truth: Markdown, CSV, JSON and scatter plots.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::args::RuntimeArgs;
use super::eval_report::{EvalResult, write_outputs};
use super::score_batch::progress;
use super::target::ProtocolArgs;
use crate::error::{Error, Result};
use crate::eval::{GroundTruth, correlate, read_cell_list, seeded_subset};
use crate::scoring::{RecordFile, ScoreRecord, check_proxies, score_arch, space_id};
use crate::space::{Arch, SearchSpace};

/// Ground-truth presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// NAS-Bench-201, the 9,445 functionally distinct cells (the paper's protocol).
    Nb201,
    /// NAS-Bench-201, all 15,625 cells.
    Nb201All,
    /// No preset: give --truth, --targets (and --cells).
    None,
}

/// Arguments of `eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The search space [default: models/spaces/nb201.yaml].
    #[arg(value_name = "SPACE.yaml")]
    space: Option<PathBuf>,
    /// Ground truth and cell set preset.
    #[arg(long, value_enum, default_value_t = Preset::Nb201)]
    preset: Preset,
    /// Folder of the NAS-Bench-201 data used by the presets.
    #[arg(long, value_name = "DIR", default_value = "../shared/data/nasbench201")]
    data: PathBuf,
    /// Ground-truth CSV (architecture column plus accuracy columns).
    #[arg(long, value_name = "CSV")]
    truth: Option<PathBuf>,
    /// Column of the architecture strings.
    #[arg(long, default_value = "arch_str")]
    arch_column: String,
    /// Accuracy columns to correlate with (comma-separated).
    #[arg(long, value_delimiter = ',')]
    targets: Option<Vec<String>>,
    /// Cell set: a CSV with the architecture column, or one string per line [default: the
    /// preset's, else every row of --truth].
    #[arg(long, value_name = "FILE")]
    cells: Option<PathBuf>,
    /// Evaluate a seeded sample of N cells of the set.
    #[arg(long, value_name = "N")]
    sample: Option<usize>,
    /// Seed of the cell sample.
    #[arg(long, default_value_t = 0)]
    sample_seed: u64,
    /// Scoring seeds (initialisation, input, labels); results are mean and std over them.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    seeds: Vec<u64>,
    /// Batch sizes; several give the batch-size study (Kendall, Spearman, latency per B).
    #[arg(long, value_delimiter = ',', default_value = "64")]
    batch: Vec<usize>,
    /// Proxies to report (intrain, gamma, o, additive, params, flops, macs).
    #[arg(long, value_delimiter = ',', default_value = "intrain,gamma,o,additive,params,flops")]
    proxies: Vec<String>,
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// Score cache (JSONL), keyed by architecture and every setting that changes a score
    /// [default: OUT/scores.jsonl].
    #[arg(long, value_name = "FILE")]
    cache: Option<PathBuf>,
    /// Output folder: results.md, results.json, scores-bB.csv, scatter plots.
    #[arg(long, short = 'o', value_name = "DIR", default_value = "intrain-eval")]
    out: PathBuf,
    /// Bootstrap resamples for the 95% intervals (0: none).
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
    /// Print the JSON result instead of Markdown.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

struct Inputs {
    space: SearchSpace,
    truth: GroundTruth,
    targets: Vec<String>,
    cells: Vec<String>,
    cell_set: String,
}

fn inputs(a: &EvalArgs) -> Result<Inputs> {
    let space_path = a.space.clone().unwrap_or_else(|| PathBuf::from("models/spaces/nb201.yaml"));
    let space = SearchSpace::read(&space_path)?;
    let need = |p: &Path| -> Result<()> {
        if p.exists() {
            Ok(())
        } else {
            Err(Error::Usage(format!(
                "{}: not found (the NAS-Bench-201 presets read ../shared/data/nasbench201; set --data DIR, or --preset none with --truth)",
                p.display()
            )))
        }
    };
    let (truth_path, default_cells, default_targets): (PathBuf, Option<PathBuf>, Vec<String>) =
        match a.preset {
            Preset::None => (
                a.truth.clone().ok_or_else(|| {
                    Error::Usage("--preset none needs --truth CSV and --targets".into())
                })?,
                None,
                Vec::new(),
            ),
            Preset::Nb201 | Preset::Nb201All => (
                a.truth.clone().unwrap_or_else(|| a.data.join("nb201_all.csv")),
                (a.preset == Preset::Nb201).then(|| a.data.join("nb201_unique_9445.csv")),
                ["cifar10_test", "cifar100_test", "imagenet16_test"].map(String::from).to_vec(),
            ),
        };
    need(&truth_path)?;
    let truth = GroundTruth::read(&truth_path, &a.arch_column)?;
    let targets = a.targets.clone().unwrap_or(default_targets);
    if targets.is_empty() {
        return Err(Error::Usage("give --targets (accuracy columns of --truth)".into()));
    }
    for t in &targets {
        truth.column(t).map_err(|e| Error::Usage(format!("{}: {e}", truth_path.display())))?;
    }
    let (all, set_name) = match a.cells.clone().or(default_cells) {
        Some(f) => {
            need(&f)?;
            let name = f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            (read_cell_list(&f, &a.arch_column)?, name)
        }
        None => (truth.archs.clone(), "all rows".to_string()),
    };
    for c in &all {
        if truth.row(c).is_none() {
            return Err(Error::Usage(format!("cell {c} is not in {}", truth_path.display())));
        }
    }
    let cells = match a.sample {
        Some(n) => seeded_subset(&all, n, a.sample_seed),
        None => all.clone(),
    };
    let cell_set = match a.sample {
        Some(n) if n < all.len() => {
            format!("{} of {} ({set_name}), sample seed {}", cells.len(), all.len(), a.sample_seed)
        }
        _ => format!("all {} ({set_name})", all.len()),
    };
    Ok(Inputs { space, truth, targets, cells, cell_set })
}

/// Runs `eval`.
pub fn run(a: EvalArgs) -> anyhow::Result<ExitCode> {
    check_proxies(&a.proxies)?;
    if a.seeds.is_empty() || a.batch.is_empty() || a.batch.contains(&0) {
        return Err(
            Error::Usage("--seeds and --batch need at least one value (batch > 0)".into()).into()
        );
    }
    let inp = inputs(&a)?;
    let archs: Vec<Arch> =
        inp.cells.iter().map(|c| Arch::parse(&inp.space, c)).collect::<Result<_>>()?;
    std::fs::create_dir_all(&a.out).map_err(|source| Error::Io { path: a.out.clone(), source })?;
    let cache_path = a.cache.clone().unwrap_or_else(|| a.out.join("scores.jsonl"));
    let mut cache = RecordFile::open(&cache_path)?;
    let sid = space_id(&inp.space);
    let native = inp.space.spec.input.resolution;
    let total = archs.len() * a.seeds.len() * a.batch.len();
    let mut rt = None;
    let bar = progress(total, "eval");
    // records[batch][seed][arch]
    let mut records: Vec<Vec<Vec<ScoreRecord>>> = Vec::new();
    let mut cached = 0usize;
    for &b in &a.batch {
        let mut per_seed = Vec::new();
        for &s in &a.seeds {
            let p = a.protocol.protocol(b, s);
            let key = p.key(&sid, native);
            let mut row = Vec::with_capacity(archs.len());
            for (arch, name) in archs.iter().zip(&inp.cells) {
                let r = match cache.get(&key, name) {
                    Some(r) => {
                        cached += 1;
                        r.clone()
                    }
                    None => {
                        if rt.is_none() {
                            rt = Some(a.runtime.runtime()?);
                        }
                        let rt = rt.as_ref().ok_or_else(|| Error::Runtime("runtime".into()))?;
                        let r = score_arch(rt, &inp.space, arch, &p)
                            .map_err(|e| Error::Usage(format!("architecture {name}: {e}")))?
                            .record;
                        cache.append(r.clone())?;
                        r
                    }
                };
                row.push(r);
                bar.inc(1);
            }
            per_seed.push(row);
        }
        records.push(per_seed);
    }
    bar.finish_and_clear();
    eprintln!("intrain: {} scores ({} from the cache {})", total, cached, cache.path().display());
    let mut results = Vec::new();
    for (bi, &b) in a.batch.iter().enumerate() {
        let recs = &records[bi];
        let mut correlations = Vec::new();
        for t in &inp.targets {
            let col = inp.truth.column(t)?;
            let y: Vec<f64> =
                inp.cells.iter().map(|c| inp.truth.row(c).map_or(f64::NAN, |r| col[r])).collect();
            for p in &a.proxies {
                let scores: Vec<Vec<f64>> = recs
                    .iter()
                    .map(|row| row.iter().map(|r| r.proxy(p).unwrap_or(f64::NAN)).collect())
                    .collect();
                correlations.push(correlate(p, t, &scores, &y, a.bootstrap, 0));
            }
        }
        let n = (recs.len() * archs.len()).max(1) as f64;
        let flat = || recs.iter().flatten();
        results.push(EvalResult {
            batch: b,
            protocol: a.protocol.protocol(b, a.seeds[0]),
            seeds: a.seeds.clone(),
            correlations,
            mean_pass_ms: flat().map(|r| r.pass_seconds).sum::<f64>() * 1e3 / n,
            mean_total_ms: flat().map(|r| r.seconds).sum::<f64>() * 1e3 / n,
            non_finite_archs: flat().filter(|r| r.non_finite > 0).count(),
        });
    }
    let md = write_outputs(
        &a.out,
        &inp.space,
        &inp.cell_set,
        &inp.cells,
        &inp.truth,
        &inp.targets,
        &a.proxies,
        &records,
        &results,
    )?;
    if a.json {
        super::print_json(&results)?;
    } else {
        out!("{md}");
    }
    Ok(ExitCode::SUCCESS)
}
