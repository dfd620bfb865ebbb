//! Reverse-mode differentiation of IR graphs into training graphs (standard ONNX ops only).
//!
//! [`build_training_graph`] copies the forward graph (constants folded, BatchNormalization in
//! batch-statistics mode through ONNX Runtime's `training_mode=1` kernel, Dropout as identity), appends a loss head
//! ([`Loss`]), and walks the nodes in reverse topological order applying one gradient rule per
//! op family (`rules/`), summing fan-out and reducing broadcast gradients; sibling convolutions
//! (same input, same geometry) are differentiated together (`siblings`). It never touches
//! protobuf or ONNX Runtime: the result is an IR [`crate::ir::Graph`] to export and run.
//!
//! [`gradient_support`] is the single source of truth for which ops can be differentiated; the
//! `inspect` and `ops` commands and the README's op table read it.

mod compat;
mod emit;
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
