#!/usr/bin/env python3
"""Time per NAS-Bench-201 architecture of each zero-cost proxy: intrain next to PyTorch (NASLib).

Dev tool. The PyTorch side is the NASLib ports of models/scripts/proxy_goldens.py (m_grad_norm,
m_snip, m_plain, m_l2_norm, m_fisher, m_grasp, m_jacov, m_nwot, m_epe_nas, m_synflow, m_zen,
imported from that file), run on the NAS-Bench-201 network built here (AutoDL TinyNetwork /
InferCell, C=16, N=5, 10 classes, any cell string of the space). The intrain side is the release
binary, `intrain score models/spaces/nb201.yaml --arch ARCH --resolution 32 --proxies NAME
--images CIFAR10.npz --threads T --json`, one process per measurement.

Protocol
  * Architectures: --archs N (default 10) cell strings drawn with random.Random(--seed) from
    ../shared/data/nasbench201/nb201_unique_9445.csv (column arch_str), relative to the repo root.
  * Data (data proxies): a batch of 64 CIFAR-10 images, 32x32, drawn with numpy default_rng(--seed)
    from ../shared/data/real_images/cifar10_sample.npz (x uint8 NHWC -> NCHW float, /255, then
    per-channel normalisation with the CIFAR-10 mean/std NASLib uses), with their labels `y`.
    intrain draws its own 64 images from the same file (--images).
  * PyTorch: torch.set_num_threads(--threads, default 2), CPU, float32, BatchNorm in train mode
    (batch statistics). Per proxy and architecture one measurement is
        build  = TinyNetwork(arch) with PyTorch's default initialisation (torch.manual_seed before,
                 untimed)
        measure = the NASLib measure on that fresh net, including what NASLib does inside the
                 measure, reduced to the scalar NASLib reports (find_measures' sum_arr):
                   synflow: BatchNorm forwards replaced by identity (NASLib copynet(bn=False),
                            done in place here: the net is fresh), net.double(), |state_dict|,
                            ones(1, 3, 32, 32) float64 input, then log of the score;
                   zen:     NASLib/ZenNAS network_weight_gaussian_init (conv/linear N(0,1), BN 1/0)
                            and two fresh torch.randn batches (64, 3, 32, 32) (x and the mixup
                            noise), then the two train-mode no-grad forwards of m_zen;
                   fisher:  including NASLib's reshape_elements broadcast (float64 here);
                   l2-norm: data-free.
        total  = build + measure (wall clock, time.perf_counter). No net copy is timed (NASLib's
                 copynet deep-copies the net per measure; the fresh net here makes it unneeded).
  * intrain: per proxy and architecture one process; its time is the sum of the `seconds` of the
    `passes` it ran (one pass for a single proxy). A pass's seconds cover lowering the
    architecture, building the differentiated graph, creating the ONNX Runtime session, running it
    and reducing the outputs; process start, ORT library load, reading the space/images and the
    InTrain pass are NOT in it (they are in the top-level `seconds`, or only in the process wall
    time, both recorded). intrain runs --threads T ORT intra-op threads.
  * "all": PyTorch builds one net and runs every measure on its own NASLib copynet(net, bn) copy
    (l2-norm on the net itself, copy_net=False), as NASLib's find_measures does; intrain runs
    `--proxies all` (the shared passes: gradient, grasp, input-jacobian, synflow, zen) and its time
    is the sum of the pass seconds. "InTrain alone": `intrain score ... --json` without --proxies:
    top-level `seconds` (lowering, differentiation, session, pass, reductions) and `pass_seconds`
    (the session run alone).
  * Alternation: for each architecture, for each proxy, PyTorch then intrain, --repeats times
    (default 3: pt, in, pt, in, pt, in), so drift hits both sides alike; then per repeat PyTorch
    all, intrain all, InTrain alone. --warmup (default 1) untimed rounds of every PyTorch measure
    and one intrain run first.
  * Report: per proxy, the median over architectures of the per-architecture median over
    repeats, in ms, for each side, and the ratio PyTorch / intrain of those medians; the same for
    "all", and the ratios of "all" to InTrain alone. Every raw measurement is appended (and
    flushed) to --out (JSONL, default target/proxy-bench/timings.jsonl) as it is taken.

Usage (from the repository root):
  python3 models/scripts/proxy_bench.py [--archs 10] [--repeats 3] [--threads 2] [--markdown]
"""
import argparse
import csv
import importlib.util
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
import types

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def load_goldens():
    path = os.path.join(ROOT, "models", "scripts", "proxy_goldens.py")
    spec = importlib.util.spec_from_file_location("proxy_goldens", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


G = load_goldens()

PROXIES = ["grad-norm", "snip", "plain", "l2-norm", "fisher", "grasp", "jacov", "naswot",
           "epe-nas", "synflow", "zen"]
CIFAR_MEAN = [0.49139968, 0.48215827, 0.44653124]  # NASLib / AutoDL CIFAR-10 constants
CIFAR_STD = [0.24703233, 0.24348505, 0.26158768]


# ----------------------------------------------------------------------------------------------
# NAS-Bench-201 network (AutoDL-Projects xautodl/models/cell_infers/tiny_network.py, cells.py,
# cell_operations.py), any cell string of the space

class ReLUConvBN(nn.Module):
    def __init__(self, cin, cout, k, stride, pad):
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(inplace=False),
                                nn.Conv2d(cin, cout, k, stride, pad, bias=False),
                                nn.BatchNorm2d(cout, affine=True, track_running_stats=True))

    def forward(self, x):
        return self.op(x)


class Zero(nn.Module):  # AutoDL Zero, C_in == C_out, stride 1: x.mul(0.)
    def forward(self, x):
        return x.mul(0.0)


def make_op(name, c):
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(c, c, 1, 1, 0)
    if name == "nor_conv_3x3":
        return ReLUConvBN(c, c, 3, 1, 1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NAS-Bench-201 op {name!r}")


def parse_arch(arch):
    """'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' -> [[(op, j)], [(op, j), ..], ..] per node 1..3."""
    nodes = []
    for part in arch.split("+"):
        edges = [e for e in part.strip("|").split("|") if e]
        nodes.append([(e.split("~")[0], int(e.split("~")[1])) for e in edges])
    return nodes


class InferCell(nn.Module):
    def __init__(self, genotype, c):
        super().__init__()
        self.layers = nn.ModuleList()
        self.node_in = []
        self.node_ix = []
        for node in genotype:
            ix, inn = [], []
            for op, j in node:
                ix.append(len(self.layers))
                inn.append(j)
                self.layers.append(make_op(op, c))
            self.node_ix.append(ix)
            self.node_in.append(inn)

    def forward(self, x):
        nodes = [x]
        for ix, inn in zip(self.node_ix, self.node_in):
            nodes.append(sum(self.layers[i](nodes[j]) for i, j in zip(ix, inn)))
        return nodes[-1]


class ResNetBasicblock(nn.Module):  # stride 2
    def __init__(self, cin, cout):
        super().__init__()
        self.conv_a = ReLUConvBN(cin, cout, 3, 2, 1)
        self.conv_b = ReLUConvBN(cout, cout, 3, 1, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2, 0),
                                        nn.Conv2d(cin, cout, 1, 1, 0, bias=False))

    def forward(self, x):
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class TinyNetwork(nn.Module):
    """NB201 network, PyTorch default initialisation (nothing re-initialised)."""

    def __init__(self, arch, c=16, n=5, num_classes=10):
        super().__init__()
        genotype = parse_arch(arch)
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        cells, cin = [], c
        for stage, cout in enumerate([c, 2 * c, 4 * c]):
            if stage > 0:
                cells.append(ResNetBasicblock(cin, cout))
            cells += [InferCell(genotype, cout) for _ in range(n)]
            cin = cout
        self.cells = nn.ModuleList(cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(cin, num_classes)

    def features(self, x):
        """Before global average pooling (what m_zen differentiates: ZenNAS's
        forward_pre_GAP)."""
        h = self.stem(x)
        for cell in self.cells:
            h = cell(h)
        return self.lastact(h)

    def forward(self, x):
        return self.classifier(self.global_pooling(self.features(x)).flatten(1))


# ----------------------------------------------------------------------------------------------
# PyTorch side: one NASLib measure on a net, reduced to NASLib's scalar

def strip_bn(net):
    """copynet(bn=False) without the copy: BatchNorm forward -> identity."""
    for m in net.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            m.forward = types.MethodType(G.no_op, m)
    return net


def gaussian_init(net):
    """NASLib zen.py / ZenNAS network_weight_gaussian_init."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
    return net


def signed_log(v):
    return math.log(v) if v > 0 else (-math.log(-v) if v < 0 else 0.0)


def measure(name, net, x, y):
    net.train()
    if name == "grad-norm":
        return G.sum_arr(G.m_grad_norm(net, x, y))
    if name == "snip":
        return G.sum_arr(G.m_snip(net, x, y))
    if name == "plain":
        return G.sum_arr(G.m_plain(net, x, y))
    if name == "l2-norm":
        return G.sum_arr(G.m_l2_norm(net))
    if name == "fisher":
        _, bc = G.m_fisher(net, x, y)
        return G.sum_arr(bc)
    if name == "grasp":
        return G.sum_arr(G.m_grasp(net, x, y))
    if name == "jacov":
        return float(np.real(G.m_jacov(net, x)[0]))
    if name == "naswot":
        return float(G.m_nwot(net, x)[0])
    if name == "epe-nas":
        return float(G.m_epe_nas(net, x, y)[0])
    if name == "synflow":
        arr, _ = G.m_synflow(strip_bn(net), tuple(x.shape[1:]))
        return signed_log(G.sum_arr(arr))
    if name == "zen":
        gaussian_init(net)
        xg = torch.randn(x.shape)
        eps = torch.randn(x.shape)
        return float(G.m_zen(net, xg, eps)[0])
    raise ValueError(name)


def safe_measure(name, net, x, y):
    try:
        return measure(name, net, x, y), None
    except Exception as e:  # NASLib records nan for a failing measure; so do we
        return float("nan"), f"{type(e).__name__}: {e}"


def pt_one(name, arch, x, y, seed):
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    net = TinyNetwork(arch)
    t1 = time.perf_counter()
    value, err = safe_measure(name, net, x, y)
    t2 = time.perf_counter()
    return {"build_ms": (t1 - t0) * 1e3, "measure_ms": (t2 - t1) * 1e3,
            "total_ms": (t2 - t0) * 1e3, "value": value, "error": err}


def pt_all(arch, x, y, seed):
    """NASLib find_measures: one net, every measure on its own copynet(net, bn)."""
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    net = TinyNetwork(arch)
    t1 = time.perf_counter()
    values, errors = {}, {}
    for name in PROXIES:
        if name == "l2-norm":
            target = net  # copy_net=False
        else:
            target = G.copynet(net, name != "synflow")
        values[name], err = safe_measure(name, target, x, y)
        if err:
            errors[name] = err
    t2 = time.perf_counter()
    return {"build_ms": (t1 - t0) * 1e3, "measure_ms": (t2 - t1) * 1e3,
            "total_ms": (t2 - t0) * 1e3, "values": values, "errors": errors or None}


# ----------------------------------------------------------------------------------------------
# intrain side

def intrain_one(a, arch, proxies):
    cmd = [a.intrain, "score", a.space, "--arch", arch, "--resolution", "32",
           "--threads", str(a.threads), "--json"]
    if proxies:
        cmd += ["--proxies", proxies, "--images", a.images]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = (time.perf_counter() - t0) * 1e3
    if p.returncode != 0:
        return {"wall_ms": wall, "error": p.stderr.strip()[-2000:], "pass_ms": float("nan")}
    d = json.loads(p.stdout)
    passes = d.get("passes", [])
    rec = {
        "pass_ms": sum(q["seconds"] for q in passes) * 1e3 if passes else float("nan"),
        "passes": [{"kind": q["kind"], "proxies": q["proxies"], "ms": q["seconds"] * 1e3}
                   for q in passes],
        "seconds_ms": d["seconds"] * 1e3,
        "intrain_pass_ms": d["pass_seconds"] * 1e3,
        "wall_ms": wall,
        "params": (d.get("costs") or {}).get("params"),
    }
    if proxies == "all":
        rec["values"] = {k: d["proxies"].get(k) for k in PROXIES}
    elif proxies:
        rec["value"] = d["proxies"].get(proxies)
        if proxies in d.get("unavailable", {}):
            rec["error"] = d["unavailable"][proxies]
    else:
        rec["value"] = d["proxies"].get("intrain")
    return rec


# ----------------------------------------------------------------------------------------------

def med(v):
    v = [t for t in v if t is not None and not math.isnan(t)]
    return statistics.median(v) if v else float("nan")


def summarise(rows):
    """rows: raw records -> {(key, field): median over archs of per-arch medians}."""
    per = {}
    for r in rows:
        for field in ("total_ms", "measure_ms", "build_ms", "pass_ms", "seconds_ms",
                      "intrain_pass_ms", "wall_ms"):
            if field in r:
                per.setdefault((r["proxy"], r["side"], field, r["arch"]), []).append(r[field])
    agg = {}
    for (proxy, side, field, _), v in per.items():
        agg.setdefault((proxy, side, field), []).append(med(v))
    return {k: med(v) for k, v in agg.items()}


def fmt(v, nd=1):
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{nd}f}"


def ratio(a, b):
    return a / b if b and not math.isnan(a) and not math.isnan(b) else float("nan")


def report(S, proxies, n_archs, repeats, threads, markdown):
    head = ["proxy", "PyTorch build+measure ms", "PyTorch measure ms", "intrain pass ms",
            "PyTorch / intrain"]
    lines = []
    for p in proxies + ["all"]:
        pt = S.get((p, "pytorch", "total_ms"), float("nan"))
        ptm = S.get((p, "pytorch", "measure_ms"), float("nan"))
        it = S.get((p, "intrain", "pass_ms"), float("nan"))
        lines.append([p if p != "all" else "all proxies together", fmt(pt), fmt(ptm), fmt(it),
                      fmt(ratio(pt, it), 2)])
    alone_s = S.get(("intrain-alone", "intrain", "seconds_ms"), float("nan"))
    alone_p = S.get(("intrain-alone", "intrain", "intrain_pass_ms"), float("nan"))
    lines.append(["InTrain alone (seconds; pass_seconds)", "", "", f"{fmt(alone_s)}; "
                  f"{fmt(alone_p)}", ""])
    pt_all_ms = S.get(("all", "pytorch", "total_ms"), float("nan"))
    in_all_ms = S.get(("all", "intrain", "pass_ms"), float("nan"))
    extra = [
        f"all proxies (intrain, sum of pass seconds) / InTrain alone (seconds): "
        f"{fmt(ratio(in_all_ms, alone_s), 2)}",
        f"all proxies (PyTorch/NASLib find_measures) / InTrain alone (intrain seconds): "
        f"{fmt(ratio(pt_all_ms, alone_s), 2)}",
    ]
    title = (f"{n_archs} NB201 archs x {repeats} repeats, batch 64, 32x32, CPU, {threads} threads; "
             "medians over archs of per-arch medians")
    if markdown:
        out = [title, "", "| " + " | ".join(head) + " |",
               "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in lines]
        out += [""] + [f"- {e}" for e in extra]
    else:
        w = [max(len(h), *(len(r[i]) for r in lines)) for i, h in enumerate(head)]
        out = [title, "  ".join(h.ljust(w[i]) for i, h in enumerate(head))]
        out += ["  ".join(c.ljust(w[i]) for i, c in enumerate(r)) for r in lines]
        out += extra
    print("\n".join(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", type=int, default=10, help="number of architectures")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--proxies", default=",".join(PROXIES), help="comma-separated subset")
    ap.add_argument("--no-all", action="store_true", help="skip 'all' and InTrain alone")
    ap.add_argument("--intrain", default=os.path.join(ROOT, "target", "release", "intrain"))
    ap.add_argument("--space", default="models/spaces/nb201.yaml")
    ap.add_argument("--csv", default=os.path.join(ROOT, "..", "shared", "data", "nasbench201",
                                                  "nb201_unique_9445.csv"))
    ap.add_argument("--images", default=os.path.join(ROOT, "..", "shared", "data", "real_images",
                                                     "cifar10_sample.npz"))
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "proxy-bench",
                                                  "timings.jsonl"))
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    a.images = os.path.abspath(a.images)
    proxies = [p for p in a.proxies.split(",") if p]
    bad = [p for p in proxies if p not in PROXIES]
    if bad:
        ap.error(f"unknown proxies {bad}; known: {PROXIES}")

    torch.set_num_threads(a.threads)
    with open(a.csv) as f:
        all_archs = [r["arch_str"] for r in csv.DictReader(f)]
    archs = random.Random(a.seed).sample(all_archs, a.archs)

    d = np.load(a.images)
    idx = np.random.default_rng(a.seed).choice(len(d["y"]), 64, replace=False)
    x = torch.from_numpy(d["x"][idx]).permute(0, 3, 1, 2).float().div(255)
    x = ((x - torch.tensor(CIFAR_MEAN)[:, None, None]) / torch.tensor(CIFAR_STD)[:, None, None])
    x = x.contiguous()
    y = torch.from_numpy(d["y"][idx].astype(np.int64))

    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    out = open(a.out, "a")
    run_id = time.strftime("%Y%m%dT%H%M%S")
    rows = []

    def clean(v):  # NaN/inf -> null: strict JSON
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(w) for k, w in v.items()}
        if isinstance(v, list):
            return [clean(w) for w in v]
        return v

    def emit(rec):
        rec = {"run": run_id, "threads": a.threads, **rec}
        out.write(json.dumps(clean(rec)) + "\n")
        out.flush()
        rows.append(rec)

    for w in range(a.warmup):
        print(f"warm-up {w + 1}/{a.warmup}", file=sys.stderr)
        for p in proxies:
            pt_one(p, archs[0], x, y, a.seed)
        intrain_one(a, archs[0], None)

    for ai, arch in enumerate(archs):
        torch.manual_seed(0)
        params = sum(t.numel() for t in TinyNetwork(arch).parameters())
        print(f"[{ai + 1}/{len(archs)}] {arch} ({params} params)", file=sys.stderr)
        base = {"arch_index": ai, "arch": arch, "params_torch": params}
        for p in proxies:
            for r in range(a.repeats):
                seed = a.seed * 1000 + r
                emit({**base, "proxy": p, "side": "pytorch", "rep": r,
                      **pt_one(p, arch, x, y, seed)})
                rec = intrain_one(a, arch, p)
                emit({**base, "proxy": p, "side": "intrain", "rep": r, **rec})
                if rec.get("params") not in (None, params):
                    print(f"  warning: params torch {params} != intrain {rec['params']}",
                          file=sys.stderr)
                pt = rows[-2]
                print(f"  {p:10s} rep {r}: pytorch {pt['total_ms']:8.1f} ms "
                      f"(measure {pt['measure_ms']:8.1f})  intrain pass {rec['pass_ms']:8.1f} ms"
                      f" (process {rec['wall_ms']:8.1f})"
                      + (f"  [pt error: {pt['error']}]" if pt.get("error") else "")
                      + (f"  [intrain error: {rec['error'][:200]}]" if rec.get("error") else ""),
                      file=sys.stderr)
        if a.no_all:
            continue
        for r in range(a.repeats):
            seed = a.seed * 1000 + r
            emit({**base, "proxy": "all", "side": "pytorch", "rep": r, **pt_all(arch, x, y, seed)})
            emit({**base, "proxy": "all", "side": "intrain", "rep": r,
                  **intrain_one(a, arch, "all")})
            emit({**base, "proxy": "intrain-alone", "side": "intrain", "rep": r,
                  **intrain_one(a, arch, None)})
            print(f"  all        rep {r}: pytorch {rows[-3]['total_ms']:8.1f} ms  intrain pass "
                  f"{rows[-2]['pass_ms']:8.1f} ms  InTrain alone {rows[-1]['seconds_ms']:8.1f} ms"
                  f" (pass {rows[-1]['intrain_pass_ms']:.1f})", file=sys.stderr)
    out.close()
    report(summarise(rows), proxies, len(archs), a.repeats, a.threads, a.markdown)
    print(f"raw timings appended to {a.out} (run {run_id})", file=sys.stderr)


if __name__ == "__main__":
    main()
