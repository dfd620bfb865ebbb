//! `intrain inspect`: what is in a model.

use clap::Args;

use super::args::ModelArgs;
use intrain::analysis::inspect::{InspectReport, report};
use intrain::autodiff::GradSupport;

/// Arguments of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Print a JSON report instead of text.
    #[arg(long)]
    json: bool,
    /// Also list every node with its output shape, parameters and MACs.
    #[arg(long)]
    nodes: bool,
}

/// Formats a count with thousands separators.
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn render(r: &InspectReport) {
    outln!("model       {}", r.model);
    outln!("producer    {} (IR version {}, opset {})", r.producer, r.ir_version, r.opset);
    for (k, v) in &r.resolved_dims {
        outln!("dimension   {k} = {v}");
    }
    if r.per_sample {
        outln!(
            "note        the batch axis is dynamic: costs are per sample (--batch N for a batch)"
        );
    }
    for t in &r.inputs {
        outln!("input       {}  {}{:?}", t.name, t.dtype, t.shape);
    }
    for t in &r.outputs {
        outln!("output      {}  {}{:?}", t.name, t.dtype, t.shape);
    }
    outln!("nodes       {} ({} initializers)", r.nodes, r.initializers);
    outln!("parameters  {} in {} tensors", thousands(r.parameters), r.parameter_tensors);
    outln!("MACs        {} ({:.3} M)", thousands(r.macs), r.macs as f64 / 1e6);
    outln!(
        "FLOPs       {} ({:.3} M, NAS-Bench-201 convention)",
        thousands(r.flops),
        r.flops as f64 / 1e6
    );
    outln!();
    outln!("{:<24} {:>6} {:>16}  gradient", "op", "nodes", "MACs");
    for o in &r.ops {
        let g = match o.gradient {
            GradSupport::Rule => "yes",
            GradSupport::NoGradient => "none (no gradient by nature)",
            GradSupport::Unsupported => "NOT YET",
        };
        outln!("{:<24} {:>6} {:>16}  {g}", o.op, o.count, thousands(o.macs));
    }
    if r.not_differentiable.is_empty() {
        outln!("\nall ops can be differentiated");
    } else {
        outln!("\ncannot differentiate yet: {}", r.not_differentiable.join(", "));
    }
    if let Some(nodes) = &r.node_list {
        outln!("\n{:<48} {:<20} {:<20} {:>14}", "node", "op", "output", "MACs");
        for n in nodes {
            outln!(
                "{:<48} {:<20} {:<20} {:>14}",
                n.name,
                n.op,
                format!("{:?}", n.output_shape),
                thousands(n.macs)
            );
        }
    }
}

/// Runs `inspect`.
pub fn run(a: InspectArgs) -> anyhow::Result<super::Exit> {
    // A dynamic batch axis is costed per sample unless --batch says otherwise.
    let m = a.model.load_with_default_batch(Some(1))?;
    let mut r = report(&a.model.model.display().to_string(), &m, a.nodes);
    r.per_sample = a.model.batch.is_none() && m.batch_applied;
    if a.json {
        super::print_json(&r)?;
    } else {
        render(&r);
    }
    Ok(super::Exit::Success)
}
