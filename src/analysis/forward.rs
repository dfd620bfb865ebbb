//! Running a model once, forward only, on given or seeded inputs (the report of `intrain run`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::init::Init;
use crate::ir::{DType, Graph, Tensor};
use crate::runtime::Runtime;

/// Summary of one output.
#[derive(Debug, Clone, Serialize)]
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

impl OutputSummary {
    /// The summary of output `name`.
    pub fn of(name: &str, t: &Tensor) -> OutputSummary {
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
}

/// Runs `g` once: inputs from `given` by name (each must match the input's type), the others
/// seeded N(0,1) samples (floats) or zeros. Returns the outputs in name order.
pub fn run(
    rt: &Runtime,
    g: &Graph,
    mut given: BTreeMap<String, Tensor>,
    seed: u64,
) -> Result<BTreeMap<String, Tensor>> {
    for (name, t) in &given {
        let id = g
            .find(name)
            .filter(|id| g.inputs().contains(id))
            .ok_or_else(|| Error::Input(format!("the model has no input '{name}'")))?;
        let want = &g.value(id).ty;
        if t.shape != want.shape || t.dtype() != want.dtype {
            return Err(Error::Input(format!(
                "input '{name}': the array holds {}{:?}, the model expects {want}",
                t.dtype(),
                t.shape
            )));
        }
    }
    let mut init = Init::new(seed);
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
    let mut session = rt.session_for(g)?;
    let refs: Vec<(&str, &Tensor)> = feeds.iter().map(|(n, t)| (n.as_str(), t)).collect();
    session.run(&refs)
}

/// Writes every output as `NAME.npy` into `dir` (characters other than letters, digits, `_`,
/// `.` and `-` become `_`).
pub fn save_outputs(dir: &Path, outputs: &BTreeMap<String, Tensor>) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
    for (name, t) in outputs {
        let safe: String = name
            .chars()
            .map(|c| if c.is_alphanumeric() || c == '_' || c == '.' || c == '-' { c } else { '_' })
            .collect();
        crate::npy::write(&dir.join(format!("{safe}.npy")), t)?;
    }
    Ok(())
}
