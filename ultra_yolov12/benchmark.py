"""ultra-yolov12 against Ultralytics' built-in YOLO12 with the same weights, side by side: one table and one chart.

``ultra-yolov12 benchmark`` (or ``python benchmarks/run.py`` in a source checkout, which writes to
``docs/benchmarks/``) runs :func:`run`. Ratios are plugin / built-in (below 1 is better), with the spread of the
per-round ratios.

Default mode (``mode=subprocess``), as users run one model per process: both sides are saved once as ``.pt`` files
(``yolo12<s>`` and ``yolov12<s>``, same weights) and every row runs each side in a fresh process that loads its file
with ``YOLO(path)``; the sides alternate A B A B for 5 rounds (2 with ``quick``). A fresh process is forked from a
server that has imported torch and Ultralytics and run nothing else, so no allocator, cache or thread-pool state
passes between the sides (the built-in side's process also switches the plugin's checkpoint hook off, so its file
loads as Ultralytics' own classes; each worker checks which A2C2f it runs). Inside a process warm-up calls are
discarded and the median of the timed calls is that round's figure; the row reports the median over rounds. Outputs
of the first round are compared between sides. Rows:

- CPU inference: ``model.fuse()``, eval, ``torch.inference_mode()``, fp32, 640x640 random input, batch 1 and 8,
  network forward only.
- ``predict()``: end to end (loading, letterbox, forward, NMS) on a folder of real images: bus.jpg and zidane.jpg
  from Ultralytics, plus the 8 coco8 images of a source checkout; compared: the boxes.
- Training step: forward + ``model.loss`` + backward at batch 8, 640, fp32, after one warm-up step; the process's
  peak resident memory (``VmHWM``, interpreter and torch included, the same on both sides) and its growth during
  the steps.
- ONNX Runtime and OpenVINO: each side exported once by Ultralytics (in its own process, batch 1, 640), then run by
  the runtime (same thread count). Needs onnxruntime / openvino (extra ``export``), else skipped.
- torch.compile (``compile=true``, off by default since every process compiles anew: minutes on 2 cores):
  ``predict(compile=True)`` on bus.jpg where Ultralytics has ``compile=`` (8.4.x; 8.3.0 has none, there the model is
  wrapped in ``torch.compile`` directly).

``mode=inprocess``: both sides in this process, interleaved call by call (A B A B) after warm-up. CPU inference and
training time as above; training memory in fresh subprocesses; ONNX Runtime with yolo11n for reference. In-process
figures favour whichever side finds memory warm and are not what the README quotes.

GPU rows, only when CUDA is available (both modes, in this process): fp16 inference at batch 1 and 8, and the training
step at batch 16 under fp16 autocast for scales s and x: time, and peak memory (``torch.cuda.max_memory_allocated``
in a fresh subprocess per side).

Weights: Ultralytics' ``yolo12<scale>.yaml`` is built and given deterministic, non-degenerate weights; the same state
dict is loaded into the plugin's ``yolov12<scale>.yaml`` after dropping its position-perceiver conv bias (Ultralytics'
YOLO12 has none), so both sides carry identical parameters.
"""

from __future__ import annotations

import gc
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import torch

from .checks import environment
from .files import atomic_path, write_atomic
from .nn import AAttn

__all__ = ["TARGETS", "compare", "interleaved", "lively", "machine_info", "model_pair", "run"]

IMGSZ = 640
TARGETS = {  # row kind -> (largest plugin/built-in ratio that meets the target, how the issue states it)
    "cpu_b1": (0.90, "<= 0.90"),
    "cpu_b8": (0.80, "<= 0.80"),
    "train_time": (0.75, "<= 0.75"),
    "train_rss": (0.90, "<= 0.90"),
    "onnx": (1.00, "<= 1.0"),
    "gpu_train_mem_x": (0.70, "<= 0.7 (x, batch 16)"),
}
TIMERS = {"wall": time.perf_counter, "cpu": time.process_time}
GROUPS = ("inference", "predict", "train", "onnx", "compile", "gpu")  # row groups that ``only=`` selects


def _log(msg: str) -> None:
    from ultralytics.utils import LOGGER, colorstr

    LOGGER.info(f"{colorstr('ultra-yolov12 benchmark:')} {msg}")


# --- models and timing ----------------------------------------------------------------------------------------------


def lively(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give ``model`` deterministic, non-degenerate weights (unit-gain convs, random BatchNorm statistics).

    Freshly initialised YOLO12 weights shrink activations towards zero, so both sides would print the same detection
    biases whatever their attention computes; with these weights the output comparison means something. Timing is
    unaffected: no op depends on the values and activations stay far from denormal numbers.
    """
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.weight.data.copy_(torch.randn(m.weight.shape, generator=g) / math.sqrt(m.weight[0].numel()))
            if m.bias is not None:
                m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
        elif isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model


def plugin_with_weights(scale: str, state_dict: dict):
    """The plugin's ``yolov12<scale>.yaml`` in Ultralytics' AAttn layout (no pe conv bias) carrying ``state_dict``."""
    from ultralytics import YOLO

    plugin = YOLO(f"yolov12{scale}.yaml")
    for m in plugin.model.modules():
        if isinstance(m, AAttn):  # Ultralytics' YOLO12 has no position-perceiver bias: drop ours, as its weights do
            m.pe.conv.register_parameter("bias", None)
            m.layout = "ultralytics"
    plugin.model.load_state_dict(state_dict, strict=True)
    return plugin


def model_pair(scale: str, seed: int = 0) -> tuple:
    """``(builtin, plugin)``: Ultralytics' ``YOLO("yolo12<scale>.yaml")`` and the plugin's, with the same weights."""
    import ultralytics
    from ultralytics import YOLO

    from ._ultralytics import has_builtin_yolo12

    if not has_builtin_yolo12():
        raise RuntimeError(
            f"the side-by-side benchmark needs Ultralytics' built-in YOLO12 (ultralytics>=8.3.78); "
            f"ultralytics {ultralytics.__version__} is installed: pip install -U 'ultralytics>=8.3.78'"
        )
    torch.manual_seed(seed)
    builtin = YOLO(f"yolo12{scale}.yaml")
    lively(builtin.model, seed)
    plugin = plugin_with_weights(scale, builtin.model.state_dict())
    counts = [sum(p.numel() for p in y.model.parameters()) for y in (builtin, plugin)]
    if counts[0] != counts[1]:
        raise RuntimeError(f"yolo12{scale} has {counts[0]:,} parameters but the plugin's model {counts[1]:,}")
    return builtin, plugin


def interleaved(fns: dict[str, Callable[[], object]], reps: int, warmup: int = 1, timer=time.perf_counter) -> dict:
    """Call ``fns`` round-robin (A B A B ...): ``warmup`` untimed rounds, then ``reps`` timed; seconds per call."""
    for _ in range(warmup):
        for f in fns.values():
            f()
    times = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            t = timer()
            f()
            times[k].append(timer() - t)
    return times


def compare(a: list[float], b: list[float]) -> dict:
    """Medians of ``a`` (built-in) and ``b`` (plugin), their ratio, and the spread of the per-round ratios ``b/a``."""
    ratios = sorted(y / x for x, y in zip(a, b) if x > 0) or [math.nan]
    q = statistics.quantiles(ratios, n=4) if len(ratios) >= 4 else [ratios[0], ratios[-1]]
    return {
        "builtin": statistics.median(a),
        "plugin": statistics.median(b),
        "ratio": statistics.median(b) / statistics.median(a) if statistics.median(a) > 0 else math.nan,
        "pair_ratio_iqr": [q[0], q[-1]],
        "pair_ratio_range": [ratios[0], ratios[-1]],
        "n": len(ratios),
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB.

    Linux: ``VmHWM`` of ``/proc/self/status`` (the high-water mark of this process's own memory; ``ru_maxrss`` would
    carry over the parent's peak through fork + exec). Elsewhere ``ru_maxrss``, or psutil's peak working set on Windows.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere
    except ImportError:
        import psutil

        info = psutil.Process().memory_info()
        return getattr(info, "peak_wset", info.rss) / 2**20


def machine_info(threads: int) -> dict:
    """Date, CPU, cores, threads, OS, GPUs, versions and load average, for the report's header."""
    env = environment()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": env["device"]["cpu"],
        "cores": env["device"]["cpu_count"],
        "threads": threads,
        "os": env["device"]["os"],
        "cuda": env["device"]["cuda"],
        "versions": env["versions"],
        "loadavg_start": load,
    }


def machine_lines(info: dict) -> list[str]:
    """Markdown bullet lines describing the machine of ``info``."""
    v = info["versions"]
    keys = ("python", "torch", "ultralytics", "ultra-yolov12", "onnxruntime", "numpy")
    lines = [
        f"- Date: {info['date']}",
        f"- CPU: {info['cpu']}, {info['cores']} logical cores, torch threads {info['threads']}",
        f"- GPU: {'; '.join(info['cuda'])}",
        f"- OS: {info['os']}",
        "- Versions: " + ", ".join(f"{k} {v.get(k, '?')}" for k in keys),
    ]
    if info.get("loadavg_start") is not None:
        end = info.get("loadavg_end")
        lines.append(
            f"- Load average (1/5/15 min) at start {'/'.join(f'{x:.2f}' for x in info['loadavg_start'])}"
            + (f", at end {'/'.join(f'{x:.2f}' for x in end)}" if end else "")
            + " (on 2 cores anything above ~0 means other processes shared the CPU)"
        )
    return lines


# --- rows -----------------------------------------------------------------------------------------------------------


def cpu_inference(scale: str, batch: int, reps: int, timer, imgsz: int = IMGSZ) -> dict:
    builtin, plugin = model_pair(scale)
    a, b = builtin.model.fuse(verbose=False).eval(), plugin.model.fuse(verbose=False).eval()
    x = torch.rand(batch, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ya, yb = a(x)[0], b(x)[0]
        diff = ((ya - yb).abs().max() / ya.abs().max()).item()
        t = interleaved({"builtin": lambda: a(x), "plugin": lambda: b(x)}, reps=reps, warmup=2, timer=timer)
    return {**compare(t["builtin"], t["plugin"]), "max_rel_diff": diff}


def _train_batch(batch: int, device: torch.device, imgsz: int = IMGSZ, seed: int = 0) -> dict:
    """A detection training batch: random images, four random boxes per image (the loss needs real targets)."""
    g = torch.Generator().manual_seed(seed)
    n = 4 * batch
    return {
        "img": torch.rand(batch, 3, imgsz, imgsz, generator=g).to(device),
        "batch_idx": torch.arange(batch).repeat_interleave(4).float().to(device),
        "cls": torch.randint(0, 80, (n, 1), generator=g).float().to(device),
        "bboxes": (torch.rand(n, 4, generator=g) * 0.5 + 0.25).to(device),
    }


def _train_step(model: torch.nn.Module, batch: dict) -> None:
    """Forward + loss + backward, as one step of Ultralytics' trainer (fp16 autocast on CUDA, as its AMP)."""
    cuda = batch["img"].is_cuda
    with torch.autocast("cuda", dtype=torch.float16, enabled=cuda):
        loss, _ = model.loss(batch)
    loss.sum().backward()
    model.zero_grad(set_to_none=True)
    if cuda:
        torch.cuda.synchronize()


def _for_training(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    from ultralytics.cfg import get_cfg

    model = model.to(device).train()
    model.args = get_cfg()  # the loss reads its gains from here, as under Ultralytics' trainer
    return model


def training_time(scale: str, batch: int, reps: int, timer, device: str = "cpu", imgsz: int = IMGSZ) -> dict:
    """Step time of both sides in this process, interleaved step by step after two warm-up rounds."""
    dev = torch.device(device)
    builtin, plugin = model_pair(scale)
    a, b = _for_training(builtin.model, dev), _for_training(plugin.model, dev)
    data = _train_batch(batch, dev, imgsz)
    t = interleaved({"builtin": lambda: _train_step(a, data), "plugin": lambda: _train_step(b, data)}, reps, 2, timer)
    return compare(t["builtin"], t["plugin"])


def _memory_worker(side: str, scale: str, weights: str, batch: int, threads: int, device: str, imgsz: int) -> None:
    """One side's peak memory over two training steps, in this fresh process; prints one ``RESULT {json}`` line."""
    from ultralytics import YOLO

    torch.set_num_threads(threads)
    state = torch.load(weights, weights_only=True)
    if side == "builtin":
        model = YOLO(f"yolo12{scale}.yaml").model
        model.load_state_dict(state)
    else:
        model = plugin_with_weights(scale, state).model
    del state
    dev = torch.device(device)
    model = _for_training(model, dev)
    gc.collect()
    rss_before = peak_rss_mb()
    for _ in range(2):
        _train_step(model, _train_batch(batch, dev, imgsz))
    result = {
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else None,
    }
    print("RESULT " + json.dumps(result), flush=True)


def training_memory(scale: str, batch: int, rounds: int, threads: int, device: str = "cpu", imgsz: int = IMGSZ) -> dict:
    """Peak memory of each side's training steps, each side in fresh subprocesses (alternating A B A B)."""
    builtin, _ = model_pair(scale)
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "weights.pt"
        torch.save(builtin.model.state_dict(), weights)
        del builtin
        res = {"builtin": [], "plugin": []}
        path = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path, "PYTHONWARNINGS": "ignore"}  # this very package, in a fresh process
        for _ in range(rounds):
            for side in ("builtin", "plugin"):
                cmd = [sys.executable, "-m", "ultra_yolov12.benchmark", "_memory", side, scale, str(weights)]
                cmd += [str(batch), str(threads), device, str(imgsz)]
                p = subprocess.run(cmd, capture_output=True, text=True, env=env)
                line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
                if p.returncode or not line:
                    raise RuntimeError(f"memory worker failed: {' '.join(cmd)}\n{p.stdout[-2000:]}{p.stderr[-3000:]}")
                res[side].append(json.loads(line[0][len("RESULT ") :]))
    key = "peak_rss_mb" if device == "cpu" else "peak_gpu_mb"
    out = {"memory": compare([x[key] for x in res["builtin"]], [x[key] for x in res["plugin"]])}
    if device == "cpu":
        growth = {s: [x["peak_rss_mb"] - x["rss_before_mb"] for x in res[s]] for s in res}
        out["rss_growth"] = compare(growth["builtin"], growth["plugin"])
    return out


def onnx_rows(scales: list[str], reps: int, threads: int, timer, imgsz: int = IMGSZ) -> list[tuple[str, dict]]:
    import numpy as np
    import onnxruntime as ort
    from ultralytics import YOLO

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)  # Ultralytics writes an export next to the model's name, in the working directory
        try:
            paths = {}
            models = [((s, side), y) for s in scales for side, y in zip(("builtin", "plugin"), model_pair(s))]
            reference = YOLO("yolo11n.yaml")
            lively(reference.model)
            models.append((("yolo11n", "ref"), reference))
            for key, y in models:
                f = y.export(format="onnx", imgsz=imgsz, simplify=True, verbose=False)
                paths[key] = str(Path(tmp) / f"{key[0]}-{key[1]}.onnx")
                os.replace(f, paths[key])
        finally:
            os.chdir(cwd)
            torch.set_num_threads(threads)  # Ultralytics' export sets torch's thread count (cores - 1) on CPU
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        sessions = {k: ort.InferenceSession(p, so, providers=["CPUExecutionProvider"]) for k, p in paths.items()}
        x = np.random.default_rng(1).random((1, 3, imgsz, imgsz), dtype=np.float32)

        def runner(s):
            name = s.get_inputs()[0].name
            return lambda: s.run(None, {name: x})

        for scale in scales:
            a, b = sessions[(scale, "builtin")], sessions[(scale, "plugin")]
            ya, yb = runner(a)()[0], runner(b)()[0]
            fns = {"builtin": runner(a), "plugin": runner(b)}
            if scale == scales[0]:
                fns["yolo11n"] = runner(sessions[("yolo11n", "ref")])
            t = interleaved(fns, reps=reps, warmup=3, timer=timer)
            row = {
                **compare(t["builtin"], t["plugin"]),
                "max_rel_diff": float(np.abs(ya - yb).max() / np.abs(ya).max()),
            }
            if "yolo11n" in t:
                row["yolo11n"] = statistics.median(t["yolo11n"])
            rows.append((scale, row))
    return rows


def gpu_inference(scale: str, batch: int, reps: int, imgsz: int = IMGSZ) -> dict:
    builtin, plugin = model_pair(scale)
    a = builtin.model.fuse(verbose=False).eval().cuda().half()
    b = plugin.model.fuse(verbose=False).eval().cuda().half()
    x = torch.rand(batch, 3, imgsz, imgsz, device="cuda", dtype=torch.float16)

    def timed(m):
        def f():
            m(x)
            torch.cuda.synchronize()

        return f

    with torch.inference_mode():
        ya, yb = a(x)[0].float(), b(x)[0].float()
        diff = ((ya - yb).abs().max() / ya.abs().max()).item()
        t = interleaved({"builtin": timed(a), "plugin": timed(b)}, reps=reps, warmup=10)
    return {**compare(t["builtin"], t["plugin"]), "max_rel_diff": diff}


# --- separate processes (the default mode) ---------------------------------------------------------------------------

SIDES = ("builtin", "plugin")


def save_pair(scale: str, folder: Path) -> dict[str, str]:
    """Save Ultralytics' ``yolo12<scale>`` and the plugin's ``yolov12<scale>`` with the same weights as ``.pt`` files.

    Returns ``{"builtin": path, "plugin": path}``; a worker loads each with ``YOLO(path)``, as a user would.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for side, y in zip(SIDES, model_pair(scale)):
        paths[side] = str(folder / f"{'yolo12' if side == 'builtin' else 'yolov12'}{scale}-same-weights.pt")
        y.save(paths[side])
    return paths


def image_folder(folder: Path) -> Path:
    """A folder of real images for the end-to-end rows: Ultralytics' bus.jpg and zidane.jpg, plus the coco8 images of
    a source checkout (``tests/data/coco8``) where present."""
    import shutil

    from ultralytics.utils import ASSETS

    folder.mkdir(parents=True, exist_ok=True)
    images = [ASSETS / "bus.jpg", ASSETS / "zidane.jpg"]
    images += sorted((Path(__file__).resolve().parents[1] / "tests" / "data" / "coco8" / "images").rglob("*.jpg"))
    for f in images:
        shutil.copyfile(f, folder / f.name)
    return folder


def _timed(fn: Callable[[], object], warmup: int, reps: int, timer) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t = timer()
        fn()
        times.append(timer() - t)
    return times


def _boxes(results) -> list:
    """A digest of ``predict()`` results that both sides must share: per image, boxes, scores and classes."""
    return [r.boxes.data.cpu().numpy() for r in results]


def worker(spec: dict) -> dict:
    """Run one row for one side in this (fresh) process; returns times, peak memory and the outputs to compare.

    ``spec``: ``kind`` (``eager``, ``predict``, ``compile``, ``train``, ``onnx``, ``openvino``), ``model`` (a ``.pt``
    or an exported file), ``batch``, ``imgsz``, ``threads``, ``warmup``, ``reps``, ``timer``, ``source`` (image folder
    or file, for ``predict``/``compile``) and ``device``.
    """
    import numpy as np
    from ultralytics import YOLO

    from . import _ultralytics

    torch.set_num_threads(spec["threads"])
    if spec.get("side") == "builtin":  # load yolo12's checkpoint as Ultralytics' own classes, not the plugin's
        _ultralytics.unregister()
    kind, batch, imgsz, timer = spec["kind"], spec.get("batch", 1), spec["imgsz"], TIMERS[spec["timer"]]
    warmup, reps = spec["warmup"], spec["reps"]
    x = torch.rand(batch, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(1))
    out: dict = {}
    if kind == "eager":
        model = YOLO(spec["model"]).model.fuse(verbose=False).eval()
        with torch.inference_mode():
            times = _timed(lambda: model(x), warmup, reps, timer)
            out["output"] = model(x)[0].numpy()
    elif kind in ("predict", "compile"):
        model = YOLO(spec["model"])
        kw = {"imgsz": imgsz, "verbose": False, "device": "cpu"}
        if kind == "compile":
            from ._ultralytics import has_compile_arg

            if has_compile_arg():  # Ultralytics' own compile= argument (8.4.x; 8.3.0 has none)
                kw["compile"] = True
            else:
                model.model = torch.compile(model.model.fuse(verbose=False).eval())
        times = _timed(lambda: model.predict(spec["source"], **kw), warmup, reps, timer)
        out["output"] = _boxes(model.predict(spec["source"], **kw))
    elif kind == "train":
        dev = torch.device(spec["device"])
        model = _for_training(YOLO(spec["model"]).model, dev)
        for p in model.parameters():
            p.requires_grad_(True)
        data = _train_batch(batch, dev, imgsz)
        gc.collect()
        out["rss_before_mb"] = peak_rss_mb()
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        times = _timed(lambda: _train_step(model, data), warmup, reps, timer)
        out["peak_rss_mb"] = peak_rss_mb()
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else None
    elif kind == "export":  # once per side, with that side's classes; returns the runtime's model file
        kw = {"simplify": True} if spec["format"] == "onnx" else {}
        f = Path(YOLO(spec["model"]).export(format=spec["format"], imgsz=imgsz, verbose=False, **kw))
        return {"file": str(next(f.glob("*.xml")) if f.is_dir() else f)}  # OpenVINO: a folder with .xml + .bin
    elif kind == "onnx":
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = spec["threads"]
        session = ort.InferenceSession(spec["model"], so, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x.numpy()}
        times = _timed(lambda: session.run(None, feed), warmup, reps, timer)
        out["output"] = session.run(None, feed)[0]
    elif kind == "openvino":
        import openvino as ov

        compiled = ov.Core().compile_model(spec["model"], "CPU", {"INFERENCE_NUM_THREADS": spec["threads"]})
        arr = x.numpy()
        times = _timed(lambda: compiled([arr]), warmup, reps, timer)
        out["output"] = np.asarray(compiled([arr])[0])
    else:
        raise ValueError(f"unknown benchmark row kind {kind!r}")
    if kind in ("eager", "predict", "compile", "train"):  # each side runs its own code
        owner = {type(m).__module__ for m in YOLO(spec["model"]).model.modules() if type(m).__name__ == "A2C2f"}
        want = "ultralytics.nn.modules.block" if spec.get("side") == "builtin" else "ultra_yolov12.nn.block"
        if owner != {want}:
            raise RuntimeError(f"{spec['side']} side loaded A2C2f from {owner}, expected {want}")
    out["times"] = times
    out["time"] = statistics.median(times)
    return out


def _child(spec: dict, conn) -> None:
    """Process entry point: :func:`worker`'s result (or the error's text) back through ``conn``."""
    try:
        conn.send({"ok": worker(spec)})
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises with the text
        import traceback

        conn.send({"error": f"{type(e).__name__}: {e}\n{traceback.format_exc()[-3000:]}"})
    finally:
        conn.close()


class Processes:
    """Fresh worker processes: forked from a server that imported torch and Ultralytics but ran nothing, so each
    side starts as a user's own process does after its imports (no allocator, cache or thread-pool state of the other
    side); plain ``spawn`` where ``forkserver`` does not exist (Windows)."""

    def __init__(self):
        import multiprocessing as mp

        methods = mp.get_all_start_methods()
        self.ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
        if "forkserver" in methods:
            from multiprocessing import forkserver

            self.ctx.set_forkserver_preload(["torch", "ultralytics", "ultra_yolov12.benchmark"])
            # the server imports from its environment's path (Python < 3.12 ignores the parent's sys.path): point it
            # at this very package, e.g. a source checkout run by benchmarks/run.py
            root = str(Path(__file__).resolve().parents[1])
            saved = os.environ.get("PYTHONPATH")
            os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root, saved]))
            try:
                forkserver.ensure_running()
            finally:
                os.environ.pop("PYTHONPATH") if saved is None else os.environ.__setitem__("PYTHONPATH", saved)

    def run(self, spec: dict) -> dict:
        """Run :func:`worker` on ``spec`` in a new process and return its result."""
        parent, child = self.ctx.Pipe(duplex=False)
        p = self.ctx.Process(target=_child, args=(spec, child), daemon=True)
        p.start()
        child.close()
        try:
            msg = parent.recv()
        except EOFError:
            msg = {"error": "the worker exited without a result (killed, e.g. out of memory?)"}
        p.join()
        if "error" in msg:
            raise RuntimeError(f"benchmark worker ({spec['kind']}, {Path(spec['model']).name}) failed: {msg['error']}")
        return msg["ok"]


def _rel_diff(a, b) -> float:
    import numpy as np

    if isinstance(a, list):  # predict() digests: same number of boxes per image, then the values
        if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b)):
            return math.inf
        a = np.concatenate([x.ravel() for x in a]) if a else np.zeros(1)
        b = np.concatenate([y.ravel() for y in b]) if b else np.zeros(1)
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.abs(a).max()
    return float(np.abs(a - b).max() / scale) if scale > 0 else float(np.abs(a - b).max())


def alternated(procs: Processes, specs: dict[str, dict], rounds: int, keys: tuple[str, ...] = ("time",)) -> dict:
    """Run each side's spec in a fresh process, A B A B for ``rounds`` rounds; compare per-round values of ``keys``.

    Returns ``{key: compare(...)}`` plus ``max_rel_diff`` of the first round's outputs where the workers return them.
    """
    res = {s: [] for s in specs}
    for _ in range(rounds):
        for side, spec in specs.items():
            res[side].append(procs.run(spec))
    out = {k: compare([r[k] for r in res["builtin"]], [r[k] for r in res["plugin"]]) for k in keys}
    if "output" in res["builtin"][0]:
        out["max_rel_diff"] = _rel_diff(res["builtin"][0]["output"], res["plugin"][0]["output"])
    out["raw"] = res
    return out


def separate_rows(
    scales: list[str],
    quick: bool,
    threads: int,
    timer: str,
    train: bool,
    onnx: bool,
    imgsz: int,
    add,
    notes: list,
    compiled: bool = False,
    groups: tuple[str, ...] = GROUPS,
) -> None:
    """The rows of :func:`run` in separate-process mode, each reported through ``add(name, kind, unit, cmp, ...)``;
    ``groups`` (see ``GROUPS``) limits the inference and ``predict()`` rows, the flags the others."""
    procs = Processes()
    rounds = 2 if quick else 5
    base = {"threads": threads, "timer": timer, "imgsz": imgsz, "device": "cpu"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = str(image_folder(tmp / "images")) if {"predict", "compile"} & set(groups) else ""
        pairs = {s: save_pair(s, tmp / "weights") for s in scales}

        def row(kind: str, scale: str, **kw) -> dict:
            spec = {**base, "kind": kind, **kw}
            return alternated(procs, {s: {**spec, "side": s, "model": pairs[scale][s]} for s in SIDES}, rounds)

        for scale in scales if "inference" in groups else ():
            for batch, (warmup, reps) in ((1, (2, 5)), (8, (1, 2))):
                r = row("eager", scale, batch=batch, warmup=warmup, reps=reps)
                add(
                    f"CPU inference {scale} batch {batch}",
                    f"cpu_b{batch}",
                    "ms",
                    r["time"],
                    max_rel_diff=r["max_rel_diff"],
                )
        for scale in scales if "predict" in groups else ():
            r = row("predict", scale, warmup=1, reps=1, source=source)
            n_img = len(list(Path(source).iterdir()))
            add(f"predict() {scale}, {n_img} real images", "predict", "s", r["time"], max_rel_diff=r["max_rel_diff"])
        if train:
            for scale in scales:
                spec = {**base, "kind": "train", "batch": 8, "warmup": 1, "reps": 1}
                specs = {s: {**spec, "side": s, "model": pairs[scale][s]} for s in SIDES}
                r = alternated(procs, specs, rounds, keys=("time", "peak_rss_mb"))
                add(f"CPU training step {scale} batch 8: time", "train_time", "s", r["time"])
                add(f"CPU training step {scale} batch 8: peak RSS", "train_rss", "MB", r["peak_rss_mb"])
                growth = {s: [x["peak_rss_mb"] - x["rss_before_mb"] for x in r["raw"][s]] for s in SIDES}
                add(
                    f"CPU training step {scale} batch 8: RSS growth during steps",
                    "info",
                    "MB",
                    compare(growth["builtin"], growth["plugin"]),
                )
        if onnx:
            for fmt, module, label in (("onnx", "onnxruntime", "ONNX Runtime"), ("openvino", "openvino", "OpenVINO")):
                try:
                    __import__(module)
                except ImportError:
                    notes.append(
                        f"{label} rows skipped: {module} is not installed (pip install 'ultra-yolov12[export]')"
                    )
                    continue
                for scale in scales:
                    ex = {**base, "kind": "export", "format": fmt, "warmup": 0, "reps": 0}
                    files = {s: procs.run({**ex, "side": s, "model": pairs[scale][s]})["file"] for s in SIDES}
                    spec = {**base, "kind": fmt, "batch": 1, "warmup": 2, "reps": 5}
                    r = alternated(procs, {s: {**spec, "side": s, "model": files[s]} for s in SIDES}, rounds)
                    add(f"{label} {scale} batch 1", fmt, "ms", r["time"], max_rel_diff=r["max_rel_diff"])
        if compiled:
            from ._ultralytics import has_compile_arg

            how = "predict(compile=True)" if has_compile_arg() else "torch.compile(model) (no compile= in this release)"
            image = str(Path(source) / "bus.jpg")
            r = row("compile", scales[0], warmup=2, reps=5, source=image)
            add(
                f"torch.compile {scales[0]}: {how}, bus.jpg", "compile", "ms", r["time"], max_rel_diff=r["max_rel_diff"]
            )


# --- report ---------------------------------------------------------------------------------------------------------


def _earlier_rows(path: Path) -> dict | None:
    """The rows and date of an earlier report's JSON file, or None if there is none."""
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    date = data.get("machine", {}).get("date", "?")
    rows = [{"timer": "wall", **r, "measured": r.get("measured", date)} for r in data.get("rows", [])]
    return {"date": date, "rows": rows}


def _merged(rows: list[dict], earlier: dict | None) -> tuple[list[dict], str]:
    """``rows`` put into an earlier report's (same names replaced in place, new ones appended) and a note naming the
    rows kept from it; ``rows`` and no note without an earlier report."""
    if not earlier:
        return rows, ""
    new = {r["name"]: r for r in rows}
    shown = [new.pop(r["name"], r) for r in earlier["rows"]] + list(new.values())
    kept = sorted({f"{r['measured']} (timer: {r['timer']})" for r in shown if r.get("measured")})
    note = f"Rows not re-measured in this run are kept from the report of {', '.join(kept)}." if kept else ""
    return shown, note


def _fmt(v: float, unit: str) -> str:
    return {"ms": f"{v * 1e3:.1f} ms", "s": f"{v:.2f} s"}.get(unit, f"{v:,.0f} MB")


def _table(rows: list[dict]) -> list[str]:
    lines = [
        "| row | built-in YOLO12 | ultra-yolov12 | ratio | per-round ratios: IQR (min-max), n | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        c, target = r["cmp"], TARGETS.get(r["kind"])
        met = "" if target is None else ("yes" if c["ratio"] <= target[0] else "**no**")
        (lo, hi), (mn, mx) = c["pair_ratio_iqr"], c["pair_ratio_range"]
        lines.append(
            f"| {r['name']} | {_fmt(c['builtin'], r['unit'])} | {_fmt(c['plugin'], r['unit'])} | **{c['ratio']:.3f}** "
            f"| {lo:.2f}-{hi:.2f} ({mn:.2f}-{mx:.2f}), {c['n']} | {target[1] if target else 'info'} | {met} |"
        )
    return lines


def _chart(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = rows[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.6))
    colors = []
    for r in rows:
        t = TARGETS.get(r["kind"])
        colors.append("tab:gray" if t is None else "tab:green" if r["cmp"]["ratio"] <= t[0] else "tab:red")
    ax.barh([r["name"] for r in rows], [r["cmp"]["ratio"] for r in rows], color=colors)
    for i, r in enumerate(rows):
        t = TARGETS.get(r["kind"])
        if t:
            ax.plot([t[0], t[0]], [i - 0.4, i + 0.4], color="black", lw=1.5)
        ax.plot(r["cmp"]["pair_ratio_iqr"], [i, i], color="black", lw=0.8)
    ax.axvline(1.0, color="gray", ls="--", lw=0.8)
    ax.set_xlabel(
        "ratio ultra-yolov12 / built-in (lower is better)\ntick: target; thin line: per-round IQR", fontsize=9
    )
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def run(
    quick: bool = False,
    scales: str | list[str] | None = None,
    threads: int | None = None,
    timer: str = "wall",
    train: bool = True,
    onnx: bool = True,
    out: str | Path | None = None,
    imgsz: int = IMGSZ,
    verbose: bool = True,
    mode: str = "subprocess",
    compile: bool = False,
    only: str | list[str] | None = None,
) -> dict:
    """Run the side-by-side suite, print a markdown table and write it with a PNG chart and a JSON file.

    Args:
        quick (bool): Scale n only with fewer repetitions (~3 min on 2 cores instead of ~15).
        scales (str | list[str] | None): Scales to compare, e.g. ``"n,s"``; default ``n, s`` (``n`` with quick).
        threads (int | None): torch and ONNX Runtime threads; default all logical cores.
        timer (str): ``"wall"`` (latency, the default) or ``"cpu"`` (process CPU time: steadier on a shared machine).
        train (bool): Include the training-step rows (fresh subprocesses).
        onnx (bool): Include the ONNX Runtime rows (needs onnxruntime).
        out (str | Path | None): Output directory; default ``<Ultralytics runs dir>/benchmark``.
        imgsz (int): Input size (a multiple of 32); the targets are defined at 640.
        verbose (bool): Log progress and print the table.
        mode (str): ``"subprocess"`` (the default: every row runs each side in fresh processes, alternated, as users
            run one model per process) or ``"inprocess"`` (both sides in this process, interleaved call by call).
        compile (bool): Add the torch.compile row (separate-process mode, scale n; each process compiles both
            sides' models anew, which takes minutes per process on 2 cores, so it is off by default).
        only (str | list[str] | None): Run only these row groups, e.g. ``"train"`` (from ``GROUPS``: inference,
            predict, train, onnx, compile, gpu; ``train``/``onnx``/``compile`` still need their flags). The report
            then updates an earlier one in ``out``: re-measured rows replace theirs, the other rows are kept and a
            note names the run they come from.

    Returns:
        (dict): ``machine`` (see :func:`machine_info`), ``rows`` (name, kind, unit, medians, ratio, spread), ``files``.
    """
    if timer not in TIMERS:
        raise ValueError(f"timer must be one of {', '.join(TIMERS)}, got {timer!r}")
    if mode not in ("subprocess", "inprocess"):
        raise ValueError(f"mode must be 'subprocess' (the default) or 'inprocess', got {mode!r}")
    if isinstance(scales, str):
        scales = [s.strip() for s in scales.replace(",", " ").split()]
    scales = list(scales or (["n"] if quick else ["n", "s"]))
    bad = [s for s in scales if s not in "nsmlx" or len(s) != 1]
    if bad:
        raise ValueError(f"unknown scale(s) {bad}; choose from n, s, m, l, x")
    if imgsz < 32 or imgsz % 32:
        raise ValueError(f"imgsz must be a positive multiple of 32 (area attention cuts P4 into 4 strips), got {imgsz}")
    if isinstance(only, str):
        only = [g.strip() for g in only.replace(",", " ").split()]
    groups = tuple(only or GROUPS)
    if set(groups) - set(GROUPS):
        raise ValueError(f"unknown row group(s) {sorted(set(groups) - set(GROUPS))}; choose from {', '.join(GROUPS)}")
    train, onnx, compile = train and "train" in groups, onnx and "onnx" in groups, compile and "compile" in groups
    threads = int(threads or os.cpu_count() or 1)
    if out is None:
        from ultralytics.utils import SETTINGS

        out = Path(SETTINGS["runs_dir"]) / "benchmark"
    out = Path(out)
    say = _log if verbose else (lambda _msg: None)
    torch.set_num_threads(threads)
    clock = TIMERS[timer]
    info = machine_info(threads)
    t0 = time.time()
    rows = []
    stem = "results-quick" if quick else "results"
    earlier = _earlier_rows(out / f"{stem}.json") if only else None
    say(f"scales {', '.join(scales)}, imgsz {imgsz}, {threads} threads; results go to {out} when all rows are done")

    def add(name, kind, unit, cmp, **extra):
        rows.append({"name": name, "kind": kind, "unit": unit, "cmp": cmp, "timer": timer, **extra})
        b, p = _fmt(cmp["builtin"], unit), _fmt(cmp["plugin"], unit)
        say(f"{name}: built-in {b}, ultra-yolov12 {p}, ratio {cmp['ratio']:.3f}")
        if not quick:
            report(False)

    def report(done: bool) -> list:
        """Write the table so far (after every row, so that a stopped run leaves what it measured)."""
        info["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
        minutes = (time.time() - t0) / 60

        title = f"ultra-yolov12 vs Ultralytics YOLO12, same weights ({info['cpu']}, {threads} threads)"
        chart_title = (
            f"ultra-yolov12 / Ultralytics YOLO12, same weights, {imgsz}x{imgsz}\n{info['cpu']}, {threads} threads"
        )
        given = {"quick": quick, "scales": ",".join(scales), "timer": timer, "imgsz": imgsz, "mode": mode}
        given["compile"] = compile
        given["only"] = ",".join(groups) if only else None
        defaults = {"quick": False, "scales": "n,s", "timer": "wall", "imgsz": IMGSZ, "mode": "subprocess"}
        defaults["compile"] = False
        defaults["only"] = None
        cmd = " ".join(["ultra-yolov12 benchmark"] + [f"{k}={v}" for k, v in given.items() if v != defaults[k]])
        lines = [f"# {title}", "", f"Produced by `{cmd}` (or `python benchmarks/run.py`) in {minutes:.1f} min; input "]
        lines[-1] += f"{imgsz}x{imgsz}; timer: "
        lines[-1] += (
            "wall clock." if timer == "wall" else "process CPU time (not a latency; steadier on a shared machine)."
        )
        shown, kept_note = _merged(rows, earlier)
        kept = [f"- {kept_note}"] if kept_note else []
        lines += [""] + machine_lines(info) + [f"- {n}" for n in notes] + kept + [""] + _table(shown) + [""]
        diffs = [f"{r['name']} {r['max_rel_diff']:.1e}" for r in shown if "max_rel_diff" in r]
        lines += [
            "Same weights, same outputs: max |ultra-yolov12 - built-in| / max |built-in|: " + "; ".join(diffs) + "."
        ]
        for r in shown:
            if r.get("yolo11n"):
                y11, c = r["yolo11n"], r["cmp"]
                lines += [
                    "",
                    f"Reference: yolo11n in ONNX Runtime, batch 1: {y11 * 1e3:.1f} ms (built-in yolo12n "
                    f"{c['builtin'] / y11:.2f}x, ultra-yolov12 yolov12n {c['plugin'] / y11:.2f}x of it).",
                ]
        missed = [r["name"] for r in shown if r["kind"] in TARGETS and r["cmp"]["ratio"] > TARGETS[r["kind"]][0]]
        if not done:
            lines[2:2] = ["", f"**Partial report: {len(rows)} rows so far; the run is still going or was stopped.**"]
        lines += ["", f"Targets missed: {', '.join(missed) if missed else 'none'}.", ""]
        lines += [
            "Ratio = median(ultra-yolov12) / median(built-in); the per-round ratios (each plugin run over the built-in",
            "run beside it) show the noise. Method: the docstring of `ultra_yolov12/benchmark.py`.",
            "",
        ]
        text = "\n".join(lines)
        if verbose and done:
            print("\n" + text, flush=True)
        files = [out / f"{stem}.md", out / f"{stem}.json", out / f"{stem}.png"]
        write_atomic(files[0], text)
        write_atomic(files[1], json.dumps({"machine": info, "rows": shown}, indent=1, default=str))
        _chart(shown, files[2], chart_title)
        return files

    notes = []
    if mode == "subprocess":
        separate_rows(scales, quick, threads, timer, train, onnx, imgsz, add, notes, compile, groups)
    else:
        for scale in scales if "inference" in groups else ():
            for batch, reps in ((1, 10 if quick else 30), (8, 3 if quick else 7)):
                r = cpu_inference(scale, batch, reps, clock, imgsz)
                add(f"CPU inference {scale} batch {batch}", f"cpu_b{batch}", "ms", r, max_rel_diff=r["max_rel_diff"])
        if train:
            for scale in scales:
                r = training_time(scale, 8, 3 if quick else 5, clock, imgsz=imgsz)
                add(f"CPU training step {scale} batch 8: time", "train_time", "s", r)
                r = training_memory(scale, 8, 1 if quick else 2, threads, imgsz=imgsz)
                add(f"CPU training step {scale} batch 8: peak RSS", "train_rss", "MB", r["memory"])
                add(f"CPU training step {scale} batch 8: RSS growth during steps", "info", "MB", r["rss_growth"])
        if onnx:
            try:
                import onnxruntime  # noqa: F401
            except ImportError:
                notes.append(
                    "ONNX Runtime rows skipped: onnxruntime is not installed (pip install 'ultra-yolov12[export]')"
                )
            else:
                for scale, r in onnx_rows(scales, 10 if quick else 30, threads, clock, imgsz):
                    add(
                        f"ONNX Runtime {scale} batch 1",
                        "onnx",
                        "ms",
                        r,
                        max_rel_diff=r["max_rel_diff"],
                        yolo11n=r.get("yolo11n"),
                    )
    if torch.cuda.is_available() and "gpu" in groups:
        notes.append(f"GPU: {torch.cuda.get_device_name(0)}")
        for scale in scales:
            for batch in (1, 8):
                r = gpu_inference(scale, batch, 20 if quick else 100, imgsz)
                add(f"GPU fp16 inference {scale} batch {batch}", "info", "ms", r, max_rel_diff=r["max_rel_diff"])
        for scale in ("s", "x"):
            r = training_time(scale, 16, 5 if quick else 20, time.perf_counter, device="cuda", imgsz=imgsz)
            add(f"GPU AMP training step {scale} batch 16: time", "info", "s", r)
            r = training_memory(scale, 16, 1, threads, device="cuda", imgsz=imgsz)
            kind = "gpu_train_mem_x" if scale == "x" else "info"
            add(f"GPU AMP training step {scale} batch 16: peak memory", kind, "MB", r["memory"])
    elif "gpu" in groups:
        notes.append("GPU rows skipped: no CUDA device")

    files = report(True)
    minutes = (time.time() - t0) / 60
    say(f"wrote {files[0]} (+ .json, .png) in {minutes:.1f} min")
    return {"machine": info, "rows": rows, "files": [str(f) for f in files]}


if __name__ == "__main__" and len(sys.argv) == 9 and sys.argv[1] == "_memory":  # see training_memory
    side_, scale_, weights_, batch_, threads_, device_, imgsz_ = sys.argv[2:]
    _memory_worker(side_, scale_, weights_, int(batch_), int(threads_), device_, int(imgsz_))
