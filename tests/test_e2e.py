"""YOLOv12 through Ultralytics' own trainer, validator and predictor on real COCO images, offline, on the CPU."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest
import torch
from ultralytics import YOLO

from ultra_yolov12.nn import A2C2f

TRAIN = dict(imgsz=64, batch=4, workers=0, plots=False, device="cpu", seed=0, deterministic=True)


class Interrupt(Exception):
    """Raised by a callback to stop training as a crash or Ctrl-C would."""


def epochs_logged(run_dir) -> list[int]:
    with open(run_dir / "results.csv") as f:
        return [int(float(row["epoch"])) for row in csv.DictReader(f, skipinitialspace=True)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, coco8_yaml):
    """yolov12n trained from scratch for two epochs on COCO8."""
    project = tmp_path_factory.mktemp("runs")
    model = YOLO("yolov12n.yaml")
    model.train(data=str(coco8_yaml), epochs=2, project=str(project), name="scratch", **TRAIN)
    return model, project / "scratch"


@pytest.mark.slow
def test_train_from_scratch_writes_a_loadable_yolov12_checkpoint(trained):
    model, run_dir = trained
    assert epochs_logged(run_dir) == [1, 2]
    best = run_dir / "weights" / "best.pt"
    assert best.is_file() and (run_dir / "weights" / "last.pt").is_file()
    ckpt = torch.load(best, map_location="cpu", weights_only=False)
    assert isinstance(ckpt["model"].model[6], A2C2f)
    assert sum(p.numel() for p in ckpt["model"].parameters()) == 2_603_056


@pytest.mark.slow
def test_validate_returns_metrics(trained, coco8_yaml):
    model, _ = trained
    metrics = model.val(data=str(coco8_yaml), imgsz=64, batch=4, workers=0, plots=False, device="cpu")
    results = metrics.results_dict
    for key in ("metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)", "fitness"):
        assert key in results and 0.0 <= results[key] <= 1.0


@pytest.mark.slow
def test_predict_and_reload_best_give_identical_boxes(trained, bus_jpg, tmp_path):
    model, run_dir = trained
    kwargs = dict(imgsz=64, conf=0.0001, device="cpu", verbose=False)
    boxes = model.predict(bus_jpg, **kwargs)[0].boxes
    assert len(boxes) > 0 and (boxes.conf <= 1).all()
    again = YOLO(run_dir / "weights" / "best.pt").predict(bus_jpg, **kwargs)[0].boxes
    assert torch.equal(boxes.xyxy, again.xyxy) and torch.equal(boxes.conf, again.conf)
    assert torch.equal(boxes.cls, again.cls)

    # ...and in a fresh interpreter, where only the start-up hook brings the plugin in.
    code = (
        "from ultralytics import YOLO; import torch; "
        f"b = YOLO({str(run_dir / 'weights' / 'best.pt')!r}).predict({str(bus_jpg)!r}, imgsz=64, conf=0.0001, "
        "device='cpu', verbose=False)[0].boxes; torch.save((b.xyxy, b.conf, b.cls), "
        f"{str(tmp_path / 'boxes.pt')!r})"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    xyxy, conf, cls = torch.load(tmp_path / "boxes.pt")
    assert torch.equal(xyxy, boxes.xyxy) and torch.equal(conf, boxes.conf) and torch.equal(cls, boxes.cls)


@pytest.mark.slow
def test_resume_an_interrupted_run(tmp_path, coco8_yaml):
    model = YOLO("yolov12n-turbo.yaml")

    def stop_after_first_epoch(trainer):
        if trainer.epoch == 0:
            raise Interrupt

    model.add_callback("on_fit_epoch_end", stop_after_first_epoch)
    with pytest.raises(Interrupt):
        model.train(data=str(coco8_yaml), epochs=2, project=str(tmp_path), name="run", **TRAIN)
    last = tmp_path / "run" / "weights" / "last.pt"
    assert torch.load(last, map_location="cpu", weights_only=False)["epoch"] == 0  # one epoch done, not finished

    YOLO(last).train(resume=True)
    assert epochs_logged(tmp_path / "run") == [1, 2]
    final = torch.load(last, map_location="cpu", weights_only=False)
    assert final["epoch"] == -1  # Ultralytics marks a finished run with epoch -1
