#!/usr/bin/env python3
"""PyTorch float64 goldens for the zero-cost proxies (dev tool; Rust tests only read the outputs).

Fixture model (`Tiny` below; NAS-Bench-201 flavoured: ReLU-Conv-BN ops, cells that sum edges):
  input (8, 3, 8, 8)
  stem   : stem_conv Conv2d(3->4, 3x3, pad 1, bias=False) -> stem_bn BatchNorm2d(4) -> stem_relu ReLU
  block  : h = stem output
           conv edge = block_bn(block_conv(block_relu(h)))   [ReLU -> Conv2d(4->4, 3x3, pad 1,
                                                             bias=False) -> BatchNorm2d(4)]
           pool edge = block_pool(h)                         [AvgPool2d(3, 1, 1), PyTorch default
                                                             count_include_pad=True]
           skip edge = h
           out = conv edge + pool edge + skip edge           (two ONNX Add nodes)
  head   : final_bn BatchNorm2d(4) -> final_relu ReLU -> gap AdaptiveAvgPool2d(1) -> Flatten
           -> fc Linear(4->5, bias)
  All BatchNorm2d are PyTorch defaults (affine, track_running_stats, eps 1e-5, momentum 0.1).
  Weights: torch.manual_seed(0); Tiny()  (PyTorch default init, nothing re-initialised).
  nn.ReLU modules: stem_relu, block_relu, final_relu; each is called exactly once per forward.
  Measured layers ("Conv/Linear", NASLib's get_layer_metric_array order = module order):
  stem_conv, block_conv, fc.

Files written to tests/goldens/proxies/:
  tiny.onnx    TorchScript exporter (dynamo=False), opset 17, do_constant_folding=False, fixed
               batch 8 (no dynamic axes), exported in EVAL mode (TrainingMode.EVAL) so that every
               BN is a plain BatchNormalization node (training_mode=0) whose scale/B/mean/var are
               initializers; input "input", output "logits". The exporter may deduplicate
               equal-valued initializers (BN running_mean == bias == 0, running_var == weight == 1
               in a fresh model); values.json lists the initializers and any Identity aliases.
               The Rust side is expected to run it with batch-statistics BN (train semantics).
  x.npy        float32 (8, 3, 8, 8): torch.manual_seed(1); torch.randn
  labels.npy   int64 (8,): torch.manual_seed(2); torch.randint(0, 5, (8,))
  eps.npy      float32 (8, 3, 8, 8): torch.manual_seed(3); torch.randn   (Zen perturbation)
  x2.npy       float32 (8, 3, 8, 8): torch.manual_seed(4); torch.randn   (ZiCo's second batch)
  labels2.npy  int64 (8,): torch.manual_seed(5); torch.randint(0, 5, (8,))
  az_signs.npy float32, flattened: the +-1 cotangents of AZ-NAS's block outputs 1..6 (see
               AZ_FEATURES), in order; torch.manual_seed(6), (bernoulli(0.5) - 0.5) * 2 each
  values.json  reference values (float64), definitions, per-layer arrays, ORT check.

Conventions of the reference values (ports of automl/NASLib
naslib/predictors/utils/pruners/measures/*.py, predictive.py and naslib/predictors/zerocost.py;
each proxy's exact formula is in its "definition" string in values.json):
  * model.double(); x, eps cast to float64; BatchNorm in TRAIN mode (batch statistics) for every
    proxy; loss = F.cross_entropy (mean over the batch) on `labels`.
  * every proxy runs on a fresh deep copy of the float64 model (NASLib's copynet), so BN running
    statistics start from the stored values (mean 0, var 1) for each proxy.
  * find_measures sums the per-layer arrays (sum_arr: sum of torch.sum of each layer's tensor);
    jacov, nwot, epe_nas and zen return scalars directly.
  * synflow: BN removed (forward replaced by identity, as NASLib's copynet(bn=False) does),
    |all state_dict tensors|, all-ones input (1, 3, 8, 8) float64, R = sum(output). zerocost.py
    then reports log(score) (or -log(-score) for a negative score): both are stored.
  * fisher: NASLib broadcasts each channel value over the weight's fan-in (reshape_elements) before
    the sum, so the NASLib score is sum_l sum_k Delta_k * prod(W_l.shape[1:]); the plain sum over
    channels and layers is stored as well ("fisher_channel_sum").
  * zen: NASLib/ZenNAS formula but WITHOUT the Gaussian re-initialisation and with the fixture data
    (x and x + 0.01 * eps) instead of fresh torch.randn draws; two no-grad train-mode forwards in
    the order f(x), then f(x + 0.01 eps), both updating the BN running statistics.
  * zico: port of cvlab-yonsei/AZ-NAS NB201/ZeroShotProxy/compute_zico_score.py (from SLDGroup/ZiCo)
    on the two fixture batches (x, labels) then (x2, labels2), train mode, one model.
  * az_*: port of cvlab-yonsei/AZ-NAS NB201/ZeroShotProxy/compute_az_nas_score.py with the
    fixture's weights (no Kaiming re-initialisation), input x, block outputs AZ_FEATURES (the
    values intrain's rule picks on tiny.onnx) and the fixture's sign tensors.

Run from the repo root:  python3 models/scripts/proxy_goldens.py
"""
import copy
import json
import math
import os
import types
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.autograd as autograd
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

warnings.filterwarnings("ignore")
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "tests", "goldens", "proxies")

N, C_IN, H, W, NUM_CLASSES = 8, 3, 8, 8, 5
JAC_K = 1e-5
ZEN_GAMMA = 1e-2


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem_conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(4)
        self.stem_relu = nn.ReLU()
        self.block_relu = nn.ReLU()
        self.block_conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.block_bn = nn.BatchNorm2d(4)
        self.block_pool = nn.AvgPool2d(3, 1, 1)
        self.final_bn = nn.BatchNorm2d(4)
        self.final_relu = nn.ReLU()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4, NUM_CLASSES)

    def features(self, x):
        """The tensor just before global average pooling (output of final_relu)."""
        h = self.stem_relu(self.stem_bn(self.stem_conv(x)))
        h = self.block_bn(self.block_conv(self.block_relu(h))) + self.block_pool(h) + h
        return self.final_relu(self.final_bn(h))

    def forward(self, x):
        return self.fc(self.flatten(self.gap(self.features(x))))


# ----------------------------------------------------------------------------------------------
# NASLib helpers (naslib/predictors/utils/pruners/p_utils.py, predictive.py)

def measured_layers(net):
    """get_layer_metric_array order: net.modules() filtered to Conv2d / Linear."""
    return [(n, m) for n, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def no_op(self, x):
    return x


def copynet(net, bn):
    """predictive.copynet: deepcopy; bn=False replaces BatchNorm forward by identity."""
    net = copy.deepcopy(net)
    if not bn:
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                m.forward = types.MethodType(no_op, m)
    return net


def per_layer(net, arr):
    return [{"module": n, "value": float(torch.sum(a).item())}
            for (n, _), a in zip(measured_layers(net), arr)]


def sum_arr(arr):
    """predictive.find_measures.sum_arr."""
    s = 0.0
    for a in arr:
        s += torch.sum(a)
    return float(s.item())


# ----------------------------------------------------------------------------------------------
# Measures (ports of naslib/predictors/utils/pruners/measures/*.py, split_data = 1)

def m_grad_norm(net, x, y):
    net.zero_grad()
    loss = F.cross_entropy(net(x), y)
    loss.backward()
    return [m.weight.grad.norm() if m.weight.grad is not None else torch.zeros_like(m.weight)
            for _, m in measured_layers(net)]


def m_snip(net, x, y):
    def snip_forward_conv2d(self, inp):
        return F.conv2d(inp, self.weight * self.weight_mask, self.bias, self.stride,
                        self.padding, self.dilation, self.groups)

    def snip_forward_linear(self, inp):
        return F.linear(inp, self.weight * self.weight_mask, self.bias)

    for _, m in measured_layers(net):
        m.weight_mask = nn.Parameter(torch.ones_like(m.weight))
        m.weight.requires_grad = False
        fwd = snip_forward_conv2d if isinstance(m, nn.Conv2d) else snip_forward_linear
        m.forward = types.MethodType(fwd, m)
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    return [torch.abs(m.weight_mask.grad) for _, m in measured_layers(net)]


def m_plain(net, x, y):
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    return [m.weight.grad * m.weight for _, m in measured_layers(net)]


def m_l2_norm(net):
    return [m.weight.norm() for _, m in measured_layers(net)]


def m_fisher(net, x, y):
    """Returns (per-layer per-channel Delta, per-layer broadcast tensors as reshape_elements)."""
    def fisher_forward_conv2d(self, inp):
        z = F.conv2d(inp, self.weight, self.bias, self.stride, self.padding, self.dilation,
                     self.groups)
        self.act = self.dummy(z)
        return self.act

    def fisher_forward_linear(self, inp):
        z = F.linear(inp, self.weight, self.bias)
        self.act = self.dummy(z)
        return self.act

    net.train()
    for _, layer in measured_layers(net):
        layer.fisher = None
        layer.act = 0.0
        layer.dummy = nn.Identity()
        fwd = fisher_forward_conv2d if isinstance(layer, nn.Conv2d) else fisher_forward_linear
        layer.forward = types.MethodType(fwd, layer)

        def hook_factory(layer):
            def hook(module, grad_input, grad_output):
                act = layer.act.detach()
                grad = grad_output[0].detach()
                if len(act.shape) > 2:
                    g_nk = torch.sum(act * grad, list(range(2, len(act.shape))))
                else:
                    g_nk = act * grad
                del_k = g_nk.pow(2).mean(0).mul(0.5)
                layer.fisher = del_k if layer.fisher is None else layer.fisher + del_k
                del layer.act
            return hook

        layer.dummy.register_backward_hook(hook_factory(layer))
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    ch = [torch.abs(m.fisher.detach()) for _, m in measured_layers(net)]
    # reshape_elements: each channel value filled into a tensor of shape weight.shape[1:]
    # (NASLib builds these with torch.Tensor(sh).fill_(v), i.e. float32; float64 here).
    bc = [torch.stack([torch.empty(m.weight.shape[1:], dtype=torch.float64).fill_(float(v))
                       for v in c]) for c, (_, m) in zip(ch, measured_layers(net))]
    return ch, bc


def m_grasp(net, x, y, T=1):
    weights = []
    for _, m in measured_layers(net):
        weights.append(m.weight)
        m.weight.requires_grad_(True)
    net.zero_grad()
    # pass 1: g = dL/dW (detached)
    loss = F.cross_entropy(net(x) / T, y)
    grad_w = list(autograd.grad(loss, weights, allow_unused=True))
    # pass 2: z = sum g . dL/dW with create_graph -> W.grad = H g
    loss = F.cross_entropy(net(x) / T, y)
    grad_f = autograd.grad(loss, weights, create_graph=True, allow_unused=True)
    z = 0
    for gw, gf in zip(grad_w, grad_f):
        if gw is not None:
            z += (gw.data * gf).sum()
    z.backward()
    return [-m.weight.data * m.weight.grad if m.weight.grad is not None
            else torch.zeros_like(m.weight) for _, m in measured_layers(net)]


def batch_jacobian(net, x):
    net.zero_grad()
    x = x.clone().requires_grad_(True)
    yv = net(x)
    yv.backward(torch.ones_like(yv))
    return x.grad.detach(), yv.shape[-1]


def m_jacov(net, x):
    jacob, _ = batch_jacobian(net, x)
    jacob = jacob.reshape(jacob.size(0), -1).cpu().numpy()
    corrs = np.corrcoef(jacob)
    v, _ = np.linalg.eig(corrs)
    score = -np.sum(np.log(v + JAC_K) + 1.0 / (v + JAC_K))
    return score, corrs, v


def m_nwot(net, x):
    batch_size = x.shape[0]
    state = {"K": np.zeros((batch_size, batch_size)), "hooked": []}

    def counting_forward_hook(module, inp, out):
        inp = inp[0].view(inp[0].size(0), -1)
        c = (inp > 0).double()  # NASLib: .float(); counts are exact integers either way
        K = c @ c.t()
        K2 = (1.0 - c) @ (1.0 - c.t())
        state["K"] = state["K"] + K.cpu().numpy() + K2.cpu().numpy()
        state["hooked"].append(module._golden_name)

    for name, module in net.named_modules():
        module_type = str(type(module))
        if ("ReLU" in module_type) and ("naslib" not in module_type):
            module._golden_name = name
            module.register_forward_hook(counting_forward_hook)
    with torch.no_grad():  # NASLib runs it with grad; no effect on the value
        net(torch.clone(x))
    sign, logdet = np.linalg.slogdet(state["K"])
    return logdet, sign, state["K"], state["hooked"]


def m_epe_nas(net, x, y):
    jacob, n_classes = batch_jacobian(net, x)
    jacobs = np.concatenate([jacob.reshape(jacob.size(0), -1).cpu().numpy()], axis=0)
    labels = [y.cpu().numpy()]
    k = 1e-5
    per_class = {}
    for i, label in enumerate(labels[0]):
        if label in per_class:
            per_class[label] = np.vstack((per_class[label], jacobs[i]))
        else:
            per_class[label] = jacobs[i]
    ind = {}
    for c in per_class.keys():
        try:
            corrs = np.array(np.corrcoef(per_class[c]))
            s = np.sum(np.log(abs(corrs) + k))
            if n_classes > 100:
                s /= len(corrs)
        except Exception:
            continue
        ind[c] = s
    score = 0
    if n_classes <= 100:
        for c in ind:
            score += np.absolute(ind[c])
    else:
        for c in ind:
            for cj in ind:
                score += np.absolute(ind[c] - ind[cj])
        if len(ind) > 0:
            score /= len(ind)
    per = {str(int(c)): {"count": int(np.atleast_2d(per_class[c]).shape[0]), "s": float(ind[c])}
           for c in ind}
    return float(score), n_classes, per


def m_synflow(net, input_shape):
    @torch.no_grad()
    def linearize(net):
        signs = {}
        for name, param in net.state_dict().items():
            signs[name] = torch.sign(param)
            param.abs_()
        return signs

    linearize(net.double())
    net.zero_grad()
    net.double()
    inp = torch.ones([1] + list(input_shape)).double()
    out = net.forward(inp)
    torch.sum(out).backward()
    arr = [torch.abs(m.weight * m.weight.grad) if m.weight.grad is not None
           else torch.zeros_like(m.weight) for _, m in measured_layers(net)]
    return arr, float(torch.sum(out).item())


def m_zen(net, x, eps):
    net.train()
    with torch.no_grad():
        mixup = x + ZEN_GAMMA * eps
        out = net.features(x)          # forward 1 (updates BN running stats)
        mix_out = net.features(mixup)  # forward 2 (updates them again)
        delta = torch.mean(torch.sum(torch.abs(out - mix_out), dim=[1, 2, 3]))
        log_bn = 0.0
        bns = []
        for name, m in net.named_modules():
            if isinstance(m, nn.BatchNorm2d):
                f = torch.log(torch.sqrt(torch.mean(m.running_var)))
                log_bn += f
                bns.append({"module": name, "running_var": m.running_var.tolist(),
                            "log_sqrt_mean_running_var": float(f)})
        zen = torch.log(delta) + log_bn
    return float(zen), float(delta), float(log_bn), bns


# ----------------------------------------------------------------------------------------------
# Independent re-computations (different code paths) of the ported values

def cross_checks(base, x, y, eps, P):
    res = {}

    def rel(name, a, b):
        d = abs(a - b) / max(abs(b), 1e-300)
        res[name] = d
        assert d < 1e-9, (name, a, b)

    names = ["stem_conv.weight", "block_conv.weight", "fc.weight"]
    net = copy.deepcopy(base)
    params = dict(net.named_parameters())
    ws = [params[n] for n in names]
    g = autograd.grad(F.cross_entropy(net(x), y), ws)
    rel("grad_norm", sum(float(t.norm()) for t in g), P["grad_norm"]["value"])
    rel("snip", sum(float((w * t).abs().sum()) for w, t in zip(ws, g)), P["snip"]["value"])
    rel("plain", sum(float((w * t).sum()) for w, t in zip(ws, g)), P["plain"]["value"])
    rel("l2_norm", sum(float(torch.sqrt((w * w).sum())) for w in ws), P["l2_norm"]["value"])

    # GraSP: Hessian-vector product through torch.autograd.functional.hvp
    net = copy.deepcopy(base)
    fixed = {k: v.detach() for k, v in net.named_parameters() if k not in names}

    def f(*w):
        d = dict(fixed)
        d.update(zip(names, w))
        return F.cross_entropy(torch.func.functional_call(net, d, (x,)), y)

    w0 = tuple(dict(net.named_parameters())[n].detach() for n in names)
    wr = [w.clone().requires_grad_(True) for w in w0]
    g0 = tuple(t.detach() for t in autograd.grad(f(*wr), wr))
    _, hg = torch.autograd.functional.hvp(f, w0, g0)
    rel("grasp", sum(float((-w * h).sum()) for w, h in zip(w0, hg)), P["grasp"]["value"])

    # Fisher: conv/linear outputs kept with retain_grad
    net = copy.deepcopy(base)
    zs = []

    def keep(mod, i, o):
        o.retain_grad()
        zs.append(o)

    hooks = [m.register_forward_hook(keep) for _, m in measured_layers(net)]
    F.cross_entropy(net(x), y).backward()
    tot = 0.0
    for z, (_, m) in zip(zs, measured_layers(net)):
        gz = z * z.grad
        g_nk = gz.sum(dim=(2, 3)) if gz.dim() == 4 else gz
        tot += float((0.5 * (g_nk ** 2).mean(0)).sum()) * int(np.prod(m.weight.shape[1:]))
    for h in hooks:
        h.remove()
    rel("fisher", tot, P["fisher"]["value"])

    # Jacov with eigvalsh on the symmetric correlation matrix
    net = copy.deepcopy(base)
    xr = x.clone().requires_grad_(True)
    (jac,) = autograd.grad(net(xr).sum(), [xr])
    v = np.linalg.eigvalsh(np.corrcoef(jac.reshape(jac.shape[0], -1).numpy()))
    rel("jacov", float(-np.sum(np.log(v + JAC_K) + 1.0 / (v + JAC_K))), P["jacov"]["value"])

    # NWOT via Hamming distances of the concatenated ReLU-input codes
    net = copy.deepcopy(base)
    codes = []
    for r in ("stem_relu", "block_relu", "final_relu"):
        getattr(net, r).register_forward_hook(
            lambda mod, i, o: codes.append((i[0] > 0).reshape(i[0].shape[0], -1)) and None)
    with torch.no_grad():
        net(x)
    c = torch.cat(codes, 1).double()
    ham = (c[:, None, :] != c[None, :, :]).double().sum(-1)
    rel("nwot", float(np.linalg.slogdet((c.shape[1] - ham).numpy())[1]), P["nwot"]["value"])

    # SynFlow with an explicit BN-free functional forward on |parameters|
    sd = {k: v.detach().abs().clone() for k, v in base.state_dict().items()}
    W1, W2, Wf, bf = [sd[k].requires_grad_(True) for k in
                      ("stem_conv.weight", "block_conv.weight", "fc.weight", "fc.bias")]
    h = F.relu(F.conv2d(torch.ones(1, C_IN, H, W, dtype=torch.float64), W1, padding=1))
    h = F.conv2d(F.relu(h), W2, padding=1) + F.avg_pool2d(h, 3, 1, 1) + h
    R = F.linear(F.relu(h).mean(dim=(2, 3)), Wf, bf).sum()
    gs = autograd.grad(R, [W1, W2, Wf])
    rel("synflow", sum(float((w * t).abs().sum()) for w, t in zip((W1, W2, Wf), gs)),
        P["synflow"]["value"])

    # Zen: running_var = 0.9 * (0.9 * 1 + 0.1 * v1) + 0.1 * v2 with v = unbiased batch variance
    net = copy.deepcopy(base)
    bn_in = {}
    for n in ("stem_bn", "block_bn", "final_bn"):
        getattr(net, n).register_forward_hook(
            lambda mod, i, o, n=n: bn_in.setdefault(n, []).append(i[0].detach()) and None)
    with torch.no_grad():
        f1 = net.features(x)
        f2 = net.features(x + ZEN_GAMMA * eps)
    zen = math.log(float((f1 - f2).abs().sum(dim=(1, 2, 3)).mean()))
    for n in ("stem_bn", "block_bn", "final_bn"):
        v1, v2 = [t.transpose(0, 1).reshape(t.shape[1], -1).var(dim=1, unbiased=True)
                  for t in bn_in[n]]
        rv = 0.9 * (0.9 * 1.0 + 0.1 * v1) + 0.1 * v2
        zen += math.log(math.sqrt(float(rv.mean())))
    rel("zen", zen, P["zen"]["value"])
    return res


def m_zico(net, batches):
    """AZ-NAS's port of ZiCo: weight gradients of Conv2d/Linear modules on each batch; per
    element mean |g| and std (numpy, ddof 0) over the batches; sum over layers of
    log(sum(mean_abs[std != 0] / std[std != 0])) (a zero sum is skipped)."""
    grads = {}
    for bx, by in batches:
        net.zero_grad()
        F.cross_entropy(net(bx), by).backward()
        for n, m in measured_layers(net):
            if m.weight.grad is not None:
                grads.setdefault(n, []).append(m.weight.grad.detach().reshape(-1).numpy().copy())
    total = 0.0
    for n, g in grads.items():
        g = np.array(g)
        std = np.std(g, axis=0)
        nz = np.nonzero(std)[0]
        mean_abs = np.mean(np.abs(g), axis=0)
        tmp = np.sum(mean_abs[nz] / std[nz])
        if tmp != 0:
            total += np.log(tmp)
    return float(total)


# The block outputs intrain's rule picks on tiny.onnx (cut points handed from one module scope to
# another), as functions of the module: stem_conv, stem_bn, stem_relu outputs, the block sum,
# final_bn, final_relu, gap outputs.
AZ_FEATURES = ["stem_conv", "stem_bn", "stem_relu", "block", "final_bn", "final_relu", "gap"]


def az_features(net, x):
    f0 = net.stem_conv(x)
    f1 = net.stem_bn(f0)
    f2 = net.stem_relu(f1)
    f3 = net.block_bn(net.block_conv(net.block_relu(f2))) + net.block_pool(f2) + f2
    f4 = net.final_bn(f3)
    f5 = net.final_relu(f4)
    f6 = net.gap(f5)
    return [f0, f1, f2, f3, f4, f5, f6]


def az_scores(feats, sign_of):
    """compute_az_nas_score.compute_nas_score after the forward: expressivity, progressivity and
    trainability of the block outputs `feats` (with their autograd graph); `sign_of(i, f_out)` is
    the +-1 cotangent of block output i, asked for from the last block to the first."""
    ex = []
    for f in feats:
        b, c, h, w = f.size()
        m = f.detach().permute(0, 2, 3, 1).contiguous().view(b * h * w, c)
        m = m - m.mean(dim=0, keepdim=True)
        sigma = torch.mm(m.transpose(1, 0), m) / m.size(0)
        s = torch.linalg.eigvalsh(sigma)
        p = s / s.sum()
        ex.append(float(((-p) * torch.log(p + 1e-8)).sum()))
    ex = np.array(ex)
    scores = []
    for i in reversed(range(1, len(feats))):
        g_out = sign_of(i, feats[i])
        g_in = torch.autograd.grad(feats[i], feats[i - 1], grad_outputs=g_out,
                                   retain_graph=True)[0]
        if g_out.size() == g_in.size() and torch.all(g_in == g_out):
            scores.append(-np.inf)
            continue
        if g_out.size(2) != g_in.size(2) or g_out.size(3) != g_in.size(3):
            g_in = nn.PixelUnshuffle(int(g_in.size(2) / g_out.size(2)))(g_in)
        bo, co, ho, wo = g_out.size()
        bi, ci, hi, wi = g_in.size()
        go = g_out.permute(0, 2, 3, 1).contiguous().view(bo * ho * wo, co)
        gi = g_in.permute(0, 2, 3, 1).contiguous().view(bi * hi * wi, ci)
        mat = torch.mm(gi.transpose(1, 0), go) / (bo * ho * wo)
        if mat.size(0) < mat.size(1):
            mat = mat.transpose(0, 1)
        s = float(torch.linalg.svdvals(mat).max())
        scores.append(-s - 1 / (s + 1e-6) + 2)
    return float(ex.sum()), float(np.min(ex[1:] - ex[:-1])), float(np.mean(scores)), ex.tolist()


def m_az(net, x, signs):
    """compute_az_nas_score.compute_nas_score without init_model, with fixed signs."""
    return az_scores(az_features(net, x), lambda i, _: signs[i - 1])


def vkdnw_factor(output, alpha=0.05):
    """ondratybl/VKDNW NB201/ZeroShotProxy/compute_vkdnw_score.py cholesky_covariance, in the
    output's dtype (the authors hold alpha in float16: 0.0500031; 0.05 exactly here)."""
    prob = torch.nn.functional.softmax(output, dim=1) * (1 - alpha) + alpha / output.shape[1]
    q = torch.ones_like(prob) - torch.cumsum(prob, dim=1)
    q[:, -1] = torch.zeros_like(q[:, -1])
    q_shift = torch.roll(q, shifts=1, dims=1)
    q_shift[:, 0] = torch.ones_like(q_shift[:, 0])
    d = torch.sqrt(prob * q / q_shift)
    L = -torch.matmul(torch.unsqueeze(prob, dim=2), 1 / torch.transpose(torch.unsqueeze(q, dim=2),
                                                                        dim0=1, dim1=2))
    L = torch.nan_to_num(L, neginf=0.)
    eye = torch.eye(L.shape[1], dtype=output.dtype).repeat(L.shape[0], 1, 1)
    L = L * (1 - eye) + eye
    L = L * (1 - torch.triu(torch.ones(L.shape[1], L.shape[2], dtype=output.dtype),
                            diagonal=1).repeat(L.shape[0], 1, 1))
    return torch.matmul(L, torch.diag_embed(d))


def m_vkdnw(net, x, tensors=128):
    """compute_vkdnw_score.compute_nas_score without init_model (p = 1: the first element of each
    of the first `tensors` parameter tensors), model.eval(), use_logits=False."""
    from torch.func import functional_call, jacrev, vmap
    net.eval()
    names = [k for k, _ in net.named_parameters()][:tensors]
    base = {k: v.detach() for k, v in net.named_parameters()}
    buffers = {k: v.detach() for k, v in net.named_buffers()}
    first = {k: base[k].flatten()[0:1].clone() for k in names}

    def jacobian_sample(sample):
        def predict(chosen):
            params = dict(base)
            for k, v in chosen.items():
                flat = params[k].flatten().clone()
                flat = torch.cat([v, flat[1:]])
                params[k] = flat.reshape(base[k].shape)
            return functional_call(net, (params, buffers), (sample.unsqueeze(0),)).squeeze(0)
        return jacrev(predict)(first)

    jd = vmap(jacobian_sample)(x)
    jac = torch.cat([torch.flatten(v, start_dim=2) for v in jd.values()], dim=2)
    with torch.no_grad():
        logits = net(x)
    jac = torch.matmul(vkdnw_factor(logits), jac)
    fisher = torch.mean(torch.matmul(jac.transpose(1, 2), jac), dim=0)
    lambdas = torch.svd(fisher).S
    quantiles = torch.quantile(lambdas, torch.arange(0.1, 1., 0.1, dtype=lambdas.dtype))
    temp = quantiles / (torch.linalg.norm(quantiles, ord=1).item() + 1e-10)
    net.train()
    return float(-(temp * torch.log(temp + 1e-10)).sum()), len(list(net.named_parameters()))


def meco_term(fea):
    """MeCo's hook body (HamsterMimi/MeCo correlation/NAS_Bench_201.py get_score, measure
    'meco') on a feature map (N, C, H, W): the authors' N is 1; for N > 1 the channels'
    observations are all N*H*W positions."""
    fea = fea.transpose(0, 1).reshape(fea.shape[1], -1)
    corr = torch.corrcoef(fea)
    corr[torch.isnan(corr)] = 0
    corr[torch.isinf(corr)] = 0
    return float(torch.min(torch.real(torch.linalg.eig(corr)[0])))


def m_meco(net, x1):
    """MeCo on the batch x1 (the authors': one image), train mode, over the 4-D values of tiny.onnx's nodes
    (every module's output, plus the block's two sums, which are ONNX Add nodes): stem_conv,
    stem_bn, stem_relu, block_relu, block_conv, block_bn, block_pool, the partial sum, the block
    sum, final_bn, final_relu (gap's 1x1 output has a NaN correlation, i.e. 0)."""
    with torch.no_grad():
        f0 = net.stem_conv(x1)
        f1 = net.stem_bn(f0)
        f2 = net.stem_relu(f1)
        r = net.block_relu(f2)
        c = net.block_conv(r)
        b = net.block_bn(c)
        p = net.block_pool(f2)
        s1 = b + p
        s2 = s1 + f2
        f4 = net.final_bn(s2)
        f5 = net.final_relu(f4)
    return sum(meco_term(v) for v in (f0, f1, f2, r, c, b, p, s1, s2, f4, f5))


def m_ntk(net, x):
    """AZ-NAS NB201/ZeroShotProxy/compute_te_nas_score.py get_ntk_n (train mode, one batch):
    per-sample gradients of logit[i] (backward of ones) for the parameters named 'weight';
    NTK = G G^T; condition = eig max / eig min (NaN -> 1e5)."""
    net.train()
    logit = net(x)
    grads = []
    for i in range(len(x)):
        net.zero_grad()
        logit[i:i + 1].backward(torch.ones_like(logit[i:i + 1]), retain_graph=True)
        grads.append(torch.cat([w.grad.view(-1).detach() for n, w in net.named_parameters()
                                if "weight" in n and w.grad is not None]))
    g = torch.stack(grads)
    e = torch.linalg.eigh(g @ g.t())[0]
    return float(np.nan_to_num((e[-1] / e[0]).item(), nan=100000.0))


def m_linear_regions(net, x):
    """compute_te_nas_score.compute_RN_score on the batch x: the signs of every 4-D nn.ReLU
    output, concatenated per sample; the number of distinct patterns (calc_LR)."""
    feats = []
    hooks = [m.register_forward_hook(lambda m, i, o: feats.append(o.detach()))
             for m in net.modules() if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    a = torch.sign(torch.cat([f.reshape(len(x), -1) for f in feats if f.dim() == 4], 1))
    res = a @ (1 - a).t()
    res = res + res.t()
    res = 1 - torch.sign(res)
    return float((1.0 / res.sum(1)).sum())


def export_onnx(model, path):
    model.eval()
    dummy = torch.zeros(N, C_IN, H, W)
    torch.onnx.export(model, (dummy,), path, dynamo=False, opset_version=17,
                      do_constant_folding=False, training=torch.onnx.TrainingMode.EVAL,
                      input_names=["input"], output_names=["logits"])
    model.train()
    return unshare_initializers(path)


def unshare_initializers(path):
    """Replace every `Identity(initializer)` node by its own copy of that initializer, named as
    the Identity output (the PyTorch state_dict name). The TorchScript exporter deduplicates
    equal-valued tensors (fresh BN: weight == running_var == 1, bias == running_mean == 0), so
    the raw export has only stem_bn.weight / stem_bn.bias and Identity aliases for the rest.
    Values and all other nodes are unchanged. Returns the aliases that were removed."""
    m = onnx.load(path)
    inits = {i.name: i for i in m.graph.initializer}
    keep, aliases = [], []
    for n in m.graph.node:
        if n.op_type == "Identity" and n.input[0] in inits and n.output[0] not in inits:
            t = onnx.TensorProto()
            t.CopyFrom(inits[n.input[0]])
            t.name = n.output[0]
            m.graph.initializer.append(t)
            aliases.append(n.output[0] + " <- " + n.input[0])
        else:
            keep.append(n)
    del m.graph.node[:]
    m.graph.node.extend(keep)
    # initializers in order of first use by a node
    first_use = {}
    for i, n in enumerate(keep):
        for name in n.input:
            first_use.setdefault(name, i)
    tensors = sorted(m.graph.initializer, key=lambda t: (first_use.get(t.name, len(keep)),
                                                         list(keep[first_use[t.name]].input)
                                                         .index(t.name)
                                                         if t.name in first_use else 0))
    copies = []
    for t in tensors:
        c = onnx.TensorProto()
        c.CopyFrom(t)
        copies.append(c)
    del m.graph.initializer[:]
    m.graph.initializer.extend(copies)
    onnx.save(m, path)
    return aliases


def inspect_onnx(path, model):
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    params = {k: v.detach().numpy() for k, v in model.state_dict().items()
              if not k.endswith("num_batches_tracked")}
    producers = {o: n for n in m.graph.node for o in n.output}

    def resolve(name):
        seen = []
        while name not in inits and name in producers and producers[name].op_type == "Identity":
            seen.append(name)
            name = producers[name].input[0]
        return name, seen

    node_inputs = []
    for n in m.graph.node:
        if n.op_type in ("Conv", "BatchNormalization", "Gemm", "MatMul"):
            ins = []
            for i in n.input[1:]:
                src, via = resolve(i)
                ins.append({"input": i, "initializer": src if src in inits else None,
                            "via_identity": bool(via)})
            node_inputs.append({"node": n.name, "op": n.op_type, "weights": ins,
                                "attrs": {a.name: onnx.helper.get_attribute_value(a)
                                          for a in n.attribute
                                          if a.name in ("training_mode", "epsilon", "momentum",
                                                        "transB", "count_include_pad")}})
    for n in m.graph.node:
        if n.op_type == "AveragePool":
            node_inputs.append({"node": n.name, "op": n.op_type, "attrs": {
                a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}})
    # every parameter / buffer must be reachable with its exact values
    mismatches = []
    for k, v in params.items():
        if k in inits:
            if not np.array_equal(inits[k], v):
                mismatches.append(k)
    missing = [k for k in params if k not in inits]
    return m, inits, node_inputs, mismatches, missing


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    model = Tiny()
    model.train()
    onnx_path = os.path.join(OUT, "tiny.onnx")
    raw_aliases = export_onnx(model, onnx_path)
    onnx_model, inits, node_inputs, mismatches, missing = inspect_onnx(onnx_path, model)
    assert not mismatches, mismatches
    weights_named = [k for k in ("stem_conv.weight", "block_conv.weight", "fc.weight", "fc.bias",
                                 "stem_bn.weight", "stem_bn.bias", "block_bn.weight",
                                 "block_bn.bias", "final_bn.weight", "final_bn.bias")]
    named_ok = {k: (k in inits) for k in weights_named}

    torch.manual_seed(1)
    x32 = torch.randn(N, C_IN, H, W)
    torch.manual_seed(2)
    labels = torch.randint(0, NUM_CLASSES, (N,))
    torch.manual_seed(3)
    eps32 = torch.randn(N, C_IN, H, W)
    np.save(os.path.join(OUT, "x.npy"), x32.numpy().astype(np.float32))
    np.save(os.path.join(OUT, "labels.npy"), labels.numpy().astype(np.int64))
    np.save(os.path.join(OUT, "eps.npy"), eps32.numpy().astype(np.float32))
    torch.manual_seed(4)
    x2_32 = torch.randn(N, C_IN, H, W)
    torch.manual_seed(5)
    labels2 = torch.randint(0, NUM_CLASSES, (N,))
    np.save(os.path.join(OUT, "x2.npy"), x2_32.numpy().astype(np.float32))
    np.save(os.path.join(OUT, "labels2.npy"), labels2.numpy().astype(np.int64))
    # The same batch as an images file (float (N, C, H, W) images are taken as they are).
    np.savez(os.path.join(OUT, "batch.npz"), x=x32.numpy().astype(np.float32),
             y=labels.numpy().astype(np.int64))

    # ORT check: the file is an eval-mode export -> compare with torch eval forward (float32)
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    ort_logits = sess.run(None, {"input": x32.numpy()})[0]
    ev = copy.deepcopy(model).eval()
    with torch.no_grad():
        torch_eval = ev(x32).numpy()
    ort_diff = float(np.max(np.abs(ort_logits - torch_eval)))
    print(f"ORT vs torch eval-mode logits: max |diff| = {ort_diff:.3e}")
    assert ort_diff < 1e-5

    # float64 reference model, train mode
    base = copy.deepcopy(model).double().train()
    x = x32.double()
    eps = eps32.double()
    y = labels.clone()

    net = copynet(base, True)
    logits = net(x)
    loss = float(F.cross_entropy(logits, y).item())
    train_logits = logits.detach().numpy().tolist()

    P = {}

    net = copynet(base, True)
    arr = m_grad_norm(net, x, y)
    P["grad_norm"] = {
        "value": sum_arr(arr), "per_layer": per_layer(net, arr),
        "naslib": "measures/grad_norm.py (bn=True), summed by find_measures.sum_arr",
        "definition": "sum over Conv2d/Linear modules l of ||dL/dW_l||_2 (Frobenius norm of the "
                      "weight gradient, bias excluded); L = mean cross-entropy, train-mode BN"}

    net = copynet(base, True)
    arr = m_snip(net, x, y)
    P["snip"] = {
        "value": sum_arr(arr), "per_layer": per_layer(net, arr),
        "naslib": "measures/snip.py (bn=True, mode=param)",
        "definition": "sum over Conv2d/Linear l, over elements of |W_l * dL/dW_l| (gradient "
                      "w.r.t. a multiplicative weight mask fixed at 1 = W * dL/dW)"}

    net = copynet(base, True)
    arr = m_plain(net, x, y)
    P["plain"] = {
        "value": sum_arr(arr), "per_layer": per_layer(net, arr),
        "naslib": "measures/plain.py (bn=True, mode=param)",
        "definition": "sum over Conv2d/Linear l, over elements of W_l * dL/dW_l (signed, no "
                      "abs, no minus sign)"}

    net = base  # l2_norm has copy_net=False
    arr = m_l2_norm(net)
    P["l2_norm"] = {
        "value": sum_arr(arr), "per_layer": per_layer(net, arr),
        "naslib": "measures/l2_norm.py (copy_net=False, mode=param)",
        "definition": "sum over Conv2d/Linear l of ||W_l||_2 (Frobenius norm of the weight "
                      "tensor; biases and BN excluded); data-independent"}

    net = copynet(base, True)
    ch, bc = m_fisher(net, x, y)
    fan_in = [int(np.prod(m.weight.shape[1:])) for _, m in measured_layers(net)]
    P["fisher"] = {
        "value": sum_arr(bc),
        "per_layer": per_layer(net, bc),
        "per_layer_channels": [{"module": n, "fan_in": f, "delta": c.tolist()}
                               for (n, _), c, f in zip(measured_layers(net), ch, fan_in)],
        "naslib": "measures/fisher.py (bn=True, mode=channel) + p_utils.reshape_elements",
        "definition": "z_l = output of Conv2d/Linear l before BN/bias-free add (the identity "
                      "'dummy' after F.conv2d/F.linear, bias included if any); per channel k: "
                      "Delta_k = 0.5 * mean_n (sum_{h,w} z[n,k,h,w] * dL/dz[n,k,h,w])^2 (for "
                      "Linear: 0.5*mean_n (z[n,k]*dL/dz[n,k])^2); NASLib broadcasts Delta_k to a "
                      "tensor of shape W_l.shape[1:] and sums it, so value = sum_l fan_in_l * "
                      "sum_k Delta_k with fan_in_l = prod(W_l.shape[1:])"}
    P["fisher_channel_sum"] = {
        "value": float(sum(float(c.sum()) for c in ch)),
        "per_layer": [{"module": n, "value": float(c.sum())}
                      for (n, _), c in zip(measured_layers(net), ch)],
        "definition": "sum_l sum_k Delta_k (same Delta as fisher, without the fan-in "
                      "broadcast multiplicity); NOT what NASLib reports"}

    net = copynet(base, True)
    arr = m_grasp(net, x, y)
    P["grasp"] = {
        "value": sum_arr(arr), "per_layer": per_layer(net, arr),
        "naslib": "measures/grasp.py (bn=True, mode=param, T=1, num_iters=1)",
        "definition": "g = dL/dW (pass 1, detached), Hg = d/dW [sum_l sum g_l * dL/dW_l] (pass 2 "
                      "with create_graph, double backward; train-mode BN, so batch-stat terms "
                      "are part of H); value = sum over Conv2d/Linear l, elements of "
                      "-W_l * (Hg)_l (NASLib's negated GraSP sign), T = 1"}

    net = copynet(base, True)
    jc, corrs, eigs = m_jacov(net, x)
    P["jacov"] = {
        "value": float(np.real(jc)),
        "eigenvalues": np.real(eigs).tolist(),
        "naslib": "measures/jacov.py (bn=True)",
        "definition": "J = d(sum_c logits[n,c])/dx[n] (one backward with ones_like(y)), "
                      "flattened to N x (C*H*W); R = np.corrcoef(J) (N x N); v = "
                      "np.linalg.eig(R) eigenvalues; value = -sum_i (log(v_i + k) + "
                      "1/(v_i + k)), k = 1e-5"}

    net = copynet(base, True)
    logdet, sign, K, hooked = m_nwot(net, x)
    P["nwot"] = {
        "value": float(logdet), "slogdet_sign": float(sign), "K": K.tolist(),
        "hooked_relus": hooked,
        "naslib": "measures/nwot.py (bn=True)",
        "definition": "forward hook on every module whose type string contains 'ReLU' (all "
                      "nn.ReLU; a module called twice is counted twice); c = 1[ReLU input > 0] "
                      "flattened per sample; K = sum over hook calls of c c^T + (1-c)(1-c)^T "
                      "(N x N); value = np.linalg.slogdet(K)[1] (log|det K|). Here: " +
                      ", ".join(hooked)}

    net = copynet(base, True)
    epe, n_cls, per = m_epe_nas(net, x, y)
    P["epe_nas"] = {
        "value": epe, "n_classes": n_cls, "per_class": per,
        "naslib": "measures/epe_nas.py",
        "definition": "J as in jacov (N x C*H*W); group rows by label (a class with one sample "
                      "keeps a 1-D row, whose np.corrcoef is 1.0); per class c: s_c = sum "
                      "log(|corrcoef(J_c)| + 1e-5) over all matrix entries; n_classes = "
                      "logits.shape[-1] = 5 <= 100 so value = sum_c |s_c| over classes present"}

    net = copynet(base, False)
    arr, r = m_synflow(net, (C_IN, H, W))
    syn = sum_arr(arr)
    P["synflow"] = {
        "value": syn, "log_value": math.log(syn) if syn > 0 else -math.log(-syn),
        "R": r, "per_layer": per_layer(net, arr),
        "naslib": "measures/synflow.py (registered bn=False) + zerocost.py log",
        "definition": "copy of the net with every BatchNorm forward replaced by identity "
                      "(predictive.copynet(bn=False)); net.double(); every state_dict tensor "
                      "replaced by its abs (weights and biases); input ones(1,3,8,8) float64; "
                      "R = sum(output); value = sum over Conv2d/Linear l, elements of "
                      "|W_l * dR/dW_l| (W_l the abs weights); zerocost.py reports log(value) "
                      "(-log(-value) if negative; 0 stays 0)"}

    net = copynet(base, True)
    zen, delta, log_bn, bns = m_zen(net, x, eps)
    P["zen"] = {
        "value": zen, "log_delta": math.log(delta), "delta": delta, "log_bn_scaling": log_bn,
        "bn": bns,
        "naslib": "measures/zen.py (= idstcv/ZenNAS ZeroShotProxy/compute_zen_score.py) without "
                  "network_weight_gaussian_init and with the fixture inputs",
        "definition": "train mode, no grad; f = tensor before global average pooling (final_relu "
                      "output); forward 1: f(x), forward 2: f(x + 0.01*eps), both update BN "
                      "running stats (momentum 0.1, running_var starts at 1, unbiased batch "
                      "variance over N*H*W); delta = mean_n sum_{c,h,w} |f(x) - f(x')|; value = "
                      "log(delta) + sum over BatchNorm2d modules of log(sqrt(mean_c "
                      "running_var)) after both forwards, i.e. running_var = 0.81 + 0.09*v1 + "
                      "0.1*v2"}

    net = copynet(base, True)
    P["zico"] = {
        "value": m_zico(net, [(x, y), (x2_32.double(), labels2.clone())]),
        "reference": "cvlab-yonsei/AZ-NAS NB201/ZeroShotProxy/compute_zico_score.py",
        "definition": "weight gradients of Conv2d/Linear on batch 1 (x, labels) and batch 2 "
                      "(x2, labels2), cross-entropy, train mode; per layer log sum over "
                      "elements with nonzero std of mean|g| / std(g) (over the 2 batches, "
                      "ddof 0); summed over layers"}

    net = copynet(base, True)
    with torch.no_grad():
        shapes = [f.shape for f in az_features(copy.deepcopy(net), x)]
    torch.manual_seed(6)
    signs = [(torch.bernoulli(torch.full(sh, 0.5, dtype=torch.float64)) - 0.5) * 2
             for sh in shapes[1:]]
    np.save(os.path.join(OUT, "az_signs.npy"),
            np.concatenate([t.numpy().reshape(-1) for t in signs]).astype(np.float32))
    e, pr, t, per = m_az(net, x, signs)
    P["az_expressivity"] = {"value": e, "per_block": per, "features": AZ_FEATURES,
                            "reference": "cvlab-yonsei/AZ-NAS compute_az_nas_score.py"}
    P["az_progressivity"] = {"value": pr}
    P["az_trainability"] = {"value": t}

    net = copynet(base, True)
    entropy, aleph = m_vkdnw(net, x)
    P["vkdnw"] = {"value": entropy, "tensors": aleph,
                  "reference": "ondratybl/VKDNW NB201/ZeroShotProxy/compute_vkdnw_score.py",
                  "definition": "eval mode; J = d logits / d (first element of each of the first "
                                "128 parameter tensors) per sample (vmap(jacrev)); A = L J with "
                                "the authors' factor of the smoothed softmax covariance (alpha "
                                "0.05); F = mean_n A^T A; entropy of the normalised deciles "
                                "(arange(0.1, 1, 0.1)) of F's singular values"}

    net = copynet(base, True)
    P["meco"] = {"value": m_meco(net, x),
                 "reference": "HamsterMimi/MeCo correlation/NAS_Bench_201.py get_score",
                 "definition": "the batch x (the authors use one image), train mode; per 4-D "
                               "node output of tiny.onnx: min real eigenvalue of torch.corrcoef "
                               "of the C x (N H W) feature map (NaN/inf entries 0); summed"}

    net = copynet(base, True)
    P["ntk_condition"] = {"value": m_ntk(net, x),
                          "reference": "cvlab-yonsei/AZ-NAS compute_te_nas_score.py get_ntk_n",
                          "definition": "train mode, batch x; per-sample gradients of the "
                                        "summed logits of sample i for the parameters named "
                                        "'weight'; condition number of G G^T"}
    net = copynet(base, True)
    P["linear_regions"] = {"value": m_linear_regions(net, x),
                           "definition": "distinct sign patterns of the concatenated ReLU "
                                         "outputs of the samples of x, train mode"}

    checks = cross_checks(base, x, y, eps, P)
    values = {k: v["value"] for k, v in P.items()}
    values["synflow_log"] = P["synflow"]["log_value"]
    values["loss"] = loss

    alias = [n.output[0] + " <- " + n.input[0] for n in onnx_model.graph.node
             if n.op_type == "Identity" and n.input[0] in inits]
    out = {
        "description": "float64 PyTorch reference values of NASLib zero-cost proxies on "
                       "tests/goldens/proxies/tiny.onnx; see models/scripts/proxy_goldens.py",
        "protocol": {
            "dtype": "float64 (model.double(), x.npy/eps.npy cast to float64)",
            "bn": "train mode (batch statistics) for every proxy; synflow removes BN",
            "loss": "F.cross_entropy, mean over the batch of 8, labels.npy",
            "weights": "as stored in tiny.onnx (torch.manual_seed(0); PyTorch default init), "
                       "no re-initialisation for any proxy (zen included)",
            "measured_layers": [n for n, _ in measured_layers(base)],
            "relu_modules": ["stem_relu", "block_relu", "final_relu"],
            "bn_modules": ["stem_bn", "block_bn", "final_bn"],
            "per_layer_arrays": "NASLib get_layer_metric_array order; per_layer value = "
                                "torch.sum of that layer's array",
            "naslib_commit": "automl/NASLib 0b51bc184622a98317ea1048b2daf7dd1150f243",
        },
        "values": values,
        "cross_checks_max_rel_diff": checks,
        "loss": loss,
        "train_mode_logits": train_logits,
        "proxies": P,
        "onnx": {
            "file": "tiny.onnx",
            "export": "torch.onnx.export(dynamo=False, opset_version=17, "
                      "do_constant_folding=False, training=TrainingMode.EVAL), batch 8 fixed; "
                      "then each Identity of an initializer replaced by a copy of that "
                      "initializer named as the Identity output",
            "initializers": list(inits.keys()),
            "identity_aliases_of_initializers": alias,
            "identity_aliases_in_raw_export_replaced_by_copies": raw_aliases,
            "parameter_names_present": named_ok,
            "state_dict_entries_not_initializers": missing,
            "weight_inputs": node_inputs,
            "ort_vs_torch_eval_max_abs_diff": ort_diff,
            "ort_eval_logits": ort_logits.astype(np.float64).tolist(),
        },
    }
    with open(os.path.join(OUT, "values.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    for k, v in values.items():
        print(f"{k:20s} {v!r}")
    print("initializers:", list(inits.keys()))
    print("raw-export Identity aliases replaced by initializer copies:", len(raw_aliases))
    assert not alias and not missing
    print("tiny.onnx bytes:", os.path.getsize(onnx_path))


if __name__ == "__main__":
    main()
