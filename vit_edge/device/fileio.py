"""Atomic file writes, shared by both sides (no torch): nothing half-written, nothing clobbered.

Every file the project writes goes to an unpredictable temporary name created exclusively in the
target folder (mkstemp: O_CREAT | O_EXCL, so a planted link or folder is never followed or
reused), and is renamed onto the target only when complete.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

TMP_SUFFIX = ".tmp"


def _prefix(path: Path) -> str:
    return f".{path.name}."


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Call write(tmp_path), then rename onto path: readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise IsADirectoryError(21, "is a folder", str(path))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_prefix(path), suffix=TMP_SUFFIX)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, usual_mode())  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def usual_mode(folder: bool = False) -> int:
    """The mode a new file (or folder) gets under the process's umask."""
    return (0o777 if folder else 0o666) & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def remove_stale_temporaries(*targets: Path) -> list[Path]:
    """Delete leftovers of atomic_write for these targets (a run killed while saving leaves one).

    Only this project's own naming is touched: regular files `.NAME.XXXXXXXX.tmp` beside NAME.
    """
    removed = []
    for target in map(Path, targets):
        if not target.parent.is_dir():
            continue
        for leftover in target.parent.glob(f"{_prefix(target)}*{TMP_SUFFIX}"):
            middle = leftover.name[len(_prefix(target)) : -len(TMP_SUFFIX)]
            if len(middle) == 8 and leftover.is_file() and not leftover.is_symlink():
                leftover.unlink(missing_ok=True)
                removed.append(leftover)
    return removed


def check_writable_folder(path: Path, option: str) -> None:
    """Fail early, before any long work, when the folder for `path` cannot be written."""
    from ..errors import UsageError

    folder = Path(path).parent
    blocker = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise UsageError(f"{option} {path}: cannot write there ({blocker} is a file, not a folder)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=_prefix(Path(path)) + "probe"):
            pass
    except OSError as e:
        raise UsageError(f"{option} {path}: cannot write there ({e.strerror or e})") from None
    if Path(path).is_dir():
        raise UsageError(f"{option} {path}: is a folder; give a file name")


def sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
