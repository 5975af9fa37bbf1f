"""Independent check generator: photograph-like images of seven-segment displays.

This is the held-out CHECK set generator. It was written separately from the training generator, with
its own segment geometry (hexagonal, mitred, blocky and rounded segments, slant, gaps, glyph variants),
display technologies (reflective, backlit and negative LCD with ghost segments, LED with bloom, vacuum
fluorescent with its grid, e-ink/printed), device bodies and camera effects, so that a reader fine-tuned
on the other generator's images can be checked on displays it has not seen drawn that way.

    python scripts/segments_second.py OUT [--per-digit 30] [--readings 60] [--seed 1]

writes OUT/0/ ... OUT/9/ (one digit per image, with some display face around it) and OUT/readings/
(whole readings of 3-6 digits) with OUT/readings/labels.csv (file,reading,point). Same seed, same images.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

# a top, b top right, c bottom right, d bottom, e bottom left, f top left, g middle
SEGMENTS = {"0": "abcdef", "1": "bc", "2": "abdeg", "3": "abcdg", "4": "bcfg"}
SEGMENTS |= {"5": "acdfg", "6": "acdefg", "7": "abc", "8": "abcdefg", "9": "abcdfg"}
# segment -> do its start and end meet another segment at a corner of the digit (1) or at mid-height (0)
ENDS = {"a": "11", "b": "10", "c": "01", "d": "11", "e": "01", "f": "10", "g": "00"}
TECHS = ["lcd", "lcd", "lcd", "lcd_back", "lcd_neg", "led", "led", "vfd", "eink"]
EMISSIVE = ("lcd_neg", "led", "vfd")
LABELS = ["kWh", "kW", "V", "A", "mA", "Hz", "kg", "g", "lb", "L", "°C", "°F", "%RH", "bar", "PSI", "TOTAL"]
LABELS += ["SET", "AUTO", "HOLD", "MAX", "€/L", "PM", "ALARM", "DC"]
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


@dataclass
class Style:
    tech: str
    shape: str  # hex, trap (mitred corners), rect (blocky), round
    h: float  # digit height, width, stroke, gap between segments, slant, space between digits (scene px)
    w: float
    t: float
    gap: float
    slant: float
    spacing: float
    variants: tuple[bool, bool, bool]  # 7 with top-left segment, 6 with top tail, 9 with bottom tail
    has_dp: bool
    face: np.ndarray
    ink: np.ndarray
    ghost: float  # how strongly unlit segments show
    body: np.ndarray


def pick(rng: np.random.Generator, items: list) -> object:
    return items[int(rng.integers(len(items)))]


def random_style(rng: np.random.Generator) -> Style:
    tech = str(pick(rng, TECHS))
    h = rng.uniform(80, 130)
    w = h * rng.uniform(0.42, 0.66)
    t = h * rng.uniform(0.07, 0.16)
    slant = rng.uniform(0.04, 0.2) if rng.random() < 0.5 else 0.0
    if tech == "lcd":
        face = np.full(3, rng.uniform(0.55, 0.82)) + np.array([-0.02, 0.02, -0.04]) + rng.normal(0, 0.025, 3)
        ink, ghost = np.full(3, rng.uniform(0.05, 0.2)) + rng.normal(0, 0.02, 3), rng.uniform(0.04, 0.14)
    elif tech == "lcd_back":
        tints = [(0.55, 0.85, 0.25), (0.35, 0.65, 1.0), (1.0, 0.6, 0.15), (0.9, 0.95, 0.95)]
        face = np.array(pick(rng, tints + [(0.6, 0.95, 0.85)])) * rng.uniform(0.75, 1.0)
        ink, ghost = np.full(3, rng.uniform(0.04, 0.15)), rng.uniform(0.03, 0.1)
    elif tech == "lcd_neg":
        face = np.array(pick(rng, [(0.02, 0.05, 0.25), (0.03, 0.03, 0.05), (0.12, 0.02, 0.05)]))
        ink = np.array(pick(rng, [(0.95, 0.95, 1.0), (0.4, 0.9, 1.0), (1.0, 0.7, 0.2), (0.5, 1.0, 0.4)]))
        ghost = rng.uniform(0.03, 0.08)
    elif tech == "led":
        leds = [(1.0, 0.12, 0.06), (0.25, 1.0, 0.25), (0.3, 0.55, 1.0), (1.0, 0.62, 0.08), (0.95, 0.95, 0.95)]
        ink = np.array(pick(rng, leds))
        face, ghost = 0.02 + ink * rng.uniform(0.03, 0.12), rng.uniform(0.02, 0.12)
    elif tech == "vfd":
        ink = np.array(pick(rng, [(0.35, 1.0, 0.85), (0.55, 0.9, 1.0), (0.3, 1.0, 0.5)]))
        face, ghost = rng.uniform(0.02, 0.08) * np.array([0.6, 0.9, 1.0]), rng.uniform(0.02, 0.07)
    else:  # e-ink or printed
        face = rng.uniform(0.72, 0.9) * np.array([1.0, 1.0, 0.97])
        ink, ghost = np.full(3, rng.uniform(0.05, 0.2)), rng.uniform(0.0, 0.03)
    bodies = [(0.08, 0.08, 0.09), (0.2, 0.2, 0.22), (0.5, 0.5, 0.52), (0.86, 0.86, 0.83), (0.8, 0.75, 0.65)]
    body = np.array(pick(rng, bodies + [(0.7, 0.72, 0.75), (0.2, 0.3, 0.5), (0.75, 0.2, 0.15)]))
    variants = (bool(rng.random() < 0.4), bool(rng.random() < 0.7), bool(rng.random() < 0.7))
    shape, gap = str(pick(rng, ["hex", "trap", "rect", "round"])), t * rng.uniform(0.04, 0.3)
    spacing = w * rng.uniform(0.25, 0.6)
    face, ink, body = np.clip(face, 0, 1), np.clip(ink, 0, 1), np.clip(body + rng.normal(0, 0.03, 3), 0, 1)
    return Style(
        tech, shape, h, w, t, gap, slant, spacing, variants, bool(rng.random() < 0.6), face, ink, ghost, body
    )


def glyph(d: str, st: Style) -> str:
    segs = SEGMENTS[d]
    if d == "7" and st.variants[0]:
        segs += "f"
    if d == "6" and not st.variants[1]:
        segs = segs.replace("a", "")
    if d == "9" and not st.variants[2]:
        segs = segs.replace("d", "")
    return segs


def segment_polygon(seg: str, st: Style) -> list[np.ndarray]:
    """Outline of one segment in digit coordinates (x right, y down, before slant)."""
    t, g, w, h = st.t, st.gap, st.w, st.h
    xl, xr, yt, ym, yb = t / 2, w - t / 2, t / 2, h / 2, h - t / 2
    lines = {"a": ((xl, yt), (xr, yt), (0, -1)), "b": ((xr, yt), (xr, ym), (1, 0))}
    lines |= {
        "c": ((xr, ym), (xr, yb), (1, 0)),
        "d": ((xl, yb), (xr, yb), (0, 1)),
        "g": ((xl, ym), (xr, ym), (0, 0)),
    }
    lines |= {"e": ((xl, ym), (xl, yb), (-1, 0)), "f": ((xl, yt), (xl, ym), (-1, 0))}
    p0, p1, out = (np.array(v, float) for v in lines[seg])
    u = (p1 - p0) / np.linalg.norm(p1 - p0)
    n = np.array([-u[1], u[0]])
    ends = []
    for p, v, corner in ((p0, u, ENDS[seg][0] == "1"), (p1, -u, ENDS[seg][1] == "1")):
        if st.shape == "round":
            c = p + v * (g + t / 2)
            pts = [c + (n * np.cos(a) - v * np.sin(a)) * t / 2 for a in np.linspace(0, np.pi, 9)]
        elif st.shape == "rect":
            e = -t / 2 if seg in "ad" else (t / 2 + g if corner or seg == "g" else g / 2)
            pts = [p + v * e + n * t / 2, p + v * e - n * t / 2]
        elif st.shape == "trap" and corner:
            side = float(np.dot(n, out))  # +1 when the +n side is the outer edge
            pts = [p + v * (1.4 * g - side * t / 2) + n * t / 2, p + v * (1.4 * g + side * t / 2) - n * t / 2]
        else:
            pts = [p + v * (g + t / 2) + n * t / 2, p + v * g, p + v * (g + t / 2) - n * t / 2]
        ends.append(pts)
    return ends[0][::-1] + ends[1]


def dot(cx: float, cy: float, r: float, round_dot: bool) -> list[np.ndarray]:
    angles = np.arange(16) * np.pi / 8 if round_dot else np.pi / 4 + np.arange(4) * np.pi / 2
    return [np.array([cx + r * np.cos(a), cy + r * np.sin(a)]) for a in angles]


def draw_digits(
    st: Style, cells: list[str | None], dp: int | None, colon: int | None, geom: tuple[int, int, float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Lit and ghost (all segments) masks, size geom[:2], first digit at geom[2:]; None: a blank position."""
    ss, x = 3, geom[2]  # drawn at 3x and averaged down, for smooth edges
    lit, ghost = Image.new("L", (geom[0] * ss, geom[1] * ss)), Image.new("L", (geom[0] * ss, geom[1] * ss))
    dl, dg = ImageDraw.Draw(lit), ImageDraw.Draw(ghost)

    def put(poly: list[np.ndarray], draw: list[ImageDraw.ImageDraw]) -> None:
        pts = [((x + px + st.slant * (st.h - py)) * ss, (geom[3] + py) * ss) for px, py in poly]
        for dr in draw:
            dr.polygon(pts, fill=255)

    r = min(st.t * 0.6, st.spacing * 0.3)
    for i, cell in enumerate(cells):
        on = glyph(cell, st) if cell is not None else ""
        for seg in "abcdefg":
            put(segment_polygon(seg, st), [dg, dl] if seg in on else [dg])
        if st.has_dp or dp == i:
            put(dot(st.w + st.spacing / 2, st.h - r, r, st.shape != "rect"), [dg, dl] if dp == i else [dg])
        step = st.w + st.spacing
        if colon == i:
            step += st.spacing
            for cy in (st.h * 0.3, st.h * 0.7):
                put(dot(st.w + st.spacing, cy, r, st.shape != "rect"), [dg, dl])
        x += step
    small = [np.asarray(m.resize(geom[:2], Image.Resampling.BOX), np.float32) / 255 for m in (lit, ghost)]
    return small[0], small[1]


def blur(a: np.ndarray, radius: float) -> np.ndarray:
    img = Image.fromarray((np.clip(a, 0, 1) * 255).astype(np.uint8))
    return np.asarray(img.filter(ImageFilter.GaussianBlur(radius)), np.float32) / 255


def compose(
    st: Style, lit: np.ndarray, ghost: np.ndarray, face_box: tuple[float, ...], rng: np.random.Generator
) -> np.ndarray:
    """Device body, recessed display window, unlit and lit segments in the display's technology."""
    hgt, wid = lit.shape
    fm_img = Image.new("L", (wid, hgt))
    ImageDraw.Draw(fm_img).rounded_rectangle(face_box, radius=rng.uniform(0, 0.12) * st.h, fill=255)
    fm = np.asarray(fm_img, np.float32)[..., None] / 255
    img = np.broadcast_to(st.body, (hgt, wid, 3)) * (1 - fm) + st.face * fm
    k = max(1, int(st.h * rng.uniform(0.02, 0.08)))  # inner shadow of the bezel on the window's top left
    img = img * (1 - 0.5 * fm * (1 - blur(np.roll(fm[..., 0], (k, k), (0, 1)), k)[..., None]))
    lit3, ghost3 = lit[..., None], ghost[..., None]
    if st.tech in EMISSIVE:
        on = lit3
        if st.tech == "vfd":
            p = int(rng.integers(3, 6))
            yy, xx = np.mgrid[0:hgt, 0:wid]
            on = lit3 * (1 - 0.35 * ((xx % p == 0) | (yy % p == 0)))[..., None]
        core = st.ink + (1 - st.ink) * rng.uniform(0, 0.4)
        img = img + ghost3 * st.ghost * st.ink
        img = img * (1 - on) + core * on
        img = img + blur(lit, st.t * rng.uniform(0.3, 1.2))[..., None] * st.ink * rng.uniform(0.2, 0.8)
    else:
        img = img * (1 - ghost3 * st.ghost) + st.ink * ghost3 * st.ghost
        if st.tech.startswith("lcd"):  # segments cast a faint shadow on the reflector behind them
            sh = np.roll(lit, (int(st.t * 0.25) + 1, int(st.t * 0.2) + 1), (0, 1))[..., None]
            sh = sh * rng.uniform(0.1, 0.3)
            img = img * (1 - sh) + img * 0.55 * sh
        img = img * (1 - lit3) + st.ink * lit3
    return np.clip(img, 0, 1)


def add_text(img: np.ndarray, text: str, xy: tuple[float, float], size: float, colour: np.ndarray) -> None:
    try:
        font = ImageFont.truetype(FONT, max(6, int(size)))
    except OSError:
        font = ImageFont.load_default(max(6, int(size)))
    m = Image.new("L", (img.shape[1], img.shape[0]))
    ImageDraw.Draw(m).text(xy, text, fill=255, font=font)
    a = np.asarray(m, np.float32)[..., None] / 255
    img[:] = img * (1 - a) + colour * a


def perspective(dst: np.ndarray, src: np.ndarray) -> list[float]:
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        rhs += [u, v]
    return np.linalg.solve(np.array(rows, float), np.array(rhs, float)).tolist()


def camera(img: np.ndarray, rng: np.random.Generator, longer: int) -> Image.Image:
    """Rotation and perspective, uneven light, glare, resize, blur, sensor noise and JPEG."""
    hgt, wid = img.shape[:2]
    pad = int(0.3 * max(hgt, wid))
    src = Image.fromarray((np.pad(img, ((pad, pad), (pad, pad), (0, 0)), mode="edge") * 255).astype(np.uint8))
    corners = np.array([[0, 0], [wid, 0], [wid, hgt], [0, hgt]], float)
    ang = np.deg2rad(np.clip(rng.normal(0, 1.5), -4, 4))
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    zoom = (np.cos(ang) + abs(np.sin(ang)) * max(wid / hgt, hgt / wid)) * rng.uniform(
        1.0, 1.05
    )  # keep it all
    quad = (corners - [wid / 2, hgt / 2]) @ rot.T * zoom + [wid / 2 + pad, hgt / 2 + pad]
    far = [0, 1] if rng.random() < 0.5 else [3, 2]  # the edge farther from the camera looks shorter
    quad[far, 0] += np.array([-1, 1]) * rng.uniform(0, 0.06) * wid
    quad += rng.uniform(-0.02, 0.02, (4, 2)) * min(wid, hgt)
    coeffs = perspective(corners, quad)
    out = src.transform((wid, hgt), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC)
    a = np.asarray(out, np.float32) / 255
    yy, xx = np.mgrid[0:hgt, 0:wid] / max(hgt, wid)
    th, (cx, cy) = rng.uniform(0, 2 * np.pi), rng.uniform(0, 1, 2) * [wid, hgt] / max(hgt, wid)
    light = 1 + rng.uniform(0, 0.4) * ((xx - 0.5) * np.cos(th) + (yy - 0.5) * np.sin(th))
    light -= rng.uniform(0, 0.5) * ((xx - cx) ** 2 + (yy - cy) ** 2)
    a = a * light[..., None] * rng.uniform(0.8, 1.15)
    if rng.random() < 0.45:  # glare from a window or lamp on the cover glass
        d = (xx - cx) * np.cos(th + 1) + (yy - cy) * np.sin(th + 1)
        a = a + rng.uniform(0.08, 0.4) * np.exp(-((d / rng.uniform(0.03, 0.25)) ** 2))[..., None]
    out = Image.fromarray((np.clip(a, 0, 1) * 255).astype(np.uint8))
    scale = longer / max(hgt, wid)
    out = out.resize((max(8, round(wid * scale)), max(8, round(hgt * scale))), Image.Resampling.LANCZOS)
    if rng.random() < 0.6:
        out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.3)))
    a = np.asarray(out, np.float32) / 255
    a = a + rng.normal(0, rng.uniform(0.0, 0.045), a.shape[:2])[..., None] + rng.normal(0, 0.01, a.shape)
    out = Image.fromarray((np.clip(a, 0, 1) * 255).astype(np.uint8))
    if rng.random() < 0.7:
        buf = io.BytesIO()
        out.save(buf, "JPEG", quality=int(rng.integers(30, 95)))
        out = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return out


def make_reading(rng: np.random.Generator) -> tuple[Image.Image, str, str]:
    st = random_style(rng)
    n = int(rng.integers(3, 7))
    digits = [str(v) for v in rng.integers(0, 10, n)]
    if rng.random() < 0.3:  # meter-style leading zeros
        k = int(rng.integers(1, n))
        digits[:k] = ["0"] * k
    colon = point = None
    if n == 4 and rng.random() < 0.3:  # clock
        colon, digits = 1, list(f"{rng.integers(0, 24):02d}{rng.integers(0, 60):02d}")
    elif rng.random() < 0.5:
        point = int(rng.integers(0, n - 1))
    blanks = int(rng.integers(1, 7 - n)) if n < 6 and colon is None and rng.random() < 0.3 else 0
    cells: list[str | None] = [*([None] * blanks), *digits]
    span = len(cells) * (st.w + st.spacing) - st.spacing + st.slant * st.h + (st.spacing if colon else 0)
    h = st.h
    ml, mr, mt, mb = h * rng.uniform(0.15, 0.5, 4) * [1, 1, 0.8, 0.8]
    label, where, fs = str(pick(rng, LABELS)), rng.random(), h * rng.uniform(0.13, 0.2)
    if where < 0.3:  # small unit label inside the window, well to the right of the digits
        mr += 0.45 * h + fs * 0.62 * len(label)
    bl, br, bt, bb = h * rng.uniform(0, 0.5, 4) * (rng.random(4) < 0.7)
    if 0.3 <= where < 0.55:  # label printed on the body under the window
        bb = max(bb, fs + 0.35 * h)
    wid, hgt = int(bl + ml + span + mr + br), int(bt + mt + h + mb + bb)
    fx1, fy1 = bl + ml + span + mr, bt + mt + h + mb
    dp = None if point is None else point + blanks
    lit, ghost = draw_digits(st, cells, dp, colon, (wid, hgt, bl + ml, bt + mt))
    img = compose(st, lit, ghost, (bl, bt, fx1, fy1), rng)
    if where < 0.3:
        ly = bt + mt if rng.random() < 0.5 else bt + mt + h - fs * 1.2
        add_text(img, label, (bl + ml + span + 0.45 * h, ly), fs, st.ink * 0.8 + st.face * 0.2)
    elif where < 0.55:
        tc = np.full(3, 0.9 if st.body.mean() < 0.5 else 0.15)
        add_text(img, label, (bl + rng.uniform(0, max(1.0, fx1 - bl - fs * 3)), fy1 + 0.12 * h), fs, tc)
    reading = "".join(digits)
    dotted = "" if point is None else reading[: point + 1] + "." + reading[point + 1 :]
    longer = round(np.exp(rng.uniform(np.log(120), np.log(600))))
    return camera(img, rng, longer), reading, dotted


def make_single(d: str, rng: np.random.Generator) -> Image.Image:
    st = random_style(rng)
    h, w = st.h, st.w
    ml, mr, mt, mb = rng.uniform(0.1, 0.35, 4) * [w, w, h * 0.6, h * 0.6]
    mr += st.spacing / 2 + st.t if st.has_dp else 0
    body = np.zeros(4)
    if rng.random() < 0.35:  # the window's edge and some of the device body in view on one side
        body[rng.integers(4)] = h * rng.uniform(0.1, 0.4)
    wid, hgt = int(body[0] + ml + w + st.slant * h + mr + body[1]), int(body[2] + mt + h + mb + body[3])
    dp = 0 if rng.random() < 0.1 else None
    lit, ghost = draw_digits(st, [d], dp, None, (wid, hgt, body[0] + ml, body[2] + mt))
    img = compose(st, lit, ghost, (body[0], body[2], wid - body[1], hgt - body[3]), rng)
    return camera(img, rng, round(np.exp(rng.uniform(np.log(48), np.log(240)))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="output folder (must be empty or absent)")
    ap.add_argument("--per-digit", type=int, default=30, help="single-digit images per digit")
    ap.add_argument("--readings", type=int, default=60, help="whole-reading images")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    out: Path = args.out
    if out.is_file() or (out.is_dir() and any(out.iterdir())):
        print(f"segments_second: {out} already holds files; choose an empty folder", file=sys.stderr)
        sys.exit(2)
    for d in "0123456789":
        (out / d).mkdir(parents=True, exist_ok=True)
        for i in range(args.per_digit):
            make_single(d, np.random.default_rng([args.seed, int(d), i])).save(out / d / f"{i:04d}.png")
    (out / "readings").mkdir(parents=True, exist_ok=True)
    with open(out / "readings" / "labels.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "reading", "point"])
        for i in range(args.readings):
            img, reading, dotted = make_reading(np.random.default_rng([args.seed, 10, i]))
            img.save(out / "readings" / f"{i:04d}.png")
            writer.writerow([f"{i:04d}.png", reading, dotted])
    print(f"wrote {10 * args.per_digit} digit images and {args.readings} readings to {out}")


if __name__ == "__main__":
    main()
