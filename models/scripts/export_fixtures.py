#!/usr/bin/env python3
"""Export TinyResNet ONNX fixtures (dev tool; Rust tests only read the committed outputs).

Produces in models/onnx/:
  tinyresnet_ts_unfolded.onnx          TorchScript exporter, opset 17, no constant folding, dynamic batch
  tinyresnet_ts_folded.onnx            TorchScript exporter defaults (opset 17, folding on), batch 1
  tinyresnet_dynamo.onnx               dynamo=True default (optimized, BN folded), one self-contained file
  tinyresnet_dynamo_unoptimized.onnx   dynamo=True, optimize=False (BN kept)
  tinyresnet_external.onnx(+.data)     ts_unfolded re-saved with all tensors in external data
  tinyresnet_input.npy                 fixed input: torch.manual_seed(1); torch.randn(1,3,32,32), float32
  tinyresnet_torch_logits.npy          PyTorch logits for that input, float32
  manifest.json                        per-file metadata + onnxruntime logits, Identity-node notes
Every file is checked with onnx.checker (full_check) and run in onnxruntime against torch.

Run from the repo root:  /work/pyenv/bin/python models/scripts/export_fixtures.py
"""
import json
import os
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F

warnings.filterwarnings("ignore")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "onnx")
OUT = os.path.normpath(OUT)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class TinyResNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16),
                                  nn.ReLU())
        self.block1 = BasicBlock(16, 16, 1)
        self.block2 = BasicBlock(16, 32, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x):
        x = self.block2(self.block1(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def identity_report(path):
    """Identity nodes of a model: what they read and which nodes/inputs consume them."""
    m = onnx.load(path, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    rows = []
    for n in m.graph.node:
        if n.op_type != "Identity":
            continue
        consumers = [f"{c.op_type}:{c.name}[input {list(c.input).index(n.output[0])}]"
                     for c in m.graph.node if n.output[0] in c.input]
        rows.append({"input": n.input[0], "input_is_initializer": n.input[0] in inits,
                     "output": n.output[0], "consumers": consumers})
    return rows


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = TinyResNet().eval()
    torch.manual_seed(1)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        ref = model(x).numpy().astype(np.float32)
    os.makedirs(OUT, exist_ok=True)
    np.save(os.path.join(OUT, "tinyresnet_input.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(OUT, "tinyresnet_torch_logits.npy"), ref)
    nparams = sum(p.numel() for p in model.parameters())
    p = lambda name: os.path.join(OUT, name)
    io = dict(input_names=["input"], output_names=["logits"])

    files = {}  # name -> (exporter description, dynamic batch?)
    torch.onnx.export(model, (x,), p("tinyresnet_ts_unfolded.onnx"), dynamo=False,
                      opset_version=17, do_constant_folding=False,
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, **io)
    files["tinyresnet_ts_unfolded.onnx"] = ("torchscript (dynamo=False), do_constant_folding=False", True)
    torch.onnx.export(model, (x,), p("tinyresnet_ts_folded.onnx"), dynamo=False,
                      opset_version=17, **io)
    files["tinyresnet_ts_folded.onnx"] = ("torchscript (dynamo=False), constant folding on", False)
    prog = torch.onnx.export(model, (x,), dynamo=True, verbose=False, **io)  # optimize=True default
    prog.save(p("tinyresnet_dynamo.onnx"), external_data=False)
    files["tinyresnet_dynamo.onnx"] = ("dynamo=True, optimize=True (default)", False)
    prog = torch.onnx.export(model, (x,), dynamo=True, optimize=False, verbose=False, **io)
    prog.save(p("tinyresnet_dynamo_unoptimized.onnx"), external_data=False)
    files["tinyresnet_dynamo_unoptimized.onnx"] = ("dynamo=True, optimize=False", False)
    ext_data = "tinyresnet_external.onnx.data"
    if os.path.exists(p(ext_data)):
        os.remove(p(ext_data))  # onnx.save appends to an existing data file
    onnx.save(onnx.load(p("tinyresnet_ts_unfolded.onnx")), p("tinyresnet_external.onnx"),
              save_as_external_data=True, all_tensors_to_one_file=True, location=ext_data,
              size_threshold=0)
    os.chmod(p(ext_data), 0o644)  # onnx.save creates it 0600
    files["tinyresnet_external.onnx"] = (
        "torchscript ts_unfolded re-saved by onnx.save with external data "
        f"(all tensors in {ext_data}, size_threshold=0)", True)

    manifest = {"model": "TinyResNet (models/scripts/export_fixtures.py), torch.manual_seed(0), eval",
                "torch_version": torch.__version__, "onnx_version": onnx.__version__,
                "onnxruntime_version": ort.__version__,
                "input_file": "tinyresnet_input.npy (torch.manual_seed(1); torch.randn(1,3,32,32))",
                "torch_logits_file": "tinyresnet_torch_logits.npy",
                "files": {}}
    for name, (desc, dyn) in files.items():
        onnx.checker.check_model(p(name), full_check=True)
        m = onnx.load(p(name))  # loads external data too
        opset = next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
        sess = ort.InferenceSession(p(name), providers=["CPUExecutionProvider"])
        got = sess.run(None, {"input": x.numpy()})[0]
        err = float(np.abs(got - ref).max())
        inp = m.graph.input[0]
        shape = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
        entry = {"exporter": desc, "opset": opset,
                 "input": {"name": inp.name, "shape": shape},
                 "output": {"name": m.graph.output[0].name},
                 "dynamic_batch": dyn,
                 "torch_param_count": nparams,
                 "onnx_initializer_count": len(m.graph.initializer),
                 "node_count": len(m.graph.node),
                 "op_types": sorted({n.op_type for n in m.graph.node}),
                 "max_abs_err_ort_vs_torch": err,
                 "expected_logits_seed0": got[0].astype(np.float32).tolist()}
        if name == "tinyresnet_external.onnx":
            entry["external_data_file"] = ext_data
        ids = identity_report(p(name))
        entry["identity_node_count"] = len(ids)
        if name == "tinyresnet_ts_unfolded.onnx":
            entry["identity_nodes"] = ids
            srcs = sorted({r["input"] for r in ids})
            entry["identity_note"] = (
                f"{len(ids)} Identity nodes, all reading one of the initializers {srcs} and each "
                "feeding exactly one BatchNormalization (scale/B/mean/var inputs). The TorchScript "
                "exporter deduplicates equal-valued initializers: the fresh model's BN tensors "
                "are all ones (weight, running_var) or zeros (bias, running_mean) per width 16/32, "
                "so one copy is kept and the duplicates become Identity nodes. A loader must "
                "resolve Identity-of-initializer as a constant alias.")
        elif ids:
            entry["identity_nodes"] = ids
        manifest["files"][name] = entry
        print(f"{name:40s} opset {opset}  inits {len(m.graph.initializer):3d}  "
              f"nodes {len(m.graph.node):3d}  identity {len(ids):2d}  "
              f"max|ORT-torch| {err:.3e}  {os.path.getsize(p(name))} B")
    with open(p("manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print("torch param count:", nparams)


if __name__ == "__main__":
    main()
