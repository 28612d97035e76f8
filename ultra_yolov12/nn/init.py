"""Weight initialisation of the area-attention blocks, drawn as each YOLOv12 code base draws it.

Every conv weight inside an ``ABlock`` is redrawn from a normal distribution with std 0.02 truncated to [-2, 2], and
every conv bias is zeroed. Two samplers of that distribution are in use, and a seeded model reproduces the code base
it comes from only with the same one:

- ``trunc_normal_cdf_``: uniform draws in CDF space mapped through ``erfinv`` (inverse-CDF sampling). The official
  YOLOv12 v1.0 code draws this way on every torch: its seeded initial weights and training losses match this sampler
  under torch 2.14, where ``nn.init.trunc_normal_`` no longer does (``tests/test_official.py``).
- ``nn.init.trunc_normal_``: PyTorch's own, which is inverse-CDF sampling up to torch 2.11 and rejection sampling from
  normal draws since torch 2.12. The official turbo code and Ultralytics' YOLO12 call it, so their draws follow the
  installed torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

__all__ = ["WEIGHT_INIT", "init_ablock_conv", "trunc_normal_cdf_"]


def trunc_normal_cdf_(tensor: torch.Tensor, std: float = 1.0, a: float = -2.0, b: float = 2.0) -> torch.Tensor:
    """Fill ``tensor`` in place with N(0, std²) truncated to [a, b] by inverse-CDF sampling; return it.

    One uniform draw per element, whatever the torch version, so the random stream is consumed as the official v1.0
    code consumes it.
    """

    def cdf(x: float) -> float:
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    with torch.no_grad():
        tensor.uniform_(2 * cdf(a / std) - 1, 2 * cdf(b / std) - 1)  # uniform in erf space
        tensor.erfinv_().mul_(std * math.sqrt(2.0))
        return tensor.clamp_(min=a, max=b)


# layout (see attention.LAYOUTS) -> the sampler its code base draws ABlock conv weights with
WEIGHT_INIT: dict[str, Callable[..., torch.Tensor]] = {
    "v1.0": trunc_normal_cdf_,
    "ultralytics": nn.init.trunc_normal_,
    "turbo": nn.init.trunc_normal_,
}


def init_ablock_conv(m: nn.Module, layout: str) -> None:
    """Draw the weight of ``m`` (if it is a ``Conv2d``) with ``layout``'s sampler, std 0.02, and zero its bias."""
    if isinstance(m, nn.Conv2d):
        WEIGHT_INIT[layout](m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
