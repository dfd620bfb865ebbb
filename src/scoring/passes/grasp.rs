//! GraSP's pass: the Hessian-vector product `H·g` of the cross-entropy loss with respect to the
//! Conv/Gemm/MatMul weights, along their gradient `g`, as a central finite difference of
//! gradients with every ReLU's on/off pattern held at its value at θ:
//! `D(ε) = (∇L(θ + εg) − ∇L(θ − εg)) / 2ε` at `ε = STEP · min_t ‖θ_t‖/‖g_t‖` over the weight
//! tensors t and at 2ε, extrapolated (Richardson) as `H·g ≈ (4·D(ε) − D(2ε)) / 3`, exact to
//! fourth order in ε.
//!
//! Double backward in PyTorch differentiates ReLU as the fixed mask of its input's sign (its
//! second derivative is 0); a finite difference of plain gradients would also pick up the
//! gradient jumps of the units whose sign flips between θ and θ ± εg, a term that does not
//! vanish as ε → 0 on a network of thousands of units. Replacing each `ReLU(x)` by `x · M` with
//! the mask `M = 1[x > 0]` of the pass at θ fed as an input makes the loss smooth in θ, so the
//! difference converges to the double-backward product with five gradient passes of one
//! training graph and no second differentiation.

use std::collections::BTreeMap;

use super::gradient::pass_with;
use super::{PassOutput, PassSettings, Request, initialised_batch, io_shape};
use crate::error::{Error, Result};
use crate::images::Images;
use crate::ir::passes::rebuild;
use crate::ir::{DType, Graph, OpType, Tensor, ValueId};
use crate::runtime::Runtime;

/// The relative size of the step: the tensor that moves most moves by `STEP` of its norm.
/// Measured on NAS-Bench-201 cells, the result is stable to 1e-4 between 1e-4 and 3e-4 and
/// drifts beyond 1e-3 (the gradient is no longer linear in the step); on the tiny golden network,
/// whose GraSP value is 1e-3 of a cell's, f32 rounding leaves 1e-3 relative at 3e-4.
const STEP: f64 = 3e-4;

/// Runs the GraSP pass on `graph`: `Σ −θ ⊙ (H·g)` over the weights.
pub(super) fn run(
    rt: &Runtime,
    graph: &Graph,
    settings: &PassSettings,
    images: Option<&Images>,
) -> Result<PassOutput> {
    let (g, x, labels) = initialised_batch(graph, settings, images)?;
    let (input, _, _) = io_shape(&g)?;
    let (masked, masks) = masked_relus(&g)?;
    let relu_inputs: Vec<String> = masks.iter().map(|(_, x)| x.clone()).collect();
    let feeds = BTreeMap::from([(input.clone(), x.clone())]);
    let weights = [Request::Weights];
    let at = pass_with(rt, &g, settings.bn, feeds, labels.clone(), &weights, &relu_inputs)?;
    let mut feeds = BTreeMap::from([(input, x)]);
    for ((mask, _), pre) in masks.iter().zip(&at.activations) {
        let m: Vec<f32> = pre.to_f32().iter().map(|&v| if v > 0.0 { 1.0 } else { 0.0 }).collect();
        feeds.insert(mask.clone(), Tensor::f32(pre.shape.clone(), m));
    }
    // The step moves the tensor that moves most, relative to its own size, by STEP: a step set by
    // global norms would move a small tensor with a large gradient (a classifier) far out of the
    // range where the gradient is linear in the step.
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let mut reach = 0f64;
    for w in &at.weights {
        let Some(g) = &w.grad else { continue };
        let (tn, gn) = (norm(&w.values), norm(g));
        if gn > 0.0 && tn > 0.0 {
            reach = reach.max(gn / tn);
        }
    }
    if reach == 0.0 || !reach.is_finite() {
        let grasp = if reach == 0.0 { 0.0 } else { f64::NAN };
        return Ok(PassOutput { grasp: Some(grasp), activations: Vec::new(), ..at });
    }
    let eps = STEP / reach;
    // Central differences at ε and 2ε, combined by Richardson extrapolation:
    // (4·D(ε) − D(2ε)) / 3 cancels the ε² term.
    let mut shifted = Vec::new();
    for step in [eps, -eps, 2.0 * eps, -2.0 * eps] {
        let mut moved = masked.clone();
        for w in &at.weights {
            let Some(gw) = &w.grad else { continue };
            let init = moved
                .find(&w.name)
                .and_then(|id| crate::ir::cost::initializer_behind(&moved, id))
                .ok_or_else(|| Error::Runtime(format!("'{}' has no initializer", w.name)))?;
            let dtype = moved.value(init).ty.dtype;
            let values: Vec<f32> =
                w.values.iter().zip(gw).map(|(t, d)| (t + step * d) as f32).collect();
            let t = Tensor::f32(moved.value(init).ty.shape.clone(), values).cast(dtype);
            moved.set_initializer(init, t)?;
        }
        let out = pass_with(rt, &moved, settings.bn, feeds.clone(), labels.clone(), &weights, &[])?;
        shifted.push(out);
    }
    // Σ θ·(∇L(θ + hg) − ∇L(θ − hg)) / 2h for the pair of passes at ±h.
    let central = |plus: &PassOutput, minus: &PassOutput, h: f64| -> f64 {
        let mut sum = 0f64;
        for ((w, p), m) in at.weights.iter().zip(&plus.weights).zip(&minus.weights) {
            let (Some(p), Some(m)) = (&p.grad, &m.grad) else { continue };
            sum += w.values.iter().zip(p.iter().zip(m)).map(|(t, (p, m))| t * (p - m)).sum::<f64>();
        }
        sum / (2.0 * h)
    };
    let near = central(&shifted[0], &shifted[1], eps);
    let far = central(&shifted[2], &shifted[3], 2.0 * eps);
    let total = -(4.0 * near - far) / 3.0;
    Ok(PassOutput { grasp: Some(total), activations: Vec::new(), ..at })
}

/// `g` with every `Relu(x)` replaced by `x · M`, `M` a new input of `x`'s type (one per distinct
/// `x`). Returns the graph and, per mask input, (its name, the name of the `x` it masks).
fn masked_relus(src: &Graph) -> Result<(Graph, Vec<(String, String)>)> {
    let mut masks: Vec<(String, String, ValueId)> = Vec::new();
    let g = rebuild(src, Tensor::clone, |g, node, inputs| {
        let names: Vec<String> = node.outputs.iter().map(|&o| src.value(o).name.clone()).collect();
        let x = node.input(0).filter(|&x| src.value(x).ty.dtype == DType::F32);
        let (OpType::Relu, Some(x)) = (node.op, x) else {
            return g.add_node(node.name.clone(), node.op, inputs, node.attrs.clone(), &names);
        };
        let pre = src.value(x).name.clone();
        let mask = match masks.iter().find(|(_, p, _)| *p == pre) {
            Some((_, _, m)) => *m,
            None => {
                let name = g.fresh_name(&format!("{pre}_relu_mask"));
                let m = g.add_input(name.clone(), src.value(x).ty.clone())?;
                masks.push((name, pre, m));
                m
            }
        };
        g.add_node(
            node.name.clone(),
            OpType::Mul,
            &[inputs[0], Some(mask)],
            BTreeMap::new(),
            &names,
        )
    })?;
    Ok((g, masks.into_iter().map(|(m, x, _)| (m, x)).collect()))
}
