//! `intrain ops`: the supported operators and whether they can be differentiated.

use clap::Args;

use intrain::autodiff::{gradient_limits, gradient_support, op_table_markdown};
use intrain::ir::OpType;

/// Arguments of `ops`.
#[derive(Debug, Args)]
pub struct OpsArgs {
    /// Print the Markdown table used in the README.
    #[arg(long)]
    markdown: bool,
}

/// Runs `ops`.
pub fn run(a: OpsArgs) -> anyhow::Result<super::Exit> {
    if a.markdown {
        out!("{}", op_table_markdown());
    } else {
        for op in OpType::ALL {
            let limits = gradient_limits(*op);
            let support = format!("{:?}", gradient_support(*op));
            let line = format!("{:<24} {:<12} {limits}", op.name(), support);
            outln!("{}", line.trim_end());
        }
    }
    Ok(super::Exit::Success)
}
