//! `intrain check`: a CI gate on trainability. Exit 0 when every check passes, 1 when one
//! fails, 2 on bad input. `--format github` prints GitHub Actions annotations; `--junit` writes
//! a JUnit XML report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;

use super::target::TargetArgs;
use intrain::analysis::policy::{Bounds, CheckResult, Policy};
use intrain::error::Error;
use intrain::scoring::ScoreOutput;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Readable lines.
    Text,
    /// GitHub Actions workflow commands (::error / ::notice annotations).
    Github,
    /// JSON.
    Json,
}

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Policy file (YAML; schema: schemas/policy.schema.json): it replaces the default policy
    /// (keys it leaves out are checks not made), and the flags below override it. Default: the
    /// calibrated policy of examples/trainability.yaml (max_dead_layers 0, min_pr 1.5, min_health
    /// 0.01, max_loss_over_chance 10, min_gradient_ratio 1e-5, no NaN/Inf).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Fail when InTrain I is below this (absolute: calibrate it on your own family of models).
    #[arg(long)]
    min_intrain: Option<f64>,
    /// Fail when a live main-path layer's PR over its bound min(C, M − 1) is below this (0..1):
    /// PR/C unless the layer has more channels than samples M − 1 (batch x positions).
    #[arg(long)]
    min_pr_over_c: Option<f64>,
    /// Fail when a live main-path layer's participation ratio is below this (under 2: its
    /// features span about one direction). 0 turns the check off.
    #[arg(long)]
    min_pr: Option<f64>,
    /// Fail when more layers than this are dead.
    #[arg(long)]
    max_dead_layers: Option<usize>,
    /// Fail when a tensor's gradient health h is below this (0..1). 0 turns the check off.
    #[arg(long)]
    min_health: Option<f64>,
    /// Fail when a layer's RMS exceeds this multiple of the input's RMS (off by default: cells
    /// that sum skip connections grow their scale harmlessly when a normalisation follows).
    #[arg(long)]
    max_activation_growth: Option<f64>,
    /// Fail when the initial loss exceeds this multiple of an uninformed prediction's
    /// (ln(classes) for cross-entropy): outputs blown up by an exploding scale. `inf` turns the
    /// check off.
    #[arg(long)]
    max_loss_over_chance: Option<f64>,
    /// Fail when the first weight tensor's relative gradient RMS(g)/RMS(W) is below this
    /// fraction of the last one's (a gradient that vanishes before it reaches the input). 0
    /// turns the check off.
    #[arg(long)]
    min_gradient_ratio: Option<f64>,
    /// Do not fail on NaN/Inf in layers or gradients.
    #[arg(long)]
    allow_non_finite: bool,
    /// Fail when a proxy is below this, e.g. --proxy-min synflow=60 (repeatable; any proxy of
    /// `intrain proxies`; the baselines that read real images need --images).
    #[arg(long, value_name = "NAME=X", value_parser = proxy_bound)]
    proxy_min: Vec<(String, f64)>,
    /// Fail when a proxy is above this, e.g. --proxy-max plain=0 (repeatable).
    #[arg(long, value_name = "NAME=X", value_parser = proxy_bound)]
    proxy_max: Vec<(String, f64)>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Also write a JUnit XML report (one test case per check).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct CheckReport<'a> {
    passed: bool,
    model: &'a str,
    arch: Option<&'a str>,
    intrain: f64,
    policy: &'a Policy,
    checks: &'a [CheckResult],
}

/// A proxy bound `NAME=X` of the command line.
fn proxy_bound(s: &str) -> Result<(String, f64), String> {
    let (name, v) = s.split_once('=').ok_or_else(|| format!("'{s}' is not NAME=X"))?;
    let v: f64 = v.trim().parse().map_err(|_| format!("'{v}' is not a number"))?;
    Ok((name.trim().to_string(), v))
}

/// Runs `check`.
pub fn run(a: CheckArgs) -> anyhow::Result<super::Exit> {
    let base = Policy::from_file_or_default(a.policy.as_deref())?;
    let mut proxies: BTreeMap<String, Bounds> = BTreeMap::new();
    for (name, v) in &a.proxy_min {
        proxies.entry(name.clone()).or_default().min = Some(*v);
    }
    for (name, v) in &a.proxy_max {
        proxies.entry(name.clone()).or_default().max = Some(*v);
    }
    let flags = Policy {
        min_intrain: a.min_intrain,
        min_pr_over_c: a.min_pr_over_c,
        min_pr: a.min_pr,
        max_dead_layers: a.max_dead_layers,
        min_health: a.min_health,
        max_activation_growth: a.max_activation_growth,
        max_loss_over_chance: a.max_loss_over_chance,
        min_gradient_ratio: a.min_gradient_ratio,
        allow_non_finite: a.allow_non_finite.then_some(true),
        proxies,
    };
    flags.validate("flags")?;
    let policy = base.overridden_by(&flags);
    let rt = a.target.runtime.runtime()?;
    let verdict = a.target.check(&rt, &policy)?;
    let passed = verdict.passed();
    let (r, checks) = (&verdict.output, &verdict.checks);
    if let Some(path) = &a.junit {
        std::fs::write(path, junit(r, checks))
            .map_err(|source| Error::Io { path: path.clone(), source })?;
    }
    match a.format {
        Format::Json => super::print_json(&CheckReport {
            passed,
            model: &r.model,
            arch: r.arch.as_deref(),
            intrain: r.report.score.intrain,
            policy: &policy,
            checks,
        })?,
        Format::Github => {
            for c in checks {
                let level = if c.passed { "notice" } else { "error" };
                outln!(
                    "::{level} file={},title=intrain {}::{}",
                    gh_escape_property(&r.model),
                    c.check,
                    gh_escape(&c.message)
                );
            }
        }
        Format::Text => {
            for c in checks {
                outln!("{}  {:<21} {}", if c.passed { "PASS" } else { "FAIL" }, c.check, c.message);
            }
            outln!(
                "{}: {} ({} of {} checks passed)",
                r.model,
                if passed { "pass" } else { "FAIL" },
                checks.iter().filter(|c| c.passed).count(),
                checks.len()
            );
        }
    }
    Ok(if passed { super::Exit::Success } else { super::Exit::CheckFailed })
}

/// Escapes a GitHub Actions annotation message.
fn gh_escape(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a GitHub Actions annotation property value.
fn gh_escape_property(s: &str) -> String {
    gh_escape(s).replace(':', "%3A").replace(',', "%2C")
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The JUnit XML report: one test suite for the model, one test case per check.
fn junit(r: &ScoreOutput, checks: &[CheckResult]) -> String {
    let failures = checks.iter().filter(|c| !c.passed).count();
    let name = xml_escape(&match &r.arch {
        Some(a) => format!("{} {a}", r.model),
        None => r.model.clone(),
    });
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"intrain check\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">",
        checks.len(),
        r.seconds
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">",
        checks.len(),
        r.seconds
    );
    for c in checks {
        let _ = write!(x, "    <testcase classname=\"intrain\" name=\"{}\"", xml_escape(&c.check));
        if c.passed {
            let _ = writeln!(x, "/>");
        } else {
            let _ = writeln!(
                x,
                ">\n      <failure message=\"{}\"/>\n    </testcase>",
                xml_escape(&c.message)
            );
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}
