//! `intrain search`: InTrain-NAS (or random search) over a YAML space under a budget, with
//! every evaluation appended to `DIR/history.jsonl` as it completes, `--resume DIR` to continue
//! a killed run exactly, and Ctrl-C to stop cleanly.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;

use super::args::RuntimeArgs;
use super::score_batch::progress;
use super::search_report::{print_outcome, save_progress_plot};
use super::target::ProtocolArgs;
use intrain::amount::Amount;
use intrain::error::Error;
use intrain::scoring::{Proxy, RecordFile, Scorer};
use intrain::search::run::{Ending, RunFile, SearchOutcome, SearchRun, TruthColumns};
use intrain::search::{Budget, SearchConfig, Strategy};

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
    /// Maximum FLOPs of one sample (K/M/G/T suffixes), e.g. --max-flops 100M.
    #[arg(long)]
    max_flops: Option<Amount>,
    /// Maximum parameters (K/M/G/T suffixes), e.g. --max-params 1M.
    #[arg(long)]
    max_params: Option<Amount>,
    /// Seed of the search (initial architecture, parent choice, mutations).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Seed of the scoring pass (initialisation, input, labels).
    #[arg(long, default_value_t = 0)]
    score_seed: u64,
    /// Proxy to maximise: InTrain-Agg (a rank aggregate, ranked over the history so far) by
    /// default; `--proxy intrain` for InTrain alone, the paper's InTrain-NAS. With --resume:
    /// the run's own.
    #[arg(long, value_enum, default_value = "intrain-agg", conflicts_with = "resume")]
    proxy: Proxy,
    /// Candidate proposal.
    #[arg(long, value_enum, default_value_t = Strategy::Evolution)]
    strategy: Strategy,
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

impl SearchArgs {
    /// The run to start or continue.
    fn search_run(&self) -> intrain::Result<SearchRun> {
        if let Some(dir) = &self.resume {
            return SearchRun::resume(dir, self.iterations);
        }
        let space = self.space.clone().ok_or_else(|| Error::Usage("give SPACE.yaml".into()))?;
        if self.out.join("history.jsonl").exists() {
            return Err(Error::Usage(format!(
                "{} already holds a search: continue it with --resume {}, or choose another --out",
                self.out.display(),
                self.out.display()
            )));
        }
        let search = SearchConfig {
            strategy: self.strategy,
            iterations: self.iterations.unwrap_or(100),
            elite: self.elite,
            seed: self.seed,
            budget: Budget { max_flops: self.max_flops, max_params: self.max_params },
            proxy: self.proxy,
        };
        let run =
            RunFile::new(&space, search, self.protocol.protocol(self.batch, self.score_seed))?;
        SearchRun::create(&self.out, run)
    }
}

/// Runs `search`.
pub fn run(a: SearchArgs) -> anyhow::Result<super::Exit> {
    let run = a.search_run()?;
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
    let records = a.cache.as_deref().map(RecordFile::open).transpose()?;
    let proxy = run.settings().search.proxy;
    let mut scorer = Scorer::new(Box::new(|| a.runtime.runtime()), records).with_proxies(&[proxy]);
    let bar = progress("search");
    let (search, ending) = run.run(&mut scorer, &stop, &bar)?;
    bar.finish_and_clear();
    let truth = a.truth.as_deref().map(|path| TruthColumns {
        path,
        column: &a.truth_column,
        arch_column: &a.arch_column,
    });
    let outcome = SearchOutcome::new(&search, truth)?;
    run.write_outcome(&outcome)?;
    save_progress_plot(&run, &outcome)?;
    if a.json {
        super::print_json(&outcome)?;
    } else {
        print_outcome(&outcome, run.dir());
    }
    if ending == Ending::Interrupted {
        eprintln!(
            "intrain: stopped after {} of {} iterations; continue with: intrain search --resume {}",
            search.history().len(),
            run.settings().search.iterations,
            run.dir().display()
        );
        return Ok(super::Exit::Interrupted);
    }
    Ok(super::Exit::Success)
}
