//! The CI gate: a target scored under a protocol and judged by a trainability policy.

use super::{PassOverrides, Protocol, Proxy, ScoreOutput, Target, score_with};
use crate::analysis::policy::{CheckResult, Policy, evaluate, evaluate_proxies};
use crate::error::{Error, Result};
use crate::runtime::Runtime;

/// A target scored and judged.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The score report.
    pub output: ScoreOutput,
    /// One result per check of the policy.
    pub checks: Vec<CheckResult>,
}

impl Verdict {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }
}

/// Scores `target` under `p`, with the proxies the policy bounds, and applies `policy` to the
/// report.
pub fn check(
    rt: &Runtime,
    target: Target<'_>,
    p: &Protocol,
    overrides: &PassOverrides,
    policy: &Policy,
) -> Result<Verdict> {
    let proxies = policy
        .proxies
        .keys()
        .map(|name| {
            Proxy::named(name).ok_or_else(|| {
                Error::Spec(format!(
                    "policy: proxies.{name}: unknown proxy (known: {})",
                    Proxy::names()
                ))
            })
        })
        .collect::<Result<Vec<Proxy>>>()?;
    let output = score_with(rt, target, p, overrides, &proxies)?;
    let mut checks = evaluate(policy, &output.report);
    checks.extend(evaluate_proxies(policy, &output.proxies, &output.unavailable));
    Ok(Verdict { output, checks })
}
