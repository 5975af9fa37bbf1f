"""MNIST in IDX format: locate, validate, optionally download, and split. numpy only (no torch)."""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError

IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049
ROWS = COLS = 28


FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
COUNTS = {"train": 60_000, "test": 10_000}
# Published MD5 of each .gz; used only for files we download (files on disk are checked by header,
# since a re-compressed .gz has the same content but another checksum).
GZ_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
DOWNLOAD_TIMEOUT_S = 10


def default_data_dir() -> Path:
    """VIT_EDGE_DATA if set, else a per-user cache folder."""
    if env := os.environ.get("VIT_EDGE_DATA"):
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "vit-edge" / "mnist"


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    return Path(data_dir) if data_dir else default_data_dir()


def find_file(data_dir: Path, name: str) -> Path | None:
    """The file `name` (raw or .gz) in data_dir or in torchvision's layout data_dir/MNIST/raw."""
    for folder in (data_dir, data_dir / "MNIST" / "raw"):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read ({e})") from None


def parse_idx(raw: bytes, path: Path, magic: int, count: int | None = None) -> np.ndarray:
    """Validate an IDX header and return its uint8 payload: (n, 28, 28) images or (n,) labels."""
    header_ints = 4 if magic == IMAGE_MAGIC else 2
    if len(raw) < 4 * header_ints:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes)")
    header = np.frombuffer(raw, dtype=">i4", count=header_ints)
    if header[0] != magic:
        raise DataError(f"{path}: bad IDX magic {header[0]} (expected {magic})")
    n = int(header[1])
    if count is not None and n != count:
        raise DataError(f"{path}: holds {n} items, expected {count}")
    shape: tuple[int, ...] = (n,)
    if magic == IMAGE_MAGIC:
        if (header[2], header[3]) != (ROWS, COLS):
            raise DataError(f"{path}: images are {header[2]}x{header[3]}, expected {ROWS}x{COLS}")
        shape = (n, ROWS, COLS)
    payload = raw[4 * header_ints :]
    expected = int(np.prod(shape))
    if len(payload) != expected:
        raise DataError(f"{path}: payload is {len(payload)} bytes, expected {expected}")
    return np.frombuffer(payload, dtype=np.uint8).reshape(shape)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write uint8 images (n, 28, 28) or labels (n,) as IDX (gzip if path ends in .gz)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = IMAGE_MAGIC if array.ndim == 3 else LABEL_MAGIC
    header = np.array([magic, *array.shape], dtype=">i4").tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


def download(name: str, data_dir: Path, mirrors: tuple[str, ...] = MIRRORS) -> Path:
    """Fetch name.gz from the first mirror that answers, verify its published MD5, save atomically."""
    gz_name = f"{name}.gz"
    data_dir.mkdir(parents=True, exist_ok=True)
    reasons = []
    for mirror in mirrors:
        try:
            with urllib.request.urlopen(mirror + gz_name, timeout=DOWNLOAD_TIMEOUT_S) as r:
                body = r.read()
        except (OSError, ValueError) as e:
            reasons.append(f"{mirror}: {e}")
            continue
        digest = hashlib.md5(body).hexdigest()
        if digest != GZ_MD5[gz_name]:
            reasons.append(f"{mirror}: MD5 {digest} != published {GZ_MD5[gz_name]}")
            continue
        target = data_dir / gz_name
        fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=f".{gz_name}.")
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        os.replace(tmp, target)
        return target
    raise DataError(
        f"MNIST file {gz_name} is not in {data_dir} and could not be downloaded "
        f"({'; '.join(reasons)}); put the four MNIST .gz files there or pass --data-dir"
    )


def locate(name: str, data_dir: Path, allow_download: bool = True) -> Path:
    if path := find_file(data_dir, name):
        return path
    if not allow_download:
        raise DataError(
            f"MNIST file {name}[.gz] not found in {data_dir}; put the four MNIST files there "
            "or pass --data-dir (or set VIT_EDGE_DATA)"
        )
    return download(name, data_dir)


def load_split(
    split: str, data_dir: str | os.PathLike | None = None, allow_download: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 28, 28) uint8 and labels (n,) uint8 of the 'train' or 'test' split."""
    folder = resolve_data_dir(data_dir)
    image_name, label_name = FILES[split]
    image_path = locate(image_name, folder, allow_download)
    label_path = locate(label_name, folder, allow_download)
    images = parse_idx(_read_bytes(image_path), image_path, IMAGE_MAGIC)
    labels = parse_idx(_read_bytes(label_path), label_path, LABEL_MAGIC, count=len(images))
    if labels.max(initial=0) > 9:
        raise DataError(f"{label_path}: label {labels.max()} is not a digit")
    return images, labels


@dataclass
class MNISTSplits:
    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray


def train_val_split(
    images: np.ndarray, labels: np.ndarray, val_size: int = 5_000, seed: int = 0
) -> MNISTSplits:
    """A deterministic, seeded split of the training set (default 55,000 / 5,000); 0 holds none out."""
    if not 0 <= val_size < len(images):
        raise DataError(f"validation size {val_size} must be between 0 and {len(images) - 1}")
    order = np.random.default_rng(seed).permutation(len(images))
    val, train = order[:val_size], order[val_size:]
    return MNISTSplits(images[train], labels[train], images[val], labels[val])
