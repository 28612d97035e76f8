"""Environment report: versions, device, and which attention backend each typical YOLOv12 case uses and why.

``ultra-yolov12 checks`` (and ``python -m ultra_yolov12 checks``) print it; :func:`checks` also returns it as a dict.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata

import torch

from .nn import backends

__all__ = ["checks", "cpu_name", "environment", "typical_cases"]

PACKAGES = ("torch", "torchvision", "ultralytics", "numpy", "onnx", "onnxruntime", "onnxslim", "openvino", "flash-attn")
IMGSZ = 640


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what ``platform`` knows)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def environment() -> dict:
    """Versions and devices: python, the packages in ``PACKAGES``, ultra-yolov12, CPU, torch threads, GPUs."""
    from . import __version__

    versions = {"python": platform.python_version(), "ultra-yolov12": __version__}
    versions.update({name: _version(name) for name in PACKAGES})
    gpus = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            major, minor = torch.cuda.get_device_capability(i)
            gpus.append(f"cuda:{i} {torch.cuda.get_device_name(i)} (sm{major}{minor})")
    device = {
        "os": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": gpus or [f"not available (torch CUDA build: {torch.version.cuda or 'none'})"],
    }
    return {"versions": versions, "device": device}


def _attention_shapes(model: str = "yolov12n") -> list[dict]:
    """The AAttn stages of ``model`` at ``IMGSZ``: stride, area, heads, head_dim and tokens per strip."""
    from ultralytics.nn.tasks import DetectionModel

    from .nn import AAttn

    net = DetectionModel(f"{model}.yaml", verbose=False)  # resolved to the shipped config by the registered plugin
    found = {}

    def hook(m, args, _out):
        h, w = args[0].shape[-2:]
        found.setdefault(
            id(m),
            {
                "stride": IMGSZ // h,
                "area": m.area,
                "heads": m.num_heads,
                "head_dim": m.head_dim,
                "tokens": h * w // m.area,
            },
        )

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, AAttn)]
    with torch.no_grad():
        net.eval()(torch.zeros(1, 3, IMGSZ, IMGSZ))
    for h in handles:
        h.remove()
    stages = {}
    for s in found.values():
        stages.setdefault(s["stride"], s)
    return [{"stage": f"P{int(stride).bit_length() - 1}", **s} for stride, s in sorted(stages.items())]


def typical_cases(model: str = "yolov12n", batches: tuple[int, ...] = (1, 8)) -> list[dict]:
    """Which backend each typical call of ``model`` at ``IMGSZ`` gets here, with the reason (see ``backends.choose``).

    Rows for a device this machine lacks (e.g. CUDA) show what the rule answers with this installation, e.g. why
    flash-attn would not be used.
    """
    combos = [
        ("cpu", torch.float32, "inference"),
        ("cpu", torch.float32, "training"),
        ("cpu", torch.bfloat16, "training"),
        ("cuda", torch.float32, "inference"),
        ("cuda", torch.float16, "inference"),
        ("cuda", torch.float16, "training"),
    ]
    rows = []
    for stage in _attention_shapes(model):
        for device, dtype, mode in combos:
            for batch in batches:
                try:
                    name, why = backends.choose(device, dtype, stage["head_dim"], mode == "training")
                except RuntimeError as e:  # a forced backend that cannot run in this case
                    name, why = "error", str(e)
                rows.append(
                    {
                        "model": model,
                        "stage": stage["stage"],
                        "area": stage["area"],
                        "batch": batch,
                        "tokens": stage["tokens"],
                        "heads": stage["heads"],
                        "head_dim": stage["head_dim"],
                        "device": device,
                        "dtype": str(dtype).replace("torch.", ""),
                        "mode": mode,
                        "backend": name,
                        "reason": why,
                    }
                )
    return rows


def checks(verbose: bool = True) -> dict:
    """Collect (and with ``verbose`` log) versions, devices, the backend setting and per-case choices.

    Returns:
        (dict): ``versions``, ``device``, ``requested`` (backend and where it came from), ``sdpa`` and ``flash_attn``
        (``usable`` and ``reason``), ``cases`` (see :func:`typical_cases`).
    """
    report = environment()
    try:
        requested = backends.get_backend()
        source = backends.backend_source()
    except ValueError as e:
        requested, source = "invalid", str(e)
    sdpa_ok, sdpa_why = backends.sdpa_status()
    flash_ok, flash_why = backends.flash_status()
    report.update(
        requested={"backend": requested, "source": source},
        sdpa={"usable": sdpa_ok, "reason": sdpa_why},
        flash_attn={"usable": flash_ok, "reason": flash_why},
        cases=typical_cases() if requested != "invalid" else [],
    )
    if verbose:
        _log(report)
    return report


def _log(r: dict) -> None:
    from ultralytics.utils import LOGGER, colorstr

    p = colorstr("ultra-yolov12: ")
    v, d = r["versions"], r["device"]
    LOGGER.info(f"{p}checks")
    LOGGER.info("Versions    " + " · ".join(f"{k} {val}" for k, val in v.items()))
    LOGGER.info(f"OS          {d['os']}")
    LOGGER.info(f"CPU         {d['cpu']} ({d['cpu_count']} logical cores, torch threads {d['torch_threads']})")
    LOGGER.info("CUDA        " + "; ".join(d["cuda"]))
    LOGGER.info(f"Backend     {r['requested']['backend']} (from {r['requested']['source']})")
    LOGGER.info(f"SDPA        {'usable' if r['sdpa']['usable'] else 'UNUSABLE'}: {r['sdpa']['reason']}")
    LOGGER.info(f"flash-attn  {'usable' if r['flash_attn']['usable'] else 'unusable'}: {r['flash_attn']['reason']}")
    LOGGER.info(f"Attention backend per case ({IMGSZ}x{IMGSZ}; tokens are per strip):")
    for c in r["cases"]:
        case = f"{c['model']} {c['stage']} area {c['area']}, {c['device']} {c['dtype']} {c['mode']}, batch {c['batch']}"
        shape = f"{c['tokens']} tokens x {c['heads']} heads x {c['head_dim']}"
        LOGGER.info(f"  {case:<56} {shape:<26} -> {c['backend']:<6} {c['reason']}")
