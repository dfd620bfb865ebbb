//! Proxies of their own pass without labels: SynFlow, the Zen-score and MeCo.

use super::{Needs, ProxyDef};
use crate::scoring::passes::{PassKind, PassOutput, Reference};

/// SynFlow: ln Σ |θ ⊙ ∂R/∂θ| of the BatchNorm-free, |θ| network on an all-ones input.
pub struct SynFlow;

impl ProxyDef for SynFlow {
    fn name(&self) -> &'static str {
        "synflow"
    }
    fn about(&self) -> &'static str {
        "SynFlow: ln sum |theta * dR/dtheta|, |theta| network without BatchNorm, all-ones input (Tanaka et al. 2020)"
    }
    fn needs(&self) -> Needs {
        Needs::Pass(PassKind::SynFlow)
    }
    fn reduce(&self, out: &PassOutput) -> Option<f64> {
        out.log_synflow
    }
}

/// Zen-score: ln of the feature change under a 0.01 input perturbation, corrected by the
/// BatchNorm scales.
pub struct Zen;

impl ProxyDef for Zen {
    fn name(&self) -> &'static str {
        "zen"
    }
    fn about(&self) -> &'static str {
        "Zen-score: ln of the pre-pooling feature change under a small input perturbation, BN-corrected (Lin et al. 2021)"
    }
    fn needs(&self) -> Needs {
        Needs::Pass(PassKind::Zen)
    }
    fn reference(&self) -> Reference {
        Reference::ZenNas
    }
    fn reduce(&self, out: &PassOutput) -> Option<f64> {
        out.zen
    }
}

/// MeCo: Σ over feature maps of the smallest eigenvalue of the channel correlation matrix, on
/// one image.
pub struct MeCo;

impl ProxyDef for MeCo {
    fn name(&self) -> &'static str {
        "meco"
    }
    fn about(&self) -> &'static str {
        "MeCo: sum over feature maps of the smallest eigenvalue of the channel correlation matrix, one image (Jiang et al. 2023)"
    }
    fn needs(&self) -> Needs {
        Needs::Pass(PassKind::MeCo)
    }
    fn reference(&self) -> Reference {
        Reference::MeCo
    }
    fn reduce(&self, out: &PassOutput) -> Option<f64> {
        out.meco
    }
}
