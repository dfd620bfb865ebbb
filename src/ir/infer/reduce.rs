//! Reductions: ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceSumSquare, ReduceL2.

use super::{Ctx, Inferred, unknown};
use crate::error::Result;
use crate::ir::op::OpType;

/// The reduced axes of a Reduce* node (sorted, deduplicated, non-negative), or `None` when the
/// node is a no-op (empty axes with `noop_with_empty_axes=1`).
pub fn reduce_axes(ctx: &Ctx) -> Result<Option<Vec<usize>>> {
    let rank = ctx.ty(0)?.rank();
    let axes: Option<Vec<i64>> = match ctx.op {
        OpType::ReduceSum => ctx.const_ints(1, "axes")?,
        _ if ctx.opset >= 18 => ctx.const_ints(1, "axes")?,
        _ => {
            if ctx.opt_input(1).is_some() {
                return Err(
                    ctx.err(format!("axes is an attribute in opset {}, not an input", ctx.opset))
                );
            }
            ctx.ints("axes")?.map(|a| a.to_vec())
        }
    };
    let axes = axes.unwrap_or_default();
    if axes.is_empty() {
        if ctx.int("noop_with_empty_axes", 0)? != 0 {
            return Ok(None);
        }
        return Ok(Some((0..rank).collect()));
    }
    let mut out: Vec<usize> =
        axes.iter().map(|&a| ctx.axis(a, rank, "axis")).collect::<Result<_>>()?;
    out.sort_unstable();
    out.dedup();
    Ok(Some(out))
}

/// Shape inference for all Reduce* ops.
pub fn reduce(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let x = ctx.ty(0)?;
    let keepdims = ctx.int("keepdims", 1)? != 0;
    let Some(axes) = reduce_axes(ctx)? else {
        return Ok(vec![unknown(x.dtype, x.shape.clone())]);
    };
    let shape = x
        .shape
        .iter()
        .enumerate()
        .filter_map(|(i, &d)| if axes.contains(&i) { keepdims.then_some(1) } else { Some(d) })
        .collect();
    Ok(vec![unknown(x.dtype, shape)])
}
