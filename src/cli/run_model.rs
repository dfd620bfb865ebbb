//! `intrain run`: execute a model on ONNX Runtime.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::args::{ModelArgs, RuntimeArgs};
use intrain::error::Error;
use intrain::init::Init;
use intrain::ir::{DType, Tensor};

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

/// Summary of one output.
#[derive(Debug, Serialize)]
pub struct OutputSummary {
    /// Output name.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Smallest finite value.
    pub min: f64,
    /// Largest finite value.
    pub max: f64,
    /// Mean of the finite values.
    pub mean: f64,
    /// Number of NaN or infinite values.
    pub non_finite: usize,
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

fn summarize(name: &str, t: &Tensor) -> OutputSummary {
    let v = t.to_f64();
    let finite: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    let n = finite.len().max(1) as f64;
    OutputSummary {
        name: name.to_string(),
        shape: t.shape.clone(),
        min: finite.iter().copied().fold(f64::INFINITY, f64::min),
        max: finite.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        mean: finite.iter().sum::<f64>() / n,
        non_finite: v.len() - finite.len(),
    }
}

/// Runs `run`.
pub fn run(a: RunArgs) -> anyhow::Result<super::Exit> {
    // A dynamic batch axis takes the batch of the first --input file.
    let first_batch = match a.inputs.first().and_then(|spec| spec.split_once('=')) {
        Some((_, file)) => intrain::npy::read(std::path::Path::new(file))?.shape.first().copied(),
        None => None,
    };
    let m = a.model.load_with_default_batch(first_batch)?;
    let g = &m.graph;
    let mut given: BTreeMap<String, Tensor> = BTreeMap::new();
    for spec in &a.inputs {
        let (name, file) = spec
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("--input '{spec}': expected NAME=FILE.npy")))?;
        let id = g.find(name).filter(|id| g.inputs().contains(id)).ok_or_else(|| {
            Error::Usage(format!("--input '{spec}': the model has no input '{name}'"))
        })?;
        let t = intrain::npy::read(std::path::Path::new(file))?;
        let want = &g.value(id).ty;
        if t.shape != want.shape || t.dtype() != want.dtype {
            return Err(Error::Usage(format!(
                "--input '{spec}': file holds {}{:?}, the model expects {want}",
                t.dtype(),
                t.shape
            ))
            .into());
        }
        given.insert(name.to_string(), t);
    }
    let mut init = Init::new(a.seed);
    let mut feeds = Vec::new();
    for &id in g.inputs() {
        let v = g.value(id);
        let t = match given.remove(&v.name) {
            Some(t) => t,
            None if v.ty.dtype == DType::F32 => init.normal_tensor(&v.ty.shape, 1.0),
            None => Tensor::full(v.ty.dtype, v.ty.shape.clone(), 0.0),
        };
        feeds.push((v.name.clone(), t));
    }
    let rt = a.runtime.runtime()?;
    let mut session = rt.session(&intrain::onnx::to_bytes(g))?;
    let refs: Vec<(&str, &Tensor)> = feeds.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let outputs = session.run(&refs)?;
    if let Some(dir) = &a.save_outputs {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
        for (name, t) in &outputs {
            let safe: String =
                name.chars()
                    .map(|c| {
                        if c.is_alphanumeric() || c == '_' || c == '.' || c == '-' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
            intrain::npy::write(&dir.join(format!("{safe}.npy")), t)?;
        }
    }
    let report = RunReport {
        model: a.model.model.display().to_string(),
        runtime: rt.describe(),
        outputs: outputs.iter().map(|(n, t)| summarize(n, t)).collect(),
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
