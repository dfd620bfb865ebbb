//! `intrain space`, `intrain export` and `intrain sample`: search spaces from YAML.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use crate::error::Error;
use crate::space::{Arch, LowerOptions, SearchSpace, SpaceKind, rng};

/// Parses a count with an optional K/M/G/T suffix (`450M`, `1.2G`, `4e5`).
pub fn parse_count(s: &str) -> std::result::Result<f64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if "kKmMgGtT".contains(c) => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1e3,
                'M' => 1e6,
                'G' => 1e9,
                _ => 1e12,
            };
            (&t[..i], m)
        }
        _ => (t, 1.0),
    };
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v * mult),
        _ => Err(format!("'{s}' is not a count like 450M, 1.2G or 4e5")),
    }
}

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
    #[arg(long, value_parser = parse_count)]
    max_flops: Option<f64>,
    /// Keep only architectures with at most this many parameters, e.g. 5M.
    #[arg(long, value_parser = parse_count)]
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
    let c = space.cost(arch)?;
    Ok(ArchInfo {
        arch: arch.format(space),
        canonical: arch.canonical(space).format(space),
        params: c.params,
        flops: c.flops,
        macs: c.macs,
    })
}

/// What "FLOPs" means in this space, for reports.
fn flops_note(s: &SearchSpace) -> &'static str {
    match s.spec.flops {
        crate::space::spec::FlopsSpec::Macs => "multiply-adds",
        crate::space::spec::FlopsSpec::Tensorwatch => "NAS-Bench-201 counter",
    }
}

#[derive(Debug, Serialize)]
struct SpaceReport {
    name: String,
    kind: &'static str,
    edges: usize,
    ops: Vec<String>,
    stages: usize,
    blocks: [usize; 2],
    size: Option<u64>,
    canonical: Option<usize>,
    range_over: String,
    flops_count: &'static str,
    params: [u64; 2],
    flops: [u64; 2],
    example: ArchInfo,
}

/// The parameter and FLOPs range, and over what it was taken.
fn ranges(s: &SearchSpace, a: &SpaceArgs) -> anyhow::Result<([u64; 2], [u64; 2], String)> {
    if let Some(b) = s.bounds()? {
        let p = [b.min_params.1.params, b.max_params.1.params];
        let f = [b.min_flops.1.flops, b.max_flops.1.flops];
        return Ok((p, f, "the whole space (exact bounds)".into()));
    }
    let size = s.size();
    let enumerate = size.is_some_and(|n| n <= 20_000);
    let archs: Vec<Arch> = if enumerate {
        (0..size.unwrap_or(0)).filter_map(|i| Arch::from_index(s, i)).collect()
    } else {
        let mut r = rng(a.seed);
        (0..a.sample).map(|_| Arch::sample(s, &mut r)).collect()
    };
    // Every architecture is costed: parameters count dead edges too.
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(archs.len() as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    let (mut p, mut f) = ([u64::MAX, 0], [u64::MAX, 0]);
    for x in &archs {
        let c = s.cost(x)?;
        p = [p[0].min(c.params), p[1].max(c.params)];
        f = [f[0].min(c.flops), f[1].max(c.flops)];
        bar.inc(1);
    }
    bar.finish_and_clear();
    let over = if enumerate {
        "all architectures".into()
    } else {
        format!("a seeded sample of {}", archs.len())
    };
    Ok((p, f, over))
}

/// Runs `space`.
pub fn space(a: SpaceArgs) -> anyhow::Result<ExitCode> {
    let s = SearchSpace::read(&a.space)?;
    let size = s.size();
    let canonical = (s.kind() == SpaceKind::Cell && size.is_some_and(|n| n <= 20_000)).then(|| {
        (0..size.unwrap_or(0))
            .filter_map(|i| Arch::from_index(&s, i))
            .map(|x| x.canonical(&s))
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    });
    let (params, flops, range_over) = ranges(&s, &a)?;
    let mut r = rng(a.seed);
    let example = costs(&s, &Arch::sample(&s, &mut r))?;
    let chain = s.chain_stages();
    let mut ops: Vec<String> = s.op_names().iter().map(|x| x.to_string()).collect();
    for st in chain {
        for (n, _) in &st.ops {
            if !ops.contains(n) {
                ops.push(n.clone());
            }
        }
    }
    let blocks = [
        chain.iter().map(|st| st.depths.iter().min().copied().unwrap_or(0)).sum(),
        chain.iter().map(|st| st.depths.iter().max().copied().unwrap_or(0)).sum(),
    ];
    let report = SpaceReport {
        name: s.spec.name.clone(),
        kind: match s.kind() {
            SpaceKind::Cell => "cell",
            SpaceKind::Chain => "chain",
        },
        edges: s.edges(),
        ops,
        stages: chain.len(),
        blocks,
        size,
        canonical,
        range_over,
        flops_count: flops_note(&s),
        params,
        flops,
        example,
    };
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
        outln!("FLOPs       {} to {} ({})", report.flops[0], report.flops[1], report.flops_count);
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
    let lowered = s.lower_with_layers(&arch, &opts)?;
    let g = lowered.graph;
    // The grammar's layers travel with the file: `intrain score` on it measures the same layers.
    let meta = crate::scoring::provenance::export_metadata(
        &s.spec.name,
        &arch.format(&s),
        &lowered.layers,
        a.resolution.unwrap_or(s.spec.input.resolution),
        a.seed,
    );
    crate::onnx::save_with_metadata(&g, &a.output, &meta)?;
    let c = s.graph_cost(&g);
    eprintln!(
        "intrain: wrote {} ({} nodes, {} parameters, {} FLOPs ({}) per batch of {})",
        a.output.display(),
        g.nodes().len(),
        c.params,
        c.flops,
        flops_note(&s),
        a.batch
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `sample`.
pub fn sample(a: SampleArgs) -> anyhow::Result<ExitCode> {
    let s = SearchSpace::read(&a.space)?;
    if let Some(b) = s.bounds()? {
        // A budget below the cheapest architecture is an error at once.
        let (arch, c) = &b.min_flops;
        if let Some(m) = a.max_flops.filter(|&m| c.flops as f64 > m) {
            return Err(Error::Usage(format!(
                "no architecture of '{}' meets --max-flops {m}: the cheapest has {} FLOPs ({}): {}",
                s.spec.name,
                c.flops,
                flops_note(&s),
                arch.format(&s)
            ))
            .into());
        }
        let (arch, c) = &b.min_params;
        if let Some(m) = a.max_params.filter(|&m| c.params as f64 > m) {
            return Err(Error::Usage(format!(
                "no architecture of '{}' meets --max-params {m}: the smallest has {} parameters: {}",
                s.spec.name,
                c.params,
                arch.format(&s)
            ))
            .into());
        }
    }
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
