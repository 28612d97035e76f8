"""YOLOv12 layers in plain PyTorch (built from Ultralytics' ``Conv``/``C3k`` so that ``fuse()`` and export see them)."""

from .attention import LAYOUTS, AAttn, AttnLayout
from .backends import BACKENDS, attend, get_backend, resolve, set_backend
from .block import A2C2f, A2C2fTurbo, ABlock

__all__ = [
    "BACKENDS",
    "LAYOUTS",
    "A2C2f",
    "A2C2fTurbo",
    "AAttn",
    "ABlock",
    "AttnLayout",
    "attend",
    "get_backend",
    "resolve",
    "set_backend",
]
