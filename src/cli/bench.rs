//! `intrain bench`: timings on the NAS-Bench-201 network, for comparison with PyTorch
//! (`examples/bench_vs_torch.py` interleaves both and reports ratios).

use std::time::Instant;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::args::RuntimeArgs;
use intrain::autodiff::BnMode;
use intrain::init::Init;
use intrain::ir::Tensor;
use intrain::nets::nb201::{DENSE, Nb201Options, build};

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
    /// Writes the benchmarked graph to `--save-graph`, if given.
    fn save(&self, graph: &intrain::ir::Graph) -> anyhow::Result<()> {
        if let Some(path) = &self.save_graph {
            intrain::onnx::save(graph, path)?;
        }
        Ok(())
    }
}

#[derive(Debug, Serialize)]
struct ForwardReport {
    batch: usize,
    resolution: usize,
    bn: BnMode,
    nodes: usize,
    build_ms: f64,
    export_ms: f64,
    session_ms: f64,
    forward_ms: Vec<f64>,
    forward_median_ms: f64,
    runtime: String,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Median of a non-empty slice.
pub(crate) fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

impl ForwardArgs {
    /// The benchmarked cell: `--arch`, or every edge `nor_conv_3x3`.
    fn cell(&self) -> &str {
        self.arch.as_deref().unwrap_or(DENSE)
    }

    /// Runs `session` on `feeds` `warmup + iters` times; the timed runs' milliseconds.
    fn time(
        &self,
        session: &mut intrain::runtime::Session,
        feeds: &[(&str, &Tensor)],
    ) -> intrain::Result<Vec<f64>> {
        let mut times = Vec::with_capacity(self.iters);
        for i in 0..self.warmup + self.iters {
            let t = Instant::now();
            session.run(feeds)?;
            if i >= self.warmup {
                times.push(ms(t));
            }
        }
        Ok(times)
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
    let cell = a.cell();
    let opts = Nb201Options {
        batch: a.batch,
        resolution: a.resolution,
        batch_norm: a.bn,
        ..Default::default()
    };
    let rt = a.runtime.runtime()?;
    let t = Instant::now();
    let g = build(cell, &opts)?;
    let build_ms = ms(t);
    let t = Instant::now();
    let bytes = intrain::onnx::to_bytes(&g);
    let export_ms = ms(t);
    a.save(&g)?;
    let t = Instant::now();
    let mut session = rt.session(&bytes)?;
    let session_ms = ms(t);
    let x: Tensor = Init::new(1).normal_tensor(&[a.batch, 3, a.resolution, a.resolution], 1.0);
    let times = a.time(&mut session, &[("x", &x)])?;
    let r = ForwardReport {
        batch: a.batch,
        resolution: a.resolution,
        bn: a.bn,
        nodes: g.nodes().len(),
        build_ms,
        export_ms,
        session_ms,
        forward_median_ms: median(&times),
        forward_ms: times,
        runtime: rt.describe(),
    };
    let text = format!(
        "NAS-Bench-201 ({} nodes), batch {}, {}x{}, BN {:?}: build {:.1} ms, export {:.1} ms, session {:.1} ms, forward median {:.1} ms",
        r.nodes,
        r.batch,
        r.resolution,
        r.resolution,
        r.bn,
        r.build_ms,
        r.export_ms,
        r.session_ms,
        r.forward_median_ms
    );
    emit(a.json, &r, &r.runtime, text)?;
    Ok(super::Exit::Success)
}

#[derive(Debug, Serialize)]
struct TrainReport {
    batch: usize,
    resolution: usize,
    forward_nodes: usize,
    training_nodes: usize,
    parameters: usize,
    build_ms: f64,
    differentiate_ms: f64,
    export_ms: f64,
    session_ms: f64,
    step_ms: Vec<f64>,
    step_median_ms: f64,
    end_to_end_ms: f64,
    runtime: String,
}

fn train(a: ForwardArgs) -> anyhow::Result<super::Exit> {
    use intrain::autodiff::{TrainingOptions, build_training_graph};
    let cell = a.cell();
    let opts = Nb201Options {
        batch: a.batch,
        resolution: a.resolution,
        batch_norm: BnMode::Train,
        ..Default::default()
    };
    let rt = a.runtime.runtime()?;
    let t = Instant::now();
    let g = build(cell, &opts)?;
    let build_ms = ms(t);
    let t = Instant::now();
    let tg = build_training_graph(&g, &TrainingOptions::default())?;
    let differentiate_ms = ms(t);
    let t = Instant::now();
    let bytes = intrain::onnx::to_bytes(&tg.graph);
    let export_ms = ms(t);
    a.save(&tg.graph)?;
    let t = Instant::now();
    let mut session = rt.session(&bytes)?;
    let session_ms = ms(t);
    let mut init = Init::new(1);
    let x: Tensor = init.normal_tensor(&[a.batch, 3, a.resolution, a.resolution], 1.0);
    let labels =
        Tensor::new([a.batch], intrain::ir::TensorData::I64(init.labels(a.batch, opts.classes)))
            .ok_or_else(|| anyhow::anyhow!("labels"))?;
    let label_name = tg.target_input.clone().unwrap_or_default();
    let times = a.time(&mut session, &[("x", &x), (label_name.as_str(), &labels)])?;
    let step = median(&times);
    let r = TrainReport {
        batch: a.batch,
        resolution: a.resolution,
        forward_nodes: g.nodes().len(),
        training_nodes: tg.graph.nodes().len(),
        parameters: tg.params.len(),
        build_ms,
        differentiate_ms,
        export_ms,
        session_ms,
        step_median_ms: step,
        end_to_end_ms: build_ms + differentiate_ms + export_ms + session_ms + step,
        step_ms: times,
        runtime: rt.describe(),
    };
    let text = format!(
        "NAS-Bench-201 train step ({} -> {} nodes, {} parameter tensors), batch {}, {}x{}: build {:.1} ms, differentiate {:.1} ms, export {:.1} ms, session {:.1} ms, forward+backward median {:.1} ms, end to end {:.1} ms",
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
        r.end_to_end_ms
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
