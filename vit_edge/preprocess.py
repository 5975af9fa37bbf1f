"""Turn a user's digit image into an MNIST-style 28x28 array: numpy and Pillow only.

any image -> grey (transparency flattened onto paper) -> white ink on black (invert dark-on-light)
-> contrast-stretched ink -> crop to the ink -> longer side 20 px -> 28x28, centre of mass centred.
That is how MNIST itself was made (20x20 box, centred by centre of mass in 28x28).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import VitEdgeError

MAX_PIXELS = 40_000_000  # larger images are refused before decoding (decompression bombs)
INK_THRESHOLD = 0.3  # of the stretched ink range: below it is paper, noise or JPEG ringing
BOX, SIDE, CENTRE = 20, 28, 14.0  # MNIST: digit box, canvas, centre of mass (measured: 14.0, 14.0)


class ImageError(VitEdgeError):
    """One image cannot be used; the others still are."""


def open_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image, refusing huge, truncated and non-image files."""
    path = Path(path)
    if not path.is_file():
        if path.is_dir():  # expand_inputs passes on a folder it found no images in
            raise ImageError("folder holds no image files")
        raise ImageError("no such file" if not path.exists() else "not a file")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(path)
            if img.width * img.height > MAX_PIXELS:
                raise ImageError(f"image too large ({img.width}x{img.height} > {MAX_PIXELS} pixels)")
            img.load()
        except UnidentifiedImageError:
            raise ImageError("not an image Pillow can read") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"image too large (over {MAX_PIXELS} pixels)") from None
        except (OSError, SyntaxError, ValueError) as e:
            raise ImageError(f"cannot decode image ({e})") from None
    return ImageOps.exif_transpose(img)


def to_grey(img: Image.Image) -> np.ndarray:
    """Float grey levels in [0, 1] (1 = white), with any transparency flattened onto paper."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        return np.clip(a / top, 0, 1)
    has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    rgba = np.asarray(img.convert("RGBA"), dtype=np.float64) / 255
    grey = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])
    if not has_alpha:
        return grey
    alpha = rgba[..., 3]
    if alpha.min() > 0.99:
        return grey
    # Transparent pixels become paper, opaque ones ink: the paper takes the opposite shade of the
    # strokes, so black strokes on a transparent canvas (drawing apps) land on white paper.
    ink_shade = float((grey * alpha).sum() / max(alpha.sum(), 1e-9))
    paper = 1.0 if ink_shade < 0.5 else 0.0
    return grey * alpha + paper * (1 - alpha)


def to_ink(grey: np.ndarray) -> np.ndarray:
    """White ink on black in [0, 1]: invert dark-on-light, then stretch paper to 0 and ink to 1."""
    h, w = grey.shape
    m = max(1, min(h, w) // 20)
    border = np.concatenate([grey[:m].ravel(), grey[-m:].ravel(), grey[:, :m].ravel(), grey[:, -m:].ravel()])
    ink = 1 - grey if np.median(border) > 0.5 else grey
    paper = float(np.median(ink))  # most of a digit image is paper
    strongest = float(np.percentile(ink, 99.9))
    if strongest - paper < 0.15:
        raise ImageError("blank image: no ink found")
    return np.clip((ink - paper) / (strongest - paper), 0, 1)


def mnist_style(ink: np.ndarray) -> np.ndarray:
    """Crop to the ink, fit the longer side to 20 px, and centre by centre of mass in 28x28."""
    rows, cols = np.nonzero(ink > INK_THRESHOLD)
    if rows.size == 0:
        raise ImageError("blank image: no ink found")
    crop = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].astype(np.float32)
    h, w = crop.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(crop, mode="F").resize(size, Image.Resampling.LANCZOS))
    small = np.clip(small, 0, 1)
    total = small.sum()
    cy = (small.sum(axis=1) * np.arange(small.shape[0])).sum() / total
    cx = (small.sum(axis=0) * np.arange(small.shape[1])).sum() / total
    top = int(np.clip(round(CENTRE - cy), 0, SIDE - small.shape[0]))
    left = int(np.clip(round(CENTRE - cx), 0, SIDE - small.shape[1]))
    canvas = np.zeros((SIDE, SIDE), dtype=np.float32)
    canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
    return canvas


def preprocess(path: str | Path) -> np.ndarray:
    """A user's image file as a float32 28x28 MNIST-style array in [0, 1]."""
    return preprocess_image(open_image(path))


def preprocess_image(img: Image.Image) -> np.ndarray:
    return mnist_style(to_ink(to_grey(img)))
