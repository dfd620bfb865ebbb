#!/usr/bin/env python3
"""PyTorch float64 goldens for `intrain score` (dev tool; Rust tests only read the outputs).

Fixture: models/onnx/tinyresnet_ts_unfolded.onnx (TorchScript exporter, no constant folding,
dynamic batch; see models/scripts/export_fixtures.py). The TinyResNet module of that script is
rebuilt here and its parameters are loaded from the ONNX initializers (an initializer, or an
`Identity` of one: the exporter shares equal-valued BN tensors that way); the script checks that
they are exactly the weights of `torch.manual_seed(0); TinyResNet()`.

Protocol (the InTrain score as the paper defines it, with `--init as-is`):
  input   x.npy       float32 (8, 3, 32, 32), torch.manual_seed(2); torch.randn
  labels  labels.npy  int64 (8,), torch.manual_seed(3); torch.randint(0, 10)
  model.double(), BatchNorm in training mode (batch statistics), loss = mean cross-entropy.
  Layers: the Rust default rule on this graph (post-ReLU tensors: the stem ReLU, and per residual
  block the inner ReLU and the ReLU after the residual Add), recorded by a forward that is
  TinyResNet's own forward with the ReLU outputs kept. For each, A (N,C,H,W) -> M x C with
  M = N*H*W, Cov = (A - mean)^T (A - mean) / M, PR = tr(Cov)^2 / tr(Cov^2) (and the
  eigenvalue form exp(H2) as a cross-check), dead when A is identically 0 (log PR = 0).
  Tensors: every parameter (numel >= 2 and a gradient): std (unbiased), max |g|,
  h = min(1, std / (max|g| + 1e-12)).
  gamma = sum log PR, o = sum h, L = #layers, I = gamma (1 + o) / log(L + 1).

The golden applies to two models: the committed fixture itself, and
tests/goldens/score/tinyresnet_unshared.onnx, the same file with each `Identity` of an initializer
replaced by its own copy of that initializer (same names, same values, same nodes otherwise). In
the fixture, the exporter's deduplication makes BN running_mean/running_var aliases of the same
initializer as BN bias/weight (all zeros / all ones in a fresh model); the second file tells a
scoring error caused by that aliasing from any other.

Writes tests/goldens/score/{x.npy, labels.npy, tinyresnet.json, tinyresnet_unshared.onnx}.
Run from the repo root:  /work/pyenv/bin/python tests/goldens/make_score_goldens.py
"""
import importlib.util
import json
import math
import os

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(HERE, "score")
FIXTURE = "models/onnx/tinyresnet_ts_unfolded.onnx"
BATCH, CLASSES, EPS = 8, 10, 1e-12


def load_export_script():
    path = os.path.join(ROOT, "models", "scripts", "export_fixtures.py")
    spec = importlib.util.spec_from_file_location("export_fixtures", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def onnx_tensors(path):
    """name -> numpy array for initializers and Identity-of-initializer outputs."""
    m = onnx.load(path)
    vals = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type == "Identity" and n.input[0] in vals:
            vals[n.output[0]] = vals[n.input[0]]
    return vals


def forward_recording(model, x):
    """TinyResNet.forward, keeping the post-ReLU tensors the Rust default rule picks."""
    acts = []

    def block(b, x):
        y = F.relu(b.bn1(b.conv1(x)))
        acts.append((b, "inner", y))
        y = b.bn2(b.conv2(y))
        y = F.relu(y + b.shortcut(x))
        acts.append((b, "out", y))
        return y

    x = model.stem(x)
    acts.append((model.stem, "stem", x))
    x = block(model.block2, block(model.block1, x))
    logits = model.fc(torch.flatten(model.pool(x), 1))
    return logits, [a for _, _, a in acts]


def unshare(src, dst):
    """Copy of `src` where every Identity of an initializer becomes an initializer of its own."""
    m = onnx.load(src)
    inits = {i.name: i for i in m.graph.initializer}
    keep = []
    for n in m.graph.node:
        if n.op_type == "Identity" and n.input[0] in inits:
            a = numpy_helper.to_array(inits[n.input[0]]).copy()
            m.graph.initializer.append(numpy_helper.from_array(a, n.output[0]))
        else:
            keep.append(n)
    del m.graph.node[:]
    m.graph.node.extend(keep)
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, dst)
    return len(m.graph.node)


def check_layer_names(model, x, names):
    """The ONNX tensors `names` are the recorded activations: onnxruntime (the fixture is an eval
    export) against the same forward in eval mode, float64."""
    import onnxruntime as ort
    m = onnx.load(os.path.join(ROOT, FIXTURE))
    relus = [n.output[0] for n in m.graph.node if n.op_type == "Relu"]
    assert relus == names, f"ReLU outputs of the fixture: {relus}"
    for n in names:
        m.graph.output.append(onnx.helper.make_empty_tensor_value_info(n))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(names, {"input": x.numpy()})
    was = model.training
    with torch.no_grad():
        _, acts = forward_recording(model.eval(), x.double())
    model.train(was)
    for n, a, b in zip(names, got, acts):
        err = float(np.abs(a - b.numpy()).max() / np.abs(b.numpy()).max())
        assert err < 1e-5, f"{n}: onnxruntime vs torch relative error {err:e}"


def main():
    torch.set_num_threads(1)
    ef = load_export_script()
    torch.manual_seed(0)
    reference = ef.TinyResNet()
    model = ef.TinyResNet()
    vals = onnx_tensors(os.path.join(ROOT, FIXTURE))
    sd = model.state_dict()
    param_names = dict(model.named_parameters())
    mapping = {}
    for name in sd:
        if name.endswith("num_batches_tracked"):
            continue
        assert name in vals, f"{name} is not an ONNX initializer or Identity output"
        if name in param_names:
            mapping[name] = name  # the ONNX name the Rust side reports
        sd[name] = torch.from_numpy(vals[name].copy())
    model.load_state_dict(sd)
    for (n, a), (_, b) in zip(model.named_parameters(), reference.named_parameters()):
        assert torch.equal(a, b), f"{n}: ONNX weights differ from torch.manual_seed(0)"

    torch.manual_seed(2)
    x = torch.randn(BATCH, 3, 32, 32)
    torch.manual_seed(3)
    labels = torch.randint(0, CLASSES, (BATCH,), dtype=torch.int64)
    os.makedirs(OUT, exist_ok=True)
    np.save(os.path.join(OUT, "x.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(OUT, "labels.npy"), labels.numpy().astype(np.int64))

    layer_names = ["/stem/stem.2/Relu_output_0", "/block1/Relu_output_0",
                   "/block1/Relu_1_output_0", "/block2/Relu_output_0",
                   "/block2/Relu_1_output_0"]
    model = model.double()
    check_layer_names(model, x, layer_names)  # before the train-mode pass moves running stats
    unshared = os.path.join(OUT, "tinyresnet_unshared.onnx")
    unshare(os.path.join(ROOT, FIXTURE), unshared)
    import onnxruntime as ort
    outs = [ort.InferenceSession(p, providers=["CPUExecutionProvider"])
            .run(None, {"input": x.numpy()})[0] for p in (os.path.join(ROOT, FIXTURE), unshared)]
    assert np.array_equal(outs[0], outs[1]), "unshared copy computes the same (eval) logits"
    model.train()
    logits, acts = forward_recording(model, x.double())
    loss = F.cross_entropy(logits, labels)
    loss.backward()

    layers = []
    for name, a in zip(layer_names, acts):
        a = a.detach()
        c = a.shape[1]
        flat = a.permute(0, 2, 3, 1).reshape(-1, c)
        dead = bool((flat == 0).all())
        cov = (flat - flat.mean(0)).T @ (flat - flat.mean(0)) / flat.shape[0]
        tr, fro2 = float(cov.trace()), float((cov * cov).sum())
        pr = 0.0 if dead else tr * tr / fro2
        ev = torch.linalg.eigvalsh(cov).clamp(min=0)
        pr_eig = float(1.0 / ((ev / ev.sum()) ** 2).sum())
        assert dead or abs(pr - pr_eig) < 1e-9 * pr
        layers.append({"name": name, "shape": list(a.shape), "channels": c, "pr": pr,
                       "pr_over_c": pr / c, "dead": dead, "log_pr": 0.0 if dead else math.log(pr)})

    tensors = []
    for tname, p in model.named_parameters():
        g = p.grad.detach().reshape(-1)
        std = float(g.std()) if g.numel() > 1 else 0.0
        mx = float(g.abs().max())
        h = min(1.0, std / (mx + EPS)) if g.numel() >= 2 else None
        tensors.append({"onnx_name": mapping[tname], "torch_name": tname, "shape": list(p.shape),
                        "numel": g.numel(), "mean": float(g.mean()), "std": std, "max_abs": mx,
                        "h": h})

    gamma = sum(l["log_pr"] for l in layers)
    hs = [t["h"] for t in tensors if t["h"] is not None]
    o = sum(hs)
    n_layers = len(layers)
    intrain = gamma * (1 + o) / math.log(n_layers + 1)
    golden = {
        "fixture": FIXTURE,
        "models": [FIXTURE, "tests/goldens/score/tinyresnet_unshared.onnx"],
        "generator": "tests/goldens/make_score_goldens.py",
        "torch_version": torch.__version__,
        "protocol": "init as-is (weights = ONNX initializers = torch.manual_seed(0) TinyResNet), "
                    "float64, BatchNorm train mode, mean cross-entropy on labels.npy, "
                    "Cov = centred channel covariance / M, PR = tr^2 / tr(C^2), "
                    "std unbiased, h = min(1, std / (max|g| + 1e-12)), "
                    "I = gamma (1 + o) / log(L + 1)",
        "input": {"file": "x.npy", "shape": list(x.shape), "seed": 2},
        "labels": {"file": "labels.npy", "values": labels.tolist(), "seed": 3},
        "loss": float(loss),
        "score": {"intrain": intrain, "gamma": gamma, "o": o, "layers": n_layers,
                  "tensors": len(hs), "dead_layers": sum(l["dead"] for l in layers)},
        "layers": layers,
        "tensors": tensors,
    }
    with open(os.path.join(OUT, "tinyresnet.json"), "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    print(json.dumps(golden["score"]), "loss", float(loss))
    for l in layers:
        print(f"  {l['name']:32s} PR {l['pr']:.6f}")
    for t in tensors:
        print(f"  {t['onnx_name']:28s} std {t['std']:.6e} max {t['max_abs']:.6e} h {t['h']:.6f}")


if __name__ == "__main__":
    main()
