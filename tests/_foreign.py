"""Checkpoints as the other YOLOv12 code bases write them, built without those code bases.

Stand-ins for ``AAttn``/``ABlock``/``A2C2f`` with exactly the attributes and weight shapes of the originals (official
v1.0, official turbo, Ultralytics' YOLO12), each with a plainly written forward (area attention as loops over images,
strips and heads with the softmax spelled out), and a writer that pickles them under the originals' module path
(``ultralytics.nn.modules.block``) inside the dict Ultralytics saves, the model in half precision.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import math
import re
from pathlib import Path

import torch
import ultralytics
from torch import nn
from ultralytics.nn.modules import block as ul_block
from ultralytics.nn.modules.block import C3k
from ultralytics.nn.modules.conv import Conv
from ultralytics.nn.tasks import DetectionModel

from ultra_yolov12.nn import A2C2f as PluginA2C2f

BLOCK = "ultralytics.nn.modules.block"
PLUGIN_KEYS = ("plugin", "a2c2f_scale_args")
BN_SCALE = (0.7, 1.2)  # other BatchNorm scales: activations neither die out nor blow up through the 23 layers


def _named(name: str):
    """Give a stand-in class the module path and name its original pickles under."""

    def deco(cls):
        cls.__module__, cls.__qualname__, cls.__name__ = BLOCK, name, name
        cls.stand_in = True
        return cls

    return deco


def naive_area_attention(q, k, v, area: int) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v inside each of ``area`` runs of tokens; q, k, v and the result: (B, heads, d, N)."""
    b, heads, d, n = q.shape
    out = torch.zeros_like(v)
    run = n // area
    for i in range(b):
        for s in range(area):
            tokens = slice(s * run, (s + 1) * run)
            for h in range(heads):
                qs, ks, vs = q[i, h, :, tokens].T, k[i, h, :, tokens].T, v[i, h, :, tokens].T  # (run, d)
                scores = qs @ ks.T / math.sqrt(d)  # (run, run)
                scores = scores - scores.max(dim=1, keepdim=True).values
                weights = scores.exp()
                weights = weights / weights.sum(dim=1, keepdim=True)
                out[i, h, :, tokens] = (weights @ vs).T
    return out


class _Attn(nn.Module):
    def heads(self, x):  # -> q, k, v as (B, heads, d, N) and v as an image
        raise NotImplementedError

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v, v_img = self.heads(x)
        y = naive_area_attention(q, k, v, self.area).reshape(b, c, h, w)
        return self.proj(y + self.pe(v_img))


@_named("AAttn")
class V10AAttn(_Attn):
    """Official v1.0: ``qkv`` (per token, per head: q, k, v), 7x7 depthwise ``pe`` whose conv has a bias."""

    def __init__(self, dim, num_heads, area=1):
        super().__init__()
        self.area, self.num_heads, self.head_dim = area, num_heads, dim // num_heads
        self.qkv = Conv(dim, 3 * dim, 1, act=False)
        self.proj = Conv(dim, dim, 1, act=False)
        self.pe = Conv(dim, dim, 7, 1, 3, g=dim, act=False)
        self.pe.conv = nn.Conv2d(dim, dim, 7, 1, 3, groups=dim, bias=True)

    def heads(self, x):
        b, c, h, w = x.shape
        t = self.qkv(x).reshape(b, self.num_heads, 3, self.head_dim, h * w)
        return t[:, :, 0], t[:, :, 1], t[:, :, 2], t[:, :, 2].reshape(b, c, h, w)


@_named("AAttn")
class YOLO12AAttn(V10AAttn):
    """Ultralytics' YOLO12: as v1.0 without the ``pe`` conv bias (and with an ``all_head_dim`` attribute)."""

    def __init__(self, dim, num_heads, area=1):
        super().__init__(dim, num_heads, area)
        self.all_head_dim = dim
        self.pe = Conv(dim, dim, 7, 1, 3, g=dim, act=False)


@_named("AAttn")
class TurboAAttn(_Attn):
    """Official turbo: ``qk`` (all of q, then all of k), ``v``, 5x5 depthwise ``pe`` on v, no bias."""

    def __init__(self, dim, num_heads, area=1):
        super().__init__()
        self.area, self.num_heads, self.head_dim = area, num_heads, dim // num_heads
        self.qk = Conv(dim, 2 * dim, 1, act=False)
        self.v = Conv(dim, dim, 1, act=False)
        self.proj = Conv(dim, dim, 1, act=False)
        self.pe = Conv(dim, dim, 5, 1, 2, g=dim, act=False)

    def heads(self, x):
        b, c, h, w = x.shape
        t = self.qk(x).reshape(b, 2, self.num_heads, self.head_dim, h * w)
        v_img = self.v(x)
        return t[:, 0], t[:, 1], v_img.reshape(b, self.num_heads, self.head_dim, h * w), v_img


ATTENTION = {"v1.0": V10AAttn, "ultralytics": YOLO12AAttn, "turbo": TurboAAttn}


@_named("ABlock")
class RefABlock(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio, area, attn_cls):
        super().__init__()
        self.attn = attn_cls(dim, num_heads, area)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(Conv(dim, hidden, 1), Conv(hidden, dim, 1, act=False))

    def forward(self, x):
        x = x + self.attn(x)
        return x + self.mlp(x)


@_named("A2C2f")
class RefA2C2f(nn.Module):
    def __init__(self, c1, c2, n, a2, area, residual, mlp_ratio, attn_cls, e=0.5, g=1, shortcut=True):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv((1 + n) * c_, c2, 1)
        self.gamma = nn.Parameter(0.01 * torch.ones(c2)) if a2 and residual else None
        self.m = nn.ModuleList(
            nn.Sequential(*(RefABlock(c_, c_ // 32, mlp_ratio, area, attn_cls) for _ in range(2)))
            if a2
            else C3k(c_, c_, 2, shortcut, g)
            for _ in range(n)
        )

    def forward(self, x):
        ys = [self.cv1(x)]
        for stage in self.m:
            ys.append(stage(ys[-1]))
        y = self.cv2(torch.cat(ys, 1))
        return y if self.gamma is None else x + self.gamma.view(1, -1, 1, 1) * y


STAND_INS = (RefA2C2f, RefABlock)


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial weights everywhere (BN statistics, conv biases, residual gammas) that keep activations O(1).

    Convs get variance-preserving weights; the BatchNorms of q/k get large scales so that attention is sharp (far
    from uniform, so that a wrong attention shows in the output), the one that ends the MLP branch a small one so that
    stacked blocks do not blow activations up.
    """
    g = torch.Generator().manual_seed(seed)
    mods = list(model.modules())
    branch_ends = {id(m.mlp[1].bn) for m in mods if hasattr(m, "mlp") and hasattr(m.mlp[1], "bn")}
    sharp = {}  # BN of q/k projections -> channels that hold q or k
    for m in mods:
        if type(m).__name__ == "AAttn":
            if hasattr(m, "qk"):
                sharp[id(m.qk.bn)] = torch.ones(m.qk.bn.num_features, dtype=torch.bool)
            else:  # qkv: per head, head_dim channels each of q, k, v
                sharp[id(m.qkv.bn)] = (torch.arange(m.qkv.bn.num_features) % (3 * m.head_dim)) < 2 * m.head_dim
    with torch.no_grad():
        for m in mods:
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                low, high = (0.1, 0.3) if id(m) in branch_ends else BN_SCALE
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) * (high - low) + low)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)
                if id(m) in sharp:  # sharp attention, far from uniform, so that a wrong one shows in the output
                    qk = sharp[id(m)]
                    m.running_var[qk] = torch.rand(int(qk.sum()), generator=g) * 0.04 + 0.01
                    m.weight[qk] = torch.rand(int(qk.sum()), generator=g) + 1.0
            elif isinstance(m, nn.Conv2d):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * math.sqrt(1.0 / m.weight[0].numel()))
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.5)
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.copy_(torch.rand(p.shape, generator=g) * 0.4 + 0.1)
    return model


def official_yaml(d: dict, yaml_file: str) -> dict:
    """The model dict as the official code / Ultralytics store it: no plugin keys, every R-ELAN row named A2C2f."""
    d = copy.deepcopy(d)
    for k in PLUGIN_KEYS:
        d.pop(k, None)
    for row in d["backbone"] + d["head"]:
        if row[2].startswith("A2C2f"):
            row[2] = "A2C2f"
    d["yaml_file"] = yaml_file
    return d


def foreign_model(layout: str, scale: str = "n", seed: int = 0) -> DetectionModel:
    """A DetectionModel whose R-ELAN blocks are stand-ins of ``layout``'s code base, weights random, fp16-exact."""
    cfg = f"yolov12{scale}{'-turbo' if layout == 'turbo' else ''}.yaml"
    torch.manual_seed(seed)
    model = DetectionModel(cfg, verbose=False)
    for i, m in enumerate(model.model):
        if not isinstance(m, PluginA2C2f):
            continue
        a2 = isinstance(m.m[0], nn.Sequential)
        c_ = m.cv1.conv.out_channels
        area = m.m[0][0].attn.area if a2 else 1
        mlp = m.m[0][0].mlp[0].conv.out_channels / c_ if a2 else 2.0
        ref = RefA2C2f(m.cv1.conv.in_channels, m.cv2.conv.out_channels, len(m.m), a2, area, m.gamma is not None, mlp,
                       ATTENTION[layout])  # fmt: skip
        ref.i, ref.f, ref.type, ref.np = m.i, m.f, "A2C2f", sum(p.numel() for p in ref.parameters())
        model.model[i] = ref
    for m in model.modules():  # as Ultralytics' initialize_weights leaves every BatchNorm of a model it builds
        if isinstance(m, nn.BatchNorm2d):
            m.eps, m.momentum = 1e-3, 0.03
    model.yaml = official_yaml(model.yaml, f"yolo12{scale}.yaml" if layout == "ultralytics" else cfg)
    randomize(model, seed)
    return model.half().float().eval()  # the weights a half-precision checkpoint can hold


@contextlib.contextmanager
def pickled_as_originals(*classes: type):
    """Let ``classes`` be found as ``ultralytics.nn.modules.block.<name>`` while pickling (and put back what was)."""
    saved = {c.__qualname__: ul_block.__dict__.get(c.__qualname__) for c in classes}
    try:
        for c in classes:
            setattr(ul_block, c.__qualname__, c)
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                delattr(ul_block, name)
            else:
                setattr(ul_block, name, old)


def save_checkpoint(model: nn.Module, path: Path, last: bool = False, version: str = "8.3.63") -> Path:
    """Write ``model`` in Ultralytics' checkpoint format: ``best.pt`` style, or ``last.pt`` style (EMA + optimizer)."""
    half = copy.deepcopy(model).half()
    for p in half.parameters():
        p.requires_grad_(False)
    ckpt = {
        "date": datetime.datetime.now().isoformat(),
        "version": version,
        "license": "AGPL-3.0 License (https://ultralytics.com/license)",
        "docs": "https://docs.ultralytics.com",
        "epoch": 3 if last else -1,
        "best_fitness": None,
        "model": half,
        "ema": copy.deepcopy(half) if last else None,
        "updates": 12 if last else None,
        "optimizer": {"state": {}, "param_groups": [{"lr": 0.01, "params": [0]}]} if last else None,
        "train_args": {
            "task": "detect",
            "mode": "train",
            "model": model.yaml.get("yaml_file"),
            "data": "coco.yaml",
            "imgsz": 640,
            "epochs": 600,
            "batch": 256,
            "single_cls": False,
        },  # fmt: skip
        "train_metrics": {"metrics/mAP50-95(B)": 0.0},
        "train_results": None,
    }
    classes = {type(m) for m in model.modules() if getattr(type(m), "stand_in", False)}
    if len({c.__qualname__ for c in classes}) != len(classes):
        raise ValueError(f"one model cannot hold two stand-ins of one name: {classes}")
    with pickled_as_originals(*classes):
        torch.save(ckpt, path)
    return path


@_named("AAttn")
class OddAAttn(TurboAAttn):
    """No code base's layout: turbo projections with a 7x7 position perceiver."""

    def __init__(self, dim, num_heads, area=1):
        super().__init__(dim, num_heads, area)
        self.pe = Conv(dim, dim, 7, 1, 3, g=dim, act=False)


def ultralytics_save(model, path: Path) -> Path:
    """Ultralytics' own ``YOLO.save``; 8.3.0's needs a checkpoint dict to update, which a model built from a YAML
    lacks."""
    model.ckpt = model.ckpt or {}
    model.save(path)
    return path


def ultralytics_version() -> tuple[int, ...]:
    return tuple(int(re.match(r"\d*", p).group() or 0) for p in ultralytics.__version__.split(".")[:3])
