//! TE-NAS's two indicators (Chen et al., ICLR 2021), as the AZ-NAS port computes them for whole
//! architectures: the NTK condition number on real images and the number of linear regions on
//! Gaussian inputs. The `te-nas` rank aggregate combines them.

use super::{Needs, ProxyDef};
use crate::scoring::passes::{PassKind, PassOutput, Reference, Request};

/// The negated condition number of the empirical NTK (higher is better).
pub struct Ntk;

impl ProxyDef for Ntk {
    fn name(&self) -> &'static str {
        "ntk"
    }
    fn about(&self) -> &'static str {
        "TE-NAS NTK: minus the condition number of the empirical neural tangent kernel, per-sample gradients (Chen et al. 2021)"
    }
    fn needs(&self) -> Needs {
        Needs::Pass(PassKind::Ntk)
    }
    fn reduce(&self, out: &PassOutput) -> Option<f64> {
        out.ntk_condition.map(|k| -k)
    }
}

/// The number of distinct ReLU activation patterns among the samples of a batch.
pub struct LinearRegions;

impl ProxyDef for LinearRegions {
    fn name(&self) -> &'static str {
        "linear-regions"
    }
    fn about(&self) -> &'static str {
        "TE-NAS linear regions: number of distinct ReLU on/off patterns among the batch's samples (Chen et al. 2021)"
    }
    fn needs(&self) -> Needs {
        Needs::Pass(PassKind::Gradient)
    }
    fn reference(&self) -> Reference {
        Reference::TeNas
    }
    fn requests(&self) -> &'static [Request] {
        &[Request::SignKernels]
    }
    fn reduce(&self, out: &PassOutput) -> Option<f64> {
        let k = out.sign_kernel.as_ref()?;
        let n = k.samples;
        // Samples i and j share a pattern when they agree on every unit: K[i][j] = K[i][i].
        let distinct =
            (0..n).filter(|&i| (0..i).all(|j| k.kernel[i * n + j] != k.kernel[i * n + i])).count();
        Some(distinct as f64)
    }
}
