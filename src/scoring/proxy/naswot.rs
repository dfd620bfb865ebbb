//! NASWOT: the log-determinant of the ReLU sign-agreement kernel (Mellor et al. 2021).

use nalgebra::DMatrix;

use super::{Needs, ProxyDef};
use crate::scoring::passes::{PassKind, PassOutput, Request};

/// NASWOT: `ln |det K|`, K[i][j] the number of ReLU units on which samples i and j agree.
pub struct Naswot;

impl ProxyDef for Naswot {
    fn name(&self) -> &'static str {
        "naswot"
    }
    fn about(&self) -> &'static str {
        "NASWOT: log|det| of the ReLU sign-agreement kernel of a batch (Mellor et al. 2021)"
    }
    fn needs(&self) -> Needs {
        Needs::Pass(PassKind::Gradient)
    }
    fn requests(&self) -> &'static [Request] {
        &[Request::SignKernels]
    }
    fn reduce(&self, out: &PassOutput) -> Option<f64> {
        let k = out.sign_kernel.as_ref()?;
        Some(log_abs_det(&DMatrix::from_row_slice(k.samples, k.samples, &k.kernel)))
    }
}

/// `ln |det m|` through an LU factorisation (−∞ when singular), as `numpy.linalg.slogdet`.
pub(crate) fn log_abs_det(m: &DMatrix<f64>) -> f64 {
    let lu = m.clone().lu();
    let u = lu.u();
    (0..m.nrows()).map(|i| u[(i, i)].abs().ln()).sum()
}
