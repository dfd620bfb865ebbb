//! The NAS-Bench-201 network (AutoDL `TinyNetwork`) for any cell, built directly in Rust.
//!
//! Layout: stem Conv3x3 + BN; three stages of `cells` cells at C, 2C, 4C channels with a ResNet
//! basic reduction block between stages; head BN-ReLU-GAP-Linear. A cell has nodes 0..3; node i
//! sums edge(i, j)(node j) over j < i; each edge is one of `none`, `skip_connect`,
//! `nor_conv_1x1`, `nor_conv_3x3` (ReLU-Conv-BN) or `avg_pool_3x3`.
//!
//! Benchmarks and tests use it; the network itself is the lowering of the shipped YAML space.

use crate::error::Result;
use crate::ir::Graph;
use crate::space::{Arch, SearchSpace};

/// The cell with every edge `nor_conv_3x3` (the densest, most expensive cell).
pub const DENSE: &str = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|";

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
    /// BatchNormalization with batch statistics (training mode) or running statistics.
    pub batch_norm: crate::autodiff::BnMode,
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
            batch_norm: crate::autodiff::BnMode::Train,
            seed: 0,
        }
    }
}

/// The NAS-Bench-201 search space shipped in `models/spaces/nb201.yaml`, embedded.
pub const SPACE_YAML: &str = include_str!("../../models/spaces/nb201.yaml");

/// The shipped NAS-Bench-201 space (embedded).
pub fn space() -> Result<SearchSpace> {
    SearchSpace::from_yaml(SPACE_YAML, "models/spaces/nb201.yaml")
}

/// Builds the network for `cell` (the official string form
/// `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`); the graph has input `x` and output `logits`. It is
/// the lowering of the embedded `models/spaces/nb201.yaml` with the widths and depths of `opts`.
pub fn build(cell: &str, opts: &Nb201Options) -> Result<Graph> {
    let mut space = space()?;
    space.spec.input.classes = opts.classes;
    if let crate::space::spec::StemSpec::ConvBn { channels, .. } = &mut space.spec.stem {
        *channels = opts.channels;
    }
    for (k, st) in space.spec.stages.iter_mut().enumerate() {
        st.channels = opts.channels << k;
        st.cells = opts.cells_per_stage;
    }
    let arch = Arch::parse(&space, cell)?;
    let lower = crate::space::LowerOptions {
        batch: opts.batch,
        resolution: Some(opts.resolution),
        batch_norm: opts.batch_norm,
        seed: Some(opts.seed),
    };
    space.lower(&arch, &lower)
}
