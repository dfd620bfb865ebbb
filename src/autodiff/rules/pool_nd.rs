//! AveragePool and MaxPool over any number of spatial axes (1-D, 2-D, 3-D), with dilations,
//! strides, pads, `auto_pad` and `ceil_mode`. The undilated 2-D pools go to `pool.rs` (from opset
//! 13 for MaxPool, whose 2-D rule emits opset-13 forms); everything else comes here.
//!
//! Both scatter their gradient back with a grouped ConvTranspose whose geometry is the forward's:
//! AveragePool with an all-ones kernel after dividing dY by each window's count, MaxPool with a
//! one-hot kernel after keeping, in each window, the first position (in row-major window order)
//! that holds the maximum, as PyTorch does. The windows are read through an im2col (a grouped
//! convolution with the same one-hot kernel) of the input, with −∞ added at the taps that fall on
//! padding so that padding never wins a window.

use super::RuleCtx;
use super::pool;
use crate::error::Result;
use crate::ir::infer::SpatialParams;
use crate::ir::{Attr, NodeAttrs, OpType, Tensor, ValueId};

/// AveragePool: 2-D undilated pools take the 2-D rule, the others the N-D one.
pub fn average_pool(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let xs = c.shape(c.x(0)?);
    if xs.len() == 4 && !dilated(c)? {
        return pool::average_pool(c);
    }
    average_pool_nd(c)
}

/// MaxPool: 2-D undilated pools from opset 13 take the 2-D rule, the others the N-D one.
pub fn max_pool(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let xs = c.shape(c.x(0)?);
    if xs.len() == 4 && !dilated(c)? && c.e.opset() >= 13 {
        return pool::max_pool(c);
    }
    max_pool_nd(c)
}

/// Whether the pool has a dilation other than 1.
pub(super) fn dilated(c: &RuleCtx) -> Result<bool> {
    Ok(c.attr_ints("dilations")?.is_some_and(|d| d.iter().any(|&v| v != 1)))
}

/// The forward's geometry, resolved for the input's spatial shape.
fn geometry(c: &RuleCtx, xs: &[usize]) -> Result<SpatialParams> {
    if xs.len() < 3 {
        return Err(c.err(format!("pool input must have rank >= 3, got {xs:?}")));
    }
    SpatialParams::resolve(c, &xs[2..], None, c.attr_int("ceil_mode", 0)? != 0)
}

/// Pads (begin..., end...) and output_padding of a ConvTranspose (or an im2col Conv: its pads
/// are the same) that maps the pooled grid back onto the input, also where ceil_mode made the
/// last window overhang the end padding or where trailing input positions are in no window.
fn scatter_pads(sp: &SpatialParams, input: &[usize]) -> (Vec<i64>, Vec<i64>) {
    let mut pads: Vec<i64> = sp.pads_begin.iter().map(|&p| p as i64).collect();
    let mut ends = Vec::with_capacity(input.len());
    let mut out_pad = Vec::with_capacity(input.len());
    for i in 0..input.len() {
        let reach =
            ((sp.output[i] - 1) * sp.strides[i] + (sp.kernel[i] - 1) * sp.dilations[i] + 1) as i64;
        let pe = reach - sp.pads_begin[i] as i64 - input[i] as i64;
        ends.push(pe.max(0));
        out_pad.push((-pe).max(0));
    }
    pads.extend(ends);
    (pads, out_pad)
}

fn to_i64(v: &[usize]) -> Vec<i64> {
    v.iter().map(|&x| x as i64).collect()
}

/// The grouped ConvTranspose that adds each window's values back onto the input positions
/// `kernel` maps them to.
fn scatter(
    c: &mut RuleCtx,
    d: ValueId,
    kernel: ValueId,
    ch: usize,
    sp: &SpatialParams,
    xs: &[usize],
) -> Result<ValueId> {
    let (pads, out_pad) = scatter_pads(sp, &xs[2..]);
    c.e.op(
        OpType::ConvTranspose,
        "dx",
        &[d, kernel],
        vec![
            ("strides", Attr::Ints(to_i64(&sp.strides))),
            ("dilations", Attr::Ints(to_i64(&sp.dilations))),
            ("pads", Attr::Ints(pads)),
            ("output_padding", Attr::Ints(out_pad)),
            ("group", Attr::Int(ch as i64)),
        ],
    )
}

/// Row-major multi-indices of `shape`.
fn multi_indices(shape: &[usize]) -> Vec<Vec<usize>> {
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..n {
        out.push(idx.clone());
        for ax in (0..shape.len()).rev() {
            idx[ax] += 1;
            if idx[ax] < shape[ax] {
                break;
            }
            idx[ax] = 0;
        }
    }
    out
}

/// Number of taps of window `o` on spatial axis `i` that the average divides by: those inside
/// the input, or with `count_include_pad` inside the input and its explicit padding (taps in a
/// ceil_mode overhang beyond the padding never count).
fn taps_counted(sp: &SpatialParams, i: usize, o: usize, size: usize, include_pad: bool) -> usize {
    let start = (o * sp.strides[i]) as i64 - sp.pads_begin[i] as i64;
    let (lo, hi) = if include_pad {
        (-(sp.pads_begin[i] as i64), (size + sp.pads_end[i]) as i64)
    } else {
        (0, size as i64)
    };
    (0..sp.kernel[i])
        .filter(|&j| (lo..hi).contains(&(start + (j * sp.dilations[i]) as i64)))
        .count()
}

/// AveragePool of any spatial rank: dY divided by each window's count, scattered back with an
/// all-ones kernel.
fn average_pool_nd(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let g = c.g()?;
    let xs = c.shape(c.x(0)?);
    let sp = geometry(c, &xs)?;
    let include_pad = c.attr_int("count_include_pad", 0)? != 0;
    let nd = xs.len() - 2;
    let inv: Vec<f32> = multi_indices(&sp.output)
        .iter()
        .map(|o| {
            let count: usize =
                (0..nd).map(|i| taps_counted(&sp, i, o[i], xs[2 + i], include_pad)).product();
            if count > 0 { 1.0 / count as f32 } else { 0.0 }
        })
        .collect();
    let mut inv_shape = vec![1, 1];
    inv_shape.extend(&sp.output);
    let invc = c.e.tensor("inv_count", Tensor::f32(inv_shape, inv))?;
    let gs = c.e.mul("g_scaled", g, invc)?;
    let ch = xs[1];
    let kk: usize = sp.kernel.iter().product();
    let mut kshape = vec![ch, 1];
    kshape.extend(&sp.kernel);
    let ones = c.e.tensor("ones_kernel", Tensor::f32(kshape, vec![1.0; ch * kk]))?;
    Ok(vec![Some(scatter(c, gs, ones, ch, &sp, &xs)?)])
}

/// MaxPool of any spatial rank, dilated or not; dY goes to the first maximum of each window.
/// The Indices output (integer) has no gradient.
/// `(1, 1, taps, positions)`: −∞ where a window tap falls on padding, 0 where on the input.
fn padding_penalty(sp: &SpatialParams, input: &[usize], kk: usize, p: usize) -> Tensor {
    let rank = input.len();
    let mut v = Vec::with_capacity(kk * p);
    for t in 0..kk {
        // Tap t in row-major order over the kernel's axes.
        let mut tap = vec![0usize; rank];
        let mut r = t;
        for i in (0..rank).rev() {
            tap[i] = r % sp.kernel[i];
            r /= sp.kernel[i];
        }
        for o in 0..p {
            let mut pos = vec![0usize; rank];
            let mut r = o;
            for i in (0..rank).rev() {
                pos[i] = r % sp.output[i];
                r /= sp.output[i];
            }
            let inside = (0..rank).all(|i| {
                let at = (pos[i] * sp.strides[i] + tap[i] * sp.dilations[i]) as i64
                    - sp.pads_begin[i] as i64;
                (0..input[i] as i64).contains(&at)
            });
            v.push(if inside { 0.0 } else { f32::NEG_INFINITY });
        }
    }
    Tensor::f32([1, 1, kk, p], v)
}

fn max_pool_nd(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let g = c.g()?;
    let x = c.x(0)?;
    let xs = c.shape(x);
    let sp = geometry(c, &xs)?;
    let (n, ch) = (xs[0], xs[1]);
    let kk: usize = sp.kernel.iter().product();
    let p: usize = sp.output.iter().product();
    let one = c.e.scalar(1.0)?;
    // Output channel c·kk + t of the im2col copies window tap t of channel c.
    let mut onehot = vec![0f32; ch * kk * kk];
    for cc in 0..ch {
        for t in 0..kk {
            onehot[(cc * kk + t) * kk + t] = 1.0;
        }
    }
    let mut kshape = vec![ch * kk, 1];
    kshape.extend(&sp.kernel);
    let kernel = c.e.tensor("onehot_kernel", Tensor::f32(kshape, onehot))?;
    let (pads, _) = scatter_pads(&sp, &xs[2..]);
    let cols = c.e.op(
        OpType::Conv,
        "im2col",
        &[x, kernel],
        vec![
            ("strides", Attr::Ints(to_i64(&sp.strides))),
            ("dilations", Attr::Ints(to_i64(&sp.dilations))),
            ("pads", Attr::Ints(pads)),
            ("group", Attr::Int(ch as i64)),
        ],
    )?;
    let cols = c.e.reshape("windows", cols, &[n, ch, kk, p])?;
    // Taps on padding can never be the maximum: −∞ there, 0 elsewhere. (The values are compared
    // as they are: shifting them to keep the zero padding from winning would round nearly equal
    // small values into ties.)
    let penalty = c.e.tensor("padding_penalty", padding_penalty(&sp, &xs[2..], kk, p))?;
    let cols = c.e.add("windows_unpadded", cols, penalty)?;
    let m = c.e.reduce_max("window_max", cols, &[2], true)?;
    // is_max = 1 − (x < max), so no float Equal (opset 11) is needed.
    let below = c.e.op(OpType::Less, "below_max", &[cols, m], vec![])?;
    let below = c.e.cast_f32("below_max_f", below)?;
    let is_max = c.e.sub("is_max", one, below)?;
    // Maxima before each tap in window order: a MatMul with the strictly lower triangle.
    let mut lower = vec![0f32; kk * kk];
    for t in 0..kk {
        for s in 0..t {
            lower[t * kk + s] = 1.0;
        }
    }
    let lower = c.e.tensor("earlier_taps", Tensor::f32([kk, kk], lower))?;
    let earlier = c.e.op(OpType::MatMul, "maxima_before", &[lower, is_max], vec![])?;
    let half = c.e.scalar(0.5)?;
    let none_before = c.e.op(OpType::Less, "none_before", &[earlier, half], vec![])?;
    let none_before = c.e.cast_f32("none_before_f", none_before)?;
    let first = c.e.mul("first_max", is_max, none_before)?;
    let g4 = c.e.reshape("g_windows", g, &[n, ch, 1, p])?;
    let d = c.e.mul("masked", first, g4)?;
    let mut cols_shape = vec![n, ch * kk];
    cols_shape.extend(&sp.output);
    let d = c.e.reshape("masked_cols", d, &cols_shape)?;
    let mut out = vec![None; c.inputs.len()];
    out[0] = Some(scatter(c, d, kernel, ch, &sp, &xs)?);
    Ok(out)
}
