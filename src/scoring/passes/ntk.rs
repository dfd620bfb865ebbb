//! TE-NAS's NTK pass (Chen et al., ICLR 2021): the per-sample gradients of the summed logits of
//! each sample, with BatchNorm batch statistics over the whole batch, as the authors compute
//! them (one backward per sample through the batch's graph), and the condition number of their
//! Gram matrix, the empirical neural tangent kernel `Θ = G Gᵀ`.
//!
//! The training graph takes a cotangent on the logits: one run per sample `i` with ones on row
//! `i` gives sample `i`'s gradient; the forward, which the cotangent does not reach, runs once
//! ([`crate::runtime::StagedSession`]). The gradients are of the weights the authors
//! differentiate (every parameter named `weight`): Conv/Gemm/MatMul weights and normalisation
//! scales.

use std::collections::BTreeMap;

use nalgebra::DMatrix;

use super::{PassOutput, PassSettings, initialised_batch, io_shape};
use crate::analysis::gradients::{PassInputs, prepare};
use crate::autodiff::{Loss, ParamSet, TrainingOptions};
use crate::error::{Error, Result};
use crate::images::Images;
use crate::ir::cost::parameters;
use crate::ir::{Graph, OpType, Tensor};
use crate::runtime::Runtime;

/// The condition number the authors report for an undefined one (a NaN ratio).
const UNDEFINED_CONDITION: f64 = 1e5;

/// Runs the NTK pass on `graph`.
pub(super) fn run(
    rt: &Runtime,
    graph: &Graph,
    settings: &PassSettings,
    images: Option<&Images>,
) -> Result<PassOutput> {
    let (g, x, labels) = initialised_batch(graph, settings, images)?;
    let condition = ntk_condition(rt, &g, settings.bn, &x)?;
    Ok(PassOutput { labels, ntk_condition: Some(condition), ..Default::default() })
}

/// The weights TE-NAS differentiates: Conv/ConvTranspose/Gemm/MatMul weights and normalisation
/// scales (the parameters PyTorch names `weight`).
fn weights(g: &Graph) -> Vec<String> {
    parameters(g)
        .iter()
        .filter(|p| {
            p.consumers.iter().any(|&(n, slot)| {
                let op = g.node(n).op;
                match op {
                    OpType::Conv | OpType::ConvTranspose | OpType::Gemm => slot == 1,
                    OpType::MatMul => true,
                    OpType::BatchNormalization
                    | OpType::LayerNormalization
                    | OpType::InstanceNormalization => slot == 1,
                    _ => false,
                }
            })
        })
        .map(|p| g.value(p.value).name.clone())
        .collect()
}

/// The condition number `λ_max / λ_min` of the empirical NTK of `g` (weights as they are) on
/// the batch `x`.
pub fn ntk_condition(
    rt: &Runtime,
    g: &Graph,
    bn: crate::autodiff::BnMode,
    x: &Tensor,
) -> Result<f64> {
    let (input, shape, classes) = io_shape(g)?;
    let n = shape.first().copied().unwrap_or(1);
    if n < 2 {
        return Err(Error::NotApplicable(format!(
            "the NTK's condition number needs a batch of at least 2 samples; input '{input}' has \
             batch {n}"
        )));
    }
    let names = weights(g);
    if names.is_empty() {
        return Err(Error::NotApplicable("the NTK needs weights; the model has none".into()));
    }
    let opts = TrainingOptions {
        loss: Loss::Cotangent,
        params: ParamSet::Named(names),
        batch_norm: bn,
        ..Default::default()
    };
    let row = |i: usize| {
        let data = (0..n * classes).map(|k| if k / classes == i { 1.0 } else { 0.0 }).collect();
        Tensor::f32(vec![n, classes], data)
    };
    let pass =
        PassInputs { inputs: BTreeMap::from([(input, x.clone())]), target: Some(row(0)), seed: 0 };
    let (tg, mut feeds) = prepare(g, &opts, &pass)?;
    let cotangent = tg.target_input.clone().unwrap_or_default();
    // The forward does not depend on the cotangent: it runs once, the backward once per sample.
    let refs: Vec<(&str, &Tensor)> = feeds.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut session = rt.staged_session(&tg.graph, std::slice::from_ref(&cotangent), &refs)?;
    let mut grads: Vec<Vec<f32>> = Vec::with_capacity(n);
    for i in 0..n {
        for (name, t) in feeds.iter_mut() {
            if *name == cotangent {
                *t = row(i);
            }
        }
        let refs: Vec<(&str, &Tensor)> = feeds.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let out = session.run(&refs)?;
        let mut flat = Vec::new();
        for p in &tg.params {
            let Some(name) = &p.grad else { continue };
            flat.extend(session.output(&out, name)?.to_f32());
        }
        grads.push(flat);
    }
    let eig = gram(&grads).symmetric_eigenvalues();
    let (min, max) = (eig.min(), eig.max());
    let condition = max / min;
    Ok(if condition.is_nan() { UNDEFINED_CONDITION } else { condition })
}

/// Columns of the gradient matrix multiplied per block in [`gram`].
const GRAM_BLOCK: usize = 4096;

/// The Gram matrix `G Gᵀ` of the rows, in float64: a matrix product per block of columns
/// instead of one dot product per pair of rows.
fn gram(rows: &[Vec<f32>]) -> DMatrix<f64> {
    let n = rows.len();
    let width = rows.iter().map(Vec::len).min().unwrap_or(0);
    let mut out = DMatrix::<f64>::zeros(n, n);
    for start in (0..width).step_by(GRAM_BLOCK) {
        let w = GRAM_BLOCK.min(width - start);
        // Column i: row i's block, so that `blockᵀ · block` is this block's share of `G Gᵀ`.
        let block = DMatrix::<f64>::from_fn(w, n, |j, i| f64::from(rows[i][start + j]));
        out.gemm_tr(1.0, &block, &block, 1.0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gram_is_the_matrix_of_dot_products() {
        let rows: Vec<Vec<f32>> = (0..5)
            .map(|i| {
                (0..(2 * GRAM_BLOCK + 7)).map(|j| ((i * 31 + j * 7) % 13) as f32 - 6.0).collect()
            })
            .collect();
        let g = gram(&rows);
        for i in 0..rows.len() {
            for j in 0..rows.len() {
                let dot: f64 =
                    rows[i].iter().zip(&rows[j]).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
                assert_eq!(g[(i, j)], dot, "entry ({i}, {j})");
            }
        }
    }
}
