#!/usr/bin/env python3
"""Runs the CI gate (`intrain check`, default policy, the models as shipped) over the conformance
corpus (healthy torchvision exports, `models/scripts/export_conformance_corpus.py` writes them)
and the failure corpus (`models/scripts/failure_corpus.py`), keeps every verdict, and prints the
README's tables with the margin of each check.

Dev tool; needs a release build (`cargo build --release`). Writes into an ignored folder:
    target/gate/<corpus>/<model>.json     the `check --format json` verdict
    target/gate/<corpus>/<model>.score.json  the `score --init as-is --json` report (margins)

Protocol: batch 64 (the paper's), seeded N(0,1) inputs at each model's exported resolution, two
ONNX Runtime threads; a model whose pass does not fit in memory at batch 64 is rerun at 16 (the
table says so). Existing outputs are kept (delete target/gate to rerun).

    python3 models/scripts/gate_table.py [--bin target/release/intrain] [--markdown]
"""
import argparse
import glob
import json
import math
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(bin_, model, out, batches=(64, 16)):
    """Check and score `model` into `out`.json / `out`.score.json; returns the batch used."""
    for batch in batches:
        if os.path.exists(out + ".json") and os.path.exists(out + ".score.json"):
            return json.load(open(out + ".json")).get("batch", batch)
        common = ["--batch", str(batch), "--threads", "2"]
        check = subprocess.run(
            [bin_, "check", model, "--format", "json", *common], capture_output=True, text=True
        )
        if check.returncode not in (0, 1):
            print(f"{model} at batch {batch}: {check.stderr.strip()[-200:]}", file=sys.stderr)
            continue
        score = subprocess.run(
            [bin_, "score", model, "--init", "as-is", "--json", *common],
            capture_output=True,
            text=True,
        )
        if score.returncode != 0:
            continue
        verdict = json.loads(check.stdout)
        verdict["batch"] = batch
        json.dump(verdict, open(out + ".json", "w"), indent=1)
        open(out + ".score.json", "w").write(score.stdout)
        return batch
    return None


def margins(report):
    """The measured value behind each check of the default policy."""
    live = [l for l in report["layers"] if not l["dead"] and not l["non_finite"]]
    main = [l for l in live if not l["gate"]]
    # As the policy does: a zero-initialised multiplier that gets a gradient holds back, for one
    # step, the tensors whose gradient is exactly zero; they are left out.
    releasing = any(
        t.get("zero_multiplier") and t["grad"] and t["grad"]["max_abs"] > 0 for t in report["tensors"]
    )
    tensors = [
        t for t in report["tensors"]
        if not (releasing and t["grad"] and t["grad"]["max_abs"] == 0)
    ]
    weights = [t for t in tensors if len(t["shape"]) >= 2 and t.get("relative_grad") is not None]
    ratio = float("nan")
    if len(weights) >= 2:
        a, b = weights[0]["relative_grad"], weights[-1]["relative_grad"]
        ratio = 0.0 if a == 0 else (a / b if b > 0 else math.inf)
    inp = report["input_rms"]
    # Reports written before `chance_loss` existed are torchvision's 1000-class classifiers.
    chance = report.get("chance_loss", math.log(1000))
    return {
        "min_pr": min((l["pr"] for l in main), default=float("nan")),
        # An all-zero gradient is counted by the policy, not judged by min_health.
        "min_health": min(
            (t["h"] for t in tensors if t["h"] is not None and t["grad"]["max_abs"] > 0),
            default=float("nan"),
        ),
        "max_activation_growth": max((math.sqrt(l["mean_square"]) / inp for l in live), default=float("nan")),
        "min_gradient_ratio": ratio,
        "max_loss_over_chance": report["loss"] / chance if chance else float("nan"),
        "min_pr_over_c": min((l["pr_over_max"] for l in main), default=float("nan")),
        "dead": sum(l["dead"] for l in report["layers"]),
        "intrain": report["score"]["intrain"],
    }


def fmt(v):
    if isinstance(v, int):
        return str(v)
    if v != v:
        return "–"
    if v in (math.inf, -math.inf):
        return "∞"
    return f"{v:.3g}" if 1e-3 <= abs(v) < 1e4 or v == 0 else f"{v:.1e}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/intrain"))
    ap.add_argument("--markdown", action="store_true", help="print the README tables")
    a = ap.parse_args()
    corpora = {
        "conformance": sorted(glob.glob(os.path.join(ROOT, "target/conformance/*/ts.onnx"))),
        "fixtures": [
            os.path.join(ROOT, "models/onnx", f"{m}.onnx")
            for m in ("vit_tiny", "convnext_block", "gated_acts", "tinyresnet_ts_unfolded")
        ],
        "failure": sorted(glob.glob(os.path.join(ROOT, "target/failure-corpus/*.onnx"))),
    }
    curves_file = os.path.join(ROOT, "target/failure-corpus/curves.json")
    curves = json.load(open(curves_file))["models"] if os.path.exists(curves_file) else {}
    rows = {}
    for corpus, models in corpora.items():
        os.makedirs(os.path.join(ROOT, "target/gate", corpus), exist_ok=True)
        for model in models:
            name = os.path.basename(os.path.dirname(model)) if corpus == "conformance" else os.path.basename(model)[:-5]
            out = os.path.join(ROOT, "target/gate", corpus, name)
            batch = run(a.bin, model, out)
            if batch is None:
                rows[(corpus, name)] = None
                continue
            verdict = json.load(open(out + ".json"))
            report = json.load(open(out + ".score.json"))
            rows[(corpus, name)] = (batch, verdict, margins(report))
            print(f"{corpus}/{name}: {'pass' if verdict['passed'] else 'FAIL'}", file=sys.stderr)
    if not a.markdown:
        return
    keys = ["min_pr", "min_health", "max_loss_over_chance", "min_gradient_ratio", "max_activation_growth"]
    for title, wanted in (("healthy", ("conformance", "fixtures")), ("failure", ("failure",))):
        print(f"\n<!-- {title} -->")
        print("| model | batch | verdict | " + " | ".join(keys) + " | dead | failing checks |")
        print("|---|---|---|" + "---|" * len(keys) + "---|---|")
        for (corpus, name), row in rows.items():
            if corpus not in wanted:
                continue
            if row is None:
                print(f"| {name} | – | not run (error) |" + " |" * len(keys) + " | |")
                continue
            batch, verdict, m = row
            failing = [ch for ch in verdict["checks"] if not ch["passed"]]
            label = name
            if corpus == "failure" and name in curves:
                cv = curves[name]
                loss = "overflow" if cv["final_loss"] is None else f"{cv['best_loss']:.2f}"
                label = f"{name} (trains: {'yes' if cv['trains'] else 'no'}, best loss {loss})"
            cells = " | ".join(fmt(m[k]) for k in keys)
            why = "; ".join(f"`{ch['check']}`: {ch['message']}" for ch in failing) or "–"
            verdict_text = "pass" if verdict["passed"] else "**FAIL**"
            print(f"| {label} | {batch} | {verdict_text} | {cells} | {m['dead']} | {why} |")
        healthy = [r for (c, _), r in rows.items() if c in wanted and r is not None]
        for k in keys:
            values = [r[2][k] for r in healthy if r[2][k] == r[2][k]]
            if values:
                print(f"<!-- {title} {k}: min {fmt(min(values))}, max {fmt(max(values))} -->")


if __name__ == "__main__":
    main()
