//! Gradient rules, one file per op family. A rule reads the forward node's inputs and outputs
//! (already in the training graph) and its outputs' gradients, and emits the gradients of the
//! inputs that need one (vector-Jacobian products), reduced to each input's shape.

// Rules index several parallel per-input arrays (inputs, needs, outputs) by slot.
#![allow(clippy::needless_range_loop)]

mod activation;
mod arith;
mod conv;
mod einsum;
mod extrema;
mod linalg;
mod norm;
mod pool;
mod pool_nd;
mod shape;

pub use conv::{ConvUse, conv_group};

use std::collections::BTreeMap;

use super::emit::Emitter;
use crate::error::{Error, Result};
use crate::ir::{Attr, Node, NodeAttrs, OpType, ValueId};

/// What the forward BatchNormalization (training mode) saved for its backward.
#[derive(Debug, Clone, Copy)]
pub struct BnSaved {
    /// `x − mean` with the batch mean, the shape of x.
    pub centered: ValueId,
    /// `1 / sqrt(var + eps)` of the batch variance, shape `(1, C, 1, ...)`.
    pub inv: ValueId,
}

/// Everything a rule sees.
pub struct RuleCtx<'a> {
    /// The emitter of the training graph.
    pub e: &'a mut Emitter,
    /// The forward node (of the source graph).
    pub node: &'a Node,
    /// Training-graph values of the node's inputs (`None` for omitted optional inputs).
    pub inputs: Vec<Option<ValueId>>,
    /// Training-graph values of the node's outputs.
    pub outputs: Vec<ValueId>,
    /// Gradients of the outputs (`None` where nothing flows back).
    pub gy: Vec<Option<ValueId>>,
    /// Which inputs need a gradient.
    pub needs: Vec<bool>,
    /// Saved values of a training-mode BatchNormalization.
    pub bn: Option<BnSaved>,
}

impl RuleCtx<'_> {
    /// Input `i` (must be given).
    pub fn x(&self, i: usize) -> Result<ValueId> {
        self.inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| self.err(format!("input {i} is missing")))
    }

    /// Output `i`.
    pub fn y(&self, i: usize) -> ValueId {
        self.outputs[i]
    }

    /// Gradient of output 0 (rules are only called when some output has one).
    pub fn g(&self) -> Result<ValueId> {
        self.gy.first().copied().flatten().ok_or_else(|| self.err("no gradient for output 0"))
    }

    /// Whether input `i` needs a gradient.
    pub fn need(&self, i: usize) -> bool {
        self.needs.get(i).copied().unwrap_or(false)
    }

    /// Shape of a training-graph value.
    pub fn shape(&self, v: ValueId) -> Vec<usize> {
        self.e.shape(v)
    }

    /// A statically known input as integers.
    pub fn const_ints(&self, i: usize) -> Option<Vec<i64>> {
        let v = self.inputs.get(i).copied().flatten()?;
        self.e.graph().value(v).data.as_ref().map(|t| t.to_i64())
    }

    /// An error about this node.
    pub fn err(&self, reason: impl Into<String>) -> Error {
        Error::node(
            &self.node.name,
            self.node.op,
            format!("cannot differentiate: {}", reason.into()),
        )
    }

    /// The axes a Reduce* node names (the `axes` input or attribute, as its opset has it),
    /// normalised; empty when it names none.
    pub fn reduce_axes(&self, rank: usize) -> Result<Vec<usize>> {
        let given = match self.const_ints(1) {
            Some(a) => a,
            None => self.attr_ints("axes")?.map(<[i64]>::to_vec).unwrap_or_default(),
        };
        Ok(given.iter().map(|&a| self.axis(a, rank)).collect())
    }

    /// Normalises an axis.
    pub fn axis(&self, a: i64, rank: usize) -> usize {
        if a < 0 { (a + rank as i64) as usize } else { a as usize }
    }
}

/// Rules read the forward node's attributes through [`NodeAttrs`], as shape inference does.
impl NodeAttrs for RuleCtx<'_> {
    fn node_name(&self) -> &str {
        &self.node.name
    }

    fn node_op(&self) -> OpType {
        self.node.op
    }

    fn attr_map(&self) -> &BTreeMap<String, Attr> {
        &self.node.attrs
    }
}

/// `shape` with the `axes` set to 1 (a reduction's output with keepdims).
pub fn kept_shape(shape: &[usize], axes: &[usize]) -> Vec<usize> {
    shape.iter().enumerate().map(|(i, &d)| if axes.contains(&i) { 1 } else { d }).collect()
}

/// A gradient rule: returns one gradient per input (`None` where not needed or not defined).
pub type Rule = fn(&mut RuleCtx) -> Result<Vec<Option<ValueId>>>;

/// The rule of an op, if it has one.
pub fn rule(op: OpType) -> Option<Rule> {
    use OpType::*;
    Some(match op {
        Identity | Dropout => shape::identity,
        Cast | CastLike => shape::cast,
        Add | Sub | Mul | Div | Sum | Mean => arith::arith,
        Neg | Reciprocal | Sqrt | Exp | Log | Pow | Abs => arith::unary,
        Where => arith::where_,
        Relu | LeakyRelu | Clip | Sigmoid | Tanh | HardSigmoid | HardSwish | Erf | Gelu | Elu
        | Softplus => activation::activation,
        Softmax | LogSoftmax => activation::softmax,
        Conv => conv::conv,
        ConvTranspose => conv::conv_transpose,
        Gemm => linalg::gemm,
        MatMul => linalg::matmul,
        Einsum => einsum::einsum,
        BatchNormalization => norm::batch_norm,
        LayerNormalization => norm::layer_norm,
        ReduceL2 => norm::reduce_l2,
        Max | Min => extrema::elementwise,
        ReduceMax | ReduceMin | GlobalMaxPool => extrema::reduce,
        Tile => shape::tile,
        InstanceNormalization => norm::instance_norm,
        AveragePool => pool_nd::average_pool,
        MaxPool => pool_nd::max_pool,
        GlobalAveragePool => pool::global_average_pool,
        ReduceMean | ReduceSum => shape::reduce,
        Reshape | Flatten | Squeeze | Unsqueeze => shape::reshape_like,
        Transpose => shape::transpose,
        Concat => shape::concat,
        Split => shape::split,
        Slice => shape::slice,
        Pad => shape::pad,
        Expand => shape::expand,
        Gather => shape::gather,
        GatherND => shape::gather_nd,
        ScatterND => shape::scatter_nd,
        _ => return None,
    })
}
