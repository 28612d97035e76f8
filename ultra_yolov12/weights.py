"""Official YOLOv12 weights by name: ``YOLO("yolov12n.pt")`` fetches the release asset when no such file exists.

Names (scale ``n``/``s``/``m``/``l``/``x``) and the official release they come from:

- ``yolov12{n..x}.pt``: detection, v1.0 (the paper's weights; ``yolov12n.yaml`` builds the same model);
- ``yolov12{n..x}-turbo.pt``: detection, turbo (``yolov12n-turbo.yaml``);
- ``yolov12{n..x}-seg.pt`` and ``yolov12{n..x}-cls.pt``: segmentation and classification.

A bare name is looked for in the working directory, then in Ultralytics' weights directory
(``SETTINGS["weights_dir"]``), and downloaded there with Ultralytics' own downloader (progress bar, retries); a path
with a directory is downloaded to that path. The download goes to a temporary file that is renamed when complete, so a
failure never leaves a partial file under the final name. Before the rename the file is checked to be a complete
Ultralytics checkpoint whose pickle runs no code (:func:`ultra_yolov12.pickles.inspect_checkpoint`, which executes
nothing from the file): a server that answers with an error page, a cut-off file or a hostile pickle gets one
:class:`WeightsDownloadError` and leaves nothing behind. Set ``ULTRA_YOLOV12_WEIGHTS_URL`` to a mirror that has the
same ``<release>/<file>`` layout as the official releases.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .files import atomic_path
from .pickles import CheckpointError, inspect_checkpoint

__all__ = [
    "OFFICIAL_URL",
    "URL_ENV",
    "Asset",
    "WeightsDownloadError",
    "asset",
    "discard_if_broken",
    "download",
    "official_names",
]

OFFICIAL_URL = "https://github.com/sunsmarterjie/yolov12/releases/download"
URL_ENV = "ULTRA_YOLOV12_WEIGHTS_URL"
RELEASES = {"": "v1.0", "-turbo": "turbo", "-seg": "seg", "-cls": "cls"}  # name suffix -> official release tag
_NAME = re.compile(r"yolov12([nsmlx])(-turbo|-seg|-cls)?\.pt")


class WeightsDownloadError(ConnectionError):
    """An official weight file could not be downloaded."""


@dataclass(frozen=True)
class Asset:
    """One official weight file: its name, where it is published, and where it is stored locally."""

    name: str
    url: str
    path: Path


def official_names() -> list[str]:
    """Every weight name that resolves to an official release asset."""
    return [f"yolov12{s}{suffix}.pt" for suffix in RELEASES for s in "nsmlx"]


def asset(name: str | Path) -> Asset | None:
    """Return the official asset for ``name`` (``yolov12s-turbo.pt``, ``path/to/yolov12s.pt`` ...), else None.

    Examples:
        >>> asset("yolov12n-turbo.pt").url
        'https://github.com/sunsmarterjie/yolov12/releases/download/turbo/yolov12n.pt'
    """
    path = Path(str(name).strip())
    m = _NAME.fullmatch(path.name)
    if m is None:
        return None
    scale, suffix = m.group(1), m.group(2) or ""
    remote = f"yolov12{scale}{'' if suffix == '-turbo' else suffix}.pt"  # turbo assets reuse the v1.0 file names
    base = (os.environ.get(URL_ENV) or OFFICIAL_URL).rstrip("/")
    if path.parent == Path("."):
        from ultralytics.utils import SETTINGS

        path = Path(SETTINGS["weights_dir"]) / path.name
    return Asset(name=path.name, url=f"{base}/{RELEASES[suffix]}/{remote}", path=path)


def download(name: str | Path, progress: bool = True, retry: int = 3) -> Path:
    """Return the local file of official weight ``name``, downloading it first if needed.

    Args:
        name (str | Path): An official weight name (see :func:`official_names`) or a path ending in one.
        progress (bool): Show Ultralytics' download progress bar.
        retry (int): Attempts after the first failure.

    Returns:
        (Path): The existing or downloaded file.

    Raises:
        ValueError: ``name`` is not an official weight name.
        WeightsDownloadError: The download failed or is not a complete checkpoint that loads without running code;
            the message names the URL and what to do. Nothing is left in the target folder.
    """
    a = asset(name)
    if a is None:
        raise ValueError(f"'{name}' is not an official YOLOv12 weight name; known: {', '.join(official_names())}")
    bare = Path(str(name).strip())
    for candidate in (bare, a.path):
        if candidate.is_file():
            return candidate
    from ultralytics.utils import LOGGER, colorstr
    from ultralytics.utils.downloads import safe_download

    LOGGER.info(f"{colorstr('ultra-yolov12: ')}downloading official {a.name} from {a.url} to {a.path}")
    mirror = f" ({URL_ENV}={os.environ[URL_ENV]})" if os.environ.get(URL_ENV) else ""
    try:
        with atomic_path(a.path, ".download") as tmp:
            try:
                safe_download(url=a.url, file=tmp, unzip=False, retry=retry, min_bytes=1e5, progress=progress)
                if not tmp.is_file():
                    raise ConnectionError("no file was written")
                try:
                    inspect_checkpoint(tmp)  # before the final name: a bad file must not pass for the weight
                except CheckpointError as e:
                    raise WeightsDownloadError(
                        f"{a.url}{mirror} did not send a YOLOv12 checkpoint for {a.name}: the download "
                        f"{e}. Nothing was saved to {a.path}. Check that the server has the official file at that URL "
                        f"(or unset {URL_ENV} for the official releases) and try again"
                    ) from None
            finally:
                for part in tmp.parent.glob(f".{tmp.name}.*.part"):  # Ultralytics' own partial file, when interrupted
                    part.unlink(missing_ok=True)
    except WeightsDownloadError:
        raise
    except Exception as e:
        raise WeightsDownloadError(
            f"could not download {a.name} from {a.url}{mirror} ({_cause(e)}). Nothing was saved to {a.path}. If this "
            f"machine is offline, download that URL elsewhere and put the file at {a.path}, or pass the file's path "
            f"instead of the name"
        ) from e
    return a.path


def discard_if_broken(path: str | Path) -> bool:
    """Remove ``path`` (a cached official weight) if it is no complete, code-free checkpoint; True if removed.

    Called only after loading the file failed, so a good file costs nothing; a broken one (a download cut short by
    an older release, an error page saved under the weight's name) is replaced by a fresh download.
    """
    from ultralytics.utils import LOGGER, colorstr

    try:
        inspect_checkpoint(path)
    except CheckpointError as e:
        LOGGER.warning(f"{colorstr('ultra-yolov12: ')}{path} {e}; removing it and downloading it again")
        Path(path).unlink(missing_ok=True)
        return True
    return False


def _cause(e: BaseException) -> str:
    """The error and, where the downloader wrapped one, the underlying cause (a timeout, a cut connection)."""
    text = f"{type(e).__name__}: {str(e).strip()}"
    root = e.__cause__ or e.__context__
    if root is not None and str(root).strip() and str(root).strip() not in text:
        text += f"; cause: {type(root).__name__}: {str(root).strip()}"
    return text
