//! Static shape inference and constant evaluation, one file per op family.
//!
//! Each op's rule gets a [`Ctx`] (the node, its input values, its attributes, read through
//! [`NodeAttrs`]) and returns the type of every output and, when it can be computed before running
//! (shape arithmetic, constants), the output's value. Errors name the node, op and attribute.

mod broadcast;
mod conv;
pub mod einsum;
mod elementwise;
mod eval;
mod linalg;
mod norm;
mod reduce;
mod shape_ops;

use std::collections::BTreeMap;

pub use broadcast::broadcast_shapes;
pub use conv::{ConvGeometry, SpatialParams, conv_geometry};
pub use norm::softmax_axis;

use super::attr::{Attr, NodeAttrs};
use super::dtype::{DType, TensorType};
use super::graph::{Graph, Value, ValueId};
use super::op::OpType;
use super::tensor::Tensor;
use crate::error::{Error, Result};

/// An inferred output: its type and, when statically known, its value.
pub type Inferred = (TensorType, Option<Tensor>);

/// Largest number of elements a statically evaluated (folded) value may have.
pub const MAX_FOLD_ELEMENTS: usize = 1 << 16;

/// What a shape rule sees of a node.
pub struct Ctx<'a> {
    /// Node name.
    pub name: &'a str,
    /// The op.
    pub op: OpType,
    /// Opset of the graph.
    pub opset: i64,
    /// Attributes.
    pub attrs: &'a BTreeMap<String, Attr>,
    inputs: Vec<Option<&'a Value>>,
    /// Number of outputs the node declares.
    pub n_outputs: usize,
}

impl<'a> Ctx<'a> {
    /// An error about this node.
    pub fn err(&self, reason: impl Into<String>) -> Error {
        Error::node(self.name, self.op, reason)
    }

    /// Number of input slots (given or omitted).
    pub fn n_inputs(&self) -> usize {
        self.inputs.len()
    }

    /// Input `i`, which must be given.
    pub fn input(&self, i: usize) -> Result<&'a Value> {
        self.inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| self.err(format!("input {i} is required")))
    }

    /// Input `i` if given.
    pub fn opt_input(&self, i: usize) -> Option<&'a Value> {
        self.inputs.get(i).copied().flatten()
    }

    /// Type of input `i`, which must be given.
    pub fn ty(&self, i: usize) -> Result<&'a TensorType> {
        Ok(&self.input(i)?.ty)
    }

    /// Shape of input `i`, which must be given.
    pub fn shape(&self, i: usize) -> Result<&'a [usize]> {
        Ok(&self.input(i)?.ty.shape)
    }

    /// Statically known contents of input `i` as integers, if the input is given and known.
    /// An input that is given but not known is an error (`what` explains what it is for).
    pub fn const_ints(&self, i: usize, what: &str) -> Result<Option<Vec<i64>>> {
        match self.opt_input(i) {
            None => Ok(None),
            Some(v) => match &v.data {
                Some(t) => Ok(Some(t.to_i64())),
                None => Err(self.err(format!(
                    "input {i} ({what}, '{}') must be a constant or computable from shapes",
                    v.name
                ))),
            },
        }
    }

    /// An integer list that is attribute `name` in the opsets where that attribute exists
    /// ([`OpType::attr_opsets`]) and input `i` from the opset that made it an input.
    pub fn ints_attr_or_input(&self, i: usize, name: &str) -> Result<Option<Vec<i64>>> {
        let (first, last) = self.op.attr_opsets(name);
        if (first..=last).contains(&self.opset) {
            Ok(self.attr_ints(name)?.map(<[i64]>::to_vec))
        } else {
            self.const_ints(i, name)
        }
    }

    /// Statically known value of input `i` as a scalar f64, if given and known.
    pub fn const_scalar(&self, i: usize) -> Option<f64> {
        self.opt_input(i).and_then(|v| v.data.as_ref()).and_then(|t| t.to_f64().first().copied())
    }

    /// Normalises a possibly negative axis for a tensor of `rank`.
    pub fn axis(&self, axis: i64, rank: usize, what: &str) -> Result<usize> {
        let r = rank as i64;
        if axis < -r || axis >= r {
            return Err(self.err(format!("{what} {axis} is out of range for rank {rank}")));
        }
        Ok(if axis < 0 { (axis + r) as usize } else { axis as usize })
    }

    /// Whether every given input has a statically known value.
    pub fn all_inputs_known(&self) -> bool {
        self.inputs.iter().flatten().all(|v| v.data.is_some())
    }

    /// Known data of input `i` (panics if unknown: call after [`Ctx::all_inputs_known`]).
    pub fn data(&self, i: usize) -> Option<&'a Tensor> {
        self.opt_input(i).and_then(|v| v.data.as_ref())
    }
}

/// Shape rules read attributes through [`NodeAttrs`], like every reader of a node.
impl NodeAttrs for Ctx<'_> {
    fn node_name(&self) -> &str {
        self.name
    }

    fn node_op(&self) -> OpType {
        self.op
    }

    fn attr_map(&self) -> &BTreeMap<String, Attr> {
        self.attrs
    }
}

/// Checks a node and infers its outputs. Called by [`Graph::add_node`].
pub(crate) fn infer_node(
    graph: &Graph,
    name: &str,
    op: OpType,
    inputs: &[Option<ValueId>],
    attrs: &BTreeMap<String, Attr>,
    n_outputs: usize,
) -> Result<Vec<Inferred>> {
    let ctx = Ctx {
        name,
        op,
        opset: graph.opset,
        attrs,
        inputs: inputs.iter().map(|i| i.map(|id| graph.value(id))).collect(),
        n_outputs,
    };
    check_signature(&ctx)?;
    let mut out = infer_op(&ctx)?;
    if out.len() < n_outputs {
        return Err(
            ctx.err(format!("declares {n_outputs} outputs but produces at most {}", out.len()))
        );
    }
    out.truncate(n_outputs);
    if n_outputs == 0 {
        return Err(ctx.err("has no outputs"));
    }
    Ok(out)
}

fn check_signature(ctx: &Ctx) -> Result<()> {
    let op = ctx.op;
    if ctx.opset < op.since_opset() {
        return Err(ctx.err(format!(
            "needs opset {} or later, the model has {}",
            op.since_opset(),
            ctx.opset
        )));
    }
    for (name, _) in ctx.attrs.iter() {
        if !op.allowed_attrs().contains(&name.as_str()) {
            return Err(ctx.attr_error(name, "not supported by intrain for this op"));
        }
        let (first, last) = op.attr_opsets(name);
        if ctx.opset < first {
            return Err(ctx.attr_error(
                name,
                format!("exists from opset {first}, the model has opset {}", ctx.opset),
            ));
        }
        if ctx.opset > last {
            return Err(ctx.attr_error(
                name,
                format!(
                    "exists up to opset {last} (an input or gone from opset {}), the model has opset {}",
                    last + 1,
                    ctx.opset
                ),
            ));
        }
    }
    let (min, max) = op.input_arity_at(ctx.opset);
    let n = ctx.inputs.len();
    if n < min || n > max {
        let want = if min == max {
            format!("{min}")
        } else if max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(ctx.err(format!("has {n} inputs, expected {want} at opset {}", ctx.opset)));
    }
    if let Some(most) = op.max_outputs_at(ctx.opset)
        && ctx.n_outputs > most
    {
        return Err(ctx.err(format!(
            "declares {} outputs, opset {} allows {most}",
            ctx.n_outputs, ctx.opset
        )));
    }
    for i in 0..min {
        if ctx.inputs[i].is_none() {
            return Err(ctx.err(format!("required input {i} is missing")));
        }
    }
    Ok(())
}

fn infer_op(ctx: &Ctx) -> Result<Vec<Inferred>> {
    use OpType::*;
    let out = match ctx.op {
        op if op.is_unary_elementwise() => elementwise::unary(ctx)?,
        Cast | CastLike => elementwise::cast(ctx)?,
        op if op.is_broadcast_elementwise() => elementwise::broadcast(ctx)?,
        Conv => conv::conv(ctx)?,
        ConvTranspose => conv::conv_transpose(ctx)?,
        AveragePool | MaxPool => conv::pool(ctx)?,
        GlobalAveragePool | GlobalMaxPool => conv::global_pool(ctx)?,
        Gemm => linalg::gemm(ctx)?,
        MatMul => linalg::matmul(ctx)?,
        Einsum => einsum::einsum(ctx)?,
        BatchNormalization => norm::batch_norm(ctx)?,
        LayerNormalization => norm::layer_norm(ctx)?,
        InstanceNormalization => norm::instance_norm(ctx)?,
        Softmax | LogSoftmax => norm::softmax(ctx)?,
        ReduceMean | ReduceSum | ReduceMax | ReduceMin | ReduceSumSquare | ReduceL2 => {
            reduce::reduce(ctx)?
        }
        Concat => shape_ops::concat(ctx)?,
        Split => shape_ops::split(ctx)?,
        Slice => shape_ops::slice(ctx)?,
        Reshape => shape_ops::reshape(ctx)?,
        Flatten => shape_ops::flatten(ctx)?,
        Transpose => shape_ops::transpose(ctx)?,
        Squeeze => shape_ops::squeeze(ctx)?,
        Unsqueeze => shape_ops::unsqueeze(ctx)?,
        Pad => shape_ops::pad(ctx)?,
        Expand => shape_ops::expand(ctx)?,
        Tile => shape_ops::tile(ctx)?,
        Gather => shape_ops::gather(ctx)?,
        GatherND => shape_ops::gather_nd(ctx)?,
        ScatterND => shape_ops::scatter_nd(ctx)?,
        Shape => shape_ops::shape(ctx)?,
        Size => shape_ops::size(ctx)?,
        Constant => shape_ops::constant(ctx)?,
        ConstantOfShape => shape_ops::constant_of_shape(ctx)?,
        Range => shape_ops::range(ctx)?,
        _ => return Err(ctx.err("no shape rule (internal error)")),
    };
    Ok(out)
}

/// An output without a known value.
pub(crate) fn unknown(dtype: DType, shape: Vec<usize>) -> Inferred {
    (TensorType::new(dtype, shape), None)
}

/// An output with a known value (only kept if small enough to fold).
pub(crate) fn known(t: Tensor) -> Inferred {
    let ty = t.ty();
    let data = (t.numel() <= MAX_FOLD_ELEMENTS).then_some(t);
    (ty, data)
}
