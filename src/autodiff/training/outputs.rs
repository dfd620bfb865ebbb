//! The training graph's outputs: the loss, the parameter gradients (full tensors and/or in-graph
//! statistics), and the requested activations, activation gradients and channel Gram matrices.

use std::collections::BTreeMap;

use super::backward::Grads;
use super::forward::Forward;
use super::targets::Targets;
use super::{GradOutputs, ParamGrad, StatOutputs, TrainingGraph, TrainingOptions};
use crate::autodiff::emit::Emitter;
use crate::autodiff::loss::LossHead;
use crate::error::Result;
use crate::ir::{Attr, Graph, OpType, ValueId, ValueSource};

/// Marks the loss and everything `opts` asks for as outputs of the training graph, in a fixed
/// order (loss, parameters, activations, activation gradients, Gram matrices), and names them.
pub(super) fn expose(
    mut e: Emitter,
    src: &Graph,
    fwd: &Forward,
    grads: &mut Grads,
    targets: &Targets,
    opts: &TrainingOptions,
    head: LossHead,
) -> Result<TrainingGraph> {
    let loss = e.graph().value(head.loss).name.clone();
    e.builder().output(head.loss);
    let params = param_outputs(&mut e, src, grads, targets, opts.grad_outputs)?;
    let mut activations = Vec::new();
    for (&a, requested) in targets.activations.iter().zip(&opts.activations) {
        let v = fwd.value(a, &format!("activation '{}'", src.value(a).name))?;
        e.builder().output(v);
        activations.push((requested.clone(), e.graph().value(v).name.clone()));
    }
    let mut activation_grads = Vec::new();
    for (&a, requested) in targets.activation_grads.iter().zip(&opts.activation_grads) {
        let name = &src.value(a).name;
        let out = match grads.total(&mut e, a, name)? {
            Some(d) => Some(grad_output(&mut e, d, name)?),
            None => None,
        };
        activation_grads.push((requested.clone(), out));
    }
    let mut activation_grams = Vec::new();
    for (&a, requested) in targets.activation_grams.iter().zip(&opts.activation_grams) {
        let v = fwd.value(a, &format!("activation '{requested}'"))?;
        let (gram, chsum) =
            emit_gram(&mut e, v, requested, crate::ir::layout::channels_last(src, a))?;
        activation_grams.push((requested.clone(), gram, chsum));
    }
    let mut sign_kernels = Vec::new();
    for (&a, requested) in targets.sign_kernels.iter().zip(&opts.sign_kernels) {
        let v = fwd.value(a, &format!("value '{requested}'"))?;
        let (codes, active) = emit_sign_kernel(&mut e, v, requested)?;
        sign_kernels.push((requested.clone(), codes, active));
    }
    let mut grad_products = Vec::new();
    for (&a, requested) in targets.grad_products.iter().zip(&opts.grad_products) {
        let v = fwd.value(a, &format!("value '{requested}'"))?;
        let out = match grads.total(&mut e, a, requested)? {
            Some(d) => Some(emit_channel_product(&mut e, v, d, requested)?),
            None => None,
        };
        grad_products.push((requested.clone(), out));
    }
    let mut projections = Vec::new();
    for (&(v, d), (requested, direction)) in targets.projections.iter().zip(&opts.projections) {
        let dir = fwd.value(d, &format!("direction '{direction}'"))?;
        let out = match grads.total(&mut e, v, requested)? {
            Some(g) => Some(emit_projection(&mut e, dir, g, requested)?),
            None => None,
        };
        projections.push((requested.clone(), direction.clone(), out));
    }
    let mut detached = Vec::new();
    for (&copy, requested) in targets.detached.iter().zip(&opts.detach) {
        let out = match grads.total(&mut e, copy, requested)? {
            Some(d) => Some(grad_output(&mut e, d, &format!("{requested}_detached"))?),
            None => None,
        };
        detached.push((requested.clone(), out));
    }
    super::schedule::append_order_sink(&mut e)?;
    Ok(TrainingGraph {
        graph: e.finish(),
        inputs: src.inputs().iter().map(|&i| src.value(i).name.clone()).collect(),
        target_input: head.target_input,
        loss,
        params,
        activations,
        activation_grads,
        activation_grams,
        sign_kernels,
        grad_products,
        projections,
        cotangents: Vec::new(),
        detached,
    })
}

/// The sign kernel of `(N, ...)` value `v` as outputs: with `c` the 0/1 code of `v > 0` of each
/// sample (flattened), `c·cᵀ` `(N, N)` and the active count `Σ c` `(N)`.
fn emit_sign_kernel(e: &mut Emitter, v: ValueId, name: &str) -> Result<(String, String)> {
    let s = e.shape(v);
    let n = s.first().copied().unwrap_or(1);
    let units = s.iter().product::<usize>() / n.max(1);
    e.push_scope(&format!("{name}_signs"));
    let zero = e.scalar(0.0)?;
    let positive = e.op(OpType::Greater, "positive", &[v, zero], vec![])?;
    let codes = e.cast_f32("codes", positive)?;
    let mat = e.reshape("matrix", codes, &[n, units])?;
    let mt = e.transpose("matrix_t", mat, &[1, 0])?;
    let kernel = e.op(OpType::MatMul, "agree", &[mat, mt], vec![])?;
    let active = e.reduce_sum("active", mat, &[1], false)?;
    e.pop_scope();
    e.builder().output(kernel);
    e.builder().output(active);
    Ok((e.graph().value(kernel).name.clone(), e.graph().value(active).name.clone()))
}

/// The per-sample projection `Σ_{non-batch axes} d ⊙ g` `(N)` of the gradient `g` on the
/// direction `d`, as an output. A direction with one channel (axis 1) where the value has more
/// is zero on the others: only channel 0 of the gradient is read.
fn emit_projection(e: &mut Emitter, d: ValueId, g: ValueId, name: &str) -> Result<String> {
    let (d_shape, g_shape) = (e.shape(d), e.shape(g));
    e.push_scope(&format!("{name}_projection"));
    let g = if d_shape.len() > 1 && d_shape[1] == 1 && g_shape.get(1).is_some_and(|&c| c > 1) {
        let (starts, ends, axes) = (e.ints(&[0])?, e.ints(&[1])?, e.ints(&[1])?);
        e.op(OpType::Slice, "channel0", &[g, starts, ends, axes], vec![])?
    } else {
        g
    };
    let out = product_output(e, d, g, 1)?;
    e.pop_scope();
    Ok(out)
}

/// `a ⊙ b` summed over the axes from `from` on, as an output (in the current scope).
fn product_output(e: &mut Emitter, a: ValueId, b: ValueId, from: usize) -> Result<String> {
    let rank = e.shape(a).len();
    let prod = e.mul("product", a, b)?;
    let out = if rank > from {
        let axes: Vec<usize> = (from..rank).collect();
        e.reduce_sum("summed", prod, &axes, false)?
    } else {
        prod
    };
    let out = e.op(OpType::Identity, "out", &[out], vec![])?;
    e.builder().output(out);
    Ok(e.graph().value(out).name.clone())
}

/// The per-sample channel products `Σ_positions z·dz` `(N, C)` of an `(N, C, ...)` value `z` and
/// its gradient `dz`, as an output.
fn emit_channel_product(e: &mut Emitter, z: ValueId, dz: ValueId, name: &str) -> Result<String> {
    e.push_scope(&format!("{name}_zdz"));
    let out = product_output(e, z, dz, 2)?;
    e.pop_scope();
    Ok(out)
}

/// The gradient outputs of each differentiated parameter: the full gradient, its statistics or
/// both (`which`); neither for a parameter that does not influence the loss.
fn param_outputs(
    e: &mut Emitter,
    src: &Graph,
    grads: &mut Grads,
    targets: &Targets,
    which: GradOutputs,
) -> Result<Vec<ParamGrad>> {
    let mut params = Vec::with_capacity(targets.params.len());
    for p in &targets.params {
        let v = src.value(p.value);
        let mut pg =
            ParamGrad { name: v.name.clone(), shape: v.ty.shape.clone(), grad: None, stats: None };
        if let Some(d) = grads.total(e, p.value, &v.name)? {
            if which != GradOutputs::Stats {
                pg.grad = Some(grad_output(e, d, &v.name)?);
            }
            if which != GradOutputs::Full {
                pg.stats = Some(emit_stats(e, d, &v.name)?);
            }
        }
        params.push(pg);
    }
    Ok(params)
}

/// The gradient `d` of the value `name` as an output `<name>_grad` (made unique): `d` itself,
/// renamed, where it is a node output that is not an output yet; else through an Identity, so
/// that it is an output of its own (a value already output under another name, a constant).
fn grad_output(e: &mut Emitter, d: ValueId, name: &str) -> Result<String> {
    let out = e.graph().fresh_name(&format!("{name}_grad"));
    let g = e.graph();
    if matches!(g.value(d).source, ValueSource::Node { .. }) && !g.outputs().contains(&d) {
        e.builder().output_as(d, &out)?;
        return Ok(out);
    }
    let id = e.builder().op_named(
        OpType::Identity,
        &format!("{name}_grad_out"),
        &[Some(d)],
        BTreeMap::new(),
        std::slice::from_ref(&out),
    )?[0];
    e.builder().output(id);
    Ok(out)
}

/// In-graph statistics of a gradient as outputs: Σ g, Σ g² and max |g|.
fn emit_stats(e: &mut Emitter, d: ValueId, name: &str) -> Result<StatOutputs> {
    e.push_scope(&format!("{name}_grad_stats"));
    let keep0 = || vec![("keepdims", Attr::Int(0))];
    let s = e.op(OpType::ReduceSum, "sum", &[d], keep0())?;
    let sq = e.mul("sq", d, d)?;
    let ss = e.op(OpType::ReduceSum, "sum_sq", &[sq], keep0())?;
    let a = e.op(OpType::Abs, "abs", &[d], vec![])?;
    let m = e.op(OpType::ReduceMax, "max_abs", &[a], keep0())?;
    e.pop_scope();
    for v in [s, ss, m] {
        e.builder().output(v);
    }
    let n = |v: ValueId| e.graph().value(v).name.clone();
    Ok(StatOutputs { sum: n(s), sum_sq: n(ss), max_abs: n(m) })
}

/// Channel Gram matrix `A·Aᵀ` of an `(N, C, ...)` activation seen as `(C, N·positions)`, and
/// the channel sums, as outputs. `channels_last` (token features `(N, T, D)`, permuted blocks
/// `(N, H, W, C)`; see [`crate::ir::layout`]) puts the channels on the last axis.
///
/// The activation is read where it lies whenever that costs less than copying it: with the
/// channels last (or for `(N, C)`) it is already an `(N·positions, C)` matrix `M`, and the Gram
/// is one product `Mᵀ·M` (ONNX Runtime folds the transpose into the product); channels first
/// with at least as many positions as channels (a convolution's feature map), it is a sum over
/// the samples of per-sample products `Aₙ·Aₙᵀ`, a batched MatMul writing `N·C²` numbers; only
/// channels first with fewer positions than channels (late, small maps) copy the activation into
/// channel order for one product, which is then cheaper than `N` per-sample Grams.
fn emit_gram(
    e: &mut Emitter,
    v: ValueId,
    name: &str,
    channels_last: bool,
) -> Result<(String, String)> {
    let s = e.shape(v);
    let last = channels_last && s.len() > 2;
    let c = match s.len() {
        _ if last => s[s.len() - 1],
        r if r >= 2 => s[1],
        _ => s[0],
    };
    let numel = s.iter().product::<usize>();
    e.push_scope(&format!("{name}_stats"));
    let product =
        |e: &mut Emitter, a: ValueId, b: ValueId| e.op(OpType::MatMul, "gram", &[a, b], vec![]);
    let (gram, chsum) = if last || s.len() <= 2 {
        let m = e.reshape("rows", v, &[numel / c, c])?;
        let mt = e.transpose("rows_t", m, &[1, 0])?;
        (product(e, mt, m)?, e.reduce_sum("chsum", m, &[0], false)?)
    } else if numel / (s[0] * c) >= c {
        let r = e.reshape("per_sample", v, &[s[0], c, numel / (s[0] * c)])?;
        let rt = e.transpose("per_sample_t", r, &[0, 2, 1])?;
        let grams = e.op(OpType::MatMul, "sample_grams", &[r, rt], vec![])?;
        (e.reduce_sum("gram", grams, &[0], false)?, e.reduce_sum("chsum", r, &[0, 2], false)?)
    } else {
        let mut perm: Vec<usize> = vec![1, 0];
        perm.extend(2..s.len());
        let t = e.transpose("channels_first", v, &perm)?;
        let mat = e.reshape("matrix", t, &[c, numel / c])?;
        let mt = e.transpose("matrix_t", mat, &[1, 0])?;
        (product(e, mat, mt)?, e.reduce_sum("chsum", mat, &[1], false)?)
    };
    e.pop_scope();
    e.builder().output(gram);
    e.builder().output(chsum);
    Ok((e.graph().value(gram).name.clone(), e.graph().value(chsum).name.clone()))
}
