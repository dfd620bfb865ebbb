//! Trainability policies for CI: thresholds on a score report, each check passing or failing
//! with a message that names the offending layer or tensor.
//!
//! A policy file is YAML, every key optional:
//!
//! ```yaml
//! min_intrain: 500          # InTrain I
//! min_pr_over_c: 0.05       # smallest per-layer PR/min(C, M−1) (dead layers excluded; they have their own check)
//! max_dead_layers: 0        # layers whose features are identically zero
//! min_health: 0.01          # smallest per-tensor gradient health h
//! allow_non_finite: false   # NaN/Inf in any layer or gradient fails unless true
//! ```
//!
//! `min_pr_over_c` compares each layer's PR with the largest PR its covariance can have,
//! `min(C, M − 1)` for M samples (batch x positions): PR/C when the batch shows more samples than
//! the layer has channels, and PR/(M − 1) when it does not (a wide classifier layer on a small
//! batch), so that a layer is not failed for what the batch cannot show.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::score::ScoreReport;
use crate::error::{Error, Result};

/// Thresholds; `None` means the check is not made.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Minimum InTrain score I.
    pub min_intrain: Option<f64>,
    /// Minimum per-layer PR over its bound `min(C, M − 1)` (PR/C unless the batch has fewer
    /// samples than channels), over the live layers.
    pub min_pr_over_c: Option<f64>,
    /// Maximum number of dead layers.
    pub max_dead_layers: Option<usize>,
    /// Minimum per-tensor gradient health h.
    pub min_health: Option<f64>,
    /// Whether NaN/Inf in layers or gradients is tolerated (default: not).
    pub allow_non_finite: Option<bool>,
}

/// The default policy: no dead layer, no NaN/Inf.
pub fn default_policy() -> Policy {
    Policy { max_dead_layers: Some(0), allow_non_finite: Some(false), ..Default::default() }
}

impl Policy {
    /// Reads a policy file.
    pub fn read(path: &Path) -> Result<Policy> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let p: Policy = crate::yaml::parse(&text, &path.display().to_string())?;
        p.validate(&path.display().to_string())?;
        Ok(p)
    }

    /// Checks that thresholds are meaningful.
    pub fn validate(&self, origin: &str) -> Result<()> {
        let bad = |k: &str, v: f64, range: &str| {
            Err(Error::Spec(format!("{origin}: {k}: {v} is outside {range}")))
        };
        if let Some(v) = self.min_pr_over_c.filter(|v| !(0.0..=1.0).contains(v)) {
            return bad("min_pr_over_c", v, "[0, 1]");
        }
        if let Some(v) = self.min_health.filter(|v| !(0.0..=1.0).contains(v)) {
            return bad("min_health", v, "[0, 1]");
        }
        if let Some(v) = self.min_intrain.filter(|v| !v.is_finite()) {
            return bad("min_intrain", v, "the finite numbers");
        }
        Ok(())
    }

    /// `self` with the values set in `over` replacing its own.
    pub fn overridden_by(&self, over: &Policy) -> Policy {
        Policy {
            min_intrain: over.min_intrain.or(self.min_intrain),
            min_pr_over_c: over.min_pr_over_c.or(self.min_pr_over_c),
            max_dead_layers: over.max_dead_layers.or(self.max_dead_layers),
            min_health: over.min_health.or(self.min_health),
            allow_non_finite: over.allow_non_finite.or(self.allow_non_finite),
        }
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct CheckResult {
    /// Check name (the policy key).
    pub check: String,
    /// Whether it passed.
    pub passed: bool,
    /// The measured value.
    pub value: f64,
    /// The threshold.
    pub threshold: f64,
    /// One line saying what was measured and where.
    pub message: String,
}

fn result(check: &str, passed: bool, value: f64, threshold: f64, message: String) -> CheckResult {
    CheckResult { check: check.into(), passed, value, threshold, message }
}

/// Evaluates every check of the policy on a report.
pub fn evaluate(policy: &Policy, r: &ScoreReport) -> Vec<CheckResult> {
    let mut out = Vec::new();
    let s = &r.score;
    if let Some(t) = policy.min_intrain {
        out.push(result(
            "min_intrain",
            s.intrain >= t,
            s.intrain,
            t,
            format!("InTrain {:.4} (threshold {t})", s.intrain),
        ));
    }
    if let Some(t) = policy.min_pr_over_c {
        let worst = r
            .layers
            .iter()
            .filter(|l| !l.spectrum.dead && !l.spectrum.non_finite)
            .min_by(|a, b| a.spectrum.pr_over_max.total_cmp(&b.spectrum.pr_over_max));
        if let Some(l) = worst {
            let sp = &l.spectrum;
            let v = sp.pr_over_max;
            let message = if sp.sample_limited {
                format!(
                    "smallest PR/min(C, M-1) {v:.4} at layer '{}' {:?}: PR {:.1} of at most {} \
                     ({} samples for {} channels) (threshold {t})",
                    l.name, l.shape, sp.pr, sp.pr_max, sp.samples, sp.channels
                )
            } else {
                format!("smallest PR/C {v:.4} at layer '{}' {:?} (threshold {t})", l.name, l.shape)
            };
            out.push(result("min_pr_over_c", v >= t, v, t, message));
        }
    }
    if let Some(t) = policy.max_dead_layers {
        let dead: Vec<&str> =
            r.layers.iter().filter(|l| l.spectrum.dead).map(|l| l.name.as_str()).collect();
        let list = if dead.is_empty() { String::new() } else { format!(": {}", dead.join(", ")) };
        out.push(result(
            "max_dead_layers",
            dead.len() <= t,
            dead.len() as f64,
            t as f64,
            format!("{} dead layers (at most {t}){list}", dead.len()),
        ));
    }
    if let Some(t) = policy.min_health {
        let worst =
            r.tensors.iter().filter_map(|x| x.h.map(|h| (h, x))).min_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((h, x)) = worst {
            out.push(result(
                "min_health",
                h >= t,
                h,
                t,
                format!(
                    "smallest gradient health h {h:.4} at '{}' {:?} (threshold {t})",
                    x.name, x.shape
                ),
            ));
        }
    }
    if !policy.allow_non_finite.unwrap_or(false) {
        let mut bad: Vec<String> =
            if r.loss.is_finite() { Vec::new() } else { vec![format!("the loss ({})", r.loss)] };
        bad.extend(
            r.layers
                .iter()
                .filter(|l| l.spectrum.non_finite)
                .map(|l| format!("layer '{}'", l.name)),
        );
        bad.extend(
            r.tensors
                .iter()
                .filter(|t| t.grad.is_some_and(|g| g.non_finite > 0))
                .map(|t| format!("gradient of '{}'", t.name)),
        );
        let list = if bad.is_empty() { String::new() } else { format!(": {}", bad.join(", ")) };
        out.push(result(
            "allow_non_finite",
            bad.is_empty(),
            bad.len() as f64,
            0.0,
            format!("{} layers/gradients with NaN or Inf{list}", bad.len()),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::intrain::Score;
    use crate::analysis::participation::layer;
    use crate::analysis::score::{InitMode, LayerReport};

    fn report(layers: Vec<LayerReport>) -> ScoreReport {
        let score = Score {
            intrain: 1.0,
            gamma: 1.0,
            o: 0.0,
            layers: layers.len(),
            tensors: 0,
            dead_layers: 0,
            non_finite: 0,
        };
        ScoreReport {
            score,
            seed: 0,
            init: InitMode::Kaiming,
            loss: 1.0,
            pass_seconds: 0.0,
            layers,
            tensors: Vec::new(),
        }
    }

    #[test]
    fn a_wide_layer_on_a_small_batch_is_judged_against_its_sample_bound() {
        // 64 samples of 1024 channels, a full spectrum of rank 63: the centred rows of the
        // identity's first 64 rows (a regular simplex).
        let (m, c) = (64, 1024);
        let mut gram = vec![0.0; c * c];
        let mut sums = vec![0.0; c];
        for r in 0..m {
            gram[r * c + r] = 1.0;
            sums[r] = 1.0;
        }
        let spectrum = layer(&gram, &sums, m);
        assert!(spectrum.sample_limited && spectrum.pr_over_c < 0.062);
        assert!((spectrum.pr_over_max - 1.0).abs() < 1e-9);
        let r = report(vec![LayerReport { name: "fc".into(), shape: vec![m, c], spectrum }]);
        let policy = Policy { min_pr_over_c: Some(0.05), ..Default::default() };
        let checks = evaluate(&policy, &r);
        let check = checks.iter().find(|c| c.check == "min_pr_over_c").expect("made");
        assert!(check.passed, "{}", check.message);
        assert!(
            check.message.contains("PR 63.0 of at most 63 (64 samples for 1024 channels)"),
            "{}",
            check.message
        );
        // A collapsed wide layer still fails: rank 1 of its 63 possible directions.
        let mut gram = vec![0.0; c * c];
        let mut sums = vec![0.0; c];
        for r in 0..m {
            let x = r as f64;
            gram[0] += x * x;
            sums[0] += x;
        }
        let spectrum = layer(&gram, &sums, m);
        let r = report(vec![LayerReport { name: "fc".into(), shape: vec![m, c], spectrum }]);
        let check = evaluate(&policy, &r).into_iter().find(|c| c.check == "min_pr_over_c");
        assert!(!check.expect("made").passed);
    }
}
