"""Test matrix: `nox` runs the suite on the installed (newest) Ultralytics and on the oldest supported release.

- ``tests``: the current environment, as set up by ``python -m pip install -e ".[dev]"`` (newest Ultralytics 8.4.x).
- ``tests_oldest``: a fresh virtualenv with Ultralytics 8.3.0 and the torch/numpy of its day (8.3.0 predates
  torch 2.6's ``weights_only=True`` default and numpy 2, so a newer torch/numpy breaks Ultralytics itself there).
"""

import nox

nox.options.sessions = ["tests", "tests_oldest"]
nox.options.reuse_existing_virtualenvs = True

OLDEST = ["ultralytics==8.3.0", "torch==2.4.1", "torchvision==0.19.1", "numpy<2", "onnxslim==0.1.34"]


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """Run the suite in the current environment."""
    session.run("python", "-c", "import ultralytics; print('ultralytics', ultralytics.__version__)")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def tests_oldest(session: nox.Session) -> None:
    """Run the suite against Ultralytics 8.3.0."""
    session.install(".[dev]", *OLDEST)  # a regular (non-editable) install: also proves the wheel carries cfg/ and .pth
    session.run("python", "-c", "import ultralytics; print('ultralytics', ultralytics.__version__)")
    session.run("pytest", *session.posargs)  # the script, not `python -m`: the installed package, not ./ultra_yolov12
