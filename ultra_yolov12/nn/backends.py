"""Attention kernels for area attention and the rule that picks one.

Three backends compute the same ``softmax(q @ k^T / sqrt(d)) @ v`` on tensors laid out ``(batch, tokens, heads,
head_dim)`` (flash-attn's layout; :class:`~ultra_yolov12.nn.AAttn` passes strided views of its channels-last
projections, so no backend needs a copy of its inputs):

- ``eager``: plain matmul + softmax, the reference; the only one used while tracing, scripting or exporting.
- ``sdpa``: ``torch.nn.functional.scaled_dot_product_attention`` (fused kernels, no attention map kept for backward).
- ``flash``: ``flash_attn.flash_attn_func`` (optional package ``flash-attn``), CUDA sm80+ with fp16/bf16 inputs only.

``auto`` (the default) picks per call from the device, dtype, head size and whether gradients are needed; see
:func:`resolve`, ``docs/backends.md`` and the measurements in ``docs/benchmarks/attention.md``. Force one with the
``ULTRA_YOLOV12_ATTN`` environment variable or :func:`set_backend`; a module's ``backend`` attribute overrides both.
"""

from __future__ import annotations

import os
from functools import cache

import torch
import torch.nn.functional as F

__all__ = [
    "BACKENDS",
    "ENV_VAR",
    "attend",
    "backend_source",
    "choose",
    "eager_attention",
    "exporting",
    "flash_status",
    "get_backend",
    "resolve",
    "sdpa_status",
    "set_backend",
]

BACKENDS = ("auto", "eager", "sdpa", "flash")
ENV_VAR = "ULTRA_YOLOV12_ATTN"

# The automatic rule on CPU, from benchmarks/attention.py (results: docs/benchmarks/attention.md). Given strided
# (B, L, heads, d) views, PyTorch's fused CPU kernel beat matmul + softmax at every fp32 shape measured, inference and
# training (batch 1-8, 16-1600 tokens, 1-4 heads: 0.15-0.82x eager's time forward, 0.20-0.92x forward + backward);
# its half-precision backward did not (0.96-1.37x), so CPU fp16/bf16 with gradients stays eager.
CPU_EAGER_WHEN = "fp16/bf16 with gradients"

_forced: str | None = None
_env_seen = os.environ.get(ENV_VAR, "")  # $ULTRA_YOLOV12_ATTN as last read outside torch.compile


def _compiling() -> bool:
    compiler = getattr(torch, "compiler", None)
    return bool(compiler is not None and getattr(compiler, "is_compiling", lambda: False)())


def _env_value() -> str:
    """``$ULTRA_YOLOV12_ATTN``; while torch.compile traces, the value last read eagerly (reading ``os.environ``
    inside a compiled graph is a graph break on torch < 2.5)."""
    global _env_seen
    if _compiling():
        return _env_seen
    _env_seen = os.environ.get(ENV_VAR, "")
    return _env_seen


def _check(name: str) -> str:
    key = str(name).strip().lower()
    if key not in BACKENDS:
        raise ValueError(f"unknown attention backend '{name}'; choose one of {', '.join(BACKENDS)}")
    return key


def set_backend(name: str | None) -> None:
    """Force an attention backend for the whole process (``None`` or ``"auto"`` restores the automatic choice).

    Args:
        name (str | None): One of ``BACKENDS``; takes precedence over ``$ULTRA_YOLOV12_ATTN``.
    """
    global _forced
    _forced = None if name is None else _check(name)


def get_backend() -> str:
    """Return the requested backend: :func:`set_backend`'s value, else ``$ULTRA_YOLOV12_ATTN``, else ``"auto"``."""
    if _forced is not None:
        return _forced
    value = _env_value().strip()
    if not value:
        return "auto"
    try:
        return _check(value)
    except ValueError as e:
        raise ValueError(f"${ENV_VAR}={value!r}: {e}") from None


def backend_source() -> str:
    """Where :func:`get_backend`'s answer comes from: ``"set_backend()"``, ``"$ULTRA_YOLOV12_ATTN"``, ``"default"``."""
    if _forced is not None:
        return "set_backend()"
    return f"${ENV_VAR}" if os.environ.get(ENV_VAR, "").strip() else "default"


def sdpa_status() -> tuple[bool, str]:
    """Return ``(usable, reason)`` for ``torch.nn.functional.scaled_dot_product_attention`` (torch >= 2.0)."""
    if hasattr(F, "scaled_dot_product_attention"):
        return True, f"torch {torch.__version__} has scaled_dot_product_attention"
    return False, f"torch {torch.__version__} has no scaled_dot_product_attention (needs torch >= 2.0)"


@cache
def flash_status(device_index: int | None = None) -> tuple[bool, str]:
    """Return ``(usable, reason)`` for the optional ``flash-attn`` package on CUDA device ``device_index``.

    Checks, in order: the package imports (its CUDA extension included), CUDA is available, and the GPU's compute
    capability is 8.0 or newer (FlashAttention-2 supports Ampere, Ada and Hopper). The answer is cached per device.
    """
    try:
        import flash_attn
        from flash_attn import flash_attn_func  # noqa: F401  (loads the compiled extension)
    except Exception as e:  # ImportError, or a wheel built for another torch/CUDA raising anything at import
        return False, f"flash-attn is not importable ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
    if not torch.cuda.is_available():
        return False, f"flash-attn {flash_attn.__version__} is installed but CUDA is not available"
    index = torch.cuda.current_device() if device_index is None else device_index
    major, minor = torch.cuda.get_device_capability(index)
    name = torch.cuda.get_device_name(index)
    if major < 8:
        return False, f"{name} has compute capability {major}.{minor}; flash-attn needs 8.0+ (Ampere or newer)"
    return True, f"flash-attn {flash_attn.__version__} on {name} (sm{major}{minor})"


def exporting() -> bool:
    """Whether the current call is being traced, scripted or exported (ONNX, TorchScript, torch.export)."""
    if torch.jit.is_tracing() or torch.jit.is_scripting():
        return True
    onnx = getattr(torch, "onnx", None)
    if onnx is not None and getattr(onnx, "is_in_onnx_export", lambda: False)():
        return True
    compiler = getattr(torch, "compiler", None)
    return bool(compiler is not None and getattr(compiler, "is_exporting", lambda: False)())


def _needs_grad(*tensors: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def choose(
    device: torch.device | str,
    dtype: torch.dtype,
    head_dim: int = 32,
    training: bool = False,
    backend: str | None = None,
) -> tuple[str, str]:
    """Return ``(backend, reason)`` for attention on ``device`` in ``dtype``: the rule behind :func:`resolve`.

    Args:
        device (torch.device | str): Where the tensors live, e.g. ``"cpu"``, ``"cuda:0"``.
        dtype (torch.dtype): Their dtype.
        head_dim (int): Channels per head.
        training (bool): Whether gradients are needed.
        backend (str | None): A module's own choice; None follows :func:`get_backend`.

    Rule: a forced backend is used as is (``flash`` raises if it cannot run here, ``sdpa`` raises on torch < 2.0).
    ``auto``: on CUDA ``flash`` for fp16/bf16 when flash-attn is usable, else ``sdpa``; on CPU ``sdpa``, except
    fp16/bf16 with gradients (``eager``); ``eager`` wherever torch has no SDPA (< 2.0). Export is handled by
    :func:`resolve`.
    """
    requested = _check(backend) if backend else get_backend()
    device = torch.device(device)
    half = dtype in (torch.float16, torch.bfloat16)
    precision = str(dtype).replace("torch.", "")
    if requested == "flash":
        ok, why = flash_status(device.index) if device.type == "cuda" else (False, f"tensors are on {device.type}")
        if not ok or not half or head_dim > 256:
            problem = why if not ok else f"dtype {precision} (needs fp16/bf16)" if not half else f"head_dim {head_dim}"
            raise RuntimeError(
                f"attention backend 'flash' was forced but cannot run: {problem}; flash-attn needs a CUDA GPU of "
                f"compute capability 8.0+ and fp16/bf16 tensors, so unset {ENV_VAR} (or set_backend(None)) for the "
                "automatic choice, or force 'sdpa' or 'eager'"
            )
        return "flash", f"forced ({ENV_VAR} or set_backend): {why}"
    sdpa_ok, sdpa_why = sdpa_status()
    if requested == "sdpa":
        if not sdpa_ok:
            raise RuntimeError(f"attention backend 'sdpa' was forced but cannot run: {sdpa_why}")
        return "sdpa", f"forced ({ENV_VAR} or set_backend)"
    if requested == "eager":
        return "eager", f"forced ({ENV_VAR} or set_backend)"
    if not sdpa_ok:
        return "eager", sdpa_why
    if device.type == "cuda":
        if half and head_dim <= 256:
            ok, why = flash_status(device.index)
            if ok:
                return "flash", f"CUDA {precision}: {why}"
            return "sdpa", f"CUDA {precision}: PyTorch's fused kernels; flash-attn unusable ({why})"
        return "sdpa", f"CUDA {precision}: PyTorch's fused kernels (flash-attn needs fp16/bf16)"
    if device.type != "cpu":
        return "sdpa", f"{device.type} {precision}: PyTorch's fused kernels"
    if half and training:
        return "eager", f"CPU {precision} training: SDPA's half-precision CPU backward measured slower than eager"
    mode = "training" if training else "inference"
    return "sdpa", f"CPU {precision} {mode}: fused kernel measured faster than matmul + softmax at every shape"


def resolve(q: torch.Tensor, backend: str | None = None, k: torch.Tensor | None = None) -> tuple[str, str]:
    """Return ``(backend, reason)`` that :func:`attend` uses for a query ``q`` of shape ``(B, L, heads, head_dim)``.

    Args:
        q (torch.Tensor): The query (only its device, dtype, shape and ``requires_grad`` are read).
        backend (str | None): A module's own choice; None follows :func:`get_backend`.
        k (torch.Tensor | None): The key, also read for ``requires_grad`` when given.

    While tracing, scripting or exporting the answer is always ``eager`` (standard ops only, whatever was forced);
    otherwise :func:`choose` decides.
    """
    if exporting():
        return "eager", "tracing/export: standard ops only"
    training = _needs_grad(q, *(() if k is None else (k,)))
    return choose(q.device, q.dtype, q.shape[-1], training, backend)


def eager_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Reference attention with matmul + softmax on ``(B, L, heads, d)`` tensors; returns that shape (a view)."""
    scale = q.shape[-1] ** -0.5
    attn = (q.transpose(1, 2) * scale) @ k.permute(0, 2, 3, 1)  # (B, heads, L, L)
    return (attn.softmax(dim=-1) @ v.transpose(1, 2)).transpose(1, 2)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, backend: str | None = None) -> torch.Tensor:
    """Softmax attention of ``q`` over ``k``/``v`` per batch entry and head.

    Args:
        q, k, v (torch.Tensor): ``(B, L, heads, head_dim)``, any strides (the last dim should have stride 1).
        backend (str | None): Force a backend for this call; None follows :func:`get_backend` (see :func:`resolve`).

    Returns:
        (torch.Tensor): ``(B, L, heads, head_dim)``, possibly a non-contiguous view.
    """
    name, _ = resolve(q, backend, k)
    if name == "eager":
        return eager_attention(q, k, v)
    if name == "sdpa":
        return F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2)
    from flash_attn import flash_attn_func

    return flash_attn_func(q, k, v)  # (B, L, heads, d) in and out; copies inputs only if the last dim is strided
