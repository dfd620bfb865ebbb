//! AZ-NAS's pass: one forward and one backward of vector-Jacobian products over the outputs of
//! the graph's blocks (the values one block hands to the next: on NAS-Bench-201 the stem and
//! each cell, as AZ-NAS's `extract_cell_features`).
//!
//! - Expressivity of a block output `f` `(N, C, H, W)`: the entropy `−Σ p ln(p + 1e-8)` of the
//!   normalised eigenvalues `p = λ/Σλ` of its channel covariance over the `N·H·W` positions.
//! - Trainability of block ℓ: with `v` a random ±1 tensor shaped like `f_ℓ` and
//!   `u = (∂f_ℓ/∂f_{ℓ−1})ᵀ v` (the block's local vector-Jacobian product: the block input is
//!   detached, so nothing from later blocks reaches it), `σ` the largest singular value of
//!   `M = Uᵀ V / (N·H·W)` (`u` pixel-unshuffled to `v`'s resolution when the block strides),
//!   and the score `2 − σ − 1/(σ + 1e-6)`; a block whose map is the identity (`u = v`) gets −∞.
//!
//! All block VJPs come out of one training graph: each block output is seeded with its own
//! cotangent and read by the next block through a gradient-stopped copy.

use std::collections::BTreeMap;

use nalgebra::DMatrix;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{PassOutput, PassSettings, initialised_batch, io_shape};
use crate::analysis::gradients::{PassInputs, prepare};
use crate::autodiff::{BnMode, Loss, ParamSet, TrainingOptions};
use crate::error::{Error, Result};
use crate::images::Images;
use crate::ir::{Graph, Tensor};
use crate::runtime::Runtime;

/// AZ-NAS's per-block scores of one network.
#[derive(Debug, Clone, PartialEq)]
pub struct AzBlocks {
    /// The block outputs, in order.
    pub features: Vec<String>,
    /// The expressivity (eigenvalue entropy) of each block output.
    pub expressivity: Vec<f64>,
    /// The trainability score of each block after the first (−∞ for an identity block).
    pub trainability: Vec<f64>,
}

/// The block a node belongs to: its name's scope path without the last component, at most two
/// levels deep (`stage1/cell0/edge_1_0/conv` → `stage1/cell0`, `/layer1/layer1.0/conv1/Conv` →
/// `layer1/layer1.0`, `stem/bn` → `stem`).
fn block_of(node_name: &str) -> String {
    let parts: Vec<&str> = node_name.split('/').filter(|p| !p.is_empty()).collect();
    let scope = &parts[..parts.len().saturating_sub(1)];
    scope[..scope.len().min(2)].join("/")
}

/// The outputs of the graph's blocks, in order: the 4-D cut points (values every input-to-output
/// path crosses) that a node of one block computes and a node of another block reads.
pub fn block_outputs(g: &Graph) -> Vec<String> {
    let consumers = g.consumers();
    let mut out = Vec::new();
    for v in super::synflow::cut_points(g, false) {
        let (Some(producer), value) = (g.producer(v), g.value(v)) else { continue };
        if value.ty.rank() != 4 {
            continue;
        }
        let block = block_of(&producer.name);
        if consumers[v.0].iter().any(|&(c, _)| block_of(&g.node(c).name) != block) {
            out.push(value.name.clone());
        }
    }
    out
}

/// Runs the AZ-NAS pass on `graph`.
pub(super) fn run(
    rt: &Runtime,
    graph: &Graph,
    settings: &PassSettings,
    images: Option<&Images>,
) -> Result<PassOutput> {
    let (g, x, _) = initialised_batch(graph, settings, images)?;
    let (_, _, classes) = io_shape(&g)?;
    let features = block_outputs(&g);
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed ^ 0xA2_4A5);
    let signs: Vec<Tensor> = features
        .iter()
        .skip(1)
        .map(|f| {
            let shape = g.find(f).map(|id| g.value(id).ty.shape.clone()).unwrap_or_default();
            let n: usize = shape.iter().product();
            let data = (0..n).map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 }).collect();
            Tensor::f32(shape, data)
        })
        .collect();
    let az = az_blocks(rt, &g, settings.bn, &x, &signs)?;
    Ok(PassOutput { classes, az: Some(az), ..Default::default() })
}

/// AZ-NAS's per-block scores of `g` (weights as they are) for the input batch `x`, with
/// `signs[ℓ − 1]` the ±1 cotangent of block output ℓ ≥ 1 of [`block_outputs`].
pub fn az_blocks(
    rt: &Runtime,
    g: &Graph,
    bn: BnMode,
    x: &Tensor,
    signs: &[Tensor],
) -> Result<AzBlocks> {
    let (input, _, _) = io_shape(g)?;
    let features = block_outputs(g);
    if features.len() < 2 {
        return Err(Error::NotApplicable(format!(
            "AZ-NAS compares consecutive block outputs; the model has {} (4-D values one named block hands to another)",
            features.len()
        )));
    }
    if signs.len() != features.len() - 1 {
        return Err(Error::Input(format!(
            "{} sign tensors for {} blocks after the first",
            signs.len(),
            features.len() - 1
        )));
    }
    let last = features.len() - 1;
    let opts = TrainingOptions {
        loss: Loss::Cotangent,
        output: Some(features[last].clone()),
        params: ParamSet::Named(Vec::new()),
        batch_norm: bn,
        activation_grams: features.clone(),
        cotangents: features[1..last].to_vec(),
        detach: features[..last].to_vec(),
        ..Default::default()
    };
    let pass = PassInputs {
        inputs: BTreeMap::from([(input, x.clone())]),
        target: Some(signs[last - 1].clone()),
        seed: 0,
    };
    let (tg, mut feeds) = prepare(g, &opts, &pass)?;
    for ((_, name), sign) in tg.cotangents.iter().zip(signs) {
        feeds.push((name.clone(), sign.clone()));
    }
    let mut session = rt.session_for(&tg.graph)?;
    let refs: Vec<(&str, &Tensor)> = feeds.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let out = session.run(&refs)?;
    let get = |n: &str| out.get(n).ok_or_else(|| Error::Runtime(format!("output '{n}' missing")));
    let mut expressivity = Vec::with_capacity(features.len());
    for (f, gram, chsum) in &tg.activation_grams {
        let id = g.find(f).ok_or_else(|| Error::Runtime(format!("no tensor '{f}'")))?;
        let shape = &g.value(id).ty.shape;
        let rows = (shape[0] * shape[2] * shape[3]) as f64;
        expressivity.push(entropy(&get(gram)?.to_f64(), &get(chsum)?.to_f64(), rows));
    }
    let mut trainability = Vec::with_capacity(last);
    for (l, ((_, u), v)) in tg.detached.iter().zip(signs).enumerate() {
        let u_shape = g.find(&features[l]).map(|id| g.value(id).ty.shape.clone());
        let score = match (u, u_shape) {
            (Some(u), Some(u_shape)) => {
                let u = get(u)?.to_f64();
                block_trainability(&u, &u_shape, &v.to_f64(), &v.shape)
            }
            // Nothing flows back: the block ignores its input.
            _ => f64::NAN,
        };
        trainability.push(score);
    }
    Ok(AzBlocks { features, expressivity, trainability })
}

/// The entropy of the normalised eigenvalues of the channel covariance, from the Gram matrix
/// `Σ x xᵀ` `(C, C)` and the channel sums over `rows` positions.
fn entropy(gram: &[f64], sums: &[f64], rows: f64) -> f64 {
    let c = sums.len();
    let cov =
        DMatrix::from_fn(c, c, |i, j| gram[i * c + j] / rows - sums[i] * sums[j] / rows.powi(2));
    let eig = cov.symmetric_eigenvalues();
    let total: f64 = eig.iter().sum();
    eig.iter()
        .map(|&l| {
            let p = l / total;
            -p * (p + 1e-8).ln()
        })
        .sum()
}

/// One block's trainability from `u` (shape `u_shape`, the block input's) and `v` (`v_shape`,
/// the block output's).
fn block_trainability(u: &[f64], u_shape: &[usize], v: &[f64], v_shape: &[usize]) -> f64 {
    if u_shape == v_shape && u == v {
        return f64::NEG_INFINITY;
    }
    let (n, ci, hi, wi) = (u_shape[0], u_shape[1], u_shape[2], u_shape[3]);
    let (co, ho, wo) = (v_shape[1], v_shape[2], v_shape[3]);
    let stride = if ho == hi { 1 } else { hi / ho.max(1) };
    if stride == 0 || hi != ho * stride || wi != wo * stride {
        return f64::NAN;
    }
    // Rows of U: the block input's channels times the stride² offsets (pixel-unshuffle; the row
    // order does not change the singular values).
    let rows = ci * stride * stride;
    let positions = n * ho * wo;
    let us = DMatrix::<f64>::from_fn(positions, rows, |p, r| {
        let (b, y, x) = (p / (ho * wo), p / wo % ho, p % wo);
        let (c, dy, dx) = (r / (stride * stride), r / stride % stride, r % stride);
        u[((b * ci + c) * hi + y * stride + dy) * wi + x * stride + dx]
    });
    let vs = DMatrix::<f64>::from_fn(positions, co, |p, o| {
        let (b, y, x) = (p / (ho * wo), p / wo % ho, p % wo);
        v[((b * co + o) * ho + y) * wo + x]
    });
    let mut m = us.transpose() * vs;
    m /= (n * ho * wo) as f64;
    let sigma = m.singular_values().max();
    -sigma - 1.0 / (sigma + 1e-6) + 2.0
}
