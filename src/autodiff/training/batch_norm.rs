//! BatchNormalization with batch statistics, computed by our own ops in the forward copy.

use std::collections::BTreeMap;

use super::BnMode;
use crate::autodiff::emit::Emitter;
use crate::autodiff::rules::BnSaved;
use crate::error::{Error, Result};
use crate::ir::{Attr, Node, NodeAttrs, OpType, Tensor, ValueId};

/// Whether `node` is a BatchNormalization that uses batch statistics under `mode`: every one in
/// [`BnMode::Train`], those with `training_mode = 1` in [`BnMode::AsIs`].
pub(super) fn uses_batch_statistics(node: &Node, mode: BnMode) -> Result<bool> {
    Ok(node.op == OpType::BatchNormalization
        && (mode == BnMode::Train || node.attr_int("training_mode", 0)? == 1))
}

/// BatchNormalization with batch statistics, as PyTorch computes it in training mode:
/// `mean = Σx/M`, `d = x − mean`, `var = Σd²/M` (biased, two passes, so a large mean costs no
/// precision; both sums accumulate in float64), then an inference-mode BatchNormalization of `d`
/// with mean 0 and that variance. `d` and `inv = 1/√(var + ε)` are kept for the backward. The
/// model's running statistics, momentum and `training_mode` play no part. ONNX Runtime's own
/// training-mode kernel is not used: it writes the running statistics back into its input
/// buffers, and ONNX Runtime 1.31 gives wrong outputs with it unless momentum is 1 (see the
/// README's notes on BatchNorm).
pub(super) fn emit_bn_train(
    e: &mut Emitter,
    node: &Node,
    inputs: &[Option<ValueId>],
    out_name: &str,
) -> Result<(ValueId, BnSaved)> {
    let get = |i: usize| {
        inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| Error::node(&node.name, node.op, format!("input {i} missing")))
    };
    let (x, scale, bias) = (get(0)?, get(1)?, get(2)?);
    let eps = node.attr_float("epsilon", 1e-5)?;
    let xs = e.shape(x);
    if xs.len() < 2 {
        return Err(Error::node(&node.name, node.op, "the input has fewer than 2 dimensions"));
    }
    let ch = xs[1];
    let axes: Vec<usize> = (0..xs.len()).filter(|&a| a != 1).collect();
    let mut bshape = vec![1usize; xs.len()];
    bshape[1] = ch;
    e.push_scope(&node.name);
    // Both sums accumulate in float64, as PyTorch's CPU BatchNorm accumulates its statistics:
    // float32 sums over thousands of elements put errors of 1e-7 to 1e-6 into every normalised
    // value, which deep train-mode networks amplify (a ReLU input near zero flips sign) into
    // gradient errors of 1e-3. The sum of squares matters most (median gradient error against
    // float64 PyTorch 25x lower on ShuffleNetV2); the mean's sum in float32 still costs RegNetY
    // (squeeze-excitation) tensors up to 2e-2.
    let inv_count = 1.0 / axes.iter().map(|&a| xs[a]).product::<usize>().max(1) as f32;
    let mean = sum_f64(e, "batch_mean", x, &axes, true)?;
    let mean = e.scale("batch_mean", mean, inv_count)?;
    let centered = e.sub("centered", x, mean)?;
    let sq = e.mul("sq", centered, centered)?;
    let var = sum_f64(e, "batch_var", sq, &axes, false)?;
    let var = e.scale("batch_var", var, inv_count)?;
    let zero_mean = e.tensor("zero_mean", Tensor::f32([ch], vec![0.0; ch]))?;
    let epsv = e.scalar(eps)?;
    let ve = e.add("var_eps", var, epsv)?;
    let sd = e.op(OpType::Sqrt, "std", &[ve], vec![])?;
    let inv = e.op(OpType::Reciprocal, "inv", &[sd], vec![])?;
    let inv = e.reshape("inv_b", inv, &bshape)?;
    e.pop_scope();
    let mut attrs = BTreeMap::new();
    attrs.insert("epsilon".to_string(), Attr::Float(eps));
    let y = e.builder().op_named(
        OpType::BatchNormalization,
        &node.name,
        &[Some(centered), Some(scale), Some(bias), Some(zero_mean), Some(var)],
        attrs,
        &[out_name.to_string()],
    )?[0];
    Ok((y, BnSaved { centered, inv }))
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
