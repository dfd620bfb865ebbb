//! The CI gate: a target scored under a protocol and judged by a trainability policy.

use super::{PassOverrides, Protocol, ScoreOutput, Target, score};
use crate::analysis::policy::{CheckResult, Policy, evaluate};
use crate::error::Result;
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

/// Scores `target` under `p` and applies `policy` to the report.
pub fn check(
    rt: &Runtime,
    target: Target<'_>,
    p: &Protocol,
    overrides: &PassOverrides,
    policy: &Policy,
) -> Result<Verdict> {
    let output = score(rt, target, p, overrides)?;
    let checks = evaluate(policy, &output.report);
    Ok(Verdict { output, checks })
}
