"""``ultra_yolov12.coco_eval``: COCO metrics for any YOLO dataset, equal to plain pycocotools on its JSON files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import taskdata
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from ultralytics import YOLO
from ultralytics.data.utils import check_det_dataset

import ultra_yolov12
from ultra_yolov12.coco import METRIC_KEYS, yolo_to_coco


@pytest.fixture(scope="module")
def bus(tmp_path_factory, bus_jpg) -> tuple[Path, Path]:
    """The bus model and its dataset (16 frames, 1 bus and 2-4 persons each)."""
    root = tmp_path_factory.getbasetemp() / "bus_detector"
    return taskdata.bus_detector(root, bus_jpg), root / "bus.yaml"


def pycocotools_stats(gt_json: Path, pred_json: Path) -> list[float]:
    gt = COCO(str(gt_json))
    ev = COCOeval(gt, gt.loadRes(str(pred_json)), "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return [float(x) for x in ev.stats]


@pytest.mark.slow
def test_coco_eval_equals_pycocotools_on_its_json_files(bus, tmp_path):
    model, data = bus
    m = ultra_yolov12.coco_eval(model, data=data, imgsz=64, batch=8, device="cpu", project=tmp_path, name="ce")
    assert list(m) == list(METRIC_KEYS)
    assert m == dict(zip(METRIC_KEYS, pycocotools_stats(m.gt_json, m.pred_json)))
    assert m["AP50"] > 0.3 and 0 < m["AP"] <= m["AP50"]  # the bus is found in every frame
    assert m["APl"] > 0 and m["APs"] == -1  # every box is large at 240x320; no small GT at all

    gt, preds = json.loads(m.gt_json.read_text()), json.loads(m.pred_json.read_text())
    labels = sorted((data.parent / "bus" / "labels" / "val").glob("*.txt"))
    assert len(gt["images"]) == len(labels) == 16
    assert len(gt["annotations"]) == sum(len(p.read_text().splitlines()) for p in labels)
    assert {c["id"]: c["name"] for c in gt["categories"]} == {0: "person", 1: "bus"}
    assert preds and {p["image_id"] for p in preds} <= {im["id"] for im in gt["images"]}
    assert json.loads(m.metrics_json.read_text()) == dict(m)
    assert m.save_dir == tmp_path / "ce" and not list(m.save_dir.glob("*.tmp"))

    again = ultra_yolov12.coco_eval(YOLO(model), data=data, imgsz=64, project=tmp_path, name="ce", verbose=False)
    assert again.save_dir != m.save_dir and again == m  # a new run dir, the same numbers


def test_gt_in_pixels_and_polygon_rows_count_as_their_box(tmp_path, coco8_yaml):
    boxes = yolo_to_coco(check_det_dataset(str(coco8_yaml), autodownload=False), "val")
    # COCO8 val/000000000042.jpg (640x478): one dog, "16 0.606687 0.341381 0.544156 0.51"
    im = next(i for i in boxes["images"] if i["file_name"] == "000000000042.jpg")
    (ann,) = [a for a in boxes["annotations"] if a["image_id"] == im["id"]]
    assert (im["width"], im["height"]) == (640, 478) and ann["category_id"] == 16
    np.testing.assert_allclose(ann["bbox"], [214.1, 41.3, 348.3, 243.8], atol=0.1)
    assert ann["area"] == pytest.approx(ann["bbox"][2] * ann["bbox"][3], rel=1e-5)

    seg = yolo_to_coco(check_det_dataset(str(taskdata.build_seg(tmp_path, coco8_yaml)), autodownload=False), "val")
    rows = sum(len(p.read_text().splitlines()) for p in (coco8_yaml.parent / "coco8" / "labels" / "val").glob("*.txt"))
    assert len(seg["annotations"]) == len(boxes["annotations"]) == rows == 17
    for a, b in zip(seg["annotations"], boxes["annotations"]):
        assert a["category_id"] == b["category_id"]
        np.testing.assert_allclose(a["bbox"], b["bbox"], atol=0.01)  # the ellipse touches its box at 4 points


def test_rejects_models_without_axis_aligned_boxes(coco8_yaml, tmp_path):
    with pytest.raises(ValueError, match="'obb' model"):
        ultra_yolov12.coco_eval("yolov12n-obb.yaml", data=coco8_yaml, project=tmp_path)
