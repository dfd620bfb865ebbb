#!/usr/bin/env python3
"""Per-architecture agreement of intrain's baseline proxies with the reference scores.

Dev tool. Reads a score record file written by `intrain eval` or `intrain score --archs` with
`--proxies ...` (JSONL records with a `proxies` map) and compares, on the cells it holds:

  * Spearman rho between our value and NASLib's (NAS-Bench-Suite-Zero, `nb201_zc_naslib_9445.csv`,
    dataset cifar10) for each proxy NASLib provides, and against FreeREA's (`nb201_zc_freerea.csv`)
    for NASWOT and SynFlow;
  * Kendall tau-b against CIFAR-10 test accuracy (`nb201_all.csv`, `cifar10_test`) of ours and of
    NASLib's on the same cells, and the difference;
  * with a second record file (another seed), our own seed-to-seed Spearman, the ceiling a
    real-data proxy's agreement with a single-batch reference can reach, and our Kendall tau
    under that seed (`kt_other`, on the cells both files hold).

Usage (from the repository root):
  python3 models/scripts/proxy_reference_check.py target/proxy-eval/scores.jsonl \
      [--other target/proxy-eval-s1/scores.jsonl] [--markdown]

No SciPy: tau-b and rho are computed here (average ranks for ties).
"""
import argparse
import csv
import json
import math
import os

import numpy as np

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "nasbench201")

# ours -> NASLib column
NASLIB = {
    "grad-norm": "grad_norm",
    "snip": "snip",
    "plain": "plain",
    "l2-norm": "l2_norm",
    "fisher": "fisher",
    "grasp": "grasp",
    "naswot": "nwot",
    "jacov": "jacov",
    "epe-nas": "epe_nas",
    "synflow": "synflow",
    "zen": "zen",
    "flops": "flops",
    "params": "params",
}
FREEREA = {"naswot": "cifar10_naswot", "synflow": "cifar10_synflow"}


def ranks(x):
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="mergesort")
    r = np.empty(len(x))
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and x[order[j + 1]] == x[order[i]]:
            j += 1
        r[order[i:j + 1]] = (i + j) / 2.0
        i = j + 1
    return r


def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    return float(np.corrcoef(ra, rb)[0, 1])


def kendall_b(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    da = np.sign(a[:, None] - a[None, :])
    db = np.sign(b[:, None] - b[None, :])
    iu = np.triu_indices(len(a), 1)
    s = (da * db)[iu].sum()
    n1 = (da[iu] != 0).sum()
    n2 = (db[iu] != 0).sum()
    return float(s / math.sqrt(n1 * n2))


def records(path):
    out = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                out.setdefault(r["arch"], {}).update(
                    {k: (float("nan") if v is None else v) for k, v in r.get("proxies", {}).items()})
                out[r["arch"]]["params"] = r["params"]
                out[r["arch"]]["flops"] = r["flops"]
    return out


def table(path, key_col, value_filter=None):
    rows = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            if value_filter and not value_filter(r):
                continue
            rows[r[key_col]] = r
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scores")
    ap.add_argument("--other", help="a record file of the same cells under another seed")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    ours = records(a.scores)
    other = records(a.other) if a.other else {}
    naslib = table(os.path.join(DATA, "nb201_zc_naslib_9445.csv"), "arch_str",
                   lambda r: r["dataset"] == "cifar10")
    freerea = table(os.path.join(DATA, "nb201_zc_freerea.csv"), "arch_str")
    truth = table(os.path.join(DATA, "nb201_all.csv"), "arch_str")
    cells = [c for c in ours if c in naslib]
    acc = [float(truth[c]["cifar10_test"]) for c in cells]
    names = sorted({k for c in cells for k in ours[c]}, key=lambda n: list(NASLIB).index(n) if n in NASLIB else 99)
    rows = []
    for name in names:
        have = [c for c in cells if name in ours[c] and math.isfinite(ours[c][name])]
        if len(have) < 10:
            continue
        v = [ours[c][name] for c in have]
        y = [float(truth[c]["cifar10_test"]) for c in have]
        row = {"proxy": name, "cells": len(have), "kt_ours": kendall_b(v, y)}
        if name in NASLIB:
            ref = [float(naslib[c][NASLIB[name]]) for c in have]
            row["rho_naslib"] = spearman(v, ref)
            row["kt_naslib"] = kendall_b(ref, y)
        if name in FREEREA:
            ok = [i for i, c in enumerate(have) if math.isfinite(float(freerea[c][FREEREA[name]]))]
            ref = [float(freerea[have[i]][FREEREA[name]]) for i in ok]
            row["rho_freerea"] = spearman([v[i] for i in ok], ref)
        both = [c for c in have if c in other and name in other[c] and math.isfinite(other[c][name])]
        if len(both) >= 10:
            row["rho_seeds"] = spearman([ours[c][name] for c in both], [other[c][name] for c in both])
            row["kt_other"] = kendall_b([other[c][name] for c in both],
                                        [float(truth[c]["cifar10_test"]) for c in both])
        rows.append(row)
    cols = ["proxy", "cells", "rho_naslib", "rho_freerea", "rho_seeds", "kt_ours", "kt_other",
            "kt_naslib"]
    fmt = lambda v: "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))
    if a.markdown:
        print("| " + " | ".join(cols) + " | KT ours − NASLib |")
        print("|" + "---|" * (len(cols) + 1))
    else:
        print("  ".join(f"{c:>12}" for c in cols) + "  kt_diff")
    for r in rows:
        diff = r["kt_ours"] - r["kt_naslib"] if "kt_naslib" in r else None
        vals = [fmt(r.get(c)) for c in cols] + [fmt(diff)]
        print(("| " + " | ".join(vals) + " |") if a.markdown else "  ".join(f"{v:>12}" for v in vals))
    print(f"\n{len(cells)} cells of the 9,445 set; KT against cifar10_test (nb201_all.csv)")


if __name__ == "__main__":
    main()
