//! Conv (2-D; strides, pads, dilations, groups including depthwise).
//!
//! Formulations measured fastest on ONNX Runtime's CPU provider (NAS-Bench-201's dense cell,
//! batch 64, float32, 2 threads):
//! - dX, stride 1: a convolution of dY with the flipped, group-transposed weight (ONNX Runtime
//!   folds the weight transform at session creation); stride > 1: ConvTranspose.
//! - dW: im2col by a depthwise convolution with a constant one-hot kernel, then a batched MatMul
//!   with dY summed over the batch (2-3x faster than the transposed-convolution trick); a 1x1
//!   stride-1 unpadded convolution uses X itself. Small output maps (≤ 128 positions) lay the
//!   im2col out as `(Ci·k², N·P)` instead (a 3-D im2col with the batch as a spatial axis) for one
//!   GEMM over all samples, which beats the short per-sample MatMuls there.
//! - dB: sum of dY over batch and positions.
//!
//! Sibling convolutions (same input, same geometry, `group = 1`; the edges leaving one
//! NAS-Bench-201 node) can be differentiated together ([`conv_group`]): their output gradients are
//! concatenated along channels once, then one convolution gives the summed dX (the weights'
//! transforms concatenated, folded at session creation) and one MatMul over the shared im2col gives
//! every dW. The im2col is read once instead of once per sibling, and the dX sum disappears.

use super::RuleCtx;
use crate::autodiff::emit::Emitter;
use crate::error::{Error, Result};
use crate::ir::infer::conv_geometry;
use crate::ir::{Attr, Node, NodeAttrs, OpType, Tensor, ValueId};

/// One convolution's part in a (possibly shared) backward.
pub struct ConvUse<'a> {
    /// The forward node.
    pub node: &'a Node,
    /// Its weight in the training graph.
    pub w: ValueId,
    /// The gradient of its output.
    pub g: ValueId,
    /// Whether the weight needs a gradient.
    pub need_w: bool,
    /// Whether the bias needs a gradient.
    pub need_b: bool,
}

/// Gradients from [`conv_group`]: the summed input gradient and each use's weight and bias
/// gradients.
pub struct ConvGrads {
    /// Σ over the uses of dX (if requested).
    pub dx: Option<ValueId>,
    /// Per use: dW, dB.
    pub per_use: Vec<(Option<ValueId>, Option<ValueId>)>,
}

/// Conv.
pub fn conv(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let one = ConvUse { node: c.node, w: c.x(1)?, g: c.g()?, need_w: c.need(1), need_b: c.need(2) };
    let x = c.x(0)?;
    let r = conv_group(c.e, x, c.need(0), &[one])?;
    let mut out = vec![None; c.inputs.len()];
    out[0] = r.dx;
    let (dw, db) = r.per_use[0];
    out[1] = dw;
    if out.len() > 2 {
        out[2] = db;
    }
    Ok(out)
}

/// The backward of convolutions that all read `x` with the same geometry (one use: a plain
/// convolution; several: `group = 1` and equal attributes and weight shapes but for the output
/// channels, which the caller guarantees).
pub fn conv_group(
    e: &mut Emitter,
    x: ValueId,
    need_x: bool,
    uses: &[ConvUse],
) -> Result<ConvGrads> {
    let first =
        uses.first().ok_or_else(|| Error::InvalidModel("empty convolution group".into()))?;
    let err = |reason: String| {
        Error::node(&first.node.name, OpType::Conv, format!("cannot differentiate: {reason}"))
    };
    let xs = e.shape(x);
    let ws = e.shape(first.w);
    if xs.len() != 4 {
        return Err(err("only 2-D convolutions are differentiated".into()));
    }
    let geo = conv_geometry(first.node, &xs, &ws)?;
    let sp = &geo.spatial;
    let groups = geo.group;
    if uses.len() > 1 && groups != 1 {
        return Err(err("only group = 1 convolutions are differentiated together".into()));
    }
    let (n, ci) = (geo.batch, geo.in_channels);
    let cos: Vec<usize> = uses.iter().map(|u| e.shape(u.w)[0]).collect();
    let co: usize = cos.iter().sum();
    let (kh, kw) = (sp.kernel[0], sp.kernel[1]);
    let (ho, wo) = (sp.output[0], sp.output[1]);
    let pads_all: Vec<i64> = sp.pads_begin.iter().chain(&sp.pads_end).map(|&p| p as i64).collect();
    let strides: Vec<i64> = sp.strides.iter().map(|&s| s as i64).collect();
    let dilations: Vec<i64> = sp.dilations.iter().map(|&d| d as i64).collect();

    // The output gradients side by side along channels.
    let d = if uses.len() == 1 {
        first.g
    } else {
        let gs: Vec<ValueId> = uses.iter().map(|u| u.g).collect();
        e.op(OpType::Concat, "dy_siblings", &gs, vec![("axis", Attr::Int(1))])?
    };
    let mut per_use: Vec<(Option<ValueId>, Option<ValueId>)> = vec![(None, None); uses.len()];
    for (k, u) in uses.iter().enumerate() {
        if u.need_b {
            per_use[k].1 = Some(e.reduce_sum("db", u.g, &[0, 2, 3], false)?);
        }
    }

    let mut dx = None;
    if need_x {
        let stride1 = sp.strides.iter().all(|&s| s == 1);
        let eff: Vec<usize> = (0..2).map(|i| sp.dilations[i] * (sp.kernel[i] - 1)).collect();
        let fits = (0..2).all(|i| sp.pads_begin[i] <= eff[i] && sp.pads_end[i] <= eff[i]);
        // The flipped weight needs Slice with steps (opset 10); before, the ConvTranspose form.
        dx = Some(if stride1 && fits && e.opset() >= 10 {
            // Weight (Co, Ci/g, kh, kw) → (Ci, Co/g, kh, kw), spatially flipped; siblings'
            // flipped weights side by side along the (Co) input channels of this convolution.
            let mut flipped = Vec::with_capacity(uses.len());
            for (u, &cu) in uses.iter().zip(&cos) {
                let w5 = e.reshape("w_groups", u.w, &[groups, cu / groups, ci / groups, kh, kw])?;
                let wt = e.transpose("w_t", w5, &[0, 2, 1, 3, 4])?;
                let wt = e.reshape("w_t4", wt, &[ci, cu / groups, kh, kw])?;
                let starts = e.ints(&[-1, -1])?;
                let ends = e.ints(&[i64::MIN, i64::MIN])?;
                let axes = e.ints(&[2, 3])?;
                let steps = e.ints(&[-1, -1])?;
                let slice_inputs = [wt, starts, ends, axes, steps];
                flipped.push(e.op(OpType::Slice, "w_flip", &slice_inputs, vec![])?);
            }
            let wf = if flipped.len() == 1 {
                flipped[0]
            } else {
                e.op(OpType::Concat, "w_flip_siblings", &flipped, vec![("axis", Attr::Int(1))])?
            };
            let pads: Vec<i64> = vec![
                (eff[0] - sp.pads_begin[0]) as i64,
                (eff[1] - sp.pads_begin[1]) as i64,
                (eff[0] - sp.pads_end[0]) as i64,
                (eff[1] - sp.pads_end[1]) as i64,
            ];
            e.op(
                OpType::Conv,
                "dx",
                &[d, wf],
                vec![
                    ("pads", Attr::Ints(pads)),
                    ("dilations", Attr::Ints(dilations.clone())),
                    ("group", Attr::Int(groups as i64)),
                ],
            )?
        } else {
            let out_pad: Vec<i64> = (0..2)
                .map(|i| {
                    let covered = (sp.output[i] - 1) * sp.strides[i] + eff[i] + 1;
                    (xs[2 + i] + sp.pads_begin[i] + sp.pads_end[i]) as i64 - covered as i64
                })
                .collect();
            let w = if uses.len() == 1 {
                first.w
            } else {
                let ws: Vec<ValueId> = uses.iter().map(|u| u.w).collect();
                e.op(OpType::Concat, "w_siblings", &ws, vec![("axis", Attr::Int(0))])?
            };
            e.op(
                OpType::ConvTranspose,
                "dx",
                &[d, w],
                vec![
                    ("strides", Attr::Ints(strides.clone())),
                    ("pads", Attr::Ints(pads_all.clone())),
                    ("dilations", Attr::Ints(dilations.clone())),
                    ("group", Attr::Int(groups as i64)),
                    ("output_padding", Attr::Ints(out_pad)),
                ],
            )?
        });
    }

    let depthwise = uses.len() == 1 && groups > 1 && groups == ci && co == ci;
    if depthwise && first.need_w {
        per_use[0].0 = Some(depthwise_dw(e, x, d, &geo, &ws)?);
    } else if uses.iter().any(|u| u.need_w) {
        let kk = kh * kw;
        let p = ho * wo;
        let plain_1x1 = kk == 1
            && sp.strides.iter().all(|&s| s == 1)
            && sp.dilations.iter().all(|&d| d == 1)
            && sp.pads_begin.iter().chain(&sp.pads_end).all(|&p| p == 0);
        let im2col =
            Im2col { ci, kh, kw, strides: &strides, pads: &pads_all, dilations: &dilations };
        let summed = if groups == 1 && !plain_1x1 && p <= ONE_GEMM_MAX_POSITIONS {
            // Small maps: one GEMM over every sample's positions, dWᵀ = cols · Dᵀ with cols laid
            // out (Ci·k², N·P) by a 3-D im2col (N becomes a spatial axis).
            let cols = im2col.emit(e, x, true)?;
            let cols2 = e.reshape("cols", cols, &[ci * kk, n * p])?;
            let dt = e.transpose("dy_channels_first", d, &[1, 0, 2, 3])?;
            let d2 = e.reshape("dy_flat", dt, &[co, n * p])?;
            let d2t = e.transpose("dy_t", d2, &[1, 0])?;
            e.op(OpType::MatMul, "dw_t", &[cols2, d2t], vec![])?
        } else {
            let cols = if plain_1x1 { x } else { im2col.emit(e, x, false)? };
            // dWᵀ = Σ_n cols_n · dY_nᵀ: the large im2col operand is the MatMul's left side, read
            // in place (once for all siblings); only the small dY side is packed (transposed).
            let (cols3, dy3) = if groups == 1 {
                (e.reshape("cols", cols, &[n, ci * kk, p])?, e.reshape("dy_flat", d, &[n, co, p])?)
            } else {
                (
                    e.reshape("cols", cols, &[n, groups, ci / groups * kk, p])?,
                    e.reshape("dy_flat", d, &[n, groups, co / groups, p])?,
                )
            };
            let rank = e.shape(dy3).len();
            let mut perm: Vec<usize> = (0..rank).collect();
            perm.swap(rank - 1, rank - 2);
            let dy_t = e.transpose("dy_t", dy3, &perm)?;
            let prod = e.op(OpType::MatMul, "dw_t_per_sample", &[cols3, dy_t], vec![])?;
            e.reduce_sum("dw_t_sum", prod, &[0], false)?
        };
        // (Ci/g·k², Co) or (g, Ci/g·k², Co/g) → (Co, Ci/g, kh, kw)
        let dw_all = if groups == 1 {
            e.transpose("dw_flat", summed, &[1, 0])?
        } else {
            e.transpose("dw_flat", summed, &[0, 2, 1])?
        };
        let mut offset = 0i64;
        for (k, (u, &cu)) in uses.iter().zip(&cos).enumerate() {
            let (start, end) = (offset, offset + cu as i64);
            offset = end;
            if !u.need_w {
                continue;
            }
            let rows = if uses.len() == 1 {
                dw_all
            } else {
                e.slice("dw_rows", dw_all, &[start], &[end], &[0])?
            };
            let wsu = e.shape(u.w);
            per_use[k].0 = Some(e.reshape("dw", rows, &wsu)?);
        }
    }
    Ok(ConvGrads { dx, per_use })
}

/// The weight gradient of a depthwise convolution (one input and one output channel per group)
/// without unfolding its input: `dW[c, 0, a, b] = Σ_n Σ_p dY[n, c, p] · X[n, c, p·s + (a, b)·d]`
/// is a convolution of each sample's input channel with its own output gradient as the kernel
/// (the batch folded into the groups; the forward's dilation becomes the stride and its stride
/// the dilation), then a sum over the batch. The working set is one group's patches, where an
/// im2col held `k²` copies of the whole input.
fn depthwise_dw(
    e: &mut Emitter,
    x: ValueId,
    dy: ValueId,
    geo: &crate::ir::infer::ConvGeometry,
    ws: &[usize],
) -> Result<ValueId> {
    let sp = &geo.spatial;
    let (n, c) = (geo.batch, geo.in_channels);
    let xs = e.shape(x);
    let (kh, kw) = (sp.kernel[0], sp.kernel[1]);
    let (ho, wo) = (sp.output[0], sp.output[1]);
    let xg = e.reshape("x_per_sample_channel", x, &[1, n * c, xs[2], xs[3]])?;
    let kernel = e.reshape("dy_as_kernel", dy, &[n * c, 1, ho, wo])?;
    // End padding beyond the last tap's reach only adds outputs to slice away (a stride-2
    // layer's `k + 1`-th tap): trimmed to what the `k` taps read.
    let pads_end = (0..2).map(|a| {
        let reach = sp.strides[a] * (sp.output[a] - 1) + 1 + sp.dilations[a] * (sp.kernel[a] - 1);
        reach.saturating_sub(xs[2 + a] + sp.pads_begin[a]).min(sp.pads_end[a])
    });
    let pads: Vec<i64> = sp.pads_begin.iter().copied().chain(pads_end).map(|p| p as i64).collect();
    let ints = |v: &[usize]| Attr::Ints(v.iter().map(|&x| x as i64).collect());
    let taps = e.op(
        OpType::Conv,
        "dw_depthwise",
        &[xg, kernel],
        vec![
            ("strides", ints(&sp.dilations)),
            ("dilations", ints(&sp.strides)),
            ("pads", Attr::Ints(pads)),
            ("group", Attr::Int((n * c) as i64)),
        ],
    )?;
    // Without end padding the input may still reach past the last tap.
    let got = e.shape(taps);
    let taps = if got[2] != kh || got[3] != kw {
        e.slice("dw_taps", taps, &[0, 0], &[kh as i64, kw as i64], &[2, 3])?
    } else {
        taps
    };
    let per_sample = e.reshape("dw_per_sample", taps, &[n, c, kh, kw])?;
    let summed = e.reduce_sum("dw_sum", per_sample, &[0], false)?;
    e.reshape("dw", summed, ws)
}

/// Output maps of at most this many positions get their weight gradient from one GEMM over all
/// samples (measured on the NAS-Bench-201 stages: faster at 8x8, even at 16x16, slower at 32x32,
/// where the per-sample MatMul's long reduction axis wins).
const ONE_GEMM_MAX_POSITIONS: usize = 128;

/// The im2col of a convolution's input, by a depthwise convolution with a constant one-hot kernel
/// (output channel `c·k² + t` copies tap `t` of channel `c`).
struct Im2col<'a> {
    ci: usize,
    kh: usize,
    kw: usize,
    strides: &'a [i64],
    pads: &'a [i64],
    dilations: &'a [i64],
}

impl Im2col<'_> {
    /// `(N, Ci·k², Ho, Wo)`, or with `all_positions` `(1, Ci·k², N, Ho, Wo)` (a 3-D convolution
    /// over the input with its batch axis made spatial). Shared by every convolution reading `x`
    /// with the same geometry.
    fn emit(&self, e: &mut Emitter, x: ValueId, all_positions: bool) -> Result<ValueId> {
        let Im2col { ci, kh, kw, strides, pads, dilations } = *self;
        let key = format!(
            "im2col {x:?} k{kh}x{kw} s{strides:?} p{pads:?} d{dilations:?} {all_positions}"
        );
        e.memo(key, |e| {
            let kk = kh * kw;
            let mut k = vec![0f32; ci * kk * kk];
            for ch in 0..ci {
                for t in 0..kk {
                    k[(ch * kk + t) * kk + t] = 1.0;
                }
            }
            let (input, kshape, strides, pads, dilations) = if all_positions {
                let xs = e.shape(x);
                let xt = e.transpose("x_channels_first", x, &[1, 0, 2, 3])?;
                let x5 = e.reshape("x_5d", xt, &[1, ci, xs[0], xs[2], xs[3]])?;
                // The batch axis (now the first spatial one) is neither strided nor padded.
                let prepend = |v: &[i64], first: i64| [&[first], v].concat();
                let pads5 = [&[0], &pads[..2], &[0], &pads[2..]].concat();
                (x5, vec![ci * kk, 1, 1, kh, kw], prepend(strides, 1), pads5, prepend(dilations, 1))
            } else {
                (x, vec![ci * kk, 1, kh, kw], strides.to_vec(), pads.to_vec(), dilations.to_vec())
            };
            let kernel = e.tensor("im2col_kernel", Tensor::f32(kshape, k))?;
            e.op(
                OpType::Conv,
                "im2col",
                &[input, kernel],
                vec![
                    ("strides", Attr::Ints(strides)),
                    ("pads", Attr::Ints(pads)),
                    ("dilations", Attr::Ints(dilations)),
                    ("group", Attr::Int(ci as i64)),
                ],
            )
        })
    }
}

/// ConvTranspose (2-D, explicit pads; no `output_shape` or `auto_pad`). It is the adjoint of a
/// convolution with the same weight and geometry, so `dX = Conv(dY, W)` and `dW` is that
/// convolution's weight gradient with dY as its input and X as its output gradient.
pub fn conv_transpose(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    if c.attr("output_shape").is_some() {
        return Err(c.err("the output_shape attribute is not supported"));
    }
    if c.attr_str("auto_pad", "NOTSET")? != "NOTSET" {
        return Err(c.err("the auto_pad attribute is not supported"));
    }
    let g = c.g()?;
    let x = c.x(0)?;
    let w = c.x(1)?;
    // The adjoint convolution: geometry attributes only.
    let mut adjoint = c.node.clone();
    adjoint.op = OpType::Conv;
    adjoint.attrs.retain(|k, _| {
        matches!(k.as_str(), "strides" | "pads" | "dilations" | "group" | "kernel_shape")
    });
    let mut out = vec![None; c.inputs.len()];
    if c.need(0) {
        let attrs: Vec<(&str, Attr)> =
            adjoint.attrs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        out[0] = Some(c.e.op(OpType::Conv, "dx", &[g, w], attrs)?);
    }
    if c.need(1) {
        let u = ConvUse { node: &adjoint, w, g: x, need_w: true, need_b: false };
        out[1] = conv_group(c.e, g, false, &[u])?.per_use[0].0;
    }
    if c.need(2) {
        let rank = c.shape(g).len();
        let axes: Vec<usize> = (0..rank).filter(|&a| a != 1).collect();
        out[2] = Some(c.e.reduce_sum("db", g, &axes, false)?);
    }
    Ok(out)
}
