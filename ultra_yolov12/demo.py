"""Local web demo (Gradio, ``pip install 'ultra-yolov12[demo]'``): detections and the heat map of an uploaded image.

``ultra-yolov12 demo`` (or :func:`demo`) serves a page on ``http://127.0.0.1:7860``: upload an image, pick a model and a
confidence threshold, and see the annotated detections next to the backbone stage-3 heat map, plus a table of the
detections. It runs offline: the model list holds local checkpoints and the shipped YOLOv12 configs (random weights,
for trying the page without a download), Gradio's analytics and version checks are switched off, and the page uses
system fonts only. Any other model name (e.g. ``yolo11n.pt``) can be typed in; Ultralytics downloads it if it can.

The detection work is :class:`DemoEngine`, plain Python without Gradio, so it can be used and tested on its own.
"""

from __future__ import annotations

import copy
import os
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .heatmap import Net, _device, _prefix, activation_map, build_yolo, load, overlay, resolve_layer

__all__ = ["COLUMNS", "DemoEngine", "build", "default_models", "demo"]

COLUMNS = ["#", "class", "confidence", "x1", "y1", "x2", "y2"]
SHIPPED = ("yolov12n.yaml", "yolov12n-turbo.yaml")  # always offered: they build offline (random weights)
OFFLINE_ENV = {  # keep Gradio and huggingface_hub from phoning home; setdefault, so a user can still opt in
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}


def default_models(root: str | Path = ".", limit: int = 8) -> list[str]:
    """Models offered in the drop-down: ``*.pt`` in ``root``, the newest ``best.pt`` of Ultralytics' detect runs, then
    the shipped configs ``yolov12n.yaml`` and ``yolov12n-turbo.yaml``."""
    from ultralytics.utils import SETTINGS

    found = sorted(str(p) for p in Path(root).glob("*.pt"))
    runs = Path(SETTINGS["runs_dir"]) / "detect"
    if runs.is_dir():
        best = sorted(runs.glob("*/weights/best.pt"), key=lambda p: p.stat().st_mtime, reverse=True)
        found += [str(p) for p in best]
    out = list(dict.fromkeys(found))[:limit]
    return out + [m for m in SHIPPED if m not in out]


def _label(name: str) -> str:
    return f"{name} (untrained: random weights)" if Path(name).suffix in {".yaml", ".yml"} else name


class DemoEngine:
    """Loads models on first use and runs detection + heat map for one image; thread-safe (one request at a time).

    Args:
        imgsz (int): Inference size (long side) for detection and heat map.
        layer: Heat-map layer spec (see :func:`ultra_yolov12.heatmap.resolve_layer`); None: backbone stage 3.
        method (str): Heat-map reduction, ``"mean"`` or ``"eigen"``.
        max_det (int): Most detections listed.
        device: Torch device; None picks the first GPU if there is one.

    Examples:
        >>> engine = DemoEngine(imgsz=320)
        >>> boxes, heat, rows, summary = engine.run(rgb_image, "yolov12n.yaml", conf=0.25)  # doctest: +SKIP
    """

    def __init__(
        self, imgsz: int = 640, layer: int | str | None = None, method: str = "mean", max_det: int = 100, device=None
    ):
        self.imgsz, self.layer, self.method, self.max_det = int(imgsz), layer, method, int(max_det)
        self.device = _device(device)
        self._models: dict[str, tuple[Any, Net]] = {}
        self._lock = threading.Lock()

    def model(self, name: str) -> tuple[Any, Net]:
        """The ``YOLO`` object and a separate heat-map copy (prediction fuses Conv+BN in place) for ``name``."""
        name = name.strip()
        if name not in self._models:
            yolo = build_yolo(name)
            self._models[name] = yolo, load(copy.deepcopy(yolo.model), self.device)
            self._models[name][1].title = Path(name).stem
        return self._models[name]

    def run(
        self, image: np.ndarray, model: str, conf: float = 0.25, layer: int | str | None = None
    ) -> tuple[np.ndarray, np.ndarray, list[list], str]:
        """Detect and render for one image.

        Args:
            image (np.ndarray): ``(H, W, 3)`` RGB uint8 (Gradio's convention).
            model (str): Checkpoint path/name or model YAML.
            conf (float): Confidence threshold.
            layer: Heat-map layer; None uses the engine's.

        Returns:
            (tuple): Annotated image (RGB), heat-map overlay (RGB), rows of :data:`COLUMNS`, one-line Markdown summary.
        """
        if image is None:
            raise ValueError("upload an image first")
        if not model:
            raise ValueError("choose a model")
        bgr = np.ascontiguousarray(image[..., :3][..., ::-1])
        with self._lock:
            t0 = time.perf_counter()
            yolo, net = self.model(model)
            r = yolo.predict(
                bgr, conf=float(conf), imgsz=self.imgsz, max_det=self.max_det, device=self.device, verbose=False
            )[0]
            spec = self.layer if layer in (None, "") else layer
            lname, module = resolve_layer(net, spec)
            heat = activation_map(net, bgr, lname, imgsz=self.imgsz, method=self.method)
            ms = (time.perf_counter() - t0) * 1000
        names = r.names
        rows = []
        for i, (xyxy, c, k) in enumerate(zip(r.boxes.xyxy.tolist(), r.boxes.conf.tolist(), r.boxes.cls.tolist())):
            rows.append([i + 1, names[int(k)], float(f"{c:.3g}"), *(round(v) for v in xyxy)])
        found = ", ".join(f"{n} ×{c}" for n, c in Counter(row[1] for row in rows).most_common())
        summary = (
            f"**{len(rows)} detection{'s' * (len(rows) != 1)}**{f' ({found})' if found else ''} · "
            f"model `{Path(model).name}` · heat map `{lname}` ({type(module).__name__}) · {ms:.0f} ms"
        )
        boxes = cv2.cvtColor(r.plot(), cv2.COLOR_BGR2RGB)
        heat_rgb = cv2.cvtColor(overlay(bgr, heat), cv2.COLOR_BGR2RGB)
        return boxes, heat_rgb, rows, summary


def _kwargs_for(fn, **kwargs) -> dict:
    """The subset of ``kwargs`` that ``fn`` accepts (Gradio moved ``theme`` from ``Blocks`` to ``launch`` in 6.0)."""
    import inspect

    params = inspect.signature(fn).parameters
    return {k: v for k, v in kwargs.items() if k in params}


def build(
    models: Sequence[str] | str | None = None,
    conf: float = 0.25,
    imgsz: int = 640,
    layer: int | str | None = None,
    method: str = "mean",
    max_det: int = 100,
    device=None,
):
    """Build the Gradio app (not launched). Arguments as for :func:`demo`; returns ``(blocks, launch_kwargs)``."""
    for k, v in OFFLINE_ENV.items():
        os.environ.setdefault(k, v)
    try:
        import gradio as gr
    except ImportError as e:
        raise ImportError("the web demo needs Gradio: pip install 'ultra-yolov12[demo]'") from e

    if isinstance(models, str):
        models = [m for m in models.split(",") if m.strip()]
    choices = list(dict.fromkeys([*(models or []), *default_models()]))
    engine = DemoEngine(imgsz=imgsz, layer=layer, method=method, max_det=max_det, device=device)
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])

    def on_run(image, model, conf, layer_text):
        try:
            return engine.run(image, model, conf, layer_text.strip() or None)
        except (ValueError, FileNotFoundError, RuntimeError) as e:
            raise gr.Error(str(e)) from e

    with gr.Blocks(title="ultra-yolov12 demo", **_kwargs_for(gr.Blocks.__init__, theme=theme)) as blocks:
        gr.Markdown(
            "## ultra-yolov12: YOLOv12 detections and heat maps\n"
            "Upload an image: detections on the left, on the right where the chosen layer activates "
            "(default: the last block of backbone stage 3, as in the paper's Figure 5)."
        )
        with gr.Row():
            with gr.Column(scale=1):
                image = gr.Image(type="numpy", label="Image", sources=["upload"], elem_id="input-image")
                model = gr.Dropdown(
                    [(_label(m), m) for m in choices],
                    value=choices[0],
                    label="Model",
                    allow_custom_value=True,
                    elem_id="model",
                )
                threshold = gr.Slider(0.0, 1.0, value=float(conf), step=0.001, label="Confidence", elem_id="conf")
                layer_box = gr.Textbox(
                    value="" if layer is None else str(layer),
                    label="Heat-map layer (empty: backbone stage 3; e.g. 6, model.8, A2C2f, stage2)",
                    elem_id="layer",
                )
                button = gr.Button("Detect", variant="primary", elem_id="run")
            with gr.Column(scale=2):
                with gr.Row():
                    boxes = gr.Image(type="numpy", label="Detections", interactive=False, elem_id="result-image")
                    heat = gr.Image(type="numpy", label="Heat map", interactive=False, elem_id="heatmap-image")
                summary = gr.Markdown(elem_id="summary")
                table = gr.Dataframe(headers=COLUMNS, label="Detections", interactive=False, elem_id="detections")
        inputs, outputs = [image, model, threshold, layer_box], [boxes, heat, table, summary]
        button.click(on_run, inputs, outputs)
        image.upload(on_run, inputs, outputs)
    return blocks, _kwargs_for(gr.Blocks.launch, theme=theme)


def demo(
    models: Sequence[str] | str | None = None,
    conf: float = 0.25,
    imgsz: int = 640,
    layer: int | str | None = None,
    method: str = "mean",
    max_det: int = 100,
    device: str | int | None = None,
    host: str = "127.0.0.1",
    port: int | None = 7860,
    share: bool = False,
    inbrowser: bool = False,
) -> None:
    """Serve the web demo until interrupted (Ctrl-C).

    Args:
        models: Models offered first in the drop-down (comma-separated string or list); the local ``*.pt``, recent
            ``runs/detect/*/weights/best.pt`` and the shipped ``yolov12n.yaml``/``yolov12n-turbo.yaml`` follow.
        conf (float): Initial confidence threshold.
        imgsz (int): Inference size (long side).
        layer: Initial heat-map layer; None: last block of backbone stage 3.
        method (str): Heat-map reduction, "mean" or "eigen".
        max_det (int): Most detections shown.
        device: "cpu", "cuda:0", 0...; None picks the first GPU if there is one.
        host (str): Interface to listen on; 127.0.0.1 keeps the page on this machine (0.0.0.0 shares it on the LAN).
        port (int | None): Port; None lets Gradio pick a free one from 7860 up.
        share (bool): Ask Gradio for a public share link (needs the internet).
        inbrowser (bool): Open the page in the default browser.
    """
    from ultralytics.utils import LOGGER

    blocks, launch_kwargs = build(models, conf, imgsz, layer, method, max_det, device)
    LOGGER.info(f"{_prefix()}starting the web demo on http://{host}:{port or 7860} (Ctrl-C stops it)")
    blocks.queue().launch(
        server_name=host, server_port=port, share=share, inbrowser=inbrowser, show_error=True, **launch_kwargs
    )
