"""Interleaved benchmark: intrain (Rust, ONNX Runtime) against PyTorch eager, same machine, same run.

Usage (from the project root, after `cargo build --release`):
    python examples/bench_vs_torch.py --rounds 3 --threads 2 --out bench.json
    python examples/bench_vs_torch.py --what train --rounds 7 --threads 2
    python examples/bench_vs_torch.py --what train-alternate --rounds 20 --threads 2

For each round and each configuration (resolution 32/64 x BatchNorm eval/train), it runs
`target/release/intrain bench forward --json` (a fresh process: graph build, export, session
creation, then warm-up and timed forwards) and `models/scripts/torch_nb201_bench.py` alternately,
so machine drift hits both. Reports the median over rounds of each run's median, the range, and
the ratio PyTorch / intrain (> 1 means intrain is faster). Needs PyTorch (a dev tool only).

`--what train-alternate` has `intrain bench train --save-graph` write its training graph, runs it in
this process with the onnxruntime wheel of the same version and the same session settings (2
intra-op threads, sequential, all graph optimisations), and alternates one ONNX Runtime step with
one PyTorch step (`--rounds` pairs, the order flipped every pair), so machine drift hits both
sides of every pair; it reports both medians and the median of the per-pair ratios.
"""
import argparse
import json
import statistics
import subprocess
import sys
import time

FORWARD = [(32, "eval", "eval"), (32, "train", "train_fwd"), (64, "eval", "eval"), (64, "train", "train_fwd")]
TRAIN = [(32, "train", "fwd_bwd"), (64, "train", "fwd_bwd")]


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def alternate(a):
    """Step-level interleaving: drift hits both sides of every pair alike."""
    import tempfile

    import numpy as np
    import onnxruntime as ort
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, "models/scripts")
    from torch_nb201_bench import NB201Conv3x3

    torch.set_num_threads(a.threads)
    ort.set_default_logger_severity(3)
    summary = []
    print("| config (batch {}, {} threads) | intrain graph on ONNX Runtime ms | PyTorch ms | ratio of medians "
          "PyTorch/intrain | median of per-pair ratios | pairs |".format(a.batch, a.threads))
    print("|---|---|---|---|---|---|")
    for res in (32, 64):
        with tempfile.TemporaryDirectory() as tmp:
            path = f"{tmp}/train{res}.onnx"
            info = run_json(["target/release/intrain", "bench", "train", "--json", "--batch", str(a.batch),
                             "--resolution", str(res), "--threads", str(a.threads), "--warmup", "0",
                             "--iters", "1", "--save-graph", path])
            if ort.__version__ not in info["runtime"]:
                sys.exit(f"onnxruntime {ort.__version__} here, but intrain runs {info['runtime']}")
            so = ort.SessionOptions()
            so.intra_op_num_threads = a.threads
            so.inter_op_num_threads = 1
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(0)
        feeds = {}
        for i in sess.get_inputs():
            if "int" in i.type:
                feeds[i.name] = rng.integers(0, 10, i.shape).astype(np.int64)
            else:
                feeds[i.name] = rng.standard_normal(i.shape).astype(np.float32)
        torch.manual_seed(0)
        model = NB201Conv3x3().train()
        x = torch.randn(a.batch, 3, res, res)
        y = torch.randint(0, 10, (a.batch,))

        def torch_step():
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()

        def ort_step():
            sess.run(None, feeds)

        def timed(f):
            t0 = time.perf_counter()
            f()
            return (time.perf_counter() - t0) * 1e3

        for _ in range(2):
            ort_step()
            torch_step()
        ours, theirs = [], []
        for i in range(a.rounds):
            if i % 2 == 0:
                ours.append(timed(ort_step))
                theirs.append(timed(torch_step))
            else:
                theirs.append(timed(torch_step))
                ours.append(timed(ort_step))
        mo, mt = statistics.median(ours), statistics.median(theirs)
        pair = statistics.median(t / o for o, t in zip(ours, theirs))
        summary.append({"resolution": res, "intrain_ms": ours, "torch_ms": theirs, "ratio_of_medians": mt / mo,
                        "median_pair_ratio": pair})
        print(f"| {res}x{res}, BN train | {mo:.0f} [{min(ours):.0f}-{max(ours):.0f}] | {mt:.0f} "
              f"[{min(theirs):.0f}-{max(theirs):.0f}] | {mt / mo:.2f} | {pair:.2f} | {a.rounds} |", flush=True)
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"what": "train-alternate", "threads": a.threads, "batch": a.batch, "rows": summary}, f,
                      indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--out")
    ap.add_argument("--what", choices=["forward", "train", "train-alternate"], default="forward",
                    help="forward passes, or forward+backward (training graph) against torch fwd_bwd; "
                         "train-alternate: intrain's training graph on ONNX Runtime and PyTorch in one "
                         "process, step by step in alternation (--rounds steps each)")
    a = ap.parse_args()
    if a.what == "train-alternate":
        return alternate(a)
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
