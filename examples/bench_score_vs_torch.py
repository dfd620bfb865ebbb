"""Interleaved benchmark: end-to-end time to score one NAS-Bench-201 architecture with intrain
against a PyTorch implementation of the same score (models/scripts/torch_intrain.py), same machine,
same run.

Usage (from the project root, after `cargo build --release`):
    python examples/bench_score_vs_torch.py --rounds 5 --threads 2

Each round runs, alternately, in fresh processes:
  * `target/release/intrain score models/spaces/nb201.yaml --arch A --json`: graph build,
    differentiation, export, session creation, one forward+backward, reductions (the JSON
    `seconds`), and the whole process wall time (library load, argument parsing included);
  * `torch_intrain.py --arch A --json` (one cold score, no warm-up): model build, Kaiming init,
    forward, backward, reductions (its `seconds`), and the process wall time (Python and torch
    import included).
Reports medians over rounds, [ranges], and ratios PyTorch / intrain (> 1: intrain is faster).
PyTorch is a dev tool here, never a dependency of intrain.
"""
import argparse
import json
import statistics
import subprocess
import sys
import time

DENSE = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
         "|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")
MIXED = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+"
         "|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")


def timed_json(cmd):
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - t0
    text = out.strip()
    try:
        return json.loads(text), wall
    except json.JSONDecodeError:
        return json.loads(text.splitlines()[-1]), wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--out")
    a = ap.parse_args()
    archs = {"all nor_conv_3x3": DENSE, "mixed (NB201 README example)": MIXED}
    rows = {k: {"ours": [], "ours_wall": [], "torch": [], "torch_wall": []} for k in archs}
    for r in range(a.rounds):
        for name, arch in archs.items():
            ours, ours_wall = timed_json([
                "target/release/intrain", "score", "models/spaces/nb201.yaml", "--arch", arch,
                "--batch", str(a.batch), "--resolution", str(a.resolution),
                "--threads", str(a.threads), "--json"])
            torch, torch_wall = timed_json([
                sys.executable, "models/scripts/torch_intrain.py", "--arch", arch, "--batch",
                str(a.batch), "--resolution", str(a.resolution), "--threads", str(a.threads),
                "--json"])
            v = rows[name]
            v["ours"].append(ours["seconds"])
            v["ours_wall"].append(ours_wall)
            v["torch"].append(torch["seconds"])
            v["torch_wall"].append(torch_wall)
            print(f"round {r + 1} {name}: intrain {ours['seconds']:.2f} s (process {ours_wall:.2f} s), "
                  f"torch {torch['seconds']:.2f} s (process {torch_wall:.2f} s)", file=sys.stderr)
    print(f"| architecture (batch {a.batch}, {a.resolution}x{a.resolution}, {a.threads} threads) "
          "| intrain s | PyTorch s | ratio PyTorch/intrain | intrain process s | PyTorch process s | ratio |")
    print("|---|---|---|---|---|---|---|")
    summary = {}
    for name, v in rows.items():
        med = {k: statistics.median(x) for k, x in v.items()}
        rng = {k: (min(x), max(x)) for k, x in v.items()}
        summary[name] = {"median": med, "range": rng}
        f = lambda k: f"{med[k]:.2f} [{rng[k][0]:.2f}-{rng[k][1]:.2f}]"
        print(f"| {name} | {f('ours')} | {f('torch')} | {med['torch'] / med['ours']:.2f} | "
              f"{f('ours_wall')} | {f('torch_wall')} | {med['torch_wall'] / med['ours_wall']:.2f} |")
    if a.out:
        with open(a.out, "w") as fh:
            json.dump({"rounds": a.rounds, "threads": a.threads, "rows": summary}, fh, indent=1)


if __name__ == "__main__":
    main()
