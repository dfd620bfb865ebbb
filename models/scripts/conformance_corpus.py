#!/usr/bin/env python3
"""Exports torchvision classification models to ONNX and writes PyTorch float64 references
beside them, for `cargo run --release --example conformance` (dev tool; nothing here is a
runtime or test dependency, and the corpus is not committed).

For every model of `torchvision.models.list_models(module=torchvision.models)` (classification
only) up to --max-params parameters:

  random init (weights=None, torch.manual_seed(0)), eval mode, seeded N(0,1) input of
  (--batch, 3, R, R) (R = --resolution, or the model's minimum where 64 cannot export), random
  labels; then four exports, each in its own file:
    ts             TorchScript exporter, opset 17, do_constant_folding=False: BatchNorm kept
                   (the exporter shares equal-valued initializers through Identity nodes)
    ts_folded      TorchScript exporter, opset 17, constant folding on: BN folded into Conv
    dynamo         dynamo exporter (opset 18), optimize=False: BN kept
    dynamo_folded  dynamo exporter, optimize=True: BN folded, all-zero biases deleted
  TorchScript exports have a dynamic batch axis; dynamo exports are static.

References (<variant>.ref.json), per BN mode the graph supports:
  train   BatchNorm with batch statistics (every other module in eval mode: no dropout)
  as_is   eval mode (running statistics)
Folded exports get `as_is` only: their reference is the model with every Conv+BN pair fused in
PyTorch (torch.fx), whose parameters are the folded ones. For each ONNX parameter: the PyTorch
parameter it holds (by name, else by value), the float64 gradient's unbiased std and max |g|, and
the float32 PyTorch gradient's relative error against float64 (PyTorch's own precision floor:
the largest over three runs, the input as given and twice moved by at most one float32 rounding
per element).
PyTorch parameters without an ONNX counterpart (deleted zero biases) are listed.

Per-layer participation ratios ("layers" in the reference): every output of an activation-like
ONNX node (the tensors intrain's layer rule can pick: activations, Add, Concat, Mul, Div,
LayerNormalization) is matched by value to a PyTorch tensor of the same shape: ONNX Runtime runs
the export (float32, eval mode) with those tensors as outputs, torch.fx (torchvision's
feature-extraction tracer) runs the PyTorch model node by node in float32, and each ONNX tensor
takes the PyTorch node whose output is closest (relative L2 error below 1e-3). Names play no
part, so both exporters are covered alike. Then, per BN mode, the matched PyTorch tensors'
participation ratio `(tr Cov)^2 / tr(Cov^2)` of the channel covariance over batch x positions,
computed in float64 from a float64 forward pass, with the channel axis taken as axis 1 and as
the last axis (the runner compares the one intrain's layout rule picks), and PyTorch float32's
own relative error on it (largest over the same three runs as the gradients).

Layout: OUT/<model>/{x.npy, labels.npy, <variant>.onnx, <variant>.ref.json, <variant>.error}.
Rerunning skips what exists and is current (--force re-exports too).

Needs torch, torchvision, onnx, onnxruntime, numpy, and onnxscript for the dynamo exporter.

Usage: python3 models/scripts/conformance_corpus.py [--out target/conformance] [--models a,b]
       [--variants ts,ts_folded,dynamo,dynamo_folded] [--batch 8] [--resolution 64]
       [--max-params 150e6]
"""
import argparse
import copy
import json
import os
import sys
import time
import traceback
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from onnx import numpy_helper

warnings.filterwarnings("ignore")
VARIANTS = ("ts", "ts_folded", "dynamo", "dynamo_folded")
F32_RUNS = 3
# Written into every reference; references of an older version are recomputed (the exported
# model is kept).
REF_VERSION = 4
# Models whose pooling geometry cannot export at 64x64 (AdaptiveAvgPool to a size that does not
# divide the map), or whose architecture needs a larger input.
MIN_RESOLUTION = {
    "alexnet": 224, "vgg11": 224, "vgg11_bn": 224, "vgg13": 224, "vgg13_bn": 224,
    "vgg16": 224, "vgg16_bn": 224, "vgg19": 224, "vgg19_bn": 224, "inception_v3": 75,
    "vit_b_16": 224, "vit_b_32": 224, "vit_l_16": 224, "vit_l_32": 224, "vit_h_14": 224,
    "swin_t": 224, "swin_s": 224, "swin_b": 224, "swin_v2_t": 256, "swin_v2_s": 256,
    "swin_v2_b": 256, "maxvit_t": 224,
}
# Smaller batches where the resolution is large (float64 references on a 2-core machine).
BATCH = {name: 2 for name, r in MIN_RESOLUTION.items() if r >= 224}


def build(name):
    kw = {"weights": None}
    if name in ("googlenet", "inception_v3"):
        kw.update(aux_logits=False, init_weights=True)
    torch.manual_seed(0)
    return getattr(torchvision.models, name)(**kw).eval()


def params_of(model):
    return sum(p.numel() for p in model.parameters())


def size_of(name):
    """Parameter count from torchvision's weight metadata (nothing is built or downloaded)."""
    try:
        return torchvision.models.get_model_weights(name).DEFAULT.meta["num_params"]
    except (KeyError, AttributeError, ValueError):
        return params_of(build(name))


def onnx_parameters(path):
    """Float initializers and Identity-of-initializer outputs: name -> numpy array."""
    m = onnx.load(path, load_external_data=True)
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    out = {k: v for k, v in inits.items() if v.dtype.kind == "f"}
    for n in m.graph.node:
        if n.op_type == "Identity" and n.input[0] in out:
            out[n.output[0]] = out[n.input[0]]
    return m, out


def match(torch_params, onnx_params):
    """ONNX name -> PyTorch name: by name first, then by value (non-constant tensors only)."""
    mapping, used = {}, set()
    for tname in torch_params:
        if tname in onnx_params:
            mapping[tname] = tname
            used.add(tname)
    for tname, t in torch_params.items():
        if tname in used:
            continue
        a = t.detach().float().numpy()
        if a.size < 2 or np.ptp(a) == 0:
            continue
        scale = float(np.abs(a).max())
        hits = [o for o, v in onnx_params.items()
                if o not in mapping and v.shape == a.shape
                and float(np.abs(v - a).max()) <= 1e-5 * scale + 1e-7]
        if len(hits) == 1:
            mapping[hits[0]] = tname
            used.add(tname)
    unmatched = [t for t in torch_params if t not in used]
    return mapping, unmatched


def set_bn(model, train):
    model.eval()
    if train:
        for mod in model.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.train()


def gradients(model, x, labels, dtype, bn_train):
    """Loss and, per PyTorch parameter, the gradient's (std, max |g|)."""
    m = copy.deepcopy(model).to(dtype)
    set_bn(m, bn_train)
    m.zero_grad(set_to_none=True)
    out = m(x.to(dtype))
    if isinstance(out, tuple):
        out = out[0]
    loss = F.cross_entropy(out, labels)
    loss.backward()
    # Only each gradient's (std, max |g|) is kept: VGG-sized models would otherwise hold several
    # full float64 copies of their gradients at once.
    g = {n: stats(p.grad.detach().double() if p.grad is not None else torch.zeros(p.shape))
         for n, p in m.named_parameters()}
    return float(loss), g


def ulp_perturbed(x, seed):
    """x with every element moved by at most one float32 rounding (relative 2^-24), seeded."""
    gen = torch.Generator().manual_seed(seed)
    u = torch.randint(-1, 2, x.shape, generator=gen).float()
    return (x.double() * (1 + u * 2.0 ** -24)).float()


def stats(g):
    g = g.flatten()
    return float(g.std()) if g.numel() > 1 else 0.0, float(g.abs().max())


def rel(a, b):
    return abs(a - b) / abs(b) if b != 0 else (0.0 if a == 0 else float("inf"))


def fused(model):
    from torch.fx.experimental.optimization import fuse
    return fuse(copy.deepcopy(model).eval())


def export(model, x, variant, path):
    folded = variant.endswith("_folded")
    if variant.startswith("ts"):
        torch.onnx.export(model, (x,), path, dynamo=False, opset_version=17,
                          do_constant_folding=folded, input_names=["input"],
                          output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    else:
        prog = torch.onnx.export(model, (x,), dynamo=True, optimize=folded)
        prog.save(path)
    onnx.checker.check_model(path, full_check=False)


# ONNX ops whose outputs intrain's layer rule can pick (see `default_layers`).
LAYER_OPS = {"Relu", "LeakyRelu", "Clip", "HardSwish", "Gelu", "Elu", "Softplus", "Tanh",
             "Sigmoid", "HardSigmoid", "Mul", "Div", "Add", "Concat", "LayerNormalization"}
# A PyTorch tensor is an ONNX tensor's counterpart when their relative L2 difference is below
# this (float32 on both sides; exporters reorder arithmetic and fold BatchNorm).
MATCH_TOL = 1e-3


class Tap(torch.fx.Interpreter):
    """Runs a traced model node by node, handing every tensor output to `fn(node_name, t)` when it
    is computed (before any later in-place op can change it)."""

    def __init__(self, gm, fn):
        super().__init__(gm)
        self.fn = fn

    def run_node(self, n):
        out = super().run_node(n)
        if isinstance(out, torch.Tensor) and out.is_floating_point():
            self.fn(n.name, out)
        return out


def traced(model):
    """The model as an fx graph (eval-mode graph, shared modules), through torchvision's tracer
    with torch.nn modules as the only leaves, so that the insides of torchvision's blocks
    (squeeze-excitation, Conv2dNormActivation) are visible; torchvision's default, which keeps
    those blocks whole, where that fails."""
    import math
    from torchvision.models.feature_extraction import (NodePathTracer,
                                                       create_feature_extractor,
                                                       get_graph_node_names)
    try:
        tracer = NodePathTracer(autowrap_modules=(math, torchvision.ops), leaf_modules=[])
        graph = tracer.trace(model)
        return torch.fx.GraphModule(tracer.root, graph)
    except Exception:  # noqa: BLE001 - some blocks only trace whole
        last = get_graph_node_names(model)[1][-1]
        return create_feature_extractor(model, return_nodes=[last])


def onnx_layer_values(path, x):
    """ONNX Runtime's float32 values of every output of a layer-like node (rank 2 to 4)."""
    m = onnx.load(path, load_external_data=True)
    names, have = [], {o.name for o in m.graph.output}
    for n in m.graph.node:
        if n.op_type in LAYER_OPS and n.output and n.output[0]:
            names.append(n.output[0])
            if n.output[0] not in have:
                m.graph.output.append(onnx.helper.make_empty_tensor_value_info(n.output[0]))
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = torch.get_num_threads()
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    vals = sess.run(names, {sess.get_inputs()[0].name: x.numpy()})
    return {k: v for k, v in zip(names, vals)
            if v.dtype == np.float32 and 2 <= v.ndim <= 4 and v.size > 0}


def match_layers(ref_model, x, onnx_vals):
    """ONNX tensor name -> (PyTorch fx node name, relative error): the closest PyTorch float32
    eval-mode tensor of the same shape, by value."""
    by_shape = {}
    for k, v in onnx_vals.items():
        by_shape.setdefault(tuple(v.shape), []).append(k)
    norms = {k: float(np.linalg.norm(v)) for k, v in onnx_vals.items()}
    heads = {k: v.reshape(-1)[:16].astype(np.float64) for k, v in onnx_vals.items()}
    best = {}

    def seen(name, t):
        keys = by_shape.get(tuple(t.shape))
        if not keys:
            return
        a = t.detach().float().numpy()
        na = float(np.linalg.norm(a))
        head = a.reshape(-1)[:16].astype(np.float64)
        for k in keys:
            scale = max(norms[k], na, 1e-30)
            # Cheap screens first: the norm, then the first elements.
            if abs(na - norms[k]) > MATCH_TOL * scale:
                continue
            if np.linalg.norm(head - heads[k]) > MATCH_TOL * scale:
                continue
            err = float(np.linalg.norm(a - onnx_vals[k])) / scale
            if err <= MATCH_TOL and (k not in best or err <= best[k][1]):
                best[k] = (name, err)

    m = copy.deepcopy(ref_model).float().eval()
    with torch.no_grad():
        Tap(traced(m), seen).run(x)
    return best


def participation(t, axis):
    """Participation ratio of the channel covariance (channels on `axis`, samples = the rest),
    in float64; 0 for an all-zero covariance (a dead layer)."""
    a = t.detach().double().movedim(axis, -1)
    a = a.reshape(-1, a.shape[-1])
    s = a.sum(0)
    cov = (a.T @ a - torch.outer(s, s) / a.shape[0]) / a.shape[0]
    tr, fro2 = float(torch.trace(cov)), float((cov * cov).sum())
    return tr * tr / fro2 if fro2 > 0 and tr > 0 else 0.0


def layer_prs(ref_model, x, dtype, bn_train, nodes):
    """fx node name -> (PR with channels on axis 1, PR with channels last) in one forward pass."""
    # The tracer sets every module to the model's mode: BatchNorm's mode is set afterwards.
    gm = traced(copy.deepcopy(ref_model).to(dtype))
    set_bn(gm, bn_train)
    out = {}

    def seen(name, t):
        if name in nodes:
            out[name] = (participation(t, 1), participation(t, -1))

    with torch.no_grad():
        Tap(gm, seen).run(x.to(dtype))
    return out


def layer_reference(ref_model, x, path, modes):
    """Per-layer PR references for the export at `path` (see the module doc)."""
    matched = match_layers(ref_model, x, onnx_layer_values(path, x))
    nodes = {n for n, _ in matched.values()}
    layers = {k: {"torch": n, "match_rel_err": e} for k, (n, e) in matched.items()}
    for mode in modes:
        bn_train = mode == "train"
        p64 = layer_prs(ref_model, x, torch.float64, bn_train, nodes)
        runs = [layer_prs(ref_model, x if k == 0 else ulp_perturbed(x, k), torch.float32,
                          bn_train, nodes) for k in range(F32_RUNS)]
        for k, entry in layers.items():
            n = entry["torch"]
            if n not in p64:
                continue
            (a1, al) = p64[n]
            entry[mode] = {"pr_axis1": a1, "pr_last": al,
                           "pr_axis1_f32_rel_err": max(rel(r[n][0], a1) for r in runs),
                           "pr_last_f32_rel_err": max(rel(r[n][1], al) for r in runs)}
    return layers, len(matched)


def reference(model, ref_model, x, labels, path, modes):
    m, onnx_params = onnx_parameters(path)
    tparams = dict(ref_model.named_parameters())
    mapping, unmatched = match(tparams, onnx_params)
    ref = {"modes": {}, "parameters": {}, "unmatched_torch_parameters": unmatched,
           "onnx_nodes": len(m.graph.node),
           "opset": next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")),
           "torch_parameters": sum(p.numel() for p in tparams.values())}
    for mode in modes:
        bn_train = mode == "train"
        loss64, g64 = gradients(ref_model, x, labels, torch.float64, bn_train)
        # PyTorch float32's own error against float64, as the largest over F32_RUNS runs: the
        # given input, then inputs that differ from it by at most one float32 rounding per
        # element. One run underestimates it: a ReLU input within rounding of zero flips sign
        # in some runs and not in others, a discrete change that deep train-mode networks show.
        runs = [gradients(ref_model, x if k == 0 else ulp_perturbed(x, k), labels,
                          torch.float32, bn_train) for k in range(F32_RUNS)]
        ref["modes"][mode] = {"loss": loss64,
                              "loss_f32_rel_err": max(rel(l, loss64) for l, _ in runs),
                              "f32_runs": F32_RUNS}
        for oname, tname in mapping.items():
            s64, m64 = g64[tname]
            s32 = [g[tname] for _, g in runs]
            entry = ref["parameters"].setdefault(
                oname, {"torch": tname, "shape": list(tparams[tname].shape)})
            entry[mode] = {"std": s64, "max_abs": m64,
                           "std_f32_rel_err": max(rel(a, s64) for a, _ in s32),
                           "max_f32_rel_err": max(rel(b, m64) for _, b in s32),
                           "std_f32": max(a for a, _ in s32), "max_f32": max(b for _, b in s32)}
    try:
        ref["layers"], ref["layers_matched"] = layer_reference(ref_model, x, path, modes)
    except Exception as e:  # noqa: BLE001 - the gradient references stand without it
        ref["layers"], ref["layers_error"] = {}, f"{type(e).__name__}: {e}"[:300]
    return ref


def current(ref_path):
    if not os.path.exists(ref_path):
        return False
    with open(ref_path) as f:
        return json.load(f).get("version") == REF_VERSION


def do_model(name, a):
    model = build(name)
    n = params_of(model)
    if n > a.max_params:
        print(f"{name}: {n / 1e6:.1f} M parameters, over --max-params: skipped", flush=True)
        return
    res = a.resolution if a.resolution != 64 else MIN_RESOLUTION.get(name, 64)
    batch = BATCH.get(name, a.batch)
    d = os.path.join(a.out, name)
    os.makedirs(d, exist_ok=True)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 3, res, res, generator=gen)
    with torch.no_grad():
        out = model(x[:1])
    num_classes = (out[0] if isinstance(out, tuple) else out).shape[-1]
    labels = torch.randint(0, num_classes, (batch,), generator=gen)
    np.save(os.path.join(d, "x.npy"), x.numpy())
    np.save(os.path.join(d, "labels.npy"), labels.numpy().astype(np.int64))
    for variant in a.variants:
        path = os.path.join(d, f"{variant}.onnx")
        ref_path = os.path.join(d, f"{variant}.ref.json")
        err_path = os.path.join(d, f"{variant}.error")
        if not a.force and (os.path.exists(err_path) or current(ref_path)):
            continue
        t0 = time.perf_counter()
        try:
            if a.force or not os.path.exists(path):
                export(model, x, variant, path)
            t_export = time.perf_counter() - t0
            if variant.endswith("_folded"):
                ref = reference(model, fused(model), x, labels, path, ["as_is"])
            else:
                ref = reference(model, model, x, labels, path, ["train", "as_is"])
            ref.update(version=REF_VERSION, model=name, variant=variant, batch=batch, resolution=res,
                       export_seconds=t_export,
                       reference_seconds=time.perf_counter() - t0 - t_export)
            with open(ref_path, "w") as f:
                json.dump(ref, f, indent=1)
            # A float32 spread measured against the previous reference is stale.
            spread_path = os.path.join(d, f"{variant}.spread.json")
            if os.path.exists(spread_path):
                os.remove(spread_path)
            if os.path.exists(err_path):
                os.remove(err_path)
            print(f"{name}/{variant}: {len(ref['parameters'])} parameters matched, "
                  f"{len(ref['unmatched_torch_parameters'])} unmatched, "
                  f"{ref.get('layers_matched', 0)} layer tensors matched "
                  f"{ref.get('layers_error', '')}, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
        except Exception as e:  # noqa: BLE001 - recorded per variant, the corpus goes on
            msg = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
            with open(err_path, "w") as f:
                f.write(msg + "\n\n" + traceback.format_exc())
            for p in (path, path + ".data"):
                if os.path.exists(p):
                    os.remove(p)
            print(f"{name}/{variant}: export or reference failed: {msg[:200]}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="target/conformance")
    ap.add_argument("--models", default="")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--max-params", type=float, default=150e6)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    a.variants = [v for v in a.variants.split(",") if v]
    for v in a.variants:
        if v not in VARIANTS:
            sys.exit(f"unknown variant {v}; one of {VARIANTS}")
    torch.set_num_threads(a.threads)
    names = [m for m in a.models.split(",") if m] or sorted(
        torchvision.models.list_models(module=torchvision.models))
    sizes = {n: size_of(n) for n in names}
    for n in names:
        if sizes[n] > a.max_params:
            print(f"{n}: {sizes[n] / 1e6:.1f} M parameters, over --max-params: skipped", flush=True)
    # Smallest first, so that an interrupted run covers as many architectures as possible.
    for name in sorted((n for n in names if sizes[n] <= a.max_params), key=sizes.get):
        try:
            do_model(name, a)
        except Exception as e:  # noqa: BLE001
            print(f"{name}: failed: {type(e).__name__}: {e}", flush=True)


if __name__ == "__main__":
    main()
