//! VKDNW (Tybl & Neumann, CVPR 2025): the entropy of the Fisher information spectrum, alone and
//! ranked after the number of parameter tensors.

use super::{Needs, ProxyDef};
use crate::scoring::passes::{PassKind, PassOutput, Reference};

/// VKDNW: the entropy of the normalised deciles of the Fisher information's eigenvalues.
pub struct Vkdnw;

impl ProxyDef for Vkdnw {
    fn name(&self) -> &'static str {
        "vkdnw"
    }
    fn about(&self) -> &'static str {
        "VKDNW: entropy of the Fisher information spectrum deciles, one element per parameter tensor (Tybl & Neumann 2025)"
    }
    fn needs(&self) -> Needs {
        Needs::Pass(PassKind::Vkdnw)
    }
    fn reference(&self) -> Reference {
        Reference::AzNas
    }
    fn reduce(&self, out: &PassOutput) -> Option<f64> {
        out.vkdnw.as_ref().map(|v| v.entropy)
    }
}

/// VKDNW_single: the number of parameter tensors ℵ, ties broken by VKDNW (the lexicographic
/// order of (ℵ, VKDNW) as one number: ℵ + VKDNW / ln 9, the entropy of nine deciles being below
/// ln 9).
pub struct VkdnwSingle;

impl ProxyDef for VkdnwSingle {
    fn name(&self) -> &'static str {
        "vkdnw-single"
    }
    fn about(&self) -> &'static str {
        "VKDNW_single: number of parameter tensors, ties broken by VKDNW (Tybl & Neumann 2025)"
    }
    fn needs(&self) -> Needs {
        Needs::Pass(PassKind::Vkdnw)
    }
    fn reference(&self) -> Reference {
        Reference::AzNas
    }
    fn reduce(&self, out: &PassOutput) -> Option<f64> {
        let v = out.vkdnw.as_ref()?;
        Some(v.tensors as f64 + v.entropy / (9f64.ln() + 1e-9))
    }
}
