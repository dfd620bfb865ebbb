//! Data movement: Identity, Dropout, Cast, reshapes, Transpose, Concat, Split, Slice, Pad,
//! Expand, Tile, Gather, GatherND, ScatterND, ReduceMean, ReduceSum.

use super::RuleCtx;
use crate::error::Result;
use crate::ir::nd_index::nd_rows;
use crate::ir::{Attr, NodeAttrs, OpType, ValueId};

/// Identity and Dropout (differentiated as identity: intrain scores at initialisation, where
/// dropout is off). A Dropout that the model forces into training mode (a constant true
/// `training_mode` input) with a non-zero ratio draws random masks: refused rather than
/// differentiated as something it does not compute.
pub fn identity(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    if c.node.op == OpType::Dropout && c.e.opset() >= 12 {
        let training = c.const_ints(2).is_some_and(|v| v.iter().any(|&b| b != 0));
        let ratio = match c.inputs.get(1).copied().flatten() {
            Some(r) => c.e.graph().value(r).data.as_ref().and_then(|t| t.to_f64().first().copied()),
            None => Some(0.5),
        };
        if training && ratio != Some(0.0) {
            return Err(c.err(
                "Dropout in training mode (training_mode input true) draws random masks; intrain differentiates dropout as off (export the model in eval mode)",
            ));
        }
    }
    let mut out = vec![None; c.inputs.len()];
    out[0] = Some(c.g()?);
    Ok(out)
}

/// Cast/CastLike between float types: the gradient is cast back.
pub fn cast(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let x = c.x(0)?;
    let dt = c.e.graph().value(x).ty.dtype;
    let g = c.g()?;
    let mut out = vec![None; c.inputs.len()];
    if dt.is_float() && c.need(0) {
        out[0] = Some(if c.e.graph().value(g).ty.dtype == dt {
            g
        } else {
            c.e.op(OpType::Cast, "dx", &[g], vec![("to", Attr::Int(dt.onnx_code() as i64))])?
        });
    }
    Ok(out)
}

/// Reshape, Flatten, Squeeze, Unsqueeze: the gradient takes the input's shape back.
pub fn reshape_like(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let xs = c.shape(c.x(0)?);
    let g = c.g()?;
    let mut out = vec![None; c.inputs.len()];
    out[0] = Some(c.e.reshape("dx", g, &xs)?);
    Ok(out)
}

/// Transpose: the inverse permutation.
pub fn transpose(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let r = c.shape(c.x(0)?).len();
    let perm: Vec<usize> = match c.attr_ints("perm")? {
        Some(p) => p.iter().map(|&a| c.axis(a, r)).collect(),
        None => (0..r).rev().collect(),
    };
    let mut inv = vec![0; r];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    let g = c.g()?;
    Ok(vec![Some(c.e.transpose("dx", g, &inv)?)])
}

/// ReduceMean and ReduceSum: the gradient is broadcast back (divided by the count for the mean).
pub fn reduce(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let x = c.x(0)?;
    let xs = c.shape(x);
    let r = xs.len();
    let mut axes = c.reduce_axes(r)?;
    if axes.is_empty() {
        if c.attr_int("noop_with_empty_axes", 0)? != 0 {
            return identity(c);
        }
        axes = (0..r).collect();
    }
    let kept: Vec<usize> =
        xs.iter().enumerate().map(|(i, &d)| if axes.contains(&i) { 1 } else { d }).collect();
    let g = c.g()?;
    let g = c.e.reshape("g_keepdims", g, &kept)?;
    let g = if c.node.op == OpType::ReduceMean {
        let count: usize = axes.iter().map(|&a| xs[a]).product();
        c.e.scale("g_mean", g, 1.0 / count as f32)?
    } else {
        g
    };
    let mut out = vec![None; c.inputs.len()];
    out[0] = Some(c.e.expand("dx", g, &xs)?);
    Ok(out)
}

fn slice_axis(
    c: &mut RuleCtx,
    name: &str,
    g: ValueId,
    axis: usize,
    start: usize,
    end: usize,
) -> Result<ValueId> {
    c.e.slice(name, g, &[start as i64], &[end as i64], &[axis as i64])
}

/// The transpose of a gather along `axis`: `g` has size `idx.len()` on `axis`, the result size
/// `dim`, with `out[.., i, ..] = Σ_{j: idx[j] = i} g[.., j, ..]` (a MatMul with a constant one-hot
/// matrix; `idx` already normalised to `0..dim`).
fn scatter_axis(
    c: &mut RuleCtx,
    name: &str,
    g: ValueId,
    axis: usize,
    idx: &[usize],
    dim: usize,
) -> Result<ValueId> {
    let gs = c.shape(g);
    let r = gs.len();
    let k = idx.len();
    // Checked before it is allocated: many indices into a long axis make it huge.
    crate::limits::Limits::current().check_tensor(
        || format!("node '{}': the one-hot matrix that scatters its gradient back", c.node.name),
        crate::ir::DType::F32,
        &[k, dim],
    )?;
    let mut onehot = vec![0f32; k * dim];
    for (j, &i) in idx.iter().enumerate() {
        onehot[j * dim + i] = 1.0;
    }
    let s = c.e.tensor(&format!("{name}_onehot"), crate::ir::Tensor::f32([k, dim], onehot))?;
    let mut perm: Vec<usize> = (0..r).filter(|&a| a != axis).collect();
    perm.push(axis);
    let last = axis == r - 1;
    let gt = if last { g } else { c.e.transpose(&format!("{name}_last"), g, &perm)? };
    let scattered = c.e.op(OpType::MatMul, &format!("{name}_scattered"), &[gt, s], vec![])?;
    let mut inv = vec![0; r];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    if last { Ok(scattered) } else { c.e.transpose(name, scattered, &inv) }
}

/// Concat: each input gets its slice of the gradient.
pub fn concat(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let g = c.g()?;
    let r = c.shape(g).len();
    let axis = c.axis(c.attr_int("axis", 0)?, r);
    let mut out = vec![None; c.inputs.len()];
    let mut offset = 0;
    for i in 0..c.inputs.len() {
        let len = c.shape(c.x(i)?)[axis];
        if c.need(i) {
            out[i] = Some(slice_axis(c, &format!("dx{i}"), g, axis, offset, offset + len)?);
        }
        offset += len;
    }
    Ok(out)
}

/// Split: the output gradients concatenated (zeros where an output has none).
pub fn split(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let xs = c.shape(c.x(0)?);
    let axis = c.axis(c.attr_int("axis", 0)?, xs.len());
    let mut parts = Vec::new();
    for (k, gy) in c.gy.clone().into_iter().enumerate() {
        let y = c.y(k);
        parts.push(match gy {
            Some(g) => g,
            None => {
                let s = c.shape(y);
                c.e.zeros(&format!("zero{k}"), &s)?
            }
        });
    }
    let mut out = vec![None; c.inputs.len()];
    out[0] = Some(c.e.op(OpType::Concat, "dx", &parts, vec![("axis", Attr::Int(axis as i64))])?);
    Ok(out)
}

/// Slice (any steps; starts, ends, axes as attributes before opset 10): each unit-step axis is
/// padded back with zeros, each other axis (negative or larger steps) scattered back through a
/// one-hot matrix.
pub fn slice(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let xs = c.shape(c.x(0)?);
    let r = xs.len() as i64;
    let attr_form = c.e.opset() < 10;
    let get = |c: &RuleCtx, i: usize, name: &str| {
        Ok(if attr_form { c.attr_ints(name)?.map(<[i64]>::to_vec) } else { c.const_ints(i) })
    };
    let starts = get(c, 1, "starts")?.ok_or_else(|| c.err("starts must be constant"))?;
    let ends = get(c, 2, "ends")?.ok_or_else(|| c.err("ends must be constant"))?;
    let axes = get(c, 3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps =
        if attr_form { None } else { c.const_ints(4) }.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(c.err("starts, ends, axes and steps have different lengths"));
    }
    let mut begin = vec![0i64; xs.len()];
    let mut end_pad = vec![0i64; xs.len()];
    // Axes with a non-unit step: (axis, the input index of each output position).
    let mut strided: Vec<(usize, Vec<usize>)> = Vec::new();
    for k in 0..starts.len() {
        let a = if axes[k] < 0 { axes[k] + r } else { axes[k] } as usize;
        let dim = xs[a] as i64;
        let step = steps[k];
        let norm = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
        if step == 1 {
            let (s, e) = (norm(starts[k]).clamp(0, dim), norm(ends[k]).clamp(0, dim));
            begin[a] = s;
            end_pad[a] = dim - e.max(s);
            continue;
        }
        if step == 0 {
            return Err(c.err("slice step 0"));
        }
        // The forward's clamping (shape_ops::slice): positive steps within [0, dim], negative
        // ones within [-1, dim - 1].
        let (s, e) = if step > 0 {
            (norm(starts[k]).clamp(0, dim), norm(ends[k]).clamp(0, dim))
        } else {
            (norm(starts[k]).clamp(0, dim - 1), norm(ends[k]).clamp(-1, dim - 1))
        };
        let mut idx = Vec::new();
        let mut i = s;
        while (step > 0 && i < e) || (step < 0 && i > e) {
            idx.push(i as usize);
            i += step;
        }
        strided.push((a, idx));
    }
    let mut d = c.g()?;
    for (a, idx) in strided {
        d = scatter_axis(c, &format!("dx_axis{a}"), d, a, &idx, xs[a])?;
    }
    let mut out = vec![None; c.inputs.len()];
    out[0] = Some(if begin.iter().chain(&end_pad).all(|&p| p == 0) {
        d
    } else {
        begin.extend(end_pad);
        c.e.pad_zeros("dx", d, &begin)?
    });
    Ok(out)
}

/// Pad (constant mode, non-negative pads): the gradient cropped back.
pub fn pad(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let mode = c.attr_str("mode", "constant")?;
    if mode != "constant" {
        return Err(c.err(format!("Pad mode '{mode}' is not differentiated")));
    }
    let xs = c.shape(c.x(0)?);
    let r = xs.len();
    let pads =
        if c.e.opset() < 11 { c.attr_ints("pads")?.map(<[i64]>::to_vec) } else { c.const_ints(1) }
            .ok_or_else(|| c.err("pads must be constant"))?;
    let axes: Vec<usize> = match c.const_ints(3) {
        Some(a) => a.iter().map(|&v| c.axis(v, r)).collect(),
        None => (0..r).collect(),
    };
    if pads.iter().any(|&p| p < 0) {
        return Err(c.err("negative pads are not differentiated"));
    }
    let g = c.g()?;
    let n = axes.len();
    let starts: Vec<i64> = (0..n).map(|k| pads[k]).collect();
    let ends: Vec<i64> = (0..n).map(|k| pads[k] + xs[axes[k]] as i64).collect();
    let ax: Vec<i64> = axes.iter().map(|&a| a as i64).collect();
    let mut out = vec![None; c.inputs.len()];
    out[0] = Some(c.e.slice("dx", g, &starts, &ends, &ax)?);
    Ok(out)
}

/// Expand: the gradient summed over the broadcast axes.
pub fn expand(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let xs = c.shape(c.x(0)?);
    let g = c.g()?;
    let mut out = vec![None; c.inputs.len()];
    out[0] = Some(c.e.unbroadcast("dx", g, &xs)?);
    Ok(out)
}

/// Gather with constant indices of any rank: the gradient is scattered back with a constant
/// one-hot matrix, `dData = g · S` along the gathered axis, where `S[k, idx[k]] = 1` over the
/// flattened indices (repeated indices accumulate).
pub fn gather(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let xs = c.shape(c.x(0)?);
    let r = xs.len();
    let axis = c.axis(c.attr_int("axis", 0)?, r);
    let idx = c.const_ints(1).ok_or_else(|| c.err("only constant indices are differentiated"))?;
    let d = xs[axis];
    let mut norm = Vec::with_capacity(idx.len());
    for &i in &idx {
        let j = if i < 0 { i + d as i64 } else { i };
        if !(0..d as i64).contains(&j) {
            return Err(c.err(format!("index {i} out of range for an axis of size {d}")));
        }
        norm.push(j as usize);
    }
    let g = c.g()?;
    // The index axes (none for a scalar index) flattened into one axis of size k.
    let mut gshape = xs.clone();
    gshape[axis] = norm.len();
    let g = c.e.reshape("g_axis", g, &gshape)?;
    let dx = scatter_axis(c, "dx", g, axis, &norm, d)?;
    Ok(vec![Some(dx), None])
}

/// GatherND with constant indices (any `batch_dims`): the data viewed as `(rows, slice)` is
/// gathered along its rows, so the gradient is scattered back along them with the one-hot matrix
/// of [`gather`] (repeated index tuples accumulate).
pub fn gather_nd(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let xs = c.shape(c.x(0)?);
    let is = c.shape(c.x(1)?);
    let b = usize::try_from(c.attr_int("batch_dims", 0)?)
        .map_err(|_| c.err("batch_dims must not be negative"))?;
    let idx = c.const_ints(1).ok_or_else(|| c.err("only constant indices are differentiated"))?;
    let rows = nd_rows(&xs, &idx, &is, b).map_err(|m| c.err(m))?;
    let m = is.last().copied().unwrap_or(0);
    let addressed: usize = xs[..b + m].iter().product();
    let mut gshape = vec![rows.len()];
    gshape.extend(&xs[b + m..]);
    let g = c.g()?;
    let g = c.e.reshape("g_rows", g, &gshape)?;
    let scattered = scatter_axis(c, "dx_rows", g, 0, &rows, addressed)?;
    let dx = c.e.reshape("dx", scattered, &xs)?;
    Ok(vec![Some(dx), None])
}

/// ScatterND without reduction or with `add`. Without reduction the data's gradient is dY with
/// the scattered positions zeroed (they were overwritten); with `add` it is dY. The updates'
/// gradient is dY at the scattered positions (a GatherND of dY); without reduction, constant
/// indices that repeat a position are refused, since only one of their updates survives.
pub fn scatter_nd(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let overwrite = match c.attr_str("reduction", "none")? {
        "none" => true,
        "add" => false,
        other => {
            return Err(c.err(format!("ScatterND with reduction '{other}' is not differentiated")));
        }
    };
    let g = c.g()?;
    let indices = c.x(1)?;
    let mut out = vec![None; c.inputs.len()];
    if c.need(0) {
        out[0] = Some(if overwrite {
            let zeros = c.e.zeros("zero_updates", &c.shape(c.x(2)?))?;
            c.e.op(OpType::ScatterND, "dx", &[g, indices, zeros], vec![])?
        } else {
            c.e.op(OpType::Identity, "dx", &[g], vec![])?
        });
    }
    if c.need(2) {
        if overwrite && let Some(idx) = c.const_ints(1) {
            let rows =
                nd_rows(&c.shape(c.x(0)?), &idx, &c.shape(indices), 0).map_err(|m| c.err(m))?;
            let mut seen = std::collections::HashSet::with_capacity(rows.len());
            if !rows.iter().all(|r| seen.insert(r)) {
                return Err(c.err("indices repeat a position: only one of its updates is kept, so the updates have no well-defined gradient"));
            }
        }
        out[2] = Some(c.e.op(OpType::GatherND, "dupdates", &[g, indices], vec![])?);
    }
    Ok(out)
}

/// Tile: the sum of dY over the copies.
pub fn tile(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let x = c.x(0)?;
    let xs = c.shape(x);
    let reps = c.const_ints(1).ok_or_else(|| c.err("repeats must be a constant"))?;
    // dY (r0·d0, r1·d1, ...) viewed as (r0, d0, r1, d1, ...), summed over the r axes.
    let mut split = Vec::with_capacity(2 * xs.len());
    let mut axes = Vec::with_capacity(xs.len());
    for (i, (&d, &r)) in xs.iter().zip(&reps).enumerate() {
        split.push(r.max(0) as usize);
        split.push(d);
        axes.push(2 * i);
    }
    let g = c.e.reshape("g_copies", c.g()?, &split)?;
    let s = c.e.reduce_sum("g_summed", g, &axes, false)?;
    let mut out = vec![None; c.inputs.len()];
    out[0] = Some(c.e.reshape("dx", s, &xs)?);
    Ok(out)
}
