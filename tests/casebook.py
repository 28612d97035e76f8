"""What the reliability battery tried and what the user saw, as data for docs/reliability.md.

Battery tests call :func:`record` once per case after asserting it. Nothing is written unless ``ULTRA_YOLOV12_CASEBOOK``
names a file (the table script sets it); then one JSON line per case is appended to it, so the table is generated from
the tests' own observations, never written by hand.
"""

from __future__ import annotations

import json
import os

ENV = "ULTRA_YOLOV12_CASEBOOK"


def record(section: str, case: str, via: str, outcome: str, message: str = "", **facts) -> None:
    """Append one case: ``section`` (table it belongs to), ``case`` (what was tried), ``via`` ("python", "yolo",
    "ultra-yolov12", ...), ``outcome`` (exception class, "exit 1", "ok", ...), ``message`` (first line the user saw),
    and any extra ``facts`` (``files_lost=0``, ``code_ran=False``, ...)."""
    path = os.environ.get(ENV)
    if not path:
        return
    row = {"section": section, "case": case, "via": via, "outcome": outcome, "message": message.strip(), **facts}
    with open(path, "a", encoding="utf-8") as f:  # one short write per line: safe under xdist and subprocesses
        f.write(json.dumps(row, default=str) + "\n")
