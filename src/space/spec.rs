//! The YAML grammar of search spaces, as serde types. The only module that parses YAML
//! (`serde_norway`, a maintained fork of the deprecated `serde_yaml`), so the parser can be
//! swapped in one place. Unknown keys are errors; errors name the YAML path, line and column.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A search space file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpaceSpec {
    /// Name of the space.
    pub name: String,
    /// Input and output sizes.
    pub input: InputSpec,
    /// Operations, defined once and referred to by name.
    pub ops: BTreeMap<String, OpSpec>,
    /// The searched cell (cell-based spaces).
    pub cell: CellSpec,
    /// The stem before the first stage.
    pub stem: StemSpec,
    /// Stages of repeated cells.
    pub stages: Vec<StageSpec>,
    /// The classifier head.
    pub head: HeadSpec,
}

/// Input tensor and classes.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Input channels (3 for RGB).
    pub channels: usize,
    /// Input resolution (square).
    pub resolution: usize,
    /// Output classes.
    pub classes: usize,
}

/// One operation of a cell edge.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OpSpec {
    /// Outputs zeros (the edge is absent).
    Zero,
    /// Passes its input through.
    Identity,
    /// ReLU, then a convolution without bias (same padding), then BatchNorm.
    ReluConvBn {
        /// Kernel size.
        kernel: usize,
        /// Dilation.
        #[serde(default = "one")]
        dilation: usize,
    },
    /// Average pooling, stride 1, same padding.
    AvgPool {
        /// Kernel size.
        kernel: usize,
        /// Whether padded positions count in the average.
        #[serde(default)]
        count_include_pad: bool,
    },
    /// Max pooling, stride 1, same padding.
    MaxPool {
        /// Kernel size.
        kernel: usize,
    },
}

fn one() -> usize {
    1
}

/// The cell: a DAG of `nodes` nodes; node 0 is the cell input, the last node its output, and
/// every node i > 0 sums one operation applied to each earlier node.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CellSpec {
    /// Number of nodes, input and output included (4 in NAS-Bench-201).
    pub nodes: usize,
    /// The operations each edge chooses from, by name.
    pub ops: Vec<String>,
}

/// The stem.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StemSpec {
    /// A convolution without bias, then BatchNorm.
    ConvBn {
        /// Kernel size.
        kernel: usize,
        /// Output channels.
        channels: usize,
    },
}

/// A stage: an optional reduction block, then repeated cells.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    /// Channels of the stage.
    pub channels: usize,
    /// Number of cells.
    pub cells: usize,
    /// A block halving the resolution before the cells.
    #[serde(default)]
    pub reduction: Option<ReductionSpec>,
}

/// Reduction blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReductionSpec {
    /// The ResNet basic block of NAS-Bench-201: ReLU-Conv3x3(stride 2)-BN, ReLU-Conv3x3-BN, with an
    /// AvgPool 2x2 + Conv1x1 shortcut.
    ResnetBasic,
}

/// Heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HeadSpec {
    /// BatchNorm, ReLU, global average pool, linear classifier.
    BnReluGapLinear,
    /// Global average pool, linear classifier.
    GapLinear,
}

/// The JSON Schema of the grammar (committed as `schemas/space.schema.json` for editors; YAML
/// language servers read it through a `# yaml-language-server: $schema=...` comment).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(SpaceSpec);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

/// Parses a space from YAML text; `origin` names the file in errors.
pub fn parse(text: &str, origin: &str) -> Result<SpaceSpec> {
    // Enum choices are written as one-key maps (`relu_conv_bn: {kernel: 3}`) or plain strings
    // (`zero`), not YAML tags.
    let de = serde_norway::Deserializer::from_str(text);
    serde_norway::with::singleton_map_recursive::deserialize(de)
        .map_err(|e| Error::Usage(format!("{origin}: {e}")))
}

/// Reads and parses a space file.
pub fn read(path: &Path) -> Result<SpaceSpec> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    parse(&text, &path.display().to_string())
}

/// The line and column (1-based) of the first occurrence of `token` in `text`, for errors about
/// a value the YAML parser accepted but the space does not.
pub fn locate(text: &str, token: &str) -> Option<(usize, usize)> {
    text.lines().enumerate().find_map(|(i, l)| {
        let code = l.split('#').next().unwrap_or("");
        code.find(token).map(|c| (i + 1, c + 1))
    })
}
