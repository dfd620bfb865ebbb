//! `intrain bench`: timings on the NAS-Bench-201 network, for comparison with PyTorch
//! (`examples/bench_vs_torch.py` interleaves both and reports ratios).

use clap::{Args, Subcommand};
use serde::Serialize;

use super::args::RuntimeArgs;
use intrain::autodiff::BnMode;
use intrain::bench::{self, BenchSpec};
use intrain::nets::nb201::DENSE;

/// Arguments of `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchWhat,
}

#[derive(Debug, Subcommand)]
enum BenchWhat {
    /// Graph build, export, session creation and forward passes of the NAS-Bench-201 network.
    Forward(ForwardArgs),
    /// Graph build, differentiation, export, session creation and forward+backward passes
    /// (cross-entropy, batch-statistics BatchNorm, every parameter gradient as an output).
    Train(ForwardArgs),
}

#[derive(Debug, Args)]
struct ForwardArgs {
    #[command(flatten)]
    runtime: RuntimeArgs,
    /// Cell in the official string form (default: every edge nor_conv_3x3).
    #[arg(long)]
    arch: Option<String>,
    /// Batch size.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Input resolution.
    #[arg(long, default_value_t = 32)]
    resolution: usize,
    /// BatchNormalization mode.
    #[arg(long, value_enum, default_value_t = BnMode::AsIs)]
    bn: BnMode,
    /// Untimed warm-up runs.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Timed runs.
    #[arg(long, default_value_t = 5)]
    iters: usize,
    /// Also write the benchmarked graph (the training graph for `train`) as ONNX, e.g. for
    /// `examples/bench_vs_torch.py --what train-alternate`, which times it step by step against
    /// PyTorch in one process.
    #[arg(long, value_name = "OUT.onnx")]
    save_graph: Option<std::path::PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl ForwardArgs {
    /// What to benchmark.
    fn spec(&self) -> BenchSpec {
        BenchSpec {
            arch: self.arch.clone().unwrap_or_else(|| DENSE.to_string()),
            batch: self.batch,
            resolution: self.resolution,
            bn: self.bn,
            warmup: self.warmup,
            iters: self.iters,
            save_graph: self.save_graph.clone(),
        }
    }
}

/// Prints a report as one JSON line or as text.
fn emit<T: Serialize>(json: bool, r: &T, runtime: &str, text: String) -> anyhow::Result<()> {
    if json {
        outln!("{}", serde_json::to_string(r)?);
    } else {
        outln!("{runtime}");
        outln!("{text}");
    }
    Ok(())
}

fn forward(a: ForwardArgs) -> anyhow::Result<super::Exit> {
    let rt = a.runtime.runtime()?;
    let r = bench::forward(&rt, &a.spec())?;
    let text = format!(
        "NAS-Bench-201 ({} nodes), batch {}, {}x{}, BN {}: build {:.1} ms, export {:.1} ms, session {:.1} ms, forward median {:.1} ms\nmemory: {}",
        r.nodes,
        r.batch,
        r.resolution,
        r.resolution,
        super::value_name(&r.bn),
        r.build_ms,
        r.export_ms,
        r.session_ms,
        r.forward_median_ms,
        r.memory
    );
    emit(a.json, &r, &r.runtime, text)?;
    Ok(super::Exit::Success)
}

fn train(a: ForwardArgs) -> anyhow::Result<super::Exit> {
    let rt = a.runtime.runtime()?;
    let r = bench::train(&rt, &a.spec())?;
    let text = format!(
        "NAS-Bench-201 train step ({} -> {} nodes, {} parameter tensors), batch {}, {}x{}: build {:.1} ms, differentiate {:.1} ms, export {:.1} ms, session {:.1} ms, forward+backward median {:.1} ms, end to end {:.1} ms\nmemory: {}",
        r.forward_nodes,
        r.training_nodes,
        r.parameters,
        r.batch,
        r.resolution,
        r.resolution,
        r.build_ms,
        r.differentiate_ms,
        r.export_ms,
        r.session_ms,
        r.step_median_ms,
        r.end_to_end_ms,
        r.memory
    );
    emit(a.json, &r, &r.runtime, text)?;
    Ok(super::Exit::Success)
}

/// Runs `bench`.
pub fn run(a: BenchArgs) -> anyhow::Result<super::Exit> {
    match a.what {
        BenchWhat::Forward(f) => forward(f),
        BenchWhat::Train(f) => train(f),
    }
}
