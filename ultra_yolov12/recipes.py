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

The official code (an Ultralytics 8.3.63 fork) also changed two of Ultralytics' defaults for every training:
``warmup_bias_lr`` 0.0 (stock 0.1) and ``copy_paste`` 0.1 (stock 0.0; the table's per-scale value in the recipe).
Every recipe carries ``warmup_bias_lr=0.0``, and :func:`official_differences` names the values of a training that differ
from the official code's (the plugin logs them when a YOLOv12 model starts training; nothing is changed for you).

``model.train(data="coco.yaml", **recipe("s"))`` reproduces that set-up; ``recipe_args("s")`` is the same as
``key=value`` text for ``yolo train``. ``copy_paste`` needs polygon labels (Ultralytics' COCO labels have them) and
does nothing on box-only datasets.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

__all__ = [
    "OFFICIAL_DEFAULTS",
    "RECIPES",
    "TRAIN_DEFAULTS",
    "add_albumentations",
    "official_differences",
    "official_notice",
    "recipe",
    "recipe_args",
]

# Shared by every scale: the paper's schedule; mosaic stays Ultralytics' 1.0 with its last 10 epochs without mosaic.
# warmup_bias_lr: the official fork's default (stock Ultralytics warms the biases up from 0.1).
TRAIN_DEFAULTS = {"epochs": 600, "batch": 256, "imgsz": 640, "mosaic": 1.0, "close_mosaic": 10, "warmup_bias_lr": 0.0}
# The two keys in which the official fork's cfg/default.yaml differs from stock Ultralytics 8.3.63's.
OFFICIAL_DEFAULTS = {"warmup_bias_lr": 0.0, "copy_paste": 0.1}
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
        (dict): ``epochs, batch, imgsz, mosaic, close_mosaic, warmup_bias_lr, scale, mixup, copy_paste`` (plus
        ``overrides``).

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


def official_differences(args: Any, scale: str | None = None, task: str = "detect") -> dict[str, tuple[Any, Any]]:
    """The training values in ``args`` that differ from the official code's defaults, as ``{key: (used, official)}``.

    Args:
        args: Training arguments with attributes ``warmup_bias_lr`` and ``copy_paste`` (a trainer's ``args``), or a
            dict with those keys.
        scale (str | None): Model scale (``n`` ... ``x``): the official ``copy_paste`` is the recipe's for that scale;
            None (or an unknown scale) compares with the fork's default 0.1.
        task (str): Ultralytics task; classification has no copy-paste augmentation, so only ``warmup_bias_lr``
            counts there.

    Examples:
        >>> official_differences({"warmup_bias_lr": 0.1, "copy_paste": 0.0}, "s")
        {'warmup_bias_lr': (0.1, 0.0), 'copy_paste': (0.0, 0.15)}
    """
    get = args.get if isinstance(args, dict) else lambda k: getattr(args, k, None)
    official = dict(OFFICIAL_DEFAULTS)
    if scale in RECIPES:
        official["copy_paste"] = RECIPES[scale]["copy_paste"]
    if task == "classify":
        official.pop("copy_paste")
    return {k: (get(k), v) for k, v in official.items() if get(k) is not None and float(get(k)) != v}


def official_notice(differences: dict[str, tuple[Any, Any]], scale: str | None = None) -> str:
    """One line naming the values that differ from the official code's and how to train like the paper."""
    s = scale if scale in RECIPES else "n"
    used = " ".join(f"{k}={u}" for k, (u, _) in differences.items())
    official = " ".join(f"{k}={o}" for k, (_, o) in differences.items())
    return (
        f"ultra-yolov12: this YOLOv12 training uses {used}, the official YOLOv12 code {official}; to train like the "
        f"paper use $(ultra-yolov12 recipe scale={s}) with yolo train, or model.train(..., **ultra_yolov12.recipe("
        f'"{s}")) (values are used as given)'
    )


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
