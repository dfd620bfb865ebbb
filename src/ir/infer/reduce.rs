//! Reductions: ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceSumSquare, ReduceL2.

use super::{Ctx, Inferred, unknown};
use crate::error::Result;
use crate::ir::attr::NodeAttrs;

/// The reduced axes of a Reduce* node (sorted, deduplicated, non-negative), or `None` when the
/// node is a no-op (empty axes with `noop_with_empty_axes=1`).
pub fn reduce_axes(ctx: &Ctx) -> Result<Option<Vec<usize>>> {
    let rank = ctx.ty(0)?.rank();
    // An attribute up to opset 12 (ReduceSum) or 17 (the others), an input after.
    let axes = ctx.ints_attr_or_input(1, "axes")?;
    let axes = axes.unwrap_or_default();
    if axes.is_empty() {
        if ctx.attr_int("noop_with_empty_axes", 0)? != 0 {
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
    let keepdims = ctx.attr_int("keepdims", 1)? != 0;
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
