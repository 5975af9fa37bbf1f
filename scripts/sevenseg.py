"""Photo-like images of seven-segment display digits: a worked example of "your own digits".

Meters, scales and thermostats show digits as seven lit or dark segments, not as handwriting. This
makes a labelled set of them to fine-tune the model on, in four display kinds (lcd, led, printed,
vfd), each image a crop of a display face photographed a little askew: rotation and perspective,
uneven light, blur, sensor noise, sometimes glare, JPEG compression.

    python scripts/sevenseg.py OUT [--per-digit 30] [--not-a-digit 30] [--readings 0] [--seed 0]
                                   [--kinds lcd,led,printed,vfd] [--jpeg]

OUT/0 ... OUT/9 hold one digit per image (lcd-0001.png, led-0002.png, ...); OUT/not-a-digit holds
faces that show no digit (blank, a minus, letters such as E H L P, other segment patterns); with
--readings N, OUT/readings holds N readings of 3 to 6 digits and labels.csv (file, reading, point).
The same seed gives the same images. Importable: draw_digit, draw_reading, draw_not_digit, KINDS.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Rng = np.random.Generator
KINDS = ("lcd", "led", "printed", "vfd")
SEGMENTS = "abcdefg"  # a top, b top right, c bottom right, d bottom, e bottom left, f top left, g middle
# Lit segments of 0..9; "|" separates the common forms (7 with f, 6 without a, 9 without d).
GLYPHS = ["abcdef", "bc", "abdeg", "abcdg", "bcfg", "acdfg"]
GLYPHS += ["acdefg|cdefg", "abc|abcf", "abcdefg", "abcdfg|abcfg"]
# Letters a display shows that cannot pass for a digit (not o ~ 0, b ~ 6, S ~ 5).
LETTERS = {"E": "adefg", "H": "bcefg", "L": "def", "P": "abefg", "A": "abcefg", "F": "aefg"}
LETTERS |= {"r": "eg", "n": "ceg", "u": "cde", "c": "deg"}


def _bits(segs: str) -> int:
    return sum(1 << SEGMENTS.index(s) for s in segs)


# Digit forms, plus "ef" (a 1 on the left) and both o's, that a random pattern must stay clear of.
_DIGIT_LIKE = [_bits(v) for g in GLYPHS for v in g.split("|")] + [_bits(s) for s in ("ef", "cdeg", "abfg")]
# Patterns two or more segments away from each of them, so that no single missing or extra segment
# turns one into a digit.
ODD_PATTERNS = [
    "".join(s for i, s in enumerate(SEGMENTS) if m >> i & 1)
    for m in range(1, 128)
    if min(bin(m ^ d).count("1") for d in _DIGIT_LIKE) >= 2
]


@dataclass
class Face:
    """One display's geometry in canvas pixels: every digit on it is drawn alike."""

    h: float  # digit height
    w: float  # digit width
    t: float  # segment thickness
    gap: float  # between neighbouring segments
    slant: float  # tan of the italic angle
    bevel: bool  # pointed (hexagonal) segment ends, else square
    round_point: bool
    pitch: float  # from one digit to the next
    origin: tuple[float, float]  # the first digit's top left
    crop: tuple[int, int, int, int]  # the photo inside the canvas, which pads it for the tilt
    size: tuple[int, int]  # the canvas


def layout(n: int, points: bool, rng: Rng) -> Face:
    """A random display face for n digits: 60-400 px tall, margins 15-60% of the digit height."""
    total = int(np.exp(rng.uniform(np.log(60), np.log(400))))  # even on a log scale: near and far shots
    top, bottom, left, right = rng.uniform(0.15, 0.6, 4)
    h = total / (1 + top + bottom)
    w = h / rng.uniform(1.5, 2.2)
    t = w * rng.uniform(0.08, 0.2)
    slant = float(np.tan(np.radians(rng.uniform(0, 12))))
    pitch = w * rng.uniform(1.3, 1.6)
    # the top of an italic digit leans right by h * slant; a point sits in the space after a digit
    width = int(round((left + right) * h + (n - 1) * pitch + w + slant * h + points * (pitch - w)))
    pad = int(0.1 * max(width, total)) + 4
    return Face(
        h, w, t, t * rng.uniform(0.1, 0.35), slant, bool(rng.random() < 0.6), bool(rng.random() < 0.5),
        pitch, (pad + left * h, pad + top * h), (pad, pad, pad + width, pad + total),
        (width + 2 * pad, total + 2 * pad),
    )  # fmt: skip


def segment(p0: np.ndarray, p1: np.ndarray, t: float, gap: float, bevel: bool) -> np.ndarray:
    """The polygon of a segment whose centre line runs from p0 to p1 (corner to corner)."""
    d = (p1 - p0) / np.linalg.norm(p1 - p0)
    n, r = np.array([-d[1], d[0]]), t / 2
    a, b = p0 + d * gap, p1 - d * gap
    if bevel:  # neighbours meet along a diagonal, a gap apart
        return np.array([a, a + r * (d + n), b + r * (n - d), b, b - r * (d + n), a + r * (d - n)])
    # square ends: the horizontals fill the corners, the verticals stop a gap short of them
    a, b = (p0 - d * r, p1 + d * r) if abs(d[0]) > 0.5 else (a + d * r, b - d * r)
    return np.array([a + r * n, b + r * n, b - r * n, a - r * n])


def decimal_point(f: Face) -> np.ndarray:
    """A square or round point at the bottom right, in the space before the next digit."""
    size = min(f.t * 1.2, (f.pitch - f.w) * 0.5)
    centre = np.array([f.w + (f.pitch - f.w) * 0.4, f.h - size / 2])
    if f.round_point:
        angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        return centre + size / 2 * np.column_stack([np.cos(angles), np.sin(angles)])
    return centre + size / 2 * np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]])


def cell(f: Face, i: int, segs: str, point: bool | None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Lit and unlit polygons of the i-th digit; point None: this display has no decimal points."""
    x0, x1, y0, ym, y1 = f.t / 2, f.w - f.t / 2, f.t / 2, f.h / 2, f.h - f.t / 2
    ends = {"a": (x0, y0, x1, y0), "b": (x1, y0, x1, ym), "c": (x1, ym, x1, y1), "d": (x0, y1, x1, y1)}
    ends |= {"e": (x0, ym, x0, y1), "f": (x0, y0, x0, ym), "g": (x0, ym, x1, ym)}
    lit: list[np.ndarray] = []
    unlit: list[np.ndarray] = []
    for name, (ax, ay, bx, by) in ends.items():
        poly = segment(np.array([ax, ay]), np.array([bx, by]), f.t, f.gap, f.bevel)
        (lit if name in segs else unlit).append(poly)
    if point is not None:
        (lit if point else unlit).append(decimal_point(f))
    ox, oy = f.origin[0] + i * f.pitch, f.origin[1]
    # italic: shear about the baseline, so the bottom stays put and the top leans right
    place = [np.column_stack([p[:, 0] + (f.h - p[:, 1]) * f.slant + ox, p[:, 1] + oy]) for p in lit + unlit]
    return place[: len(lit)], place[len(lit) :]


def mask(polys: list[np.ndarray], size: tuple[int, int], ss: int = 3) -> np.ndarray:
    """Coverage 0..1 of the polygons, drawn ss times larger and averaged down for smooth edges."""
    img = Image.new("L", (size[0] * ss, size[1] * ss), 0)
    draw = ImageDraw.Draw(img)
    for p in polys:
        draw.polygon([tuple(q) for q in (p * ss).tolist()], fill=255)
    return np.asarray(img.resize(size, Image.Resampling.BOX), np.float32) / 255


def blur(a: np.ndarray, radius: float) -> np.ndarray:
    img = Image.fromarray(np.clip(a * 255, 0, 255).astype(np.uint8))
    return np.asarray(img.filter(ImageFilter.GaussianBlur(float(radius))), np.float32) / 255


def colours(kind: str, rng: Rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Face, lit-segment and unlit-segment colours (RGB, 0..255) of a display of this kind."""
    u = rng.uniform
    if kind == "lcd":  # reflective grey-green or grey; unlit segments 5-15% darker than the face
        tint = np.array([u(0.85, 0.95), 1, u(0.78, 0.9)]) if rng.random() < 0.6 else np.ones(3)
        face = u(150, 215) * tint
        return face, u(20, 70) * np.array([1, 1, u(1, 1.15)]), face * (1 - u(0.05, 0.15))
    if kind == "led":  # red, green, amber or blue, the brightest part washing toward white
        hue = np.array([[255, 40, 30], [60, 255, 80], [255, 165, 20], [60, 140, 255]])[rng.integers(4)]
        face = u(8, 35) * np.array([1, u(0.85, 1), u(0.85, 1)])
        return face, hue + (255 - hue) * u(0, 0.35), face + u(8, 22)
    if kind == "printed":  # a label or sticker: no unlit segments
        face = u(215, 252) * np.array([1, u(0.96, 1), u(0.88, 1)])
        return face, u(5, 70) * np.ones(3), face
    face = u(4, 22) * np.array([0.9, 1, 1.1])  # vfd: cyan-green glow on near-black
    return face, np.array([u(60, 140), u(230, 255), u(190, 235)]), face + u(3, 10)


def paint(kind: str, lit: np.ndarray, unlit: np.ndarray, t: float, rng: Rng) -> np.ndarray:
    """The display face as float RGB: face, unlit segments, LCD shadow, lit segments, glow, VFD mesh."""
    face, ink, dim = (c.astype(np.float32) for c in colours(kind, rng))  # float32 throughout, for speed
    img = np.empty(lit.shape + (3,), np.float32)
    img[:] = face
    if kind != "printed":
        img += (dim - face) * unlit[..., None]
    if kind == "lcd" and rng.random() < 0.5:  # the segments' shadow on the reflector behind the liquid
        dx, dy = (rng.uniform(0.3, 0.9, 2) * t + 1).astype(int)
        shadow = np.roll(lit, (dy, dx), axis=(0, 1)) * rng.uniform(0.1, 0.25)
        img *= 1 - shadow[..., None]
    img += (ink - img) * lit[..., None]
    if kind in ("led", "vfd"):  # light scattered around a lit segment
        halo = blur(lit, t * rng.uniform(0.6, 1.5) if kind == "led" else t * rng.uniform(0.3, 0.8))
        img += ink * halo[..., None] * rng.uniform(0.3, 0.8)
    if kind == "vfd":  # the control grid in front of the segments
        step = int(rng.integers(3, 7))
        yy, xx = np.indices(lit.shape)
        grid = ((xx % step == 0) | (yy % step == 0))[..., None]
        img = img * (1 - rng.uniform(0.15, 0.35) * grid) + rng.uniform(2, 8) * grid
    return img


def tilt(size: tuple[int, int], turn: float, rng: Rng) -> tuple[float, ...]:
    """PIL perspective coefficients: the face turned up to `turn` degrees in-plane, tilted up to 8 out."""
    w, h = size
    f = 1.5 * max(w, h)  # the camera's distance, a normal lens's field of view
    z, x, y = np.radians(rng.uniform([-turn, -8, -8], [turn, 8, 8]))
    rz = np.array([[np.cos(z), -np.sin(z), 0], [np.sin(z), np.cos(z), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(x), -np.sin(x)], [0, np.sin(x), np.cos(x)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    r = rz @ rx @ ry
    camera = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]])
    centre = np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1]])
    forward = camera @ np.column_stack([r[:, 0], r[:, 1], [0, 0, f]]) @ centre
    back = np.linalg.inv(forward)  # PIL maps each output pixel back to the input
    return tuple((back / back[2, 2]).ravel()[:8].tolist())


def lighting(h: int, w: int, rng: Rng) -> np.ndarray:
    """A gain of 0.55..1 per pixel: a linear gradient across the face or a pool of light on it."""
    yy, xx = np.indices((h, w), dtype=np.float32) / max(h, w)
    if rng.random() < 0.5:
        angle = rng.uniform(0, 2 * np.pi)
        ramp = (xx - xx.mean()) * np.cos(angle) + (yy - yy.mean()) * np.sin(angle)
        ramp = (ramp - ramp.min()) / max(np.ptp(ramp), 1e-6)
    else:
        cy, cx = rng.uniform(0, h / max(h, w)), rng.uniform(0, w / max(h, w))
        ramp = 1 - np.hypot(yy - cy, xx - cx) / np.hypot(h, w) * max(h, w)
    return 1 - rng.uniform(0.05, 0.45) * (1 - ramp)


def photo(img: np.ndarray, f: Face, rng: Rng, jpeg: float) -> Image.Image:
    """The painted face photographed: tilt, crop, light, glare, blur, noise, JPEG (chance `jpeg`)."""
    pic = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    # turn wide faces less, so that their end digits stay inside the margins above and below them
    room = min(f.origin[1] - f.crop[1], f.crop[3] - f.origin[1] - f.h) / ((f.crop[2] - f.crop[0]) / 2)
    tilted = tilt(pic.size, min(4.0, float(np.degrees(np.arcsin(min(1.0, 0.6 * room))))), rng)
    fill = tuple(int(c) for c in pic.getpixel((0, 0)))
    pic = pic.transform(
        pic.size, Image.Transform.PERSPECTIVE, tilted, Image.Resampling.BILINEAR, fillcolor=fill
    )
    a = np.asarray(pic.crop(f.crop), np.float32)
    h, w = a.shape[:2]
    a = a * lighting(h, w, rng)[..., None]
    if rng.random() < 0.25:  # a reflection of a lamp or window
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.1, 0.4) * min(h, w)
        yy, xx = np.indices((h, w))
        a += rng.uniform(30, 110) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))[..., None]
    pic = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    # at most a third of a segment, so the thin segments of the smallest faces still show
    pic = pic.filter(ImageFilter.GaussianBlur(float(min(rng.uniform(0, 1.5), f.t / 3))))
    a = np.asarray(pic, np.float32) + rng.uniform(1, 8) * rng.standard_normal((h, w, 3), np.float32)
    pic = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    if rng.random() < jpeg:
        buffer = io.BytesIO()
        pic.save(buffer, "JPEG", quality=int(rng.integers(40, 96)))
        pic = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return pic


def draw(cells: list[tuple[str, bool]], rng: Rng, kind: str, points: bool, jpeg: float) -> Image.Image:
    """A photo of a display showing cells (lit segments, point lit) side by side."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    f = layout(len(cells), points, rng)
    lit: list[np.ndarray] = []
    unlit: list[np.ndarray] = []
    for i, (segs, point) in enumerate(cells):
        on, off = cell(f, i, segs, point if points else None)
        lit, unlit = lit + on, unlit + off
    img = paint(kind, mask(lit, f.size), mask(unlit, f.size), f.t, rng)
    return photo(img, f, rng, jpeg)


def draw_digit(digit: int, rng: Rng, kind: str, jpeg: float = 0.5) -> Image.Image:
    """One digit 0..9 in one of its common forms, cut from a display as a user would: half the
    displays have a point after each digit, lit after one digit in five (the one before a decimal
    point), so that a model learns that a point touching a digit is no part of it."""
    points = bool(rng.random() < 0.5)
    lit = points and bool(rng.random() < 0.2)
    return draw([(str(rng.choice(GLYPHS[digit].split("|"))), lit)], rng, kind, points, jpeg)


def draw_reading(text: str, rng: Rng, kind: str, jpeg: float = 0.5) -> Image.Image:
    """A reading such as "0347" or "12.5" (also "-" and " "); a point lights after its digit."""
    cells: list[tuple[str, bool]] = []
    for ch in text:
        if ch == "." and cells and not cells[-1][1]:
            cells[-1] = (cells[-1][0], True)
        elif ch in "0123456789":
            cells.append((str(rng.choice(GLYPHS[int(ch)].split("|"))), False))
        elif ch in "- ":
            cells.append(("g" if ch == "-" else "", False))
        else:
            raise ValueError(f"cannot show {ch!r} of {text!r} on a seven-segment display")
    # half the displays have a point after every digit, the unlit ones faintly visible like the segments
    return draw(cells, rng, kind, "." in text or rng.random() < 0.5, jpeg)


def draw_not_digit(rng: Rng, kind: str, jpeg: float = 0.5) -> Image.Image:
    """A face showing no digit: blank, a minus, a letter, or a segment pattern far from any digit."""
    letter, odd = str(rng.choice(list(LETTERS.values()))), str(rng.choice(ODD_PATTERNS))
    segs = ["", "g", letter, odd][rng.choice(4, p=[0.2, 0.15, 0.25, 0.4])]
    return draw([(segs, False)], rng, kind, False, jpeg)


def random_reading(rng: Rng) -> str:
    """3 to 6 digits, leading zeros kept (as on a meter), a point in 40% of them."""
    text = "".join(str(d) for d in rng.integers(0, 10, int(rng.integers(3, 7))))
    if rng.random() < 0.4:
        at = int(rng.integers(1, len(text)))
        text = text[:at] + "." + text[at:]
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, metavar="OUT")
    parser.add_argument("--per-digit", type=int, default=30, help="images of each digit 0..9")
    parser.add_argument("--not-a-digit", type=int, default=30, help="images that show no digit")
    parser.add_argument("--readings", type=int, default=0, help="multi-digit readings, with labels.csv")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", default=",".join(KINDS), help="display kinds, taken in turn")
    parser.add_argument("--jpeg", action="store_true", help="save JPEG (quality 40-95) instead of PNG")
    args = parser.parse_args(argv)
    kinds = args.kinds.split(",")
    if not set(kinds) <= set(KINDS) or min(args.per_digit, args.not_a_digit, args.readings) < 0:
        parser.error(f"--kinds takes some of {','.join(KINDS)}; counts must be 0 or more")
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        print(f"sevenseg: {args.out} is not an empty folder; give a new or empty one", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    jpeg = 0.0 if args.jpeg else 0.5  # --jpeg: the file itself is the one JPEG compression
    made = {k: 0 for k in kinds}

    def save(img: Image.Image, folder: Path, i: int, kind: str) -> str:
        folder.mkdir(parents=True, exist_ok=True)
        made[kind] += 1
        name = f"{kind}-{i:04d}." + ("jpg" if args.jpeg else "png")
        # compress_level 1: noisy photos barely compress, and level 6 takes most of the run
        options = {"quality": int(rng.integers(40, 96))} if args.jpeg else {"compress_level": 1}
        img.save(folder / name, **options)
        return name

    def turn() -> str:  # kinds in turn over the whole set, so each digit folder mixes them
        return kinds[sum(made.values()) % len(kinds)]

    for digit in range(10):
        for i in range(1, args.per_digit + 1):
            kind = turn()
            save(draw_digit(digit, rng, kind, jpeg), args.out / str(digit), i, kind)
    for i in range(1, args.not_a_digit + 1):
        kind = turn()
        save(draw_not_digit(rng, kind, jpeg), args.out / "not-a-digit", i, kind)
    rows = []
    for i in range(1, args.readings + 1):
        kind, text = turn(), random_reading(rng)
        name = save(draw_reading(text, rng, kind, jpeg), args.out / "readings", i, kind)
        rows.append({"file": name, "reading": text.replace(".", ""), "point": text if "." in text else ""})
    if rows:
        with open(args.out / "readings" / "labels.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, ["file", "reading", "point"])
            writer.writeheader()
            writer.writerows(rows)
    per_kind = ", ".join(f"{k} {n}" for k, n in made.items())
    counts = f"{10 * args.per_digit} digits, {args.not_a_digit} not-a-digit, {args.readings} readings"
    print(f"sevenseg: {counts} ({per_kind}) in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
