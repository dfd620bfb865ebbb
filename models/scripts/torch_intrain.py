#!/usr/bin/env python3
"""PyTorch reference implementation of the InTrain score on NAS-Bench-201 (dev tool).

Definition: the InTrain score as the paper defines it, with the paper's default protocol:
  network   the NAS-Bench-201 network of an official arch string (AutoDL TinyNetwork: C=16, N=5,
            10 classes; stem Conv3x3+BN; 3 stages of 5 cells at 16/32/64 channels separated by
            ResNet basic reduction blocks; head BN-ReLU-GAP-Linear). Ops: none (edge left out:
            same maths as AutoDL's x*0, the parameters behind it get no gradient), skip_connect
            (identity), nor_conv_1x1 / nor_conv_3x3 (ReLU-Conv(bias=False)-BN(affine)),
            avg_pool_3x3 (stride 1, pad 1, count_include_pad=False). The parameter count equals
            the benchmark's `params` column (checked by --check-params).
  init      Kaiming-normal fan_in (ReLU gain) for Conv/Linear weights, BN gamma=1 beta=0,
            biases 0.
  pass      x ~ N(0,1) (B, 3, R, R), labels uniform over 10 classes, BN in train mode (batch
            statistics), mean cross-entropy, one forward + backward; everything float32 on CPU.
  layers    gamma over the stem output (conv+BN), the 2 reduction-block outputs and the 15 cell
            outputs: L = 18. A cell that passes its input unchanged still counts (again); a layer
            whose output is identically zero is dead and contributes log PR = 0.
            PR = tr(C)^2 / tr(C^2), C the channel covariance of the (M = B*H*W) x C activations
            (centred, divided by M), computed in float64 from the float32 activations.
  tensors   o = sum over parameter tensors with a gradient (p.grad is not None) and numel >= 2 of
            h = min(1, std(g) / (max|g| + 1e-12)), std unbiased; BN running stats are buffers.
  score     I = gamma (1 + o) / log(L + 1).
Seeding: torch.manual_seed(seed) before building the model (init), then the input, then the
labels, all from the same generator.

Usage (from the repo root):
  /work/pyenv/bin/python models/scripts/torch_intrain.py \\
      --arch '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|' \\
      --batch 64 --resolution 64 --seed 0 --threads 2 --json [--repeat 5] [--layers-detail]
  ... --archs-file archs.txt            one arch per line (a CSV with an arch_str column works too)
  ... --check-params                    compare #params with ../shared/data/nasbench201/nb201_all.csv
  ... --sample 200 --sample-seed 0 --kendall
        score a seeded sample of nb201_unique_9445.csv and print Kendall tau-b of I and of #params
        vs cifar10_test accuracy (no scipy needed)
JSON (one line per arch): arch, intrain, gamma, o, L, n_tensors, dead_layers, params, loss,
seconds (end-to-end time of one score: build + init + forward + backward + reductions; with
--repeat K the median of K runs after one warm-up run, and seconds_all lists them).
"""
import argparse
import csv
import json
import math
import os
import random
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_nb201_bench import ResBlock, relu_conv_bn  # noqa: E402  (same AutoDL layout)

DATA = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                     "shared", "data", "nasbench201"))
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EPS = 1e-12


def parse_arch(s):
    """'|op~j|+|op~j|op~j|+|...|' -> [[(op, j)], [(op, j), (op, j)], [(op, j) x3]]"""
    nodes = []
    for group in s.strip().split("+"):
        edges = []
        for tok in group.strip("|").split("|"):
            op, j = tok.split("~")
            if op not in OPS:
                raise ValueError(f"unknown op '{op}' in {s}")
            edges.append((op, int(j)))
        nodes.append(edges)
    if [len(e) for e in nodes] != [1, 2, 3] or any(
            sorted(j for _, j in e) != list(range(i + 1)) for i, e in enumerate(nodes)):
        raise ValueError(f"not a NAS-Bench-201 cell: {s}")
    return nodes


def make_op(op, c):
    if op == "skip_connect":
        return nn.Identity()
    if op == "nor_conv_1x1":
        return nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(c, c, 1, 1, 0, bias=False),
                             nn.BatchNorm2d(c, affine=True))
    if op == "nor_conv_3x3":
        return relu_conv_bn(c, c)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    raise ValueError(op)


class Cell(nn.Module):
    def __init__(self, arch, c):
        super().__init__()
        self.arch = arch
        self.edges = nn.ModuleDict({f"{i + 1}<-{j}": make_op(op, c) for i, edges in enumerate(arch)
                                    for op, j in edges if op != "none"})

    def forward(self, x):
        nodes = [x]
        for i, edges in enumerate(self.arch):
            terms = [self.edges[f"{i + 1}<-{j}"](nodes[j]) for op, j in edges if op != "none"]
            if terms:
                y = terms[0]
                for t in terms[1:]:
                    y = y + t
            else:
                y = torch.zeros_like(x)
            nodes.append(y)
        return nodes[3]


class NB201(nn.Module):
    def __init__(self, arch, c=16, n=5, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c))
        layers, cin = [], c
        for stage, cout in enumerate([c, 2 * c, 4 * c]):
            if stage > 0:
                layers.append(ResBlock(cin, cout))
            layers += [Cell(arch, cout) for _ in range(n)]
            cin = cout
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=False))
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x, record=None):
        x = self.stem(x)
        if record is not None:
            record.append(x)
        for m in self.cells:
            x = m(x)
            if record is not None:
                record.append(x)
        x = self.lastact(x)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def init_intrain(model):
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def covariance_traces(a):
    """(tr(C), tr(C^2)) of the channel covariance C of an (N, C, H, W) activation: the (M =
    N*H*W) x C matrix centred and divided by M, computed in float64."""
    a = a.detach()
    n, c = a.shape[:2]
    a64 = a.reshape(n, c, -1).double()  # (N, C, HW): no permute copy
    m = a64.shape[0] * a64.shape[2]
    mean = a64.sum((0, 2)) / m
    gram = torch.bmm(a64, a64.transpose(1, 2)).sum(0)  # sum over samples of a a^T
    cov = gram / m - torch.outer(mean, mean)  # = centred covariance / M, f64
    return float(cov.trace()), float((cov * cov).sum())


def participation_ratio(a):
    """(PR, dead) of an (N, C, H, W) float32 activation, in float64."""
    if not bool(a.detach().any()):
        return 0.0, True
    tr, fro2 = covariance_traces(a)
    if not (fro2 > 0 and tr > 0):
        return 0.0, True  # constant (zero-variance) features: nothing to measure
    return tr * tr / fro2, False


def score(arch_str, batch=64, resolution=64, seed=0, classes=10, detail=False):
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    model = NB201(parse_arch(arch_str), num_classes=classes)
    init_intrain(model)
    model.train()
    x = torch.randn(batch, 3, resolution, resolution)
    y = torch.randint(0, classes, (batch,))
    acts = []
    loss = F.cross_entropy(model(x, record=acts), y)
    loss.backward()
    layers = [participation_ratio(a) for a in acts]
    gamma = sum(math.log(pr) for pr, dead in layers if not dead)
    hs = []
    for name, p in model.named_parameters():
        if p.grad is None or p.numel() < 2:
            continue
        g = p.grad.detach().reshape(-1).double()
        hs.append((name, min(1.0, float(g.std()) / (float(g.abs().max()) + EPS))))
    o = sum(h for _, h in hs)
    n_layers = len(layers)
    intrain = gamma * (1 + o) / math.log(n_layers + 1)
    seconds = time.perf_counter() - t0
    out = {"arch": arch_str, "intrain": intrain, "gamma": gamma, "o": o, "L": n_layers,
           "n_tensors": len(hs), "dead_layers": sum(d for _, d in layers),
           "params": sum(p.numel() for p in model.parameters()), "loss": loss.item(),
           "seconds": seconds}
    if detail:
        out["layers"] = [{"pr": pr, "dead": d} for pr, d in layers]
        out["tensors"] = [{"name": n, "h": h} for n, h in hs]
    return out


def kendall_tau_b(x, y):
    """Kendall tau-b (ties in either variable handled), O(n^2)."""
    n = len(x)
    conc = disc = tx = ty = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                tx += 1
            elif dy == 0:
                ty += 1
            elif (dx > 0) == (dy > 0):
                conc += 1
            else:
                disc += 1
    denom = math.sqrt((conc + disc + tx) * (conc + disc + ty))
    return (conc - disc) / denom if denom else float("nan")


def load_truth():
    rows = {}
    with open(os.path.join(DATA, "nb201_all.csv")) as f:
        for r in csv.DictReader(f):
            rows[r["arch_str"]] = r
    return rows


def read_archs(path):
    with open(path) as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    if lines and "arch_str" in lines[0].split(","):
        with open(path) as f:
            return [r["arch_str"] for r in csv.DictReader(f)]
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 1)[1])
    ap.add_argument("--arch", action="append", default=[], help="official arch string")
    ap.add_argument("--archs-file", help="one arch string per line (or a CSV with arch_str)")
    ap.add_argument("--sample", type=int, default=0,
                    help="score N archs drawn from nb201_unique_9445.csv with --sample-seed")
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1,
                    help="time K scores (after one warm-up) and report the median")
    ap.add_argument("--json", action="store_true", help="one JSON line per arch")
    ap.add_argument("--layers-detail", action="store_true", help="per-layer PR and per-tensor h")
    ap.add_argument("--check-params", action="store_true",
                    help="assert #params equals the benchmark's params column")
    ap.add_argument("--kendall", action="store_true",
                    help="print Kendall tau-b of I and #params vs cifar10_test (needs the data)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    archs = list(a.arch)
    if a.archs_file:
        archs += read_archs(a.archs_file)
    if a.sample:
        with open(os.path.join(DATA, "nb201_unique_9445.csv")) as f:
            pool = [r["arch_str"] for r in csv.DictReader(f)]
        archs += random.Random(a.sample_seed).sample(pool, a.sample)
    if not archs:
        ap.error("give --arch, --archs-file or --sample")
    truth = load_truth() if (a.check_params or a.kendall) else {}

    results = []
    for arch in archs:
        if a.repeat > 1:
            score(arch, a.batch, a.resolution, a.seed)  # warm-up
            runs = [score(arch, a.batch, a.resolution, a.seed, detail=a.layers_detail)
                    for _ in range(a.repeat)]
            r = runs[0]
            r["seconds_all"] = [round(x["seconds"], 4) for x in runs]
            r["seconds"] = statistics.median(x["seconds"] for x in runs)
        else:
            r = score(arch, a.batch, a.resolution, a.seed, detail=a.layers_detail)
        if a.check_params:
            want = round(float(truth[arch]["params"]) * 1e6)
            assert r["params"] == want, f"{arch}: {r['params']} params, benchmark {want}"
        results.append(r)
        if a.json:
            print(json.dumps(r), flush=True)
        else:
            print(f"I {r['intrain']:10.4f}  gamma {r['gamma']:8.4f}  o {r['o']:7.4f}  "
                  f"L {r['L']}  tensors {r['n_tensors']}  dead {r['dead_layers']}  "
                  f"{r['seconds'] * 1e3:8.1f} ms  {arch}", flush=True)
    if a.kendall:
        acc = [float(truth[r["arch"]]["cifar10_test"]) for r in results]
        params = [float(truth[r["arch"]]["params"]) for r in results]
        summary = {"n": len(results), "batch": a.batch, "resolution": a.resolution,
                   "seed": a.seed, "sample_seed": a.sample_seed if a.sample else None,
                   "kendall_intrain_vs_cifar10_test": kendall_tau_b(
                       [r["intrain"] for r in results], acc),
                   "kendall_params_vs_cifar10_test": kendall_tau_b(params, acc),
                   "kendall_intrain_vs_params": kendall_tau_b(
                       [r["intrain"] for r in results], params),
                   "median_seconds": statistics.median(r["seconds"] for r in results)}
        print(json.dumps(summary) if a.json else summary, flush=True)


if __name__ == "__main__":
    main()
