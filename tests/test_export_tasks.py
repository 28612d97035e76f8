"""Exports beyond plain fp32 detection: NMS inside the graph, dynamic batch, and the seg/pose/obb/cls heads.

- ``nms=True`` (Ultralytics releases whose exporter has it; 8.3.0 does not): the bus detectors of both families
  (``taskdata.bus_detector``) exported to ONNX with dynamic batch, OpenVINO and TorchScript must give PyTorch's
  detections on bus.jpg and zidane.jpg, one by one and as a batch of 2 where the batch is dynamic (boxes 1 px,
  scores 1e-3, the tolerances of test_export; OpenVINO on bf16 CPUs: 8 px / 3e-2, reasoned there).
- ``dynamic=True`` without NMS: v1.0 to ONNX and turbo to OpenVINO (test_export covers turbo ONNX), both images one by
  one and as a batch of 2.
- Tasks: each of ``yolov12n-{seg,pose,obb,cls}[-turbo].yaml`` (to ONNX or OpenVINO, alternating, so that every task
  meets both formats and both families) with deterministic non-degenerate weights
  (``ultra_yolov12.benchmark.lively``); every output tensor of the runtime, at fp32
  (OpenVINO compiled with an f32 precision hint), equals PyTorch's within 1e-4 of its largest value.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from taskdata import bus_detector
from test_export import CONF, IMGSZ, assert_runtime_detections, detections
from test_tasks import _raw
from ultralytics import YOLO
from ultralytics.engine import exporter
from ultralytics_log import LogCapture

from ultra_yolov12.benchmark import lively

# nms= is older than NMS inside exported graphs (8.3.0 has the key for CoreML only); the graph NMS is NMSModel
HAS_NMS = hasattr(exporter, "NMSModel")
FAMILIES = {"v1.0": "yolov12n.yaml", "turbo": "yolov12n-turbo.yaml"}


@pytest.fixture(scope="module")
def detectors(tmp_path_factory, bus_jpg) -> dict[str, Path]:
    root = tmp_path_factory.getbasetemp()
    return {k: bus_detector(root / f"bus_detector_{cfg}", bus_jpg, cfg=cfg) for k, cfg in FAMILIES.items()}


def _check(src: Path, exported: str, images, fmt: str, batch: bool) -> None:
    model, out = YOLO(src), YOLO(exported, task="detect")
    ref = {im.name: detections(model, im) for im in images}
    assert any(s > 0.25 and c == 1 for c, s, _ in ref["bus.jpg"]), f"the detector misses the bus: {ref['bus.jpg']}"
    for im in images:
        assert_runtime_detections(ref[im.name], detections(out, im), im, fmt)
    if batch:
        results = out.predict(list(images), imgsz=IMGSZ, conf=CONF, batch=2, device="cpu", verbose=False)
        for im, r in zip(images, results):
            b = r.boxes
            got = list(zip(b.cls.int().tolist(), b.conf.tolist(), b.xyxy.numpy()))
            assert_runtime_detections(ref[im.name], got, im, fmt)


NMS_CASES = [("v1.0", "onnx"), ("turbo", "onnx"), ("v1.0", "openvino"), ("turbo", "torchscript")]


@pytest.mark.slow
@pytest.mark.skipif(not HAS_NMS, reason="this Ultralytics release cannot put NMS into exported graphs (8.3.0 cannot)")
@pytest.mark.parametrize("family, fmt", NMS_CASES, ids=[f"{f}-{x}" for f, x in NMS_CASES])
def test_nms_in_graph_matches_pytorch(family, fmt, detectors, bus_jpg, zidane_jpg, tmp_path):
    src = tmp_path / "bus.pt"
    shutil.copy(detectors[family], src)
    dynamic = fmt != "torchscript"
    with LogCapture() as log:
        path = YOLO(src).export(format=fmt, imgsz=IMGSZ, nms=True, conf=CONF, dynamic=dynamic, device="cpu")
    log.assert_no_install_attempt()
    if fmt == "onnx":
        import onnx

        g = onnx.load(path).graph
        assert any(n.op_type in ("NonMaxSuppression", "TopK") for n in g.node), "no NMS in the ONNX graph"
        assert g.output[0].type.tensor_type.shape.dim[-1].dim_value == 6  # x1 y1 x2 y2 score class
    _check(src, path, (bus_jpg, zidane_jpg), fmt, batch=dynamic)


@pytest.mark.slow
@pytest.mark.parametrize("family, fmt", [("v1.0", "onnx"), ("turbo", "openvino")], ids=["v1.0-onnx", "turbo-openvino"])
def test_dynamic_batch_matches_pytorch(family, fmt, detectors, bus_jpg, zidane_jpg, tmp_path):
    src = tmp_path / "bus.pt"
    shutil.copy(detectors[family], src)
    path = YOLO(src).export(format=fmt, imgsz=IMGSZ, dynamic=True, device="cpu")
    _check(src, path, (bus_jpg, zidane_jpg), fmt, batch=True)


def _runtime_outputs(fmt: str, path: str, x: np.ndarray) -> list[np.ndarray]:
    if fmt == "onnx":
        import onnxruntime as ort

        s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        return s.run(None, {s.get_inputs()[0].name: x})
    import openvino as ov

    compiled = ov.Core().compile_model(next(Path(path).glob("*.xml")), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled(x)
    return [result[o] for o in compiled.outputs]


# every task in both families and both formats, each config once (the test budget): the format alternates
TASK_CASES = [
    (f"yolov12n-{t}{f}.yaml", fmt)
    for i, t in enumerate(("seg", "pose", "obb", "cls"))
    for f, fmt in zip(("", "-turbo"), ("onnx", "openvino") if i % 2 == 0 else ("openvino", "onnx"))
]


@pytest.mark.slow
@pytest.mark.parametrize("cfg, fmt", TASK_CASES, ids=[f"{c[9:-5]}-{f}" for c, f in TASK_CASES])
def test_task_export_matches_pytorch(cfg, fmt, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a model built from a YAML exports next to the YAML's bare name, i.e. into the cwd
    model = YOLO(cfg)
    lively(model.model)
    task = model.task
    with LogCapture() as log:
        path = model.export(format=fmt, imgsz=IMGSZ, device="cpu")
    log.assert_no_install_attempt()
    x = torch.rand(1, 3, IMGSZ, IMGSZ, generator=torch.Generator().manual_seed(0))
    ref = _raw(model.model.float().eval(), x)
    outs = _runtime_outputs(fmt, path, x.numpy())
    assert len(outs) == (2 if task == "segment" else 1), f"{task}: {len(outs)} outputs"
    for out in outs:
        match = [t for t in ref if t.shape == out.shape]
        assert match, f"{fmt} output {out.shape} has no PyTorch counterpart among {[t.shape for t in ref]}"
        err = min(float(np.abs(out - t).max() / max(1.0, np.abs(t).max())) for t in match)
        assert err < 1e-4, f"{task} {fmt} output {out.shape} differs from PyTorch by {err} (relative to its maximum)"
    exported = YOLO(path, task=task)  # and Ultralytics' own predictor runs it
    r = exported.predict(torch.rand(64, 64, 3).mul(255).numpy().astype(np.uint8), imgsz=IMGSZ, device="cpu")[0]
    assert (r.probs is not None) if task == "classify" else (r.boxes is not None or r.obb is not None)
