"""The export formulation of area attention, and the export formats whose runtimes install from PyPI and run on CPU.

What is compared:
- ``portable_area_attention`` (what AAttn runs while Ultralytics exports) against AAttn's training path (autograd on,
  eager and the automatic backend) for the three weight layouts, with BatchNorm and fused, at several areas and
  shapes (strips that cut rows in the middle included): relative error <= 1e-5.
- The ONNX graph of a traced AAttn: every tensor 4-D or less (shape inference), only MatMul/Softmax/Conv, reshapes,
  transposes, slices and elementwise ops, one Softmax for all heads and areas; ONNX Runtime gives the same output.
- NCNN, MNN, TensorFlow SavedModel and GraphDef, LiteRT, PaddlePaddle and ExecuTorch (fp32 as Ultralytics exports
  and runs them, except MNN's ``precision=low``, which stays within the same bounds here): a yolov12n trained on
  the bus frames is exported with stock Ultralytics and loaded back with ``YOLO(exported)``; its detections on
  ``bus.jpg`` and ``zidane.jpg`` must be PyTorch's (one-to-one: class, box corners within 1 px, scores within 1e-3).
  The runtimes come with ``[dev]`` (``[export-runtimes]`` and, 8.4.x only, ``[export-newest]``); on Ultralytics 8.3.0
  the formats it lacks or cannot run skip with the reason.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from test_export import IMGSZ, assert_same_detections, detections
from test_nn import fuse_convs, randomize_bn
from ultralytics import YOLO
from ultralytics import __version__ as ULTRALYTICS_VERSION

from ultra_yolov12.nn import LAYOUTS, AAttn
from ultra_yolov12.nn.portable import portable_area_attention

SHAPES = [(1, (6, 5)), (4, (8, 8)), (2, (5, 6)), (4, (6, 6)), (4, (20, 20))]  # (area, (H, W)); 6x6/4: 9-token strips


def rel_err(y: torch.Tensor, ref: torch.Tensor) -> float:
    return float((y - ref).abs().max() / ref.abs().max())


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("area,size", SHAPES)
def test_portable_attention_equals_training_path(layout, fused, area, size):
    torch.manual_seed(0)
    m = AAttn(64, num_heads=2, area=area, layout=layout).eval()
    randomize_bn(m)
    if fused:
        fuse_convs(m)
    x = torch.randn(2, 64, *size)
    with torch.no_grad():
        y = portable_area_attention(m, x)
    with torch.enable_grad():
        for backend in ("eager", None):  # None: the automatic choice (SDPA on CPU inference with autograd off)
            m.backend = backend
            ref = m(x.clone().requires_grad_(True)).detach()
            assert rel_err(y, ref) <= 1e-5, f"{backend}: relative error {rel_err(y, ref):.2e}"


def onnx_graph(m: torch.nn.Module, x: torch.Tensor, path) -> object:
    """Export ``m`` with the TorchScript-based exporter (as Ultralytics does) and return the shape-inferred graph."""
    import inspect

    import onnx

    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    torch.onnx.export(m, x, str(path), opset_version=17, **legacy)
    return onnx.shape_inference.infer_shapes(onnx.load(str(path))).graph


# What the formulation may use: every converter in docs/export.md takes these on 4-D tensors.
PORTABLE_OPS = {
    "Conv",
    "MatMul",
    "Softmax",
    "Reshape",
    "Transpose",
    "Slice",
    "Split",
    "Mul",
    "Add",
    "Constant",
    "Identity",
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_exported_attention_graph_is_4d_matmul_softmax_conv(layout, tmp_path):
    pytest.importorskip("onnx")
    torch.manual_seed(0)
    m = AAttn(64, num_heads=2, area=4, layout=layout).eval()
    x = torch.randn(1, 64, 8, 8)
    graph = onnx_graph(m, x, tmp_path / "attn.onnx")
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in [*graph.value_info, *graph.output]}
    assert max(ranks.values()) <= 4, {k: r for k, r in ranks.items() if r > 4}
    ops = {n.op_type for n in graph.node}
    assert ops <= PORTABLE_OPS, ops - PORTABLE_OPS
    assert {"MatMul", "Softmax", "Conv"} <= ops
    assert sum(n.op_type == "Softmax" for n in graph.node) == 1  # all heads and areas in one batched attention

    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "attn.onnx"), providers=["CPUExecutionProvider"])
    out = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        ref = m(x).numpy()
    assert np.abs(out - ref).max() / np.abs(ref).max() <= 1e-5


# --- Formats beyond ONNX/TorchScript/OpenVINO (those are in test_export.py) -------------------------------------


def available(fmt: str) -> bool:
    from ultralytics.engine.exporter import export_formats

    table = export_formats()
    args = table["Argument"] if isinstance(table, dict) else list(table.Argument)
    return fmt in args


TF = ("tensorflow", "onnx2tf", "tf_keras", "sng4onnx", "onnx_graphsurgeon", "ai_edge_litert")
RUNTIMES = {  # format: Python modules its export and YOLO(exported) need
    "ncnn": ("ncnn", "pnnx"),
    "mnn": ("MNN",),
    "saved_model": TF,
    "pb": TF,  # exported through the SavedModel (onnx2tf), then frozen
    "litert": ("litert_torch", "ai_edge_litert"),
    "paddle": ("paddle", "x2paddle"),
    "executorch": ("executorch",),
}
NEWEST = tuple(int(p) for p in ULTRALYTICS_VERSION.split(".")[:2]) >= (8, 4)


def skip_unless_runnable(fmt: str) -> None:
    if not available(fmt):
        pytest.skip(f"Ultralytics {ULTRALYTICS_VERSION} has no '{fmt}' export format")
    if fmt in {"saved_model", "pb"} and not NEWEST:
        pytest.skip(
            f"Ultralytics {ULTRALYTICS_VERSION}'s TensorFlow exporter pip-installs onnx2tf>1.17.5,<=1.22.3 and "
            "tflite_support at export time (8.4.x's onnx2tf>=1.26.3,<1.29 of [export-newest] is outside that range)"
        )
    if fmt == "paddle" and not NEWEST:
        pytest.skip(
            f"Ultralytics {ULTRALYTICS_VERSION} loads a *.pdmodel, which PaddlePaddle 3.x (>=3.0,<3.3 as 8.4.x pins it "
            "in [export-newest]) no longer writes: its x2paddle export holds inference_model/model.json"
        )
    missing = [m for m in RUNTIMES[fmt] if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"'{fmt}' needs {', '.join(missing)} (pip install -e '.[dev]' installs them)")


def prepare_workdir(fmt: str, workdir: Path, images: list[Path]) -> None:
    """What some exporters look for in the working directory, made here instead of downloaded.

    - saved_model: Ultralytics downloads onnx2tf's calibration sample (20 RGB images, 128x128, float32 in [0, 1])
      unless the file is present; it is only read for int8, so 20 crops of the test images stand in for it.
    - ncnn on Ultralytics 8.3.x: the exporter looks for a ``pnnx`` executable in the working directory (else it
      downloads one) and runs it by name, from ``PATH``; the ``pnnx`` wheel ships that executable.
    """
    if fmt in {"saved_model", "pb"}:
        crops = []
        for i in range(20):
            im = cv2.imread(str(images[i % len(images)]))[..., ::-1]
            y, x = (i * 37) % (im.shape[0] - 256), (i * 53) % (im.shape[1] - 256)
            crops.append(cv2.resize(np.ascontiguousarray(im[y : y + 256, x : x + 256]), (128, 128)))
        np.save(workdir / "calibration_image_sample_data_20x128x128x3_float32.npy", np.stack(crops) / np.float32(255))
    if fmt == "ncnn" and not NEWEST:
        import pnnx

        (workdir / "pnnx").symlink_to(Path(pnnx.__file__).with_name("pnnx"))
        os.environ["PATH"] = f"{workdir}{os.pathsep}{os.environ.get('PATH', '')}"  # the caller's monkeypatch restores


@pytest.fixture(scope="module")
def bus_model(tmp_path_factory, bus_jpg):
    from taskdata import bus_detector

    return bus_detector(tmp_path_factory.getbasetemp() / "bus_detector", bus_jpg)


@pytest.fixture(scope="module")
def bus_reference(bus_model, bus_jpg, zidane_jpg) -> dict:
    model = YOLO(bus_model)
    return {im.name: detections(model, im) for im in (bus_jpg, zidane_jpg)}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["ncnn", "mnn", "saved_model", "pb", "litert", "paddle", "executorch"])
def test_export_format_predicts_like_pytorch(fmt, bus_model, bus_reference, bus_jpg, zidane_jpg, tmp_path, monkeypatch):
    skip_unless_runnable(fmt)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", os.environ.get("PATH", ""))
    prepare_workdir(fmt, tmp_path, [bus_jpg, zidane_jpg])
    src = tmp_path / "bus.pt"
    src.write_bytes(bus_model.read_bytes())  # exports land next to the checkpoint
    path = YOLO(src).export(format=fmt, imgsz=IMGSZ, device="cpu")
    exported = YOLO(path, task="detect")
    for im in (bus_jpg, zidane_jpg):
        out = detections(exported, im)
        assert out or not bus_reference[im.name], f"{fmt}: no detections on {im.name}"
        assert_same_detections(bus_reference[im.name], out)
