"""The twelve COCO metrics (pycocotools' AP/AR table) of a model on a YOLO-format dataset.

    python examples/coco_metrics.py --model runs/detect/train/weights/best.pt --data coco8.yaml

Ultralytics' own ``val`` reports mAP50-95 with its own matcher; papers (YOLOv12's included) report pycocotools'
numbers. ``ultra_yolov12.coco.coco_eval`` runs the model through Ultralytics' validator and scores the detections with
pycocotools; the CLI equivalent is ``ultra-yolov12 coco-eval model=... data=...``.
"""

from __future__ import annotations

import argparse
import json

from ultra_yolov12.coco import coco_eval


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="yolov12n.yaml")
    p.add_argument("--data", default="coco8.yaml")
    p.add_argument("--imgsz", type=int, default=640)
    args = p.parse_args()

    stats = coco_eval(args.model, args.data, imgsz=args.imgsz)
    print(json.dumps(stats, indent=2, default=str))


if __name__ == "__main__":
    main()
