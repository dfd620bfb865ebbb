//! `intrain grad`: loss and per-parameter gradient statistics of one forward + backward pass.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::args::{ModelArgs, PassArgs, RuntimeArgs};
use intrain::analysis::gradients::gradients;
use intrain::autodiff::{BnMode, Loss, ParamSet, TrainingOptions, build_training_graph};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LossArg {
    /// Mean cross-entropy against labels (classification logits).
    Ce,
    /// Mean squared error against a target.
    Mse,
    /// Sum of the output (SynFlow-style).
    Sum,
}

/// Arguments of `grad`.
#[derive(Debug, Args)]
pub struct GradArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    runtime: RuntimeArgs,
    #[command(flatten)]
    pass: PassArgs,
    /// Loss head.
    #[arg(long, value_enum, default_value_t = LossArg::Ce)]
    loss: LossArg,
    /// BatchNormalization statistics.
    #[arg(long, value_enum, default_value_t = BnMode::Train)]
    bn: BnMode,
    /// Which parameters to differentiate.
    #[arg(long, value_enum, default_value_t = ParamSet::All)]
    params: ParamSet,
    /// Also write the training graph (forward + loss + backward) as ONNX, e.g. to open in Netron.
    #[arg(long, value_name = "OUT.onnx")]
    save_graph: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `grad`.
pub fn run(a: GradArgs) -> anyhow::Result<super::Exit> {
    let m = a.model.load_with_default_batch(a.pass.input_batch()?)?;
    let opts = TrainingOptions {
        loss: match a.loss {
            LossArg::Ce => Loss::CrossEntropy,
            LossArg::Mse => Loss::Mse,
            LossArg::Sum => Loss::Sum,
        },
        batch_norm: a.bn,
        params: a.params.clone(),
        ..Default::default()
    };
    let inputs = a.pass.pass_inputs(&m.graph)?;
    if let Some(out) = &a.save_graph {
        let tg = build_training_graph(&m.graph, &opts)?;
        intrain::onnx::save(&tg.graph, out)?;
        eprintln!(
            "intrain: wrote the training graph ({} nodes) to {}",
            tg.graph.nodes().len(),
            out.display()
        );
    }
    let rt = a.runtime.runtime()?;
    let report = gradients(&rt, &m.graph, &opts, &inputs)?;
    if a.json {
        super::print_json(&report)?;
        return Ok(super::Exit::Success);
    }
    outln!(
        "loss {:.6} ({:?}), training graph {} nodes, seed {}",
        report.loss,
        report.loss_kind,
        report.training_graph_nodes,
        a.pass.seed
    );
    outln!(
        "{:<44} {:<18} {:>12} {:>12} {:>12} {:>8}",
        "parameter",
        "shape",
        "norm",
        "std",
        "max |g|",
        "nonfin"
    );
    for p in &report.params {
        let shape = format!("{:?}", p.shape);
        match &p.grad {
            Some(s) => outln!(
                "{:<44} {:<18} {:>12.4e} {:>12.4e} {:>12.4e} {:>8}",
                p.name,
                shape,
                s.norm,
                s.std,
                s.max_abs,
                s.non_finite
            ),
            None => {
                outln!("{:<44} {:<18} {:>12} (does not influence the loss)", p.name, shape, "-")
            }
        }
    }
    let bad: usize = report.params.iter().filter_map(|p| p.grad.map(|g| g.non_finite)).sum();
    if bad > 0 {
        eprintln!("intrain: warning: {bad} non-finite gradient values");
    }
    Ok(super::Exit::Success)
}
