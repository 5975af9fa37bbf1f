"""Draw the example digits in examples/ (hand-drawn strokes, no MNIST): python examples/make_examples.py"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent
STROKES = {  # polylines in a 100x100 box, as a finger would draw them
    "seven": [[(22, 20), (78, 18), (70, 34), (52, 62), (44, 86)], [(38, 52), (66, 50)]],
    "three": [[(26, 22), (50, 14), (72, 24), (70, 42), (48, 50), (74, 60), (74, 80), (50, 90), (24, 82)]],
    "two": [[(24, 32), (36, 16), (62, 14), (74, 30), (66, 50), (40, 72), (22, 88), (80, 88)]],
    "four": [[(60, 12), (20, 64), (82, 64)], [(62, 30), (62, 92)]],
    "five": [[(72, 14), (34, 14), (30, 46), (52, 40), (72, 50), (74, 72), (58, 88), (28, 84)]],
    "zero": [[(50, 12), (28, 24), (22, 50), (28, 78), (50, 90), (72, 78), (78, 50), (72, 24), (50, 12)]],
}


def draw(name: str, size: int, ink, paper, width: int) -> Image.Image:
    mode = "L" if isinstance(paper, int) else ("RGBA" if len(paper) == 4 else "RGB")
    img = Image.new(mode, (size, size), paper)
    pen = ImageDraw.Draw(img)
    k = size / 100
    for line in STROKES[name]:
        points = [(x * k, y * k) for x, y in line]
        pen.line(points, fill=ink, width=width, joint="curve")
        for x, y in points:
            r = width / 2
            pen.ellipse((x - r, y - r, x + r, y + r), fill=ink)
    return img


def main() -> None:
    # a drawing app: black ink on a transparent canvas
    draw("seven", 256, (0, 0, 0, 255), (0, 0, 0, 0), 18).save(HERE / "seven-transparent.png")
    # a photo of a note: blue pen on cream paper, slightly blurred and noisy, as JPEG
    photo = draw("three", 480, (40, 50, 130), (240, 232, 205), 26).filter(ImageFilter.GaussianBlur(2))
    noise = np.random.default_rng(0).normal(0, 5, (480, 480, 3))
    photo = Image.fromarray(np.clip(np.asarray(photo) + noise, 0, 255).astype(np.uint8))
    photo.save(HERE / "three-photo.jpg", quality=85)
    # a scan: black on white, off-centre on a wide page
    page = Image.new("L", (600, 300), 255)
    page.paste(draw("two", 200, 0, 255, 16), (360, 40))
    page.save(HERE / "two-scan.png")
    draw("four", 128, 255, 0, 12).save(HERE / "four-white-on-black.png")
    draw("zero", 300, (20, 20, 20), (255, 255, 255), 22).convert("P").save(HERE / "zero-palette.png")
    # a thin pen on a big canvas (a tablet app's 2 px pen, 1600x1200): thickened by predict
    canvas = Image.new("L", (1600, 1200), 255)
    canvas.paste(draw("five", 700, 0, 255, 2), (450, 250))
    canvas.save(HERE / "five-thin-pen.png", optimize=True)
    # phone photos of pencil on paper: a soft shadow across a page with a vignette and sensor noise
    photo_of(draw("seven", 600, 60, 200, 16), 1).save(HERE / "seven-shadow-photo.jpg", quality=88)
    two_digits = Image.new("L", (900, 600), 200)
    two_digits.paste(draw("four", 300, 60, 200, 16), (170, 150))
    two_digits.paste(draw("two", 300, 60, 200, 16), (430, 150))
    photo_of(two_digits, 2).save(HERE / "forty-two-photo.jpg", quality=88)


def photo_of(page: Image.Image, seed: int) -> Image.Image:
    """A grey page photographed: a shadow over its left third behind a soft edge, corners at 70%
    of the light, grey noise of 8 levels."""
    w, h = page.size
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    light = 1 - 0.3 * ((x - w / max(w, h) / 2) ** 2 + (y - h / max(w, h) / 2) ** 2) / 0.5
    light *= 1 - 0.3 / (1 + np.exp((x - 0.3 - 0.2 * y) / 0.02))
    noise = np.random.default_rng(seed).normal(0, 8, (h, w))
    return Image.fromarray(np.clip(np.asarray(page) * light + noise, 0, 255).astype(np.uint8))


if __name__ == "__main__":
    main()
