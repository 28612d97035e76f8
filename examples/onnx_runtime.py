"""Export YOLOv12 to ONNX and run it with ONNX Runtime directly: numpy pre- and post-processing, no Ultralytics.

    python examples/onnx_runtime.py --model runs/detect/train/weights/best.pt --source path/to/image.jpg

Steps: ``YOLO(model).export(format="onnx")``; letterbox the image to ``imgsz x imgsz`` (grey 114 padding, centred),
RGB, 0-1, NCHW; run the session; the output ``(1, 4 + classes, anchors)`` holds box centre/size in input pixels and
per-class scores; keep the best class per anchor above ``--conf``; class-aware non-maximum suppression at ``--iou``;
undo the letterbox. Prints ``<class> <confidence> <x1> <y1> <x2> <y2>`` per box, as ``examples/predict.py`` does.
"""

from __future__ import annotations

import argparse
import ast

import cv2
import numpy as np
import onnxruntime as ort
from ultralytics import YOLO
from ultralytics.utils import ASSETS

import ultra_yolov12  # noqa: F401  (registers YOLOv12; the start-up hook usually did already)


def letterbox(img: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Resize to fit ``size x size`` keeping the aspect ratio, pad with grey; returns image, scale, (left, top)."""
    h, w = img.shape[:2]
    r = min(size / h, size / w)
    nw, nh = round(w * r), round(h * r)
    left, top = round((size - nw) / 2 - 0.1), round((size - nh) / 2 - 0.1)
    out = np.full((size, size, 3), 114, dtype=np.uint8)
    out[top : top + nh, left : left + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out, r, (left, top)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Greedy non-maximum suppression on ``(N, 4)`` xyxy boxes; returns kept indices, best first."""
    order = scores.argsort()[::-1]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(int(i))
        xy1 = np.maximum(boxes[i, :2], boxes[rest, :2])
        xy2 = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = np.prod(np.clip(xy2 - xy1, 0, None), axis=1)
        order = rest[inter / (area[i] + area[rest] - inter + 1e-9) <= iou]
    return keep


def postprocess(out: np.ndarray, conf: float, iou: float, max_det: int = 300) -> np.ndarray:
    """``(1, 4 + nc, N)`` raw output -> ``(M, 6)`` rows ``x1, y1, x2, y2, confidence, class`` in input pixels."""
    pred = out[0].T  # (N, 4 + nc)
    scores = pred[:, 4:]
    cls = scores.argmax(1)
    best = scores[np.arange(len(cls)), cls]
    keep = best > conf
    xywh, best, cls = pred[keep, :4], best[keep], cls[keep]
    xyxy = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], axis=1)
    offset = cls[:, None] * 7680.0  # shift each class far apart: one NMS call never mixes classes
    kept = nms(xyxy + offset, best, iou)[:max_det]
    return np.concatenate([xyxy[kept], best[kept, None], cls[kept, None]], axis=1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="yolov12n.yaml", help="checkpoint (.pt) to export, or an existing .onnx")
    p.add_argument("--source", default=str(ASSETS / "bus.jpg"))
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--conf", type=float, default=0.25)
    p.add_argument("--iou", type=float, default=0.7)
    args = p.parse_args()

    if args.model.endswith(".onnx"):
        onnx_path = args.model
    else:
        onnx_path = YOLO(args.model).export(format="onnx", imgsz=args.imgsz, simplify=False)
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    size = inp.shape[2] if isinstance(inp.shape[2], int) else args.imgsz
    meta = session.get_modelmeta().custom_metadata_map  # Ultralytics stores the class names here
    names = ast.literal_eval(meta["names"]) if "names" in meta else {}  # a dict literal {0: 'person', ...}

    img = cv2.imread(args.source)
    if img is None:
        raise SystemExit(f"cannot read image {args.source}")
    boxed, r, (left, top) = letterbox(img, size)
    x = np.ascontiguousarray(boxed[..., ::-1].transpose(2, 0, 1))[None].astype(np.float32) / 255.0
    (out,) = session.run(None, {inp.name: x})[:1]
    det = postprocess(out, args.conf, args.iou)
    det[:, [0, 2]] = ((det[:, [0, 2]] - left) / r).clip(0, img.shape[1])
    det[:, [1, 3]] = ((det[:, [1, 3]] - top) / r).clip(0, img.shape[0])
    print(f"onnx: {onnx_path}  input {inp.shape}  output {out.shape}")
    for x1, y1, x2, y2, c, k in det.tolist():
        name = str(names.get(int(k), int(k))).replace(" ", "_")
        print(f"{name} {c:.4f} {x1:.1f} {y1:.1f} {x2:.1f} {y2:.1f}")


if __name__ == "__main__":
    main()
