#!/usr/bin/env python3
"""Export real torchvision models to ONNX for `intrain score` (dev tool; ONNX files are not
committed).

Models: resnet18, mobilenet_v3_small, efficientnet_b0, random init (weights=None,
torch.manual_seed(0) before each), eval mode, TorchScript exporter (dynamo=False), opset 17,
input `input` (batch, 3, 224, 224) with a dynamic batch axis, output `logits`.
do_constant_folding=False by default so BatchNormalization stays in the graph (InTrain scores
with batch statistics; folding would merge eval-mode BN into the convolutions): pass --fold for
the exporter's default. Each file is checked with onnx.checker and run in onnxruntime against
torch (batch 2).

--unshare also writes <model>_unshared.onnx: the TorchScript exporter deduplicates
equal-valued initializers (a fresh BN's weight and running_var are all ones, its bias and
running_mean all zeros) and re-links the copies through Identity nodes; the unshared file gives
every such Identity output its own initializer (same names and values, nothing else changed).

Usage:  /work/pyenv/bin/python models/scripts/export_torchvision.py [OUT_DIR] [--models a,b]
        [--fold] [--unshare]          (OUT_DIR defaults to /tmp/realmodels)
Then e.g.  target/release/intrain score /tmp/realmodels/resnet18.onnx --batch 8 --json
"""
import argparse
import os
import time
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torchvision
from onnx import numpy_helper

warnings.filterwarnings("ignore")
MODELS = ("resnet18", "mobilenet_v3_small", "efficientnet_b0")


def unshare(src, dst):
    m = onnx.load(src)
    inits = {i.name: i for i in m.graph.initializer}
    keep, n = [], 0
    for node in m.graph.node:
        if node.op_type == "Identity" and node.input[0] in inits:
            a = numpy_helper.to_array(inits[node.input[0]]).copy()
            m.graph.initializer.append(numpy_helper.from_array(a, node.output[0]))
            n += 1
        else:
            keep.append(node)
    del m.graph.node[:]
    m.graph.node.extend(keep)
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, dst)
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="/tmp/realmodels")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--fold", action="store_true", help="constant folding on (folds eval BN)")
    ap.add_argument("--unshare", action="store_true", help="also write <model>_unshared.onnx")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(2)
    for name in a.models.split(","):
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)(weights=None).eval()
        x = torch.randn(2, 3, 224, 224)
        path = os.path.join(a.out, f"{name}.onnx")
        t0 = time.perf_counter()
        torch.onnx.export(model, (x,), path, dynamo=False, opset_version=17,
                          do_constant_folding=a.fold, input_names=["input"],
                          output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        dt = time.perf_counter() - t0
        onnx.checker.check_model(path, full_check=True)
        m = onnx.load(path)
        with torch.no_grad():
            ref = model(x).numpy()
        got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(
            None, {"input": x.numpy()})[0]
        err = float(np.abs(got - ref).max() / np.abs(ref).max())
        ops = sorted({n.op_type for n in m.graph.node})
        ids = sum(n.op_type == "Identity" for n in m.graph.node)
        params = sum(p.numel() for p in model.parameters())
        print(f"{name}: {path} ({os.path.getsize(path) / 1e6:.1f} MB, {len(m.graph.node)} nodes, "
              f"{ids} Identity, {params} params, export {dt:.1f} s, "
              f"ORT vs torch rel err {err:.1e})\n  ops: {', '.join(ops)}")
        if a.unshare:
            dst = os.path.join(a.out, f"{name}_unshared.onnx")
            print(f"  {dst}: {unshare(path, dst)} Identity-of-initializer made initializers")


if __name__ == "__main__":
    main()
