"""Outlier exposure: the bank of non-digit marks, its kinds, and training with it (--outliers)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import SMALL_ARGS, one_line_error

from vit_edge import outliers
from vit_edge.config import OUTLIER_KINDS


def test_fragments_are_cut_from_every_digit_but_the_ones():
    images = np.arange(10 * 4, dtype=np.uint8).reshape(10, 2, 2)
    labels = np.arange(10) % 3
    assert np.array_equal(outliers.fragment_digits(images, labels), images[[0, 2, 3, 5, 6, 8, 9]])


def test_bank_is_seeded_uint8_marks_and_never_a_one():
    a = outliers.make_bank(60, seed=3)
    assert a.shape == (60, 28, 28) and a.dtype == np.uint8
    assert np.array_equal(a, outliers.make_bank(60, seed=3))
    assert not np.array_equal(a, outliers.make_bank(60, seed=4))
    assert all(np.count_nonzero(m > 76) >= 8 for m in a)  # every mark has ink
    assert not any(outliers._one_like(m / 255) for m in a)


def test_kinds_choose_what_is_drawn_and_the_old_bank_is_drawn_again():
    digits = np.random.default_rng(0).integers(0, 256, (20, 28, 28), dtype=np.uint8)
    everything = outliers.make_bank(40, 1, digits)
    assert np.array_equal(everything, outliers.make_bank(40, 1, digits, ",".join(OUTLIER_KINDS)))
    first_release = outliers.make_bank(40, 1, digits, "glyph,strokes,shape,noise,fragment")
    assert not np.array_equal(everything, first_release)
    # without training digits there are no fragments: asking for them alone draws from nothing
    with pytest.raises(ValueError, match="no kind of mark to draw"):
        outliers.make_bank(5, 1, None, "fragment")


def test_scribbles_and_curls_are_large_marks():
    """Every coil, cross-out and curl spans a large part of the canvas: never a dot or a short stroke."""
    rng = np.random.default_rng(0)
    for make in (outliers.scribble, outliers.curl):
        for _ in range(20):
            ink = np.asarray(make(rng), np.float32) / 255
            rows, cols = np.nonzero(ink > 0.5)
            box = (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
            assert box > 0.15 * outliers.CANVAS**2, make.__name__  # not a dot or a short stroke


def test_outlier_kinds_is_checked_up_front(run_cli, tmp_path: Path):
    code, _, err = run_cli("train", "--outliers", "0.5", "--outlier-kinds", "glyph,moons",
                           "--data-dir", tmp_path / "none", "--out", tmp_path / "m.pt")  # fmt: skip
    assert code == 2 and "--outlier-kinds must be 'all' or names from" in one_line_error(err)
    assert not list(tmp_path.iterdir())


@pytest.mark.slow  # about 3 s: the quick tier stays under 2 minutes
def test_training_with_outliers_and_init_records_both(run_cli, tiny_mnist: Path, tmp_path: Path, monkeypatch):
    """--init starts from a checkpoint's weights (its sha256 in the metrics); --outliers draws the
    bank (its size in the metrics), its fragments from every training digit but the 1s, and makes
    the marks less certain than without it."""
    from vit_edge.data import load_split

    sources = []
    real = outliers.make_bank

    def recording(n: int, seed: int, digits=None, kinds: str = "all") -> np.ndarray:
        sources.append(digits)  # what the bank's fragments are cut from
        return real(n, seed, digits, kinds)

    monkeypatch.setattr(outliers, "make_bank", recording)
    base = tmp_path / "base.pt"
    args = ["--data-dir", tiny_mnist, "--val-size", 100, "--batch-size", 32, "--lr", "3e-3", *SMALL_ARGS,
            "--degrees", 0, "--translate", 0, "--scale", 0, "--elastic", 0]  # fmt: skip
    assert run_cli("train", *args, "--epochs", 2, "--out", base)[0] == 0
    tuned = {}
    for weight in (0, 1):
        out = tmp_path / f"oe{weight}.pt"
        code, _, err = run_cli("train", *args, "--epochs", 2, "--init", base, "--outliers", weight,
                               "--outlier-bank", 500, "--out", out)  # fmt: skip
        assert code == 0, err
        metrics = json.loads(out.with_suffix(".metrics.json").read_text())
        assert metrics["init"]["path"] == str(base) and len(metrics["init"]["sha256"]) == 64
        assert metrics.get("outlier_bank") == (500 if weight else None)
        tuned[weight] = torch.load(out, weights_only=True)
    images, labels = load_split("train", tiny_mnist, allow_download=False)
    train = {img.tobytes(): label for img, label in zip(images, labels, strict=True)}
    assert len(sources) == 1  # the bank of the --outliers 1 run
    got = [train.get(d.tobytes()) for d in sources[0]]
    assert len(got) >= 100 and None not in got and 1 not in got, sorted(set(got))
    from vit_edge.model import ViT, ViTConfig

    marks = torch.from_numpy(outliers.make_bank(200, seed=99)).float().div(255).unsqueeze(1)
    top = {}
    for weight, state in tuned.items():
        model = ViT(ViTConfig.from_dict(state["config"])).eval()
        model.load_state_dict(state["model"])
        with torch.no_grad():
            top[weight] = model(marks).softmax(-1).max(-1).values.mean().item()
    assert top[1] < top[0] - 0.05, top
