//! MeCo's pass (Jiang et al., NeurIPS 2023): one forward of one image; for each feature map the
//! smallest eigenvalue of the Pearson correlation matrix of its channels (channels are the
//! variables, positions the observations), summed.
//!
//! The authors hook every PyTorch module; an ONNX graph has no modules, so every 4-D node output
//! with more than one position stands for one (a value a module returns unchanged, such as a
//! container's, is counted once). Channels without variance get zero correlations, as the
//! authors set NaN entries to 0.

use std::collections::BTreeMap;

use nalgebra::DMatrix;

use super::{PassOutput, PassSettings, initialised_batch, io_shape};
use crate::analysis::gradients::{PassInputs, prepare};
use crate::autodiff::{BnMode, Loss, ParamSet, TrainingOptions};
use crate::error::{Error, Result};
use crate::images::Images;
use crate::ir::{Graph, Tensor};
use crate::runtime::Runtime;

/// Runs the MeCo pass on `graph`.
pub(super) fn run(
    rt: &Runtime,
    graph: &Graph,
    settings: &PassSettings,
    images: Option<&Images>,
) -> Result<PassOutput> {
    let (g, x, _) = initialised_batch(graph, settings, images)?;
    let meco = meco(rt, &g, settings.bn, &x)?;
    Ok(PassOutput { meco: Some(meco), ..Default::default() })
}

/// The feature maps MeCo reads: every 4-D float node output with more than one position.
fn feature_maps(g: &Graph) -> Vec<String> {
    g.nodes()
        .iter()
        .flat_map(|n| n.outputs.iter())
        .map(|&o| g.value(o))
        .filter(|v| v.ty.dtype.is_float() && v.ty.rank() == 4 && v.ty.shape[2] * v.ty.shape[3] > 1)
        .map(|v| v.name.clone())
        .collect()
}

/// MeCo of `g` (weights as they are) on the input `x` (the correlations over all positions of
/// the batch; the authors' batch is one image).
pub fn meco(rt: &Runtime, g: &Graph, bn: BnMode, x: &Tensor) -> Result<f64> {
    let (input, _, _) = io_shape(g)?;
    let features = feature_maps(g);
    if features.is_empty() {
        return Err(Error::NotApplicable(
            "MeCo reads the channel correlations of feature maps; the model has no 4-D values"
                .into(),
        ));
    }
    let opts = TrainingOptions {
        loss: Loss::Sum,
        params: ParamSet::Named(Vec::new()),
        batch_norm: bn,
        activation_grams: features.clone(),
        ..Default::default()
    };
    let pass = PassInputs { inputs: BTreeMap::from([(input, x.clone())]), target: None, seed: 0 };
    let (tg, feeds) = prepare(g, &opts, &pass)?;
    let mut session = rt.session_for(&tg.graph)?;
    let refs: Vec<(&str, &Tensor)> = feeds.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let out = session.run(&refs)?;
    let get = |n: &str| out.get(n).ok_or_else(|| Error::Runtime(format!("output '{n}' missing")));
    let mut total = 0f64;
    for (f, gram, sums) in &tg.activation_grams {
        let id = g.find(f).ok_or_else(|| Error::Runtime(format!("no tensor '{f}'")))?;
        let s = &g.value(id).ty.shape;
        let rows = (s[0] * s[2] * s[3]) as f64;
        let v = smallest_correlation_eigenvalue(&get(gram)?.to_f64(), &get(sums)?.to_f64(), rows);
        if v.is_finite() {
            total += v;
        }
    }
    Ok(total)
}

/// The smallest eigenvalue of the channel correlation matrix, from the Gram matrix `Σ x xᵀ`
/// `(C, C)` and the channel sums over `rows` positions (undefined correlations are 0).
fn smallest_correlation_eigenvalue(gram: &[f64], sums: &[f64], rows: f64) -> f64 {
    let c = sums.len();
    let cov = |i: usize, j: usize| gram[i * c + j] / rows - sums[i] * sums[j] / (rows * rows);
    let corr = DMatrix::from_fn(c, c, |i, j| {
        let r = cov(i, j) / (cov(i, i) * cov(j, j)).sqrt();
        if r.is_finite() { r.clamp(-1.0, 1.0) } else { 0.0 }
    });
    corr.symmetric_eigenvalues().min()
}
