"""Test-set evaluation of a checkpoint: accuracy, per-class accuracy, confusion matrix, mistakes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import load_model
from .data import load_split
from .train import pick_device, predict_logits


def evaluate_checkpoint(
    path: Path, data_dir: str | None = None, device: str = "auto", allow_download: bool = True
) -> dict[str, Any]:
    model, state = load_model(path)
    model.to(pick_device(device))
    images, labels = load_split("test", data_dir, allow_download)
    logits = predict_logits(model, torch.from_numpy(images.copy())).cpu().numpy()
    return summarize(logits.argmax(1), labels) | {
        "checkpoint": str(path),
        "epoch": state.get("epoch"),
    }


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
