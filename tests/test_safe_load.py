"""Safe loading: no checkpoint runs code when it should not, and a pickle-free way to share weights.

- With ``ULTRALYTICS_SAFE_LOAD=1`` (Ultralytics' restricted ``weights_only`` loader, 8.4.x with torch >= 2.6),
  official v1.0, official turbo, Ultralytics-layout and plugin-trained YOLOv12 checkpoints load and compute what they
  compute without it; checkpoints whose pickle would call ``exec``/``os.system`` are refused and their marker file
  never appears.
- ``pickles.inspect_checkpoint`` (what weight downloads are checked with, on every release) refuses the same files
  without running them, and names what they would call.
- ``convert(..., to="safetensors")`` / ``ultra-yolov12 convert ... to=safetensors`` and ``YOLO("x.safetensors")``:
  the same state dict and the same predictions as the checkpoint, for all three layouts, a plugin-built model with
  its own class names, and a plain Ultralytics yolo11n.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _foreign import foreign_model, randomize, save_checkpoint, ultralytics_save
from casebook import record
from ultralytics import YOLO
from ultralytics.nn import tasks

import ultra_yolov12
from ultra_yolov12 import _ultralytics as compat
from ultra_yolov12.cli import main as cli_main
from ultra_yolov12.pickles import CheckpointError, UnsafeCheckpointError, inspect_checkpoint
from ultra_yolov12.sharing import SafetensorsError

ROOT = Path(__file__).resolve().parents[1]
HAS_SAFE_LOAD = compat.restricted_loading(tasks, (True,), {})
NO_SAFE_LOAD = (
    f"Ultralytics {__import__('ultralytics').__version__} with torch {torch.__version__} has no restricted loading "
    "(ULTRALYTICS_SAFE_LOAD: 8.4.x releases with _SafeLoad, torch >= 2.6)"
)
X = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))


class _Exec:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('code ran')",)


class _System(_Exec):
    def __reduce__(self):
        return os.system, (f"echo ran > {self.marker}",)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Checkpoints of every kind, two hostile ones among them (their markers in ``tmp/markers``)."""
    d = tmp_path_factory.mktemp("safe")
    out = {}
    for layout in ("v1.0", "turbo", "ultralytics"):
        out[layout] = save_checkpoint(foreign_model(layout), d / f"official-{layout}.pt")
    plugin = YOLO("yolov12n.yaml")
    randomize(plugin.model, seed=1)  # trained-like weights: boxes to compare
    plugin.model.names = {i: f"class{i}" for i in range(80)}  # names as a fine-tuned model has its own
    out["plugin"] = d / "plugin.pt"
    ultralytics_save(plugin, out["plugin"])
    (d / "markers").mkdir()
    for name, cls in (("exec", _Exec), ("os.system", _System)):
        ckpt = torch.load(out["plugin"], map_location="cpu", weights_only=False)
        ckpt["train_results"] = cls(d / "markers" / f"{name}.txt")
        out[f"hostile-{name}"] = d / f"hostile-{name}.pt"
        torch.save(ckpt, out[f"hostile-{name}"])
    return out


def _outputs(model) -> torch.Tensor:
    with torch.no_grad():
        y = model.model.eval()(X)
    return y[0] if isinstance(y, (list, tuple)) else y


@pytest.mark.skipif(not HAS_SAFE_LOAD, reason=NO_SAFE_LOAD)
def test_safe_load_loads_yolov12_and_refuses_code(files, tmp_path):
    out = tmp_path / "outputs.pt"
    code = f"""
import json, os, torch
from ultralytics import YOLO
files = {json.dumps({k: str(v) for k, v in files.items()})}
X = torch.load({str(tmp_path / "x.pt")!r}, weights_only=True)
outputs, errors = {{}}, {{}}
for key, path in files.items():
    try:
        model = YOLO(path)
        with torch.no_grad():
            y = model.model.eval()(X)
        outputs[key] = y[0] if isinstance(y, (list, tuple)) else y
    except Exception as e:
        errors[key] = [type(e).__name__, str(e)]
torch.save(outputs, {str(out)!r})
print("ERRORS=" + json.dumps(errors))
"""
    torch.save(X, tmp_path / "x.pt")
    env = {**os.environ, "ULTRALYTICS_SAFE_LOAD": "1", "YOLO_OFFLINE": "true"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    errors = json.loads(r.stdout.rsplit("ERRORS=", 1)[1])
    outputs = torch.load(out, weights_only=True)
    markers = files["plugin"].parent / "markers"
    assert list(markers.iterdir()) == []  # neither hostile pickle ran
    for key in ("v1.0", "turbo", "ultralytics", "plugin"):
        assert key not in errors, errors[key]
        ref = _outputs(YOLO(str(files[key])))  # this process: the default (unrestricted) loader
        assert torch.equal(outputs[key], ref), key
        record("Safe loading", f"ULTRALYTICS_SAFE_LOAD=1, {key} YOLOv12 checkpoint", "python", "ok",
               "loads; outputs equal the default loader's", code_ran=False)  # fmt: skip
    for name in ("exec", "os.system"):
        kind, msg = errors[f"hostile-{name}"]
        assert kind == "UnsafeCheckpointError", (kind, msg)
        assert "ULTRALYTICS_SAFE_LOAD=1" in msg and ("builtins.exec" if name == "exec" else "system") in msg, msg
        record("Safe loading", f"ULTRALYTICS_SAFE_LOAD=1, checkpoint whose pickle calls {name}", "python", kind, msg,
               code_ran=False, clear=True)  # fmt: skip


@pytest.mark.parametrize("name", ["exec", "os.system"])
def test_inspect_refuses_code_without_running_it(files, name):
    with pytest.raises(UnsafeCheckpointError) as e:
        inspect_checkpoint(files[f"hostile-{name}"])
    assert "would run code" in str(e.value) and "nothing in it ran" in str(e.value)
    assert list((files["plugin"].parent / "markers").iterdir()) == []
    record("Safe loading", f"inspect a checkpoint whose pickle calls {name}", "python", "UnsafeCheckpointError",
           str(e.value), code_ran=False, clear=True)  # fmt: skip


def test_inspect_accepts_every_layout(files):
    for key in ("v1.0", "turbo", "ultralytics", "plugin"):
        info = inspect_checkpoint(files[key])
        assert info["model"] == "ultralytics.nn.tasks.DetectionModel" and info["tensors"] > 100, info


def test_inspect_refuses_a_state_dict_and_a_cut_file(files, tmp_path):
    torch.save(torch.load(files["plugin"], weights_only=False)["model"].state_dict(), tmp_path / "sd.pt")
    with pytest.raises(CheckpointError, match="not a checkpoint dict"):
        inspect_checkpoint(tmp_path / "sd.pt")
    data = files["plugin"].read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) - 1000])
    with pytest.raises(CheckpointError, match="truncated"):
        inspect_checkpoint(tmp_path / "cut.pt")


def _same(a: YOLO, b: YOLO, image) -> None:
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]), k
    assert torch.equal(_outputs(a), _outputs(b))
    ra, rb = (m.predict(image, imgsz=128, conf=0.001, verbose=False)[0] for m in (a, b))
    assert torch.equal(ra.boxes.data, rb.boxes.data) and len(ra.boxes) > 0
    assert a.names == b.names and a.task == b.task


@pytest.mark.parametrize("key", ["v1.0", "turbo", "ultralytics", "plugin"])
def test_safetensors_round_trip_is_exact(files, key, tmp_path, bus_jpg):
    target = ultra_yolov12.convert(files[key], tmp_path / f"{key}.safetensors", to="safetensors")
    assert target.read_bytes()[8:9] == b"{"  # a safetensors header (JSON), no pickle anywhere
    loaded = YOLO(str(target))
    _same(YOLO(str(files[key])), loaded, bus_jpg)
    assert loaded.ckpt_path == str(target)
    record("Safe loading", f"{key} checkpoint -> safetensors -> YOLO()", "python", "ok",
           "same state dict and predictions", code_ran=False)  # fmt: skip


def test_safetensors_cli_and_a_plain_ultralytics_model(tmp_path, bus_jpg):
    src = tmp_path / "yolo11n.pt"
    model = YOLO("yolo11n.yaml")
    randomize(model.model, seed=2)
    ultralytics_save(model, src)
    target = tmp_path / "yolo11n.safetensors"
    assert cli_main(["convert", f"source={src}", f"target={target}", "to=safetensors"]) == 0
    _same(YOLO(str(src)), YOLO(str(target)), bus_jpg)
    record("Safe loading", "ultra-yolov12 convert yolo11n to=safetensors -> YOLO()", "ultra-yolov12", "ok",
           "same state dict and predictions", code_ran=False)  # fmt: skip


def test_foreign_safetensors_is_one_clear_error(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(SafetensorsError) as e:
        YOLO(str(path))
    assert "to=safetensors" in str(e.value) and str(path) in str(e.value)
    record("Safe loading", "a safetensors file without a model config", "python", "SafetensorsError", str(e.value),
           clear=True)  # fmt: skip
