"""The web demo: its engine in-process, then the real page in headless Chromium (upload bus.jpg, read the results)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from ultra_yolov12.demo import COLUMNS, SHIPPED, DemoEngine, default_models
from ultra_yolov12.heatmap import activation_map, overlay

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = (
    "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking "
    "--disable-component-update --disable-sync --disable-dev-shm-usage --window-size=1400,1000"
).split()


@pytest.fixture(scope="module")
def engine():
    return DemoEngine(imgsz=320, device="cpu", max_det=5)


def test_engine_detections_heatmap_and_table(engine, bus_jpg):
    bgr = cv2.imread(str(bus_jpg))
    rgb = bgr[..., ::-1].copy()
    boxes, heat, rows, summary = engine.run(rgb, "yolov12n.yaml", conf=0.0)
    assert boxes.shape == heat.shape == rgb.shape
    assert len(rows) == 5 and all(len(r) == len(COLUMNS) for r in rows)  # max_det=5 at conf 0
    h, w = rgb.shape[:2]
    for i, (n, cls, conf, x1, y1, x2, y2) in enumerate(rows, 1):
        assert n == i and isinstance(cls, str) and 0 <= conf <= 1
        assert 0 <= x1 <= x2 <= w and 0 <= y1 <= y2 <= h
    assert not np.array_equal(boxes, rgb)  # boxes drawn
    expected = overlay(bgr, activation_map("yolov12n.yaml", bgr, None, imgsz=320))[..., ::-1]
    np.testing.assert_array_equal(heat, expected)  # the heat map panel is the library's heat map
    assert summary.startswith("**5 detections**") and "`model.6` (A2C2f)" in summary

    boxes, _, rows, summary = engine.run(rgb, "yolov12n.yaml", conf=0.99, layer="stage2")
    assert rows == [] and summary.startswith("**0 detections**") and "`model.4`" in summary
    np.testing.assert_array_equal(boxes, rgb)  # nothing drawn
    with pytest.raises(ValueError, match="upload an image first"):
        engine.run(None, "yolov12n.yaml")
    with pytest.raises(ValueError, match="is not a layer of yolov12n"):
        engine.run(rgb, "yolov12n.yaml", layer="nope")


def test_default_models_offer_local_checkpoints_first(tmp_path, monkeypatch):
    for name in ("b.pt", "a.pt", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert default_models() == ["a.pt", "b.pt", *SHIPPED]
    assert default_models(tmp_path / "nowhere") == list(SHIPPED)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``python -m ultra_yolov12 demo`` on a free localhost port; YAML model, conf 0 so that boxes are listed."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium and chromedriver are not installed (apt-get install -y chromium chromium-driver)")
    work = tmp_path_factory.mktemp("demo")
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "GRADIO_TEMP_DIR": str(work / "gradio"),
    }
    cmd = [sys.executable, "-m", "ultra_yolov12", "demo", "models=yolov12n.yaml", "conf=0", "max_det=5"]
    cmd += ["imgsz=320", "device=cpu", f"port={port}"]
    log = open(work / "demo.log", "w")
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the demo exited with {proc.returncode}:\n{(work / 'demo.log').read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                pytest.fail(f"the demo did not answer on {url} in 120 s:\n{(work / 'demo.log').read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.slow
def test_browser_upload_shows_detections_heatmap_and_list(server, bus_jpg):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in FLAGS:
        opts.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    opts.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        driver.get(server)
        wait = WebDriverWait(driver, 90, poll_frequency=0.5)
        upload = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#input-image input[type=file]"))
        assert "ultra-yolov12" in driver.title
        upload[0].send_keys(str(bus_jpg))  # uploading runs detection

        def results(d):
            srcs = [e.get_attribute("src") for e in d.find_elements(By.CSS_SELECTOR, "#result-image img")]
            heat = [e.get_attribute("src") for e in d.find_elements(By.CSS_SELECTOR, "#heatmap-image img")]
            text = d.find_element(By.ID, "summary").get_attribute("innerText")
            return (srcs[0], heat[0], text) if srcs and heat and "detection" in text else None

        src, heat_src, summary = wait.until(results)
        assert "5 detections" in summary and "model.6" in summary
        h, w = cv2.imread(str(bus_jpg)).shape[:2]
        for url in (src, heat_src):  # both images are served and have the upload's size
            with urllib.request.urlopen(url, timeout=10) as r:
                img = cv2.imdecode(np.frombuffer(r.read(), np.uint8), cv2.IMREAD_COLOR)
            assert img is not None and img.shape[:2] == (h, w)
        assert src != heat_src

        # The detection list: the table's text holds the header, then 5 rows of 7 cells. (Gradio renders the table
        # virtually, so its cells are read through innerText rather than per-element .text.)
        table = driver.find_element(By.ID, "detections")

        def cells(d):
            words = table.get_attribute("innerText").split()
            starts = [i for i in range(len(words)) if words[i : i + len(COLUMNS)] == COLUMNS]
            return words[starts[-1] + len(COLUMNS) :] if starts and len(words) > starts[-1] + len(COLUMNS) else None

        cells = wait.until(cells)
        assert len(cells) == 5 * len(COLUMNS), table.get_attribute("innerText")
        for i in range(5):
            n, cls, conf, x1, y1, x2, y2 = cells[i * 7 : i * 7 + 7]
            assert int(n) == i + 1 and 0 <= float(conf) <= 1
            assert 0 <= int(x1) <= int(x2) <= w and 0 <= int(y1) <= int(y2) <= h
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
