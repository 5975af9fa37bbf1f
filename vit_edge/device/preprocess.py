"""Turn a user's digit image into an MNIST-style 28x28 array: numpy and Pillow only.

any image -> grey (transparency flattened onto paper), reduced to at most WORK_SIDE px while
decoding, pooled toward the ink -> white ink on black (invert dark-on-light) -> contrast-stretched
ink -> crop to the ink -> thin strokes thickened to MNIST's width -> longer side 20 px -> 28x28,
centre of mass centred. That is how MNIST itself was made (20x20 box, centred by centre of mass).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError

__all__ = ["ImageError", "preprocess", "preprocess_image", "stroke_width", "open_image"]

MAX_PIXELS = 40_000_000  # larger images are refused before decoding (decompression bombs)
# Images are reduced to this longer side before any float conversion: a 6000x6000 photo would
# otherwise take over a gigabyte as float64. 1024 px is 51x the 20 px digit box.
WORK_SIDE = 1024
INK_THRESHOLD = 0.3  # of the stretched ink range: below it is paper, noise or JPEG ringing
MIN_CONTRAST = 0.15  # ink must stand this far above the paper (of the 0-1 grey range) ...
NOISE_SIGMAS = 6.0  # ... and this many robust standard deviations of the paper's own noise
MIN_INK_PIXELS = 8  # fewer ink pixels than this is specks, not a digit
BOX, SIDE, CENTRE = 20, 28, 14.0  # MNIST: digit box, canvas, centre of mass (measured: 14.0, 14.0)
# Stroke width, in pixels of the 28x28 input, by `stroke_width` on the 60,000 MNIST training
# digits (ink > 0.5): median 2.50, 10th percentile 1.79, 90th 3.49
# (`python scripts/stroke_width.py --data-dir ../shared/mnist`). A stroke that would come out
# thinner than MNIST_THIN is thickened to MNIST_STROKE before resizing; thicker ones are left alone.
MNIST_STROKE = 2.50
MNIST_THIN = 1.79
FINE_SIDE = 4 * BOX  # thin strokes are thickened at this scale: a quarter of an output pixel a step


def open_image(path: str | Path) -> Image.Image:
    """Open and decode an image, refusing huge, truncated and non-image files.

    A JPEG is decoded at a reduced scale (DCT scaling, at most 1/4) when it is much larger than
    WORK_SIDE: it never exists at full size in memory.
    """
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
            if img.format == "JPEG" and img.mode in ("L", "RGB"):
                # keep 2x WORK_SIDE: DCT scaling averages, so a 1 px line keeps >= 1/4 of its contrast
                # and the max-pooling in to_grey then carries it at that strength
                f = max(img.width, img.height) / (2 * WORK_SIDE)
                if f > 1:
                    img.draft("L", (math.ceil(img.width / f), math.ceil(img.height / f)))
            img.load()
        except UnidentifiedImageError:
            raise ImageError("not an image Pillow can read") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"image too large (over {MAX_PIXELS} pixels)") from None
        except (OSError, SyntaxError, ValueError) as e:
            raise ImageError(f"cannot decode image ({e})") from None
    ImageOps.exif_transpose(img, in_place=True)  # the default returns a full-size copy
    return img


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info


def _full_scale(img: Image.Image) -> int:
    if img.mode.startswith("I;16"):
        return 65535
    if img.mode in ("I", "F"):
        return 65535 if img.getextrema()[1] > 255 else 255
    return 255


def _alpha_paper(img: Image.Image) -> int | None:
    """The paper shade under transparent pixels: the opposite of the strokes' alpha-weighted shade,
    so black strokes on a transparent canvas (drawing apps) land on white. None when opaque."""
    if not _has_alpha(img):
        return None
    ink = weight = 0.0
    for box in _strips(img, 256):
        rgba = img.crop(box).convert("RGBA")
        g = np.asarray(rgba.convert("L"), dtype=np.float32)
        a = np.asarray(rgba.getchannel("A"), dtype=np.float32)
        ink, weight = ink + float((g * a).sum()), weight + float(a.sum())
    return 255 if ink / max(weight, 1e-9) < 127.5 else 0


def _strips(img: Image.Image, rows: int) -> list[tuple[int, int, int, int]]:
    return [(0, y, img.width, min(img.height, y + rows)) for y in range(0, img.height, rows)]


def _integer_grey(img: Image.Image, top: int, paper: int | None) -> np.ndarray:
    """Grey levels of (a region of) an image as a 2-D integer array, transparency flattened onto paper."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return np.clip(np.asarray(img), 0, top).astype(np.uint16 if top > 255 else np.uint8)
    if paper is not None:
        rgba = img.convert("RGBA")
        grey = Image.composite(rgba.convert("L"), Image.new("L", img.size, paper), rgba.getchannel("A"))
        return np.asarray(grey)
    return np.asarray(img if img.mode == "L" else img.convert("L"))  # ITU-R 601 luma


def pool_toward_ink(grey: np.ndarray, factor: int, dark_on_light: bool) -> np.ndarray:
    """Shrink by an integer factor keeping, in each block, the pixel most like ink.

    Averaging would fade a 1 px pen line to 1/factor of its contrast; min (dark ink) or max (light
    ink) pooling keeps it at full strength, and the stroke-width step thickens it afterwards.
    """
    h, w = grey.shape
    ph, pw = -h % factor, -w % factor
    paper = grey.max() if dark_on_light else grey.min()
    if ph or pw:
        grey = np.pad(grey, ((0, ph), (0, pw)), constant_values=paper)
    blocks = grey.reshape(grey.shape[0] // factor, factor, grey.shape[1] // factor, factor)
    return blocks.min(axis=(1, 3)) if dark_on_light else blocks.max(axis=(1, 3))


def to_grey(img: Image.Image) -> np.ndarray:
    """Float32 grey levels in [0, 1] (1 = white), longer side at most WORK_SIDE px.

    A larger image is converted and pooled strip by strip, so no full-size grey or float copy of
    it ever exists: a 6000x6000 PNG needs its decoded pixels and a few MB more.
    """
    top, paper = _full_scale(img), _alpha_paper(img)
    factor = math.ceil(max(img.size) / WORK_SIDE)
    if factor == 1:
        return _integer_grey(img, top, paper).astype(np.float32) / np.float32(top)
    border = [_integer_grey(img.crop(box), top, paper) for box in _border_boxes(*img.size)]
    dark = _dark_on_light_values(np.concatenate([b.ravel() for b in border]), top)
    strips = [
        pool_toward_ink(_integer_grey(img.crop(box), top, paper), factor, dark)
        for box in _strips(img, factor * 32)
    ]
    return np.concatenate(strips).astype(np.float32) / np.float32(top)


def _border_boxes(w: int, h: int) -> list[tuple[int, int, int, int]]:
    """The image's border, 1/20 of its shorter side deep: top, bottom, left, right (Pillow boxes)."""
    m = max(1, min(w, h) // 20)
    return [(0, 0, w, m), (0, h - m, w, h), (0, 0, m, h), (w - m, 0, w, h)]


def _dark_on_light(grey: np.ndarray, top: float) -> bool:
    """Judged by the border: most of a digit image's border is paper."""
    h, w = grey.shape
    border = [grey[y0:y1, x0:x1].ravel() for x0, y0, x1, y1 in _border_boxes(w, h)]
    return _dark_on_light_values(np.concatenate(border), top)


def _dark_on_light_values(border: np.ndarray, top: float) -> bool:
    return bool(np.median(border) > top / 2)


def to_ink(grey: np.ndarray) -> np.ndarray:
    """White ink on black in [0, 1]: invert dark-on-light, then stretch paper to 0 and ink to 1.

    Ink is what stands above the paper by MIN_CONTRAST and by NOISE_SIGMAS of the paper's own
    noise; a page with fewer than MIN_INK_PIXELS such pixels is blank. Counting pixels instead
    of taking a high percentile finds a 1 px line on a 2000x2000 canvas (0.05% of the pixels),
    while paper texture, JPEG noise and uniform colours stay blank.
    """
    ink = 1 - grey if _dark_on_light(grey, 1.0) else grey
    paper = float(np.median(ink))  # most of a digit image is paper
    deviation = ink - paper
    noise = 1.4826 * float(np.median(np.abs(deviation)))  # robust standard deviation of the paper
    candidates = deviation[deviation > max(MIN_CONTRAST, NOISE_SIGMAS * noise)]
    if candidates.size < MIN_INK_PIXELS:
        raise ImageError("blank image: no ink found")
    strongest = float(np.percentile(candidates, 90))  # robust to a few hot pixels
    return np.clip(deviation / strongest, 0, 1)


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary ink mask, in pixels: 2 x area / perimeter.

    The perimeter is the count of ink/paper pixel edges times pi/4 (a city-block length is
    4/pi times the Euclidean one on average over directions). A straight stroke of width w and
    length L >> w has area w L and perimeter 2 L.
    """
    m = np.pad(mask.astype(bool), 1)
    edges = np.count_nonzero(m[1:] != m[:-1]) + np.count_nonzero(m[:, 1:] != m[:, :-1])
    return 2 * float(m.sum()) / max(edges * math.pi / 4, 1e-9)


def disk_dilate(a: np.ndarray, radius: float) -> np.ndarray:
    """Grey dilation by a disk (zero outside the array): a round pen, the same width in every direction."""
    r = int(math.floor(radius))
    out = a.copy()
    h, w = a.shape
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if (dy or dx) and dy * dy + dx * dx <= radius * radius:
                dst = out[max(0, dy) : h + min(0, dy), max(0, dx) : w + min(0, dx)]
                src = a[max(0, -dy) : h + min(0, -dy), max(0, -dx) : w + min(0, -dx)]
                np.maximum(dst, src, out=dst)
    return out


def stroke_target(width: float) -> float:
    """The output stroke width to thicken to: MNIST's median for hairlines, blending to no change at
    MNIST_THIN, so a stroke near the threshold is not thickened in a jump."""
    return MNIST_THIN + (MNIST_STROKE - MNIST_THIN) * (1 - width / MNIST_THIN)


def thicken(crop: np.ndarray) -> np.ndarray:
    """Dilate a crop whose strokes would come out thinner than MNIST's once fitted to 20 px.

    Thin pens on large canvases (a 2 px pen on a 600 px digit) would otherwise shrink to a faint
    0.07 px line. The crop is brought to FINE_SIDE px first (block max when larger, so a hairline
    keeps full strength; bilinear when smaller, so the pen can grow by less than an output pixel),
    then dilated by a disk: radius r adds 2 r to the width and to the longer side, so r solves
    (w + 2 r) * 20 / (L + 2 r) = target.
    """
    out_width = stroke_width(crop > 0.5) * BOX / max(crop.shape)
    if out_width >= MNIST_THIN:
        return crop
    side = max(crop.shape)
    if side > FINE_SIDE:
        crop = pool_toward_ink(crop, math.ceil(side / FINE_SIDE), dark_on_light=False)
    elif side < FINE_SIDE:
        f = FINE_SIDE / side
        size = (max(1, round(crop.shape[1] * f)), max(1, round(crop.shape[0] * f)))
        crop = np.clip(np.asarray(_resize(crop, size, Image.Resampling.BILINEAR)), 0, 1)
    width, side = stroke_width(crop > 0.5), max(crop.shape)
    target = stroke_target(out_width)
    radius = (target * side / BOX - width) / (1 - target / BOX) / 2
    if radius < 0.5:
        return crop
    pad = math.ceil(radius)
    return disk_dilate(np.pad(crop, pad), radius)


def _resize(a: np.ndarray, size: tuple[int, int], method: Image.Resampling) -> Image.Image:
    return Image.fromarray(a.astype(np.float32), mode="F").resize(size, method)


def mnist_style(ink: np.ndarray) -> np.ndarray:
    """Crop to the ink, thicken thin strokes, fit the longer side to 20 px, centre by mass in 28x28."""
    crop = _crop(ink)
    crop = _crop(thicken(crop))
    h, w = crop.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(_resize(crop, size, Image.Resampling.LANCZOS))
    small = np.clip(small, 0, 1)
    total = small.sum()
    if total <= 0:
        raise ImageError("blank image: no ink found")
    cy = (small.sum(axis=1) * np.arange(small.shape[0])).sum() / total
    cx = (small.sum(axis=0) * np.arange(small.shape[1])).sum() / total
    top = int(np.clip(round(CENTRE - cy), 0, SIDE - small.shape[0]))
    left = int(np.clip(round(CENTRE - cx), 0, SIDE - small.shape[1]))
    canvas = np.zeros((SIDE, SIDE), dtype=np.float32)
    canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
    return canvas


def _crop(ink: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(ink > INK_THRESHOLD)
    if rows.size == 0:
        raise ImageError("blank image: no ink found")
    return ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def preprocess(path: str | Path) -> np.ndarray:
    """A user's image file as a float32 28x28 MNIST-style array in [0, 1]."""
    return preprocess_image(open_image(path))


def preprocess_image(img: Image.Image) -> np.ndarray:
    return mnist_style(to_ink(to_grey(img)))
