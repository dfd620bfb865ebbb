#!/usr/bin/env python3
"""Export tiny ONNX models for the default layer rule and the initialisation rule (dev tool; Rust
tests only read the committed outputs).

Produces in models/onnx/ (TorchScript exporter, opset 17, dynamic batch, 3x16x16 input 'input'):
  vit_tiny.onnx        patch embedding, class token, positional embedding, 2 pre-norm transformer
                       blocks with exact GELU (spelled out as Div/Erf/Add/Mul at opset 17), head
  convnext_block.onnx  stem, one ConvNeXt block (depthwise 7x7, channels-last LayerNorm, MLP with
                       exact GELU, layer scale 1e-6, residual), head; no constant folding, so the
                       linear layers are MatMul(x, Transpose(W)) as in torchvision's exports
  gated_acts.onnx      a conv chain whose activations are spelled out element-wise: SiLU
                       x*sigmoid(x), tanh-GELU, HardSwish x*clip(x+3,0,6)/6, Mish
                       x*tanh(softplus(x)), and a final ReLU

Run from the repo root:  python3 models/scripts/export_layer_rule_fixtures.py
"""
import math
import os
import warnings

import onnx
import torch
import torch.nn as nn

warnings.filterwarnings("ignore")
OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "onnx"))


def gelu_exact(x):
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3))))


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 2 * d)
        self.fc2 = nn.Linear(2 * d, d)

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.heads), dim=-1)
        x = x + self.proj((a @ v).transpose(1, 2).reshape(n, t, d))
        return x + self.fc2(gelu_exact(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    def __init__(self, d=16, patch=4, size=16, classes=10):
        super().__init__()
        self.embed = nn.Conv2d(3, d, patch, patch)
        t = (size // patch) ** 2
        self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, t + 1, d) * 0.02)
        self.blocks = nn.Sequential(Block(d, 2), Block(d, 2))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


class ConvNeXtBlock(nn.Module):
    def __init__(self, c=16, classes=10):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 4, 4)
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c)
        self.fc1 = nn.Linear(c, 4 * c)
        self.fc2 = nn.Linear(4 * c, c)
        self.gamma = nn.Parameter(torch.full((c,), 1e-6))
        self.head = nn.Linear(c, classes)

    def forward(self, x):
        x = self.stem(x)
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.fc2(gelu_exact(self.fc1(self.norm(y)))) * self.gamma
        x = x + y.permute(0, 3, 1, 2)
        return self.head(x.mean(dim=(2, 3)))


class Gated(nn.Module):
    def __init__(self, c=8, classes=10):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(3 if i == 0 else c, c, 3, padding=1) for i in range(5)])
        self.head = nn.Linear(c, classes)

    def forward(self, x):
        acts = [
            lambda x: x * torch.sigmoid(x),
            gelu_tanh,
            lambda x: x * torch.clamp(x + 3.0, 0.0, 6.0) / 6.0,
            lambda x: x * torch.tanh(nn.functional.softplus(x)),
            torch.relu,
        ]
        for conv, act in zip(self.convs, acts):
            x = act(conv(x))
        return self.head(x.mean(dim=(2, 3)))


def export(model, name, fold=True):
    torch.manual_seed(0)
    path = os.path.join(OUT, name)
    torch.onnx.export(
        model.eval(),
        (torch.randn(2, 3, 16, 16),),
        path,
        dynamo=False,
        opset_version=17,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        do_constant_folding=fold,
    )
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    ops = sorted({n.op_type for n in m.graph.node})
    print(f"{name}: {os.path.getsize(path)} bytes, ops {ops}")


if __name__ == "__main__":
    torch.manual_seed(0)
    export(ViT(), "vit_tiny.onnx")
    torch.manual_seed(0)
    export(ConvNeXtBlock(), "convnext_block.onnx", fold=False)
    torch.manual_seed(0)
    export(Gated(), "gated_acts.onnx")
