#!/usr/bin/env python3
"""Parameter and multiply-add counts of NAS-Bench-101 cells and DARTS genotypes, built in PyTorch
by ports of the reference code (dev tool; tests/space_cells.rs compares intrain's counts and
NAS-Bench-101 module hashes with the JSON files this writes).

- NAS-Bench-101: google-research/nasbench `nasbench/lib/model_builder.py` (build_module,
  projection, truncate, compute_vertex_channels), `base_ops.py` (conv_bn_relu, MaxPool3x3),
  `model_spec.py` (pruning) and `graph_util.py` (hash_module), ported from TensorFlow to PyTorch
  (channels first). Network: stem conv3x3-BN-ReLU to 128, 3 stacks of 3 cells, max pool 2x2
  stride 2 and doubled channels between stacks, global average pool, dense layer.
- DARTS: quark0/darts `cnn/model.py` (Cell, NetworkCIFAR without the auxiliary head) and
  `cnn/operations.py` (OPS, ReLUConvBN, DilConv, SepConv, FactorizedReduce, Zero, Identity).

Cells are drawn with the benchmarks' own samplers (NAS-Bench-101: every edge and op uniform,
redrawn until valid with at most 9 edges once pruned, as `api.is_valid` checks; DARTS and
NAS-Bench-301: per node two different earlier nodes and an op on each), seeded, and written in intrain's string forms (the reference APIs'
`ModelSpec(...)` and `Genotype(...)`; NAS-Bench-101 cells unpruned, so intrain prunes them).
Multiply-adds count convolutions and linear layers for one 32x32 sample.

Run from the repo root:  python3 tests/goldens/make_cell_space_counts.py
"""
import hashlib
import json
import os
import random

import numpy as np
import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(__file__), "spaces")
N = 200

# ---------------------------------------------------------------- NAS-Bench-101 (nasbench port)
NB101_OPS = ["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"]


def prune(matrix, ops):
    """model_spec.ModelSpec._prune: drop vertices on no input-to-output path."""
    n = len(matrix)
    from_input, frontier = {0}, [0]
    while frontier:
        top = frontier.pop()
        for v in range(top + 1, n):
            if matrix[top][v] and v not in from_input:
                from_input.add(v)
                frontier.append(v)
    to_output, frontier = {n - 1}, [n - 1]
    while frontier:
        top = frontier.pop()
        for v in range(0, top):
            if matrix[v][top] and v not in to_output:
                to_output.add(v)
                frontier.append(v)
    extraneous = set(range(n)) - (from_input & to_output)
    if len(extraneous) > n - 2:
        return None
    keep = [v for v in range(n) if v not in extraneous]
    m = np.array(matrix)[np.ix_(keep, keep)]
    return m, [ops[v] for v in keep]


def hash_module(matrix, labeling):
    """graph_util.hash_module, verbatim in substance."""
    vertices = np.shape(matrix)[0]
    in_edges = np.sum(matrix, axis=0).tolist()
    out_edges = np.sum(matrix, axis=1).tolist()
    hashes = list(zip(out_edges, in_edges, labeling))
    hashes = [hashlib.md5(str(h).encode("utf-8")).hexdigest() for h in hashes]
    for _ in range(vertices):
        new_hashes = []
        for v in range(vertices):
            in_neighbors = [hashes[w] for w in range(vertices) if matrix[w, v]]
            out_neighbors = [hashes[w] for w in range(vertices) if matrix[v, w]]
            new_hashes.append(hashlib.md5(
                ("".join(sorted(in_neighbors)) + "|" + "".join(sorted(out_neighbors)) + "|" +
                 hashes[v]).encode("utf-8")).hexdigest())
        hashes = new_hashes
    return hashlib.md5(str(sorted(hashes)).encode("utf-8")).hexdigest()


def compute_vertex_channels(input_channels, output_channels, matrix):
    num_vertices = np.shape(matrix)[0]
    vertex_channels = [0] * num_vertices
    vertex_channels[0] = input_channels
    vertex_channels[num_vertices - 1] = output_channels
    if num_vertices == 2:
        return vertex_channels
    in_degree = np.sum(matrix[1:], axis=0)
    interior_channels = output_channels // in_degree[num_vertices - 1]
    correction = output_channels % in_degree[num_vertices - 1]
    for v in range(1, num_vertices - 1):
        if matrix[v, num_vertices - 1]:
            vertex_channels[v] = interior_channels
            if correction:
                vertex_channels[v] += 1
                correction -= 1
    for v in range(num_vertices - 3, 0, -1):
        if not matrix[v, num_vertices - 1]:
            for dst in range(v + 1, num_vertices - 1):
                if matrix[v, dst]:
                    vertex_channels[v] = max(vertex_channels[v], vertex_channels[dst])
        assert vertex_channels[v] > 0
    return vertex_channels


class ConvBnRelu(nn.Sequential):
    def __init__(self, cin, cout, k):
        super().__init__(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False),
                         nn.BatchNorm2d(cout, eps=1e-5), nn.ReLU())


class Module(nn.Module):
    """model_builder.build_module (modules registered in the order intrain creates weights)."""

    def __init__(self, matrix, ops, cin, channels):
        super().__init__()
        self.matrix, self.ops = matrix, ops
        n = len(matrix)
        self.vc = compute_vertex_channels(cin, channels, matrix)
        self.layers = nn.ModuleDict()
        for t in range(1, n - 1):
            if matrix[0, t]:
                self.layers["proj%d" % t] = ConvBnRelu(cin, self.vc[t], 1)
            op = ops[t]
            if op == "conv3x3-bn-relu":
                self.layers["v%d" % t] = ConvBnRelu(self.vc[t], self.vc[t], 3)
            elif op == "conv1x1-bn-relu":
                self.layers["v%d" % t] = ConvBnRelu(self.vc[t], self.vc[t], 1)
            else:
                self.layers["v%d" % t] = nn.MaxPool2d(3, 1, 1)
        if matrix[0, n - 1]:
            self.layers["proj%d" % (n - 1)] = ConvBnRelu(cin, channels, 1)

    def forward(self, x):
        m, n = self.matrix, len(self.matrix)
        tensors, final = [x], []
        for t in range(1, n - 1):
            add_in = [tensors[s][:, :self.vc[t]] for s in range(1, t) if m[s, t]]
            if m[0, t]:
                add_in.append(self.layers["proj%d" % t](x))
            v = self.layers["v%d" % t](sum(add_in))
            tensors.append(v)
            if m[t, n - 1]:
                final.append(v)
        if not final:
            return self.layers["proj%d" % (n - 1)](x)
        out = final[0] if len(final) == 1 else torch.cat(final, 1)
        if m[0, n - 1]:
            out = out + self.layers["proj%d" % (n - 1)](x)
        return out


class NB101Net(nn.Module):
    def __init__(self, matrix, ops, stem=128, stacks=3, cells=3, classes=10):
        super().__init__()
        layers = [ConvBnRelu(3, stem, 3)]
        c = stem
        for s in range(stacks):
            cout = c
            if s > 0:
                layers.append(nn.MaxPool2d(2, 2))
                cout = c * 2
            for _ in range(cells):
                layers.append(Module(matrix, ops, c, cout))
                c = cout
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


def nb101_string(matrix, ops):
    rows = ", ".join("[" + ", ".join(str(int(b)) for b in r) + "]" for r in matrix)
    return "ModelSpec(matrix=[%s], ops=[%s])" % (rows, ", ".join("'%s'" % o for o in ops))


def nb101_cells(rng):
    """The benchmark API's random_spec, plus well-known and small cells."""
    cells = [
        # The nasbench README's Inception-like cell.
        ([[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1],
          [0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1],
          [0, 0, 0, 0, 0, 0, 0]],
         ["input", "conv1x1-bn-relu", "conv3x3-bn-relu", "conv3x3-bn-relu", "conv3x3-bn-relu",
          "maxpool3x3", "output"]),
        # A ResNet-like cell: two 3x3 convolutions and the projected input added.
        ([[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]],
         ["input", "conv3x3-bn-relu", "conv3x3-bn-relu", "output"]),
        # Only the input and the output.
        ([[0, 1], [0, 0]], ["input", "output"]),
        # Three vertices feed the output (128 = 43 + 43 + 42 channels: the remainder split) and
        # vertex 3 (43) feeds vertex 4 (42): a truncation; the input feeds the output too.
        ([[0, 1, 0, 1, 0, 1], [0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 1],
          [0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0]],
         ["input", "conv3x3-bn-relu", "maxpool3x3", "conv1x1-bn-relu", "conv3x3-bn-relu", "output"]),
        # A max pool truncated (vertices 3 and 4, 43 channels, feed vertex 5, 42), and a vertex
        # (1) pruned: it feeds nothing.
        ([[0, 1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 1, 1],
          [0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
         ["input", "conv3x3-bn-relu", "maxpool3x3", "maxpool3x3", "conv3x3-bn-relu",
          "conv1x1-bn-relu", "output"]),
        # Five edges after pruning but ten before (vertex 1 reads nothing): in the space.
        ([[0, 0, 1, 0, 0, 0, 0], [0, 0, 1, 1, 1, 1, 1], [0, 0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0],
          [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
         ["input", "conv3x3-bn-relu", "conv3x3-bn-relu", "conv3x3-bn-relu", "conv3x3-bn-relu",
          "conv3x3-bn-relu", "output"]),
    ]
    while len(cells) < N:
        matrix = np.triu(rng.choice([0, 1], size=(7, 7)), 1)
        ops = ["input"] + list(rng.choice(NB101_OPS, size=5)) + ["output"]
        pruned = prune(matrix.tolist(), ops)
        if pruned is None or pruned[0].sum() > 9:  # api.is_valid checks the pruned cell
            continue
        cells.append((matrix.tolist(), [str(o) for o in ops]))
    return cells


# ---------------------------------------------------------------- DARTS (quark0/darts port)
class ReLUConvBN(nn.Sequential):
    def __init__(self, cin, cout, k, stride, pad):
        super().__init__(nn.ReLU(), nn.Conv2d(cin, cout, k, stride, pad, bias=False),
                         nn.BatchNorm2d(cout))


class DilConv(nn.Sequential):
    def __init__(self, cin, cout, k, stride, pad, dil):
        super().__init__(nn.ReLU(),
                         nn.Conv2d(cin, cin, k, stride, pad, dilation=dil, groups=cin, bias=False),
                         nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))


class SepConv(nn.Sequential):
    def __init__(self, cin, cout, k, stride, pad):
        super().__init__(nn.ReLU(), nn.Conv2d(cin, cin, k, stride, pad, groups=cin, bias=False),
                         nn.Conv2d(cin, cin, 1, bias=False), nn.BatchNorm2d(cin), nn.ReLU(),
                         nn.Conv2d(cin, cin, k, 1, pad, groups=cin, bias=False),
                         nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))


class Identity(nn.Module):
    def forward(self, x):
        return x


class Zero(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return x.mul(0.) if self.stride == 1 else x[:, :, ::self.stride, ::self.stride].mul(0.)


class FactorizedReduce(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.relu = nn.ReLU()
        self.conv_1 = nn.Conv2d(cin, cout // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(cin, cout // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], 1))


OPS = {
    "none": lambda C, s: Zero(s),
    "avg_pool_3x3": lambda C, s: nn.AvgPool2d(3, s, 1, count_include_pad=False),
    "max_pool_3x3": lambda C, s: nn.MaxPool2d(3, s, 1),
    "skip_connect": lambda C, s: Identity() if s == 1 else FactorizedReduce(C, C),
    "sep_conv_3x3": lambda C, s: SepConv(C, C, 3, s, 1),
    "sep_conv_5x5": lambda C, s: SepConv(C, C, 5, s, 2),
    "dil_conv_3x3": lambda C, s: DilConv(C, C, 3, s, 2, 2),
    "dil_conv_5x5": lambda C, s: DilConv(C, C, 5, s, 4, 2),
}
PRIMITIVES = ["max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
              "dil_conv_3x3", "dil_conv_5x5"]


class Cell(nn.Module):
    def __init__(self, genotype, cpp, cp, C, reduction, reduction_prev):
        super().__init__()
        self.preprocess0 = FactorizedReduce(cpp, C) if reduction_prev else ReLUConvBN(cpp, C, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(cp, C, 1, 1, 0)
        cell = genotype["reduce" if reduction else "normal"]
        self.ops = nn.ModuleList(OPS[name](C, 2 if reduction and idx < 2 else 1)
                                 for name, idx in cell)
        self.indices = [idx for _, idx in cell]
        self.steps = len(cell) // 2
        self.multiplier = self.steps

    def forward(self, s0, s1):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(self.steps):
            h1 = self.ops[2 * i](states[self.indices[2 * i]])
            h2 = self.ops[2 * i + 1](states[self.indices[2 * i + 1]])
            states.append(h1 + h2)
        return torch.cat(states[2:], 1)


class NetworkCIFAR(nn.Module):
    def __init__(self, C, classes, layers, genotype):
        super().__init__()
        c_curr = 3 * C
        self.stem = nn.Sequential(nn.Conv2d(3, c_curr, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(c_curr))
        cpp, cp, c_curr = c_curr, c_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in [layers // 3, 2 * layers // 3]
            if reduction:
                c_curr *= 2
            cell = Cell(genotype, cpp, cp, c_curr, reduction, reduction_prev)
            reduction_prev = reduction
            self.cells.append(cell)
            cpp, cp = cp, cell.multiplier * c_curr
        self.classifier = nn.Linear(cp, classes)

    def forward(self, x):
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(s1.mean((2, 3)))


def genotype_string(g):
    cell = lambda c: "[" + ", ".join("('%s', %d)" % (o, i) for o, i in c) + "]"
    return ("Genotype(normal=%s, normal_concat=[2, 3, 4, 5], reduce=%s, reduce_concat=[2, 3, 4, 5])"
            % (cell(g["normal"]), cell(g["reduce"])))


DARTS_V1 = {
    "normal": [("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
               ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)],
    "reduce": [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
               ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)],
}
DARTS_V2 = {
    "normal": [("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
               ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    "reduce": [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
               ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
}


def darts_genotypes(rng):
    def cell():
        out = []
        for i in range(4):
            a, b = rng.sample(range(i + 2), 2)
            out += [(rng.choice(PRIMITIVES), a), (rng.choice(PRIMITIVES), b)]
        return out
    gs = [DARTS_V1, DARTS_V2]
    while len(gs) < N:
        gs.append({"normal": cell(), "reduce": cell()})
    return gs


# ---------------------------------------------------------------- counting
def counts(net):
    macs = [0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1]
            macs[0] += out[0].numel() * (mod.in_channels // mod.groups) * k
        elif isinstance(mod, nn.Linear):
            macs[0] += mod.in_features * mod.out_features
    hs = [m.register_forward_hook(hook) for m in net.modules()
          if isinstance(m, (nn.Conv2d, nn.Linear))]
    net.eval()
    with torch.no_grad():
        y = net(torch.zeros(1, 3, 32, 32))
    for h in hs:
        h.remove()
    assert y.shape == (1, 10)
    return {"params": int(sum(p.numel() for p in net.parameters())), "macs": int(macs[0])}


def write(path, obj):
    text = json.dumps(obj, indent=1, sort_keys=True) + "\n"
    with open(path, "w") as f:
        f.write(text)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(2)
    nb = {}
    for matrix, ops in nb101_cells(np.random.RandomState(101)):
        m, o = prune(matrix, ops)
        labels = [-1] + [NB101_OPS.index(x) for x in o[1:-1]] + [-2]
        c = counts(NB101Net(m, o))
        c["module_hash"] = hash_module(m, labels)
        nb[nb101_string(matrix, ops)] = c
    write(os.path.join(OUT, "nb101_counts.json"), nb)
    darts = {}
    for g in darts_genotypes(random.Random(301)):
        darts[genotype_string(g)] = {
            "c16_l8": counts(NetworkCIFAR(16, 10, 8, g)),
            "c36_l20": counts(NetworkCIFAR(36, 10, 20, g)),
        }
    write(os.path.join(OUT, "darts_counts.json"), darts)
    print("nb101: %d cells, darts: %d genotypes; DARTS-V2 at C=36, 20 cells: %d parameters" % (
        len(nb), len(darts), darts[genotype_string(DARTS_V2)]["c36_l20"]["params"]))


if __name__ == "__main__":
    main()
