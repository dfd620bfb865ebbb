//! Reverse-mode differentiation of IR graphs into training graphs (standard ONNX ops only).
//!
//! [`gradient_support`] is the single source of truth for which ops can be differentiated; the
//! `inspect` command and the README's op table read it.

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

/// The differentiation status of an op.
pub fn gradient_support(op: OpType) -> GradSupport {
    use OpType::*;
    match op {
        Shape | Size | Constant | ConstantOfShape | Range | Equal | Greater | GreaterOrEqual
        | Less | LessOrEqual | And | Or | Not | Sign | Floor | Ceil | Mod => {
            GradSupport::NoGradient
        }
        _ => GradSupport::Unsupported,
    }
}
