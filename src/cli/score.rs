//! `intrain score`: the InTrain score of a model with its per-layer and per-tensor diagnosis.

use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::args::{ModelArgs, PassArgs, RuntimeArgs};
use crate::analysis::score::{InitMode, score_model};
use crate::autodiff::TrainingOptions;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum InitArg {
    /// Kaiming-normal weights, BN γ=1 β=0, biases 0 (the paper's protocol).
    Kaiming,
    /// The weights stored in the model.
    AsIs,
}

/// Arguments of `score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    runtime: RuntimeArgs,
    /// Layers whose participation ratio counts (comma-separated tensor names); default: the
    /// documented rule (activation outputs and residual/concat block outputs).
    #[arg(long, value_delimiter = ',')]
    layers: Option<Vec<String>>,
    /// Initialisation before scoring.
    #[arg(long, value_enum, default_value_t = InitArg::Kaiming)]
    init: InitArg,
    #[command(flatten)]
    pass: PassArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `score`.
pub fn run(a: ScoreArgs) -> anyhow::Result<ExitCode> {
    let m = a.model.load()?;
    let inputs = a.pass.pass_inputs(&m.graph)?;
    let init = match a.init {
        InitArg::Kaiming => InitMode::Kaiming,
        InitArg::AsIs => InitMode::AsIs,
    };
    let rt = a.runtime.runtime()?;
    let r =
        score_model(&rt, &m.graph, a.layers.clone(), init, &TrainingOptions::default(), &inputs)?;
    if a.json {
        super::print_json(&r)?;
        return Ok(ExitCode::SUCCESS);
    }
    let s = &r.score;
    outln!(
        "InTrain {:.4}   gamma {:.4}   o {:.4}   L {}   tensors {}   (seed {}, init {:?}, loss {:.4})",
        s.intrain,
        s.gamma,
        s.o,
        s.layers,
        s.tensors,
        r.seed,
        r.init,
        r.loss
    );
    if s.dead_layers > 0 || s.non_finite > 0 {
        outln!(
            "warning: {} dead layers, {} layers/tensors with NaN or Inf",
            s.dead_layers,
            s.non_finite
        );
    }
    outln!("\n{:<44} {:<20} {:>8} {:>7}  flags", "layer", "shape", "PR", "PR/C");
    for l in &r.layers {
        let flags = if l.spectrum.dead {
            "DEAD"
        } else if l.spectrum.non_finite {
            "NaN/Inf"
        } else {
            ""
        };
        outln!(
            "{:<44} {:<20} {:>8.3} {:>7.3}  {flags}",
            l.name,
            format!("{:?}", l.shape),
            l.spectrum.pr,
            l.spectrum.pr_over_c
        );
    }
    outln!("\n{:<44} {:<20} {:>8} {:>11} {:>11}", "parameter", "shape", "h", "std", "max |g|");
    for t in &r.tensors {
        let h = t.h.map_or("-".to_string(), |h| format!("{h:.4}"));
        let (std, max) = t.grad.map_or(("-".into(), "-".into()), |g| {
            (format!("{:.3e}", g.std), format!("{:.3e}", g.max_abs))
        });
        outln!("{:<44} {:<20} {:>8} {:>11} {:>11}", t.name, format!("{:?}", t.shape), h, std, max);
    }
    Ok(ExitCode::SUCCESS)
}
