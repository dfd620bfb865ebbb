//! Proxies of one forward and cross-entropy backward (zero-cost-nas / NASLib conventions): sums
//! over the Conv/Gemm/MatMul weights.

use super::{Needs, ProxyDef};
use crate::scoring::passes::{PassKind, PassOutput, Request};

/// Σ over the weights of `f(θ, ∂L/∂θ)` summed element-wise; `None` without weights.
fn over_weights(out: &PassOutput, f: impl Fn(&[f64], &[f64]) -> f64) -> Option<f64> {
    if out.weights.is_empty() {
        return None;
    }
    Some(out.weights.iter().filter_map(|w| w.grad.as_ref().map(|g| f(&w.values, g))).sum())
}

/// GradNorm: Σ over the weights of ‖∂L/∂θ‖₂.
pub struct GradNorm;

impl ProxyDef for GradNorm {
    fn name(&self) -> &'static str {
        "grad-norm"
    }
    fn about(&self) -> &'static str {
        "GradNorm: sum over Conv/Linear weights of the gradient's L2 norm (Abdelfattah et al. 2021)"
    }
    fn needs(&self) -> Needs {
        Needs::Pass(PassKind::Gradient)
    }
    fn requests(&self) -> &'static [Request] {
        &[Request::Weights]
    }
    fn reduce(&self, out: &PassOutput) -> Option<f64> {
        over_weights(out, |_, g| g.iter().map(|x| x * x).sum::<f64>().sqrt())
    }
}

/// SNIP: Σ |θ ⊙ ∂L/∂θ| over the weights.
pub struct Snip;

impl ProxyDef for Snip {
    fn name(&self) -> &'static str {
        "snip"
    }
    fn about(&self) -> &'static str {
        "SNIP: sum over Conv/Linear weights of |theta * dL/dtheta| (Lee et al. 2019)"
    }
    fn needs(&self) -> Needs {
        Needs::Pass(PassKind::Gradient)
    }
    fn requests(&self) -> &'static [Request] {
        &[Request::Weights]
    }
    fn reduce(&self, out: &PassOutput) -> Option<f64> {
        over_weights(out, |w, g| w.iter().zip(g).map(|(w, g)| (w * g).abs()).sum())
    }
}

/// Plain: Σ θ ⊙ ∂L/∂θ over the weights (a first-order loss change).
pub struct Plain;

impl ProxyDef for Plain {
    fn name(&self) -> &'static str {
        "plain"
    }
    fn about(&self) -> &'static str {
        "plain: sum over Conv/Linear weights of theta * dL/dtheta (NASLib)"
    }
    fn needs(&self) -> Needs {
        Needs::Pass(PassKind::Gradient)
    }
    fn requests(&self) -> &'static [Request] {
        &[Request::Weights]
    }
    fn reduce(&self, out: &PassOutput) -> Option<f64> {
        over_weights(out, |w, g| w.iter().zip(g).map(|(w, g)| w * g).sum())
    }
}

/// L2-norm: Σ over the weights of ‖θ‖₂ at initialisation.
pub struct L2Norm;

impl ProxyDef for L2Norm {
    fn name(&self) -> &'static str {
        "l2-norm"
    }
    fn about(&self) -> &'static str {
        "l2-norm: sum over Conv/Linear weights of the weight's L2 norm at initialisation (NASLib)"
    }
    fn needs(&self) -> Needs {
        Needs::Pass(PassKind::Gradient)
    }
    fn requests(&self) -> &'static [Request] {
        &[Request::Weights]
    }
    fn reduce(&self, out: &PassOutput) -> Option<f64> {
        if out.weights.is_empty() {
            return None;
        }
        Some(out.weights.iter().map(|w| w.values.iter().map(|x| x * x).sum::<f64>().sqrt()).sum())
    }
}

/// Fisher: channel saliency `½ mean_n (Σ_positions z·∂L/∂z)²` of each Conv/Linear output
/// channel, counted once per weight of the channel (zero-cost-nas broadcasts it to the weights
/// before summing).
pub struct Fisher;

impl ProxyDef for Fisher {
    fn name(&self) -> &'static str {
        "fisher"
    }
    fn about(&self) -> &'static str {
        "Fisher: channel saliency 1/2 mean_n (sum z * dL/dz)^2 of Conv/Linear outputs (Turner et al. 2020)"
    }
    fn needs(&self) -> Needs {
        Needs::Pass(PassKind::Gradient)
    }
    fn requests(&self) -> &'static [Request] {
        &[Request::ChannelProducts]
    }
    fn reduce(&self, out: &PassOutput) -> Option<f64> {
        if out.channel_products.is_empty() {
            return None;
        }
        let mut total = 0f64;
        for p in &out.channel_products {
            let Some(values) = &p.values else { continue };
            for k in 0..p.channels {
                let mean_sq =
                    (0..p.samples).map(|n| values[n * p.channels + k].powi(2)).sum::<f64>()
                        / p.samples.max(1) as f64;
                total += 0.5 * mean_sq * p.weights_per_channel as f64;
            }
        }
        Some(total)
    }
}

/// GraSP: `Σ −θ ⊙ (H·g)` over the weights (zero-cost-nas's sign: the original GraSP negated).
pub struct Grasp;

impl ProxyDef for Grasp {
    fn name(&self) -> &'static str {
        "grasp"
    }
    fn about(&self) -> &'static str {
        "GraSP: sum over Conv/Linear weights of -theta * (H g), Hessian-vector product along the gradient (Wang et al. 2020)"
    }
    fn needs(&self) -> Needs {
        Needs::Pass(PassKind::Grasp)
    }
    fn reduce(&self, out: &PassOutput) -> Option<f64> {
        out.grasp
    }
}

/// ZiCo: Σ over the Conv/Linear weights of ln Σ_θ E|g_θ| / σ(g_θ), the gradient statistics taken
/// over two batches (elements whose gradient does not vary are left out).
pub struct ZiCo;

impl ProxyDef for ZiCo {
    fn name(&self) -> &'static str {
        "zico"
    }
    fn about(&self) -> &'static str {
        "ZiCo: sum over Conv/Linear weights of ln sum mean|g| / std(g), over two batches (Li et al. 2023)"
    }
    fn needs(&self) -> Needs {
        Needs::Pass(PassKind::TwoBatches)
    }
    fn reduce(&self, out: &PassOutput) -> Option<f64> {
        if out.weights.is_empty() || out.further_batches.is_empty() {
            return None;
        }
        let mut total = 0f64;
        for (k, w) in out.weights.iter().enumerate() {
            let Some(first) = &w.grad else { continue };
            let mut batches = vec![first.as_slice()];
            for further in &out.further_batches {
                if let Some(g) = further.get(k).and_then(|w| w.grad.as_deref()) {
                    batches.push(g);
                }
            }
            let b = batches.len() as f64;
            let mut sum = 0f64;
            for i in 0..first.len() {
                let mean = batches.iter().map(|g| g[i]).sum::<f64>() / b;
                let var = batches.iter().map(|g| (g[i] - mean).powi(2)).sum::<f64>() / b;
                if var > 0.0 {
                    let mean_abs = batches.iter().map(|g| g[i].abs()).sum::<f64>() / b;
                    sum += mean_abs / var.sqrt();
                }
            }
            if sum != 0.0 {
                total += sum.ln();
            }
        }
        Some(total)
    }
}
