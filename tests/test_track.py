"""Multi-object tracking with YOLOv12 through Ultralytics' ByteTrack and BoT-SORT (Python API and ``yolo track``).

The video pans and zooms across ``bus.jpg`` (``taskdata.bus_frames``, 16 frames written with ``cv2.VideoWriter``); the
detector is yolov12n trained on those frames (``taskdata.bus_detector``), which finds the bus in every frame at 64 px.
The bus must keep one track ID from the frame it is first seen to the last, with the stock tracker configs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from taskdata import bus_detector, bus_frames, write_video
from ultralytics import YOLO

IMGSZ = 64
BUS = 1  # class index in the bus dataset


@pytest.fixture(scope="module")
def bus_pt(tmp_path_factory, bus_jpg) -> Path:
    return bus_detector(tmp_path_factory.getbasetemp() / "bus_detector", bus_jpg)


@pytest.fixture(scope="module")
def video(tmp_path_factory, bus_jpg) -> Path:
    path = write_video(tmp_path_factory.mktemp("video") / "pan.avi", [f for f, _ in bus_frames(bus_jpg, n=16)])
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    assert frames == 16, f"OpenCV reads {frames} frames back from {path}"
    return path


def assert_bus_keeps_its_id(ids_per_frame: list[list[tuple[int, int]]]) -> None:
    """``ids_per_frame``: per frame, ``(class, track_id)`` pairs. The bus is tracked in (nearly) every frame, always
    with the same ID."""
    bus_ids = [[i for c, i in frame if c == BUS] for frame in ids_per_frame]
    seen = [ids for ids in bus_ids if ids]
    assert len(ids_per_frame) == 16
    assert len(seen) >= 14, f"the bus is tracked in only {len(seen)} of 16 frames: {bus_ids}"
    assert all(len(ids) == 1 for ids in seen), f"more than one bus track in a frame: {bus_ids}"
    assert len({ids[0] for ids in seen}) == 1, f"the bus changed track ID: {bus_ids}"


@pytest.mark.slow
@pytest.mark.parametrize("tracker", ["bytetrack.yaml", "botsort.yaml"])
def test_track_keeps_ids_across_frames(tracker, bus_pt, video):
    model = YOLO(bus_pt)
    ids = []
    for r in model.track(source=str(video), tracker=tracker, imgsz=IMGSZ, device="cpu", stream=True, verbose=False):
        boxes = r.boxes
        ids.append([] if boxes.id is None else list(zip(boxes.cls.int().tolist(), boxes.id.int().tolist())))
    assert_bus_keeps_its_id(ids)


@pytest.mark.slow
def test_yolo_track_cli(bus_pt, video, tmp_path):
    """Plain ``yolo track`` in a fresh interpreter; IDs read back from the per-frame label files it saves."""
    exe = Path(sys.executable).with_name("yolo")
    cmd = [
        str(exe),
        "track",
        f"model={bus_pt}",
        f"source={video}",
        "tracker=bytetrack.yaml",
        f"imgsz={IMGSZ}",
        "device=cpu",
        "save_txt=True",
        f"project={tmp_path}",
        "name=track",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    labels = sorted((tmp_path / "track" / "labels").glob("*.txt"), key=lambda p: int(p.stem.rsplit("_", 1)[-1]))
    by_frame = {int(p.stem.rsplit("_", 1)[-1]): p for p in labels}
    ids = []
    for frame in range(1, 17):  # Ultralytics numbers video frames from 1 and skips files for frames without boxes
        rows = [line.split() for line in by_frame[frame].read_text().splitlines()] if frame in by_frame else []
        ids.append([(int(row[0]), int(row[-1])) for row in rows if len(row) == 6])  # cls x y w h id
    assert_bus_keeps_its_id(ids)
