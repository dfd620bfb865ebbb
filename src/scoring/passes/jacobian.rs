//! The input-Jacobian pass: the gradient of the sum of the outputs with respect to the input, per
//! sample (each sample's outputs depend on its own input only, BatchNorm's batch statistics
//! aside, as in the authors' code).

use std::collections::BTreeMap;

use super::{PassOutput, PassSettings, initialised_batch, io_shape};
use crate::analysis::gradients::{PassInputs, prepare};
use crate::autodiff::{Loss, ParamSet, TrainingOptions};
use crate::error::{Error, Result};
use crate::images::Images;
use crate::ir::{Graph, Tensor};
use crate::runtime::Runtime;

/// Runs the input-Jacobian pass on `graph`.
pub(super) fn run(
    rt: &Runtime,
    graph: &Graph,
    settings: &PassSettings,
    images: Option<&Images>,
) -> Result<PassOutput> {
    let (g, x, labels) = initialised_batch(graph, settings, images)?;
    let (input, shape, classes) = io_shape(&g)?;
    let opts = TrainingOptions {
        loss: Loss::Sum,
        params: ParamSet::Named(Vec::new()),
        batch_norm: settings.bn,
        activation_grads: vec![input.clone()],
        ..Default::default()
    };
    let pass = PassInputs {
        inputs: BTreeMap::from([(input.clone(), x)]),
        target: None,
        seed: settings.seed,
    };
    let (tg, feeds) = prepare(&g, &opts, &pass)?;
    let mut session = rt.session_for(&tg.graph)?;
    let refs: Vec<(&str, &Tensor)> = feeds.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let out = session.run(&refs)?;
    let n = shape.first().copied().unwrap_or(1);
    let jacobian = match tg.activation_grads.first().and_then(|(_, o)| o.as_ref()) {
        Some(name) => out
            .get(name)
            .ok_or_else(|| Error::Runtime(format!("output '{name}' missing")))?
            .to_f64(),
        // The outputs do not depend on the input: a zero Jacobian.
        None => vec![0.0; shape.iter().product()],
    };
    let loss = out.get(&tg.loss).map(|t| t.to_f64()[0]).unwrap_or(f64::NAN);
    Ok(PassOutput {
        loss,
        labels,
        classes,
        input_jacobian: Some((n, jacobian)),
        ..Default::default()
    })
}
