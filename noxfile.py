"""Test matrix: `nox` runs the suite on the installed (newest) Ultralytics and on the oldest supported release.

- ``tests``: the current environment, as set up by ``python -m pip install -e ".[dev]"`` (newest Ultralytics 8.4.x).
- ``tests_oldest``: a fresh virtualenv with Ultralytics 8.3.0 and the torch/numpy of its day (8.3.0 predates
  torch 2.6's ``weights_only=True`` default and numpy 2, so a newer torch/numpy breaks Ultralytics itself there).
  It installs ``[test]``, i.e. ``[dev]`` without ``[export-newest]``: ExecuTorch needs numpy 2, and the TensorFlow,
  LiteRT, PaddlePaddle and ExecuTorch parity tests skip on 8.3.0 with their reasons (tests/test_export_formats.py).
- ``tests_official``: Ultralytics 8.3.63, the release the official YOLOv12 code is a fork of, with the image stack
  the official training figures were produced with: ``tests/test_official.py`` only, whose seeded trainings of
  yolov12n and yolov12n-turbo on COCO8 with the official defaults must give the official losses (8.3.63 alone), and
  the initial-weight fingerprints.
"""

import nox

nox.options.sessions = ["tests", "tests_oldest", "tests_official"]
nox.options.reuse_existing_virtualenvs = True

OLDEST = ["ultralytics==8.3.0", "torch==2.4.1", "torchvision==0.19.1", "numpy<2", "onnxslim==0.1.34"]
# The official losses need the environment they were produced in: torch >= 2.12 (its trunc_normal_ sampler draws the
# official turbo weights), OpenCV 5.0.0 (other builds decode and resample the images differently; opencv-python-headless
# comes with Albumentations and shares the cv2 package, so both are pinned) and Albumentations 2.0.8. The session only
# trains from YAML, so 8.3.63's torch.load without weights_only=True is never reached.
OFFICIAL = [
    "ultralytics==8.3.63",
    "torch==2.14.1",
    "torchvision==0.29.1",
    "opencv-python==5.0.0.93",
    "opencv-python-headless==5.0.0.93",
    "albumentations==2.0.8",
    "pytest>=7",
]


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """Run the suite in the current environment."""
    session.run("python", "-c", "import ultralytics; print('ultralytics', ultralytics.__version__)")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def tests_oldest(session: nox.Session) -> None:
    """Run the suite against Ultralytics 8.3.0."""
    session.install(".[test]", *OLDEST)  # a regular (non-editable) install: also proves the wheel carries cfg/ and .pth
    session.run("python", "-c", "import ultralytics; print('ultralytics', ultralytics.__version__)")
    session.run("pytest", *session.posargs)  # the script, not `python -m`: the installed package, not ./ultra_yolov12


@nox.session
def tests_official(session: nox.Session) -> None:
    """Train like the official code on its Ultralytics release (8.3.63) and check the official figures."""
    session.install(".", *OFFICIAL)  # the package's own dependencies only: this session runs one test file
    session.run("python", "-c", "import ultralytics; print('ultralytics', ultralytics.__version__)")
    session.run("pytest", "tests/test_official.py", *session.posargs)
