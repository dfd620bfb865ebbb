//! Zen-NAS's pass: two forwards, of Gaussian inputs `x` and `x + 0.01·ε`, with BatchNorm in
//! training mode. The Zen-score is `ln Δ + Σ_BN ln √(mean running variance)`, with `Δ` the
//! mean over samples of `Σ |f(x) − f(x')|` on the features before global pooling, and each
//! BatchNorm's running variance what PyTorch holds after the two forwards (momentum 0.1 from
//! 1, unbiased batch variances): `0.81 + 0.09·v₁ + 0.1·v₂`.

use std::collections::BTreeMap;

use super::{PassOutput, PassSettings, initialised_batch, io_shape};
use crate::analysis::gradients::{PassInputs, prepare};
use crate::autodiff::{BnMode, Loss, ParamSet, TrainingOptions};
use crate::error::{Error, Result};
use crate::images::Images;
use crate::init::Init;
use crate::ir::{Graph, OpType, Tensor};
use crate::runtime::Runtime;

/// The features before the last global average pooling (a `GlobalAveragePool`, or a
/// `ReduceMean` over the spatial axes).
fn pre_pooling(g: &Graph) -> Option<String> {
    g.nodes()
        .iter()
        .rev()
        .find(|n| {
            n.op == OpType::GlobalAveragePool
                || n.op == OpType::ReduceMean
                    && n.input(0).is_some_and(|x| g.value(x).ty.rank() == 4)
        })
        .and_then(|n| n.input(0))
        .map(|x| g.value(x).name.clone())
}

/// Runs the Zen pass on `graph`: its input is the pass's data (Gaussian under Zen-NAS's
/// conventions), the perturbation direction Gaussian.
pub(super) fn run(
    rt: &Runtime,
    graph: &Graph,
    settings: &PassSettings,
    images: Option<&Images>,
) -> Result<PassOutput> {
    let (g, x, _) = initialised_batch(graph, settings, images)?;
    let (_, shape, classes) = io_shape(&g)?;
    // The second draw of the seed's stream (the first is a Gaussian input).
    let mut init = Init::new(settings.seed);
    init.normal_tensor(&shape, 1.0);
    let eps = init.normal_tensor(&shape, 1.0);
    let zen = zen_score(rt, &g, settings.bn, &x, &eps)?;
    Ok(PassOutput { classes, zen: Some(zen), ..Default::default() })
}

/// The Zen-score of `g` (weights as they are) for the input batch `x` and the perturbation
/// direction `eps` (the second input is `x + 0.01·eps`).
pub fn zen_score(rt: &Runtime, g: &Graph, bn: BnMode, x: &Tensor, eps: &Tensor) -> Result<f64> {
    let (input, shape, _) = io_shape(g)?;
    let features = pre_pooling(g).ok_or_else(|| {
        Error::NotApplicable(
            "Zen-NAS reads the features before a global average pooling; the model has none".into(),
        )
    })?;
    let norms: Vec<String> = g
        .nodes()
        .iter()
        .filter(|n| n.op == OpType::BatchNormalization)
        .filter_map(|n| n.input(0))
        .map(|x| g.value(x).name.clone())
        .collect();
    let opts = TrainingOptions {
        loss: Loss::Sum,
        params: ParamSet::Named(Vec::new()),
        batch_norm: bn,
        activations: vec![features],
        activation_grams: norms.clone(),
        ..Default::default()
    };
    let mixed = Tensor::f32(
        shape.clone(),
        x.to_f32().iter().zip(eps.to_f32()).map(|(a, e)| a + 0.01 * e).collect(),
    );
    let pass =
        PassInputs { inputs: BTreeMap::from([(input.clone(), x.clone())]), target: None, seed: 0 };
    let (tg, feeds) = prepare(g, &opts, &pass)?;
    let mut session = rt.session_for(&tg.graph)?;
    let mut runs = Vec::new();
    for batch in [None, Some(mixed)] {
        let refs: Vec<(&str, &Tensor)> = feeds
            .iter()
            .map(|(n, t)| (n.as_str(), if *n == input { batch.as_ref().unwrap_or(t) } else { t }))
            .collect();
        runs.push(session.run(&refs)?);
    }
    let get = |run: usize, n: &str| {
        runs[run].get(n).ok_or_else(|| Error::Runtime(format!("output '{n}' missing")))
    };
    let feature_output = &tg.activations[0].1;
    let (f1, f2) = (get(0, feature_output)?.to_f64(), get(1, feature_output)?.to_f64());
    let samples = shape.first().copied().unwrap_or(1).max(1);
    let delta = f1.iter().zip(&f2).map(|(a, b)| (a - b).abs()).sum::<f64>() / samples as f64;
    let mut log_scale = 0f64;
    for (name, gram, sums) in &tg.activation_grams {
        let id = g.find(name).ok_or_else(|| Error::Runtime(format!("no tensor '{name}'")))?;
        let numel = g.value(id).ty.numel() as f64;
        let mut running = Vec::new();
        for (run, weight) in [(0, 0.09), (1, 0.1)] {
            let (gram, sums) = (get(run, gram)?.to_f64(), get(run, sums)?.to_f64());
            let c = sums.len();
            let m = numel / c as f64;
            running.resize(c, 0.81);
            for k in 0..c {
                let mean = sums[k] / m;
                let var = (gram[k * c + k] / m - mean * mean).max(0.0) * m / (m - 1.0).max(1.0);
                running[k] += weight * var;
            }
        }
        let mean = running.iter().sum::<f64>() / running.len().max(1) as f64;
        log_scale += mean.sqrt().ln();
    }
    Ok(delta.ln() + log_scale)
}
