//! Conv (2-D; strides, pads, dilations, groups including depthwise).
//!
//! Formulations measured fastest on ONNX Runtime's CPU provider (`onnx-runtime-notes.md` §4):
//! - dX, stride 1: a convolution of dY with the flipped, group-transposed weight (ONNX Runtime
//!   folds the weight transform at session creation); stride > 1: ConvTranspose.
//! - dW: im2col by a depthwise convolution with a constant one-hot kernel, then a batched MatMul
//!   with dY summed over the batch (2-3x faster than the transposed-convolution trick); a 1x1
//!   stride-1 unpadded convolution uses X itself.
//! - dB: sum of dY over batch and positions.

use super::RuleCtx;
use crate::error::Result;
use crate::ir::infer::conv_geometry;
use crate::ir::{Attr, OpType, Tensor, ValueId};

/// Conv.
pub fn conv(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let g = c.g()?;
    let x = c.x(0)?;
    let w = c.x(1)?;
    let (xs, ws) = (c.shape(x), c.shape(w));
    if xs.len() != 4 {
        return Err(c.err("only 2-D convolutions are differentiated"));
    }
    let geo = conv_geometry(c.attrs(), &xs, &ws).map_err(|(a, r)| c.err(format!("{a}: {r}")))?;
    let sp = &geo.spatial;
    let groups = geo.group;
    let (n, ci, co) = (geo.batch, geo.in_channels, geo.out_channels);
    let (kh, kw) = (sp.kernel[0], sp.kernel[1]);
    let (ho, wo) = (sp.output[0], sp.output[1]);
    let mut out = vec![None; c.inputs.len()];

    if c.need(2) {
        out[2] = Some(c.e.reduce_sum("db", g, &[0, 2, 3], false)?);
    }

    if c.need(0) {
        let stride1 = sp.strides.iter().all(|&s| s == 1);
        let eff: Vec<usize> = (0..2).map(|i| sp.dilations[i] * (sp.kernel[i] - 1)).collect();
        let fits = (0..2).all(|i| sp.pads_begin[i] <= eff[i] && sp.pads_end[i] <= eff[i]);
        let dx = if stride1 && fits {
            // Weight (Co, Ci/g, kh, kw) → (Ci, Co/g, kh, kw), spatially flipped.
            let w5 = c.e.reshape("w_groups", w, &[groups, co / groups, ci / groups, kh, kw])?;
            let wt = c.e.transpose("w_t", w5, &[0, 2, 1, 3, 4])?;
            let wt = c.e.reshape("w_t4", wt, &[ci, co / groups, kh, kw])?;
            let starts = c.e.ints(&[-1, -1])?;
            let ends = c.e.ints(&[i64::MIN, i64::MIN])?;
            let axes = c.e.ints(&[2, 3])?;
            let steps = c.e.ints(&[-1, -1])?;
            let wf = c.e.op(OpType::Slice, "w_flip", &[wt, starts, ends, axes, steps], vec![])?;
            let pads: Vec<i64> = vec![
                (eff[0] - sp.pads_begin[0]) as i64,
                (eff[1] - sp.pads_begin[1]) as i64,
                (eff[0] - sp.pads_end[0]) as i64,
                (eff[1] - sp.pads_end[1]) as i64,
            ];
            c.e.op(
                OpType::Conv,
                "dx",
                &[g, wf],
                vec![
                    ("pads", Attr::Ints(pads)),
                    ("dilations", Attr::Ints(sp.dilations.iter().map(|&d| d as i64).collect())),
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
            let mut pads: Vec<i64> = sp.pads_begin.iter().map(|&p| p as i64).collect();
            pads.extend(sp.pads_end.iter().map(|&p| p as i64));
            c.e.op(
                OpType::ConvTranspose,
                "dx",
                &[g, w],
                vec![
                    ("strides", Attr::Ints(sp.strides.iter().map(|&s| s as i64).collect())),
                    ("pads", Attr::Ints(pads)),
                    ("dilations", Attr::Ints(sp.dilations.iter().map(|&d| d as i64).collect())),
                    ("group", Attr::Int(groups as i64)),
                    ("output_padding", Attr::Ints(out_pad)),
                ],
            )?
        };
        out[0] = Some(dx);
    }

    if c.need(1) {
        let kk = kh * kw;
        let plain_1x1 = kk == 1
            && sp.strides.iter().all(|&s| s == 1)
            && sp.dilations.iter().all(|&d| d == 1)
            && sp.pads_begin.iter().chain(&sp.pads_end).all(|&p| p == 0);
        let cols = if plain_1x1 {
            x
        } else {
            let mut pads: Vec<i64> = sp.pads_begin.iter().map(|&p| p as i64).collect();
            pads.extend(sp.pads_end.iter().map(|&p| p as i64));
            let strides: Vec<i64> = sp.strides.iter().map(|&s| s as i64).collect();
            let dilations: Vec<i64> = sp.dilations.iter().map(|&d| d as i64).collect();
            // Shared by every convolution reading x with the same geometry.
            let key = format!("im2col {x:?} k{kh}x{kw} s{strides:?} p{pads:?} d{dilations:?}");
            c.e.memo(key, |e| {
                // One-hot depthwise kernel: output channel c*kk + t copies tap t of channel c.
                let mut k = vec![0f32; ci * kk * kk];
                for ch in 0..ci {
                    for t in 0..kk {
                        k[(ch * kk + t) * kk + t] = 1.0;
                    }
                }
                let kernel = e.tensor("im2col_kernel", Tensor::f32([ci * kk, 1, kh, kw], k))?;
                e.op(
                    OpType::Conv,
                    "im2col",
                    &[x, kernel],
                    vec![
                        ("strides", Attr::Ints(strides)),
                        ("pads", Attr::Ints(pads)),
                        ("dilations", Attr::Ints(dilations)),
                        ("group", Attr::Int(ci as i64)),
                    ],
                )
            })?
        };
        // dWᵀ = Σ_n cols_n · dY_nᵀ: the large im2col operand is the MatMul's left side, read in
        // place; only the small dY side is packed (transposed) by the GEMM.
        let p = ho * wo;
        let (cols3, dy3) = if groups == 1 {
            (c.e.reshape("cols", cols, &[n, ci * kk, p])?, c.e.reshape("dy_flat", g, &[n, co, p])?)
        } else {
            (
                c.e.reshape("cols", cols, &[n, groups, ci / groups * kk, p])?,
                c.e.reshape("dy_flat", g, &[n, groups, co / groups, p])?,
            )
        };
        let rank = c.shape(dy3).len();
        let mut perm: Vec<usize> = (0..rank).collect();
        perm.swap(rank - 1, rank - 2);
        let dy_t = c.e.transpose("dy_t", dy3, &perm)?;
        let prod = c.e.op(OpType::MatMul, "dw_t_per_sample", &[cols3, dy_t], vec![])?;
        let summed = c.e.reduce_sum("dw_t_sum", prod, &[0], false)?;
        // (Ci/g·k², Co) or (g, Ci/g·k², Co/g) → (Co, Ci/g, kh, kw)
        let dw = if groups == 1 {
            c.e.transpose("dw_flat", summed, &[1, 0])?
        } else {
            c.e.transpose("dw_flat", summed, &[0, 2, 1])?
        };
        out[1] = Some(c.e.reshape("dw", dw, &ws)?);
    }
    Ok(out)
}
