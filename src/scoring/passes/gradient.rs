//! The gradient pass: one forward and cross-entropy backward, with the Conv/Gemm/MatMul weights
//! and their gradients, the channel products of their outputs, and the ReLU sign kernel.

use std::collections::BTreeMap;

use super::{PassOutput, PassSettings, Request, batch, initialised_batch, io_shape};
use crate::analysis::gradients::{PassInputs, prepare};
use crate::autodiff::{Loss, ParamSet, TrainingOptions};
use crate::error::{Error, Result};
use crate::images::Images;
use crate::ir::cost::weight_behind;
use crate::ir::{Graph, NodeAttrs, OpType, Tensor};
use crate::runtime::Runtime;

/// A Conv/Gemm/MatMul weight, its values and gradient (f64).
#[derive(Debug, Clone)]
pub struct WeightGrad {
    /// Parameter name.
    pub name: String,
    /// Its values.
    pub values: Vec<f64>,
    /// Its gradient (`None` when it does not influence the loss).
    pub grad: Option<Vec<f64>>,
}

/// Per-sample channel products `Σ_positions z·∂L/∂z` of one Conv/Gemm/MatMul output `z`.
#[derive(Debug, Clone)]
pub struct ChannelProduct {
    /// The output's name.
    pub name: String,
    /// Samples N.
    pub samples: usize,
    /// Channels C.
    pub channels: usize,
    /// `(N, C)` row-major (`None` when the output does not influence the loss).
    pub values: Option<Vec<f64>>,
    /// Weight elements per output channel (a Conv's `Ci/g·k..`, a linear layer's inputs).
    pub weights_per_channel: usize,
}

/// The NASWOT kernel: `K[i][j]` = over all ReLU inputs (one term per ReLU node), the number of
/// units on which samples i and j are both active or both inactive.
#[derive(Debug, Clone)]
pub struct SignKernel {
    /// Samples N.
    pub samples: usize,
    /// `(N, N)` row-major.
    pub kernel: Vec<f64>,
    /// ReLU nodes counted.
    pub relus: usize,
}

/// The Conv/Gemm/MatMul nodes with a weight parameter: (output name, weight elements per output
/// channel).
fn weighted_outputs(g: &Graph) -> Vec<(String, usize)> {
    g.nodes()
        .iter()
        .filter(|n| matches!(n.op, OpType::Conv | OpType::Gemm | OpType::MatMul))
        .filter_map(|n| {
            let w = n.input(1).and_then(|w| weight_behind(g, w))?;
            let shape = &g.value(w).ty.shape;
            let per_channel = match n.op {
                OpType::Conv => shape[1..].iter().product(),
                OpType::Gemm if matches!(n.attr_int("transB", 0), Ok(1)) => {
                    shape.get(1).copied()?
                }
                _ => shape.first().copied()?,
            };
            Some((g.value(n.outputs[0]).name.clone(), per_channel))
        })
        .collect()
}

/// The inputs of the ReLU nodes, with how many ReLU nodes read each.
fn relu_inputs(g: &Graph) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for n in g.nodes().iter().filter(|n| n.op == OpType::Relu) {
        let Some(x) = n.input(0) else { continue };
        let name = g.value(x).name.clone();
        match out.iter_mut().find(|(m, _)| *m == name) {
            Some((_, k)) => *k += 1,
            None => out.push((name, 1)),
        }
    }
    out
}

/// The differentiated weights of `tg` with their values (from `g`) and gradients (from `out`).
fn weight_grads(
    g: &Graph,
    tg: &crate::autodiff::TrainingGraph,
    out: &BTreeMap<String, Tensor>,
) -> Result<Vec<WeightGrad>> {
    let get = |n: &str| out.get(n).ok_or_else(|| Error::Runtime(format!("output '{n}' missing")));
    let mut weights = Vec::new();
    for p in &tg.params {
        let values = g
            .find(&p.name)
            .and_then(|id| crate::ir::cost::initializer_behind(g, id))
            .and_then(|id| g.value(id).data.as_ref())
            .map(|t| t.to_f64())
            .ok_or_else(|| Error::Runtime(format!("no values for '{}'", p.name)))?;
        let grad = p.grad.as_ref().map(|n| get(n).map(|t| t.to_f64())).transpose()?;
        weights.push(WeightGrad { name: p.name.clone(), values, grad });
    }
    Ok(weights)
}

/// Runs the two-batch pass on `graph` (ZiCo): the Conv/Gemm/MatMul weight gradients of the
/// cross-entropy on two disjoint batches, through one session.
pub(super) fn run_two_batches(
    rt: &Runtime,
    graph: &Graph,
    settings: &PassSettings,
    images: Option<&Images>,
) -> Result<PassOutput> {
    let (g, x, labels) = initialised_batch(graph, settings, images)?;
    let (_, shape, classes) = io_shape(&g)?;
    let second = batch(settings, &shape, classes, images, 1)?;
    let (loss, mut batches) = weight_grads_on(rt, &g, settings.bn, &[(x, labels.clone()), second])?;
    let further = batches.split_off(1);
    Ok(PassOutput {
        loss,
        labels,
        classes,
        weights: batches.pop().unwrap_or_default(),
        further_batches: further,
        ..Default::default()
    })
}

/// The Conv/Gemm/MatMul weights of `g` (as they are) with their cross-entropy gradients on each
/// of `batches` (inputs and labels), through one session; and the loss on the first batch.
pub fn weight_grads_on(
    rt: &Runtime,
    g: &Graph,
    bn: crate::autodiff::BnMode,
    batches: &[(Tensor, Vec<i64>)],
) -> Result<(f64, Vec<Vec<WeightGrad>>)> {
    let (input, _, _) = io_shape(g)?;
    let Some((x, labels)) = batches.first() else { return Ok((f64::NAN, Vec::new())) };
    let opts = TrainingOptions {
        loss: Loss::CrossEntropy,
        params: ParamSet::Weights,
        batch_norm: bn,
        ..Default::default()
    };
    let pass = PassInputs {
        inputs: BTreeMap::from([(input.clone(), x.clone())]),
        target: Some(Tensor::i64_vec(labels.clone())),
        seed: 0,
    };
    let (tg, mut feeds) = prepare(g, &opts, &pass)?;
    let mut session = rt.session_for(&tg.graph)?;
    let mut grads = Vec::with_capacity(batches.len());
    let mut loss = f64::NAN;
    for (index, (x, labels)) in batches.iter().enumerate() {
        for (name, t) in feeds.iter_mut() {
            if *name == input {
                *t = x.clone();
            } else if Some(&*name) == tg.target_input.as_ref() {
                *t = Tensor::i64_vec(labels.clone());
            }
        }
        let refs: Vec<(&str, &Tensor)> = feeds.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let out = session.run(&refs)?;
        if index == 0 {
            loss = out.get(&tg.loss).map(|t| t.to_f64()[0]).unwrap_or(f64::NAN);
        }
        grads.push(weight_grads(g, &tg, &out)?);
    }
    Ok((loss, grads))
}

/// Runs the gradient pass on `graph`.
pub(super) fn run(
    rt: &Runtime,
    graph: &Graph,
    settings: &PassSettings,
    requests: &[Request],
    images: Option<&Images>,
) -> Result<PassOutput> {
    let (g, x, labels) = initialised_batch(graph, settings, images)?;
    let (input, _, _) = io_shape(&g)?;
    pass_with(rt, &g, settings.bn, BTreeMap::from([(input, x)]), labels, requests, &[])
}

/// One gradient pass of `g` with these inputs (by name) and `labels`; the forward values named
/// in `activations` are returned too, in that order, in [`PassOutput::activations`].
pub(super) fn pass_with(
    rt: &Runtime,
    g: &Graph,
    bn: crate::autodiff::BnMode,
    inputs: BTreeMap<String, Tensor>,
    labels: Vec<i64>,
    requests: &[Request],
    activations: &[String],
) -> Result<PassOutput> {
    let (_, shape, classes) = io_shape(g)?;
    let n = shape.first().copied().unwrap_or(1);
    let products =
        if requests.contains(&Request::ChannelProducts) { weighted_outputs(g) } else { Vec::new() };
    let relus = if requests.contains(&Request::SignKernels) { relu_inputs(g) } else { Vec::new() };
    let mut missing = Vec::new();
    if requests.contains(&Request::SignKernels) && relus.is_empty() {
        missing.push((
            Request::SignKernels,
            "the model has no ReLU (NASWOT counts ReLU codes)".into(),
        ));
    }
    // Without weight gradients to return (NASWOT or the linear regions alone: sign kernels),
    // no parameter is differentiated, so the backward is only what the channel products need.
    let params = if requests.contains(&Request::Weights) {
        ParamSet::Weights
    } else {
        ParamSet::Named(Vec::new())
    };
    let opts = TrainingOptions {
        loss: Loss::CrossEntropy,
        params,
        batch_norm: bn,
        grad_products: products.iter().map(|(n, _)| n.clone()).collect(),
        sign_kernels: relus.iter().map(|(n, _)| n.clone()).collect(),
        activations: activations.to_vec(),
        ..Default::default()
    };
    let pass = PassInputs { inputs, target: Some(Tensor::i64_vec(labels.clone())), seed: 0 };
    let (tg, feeds) = prepare(g, &opts, &pass)?;
    let mut session = rt.session_for(&tg.graph)?;
    let refs: Vec<(&str, &Tensor)> = feeds.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let out = session.run(&refs)?;
    let get = |n: &str| out.get(n).ok_or_else(|| Error::Runtime(format!("output '{n}' missing")));
    let weights =
        if requests.contains(&Request::Weights) { weight_grads(g, &tg, &out)? } else { Vec::new() };
    let mut channel_products = Vec::new();
    for ((name, per_channel), (_, output)) in products.iter().zip(&tg.grad_products) {
        let values = output.as_ref().map(|o| get(o).map(|t| t.to_f64())).transpose()?;
        let channels = values.as_ref().map_or(0, |v| v.len() / n.max(1));
        channel_products.push(ChannelProduct {
            name: name.clone(),
            samples: n,
            channels,
            values,
            weights_per_channel: *per_channel,
        });
    }
    let sign_kernel = if relus.is_empty() {
        None
    } else {
        let mut kernel = vec![0f64; n * n];
        for ((_, count), (name, agree, active)) in relus.iter().zip(&tg.sign_kernels) {
            let a = get(agree)?.to_f64();
            let s = get(active)?.to_f64();
            let id = g.find(name).ok_or_else(|| Error::Runtime(format!("no tensor '{name}'")))?;
            let units = g.value(id).ty.numel() as f64 / n as f64;
            // Both active: c_i·c_j; both inactive: units - s_i - s_j + c_i·c_j.
            for i in 0..n {
                for j in 0..n {
                    let both = a[i * n + j];
                    kernel[i * n + j] += *count as f64 * (2.0 * both + units - s[i] - s[j]);
                }
            }
        }
        Some(SignKernel { samples: n, kernel, relus: relus.iter().map(|(_, k)| k).sum() })
    };
    let loss = out.get(&tg.loss).map(|t| t.to_f64()[0]).unwrap_or(f64::NAN);
    let activations =
        tg.activations.iter().map(|(_, o)| get(o).cloned()).collect::<Result<Vec<Tensor>>>()?;
    Ok(PassOutput {
        loss,
        labels,
        classes,
        weights,
        channel_products,
        sign_kernel,
        activations,
        missing,
        ..Default::default()
    })
}
