//! Loss heads appended to the forward graph, each with its analytic gradient.

use super::emit::Emitter;
use crate::error::{Error, Result};
use crate::ir::{Attr, DType, OpType, Tensor, TensorType, ValueId};

/// Which loss the training graph computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Mean cross-entropy of `(N, classes)` logits against an int64 `labels` input of shape `(N)`.
    #[default]
    CrossEntropy,
    /// Mean squared error against a float `target` input of the output's shape.
    Mse,
    /// The sum of the output's elements (SynFlow-style proxies).
    Sum,
    /// `Σ w ⊙ y` with the cotangent `w` fed as a float32 input of the output's shape: the
    /// gradients are the vector-Jacobian products with `w` (per-sample gradients with a one-hot
    /// `w`, Jacobian rows, random projections).
    Cotangent,
}

/// The loss value, its gradient with respect to the output, and the extra input it reads.
pub struct LossHead {
    /// Scalar loss.
    pub loss: ValueId,
    /// d loss / d output.
    pub grad: ValueId,
    /// Name of the labels/target input, if any.
    pub target_input: Option<String>,
}

/// Appends `loss` on `y`.
pub fn append(e: &mut Emitter, loss: Loss, y: ValueId) -> Result<LossHead> {
    let shape = e.shape(y);
    let numel: usize = shape.iter().product();
    e.push_scope("loss");
    // The loss is computed in float32 (ONNX Runtime lacks some 16-bit reductions, and intrain
    // reads float32 results); the gradient goes back in the output's own type.
    let dtype = e.graph().value(y).ty.dtype;
    let y = if dtype == DType::F32 || !dtype.is_float() { y } else { e.cast_f32("output_f32", y)? };
    let mut head = match loss {
        Loss::CrossEntropy => {
            if shape.len() != 2 {
                return Err(Error::Input(format!(
                    "cross-entropy needs (batch, classes) logits, the output has shape {shape:?}; use the MSE or sum loss"
                )));
            }
            let (n, classes) = (shape[0], shape[1]);
            let name = e.graph().fresh_name("labels");
            let labels = e.builder().input(&name, TensorType::new(DType::I64, [n]))?;
            let col = e.reshape("labels_col", labels, &[n, 1])?;
            let range = e.tensor(
                "classes",
                Tensor::new(
                    [1, classes],
                    crate::ir::TensorData::I64((0..classes as i64).collect()),
                )
                .ok_or_else(|| Error::Input("classes".into()))?,
            )?;
            let eq = e.op(OpType::Equal, "is_label", &[col, range], vec![])?;
            let onehot = e.cast_f32("onehot", eq)?;
            let logp =
                e.op(OpType::LogSoftmax, "log_softmax", &[y], vec![("axis", Attr::Int(1))])?;
            let picked = e.mul("picked", onehot, logp)?;
            let total =
                e.op(OpType::ReduceSum, "total", &[picked], vec![("keepdims", Attr::Int(0))])?;
            let loss = e.scale("loss", total, -1.0 / n as f32)?;
            let p = e.op(OpType::Exp, "softmax", &[logp], vec![])?;
            let diff = e.sub("p_minus_onehot", p, onehot)?;
            let grad = e.scale("dlogits", diff, 1.0 / n as f32)?;
            LossHead { loss, grad, target_input: Some(name) }
        }
        Loss::Mse => {
            let name = e.graph().fresh_name("target");
            let t = e.builder().input(&name, TensorType::new(DType::F32, shape.clone()))?;
            let d = e.sub("diff", y, t)?;
            let sq = e.mul("sq", d, d)?;
            let total =
                e.op(OpType::ReduceSum, "total", &[sq], vec![("keepdims", Attr::Int(0))])?;
            let loss = e.scale("loss", total, 1.0 / numel as f32)?;
            let grad = e.scale("dy", d, 2.0 / numel as f32)?;
            LossHead { loss, grad, target_input: Some(name) }
        }
        Loss::Sum => {
            let loss = e.op(OpType::ReduceSum, "loss", &[y], vec![("keepdims", Attr::Int(0))])?;
            let one = e.scalar(1.0)?;
            let grad = e.expand("dy", one, &shape)?;
            LossHead { loss, grad, target_input: None }
        }
        Loss::Cotangent => {
            let (loss, w) = cotangent_term(e, y, "cotangent")?;
            LossHead { loss, grad: w, target_input: Some(e.graph().value(w).name.clone()) }
        }
    };
    if dtype != DType::F32 && dtype.is_float() {
        let to = ("to", Attr::Int(dtype.onnx_code() as i64));
        head.grad = e.op(OpType::Cast, "grad_in_output_type", &[head.grad], vec![to])?;
    }
    e.pop_scope();
    Ok(head)
}

/// A fed cotangent `w` (float32, the shape of `y`, input named after `name`) and the scalar
/// `Σ w ⊙ y` whose gradient with respect to `y` is `w`. `y` must be float32.
pub fn cotangent_term(e: &mut Emitter, y: ValueId, name: &str) -> Result<(ValueId, ValueId)> {
    let shape = e.shape(y);
    let input = e.graph().fresh_name(name);
    let w = e.builder().input(&input, TensorType::new(DType::F32, shape))?;
    let wy = e.mul("w_times_y", w, y)?;
    let loss = e.op(OpType::ReduceSum, "loss", &[wy], vec![("keepdims", Attr::Int(0))])?;
    Ok((loss, w))
}
