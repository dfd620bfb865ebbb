//! The Rust API end to end: lower an architecture of the shipped NAS-Bench-201 space, score it
//! (one forward + backward pass on ONNX Runtime), print the diagnosis, and apply a policy.
//!
//! `cargo run --release --example score_and_check [ARCH]`

use intrain::analysis::policy::{Policy, default_policy, evaluate};
use intrain::runtime::{Runtime, RuntimeOptions};
use intrain::scoring::{PassOverrides, Protocol, Target, score};
use intrain::space::{Arch, SearchSpace};

fn main() -> anyhow::Result<()> {
    let arch = std::env::args().nth(1).unwrap_or_else(|| {
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|".into()
    });
    let space = SearchSpace::from_yaml(intrain::nets::nb201::SPACE_YAML, "nb201.yaml")?;
    let arch = Arch::parse(&space, &arch)?;
    // The paper's protocol: batch 64, 64x64, Kaiming init, batch-statistics BN, seed 0.
    let protocol = Protocol::default();
    let rt = Runtime::new(&RuntimeOptions::default())?;
    let scored = score(
        &rt,
        Target::Arch { space: &space, arch: &arch },
        &protocol,
        &PassOverrides::default(),
    )?;
    let s = &scored.report.score;
    let params = scored.costs.map_or(0, |c| c.params);
    println!("{}", scored.arch.as_deref().unwrap_or_default());
    println!(
        "InTrain {:.3} = gamma {:.3} x (1 + o {:.3}) / log(L + 1), L = {}  ({} params, {:.2} s)",
        s.intrain, s.gamma, s.o, s.layers, params, scored.seconds
    );
    for l in &scored.report.layers {
        println!(
            "  {:<28} PR/C {:.3}{}",
            l.name,
            l.spectrum.pr_over_c,
            if l.spectrum.dead { "  DEAD" } else { "" }
        );
    }
    // The calibrated default policy, plus an absolute InTrain floor for this family of models.
    let policy =
        default_policy().overridden_by(&Policy { min_intrain: Some(1.0), ..Default::default() });
    for c in evaluate(&policy, &scored.report) {
        println!("{} {}", if c.passed { "PASS" } else { "FAIL" }, c.message);
    }
    Ok(())
}
