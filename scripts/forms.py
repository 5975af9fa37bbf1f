"""Printed forms drawn from wide random ranges, and how `vit-edge predict --number` reads them.

    python scripts/forms.py --data-dir ../shared/mnist OUT_DIR [--n 40] [--seed 0] [--part tune|report|both]
        [--model PATH.onnx] [--kinds box comb ...]

Every range below is split in a TUNE part and a REPORT part that do not overlap (they meet at one
edge): tune the reader on pages of the tune part, and report on pages of the report part, which it
was not tuned on, and on fresh seeds. The table is RANGES (and FRAME_COLOURS):

    range                                          whole      tune       report
    box margin, digit to frame (digit heights)     0.05-0.8   0.05-0.4   0.4-0.8
    comb cell width (digit widths)                 1.0-2.0    1.0-1.5    1.5-2.0
    comb teeth length (cell heights)               0.2-1.0    0.6-1.0    0.2-0.6   (full dividers: 1)
    fill-in line gap under digits (digit heights)  0-0.3      0-0.15     0.15-0.3  (tune: 1 in 5 touch)
    structure width (page widths; perspective:     0.05-0.9   0.05-0.45  0.45-0.9
      the number's, of the sheet's width)
    frame and line thickness (px)                  1-6        1-3        4-6
    frame and line colour                                     black, dark grey, blue | faint grey, red, green
    slant: page turned either way (degrees)        0-5        0-2.5      2.5-5
    perspective: page tilted (degrees)             0-15       0-7        7-15

Kinds (KINDS): box (one digit in a printed box), comb (a number of 2-5 digits, one a cell: full
dividers between a top and a bottom line, or teeth up from a bottom line, or down from a top line),
line / dotted / dashed (a number of 2-4 digits on a solid / dotted / dashed fill-in line),
perspective (one digit or a number of 2-3 on a plain sheet lying on a darker table, photographed
tilted away from the camera), and blank_box, blank_comb, blank_line (the forms with nothing written;
blank_line is solid, dotted or dashed).

Digits are MNIST digits cut to their ink, in dark ink, as tall as lets the structure span its share
of the page (at least 14 px, at most half the page's height; a structure grows past its share where
14 px digits need more room). A digit width is the widest digit of the number, at least 0.75 of its
height. Common to both parts: pages of 400x300 to 1600x1200 px, paper tinted from white to a dim
photo's grey-beige, flat light or a gradient, sensor noise of 1-6 grey levels, JPEG quality 70-95.

The command saves --n pages of each kind and part under OUT_DIR/PART/KIND/ (MNIST test digits from
index 0 for tune, from 5000 for report), with labels.json, reads them with `vit-edge predict --json
--number` and prints one JSON object: {part: {kind: {n, right_and_sure, right, confidently_wrong,
refused}}}, for blank kinds {n, answered_confidently}; all but n are shares of n. right: the number
read is the label; right_and_sure: right and not marked uncertain; confidently_wrong: not uncertain,
not refused, and wrong; refused: answered with an error.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import dress
import numpy as np
from PIL import Image

from vit_edge.data import load_split

PARTS = ("tune", "report")
KINDS = ("box", "comb", "line", "dotted", "dashed", "perspective", "blank_box", "blank_comb", "blank_line")
DIGIT_COUNTS = {  # digits a page of the kind holds, fewest and most (blank kinds: none)
    "box": (1, 1),
    "comb": (2, 5),
    "line": (2, 4),
    "dotted": (2, 4),
    "dashed": (2, 4),
    "perspective": (1, 3),
}
FIRST_DIGIT = {"tune": 0, "report": 5000}  # MNIST test indices: the parts use different digits

RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "box_margin": {"tune": (0.05, 0.4), "report": (0.4, 0.8)},  # digit to frame, digit heights
    "comb_cell": {"tune": (1.0, 1.5), "report": (1.5, 2.0)},  # cell width, digit widths
    "comb_teeth": {"tune": (0.6, 1.0), "report": (0.2, 0.6)},  # divider length, cell heights
    "line_gap": {"tune": (0.0, 0.15), "report": (0.15, 0.3)},  # fill-in line under the digits, digit heights
    "span": {"tune": (0.05, 0.45), "report": (0.45, 0.9)},  # structure width, page widths
    "frame_px": {"tune": (1, 3), "report": (4, 6)},  # line thickness, whole px
    "slant_deg": {"tune": (0.0, 2.5), "report": (2.5, 5.0)},  # page turned in its plane, either way
    "perspective_deg": {"tune": (0.0, 7.0), "report": (7.0, 15.0)},  # page tilted away from the camera
}
FRAME_COLOURS: dict[str, dict[str, np.ndarray]] = {  # printed on white paper
    "tune": {
        "black": dress.FRAME_BLACK,
        "dark_grey": np.array([88.0, 88.0, 92.0]),
        "blue": np.array([45.0, 80.0, 170.0]),
    },
    "report": {
        "faint_grey": np.array([200.0, 200.0, 200.0]),
        "red": dress.MARGIN_RED,
        "green": np.array([70.0, 160.0, 95.0]),
    },
}
TOUCHING = 0.2  # share of tune fill-in lines with the digits standing on the line (gap 0)
COMB_STYLES = ("full", "bottom", "top")
PATTERNS = {"line": "solid", "dotted": "dotted", "dashed": "dashed"}
TABLES = (dress.TABLE_BROWN, np.array([72.0, 72.0, 78.0]), np.array([58.0, 70.0, 88.0]))  # wood, grey, slate
MIN_DIGIT_PX = 14
PAD = 2  # px of the 28x28 digit kept around its ink
MAX_DIGIT_SHARE = 0.5  # of the page's height
NOMINAL_ASPECT = 0.75  # a digit's width / height, where none is written (blank forms) or it is narrower
EDGE = 0.06  # the structure keeps this share of the page clear on each side
CAMERA_DISTANCE = 1.2  # of the sheet's longer side: a phone's wide lens close to the page


def _draw(rng: np.random.Generator, part: str, name: str) -> float:
    low, high = RANGES[name][part]
    return float(rng.uniform(low, high))


def _glyph(digit: np.ndarray) -> np.ndarray:
    """The digit's ink coverage in [0, 1], cut to the box around its ink with PAD px to spare (so
    that its soft edges are kept)."""
    d = np.asarray(digit, dtype=np.float64)
    d = np.pad(d / 255 if d.max() > 1 else d, PAD)
    rows, cols = np.nonzero(d.max(1) > 0.1)[0], np.nonzero(d.max(0) > 0.1)[0]
    if not rows.size:
        raise ValueError("a digit with no ink")
    return d[rows[0] - PAD : rows[-1] + 1 + PAD, cols[0] - PAD : cols[-1] + 1 + PAD]


def _aspect(glyph: np.ndarray) -> float:
    """The ink's width over its height."""
    return (glyph.shape[1] - 2 * PAD) / (glyph.shape[0] - 2 * PAD)


def _width(glyph: np.ndarray, height: int) -> int:
    """The ink's width in px, written `height` px tall."""
    return max(1, round(height * _aspect(glyph)))


def _write(ink: np.ndarray, glyph: np.ndarray, top: int, left: int, height: int) -> None:
    """Write the glyph with its ink `height` px tall, the ink's top left corner at (top, left)."""
    scale = height / (glyph.shape[0] - 2 * PAD)
    width, tall = round(glyph.shape[1] * scale), round(glyph.shape[0] * scale)
    top, left = top - round(PAD * scale), left - round(PAD * scale)
    big = Image.fromarray(glyph.astype(np.float32), "F").resize((width, tall), Image.Resampling.BICUBIC)
    big = np.clip(np.asarray(big), 0, 1)
    h, w = ink.shape
    t, l_, b, r = max(0, top), max(0, left), min(h, top + tall), min(w, left + width)
    if b > t and r > l_:
        box = ink[t:b, l_:r]
        np.maximum(box, big[t - top : b - top, l_ - left : r - left], out=box)


def _digit_height(*limits: float, page_h: int) -> int:
    return int(max(MIN_DIGIT_PX, min(*limits, MAX_DIGIT_SHARE * page_h)))


def _spot(rng: np.random.Generator, size: int, extent: int) -> int:
    """Where a structure `extent` px long starts along a side of `size` px, clear of the edges."""
    low, high = int(EDGE * size), int(size * (1 - EDGE)) - extent
    return int(rng.integers(low, high + 1)) if high >= low else max(0, (size - extent) // 2)


def _fill(mask: np.ndarray, top: int, left: int, bottom: int, right: int) -> None:
    mask[max(0, top) : max(0, bottom), max(0, left) : max(0, right)] = 1


# --- The structures: printed lines (coverage) and the digits written into them (ink coverage).


def _box(
    rng: np.random.Generator, part: str, glyphs: list[np.ndarray], t: int, w: int, h: int
) -> tuple[np.ndarray, np.ndarray]:
    """One printed box; the digit `box_margin` digit heights from its top and bottom, and at least
    that far from its sides (a wide box leaves more room beside the digit)."""
    lines, ink = np.zeros((h, w)), np.zeros((h, w))
    m, span = _draw(rng, part, "box_margin"), _draw(rng, part, "span") * w
    aspect = _aspect(glyphs[0]) if glyphs else NOMINAL_ASPECT
    dh = _digit_height((span - 2 * t) / (aspect + 2 * m), (0.88 * h - 2 * t) / (1 + 2 * m), page_h=h)
    gap = round(m * dh)
    inner_w = max(round(span) - 2 * t, round(dh * aspect) + 2 * gap)
    inner_h = dh + 2 * gap
    left, top = _spot(rng, w, inner_w + 2 * t), _spot(rng, h, inner_h + 2 * t)
    right, bottom = left + inner_w + 2 * t, top + inner_h + 2 * t
    for a, b, c, d in ((top, left, top + t, right), (bottom - t, left, bottom, right)):
        _fill(lines, a, b, c, d)
    for a, b, c, d in ((top, left, bottom, left + t), (top, right - t, bottom, right)):
        _fill(lines, a, b, c, d)
    if glyphs:
        room = inner_w - 2 * gap - _width(glyphs[0], dh)
        _write(ink, glyphs[0], top + t + gap, left + t + gap + int(rng.integers(0, max(0, room) + 1)), dh)
    return lines, ink


def _comb(
    rng: np.random.Generator, part: str, glyphs: list[np.ndarray], t: int, w: int, h: int
) -> tuple[np.ndarray, np.ndarray]:
    """A row of cells, one digit each: full dividers between a top and a bottom line, or teeth
    `comb_teeth` of the cell's height up from the bottom line, or down from the top line."""
    lines, ink = np.zeros((h, w)), np.zeros((h, w))
    count = len(glyphs) or int(rng.integers(2, 6))
    c, span = _draw(rng, part, "comb_cell"), _draw(rng, part, "span") * w
    style = str(rng.choice(COMB_STYLES))
    teeth = 1.0 if style == "full" else _draw(rng, part, "comb_teeth")
    unit = max([NOMINAL_ASPECT] + [_aspect(g) for g in glyphs])  # a digit width, in digit heights
    room = rng.uniform(1.15, 1.5)  # the cell's height, in digit heights
    dh = _digit_height((span - t * (count + 1)) / (count * c * unit), (0.88 * h - 2 * t) / room, page_h=h)
    cell_w, cell_h = round(c * unit * dh) + t, round(room * dh)  # a divider and the room right of it
    left, top = _spot(rng, w, count * cell_w + t), _spot(rng, h, cell_h + 2 * t) + t
    bottom, right = top + cell_h, left + count * cell_w + t
    if style in ("full", "top"):
        _fill(lines, top - t, left, top, right)
    if style in ("full", "bottom"):
        _fill(lines, bottom, left, bottom + t, right)
    reach = round(teeth * cell_h)
    rows = {
        "full": (top - t, bottom + t),
        "bottom": (bottom - reach, bottom + t),
        "top": (top - t, top + reach),
    }
    for k in range(count + 1):
        _fill(lines, rows[style][0], left + k * cell_w, rows[style][1], left + k * cell_w + t)
    for k, glyph in enumerate(glyphs):
        spare_x, spare_y = cell_w - t - _width(glyph, dh), cell_h - dh
        x = left + k * cell_w + t + spare_x // 2 + int(rng.integers(-(spare_x // 4), spare_x // 4 + 1))
        y = top + spare_y // 2 + int(rng.integers(-(spare_y // 4), spare_y // 4 + 1))
        _write(ink, glyph, y, x, dh)
    return lines, ink


def _fill_in_line(
    rng: np.random.Generator, part: str, glyphs: list[np.ndarray], t: int, w: int, h: int, pattern: str
) -> tuple[np.ndarray, np.ndarray]:
    """A printed line (solid, dotted or dashed) with the number written on it, `line_gap` digit
    heights above it (the lowest digit; the others up to 0.04 higher), the number filling 50-95% of it."""
    lines, ink = np.zeros((h, w)), np.zeros((h, w))
    touching = part == "tune" and rng.random() < TOUCHING
    gap = 0.0 if touching else _draw(rng, part, "line_gap")
    span = _draw(rng, part, "span") * w
    aspects = [_aspect(g) for g in glyphs] or [NOMINAL_ASPECT] * 3
    spaces = rng.uniform(0.15, 0.4, len(aspects) - 1)  # between digits, digit heights
    fill = rng.uniform(0.5, 0.95)
    dh = _digit_height(fill * span / (sum(aspects) + spaces.sum()), (0.88 * h - t) / (1 + gap), page_h=h)
    widths = [_width(g, dh) for g in glyphs]
    number_w = sum(widths) + int(np.round(spaces * dh).sum()) if glyphs else 0
    length = max(round(span), int(np.ceil(number_w / fill)))
    left, top = _spot(rng, w, length), _spot(rng, h, round(dh * (1 + gap)) + t)
    line_y = top + dh + round(gap * dh)
    _dash_line(lines, rng, pattern, line_y, left, left + length, t)
    lift = np.zeros(len(glyphs)) if touching else rng.uniform(0, 0.04, len(glyphs)) * dh
    if glyphs:
        lift -= lift.min()  # the lowest digit stands `gap` above the line
    x = left + int(rng.integers(0, length - number_w + 1))
    for k, glyph in enumerate(glyphs):
        _write(ink, glyph, top - round(lift[k]), x, dh)
        x += widths[k] + (round(spaces[k] * dh) if k < len(spaces) else 0)
    return lines, ink


def _dash_line(
    mask: np.ndarray, rng: np.random.Generator, pattern: str, y: int, x0: int, x1: int, t: int
) -> None:
    """A horizontal line t px thick from x0 to x1: solid, dots (round from 3 px) or dashes."""
    if pattern == "solid":
        _fill(mask, y, x0, y + t, x1)
        return
    if pattern == "dotted":
        on, off = t, max(2, round(t * rng.uniform(1.2, 3.0)))
    else:
        on = round(t * rng.uniform(3, 8)) + 3
        off = max(2, round(on * rng.uniform(0.3, 0.7)))
    yy, xx = np.mgrid[0:t, 0:t] - (t - 1) / 2
    dot = (yy**2 + xx**2 <= (t / 2) ** 2 + 0.25) if pattern == "dotted" and t >= 3 else np.ones((t, t), bool)
    for x in range(x0, x1 - on + 1, on + off):
        if pattern == "dotted":
            box = mask[y : y + t, x : x + t]
            box[dot[: box.shape[0], : box.shape[1]]] = 1
        else:
            _fill(mask, y, x, y + t, x + on)


# --- Photos of the pages.


def _tint(rng: np.random.Generator) -> np.ndarray:
    """The paper's shade in the photo, as a factor on white paper: white to a dim photo's grey-beige."""
    paper = dress.WHITE_PAPER + rng.uniform(0, 1) * (dress.PHOTO_PAPER - dress.WHITE_PAPER)
    return paper / dress.WHITE_PAPER


def _finish(rgb: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """Uneven light, sensor noise of 1-6 grey levels, a JPEG of quality 70-95."""
    h, w = rgb.shape[:2]
    rgb = rgb * dress.illumination(str(rng.choice(("flat", "gradient"))), w, h, rng)[..., None]
    rgb = rgb + rng.normal(0, rng.uniform(1, 6), (h, w, 1))
    return dress._jpeg(rgb, int(rng.integers(70, 96)))


def _slant(rng: np.random.Generator, part: str) -> float:
    return _draw(rng, part, "slant_deg") * (1 if rng.random() < 0.5 else -1)


def _form_photo(
    rng: np.random.Generator, part: str, lines: np.ndarray, ink: np.ndarray, colour: np.ndarray
) -> Image.Image:
    """The printed lines in their colour, the digits in a pen's ink over them, the page turned."""
    pen = dress.PENS_INK[int(rng.integers(len(dress.PENS_INK)))]
    rgb = dress.WHITE_PAPER * (1 - lines[..., None]) + colour * lines[..., None]
    rgb = rgb * (1 - ink[..., None]) + pen * ink[..., None]
    img = Image.fromarray(np.clip(np.round(rgb), 0, 255).astype(np.uint8), "RGB")
    fill = tuple(int(v) for v in dress.WHITE_PAPER)
    img = img.rotate(_slant(rng, part), resample=Image.Resampling.BICUBIC, fillcolor=fill)
    return _finish(np.asarray(img, dtype=np.float64) * _tint(rng), rng)


def _sheet(rng: np.random.Generator, part: str, glyphs: list[np.ndarray], w: int, h: int) -> np.ndarray:
    """A plain sheet (A-size, portrait or landscape) with the number on it, as RGB."""
    if rng.random() < 0.5:
        sw, sh = round(0.8 * w), round(0.8 * w / np.sqrt(2))
    else:
        sh, sw = round(0.85 * h), round(0.85 * h / np.sqrt(2))
    ink = np.zeros((sh, sw))
    span = _draw(rng, part, "span") * sw
    spaces = rng.uniform(0.15, 0.4, len(glyphs) - 1)
    dh = _digit_height(span / (sum(_aspect(g) for g in glyphs) + spaces.sum()), 0.6 * sh, page_h=sh)
    widths = [_width(g, dh) for g in glyphs]
    x, top = _spot(rng, sw, sum(widths) + int(np.round(spaces * dh).sum())), _spot(rng, sh, dh)
    for k, glyph in enumerate(glyphs):
        _write(ink, glyph, top + int(rng.integers(-dh // 25, dh // 25 + 1)), x, dh)
        x += widths[k] + (round(spaces[k] * dh) if k < len(spaces) else 0)
    pen = dress.PENS_INK[int(rng.integers(len(dress.PENS_INK)))]
    return (dress.WHITE_PAPER * (1 - ink[..., None]) + pen * ink[..., None]) * _tint(rng)


def _tilted_corners(rng: np.random.Generator, part: str, sw: int, sh: int, w: int, h: int) -> np.ndarray:
    """Where the sheet's corners fall in the photo: turned in its plane by the slant, tilted
    `perspective_deg` away from the camera about a random axis in its plane, seen by a pinhole camera
    CAMERA_DISTANCE sheet lengths away, and scaled to fill 60-90% of the photo."""
    corners = np.array(
        [[-sw / 2, -sh / 2, 0], [sw / 2, -sh / 2, 0], [sw / 2, sh / 2, 0], [-sw / 2, sh / 2, 0]]
    )
    turn = np.radians(_slant(rng, part))
    spin = np.array([[np.cos(turn), -np.sin(turn), 0], [np.sin(turn), np.cos(turn), 0], [0, 0, 1]])
    tilt, axis = np.radians(_draw(rng, part, "perspective_deg")), rng.uniform(0, 2 * np.pi)
    k = np.array([np.cos(axis), np.sin(axis), 0])
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    rodrigues = np.eye(3) + np.sin(tilt) * cross + (1 - np.cos(tilt)) * cross @ cross
    world = corners @ spin.T @ rodrigues.T
    distance = CAMERA_DISTANCE * max(sw, sh)
    seen = world[:, :2] * (distance / (distance + world[:, 2:]))
    seen -= (seen.max(0) + seen.min(0)) / 2
    scale = rng.uniform(0.6, 0.9) * min(w / np.ptp(seen[:, 0]), h / np.ptp(seen[:, 1]))
    shift = (1 - scale * np.ptp(seen, 0) / [w, h]) / 2 * rng.uniform(-1, 1, 2) * [w, h]
    return seen * scale + [w / 2, h / 2] + shift


def _perspective_photo(
    rng: np.random.Generator, part: str, glyphs: list[np.ndarray], w: int, h: int
) -> Image.Image:
    """A plain sheet with the number, lying on a darker grained table, photographed tilted."""
    sheet = _sheet(rng, part, glyphs, w, h)
    sh, sw = sheet.shape[:2]
    src = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], np.float64)
    coeffs = dress._perspective(_tilted_corners(rng, part, sw, sh, w, h), src)
    sheet_img = Image.fromarray(np.clip(np.round(sheet), 0, 255).astype(np.uint8), "RGB")
    warped = sheet_img.transform((w, h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC)
    inside = Image.new("L", (sw, sh), 255).transform(
        (w, h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR
    )
    grain = Image.fromarray(rng.normal(0, 1, (h // 8 + 1, 4)).astype(np.float32), "F")
    grain = np.asarray(grain.resize((w, h), Image.Resampling.BICUBIC))[..., None]
    table = TABLES[int(rng.integers(len(TABLES)))] * (1 + 0.12 * grain) * rng.uniform(0.6, 1.1)
    a = np.asarray(inside, dtype=np.float64)[..., None] / 255
    return _finish(np.asarray(warped, dtype=np.float64) * a + table * (1 - a), rng)


def form_page(kind: str, digits: list[np.ndarray], seed: int, part: str) -> Image.Image:
    """A photo (a JPEG, as a PIL image) of a form of `kind` with the digits (MNIST 28x28, uint8 or
    float) written into it, its features drawn from the `part` ("tune" or "report") of RANGES.
    Blank kinds take no digits; the others DIGIT_COUNTS[kind] of them."""
    if kind not in KINDS or part not in PARTS:
        raise ValueError(f"unknown kind {kind!r} or part {part!r}")
    blank = kind.startswith("blank_")
    low, high = (0, 0) if blank else DIGIT_COUNTS[kind]
    if not low <= len(digits) <= high:
        raise ValueError(f"{kind} holds {low}-{high} digits, not {len(digits)}")
    rng = np.random.default_rng([seed, KINDS.index(kind), PARTS.index(part)])
    glyphs = [_glyph(d) for d in digits]
    w = int(rng.integers(400, 1601))
    h = round(w * 0.75)
    if kind == "perspective":
        return _perspective_photo(rng, part, glyphs, w, h)
    low_px, high_px = RANGES["frame_px"][part]
    t = int(rng.integers(low_px, high_px + 1))
    colours = FRAME_COLOURS[part]
    colour = colours[str(rng.choice(list(colours)))]
    shape = kind.removeprefix("blank_")
    if shape == "box":
        lines, ink = _box(rng, part, glyphs, t, w, h)
    elif shape == "comb":
        lines, ink = _comb(rng, part, glyphs, t, w, h)
    else:
        pattern = PATTERNS[shape] if not blank else str(rng.choice(list(PATTERNS.values())))
        lines, ink = _fill_in_line(rng, part, glyphs, t, w, h, pattern)
    return _form_photo(rng, part, lines, ink, colour)


def digit_count(kind: str, rng: np.random.Generator) -> int:
    """How many digits a page of the kind gets (0 for blank kinds)."""
    low, high = DIGIT_COUNTS.get(kind, (0, 0))
    return int(rng.integers(low, high + 1))


# --- The command: make the pages, read them, count.


def make_pages(
    images: np.ndarray, labels: np.ndarray, out: Path, kinds: list[str], parts: list[str], n: int, seed: int
) -> dict[tuple[str, str], list[tuple[Path, str]]]:
    """n pages of each kind and part under out/PART/KIND/, with their labels (the number, or "")."""
    pages: dict[tuple[str, str], list[tuple[Path, str]]] = {}
    for part in parts:
        for kind in kinds:
            folder = out / part / kind
            folder.mkdir(parents=True, exist_ok=True)
            at, pages[part, kind] = FIRST_DIGIT[part], []
            for i in range(n):
                page_seed = seed * 1_000_000 + i
                count = digit_count(kind, np.random.default_rng([page_seed, KINDS.index(kind), 9]))
                digits = [images[at + j] for j in range(count)]
                label = "".join(str(int(labels[at + j])) for j in range(count))
                at += count
                path = folder / f"{i:04d}.jpg"
                form_page(kind, digits, page_seed, part).save(path, "JPEG", quality="keep")
                pages[part, kind].append((path, label))
    return pages


def predict(paths: list[Path], model: Path | None, batch: int = 200) -> dict[str, dict]:
    """`vit-edge predict --json --number` on the files, in batches: each file's answer by its path."""
    exe = Path(sys.executable).with_name("vit-edge")
    command = [str(exe) if exe.exists() else "vit-edge", "predict", "--json", "--number"]
    command += ["--model", str(model)] if model else []
    answers: dict[str, dict] = {}
    for start in range(0, len(paths), batch):
        chunk = [str(p) for p in paths[start : start + batch]]
        done = subprocess.run(command + chunk, capture_output=True, text=True)
        if done.returncode not in (0, 1):  # 1: some image refused, answered with an "error"
            raise RuntimeError(f"vit-edge predict failed ({done.returncode}): {done.stderr[-2000:]}")
        for line in done.stdout.splitlines():
            if line.startswith("{"):
                answer = json.loads(line)
                answers[answer["path"]] = answer
    missing = [p for p in map(str, paths) if p not in answers]
    if missing:
        raise RuntimeError(f"no answer for {len(missing)} files, such as {missing[0]}")
    return answers


def tally(answers: list[dict], labels: list[str], blank: bool) -> dict:
    n = len(answers)
    sure = [("error" not in a and not a.get("uncertain", True)) for a in answers]
    if blank:
        return {"n": n, "answered_confidently": round(sum(sure) / n, 3)}
    right = [a.get("number") == y for a, y in zip(answers, labels, strict=True)]
    return {
        "n": n,
        "right_and_sure": round(sum(r and s for r, s in zip(right, sure, strict=True)) / n, 3),
        "right": round(sum(right) / n, 3),
        "confidently_wrong": round(sum(s and not r for r, s in zip(right, sure, strict=True)) / n, 3),
        "refused": round(sum("error" in a for a in answers) / n, 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the pages (PART/KIND/NNNN.jpg, labels.json)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--n", type=int, default=40, help="pages per kind and part")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--part", choices=(*PARTS, "both"), default="both")
    parser.add_argument("--model", type=Path, default=None, help="ONNX model [default: predict's]")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    args = parser.parse_args(argv)
    if not 0 < args.n <= 1000:
        parser.error("--n must be 1-1000 (tune's digits must stay below index 5000)")
    images, labels = load_split("test", args.data_dir, allow_download=False)
    parts = list(PARTS) if args.part == "both" else [args.part]
    t0 = time.perf_counter()
    pages = make_pages(images, labels, args.out, args.kinds, parts, args.n, args.seed)
    truth = {str(p): y for group in pages.values() for p, y in group}
    (args.out / "labels.json").write_text(json.dumps(truth, indent=0))
    t1 = time.perf_counter()
    answers = predict([Path(p) for p in truth], args.model)
    report: dict = {part: {} for part in parts}
    for (part, kind), group in pages.items():
        found = [answers[str(p)] for p, _ in group]
        report[part][kind] = tally(found, [y for _, y in group], kind.startswith("blank_"))
    print(json.dumps(report, indent=2))
    t2 = time.perf_counter()
    print(f"{len(truth)} pages made in {t1 - t0:.1f} s, read in {t2 - t1:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
