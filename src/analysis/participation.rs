//! Geometric capacity of a layer: the participation ratio of its channel covariance.
//!
//! For an activation reshaped to `M x C` (M = batch x positions), the channel covariance
//! `Cov = (G − s sᵀ / M) / M` comes from the Gram matrix `G = AᵀA` and the channel sums `s`, which
//! the training graph computes in-graph (so only `C x C` numbers leave the device). Then
//! `PR = (tr Cov)² / tr(Cov²) = (Σλ)² / Σλ² = exp(H₂(p))`, `p = λ / Σλ`: no eigendecomposition is
//! needed, though the spectrum is available as a diagnostic. Everything is accumulated in f64.
//!
//! The covariance of M samples has rank at most `M − 1` (the mean is subtracted), so a layer's PR
//! is at most `min(C, M − 1)`: a classifier's hidden layer of 1024 features seen on a batch of 64
//! has PR ≤ 63 whatever the network. `pr_over_max` normalises by that bound; `pr_over_c` stays
//! PR/C.

use nalgebra::{DMatrix, SymmetricEigen};
use serde::Serialize;

/// The participation-ratio diagnosis of one layer.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct LayerSpectrum {
    /// Channels C.
    pub channels: usize,
    /// Participation ratio in [1, C]; 0 for a dead layer.
    pub pr: f64,
    /// PR / C in [0, 1].
    pub pr_over_c: f64,
    /// Samples M (batch x positions) the covariance was estimated from.
    pub samples: usize,
    /// The largest PR the layer can have: `min(C, M − 1)`, the rank bound of its covariance.
    pub pr_max: f64,
    /// PR / `pr_max` in [0, 1] (0 when `pr_max` is 0): how full the spectrum is for what the
    /// batch can show.
    pub pr_over_max: f64,
    /// `M − 1 < C`: the batch, not the channels, bounds the PR.
    pub sample_limited: bool,
    /// Mean over channels of the second moment E[a²] (0 when non-finite): the layer's scale,
    /// `√mean_square` its RMS.
    pub mean_square: f64,
    /// Mean over channels of the variance across samples, `tr Cov / C` (0 when non-finite): the
    /// part of the scale that depends on the sample; `variance / mean_square` in [0, 1] is the
    /// layer's signal fraction.
    pub variance: f64,
    /// All features are identically zero (NAS-Bench-201 has such cells): log PR counts as 0.
    pub dead: bool,
    /// The Gram matrix or sums contain NaN or infinity.
    pub non_finite: bool,
}

/// The channel covariance from a row-major `C x C` Gram matrix, the channel sums and the number of
/// samples `m` (batch x positions).
pub fn covariance(gram: &[f64], sums: &[f64], m: usize) -> DMatrix<f64> {
    let c = sums.len();
    let m = m.max(1) as f64;
    DMatrix::from_fn(c, c, |i, j| (gram[i * c + j] - sums[i] * sums[j] / m) / m)
}

/// Participation ratio `(tr C)² / tr(C²)` by the trace identity (`tr(C²)` is the squared
/// Frobenius norm of the symmetric C); `None` when the covariance is zero.
pub fn participation_ratio(cov: &DMatrix<f64>) -> Option<f64> {
    let tr = cov.trace();
    let fro2 = cov.iter().map(|x| x * x).sum::<f64>();
    (fro2 > 0.0 && tr > 0.0).then(|| tr * tr / fro2)
}

/// Eigenvalues of the symmetric covariance, descending (a diagnostic; PR does not need them).
pub fn spectrum(cov: &DMatrix<f64>) -> Vec<f64> {
    let mut e: Vec<f64> = SymmetricEigen::new(cov.clone()).eigenvalues.iter().copied().collect();
    e.sort_by(|a, b| b.total_cmp(a));
    e
}

/// `exp(H₂(p))` of a spectrum: the Rényi-2 entropy form of the participation ratio.
pub fn renyi2_pr(eigenvalues: &[f64]) -> f64 {
    let total: f64 = eigenvalues.iter().map(|l| l.max(0.0)).sum();
    1.0 / eigenvalues.iter().map(|l| (l.max(0.0) / total).powi(2)).sum::<f64>()
}

/// Diagnoses one layer from its in-graph statistics.
pub fn layer(gram: &[f64], sums: &[f64], m: usize) -> LayerSpectrum {
    let c = sums.len();
    let non_finite = gram.iter().chain(sums).any(|x| !x.is_finite());
    let dead = !non_finite && gram.iter().all(|&x| x == 0.0);
    let pr = if non_finite || dead {
        0.0
    } else {
        participation_ratio(&covariance(gram, sums, m)).unwrap_or(0.0)
    };
    let rank_bound = m.saturating_sub(1);
    let pr_max = c.min(rank_bound) as f64;
    let (mean_square, variance) = if non_finite || c == 0 {
        (0.0, 0.0)
    } else {
        let samples = m.max(1) as f64;
        let second: f64 = (0..c).map(|i| gram[i * c + i]).sum::<f64>() / samples;
        let mean_sq: f64 = sums.iter().map(|s| (s / samples).powi(2)).sum();
        (second / c as f64, ((second - mean_sq) / c as f64).max(0.0))
    };
    LayerSpectrum {
        channels: c,
        pr,
        pr_over_c: if c > 0 { pr / c as f64 } else { 0.0 },
        samples: m,
        pr_max,
        pr_over_max: if pr_max > 0.0 { pr / pr_max } else { 0.0 },
        sample_limited: rank_bound < c,
        mean_square,
        variance,
        dead,
        non_finite,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Init;

    /// Gram matrix and channel sums of an `m x c` sample matrix (row-major).
    fn stats(a: &[f64], m: usize, c: usize) -> (Vec<f64>, Vec<f64>) {
        let mut g = vec![0.0; c * c];
        let mut s = vec![0.0; c];
        for r in 0..m {
            for i in 0..c {
                s[i] += a[r * c + i];
                for j in 0..c {
                    g[i * c + j] += a[r * c + i] * a[r * c + j];
                }
            }
        }
        (g, s)
    }

    #[test]
    fn trace_identity_equals_renyi2_of_the_eigenvalues() {
        let mut init = Init::new(1);
        for c in [2, 5, 16] {
            let m = 200;
            let a: Vec<f64> = (0..m * c).map(|k| init.normal() * (1.0 + (k % c) as f64)).collect();
            let (g, s) = stats(&a, m, c);
            let cov = covariance(&g, &s, m);
            let pr = participation_ratio(&cov).expect("non-zero");
            let pr_eig = renyi2_pr(&spectrum(&cov));
            assert!(
                (pr - pr_eig).abs() < 1e-9 * pr,
                "C={c}: trace identity {pr} vs eigenvalues {pr_eig}"
            );
            assert!((1.0..=c as f64 + 1e-9).contains(&pr));
        }
    }

    #[test]
    fn isotropic_sample_has_pr_near_c_and_rank_one_near_1() {
        let (m, c) = (20_000, 16);
        let mut init = Init::new(2);
        let iso: Vec<f64> = (0..m * c).map(|_| init.normal()).collect();
        let (g, s) = stats(&iso, m, c);
        let l = layer(&g, &s, m);
        assert!(l.pr > 0.97 * c as f64, "isotropic: PR {} of {c}", l.pr);
        let dir: Vec<f64> = (0..c).map(|_| init.normal()).collect();
        let rank1: Vec<f64> = (0..m)
            .flat_map(|_| {
                let z = init.normal();
                dir.iter().map(move |d| z * d).collect::<Vec<_>>()
            })
            .collect();
        let (g, s) = stats(&rank1, m, c);
        let l = layer(&g, &s, m);
        assert!((l.pr - 1.0).abs() < 1e-6, "rank 1: PR {}", l.pr);
    }

    #[test]
    fn pr_is_bounded_by_the_sample_count() {
        // C = 32 channels seen on M = 8 samples: the centred samples span at most 7 directions.
        let (m, c) = (8, 32);
        let mut init = Init::new(3);
        let a: Vec<f64> = (0..m * c).map(|_| init.normal()).collect();
        let (g, s) = stats(&a, m, c);
        let l = layer(&g, &s, m);
        assert!(l.sample_limited);
        assert_eq!((l.samples, l.pr_max), (m, (m - 1) as f64));
        assert!(l.pr <= l.pr_max + 1e-9, "PR {} above its bound {}", l.pr, l.pr_max);
        assert!(l.pr_over_max <= 1.0 && l.pr_over_max > 0.5, "PR/max {}", l.pr_over_max);
        assert!(l.pr_over_c < 0.25, "PR/C {}", l.pr_over_c);
        // An exactly full spectrum of rank M − 1: M points of a regular simplex (identity rows
        // minus their mean span M − 1 orthogonal directions of equal variance).
        let (m, c) = (8, 32);
        let simplex: Vec<f64> =
            (0..m).flat_map(|r| (0..c).map(move |i| if i == r { 1.0 } else { 0.0 })).collect();
        let (g, s) = stats(&simplex, m, c);
        let l = layer(&g, &s, m);
        assert!((l.pr - 7.0).abs() < 1e-9, "simplex PR {}", l.pr);
        assert!((l.pr_over_max - 1.0).abs() < 1e-9 && l.sample_limited);
        // Enough samples: the bound is C and the two ratios agree.
        let (m, c) = (100, 4);
        let a: Vec<f64> = (0..m * c).map(|_| init.normal()).collect();
        let (g, s) = stats(&a, m, c);
        let l = layer(&g, &s, m);
        assert!(!l.sample_limited && l.pr_max == 4.0 && l.pr_over_max == l.pr_over_c);
    }

    #[test]
    fn dead_and_non_finite_layers_are_flagged() {
        let l = layer(&[0.0; 4], &[0.0; 2], 10);
        assert!(l.dead && l.pr == 0.0);
        let l = layer(&[1.0, f64::NAN, 0.0, 1.0], &[0.0; 2], 10);
        assert!(l.non_finite && !l.dead && l.pr == 0.0);
    }
}
