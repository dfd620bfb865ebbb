#!/usr/bin/env python3
"""ZiCo, AZ-NAS, VKDNW and MeCo: intrain's values next to the authors' code, cell by cell.

Dev tool. The reference side ports, line for line in what they compute, the NAS-Bench-201 files of
cvlab-yonsei/AZ-NAS: `NB201/ZeroShotProxy/compute_zico_score.py` (ZiCo, modified there from
SLDGroup/ZiCo) and `NB201/ZeroShotProxy/compute_az_nas_score.py` (expressivity, progressivity,
trainability), on the AutoDL TinyNetwork of `proxy_bench.py` (C=16, N=5, 10 classes) with AZ-NAS's
`extract_cell_features` (the stem output and every cell output, 18 tensors); of ondratybl/VKDNW
`NB201/ZeroShotProxy/compute_vkdnw_score.py` (`m_vkdnw` of proxy_goldens.py) on the same network;
and of HamsterMimi/MeCo `correlation/NAS_Bench_201.py` (`get_score`: a forward hook on every
module, containers included) on its own NAS-Bench-201 model (`foresight/models/nasbench2.py` and
`nasbench2_ops.py`, ported below); and of the TE-NAS port of AZ-NAS (`m_ntk`,
`m_linear_regions` of proxy_goldens.py).

Protocol
  * Cells: the first --cells N (default 30) architectures of a record file written by
    `intrain eval --proxies zico,az-expressivity,az-progressivity,az-trainability --images
    ../shared/data/real_images/cifar10_sample.npz --cache FILE` (intrain's values, seed 0).
  * ZiCo (reference): PyTorch default initialisation (torch.manual_seed(seed) before building),
    train mode, two batches of 64 CIFAR-10 images with their labels from
    ../shared/data/real_images/cifar10_sample.npz (numpy default_rng(seed) permutation, first 128;
    /255 and the CIFAR-10 mean/std of NASLib/AutoDL), cross-entropy, the two weight-gradient sets
    of Conv2d/Linear, per element mean|g| / std(g) summed and logged per layer, summed.
  * AZ-NAS (reference): Kaiming-normal fan-in re-initialisation (BN 1/0, biases 0), train mode,
    one Gaussian batch (64, 3, 32, 32), torch.manual_seed(seed) before the model is built.
  * VKDNW (reference): Kaiming-normal fan-in re-initialisation, one Gaussian batch (64, 3, 32, 32),
    model.eval() inside; torch.manual_seed(seed) before the model is built.
  * MeCo (reference): PyTorch default initialisation, train mode, one CIFAR-10 image (numpy
    default_rng(seed)), the module-hook sum of get_score.
  * TE-NAS (reference, the AZ-NAS port): PyTorch default initialisation, train mode; the NTK on
    64 CIFAR-10 images (numpy default_rng(seed)), the linear regions on a Gaussian batch of 64.
  * Each reference proxy runs with seeds --seeds (default 1,2): the Spearman rho of intrain's
    values against the reference's first seed, and of the reference's two seeds against each other
    (how close the reference is to itself), are printed per proxy.

Timing (--time ARCHS, a file of cell strings): per cell and proxy group (zico; the three AZ-NAS
components; vkdnw; meco; ntk and linear-regions), the reference function (building the network
included, torch.set_num_threads(--threads)) then `intrain score models/spaces/nb201.yaml --arch A
--resolution 32 --threads T --proxies GROUP --images CIFAR10.npz --json` (its time: the sum of
the `seconds` of the passes it ran: lowering, differentiation, session, runs, reductions),
alternating, --repeats times; medians over cells of the per-cell medians, and their ratio.
--binary times another intrain build (to compare two builds against the same reference).

Usage (from the repository root):
  python3 models/scripts/zoo_reference_check.py RECORDS.jsonl [MORE.jsonl ..] [--cells 30]
    [--proxies zico,az-expressivity,az-progressivity,az-trainability,vkdnw,meco]
"""
import argparse
import importlib.util
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))


def load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    sys.argv, argv = [sys.argv[0]], sys.argv
    spec.loader.exec_module(mod)
    sys.argv = argv
    return mod


B = load("proxy_bench")
G = load("proxy_goldens")
T = load("torch_intrain")
R = load("proxy_reference_check")


def cell_features(net, x):
    """AZ-NAS's TinyNetwork.extract_cell_features: the stem output, then every cell's."""
    feats = []
    h = net.stem(x)
    feats.append(h)
    for cell in net.cells:
        h = cell(h)
        feats.append(h)
    return feats


def az_nas(arch, seed):
    torch.manual_seed(seed)
    net = B.TinyNetwork(arch)
    net.train()
    T.init_intrain(net)  # Kaiming-normal fan-in, BN 1/0, biases 0: AZ-NAS's init_model
    x = torch.randn(64, 3, 32, 32)
    e, p, t, _ = G.az_scores(cell_features(net, x),
                             lambda _, f: (torch.bernoulli(torch.ones_like(f) * 0.5) - 0.5) * 2)
    return {"az-expressivity": e, "az-progressivity": p, "az-trainability": t}


def zico(arch, seed, images, labels):
    torch.manual_seed(seed)
    net = B.TinyNetwork(arch)
    net.train()
    order = np.random.default_rng(seed).permutation(len(labels))[:128]
    batches = [(images[order[64 * k:64 * (k + 1)]], labels[order[64 * k:64 * (k + 1)]])
               for k in range(2)]
    return {"zico": G.m_zico(net, batches)}


# ----------------------------------------------------------------------------------------------
# MeCo's NAS-Bench-201 model (zero-cost-nas foresight/models/nasbench2.py, nasbench2_ops.py as
# vendored by HamsterMimi/MeCo): only the operations a cell keeps are built (the others are never
# called, so no hook of theirs fires).

class MecoReLUConvBN(nn.Module):
    def __init__(self, cin, cout, k, stride, pad, affine):
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(inplace=False),
                                nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=not affine),
                                nn.BatchNorm2d(cout, affine=affine, track_running_stats=affine))

    def forward(self, x):
        return self.op(x)


class MecoZero(nn.Module):
    def forward(self, x):
        return x.mul(0.)


class MecoIdentity(nn.Module):
    def forward(self, x):
        return x


class MecoPooling(nn.Module):
    def __init__(self):
        super().__init__()
        self.avgpool = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)

    def forward(self, x):
        return self.avgpool(x)


def meco_op(name, c):
    return {"none": MecoZero, "skip_connect": MecoIdentity, "avg_pool_3x3": MecoPooling,
            "nor_conv_3x3": lambda: MecoReLUConvBN(c, c, 3, 1, 1, False),
            "nor_conv_1x1": lambda: MecoReLUConvBN(c, c, 1, 1, 0, False)}[name]()


class MecoCell(nn.Module):
    def __init__(self, arch, c):
        super().__init__()
        self.nodes = B.parse_arch(arch)
        self.options = nn.ModuleList([meco_op(op, c) for node in self.nodes for op, _ in node])

    def forward(self, x):
        outs, k = [x], 0
        for node in self.nodes:
            edges = []
            for _, j in node:
                edges.append(self.options[k](outs[j]))
                k += 1
            outs.append(sum(edges))
        return outs[-1]


class MecoReduction(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.residual = nn.Sequential(nn.AvgPool2d(2, 2, 0), nn.Conv2d(cin, cout, 1, bias=False))
        self.conv_a = MecoReLUConvBN(cin, cout, 3, 2, 1, True)
        self.conv_b = MecoReLUConvBN(cout, cout, 3, 1, 1, True)

    def forward(self, x):
        return self.residual(x) + self.conv_b(self.conv_a(x))


class MecoStem(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return self.net(x)


class MecoTop(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        return self.global_pooling(self.lastact(x)).view(x.size(0), -1)


class MecoNet(nn.Module):
    def __init__(self, arch, c=16, classes=10):
        super().__init__()
        self.stem = MecoStem(c)
        self.stack_cell1 = nn.Sequential(*[MecoCell(arch, c) for _ in range(5)])
        self.reduction1 = MecoReduction(c, 2 * c)
        self.stack_cell2 = nn.Sequential(*[MecoCell(arch, 2 * c) for _ in range(5)])
        self.reduction2 = MecoReduction(2 * c, 4 * c)
        self.stack_cell3 = nn.Sequential(*[MecoCell(arch, 4 * c) for _ in range(5)])
        self.top = MecoTop(4 * c)
        self.classifier = nn.Linear(4 * c, classes)

    def forward(self, x):
        x = self.stack_cell1(self.stem(x))
        x = self.stack_cell2(self.reduction1(x))
        x = self.stack_cell3(self.reduction2(x))
        return self.classifier(self.top(x))


def meco(arch, seed, images):
    """get_score(measure='meco'): a hook on every module, data_output[0] (the first sample)."""
    torch.manual_seed(seed)
    net = MecoNet(arch)
    net.train()
    x = images[np.random.default_rng(seed).integers(len(images))][None]
    terms = []

    def hook(module, inp, out):
        fea = out[0].clone().detach()
        fea = fea.reshape(fea.shape[0], -1)
        corr = torch.corrcoef(fea)
        corr[torch.isnan(corr)] = 0
        corr[torch.isinf(corr)] = 0
        terms.append(torch.min(torch.real(torch.linalg.eig(corr)[0])))

    for _, m in net.named_modules():
        m.register_forward_hook(hook)
    with torch.no_grad():
        net(x)
    t = torch.tensor(terms)
    t = t[torch.logical_not(torch.isnan(t))]
    t = t[torch.logical_not(torch.isinf(t))]
    return {"meco": float(t.sum())}


def vkdnw(arch, seed):
    torch.manual_seed(seed)
    net = B.TinyNetwork(arch)
    T.init_intrain(net)
    x = torch.randn(64, 3, 32, 32)
    entropy, _ = G.m_vkdnw(net, x)
    return {"vkdnw": entropy}


def tenas(arch, seed, images):
    """compute_te_nas_score.compute_nas_score: default initialisation, train mode; the NTK on 64
    CIFAR-10 images (numpy default_rng(seed)), the linear regions on a Gaussian batch of 64."""
    torch.manual_seed(seed)
    net = B.TinyNetwork(arch)
    idx = np.random.default_rng(seed).permutation(len(images))[:64]
    kappa = G.m_ntk(net, images[idx])
    regions = G.m_linear_regions(net, torch.randn(64, 3, 32, 32))
    return {"ntk": -kappa, "linear-regions": regions}


GROUPS = [("zico", ["zico"]),
          ("az-nas components", ["az-expressivity", "az-progressivity", "az-trainability"]),
          ("vkdnw", ["vkdnw"]), ("meco", ["meco"]), ("te-nas (ntk, linear-regions)",
                                                    ["ntk", "linear-regions"])]


def timing(path, repeats, threads, images, labels, binary):
    import statistics
    import subprocess
    import time
    archs = [line.strip() for line in open(path) if line.strip()]
    npz = os.path.join(ROOT, "..", "shared", "data", "real_images", "cifar10_sample.npz")
    reference = {
        "zico": lambda a: zico(a, 1, images, labels),
        "az-nas components": lambda a: az_nas(a, 1),
        "vkdnw": lambda a: vkdnw(a, 1),
        "meco": lambda a: meco(a, 1, images),
        "te-nas (ntk, linear-regions)": lambda a: tenas(a, 1, images),
    }
    rows = []
    for group, proxies in GROUPS:
        ref_ms, ours_ms = [], []
        for arch in archs:
            r, o = [], []
            for _ in range(repeats):
                t = time.perf_counter()
                reference[group](arch)
                r.append(1000 * (time.perf_counter() - t))
                out = subprocess.run(
                    [binary, "score", os.path.join(ROOT, "models", "spaces", "nb201.yaml"),
                     "--arch", arch, "--resolution", "32", "--threads", str(threads), "--images",
                     npz, "--proxies", ",".join(proxies), "--json"],
                    capture_output=True, text=True, check=True)
                o.append(1000 * sum(p["seconds"] for p in json.loads(out.stdout)["passes"]))
            ref_ms.append(statistics.median(r))
            ours_ms.append(statistics.median(o))
            print(f"{group} {arch}: reference {ref_ms[-1]:.0f} ms, intrain {ours_ms[-1]:.0f} ms",
                  file=sys.stderr, flush=True)
        rows.append((group, statistics.median(ref_ms), statistics.median(ours_ms)))
    print(f"| proxy | cells | reference ms | intrain ms | reference / intrain |")
    print("|---|---:|---:|---:|---:|")
    for group, r, o in rows:
        print(f"| {group} | {len(archs)} | {r:.0f} | {o:.0f} | {r / o:.2f} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scores", nargs="*", help="record files (merged by architecture)")
    ap.add_argument("--proxies",
                    default="zico,az-expressivity,az-progressivity,az-trainability,vkdnw,meco")
    ap.add_argument("--cells", type=int, default=30)
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dump", help="write every value (ours and the reference's) to this JSON")
    ap.add_argument("--time", metavar="ARCHS", help="time each proxy group on these cells instead")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "intrain"),
                    help="the intrain binary --time runs (default: target/release/intrain)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    seeds = [int(s) for s in a.seeds.split(",")]
    d = np.load(os.path.join(ROOT, "..", "shared", "data", "real_images", "cifar10_sample.npz"))
    x = torch.tensor(d["x"], dtype=torch.float32).permute(0, 3, 1, 2) / 255.0
    x = (x - torch.tensor(B.CIFAR_MEAN)[:, None, None]) / torch.tensor(B.CIFAR_STD)[:, None, None]
    y = torch.tensor(d["y"], dtype=torch.int64)
    if a.time:
        timing(a.time, a.repeats, a.threads, x, y, a.binary)
        return
    names = a.proxies.split(",")
    ours = {}
    for path in a.scores:
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                ours.setdefault(r["arch"], {}).update(
                    {k: v for k, v in r.get("proxies", {}).items() if k in names})
    archs = [c for c in ours if all(n in ours[c] for n in names)][:a.cells]
    ref = {s: {n: [] for n in names} for s in seeds}
    for i, arch in enumerate(archs):
        for s in seeds:
            v = {}
            if "zico" in names:
                v.update(zico(arch, s, x, y))
            if any(n.startswith("az-") for n in names):
                v.update(az_nas(arch, s))
            if "vkdnw" in names:
                v.update(vkdnw(arch, s))
            if "meco" in names:
                v.update(meco(arch, s, x))
            if "ntk" in names or "linear-regions" in names:
                v.update(tenas(arch, s, x))
            for n in names:
                ref[s][n].append(v[n])
        print(f"{i + 1}/{len(archs)} {arch}", file=sys.stderr, flush=True)
    if a.dump:
        with open(a.dump, "w") as f:
            json.dump({"archs": archs, "ours": {n: [ours[x][n] for x in archs] for n in names},
                       "reference": {str(s): ref[s] for s in seeds}}, f)
    # The reference's float32 eigendecomposition returns NaN on some near-singular covariances
    # (the authors then report -inf); rho is over the cells where every value is a number.
    print(f"| proxy | cells | reference NaN (seeds {seeds[0]}, {seeds[1]}) | rho ours vs reference "
          f"(seed {seeds[0]}) | rho reference seed {seeds[0]} vs {seeds[1]} |")
    print("|---|---|---|---|---|")
    for n in names:
        mine = [ours[a][n] if ours[a][n] is not None else -math.inf for a in archs]
        r1, r2 = ref[seeds[0]][n], ref[seeds[1]][n]
        keep = [i for i in range(len(archs))
                if all(math.isfinite(v[i]) for v in (mine, r1, r2))]
        nans = [sum(math.isnan(v) for v in r) for r in (r1, r2)]
        r0 = R.spearman([mine[i] for i in keep], [r1[i] for i in keep])
        rr = R.spearman([r1[i] for i in keep], [r2[i] for i in keep])
        print(f"| {n} | {len(keep)} | {nans[0]}, {nans[1]} | {r0:.3f} | {rr:.3f} |")


if __name__ == "__main__":
    main()
