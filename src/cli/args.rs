//! Arguments shared by several commands.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use intrain::error::{Error, Result};
use intrain::onnx::{ImportOptions, ImportedModel, load_model};
use intrain::runtime::{Device, Optimization, Runtime, RuntimeOptions};

/// Execution provider choice on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    /// ONNX Runtime CPU provider.
    Cpu,
    /// CUDA provider; fails if it cannot register.
    Cuda,
    /// CUDA if available, else CPU (said on stderr).
    Auto,
}

/// ONNX Runtime options.
#[derive(Debug, Clone, Args)]
pub struct RuntimeArgs {
    /// Execution provider.
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
    /// Intra-op threads for ONNX Runtime (0: one per physical core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Path of libonnxruntime.so (else ORT_DYLIB_PATH, a copy next to the executable, the
    /// per-user cache, or a download from PyPI).
    #[arg(long, value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
}

impl RuntimeArgs {
    /// Loads ONNX Runtime as asked; prints the provider note on stderr.
    pub fn runtime(&self) -> Result<Runtime> {
        let device = match self.device {
            DeviceArg::Cpu => Device::Cpu,
            DeviceArg::Cuda => Device::Cuda,
            DeviceArg::Auto => Device::Auto,
        };
        let rt = Runtime::new(&RuntimeOptions {
            device,
            threads: self.threads,
            ort_lib: self.ort_lib.clone(),
            optimization: Optimization::All,
        })?;
        if let Some(note) = &rt.note {
            eprintln!("intrain: {note}");
        }
        Ok(rt)
    }
}

/// How many architectures batch scoring, `eval` and `search-table` score at once.
#[derive(Debug, Clone, Copy, Args)]
pub struct JobsArgs {
    /// Architectures scored at once, with --threads divided between them (at least one each).
    /// On several cores this keeps them busy through the single-threaded parts of a score
    /// (graph building, session creation) and gives each session fewer threads to
    /// synchronise; each job holds its own network in memory. A score is the one that
    /// --threads T/N would give it alone.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub jobs: usize,
}

/// How to read a model file with dynamic dimensions.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// The .onnx model (external data files are read from its folder).
    pub model: PathBuf,
    /// Value for a dynamic first (batch) dimension of every input.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Value of a named symbolic dimension, e.g. --dim batch_size=64 (repeatable).
    #[arg(long = "dim", value_name = "NAME=N")]
    pub dims: Vec<String>,
    /// Full shape of an input, e.g. --input-shape input=1,3,224,224 (repeatable).
    #[arg(long = "input-shape", value_name = "NAME=D0,D1,..")]
    pub input_shapes: Vec<String>,
}

fn split_kv<'a>(s: &'a str, flag: &str) -> Result<(&'a str, &'a str)> {
    s.split_once('=')
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .ok_or_else(|| Error::Usage(format!("{flag} '{s}': expected NAME=VALUE")))
}

impl ModelArgs {
    /// Import options from the flags.
    pub fn import_options(&self) -> Result<ImportOptions> {
        let mut o = ImportOptions { batch: self.batch, ..Default::default() };
        for d in &self.dims {
            let (k, v) = split_kv(d, "--dim")?;
            let n = v.parse().map_err(|_| {
                Error::Usage(format!("--dim '{d}': '{v}' is not a non-negative integer"))
            })?;
            o.dims.insert(k.to_string(), n);
        }
        for s in &self.input_shapes {
            let (k, v) = split_kv(s, "--input-shape")?;
            let shape = v
                .split(',')
                .map(|p| {
                    p.trim().parse::<usize>().map_err(|_| {
                        Error::Usage(format!("--input-shape '{s}': '{p}' is not a dimension"))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            o.input_shapes.insert(k.to_string(), shape);
        }
        Ok(o)
    }

    /// Reads the model, with `batch` for a dynamic first axis when `--batch` is not given.
    pub fn load_with_default_batch(&self, batch: Option<usize>) -> Result<ImportedModel> {
        let mut o = self.import_options()?;
        o.batch = o.batch.or(batch);
        load_model(&self.model, &o)
    }
}

/// The batch of one forward + backward pass (shared by `grad` and `score`).
#[derive(Debug, Clone, Args)]
pub struct PassArgs {
    /// Input batch (.npy) for the model's first input; seeded N(0,1) when absent.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Labels (.npy, integer classes) for cross-entropy, or target (.npy) for MSE; seeded when absent.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Seed of generated inputs, labels and (for `score`) initialisation; recorded in reports.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl PassArgs {
    /// The batch of the `--input` file (its first dimension), to size a dynamic batch axis.
    pub fn input_batch(&self) -> Result<Option<usize>> {
        match &self.input {
            Some(p) => Ok(intrain::npy::read(p)?.shape.first().copied()),
            None => Ok(None),
        }
    }

    /// The pass inputs for `graph`, reading the given files.
    pub fn pass_inputs(
        &self,
        graph: &intrain::ir::Graph,
    ) -> Result<intrain::analysis::gradients::PassInputs> {
        let mut inputs =
            intrain::analysis::gradients::PassInputs { seed: self.seed, ..Default::default() };
        if let Some(p) = &self.input {
            let first = graph.value(graph.inputs()[0]).name.clone();
            inputs.inputs.insert(first, intrain::npy::read(p)?);
        }
        if let Some(p) = &self.labels {
            inputs.target = Some(intrain::npy::read(p)?);
        }
        Ok(inputs)
    }
}
