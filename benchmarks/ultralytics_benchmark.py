"""Ultralytics' own ``benchmark()`` (every export format it knows) for YOLOv12 next to yolo11n and the built-in yolo12n.

    python benchmarks/ultralytics_benchmark.py [--imgsz 160] [--no-cli]

Checkpoints, written to a temporary folder: the plugin's ``yolov12n.yaml`` and Ultralytics' built-in
``yolo12n.yaml`` with the same deterministic weights (``ultra_yolov12.benchmark.model_pair``; releases without a
built-in YOLO12, < 8.3.78, have the plugin's only), ``yolov12n-turbo.yaml`` and ``yolo11n.yaml`` with
``ultra_yolov12.benchmark.lively`` weights. None is trained, so the mAP column only says that validation ran (the
formats of one model must agree with each other, not be high). Each goes through
``ultralytics.utils.benchmarks.benchmark(model=..., data=<COCO8 copy>, imgsz=...)`` in this process, one after the
other; then, unless ``--no-cli``, ``yolo benchmark model=<yolov12n .pt> data=... imgsz=...`` runs in a fresh
interpreter (the start-up hook alone brings the plugin there) and its exit status and table are recorded. Writes
``docs/benchmarks/ultralytics_benchmark.md``.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # a source checkout runs its own package
os.environ.setdefault("YOLO_OFFLINE", "true")

import torch  # noqa: E402

import ultra_yolov12.benchmark as C  # noqa: E402
from ultra_yolov12.files import write_atomic  # noqa: E402


def save(model: torch.nn.Module, path: Path) -> Path:
    """A minimal Ultralytics checkpoint (what ``attempt_load_one_weight`` reads) holding ``model``."""
    torch.save({"model": copy.deepcopy(model).float(), "train_args": {}, "epoch": -1, "date": None}, path)
    return path


def checkpoints(work: Path) -> dict[str, Path]:
    from ultralytics import YOLO

    from ultra_yolov12._ultralytics import has_builtin_yolo12

    out = {}
    if has_builtin_yolo12():
        builtin, plugin = C.model_pair("n")
        out["yolov12n (plugin, yolo12n's weights)"] = save(plugin.model, work / "yolov12n.pt")
        out["yolo12n (built-in)"] = save(builtin.model, work / "yolo12n.pt")
    else:
        out["yolov12n (plugin)"] = save(C.lively(YOLO("yolov12n.yaml").model), work / "yolov12n.pt")
    out["yolov12n-turbo (plugin)"] = save(C.lively(YOLO("yolov12n-turbo.yaml").model), work / "yolov12n-turbo.pt")
    out["yolo11n"] = save(C.lively(YOLO("yolo11n.yaml").model), work / "yolo11n.pt")
    return out


def rows(df) -> tuple[list[str], list[list]]:
    """Column names and rows of the pandas (8.3.x) or polars (8.4.x) frame ``benchmark`` returns."""
    if hasattr(df, "rows"):
        return list(df.columns), [list(r) for r in df.rows()]
    return list(df.columns), df.values.tolist()


def table(columns: list[str], body: list[list]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in r) + " |" for r in body]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--imgsz", type=int, default=160)
    ap.add_argument("--no-cli", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks" / "ultralytics_benchmark.md")
    args = ap.parse_args()
    import ultralytics
    from ultralytics.utils.benchmarks import benchmark

    work = Path(tempfile.mkdtemp(prefix="ul_bench_"))
    src = ROOT / "tests" / "data"
    shutil.copytree(src / "coco8", work / "coco8")
    data = work / "coco8.yaml"
    data.write_text((src / "coco8.yaml").read_text().replace("path: coco8", f"path: {work / 'coco8'}"))
    os.chdir(work)  # benchmark() writes benchmarks.log into the cwd and exports next to each checkpoint
    results = {}
    for name, pt in checkpoints(work).items():
        t = time.time()
        results[name] = (
            rows(benchmark(model=str(pt), data=str(data), imgsz=args.imgsz, device="cpu")),
            time.time() - t,
        )
    cli = None
    if not args.no_cli:
        yolo = Path(sys.executable).with_name("yolo")
        pt = work / "yolov12n.pt"
        cmd = [str(yolo), "benchmark", f"model={pt}", f"data={data}", f"imgsz={args.imgsz}", "device=cpu"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=work, env=env, timeout=3000)
        out = r.stdout + r.stderr
        start = out.rfind("Benchmarks complete")
        cli = (r.returncode, out[start:] if start >= 0 else out[-3000:])

    lines = [
        "# Ultralytics' `benchmark()` with YOLOv12",
        "",
        f"Produced by `python benchmarks/ultralytics_benchmark.py {' '.join(sys.argv[1:])}`.",
        f"Ultralytics {ultralytics.__version__}, torch {torch.__version__}, {platform.python_version()}, "
        f"{os.cpu_count()} CPUs (shared with other jobs while measured: times are indicative), imgsz={args.imgsz}, "
        "data: the COCO8 copy in tests/data. Untrained deterministic weights (see the script): mAP only shows that "
        "validation ran; a ❌ row is a format whose export or runtime is not installed here (Ultralytics logs why), "
        "the same for every model.",
        "",
    ]
    for name, ((columns, body), seconds) in results.items():
        status = next(i for i, c in enumerate(columns) if c.startswith("Status"))  # 8.4.x adds an index column
        ok = sum(r[status] == "✅" for r in body)
        lines += [f"## {name}: {ok} of {len(body)} formats ✅ ({seconds:.0f} s)", "", *table(columns, body), ""]
    if cli is not None:
        lines += [
            "## `yolo benchmark model=yolov12n.pt data=coco8.yaml imgsz=" + f"{args.imgsz}` in a fresh interpreter",
            "",
            f"Exit status {cli[0]}.",
            "",
            "```",
            cli[1].strip(),
            "```",
            "",
        ]
    write_atomic(args.out, "\n".join(lines))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
