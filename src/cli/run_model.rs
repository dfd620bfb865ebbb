//! `intrain run`: execute a model on ONNX Runtime.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::args::{ModelArgs, RuntimeArgs};
use intrain::analysis::forward::{OutputSummary, run as run_once, save_outputs};
use intrain::error::Error;
use intrain::ir::Tensor;

/// Arguments of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    runtime: RuntimeArgs,
    /// Feed an input from a .npy file: --input NAME=FILE.npy (repeatable). Inputs not given are
    /// seeded N(0,1) samples (floats) or zeros (integers).
    #[arg(long = "input", value_name = "NAME=FILE")]
    inputs: Vec<String>,
    /// Seed of the generated inputs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write every output as NAME.npy into this folder.
    #[arg(long, value_name = "DIR")]
    save_outputs: Option<PathBuf>,
    /// Print a JSON report instead of text.
    #[arg(long)]
    json: bool,
}

/// The `run --json` document.
#[derive(Debug, Serialize)]
pub struct RunReport {
    /// The model file.
    pub model: String,
    /// Runtime description.
    pub runtime: String,
    /// Outputs in name order.
    pub outputs: Vec<OutputSummary>,
}

/// Runs `run`.
pub fn run(a: RunArgs) -> anyhow::Result<super::Exit> {
    // A dynamic batch axis takes the batch of the first --input file.
    let first_batch = match a.inputs.first().and_then(|spec| spec.split_once('=')) {
        Some((_, file)) => intrain::npy::read(std::path::Path::new(file))?.shape.first().copied(),
        None => None,
    };
    let m = a.model.load_with_default_batch(first_batch)?;
    let mut given: BTreeMap<String, Tensor> = BTreeMap::new();
    for spec in &a.inputs {
        let (name, file) = spec
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("--input '{spec}': expected NAME=FILE.npy")))?;
        given.insert(name.to_string(), intrain::npy::read(std::path::Path::new(file))?);
    }
    let rt = a.runtime.runtime()?;
    let outputs = run_once(&rt, &m.graph, given, a.seed)?;
    if let Some(dir) = &a.save_outputs {
        save_outputs(dir, &outputs)?;
    }
    let report = RunReport {
        model: a.model.model.display().to_string(),
        runtime: rt.describe(),
        outputs: outputs.iter().map(|(n, t)| OutputSummary::of(n, t)).collect(),
    };
    if a.json {
        super::print_json(&report)?;
    } else {
        outln!("{}", report.runtime);
        outln!(
            "{:<32} {:<20} {:>12} {:>12} {:>12} {:>10}",
            "output",
            "shape",
            "min",
            "max",
            "mean",
            "non-finite"
        );
        for o in &report.outputs {
            outln!(
                "{:<32} {:<20} {:>12.5} {:>12.5} {:>12.5} {:>10}",
                o.name,
                format!("{:?}", o.shape),
                o.min,
                o.max,
                o.mean,
                o.non_finite
            );
        }
    }
    Ok(super::Exit::Success)
}
