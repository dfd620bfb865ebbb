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

FORWARD = [(32, "eval", "eval"), (32, "train", "train_fwd"), (64, "eval", "eval"), (64, "train", "train_fwd")]
TRAIN = [(32, "train", "fwd_bwd"), (64, "train", "fwd_bwd")]


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
    ap.add_argument("--what", choices=["forward", "train"], default="forward",
                    help="forward passes, or forward+backward (training graph) against torch fwd_bwd")
    a = ap.parse_args()
    configs = FORWARD if a.what == "forward" else TRAIN
    rows = {c: {"ours": [], "torch": [], "session": [], "build": []} for c in configs}
    for r in range(a.rounds):
        for c in configs:
            res, bn, mode = c
            cmd = ["target/release/intrain", "bench", a.what, "--json", "--batch", str(a.batch),
                   "--resolution", str(res), "--threads", str(a.threads), "--iters", str(a.iters)]
            if a.what == "forward":
                cmd += ["--bn", bn]
            ours = run_json(cmd)
            if a.what == "train":
                ours["forward_median_ms"] = ours["step_median_ms"]
                ours["export_ms"] += ours["differentiate_ms"]
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
    kind = "forward" if a.what == "forward" else "forward+backward"
    print(f"| config (batch {a.batch}, {a.threads} threads) | intrain {kind} ms | PyTorch {kind} ms | ratio PyTorch/intrain | intrain session creation ms | intrain build+export ms |")
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
