#!/usr/bin/env python3
"""Golden values for the tiny CNN test fixture (dev tool; Rust tests only read the outputs).

Produces tests/goldens/tiny_cnn/*.npy:
  float32 weights  conv1.weight, conv1.bias, bn1.{weight,bias,running_mean,running_var},
                   conv_b.weight, fc.weight, fc.bias
  float32 input    x (2,3,8,8)
  float64 refs     expected_{relu1,pool_a,conv_b,add,avg,cat,gap,flat,logits}
The reference is computed in float64 (model.double()) from the float32 weights/input upcast.
Also cross-checks a torch.onnx export run in onnxruntime against expected_logits (not saved).

Run from the repo root:  /work/pyenv/bin/python tests/goldens/make_goldens.py
"""
import os
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny_cnn")


class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=1, padding=1, bias=True)
        self.bn1 = nn.BatchNorm2d(8, eps=1e-5)
        self.conv_b = nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=False)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        relu1 = F.relu(self.bn1(self.conv1(x)))
        pool_a = F.max_pool2d(relu1, 2, 2)
        conv_b = self.conv_b(relu1)
        add = pool_a + conv_b
        avg = F.avg_pool2d(add, 3, stride=1, padding=1, count_include_pad=False)
        cat = torch.cat([add, avg], dim=1)
        gap = F.adaptive_avg_pool2d(cat, 1)
        flat = gap.flatten(1)
        logits = self.fc(flat)
        return dict(relu1=relu1, pool_a=pool_a, conv_b=conv_b, add=add, avg=avg,
                    cat=cat, gap=gap, flat=flat, logits=logits)


class LogitsOnly(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x)["logits"]


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = TinyCNN()
    with torch.no_grad():  # non-trivial BN parameters / statistics
        model.bn1.running_mean.copy_(torch.randn(8) * 0.1)
        model.bn1.running_var.copy_(torch.rand(8) + 0.5)
        model.bn1.weight.copy_(torch.rand(8) + 0.5)
        model.bn1.bias.copy_(torch.randn(8) * 0.1)
    model.eval()
    x = torch.randn(2, 3, 8, 8)  # float32, continues the seed-0 stream

    os.makedirs(OUT, exist_ok=True)
    state = model.state_dict()
    for name in ["conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "bn1.running_mean",
                 "bn1.running_var", "conv_b.weight", "fc.weight", "fc.bias"]:
        np.save(os.path.join(OUT, name + ".npy"), state[name].numpy().astype(np.float32))
    np.save(os.path.join(OUT, "x.npy"), x.numpy().astype(np.float32))

    ref = TinyCNN()
    ref.load_state_dict(state)
    ref = ref.double().eval()
    with torch.no_grad():
        outs = ref(x.double())
    for k, v in outs.items():
        np.save(os.path.join(OUT, f"expected_{k}.npy"), v.numpy().astype(np.float64))
        print(f"expected_{k}: {tuple(v.shape)}")

    # Cross-check: float32 ONNX export through onnxruntime vs float64 reference.
    import onnxruntime as ort
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "tiny_cnn.onnx")
        torch.onnx.export(LogitsOnly(model), (x,), path, dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["logits"])
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        got = sess.run(None, {"x": x.numpy()})[0]
    err = np.abs(got.astype(np.float64) - outs["logits"].numpy()).max()
    print(f"ORT float32 vs float64 reference, max |diff| on logits: {err:.3e}")
    assert err < 1e-5, err


if __name__ == "__main__":
    main()
