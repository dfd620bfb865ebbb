//! The command-line interface: each command parses its arguments, makes one library call and
//! renders the result (text, JSON, Markdown, CSV, plots). Exit codes are [`Exit`].

/// `println!` that exits quietly (code 0) when stdout is a closed pipe (`intrain ... | head`).
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($t)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

/// `print!` counterpart of [`outln`].
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout(), $($t)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

mod args;
mod bench;
mod check;
mod eval;
mod eval_report;
mod grad;
mod inspect;
mod limits_args;
mod merge;
mod ops;
mod profile_plot;
mod proxies_cmd;
mod run_model;
mod runtime_cmd;
mod score;
mod score_batch;
mod search;
mod search_report;
mod search_table;
mod space_cmd;
mod target;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    the command ran but a check failed (e.g. `check` below threshold)
  2    bad input or error: one line on stderr names the file, node, op or attribute
  130  interrupted (Ctrl-C); a search resumes with --resume";

/// How a command ends, as the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success.
    Success,
    /// 1: the command ran but a check failed (`check` below a threshold).
    CheckFailed,
    /// 2: bad input or another error (one line on stderr).
    Error,
    /// 130: interrupted by Ctrl-C; the work done so far is kept.
    Interrupted,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(match e {
            Exit::Success => 0,
            Exit::CheckFailed => 1,
            Exit::Error => 2,
            Exit::Interrupted => 130,
        })
    }
}

/// intrain: will this network train well? Scores, diagnoses and searches architectures before
/// any training, from one forward and one backward pass on ONNX Runtime.
#[derive(Debug, Parser)]
#[command(name = "intrain", version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    limits: limits_args::LimitArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show a model's inputs, outputs, ops, parameters, MACs/FLOPs and differentiability.
    ///
    /// Example: intrain inspect model.onnx --batch 64 --json
    Inspect(inspect::InspectArgs),
    /// Loss and per-parameter gradient statistics (norm, std, max |g|) of one forward+backward.
    ///
    /// The training graph is built by intrain's own differentiation in standard ONNX ops.
    /// Example: intrain grad model.onnx --batch 64 --input x.npy --labels y.npy --json
    Grad(grad::GradArgs),
    /// The InTrain score of a model or of a space's architecture: one forward + backward pass,
    /// per-layer participation ratio and per-tensor gradient health; many architectures into a
    /// resumable record file.
    ///
    /// Examples:
    ///   intrain score model.onnx --batch 64 --seed 0 --json
    ///   intrain score models/spaces/nb201.yaml --arch '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|' --plot profile.png
    ///   intrain score models/spaces/nb201.yaml --sample 200 --out scores.jsonl
    #[command(verbatim_doc_comment)]
    Score(score::ScoreArgs),
    /// CI gate: score a model as shipped (or a space's architecture) and fail (exit 1) when it
    /// breaks a trainability policy: dead layers, a one-direction bottleneck (PR), degenerate
    /// gradients (h), an exploding activation scale, a gradient that vanishes before the first
    /// layer, NaN/Inf. The default policy is calibrated on healthy exports and on models that
    /// fail to train; each failing check names the layer or tensor at fault.
    ///
    /// Examples:
    ///   intrain check model.onnx
    ///   intrain check model.onnx --policy trainability.yaml --format github --junit intrain.xml
    ///   intrain check model.onnx --min-gradient-ratio 1e-4 --min-intrain 500
    #[command(verbatim_doc_comment)]
    Check(check::CheckArgs),
    /// The proxies intrain computes: InTrain and its parts, the costs, and the baselines of the
    /// zero-cost literature, each with the pass it needs and its authors' conventions (real
    /// images, initialisation, batch); pass them to `score --proxies`, `eval --proxies`,
    /// `search --proxy`.
    ///
    /// Example: intrain proxies --json
    Proxies(proxies_cmd::ProxiesArgs),
    /// Rank correlation of proxies with benchmark ground truth (Kendall tau-b, Spearman rho, mean
    /// and std over seeds, bootstrap 95% interval), through a resumable score cache; several
    /// batch sizes give the batch-size study.
    ///
    /// Examples:
    ///   intrain eval --sample 1000                       # NAS-Bench-201, 1,000 of the 9,445 cells, paper settings
    ///   intrain eval --preset nb201-all --seeds 0,1,2,3,4 --device cuda
    ///   intrain eval --sample 200 --batch 1,8,16,32,64,128 --out bs-study
    #[command(verbatim_doc_comment)]
    Eval(eval::EvalArgs),
    /// InTrain-NAS: evolutionary search (or random search) over a YAML space under a FLOPs /
    /// parameter budget, maximising InTrain-Agg (--proxy intrain: InTrain alone, the paper's). Every evaluation is appended to DIR/history.jsonl; --resume DIR
    /// continues a killed run exactly; Ctrl-C stops cleanly (exit 130).
    ///
    /// Examples:
    ///   intrain search models/spaces/nb201.yaml
    ///   intrain search models/spaces/nb201.yaml -T 300 --max-params 0.8M --truth ../shared/data/nasbench201/nb201_all.csv
    ///   intrain search --resume intrain-search -T 500
    #[command(verbatim_doc_comment)]
    Search(search::SearchArgs),
    /// The paper's comparison and search table: per run, sample N architectures, select the best
    /// by each proxy, report its ground-truth accuracies (mean ± std over runs) and each proxy's
    /// Kendall tau over the sampled architectures, with the published values beside them,
    /// reusing the eval score cache.
    ///
    /// Examples:
    ///   intrain search-table --samples 5000 --runs 5 --cache intrain-eval/scores.jsonl
    ///   intrain search-table --proxies all --images cifar10_sample.npz --resolution 32
    ///   intrain search-table --proxies all --from-cache --samples 50 --images cifar10_sample.npz
    #[command(verbatim_doc_comment)]
    SearchTable(search_table::SearchTableArgs),
    /// Join record files written apart (the shards of `score --shard`, `eval --shard`,
    /// `search-table --shard` run on several machines) into one: cut-short last lines dropped,
    /// repeats kept once, two different scores for one architecture and protocol an error (exit
    /// 2), coverage checked against the shards' manifests (exit 1 naming what is missing).
    ///
    /// Example:
    ///   intrain merge shard-*.jsonl -o scores.jsonl
    #[command(verbatim_doc_comment)]
    Merge(merge::MergeArgs),
    /// Run a model on ONNX Runtime with seeded random or given (.npy) inputs.
    ///
    /// Example: intrain run model.onnx --input x=x.npy --save-outputs out/
    Run(run_model::RunArgs),
    /// List the supported ONNX ops and whether intrain can differentiate them.
    Ops(ops::OpsArgs),
    /// Show (and fetch if needed) the ONNX Runtime library intrain uses.
    Runtime(runtime_cmd::RuntimeCmdArgs),
    /// Describe a search space: size, functionally distinct cells, FLOPs/parameter range.
    ///
    /// Example: intrain space models/spaces/nb201.yaml
    Space(space_cmd::SpaceArgs),
    /// Export one architecture of a search space as ONNX.
    ///
    /// Example: intrain export models/spaces/nb201.yaml --arch '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|' -o cell.onnx
    Export(space_cmd::ExportArgs),
    /// Sample architectures of a search space (seeded, optionally under a budget).
    ///
    /// Example: intrain sample models/spaces/nb201.yaml -n 5 --max-params 1e6
    Sample(space_cmd::SampleArgs),
    /// Benchmarks (session creation, forward) on the NAS-Bench-201 network.
    ///
    /// Example: intrain bench forward --resolution 64 --json
    Bench(bench::BenchArgs),
}

/// Entry point of the binary: parses arguments, runs, maps errors to exit code 2.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = e.print();
                    if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                    {
                        Exit::Error.into()
                    } else {
                        Exit::Success.into()
                    }
                }
                _ => {
                    // One line, like every other error: clap's first line, the values it accepts
                    // when it lists them, and a pointer to --help.
                    let text = e.render().to_string();
                    let first =
                        text.lines().find(|l| !l.trim().is_empty()).unwrap_or("bad arguments");
                    let first = first.trim_start_matches("error: ");
                    let values = text
                        .lines()
                        .map(str::trim)
                        .find(|l| l.starts_with("[possible values:"))
                        .map(|l| format!(" {l}"))
                        .unwrap_or_default();
                    eprintln!("intrain: error: {first}{values} (see --help)");
                    Exit::Error.into()
                }
            };
        }
    };
    match run(cli) {
        Ok(code) => code.into(),
        Err(e) => {
            // The cause chain, without the causes a message already quotes (typed errors such
            // as `Error::Io` print their source themselves).
            let mut msg = e.to_string();
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !msg.contains(&c) {
                    msg = format!("{msg}: {c}");
                }
            }
            let mut msg = msg.replace('\n', " ");
            if let Some(h) = e.downcast_ref::<intrain::Error>().and_then(hint) {
                msg = format!("{msg}; {h}");
            }
            eprintln!("intrain: error: {msg}");
            Exit::Error.into()
        }
    }
}

/// The flag that fixes an error the library reports in its own terms.
fn hint(e: &intrain::Error) -> Option<String> {
    use intrain::Error;
    match e {
        Error::DynamicDim { dim, .. } => Some(format!("give it a value with --dim {dim}=N")),
        Error::NoInputShape { input } => {
            Some(format!("give one with --input-shape {input}=D0,D1,.."))
        }
        Error::NoLayers => Some("give them with --layers".into()),
        Error::OverBudget { limit, .. } => Some(format!("relax --max-{limit}")),
        Error::Provider { provider, .. } if provider == "CUDA" => Some("use --device cpu".into()),
        Error::NoLibraryFile(_) => Some("the path given with --ort-lib".into()),
        Error::InFile { inner, .. } => hint(inner),
        Error::Arch { source, .. } => hint(source),
        _ => None,
    }
}

fn run(cli: Cli) -> anyhow::Result<Exit> {
    cli.limits.install();
    match cli.command {
        Command::Inspect(a) => inspect::run(a),
        Command::Grad(a) => grad::run(a),
        Command::Score(a) => score::run(a),
        Command::Check(a) => check::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Proxies(a) => proxies_cmd::run(a),
        Command::Search(a) => search::run(a),
        Command::SearchTable(a) => search_table::run(a),
        Command::Merge(a) => merge::run(a),
        Command::Run(a) => run_model::run(a),
        Command::Ops(a) => ops::run(a),
        Command::Runtime(a) => runtime_cmd::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Space(a) => space_cmd::space(a),
        Command::Export(a) => space_cmd::export(a),
        Command::Sample(a) => space_cmd::sample(a),
    }
}

/// Writes a serialisable report as pretty JSON on stdout.
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The command-line name of a value (`train`, `as-is`, `grammar`), as `--help` lists it.
pub(crate) fn value_name<T: clap::ValueEnum>(v: &T) -> String {
    v.to_possible_value().map(|p| p.get_name().to_string()).unwrap_or_default()
}
