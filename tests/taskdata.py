"""Small real-image datasets for every Ultralytics task, built at test time from COCO8 and Ultralytics' ``bus.jpg``.

COCO8 has boxes only, so the other label kinds are derived from its boxes, deterministically:

- segmentation: a 24-point ellipse inscribed in each box;
- pose: five keypoints per box (centre, upper, lower, left and right of centre), ``kpt_shape: [5, 3]``;
- OBB: each box rotated by +-20 degrees about its centre (in pixels, so it stays a rectangle) and shrunk to fit;
- classification: crops of the boxes of every class with at least two boxes, split alternately into train and val.

``bus_frames`` cuts a panning, zooming sequence of crops out of ``bus.jpg`` with the boxes of its five objects
(annotated by hand for these tests), for tracking videos and for a model that has seen those objects.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import yaml

__all__ = [
    "BUS_BOXES",
    "BUS_NAMES",
    "POSE_FLIP_IDX",
    "build_bus_detect",
    "build_cls",
    "build_obb",
    "build_pose",
    "build_seg",
    "bus_frames",
    "coco8_labels",
    "write_video",
]

# bus.jpg (810x1080): class, x1, y1, x2, y2 in pixels; annotated by hand for these tests.
BUS_NAMES = {0: "person", 1: "bus"}
BUS_BOXES = [
    (1, 18, 230, 802, 740),  # bus
    (0, 50, 398, 246, 902),  # person, left
    (0, 222, 405, 345, 858),  # person, middle
    (0, 668, 390, 810, 878),  # person, right edge
    (0, 0, 552, 74, 872),  # person, left edge
]
POSE_FLIP_IDX = [0, 1, 2, 4, 3]  # keypoint order after a horizontal flip: left and right swap


def coco8_labels(coco8: Path, split: str) -> dict[Path, np.ndarray]:
    """Map each image of ``coco8/images/<split>`` to its ``(N, 5)`` array of ``class, cx, cy, w, h`` (normalised)."""
    out = {}
    for im in sorted((coco8 / "images" / split).glob("*.jpg")):
        txt = coco8 / "labels" / split / f"{im.stem}.txt"
        rows = np.loadtxt(txt, ndmin=2) if txt.is_file() else np.zeros((0, 5))
        out[im] = rows.reshape(-1, 5)
    return out


def _names(coco8_yaml: Path) -> dict[int, str]:
    return yaml.safe_load(Path(coco8_yaml).read_text())["names"]


def _write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _build(root: Path, coco8_yaml: Path, kind: str, row_fn, **extra) -> Path:
    """Copy COCO8's images under ``root/kind`` and write one label row per box with ``row_fn(cls, box, wh)``."""
    coco8 = Path(coco8_yaml).parent / "coco8"
    base = root / kind
    for split in ("train", "val"):
        (base / "images" / split).mkdir(parents=True, exist_ok=True)
        (base / "labels" / split).mkdir(parents=True, exist_ok=True)
        for im, rows in coco8_labels(coco8, split).items():
            shutil.copy(im, base / "images" / split / im.name)
            h, w = cv2.imread(str(im)).shape[:2]
            lines = [row_fn(int(r[0]), r[1:], (w, h)) for r in rows]
            (base / "labels" / split / f"{im.stem}.txt").write_text("\n".join(lines) + "\n")
    data = {"path": str(base), "train": "images/train", "val": "images/val", **extra, "names": _names(coco8_yaml)}
    return _write_yaml(root / f"{kind}.yaml", data)


def _fmt(values) -> str:
    return " ".join(f"{v:.6f}" for v in values)


def build_seg(root: Path, coco8_yaml: Path) -> Path:
    """COCO8 with a 24-point ellipse polygon inscribed in every box; returns the data YAML."""
    t = np.linspace(0, 2 * math.pi, 24, endpoint=False)

    def row(c, box, wh):
        cx, cy, w, h = box
        xy = np.stack([cx + 0.5 * w * np.cos(t), cy + 0.5 * h * np.sin(t)], 1).clip(0, 1)
        return f"{c} {_fmt(xy.ravel())}"

    return _build(root, coco8_yaml, "seg", row)


def build_pose(root: Path, coco8_yaml: Path) -> Path:
    """COCO8 with five visible keypoints per box (``kpt_shape: [5, 3]``); returns the data YAML."""

    def row(c, box, wh):
        cx, cy, w, h = box
        kpts = [(cx, cy), (cx, cy - h / 4), (cx, cy + h / 4), (cx - w / 4, cy), (cx + w / 4, cy)]
        return f"{c} {_fmt(box)} " + " ".join(f"{_fmt(p)} 2" for p in kpts)

    return _build(root, coco8_yaml, "pose", row, kpt_shape=[5, 3], flip_idx=POSE_FLIP_IDX)


def build_obb(root: Path, coco8_yaml: Path, degrees: float = 20.0) -> Path:
    """COCO8 with every box rotated by alternating +-``degrees`` (pixel space) and shrunk to fit the image."""
    sign = [1.0]

    def row(c, box, wh):
        (cx, cy, w, h), (iw, ih) = box * np.array([*wh, *wh]), wh
        sign[0] = -sign[0]
        a = math.radians(degrees) * sign[0]
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2 @ rot.T
        # Largest scale that keeps all four corners inside the image.
        room = np.minimum(np.array([cx, cy]), np.array([iw - cx, ih - cy]))
        scale = min(1.0, float((room / np.abs(corners).max(0).clip(1e-6)).min()))
        xy = (corners * scale + [cx, cy]) / [iw, ih]
        return f"{c} {_fmt(xy.clip(0, 1).ravel())}"

    return _build(root, coco8_yaml, "obb", row)


def build_cls(root: Path, coco8_yaml: Path, pad: float = 0.1) -> Path:
    """ImageFolder-style ``train/<class>/*.jpg`` and ``val/<class>/*.jpg`` of COCO8 box crops; returns the folder.

    Only classes with at least two boxes are kept, and their crops alternate between train and val, so both splits
    hold the same classes (Ultralytics numbers classes by sorted folder name in each split).
    """
    coco8 = Path(coco8_yaml).parent / "coco8"
    names = _names(coco8_yaml)
    crops: dict[str, list[np.ndarray]] = {}
    for split in ("train", "val"):
        for im_file, rows in coco8_labels(coco8, split).items():
            im = cv2.imread(str(im_file))
            ih, iw = im.shape[:2]
            for c, cx, cy, w, h in rows:
                w, h = w * (1 + pad), h * (1 + pad)
                x1, y1 = max(0, int((cx - w / 2) * iw)), max(0, int((cy - h / 2) * ih))
                x2, y2 = min(iw, int((cx + w / 2) * iw)), min(ih, int((cy + h / 2) * ih))
                crops.setdefault(names[int(c)].replace(" ", "_"), []).append(im[y1:y2, x1:x2])
    base = root / "cls"
    for name, images in crops.items():
        if len(images) < 2:
            continue
        for i, crop in enumerate(images):
            d = base / ("train" if i % 2 == 0 else "val") / name
            d.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(d / f"{name}_{i}.jpg"), crop)
    return base


def bus_frames(bus_jpg: Path, n: int = 8, size: tuple[int, int] = (240, 320)) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` frames panning and zooming across ``bus.jpg``, each with its ``(K, 5)`` labels ``class, cx, cy, w, h``.

    The first frame is the whole image; then the crop window shrinks to 600x800 pixels while it moves towards the
    bottom-right corner, so objects move and grow a little between frames; boxes less than half visible are dropped.
    """
    im = cv2.imread(str(bus_jpg))
    ih, iw = im.shape[:2]
    boxes = np.array(BUS_BOXES, dtype=np.float64)
    out = []
    for i in range(n):
        f = i / max(n - 1, 1)
        cw = iw - (iw - 600) * f
        ch = cw * ih / iw
        x0, y0 = (iw - cw) * f, (ih - ch) * f
        crop = cv2.resize(im[int(y0) : int(y0 + ch), int(x0) : int(x0 + cw)], size, interpolation=cv2.INTER_AREA)
        xy = boxes[:, 1:] - [x0, y0, x0, y0]
        clipped = xy.clip(0, [cw, ch, cw, ch])
        area = (xy[:, 2] - xy[:, 0]) * (xy[:, 3] - xy[:, 1])
        keep = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1]) >= 0.5 * area
        c = clipped[keep] / [cw, ch, cw, ch]
        xywh = np.stack([(c[:, 0] + c[:, 2]) / 2, (c[:, 1] + c[:, 3]) / 2, c[:, 2] - c[:, 0], c[:, 3] - c[:, 1]], 1)
        out.append((crop, np.concatenate([boxes[keep, :1], xywh], 1)))
    return out


def build_bus_detect(root: Path, bus_jpg: Path, n: int = 8) -> Path:
    """A two-class (person, bus) detection dataset of the ``bus_frames``, train and val alike; returns the data YAML."""
    base = root / "bus"
    for split in ("train", "val"):
        (base / "images" / split).mkdir(parents=True, exist_ok=True)
        (base / "labels" / split).mkdir(parents=True, exist_ok=True)
    for i, (frame, labels) in enumerate(bus_frames(bus_jpg, n)):
        for split in ("train", "val"):
            cv2.imwrite(str(base / "images" / split / f"bus_{i}.jpg"), frame)
            text = "\n".join(f"{int(r[0])} {_fmt(r[1:])}" for r in labels) + "\n"
            (base / "labels" / split / f"bus_{i}.txt").write_text(text)
    data = {"path": str(base), "train": "images/train", "val": "images/val", "names": BUS_NAMES}
    return _write_yaml(root / "bus.yaml", data)


def write_video(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """Write ``frames`` (BGR, all the same size) to an MJPG ``.avi`` that OpenCV and Ultralytics read back."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path} with the MJPG codec")
    for f in frames:
        writer.write(f)
    writer.release()
    return path


# Session-wide cache: several test modules share one trained model; pytest fixtures in different modules (without a
# shared conftest entry) would each train their own.
_CACHE: dict = {}

# 200 optimiser steps on the 16 bus frames at 64 pixels, no augmentation: enough for yolov12n to find the bus
# (conf > 0.5) in every frame, in about 30 s on two CPU cores. Persons are too small at 64 pixels to be learnt.
BUS_TRAIN = dict(
    epochs=50,
    imgsz=64,
    batch=4,
    workers=0,
    device="cpu",
    seed=0,
    deterministic=True,
    amp=False,
    plots=False,
    val=False,
    optimizer="AdamW",
    lr0=0.01,
    cos_lr=True,
    lrf=0.02,
    warmup_epochs=0,
    mosaic=0.0,
    scale=0.0,
    translate=0.0,
    fliplr=0.0,
    hsv_h=0.0,
    hsv_s=0.0,
    hsv_v=0.0,
)


def bus_detector(root: Path, bus_jpg: Path, cfg: str = "yolov12n.yaml") -> Path:
    """``best.pt`` of ``cfg`` trained on the bus frames (``BUS_TRAIN``), trained once per process and ``cfg``."""
    if cfg not in _CACHE:
        import albumentations as A
        from ultralytics import YOLO

        import ultra_yolov12

        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        data = build_bus_detect(root, bus_jpg, n=16)
        model = YOLO(cfg)
        # Older Ultralytics releases (8.3.0 among them) do not seed Albumentations 2.x's own RNG, so its default 1 %
        # blur/gray steps make runs differ; an empty pixel step keeps training reproducible on every release.
        ultra_yolov12.add_albumentations(model, [A.ToGray(p=0.0)])
        model.train(data=str(data), project=str(root / "runs"), name="bus", exist_ok=True, **BUS_TRAIN)
        _CACHE[cfg] = Path(model.trainer.best)
    return _CACHE[cfg]
