//! Proxies of the input Jacobian of the sum of the outputs: Jacov and EPE-NAS.

use nalgebra::DMatrix;

use super::{Needs, ProxyDef};
use crate::scoring::passes::{PassKind, PassOutput};

/// The Pearson correlation matrix of the rows of an `(n, d)` row-major matrix (NaN for a
/// constant row, as `numpy.corrcoef`).
pub(crate) fn row_correlations(n: usize, values: &[f64]) -> DMatrix<f64> {
    let d = values.len() / n.max(1);
    let mut centred = DMatrix::<f64>::zeros(n, d);
    for i in 0..n {
        let row = &values[i * d..(i + 1) * d];
        let mean = row.iter().sum::<f64>() / d.max(1) as f64;
        for (j, v) in row.iter().enumerate() {
            centred[(i, j)] = v - mean;
        }
    }
    let cov = &centred * centred.transpose();
    DMatrix::from_fn(n, n, |i, j| cov[(i, j)] / (cov[(i, i)] * cov[(j, j)]).sqrt())
}

/// Jacov: `−Σ_i [ln(λ_i + k) + 1/(λ_i + k)]` over the eigenvalues of the correlation matrix of
/// the per-sample input Jacobians, k = 1e-5.
pub struct Jacov;

impl ProxyDef for Jacov {
    fn name(&self) -> &'static str {
        "jacov"
    }
    fn about(&self) -> &'static str {
        "Jacov: eigenvalues of the correlation of per-sample input Jacobians (Mellor et al. 2020)"
    }
    fn needs(&self) -> Needs {
        Needs::Pass(PassKind::InputJacobian)
    }
    fn reduce(&self, out: &PassOutput) -> Option<f64> {
        let (n, values) = out.input_jacobian.as_ref()?;
        let corr = row_correlations(*n, values);
        if corr.iter().any(|v| !v.is_finite()) {
            return Some(f64::NAN);
        }
        let k = 1e-5;
        let eig = corr.symmetric_eigenvalues();
        Some(-eig.iter().map(|&l| (l + k).ln() + 1.0 / (l + k)).sum::<f64>())
    }
}

/// EPE-NAS: per class, `Σ ln(|corr| + k)` over the correlation matrix of that class's
/// Jacobians; the score is `Σ_c |s_c|` (up to 100 classes) or `Σ_c Σ_c' |s_c − s_c'| / classes`.
pub struct EpeNas;

impl ProxyDef for EpeNas {
    fn name(&self) -> &'static str {
        "epe-nas"
    }
    fn about(&self) -> &'static str {
        "EPE-NAS: per-class correlation of input Jacobians (Lopes et al. 2021)"
    }
    fn needs(&self) -> Needs {
        Needs::Pass(PassKind::InputJacobian)
    }
    fn reduce(&self, out: &PassOutput) -> Option<f64> {
        let (n, values) = out.input_jacobian.as_ref()?;
        let d = values.len() / (*n).max(1);
        let k = 1e-5;
        let mut classes: Vec<i64> = out.labels.clone();
        classes.sort_unstable();
        classes.dedup();
        let mut per_class = Vec::new();
        for c in classes {
            let rows: Vec<f64> = (0..*n)
                .filter(|&i| out.labels.get(i) == Some(&c))
                .flat_map(|i| values[i * d..(i + 1) * d].iter().copied())
                .collect();
            let m = rows.len() / d.max(1);
            let corr = row_correlations(m, &rows);
            per_class.push(corr.iter().map(|v| (v.abs() + k).ln()).sum::<f64>());
        }
        let score = if out.classes <= 100 {
            per_class.iter().map(|s| s.abs()).sum()
        } else {
            let pairs: f64 =
                per_class.iter().flat_map(|a| per_class.iter().map(move |b| (a - b).abs())).sum();
            pairs / per_class.len().max(1) as f64
        };
        Some(score)
    }
}
