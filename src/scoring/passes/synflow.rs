//! SynFlow's pass: BatchNormalization removed, every parameter replaced by its absolute value,
//! an all-ones input, and the gradient of the sum of the outputs; the score is
//! `Σ |θ ⊙ ∂R/∂θ|` over the Conv/Gemm/MatMul weights.
//!
//! The sum overflows f32 (and often f64) on deep networks, and ONNX Runtime has no f64
//! convolution on CPU. Every activation is non-negative, so the network is linear in each
//! weight along every path, and multiplying a value that every input-to-output path crosses (a
//! cut point: the output of a cell or a residual block) by a constant `1/s` scales `R` and
//! every `θ·∂R/∂θ` by `1/s`. A first forward divides each cut value by its maximum and reports
//! that maximum; the differentiated graph multiplies by the reciprocals as constants, and
//! `ln S = ln S_scaled + Σ ln s`. The pass reports `ln S`, exact up to f32 rounding.

use std::collections::BTreeMap;

use super::{PassOutput, PassSettings, io_shape};
use crate::analysis::gradients::{PassInputs, prepare};
use crate::analysis::score::initialise;
use crate::autodiff::{Loss, ParamSet, TrainingOptions};
use crate::error::{Error, Result};
use crate::ir::passes::rebuild;
use crate::ir::{Attr, DType, Graph, OpType, Tensor, ValueId};
use crate::runtime::Runtime;

/// How cut values are rescaled.
enum Scale<'a> {
    /// Divided by their maximum (plus 1e-30), which becomes an output.
    Dynamic,
    /// Multiplied by these constants, in cut order.
    Constant(&'a [f64]),
}

/// Runs the SynFlow pass on `graph`.
pub(super) fn run(rt: &Runtime, graph: &Graph, settings: &PassSettings) -> Result<PassOutput> {
    let mut g = graph.clone();
    initialise(&mut g, settings.init, settings.seed)?;
    let (input, shape, classes) = io_shape(&g)?;
    let ones = Tensor::full(DType::F32, shape.clone(), 1.0);
    let samples = shape.first().copied().unwrap_or(1).max(1);
    let cuts = cut_points(&g, true);
    // The scales, from a forward that normalises each cut value by its maximum.
    let (probe, scale_outputs) = rewrite(&g, &cuts, Scale::Dynamic)?;
    let outputs = crate::analysis::forward::run(
        rt,
        &probe,
        BTreeMap::from([(input.clone(), ones.clone())]),
        settings.seed,
    )?;
    let mut scales = Vec::with_capacity(scale_outputs.len());
    for name in &scale_outputs {
        let s = outputs
            .get(name)
            .map(|t| t.to_f64()[0])
            .ok_or_else(|| Error::Runtime(format!("output '{name}' missing")))?;
        scales.push(s);
    }
    let reciprocals: Vec<f64> = scales.iter().map(|s| 1.0 / s).collect();
    let (scaled, _) = rewrite(&g, &cuts, Scale::Constant(&reciprocals))?;
    let opts = TrainingOptions {
        loss: Loss::Sum,
        params: ParamSet::Weights,
        batch_norm: settings.bn,
        ..Default::default()
    };
    let pass =
        PassInputs { inputs: BTreeMap::from([(input, ones)]), target: None, seed: settings.seed };
    let (tg, feeds) = prepare(&scaled, &opts, &pass)?;
    let mut session = rt.session_for(&tg.graph)?;
    let refs: Vec<(&str, &Tensor)> = feeds.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let out = session.run(&refs)?;
    let mut total = 0f64;
    for p in &tg.params {
        let Some(grad) = p.grad.as_ref().and_then(|n| out.get(n)) else { continue };
        let values = scaled
            .find(&p.name)
            .and_then(|id| scaled.value(id).data.as_ref())
            .map(|t| t.to_f64())
            .ok_or_else(|| Error::Runtime(format!("no values for '{}'", p.name)))?;
        total += values.iter().zip(grad.to_f64()).map(|(w, g)| (w * g).abs()).sum::<f64>();
    }
    // Every sample of an all-ones batch contributes the same flow.
    let log = total.ln() + scales.iter().map(|s| s.ln()).sum::<f64>() - (samples as f64).ln();
    let loss = out.get(&tg.loss).map(|t| t.to_f64()[0]).unwrap_or(f64::NAN);
    Ok(PassOutput { loss, classes, log_synflow: Some(log), ..Default::default() })
}

/// The cut points of a graph: float32 values that every path from the inputs to the outputs
/// crosses (not the outputs themselves); with `spaced`, only those with at least one
/// Conv/Gemm/MatMul since the previous one.
pub(super) fn cut_points(g: &Graph, spaced: bool) -> Vec<ValueId> {
    let n = g.nodes().len();
    let mut from_input = vec![false; g.values().len()];
    for &i in g.inputs() {
        from_input[i.0] = true;
    }
    // The last node that reads each value (outputs live to the end).
    let mut last_use: Vec<Option<usize>> = vec![None; g.values().len()];
    for (i, node) in g.nodes().iter().enumerate() {
        for v in node.inputs.iter().flatten() {
            last_use[v.0] = Some(i);
        }
    }
    for &o in g.outputs() {
        last_use[o.0] = Some(n);
    }
    let mut open: Vec<ValueId> = g.inputs().to_vec();
    let mut cuts = Vec::new();
    let mut weighted = !spaced;
    for (i, node) in g.nodes().iter().enumerate() {
        let reads_input = node.inputs.iter().flatten().any(|v| from_input[v.0]);
        if reads_input {
            for &y in &node.outputs {
                from_input[y.0] = true;
            }
            weighted |= matches!(node.op, OpType::Conv | OpType::Gemm | OpType::MatMul);
        }
        open.retain(|v| last_use[v.0].is_some_and(|l| l > i));
        open.extend(
            node.outputs.iter().copied().filter(|y| from_input[y.0] && last_use[y.0].is_some()),
        );
        if weighted
            && let [only] = open[..]
            && node.outputs.contains(&only)
            && g.value(only).ty.dtype == DType::F32
            && last_use[only.0].is_some_and(|l| l < n)
        {
            cuts.push(only);
            weighted = !spaced;
        }
    }
    cuts
}

/// The SynFlow graph of `src`: |θ| for every initializer, BatchNormalization replaced by its
/// input, each cut value rescaled. Returns the graph and the names of the scale outputs (for
/// [`Scale::Dynamic`]).
fn rewrite(src: &Graph, cuts: &[ValueId], scale: Scale<'_>) -> Result<(Graph, Vec<String>)> {
    let abs = |t: &Tensor| {
        if t.dtype().is_float() {
            Tensor::f32(t.shape.clone(), t.to_f32().iter().map(|x| x.abs()).collect())
                .cast(t.dtype())
        } else {
            t.clone()
        }
    };
    let mut scale_outputs = Vec::new();
    let consumers = src.consumers();
    let g = rebuild(src, abs, |g, node, inputs| {
        let names: Vec<String> = node.outputs.iter().map(|&o| src.value(o).name.clone()).collect();
        let mut outs = if node.op == OpType::BatchNormalization {
            // Running-statistics outputs of a training-mode node go with it, unless read.
            let read = |o: &ValueId| !consumers[o.0].is_empty() || src.outputs().contains(o);
            if node.outputs.iter().skip(1).any(read) {
                return Err(Error::node(
                    &node.name,
                    node.op,
                    "SynFlow removes BatchNormalization, but its running statistics are read",
                ));
            }
            let x = &inputs[..1];
            g.add_node(node.name.clone(), OpType::Identity, x, BTreeMap::new(), &names[..1])?
        } else {
            g.add_node(node.name.clone(), node.op, inputs, node.attrs.clone(), &names)?
        };
        for (k, o) in node.outputs.iter().enumerate().take(outs.len()) {
            if let Some(at) = cuts.iter().position(|c| c == o) {
                outs[k] = rescale(g, outs[k], at, &scale, &mut scale_outputs)?;
            }
        }
        Ok(outs)
    })?;
    Ok((g, scale_outputs))
}

/// Adds the rescaling of cut value `v` (the `at`-th cut) to `g` and returns the rescaled value;
/// a dynamic scale's name is pushed on `scale_outputs` and made an output.
fn rescale(
    g: &mut Graph,
    v: ValueId,
    at: usize,
    scale: &Scale<'_>,
    scale_outputs: &mut Vec<String>,
) -> Result<ValueId> {
    let base = format!("synflow_cut{at}");
    let none = BTreeMap::new;
    let (op, factor) = match scale {
        Scale::Dynamic => {
            let max_name = g.fresh_name(&format!("{base}_max"));
            let max = g.add_node(
                g.fresh_name(&format!("{base}_reduce")),
                OpType::ReduceMax,
                &[Some(v)],
                BTreeMap::from([("keepdims".to_string(), Attr::Int(0))]),
                std::slice::from_ref(&max_name),
            )?[0];
            let tiny = g.add_initializer(
                g.fresh_name(&format!("{base}_tiny")),
                Tensor::f32_scalar(1e-30),
            )?;
            let s_name = g.fresh_name(&format!("{base}_scale"));
            let s = g.add_node(
                g.fresh_name(&format!("{base}_guard")),
                OpType::Add,
                &[Some(max), Some(tiny)],
                none(),
                std::slice::from_ref(&s_name),
            )?[0];
            g.add_output(s);
            scale_outputs.push(s_name);
            (OpType::Div, s)
        }
        Scale::Constant(c) => {
            let factor = Tensor::f32_scalar(c[at] as f32);
            (OpType::Mul, g.add_initializer(g.fresh_name(&format!("{base}_factor")), factor)?)
        }
    };
    Ok(g.add_node(
        g.fresh_name(&format!("{base}_rescale")),
        op,
        &[Some(v), Some(factor)],
        none(),
        &[g.fresh_name(&format!("{base}_value"))],
    )?[0])
}
