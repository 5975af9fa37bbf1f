"""Turn a user's digit image into an MNIST-style 28x28 array: numpy and Pillow only.

any image -> grey (transparency flattened onto paper), reduced to at most WORK_SIDE px while
decoding, pooled toward the ink -> white ink on black (invert dark-on-light) -> contrast-stretched
ink -> crop to the ink -> thin strokes thickened to MNIST's width -> longer side 20 px -> 28x28,
centre of mass centred. That is how MNIST itself was made (20x20 box, centred by centre of mass).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError

__all__ = [
    "ImageError",
    "Reading",
    "find_ink",
    "open_image",
    "preprocess",
    "preprocess_image",
    "read",
    "read_image",
    "stroke_width",
]

MAX_PIXELS = 40_000_000  # larger images are refused before decoding (decompression bombs) ...
# ... except JPEGs, which are decoded at 1/2 to 1/8 scale (DCT scaling) and so never exist at full
# size: a 48 MP phone photo decodes to 12 MP grey. Pillow refuses anything over 2 x its own
# MAX_IMAGE_PIXELS (179 MP) outright, so the JPEG limit stays under that.
MAX_JPEG_PIXELS = 160_000_000
# Images are reduced to this longer side before any float conversion: a 6000x6000 photo would
# otherwise take over a gigabyte as float64. 1024 px is 51x the 20 px digit box.
WORK_SIDE = 1024
INK_THRESHOLD = 0.3  # of the stretched ink range: below it is paper, noise or JPEG ringing
MIN_CONTRAST = 0.15  # ink must stand this far above the paper (of the 0-1 grey range) ...
NOISE_SIGMAS = 6.0  # ... and this many robust standard deviations of the paper's own noise
FLOOR_SIGMAS = 3.0  # paper noise up to this many local deviations is set to 0
# The paper's light is estimated on cells of 1/LIGHT_CELLS of the shorter side (2 px at least: a
# light has no detail finer, and a microcontroller keeps a quarter of the grid), opened over a square
# of radius LIGHT_RADIUS of the shorter side: strokes narrower than the square drop out of it, while
# a shadow or vignette wider than it stays.
LIGHT_CELLS = 48
LIGHT_RADIUS = 1 / 6
NOISE_CELLS = 48  # the paper's noise is measured on cells of 1/NOISE_CELLS of the shorter side ...
NOISE_CELL = 8  # ... and at least this many px
SMOOTH_NOISE = 0.03  # a page whose paper deviates more (of its own grey) is box-smoothed first ...
MAX_SMOOTH = 3  # ... with a box of radius up to this, 1 px per 2 x SMOOTH_NOISE
SPECK_FRACTION = 0.02  # pieces of ink under this share of the largest piece are specks, and so are
SPECK_EXTENT = 1 / 50  # pieces whose longer side is under this share of the page's shorter side
DIGIT_HEIGHT = 0.4  # groups of ink at least this share of the tallest one's height are digits
# A seven-segment digit is several pieces, its segments: where there are at least PART_PIECES pieces
# a group, a group shorter than PART_HEIGHT of the tallest and at least PART_LENGTH of it long joins
# its neighbour within PART_GAP of it when the two together are no wider than tall (_parts_of_one)
PART_PIECES = 1.5
OVERLAP = 0.3  # pieces sharing more than this share of the narrower one's columns are one digit
PART_HEIGHT = 0.7
PART_LENGTH = 0.3
PART_GAP = 0.12
DOT = 0.15  # a piece shorter than this share of the tallest group, about as wide as long, is a dot
# A group whose strokes are under BAR_THIN as wide as the other groups' (their median) and which runs
# past the tallest of them by more than that width is a printed line beside the writing (a display
# window's side, a frame's), not a 1: one pen writes a number, a seven-segment 1 has its digits'
# segments, and a line runs on past the writing.
BAR_THIN = 0.5
# A group of ink TOUCHING_WIDTH times wider than tall is digits that touch (MNIST's widest digits are
# about as wide as tall); they are cut DIGIT_PITCH of their height apart, at columns holding at most
# VALLEY of a typical column's ink.
TOUCHING_WIDTH = 1.4
DIGIT_PITCH = 0.8
VALLEY = 0.5
MIN_INK_PIXELS = 8  # fewer ink pixels than this is specks, not a digit
BOX, SIDE, CENTRE = 20, 28, 14.0  # MNIST: digit box, canvas, centre of mass (measured: 14.0, 14.0)
# Stroke width, in pixels of the 28x28 input, by `stroke_width` on the 60,000 MNIST training
# digits (ink > 0.5): median 2.50, 10th percentile 1.79, 90th 3.49
# (`python scripts/stroke_width.py --data-dir ../shared/mnist`). A stroke that would come out
# thinner than MNIST_THIN is thickened to MNIST_STROKE before resizing; thicker ones are left alone.
MNIST_STROKE = 2.50
MNIST_THIN = 1.79
FINE_SIDE = 4 * BOX  # thin strokes are thickened at this scale: a quarter of an output pixel a step
# Printed structure (ruling, grids, boxes, combs, fill-in lines) is paper, not ink (printed_lines).
# A candidate line is straight to a pixel within LINE_ANGLE degrees of level or plumb and runs at
# least LINE_ASPECT times its own thickness (at most MAX_THICK px: C counts a run's height in a
# byte); breaks up to LINE_GAP px are bridged. It is printed when judged against the writing's
# height: lines LINE_SPAN of it long; level lines FRAME of it apart and plumb ones FRAME_WIDTH of it
# (a box or a comb around the writing: a box round a 1 is narrow). Three or more straight bars at
# least TOOTH_ASPECT times as long as thick, of one length and thickness and at one pitch, are a
# comb's dividers or teeth (plumb: a row of cells). With no writing beside them, a structure with
# a level line is printed.
LINE_ANGLE = 6.0
LINE_ASPECT = 20
MAX_THICK = 126
LINE_GAP = 3
LINE_SPAN = 1.5
FRAME = 0.9
FRAME_WIDTH = 0.1
TOOTH_ASPECT = 5
# A page lying on a table: when the brightest large region (Otsu's split of the grey levels, on a grid
# of PAGE_GRID cells across) stands PAGE_CONTRAST above the rest, fills PAGE_MIN to PAGE_MAX of the
# frame, is PAGE_SOLID of its bounding box and the darker rest covers most of the frame's border,
# only the page counts: everything beyond it, and PAGE_MARGIN of the shorter side inside its edge,
# becomes paper (the page's own light, carried outward).
PAGE_GRID = 96
PAGE_CONTRAST = 0.2
PAGE_MIN, PAGE_MAX = 0.2, 0.9
PAGE_SOLID = 0.7
PAGE_MARGIN = 0.02
PAGE_WRITING = 0.25  # the writing covers at most this share of a page
# A page darker than the rest (a display's dark face, a tinted window in a lighter body) is taken
# only when the light side is none and it touches at most PAGE_INSIDE of the frame's border: only
# a lighter surround makes the whole frame's polarity wrong (a dark face filling the frame is read
# as it is), and a shadow across a page is no page
PAGE_INSIDE = 0.2
PAGE_MIN_SIDE = 64  # px: a smaller image is no photo of a page
# The constants the C engine's vit_edge_prepare (on a board, and in the page as WebAssembly) takes from here
SHARED_CONSTANTS = (
    "WORK_SIDE", "INK_THRESHOLD", "MIN_CONTRAST", "NOISE_SIGMAS", "FLOOR_SIGMAS", "MIN_INK_PIXELS",
    "LIGHT_CELLS", "LIGHT_RADIUS", "NOISE_CELLS", "NOISE_CELL", "SMOOTH_NOISE", "MAX_SMOOTH",
    "SPECK_FRACTION", "SPECK_EXTENT", "DIGIT_HEIGHT", "BOX", "SIDE", "CENTRE", "MNIST_STROKE",
    "MNIST_THIN", "FINE_SIDE", "LINE_ANGLE", "LINE_ASPECT", "MAX_THICK", "LINE_GAP", "LINE_SPAN",
    "FRAME", "FRAME_WIDTH", "TOOTH_ASPECT", "PAGE_GRID", "PAGE_CONTRAST", "PAGE_MIN", "PAGE_MAX",
    "PAGE_SOLID", "PAGE_MARGIN", "PAGE_WRITING", "PAGE_MIN_SIDE", "TOUCHING_WIDTH", "DIGIT_PITCH",
    "VALLEY", "PART_PIECES", "PART_HEIGHT", "PART_LENGTH", "PART_GAP", "OVERLAP", "DOT",
    "BAR_THIN", "PAGE_INSIDE",
)  # fmt: skip


def constants() -> dict[str, float]:
    """The preprocessing constants by name, for the C engine (vit_edge_model.h) and any other port."""
    return {name: globals()[name] for name in SHARED_CONSTANTS}


def open_image(path: str | Path) -> Image.Image:
    """Open and decode an image, refusing huge, truncated and non-image files.

    A JPEG is decoded at a reduced scale (DCT scaling, 1/2 to 1/8) when it is much larger than
    WORK_SIDE: it never exists at full size in memory.
    """
    path = Path(path)
    if not path.is_file():
        if path.is_dir():  # expand_inputs passes on a folder it found no images in
            raise ImageError("folder holds no image files")
        raise ImageError("no such file" if not path.exists() else "not a file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limits below apply
        try:
            img = Image.open(path)
            jpeg = img.format == "JPEG" and img.mode in ("L", "RGB")
            limit = MAX_JPEG_PIXELS if jpeg else MAX_PIXELS
            if img.width * img.height > limit:
                raise ImageError(f"image too large ({img.width}x{img.height} > {limit} pixels)")
            if jpeg:
                # keep 2x WORK_SIDE: DCT scaling averages, so a 1 px line keeps >= 1/4 of its contrast
                # and the max-pooling in to_grey then carries it at that strength
                f = max(img.width, img.height) / (2 * WORK_SIDE)
                if f > 1:
                    img.draft("L", (math.ceil(img.width / f), math.ceil(img.height / f)))
            img.load()
        except UnidentifiedImageError:
            raise ImageError("not an image Pillow can read") from None
        except Image.DecompressionBombError:
            raise ImageError(f"image too large (over {MAX_JPEG_PIXELS} pixels)") from None
        except (OSError, SyntaxError, ValueError) as e:
            raise ImageError(f"cannot decode image ({e})") from None
    ImageOps.exif_transpose(img, in_place=True)  # the default returns a full-size copy
    return img


def grey_bytes(img: Image.Image) -> np.ndarray:
    """An image's grey levels as bytes, transparency flattened onto its paper, before any pooling:
    what vit_edge_prepare in C (a camera's frame, the page's canvas) is given for this image."""
    rgba = img.convert("RGBA")
    return _integer_grey(rgba, 255, _alpha_paper(rgba))


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


def pool_factor(img: Image.Image) -> int:
    """The side of the blocks to_grey pools an image in (1: none), to fit WORK_SIDE."""
    return math.ceil(max(img.size) / WORK_SIDE)


def to_grey(img: Image.Image) -> np.ndarray:
    """Float32 grey levels in [0, 1] (1 = white), longer side at most WORK_SIDE px.

    A larger image is converted and pooled strip by strip, so no full-size grey or float copy of
    it ever exists: a 6000x6000 PNG needs its decoded pixels and a few MB more.
    """
    top, paper = _full_scale(img), _alpha_paper(img)
    factor = pool_factor(img)
    if factor == 1:
        return _integer_grey(img, top, paper).astype(np.float32) / np.float32(top)
    boxes = _strips(img, factor * 32)
    histogram = np.zeros(top + 1, np.int64)
    for box in boxes:  # a first pass for the polarity, which decides how to pool
        histogram += np.bincount(_integer_grey(img.crop(box), top, paper).ravel(), minlength=top + 1)
    dark = _dark_on_light_histogram(histogram)
    strips = [pool_toward_ink(_integer_grey(img.crop(box), top, paper), factor, dark) for box in boxes]
    return np.concatenate(strips).astype(np.float32) / np.float32(top)


def _dark_on_light(grey: np.ndarray) -> bool:
    """Dark ink on light paper, when the darkest pixel is further below the typical one than the
    lightest is above it: most of a page is paper, and ink stands out of it on one side only.
    (The border's shade alone fails where a vignette or a shadow darkens the edges.)"""
    lo, mid, hi = float(grey.min()), float(np.median(grey)), float(grey.max())
    return mid - lo > hi - mid


def _dark_on_light_histogram(histogram: np.ndarray) -> bool:
    """_dark_on_light from a histogram of integer grey levels (the median as numpy takes it)."""
    levels = np.flatnonzero(histogram)
    cumulative, n = np.cumsum(histogram), int(histogram.sum())
    below, above = np.searchsorted(cumulative, [(n - 1) // 2 + 1, n // 2 + 1])
    mid = (below + above) / 2
    return mid - levels[0] > levels[-1] - mid


def to_ink(grey: np.ndarray) -> np.ndarray:
    """White ink on black in [0, 1], with the paper's light and noise taken away (see find_ink)."""
    return find_ink(grey).ink


Box = tuple[int, int, int, int]  # top, bottom, left, right; ends exclusive
G = TypeVar("G", Box, list[int])  # a box, or a group in the making: its box, then more


class InkMap:
    """Where the ink is on a page: the stretched ink, its connected pieces and the digits they form.

    ink: float32 white-on-black ink in [0, 1], paper 0. labels: the 8-connected piece of ink each
    pixel belongs to (0: none). kept: the pieces that are not specks. groups: bounding boxes
    (top, bottom, left, right; ends exclusive) of the digit-sized groups of pieces, left to right.
    """

    def __init__(self, ink: np.ndarray, labels: np.ndarray, kept: np.ndarray, boxes: np.ndarray) -> None:
        self.ink, self.labels, self.kept, self.boxes = ink, labels, kept, boxes
        self.groups = _digit_groups(boxes[kept], lambda g: stroke_width(self.crop(g, cut=True) > 0.5))

    def ink_box(self) -> tuple[int, int, int, int]:
        """The box around every kept piece: top, bottom, left, right (C's ink_box)."""
        b = self.boxes[self.kept]
        return int(b[:, 0].min()), int(b[:, 1].max()), int(b[:, 2].min()), int(b[:, 3].max())

    def crop(self, box: tuple[int, int, int, int] | None = None, cut: bool = False) -> np.ndarray:
        """The ink inside a box (default: around every kept piece), specks and other pieces removed.

        cut: the kept pieces that reach into the box keep their pixels there (a box cut out of one
        piece, as touching digits split apart, or a digit's box sharing a few columns with a
        slanted neighbour's)."""
        if box is None:
            box = self.ink_box()
        top, bottom, left, right = box
        ink = self.ink[top:bottom, left:right].copy()
        labels = self.labels[top:bottom, left:right]
        inside = np.zeros(len(self.kept) + 1, bool)
        for i in np.flatnonzero(self.kept):  # pieces wholly inside the box belong to it
            t, b_, l_, r = self.boxes[i]
            if cut:
                inside[i + 1] = t < bottom and b_ > top and l_ < right and r > left
            else:
                inside[i + 1] = t >= top and b_ <= bottom and l_ >= left and r <= right
        ink[(labels > 0) & ~inside[labels]] = 0
        return ink


def find_ink(grey: np.ndarray) -> InkMap:
    """Find the ink on a page of grey levels in [0, 1] (1 = white), judged against the paper around it.

    1. Polarity (see _dark_on_light): dark ink on light paper is turned into white on black.
    2. The paper's own light (gradients, vignettes, shadows) is estimated on a coarse grid of cell
       medians, opened (min then max filter) wider than any stroke so the ink drops out of it, and
       interpolated back; dark-on-light pages are divided by it (light multiplies the paper's
       reflectance), light-on-dark ones have it subtracted.
    3. The paper's noise is measured cell by cell (robust deviation, opened the same way so cells
       with strokes do not count); a noisy page is box-smoothed first. Ink is what stands above the
       paper by MIN_CONTRAST and by NOISE_SIGMAS local deviations; fewer than MIN_INK_PIXELS such
       pixels is a blank page.
    4. Stretch: FLOOR_SIGMAS local deviations become 0 (paper noise goes) and the strongest ink 1.
    5. Pieces: 8-connected pieces of ink; pieces under SPECK_FRACTION of the largest are specks,
       and pieces along the image's border are what the frame cut through (_along_border).

    A page (page_only) is where the writing is: when nothing is written on what looked like one (a
    display's light body beside its dark window, a lit strip of the table), it was no page, and the
    whole image is read instead.
    """
    page = page_only(grey)
    if page is not grey:
        try:
            return _ink_on(page)
        except ImageError:
            pass
    return _ink_on(grey)


def _ink_on(grey: np.ndarray) -> InkMap:
    """find_ink's steps 1-5 on the page as it is."""
    dark_on_light = _dark_on_light(grey)
    ink = 1 - grey if dark_on_light else grey
    h, w = ink.shape
    short = min(h, w)
    cell = max(2, short // LIGHT_CELLS)
    background = _upsample(_light_opening(_cell_medians(ink, cell), _radius(short, cell)), cell, h, w)
    if dark_on_light:
        paper = np.maximum(1 - background, 1 / 255)  # the paper's own grey level under this light
        deviation = (ink - background) / paper  # 1 - grey / paper: contrast relative to the paper
    else:
        deviation = ink - background
    deviation = deviation.astype(np.float32)
    noise = _noise(deviation, short)
    level = float(np.median(noise))
    # the box's radius: 1 px per 2 x SMOOTH_NOISE of noise, 0 on a quiet or a small page
    smooth = (
        min(MAX_SMOOTH, math.ceil((level / SMOOTH_NOISE - 1) / 2), short // 100)
        if level > SMOOTH_NOISE
        else 0
    )
    if smooth:
        deviation = _box_mean(deviation, smooth)
        noise = _noise(deviation, short)
    candidates = deviation > np.maximum(MIN_CONTRAST, NOISE_SIGMAS * noise)
    # printed lines are found on fainter marks than ink, so their faint edges go with them
    candidates &= ~printed_lines(deviation > np.maximum(MIN_CONTRAST / 2, FLOOR_SIGMAS * noise))
    if np.count_nonzero(candidates) < MIN_INK_PIXELS:
        raise ImageError("blank image: no ink found")
    strongest = float(np.percentile(deviation[candidates], 90))  # robust to a few hot pixels
    floor = FLOOR_SIGMAS * noise
    stretched = np.clip((deviation - floor) / np.maximum(strongest - floor, 1e-6), 0, 1).astype(np.float32)
    labels, areas, boxes = label_pieces(candidates & (stretched > INK_THRESHOLD))
    # specks: pieces no larger than the smoothing box (1 px unsmoothed), small beside the largest,
    # or shorter than SPECK_EXTENT of the page (texture and noise peaks, not strokes)
    speck = max((2 * smooth + 1) ** 2, SPECK_FRACTION * areas.max(initial=0))
    extent = np.maximum(boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2])
    kept = (areas > speck) & (extent >= SPECK_EXTENT * short) & ~_along_border(labels, boxes)
    if areas[kept].sum() < MIN_INK_PIXELS:
        raise ImageError("blank image: no ink found")
    return InkMap(stretched, labels, kept, boxes)


def _along_border(labels: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Which pieces lie along the image's border: on it in one unbroken run over at least half their
    extent along one of its sides. They are the edges of what the frame cut through (a page, a
    display's window, a table, a dark margin), not writing: a digit the frame cuts crosses the
    border in a run per stroke."""
    height, width = boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2]
    along = np.zeros(len(boxes), bool)
    for edge, extent in (
        (labels[:, 0], height),
        (labels[:, -1], height),
        (labels[0], width),
        (labels[-1], width),
    ):
        starts = np.flatnonzero(np.diff(edge, prepend=-1))  # runs of one label along the side
        lengths = np.diff(starts, append=edge.size)
        run = np.zeros(len(boxes) + 1, np.int64)
        np.maximum.at(run, edge[starts], lengths)
        along |= 2 * run[1:] >= np.maximum(extent, 1)
    return along


def page_only(grey: np.ndarray) -> np.ndarray:
    """The page alone, when a photo shows it lying on a darker table (see PAGE_GRID): the table and
    the page's edge are replaced by the page's light carried outward. Other images are returned as
    they are.

    It works in whole numbers, as a microcontroller's port can in a byte a pixel: cells are medians
    in half grey levels (2 x the median of to_grey's levels 0-255), the light is carried outward in
    half levels rounded as it goes, and the table's pixels take the nearest grey level to it."""
    h, w = grey.shape
    if min(h, w) < PAGE_MIN_SIDE:
        return grey
    cell = max(1, max(h, w) // PAGE_GRID)
    cells = (2 * np.median(_cells(np.rint(grey * 255), cell), axis=2)).astype(np.int32)
    # the page is the light side (paper, an LCD's face) or else the dark one (a display's dark face
    # or a tinted window in a lighter body, the table lighter still): the writing is inside it
    page = _page_cells(cells, 0.5)
    if page is None:
        page = _page_cells(510 - cells, PAGE_INSIDE)
    if page is None:
        return grey
    # cells on the page's edge hold some table: the light is carried out from the cells inside them
    core = _shrink(page, 1)
    light = _fill_outward(np.where(core, cells, -1))
    margin = 1 + max(1, round(PAGE_MARGIN * min(h, w) / cell))
    inner = _shrink(page, margin)
    keep = _upsample(inner.astype(np.float32), cell, h, w) > 0.999
    lit = np.clip(np.rint(_upsample(light.astype(np.float32), cell, h, w) / 2), 0, 255)
    return np.where(keep, grey, lit.astype(np.float32) / np.float32(255))


def _page_cells(cells: np.ndarray, border: float) -> np.ndarray | None:
    """Which cells are the page: the bright side of Otsu's split of the half levels, holes (the
    writing) filled, touching under `border` of the frame's border."""
    values, counts = np.unique(cells, return_counts=True)
    if values.size < 2:
        return None
    n, below = cells.size, np.cumsum(counts)[:-1]
    sums = np.cumsum(values.astype(np.int64) * counts)
    total, sums = float(sums[-1]), sums[:-1].astype(np.float64)
    between = (sums / below - (total - sums) / (n - below)) ** 2 * below * (n - below)
    split = int(np.argmax(between))
    bright = cells > values[split]
    low, high = sums[split] / below[split], (total - sums[split]) / (n - below[split])
    if high - low < PAGE_CONTRAST * 510:
        return None
    labels, areas, boxes = label_pieces(bright)
    if not areas.size:
        return None
    i = int(np.argmax(areas))
    page = labels == i + 1
    dark, dark_areas, dark_boxes = label_pieces(~page)
    gh, gw = cells.shape
    inner = (
        (dark_boxes[:, 0] > 0) & (dark_boxes[:, 1] < gh) & (dark_boxes[:, 2] > 0) & (dark_boxes[:, 3] < gw)
    )
    holes = inner[np.maximum(dark - 1, 0)] & (dark > 0)  # dark pieces that touch no border: writing
    if holes.sum() > PAGE_WRITING * (page.sum() + holes.sum()):
        return None  # mostly hole: a light ring (a 0 in white ink), not a page
    page |= holes
    top, bottom, left, right = boxes[i]
    edge = np.concatenate([page[0], page[-1], page[:, 0], page[:, -1]])
    share = page.mean()
    solid = page.sum() / ((bottom - top) * (right - left))
    if not (PAGE_MIN <= share <= PAGE_MAX and solid >= PAGE_SOLID and edge.sum() < border * edge.size):
        return None
    # a page's edge is a step; a gradient or a vignette split in two is not: compare the rings two
    # cells inside and two cells outside the split
    grown = [_grow(page, r) for r in (2, 3)]
    shrunk = [_shrink(page, r) for r in (2, 3)]
    inside, outside = shrunk[0] & ~shrunk[1], grown[1] & ~grown[0]
    if not inside.any() or not outside.any():
        return None
    if float(np.median(cells[inside])) - float(np.median(cells[outside])) < PAGE_CONTRAST * 510:
        return None
    return page


def _shrink(mask: np.ndarray, r: int) -> np.ndarray:
    """Erosion of a boolean grid by a (2r+1)-square (clipped at the edges)."""
    return _filter(mask.astype(np.float32), r, np.min) > 0


def _grow(mask: np.ndarray, r: int) -> np.ndarray:
    """Dilation of a boolean grid by a (2r+1)-square."""
    return _filter(mask.astype(np.float32), r, np.max) > 0


def _fill_outward(g: np.ndarray) -> np.ndarray:
    """Unknown (negative) cells of a grid of whole numbers take the mean of their known neighbours,
    rounded (halves up), ring by ring until none is left."""
    g = g.copy()
    h, w = g.shape
    while (g < 0).any():
        padded = np.pad(g, 1, constant_values=-1)
        near = np.stack(
            [padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        )
        known = near >= 0
        total = np.where(known, near, 0).sum(0)
        count = known.sum(0)
        fill = (g < 0) & (count > 0)
        if not fill.any():
            break
        g[fill] = (2 * total[fill] + count[fill]) // (2 * count[fill])
    return g


def printed_lines(mask: np.ndarray) -> np.ndarray:
    """The pixels of printed structure in an ink mask: ruling, a margin, a grid, a box, a comb, a
    fill-in line. Told from strokes by shape alone, never by colour, and judged against the writing.

    1. Candidates: straight runs (to a pixel, within LINE_ANGLE of level or plumb, at the ink's
       skew; plumb ones also at right angles to the level skew, as a form is square) at least
       LINE_ASPECT times as long as they are thick. Where a stroke crosses one (the ink runs on
       across it) its pixels stay, so the stroke is whole. Level and plumb runs are found twice:
       the second time each without the other's pixels, so where two cross neither counts as a
       stroke crossing the other.
    2. The writing's height: the tallest piece of ink without the candidates, or of ink mostly not
       candidates, whichever is taller (_writing_height).
    3. Candidates that touch make one structure (8-connected). Its level lines are printed when
       they run LINE_SPAN of the writing's height or more (a fill-in line, ruling), and so are its
       plumb ones; both are when level lines lie FRAME of the writing's height apart and plumb ones
       FRAME_WIDTH of it (a box or a comb around the writing, whatever its margin). A line that
       digits stand on stays one structure through the strokes that cross it. A digit's own straight
       strokes are shorter than that, also where they touch a line: the line goes, the stroke stays.
    4. Straight bars (TOOTH_ASPECT times as long as thick) in a chain at one pitch, three or more of
       one length and thickness and the teeth writing lengthens or merges with (_teeth), are
       printed whatever their length: a comb's dividers or teeth, as tall as a digit, or short.
       They are plumb: a comb is a row of cells, one digit each, as the writing runs. Level bars
       stacked at one pitch and joined down one side are a digit's own (an 8's or a 3's three
       segments, an E), so the level passes look for no teeth.
    With no writing beside the candidates, a structure is printed when it holds a level line (no
    digit is level bars alone): plumb strokes alone (a straight 1, or 11) stay.
    """
    level, sure_level, across_level, tilt = _level_lines(mask, with_teeth=False)
    plumb, sure_plumb, across_plumb, lean = _level_lines(mask.T)
    level2, sure_level2, across_level2, _ = _level_lines(mask & ~plumb.T, with_teeth=False)
    # (a comb's spine is looked for in all the marks: the second passes' masks lack it)
    plumb2, sure_plumb2, across_plumb2, _ = _level_lines((mask & ~level).T, whole=mask.T)
    if level.any() and lean != -tilt:  # a form is square: its plumb lines stand at right angles to its
        square, sure_square, across_square, _ = _level_lines((mask & ~level).T, -tilt, mask.T)  # level ones
        plumb2, sure_plumb2, across_plumb2 = (
            plumb2 | square,
            sure_plumb2 | sure_square,
            across_plumb2 | across_square,
        )
    levels, plumbs = level | level2, (plumb | plumb2).T
    sure = sure_level | sure_level2 | (sure_plumb | sure_plumb2).T
    across = across_level | across_level2 | (across_plumb | across_plumb2).T
    return sure | _structure(mask, levels, plumbs, across)


def _writing_height(mask: np.ndarray, lines: np.ndarray) -> int:
    """The writing's height: the taller of the tallest piece of ink left without the candidate
    lines, and the tallest piece of ink fewer than half of whose pixels are candidates (a thin
    pen's digit may be mostly straight strokes); each no speck beside the largest (SPECK_FRACTION;
    a piece's weight, for the second: how many more of its pixels are no candidate)."""
    height = 0
    for boxes, weight in _pieces_weighed(mask, lines):
        big = (weight > 0) & (weight >= SPECK_FRACTION * weight.max(initial=0))
        if big.any():
            height = max(height, int((boxes[big, 1] - boxes[big, 0]).max()))
    return height


def _pieces_weighed(mask: np.ndarray, lines: np.ndarray):
    """The boxes of the pieces of the ink without the candidates, weighed by their areas, then those
    of the pieces of all the ink, weighed by how many more of their pixels are no candidate."""
    _, areas, boxes = label_pieces(mask & ~lines)
    yield boxes, areas
    labels, areas, boxes = label_pieces(mask)
    yield boxes, areas - 2 * np.bincount(labels[lines], minlength=areas.size + 1)[1:]


def _structure(mask: np.ndarray, levels: np.ndarray, plumbs: np.ndarray, across: np.ndarray) -> np.ndarray:
    """The candidates (step 3 of printed_lines) that are printed, judged against the writing. across:
    the strokes' pixels on a candidate's own rows where they cross it, which keep a line that
    digits stand on one structure."""
    lines = levels | plumbs
    height = _writing_height(mask, lines)
    labels, _, boxes = label_pieces(lines | across)
    n = len(boxes)
    if n == 0:
        return lines
    if height == 0:  # no writing to judge against: a structure with a level line is printed
        level_printed = np.zeros(n + 1, bool)
        level_printed[labels[levels]] = True
        plumb_printed = level_printed
    else:
        level_rows, level_cols = _spans(labels, n, levels)
        plumb_rows, plumb_cols = _spans(labels, n, plumbs)
        frame = (level_rows >= FRAME * height) & (plumb_cols >= FRAME_WIDTH * height)
        level_printed = frame | (level_cols >= LINE_SPAN * height)
        plumb_printed = frame | (plumb_rows >= LINE_SPAN * height)
    level_printed[0] = plumb_printed[0] = False
    return (levels & level_printed[labels]) | (plumbs & plumb_printed[labels])


def _spans(labels: np.ndarray, n: int, part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How many rows and columns a part's pixels span in each of the n labelled structures (0: none)."""
    ys, xs = np.nonzero(part)
    k = labels[ys, xs]
    lo_y, hi_y, lo_x, hi_x = (np.full(n + 1, v, np.int64) for v in (1 << 30, -1, 1 << 30, -1))
    np.minimum.at(lo_y, k, ys), np.maximum.at(hi_y, k, ys)
    np.minimum.at(lo_x, k, xs), np.maximum.at(hi_x, k, xs)
    return np.maximum(hi_y - lo_y, 0), np.maximum(hi_x - lo_x, 0)


def _skew(ys: np.ndarray, xs: np.ndarray) -> float:
    """The angle (radians, within LINE_ANGLE of level) at which the ink's rows pile up most sharply:
    the ruling's tilt when there is ruling. Coarse steps of 0.5 degrees, then 0.1 around the best."""
    step = max(1, ys.size // 100_000)
    ys, xs = ys[::step], xs[::step]

    def peakiness(degrees: float) -> float:
        r = ys - np.round(xs * math.tan(math.radians(degrees))).astype(np.int64)
        hist = np.bincount(r - r.min())
        return float(np.dot(hist, hist))

    best = max(np.arange(-LINE_ANGLE, LINE_ANGLE + 0.01, 0.5), key=peakiness)
    best = max(np.arange(best - 0.4, best + 0.41, 0.1), key=peakiness)
    return math.radians(best)


def _level_lines(
    m: np.ndarray, skew: float | None = None, whole: np.ndarray | None = None, with_teeth: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float | None]:
    """Candidate printed lines within LINE_ANGLE of level in a mask, a comb's teeth among the
    straight bars (with_teeth: the plumb passes; see printed_lines), the pixels where strokes cross
    a candidate on its rows, and the skew searched at (radians; None for an empty mask).

    The mask is sheared level at the skew (by default the ink's), so a line is one row (one row of
    slack for bends).
    A run long and thin enough is a candidate; then shorter thin runs on a candidate's row (a line
    broken by a margin, or faint) are that line too. whole: the mask a comb's spine is looked for
    in (default m), sheared alike.
    """
    h, w = m.shape
    ys, xs = np.nonzero(m)
    found = np.zeros((h, w), bool)
    sure = np.zeros((h, w), bool)
    across = np.zeros((h, w), bool)
    if ys.size == 0:
        return found, sure, across, None
    if skew is None:
        skew = _skew(ys, xs)
    offset = np.round(-np.arange(w) * math.tan(skew)).astype(np.int64)
    offset -= offset.min()  # sheared row = y + offset[x]: a line at the skew becomes one row
    sheared = _shear(ys, xs, offset, h, w)
    up, down = _column_runs(sheared)
    slack = _with_next_row(sheared)
    rows, first, last = _row_runs(slack, LINE_GAP)
    length = last - first + 1
    lines: dict[int, float] = {}  # sheared row -> the candidate line's thickness
    bars: dict[int, tuple[int, float, int]] = {}  # sheared row -> a straight bar's length, thickness, start
    for r, x0, x1, n in zip(rows.tolist(), first.tolist(), last.tolist(), length.tolist(), strict=True):
        if n < TOOTH_ASPECT:  # (a bar is at least a pixel thick)
            continue
        cols, row, extent = _run_pixels(sheared, up, down, r, x0, x1)
        thickness = float(np.median(extent))
        if thickness <= MAX_THICK and n >= TOOTH_ASPECT * thickness:
            bars[r] = n, thickness, x0
            if n >= LINE_ASPECT * thickness:
                lines[r] = thickness
    joined = slack if whole is None else _with_next_row(_shear(*np.nonzero(whole), offset, h, w))
    teeth = _teeth(bars, slack, joined, lines) if with_teeth else set()
    lines.update({r: bars[r][1] for r in teeth})
    for r, x0, x1, n in zip(rows.tolist(), first.tolist(), last.tolist(), length.tolist(), strict=True):
        line = next((k for k in (r, r - 1, r + 1) if k in lines), None)
        if line is None or n < 2 * lines[line]:
            continue
        cols, row, extent = _run_pixels(sheared, up, down, r, x0, x1)
        alone = extent <= lines[line] + 2  # wider than the line: a stroke crosses it there, keep it
        across[row[~alone] - offset[cols[~alone]], cols[~alone]] = True
        cols, row, extent = cols[alone], row[alone], extent[alone]
        top = row - up[row, cols] + 1
        marks = (found, sure) if line in teeth else (found,)
        for k in range(int(extent.max(initial=0))):
            inside = k < extent
            at = top[inside] + k - offset[cols[inside]], cols[inside]
            for mark in marks:
                mark[at] = True
    return found & m, sure & m, across, skew


def _shear(ys: np.ndarray, xs: np.ndarray, offset: np.ndarray, h: int, w: int) -> np.ndarray:
    """An h x w mask's pixels (ys, xs) sheared by its columns' offsets: row y of column x moves to
    row y + offset[x]."""
    sheared = np.zeros((h + int(offset.max()) + 1, w), bool)
    sheared[ys + offset[xs], xs] = True
    return sheared


def _with_next_row(a: np.ndarray) -> np.ndarray:
    """A mask with each row and the next as one (a row of slack for a line's bends)."""
    out = a.copy()
    out[:-1] |= a[1:]
    return out


def _teeth(
    bars: dict[int, tuple[int, float, int]], sheared: np.ndarray, joined: np.ndarray, lines: dict[int, float]
) -> set[int]:
    """The rows of straight bars that stand three or more in a row at one pitch, side by side (each
    beside the next: the steps of a slanted stroke are not), of one length (within LINE_GAP px) and
    thickness (within a pixel): a comb's dividers or teeth, long or short. A bar's rows within 2 of
    each other are one bar, at its first row, of its first longest run; a tooth's rows are those of
    its thickness (within a pixel: a thick stroke right beside a tooth is none). sheared: the mask
    the bars were found in, a row and the next as one; joined: the mask a spine that joins a
    chain's teeth is looked for in (_spine), alike.

    A row of them is a chain (_chain): three alike, and teeth that writing lengthens. Chains are
    taken longest first, of two alike the one at the wider pitch (a digit's stem half way between
    two dividers, as long as they are where it touches both lines, makes a chain at half the
    pitch). A bar goes into one chain only, and bars between a chain's first and last, beside
    them, are in its cells: writing (the stems of digits written one a cell stand at the comb's
    pitch too)."""
    groups: list[list[int]] = []
    for r in sorted(bars):
        if groups and r - groups[-1][-1] <= 2:
            groups[-1].append(r)
        else:
            groups.append([r])
    at = [g[0] for g in groups]
    size = [bars[max(g, key=lambda r: bars[r][0])] for g in groups]  # (the first longest run's)
    # on the row of a candidate line as thick as the bar: a piece of that line (not a thick bar
    # beside a thin line, as a stroke's faint edge is)
    lined = [any(abs(lines.get(r, -9) - size[k][1]) <= 1 for r in g) for k, g in enumerate(groups)]
    taken = [0] * len(groups)  # 1: a tooth, 2: in a comb's cells
    while True:
        best: tuple[int, int, int, int] | None = None  # (chain's bars, pitch, first pair)
        for i, j in itertools.combinations(range(len(groups)), 2):
            if not taken[i] and not taken[j] and _alike(size[i], size[j]):
                members, alike = _chain(at, size, taken, i, j, sheared, joined, lined)
                n = len(members)
                if alike >= 3 and (best is None or (n, at[j] - at[i]) > best[:2]):
                    best = n, at[j] - at[i], i, j
        if best is None:
            return {
                r
                for g, group in enumerate(groups)
                if taken[g] == 1
                for r in group
                if abs(bars[r][1] - size[g][1]) <= 1  # (not a thick stroke beside the tooth)
            }
        chain = _chain(at, size, taken, best[2], best[3], sheared, joined, lined)[0]
        first, last = min(at[g] for g in chain), max(at[g] for g in chain)
        lo, hi = min(size[g][2] for g in chain), max(size[g][2] + size[g][0] for g in chain)
        for g, (n, _, x0) in enumerate(size):
            if not taken[g] and first < at[g] < last and min(x0 + n, hi) > max(x0, lo):
                taken[g] = 2
        for g in chain:
            taken[g] = 1


def _alike(a: tuple[int, float, int], b: tuple[int, float, int]) -> bool:
    """Two bars (length, thickness, start) of one length and thickness, side by side."""
    (n, thick, x0), (m, thick_b, x0_b) = a, b
    return abs(n - m) <= LINE_GAP and abs(thick - thick_b) <= 1 and min(x0 + n, x0_b + m) > max(x0, x0_b)


def _across(a: tuple[int, float, int], b: tuple[int, float, int]) -> bool:
    """Bar b is bar a lengthened by writing that touches its ends: of a's thickness, across a's whole
    length (within LINE_GAP px at either end), and at most a quarter longer."""
    (n, thick, x0), (m, thick_b, x0_b) = a, b
    ends = x0_b <= x0 + LINE_GAP and x0_b + m >= x0 + n - LINE_GAP
    return abs(thick - thick_b) <= 1 and ends and 4 * m <= 5 * n


def _chain(
    at: list[int],
    size: list,
    taken: list[int],
    i: int,
    j: int,
    sheared: np.ndarray,
    joined: np.ndarray,
    lined: list[bool],
) -> tuple[list[int], int]:
    """The bars at one pitch with bars i and j (i before j, alike), on from j and back from i, and
    how many of them are alike both i and j. Each is one more pitch on (within LINE_GAP px, or an
    eighth of the pitch), not taken, and alike both, or the last bar alike both lengthened
    (_across); or two pitches on, once a chain, past a tooth that writing has merged into
    (_merged). None alike (0) unless a spine joins them at one end of bar i (_spine, in joined), or
    bar i is a line or a piece of one (LINE_ASPECT, lined: ruling, a grid, whose lines run off the
    page or fade)."""
    pitch = at[j] - at[i]
    slack = max(8 * LINE_GAP, pitch)  # in eighths of a pixel
    members, alike, skipped = [i, j], 2, False
    for step, last in ((1, j), (-1, i)):
        ref, skip = last, 1
        while skip == 1 or (skip == 2 and not skipped):
            want = at[last] + step * skip * pitch
            k = last + step
            while 0 <= k < len(at) and step * 8 * (want - at[k]) > slack:
                k += step
            while 0 <= k < len(at) and step * 8 * (at[k] - want) <= slack:
                one = _alike(size[i], size[k]) and _alike(size[j], size[k])
                if not taken[k] and (one or _across(size[ref], size[k])):
                    break
                k += step
            else:
                skip += 1
                continue
            if skip == 2 and not _merged(sheared, at[last] + step * pitch, slack // 8, size[ref]):
                break
            if one:  # (k's)
                ref, alike = k, alike + 1
            members.append(k)
            skipped |= skip == 2
            last, skip = k, 1
    if alike < 3:  # (no chain: the spine would not matter)
        return members, alike
    # the spine reaches the last tooth, and the first one's group of rows (a slanted box's corner)
    top, bottom = min(at[min(members)] + 2, at[i]), at[max(members)]
    n, thick, x0 = size[i]
    line = n >= LINE_ASPECT * thick or lined[i]
    if not line and not any(_spine(joined, at[i], top, bottom, x) for x in (x0, x0 + n - 1)):
        return members, 0
    return members, alike


def _spine(joined: np.ndarray, row: int, top: int, bottom: int, x: int) -> bool:
    """Whether a line of marks (joined: all the marks, sheared as the bars, a row and the next as one)
    runs across the bars' direction through row (a bar's) within LINE_GAP columns of x (its end: in
    a second pass the line itself is no part of the bar), from row top to row bottom: a comb's spine,
    the line its teeth stand on, which joins them. It is followed a row at a time, a column aside
    where it slants, unbroken. The segments of a row of seven-segment digits, or 1s side by side,
    stand at one pitch too, but nothing joins them: the gap between two digits breaks it."""
    width = joined.shape[1]
    starts = [c for c in range(x - LINE_GAP, x + LINE_GAP + 1) if 0 <= c < width and joined[row, c]]
    return any(_followed(joined, row, top, c) and _followed(joined, row, bottom, c) for c in starts)


def _followed(joined: np.ndarray, row: int, end: int, c: int) -> bool:
    """Whether marks run unbroken from (row, c) to row end, a column aside at most a row."""
    step = 1 if end > row else -1
    for r in range(row + step, end + step, step):
        c = next((k for k in (c, c - 1, c + 1) if 0 <= k < joined.shape[1] and joined[r, k]), -1)
        if c < 0:
            return False
    return True


def _merged(sheared: np.ndarray, at: int, reach: int, bar: tuple[int, float, int]) -> bool:
    """Whether a tooth like the bar stands within reach of row at, merged with writing, so no bar
    itself: a row's run of ink through the bar's middle column, along the bar's length (a pixel
    short at most) and no further than LINE_GAP px past either end of it."""
    n, _, x0 = bar
    mid = x0 + n // 2
    for row in sheared[max(0, at - reach) : at + reach + 1]:
        if not row[mid]:  # (mid < x0 + n <= the row's length)
            continue
        gaps = np.flatnonzero(~row)
        first = gaps[gaps < mid].max(initial=-1) + 1
        end = gaps[gaps > mid].min(initial=row.size)
        if end - first >= n - 1 and first >= x0 - LINE_GAP and end <= x0 + n + LINE_GAP:
            return True
    return False


def _run_pixels(sheared, up, down, r: int, x0: int, x1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A run's ink pixels (column, row: on r or r + 1) and the height of the ink column through each."""
    cols = np.arange(x0, x1 + 1)
    row = np.where(sheared[r, cols], r, r + 1)
    ink = sheared[row, cols]
    cols, row = cols[ink], row[ink]
    return cols, row, up[row, cols] + down[row, cols] - 1


def _column_runs(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each pixel of a mask, the vertical run of ink ending at it (up) and starting at it (down)."""
    up = np.zeros(a.shape, np.int32)
    down = np.zeros(a.shape, np.int32)
    up[0] = a[0]
    for r in range(1, a.shape[0]):
        up[r] = (up[r - 1] + 1) * a[r]
    down[-1] = a[-1]
    for r in range(a.shape[0] - 2, -1, -1):
        down[r] = (down[r + 1] + 1) * a[r]
    return up, down


def _row_runs(a: np.ndarray, gap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of ink along each row, breaks of up to `gap` px bridged: their row, first and last column."""
    r, x = np.nonzero(a)
    if r.size == 0:
        return r, r, r
    new = np.ones(r.size, bool)
    new[1:] = (r[1:] != r[:-1]) | (x[1:] - x[:-1] > gap + 1)
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], r.size) - 1
    return r[starts], x[starts], x[ends]


def _radius(short: int, cell: int) -> int:
    """The opening's radius in cells: LIGHT_RADIUS of the shorter side, at least one cell."""
    return max(1, round(short * LIGHT_RADIUS / cell))


def _cells(a: np.ndarray, cell: int) -> np.ndarray:
    """(rows, cols, cell * cell) blocks of an array, its last rows and columns repeated to fill them."""
    h, w = a.shape
    a = np.pad(a, ((0, -h % cell), (0, -w % cell)), mode="edge")
    gh, gw = a.shape[0] // cell, a.shape[1] // cell
    return a.reshape(gh, cell, gw, cell).transpose(0, 2, 1, 3).reshape(gh, gw, cell * cell)


def _cell_medians(a: np.ndarray, cell: int) -> np.ndarray:
    return np.median(_cells(a, cell), axis=2).astype(np.float32)


def _noise(deviation: np.ndarray, short: int) -> np.ndarray:
    """The paper's local noise: each cell's robust standard deviation (1.4826 x median absolute
    deviation from its median), opened so cells crossed by strokes take their neighbours' value."""
    h, w = deviation.shape
    cell = max(NOISE_CELL, short // NOISE_CELLS)
    blocks = _cells(deviation, cell)
    centre = np.median(blocks, axis=2, keepdims=True)
    mad = (1.4826 * np.median(np.abs(blocks - centre), axis=2)).astype(np.float32)
    return _upsample(_opening(mad, _radius(short, cell)), cell, h, w)


def _opening(g: np.ndarray, r: int) -> np.ndarray:
    """Grey opening by a (2r+1)-square (windows clipped at the edges): peaks narrower than it go."""
    return _filter(_filter(g, r, np.min), r, np.max)


def _light_opening(g: np.ndarray, r: int) -> np.ndarray:
    """The opening of the paper's light, with the grid extended 2r cells past each edge first.

    An opening clips a peak at the edge, and a page that darkens toward its corners (a vignette)
    peaks there. So the light is extrapolated linearly (2 x edge - mirror image) where it rises
    toward the edge, and held flat where it falls (which also keeps ink near the edge from being
    mirrored into a false dip).
    """
    p = 2 * r
    for axis in (0, 1):
        n = g.shape[axis]
        inside = np.clip(np.arange(1, p + 1), 0, n - 1)  # mirror images of the pad, nearest first
        edges = (np.take(g, [0], axis), np.take(g, [n - 1], axis))
        mirrors = (np.take(g, inside[::-1], axis), np.take(g, n - 1 - inside, axis))
        before, after = (np.maximum(2 * e - m, e) for e, m in zip(edges, mirrors, strict=True))
        g = np.concatenate([before, g, after], axis=axis)
    return _opening(g, r)[p:-p, p:-p]


def _filter(g: np.ndarray, r: int, reduce) -> np.ndarray:
    """Separable min or max over a (2r+1)-square, clipped at the edges."""
    fill = np.inf if reduce is np.min else -np.inf
    for axis in (0, 1):
        padded = np.pad(g, [(r, r) if a == axis else (0, 0) for a in (0, 1)], constant_values=fill)
        windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * r + 1, axis=axis)
        g = reduce(windows, axis=-1)
    return g.astype(np.float32)


def _upsample(g: np.ndarray, cell: int, h: int, w: int) -> np.ndarray:
    """Bilinear interpolation between cell centres back to h x w pixels (flat beyond the outer centres)."""

    def weights(n: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        u = np.clip((np.arange(n, dtype=np.float64) + 0.5) / cell - 0.5, 0, size - 1)
        i0 = np.floor(u).astype(np.int64)
        return i0, np.minimum(i0 + 1, size - 1), (u - i0).astype(np.float32)

    y0, y1, ty = weights(h, g.shape[0])
    x0, x1, tx = weights(w, g.shape[1])
    rows = g[y0] * (1 - ty[:, None]) + g[y1] * ty[:, None]
    return (rows[:, x0] * (1 - tx) + rows[:, x1] * tx).astype(np.float32)


def _box_mean(a: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)-square around each pixel, the edge pixels repeated beyond the border."""
    padded = np.pad(a.astype(np.float64), r, mode="edge")
    c = np.pad(padded.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    k, (h, w) = 2 * r + 1, a.shape
    total = c[k : k + h, k : k + w] - c[:h, k : k + w] - c[k : k + h, :w] + c[:h, :w]
    return (total / (k * k)).astype(np.float32)


def label_pieces(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8-connected pieces of a mask, numbered 1.. in order of first pixel (row by row).

    Returns labels (int32, 0 outside), each piece's area and its box (top, bottom, left, right;
    ends exclusive). Runs of each row are joined to the runs they touch in the row above (union-find
    on runs: a digit has a few runs a row, so this is fast in Python).
    """
    h, w = mask.shape
    parent = [0]

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    row_runs: list[list[tuple[int, int, int]]] = []
    previous: list[tuple[int, int, int]] = []
    for y in range(h):
        edges = np.flatnonzero(np.diff(np.concatenate(([0], mask[y].astype(np.int8), [0]))))
        runs = []
        j = 0
        for start, end in zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True):
            while j < len(previous) and previous[j][1] < start:  # ends before start - 1: not touching
                j += 1
            root, k = 0, j
            while k < len(previous) and previous[k][0] <= end:  # starts by end (8-connected)
                other = find(previous[k][2])
                if root == 0:
                    root = other
                elif other != root:
                    parent[max(root, other)] = min(root, other)
                    root = min(root, other)
                k += 1
            if root == 0:
                parent.append(len(parent))
                root = len(parent) - 1
            runs.append((start, end, root))
        row_runs.append(runs)
        previous = runs
    roots = np.array([find(i) for i in range(len(parent))], np.int64)
    compact = np.zeros(len(parent), np.int32)
    unique = np.unique(roots[1:])
    compact[unique] = np.arange(1, len(unique) + 1, dtype=np.int32)
    labels = np.zeros((h, w), np.int32)
    n = len(unique)
    areas = np.zeros(n, np.int64)
    boxes = np.tile(np.array([h, 0, w, 0], np.int64), (n, 1))
    for y, runs in enumerate(row_runs):
        for start, end, run_label in runs:
            i = int(compact[roots[run_label]])
            labels[y, start:end] = i
            areas[i - 1] += end - start
            box = boxes[i - 1]
            box[0], box[1] = min(box[0], y), max(box[1], y + 1)
            box[2], box[3] = min(box[2], start), max(box[3], end)
    return labels, areas, boxes


def _digit_groups(boxes: np.ndarray, width: Callable[[Box], float] | None = None) -> list[Box]:
    """Pieces that share more than OVERLAP of the narrower one's columns form one digit (a 4 or a 5
    drawn in two strokes; a slanted digit's top reaching over the next one's foot is no join), and
    so does a piece the digit closes in (_closed_in: an LCD's right segments). A
    piece wholly above or below the line of writing (the digit-sized groups' median top and bottom)
    by more than PART_GAP of the tallest group is a label ("kg", "TOTAL" under a display's digits),
    no part of the digit it shares columns with. A printed bar goes next (see _without_bars; width:
    a box's stroke width), before its height sets the writing's, and again among the digits at the
    end. Where the writing is in segments (more pieces than groups, PART_PIECES), neighbouring
    groups that are parts of one digit join too (see _parts_of_one), a part the nearer of two
    digits that could take it (_nearer_after); the groups at least
    DIGIT_HEIGHT as tall as the tallest are digits, left to right, but for one or two dots: a colon
    is punctuation. A dot is a piece shorter than DOT of the tallest group and less than twice as
    long as wide (a short segment of a 1 is longer)."""
    pieces = sorted(boxes.tolist(), key=lambda b: b[2])
    groups, member = _overlapping(pieces)
    tallest = max((g[1] - g[0] for g in groups), default=0)
    line = [g for g in groups if g[1] - g[0] >= DIGIT_HEIGHT * tallest]  # (not dashes, specks, dots)
    if len(line) > 1:  # a label under or over the line of writing joins no digit it shares columns with
        top, bottom = np.median([g[0] for g in line]), np.median([g[1] for g in line])
        margin = PART_GAP * tallest
        inside = [b[1] >= top - margin and b[0] <= bottom + margin for b in pieces]
        on_line = {m for m, i in zip(member, inside, strict=True) if i}  # a group wholly off it stays
        on = [b for b, m, i in zip(pieces, member, inside, strict=True) if i or m not in on_line]
        if len(on) < len(pieces):
            pieces, groups = on, _overlapping(on)[0]
    if width is not None:  # a printed bar goes before it sets the writing's height
        groups = _without_bars(groups, width)
    tallest = max((g[1] - g[0] for g in groups), default=0)
    for stacked in (True, False) if len(pieces) >= PART_PIECES * len(groups) else ():
        joined: list[list[int]] = []
        for k, g in enumerate(groups):
            after = groups[k + 1] if k + 1 < len(groups) else None
            if (
                joined
                and _parts_of_one(joined[-1], g, tallest, stacked)
                and not _nearer_after(joined[-1], g, after, tallest, stacked)
            ):
                j = joined[-1]
                j[0], j[1], j[3] = min(j[0], g[0]), max(j[1], g[1]), g[3]
                j[4], j[5] = j[4] + g[4], max(j[5], g[5])
            else:
                joined.append(g)
        groups = joined
    digits: list[Box] = [
        (g[0], g[1], g[2], g[3])
        for g in groups
        if g[1] - g[0] >= DIGIT_HEIGHT * tallest and (g[4] > 2 or g[5] >= DOT * tallest)
    ]
    return digits if width is None else _without_bars(digits, width)


def _overlapping(pieces: list[list[int]]) -> tuple[list[list[int]], list[int]]:
    """_digit_groups' first step: pieces (left to right) sharing more than OVERLAP of the narrower
    one's columns with the group before are one, and so is a piece that group closes in (_closed_in);
    each group: top, bottom, left, right, its pieces, the longest dot's longer side (a big number:
    none). And the group of each piece."""
    groups: list[list[int]] = []
    member: list[int] = []
    first = 0  # the current group's first piece: a group's pieces follow each other
    for i, (top, bottom, left, right) in enumerate(pieces):
        g = groups[-1] if groups else None
        long, short = max(bottom - top, right - left), min(bottom - top, right - left)
        dot = long if long < 2 * short else 1 << 30
        if g and (
            min(right, g[3]) - left > OVERLAP * min(right - left, g[3] - g[2])
            or _closed_in(pieces[first:i], pieces[i])
        ):
            g[0], g[1], g[3] = min(g[0], top), max(g[1], bottom), max(g[3], right)
            g[4], g[5] = g[4] + 1, max(g[5], dot)
        else:
            groups.append([top, bottom, left, right, 1, dot])
            first = i
        member.append(len(groups) - 1)
    return groups, member


def _closed_in(group: list[list[int]], b: list[int]) -> bool:
    """A piece is closed in by a group when pieces of it reach over its columns both above and below
    it: a seven-segment digit's right segments under its top and over its bottom (or middle) segment,
    which reach only a few columns over them. A slanted digit's top reaching over the next one's foot
    closes in nothing below it."""
    top, bottom, left, right = b
    over = [p for p in group if min(p[3], right) > max(p[2], left)]
    return any(p[0] + p[1] < 2 * top for p in over) and any(p[0] + p[1] > 2 * bottom for p in over)


def _without_bars(groups: list[G], width: Callable[[Box], float]) -> list[G]:
    """The groups but a printed bar (see BAR_THIN), judged against the others; a group begins with
    its box (top, bottom, left, right); width: a box's stroke width (stroke_width of its ink). Only
    a group taller than all the others can run past them, so without one no width is measured (as
    in C). (Digits by many hands, as MNIST's, are one in two hundred under half their neighbours'
    width; one of them reaching a stroke past all the others is rarer still.)"""
    heights = [g[1] - g[0] for g in groups]
    tallest, second = sorted(heights, reverse=True)[:2] if len(groups) > 1 else (0, 0)
    if tallest == second:
        return groups
    at = heights.index(tallest)
    widths = [width((g[0], g[1], g[2], g[3])) for g in groups]
    median = float(np.median(widths[:at] + widths[at + 1 :]))
    if widths[at] >= BAR_THIN * median or tallest - second <= median:
        return groups
    return groups[:at] + groups[at + 1 :]


def _nearer_after(
    before: list[int], g: list[int], after: list[int] | None, tallest: int, stacked: bool
) -> bool:
    """Whether a group that could join the one before it is instead a part of the one after it,
    nearer to it (a 7's upper-left segment, nearer its own bar than the digit before)."""
    return (
        after is not None and after[2] - g[3] < g[2] - before[3] and _parts_of_one(g, after, tallest, stacked)
    )


def _parts_of_one(a: list[int], b: list[int], tallest: int, stacked: bool) -> bool:
    """Two neighbouring groups (a left of b) are parts of one digit, as a seven-segment digit's
    segments are: the gap between them is under PART_GAP of the tallest group and together they are
    no wider than tall. stacked (tried first, so that a slanted 1's two segments join each other and
    not the digit beside them): both are shorter than PART_HEIGHT of the tallest and together they
    are not; else one is shorter than PART_HEIGHT yet no dot (PART_LENGTH long), as a 7's upper-left
    segment beside its bar. All of it is measured against the writing's height, not the page."""
    heights = (a[1] - a[0], b[1] - b[0])
    width, height = b[3] - a[2], max(a[1], b[1]) - min(a[0], b[0])
    if b[2] - a[3] > PART_GAP * tallest or width > height:
        return False
    if stacked:
        return max(heights) < PART_HEIGHT * tallest <= height
    part = (a, b)[min(range(2), key=lambda i: heights[i])]
    length = max(part[1] - part[0], part[3] - part[2])
    return min(heights) < PART_HEIGHT * tallest and length >= PART_LENGTH * tallest


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
    # the centre of mass summed pixel by pixel in float64, as the C port sums it: a stroke one pixel
    # wide lies on a half pixel, where sums in another order round the placement the other way
    total = cy = cx = 0.0
    for y, row in enumerate(small.tolist()):
        for x, v in enumerate(row):
            total, cy, cx = total + v, cy + v * y, cx + v * x
    if total <= 0:
        raise ImageError("blank image: no ink found")
    top = int(np.clip(round(CENTRE - cy / total), 0, SIDE - small.shape[0]))
    left = int(np.clip(round(CENTRE - cx / total), 0, SIDE - small.shape[1]))
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
    return mnist_style(find_ink(to_grey(img)).crop())


@dataclass
class Reading:
    """An image as the model sees it: the whole of its ink as one 28x28 input (`pixels`), and each
    digit-sized group of ink side by side as its own 28x28 input (`digits`, left to right).

    touching: groups much wider than a digit (TOUCHING_WIDTH), taken for touching digits; unsplit:
    how many of them had no clear valley in their column profile to split at (kept whole)."""

    pixels: np.ndarray
    digits: list[np.ndarray]
    touching: int = 0
    unsplit: int = 0
    # where each input of `digits` lies in the image, in its own pixels: (top, bottom, left, right),
    # bottom and right exclusive; for a single digit, the box around all the ink kept. C's
    # vit_edge_digit_box gives the same; the page crops a user's digits there to collect them.
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many digits the image holds, at least: one for each input in `digits`, and one more
        for each group of touching digits kept whole. vit_edge_digits() in C gives the same."""
        return len(self.digits) + self.unsplit


def read(path: str | Path) -> Reading:
    """A user's image file, whole and digit by digit (see Reading)."""
    return read_image(open_image(path))


def read_image(img: Image.Image) -> Reading:
    ink = find_ink(to_grey(img))
    pixels = mnist_style(ink.crop())
    factor = pool_factor(img)  # the map's pixels to the image's
    h, w = img.height, img.width

    def in_image(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        return tuple(min(int(v) * factor, limit) for v, limit in zip(box, (h, h, w, w), strict=True))

    boxes: list[tuple[int, int, int, int]] = []
    touching = unsplit = 0
    for box in ink.groups:
        top, bottom, left, right = box
        if right - left < TOUCHING_WIDTH * (bottom - top):
            boxes.append(box)
            continue
        touching += 1
        parts = split_touching(ink, box)
        unsplit += parts is None
        boxes += [box] if parts is None else parts
    if len(boxes) < 2:
        return Reading(pixels, [pixels], touching, unsplit, [in_image(ink.ink_box())])
    # a digit's box may share a few columns with a slanted neighbour's: its ink there stays, as in C
    digits = [mnist_style(ink.crop(b, cut=True)) for b in boxes]
    return Reading(pixels, digits, touching, unsplit, [in_image(b) for b in boxes])


def split_touching(ink: InkMap, box: tuple[int, int, int, int]) -> list[tuple[int, int, int, int]] | None:
    """Cut a group of touching digits at the valleys of its column profile: as many digits as its
    width holds at DIGIT_PITCH of its height, each cut at the column with the least ink within a
    third of a digit of where it is expected. None when a cut would cross more than VALLEY of the
    typical column's ink (no narrow joint there)."""
    top, bottom, left, right = box
    profile = ink.crop(box, cut=True).sum(axis=0)
    width, height = right - left, bottom - top
    n = max(2, round(width / (DIGIT_PITCH * height)))
    pitch = width / n
    typical = float(np.median(profile[profile > 0])) if np.any(profile > 0) else 0.0
    cuts = [0]
    for k in range(1, n):
        lo, hi = int(k * pitch - pitch / 3), int(k * pitch + pitch / 3) + 1
        at = lo + int(np.argmin(profile[lo:hi]))
        if profile[at] > VALLEY * typical:
            return None
        cuts.append(at)
    cuts.append(width)
    return [(top, bottom, left + a, left + b) for a, b in itertools.pairwise(cuts)]
