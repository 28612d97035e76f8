"""Heat maps (paper Figure 5): default layer rule, layer selection, overlay, comparison PNG, determinism, run dirs."""

from __future__ import annotations

import copy

import cv2
import numpy as np
import pytest
import torch
import ultralytics.nn.tasks as tasks

import ultra_yolov12
from ultra_yolov12.heatmap import GAP, activation_map, build_yolo, default_layer, load, overlay, resolve_layer

IMGSZ = 160


@pytest.fixture(scope="module")
def v12():
    return load("yolov12n.yaml", "cpu")


@pytest.fixture(scope="module")
def small_images(tmp_path_factory, bus_jpg, zidane_jpg):
    """bus.jpg and zidane.jpg shrunk to 1/4 (fast), in a folder of their own."""
    d = tmp_path_factory.mktemp("images")
    for src in (bus_jpg, zidane_jpg):
        img = cv2.imread(str(src))
        cv2.imwrite(str(d / src.name), cv2.resize(img, (img.shape[1] // 4, img.shape[0] // 4)))
    return d


@pytest.mark.parametrize(
    "cfg, kind",
    [
        ("yolov12n.yaml", "A2C2f"),
        ("yolov12s-turbo.yaml", "A2C2fTurbo"),
        ("yolo12n.yaml", "A2C2f"),  # Ultralytics' own YOLO12
        ("yolo11n.yaml", "C3k2"),
        ("yolov10n.yaml", "C2f"),
        ("yolov8n.yaml", "C2f"),
    ],
)
def test_default_layer_is_the_last_block_of_backbone_stage_3(cfg, kind):
    if cfg == "yolo12n.yaml" and not hasattr(tasks, "A2C2f"):
        pytest.skip("this Ultralytics release (< 8.3.78) has no yolo12n.yaml")
    net = load(cfg, "cpu")
    i = default_layer(net)
    assert i == 6 and type(net.blocks[i]).__name__ == kind
    # stride 16 at layers 5-6 (P4), stride 32 from layer 7 (P5): layer 6 ends stage 3 in every one of these YAMLs
    assert net.strides[5:8] == [16, 16, 32]
    assert [default_layer(net, s) for s in (1, 2, 4)] == [2, 4, net.backbone - 1]


def test_map_equals_a_plain_forward_of_the_first_layers(v12):
    """Reference: run layers 0-6 one after another (no hooks), channel-mean |activation|, min-max, bilinear."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (128, 160, 3), dtype=np.uint8)  # already a multiple of 32: no resize, no padding
    heat = activation_map(v12, img, layer=None, imgsz=160)
    x = torch.from_numpy(img[..., ::-1].transpose(2, 0, 1).copy()).float().div(255)[None]
    with torch.inference_mode():
        for m in v12.blocks[:7]:
            x = m(x)
        a = x[0].abs().mean(0)
        a = (a - a.min()) / (a.max() - a.min())
        ref = torch.nn.functional.interpolate(a[None, None], size=(128, 160), mode="bilinear", align_corners=False)
    assert heat.shape == (128, 160) and heat.dtype == np.float32
    np.testing.assert_allclose(heat, ref[0, 0].numpy(), atol=1e-5)


def test_layer_by_index_name_and_type_name(v12, small_images):
    img = cv2.imread(str(small_images / "bus.jpg"))
    default = activation_map(v12, img, None, IMGSZ)
    for spec in (6, "6", "model.6", "A2C2f", "a2c2f", "stage3", -16):
        assert resolve_layer(v12, spec)[0] == "model.6", spec
        np.testing.assert_array_equal(activation_map(v12, img, spec, IMGSZ), default)
    # a type name: the occurrence nearest the default layer 6 (C3k2 at 2, 4, 20; Concat at 10, 13, 16, 19)
    assert resolve_layer(v12, "C3k2")[0] == "model.4" and resolve_layer(v12, "Concat")[0] == "model.10"
    sub = activation_map(v12, img, "model.6.m.0", IMGSZ)  # any submodule by its dotted name
    assert resolve_layer(v12, "6.m.0")[0] == "model.6.m.0"
    assert sub.shape == default.shape and not np.array_equal(sub, default)
    deeper = activation_map(v12, img, 8, IMGSZ)
    assert not np.array_equal(deeper, default)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("A2C2g", "Did you mean 'A2C2f'?"),
        (99, "is not a layer of yolov12n"),
        ("model.6.nope", "is not a layer of yolov12n"),
        (21, "does not output a feature map"),  # Detect
        ("Detect", "does not output a feature map"),
    ],
)
def test_a_wrong_layer_is_one_error_listing_the_valid_ones(v12, spec, expected, tmp_path, bus_jpg):
    with pytest.raises(ValueError) as e:
        resolve_layer(v12, spec)
    assert expected in str(e.value)
    assert "6 A2C2f (stride 16, backbone)" in str(e.value) and "20 C3k2 (stride 32, head)" in str(e.value)
    with pytest.raises(ValueError, match="does not output|is not a layer"):
        ultra_yolov12.heatmap(v12.model, bus_jpg, layer=spec, project=tmp_path, verbose=False)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_overlay_marks_hot_pixels_and_leaves_cold_ones(v12, small_images, tmp_path):
    src = small_images / "bus.jpg"
    img = cv2.imread(str(src))
    save_dir = ultra_yolov12.heatmap(v12.model, src, imgsz=IMGSZ, project=tmp_path, verbose=False)
    png = cv2.imread(str(save_dir / "bus.png"))
    assert png.shape == img.shape  # same size as the input
    heat = activation_map(v12, img, None, IMGSZ)
    diff = np.abs(png.astype(int) - img.astype(int)).sum(2)
    hot, cold = heat > 0.8, heat < 0.05
    assert hot.sum() > 100 and cold.sum() > 100
    assert diff[hot].mean() > 60  # jet colour at weight >= 0.4 on hot pixels
    assert diff[cold].mean() < 8  # per-pixel weight alpha*heat < 0.025 on cold ones
    np.testing.assert_array_equal(overlay(img, np.zeros(img.shape[:2], np.float32)), img)


def test_folder_with_comparison_side_by_side(v12, small_images, tmp_path):
    save_dir = ultra_yolov12.heatmap(
        "yolov12n.yaml", small_images, compare="yolo11n.yaml,yolov8n.yaml", imgsz=IMGSZ, project=tmp_path
    )
    assert save_dir == (tmp_path / "exp").resolve()
    assert sorted(p.name for p in save_dir.iterdir()) == ["bus.png", "zidane.png"]
    for name in ("bus.jpg", "zidane.jpg"):
        img = cv2.imread(str(small_images / name))
        h, w = img.shape[:2]
        png = cv2.imread(str(save_dir / name.replace(".jpg", ".png")))
        bar = png.shape[0] - h
        assert bar >= 24 and png.shape[1] == 4 * w + 3 * GAP  # image + 3 models, titled
        panels = [png[bar:, i * (w + GAP) : i * (w + GAP) + w] for i in range(4)]
        np.testing.assert_array_equal(panels[0], img)  # the input itself first
        np.testing.assert_array_equal(panels[1], overlay(img, activation_map(v12, img, None, IMGSZ)))
        assert not np.array_equal(panels[1], panels[2]) and not np.array_equal(panels[2], panels[3])
        title = png[:bar, :w]
        assert (title < 100).any() and (title == 255).mean() > 0.7  # dark text on a white bar


def test_deterministic_and_run_dirs_increment(tmp_path, small_images):
    a = ultra_yolov12.heatmap("yolov12n.yaml", small_images / "bus.jpg", imgsz=IMGSZ, project=tmp_path, verbose=False)
    b = ultra_yolov12.heatmap("yolov12n.yaml", small_images / "bus.jpg", imgsz=IMGSZ, project=tmp_path, verbose=False)
    assert a.name == "exp" and b != a and b.name.startswith("exp") and b.parent == a.parent  # exp2 or exp-2
    assert (a / "bus.png").read_bytes() == (b / "bus.png").read_bytes()
    c = ultra_yolov12.heatmap(
        "yolov12n.yaml", small_images / "bus.jpg", imgsz=IMGSZ, project=tmp_path, name="exp", exist_ok=True
    )
    assert c == a


def test_default_run_dir_is_ultralytics_runs_dir(tmp_path, small_images):
    from ultralytics.utils import SETTINGS

    old = SETTINGS["runs_dir"]
    SETTINGS.update(runs_dir=str(tmp_path / "runs"))
    try:
        d = ultra_yolov12.heatmap("yolov12n.yaml", small_images / "bus.jpg", imgsz=IMGSZ, verbose=False)
    finally:
        SETTINGS.update(runs_dir=old)
    assert d == (tmp_path / "runs" / "heatmap" / "exp").resolve() and (d / "bus.png").is_file()


def test_eigen_method_and_saved_checkpoint(v12, small_images, tmp_path):
    img = cv2.imread(str(small_images / "zidane.jpg"))
    mean = activation_map(v12, img, None, IMGSZ, method="mean")
    eigen = activation_map(v12, img, None, IMGSZ, method="eigen")
    assert eigen.min() >= 0 and eigen.max() <= 1 and eigen.max() > 0.9  # min-max, then resized
    assert not np.allclose(eigen, mean)
    assert np.corrcoef(eigen.ravel(), mean.ravel())[0, 1] > 0  # the sign convention
    np.testing.assert_array_equal(eigen, activation_map(v12, img, None, IMGSZ, method="eigen"))
    with pytest.raises(ValueError, match="method must be one of mean, eigen"):
        activation_map(v12, img, None, IMGSZ, method="gradcam")

    # An Ultralytics-format checkpoint of the same seeded weights, in half precision as Ultralytics saves them
    # (YOLO.save of a YAML-built model fails on Ultralytics 8.3.0, so it is written directly).
    half = copy.deepcopy(build_yolo("yolov12n.yaml").model).half()
    torch.save({"model": half, "train_args": {}}, tmp_path / "v12.pt")
    from_file = activation_map(str(tmp_path / "v12.pt"), img, None, IMGSZ)
    assert np.abs(from_file - mean).max() < 0.02
