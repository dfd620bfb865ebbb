#!/usr/bin/env python3
"""Float32 spread of one conformance export's train-mode gradients (dev tool): PyTorch float32's
and intrain's errors against the PyTorch float64 reference on K inputs that no float32 computation
can tell apart (the corpus input and K-1 copies with every element moved by at most one float32
rounding), written beside the export for the conformance runner.

Deep train-mode networks are chaotic in float32 (a ReLU input within rounding of zero flips sign):
on such a model PyTorch float32's own error on one tensor jumps by 10x between these inputs, and
the largest over the reference's three runs underestimates it. The runner's one-input verdict
then fails whichever float32 computation it is given, PyTorch's own included; this script says
whether it would (PyTorch float32 judged on each input by the bounds of its other runs, as the
runner judges intrain). With `--write` it saves the inputs (`x_1.npy`, ...) and PyTorch float32's
per-input errors (`VARIANT.spread.json`); the runner then judges a check that fails only tensor by
tensor on the same K inputs as PyTorch float32: worst and median error over every input and tensor,
ours against PyTorch float32's.

Needs the corpus of `conformance_corpus.py` and a release build (`target/release/intrain`).

Usage: python3 models/scripts/conformance_spread.py MODEL VARIANT [TENSOR,...]
       [--inputs 8] [--write] [--threads 2] [--corpus target/conformance]
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

SPREAD_VERSION = 1


def error(std, max_abs, r):
    return max(cc.rel(std, r["std"]), cc.rel(max_abs, r["max_abs"]))


def intrain_errors(onnx_path, x_path, labels_path, refs):
    out = subprocess.run(
        ["target/release/intrain", "grad", onnx_path, "--input", x_path, "--labels", labels_path,
         "--bn", "train", "--json"], capture_output=True, text=True, check=True).stdout
    ours = {p["name"]: p["grad"] for p in json.loads(out)["params"] if p.get("grad")}
    return {n: error(ours[n]["std"], ours[n]["max_abs"], r) for n, r in refs.items() if n in ours}


def summary(per_input):
    every = [e for errs in per_input for e in errs.values()]
    return max(every), float(np.median(every))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("variant")
    ap.add_argument("tensors", nargs="?", default="", help="tensors to list input by input")
    ap.add_argument("--inputs", type=int, default=8, help="inputs, the corpus's own included")
    ap.add_argument("--write", action="store_true",
                    help="save the inputs and PyTorch float32's errors for the runner")
    ap.add_argument("--corpus", default="target/conformance")
    ap.add_argument("--threads", type=int, default=2, help="PyTorch's threads (the corpus's default)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    d = os.path.join(a.corpus, a.model)
    ref = json.load(open(os.path.join(d, f"{a.variant}.ref.json")))
    x = torch.from_numpy(np.load(os.path.join(d, "x.npy")))
    labels_path = os.path.join(d, "labels.npy")
    labels = torch.from_numpy(np.load(labels_path))
    model = cc.build(a.model)
    # Tensors PyTorch float32 gets more than 100% wrong are zero at float32 precision: left out,
    # as the runner leaves them out of this comparison.
    refs = {n: r["train"] for n, r in ref["parameters"].items()
            if r.get("train") and max(r["train"]["std_f32_rel_err"], r["train"]["max_f32_rel_err"]) <= 1}
    names = {n: ref["parameters"][n]["torch"] for n in refs}
    inputs, torch_errs, ours = [], [], []
    # Perturbed inputs go beside the export only with --write (a run without it leaves a
    # written spread's inputs alone).
    scratch = tempfile.TemporaryDirectory()
    for k in range(a.inputs):
        # The same perturbation as the reference's own float32 runs (seed k).
        xk = x if k == 0 else cc.ulp_perturbed(x, k)
        name = "x.npy" if k == 0 else f"x_{k}.npy"
        path = os.path.join(d if k == 0 or a.write else scratch.name, name)
        if k > 0:
            np.save(path, xk.numpy())
        _, g = cc.gradients(model, xk, labels, torch.float32, True)
        torch_errs.append({n: error(*g[t], refs[n]) for n, t in names.items()})
        ours.append(intrain_errors(os.path.join(d, f"{a.variant}.onnx"), path, labels_path, refs))
        inputs.append(name)
    scratch.cleanup()
    for t in [t for t in a.tensors.split(",") if t]:
        print(f"{t}: PyTorch float32 per input {' '.join('%.1e' % e[t] for e in torch_errs)}; "
              f"intrain {' '.join('%.1e' % e[t] for e in ours)}")
    tw, tm = summary(torch_errs)
    ow, om = summary(ours)
    print(f"{a.model}/{a.variant}, train mode, {len(refs)} tensors, {a.inputs} inputs: worst "
          f"PyTorch float32 {tw:.2e}, intrain {ow:.2e}; median PyTorch float32 {tm:.2e}, "
          f"intrain {om:.2e}")
    print("worst tensor per input: PyTorch float32 "
          + " ".join("%.1e" % max(e.values()) for e in torch_errs)
          + "; intrain " + " ".join("%.1e" % max(e.values()) for e in ours))
    # The runner's one-input rule applied to PyTorch float32 itself: its errors on input k
    # against bounds from the reference's three runs (inputs 0-2) or, for those, from the other two.
    runs = cc.F32_RUNS
    for k in range(a.inputs):
        others = [j for j in range(runs) if j != k]
        bound = {n: max(torch_errs[j][n] for j in others) for n in refs}
        off = [n for n in refs if torch_errs[k][n] > max(2e-2, bound[n])]
        print(f"PyTorch float32 on input {k} judged by the one-input rule: {len(off)} tensors off"
              + (f", first {off[0]} {torch_errs[k][off[0]]:.1e} (bound {max(2e-2, bound[off[0]]):.1e})"
                 if off else ""))
    if a.write:
        out = {"version": SPREAD_VERSION, "model": a.model, "variant": a.variant, "mode": "train",
               "inputs": inputs, "torch_f32_rel_err": torch_errs}
        with open(os.path.join(d, f"{a.variant}.spread.json"), "w") as f:
            json.dump(out, f, indent=1)
        print(f"wrote {os.path.join(d, a.variant + '.spread.json')}")


if __name__ == "__main__":
    main()
