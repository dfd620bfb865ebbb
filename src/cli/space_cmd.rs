//! `intrain space`, `intrain export` and `intrain sample`: search spaces from YAML.

use std::path::PathBuf;

use clap::Args;

use intrain::amount::Amount;
use intrain::autodiff::BnMode;
use intrain::space::describe::{describe, flops_convention, sample_within};
use intrain::space::{Arch, Budget, LowerOptions, SearchSpace, SpaceKind};

/// Arguments of `space`.
#[derive(Debug, Args)]
pub struct SpaceArgs {
    /// The search space (YAML).
    space: PathBuf,
    /// Architectures sampled for the FLOPs/parameter range when the space has more than
    /// 20,000 architectures (smaller spaces are enumerated).
    #[arg(long, default_value_t = 200)]
    sample: usize,
    /// Seed of the sample.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The search space (YAML).
    space: PathBuf,
    /// The architecture, in the space's string form.
    #[arg(long)]
    arch: String,
    /// Output .onnx file.
    #[arg(short, long)]
    output: PathBuf,
    /// Batch size of the input.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Input resolution (default: the space's).
    #[arg(long)]
    resolution: Option<usize>,
    /// Seed of the Kaiming-normal weights.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// BatchNormalization in inference mode (running statistics) instead of training mode.
    #[arg(long)]
    eval_bn: bool,
}

/// Arguments of `sample`.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// The search space (YAML).
    space: PathBuf,
    /// Number of architectures.
    #[arg(short, default_value_t = 10)]
    n: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Keep only architectures with at most this many FLOPs, e.g. 450M or 4.5e8 (FLOPs as the
    /// space counts them: multiply-adds for `flops: macs`, else NAS-Bench-201's counter).
    #[arg(long)]
    max_flops: Option<Amount>,
    /// Keep only architectures with at most this many parameters, e.g. 5M.
    #[arg(long)]
    max_params: Option<Amount>,
    /// Give up after this many draws (a budget no architecture meets is an error).
    #[arg(long, default_value_t = 10_000)]
    max_tries: usize,
    /// Print JSON lines.
    #[arg(long)]
    json: bool,
}

/// Runs `space`.
pub fn space(a: SpaceArgs) -> anyhow::Result<super::Exit> {
    let s = SearchSpace::read(&a.space)?;
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    let report = describe(&s, a.sample, a.seed, &bar)?;
    bar.finish_and_clear();
    let blocks = report.blocks;
    if a.json {
        super::print_json(&report)?;
    } else {
        match s.kind() {
            SpaceKind::Cell => outln!(
                "space       {} (cell space: {} edges, ops: {})",
                report.name,
                report.edges,
                report.ops.join(", ")
            ),
            SpaceKind::NodeCell => outln!(
                "space       {} (node-cell space: up to {} vertices and {} edges, ops: {})",
                report.name,
                s.cell_nodes(),
                report.edges,
                report.ops.join(", ")
            ),
            SpaceKind::TwoInputCell => outln!(
                "space       {} (two-input cell space: normal and reduction cells of {} nodes, ops: {})",
                report.name,
                s.cell_nodes(),
                report.ops.join(", ")
            ),
            SpaceKind::Chain => outln!(
                "space       {} (chain space: {} stages, {} to {} blocks, ops: {})",
                report.name,
                report.stages,
                blocks[0],
                blocks[1],
                report.ops.join(", ")
            ),
        }
        match (report.size, report.canonical) {
            (Some(n), Some(c)) if s.kind() == SpaceKind::NodeCell => outln!(
                "size        {n} labelled cells ({} vertices, at most {} edges, the input reaching the output), {c} distinct up to isomorphism",
                s.cell_nodes(),
                report.edges
            ),
            (Some(n), Some(c)) if s.kind() == SpaceKind::TwoInputCell => outln!(
                "size        {n} genotypes, {c} distinct up to the order of each node's two inputs"
            ),
            (Some(n), Some(c)) => {
                outln!("size        {n} architectures, {c} functionally distinct")
            }
            (Some(n), None) => outln!("size        {n} architectures"),
            (None, _) if s.kind() == SpaceKind::NodeCell => outln!(
                "size        not counted: too large to enumerate (cells of up to {} vertices and {} edges)",
                s.cell_nodes(),
                report.edges
            ),
            (None, _) => outln!("size        more than 2^64 architectures"),
        }
        outln!(
            "parameters  {} to {} (over {})",
            report.params[0],
            report.params[1],
            report.range_over
        );
        outln!("FLOPs       {} to {} ({})", report.flops[0], report.flops[1], report.flops_count);
        outln!(
            "example     {} ({} parameters, {} FLOPs)",
            report.example.arch,
            report.example.cost.params,
            report.example.cost.flops
        );
    }
    Ok(super::Exit::Success)
}

/// Runs `export`.
pub fn export(a: ExportArgs) -> anyhow::Result<super::Exit> {
    let s = SearchSpace::read(&a.space)?;
    let arch = Arch::parse(&s, &a.arch)?;
    let opts = LowerOptions {
        batch: a.batch,
        resolution: a.resolution,
        batch_norm: if a.eval_bn { BnMode::AsIs } else { BnMode::Train },
        seed: Some(a.seed),
    };
    let lowered = s.lower_with_layers(&arch, &opts)?;
    let g = lowered.graph;
    // The grammar's layers travel with the file: `intrain score` on it measures the same layers.
    let meta = intrain::scoring::provenance::export_metadata(
        &s.spec.name,
        &arch.format(&s),
        &lowered.layers,
        a.resolution.unwrap_or(s.spec.input.resolution),
        a.seed,
    );
    intrain::onnx::save_with_metadata(&g, &a.output, &meta)?;
    let c = s.graph_cost(&g);
    eprintln!(
        "intrain: wrote {} ({} nodes, {} parameters, {} FLOPs ({}) per batch of {})",
        a.output.display(),
        g.nodes().len(),
        c.params,
        c.flops,
        flops_convention(&s),
        a.batch
    );
    Ok(super::Exit::Success)
}

/// Runs `sample`.
pub fn sample(a: SampleArgs) -> anyhow::Result<super::Exit> {
    let s = SearchSpace::read(&a.space)?;
    let budget = Budget { max_flops: a.max_flops, max_params: a.max_params };
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    let samples = sample_within(&s, &budget, a.n, a.seed, a.max_tries, &bar)?;
    bar.finish_and_clear();
    for c in samples {
        if a.json {
            outln!("{}", serde_json::to_string(&c)?);
        } else {
            match &c.module_hash {
                Some(h) => {
                    outln!("{}  params {}  FLOPs {}  hash {h}", c.arch, c.cost.params, c.cost.flops)
                }
                None => outln!("{}  params {}  FLOPs {}", c.arch, c.cost.params, c.cost.flops),
            }
        }
    }
    Ok(super::Exit::Success)
}
