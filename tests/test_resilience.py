"""Interrupted and concurrent work loses nothing: downloads from a misbehaving server, races, kill -9, Ctrl-C.

A local HTTP server (127.0.0.1, port 0, in a thread) plays the weights mirror (``ULTRA_YOLOV12_WEIGHTS_URL``) and
serves a real yolov12n checkpoint saved by Ultralytics' ``YOLO.save``: cut short, stalled and then dropped, with a
Content-Length shorter than the file, as 300 kB of garbage, and with a pickle that would run code. Each case must end
in one ``WeightsDownloadError`` and leave the weights directory empty; once the server is fixed, the same call
downloads the file and ``YOLO("yolov12n.pt")`` loads it.

Ultralytics' downloader gives up on a stalled connection only after its own read timeout (8.4.x: requests with
``timeout=(30, 300)``; 8.3.0: ``torch.hub.download_url_to_file`` without any), so the stalled server here pauses
mid-body and then drops the connection, which is what a dead mirror does in the end.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from _foreign import ultralytics_save
from casebook import record
from ultralytics import YOLO
from ultralytics.utils import SETTINGS

from ultra_yolov12 import weights
from ultra_yolov12._ultralytics import has_builtin_yolo12
from ultra_yolov12.weights import WeightsDownloadError

ROOT = Path(__file__).resolve().parents[1]
NAME = "yolov12n.pt"


def _env(**extra) -> dict:
    """Environment for a subprocess: this checkout's package, offline, no settings of the user."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.update(YOLO_OFFLINE="true", **extra)
    return env


class Mirror(http.server.ThreadingHTTPServer):
    """Serves ``/v1.0/yolov12n.pt`` as ``mode`` says; counts requests."""

    daemon_threads = True

    def __init__(self, good: bytes, evil: bytes):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.good, self.evil, self.mode, self.requests = good, evil, "good", 0
        self.chunk_delay = 0.0  # seconds between 256 kB chunks: lets two clients overlap

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):
        s: Mirror = self.server
        s.requests += 1
        if self.path != "/v1.0/yolov12n.pt":
            self.send_error(404)
            return
        body, length, cut, stall = s.good, None, None, 0.0
        if s.mode == "truncated":  # the server has only 60% of the file, and says so
            body = body[: len(body) * 6 // 10]
        elif s.mode == "stalled":  # announces the whole file, sends 40%, stalls, drops the connection
            cut, stall = len(body) * 4 // 10, 1.0
        elif s.mode == "short-length":  # a Content-Length 4096 bytes short of the file
            length = len(body) - 4096
        elif s.mode == "garbage":  # the reported bug: 300 kB that are no checkpoint
            body = bytes((i * 7919 + 13) % 251 for i in range(300_000))
        elif s.mode == "evil":
            body = s.evil
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length if length is not None else len(body)))
        self.end_headers()
        sent = body[:cut] if cut is not None else body[:length] if length is not None else body
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for i in range(0, len(sent), 1 << 18):
                self.wfile.write(sent[i : i + (1 << 18)])
                self.wfile.flush()
                if s.chunk_delay:
                    time.sleep(s.chunk_delay)
            if stall:
                time.sleep(stall)
        self.close_connection = True


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A real yolov12n checkpoint (COCO's 80 classes), written by Ultralytics' own ``YOLO.save``."""
    path = tmp_path_factory.mktemp("ckpt") / NAME
    return ultralytics_save(YOLO("yolov12n.yaml"), path)


class _Evil:
    """Unpickling this calls ``exec``, which writes a marker file: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",)


def evil_checkpoint(good: Path, target: Path, marker: Path) -> Path:
    """``good``'s checkpoint dict with one more entry whose unpickling runs code."""
    ckpt = torch.load(good, map_location="cpu", weights_only=False)
    ckpt["train_results"] = _Evil(marker)
    torch.save(ckpt, target)
    return target


@pytest.fixture(scope="module")
def mirror(checkpoint, tmp_path_factory):
    marker = tmp_path_factory.mktemp("marker") / "code-ran.txt"
    evil = evil_checkpoint(checkpoint, marker.with_name("evil.pt"), marker).read_bytes()
    server = Mirror(checkpoint.read_bytes(), evil)
    server.marker = marker
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def weights_dir(tmp_path, monkeypatch, mirror):
    """Ultralytics' weights directory in a fresh folder, names resolving to the local mirror."""
    folder = tmp_path / "weights"
    old = SETTINGS["weights_dir"]
    dict.__setitem__(SETTINGS, "weights_dir", str(folder))  # in memory only: the settings file stays as it is
    monkeypatch.setenv(weights.URL_ENV, mirror.url)
    monkeypatch.chdir(tmp_path)  # no yolov12n.pt in the working directory
    yield folder
    dict.__setitem__(SETTINGS, "weights_dir", old)
    mirror.mode = "good"


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


@pytest.mark.parametrize("mode", ["truncated", "stalled", "short-length", "garbage", "evil"])
def test_bad_download_leaves_nothing_and_a_retry_succeeds(mode, mirror, weights_dir, checkpoint):
    mirror.mode = mode
    t0 = time.perf_counter()
    with pytest.raises(WeightsDownloadError) as e:
        YOLO(NAME)
    seconds = time.perf_counter() - t0
    msg = str(e.value)
    assert f"{mirror.url}/v1.0/{NAME}" in msg and "Nothing was saved" in msg, msg
    assert "UnicodeDecodeError" not in msg
    assert _files(weights_dir) == [], _files(weights_dir)  # no file under the name, no temporary file
    assert not mirror.marker.exists()  # the hostile pickle was refused before anything in it ran
    if mode == "evil":
        assert "would run code" in msg and "builtins.exec" in msg, msg
    assert seconds < 15
    record("Downloads", f"mirror serves {NAME} {mode}", "python", type(e.value).__name__, msg,
           files_left=0, code_ran=False, clear=True)  # fmt: skip
    mirror.mode = "good"  # the server is fixed: the same call now downloads, and the file loads and predicts
    model = YOLO(NAME)
    assert (weights_dir / NAME).read_bytes() == checkpoint.read_bytes()
    assert _files(weights_dir) == [NAME]
    ref = YOLO(str(checkpoint))
    for (k, a), (_, b) in zip(model.model.state_dict().items(), ref.model.state_dict().items()):
        assert torch.equal(a, b), k
    record("Downloads", f"retry after {mode}, server fixed", "python", "ok", f"downloaded {NAME}, loads", files_left=0)


def test_a_broken_cached_weight_is_downloaded_again(mirror, weights_dir, checkpoint):
    weights_dir.mkdir()
    garbage = bytes((i * 31 + 7) % 256 for i in range(300_000))
    (weights_dir / NAME).write_bytes(garbage)  # what older releases left behind after a bad mirror answer
    model = YOLO(NAME)
    assert (weights_dir / NAME).read_bytes() == checkpoint.read_bytes() and _files(weights_dir) == [NAME]
    assert model.task == "detect"
    record("Downloads", f"a broken {NAME} already in the weights directory", "python", "ok",
           "removed and downloaded again", files_left=0)  # fmt: skip


def _python(code: str, **env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], env=_env(**env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip


def test_two_processes_download_the_same_weight(mirror, tmp_path, checkpoint):
    target = tmp_path / "w" / NAME
    mirror.mode, mirror.chunk_delay = "good", 0.1  # about 2 s per download: the two overlap
    before = mirror.requests
    try:
        code = f"from ultra_yolov12 import weights; print(weights.download({str(target)!r}, progress=False))"
        procs = [_python(code, **{weights.URL_ENV: mirror.url}) for _ in range(2)]
        outs = [p.communicate(timeout=120)[0] for p in procs]
    finally:
        mirror.chunk_delay = 0.0
    assert [p.returncode for p in procs] == [0, 0], outs
    assert target.read_bytes() == checkpoint.read_bytes()
    assert _files(target.parent) == [NAME]  # both temporary files renamed or removed
    assert mirror.requests - before >= 1
    record("Concurrent work", "two processes download the same weight", "python", "ok", "both: complete file",
           files_left=0, clear=True)  # fmt: skip


def test_two_processes_convert_to_the_same_target(tmp_path, checkpoint):
    import ultra_yolov12

    reference = ultra_yolov12.convert(checkpoint, tmp_path / "reference.pt", to="ultralytics")
    target = tmp_path / "out" / "converted.pt"
    code = f"import ultra_yolov12; ultra_yolov12.convert({str(checkpoint)!r}, {str(target)!r}, to='ultralytics')"
    procs = [_python(code) for _ in range(2)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert _files(target.parent) == ["converted.pt"]
    a, b = YOLO(str(target)).model.state_dict(), YOLO(str(reference)).model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    record("Concurrent work", "two processes convert to the same target", "python", "ok", "both: complete file",
           files_left=0, clear=True)  # fmt: skip


# --- kill -9 and resume -----------------------------------------------------------------------------------------------

TRAIN = """
import os, signal, sys
import ultra_yolov12
from ultralytics import YOLO

def kill_mid_epoch_2(trainer):  # SIGKILL: no handler, no cleanup, exactly what `kill -9` does
    if trainer.epoch == 1:
        last = trainer.wdir / "last.pt"
        assert last.is_file(), "last.pt of epoch 1 should exist by now"
        print("KILLING", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

model = YOLO("yolov12n.yaml")
model.add_callback("on_train_batch_end", kill_mid_epoch_2)
model.train(data=sys.argv[1], epochs=3, imgsz=64, batch=2, workers=0, device="cpu", project=sys.argv[2], name="run",
            plots=False, amp=False, val=True, exist_ok=True, verbose=False)
"""
# the `yolo` command line, as its console script runs it
YOLO_CLI = "import sys; from ultralytics.cfg import entrypoint; sys.argv[0] = 'yolo'; entrypoint()"


@pytest.mark.slow
def test_kill_9_mid_epoch_then_resume_completes(tmp_path, coco8_yaml, bus_jpg):
    project = tmp_path / "runs"
    r = subprocess.run([sys.executable, "-c", TRAIN, str(coco8_yaml), str(project)], env=_env(), cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    wdir = project / "run" / "weights"
    last = wdir / "last.pt"
    assert torch.load(last, map_location="cpu", weights_only=False)["epoch"] == 0  # epoch 1 complete, 2 interrupted
    r = subprocess.run([sys.executable, "-c", YOLO_CLI, "train", "resume=True", f"model={last}"], env=_env(),
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    assert "Resuming training" in r.stdout + r.stderr
    rows = (project / "run" / "results.csv").read_text().strip().splitlines()[1:]
    assert [int(float(row.split(",")[0])) for row in rows] == [1, 2, 3]  # every epoch once, none lost or repeated
    for name in ("last.pt", "best.pt"):
        ckpt = torch.load(wdir / name, map_location="cpu", weights_only=False)
        assert ckpt["optimizer"] is None  # the finished run stripped it: training is over
        result = YOLO(str(wdir / name)).predict(bus_jpg, imgsz=64, verbose=False)[0]
        assert result.orig_shape == (1080, 810)
    record("Interrupted work", "kill -9 of yolo train mid-epoch 2, then resume=True", "yolo", "ok",
           "all 3 epochs in results.csv; last.pt and best.pt load and predict", files_lost=0)  # fmt: skip


# --- Ctrl-C -----------------------------------------------------------------------------------------------------------


def _interrupt(args: list[str], cwd: Path, ready, timeout: float = 120) -> tuple[int, str, str]:
    """Run ``ultra-yolov12 ARGS``, send SIGINT once ``ready(output_so_far)`` is true, return (code, stdout, stderr)."""
    p = subprocess.Popen([sys.executable, "-m", "ultra_yolov12", *args], env=_env(), cwd=cwd, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    out: list[str] = []
    err: list[str] = []
    readers = [threading.Thread(target=lambda s=s, b=b: b.extend(iter(s.readline, "")), daemon=True)
               for s, b in ((p.stdout, out), (p.stderr, err))]  # fmt: skip
    for t in readers:
        t.start()
    deadline = time.monotonic() + timeout
    while not ready("".join(out + err)):
        assert p.poll() is None, f"finished before it could be interrupted: {''.join(out + err)[-2000:]}"
        assert time.monotonic() < deadline, "never got ready"
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    code = p.wait(timeout=60)
    for t in readers:
        t.join(timeout=10)
    return code, "".join(out), "".join(err)


def _check_interrupted(code: int, stdout: str, stderr: str) -> str:
    assert code == 130, (code, stdout[-1500:], stderr[-1500:])
    assert "Traceback" not in stdout + stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines[-1] == "ultra-yolov12: error: interrupted", lines
    return lines[-1]


def _hidden(folder: Path) -> list[str]:
    """Temporary files (atomic writes use hidden names) anywhere below ``folder``."""
    return [str(p) for p in folder.rglob(".*")]


def test_ctrl_c_during_heatmap_leaves_only_complete_pngs(tmp_path, bus_jpg):
    import cv2

    images = tmp_path / "images"
    images.mkdir()
    for i in range(60):
        (images / f"bus{i:02d}.jpg").symlink_to(bus_jpg)
    project = tmp_path / "maps"
    args = ["heatmap", "model=yolov12n.yaml", f"source={images}", "imgsz=64", f"project={project}", "name=run"]
    code, out, err = _interrupt(args, tmp_path, lambda _: any(project.rglob("*.png")))
    message = _check_interrupted(code, out, err)
    pngs = sorted(project.rglob("*.png"))
    assert 1 <= len(pngs) < 60 and not _hidden(tmp_path)
    for png in pngs:  # every file that is there is whole
        assert cv2.imread(str(png)).shape == (1080, 810, 3), png
    record("Interrupted work", "Ctrl-C during ultra-yolov12 heatmap", "ultra-yolov12", f"exit {code}", message,
           files_left_partial=0, clear=True)  # fmt: skip


def test_ctrl_c_during_coco_eval_leaves_no_run_dir(tmp_path, coco8_yaml):
    root = coco8_yaml.parent / "coco8"
    big = tmp_path / "big"
    for kind in ("images", "labels"):
        (big / kind / "val").mkdir(parents=True)
    for i in range(100):  # 400 images: seconds of work to interrupt
        for img in sorted((root / "images" / "val").iterdir()):
            (big / "images" / "val" / f"{i:03d}_{img.name}").symlink_to(img)
            label = root / "labels" / "val" / f"{img.stem}.txt"
            if label.exists():
                (big / "labels" / "val" / f"{i:03d}_{img.stem}.txt").symlink_to(label)
    data = tmp_path / "big.yaml"
    data.write_text(
        coco8_yaml.read_text().replace(str(root), str(big)).replace("train: images/train", "train: images/val")
    )
    project = tmp_path / "eval"
    args = ["coco-eval", "model=yolov12n.yaml", f"data={data}", "imgsz=64", "batch=8", f"project={project}"]
    code, out, err = _interrupt(args, tmp_path, lambda text: "predicting 400 val images" in text)
    message = _check_interrupted(code, out, err)
    assert not project.exists() or not any(project.rglob("*")), sorted(project.rglob("*"))
    assert not _hidden(tmp_path)
    record("Interrupted work", "Ctrl-C during ultra-yolov12 coco-eval", "ultra-yolov12", f"exit {code}", message,
           files_left=0, clear=True)  # fmt: skip


@pytest.mark.skipif(not has_builtin_yolo12(), reason="the benchmark compares with Ultralytics' YOLO12 (>= 8.3.78)")
def test_ctrl_c_during_benchmark_writes_nothing(tmp_path):
    out_dir = tmp_path / "bench"
    args = ["benchmark", "scales=n,s", "imgsz=64", "train=false", "onnx=false", f"out={out_dir}"]
    code, out, err = _interrupt(args, tmp_path, lambda text: "results go to" in text)
    message = _check_interrupted(code, out, err)
    assert not out_dir.exists() or not any(out_dir.iterdir())
    assert not _hidden(tmp_path)
    record("Interrupted work", "Ctrl-C during ultra-yolov12 benchmark", "ultra-yolov12", f"exit {code}", message,
           files_left=0, clear=True)  # fmt: skip
