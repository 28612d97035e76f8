"""Shared fixtures: the COCO8 copy shipped in tests/data, Ultralytics' bundled images, an isolated settings dir."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"

# Ultralytics reads its settings dir at import: keep the suite away from the user's and run fully offline.
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="ultra_yolov12_tests_"))
os.environ.setdefault("YOLO_OFFLINE", "true")  # "true": 8.3.0 accepts no other spelling

from ultralytics.utils import ASSETS  # noqa: E402

import ultra_yolov12  # noqa: E402,F401  (registers)


@pytest.fixture(scope="session")
def coco8_yaml(tmp_path_factory) -> Path:
    """A writable copy of COCO8 with a data YAML whose ``path`` is absolute (Ultralytics writes label caches)."""
    root = tmp_path_factory.mktemp("data")
    shutil.copytree(DATA / "coco8", root / "coco8")
    text = (DATA / "coco8.yaml").read_text().replace("path: coco8", f"path: {root / 'coco8'}")
    (root / "coco8.yaml").write_text(text)
    return root / "coco8.yaml"


@pytest.fixture(scope="session")
def bus_jpg() -> Path:
    return ASSETS / "bus.jpg"


@pytest.fixture(scope="session")
def zidane_jpg() -> Path:
    return ASSETS / "zidane.jpg"
