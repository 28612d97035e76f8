"""Conv + BatchNorm + SiLU training with one activation map fewer kept for backward (CPU, float32).

Autograd keeps, per ``Conv`` block, the conv output (BatchNorm's input) *and* the BatchNorm output (SiLU's input).
:class:`BatchNormSiLU` keeps only the first: backward recomputes the BatchNorm output from it with the same kernel,
then runs the same backward kernels autograd runs (``silu_backward``, ``native_batch_norm_backward``), so gradients
are bit-identical while a YOLOv12 model keeps about a quarter fewer bytes for backward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .backends import _compiling, exporting

__all__ = ["BatchNormSiLU", "lean_applies", "lean_conv_forward"]


class BatchNormSiLU(torch.autograd.Function):
    """``silu(bn(y))`` in training mode that saves ``y`` only and recomputes ``bn(y)`` in backward.

    Forward calls the BatchNorm module itself, so its running statistics and ``num_batches_tracked`` are updated once,
    exactly as stock; backward recomputes the normalised map without touching them.

    Shape:
        ``y``: ``(B, C, H, W)`` float32 (any memory format); output: same shape and memory format.
    """

    @staticmethod
    def forward(ctx, y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
        ctx.eps = bn.eps
        ctx.save_for_backward(y, weight, bias)
        return F.silu(bn(y))  # the normalised map is freed here instead of living until backward

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        y, weight, bias = ctx.saved_tensors
        # batch statistics again (no running statistics passed: none are updated); same kernel, same values
        z, mean, invstd = torch.ops.aten.native_batch_norm(y, weight, bias, None, None, True, 0.0, ctx.eps)
        grad_z = torch.ops.aten.silu_backward(grad, z)
        del z
        mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2]]
        gy, gw, gb = torch.ops.aten.native_batch_norm_backward(
            grad_z, y, weight, None, None, mean, invstd, True, ctx.eps, mask
        )
        return gy, gw, gb, None


def _cpu_autocast() -> bool:
    try:
        return torch.is_autocast_enabled("cpu")
    except TypeError:  # torch < 2.4 takes no device
        return torch.is_autocast_cpu_enabled()


def lean_applies(m: nn.Module, x: torch.Tensor) -> bool:
    """Whether :func:`lean_conv_forward` may run Ultralytics ``Conv`` ``m`` on ``x``: float32 CPU training with grad,
    a SiLU activation and an affine, training-mode BatchNorm; never under autocast, tracing, scripting, export or
    ``torch.compile`` (those run the module's own forward)."""
    bn = getattr(m, "bn", None)  # Ultralytics' fuse() deletes it
    return (
        isinstance(bn, nn.BatchNorm2d)
        and bn.training
        and bn.affine
        and type(m.act) is nn.SiLU
        and torch.is_grad_enabled()
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and not _cpu_autocast()
        and not _compiling()
        and not exporting()
    )


def lean_conv_forward(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``m(x)`` for an Ultralytics ``Conv`` in training (see :func:`lean_applies`), keeping one map fewer for backward.

    Args:
        m (nn.Module): ``Conv`` with ``conv`` (Conv2d), ``bn`` (BatchNorm2d) and ``act`` (SiLU).
        x (torch.Tensor): ``(B, C1, H, W)``.

    Returns:
        (torch.Tensor): ``(B, C2, H', W')``, equal to ``m.act(m.bn(m.conv(x)))`` with identical gradients.
    """
    return BatchNormSiLU.apply(m.conv(x), m.bn.weight, m.bn.bias, m.bn)
