#!/usr/bin/env python3
"""Float32 chaos check for one conformance export (dev tool): intrain's train-mode gradient errors
against the PyTorch float64 reference on the input as given and on the inputs PyTorch float32's
reference runs used (each element moved by at most one float32 rounding), next to PyTorch
float32's own error (the largest over those same inputs).

Deep train-mode networks are chaotic in float32 (a ReLU input within rounding of zero flips sign):
a tensor whose error jumps by 10x between inputs that differ by one rounding is at float32 noise,
not wrong. Needs the corpus of `conformance_corpus.py` and a release build.

Usage: python3 models/scripts/conformance_spread.py MODEL VARIANT [TENSOR,...]
       [--corpus target/conformance]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conformance_corpus as cc  # noqa: E402


def error(ours, r):
    return max(abs(ours["std"] - r["std"]) / r["std"], abs(ours["max_abs"] - r["max_abs"]) / r["max_abs"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("variant")
    ap.add_argument("tensors", nargs="?", default="")
    ap.add_argument("--corpus", default="target/conformance")
    a = ap.parse_args()
    d = os.path.join(a.corpus, a.model)
    ref = json.load(open(os.path.join(d, f"{a.variant}.ref.json")))
    x = torch.from_numpy(np.load(os.path.join(d, "x.npy")))
    # Tensors PyTorch float32 gets more than 100% wrong are zero at float32 precision: left out.
    refs = {n: r["train"] for n, r in ref["parameters"].items()
            if r.get("train") and max(r["train"]["std_f32_rel_err"], r["train"]["max_f32_rel_err"]) <= 1}
    tensors = [t for t in a.tensors.split(",") if t]
    per_input = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(cc.F32_RUNS):
            xk = x if k == 0 else cc.ulp_perturbed(x, k)
            path = os.path.join(tmp, "x.npy")
            np.save(path, xk.numpy())
            out = subprocess.run(
                ["target/release/intrain", "grad", os.path.join(d, f"{a.variant}.onnx"), "--input", path,
                 "--labels", os.path.join(d, "labels.npy"), "--bn", "train", "--json"],
                capture_output=True, text=True, check=True).stdout
            ours = {p["name"]: p["grad"] for p in json.loads(out)["params"] if p.get("grad")}
            per_input.append({n: error(ours[n], r) for n, r in refs.items() if n in ours})
    f32 = {n: max(r["std_f32_rel_err"], r["max_f32_rel_err"]) for n, r in refs.items()}
    for t in tensors:
        print(f"{t}: intrain per input {' '.join('%.1e' % e[t] for e in per_input)}; "
              f"PyTorch float32 (largest over the same inputs) {f32[t]:.1e}")
    print(f"worst tensor: intrain per input {' '.join('%.1e' % max(e.values()) for e in per_input)}; "
          f"PyTorch float32 {max(f32.values()):.1e}")
    print(f"median tensor: intrain per input "
          f"{' '.join('%.1e' % float(np.median(list(e.values()))) for e in per_input)}; "
          f"PyTorch float32 {float(np.median(list(f32.values()))):.1e}")


if __name__ == "__main__":
    main()
