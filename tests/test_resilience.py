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
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from casebook import record
from ultralytics import YOLO
from ultralytics.utils import SETTINGS

from ultra_yolov12 import weights
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
    YOLO("yolov12n.yaml").save(path)
    return path


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
           files_left=0, code_ran=False)  # fmt: skip
    mirror.mode = "good"  # the server is fixed: the same call now downloads, and the file loads and predicts
    model = YOLO(NAME)
    assert (weights_dir / NAME).read_bytes() == checkpoint.read_bytes()
    assert _files(weights_dir) == [NAME]
    ref = YOLO(str(checkpoint))
    for (k, a), (_, b) in zip(model.model.state_dict().items(), ref.model.state_dict().items()):
        assert torch.equal(a, b), k
    record("Downloads", f"retry after {mode}, server fixed", "python", "ok", f"downloaded {NAME}, loads", files_left=0)


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
           files_left=0)  # fmt: skip


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
           files_left=0)  # fmt: skip
