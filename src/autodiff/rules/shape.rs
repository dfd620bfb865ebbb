//! Data movement: Identity, Dropout, Cast, reshapes, Transpose, Concat, Split, Slice, Pad,
//! Expand, ReduceMean, ReduceSum.

use super::RuleCtx;
use crate::error::Result;
use crate::ir::{Attr, OpType, ValueId};

/// Identity and Dropout (differentiated as identity: intrain scores at initialisation, where
/// dropout is off).
pub fn identity(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
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
    let perm: Vec<usize> = match c.ints("perm") {
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
    let axes: Vec<i64> = match c.const_ints(1) {
        Some(a) => a,
        None => c.ints("axes").unwrap_or_default(),
    };
    let mut axes: Vec<usize> = axes.iter().map(|&a| c.axis(a, r)).collect();
    if axes.is_empty() {
        if c.int("noop_with_empty_axes", 0) != 0 {
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
    let s = c.e.ints(&[start as i64])?;
    let e = c.e.ints(&[end as i64])?;
    let a = c.e.ints(&[axis as i64])?;
    c.e.op(OpType::Slice, name, &[g, s, e, a], vec![])
}

/// Concat: each input gets its slice of the gradient.
pub fn concat(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let g = c.g()?;
    let r = c.shape(g).len();
    let axis = c.axis(c.int("axis", 0), r);
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
    let axis = c.axis(c.int("axis", 0), xs.len());
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

/// Slice with unit steps: the gradient padded with zeros back to the input's shape.
pub fn slice(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let xs = c.shape(c.x(0)?);
    let r = xs.len() as i64;
    let starts = c.const_ints(1).ok_or_else(|| c.err("starts must be constant"))?;
    let ends = c.const_ints(2).ok_or_else(|| c.err("ends must be constant"))?;
    let axes = c.const_ints(3).unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = c.const_ints(4).unwrap_or_else(|| vec![1; starts.len()]);
    if steps.iter().any(|&s| s != 1) {
        return Err(c.err("only unit-step slices are differentiated"));
    }
    let mut begin = vec![0i64; xs.len()];
    let mut end_pad = vec![0i64; xs.len()];
    for k in 0..starts.len() {
        let a = if axes[k] < 0 { axes[k] + r } else { axes[k] } as usize;
        let dim = xs[a] as i64;
        let norm = |v: i64| if v < 0 { v.saturating_add(dim) } else { v }.clamp(0, dim);
        let (s, e) = (norm(starts[k]), norm(ends[k]).max(norm(starts[k])));
        begin[a] = s;
        end_pad[a] = dim - e;
    }
    let g = c.g()?;
    begin.extend(end_pad);
    let pads = c.e.ints(&begin)?;
    let mut out = vec![None; c.inputs.len()];
    out[0] = Some(c.e.op(OpType::Pad, "dx", &[g, pads], vec![])?);
    Ok(out)
}

/// Pad (constant mode, non-negative pads): the gradient cropped back.
pub fn pad(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let mode = match c.attrs().get("mode") {
        Some(Attr::String(s)) => s.clone(),
        _ => "constant".into(),
    };
    if mode != "constant" {
        return Err(c.err(format!("Pad mode '{mode}' is not differentiated")));
    }
    let xs = c.shape(c.x(0)?);
    let r = xs.len();
    let pads = c.const_ints(1).ok_or_else(|| c.err("pads must be constant"))?;
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
    let s = c.e.ints(&starts)?;
    let e = c.e.ints(&ends)?;
    let a = c.e.ints(&ax)?;
    let mut out = vec![None; c.inputs.len()];
    out[0] = Some(c.e.op(OpType::Slice, "dx", &[g, s, e, a], vec![])?);
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

/// Gather with constant indices (scalar or 1-D): the gradient is scattered back with a
/// constant one-hot matrix, `dData = gᵀ-moved · S` where `S[k, idx[k]] = 1` (repeated indices
/// accumulate).
pub fn gather(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let xs = c.shape(c.x(0)?);
    let r = xs.len();
    let axis = c.axis(c.int("axis", 0), r);
    let idx = c.const_ints(1).ok_or_else(|| c.err("only constant indices are differentiated"))?;
    let ishape = c.shape(c.x(1)?);
    if ishape.len() > 1 {
        return Err(c.err("only scalar or 1-D indices are differentiated"));
    }
    let d = xs[axis];
    let k = idx.len();
    let mut onehot = vec![0f32; k * d];
    for (j, &i) in idx.iter().enumerate() {
        let i = if i < 0 { i + d as i64 } else { i };
        if !(0..d as i64).contains(&i) {
            return Err(c.err(format!("index {i} out of range")));
        }
        onehot[j * d + i as usize] = 1.0;
    }
    let s = c.e.tensor("scatter", crate::ir::Tensor::f32([k, d], onehot))?;
    let g = c.g()?;
    // Bring the gathered axis (size k, restored for a scalar index) last.
    let mut gshape = xs.clone();
    gshape[axis] = k;
    let g = c.e.reshape("g_axis", g, &gshape)?;
    let mut perm: Vec<usize> = (0..r).filter(|&a| a != axis).collect();
    perm.push(axis);
    let gt = if axis == r - 1 { g } else { c.e.transpose("g_last", g, &perm)? };
    let scattered = c.e.op(OpType::MatMul, "scattered", &[gt, s], vec![])?;
    let mut inv = vec![0; r];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    let dx = if axis == r - 1 { scattered } else { c.e.transpose("dx", scattered, &inv)? };
    Ok(vec![Some(dx), None])
}
