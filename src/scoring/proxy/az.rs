//! AZ-NAS's components (Lee & Ham, CVPR 2024), each a proxy of the one AZ-NAS pass:
//! expressivity, progressivity and trainability of the block outputs. The fourth component,
//! complexity, is the `flops` proxy.

use super::{Needs, ProxyDef};
use crate::scoring::passes::{AzBlocks, PassKind, PassOutput, Reference};

/// NaN (an undefined eigen-decomposition) counts as −∞, as in the authors' code.
fn finite_or_worst(v: f64) -> f64 {
    if v.is_nan() { f64::NEG_INFINITY } else { v }
}

/// The AZ-NAS blocks of a pass.
fn blocks(out: &PassOutput) -> Option<&AzBlocks> {
    out.az.as_ref()
}

/// AZ-NAS expressivity: Σ over block outputs of the eigenvalue entropy of the channel
/// covariance.
pub struct Expressivity;

impl ProxyDef for Expressivity {
    fn name(&self) -> &'static str {
        "az-expressivity"
    }
    fn about(&self) -> &'static str {
        "AZ-NAS expressivity: sum over block outputs of the channel-covariance eigenvalue entropy (Lee & Ham 2024)"
    }
    fn needs(&self) -> Needs {
        Needs::Pass(PassKind::AzNas)
    }
    fn reference(&self) -> Reference {
        Reference::AzNas
    }
    fn reduce(&self, out: &PassOutput) -> Option<f64> {
        blocks(out).map(|b| finite_or_worst(b.expressivity.iter().sum()))
    }
}

/// AZ-NAS progressivity: the smallest increase of expressivity from one block output to the
/// next.
pub struct Progressivity;

impl ProxyDef for Progressivity {
    fn name(&self) -> &'static str {
        "az-progressivity"
    }
    fn about(&self) -> &'static str {
        "AZ-NAS progressivity: smallest expressivity increase between consecutive block outputs (Lee & Ham 2024)"
    }
    fn needs(&self) -> Needs {
        Needs::Pass(PassKind::AzNas)
    }
    fn reference(&self) -> Reference {
        Reference::AzNas
    }
    fn reduce(&self, out: &PassOutput) -> Option<f64> {
        let e = &blocks(out)?.expressivity;
        let steps = e.windows(2).map(|w| w[1] - w[0]);
        // NaN steps make the minimum NaN, as numpy's does.
        let min = steps
            .fold(f64::INFINITY, |m, d| if d.is_nan() || m.is_nan() { f64::NAN } else { m.min(d) });
        Some(finite_or_worst(min))
    }
}

/// AZ-NAS trainability: the mean over blocks of `2 − σ − 1/σ`, σ the spectral norm of the
/// block's backward map of a random sign vector.
pub struct Trainability;

impl ProxyDef for Trainability {
    fn name(&self) -> &'static str {
        "az-trainability"
    }
    fn about(&self) -> &'static str {
        "AZ-NAS trainability: mean over blocks of 2 - s - 1/s, s the spectral norm of the block's backward map (Lee & Ham 2024)"
    }
    fn needs(&self) -> Needs {
        Needs::Pass(PassKind::AzNas)
    }
    fn reference(&self) -> Reference {
        Reference::AzNas
    }
    fn reduce(&self, out: &PassOutput) -> Option<f64> {
        let t = &blocks(out)?.trainability;
        if t.is_empty() {
            return None;
        }
        Some(finite_or_worst(t.iter().sum::<f64>() / t.len() as f64))
    }
}
