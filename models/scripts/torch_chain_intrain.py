#!/usr/bin/env python3
"""PyTorch reference implementation of the InTrain score on intrain's chain spaces (dev tool).

Definition: the network `intrain score SPACE --arch ARCH` lowers a chain-space architecture to
(src/space/lower.rs, blocks.rs), scored with intrain's default protocol for a space:
  network   stem conv_bn_act (k x k convolution without bias, padding k//2, the stem's stride,
            BatchNorm eps 1e-5, activation); then per stage its blocks, the first with the stage's
            stride and width, the others stride 1. Blocks:
              skip                the input where the block keeps stride 1 and its width, else a
                                  1x1 convolution carrying the stride + BN (no activation);
              conv_bn_act         k x k convolution (padding k//2) + BN + activation;
              dw_conv_bn_act      the same, depthwise (it keeps the channel count);
              inverted_residual   1x1 expansion conv-BN-act to round(cin x e) channels (absent
                                  when e = 1), depthwise k x k conv-BN-act carrying the stride,
                                  optional squeeze-excitation (global average pool, 1x1 conv with
                                  bias to make_divisible(hidden // 4), ReLU, 1x1 conv with bias,
                                  HardSigmoid x/6 + 1/2, scale), 1x1 projection conv-BN, and the
                                  residual add when the stride is 1 and the width stays.
            Activations: relu, relu6 (clip 0..6), hswish (x clip(x/6 + 1/2, 0, 1), ONNX HardSwish),
            swish (x sigmoid(x)), none. Head conv_bn_act_gap_linear: 1x1 conv-BN-act, global
            average pool, optional hidden linear layer with the same activation, linear
            classifier. Every convolution is bias-free except the squeeze-excitation's; linear
            layers have biases. Parameter names are intrain's (`stage2/block0/project/conv.weight`).
  init      Kaiming-normal fan_in (ReLU gain) for Conv/Linear weights (fan_in = in/groups x k x k),
            BN gamma=1 beta=0, biases 0; or, with --weights-from, the initializers of an
            `intrain export` file, which are the weights `intrain score` draws for the same seed.
  pass      x ~ N(0,1) (B, 3, R, R), labels uniform over the classes, BN in train mode (batch
            statistics), mean cross-entropy, one forward + backward; float32 on CPU. R defaults
            to max(64, the space's resolution): 64 for fbnet_cifar.yaml, 224 for the ImageNet
            spaces. --input / --labels read intrain's .npy inputs instead.
  layers    gamma over the stem output and every block output (intrain's `grammar` rule): L = 1 +
            number of blocks. A skip block that passes its input unchanged counts again.
            PR = tr(C)^2 / tr(C^2), C the channel covariance of the (M = B*H*W) x C activations
            (centred, divided by M), in float64 from the float32 activations. A layer whose output
            is identically zero is dead and contributes log PR = 0; so does a layer with zero
            covariance (PR 0, not dead) or with non-finite values.
  tensors   o = sum over parameter tensors with a gradient and numel >= 2 of
            h = min(1, std(g) / (max|g| + 1e-12)), std unbiased, in float64; a gradient with
            NaN/Inf is left out. BN running stats are buffers.
  score     I = gamma (1 + o) / log(L + 1).
Seeding: torch.manual_seed(seed) before building the model (init), then the input, then the
labels, all from the same generator.

Usage (from the repo root):
  python3 models/scripts/torch_chain_intrain.py --space models/spaces/fbnet_cifar.yaml \\
      --arch 'ir_k3_e1|w32:conv-k1-none,conv-k3-relu|w48:skip|w128:ir-k5-e6,skip' \\
      --batch 64 --resolution 32 --seed 0 --threads 2 --json [--repeat 5] [--layers-detail]
  ... --archs-file archs.txt      one arch per line: the first column of `intrain sample`,
                                  `#` comments skipped
  ... --check-params              compare #params and multiply-adds (batch 1, the space's own
                                  resolution) with what `intrain export` reports (--binary)
  ... --weights-from m.onnx --input x.npy --labels y.npy
        score with the weights of `intrain export SPACE --arch A -o m.onnx` and the batch and labels
        given to `intrain score SPACE --arch A --input x.npy --labels y.npy` (needs `onnx`)
JSON (one line per arch): arch, intrain, gamma, o, L, n_tensors, dead_layers, params, loss,
seconds (end-to-end time of one score: build + init + forward + backward + reductions; with
--repeat K the median of K runs after one warm-up run, and seconds_all lists them); with
--layers-detail, layers (name: the block's scope, pr, dead) and tensors (name, h); with
--check-params, macs.
"""
import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_intrain import covariance_traces, init_intrain  # noqa: E402  (the same covariance and init)

EPS = 1e-12
PAPER_RESOLUTION = 64
# The choice dimensions of each block op, in architecture-string order (src/space/chain.rs).
DIMS = {"conv_bn_act": ("kernel", "act"), "dw_conv_bn_act": ("kernel", "act"),
        "inverted_residual": ("kernel", "expansion", "act", "se")}


# ---------------------------------------------------------------------------------------------
# Spaces and architecture strings


def options(v):
    return v if isinstance(v, list) else [v]


def op_of(spec):
    """A YAML op definition -> (kind, fields): `skip` -> ("skip", {}); inverted_residual's `se`
    defaults to false."""
    if isinstance(spec, str):
        return spec, {}
    (kind, fields), = spec.items()
    return kind, dict(fields, se=fields.get("se", False)) if kind == "inverted_residual" else fields


def token(dim, v):
    if dim == "kernel":
        return f"k{v}"
    if dim == "expansion":
        return "e" + (str(int(v)) if float(v).is_integer() else repr(float(v)))
    if dim == "se":
        return "se" if v else "nose"
    return v


def load_space(path):
    with open(path) as f:
        space = yaml.safe_load(f)
    if not space.get("chain"):
        raise ValueError(f"{path}: not a chain space (no `chain:` section)")
    return space


def parse_block(space, stage, text):
    """`ir-k5-e6` -> (kind, {kernel: 5, expansion: 6, act: ..., se: ...})."""
    name, *toks = text.split("-")
    if name not in stage["ops"]:
        raise ValueError(f"'{name}' is not an op of this stage ({', '.join(stage['ops'])})")
    kind, fields = op_of(space["ops"][name])
    multi = [d for d in DIMS.get(kind, ()) if len(options(fields[d])) > 1]
    if len(toks) != len(multi):
        raise ValueError(f"op '{name}' takes {len(multi)} choice token(s), found {len(toks)}")
    chosen = {d: options(fields[d])[0] for d in DIMS.get(kind, ())}
    for d, tok in zip(multi, toks):
        opts = {token(d, v): v for v in options(fields[d])}
        if tok not in opts:
            raise ValueError(f"'{tok}' is not a {d} option of '{name}' ({', '.join(opts)})")
        chosen[d] = opts[tok]
    return kind, chosen


def parse_arch(space, s):
    """'w24:...|...' -> [(width, stride, [(kind, fields), ...]) per stage]."""
    groups = s.strip().split("|")
    if len(groups) != len(space["chain"]):
        raise ValueError(f"expected {len(space['chain'])} stages, found {len(groups)}: {s}")
    stages = []
    for stage, g in zip(space["chain"], groups):
        widths = options(stage["channels"])
        width, body = widths[0], g
        if len(widths) > 1:
            if ":" not in g:
                raise ValueError(f"stage '{g}' lacks its width, e.g. 'w{widths[0]}:': {s}")
            w, body = g.split(":", 1)
            width = int(w.removeprefix("w"))
            if width not in widths:
                raise ValueError(f"width {w} is not an option ({widths}): {s}")
        blocks = [parse_block(space, stage, t) for t in body.split(",")]
        if len(blocks) not in options(stage["depth"]):
            raise ValueError(f"{len(blocks)} blocks, depth options {stage['depth']}: {s}")
        stages.append((width, stage.get("stride", 1), blocks))
    return stages


def resolution_for(space, resolution):
    return resolution or max(PAPER_RESOLUTION, space["input"]["resolution"])


# ---------------------------------------------------------------------------------------------
# The network


class HardSwish(nn.Module):
    """ONNX HardSwish: x max(0, min(1, x/6 + 1/2))."""

    def forward(self, x):
        return x * torch.clamp(x * (1.0 / 6.0) + 0.5, 0.0, 1.0)


class Swish(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


ACTS = {"relu": nn.ReLU, "relu6": nn.ReLU6, "hswish": HardSwish, "swish": Swish,
        "none": nn.Identity}


def make_divisible(v):
    """torchvision's _make_divisible(v, 8): the nearest multiple of 8, at least 8, >= 90% of v."""
    new = max(8, (v + 4) // 8 * 8)
    return new + 8 if new < 0.9 * v else new


class ConvBnAct(nn.Module):
    def __init__(self, cin, cout, k, stride=1, groups=1, act="none"):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-5)
        self.act = ACTS[act]()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Skip(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.project = None if (stride == 1 and cin == cout) else ConvBnAct(cin, cout, 1, stride)

    def forward(self, x):
        return x if self.project is None else self.project(x)


class SqueezeExcite(nn.Module):
    def __init__(self, c):
        super().__init__()
        sq = make_divisible(c // 4)
        self.fc1 = nn.Conv2d(c, sq, 1)
        self.fc2 = nn.Conv2d(sq, c, 1)

    def forward(self, x):
        g = self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * torch.clamp(g * (1.0 / 6.0) + 0.5, 0.0, 1.0)


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, kernel, expansion, act, se):
        super().__init__()
        hidden = max(1, math.floor(cin * expansion + 0.5))  # Rust's f64::round: half away from 0
        self.expand = ConvBnAct(cin, hidden, 1, act=act) if expansion != 1 else None
        self.dw = ConvBnAct(hidden, hidden, kernel, stride, hidden, act)
        self.se = SqueezeExcite(hidden) if se else None
        self.project = ConvBnAct(hidden, cout, 1)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        h = x if self.expand is None else self.expand(x)
        h = self.dw(h)
        if self.se is not None:
            h = self.se(h)
        h = self.project(h)
        return x + h if self.residual else h


def make_block(kind, fields, cin, cout, stride):
    if kind == "skip":
        return Skip(cin, cout, stride)
    if kind == "conv_bn_act":
        return ConvBnAct(cin, cout, fields["kernel"], stride, 1, fields["act"])
    if kind == "dw_conv_bn_act":
        return ConvBnAct(cin, cin, fields["kernel"], stride, cin, fields["act"])
    if kind == "inverted_residual":
        return InvertedResidual(cin, cout, stride, **fields)
    raise ValueError(f"block op '{kind}' is not supported by this port")


class Head(ConvBnAct):
    """conv_bn_act_gap_linear: 1x1 conv-BN-act, global average pool, [hidden linear + act],
    linear classifier."""

    def __init__(self, cin, channels, act, classes, hidden=None):
        super().__init__(cin, channels, 1, act=act)
        self.hidden = nn.Linear(channels, hidden) if hidden else None
        self.fc = nn.Linear(hidden or channels, classes)

    def forward(self, x):
        h = super().forward(x).mean((2, 3))
        if self.hidden is not None:
            h = self.act(self.hidden(h))
        return self.fc(h)


class ChainNet(nn.Module):
    """Children are named by intrain's scopes (`stem`, `stage2/block0`, `head`)."""

    def __init__(self, space, stages):
        super().__init__()
        (stem_kind, stem), = space["stem"].items()
        (head_kind, head), = space["head"].items()
        if stem_kind != "conv_bn_act" or head_kind != "conv_bn_act_gap_linear":
            raise ValueError(f"stem '{stem_kind}' / head '{head_kind}' not supported by this port")
        self.stem = ConvBnAct(space["input"]["channels"], stem["channels"], stem["kernel"],
                              stem.get("stride", 1), 1, stem["act"])
        self.scopes = []
        c = stem["channels"]
        for k, (width, stride, blocks) in enumerate(stages):
            for j, (kind, fields) in enumerate(blocks):
                scope = f"stage{k + 1}/block{j}"
                self.add_module(scope, make_block(kind, fields, c, width, stride if j == 0 else 1))
                self.scopes.append(scope)
                c = width
        self.head = Head(c, head["channels"], head["act"], space["input"]["classes"],
                         head.get("hidden"))

    def forward(self, x, record=None):
        h = self.stem(x)
        outs = [h]
        for scope in self.scopes:
            h = getattr(self, scope)(h)
            outs.append(h)
        if record is not None:
            record.extend(outs)
        return self.head(h)


def intrain_name(torch_name):
    """`stage2/block0.project.conv.weight` -> `stage2/block0/project/conv.weight`."""
    parts = torch_name.split(".")
    return "/".join(parts[:-2] + [".".join(parts[-2:])])


def load_onnx_weights(model, path):
    """Copies the initializers of an `intrain export` file into the parameters of the same name."""
    import onnx  # dev-only dependency, needed for --weights-from alone
    from onnx import numpy_helper
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    with torch.no_grad():
        for name, p in model.named_parameters():
            w = inits.get(intrain_name(name))
            if w is None or tuple(w.shape) != tuple(p.shape):
                raise ValueError(f"{path}: no initializer '{intrain_name(name)}' of shape "
                                 f"{tuple(p.shape)}")
            p.copy_(torch.from_numpy(w.copy()))


def macs(model, channels, resolution):
    """Multiply-adds of Conv2d and Linear layers for one sample."""
    total = [0]

    def count(m, inp, out):
        if isinstance(m, nn.Conv2d):
            total[0] += out.numel() * m.weight[0].numel()
        else:
            total[0] += m.weight.numel()

    hooks = [m.register_forward_hook(count) for m in model.modules()
             if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, channels, resolution, resolution))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return total[0]


# ---------------------------------------------------------------------------------------------
# The score


def participation_ratio(a):
    """(PR, dead) of an (N, C, H, W) float32 activation, in float64, as intrain reports them:
    dead when all zero; PR 0 (left out of gamma) for a zero covariance or non-finite values."""
    if not bool(a.detach().any()):
        return 0.0, True
    tr, fro2 = covariance_traces(a)
    if not (math.isfinite(fro2) and fro2 > 0 and tr > 0):
        return 0.0, False
    return tr * tr / fro2, False


def health(grad):
    """h = min(1, std / (max|g| + eps)) in float64, None for < 2 elements or non-finite values."""
    g = grad.detach().reshape(-1).double()
    if g.numel() < 2 or not bool(torch.isfinite(g).all()):
        return None
    return min(1.0, float(g.std()) / (float(g.abs().max()) + EPS))


def score(space, arch_str, batch=64, resolution=None, seed=0, detail=False, weights=None,
          x=None, y=None):
    t0 = time.perf_counter()
    res = resolution_for(space, resolution)
    classes = space["input"]["classes"]
    torch.manual_seed(seed)
    model = ChainNet(space, parse_arch(space, arch_str))
    if weights:
        load_onnx_weights(model, weights)
    else:
        init_intrain(model)
    model.train()
    if x is None:
        x = torch.randn(batch, space["input"]["channels"], res, res)
    if y is None:
        y = torch.randint(0, classes, (x.shape[0],))
    acts = []
    loss = F.cross_entropy(model(x, record=acts), y)
    loss.backward()
    layers = [participation_ratio(a) for a in acts]
    gamma = sum(math.log(pr) for pr, _ in layers if pr > 0)
    hs = [(intrain_name(n), health(p.grad)) for n, p in model.named_parameters()
          if p.grad is not None]
    hs = [(n, h) for n, h in hs if h is not None]
    o = sum(h for _, h in hs)
    n_layers = len(layers)
    intrain = gamma * (1 + o) / math.log(n_layers + 1)
    seconds = time.perf_counter() - t0
    out = {"arch": arch_str, "intrain": intrain, "gamma": gamma, "o": o, "L": n_layers,
           "n_tensors": len(hs), "dead_layers": sum(d for _, d in layers),
           "params": sum(p.numel() for p in model.parameters()), "loss": loss.item(),
           "seconds": seconds}
    if detail:
        names = ["stem"] + model.scopes
        out["layers"] = [{"name": s, "pr": pr, "dead": d} for s, (pr, d) in zip(names, layers)]
        out["tensors"] = [{"name": n, "h": h} for n, h in hs]
    return out


def intrain_costs(binary, space_path, arch):
    """(params, FLOPs as the space counts them) of one sample, from `intrain export`'s report."""
    with tempfile.TemporaryDirectory() as tmp:
        p = subprocess.run([binary, "export", space_path, "--arch", arch, "-o",
                            os.path.join(tmp, "m.onnx")], check=True, capture_output=True,
                           text=True)
    m = re.search(r"(\d+) parameters, (\d+) FLOPs", p.stderr + p.stdout)
    return int(m.group(1)), int(m.group(2))


def check_costs(space, space_path, arch, params, binary):
    want_params, want_flops = intrain_costs(binary, space_path, arch)
    assert params == want_params, f"{arch}: {params} params, intrain {want_params}"
    if space.get("flops") != "macs":
        return None
    model = ChainNet(space, parse_arch(space, arch))
    got = macs(model, space["input"]["channels"], space["input"]["resolution"])
    assert got == want_flops, f"{arch}: {got} multiply-adds, intrain {want_flops}"
    return got


def read_archs(path):
    with open(path) as f:
        return [ln.split()[0] for ln in f if ln.strip() and not ln.lstrip().startswith("#")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 1)[1])
    ap.add_argument("--space", default="models/spaces/fbnet_cifar.yaml", help="chain space YAML")
    ap.add_argument("--arch", action="append", default=[], help="architecture string")
    ap.add_argument("--archs-file", help="one arch per line (first column; `#` comments)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--resolution", type=int, default=None,
                    help="default: max(64, the space's resolution), as intrain score")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1,
                    help="time K scores (after one warm-up) and report the median")
    ap.add_argument("--json", action="store_true", help="one JSON line per arch")
    ap.add_argument("--layers-detail", action="store_true", help="per-layer PR and per-tensor h")
    ap.add_argument("--check-params", action="store_true",
                    help="assert #params (and multiply-adds) equal intrain export's")
    ap.add_argument("--binary", default="target/release/intrain", help="for --check-params")
    ap.add_argument("--weights-from", help="ONNX file of `intrain export` (its initializers)")
    ap.add_argument("--input", help=".npy float32 (B, C, R, R) input instead of the seeded one")
    ap.add_argument("--labels", help=".npy integer labels (B,) instead of the seeded ones")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    space = load_space(a.space)
    archs = list(a.arch) + (read_archs(a.archs_file) if a.archs_file else [])
    if not archs:
        ap.error("give --arch or --archs-file")
    x = torch.from_numpy(np.load(a.input)) if a.input else None
    y = torch.from_numpy(np.load(a.labels)).long() if a.labels else None
    resolution = x.shape[-1] if x is not None else a.resolution

    def run(detail=False):
        return score(space, arch, a.batch, resolution, a.seed, detail, a.weights_from, x, y)

    for arch in archs:
        if a.repeat > 1:
            run()  # warm-up
            runs = [run(a.layers_detail) for _ in range(a.repeat)]
            r = runs[0]
            r["seconds_all"] = [round(t["seconds"], 4) for t in runs]
            r["seconds"] = statistics.median(t["seconds"] for t in runs)
        else:
            r = run(a.layers_detail)
        if a.check_params:
            r["macs"] = check_costs(space, a.space, arch, r["params"], a.binary)
        if a.json:
            print(json.dumps(r), flush=True)
        else:
            print(f"I {r['intrain']:10.4f}  gamma {r['gamma']:8.4f}  o {r['o']:7.4f}  "
                  f"L {r['L']}  tensors {r['n_tensors']}  dead {r['dead_layers']}  "
                  f"{r['seconds'] * 1e3:8.1f} ms  {arch}", flush=True)


if __name__ == "__main__":
    main()
