//! InTrain and its components, from one forward and backward pass.

use super::Evidence;
use super::{Needs, ProxyDef};

/// InTrain I = γ (1 + o) / log(L + 1) (the paper's score).
pub struct InTrain;

impl ProxyDef for InTrain {
    fn name(&self) -> &'static str {
        "intrain"
    }
    fn about(&self) -> &'static str {
        "InTrain I = gamma (1 + o) / log(L + 1): forward capacity and gradient health (the paper)"
    }
    fn needs(&self) -> Needs {
        Needs::ForwardBackward
    }
    fn value(&self, e: &Evidence) -> Option<f64> {
        Some(e.score.intrain)
    }
}

/// γ = Σ log PR over the layers: the forward component.
pub struct Gamma;

impl ProxyDef for Gamma {
    fn name(&self) -> &'static str {
        "gamma"
    }
    fn about(&self) -> &'static str {
        "gamma: sum over layers of the log participation ratio of activations"
    }
    fn needs(&self) -> Needs {
        Needs::ForwardBackward
    }
    fn value(&self, e: &Evidence) -> Option<f64> {
        Some(e.score.gamma)
    }
}

/// o = Σ h over the parameter tensors: the backward component.
pub struct O;

impl ProxyDef for O {
    fn name(&self) -> &'static str {
        "o"
    }
    fn about(&self) -> &'static str {
        "o: sum over parameter tensors of the gradient health h (std over max)"
    }
    fn needs(&self) -> Needs {
        Needs::ForwardBackward
    }
    fn value(&self, e: &Evidence) -> Option<f64> {
        Some(e.score.o)
    }
}

/// γ / log(L + 1) + o: an additive variant of InTrain.
pub struct Additive;

impl ProxyDef for Additive {
    fn name(&self) -> &'static str {
        "additive"
    }
    fn about(&self) -> &'static str {
        "gamma / log(L + 1) + o: an additive variant of InTrain"
    }
    fn needs(&self) -> Needs {
        Needs::ForwardBackward
    }
    fn value(&self, e: &Evidence) -> Option<f64> {
        let s = &e.score;
        Some(s.gamma / ((s.layers + 1) as f64).ln() + s.o)
    }
}
