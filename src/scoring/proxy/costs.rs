//! Cost proxies: parameters, FLOPs and MACs of one sample (no pass needed).

use super::Evidence;
use super::{Needs, ProxyDef};

/// The number of parameters.
pub struct Params;

impl ProxyDef for Params {
    fn name(&self) -> &'static str {
        "params"
    }
    fn about(&self) -> &'static str {
        "#params: parameters of the network"
    }
    fn needs(&self) -> Needs {
        Needs::Costs
    }
    fn value(&self, e: &Evidence) -> Option<f64> {
        e.costs.map(|c| c.params as f64)
    }
}

/// FLOPs of one sample, in the space's convention.
pub struct Flops;

impl ProxyDef for Flops {
    fn name(&self) -> &'static str {
        "flops"
    }
    fn about(&self) -> &'static str {
        "FLOPs of one sample, in the space's convention"
    }
    fn needs(&self) -> Needs {
        Needs::Costs
    }
    fn value(&self, e: &Evidence) -> Option<f64> {
        e.costs.map(|c| c.flops as f64)
    }
}

/// Multiply-accumulates of one sample.
pub struct Macs;

impl ProxyDef for Macs {
    fn name(&self) -> &'static str {
        "macs"
    }
    fn about(&self) -> &'static str {
        "MACs: multiply-accumulates of one sample"
    }
    fn needs(&self) -> Needs {
        Needs::Costs
    }
    fn value(&self, e: &Evidence) -> Option<f64> {
        e.costs.map(|c| c.macs as f64)
    }
}
