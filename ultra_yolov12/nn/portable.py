"""Area attention written for converters: the graph :class:`~ultra_yolov12.nn.AAttn` exports.

Training and eager inference run AAttn channels-last with strided per-head views (fast in PyTorch, see
``attention.py``), which traces to 5-D reshapes (turbo layout), batch-folded areas and splits of channels-last views.
Converters and NPU compilers (pnnx/NCNN, MNN, onnx2tf, x2paddle, RKNN, ...) handle those badly or not at all. This
formulation computes the same function with what every converter takes:

- every tensor is 4-D with the batch left alone in dim 0 (NCNN and most NPUs have no batch axis to fold into);
- q, k and v are cut out of the NCHW projection by slicing whole channel blocks (no channels-last views);
- areas and heads share dim 1 through a transpose of the last two dims and a reshape, so attention is one batched
  MatMul, a Softmax over the last axis and one more MatMul;
- the position perceiver and the projections stay the module's own Conv layers.

Shapes, with ``n = H*W`` tokens cut into ``a = area`` runs of ``L = n / a``:
``(B, C, H, W) -> (B, heads, d, n) -> (B, heads, n, d) -> (B, heads*a, L, d)`` for q, k, v; attention on
``(B, heads*a, L, L)``; back through ``(B, heads, n, d) -> (B, heads, d, n) -> (B, C, H, W)``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["portable_area_attention"]


def portable_area_attention(attn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply an AAttn module to ``x`` with 4-D MatMul/Softmax/Conv/Reshape/Transpose ops only.

    Args:
        attn (nn.Module): An :class:`~ultra_yolov12.nn.AAttn` in any layout (``qkv``, or ``qk`` + ``v``), fused or not.
        x (torch.Tensor): ``(B, C, H, W)`` with ``H*W`` divisible by ``attn.area``.

    Returns:
        (torch.Tensor): ``(B, C, H, W)``, equal to ``attn(x)`` up to float rounding.

    Examples:
        >>> from ultra_yolov12.nn import AAttn
        >>> m = AAttn(dim=64, num_heads=2, area=4).eval()
        >>> x = torch.randn(1, 64, 8, 8)
        >>> torch.allclose(portable_area_attention(m, x), m(x), atol=1e-5)
        True
    """
    b, c, h, w = x.shape
    a, heads, d = attn.area, attn.num_heads, attn.head_dim
    n = h * w
    if hasattr(attn, "qkv"):  # channels per head: [q | k | v], d each, so one reshape exposes them as dim-2 blocks
        t = attn.qkv(x).reshape(b, heads, 3 * d, n)
        q, k, v = t[:, :, :d], t[:, :, d : 2 * d], t[:, :, 2 * d :]
        v_img = v.reshape(b, c, h, w)
    else:  # turbo: qk holds all q channels, then all k channels, each head-major
        t = attn.qk(x).reshape(b, 2 * heads, d, n)
        q, k = t[:, :heads], t[:, heads:]
        v_img = attn.v(x)
        v = v_img.reshape(b, heads, d, n)

    def tokens(z: torch.Tensor) -> torch.Tensor:  # (B, heads, d, n) -> (B, heads*a, L, d): one run of tokens per row
        return z.transpose(2, 3).reshape(b, heads * a, n // a, d)

    scores = (tokens(q) * d**-0.5) @ tokens(k).transpose(2, 3)  # (B, heads*a, L, L)
    y = scores.softmax(dim=-1) @ tokens(v)  # (B, heads*a, L, d)
    y = y.reshape(b, heads, n, d).transpose(2, 3).reshape(b, c, h, w)
    return attn.proj(y + attn.pe(v_img))
