"""Interleaved benchmark: intrain's end-to-end score of standard MobileNetV2 (the
`models/spaces/mobilenetv2.yaml` string of torchvision's `mobilenet_v2()`) against PyTorch's
forward + backward of `torchvision.models.mobilenet_v2()` on the same batch, same machine, same
run, both in fresh processes, with each process's wall time and peak resident memory.

Usage (from the project root, after `cargo build --release`):
    python examples/bench_mobilenet_vs_torch.py --rounds 3 --threads 2 --batch 64

PyTorch side (one process per round): build the model, train mode, seeded N(0,1) input and
random labels, one cross-entropy forward + backward (cold), then `--warm` more steps; it reports
the cold step, the median warm step and its whole-process wall time. intrain side: `intrain score
mobilenetv2.yaml --arch STD --threads T --json` (graph build, differentiation, session, one
forward + backward, reductions). Peak memory is each child's `ru_maxrss`. The order alternates
every round. PyTorch is a dev tool here, never a dependency of intrain.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

STANDARD = ("mb1-k3-relu6-nose|w24:mb-k3-e6-relu6-nose,mb-k3-e6-relu6-nose|"
            "w32:mb-k3-e6-relu6-nose,mb-k3-e6-relu6-nose,mb-k3-e6-relu6-nose|"
            "w64:mb-k3-e6-relu6-nose,mb-k3-e6-relu6-nose,mb-k3-e6-relu6-nose,mb-k3-e6-relu6-nose|"
            "w96:mb-k3-e6-relu6-nose,mb-k3-e6-relu6-nose,mb-k3-e6-relu6-nose|"
            "w160:mb-k3-e6-relu6-nose,mb-k3-e6-relu6-nose,mb-k3-e6-relu6-nose|"
            "w320:mb-k3-e6-relu6-nose")

TORCH_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import torch, torchvision
threads, batch, res, warm = (int(a) for a in sys.argv[1:5])
torch.set_num_threads(threads)
torch.manual_seed(0)
m = torchvision.models.mobilenet_v2().train()
x = torch.randn(batch, 3, res, res)
y = torch.randint(0, 1000, (batch,))
steps = []
for i in range(1 + warm):
    s = time.perf_counter()
    loss = torch.nn.functional.cross_entropy(m(x), y)
    loss.backward()
    m.zero_grad(set_to_none=True)
    steps.append(time.perf_counter() - s)
print(json.dumps({"cold_s": steps[0], "warm_s": sorted(steps[1:])[len(steps[1:]) // 2] if warm else None,
                  "process_s": time.perf_counter() - t0}))
"""


def child(cmd):
    """Runs cmd; returns (stdout, wall seconds, peak RSS bytes of that child)."""
    t0 = time.perf_counter()
    # wait4 on the child gives its own ru_maxrss; its output is read first (a full pipe would
    # block it).
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}")
    return out, wall, usage.ru_maxrss * 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--warm", type=int, default=2, help="warm PyTorch steps after the cold one")
    ap.add_argument("--binary", default="target/release/intrain")
    a = ap.parse_args()
    rows = {"intrain": [], "pytorch": []}
    for r in range(a.rounds):
        order = ["intrain", "pytorch"] if r % 2 == 0 else ["pytorch", "intrain"]
        for side in order:
            if side == "intrain":
                out, wall, rss = child([a.binary, "score", "models/spaces/mobilenetv2.yaml",
                                        "--arch", STANDARD, "--batch", str(a.batch),
                                        "--resolution", str(a.resolution), "--threads",
                                        str(a.threads), "--json"])
                d = json.loads(out)
                rows[side].append({"score_s": d["seconds"], "wall_s": wall, "rss": rss,
                                   "estimate": d["memory"]["estimate"]})
            else:
                out, wall, rss = child([sys.executable, "-c", TORCH_CHILD, str(a.threads),
                                        str(a.batch), str(a.resolution), str(a.warm)])
                d = json.loads(out.strip().splitlines()[-1])
                rows[side].append({"cold_s": d["cold_s"], "warm_s": d["warm_s"], "wall_s": wall,
                                   "rss": rss})
        print(f"round {r + 1}: " + ", ".join(
            f"{k} wall {v[-1]['wall_s']:.2f} s, peak {v[-1]['rss'] / 2**30:.2f} GiB"
            for k, v in rows.items()), file=sys.stderr)
    med = lambda side, key: statistics.median(x[key] for x in rows[side])
    gib = lambda b: b / 2**30
    est = rows["intrain"][0]["estimate"]
    est_total = (est["constant_bytes"] + est["input_bytes"] + est["peak_tensor_bytes"]
                 + est["output_bytes"])
    print(f"Standard MobileNetV2, batch {a.batch}, {a.resolution}x{a.resolution}, "
          f"{a.threads} threads, {a.rounds} rounds, medians")
    print("| | intrain | PyTorch | ratio PyTorch / intrain |")
    print("|---|---|---|---|")
    print(f"| end-to-end score s (intrain) / cold forward+backward s (PyTorch) | "
          f"{med('intrain', 'score_s'):.2f} | {med('pytorch', 'cold_s'):.2f} | "
          f"{med('pytorch', 'cold_s') / med('intrain', 'score_s'):.2f} |")
    if a.warm:
        print(f"| PyTorch warm forward+backward s | | {med('pytorch', 'warm_s'):.2f} | "
              f"{med('pytorch', 'warm_s') / med('intrain', 'score_s'):.2f} |")
    print(f"| whole process s | {med('intrain', 'wall_s'):.2f} | {med('pytorch', 'wall_s'):.2f} | "
          f"{med('pytorch', 'wall_s') / med('intrain', 'wall_s'):.2f} |")
    print(f"| process peak memory GiB | {gib(med('intrain', 'rss')):.2f} | "
          f"{gib(med('pytorch', 'rss')):.2f} | {med('pytorch', 'rss') / med('intrain', 'rss'):.2f} |")
    print(f"| intrain's estimate before the run GiB | {gib(est_total):.2f} | | |")
    ratios = [p["cold_s"] / i["score_s"] for i, p in zip(rows["intrain"], rows["pytorch"])]
    print("per-round ratios PyTorch cold / intrain: " + ", ".join(f"{r:.2f}" for r in ratios))


if __name__ == "__main__":
    main()
