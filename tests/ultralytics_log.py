"""Capture of Ultralytics' log messages for tests (its LOGGER does not propagate to pytest's caplog)."""

from __future__ import annotations

import logging

from ultralytics.utils import LOGGER


class LogCapture(logging.Handler):
    """Collects the messages Ultralytics logs inside ``with LogCapture() as log:`` into ``log.lines``."""

    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())

    def __enter__(self):
        LOGGER.addHandler(self)
        return self

    def __exit__(self, *exc):
        LOGGER.removeHandler(self)

    def assert_no_install_attempt(self):
        bad = [line for line in self.lines if "AutoUpdate" in line or "requirement" in line.lower()]
        assert not bad, f"Ultralytics tried to install packages: {bad}"
