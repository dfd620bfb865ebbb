#!/usr/bin/env python3
"""The failure corpus of the CI gate: small CIFAR-10 networks, each built to fail to train from its
initialisation in one known way, next to a healthy control; each is trained briefly on real images
to show whether it really fails, and exported to ONNX for `intrain check`.

Dev tool (PyTorch), never a runtime or test dependency. Writes into an ignored folder:

    target/failure-corpus/<name>.onnx      TorchScript export, opset 17, dynamic batch axis
    target/failure-corpus/curves.json      training loss per step of every model, and a verdict

Training: the first 256 images of ../shared/data/real_images/cifar10_sample.npz (normalised with
the CIFAR-10 channel statistics), SGD with momentum 0.9, learning rate 0.05, batch 32 drawn with a
seeded generator, 200 steps, mean cross-entropy; the same seed for every model. A model "trains"
when its mean loss over some 20 consecutive steps falls below 60% of ln(10) (the healthy control
reaches far less on 256 images); it "fails" when it never does, or turns NaN/Inf.

    python3 models/scripts/failure_corpus.py [--steps 200] [--out target/failure-corpus]
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MEAN = torch.tensor([0.4914, 0.4822, 0.4465])
STD = torch.tensor([0.2470, 0.2435, 0.2616])


def conv_bn_relu(cin, cout, stride=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
    )


class Healthy(nn.Module):
    """A small VGG-like network with BatchNorm: the control that trains."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            conv_bn_relu(3, 32, 2), conv_bn_relu(32, 32, 2), conv_bn_relu(32, 64), conv_bn_relu(64, 64, 2)
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        return self.head(self.pool(self.body(x)).flatten(1))


class HealthyMlp(nn.Module):
    """A three-layer MLP on the flattened image: a second control, small and shallow, that trains."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(), nn.Linear(3 * 32 * 32, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU()
        )
        self.head = nn.Linear(256, 10)

    def forward(self, x):
        return self.head(self.body(x))


class DeepPlain(nn.Module):
    """20 convolutions with ReLU, no normalisation, no residuals, PyTorch's default init (whose
    variance shrinks layer by layer): the signal and the gradient vanish."""

    def __init__(self, depth=20, width=16):
        super().__init__()
        layers = [nn.Conv2d(3, width, 3, 2, 1), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Conv2d(width, width, 3, 1, 1), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        return self.head(self.body(x).mean((2, 3)))


class SigmoidStack(nn.Module):
    """12 convolutions with sigmoid activations, no normalisation: saturating units."""

    def __init__(self, depth=12, width=16):
        super().__init__()
        layers = [nn.Conv2d(3, width, 3, 2, 1), nn.Sigmoid()]
        for _ in range(depth - 1):
            layers += [nn.Conv2d(width, width, 3, 1, 1), nn.Sigmoid()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        return self.head(self.body(x).mean((2, 3)))


class ZeroHead(Healthy):
    """The healthy network with a two-layer head whose weights are all zero: neither layer gets a
    weight gradient (each needs the other's non-zero values), only biases learn."""

    def __init__(self):
        super().__init__()
        self.head = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
        for m in self.head:
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.weight)
                nn.init.zeros_(m.bias)


class DeadRelu(nn.Module):
    """Convolutions with biases of -10 before every ReLU: every unit is dead from the start."""

    def __init__(self):
        super().__init__()
        convs = [nn.Conv2d(3, 32, 3, 2, 1), nn.Conv2d(32, 32, 3, 2, 1), nn.Conv2d(32, 64, 3, 2, 1)]
        for c in convs:
            nn.init.constant_(c.bias, -10.0)
        self.body = nn.Sequential(*[m for c in convs for m in (c, nn.ReLU())])
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        return self.head(self.body(x).mean((2, 3)))


class CollapsedBn(Healthy):
    """The healthy network with every BatchNorm scale γ = 0: every feature map is constant."""

    def __init__(self):
        super().__init__()
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                nn.init.zeros_(m.weight)


class Exploding(nn.Module):
    """Six convolutions without normalisation whose Kaiming weights are multiplied by 10: the
    activations grow by ~10 per layer and the loss overflows."""

    def __init__(self):
        super().__init__()
        convs = [nn.Conv2d(3, 32, 3, 2, 1)] + [nn.Conv2d(32, 32, 3, 1, 1) for _ in range(5)]
        for c in convs:
            nn.init.kaiming_normal_(c.weight, nonlinearity="relu")
            c.weight.data.mul_(10.0)
            nn.init.zeros_(c.bias)
        self.body = nn.Sequential(*[m for c in convs for m in (c, nn.ReLU())])
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        return self.head(self.body(x).mean((2, 3)))


class Width1(Healthy):
    """The healthy network with a one-channel layer in the middle: a rank-1 bottleneck."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            conv_bn_relu(3, 32, 2), conv_bn_relu(32, 1, 2), conv_bn_relu(1, 64), conv_bn_relu(64, 64, 2)
        )


MODELS = {
    "healthy": Healthy,
    "healthy_mlp": HealthyMlp,
    "deep_plain": DeepPlain,
    "sigmoid_stack": SigmoidStack,
    "zero_head": ZeroHead,
    "dead_relu": DeadRelu,
    "collapsed_bn": CollapsedBn,
    "exploding_init": Exploding,
    "width1_bottleneck": Width1,
}


def data(n=256):
    d = np.load(os.path.join(ROOT, "../shared/data/real_images/cifar10_sample.npz"))
    x = torch.from_numpy(d["x"][:n]).permute(0, 3, 1, 2).float().div(255)
    x = (x - MEAN[:, None, None]) / STD[:, None, None]
    return x, torch.from_numpy(d["y"][:n]).long()


def train(model, x, y, steps, seed=0):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (32,), generator=g)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        losses.append(float(loss.detach()))
        if not math.isfinite(losses[-1]):
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    return losses


def verdict(losses, window=20):
    """Final and best 20-step mean loss, and whether the model learned: its best 20-step mean
    fell below 60% of ln(10) (the best window, not the last, so that an unstable but learning
    model at this shared learning rate counts as learning)."""
    finite = all(v is not None and math.isfinite(v) for v in losses) and len(losses) >= window
    if not finite:
        means = [sum(losses[i : i + window]) / window for i in range(len(losses) - window + 1)
                 if all(v is not None and math.isfinite(v) for v in losses[i : i + window])]
        return {"final_loss": None, "best_loss": min(means, default=None), "trains": False}
    means = [sum(losses[i : i + window]) / window for i in range(len(losses) - window + 1)]
    best = min(means)
    return {"final_loss": means[-1], "best_loss": best, "trains": best < 0.6 * math.log(10)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--out", default=os.path.join(ROOT, "target/failure-corpus"))
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(2)
    x, y = data()
    curves = os.path.join(a.out, "curves.json")
    # Models trained earlier keep their curves when only some are rebuilt (--models).
    previous = json.load(open(curves))["models"] if os.path.exists(curves) else {}
    result = {"protocol": __doc__.split("\n\n")[2].replace("\n", " "), "models": previous}
    for name in a.models:
        torch.manual_seed(0)
        model = MODELS[name]()
        # Export the model as initialised (eval mode keeps BatchNorm's running statistics in the
        # graph; `intrain check --bn train` uses batch statistics either way).
        model.eval()
        torch.onnx.export(
            model,
            (torch.randn(2, 3, 32, 32),),
            os.path.join(a.out, f"{name}.onnx"),
            opset_version=17,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            dynamo=False,
        )
        losses = train(model, x, y, a.steps)
        result["models"][name] = {
            "doc": " ".join((MODELS[name].__doc__ or "").split()),
            "losses": [v if math.isfinite(v) else None for v in losses],
        }
    for name, m in result["models"].items():
        m.update(verdict(m["losses"]))
        final = "overflow" if m["final_loss"] is None else f"{m['final_loss']:.3f}"
        best = "–" if m["best_loss"] is None else f"{m['best_loss']:.3f}"
        print(
            f"{name:<20} final loss {final}, best {best}  "
            f"{'trains' if m['trains'] else 'FAILS to train'}",
            file=sys.stderr,
        )
    result["models"] = {n: result["models"][n] for n in MODELS if n in result["models"]}
    with open(curves, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
