"""Activation heat maps of any Ultralytics detection model (the paper's Figure 5), alone or side by side.

The paper compares "heat maps from the third stage of the backbone" of YOLOv10, YOLO11 and YOLOv12. Here a backbone
*stage* is defined by output stride, measured with a small probe forward pass: stage ``s`` (1-4) is the run of backbone
layers whose output has stride ``2**(s+1)`` (stage 1: 4, stage 2: 8, stage 3: 16, stage 4: 32), and the default layer is
the **last backbone layer of stage 3** (stride 16). The backbone is the model YAML's ``backbone`` list. That gives:

=====================================  =========  ============================================
model                                  default    module
=====================================  =========  ============================================
YOLOv12 v1.0 / turbo (all scales)      6          A2C2f / A2C2fTurbo (the first area attention)
Ultralytics YOLO12, YOLO11             6          A2C2f, C3k2
YOLOv8, YOLOv10                        6          C2f
=====================================  =========  ============================================

A map is the channel mean of the layer's absolute activations (``method="mean"``) or its projection on the first
principal component across channels (``method="eigen"``, Eigen-CAM), min-max normalised to [0, 1], resized to the input
image and blended onto it with a per-pixel weight ``alpha * heat``: cold pixels keep the image's own colours.

Examples:
    >>> import ultra_yolov12
    >>> ultra_yolov12.heatmap("yolov12n.pt", "images/", compare=["yolo11n.pt"])  # doctest: +SKIP
    PosixPath('.../runs/heatmap/exp')
"""

from __future__ import annotations

import contextlib
import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import cv2
import numpy as np
import torch
from torch import nn

from .files import write_atomic

__all__ = [
    "Net",
    "activation_map",
    "build_yolo",
    "default_layer",
    "heatmap",
    "layers",
    "load",
    "overlay",
    "resolve_layer",
]

ModelLike = Union[str, Path, nn.Module, Any]  # a path/name, an ultralytics YOLO object or a DetectionModel
METHODS = ("mean", "eigen")
PAD = 114  # letterbox grey, as Ultralytics' predictor
GAP = 8  # pixels between the panels of a comparison
LAYERS = (nn.Sequential, nn.ModuleList)  # how Ultralytics models hold their top-level layers


def _prefix() -> str:
    from ultralytics.utils import colorstr

    return colorstr("ultra-yolov12: ")


class _Captured(Exception):
    """Raised by the capture hook to stop the forward pass once the chosen layer has run."""


@dataclass
class Net:
    """A PyTorch detection model ready for heat maps.

    Attributes:
        model (nn.Module): The Ultralytics model (``DetectionModel`` or similar) in eval mode.
        title (str): Short name used in titles, e.g. ``"yolov12n"``.
        strides (list[int | None]): Output stride of every top-level layer (None if it does not output a map).
        backbone (int): Number of leading top-level layers that form the backbone.
    """

    model: nn.Module
    title: str
    strides: list
    backbone: int

    @property
    def blocks(self) -> nn.Module:
        return self.model.model


def _device(device: str | int | torch.device | None) -> torch.device:
    if device is None or device == "":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if isinstance(device, int) or (isinstance(device, str) and device.isdigit()):
        return torch.device(f"cuda:{device}")
    return torch.device(device)


def _title(spec: Any) -> str:
    if isinstance(spec, (str, Path)):
        return Path(str(spec)).stem
    for attr in ("ckpt_path", "cfg"):  # ultralytics YOLO objects
        value = getattr(spec, attr, None)
        if isinstance(value, (str, Path)) and value:
            return Path(str(value)).stem
    yaml = getattr(spec, "yaml", None)
    if isinstance(yaml, dict) and yaml.get("yaml_file"):
        return Path(yaml["yaml_file"]).stem
    return type(spec).__name__


def load(model: ModelLike, device: str | int | torch.device | None = None) -> Net:
    """Load ``model`` for heat maps: a ``.pt`` checkpoint, a model YAML, an ultralytics ``YOLO`` or a module.

    Models built from a YAML get random weights from a fixed seed (0), so the same YAML always gives the same maps;
    the global random state is left untouched.

    Args:
        model: Checkpoint path or name (``"yolov12n.pt"``), config (``"yolo11n.yaml"``), ``YOLO`` object, or an
            Ultralytics model module (with ``.model`` holding its layers).
        device: ``"cpu"``, ``"cuda:0"``, ``0``...; None picks the first GPU if there is one.

    Returns:
        (Net): The model in eval mode on ``device``, its title, per-layer strides and backbone length.
    """
    title = _title(model)
    module = build_yolo(model) if isinstance(model, (str, Path)) else model
    if not isinstance(module, nn.Module) or not isinstance(getattr(module, "model", None), LAYERS):
        module = getattr(module, "model", None)  # YOLO object -> its DetectionModel
    if not isinstance(module, nn.Module) or not isinstance(getattr(module, "model", None), LAYERS):
        raise ValueError(
            f"heat maps need a PyTorch Ultralytics model (.pt checkpoint, model YAML, YOLO object), got {title!r}; "
            "exported formats (ONNX, TensorRT, ...) have no layers to hook"
        )
    module = module.to(_device(device)).eval()
    return Net(module, title, _strides(module), _backbone_length(module))


def build_yolo(model: str | Path) -> Any:
    """``ultralytics.YOLO(model)``; a model YAML gets its random weights from seed 0 (global RNG state untouched)."""
    from ultralytics import YOLO

    if Path(str(model)).suffix not in {".yaml", ".yml"}:
        return YOLO(str(model), verbose=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return YOLO(str(model), verbose=False)


def _backbone_length(model: nn.Module) -> int:
    yaml = getattr(model, "yaml", None)
    if isinstance(yaml, dict) and isinstance(yaml.get("backbone"), list):
        return len(yaml["backbone"])
    # No config: the backbone ends where the first layer upsamples or takes several inputs.
    for i, m in enumerate(model.model):
        if isinstance(m, nn.Upsample) or isinstance(getattr(m, "f", -1), (list, tuple)):
            return i
    return len(model.model)


def _strides(model: nn.Module) -> list:
    """Output stride of each top-level layer, from a forward pass on a blank probe image."""
    stride = getattr(model, "stride", None)
    max_stride = int(stride.max()) if isinstance(stride, torch.Tensor) and stride.numel() else 32
    size = max(128, 4 * max_stride)
    shapes: dict[int, int | None] = {}

    def record(i):
        def hook(module, inputs, output):
            shapes[i] = output.shape[-1] if isinstance(output, torch.Tensor) and output.ndim == 4 else None

        return hook

    handles = [m.register_forward_hook(record(i)) for i, m in enumerate(model.model)]
    p = next(model.parameters())
    try:
        with torch.inference_mode():
            model(torch.zeros(1, 3, size, size, dtype=p.dtype, device=p.device))
    finally:
        for h in handles:
            h.remove()
    return [size // shapes[i] if shapes.get(i) else None for i in range(len(model.model))]


def layers(model: ModelLike | Net) -> list[str]:
    """Describe every top-level layer as ``"6 A2C2f (stride 16, backbone)"``: the valid values of ``layer=``."""
    net = model if isinstance(model, Net) else load(model, "cpu")
    rows = []
    for i, m in enumerate(net.blocks):
        where = "backbone" if i < net.backbone else "head"
        s = net.strides[i]
        rows.append(f"{i} {type(m).__name__} ({f'stride {s}, ' if s else ''}{where})")
    return rows


def default_layer(model: ModelLike | Net, stage: int = 3) -> int:
    """Index of the last backbone layer of ``stage`` (output stride ``2**(stage+1)``); stage 3 is the paper's choice."""
    net = model if isinstance(model, Net) else load(model, "cpu")
    stride = 2 ** (stage + 1)
    found = [i for i in range(net.backbone) if net.strides[i] == stride]
    if not found:
        raise ValueError(
            f"{net.title} has no backbone layer with stride {stride} (stage {stage}); choose a layer with layer=...: "
            + "; ".join(layers(net))
        )
    return found[-1]


def _default_or_none(net: Net) -> int | None:
    try:
        return default_layer(net)
    except ValueError:
        return None


def resolve_layer(net: Net, layer: int | str | None = None) -> tuple[str, nn.Module]:
    """Find the module for a layer spec; returns its dotted name (``"model.6"``) and the module.

    Args:
        net (Net): A loaded model (see :func:`load`).
        layer: None (stage 3, the default), an index (``6``, ``-2``, ``"6"``), ``"stage1"``-``"stage4"``, a module name
            (``"model.6"``, ``"model.6.m.0"``, or without the ``model.`` prefix) or a layer type (``"A2C2f"``: the
            occurrence nearest the default layer, the earlier one on a tie).

    Raises:
        ValueError: Unknown layer; the message lists the valid ones.
    """
    name, module = _find(net, layer)
    i = int(name.split(".")[1])
    if name == f"model.{i}" and net.strides[i] is None:  # a top-level layer the probe saw output no feature map
        raise ValueError(
            f"layer {name} ({type(module).__name__}) of {net.title} does not output a feature map; "
            "choose a layer before the head's output: " + "; ".join(layers(net))
        )
    return name, module


def _find(net: Net, layer: int | str | None) -> tuple[str, nn.Module]:
    blocks = net.blocks
    spec = layer.strip() if isinstance(layer, str) else layer
    if spec is None or spec == "":
        i = default_layer(net)
        return f"model.{i}", blocks[i]
    if isinstance(spec, bool):
        spec = str(spec)
    if isinstance(spec, int) or (isinstance(spec, str) and re.fullmatch(r"-?\d+", spec)):
        i = int(spec)
        if -len(blocks) <= i < len(blocks):
            i %= len(blocks)
            return f"model.{i}", blocks[i]
    elif isinstance(spec, str):
        stage = re.fullmatch(r"stage\s*([1-9])", spec.lower())
        if stage:
            i = default_layer(net, int(stage.group(1)))
            return f"model.{i}", blocks[i]
        named = dict(net.model.named_modules())
        for name in (spec, f"model.{spec}"):
            if name.startswith("model.") and name in named:
                return name, named[name]
        for fold in (str, str.lower):  # exact type name first, then case-insensitive
            hits = [i for i, m in enumerate(blocks) if fold(type(m).__name__) == fold(spec)]
            if hits:  # the occurrence nearest the default layer (earlier on a tie): A2C2f -> the stage-3 one
                ref = _default_or_none(net)
                i = hits[-1] if ref is None else min(hits, key=lambda j: (abs(j - ref), j))
                return f"model.{i}", blocks[i]
    names = [type(m).__name__ for m in blocks] + [f"model.{i}" for i in range(len(blocks))] + ["stage3"]
    close = difflib.get_close_matches(str(spec), names, n=1, cutoff=0.6)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise ValueError(
        f"layer {spec!r} is not a layer of {net.title}.{hint} Valid layers: an index, a type name or "
        f"'model.<index>' of {'; '.join(layers(net))}; 'stage1'-'stage4'; "
        f"or a submodule name such as 'model.{net.backbone - 1}.m.0'"
    )


def _read(image: str | Path | np.ndarray) -> np.ndarray:
    if isinstance(image, np.ndarray):
        img = image
    else:
        img = cv2.imread(str(image), cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(f"cannot read image '{image}': not a file OpenCV can decode")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(img.astype(np.uint8, copy=False))


def _letterbox(img: np.ndarray, imgsz: int, multiple: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Resize the long side to ``imgsz`` and pad (grey, centred) to multiples of ``multiple``; returns the crop box."""
    h, w = img.shape[:2]
    r = imgsz / max(h, w)
    nh, nw = max(1, round(h * r)), max(1, round(w * r))
    ph, pw = -(-nh // multiple) * multiple, -(-nw // multiple) * multiple
    top, left = (ph - nh) // 2, (pw - nw) // 2
    out = np.full((ph, pw, 3), PAD, dtype=np.uint8)
    out[top : top + nh, left : left + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out, (top, left, nh, nw)


def _reduce(act: torch.Tensor, method: str) -> torch.Tensor:
    """(C, h, w) activations -> (h, w) map in [0, 1]."""
    a = act.float()
    mean = a.abs().mean(0)
    if method == "mean":
        m = mean
    else:  # Eigen-CAM: projection of each position's channel vector on the first principal component
        x = a.flatten(1).T  # (h*w, C)
        x = x - x.mean(0, keepdim=True)
        _, _, vh = torch.linalg.svd(x, full_matrices=False)
        m = (x @ vh[0]).reshape(mean.shape)
        if torch.sum((m - m.mean()) * (mean - mean.mean())) < 0:  # an eigenvector's sign is arbitrary
            m = -m
    lo, hi = m.min(), m.max()
    return (m - lo) / (hi - lo) if hi > lo else torch.zeros_like(m)


def activation_map(
    model: ModelLike | Net,
    image: str | Path | np.ndarray,
    layer: int | str | None = None,
    imgsz: int = 640,
    method: str = "mean",
) -> np.ndarray:
    """Heat map of one layer's activation for one image, at the image's size.

    Args:
        model: Anything :func:`load` accepts, or a loaded :class:`Net` (faster when called repeatedly).
        image: Image path or a BGR ``uint8`` array (OpenCV convention) of shape ``(H, W, 3)``.
        layer: Layer spec, see :func:`resolve_layer`; None is the last block of backbone stage 3.
        imgsz (int): Long side of the network input (the image is letterboxed as by Ultralytics' predictor).
        method (str): ``"mean"`` (channel mean of |activation|) or ``"eigen"`` (first principal component).

    Returns:
        (np.ndarray): ``(H, W)`` float32 map in [0, 1].
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    net = model if isinstance(model, Net) else load(model)
    img = _read(image)
    name, module = resolve_layer(net, layer)
    stride = getattr(net.model, "stride", None)
    multiple = int(stride.max()) if isinstance(stride, torch.Tensor) and stride.numel() else 32
    boxed, (top, left, nh, nw) = _letterbox(img, int(imgsz), multiple)
    p = next(net.model.parameters())
    x = torch.from_numpy(boxed[..., ::-1].transpose(2, 0, 1).copy()).to(p.device, p.dtype).div_(255).unsqueeze(0)
    captured = []

    def hook(mod, inputs, output):
        captured.append(output)
        raise _Captured

    handle = module.register_forward_hook(hook)
    try:
        with torch.inference_mode(), contextlib.suppress(_Captured):
            net.model(x)
    finally:
        handle.remove()
    out = captured[0] if captured else None
    if not isinstance(out, torch.Tensor) or out.ndim != 4:
        raise ValueError(
            f"layer {name} ({type(module).__name__}) of {net.title} does not output a feature map "
            f"(got {type(out).__name__}); choose a layer before the head's output: " + "; ".join(layers(net))
        )
    heat = _reduce(out[0], method)[None, None]
    ph, pw = boxed.shape[:2]
    heat = torch.nn.functional.interpolate(heat, size=(ph, pw), mode="bilinear", align_corners=False)[0, 0]
    heat = heat[top : top + nh, left : left + nw].cpu().numpy()
    h, w = img.shape[:2]
    return np.clip(cv2.resize(heat, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0).astype(np.float32)


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5, colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
    """Blend a colour-mapped heat map onto a BGR image with per-pixel weight ``alpha * heat``.

    Args:
        image (np.ndarray): ``(H, W, 3)`` BGR uint8.
        heat (np.ndarray): ``(H, W)`` float map in [0, 1].
        alpha (float): Opacity of the colour where the map is 1.
        colormap (int): An OpenCV colormap (``cv2.COLORMAP_*``).

    Returns:
        (np.ndarray): ``(H, W, 3)`` BGR uint8; pixels with ``heat == 0`` are the input's.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if heat.shape != image.shape[:2]:
        raise ValueError(f"heat map shape {heat.shape} does not match the image's {image.shape[:2]}")
    color = cv2.applyColorMap(np.round(np.clip(heat, 0, 1) * 255).astype(np.uint8), colormap).astype(np.float32)
    w = (alpha * np.clip(heat, 0, 1))[..., None].astype(np.float32)
    return np.round(image.astype(np.float32) * (1 - w) + color * w).astype(np.uint8)


def _titled(img: np.ndarray, title: str) -> np.ndarray:
    """Put ``img`` under a white bar with ``title`` (ASCII) in black, shrunk to fit."""
    h, w = img.shape[:2]
    bar = max(24, round(h * 0.06))
    text = title.encode("ascii", "replace").decode()
    font, thick = cv2.FONT_HERSHEY_SIMPLEX, max(1, bar // 16)
    scale = bar / 40
    while scale > 0.2 and cv2.getTextSize(text, font, scale, thick)[0][0] > w - 8:
        scale *= 0.9
    (tw, th), _ = cv2.getTextSize(text, font, scale, thick)
    head = np.full((bar, w, 3), 255, dtype=np.uint8)
    cv2.putText(head, text, (max(4, (w - tw) // 2), (bar + th) // 2), font, scale, (0, 0, 0), thick, cv2.LINE_AA)
    return np.concatenate([head, img], axis=0)


def _side_by_side(panels: Sequence[np.ndarray]) -> np.ndarray:
    h = panels[0].shape[0]
    gap = np.full((h, GAP, 3), 255, dtype=np.uint8)
    row = [panels[0]]
    for p in panels[1:]:
        row += [gap, p]
    return np.concatenate(row, axis=1)


def _write_png(path: Path, img: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode {path}")
    write_atomic(path, buf.tobytes())


def _sources(source: str | Path | np.ndarray | Iterable) -> list[tuple[str, Any]]:
    """(output stem, image) pairs for a file, a folder (sorted), an array or a list of those."""
    from ultralytics.data.utils import IMG_FORMATS

    if isinstance(source, np.ndarray):
        return [("image0", source)]
    if isinstance(source, (str, Path)):
        p = Path(source)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix[1:].lower() in IMG_FORMATS)
            if not files:
                raise FileNotFoundError(f"no images in '{p}' (looked for {', '.join(sorted(IMG_FORMATS))})")
            return [(f.stem, f) for f in files]
        if not p.is_file():
            raise FileNotFoundError(f"source '{source}' is neither an image file nor a folder")
        return [(p.stem, p)]
    out = []
    for i, s in enumerate(source):
        out += [(f"image{i}", s)] if isinstance(s, np.ndarray) else _sources(s)
    if not out:
        raise FileNotFoundError("source is an empty list")
    return out


def _unique(stems: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for s in stems:
        seen[s] = seen.get(s, 0) + 1
        out.append(s if seen[s] == 1 else f"{s}_{seen[s]}")
    return out


def heatmap(
    model: ModelLike,
    source: str | Path | np.ndarray | Iterable,
    layer: int | str | None = None,
    compare: ModelLike | Sequence[ModelLike] | None = None,
    imgsz: int = 640,
    method: str = "mean",
    alpha: float = 0.5,
    device: str | int | None = None,
    project: str | Path | None = None,
    name: str = "exp",
    exist_ok: bool = False,
    verbose: bool = True,
) -> Path:
    """Render heat maps of one layer for an image or a folder and save them as PNGs in a new run directory.

    Without ``compare`` each PNG is the input image (same size) with the map blended on. With ``compare`` each PNG
    holds, side by side under titles, the input image, then ``model`` and every compared model.

    Args:
        model: Checkpoint (``yolov12n.pt``), config (``yolov12n.yaml``: seeded random weights), ``YOLO`` or module.
        source: Image file, folder of images, BGR array, or a list of those.
        layer: Layer spec applied to every model: None (last block of backbone stage 3, the paper's choice), an index
            (``6``), ``"stage2"``, a module name (``"model.6"``, ``"model.6.m.0"``) or a type name (``"A2C2f"``).
        compare: Further models (same forms as ``model``; comma-separated string allowed) shown next to ``model``.
        imgsz (int): Long side of the network input.
        method (str): ``"mean"`` (channel mean of |activation|) or ``"eigen"`` (Eigen-CAM, first principal component).
        alpha (float): Opacity of the colour map where the map is hottest.
        device: ``"cpu"``, ``"cuda:0"``, ``0``...; None picks the first GPU if there is one.
        project: Parent directory of the run; default ``<Ultralytics runs_dir>/heatmap``.
        name (str): Run name; incremented as Ultralytics does (``exp``, ``exp2`` or ``exp-2``, per release).
        exist_ok (bool): Reuse ``project/name`` instead of incrementing.
        verbose (bool): Log each file and the run directory.

    Returns:
        (Path): The run directory; it holds one ``<image stem>.png`` per image.
    """
    from ultralytics.utils import LOGGER, SETTINGS
    from ultralytics.utils.files import increment_path

    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if isinstance(compare, str):
        compare = [c for c in compare.split(",") if c.strip()]
    elif compare is not None and not isinstance(compare, (list, tuple)):
        compare = [compare]
    images = _sources(source)
    nets = [load(m, device) for m in [model, *(compare or [])]]
    chosen = [resolve_layer(net, layer) for net in nets]  # fail on a bad layer before writing anything
    base = Path(project) if project is not None else Path(SETTINGS["runs_dir"]) / "heatmap"
    save_dir = increment_path(base / name, exist_ok=exist_ok)
    for stem, (_, src) in zip(_unique([s for s, _ in images]), images):
        img = _read(src)
        overlays = []
        for net, (lname, _) in zip(nets, chosen):
            heat = activation_map(net, img, lname, imgsz=imgsz, method=method)
            overlays.append(overlay(img, heat, alpha=alpha))
        if compare:
            titles = ["image"] + [f"{n.title}: {ln} {type(m).__name__}" for n, (ln, m) in zip(nets, chosen)]
            out = _side_by_side([_titled(p, t) for p, t in zip([img, *overlays], titles)])
        else:
            out = overlays[0]
        save_dir.mkdir(parents=True, exist_ok=True)  # only once the first image has rendered
        path = save_dir / f"{stem}.png"
        _write_png(path, out)
        if verbose:
            LOGGER.info(f"{_prefix()}{path.name} ({', '.join(f'{n.title} {ln}' for n, (ln, _) in zip(nets, chosen))})")
    if verbose:
        LOGGER.info(f"{_prefix()}{len(images)} heat map(s) saved to {save_dir.resolve()}")
    return save_dir.resolve()
