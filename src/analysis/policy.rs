//! Trainability policies for CI: thresholds on a score report, each check passing or failing
//! with a message that names the offending layer or tensor.
//!
//! A policy file is YAML, every key optional; it replaces [`default_policy`] (a key it leaves out
//! is a check not made, except `allow_non_finite`, which is checked unless set to true):
//!
//! ```yaml
//! max_dead_layers: 0          # layers whose features are identically zero
//! min_pr: 1.5                 # smallest participation ratio of a main-path layer (a bottleneck)
//! min_health: 0.01            # smallest per-tensor gradient health h
//! max_loss_over_chance: 10    # initial loss over ln(classes) (outputs blown up)
//! min_gradient_ratio: 1e-5    # first weight's relative gradient over the last's (vanishing)
//! allow_non_finite: false     # NaN/Inf in any layer or gradient fails unless true
//! min_pr_over_c: 0.005        # smallest PR / min(C, M−1) of a main-path layer (a collapse)
//! max_activation_growth: 100  # largest layer RMS over the input's RMS
//! min_intrain: 500            # InTrain I (absolute: it grows with the number of layers)
//! proxies:                    # bounds on any registered proxy (`intrain proxies`)
//!   synflow: {min: 60}
//!   naswot: {min: 700, max: 900}
//! ```
//!
//! Every check but `min_intrain` is a ratio or a count that means the same for a three-layer MLP
//! and a ResNet-50. `min_pr_over_c` compares each layer's PR with the largest PR its covariance can
//! have, `min(C, M − 1)` for M samples (batch x positions): PR/C when the batch shows more samples
//! than the layer has channels, and PR/(M − 1) when it does not (a wide classifier layer on a
//! small batch), so that a layer is not failed for what the batch cannot show. The PR checks skip
//! layers that only feed a gate (a squeeze-and-excitation hidden layer).

use std::collections::BTreeMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::score::{LayerReport, ScoreReport, TensorReport};
use crate::error::{Error, Result};

/// Thresholds; `None` means the check is not made.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Minimum InTrain score I (absolute: it grows with the number of layers and tensors, so a
    /// threshold fits one family of models, not all).
    pub min_intrain: Option<f64>,
    /// Minimum per-layer PR over its bound `min(C, M − 1)` (PR/C unless the batch has fewer
    /// samples than channels), over the live main-path layers.
    pub min_pr_over_c: Option<f64>,
    /// Minimum participation ratio of a live main-path layer: under 2, its features span about
    /// one direction (a width-1 bottleneck, a rank-1 collapse).
    pub min_pr: Option<f64>,
    /// Maximum number of dead layers.
    pub max_dead_layers: Option<usize>,
    /// Minimum per-tensor gradient health h.
    pub min_health: Option<f64>,
    /// Maximum RMS of a layer over the RMS of the input: an activation scale that grows with
    /// depth (also where a normalisation downstream absorbs it, as in cells that sum skips).
    pub max_activation_growth: Option<f64>,
    /// Maximum initial loss over the loss of an uninformed prediction (ln(classes) for
    /// cross-entropy): outputs blown up by an exploding scale.
    pub max_loss_over_chance: Option<f64>,
    /// Minimum relative gradient RMS(∂L/∂W)/RMS(W) of the first weight tensor over that of the
    /// last: a gradient that vanishes on its way back to the input.
    pub min_gradient_ratio: Option<f64>,
    /// Whether NaN/Inf in layers or gradients is tolerated (default: not).
    pub allow_non_finite: Option<bool>,
    /// Bounds on registered proxies, by name: each named proxy is computed and judged (one
    /// that cannot be computed on the model fails its check).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub proxies: BTreeMap<String, Bounds>,
}

/// Bounds on a proxy's value; `None` is no bound.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    /// The smallest value that passes.
    pub min: Option<f64>,
    /// The largest value that passes.
    pub max: Option<f64>,
}

/// The default policy, calibrated on healthy exported models and a corpus of networks that fail
/// to train (the README's CI section gives the margins): no dead layer, no NaN/Inf, no
/// one-direction layer (PR under 1.5), gradient health at least 0.01, an initial loss at most 10
/// times chance, and a first layer that learns at least 1e-5 as fast as the last.
pub fn default_policy() -> Policy {
    Policy {
        min_intrain: None,
        min_pr_over_c: None,
        min_pr: Some(1.5),
        max_dead_layers: Some(0),
        min_health: Some(0.01),
        max_activation_growth: None,
        max_loss_over_chance: Some(10.0),
        min_gradient_ratio: Some(1e-5),
        allow_non_finite: Some(false),
        proxies: BTreeMap::new(),
    }
}

impl Policy {
    /// Reads a policy file.
    pub fn read(path: &Path) -> Result<Policy> {
        let text = crate::limits::read_text(path)?;
        Policy::from_yaml(&text, &path.display().to_string())
    }

    /// Parses and validates a policy from YAML text; `origin` names it in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Policy> {
        let p: Policy = crate::yaml::parse(text, origin)?;
        p.validate(origin)?;
        Ok(p)
    }

    /// The policy of a file, or [`default_policy`] without one.
    pub fn from_file_or_default(path: Option<&Path>) -> Result<Policy> {
        path.map_or_else(|| Ok(default_policy()), Policy::read)
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
        if let Some(v) = self.min_pr.filter(|v| !(*v >= 0.0 && v.is_finite())) {
            return bad("min_pr", v, "the finite numbers >= 0");
        }
        if let Some(v) = self.max_activation_growth.filter(|v| v.is_nan() || *v <= 0.0) {
            return bad("max_activation_growth", v, "the numbers > 0");
        }
        if let Some(v) = self.max_loss_over_chance.filter(|v| v.is_nan() || *v <= 0.0) {
            return bad("max_loss_over_chance", v, "the numbers > 0");
        }
        if let Some(v) = self.min_gradient_ratio.filter(|v| !(*v >= 0.0 && v.is_finite())) {
            return bad("min_gradient_ratio", v, "the finite numbers >= 0");
        }
        for (name, b) in &self.proxies {
            if let Some(p) = crate::scoring::Proxy::named(name)
                && !p.components().is_empty()
            {
                let parts: Vec<&str> = p.components().iter().map(|c| c.name()).collect();
                return Err(Error::Spec(format!(
                    "{origin}: proxies.{name}: a rank aggregate over a pool of architectures, and a gate judges one model; bound its components instead ({})",
                    parts.join(", ")
                )));
            }
            if let Some(v) = [b.min, b.max].into_iter().flatten().find(|v| !v.is_finite()) {
                return bad(&format!("proxies.{name}"), v, "the finite numbers");
            }
            if let (Some(lo), Some(hi)) = (b.min, b.max)
                && lo > hi
            {
                return Err(Error::Spec(format!("{origin}: proxies.{name}: min {lo} > max {hi}")));
            }
        }
        Ok(())
    }

    /// `self` with the values set in `over` replacing its own.
    pub fn overridden_by(&self, over: &Policy) -> Policy {
        Policy {
            min_intrain: over.min_intrain.or(self.min_intrain),
            min_pr_over_c: over.min_pr_over_c.or(self.min_pr_over_c),
            min_pr: over.min_pr.or(self.min_pr),
            max_dead_layers: over.max_dead_layers.or(self.max_dead_layers),
            min_health: over.min_health.or(self.min_health),
            max_activation_growth: over.max_activation_growth.or(self.max_activation_growth),
            max_loss_over_chance: over.max_loss_over_chance.or(self.max_loss_over_chance),
            min_gradient_ratio: over.min_gradient_ratio.or(self.min_gradient_ratio),
            allow_non_finite: over.allow_non_finite.or(self.allow_non_finite),
            proxies: {
                let mut merged = self.proxies.clone();
                for (name, b) in &over.proxies {
                    let base = merged.entry(name.clone()).or_default();
                    *base = Bounds { min: b.min.or(base.min), max: b.max.or(base.max) };
                }
                merged
            },
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

/// A number for a message: four significant digits, in exponent form when very large or small.
fn num(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let magnitude = v.abs().log10().floor();
    if (-3.0..4.0).contains(&magnitude) {
        format!("{v:.*}", (3.0 - magnitude) as usize)
    } else {
        format!("{v:.2e}")
    }
}

/// The checks of the policy's proxy bounds on computed values (`values` by name) and on the
/// proxies that could not be computed (`unavailable`, with the reason: a failed check).
pub fn evaluate_proxies(
    policy: &Policy,
    values: &BTreeMap<String, f64>,
    unavailable: &BTreeMap<String, String>,
) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for (name, b) in &policy.proxies {
        let value = values.get(name).copied();
        for (kind, bound) in [("min", b.min), ("max", b.max)] {
            let Some(t) = bound else { continue };
            let check = format!("proxies.{name}.{kind}");
            let Some(v) = value else {
                let why = unavailable.get(name).map_or("not computed", String::as_str);
                out.push(result(&check, false, f64::NAN, t, format!("{name}: {why}")));
                continue;
            };
            let passed = if kind == "min" { v >= t } else { v <= t };
            out.push(result(
                &check,
                passed,
                v,
                t,
                format!("{name} {} (threshold {kind} {t})", num(v)),
            ));
        }
    }
    out
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
    // The layers whose spectrum is judged: live, finite, on the main path.
    let judged =
        || r.layers.iter().filter(|l| !l.spectrum.dead && !l.spectrum.non_finite && !l.gate);
    if let Some(t) = policy.min_pr_over_c {
        let worst =
            judged().min_by(|a, b| a.spectrum.pr_over_max.total_cmp(&b.spectrum.pr_over_max));
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
    let narrowest = judged().min_by(|a, b| a.spectrum.pr.total_cmp(&b.spectrum.pr));
    if let (Some(t), Some(l)) = (policy.min_pr, narrowest) {
        let v = l.spectrum.pr;
        let span = if v == 0.0 {
            ": its features are the same for every sample (no signal reaches it)"
        } else if v < 2.0 {
            ": its features span about one direction"
        } else {
            ""
        };
        let message = format!(
            "smallest PR {v:.2} at layer '{}' {:?} ({} channels){span} (threshold {t})",
            l.name, l.shape, l.spectrum.channels
        );
        out.push(result("min_pr", v >= t, v, t, message));
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
        // An all-zero gradient has no spread to measure: it comes from the architecture (a
        // convolution of a node that is always zero) or from a failure that the dead-layer and
        // gradient-ratio checks name. It is counted, not judged.
        let silent = |x: &&TensorReport| x.grad.is_some_and(|g| g.max_abs == 0.0);
        let worst = r
            .tensors
            .iter()
            .filter(|x| !silent(x))
            .filter_map(|x| x.h.map(|h| (h, x)))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        let left_out = r.tensors.iter().filter(silent).count();
        let releasing = releasing(r);
        let note = match left_out {
            0 => String::new(),
            n if !releasing.is_empty() => format!(
                "; {n} tensors with no gradient before the first step are left out: \
                 zero-initialised {} get one and pass it back after that step",
                quoted(&releasing)
            ),
            n => format!("; {n} tensors with an all-zero gradient are left out"),
        };
        if let Some((h, x)) = worst {
            out.push(result(
                "min_health",
                h >= t,
                h,
                t,
                format!(
                    "smallest gradient health h {h:.4} at '{}' {:?} (threshold {t}){note}",
                    x.name, x.shape
                ),
            ));
        }
    }
    out.extend(policy.max_activation_growth.and_then(|t| activation_growth(r, t)));
    out.extend(policy.max_loss_over_chance.and_then(|t| loss_over_chance(r, t)));
    out.extend(policy.min_gradient_ratio.and_then(|t| gradient_ratio(r, t)));
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

/// Zero-valued multipliers that get a gradient (a zero-initialised head, γ = 0 closing a
/// residual branch): they leave zero at the first step and from then on pass the gradient back.
fn releasing(r: &ScoreReport) -> Vec<&str> {
    r.tensors
        .iter()
        .filter(|x| x.zero_multiplier && x.grad.is_some_and(|g| g.max_abs > 0.0))
        .map(|x| x.name.as_str())
        .collect()
}

/// A tensor whose gradient is exactly zero only until the `releasing` multipliers move: the
/// gradient checks leave it out (a model whose every multiplier is zero releases nothing).
fn held_back(x: &TensorReport, releasing: &[&str]) -> bool {
    !releasing.is_empty() && x.grad.is_some_and(|g| g.max_abs == 0.0)
}

/// `'a', 'b'` (at most three names, then how many more).
fn quoted(names: &[&str]) -> String {
    let mut s: Vec<String> = names.iter().take(3).map(|n| format!("'{n}'")).collect();
    if names.len() > 3 {
        s.push(format!("{} more", names.len() - 3));
    }
    s.join(", ")
}

/// `max_activation_growth`: the largest layer RMS over the input RMS, located at the first layer
/// over the threshold (where the explosion starts) when one is. Not made without an input scale.
fn activation_growth(r: &ScoreReport, t: f64) -> Option<CheckResult> {
    if r.input_rms.is_nan() || r.input_rms <= 0.0 {
        return None;
    }
    let growth: Vec<(f64, &LayerReport)> = r
        .layers
        .iter()
        .filter(|l| !l.spectrum.non_finite)
        .map(|l| (l.spectrum.mean_square.sqrt() / r.input_rms, l))
        .collect();
    let &(largest, at) = growth.iter().max_by(|a, b| a.0.total_cmp(&b.0))?;
    let message = match growth.iter().find(|(g, _)| *g > t) {
        Some((g, first)) if first.name != at.name => format!(
            "layer '{}' {:?} is {} times the input's RMS, the first over {t}; the largest is {} \
             at '{}'",
            first.name,
            first.shape,
            num(*g),
            num(largest),
            at.name
        ),
        _ => format!(
            "largest layer RMS {} times the input's ({}) at '{}' {:?} (threshold {t})",
            num(largest),
            num(r.input_rms),
            at.name,
            at.shape
        ),
    };
    Some(result("max_activation_growth", largest <= t, largest, t, message))
}

/// `max_loss_over_chance`: the initial loss over an uninformed prediction's, with where the
/// activation scale grows most. Not made without a chance level (the sum loss).
fn loss_over_chance(r: &ScoreReport, t: f64) -> Option<CheckResult> {
    let chance = r.chance_loss.filter(|c| *c > 0.0)?;
    let ratio = r.loss / chance;
    let scale = r
        .layers
        .iter()
        .filter(|l| !l.spectrum.non_finite && r.input_rms > 0.0)
        .map(|l| (l.spectrum.mean_square.sqrt() / r.input_rms, l))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(g, l)| {
            format!("; the largest layer RMS is {} times the input's, at '{}'", num(g), l.name)
        })
        .unwrap_or_default();
    let message = format!(
        "initial loss {} is {} times that of an uninformed prediction ({}) (threshold {t}){scale}",
        num(r.loss),
        num(ratio),
        num(chance)
    );
    Some(result("max_loss_over_chance", ratio <= t, ratio, t, message))
}

/// `min_gradient_ratio`: the relative gradient of the first weight tensor (rank 2 or more, in
/// order of use) over the last one's. Not made with fewer than two weight tensors.
fn gradient_ratio(r: &ScoreReport, t: f64) -> Option<CheckResult> {
    let releasing = releasing(r);
    let weights: Vec<(&TensorReport, f64)> = r
        .tensors
        .iter()
        .filter(|x| x.shape.len() >= 2 && !held_back(x, &releasing))
        .filter_map(|x| x.relative_grad.map(|g| (x, g)))
        .collect();
    let (&(first, a), &(last, b)) = (weights.first()?, weights.last()?);
    if weights.len() < 2 {
        return None;
    }
    let ratio = if a == 0.0 { 0.0 } else { a / b };
    let message = if a == 0.0 {
        format!(
            "the first weight '{}' gets no gradient (the last, '{}', has a relative gradient \
             RMS(g)/RMS(W) of {}) (threshold {})",
            first.name,
            last.name,
            num(b),
            num(t)
        )
    } else {
        format!(
            "the first weight '{}' learns {} times as fast as the last '{}' (relative gradients \
             RMS(g)/RMS(W) {} and {}) (threshold {})",
            first.name,
            num(ratio),
            last.name,
            num(a),
            num(b),
            num(t)
        )
    };
    Some(result("min_gradient_ratio", ratio >= t, ratio, t, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::gradients::TensorStats;
    use crate::analysis::intrain::Score;
    use crate::analysis::participation::layer;
    use crate::analysis::score::InitMode;

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
            input_rms: 1.0,
            chance_loss: Some(1.0),
            pass_seconds: 0.0,
            memory: crate::analysis::score::PeakMemory {
                estimate: crate::ir::memory::estimate(&crate::ir::Graph::new("g", 17).expect("g")),
                process_peak_bytes: None,
            },
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
        let r = report(vec![LayerReport {
            name: "fc".into(),
            shape: vec![m, c],
            spectrum,
            gate: false,
        }]);
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
        let r = report(vec![LayerReport {
            name: "fc".into(),
            shape: vec![m, c],
            spectrum,
            gate: false,
        }]);
        let check = evaluate(&policy, &r).into_iter().find(|c| c.check == "min_pr_over_c");
        assert!(!check.expect("made").passed);
    }

    /// A layer of `c` channels over `m` samples whose features are `m` draws of `signal`
    /// scaled per sample, plus a constant `offset` per channel.
    fn layer_of(name: &str, c: usize, rank: usize, scale: f64, gate: bool) -> LayerReport {
        let m = 256;
        let mut gram = vec![0.0; c * c];
        let mut sums = vec![0.0; c];
        let mut init = crate::init::Init::new(7);
        for _ in 0..m {
            let z: Vec<f64> = (0..rank).map(|_| init.normal()).collect();
            let row: Vec<f64> = (0..c).map(|i| scale * z[i % rank]).collect();
            for i in 0..c {
                sums[i] += row[i];
                for j in 0..c {
                    gram[i * c + j] += row[i] * row[j];
                }
            }
        }
        LayerReport { name: name.into(), shape: vec![m, c], spectrum: layer(&gram, &sums, m), gate }
    }

    fn weight(name: &str, relative_grad: f64) -> TensorReport {
        let grad =
            TensorStats { numel: 4, norm: 1.0, mean: 0.0, std: 0.5, max_abs: 1.0, non_finite: 0 };
        TensorReport {
            name: name.into(),
            shape: vec![2, 2],
            h: Some(0.5),
            value_rms: Some(1.0),
            relative_grad: Some(relative_grad),
            zero_multiplier: false,
            grad: Some(grad),
        }
    }

    fn check(policy: &Policy, r: &ScoreReport, name: &str) -> CheckResult {
        evaluate(policy, r).into_iter().find(|c| c.check == name).expect("the check is made")
    }

    #[test]
    fn a_one_direction_layer_fails_min_pr_unless_it_only_feeds_a_gate() {
        let policy = Policy { min_pr: Some(1.5), ..Default::default() };
        let healthy = report(vec![layer_of("wide", 16, 16, 1.0, false)]);
        assert!(check(&policy, &healthy, "min_pr").passed);
        // Eight channels that all carry the same feature: PR 1.
        let collapsed = report(vec![
            layer_of("wide", 16, 16, 1.0, false),
            layer_of("bottleneck", 8, 1, 1.0, false),
        ]);
        let c = check(&policy, &collapsed, "min_pr");
        assert!(!c.passed && c.message.contains("'bottleneck'"), "{}", c.message);
        assert!(c.message.contains("about one direction"), "{}", c.message);
        // The same layer inside a squeeze-and-excitation gate is not the network's width.
        let gated = report(vec![
            layer_of("wide", 16, 16, 1.0, false),
            layer_of("se_hidden", 8, 1, 1.0, true),
        ]);
        assert!(check(&policy, &gated, "min_pr").passed);
    }

    #[test]
    fn an_exploding_scale_is_located_where_it_first_crosses_the_threshold() {
        let policy = Policy { max_activation_growth: Some(100.0), ..Default::default() };
        let layers: Vec<LayerReport> = [1.0, 30.0, 900.0, 27_000.0]
            .iter()
            .enumerate()
            .map(|(i, &s)| layer_of(&format!("conv{i}"), 4, 4, s, false))
            .collect();
        let c = check(&policy, &report(layers), "max_activation_growth");
        assert!(!c.passed && c.value > 1e4, "{}", c.message);
        assert!(c.message.starts_with("layer 'conv2'"), "{}", c.message);
        assert!(c.message.contains("largest is") && c.message.contains("'conv3'"), "{}", c.message);
        let calm = report(vec![layer_of("conv0", 4, 4, 1.0, false)]);
        assert!(check(&policy, &calm, "max_activation_growth").passed);
    }

    #[test]
    fn a_gradient_that_vanishes_before_the_first_layer_fails_the_ratio() {
        let policy = Policy { min_gradient_ratio: Some(1e-5), ..Default::default() };
        let mut r = report(Vec::new());
        r.tensors = vec![
            weight("body.0.weight", 1e-11),
            weight("body.2.weight", 1e-6),
            weight("head.weight", 1e-2),
        ];
        let c = check(&policy, &r, "min_gradient_ratio");
        assert!(!c.passed && (c.value - 1e-9).abs() < 1e-15, "{}", c.message);
        assert!(c.message.contains("'body.0.weight'") && c.message.contains("'head.weight'"));
        r.tensors[0] = weight("body.0.weight", 1e-3);
        assert!(check(&policy, &r, "min_gradient_ratio").passed);
        // One weight tensor: nothing to compare.
        r.tensors.truncate(1);
        assert!(evaluate(&policy, &r).iter().all(|c| c.check != "min_gradient_ratio"));
    }

    #[test]
    fn the_shipped_example_policy_is_the_default_policy() {
        let text = include_str!("../../examples/trainability.yaml");
        let shipped: Policy =
            crate::yaml::parse(text, "examples/trainability.yaml").expect("parses");
        assert_eq!(shipped, default_policy());
    }

    #[test]
    fn a_zero_initialised_head_that_gets_a_gradient_holds_back_the_others_for_one_step_only() {
        let policy =
            Policy { min_health: Some(0.01), min_gradient_ratio: Some(1e-5), ..Default::default() };
        let silent =
            TensorStats { numel: 4, norm: 0.0, mean: 0.0, std: 0.0, max_abs: 0.0, non_finite: 0 };
        let quiet = |name: &str| {
            let mut x = weight(name, 0.0);
            (x.grad, x.h) = (Some(silent), Some(0.0));
            x
        };
        // A head at zero (torchvision's ViT) with a gradient: it moves at the first step.
        let mut head = weight("head.weight", 0.0);
        (head.value_rms, head.relative_grad, head.zero_multiplier) = (Some(0.0), None, true);
        let mut r = report(Vec::new());
        r.tensors = vec![quiet("body.weight"), quiet("mid.weight"), head.clone()];
        let c = check(&policy, &r, "min_health");
        assert!(c.passed, "{}", c.message);
        assert!(
            c.message.contains(
                "2 tensors with no gradient before the first step are left out: \
                 zero-initialised 'head.weight'"
            ),
            "{}",
            c.message
        );
        assert!(evaluate(&policy, &r).iter().all(|c| c.check != "min_gradient_ratio"));
        // Two zero layers in a row: the head gets no gradient either, nothing is released, and
        // the gradient that never reaches the first weight fails the ratio.
        (head.grad, head.h) = (Some(silent), Some(0.0));
        r.tensors = vec![quiet("body.weight"), quiet("mid.weight"), head];
        let c = check(&policy, &r, "min_gradient_ratio");
        assert!(!c.passed && c.message.contains("gets no gradient"), "{}", c.message);
    }
}
