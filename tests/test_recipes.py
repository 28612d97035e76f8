"""Official training recipes by scale, and Albumentations in YOLOv12 training (default pipeline and a custom one)."""

from __future__ import annotations

import albumentations as A
import pytest
import torch
import ultralytics
from ultralytics import YOLO
from ultralytics.cfg import get_cfg, parse_key_value_pair
from ultralytics_log import LogCapture

import ultra_yolov12
from ultra_yolov12._ultralytics import albumentations_takes_transforms

# The paper's set-up (official README/train script): 600 epochs, batch 256, 640 px, and per-scale augmentation.
OFFICIAL = {
    "n": (0.5, 0.0, 0.1),
    "s": (0.9, 0.05, 0.15),
    "m": (0.9, 0.15, 0.4),
    "l": (0.9, 0.15, 0.5),
    "x": (0.9, 0.2, 0.6),
}
SHORT = dict(epochs=1, imgsz=64, batch=4, workers=0, device="cpu", seed=0, deterministic=True, amp=False, plots=False)


@pytest.mark.parametrize("scale", "nsmlx")
def test_recipe_is_the_official_setup(scale):
    r = ultra_yolov12.recipe(scale)
    assert (r["scale"], r["mixup"], r["copy_paste"]) == OFFICIAL[scale]
    assert (r["epochs"], r["batch"], r["imgsz"], r["mosaic"], r["close_mosaic"]) == (600, 256, 640, 1.0, 10)
    assert r["warmup_bias_lr"] == 0.0  # the official fork's default (stock Ultralytics: 0.1)
    assert ultra_yolov12.recipes.official_differences(r, scale) == {}


def test_recipe_by_model_name_with_overrides_and_a_clear_error():
    assert ultra_yolov12.recipe("yolov12s-seg-turbo.yaml") == ultra_yolov12.recipe("S")
    assert ultra_yolov12.recipe("runs/yolov12x.pt", batch=64)["batch"] == 64
    with pytest.raises(ValueError, match="unknown YOLOv12 scale 'yolov12q.yaml'"):
        ultra_yolov12.recipe("yolov12q.yaml")


@pytest.mark.parametrize("scale", "nsmlx")
def test_recipe_args_parse_as_yolo_cli_arguments(scale):
    """The ``key=value`` text goes through Ultralytics' own CLI parsing and config check unchanged."""
    args = dict(parse_key_value_pair(pair) for pair in ultra_yolov12.recipe_args(scale).split())
    cfg = get_cfg(overrides=args)
    assert {k: getattr(cfg, k) for k in args} == ultra_yolov12.recipe(scale)


def is_gray(sample: dict) -> bool:
    img = sample["img"]  # (3, H, W) uint8 tensor
    return bool(torch.equal(img[0], img[1]) and torch.equal(img[1], img[2]))


@pytest.mark.slow
def test_recipe_training_with_default_then_custom_albumentations(coco8_yaml, tmp_path):
    """One epoch with the ``s`` recipe: Ultralytics builds its default Albumentations step (logged), the plugin swaps
    in a custom pipeline (ToGray, p=1) that the samples show, and it survives ``close_mosaic``'s rebuild."""
    model = YOLO("yolov12n.yaml")
    ultra_yolov12.add_albumentations(model, [A.ToGray(p=1.0)])
    seen, args = {}, {}

    def on_pretrain_routine_end(trainer):
        seen["start"] = is_gray(trainer.train_loader.dataset[0])
        args.update(vars(trainer.args))  # copied now: close_mosaic zeroes mosaic/mixup/copy_paste in place on 8.3.0

    model.add_callback("on_pretrain_routine_end", on_pretrain_routine_end)
    model.add_callback("on_train_end", lambda t: seen.update(end=is_gray(t.train_loader.dataset[1])))
    overrides = dict(SHORT, close_mosaic=1, hsv_h=0.0, hsv_s=0.0, hsv_v=0.0)  # HSV jitter would colour gray images
    with LogCapture() as log:
        model.train(data=str(coco8_yaml), project=str(tmp_path), name="r", **ultra_yolov12.recipe("s", **overrides))
    assert (args["scale"], args["mixup"], args["copy_paste"], args["mosaic"]) == (0.9, 0.05, 0.15, 1.0)
    albu = [line for line in log.lines if "albumentations: " in line]
    assert any("Blur(" in line for line in albu), f"Ultralytics' default Albumentations step was not built: {albu}"
    assert any("ToGray(" in line for line in albu), albu
    assert "Closing dataloader mosaic" in "\n".join(log.lines)
    assert seen == {"start": True, "end": True}


@pytest.mark.slow
@pytest.mark.skipif(
    not albumentations_takes_transforms(),
    reason=f"ultralytics {ultralytics.__version__} has no augmentations= train argument (8.3.226 and newer)",
)
def test_native_augmentations_argument(coco8_yaml, tmp_path):
    model = YOLO("yolov12n.yaml")
    seen = []
    model.add_callback("on_pretrain_routine_end", lambda t: seen.append(is_gray(t.train_loader.dataset[0])))
    model.train(data=str(coco8_yaml), project=str(tmp_path), name="a", augmentations=[A.ToGray(p=1.0)], **SHORT)
    assert seen == [True]


def test_pixel_only_rule_on_old_releases_and_bad_input():
    with pytest.raises(TypeError, match="list of Albumentations transforms"):
        ultra_yolov12.add_albumentations(YOLO("yolov12n.yaml"), ["blur"])
    if not albumentations_takes_transforms():
        from ultra_yolov12._ultralytics import _albumentations_step

        with pytest.raises(ValueError, match=r"upgrade to ultralytics>=8.3.226"):
            _albumentations_step([A.HorizontalFlip(p=0.5)])
