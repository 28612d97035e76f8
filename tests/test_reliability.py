"""Bad inputs, as a user makes them: each ends in one clear error (the project's own or a documented one) that names
the input and the remedy, through the Python API, the ``ultra-yolov12`` command and, for a subset, the ``yolo`` command.

Every case is one row of :data:`CASES`; each is asserted, then written to the casebook (``tests/casebook.py``) from
which ``benchmarks/reliability.py`` renders ``docs/reliability.md``. Also here: configs named like YOLOv12 build
YOLOv12, and concurrent building/predicting/registration in threads.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import ultralytics
from _foreign import OddAAttn, TurboAAttn, foreign_model, save_checkpoint
from casebook import record
from ultralytics import YOLO
from ultralytics.nn.modules import block as ul_block
from ultralytics.nn.modules.conv import Conv
from ultralytics.nn.tasks import DetectionModel
from ultralytics.utils import SETTINGS
from ultralytics_log import LogCapture

import ultra_yolov12
from ultra_yolov12 import _ultralytics as compat
from ultra_yolov12 import cli, weights
from ultra_yolov12.nn import LayoutError, set_backend

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEEP = (AssertionError, KeyError, AttributeError, IndexError)  # never what a user should see
CFG = (REPO / "cfg" / "models" / "12" / "yolov12.yaml").read_text()
V10_N, TURBO_N, YOLO12_N = 2_603_056, 2_553_904, 2_602_288


def first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0]


def env(**extra) -> dict:
    """The test's environment for a subprocess: this checkout first on the path, offline."""
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    out = {**os.environ, "PYTHONPATH": path}
    out.update({k: v for k, v in extra.items() if v is not None})
    for k in [k for k, v in extra.items() if v is None]:
        out.pop(k, None)
    return out


# --- the files and models the cases use, built once -----------------------------------------------------------------


def _yaml(tmp: Path, name: str, text: str) -> str:
    (tmp / name).write_text(text)
    return str(tmp / name)


@pytest.fixture(scope="module")
def bad(tmp_path_factory, bus_jpg, coco8_yaml) -> SimpleNamespace:
    """Every bad file of the battery, plus one good checkpoint to damage and a tiny yolov12n."""
    tmp = tmp_path_factory.mktemp("bad")
    ns = SimpleNamespace(tmp=tmp, bus=str(bus_jpg), coco8=str(coco8_yaml))
    ns.syntax = _yaml(tmp, "syntax.yaml", "plugin: ultra_yolov12\nbackbone: [[-1, 1, Conv, [64, 3, 2]]\nhead: [\n")
    ns.empty = _yaml(tmp, "empty.yaml", "")
    ns.no_model = _yaml(tmp, "names.yaml", "names: {0: person}\nnc: 1\n")
    row6 = "[-1, 4, A2C2f, [512, True, 4]]"  # layer 6 of the shipped v1.0 config, replaced by a wrong one
    ns.width = _yaml(tmp, "width.yaml", CFG.replace(row6, "[-1, 4, A2C2f, [400, True, 4]]"))
    ns.area0 = _yaml(tmp, "area0.yaml", CFG.replace(row6, "[-1, 4, A2C2f, [512, True, 0]]"))
    ns.area3 = _yaml(tmp, "area3.yaml", CFG.replace(row6, "[-1, 4, A2C2f, [512, True, 3]]"))
    ns.heads = _yaml(tmp, "heads.yaml", CFG.replace(row6, "[-1, 1, ABlock, [128, 3, 1.2, 1]]"))
    ns.unknown_module = _yaml(tmp, "typo.yaml", CFG.replace(row6, "[-1, 4, A2C2F, [512, True, 4]]"))
    torch.manual_seed(0)
    ns.model = DetectionModel("yolov12n.yaml", verbose=False).eval()
    ns.good = save_checkpoint(ns.model, tmp / "good.pt")
    data = ns.good.read_bytes()
    files = {
        "empty.pt": b"",
        "truncated.pt": data[: len(data) // 2],
        "text.pt": b"model: yolov12n\nthis is a text file, not weights\n",
        "jpeg.pt": Path(bus_jpg).read_bytes(),
        "hdf5.pt": b"\x89HDF\r\n\x1a\n" + bytes(4096),  # a Keras/TF .h5 file's signature
    }
    for name, content in files.items():
        (tmp / name).write_bytes(content)
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    onnx.save(helper.make_model(graph), tmp / "onnx.pt")
    with zipfile.ZipFile(tmp / "keras.pt", "w") as z:  # a Keras v3 file is a zip, not torch's archive
        z.writestr("config.json", "{}")
        z.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")
    with open(tmp / "pickle.pt", "wb") as f:  # a plain pickle, not torch.save's format
        pickle.dump({"model": [1, 2, 3]}, f)
    np.save(tmp / "array.npy", np.zeros(3))
    os.replace(tmp / "array.npy", tmp / "numpy.pt")
    torch.save(ns.model.state_dict(), tmp / "state_dict.pt")
    torch.save({"model": ns.model.state_dict()}, tmp / "state_dict_in_model.pt")
    torch.save(torch.zeros(3), tmp / "tensor.pt")
    # a checkpoint of a code base that is not installed, and one naming a block class Ultralytics does not have
    foreign_cls = type("Net", (torch.nn.Module,), {"__module__": "some_other_detector.models"})
    mods = {"some_other_detector": SimpleNamespace(), "some_other_detector.models": SimpleNamespace(Net=foreign_cls)}
    sys.modules.update(mods)
    try:
        torch.save({"model": foreign_cls(), "train_args": {}}, tmp / "other_code_base.pt")
    finally:
        for k in mods:
            sys.modules.pop(k)
    ghost = type("YOLO99Block", (torch.nn.Module,), {"__module__": ul_block.__name__})
    ul_block.YOLO99Block = ghost
    try:
        torch.save({"model": ghost()}, tmp / "unknown_block.pt")
    finally:
        del ul_block.YOLO99Block
    odd = foreign_model("turbo")
    for a in [m for m in odd.modules() if type(m) is TurboAAttn]:
        a.__class__ = OddAAttn
        a.pe = Conv(a.v.conv.out_channels, a.v.conv.out_channels, 7, 1, 3, g=a.v.conv.out_channels, act=False)
    ns.odd = save_checkpoint(odd, tmp / "odd_layout.pt")
    root = tmp / "nolabels"  # a dataset with images and no label files
    (root / "images" / "val").mkdir(parents=True)
    (root / "images" / "val" / "bus.jpg").write_bytes(Path(bus_jpg).read_bytes())
    ns.nolabels = _yaml(tmp, "nolabels.yaml", f"path: {root}\ntrain: images/val\nval: images/val\nnames: [person]\n")
    return ns


@pytest.fixture
def offline_weights(tmp_path, monkeypatch):
    """An empty weights directory and a weights mirror nothing listens on, as on a machine without network."""
    import socket

    monkeypatch.setitem(SETTINGS, "weights_dir", str(tmp_path / "weights"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/releases"
    monkeypatch.setenv(weights.URL_ENV, url)
    monkeypatch.setenv("YOLO_OFFLINE", "true")
    monkeypatch.chdir(tmp_path)
    return SimpleNamespace(url=url, dir=tmp_path / "weights")


# --- the table of cases ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One bad input: what it is, how the Python API is driven into it, what must be said, and its CLI forms.

    ``run(b)`` gets the ``bad`` fixture; ``parts`` must all appear in the message (``{x}`` is formatted from ``bad``);
    ``cli`` is the ``ultra-yolov12`` argv (same formatting) where the command applies; ``env`` is set for the case.
    """

    section: str
    name: str
    run: Callable
    error: type
    parts: tuple[str, ...]
    cli: tuple[str, ...] = ()
    env: dict = field(default_factory=dict)
    offline: bool = False
    left: Callable | None = None  # (bad, offline) -> files the failure must not have left behind


def _files(*dirs: Path) -> list[Path]:
    return [p for d in dirs if d.exists() for p in d.rglob("*") if p.is_file()]


def _predict(model, source, imgsz=64):
    return model.predict(source, imgsz=imgsz, verbose=False)


CASES = [
    # configs
    Case("configs", "unknown scale yolov12q.yaml", lambda b: YOLO("yolov12q.yaml"), FileNotFoundError,
         ("'yolov12q.yaml' is not a YOLOv12 config", "Available: ", "yolov12n.yaml")),
    Case("configs", "unknown config name yolov12n-foo.yaml", lambda b: YOLO("yolov12n-foo.yaml"), FileNotFoundError,
         ("yolov12n-foo.yaml", "is not a YOLOv12 config", "yolov12n-turbo.yaml"),
         cli=("heatmap", "model=yolov12n-foo.yaml", "source={bus}")),
    Case("configs", "YAML syntax error", lambda b: YOLO(b.syntax), ValueError,
         ("YAML syntax error", "syntax.yaml")),
    Case("configs", "empty YAML", lambda b: YOLO(b.empty), ValueError,
         ("empty.yaml is not a model config", "'backbone' and 'head'", "yolov12n.yaml")),
    Case("configs", "YAML that is no model (a dataset YAML)", lambda b: YOLO(b.no_model), ValueError,
         ("names.yaml is not a model config", "keys ['names', 'nc']")),
    Case("configs", "unknown module name in a plugin YAML", lambda b: YOLO(b.unknown_module), ValueError,
         ("typo.yaml: layer 6 uses module 'A2C2F'", "A2C2f, A2C2fTurbo")),
    Case("configs", "attention width not a multiple of 32", lambda b: YOLO(b.width), ValueError,
         ("layer 6 (A2C2f [400, True, 4]) at scale 'n'", "not a multiple of 32", "change the layer's channels")),
    Case("configs", "heads that do not divide the width", lambda b: YOLO(b.heads), ValueError,
         ("AAttn: dim=128", "multiple of num_heads=3")),
    Case("configs", "area=0", lambda b: YOLO(b.area0), ValueError, ("area must be a positive integer, got 0",)),
    Case("configs", "area=3 that no token count of the build divides", lambda b: YOLO(b.area3), ValueError,
         ("16x16=256 tokens cannot be cut into area=3", "input size")),
    Case("configs", "input whose token count does not divide area (80x80)",
         lambda b: b.model(torch.zeros(1, 3, 80, 80)), ValueError,
         ("5x5=25 tokens cannot be cut into area=4", "any multiple of 32")),
    # checkpoint files
    *(
        Case("checkpoints", f"{what} renamed .pt", lambda b, f=f: YOLO(b.tmp / f), TypeError,
             ("{tmp}/" + f, "not a loadable checkpoint", "re-export"), cli=("convert", "source={tmp}/" + f))
        for what, f in (
            ("empty file", "empty.pt"), ("truncated checkpoint", "truncated.pt"), ("text file", "text.pt"),
            ("JPEG image", "jpeg.pt"), ("ONNX model", "onnx.pt"), ("Keras/TF HDF5 file", "hdf5.pt"),
            ("Keras zip archive", "keras.pt"), ("plain pickle", "pickle.pt"), ("NumPy array", "numpy.pt"),
        )
    ),
    *(
        Case("checkpoints", what, lambda b, f=f: YOLO(b.tmp / f), TypeError,
             ("{tmp}/" + f, "is not an Ultralytics checkpoint", "holds no model"))
        for what, f in (
            ("state dict only", "state_dict.pt"), ("state dict under 'model'", "state_dict_in_model.pt"),
            ("a bare tensor", "tensor.pt"),
        )
    ),
    Case("checkpoints", "AAttn weights in an unknown layout", lambda b: YOLO(b.odd), LayoutError,
         ("odd_layout.pt", "qk + v projections with a 7x7 position perceiver", "turbo (qk + v + 5x5 pe)"),
         cli=("convert", "source={odd}", "to=v1.0")),
    Case("checkpoints", "classes of a code base that is not installed", lambda b: YOLO(b.tmp / "other_code_base.pt"),
         ModuleNotFoundError, ("other_code_base.pt was saved by code that is not installed", "'some_other_detector'",
                               "Load it with the code that wrote it")),
    Case("checkpoints", "a block class this Ultralytics does not define", lambda b: YOLO(b.tmp / "unknown_block.pt"),
         TypeError, ("unknown_block.pt needs a class that ultralytics", "YOLO99Block", "upgrade ultralytics")),
    # official weights
    Case("weights", "unknown official name yolov12q.pt", lambda b: YOLO("yolov12q.pt"), FileNotFoundError,
         ("'yolov12q.pt' is neither a file nor an official YOLOv12 weight name", "yolov12n-turbo.pt"),
         cli=("coco-eval", "model=yolov12q.pt", "data={coco8}")),
    Case("weights", "unknown official name yolov12n-foo.pt", lambda b: YOLO("yolov12n-foo.pt"), FileNotFoundError,
         ("'yolov12n-foo.pt' is neither a file", "official names: yolov12n.pt")),
    Case("weights", "offline request of yolov12s.pt", lambda b: YOLO("yolov12s.pt"), weights.WeightsDownloadError,
         ("{url}/v1.0/yolov12s.pt", "offline", "put the file at {wdir}/yolov12s.pt"), offline=True,
         left=lambda b, o: _files(o.dir),
         cli=("heatmap", "model=yolov12s.pt", "source={bus}")),
    Case("weights", "offline request of yolov12n-seg.pt", lambda b: YOLO("yolov12n-seg.pt"),
         weights.WeightsDownloadError, ("{url}/seg/yolov12n-seg.pt", "{wdir}/yolov12n-seg.pt"), offline=True,
         left=lambda b, o: _files(o.dir)),
    # attention backends
    Case("attention", "ULTRA_YOLOV12_ATTN=fast", lambda b: _predict(b.model_yolo, b.bus), ValueError,
         ("$ULTRA_YOLOV12_ATTN='fast'", "choose one of auto, eager, sdpa, flash"),
         env={"ULTRA_YOLOV12_ATTN": "fast"}, cli=("heatmap", "model=yolov12n.yaml", "source={bus}", "imgsz=64")),
    Case("attention", "ULTRA_YOLOV12_ATTN=' SDPA2 '", lambda b: _predict(b.model_yolo, b.bus), ValueError,
         ("'SDPA2'", "choose one of"), env={"ULTRA_YOLOV12_ATTN": " SDPA2 "}),
    Case("attention", "set_backend('cuda')", lambda b: set_backend("cuda"), ValueError,
         ("unknown attention backend 'cuda'", "choose one of auto, eager, sdpa, flash")),
    Case("attention", "flash forced where flash-attn cannot run (CPU)", lambda b: _predict(b.model_yolo, b.bus),
         RuntimeError, ("'flash' was forced but cannot run", "tensors are on cpu", "force 'sdpa' or 'eager'"),
         env={"ULTRA_YOLOV12_ATTN": "flash"}, cli=("heatmap", "model=yolov12n.yaml", "source={bus}", "imgsz=64")),
    # conversion, heat maps, COCO evaluation, recipes
    Case("tools", "conversion to an unknown layout", lambda b: ultra_yolov12.convert(b.good, to="stock"), ValueError,
         ("unknown target layout to='stock'", "choose one of ultralytics, v1.0, turbo"),
         cli=("convert", "source={good}", "to=stock")),
    Case("tools", "conversion that cannot be exact (v1.0 to turbo)",
         lambda b: ultra_yolov12.convert(b.good, to="turbo"), LayoutError,
         ("cannot convert v1.0 to turbo exactly", "outside its central 5x5"),
         left=lambda b, o: [p for p in _files(b.tmp) if p.name.startswith(("good-", ".good"))],
         cli=("convert", "source={good}", "to=turbo")),
    Case("tools", "conversion of a missing file", lambda b: ultra_yolov12.convert(b.tmp / "nope.pt"),
         FileNotFoundError, ("nope.pt' does not exist", "check the path"), cli=("convert", "source={tmp}/nope.pt")),
    Case("tools", "conversion of a model without attention",
         lambda b: ultra_yolov12.convert(save_checkpoint(DetectionModel("yolo11n.yaml", verbose=False),
                                                         b.tmp / "yolo11n.pt")), ValueError,
         ("yolo11n.pt has no area attention", "nothing to convert")),
    Case("tools", "heat-map layer that does not exist (model.99)",
         lambda b: ultra_yolov12.heatmap(b.model_yolo, b.bus, layer="model.99", imgsz=64, project=b.tmp / "hm"),
         ValueError, ("layer 'model.99' is not a layer of", "Valid layers", "6 A2C2f"),
         left=lambda b, o: _files(b.tmp / "hm"),
         cli=("heatmap", "model=yolov12n.yaml", "source={bus}", "layer=model.99", "imgsz=64", "project={tmp}/hm")),
    Case("tools", "heat-map layer type that does not exist",
         lambda b: ultra_yolov12.heatmap(b.model_yolo, b.bus, layer="Transformer", imgsz=64, project=b.tmp / "hm"),
         ValueError, ("layer 'Transformer' is not a layer of", "a type name")),
    Case("tools", "heat map of a missing image",
         lambda b: ultra_yolov12.heatmap(b.model_yolo, b.tmp / "missing.jpg", imgsz=64, project=b.tmp / "hm"),
         FileNotFoundError, ("missing.jpg' is neither an image file nor a folder",),
         cli=("heatmap", "model=yolov12n.yaml", "source={tmp}/missing.jpg", "imgsz=64")),
    Case("tools", "prediction on a missing image", lambda b: _predict(b.model_yolo, b.tmp / "missing.jpg"),
         FileNotFoundError, ("missing.jpg does not exist",)),
    Case("tools", "COCO evaluation on a dataset without labels",
         lambda b: ultra_yolov12.coco_eval(b.model_yolo, b.nolabels, imgsz=64, project=b.tmp / "coco"), ValueError,
         ("split 'val' of {nolabels} has no labels", "labels/val/bus.txt", "add the label files"),
         left=lambda b, o: _files(b.tmp / "coco"),
         cli=("coco-eval", "model=yolov12n.yaml", "data={nolabels}", "imgsz=64", "project={tmp}/coco")),
    Case("tools", "COCO evaluation on a missing dataset YAML",
         lambda b: ultra_yolov12.coco_eval(b.model_yolo, b.tmp / "nope.yaml", imgsz=64), FileNotFoundError,
         ("nope.yaml' does not exist",)),
    Case("tools", "COCO evaluation on a split the dataset lacks",
         lambda b: ultra_yolov12.coco_eval(b.model_yolo, b.coco8, split="test", imgsz=64), ValueError,
         ("no 'test' split", "split= one of")),
    Case("tools", "recipe of an unknown scale", lambda b: ultra_yolov12.recipe("q"), ValueError,
         ("unknown YOLOv12 scale 'q'", "n, s, m, l, x"), cli=("recipe", "scale=q")),
    # releases
    Case("releases", "Ultralytics 8.2.103 (older than 8.3.0)", lambda b: compat.check_version("8.2.103"),
         ultra_yolov12.UnsupportedUltralyticsError,
         ("ultralytics 8.2.103 is installed", "pip install 'ultralytics>=8.3.0,<8.5.0'")),
    Case("releases", "Ultralytics 8.5.0 (newer than supported)", lambda b: compat.check_version("8.5.0"),
         ultra_yolov12.UnsupportedUltralyticsError, ("ultralytics 8.5.0 is installed", "ultralytics>=8.3.0,<8.5.0")),
]  # fmt: skip


def _fmt(text: str, b: SimpleNamespace, o: SimpleNamespace | None) -> str:
    return text.format(**vars(b), **({"url": o.url, "wdir": o.dir} if o else {}))


@pytest.fixture(scope="module")
def battery(bad) -> SimpleNamespace:
    bad.model_yolo = YOLO("yolov12n.yaml")
    return bad


def _case_setup(case: Case, request, monkeypatch) -> SimpleNamespace | None:
    for k, v in case.env.items():
        monkeypatch.setenv(k, v)
    if case.name.startswith("set_backend"):
        request.addfinalizer(lambda: set_backend(None))
    return request.getfixturevalue("offline_weights") if case.offline else None


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_python_api_says_what_is_wrong_and_what_to_do(case: Case, battery, request, monkeypatch):
    o = _case_setup(case, request, monkeypatch)
    with pytest.raises(Exception) as e:
        case.run(battery)
    err = e.value
    assert type(err) is case.error or (isinstance(err, case.error) and not isinstance(err, DEEP)), repr(err)
    assert not isinstance(err, DEEP), repr(err)
    msg = str(err)
    for part in case.parts:
        assert _fmt(part, battery, o) in msg, f"{part!r} missing from: {msg}"
    facts = {}
    if case.left is not None:  # nothing half-written: no partial download, no empty run directory, no target
        left = case.left(battery, o)
        assert left == [], left
        facts["files_lost"] = len(left)
    record(case.section, case.name, "python", type(err).__name__, first_line(err), clear=True, **facts)


CLI_CASES = [c for c in CASES if c.cli]
UNKNOWN_CLI = [  # the command line itself is wrong: exit 2
    ("unknown command", ("conver",), ("'conver' is not a command", "Did you mean 'convert'", "Valid commands")),
    ("unknown key", ("heatmap", "modle=yolov12n.yaml", "source=bus.jpg"), ("'modle' is not a valid key", "model")),
    ("bad value for a number", ("heatmap", "model=yolov12n.yaml", "source=bus.jpg", "imgsz=big"),
     ("imgsz='big' is not a number", "imgsz=640")),
    ("bad value for a flag", ("coco-eval", "model=a.pt", "data=b.yaml", "verbose=maybe"),
     ("verbose='maybe' is not true or false",)),
    ("missing required key", ("convert",), ("'convert' needs source=...",)),
    ("bare word instead of key=value", ("convert", "best.pt"), ("'best.pt' is not a key=value pair",)),
]  # fmt: skip


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.name for c in CLI_CASES])
def test_ultra_yolov12_command_fails_with_one_line(case: Case, battery, request, monkeypatch, capsys):
    o = _case_setup(case, request, monkeypatch)
    monkeypatch.delenv("ULTRA_YOLOV12_DEBUG", raising=False)
    argv = [_fmt(a, battery, o) for a in case.cli]
    rc = cli.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1, (rc, err)
    assert err[0].startswith(f"ultra-yolov12: error: {argv[0]} failed: ") and "Traceback" not in err[0]
    record(case.section, case.name, "ultra-yolov12", f"exit {rc}", err[0], clear=True)


@pytest.mark.parametrize("name,argv,parts", UNKNOWN_CLI, ids=[c[0] for c in UNKNOWN_CLI])
def test_unknown_cli_commands_keys_and_values(name, argv, parts, capsys):
    rc = cli.main(list(argv))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, (rc, err)
    for part in parts:
        assert part in err[0], err[0]
    record("cli", name, "ultra-yolov12", f"exit {rc}", err[0], clear=True)


# --- real commands in subprocesses: exit status, stderr, no traceback -----------------------------------------------


def _run(cmd: list[str], cwd: Path, **extra) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env(**extra), timeout=300)


def test_real_commands_fail_with_one_clear_line(battery, tmp_path):
    """A representative subset as users type it (each run costs seconds): the console script and ``yolo``."""
    b = battery
    script = BIN / "ultra-yolov12"  # the console script where the package is pip-installed (nox), else python -m
    script = [str(script)] if script.is_file() else [sys.executable, "-m", "ultra_yolov12"]
    runs = {
        "conversion to an unknown layout": ([*script, "convert", f"source={b.good}", "to=stock"], 1,
                                            "unknown target layout to='stock'"),
        "text file renamed .pt": ([sys.executable, "-m", "ultra_yolov12", "convert", f"source={b.tmp}/text.pt"], 1,
                                  "text.pt is not a loadable checkpoint"),
    }  # fmt: skip
    for name, (cmd, code, part) in runs.items():
        r = _run(cmd, tmp_path)
        err = r.stderr.strip().splitlines()
        assert r.returncode == code and len(err) == 1 and part in err[0], (name, r.returncode, r.stderr[-2000:])
        assert "Traceback" not in r.stderr + r.stdout
        record("cli", name, "ultra-yolov12 (process)", f"exit {r.returncode}", err[0], clear=True)
    # `yolo`: Ultralytics' own command; errors the plugin raises end it in one line too
    yolo = str(BIN / "yolo")
    r = _run([yolo, "predict", "model=yolov12n-foo.yaml", f"source={b.bus}"], tmp_path)
    err = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(err) == 1 and "Traceback" not in r.stderr + r.stdout, r.stderr[-2000:]
    last = err[0]
    assert last.startswith("yolo: error: ") and "yolov12n-foo.yaml" in last and "is not a YOLOv12 config" in last
    record("cli", "unknown config name yolov12n-foo.yaml", "yolo (process)", f"exit {r.returncode}", last, clear=True)


# --- unsupported, missing and broken Ultralytics --------------------------------------------------------------------


def _stub(tmp_path: Path, body: str) -> Path:
    pkg = tmp_path / "stub" / "ultralytics"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(body)
    return pkg.parent


def test_ultralytics_older_than_830_through_the_real_import_path(tmp_path):
    """A stub ``ultralytics`` 8.2.0 first on ``sys.path``: the plugin's import and its command refuse it in one line,
    the host's ``import ultralytics`` still works (a warning), and ``python -c pass`` stays silent."""
    stub = str(_stub(tmp_path, "__version__ = '8.2.0'\n"))
    path = os.pathsep.join([stub, str(REPO)])
    r = _run([sys.executable, "-c", "import ultra_yolov12"], tmp_path, PYTHONPATH=path)
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 1 and last.startswith("ultra_yolov12._ultralytics.UnsupportedUltralyticsError: "), r.stderr
    assert "ultralytics 8.2.0 is installed" in last and "pip install 'ultralytics>=8.3.0,<8.5.0'" in last
    record("releases", "Ultralytics 8.2.0 on sys.path: import ultra_yolov12", "python (process)",
           "UnsupportedUltralyticsError", last.split(": ", 1)[1], clear=True)  # fmt: skip
    r = _run([sys.executable, "-m", "ultra_yolov12", "checks"], tmp_path, PYTHONPATH=path)
    err = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(err) == 1 and "ultralytics 8.2.0 is installed" in err[0], r.stderr
    record("releases", "Ultralytics 8.2.0 on sys.path: ultra-yolov12 checks", "ultra-yolov12 (process)",
           f"exit {r.returncode}", err[0], clear=True)  # fmt: skip
    r = _run([sys.executable, "-c", "pass"], tmp_path, PYTHONPATH=path)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    record("startup", "python -c pass with Ultralytics 8.2.0", "python (process)", "ok", "(silent, exit 0)")


def test_missing_ultralytics(tmp_path):
    """A fresh virtualenv without Ultralytics (or torch) but with the start-up hook installed."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = subprocess.check_output([str(py), "-c", "import site; print(site.getsitepackages()[0])"], text=True)
    site = Path(site.strip())
    (site / "00_ultra_yolov12_checkout.pth").write_text(f"{REPO}\n")  # before ultra_yolov12.pth, alphabetically
    (site / "ultra_yolov12.pth").write_text((REPO / "ultra_yolov12.pth").read_text())
    clean = {"PYTHONPATH": None}
    r = _run([str(py), "-c", "pass"], tmp_path, **clean)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    record("startup", "python -c pass without Ultralytics", "python (process)", "ok", "(silent, exit 0)")
    r = _run([str(py), "-c", "import ultra_yolov12"], tmp_path, **clean)
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 1 and "ultra-yolov12 is a plugin for Ultralytics, which is not installed" in last
    assert "pip install 'ultralytics>=8.3.0,<8.5.0'" in last
    record("startup", "import ultra_yolov12 without Ultralytics", "python (process)", "ModuleNotFoundError",
           last.split(": ", 1)[1], clear=True)  # fmt: skip
    r = _run([str(py), "-m", "ultra_yolov12", "checks"], tmp_path, **clean)
    err = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(err) == 1 and "needs the Python package 'ultralytics'" in err[0], r.stderr
    record("startup", "ultra-yolov12 checks without Ultralytics", "ultra-yolov12 (process)", f"exit {r.returncode}",
           err[0], clear=True)  # fmt: skip


def test_broken_ultralytics(tmp_path):
    stub = str(_stub(tmp_path, "raise RuntimeError('half-installed: ultralytics/nn is missing')\n"))
    path = os.pathsep.join([stub, str(REPO)])
    r = _run([sys.executable, "-c", "pass"], tmp_path, PYTHONPATH=path)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    record("startup", "python -c pass with a broken Ultralytics", "python (process)", "ok", "(silent, exit 0)")
    r = _run([sys.executable, "-c", "import ultralytics"], tmp_path, PYTHONPATH=path)
    assert r.returncode == 1 and r.stderr.strip().splitlines()[-1].endswith("ultralytics/nn is missing")
    assert "ultra-yolov12" not in r.stderr  # the host's own error; the plugin adds no message of its own
    r = _run([sys.executable, "-m", "ultra_yolov12", "checks"], tmp_path, PYTHONPATH=path)
    err = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(err) == 1, r.stderr
    assert "'checks' could not start" in err[0] and "RuntimeError: half-installed" in err[0]
    record("startup", "ultra-yolov12 checks with a broken Ultralytics", "ultra-yolov12 (process)",
           f"exit {r.returncode}", err[0], clear=True)  # fmt: skip


# --- a YAML named like YOLOv12 is YOLOv12 ---------------------------------------------------------------------------

# An official-repository-style config: no ``plugin:`` key, every R-ELAN row named A2C2f (written from the paper's
# architecture). ``nc: 7`` tells it apart from the shipped config, so the test knows the local file was read.
OFFICIAL_STYLE = """\
nc: 7
scales:
  n: [0.50, 0.25, 1024]
  s: [0.50, 0.50, 1024]
  m: [0.50, 1.00, 512]
  l: [1.00, 1.00, 512]
  x: [1.00, 1.50, 512]
backbone:
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, Conv, [128, 3, 2{g1}]]
  - [-1, 2, C3k2, [256, False, 0.25]]
  - [-1, 1, Conv, [256, 3, 2{g3}]]
  - [-1, 2, C3k2, [512, False, 0.25]]
  - [-1, 1, Conv, [512, 3, 2]]
  - [-1, 4, A2C2f, [512, True, 4]]
  - [-1, 1, Conv, [1024, 3, 2]]
  - [-1, 4, A2C2f, [1024, True, 1]]
head:
  - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
  - [[-1, 6], 1, Concat, [1]]
  - [-1, 2, A2C2f, [512, False, -1]]
  - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
  - [[-1, 4], 1, Concat, [1]]
  - [-1, 2, A2C2f, [256, False, -1]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [[-1, 11], 1, Concat, [1]]
  - [-1, 2, A2C2f, [512, False, -1]]
  - [-1, 1, Conv, [512, 3, 2]]
  - [[-1, 8], 1, Concat, [1]]
  - [-1, 2, C3k2, [1024, True]]
  - [[14, 17, 20], 1, Detect, [nc]]
"""
NC7 = {"v1.0": 2_570_181, "turbo": 2_521_029}  # yolov12n / yolov12n-turbo built by the plugin at nc=7


def _params(m) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.fixture
def official_configs(tmp_path, monkeypatch):
    (tmp_path / "yolov12.yaml").write_text(OFFICIAL_STYLE.format(g1="", g3=""))
    (tmp_path / "yolov12-turbo.yaml").write_text(OFFICIAL_STYLE.format(g1=", 1, 2", g3=", 1, 4"))
    (tmp_path / "yolo12.yaml").write_text(OFFICIAL_STYLE.format(g1="", g3=""))  # the same file, Ultralytics' name
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("name,layout", [("yolov12n.yaml", "v1.0"), ("yolov12n-turbo.yaml", "turbo")])
def test_official_yolov12_yaml_in_the_working_directory_builds_the_plugins_yolov12(official_configs, name, layout):
    with LogCapture() as log:
        model = DetectionModel(name)
    attn = [m for m in model.modules() if type(m).__name__ == "AAttn"]
    assert model.yaml["nc"] == 7 and model.model[-1].nc == 7  # the local file, not the shipped config
    assert {type(a).__module__ for a in attn} == {"ultra_yolov12.nn.attention"}
    assert {a.layout for a in attn} == {layout}
    assert _params(model) == NC7[layout]
    said = [line for line in log.lines if "built with" in line]
    assert said == [f"ultra-yolov12: {name} built with ultra-yolov12's YOLOv12 ({layout} layout)"], log.lines
    record("yolov12-named configs", f"official-style {name.replace('n', '', 1)} (no plugin key) in the working "
           f"directory, as {name}", "python", "ok", said[0], params=_params(model))  # fmt: skip


def test_yolo12_yaml_stays_ultralytics(official_configs):
    with LogCapture() as log:
        model = DetectionModel("yolo12n.yaml")
    names = {type(m).__module__ for m in model.modules() if type(m).__name__ in ("AAttn", "A2C2f")}
    if compat.has_builtin_yolo12():  # Ultralytics' own layers: the pe convs have no bias
        assert names == {"ultralytics.nn.modules.block"} and _params(model) == NC7["v1.0"] - (V10_N - YOLO12_N)
    else:  # 8.3.0-8.3.77 have no A2C2f: only the plugin can build it (its v1.0 layout)
        assert names == {"ultra_yolov12.nn.block", "ultra_yolov12.nn.attention"}
    assert not [line for line in log.lines if "built with" in line] or not compat.has_builtin_yolo12()
    record("yolov12-named configs", "the same file as yolo12n.yaml", "python", "ok",
           f"built by {sorted(names)[0].split('.')[0]} ({_params(model):,} params)")  # fmt: skip


def test_shipped_and_converted_names_say_who_built_them(tmp_path):
    with LogCapture() as log:
        DetectionModel("yolov12s-turbo.yaml")
    assert "ultra-yolov12: yolov12s-turbo.yaml built with ultra-yolov12's YOLOv12 (turbo layout)" in log.lines
    torch.manual_seed(0)
    src = save_checkpoint(DetectionModel("yolov12n.yaml", verbose=False), tmp_path / "n.pt")
    stock = ultra_yolov12.convert(src, tmp_path / "n-stock.pt", to="ultralytics")
    with compat.pickled_classes():
        d = torch.load(stock, map_location="cpu", weights_only=False)["model"].yaml
    assert Path(d["yaml_file"]).name == "yolo12n.yaml"  # stock Ultralytics' name: it rebuilds it as YOLO12


# --- load: threads --------------------------------------------------------------------------------------------------


def test_eight_threads_build_predict_and_fuse_concurrently(bus_jpg):
    torch.manual_seed(0)
    ref = YOLO("yolov12n.yaml")
    state = {k: v.clone() for k, v in ref.model.state_dict().items()}

    def work(model: YOLO) -> tuple[torch.Tensor, torch.Tensor]:
        a = model.predict(bus_jpg, imgsz=96, conf=0.0, verbose=False)[0].boxes.data
        model.model.fuse(verbose=False)
        b = model.predict(bus_jpg, imgsz=96, conf=0.0, verbose=False)[0].boxes.data
        return a, b

    want = work(ref)
    out, errors = [None] * 8, []
    barrier = threading.Barrier(8)

    def thread(i: int) -> None:
        try:
            barrier.wait()
            m = YOLO("yolov12n.yaml")
            m.model.load_state_dict(state)
            out[i] = work(m)
        except BaseException as e:  # collected: a thread's exception is otherwise only printed
            errors.append(repr(e))

    threads = [threading.Thread(target=thread, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    for a, b in out:
        assert torch.equal(a, want[0]) and torch.allclose(b, want[1], atol=1e-3), "a thread computed other boxes"
    assert len(want[0]) > 0
    record("load", "8 threads build, predict and fuse yolov12n at once", "python", "ok",
           f"identical boxes in all 8 threads ({len(want[0])} boxes), no errors")  # fmt: skip


def test_concurrent_import_and_register_is_idempotent(tmp_path):
    code = textwrap.dedent(
        """
        import threading, importlib
        barrier, errors = threading.Barrier(8), []
        def go(i):
            try:
                barrier.wait()
                m = importlib.import_module("ultra_yolov12")
                if i % 2:
                    m._ultralytics.register()
            except BaseException as e:
                errors.append(repr(e))
        ts = [threading.Thread(target=go, args=(i,)) for i in range(8)]
        [t.start() for t in ts]; [t.join() for t in ts]
        from ultralytics.nn import tasks
        import ultra_yolov12._ultralytics as c
        hooks = [tasks.parse_model, tasks.check_yaml, tasks.torch_safe_load]
        print("errors", errors)
        print("once", all(h.__wrapped__.__module__ != "ultra_yolov12._ultralytics" for h in hooks))
        print("originals", sorted({f.__module__ for f in c._ORIGINALS.values()}))
        m = tasks.DetectionModel("yolov12n.yaml", verbose=False)
        print("params", sum(p.numel() for p in m.parameters()))
        """
    )
    r = _run([sys.executable, "-c", code], tmp_path, ULTRA_YOLOV12_AUTOLOAD="0")
    assert r.returncode == 0, r.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in r.stdout.strip().splitlines())
    assert lines["errors"] == "[]" and lines["once"] == "True", r.stdout
    hooked = str(
        ["ultralytics.cfg", "ultralytics.engine.model", "ultralytics.nn.modules.conv", "ultralytics.nn.tasks"]
        + ["ultralytics.utils.checks"]  # Conv.forward: hook 13 (lean training)
    )
    assert lines["originals"] == hooked, r.stdout
    assert lines["params"] == str(V10_N)
    record("load", "8 threads import ultra_yolov12 / register() at once (fresh process)", "python (process)", "ok",
           "hooks installed once, originals kept, yolov12n builds with 2,603,056 params")  # fmt: skip


def test_the_battery_is_big_enough():
    assert len(CASES) + len(UNKNOWN_CLI) >= 40
    assert ultralytics.__version__  # the table names the release the cases ran on
