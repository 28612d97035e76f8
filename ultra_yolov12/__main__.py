"""``python -m ultra_yolov12 ...`` runs the ``ultra-yolov12`` command line (e.g. ``python -m ultra_yolov12 checks``)."""

import sys

from .cli import main

sys.exit(main())
