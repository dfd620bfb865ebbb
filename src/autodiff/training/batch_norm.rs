//! BatchNormalization with batch statistics, computed by our own ops in the forward copy.

use std::collections::BTreeMap;

use super::BnMode;
use crate::autodiff::emit::Emitter;
use crate::autodiff::exact_sum;
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
/// precision; both sums exact to float32 rounding, see `exact_sum`), then an inference-mode BatchNormalization of `d`
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
    // Both sums exact to float32 rounding, as PyTorch's CPU kernel accumulates in float64 (see
    // `exact_sum`): float32 statistics cost deep train-mode networks gradient errors of 1e-3
    // (median, 25x PyTorch float32's own on ShuffleNetV2), the mean's sum alone up to 2e-2 on
    // RegNetY's squeeze-excitation tensors.
    let inv_count = 1.0 / axes.iter().map(|&a| xs[a]).product::<usize>().max(1) as f32;
    let mean = exact_sum::sum(e, "batch_mean", x, &axes, true)?;
    let mean = e.scale("batch_mean", mean, inv_count)?;
    let centered = e.sub("centered", x, mean)?;
    let var = exact_sum::sum_of_squares(e, "batch_var", centered, &axes, false)?;
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
