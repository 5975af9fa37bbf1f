"""Test-set evaluation of a checkpoint: accuracy, per-class accuracy, confusion matrix, mistakes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import plots
from .checkpoint import load_model
from .data import load_split
from .inference import pick_device, predict_logits


def evaluate_checkpoint(
    path: Path,
    data_dir: str | None = None,
    device: str = "auto",
    allow_download: bool = True,
    draw: bool = True,
) -> dict[str, Any]:
    """Test-set metrics; with draw (and matplotlib) also NAME.confusion.png and NAME.mistakes.png."""
    model, state = load_model(path)
    model.to(pick_device(device))
    images, labels = load_split("test", data_dir, allow_download)
    predictions = predict_logits(model, torch.from_numpy(images.copy())).cpu().numpy().argmax(1)
    result = summarize(predictions, labels) | {"checkpoint": str(path), "epoch": state.get("epoch")}
    if draw and plots.available():
        result["pictures"] = [
            str(plots.confusion_matrix(result["confusion"], path.with_suffix(".confusion.png"))),
            str(plots.mistakes_grid(images, labels, predictions, path.with_suffix(".mistakes.png"))),
        ]
    return result


def summarize(predictions: np.ndarray, labels: np.ndarray, classes: int = 10) -> dict[str, Any]:
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (labels.astype(np.int64), predictions.astype(np.int64)), 1)
    per_class = {
        str(c): float(confusion[c, c] / confusion[c].sum()) if confusion[c].sum() else None
        for c in range(classes)
    }
    return {
        "accuracy": float(np.trace(confusion) / max(1, len(labels))),
        "n": int(len(labels)),
        "errors": int(len(labels) - np.trace(confusion)),
        "per_class": per_class,
        "confusion": confusion.tolist(),
    }
