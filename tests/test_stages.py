"""Each stage of predict's preprocessing earns its place, on any machine: on pages where a stage
matters, predict reads the digits right with it and reads none of them right without it (the stage
switched off in Python); the C engine, which has no switch, reads the same pages right. A stage
switched off in both ports fails here, where the C = Python parity tests would still pass.

The answers are the FP32 ONNX model's and the float C's, so no test depends on a CPU's INT8 kernels."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import dress
import numpy as np
import pytest
from helpers import c_build, read_sure
from PIL import Image

from vit_edge.device import preprocess as pp

ROOT = Path(__file__).resolve().parent.parent
FIRST, CASES = 100, 3  # MNIST test digits 100, 101, 102 (and the next one, for two-digit pages)


def one_box(boxes: np.ndarray, width=None) -> list[tuple[int, int, int, int]]:
    return [(int(boxes[:, 0].min()), int(boxes[:, 1].max()), int(boxes[:, 2].min()), int(boxes[:, 3].max()))]


def half_a_knob(digit: np.ndarray, seed: int) -> Image.Image:
    """A digit on a photographed page, and on the image's left border the half of a dark round thing
    the frame cut through (a knob, a lens cap): no line, no digit."""
    img = np.asarray(dress.photo(digit, "flat", 4, seed=seed, size=(800, 600)).convert("L")).copy()
    yy, xx = np.mgrid[0:600, 0:800]
    img[np.hypot(yy - 300, xx) < 90] = 50
    return Image.fromarray(img)


# stage -> (a page where it matters, from MNIST digits i and i + 1: (image, digits); the switch-off)
STAGES: dict[str, tuple[Callable, dict]] = {
    "printed lines, ruled paper": (
        lambda d, i: dress.paper_photo("ruled", [d[i]], i, (800, 600)),
        {"printed_lines": lambda mask: np.zeros_like(mask)},
    ),
    "printed lines, squared paper": (
        lambda d, i: dress.paper_photo("grid", [d[i]], i, (800, 600)),
        {"printed_lines": lambda mask: np.zeros_like(mask)},
    ),
    "the page alone, on a table": (
        lambda d, i: dress.table_photo([d[i]], i, (800, 600)),
        {"page_only": lambda grey: grey},
    ),
    "the paper's light, a shadow": (  # (where a shadow's dark edge lies along the image's border it
        # is a sliver there too: both switches go, so that the page's light is what is checked)
        lambda d, i: dress.photo(d[i], "shadow", 8, seed=i, size=(800, 600)),
        {
            "_light_opening": lambda cells, r: np.full_like(cells, np.median(cells)),
            "_along_border": lambda labels, boxes: np.zeros(len(boxes), bool),
        },
    ),
    "slivers along the border, half a knob": (
        lambda d, i: half_a_knob(d[i], i),
        {"_along_border": lambda labels, boxes: np.zeros(len(boxes), bool)},
    ),
    "thin strokes thickened": (
        lambda d, i: dress.pen_dark_on_white(d[i], 1, 1000),
        {"thicken": lambda crop: crop},
    ),
    "digits side by side, grouped or split": (
        lambda d, i: dress.photo([d[i], d[i + 1]], "flat", 4, seed=i),
        {"_digit_groups": one_box, "split_touching": lambda ink, box: None},
    ),
}


def pages(mnist, stage: str) -> list[tuple[Image.Image, str]]:
    images, labels = mnist
    make, _ = STAGES[stage]
    two = stage.startswith("digits side by side")
    return [(make(images, i), f"{labels[i]}{labels[i + 1]}" if two else str(labels[i]))
            for i in range(FIRST, FIRST + CASES)]  # fmt: skip


@pytest.mark.parametrize("stage", list(STAGES))
def test_each_stage_is_needed_where_it_matters(mnist, session, stage, monkeypatch):
    cases = pages(mnist, stage)
    assert [read_sure(session, img) for img, _ in cases] == [want for _, want in cases]
    for name, off in STAGES[stage][1].items():
        monkeypatch.setattr(pp, name, off)
    without = [read_sure(session, img) for img, _ in cases]
    assert all(got != want for got, (_, want) in zip(without, cases, strict=True)), without


@pytest.mark.slow
def test_the_c_engine_reads_every_stages_pages(mnist, tmp_path: Path):
    """The float C (host build, predict's working side) on the same pages' grey bytes: right and
    not marked, digit by digit as `predict --number`."""
    program = c_build(ROOT / "models" / "c", tmp_path / "fp32", fp32=True)
    for stage in STAGES:
        for img, want in pages(mnist, stage):
            grey = pp.grey_bytes(img)
            run = [str(program), "--number", str(grey.shape[1]), str(grey.shape[0])]
            out = subprocess.run(run, input=grey.tobytes(), capture_output=True).stdout.decode().split()
            assert out[0] == want and "?" not in out, (stage, want, out)


@pytest.mark.parametrize("light", ["gradient", "vignette", "ring", "spot"])
def test_light_on_a_page_is_not_taken_for_a_page_on_a_table(mnist, session, light):
    """A gradient, a vignette, a ring of light or a lamp's spot over a plain page: page_only leaves
    the image as it is (no 'table' is cut away), and the digit reads right."""
    images, labels = mnist
    w, h = 800, 600
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot((xx - w / 2) / w, (yy - h / 2) / h)
    gain = {
        "gradient": 1 - 0.45 * xx / w,
        "vignette": 1 - 1.2 * r**2,
        "ring": 0.75 + 0.25 * np.exp(-(((r - 0.3) / 0.05) ** 2)),
        "spot": 0.6 + 0.4 * np.exp(-((r / 0.15) ** 2)),
    }[light]
    for i in range(FIRST, FIRST + CASES):
        ink = np.zeros((h, w))
        ink[170:430, 270:530] = np.asarray(Image.fromarray(images[i]).resize((260, 260))) / 255
        grey = (230 * (1 - ink) + 35 * ink) * gain + np.random.default_rng(i).normal(0, 3, (h, w))
        img = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8))
        g = pp.to_grey(img)
        assert pp.page_only(g) is g, (light, i)
        assert read_sure(session, img) == str(labels[i]), (light, i)
