#!/usr/bin/env python3
"""Cost of the rank aggregates per NAS-Bench-201 architecture: intrain's InTrain-Agg, AZ-NAS and
VKDNW_agg through intrain, against AZ-NAS's and VKDNW_agg's reference code (a dev tool; needs
PyTorch).

Per cell, alternating, --repeats times (medians over cells of the per-cell medians):
  * reference AZ-NAS: the authors' expressivity, progressivity and trainability
    (`zoo_reference_check.az_nas`: network construction included; FLOPs are a count, not timed);
  * reference VKDNW_agg: the authors' VKDNW (`vmap(jacrev)`), the AZ-NAS components and NASLib's
    Jacov on 64 CIFAR-10 images, each building its network;
  * intrain: `intrain score models/spaces/nb201.yaml --arch A --resolution 32 --threads T
    --proxies P --json` for P = intrain-agg, az-nas, vkdnw-agg (the latter with the images), its
    end-to-end `seconds` (lowering, differentiation, sessions, runs and reductions of every pass,
    InTrain's included) and the wall time of the whole process (runtime loading included).

Usage (from the repository root, after `cargo build --release`):
  python3 models/scripts/aggregate_cost.py --cells 4 --repeats 2 --threads 2
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sample-seed", type=int, default=0)
    a = ap.parse_args()
    import numpy as np
    import torch
    import zoo_reference_check as Z  # the authors' code as ported there (loads its own helpers)
    B = Z.B
    torch.set_num_threads(a.threads)
    npz = os.path.join(ROOT, "..", "shared", "data", "real_images", "cifar10_sample.npz")
    d = np.load(npz)
    x = torch.tensor(d["x"], dtype=torch.float32).permute(0, 3, 1, 2) / 255.0
    x = (x - torch.tensor(B.CIFAR_MEAN)[:, None, None]) / torch.tensor(B.CIFAR_STD)[:, None, None]
    y = torch.tensor(d["y"], dtype=torch.int64)
    rng = np.random.default_rng(a.sample_seed)
    with open(os.path.join(ROOT, "..", "shared", "data", "nasbench201",
                           "nb201_unique_9445.csv")) as f:
        header = f.readline().strip().split(",")
        col = header.index("arch_str")
        cells = [line.strip().split(",")[col] for line in f if line.strip()]
    archs = [cells[i] for i in rng.choice(len(cells), a.cells, replace=False)]
    binary = os.path.join(ROOT, "target", "release", "intrain")
    space = os.path.join(ROOT, "models", "spaces", "nb201.yaml")

    def ours(arch, proxies, images):
        cmd = [binary, "score", space, "--arch", arch, "--resolution", "32", "--threads",
               str(a.threads), "--proxies", proxies, "--json"]
        if images:
            cmd += ["--images", npz]
        t = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t
        return 1000 * json.loads(out.stdout)["seconds"], 1000 * wall

    def ref_az(arch):
        Z.az_nas(arch, 1)

    def ref_vkdnw_agg(arch):
        Z.vkdnw(arch, 1)
        Z.az_nas(arch, 1)
        B.pt_one("jacov", arch, x[:64], y[:64], 1)

    rows = {k: [] for k in ["ref az-nas", "ref vkdnw-agg", "intrain-agg", "intrain-agg wall",
                            "az-nas", "az-nas wall", "vkdnw-agg", "vkdnw-agg wall"]}
    for arch in archs:
        per = {k: [] for k in rows}
        for _ in range(a.repeats):
            for name, fn in [("ref az-nas", ref_az), ("ref vkdnw-agg", ref_vkdnw_agg)]:
                t = time.perf_counter()
                fn(arch)
                per[name].append(1000 * (time.perf_counter() - t))
            for p, images in [("intrain-agg", False), ("az-nas", False), ("vkdnw-agg", True)]:
                s, w = ours(arch, p, images)
                per[p].append(s)
                per[p + " wall"].append(w)
        for k in rows:
            rows[k].append(statistics.median(per[k]))
        print(arch, {k: round(v[-1]) for k, v in rows.items()}, file=sys.stderr, flush=True)
    m = {k: statistics.median(v) for k, v in rows.items()}
    print(f"{len(archs)} cells, {a.repeats} repeats, {a.threads} threads; ms per architecture\n")
    print("| aggregate | reference code ms | intrain ms (process wall ms) | reference / intrain |")
    print("|---|---:|---:|---:|")
    print(f"| intrain-agg | - | {m['intrain-agg']:.0f} ({m['intrain-agg wall']:.0f}) | - |")
    for k in ["az-nas", "vkdnw-agg"]:
        print(f"| {k} | {m['ref ' + k]:.0f} | {m[k]:.0f} ({m[k + ' wall']:.0f}) | "
              f"{m['ref ' + k] / m[k]:.2f} |")
    print(f"\nintrain-agg against the reference AZ-NAS: {m['ref az-nas'] / m['intrain-agg']:.2f}x; "
          f"against the reference VKDNW_agg: {m['ref vkdnw-agg'] / m['intrain-agg']:.2f}x")


if __name__ == "__main__":
    main()
