#!/usr/bin/env python3
"""Gradient conformance of intrain on the ONNX operator test suite (dev tool).

The `onnx` package ships the standard's operator test cases
(`onnx.backend.test.case.node.collect_testcases`): single-node models with inputs and expected
outputs, at the opsets the suite writes them (today mostly 13 to 28). This script differentiates
every applicable case with intrain and checks the gradients against float64 references:

Applicable: a single-node case whose operator `intrain ops` lists with a gradient rule and whose
first input is a float tensor.

Protocol, per case:
  1. The first input x stays the graph input; a zero initializer `x__probe` of x's shape is added
     to it (x + 0 feeds the node), so that the gradient with respect to x is the gradient of a
     parameter and comes out of the training graph. Every other input becomes an initializer
     with the case's value. The model keeps the case's opset and IR version.
  2. `intrain grad MODEL --loss sum --bn as-is --input x.npy --save-graph train.onnx --json`
     (loss = sum of the first output; BatchNormalization as the node says); a non-zero exit is
     a refusal, whose one-line reason is recorded.
  3. ONNX Runtime (Python) runs train.onnx on the case's x; every gradient intrain reports (x's,
     through the probe, and the other float initializers it treats as parameters) is compared
     with a float64 reference: PyTorch autograd of the same function (torch ops where they exist,
     spec formulas in torch otherwise: asymmetric pads, dilated average pools, Slice with negative
     steps). Each reference's forward is first checked against the suite's expected output, so
     the reference computes the operator the case defines.
  4. Agreement: max |g - g_ref| <= 1e-4 max |g_ref| + 1e-5 (1 + max |y|) per gradient: float32
     rounding relative to the gradient's scale, plus the rounding of a gradient that cancels to
     zero (Softmax, training-mode BatchNormalization: their summed output is constant).
  5. Central finite differences of ONNX Runtime's float32 forward along two random directions
     are a cross-check only (reported, not decisive): they are wrong at kinks (Relu, Clip, Abs
     at 0), at ties (MaxPool windows with equal maxima) and lose all precision where the summed
     output is constant.

Finite-difference traps are handled by the choice of reference, not by tolerances: at a kink the
reference follows intrain's documented convention, which is PyTorch's where PyTorch has the op
(Relu, Abs, LeakyRelu, Elu, HardSwish: their backward formulas); Clip and HardSigmoid pass the
gradient strictly inside their bounds (PyTorch's hardtanh/relu6 convention); a MaxPool tie gives
the gradient to the first maximum in window order (PyTorch's max_pool).

Usage:
    python3 models/scripts/onnx_suite_conformance.py [--intrain target/release/intrain]
        [--out target/onnx-suite] [--cases SUBSTRING] [--markdown]
Writes OUT/<case>/ (model.onnx, x.npy, train.onnx, intrain.json or the refusal), OUT/results.json
and OUT/summary.md; prints the summary table and one line per case.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

warnings.filterwarnings("ignore")
torch.set_default_dtype(torch.float64)

FLOAT_TYPES = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16}
SESSION_OPTIONS = ort.SessionOptions()
SESSION_OPTIONS.log_severity_level = 3
SESSION_OPTIONS.intra_op_num_threads = 1
RTOL = 1e-4
ATOL_Y = 1e-5


# ---------------------------------------------------------------------------------------------
# Float64 references: the ONNX operator in PyTorch, following the specification.
# ---------------------------------------------------------------------------------------------


def attrs_of(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def s(v):
    return v.decode() if isinstance(v, bytes) else v


def spatial_geometry(x_shape, a, kernel, ceil_mode, out_shape):
    """Per spatial axis: (kernel, stride, dilation, pad_begin, pad_end_for_reference).

    The end padding is extended so that windows of the floor-mode formula reproduce exactly the
    output size the case expects (ceil_mode's last window); the extension is filled like padding.
    """
    nd = len(x_shape) - 2
    strides = list(a.get("strides", [1] * nd))
    dil = list(a.get("dilations", [1] * nd))
    auto_pad = s(a.get("auto_pad", "NOTSET"))
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads_b, pads_e = [], []
        for i in range(nd):
            size = x_shape[2 + i]
            out = -(-size // strides[i])
            eff = dil[i] * (kernel[i] - 1) + 1
            total = max(0, (out - 1) * strides[i] + eff - size)
            small = total // 2
            b, e = (small, total - small) if auto_pad == "SAME_UPPER" else (total - small, small)
            pads_b.append(b)
            pads_e.append(e)
    elif auto_pad == "VALID":
        pads_b, pads_e = [0] * nd, [0] * nd
    else:
        p = list(a.get("pads", [0] * (2 * nd)))
        pads_b, pads_e = p[:nd], p[nd:]
    geo = []
    for i in range(nd):
        size = x_shape[2 + i]
        eff = dil[i] * (kernel[i] - 1) + 1
        out = out_shape[2 + i]
        need = (out - 1) * strides[i] + eff  # padded length the windows reach
        have = size + pads_b[i] + pads_e[i]
        extra = max(0, need - have)
        geo.append((kernel[i], strides[i], dil[i], pads_b[i], pads_e[i], extra))
    return geo


def windows(xp, geo):
    """Windows of a padded (N, C, spatial...) tensor: (N, C, out..., k...)."""
    nd = len(geo)
    w = xp
    for i, (k, st, d, _, _, _) in enumerate(geo):
        eff = d * (k - 1) + 1
        w = w.unfold(2 + i, eff, st)  # appends a window axis of size eff
        w = w[..., ::d]
    return w  # (N, C, out_1..out_nd, k_1..k_nd)


def pad_spatial(x, geo, value):
    pads = []
    for (_, _, _, b, e, extra) in reversed(geo):
        pads += [b, e + extra]
    return F.pad(x, pads, value=value)


def ref_pool(op, x, a, out_shape):
    kernel = list(a["kernel_shape"])
    geo = spatial_geometry(list(x.shape), a, kernel, a.get("ceil_mode", 0), out_shape)
    nd = len(geo)
    if op == "MaxPool":
        xp = pad_spatial(x, geo, -math.inf)
        w = windows(xp, geo)
        flat = w.reshape(*w.shape[: 2 + nd], -1)
        # torch.max along a dim returns the first maximal index: the gradient goes there.
        return flat.max(dim=-1).values
    xp = pad_spatial(x, geo, 0.0)
    w = windows(xp, geo)
    sums = w.reshape(*w.shape[: 2 + nd], -1).sum(-1)
    # Counts: taps inside the input, or (count_include_pad) inside the input and explicit pads;
    # the ceil-mode extension never counts.
    ones = torch.ones_like(x)
    if a.get("count_include_pad", 0):
        ones = pad_spatial(ones, [(k, st, d, b, e, 0) for (k, st, d, b, e, _) in geo], 1.0)
        ones = F.pad(ones, sum(([0, extra] for (_, _, _, _, _, extra) in reversed(geo)), []), value=0.0)
    else:
        ones = pad_spatial(ones, geo, 0.0)
    counts = windows(ones, geo)
    counts = counts.reshape(*counts.shape[: 2 + nd], -1).sum(-1)
    return sums / counts


def ref_conv(x, w, b, a, out_shape):
    kernel = list(w.shape[2:])
    geo = spatial_geometry(list(x.shape), a, kernel, 0, out_shape)
    xp = pad_spatial(x, geo, 0.0)
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[len(kernel)]
    return conv(xp, w, b, stride=[g[1] for g in geo], dilation=[g[2] for g in geo],
                groups=a.get("group", 1))


def axis_index(axis, rank):
    return axis + rank if axis < 0 else axis


def reference(node, opset, ins, expected, node_like_type=None):
    """The node's outputs in float64 torch; `ins` are torch tensors (None for omitted inputs);
    `node_like_type` is CastLike's target type code."""
    op = node.op_type
    a = attrs_of(node)
    x = ins[0]
    out0 = list(expected[0].shape)
    unary = {
        "Abs": torch.abs, "Neg": torch.neg, "Exp": torch.exp, "Log": torch.log,
        "Sqrt": torch.sqrt, "Reciprocal": torch.reciprocal, "Sigmoid": torch.sigmoid,
        "Tanh": torch.tanh, "Erf": torch.erf, "Relu": torch.relu, "Softplus": F.softplus,
    }
    if op in unary:
        return [unary[op](x)]
    if op in ("Max", "Min"):
        f = torch.maximum if op == "Max" else torch.minimum
        y = ins[0]
        for t in ins[1:]:
            y = f(y, t)
        return [y]
    if op in ("ReduceMax", "ReduceMin", "GlobalMaxPool"):
        if op == "GlobalMaxPool":
            axes, keep = list(range(2, x.dim())), True
        else:
            axes_in = opset >= 18
            axes = ins[1] if axes_in and len(ins) > 1 and ins[1] is not None else None
            axes = [int(v) for v in axes.tolist()] if axes is not None else list(a.get("axes", []))
            keep = bool(a.get("keepdims", 1))
            if not axes:
                if a.get("noop_with_empty_axes", 0):
                    return [x]
                axes = list(range(x.dim()))
        if x.numel() == 0:  # an empty reduction: its fill value, and an empty gradient
            return [torch.from_numpy(expected[0]).double() + 0 * x.sum(dim=tuple(axes), keepdim=keep)]
        f = torch.amax if op != "ReduceMin" else torch.amin
        return [f(x, dim=tuple(axes), keepdim=keep)]
    if op == "Tile":
        return [x.repeat(*[int(r) for r in ins[1].tolist()])]
    if op == "InstanceNormalization":
        return [F.instance_norm(x, weight=ins[1], bias=ins[2], eps=a.get("epsilon", 1e-5))]
    if op == "ConvTranspose":
        if "output_shape" in a or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            return None
        rank = x.dim() - 2
        pads = a.get("pads", [0] * (2 * rank))
        if pads[:rank] != pads[rank:]:
            return None
        convt = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[rank]
        b = ins[2] if len(ins) > 2 else None
        return [convt(x, ins[1], b, stride=a.get("strides", [1] * rank), padding=pads[:rank],
                      output_padding=a.get("output_padding", [0] * rank),
                      groups=a.get("group", 1), dilation=a.get("dilations", [1] * rank))]
    if op == "Elu":
        return [F.elu(x, alpha=a.get("alpha", 1.0))]
    if op == "LeakyRelu":
        return [F.leaky_relu(x, negative_slope=a.get("alpha", 0.01))]
    if op == "HardSigmoid":
        lin = a.get("alpha", 0.2) * x + a.get("beta", 0.5)
        inside = ((lin > 0) & (lin < 1)).double()
        return [lin * inside + (lin >= 1).double()]
    if op == "HardSwish":
        return [F.hardswish(x)]
    if op == "Gelu":
        return [F.gelu(x, approximate=s(a.get("approximate", "none")))]
    if op == "Clip":
        lo = ins[1] if len(ins) > 1 and ins[1] is not None else None
        hi = ins[2] if len(ins) > 2 and ins[2] is not None else None
        if opset < 11:
            lo = torch.tensor(a["min"]) if "min" in a else None
            hi = torch.tensor(a["max"]) if "max" in a else None
        inside = torch.ones_like(x, dtype=torch.bool)
        clipped = x.detach()
        if lo is not None:
            inside &= x > lo
            clipped = torch.maximum(clipped, lo.detach())
        if hi is not None:
            inside &= x < hi
            clipped = torch.minimum(clipped, hi.detach())
        return [torch.where(inside, x, clipped)]
    if op in ("Softmax", "LogSoftmax"):
        axis = a.get("axis", -1 if opset >= 13 else 1)
        if opset < 13:
            shp = x.shape
            ax = axis_index(axis, x.dim())
            x2 = x.reshape(int(np.prod(shp[:ax])), -1)
            f = F.softmax if op == "Softmax" else F.log_softmax
            return [f(x2, dim=1).reshape(shp)]
        f = torch.softmax if op == "Softmax" else torch.log_softmax
        return [f(x, dim=axis)]
    if op in ("Identity", "Dropout"):
        return [x]
    if op in ("Cast", "CastLike"):
        code = a["to"] if op == "Cast" else node_like_type
        target = {TensorProto.FLOAT: torch.float32, TensorProto.DOUBLE: torch.float64,
                  TensorProto.FLOAT16: torch.float16, TensorProto.BFLOAT16: torch.bfloat16}.get(code)
        if target is None:
            return None
        # Rounded like the cast, differentiated like PyTorch's .to (the gradient cast back).
        return [x.to(target).to(torch.float64)]
    if op in ("Add", "Sub", "Mul", "Div"):
        f = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div}[op]
        return [f(x, ins[1])]
    if op == "Pow":
        return [torch.pow(x, ins[1].double())]
    if op in ("Sum", "Mean"):
        t = ins[0]
        for u in ins[1:]:
            t = t + u
        return [t / len(ins) if op == "Mean" else t]
    if op == "MatMul":
        return [torch.matmul(x, ins[1])]
    if op == "Gemm":
        A = x.t() if a.get("transA", 0) else x
        B = ins[1].t() if a.get("transB", 0) else ins[1]
        y = a.get("alpha", 1.0) * (A @ B)
        if len(ins) > 2 and ins[2] is not None:
            y = y + a.get("beta", 1.0) * ins[2]
        return [y]
    if op == "Conv":
        b = ins[2] if len(ins) > 2 else None
        return [ref_conv(x, ins[1], b, a, out0)]
    if op in ("AveragePool", "MaxPool"):
        return [ref_pool(op, x, a, out0)]
    if op == "GlobalAveragePool":
        return [x.mean(dim=tuple(range(2, x.dim())), keepdim=True)]
    if op == "BatchNormalization":
        scale, bias, mean, var = ins[1:5]
        eps = a.get("epsilon", 1e-5)
        shape = [1, -1] + [1] * (x.dim() - 2)
        if a.get("training_mode", 0):
            dims = [0] + list(range(2, x.dim()))
            mean = x.mean(dim=dims)
            var = ((x - mean.reshape(shape)) ** 2).mean(dim=dims)
        y = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps)
        return [y * scale.reshape(shape) + bias.reshape(shape)]
    if op == "LayerNormalization":
        axis = axis_index(a.get("axis", -1), x.dim())
        dims = tuple(range(axis, x.dim()))
        mean = x.mean(dim=dims, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
        y = (x - mean) / torch.sqrt(var + a.get("epsilon", 1e-5)) * ins[1]
        if len(ins) > 2 and ins[2] is not None:
            y = y + ins[2]
        return [y]
    if op in ("ReduceMean", "ReduceSum", "ReduceL2"):
        axes_in = opset >= (13 if op == "ReduceSum" else 18)
        axes = ins[1] if axes_in and len(ins) > 1 and ins[1] is not None else None
        axes = [int(v) for v in axes.tolist()] if axes is not None else list(a.get("axes", []))
        keep = bool(a.get("keepdims", 1))
        if not axes:
            if a.get("noop_with_empty_axes", 0):
                return [x]
            axes = list(range(x.dim()))
        if op == "ReduceL2":
            return [torch.sqrt(torch.sum(x * x, dim=tuple(axes), keepdim=keep))]
        f = torch.mean if op == "ReduceMean" else torch.sum
        return [f(x, dim=tuple(axes), keepdim=keep)]
    if op in ("Reshape", "Flatten", "Squeeze", "Unsqueeze"):
        return [x.reshape(out0)]
    if op == "Transpose":
        perm = a.get("perm", list(reversed(range(x.dim()))))
        return [x.permute(*perm)]
    if op == "Expand":
        return [x.expand(*out0)]
    if op == "Concat":
        return [torch.cat(list(ins), dim=a["axis"])]
    if op == "Split":
        axis = a.get("axis", 0)
        sizes = [e.shape[axis] for e in expected]
        return list(torch.split(x, sizes, dim=axis))
    if op == "Slice":
        if opset < 10:
            starts, ends = a["starts"], a["ends"]
            axes = a.get("axes", list(range(len(starts))))
            steps = [1] * len(starts)
        else:
            starts, ends = ins[1].tolist(), ins[2].tolist()
            axes = ins[3].tolist() if len(ins) > 3 and ins[3] is not None else list(range(len(starts)))
            steps = ins[4].tolist() if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
        y = x
        for st, en, ax, sp in zip(starts, ends, axes, steps):
            ax = axis_index(int(ax), x.dim())
            dim = x.shape[ax]
            st = max(min(int(st), 2**62), -(2**62))
            en = max(min(int(en), 2**62), -(2**62))
            idx = list(range(*slice(st, en, int(sp)).indices(dim)))
            y = y.index_select(ax, torch.tensor(idx, dtype=torch.long))
        return [y]
    if op == "Pad":
        mode = s(a.get("mode", "constant"))
        if mode != "constant":
            return None
        pads = ins[1].tolist() if opset >= 11 else list(a["pads"])
        value = 0.0
        if opset >= 11 and len(ins) > 2 and ins[2] is not None and ins[2].numel() > 0:
            value = float(ins[2].reshape(-1)[0])
        elif opset < 11:
            value = a.get("value", 0.0)
        r = x.dim()
        axes = ins[3].tolist() if len(ins) > 3 and ins[3] is not None else list(range(r))
        axes = [axis_index(int(v), r) for v in axes]
        n = len(axes)
        full_b, full_e = [0] * r, [0] * r
        for k, ax in enumerate(axes):
            full_b[ax], full_e[ax] = int(pads[k]), int(pads[n + k])
        tp = []
        for ax in reversed(range(r)):
            tp += [full_b[ax], full_e[ax]]
        return [F.pad(x, tp, value=value)]
    if op == "Gather":
        axis = axis_index(a.get("axis", 0), x.dim())
        idx = ins[1].long()
        flat = torch.where(idx < 0, idx + x.shape[axis], idx).reshape(-1)
        y = x.index_select(axis, flat)
        return [y.reshape(list(x.shape[:axis]) + list(idx.shape) + list(x.shape[axis + 1:]))]
    if op in ("GatherND", "ScatterND"):
        b = a.get("batch_dims", 0) if op == "GatherND" else 0
        rows, n_rows = nd_rows(list(x.shape), ins[1].long(), b)
        m = ins[1].shape[-1]
        flat = x.reshape([n_rows] + list(x.shape[b + m:]))
        if op == "GatherND":
            return [flat.index_select(0, rows).reshape(out0)]
        upd = ins[2].reshape([len(rows)] + list(x.shape[m:]))
        reduction = a.get("reduction", b"none")
        reduction = reduction.decode() if isinstance(reduction, bytes) else reduction
        if reduction == "none":
            return [flat.index_copy(0, rows, upd).reshape(x.shape)]
        if reduction == "add":
            return [flat.index_add(0, rows, upd).reshape(x.shape)]
        return None
    return None


def nd_rows(shape, idx, batch_dims):
    """The rows of the data viewed as (prod(shape[:batch_dims + m]), rest) that GatherND's or
    ScatterND's index tuples address (m = idx.shape[-1]), and the number of rows."""
    m = idx.shape[-1]
    addressed = shape[batch_dims:batch_dims + m]
    tuples = idx.reshape(-1, m)
    per_batch = math.prod(idx.shape[batch_dims:-1])
    row = torch.zeros(tuples.shape[0], dtype=torch.long)
    for k, d in enumerate(addressed):
        v = tuples[:, k]
        row = row * d + torch.where(v < 0, v + d, v)
    batch = torch.arange(tuples.shape[0]) // max(per_batch, 1)
    return batch * math.prod(addressed) + row, math.prod(shape[:batch_dims + m])


# ---------------------------------------------------------------------------------------------
# The protocol.
# ---------------------------------------------------------------------------------------------


def max_diff(a, b):
    """max |a - b|, where equal non-finite values (NaN and NaN, inf and inf) count as equal and
    any other non-finite difference as infinite."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    same = (np.isnan(a) & np.isnan(b)) | (np.isinf(a) & (a == b))
    d = np.where(same, 0.0, np.abs(a - b))
    d = np.where(np.isnan(d), np.inf, d)
    return float(np.max(d, initial=0.0))


def finite_max(a):
    a = np.abs(np.asarray(a, dtype=np.float64))
    a = a[np.isfinite(a)]
    return float(np.max(a, initial=0.0))


def rule_ops(intrain):
    out = subprocess.run([intrain, "ops"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.split()[1:2] == ["Rule"]}


def default_opset(model):
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return o.version
    return None


def applicable(case, ops):
    m = case.model
    if len(m.graph.node) != 1 or not m.graph.input:
        return False
    node = m.graph.node[0]
    if node.domain not in ("", "ai.onnx") or node.op_type not in ops:
        return False
    return m.graph.input[0].type.tensor_type.elem_type in FLOAT_TYPES


def as_array(v):
    if isinstance(v, onnx.TensorProto):
        return numpy_helper.to_array(v)
    return np.asarray(v) if isinstance(v, np.generic) else v


def probed_model(case, x_name):
    """The case's model with x + zero probe feeding the node and the other inputs as initializers."""
    m = onnx.ModelProto()
    m.CopyFrom(case.model)
    g = m.graph
    node = g.node[0]
    x_vi = g.input[0]
    x_val = as_array(case.data_sets[0][0][0])
    probe = x_name + "__probe"
    fed = x_name + "__probed"
    zero = np.zeros(x_val.shape, dtype=x_val.dtype)
    g.initializer.append(numpy_helper.from_array(zero, probe))
    for i, n in enumerate(node.input):
        if n == x_name:
            node.input[i] = fed
    add = helper.make_node("Add", [x_name, probe], [fed], name="probe_add")
    g.node.insert(0, add)
    inputs = case.data_sets[0][0]
    keep = [x_vi]
    for vi, val in zip(list(g.input)[1:], inputs[1:]):
        val = np.asarray(val) if isinstance(val, np.generic) else val
        if isinstance(val, onnx.TensorProto):
            t = onnx.TensorProto()
            t.CopyFrom(val)
            t.name = vi.name
            g.initializer.append(t)
        elif isinstance(val, np.ndarray):
            g.initializer.append(numpy_helper.from_array(val, vi.name))
        else:
            keep.append(vi)
    del g.input[:]
    g.input.extend(keep)
    return m


def run_case(case, intrain, out_dir, ops):
    m0 = case.model
    node = m0.graph.node[0]
    opset = default_opset(m0)
    inputs, expected = case.data_sets[0]
    inputs = [as_array(v) for v in inputs]
    expected = [as_array(v) for v in expected]
    x_name = m0.graph.input[0].name
    x = inputs[0]
    cdir = os.path.join(out_dir, case.name)
    os.makedirs(cdir, exist_ok=True)
    rec = {"case": case.name, "op": node.op_type, "opset": opset}
    model = probed_model(case, x_name)
    mpath = os.path.join(cdir, "model.onnx")
    onnx.save(model, mpath)
    xpath = os.path.join(cdir, "x.npy")
    np.save(xpath, x)
    tpath = os.path.join(cdir, "train.onnx")
    if os.path.exists(tpath):
        os.remove(tpath)
    cmd = [intrain, "grad", mpath, "--loss", "sum", "--bn", "as-is", "--input", xpath,
           "--save-graph", tpath, "--json", "--threads", "1"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        reason = " ".join(p.stderr.strip().splitlines()[-1:])
        reason = reason.replace(mpath, "MODEL").replace(xpath, "x.npy")
        reason = reason.replace("intrain: error: ", "")
        rec.update(verdict="refused", reason=reason)
        with open(os.path.join(cdir, "refused.txt"), "w") as f:
            f.write(p.stderr)
        return rec
    report = json.loads(p.stdout)
    with open(os.path.join(cdir, "intrain.json"), "w") as f:
        f.write(p.stdout)
    # The training graph is valid ONNX at the model's opset (not decisive: recorded).
    try:
        onnx.checker.check_model(onnx.load(tpath), full_check=True)
        rec["checker"] = "ok"
    except Exception as e:  # noqa: BLE001
        rec["checker"] = str(e).splitlines()[0][:200]

    # intrain's gradients, from its own training graph on ONNX Runtime.
    sess = ort.InferenceSession(tpath, SESSION_OPTIONS, providers=["CPUExecutionProvider"])
    feeds = {i.name: x for i in sess.get_inputs() if i.name == x_name}
    names = [o.name for o in sess.get_outputs()]
    vals = dict(zip(names, sess.run(None, feeds)))
    ours = {}
    for prm in report["params"]:
        gname = prm["name"] + "_grad"
        if gname in vals:
            ours[prm["name"]] = vals[gname].astype(np.float64)

    # The float64 reference.
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    tins = []
    leaves = {}
    for k, n in enumerate(node.input):
        if n == "":
            tins.append(None)
            continue
        if k == 0 or n == x_name + "__probed":
            t = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
            leaves[x_name + "__probe"] = t
        else:
            v = init[n]
            if v.dtype.kind == "f":
                t = torch.tensor(v.astype(np.float64), requires_grad=True)
                leaves[n] = t
            elif v.dtype.kind in "iub":
                t = torch.tensor(v)
            else:  # 16-bit floats of ml_dtypes (CastLike's type-only input)
                t = torch.tensor(v.astype(np.float64))
        tins.append(t)
    try:
        like = None
        if node.op_type == "CastLike":
            like = next(t.data_type for t in model.graph.initializer if t.name == node.input[1])
        ys = reference(node, opset, tins, expected, like)
    except Exception as e:  # noqa: BLE001
        ys = None
        rec["reference_error"] = str(e)
    if ys is None:
        rec.update(verdict="no reference")
        return rec
    y0 = ys[0]
    # Training-mode Dropout draws its mask at random: no forward to compare with.
    if not case.name.startswith("test_training_dropout"):
        fwd_err = max_diff(y0.detach().numpy(), expected[0].astype(np.float64))
        scale = finite_max(expected[0])
        rec["forward_err"] = fwd_err
        if fwd_err > 1e-4 * max(1.0, scale):
            rec.update(verdict="reference mismatch",
                       reason=f"reference forward differs from the suite's output by {fwd_err:.3g}")
            return rec
    y0.sum().backward()
    y_scale = finite_max(y0.detach().numpy())
    worst = 0.0
    details = {}
    for name, g in ours.items():
        t = leaves.get(name)
        if t is None:
            details[name] = "no reference leaf"
            continue
        ref = t.grad.numpy() if t.grad is not None else np.zeros(t.shape)
        if g.shape != ref.shape:
            details[name] = f"shape {g.shape} vs reference {ref.shape}"
            worst = math.inf
            continue
        err = max_diff(g, ref)
        tol = RTOL * finite_max(ref) + ATOL_Y * (1 + y_scale)
        details[name] = {"err": err, "tol": tol, "ref_max": finite_max(ref)}
        worst = max(worst, err / tol)
    rec["grads"] = details
    rec["checked"] = sorted(ours)
    if not ours:
        rec.update(verdict="wrong", reason="intrain reported no gradient")
        return rec
    if x_name + "__probe" not in ours:
        rec.update(verdict="wrong", reason="no gradient for the first input")
        return rec
    rec["worst_err_over_tol"] = worst
    rec["verdict"] = "agree" if worst <= 1.0 else "wrong"

    # Finite-difference cross-check (float32 ORT forward of the probed model), not decisive.
    try:
        rec["fd"] = fd_check(model, x_name, x, ours[x_name + "__probe"])
    except Exception as e:  # noqa: BLE001
        rec["fd"] = f"error: {e}"
    return rec


def fd_check(model, x_name, x, gx):
    m = onnx.ModelProto()
    m.CopyFrom(model)
    out0 = m.graph.output[0]
    del m.graph.output[:]
    m.graph.output.append(out0)
    sess = ort.InferenceSession(m.SerializeToString(), SESSION_OPTIONS, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    xs = x.astype(np.float64)
    scale = max(float(np.sqrt(np.mean(xs ** 2))) if xs.size else 0.0, 1e-2)
    rels = []
    for _ in range(2):
        v = rng.standard_normal(x.shape)
        eps = 1e-3 * scale
        lp = float(np.sum(sess.run(None, {x_name: (xs + eps * v).astype(x.dtype)})[0], dtype=np.float64))
        lm = float(np.sum(sess.run(None, {x_name: (xs - eps * v).astype(x.dtype)})[0], dtype=np.float64))
        num = (lp - lm) / (2 * eps)
        ana = float(np.sum(gx * v))
        rels.append(abs(num - ana) / max(abs(num), abs(ana), 1e-6))
    return max(rels)


def summarize(results):
    tried = len(results)
    by = {}
    for r in results:
        by.setdefault(r["verdict"], []).append(r)
    agree = len(by.get("agree", []))
    refused = len(by.get("refused", []))
    wrong = len(by.get("wrong", []))
    other = tried - agree - refused - wrong
    lines = [
        "| cases tried | agreeing | refused (with a reason) | wrong | other (no reference, reference mismatch) |",
        "|---|---|---|---|---|",
        f"| {tried} | {agree} | {refused} | {wrong} | {other} |",
    ]
    return "\n".join(lines), by


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--intrain", default="target/release/intrain")
    ap.add_argument("--out", default="target/onnx-suite")
    ap.add_argument("--cases", default="", help="only cases whose name contains this")
    ap.add_argument("--markdown", action="store_true", help="print the refused list as Markdown")
    args = ap.parse_args()
    from onnx.backend.test.case.node import collect_testcases

    ops = rule_ops(args.intrain)
    cases = [c for c in collect_testcases(None) if applicable(c, ops) and args.cases in c.name]
    os.makedirs(args.out, exist_ok=True)
    results = []
    for c in cases:
        r = run_case(c, args.intrain, args.out, ops)
        results.append(r)
        extra = r.get("reason", "")
        if r["verdict"] == "agree":
            fd = r.get("fd")
            fd = f"{fd:.1e}" if isinstance(fd, float) and math.isfinite(fd) else "n/a"
            extra = f"err/tol {r['worst_err_over_tol']:.2g}, finite differences {fd}"
        elif r["verdict"] == "wrong":
            extra = json.dumps(r.get("grads", r.get("reason", "")))[:300]
        print(f"{r['verdict']:<9} {r['case']} ({r['op']}, opset {r['opset']}) {extra}", flush=True)
    table, by = summarize(results)
    bad_graphs = [r for r in results if r.get("checker", "ok") != "ok"]
    table += f"\n\nTraining graphs that onnx.checker (full_check) rejects: {len(bad_graphs)}"
    for r in bad_graphs:
        table += f"\n- {r['case']}: {r['checker']}"
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    # Refused cases grouped by their reason (the one-line error intrain gave).
    groups = {}
    for r in by.get("refused", []):
        groups.setdefault(r["reason"], []).append(r)
    refused_md = ["| refused because | cases |", "|---|---|"]
    for reason, rs in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        names = ", ".join(f"`{r['case']}`" for r in rs)
        refused_md.append(f"| {reason.replace('|', '/')} | {len(rs)}: {names} |")
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(table + "\n\n" + "\n".join(refused_md) + "\n")
    print()
    print(table)
    if args.markdown:
        print()
        print("\n".join(refused_md))
    return 1 if by.get("wrong") else 0


if __name__ == "__main__":
    sys.exit(main())
