//! Search spaces described in YAML (`spec`), validated into a [`SearchSpace`], whose
//! architectures ([`Arch`]) have a canonical string form and lower to ONNX-ready graphs (`lower`).
//!
//! Implemented so far: cell-based spaces (a DAG cell whose edges each choose an operation,
//! repeated in stages with reduction blocks between them: NAS-Bench-201 and DARTS-like spaces).

mod arch;
mod lower;
pub mod spec;

use std::path::Path;

pub use arch::{Arch, rng};
pub use lower::{LowerOptions, Lowered};
use spec::{OpSpec, SpaceSpec, StemSpec};

use crate::error::{Error, Result};

/// A validated search space.
#[derive(Debug, Clone)]
pub struct SearchSpace {
    /// The specification as written.
    pub spec: SpaceSpec,
    /// The edge operations, in the order of `cell.ops`.
    ops: Vec<(String, OpSpec)>,
}

fn at(text: &str, token: &str) -> String {
    match spec::locate(text, token) {
        Some((l, c)) => format!(" (line {l}, column {c})"),
        None => String::new(),
    }
}

impl SearchSpace {
    /// Reads and validates a space file.
    pub fn read(path: &Path) -> Result<SearchSpace> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        Self::from_yaml(&text, &path.display().to_string())
    }

    /// Parses and validates YAML text; `origin` names it in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<SearchSpace> {
        let spec = spec::parse(text, origin)?;
        let bad = |path: &str, what: String, token: &str| {
            Err(Error::Usage(format!("{origin}: {path}: {what}{}", at(text, token))))
        };
        if spec.input.channels == 0 || spec.input.resolution == 0 || spec.input.classes == 0 {
            return bad(
                "input",
                "channels, resolution and classes must be positive".into(),
                "input",
            );
        }
        for (name, op) in &spec.ops {
            match op {
                OpSpec::ReluConvBn { kernel, dilation } => {
                    if kernel % 2 == 0 || *dilation == 0 {
                        return bad(
                            &format!("ops.{name}.relu_conv_bn"),
                            format!(
                                "kernel must be odd and dilation positive (got kernel {kernel}, dilation {dilation})"
                            ),
                            name,
                        );
                    }
                }
                OpSpec::AvgPool { kernel, .. } | OpSpec::MaxPool { kernel } => {
                    if kernel % 2 == 0 {
                        return bad(
                            &format!("ops.{name}"),
                            format!("pool kernel must be odd for same padding (got {kernel})"),
                            name,
                        );
                    }
                }
                OpSpec::Zero | OpSpec::Identity => {}
            }
        }
        if spec.cell.nodes < 2 {
            return bad(
                "cell.nodes",
                format!(
                    "a cell needs at least 2 nodes (input and output), got {}",
                    spec.cell.nodes
                ),
                "nodes",
            );
        }
        if spec.cell.ops.is_empty() {
            return bad("cell.ops", "lists no operations".into(), "ops");
        }
        let mut ops = Vec::new();
        for (i, name) in spec.cell.ops.iter().enumerate() {
            match spec.ops.get(name) {
                Some(op) => ops.push((name.clone(), op.clone())),
                None => {
                    let known: Vec<&str> = spec.ops.keys().map(String::as_str).collect();
                    return bad(
                        &format!("cell.ops[{i}]"),
                        format!("unknown op '{name}' (defined in ops: {})", known.join(", ")),
                        name,
                    );
                }
            }
            if spec.cell.ops[..i].contains(name) {
                return bad(
                    &format!("cell.ops[{i}]"),
                    format!("op '{name}' is listed twice"),
                    name,
                );
            }
        }
        if spec.stages.is_empty() {
            return bad("stages", "needs at least one stage".into(), "stages");
        }
        let StemSpec::ConvBn { kernel, channels } = spec.stem;
        if kernel % 2 == 0 || channels == 0 {
            return bad(
                "stem.conv_bn",
                format!("kernel must be odd and channels positive (got {kernel}, {channels})"),
                "stem",
            );
        }
        let (mut c, mut res) = (channels, spec.input.resolution);
        for (k, st) in spec.stages.iter().enumerate() {
            if st.channels == 0 {
                return bad(
                    &format!("stages[{k}].channels"),
                    "must be positive".into(),
                    "channels",
                );
            }
            match st.reduction {
                Some(_) => {
                    if res % 2 != 0 {
                        return bad(
                            &format!("stages[{k}].reduction"),
                            format!("halves the resolution, but it is {res} here"),
                            "reduction",
                        );
                    }
                    res /= 2;
                }
                None if st.channels != c => {
                    return bad(
                        &format!("stages[{k}].channels"),
                        format!(
                            "{} channels, but the previous block outputs {c} and cells keep the channel count: add a reduction",
                            st.channels
                        ),
                        &format!("channels: {}", st.channels),
                    );
                }
                None => {}
            }
            c = st.channels;
        }
        Ok(SearchSpace { spec, ops })
    }

    /// The edge operations' names, in order.
    pub fn op_names(&self) -> Vec<&str> {
        self.ops.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The operation with index `i`.
    pub fn op(&self, i: usize) -> &OpSpec {
        &self.ops[i].1
    }

    /// Number of edges of the cell.
    pub fn edges(&self) -> usize {
        let n = self.spec.cell.nodes;
        n * (n - 1) / 2
    }

    /// Number of architectures (`ops ^ edges`), if it fits in a u64.
    pub fn size(&self) -> Option<u64> {
        (self.ops.len() as u64).checked_pow(self.edges() as u32)
    }

    /// Whether operation `i` is the zero operation.
    pub fn is_zero(&self, i: usize) -> bool {
        matches!(self.ops[i].1, OpSpec::Zero)
    }
}
