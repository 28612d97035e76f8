"""The official YOLOv12 training recipes by scale, and custom Albumentations pipelines on every supported release.

The paper trains every scale from scratch on COCO for 600 epochs at batch 256 and 640 pixels with Ultralytics' default
hyper-parameters except for three augmentation strengths that grow with the model (official ``README``/train script):

=====  =====  ======  ==========
scale  scale  mixup   copy_paste
=====  =====  ======  ==========
n      0.5    0.0     0.1
s      0.9    0.05    0.15
m      0.9    0.15    0.4
l      0.9    0.15    0.5
x      0.9    0.2     0.6
=====  =====  ======  ==========

``model.train(data="coco.yaml", **recipe("s"))`` reproduces that set-up; ``recipe_args("s")`` is the same as
``key=value`` text for ``yolo train``. ``copy_paste`` needs polygon labels (Ultralytics' COCO labels have them) and
does nothing on box-only datasets.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

__all__ = ["RECIPES", "TRAIN_DEFAULTS", "add_albumentations", "recipe", "recipe_args"]

# Shared by every scale: the paper's schedule; mosaic stays Ultralytics' 1.0 with its last 10 epochs without mosaic.
TRAIN_DEFAULTS = {"epochs": 600, "batch": 256, "imgsz": 640, "mosaic": 1.0, "close_mosaic": 10}
RECIPES = {
    "n": {"scale": 0.5, "mixup": 0.0, "copy_paste": 0.1},
    "s": {"scale": 0.9, "mixup": 0.05, "copy_paste": 0.15},
    "m": {"scale": 0.9, "mixup": 0.15, "copy_paste": 0.4},
    "l": {"scale": 0.9, "mixup": 0.15, "copy_paste": 0.5},
    "x": {"scale": 0.9, "mixup": 0.2, "copy_paste": 0.6},
}


def _scale(name: str) -> str:
    """``"s"``, ``"S"``, ``"yolov12s"``, ``"yolov12s-seg-turbo.yaml"`` or ``"path/yolov12s.pt"`` -> ``"s"``."""
    text = Path(str(name)).name.lower()
    if text in RECIPES:
        return text
    m = re.match(r"^yolov?12([nsmlx])(?:[-_.]|$)", text)
    if m:
        return m.group(1)
    raise ValueError(f"unknown YOLOv12 scale {name!r}: use one of {', '.join(RECIPES)} or a name like 'yolov12s.yaml'")


def recipe(scale: str, **overrides: Any) -> dict[str, Any]:
    """The official training hyper-parameters of one scale, as ``model.train`` keyword arguments.

    Args:
        scale (str): ``n``, ``s``, ``m``, ``l`` or ``x``, or a model name that contains it (``yolov12s-turbo.yaml``).
        **overrides: Values that replace the recipe's (e.g. ``batch=64`` for fewer GPUs; ``epochs`` for a short run).

    Returns:
        (dict): ``epochs, batch, imgsz, mosaic, close_mosaic, scale, mixup, copy_paste`` (plus ``overrides``).

    Examples:
        >>> recipe("s")["mixup"]
        0.05
        >>> YOLO("yolov12s.yaml").train(data="coco.yaml", **recipe("s"))  # doctest: +SKIP
    """
    return {**TRAIN_DEFAULTS, **RECIPES[_scale(scale)], **overrides}


def recipe_args(scale: str, **overrides: Any) -> str:
    """:func:`recipe` as ``key=value`` text for the ``yolo`` CLI, e.g. ``yolo train model=yolov12s.yaml data=coco.yaml
    epochs=600 batch=256 ...``."""
    return " ".join(f"{k}={v}" for k, v in recipe(scale, **overrides).items())


def add_albumentations(model, transforms: list) -> None:
    """Train ``model`` with ``transforms`` in place of Ultralytics' default Albumentations step, on every release.

    Ultralytics >= 8.3.226 also accepts ``model.train(augmentations=transforms)``; this callback-based way works on
    the whole supported range (8.3.0 and newer). It applies to detection, segmentation, pose and OBB training (the
    tasks with an Albumentations step); on releases before 8.3.226 only pixel-level transforms are allowed (a spatial
    transform raises an error that says so). Single-process training only: Ultralytics' multi-GPU (DDP) workers do
    not receive Python callbacks; use ``augmentations=`` there.

    Args:
        model (ultralytics.YOLO): The model to train; the callback stays registered for its later ``train`` calls.
        transforms (list): Albumentations transforms, e.g. ``[A.CLAHE(p=0.5), A.ToGray(p=0.1)]``.

    Examples:
        >>> import albumentations as A
        >>> model = YOLO("yolov12n.yaml")
        >>> add_albumentations(model, [A.CLAHE(p=0.5), A.RandomBrightnessContrast(p=0.5)])
        >>> model.train(data="coco8.yaml", epochs=1)  # doctest: +SKIP
    """
    import albumentations as A

    transforms = list(transforms)
    bad = [t for t in transforms if not isinstance(t, A.BasicTransform) and not isinstance(t, A.BaseCompose)]
    if not transforms or bad:
        raise TypeError(f"transforms must be a non-empty list of Albumentations transforms, got {bad or transforms}")
    from . import _ultralytics

    def on_pretrain_routine_end(trainer):
        _ultralytics.use_albumentations(trainer, transforms)

    model.add_callback("on_pretrain_routine_end", on_pretrain_routine_end)
