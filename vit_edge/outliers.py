"""Marks that are not digits, for outlier exposure (Hendrycks, Mazeika and Dietterich, ICLR 2019).

Training pushes the model's softmax on these toward uniform, so `predict` is unsure of a letter, a
symbol or a scribble instead of calling it a digit. Each mark is drawn as white ink on black and then
goes through `preprocess.mnist_style`, the very crop, thickening, 20 px fit and centring that
`predict` applies, so the model meets them in the form it will meet users' marks.

numpy and Pillow only. The held-out marks that measure this (`dress.not_digit`) are drawn by another
generator: pen-stroke templates of letters, symbols and doodles, on paper, through the whole of
`predict`. None of its doodles (smiley, heart, house, star) is drawn here. Its spiral is no longer held out:
spirals read as 9 until `curl` was added here, so the held-out figure is also given without it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .config import OUTLIER_KINDS
from .device.preprocess import mnist_style

# How often each kind is drawn (relative weights), among the kinds chosen.
KIND_WEIGHTS = {"glyph": 0.4, "strokes": 0.2, "shape": 0.15, "noise": 0.1, "scribble": 0.15, "curl": 0.05,
                "fragment": 0.1}  # fmt: skip

# Letters and symbols rendered from fonts. Left out: letters written like digits (O o I l S Z B G b
# g q, as the issue lists, and their kin i j s z), and marks shaped like a 1 (| / \ ! [ ] ( ) { }).
CHARACTERS = "".join(
    c for c in "ACDEFHJKLMNPQRTUVWXYacdefhkmnprtuvwxy+#%?*&@$=<>~^"
    if c not in "OoIlSZBGbgq"
)  # fmt: skip
CANVAS = 112
# Font files tried in order; whichever exist are used, beside Pillow's own scalable font.
FONT_FILES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Italic.ttf",
    "DejaVuSansMono.ttf", "DejaVuSans-Oblique.ttf",
)  # fmt: skip
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu",)


def fonts(size: int) -> list[ImageFont.FreeTypeFont]:
    """Pillow's built-in scalable font, plus the DejaVu fonts found on this machine (or matplotlib's)."""
    found: list[ImageFont.FreeTypeFont] = [ImageFont.load_default(size=size)]
    dirs = list(FONT_DIRS)
    try:
        import matplotlib

        dirs.append(str(Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf"))
    except ImportError:
        pass
    for name in FONT_FILES:
        for d in dirs:
            if (Path(d) / name).is_file():
                found.append(ImageFont.truetype(str(Path(d) / name), size))
                break
    return found


def _canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("L", (CANVAS, CANVAS), 0)
    return img, ImageDraw.Draw(img)


def glyph(rng: np.random.Generator, faces: list) -> Image.Image:
    img, draw = _canvas()
    char = CHARACTERS[rng.integers(len(CHARACTERS))]
    face = faces[rng.integers(len(faces))]
    draw.text((CANVAS / 2, CANVAS / 2), char, fill=255, font=face, anchor="mm",
              stroke_width=int(rng.integers(0, 4)), stroke_fill=255)  # fmt: skip
    return img.rotate(float(rng.uniform(-20, 20)), resample=Image.Resampling.BILINEAR)


def _pen(rng: np.random.Generator) -> int:
    return int(rng.integers(3, 12))


def strokes(rng: np.random.Generator) -> Image.Image:
    """One to four random pen strokes: polylines with sharp or smooth turns across the canvas.

    Each has at least four corners: with fewer, a random polyline is too often a 7, an L or a V."""
    img, draw = _canvas()
    for _ in range(int(rng.integers(1, 5))):
        points = rng.uniform(0.1, 0.9, (int(rng.integers(4, 9)), 2)) * CANVAS
        draw.line([tuple(p) for p in points], fill=255, width=_pen(rng), joint="curve")
    return img


def scribble(rng: np.random.Generator) -> Image.Image:
    """A scribble: a coil (a pen run along in at least three overlapping loops, like a telephone cord)
    or a cross-out (a pen rubbed back and forth). Single loops, curls and figure-eights are not
    drawn: they are 0, 6, 9 and 8."""
    img, draw = _canvas()
    t = np.linspace(0, 1, 300)
    if rng.random() < 0.6:
        loops = rng.uniform(3, 7)
        r = rng.uniform(0.6, 1.6) / loops  # loop radius, against the coil's length of 1
        phase = 2 * np.pi * loops * t
        x = t + r * np.cos(phase) * rng.uniform(0.7, 1.3)
        y = r * np.sin(phase) + rng.normal(0, 0.05) * np.sin(np.pi * t)  # the coil's line bends
    else:
        strokes = rng.uniform(4, 10)
        x = t + rng.normal(0, 0.02, t.size).cumsum() / 10
        y = rng.uniform(0.2, 0.5) * np.sign(np.sin(2 * np.pi * strokes * t)) * np.abs(
            np.sin(2 * np.pi * strokes * t)) ** 0.3  # fmt: skip
    draw.line(_fit(np.stack([x, y], 1), rng), fill=255, width=_pen(rng), joint="curve")
    return img


def _fit(path: np.ndarray, rng: np.random.Generator) -> list[tuple[float, float]]:
    """A path turned by a random angle and centred, its longer extent 3/4 of the canvas."""
    path = path - path.mean(0)
    a = rng.uniform(0, 2 * math.pi)
    path = path @ np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    path = CANVAS / 2 + path * (0.75 * CANVAS / max(float(np.ptp(path, 0).max()), 1e-6))
    return [tuple(q) for q in path]


def curl(rng: np.random.Generator) -> Image.Image:
    """A spiral of 1.75 to 4 turns, in or out, squeezed and turned. Fewer turns would be a 6 or a 9."""
    img, draw = _canvas()
    turns = rng.uniform(1.75, 4)
    theta = np.linspace(0, 2 * math.pi * turns, 400)
    r = rng.uniform(0, 0.15) + theta / theta[-1]  # Archimedean: the turns evenly spaced
    x = r * np.cos(theta) * rng.choice([-1, 1]) * rng.uniform(0.7, 1.3)
    draw.line(_fit(np.stack([x, r * np.sin(theta)], 1), rng), fill=255, width=int(rng.integers(3, 8)),
              joint="curve")  # fmt: skip
    return img


def _polygon(n: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    turn, r = rng.uniform(0, 2 * math.pi), 0.38 * CANVAS
    angles = [turn + 2 * math.pi * i / n for i in range(n)]
    return [(CANVAS / 2 + r * math.cos(a), CANVAS / 2 + r * math.sin(a)) for a in angles]


def shape(rng: np.random.Generator) -> Image.Image:
    """A geometric mark: triangle, square, pentagon, cross, asterisk, hash, zigzag, arrow or dashes."""
    img, draw = _canvas()
    w, c, lo, hi = _pen(rng), CANVAS / 2, 0.12 * CANVAS, 0.88 * CANVAS
    kind = int(rng.integers(9))
    if kind < 3:  # an outlined or filled polygon of 3, 4 or 5 sides
        points = _polygon(kind + 3, rng)
        if rng.random() < 0.3:
            draw.polygon(points, fill=255)
        else:
            draw.line(points + [points[0]], fill=255, width=w, joint="curve")
    elif kind == 3:  # X
        draw.line([(lo, lo), (hi, hi)], fill=255, width=w)
        draw.line([(hi, lo), (lo, hi)], fill=255, width=w)
    elif kind == 4:  # asterisk
        for a in np.linspace(0, math.pi, int(rng.integers(3, 5)), endpoint=False):
            dx, dy = 0.4 * CANVAS * math.cos(a), 0.4 * CANVAS * math.sin(a)
            draw.line([(c - dx, c - dy), (c + dx, c + dy)], fill=255, width=w)
    elif kind == 5:  # a hash or a grid of lines
        for t in np.linspace(0.3, 0.7, int(rng.integers(2, 4))) * CANVAS:
            draw.line([(t, lo), (t, hi)], fill=255, width=w)
            draw.line([(lo, t), (hi, t)], fill=255, width=w)
    elif kind == 6:  # zigzag
        n = int(rng.integers(3, 7))
        xs = np.linspace(lo, hi, n + 1)
        draw.line([(x, lo if i % 2 else hi) for i, x in enumerate(xs)], fill=255, width=w)
    elif kind == 7:  # arrow
        draw.line([(lo, c), (hi, c)], fill=255, width=w)
        draw.line([(hi - 0.25 * CANVAS, c - 0.2 * CANVAS), (hi, c), (hi - 0.25 * CANVAS, c + 0.2 * CANVAS)],
                  fill=255, width=w)  # fmt: skip
    else:  # dots and dashes in a row
        for x in np.linspace(lo, hi, int(rng.integers(3, 6))):
            r = w * rng.uniform(0.6, 1.5)
            draw.ellipse([x - r, c - r, x + r, c + r], fill=255)
    return img.rotate(float(rng.uniform(-180, 180)), resample=Image.Resampling.BILINEAR)


def fragment(rng: np.random.Generator, digits: np.ndarray) -> Image.Image:
    """Part of a training digit (a half cut off), or two digits drawn over each other."""
    a = digits[rng.integers(len(digits))].astype(np.float32)
    if rng.random() < 0.4:
        b = digits[rng.integers(len(digits))].astype(np.float32)
        b = np.rot90(b, int(rng.integers(1, 4)))  # turned, so the overlay is no digit of its own
        mark = np.maximum(a, b)
    else:
        mark = a.copy()
        side = int(rng.integers(4))
        cut = int(rng.integers(11, 17))
        (mark[:cut], mark[cut:], mark[:, :cut], mark[:, cut:])[side][...] = 0
    big = Image.fromarray(mark.astype(np.uint8)).resize((CANVAS, CANVAS), Image.Resampling.BICUBIC)
    return big


def noise(rng: np.random.Generator) -> Image.Image:
    """Texture: blotches of smoothed random noise, or a scatter of specks, over part of the canvas."""
    cells = int(rng.integers(3, 12))
    field = rng.uniform(0, 1, (cells, cells)).astype(np.float32)
    smooth = np.asarray(Image.fromarray(field, "F").resize((CANVAS, CANVAS), Image.Resampling.BICUBIC))
    ink = (smooth > rng.uniform(0.55, 0.85)).astype(np.uint8) * 255
    if rng.random() < 0.4:
        ink = (rng.random((CANVAS, CANVAS)) < rng.uniform(0.02, 0.2)).astype(np.uint8) * 255
    return Image.fromarray(ink)


def _one_like(mark: np.ndarray) -> bool:
    """Narrower than 2/5 of its height once fitted to 20 px: the shape of a 1."""
    rows, cols = np.nonzero(mark > 0.3)
    return np.ptp(cols) + 1 < 0.4 * (np.ptp(rows) + 1)


def fragment_digits(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The training digits fragments may be cut from: all but the 1s (half a 1 is still a 1)."""
    return images[labels != 1]


def make_bank(n: int, seed: int, digits: np.ndarray | None = None, kinds: str = "all") -> np.ndarray:
    """n outlier marks as uint8 (n, 28, 28), white on black, the same for the same seed and fonts.

    digits: training digits (uint8, (m, 28, 28)) for the fragments, as fragment_digits chooses
    them; without them, none are drawn.
    kinds: "all", or a comma-separated choice of OUTLIER_KINDS (the bank of the first release's
    fine-tune was "glyph,strokes,shape,noise,fragment").
    """
    rng = np.random.default_rng([seed, 38])
    faces = fonts(72)
    draw: dict[str, Callable[[], Image.Image]] = {
        "glyph": lambda: glyph(rng, faces),
        "strokes": lambda: strokes(rng),
        "shape": lambda: shape(rng),
        "noise": lambda: noise(rng),
        "scribble": lambda: scribble(rng),
        "curl": lambda: curl(rng),
        "fragment": lambda: fragment(rng, digits),
    }
    chosen = OUTLIER_KINDS if kinds == "all" else tuple(kinds.split(","))
    if digits is None or not len(digits):
        chosen = tuple(k for k in chosen if k != "fragment")
    names = [k for k in OUTLIER_KINDS if k in chosen]
    if not names:
        raise ValueError(f"no kind of mark to draw from {kinds!r} (fragments need training digits)")
    p = np.array([KIND_WEIGHTS[k] for k in names]) / sum(KIND_WEIGHTS[k] for k in names)
    bank = np.zeros((n, 28, 28), np.uint8)
    i = 0
    while i < n:
        img = draw[names[rng.choice(len(names), p=p)]]()
        ink = np.asarray(img, dtype=np.float32) / 255
        if np.count_nonzero(ink > 0.3) < 8:
            continue  # a mark rotated or cut off the canvas: draw another
        mark = mnist_style(ink)
        if _one_like(mark):
            continue  # a narrow upright mark reads as a 1: teaching doubt on it would cost real 1s
        bank[i] = np.round(255 * mark).astype(np.uint8)
        i += 1
    return bank
