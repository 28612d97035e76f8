"""The one module that touches Ultralytics internals.

Supported releases: ``SUPPORTED`` below (8.3.0, the first with C3k2, up to the newest 8.4.x); :func:`register` raises
:class:`UnsupportedUltralyticsError` outside it. :func:`register` replaces three functions in ``ultralytics.nn.tasks``,
once, under a lock, keeping the originals in ``_ORIGINALS`` (:func:`unregister` puts them back). Ultralytics' files are
never edited.

1. ``parse_model``. A model dict that opts in (top-level ``plugin: ultra_yolov12``, as every shipped config does, or any
   dict naming A2C2f/ABlock/AAttn on a release that has no such classes) is parsed by a *copy* of the installed
   Ultralytics ``parse_model`` whose global namespace resolves our module names to this package's classes. Channel
   inference, repeats, heads and the printed table therefore behave exactly as on the installed release. 8.3.0-8.3.77
   have no A2C2f branch, so the namespace also binds one generic width-scaled, repeated module name of the parser
   (``_REPEAT_ALIASES``, one the dict does not use) to our A2C2f; the scale-dependent R-ELAN arguments (L/X:
   ``residual=True, mlp_ratio=1.2``, turbo 1.5) are appended beforehand from the dict's ``a2c2f_scale_args``. Other
   dicts, Ultralytics' own ``yolo12*.yaml`` included, go to the untouched original.
2. ``check_yaml`` as seen by ``yaml_model_load``: ``yolov12*.yaml`` file names resolve to the configs shipped in the
   wheel after local files, in the order the installed ``yaml_model_load`` asks for them (scaled name, unified name);
   an unknown ``yolov12*`` name lists the available ones.
3. ``torch_safe_load``: while a checkpoint is unpickled, ``ultralytics.nn.modules.block.{AAttn,ABlock,A2C2f}`` resolve
   to this package's classes, so checkpoints of the official v1.0/turbo code and of Ultralytics' YOLO12 load on every
   supported release (AAttn reads its layout from the pickled weights; an unknown layout is one ``LayoutError``).
   Loaded foreign model dicts are aligned so that training rebuilds the same layers
   (``checkpoints.prepare_loaded``); empty, truncated and non-checkpoint files are one ``TypeError`` on every release.
4. Official weight names (same hook, before loading): ``yolov12n.pt``, ``yolov12n-turbo.pt``, ... that are not on disk
   are downloaded by ``weights.download`` (Ultralytics' own downloader) into Ultralytics' weights directory.
5. Stock class names for writing: ``stock_classes``/``stock_pickling`` give ``checkpoints.convert`` the classes that
   pickle as ``ultralytics.nn.modules.block.*``, with stand-ins on releases that have no YOLO12 (< 8.3.78).
6. Not a hook, but internals all the same: :func:`use_albumentations` puts a custom Albumentations pipeline into a
   trainer's training dataset on every supported release (only 8.3.226 and newer have ``augmentations=``).
7. Release features read from Ultralytics' default config: :func:`has_compile_arg` (``compile=``, 8.4.x, not 8.3.0).
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

import ultralytics

SUPPORTED = (">=8.3.0", "<8.5.0")
SUPPORTED_TEXT = "ultralytics>=8.3.0,<8.5.0"


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

from . import checkpoints, configs, weights  # noqa: E402
from .nn import A2C2f, A2C2fTurbo, A2C2fUltralytics, AAttn, ABlock, LayoutError  # noqa: E402

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
# Generic modules that every supported parse_model scales by width and gives a repeat count, with no other rule.
_REPEAT_ALIASES = ("C3x", "C3Ghost", "C3TR", "RepC3", "C2", "C1", "BottleneckCSP")

_ORIGINALS: dict = {}
_LOCK = threading.RLock()


# --- 1. parse_model -------------------------------------------------------------------------------------------------


def opts_in(d: dict, tasks: types.ModuleType) -> bool:
    """Whether model dict ``d`` is parsed with this plugin's modules."""
    if d.get("plugin") == "ultra_yolov12":
        return True
    names = {row[2] for row in d.get("backbone", []) + d.get("head", [])}
    return any(n in MODULES and not hasattr(tasks, n) for n in names)


def _prepare(d: dict) -> dict:
    """Apply the R-ELAN scale rule and check attention widths before the parser builds anything."""
    d = copy.deepcopy(d)
    scales = d.get("scales") or {}
    scale = d.get("scale") or next(iter(scales), "")
    depth, width, max_ch = scales.get(scale, (d.get("depth_multiple", 1.0), d.get("width_multiple", 1.0), math.inf))
    extra = (d.get("a2c2f_scale_args") or DEFAULT_SCALE_ARGS).get(scale, [])
    for i, row in enumerate(d.get("backbone", []) + d.get("head", [])):
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


def _parse_model(d, ch, verbose=True):
    tasks = _tasks()
    if not opts_in(d, tasks):
        return _ORIGINALS["parse_model"](d, ch, verbose=verbose)
    d = _prepare(d)
    names = {row[2] for row in d.get("backbone", []) + d.get("head", [])}
    namespace = {**vars(tasks), **{PREFIX + n: cls for n, cls in MODULES.items()}}
    original = _ORIGINALS["parse_model"]
    used = [n for n in R_ELAN if PREFIX + n in names]
    aliases = [a for a in _REPEAT_ALIASES if a not in names and hasattr(tasks, a)]
    if len(aliases) < len(used):
        raise RuntimeError(f"ultra-yolov12: not enough free parser aliases among {_REPEAT_ALIASES}")
    for name, a in zip(used, aliases):  # each R-ELAN class in use takes one free alias
        namespace[a] = MODULES[name]
    parse = types.FunctionType(original.__code__, namespace, original.__name__, original.__defaults__)
    return parse(d, ch, verbose=verbose)


# --- 2. config names ------------------------------------------------------------------------------------------------


def _check_yaml(file="", *args, **kwargs):
    name = Path(str(file)).name
    if not configs.is_yolov12_name(name) or Path(str(file)).exists():
        return _ORIGINALS["check_yaml"](file, *args, **kwargs)
    shipped = configs.CFG_DIR / name  # exact file names only: yaml_model_load tries the unified name itself
    if shipped.is_file():
        return str(shipped)
    try:
        return _ORIGINALS["check_yaml"](file, *args, **kwargs)
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f"'{file}' is not a YOLOv12 config shipped with ultra-yolov12 and no such file exists. "
            f"Available: {', '.join(configs.available())}"
        ) from e


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


def _torch_safe_load(weight, *args, **kwargs):
    weight = _resolve_weight(weight)
    try:
        with pickled_classes():
            ckpt, file = _ORIGINALS["torch_safe_load"](weight, *args, **kwargs)
    except LayoutError as e:  # raised by AAttn.__setstate__ deep inside unpickling: say it once, with the file
        raise LayoutError(f"{weight}: {e}") from None
    except (EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as e:  # releases < 8.4 pass these through raw
        raise _unreadable(weight, e) from e
    except RuntimeError as e:
        if "PytorchStreamReader" in str(e) or "zip archive" in str(e):
            raise _unreadable(weight, e) from e
        raise
    except AttributeError as e:  # e.g. a tensor saved as .pt: older releases look for its ``.model``
        raise TypeError(
            f"{weight} is not an Ultralytics checkpoint: it holds no model ({type(e).__name__}: {e})"
        ) from e
    if not isinstance(ckpt, dict) or not any(isinstance(ckpt.get(k), nn.Module) for k in ("model", "ema")):
        found = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise TypeError(
            f"{weight} is not an Ultralytics checkpoint: it holds no model under 'model' or 'ema' ({found})"
        )
    checkpoints.prepare_loaded(ckpt, builtin_yolo12=has_builtin_yolo12())
    return ckpt, file


def load_checkpoint_file(weight) -> tuple[dict, str]:
    """Load a checkpoint dict through Ultralytics' ``torch_safe_load`` (with this plugin's hooks when registered)."""
    return _tasks().torch_safe_load(weight)


# --- 4. official weight names ---------------------------------------------------------------------------------------


def _resolve_weight(weight):
    """An official YOLOv12 weight name that is not a file here becomes the downloaded file (see ``weights``)."""
    if isinstance(weight, (str, Path)) and not Path(str(weight).strip()).exists():
        if weights.asset(weight) is not None:
            return str(weights.download(weight))
    return weight


# --- 5. stock class names for writing checkpoints -------------------------------------------------------------------

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


# --- 6. custom Albumentations ---------------------------------------------------------------------------------------
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


def _tasks() -> types.ModuleType:
    from ultralytics.nn import tasks

    return tasks


_HOOKS = {"parse_model": _parse_model, "check_yaml": _check_yaml, "torch_safe_load": _torch_safe_load}


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


def unregister() -> None:
    """Restore Ultralytics' original functions."""
    with _LOCK:
        tasks = _tasks()
        for name, original in _ORIGINALS.items():
            setattr(tasks, name, original)
        _ORIGINALS.clear()


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
