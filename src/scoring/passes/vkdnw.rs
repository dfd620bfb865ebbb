//! VKDNW's pass (Tybl & Neumann, CVPR 2025): the spectrum of the Fisher information of the
//! network's own predictive distribution, on one scalar per parameter tensor.
//!
//! With BatchNorm on its running statistics (the authors' `model.eval()`, so that samples are
//! independent), `θ_S` the first element of each of the first 128 parameter tensors (in order
//! of first use) and `J_n = ∂logits_n/∂θ_S` `(K, S)` per sample:
//!
//! - `J` comes from one training graph run once per class `k` with the cotangent `e_k` on the
//!   logits: each parameter element's per-sample derivative is the projection of the gradient at
//!   its consumer's output on the consumer's change along that element (channel 0 alone for a
//!   Conv weight, a one-output-channel convolution, and for a BatchNorm scale or bias, a
//!   one-channel BatchNormalization; the difference of the consumer evaluated at the one-hot and
//!   at zero for the other affine consumers);
//! - `F = (1/N) Σ_n J_nᵀ Lᵀ_n L_n J_n` with `L_n` the authors' lower-triangular factor of the
//!   smoothed softmax covariance (`p = 0.95·softmax + 0.05/K`; their code multiplies `L J`, so
//!   `LᵀL` stands where the Fisher has `L Lᵀ`, reproduced as it is);
//! - VKDNW is the entropy `−Σ q̃ ln(q̃ + 1e-10)` of the nine deciles `q` of `F`'s singular values,
//!   normalised `q̃ = q / (Σ|q| + 1e-10)`.

use std::collections::BTreeMap;

use nalgebra::DMatrix;

use super::{PassOutput, PassSettings, initialised_batch, io_shape};
use crate::analysis::gradients::{PassInputs, prepare};
use crate::autodiff::{BnMode, Loss, ParamSet, TrainingOptions};
use crate::error::{Error, Result};
use crate::images::Images;
use crate::ir::cost::parameters;
use crate::ir::{Attr, DType, Graph, Node, NodeAttrs, OpType, Tensor, TensorData, ValueId};
use crate::runtime::Runtime;

/// How many parameter tensors contribute one element each (the authors' NAS-Bench-201 setting).
pub const TENSORS: usize = 128;

/// The smoothing of the predictive distribution.
const ALPHA: f64 = 0.05;

/// VKDNW of one network.
#[derive(Debug, Clone, PartialEq)]
pub struct Vkdnw {
    /// The entropy of the normalised Fisher deciles.
    pub entropy: f64,
    /// ℵ: the number of parameter tensors.
    pub tensors: usize,
}

/// Runs the VKDNW pass on `graph`.
pub(super) fn run(
    rt: &Runtime,
    graph: &Graph,
    settings: &PassSettings,
    images: Option<&Images>,
) -> Result<PassOutput> {
    let (g, x, _) = initialised_batch(graph, settings, images)?;
    let (_, _, classes) = io_shape(&g)?;
    let vkdnw = vkdnw(rt, &g, &x)?;
    Ok(PassOutput { classes, vkdnw: Some(vkdnw), ..Default::default() })
}

/// VKDNW of `g` (weights as they are, BatchNorm on its running statistics) for the input `x`.
pub fn vkdnw(rt: &Runtime, g: &Graph, x: &Tensor) -> Result<Vkdnw> {
    let (input, shape, classes) = io_shape(g)?;
    let n = shape.first().copied().unwrap_or(1);
    let params = parameters(g);
    let chosen = &params[..params.len().min(TENSORS)];
    if chosen.is_empty() {
        return Err(Error::NotApplicable("VKDNW needs parameters; the model has none".into()));
    }
    let output = g.value(g.outputs()[0]);
    if output.ty.shape.len() != 2 {
        return Err(Error::NotApplicable(format!(
            "VKDNW reads (batch, classes) logits; the output '{}' has shape {:?}",
            output.name, output.ty.shape
        )));
    }
    let logits = output.name.clone();
    // The graph with each chosen element's direction added, and (consumer output, direction,
    // parameter index) per use.
    let mut h = g.clone();
    let mut uses: Vec<(String, String, usize)> = Vec::new();
    for (s, p) in chosen.iter().enumerate() {
        let name = g.value(p.value).name.clone();
        for (k, &(node, slot)) in p.consumers.iter().enumerate() {
            let node = g.node(node).clone();
            let tag = format!("vkdnw_{s}_{k}");
            let d = direction(&mut h, &node, slot, &name, &tag)?;
            uses.push((g.value(node.outputs[0]).name.clone(), d, s));
        }
    }
    let opts = TrainingOptions {
        loss: Loss::Cotangent,
        params: ParamSet::Named(Vec::new()),
        batch_norm: BnMode::AsIs,
        activations: vec![logits],
        projections: uses.iter().map(|(v, d, _)| (v.clone(), d.clone())).collect(),
        ..Default::default()
    };
    let one_hot = |k: usize| {
        let data = (0..n * classes).map(|i| if i % classes == k { 1.0 } else { 0.0 }).collect();
        Tensor::f32(vec![n, classes], data)
    };
    let pass = PassInputs {
        inputs: BTreeMap::from([(input, x.clone())]),
        target: Some(one_hot(0)),
        seed: 0,
    };
    let (tg, mut feeds) = prepare(&h, &opts, &pass)?;
    let cotangent = tg.target_input.clone().unwrap_or_default();
    // The forward does not depend on the cotangent: it runs once, the backward once per class.
    let refs: Vec<(&str, &Tensor)> = feeds.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut session = rt.staged_session(&tg.graph, std::slice::from_ref(&cotangent), &refs)?;
    let s_count = chosen.len();
    // J[n][k][s], row-major.
    let mut jac = vec![0f64; n * classes * s_count];
    let mut probs = Vec::new();
    for k in 0..classes {
        for (name, t) in feeds.iter_mut() {
            if *name == cotangent {
                *t = one_hot(k);
            }
        }
        let refs: Vec<(&str, &Tensor)> = feeds.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let out = session.run(&refs)?;
        if k == 0 {
            let (_, name) = &tg.activations[0];
            probs = smoothed_softmax(&session.output(&out, name)?.to_f64(), classes);
        }
        for ((_, _, out_name), (_, _, s)) in tg.projections.iter().zip(&uses) {
            let Some(out_name) = out_name else { continue };
            for (i, v) in session.output(&out, out_name)?.to_f64().into_iter().enumerate() {
                jac[(i * classes + k) * s_count + s] += v;
            }
        }
    }
    let fisher = fisher(&jac, &probs, n, classes, s_count);
    let lambdas: Vec<f64> = fisher.singular_values().iter().copied().collect();
    Ok(Vkdnw { entropy: decile_entropy(&lambdas), tensors: params.len() })
}

/// A tensor of `shape` that is 1 at its first element and 0 elsewhere.
fn first_element(shape: &[usize]) -> Tensor {
    let mut t = Tensor::full(DType::F32, shape.to_vec(), 0.0);
    if let TensorData::F32(v) = &mut t.data
        && let Some(first) = v.first_mut()
    {
        *first = 1.0;
    }
    t
}

/// `v[.., 0..len, ..]` along `axis`, added to `h` as `name`.
fn leading(h: &mut Graph, v: ValueId, axis: i64, len: usize, name: &str) -> Result<ValueId> {
    let starts = h.add_initializer(format!("{name}_starts"), Tensor::i64_vec(vec![0]))?;
    let ends = h.add_initializer(format!("{name}_ends"), Tensor::i64_vec(vec![len as i64]))?;
    let axes = h.add_initializer(format!("{name}_axes"), Tensor::i64_vec(vec![axis]))?;
    let inputs = [Some(v), Some(starts), Some(ends), Some(axes)];
    Ok(h.add_node(name, OpType::Slice, &inputs, BTreeMap::new(), &[name.to_string()])?[0])
}

/// The change of `node`'s first output along the first element of its input `slot` (the
/// parameter `param`), added to `h` under names starting with `tag`; returns its name.
fn direction(h: &mut Graph, node: &Node, slot: usize, param: &str, tag: &str) -> Result<String> {
    let input = |k: usize, what: &str| {
        node.input(k).ok_or_else(|| Error::node(&node.name, node.op, format!("no {what}")))
    };
    let out = format!("{tag}_direction");
    let eval_bn = node.op == OpType::BatchNormalization
        && node.attr_int("training_mode", 0).unwrap_or(0) == 0;
    match (node.op, slot) {
        (OpType::Conv, 1) => {
            // Only output channel 0 moves: one convolution with a single output channel,
            // reading the input channels of group 0.
            let kernel = h.value(input(1, "weight")?).ty.shape.clone();
            let x = input(0, "input")?;
            let x0 = if node.attr_int("group", 1).unwrap_or(1) > 1 {
                leading(h, x, 1, kernel[1], &format!("{tag}_group0"))?
            } else {
                x
            };
            let mut one = kernel;
            one[0] = 1;
            let e = h.add_initializer(format!("{tag}_e"), first_element(&one))?;
            let mut attrs = node.attrs.clone();
            attrs.insert("group".into(), Attr::Int(1));
            h.add_node(
                format!("{tag}_conv"),
                OpType::Conv,
                &[Some(x0), Some(e)],
                attrs,
                std::slice::from_ref(&out),
            )?;
        }
        (OpType::BatchNormalization, 1 | 2) if eval_bn => {
            // Channel 0 only: the scale's change is channel 0 normalised, the bias's a one;
            // both through a one-channel BatchNormalization.
            let x0 = leading(h, input(0, "input")?, 1, 1, &format!("{tag}_x0"))?;
            let mean0 = leading(h, input(3, "mean")?, 0, 1, &format!("{tag}_mean0"))?;
            let var0 = leading(h, input(4, "variance")?, 0, 1, &format!("{tag}_var0"))?;
            let (scale, bias) = if slot == 1 { (1.0, 0.0) } else { (0.0, 1.0) };
            let one = |v: f64| Tensor::full(DType::F32, vec![1], v);
            let scale = h.add_initializer(format!("{tag}_scale"), one(scale))?;
            let bias = h.add_initializer(format!("{tag}_bias"), one(bias))?;
            let mut attrs = node.attrs.clone();
            attrs.remove("training_mode");
            let inputs = [Some(x0), Some(scale), Some(bias), Some(mean0), Some(var0)];
            h.add_node(
                format!("{tag}_bn"),
                OpType::BatchNormalization,
                &inputs,
                attrs,
                std::slice::from_ref(&out),
            )?;
        }
        (OpType::BatchNormalization, _) if !eval_bn => {
            return Err(Error::NotApplicable(format!(
                "VKDNW needs BatchNorm on running statistics; node '{}' uses batch statistics",
                node.name
            )));
        }
        (OpType::Conv | OpType::ConvTranspose | OpType::Gemm | OpType::MatMul, _)
        | (OpType::Add | OpType::Sub | OpType::Mul, _)
        | (OpType::LayerNormalization | OpType::InstanceNormalization, 1 | 2) => {
            affine_direction(h, node, slot, tag, &out)?;
        }
        _ => {
            return Err(Error::NotApplicable(format!(
                "VKDNW differentiates the first element of each parameter tensor; '{param}' feeds {} node '{}', which intrain does not take as affine in it",
                node.op.name(),
                node.name
            )));
        }
    }
    Ok(out)
}

/// The change of an affine consumer's output along the first element of input `slot`: the
/// consumer at that one-hot minus the consumer at zero, added to `h` as `out`.
fn affine_direction(h: &mut Graph, node: &Node, slot: usize, tag: &str, out: &str) -> Result<()> {
    let read = node.input(slot).ok_or_else(|| Error::node(&node.name, node.op, "no parameter"))?;
    let shape = h.value(read).ty.shape.clone();
    let mut at = |t: Tensor, suffix: &str| -> Result<ValueId> {
        let p = h.add_initializer(format!("{tag}_{suffix}_param"), t)?;
        let mut inputs = node.inputs.clone();
        inputs[slot] = Some(p);
        let name = format!("{tag}_{suffix}");
        Ok(h.add_node(name.clone(), node.op, &inputs, node.attrs.clone(), &[name])?[0])
    };
    let ye = at(first_element(&shape), "at_one_hot")?;
    let y0 = at(Tensor::full(DType::F32, shape.clone(), 0.0), "at_zero")?;
    h.add_node(
        format!("{tag}_sub"),
        OpType::Sub,
        &[Some(ye), Some(y0)],
        BTreeMap::new(),
        &[out.to_string()],
    )?;
    Ok(())
}

/// The authors' smoothed predictive distribution `0.95·softmax + 0.05/K`, per sample.
fn smoothed_softmax(logits: &[f64], classes: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(logits.len());
    for row in logits.chunks(classes) {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exp: Vec<f64> = row.iter().map(|v| (v - max).exp()).collect();
        let sum: f64 = exp.iter().sum();
        out.extend(exp.iter().map(|e| e / sum * (1.0 - ALPHA) + ALPHA / classes as f64));
    }
    out
}

/// The authors' lower-triangular factor of `diag(p) − p pᵀ` (`L[i][j] = −p_i/q_j · d_j` below
/// the diagonal, `d_j` on it, `q_j = 1 − Σ_{l≤j} p_l`, `d_j = √(p_j q_j / q_{j−1})`).
fn factor(p: &[f64]) -> DMatrix<f64> {
    let k = p.len();
    let mut q = vec![0f64; k];
    let mut acc = 0.0;
    for j in 0..k {
        acc += p[j];
        q[j] = 1.0 - acc;
    }
    q[k - 1] = 0.0;
    let d: Vec<f64> = (0..k)
        .map(|j| {
            let prev = if j == 0 { 1.0 } else { q[j - 1] };
            (p[j] * q[j] / prev).sqrt()
        })
        .collect();
    DMatrix::from_fn(k, k, |i, j| {
        let l = match i.cmp(&j) {
            std::cmp::Ordering::Equal => 1.0,
            std::cmp::Ordering::Greater if q[j] != 0.0 => -p[i] / q[j],
            _ => 0.0,
        };
        l * d[j]
    })
}

/// `(1/N) Σ_n J_nᵀ L_nᵀ L_n J_n` from `J` `(N, K, S)` row-major and the probabilities `(N, K)`.
fn fisher(jac: &[f64], probs: &[f64], n: usize, classes: usize, s: usize) -> DMatrix<f64> {
    let mut f = DMatrix::<f64>::zeros(s, s);
    for i in 0..n {
        let j = DMatrix::from_row_slice(classes, s, &jac[i * classes * s..(i + 1) * classes * s]);
        let a = factor(&probs[i * classes..(i + 1) * classes]) * j;
        f += a.transpose() * a;
    }
    f / n as f64
}

/// The entropy of the normalised deciles (10 %, …, 90 %, linear interpolation as
/// `torch.quantile`) of `values`.
fn decile_entropy(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let quantile = |q: f64| {
        let pos = q * (n - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
    };
    let qs: Vec<f64> =
        (1..10u8).map(|i| quantile(f64::from((0.1 * f64::from(i)) as f32))).collect();
    let norm: f64 = qs.iter().map(|q| q.abs()).sum::<f64>() + 1e-10;
    qs.iter().map(|q| q / norm).map(|t| -t * (t + 1e-10).ln()).sum()
}
