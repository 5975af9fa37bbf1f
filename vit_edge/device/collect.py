"""`vit-edge web --collect DIR`: the page's Collect mode writes each image it keeps into DIR/<label>/,
the layout `vit-edge train --data` reads. numpy-free: the standard library and Pillow.

The server accepts only these writes, and answers anything else with an error status and no file:
- only into DIR, under a class folder (0-9, not-a-digit) and a plain file name the page makes;
- only PNG or JPEG images (the bytes are decoded, not only named) of at most MAX_BYTES;
- only from the page's own origin (the browser's Origin header; a page elsewhere cannot write);
- never over an existing file (the image is written to a temporary file, then linked to its name,
  which fails when the name is taken).
Undo takes back only files this server wrote.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import threading
from pathlib import Path

from ..errors import UsageError
from .fileio import usual_mode
from .folder import DIGITS, NOT_A_DIGIT

LABELS = (*DIGITS, NOT_A_DIGIT)
MAX_BYTES = 4_000_000  # a 12-megapixel phone frame as a JPEG is about this; a digit's crop is far less
MAX_PIXELS = 50_000_000
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,79}\.(png|jpg)")
FORMATS = {"png": "PNG", "jpg": "JPEG"}
ROUTE = "/collect/"


class Refused(Exception):
    """A request the collector does not carry out: an HTTP status and one line of why."""

    def __init__(self, status: int, why: str):
        super().__init__(why)
        self.status, self.why = status, why


class Collector:
    """Writes the page's images into one folder, and only there."""

    def __init__(self, folder: Path):
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"--collect {folder} is not a folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"--collect {folder}: cannot make the folder ({e.strerror or e})") from None
        self.folder = folder.resolve()
        self.written: set[Path] = set()
        self.lock = threading.Lock()

    def target(self, path: str) -> Path:
        """/collect/<label>/<name> -> the file in the folder; anything else is refused."""
        parts = path.split("?", 1)[0][len(ROUTE) :].split("/")
        if len(parts) != 2 or parts[0] not in LABELS or not NAME.fullmatch(parts[1]):
            raise Refused(400, f"not a class folder and image name: {path!r}")
        target = self.folder / parts[0] / parts[1]
        if target.resolve().parent != self.folder / parts[0]:  # a class folder made a link elsewhere
            raise Refused(400, f"{parts[0]}/ does not lie in the collect folder")
        return target

    def write(self, path: str, body: bytes) -> Path:
        target = self.target(path)
        check_image(body, FORMATS[target.suffix[1:]])
        with self.lock:
            target.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".collect.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(body)
                os.chmod(tmp, usual_mode())
                os.link(tmp, target)  # fails where the name is taken: nothing is written over
            except FileExistsError:
                raise Refused(409, f"{target.parent.name}/{target.name} exists already") from None
            finally:
                Path(tmp).unlink(missing_ok=True)
            self.written.add(target)
        return target

    def remove(self, path: str) -> Path:
        target = self.target(path)
        with self.lock:
            if target not in self.written:
                raise Refused(404, f"{target.parent.name}/{target.name} was not written by this page")
            target.unlink(missing_ok=True)
            self.written.discard(target)
        return target


def check_image(body: bytes, fmt: str) -> None:
    """The bytes are an image of the named format, whole (decoded, not only its header read)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(body)) as img:
            if img.format != fmt:
                raise Refused(415, f"not a {fmt} image ({img.format})")
            if img.width * img.height > MAX_PIXELS:  # a small file that would decode to gigabytes
                raise Refused(413, f"a {img.width}x{img.height} image is over {MAX_PIXELS} pixels")
            img.load()
    except Refused:
        raise
    except Exception as e:  # noqa: BLE001 (whatever Pillow says of bytes that are no image)
        raise Refused(415, f"not an image ({type(e).__name__})") from None
