"""Every process Ultralytics starts gets the plugin: fresh interpreters, the `yolo` CLI, the generated DDP script."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

YOLO_CLI = str(Path(sys.executable).with_name("yolo"))


def run(code: str, cwd=None, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **env},
        timeout=300,
    )


def test_importing_ultralytics_registers_the_plugin(tmp_path):
    r = run(
        """
        import sys
        assert "ultra_yolov12" not in sys.modules
        import ultralytics
        from ultralytics.nn import tasks
        print("ultra_yolov12" in sys.modules, hasattr(tasks.parse_model, "__wrapped__"))
        """,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "True"]


def test_startup_imports_nothing_heavy_until_ultralytics_is_imported(tmp_path):
    r = run("import sys; print(sorted(m for m in ('torch', 'ultralytics', 'ultra_yolov12') if m in sys.modules))")
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stderr


def test_switched_off_by_environment_variable(tmp_path):
    r = run("import sys, ultralytics; print('ultra_yolov12' in sys.modules)", cwd=tmp_path, ULTRA_YOLOV12_AUTOLOAD="0")
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr


def test_unsupported_ultralytics_is_logged_not_raised(tmp_path):
    fake = tmp_path / "fake" / "ultralytics"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("__version__ = '8.2.0'\n")
    r = run(
        "import ultralytics; print('host still runs', ultralytics.__version__)",
        cwd=tmp_path,
        PYTHONPATH=str(fake.parent),
    )
    assert r.returncode == 0, r.stderr
    assert "host still runs 8.2.0" in r.stdout
    assert "ultra-yolov12 was not registered" in r.stderr and "ultralytics>=8.3.0,<8.5.0" in r.stderr


def test_yolo_cli_builds_yolov12_from_any_directory(tmp_path, bus_jpg):
    r = subprocess.run(
        [
            YOLO_CLI,
            "predict",
            "model=yolov12n-turbo.yaml",
            f"source={bus_jpg}",
            "imgsz=160",
            "conf=0.0001",
            "save_txt=True",
            f"project={tmp_path}",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    labels = list(tmp_path.rglob("labels/bus.txt"))
    assert len(labels) == 1 and len(labels[0].read_text().splitlines()) > 0


def test_generated_ddp_script_builds_yolov12_in_a_fresh_interpreter(tmp_path, coco8_yaml):
    """Ultralytics writes a script for `torch.distributed.run`; its model-building part must find YOLOv12."""
    from ultralytics.models.yolo.detect import DetectionTrainer
    from ultralytics.utils.dist import generate_ddp_file

    trainer = DetectionTrainer(
        overrides=dict(model="yolov12n.yaml", data=str(coco8_yaml), imgsz=64, project=str(tmp_path), device="cpu")
    )
    path = Path(generate_ddp_file(trainer))
    try:
        script = path.read_text()
        # Keep everything Ultralytics generated up to training; build the model instead of training it.
        script, count = re.subn(
            r"(\s*)(results = )?trainer\.train\(\)",
            r"\1trainer.setup_model()\1print('PARAMS', sum(p.numel() for p in trainer.model.parameters()), "
            r"type(trainer.model.model[6]).__module__)",
            script,
        )
        assert count == 1
        path.write_text(script)
        r = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    finally:
        path.unlink(missing_ok=True)
        path.with_suffix(".pt").unlink(missing_ok=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PARAMS 2603056 ultra_yolov12.nn.block" in r.stdout


@pytest.mark.slow
def test_yolo_cli_train(tmp_path, coco8_yaml):
    cmd = [YOLO_CLI, "train", "model=yolov12n.yaml", f"data={coco8_yaml}", "epochs=1", "imgsz=64", "batch=4"]
    cmd += ["workers=0", "plots=False", f"project={tmp_path}", "name=cli"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    run_dir = tmp_path / "cli"
    assert (run_dir / "weights" / "last.pt").is_file() and (run_dir / "results.csv").is_file()
    assert "2,603,056 parameters" in r.stdout + r.stderr
