//! BatchNormalization (batch statistics or running statistics), LayerNormalization,
//! InstanceNormalization and ReduceL2.

use super::RuleCtx;
use crate::autodiff::exact_sum;
use crate::error::Result;
use crate::ir::{NodeAttrs, OpType, ValueId};

/// BatchNormalization. In training mode the forward saved `d = x − mean` and `inv`; with
/// `xhat = d·inv` the backward is `dX = γ·inv·(dY − xhat·Σ(dY·xhat)/M − ΣdY/M)`,
/// `dγ = Σ dY·xhat`, `dβ = Σ dY`, evaluated without materialising xhat. Working from the centred
/// `d` (not from x and the mean) keeps full precision when a channel's mean is large against
/// its spread.
pub fn batch_norm(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let g = c.g()?;
    let x = c.x(0)?;
    let scale = c.x(1)?;
    let xs = c.shape(x);
    let ch = xs[1];
    let axes: Vec<usize> = (0..xs.len()).filter(|&a| a != 1).collect();
    let m: usize = axes.iter().map(|&a| xs[a]).product();
    let mut bshape = vec![1usize; xs.len()];
    bshape[1] = ch;
    let mut out = vec![None; 5];
    if let Some(saved) = c.bn {
        // Σ dY·xhat = inv·Σ dY·d, and dX = a·dY + b·d + c per channel: a = γ·inv,
        // b = −a·inv·Σ(dY·xhat)/M, c = −a·ΣdY/M.
        // Both sums exact to float32 rounding, as PyTorch's CPU backward accumulates them in
        // float64: they are dβ and (through xhat) dγ, and every dX depends on them.
        let d = saved.centered;
        let sb = exact_sum::sum(c.e, "sum_g", g, &axes, true)?;
        let gd = c.e.mul("g_d", g, d)?;
        let sgd = exact_sum::sum(c.e, "sum_g_d", gd, &axes, true)?;
        let sg = c.e.mul("sum_g_xhat", sgd, saved.inv)?;
        if c.need(1) {
            out[1] = Some(c.e.reshape("dscale", sg, &[ch])?);
        }
        if c.need(2) {
            out[2] = Some(c.e.reshape("dbias", sb, &[ch])?);
        }
        if c.need(0) {
            let s4 = c.e.reshape("scale_b", scale, &bshape)?;
            let a = c.e.mul("a", s4, saved.inv)?;
            let ai = c.e.mul("a_inv", a, saved.inv)?;
            let t = c.e.mul("a_inv_sg", ai, sg)?;
            let b = c.e.scale("b", t, -1.0 / m as f32)?;
            let asb = c.e.mul("a_sb", a, sb)?;
            let cc = c.e.scale("c", asb, -1.0 / m as f32)?;
            let ga = c.e.mul("g_a", g, a)?;
            let db = c.e.mul("d_b", b, d)?;
            let s1 = c.e.add("ga_db", ga, db)?;
            out[0] = Some(c.e.add("dx", s1, cc)?);
        }
    } else {
        // Running statistics: y = (x - mean)·γ/√(var+ε) + β, an affine map per channel.
        let eps = c.attr_float("epsilon", 1e-5)?;
        let (mean, var) = (c.x(3)?, c.x(4)?);
        let e = c.e.scalar(eps)?;
        let ve = c.e.add("var_eps", var, e)?;
        let sd = c.e.op(OpType::Sqrt, "std", &[ve], vec![])?;
        let inv = c.e.op(OpType::Reciprocal, "inv", &[sd], vec![])?;
        let inv4 = c.e.reshape("inv_b", inv, &bshape)?;
        if c.need(0) {
            let s = c.e.mul("scale_inv", scale, inv)?;
            let s4 = c.e.reshape("scale_inv_b", s, &bshape)?;
            out[0] = Some(c.e.mul("dx", g, s4)?);
        }
        if c.need(1) {
            let m4 = c.e.reshape("mean_b", mean, &bshape)?;
            let d = c.e.sub("centered", x, m4)?;
            let xhat = c.e.mul("xhat", d, inv4)?;
            let gx = c.e.mul("g_xhat", g, xhat)?;
            out[1] = Some(exact_sum::sum(c.e, "dscale", gx, &axes, false)?);
        }
        if c.need(2) {
            out[2] = Some(exact_sum::sum(c.e, "dbias", g, &axes, false)?);
        }
    }
    Ok(out)
}

/// ReduceL2: `y = √Σx²` over the axes, `dX = dY·x/y` (0 where `y` is 0, as PyTorch's norm).
pub fn reduce_l2(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let x = c.x(0)?;
    let xs = c.shape(x);
    let r = xs.len();
    let mut axes = c.reduce_axes(r)?;
    if axes.is_empty() {
        if c.attr_int("noop_with_empty_axes", 0)? != 0 {
            return Err(c.err("ReduceL2 with noop_with_empty_axes is |x|, not supported"));
        }
        axes = (0..r).collect();
    }
    let kept = super::kept_shape(&xs, &axes);
    let g = c.e.reshape("g_keepdims", c.g()?, &kept)?;
    let y = c.e.reshape("y_keepdims", c.y(0), &kept)?;
    let tiny = c.e.scalar(f32::MIN_POSITIVE)?;
    let safe = c.e.op(OpType::Max, "y_safe", &[y, tiny], vec![])?;
    let gy = c.e.div("g_over_y", g, safe)?;
    let mut out = vec![None; c.inputs.len()];
    out[0] = Some(c.e.mul("dx", x, gy)?);
    Ok(out)
}

/// LayerNormalization: statistics are recomputed from x.
/// `dX = inv·(dxh − mean(dxh) − xhat·mean(dxh·xhat))` with `dxh = dY·γ`.
pub fn layer_norm(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    if c.gy.iter().skip(1).any(|g| g.is_some()) {
        return Err(c.err("gradients through the Mean/InvStdDev outputs are not supported"));
    }
    let g = c.g()?;
    let x = c.x(0)?;
    let scale = c.x(1)?;
    let xs = c.shape(x);
    let axis = c.axis(c.attr_int("axis", -1)?, xs.len());
    let eps = c.attr_float("epsilon", 1e-5)?;
    let axes: Vec<usize> = (axis..xs.len()).collect();
    let mean = c.e.reduce_mean("mean", x, &axes, true)?;
    let d = c.e.sub("centered", x, mean)?;
    let dd = c.e.mul("sq", d, d)?;
    let var = c.e.reduce_mean("var", dd, &axes, true)?;
    let e = c.e.scalar(eps)?;
    let ve = c.e.add("var_eps", var, e)?;
    let sd = c.e.op(OpType::Sqrt, "std", &[ve], vec![])?;
    let inv = c.e.op(OpType::Reciprocal, "inv", &[sd], vec![])?;
    let xhat = c.e.mul("xhat", d, inv)?;
    let mut out = vec![None; c.inputs.len()];
    if c.need(1) {
        let gx = c.e.mul("g_xhat", g, xhat)?;
        let ss = c.shape(scale);
        out[1] = Some(c.e.unbroadcast("dscale", gx, &ss)?);
    }
    if c.need(2) {
        let bs = c.shape(c.x(2)?);
        out[2] = Some(c.e.unbroadcast("dbias", g, &bs)?);
    }
    if c.need(0) {
        let dxh = c.e.mul("dxhat", g, scale)?;
        let m1 = c.e.reduce_mean("mean_dxhat", dxh, &axes, true)?;
        let p = c.e.mul("dxhat_xhat", dxh, xhat)?;
        let m2 = c.e.reduce_mean("mean_dxhat_xhat", p, &axes, true)?;
        let t = c.e.mul("xhat_m2", xhat, m2)?;
        let a = c.e.sub("a", dxh, m1)?;
        let b = c.e.sub("b", a, t)?;
        out[0] = Some(c.e.mul("dx", b, inv)?);
    }
    Ok(out)
}

/// InstanceNormalization: per sample and channel over the spatial axes,
/// `dX = inv·(dxh − mean(dxh) − xhat·mean(dxh·xhat))` with `dxh = dY·γ`; `dγ = Σ dY·xhat`,
/// `dβ = Σ dY` over batch and space.
pub fn instance_norm(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let g = c.g()?;
    let x = c.x(0)?;
    let scale = c.x(1)?;
    let xs = c.shape(x);
    if xs.len() < 3 {
        return Err(c.err("the input needs spatial axes"));
    }
    let eps = c.attr_float("epsilon", 1e-5)?;
    let spatial: Vec<usize> = (2..xs.len()).collect();
    let mut bshape = vec![1usize; xs.len()];
    bshape[1] = xs[1];
    let mean = c.e.reduce_mean("mean", x, &spatial, true)?;
    let d = c.e.sub("centered", x, mean)?;
    let dd = c.e.mul("sq", d, d)?;
    let var = c.e.reduce_mean("var", dd, &spatial, true)?;
    let e = c.e.scalar(eps)?;
    let ve = c.e.add("var_eps", var, e)?;
    let sd = c.e.op(OpType::Sqrt, "std", &[ve], vec![])?;
    let inv = c.e.op(OpType::Reciprocal, "inv", &[sd], vec![])?;
    let xhat = c.e.mul("xhat", d, inv)?;
    let mut batch_space = vec![0usize];
    batch_space.extend(&spatial);
    let mut out = vec![None; c.inputs.len()];
    if c.need(1) {
        let gx = c.e.mul("g_xhat", g, xhat)?;
        out[1] = Some(c.e.reduce_sum("dscale", gx, &batch_space, false)?);
    }
    if c.need(2) {
        out[2] = Some(c.e.reduce_sum("dbias", g, &batch_space, false)?);
    }
    if c.need(0) {
        let s4 = c.e.reshape("scale_b", scale, &bshape)?;
        let dxh = c.e.mul("dxhat", g, s4)?;
        let m1 = c.e.reduce_mean("mean_dxhat", dxh, &spatial, true)?;
        let p = c.e.mul("dxhat_xhat", dxh, xhat)?;
        let m2 = c.e.reduce_mean("mean_dxhat_xhat", p, &spatial, true)?;
        let t = c.e.mul("xhat_m2", xhat, m2)?;
        let a = c.e.sub("a", dxh, m1)?;
        let b = c.e.sub("b", a, t)?;
        out[0] = Some(c.e.mul("dx", b, inv)?);
    }
    Ok(out)
}
