"""ultra-yolov12: YOLOv12 (Tian, Ye, Doermann 2025) for stock, pip-installed Ultralytics.

``import ultra_yolov12`` registers the plugin with Ultralytics (the ``ultra_yolov12.pth`` start-up hook does this for
every interpreter that imports Ultralytics); then ``YOLO("yolov12n.yaml")``, ``yolo train model=yolov12s.yaml ...`` and
YOLOv12 checkpoints of every code base work as usual.
"""

import os
import sys

__version__ = "0.1.0"


def _starting_cli() -> bool:
    """Whether this import starts the ``ultra-yolov12`` command, which reports a failed import in one line itself."""
    argv0 = os.path.basename(sys.argv[0]) if sys.argv else ""
    if argv0 in ("ultra-yolov12", "ultra-yolov12.exe"):
        return True
    orig = list(getattr(sys, "orig_argv", []))  # python -m ultra_yolov12: argv[0] is "-m" while it is located
    return argv0 == "-m" and "-m" in orig and orig[orig.index("-m") + 1 : orig.index("-m") + 2] == ["ultra_yolov12"]


_IMPORT_ERROR = None  # what stopped the import when it started the command (then reported by ultra_yolov12.cli)
try:
    from ._ultralytics import SUPPORTED_TEXT, UnsupportedUltralyticsError, is_registered, register, unregister
    from .checkpoints import convert
    from .coco import coco_eval
    from .configs import available as available_configs
    from .heatmap import heatmap
    from .nn import A2C2f, A2C2fTurbo, AAttn, ABlock, get_backend, set_backend
    from .pickles import CheckpointError, UnsafeCheckpointError, inspect_checkpoint
    from .recipes import add_albumentations, recipe, recipe_args
    from .sharing import SafetensorsError
    from .weights import WeightsDownloadError
except Exception as e:
    if not _starting_cli():
        raise
    _IMPORT_ERROR = e

__all__ = [
    "SUPPORTED_TEXT",
    "A2C2f",
    "A2C2fTurbo",
    "AAttn",
    "ABlock",
    "CheckpointError",
    "SafetensorsError",
    "UnsafeCheckpointError",
    "UnsupportedUltralyticsError",
    "WeightsDownloadError",
    "__version__",
    "add_albumentations",
    "available_configs",
    "coco_eval",
    "convert",
    "get_backend",
    "heatmap",
    "inspect_checkpoint",
    "is_registered",
    "recipe",
    "recipe_args",
    "register",
    "set_backend",
    "unregister",
]

if _IMPORT_ERROR is None:
    register()
