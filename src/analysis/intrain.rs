//! The InTrain score from per-layer participation ratios and per-tensor gradient statistics, as
//! the InTrain paper defines it:
//!
//! - γ = Σ_l log PR_l over the layers used (a dead layer contributes 0 and is reported);
//! - h_i = min(1, std(g_i) / (max|g_i| + ε)), ε = 1e-12, std unbiased, for each parameter tensor
//!   with a gradient and at least 2 elements; o = Σ h_i;
//! - I = γ · (1 + o) / log(L + 1), L the number of layers used.

use serde::Serialize;

use super::gradients::TensorStats;
use super::participation::LayerSpectrum;

/// ε of the gradient health ratio.
pub const EPS: f64 = 1e-12;

/// The score and its components.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Score {
    /// InTrain: γ (1 + o) / log(L + 1).
    pub intrain: f64,
    /// Geometric capacity γ = Σ log PR.
    pub gamma: f64,
    /// Optimisation resilience o = Σ h.
    pub o: f64,
    /// Layers used.
    pub layers: usize,
    /// Parameter tensors counted in o.
    pub tensors: usize,
    /// Layers that were dead (all-zero features).
    pub dead_layers: usize,
    /// Layers or tensors with NaN/Inf values (their terms are left out, and reported).
    pub non_finite: usize,
}

/// Gradient health of one tensor, `None` when it does not count (fewer than 2 elements, or
/// non-finite values).
pub fn health(g: &TensorStats) -> Option<f64> {
    (g.numel >= 2 && g.non_finite == 0).then(|| (g.std / (g.max_abs + EPS)).min(1.0))
}

/// Combines layer and tensor diagnoses into the score.
pub fn score(layers: &[LayerSpectrum], grads: &[TensorStats]) -> Score {
    let gamma: f64 =
        layers.iter().filter(|l| !l.dead && !l.non_finite && l.pr > 0.0).map(|l| l.pr.ln()).sum();
    let h: Vec<f64> = grads.iter().filter_map(health).collect();
    let o: f64 = h.iter().sum();
    let l = layers.len();
    let intrain = if l == 0 { 0.0 } else { gamma * (1.0 + o) / ((l + 1) as f64).ln() };
    Score {
        intrain,
        gamma,
        o,
        layers: l,
        tensors: h.len(),
        dead_layers: layers.iter().filter(|l| l.dead).count(),
        non_finite: layers.iter().filter(|l| l.non_finite).count()
            + grads.iter().filter(|g| g.non_finite > 0).count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(pr: f64, dead: bool) -> LayerSpectrum {
        LayerSpectrum {
            channels: 8,
            pr,
            pr_over_c: pr / 8.0,
            samples: 64,
            pr_max: 8.0,
            pr_over_max: pr / 8.0,
            sample_limited: false,
            mean_square: 1.0,
            variance: 1.0,
            dead,
            non_finite: false,
        }
    }

    #[test]
    fn score_follows_the_definition() {
        let layers = [layer(4.0, false), layer(2.0, false), layer(0.0, true)];
        let g1 = TensorStats::of(&[1.0, -1.0, 1.0, -1.0]); // std = 2/√3 > max → h = 1
        let g2 = TensorStats::of(&[0.0, 0.0, 0.0, 4.0]); // std = 2, max 4 → h = 0.5
        let g3 = TensorStats::of(&[3.0]); // one element: not counted
        let s = score(&layers, &[g1, g2, g3]);
        let gamma = 4f64.ln() + 2f64.ln();
        assert!((s.gamma - gamma).abs() < 1e-12);
        assert!((s.o - 1.5).abs() < 1e-12);
        assert_eq!((s.layers, s.tensors, s.dead_layers), (3, 2, 1));
        assert!((s.intrain - gamma * 2.5 / 4f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn non_finite_terms_are_reported_not_propagated() {
        let bad = TensorStats::of(&[f32::NAN, 1.0, 2.0]);
        let s = score(&[layer(3.0, false)], &[bad]);
        assert!(s.intrain.is_finite());
        assert_eq!((s.tensors, s.non_finite), (0, 1));
    }
}
