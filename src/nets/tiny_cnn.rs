//! The tiny CNN of the round-trip golden test (`tests/goldens/make_goldens.py`): Conv, BN, Relu,
//! MaxPool, strided Conv, Add, AveragePool, Concat, GlobalAveragePool, Flatten, Gemm.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::ir::builder::{Conv2d, Pool2d};
use crate::ir::{Graph, GraphBuilder, OpType, Tensor, TensorType};

/// The named intermediate tensors the golden records, in graph order.
pub const CHECKPOINTS: &[&str] =
    &["relu1", "pool_a", "conv_b", "add", "avg", "cat", "gap", "flat", "logits"];

/// Builds the tiny CNN for input shape `(n, 3, h, w)` from PyTorch-named weights
/// (`conv1.weight`, `bn1.running_mean`, `fc.bias`, ...). Every checkpoint is a graph output.
pub fn build(n: usize, h: usize, w: usize, weights: &BTreeMap<String, Tensor>) -> Result<Graph> {
    let get = |k: &str| {
        weights
            .get(k)
            .cloned()
            .ok_or_else(|| Error::InvalidModel(format!("tiny_cnn: missing weight '{k}'")))
    };
    let mut b = GraphBuilder::new("tiny_cnn");
    let x = b.input("x", TensorType::f32([n, 3, h, w]))?;
    let w1 = b.param("conv1.weight", get("conv1.weight")?)?;
    let b1 = b.param("conv1.bias", get("conv1.bias")?)?;
    let c1 = b.conv("conv1", x, w1, Some(b1), Conv2d { pad: 1, ..Default::default() })?;
    let [g, be, m, v] =
        ["weight", "bias", "running_mean", "running_var"].map(|s| format!("bn1.{s}"));
    let (g, be, m, v) = (
        b.param(&g, get(&g)?)?,
        b.param(&be, get(&be)?)?,
        b.param(&m, get(&m)?)?,
        b.param(&v, get(&v)?)?,
    );
    let bn = b.batch_norm("bn1", c1, g, be, m, v, 1e-5, false)?;
    let relu1 = b.relu("relu1", bn)?;
    let pool_a = b.pool(OpType::MaxPool, "pool_a", relu1, Pool2d::new(2, 2, 0))?;
    let wb = b.param("conv_b.weight", get("conv_b.weight")?)?;
    let conv_b =
        b.conv("conv_b", relu1, wb, None, Conv2d { stride: 2, pad: 1, ..Default::default() })?;
    let add = b.add("add", pool_a, conv_b)?;
    let avg = b.pool(OpType::AveragePool, "avg", add, Pool2d::new(3, 1, 1))?;
    let cat = b.concat("cat", &[add, avg], 1)?;
    let gap = b.global_avg_pool("gap", cat)?;
    let flat = b.flatten("flat", gap, 1)?;
    let fw = b.param("fc.weight", get("fc.weight")?)?;
    let fb = b.param("fc.bias", get("fc.bias")?)?;
    let logits = b.gemm("logits", flat, fw, Some(fb), true)?;
    for v in [relu1, pool_a, conv_b, add, avg, cat, gap, flat, logits] {
        b.output(v);
    }
    Ok(b.finish())
}
