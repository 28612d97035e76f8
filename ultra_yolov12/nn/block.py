"""R-ELAN (paper Sec. 3.3): the area-attention block and the residual efficient layer aggregation network."""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from ultralytics.nn.modules.block import C3k
from ultralytics.nn.modules.conv import Conv

from .attention import AAttn
from .backends import exporting
from .init import init_ablock_conv

__all__ = ["A2C2f", "A2C2fTurbo", "A2C2fUltralytics", "ABlock", "conv_silu_inplace"]


def conv_silu_inplace(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``m(x)`` for an Ultralytics ``Conv``, with its SiLU applied in place when nothing needs the SiLU's input.

    Inference only: the activation overwrites the conv's fresh output instead of allocating one more map, which on CPU
    costs page faults on every call (measured: 1x1 conv + SiLU on ``(8, 128, 40, 40)`` 4.8 ms out of place, 1.8 ms in
    place). Training, TorchScript and ONNX tracing, and other activations run the module's own forward.
    """
    if torch.is_grad_enabled() or exporting() or type(m.act) is not nn.SiLU:
        return m(x)
    y = m.conv(x)
    if hasattr(m, "bn"):  # Ultralytics' fuse() deletes it
        y = m.bn(y)
    return F.silu(y, inplace=True)


class ABlock(nn.Module):
    """Area-attention block: ``x + attn(x)``, then ``x + mlp(x)`` with a 1x1-conv MLP.

    Args:
        dim (int): Channels in and out.
        num_heads (int): Attention heads.
        mlp_ratio (float): MLP hidden width as a multiple of ``dim``.
        area (int): Area-attention strips.
        layout (str): AAttn weight layout ("v1.0", "ultralytics" or "turbo").

    Attributes:
        attn (AAttn): Area attention.
        mlp (nn.Sequential): Conv ``dim -> dim*mlp_ratio`` with SiLU, then Conv back without activation.

    Shape:
        Input ``(B, dim, H, W)``, output ``(B, dim, H, W)``.

    Examples:
        >>> block = ABlock(dim=64, num_heads=2, mlp_ratio=2.0, area=4)
        >>> block(torch.randn(1, 64, 8, 8)).shape
        torch.Size([1, 64, 8, 8])
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 1.2, area: int = 1, layout: str = "v1.0"):
        super().__init__()
        self.attn = AAttn(dim, num_heads=num_heads, area=area, layout=layout)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(Conv(dim, hidden, 1), Conv(hidden, dim, 1, act=False))
        self.apply(partial(init_ablock_conv, layout=layout))  # the draws of the layout's code base (see .init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply attention and MLP, both residual; runs channels-last, returns the input's memory format."""
        nchw = not x.is_contiguous(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
        # Autograd may keep the branch outputs: no in-place adds. Exports take this branch too: tracers re-trace under
        # no_grad to check the graph (pnnx, hence NCNN), and a grad-dependent branch made the two traces differ.
        if torch.is_grad_enabled() or exporting():
            x = x + self.attn(x)
            x = x + self.mlp(x)
        else:  # inference: add into the fresh branch outputs instead of allocating two more maps
            x = self.attn(x).add_(x)
            x = self.mlp[1](conv_silu_inplace(self.mlp[0], x)).add_(x)
        return x.contiguous() if nchw else x


class A2C2f(nn.Module):
    """R-ELAN: residual efficient layer aggregation with area-attention (or C3k) stages.

    A 1x1 transition conv to ``c_ = int(c2 * e)`` channels, ``n`` stages applied in sequence (each two ABlocks, or one
    C3k when ``a2`` is False), the concatenation of the transition output and every stage output, and a 1x1 fuse conv.
    With ``a2`` and ``residual`` the block returns ``x + gamma * y``, ``gamma`` a learnable per-channel scale
    initialised to 0.01 (needs ``c1 == c2``).

    Args:
        c1 (int): Input channels.
        c2 (int): Output channels.
        n (int): Stages.
        a2 (bool): Area-attention stages (True) or C3k stages (False).
        area (int): Area-attention strips (unused for C3k stages).
        residual (bool): Scaled residual shortcut (used with ``a2`` only).
        mlp_ratio (float): ABlock MLP ratio.
        e (float): Hidden-width ratio; ``int(c2 * e)`` must be a multiple of 32 (heads = ``c_ // 32``).
        g (int): Groups of the C3k convs.
        shortcut (bool): Shortcuts inside C3k.
        layout (str | None): AAttn weight layout; None uses the class attribute ``layout``.

    Attributes:
        cv1 (Conv): Transition conv ``c1 -> c_``.
        cv2 (Conv): Fuse conv ``(1 + n) * c_ -> c2``.
        gamma (nn.Parameter | None): Residual scale, shape ``(c2,)``.
        m (nn.ModuleList): The stages.

    Shape:
        Input ``(B, c1, H, W)``, output ``(B, c2, H, W)``.

    Examples:
        >>> block = A2C2f(128, 128, n=1, a2=True, area=4, residual=True)
        >>> block(torch.randn(1, 128, 16, 16)).shape
        torch.Size([1, 128, 16, 16])
    """

    layout = "v1.0"

    def __init__(
        self,
        c1: int,
        c2: int,
        n: int = 1,
        a2: bool = True,
        area: int = 1,
        residual: bool = False,
        mlp_ratio: float = 2.0,
        e: float = 0.5,
        g: int = 1,
        shortcut: bool = True,
        layout: str | None = None,
    ):
        super().__init__()
        c_ = int(c2 * e)
        if a2 and (c_ < 32 or c_ % 32):
            raise ValueError(
                f"A2C2f(c1={c1}, c2={c2}, e={e}): hidden width int(c2*e)={c_} must be a positive multiple of 32 "
                f"(one attention head per 32 channels); change c2 or e"
            )
        if a2 and residual and c1 != c2:
            raise ValueError(f"A2C2f(c1={c1}, c2={c2}): the residual shortcut needs c1 == c2")
        layout = layout or self.layout
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv((1 + n) * c_, c2, 1)
        self.gamma = nn.Parameter(0.01 * torch.ones(c2)) if a2 and residual else None
        self.m = nn.ModuleList(
            nn.Sequential(*(ABlock(c_, c_ // 32, mlp_ratio, area, layout) for _ in range(2)))
            if a2
            else C3k(c_, c_, 2, shortcut, g)
            for _ in range(n)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the stages, fuse their concatenation and apply the optional scaled residual."""
        attention = len(self.m) > 0 and isinstance(self.m[0], nn.Sequential)  # ABlock stages (C3k otherwise)
        nchw = attention and not x.is_contiguous(memory_format=torch.channels_last)
        if nchw:  # area attention runs channels-last (see AAttn.forward): convert once, for the whole block
            x = x.contiguous(memory_format=torch.channels_last)
        y = [conv_silu_inplace(self.cv1, x)]
        for m in self.m:
            y.append(m(y[-1]))
        y = conv_silu_inplace(self.cv2, torch.cat(y, 1))
        if self.gamma is not None:
            y = x + self.gamma.view(1, -1, 1, 1) * y
        return y.contiguous() if nchw else y


class A2C2fTurbo(A2C2f):
    """A2C2f whose attention uses the official turbo layout (``qk`` + ``v`` projections, 5x5 position perceiver)."""

    layout = "turbo"


class A2C2fUltralytics(A2C2f):
    """A2C2f whose attention uses Ultralytics' YOLO12 layout (``qkv`` projection, 7x7 position perceiver, no bias)."""

    layout = "ultralytics"
