"""The model configs shipped with the plugin and how Ultralytics-style names map to them."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["CFG_DIR", "available", "config_path", "is_yolov12_name", "unified_name"]


def _cfg_dir() -> Path:
    here = Path(__file__).resolve().parent
    for d in (here / "cfg" / "models" / "12", here.parent / "cfg" / "models" / "12"):  # wheel, then source checkout
        if d.is_dir():
            return d
    raise FileNotFoundError(f"ultra-yolov12's model configs are missing (looked in {here / 'cfg'}); reinstall it")


CFG_DIR = _cfg_dir()
SCALES = "nsmlx"


def is_yolov12_name(name: str | Path) -> bool:
    """Return True for a bare file name in the plugin's namespace, e.g. ``yolov12n.yaml`` or ``yolov12s-seg-turbo``."""
    return Path(str(name)).name.lower().startswith("yolov12")


def available() -> list[str]:
    """Names that resolve to a shipped config: every ``yolov12<scale><suffix>.yaml`` plus the unscaled files."""
    names = []
    for f in sorted(CFG_DIR.glob("yolov12*.yaml")):
        rest = f.stem[len("yolov12") :]
        names += [f"yolov12{s}{rest}.yaml" for s in SCALES]
    return names


def unified_name(name: str | Path) -> str:
    """The file name without its scale letter: ``yolov12s-seg.yaml`` -> ``yolov12-seg.yaml``."""
    return re.sub(r"^yolov12[nslmx]", "yolov12", Path(str(name)).name)


def config_path(name: str | Path) -> Path | None:
    """Return the shipped config for ``name`` (scaled or unified, e.g. ``yolov12s.yaml``), else None."""
    name = Path(str(name)).name
    if not is_yolov12_name(name) or Path(name).suffix not in {".yaml", ".yml"}:
        return None
    path = CFG_DIR / f"{Path(unified_name(name)).stem}.yaml"
    return path if path.is_file() else None
