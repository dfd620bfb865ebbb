//! Reverse-mode differentiation of IR graphs into training graphs (standard ONNX ops only).
//!
//! [`build_training_graph`] copies the forward graph (constants folded, Dropout as identity),
//! appends a loss head ([`Loss`]), and walks the nodes in reverse topological order applying one
//! gradient rule per op family (`rules/`), summing fan-out and reducing broadcast gradients;
//! sibling convolutions (same input, same geometry) are differentiated together (`siblings`). Each
//! phase is a submodule of `training`. It never touches protobuf or ONNX Runtime: the result is an
//! IR [`crate::ir::Graph`] to export and run.
//!
//! BatchNormalization with batch statistics (every one under [`BnMode::Train`], those with
//! `training_mode=1` under [`BnMode::AsIs`]) is computed by our own ops, as PyTorch does in
//! training mode: per channel over its M elements, the mean `Σx/M`, the centred input
//! `d = x − mean` and the biased variance `Σd²/M`, both sums accumulated in float64, then an
//! inference-mode BatchNormalization of `d` with mean 0 and that variance; `d` and `1/√(var + ε)`
//! are kept for the backward. The model's running statistics and momentum play no part. ONNX
//! Runtime's `training_mode=1` kernel is not used: it writes the running statistics back into
//! its input buffers, and ONNX Runtime 1.31 gives wrong outputs with it unless momentum is 1.
//!
//! [`gradient_support`] is the single source of truth for which ops can be differentiated; the
//! `inspect` and `ops` commands and the README's op table read it.

mod compat;
mod emit;
mod exact_sum;
mod loss;
mod rules;
mod siblings;
mod training;

pub use loss::Loss;
pub use training::{
    BnMode, GradOutputs, ParamGrad, ParamSet, StatOutputs, TrainingGraph, TrainingOptions,
    build_training_graph,
};

use crate::ir::OpType;

/// Whether and how an op takes part in differentiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GradSupport {
    /// A gradient rule exists.
    Rule,
    /// The op has no gradient by nature (shape computation, comparisons, integer paths):
    /// gradients stop here without error.
    NoGradient,
    /// Not differentiable by intrain yet: differentiating through it is an error naming the node.
    Unsupported,
}

/// What an op's gradient rule covers: the attributes, ranks and inputs it differentiates (the
/// rest is refused with an error naming the node), and its convention at kinks and ties. Empty
/// for ops without a rule. The README's op table prints it.
pub fn gradient_limits(op: OpType) -> &'static str {
    use OpType::*;
    match op {
        Abs => "any shape; 0 at 0",
        Add | Sub | Mul | Div => "numpy broadcasting",
        Sum | Mean => "any number of inputs, numpy broadcasting",
        Neg | Reciprocal | Sqrt | Exp | Log | Sigmoid | Tanh | Erf | Softplus | Elu => "any shape",
        Relu => "any shape; 0 at 0",
        LeakyRelu => "any shape; alpha at 0",
        HardSigmoid => "any alpha, beta; 0 at the bounds",
        HardSwish => "any shape",
        Gelu => "approximate none and tanh",
        Clip => {
            "bounds as inputs (opset 11+) or min/max attributes, constant or computed; gradient only strictly inside the bounds"
        }
        Pow => {
            "the base's gradient for any exponent (scalar, tensor, integer, broadcast); the exponent's gradient is refused"
        }
        Where => "X and Y, broadcast; the condition has none",
        Identity => "any",
        Dropout => {
            "as identity (dropout off); ratio attribute (opset up to 11) or input; refused when training_mode is a constant true with a non-zero ratio"
        }
        Cast | CastLike => "between float types; casts to integer types stop the gradient",
        Softmax | LogSoftmax => {
            "any axis: one axis from opset 13, before it the axes from `axis` on (the 2-D coercion)"
        }
        Conv => {
            "2-D input (N, C, H, W) only; strides, pads, auto_pad, dilations, groups (depthwise included); input, weight and bias"
        }
        Gemm => "transA, transB, alpha, beta; C broadcast",
        ConvTranspose => {
            "2-D; strides, pads, dilations, groups, output_padding (not output_shape or auto_pad); input, weight and bias"
        }
        MatMul => "any ranks, 1-D operands included; batch dimensions broadcast",
        Einsum => {
            "two operands without ellipsis, no subscript repeated within an operand or summed within one operand only (batched products such as attention's)"
        }
        Max | Min => {
            "any number of inputs, numpy broadcasting; tied inputs share the gradient evenly (PyTorch's maximum/minimum); opset 11 or later"
        }
        ReduceMax | ReduceMin => {
            "any axes (attribute or input as the opset has it), keepdims; tied extrema share the gradient evenly (PyTorch's amax/amin); opset 11 or later"
        }
        GlobalMaxPool => "any rank; tied maxima share the gradient evenly; opset 11 or later",
        Tile => "constant repeats",
        InstanceNormalization => "any rank with spatial axes; input, scale and B",
        ScatterND => {
            "reduction none (scattered positions get 0; constant indices must not repeat a position for the updates' gradient) or add; data and updates"
        }
        GatherND => "constant indices, any batch_dims; the data's gradient (indices have none)",
        ReduceL2 => {
            "any axes (attribute or input as the opset has it), keepdims; 0 where the norm is 0"
        }
        BatchNormalization => {
            "spatial=1; running statistics (training_mode=0, BN mode `eval`) or batch statistics (BN mode `train`, any momentum and epsilon) at any opset; X, scale and B"
        }
        LayerNormalization => "any axis; X, scale and B through Y (Mean and InvStdDev have none)",
        AveragePool => {
            "1-D, 2-D and 3-D; kernel, strides, pads, auto_pad, dilations, ceil_mode, count_include_pad"
        }
        MaxPool => {
            "1-D, 2-D and 3-D; kernel, strides, pads, auto_pad, dilations, ceil_mode, storage_order; through Y (Indices has none); tied maxima: the first in window order gets the gradient, as in PyTorch"
        }
        GlobalAveragePool => "any spatial rank",
        ReduceMean | ReduceSum => {
            "any axes (attribute or input as the opset has it), keepdims, noop_with_empty_axes"
        }
        Reshape | Flatten | Squeeze | Unsqueeze => {
            "any (axes attribute or input as the opset has it)"
        }
        Transpose => "any perm",
        Concat => "any axis",
        Split => "any sizes: split attribute (up to opset 12) or input, num_outputs (18+)",
        Slice => {
            "constant starts, ends, axes, steps (attributes before opset 10); any steps, negative included"
        }
        Pad => "constant mode, non-negative pads (attribute before opset 11), axes input (18+)",
        Expand => "any broadcast",
        Gather => "constant indices of any rank, any axis; the data's gradient (indices have none)",
        _ => "",
    }
}

/// The differentiation status of an op.
pub fn gradient_support(op: OpType) -> GradSupport {
    use OpType::*;
    if rules::rule(op).is_some() {
        return GradSupport::Rule;
    }
    match op {
        Shape | Size | Constant | ConstantOfShape | Range | Equal | Greater | GreaterOrEqual
        | Less | LessOrEqual | And | Or | Not | Sign | Floor | Ceil | Mod => {
            GradSupport::NoGradient
        }
        _ => GradSupport::Unsupported,
    }
}

/// The README's table of supported ops, generated from the code: the opset each op is read from,
/// whether it has a gradient rule, and what the rule covers.
pub fn op_table_markdown() -> String {
    let mut out = String::from(
        "| op | since opset | gradient | what the gradient covers |\n|---|---|---|---|\n",
    );
    let mut ops: Vec<OpType> = OpType::ALL.to_vec();
    ops.sort_by_key(|o| o.name());
    for op in ops {
        let g = match gradient_support(op) {
            GradSupport::Rule => "yes",
            GradSupport::NoGradient => "none by nature",
            GradSupport::Unsupported => "not yet",
        };
        let since = op.since_opset().max(crate::ir::MIN_OPSET);
        let limits = gradient_limits(op);
        out.push_str(&format!("| {} | {since} | {g} | {limits} |\n", op.name()));
    }
    out
}
