#!/usr/bin/env python3
"""PyTorch reference/benchmark of the NAS-Bench-201 network with every edge nor_conv_3x3.

Layout follows AutoDL TinyNetwork (C=16, N=5, 10 classes): stem Conv3x3(3->16)+BN; stages of
5 cells at 16/32/64 ch separated by ResNet basic reduction blocks; head BN-ReLU-GAP-Linear.
Cell: node i = sum_{j<i} edge_ij(node_j), edge = ReLU-Conv3x3(bias=False)-BN(affine); out = node 3.
Prints the parameter count on stderr and, with --json, one JSON line on stdout
({mode, batch, res, threads, params, iters_ms, median_ms}). --export PATH writes the eval model
as ONNX (TorchScript exporter, opset 17, static batch) for cross-checking.
Expected params: 1,531,546 (= nb201_all.csv 'params' 1.531546 M for this arch).

Example: /work/pyenv/bin/python models/scripts/torch_nb201_bench.py --batch 64 --res 32 \
             --threads 2 --mode eval --warmup 2 --iters 5 --json
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def relu_conv_bn(cin, cout, stride=1):
    return nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
                         nn.BatchNorm2d(cout, affine=True))


class Cell(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.edges = nn.ModuleDict({f"{i}<-{j}": relu_conv_bn(c, c) for i in range(1, 4)
                                    for j in range(i)})

    def forward(self, x):
        nodes = [x]
        for i in range(1, 4):
            nodes.append(sum(self.edges[f"{i}<-{j}"](nodes[j]) for j in range(i)))
        return nodes[3]


class ResBlock(nn.Module):  # AutoDL ResNetBasicblock, stride 2
    def __init__(self, cin, cout):
        super().__init__()
        self.conv_a = relu_conv_bn(cin, cout, 2)
        self.conv_b = relu_conv_bn(cout, cout, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2, 0),
                                        nn.Conv2d(cin, cout, 1, 1, 0, bias=False))

    def forward(self, x):
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NB201Conv3x3(nn.Module):
    def __init__(self, c=16, n=5, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c))
        layers, cin = [], c
        for stage, cout in enumerate([c, 2 * c, 4 * c]):
            if stage > 0:
                layers.append(ResBlock(cin, cout))
            layers += [Cell(cout) for _ in range(n)]
            cin = cout
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.lastact(self.cells(self.stem(x)))
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--res", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mode", choices=["eval", "train_fwd", "fwd_bwd"], default="eval")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--export", metavar="PATH", help="export the eval model to ONNX and exit")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = NB201Conv3x3()
    params = sum(p.numel() for p in model.parameters())
    print(f"params: {params}", file=sys.stderr)
    x = torch.randn(a.batch, 3, a.res, a.res)
    y = torch.randint(0, 10, (a.batch,))

    if a.export:
        model.eval()
        torch.onnx.export(model, (x,), a.export, dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"])
        print(f"exported {a.export}", file=sys.stderr)
        return

    if a.mode == "eval":
        model.eval()

        def step():
            with torch.inference_mode():
                model(x)
    elif a.mode == "train_fwd":
        model.train()

        def step():
            with torch.no_grad():
                model(x)
    else:
        model.train()

        def step():
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()

    times = []
    for i in range(a.warmup + a.iters):
        t0 = time.perf_counter()
        step()
        dt = (time.perf_counter() - t0) * 1e3
        if i >= a.warmup:
            times.append(dt)
    med = statistics.median(times)
    res = {"mode": a.mode, "batch": a.batch, "res": a.res, "threads": a.threads,
           "params": params, "iters_ms": [round(t, 3) for t in times], "median_ms": round(med, 3)}
    if a.json:
        print(json.dumps(res))
    else:
        print(f"{a.mode}: median {med:.2f} ms over {a.iters} iters ({res['iters_ms']})")


if __name__ == "__main__":
    main()
