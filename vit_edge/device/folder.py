"""A folder of the user's own labelled images (`train --data`, `evaluate --data`). numpy + Pillow only.

The layout is one folder per class: DIR/0/ ... DIR/9/, and an optional DIR/not-a-digit/ of images
that must be marked unsure. Every image goes through `predict`'s own preprocessing (the 28x28 input
that `predict --save-input` writes), once: the inputs are cached by the file's content and the
preprocessing's source, so a second run, or a file moved to another class, costs no preprocessing.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError, ImageError
from . import preprocess
from .fileio import atomic_write

DIGITS = tuple(str(d) for d in range(10))
NOT_A_DIGIT = "not-a-digit"
NOT_A_DIGIT_LABEL = -1  # the label of DIR/not-a-digit/ images in `labels`
CACHE_NAME = "inputs.npz"
ONE_TO_CHECK = "every digit needs at least 2 (one to train on, one to check)"


@dataclass
class LabelledImages:
    """A folder's images as the model sees them: uint8 (n, 28, 28) inputs, int64 labels (0-9, or
    NOT_A_DIGIT_LABEL), and each image's path relative to the folder, sorted by class then name."""

    images: np.ndarray
    labels: np.ndarray
    paths: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why) predict cannot read

    def counts(self) -> dict[str, int]:
        return {name: int((self.labels == label).sum()) for name, label in class_labels().items()}

    def subset(self, keep: np.ndarray) -> LabelledImages:
        paths = [self.paths[i] for i in np.flatnonzero(keep)]
        return LabelledImages(self.images[keep], self.labels[keep], paths)


def class_labels() -> dict[str, int]:
    return {**{d: int(d) for d in DIGITS}, NOT_A_DIGIT: NOT_A_DIGIT_LABEL}


def scan(folder: Path) -> dict[str, list[Path]]:
    """Each class folder's image files, by class name; a bad layout is one DataError line."""
    from PIL import Image

    folder = Path(folder)
    if not folder.is_dir():
        found = "does not exist" if not folder.exists() else "is not a folder"
        raise DataError(f"--data {folder} {found}; give a folder with one subfolder per digit, 0/ to 9/")
    extensions = Image.registered_extensions()
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    strays = [p.name for p in entries if p.is_file() and p.suffix.lower() in extensions]
    if strays:
        raise DataError(
            f"--data {folder}: {_names(strays)} lie outside a class folder; put each image in "
            f"{folder}/<digit>/ (or {NOT_A_DIGIT}/)"
        )
    others = [p.name for p in entries if p.is_dir() and p.name not in class_labels()]
    if others:
        raise DataError(
            f"--data {folder}: {_names(others)} is not a class folder; the classes are 0 to 9 "
            f"and {NOT_A_DIGIT}"
        )
    files = {
        name: sorted(p for p in (folder / name).iterdir() if p.is_file() and not p.name.startswith("."))
        for name in class_labels()
        if (folder / name).is_dir()
    }
    if not any(files.values()):
        raise DataError(f"--data {folder}: no images found; put them in {folder}/0/ ... {folder}/9/")
    missing = [d for d in DIGITS if not files.get(d)]
    if missing:
        raise DataError(
            f"--data {folder}: no images of {_names(missing, 'digit')}; every digit 0-9 needs a folder "
            "with at least 2 images"
        )
    short = [d for d in DIGITS if len(files[d]) < 2]
    if short:
        raise DataError(f"--data {folder}: fewer than 2 images of {_names(short, 'digit')}; {ONE_TO_CHECK}")
    return files


def _names(items: list[str], what: str = "") -> str:
    prefix = f"{what}s " if what and len(items) > 1 else (f"{what} " if what else "")
    shown = ", ".join(items[:5]) + (f" and {len(items) - 5} more" if len(items) > 5 else "")
    return prefix + shown


def cache_dir() -> Path:
    """$VIT_EDGE_CACHE, else a per-user cache folder."""
    if env := os.environ.get("VIT_EDGE_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vit-edge" / "inputs"


def preprocessing_version() -> str:
    """The preprocessing's own source: a cached input is used only by the code that made it."""
    return hashlib.sha256(Path(preprocess.__file__).read_bytes()).hexdigest()[:16]


def load(folder: Path, log: Callable[[str], None] = print, cache: Path | None = None) -> LabelledImages:
    """The folder's images, labelled, as predict's 28x28 inputs (cached; see the module)."""
    folder = Path(folder)
    files = scan(folder)
    store = _Cache(folder, cache or cache_dir())
    images, labels, paths, skipped = [], [], [], []
    for name, label in class_labels().items():
        for path in files.get(name, []):
            relative = f"{name}/{path.name}"
            try:
                images.append(store.get(path))
            except (ImageError, OSError) as e:
                skipped.append((relative, str(e).splitlines()[0] if str(e) else type(e).__name__))
                continue
            labels.append(label)
            paths.append(relative)
    store.save(log)
    if store.made:
        log(f"prepared {store.made} images as predict sees them ({store.reused} from the cache {store.path})")
    if skipped:
        named = "; ".join(f"{p} ({why})" for p, why in skipped[:5]) + ("; ..." if len(skipped) > 5 else "")
        log(f"warning: skipped {len(skipped)} files predict cannot read: {named}")
    images_array = np.array(images, np.uint8).reshape(-1, 28, 28)
    found = LabelledImages(images_array, np.array(labels, np.int64), paths, skipped)
    short = [d for d in DIGITS if found.counts()[d] < 2]
    if short:
        raise DataError(
            f"--data {folder}: fewer than 2 readable images of {_names(short, 'digit')}; {ONE_TO_CHECK}"
        )
    return found


def to_input(path: Path) -> np.ndarray:
    """predict's 28x28 input of one image file, as uint8 (what --save-input writes)."""
    pixels = preprocess.read(path).pixels
    return np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8)


class _Cache:
    """The 28x28 inputs of one folder, keyed by each file's sha256, in one .npz file."""

    def __init__(self, folder: Path, root: Path) -> None:
        key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
        self.path = root / f"{key}-{preprocessing_version()}-{CACHE_NAME}"
        self.entries: dict[str, np.ndarray] = {}
        self.used: dict[str, np.ndarray] = {}
        self.made = self.reused = 0
        try:
            with np.load(self.path) as saved:
                self.entries = {k: saved[k] for k in saved.files}
        except (OSError, ValueError, KeyError):  # no cache yet, or a damaged one: made again
            self.entries = {}

    def get(self, path: Path) -> np.ndarray:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in self.entries and self.entries[digest].shape == (28, 28):
            self.reused += 1
        else:
            self.entries[digest] = to_input(path)
            self.made += 1
        self.used[digest] = self.entries[digest]
        return self.used[digest]

    def save(self, log: Callable[[str], None]) -> None:
        if not self.made and len(self.used) == len(self.entries):
            return
        try:
            atomic_write(self.path, lambda tmp: _save_npz(tmp, self.used))
        except OSError as e:
            reason = e.strerror or e
            log(f"warning: cannot write the cache {self.path} ({reason}); the next run prepares again")


def _save_npz(tmp: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(tmp, "wb") as f:  # np.savez would append .npz to a bare path
        np.savez(f, **arrays)


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A boolean mask of the validation images: `fraction` of each class (at least one of a class
    with two or more images, never all of a class), drawn with the seed."""
    rng = np.random.default_rng([seed, 54])
    val = np.zeros(len(labels), bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < 2:
            continue
        n = min(len(members) - 1, max(1, round(fraction * len(members))))
        val[rng.choice(members, n, replace=False)] = True
    return val
