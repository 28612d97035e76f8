"""int8 YOLOv12 against its own fp32 export: detection agreement on real images and latency.

    python benchmarks/int8.py v1.0=<yolov12n .pt> turbo=<yolov12n-turbo .pt> [--data coco8.yaml] [--rounds 15]

For each checkpoint: fp32 ONNX and OpenVINO exports at 640 (batch 1), then int8 from them, calibrated on the data's
``val`` images:
- OpenVINO: ``YOLO(pt).export(format="openvino", int8=True, data=...)`` (NNCF) with the plugin's default (attention
  ops at float precision), with ``ULTRA_YOLOV12_INT8_ATTENTION=int8`` (everything Ultralytics quantizes) and with
  ``ULTRA_YOLOV12_INT8_RANGES=minmax`` (activation ranges: min/max over all calibration images, not NNCF's mean of
  each image's min/max); a checkpoint without ``AAttn`` (e.g. yolo11n, for comparison) gets Ultralytics' own export
  and the minmax one;
- ONNX Runtime: ``ultra_yolov12.quantize.quantize_onnx`` with ``keep_attention=True`` and ``False``.
Agreement: every int8 model predicts (``conf=0.001``) bus.jpg, zidane.jpg and the data's images; its fp32 twin's
detections with score >= ``--ref-conf`` are the ground truth of a pycocotools mAP (``quantize.agreement``); matched
box IoU and score differences are those of each reference box's best same-class int8 box. Latency: the runtime alone
(ONNX Runtime session / OpenVINO compiled model, latency hint, default precision), one 640 image, fp32 and int8
alternated for ``--rounds`` rounds, medians. Writes ``docs/benchmarks/int8.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # a source checkout runs its own package
os.environ.setdefault("YOLO_OFFLINE", "true")

import numpy as np  # noqa: E402

from ultra_yolov12 import quantize  # noqa: E402
from ultra_yolov12.files import write_atomic  # noqa: E402

IMGSZ = 640


def dets(model, images, conf):
    out = []
    for im in images:
        b = model.predict(im, imgsz=IMGSZ, conf=conf, device="cpu", verbose=False)[0].boxes
        out.append((b.cls.numpy(), b.conf.numpy(), b.xyxy.numpy()))
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt, rb = np.maximum(a[:2], b[:, :2]), np.minimum(a[2:], b[:, 2:])
    inter = np.clip(rb - lt, 0, None).prod(1)
    return inter / ((a[2:] - a[:2]).prod() + (b[:, 2:] - b[:, :2]).prod(1) - inter)


def matched(ref, cand, ref_conf):
    """Median and 5th-percentile IoU, and median/max score difference, of each reference box's best int8 box."""
    ious, dscore = [], []
    for (rc, rs, rb), (cc, cs, cb) in zip(ref, cand):
        for c, s, b in zip(rc, rs, rb):
            if s < ref_conf:
                continue
            same = cc == c
            if not same.any():
                ious.append(0.0)
                continue
            iou = _iou(b, cb[same])
            j = int(iou.argmax())
            ious.append(float(iou[j]))
            dscore.append(abs(float(cs[same][j]) - float(s)))
    ious, dscore = np.array(ious), np.array(dscore or [np.nan])
    return {
        "boxes": len(ious),
        "iou_median": float(np.nanmedian(ious)),  # nan: a zero-area reference box
        "iou_p5": float(np.nanpercentile(ious, 5)),
        "matched_iou50": float((ious > 0.5).mean()),
        "score_diff_median": float(np.nanmedian(dscore)),
        "score_diff_max": float(np.nanmax(dscore)),
    }


def runner(path: str):
    """A function running the exported model once on a fixed 640 input (runtime only, no pre/post-processing)."""
    x = np.random.default_rng(0).random((1, 3, IMGSZ, IMGSZ), dtype=np.float32)
    if path.endswith(".onnx"):
        import onnxruntime as ort

        s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        name = s.get_inputs()[0].name
        return lambda: s.run(None, {name: x})
    import openvino as ov

    compiled = ov.Core().compile_model(str(next(Path(path).glob("*.xml"))), "CPU", {"PERFORMANCE_HINT": "LATENCY"})
    return lambda: compiled(x)


def latency(paths: dict[str, str], rounds: int) -> dict[str, float]:
    """Median ms of each model, the models alternated round by round (3 calls a round, after 3 warm-up calls)."""
    fns = {k: runner(p) for k, p in paths.items()}
    times = {k: [] for k in fns}
    for f in fns.values():
        for _ in range(3):
            f()
    for _ in range(rounds):
        for k, f in fns.items():
            t = time.perf_counter()
            for _ in range(3):
                f()
            times[k].append((time.perf_counter() - t) / 3 * 1000)
    return {k: float(np.median(v)) for k, v in times.items()}


def openvino_int8(pt: Path, data: str, **env: str) -> str:
    from ultralytics import YOLO

    os.environ.update(env)
    try:
        return YOLO(pt).export(format="openvino", int8=True, data=data, imgsz=IMGSZ, device="cpu")
    finally:
        for k in env:
            os.environ.pop(k)


def family(name: str, src: Path, data: str, images: list[Path], work: Path, rounds: int, ref_conf: float) -> dict:
    from ultralytics import YOLO

    d = work / name
    d.mkdir(parents=True, exist_ok=True)
    pt = d / "model.pt"
    shutil.copy(src, pt)
    fp_onnx = YOLO(pt).export(format="onnx", imgsz=IMGSZ, device="cpu")
    fp_ov = YOLO(pt).export(format="openvino", imgsz=IMGSZ, device="cpu")
    variants = {}  # name -> (path, fp32 twin)

    def ov_int8(label: str, folder: str | None = None, **env: str) -> None:
        path = openvino_int8(pt, data, **env)  # each export writes the same folder: move the earlier ones away
        variants[label] = (str(shutil.move(path, d / folder) if folder else path), fp_ov)

    minmax = {quantize.RANGES_ENV: "minmax"}
    if any(type(m).__name__ == "AAttn" for m in YOLO(pt).model.modules()):
        ov_int8("openvino int8, attention int8", "attention_int8_openvino_model", **{quantize.ATTENTION_ENV: "int8"})
        ov_int8("openvino int8, attention fp, minmax ranges", "minmax_openvino_model", **minmax)
        ov_int8("openvino int8, attention fp (default)")
    else:  # a stock model for comparison
        ov_int8("openvino int8, minmax ranges", "minmax_openvino_model", **minmax)
        ov_int8("openvino int8 (Ultralytics' own)")
    for keep in (False, True):
        out = d / f"model_int8_{'keep' if keep else 'all'}.onnx"
        label = f"onnxruntime int8, attention {'fp32 (default)' if keep else 'int8'}"
        variants[label] = (str(quantize.quantize_onnx(fp_onnx, data, output=out, keep_attention=keep)), fp_onnx)
    refs = {p: dets(YOLO(p, task="detect"), images, ref_conf) for p in (fp_onnx, fp_ov)}
    rows = []
    for label, (path, twin) in variants.items():
        cand = dets(YOLO(path, task="detect"), images, 0.001)
        ms = latency({"fp32": twin, "int8": path}, rounds)
        rows.append(
            {
                "variant": label,
                **quantize.agreement(refs[twin], cand, ref_conf=ref_conf),
                **matched(refs[twin], cand, ref_conf),
                "fp32_ms": ms["fp32"],
                "int8_ms": ms["int8"],
                "ratio": ms["int8"] / ms["fp32"],
            }
        )
    return {"family": name, "checkpoint": str(src), "rows": rows}


def markdown(results: list[dict], args, cmd: str) -> str:
    import onnxruntime
    import openvino
    import ultralytics

    try:
        import nncf

        nncf_v = nncf.__version__
    except ImportError:
        nncf_v = "-"
    lines = [
        "# int8 YOLOv12: agreement with fp32 and latency",
        "",
        f"Produced by `{cmd}` (see the script's docstring for the method). Ultralytics {ultralytics.__version__}, "
        f"ONNX Runtime {onnxruntime.__version__}, OpenVINO {openvino.__version__}, NNCF {nncf_v}; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (shared with other jobs while "
        f"measured: latencies are alternated-round medians, ratios are the reliable part). Images: bus.jpg, "
        f"zidane.jpg and the {len(args.images) - 2} COCO8 images; calibration: the COCO8 val images. "
        f"Reference: the fp32 export's detections with score >= {args.ref_conf}.",
        "",
        "| model | variant | ref boxes | agreement mAP50-95 | mAP50 | IoU median | IoU p5 | matched (IoU>0.5) "
        "| |score diff| median / max | fp32 ms | int8 ms | int8/fp32 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        for row in r["rows"]:
            lines.append(
                f"| {r['family']} | {row['variant']} | {row['gt']} | {row['mAP50-95']:.3f} | {row['mAP50']:.3f} | "
                f"{row['iou_median']:.3f} | {row['iou_p5']:.3f} | {row['matched_iou50']:.2f} | "
                f"{row['score_diff_median']:.3f} / {row['score_diff_max']:.3f} | {row['fp32_ms']:.1f} | "
                f"{row['int8_ms']:.1f} | {row['ratio']:.2f} |"
            )
    lines += [
        "",
        "Checkpoints: " + "; ".join(f"{r['family']}: {args.notes.get(r['family'], r['checkpoint'])}" for r in results),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoints", nargs="+", help="name=path.pt, e.g. v1.0=best.pt turbo=best-turbo.pt")
    ap.add_argument("--data", default=str(ROOT / "tests" / "data" / "coco8.yaml"))
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--ref-conf", type=float, default=0.25)
    ap.add_argument("--note", action="append", default=[], help="name=text describing a checkpoint in the report")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks" / "int8.md")
    args = ap.parse_args()
    from ultralytics.utils import ASSETS

    work = Path(tempfile.mkdtemp(prefix="int8_"))
    data = Path(args.data).resolve()  # a copy with an absolute path: Ultralytics writes label caches next to it
    shutil.copytree(data.parent / "coco8", work / "coco8")
    (work / "coco8.yaml").write_text(data.read_text().replace("path: coco8", f"path: {work / 'coco8'}"))
    args.images = [ASSETS / "bus.jpg", ASSETS / "zidane.jpg", *sorted((work / "coco8" / "images").rglob("*.jpg"))]
    args.notes = dict(n.split("=", 1) for n in args.note)
    results = []
    for spec in args.checkpoints:
        name, path = spec.split("=", 1)
        results.append(
            family(name, Path(path), str(work / "coco8.yaml"), args.images, work, args.rounds, args.ref_conf)
        )
    cmd = "python benchmarks/int8.py " + " ".join(sys.argv[1:])
    write_atomic(args.out.with_suffix(".json"), json.dumps(results, indent=1))
    write_atomic(args.out, markdown(results, args, cmd))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
