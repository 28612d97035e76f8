"""Pickle-free model files: the model's config in safetensors metadata, its weights as safetensors tensors.

A ``.pt`` checkpoint is a pickle, and loading a pickle from someone else can run their code. A ``.safetensors`` file
written by :func:`save` holds only tensors and strings: the state dict of the checkpoint's model (``ema`` if present,
else ``model``; every tensor in its stored dtype) and, in the metadata, everything needed to rebuild that model:

- ``yaml``: the model dict (JSON), with the YOLOv12 rows named after their attention layout (as
  :func:`ultra_yolov12.checkpoints.plugin_yaml` writes them) so the rebuilt layers are exactly the stored ones;
- ``model_class`` (``DetectionModel``, ``SegmentationModel``, ...), ``task``, ``nc``, ``names`` (JSON), ``layout``
  (``v1.0``/``turbo``/``ultralytics``, empty for models without area attention), ``train_args`` (JSON, the
  checkpoint's training arguments: Ultralytics reads ``imgsz`` and the like from them), ``format`` (this layout's
  version).

:func:`load` rebuilds the model from the metadata with Ultralytics' model classes and loads the tensors strictly (every
key, every shape), so the result computes exactly what the checkpoint did. With the plugin registered,
``YOLO("model.safetensors")`` does this (hooks in ``_ultralytics``).
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from torch import nn

from .files import atomic_path

__all__ = ["FORMAT", "SafetensorsError", "load", "read_metadata", "save"]

FORMAT = "ultra-yolov12-safetensors/1"
_REQUIRED = ("format", "yaml", "model_class", "task", "nc", "names")


class SafetensorsError(ValueError):
    """A ``.safetensors`` file that this module did not write, or whose tensors do not fit its model config."""


def _safetensors():
    try:
        import safetensors.torch
    except ImportError as e:  # a dependency: only a broken install gets here
        raise ImportError(
            "reading or writing .safetensors needs the 'safetensors' package: pip install safetensors"
        ) from e
    return safetensors.torch


def save(model: nn.Module, target: str | Path, train_args: dict | None = None) -> Path:
    """Write ``model`` (an Ultralytics model: ``DetectionModel`` ...) to ``target`` as a pickle-free safetensors file.

    Args:
        model (nn.Module): The model to store; its ``yaml``, ``names`` and tensors are written, nothing is pickled.
        target (str | Path): Output ``.safetensors`` file, written to a temporary file and renamed.
        train_args (dict | None): The checkpoint's training arguments (JSON-serialisable values are kept).

    Returns:
        (Path): ``target``.
    """
    from . import __version__
    from .checkpoints import layout_of, plugin_yaml

    if not isinstance(getattr(model, "yaml", None), dict):
        raise SafetensorsError(f"{type(model).__name__} carries no model dict (yaml): it cannot be rebuilt from a file")
    layout = layout_of(model)
    d = plugin_yaml(model) if layout else dict(model.yaml)
    names = getattr(model, "names", None) or {i: str(i) for i in range(int(d.get("nc", 80)))}
    args = {k: v for k, v in (train_args or {}).items() if isinstance(v, (str, int, float, bool, type(None)))}
    meta = {
        "format": FORMAT,
        "yaml": json.dumps(d, default=str),
        "model_class": type(model).__name__,
        "task": str(getattr(model, "task", "") or args.get("task", "detect")),
        "nc": str(len(names)),
        "names": json.dumps({int(k): v for k, v in dict(names).items()}),
        "layout": layout or "",
        "train_args": json.dumps(args),
        "written_by": f"ultra-yolov12 {__version__}",
        "date": datetime.datetime.now().isoformat(),
    }
    # contiguous copies: safetensors refuses tensors that share memory or are views
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    target = Path(target)
    with atomic_path(target, ".safetensors") as tmp:
        _safetensors().save_file(tensors, str(tmp), metadata=meta)
    return target


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of ``path``; raises :class:`SafetensorsError` unless :func:`save` wrote it."""
    from safetensors import safe_open

    _safetensors()
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:  # safetensors reports a bad header as its own error types
        raise SafetensorsError(f"{path} is not a readable safetensors file ({type(e).__name__}: {e})") from None
    missing = [k for k in _REQUIRED if k not in meta]
    if missing or meta.get("format") != FORMAT:
        raise SafetensorsError(
            f"{path} is a safetensors file without an ultra-yolov12 model config (metadata lacks "
            f"{', '.join(missing) or 'format=' + FORMAT}); write one with: ultra-yolov12 convert source=best.pt "
            f"target={Path(path).name} to=safetensors"
        )
    return meta


def load(path: str | Path) -> dict:
    """Rebuild the model stored in ``path`` and return it in an Ultralytics checkpoint dict.

    Args:
        path (str | Path): A file written by :func:`save`.

    Returns:
        (dict): ``{"model": model, "ema": None, "train_args": {...}, ...}``, the model fp32 in eval mode, its weights
        exactly the stored ones.

    Raises:
        SafetensorsError: Not such a file, or tensors that do not fit the stored config.
    """
    from ultralytics.nn import tasks

    meta = read_metadata(path)
    cls = getattr(tasks, meta["model_class"], None)
    if not (isinstance(cls, type) and issubclass(cls, tasks.BaseModel)):
        raise SafetensorsError(f"{path}: model class '{meta['model_class']}' is not one of Ultralytics' model classes")
    d = json.loads(meta["yaml"])
    model = cls(d, nc=int(meta["nc"]), verbose=False)
    state = _safetensors().load_file(str(path))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise SafetensorsError(f"{path}: the tensors do not fit the stored model config ({first[:2]})") from None
    model.names = {int(k): v for k, v in json.loads(meta["names"]).items()}
    model.task = meta["task"]
    train_args = json.loads(meta.get("train_args") or "{}")
    train_args.setdefault("task", meta["task"])
    return {
        "model": model.float().eval(),
        "ema": None,
        "train_args": train_args,
        "date": meta.get("date"),
        "version": meta.get("written_by"),
        "safetensors": str(path),
    }
