#!/usr/bin/env python3
"""Parameter and multiply-add counts of architectures of models/spaces/fbnet_cifar.yaml, built
in PyTorch from their architecture strings (dev tool; tests/space_macro.rs compares intrain's
counts with tests/goldens/spaces/fbnet_cifar_counts.json).

The PyTorch model follows the space's definition independently of intrain: stem conv3x3-BN-ReLU
to 16 channels; per block, `ir-kK-eE` is an inverted residual (1x1 expansion conv-BN-ReLU unless
E is 1, KxK depthwise conv-BN-ReLU with the stride, 1x1 projection conv-BN, residual when the
stride is 1 and the width stays), `conv-kK-relu|none` a KxK conv-BN with or without ReLU, and
`skip` the identity or, where the block changes stride or width, a 1x1 conv (with the stride) +
BN; head 1x1 conv-BN-ReLU to 256, global average pool, linear to 10. Multiply-adds are counted
for convolutions and the linear layer, per sample at 32x32.

Run from the repo root:  python3 tests/goldens/make_skip_space_counts.py
"""
import json
import os

import torch
import torch.nn as nn

ARCHS = [
    "skip|w24:skip,conv-k1-relu|w64:conv-k1-none,skip|w128:skip",
    "skip|w24:conv-k1-relu|w64:skip|w128:conv-k3-relu",
    "ir_k3_e1|w32:ir-k5-e3,conv-k1-relu,skip|w64:skip,skip,ir-k3-e3|w96:conv-k3-relu",
    "ir_k3_e1|w24:ir-k3-e3|w48:ir-k3-e3,skip,conv-k3-relu|w96:skip",
    "ir_k3_e1|w32:ir-k5-e6,ir-k5-e6,ir-k5-e6|w64:ir-k5-e6,ir-k5-e6,ir-k5-e6|w128:ir-k5-e6,ir-k5-e6",
    "skip|w32:conv-k3-none,conv-k3-none,skip|w48:skip,conv-k1-none|w96:skip,skip",
]
STRIDES = [1, 2, 2, 2]
FIRST_WIDTH = 16


def conv_bn(cin, cout, k, stride, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Residual(nn.Module):
    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)


def block(token, cin, cout, stride):
    parts = token.split("-")
    op = parts[0]
    if op == "skip":
        if stride == 1 and cin == cout:
            return nn.Identity()
        return conv_bn(cin, cout, 1, stride, act=False)
    if op == "conv":
        k = int(parts[1][1:])
        return conv_bn(cin, cout, k, stride, act=parts[2] == "relu")
    if op in ("ir", "ir_k3_e1"):
        k, e = (3, 1.0) if op == "ir_k3_e1" else (int(parts[1][1:]), float(parts[2][1:]))
        hidden = round(cin * e)
        layers = []
        if e != 1:
            layers.append(conv_bn(cin, hidden, 1, 1))
        layers += [conv_bn(hidden, hidden, k, stride, groups=hidden),
                   conv_bn(hidden, cout, 1, 1, act=False)]
        body = nn.Sequential(*layers)
        return Residual(body) if stride == 1 and cin == cout else body
    raise ValueError(token)


def build(arch):
    layers = [conv_bn(3, 16, 3, 1)]
    c = 16
    for i, stage in enumerate(arch.split("|")):
        width = FIRST_WIDTH
        if ":" in stage:
            w, stage = stage.split(":")
            width = int(w[1:])
        for j, tok in enumerate(stage.split(",")):
            layers.append(block(tok, c, width, STRIDES[i] if j == 0 else 1))
            c = width
    layers += [conv_bn(c, 256, 1, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10)]
    return nn.Sequential(*layers)


def macs(model):
    total = 0

    def hook(m, i, o):
        nonlocal total
        if isinstance(m, nn.Conv2d):
            total += o.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            total += m.in_features * m.out_features
    hs = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, 32, 32))
    for h in hs:
        h.remove()
    return total


def main():
    out = {}
    for a in ARCHS:
        m = build(a)
        out[a] = {"params": sum(p.numel() for p in m.parameters()), "macs": macs(m)}
        print(a, out[a])
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spaces",
                        "fbnet_cifar_counts.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
