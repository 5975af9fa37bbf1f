import io
from pathlib import Path

import numpy as np
import pytest
from dress import STYLES, save
from PIL import Image

from vit_edge.data import load_split
from vit_edge.device.preprocess import MAX_PIXELS, ImageError, preprocess, preprocess_image


@pytest.fixture(scope="module")
def digits(shared_mnist: Path) -> np.ndarray:
    return load_split("test", shared_mnist, allow_download=False)[0][:30]


def centre_of_mass(a: np.ndarray) -> np.ndarray:
    r = np.arange(28)
    return np.array([(a.sum(1) * r).sum(), (a.sum(0) * r).sum()]) / a.sum()


def test_mnist_digit_comes_back_nearly_unchanged(digits: np.ndarray):
    for digit in digits:
        out = preprocess_image(Image.fromarray(digit))
        assert out.shape == (28, 28) and out.dtype == np.float32
        assert out.min() >= 0 and out.max() <= 1
        assert np.abs(out - digit / 255).mean() < 0.1


@pytest.mark.parametrize("style", sorted(STYLES))
def test_dressed_digit_matches_mnist_style_original(style: str, digits: np.ndarray, tmp_path: Path):
    diffs = []
    for i, digit in enumerate(digits):
        reference = preprocess_image(Image.fromarray(digit))
        path = save(STYLES[style](digit), tmp_path, f"{style}-{i}")  # through a real file
        out = preprocess(path)
        diffs.append(np.abs(out - reference).mean())
        # the same centre of mass (within a pixel) and ink mass (within a fifth) as the original
        assert np.abs(centre_of_mass(out) - centre_of_mass(reference)).max() < 1.0
        assert abs(out.sum() / reference.sum() - 1) < 0.2
    assert np.mean(diffs) < 0.04 and np.max(diffs) < 0.12, diffs


def test_transparent_drawing_is_not_blank():
    """Black strokes on a transparent canvas: dropping alpha would give an all-black image."""
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[20:80, 45:55, 3] = 255  # opaque black bar: a "1"
    out = preprocess_image(Image.fromarray(rgba, "RGBA"))
    assert out.max() > 0.9
    cols = np.nonzero(out.max(0) > 0.5)[0]
    assert cols.min() >= 10 and cols.max() <= 17  # a thin, centred vertical stroke


def test_white_ink_on_transparent_canvas():
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[20:80, 45:55] = 255
    assert preprocess_image(Image.fromarray(rgba, "RGBA")).max() > 0.9


def test_wide_digit_keeps_aspect_ratio():
    img = np.full((50, 200), 255, np.uint8)
    img[20:30, 20:180] = 0  # a long dash: 160 x 10
    out = preprocess_image(Image.fromarray(img))
    rows, cols = np.nonzero(out > 0.3)
    assert cols.max() - cols.min() + 1 in (19, 20, 21) and rows.max() - rows.min() + 1 <= 3


def test_paper_noise_is_not_ink():
    rng = np.random.default_rng(0)
    img = np.clip(rng.normal(235, 8, (120, 120)), 0, 255).astype(np.uint8)
    img[30:90, 55:65] = 20
    rows, cols = np.nonzero(preprocess_image(Image.fromarray(img)) > 0.3)
    assert rows.max() - rows.min() + 1 == 20  # the bar alone decides the box


def test_blank_image_is_an_error():
    with pytest.raises(ImageError, match="blank image"):
        preprocess_image(Image.new("L", (64, 64), 255))
    with pytest.raises(ImageError, match="blank image"):
        preprocess_image(Image.new("RGBA", (64, 64), (0, 0, 0, 0)))


def test_bad_files(tmp_path: Path):
    with pytest.raises(ImageError, match="no such file"):
        preprocess(tmp_path / "missing.png")
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(ImageError, match="not an image"):
        preprocess(tmp_path / "text.png")
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8)).save(buffer, "PNG")
    (tmp_path / "truncated.png").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageError, match="cannot decode"):
        preprocess(tmp_path / "truncated.png")


def test_decompression_bomb_is_refused(tmp_path: Path):
    side = int(MAX_PIXELS**0.5) + 100
    Image.new("1", (side, side)).save(tmp_path / "bomb.png")
    with pytest.raises(ImageError, match="image too large"):
        preprocess(tmp_path / "bomb.png")


def test_the_c_engine_and_the_page_take_their_constants_from_python():
    """One definition: vit_edge_prepare (on a board and, compiled to WebAssembly, in the page) reads
    every shared constant as a VE_PP_ macro that export writes from preprocess.py's values into
    vit_edge_model.h, and defines none of them itself."""
    from vit_edge.device import preprocess as pp

    root = Path(__file__).resolve().parent.parent
    header = (root / "models" / "c" / "vit_edge_model.h").read_text()
    source = "".join((root / "export" / "c" / n).read_text() for n in ("vit_edge_prepare.c", "vit_edge.h"))
    for name, value in pp.constants().items():
        line = next(x for x in header.splitlines() if x.startswith(f"#define VE_PP_{name} "))
        assert float(line.split()[2]) == float(value), name
        assert f"VE_PP_{name}" in source, name
        assert f"#define {name} " not in source, name
