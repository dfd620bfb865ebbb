//! `intrain search-table`: the paper's search table (supplementary Table 1). Each run samples
//! N architectures, selects the best by each proxy, and reports the selected architecture's
//! ground-truth accuracies; mean and std over runs. Scores come from (and go to) the score
//! cache shared with `eval`.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::args::RuntimeArgs;
use super::score_batch::progress;
use super::target::ProtocolArgs;
use clap::Args;
use intrain::eval::paper_value;
use intrain::experiments::search_table::{TableSpec, build};
use intrain::scoring::{ProxyList, RecordFile, Scorer};
use intrain::space::SearchSpace;

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
    /// Proxies that select, comma-separated, or `all` (`intrain proxies` lists them; the
    /// baselines that read real images need --images).
    #[arg(
        long,
        value_name = "NAME,..|all",
        default_value = "intrain-agg,intrain,gamma,o,params,flops"
    )]
    proxies: ProxyList,
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
    /// Score only shard K of N (0-based: 0/4 to 3/4) of the sampled architectures into the
    /// cache, with a manifest beside it, and build no table: merge the shards' caches with
    /// `intrain merge`, then build the table with --cache on the merged file.
    #[arg(long, value_name = "K/N")]
    shard: Option<intrain::scoring::shard::Shard>,
    #[command(flatten)]
    jobs: super::args::JobsArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

/// Runs `search-table`.
pub fn run(a: SearchTableArgs) -> anyhow::Result<super::Exit> {
    let space = SearchSpace::read(
        &a.space.clone().unwrap_or_else(|| PathBuf::from("models/spaces/nb201.yaml")),
    )?;
    let p = a.protocol.protocol(a.batch, a.score_seed);
    let mut scorer =
        Scorer::new(Box::new(|| a.runtime.runtime()), Some(RecordFile::open(&a.cache)?))
            .with_proxies(&a.proxies.0)
            .with_jobs(a.jobs.jobs);
    let spec = TableSpec {
        truth: &a.truth,
        arch_column: &a.arch_column,
        targets: &a.targets,
        samples: a.samples,
        runs: a.runs,
        from_cache: a.from_cache,
        proxies: &a.proxies.0,
        protocol: &p,
    };
    let bar = progress("scoring");
    if let Some(shard) = a.shard {
        let n = intrain::experiments::search_table::score_shard(
            &space,
            &spec,
            &mut scorer,
            shard,
            &a.cache,
            &bar,
        )?;
        bar.finish_and_clear();
        outln!(
            "shard {shard}: {n} architectures in {} ({} new); merge the shards' caches with `intrain merge`, then build the table with --cache on the merged file",
            a.cache.display(),
            scorer.scored()
        );
        return Ok(super::Exit::Success);
    }
    let table = build(&space, &spec, &mut scorer, &bar)?;
    bar.finish_and_clear();
    if a.json {
        super::print_json(&table.rows)?;
        return Ok(super::Exit::Success);
    }
    let mut md = String::new();
    let _ = writeln!(
        md,
        "{} runs x {} samples ({}); batch {}, resolution {}, score seed {}\n",
        a.runs,
        a.samples,
        if a.from_cache {
            format!("from the {} architectures scored in the cache", table.pool)
        } else {
            format!("from all {} architectures of the table", table.pool)
        },
        p.batch,
        p.resolution_for(space.spec.input.resolution),
        p.seed
    );
    let nb201 = space.spec.name == "nas-bench-201";
    let _ = writeln!(
        md,
        "Accuracy of the architecture each proxy selects (mean ± std over runs){}; Kendall tau \
         of the proxy over the {} sampled architectures{}.\n",
        if nb201 { ", published mean in brackets" } else { "" },
        table.sampled,
        if nb201 { ", published tau (9,445 cells) in brackets" } else { "" },
    );
    let _ = writeln!(
        md,
        "| selected by | {} | {} |",
        a.targets.join(" | "),
        a.targets.iter().map(|t| format!("tau {t}")).collect::<Vec<_>>().join(" | ")
    );
    let _ = writeln!(md, "|---|{}", "---|".repeat(2 * a.targets.len()));
    let mut sources = Vec::new();
    for r in table.paper_order() {
        let published = r.published.filter(|_| nb201);
        if let Some(p) = published.filter(|p| !sources.contains(&p.source)) {
            sources.push(p.source);
        }
        let mut cells: Vec<String> = r
            .mean_std
            .iter()
            .zip(&a.targets)
            .map(|((m, s), t)| {
                // NaN: a run whose sample the proxy could not order (all values tied).
                let ours = if m.is_nan() { "-".to_string() } else { format!("{m:.2} ± {s:.2}") };
                match published.and_then(|p| p.on(t)) {
                    Some(v) => format!("{ours} ({v:.2})"),
                    None => ours,
                }
            })
            .collect();
        for (k, t) in r.kendall.iter().zip(&a.targets) {
            let paper = if nb201 { paper_value(&r.proxy, t).0 } else { None };
            cells.push(match (k, paper) {
                (Some(k), Some(p)) => format!("{k:.3} ({p:.3})"),
                (Some(k), None) => format!("{k:.3}"),
                (None, _) => "-".into(),
            });
        }
        let _ = writeln!(md, "| {} | {} |", r.proxy, cells.join(" | "));
    }
    if !sources.is_empty() {
        let _ = writeln!(md, "\nPublished accuracies: {}.", sources.join("; "));
    }
    out!("{md}");
    Ok(super::Exit::Success)
}
