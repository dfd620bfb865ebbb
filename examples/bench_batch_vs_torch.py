"""Interleaved benchmark: batch scoring throughput of intrain against the PyTorch implementation
of the same score (models/scripts/torch_intrain.py), same cells, same machine, same run.

Usage (from the project root, after `cargo build --release`):
    python examples/bench_batch_vs_torch.py --cells 12 --rounds 3 --threads 2

The cells are the first N of the 1,000-cell evaluation sample (`intrain eval --sample N` draws
them; they are written to TMP/cells.txt). Each round runs, in fresh processes and in turn:
  * `torch_intrain.py --archs-file cells.txt --threads T`: one process scoring every cell
    (model build, Kaiming init, forward, backward, reductions), Python and torch start-up
    included;
  * `intrain score nb201.yaml --archs cells.txt --threads T --jobs J` into a new record file,
    for each J of --jobs (library load included).
Reports the median whole-process wall time over rounds [range], seconds per cell, and the
ratio PyTorch / intrain (> 1: intrain is faster). The order of the commands rotates every round.
PyTorch is a dev tool here, never a dependency of intrain.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def wall(cmd, env=None):
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--jobs", default="1,2", help="intrain --jobs values, comma-separated")
    ap.add_argument("--binary", default="target/release/intrain")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="intrain-bench-")
    cache = os.path.join(tmp, "sample.jsonl")
    # The sample's cells, in eval's order: eval --sample N with a --cache it fills. Scoring them
    # once is also a warm-up of both the library download and the page cache.
    subprocess.run([a.binary, "eval", "--sample", str(a.cells), "--cache", cache, "--out",
                    os.path.join(tmp, "eval"), "--threads", str(a.threads), "--bootstrap", "0"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cells = [json.loads(line)["arch"] for line in open(cache)]
    cells_file = os.path.join(tmp, "cells.txt")
    with open(cells_file, "w") as f:
        f.write("\n".join(cells) + "\n")
    jobs = [int(j) for j in a.jobs.split(",")]
    commands = {"pytorch": [sys.executable, "models/scripts/torch_intrain.py", "--archs-file",
                            cells_file, "--threads", str(a.threads), "--json"]}
    for j in jobs:
        commands[f"intrain --jobs {j}"] = None
    times = {k: [] for k in commands}
    for r in range(a.rounds):
        names = list(commands)
        names = names[r % len(names):] + names[:r % len(names)]
        for name in names:
            if name == "pytorch":
                times[name].append(wall(commands[name]))
            else:
                j = name.split()[-1]
                out = os.path.join(tmp, f"r{r}-j{j}.jsonl")
                times[name].append(wall([a.binary, "score", "models/spaces/nb201.yaml", "--archs",
                                         cells_file, "--out", out, "--threads", str(a.threads),
                                         "--jobs", j]))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()),
              file=sys.stderr)
    torch_median = statistics.median(times["pytorch"])
    rows = []
    for name, v in times.items():
        m = statistics.median(v)
        rows.append({"command": name, "median_s": m, "min_s": min(v), "max_s": max(v),
                     "per_cell_s": m / len(cells), "ratio_pytorch_over": torch_median / m})
    if a.json:
        print(json.dumps({"cells": len(cells), "threads": a.threads, "rounds": a.rounds,
                          "rows": rows}))
        return
    print(f"{len(cells)} cells of the evaluation sample, batch 64, 64x64, {a.threads} threads, "
          f"{a.rounds} rounds, whole processes")
    print("| command | wall s, median [range] | s per cell | ratio PyTorch / this |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['command']} | {r['median_s']:.2f} [{r['min_s']:.2f}-{r['max_s']:.2f}] | "
              f"{r['per_cell_s']:.2f} | {r['ratio_pytorch_over']:.2f} |")


if __name__ == "__main__":
    main()
