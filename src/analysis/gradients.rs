//! One forward + backward pass of a model and per-parameter gradient statistics (f64).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::autodiff::{Loss, TrainingGraph, TrainingOptions, build_training_graph};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::ir::{DType, Graph, Tensor};
use crate::runtime::Runtime;

/// Statistics of one gradient tensor, accumulated in f64.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TensorStats {
    /// Number of elements.
    pub numel: usize,
    /// Euclidean norm of the finite elements.
    pub norm: f64,
    /// Mean of the finite elements.
    pub mean: f64,
    /// Unbiased (n-1) standard deviation of the finite elements.
    pub std: f64,
    /// Largest |g| over the finite elements.
    pub max_abs: f64,
    /// Number of NaN or infinite elements.
    pub non_finite: usize,
}

impl TensorStats {
    /// Statistics of `values`.
    pub fn of(values: &[f32]) -> TensorStats {
        let (mut n, mut sum, mut max_abs, mut bad) = (0usize, 0f64, 0f64, 0usize);
        for &v in values {
            if v.is_finite() {
                n += 1;
                sum += v as f64;
                max_abs = max_abs.max((v as f64).abs());
            } else {
                bad += 1;
            }
        }
        let mean = if n > 0 { sum / n as f64 } else { 0.0 };
        let (mut ss, mut sq) = (0f64, 0f64);
        for &v in values.iter().filter(|v| v.is_finite()) {
            let d = v as f64 - mean;
            ss += d * d;
            sq += (v as f64) * (v as f64);
        }
        let std = if n > 1 { (ss / (n - 1) as f64).sqrt() } else { 0.0 };
        TensorStats { numel: values.len(), norm: sq.sqrt(), mean, std, max_abs, non_finite: bad }
    }
}

/// The gradient of one parameter.
#[derive(Debug, Clone, Serialize)]
pub struct ParamReport {
    /// Parameter name.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Gradient statistics; `None` when the parameter does not influence the loss.
    pub grad: Option<TensorStats>,
}

/// Loss and gradients of one forward + backward pass.
#[derive(Debug, Clone, Serialize)]
pub struct GradientReport {
    /// The loss.
    pub loss: f64,
    /// Loss head.
    pub loss_kind: Loss,
    /// Per parameter, in order of first use.
    pub params: Vec<ParamReport>,
    /// Nodes in the training graph.
    pub training_graph_nodes: usize,
}

/// Inputs for one pass: the forward inputs by name, and the labels/target (generated if absent).
#[derive(Debug, Clone, Default)]
pub struct PassInputs {
    /// Forward inputs by name; absent float inputs are seeded N(0,1) samples.
    pub inputs: BTreeMap<String, Tensor>,
    /// Labels (cross-entropy) or target (MSE); seeded random when absent.
    pub target: Option<Tensor>,
    /// Seed of generated inputs.
    pub seed: u64,
}

/// Builds the training graph of `graph` and the feeds of one pass.
pub fn prepare(
    graph: &Graph,
    opts: &TrainingOptions,
    inputs: &PassInputs,
) -> Result<(TrainingGraph, Vec<(String, Tensor)>)> {
    let tg = build_training_graph(graph, opts)?;
    let feeds = pass_feeds(graph, &tg, inputs)?;
    Ok((tg, feeds))
}

/// [`prepare`] and the session of the training graph, with the memory estimate it was checked
/// against. The feeds are drawn on another thread while ONNX Runtime builds the session: a
/// seeded batch of a large network takes about as long to draw as the session to build.
pub fn prepare_session(
    rt: &Runtime,
    graph: &Graph,
    opts: &TrainingOptions,
    inputs: &PassInputs,
) -> Result<PreparedPass> {
    let tg = build_training_graph(graph, opts)?;
    let (session, feeds) = std::thread::scope(|s| {
        let feeds = s.spawn(|| pass_feeds(graph, &tg, inputs));
        let session = rt.session_checked(&tg.graph);
        (session, feeds.join())
    });
    let feeds = feeds.map_err(|_| Error::Runtime("drawing the pass's inputs failed".into()))??;
    let (session, estimate) = session?;
    Ok(PreparedPass { graph: tg, feeds, session, estimate })
}

/// A training graph ready to run: its session and the feeds of one pass.
pub struct PreparedPass {
    /// The training graph.
    pub graph: TrainingGraph,
    /// The feeds by name: the forward inputs, then the labels or target.
    pub feeds: Vec<(String, Tensor)>,
    /// The session of the training graph.
    pub session: crate::runtime::Session,
    /// The memory estimate the session was checked against.
    pub estimate: crate::ir::memory::MemoryEstimate,
}

/// The feeds of one pass of `tg`, the training graph of `graph`: the given inputs (checked
/// against the model's), seeded N(0,1) samples for absent float inputs, then the labels (seeded
/// uniform classes when absent) or target.
fn pass_feeds(
    graph: &Graph,
    tg: &TrainingGraph,
    inputs: &PassInputs,
) -> Result<Vec<(String, Tensor)>> {
    let mut init = Init::new(inputs.seed);
    let mut feeds = Vec::new();
    for &i in graph.inputs() {
        let v = graph.value(i);
        let t = match inputs.inputs.get(&v.name) {
            Some(t) => {
                if t.shape != v.ty.shape || t.dtype() != v.ty.dtype {
                    return Err(Error::Input(format!(
                        "input '{}' is {}{:?}, the model expects {}",
                        v.name,
                        t.dtype(),
                        t.shape,
                        v.ty
                    )));
                }
                t.clone()
            }
            None if v.ty.dtype == DType::F32 => init.normal_tensor(&v.ty.shape, 1.0),
            None => {
                return Err(Error::Input(format!("input '{}' ({}) must be given", v.name, v.ty)));
            }
        };
        feeds.push((v.name.clone(), t));
    }
    if let Some(name) = &tg.target_input {
        let want = tg
            .graph
            .value(tg.graph.find(name).ok_or_else(|| Error::InvalidModel("target input".into()))?)
            .ty
            .clone();
        let t = match &inputs.target {
            Some(t) => {
                let t =
                    if t.dtype() != want.dtype && !t.dtype().is_float() && !want.dtype.is_float() {
                        t.cast(want.dtype)
                    } else {
                        t.clone()
                    };
                if t.shape != want.shape || t.dtype() != want.dtype {
                    return Err(Error::Input(format!(
                        "labels/target is {}{:?}, the loss expects {want}",
                        t.dtype(),
                        t.shape
                    )));
                }
                t
            }
            None if want.dtype == DType::I64 => {
                let classes = graph.value(graph.outputs()[0]).ty.shape.get(1).copied().unwrap_or(1);
                Tensor::new(
                    want.shape.clone(),
                    crate::ir::TensorData::I64(init.labels(want.numel(), classes)),
                )
                .ok_or_else(|| Error::Input("labels".into()))?
            }
            None => init.normal_tensor(&want.shape, 1.0),
        };
        if let (Some(t), Some(&o)) = (t.data_i64(), graph.outputs().first()) {
            let classes = graph.value(o).ty.shape.get(1).copied().unwrap_or(0) as i64;
            if let Some(bad) = t.iter().find(|&&l| l < 0 || l >= classes) {
                return Err(Error::Input(format!("label {bad} is outside 0..{classes}")));
            }
        }
        feeds.push((name.clone(), t));
    }
    Ok(feeds)
}

/// Runs one forward + backward pass and reduces the gradients.
pub fn gradients(
    rt: &Runtime,
    graph: &Graph,
    opts: &TrainingOptions,
    inputs: &PassInputs,
) -> Result<GradientReport> {
    let PreparedPass { graph: tg, feeds, mut session, .. } =
        prepare_session(rt, graph, opts, inputs)?;
    let refs: Vec<(&str, &Tensor)> = feeds.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let out = session.run(&refs)?;
    let loss = out.get(&tg.loss).map(|t| t.to_f64()[0]).unwrap_or(f64::NAN);
    let params = tg
        .params
        .iter()
        .map(|p| ParamReport {
            name: p.name.clone(),
            shape: p.shape.clone(),
            grad: p.grad.as_ref().and_then(|n| out.get(n)).map(|t| TensorStats::of(&t.to_f32())),
        })
        .collect();
    Ok(GradientReport {
        loss,
        loss_kind: opts.loss,
        params,
        training_graph_nodes: tg.graph.nodes().len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_use_unbiased_std_and_skip_non_finite() {
        let s = TensorStats::of(&[1.0, 2.0, 3.0, 4.0, f32::NAN]);
        assert_eq!(s.non_finite, 1);
        assert!((s.mean - 2.5).abs() < 1e-12);
        assert!((s.std - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(s.max_abs, 4.0);
        assert!((s.norm - 30f64.sqrt()).abs() < 1e-12);
    }
}
