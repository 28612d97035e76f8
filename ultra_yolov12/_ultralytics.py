"""The one module that touches Ultralytics internals.

Supported releases: ``SUPPORTED`` below (8.3.0, the first with C3k2, up to the newest 8.4.x); :func:`register` raises
:class:`UnsupportedUltralyticsError` outside it. :func:`register` replaces three functions in ``ultralytics.nn.tasks``,
``ultralytics.engine.model.Model._load``, ``ultralytics.nn.tasks.BaseModel.fuse`` and ``._predict_once`` and
``ultralytics.nn.modules.conv.Conv.forward``, once, under a lock, keeping the
originals in ``_ORIGINALS`` (:func:`unregister` puts them back). Ultralytics' files are never edited.

1. ``parse_model``. A model dict that opts in (top-level ``plugin: ultra_yolov12``, as every shipped config does, a
   dict read from a file named ``yolov12*.yaml`` such as the official repository's unmarked configs, built in the
   v1.0 layout or, for ``*-turbo*`` names, the turbo one, or any dict naming A2C2f/ABlock/AAttn on a release that has
   no such classes) is parsed by a *copy* of the installed Ultralytics ``parse_model`` whose global namespace
   resolves our module names to this package's classes. Channel inference, repeats, heads and the printed table
   therefore behave exactly as on the installed release. 8.3.0-8.3.77
   have no A2C2f branch, so the namespace also binds one generic width-scaled, repeated module name of the parser
   (``_REPEAT_ALIASES``, one the dict does not use) to our A2C2f; the scale-dependent R-ELAN arguments (L/X:
   ``residual=True, mlp_ratio=1.2``, turbo 1.5) are appended beforehand from the dict's ``a2c2f_scale_args``. Other
   dicts, Ultralytics' own ``yolo12*.yaml`` included, go to the untouched original. A verbose build logs one line
   naming the implementation and layout that built the model. Module names neither package defines are one
   ``ValueError`` naming the layer (the parser's own error is a bare ``KeyError``).
2. ``check_yaml`` as seen by ``yaml_model_load``: ``yolov12*.yaml`` file names resolve to the configs shipped in the
   wheel after local files, in the order the installed ``yaml_model_load`` asks for them (scaled name, unified name);
   an unknown ``yolov12*`` name lists the available ones. Every config file found is checked to parse and to have
   ``backbone``/``head`` lists: YAML errors and empty or non-model YAMLs are one ``ValueError`` on every release.
3. ``torch_safe_load``: while a checkpoint is unpickled, ``ultralytics.nn.modules.block.{AAttn,ABlock,A2C2f}`` resolve
   to this package's classes, so checkpoints of the official v1.0/turbo code and of Ultralytics' YOLO12 load on every
   supported release (AAttn reads its layout from the pickled weights; an unknown layout is one ``LayoutError``).
   Loaded foreign model dicts are aligned so that training rebuilds the same layers
   (``checkpoints.prepare_loaded``); empty, truncated and non-checkpoint files are one ``TypeError`` on every release,
   and so is a class this release lacks; a module no installed code base provides is one ``ModuleNotFoundError``.
   Under Ultralytics' restricted loading (``ULTRALYTICS_SAFE_LOAD=1``, 8.4.x releases with ``_SafeLoad``, torch >=
   2.6) the plugin's layer classes are put on torch's ``weights_only`` allow-list (``add_safe_globals``), so the
   plugin's own checkpoints load too; a file it refuses because its pickle would run code is one
   ``pickles.UnsafeCheckpointError`` naming the function (found by ``pickles.inspect_checkpoint``, which runs nothing).
   ``.safetensors`` files (no pickle at all) are rebuilt by ``sharing.load`` and returned as a checkpoint dict.
4. Official weight names (same hook, before loading): ``yolov12n.pt``, ``yolov12n-turbo.pt``, ... that are not on disk
   are downloaded by ``weights.download`` (Ultralytics' own downloader) into Ultralytics' weights directory. A file
   there that does not load and is no checkpoint (``weights.discard_if_broken``) is removed and downloaded again, once.
   Other ``yolov12*.pt`` names and missing paths are one ``FileNotFoundError`` (Ultralytics would ask GitHub for them).
5. ``Model._load`` (``ultralytics.engine.model``): ``YOLO("model.safetensors")`` takes the checkpoint path (the
   installed ``_load`` chooses it by the ``.pt`` suffix), the model rebuilt by ``sharing.load``; other files go to the
   original untouched.
6. Stock class names for writing: ``stock_classes``/``stock_pickling`` give ``checkpoints.convert`` the classes that
   pickle as ``ultralytics.nn.modules.block.*``, with stand-ins on releases that have no YOLO12 (< 8.3.78).
7. A default training callback: :func:`register` appends :func:`official_notice` to Ultralytics' module-level
   ``default_callbacks["on_train_start"]`` list (which every trainer copies, so ``yolo train`` and ``YOLO().train()``
   alike), :func:`unregister` removes it. For a model with this package's attention layers it logs one line naming the
   training values that differ from the official YOLOv12 code's (``recipes.official_differences``); nothing is changed.
8. ``ultralytics.cfg.entrypoint`` (the ``yolo`` command): an error the plugin raises itself (its own exception
   classes, or any exception whose traceback ends inside this package: those messages name the input and the remedy)
   ends the command with one ``yolo: error: ...`` line on stderr and exit code 1 instead of a traceback. Everything
   else, ``entrypoint(debug=...)`` calls and ``ULTRA_YOLOV12_DEBUG=1`` keep Ultralytics' own behaviour.
9. int8 OpenVINO export (``format=openvino int8=True``): an ``on_export_start`` callback added to Ultralytics'
   ``default_callbacks`` (so every ``Exporter`` has it) wraps that one exporter's ``export_openvino``; when it exports
   a model with this package's ``AAttn`` at int8, ``nncf.quantize`` is wrapped for the length of the call so that the
   attention ops (``quantize.openvino_attention_ops``) join the ignored scope Ultralytics passes (8.3.0 calls
   ``nncf.quantize`` in ``export_openvino``, 8.4.x in ``ultralytics.utils.export.openvino``; both look it up on the
   ``nncf`` module at call time). ``ULTRA_YOLOV12_INT8_ATTENTION=int8`` quantizes the attention too;
   ``ULTRA_YOLOV12_INT8_RANGES=minmax`` sets NNCF's activation ranges to min/max over all calibration images (for
   any model, YOLOv12 or not).
10. Channels-last YOLOv12 (``BaseModel.fuse``, hooks 1 and 3): a model with this package's attention layers is put
   in ``torch.channels_last`` memory format when it is built, when it is loaded and again after ``fuse()`` (8.3.x
   fuses into fresh contiguous convs). With channels-last conv weights, PyTorch's
   convolutions emit channels-last maps from a plain NCHW input, so the whole network runs in the layout the
   attention needs (no conversions around it) and in which oneDNN's CPU convolutions are fastest. Values are the
   same; only strides change. ``ULTRA_YOLOV12_CHANNELS_LAST=0`` keeps the contiguous layout. Other models are left
   as they are. ExecuTorch and LiteRT exports (``CONTIGUOUS_EXPORTS``) get contiguous weights back in the
   ``on_export_start`` callback of hook 9: their ``torch.export``-based converters mis-handle channels-last weights.
11. Not a hook, but internals all the same: :func:`use_albumentations` puts a custom Albumentations pipeline into a
   trainer's training dataset on every supported release (only 8.3.226 and newer have ``augmentations=``).
12. Release features read from Ultralytics' default config: :func:`has_compile_arg` (``compile=``, 8.4.x, not 8.3.0).
13. Lean Conv training (``BaseModel._predict_once``, ``ultralytics.nn.modules.conv.Conv.forward``): while a model with
   this package's attention layers runs a float32 CPU training forward, its ``Conv`` blocks (Conv2d + BatchNorm2d +
   SiLU; ``DWConv`` too) keep only the conv output for backward, not also the BatchNorm output
   (``nn.lean.BatchNormSiLU``): one activation map fewer per block, same outputs, bit-identical gradients, BatchNorm
   statistics updated once as stock. Other models, modes and devices (and autocast, tracing, export, torch.compile)
   run the original forward. A thread-local flag set around the forward selects it: nothing is stored on modules,
   so checkpoints are unchanged. ``ULTRA_YOLOV12_LEAN_TRAINING=0`` turns it off.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import pickle
import threading
import types
import zipfile
from pathlib import Path

SUPPORTED = (">=8.3.0", "<8.5.0")
SUPPORTED_TEXT = "ultralytics>=8.3.0,<8.5.0"

try:
    import ultralytics
except ModuleNotFoundError as e:
    if e.name != "ultralytics":
        raise
    raise ModuleNotFoundError(
        f"ultra-yolov12 is a plugin for Ultralytics, which is not installed: pip install '{SUPPORTED_TEXT}'",
        name="ultralytics",
    ) from None


class UnsupportedUltralyticsError(ImportError):
    """The installed Ultralytics release is outside the supported range."""


def _version_tuple(v: str) -> tuple[int, ...]:
    parts = []
    for p in v.split(".")[:3]:
        digits = "".join(c for c in p if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def check_version(version: str) -> None:
    """Raise :class:`UnsupportedUltralyticsError` unless ``version`` is in the supported range."""
    if not (_version_tuple("8.3.0") <= _version_tuple(version) < _version_tuple("8.5.0")):
        raise UnsupportedUltralyticsError(
            f"ultra-yolov12 supports {SUPPORTED_TEXT}, but ultralytics {version} is installed. "
            f"Install a supported release: pip install '{SUPPORTED_TEXT}'"
        )


check_version(ultralytics.__version__)  # before anything below imports ultralytics.nn

from torch import nn  # noqa: E402

from . import checkpoints, configs, quantize, weights  # noqa: E402
from .nn import A2C2f, A2C2fTurbo, A2C2fUltralytics, AAttn, ABlock, LayoutError  # noqa: E402
from .nn.backends import _compiling  # noqa: E402
from .nn.lean import lean_applies, lean_conv_forward  # noqa: E402

MODULES = {
    "A2C2f": A2C2f,
    "A2C2fTurbo": A2C2fTurbo,
    "A2C2fUltralytics": A2C2fUltralytics,
    "ABlock": ABlock,
    "AAttn": AAttn,
}
# names that take the parser's width/repeat handling and the scale rule (one A2C2f class per attention layout)
R_ELAN = ("A2C2f", "A2C2fTurbo", "A2C2fUltralytics")
PICKLED = {"AAttn": AAttn, "ABlock": ABlock, "A2C2f": A2C2f}  # ultralytics.nn.modules.block names in checkpoints
PREFIX = "ultra_yolov12."  # YAML names are rewritten to PREFIX + name, the key our classes have in the namespace
DEFAULT_SCALE_ARGS = {"l": [True, 1.2], "x": [True, 1.2]}  # the reference parser's rule for A2C2f
TURBO_SCALE_ARGS = {"l": [True, 1.5], "x": [True, 1.5]}  # the official turbo parser's
# Generic modules that every supported parse_model scales by width and gives a repeat count, with no other rule.
_REPEAT_ALIASES = ("C3x", "C3Ghost", "C3TR", "RepC3", "C2", "C1", "BottleneckCSP")

_ORIGINALS: dict = {}
_LOCK = threading.RLock()


# --- 1. parse_model -------------------------------------------------------------------------------------------------


def _yaml_name(d: dict) -> str:
    return Path(str(d.get("yaml_file") or "")).name


def opts_in(d: dict, tasks: types.ModuleType) -> bool:
    """Whether model dict ``d`` is parsed with this plugin's modules.

    Yes for a dict marked ``plugin: ultra_yolov12``, for one read from a file named ``yolov12*.yaml`` (the official
    repository's configs have no marker; Ultralytics >= 8.3.78 would otherwise build its own YOLO12 from them), and for
    one naming A2C2f/ABlock/AAttn on a release that has no such classes. ``yolo12*.yaml`` stays Ultralytics'.
    """
    if d.get("plugin") == "ultra_yolov12" or configs.is_yolov12_name(_yaml_name(d)):
        return True
    names = {row[2] for row in d.get("backbone", []) + d.get("head", [])}
    return any(n in MODULES and not hasattr(tasks, n) for n in names)


def _official_turbo(d: dict) -> bool:
    """An unmarked ``yolov12*-turbo*.yaml``: the official turbo release's config, whose rows all say ``A2C2f``."""
    return d.get("plugin") != "ultra_yolov12" and "-turbo" in _yaml_name(d).lower()


def layout_built(d: dict) -> str:
    """The attention layout the plugin builds for model dict ``d`` (``v1.0``, ``turbo``, ``ultralytics``)."""
    names = {row[2].removeprefix(PREFIX) for row in d.get("backbone", []) + d.get("head", [])}
    if "A2C2fTurbo" in names or (_official_turbo(d) and "A2C2f" in names):
        return "turbo"
    return "ultralytics" if "A2C2fUltralytics" in names else "v1.0"


def _prepare(d: dict) -> dict:
    """Apply the R-ELAN scale rule and check attention widths before the parser builds anything."""
    turbo = _official_turbo(d)
    d = copy.deepcopy(d)
    scales = d.get("scales") or {}
    scale = d.get("scale") or next(iter(scales), "")
    depth, width, max_ch = scales.get(scale, (d.get("depth_multiple", 1.0), d.get("width_multiple", 1.0), math.inf))
    default = TURBO_SCALE_ARGS if turbo else DEFAULT_SCALE_ARGS
    extra = (d.get("a2c2f_scale_args") or default).get(scale, [])
    for i, row in enumerate(d.get("backbone", []) + d.get("head", [])):
        if turbo and row[2] == "A2C2f":  # official turbo configs name the turbo block A2C2f
            row[2] = "A2C2fTurbo"
        if row[2] in MODULES:  # a private key, so that no parser rule meant for Ultralytics' own A2C2f applies
            row[2] = PREFIX + row[2]
        if row[2] not in (PREFIX + n for n in R_ELAN):
            continue
        args = row[3] = list(row[3])
        if len(args) <= 3:  # [c2, a2, area]: the scale decides residual and mlp_ratio
            args.extend(extra)
        c2 = args[0]
        if isinstance(c2, (int, float)):
            c2 = math.ceil(min(c2, max_ch) * width / 8) * 8
            e = args[5] if len(args) > 5 else 0.5
            a2 = args[1] if len(args) > 1 else True
            if a2 and int(c2 * e) % 32:
                raise ValueError(
                    f"layer {i} ({row[2][len(PREFIX) :]} {row[3]}) at scale '{scale}': "
                    f"hidden width int({c2}*{e})={int(c2 * e)} "
                    f"is not a multiple of 32 (one attention head per 32 channels); change the layer's channels "
                    f"or the scale's width"
                )
    return d


def _check_dict(d) -> None:
    """A model dict the parser cannot read at all (an empty or non-model YAML) is one clear error, not a KeyError."""
    name = _yaml_name(d) if isinstance(d, dict) else "the model config"
    missing = [k for k in ("backbone", "head") if not isinstance(d, dict) or not isinstance(d.get(k), list)]
    if missing:
        raise ValueError(
            f"{name or 'the model dict'} is not a model config: it has no {' and no '.join(missing)} list "
            f"(an empty or unrelated YAML?); start from a shipped one, e.g. yolov12n.yaml"
        )
    for part in ("backbone", "head"):
        for i, row in enumerate(d[part]):
            if not (isinstance(row, (list, tuple)) and len(row) == 4 and isinstance(row[2], str)):
                raise ValueError(f"{name}: {part} row {i} {row!r} is not [from, repeats, module, args]")


def _unknown_modules(d: dict, namespace: dict) -> None:
    """Module names the parser would look up and not find (its own error is a bare ``KeyError``)."""
    for i, row in enumerate(d["backbone"] + d["head"]):
        m = row[2]
        if m.startswith(("nn.", "torch.nn.", "torchvision.")) or m in namespace:
            continue
        known = sorted({*(n.removeprefix(PREFIX) for n in namespace if n.startswith(PREFIX)), "Conv", "C3k2", "Detect"})
        raise ValueError(
            f"{_yaml_name(d) or 'model config'}: layer {i} uses module '{m}', which neither ultra-yolov12 nor "
            f"ultralytics {ultralytics.__version__} defines; use one of {', '.join(known)} or another Ultralytics "
            "module, or torch.nn.<Name>"
        )


def _parse_model(d, ch, verbose=True):
    tasks = _tasks()
    _check_dict(d)
    if not opts_in(d, tasks):
        return _ORIGINALS["parse_model"](d, ch, verbose=verbose)
    d = _prepare(d)
    names = {row[2] for row in d.get("backbone", []) + d.get("head", [])}
    namespace = {**vars(tasks), **{PREFIX + n: cls for n, cls in MODULES.items()}}
    _unknown_modules(d, namespace)
    original = _ORIGINALS["parse_model"]
    used = [n for n in R_ELAN if PREFIX + n in names]
    aliases = [a for a in _REPEAT_ALIASES if a not in names and hasattr(tasks, a)]
    if len(aliases) < len(used):
        raise RuntimeError(f"ultra-yolov12: not enough free parser aliases among {_REPEAT_ALIASES}")
    for name, a in zip(used, aliases):  # each R-ELAN class in use takes one free alias
        namespace[a] = MODULES[name]
    parse = types.FunctionType(original.__code__, namespace, original.__name__, original.__defaults__)
    model = parse(d, ch, verbose=verbose)
    channels_last(model[0])
    if verbose:  # say which implementation built it: a yolov12*.yaml could be Ultralytics' YOLO12 elsewhere
        from ultralytics.utils import LOGGER

        LOGGER.info(
            f"ultra-yolov12: {_yaml_name(d) or 'model dict'} built with ultra-yolov12's YOLOv12 "
            f"({layout_built(d)} layout)"
        )
    return model


# --- 2. config names ------------------------------------------------------------------------------------------------


def _model_config(path):
    """``path`` (a resolved config file), once checked to parse and to hold a model: Ultralytics' own errors for
    these are a ``KeyError`` in ``DetectionModel`` (which reads ``backbone`` before parsing) and, on 8.3, the YAML
    parser's raw exception."""
    import yaml

    if path and Path(str(path)).is_file():
        try:
            d = yaml.safe_load(Path(str(path)).read_text(errors="replace"))
        except yaml.YAMLError as e:  # 8.4 words this itself, 8.3 passes the parser's error through
            where = getattr(e, "problem_mark", None)
            at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise ValueError(f"YAML syntax error in {path}{at}: {problem}; fix the file and try again") from None
        if not isinstance(d, dict) or not isinstance(d.get("backbone"), list) or not isinstance(d.get("head"), list):
            what = "empty" if not d else f"a {type(d).__name__}" if not isinstance(d, dict) else f"keys {sorted(d)}"
            raise ValueError(
                f"{path} is not a model config ({what}; one needs 'backbone' and 'head' lists); start from a "
                f"shipped one, e.g. yolov12n.yaml"
            )
    return path


def _check_yaml(file="", *args, **kwargs):
    name = Path(str(file)).name
    if not configs.is_yolov12_name(name) or Path(str(file)).exists():
        return _model_config(_ORIGINALS["check_yaml"](file, *args, **kwargs))
    shipped = configs.CFG_DIR / name  # exact file names only: yaml_model_load tries the unified name itself
    if shipped.is_file():
        return str(shipped)
    try:
        found = _ORIGINALS["check_yaml"](file, *args, **kwargs)
    except FileNotFoundError as e:
        asked = getattr(_MISSED, "name", None)  # 8.4 asks for the scaled name softly, then the unified one
        related = (
            asked
            and asked != str(file)
            and {configs.unified_name(asked), configs.unified_name(file)} == {configs.unified_name(file)}
        )
        asked = f"'{asked}' (or '{file}')" if related else f"'{file}'"
        raise FileNotFoundError(
            f"{asked} is not a YOLOv12 config shipped with ultra-yolov12 and no such file exists. "
            f"Available: {', '.join(configs.available())}"
        ) from e
    _MISSED.name = None if found else str(file)
    return found


_MISSED = threading.local()  # the name a soft (hard=False) lookup missed, for the error of the next lookup


# --- 3. checkpoints -------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def pickled_classes():
    """Resolve ``ultralytics.nn.modules.block.{AAttn,ABlock,A2C2f}`` to this package's classes while unpickling."""
    from ultralytics.nn.modules import block

    with _LOCK:
        saved = {n: getattr(block, n) for n in PICKLED if hasattr(block, n)}
        try:
            for n, cls in PICKLED.items():
                setattr(block, n, cls)
            yield
        finally:
            for n in PICKLED:
                if n in saved:
                    setattr(block, n, saved[n])
                else:
                    delattr(block, n)


def _unreadable(weight, e: BaseException) -> TypeError:
    return TypeError(
        f"{weight} is not a loadable checkpoint: the file is empty, truncated or not a PyTorch checkpoint at all "
        f"({type(e).__name__}: {str(e).strip() or 'no details'}). Re-download, re-train or re-export it"
    )


def restricted_loading(tasks: types.ModuleType, args: tuple, kwargs: dict) -> bool:
    """Whether this ``torch_safe_load`` call uses Ultralytics' restricted (``weights_only``) unpickler.

    8.4.x releases with ``_SafeLoad`` have it, switched on by ``ULTRALYTICS_SAFE_LOAD=1`` (``tasks.SAFE_LOAD``) or
    ``safe_only=True``, and only with torch >= 2.6. 8.3.0 has neither the flag nor that loader (its ``safe_only`` swaps
    unknown classes for placeholders, a different thing): False there.
    """
    safe_load = getattr(tasks, "_SafeLoad", None)
    if safe_load is None or not getattr(safe_load, "SUPPORTED", False):
        return False
    safe = kwargs.get("safe_only", args[0] if args else None)
    return bool(getattr(tasks, "SAFE_LOAD", False) if safe is None else safe)


_ALLOWED = threading.Event()


def _allow_plugin_classes() -> None:
    """Put this plugin's layers on torch's ``weights_only`` allow-list (once): they are plain ``nn.Module`` classes
    whose unpickling only sets attributes (``AAttn.__setstate__`` reads its layout from its own weights)."""
    import torch

    with _LOCK:
        if not _ALLOWED.is_set():
            torch.serialization.add_safe_globals([A2C2f, A2C2fTurbo, A2C2fUltralytics, ABlock, AAttn])
            _ALLOWED.set()


def _refused(weight, e: BaseException) -> BaseException:
    """Say what a restricted load refused: a pickle that would run code is named as such (nothing of it ran)."""
    from .pickles import CheckpointError, UnsafeCheckpointError, inspect_checkpoint

    try:
        inspect_checkpoint(weight)
    except UnsafeCheckpointError as u:
        return UnsafeCheckpointError(f"{weight} was refused by ULTRALYTICS_SAFE_LOAD=1: it {u}")
    except CheckpointError:
        return e
    return e


def is_safetensors(weight) -> bool:
    return isinstance(weight, (str, Path)) and str(weight).lower().endswith(".safetensors")


def _torch_safe_load(weight, *args, **kwargs):
    if is_safetensors(weight):  # no pickle: rebuilt from the file's config (never unpickled, safe load or not)
        from . import sharing

        return sharing.load(weight), str(weight)
    resolved = _resolve_weight(weight)
    try:
        return _load_resolved(resolved, args, kwargs)
    except TypeError:
        # an official name whose file in the weights directory is broken (left by an older release, say): that is
        # a cache, so it is checked, removed and downloaded again, once
        if not (_cached_official(weight, resolved) and weights.discard_if_broken(resolved)):
            raise
    return _load_resolved(_resolve_weight(weight), args, kwargs)


def _cached_official(weight, resolved) -> bool:
    """Whether ``weight`` is a bare official name that resolved to its file in Ultralytics' weights directory."""
    if not isinstance(weight, (str, Path)) or Path(str(weight).strip()).parent != Path("."):
        return False
    a = weights.asset(weight)
    return a is not None and Path(str(resolved)) == a.path


def _load_resolved(weight, args: tuple, kwargs: dict):
    restricted = restricted_loading(_tasks(), args, kwargs)
    if restricted:
        _allow_plugin_classes()
    try:
        with pickled_classes():
            ckpt, file = _ORIGINALS["torch_safe_load"](weight, *args, **kwargs)
    except TypeError as e:
        if restricted and isinstance(weight, (str, Path)) and Path(weight).is_file():
            raise _refused(weight, e) from e
        raise
    except LayoutError as e:  # raised by AAttn.__setstate__ deep inside unpickling: say it once, with the file
        raise LayoutError(f"{weight}: {e}") from None
    except (EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as e:  # releases < 8.4 pass these through raw
        raise _unreadable(weight, e) from e
    except RuntimeError as e:  # torch's words for a zip that is not its archive, or bytes that are no pickle at all
        if any(s in str(e) for s in ("PytorchStreamReader", "zip archive", "inline_container", "magic number")):
            raise _unreadable(weight, e) from e
        raise
    except ModuleNotFoundError as e:  # (after Ultralytics' AutoInstall, where on) a class of some other code base
        if e.name and e.name.startswith(("ultralytics.", "numpy.")):  # Ultralytics words these itself
            raise
        raise ModuleNotFoundError(
            f"{weight} was saved by code that is not installed here: its pickle needs the module '{e.name}', which "
            "neither Ultralytics nor ultra-yolov12 provides. Load it with the code that wrote it, or save its "
            "weights from there as an Ultralytics checkpoint",
            name=e.name,
        ) from e
    except AttributeError as e:
        if "Can't get attribute" in str(e):  # a class that this Ultralytics release does not define
            raise TypeError(
                f"{weight} needs a class that ultralytics {ultralytics.__version__} does not define ({e}); it was "
                "saved by a newer Ultralytics or by another code base: upgrade ultralytics "
                f"(pip install -U '{SUPPORTED_TEXT}') or load it with the code that wrote it"
            ) from e
        # e.g. a tensor saved as .pt: older releases look for its ``.model``
        raise TypeError(
            f"{weight} is not an Ultralytics checkpoint: it holds no model ({type(e).__name__}: {e})"
        ) from e
    if not isinstance(ckpt, dict) or not any(isinstance(ckpt.get(k), nn.Module) for k in ("model", "ema")):
        found = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise TypeError(
            f"{weight} is not an Ultralytics checkpoint: it holds no model under 'model' or 'ema' ({found})"
        )
    checkpoints.prepare_loaded(ckpt, builtin_yolo12=has_builtin_yolo12())
    for key in ("model", "ema"):
        if isinstance(ckpt.get(key), nn.Module):
            channels_last(ckpt[key])
    return ckpt, file


def _model_load(self, weights, *args, **kwargs):
    """``Model._load`` that sends ``.safetensors`` files down the checkpoint path of the installed release.

    Every supported ``Model._load`` picks the checkpoint branch by the ``.pt`` suffix. The rebuilt model is handed to
    it as a ``.pt`` in a private temporary folder (pickled from objects built here, never from the file's bytes), then
    the paths the model reports are set back to the ``.safetensors`` file.
    """
    original = _ORIGINALS["Model._load"]
    if not is_safetensors(weights):
        return original(self, weights, *args, **kwargs)
    import tempfile

    import torch

    from . import sharing

    ckpt = sharing.load(weights)
    with tempfile.TemporaryDirectory(prefix="ultra_yolov12_") as tmp:
        pt = Path(tmp) / (Path(str(weights)).stem + ".pt")
        torch.save(ckpt, pt)
        original(self, str(pt), *args, **kwargs)
    for owner, attr in ((self, "ckpt_path"), (self, "model_name"), (self.model, "pt_path")):
        if hasattr(owner, attr):
            setattr(owner, attr, str(weights))
    self.overrides["model"] = str(weights)
    if isinstance(getattr(self, "ckpt", None), dict):
        self.ckpt["safetensors"] = str(weights)


# --- 10. channels-last YOLOv12 ---------------------------------------------------------------------------------------


def channels_last(model: nn.Module) -> bool:
    """Put ``model`` in channels-last memory format if it has this package's attention layers; returns whether it did.

    ``nn.Module.to`` converts the 4-D parameters in place (``param.data``), so optimizers and EMA copies that hold them
    stay valid. ``ULTRA_YOLOV12_CHANNELS_LAST=0`` turns it off.
    """
    import os

    import torch

    if os.environ.get("ULTRA_YOLOV12_CHANNELS_LAST", "1") == "0":
        return False
    if not any(isinstance(m, (ABlock, AAttn)) for m in model.modules()):
        return False
    _to_memory_format(model, torch.channels_last)
    return True


def _to_memory_format(model: nn.Module, memory_format) -> None:
    """``model.to(memory_format=...)`` in place, each weight converted in the mode it was made in.

    Validators load and fuse under inference mode; a normal parameter given inference data (or the reverse) breaks the
    model for the next call made in the other mode.
    """
    import torch

    for p in model.parameters():
        if p.dim() == 4 and not p.is_contiguous(memory_format=memory_format):
            with torch.inference_mode(p.is_inference()):
                p.data = p.data.contiguous(memory_format=memory_format)


def _fuse(self, *args, **kwargs):
    import torch

    strided = any(p.dim() == 4 and not p.is_contiguous() for p in self.parameters())
    if strided:  # 8.3.x folds BatchNorm through ``conv.weight.view``, which needs contiguous weights
        _to_memory_format(self, torch.contiguous_format)
    model = _ORIGINALS["BaseModel.fuse"](self, *args, **kwargs)
    if not channels_last(self) and strided:  # a channels-last model of another kind stays channels-last
        _to_memory_format(self, torch.channels_last)
    return model


# --- 13. lean Conv training -----------------------------------------------------------------------------------------

_LEAN = threading.local()  # set while a YOLOv12 training forward runs in this thread


def lean_training_on() -> bool:
    """Whether ``Conv`` blocks called now in this thread take the lean path (when :func:`nn.lean.lean_applies`)."""
    return getattr(_LEAN, "on", False)


def _predict_once(self, *args, **kwargs):
    import os

    import torch

    original = _ORIGINALS["BaseModel._predict_once"]
    if (
        _compiling()  # first: torch.compile traces Ultralytics' own forward, no thread-local reads
        or not (self.training and torch.is_grad_enabled())
        or lean_training_on()
        or os.environ.get("ULTRA_YOLOV12_LEAN_TRAINING", "1") == "0"
        or not any(isinstance(m, (ABlock, AAttn)) for m in self.modules())
    ):
        return original(self, *args, **kwargs)
    _LEAN.on = True
    try:
        return original(self, *args, **kwargs)
    finally:
        _LEAN.on = False


def _conv_forward(self, x):
    if not _compiling() and lean_training_on() and lean_applies(self, x):
        return lean_conv_forward(self, x)
    return _ORIGINALS["Conv.forward"](self, x)


def load_checkpoint_file(weight) -> tuple[dict, str]:
    """Load a checkpoint dict through Ultralytics' ``torch_safe_load`` (with this plugin's hooks when registered)."""
    return _tasks().torch_safe_load(weight)


# --- 4. official weight names ---------------------------------------------------------------------------------------


def _resolve_weight(weight):
    """An official YOLOv12 weight name that is not a file here becomes the downloaded file (see ``weights``)."""
    if isinstance(weight, (str, Path)) and not Path(str(weight).strip()).exists():
        if weights.asset(weight) is not None:
            return str(weights.download(weight))
        text = str(weight).strip()
        name = Path(text).name
        if name != text and "://" not in text:  # a path, not a bare asset name: 8.3 would ask GitHub for it
            raise FileNotFoundError(f"checkpoint '{weight}' does not exist; check the path")
        if configs.is_yolov12_name(name) and name.endswith(".pt"):  # Ultralytics would search its own releases
            raise FileNotFoundError(
                f"'{weight}' is neither a file nor an official YOLOv12 weight name; official names: "
                f"{', '.join(weights.official_names())}"
            )
    return weight


# --- 6. stock class names for writing checkpoints -------------------------------------------------------------------

_STAND_INS: dict[str, type] = {}


def stock_classes() -> dict[str, type]:
    """The classes stock Ultralytics pickles as ``ultralytics.nn.modules.block.{A2C2f,ABlock,AAttn}``.

    Ultralytics' own where it has them (>= 8.3.78); else stand-ins carrying those names, only good for writing
    checkpoints inside :func:`stock_pickling`.
    """
    from ultralytics.nn.modules import block

    with _LOCK:
        out = {}
        for name in PICKLED:
            cls = block.__dict__.get(name)
            if cls is None or cls is PICKLED[name]:  # absent, or our class put there by pickled_classes
                cls = _STAND_INS.setdefault(
                    name,
                    type(name, (nn.Module,), {"__module__": block.__name__, "__qualname__": name, "__doc__": None}),
                )
            out[name] = cls
        return out


@contextlib.contextmanager
def stock_pickling():
    """Make the stand-ins of :func:`stock_classes` findable under their names while a checkpoint is written."""
    from ultralytics.nn.modules import block

    with _LOCK:
        added = [n for n, cls in _STAND_INS.items() if block.__dict__.get(n) is None]
        try:
            for n in added:
                setattr(block, n, _STAND_INS[n])
            yield
        finally:
            for n in added:
                delattr(block, n)


# --- 9. int8 OpenVINO export: attention outside NNCF's quantization -------------------------------------------------


def _int8_requested(args) -> bool:
    # 8.4.x maps the deprecated int8=True onto quantize=8; 8.3.x has only int8
    return getattr(args, "quantize", None) == 8 or bool(getattr(args, "int8", False))


def _merged_scope(nncf, scope, names: list[str]):
    if scope is None:
        return nncf.IgnoredScope(names=names)
    return nncf.IgnoredScope(
        names=[*scope.names, *names],
        patterns=list(scope.patterns),
        types=list(scope.types),
        subgraphs=list(getattr(scope, "subgraphs", [])),
        validate=getattr(scope, "validate", True),
    )


def _minmax_parameters(nncf, params):
    """``params`` (or NNCF's defaults) with activation ranges taken as min/max over every calibration image."""
    from copy import deepcopy

    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    params = deepcopy(params) if params is not None else nncf.AdvancedQuantizationParameters()
    params.activations_range_estimator_params = RangeEstimatorParametersSet.MINMAX
    return params


def _export_openvino_keeping_attention(exporter, original, *args, **kwargs):
    model = getattr(exporter, "model", None)
    ours = model is not None and any(isinstance(m, AAttn) for m in model.modules())
    # min/max ranges are an explicit request, so they apply to any model (yolo11n too, to compare like with like)
    keep_attention, minmax = ours and not quantize.attention_in_int8(), quantize.minmax_ranges()
    if not (_int8_requested(exporter.args) and (keep_attention or minmax)):
        return original(exporter, *args, **kwargs)
    import nncf
    from ultralytics.utils import LOGGER

    nncf_quantize = nncf.quantize

    def quantize_yolov12(model, *a, ignored_scope=None, advanced_parameters=None, **kw):
        if keep_attention:
            names = quantize.openvino_attention_ops(model)
            LOGGER.info(f"ultra-yolov12: {len(names)} attention ops at float precision ({quantize.ATTENTION_ENV}=fp)")
            ignored_scope = _merged_scope(nncf, ignored_scope, names)
        if minmax:
            LOGGER.info(f"ultra-yolov12: activation ranges are min/max over all images ({quantize.RANGES_ENV}=minmax)")
            advanced_parameters = _minmax_parameters(nncf, advanced_parameters)
        if advanced_parameters is not None:
            kw["advanced_parameters"] = advanced_parameters
        return nncf_quantize(model, *a, ignored_scope=ignored_scope, **kw)

    with _LOCK:
        nncf.quantize = quantize_yolov12
        try:
            return original(exporter, *args, **kwargs)
        finally:
            nncf.quantize = nncf_quantize


# Formats whose converters trace ``torch.export`` programs and mis-handle channels-last conv weights (hook 10):
# ExecuTorch's XNNPACK pass stops ("Expected p_model_0_conv_weight to be NCHW in channels last reshape pass") and
# litert-torch writes a model with wrong boxes (measured with tests/test_export_formats.py on Ultralytics 8.4.190,
# executorch 1.5.1, litert-torch 0.10.0; both match PyTorch from contiguous weights). 8.3.0 has neither format.
CONTIGUOUS_EXPORTS = {"executorch", "litert"}


def _on_export_start(exporter) -> None:
    original = type(exporter).export_openvino
    exporter.export_openvino = functools.partial(_export_openvino_keeping_attention, exporter, original)
    model = getattr(exporter, "model", None)  # 8.4.x: the exporter's own fused copy (8.3.0 sets it later)
    if getattr(exporter.args, "format", None) in CONTIGUOUS_EXPORTS and isinstance(model, nn.Module):
        import torch

        _to_memory_format(model, torch.contiguous_format)


# --- 10. custom Albumentations --------------------------------------------------------------------------------------
# Ultralytics >= 8.3.226 takes ``model.train(augmentations=[...])``; older releases build a fixed pipeline. This swaps
# the ``ultralytics.data.augment.Albumentations`` step of a built training dataset for one running the given transforms.


def albumentations_takes_transforms() -> bool:
    """Whether the installed ``Albumentations`` step accepts custom transforms (Ultralytics >= 8.3.226)."""
    import inspect

    from ultralytics.data.augment import Albumentations

    return "transforms" in inspect.signature(Albumentations.__init__).parameters


def _albumentations_step(transforms: list, flip_idx=None):
    import albumentations as A
    from ultralytics.data.augment import Albumentations
    from ultralytics.utils import LOGGER, colorstr

    if albumentations_takes_transforms():  # the release's own constructor handles boxes, masks and keypoints
        return Albumentations(p=1.0, transforms=list(transforms), flip_idx=flip_idx)
    spatial = [type(t).__name__ for t in transforms if isinstance(t, A.DualTransform)]
    if spatial:
        raise ValueError(
            f"spatial Albumentations transforms {spatial} move boxes, which this Ultralytics release's Albumentations "
            "step cannot follow; use pixel-level transforms only, or upgrade to ultralytics>=8.3.226 and pass "
            "augmentations=[...] to model.train"
        )
    step = Albumentations.__new__(Albumentations)  # skip __init__: it would build and log the default pipeline
    step.p, step.transform, step.contains_spatial = 1.0, A.Compose(list(transforms)), False
    step.topology_transforms, step.flip_idx = [], flip_idx
    LOGGER.info(colorstr("albumentations: ") + ", ".join(str(t) for t in transforms))
    return step


def _swap_albumentations(compose, transforms: list) -> int:
    """Replace every Albumentations step in an Ultralytics ``Compose`` (recursively); return how many."""
    from ultralytics.data.augment import Albumentations

    steps = getattr(compose, "transforms", None)
    if not isinstance(steps, list):
        return 0
    n = 0
    for i, t in enumerate(steps):
        if isinstance(t, Albumentations):
            steps[i] = _albumentations_step(transforms, getattr(t, "flip_idx", None))
            n += 1
        else:
            n += _swap_albumentations(t, transforms)
    return n


def use_albumentations(trainer, transforms: list) -> int:
    """Make ``trainer``'s training dataset run ``transforms`` in place of Ultralytics' default Albumentations step.

    Call it once the dataloaders exist (an ``on_pretrain_routine_end`` callback). The dataset's ``build_transforms``
    is wrapped so the pipeline survives ``close_mosaic``'s rebuild, and the loader is reset so worker processes see
    it. Returns the number of steps replaced (0 for datasets without one, e.g. classification).
    """
    dataset = trainer.train_loader.dataset
    if not hasattr(dataset, "build_transforms"):
        return 0
    n = _swap_albumentations(dataset.transforms, transforms)
    if n and not getattr(dataset, "_ultra_yolov12_albumentations", False):
        build = dataset.build_transforms

        def build_transforms(hyp=None):
            t = build(hyp)
            _swap_albumentations(t, transforms)
            return t

        dataset.build_transforms = build_transforms
        dataset._ultra_yolov12_albumentations = True
        if hasattr(trainer.train_loader, "reset"):
            trainer.train_loader.reset()
    return n


# --- registration ---------------------------------------------------------------------------------------------------


def _default_callbacks() -> dict:
    from ultralytics.utils.callbacks import base

    return base.default_callbacks


def _tasks() -> types.ModuleType:
    from ultralytics.nn import tasks

    return tasks


_HOOKS = {"parse_model": _parse_model, "check_yaml": _check_yaml, "torch_safe_load": _torch_safe_load}
# methods, keyed "<class>.<name>": Model of ultralytics.engine.model, BaseModel of ultralytics.nn.tasks, Conv of
# ultralytics.nn.modules.conv
_METHOD_HOOKS = {
    "Model._load": _model_load,
    "BaseModel.fuse": _fuse,
    "BaseModel._predict_once": _predict_once,
    "Conv.forward": _conv_forward,
}


# --- 8. the yolo command ---------------------------------------------------------------------------------------------

_PACKAGE_DIR = str(Path(__file__).resolve().parent)


def raised_by_plugin(e: BaseException) -> bool:
    """Whether ``e`` is an error this package raised on purpose (its own class, or raised by its own code)."""
    from .pickles import CheckpointError
    from .sharing import SafetensorsError
    from .weights import WeightsDownloadError

    own = (LayoutError, UnsupportedUltralyticsError, CheckpointError, SafetensorsError, WeightsDownloadError)
    if isinstance(e, own):
        return True
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and str(Path(tb.tb_frame.f_code.co_filename).resolve()).startswith(_PACKAGE_DIR)


def _entrypoint(debug: str = "") -> None:
    import os
    import sys

    try:
        return _ORIGINALS["cfg.entrypoint"](debug)
    except Exception as e:
        if debug or os.environ.get("ULTRA_YOLOV12_DEBUG", "0") not in {"", "0"} or not raised_by_plugin(e):
            raise
        text = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
        print(f"yolo: error: {text}  (ULTRA_YOLOV12_DEBUG=1 shows the traceback)", file=sys.stderr)
        sys.exit(1)


def _cfg() -> types.ModuleType:
    import ultralytics.cfg

    return ultralytics.cfg


def _method_owner(key: str) -> type:
    """The class a ``_METHOD_HOOKS`` key names."""
    if key.startswith("BaseModel."):
        return _tasks().BaseModel
    if key.startswith("Conv."):
        from ultralytics.nn.modules.conv import Conv

        return Conv
    from ultralytics.engine.model import Model

    return Model


def register() -> None:
    """Install the hooks (idempotent, thread-safe). Raises :class:`UnsupportedUltralyticsError` on other releases."""
    with _LOCK:
        if _ORIGINALS:
            return
        import ultralytics

        check_version(ultralytics.__version__)
        tasks = _tasks()
        for name, hook in _HOOKS.items():
            _ORIGINALS[name] = getattr(tasks, name)
            setattr(tasks, name, functools.wraps(_ORIGINALS[name])(hook))
        for key, hook in _METHOD_HOOKS.items():
            owner, attr = _method_owner(key), key.split(".")[1]
            _ORIGINALS[key] = owner.__dict__[attr]
            setattr(owner, attr, functools.wraps(_ORIGINALS[key])(hook))
        cfg = _cfg()
        _ORIGINALS["cfg.entrypoint"] = cfg.entrypoint
        cfg.entrypoint = functools.wraps(cfg.entrypoint)(_entrypoint)
        starts = _default_callbacks()["on_train_start"]
        if official_notice not in starts:
            starts.append(official_notice)
        _default_callbacks()["on_export_start"].append(_on_export_start)


def unregister() -> None:
    """Restore Ultralytics' original functions."""
    with _LOCK:
        tasks = _tasks()
        for name, original in _ORIGINALS.items():
            if name == "cfg.entrypoint":
                _cfg().entrypoint = original
            elif name in _METHOD_HOOKS:
                setattr(_method_owner(name), name.split(".")[1], original)
            else:
                setattr(tasks, name, original)
        if _ORIGINALS:
            callbacks = _default_callbacks()["on_export_start"]
            while _on_export_start in callbacks:
                callbacks.remove(_on_export_start)
        _ORIGINALS.clear()
        starts = _default_callbacks()["on_train_start"]
        while official_notice in starts:
            starts.remove(official_notice)


def official_notice(trainer) -> None:
    """Training-start callback: one LOGGER line if a YOLOv12 model of this package trains with non-official values."""
    from ultralytics.utils import LOGGER, RANK

    from .recipes import official_differences
    from .recipes import official_notice as notice_text

    model = getattr(trainer, "model", None)
    model = getattr(model, "module", model)  # DDP wrapper
    if RANK not in {-1, 0} or not isinstance(model, nn.Module):
        return
    if not any(isinstance(m, (A2C2f, ABlock, AAttn)) for m in model.modules()):
        return  # Ultralytics' own models (YOLO11, its YOLO12) keep its defaults without a word
    yaml = getattr(model, "yaml", None) or {}
    scale = yaml.get("scale") if isinstance(yaml, dict) else None
    differences = official_differences(trainer.args, scale, getattr(trainer.args, "task", "detect"))
    if differences:
        LOGGER.warning(notice_text(differences, scale))


def has_builtin_yolo12() -> bool:
    """Whether the installed Ultralytics has its own YOLO12 layers (``A2C2f`` & co., 8.3.78 and newer)."""
    return hasattr(_tasks(), "A2C2f")


def has_compile_arg() -> bool:
    """Whether the installed Ultralytics takes ``compile=`` (torch.compile inside predict/train; 8.3.0 has none)."""
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return "compile" in DEFAULT_CFG_DICT


def is_registered() -> bool:
    """Whether :func:`register` has installed the hooks."""
    return bool(_ORIGINALS)
