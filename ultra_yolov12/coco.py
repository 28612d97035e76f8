"""COCO metrics (pycocotools) for any YOLO-format detection dataset.

Ultralytics runs pycocotools only for COCO itself. :func:`coco_eval` gives every detection dataset the full COCO
summary (AP, AP50, AP75, AP small/medium/large, AR@1/10/100, AR small/medium/large: the paper's Table 6 breakdown)
from one call: the YOLO labels become a COCO ground-truth JSON, the model's predictions a COCO results JSON, both
written atomically to an Ultralytics-style run dir (``<runs_dir>/<task>/coco_eval``, incremented), then pycocotools
evaluates them. Everything goes through Ultralytics' public API (``YOLO.predict``, ``check_det_dataset``).

Conventions: category ids are the dataset's class indices; image ids count from 1 in sorted file order; a GT box's
``area`` is its box area (YOLO labels carry no masks), which is what decides small/medium/large; polygon label rows
count as their bounding box, pose rows as their box.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from .files import write_atomic

__all__ = ["METRIC_KEYS", "COCOMetrics", "coco_eval", "coco_summary", "yolo_to_coco"]

# The order of pycocotools' COCOeval.stats for iouType="bbox".
METRIC_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


class COCOMetrics(dict):
    """The 12 COCO numbers by name (``METRIC_KEYS``, fractions in [0, 1]; -1 where a size range has no GT), plus
    ``save_dir``, ``gt_json``, ``pred_json`` and ``metrics_json`` (the files this evaluation wrote)."""

    save_dir: Path
    gt_json: Path
    pred_json: Path
    metrics_json: Path


def _prefix() -> str:
    from ultralytics.utils import colorstr

    return colorstr("ultra-yolov12 coco-eval: ")


def _write_json(path: Path, obj: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (temporary file in the same folder, then rename)."""
    return write_atomic(path, json.dumps(obj))


def _split_images(data: dict, split: str) -> list[Path]:
    """Image files of ``data[split]`` (a folder, a ``.txt`` list, or a list of either), sorted."""
    from ultralytics.data.utils import IMG_FORMATS

    if not data.get(split):
        raise ValueError(f"the dataset has no '{split}' split; pass split= one of: train, val, test (those it defines)")
    entries = data[split] if isinstance(data[split], (list, tuple)) else [data[split]]
    files: list[Path] = []
    for entry in entries:
        p = Path(entry)
        if p.is_dir():
            files += [f for f in p.rglob("*.*") if f.suffix[1:].lower() in IMG_FORMATS]
        elif p.is_file() and p.suffix == ".txt":
            for line in p.read_text().splitlines():
                line = line.strip()
                if line:
                    f = Path(line) if Path(line).is_absolute() else (p.parent / line)
                    files.append(f.resolve())
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"'{split}' entry {entry} of the dataset does not exist")
    if not files:
        raise FileNotFoundError(f"no images found for split '{split}' in {entries}")
    return sorted(set(files))


def _label_boxes(label_file: Path, nkpt_cols: int) -> np.ndarray:
    """``(N, 5)`` array of ``class, cx, cy, w, h`` (normalised) from a YOLO label file (boxes, polygons or pose)."""
    if not label_file.is_file():
        return np.zeros((0, 5))
    rows = []
    for line in label_file.read_text().splitlines():
        v = [float(x) for x in line.split()]
        if not v:
            continue
        if len(v) == 5 or (nkpt_cols and len(v) == 5 + nkpt_cols):
            rows.append(v[:5])
        elif len(v) >= 7 and len(v) % 2 == 1:  # polygon: class, x1, y1, x2, y2, ...
            xy = np.array(v[1:]).reshape(-1, 2)
            (x1, y1), (x2, y2) = xy.min(0), xy.max(0)
            rows.append([v[0], (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1])
        else:
            raise ValueError(f"{label_file}: a row with {len(v)} values is neither a box, a polygon nor a pose row")
    return np.array(rows, dtype=np.float64).reshape(-1, 5)


def yolo_to_coco(data: dict, split: str = "val") -> dict:
    """COCO ground truth (``images``, ``annotations``, ``categories``) for one split of a checked Ultralytics dataset.

    Args:
        data (dict): A dataset dict as returned by ``ultralytics.data.utils.check_det_dataset``.
        split (str): ``"val"``, ``"test"`` or ``"train"``.

    Returns:
        (dict): The COCO ground-truth document; each image entry also has ``file`` (its absolute path).
    """
    from PIL import Image
    from ultralytics.data.utils import exif_size, img2label_paths

    kpt = data.get("kpt_shape")
    nkpt_cols = int(kpt[0] * kpt[1]) if kpt else 0
    images, annotations = [], []
    files = _split_images(data, split)
    for image_id, (im_file, lb_file) in enumerate(zip(files, img2label_paths([str(f) for f in files])), 1):
        with Image.open(im_file) as im:
            w, h = exif_size(im)
        images.append({"id": image_id, "file_name": im_file.name, "file": str(im_file), "width": w, "height": h})
        for c, cx, cy, bw, bh in _label_boxes(Path(lb_file), nkpt_cols):
            box = [(cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(c),
                    "bbox": [round(x, 3) for x in box],
                    "area": round(box[2] * box[3], 3),
                    "iscrowd": 0,
                }
            )
    categories = [{"id": int(i), "name": str(n)} for i, n in data["names"].items()]
    return {"images": images, "annotations": annotations, "categories": categories}


def coco_summary(gt_json: str | Path, pred_json: str | Path, verbose: bool = True) -> dict[str, float]:
    """Run pycocotools' bbox evaluation on two COCO JSON files and return the 12 numbers by name (``METRIC_KEYS``)."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    out = io.StringIO()
    with contextlib.redirect_stdout(out):  # pycocotools prints; pass its summary to the logger instead
        gt = COCO(str(gt_json))
        preds = json.loads(Path(pred_json).read_text())
        if not preds:
            return dict.fromkeys(METRIC_KEYS, 0.0)
        ev = COCOeval(gt, gt.loadRes(str(pred_json)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    if verbose:
        from ultralytics.utils import LOGGER

        LOGGER.info("\n".join(line for line in out.getvalue().splitlines() if line.lstrip().startswith("Average")))
    return {k: float(v) for k, v in zip(METRIC_KEYS, ev.stats)}


def coco_eval(
    model: Any,
    data: str | Path,
    split: str = "val",
    imgsz: int = 640,
    batch: int = 16,
    conf: float = 0.001,
    iou: float = 0.7,
    max_det: int = 300,
    device: str | None = None,
    half: bool = False,
    project: str | Path | None = None,
    name: str = "coco_eval",
    exist_ok: bool = False,
    verbose: bool = True,
) -> COCOMetrics:
    """COCO bbox metrics of ``model`` on one split of any YOLO-format detection dataset.

    Args:
        model (str | Path | ultralytics.YOLO): A detection (or segmentation/pose: their boxes are scored) model or
            a checkpoint/exported file that ``YOLO()`` loads.
        data (str | Path): Dataset YAML, as for ``yolo val``.
        split (str): Split to evaluate (``val``, ``test`` or ``train``).
        imgsz, batch, conf, iou, max_det, device, half: Passed to ``model.predict`` (COCO wants a low ``conf``).
        project (str | Path | None): Parent of the run dir; default ``<runs_dir>/<task>``.
        name (str): Run dir name, incremented unless ``exist_ok``.
        exist_ok (bool): Reuse ``project/name`` if it exists.
        verbose (bool): Log the pycocotools summary and where the files went.

    Returns:
        (COCOMetrics): ``{"AP": ..., "AP50": ..., ..., "ARl": ...}`` with the paths of the written JSON files.

    Examples:
        >>> import ultra_yolov12
        >>> m = ultra_yolov12.coco_eval("runs/detect/train/weights/best.pt", data="my_data.yaml", imgsz=640)
        >>> m["AP"], m["APs"], m.pred_json
    """
    from ultralytics import YOLO
    from ultralytics.data.utils import check_det_dataset
    from ultralytics.utils import LOGGER, SETTINGS
    from ultralytics.utils.files import increment_path

    model = model if isinstance(model, YOLO) else YOLO(model)
    if model.task not in {"detect", "segment", "pose"}:
        raise ValueError(
            f"coco_eval scores axis-aligned boxes, but this is a '{model.task}' model; "
            "use a detect, segment or pose model (OBB and classification have no COCO bbox metric)"
        )
    data_dict = check_det_dataset(str(data), autodownload=False)
    gt = yolo_to_coco(data_dict, split)
    if not gt["annotations"]:  # pycocotools would score every model 0 (or -1) without a word
        from ultralytics.data.utils import img2label_paths

        example = img2label_paths([gt["images"][0]["file"]])[0]
        raise ValueError(
            f"split '{split}' of {data} has no labels: none of its {len(gt['images'])} images has a box (looked for "
            f"YOLO label files such as {example}); COCO metrics need ground truth, so add the label files or "
            "choose a labelled split"
        )
    save_dir = Path(project or Path(SETTINGS["runs_dir"]) / model.task) / name
    save_dir = increment_path(save_dir, exist_ok=exist_ok)  # created only when the files are written

    names = {int(i) for i in data_dict["names"]}
    results = []
    kwargs = dict(imgsz=imgsz, conf=conf, iou=iou, max_det=max_det, half=half, batch=batch, verbose=False)
    if device is not None:
        kwargs["device"] = device
    files = [im["file"] for im in gt["images"]]
    if verbose:
        LOGGER.info(f"{_prefix()}predicting {len(files)} {split} images of {data}")
    for start in range(0, len(files), batch):  # predict in chunks: a list source is loaded whole
        chunk = gt["images"][start : start + batch]
        for im, r in zip(chunk, model.predict([im["file"] for im in chunk], stream=True, **kwargs)):
            boxes = r.boxes
            for (x1, y1, x2, y2), s, c in zip(boxes.xyxy.tolist(), boxes.conf.tolist(), boxes.cls.tolist()):
                if int(c) not in names:
                    raise ValueError(
                        f"the model predicts class {int(c)}, which {data} does not name; "
                        "evaluate a model trained on this dataset's classes"
                    )
                box = [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)]
                results.append({"image_id": im["id"], "category_id": int(c), "bbox": box, "score": round(s, 5)})

    for im in gt["images"]:
        im.pop("file")
    metrics = COCOMetrics()
    metrics.save_dir = save_dir
    created = not save_dir.exists()
    written: list[Path] = []
    try:  # all three files or none of them: an interrupted evaluation leaves no run dir with half its results
        save_dir.mkdir(parents=True, exist_ok=True)
        metrics.gt_json = _write_json(save_dir / "gt_coco.json", gt)
        written.append(metrics.gt_json)
        metrics.pred_json = _write_json(save_dir / "predictions_coco.json", results)
        written.append(metrics.pred_json)
        metrics.update(coco_summary(metrics.gt_json, metrics.pred_json, verbose=verbose))
        metrics.metrics_json = _write_json(save_dir / "metrics.json", dict(metrics))
    except BaseException:
        for f in written:
            f.unlink(missing_ok=True)
        if created:
            with contextlib.suppress(OSError):  # only if empty: never remove what someone else put there
                save_dir.rmdir()
        raise
    if verbose:
        LOGGER.info(
            f"{_prefix()}{len(files)} images, {len(gt['annotations'])} GT boxes, {len(results)} predictions; "
            f"AP {metrics['AP']:.4f} AP50 {metrics['AP50']:.4f}. Results saved to {save_dir}"
        )
    return metrics
