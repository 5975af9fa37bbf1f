"""Dress MNIST digits up as users' images: the ways people really hand us a digit."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image


def _big(digit: np.ndarray, size: int = 140) -> np.ndarray:
    """The 28x28 digit scaled up 5x (smooth), white ink on black, uint8."""
    return np.asarray(Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC))


def inverted(digit: np.ndarray) -> Image.Image:
    return Image.fromarray(255 - _big(digit))


def off_centre(digit: np.ndarray) -> Image.Image:
    """Black ink on white, small, in a corner of a 400x300 canvas."""
    canvas = np.full((300, 400), 255, np.uint8)
    canvas[20:160, 230:370] = 255 - _big(digit)
    return Image.fromarray(canvas)


def tinted_rgb(digit: np.ndarray) -> Image.Image:
    """Blue ink on cream paper with a little noise, as a photo of a note."""
    ink = _big(digit).astype(np.float64)[..., None] / 255
    paper, pen = np.array([245, 235, 205]), np.array([30, 40, 120])
    rgb = paper * (1 - ink) + pen * ink + np.random.default_rng(0).normal(0, 6, ink.shape[:2] + (3,))
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def jpeg(digit: np.ndarray) -> Image.Image:
    buffer = io.BytesIO()
    tinted_rgb(digit).save(buffer, "JPEG", quality=60)
    return Image.open(io.BytesIO(buffer.getvalue()))


def transparent(digit: np.ndarray) -> Image.Image:
    """Black strokes on a fully transparent canvas (RGB all zero), as drawing apps save it."""
    big = _big(digit)
    rgba = np.zeros(big.shape + (4,), np.uint8)
    rgba[..., 3] = big
    return Image.fromarray(rgba, "RGBA")


def palette(digit: np.ndarray) -> Image.Image:
    return inverted(digit).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)


def sixteen_bit(digit: np.ndarray) -> Image.Image:
    return Image.fromarray(_big(digit).astype(np.uint16) * 257)  # mode I;16


STYLES: dict[str, Callable[[np.ndarray], Image.Image]] = {
    "inverted": inverted,
    "off_centre": off_centre,
    "tinted_rgb": tinted_rgb,
    "jpeg": jpeg,
    "transparent_png": transparent,
    "palette": palette,
    "16bit": sixteen_bit,
}


def save(img: Image.Image, folder: Path, name: str) -> Path:
    ext = ".jpg" if img.format == "JPEG" else ".png"
    path = folder / f"{name}{ext}"
    if ext == ".jpg":
        img.save(path, "JPEG", quality=95)
    else:
        img.save(path)
    return path
