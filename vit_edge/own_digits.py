"""Fine-tuning on the user's own digits (`vit-edge train --data DIR`): the data, and what is stored
and reported after training (torch side; the folder itself is read by vit_edge.device.folder).

The user's images, as predict sees them, are split by class into training and validation parts.
Training mixes MNIST into every batch when --data-dir holds it (cfg.mix), and the user's
not-a-digit images join the outlier bank. Afterwards the temperature and the unsure threshold are
fitted on the validation part (with MNIST's validation images when there) and stored in the
checkpoint with the validation images themselves, so that `export` calibrates with them and checks
its files on data the model knows.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from . import checkpoint
from .config import TrainConfig
from .data import load_split, train_val_split
from .device import folder as own_folder
from .device.calibration import expected_calibration_error, fit_temperature, highest_threshold, softmax
from .errors import DataError
from .evaluate import summarize
from .inference import predict_logits

# Below this many wrong validation answers a fitted temperature only grows the confidence of the
# right ones without bound (NLL keeps falling): the starting model's temperature is kept instead.
MIN_ERRORS_TO_FIT = 3
# The user's not-a-digit images are this share of the outlier draws (the rest: the drawn bank)
OWN_OUTLIER_SHARE = 0.3


class HeldOut(NamedTuple):
    """What a --data run holds out to calibrate and report on: the user's validation part, and the
    validation part of MNIST's seeded split (uint8 images, labels) when --data-dir holds MNIST."""

    own: own_folder.LabelledImages
    mnist: tuple[np.ndarray, np.ndarray] | None


def packaged_checkpoint() -> Path:
    """The released checkpoint that `train --data` fine-tunes, beside the packaged ONNX model."""
    from .device.runtime import default_model_path
    from .errors import ModelFileError

    try:
        path = default_model_path().with_name("vit-edge.pt")
    except ModelFileError:
        path = None
    if path is None or not path.is_file():
        raise DataError("no packaged checkpoint vit-edge.pt found; pass --init PATH")
    return path


def load_tensors(
    cfg: TrainConfig,
    data: Path,
    data_dir: str | None,
    allow_download: bool,
    dev: torch.device,
    log: Callable[[str], None],
):
    """The Tensors of a --data run (see vit_edge.train.Tensors), and what it holds out."""
    from .train import Tensors

    own = own_folder.load(data, log)
    val = own_folder.stratified_split(own.labels, cfg.val_fraction, cfg.seed)
    digits = own.labels >= 0
    train_part, val_part = own.subset(~val & digits), own.subset(val)
    mix = mnist_val = None
    try:  # read once: its training part is mixed in, its validation part calibrates
        split = train_val_split(*load_split("train", data_dir, allow_download), cfg.val_size)
        mix = (split.train_images, split.train_labels) if cfg.mix > 0 else None
        mnist_val = (split.val_images, split.val_labels) if cfg.val_size > 0 else None
    except DataError as e:
        if cfg.mix > 0:
            log(f"warning: no MNIST to mix in ({e}); training on {data} alone")

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(dev)

    outliers = None
    own_outliers = own.images[~val & ~digits]
    if cfg.outliers:
        from .outliers import fragment_digits, make_bank

        sources = None if mix is None else fragment_digits(*mix)[:20_000]
        bank = make_bank(cfg.outlier_bank, cfg.seed, sources, cfg.outlier_kinds)
        if len(own_outliers):
            copies = int(np.ceil(OWN_OUTLIER_SHARE / (1 - OWN_OUTLIER_SHARE) * len(bank) / len(own_outliers)))
            bank = np.concatenate([bank, np.tile(own_outliers, (copies, 1, 1))])
        outliers = tensor(bank).unsqueeze(1)
    elif len(own_outliers):
        log(f"warning: --outliers 0: the {len(own_outliers)} not-a-digit images are not trained on")
    counts = ", ".join(f"{k}: {v}" for k, v in own.counts().items() if v)
    log(f"{data}: {len(own.labels)} images ({counts}); {int(val.sum())} held out for validation")
    tensors = Tensors(
        tensor(train_part.images).unsqueeze(1),
        tensor(train_part.labels),
        tensor(val_part.images[val_part.labels >= 0]),
        tensor(val_part.labels[val_part.labels >= 0]),
        outliers,
        None if mix is None else tensor(mix[0]).unsqueeze(1),
        None if mix is None else tensor(mix[1].astype(np.int64)),
    )
    return tensors, HeldOut(val_part, mnist_val)


def finish(
    out: Path,
    held_out: HeldOut,
    data: Path,
    init_state: dict[str, Any] | None,
    data_dir: str | None,
    allow_download: bool,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Calibrate the kept checkpoint on the validation part, store that and the validation images in
    it, and return the report (per class, confusions, marked shares; MNIST test when there)."""
    model, state = checkpoint.load_model(out)
    val_part, mnist_val = held_out
    digits = val_part.labels >= 0
    logits = predict_logits(model, torch.from_numpy(val_part.images.copy())).numpy()
    fit_logits, fit_labels = logits[digits], val_part.labels[digits]
    if mnist_val is not None:
        mnist_logits = predict_logits(model, torch.from_numpy(mnist_val[0].copy())).numpy()
        fit_logits = np.concatenate([fit_logits, mnist_logits])
        fit_labels = np.concatenate([fit_labels, mnist_val[1].astype(np.int64)])
    temperature, source = _temperature(fit_logits, fit_labels, init_state, len(val_part.labels[digits]))
    probs = softmax(logits / temperature)
    threshold = highest_threshold(softmax(fit_logits / temperature).max(1))  # the release's rule
    report = report_on(probs, val_part.labels, threshold)
    report["ece"] = expected_calibration_error(softmax(fit_logits / temperature), fit_labels)
    state["calibration"] = {
        "temperature": float(temperature),
        "temperature_source": source,
        "min_confidence": float(threshold),
    }
    state["own_data"] = {  # plain tensors and text: checkpoints load with weights_only
        "folder": str(data),
        "val_images": torch.from_numpy(val_part.images.copy()),
        "val_labels": torch.from_numpy(val_part.labels.copy()),
    }
    try:
        mnist_test = load_split("test", data_dir, allow_download)
    except DataError:
        mnist_test = None
    if mnist_test is not None:
        test = predict_logits(model, torch.from_numpy(mnist_test[0].copy())).numpy().argmax(1)
        report["mnist_test_accuracy"] = float((test == mnist_test[1]).mean())
    state["metrics"] = {**state.get("metrics", {}), "own_data": report}
    checkpoint.save(out, {k: v for k, v in state.items() if k not in ("format", "format_version")})
    log(f"calibrated on the validation split: temperature {temperature:.4f} ({source}), "
        f"--min-confidence {threshold:.2f}")  # fmt: skip
    return report


def evaluate_folder(path: Path, data: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """`evaluate --data`: the checkpoint on every image of a labelled folder, with its calibration."""
    from .config import DEFAULT_MIN_CONFIDENCE

    model, state = checkpoint.load_model(path)
    own = own_folder.load(data, log)
    stored = state.get("calibration") if isinstance(state.get("calibration"), dict) else {}
    temperature = float(stored.get("temperature", 1.0))
    threshold = float(stored.get("min_confidence", DEFAULT_MIN_CONFIDENCE))
    logits = predict_logits(model, torch.from_numpy(own.images.copy())).numpy()
    probs = softmax(logits / temperature)
    report = report_on(probs, own.labels, threshold) | {"checkpoint": str(path), "temperature": temperature}
    report["skipped"] = [{"path": p, "reason": why} for p, why in own.skipped]
    return report


def _temperature(logits, labels, init_state, n_own: int) -> tuple[float, str]:
    errors = int((logits.argmax(1) != labels).sum())
    if errors >= MIN_ERRORS_TO_FIT:
        how = f"fitted on {n_own} of your validation images" + (
            f" and {len(labels) - n_own} MNIST ones" if len(labels) > n_own else ""
        )
        return fit_temperature(logits, labels), how
    stored = (init_state or {}).get("calibration", {}).get("temperature")
    if isinstance(stored, float):
        return stored, f"the starting model's: {errors} wrong answers among {len(labels)} validation images"
    return 1.0, f"none: only {errors} wrong answers among {len(labels)} validation images to fit on"


def report_on(probs: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, Any]:
    """What predict would answer on labelled images: read right and not marked, confidently wrong,
    marked, per class and the confusions (digits), and the share of not-a-digit images marked."""
    digits = labels >= 0
    answer, confident = probs.argmax(1), probs.max(1) >= threshold
    right = answer == labels
    report: dict[str, Any] = {"min_confidence": threshold, "n": int(digits.sum())}
    if digits.any():
        summary = summarize(answer[digits], labels[digits])
        report |= {
            "accuracy": summary["accuracy"],
            "right_not_marked": float((right & confident)[digits].mean()),
            "confidently_wrong": float((~right & confident)[digits].mean()),
            "marked": float((~confident)[digits].mean()),
            "per_class": summary["per_class"],
            "confusions": confusions(summary["confusion"]),
        }
    if (~digits).any():
        report["not_a_digit"] = {"n": int((~digits).sum()), "marked": float((~confident)[~digits].mean())}
    return report


def confusions(matrix: list[list[int]]) -> list[list[int]]:
    """The off-diagonal cells as [true, predicted, count], most frequent first."""
    cells = [[t, p, n] for t, row in enumerate(matrix) for p, n in enumerate(row) if t != p and n]
    return sorted(cells, key=lambda c: -c[2])


def format_report(report: dict[str, Any], title: str) -> list[str]:
    """The report as lines for the terminal."""
    lines = [
        f"{title}: {report['n']} digits, accuracy {100 * report['accuracy']:.2f}%, read right and not "
        f"marked {100 * report['right_not_marked']:.2f}%, confidently wrong "
        f"{100 * report['confidently_wrong']:.2f}% (--min-confidence {report['min_confidence']:.2f})"
    ] if "accuracy" in report else [f"{title}: no digits"]  # fmt: skip
    if "per_class" in report:
        per_class = report["per_class"].items()
        shown = "  ".join(f"{d}: {'-' if a is None else f'{100 * a:.0f}%'}" for d, a in per_class)
        lines.append(f"  per class  {shown}")
        wrong = ", ".join(f"{t} read as {p} x{n}" for t, p, n in report["confusions"][:8])
        lines.append(f"  confusions  {wrong or 'none'}")
    if "not_a_digit" in report:
        nd = report["not_a_digit"]
        lines.append(f"  not-a-digit: {nd['n']} images, {100 * nd['marked']:.1f}% marked unsure")
    if "mnist_test_accuracy" in report:
        lines.append(f"  MNIST test accuracy {100 * report['mnist_test_accuracy']:.2f}%")
    return lines
