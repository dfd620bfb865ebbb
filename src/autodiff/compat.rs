//! Emitter helpers whose ONNX form depends on the opset: a training graph keeps the forward
//! graph's opset (7 to 26), so each helper writes the form that opset defines (an attribute where
//! later opsets take an input, an equivalent of an op the opset lacks).

use super::emit::Emitter;
use crate::error::{Error, Result};
use crate::ir::{Attr, OpType, Tensor, ValueId};

impl Emitter {
    /// The opset of the graph being built.
    pub fn opset(&self) -> i64 {
        self.graph().opset
    }

    /// A constant tensor of `shape` without elements, of `like`'s type (Reshape and Expand
    /// results with a zero dimension: ONNX Runtime's Expand of a 1 to a 0 keeps the 1).
    pub fn empty(&mut self, name: &str, like: ValueId, shape: &[usize]) -> Result<ValueId> {
        let dtype = self.graph().value(like).ty.dtype;
        self.tensor(name, Tensor::full(dtype, shape.to_vec(), 0.0))
    }

    /// Broadcasts `x` to `shape` with Tile (for opset 7, which has no Expand).
    pub fn tile_to(&mut self, name: &str, x: ValueId, shape: &[usize]) -> Result<ValueId> {
        let xs = self.shape(x);
        let mut padded = vec![1usize; shape.len().saturating_sub(xs.len())];
        padded.extend(&xs);
        let mut reps = Vec::with_capacity(shape.len());
        for (&from, &to) in padded.iter().zip(shape) {
            if from != to && from != 1 {
                return Err(Error::InvalidModel(format!(
                    "internal error: {xs:?} does not broadcast to {shape:?}"
                )));
            }
            reps.push(if from == to { 1 } else { to as i64 });
        }
        let r = self.reshape(&format!("{name}_rank"), x, &padded)?;
        let rv = self.ints(&reps)?;
        self.op(OpType::Tile, name, &[r, rv], vec![])
    }

    /// Slice along `axes` with unit steps (attributes before opset 10, inputs from 10).
    pub fn slice(
        &mut self,
        name: &str,
        x: ValueId,
        starts: &[i64],
        ends: &[i64],
        axes: &[i64],
    ) -> Result<ValueId> {
        if self.opset() < 10 {
            let attrs = vec![
                ("starts", Attr::Ints(starts.to_vec())),
                ("ends", Attr::Ints(ends.to_vec())),
                ("axes", Attr::Ints(axes.to_vec())),
            ];
            return self.op(OpType::Slice, name, &[x], attrs);
        }
        let (s, e, a) = (self.ints(starts)?, self.ints(ends)?, self.ints(axes)?);
        self.op(OpType::Slice, name, &[x, s, e, a], vec![])
    }

    /// Zero padding, `pads` as (begin..., end...) over every axis (an attribute before opset 11,
    /// an input from 11).
    pub fn pad_zeros(&mut self, name: &str, x: ValueId, pads: &[i64]) -> Result<ValueId> {
        if self.opset() < 11 {
            return self.op(OpType::Pad, name, &[x], vec![("pads", Attr::Ints(pads.to_vec()))]);
        }
        let p = self.ints(pads)?;
        self.op(OpType::Pad, name, &[x, p], vec![])
    }

    /// Clip to `[lo, hi]` (attributes before opset 11, inputs from 11).
    pub fn clip(&mut self, name: &str, x: ValueId, lo: f32, hi: f32) -> Result<ValueId> {
        if self.opset() < 11 {
            let attrs = vec![("min", Attr::Float(lo)), ("max", Attr::Float(hi))];
            return self.op(OpType::Clip, name, &[x], attrs);
        }
        let (l, h) = (self.scalar(lo)?, self.scalar(hi)?);
        self.op(OpType::Clip, name, &[x, l, h], vec![])
    }

    /// `cond ? a : b` elementwise: Where from opset 9; before, `a·m + b·(1 − m)` with `m` the
    /// condition as 0/1 floats (the same for finite `a` and `b`).
    pub fn select(&mut self, name: &str, cond: ValueId, a: ValueId, b: ValueId) -> Result<ValueId> {
        if self.opset() >= 9 {
            return self.op(OpType::Where, name, &[cond, a, b], vec![]);
        }
        let m = self.cast_f32(&format!("{name}_mask"), cond)?;
        let one = self.scalar(1.0)?;
        let not_m = self.sub(&format!("{name}_not_mask"), one, m)?;
        let am = self.mul(&format!("{name}_a"), a, m)?;
        let bm = self.mul(&format!("{name}_b"), b, not_m)?;
        self.add(name, am, bm)
    }

    /// Sign of `x`: Sign from opset 9; before, `(x > 0) − (x < 0)` as floats.
    pub fn sign(&mut self, name: &str, x: ValueId) -> Result<ValueId> {
        if self.opset() >= 9 {
            return self.op(OpType::Sign, name, &[x], vec![]);
        }
        let zero = self.scalar(0.0)?;
        let pos = self.op(OpType::Greater, &format!("{name}_pos"), &[x, zero], vec![])?;
        let neg = self.op(OpType::Less, &format!("{name}_neg"), &[x, zero], vec![])?;
        let pos = self.cast_f32(&format!("{name}_pos_f"), pos)?;
        let neg = self.cast_f32(&format!("{name}_neg_f"), neg)?;
        self.sub(name, pos, neg)
    }
}
