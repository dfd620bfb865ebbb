//! Convolutions and pooling: Conv, ConvTranspose, AveragePool, MaxPool, global pools.

use super::{Ctx, Inferred, unknown};
use crate::error::{Error, Result};
use crate::ir::attr::NodeAttrs;
use crate::ir::dtype::DType;
use crate::ir::op::OpType;

/// Resolved spatial parameters of a convolution or pooling node (explicit pads, no auto_pad).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpatialParams {
    /// Kernel size per spatial axis.
    pub kernel: Vec<usize>,
    /// Strides per spatial axis.
    pub strides: Vec<usize>,
    /// Dilations per spatial axis.
    pub dilations: Vec<usize>,
    /// Padding at the beginning of each spatial axis.
    pub pads_begin: Vec<usize>,
    /// Padding at the end of each spatial axis.
    pub pads_end: Vec<usize>,
    /// Output spatial size.
    pub output: Vec<usize>,
}

/// The geometry of one convolution node, as the cost model and differentiation need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Batch size.
    pub batch: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Groups.
    pub group: usize,
    /// Spatial parameters.
    pub spatial: SpatialParams,
}

impl SpatialParams {
    /// Resolves the attributes of a Conv/pool node for an input with spatial size `input`.
    /// `weight_kernel` is the kernel size read from the weight (Conv), if any; `ceil_mode` applies
    /// to pools. Errors name the node, op and attribute.
    pub fn resolve(
        attrs: &impl NodeAttrs,
        input: &[usize],
        weight_kernel: Option<&[usize]>,
        ceil_mode: bool,
    ) -> Result<SpatialParams> {
        let nd = input.len();
        let positive = |name: &str, v: &[i64]| -> Result<Vec<usize>> {
            if v.len() != nd {
                return Err(
                    attrs.attr_error(name, format!("has {} values for {nd} spatial axes", v.len()))
                );
            }
            v.iter()
                .map(|&x| {
                    if x >= 1 {
                        Ok(x as usize)
                    } else {
                        Err(attrs.attr_error(name, format!("value {x} must be >= 1")))
                    }
                })
                .collect()
        };
        let kernel = match (attrs.attr_ints("kernel_shape")?, weight_kernel) {
            (Some(k), Some(w)) => {
                let k = positive("kernel_shape", k)?;
                if k != w {
                    return Err(attrs.attr_error(
                        "kernel_shape",
                        format!("{k:?} disagrees with the weight's {w:?}"),
                    ));
                }
                k
            }
            (Some(k), None) => positive("kernel_shape", k)?,
            (None, Some(w)) => w.to_vec(),
            (None, None) => {
                return Err(attrs.attr_error("kernel_shape", "required attribute is missing"));
            }
        };
        let strides = match attrs.attr_ints("strides")? {
            Some(s) => positive("strides", s)?,
            None => vec![1; nd],
        };
        let dilations = match attrs.attr_ints("dilations")? {
            Some(d) => positive("dilations", d)?,
            None => vec![1; nd],
        };
        let auto_pad = attrs.attr_str("auto_pad", "NOTSET")?;
        let mut pads_begin = vec![0usize; nd];
        let mut pads_end = vec![0usize; nd];
        match auto_pad {
            "NOTSET" => {
                if let Some(p) = attrs.attr_ints("pads")? {
                    if p.len() != 2 * nd {
                        return Err(attrs.attr_error(
                            "pads",
                            format!("has {} values, expected {}", p.len(), 2 * nd),
                        ));
                    }
                    if let Some(neg) = p.iter().find(|&&x| x < 0) {
                        return Err(attrs.attr_error(
                            "pads",
                            format!("negative padding {neg} is not supported"),
                        ));
                    }
                    for i in 0..nd {
                        pads_begin[i] = p[i] as usize;
                        pads_end[i] = p[nd + i] as usize;
                    }
                }
            }
            "VALID" => {}
            "SAME_UPPER" | "SAME_LOWER" => {
                if dilations.iter().any(|&d| d > 1) {
                    return Err(attrs.attr_error(
                        "auto_pad",
                        format!(
                            "{auto_pad} with dilations > 1 is not supported (ONNX Runtime rejects it)"
                        ),
                    ));
                }
                for i in 0..nd {
                    let out = input[i].div_ceil(strides[i]);
                    let eff_k = dilations[i] * (kernel[i] - 1) + 1;
                    let total = ((out - 1) * strides[i] + eff_k).saturating_sub(input[i]);
                    let small = total / 2;
                    let (b, e) = if auto_pad == "SAME_UPPER" {
                        (small, total - small)
                    } else {
                        (total - small, small)
                    };
                    pads_begin[i] = b;
                    pads_end[i] = e;
                }
            }
            other => return Err(attrs.attr_error("auto_pad", format!("unknown value '{other}'"))),
        }
        let mut output = Vec::with_capacity(nd);
        for i in 0..nd {
            let eff_k = dilations[i] * (kernel[i] - 1) + 1;
            let padded = input[i] + pads_begin[i] + pads_end[i];
            if padded < eff_k {
                return Err(attrs.attr_error(
                    "kernel_shape",
                    format!(
                        "kernel {} (dilated {eff_k}) is larger than the padded input {padded} on spatial axis {i}",
                        kernel[i]
                    ),
                ));
            }
            let span = padded - eff_k;
            let mut o =
                if ceil_mode { span.div_ceil(strides[i]) + 1 } else { span / strides[i] + 1 };
            // With ceil_mode, a window that would start in the end padding is dropped.
            if ceil_mode && (o - 1) * strides[i] >= input[i] + pads_begin[i] {
                o -= 1;
            }
            output.push(o);
        }
        Ok(SpatialParams { kernel, strides, dilations, pads_begin, pads_end, output })
    }
}

fn spatial_input<'a>(ctx: &Ctx<'a>, what: &str) -> Result<(&'a [usize], DType)> {
    let x = ctx.input(0)?;
    if x.ty.rank() < 3 {
        return Err(ctx.err(format!(
            "{what} input must have rank >= 3 (N, C, spatial...), got {:?}",
            x.ty.shape
        )));
    }
    if !x.ty.dtype.is_float() {
        return Err(ctx.err(format!("input must be a float tensor, got {}", x.ty.dtype)));
    }
    Ok((&x.ty.shape, x.ty.dtype))
}

/// The geometry of a Conv node from its attributes and input shapes.
pub fn conv_geometry(attrs: &impl NodeAttrs, x: &[usize], w: &[usize]) -> Result<ConvGeometry> {
    let group = match attrs.attr_int("group", 1)? {
        g if g >= 1 => g as usize,
        g => return Err(attrs.attr_error("group", format!("must be >= 1, got {g}"))),
    };
    if w.len() != x.len() {
        return Err(Error::node(
            attrs.node_name(),
            attrs.node_op(),
            format!("weight rank {} differs from input rank {}", w.len(), x.len()),
        ));
    }
    if x[1] != w[1] * group {
        return Err(attrs.attr_error(
            "group",
            format!("input has {} channels but weight expects {} x group {group}", x[1], w[1]),
        ));
    }
    if !w[0].is_multiple_of(group) {
        return Err(attrs.attr_error(
            "group",
            format!("{} output channels are not divisible by group {group}", w[0]),
        ));
    }
    let spatial = SpatialParams::resolve(attrs, &x[2..], Some(&w[2..]), false)?;
    Ok(ConvGeometry { batch: x[0], in_channels: x[1], out_channels: w[0], group, spatial })
}

/// Conv.
pub fn conv(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let x = ctx.ty(0)?;
    let w = ctx.ty(1)?;
    if x.rank() < 3 {
        return Err(
            ctx.err(format!("input must have rank >= 3 (N, C, spatial...), got {:?}", x.shape))
        );
    }
    if w.dtype != x.dtype {
        return Err(ctx.err(format!("weight is {} but input is {}", w.dtype, x.dtype)));
    }
    let g = conv_geometry(ctx, &x.shape, &w.shape)?;
    if let Some(b) = ctx.opt_input(2)
        && b.ty.shape != [g.out_channels]
    {
        return Err(ctx.err(format!("bias shape {:?} should be [{}]", b.ty.shape, g.out_channels)));
    }
    let mut shape = vec![g.batch, g.out_channels];
    shape.extend(&g.spatial.output);
    Ok(vec![unknown(x.dtype, shape)])
}

/// ConvTranspose.
pub fn conv_transpose(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let x = ctx.ty(0)?;
    let w = ctx.ty(1)?;
    if x.rank() < 3 || w.rank() != x.rank() {
        return Err(
            ctx.err(format!("input {:?} and weight {:?} ranks do not fit", x.shape, w.shape))
        );
    }
    let group = ctx.attr_int("group", 1)?.max(1) as usize;
    if x.shape[1] != w.shape[0] {
        return Err(
            ctx.err(format!("input has {} channels, weight expects {}", x.shape[1], w.shape[0]))
        );
    }
    let nd = x.rank() - 2;
    let kernel = &w.shape[2..];
    let get = |name: &str, default: usize| -> Result<Vec<usize>> {
        Ok(match ctx.attr_ints(name)? {
            Some(v) if v.len() == nd => v.iter().map(|&x| x.max(0) as usize).collect(),
            Some(v) => {
                return Err(
                    ctx.attr_error(name, format!("has {} values for {nd} spatial axes", v.len()))
                );
            }
            None => vec![default; nd],
        })
    };
    let strides = get("strides", 1)?;
    let dilations = get("dilations", 1)?;
    let out_pad = get("output_padding", 0)?;
    if ctx.attr_str("auto_pad", "NOTSET")? != "NOTSET" {
        return Err(ctx.attr_error("auto_pad", "only NOTSET is supported for ConvTranspose"));
    }
    let pads = match ctx.attr_ints("pads")? {
        Some(p) if p.len() == 2 * nd => p.iter().map(|&x| x.max(0) as usize).collect(),
        Some(p) => {
            return Err(
                ctx.attr_error("pads", format!("has {} values, expected {}", p.len(), 2 * nd))
            );
        }
        None => vec![0; 2 * nd],
    };
    let mut shape = vec![x.shape[0], w.shape[1] * group];
    if let Some(os) = ctx.attr_ints("output_shape")? {
        shape.extend(os.iter().rev().take(nd).rev().map(|&v| v.max(0) as usize));
    } else {
        for i in 0..nd {
            let full =
                strides[i] * (x.shape[2 + i] - 1) + out_pad[i] + (kernel[i] - 1) * dilations[i] + 1;
            let o = full
                .checked_sub(pads[i] + pads[nd + i])
                .ok_or_else(|| ctx.attr_error("pads", "larger than the output"))?;
            shape.push(o);
        }
    }
    Ok(vec![unknown(x.dtype, shape)])
}

/// AveragePool and MaxPool.
pub fn pool(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let (x, dtype) = spatial_input(ctx, "pool")?;
    let ceil_mode = match ctx.attr_int("ceil_mode", 0)? {
        0 => false,
        1 => true,
        v => return Err(ctx.attr_error("ceil_mode", format!("must be 0 or 1, got {v}"))),
    };
    // storage_order only numbers the Indices output (row- or column-major).
    if ctx.op == OpType::MaxPool && !matches!(ctx.attr_int("storage_order", 0)?, 0 | 1) {
        return Err(ctx.attr_error("storage_order", "must be 0 or 1"));
    }
    if ctx.op == OpType::AveragePool {
        let c = ctx.attr_int("count_include_pad", 0)?;
        if c != 0 && c != 1 {
            return Err(ctx.attr_error("count_include_pad", format!("must be 0 or 1, got {c}")));
        }
    }
    let sp = SpatialParams::resolve(ctx, &x[2..], None, ceil_mode)?;
    let mut shape = vec![x[0], x[1]];
    shape.extend(&sp.output);
    let mut out = vec![unknown(dtype, shape.clone())];
    if ctx.op == OpType::MaxPool {
        out.push(unknown(DType::I64, shape));
    }
    Ok(out)
}

/// GlobalAveragePool and GlobalMaxPool.
pub fn global_pool(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let (x, dtype) = spatial_input(ctx, "global pool")?;
    let mut shape = vec![x[0], x[1]];
    shape.extend(std::iter::repeat_n(1, x.len() - 2));
    Ok(vec![unknown(dtype, shape)])
}
