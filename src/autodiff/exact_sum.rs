//! Sums exact to float32 rounding, as PyTorch's CPU BatchNorm accumulates its statistics and
//! their gradients in float64: float32 partial sums over short runs of the innermost axes (the
//! row of a feature map), then float64 over the partials. A plain float32 `ReduceSum` over
//! thousands of elements is off by 1e-7 to 1e-6 relative, which deep train-mode networks amplify
//! (a ReLU input within rounding of zero flips sign) into gradient errors of 1e-3 to 1e-2;
//! converting the whole tensor to float64 first is exact but reads and writes it twice more.

use super::emit::Emitter;
use crate::error::Result;
use crate::ir::{Attr, OpType, ValueId};

/// Longest run of a float32 partial sum: at most this many elements (relative error of order
/// `PARTIAL_RUN · 2⁻²⁴` in the worst case, about that of one float32 rounding in practice).
const PARTIAL_RUN: usize = 128;

/// `Σ x` over `axes` (which must include every axis but the channel axis 1), float32 result.
pub(crate) fn sum(
    e: &mut Emitter,
    name: &str,
    x: ValueId,
    axes: &[usize],
    keepdims: bool,
) -> Result<ValueId> {
    two_level(e, name, x, axes, keepdims, false)
}

/// `Σ x²` over `axes` (which must include every axis but the channel axis 1), float32 result.
pub(crate) fn sum_of_squares(
    e: &mut Emitter,
    name: &str,
    x: ValueId,
    axes: &[usize],
    keepdims: bool,
) -> Result<ValueId> {
    two_level(e, name, x, axes, keepdims, true)
}

/// Float32 partial sums (of squares) over the innermost run, then float64 over `axes`.
fn two_level(
    e: &mut Emitter,
    name: &str,
    x: ValueId,
    axes: &[usize],
    keepdims: bool,
    square: bool,
) -> Result<ValueId> {
    let inner = inner_axes(&e.shape(x));
    let partial_name = format!("{name}_partial");
    let partial = match (inner.is_empty(), square) {
        (true, false) => x,
        (true, true) => e.mul(&partial_name, x, x)?,
        (false, false) => e.reduce_sum(&partial_name, x, &inner, true)?,
        (false, true) => e.reduce_sum_square(&partial_name, x, &inner, true)?,
    };
    sum_f64(e, name, partial, axes, keepdims)
}

/// The innermost axes (never the batch or channel axis) whose product stays within
/// [`PARTIAL_RUN`]; empty for `(N, C)` or when the last axis alone is longer.
fn inner_axes(shape: &[usize]) -> Vec<usize> {
    let mut axes = Vec::new();
    let mut run = 1usize;
    for a in (2..shape.len()).rev() {
        if run * shape[a] > PARTIAL_RUN {
            break;
        }
        run *= shape[a];
        axes.insert(0, a);
    }
    axes
}

/// `ReduceSum` over `axes` accumulated in float64, the result back in float32.
fn sum_f64(
    e: &mut Emitter,
    name: &str,
    x: ValueId,
    axes: &[usize],
    keepdims: bool,
) -> Result<ValueId> {
    let wide = e.op(OpType::Cast, &format!("{name}_f64"), &[x], vec![("to", Attr::Int(11))])?;
    let s = e.reduce_sum(&format!("{name}_sum_f64"), wide, axes, keepdims)?;
    e.cast_f32(&format!("{name}_sum"), s)
}

#[cfg(test)]
mod tests {
    use super::inner_axes;

    #[test]
    fn partial_sums_run_over_short_innermost_axes_only() {
        assert_eq!(inner_axes(&[8, 16, 32, 32]), vec![3]);
        assert_eq!(inner_axes(&[8, 16, 8, 8]), vec![2, 3]);
        assert_eq!(inner_axes(&[8, 16, 112, 112]), vec![3]);
        assert_eq!(inner_axes(&[8, 16, 224, 224]), Vec::<usize>::new());
        assert_eq!(inner_axes(&[8, 16]), Vec::<usize>::new());
        assert_eq!(inner_axes(&[8, 16, 1000]), Vec::<usize>::new());
    }
}
