"""Area attention (paper Sec. 3.2): self-attention inside ``area`` equal horizontal strips of a feature map."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from ultralytics.nn.modules.conv import Conv

from .backends import attend, exporting
from .portable import portable_area_attention

__all__ = ["AAttn", "LAYOUTS", "AttnLayout", "LayoutError", "match_layout"]


@dataclass(frozen=True)
class AttnLayout:
    """How one YOLOv12 code base lays out AAttn's weights (the names are part of every checkpoint)."""

    fused_qkv: bool  # one ``qkv`` conv with q, k, v interleaved per head; else ``qk`` (q then k) and ``v``
    pe_kernel: int  # depthwise position-perceiver kernel size
    pe_bias: bool  # the position perceiver's conv carries a bias


LAYOUTS = {
    "v1.0": AttnLayout(fused_qkv=True, pe_kernel=7, pe_bias=True),  # official v1.0 (the paper)
    "ultralytics": AttnLayout(fused_qkv=True, pe_kernel=7, pe_bias=False),  # Ultralytics' YOLO12
    "turbo": AttnLayout(fused_qkv=False, pe_kernel=5, pe_bias=False),  # official turbo
}
KNOWN_LAYOUTS = "v1.0 (qkv + 7x7 pe with bias), ultralytics (qkv + 7x7 pe without bias), turbo (qk + v + 5x5 pe)"


class LayoutError(ValueError):
    """AAttn weights in none of the layouts of ``LAYOUTS``."""


def match_layout(fused_qkv: bool, pe_kernel: int, pe_bias: bool) -> str:
    """Return the name of the layout with these properties; raise :class:`LayoutError` naming what was found."""
    found = AttnLayout(bool(fused_qkv), int(pe_kernel), bool(pe_bias))
    for name, spec in LAYOUTS.items():
        if spec == found:
            return name
    proj = "qkv" if fused_qkv else "qk + v"
    raise LayoutError(
        f"AAttn weights in an unknown layout: {proj} projections with a {pe_kernel}x{pe_kernel} position perceiver "
        f"{'with' if pe_bias else 'without'} bias. Known layouts: {KNOWN_LAYOUTS}"
    )


class AAttn(nn.Module):
    """Area attention with a depthwise position perceiver.

    The ``H*W`` tokens (row-major) are cut into ``area`` equal consecutive runs, i.e. horizontal strips, and multi-head
    softmax attention runs inside each strip; no positional encoding. A depthwise conv on ``v`` (the position perceiver)
    is added to the attention output before the 1x1 output projection: ``proj(attention(q, k, v) + pe(v))``.

    Args:
        dim (int): Channels in and out; must be divisible by ``num_heads``.
        num_heads (int): Attention heads.
        area (int): Strips per feature map (1 = global attention). ``H*W`` must be divisible by it.
        layout (str): Weight layout, a key of ``LAYOUTS``: "v1.0", "ultralytics" or "turbo".

    Attributes:
        qkv (Conv): 1x1 projection to q, k, v, head-interleaved (fused layouts).
        qk (Conv), v (Conv): 1x1 projections to q|k and to v (turbo layout).
        proj (Conv): 1x1 output projection.
        pe (Conv): Depthwise position-perceiver conv on ``v``.
        backend (str | None): Attention kernel for this module; None follows ``ultra_yolov12.set_backend``.

    Shape:
        Input ``(B, dim, H, W)``, output ``(B, dim, H, W)``.

    Examples:
        >>> attn = AAttn(dim=128, num_heads=4, area=4)
        >>> attn(torch.randn(2, 128, 16, 16)).shape
        torch.Size([2, 128, 16, 16])
    """

    def __init__(self, dim: int, num_heads: int, area: int = 1, layout: str = "v1.0"):
        super().__init__()
        if num_heads < 1 or dim % num_heads:
            raise ValueError(f"AAttn: dim={dim} must be a positive multiple of num_heads={num_heads}")
        if int(area) != area or area < 1:
            raise ValueError(f"AAttn: area must be a positive integer, got {area}")
        if layout not in LAYOUTS:
            raise ValueError(f"AAttn: unknown layout '{layout}', choose one of {', '.join(LAYOUTS)}")
        spec = LAYOUTS[layout]
        self.layout, self.area, self.num_heads, self.head_dim = layout, int(area), num_heads, dim // num_heads
        self.backend = None
        if spec.fused_qkv:
            self.qkv = Conv(dim, 3 * dim, 1, act=False)
        else:
            self.qk = Conv(dim, 2 * dim, 1, act=False)
            self.v = Conv(dim, dim, 1, act=False)
        self.proj = Conv(dim, dim, 1, act=False)
        k = spec.pe_kernel
        if spec.pe_bias:
            # Ultralytics' Conv has no bias argument: build it without drawing from the random stream, then give it
            # the conv the official code builds (one Conv2d with a bias), so seeded initial weights equal the official
            with torch.random.fork_rng(devices=[]):
                self.pe = Conv(dim, dim, k, 1, k // 2, g=dim, act=False)
            self.pe.conv = nn.Conv2d(dim, dim, k, 1, k // 2, groups=dim, bias=True)
        else:
            self.pe = Conv(dim, dim, k, 1, k // 2, g=dim, act=False)

    def __setstate__(self, state: dict) -> None:
        """Accept pickles from every YOLOv12 code base: the layout is read from which weights are present."""
        super().__setstate__(state)
        mods = self._modules
        pe = mods.get("pe")
        conv = getattr(pe, "conv", None)
        if ("qkv" in mods) == ("qk" in mods and "v" in mods) or not isinstance(conv, nn.Conv2d) or "proj" not in mods:
            raise LayoutError(
                f"AAttn weights in an unknown layout: sub-modules {', '.join(mods) or 'none'}. Known layouts: "
                f"{KNOWN_LAYOUTS}"
            )
        fused_qkv, kernel = "qkv" in mods, conv.kernel_size[0]
        if "bn" in pe._modules:
            self.layout = match_layout(fused_qkv, kernel, conv.bias is not None)
        else:  # Ultralytics' fuse() folded BatchNorm into the conv, which now has a bias whatever the layout
            fits = [n for n, spec in LAYOUTS.items() if (spec.fused_qkv, spec.pe_kernel) == (fused_qkv, kernel)]
            if not fits:
                match_layout(fused_qkv, kernel, True)  # raises, naming what was found
            self.layout = self.__dict__.get("layout") if self.__dict__.get("layout") in fits else fits[0]
        self.head_dim = self.__dict__.get("head_dim") or self.proj.conv.in_channels // self.num_heads
        self.__dict__.setdefault("backend", None)

    def qkv_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Project ``x`` to per-strip q, k, v and return them with ``v`` as an image.

        Args:
            x (torch.Tensor): ``(B, dim, H, W)``, best channels-last (the projections then stay channels-last, so
                q, k and v are strided views of them, never copies).

        Returns:
            (tuple): q, k, v of shape ``(B * area, H * W // area, heads, head_dim)`` and ``v`` as ``(B, dim, H, W)``.
        """
        b, c, h, w = x.shape
        a, heads, d = self.area, self.num_heads, self.head_dim
        if hasattr(self, "qkv"):  # per token: heads x [q | k | v], head_dim channels each
            t = self.qkv(x).permute(0, 2, 3, 1).reshape(b * a, h * w // a, heads, 3 * d)
            q, k, v = t.split(d, dim=3)
            return q, k, v, v.reshape(b, h, w, c).permute(0, 3, 1, 2)
        t = self.qk(x).permute(0, 2, 3, 1).reshape(b * a, h * w // a, 2, heads, d)  # per token: [q | k], heads each
        v_img = self.v(x)
        v = v_img.permute(0, 2, 3, 1).reshape(b * a, h * w // a, heads, d)
        return t[:, :, 0], t[:, :, 1], v, v_img

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply area attention to ``x`` of shape ``(B, C, H, W)``; the output has the input's memory format.

        Everything runs channels-last: each token's channels are then adjacent, so the per-strip, per-head q/k/v are
        plain strided views that every attention backend takes without a copy, and the fused kernels write their
        output straight back into an image.
        """
        b, c, h, w = x.shape
        n, a = h * w, self.area
        if n % a:
            raise ValueError(
                f"AAttn: {h}x{w}={n} tokens cannot be cut into area={a} equal strips; "
                f"use an input size whose feature maps have H*W divisible by {a} (any multiple of 32 does at area 4)"
            )
        if exporting():  # converters get plain 4-D MatMul/Softmax/Conv instead of strided channels-last views
            return portable_area_attention(self, x)
        nchw = not x.is_contiguous(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
        q, k, v, v_img = self.qkv_heads(x)
        y = attend(q, k, v, self.backend).reshape(b, h, w, c).permute(0, 3, 1, 2)
        y = self.proj(y + self.pe(v_img) if torch.is_grad_enabled() else y.add_(self.pe(v_img)))
        return y.contiguous() if nchw else y
