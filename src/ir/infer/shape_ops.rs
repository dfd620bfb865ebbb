//! Data movement and shape computation: Concat, Split, Slice, Reshape, Flatten, Transpose,
//! Squeeze, Unsqueeze, Pad, Expand, Tile, Gather, GatherND, ScatterND, Shape, Size, Constant,
//! ConstantOfShape, Range.
//!
//! Each rule also computes the output value when its inputs are statically known, so that the
//! shape arithmetic exporters emit (Shape → Gather → Concat → Reshape) resolves at build time.

use super::broadcast::broadcast_indices;
use super::{Ctx, Inferred, broadcast_shapes, known, unknown};
use crate::error::Result;
use crate::ir::attr::{Attr, NodeAttrs};
use crate::ir::dtype::DType;
use crate::ir::nd_index::{gather_nd_shape, nd_rows};
use crate::ir::tensor::{Tensor, from_f64, from_i64};

/// A tensor made of the elements of `t` at the flat indices `idx`, with `shape`.
fn take(t: &Tensor, idx: &[usize], shape: Vec<usize>) -> Tensor {
    let dtype = t.dtype();
    let data = if dtype.is_float() {
        let v = t.to_f64();
        from_f64(dtype, idx.iter().map(|&i| v[i]).collect())
    } else {
        let v = t.to_i64();
        from_i64(dtype, idx.iter().map(|&i| v[i]).collect())
    };
    Tensor { shape, data }
}

fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Row-major multi-indices of a shape, visited in order, mapped through `f`.
fn for_each_index(shape: &[usize], mut f: impl FnMut(&[usize])) {
    let n: usize = shape.iter().product();
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..n {
        f(&idx);
        for ax in (0..shape.len()).rev() {
            idx[ax] += 1;
            if idx[ax] < shape[ax] {
                break;
            }
            idx[ax] = 0;
        }
    }
}

fn small(shape: &[usize]) -> bool {
    crate::ir::dtype::checked_numel(shape).is_some_and(|n| n <= super::MAX_FOLD_ELEMENTS)
}

/// Concat.
pub fn concat(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let first = ctx.ty(0)?;
    let axis = ctx.axis(ctx.attr_int_required("axis")?, first.rank(), "axis")?;
    let mut shape = first.shape.clone();
    shape[axis] = 0;
    for i in 0..ctx.n_inputs() {
        let t = ctx.ty(i)?;
        if t.dtype != first.dtype || t.rank() != first.rank() {
            return Err(ctx.err(format!("input {i} is {t}, input 0 is {first}")));
        }
        for (d, (&a, &b)) in t.shape.iter().zip(&first.shape).enumerate() {
            if d != axis && a != b {
                return Err(ctx.err(format!(
                    "input {i} shape {:?} differs from input 0 {:?} off axis {axis}",
                    t.shape, first.shape
                )));
            }
        }
        shape[axis] += t.shape[axis];
    }
    if ctx.all_inputs_known() && small(&shape) {
        // Gather every input's elements in output order.
        let inputs: Vec<&Tensor> = (0..ctx.n_inputs()).filter_map(|i| ctx.data(i)).collect();
        let outer: usize = shape[..axis].iter().product();
        let inner: usize = shape[axis + 1..].iter().product();
        let float = first.dtype.is_float();
        let mut fv = Vec::new();
        let mut iv = Vec::new();
        let parts_f: Vec<Vec<f64>> =
            if float { inputs.iter().map(|t| t.to_f64()).collect() } else { vec![] };
        let parts_i: Vec<Vec<i64>> =
            if float { vec![] } else { inputs.iter().map(|t| t.to_i64()).collect() };
        for o in 0..outer {
            for (k, t) in inputs.iter().enumerate() {
                let len = t.shape[axis] * inner;
                let range = o * len..(o + 1) * len;
                if float {
                    fv.extend_from_slice(&parts_f[k][range]);
                } else {
                    iv.extend_from_slice(&parts_i[k][range]);
                }
            }
        }
        let data = if float { from_f64(first.dtype, fv) } else { from_i64(first.dtype, iv) };
        return Ok(vec![known(Tensor { shape, data })]);
    }
    Ok(vec![unknown(first.dtype, shape)])
}

/// Split.
pub fn split(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let x = ctx.ty(0)?;
    let axis = ctx.axis(ctx.attr_int("axis", 0)?, x.rank(), "axis")?;
    let dim = x.shape[axis];
    let sizes: Vec<usize> = if let Some(s) = ctx.ints_attr_or_input(1, "split")? {
        if s.iter().any(|&v| v < 0) || s.iter().sum::<i64>() as usize != dim {
            return Err(ctx.err(format!("split sizes {s:?} do not add up to {dim}")));
        }
        s.iter().map(|&v| v as usize).collect()
    } else {
        let n = match ctx.attr_int_opt("num_outputs")? {
            Some(n) if n >= 1 => n as usize,
            Some(_) => return Err(ctx.attr_error("num_outputs", "must be an int >= 1")),
            None => ctx.n_outputs,
        };
        if n == 0 {
            return Err(ctx.err("has no outputs"));
        }
        let chunk = dim.div_ceil(n);
        (0..n).map(|i| chunk.min(dim.saturating_sub(i * chunk))).collect()
    };
    Ok(sizes
        .into_iter()
        .map(|s| {
            let mut shape = x.shape.clone();
            shape[axis] = s;
            unknown(x.dtype, shape)
        })
        .collect())
}

/// Slice (starts, ends, axes as attributes before opset 10; as inputs, with steps, from 10).
pub fn slice(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let x = ctx.ty(0)?;
    let rank = x.rank() as i64;
    let starts = ctx.ints_attr_or_input(1, "starts")?.unwrap_or_default();
    let ends = ctx.ints_attr_or_input(2, "ends")?.unwrap_or_default();
    let axes =
        ctx.ints_attr_or_input(3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = ctx.const_ints(4, "steps")?.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(ctx.err("starts, ends, axes and steps have different lengths"));
    }
    // Per axis: (start, step, count)
    let mut plan: Vec<(i64, i64, usize)> = x.shape.iter().map(|&d| (0, 1, d)).collect();
    for k in 0..starts.len() {
        let a = axes[k];
        if a < -rank || a >= rank {
            return Err(ctx.err(format!("slice axis {a} out of range for rank {rank}")));
        }
        let a = if a < 0 { a + rank } else { a } as usize;
        let dim = x.shape[a] as i64;
        let step = steps[k];
        if step == 0 {
            return Err(ctx.err("slice step 0"));
        }
        let clamp = |v: i64, lo: i64, hi: i64| v.max(lo).min(hi);
        let norm = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
        let (s, e) = if step > 0 {
            (clamp(norm(starts[k]), 0, dim), clamp(norm(ends[k]), 0, dim))
        } else {
            (clamp(norm(starts[k]), 0, dim - 1), clamp(norm(ends[k]), -1, dim - 1))
        };
        let count = if step > 0 {
            if e > s { (e - s + step - 1) / step } else { 0 }
        } else if s > e {
            (s - e + (-step) - 1) / (-step)
        } else {
            0
        };
        plan[a] = (s, step, count as usize);
    }
    let shape: Vec<usize> = plan.iter().map(|p| p.2).collect();
    if let Some(t) = ctx.data(0).filter(|_| small(&shape)) {
        let st = strides(&x.shape);
        let mut idx = Vec::with_capacity(shape.iter().product());
        for_each_index(&shape, |i| {
            let flat: i64 = i
                .iter()
                .enumerate()
                .map(|(a, &k)| (plan[a].0 + plan[a].1 * k as i64) * st[a] as i64)
                .sum();
            idx.push(flat as usize);
        });
        return Ok(vec![known(take(t, &idx, shape))]);
    }
    Ok(vec![unknown(x.dtype, shape)])
}

fn with_data(ctx: &Ctx, dtype: DType, shape: Vec<usize>) -> Inferred {
    let t = ctx.data(0).filter(|t| t.numel() <= super::MAX_FOLD_ELEMENTS);
    match t.and_then(|t| t.reshaped(shape.clone())) {
        Some(t) => known(t),
        None => unknown(dtype, shape),
    }
}

/// Reshape.
pub fn reshape(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let x = ctx.ty(0)?;
    let spec = ctx.const_ints(1, "shape")?.unwrap_or_default();
    let allowzero = ctx.attr_int("allowzero", 0)? != 0;
    let mut shape = Vec::with_capacity(spec.len());
    let mut infer_at = None;
    for (i, &d) in spec.iter().enumerate() {
        match d {
            -1 if infer_at.is_none() => {
                infer_at = Some(i);
                shape.push(1);
            }
            0 if !allowzero => shape.push(*x.shape.get(i).ok_or_else(|| {
                ctx.err(format!("shape {spec:?} copies axis {i} that the input lacks"))
            })?),
            d if d >= 0 => shape.push(d as usize),
            _ => return Err(ctx.err(format!("invalid target shape {spec:?}"))),
        }
    }
    let n = x.numel();
    if let Some(i) = infer_at {
        let rest = crate::ir::dtype::checked_numel(&shape)
            .ok_or_else(|| ctx.err(format!("target shape {spec:?} is too large")))?;
        if rest == 0 || n % rest != 0 {
            return Err(ctx.err(format!("cannot reshape {:?} to {spec:?}", x.shape)));
        }
        shape[i] = n / rest;
    }
    if crate::ir::dtype::checked_numel(&shape) != Some(n) {
        return Err(ctx.err(format!("cannot reshape {:?} ({n} elements) to {shape:?}", x.shape)));
    }
    Ok(vec![with_data(ctx, x.dtype, shape)])
}

/// Flatten.
pub fn flatten(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let x = ctx.ty(0)?;
    let r = x.rank() as i64;
    let axis = ctx.attr_int("axis", 1)?;
    if axis < -r || axis > r {
        return Err(ctx.attr_error("axis", format!("{axis} out of range for rank {r}")));
    }
    let axis = if axis < 0 { axis + r } else { axis } as usize;
    let shape = vec![x.shape[..axis].iter().product(), x.shape[axis..].iter().product()];
    Ok(vec![with_data(ctx, x.dtype, shape)])
}

/// Transpose.
pub fn transpose(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let x = ctx.ty(0)?;
    let r = x.rank();
    let perm: Vec<usize> = match ctx.attr_ints("perm")? {
        Some(p) => p.iter().map(|&a| ctx.axis(a, r, "perm axis")).collect::<Result<_>>()?,
        None => (0..r).rev().collect(),
    };
    let mut seen = vec![false; r];
    if perm.len() != r || perm.iter().any(|&a| std::mem::replace(&mut seen[a], true)) {
        return Err(ctx.attr_error("perm", format!("{perm:?} is not a permutation of {r} axes")));
    }
    let shape: Vec<usize> = perm.iter().map(|&a| x.shape[a]).collect();
    if let Some(t) = ctx.data(0).filter(|_| small(&shape)) {
        let st = strides(&x.shape);
        let mut idx = Vec::with_capacity(t.numel());
        for_each_index(&shape, |i| {
            idx.push(i.iter().enumerate().map(|(k, &v)| v * st[perm[k]]).sum())
        });
        return Ok(vec![known(take(t, &idx, shape))]);
    }
    Ok(vec![unknown(x.dtype, shape)])
}

/// Squeeze (axes an attribute before opset 13, an input from 13).
pub fn squeeze(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let x = ctx.ty(0)?;
    let axes: Vec<usize> = match ctx.ints_attr_or_input(1, "axes")? {
        Some(a) => a.iter().map(|&a| ctx.axis(a, x.rank(), "axis")).collect::<Result<_>>()?,
        None => (0..x.rank()).filter(|&i| x.shape[i] == 1).collect(),
    };
    for &a in &axes {
        if x.shape[a] != 1 {
            return Err(ctx.err(format!("cannot squeeze axis {a} of size {}", x.shape[a])));
        }
    }
    let shape =
        x.shape.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect();
    Ok(vec![with_data(ctx, x.dtype, shape)])
}

/// Unsqueeze (axes an attribute before opset 13, an input from 13).
pub fn unsqueeze(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let x = ctx.ty(0)?;
    let raw = ctx.ints_attr_or_input(1, "axes")?.ok_or_else(|| ctx.err("axes are required"))?;
    let out_rank = x.rank() + raw.len();
    let mut axes: Vec<usize> =
        raw.iter().map(|&a| ctx.axis(a, out_rank, "axis")).collect::<Result<_>>()?;
    axes.sort_unstable();
    if axes.windows(2).any(|w| w[0] == w[1]) {
        return Err(ctx.err(format!("repeated axes {raw:?}")));
    }
    let mut dims = x.shape.iter();
    let shape = (0..out_rank)
        .map(|i| if axes.contains(&i) { 1 } else { dims.next().copied().unwrap_or(1) })
        .collect();
    Ok(vec![with_data(ctx, x.dtype, shape)])
}

/// Pad (pads and value attributes before opset 11, inputs from 11; axes input from opset 18;
/// mode `wrap` from 19).
pub fn pad(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let x = ctx.ty(0)?;
    let mode = ctx.attr_str("mode", "constant")?;
    if !matches!(mode, "constant" | "reflect" | "edge" | "wrap") {
        return Err(ctx.attr_error("mode", format!("unknown mode '{mode}'")));
    }
    if mode == "wrap" && ctx.opset < 19 {
        return Err(ctx.attr_error(
            "mode",
            format!("'wrap' exists from opset 19, the model has {}", ctx.opset),
        ));
    }
    let pads = ctx.ints_attr_or_input(1, "pads")?.unwrap_or_default();
    let axes: Vec<usize> = match ctx.const_ints(3, "axes")? {
        Some(a) => a.iter().map(|&a| ctx.axis(a, x.rank(), "axis")).collect::<Result<_>>()?,
        None => (0..x.rank()).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return Err(ctx.err(format!(
            "pads has {} values, expected {}",
            pads.len(),
            2 * axes.len()
        )));
    }
    let mut shape: Vec<i64> = x.shape.iter().map(|&d| d as i64).collect();
    let n = axes.len();
    for (k, &a) in axes.iter().enumerate() {
        shape[a] += pads[k] + pads[n + k];
    }
    if shape.iter().any(|&d| d < 0) {
        return Err(ctx.err(format!("pads {pads:?} shrink an axis below zero")));
    }
    Ok(vec![unknown(x.dtype, shape.into_iter().map(|d| d as usize).collect())])
}

/// Expand.
pub fn expand(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let x = ctx.ty(0)?;
    let target = ctx.const_ints(1, "shape")?.unwrap_or_default();
    if target.iter().any(|&d| d < 0) {
        return Err(ctx.err(format!("negative dimension in shape {target:?}")));
    }
    let target: Vec<usize> = target.iter().map(|&d| d as usize).collect();
    let shape = broadcast_shapes(&[&x.shape, &target])
        .ok_or_else(|| ctx.err(format!("{:?} cannot be expanded to {target:?}", x.shape)))?;
    if let Some(t) = ctx.data(0).filter(|_| small(&shape)) {
        let idx = broadcast_indices(&x.shape, &shape);
        return Ok(vec![known(take(t, &idx, shape))]);
    }
    Ok(vec![unknown(x.dtype, shape)])
}

/// Tile.
pub fn tile(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let x = ctx.ty(0)?;
    let reps = ctx.const_ints(1, "repeats")?.unwrap_or_default();
    if reps.len() != x.rank() || reps.iter().any(|&r| r < 0) {
        return Err(ctx.err(format!("repeats {reps:?} do not fit rank {}", x.rank())));
    }
    let shape = x.shape.iter().zip(&reps).map(|(&d, &r)| d * r as usize).collect();
    Ok(vec![unknown(x.dtype, shape)])
}

/// Gather.
pub fn gather(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let x = ctx.ty(0)?;
    let ind = ctx.ty(1)?;
    if !matches!(ind.dtype, DType::I64 | DType::I32) {
        return Err(ctx.err(format!("indices must be int32 or int64, got {}", ind.dtype)));
    }
    let axis = ctx.axis(ctx.attr_int("axis", 0)?, x.rank(), "axis")?;
    let mut shape = x.shape[..axis].to_vec();
    shape.extend(&ind.shape);
    shape.extend(&x.shape[axis + 1..]);
    if let (Some(t), Some(i)) = (ctx.data(0), ctx.data(1))
        && small(&shape)
    {
        let dim = x.shape[axis] as i64;
        let indices: Vec<usize> = i
            .to_i64()
            .iter()
            .map(|&k| {
                let k = if k < 0 { k + dim } else { k };
                if (0..dim).contains(&k) {
                    Ok(k as usize)
                } else {
                    Err(ctx.err(format!("index {k} out of range for axis of size {dim}")))
                }
            })
            .collect::<Result<_>>()?;
        let outer: usize = x.shape[..axis].iter().product();
        let inner: usize = x.shape[axis + 1..].iter().product();
        let mut idx = Vec::with_capacity(shape.iter().product());
        for o in 0..outer {
            for &k in &indices {
                for j in 0..inner {
                    idx.push((o * x.shape[axis] + k) * inner + j);
                }
            }
        }
        return Ok(vec![known(take(t, &idx, shape))]);
    }
    Ok(vec![unknown(x.dtype, shape)])
}

/// GatherND: slices of the data addressed by index tuples after `batch_dims` shared leading
/// dimensions; the value when data and indices are known.
pub fn gather_nd(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let x = ctx.ty(0)?;
    let ind = ctx.ty(1)?;
    if ind.dtype != DType::I64 {
        return Err(ctx.err(format!("indices must be int64, got {}", ind.dtype)));
    }
    let b = usize::try_from(ctx.attr_int("batch_dims", 0)?)
        .map_err(|_| ctx.attr_error("batch_dims", "must not be negative"))?;
    let m = match ind.shape.last() {
        Some(&m) if b < ind.rank() && b + m <= x.rank() => m,
        _ => {
            return Err(ctx.err(format!(
                "indices {:?} with batch_dims {b} do not fit data {:?}",
                ind.shape, x.shape
            )));
        }
    };
    if x.shape[..b] != ind.shape[..b] {
        return Err(ctx.err(format!(
            "the {b} batch dimensions differ: data {:?}, indices {:?}",
            x.shape, ind.shape
        )));
    }
    let shape = gather_nd_shape(&x.shape, &ind.shape, b);
    if let (Some(t), Some(i)) = (ctx.data(0), ctx.data(1))
        && small(&shape)
    {
        let rows = nd_rows(&x.shape, &i.to_i64(), &ind.shape, b).map_err(|e| ctx.err(e))?;
        let slice: usize = x.shape[b + m..].iter().product();
        let idx: Vec<usize> = rows.iter().flat_map(|&r| r * slice..(r + 1) * slice).collect();
        return Ok(vec![known(take(t, &idx, shape))]);
    }
    Ok(vec![unknown(x.dtype, shape)])
}

/// ScatterND: the data's type and shape; the value when data, indices and updates are known
/// (exporters build attention masks this way, e.g. Swin's shifted windows).
pub fn scatter_nd(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let x = ctx.ty(0)?;
    let ind = ctx.ty(1)?;
    let upd = ctx.ty(2)?;
    if ind.dtype != DType::I64 {
        return Err(ctx.err(format!("indices must be int64, got {}", ind.dtype)));
    }
    if upd.dtype != x.dtype {
        return Err(ctx.err(format!("updates are {}, data is {}", upd.dtype, x.dtype)));
    }
    let k = match ind.shape.last() {
        Some(&k) if (1..=x.rank()).contains(&k) => k,
        _ => {
            return Err(ctx.err(format!(
                "indices {:?} must end in a dimension of 1 to {} (the data's rank)",
                ind.shape,
                x.rank()
            )));
        }
    };
    let mut want = ind.shape[..ind.rank() - 1].to_vec();
    want.extend(&x.shape[k..]);
    if upd.shape != want {
        return Err(ctx.err(format!("updates {:?} should be {want:?}", upd.shape)));
    }
    let reduction = ctx.attr_str("reduction", "none")?;
    let combine: fn(f64, f64) -> f64 = match reduction {
        "none" => |_, u| u,
        "add" => |a, u| a + u,
        "mul" => |a, u| a * u,
        "max" => f64::max,
        "min" => f64::min,
        other => return Err(ctx.attr_error("reduction", format!("unknown reduction '{other}'"))),
    };
    if let (Some(d), Some(i), Some(u)) = (ctx.data(0), ctx.data(1), ctx.data(2))
        && small(&x.shape)
    {
        let slice: usize = x.shape[k..].iter().product();
        let rows = nd_rows(&x.shape, &i.to_i64(), &ind.shape, 0).map_err(|m| ctx.err(m))?;
        let offsets: Vec<usize> = rows.iter().map(|&r| r * slice).collect();
        let apply = |out: &mut Vec<f64>, upd: &[f64]| {
            for (r, &off) in offsets.iter().enumerate() {
                for e in 0..slice {
                    out[off + e] = combine(out[off + e], upd[r * slice + e]);
                }
            }
        };
        let data = if x.dtype.is_float() {
            let mut out = d.to_f64();
            apply(&mut out, &u.to_f64());
            from_f64(x.dtype, out)
        } else {
            let mut out: Vec<f64> = d.to_i64().iter().map(|&v| v as f64).collect();
            let upd: Vec<f64> = u.to_i64().iter().map(|&v| v as f64).collect();
            apply(&mut out, &upd);
            from_i64(x.dtype, out.iter().map(|&v| v as i64).collect())
        };
        return Ok(vec![known(Tensor { shape: x.shape.clone(), data })]);
    }
    Ok(vec![unknown(x.dtype, x.shape.clone())])
}

/// Shape: always statically known.
pub fn shape(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let x = ctx.ty(0)?;
    let r = x.rank() as i64;
    let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let start = clamp(ctx.attr_int("start", 0)?);
    let end = clamp(ctx.attr_int("end", r)?);
    let dims: Vec<i64> = x.shape[start..end.max(start)].iter().map(|&d| d as i64).collect();
    Ok(vec![known(Tensor::i64_vec(dims))])
}

/// Size: always statically known.
pub fn size(ctx: &Ctx) -> Result<Vec<Inferred>> {
    Ok(vec![known(Tensor::i64_scalar(ctx.ty(0)?.numel() as i64))])
}

/// Constant: the value from its single attribute.
pub fn constant(ctx: &Ctx) -> Result<Vec<Inferred>> {
    if ctx.attrs.len() != 1 {
        return Err(ctx.err("needs exactly one value attribute"));
    }
    let t = match ctx.attrs.iter().next() {
        Some((_, Attr::Tensor(t))) => t.clone(),
        Some((_, Attr::Float(f))) => Tensor::f32_scalar(*f),
        Some((_, Attr::Floats(f))) => Tensor::f32([f.len()], f.clone()),
        Some((_, Attr::Int(i))) => Tensor::i64_scalar(*i),
        Some((_, Attr::Ints(i))) => Tensor::i64_vec(i.clone()),
        Some((name, a)) => {
            return Err(ctx.attr_error(name, format!("unexpected kind {}", a.kind())));
        }
        None => return Err(ctx.err("needs a value attribute")),
    };
    // Constants always keep their value, however large: they are the graph's data.
    let ty = t.ty();
    Ok(vec![(ty, Some(t))])
}

/// ConstantOfShape.
pub fn constant_of_shape(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let dims = ctx.const_ints(0, "shape")?.unwrap_or_default();
    if dims.iter().any(|&d| d < 0) {
        return Err(ctx.err(format!("negative dimension in {dims:?}")));
    }
    let shape: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
    let (dtype, value) = match ctx.attr_tensor("value")? {
        None => (DType::F32, 0.0),
        Some(t) if t.numel() == 1 => (t.dtype(), t.to_f64()[0]),
        Some(_) => return Err(ctx.attr_error("value", "must be a one-element tensor")),
    };
    if small(&shape) {
        return Ok(vec![known(Tensor::full(dtype, shape, value))]);
    }
    Ok(vec![unknown(dtype, shape)])
}

/// Range.
pub fn range(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let dtype = ctx.ty(0)?.dtype;
    let (Some(start), Some(limit), Some(delta)) = (ctx.data(0), ctx.data(1), ctx.data(2)) else {
        return Err(ctx.err("start, limit and delta must be constants or computable from shapes"));
    };
    let scalar = |t: &Tensor| t.to_f64().first().copied();
    let (Some(s), Some(l), Some(d)) = (scalar(start), scalar(limit), scalar(delta)) else {
        return Err(ctx.err("start, limit and delta must each hold one value"));
    };
    if d == 0.0 {
        return Err(ctx.err("delta is 0"));
    }
    let n = ((l - s) / d).ceil().max(0.0) as usize;
    if n > super::MAX_FOLD_ELEMENTS {
        // Too long to compute here; the tensor limit judges its size.
        return Ok(vec![unknown(dtype, vec![n])]);
    }
    let t = if dtype.is_float() {
        Tensor { shape: vec![n], data: from_f64(dtype, (0..n).map(|i| s + d * i as f64).collect()) }
    } else {
        let (s, d) = (start.to_i64()[0], delta.to_i64()[0]);
        Tensor { shape: vec![n], data: from_i64(dtype, (0..n as i64).map(|i| s + d * i).collect()) }
    };
    Ok(vec![known(t)])
}
