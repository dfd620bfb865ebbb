//! Normalisations and softmax.

use super::{Ctx, Inferred, unknown};
use crate::error::Result;
use crate::ir::attr::NodeAttrs;
use crate::ir::dtype::DType;

/// BatchNormalization (inference or training mode).
pub fn batch_norm(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let x = ctx.ty(0)?;
    if x.rank() < 2 {
        return Err(ctx.err(format!("input must have rank >= 2, got {:?}", x.shape)));
    }
    let c = x.shape[1];
    for (i, what) in [(1, "scale"), (2, "B"), (3, "input_mean"), (4, "input_var")] {
        let t = ctx.ty(i)?;
        if t.shape != [c] {
            return Err(
                ctx.err(format!("{what} (input {i}) has shape {:?}, expected [{c}]", t.shape))
            );
        }
    }
    let training = ctx.attr_int("training_mode", 0)?;
    if training != 0 && training != 1 {
        return Err(ctx.attr_error("training_mode", format!("must be 0 or 1, got {training}")));
    }
    if training == 0 && ctx.n_outputs > 1 {
        if ctx.opset < 14 {
            return Err(ctx.err(format!(
                "training-mode BatchNormalization (several outputs) at opset {} is not supported (from opset 14 it is)",
                ctx.opset
            )));
        }
        return Err(ctx.err("running statistics outputs exist only with training_mode=1"));
    }
    if ctx.attr_int("spatial", 1)? != 1 {
        return Err(
            ctx.attr_error("spatial", "only spatial=1 (per-channel statistics) is supported")
        );
    }
    let stat = ctx.ty(3)?.dtype;
    Ok(vec![unknown(x.dtype, x.shape.clone()), unknown(stat, vec![c]), unknown(stat, vec![c])])
}

/// LayerNormalization (opset 17).
pub fn layer_norm(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let x = ctx.ty(0)?;
    let axis = ctx.axis(ctx.attr_int("axis", -1)?, x.rank(), "axis")?;
    let normalized = &x.shape[axis..];
    for i in 1..3 {
        if let Some(v) = ctx.opt_input(i)
            && super::broadcast_shapes(&[&v.ty.shape, normalized]).as_deref() != Some(normalized)
        {
            return Err(ctx.err(format!(
                "input {i} shape {:?} does not broadcast to {normalized:?}",
                v.ty.shape
            )));
        }
    }
    let mut stat_shape = x.shape.clone();
    for d in stat_shape.iter_mut().skip(axis) {
        *d = 1;
    }
    let stash = match ctx.attr_int("stash_type", 1)? {
        1 => DType::F32,
        code => DType::from_onnx_code(code as i32).unwrap_or(DType::F32),
    };
    Ok(vec![
        unknown(x.dtype, x.shape.clone()),
        unknown(stash, stat_shape.clone()),
        unknown(stash, stat_shape),
    ])
}

/// InstanceNormalization.
pub fn instance_norm(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let x = ctx.ty(0)?;
    if x.rank() < 3 {
        return Err(ctx.err(format!("input must have rank >= 3, got {:?}", x.shape)));
    }
    for i in 1..3 {
        if ctx.shape(i)? != [x.shape[1]] {
            return Err(ctx.err(format!("input {i} must have shape [{}]", x.shape[1])));
        }
    }
    Ok(vec![unknown(x.dtype, x.shape.clone())])
}

/// The axis attribute of Softmax and LogSoftmax with its per-opset default: from opset 13 the
/// op normalises along that one axis (default -1); before, over the input flattened to 2-D at
/// that axis (default 1), i.e. jointly over every axis from it on.
pub fn softmax_axis(opset: i64, attr: Option<i64>) -> i64 {
    attr.unwrap_or(if opset >= 13 { -1 } else { 1 })
}

/// Softmax and LogSoftmax.
pub fn softmax(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let x = ctx.ty(0)?;
    if !x.dtype.is_float() {
        return Err(ctx.err(format!("input must be a float tensor, got {}", x.dtype)));
    }
    ctx.axis(softmax_axis(ctx.opset, ctx.attr_int_opt("axis")?), x.rank(), "axis")?;
    Ok(vec![unknown(x.dtype, x.shape.clone())])
}
