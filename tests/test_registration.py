"""Registration with Ultralytics' parser: exact models, name resolution, the L/X rule, and no change to Ultralytics."""

from __future__ import annotations

import pytest
import torch
import ultralytics
from ultralytics import YOLO
from ultralytics.nn import tasks
from ultralytics.nn.tasks import DetectionModel

import ultra_yolov12
from ultra_yolov12 import _ultralytics as compat
from ultra_yolov12.nn import A2C2f, A2C2fTurbo, AAttn

V10 = {"n": 2_603_056, "s": 9_285_632, "m": 20_201_216, "l": 26_454_880, "x": 59_216_928}
TURBO = {"n": 2_553_904, "s": 9_127_424, "m": 19_670_784, "l": 26_506_496, "x": 59_414_176}
HAS_YOLO12 = hasattr(tasks, "A2C2f")  # Ultralytics >= 8.3.78
needs_yolo12 = pytest.mark.skipif(
    not HAS_YOLO12, reason=f"ultralytics {ultralytics.__version__} has no built-in YOLO12"
)


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("scale", "nsmlx")
def test_v10_and_turbo_parameter_counts_are_the_official_ones(scale):
    v10 = YOLO(f"yolov12{scale}.yaml")
    turbo = YOLO(f"yolov12{scale}-turbo.yaml")
    assert n_params(v10.model) == V10[scale]
    assert n_params(turbo.model) == TURBO[scale]
    assert isinstance(v10.model.model[6], A2C2f) and not isinstance(v10.model.model[6], A2C2fTurbo)
    assert isinstance(turbo.model.model[6], A2C2fTurbo)
    assert v10.model.model[6].m[0][0].attn.layout == "v1.0" and turbo.model.model[6].m[0][0].attn.layout == "turbo"
    assert v10.task == "detect" and v10.model.yaml["scale"] == scale


@needs_yolo12
@pytest.mark.parametrize("scale", "nsmlx")
def test_gflops_match_builtin_yolo12(scale):
    ours = YOLO(f"yolov12{scale}.yaml").info()[-1]
    builtin = YOLO(f"yolo12{scale}.yaml").info()[-1]
    assert abs(ours / builtin - 1) <= 0.005, (ours, builtin)


@pytest.mark.parametrize("family,ratio", [("", 1.2), ("-turbo", 1.5)])
def test_large_scales_get_residual_and_mlp_ratio(family, ratio):
    for scale, residual, mlp in [("m", False, 2.0), ("l", True, ratio), ("x", True, ratio)]:
        model = DetectionModel(f"yolov12{scale}{family}.yaml", verbose=False)
        block = model.model[6]
        c_ = block.cv1.conv.out_channels
        assert (block.gamma is not None) is residual
        assert block.m[0][0].mlp[0].conv.out_channels == int(c_ * mlp)
        assert model.model[11].gamma is None  # C3k stages never take the scaled residual
        if scale in "mlx":  # C3k2's usual rule still applies
            assert type(model.model[2].m[0]).__name__ == "C3k"


def test_turbo_grouped_convs():
    model = DetectionModel("yolov12s-turbo.yaml", verbose=False)
    assert model.model[1].conv.groups == 2 and model.model[3].conv.groups == 4
    assert model.model[6].m[0][0].attn.pe.conv.kernel_size == (5, 5)


def test_unknown_yolov12_name_lists_the_available_ones():
    with pytest.raises(FileNotFoundError) as e:
        YOLO("yolov12q.yaml")
    assert "yolov12n.yaml" in str(e.value) and "yolov12x-turbo.yaml" in str(e.value)
    with pytest.raises(FileNotFoundError, match="yolov12s-turbo.yaml"):
        YOLO("yolov12n-fast.yaml")


def test_local_file_wins_over_shipped_config(tmp_path, monkeypatch):
    text = (ultra_yolov12.configs.CFG_DIR / "yolov12.yaml").read_text().replace("nc: 80", "nc: 3")
    (tmp_path / "yolov12.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)
    assert YOLO("yolov12n.yaml").model.yaml["nc"] == 3


def _build(cfg: str) -> DetectionModel:
    torch.manual_seed(0)
    return DetectionModel(cfg, verbose=False)


@pytest.mark.parametrize("cfg", ["yolo11n.yaml", "yolov8n.yaml"] + (["yolo12n.yaml"] if HAS_YOLO12 else []))
def test_ultralytics_own_models_build_exactly_as_without_the_plugin(cfg):
    with_plugin = _build(cfg)
    compat.unregister()
    try:
        assert not hasattr(tasks.parse_model, "__wrapped__")
        without = _build(cfg)
    finally:
        compat.register()
    assert [type(m) for m in with_plugin.modules()] == [type(m) for m in without.modules()]
    sd1, sd2 = with_plugin.state_dict(), without.state_dict()
    assert sd1.keys() == sd2.keys() and all(torch.equal(sd1[k], sd2[k]) for k in sd1)
    assert not any(type(m).__module__.startswith("ultra_yolov12") for m in with_plugin.modules())


def test_register_is_idempotent():
    hooked = tasks.parse_model
    ultra_yolov12.register()
    ultra_yolov12.register()
    assert tasks.parse_model is hooked
    assert compat._ORIGINALS["parse_model"].__module__ == "ultralytics.nn.tasks"
    assert ultra_yolov12.is_registered()


@pytest.mark.parametrize("version", ["8.2.103", "8.5.0", "9.0.0", "7.0"])
def test_unsupported_ultralytics_is_one_clear_error(version):
    with pytest.raises(ultra_yolov12.UnsupportedUltralyticsError) as e:
        compat.check_version(version)
    assert "ultralytics>=8.3.0,<8.5.0" in str(e.value) and version in str(e.value) and "pip install" in str(e.value)


@pytest.mark.parametrize("version", ["8.3.0", "8.3.78", "8.4.0", "8.4.190", "8.4.7.dev0"])
def test_supported_versions_pass(version):
    compat.check_version(version)


USER_YAML = """
nc: 3
{marker}
backbone:
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, Conv, [128, 3, 2]]
  - [-1, 1, A2C2f, [{width}, True, 4]]
  - [-1, 1, AAttn, [128, 4, 1]]
head:
  - [[-1], 1, Detect, [nc]]
"""


def test_user_yaml_opting_in_uses_the_plugin_modules(tmp_path):
    cfg = tmp_path / "mine.yaml"
    cfg.write_text(USER_YAML.format(marker="plugin: ultra_yolov12", width=128))
    model = DetectionModel(str(cfg), verbose=False)
    assert type(model.model[2]) is A2C2f and type(model.model[3]) is AAttn
    out = model.eval()(torch.zeros(1, 3, 64, 64))
    assert (out[0] if isinstance(out, (list, tuple)) else out).shape[1] == 4 + 3  # boxes + classes


def test_user_yaml_without_marker_keeps_ultralytics_classes_where_they_exist(tmp_path):
    cfg = tmp_path / "mine.yaml"
    cfg.write_text(USER_YAML.format(marker="", width=128).replace("  - [-1, 1, AAttn, [128, 4, 1]]\n", ""))
    model = DetectionModel(str(cfg), verbose=False)
    expected = "ultralytics" if HAS_YOLO12 else "ultra_yolov12"  # older releases have no A2C2f: ours fills in
    assert type(model.model[2]).__module__.split(".")[0] == expected


def test_width_not_multiple_of_32_names_the_layer(tmp_path):
    cfg = tmp_path / "mine.yaml"
    cfg.write_text(USER_YAML.format(marker="plugin: ultra_yolov12", width=96))
    with pytest.raises(ValueError, match=r"layer 2 \(A2C2f \[96, True, 4\]\).*not a multiple of 32"):
        DetectionModel(str(cfg), verbose=False)


def _conv_weights(model) -> list[torch.Tensor]:
    return [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]


def _is_cl(t: torch.Tensor) -> bool:
    return t.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("cfg", ["yolov12n.yaml", "yolov12n-turbo.yaml"])
def test_yolov12_runs_channels_last_with_unchanged_outputs(cfg, monkeypatch):
    """Built and fused YOLOv12 models run channels-last end to end; outputs equal the contiguous model's."""
    import copy

    model = YOLO(cfg).model.eval()
    assert all(_is_cl(w) for w in _conv_weights(model))
    contiguous = model.to(memory_format=torch.contiguous_format)  # what an official checkpoint unpickles to
    assert not any(_is_cl(w) for w in _conv_weights(contiguous) if w.shape[1] > 1 and w.shape[-1] > 1)
    x = torch.rand(2, 3, 160, 160)
    with torch.no_grad():
        want = contiguous(x)[0]
    monkeypatch.setenv("ULTRA_YOLOV12_CHANNELS_LAST", "0")
    kept = copy.deepcopy(contiguous).fuse(verbose=False)
    assert all(w.is_contiguous() for w in _conv_weights(kept))
    monkeypatch.delenv("ULTRA_YOLOV12_CHANNELS_LAST")
    fused = contiguous.fuse(verbose=False)  # every inference path and export fuses first
    maps = []
    fused.model[2].register_forward_hook(lambda m, i, o: maps.append(o))
    with torch.no_grad():
        got = fused(x)[0]
    assert all(_is_cl(w) for w in _conv_weights(fused)) and _is_cl(maps[0]) and not maps[0].is_contiguous()
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * want.abs().max().item())


def test_ultralytics_own_models_keep_their_memory_format():
    model = YOLO("yolo11n.yaml").model
    assert all(w.is_contiguous() for w in _conv_weights(model))
    assert all(w.is_contiguous() for w in _conv_weights(model.fuse(verbose=False)))
