//! Search spaces described in YAML (`spec`), validated into a [`SearchSpace`], whose
//! architectures ([`Arch`]) have a canonical string form and lower to ONNX-ready graphs (`lower`).
//!
//! Two families: cell spaces (a DAG cell whose edges each choose an operation, repeated in
//! stages with reduction blocks between them: NAS-Bench-201 and DARTS-like spaces) and macro
//! chain spaces (stages of blocks whose operation, kernel size, expansion, activation,
//! squeeze-excitation, width and depth are choices: the MobileNetV2-like ImageNet spaces).

mod arch;
mod blocks;
mod budget;
mod chain;
mod chain_arch;
pub mod describe;
mod lower;
pub mod spec;

use std::path::Path;

pub use arch::{Arch, BlockArch, CellArch, ChainArch, StageArch, rng};
pub use budget::{Bounds, Budget, Cost};
pub use chain::ChainStage;
pub use lower::{LowerOptions, Lowered};
use spec::{CellSpec, OpSpec, SpaceSpec, StemSpec};

use crate::error::{Error, Result};
use crate::limits::Limits;

/// The two families of spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpaceKind {
    /// A searched DAG cell repeated in stages (`cell`, `stages`).
    Cell,
    /// Stages of blocks with per-block and per-stage choices (`chain`).
    Chain,
}

/// A validated search space.
#[derive(Debug, Clone)]
pub struct SearchSpace {
    /// The specification as written.
    pub spec: SpaceSpec,
    /// Where it was read from (the file as given, or the name passed to
    /// [`SearchSpace::from_yaml`]).
    pub origin: String,
    /// The edge operations, in the order of `cell.ops` (cell spaces).
    ops: Vec<(String, OpSpec)>,
    /// The resolved stages (chain spaces).
    chain: Vec<ChainStage>,
}

fn at(text: &str, token: &str) -> String {
    match spec::locate(text, token) {
        Some((l, c)) => format!(" (line {l}, column {c})"),
        None => String::new(),
    }
}

/// A validation error of `origin` at YAML `path`, located at the first `token` of `text`.
pub(crate) fn bad_at(origin: &str, text: &str, path: &str, what: String, token: &str) -> Error {
    Error::Spec(format!("{origin}: {path}: {what}{}", at(text, token)))
}

/// Spatial size after a same-padded odd `kernel` with `stride`.
pub(crate) fn strided(res: usize, stride: usize) -> usize {
    res.saturating_sub(1) / stride.max(1) + 1
}

impl SearchSpace {
    /// Reads and validates a space file.
    pub fn read(path: &Path) -> Result<SearchSpace> {
        let text = crate::limits::read_text(path)?;
        Self::from_yaml(&text, &path.display().to_string())
    }

    /// Parses and validates YAML text; `origin` names it in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<SearchSpace> {
        let spec = spec::parse(text, origin)?;
        let bad = |path: &str, what: String, token: &str| bad_at(origin, text, path, what, token);
        if spec.input.channels == 0 || spec.input.resolution == 0 || spec.input.classes == 0 {
            return Err(bad(
                "input",
                "channels, resolution and classes must be positive".into(),
                "input",
            ));
        }
        for (name, op) in &spec.ops {
            chain::check_op(op).map_err(|(path, what)| {
                bad_at(origin, text, &format!("ops.{name}{path}"), what, name)
            })?;
        }
        let (kernel, stride, channels) = match spec.stem {
            StemSpec::ConvBn { kernel, channels } => (kernel, 1, channels),
            StemSpec::ConvBnAct { kernel, stride, channels, .. } => (kernel, stride, channels),
        };
        if kernel % 2 == 0 || channels == 0 || stride == 0 {
            return Err(bad(
                "stem",
                format!(
                    "kernel must be odd, channels and stride positive (got kernel {kernel}, channels {channels}, stride {stride})"
                ),
                "stem",
            ));
        }
        if let spec::HeadSpec::ConvBnActGapLinear { channels, hidden, .. } = spec.head
            && (channels == 0 || hidden == Some(0))
        {
            return Err(bad("head", "channels and hidden must be positive".into(), "head"));
        }
        let res = strided(spec.input.resolution, stride);
        match (&spec.cell, spec.chain.is_empty()) {
            (Some(cell), true) => {
                let ops = Self::check_cell(&spec, origin, cell, channels, res, &bad)?;
                Ok(SearchSpace { spec, origin: origin.to_string(), ops, chain: Vec::new() })
            }
            (None, false) => {
                if !spec.stages.is_empty() {
                    return Err(bad(
                        "stages",
                        "stages repeat a cell; a chain space lists its stages under `chain`".into(),
                        "stages",
                    ));
                }
                let chain = chain::check_chain(&spec, channels, text, origin)?;
                Ok(SearchSpace { spec, origin: origin.to_string(), ops: Vec::new(), chain })
            }
            (Some(_), false) => Err(bad(
                "chain",
                "a space has either a `cell` (cell space) or a `chain` (chain space), not both"
                    .into(),
                "chain",
            )),
            (None, true) => Err(bad(
                "cell",
                "missing: a space needs a `cell` with `stages` (cell space) or a `chain` (chain space)"
                    .into(),
                "name",
            )),
        }
    }

    fn check_cell(
        spec: &SpaceSpec,
        origin: &str,
        cell: &CellSpec,
        stem_channels: usize,
        mut res: usize,
        bad: &dyn Fn(&str, String, &str) -> Error,
    ) -> Result<Vec<(String, OpSpec)>> {
        if cell.nodes < 2 {
            return Err(bad(
                "cell.nodes",
                format!("a cell needs at least 2 nodes (input and output), got {}", cell.nodes),
                "nodes",
            ));
        }
        let limits = Limits::current();
        if cell.nodes > limits.cell_nodes {
            let edges = cell.nodes.saturating_mul(cell.nodes - 1) / 2;
            return Err(crate::limits::over(
                format!("{}: cell.nodes: {} nodes ({edges} edges)", origin, cell.nodes),
                &limits.cell_nodes.to_string(),
                "max-cell-nodes",
            ));
        }
        let cells = spec.stages.iter().fold(0usize, |acc, st| acc.saturating_add(st.cells));
        if cells > limits.blocks {
            return Err(crate::limits::over(
                format!("{}: stages: {cells} cells", origin),
                &limits.blocks.to_string(),
                "max-blocks",
            ));
        }
        if cell.ops.is_empty() {
            return Err(bad("cell.ops", "lists no operations".into(), "ops"));
        }
        let mut ops = Vec::new();
        for (i, name) in cell.ops.iter().enumerate() {
            match spec.ops.get(name) {
                Some(op) => {
                    if let Some(dims) = chain::choice_names(op) {
                        return Err(bad(
                            &format!("cell.ops[{i}]"),
                            format!(
                                "op '{name}' has choices ({dims}); cell edges choose whole ops, so give single values"
                            ),
                            name,
                        ));
                    }
                    ops.push((name.clone(), op.clone()))
                }
                None => {
                    let known: Vec<&str> = spec.ops.keys().map(String::as_str).collect();
                    return Err(bad(
                        &format!("cell.ops[{i}]"),
                        format!("unknown op '{name}' (defined in ops: {})", known.join(", ")),
                        name,
                    ));
                }
            }
            if cell.ops[..i].contains(name) {
                return Err(bad(
                    &format!("cell.ops[{i}]"),
                    format!("op '{name}' is listed twice"),
                    name,
                ));
            }
        }
        if spec.stages.is_empty() {
            return Err(bad("stages", "needs at least one stage".into(), "stages"));
        }
        let mut c = stem_channels;
        for (k, st) in spec.stages.iter().enumerate() {
            if st.channels == 0 {
                return Err(bad(
                    &format!("stages[{k}].channels"),
                    "must be positive".into(),
                    "channels",
                ));
            }
            match st.reduction {
                Some(_) => {
                    if !res.is_multiple_of(2) {
                        return Err(bad(
                            &format!("stages[{k}].reduction"),
                            format!("halves the resolution, but it is {res} here"),
                            "reduction",
                        ));
                    }
                    res /= 2;
                }
                None if st.channels != c => {
                    return Err(bad(
                        &format!("stages[{k}].channels"),
                        format!(
                            "{} channels, but the previous block outputs {c} and cells keep the channel count: add a reduction",
                            st.channels
                        ),
                        &format!("channels: {}", st.channels),
                    ));
                }
                None => {}
            }
            c = st.channels;
        }
        Ok(ops)
    }

    /// Which family the space belongs to.
    pub fn kind(&self) -> SpaceKind {
        if self.spec.cell.is_some() { SpaceKind::Cell } else { SpaceKind::Chain }
    }

    /// The stages of a chain space, resolved (empty for cell spaces).
    pub fn chain_stages(&self) -> &[ChainStage] {
        &self.chain
    }

    /// The edge operations' names, in order (cell spaces; empty for chain spaces).
    pub fn op_names(&self) -> Vec<&str> {
        self.ops.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The edge operation with index `i` (cell spaces).
    pub fn op(&self, i: usize) -> &OpSpec {
        &self.ops[i].1
    }

    /// Number of edges of the cell (0 for chain spaces).
    pub fn edges(&self) -> usize {
        let n = self.spec.cell.as_ref().map_or(0, |c| c.nodes);
        n * n.saturating_sub(1) / 2
    }

    /// Nodes of the cell, input and output included (0 for chain spaces).
    pub fn cell_nodes(&self) -> usize {
        self.spec.cell.as_ref().map_or(0, |c| c.nodes)
    }

    /// Number of architectures, if it fits in a u64: `ops ^ edges` for a cell space; for a chain
    /// space the product over stages of `widths × Σ_depth (block options)^depth`.
    pub fn size(&self) -> Option<u64> {
        match self.kind() {
            SpaceKind::Cell => (self.ops.len() as u64).checked_pow(self.edges() as u32),
            SpaceKind::Chain => {
                self.chain.iter().try_fold(1u64, |acc, st| acc.checked_mul(st.size()?))
            }
        }
    }

    /// Whether edge operation `i` is the zero operation (cell spaces).
    pub fn is_zero(&self, i: usize) -> bool {
        matches!(self.ops[i].1, OpSpec::Zero)
    }
}
