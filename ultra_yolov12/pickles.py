"""Check that a file is an Ultralytics checkpoint without running anything it contains.

A ``.pt`` file is a zip archive (``torch.save``) whose ``data.pkl`` is a pickle; unpickling calls whatever functions
the pickle names, so a hostile file runs code the moment it is loaded normally. :func:`inspect_checkpoint` reads the
archive with a *dry* unpickler: every global the pickle names becomes an inert placeholder (nothing from the file, and
no function it names, is ever called), and the names themselves are checked against what an Ultralytics checkpoint
needs:

- classes (PyTorch modules, tensors and storages, Ultralytics' and this plugin's layers) may be instantiated the way
  pickle rebuilds objects (``cls.__new__`` plus state);
- only a short list of functions may be *called*: tensor rebuilding (``torch._utils._rebuild_*``), containers
  (``collections.OrderedDict``, ``set``), ``torch.Size``/``torch.device``, numpy's array/scalar rebuilding,
  ``pathlib`` paths, Ultralytics' ``IterableSimpleNamespace``, and ``getattr`` of a non-underscore attribute
  (Ultralytics pickles bound ``forward`` methods that way);
- anything outside ``torch``, ``numpy``, ``ultralytics``, ``ultra_yolov12`` and those few standard names
  (``os.system``, ``builtins.exec``, ``subprocess.*``, ...) is refused, as is a name inside them that is a module or
  a function not on the list.

On top, the archive's CRCs are verified (a truncated or corrupted download fails here) and every tensor the pickle
refers to must be in the archive. This runs on every supported release and torch version; it is what official weight
downloads are checked with before they take their final name.
"""

from __future__ import annotations

import io
import pickle
import sys
import zipfile
from pathlib import Path

__all__ = ["CheckpointError", "UnsafeCheckpointError", "inspect_checkpoint"]

NAMESPACES = ("torch", "numpy", "ultralytics", "ultra_yolov12")
CALLABLE = {  # functions (and data types) a checkpoint pickle may call while it is rebuilt
    "collections.OrderedDict",
    "builtins.set",
    "builtins.frozenset",
    "builtins.slice",
    "builtins.complex",
    "builtins.getattr",
    "torch.Size",
    "torch.device",
    "torch.serialization._get_layout",
    "numpy.dtype",
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "pathlib.Path",
    "pathlib.PosixPath",
    "pathlib.WindowsPath",
    "pathlib._local.PosixPath",
    "pathlib._local.WindowsPath",
    "ultralytics.utils.IterableSimpleNamespace",
    "ultralytics.yolo.utils.IterableSimpleNamespace",
}
CALLABLE_PREFIXES = ("torch._utils._rebuild_",)


class CheckpointError(ValueError):
    """The file is not a complete, loadable Ultralytics checkpoint (the message says what it is instead)."""


class UnsafeCheckpointError(CheckpointError, TypeError):
    """The file's pickle names a function that would run when it is loaded; nothing of it was run.

    Also a ``TypeError``: what Ultralytics raises for a checkpoint its restricted loader refuses.
    """


def _callable(name: str) -> bool:
    return name in CALLABLE or name.startswith(CALLABLE_PREFIXES)


def _resolve(module: str, name: str):
    """The object ``module.name`` refers to if that module is already imported (nothing is imported), else None."""
    obj = sys.modules.get(module)
    for part in name.split("."):
        if obj is None:
            return None
        obj = getattr(obj, part, None)
    return obj


class _DryMeta(type):
    def __call__(cls, *args, **kwargs):  # pickle's REDUCE: calling the global
        if not _callable(cls.global_name):
            raise UnsafeCheckpointError(f"calls {cls.global_name}{_short(args)}")
        if cls.global_name == "builtins.getattr" and (
            len(args) != 2 or not isinstance(args[1], str) or args[1].startswith("_")
        ):
            raise UnsafeCheckpointError(f"calls getattr{_short(args)}")
        obj = object.__new__(_Dry)
        obj.global_name, obj.args = cls.global_name, args
        return obj


def _short(args: tuple) -> str:
    text = repr(tuple(a if isinstance(a, (str, int, float, bytes)) else type(a).__name__ for a in args))
    return text if len(text) <= 80 else text[:77] + "..."


class _Dry(metaclass=_DryMeta):
    """A placeholder for an object the pickle rebuilds: it keeps the global's name and takes any state."""

    global_name = ""

    def __new__(cls, *args):  # pickle's NEWOBJ: a class being instantiated without __init__
        obj = object.__new__(_Dry)
        obj.global_name, obj.args = cls.global_name, args
        return obj

    def __setstate__(self, state):
        self.state = state

    def __setitem__(self, key, value):
        pass

    def append(self, value):
        pass

    def extend(self, values):
        pass


class _DryUnpickler(pickle.Unpickler):
    def __init__(self, file, names: set[str], storages: set[str]):
        super().__init__(file)
        self.names, self.storages, self.classes = names, storages, {}

    def find_class(self, module: str, name: str):
        module = {"__builtin__": "builtins"}.get(module, module)  # pickle protocol 2 spells builtins the Python 2 way
        full = f"{module}.{name}"
        if module.split(".")[0] not in NAMESPACES and full not in CALLABLE:
            raise UnsafeCheckpointError(f"names {full}")
        obj = _resolve(module, name)
        if obj is not None and not isinstance(obj, type) and not _callable(full):
            import torch

            if not isinstance(obj, (torch.dtype, torch.device)):  # dtypes are pickled by name, as globals
                raise UnsafeCheckpointError(f"names {full}, a {type(obj).__name__} and not a class")
        self.names.add(full)
        if full not in self.classes:
            self.classes[full] = _DryMeta(name, (_Dry,), {"global_name": full})
        return self.classes[full]

    def persistent_load(self, pid):  # torch: ("storage", storage type, key, location, numel)
        if isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage":
            self.storages.add(str(pid[2]))
            return object.__new__(_Dry)
        raise CheckpointError(f"holds a persistent id the torch format does not use ({_short(pid)})")


def _is_module_class(name: str) -> bool:
    """Whether ``name`` is an ``nn.Module`` subclass; this plugin's classes stand for Ultralytics' YOLO12 names."""
    from torch import nn

    from . import nn as plugin_nn

    module, _, attr = name.rpartition(".")
    obj = _resolve(module, attr)
    if obj is None and module == "ultralytics.nn.modules.block":  # YOLO12 names on releases without them
        obj = getattr(plugin_nn, attr, None)
    return isinstance(obj, type) and issubclass(obj, nn.Module)


def inspect_checkpoint(path: str | Path) -> dict:
    """Check ``path`` is a complete Ultralytics checkpoint that loads without running code; nothing in it is run.

    Args:
        path (str | Path): A ``.pt`` file.

    Returns:
        (dict): ``model`` (the class name of the stored model), ``keys`` (the checkpoint dict's keys), ``globals``
        (every name the pickle refers to), ``tensors`` (number of stored tensor blobs).

    Raises:
        UnsafeCheckpointError: The pickle names or calls something that would run code when loaded.
        CheckpointError: Not a zip archive written by ``torch.save``, truncated, corrupted, or not a checkpoint dict
            with a model under ``model`` or ``ema``.
    """
    path = Path(path)
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as zf:
            pkl = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
            if len(pkl) != 1:
                raise CheckpointError(f"is a zip archive but not one written by torch.save ({size} bytes)")
            bad = zf.testzip()
            if bad is not None:
                raise CheckpointError(f"is corrupted: {bad} fails its CRC check")
            root = pkl[0].split("/")[0]
            members = set(zf.namelist())
            data = zf.read(pkl[0])
    except zipfile.BadZipFile as e:
        head = path.read_bytes()[:4] if size else b""
        what = "empty" if not size else "truncated" if head == b"PK\x03\x04" else "not a PyTorch zip checkpoint"
        raise CheckpointError(f"is {what} ({size} bytes; {e})") from None
    except (EOFError, OSError, RuntimeError) as e:  # e.g. a local header cut off: zipfile reads past the end
        raise CheckpointError(f"is truncated or corrupted ({size} bytes; {type(e).__name__}: {e})") from None
    names: set[str] = set()
    storages: set[str] = set()
    try:
        ckpt = _DryUnpickler(io.BytesIO(data), names, storages).load()
    except UnsafeCheckpointError as e:
        raise UnsafeCheckpointError(
            f"would run code when loaded: its pickle {e}. It was not loaded and nothing in it ran"
        ) from None
    except CheckpointError:
        raise
    except Exception as e:  # a malformed pickle stream: any of pickle's own errors
        raise CheckpointError(f"holds a malformed pickle ({type(e).__name__}: {e})") from None
    missing = sorted(k for k in storages if f"{root}/data/{k}" not in members)
    if missing:
        raise CheckpointError(f"lacks {len(missing)} of its {len(storages)} tensors (e.g. data/{missing[0]})")
    if not isinstance(ckpt, dict):
        raise CheckpointError(
            f"holds a {getattr(ckpt, 'global_name', '') or type(ckpt).__name__}, not a checkpoint dict"
        )
    model = next((ckpt[k] for k in ("model", "ema") if isinstance(ckpt.get(k), _Dry)), None)
    if model is None or not _is_module_class(model.global_name):
        raise CheckpointError(f"is a dict without a model under 'model' or 'ema' (keys: {', '.join(map(str, ckpt))})")
    return {"model": model.global_name, "keys": list(ckpt), "globals": sorted(names), "tensors": len(storages)}
