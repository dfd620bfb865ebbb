//! `intrain space`, `intrain export` and `intrain sample`: search spaces from YAML.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use crate::error::Error;
use crate::ir::cost::{graph_cost, parameter_count};
use crate::space::{Arch, LowerOptions, SearchSpace, rng};

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
    /// Keep only architectures with at most this many FLOPs (NAS-Bench-201 convention), e.g. 450e6.
    #[arg(long)]
    max_flops: Option<f64>,
    /// Keep only architectures with at most this many parameters.
    #[arg(long)]
    max_params: Option<f64>,
    /// Give up after this many draws (a budget no architecture meets is an error).
    #[arg(long, default_value_t = 10_000)]
    max_tries: usize,
    /// Print JSON lines.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct ArchInfo {
    arch: String,
    canonical: String,
    params: u64,
    flops: u64,
    macs: u64,
}

fn costs(space: &SearchSpace, arch: &Arch) -> crate::Result<ArchInfo> {
    let g = space.lower(arch, &LowerOptions { seed: None, ..Default::default() })?;
    let c = graph_cost(&g);
    Ok(ArchInfo {
        arch: arch.format(space),
        canonical: arch.canonical(space).format(space),
        params: parameter_count(&g),
        flops: c.flops,
        macs: c.macs,
    })
}

#[derive(Debug, Serialize)]
struct SpaceReport {
    name: String,
    edges: usize,
    ops: Vec<String>,
    size: Option<u64>,
    canonical: Option<usize>,
    range_over: String,
    params: [u64; 2],
    flops: [u64; 2],
    example: ArchInfo,
}

/// Runs `space`.
pub fn space(a: SpaceArgs) -> anyhow::Result<ExitCode> {
    let s = SearchSpace::read(&a.space)?;
    let size = s.size();
    let enumerate = size.is_some_and(|n| n <= 20_000);
    let archs: Vec<Arch> = if enumerate {
        (0..size.unwrap_or(0)).filter_map(|i| Arch::from_index(&s, i)).collect()
    } else {
        let mut r = rng(a.seed);
        (0..a.sample).map(|_| Arch::sample(&s, &mut r)).collect()
    };
    let canonical = enumerate.then(|| {
        archs.iter().map(|x| x.canonical(&s)).collect::<std::collections::BTreeSet<_>>().len()
    });
    // Every architecture is costed: parameters count dead edges too.
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(archs.len() as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    let (mut p, mut f) = ([u64::MAX, 0], [u64::MAX, 0]);
    for x in &archs {
        let c = costs(&s, x)?;
        p = [p[0].min(c.params), p[1].max(c.params)];
        f = [f[0].min(c.flops), f[1].max(c.flops)];
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut r = rng(a.seed);
    let example = costs(&s, &Arch::sample(&s, &mut r))?;
    let report = SpaceReport {
        name: s.spec.name.clone(),
        edges: s.edges(),
        ops: s.op_names().iter().map(|x| x.to_string()).collect(),
        size,
        canonical,
        range_over: if enumerate {
            "all architectures".into()
        } else {
            format!("a seeded sample of {}", archs.len())
        },
        params: p,
        flops: f,
        example,
    };
    if a.json {
        super::print_json(&report)?;
    } else {
        outln!(
            "space       {} ({} edges, ops: {})",
            report.name,
            report.edges,
            report.ops.join(", ")
        );
        match (report.size, report.canonical) {
            (Some(n), Some(c)) => {
                outln!("size        {n} architectures, {c} functionally distinct")
            }
            (Some(n), None) => outln!("size        {n} architectures"),
            (None, _) => outln!("size        more than 2^64 architectures"),
        }
        outln!(
            "parameters  {} to {} (over {})",
            report.params[0],
            report.params[1],
            report.range_over
        );
        outln!("FLOPs       {} to {}", report.flops[0], report.flops[1]);
        outln!(
            "example     {} ({} parameters, {} FLOPs)",
            report.example.arch,
            report.example.params,
            report.example.flops
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `export`.
pub fn export(a: ExportArgs) -> anyhow::Result<ExitCode> {
    let s = SearchSpace::read(&a.space)?;
    let arch = Arch::parse(&s, &a.arch)?;
    let opts = LowerOptions {
        batch: a.batch,
        resolution: a.resolution,
        bn_training: !a.eval_bn,
        seed: Some(a.seed),
    };
    let g = s.lower(&arch, &opts)?;
    crate::onnx::save(&g, &a.output)?;
    let c = graph_cost(&g);
    eprintln!(
        "intrain: wrote {} ({} nodes, {} parameters, {} FLOPs per batch of {})",
        a.output.display(),
        g.nodes().len(),
        parameter_count(&g),
        c.flops,
        a.batch
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `sample`.
pub fn sample(a: SampleArgs) -> anyhow::Result<ExitCode> {
    let s = SearchSpace::read(&a.space)?;
    let mut r = rng(a.seed);
    let mut found = 0;
    let max_tries = a.max_tries.max(a.n);
    for _ in 0..max_tries {
        if found == a.n {
            break;
        }
        let arch = Arch::sample(&s, &mut r);
        let c = costs(&s, &arch)?;
        if a.max_flops.is_some_and(|m| c.flops as f64 > m)
            || a.max_params.is_some_and(|m| c.params as f64 > m)
        {
            continue;
        }
        found += 1;
        if a.json {
            outln!("{}", serde_json::to_string(&c)?);
        } else {
            outln!("{}  params {}  FLOPs {}", c.arch, c.params, c.flops);
        }
    }
    if found < a.n {
        return Err(Error::Usage(format!("only {found} of {} sampled architectures meet the budget after {max_tries} draws; relax --max-flops/--max-params", a.n)).into());
    }
    Ok(ExitCode::SUCCESS)
}
