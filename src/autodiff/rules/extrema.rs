//! Max, Min (elementwise), ReduceMax, ReduceMin, GlobalMaxPool: the gradient goes to the
//! positions that hold the extremum, shared evenly among ties (as PyTorch's `maximum`, `amax`
//! and `amin` do).

use super::RuleCtx;
use crate::error::Result;
use crate::ir::{NodeAttrs, OpType, ValueId};

/// `1` where `x` equals `y` (broadcast), else `0`, in x's float type.
fn equal_mask(c: &mut RuleCtx, name: &str, x: ValueId, y: ValueId) -> Result<ValueId> {
    if c.e.opset() < 11 {
        return Err(c.err("needs opset 11 or later (Equal on floats) for its gradient"));
    }
    let eq = c.e.op(OpType::Equal, &format!("{name}_eq"), &[x, y], vec![])?;
    let to = c.e.graph().value(x).ty.dtype.onnx_code() as i64;
    c.e.op(OpType::Cast, name, &[eq], vec![("to", crate::ir::Attr::Int(to))])
}

/// Max and Min of any number of broadcast inputs: each input's share of dY is 1/(number of
/// inputs at the extremum) where it is at the extremum.
pub fn elementwise(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let g = c.g()?;
    let y = c.y(0);
    let n = c.inputs.len();
    let mut masks = Vec::with_capacity(n);
    for i in 0..n {
        let xi = c.x(i)?;
        masks.push(equal_mask(c, &format!("at_extremum{i}"), xi, y)?);
    }
    let count = if n == 1 { masks[0] } else { c.e.op(OpType::Sum, "ties", &masks, vec![])? };
    let share = c.e.div("g_share", g, count)?;
    let mut out = vec![None; n];
    for i in 0..n {
        if c.need(i) {
            let d = c.e.mul(&format!("d{i}"), share, masks[i])?;
            let target = c.shape(c.x(i)?);
            out[i] = Some(c.e.unbroadcast(&format!("dx{i}"), d, &target)?);
        }
    }
    Ok(out)
}

/// The reduced axes of a Reduce* node (attribute or input, per opset; all when empty) or of
/// GlobalMaxPool (the spatial axes).
fn reduced_axes(c: &RuleCtx, rank: usize) -> Result<Vec<usize>> {
    if c.node.op == OpType::GlobalMaxPool {
        return Ok((2..rank).collect());
    }
    let axes = c.reduce_axes(rank)?;
    Ok(if axes.is_empty() { (0..rank).collect() } else { axes })
}

/// ReduceMax, ReduceMin, GlobalMaxPool: dY spread evenly over the positions at the extremum.
pub fn reduce(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let x = c.x(0)?;
    let xs = c.shape(x);
    if c.node.op != OpType::GlobalMaxPool
        && c.attr_int("noop_with_empty_axes", 0)? != 0
        && c.reduce_axes(xs.len())?.is_empty()
    {
        let mut out = vec![None; c.inputs.len()];
        out[0] = Some(c.g()?);
        return Ok(out);
    }
    let axes = reduced_axes(c, xs.len())?;
    let kept = super::kept_shape(&xs, &axes);
    let g = c.e.reshape("g_keepdims", c.g()?, &kept)?;
    let y = c.e.reshape("y_keepdims", c.y(0), &kept)?;
    let mask = equal_mask(c, "at_extremum", x, y)?;
    let count = c.e.reduce_sum("ties", mask, &axes, true)?;
    let share = c.e.div("g_share", g, count)?;
    let mut out = vec![None; c.inputs.len()];
    out[0] = Some(c.e.mul("dx", mask, share)?);
    Ok(out)
}
