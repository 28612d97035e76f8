"""Side-by-side benchmark of ultra-yolov12 and Ultralytics' built-in YOLO12 (same weights); writes docs/benchmarks/.

    python benchmarks/run.py            # scales n and s: CPU latency, training step, ONNX Runtime, GPU if present
    python benchmarks/run.py --quick    # scale n, fewer repetitions
    OMP_WAIT_POLICY=PASSIVE python benchmarks/run.py --timer cpu   # on a machine shared with other jobs
    python benchmarks/run.py --only train   # re-measure the training rows, keep the others of the last report

The suite itself is ``ultra_yolov12.benchmark.run`` (also ``ultra-yolov12 benchmark``); its docstring gives the
method of every row. This script only points its output at ``docs/benchmarks/``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # a source checkout runs its own package
os.environ.setdefault("YOLO_OFFLINE", "1")

from ultra_yolov12.benchmark import run  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="scale n only, fewer repetitions")
    ap.add_argument("--scales", default=None, help="comma-separated scales (default: n,s; --quick: n)")
    ap.add_argument("--threads", type=int, default=None, help="torch/ONNX Runtime threads (default: logical cores)")
    ap.add_argument("--timer", choices=("wall", "cpu"), default="wall", help="wall clock or process CPU time")
    ap.add_argument("--no-train", action="store_true", help="skip the training-step rows")
    ap.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime rows")
    ap.add_argument(
        "--mode", choices=("subprocess", "inprocess"), default="subprocess", help="fresh processes per side"
    )
    ap.add_argument("--compile", action="store_true", help="add the torch.compile row (minutes of compiling)")
    ap.add_argument(
        "--only", default=None, help="row groups to run, e.g. train (updates the earlier report's other rows as kept)"
    )
    ap.add_argument("--imgsz", type=int, default=640, help="input size (the targets are defined at 640)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks", help="output directory")
    a = ap.parse_args()
    run(
        quick=a.quick,
        scales=a.scales,
        threads=a.threads,
        timer=a.timer,
        train=not a.no_train,
        onnx=not a.no_onnx,
        out=a.out,
        imgsz=a.imgsz,
        mode=a.mode,
        compile=a.compile,
        only=a.only,
    )


if __name__ == "__main__":
    main()
