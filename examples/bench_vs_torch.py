"""Interleaved benchmark: intrain (Rust, ONNX Runtime) against PyTorch eager, same machine, same run.

Usage (from the project root, after `cargo build --release`):
    python examples/bench_vs_torch.py --rounds 3 --threads 2 --out bench.json

For each round and each configuration (resolution 32/64 x BatchNorm eval/train), it runs
`target/release/intrain bench forward --json` (a fresh process: graph build, export, session
creation, then warm-up and timed forwards) and `models/scripts/torch_nb201_bench.py` alternately,
so machine drift hits both. Reports the median over rounds of each run's median, the range, and
the ratio PyTorch / intrain (> 1 means intrain is faster). Needs PyTorch (a dev tool only).
"""
import argparse
import json
import statistics
import subprocess
import sys

CONFIGS = [(32, "eval", "eval"), (32, "train", "train_fwd"), (64, "eval", "eval"), (64, "train", "train_fwd")]


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--out")
    a = ap.parse_args()
    rows = {c: {"ours": [], "torch": [], "session": [], "build": []} for c in CONFIGS}
    for r in range(a.rounds):
        for c in CONFIGS:
            res, bn, mode = c
            ours = run_json(["target/release/intrain", "bench", "forward", "--json", "--batch", str(a.batch),
                             "--resolution", str(res), "--bn", bn, "--threads", str(a.threads),
                             "--iters", str(a.iters)])
            torch = run_json([sys.executable, "models/scripts/torch_nb201_bench.py", "--json", "--batch",
                              str(a.batch), "--res", str(res), "--mode", mode, "--threads", str(a.threads),
                              "--iters", str(a.iters)])
            rows[c]["ours"].append(ours["forward_median_ms"])
            rows[c]["session"].append(ours["session_ms"])
            rows[c]["build"].append(ours["build_ms"] + ours["export_ms"])
            rows[c]["torch"].append(torch["median_ms"])
            print(f"round {r + 1} {res}x{res} BN {bn}: intrain {ours['forward_median_ms']:.1f} ms "
                  f"(session {ours['session_ms']:.0f} ms), torch {torch['median_ms']:.1f} ms", file=sys.stderr)
    summary = []
    print(f"| config (batch {a.batch}, {a.threads} threads) | intrain forward ms | PyTorch forward ms | ratio PyTorch/intrain | intrain session creation ms | intrain build+export ms |")
    print("|---|---|---|---|---|---|")
    for c, v in rows.items():
        res, bn, _ = c
        med = {k: statistics.median(x) for k, x in v.items()}
        rng = {k: (min(x), max(x)) for k, x in v.items()}
        ratio = med["torch"] / med["ours"]
        summary.append({"resolution": res, "bn": bn, "median": med, "range": rng, "ratio_torch_over_ours": ratio})
        print(f"| {res}x{res}, BN {bn} | {med['ours']:.0f} [{rng['ours'][0]:.0f}-{rng['ours'][1]:.0f}] | "
              f"{med['torch']:.0f} [{rng['torch'][0]:.0f}-{rng['torch'][1]:.0f}] | {ratio:.2f} | "
              f"{med['session']:.0f} | {med['build']:.0f} |")
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"rounds": a.rounds, "threads": a.threads, "batch": a.batch, "rows": summary}, f, indent=1)


if __name__ == "__main__":
    main()
