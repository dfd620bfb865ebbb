//! The NAS-Bench-201 network (AutoDL `TinyNetwork`) for any cell, built directly in Rust.
//!
//! Layout: stem Conv3x3 + BN; three stages of `cells` cells at C, 2C, 4C channels with a ResNet
//! basic reduction block between stages; head BN-ReLU-GAP-Linear. A cell has nodes 0..3; node i
//! sums edge(i, j)(node j) over j < i; each edge is one of `none`, `skip_connect`,
//! `nor_conv_1x1`, `nor_conv_3x3` (ReLU-Conv-BN) or `avg_pool_3x3`.
//!
//! Benchmarks and tests use it; the network itself is the lowering of the shipped YAML space.

use crate::error::{Error, Result};
use crate::ir::Graph;

/// One edge operation of a NAS-Bench-201 cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeOp {
    /// Zero.
    None,
    /// Identity.
    Skip,
    /// ReLU-Conv1x1-BN.
    Conv1x1,
    /// ReLU-Conv3x3-BN.
    Conv3x3,
    /// AvgPool 3x3, stride 1, pad 1, padding not counted.
    AvgPool3x3,
}

impl EdgeOp {
    /// The official op name.
    pub fn name(self) -> &'static str {
        match self {
            EdgeOp::None => "none",
            EdgeOp::Skip => "skip_connect",
            EdgeOp::Conv1x1 => "nor_conv_1x1",
            EdgeOp::Conv3x3 => "nor_conv_3x3",
            EdgeOp::AvgPool3x3 => "avg_pool_3x3",
        }
    }

    /// Parses the official op name.
    pub fn parse(s: &str) -> Option<EdgeOp> {
        Some(match s {
            "none" => EdgeOp::None,
            "skip_connect" => EdgeOp::Skip,
            "nor_conv_1x1" => EdgeOp::Conv1x1,
            "nor_conv_3x3" => EdgeOp::Conv3x3,
            "avg_pool_3x3" => EdgeOp::AvgPool3x3,
            _ => return None,
        })
    }
}

/// A cell: `edges[i-1][j]` is the op from node j to node i (i = 1..3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// Edge ops by target node then source node.
    pub edges: [Vec<EdgeOp>; 3],
}

impl Cell {
    /// Parses the official string `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`.
    pub fn parse(s: &str) -> Result<Cell> {
        let bad = |why: String| Error::Usage(format!("arch string '{s}': {why}"));
        let groups: Vec<&str> = s.split('+').collect();
        if groups.len() != 3 {
            return Err(bad(format!("expected 3 groups separated by '+', found {}", groups.len())));
        }
        let mut edges: [Vec<EdgeOp>; 3] = Default::default();
        for (i, g) in groups.iter().enumerate() {
            let inner = g
                .strip_prefix('|')
                .and_then(|g| g.strip_suffix('|'))
                .ok_or_else(|| bad(format!("group '{g}' must be wrapped in '|'")))?;
            for (j, tok) in inner.split('|').enumerate() {
                let (op, src) =
                    tok.split_once('~').ok_or_else(|| bad(format!("token '{tok}' is not op~j")))?;
                if src != j.to_string() {
                    return Err(bad(format!("token '{tok}': expected source {j}")));
                }
                edges[i].push(EdgeOp::parse(op).ok_or_else(|| bad(format!("unknown op '{op}'")))?);
            }
            if edges[i].len() != i + 1 {
                return Err(bad(format!(
                    "node {} needs {} edges, found {}",
                    i + 1,
                    i + 1,
                    edges[i].len()
                )));
            }
        }
        Ok(Cell { edges })
    }

    /// The cell with every edge `nor_conv_3x3` (the densest, most expensive cell).
    pub fn dense() -> Cell {
        Cell { edges: [vec![EdgeOp::Conv3x3], vec![EdgeOp::Conv3x3; 2], vec![EdgeOp::Conv3x3; 3]] }
    }
}

impl std::fmt::Display for Cell {
    /// The official string form `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, node) in self.edges.iter().enumerate() {
            if i > 0 {
                f.write_str("+")?;
            }
            f.write_str("|")?;
            for (j, op) in node.iter().enumerate() {
                write!(f, "{}~{j}|", op.name())?;
            }
        }
        Ok(())
    }
}

/// Settings of the network.
#[derive(Debug, Clone)]
pub struct Nb201Options {
    /// Channels of the first stage (16 in the benchmark).
    pub channels: usize,
    /// Cells per stage (5 in the benchmark).
    pub cells_per_stage: usize,
    /// Output classes (10 for CIFAR-10).
    pub classes: usize,
    /// Batch size.
    pub batch: usize,
    /// Input resolution (square).
    pub resolution: usize,
    /// BatchNormalization with batch statistics (training mode) instead of running statistics.
    pub bn_training: bool,
    /// Seed of the Kaiming-normal weights.
    pub seed: u64,
}

impl Default for Nb201Options {
    fn default() -> Self {
        Nb201Options {
            channels: 16,
            cells_per_stage: 5,
            classes: 10,
            batch: 64,
            resolution: 32,
            bn_training: true,
            seed: 0,
        }
    }
}

/// The NAS-Bench-201 search space shipped in `models/spaces/nb201.yaml`, embedded.
pub const SPACE_YAML: &str = include_str!("../../models/spaces/nb201.yaml");

/// Builds the network for `cell`; the graph has input `x` and output `logits`. It is the
/// lowering of the embedded `models/spaces/nb201.yaml` with the widths and depths of `opts`.
pub fn build(cell: &Cell, opts: &Nb201Options) -> Result<Graph> {
    let mut space = crate::space::SearchSpace::from_yaml(SPACE_YAML, "models/spaces/nb201.yaml")?;
    space.spec.input.classes = opts.classes;
    if let crate::space::spec::StemSpec::ConvBn { channels, .. } = &mut space.spec.stem {
        *channels = opts.channels;
    }
    for (k, st) in space.spec.stages.iter_mut().enumerate() {
        st.channels = opts.channels << k;
        st.cells = opts.cells_per_stage;
    }
    let arch = crate::space::Arch::parse(&space, &cell.to_string())?;
    let lower = crate::space::LowerOptions {
        batch: opts.batch,
        resolution: Some(opts.resolution),
        bn_training: opts.bn_training,
        seed: Some(opts.seed),
    };
    space.lower(&arch, &lower)
}
