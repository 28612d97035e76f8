"""Detect objects in an image (or a folder, video, URL) with a YOLOv12 checkpoint and print one line per box.

    python examples/predict.py --model runs/detect/train/weights/best.pt --source path/to/image.jpg

Output lines read ``<image> <class> <confidence> <x1> <y1> <x2> <y2>`` (pixels of the original image); the annotated
images are saved in ``<project>/<name>`` as for ``yolo predict``. Official YOLOv12 checkpoints (v1.0 or turbo) and
Ultralytics' own ``yolo12n.pt`` load the same way.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ultralytics import YOLO
from ultralytics.utils import ASSETS

import ultra_yolov12  # noqa: F401  (registers YOLOv12; the start-up hook usually did already)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="yolov12n.yaml", help="checkpoint; a YAML gives random weights (no boxes)")
    p.add_argument("--source", default=str(ASSETS / "bus.jpg"))
    p.add_argument("--conf", type=float, default=0.25)
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--device", default="cpu")
    p.add_argument("--project", default=None)
    p.add_argument("--name", default="predict")
    args = p.parse_args()

    model = YOLO(args.model)
    for r in model.predict(
        args.source,
        conf=args.conf,
        imgsz=args.imgsz,
        device=args.device,
        save=True,
        project=args.project,
        name=args.name,
        stream=True,  # one result at a time: constant memory for folders and videos
        verbose=False,
    ):
        for box, conf, cls in zip(r.boxes.xyxy.tolist(), r.boxes.conf.tolist(), r.boxes.cls.tolist()):
            name = r.names[int(cls)].replace(" ", "_")
            print(f"{Path(r.path).name} {name} {conf:.4f} " + " ".join(f"{v:.1f}" for v in box))
    print(f"saved: {r.save_dir}")


if __name__ == "__main__":
    main()
