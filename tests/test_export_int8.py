"""int8 YOLOv12: OpenVINO through ``yolo export int8=True`` (NNCF) and ONNX Runtime static quantization
(``ultra_yolov12.quantize.quantize_onnx``), both calibrated on the COCO8 val images, for v1.0 and turbo.

Models: the yolov12n / yolov12n-turbo bus detectors of ``taskdata.bus_detector`` (they find the bus in bus.jpg with
conf > 0.25), at 64 px. What is checked:
- the int8 files exist and are really int8 (QuantizeLinear / FakeQuantize nodes), with the attention ops kept at float
  precision by default (no quantized input reaches an attention MatMul), and quantized when asked;
- agreement: the fp32 export's detections (conf >= 0.25) on bus.jpg and zidane.jpg are the ground truth of a COCO
  mAP50-95 of the int8 model's detections (``quantize.agreement``). Threshold (ONNX Runtime) 0.4: at 64 px an 8-bit
  activation step of the box branch is about 1/256 of its range, i.e. a fraction of a pixel of the 64-px input but
  up to ~8 px of the 1080-px image, which costs the strict IoU thresholds (0.85-0.95) of mAP50-95; the bus itself
  must stay found (IoU > 0.5 with fp32's box); OpenVINO: see AGREEMENT_OPENVINO and AGREEMENT_OPENVINO_MINMAX
  (``ULTRA_YOLOV12_INT8_RANGES=minmax``). docs/benchmarks/int8.md has the 640-px figures.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from taskdata import bus_detector
from test_export import box_iou
from ultralytics import YOLO
from ultralytics_log import LogCapture

from ultra_yolov12 import quantize

IMGSZ = 64
AGREEMENT_ORT = 0.4  # measured 0.50-0.91 (one or a few reference boxes: mAP50-95 moves in steps of 0.1)
# NNCF's default ranges move these small-data detectors' scores (docs/export.md: median score change 0.17-0.25 at 640,
# with or without the attention quantized, and 0.44 for a yolo11n trained alike; ONNX Runtime 0.02-0.13); at 64 px
# measured 0.7-0.9 (one reference box: steps of 0.1), earlier runs kept the bus at scores of 0.01-0.05 only.
AGREEMENT_OPENVINO = 0.3
# ULTRA_YOLOV12_INT8_RANGES=minmax (ranges over all calibration images) removes that shift: measured 1.0 (64 px).
AGREEMENT_OPENVINO_MINMAX = 0.6
FAMILIES = ["yolov12n.yaml", "yolov12n-turbo.yaml"]


def dets(model: YOLO, images, conf: float):
    out = []
    for im in images:
        b = model.predict(im, imgsz=IMGSZ, conf=conf, device="cpu", verbose=False)[0].boxes
        out.append((b.cls.numpy(), b.conf.numpy(), b.xyxy.numpy()))
    return out


def assert_agrees(ref, cand, threshold: float, bus_score: float = 0.1):
    score = quantize.agreement(ref, cand)
    print(f"agreement {score}")
    assert score["mAP50-95"] >= threshold, f"int8 agrees with fp32 at mAP50-95 {score}"
    rc, rs, rb = ref[0]  # bus.jpg: fp32's most confident bus is found by int8 too
    bus = rb[(rc == 1) & (rs >= 0.25)]
    assert len(bus), f"fp32 does not find the bus: {ref[0]}"
    cc, cs, cb = cand[0]
    assert any(box_iou(b, bus[0]) > 0.5 for b in cb[(cc == 1) & (cs > bus_score)]), f"int8 lost the bus: {cand[0]}"
    return score


@pytest.fixture(scope="module", params=FAMILIES, ids=["v1.0", "turbo"])
def detector(request, tmp_path_factory, bus_jpg) -> Path:
    return bus_detector(tmp_path_factory.getbasetemp() / f"bus_detector_{request.param}", bus_jpg, cfg=request.param)


def _onnx_inputs_from_dequantize(path: Path, attention_only: bool = True) -> tuple[int, int]:
    """(attention MatMuls, of which fed by a DequantizeLinear) in a QDQ model."""
    import onnx

    g = onnx.load(str(path)).graph
    produced_by = {o: n.op_type for n in g.node for o in n.output}
    mm = [n for n in g.node if n.op_type == "MatMul" and "/attn/" in n.name]
    return len(mm), sum(any(produced_by.get(i) == "DequantizeLinear" for i in n.input) for n in mm)


@pytest.mark.slow
def test_onnxruntime_int8_agrees_with_fp32_and_keeps_attention(detector, coco8_yaml, bus_jpg, zidane_jpg, tmp_path):
    src = tmp_path / "bus.pt"
    shutil.copy(detector, src)
    fp32 = Path(YOLO(src).export(format="onnx", imgsz=IMGSZ, device="cpu"))
    images = (bus_jpg, zidane_jpg)
    ref = dets(YOLO(fp32, task="detect"), images, 0.25)
    int8 = quantize.quantize_onnx(fp32, coco8_yaml)
    assert int8 == fp32.with_name("bus_int8.onnx") and int8.is_file()
    assert not list(tmp_path.glob(".bus_int8*")), "temporary files left behind"
    attn, quantized = _onnx_inputs_from_dequantize(int8)
    assert attn > 0 and quantized == 0, f"{quantized} of {attn} attention MatMuls take int8 inputs"
    assert_agrees(ref, dets(YOLO(int8, task="detect"), images, 0.001), AGREEMENT_ORT)

    everything = quantize.quantize_onnx(fp32, coco8_yaml, output=tmp_path / "all.onnx", keep_attention=False)
    attn, quantized = _onnx_inputs_from_dequantize(everything)
    assert quantized == attn > 0, f"only {quantized} of {attn} attention MatMuls quantized"
    assert everything.stat().st_size < 0.6 * fp32.stat().st_size  # int8 weights: a quarter, plus scales


def test_quantize_onnx_rejects_bad_input(tmp_path, coco8_yaml, monkeypatch):
    with pytest.raises(FileNotFoundError, match="export the model first"):
        quantize.quantize_onnx(tmp_path / "missing.onnx", coco8_yaml)
    monkeypatch.setenv(quantize.ATTENTION_ENV, "half")
    with pytest.raises(ValueError, match="use 'fp'"):
        quantize.attention_in_int8()


def _fake_quantized_attention(xml: Path) -> tuple[int, int]:
    """(attention products, of which fed by a FakeQuantize) in an OpenVINO IR."""
    import openvino as ov

    model = ov.Core().read_model(str(xml))
    products = [
        op
        for op in model.get_ordered_ops()
        if op.get_type_name() in ("MatMul", "ScaledDotProductAttention") and ".attn/" in op.get_friendly_name()
    ]

    def fq(op) -> bool:
        src = [i.get_source_output().get_node() for i in op.inputs()]
        return any(s.get_type_name() == "FakeQuantize" for s in src)

    return len(products), sum(fq(op) for op in products)


@pytest.mark.slow
def test_openvino_int8_export_agrees_with_fp32(detector, coco8_yaml, bus_jpg, zidane_jpg, tmp_path, monkeypatch):
    pytest.importorskip("nncf", reason="nncf (the [export] extra) quantizes OpenVINO models")
    src = tmp_path / "bus.pt"
    shutil.copy(detector, src)
    images = (bus_jpg, zidane_jpg)
    fp32 = YOLO(src).export(format="openvino", imgsz=IMGSZ, device="cpu")
    ref = dets(YOLO(fp32, task="detect"), images, 0.25)
    monkeypatch.delenv(quantize.ATTENTION_ENV, raising=False)
    with LogCapture() as log:
        path = YOLO(src).export(format="openvino", int8=True, data=str(coco8_yaml), imgsz=IMGSZ, device="cpu")
    log.assert_no_install_attempt()
    assert Path(path).name == "bus_int8_openvino_model"
    xml = Path(path) / "bus.xml"
    assert xml.is_file() and (Path(path) / "metadata.yaml").is_file()
    products, quantized = _fake_quantized_attention(xml)
    assert products > 0 and quantized == 0, f"{quantized} of {products} attention products take int8 inputs"
    assert_agrees(ref, dets(YOLO(path, task="detect"), images, 0.001), AGREEMENT_OPENVINO, bus_score=0.0)

    monkeypatch.setenv(quantize.ATTENTION_ENV, "int8")
    path = YOLO(src).export(format="openvino", int8=True, data=str(coco8_yaml), imgsz=IMGSZ, device="cpu")
    products, quantized = _fake_quantized_attention(Path(path) / "bus.xml")
    assert quantized > 0, f"ULTRA_YOLOV12_INT8_ATTENTION=int8 left all {products} attention products unquantized"


@pytest.mark.xfail(
    __import__("ultralytics").__version__.startswith("8.3."),
    reason="min/max ranges measured on Ultralytics 8.4.x; on 8.3.0 v1.0 lost the bus in CI (stop 16), open in issue 10",
    strict=False,
)
@pytest.mark.slow
def test_openvino_int8_minmax_ranges_agree_with_fp32(detector, coco8_yaml, bus_jpg, zidane_jpg, tmp_path, monkeypatch):
    pytest.importorskip("nncf", reason="nncf (the [export] extra) quantizes OpenVINO models")
    src = tmp_path / "bus.pt"
    shutil.copy(detector, src)
    images = (bus_jpg, zidane_jpg)
    ref = dets(YOLO(YOLO(src).export(format="openvino", imgsz=IMGSZ, device="cpu"), task="detect"), images, 0.25)
    monkeypatch.delenv(quantize.ATTENTION_ENV, raising=False)
    monkeypatch.setenv(quantize.RANGES_ENV, "minmax")
    with LogCapture() as log:
        path = YOLO(src).export(format="openvino", int8=True, data=str(coco8_yaml), imgsz=IMGSZ, device="cpu")
    assert any(f"{quantize.RANGES_ENV}=minmax" in line for line in log.lines), log.lines
    products, quantized = _fake_quantized_attention(Path(path) / "bus.xml")
    assert products > 0 and quantized == 0, f"{quantized} of {products} attention products take int8 inputs"
    assert_agrees(ref, dets(YOLO(path, task="detect"), images, 0.001), AGREEMENT_OPENVINO_MINMAX)


def test_minmax_ranges_setting(monkeypatch):
    monkeypatch.delenv(quantize.RANGES_ENV, raising=False)
    assert not quantize.minmax_ranges()
    monkeypatch.setenv(quantize.RANGES_ENV, " MinMax ")
    assert quantize.minmax_ranges()
    monkeypatch.setenv(quantize.RANGES_ENV, "mean")
    with pytest.raises(ValueError, match="use 'nncf'"):
        quantize.minmax_ranges()
