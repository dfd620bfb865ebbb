//! AveragePool, MaxPool (2-D) and GlobalAveragePool.
//!
//! Both pools scatter their gradient back with a grouped ConvTranspose: AveragePool with an
//! all-ones kernel after dividing dY by each window's count (a stride-1 AveragePool with the
//! equivalent window sum, itself an AveragePool run per channel, 3-10 times faster on ONNX
//! Runtime's CPU provider), MaxPool with a
//! one-hot kernel after masking each window's maximum (found through an im2col of the input,
//! padding excluded). A MaxPool window whose maximum is tied passes the gradient to the first
//! maximal position in row-major window order, as PyTorch does; the values are compared as they
//! are, with no shift that could round nearly equal values into ties.

use super::RuleCtx;
use crate::error::Result;
use crate::ir::infer::SpatialParams;
use crate::ir::{Attr, NodeAttrs, OpType, Tensor, ValueId};

/// Pads (begin..., end...) and output_padding for a ConvTranspose that maps the pooled grid back
/// to the input size, also when ceil_mode made the last window overhang.
fn scatter_pads(sp: &SpatialParams, input: &[usize]) -> (Vec<i64>, Vec<i64>) {
    let mut pads: Vec<i64> = sp.pads_begin.iter().map(|&p| p as i64).collect();
    let mut ends = Vec::new();
    let mut out_pad = Vec::new();
    for i in 0..input.len() {
        let reach = ((sp.output[i] - 1) * sp.strides[i] + sp.kernel[i]) as i64;
        let pe = reach - sp.pads_begin[i] as i64 - input[i] as i64;
        if pe >= 0 {
            ends.push(pe);
            out_pad.push(0);
        } else {
            ends.push(0);
            out_pad.push(-pe);
        }
    }
    pads.extend(ends);
    (pads, out_pad)
}

fn resolve(c: &RuleCtx, xs: &[usize]) -> Result<SpatialParams> {
    if xs.len() != 4 {
        return Err(c.err("only 2-D pools are differentiated"));
    }
    if super::pool_nd::dilated(c)? {
        return Err(c.err("dilated pools are not differentiated"));
    }
    SpatialParams::resolve(c, &xs[2..], None, c.attr_int("ceil_mode", 0)? != 0)
}

fn scatter(
    c: &mut RuleCtx,
    name: &str,
    d: ValueId,
    kernel: ValueId,
    ch: usize,
    sp: &SpatialParams,
    xs: &[usize],
) -> Result<ValueId> {
    let (pads, out_pad) = scatter_pads(sp, &xs[2..]);
    c.e.op(
        OpType::ConvTranspose,
        name,
        &[d, kernel],
        vec![
            ("strides", Attr::Ints(sp.strides.iter().map(|&s| s as i64).collect())),
            ("pads", Attr::Ints(pads)),
            ("output_padding", Attr::Ints(out_pad)),
            ("group", Attr::Int(ch as i64)),
        ],
    )
}

/// AveragePool.
pub fn average_pool(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let g = c.g()?;
    let xs = c.shape(c.x(0)?);
    let sp = resolve(c, &xs)?;
    let include_pad = c.attr_int("count_include_pad", 0)? != 0;
    let (h, w) = (xs[2] as i64, xs[3] as i64);
    let (ho, wo) = (sp.output[0], sp.output[1]);
    let mut inv = Vec::with_capacity(ho * wo);
    for oy in 0..ho {
        for ox in 0..wo {
            let span = |o: usize, i: usize, size: i64| {
                let start = (o * sp.strides[i]) as i64 - sp.pads_begin[i] as i64;
                let end = start + sp.kernel[i] as i64;
                let (lo, hi) = if include_pad {
                    (-(sp.pads_begin[i] as i64), size + sp.pads_end[i] as i64)
                } else {
                    (0, size)
                };
                (end.min(hi) - start.max(lo)).max(0)
            };
            let count = span(oy, 0, h) * span(ox, 1, w);
            inv.push(if count > 0 { 1.0 / count as f32 } else { 0.0 });
        }
    }
    let ch = xs[1];
    let kk = sp.kernel[0] * sp.kernel[1];
    if let Some(pads) = stride_one_sum_pads(&sp, &xs[2..]) {
        // The all-ones kernel is its own flip, so the scatter is a stride-1 window sum: an
        // AveragePool counting the padding (which divides by k², hence dY·k²/count), run per
        // channel over (N·C, 1, H, W) so that ONNX Runtime's CPU provider pools in place
        // instead of reordering into and out of its blocked channel layout.
        let scaled: Vec<f32> = inv.iter().map(|&v| v * kk as f32).collect();
        let invc = c.e.tensor("k2_over_count", Tensor::f32([1, 1, ho, wo], scaled))?;
        let gs = c.e.mul("g_scaled", g, invc)?;
        let flat = c.e.reshape("g_per_channel", gs, &[xs[0] * ch, 1, ho, wo])?;
        let kernel = sp.kernel.iter().map(|&k| k as i64).collect();
        let attrs = vec![
            ("kernel_shape", Attr::Ints(kernel)),
            ("pads", Attr::Ints(pads)),
            ("count_include_pad", Attr::Int(1)),
        ];
        let summed = c.e.op(OpType::AveragePool, "window_sum", &[flat], attrs)?;
        return Ok(vec![Some(c.e.reshape("dx", summed, &xs)?)]);
    }
    let invc = c.e.tensor("inv_count", Tensor::f32([1, 1, ho, wo], inv))?;
    let gs = c.e.mul("g_scaled", g, invc)?;
    let ones = c.e.tensor(
        "ones_kernel",
        Tensor::f32([ch, 1, sp.kernel[0], sp.kernel[1]], vec![1.0; ch * kk]),
    )?;
    Ok(vec![Some(scatter(c, "dx", gs, ones, ch, &sp, &xs)?)])
}

/// Pads of the stride-1 Conv that equals the scatter's ConvTranspose (with the kernel flipped):
/// `kernel - 1 - pad` on each side, the output padding added at the end; `None` for a strided
/// pool, or where a pad would be negative.
fn stride_one_sum_pads(sp: &SpatialParams, input: &[usize]) -> Option<Vec<i64>> {
    if sp.strides.iter().any(|&s| s != 1) {
        return None;
    }
    let (pads, out_pad) = scatter_pads(sp, input);
    let n = input.len();
    let reach = |i: usize| sp.kernel[i] as i64 - 1;
    let begins = (0..n).map(|i| reach(i) - pads[i]);
    let ends = (0..n).map(|i| reach(i) - pads[n + i] + out_pad[i]);
    let conv_pads: Vec<i64> = begins.chain(ends).collect();
    conv_pads.iter().all(|&p| p >= 0).then_some(conv_pads)
}

/// MaxPool.
pub fn max_pool(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    if c.gy.get(1).copied().flatten().is_some() {
        return Err(c.err("the Indices output has no gradient"));
    }
    let g = c.g()?;
    let x = c.x(0)?;
    let xs = c.shape(x);
    let sp = resolve(c, &xs)?;
    let (n, ch) = (xs[0], xs[1]);
    let (kh, kw) = (sp.kernel[0], sp.kernel[1]);
    let kk = kh * kw;
    let (ho, wo) = (sp.output[0], sp.output[1]);
    let mut onehot = vec![0f32; ch * kk * kk];
    for cc in 0..ch {
        for t in 0..kk {
            onehot[(cc * kk + t) * kk + t] = 1.0;
        }
    }
    let kernel = c.e.tensor("onehot_kernel", Tensor::f32([ch * kk, 1, kh, kw], onehot))?;
    let (pads, _) = scatter_pads(&sp, &xs[2..]);
    let cols = c.e.op(
        OpType::Conv,
        "im2col",
        &[x, kernel],
        vec![
            ("strides", Attr::Ints(sp.strides.iter().map(|&s| s as i64).collect())),
            ("pads", Attr::Ints(pads)),
            ("group", Attr::Int(ch as i64)),
        ],
    )?;
    let cols = c.e.reshape("windows", cols, &[n, ch, kk, ho, wo])?;
    // Window taps that fall on padding can never be the maximum: −∞ there, 0 elsewhere.
    let (h, w) = (xs[2] as i64, xs[3] as i64);
    let mut penalty = Vec::with_capacity(kk * ho * wo);
    for ky in 0..kh {
        for kx in 0..kw {
            for oy in 0..ho {
                for ox in 0..wo {
                    let iy = (oy * sp.strides[0] + ky) as i64 - sp.pads_begin[0] as i64;
                    let ix = (ox * sp.strides[1] + kx) as i64 - sp.pads_begin[1] as i64;
                    let inside = (0..h).contains(&iy) && (0..w).contains(&ix);
                    penalty.push(if inside { 0.0 } else { f32::NEG_INFINITY });
                }
            }
        }
    }
    let penalty = c.e.tensor("padding_penalty", Tensor::f32([1, 1, kk, ho, wo], penalty))?;
    let cols = c.e.add("windows_unpadded", cols, penalty)?;
    let m = c.e.reduce_max("window_max", cols, &[2], true)?;
    let is_max = c.e.op(OpType::Equal, "is_max", &[cols, m], vec![])?;
    // The first maximal tap of each window: the smallest tap index among the maxima.
    let taps = c
        .e
        .tensor("tap_index", Tensor::f32([1, 1, kk, 1, 1], (0..kk).map(|t| t as f32).collect()))?;
    let beyond = c.e.scalar(kk as f32)?;
    let index = c.e.op(OpType::Where, "max_tap_index", &[is_max, taps, beyond], vec![])?;
    let first = c.e.reduce_min("first_max_tap", index, &[2], true)?;
    let chosen = c.e.op(OpType::Equal, "is_first_max", &[taps, first], vec![])?;
    let axes = c.e.ints(&[2])?;
    let g5 = c.e.op(OpType::Unsqueeze, "g_windows", &[g, axes], vec![])?;
    let zero = c.e.scalar(0.0)?;
    let d = c.e.op(OpType::Where, "masked", &[chosen, g5, zero], vec![])?;
    let d = c.e.reshape("masked_cols", d, &[n, ch * kk, ho, wo])?;
    Ok(vec![Some(scatter(c, "dx", d, kernel, ch, &sp, &xs)?), None])
}

/// GlobalAveragePool: dY spread evenly over the positions.
pub fn global_average_pool(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let g = c.g()?;
    let xs = c.shape(c.x(0)?);
    let count: usize = xs[2..].iter().product();
    let s = c.e.scale("g_scaled", g, 1.0 / count as f32)?;
    Ok(vec![Some(c.e.expand("dx", s, &xs)?)])
}

#[cfg(test)]
mod tests {
    use super::stride_one_sum_pads;
    use crate::ir::infer::SpatialParams;

    fn params(kernel: usize, stride: usize, pads: [usize; 2], output: usize) -> SpatialParams {
        SpatialParams {
            kernel: vec![kernel; 2],
            strides: vec![stride; 2],
            dilations: vec![1; 2],
            pads_begin: vec![pads[0]; 2],
            pads_end: vec![pads[1]; 2],
            output: vec![output; 2],
        }
    }

    #[test]
    fn a_stride_one_scatter_is_a_conv_padded_by_the_kernel_reach_less_the_pad() {
        // 3x3, pad 1, on 8x8: the gradient map is padded by 1 like the forward.
        assert_eq!(stride_one_sum_pads(&params(3, 1, [1, 1], 8), &[8, 8]), Some(vec![1; 4]));
        // 2x2 without padding: 7x7 outputs spread back onto 8x8 need a pad of 1 all round.
        assert_eq!(stride_one_sum_pads(&params(2, 1, [0, 0], 7), &[8, 8]), Some(vec![1; 4]));
        // 5x5 padded by 2 at the start only: the Conv pads 4 - 2 at the start, 4 - 0 at the end.
        assert_eq!(stride_one_sum_pads(&params(5, 1, [2, 0], 6), &[8, 8]), Some(vec![2, 2, 4, 4]));
        // Strided pools keep the ConvTranspose.
        assert_eq!(stride_one_sum_pads(&params(3, 2, [1, 1], 4), &[8, 8]), None);
    }
}
