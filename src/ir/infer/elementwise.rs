//! Elementwise ops: unary maps, casts, and broadcasting n-ary ops.

use super::{Ctx, Inferred, broadcast_shapes, eval, known, unknown};
use crate::error::Result;
use crate::ir::attr::NodeAttrs;
use crate::ir::dtype::DType;
use crate::ir::op::OpType;

/// Unary elementwise ops (and Clip, Dropout): the output has the input's type.
pub fn unary(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let x = ctx.input(0)?;
    match ctx.op {
        OpType::Clip => {
            for i in 1..3 {
                if let Some(b) = ctx.opt_input(i)
                    && b.ty.numel() != 1
                {
                    return Err(ctx.err(format!("input {i} (clip bound) must be a scalar")));
                }
            }
        }
        OpType::Gelu => {
            let a = ctx.attr_str("approximate", "none")?;
            if a != "none" && a != "tanh" {
                return Err(ctx.attr_error("approximate", format!("'{a}' is not 'none' or 'tanh'")));
            }
        }
        OpType::Not if x.ty.dtype != DType::Bool => return Err(ctx.err("input must be bool")),
        OpType::Dropout => {
            // The mask is bool from opset 10, the data's type before.
            let mask_type = if ctx.opset >= 10 { DType::Bool } else { x.ty.dtype };
            let mask = unknown(mask_type, x.ty.shape.clone());
            return Ok(vec![unknown(x.ty.dtype, x.ty.shape.clone()), mask]);
        }
        _ => {}
    }
    if ctx.op != OpType::Not
        && !x.ty.dtype.is_float()
        && !matches!(
            ctx.op,
            OpType::Identity
                | OpType::Neg
                | OpType::Abs
                | OpType::Sign
                | OpType::Relu
                | OpType::Clip
        )
    {
        return Err(ctx.err(format!("input must be a float tensor, got {}", x.ty.dtype)));
    }
    if let Some(t) =
        // Only small values fold (`known` would drop a large result after computing it).
        x
            .data
            .as_ref()
            .filter(|t| ctx.op != OpType::Clip && t.numel() <= super::MAX_FOLD_ELEMENTS)
            .and_then(|t| eval::unary(ctx.op, t))
    {
        return Ok(vec![known(t)]);
    }
    Ok(vec![unknown(x.ty.dtype, x.ty.shape.clone())])
}

/// Cast and CastLike.
pub fn cast(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let x = ctx.input(0)?;
    let to = if ctx.op == OpType::Cast {
        let code = ctx.attr_int_required("to")? as i32;
        DType::from_onnx_code(code).ok_or_else(|| {
            ctx.attr_error(
                "to",
                format!("casting to {} is not supported", DType::onnx_code_name(code)),
            )
        })?
    } else {
        ctx.ty(1)?.dtype
    };
    if let Some(t) = x.data.as_ref().filter(|t| t.numel() <= super::MAX_FOLD_ELEMENTS) {
        return Ok(vec![known(t.cast(to))]);
    }
    Ok(vec![unknown(to, x.ty.shape.clone())])
}

/// Broadcasting n-ary ops: arithmetic, comparisons, logic, Where, variadic Max/Min/Sum/Mean.
pub fn broadcast(ctx: &Ctx) -> Result<Vec<Inferred>> {
    use OpType::*;
    let n = ctx.n_inputs();
    let shapes: Vec<&[usize]> = (0..n).map(|i| ctx.shape(i)).collect::<Result<_>>()?;
    let out_shape = broadcast_shapes(&shapes).ok_or_else(|| {
        let list: Vec<String> = shapes.iter().map(|s| format!("{s:?}")).collect();
        ctx.err(format!("shapes {} do not broadcast", list.join(" and ")))
    })?;
    // Type constraints: all data inputs share a type (Where: inputs 1 and 2, input 0 is bool).
    let data_inputs: Vec<usize> = if ctx.op == Where { vec![1, 2] } else { (0..n).collect() };
    let dtype = ctx.ty(data_inputs[0])?.dtype;
    for &i in &data_inputs[1..] {
        let d = ctx.ty(i)?.dtype;
        if d != dtype && (ctx.op != Pow) {
            return Err(
                ctx.err(format!("input {i} is {d} but input {} is {dtype}", data_inputs[0]))
            );
        }
    }
    if ctx.op == Equal && dtype.is_float() && ctx.opset < 11 {
        return Err(ctx.err(format!("float inputs need opset 11, the model has {}", ctx.opset)));
    }
    if ctx.op == Where && ctx.ty(0)?.dtype != DType::Bool {
        return Err(ctx.err("condition (input 0) must be bool"));
    }
    if matches!(ctx.op, And | Or) && dtype != DType::Bool {
        return Err(ctx.err("inputs must be bool"));
    }
    let out_dtype = match ctx.op {
        Equal | Greater | GreaterOrEqual | Less | LessOrEqual | And | Or => DType::Bool,
        _ => dtype,
    };
    if ctx.op == Mod && ctx.attr_int("fmod", 0)? == 0 && dtype.is_float() {
        return Err(ctx.attr_error("fmod", "must be 1 for floating-point inputs"));
    }
    let numel = crate::ir::dtype::checked_numel(&out_shape)
        .ok_or_else(|| ctx.err(format!("result shape {out_shape:?} is too large")))?;
    if ctx.all_inputs_known() && numel <= super::MAX_FOLD_ELEMENTS {
        let ins: Vec<_> = (0..n).filter_map(|i| ctx.data(i)).collect();
        if let Some(t) = eval::broadcast(ctx.op, &ins, &out_shape, out_dtype) {
            return Ok(vec![known(t)]);
        }
    }
    Ok(vec![unknown(out_dtype, out_shape)])
}
