"""`vit-edge export`: checkpoint -> FP32 ONNX (+ INT8) -> parity check against PyTorch."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vit_edge.checkpoint import load_model
from vit_edge.data import load_split, train_val_split
from vit_edge.errors import DataError, UsageError, VitEdgeError
from vit_edge.train import predict_logits

from .onnx_export import DEFAULT_OPSET, export_fp32, model_metadata
from .parity import ParityResult, check_file
from .quantize import int8_path, quantize

CALIBRATION_IMAGES = 300
RANDOM_INPUTS = 1000


class ParityFailed(VitEdgeError):
    """The files were written, but one or more parity thresholds failed."""


def check_writable(out: Path) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out.parent, prefix=f".{out.name}.probe"):
            pass
    except OSError as e:
        raise UsageError(f"--out {out}: cannot write there ({e.strerror or e})") from None


def evaluation_set(data_dir: str | None, allow_download: bool, log: Callable[[str], None]):
    """(uint8 images, labels) of the MNIST test set, or random images and None without data."""
    try:
        return load_split("test", data_dir, allow_download)
    except DataError as e:
        log(f"warning: no MNIST test data ({e}); comparing on {RANDOM_INPUTS} random inputs only")
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (RANDOM_INPUTS, 28, 28), dtype=np.uint8), None


def calibration_pixels(data_dir: str | None, allow_download: bool) -> np.ndarray:
    try:
        images, labels = load_split("train", data_dir, allow_download)
    except DataError as e:
        raise DataError(f"static quantization needs MNIST training images to calibrate: {e}") from None
    # calibrate on the training part of the split, so the validation images stay unseen
    val_size = min(5_000, len(images) // 10)
    train_images = train_val_split(images, labels, val_size).train_images[:CALIBRATION_IMAGES]
    return (train_images.astype(np.float32) / 255)[:, None]


def run_export(
    checkpoint: Path,
    out: Path | None = None,
    quantize_mode: str | None = None,
    data_dir: str | None = None,
    opset: int = DEFAULT_OPSET,
    allow_download: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Export, quantize and check; report["passed"] is False (files kept) when a threshold fails."""
    checkpoint = Path(checkpoint)
    out = Path(out) if out else checkpoint.with_suffix(".onnx")
    model, _ = load_model(checkpoint)
    check_writable(out)
    torch.set_num_threads(min(2, os.cpu_count() or 1))

    images, labels = evaluation_set(data_dir, allow_download, log)
    pixels = (images.astype(np.float32) / 255)[:, None]
    torch_logits = predict_logits(model, torch.from_numpy(images.copy())).numpy()
    torch_accuracy = float((torch_logits.argmax(1) == labels).mean()) if labels is not None else None

    meta = model_metadata(model, checkpoint, torch_accuracy)
    export_fp32(model, out, meta, opset)
    files = [(out, "fp32")]
    if quantize_mode:
        calib = calibration_pixels(data_dir, allow_download) if quantize_mode == "static" else None
        quantize(out, int8_path(out), quantize_mode, calib, meta)
        files.append((int8_path(out), "int8"))

    results: list[ParityResult] = [
        check_file(path, kind, torch_logits, pixels, labels, torch_accuracy) for path, kind in files
    ]
    report = {
        "checkpoint": str(checkpoint),
        "data": "mnist-test" if labels is not None else "random",
        "n": len(images),
        "torch_accuracy": torch_accuracy,
        "quantization": quantize_mode,
        "opset": opset,
        "files": [r.to_dict() for r in results],
        "passed": all(r.passed for r in results),
    }
    return report
