//! Search spaces described in YAML (`spec`), validated into a [`SearchSpace`], whose
//! architectures ([`Arch`]) have a canonical string form and lower to ONNX-ready graphs (`lower`).
//!
//! Four families: cell spaces (a DAG cell whose edges each choose an operation, repeated in
//! stages with reduction blocks between them: NAS-Bench-201), node-cell spaces (a searched
//! adjacency matrix with an operation per vertex: NAS-Bench-101), two-input cell spaces (normal
//! and reduction cells of nodes that each sum two operations on two earlier nodes: DARTS,
//! NAS-Bench-301) and macro chain spaces (stages of blocks whose operation, kernel size,
//! expansion, activation, squeeze-excitation, width and depth are choices: the MobileNetV2-like
//! ImageNet spaces).

mod arch;
mod blocks;
mod budget;
mod chain;
mod chain_arch;
pub mod describe;
mod genotype;
mod lower;
mod lower_cells;
mod node_cell;
mod pyrepr;
pub mod spec;

use std::path::Path;

pub use arch::{Arch, BlockArch, CellArch, ChainArch, StageArch, rng};
pub use budget::{Bounds, Budget, Cost};
pub use chain::ChainStage;
pub use genotype::{Genotype, Input};
pub use lower::{LowerOptions, Lowered};
pub use node_cell::NodeCellArch;
use spec::{OpSpec, ReductionSpec, SpaceSpec, StemSpec};

use crate::error::{Error, Result};
use crate::limits::Limits;

/// The families of spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpaceKind {
    /// A DAG cell whose edges choose operations, repeated in stages (`cell`, `stages`).
    Cell,
    /// A cell with a searched adjacency matrix and an operation per vertex, repeated in stages
    /// (`node_cell`, `stages`).
    NodeCell,
    /// Normal and reduction cells of two-input nodes (`two_input_cell`, `stages`).
    TwoInputCell,
    /// Stages of blocks with per-block and per-stage choices (`chain`).
    Chain,
}

impl SpaceKind {
    /// The name in reports: `cell`, `node_cell`, `two_input_cell` or `chain`.
    pub fn name(self) -> &'static str {
        match self {
            SpaceKind::Cell => "cell",
            SpaceKind::NodeCell => "node_cell",
            SpaceKind::TwoInputCell => "two_input_cell",
            SpaceKind::Chain => "chain",
        }
    }
}

/// A validated search space.
#[derive(Debug, Clone)]
pub struct SearchSpace {
    /// The specification as written.
    pub spec: SpaceSpec,
    /// Where it was read from (the file as given, or the name passed to
    /// [`SearchSpace::from_yaml`]).
    pub origin: String,
    /// The operations a cell chooses from, in the order of `cell.ops`, `node_cell.ops` or
    /// `two_input_cell.ops` (cell spaces of each kind).
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

/// Interior vertices of a node cell (0 for other spaces).
fn node_cell_interior(spec: &SpaceSpec) -> usize {
    spec.node_cell.as_ref().map_or(0, |c| c.nodes.saturating_sub(2))
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
        let mut kinds = Vec::new();
        if spec.cell.is_some() {
            kinds.push((SpaceKind::Cell, "cell"));
        }
        if spec.node_cell.is_some() {
            kinds.push((SpaceKind::NodeCell, "node_cell"));
        }
        if spec.two_input_cell.is_some() {
            kinds.push((SpaceKind::TwoInputCell, "two_input_cell"));
        }
        if !spec.chain.is_empty() {
            kinds.push((SpaceKind::Chain, "chain"));
        }
        let kind = match kinds[..] {
            [(kind, _)] => kind,
            [] => {
                return Err(bad(
                    "cell",
                    "missing: a space needs a `cell`, `node_cell` or `two_input_cell` with `stages`, or a `chain`"
                        .into(),
                    "name",
                ));
            }
            [(_, a), (_, b), ..] => {
                return Err(bad(
                    b,
                    format!(
                        "a space has one of `cell`, `node_cell`, `two_input_cell` or `chain`, but this one has `{a}` and `{b}`"
                    ),
                    b,
                ));
            }
        };
        if kind == SpaceKind::Chain {
            if !spec.stages.is_empty() {
                return Err(bad(
                    "stages",
                    "stages repeat a cell; a chain space lists its stages under `chain`".into(),
                    "stages",
                ));
            }
            let chain = chain::check_chain(&spec, channels, text, origin)?;
            return Ok(SearchSpace { spec, origin: origin.to_string(), ops: Vec::new(), chain });
        }
        let ops = Self::check_cell(&spec, origin, kind, &bad)?;
        Self::check_stages(&spec, kind, channels, res, &bad)?;
        Ok(SearchSpace { spec, origin: origin.to_string(), ops, chain: Vec::new() })
    }

    /// Checks the cell of a cell space of `kind` (its size and operations), returning the
    /// operations in order.
    fn check_cell(
        spec: &SpaceSpec,
        origin: &str,
        kind: SpaceKind,
        bad: &dyn Fn(&str, String, &str) -> Error,
    ) -> Result<Vec<(String, OpSpec)>> {
        let limits = Limits::current();
        let (key, nodes, names) = match kind {
            SpaceKind::NodeCell => {
                let c = spec.node_cell.as_ref().ok_or_else(|| Error::Spec("node_cell".into()))?;
                if c.nodes < 2 {
                    return Err(bad(
                        "node_cell.nodes",
                        format!(
                            "a cell needs at least 2 vertices (input and output), got {}",
                            c.nodes
                        ),
                        "nodes",
                    ));
                }
                if c.max_edges == 0 {
                    return Err(bad("node_cell.max_edges", "must be positive".into(), "max_edges"));
                }
                ("node_cell", c.nodes, &c.ops)
            }
            SpaceKind::TwoInputCell => {
                let c = spec
                    .two_input_cell
                    .as_ref()
                    .ok_or_else(|| Error::Spec("two_input_cell".into()))?;
                if c.nodes == 0 {
                    return Err(bad(
                        "two_input_cell.nodes",
                        "a cell needs at least one intermediate node".into(),
                        "nodes",
                    ));
                }
                ("two_input_cell", c.nodes + 3, &c.ops)
            }
            SpaceKind::Cell | SpaceKind::Chain => {
                let c = spec.cell.as_ref().ok_or_else(|| Error::Spec("cell".into()))?;
                if c.nodes < 2 {
                    return Err(bad(
                        "cell.nodes",
                        format!(
                            "a cell needs at least 2 nodes (input and output), got {}",
                            c.nodes
                        ),
                        "nodes",
                    ));
                }
                ("cell", c.nodes, &c.ops)
            }
        };
        if nodes > limits.cell_nodes {
            let what = if kind == SpaceKind::TwoInputCell {
                format!("{} nodes, {nodes} with the two inputs and the output", nodes - 3)
            } else {
                format!("{nodes} nodes ({} edges)", nodes.saturating_mul(nodes - 1) / 2)
            };
            return Err(crate::limits::over(
                format!("{origin}: {key}.nodes: {what}"),
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
        if names.is_empty() {
            return Err(bad(&format!("{key}.ops"), "lists no operations".into(), "ops"));
        }
        let mut ops = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let path = format!("{key}.ops[{i}]");
            match spec.ops.get(name) {
                Some(op) => {
                    if let Some(dims) = chain::choice_names(op) {
                        return Err(bad(
                            &path,
                            format!(
                                "op '{name}' has choices ({dims}); cells choose whole ops, so give single values"
                            ),
                            name,
                        ));
                    }
                    ops.push((name.clone(), op.clone()))
                }
                None => {
                    let known: Vec<&str> = spec.ops.keys().map(String::as_str).collect();
                    return Err(bad(
                        &path,
                        format!("unknown op '{name}' (defined in ops: {})", known.join(", ")),
                        name,
                    ));
                }
            }
            if names[..i].contains(name) {
                return Err(bad(&path, format!("op '{name}' is listed twice"), name));
            }
            let word = |c: char| c.is_ascii_alphanumeric() || "_-.".contains(c);
            if kind != SpaceKind::Cell && !name.chars().all(word) {
                return Err(bad(
                    &path,
                    format!(
                        "op '{name}' is used in architecture strings, whose op names are letters, digits, '_', '-' and '.'"
                    ),
                    name,
                ));
            }
            if kind == SpaceKind::NodeCell && (name == "input" || name == "output") {
                return Err(bad(
                    &path,
                    format!(
                        "'{name}' names the cell's {name} vertex in architecture strings; call the op otherwise"
                    ),
                    name,
                ));
            }
        }
        Ok(ops)
    }

    /// Checks the stages of a cell space of `kind` against the resolution and channel counts
    /// (a node cell's channels are split among the vertices that feed its output, so there must
    /// be at least one per interior vertex).
    fn check_stages(
        spec: &SpaceSpec,
        kind: SpaceKind,
        stem_channels: usize,
        mut res: usize,
        bad: &dyn Fn(&str, String, &str) -> Error,
    ) -> Result<()> {
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
            let interior = node_cell_interior(spec);
            if kind == SpaceKind::NodeCell && st.channels < interior {
                return Err(bad(
                    &format!("stages[{k}].channels"),
                    format!(
                        "{} channels, but a cell's output splits its channels among up to {interior} vertices: give at least {interior}",
                        st.channels
                    ),
                    &format!("channels: {}", st.channels),
                ));
            }
            if kind == SpaceKind::TwoInputCell && st.channels % 2 == 1 {
                return Err(bad(
                    &format!("stages[{k}].channels"),
                    format!(
                        "{} channels: DARTS's factorized reduce splits a cell's channels in two, so they must be even",
                        st.channels
                    ),
                    &format!("channels: {}", st.channels),
                ));
            }
            let fits = match (kind, st.reduction) {
                (_, None) => true,
                (SpaceKind::TwoInputCell, Some(r)) => r == ReductionSpec::Cell,
                (_, Some(r)) => r != ReductionSpec::Cell,
            };
            if !fits {
                let what = if kind == SpaceKind::TwoInputCell {
                    "a two-input cell space reduces with its reduction cell: `reduction: cell`"
                } else {
                    "`reduction: cell` is the searched reduction cell of a `two_input_cell` space"
                };
                return Err(bad(&format!("stages[{k}].reduction"), what.into(), "reduction"));
            }
            if st.reduction.is_some() {
                if !res.is_multiple_of(2) {
                    return Err(bad(
                        &format!("stages[{k}].reduction"),
                        format!("halves the resolution, but it is {res} here"),
                        "reduction",
                    ));
                }
                res /= 2;
            }
            let keeps = match st.reduction {
                Some(ReductionSpec::ResnetBasic) => false,
                Some(ReductionSpec::MaxPool) | None => true,
                Some(ReductionSpec::Cell) => false,
            };
            if kind == SpaceKind::Cell && keeps && st.channels != c {
                return Err(bad(
                    &format!("stages[{k}].channels"),
                    format!(
                        "{} channels, but the previous block outputs {c} and cells keep the channel count: add a resnet_basic reduction",
                        st.channels
                    ),
                    &format!("channels: {}", st.channels),
                ));
            }
            c = st.channels;
        }
        Ok(())
    }

    /// Which family the space belongs to.
    pub fn kind(&self) -> SpaceKind {
        let s = &self.spec;
        match (&s.cell, &s.node_cell, &s.two_input_cell) {
            (Some(_), _, _) => SpaceKind::Cell,
            (_, Some(_), _) => SpaceKind::NodeCell,
            (_, _, Some(_)) => SpaceKind::TwoInputCell,
            _ => SpaceKind::Chain,
        }
    }

    /// The stages of a chain space, resolved (empty for cell spaces).
    pub fn chain_stages(&self) -> &[ChainStage] {
        &self.chain
    }

    /// The operations' names a cell chooses from, in order (empty for chain spaces).
    pub fn op_names(&self) -> Vec<&str> {
        self.ops.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The cell operation with index `i` (cell spaces of every kind).
    pub fn op(&self, i: usize) -> &OpSpec {
        &self.ops[i].1
    }

    /// Number of searched edges of the cell: all node pairs of a `cell`, the most edges of a
    /// `node_cell`, two inputs per node of a `two_input_cell` (0 for chain spaces).
    pub fn edges(&self) -> usize {
        let s = &self.spec;
        match self.kind() {
            SpaceKind::Cell => {
                let n = self.cell_nodes();
                n * n.saturating_sub(1) / 2
            }
            SpaceKind::NodeCell => s.node_cell.as_ref().map_or(0, |c| c.max_edges),
            SpaceKind::TwoInputCell => s.two_input_cell.as_ref().map_or(0, |c| 2 * c.nodes),
            SpaceKind::Chain => 0,
        }
    }

    /// Nodes of the cell: of a `cell` or `node_cell`, input and output included (at most, for a
    /// `node_cell`); of a `two_input_cell`, the intermediate nodes (0 for chain spaces).
    pub fn cell_nodes(&self) -> usize {
        let s = &self.spec;
        s.cell
            .as_ref()
            .map(|c| c.nodes)
            .or(s.node_cell.as_ref().map(|c| c.nodes))
            .or(s.two_input_cell.as_ref().map(|c| c.nodes))
            .unwrap_or(0)
    }

    /// Number of architectures, if known and it fits in a u64: `ops ^ edges` for a cell space;
    /// the genotypes of a two-input cell space; for a chain space the product over stages of
    /// `widths × Σ_depth (block options)^depth`. `None` for node-cell spaces, whose valid cells
    /// are not counted.
    pub fn size(&self) -> Option<u64> {
        match self.kind() {
            SpaceKind::Cell => (self.ops.len() as u64).checked_pow(self.edges() as u32),
            SpaceKind::NodeCell => None,
            SpaceKind::TwoInputCell => genotype::size(self),
            SpaceKind::Chain => {
                self.chain.iter().try_fold(1u64, |acc, st| acc.checked_mul(st.size()?))
            }
        }
    }

    /// Whether cell operation `i` is the zero operation (cell spaces).
    pub fn is_zero(&self, i: usize) -> bool {
        matches!(self.ops[i].1, OpSpec::Zero)
    }
}
