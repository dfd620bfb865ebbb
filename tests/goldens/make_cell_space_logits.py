#!/usr/bin/env python3
"""Logits of NAS-Bench-101 and DARTS networks exported by intrain, recomputed in float64 by the
PyTorch ports of the reference code in make_cell_space_counts.py with intrain's weights copied in,
with the relative error of the same PyTorch network in float32 (dev tool;
tests/space_cells.rs lowers the same architectures with the same seed, runs them with ONNX
Runtime and compares with tests/goldens/spaces/cell_logits.json). Parameter counts cannot tell a
node that reads the wrong earlier node of the same shape; equal outputs can.

Each network is exported with training-mode BatchNorm (batch statistics, as scoring runs it;
`intrain export`, batch 2, seed 11) and run by PyTorch in training mode; the weights are copied into the PyTorch model in creation order (the ports register
their modules in the order intrain creates weights; every shape is checked); the input is
x[i] = sin(0.37 i) over the flattened (2, 3, 32, 32) tensor.

Run from the repo root after `cargo build --release`:
    python3 tests/goldens/make_cell_space_logits.py
"""
import importlib.util
import json
import os
import subprocess
import tempfile

import numpy as np
import onnx
import onnx.numpy_helper
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("counts", os.path.join(HERE, "make_cell_space_counts.py"))
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)

SEED = 11
BIN = os.path.join(HERE, "..", "..", "target", "release", "intrain")


def export(space, arch, path):
    subprocess.run([BIN, "export", space, "--arch", arch, "--batch", "2",
                    "--seed", str(SEED), "-o", path], check=True, capture_output=True)
    return onnx.load(path)


def load_weights(model, net):
    """Float initializers of rank > 0 in creation order -> parameters, then buffers."""
    inits = [(i.name, onnx.numpy_helper.to_array(i)) for i in model.graph.initializer]
    inits = [(n, a) for n, a in inits if a.dtype == np.float32 and a.ndim > 0]
    stats = [a for n, a in inits if n.endswith("running_mean") or n.endswith("running_var")]
    params = [a for n, a in inits if not (n.endswith("running_mean") or n.endswith("running_var"))]
    tp = list(net.parameters())
    tb = [b for n, b in net.named_buffers() if n.endswith("running_mean") or n.endswith("running_var")]
    assert len(tp) == len(params), (len(tp), len(params))
    assert len(tb) == len(stats), (len(tb), len(stats))
    with torch.no_grad():
        for t, a in zip(tp + tb, params + stats):
            assert tuple(t.shape) == a.shape, (tuple(t.shape), a.shape)
            t.copy_(torch.from_numpy(a))


def logits(net, model):
    """Float64 logits of `net` with `model`'s weights, and the relative error of the same network
    in float32 (the float32 noise floor an implementation can be held to)."""
    load_weights(model, net)
    net.train()
    x = np.sin(0.37 * np.arange(2 * 3 * 32 * 32, dtype=np.float64)).astype(np.float32)
    x = torch.from_numpy(x.reshape(2, 3, 32, 32).copy())
    with torch.no_grad():
        y32 = net(x).reshape(-1).double()
        y64 = net.double()(x.double()).reshape(-1)
    err = float((y32 - y64).abs().max() / y64.abs().max())
    return [float(v) for v in y64], err


def with_none(text):
    """darts.yaml with `none: zero` among its operations (tests/space_cells.rs does the same)."""
    return (text.replace("ops:\n", "ops:\n  none: zero\n", 1)
            .replace("ops: [max_pool_3x3,", "ops: [none, max_pool_3x3,", 1))


def main():
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.onnx")
        nb_cells = ref.nb101_cells(np.random.RandomState(7))[:9]
        for matrix, ops in nb_cells:
            arch = ref.nb101_string(matrix, ops)
            m, o = ref.prune(matrix, ops)
            y, e = logits(ref.NB101Net(m, o), export("models/spaces/nb101.yaml", arch, path))
            cases.append({"space": "nb101.yaml", "arch": arch, "logits": y, "torch_f32_error": e})
        gs = ref.darts_genotypes(__import__("random").Random(5))[:6]
        for i, g in enumerate(gs):
            arch = ref.genotype_string(g)
            space, (c, layers) = (("darts_c36_l20.yaml", (36, 20)) if i == 1
                                  else ("darts.yaml", (16, 8)))
            y, e = logits(ref.NetworkCIFAR(c, 10, layers, g), export("models/spaces/" + space, arch, path))
            cases.append({"space": space, "arch": arch, "logits": y, "torch_f32_error": e})
        # DARTS's eighth primitive, `none`, on a cell input (stride 2 in the reduction cell).
        yaml = os.path.join(tmp, "darts_none.yaml")
        with open("models/spaces/darts.yaml") as f:
            text = f.read()
        with open(yaml, "w") as f:
            f.write(with_none(text))
        g = {"normal": list(ref.DARTS_V2["normal"]), "reduce": list(ref.DARTS_V2["reduce"])}
        g["normal"][1] = ("none", 1)
        g["reduce"][0] = ("none", 0)
        arch = ref.genotype_string(g)
        y, e = logits(ref.NetworkCIFAR(16, 10, 8, g), export(yaml, arch, path))
        cases.append({"space": "darts.yaml", "with_none": True, "arch": arch, "logits": y,
                      "torch_f32_error": e})
    text = json.dumps({"seed": SEED, "cases": cases}, indent=1) + "\n"
    with open(os.path.join(HERE, "spaces", "cell_logits.json"), "w") as f:
        f.write(text)
    print("%d cases" % len(cases))


if __name__ == "__main__":
    main()
