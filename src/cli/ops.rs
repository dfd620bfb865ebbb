//! `intrain ops`: the supported operators and whether they can be differentiated.

use std::process::ExitCode;

use clap::Args;

use crate::autodiff::{GradSupport, gradient_limits, gradient_support};
use crate::ir::OpType;

/// Arguments of `ops`.
#[derive(Debug, Args)]
pub struct OpsArgs {
    /// Print the Markdown table used in the README.
    #[arg(long)]
    markdown: bool,
}

/// The README's table of supported ops, generated from the code: the opset each op is read from,
/// whether it has a gradient rule, and what the rule covers.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| op | since opset | gradient | what the gradient covers |\n|---|---|---|---|\n",
    );
    let mut ops: Vec<OpType> = OpType::ALL.to_vec();
    ops.sort_by_key(|o| o.name());
    for op in ops {
        let g = match gradient_support(op) {
            GradSupport::Rule => "yes",
            GradSupport::NoGradient => "none by nature",
            GradSupport::Unsupported => "not yet",
        };
        let since = op.since_opset().max(crate::ir::MIN_OPSET);
        let limits = gradient_limits(op);
        out.push_str(&format!("| {} | {since} | {g} | {limits} |\n", op.name()));
    }
    out
}

/// Runs `ops`.
pub fn run(a: OpsArgs) -> anyhow::Result<ExitCode> {
    if a.markdown {
        out!("{}", markdown_table());
    } else {
        for op in OpType::ALL {
            let limits = gradient_limits(*op);
            let support = format!("{:?}", gradient_support(*op));
            let line = format!("{:<24} {:<12} {limits}", op.name(), support);
            outln!("{}", line.trim_end());
        }
    }
    Ok(ExitCode::SUCCESS)
}
