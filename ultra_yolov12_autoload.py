"""Start-up hook (run by ``ultra_yolov12.pth``): register ultra-yolov12 whenever a process imports Ultralytics.

This is how the ``yolo`` CLI, Ultralytics' generated multi-GPU (DDP) script and spawned dataloader workers get the
plugin without a line of user code. It only puts a finder in front of ``sys.meta_path`` that waits for
``import ultralytics`` to finish, then imports ``ultra_yolov12``; nothing is imported at start-up. It never raises:
a broken or unsupported Ultralytics is reported as a warning. Set ``ULTRA_YOLOV12_AUTOLOAD=0`` to switch it off.
"""

import os
import sys

ENV_VAR = "ULTRA_YOLOV12_AUTOLOAD"


def _register() -> None:
    try:
        import ultra_yolov12  # noqa: F401  (importing registers)
    except Exception as e:  # never break the host process
        import warnings

        warnings.warn(f"ultra-yolov12 was not registered with Ultralytics: {type(e).__name__}: {e}", stacklevel=2)


class _Loader:
    def __init__(self, loader):
        self.loader = loader

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        _register()


class _Finder:
    """Meta-path finder that wraps the real loader of the top-level ``ultralytics`` package, once."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "ultralytics":
            return None
        sys.meta_path.remove(self)  # one shot; also stops recursion into ourselves below
        from importlib.util import find_spec

        spec = find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def install() -> None:
    """Arm the hook unless switched off (runs on import, i.e. from ``ultra_yolov12.pth`` at interpreter start)."""
    if os.environ.get(ENV_VAR, "1").strip().lower() in {"0", "false", "no", "off"}:
        return
    if "ultralytics" in sys.modules:
        _register()
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


try:
    install()
except Exception:  # pragma: no cover - interpreter start-up must never fail because of us
    pass
