"""Dress MNIST digits up as users' images: the ways people really hand us a digit.

numpy and Pillow only. A measurement tool, not part of the installed package: used by the tests,
scripts/dressed_accuracy.py and the other scripts, and the ARM check (`import dress` with scripts/ on
the path).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


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


# --- Drawings: the digit redrawn as pen strokes, as paint programs, tablets and vector tools make it.


def skeleton(digit: np.ndarray, upscale: int = 4) -> np.ndarray:
    """A one-pixel-wide skeleton of the digit (Zhang-Suen thinning), on a grid `upscale` times finer."""
    big = np.asarray(Image.fromarray(digit).resize((28 * upscale,) * 2, Image.Resampling.BICUBIC)) > 127
    img = np.pad(big, 1).astype(np.uint8)
    changed = True
    while changed:
        changed = False
        for step in (0, 1):
            p = img[1:-1, 1:-1]
            n = [
                img[:-2, 1:-1],
                img[:-2, 2:],
                img[1:-1, 2:],
                img[2:, 2:],
                img[2:, 1:-1],
                img[2:, :-2],
                img[1:-1, :-2],
                img[:-2, :-2],
            ]  # fmt: skip  P2..P9
            count = sum(x.astype(np.int32) for x in n)
            transitions = sum(((n[i] == 0) & (n[(i + 1) % 8] == 1)).astype(np.int32) for i in range(8))
            p2, p4, p6, p8 = n[0], n[2], n[4], n[6]
            if step == 0:
                side = ((p2 & p4 & p6) == 0) & ((p4 & p6 & p8) == 0)
            else:
                side = ((p2 & p4 & p8) == 0) & ((p2 & p6 & p8) == 0)
            remove = (p == 1) & (count >= 2) & (count <= 6) & (transitions == 1) & side
            if remove.any():
                p[remove] = 0
                changed = True
    return img[1:-1, 1:-1].astype(bool)


def skeleton_segments(digit: np.ndarray) -> np.ndarray:
    """Line segments joining 8-neighbour skeleton pixels: (n, 4) as y0, x0, y1, x1 in [0, 1]."""
    sk = skeleton(digit)
    size = sk.shape[0]
    segments = []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a = sk[: size - dy, max(0, -dx) : size - max(0, dx)]
        b = sk[dy:, max(0, dx) : size - max(0, -dx) or None]
        ys, xs = np.nonzero(a & b)
        xs = xs + max(0, -dx)
        segments.append(np.stack([ys, xs, ys + dy, xs + dx], axis=1))
    segs = np.concatenate(segments).astype(np.float64)
    lone = np.argwhere(sk & ~_has_neighbour(sk))  # isolated dots stay as dots
    segs = np.concatenate([segs, np.concatenate([lone, lone], axis=1)]) if len(lone) else segs
    return (segs + 0.5) / size


def _has_neighbour(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask, 1)
    around = sum(
        padded[1 + dy : 1 + dy + mask.shape[0], 1 + dx : 1 + dx + mask.shape[1]]
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
        if dy or dx
    )
    return around > 0


def pen_drawing(digit: np.ndarray, pen: int, side: int, supersample: int = 1) -> np.ndarray:
    """Ink coverage in [0, 1] of the digit drawn with a round pen of `pen` px on a side x 3/4 side canvas.

    The digit is 60% of the canvas height, a little off centre. supersample > 1 draws larger and
    shrinks, for anti-aliased edges as drawing apps and vector exports give them.
    """
    width, height = side, round(side * 0.75)
    s = supersample
    canvas = Image.new("L", (width * s, height * s), 0)
    draw = ImageDraw.Draw(canvas)
    extent = 0.6 * height * s
    top, left = 0.15 * height * s, 0.3 * width * s
    r = pen * s / 2
    for y0, x0, y1, x1 in skeleton_segments(digit):
        p0 = (left + x0 * extent, top + y0 * extent)
        p1 = (left + x1 * extent, top + y1 * extent)
        draw.line([p0, p1], fill=255, width=max(1, round(pen * s)))
        if pen * s > 2:  # round caps and joints
            for x, y in (p0, p1):
                draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    if s > 1:
        canvas = canvas.resize((width, height), Image.Resampling.BOX)
    return np.asarray(canvas, dtype=np.float64) / 255


def pen_dark_on_white(digit: np.ndarray, pen: int, side: int) -> Image.Image:
    """A paint program's default: a hard-edged black pen on a white canvas, saved as PNG."""
    return Image.fromarray((255 * (1 - pen_drawing(digit, pen, side))).astype(np.uint8))


def pen_transparent(digit: np.ndarray, pen: int, side: int) -> Image.Image:
    """Black anti-aliased strokes on a transparent canvas, as tablet apps export them."""
    ink = pen_drawing(digit, pen, side, supersample=2)
    rgba = np.zeros(ink.shape + (4,), np.uint8)
    rgba[..., 3] = np.round(255 * ink).astype(np.uint8)
    return Image.fromarray(rgba, "RGBA")


def pen_jpeg(digit: np.ndarray, pen: int, side: int) -> Image.Image:
    """Anti-aliased dark strokes on white, saved as a JPEG (quality 75)."""
    ink = pen_drawing(digit, pen, side, supersample=2)
    buffer = io.BytesIO()
    grey = Image.fromarray(np.round(255 * (1 - ink)).astype(np.uint8))
    grey.convert("RGB").save(buffer, "JPEG", quality=75)
    return Image.open(io.BytesIO(buffer.getvalue()))


def pen_coloured(digit: np.ndarray, pen: int, side: int) -> Image.Image:
    """Red anti-aliased ink on pale green paper, RGB, as a stylus in a note app with a tinted page."""
    ink = pen_drawing(digit, pen, side, supersample=2)[..., None]
    paper, colour = np.array([225, 240, 215]), np.array([200, 30, 40])
    return Image.fromarray(np.round(paper * (1 - ink) + colour * ink).astype(np.uint8), "RGB")


DRAWING_STYLES: dict[str, Callable[[np.ndarray, int, int], Image.Image]] = {
    "pen_dark_on_white": pen_dark_on_white,
    "pen_transparent": pen_transparent,
    "pen_jpeg": pen_jpeg,
    "pen_coloured": pen_coloured,
}
PENS = tuple(range(1, 9))  # pen widths, px
CANVASES = (300, 600, 1000, 1600, 2000)  # canvas widths, px (height 3/4 of it)


def drawing_params(i: int) -> tuple[int, int]:
    """The pen width and canvas width for the i-th digit: every pairing occurs (8 x 5 = 40 cycle)."""
    return PENS[i % len(PENS)], CANVASES[(i // len(PENS)) % len(CANVASES)]


# --- Not digits: what `predict --min-confidence` should ideally mark as unsure.


def letter(char: str, size: int = 400) -> Image.Image:
    """A letter in Pillow's built-in font, dark on white."""
    from PIL import ImageFont

    img = Image.new("L", (size, size), 255)
    font = ImageFont.load_default(size=round(size * 0.6))
    ImageDraw.Draw(img).text((size / 2, size / 2), char, fill=0, font=font, anchor="mm")
    return img


def scribble(seed: int, side: int = 600) -> Image.Image:
    """A random smooth scribble (a wandering pen, 3-10 px), dark on white."""
    rng = np.random.default_rng(seed)
    steps = rng.integers(20, 60)
    heading = np.cumsum(rng.normal(0, 0.5, steps))
    xy = np.cumsum(np.stack([np.cos(heading), np.sin(heading)], 1) * side / 25, axis=0)
    xy = (xy - xy.min(0)) / max(np.ptp(xy, 0).max(), 1e-9) * side * 0.7 + side * 0.15
    img = Image.new("L", (side, side), 255)
    ImageDraw.Draw(img).line([tuple(p) for p in xy], fill=0, width=int(rng.integers(3, 11)), joint="curve")
    return img


def skeleton_strokes(digit: np.ndarray) -> list[np.ndarray]:
    """The skeleton as pen strokes: polylines of (y, x) points in [0, 1], each a connected path.

    Walks the 8-neighbour graph of skeleton pixels, starting from its ends (pixels with one
    neighbour) and then from whatever is left (loops), so a "0" is one stroke and a "4" two or three.
    """
    sk = skeleton(digit)
    size = sk.shape[0]
    pixels = {tuple(p) for p in np.argwhere(sk)}
    steps = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]

    def neighbours(p):
        out = []
        for dy, dx in steps:
            q = (p[0] + dy, p[1] + dx)
            # a diagonal step beside an L-shaped corner would draw that corner twice
            corner = dy and dx and ((p[0] + dy, p[1]) in pixels or (p[0], p[1] + dx) in pixels)
            if q in pixels and not corner:
                out.append(q)
        return out

    used: set[frozenset] = set()
    strokes = []
    starts = sorted(p for p in pixels if len(neighbours(p)) == 1) + sorted(pixels)
    for start in starts:
        if all(frozenset((start, q)) in used for q in neighbours(start)) and any(
            start in edge for edge in used
        ):
            continue
        path, here = [start], start
        while True:
            ahead = [q for q in neighbours(here) if frozenset((here, q)) not in used]
            if not ahead:
                break
            step = min(ahead, key=lambda q: abs(q[0] - here[0]) + abs(q[1] - here[1]))  # straight first
            used.add(frozenset((here, step)))
            path.append(step)
            here = step
        if len(path) > 1 or not any(start in edge for edge in used):
            strokes.append((np.array(path, dtype=np.float64) + 0.5) / size)
    return strokes


# --- Phone photos: a digit written on paper, photographed under uneven light with sensor noise.

PHOTO_PAPER, PHOTO_INK = np.array([198.0, 190.0, 176.0]), np.array([50.0, 50.0, 62.0])  # luma ~190 / ~51
LIGHTS = ("flat", "gradient", "vignette", "shadow")
NOISES = (0, 4, 8, 12, 16)  # sensor noise, standard deviation in grey levels of 255


def illumination(light: str, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """How bright the light falls on each point of the page, 1 = the paper's own shade.

    gradient: a linear change across the page of +-35 to +-60 levels (of the paper's 190) in a random
    direction; vignette: the corners at half brightness; shadow: a third of the page 50 levels
    darker, behind a soft edge (a penumbra 4% of the page's diagonal) at a random angle.
    """
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = (x + 0.5) / width - 0.5, (y + 0.5) / height - 0.5
    if light == "flat":
        return np.ones((height, width))
    angle = rng.uniform(0, 2 * np.pi)
    along = u * np.cos(angle) + v * np.sin(angle)  # -0.7 .. 0.7
    if light == "gradient":
        change = rng.uniform(35, 60) / 190
        return 1 + change * along / np.abs(along).max()
    if light == "vignette":
        r2 = (u**2 + v**2) / 0.5
        return 1 - 0.5 * r2
    if light == "shadow":
        edge = np.quantile(along, 2 / 3)  # the third of the page beyond the edge is in shadow
        penumbra = 0.04 * np.hypot(1, height / width)
        inside = 1 / (1 + np.exp(-(along - edge) / (penumbra / 4)))
        return 1 - (50 / 190) * inside
    raise ValueError(f"unknown light {light!r}")


def _page(
    digits: list[np.ndarray], width: int, height: int, rng: np.random.Generator, pitch: float = 0.75
) -> np.ndarray:
    """Ink coverage in [0, 1] of a page with the digits written side by side near its middle, `pitch`
    of a digit's 28 px box apart (0.75: a little apart; 0.5: touching)."""
    page = np.zeros((height, width))
    if not digits:
        return page
    side = int(height * rng.uniform(0.4, 0.6))  # each digit's 28x28 box
    step = int(side * pitch)  # MNIST boxes have margins: at 0.75 neighbours stand a little apart
    total = step * (len(digits) - 1) + side
    left = int((width - total) / 2 + rng.uniform(-0.1, 0.1) * width)
    left = int(np.clip(left, 0, width - total))
    top = int(np.clip((height - side) / 2 + rng.uniform(-0.1, 0.1) * height, 0, height - side))
    for i, digit in enumerate(digits):
        ink = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)) / 255
        box = page[top : top + side, left + i * step : left + i * step + side]
        np.maximum(box, np.clip(ink, 0, 1), out=box)
    return page


def photo(
    digits: np.ndarray | list[np.ndarray],
    light: str,
    noise: float,
    seed: int,
    size: tuple[int, int] = (400, 300),
    quality: int | None = 90,
    pitch: float = 0.75,
) -> Image.Image:
    """Digits (none: a blank page) written in dark ink on tinted paper, photographed: uneven light,
    grey sensor noise of `noise` levels, saved as a JPEG of `quality` (None: lossless)."""
    rng = np.random.default_rng(seed)
    width, height = size
    digits = [digits] if isinstance(digits, np.ndarray) and digits.ndim == 2 else list(digits)
    ink = _page(digits, width, height, rng, pitch)[..., None]
    rgb = PHOTO_PAPER * (1 - ink) + PHOTO_INK * ink
    rgb = rgb * illumination(light, width, height, rng)[..., None]
    rgb = rgb + rng.normal(0, noise, (height, width, 1)) if noise else rgb
    if quality is None:
        return Image.fromarray(np.clip(np.round(rgb), 0, 255).astype(np.uint8), "RGB")
    return _jpeg(rgb, quality)


def photo_conditions(i: int) -> tuple[str, float]:
    """The light and noise for the i-th photo: every pairing occurs (4 x 5 = 20 cycle)."""
    return LIGHTS[i % len(LIGHTS)], NOISES[(i // len(LIGHTS)) % len(NOISES)]


# --- Where people write: ruled and squared paper, form boxes, a page lying on a table.

PAPER_STYLES = ("ruled", "grid", "box", "comb", "table")
PAGE_SIZES = ((400, 300), (800, 600), (1600, 1200))
WHITE_PAPER = np.array([246.0, 245.0, 238.0])
RULING_BLUE, MARGIN_RED = np.array([140.0, 175.0, 225.0]), np.array([225.0, 95.0, 95.0])
GRID_GREY, FRAME_BLACK = np.array([165.0, 185.0, 200.0]), np.array([35.0, 35.0, 40.0])
PENS_INK = (np.array([30.0, 45.0, 140.0]), np.array([40.0, 40.0, 48.0]))  # blue ballpoint, black pen
TABLE_BROWN = np.array([118.0, 84.0, 58.0])


def _line(mask: np.ndarray, horizontal: bool, at: float, thickness: int, start: float = 0, end: float = 1):
    """Draw a printed line (full coverage) into a mask: a row band or a column band, between start and end."""
    h, w = mask.shape
    a = int(round(at))
    if horizontal:
        mask[max(0, a) : max(0, a + thickness), int(start * w) : int(end * w)] = 1
    else:
        mask[int(start * h) : int(end * h), max(0, a) : max(0, a + thickness)] = 1


def _place(ink: np.ndarray, digit: np.ndarray, top: int, left: int, side: int) -> None:
    """Write a digit (its 28x28 box scaled to side x side px) into an ink-coverage page."""
    if side < 4:
        return
    big = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)) / 255
    h, w = ink.shape
    t, l_ = max(0, top), max(0, left)
    b, r = min(h, top + side), min(w, left + side)
    if b > t and r > l_:
        box = ink[t:b, l_:r]
        np.maximum(box, np.clip(big[t - top : b - top, l_ - left : r - left], 0, 1), out=box)


def paper_page(
    style: str, digits: list[np.ndarray], seed: int, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """A page of the style as (paper and ruling colour, RGB; ink coverage): lines first, digits over them.

    ruled: blue rules every 1/9-1/14 of the height and a red margin, the digits 1.2-1.8 rules tall
    sitting on a rule; grid: squares of 1/10-1/18 of the height, digits 2-3 squares tall; box: one
    printed box around the digit, its side 1.0-1.3 of the digit's 28 px box; comb: a row of such
    boxes, one digit each. Lines are 1-3 px (by page size).
    """
    rng = np.random.default_rng([seed, 1])
    w, h = size
    thick = max(1, round(h / 400))
    lines = np.zeros((h, w))
    colour = RULING_BLUE
    ink = np.zeros((h, w))
    n = max(1, len(digits))
    if style == "ruled":
        gap = h / rng.uniform(9, 14)
        first = rng.uniform(0.5, 1.5) * gap
        for y in np.arange(first, h, gap):
            _line(lines, True, y, thick)
        margin = np.zeros((h, w))
        _line(margin, False, w * rng.uniform(0.1, 0.16), thick + 1)
        side = int(gap * rng.uniform(1.2, 1.8) * 28 / 20)
        rule = first + gap * int(rng.integers(2, max(3, int((h - first) / gap) - 1)))
        top = int(rule - side * 24 / 28)  # the digit's foot (row 24 of its 28) on the rule
    elif style == "grid":
        gap = h / rng.uniform(10, 18)
        for y in np.arange(rng.uniform(0, gap), h, gap):
            _line(lines, True, y, thick)
        for x in np.arange(rng.uniform(0, gap), w, gap):
            _line(lines, False, x, thick)
        colour, margin = GRID_GREY, None
        side = int(gap * rng.uniform(2, 3) * 28 / 20)
        top = int(h / 2 - side / 2 + rng.uniform(-0.15, 0.15) * h)
    elif style in ("box", "comb"):
        colour, margin = FRAME_BLACK, None
        side = int(h * rng.uniform(0.3, 0.5) / (1 if style == "box" else 1.3))
        cell = int(side * rng.uniform(1.0, 1.3))
        boxes = n if style == "comb" else 1
        top = int((h - cell) / 2 + rng.uniform(-0.1, 0.1) * h)
        left0 = int((w - cell * boxes) / 2 + rng.uniform(-0.1, 0.1) * w)
        frame = thick + 1
        for k in range(boxes + 1):
            _line(lines, False, left0 + k * cell, frame, top / h, (top + cell + frame) / h)
        for y in (top, top + cell):
            _line(lines, True, y, frame, left0 / w, (left0 + boxes * cell + frame) / w)
        for k, digit in enumerate(digits):
            shift = (cell - side) // 2
            _place(ink, digit, top + shift + int(rng.integers(-2, 3)), left0 + k * cell + shift, side)
        return _coloured(lines, colour), ink
    else:
        raise ValueError(f"unknown paper style {style!r}")
    step = int(side * 0.75)
    total = step * (n - 1) + side
    left = int(np.clip(w * rng.uniform(0.25, 0.6) - total / 2, w * 0.2, max(w * 0.2, w - total)))
    for k, digit in enumerate(digits):
        _place(ink, digit, top, left + k * step, side)
    rgb = _coloured(lines, colour)
    if margin is not None:
        rgb = np.where(margin[..., None] > 0, MARGIN_RED, rgb)
    return rgb, ink


def _coloured(lines: np.ndarray, colour: np.ndarray) -> np.ndarray:
    return np.where(lines[..., None] > 0, colour, WHITE_PAPER)


def paper_photo(
    style: str, digits: np.ndarray | list[np.ndarray], seed: int, size: tuple[int, int] = (400, 300)
) -> Image.Image:
    """Digits (none: a blank page) written on ruled or squared paper or in form boxes, photographed:
    the page tilted by up to 4 degrees, soft light, sensor noise of 3 levels, a JPEG of quality 90.
    "table": a plain page lying on a wooden table, seen at an angle (see table_photo)."""
    digits = [digits] if isinstance(digits, np.ndarray) and digits.ndim == 2 else list(digits)
    if style == "table":
        return table_photo(digits, seed, size)
    rng = np.random.default_rng([seed, 2])
    paper, ink = paper_page(style, digits, seed, size)
    pen = PENS_INK[int(rng.integers(len(PENS_INK)))]
    rgb = paper * (1 - ink[..., None]) + pen * ink[..., None]
    img = Image.fromarray(np.clip(np.round(rgb), 0, 255).astype(np.uint8), "RGB")
    fill = tuple(int(v) for v in WHITE_PAPER)
    img = img.rotate(float(rng.uniform(-4, 4)), resample=Image.Resampling.BICUBIC, fillcolor=fill)
    light = illumination("gradient" if rng.random() < 0.5 else "flat", *size, rng)
    rgb = np.asarray(img, dtype=np.float64) * light[..., None] + rng.normal(0, 3, (size[1], size[0], 1))
    return _jpeg(rgb, 90)


def _jpeg(rgb: np.ndarray, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    Image.fromarray(np.clip(np.round(rgb), 0, 255).astype(np.uint8), "RGB").save(
        buffer, "JPEG", quality=quality
    )
    return Image.open(io.BytesIO(buffer.getvalue()))


def table_photo(digits: list[np.ndarray], seed: int, size: tuple[int, int]) -> Image.Image:
    """A plain page with the digits, lying on a wooden table and photographed at an angle: the page
    fills 55-80% of the frame, turned up to 10 degrees and foreshortened (a trapezoid), the brown
    grained table around it."""
    rng = np.random.default_rng([seed, 3])
    w, h = size
    pw, ph = int(w * 0.6), int(h * 0.8)
    page = np.zeros((ph, pw))
    side = int(ph * rng.uniform(0.3, 0.45))
    step = int(side * 0.75)
    total = step * (max(1, len(digits)) - 1) + side
    left, top = int((pw - total) / 2), int((ph - side) / 2)
    for k, digit in enumerate(digits):
        _place(page, digit, top, left + k * step, side)
    pen = PENS_INK[int(rng.integers(len(PENS_INK)))]
    sheet = WHITE_PAPER * (1 - page[..., None]) + pen * page[..., None]
    # the page's corners in the photo: scaled, turned, one side foreshortened
    scale = rng.uniform(0.7, 1.0)
    angle = np.radians(rng.uniform(-10, 10))
    squeeze = rng.uniform(0.75, 0.95)  # the far edge, shorter
    corners = np.array(
        [[-pw / 2 * squeeze, -ph / 2], [pw / 2 * squeeze, -ph / 2], [pw / 2, ph / 2], [-pw / 2, ph / 2]]
    )
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([w / 2, h / 2]) + rng.uniform(-0.05, 0.05, 2) * [w, h]
    dst = corners * scale @ rot.T + centre
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float64)
    coeffs = _perspective(dst, src)  # Pillow maps output pixels back to the input
    sheet_img = Image.fromarray(np.clip(sheet, 0, 255).astype(np.uint8), "RGB")
    warped = sheet_img.transform(size, Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC)
    inside = Image.new("L", (pw, ph), 255).transform(
        size, Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR
    )
    grain = np.asarray(
        Image.fromarray(rng.normal(0, 1, (h // 8 + 1, 4)).astype(np.float32), "F").resize(
            (w, h), Image.Resampling.BICUBIC
        )
    )
    table = TABLE_BROWN * (1 + 0.12 * grain[..., None]) * rng.uniform(0.7, 1.2)
    a = np.asarray(inside, dtype=np.float64)[..., None] / 255
    rgb = np.asarray(warped, dtype=np.float64) * a + table * (1 - a)
    rgb = rgb * illumination("gradient", w, h, rng)[..., None] + rng.normal(0, 3, (h, w, 1))
    return _jpeg(rgb, 90)


def _perspective(dst: np.ndarray, src: np.ndarray) -> list[float]:
    """Pillow's 8 perspective coefficients taking points dst (output) to src (input)."""
    rows = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    return np.linalg.solve(np.array(rows), src.reshape(-1)).tolist()


def paper_size(i: int) -> tuple[int, int]:
    return PAGE_SIZES[i % len(PAGE_SIZES)]


# --- Marks that are not digits, drawn as pen strokes: the held-out check of "not a digit".
# Strokes in a unit square (x, y; y down). None of these templates is drawn by vit_edge.outliers.


def _circle(
    cx: float, cy: float, r: float, a0: float = 0, a1: float = 2 * np.pi
) -> list[tuple[float, float]]:
    t = np.linspace(a0, a1, 25)
    return list(zip(cx + r * np.cos(t), cy + r * np.sin(t), strict=True))


NOT_DIGITS: dict[str, list[list[tuple[float, float]]]] = {
    "A": [[(0, 1), (0.5, 0), (1, 1)], [(0.25, 0.55), (0.75, 0.55)]],
    "H": [[(0, 0), (0, 1)], [(1, 0), (1, 1)], [(0, 0.5), (1, 0.5)]],
    "M": [[(0, 1), (0.05, 0), (0.5, 0.6), (0.95, 0), (1, 1)]],
    "N": [[(0, 1), (0, 0), (1, 1), (1, 0)]],
    "W": [[(0, 0), (0.25, 1), (0.5, 0.35), (0.75, 1), (1, 0)]],
    "E": [[(1, 0), (0, 0), (0, 1), (1, 1)], [(0, 0.5), (0.75, 0.5)]],
    "F": [[(1, 0), (0, 0), (0, 1)], [(0, 0.5), (0.75, 0.5)]],
    "K": [[(0, 0), (0, 1)], [(0.9, 0), (0, 0.55), (1, 1)]],
    "R": [[(0, 1), (0, 0), (0.7, 0), (0.95, 0.22), (0.7, 0.45), (0, 0.45)], [(0.35, 0.45), (1, 1)]],
    "X": [[(0, 0), (1, 1)], [(1, 0), (0, 1)]],
    "Y": [[(0, 0), (0.5, 0.5), (1, 0)], [(0.5, 0.5), (0.5, 1)]],
    "plus": [[(0.5, 0), (0.5, 1)], [(0, 0.5), (1, 0.5)]],
    "hash": [[(0.35, 0), (0.25, 1)], [(0.75, 0), (0.65, 1)], [(0, 0.33), (1, 0.33)], [(0, 0.67), (1, 0.67)]],
    "percent": [_circle(0.2, 0.2, 0.17), [(0.95, 0), (0.05, 1)], _circle(0.8, 0.8, 0.17)],
    "question": [_circle(0.5, 0.28, 0.28, np.pi, 2.4 * np.pi) + [(0.5, 0.7)], _circle(0.5, 0.95, 0.04)],
    "smiley": [
        _circle(0.5, 0.5, 0.5),
        _circle(0.33, 0.35, 0.05),
        _circle(0.67, 0.35, 0.05),
        _circle(0.5, 0.5, 0.3, 0.2 * np.pi, 0.8 * np.pi),
    ],  # fmt: skip
    "star": [
        [(0.5 + 0.5 * np.sin(4 * np.pi * k / 5), 0.55 - 0.5 * np.cos(4 * np.pi * k / 5)) for k in range(6)]
    ],
    "heart": [
        [
            (0.5, 1),
            *_circle(0.27, 0.3, 0.25, 0.75 * np.pi, 2 * np.pi),
            *_circle(0.73, 0.3, 0.25, np.pi, 2.25 * np.pi),
            (0.5, 1),
        ]
    ],  # fmt: skip
    "house": [[(0.1, 1), (0.1, 0.45), (0.9, 0.45), (0.9, 1), (0.1, 1)], [(0, 0.5), (0.5, 0), (1, 0.5)]],
    "spiral": [
        [(0.5 + 0.5 * t / 14 * np.cos(t), 0.5 + 0.5 * t / 14 * np.sin(t)) for t in np.linspace(0, 14, 60)]
    ],
    # added after the bank gained spirals (vit_edge.outliers.curl), so that doodles stay held out
    "sun": [_circle(0.5, 0.5, 0.22)]
    + [
        [(0.5 + 0.3 * np.cos(a), 0.5 + 0.3 * np.sin(a)), (0.5 + 0.5 * np.cos(a), 0.5 + 0.5 * np.sin(a))]
        for a in np.linspace(0, 2 * np.pi, 8, endpoint=False)
    ],
    "flower": [
        _circle(0.5 + 0.28 * np.cos(a), 0.5 + 0.28 * np.sin(a), 0.2)
        for a in np.linspace(0, 2 * np.pi, 5, endpoint=False)
    ]
    + [_circle(0.5, 0.5, 0.08)],
    "cloud": [
        [
            (0.5 + (0.45 + 0.06 * np.cos(7 * t)) * np.cos(t), 0.55 + (0.3 + 0.06 * np.cos(7 * t)) * np.sin(t))
            for t in np.linspace(0, 2 * np.pi, 80)
        ]
    ],
    "tick": [[(0, 0.6), (0.35, 1), (1, 0)]],
    "bolt": [[(0.6, 0), (0.2, 0.55), (0.55, 0.5), (0.3, 1), (0.85, 0.4), (0.5, 0.45), (0.75, 0)]],
}


def not_digit(name: str, seed: int, size: tuple[int, int] = (400, 300)) -> Image.Image:
    """A non-digit mark drawn by hand: the template's points jittered, its box squeezed or stretched
    and turned a little, a round pen of 1-2% of the page, dark ink on white paper, a JPEG."""
    rng = np.random.default_rng([seed, 4])
    w, h = size
    extent = h * rng.uniform(0.35, 0.6)
    aspect = rng.uniform(0.75, 1.25)
    angle = np.radians(rng.uniform(-12, 12))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([w / 2, h / 2]) + rng.uniform(-0.1, 0.1, 2) * [w, h]
    pen = max(1, round(h * rng.uniform(0.01, 0.025)))
    img = Image.new("L", size, 0)
    draw = ImageDraw.Draw(img)
    for stroke in NOT_DIGITS[name]:
        wobble = 0.025 if len(stroke) <= 8 else 0.004  # corners move; a curve's many points barely do
        p = np.array(stroke, np.float64) + rng.normal(0, 0.02, 2) + rng.normal(0, wobble, (len(stroke), 2))
        p = (p - 0.5) * [extent * aspect, extent] @ rot.T + centre
        draw.line([tuple(q) for q in p], fill=255, width=pen, joint="curve")
        for x, y in (p[0], p[-1]):
            draw.ellipse([x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2], fill=255)
    ink = np.asarray(img, dtype=np.float64)[..., None] / 255
    pen_colour = PENS_INK[int(rng.integers(len(PENS_INK)))]
    rgb = WHITE_PAPER * (1 - ink) + pen_colour * ink + rng.normal(0, 3, (h, w, 1))
    return _jpeg(rgb, 90)
