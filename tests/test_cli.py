"""The ``ultra-yolov12`` command: help, key=value parsing, errors with suggestions, wiring to functions, exit codes."""

from __future__ import annotations

import copy
import importlib
import importlib.util
import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import pytest
import torch

from ultra_yolov12 import cli
from ultra_yolov12.cli import COMMANDS, Command, main, parse_value

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """Register commands backed by a small module written here: the CLI's wiring, tested on a target we control."""
    (tmp_path / "tiny_target.py").write_text(
        textwrap.dedent(
            '''
            def run(a: int, b: float = 0.5, flag: bool = False, items=None, name: str = "x"):
                """Echo the arguments.

                Args:
                    a (int): A number.
                    b (float): Another one,
                        described on two lines.
                """
                return {"a": a, "b": b, "flag": flag, "items": items, "name": name, "types": [type(a).__name__,
                        type(b).__name__, type(items).__name__]}

            def anything(**kwargs):
                return {k: repr(v) for k, v in kwargs.items()}

            def reporter(verbose: bool = True):
                if verbose:
                    print("reported by the function")
                return {"value": 1}

            def fails(path: str = "missing.jpg"):
                raise FileNotFoundError(f"no such image: {path}")

            def bug():
                return 1 / 0
            '''
        )
    )
    (tmp_path / "needs_dep.py").write_text("import a_package_that_is_not_installed_xyz\ndef go():\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name, target in [
        ("tiny", "tiny_target:run"),
        ("anything", "tiny_target:anything"),
        ("reporter", "tiny_target:reporter"),
        ("fails", "tiny_target:fails"),
        ("bug", "tiny_target:bug"),
        ("needs-dep", "needs_dep:go"),
        ("gone", "ultra_yolov12._no_such_module:run"),
    ]:
        monkeypatch.setitem(COMMANDS, name, Command(target, f"test command {name}", ("a=1",), extra="demo"))
    return tmp_path


@pytest.mark.parametrize(
    "text, value",
    [
        ("6", 6),
        ("-2", -2),
        ("0.25", 0.25),
        ("1e-3", 0.001),
        ("True", True),
        ("false", False),
        ("none", None),
        ("Null", None),
        ("yolov12n.pt", "yolov12n.pt"),
        ("model.6", "model.6"),
        ("a,b", ["a", "b"]),
        ("yolo11n.pt,yolov10n.pt", ["yolo11n.pt", "yolov10n.pt"]),
        ("[1, 2.5,none]", [1, 2.5, None]),
        ("(640,480)", [640, 480]),
        ("'6'", "6"),
        ('"a,b"', "a,b"),
        ("cuda:0", "cuda:0"),
    ],
)
def test_forgiving_value_parsing(text, value):
    assert parse_value(text) == value and type(parse_value(text)) is type(value)


def test_help_lists_every_command_with_numbered_examples(capsys):
    for argv in ([], ["help"], ["--help"], ["-h"]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        for name in COMMANDS:
            assert f"    {name} " in out
        assert "1. ultra-yolov12 checks" in out and "2. ultra-yolov12 heatmap model=" in out
    assert main(["version"]) == 0
    import ultra_yolov12

    assert capsys.readouterr().out.strip() == ultra_yolov12.__version__


def test_command_help_shows_the_functions_keys(capsys):
    from ultra_yolov12.heatmap import heatmap

    assert main(["heatmap", "help"]) == 0
    out = capsys.readouterr().out
    for name, p in inspect.signature(heatmap).parameters.items():  # the command follows the signature
        shown = "..." if p.default is inspect.Parameter.empty else str(p.default)
        assert f"    {name}={shown} " in out
    assert "last block of backbone stage 3" in out


def test_unknown_command_suggests_and_lists(capsys):
    assert main(["heatmp", "model=x"]) == 2
    err = capsys.readouterr().err
    assert "'heatmp' is not a command. Did you mean 'heatmap'?" in err
    assert "Valid commands: checks, heatmap, convert, coco-eval, recipe, benchmark, demo" in err


def test_unknown_key_suggests_and_lists(capsys, bus_jpg):
    assert main(["heatmap", "model=yolov12n.yaml", f"source={bus_jpg}", "imsz=320"]) == 2
    err = capsys.readouterr().err
    assert "'imsz' is not a valid key for 'heatmap'. Did you mean 'imgsz'?" in err
    assert "Valid keys: model=..., source=..., layer=None, compare=None, imgsz=640" in err


def test_missing_key_and_bare_words(capsys):
    assert main(["heatmap", "model=yolov12n.yaml"]) == 2
    assert "'heatmap' needs source=..." in capsys.readouterr().err
    assert main(["heatmap", "yolov12n.yaml"]) == 2
    assert "'yolov12n.yaml' is not a key=value pair" in capsys.readouterr().err


def test_keys_become_typed_keyword_arguments(tiny, capsys):
    assert main(["tiny", "a=3", "b", "=", "1e-3", "--flag", "items=x,2,none", "name=", "'7'"]) == 0
    got = json.loads(capsys.readouterr().out)  # a dict result is printed as JSON
    assert got == {
        "a": 3,
        "b": 0.001,
        "flag": True,
        "items": ["x", 2, None],
        "name": "7",
        "types": ["int", "float", "list"],
    }
    assert main(["anything", "any-key=1", "other=a,b"]) == 0  # **kwargs: any key passes through
    assert json.loads(capsys.readouterr().out) == {"any_key": "1", "other": "['a', 'b']"}
    assert main(["reporter"]) == 0  # a function that reports itself (verbose=True) is not echoed as JSON
    assert capsys.readouterr().out == "reported by the function\n"
    assert main(["reporter", "verbose=false"]) == 0
    assert json.loads(capsys.readouterr().out) == {"value": 1}
    assert main(["tiny", "help"]) == 0
    lines = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert "a=... A number." in lines and "b=0.5 Another one, described on two lines." in lines


def test_failures_exit_non_zero_with_one_clear_line(tiny, capsys, monkeypatch):
    assert main(["fails", "path=x.jpg"]) == 1
    err = capsys.readouterr().err
    assert "fails failed: no such image: x.jpg" in err and "Traceback" not in err
    assert main(["gone"]) == 1
    assert "'gone' is not available in this installation: module ultra_yolov12._no_such_module" in (
        capsys.readouterr().err
    )
    assert main(["needs-dep"]) == 1
    err = capsys.readouterr().err
    assert "needs the Python package 'a_package_that_is_not_installed_xyz'" in err
    assert "pip install 'ultra-yolov12[demo]'" in err
    with pytest.raises(ZeroDivisionError):  # a bug is not dressed up as a user error
        main(["bug"])
    monkeypatch.setenv("ULTRA_YOLOV12_DEBUG", "1")
    with pytest.raises(FileNotFoundError):
        main(["fails"])


def test_heatmap_in_process(tmp_path, bus_jpg):
    small = tmp_path / "bus.jpg"
    img = cv2.imread(str(bus_jpg))
    cv2.imwrite(str(small), cv2.resize(img, (img.shape[1] // 4, img.shape[0] // 4)))
    args = ["heatmap", "model=yolov12n.yaml", f"source={small}", "imgsz=160", f"project={tmp_path / 'runs'}"]
    assert main([*args, "layer=model.6", "compare=yolo11n.yaml"]) == 0
    png = cv2.imread(str(tmp_path / "runs" / "exp" / "bus.png"))
    assert png.shape[1] == 3 * (img.shape[1] // 4) + 2 * 8
    assert main([*args, "layer=model.99"]) == 1


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_resolves_to_a_function(name):
    module_name, _, attr = COMMANDS[name].target.partition(":")
    fn = getattr(importlib.import_module(module_name), attr)
    assert callable(fn)
    cli._parameters(fn)  # its keys can be read


def test_console_script_and_python_m(tmp_path, bus_jpg):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-m", "ultra_yolov12", "help"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "Usage: ultra-yolov12 COMMAND key=value" in r.stdout
    r = subprocess.run([sys.executable, "-m", "ultra_yolov12", "nope"], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "Valid commands:" in r.stderr
    small = tmp_path / "bus.jpg"
    img = cv2.imread(str(bus_jpg))
    cv2.imwrite(str(small), cv2.resize(img, (img.shape[1] // 4, img.shape[0] // 4)))
    script = Path(sys.executable).with_name("ultra-yolov12")
    if not script.is_file():
        pytest.skip(f"no console script next to {sys.executable}: the package is not pip-installed here")
    r = subprocess.run(
        [str(script), "heatmap", "model=yolov12n.yaml", f"source={small}", "imgsz=160", f"project={tmp_path}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert f"saved to {tmp_path.resolve() / 'exp'}" in r.stdout  # the run directory is printed
    assert (tmp_path / "exp" / "bus.png").is_file()


def test_checks_and_convert_are_wired(tmp_path, capsys):
    """The commands of the other modules, end to end."""
    assert main(["checks", "verbose=false"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["versions"]["ultra-yolov12"] and "flash_attn" in report

    from ultra_yolov12.heatmap import build_yolo

    ckpt = tmp_path / "v12.pt"
    torch.save({"model": copy.deepcopy(build_yolo("yolov12n.yaml").model).half(), "train_args": {}}, ckpt)
    assert main(["convert", f"source={ckpt}", "to=ultralytics"]) == 0
    assert (tmp_path / "v12-ultralytics.pt").is_file()
    assert main(["convert", f"source={ckpt}", "to=ultralitics"]) == 1
    assert "unknown target layout" in capsys.readouterr().err


def test_recipe_coco_eval_and_benchmark_are_wired(tmp_path, capsys, coco8_yaml):
    from ultralytics.cfg import parse_key_value_pair

    import ultra_yolov12

    assert main(["recipe", "scale=s"]) == 0  # text for $(ultra-yolov12 recipe scale=s) after yolo train
    args = dict(parse_key_value_pair(kv) for kv in capsys.readouterr().out.split())
    assert args == ultra_yolov12.recipe("s")

    coco = ["coco-eval", "model=yolov12n.yaml", f"data={coco8_yaml}", "imgsz=64", f"project={tmp_path}"]
    assert main([*coco, "verbose=false"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert len(metrics) == 12 and all(-1 <= v <= 1 for v in metrics.values())
    assert json.loads((tmp_path / "coco_eval" / "metrics.json").read_text())["AP"] == metrics["AP"]

    from ultralytics.nn.modules import block

    bench = ["benchmark", "quick=true", "imgsz=64", "onnx=false", f"out={tmp_path / 'bench'}", "verbose=false"]
    if not hasattr(block, "A2C2f"):  # the comparison needs Ultralytics' own YOLO12 (>= 8.3.78)
        assert main(bench) == 1
        assert "needs Ultralytics' built-in YOLO12" in capsys.readouterr().err
        return
    assert main(bench) == 0
    report = json.loads(capsys.readouterr().out)
    names = [r["name"] for r in report["rows"]]
    assert names[:2] == ["CPU inference n batch 1", "CPU inference n batch 8"] and len(names) == 6
    assert names[2] == "predict() n, 10 real images"  # bus.jpg, zidane.jpg and the 8 coco8 images
    assert all(r["cmp"]["ratio"] > 0 and r["cmp"]["builtin"] > 0 for r in report["rows"])
    assert all(r["max_rel_diff"] < 1e-4 for r in report["rows"] if "max_rel_diff" in r)  # same weights, same outputs
    text = (tmp_path / "bench" / "results-quick.md").read_text()
    assert "| CPU inference n batch 8 |" in text and "input 64x64" in text and "Targets missed:" in text
    png = cv2.imread(str(tmp_path / "bench" / "results-quick.png"))
    assert png is not None and png.shape[0] > 200
