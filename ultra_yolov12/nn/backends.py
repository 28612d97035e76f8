"""Attention kernels for area attention and the rule that picks one.

Three backends compute the same ``softmax(q @ k^T / sqrt(d)) @ v``:

- ``eager``: plain matmul + softmax, the reference; the only one used while tracing or exporting.
- ``sdpa``: ``torch.nn.functional.scaled_dot_product_attention`` (fused, no attention map kept for backward).
- ``flash``: ``flash_attn.flash_attn_func`` (optional package), CUDA sm80+ with fp16/bf16 inputs only.

``auto`` (the default) picks per call from the device, dtype and batch; see :func:`resolve` and ``docs/benchmarks``.
Force one with the ``ULTRA_YOLOV12_ATTN`` environment variable or :func:`set_backend`.
"""

from __future__ import annotations

import os
from functools import cache

import torch
import torch.nn.functional as F

__all__ = ["BACKENDS", "attend", "flash_status", "get_backend", "resolve", "set_backend"]

BACKENDS = ("auto", "eager", "sdpa", "flash")
ENV_VAR = "ULTRA_YOLOV12_ATTN"

# CPU, fp32: SDPA's fused kernel beats matmul + softmax once there are enough (batch x head x area) problems to fill
# both cores; below that its per-call overhead wins. Measured by benchmarks/attention.py (docs/benchmarks).
CPU_SDPA_MIN_PROBLEMS = 16

_forced: str | None = None


def _check(name: str) -> str:
    name = name.strip().lower()
    if name not in BACKENDS:
        raise ValueError(f"unknown attention backend '{name}'; choose one of {', '.join(BACKENDS)}")
    return name


def set_backend(name: str | None) -> None:
    """Force an attention backend for the whole process (``None`` or ``"auto"`` restores automatic choice)."""
    global _forced
    _forced = None if name is None else _check(name)


def get_backend() -> str:
    """Return the requested backend: :func:`set_backend`'s value, else ``$ULTRA_YOLOV12_ATTN``, else ``"auto"``."""
    if _forced is not None:
        return _forced
    return _check(os.environ.get(ENV_VAR, "auto") or "auto")


@cache
def flash_status(device_index: int = 0) -> tuple[bool, str]:
    """Return ``(usable, reason)`` for the optional ``flash-attn`` package on CUDA device ``device_index``."""
    try:
        import flash_attn  # noqa: F401
    except Exception as e:  # ImportError, or a broken build raising anything at import
        return False, f"flash-attn is not importable ({type(e).__name__}: {e})"
    if not torch.cuda.is_available():
        return False, "no CUDA device"
    major, minor = torch.cuda.get_device_capability(device_index)
    if major < 8:
        return False, f"GPU compute capability {major}.{minor} < 8.0 (flash-attn needs Ampere or newer)"
    return True, f"flash-attn {flash_attn.__version__} on sm{major}{minor}"


def _exporting() -> bool:
    return (
        torch.jit.is_tracing()
        or torch.jit.is_scripting()
        or torch.onnx.is_in_onnx_export()
        or (hasattr(torch, "compiler") and hasattr(torch.compiler, "is_exporting") and torch.compiler.is_exporting())
    )


def resolve(q: torch.Tensor, backend: str | None = None) -> tuple[str, str]:
    """Return ``(backend, reason)`` that :func:`attend` uses for a query of shape ``(B, heads, area, L, head_dim)``."""
    requested = _check(backend) if backend else get_backend()
    if _exporting():
        return "eager", "tracing/export: standard ops only"
    if requested == "flash" or (requested == "auto" and q.is_cuda and q.dtype in (torch.float16, torch.bfloat16)):
        ok, why = flash_status(q.device.index or 0) if q.is_cuda else (False, "input is not on CUDA")
        if ok and q.dtype in (torch.float16, torch.bfloat16):
            return "flash", why
        if requested == "flash":
            raise RuntimeError(f"attention backend 'flash' was forced but cannot run: {why}, dtype {q.dtype}")
        return "sdpa", f"CUDA half precision, flash-attn unusable ({why})"
    if requested != "auto":
        return requested, f"forced ({ENV_VAR} or set_backend)"
    if q.is_cuda:
        return "sdpa", "CUDA: fused SDPA kernels"
    problems = q.shape[0] * q.shape[1] * q.shape[2]
    if problems >= CPU_SDPA_MIN_PROBLEMS:
        return "sdpa", f"CPU with {problems} >= {CPU_SDPA_MIN_PROBLEMS} batch*head*area problems"
    return "eager", f"CPU with {problems} < {CPU_SDPA_MIN_PROBLEMS} batch*head*area problems"


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, backend: str | None = None) -> torch.Tensor:
    """Attention over the last two dims of ``(B, heads, area, L, head_dim)`` tensors; returns that shape."""
    name, _ = resolve(q, backend)
    if name == "eager":
        attn = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)
        return attn.softmax(dim=-1) @ v
    if name == "sdpa":
        return F.scaled_dot_product_attention(q, k, v)
    from flash_attn import flash_attn_func

    b, h, a, n, d = q.shape  # flash-attn wants (batch, seq, heads, head_dim)
    qf, kf, vf = (t.permute(0, 2, 3, 1, 4).reshape(b * a, n, h, d) for t in (q, k, v))
    return flash_attn_func(qf, kf, vf).reshape(b, a, n, h, d).permute(0, 3, 1, 2, 4)
