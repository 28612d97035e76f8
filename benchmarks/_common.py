"""Shared by the benchmark scripts: model pairs with the same weights, interleaved timing, machine info, file output."""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")  # never reach for the network (no weights are downloaded anywhere here)

import torch  # noqa: E402
from ultralytics import YOLO  # noqa: E402

import ultra_yolov12  # noqa: E402  (registers the plugin; the start-up hook may not be installed)
from ultra_yolov12.checks import environment  # noqa: E402
from ultra_yolov12.nn import AAttn  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks"


def lively(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Deterministic, non-degenerate weights (unit-gain convs, random BatchNorm statistics).

    Freshly initialised YOLO12 weights shrink activations towards zero, so both sides would print the same detection
    biases whatever their attention computes; with these weights the output comparison means something. Timing is
    unaffected (no op here depends on values; activations stay far from denormals).
    """
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            fan_in = m.weight[0].numel()
            m.weight.data.copy_(torch.randn(m.weight.shape, generator=g) / math.sqrt(fan_in))
            if m.bias is not None:
                m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
        elif isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model


def plugin_with_weights(scale: str, state_dict: dict) -> YOLO:
    """``yolov12<scale>.yaml`` in Ultralytics' AAttn layout (no position-perceiver bias) carrying ``state_dict``."""
    plugin = YOLO(f"yolov12{scale}.yaml")
    for m in plugin.model.modules():
        if isinstance(m, AAttn):  # Ultralytics' YOLO12 has no pe conv bias: drop ours, exactly as its checkpoints do
            m.pe.conv.register_parameter("bias", None)
            m.layout = "ultralytics"
    plugin.model.load_state_dict(state_dict, strict=True)
    return plugin


def model_pair(scale: str, seed: int = 0) -> tuple[YOLO, YOLO]:
    """Ultralytics' built-in ``yolo12<scale>`` and the plugin's ``yolov12<scale>``, both with the same weights."""
    torch.manual_seed(seed)
    builtin = YOLO(f"yolo12{scale}.yaml")
    lively(builtin.model, seed)
    plugin = plugin_with_weights(scale, builtin.model.state_dict())
    n_builtin = sum(p.numel() for p in builtin.model.parameters())
    n_plugin = sum(p.numel() for p in plugin.model.parameters())
    if n_builtin != n_plugin:
        raise RuntimeError(f"yolo12{scale} has {n_builtin:,} parameters but the plugin model {n_plugin:,}")
    return builtin, plugin


def interleaved(fns: dict[str, Callable[[], object]], reps: int, warmup: int = 1, timer=time.perf_counter) -> dict:
    """Run ``fns`` round-robin (A B A B ...) ``warmup`` untimed and ``reps`` timed rounds; seconds per call."""
    for _ in range(warmup):
        for f in fns.values():
            f()
    times = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            t = timer()
            f()
            times[k].append(timer() - t)
    return times


def compare(a: list[float], b: list[float]) -> dict:
    """Medians of ``a`` (built-in) and ``b`` (plugin), their ratio, and the spread of the per-round ratios."""
    ratios = sorted(y / x for x, y in zip(a, b))
    q = statistics.quantiles(ratios, n=4) if len(ratios) >= 4 else [ratios[0], statistics.median(ratios), ratios[-1]]
    return {
        "builtin": statistics.median(a),
        "plugin": statistics.median(b),
        "ratio": statistics.median(b) / statistics.median(a),
        "pair_ratio_median": statistics.median(ratios),
        "pair_ratio_iqr": [q[0], q[-1]],
        "pair_ratio_range": [ratios[0], ratios[-1]],
        "n": len(ratios),
    }


def machine_info(threads: int) -> dict:
    env = environment()
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": env["device"]["cpu"],
        "cores": env["device"]["cpu_count"],
        "threads": threads,
        "os": env["device"]["os"],
        "cuda": env["device"]["cuda"],
        "versions": env["versions"],
        "loadavg_start": load,
        "python": platform.python_version(),
    }


def machine_lines(info: dict) -> list[str]:
    v = info["versions"]
    keys = ("python", "torch", "ultralytics", "ultra-yolov12", "onnxruntime", "numpy")
    lines = [
        f"- Date: {info['date']}",
        f"- CPU: {info['cpu']}, {info['cores']} logical cores, torch threads {info['threads']}",
        f"- GPU: {'; '.join(info['cuda'])}",
        f"- OS: {info['os']}",
        "- Versions: " + ", ".join(f"{k} {v.get(k, '?')}" for k in keys),
    ]
    if info.get("loadavg_start") is not None:
        end = info.get("loadavg_end")
        lines.append(
            f"- Load average (1/5/15 min) at start {'/'.join(f'{x:.2f}' for x in info['loadavg_start'])}"
            + (f", at end {'/'.join(f'{x:.2f}' for x in end)}" if end else "")
            + " (other processes on this machine add noise; ratios of interleaved runs are the robust figure)"
        )
    return lines


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``path`` via a temporary file and a rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if isinstance(data, str):
        tmp.write_text(data)
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)


def restore_threads(threads: int) -> None:
    """Ultralytics' export/train set torch's thread count (to cores - 1); put ours back."""
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


__all__ = [
    "DOCS",
    "ROOT",
    "compare",
    "interleaved",
    "lively",
    "machine_info",
    "machine_lines",
    "model_pair",
    "plugin_with_weights",
    "restore_threads",
    "ultra_yolov12",
    "write_atomic",
]
