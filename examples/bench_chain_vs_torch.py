"""Interleaved benchmark: InTrain scoring of chain-space architectures by intrain against the
PyTorch port of the same networks and score (models/scripts/torch_chain_intrain.py), same
architectures, same machine, same run.

Usage (from the project root, after `cargo build --release`):
    python examples/bench_chain_vs_torch.py --rounds 3 --threads 2
    python examples/bench_chain_vs_torch.py --space models/spaces/mobilenetv2.yaml --archs 4 \\
        --resolution 64 --batch 16

The architectures are `intrain sample SPACE -n N --seed 0` (written to TMP/archs.txt), scored at
batch B and resolution R (default: 12 architectures of mobile_cifar.yaml, batch 64, 32x32). Each
round runs, in fresh processes and in turn:
  * `torch_chain_intrain.py --space SPACE --archs-file archs.txt --threads T --json`: one process
    scoring every architecture (model build, Kaiming init, forward, backward, reductions), Python
    and torch start-up included;
  * `intrain score SPACE --archs archs.txt --threads T --jobs J` into a new record file, for each J
    of --jobs (library load included).
Reports the median whole-process wall time over rounds [range], seconds per architecture, and the
ratio PyTorch / intrain (> 1: intrain is faster); the order of the commands rotates every round.
Before the rounds, both tools score the architectures at seeds 0 and 1 (untimed; also the
warm-up): the Spearman correlation of their per-architecture scores at seed 0 (the same protocol
from different random generators, so the same weights in distribution only), and the seed-0
against seed-1 Spearman of each tool alone, the noise floor that correlation is to be read
against. Then both score every architecture on identical weights (`intrain export`, loaded by the
port with --weights-from), input and labels (.npy): their Spearman and worst relative score
difference (float32 rounding; see the port's docstring on gradients that are zero in exact
arithmetic). PyTorch is a dev tool here, never a dependency of intrain.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

TORCH_PORT = "models/scripts/torch_chain_intrain.py"


def wall(cmd):
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def ranks(v):
    """Ranks 1..n, ties given their average rank."""
    order = sorted(range(len(v)), key=lambda i: v[i])
    r = [0.0] * len(v)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r


def spearman(x, y):
    """Pearson correlation of the ranks (ties averaged)."""
    rx, ry = ranks(x), ranks(y)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    return sxy / (sxx * syy) ** 0.5 if sxx and syy else float("nan")


class Commands:
    """The two tools' command lines for one space, list of architectures and protocol."""

    def __init__(self, a, archs_file, tmp):
        self.a, self.archs_file, self.tmp = a, archs_file, tmp
        self.protocol = ["--batch", str(a.batch), "--resolution", str(a.resolution),
                         "--threads", str(a.threads)]

    def intrain(self, out, jobs=1, seed=0):
        return [self.a.binary, "score", self.a.space, "--archs", self.archs_file, "--out",
                os.path.join(self.tmp, out), "--jobs", str(jobs),
                "--seed", str(seed)] + self.protocol

    def pytorch(self, seed=0):
        return [sys.executable, TORCH_PORT, "--space", self.a.space, "--archs-file",
                self.archs_file, "--json", "--seed", str(seed)] + self.protocol


def classes_of(space):
    """The number of classes of a space YAML (its `input.classes`)."""
    import yaml  # dev tool only
    with open(space) as f:
        return yaml.safe_load(f)["input"]["classes"]


def scores(cmds, archs):
    """{tool: {seed: [score per arch]}} for seeds 0 and 1."""
    out = {"intrain": {}, "pytorch": {}}
    for seed in (0, 1):
        name = f"seed{seed}.jsonl"
        subprocess.run(cmds.intrain(name, seed=seed), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        with open(os.path.join(cmds.tmp, name)) as f:
            by_arch = {r["arch"]: r["intrain"] for r in map(json.loads, f)}
        out["intrain"][seed] = [by_arch[x] for x in archs]
        p = subprocess.run(cmds.pytorch(seed), check=True, capture_output=True, text=True)
        by_arch = {r["arch"]: r["intrain"] for r in map(json.loads, p.stdout.splitlines())}
        out["pytorch"][seed] = [by_arch[x] for x in archs]
    return out


def same_weights_scores(cmds, archs, classes):
    """[(intrain score, PyTorch score)] per architecture on identical weights, input and labels:
    `intrain export` writes the weights `intrain score` draws, the port loads them, and both read
    the same seeded .npy batch and labels."""
    import numpy as np  # dev tool only, like the port itself
    rng = np.random.default_rng(0)
    a = cmds.a
    pairs = []
    for i, arch in enumerate(archs):
        model, xp, yp = (os.path.join(cmds.tmp, f"same{i}.{ext}") for ext in ("onnx", "x.npy", "y.npy"))
        subprocess.run([a.binary, "export", a.space, "--arch", arch, "-o", model], check=True,
                       capture_output=True)
        np.save(xp, rng.standard_normal((a.batch, 3, a.resolution, a.resolution)).astype(np.float32))
        np.save(yp, rng.integers(0, classes, a.batch).astype(np.int64))
        same = ["--input", xp, "--labels", yp, "--resolution", str(a.resolution), "--threads",
                str(a.threads), "--json"]
        ours = subprocess.run([a.binary, "score", a.space, "--arch", arch] + same, check=True,
                              capture_output=True, text=True)
        theirs = subprocess.run([sys.executable, TORCH_PORT, "--space", a.space, "--arch", arch,
                                 "--weights-from", model] + same, check=True, capture_output=True,
                                text=True)
        pairs.append((json.loads(ours.stdout)["score"]["intrain"],
                      json.loads(theirs.stdout)["intrain"]))
    return pairs


def timed_rounds(cmds, jobs, rounds):
    names = ["pytorch"] + [f"intrain --jobs {j}" for j in jobs]
    times = {k: [] for k in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            if name == "pytorch":
                times[name].append(wall(cmds.pytorch()))
            else:
                j = int(name.split()[-1])
                times[name].append(wall(cmds.intrain(f"r{r}-j{j}.jsonl", jobs=j)))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()),
              file=sys.stderr)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="models/spaces/mobile_cifar.yaml")
    ap.add_argument("--archs", type=int, default=12, help="architectures sampled with seed 0")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--jobs", default="1,2", help="intrain --jobs values, comma-separated")
    ap.add_argument("--binary", default="target/release/intrain")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="intrain-chain-bench-")
    sample = subprocess.run([a.binary, "sample", a.space, "-n", str(a.archs), "--seed", "0"],
                            check=True, capture_output=True, text=True).stdout
    archs = [line.split()[0] for line in sample.splitlines() if line.strip()]
    archs_file = os.path.join(tmp, "archs.txt")
    with open(archs_file, "w") as f:
        f.write("\n".join(archs) + "\n")
    cmds = Commands(a, archs_file, tmp)
    s = scores(cmds, archs)
    rho = {"intrain_vs_pytorch_seed0": spearman(s["intrain"][0], s["pytorch"][0]),
           "intrain_seed0_vs_seed1": spearman(s["intrain"][0], s["intrain"][1]),
           "pytorch_seed0_vs_seed1": spearman(s["pytorch"][0], s["pytorch"][1])}
    same = same_weights_scores(cmds, archs, classes_of(a.space))
    rho["same_weights"] = spearman([i for i, _ in same], [t for _, t in same])
    worst_same = max(abs(i - t) / abs(t) for i, t in same)
    times = timed_rounds(cmds, [int(j) for j in a.jobs.split(",")], a.rounds)
    torch_median = statistics.median(times["pytorch"])
    rows = []
    for name, v in times.items():
        m = statistics.median(v)
        rows.append({"command": name, "median_s": m, "min_s": min(v), "max_s": max(v),
                     "per_arch_s": m / len(archs), "ratio_pytorch_over": torch_median / m})
    if a.json:
        print(json.dumps({"space": a.space, "archs": archs, "batch": a.batch,
                          "resolution": a.resolution, "threads": a.threads, "rounds": a.rounds,
                          "rows": rows, "spearman": rho, "scores": s, "same_weights": same,
                          "same_weights_worst_relative": worst_same}))
        return
    print(f"{len(archs)} architectures of {a.space} (sample seed 0), batch {a.batch}, "
          f"{a.resolution}x{a.resolution}, {a.threads} threads, {a.rounds} rounds, whole processes")
    print("| command | wall s, median [range] | s per arch | ratio PyTorch / this |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['command']} | {r['median_s']:.2f} [{r['min_s']:.2f}-{r['max_s']:.2f}] | "
              f"{r['per_arch_s']:.2f} | {r['ratio_pytorch_over']:.2f} |")
    print(f"Spearman of the scores: intrain vs PyTorch (seed 0) "
          f"{rho['intrain_vs_pytorch_seed0']:.3f}; noise floor, seed 0 vs seed 1: "
          f"intrain {rho['intrain_seed0_vs_seed1']:.3f}, "
          f"PyTorch {rho['pytorch_seed0_vs_seed1']:.3f}")
    print(f"Same weights, input and labels: Spearman {rho['same_weights']:.3f}, worst relative "
          f"score difference {worst_same:.1e}")


if __name__ == "__main__":
    main()
