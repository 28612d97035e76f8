"""Segmentation, classification, pose and OBB YOLOv12 in both families, through Ultralytics' own task pipelines.

Configs: every ``yolov12<scale>-<task>[-turbo].yaml`` name resolves and builds the right task; the official Seg and Cls
releases (turbo) have their exact parameter counts; the other configs share every non-head shape with the detection
model of their family, so they fine-tune from its weights.
Pipelines: one task per family pair trains one epoch, validates, predicts and exports to ONNX on small real-image data
derived from COCO8 at test time (``taskdata``): seg-turbo and cls-turbo (the official ones), pose and OBB (default).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import taskdata
import torch
import yaml
from ultralytics import YOLO
from ultralytics.nn.tasks import guess_model_task, yaml_model_load

from ultra_yolov12.configs import CFG_DIR

TASKS = {"seg": "segment", "cls": "classify", "pose": "pose", "obb": "obb"}
SUFFIXES = [f"{t}{fam}" for t in TASKS for fam in ("", "-turbo")]
OFFICIAL = {
    "seg-turbo": {"n": 2_807_056, "s": 9_782_688, "m": 21_978_016, "l": 27_760_032, "x": 62_225_216},
    "cls-turbo": {"n": 1_772_976, "s": 6_051_088, "m": 11_555_728, "l": 14_561_680, "x": 32_010_544},
}
TRAIN = dict(epochs=1, imgsz=64, batch=4, workers=0, device="cpu", seed=0, deterministic=True, amp=False, plots=False)


def n_params(model: YOLO) -> int:
    return sum(p.numel() for p in model.model.parameters())


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_every_scale_resolves_by_name_with_its_task(suffix):
    task = TASKS[suffix.split("-")[0]]
    for scale in "nsmlx":
        name = f"yolov12{scale}-{suffix}.yaml"
        d = yaml_model_load(name)
        shipped = yaml.safe_load((CFG_DIR / f"yolov12-{suffix}.yaml").read_text())
        assert d["scale"] == scale and d["head"] == shipped["head"] and d["backbone"] == shipped["backbone"], name
        assert guess_model_task(name) == task  # from the file name, as for checkpoints
        assert guess_model_task(d) == task  # from the head, as Ultralytics does for a YAML
    model = YOLO(f"yolov12n-{suffix}.yaml")
    assert model.task == task
    y = torch.from_numpy(_raw(model.model.eval(), torch.rand(2, 3, 64, 64))[0])
    if task == "classify":
        assert y.shape == (2, 80) and torch.allclose(y.sum(1), torch.ones(2))
    else:  # (B, 4 + 80 [+ 32 mask coefficients | + 51 keypoint values | + 1 angle], anchors of 8x8 + 4x4 + 2x2)
        extra = {"segment": 32, "pose": 17 * 3, "obb": 1}[task]
        assert y.shape == (2, 84 + extra, 84)


@pytest.mark.parametrize("suffix", sorted(OFFICIAL))
def test_official_seg_and_cls_releases_have_their_exact_parameter_counts(suffix):
    counts = {s: n_params(YOLO(f"yolov12{s}-{suffix}.yaml", verbose=False)) for s in "nsmlx"}
    assert counts == OFFICIAL[suffix]


@pytest.mark.parametrize("suffix", ["seg", "pose", "obb", "cls", "pose-turbo", "obb-turbo"])
def test_task_models_share_the_detection_models_layers(suffix):
    """Everything but the head has the detection model's shapes: detection checkpoints fine-tune into these."""
    det = YOLO("yolov12n-turbo.yaml" if suffix.endswith("turbo") else "yolov12n.yaml").model.state_dict()
    task = YOLO(f"yolov12n-{suffix}.yaml", verbose=False).model.state_dict()
    head = f"model.{len(YOLO(f'yolov12n-{suffix}.yaml', verbose=False).model.model) - 1}."
    shared = [k for k in task if not k.startswith(head)]
    assert shared and all(k in det and det[k].shape == task[k].shape for k in shared)


# --- one epoch of each task on derived COCO8 data ----------------------------------------------------------------


@pytest.fixture(scope="module")
def task_data(tmp_path_factory, coco8_yaml) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tasks")
    return {
        "segment": taskdata.build_seg(root, coco8_yaml),
        "classify": taskdata.build_cls(root, coco8_yaml),
        "pose": taskdata.build_pose(root, coco8_yaml),
        "obb": taskdata.build_obb(root, coco8_yaml),
    }


def _raw(net: torch.nn.Module, x: torch.Tensor) -> list[np.ndarray]:
    """Every tensor in a model's (nested) eval output, as numpy."""
    with torch.no_grad():
        y = net(x)
    flat, stack = [], [y]
    while stack:
        v = stack.pop(0)
        if isinstance(v, torch.Tensor):
            flat.append(v.numpy())
        elif isinstance(v, (list, tuple)):
            stack[:0] = list(v)
    return flat


CASES = [  # config, metrics key that must be present and finite
    ("yolov12n-seg-turbo.yaml", "metrics/mAP50-95(M)"),
    ("yolov12n-cls-turbo.yaml", "metrics/accuracy_top1"),
    ("yolov12n-pose.yaml", "metrics/mAP50-95(P)"),
    ("yolov12n-obb.yaml", "metrics/mAP50-95(B)"),
]


@pytest.mark.slow
@pytest.mark.parametrize("cfg, key", CASES, ids=[c[0].split("-", 1)[1][:-5] for c in CASES])
def test_train_val_predict_export(cfg, key, task_data, tmp_path):
    import onnxruntime as ort

    model = YOLO(cfg)
    task = model.task
    data = task_data[task]
    model.train(data=str(data), project=str(tmp_path), name="train", **TRAIN)
    metrics = model.val(data=str(data), imgsz=64, batch=4, workers=0, device="cpu", plots=False)
    results = metrics.results_dict
    assert key in results and math.isfinite(results[key]) and 0.0 <= results[key] <= 1.0, results
    assert all(math.isfinite(v) for v in results.values()), results

    image = next((data.parent / data.stem / "val").rglob("*.jpg")) if task == "classify" else None
    image = image or next((data.parent / data.stem / "images" / "val").glob("*.jpg"))
    # One epoch from scratch leaves class scores near the head's prior (~1e-4 at 64 px): a tiny conf keeps boxes.
    r = model.predict(image, imgsz=64, conf=1e-6, retina_masks=True, device="cpu", verbose=False)[0]
    if task == "classify":
        nc = len(model.names)
        assert r.probs.data.shape == (nc,) and abs(float(r.probs.data.sum()) - 1) < 1e-4
        assert len(r.probs.top5) == min(5, nc)
    elif task == "obb":
        assert len(r.obb) > 0 and r.obb.xywhr.shape == (len(r.obb), 5)
    else:
        assert len(r.boxes) > 0
        if task == "segment":
            assert r.masks.data.shape[0] == len(r.boxes) and r.masks.data.shape[1:] == r.orig_shape
        if task == "pose":
            assert r.keypoints.data.shape == (len(r.boxes), 5, 3)

    # ONNX: every output of ONNX Runtime equals the PyTorch model's (fp32, same input).
    path = YOLO(model.trainer.best).export(format="onnx", imgsz=64, device="cpu")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    outs = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    ref = _raw(YOLO(model.trainer.best).model.float().eval(), x)
    for out in outs:
        match = [t for t in ref if t.shape == out.shape]
        assert match, f"ONNX output {out.shape} has no PyTorch counterpart among {[t.shape for t in ref]}"
        err = min(float(np.abs(out - t).max() / max(1.0, np.abs(t).max())) for t in match)
        assert err < 1e-4, f"ONNX output {out.shape} differs from PyTorch by {err} (relative to its largest value)"
