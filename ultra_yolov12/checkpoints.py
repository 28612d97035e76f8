"""Checkpoint layouts of the YOLOv12 code bases: recognise them, and convert between them.

Three code bases pickle area attention (``AAttn``) with different weights (``ultra_yolov12.nn.LAYOUTS``):

- ``v1.0`` (official v1.0, the paper): ``qkv`` projection, 7x7 position perceiver ``pe`` whose conv has a bias;
- ``ultralytics`` (Ultralytics' YOLO12, >= 8.3.78): ``qkv``, 7x7 ``pe`` without bias;
- ``turbo`` (official turbo): ``qk`` + ``v`` projections, 5x5 ``pe`` without bias.

Everything here is a pure function of state dicts, modules and model dicts, except :func:`convert`, which reads one
checkpoint file and writes another. All conversions are exact in eval mode:

- ``qkv`` <-> ``qk`` + ``v`` reorders the same output channels (``qkv`` interleaves q, k, v per head; ``qk`` holds all
  of q, then all of k);
- a 5x5 ``pe`` becomes 7x7 by zero padding (7x7 -> 5x5 only when the outer ring is zero);
- ``pe`` is ``BN(conv(v) + b)``, so its conv bias ``b`` folds into that BatchNorm: ``running_mean -= b`` (in training
  mode the batch mean cancels ``b`` anyway). The folded mean stays fp32 in half-precision checkpoints so that the fold
  loses nothing; Ultralytics casts whole models to fp32 when it loads them.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .files import atomic_path
from .nn import LAYOUTS, AAttn, LayoutError, match_layout
from .nn.block import A2C2f, A2C2fTurbo, A2C2fUltralytics, ABlock

__all__ = [
    "FORMATS",
    "TARGETS",
    "LayoutError",
    "attention_layouts",
    "convert",
    "convert_attention",
    "convert_model",
    "convert_state_dict",
    "layout_of",
    "plugin_yaml",
    "prepare_loaded",
    "stock_yaml",
]

TARGETS = {  # convert(to=...): layout, and whether the classes are stock Ultralytics' or the plugin's
    "ultralytics": "stock Ultralytics classes (>= 8.3.78 loads the file without ultra-yolov12)",
    "v1.0": "ultra-yolov12 classes, official v1.0 layout",
    "turbo": "ultra-yolov12 classes, official turbo layout",
}
FORMATS = {"safetensors": "no pickle: model config in the metadata, weights as tensors; YOLO('x.safetensors') loads it"}
PLUGIN_CLASS = {"v1.0": A2C2f, "turbo": A2C2fTurbo, "ultralytics": A2C2fUltralytics}  # A2C2f class per layout
PROJECTIONS = ("qkv", "qk", "v", "pe")  # AAttn sub-modules whose weights depend on the layout
_FUSED, _SPLIT = "qkv.conv.weight", "qk.conv.weight"
_DEFAULT_ROW = {5: 0.5, 6: 1, 7: True}  # A2C2f YAML args after [c2, a2, area, residual, mlp_ratio]: e, g, shortcut


def _log():
    from ultralytics.utils import LOGGER, colorstr

    return LOGGER, colorstr("ultra-yolov12: ")


# --- recognising layouts ---------------------------------------------------------------------------------------------


def _attention_prefixes(state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """Prefixes of area attentions: ``qkv`` with 3x or ``qk`` with 2x the output projection's channels.

    The width test tells them from other attentions with the same names, e.g. YOLO11's C2PSA (``qkv`` 2x, 3x3 ``pe``).
    """
    found = []
    for k, v in state_dict.items():
        for tail, times in ((_FUSED, 3), (_SPLIT, 2)):
            if k.endswith(tail) and (k == tail or k[-len(tail) - 1] == "."):
                p = k[: -len(tail)]
                proj = state_dict.get(p + "proj.conv.weight")
                if proj is not None and v.shape[0] == times * proj.shape[0]:
                    found.append(p)
    return sorted(set(found))


def _layout_at(state_dict: Mapping[str, torch.Tensor], p: str) -> str:
    where = p[:-1] or "AAttn"
    fused = p + _FUSED in state_dict
    split = p + _SPLIT in state_dict and p + "v.conv.weight" in state_dict
    pe = state_dict.get(p + "pe.conv.weight")
    if fused == split or pe is None:
        names = sorted({k[len(p) :].split(".")[0] for k in state_dict if k.startswith(p)})
        raise LayoutError(f"{where}: AAttn weights in an unknown layout (sub-modules {', '.join(names)})")
    try:
        return match_layout(fused, pe.shape[-1], p + "pe.conv.bias" in state_dict)
    except LayoutError as e:
        raise LayoutError(f"{where}: {e}") from None


def attention_layouts(state_dict: Mapping[str, torch.Tensor]) -> dict[str, str]:
    """Map the key prefix of every area attention in ``state_dict`` to its layout name.

    Args:
        state_dict (Mapping[str, torch.Tensor]): A model's or a single AAttn's state dict (prefix ``""``).

    Returns:
        (dict[str, str]): e.g. ``{"model.6.m.0.0.attn.": "turbo", ...}``; empty without area attention.

    Raises:
        LayoutError: An attention whose weights are in none of the known layouts (the message says what it has).
    """
    return {p: _layout_at(state_dict, p) for p in _attention_prefixes(state_dict)}


def layout_of(model: nn.Module | Mapping[str, torch.Tensor]) -> str | None:
    """Return the attention layout of a model or state dict (``"a+b"`` if mixed), or None without area attention."""
    if isinstance(model, nn.Module):
        found = {_layout_at(m.state_dict(), "") for m in model.modules() if type(m).__name__ == "AAttn"}
    else:
        found = set(attention_layouts(model).values())
    return "+".join(sorted(found)) or None


# --- converting weights ---------------------------------------------------------------------------------------------


def _fused_order(dim: int, head_dim: int) -> torch.Tensor:
    """Index ``i`` such that ``qkv[i]`` lists q, then k, then v, each head-major (the ``qk`` + ``v`` order)."""
    part, head, j = torch.meshgrid(
        torch.arange(3), torch.arange(dim // head_dim), torch.arange(head_dim), indexing="ij"
    )
    return (head * 3 * head_dim + part * head_dim + j).flatten()


def _group(state_dict: Mapping[str, torch.Tensor], p: str, name: str) -> dict[str, torch.Tensor]:
    return {k[len(p) + len(name) + 1 :]: v for k, v in state_dict.items() if k.startswith(f"{p}{name}.")}


def _convert_one(sd: Mapping[str, torch.Tensor], p: str, src: str, to: str, head_dim: int) -> dict[str, torch.Tensor]:
    """The converted ``qkv``/``qk``/``v``/``pe`` entries of the attention at prefix ``p``."""
    out: dict[str, torch.Tensor] = {}
    s, t = LAYOUTS[src], LAYOUTS[to]
    # projections, as one q|k|v tensor per entry (per output channel: q all heads, k all heads, v all heads)
    if s.fused_qkv:
        qkv = _group(sd, p, "qkv")
        dim = qkv["conv.weight"].shape[0] // 3
        order = _fused_order(dim, head_dim)
        canon = {k: v[order] if v.ndim else v for k, v in qkv.items()}
    else:
        qk, v_ = _group(sd, p, "qk"), _group(sd, p, "v")
        if qk.keys() != v_.keys():
            raise LayoutError(f"{p[:-1] or 'AAttn'}: qk and v hold different entries ({sorted(qk)} vs {sorted(v_)})")
        dim = v_["conv.weight"].shape[0]
        canon = {k: torch.cat([qk[k], v_[k]]) if qk[k].ndim else qk[k] for k in qk}
    if dim % head_dim:
        raise ValueError(f"{p[:-1] or 'AAttn'}: {dim} channels are not a multiple of head_dim={head_dim}")
    if t.fused_qkv:
        inverse = torch.argsort(_fused_order(dim, head_dim))
        out.update({f"{p}qkv.{k}": v[inverse] if v.ndim else v for k, v in canon.items()})
    else:
        out.update({f"{p}qk.{k}": v[: 2 * dim] if v.ndim else v for k, v in canon.items()})
        out.update({f"{p}v.{k}": v[2 * dim :] if v.ndim else v.clone() for k, v in canon.items()})
    # position perceiver: kernel size, then the conv bias
    pe = _group(sd, p, "pe")
    w = pe["conv.weight"]
    if t.pe_kernel > s.pe_kernel:
        w = F.pad(w, [(t.pe_kernel - s.pe_kernel) // 2] * 4)
    elif t.pe_kernel < s.pe_kernel:
        cut = (s.pe_kernel - t.pe_kernel) // 2
        if torch.count_nonzero(w) != torch.count_nonzero(w[..., cut:-cut, cut:-cut]):
            raise LayoutError(
                f"{p[:-1] or 'AAttn'}: cannot convert {src} to {to} exactly: the {s.pe_kernel}x{s.pe_kernel} position "
                f"perceiver has non-zero weights outside its central {t.pe_kernel}x{t.pe_kernel}"
            )
        w = w[..., cut:-cut, cut:-cut]
    pe["conv.weight"] = w.contiguous()
    bias = pe.pop("conv.bias", None)
    if bias is not None and not t.pe_bias:
        if "bn.running_mean" not in pe:
            raise LayoutError(f"{p[:-1] or 'AAttn'}: the position perceiver has no BatchNorm to take its bias (fused?)")
        pe["bn.running_mean"] = pe["bn.running_mean"].float() - bias.float()  # fp32: see the module docstring
    elif t.pe_bias:
        pe["conv.bias"] = bias if bias is not None else torch.zeros(w.shape[0], dtype=w.dtype, device=w.device)
    out.update({f"{p}pe.{k}": v for k, v in pe.items()})
    return out


def _check_to(to: str) -> str:
    if to not in TARGETS:
        raise ValueError(f"unknown target layout to='{to}'; choose one of {', '.join(TARGETS)}")
    return to


def convert_state_dict(state_dict: Mapping[str, torch.Tensor], to: str, head_dim: int = 32) -> dict[str, torch.Tensor]:
    """Return a copy of ``state_dict`` with every area attention rewritten in layout ``to`` (exact in eval mode).

    Args:
        state_dict (Mapping[str, torch.Tensor]): Weights of a model or of one AAttn; not modified.
        to (str): ``"v1.0"``, ``"ultralytics"`` or ``"turbo"``.
        head_dim (int): Channels per attention head (YOLOv12 always uses 32); needed to reorder ``qkv``.

    Returns:
        (dict[str, torch.Tensor]): The new state dict; tensors that do not change are shared with the input.
    """
    _check_to(to)
    groups = {}
    for p, layout in attention_layouts(state_dict).items():
        if layout != to:
            groups[p] = _convert_one(state_dict, p, layout, to, head_dim)
    out: dict[str, torch.Tensor] = {}
    for k, v in state_dict.items():
        p = next((p for p in groups if k.startswith(p) and k[len(p) :].split(".")[0] in PROJECTIONS), None)
        if p is None:
            out[k] = v
        elif groups[p] is not None:  # the whole converted group goes where the old one started
            out.update(groups[p])
            groups[p] = None
    return out


def convert_attention(attn: nn.Module, to: str) -> AAttn:
    """Return an ``ultra_yolov12`` AAttn in layout ``to`` that computes what ``attn`` (any code base's AAttn) does."""
    _check_to(to)
    sd = attn.state_dict()
    new_sd = convert_state_dict(sd, to, head_dim=attn.head_dim)
    ref = sd["proj.conv.weight"]
    new = AAttn(ref.shape[0], attn.num_heads, attn.area, layout=to)
    new.load_state_dict(new_sd)  # into fp32: every value is exact there
    new.to(device=ref.device, dtype=ref.dtype)
    for name, v in new_sd.items():  # keep what the conversion computed in higher precision (the folded BN mean)
        if v.dtype != ref.dtype and v.is_floating_point():
            mod_name, _, buf = name.rpartition(".")
            setattr(new.get_submodule(mod_name), buf, v.to(ref.device))
    trainable = any(q.requires_grad for q in attn.parameters())
    for q in new.parameters():
        q.requires_grad_(trainable)
    # BatchNorm settings are not in state dicts (Ultralytics sets eps=1e-3, momentum=0.03 on every model it builds)
    src_bn = {n: m for n, m in attn.named_modules() if isinstance(m, nn.BatchNorm2d)}
    for name, bn in new.named_modules():
        if isinstance(bn, nn.BatchNorm2d):
            twin = src_bn.get(name) or src_bn.get({"qkv.bn": "qk.bn"}.get(name, "qkv.bn"))
            bn.eps, bn.momentum = twin.eps, twin.momentum
    new.backend = getattr(attn, "backend", None)
    return new.train(attn.training)


def _reclass(m: nn.Module, cls: type) -> None:
    """Make ``m`` an instance of ``cls`` (same attributes: these classes differ only in name, layout and code)."""
    m.__class__ = cls


def convert_model(model: nn.Module, to: str, stock: Mapping[str, type] | None = None) -> tuple[nn.Module, list[str]]:
    """Return a copy of ``model`` with its area attention in layout ``to``, and notes on the conversion.

    Args:
        model (nn.Module): An Ultralytics model (``DetectionModel`` ...) with YOLOv12 layers of any code base.
        to (str): ``"v1.0"``, ``"ultralytics"`` or ``"turbo"``.
        stock (Mapping[str, type] | None): Classes to use for ``A2C2f``, ``ABlock``, ``AAttn`` (the ones stock
            Ultralytics pickles); None uses this package's classes. Its model dict (``model.yaml``) is rewritten to
            match: for stock classes as Ultralytics' own YOLO12 config would say it, else with the plugin marker.

    Returns:
        (tuple[nn.Module, list[str]]): The converted copy, and warnings (layers that stock Ultralytics would build
        differently when training starts from this model).
    """
    _check_to(to)
    if stock is not None and to != "ultralytics":
        raise ValueError(f"stock Ultralytics classes hold the 'ultralytics' layout only, not '{to}'")
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child).__name__ == "AAttn":
                setattr(parent, name, convert_attention(child, to))
    for m in model.modules():
        kind = type(m).__name__
        if stock is not None and kind in ("A2C2f", "A2C2fTurbo", "A2C2fUltralytics", "ABlock", "AAttn"):
            _reclass(m, stock["A2C2f" if kind.startswith("A2C2f") else kind])
            if kind == "AAttn":  # exactly the attributes Ultralytics' AAttn has
                del m.layout, m.backend
                m.all_head_dim = m.head_dim * m.num_heads
        elif stock is None and kind.startswith("A2C2f"):
            _reclass(m, PLUGIN_CLASS[to] if _stages_attend(m) else A2C2f)
        elif stock is None and kind == "ABlock":
            _reclass(m, ABlock)
    notes: list[str] = []
    if isinstance(getattr(model, "yaml", None), dict):
        if stock is None:
            model.yaml = plugin_yaml(model)
        else:
            model.yaml, notes = stock_yaml(model)
    return model, notes


# --- model dicts (what training rebuilds from) ----------------------------------------------------------------------


def _stages_attend(m: nn.Module) -> bool:
    stage = m.m[0] if len(m.m) else None
    return isinstance(stage, nn.Sequential) and len(stage) > 0 and type(stage[0]).__name__ == "ABlock"


def _a2c2f_args(m: nn.Module, old: list) -> list:
    """YAML args ``[c2, a2, area, residual, mlp_ratio, (e, g, shortcut)]`` that rebuild A2C2f ``m`` exactly."""
    a2 = _stages_attend(m)
    c_, c2 = m.cv1.conv.out_channels, m.cv2.conv.out_channels
    args = [old[0], a2, old[2] if len(old) > 2 else 1, m.gamma is not None, old[4] if len(old) > 4 else 2.0]
    if a2:
        block = m.m[0][0]
        args[2] = block.attn.area
        hidden = block.mlp[0].conv.out_channels
        ratios = ([args[4]] if len(old) > 4 else []) + [1.2, 1.5, 2.0, hidden / c_]
        args[4] = next(r for r in ratios if int(c_ * r) == hidden)
    e = 0.5 if int(c2 * 0.5) == c_ else c_ / c2
    g, shortcut = 1, True
    if not a2 and len(m.m):
        bottleneck = m.m[0].m[0]
        g, shortcut = bottleneck.cv2.conv.groups, bool(bottleneck.add)
    tail = [e, g, shortcut]
    while tail and tail[-1] == _DEFAULT_ROW[4 + len(tail)]:
        tail.pop()
    return args + tail


def _rows(model: nn.Module) -> list | None:
    d = model.yaml
    rows = d.get("backbone", []) + d.get("head", [])
    return rows if len(rows) == len(getattr(model, "model", [])) else None


def plugin_yaml(model: nn.Module) -> dict:
    """Model dict that makes the plugin rebuild ``model``'s exact modules (``yolo train`` starting from it).

    Adds ``plugin: ultra_yolov12`` and names every A2C2f row after its attention layout (``A2C2f`` for v1.0,
    ``A2C2fTurbo``, ``A2C2fUltralytics``) with explicit ``residual``/``mlp_ratio``, read from the modules themselves, so
    that no scale rule of any code base is needed.
    """
    d = copy.deepcopy(model.yaml)
    d["plugin"] = "ultra_yolov12"
    if _rows(model) is None:  # a dict that does not describe these layers: nothing to align
        return d
    for i, row in enumerate(d.get("backbone", []) + d.get("head", [])):
        m = model.model[i]
        if type(m).__name__.startswith("A2C2f"):
            layout = m.m[0][0].attn.layout if _stages_attend(m) else "v1.0"
            row[2] = PLUGIN_CLASS[layout].__name__
            row[3] = _a2c2f_args(m, list(row[3]))
    return d


def stock_yaml(model: nn.Module) -> tuple[dict, list[str]]:
    """Model dict in the words of Ultralytics' own ``yolo12.yaml``, and what stock Ultralytics would build differently.

    Stock Ultralytics decides A2C2f's ``residual``/``mlp_ratio`` by scale (L/X: True, 1.2; else False, 2.0). Layers
    where ``model`` differs (e.g. turbo L/X, whose MLP ratio is 1.5) are listed: predicting, validating and exporting
    use the stored modules and are unaffected, but a training run started by stock Ultralytics rebuilds those layers
    and cannot take their weights.
    """
    d = copy.deepcopy(model.yaml)
    d.pop("plugin", None)
    d.pop("a2c2f_scale_args", None)
    name = Path(str(d.get("yaml_file") or ""))
    if name.name.lower().startswith("yolov12"):  # a yolov12*.yaml name would make the plugin rebuild it as YOLOv12
        d["yaml_file"] = str(name.with_name("yolo12" + name.name[len("yolov12") :].replace("-turbo", "")))
    notes = []
    if _rows(model) is None:
        return d, notes
    large = d.get("scale") in ("l", "x")
    for i, row in enumerate(d.get("backbone", []) + d.get("head", [])):
        m = model.model[i]
        if not type(m).__name__.startswith("A2C2f"):
            continue
        want = _a2c2f_args(m, list(row[3]))
        row[2], row[3] = "A2C2f", want[:3]
        rebuilt = [*want[:3], *((True, 1.2) if large else (False, 2.0))]
        differs = want[3:5] != rebuilt[3:] if want[1] else False  # residual/mlp_ratio only matter with attention
        if differs or len(want) > 5:
            notes.append(f"layer {i} A2C2f{want} (stock Ultralytics builds A2C2f{rebuilt})")
    return d, notes


def prepare_loaded(ckpt: dict, builtin_yolo12: bool) -> None:
    """Let training continue from a loaded foreign checkpoint with the modules it has (called by the load hook).

    Official v1.0/turbo checkpoints carry model dicts that name ``A2C2f`` without this plugin's marker: stock
    Ultralytics >= 8.3.78 would rebuild them with its own layers (the wrong layout for turbo, the turbo L/X MLP ratio
    lost) and drop the weights that no longer fit. Their dicts get :func:`plugin_yaml` in place. Dicts that already
    rebuild the same modules are left alone: this plugin's own, and Ultralytics' YOLO12 where Ultralytics has it.
    """
    for m in {id(v): v for v in (ckpt.get("model"), ckpt.get("ema")) if isinstance(v, nn.Module)}.values():
        d = getattr(m, "yaml", None)
        if not isinstance(d, dict) or d.get("plugin") == "ultra_yolov12":
            continue
        layouts = {a.layout for a in m.modules() if isinstance(a, AAttn)}
        if layouts and not (layouts == {"ultralytics"} and builtin_yolo12) and _rows(m) is not None:
            m.yaml = plugin_yaml(m)


# --- files ----------------------------------------------------------------------------------------------------------


def _atomic_save(obj, target: Path) -> None:
    """``torch.save`` to a temporary file next to ``target``, then rename: ``target`` is never half-written."""
    with atomic_path(target) as tmp:
        torch.save(obj, tmp)


def convert(source: str | Path, target: str | Path | None = None, to: str = "ultralytics") -> Path:
    """Convert a YOLOv12 checkpoint of any code base to another layout; exact in eval mode.

    ``to="ultralytics"`` writes a file that stock Ultralytics >= 8.3.78 loads *without* ultra-yolov12 (its YOLO12
    classes and weight layout); ``to="v1.0"`` (or ``"turbo"``) writes one with this plugin's classes, the layout the
    plugin trains in. Works on every supported Ultralytics release, 8.3.0-8.3.77 included (the file is written with
    stock class names there too). An optimizer state is dropped: converted files start trainings, they do not resume
    them.

    Args:
        source (str | Path): Checkpoint (``.pt``): official v1.0/turbo, Ultralytics YOLO12 or plugin-trained; an
            official weight name such as ``yolov12n-turbo.pt`` is downloaded first.
        target (str | Path | None): Output file; default ``<source stem>-<to>.pt`` next to the source. Written to a
            temporary file and renamed, so a failure leaves an existing ``target`` untouched.
        to (str): ``"ultralytics"``, ``"v1.0"`` or ``"turbo"`` (turbo only from turbo-compatible weights), or
            ``"safetensors"``: a pickle-free file (:mod:`ultra_yolov12.sharing`; default target
            ``<source stem>.safetensors``), for any Ultralytics model, with or without area attention.

    Returns:
        (Path): The written file.

    Examples:
        >>> from ultra_yolov12 import convert
        >>> convert("runs/detect/train/weights/best.pt", "best-stock.pt", to="ultralytics")
    """
    from . import __version__
    from . import _ultralytics as compat

    if to not in TARGETS and to not in FORMATS:
        raise ValueError(f"unknown target layout to='{to}'; choose one of {', '.join([*TARGETS, *FORMATS])}")
    logger, prefix = _log()
    ckpt, file = compat.load_checkpoint_file(source)
    source = Path(str(source))
    if to == "safetensors":
        from . import sharing

        target = Path(target) if target else source.with_suffix(".safetensors")
        model = next(ckpt[k] for k in ("ema", "model") if isinstance(ckpt.get(k), nn.Module))
        sharing.save(model, target, train_args=ckpt.get("train_args"))
        logger.info(f"{prefix}wrote {target} from {file} ({FORMATS[to]})")
        return target
    target = Path(target) if target else source.with_name(f"{source.stem}-{to}.pt")
    models = {id(v): v for v in (ckpt.get("model"), ckpt.get("ema")) if isinstance(v, nn.Module)}
    before = {layout_of(m) for m in models.values()}
    if before == {None}:
        raise ValueError(f"{source} has no area attention (AAttn): there is nothing to convert")
    stock = compat.stock_classes() if to == "ultralytics" else None
    converted, notes = {}, []
    for key, m in models.items():
        converted[key], n = convert_model(m, to, stock)
        notes += [x for x in n if x not in notes]
    out = dict(ckpt)
    for k in ("model", "ema"):
        if isinstance(ckpt.get(k), nn.Module):
            out[k] = converted[id(ckpt[k])]
    if out.get("optimizer") is not None:
        out["optimizer"] = None
        logger.warning(f"{prefix}dropped the optimizer state of {source}: the converted file cannot resume training")
    out["converted"] = {
        "by": f"ultra-yolov12 {__version__}",
        "from": "+".join(sorted(filter(None, before))),
        "to": to,
        "date": datetime.datetime.now().isoformat(),
    }
    with compat.stock_pickling() if stock is not None else contextlib.nullcontext():
        _atomic_save(out, target)
    for note in notes:
        logger.warning(f"{prefix}{target.name}: {note}; fine-tuning it with stock Ultralytics cannot reuse that layer")
    logger.info(f"{prefix}converted {file} ({out['converted']['from']}) to {target} ({to}: {TARGETS[to]})")
    return target
