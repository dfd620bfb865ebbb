//! `intrain eval`: score a cell set of a benchmark space under one or more seeds and batch
//! sizes (through a persistent score cache), then report rank correlations with the ground
//! truth: Markdown, CSV, JSON and scatter plots.

use std::path::PathBuf;

use clap::Args;

use super::args::RuntimeArgs;
use super::eval_report::write_outputs;
use super::score_batch::progress;
use super::target::ProtocolArgs;
use intrain::error::Error;
use intrain::experiments::eval_grid::{Grid, Inputs, Preset, Sources};
use intrain::scoring::{ProxyList, RecordFile, Scorer};

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
    /// Proxies to report, comma-separated, or `all` (`intrain proxies` lists them; the
    /// baselines that read real images need --images).
    #[arg(
        long,
        value_name = "NAME,..|all",
        default_value = "intrain-agg,intrain,gamma,o,additive,params,flops"
    )]
    proxies: ProxyList,
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// Score cache (JSONL), keyed by architecture and every setting that changes a score
    /// [default: OUT/scores.jsonl].
    #[arg(long, value_name = "FILE")]
    cache: Option<PathBuf>,
    /// Score only shard K of N (0-based: 0/4 to 3/4) of the cells into the cache, with a
    /// manifest beside it, and report nothing: merge the shards' caches with `intrain merge`,
    /// then run the evaluation with --cache on the merged file (it scores nothing again).
    #[arg(long, value_name = "K/N")]
    shard: Option<intrain::scoring::shard::Shard>,
    #[command(flatten)]
    jobs: super::args::JobsArgs,
    /// Output folder: results.md, results.json, scores-bB.csv, scatter plots.
    #[arg(long, short = 'o', value_name = "DIR", default_value = "intrain-eval")]
    out: PathBuf,
    /// Bootstrap resamples for the 95% intervals (0: none).
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
    /// Also report each rank aggregate of --proxies with each of its components left out in
    /// turn (rows `AGGREGATE -COMPONENT`).
    #[arg(long)]
    ablations: bool,
    /// Print the JSON result instead of Markdown.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

/// Runs `eval`.
pub fn run(a: EvalArgs) -> anyhow::Result<super::Exit> {
    if a.seeds.is_empty() || a.batch.is_empty() || a.batch.contains(&0) {
        return Err(
            Error::Usage("--seeds and --batch need at least one value (batch > 0)".into()).into()
        );
    }
    if a.ablations && a.proxies.0.iter().all(|p| p.components().is_empty()) {
        return Err(Error::Usage(
            "--ablations leaves out components of rank aggregates, and --proxies names none (intrain-agg, az-nas, vkdnw-agg, te-nas)".into(),
        )
        .into());
    }
    let inp = Inputs::resolve(&Sources {
        space: a.space.clone().unwrap_or_else(|| PathBuf::from("models/spaces/nb201.yaml")),
        preset: a.preset,
        data: a.data.clone(),
        truth: a.truth.clone(),
        arch_column: a.arch_column.clone(),
        targets: a.targets.clone(),
        cells: a.cells.clone(),
        sample: a.sample,
        sample_seed: a.sample_seed,
    })?;
    std::fs::create_dir_all(&a.out).map_err(|source| Error::Io { path: a.out.clone(), source })?;
    let cache_path = a.cache.clone().unwrap_or_else(|| a.out.join("scores.jsonl"));
    let grid = Grid {
        protocol: a.protocol.protocol(0, 0),
        seeds: a.seeds.clone(),
        batches: a.batch.clone(),
        proxies: a.proxies.0.clone(),
        bootstrap: a.bootstrap,
        ablations: a.ablations,
    };
    let mut scorer =
        Scorer::new(Box::new(|| a.runtime.runtime()), Some(RecordFile::open(&cache_path)?))
            .with_proxies(&a.proxies.0)
            .with_jobs(a.jobs.jobs);
    let bar = progress("eval");
    if let Some(shard) = a.shard {
        let n = grid.score_shard(&inp, &mut scorer, shard, &cache_path, &bar)?;
        bar.finish_and_clear();
        outln!(
            "shard {shard}: {n} scores in {} ({} new); merge the shards' caches with `intrain merge`, then run eval with --cache on the merged file",
            cache_path.display(),
            scorer.scored()
        );
        return Ok(super::Exit::Success);
    }
    let outcome = grid.run(&inp, &mut scorer, &bar)?;
    bar.finish_and_clear();
    eprintln!(
        "intrain: {} scores ({} from the cache {})",
        outcome.total,
        outcome.reused,
        cache_path.display()
    );
    let md = write_outputs(&a.out, &inp, &outcome)?;
    if a.json {
        super::print_json(&outcome.results)?;
    } else {
        out!("{md}");
    }
    Ok(super::Exit::Success)
}
