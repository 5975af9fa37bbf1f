"""Held-out photo-like form pages for the digit reader, scored with ``vit-edge predict``.

Makes pages (400x300 up to 1600x1200, JPEG or PNG) of handwritten MNIST *test* digits
(index 5000 on) written into printed forms, then reads them with
``vit-edge predict --json --number`` as a black box and prints one JSON object of scores.

Kinds:

* ``comb``: a 3-5 digit number, one digit per cell of a printed comb (full boxes, or
  short teeth rising from a bottom line / hanging from a top line).
* ``fill_line``: a 2-4 digit number written on or just above a printed fill-in line.
* ``wide_box``: one digit in a printed box with a wide margin (1.25-1.8 digit heights).
* ``angle``: a digit (or a 2-3 digit number) on a white sheet photographed at an angle,
  lying on a wood-ish or grey textured table.
* ``blank_comb``, ``blank_line``, ``blank_box``: the printed forms with no writing.

This generator is written independently of the project's own page generator (dress.py):
it shares no code or parameters with it, so it checks the reader on forms it was not
tuned to.

Usage::

    python scripts/forms_second.py OUT_DIR [--n 40] [--seed 0] [--kinds comb,fill_line] [--model PATH]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

MNIST_DIR = Path("/work/shared/mnist")
FIRST_INDEX = 5000  # only test digits from here on
KINDS = ("comb", "fill_line", "wide_box", "angle", "blank_comb", "blank_line", "blank_box")
BLANK_KINDS = ("blank_comb", "blank_line", "blank_box")
BATCH = 64


# --------------------------------------------------------------------------- MNIST


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


class Digits:
    """MNIST test digits from FIRST_INDEX on, grouped by label."""

    def __init__(self, folder: Path = MNIST_DIR) -> None:
        images = _read_idx(folder / "t10k-images-idx3-ubyte.gz")[FIRST_INDEX:]
        labels = _read_idx(folder / "t10k-labels-idx1-ubyte.gz")[FIRST_INDEX:]
        self.images = images.astype(np.float32) / 255.0
        self.by_label = [np.flatnonzero(labels == d) for d in range(10)]

    def sample(self, digit: int, rng: np.random.Generator) -> np.ndarray:
        """A cropped (ink bounding box) 28x28-derived digit image in 0..1."""
        img = self.images[rng.choice(self.by_label[digit])]
        rows = np.flatnonzero(img.max(axis=1) > 0.1)
        cols = np.flatnonzero(img.max(axis=0) > 0.1)
        return img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def scale_digit(crop: np.ndarray, height: float) -> np.ndarray:
    """Scale a cropped digit smoothly so its ink is `height` pixels tall (aspect kept)."""
    h = max(4, int(round(height)))
    w = max(2, int(round(crop.shape[1] * h / crop.shape[0])))
    pad = np.pad(crop, 1)  # a zero border so the bicubic edge fades out
    big = Image.fromarray(pad, mode="F").resize(
        (w + max(1, round(2 * w / crop.shape[1])), h + max(1, round(2 * h / crop.shape[0]))),
        Image.BICUBIC,
    )
    return np.clip(np.asarray(big, dtype=np.float32), 0.0, 1.0)


def digit_width(crop: np.ndarray, height: float) -> float:
    return crop.shape[1] * height / crop.shape[0]


def number_layout(
    rng: np.random.Generator, crops: list[np.ndarray], dh: float, room: float
) -> tuple[float, list[float], list[float], float]:
    """Digit heights around dh and the gaps between them, shrunk to fit `room` px when wider:
    (dh, sizes, gaps, width)."""
    sizes = [dh * rng.uniform(0.92, 1.08) for _ in crops]
    gaps = [dh * rng.uniform(0.06, 0.35) for _ in crops[1:]]
    width = sum(digit_width(c, s) for c, s in zip(crops, sizes, strict=True)) + sum(gaps)
    if width > room:
        f = room / width
        dh, sizes, gaps, width = dh * f, [s * f for s in sizes], [g * f for g in gaps], width * f
    return dh, sizes, gaps, width


# --------------------------------------------------------------------------- drawing helpers


class Layer:
    """A float coverage mask (0..1) of page size, drawn in with numpy or ImageDraw."""

    def __init__(self, w: int, h: int) -> None:
        self.w, self.h = w, h
        self.a = np.zeros((h, w), dtype=np.float32)

    def stamp(self, alpha: np.ndarray, x0: float, y0: float) -> None:
        """Put `alpha` with its top-left at (x0, y0), clipped to the page (max blend)."""
        x0, y0 = int(round(x0)), int(round(y0))
        h, w = alpha.shape
        xa, ya = max(0, x0), max(0, y0)
        xb, yb = min(self.w, x0 + w), min(self.h, y0 + h)
        if xa >= xb or ya >= yb:
            return
        sub = alpha[ya - y0 : yb - y0, xa - x0 : xb - x0]
        np.maximum(self.a[ya:yb, xa:xb], sub, out=self.a[ya:yb, xa:xb])

    def rotated(self, angle: float, center: tuple[float, float]) -> np.ndarray:
        if abs(angle) < 1e-3:
            return self.a
        im = Image.fromarray(self.a, mode="F").rotate(angle, resample=Image.BICUBIC, center=center)
        return np.clip(np.asarray(im, dtype=np.float32), 0.0, 1.0)


class Printer:
    """Printed rules drawn into a Layer via an 8-bit ImageDraw mask."""

    def __init__(self, w: int, h: int) -> None:
        self.im = Image.new("L", (w, h), 0)
        self.draw = ImageDraw.Draw(self.im)

    def hline(self, x0: float, x1: float, y: float, lw: int) -> None:
        top = int(round(y - (lw - 1) / 2))
        self.draw.rectangle([int(round(x0)), top, int(round(x1)), top + lw - 1], fill=255)

    def vline(self, x: float, y0: float, y1: float, lw: int) -> None:
        left = int(round(x - (lw - 1) / 2))
        self.draw.rectangle([left, int(round(y0)), left + lw - 1, int(round(y1))], fill=255)

    def layer(self) -> Layer:
        lay = Layer(*self.im.size)
        lay.a = np.asarray(self.im, dtype=np.float32) / 255.0
        return lay


def page_size(rng: np.random.Generator) -> tuple[int, int]:
    w = int(rng.integers(400, 1601))
    h = int(np.clip(round(w * rng.uniform(0.62, 0.9)), 300, 1200))
    return w, h


def paper_colour(rng: np.random.Generator) -> np.ndarray:
    base = rng.uniform(228, 250)
    tint = rng.normal(0, 3, size=3) + np.array([2.0, 1.0, -2.0]) * rng.uniform(0, 2)
    return np.clip(base + tint, 200, 255).astype(np.float32)


def ink_colour(rng: np.random.Generator) -> np.ndarray:
    r = rng.random()
    if r < 0.45:  # black / graphite
        c = np.full(3, rng.uniform(10, 60)) + rng.normal(0, 4, 3)
    elif r < 0.85:  # blue ballpoint
        c = np.array([rng.uniform(15, 60), rng.uniform(25, 70), rng.uniform(90, 160)])
    else:  # dark red / green / purple
        c = [
            np.array([rng.uniform(110, 150), 25, 30]),
            np.array([25, rng.uniform(80, 110), 45]),
            np.array([70, 30, rng.uniform(100, 130)]),
        ][int(rng.integers(3))]
    return np.clip(c, 0, 255).astype(np.float32)


def print_colour(rng: np.random.Generator) -> np.ndarray:
    r = rng.random()
    if r < 0.7:  # black to mid-grey
        c = np.full(3, rng.uniform(0, 130))
    else:
        c = [
            np.array([60, 100, 200]),  # blue
            np.array([200, 60, 60]),  # red
            np.array([50, 150, 80]),  # green
        ][int(rng.integers(3))] + rng.normal(0, 12, 3)
    return np.clip(c, 0, 255).astype(np.float32)


def multiply(img: np.ndarray, alpha: np.ndarray, colour: np.ndarray, opacity: float = 1.0) -> None:
    """Dark ink over paper: paper * (1 - a * (1 - colour/255)), in place."""
    a = (alpha * opacity)[..., None]
    img *= 1.0 - a * (1.0 - colour / 255.0)


def lighting(h: int, w: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A gentle linear gradient plus a soft vignette-like falloff (multiplicative)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, 2 * math.pi)
    t = (xx / w - 0.5) * math.cos(theta) + (yy / h - 0.5) * math.sin(theta)
    g = 1.0 - strength * (t + 0.5)
    cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
    r2 = ((xx - cx) / w) ** 2 + ((yy - cy) / h) ** 2
    g *= 1.0 - rng.uniform(0.0, 0.12) * r2
    return g[..., None]


def finish(img: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """Camera softness, sensor noise, quantise."""
    out = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    blur = rng.uniform(0.0, 1.1)
    if blur > 0.25:
        out = out.filter(ImageFilter.GaussianBlur(blur))
    arr = np.asarray(out, dtype=np.float32)
    sigma = rng.uniform(1.0, 5.0)
    noise = rng.normal(0, sigma, arr.shape[:2])[..., None] + rng.normal(0, sigma * 0.4, arr.shape)
    return Image.fromarray(np.clip(arr + noise, 0, 255).astype(np.uint8), "RGB")


def compose(
    w: int, h: int, rules: Layer | None, ink: Layer | None, rng: np.random.Generator, center
) -> np.ndarray:
    """Paper + printed rules + handwriting, optionally all rotated a little together."""
    img = np.empty((h, w, 3), dtype=np.float32)
    img[:] = paper_colour(rng)
    angle = rng.uniform(-3, 3) if rng.random() < 0.5 else 0.0
    if rules is not None:
        multiply(img, rules.rotated(angle, center), print_colour(rng), rng.uniform(0.85, 1.0))
    if ink is not None:
        strength = rng.uniform(0.75, 1.0)
        multiply(img, ink.rotated(angle, center), ink_colour(rng), strength)
    img *= lighting(h, w, rng, rng.uniform(0.0, 0.15))
    return img


def random_number(rng: np.random.Generator, lo: int, hi: int) -> str:
    return "".join(str(int(d)) for d in rng.integers(0, 10, size=int(rng.integers(lo, hi + 1))))


# --------------------------------------------------------------------------- kinds


def make_comb(rng: np.random.Generator, digits: Digits, write: bool) -> tuple[np.ndarray, str]:
    w, h = page_size(rng)
    label = random_number(rng, 3, 5) if write else ""
    ncells = len(label) if write else int(rng.integers(3, 6))
    bh = h * rng.uniform(1 / 8, 1 / 4)
    cw = bh * rng.uniform(0.75, 1.2)
    if ncells * cw > 0.9 * w:
        cw = 0.9 * w / ncells
        bh = min(bh, cw / 0.7)
    total = ncells * cw
    x0 = rng.uniform(0.04 * w, w - total - 0.04 * w)
    y0 = rng.uniform(0.1 * h, h - bh - 0.1 * h)
    lw = int(rng.integers(1, 6))
    style = ["full", "teeth_bottom", "teeth_top"][int(rng.integers(3))]
    pr = Printer(w, h)
    xs = [x0 + i * cw for i in range(ncells + 1)]
    if style == "full":
        pr.hline(x0, x0 + total, y0, lw)
        pr.hline(x0, x0 + total, y0 + bh, lw)
        for x in xs:
            pr.vline(x, y0, y0 + bh, lw)
    else:
        tooth = bh * rng.uniform(0.2, 0.6)
        if style == "teeth_bottom":
            pr.hline(x0, x0 + total, y0 + bh, lw)
            for x in xs:
                pr.vline(x, y0 + bh - tooth, y0 + bh, lw)
        else:
            pr.hline(x0, x0 + total, y0, lw)
            for x in xs:
                pr.vline(x, y0, y0 + tooth, lw)
    ink = None
    if write:
        ink = Layer(w, h)
        pad = lw / 2 + 2
        for i, ch in enumerate(label):
            crop = digits.sample(int(ch), rng)
            dh = bh * rng.uniform(0.55, 0.85)
            if digit_width(crop, dh) > 0.85 * cw:
                dh *= 0.85 * cw / digit_width(crop, dh)
            alpha = scale_digit(crop, dh)
            ah, aw = alpha.shape
            cx = xs[i] + cw / 2 + rng.uniform(-1, 1) * max(0.0, (cw - aw) / 2 - pad) * 0.6
            top = rng.uniform(y0 + pad, max(y0 + pad, y0 + bh - ah - pad))
            ink.stamp(alpha, cx - aw / 2, top)
    img = compose(w, h, pr.layer(), ink, rng, (x0 + total / 2, y0 + bh / 2))
    return img, label


def make_fill_line(rng: np.random.Generator, digits: Digits, write: bool) -> tuple[np.ndarray, str]:
    w, h = page_size(rng)
    label = random_number(rng, 2, 4) if write else ""
    dh = h * rng.uniform(0.12, 0.3)
    crops = [digits.sample(int(ch), rng) for ch in label]
    dh, sizes, gaps, width = number_layout(rng, crops, dh, 0.75 * w)
    if not write:
        width = dh * rng.uniform(1.5, 3.5)
    room = w - width
    ext_l = min(dh * rng.uniform(0.3, 1.8), room * rng.uniform(0.2, 0.48))
    ext_r = min(dh * rng.uniform(0.3, 1.8), room * rng.uniform(0.2, 0.48))
    line_len = width + ext_l + ext_r
    lx0 = rng.uniform(0.01 * w, max(0.01 * w, w - line_len - 0.01 * w))
    ly = rng.uniform(min(0.08 * h + 1.3 * dh, 0.9 * h), 0.92 * h)
    lw = int(rng.integers(1, 6))
    pr = Printer(w, h)
    pr.hline(lx0, lx0 + line_len, ly, lw)
    ink = None
    if write:
        ink = Layer(w, h)
        touching = rng.random() < 0.25
        base_gap = dh * (rng.uniform(-0.04, 0.0) if touching else rng.uniform(0.0, 0.25))
        x = lx0 + ext_l
        for i, (crop, size) in enumerate(zip(crops, sizes, strict=True)):
            alpha = scale_digit(crop, size)
            bottom = ly - lw / 2 - base_gap - abs(rng.normal(0, 0.025)) * dh
            ink.stamp(alpha, x, bottom - alpha.shape[0])
            x += alpha.shape[1] + (gaps[i] if i < len(gaps) else 0)
    img = compose(w, h, pr.layer(), ink, rng, (lx0 + line_len / 2, ly))
    return img, label


def make_wide_box(rng: np.random.Generator, digits: Digits, write: bool) -> tuple[np.ndarray, str]:
    w, h = page_size(rng)
    label = str(int(rng.integers(10))) if write else ""
    dh = h * rng.uniform(0.12, 0.32)
    iw, ih = dh * rng.uniform(1.25, 1.8), dh * rng.uniform(1.25, 1.8)
    lw = int(rng.integers(1, 6))
    bx = rng.uniform(0.05 * w, w - iw - 2 * lw - 0.05 * w)
    by = rng.uniform(0.05 * h, h - ih - 2 * lw - 0.05 * h)
    pr = Printer(w, h)
    # inner edges at bx+lw .. bx+lw+iw (and the same vertically)
    pr.draw.rectangle(
        [int(bx), int(by), int(bx + iw + 2 * lw) - 1, int(by + ih + 2 * lw) - 1], outline=255, width=lw
    )
    ink = None
    if write:
        ink = Layer(w, h)
        alpha = scale_digit(digits.sample(int(label), rng), dh)
        ah, aw = alpha.shape
        ix, iy = bx + lw, by + lw
        m = 0.04 * dh
        x = ix + m + rng.uniform(0.15, 0.85) * max(0.0, iw - aw - 2 * m)
        y = iy + m + rng.uniform(0.15, 0.85) * max(0.0, ih - ah - 2 * m)
        ink.stamp(alpha, x, y)
    img = compose(w, h, pr.layer(), ink, rng, (bx + iw / 2, by + ih / 2))
    return img, label


def _smooth_noise(h: int, w: int, cells: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    small = rng.normal(0, 1, size=cells).astype(np.float32)
    return np.asarray(Image.fromarray(small, mode="F").resize((w, h), Image.BICUBIC), dtype=np.float32)


def table(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.5:  # wood-ish: warped stripes along a random direction
        base = np.array([rng.uniform(110, 170), rng.uniform(70, 110), rng.uniform(35, 70)], np.float32)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        th = rng.uniform(-0.3, 0.3) + (math.pi / 2 if rng.random() < 0.5 else 0.0)
        across = xx * math.sin(th) - yy * math.cos(th)
        warp = _smooth_noise(h, w, (4, 6), rng) * rng.uniform(8, 25)
        period = rng.uniform(12, 45)
        grain = 0.5 + 0.5 * np.sin(2 * math.pi * (across + warp) / period)
        fine = _smooth_noise(h, w, (max(2, h // 3), max(2, w // 40)), rng)
        if abs(math.cos(th)) < 0.5:  # stripes run vertically: stretch fine noise the other way
            fine = _smooth_noise(h, w, (max(2, h // 40), max(2, w // 3)), rng)
        shade = 0.78 + 0.14 * grain**1.5 + 0.04 * fine
        img = base * shade[..., None]
    else:  # grey desk / cloth with a mottled texture
        base = np.full(3, rng.uniform(70, 150), np.float32) + rng.normal(0, 6, 3).astype(np.float32)
        tex = 0.07 * _smooth_noise(h, w, (6, 8), rng) + 0.04 * _smooth_noise(h, w, (h // 4, w // 4), rng)
        img = base * (1.0 + tex)[..., None]
        img += rng.normal(0, 3, (h, w, 1)).astype(np.float32)
    return img.astype(np.float32)


def _perspective_coeffs(dst: np.ndarray, src: np.ndarray) -> list[float]:
    """Coefficients mapping output (dst) points to input (src) points for Image.PERSPECTIVE."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    return np.linalg.solve(np.array(rows, float), np.array(rhs, float)).tolist()


def make_angle(rng: np.random.Generator, digits: Digits, write: bool) -> tuple[np.ndarray, str]:
    w, h = page_size(rng)
    label = str(int(rng.integers(10))) if rng.random() < 0.55 else random_number(rng, 2, 3)
    # sheet width / height: mostly lying landscape-wise in a landscape frame, sometimes upright
    aspect = [math.sqrt(2), 4 / 3, 3 / 2, 1 / math.sqrt(2), 3 / 4][
        int(rng.choice(5, p=[0.25, 0.25, 0.2, 0.15, 0.15]))
    ]
    # the sheet in 3-D, tilted, turned, then projected by a pinhole camera
    tilt = math.radians(rng.uniform(0, 15))
    phi = rng.uniform(0, 2 * math.pi)
    ax, ay = tilt * math.cos(phi), tilt * math.sin(phi)
    rz = math.radians(rng.uniform(-10, 10))
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rzm = np.array([[math.cos(rz), -math.sin(rz), 0], [math.sin(rz), math.cos(rz), 0], [0, 0, 1]])
    corners = np.array([[-aspect, -1, 0], [aspect, -1, 0], [aspect, 1, 0], [-aspect, 1, 0]]) / 2
    cam = corners @ (rzm @ rx @ ry).T
    dist = rng.uniform(1.3, 2.5)
    quad = cam[:, :2] / (cam[:, 2:3] + dist)
    area = 0.5 * abs(
        np.dot(quad[:, 0], np.roll(quad[:, 1], -1)) - np.dot(quad[:, 1], np.roll(quad[:, 0], -1))
    )
    cover = rng.uniform(0.4, 0.85)
    s = math.sqrt(cover * w * h / area)
    span = quad.max(0) - quad.min(0)
    s = min(s, 0.98 * w / span[0], 0.98 * h / span[1])
    quad = quad * s
    lo, hi = quad.min(0), quad.max(0)
    off = np.array([rng.uniform(-lo[0], w - hi[0]), rng.uniform(-lo[1], h - hi[1])])
    quad = quad + off
    # the flat sheet, rendered at about the size it appears
    sh = int(max(80, (hi - lo)[1] * 1.1))
    sw = int(max(60, sh * aspect))
    sheet = np.empty((sh, sw, 3), np.float32)
    sheet[:] = np.clip(paper_colour(rng) + 5, 0, 255)
    ink = Layer(sw, sh)
    crops = [digits.sample(int(ch), rng) for ch in label]
    dh, sizes, gaps, width = number_layout(rng, crops, sh * rng.uniform(0.12, 0.3), 0.7 * sw)
    x = rng.uniform(0.15 * sw, 0.85 * sw - width)
    cy = rng.uniform(0.3, 0.7) * sh
    for i, (crop, size) in enumerate(zip(crops, sizes, strict=True)):
        alpha = scale_digit(crop, size)
        ink.stamp(alpha, x, cy - alpha.shape[0] / 2 + rng.normal(0, 0.03) * dh)
        x += alpha.shape[1] + (gaps[i] if i < len(gaps) else 0)
    multiply(sheet, ink.a, ink_colour(rng), rng.uniform(0.75, 1.0))
    src = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], float)
    coeffs = _perspective_coeffs(quad, src)
    warped = Image.fromarray(np.clip(sheet, 0, 255).astype(np.uint8), "RGB").transform(
        (w, h), Image.PERSPECTIVE, coeffs, Image.BICUBIC
    )
    mask = Image.new("L", (sw, sh), 255).transform((w, h), Image.PERSPECTIVE, coeffs, Image.BILINEAR)
    m = np.asarray(mask, np.float32)[..., None] / 255.0
    bg = table(h, w, rng)
    # a soft shadow under the sheet
    sr = max(2.0, 0.012 * max(w, h))
    dx, dy = rng.integers(-int(sr), int(sr) + 1, size=2)
    shadow = np.asarray(
        mask.filter(ImageFilter.GaussianBlur(sr)).transform(mask.size, Image.AFFINE, (1, 0, -dx, 0, 1, -dy)),
        np.float32,
    )[..., None]
    bg *= 1.0 - rng.uniform(0.2, 0.45) * shadow / 255.0
    img = bg * (1 - m) + np.asarray(warped, np.float32) * m
    img *= lighting(h, w, rng, rng.uniform(0.0, 0.2))
    return img, label


MAKERS = {
    "comb": lambda rng, d: make_comb(rng, d, True),
    "fill_line": lambda rng, d: make_fill_line(rng, d, True),
    "wide_box": lambda rng, d: make_wide_box(rng, d, True),
    "angle": lambda rng, d: make_angle(rng, d, True),
    "blank_comb": lambda rng, d: make_comb(rng, d, False),
    "blank_line": lambda rng, d: make_fill_line(rng, d, False),
    "blank_box": lambda rng, d: make_wide_box(rng, d, False),
}


# --------------------------------------------------------------------------- generation + scoring


def generate(out: Path, n: int, seed: int, kinds: list[str]) -> dict[str, dict[str, str]]:
    out.mkdir(parents=True, exist_ok=True)
    digits = Digits()
    labels: dict[str, dict[str, str]] = {}
    for kind in kinds:
        for i in range(n):
            rng = np.random.default_rng([seed, KINDS.index(kind), i])
            img, label = MAKERS[kind](rng, digits)
            pic = finish(img, rng)
            if rng.random() < 0.7:
                name = f"{kind}_{i:03d}.jpg"
                pic.save(out / name, quality=int(rng.integers(70, 96)))
            else:
                name = f"{kind}_{i:03d}.png"
                pic.save(out / name)
            labels[name] = {"kind": kind, "label": label}
    (out / "labels.json").write_text(json.dumps(labels, indent=1, sort_keys=True) + "\n")
    return labels


def _cli() -> list[str]:
    here = Path(sys.executable).parent / "vit-edge"
    exe = str(here) if here.exists() else shutil.which("vit-edge")
    if exe is None:
        sys.exit("vit-edge not found (activate the project's venv)")
    return [exe]


def _run_predict(cmd: list[str], out: Path, names: list[str]) -> tuple[dict[str, dict], str]:
    proc = subprocess.run(cmd + [str(out / name) for name in names], capture_output=True, text=True)
    found: dict[str, dict] = {}
    for line in proc.stdout.splitlines():
        if line.strip().startswith("{"):
            obj = json.loads(line)
            found[Path(obj.get("path", "")).name] = obj
    tail = proc.stderr.strip().splitlines()[-1:] if proc.returncode else []
    return found, (tail[0] if tail else f"exit status {proc.returncode}")


def predict(out: Path, names: list[str], model: str | None) -> dict[str, dict]:
    """Answers of `vit-edge predict --json --number`, by file name.

    A batch whose run dies is rerun one file at a time, so that one crash costs one page;
    a page the CLI still gives no answer for is recorded as {"crash": ...} (not a refusal).
    """
    cmd = [*_cli(), "predict", "--json", "--number"]
    if model:
        cmd += ["--model", model]
    results: dict[str, dict] = {}
    for start in range(0, len(names), BATCH):
        batch = names[start : start + BATCH]
        found, why = _run_predict(cmd, out, batch)
        missing = [name for name in batch if name not in found]
        if missing:
            print(f"warning: predict gave no answer for {len(missing)} file(s): {why}", file=sys.stderr)
            for name in missing:
                one, why_one = _run_predict(cmd, out, [name])
                if name not in one:
                    print(f"warning: {name}: still no answer: {why_one}", file=sys.stderr)
                found[name] = one.get(name, {"crash": why_one})
        results.update({name: found[name] for name in batch})
    return results


def score(labels: dict[str, dict[str, str]], results: dict[str, dict], kinds: list[str]) -> dict:
    table_: dict[str, dict] = {}
    for kind in kinds:
        rows = [
            (meta["label"], results[name]) for name, meta in sorted(labels.items()) if meta["kind"] == kind
        ]
        n = len(rows)
        err = [("error" in r) for _, r in rows]
        crash = [("crash" in r) for _, r in rows]
        unsure = [bool(r.get("uncertain", False)) for _, r in rows]
        ok = [not e and not c for e, c in zip(err, crash, strict=True)]  # the reader gave an answer
        number = [str(r.get("number", "")) if good else None for good, (_, r) in zip(ok, rows, strict=True)]
        right = [num is not None and num == lab for num, (lab, _) in zip(number, rows, strict=True)]

        def share(flags: list[bool], n: int = n) -> float:
            return round(sum(flags) / n, 3) if n else 0.0

        if kind in BLANK_KINDS:
            table_[kind] = {
                "n": n,
                "answered_confidently": share([g and not u for g, u in zip(ok, unsure, strict=True)]),
                "uncertain": share([g and u for g, u in zip(ok, unsure, strict=True)]),
                "refused": share(err),
                "crashed": share(crash),
            }
        else:
            table_[kind] = {
                "n": n,
                "read_right_and_sure": share([r and not u for r, u in zip(right, unsure, strict=True)]),
                "read_right": share(right),
                "confidently_wrong": share(
                    [g and not u and not r for g, u, r in zip(ok, unsure, right, strict=True)]
                ),
                "refused": share(err),
                "crashed": share(crash),
            }
    return table_


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--n", type=int, default=40, help="pages per kind")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated subset of " + ",".join(KINDS))
    ap.add_argument("--model", default=None, help="ONNX model passed to vit-edge predict")
    ap.add_argument(
        "--no-generate", action="store_true", help="score the pages already in OUT_DIR (its labels.json)"
    )
    args = ap.parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        ap.error(f"unknown kinds: {bad}")
    t0 = time.perf_counter()
    if args.no_generate:
        saved = json.loads((args.out_dir / "labels.json").read_text())
        labels = {name: meta for name, meta in saved.items() if meta["kind"] in kinds}
    else:
        labels = generate(args.out_dir, args.n, args.seed, kinds)
    t1 = time.perf_counter()
    results = predict(args.out_dir, sorted(labels), args.model)
    (args.out_dir / "predictions.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    t2 = time.perf_counter()
    report = {
        "seed": None if args.no_generate else args.seed,
        "n_per_kind": None if args.no_generate else args.n,
        "model": args.model or "default",
        "seconds_generate": round(t1 - t0, 1),
        "seconds_predict": round(t2 - t1, 1),
        "kinds": score(labels, results, kinds),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
