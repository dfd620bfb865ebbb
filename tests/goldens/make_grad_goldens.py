#!/usr/bin/env python3
"""PyTorch autograd goldens for the gradient tests (dev tool; Rust tests only read the outputs).

Produces tests/goldens/grad/<net>/ for net in resnet_block, resnet_block_shared,
inverted_residual, nb201_1cell, attention_block:
  model.onnx          forward graph only (no loss): TorchScript exporter (dynamo=False), opset 17,
                      do_constant_folding=False, BatchNormalization in training mode
                      (training_mode=1, batch statistics), static shapes, input `x`, output `logits`
  x.npy               float32 input;  labels.npy  int64 class labels
  logits.npy          float64 logits; loss.npy    float64 scalar, mean cross-entropy(logits, labels)
  grad__<p>.npy       float64 d(loss)/d(p) for every p in model.named_parameters()
  meta.json           op types, node count, opset, ONNX initializer -> PyTorch parameter
                      ("buffer:<name>" for BN running stats), Identity outputs -> parameter,
                      and the onnxruntime-vs-torch logits error
The goldens come from the model in float64 (model.double(), train mode) on the float32 input
upcast; the ONNX file holds the same float32 weights. Every model.onnx passes
onnx.checker (full_check) and onnxruntime must reproduce the float64 logits to 1e-4 relative.

Run from the repo root:  /work/pyenv/bin/python tests/goldens/make_grad_goldens.py
"""
import copy
import json
import math
import os
import shutil
import warnings
from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F

warnings.filterwarnings("ignore")  # TorchScript-exporter deprecation and train-mode notices
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grad")
OPSET = 17
REL_TOL = 1e-4  # onnxruntime (float32) vs torch float64 logits, relative to max |logit|
BATCH = 4


# ---------------------------------------------------------------- 1, 2: ResNet basic blocks
class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class ResNetBlockNet(nn.Module):
    def __init__(self, classes=5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8),
                                  nn.ReLU())
        self.block1 = BasicBlock(8, 8, 1)
        self.block2 = BasicBlock(8, 16, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        x = self.block2(self.block1(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


# ---------------------------------------------------------------- 3: inverted residual (MBv3)
class SqueezeExcite(nn.Module):
    def __init__(self, c, squeeze):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, squeeze, 1, bias=True)
        self.relu = nn.ReLU()
        self.fc2 = nn.Conv2d(squeeze, c, 1, bias=True)
        self.gate = nn.Hardsigmoid()

    def forward(self, x):
        return x * self.gate(self.fc2(self.relu(self.fc1(self.pool(x)))))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cexp, cout, stride, act, squeeze=8):
        super().__init__()
        self.use_res = stride == 1 and cin == cout
        self.expand = nn.Sequential(nn.Conv2d(cin, cexp, 1, bias=False), nn.BatchNorm2d(cexp),
                                    act())
        self.dw = nn.Sequential(nn.Conv2d(cexp, cexp, 3, stride, 1, groups=cexp, bias=False),
                                nn.BatchNorm2d(cexp), act())
        self.se = SqueezeExcite(cexp, squeeze)
        self.project = nn.Sequential(nn.Conv2d(cexp, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.project(self.se(self.dw(self.expand(x))))
        return x + y if self.use_res else y


class InvertedResidualNet(nn.Module):
    def __init__(self, classes=5):
        super().__init__()
        self.block1 = InvertedResidual(8, 24, 8, 1, nn.Hardswish)  # residual
        self.block2 = InvertedResidual(8, 24, 8, 2, nn.ReLU6)      # stride 2, no residual
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        x = self.block2(self.block1(x))
        return self.fc(torch.flatten(self.pool(x), 1))


# ---------------------------------------------------------------- 4: NAS-Bench-201 TinyNetwork
# Module names follow AutoDL-Projects (models/cell_infers/tiny_network.py, cells.py,
# cell_operations.py). Two deliberate differences that do not change the maths: node sums start
# from the first term instead of Python sum()'s 0 (which the exporter would emit as Add(x, 0)),
# and the head uses torch.flatten instead of out.view(out.size(0), -1) (a Shape/Gather chain).
NB201_ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
NB201_C = 8  # the benchmark's C=16 has 182k parameters: 2.2 MB of float64 grads + ONNX alone;
             # C=8 (46k) keeps tests/goldens/grad/ well under 2 MB with the same structure


class ReLUConvBN(nn.Module):
    def __init__(self, cin, cout, k, stride, pad):
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(inplace=False),
                                nn.Conv2d(cin, cout, k, stride, pad, bias=False),
                                nn.BatchNorm2d(cout, affine=True, track_running_stats=True))

    def forward(self, x):
        return self.op(x)


class Pooling(nn.Module):
    def __init__(self):
        super().__init__()
        self.op = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)

    def forward(self, x):
        return self.op(x)


def nb201_op(name, c):
    return {"nor_conv_3x3": lambda: ReLUConvBN(c, c, 3, 1, 1),
            "nor_conv_1x1": lambda: ReLUConvBN(c, c, 1, 1, 0),
            "avg_pool_3x3": Pooling,
            "skip_connect": nn.Identity}[name]()


class InferCell(nn.Module):
    def __init__(self, arch, c):
        super().__init__()
        self.layers = nn.ModuleList()
        self.node_IN, self.node_IX = [], []
        for group in arch.split("+"):
            ins, ixs = [], []
            for tok in group.strip("|").split("|"):
                op, src = tok.split("~")
                ins.append(int(src))
                ixs.append(len(self.layers))
                self.layers.append(nb201_op(op, c))
            self.node_IN.append(ins)
            self.node_IX.append(ixs)

    def forward(self, x):
        nodes = [x]
        for ixs, ins in zip(self.node_IX, self.node_IN):
            feat = self.layers[ixs[0]](nodes[ins[0]])
            for il, ii in zip(ixs[1:], ins[1:]):
                feat = feat + self.layers[il](nodes[ii])
            nodes.append(feat)
        return nodes[-1]


class ResNetBasicblock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        assert stride == 2
        self.conv_a = ReLUConvBN(cin, cout, 3, stride, 1)
        self.conv_b = ReLUConvBN(cout, cout, 3, 1, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
                                        nn.Conv2d(cin, cout, 1, 1, 0, bias=False))

    def forward(self, x):
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class TinyNetwork(nn.Module):
    def __init__(self, c=NB201_C, n=1, arch=NB201_ARCH, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        chans = [c] * n + [c * 2] + [c * 2] * n + [c * 4] + [c * 4] * n
        reds = [False] * n + [True] + [False] * n + [True] + [False] * n
        self.cells = nn.ModuleList()
        prev = c
        for cur, red in zip(chans, reds):
            self.cells.append(ResNetBasicblock(prev, cur, 2) if red else InferCell(arch, cur))
            prev = cur
        self.lastact = nn.Sequential(nn.BatchNorm2d(prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(prev, classes)

    def forward(self, x):
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        x = self.global_pooling(self.lastact(x))
        return self.classifier(torch.flatten(x, 1))


# ---------------------------------------------------------------- 5: ViT-style block
class AttentionBlock(nn.Module):
    def __init__(self, tokens=6, dim=16, heads=2, hidden=32, classes=5):
        super().__init__()
        self.t, self.c, self.h, self.d = tokens, dim, heads, dim // heads
        self.ln1 = nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.head = nn.Linear(dim, classes)

    def split(self, y):  # (B,T,C) -> (B,H,T,D); -1 batch keeps the Reshape target a constant
        return y.reshape(-1, self.t, self.h, self.d).transpose(1, 2)

    def forward(self, x):
        h = self.ln1(x)
        q, k, v = self.split(self.q(h)), self.split(self.k(h)), self.split(self.v(h))
        att = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.d), dim=-1)
        y = torch.matmul(att, v).transpose(1, 2).reshape(-1, self.t, self.c)
        x = x + self.out(y)
        x = x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="none"))
        return self.head(x.mean(dim=1))


# ---------------------------------------------------------------- setup per network
def randomize_affine(model):
    """BN/LayerNorm weight ~ U(0.5,1.5), bias ~ N(0,0.1): no two parameters equal-valued."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
                m.weight.copy_(torch.rand(m.weight.shape) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape) * 0.1)


# name: (seed, constructor, input shape, classes, randomize BN/LN affine, description)
NETS = {
    "resnet_block": (0, ResNetBlockNet, (BATCH, 3, 8, 8), 5, True,
                     "stem conv3x3+BN+ReLU, basic block 8ch, downsample block 16ch s2 "
                     "(1x1 s2 conv+BN shortcut), GAP, Linear(16,5)"),
    "resnet_block_shared": (0, ResNetBlockNet, (BATCH, 3, 8, 8), 5, False,
                            "resnet_block with default BN affine params (weight 1, bias 0); "
                            "equal-valued initializers shared through Identity nodes"),
    "inverted_residual": (1, InvertedResidualNet, (BATCH, 8, 8, 8), 5, True,
                          "MobileNetV3 inverted residual 8-24-8 (Hardswish, SE, residual) then "
                          "stride-2 block (ReLU6, SE, no residual), GAP, Linear(8,5)"),
    "nb201_1cell": (2, TinyNetwork, (BATCH, 3, 16, 16), 10, True,
                    f"NAS-Bench-201 TinyNetwork C={NB201_C}, N=1, cell {NB201_ARCH}"),
    "attention_block": (3, AttentionBlock, (BATCH, 6, 16), 5, True,
                        "pre-LN transformer block, dim 16, 2 heads, MLP 32 (exact GELU), "
                        "mean over tokens, Linear(16,5)"),
}


# ---------------------------------------------------------------- export + ONNX bookkeeping
def export(model, x, path, share_equal_initializers):
    """TorchScript export with BatchNormalization in training mode.

    With training=TRAINING the exporter deduplicates initializers only when they are the same
    tensor (it passes the root module's .training to _jit_pass_onnx_deduplicate_initializers),
    so equal-valued BN parameters are never shared. For the shared variant we export with
    TrainingMode.PRESERVE, every submodule in train mode but the root's .training flag False:
    the BN nodes are still exported from train-mode modules (training_mode=1, batch statistics)
    and the exporter now shares equal-valued initializers through Identity nodes, as it does in
    an ordinary eval-mode export. Exports a copy: the tracing forward updates BN running stats.
    """
    model = copy.deepcopy(model).train()
    mode = torch.onnx.TrainingMode.TRAINING
    if share_equal_initializers:
        model.training = False
        mode = torch.onnx.TrainingMode.PRESERVE
    torch.onnx.export(model, (x,), path, dynamo=False, opset_version=OPSET,
                      do_constant_folding=False, training=mode,
                      input_names=["x"], output_names=["logits"])
    onnx.checker.check_model(path, full_check=True)


def onnx_meta(path, model):
    """Op types, BN attributes, initializer -> parameter map and Identity-of-initializer map."""
    m = onnx.load(path)
    g = m.graph
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    inits = {i.name: i for i in g.initializer}
    opset = next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
    assert opset == OPSET, opset
    assert [i.name for i in g.input] == ["x"] and [o.name for o in g.output] == ["logits"]

    def role(name):
        if name in params:
            return name
        if name in buffers:
            return "buffer:" + name
        raise AssertionError(f"initializer {name} is neither a parameter nor a buffer")

    init_map = {name: role(name) for name in inits}
    identities = []
    for n in g.node:
        if n.op_type == "Identity" and n.input[0] in inits:
            # The exporter names the Identity output after the duplicate it replaced.
            consumers = [f"{c.op_type}:{c.name}[input {list(c.input).index(n.output[0])}]"
                         for c in g.node if n.output[0] in c.input]
            identities.append({"output": n.output[0], "input_initializer": n.input[0],
                               "parameter": role(n.output[0]),
                               "input_parameter": init_map[n.input[0]],
                               "consumers": consumers})
    for n in g.node:
        assert n.op_type != "Identity" or n.input[0] in inits, f"Identity over non-initializer {n.name}"
    # Every parameter must be reachable: as an initializer or as an Identity output.
    where = {v: k for k, v in init_map.items()}
    where.update({r["parameter"]: r["output"] for r in identities})
    missing = [p for p in params if p not in where]
    assert not missing, f"parameters not in the ONNX graph: {missing}"

    bn = [n for n in g.node if n.op_type == "BatchNormalization"]
    bn_attrs = sorted({tuple(sorted((a.name, round(onnx.helper.get_attribute_value(a), 7))
                                    for a in n.attribute)) for n in bn})
    for n in bn:
        assert dict((a.name, onnx.helper.get_attribute_value(a)) for a in n.attribute)[
            "training_mode"] == 1, n.name
    return {
        "opset": opset,
        "ir_version": m.ir_version,
        "node_count": len(g.node),
        "op_types": sorted(Counter(n.op_type for n in g.node)),
        "op_counts": dict(sorted(Counter(n.op_type for n in g.node).items())),
        "batchnorm_attributes": [dict(a) for a in bn_attrs],
        "batchnorm_output_count": sorted({len(n.output) for n in bn}),
        "initializer_count": len(g.initializer),
        "initializers": init_map,
        "identity_nodes": identities,
        "parameters": {p: {"shape": list(t.shape), "onnx_name": where[p],
                           "grad_file": f"grad__{p}.npy"} for p, t in params.items()},
    }


def ort_logits(path, x):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


# ---------------------------------------------------------------- goldens
def golden(model, x, labels):
    ref = copy.deepcopy(model).double().train()
    logits = ref(x.double())
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    grads = {p: t.grad.detach().clone() for p, t in ref.named_parameters()}
    # Sanity: directional central difference along one random direction in float64.
    gen = torch.Generator().manual_seed(1234)
    dirs = {p: torch.randn(t.shape, generator=gen, dtype=torch.float64)
            for p, t in ref.named_parameters()}
    norm = math.sqrt(sum(float((v * v).sum()) for v in dirs.values()))
    dirs = {p: v / norm for p, v in dirs.items()}  # unit step: ReLU kinks stay out of reach
    analytic = sum(float((grads[p] * dirs[p]).sum()) for p in grads)
    eps = 1e-6
    vals = []
    with torch.no_grad():
        for s in (1.0, -1.0):
            probe = copy.deepcopy(model).double().train()
            for p, t in probe.named_parameters():
                t.add_(s * eps * dirs[p])
            vals.append(float(F.cross_entropy(probe(x.double()), labels)))
    numeric = (vals[0] - vals[1]) / (2 * eps)
    fd_rel = abs(numeric - analytic) / max(abs(analytic), 1e-12)
    assert fd_rel < 1e-5, f"finite-difference check failed: {numeric} vs {analytic}"
    return logits.detach(), loss.detach(), grads, fd_rel


def make(name):
    seed, ctor, shape, classes, randomize, desc = NETS[name]
    torch.manual_seed(seed)
    model = ctor()
    if randomize:
        randomize_affine(model)
    x = torch.randn(*shape)  # float32
    labels = torch.randint(0, classes, (shape[0],), dtype=torch.int64)

    d = os.path.join(OUT, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    path = os.path.join(d, "model.onnx")
    shared = name == "resnet_block_shared"
    export(model, x, path, share_equal_initializers=shared)
    meta = onnx_meta(path, model)
    if shared:
        assert meta["identity_nodes"], "expected Identity nodes over shared initializers"
    else:
        assert not meta["identity_nodes"], "unexpected Identity nodes"
        vals = [t.detach().numpy().tobytes() for t in model.parameters()]
        assert len(set(vals)) == len(vals), "two parameters are equal-valued"

    logits, loss, grads, fd_rel = golden(model, x, labels)
    np.save(os.path.join(d, "x.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(d, "labels.npy"), labels.numpy().astype(np.int64))
    np.save(os.path.join(d, "logits.npy"), logits.numpy().astype(np.float64))
    np.save(os.path.join(d, "loss.npy"), np.array(loss.item(), dtype=np.float64))
    for p, g in grads.items():
        np.save(os.path.join(d, f"grad__{p}.npy"), g.numpy().astype(np.float64))

    got = ort_logits(path, x.numpy())
    ref = logits.numpy()
    abs_err = float(np.abs(got.astype(np.float64) - ref).max())
    rel_err = abs_err / float(np.abs(ref).max())
    if not rel_err <= REL_TOL:
        raise SystemExit(f"{name}: onnxruntime vs torch float64 logits rel err {rel_err:.3e} "
                         f"> {REL_TOL:g}")

    out = {
        "network": name,
        "description": desc,
        "torch_seed": seed,
        "torch_version": torch.__version__,
        "onnx_version": onnx.__version__,
        "onnxruntime_version": ort.__version__,
        "exporter": "torch.onnx.export(dynamo=False, opset_version=17, do_constant_folding=False, "
                    + ("training=PRESERVE with root.training=False and all submodules in train "
                       "mode, so equal-valued initializers are shared via Identity"
                       if shared else "training=TrainingMode.TRAINING") + ")",
        "input": {"name": "x", "file": "x.npy", "dtype": "float32", "shape": list(shape)},
        "labels": {"file": "labels.npy", "dtype": "int64", "classes": classes,
                   "values": labels.tolist()},
        "output": {"name": "logits", "file": "logits.npy", "dtype": "float64",
                   "shape": list(ref.shape)},
        "loss": {"file": "loss.npy", "dtype": "float64", "value": loss.item(),
                 "definition": "mean cross-entropy(logits, labels), not part of model.onnx"},
        "gradients": "grad__<parameter>.npy, float64, d(loss)/d(parameter) from torch autograd "
                     "on model.double() in train mode (BN batch statistics)",
        "bn_note": "BatchNormalization nodes have training_mode=1 and 3 outputs (Y, running_mean, "
                   "running_var; only Y is used). torch BN momentum is the default 0.1, exported "
                   "as ONNX momentum 0.9; Y does not depend on it. The running-stat initializers "
                   "hold the values after the exporter's tracing forward (one momentum update); "
                   "they do not affect Y in training mode.",
        "ort_vs_torch64_logits": {"max_abs_err": abs_err, "max_rel_err": rel_err},
        "fd_directional_check_rel_err": fd_rel,
        **meta,
    }
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    nparams = sum(t.numel() for t in model.parameters())
    print(f"{name:20s} params {nparams:6d}  nodes {meta['node_count']:3d}  "
          f"identity {len(meta['identity_nodes']):2d}  ORT max abs {abs_err:.2e} rel {rel_err:.2e}  "
          f"fd {fd_rel:.1e}  loss {loss.item():.6f}  {size / 1024:.0f} KiB")
    print(f"{'':20s} ops: {' '.join(meta['op_types'])}")


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    for name in NETS:
        make(name)


if __name__ == "__main__":
    main()
