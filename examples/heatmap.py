"""Heat maps of the last block of backbone stage 3 (the paper's Figure 5), YOLOv12 next to other models.

    python examples/heatmap.py --model yolov12n.pt --source path/to/images --compare yolo11n.pt yolov10n.pt

One PNG per image: the image, then each model's heat map, side by side under titles, in Ultralytics' runs directory
(``runs/heatmap/exp*``). Model YAMLs work offline (random weights, fixed seed) for trying it out; the CLI equivalent
is ``ultra-yolov12 heatmap model=yolov12n.pt source=path/to/images compare=yolo11n.pt,yolov10n.pt``.
"""

from __future__ import annotations

import argparse

from ultralytics.utils import ASSETS

import ultra_yolov12


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="yolov12n.yaml")
    p.add_argument("--source", default=str(ASSETS), help="image or folder")
    p.add_argument("--compare", nargs="*", default=["yolo11n.yaml"], help="models shown next to --model")
    p.add_argument("--layer", default=None, help="default: last block of backbone stage 3; e.g. 6, model.8, stage2")
    p.add_argument("--method", default="mean", choices=["mean", "eigen"])
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--device", default="cpu")
    p.add_argument("--project", default=None)
    args = p.parse_args()

    save_dir = ultra_yolov12.heatmap(
        args.model,
        args.source,
        layer=args.layer,
        compare=args.compare,
        imgsz=args.imgsz,
        method=args.method,
        device=args.device,
        project=args.project,
    )
    for png in sorted(save_dir.glob("*.png")):
        print(png)


if __name__ == "__main__":
    main()
