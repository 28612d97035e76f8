"""ultra-yolov12 against Ultralytics' built-in YOLO12, same weights, side by side: one command, one table, one chart.

    python benchmarks/run.py            # full suite (~10-15 min on 2 cores): n and s, CPU rows, ONNX, GPU if present
    python benchmarks/run.py --quick    # n only, fewer repetitions (~3 min)

Every row runs the two sides interleaved (A B A B ...) after warm-up and reports the medians, their ratio
(plugin / built-in: below 1 is better) and the spread of the per-round ratios. Method per row:

- CPU inference: ``model.fuse()`` (both sides fold Conv+BN), eval, ``torch.inference_mode()``, fp32, 640x640 random
  input, network forward only (no pre/post-processing, which is the same code on both sides).
- Training step: forward + ``model.loss`` + backward at batch 8, 640, fp32, each side in a fresh subprocess (so the
  process's peak RSS, ``ru_maxrss``, belongs to that side alone); subprocesses alternate A B A B. Reported: median
  step time after one warm-up step, and the peak RSS of the whole process (the interpreter, torch and the model
  included: the same on both sides) as well as its growth during the steps.
- ONNX Runtime: each side exported by Ultralytics (``format=onnx``, 640, simplify), CPUExecutionProvider with the same
  thread count, batch 1; ``yolo11n`` for reference.
- GPU (only when CUDA is available): fp16 inference latency at batch 1 and 8, and training-step peak GPU memory
  (``torch.cuda.max_memory_allocated``) at batch 16 under fp16 autocast, as Ultralytics trains with AMP.

Weights: Ultralytics' ``yolo12<scale>.yaml`` is built, given deterministic non-degenerate weights, and the same state
dict is loaded into the plugin's ``yolov12<scale>.yaml`` after dropping its position-perceiver conv bias (Ultralytics'
YOLO12 has none), so both sides have the same parameters; the outputs are compared too.

Writes ``docs/benchmarks/results.md`` (``results-quick.md`` with ``--quick``), a PNG chart and a JSON file.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import torch  # noqa: E402

IMGSZ = 640
TARGETS = {  # row kind -> (maximum plugin/built-in ratio, what the issue asks)
    "cpu_b1": (0.97, "never slower; <= 0.97"),
    "cpu_b8": (0.85, "<= 0.85"),
    "train_time": (0.85, "<= 0.85"),
    "train_rss": (0.95, "<= 0.95"),
    "onnx": (1.00, "<= 1.0"),
    "gpu_train_mem_x": (0.70, "<= 0.7 (x, batch 16)"),
}


def log(msg: str) -> None:
    print(f"[benchmark {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- rows -----------------------------------------------------------------------------------------------------------


def cpu_inference(scale: str, batch: int, reps: int, timer) -> dict:
    builtin, plugin = C.model_pair(scale)
    a, b = builtin.model.fuse(verbose=False).eval(), plugin.model.fuse(verbose=False).eval()
    x = torch.rand(batch, 3, IMGSZ, IMGSZ, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ya, yb = a(x)[0], b(x)[0]
        diff = ((ya - yb).abs().max() / ya.abs().max()).item()
        t = C.interleaved({"builtin": lambda: a(x), "plugin": lambda: b(x)}, reps=reps, warmup=2, timer=timer)
    return {**C.compare(t["builtin"], t["plugin"]), "max_rel_diff": diff}


def _train_worker(args) -> None:
    """One side's training steps in this (fresh) process; prints one JSON line."""
    torch.set_num_threads(args.threads)
    from ultralytics.cfg import get_cfg

    state = torch.load(args.weights, weights_only=True)
    if args.side == "builtin":
        model = C.YOLO(f"yolo12{args.scale}.yaml").model
        model.load_state_dict(state)
    else:
        model = C.plugin_with_weights(args.scale, state).model
    del state
    device = torch.device(args.device)
    model = model.to(device).train()
    model.args = get_cfg()  # the loss reads its gains from here, as in Ultralytics' trainer
    gc.collect()
    g = torch.Generator().manual_seed(0)

    def batch():
        n = 4 * args.batch  # four boxes per image
        return {
            "img": torch.rand(args.batch, 3, IMGSZ, IMGSZ, generator=g).to(device),
            "batch_idx": torch.arange(args.batch).repeat_interleave(4).float().to(device),
            "cls": torch.randint(0, 80, (n, 1), generator=g).float().to(device),
            "bboxes": (torch.rand(n, 4, generator=g) * 0.5 + 0.25).to(device),
        }

    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    for i in range(args.steps + 1):  # the first step warms up
        b = batch()
        sync()
        t = time.perf_counter() if args.timer == "wall" else time.process_time()
        with torch.autocast("cuda", dtype=torch.float16, enabled=cuda):
            loss, _ = model.loss(b)
        loss.sum().backward()
        sync()
        times.append((time.perf_counter() if args.timer == "wall" else time.process_time()) - t)
        model.zero_grad(set_to_none=True)
        if i == 0 and cuda:
            torch.cuda.reset_peak_memory_stats()
    out = {
        "times": times[1:],
        "rss_before_mb": rss_before,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
    }
    print("RESULT " + json.dumps(out), flush=True)


def training_step(scale: str, batch: int, steps: int, rounds: int, threads: int, timer: str, device="cpu") -> dict:
    builtin, _ = C.model_pair(scale)
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "weights.pt"
        torch.save(builtin.model.state_dict(), weights)
        del builtin
        res = {"builtin": [], "plugin": []}
        for r in range(rounds):
            for side in ("builtin", "plugin"):
                cmd = [sys.executable, __file__, "--worker", "train", "--side", side, "--scale", scale]
                cmd += ["--batch", str(batch), "--steps", str(steps), "--threads", str(threads), "--timer", timer]
                cmd += ["--weights", str(weights), "--device", device]
                p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
                line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
                if p.returncode or not line:
                    raise RuntimeError(
                        f"training worker failed ({' '.join(cmd)}):\n{p.stdout[-2000:]}{p.stderr[-3000:]}"
                    )
                res[side].append(json.loads(line[0][7:]))
                log(f"  train {scale} round {r + 1}/{rounds} {side}: {res[side][-1]['times']} s")
    # pair step times round by round (A_i with B_i), then memory per process
    ta = [t for r in res["builtin"] for t in r["times"]]
    tb = [t for r in res["plugin"] for t in r["times"]]
    out = {"time": C.compare(ta, tb)}
    key = "peak_gpu_mb" if device != "cpu" else "peak_rss_mb"
    out["memory"] = C.compare([r[key] for r in res["builtin"]], [r[key] for r in res["plugin"]])
    if device == "cpu":
        growth = {s: [r["peak_rss_mb"] - r["rss_before_mb"] for r in res[s]] for s in res}
        out["rss_growth"] = C.compare(growth["builtin"], growth["plugin"])
    return out


def onnx_rows(scales: list[str], reps: int, threads: int, timer) -> list[dict]:
    import numpy as np
    import onnxruntime as ort

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)  # Ultralytics writes exports next to the model's name in the working directory
        try:
            paths = {}
            for scale in scales:
                builtin, plugin = C.model_pair(scale)
                for side, y in (("builtin", builtin), ("plugin", plugin)):
                    f = y.export(format="onnx", imgsz=IMGSZ, simplify=True, verbose=False)
                    paths[(scale, side)] = str(Path(tmp) / f"{side}-{scale}.onnx")
                    os.replace(f, paths[(scale, side)])
            ref = C.YOLO("yolo11n.yaml")
            C.lively(ref.model)
            f = ref.export(format="onnx", imgsz=IMGSZ, simplify=True, verbose=False)
            paths[("yolo11n", "ref")] = str(Path(tmp) / "yolo11n.onnx")
            os.replace(f, paths[("yolo11n", "ref")])
        finally:
            os.chdir(cwd)
            C.restore_threads(threads)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        sessions = {k: ort.InferenceSession(p, so, providers=["CPUExecutionProvider"]) for k, p in paths.items()}
        x = np.random.default_rng(1).random((1, 3, IMGSZ, IMGSZ), dtype=np.float32)

        def runner(s):
            name = s.get_inputs()[0].name
            return lambda: s.run(None, {name: x})

        for scale in scales:
            a, b = sessions[(scale, "builtin")], sessions[(scale, "plugin")]
            ya, yb = runner(a)()[0], runner(b)()[0]
            fns = {"builtin": runner(a), "plugin": runner(b)}
            if scale == scales[0]:
                fns["yolo11n"] = runner(sessions[("yolo11n", "ref")])
            t = C.interleaved(fns, reps=reps, warmup=3, timer=timer)
            row = {
                **C.compare(t["builtin"], t["plugin"]),
                "max_rel_diff": float(np.abs(ya - yb).max() / np.abs(ya).max()),
            }
            if "yolo11n" in t:
                row["yolo11n"] = C.compare(t["yolo11n"], t["plugin"])["builtin"]
            rows.append((scale, row))
    return rows


def gpu_inference(scale: str, batch: int, reps: int) -> dict:
    builtin, plugin = C.model_pair(scale)
    a = builtin.model.fuse(verbose=False).eval().cuda().half()
    b = plugin.model.fuse(verbose=False).eval().cuda().half()
    x = torch.rand(batch, 3, IMGSZ, IMGSZ, device="cuda", dtype=torch.float16)

    def timed(m):
        def f():
            m(x)
            torch.cuda.synchronize()

        return f

    with torch.inference_mode():
        ya, yb = a(x)[0].float(), b(x)[0].float()
        diff = ((ya - yb).abs().max() / ya.abs().max()).item()
        t = C.interleaved({"builtin": timed(a), "plugin": timed(b)}, reps=reps, warmup=10)
    return {**C.compare(t["builtin"], t["plugin"]), "max_rel_diff": diff}


# --- report ---------------------------------------------------------------------------------------------------------


def fmt(v: float, unit: str) -> str:
    if unit == "ms":
        return f"{v * 1e3:.1f} ms"
    if unit == "s":
        return f"{v:.2f} s"
    return f"{v:,.0f} MB"


def table(rows: list[dict]) -> list[str]:
    lines = [
        "| row | built-in YOLO12 | ultra-yolov12 | ratio | per-round ratios: IQR (min-max), n | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        c = r["cmp"]
        target = TARGETS.get(r["kind"])
        met = "" if target is None else ("yes" if c["ratio"] <= target[0] else "**no**")
        spread = (
            f"{c['pair_ratio_iqr'][0]:.2f}-{c['pair_ratio_iqr'][1]:.2f} "
            f"({c['pair_ratio_range'][0]:.2f}-{c['pair_ratio_range'][1]:.2f}), {c['n']}"
        )
        lines.append(
            f"| {r['name']} | {fmt(c['builtin'], r['unit'])} | {fmt(c['plugin'], r['unit'])} | **{c['ratio']:.3f}** "
            f"| {spread} | {target[1] if target else 'info'} | {met} |"
        )
    return lines


def chart(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.5))
    names = [r["name"] for r in rows][::-1]
    ratios = [r["cmp"]["ratio"] for r in rows][::-1]
    colors = []
    for r in rows[::-1]:
        t = TARGETS.get(r["kind"])
        colors.append("tab:gray" if t is None else "tab:green" if r["cmp"]["ratio"] <= t[0] else "tab:red")
    ax.barh(names, ratios, color=colors)
    for i, r in enumerate(rows[::-1]):
        t = TARGETS.get(r["kind"])
        if t:
            ax.plot([t[0], t[0]], [i - 0.4, i + 0.4], color="black", lw=1.5)
        lo, hi = r["cmp"]["pair_ratio_iqr"]
        ax.plot([lo, hi], [i, i], color="black", lw=0.8)
    ax.axvline(1.0, color="gray", ls="--", lw=0.8)
    ax.set_xlabel("ultra-yolov12 / Ultralytics YOLO12 (lower is better); black tick: target, line: per-round IQR")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="scale n only, fewer repetitions (~3 min)")
    ap.add_argument("--scales", nargs="+", default=None, help="scales to run (default: n s; --quick: n)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch/ONNX Runtime threads (default: cores)")
    ap.add_argument(
        "--timer",
        choices=("wall", "cpu"),
        default="wall",
        help="wall clock (default) or process CPU time (steadier on a shared machine; not a latency)",
    )
    ap.add_argument("--no-train", action="store_true", help="skip the training-step rows")
    ap.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime rows")
    ap.add_argument("--out", type=Path, default=C.DOCS, help="output directory (default: docs/benchmarks)")
    # internal: one side's training steps in a fresh process
    ap.add_argument("--worker", choices=("train",), help=argparse.SUPPRESS)
    for a in ("--side", "--scale", "--weights", "--device"):
        ap.add_argument(a, help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=8, help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return _train_worker(args)

    torch.set_num_threads(args.threads)
    timer = time.perf_counter if args.timer == "wall" else time.process_time
    scales = args.scales or (["n"] if args.quick else ["n", "s"])
    q = args.quick
    info = C.machine_info(args.threads)
    t0 = time.time()
    rows = []

    def add(name, kind, unit, cmp, **extra):
        rows.append({"name": name, "kind": kind, "unit": unit, "cmp": cmp, **extra})
        log(
            f"{name}: built-in {fmt(cmp['builtin'], unit)}, plugin {fmt(cmp['plugin'], unit)}, ratio {cmp['ratio']:.3f}"
        )

    for scale in scales:
        for batch, reps in ((1, 10 if q else 30), (8, 3 if q else 7)):
            r = cpu_inference(scale, batch, reps, timer)
            add(f"CPU inference {scale} batch {batch}", f"cpu_b{batch}", "ms", r, max_rel_diff=r["max_rel_diff"])
    if not args.no_train:
        for scale in scales:
            r = training_step(scale, 8, 2 if q else 3, 1 if q else 2, args.threads, args.timer)
            add(f"CPU training step {scale} batch 8: time", "train_time", "s", r["time"])
            add(f"CPU training step {scale} batch 8: peak RSS", "train_rss", "MB", r["memory"])
            add(f"CPU training step {scale} batch 8: RSS growth in steps", "info", "MB", r["rss_growth"])
    if not args.no_onnx:
        for scale, r in onnx_rows(scales, 10 if q else 30, args.threads, timer):
            add(f"ONNX Runtime {scale} batch 1", "onnx", "ms", r, max_rel_diff=r["max_rel_diff"])
            if "yolo11n" in r:
                rows[-1]["yolo11n"] = r["yolo11n"]
    gpu_note = "no CUDA device: GPU rows skipped"
    if torch.cuda.is_available():
        gpu_note = f"GPU: {torch.cuda.get_device_name(0)}"
        for scale in scales:
            for batch in (1, 8):
                r = gpu_inference(scale, batch, 20 if q else 100)
                add(f"GPU fp16 inference {scale} batch {batch}", "info", "ms", r)
        for scale in ("s", "x"):
            r = training_step(scale, 16, 2, 1 if q else 2, args.threads, "wall", device="cuda")
            add(f"GPU AMP training step {scale} batch 16: time", "info", "s", r["time"])
            kind = "gpu_train_mem_x" if scale == "x" else "info"
            add(f"GPU AMP training step {scale} batch 16: peak memory", kind, "MB", r["memory"])
    info["loadavg_end"] = os.getloadavg()
    minutes = (time.time() - t0) / 60

    title = f"ultra-yolov12 vs Ultralytics YOLO12, same weights ({info['cpu']}, {info['threads']} threads)"
    lines = [f"# {title}", "", f"Produced by `python benchmarks/run.py{' --quick' if q else ''}` in {minutes:.1f} min"]
    lines += [f"(timer: {'wall clock' if args.timer == 'wall' else 'process CPU time'}).", ""]
    lines += C.machine_lines(info) + [f"- {gpu_note}", ""]
    lines += table(rows) + [""]
    diffs = [f"{r['name']}: {r['max_rel_diff']:.1e}" for r in rows if "max_rel_diff" in r]
    lines += ["Output check, max |plugin - built-in| / max |built-in| (same weights): " + "; ".join(diffs) + ".", ""]
    for r in rows:
        if "yolo11n" in r:
            lines.append(
                f"Reference: yolo11n in ONNX Runtime, batch 1: {r['yolo11n'] * 1e3:.1f} ms "
                f"(built-in yolo12n {r['cmp']['builtin'] * 1e3:.1f} ms = {r['cmp']['builtin'] / r['yolo11n']:.2f}x, "
                f"ultra-yolov12 {r['cmp']['plugin'] * 1e3:.1f} ms = {r['cmp']['plugin'] / r['yolo11n']:.2f}x)."
            )
    missed = [r["name"] for r in rows if r["kind"] in TARGETS and r["cmp"]["ratio"] > TARGETS[r["kind"]][0]]
    lines += ["", f"Targets missed: {', '.join(missed) if missed else 'none'}.", ""]
    lines += [
        "Method: see the docstring of `benchmarks/run.py`. Ratio = median(plugin) / median(built-in); the per-round",
        "ratios (each plugin run divided by the built-in run next to it) show the noise.",
        "",
    ]
    stem = "results-quick" if q else "results"
    text = "\n".join(lines)
    print("\n" + text)
    C.write_atomic(args.out / f"{stem}.md", text)
    C.write_atomic(args.out / f"{stem}.json", json.dumps({"machine": info, "rows": rows}, indent=1, default=str))
    chart(rows, args.out / f"{stem}.png", title)
    log(f"wrote {args.out / (stem + '.md')}, .png, .json in {minutes:.1f} min")


if __name__ == "__main__":
    main()
