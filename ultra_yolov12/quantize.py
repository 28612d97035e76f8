"""int8 post-training quantization of exported YOLOv12 models, with the attention kept at higher precision.

- :func:`quantize_onnx`: ONNX Runtime static quantization (QDQ, per-channel int8 weights, uint8 activations) of an
  exported ``.onnx``, calibrated on a dataset's images preprocessed as Ultralytics' predictor does for a fixed-size
  exported model (letterbox to ``imgsz`` x ``imgsz`` with grey 114 padding, BGR to RGB, 0-1, NCHW float32). Works on
  every supported Ultralytics release (8.3.0 has no int8 ONNX export of its own).
- OpenVINO: ``yolo export format=openvino int8=True data=...`` quantizes with NNCF; while that runs, the plugin adds
  the attention ops of every ``AAttn`` to NNCF's ignored scope (the hook lives in ``_ultralytics``; the op names come
  from :func:`openvino_attention_ops`). ``ULTRA_YOLOV12_INT8_ATTENTION=int8`` turns that off.
  ``ULTRA_YOLOV12_INT8_RANGES=minmax`` makes NNCF take each activation's range as its min/max over all calibration
  images (as ONNX Runtime does) instead of its default, the mean over images of each image's min/max: with a few
  calibration images whose activations differ a lot, that mean clips the activations and lowers every score
  (docs/export.md has the measurements, for yolo11n as well). Off by default (Ultralytics' own behaviour); when set it
  applies to every model exported, YOLOv12 or not.

What "attention" means here: the ops of ``AAttn.forward`` itself (reshapes, q·k product, softmax, product with v,
the residual add of the position perceiver), not its ``qkv``/``proj``/``pe`` convolutions, which quantize like every
other conv. The detection head's box decoding (DFL, anchors, strides) stays at float precision too, as Ultralytics
keeps it for OpenVINO.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .files import atomic_path

__all__ = [
    "ATTENTION_ENV",
    "RANGES_ENV",
    "agreement",
    "attention_in_int8",
    "minmax_ranges",
    "calibration_batches",
    "onnx_excluded_nodes",
    "openvino_attention_ops",
    "quantize_onnx",
]

ATTENTION_ENV = "ULTRA_YOLOV12_INT8_ATTENTION"
RANGES_ENV = "ULTRA_YOLOV12_INT8_RANGES"
# ONNX node names follow the module path: "/model.6/m.0/m.0.0/attn/MatMul"; ops of AAttn.forward have no deeper scope.
_ONNX_ATTN = re.compile(r"/attn/[^/]+$")
# OpenVINO friendly names after conversion from TorchScript: "__module.model.6.m.0.0.attn/aten::matmul/MatMul_1".
_OV_ATTN = re.compile(r"\.attn/")


def attention_in_int8() -> bool:
    """Whether ``ULTRA_YOLOV12_INT8_ATTENTION=int8`` asks for the attention ops to be quantized as well."""
    value = os.environ.get(ATTENTION_ENV, "fp").strip().lower()
    if value not in ("fp", "int8"):
        raise ValueError(f"{ATTENTION_ENV}={value!r}: use 'fp' (attention at float precision, the default) or 'int8'")
    return value == "int8"


def minmax_ranges() -> bool:
    """Whether ``ULTRA_YOLOV12_INT8_RANGES=minmax`` asks NNCF for min/max activation ranges over all images."""
    value = os.environ.get(RANGES_ENV, "nncf").strip().lower()
    if value not in ("nncf", "minmax"):
        raise ValueError(f"{RANGES_ENV}={value!r}: use 'nncf' (NNCF's default ranges) or 'minmax'")
    return value == "minmax"


def _images(data: str | Path, split: str) -> list[Path]:
    from ultralytics.data.utils import check_det_dataset

    from .coco import _split_images

    return _split_images(check_det_dataset(str(data)), split)


def calibration_batches(
    data: str | Path, imgsz: int, n: int | None = None, split: str = "val", batch: int = 1
) -> Iterator[np.ndarray]:
    """Yield ``batch`` x 3 x ``imgsz`` x ``imgsz`` float32 arrays of the first ``n`` images of ``data[split]``.

    Args:
        data: a detection data YAML (Ultralytics format).
        imgsz: square network input size.
        n: how many images (all when None).
        split: dataset split to read.
        batch: images per array (the last array is completed by repeating its images).
    """
    import cv2
    from ultralytics.data.augment import LetterBox

    files = _images(data, split)[:n]
    if not files:
        raise ValueError(f"no images in the '{split}' split of {data}: calibration needs at least one")
    letterbox = LetterBox(new_shape=(imgsz, imgsz), auto=False)
    ims = []
    for f in files:
        im = cv2.imread(str(f))
        if im is None:
            raise ValueError(f"calibration image {f} cannot be read")
        ims.append(letterbox(image=im)[:, :, ::-1].transpose(2, 0, 1))
    for i in range(0, len(ims), batch):
        chunk = ims[i : i + batch]
        chunk = (chunk * batch)[:batch]
        yield np.ascontiguousarray(np.stack(chunk), dtype=np.float32) / 255


def onnx_excluded_nodes(model, keep_attention: bool = True) -> list[str]:
    """Names of the nodes of an Ultralytics ONNX export (``onnx.ModelProto``) that stay at float precision.

    The head's decoding (every non-Conv node of the last module) always; with ``keep_attention`` also the ops of
    every ``AAttn.forward`` (names ``.../attn/<Op>``).
    """
    nodes = model.graph.node
    index = re.compile(r"^/model\.(\d+)/")
    last = max((int(m.group(1)) for n in nodes if (m := index.match(n.name))), default=None)
    head = f"/model.{last}/"
    out = []
    for n in nodes:
        in_head = last is not None and n.name.startswith(head) and n.op_type != "Conv"
        if in_head or (keep_attention and _ONNX_ATTN.search(n.name)):
            out.append(n.name)
    return out


def openvino_attention_ops(ov_model) -> list[str]:
    """Friendly names of the ops of every ``AAttn.forward`` in a converted OpenVINO model."""
    return [op.get_friendly_name() for op in ov_model.get_ordered_ops() if _OV_ATTN.search(op.get_friendly_name())]


def quantize_onnx(
    onnx_path: str | Path,
    data: str | Path,
    output: str | Path | None = None,
    imgsz: int | None = None,
    images: int | None = None,
    keep_attention: bool | None = None,
    split: str = "val",
) -> Path:
    """Quantize an exported YOLO ONNX model to int8 with ONNX Runtime static quantization.

    Args:
        onnx_path: the fp32 model written by ``YOLO(...).export(format="onnx")`` (static or dynamic batch).
        data: detection data YAML whose ``split`` images calibrate the activation ranges (min/max).
        output: where to write the int8 model (default: ``<stem>_int8.onnx`` next to ``onnx_path``).
        imgsz: input size; default: the model's static input height (required for a dynamic-size export).
        images: how many calibration images (default: all of the split).
        keep_attention: keep the attention ops at fp32 (default: True unless ``ULTRA_YOLOV12_INT8_ATTENTION=int8``).
        split: dataset split for calibration.

    Returns:
        The path of the int8 model; its input and output (B x 3 x H x W float32 in, the same head output as the
        fp32 model out) are unchanged, so ``YOLO(path)`` predicts with it.
    """
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise FileNotFoundError(
            f"{onnx_path} does not exist: export the model first, e.g. YOLO(...).export(format='onnx')"
        )
    model = onnx.load(str(onnx_path))
    inp = model.graph.input[0]
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inp.type.tensor_type.shape.dim]
    batch = dims[0] or 1
    if imgsz is None:
        if dims[2] is None:
            raise ValueError(f"{onnx_path} has a dynamic input size: pass imgsz= (the size to calibrate at)")
        imgsz = dims[2]
    if keep_attention is None:
        keep_attention = not attention_in_int8()
    exclude = onnx_excluded_nodes(model, keep_attention=keep_attention)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.rewind()

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {inp.name: x}

        def rewind(self):
            self.it = calibration_batches(data, imgsz, n=images, split=split, batch=batch)

    output = Path(output) if output else onnx_path.with_name(f"{onnx_path.stem}_int8.onnx")
    with atomic_path(output, suffix=".tmp.onnx") as tmp:
        quantize_static(
            str(onnx_path),
            str(tmp),
            Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=exclude,
        )
    from ultralytics.utils import LOGGER

    LOGGER.info(
        f"ultra-yolov12 quantize: {output} (int8, calibrated on {images or 'all'} '{split}' images of {data} at "
        f"{imgsz}, {len(exclude)} nodes kept at fp32, attention {'fp32' if keep_attention else 'int8'})"
    )
    return output


def agreement(
    reference: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    candidate: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    ref_conf: float = 0.25,
) -> dict[str, float]:
    """COCO mAP of ``candidate`` detections scored against ``reference`` detections taken as ground truth.

    Args:
        reference: per image ``(classes (N,), scores (N,), boxes (N, 4) xyxy pixels)``, e.g. the fp32 model's.
        candidate: the same for the model under test (e.g. int8), best predicted at a low ``conf`` so that the
            precision-recall curve is complete.
        ref_conf: reference detections below this score are not ground truth.

    Returns:
        ``{"mAP50-95", "mAP50", "gt"}``: pycocotools' AP@[.50:.95] and AP@.50 (1.0 means the candidate finds every
        reference box, class and all, ranked above its false positives), and the number of ground-truth boxes.
    """
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, annotations, results, classes = [], [], [], set()
    for i, ((rc, rs, rb), (cc, cs, cb)) in enumerate(zip(reference, candidate), 1):
        images.append({"id": i})
        for c, s, b in zip(rc, rs, rb):
            if s >= ref_conf:
                w, h = float(b[2] - b[0]), float(b[3] - b[1])
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": i,
                        "category_id": int(c),
                        "bbox": [float(b[0]), float(b[1]), w, h],
                        "area": w * h,
                        "iscrowd": 0,
                    }
                )
                classes.add(int(c))
        for c, s, b in zip(cc, cs, cb):
            results.append(
                {
                    "image_id": i,
                    "category_id": int(c),
                    "score": float(s),
                    "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
                }
            )
            classes.add(int(c))
    if not annotations:
        raise ValueError(f"the reference has no detection with score >= {ref_conf}: nothing to agree with")
    if not results:
        return {"mAP50-95": 0.0, "mAP50": 0.0, "gt": len(annotations)}
    gt = COCO()
    gt.dataset = {"images": images, "annotations": annotations, "categories": [{"id": c} for c in sorted(classes)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(results), "bbox")
        ev.params.catIds = sorted({a["category_id"] for a in annotations})
        ev.params.maxDets = [1, 10, 1000]  # Ultralytics keeps up to 300 boxes an image
        ev.evaluate()
        ev.accumulate()
    # precision: (IoU thresholds .50:.05:.95, recall points, classes, areas, maxDets); -1 marks an absent class.
    # Read it directly: summarize() asks for 100 boxes an image for its first number, not the maxDets set above.
    prec = ev.eval["precision"][:, :, :, 0, -1]
    ap = [float(prec[t][prec[t] > -1].mean()) if (prec[t] > -1).any() else 0.0 for t in range(len(prec))]
    return {"mAP50-95": float(np.mean(ap)), "mAP50": ap[0], "gt": len(annotations)}
