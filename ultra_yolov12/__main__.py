"""``python -m ultra_yolov12 COMMAND key=value ...``: the same as the ``ultra-yolov12`` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
