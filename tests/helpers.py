"""Shared test helpers (importable by name: tests/ is on sys.path under pytest's rootdir)."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import dress
import numpy as np
import torch
from PIL import Image

from vit_edge import checkpoint
from vit_edge.config import ViTConfig
from vit_edge.device.preprocess import WORK_SIDE
from vit_edge.export import c_export
from vit_edge.model import ViT

SMALL = ViTConfig(patch_size=7, dim=32, depth=2, heads=4)
# The same small shape as `vit-edge train` options (two heads: fast), one thread.
SMALL_ARGS = ["--patch-size", "7", "--dim", "32", "--depth", "2", "--heads", "2", "--threads", "1"]


STRICT = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]


# AddressSanitizer and UBSan, stopping at the first finding: an out-of-bounds access, a misaligned
# store or a NaN converted to int aborts the program
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g"]


# a host build's working side: predict's (its inputs), not the C default (a microcontroller's 96)
HOST_SIDE = f"-DVIT_EDGE_WORK_SIDE={WORK_SIDE}"


def c_build(
    c_dir: Path, out: Path, compiler: str = "cc", fp32: bool = False, fast: bool = False, extra: tuple = ()
) -> Path:
    """The C engine's example program (standard input: float32 28x28 images; --logits: float32
    logits out). fast: -O3 for this CPU; float sums keep their order (no -ffast-math), so the
    outputs are the same. extra: more flags (SANITIZE)."""
    flags = STRICT + (["-DVIT_EDGE_FP32"] if fp32 else []) + (["-O3", "-march=native"] if fast else [])
    if not any(f.startswith("-DVIT_EDGE_WORK_SIDE=") for f in extra):
        flags.append(HOST_SIDE)
    flags += list(extra)
    sources = [c_dir / n for n in (*c_export.LIBRARY, "example/main.c")]
    subprocess.run([compiler, *flags, "-o", str(out), *map(str, sources), "-lm"], check=True)
    return out


def c_logits(program: Path, pixels: np.ndarray) -> np.ndarray:
    data = np.ascontiguousarray(pixels, np.float32).tobytes()
    run = subprocess.run([str(program), "--logits"], input=data, capture_output=True, check=True)
    return np.frombuffer(run.stdout, np.float32).reshape(-1, 10)


def stable_model(seed: int = 0) -> ViT:
    """A random model whose head's bias makes every answer a 3 by a margin of 50: INT8 rounding
    cannot flip it on any CPU (AVX2, AVX-512 VNNI, ARM), for tests of export mechanics where the
    INT8 kernels' own answers are not the point."""
    model = random_model(seed=seed)
    with torch.no_grad():
        model.head[-1].bias[3] += 50.0
    return model


def random_model(cfg: ViTConfig = SMALL, seed: int = 0, scale: float = 0.2) -> ViT:
    """A model with random, non-trivial weights (so logits differ clearly between inputs)."""
    torch.manual_seed(seed)
    model = ViT(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn_like(p))
    return model


def save_checkpoint(model: ViT, path: Path) -> Path:
    checkpoint.save(path, {"config": model.cfg.to_dict(), "model": model.state_dict(), "epoch": 0})
    return path


def one_line_error(err: str) -> str:
    """The single line a failed command prints: asserts there is one, with no traceback. A usage
    error (a wrong option or value) has Click's usage line and "Try '... --help'" before it."""
    lines = err.strip().splitlines()
    if lines and lines[0].startswith("Usage: "):
        assert (
            len(lines) == 3
            and lines[1].startswith("Try 'vit-edge")
            and lines[1].endswith("--help' for help.")
        ), err
        lines = lines[2:]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def md5s(folder: Path) -> dict[str, str]:
    """md5 of every file under folder (links as their target path), to show nothing was clobbered."""
    import hashlib

    out = {}
    for p in sorted(Path(folder).rglob("*")):
        if p.is_symlink():
            out[str(p)] = "link->" + str(p.readlink())
        elif p.is_file():
            out[str(p)] = hashlib.md5(p.read_bytes()).hexdigest()
    return out


def shared_images(mnist: np.ndarray) -> dict[str, Image.Image]:
    """The contract: the examples and synthetic drawings, decoded once by Pillow for both sides."""
    images = {
        p.name: Image.open(p)
        for p in sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.[pj][np]g"))
    }
    for i in range(12):
        pen, side = (1, 3, 6, 8)[i % 4], (300, 600, 1000)[i % 3]
        name, draw = list(dress.DRAWING_STYLES.items())[i % 4]
        images[f"{name}-{i}"] = draw(mnist[i], pen, side)
    for i, (name, dressed) in enumerate(dress.STYLES.items()):
        images[f"{name}-{i}"] = dressed(mnist[20 + i])
    for i in range(8):  # phone photos: every light, noise 0-16, two sizes
        light, noise = dress.LIGHTS[i % 4], dress.NOISES[(i * 3) % 5]
        size = ((400, 300), (1000, 750))[i % 2]
        images[f"photo-{light}-{noise}-{i}"] = dress.photo(mnist[40 + i], light, noise, seed=i, size=size)
    images["photo-two-digits"] = dress.photo(mnist[50:52], "shadow", 8, seed=1)
    return images


def script(name: str):
    """scripts/NAME.py as a module."""
    import importlib.util
    import sys

    if name not in sys.modules:
        path = Path(__file__).resolve().parent.parent / "scripts" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules[name]


def sevenseg():
    """scripts/sevenseg.py, the seven-segment display generator, as a module."""
    return script("sevenseg")


def forms():
    """scripts/forms.py, the printed forms generator, as a module."""
    return script("forms")


def read_sure(session, img: Image.Image) -> str | None:
    """The number predict --number reads in an image, when it is sure of it (else None): runtime's
    own rule, through preprocess's functions as they stand (a test may switch one off)."""
    from vit_edge.device import preprocess as pp
    from vit_edge.device import runtime

    try:
        reading = pp.read_image(img)
    except pp.ImageError:
        return None
    threshold = runtime.model_min_confidence(session)
    result = runtime._result(session, "", reading, 1, threshold, number=True)
    return None if result.get("uncertain", True) else result["number"]


def ring(mask: np.ndarray, top: int, left: int, height: int, width: int, pen: int = 5) -> None:
    """An ellipse's outline (a 0, as writing) in the box, pen px wide."""
    y, x = np.mgrid[: mask.shape[0], : mask.shape[1]]
    cy, cx, ry, rx = top + height / 2, left + width / 2, height / 2, width / 2
    r = np.hypot((y - cy) / ry, (x - cx) / rx)
    mask |= (r <= 1) & (r >= 1 - pen / min(ry, rx))


def bar(mask: np.ndarray, top: int, bottom: int, left: int, right: int) -> None:
    mask[top:bottom, left:right] = True


def segments(mask: np.ndarray, top: int, left: int, height: int, width: int, lit: str, pen: int = 8) -> None:
    """A seven-segment digit: the lit segments (of "abcdefg") as separate bars, 2 px apart."""
    half, r, b = top + height // 2, left + width, top + height
    boxes = {
        "a": (top, top + pen, left + pen + 2, r - pen - 2),
        "b": (top + pen + 2, half - 2, r - pen, r),
        "c": (half + 2, b - pen - 2, r - pen, r),
        "d": (b - pen, b, left + pen + 2, r - pen - 2),
        "e": (half + 2, b - pen - 2, left, left + pen),
        "f": (top + pen + 2, half - 2, left, left + pen),
        "g": (half - pen // 2, half + pen // 2, left + pen + 2, r - pen - 2),
    }
    for s in lit:
        bar(mask, *boxes[s])


def _mnist_page(mnist: np.ndarray, digits: list[tuple[int, int]], shape: tuple[int, int]) -> np.ndarray:
    """Light paper (230) with MNIST digits (index, left) 84 px tall from row 40, dark where they are
    (the page's right border cuts a digit that runs past it)."""
    page = np.full(shape, 230.0)
    for k, left in digits:
        glyph = np.array(Image.fromarray(mnist[k]).resize((84, 84), Image.Resampling.BILINEAR), float)
        w = min(84, shape[1] - left)
        page[40:124, left : left + w] = np.minimum(page[40:124, left : left + w], 230 - 0.85 * glyph[:, :w])
    return page


def time_of_day(mnist: np.ndarray) -> Image.Image:
    """ "12:34." written on light paper: a colon (two dots) between the 2 and the 3, a point after the 4."""
    page = _mnist_page(mnist, [(2, 30), (1, 110), (18, 230), (4, 310)], (160, 440))
    page[62:70, 202:210] = page[96:104, 202:210] = 40  # the colon's dots, about a stroke wide
    page[112:120, 395:403] = 40  # the point
    return Image.fromarray(page.astype(np.uint8))


def framed_cut(mnist: np.ndarray) -> Image.Image:
    """A 7, a 2 and a 0 on light paper between slivers along the image's border (a window's edge on
    the left, the edge of a page at the top); the right border cuts the 0 through its middle."""
    page = _mnist_page(mnist, [(0, 60), (1, 170), (3, 358)], (160, 400))
    page[10:150, 0:5] = 40  # on the left border over its whole length
    page[0:3, 80:300] = 60  # on the top border
    return Image.fromarray(page.astype(np.uint8))


def on_paper(mask: np.ndarray) -> Image.Image:
    """Dark ink (40) where the mask is, on light paper (230)."""
    page = np.full(mask.shape, 230, np.uint8)
    page[mask] = 40
    return Image.fromarray(page)


def window_side() -> Image.Image:
    """A 7, a 1 and a 7 in segments 10 px wide, rows 30-120 of light paper, right of a display
    window's side: a printed line 4 px wide from row 20 to 130, taller than the digits and slanted
    by perspective 10 degrees from plumb, past what printed_lines straightens (LINE_ANGLE)."""
    mask = np.zeros((160, 400), bool)
    for left, lit in ((80, "abc"), (180, "bc"), (280, "abc")):
        segments(mask, 30, left, 90, 56, lit, pen=10)
    for y in range(20, 130):
        x = 30 + round((y - 20) * math.tan(math.radians(10)))
        mask[y, x : x + 4] = True
    return on_paper(mask)


def display_and_body() -> Image.Image:
    """A 7 and a 1 lit in white segments on a dark display, and the light body it sits in: a strip
    down the right quarter of the frame, brighter than the rest, as a page on a table is."""
    page = np.full((160, 400), 30, np.uint8)
    page[:, 300:] = 225
    mask = np.zeros(page.shape, bool)
    segments(mask, 30, 80, 100, 56, "abc", pen=9)
    segments(mask, 30, 180, 100, 56, "bc", pen=9)
    page[mask] = 200
    return Image.fromarray(page)


def face_on_table(tinted: bool = False) -> Image.Image:
    """A display's face held inside a lighter surround (a table, the display's light body), a 7
    and a 1 on it in segments: lit segments on a dark face (an LED's, dim as a red one is in grey),
    or, tinted, dark segments on a mid-grey window (a blue LCD's) in a light body, the window
    narrower than the paper's light is measured over (LIGHT_RADIUS), so it would be ink."""
    face, table, ink = (120, 215, 25) if tinted else (35, 190, 110)
    page = np.full((400, 600), table, np.uint8)
    page[140:260, 50:550] = face
    mask = np.zeros(page.shape, bool)
    segments(mask, 160, 200, 80, 50, "abc", pen=9)
    segments(mask, 160, 320, 80, 50, "bc", pen=9)
    page[mask] = ink
    return Image.fromarray(page)


def shadowed_page() -> Image.Image:
    """A 7 and a 1 in dark segments on light paper, the left 40% of the frame in a shadow: neither
    side of the shadow's edge is a page on a table."""
    page = np.full((240, 400), 220, np.uint8)
    page[:, :160] = 120
    mask = np.zeros(page.shape, bool)
    segments(mask, 70, 190, 100, 60, "abc", pen=10)
    segments(mask, 70, 290, 100, 60, "bc", pen=10)
    page[mask] = np.where(np.arange(400) < 160, 40, 60)[None].repeat(240, 0)[mask]
    return Image.fromarray(page)


def closed_display() -> Image.Image:
    """A 0 and a "2." in segments 10 px wide whose top, middle and bottom segments reach only 3 px
    (0.3 of a segment's width, not more) over the right ones, as an LCD's bevelled segments do: the
    0's right segments together are taller than a part, and the 2's upper right one and the point
    are parts stacked as a slanted 1's are."""
    mask = np.zeros((200, 320), bool)
    for left, right, lit in ((80, 136, "abcdef"), (180, 236, "abged")):
        inner = (left + 5, right - 7)  # horizontal segments: over the left ones, 3 px over the right
        bars = {
            "a": (50, 60, *inner),
            "g": (96, 104, *inner),
            "d": (140, 150, *inner),
            "b": (62, 94, right - 10, right),
            "c": (106, 138, right - 10, right),
            "e": (106, 138, left, left + 10),
            "f": (62, 94, left, left + 10),
        }
        for s in lit:
            bar(mask, *bars[s])
    bar(mask, 140, 150, 242, 252)  # the point
    return on_paper(mask)


def printed_38() -> Image.Image:
    """A 3 and an 8 printed in strokes 6 px wide that meet: each three level bars at one pitch,
    joined down the right side (and the 8's left), as a comb's teeth are by its spine."""
    mask = np.zeros((200, 300), bool)
    for left in (80, 170):
        for top in (40, 96, 152):
            bar(mask, top, top + 6, left, left + 50)
        bar(mask, 40, 158, left + 44, left + 50)
    bar(mask, 40, 158, 170, 176)
    return on_paper(mask)


def one_and_seven() -> Image.Image:
    """A 1 in segments and a 7 whose upper-left segment stands 10 px right of the 1, its top
    reaching over that segment by a column: the segment is a part both could take."""
    mask = np.zeros((200, 320), bool)
    segments(mask, 50, 100, 100, 56, "bc", pen=10)  # the 1's segments: columns 146-156
    for box in ((62, 94, 166, 176), (50, 60, 175, 219), (62, 94, 212, 222), (106, 138, 212, 222)):
        bar(mask, *box)  # the 7: f, a, b, c
    return on_paper(mask)


def labelled_display() -> Image.Image:
    """A 1, a 5 and a 7 in segments on light paper, a unit label (two short marks, as "kg") under
    the 7 and a display window's side left of them, taller than the digits: the label shares the
    7's columns, and the side would set the writing's height."""
    mask = np.zeros((240, 480), bool)
    for left, lit in ((90, "bc"), (170, "afgcd"), (260, "abc")):
        segments(mask, 50, left, 100, 56, lit, pen=10)
    mask[185:200, 272:281] = mask[185:200, 290:300] = True  # the label, under the 7
    mask[15:205, 30:34] = True  # the window's side
    return on_paper(mask)
