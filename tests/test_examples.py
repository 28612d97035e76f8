"""Every script in examples/ runs offline on the CPU (as a subprocess, as a user would run it) and does its job."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def run(script: str, *args, cwd: Path, timeout: int = 120) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )
    assert r.returncode == 0, f"{script} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("examples")


@pytest.fixture(scope="module")
def trained(work, coco8_yaml) -> Path:
    """examples/train_coco8.py: one epoch of YOLOv12-N on COCO8 at 64 px; returns best.pt."""
    out = run("train_coco8.py", "--data", coco8_yaml, "--epochs", 1, "--imgsz", 64, "--project", work, cwd=work)
    best = work / "train" / "weights" / "best.pt"
    assert f"best: {best}" in out and best.is_file()
    assert "mAP50-95: " in out
    with open(work / "train" / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == 1  # one epoch logged
    return best


@pytest.mark.slow
def test_predict_prints_the_same_boxes_as_ultralytics(trained, work, bus_jpg):
    from ultralytics import YOLO

    out = run("predict.py", "--model", trained, "--source", bus_jpg, "--conf", 0.0, "--imgsz", 160, "--project", work,
              cwd=work)  # fmt: skip
    lines = [line for line in out.splitlines() if line.startswith("bus.jpg ")]
    r = YOLO(trained).predict(bus_jpg, conf=0.0, imgsz=160, device="cpu", verbose=False)[0]
    expected = [
        f"bus.jpg {r.names[int(k)].replace(' ', '_')} {c:.4f} " + " ".join(f"{v:.1f}" for v in box)
        for box, c, k in zip(r.boxes.xyxy.tolist(), r.boxes.conf.tolist(), r.boxes.cls.tolist())
    ]
    assert len(expected) > 0 and lines == expected
    assert (work / "predict" / "bus.jpg").is_file()  # annotated image saved


def test_onnx_example_numpy_steps_match_references(bus_jpg):
    """The example's letterbox, NMS and decoding against Ultralytics' LetterBox, torchvision's NMS and plain loops."""
    import torchvision
    from ultralytics.data.augment import LetterBox

    ex = load_example("onnx_runtime")
    img = cv2.imread(str(bus_jpg))
    boxed, r, (left, top) = ex.letterbox(img, 320)
    np.testing.assert_array_equal(boxed, LetterBox((320, 320), auto=False)(image=img))
    assert r == 320 / 1080 and (left, top) == (40, 0)

    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 300, (400, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 80, (400, 2))], 1).astype(np.float32)
    scores = rng.permutation(400).astype(np.float32) / 400  # distinct scores: one right answer
    ref = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), 0.5).tolist()
    assert ex.nms(boxes, scores, 0.5) == ref

    out = np.zeros((1, 4 + 3, 4), np.float32)  # 3 classes, 4 anchors; columns are xywh + class scores
    out[0, :4] = np.array([[50, 50, 20, 20], [51, 50, 20, 20], [51, 50, 20, 20], [200, 100, 40, 10]]).T
    out[0, 4:, 0] = [0.9, 0.1, 0.0]  # class 0, kept
    out[0, 4:, 1] = [0.8, 0.0, 0.0]  # class 0, overlaps anchor 0 (IoU 0.9): suppressed
    out[0, 4:, 2] = [0.0, 0.0, 0.7]  # class 2 at the same place: kept (NMS is per class)
    out[0, 4:, 3] = [0.0, 0.2, 0.0]  # class 1 below conf 0.25: dropped
    det = ex.postprocess(out, conf=0.25, iou=0.7)
    np.testing.assert_allclose(det, [[40, 40, 60, 60, 0.9, 0], [41, 40, 61, 60, 0.7, 2]], rtol=1e-6)


@pytest.mark.slow
def test_onnx_runtime_end_to_end(trained, work, bus_jpg):
    out = run("onnx_runtime.py", "--model", trained, "--source", bus_jpg, "--imgsz", 160, "--conf", 0.0, cwd=work)
    assert trained.with_suffix(".onnx").is_file()
    assert "input [1, 3, 160, 160]  output (1, 84, 525)" in out  # 20*20 + 10*10 + 5*5 anchors
    lines = out.splitlines()
    rows = [line.split() for line in lines[[i for i, t in enumerate(lines) if t.startswith("onnx: ")][0] + 1 :]]
    h, w = cv2.imread(str(bus_jpg)).shape[:2]
    assert 0 < len(rows) <= 300
    for _, conf, x1, y1, x2, y2 in rows:
        assert 0 <= float(conf) <= 1 and 0 <= float(x1) <= float(x2) <= w and 0 <= float(y1) <= float(y2) <= h


@pytest.mark.slow
def test_track_writes_tracks_and_video(trained, work):
    import ultralytics

    # The 1-epoch model is nearly blind; tracker thresholds near zero let its boxes start tracks all the same.
    cfg = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg" / "trackers" / "bytetrack.yaml").read_text())
    cfg.update(track_high_thresh=1e-6, track_low_thresh=1e-7, new_track_thresh=1e-6)
    (work / "low.yaml").write_text(yaml.safe_dump(cfg))
    # (conf 1e-6, not 0: Ultralytics' track() replaces a falsy conf with 0.1)
    out = run("track.py", "--model", trained, "--conf", 1e-6, "--imgsz", 160, "--tracker", work / "low.yaml",
              "--project", work, "--name", "track", cwd=work)  # fmt: skip
    assert "frames: 20 " in out
    with open(work / "track" / "tracks.csv") as f:
        rows = list(csv.DictReader(f))
    ids = {int(r["id"]) for r in rows}
    assert rows and f"tracks: {len(ids)} " in out
    assert all(1 <= int(r["frame"]) <= 20 and 0 <= float(r["confidence"]) <= 1 for r in rows)
    videos = [p for p in (work / "track").iterdir() if p.suffix in {".mp4", ".avi"} and p.name != "clip.mp4"]
    assert len(videos) == 1  # the annotated video
    cap = cv2.VideoCapture(str(videos[0]))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 20
    cap.release()


def test_heatmap_example(work, bus_jpg):
    out = run("heatmap.py", "--source", bus_jpg, "--compare", "yolo11n.yaml", "--imgsz", 160, "--project",
              work / "hm", cwd=work)  # fmt: skip
    png = work / "hm" / "exp" / "bus.png"
    assert str(png) in out.splitlines()
    h, w = cv2.imread(str(bus_jpg)).shape[:2]
    assert cv2.imread(str(png)).shape[1] == 3 * w + 2 * 8  # image, yolov12n, yolo11n


@pytest.mark.slow
def test_coco_metrics_example(trained, work, coco8_yaml):
    out = run("coco_metrics.py", "--model", trained, "--data", coco8_yaml, "--imgsz", 64, cwd=work)
    lines = out.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith(("{", "[")))  # the JSON printed last
    stats = json.loads("\n".join(lines[start:]))
    values = list(stats.values()) if isinstance(stats, dict) else stats
    numbers = [v for v in values if isinstance(v, (int, float))]
    assert numbers and all(-1 <= v <= 1 for v in numbers)  # pycocotools: -1 where a metric is undefined
