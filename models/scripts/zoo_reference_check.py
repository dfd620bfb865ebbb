#!/usr/bin/env python3
"""ZiCo and AZ-NAS: intrain's values next to the authors' code, architecture by architecture.

Dev tool. The reference side ports, line for line in what they compute, the NAS-Bench-201 files of
cvlab-yonsei/AZ-NAS: `NB201/ZeroShotProxy/compute_zico_score.py` (ZiCo, modified there from
SLDGroup/ZiCo) and `NB201/ZeroShotProxy/compute_az_nas_score.py` (expressivity, progressivity,
trainability), on the AutoDL TinyNetwork of `proxy_bench.py` (C=16, N=5, 10 classes) with AZ-NAS's
`extract_cell_features` (the stem output and every cell output, 18 tensors).

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
  * Each reference proxy runs with seeds --seeds (default 1,2): the Spearman rho of intrain's
    values against the reference's first seed, and of the reference's two seeds against each other
    (how close the reference is to itself), are printed per proxy.

Usage (from the repository root):
  python3 models/scripts/zoo_reference_check.py target/proxy-eval/scores.jsonl [--cells 30]
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scores")
    ap.add_argument("--cells", type=int, default=30)
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dump", help="write every value (ours and the reference's) to this JSON")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    seeds = [int(s) for s in a.seeds.split(",")]
    ours = {}
    with open(a.scores) as f:
        for line in f:
            r = json.loads(line)
            p = r.get("proxies", {})
            if all(p.get(k) is not None for k in ("zico", "az-expressivity")):
                ours.setdefault(r["arch"], p)
    archs = list(ours)[:a.cells]
    d = np.load(os.path.join(ROOT, "..", "shared", "data", "real_images", "cifar10_sample.npz"))
    x = torch.tensor(d["x"], dtype=torch.float32).permute(0, 3, 1, 2) / 255.0
    x = (x - torch.tensor(B.CIFAR_MEAN)[:, None, None]) / torch.tensor(B.CIFAR_STD)[:, None, None]
    y = torch.tensor(d["y"], dtype=torch.int64)
    names = ["zico", "az-expressivity", "az-progressivity", "az-trainability"]
    ref = {s: {n: [] for n in names} for s in seeds}
    for i, arch in enumerate(archs):
        for s in seeds:
            v = zico(arch, s, x, y)
            v.update(az_nas(arch, s))
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
