"""Track objects through a video with a YOLOv12 checkpoint and Ultralytics' ByteTrack; write one CSV row per box.

    python examples/track.py --model runs/detect/train/weights/best.pt --source path/to/video.mp4

Without ``--source`` a 2-second clip is made from Ultralytics' bundled ``bus.jpg`` (a slow pan), so the example runs
offline. Writes ``tracks.csv`` (frame, track id, class, confidence, x1, y1, x2, y2) and the annotated video into
``<project>/<name>``, and prints the number of frames and distinct track ids.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import cv2
from ultralytics import YOLO
from ultralytics.utils import ASSETS

import ultra_yolov12  # noqa: F401  (registers YOLOv12; the start-up hook usually did already)


def make_clip(path: Path, frames: int = 20, size: tuple[int, int] = (480, 360), fps: int = 10) -> Path:
    """Write a short MP4 that pans a ``size`` window across bus.jpg."""
    img = cv2.imread(str(ASSETS / "bus.jpg"))
    w, h = size
    img = cv2.resize(img, (w * 3 // 2, round(img.shape[0] * w * 3 / 2 / img.shape[1])))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(frames):
        x = (img.shape[1] - w) * i // max(frames - 1, 1)
        y = (img.shape[0] - h) // 2
        writer.write(img[y : y + h, x : x + w])
    writer.release()
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="yolov12n.yaml", help="checkpoint; a YAML gives random weights (no tracks)")
    p.add_argument("--source", default=None, help="video file; default: a clip made from bus.jpg")
    p.add_argument("--tracker", default="bytetrack.yaml", help="bytetrack.yaml or botsort.yaml")
    p.add_argument("--conf", type=float, default=0.25)
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--device", default="cpu")
    p.add_argument("--project", default="runs/examples")
    p.add_argument("--name", default="track")
    args = p.parse_args()

    out = Path(args.project) / args.name
    out.mkdir(parents=True, exist_ok=True)
    source = args.source or str(make_clip(out / "clip.mp4"))
    model = YOLO(args.model)
    frames, ids = 0, set()
    with open(out / "tracks.csv", "w", newline="") as f:
        rows = csv.writer(f)
        rows.writerow(["frame", "id", "class", "confidence", "x1", "y1", "x2", "y2"])
        results = model.track(
            source,
            tracker=args.tracker,
            conf=args.conf,
            imgsz=args.imgsz,
            device=args.device,
            stream=True,  # frame by frame; the tracker keeps its state between frames
            save=True,
            project=args.project,
            name=args.name,
            exist_ok=True,
            verbose=False,
        )
        for frames, r in enumerate(results, start=1):
            b = r.boxes
            if b.id is None:  # no confirmed track in this frame
                continue
            for tid, k, c, xyxy in zip(b.id.int().tolist(), b.cls.tolist(), b.conf.tolist(), b.xyxy.tolist()):
                ids.add(tid)
                rows.writerow([frames, tid, r.names[int(k)], f"{c:.4f}", *(f"{v:.1f}" for v in xyxy)])
    print(f"frames: {frames}  tracks: {len(ids)}  csv: {out / 'tracks.csv'}")


if __name__ == "__main__":
    main()
