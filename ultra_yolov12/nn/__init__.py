"""YOLOv12 layers in plain PyTorch (built from Ultralytics' ``Conv``/``C3k`` so that ``fuse()`` and export see them)."""

from .attention import LAYOUTS, AAttn, AttnLayout, LayoutError, match_layout
from .backends import BACKENDS, attend, get_backend, resolve, set_backend
from .block import A2C2f, A2C2fTurbo, A2C2fUltralytics, ABlock

__all__ = [
    "BACKENDS",
    "LAYOUTS",
    "A2C2f",
    "A2C2fTurbo",
    "A2C2fUltralytics",
    "AAttn",
    "ABlock",
    "AttnLayout",
    "LayoutError",
    "attend",
    "get_backend",
    "match_layout",
    "resolve",
    "set_backend",
]
