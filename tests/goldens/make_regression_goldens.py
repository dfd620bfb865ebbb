#!/usr/bin/env python3
"""PyTorch autograd goldens for two regressions found on exported torchvision models (dev tool;
the Rust test `tests/grad_goldens.rs` only reads the outputs). Same layout as
make_grad_goldens.py: tests/goldens/grad/<net>/{model.onnx, x.npy, labels.npy, logits.npy,
loss.npy, grad__<p>.npy, meta.json}.

Unlike make_grad_goldens.py the models are exported the way users export them: eval mode,
TorchScript exporter, opset 17, do_constant_folding=False, so BatchNormalization nodes carry
training_mode=0 and fresh running statistics (0 and 1) that the exporter shares with BN weights
and biases through Identity nodes. The goldens are float64 autograd with BN in training mode
(batch statistics), as `intrain grad --bn train` computes them.

  bn_stack_eval_export   MNASNet-like stack (BN momentum 0.0003, exported as ONNX momentum
                         0.9997): conv-BN-ReLU, depthwise conv-BN-ReLU, 1x1 conv-BN (no
                         activation), 1x1 conv-BN-ReLU, GAP, Linear. Training graphs built on
                         ONNX Runtime's training-mode BatchNormalization kernel gave a wrong loss.
  inception_tiny_maps    GoogLeNet's last Inception block at a 2x2 map, fed activations of order
                         1e-7 (as GoogLeNet's are at init in eval mode): 1x1 branches and a
                         MaxPool(3, stride 1, pad 1, ceil_mode) + 1x1 branch. A MaxPool backward
                         that shifted its input by (1 - min) rounded the window values into ties
                         and passed the gradient to every tied position.

Run from the repo root:  python3 tests/goldens/make_regression_goldens.py
"""
import copy
import json
import os
import shutil
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

warnings.filterwarnings("ignore")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grad")


class BnStack(nn.Module):
    def __init__(self, classes=5):
        super().__init__()
        m = 0.0003
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8, momentum=m), nn.ReLU(),
            nn.Conv2d(8, 8, 3, 1, 1, groups=8, bias=False), nn.BatchNorm2d(8, momentum=m),
            nn.ReLU(),
            nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16, momentum=m),
            nn.Conv2d(16, 16, 1, bias=False), nn.BatchNorm2d(16, momentum=m), nn.ReLU())
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.body(x), 1), 1))


class Basic(nn.Module):
    def __init__(self, cin, cout, k=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class InceptionTiny(nn.Module):
    """Stem conv (scaled to 1e-7 outputs, no BN), then an Inception block at 2x2."""

    def __init__(self, classes=5):
        super().__init__()
        self.stem = nn.Conv2d(3, 12, 3, 2, 1, bias=False)
        self.branch1 = Basic(12, 6)
        self.branch2 = nn.Sequential(Basic(12, 4), Basic(4, 6, 3))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                     Basic(12, 6))
        self.fc = nn.Linear(18, classes)
        with torch.no_grad():
            self.stem.weight.mul_(1e-7)

    def forward(self, x):
        x = self.stem(x)
        x = torch.cat([self.branch1(x), self.branch2(x), self.branch4(x)], 1)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


# name: (seed, constructor, input shape, classes, description)
NETS = {
    "bn_stack_eval_export": (10, BnStack, (4, 3, 16, 16), 5,
                             "MNASNet-like BN stack, exported in eval mode, BN momentum 0.0003"),
    "inception_tiny_maps": (11, InceptionTiny, (4, 3, 4, 4), 5,
                            "Inception block at 2x2 on 1e-7 activations with a "
                            "MaxPool(3,1,1,ceil_mode) branch, exported in eval mode"),
}


def train_bn(model):
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.train()
    return model


def make(name):
    seed, ctor, shape, classes, desc = NETS[name]
    torch.manual_seed(seed)
    model = ctor().eval()
    x = torch.randn(*shape)
    labels = torch.randint(0, classes, (shape[0],), dtype=torch.int64)
    d = os.path.join(OUT, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    path = os.path.join(d, "model.onnx")
    torch.onnx.export(copy.deepcopy(model), (x,), path, dynamo=False, opset_version=17,
                      do_constant_folding=False, input_names=["x"], output_names=["logits"])
    onnx.checker.check_model(path, full_check=True)
    m = onnx.load(path)
    inits = {i.name for i in m.graph.initializer}
    identities = {n.output[0] for n in m.graph.node
                  if n.op_type == "Identity" and n.input[0] in inits}
    bn_modes = {dict((a.name, onnx.helper.get_attribute_value(a)) for a in n.attribute)
                .get("training_mode", 0) for n in m.graph.node if n.op_type == "BatchNormalization"}
    assert bn_modes == {0}, bn_modes

    ref = train_bn(copy.deepcopy(model).double())
    logits = ref(x.double())
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    # PyTorch float32's own error per tensor (relative to its largest element), the largest
    # over three runs: the input as given and twice moved by at most one float32 rounding per
    # element. Some gradients here are small sums of large cancelling terms; float32 cannot get
    # them to 1e-4, in PyTorch or anywhere else.
    f32 = {}
    for k in range(3):
        gen = torch.Generator().manual_seed(k)
        u = torch.randint(-1, 2, x.shape, generator=gen).double()
        xk = x if k == 0 else (x.double() * (1 + u * 2.0 ** -24)).float()
        r32 = train_bn(copy.deepcopy(model))
        F.cross_entropy(r32(xk), labels).backward()
        for p, t in r32.named_parameters():
            g64 = dict(ref.named_parameters())[p].grad
            scale = float(g64.abs().max())
            err = float((t.grad.double() - g64).abs().max()) / scale if scale > 0 else 0.0
            f32[p] = max(f32.get(p, 0.0), err)
    params = {}
    for p, t in ref.named_parameters():
        assert p in inits or p in identities, f"{p} has no ONNX counterpart"
        np.save(os.path.join(d, f"grad__{p}.npy"), t.grad.detach().numpy().astype(np.float64))
        params[p] = {"shape": list(t.shape), "onnx_name": p, "grad_file": f"grad__{p}.npy",
                     "torch_f32_rel_err": f32[p]}
    np.save(os.path.join(d, "x.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(d, "labels.npy"), labels.numpy().astype(np.int64))
    np.save(os.path.join(d, "logits.npy"), logits.detach().numpy().astype(np.float64))
    np.save(os.path.join(d, "loss.npy"), np.array(loss.item(), dtype=np.float64))
    meta = {
        "network": name,
        "description": desc,
        "torch_seed": seed,
        "torch_version": torch.__version__,
        "onnx_version": onnx.__version__,
        "exporter": "torch.onnx.export(eval mode, dynamo=False, opset_version=17, "
                    "do_constant_folding=False)",
        "gradients": "float64 autograd, BatchNorm in training mode (batch statistics)",
        "identity_nodes": len(identities),
        "node_count": len(m.graph.node),
        "loss": {"file": "loss.npy", "value": loss.item()},
        "parameters": params,
    }
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"{name}: {len(m.graph.node)} nodes, {len(params)} parameters, "
          f"{len(identities)} Identity-shared, loss {loss.item():.6f}")


if __name__ == "__main__":
    for n in NETS:
        make(n)
