"""The ``ultra-yolov12`` command (also ``python -m ultra_yolov12``), in Ultralytics' ``key=value`` style.

``ultra-yolov12 COMMAND key=value ...`` calls one Python function with the keys as keyword arguments. Each command is
a lazy ``"module:function"`` reference in :data:`COMMANDS`; its valid keys are the function's parameters, read with
:mod:`inspect`, so the command and the function never drift apart. Values are parsed forgivingly (:func:`parse_value`):
ints, floats, ``true``/``false``, ``none``, comma lists ``a,b``. Unknown commands or keys print the valid ones, with a
near-match suggestion, and exit non-zero.

Exit codes: 0 success, 1 the command failed (one line on stderr for expected errors such as a missing file; set
``ULTRA_YOLOV12_DEBUG=1`` for the traceback), 2 bad usage, 130 interrupted.

Examples:
    >>> from ultra_yolov12.cli import main
    >>> main(["heatmap", "model=yolov12n.yaml", "source=bus.jpg", "imgsz=320"])  # doctest: +SKIP
    0
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
import os
import re
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["COMMANDS", "Command", "UsageError", "main", "parse_args", "parse_value"]

PROG = "ultra-yolov12"


@dataclass(frozen=True)
class Command:
    """One subcommand: the function it runs and what ``help`` says about it.

    Attributes:
        target (str): ``"package.module:function"``, imported only when the command runs.
        summary (str): One line for the command list.
        examples (tuple[str, ...]): Example argument strings (after ``ultra-yolov12 NAME``).
        extra (str): pip extra that provides optional dependencies, shown when they are missing.
    """

    target: str
    summary: str
    examples: tuple[str, ...] = ()
    extra: str = ""

    def load(self) -> Callable:
        module_name, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module_name), attr)


COMMANDS: dict[str, Command] = {
    "checks": Command(
        "ultra_yolov12.checks:checks",
        "Report versions, plugin registration and attention backends",
        ("",),
    ),
    "heatmap": Command(
        "ultra_yolov12.heatmap:heatmap",
        "Activation heat maps (paper Figure 5) of one layer, optionally next to other models",
        (
            "model=yolov12n.pt source=path/to/images compare=yolo11n.pt,yolov10n.pt",
            "model=yolov12n.yaml source=bus.jpg layer=model.6 imgsz=320",
        ),
    ),
    "convert": Command(
        "ultra_yolov12.checkpoints:convert",
        "Convert a YOLOv12 checkpoint between code bases' layouts, or to a pickle-free .safetensors",
        ("source=yolov12n.pt to=ultralytics", "source=best.pt target=best.safetensors to=safetensors"),
    ),
    "coco-eval": Command(
        "ultra_yolov12.coco:coco_eval",
        "COCO metrics (pycocotools) of a model on a dataset",
        ("model=yolov12n.pt data=coco.yaml",),
    ),
    "recipe": Command(
        "ultra_yolov12.recipes:recipe_args",
        "Print the official training recipe of a scale as yolo train arguments",
        ("scale=s", "scale=yolov12x-turbo.yaml batch=64"),
    ),
    "benchmark": Command(
        "ultra_yolov12.benchmark:run",
        "Speed benchmarks of the attention backends and models",
        ("",),
    ),
    "demo": Command(
        "ultra_yolov12.demo:demo",
        "Local web demo: upload an image, see detections and the heat map",
        ("", "models=runs/detect/train/weights/best.pt,yolov12n.yaml port=7860"),
        extra="demo",
    ),
}
ALIASES = {"coco_eval": "coco-eval", "cocoeval": "coco-eval", "check": "checks", "benchmarks": "benchmark"}
HELP_WORDS = {"help", "-h", "--help"}
# Failures that are the user's input or environment: one line on stderr, exit 1. Others keep their traceback.
# TypeError: Ultralytics' (and this plugin's) word for an unreadable checkpoint; ConnectionError: a failed download.
EXPECTED = (ValueError, TypeError, FileNotFoundError, ConnectionError, ImportError, NotImplementedError, RuntimeError)


class UsageError(ValueError):
    """The command line is wrong (exit code 2); the message says what to type instead."""


def _version() -> str:
    from . import __version__

    return __version__


def _suggest(word: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(valid), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def general_help() -> str:
    """The text of ``ultra-yolov12 help``."""
    width = max(len(n) for n in COMMANDS)
    lines = [
        f"{PROG} {_version()}: YOLOv12 for stock Ultralytics.",
        "",
        f"Usage: {PROG} COMMAND key=value ...     ({PROG} COMMAND help: the keys of one command)",
        "",
        "Commands:",
        *(f"    {name:<{width}}  {c.summary}" for name, c in COMMANDS.items()),
        "",
        "Examples:",
    ]
    n = 0
    for name, c in COMMANDS.items():
        for ex in c.examples:
            n += 1
            lines.append(f"    {n}. {PROG} {name} {ex}".rstrip())
    lines += [
        "",
        "Training, validation, prediction, export and tracking use Ultralytics' own command and Python API, e.g.:",
        "    yolo train model=yolov12n.yaml data=coco8.yaml epochs=10 imgsz=640",
        "",
        "Values: 6 -> int, 0.5 -> float, true/false -> bool, none -> None, a,b -> list. Docs: docs/cli.md",
    ]
    return "\n".join(lines)


def _arg_docs(fn: Callable) -> dict[str, str]:
    """``name -> description`` of each entry in the function docstring's ``Args:`` section (Google style)."""
    doc = inspect.getdoc(fn) or ""
    m = re.search(r"^Args:\n(.*?)(?:^\S|\Z)", doc, flags=re.M | re.S)
    out: dict[str, str] = {}
    key = None
    for line in (m.group(1) if m else "").splitlines():
        hit = re.match(r"^ {2,8}(\*{0,2}\w+)(?: *\([^)]*\))?: *(.*)", line)
        if hit:
            key = hit.group(1).lstrip("*")
            out[key] = hit.group(2)
        elif key and line.strip():  # continuation line
            out[key] += " " + line.strip()
    return {k: v.replace("``", "") for k, v in out.items()}


def command_help(name: str, fn: Callable) -> str:
    """The text of ``ultra-yolov12 NAME help``: summary, keys with defaults and descriptions, examples."""
    cmd = COMMANDS[name]
    params, var_kw = _parameters(fn)
    docs = _arg_docs(fn)
    lines = [f"{PROG} {name}: {cmd.summary}", "", f"Usage: {PROG} {name} key=value ...", "", "Keys:"]
    keys = [f"{p.name}={_show_default(p)}" for p in params.values()]
    width = min(max(map(len, keys), default=0), 28)
    for key, p in zip(keys, params.values()):
        text = docs.get(p.name, "")
        wrapped = textwrap.wrap(text, 116 - width) or [""]
        lines.append(f"    {key:<{width}}  {wrapped[0]}".rstrip())
        lines += [f"    {'':<{width}}  {w}" for w in wrapped[1:]]
    if var_kw:
        lines.append("    ...and any other key=value, passed on as a keyword argument")
    if not params and not var_kw:
        lines.append("    (none)")
    lines += ["", "Examples:", *(f"    {PROG} {name} {ex}".rstrip() for ex in cmd.examples)]
    return "\n".join(lines)


def parse_value(text: str) -> Any:
    """Turn a command-line value into a Python value, forgivingly.

    ``"6"`` -> 6, ``"0.5"`` -> 0.5, ``"True"``/``"false"`` -> bool, ``"none"``/``"null"`` -> None, ``"a,b"`` or
    ``"[a, b]"`` -> list (items parsed the same way), ``"'6'"`` -> ``"6"`` (quotes keep a string), anything else: str.
    """
    s = text.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    low = s.lower()
    if low in {"none", "null"}:
        return None
    if low in {"true", "false"}:
        return low == "true"
    if (s.startswith("[") and s.endswith("]")) or (s.startswith("(") and s.endswith(")")):
        return [parse_value(x) for x in s[1:-1].split(",") if x.strip()]
    if "," in s:
        return [parse_value(x) for x in s.split(",") if x.strip()]
    for cast in (int, float):
        try:
            return cast(s)
        except ValueError:
            pass
    return s


def _merge_equals(tokens: Sequence[str]) -> list[str]:
    """Join ``key = value``, ``key= value`` and ``key =value`` into ``key=value`` (as shells split them)."""
    out: list[str] = []
    for tok in tokens:
        if out and (tok.startswith("=") or out[-1].endswith("=")) and tok != "=":
            out[-1] += tok
        elif tok == "=" and out:
            out[-1] += "="
        else:
            out.append(tok)
    return out


def _parameters(fn: Callable) -> tuple[dict[str, inspect.Parameter], bool]:
    sig = inspect.signature(fn)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = {n: p for n, p in sig.parameters.items() if p.kind in kinds}
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    return params, var_kw


def parse_args(name: str, fn: Callable, tokens: Sequence[str]) -> dict[str, Any]:
    """Map ``key=value`` tokens to keyword arguments of ``fn``, checking them against its signature.

    A bare ``key`` (or ``--key``) whose default is a bool means ``key=True``. Dashes in keys count as underscores.

    Raises:
        UsageError: A token that is not ``key=value``, an unknown key, or a missing required key.
    """
    params, var_kw = _parameters(fn)
    valid = list(params)
    kwargs: dict[str, Any] = {}
    for tok in _merge_equals(tokens):
        key, eq, value = tok.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not eq:
            p = params.get(key)
            if p is not None and isinstance(p.default, bool):
                kwargs[key] = True
                continue
            raise UsageError(
                f"'{tok}' is not a key=value pair.{_suggest(key, valid)} Valid keys for '{name}': "
                f"{', '.join(valid) or '(none)'}. Example: {PROG} {name} {COMMANDS[name].examples[0]}".rstrip()
            )
        if not key:
            raise UsageError(f"'{tok}' has no key before '='")
        if key not in params and not var_kw:
            raise UsageError(
                f"'{key}' is not a valid key for '{name}'.{_suggest(key, valid)} "
                f"Valid keys: {', '.join(f'{k}={_show_default(p)}' for k, p in params.items()) or '(none)'}"
            )
        kwargs[key] = _checked(name, key, parse_value(value), params.get(key))
    missing = [k for k, p in params.items() if p.default is inspect.Parameter.empty and k not in kwargs]
    if missing:
        raise UsageError(
            f"'{name}' needs {', '.join(f'{k}=...' for k in missing)}. "
            f"Example: {PROG} {name} {COMMANDS[name].examples[0]}".rstrip()
        )
    return kwargs


def _checked(name: str, key: str, value: Any, p: inspect.Parameter | None) -> Any:
    """``value``, unless the key's default says it must be a number or a bool and it is a word."""
    default = None if p is None else p.default
    if isinstance(default, bool):
        want = "true or false"
        ok = isinstance(value, bool) or value in (0, 1)
    elif isinstance(default, (int, float)):
        want = "a number"
        ok = not isinstance(value, str)  # lists pass: imgsz=640,480
    else:
        return value
    if not ok:
        raise UsageError(f"{key}={value!r} is not {want} (default {key}={default}); e.g. {PROG} {name} {key}={default}")
    return value


def _show_default(p: inspect.Parameter) -> str:
    if p.default is inspect.Parameter.empty:
        return "..."
    return str(p.default) if isinstance(p.default, (str, int, float, type(None))) else repr(p.default)


def _load(name: str) -> Callable:
    """Import a command's function; a missing module or optional dependency becomes one clear error."""
    cmd = COMMANDS[name]
    module_name = cmd.target.partition(":")[0]
    try:
        failed = getattr(sys.modules.get(__package__), "_IMPORT_ERROR", None)  # the package import, when it failed
        if failed is not None:
            raise failed
        return cmd.load()
    except ModuleNotFoundError as e:
        if e.name and (module_name == e.name or module_name.startswith(e.name + ".")):
            raise RuntimeError(
                f"'{name}' is not available in this installation: module {module_name} is missing. "
                f"Upgrade ultra-yolov12 (pip install -U ultra-yolov12)"
            ) from e
        extra = f" (pip install 'ultra-yolov12[{cmd.extra}]')" if cmd.extra else ""
        raise RuntimeError(f"'{name}' needs the Python package '{e.name}', which is not installed{extra}") from e
    except AttributeError as e:
        raise RuntimeError(f"'{name}' is not available in this installation: {cmd.target} is missing ({e})") from e
    except ImportError as e:  # e.g. UnsupportedUltralyticsError: its message says which release to install
        raise RuntimeError(str(e)) from e
    except Exception as e:  # a broken dependency (Ultralytics raising at import): name it, no traceback
        raise RuntimeError(
            f"'{name}' could not start: importing it failed with {type(e).__name__}: {e}. Reinstall the package "
            f"that raised it (ULTRA_YOLOV12_DEBUG=1 shows the traceback)"
        ) from e


def _error(message: str) -> None:
    one_line = " ".join(line.strip() for line in message.splitlines() if line.strip())  # 8.4 words some in two
    print(f"{PROG}: error: {one_line}", file=sys.stderr)


def _print_result(fn: Callable, kwargs: dict, result: Any) -> None:
    """Print a dict result as JSON or a text result as is, unless the function reports itself (``verbose=True``)."""
    params, _ = _parameters(fn)
    if "verbose" in params and kwargs.get("verbose", params["verbose"].default):
        return
    if isinstance(result, dict):
        print(json.dumps(result, indent=2, default=str))
    elif isinstance(result, str):  # text meant for another command, e.g. $(ultra-yolov12 recipe scale=s)
        print(result)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``) in-process; returns the exit code.

    Args:
        argv: Tokens after the program name, e.g. ``["heatmap", "model=yolov12n.pt", "source=img.jpg"]``.

    Returns:
        (int): 0 on success, 1 when the command failed, 2 on a usage error (unknown command or key, missing key),
        130 when interrupted (Ctrl-C), also while the command's modules are still being imported.
    """
    try:
        return _main(argv)
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


def _main(argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0].lower() in HELP_WORDS:
        print(general_help())
        return 0
    if args[0].lower() in {"version", "--version", "-v"}:
        print(_version())
        return 0
    name = args[0].lower().replace("_", "-")
    name = ALIASES.get(name, name)
    if name not in COMMANDS:
        _error(
            f"'{args[0]}' is not a command.{_suggest(name, list(COMMANDS))} Valid commands: "
            f"{', '.join(COMMANDS)}. Run '{PROG} help' for examples."
        )
        return 2
    try:
        fn = _load(name)
    except RuntimeError as e:
        if os.environ.get("ULTRA_YOLOV12_DEBUG", "0") not in {"", "0"}:
            raise
        _error(str(e))
        return 1
    if any(a.lower() in HELP_WORDS for a in args[1:]):
        print(command_help(name, fn))
        return 0
    try:
        kwargs = parse_args(name, fn, args[1:])
    except UsageError as e:
        _error(str(e))
        return 2
    try:
        _print_result(fn, kwargs, fn(**kwargs))
    except BrokenPipeError:  # `ultra-yolov12 ... | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except EXPECTED as e:
        if os.environ.get("ULTRA_YOLOV12_DEBUG", "0") not in {"", "0"}:
            raise
        _error(f"{name} failed: {e}  (ULTRA_YOLOV12_DEBUG=1 shows the traceback)")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
