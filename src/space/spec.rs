//! The YAML grammar of search spaces, as serde types, read through [`crate::yaml`] (the one YAML
//! parser). Unknown keys are errors; errors name the YAML path, line and column.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// A search space file: a cell space (`cell` and `stages`) or a macro chain space (`chain`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpaceSpec {
    /// Name of the space.
    pub name: String,
    /// Input and output sizes.
    pub input: InputSpec,
    /// What "FLOPs" means in budgets and reports of this space.
    #[serde(default)]
    pub flops: FlopsSpec,
    /// Operations, defined once and referred to by name.
    pub ops: BTreeMap<String, OpSpec>,
    /// The searched cell (cell spaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell: Option<CellSpec>,
    /// A cell whose vertices choose operations and whose edges are searched (NAS-Bench-101).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_cell: Option<NodeCellSpec>,
    /// Normal and reduction cells whose nodes each sum two operations on two earlier nodes
    /// (DARTS, NAS-Bench-301).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub two_input_cell: Option<TwoInputCellSpec>,
    /// The stem before the first stage.
    pub stem: StemSpec,
    /// Stages of repeated cells (cell spaces).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<StageSpec>,
    /// Stages of blocks whose operation, kernel size, expansion, activation, width and depth are
    /// choices (macro chain spaces, MobileNetV2-like).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<ChainStageSpec>,
    /// The classifier head.
    pub head: HeadSpec,
}

/// What "FLOPs" counts in budgets and reports.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FlopsSpec {
    /// The counter behind NAS-Bench-201's `flops` column (multiply-adds plus elementwise work).
    #[default]
    Tensorwatch,
    /// Multiply-accumulates of convolutions and linear layers only: the "FLOPs" of ImageNet NAS
    /// papers (about 300M for MobileNetV2).
    Macs,
}

/// One value, or a list of values to choose from (a search dimension).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Choice<T> {
    /// A fixed value.
    One(T),
    /// The options, in the order of the architecture string's enumeration.
    Any(#[schemars(length(min = 1))] Vec<T>),
}

impl<T> Choice<T> {
    /// The options (one for a fixed value).
    pub fn options(&self) -> &[T] {
        match self {
            Choice::One(v) => std::slice::from_ref(v),
            Choice::Any(v) => v,
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Choice<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::{Error as _, IntoDeserializer, SeqAccess, Visitor};
        struct V<T>(std::marker::PhantomData<T>);
        fn one<'de, T: Deserialize<'de>, E: serde::de::Error>(
            d: impl serde::Deserializer<'de, Error = E>,
        ) -> std::result::Result<Choice<T>, E> {
            T::deserialize(d).map(Choice::One)
        }
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Choice<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a value or a non-empty list of values to choose from")
            }
            fn visit_bool<E: serde::de::Error>(
                self,
                v: bool,
            ) -> std::result::Result<Self::Value, E> {
                one(v.into_deserializer())
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
                one(v.into_deserializer())
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
                one(v.into_deserializer())
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Self::Value, E> {
                one(v.into_deserializer())
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<Self::Value, E> {
                one(v.into_deserializer())
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                if out.is_empty() {
                    return Err(A::Error::custom("an empty list offers no choice"));
                }
                Ok(Choice::Any(out))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Activation functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Act {
    /// ReLU.
    Relu,
    /// ReLU6 (`Clip(x, 0, 6)`).
    Relu6,
    /// Hard swish (ONNX `HardSwish`).
    Hswish,
    /// Swish / SiLU (`x · Sigmoid(x)`).
    Swish,
    /// No activation: a `conv_bn_act` with `act: none` is a convolution and BatchNorm.
    None,
}

impl Act {
    /// The name in YAML and architecture strings.
    pub fn name(self) -> &'static str {
        match self {
            Act::Relu => "relu",
            Act::Relu6 => "relu6",
            Act::Hswish => "hswish",
            Act::Swish => "swish",
            Act::None => "none",
        }
    }
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

/// An operation: of a cell edge (which keeps the channel count and resolution), or of a chain
/// block (which takes the block's stride and output channels). List-valued fields are choices
/// made per block in chain spaces; cell edges need single values.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OpSpec {
    /// Outputs zeros (the edge is absent); with stride 2 in a DARTS reduction cell, zeros at half
    /// the resolution.
    Zero,
    /// Passes its input through; with stride 2 in a DARTS reduction cell, DARTS's factorized
    /// reduce (ReLU, two 1x1 convolutions with stride 2 on the input and on it shifted by one
    /// pixel, each to half the channels, concatenated, BatchNorm).
    Identity,
    /// The skip choice of ProxylessNAS- and FBNet-style macro spaces: the identity where the
    /// block keeps stride 1 and the channel count, else a 1x1 convolution (carrying the stride)
    /// and BatchNorm that project to the block's output.
    Skip,
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
    /// DARTS's separable convolution, applied twice: ReLU, depthwise k×k convolution (carrying
    /// the stride), 1x1 convolution, BatchNorm; then again at stride 1 to the output channels.
    SepConv {
        /// Kernel size.
        kernel: usize,
    },
    /// DARTS's dilated convolution: ReLU, dilated depthwise k×k convolution (carrying the
    /// stride), 1x1 convolution to the output channels, BatchNorm.
    DilConv {
        /// Kernel size.
        kernel: usize,
        /// Dilation.
        #[serde(default = "two")]
        dilation: usize,
    },
    /// A convolution without bias (same padding), BatchNorm, activation.
    ConvBnAct {
        /// Kernel size(s).
        kernel: Choice<usize>,
        /// Activation(s).
        act: Choice<Act>,
    },
    /// A depthwise convolution without bias (same padding), BatchNorm, activation; it keeps the
    /// channel count.
    DwConvBnAct {
        /// Kernel size(s).
        kernel: Choice<usize>,
        /// Activation(s).
        act: Choice<Act>,
    },
    /// MobileNetV2's inverted residual: 1x1 expansion conv-BN-act (absent when the expansion is
    /// 1), k×k depthwise conv-BN-act carrying the stride, optional squeeze-excitation
    /// (MobileNetV3's: squeeze to the expanded channels / 4 rounded to a multiple of 8, ReLU,
    /// HardSigmoid), 1x1 projection conv-BN; a residual Add when stride is 1 and channels stay.
    InvertedResidual {
        /// Depthwise kernel size(s).
        kernel: Choice<usize>,
        /// Expansion ratio(s): the hidden width is round(input channels × expansion); may be
        /// fractional (MobileNetV3's 2.5 and 2.3).
        expansion: Choice<f64>,
        /// Activation(s) after the expansion and depthwise convolutions.
        act: Choice<Act>,
        /// Squeeze-excitation after the depthwise convolution (`[false, true]`: a choice).
        #[serde(default = "no")]
        se: Choice<bool>,
    },
}

fn no() -> Choice<bool> {
    Choice::One(false)
}

fn one() -> usize {
    1
}

fn two() -> usize {
    2
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

/// A NAS-Bench-101 cell: a DAG of at most `nodes` vertices given by an upper-triangular
/// adjacency matrix; vertex 0 is the input, the last the output, and every vertex between them
/// applies one operation to the sum of its inputs. Vertices on no input-to-output path are
/// pruned; the input reaches each vertex it feeds through a 1x1 projection; the output
/// concatenates the vertices that feed it (the cell's channels split among them) and adds the
/// projected input when the input feeds it too.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeCellSpec {
    /// Most vertices, input and output included (7 in NAS-Bench-101).
    pub nodes: usize,
    /// Most edges (9 in NAS-Bench-101).
    pub max_edges: usize,
    /// The operations each interior vertex chooses from, by name; their order is the label order
    /// of NAS-Bench-101's module hash.
    pub ops: Vec<String>,
}

/// A DARTS cell: two inputs (the outputs of the two previous cells, preprocessed to the cell's
/// channels), then `nodes` intermediate nodes that each sum one operation on each of two earlier
/// nodes; the output concatenates the intermediate nodes. A reduction cell applies its
/// operations on the two inputs with stride 2.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TwoInputCellSpec {
    /// Intermediate nodes (4 in DARTS).
    pub nodes: usize,
    /// The operations each of a node's two inputs chooses from, by name.
    pub ops: Vec<String>,
}

/// The stem.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StemSpec {
    /// A convolution without bias (stride 1), then BatchNorm.
    ConvBn {
        /// Kernel size.
        kernel: usize,
        /// Output channels.
        channels: usize,
    },
    /// A convolution without bias, BatchNorm, activation (MobileNets: 3x3, stride 2).
    ConvBnAct {
        /// Kernel size.
        kernel: usize,
        /// Stride.
        #[serde(default = "one")]
        stride: usize,
        /// Output channels.
        channels: usize,
        /// Activation.
        act: Act,
    },
}

/// A stage: an optional reduction block, then repeated cells. Cells of `cell` spaces keep the
/// channel count (a reduction changes it); `node_cell` and `two_input_cell` cells project their
/// inputs to the stage's channels.
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

/// A stage of a chain space: `depth` blocks that each choose one of `ops` (and that op's
/// list-valued fields); the first block takes the stride and the change of channels.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChainStageSpec {
    /// The operations each block chooses from, by name.
    pub ops: Vec<String>,
    /// Output channels of the stage (a list: a width choice).
    pub channels: Choice<usize>,
    /// Number of blocks (a list: a depth choice).
    pub depth: Choice<usize>,
    /// Stride of the first block.
    #[serde(default = "one")]
    pub stride: usize,
}

/// Reduction blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReductionSpec {
    /// The ResNet basic block of NAS-Bench-201: ReLU-Conv3x3(stride 2)-BN, ReLU-Conv3x3-BN, with an
    /// AvgPool 2x2 + Conv1x1 shortcut.
    ResnetBasic,
    /// Max pooling 2x2 with stride 2 (NAS-Bench-101 between stacks); the stage's first cell then
    /// changes the channel count.
    MaxPool,
    /// The searched reduction cell of a two-input cell space (DARTS): its operations on the two
    /// cell inputs have stride 2.
    Cell,
}

/// Heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HeadSpec {
    /// BatchNorm, ReLU, global average pool, linear classifier.
    BnReluGapLinear,
    /// Global average pool, linear classifier.
    GapLinear,
    /// 1x1 convolution-BN-activation to `channels`, global average pool, an optional hidden
    /// linear layer with the same activation (MobileNetV3), linear classifier (MobileNetV2:
    /// 1280 channels, ReLU6, no hidden layer).
    ConvBnActGapLinear {
        /// Channels of the 1x1 convolution.
        channels: usize,
        /// Activation.
        act: Act,
        /// Width of a hidden linear layer before the classifier.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hidden: Option<usize>,
    },
}

/// The JSON Schema of the grammar (committed as `schemas/space.schema.json` for editors; YAML
/// language servers read it through a `# yaml-language-server: $schema=...` comment).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(SpaceSpec);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

/// Parses a space from YAML text; `origin` names the file in errors.
pub fn parse(text: &str, origin: &str) -> Result<SpaceSpec> {
    crate::yaml::parse(text, origin)
}

/// Reads and parses a space file.
pub fn read(path: &Path) -> Result<SpaceSpec> {
    let text = crate::limits::read_text(path)?;
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

/// The line and column (1-based) of `token` inside item `index` of the top-level block list
/// `key` (e.g. `chain[3]`), else of the item's dash; `None` when the list is not found.
pub fn locate_item(text: &str, key: &str, index: usize, token: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().map(|l| l.split('#').next().unwrap_or("")).collect();
    let start = lines
        .iter()
        .position(|l| l.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with(':')))?;
    let mut items = Vec::new();
    let mut indent = None;
    let mut end = lines.len();
    for (i, l) in lines.iter().enumerate().skip(start + 1) {
        let trimmed = l.trim_start();
        if trimmed.is_empty() {
            continue;
        }
        if l.len() == trimmed.len() && !trimmed.starts_with('-') {
            end = i;
            break;
        }
        let depth = l.len() - trimmed.len();
        if (trimmed.starts_with("- ") || trimmed == "-") && *indent.get_or_insert(depth) == depth {
            items.push(i);
        }
    }
    let first = *items.get(index)?;
    let last = items.get(index + 1).copied().unwrap_or(end);
    for (i, l) in lines.iter().enumerate().take(last).skip(first) {
        if let Some(c) = l.find(token) {
            return Some((i + 1, c + 1));
        }
    }
    let l = lines[first];
    Some((first + 1, l.len() - l.trim_start().len() + 1))
}
