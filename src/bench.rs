//! Benchmarks of the NAS-Bench-201 network: graph build, export, session creation, and timed
//! forward passes or training steps (forward + backward), each phase in milliseconds.

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use crate::analysis::score::PeakMemory;
use crate::autodiff::{BnMode, TrainingOptions, build_training_graph};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::ir::{Graph, Tensor, TensorData};
use crate::nets::nb201::{Nb201Options, build};
use crate::runtime::{Runtime, Session};

/// What to benchmark.
#[derive(Debug, Clone)]
pub struct BenchSpec {
    /// The cell, in the official string form.
    pub arch: String,
    /// Batch size.
    pub batch: usize,
    /// Input resolution.
    pub resolution: usize,
    /// BatchNormalization mode of the forward benchmark (training steps use batch statistics).
    pub bn: BnMode,
    /// Untimed warm-up runs.
    pub warmup: usize,
    /// Timed runs.
    pub iters: usize,
    /// Also write the benchmarked graph here.
    pub save_graph: Option<PathBuf>,
}

/// Timings of forward passes.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ForwardReport {
    /// Batch size.
    pub batch: usize,
    /// Input resolution.
    pub resolution: usize,
    /// BatchNormalization mode.
    pub bn: BnMode,
    /// Nodes of the graph.
    pub nodes: usize,
    /// Building the graph.
    pub build_ms: f64,
    /// Serialising it to ONNX.
    pub export_ms: f64,
    /// Creating the session.
    pub session_ms: f64,
    /// Each timed forward pass.
    pub forward_ms: Vec<f64>,
    /// Their median.
    pub forward_median_ms: f64,
    /// Peak memory: the estimate made before the session, and the process's peak after the
    /// timed runs.
    pub memory: PeakMemory,
    /// The runtime.
    pub runtime: String,
}

/// Timings of training steps (forward + backward).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TrainReport {
    /// Batch size.
    pub batch: usize,
    /// Input resolution.
    pub resolution: usize,
    /// Nodes of the forward graph.
    pub forward_nodes: usize,
    /// Nodes of the training graph.
    pub training_nodes: usize,
    /// Parameter tensors differentiated.
    pub parameters: usize,
    /// Building the graph.
    pub build_ms: f64,
    /// Differentiating it.
    pub differentiate_ms: f64,
    /// Serialising the training graph to ONNX.
    pub export_ms: f64,
    /// Creating the session.
    pub session_ms: f64,
    /// Each timed step.
    pub step_ms: Vec<f64>,
    /// Their median.
    pub step_median_ms: f64,
    /// Build, differentiation, export, session and one median step.
    pub end_to_end_ms: f64,
    /// Peak memory: the estimate made before the session, and the process's peak after the
    /// timed runs.
    pub memory: PeakMemory,
    /// The runtime.
    pub runtime: String,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Median (NaN for an empty slice).
pub fn median(v: &[f64]) -> f64 {
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

impl BenchSpec {
    /// Writes the benchmarked graph, if asked.
    fn save(&self, graph: &Graph) -> Result<()> {
        match &self.save_graph {
            Some(path) => crate::onnx::save(graph, path),
            None => Ok(()),
        }
    }

    /// Runs `session` on `feeds` `warmup + iters` times; the timed runs' milliseconds.
    fn time(&self, session: &mut Session, feeds: &[(&str, &Tensor)]) -> Result<Vec<f64>> {
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

/// Times forward passes of the network.
pub fn forward(rt: &Runtime, s: &BenchSpec) -> Result<ForwardReport> {
    let opts = Nb201Options {
        batch: s.batch,
        resolution: s.resolution,
        batch_norm: s.bn,
        ..Default::default()
    };
    let t = Instant::now();
    let g = build(&s.arch, &opts)?;
    let build_ms = ms(t);
    let t = Instant::now();
    let bytes = crate::onnx::to_bytes(&g);
    let export_ms = ms(t);
    s.save(&g)?;
    let estimate = rt.check_memory(&g)?;
    let t = Instant::now();
    let mut session = rt.session_sized(&bytes, &estimate)?;
    let session_ms = ms(t);
    let x: Tensor = Init::new(1).normal_tensor(&[s.batch, 3, s.resolution, s.resolution], 1.0);
    let times = s.time(&mut session, &[("x", &x)])?;
    Ok(ForwardReport {
        batch: s.batch,
        resolution: s.resolution,
        bn: s.bn,
        nodes: g.nodes().len(),
        build_ms,
        export_ms,
        session_ms,
        forward_median_ms: median(&times),
        forward_ms: times,
        memory: PeakMemory::after_run(estimate),
        runtime: rt.describe(),
    })
}

/// Times training steps (cross-entropy, batch-statistics BatchNorm, every parameter gradient
/// as an output).
pub fn train(rt: &Runtime, s: &BenchSpec) -> Result<TrainReport> {
    let opts = Nb201Options {
        batch: s.batch,
        resolution: s.resolution,
        batch_norm: BnMode::Train,
        ..Default::default()
    };
    let t = Instant::now();
    let g = build(&s.arch, &opts)?;
    let build_ms = ms(t);
    let t = Instant::now();
    let tg = build_training_graph(&g, &TrainingOptions::default())?;
    let differentiate_ms = ms(t);
    let t = Instant::now();
    let bytes = crate::onnx::to_bytes(&tg.graph);
    let export_ms = ms(t);
    s.save(&tg.graph)?;
    let estimate = rt.check_memory(&tg.graph)?;
    let t = Instant::now();
    let mut session = rt.session_sized(&bytes, &estimate)?;
    let session_ms = ms(t);
    let mut init = Init::new(1);
    let x: Tensor = init.normal_tensor(&[s.batch, 3, s.resolution, s.resolution], 1.0);
    let labels = Tensor::new([s.batch], TensorData::I64(init.labels(s.batch, opts.classes)))
        .ok_or_else(|| Error::Input("labels".into()))?;
    let label_name = tg.target_input.clone().unwrap_or_default();
    let times = s.time(&mut session, &[("x", &x), (label_name.as_str(), &labels)])?;
    let step = median(&times);
    Ok(TrainReport {
        batch: s.batch,
        resolution: s.resolution,
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
        memory: PeakMemory::after_run(estimate),
        runtime: rt.describe(),
    })
}
