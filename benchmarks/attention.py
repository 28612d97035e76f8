"""The measurements behind the automatic attention backend on CPU (``ultra_yolov12.nn.backends.choose``).

    python benchmarks/attention.py [--quick] [--timer cpu]

Times one attention call (forward, and forward + backward) of each backend on the q/k/v that AAttn really passes:
strided ``(B * area, tokens, heads, 32)`` views of a channels-last projection. Shapes are those of YOLOv12's stages
at 320-640 (tokens per strip 100-1600, 1-8 heads, batch 1-16). For comparison, the column "sdpa 5-D" runs SDPA on the
``(B, heads, area, tokens, d)`` permuted tensors of the plugin's first version: PyTorch's fused CPU kernel only takes
4-D inputs whose last dimension is contiguous, so that call fell back to the slow composite path, which is why SDPA
once looked slower than eager at batch 1. Writes ``docs/benchmarks/attention.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # a source checkout runs its own package
os.environ.setdefault("YOLO_OFFLINE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import ultra_yolov12.benchmark as C  # noqa: E402
from ultra_yolov12.nn.backends import attend  # noqa: E402

D = 32  # head_dim: YOLOv12 uses one head per 32 channels
# (batch, area, tokens per strip, heads): yolov12n/s P4 (area 4) and P5 (area 1) at 640 and 320, plus larger
SHAPES = [
    (1, 4, 100, 2),
    (1, 1, 100, 4),
    (1, 4, 400, 2),
    (1, 1, 400, 4),
    (1, 4, 400, 4),
    (1, 1, 1600, 2),
    (8, 4, 400, 2),
    (8, 1, 400, 4),
    (16, 4, 400, 2),
    (1, 4, 400, 8),
]
QUICK = [SHAPES[i] for i in (0, 2, 3, 6)]


def qkv(batch: int, area: int, tokens: int, heads: int, dtype, grad: bool):
    """q, k, v views exactly as AAttn makes them from a channels-last qkv projection."""
    base = torch.randn(batch * area, tokens, heads, 3 * D, dtype=dtype) * 0.5
    base.requires_grad_(grad)
    return base, base.split(D, dim=-1)


def old_layout(q: torch.Tensor, area: int) -> torch.Tensor:
    ba, n, h, d = q.shape
    return q.reshape(ba // area, area, n, h, d).permute(0, 3, 1, 2, 4)  # (B, heads, area, tokens, d), strided


def run_case(shape, dtype, grad: bool, reps: int, timer) -> dict:
    batch, area, tokens, heads = shape
    base, (q, k, v) = qkv(batch, area, tokens, heads, dtype, grad)

    def call(fn):
        def f():
            with torch.set_grad_enabled(grad):
                y = fn()
                if grad:
                    y.sum().backward()
                    base.grad = None

        return f

    fns = {
        "eager": call(lambda: attend(q, k, v, "eager")),
        "sdpa": call(lambda: attend(q, k, v, "sdpa")),
    }
    if not grad and dtype == torch.float32:
        q5, k5, v5 = (old_layout(t, area) for t in (q, k, v))
        fns["sdpa 5-D"] = call(lambda: F.scaled_dot_product_attention(q5, k5, v5))
    t = C.interleaved(fns, reps=reps, warmup=2, timer=timer)
    med = {k: sorted(x)[len(x) // 2] for k, x in t.items()}
    return {"shape": shape, "dtype": str(dtype)[6:], "grad": grad, **med}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--timer", choices=("wall", "cpu"), default="wall")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks" / "attention.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    timer = time.perf_counter if args.timer == "wall" else time.process_time
    shapes = QUICK if args.quick else SHAPES
    reps = 5 if args.quick else 15
    cases = [(torch.float32, False), (torch.float32, True), (torch.bfloat16, False), (torch.bfloat16, True)]
    cases += [(torch.float16, False), (torch.float16, True)]
    info = C.machine_info(args.threads)
    lines = ["# CPU attention backends: eager vs SDPA on AAttn's strided q/k/v", ""]
    lines += [f"Produced by `python benchmarks/attention.py{' --quick' if args.quick else ''} --timer {args.timer}`."]
    lines += [""] + C.machine_lines(info) + [""]
    lines += [
        "One call per row, median of interleaved runs; `sdpa / eager` below 1 means SDPA is faster.",
        "",
        "| dtype | mode | batch x area, tokens, heads | eager | sdpa | sdpa / eager | sdpa 5-D (old) |",
        "|---|---|---|---|---|---|---|",
    ]
    for dtype, grad in cases:
        for shape in shapes:
            r = run_case(shape, dtype, grad, reps, timer)
            b, a, n, h = shape
            old = f"{r['sdpa 5-D'] * 1e3:.2f} ms ({r['sdpa 5-D'] / r['eager']:.2f}x)" if "sdpa 5-D" in r else "-"
            lines.append(
                f"| {r['dtype']} | {'fwd+bwd' if grad else 'fwd'} | {b}x{a}, {n}, {h} | {r['eager'] * 1e3:.2f} ms "
                f"| {r['sdpa'] * 1e3:.2f} ms | **{r['sdpa'] / r['eager']:.2f}** | {old} |"
            )
            print(lines[-1], flush=True)
    info["loadavg_end"] = os.getloadavg()
    lines += [
        "",
        "Rule derived (`ultra_yolov12/nn/backends.py::choose`): CPU fp32 -> sdpa (inference and training); CPU",
        "fp16/bf16 inference -> sdpa; CPU fp16/bf16 with gradients -> eager (SDPA's half-precision CPU backward",
        "was not faster). No shape threshold: SDPA won at every fp32 shape measured.",
        "",
    ]
    C.write_atomic(args.out, "\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
