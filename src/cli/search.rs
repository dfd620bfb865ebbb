//! `intrain search`: InTrain-NAS (or random search) over a YAML space under a budget, with
//! every evaluation appended to `DIR/history.jsonl` as it completes, `--resume DIR` to continue
//! a killed run exactly, and Ctrl-C to stop cleanly.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use super::args::RuntimeArgs;
use super::score_batch::progress;
use super::search_report::{SearchOutcome, write_outcome};
use super::target::ProtocolArgs;
use crate::error::{Error, Result};
use crate::scoring::{Protocol, RecordFile, check_proxies, score_arch, space_id};
use crate::search::history::HistoryFile;
use crate::search::{Budget, Search, SearchConfig, Strategy};
use crate::space::SearchSpace;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StrategyArg {
    /// Mutate one of the top-k of the history (InTrain-NAS, the paper's Algorithm 1).
    Evolution,
    /// Uniform samples within the budget (baseline).
    Random,
}

/// Parses an amount with an optional K/M/G suffix (`450M`, `1.5e6`, `2G`).
pub fn parse_amount(s: &str) -> std::result::Result<f64, String> {
    let t = s.trim();
    let (num, mult) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1e3),
        Some('M') => (&t[..t.len() - 1], 1e6),
        Some('G') => (&t[..t.len() - 1], 1e9),
        _ => (t, 1.0),
    };
    num.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| v * mult)
        .ok_or_else(|| format!("'{s}' is not an amount like 450M, 1.5e6 or 2G"))
}

/// Arguments of `search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The search space (not needed with --resume).
    #[arg(value_name = "SPACE.yaml", required_unless_present = "resume")]
    space: Option<PathBuf>,
    /// Iterations T (each scores one candidate, or reuses the score of a functionally
    /// identical one seen before) [default: 100]. With --resume: the run's own, and a larger
    /// T extends it.
    #[arg(long, short = 'T')]
    iterations: Option<usize>,
    /// Elite size k: parents are drawn uniformly from the k best architectures so far.
    #[arg(long, short = 'k', default_value_t = 10)]
    elite: usize,
    /// Maximum FLOPs of one sample (K/M/G suffixes), e.g. --max-flops 100M.
    #[arg(long, value_parser = parse_amount)]
    max_flops: Option<f64>,
    /// Maximum parameters (K/M/G suffixes), e.g. --max-params 1M.
    #[arg(long, value_parser = parse_amount)]
    max_params: Option<f64>,
    /// Seed of the search (initial architecture, parent choice, mutations).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Seed of the scoring pass (initialisation, input, labels).
    #[arg(long, default_value_t = 0)]
    score_seed: u64,
    /// Proxy to maximise (intrain, gamma, o, additive, params, flops, macs).
    #[arg(long, default_value = "intrain")]
    proxy: String,
    /// Candidate proposal.
    #[arg(long, value_enum, default_value_t = StrategyArg::Evolution)]
    strategy: StrategyArg,
    /// Batch size of the scoring pass.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// Output folder: run.json, history.jsonl, best.onnx, result.json, progress.png.
    #[arg(long, short = 'o', value_name = "DIR", default_value = "intrain-search")]
    out: PathBuf,
    /// Continue the search in DIR (its run.json gives the settings; --iterations may extend it).
    #[arg(long, value_name = "DIR", conflicts_with = "space")]
    resume: Option<PathBuf>,
    /// Score cache shared with `eval` (JSONL): scores found there are not recomputed.
    #[arg(long, value_name = "FILE")]
    cache: Option<PathBuf>,
    /// Ground-truth CSV (benchmark spaces): report the accuracy of the best architecture and of
    /// the best-so-far along the run.
    #[arg(long, value_name = "CSV")]
    truth: Option<PathBuf>,
    /// Accuracy column of --truth.
    #[arg(long, default_value = "cifar10_test")]
    truth_column: String,
    /// Architecture column of --truth.
    #[arg(long, default_value = "arch_str")]
    arch_column: String,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

/// The settings of a run, saved as `DIR/run.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunFile {
    /// The space file as given.
    pub space: PathBuf,
    /// Its identity (name and definition hash): a resumed run must use the same definition.
    pub space_id: String,
    /// The search.
    pub search: SearchConfig,
    /// The scoring protocol.
    pub protocol: Protocol,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

fn run_file(a: &SearchArgs) -> Result<(PathBuf, RunFile)> {
    if let Some(dir) = &a.resume {
        let path = dir.join("run.json");
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let mut run: RunFile = serde_json::from_str(&text)
            .map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
        // Only the number of iterations may change on resume, and only upwards.
        if let Some(t) = a.iterations {
            run.search.iterations = run.search.iterations.max(t);
        }
        return Ok((dir.clone(), run));
    }
    let space = a.space.clone().ok_or_else(|| Error::Usage("give SPACE.yaml".into()))?;
    if a.out.join("history.jsonl").exists() {
        return Err(Error::Usage(format!(
            "{} already holds a search: continue it with --resume {}, or choose another --out",
            a.out.display(),
            a.out.display()
        )));
    }
    check_proxies(std::slice::from_ref(&a.proxy))?;
    let s = SearchSpace::read(&space)?;
    Ok((
        a.out.clone(),
        RunFile {
            space_id: space_id(&s),
            space,
            search: SearchConfig {
                strategy: match a.strategy {
                    StrategyArg::Evolution => Strategy::Evolution,
                    StrategyArg::Random => Strategy::Random,
                },
                iterations: a.iterations.unwrap_or(100),
                elite: a.elite,
                seed: a.seed,
                budget: Budget { max_flops: a.max_flops, max_params: a.max_params },
                proxy: a.proxy.clone(),
            },
            protocol: a.protocol.protocol(a.batch, a.score_seed),
        },
    ))
}

/// Runs `search`.
pub fn run(a: SearchArgs) -> anyhow::Result<ExitCode> {
    let (dir, run) = run_file(&a)?;
    let space = SearchSpace::read(&run.space)?;
    if space_id(&space) != run.space_id {
        return Err(Error::Usage(format!(
            "{}: the space definition changed since this search started ({} vs {}); start a new search",
            run.space.display(),
            space_id(&space),
            run.space_id
        ))
        .into());
    }
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let run_path = dir.join("run.json");
    let text = serde_json::to_string_pretty(&run).map_err(|e| Error::Usage(e.to_string()))?;
    std::fs::write(&run_path, text + "\n").map_err(io(&run_path))?;
    let (mut history, recorded) = HistoryFile::open(&dir.join("history.jsonl"))?;
    let mut cache = a.cache.as_deref().map(RecordFile::open).transpose()?;
    let key = run.protocol.key(&run.space_id, space.spec.input.resolution);

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second Ctrl-C while a score is running kills the process (nothing is lost either way).
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    }
    let mut search = Search::new(&space, run.search.clone())?;
    for e in &recorded {
        if search.done() {
            break;
        }
        search.step(&mut |_| Err(Error::Usage("replay".into())), Some(e))?;
    }
    let resumed = search.history().len();
    let mut rt = None;
    let bar = progress(run.search.iterations, "search");
    bar.set_position(resumed as u64);
    let start = Instant::now();
    let mut scored = 0usize;
    while !search.done() && !stop.load(Ordering::SeqCst) {
        let mut scorer = |arch: &crate::space::Arch| -> Result<crate::scoring::ScoreRecord> {
            let name = arch.format(&space);
            if let Some(r) = cache.as_ref().and_then(|c| c.get(&key, &name)) {
                return Ok(r.clone());
            }
            if rt.is_none() {
                rt = Some(a.runtime.runtime()?);
            }
            let rt = rt.as_ref().ok_or_else(|| Error::Runtime("runtime".into()))?;
            let r = score_arch(rt, &space, arch, &run.protocol)
                .map_err(|e| Error::Usage(format!("architecture {name}: {e}")))?
                .record;
            if let Some(c) = cache.as_mut() {
                c.append(r.clone())?;
            }
            scored += 1;
            Ok(r)
        };
        let e = search.step(&mut scorer, None)?.clone();
        history.append(&e)?;
        bar.inc(1);
        if let Some(b) = search.best() {
            let rate = scored as f64 / start.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!("{rate:.2} eval/s  best {:.3} {}", b.score, b.record.arch));
        }
    }
    bar.finish_and_clear();
    let interrupted = !search.done();
    let outcome = SearchOutcome::new(&search, a.truth.as_deref(), &a.truth_column, &a.arch_column)?;
    write_outcome(&dir, &space, &run, &outcome)?;
    if a.json {
        super::print_json(&outcome)?;
    } else {
        outcome.print(&dir);
    }
    if interrupted {
        eprintln!(
            "intrain: stopped after {} of {} iterations; continue with: intrain search --resume {}",
            search.history().len(),
            run.search.iterations,
            dir.display()
        );
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}
