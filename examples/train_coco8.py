"""Train YOLOv12-N from scratch on COCO8 (4 train / 4 val images) and report its validation metrics.

    python examples/train_coco8.py                          # COCO8 is downloaded once by Ultralytics
    python examples/train_coco8.py --data path/to/coco8.yaml --epochs 1 --imgsz 64   # offline, ~30 s on 2 CPU cores

Prints the path of ``best.pt`` and the validation mAP; the run lives in ``<project>/<name>`` as for ``yolo train``.
A few epochs on eight images do not make a useful detector: this shows the workflow, not the accuracy.
"""

from __future__ import annotations

import argparse

from ultralytics import YOLO

import ultra_yolov12  # noqa: F401  (registers YOLOv12; the start-up hook usually did already)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="yolov12n.yaml", help="config (from scratch) or checkpoint (fine-tune)")
    p.add_argument("--data", default="coco8.yaml")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--device", default="cpu")
    p.add_argument("--project", default=None, help="parent of the run directory (default: Ultralytics' runs/detect)")
    p.add_argument("--name", default="train")
    args = p.parse_args()

    model = YOLO(args.model)  # yolov12n.yaml resolves to the config shipped with ultra-yolov12
    model.train(
        data=args.data,
        epochs=args.epochs,
        imgsz=args.imgsz,
        batch=args.batch,
        device=args.device,
        workers=0,
        project=args.project,
        name=args.name,
        plots=False,
        seed=0,
        deterministic=True,
    )
    metrics = model.val(data=args.data, imgsz=args.imgsz, batch=args.batch, device=args.device, plots=False)
    print(f"best: {model.trainer.best}")
    print(f"mAP50-95: {metrics.box.map:.4f}  mAP50: {metrics.box.map50:.4f}")


if __name__ == "__main__":
    main()
