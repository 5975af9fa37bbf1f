"""`vit-edge export`: checkpoint -> FP32 ONNX (+ INT8) -> parity check against PyTorch.

Both files are built and checked in a private temporary folder, their parity outcome is written
into their own metadata (`parity`: pass, fail or skipped), and only then are they renamed into
place: nothing half-written, and an input is never overwritten.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from vit_edge.checkpoint import load_model
from vit_edge.config import DEFAULT_MIN_CONFIDENCE, DEFAULT_OPSET
from vit_edge.data import load_split, train_val_split
from vit_edge.device.calibration import expected_calibration_error, fit_temperature, softmax
from vit_edge.device.fileio import check_writable_folder
from vit_edge.errors import DataError, UsageError
from vit_edge.inference import predict_logits

from .onnx_export import (
    export_fp32,
    fold_temperature,
    model_metadata,
    save_checked,
    set_metadata,
)
from .parity import ParityResult, check_file
from .quantize import int8_path, quantize_proto

CALIBRATION_IMAGES = 300
RANDOM_INPUTS = 1000


def check_paths(checkpoint: Path, out: Path, quantize_mode: str | None) -> None:
    """Refuse outputs that would overwrite the checkpoint (or each other) before any work."""
    targets = [out] + ([int8_path(out)] if quantize_mode else [])
    for target in targets:
        same = target.exists() and checkpoint.exists() and os.path.samefile(target, checkpoint)
        if same or target.resolve() == checkpoint.resolve():
            raise UsageError(f"--out {target} is the checkpoint itself; it would be overwritten")
        if target.suffix != ".onnx":
            raise UsageError(f"--out {out}: the file name must end in .onnx")
        if target.is_dir():
            raise UsageError(f"--out {target}: is a folder; give a file name")
    check_writable_folder(out, "--out")


def random_inputs() -> tuple[np.ndarray, None]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (RANDOM_INPUTS, 28, 28), dtype=np.uint8), None


def evaluation_set(
    data_dir: str | None,
    allow_download: bool,
    log: Callable[[str], None],
    use_test: bool,
    state: dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(uint8 images, labels, what they are): data the model knows. The validation digits a
    `train --data` run stored in its checkpoint (vit_edge.own_digits), then the MNIST test set when
    it is there; random images and None without either.

    use_test=False leaves the test set out, so that a model being ranked on validation can be
    exported without its test score being printed.
    """
    own = own_validation(state or {})
    parts, names = ([own], ["own-validation"]) if own is not None else ([], [])
    if not use_test:
        log("--no-test: the test set is not read")
    else:
        try:
            parts.append(load_split("test", data_dir, allow_download))
            names.append("mnist-test")
        except DataError as e:
            log(f"warning: no MNIST test data ({e})")
    if not parts:
        log(f"comparing on {RANDOM_INPUTS} random inputs only: INT8 agreement is not judged on them")
        return (*random_inputs(), "random")
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1].astype(np.int64) for p in parts])
    return images, labels, "+".join(names)


def own_validation(state: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """The validation digits (uint8 (n, 28, 28), labels) a --data run stored, or None."""
    own = state.get("own_data")
    if not isinstance(own, dict) or not torch.is_tensor(own.get("val_images")):
        return None
    images, labels = own["val_images"].numpy(), own["val_labels"].numpy().astype(np.int64)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels):
        return None
    digits = labels >= 0  # not-a-digit images have no answer to agree on
    return (images[digits].astype(np.uint8), labels[digits]) if digits.any() else None


def calibration_pixels(data_dir: str | None, allow_download: bool) -> np.ndarray:
    try:
        images, labels = load_split("train", data_dir, allow_download)
    except DataError as e:
        raise DataError(f"static quantization needs MNIST training images to calibrate: {e}") from None
    # calibrate on the training part of the split, so the validation images stay unseen
    val_size = min(5_000, len(images) // 10)
    train_images = train_val_split(images, labels, val_size).train_images[:CALIBRATION_IMAGES]
    return (train_images.astype(np.float32) / 255)[:, None]


def stored_calibration(state: dict[str, Any]) -> dict[str, Any]:
    """The calibration a release stored in its checkpoint (scripts/release.py): temperature,
    min_confidence and temperature_source, each checked; {} when there is none."""
    stored = state.get("calibration")
    if not isinstance(stored, dict):
        return {}
    found: dict[str, Any] = {}
    t, m = stored.get("temperature"), stored.get("min_confidence")
    if isinstance(t, float) and 0 < t < float("inf"):
        found["temperature"] = t
        found["temperature_source"] = str(stored.get("temperature_source", "stored in the checkpoint"))
    if isinstance(m, float) and 0 <= m <= 1:
        found["min_confidence"] = m
    return found


def choose_min_confidence(state: dict[str, Any], given: float | None) -> float:
    """Given on the command line; else the one stored in the checkpoint; else the default."""
    if given is not None:
        return given
    return stored_calibration(state).get("min_confidence", DEFAULT_MIN_CONFIDENCE)


def choose_temperature(
    model, state: dict[str, Any], given: float | None, data_dir: str | None, allow_download: bool
) -> tuple[float, str]:
    """The temperature to fold in, and where it came from.

    Given on the command line; else the one a release stored in the checkpoint; else fitted on
    the checkpoint's own validation split (the same seeded split training held out); else 1 (a run
    on all 60,000 images has no held-out data: pass the temperature fitted for the same recipe's
    55,000 / 5,000 run).
    """
    if given is not None:
        return given, "given (--temperature)"
    if "temperature" in (stored := stored_calibration(state)):
        return stored["temperature"], stored["temperature_source"]
    held_out = validation_logits(model, state, data_dir, allow_download)
    if held_out is None:
        return 1.0, "none: the checkpoint holds no validation split (pass --temperature)"
    logits, labels = held_out
    return fit_temperature(logits, labels), f"fitted on {len(labels)} validation images"


def validation_logits(
    model, state: dict[str, Any], data_dir: str | None, allow_download: bool
) -> tuple[np.ndarray, np.ndarray] | None:
    """The model's logits and the labels of the validation split its run held out (the same seeded
    split), or None for a run on all 60,000 images."""
    val_size = int(state.get("metrics", {}).get("train", {}).get("val_size", 0) or 0)
    if val_size <= 0:
        return None
    images, labels = load_split("train", data_dir, allow_download)
    split = train_val_split(images, labels, val_size)
    logits = predict_logits(model, torch.from_numpy(split.val_images.copy())).numpy()
    return logits, split.val_labels.astype(np.int64)


def run_export(
    checkpoint: Path,
    out: Path | None = None,
    quantize_mode: str | None = None,
    data_dir: str | None = None,
    opset: int = DEFAULT_OPSET,
    allow_download: bool = True,
    log: Callable[[str], None] = print,
    temperature: float | None = None,
    min_confidence: float | None = None,
    check: bool = True,
    use_test: bool = True,
) -> dict[str, Any]:
    """Export, quantize and check; report["passed"] is False (files kept) when a threshold fails."""
    checkpoint = Path(checkpoint)
    out = Path(out) if out else checkpoint.with_suffix(".onnx")
    if temperature is not None and not (0 < temperature < float("inf")):
        raise UsageError(f"--temperature {temperature}: must be a positive number")
    model, state = load_model(checkpoint)
    min_confidence = choose_min_confidence(state, min_confidence)
    check_paths(checkpoint, out, quantize_mode)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    calib = calibration_pixels(data_dir, allow_download) if quantize_mode == "static" else None

    images, labels, data_name = evaluation_set(data_dir, allow_download, log, use_test, state)
    pixels = (images.astype(np.float32) / 255)[:, None]
    raw_logits = predict_logits(model, torch.from_numpy(images.copy())).numpy()
    torch_accuracy = float((raw_logits.argmax(1) == labels).mean()) if labels is not None else None
    if labels is None and temperature is None and use_test and not stored_calibration(state):
        temperature_used, source = 1.0, "none: no MNIST data to fit on"
    else:
        temperature_used, source = choose_temperature(model, state, temperature, data_dir, allow_download)
    fold_temperature(model, temperature_used)
    torch_logits = predict_logits(model, torch.from_numpy(images.copy())).numpy()

    meta = model_metadata(model, checkpoint, torch_accuracy) | {
        "temperature": f"{temperature_used:.4f}",
        "temperature_source": source,
        "min_confidence": f"{min_confidence:g}",
    }
    calibration = {"temperature": temperature_used, "temperature_source": source}
    if labels is not None:
        calibration["ece_before"] = expected_calibration_error(softmax(raw_logits), labels)
        calibration["ece_after"] = expected_calibration_error(softmax(torch_logits), labels)
        meta["test_ece"] = f"{calibration['ece_after']:.4f}"
    protos = [(out, "fp32", export_fp32(model, meta, opset))]
    if quantize_mode:
        protos.append((int8_path(out), "int8", quantize_proto(protos[0][2], quantize_mode, calib, meta)))

    results: list[ParityResult] = []
    with tempfile.TemporaryDirectory(prefix="vit-edge-parity-") as work:
        for path, kind, proto in protos:
            if check:
                staged = Path(work) / path.name
                onnx.save_model(proto, str(staged))
                result = check_file(staged, kind, torch_logits, pixels, labels, torch_accuracy)
                result.file = str(path)
                results.append(result)
                outcome = "pass" if result.passed else "fail"
                detail = "; ".join(result.failures) or f"checked on {result.n_compared} images"
            else:
                outcome, detail = "skipped", "--skip-parity"
            set_metadata(proto, {"parity": outcome, "parity_detail": detail})
            save_checked(proto, path)
            log(f"wrote {path} (parity: {outcome}, temperature {temperature_used:.4f}: {source})")
    return {
        "checkpoint": str(checkpoint),
        "data": data_name,
        "n": len(images),
        "torch_accuracy": torch_accuracy,
        "quantization": quantize_mode,
        "opset": opset,
        "calibration": calibration,
        "files": [r.to_dict() for r in results],
        "passed": all(r.passed for r in results),
        "parity": "checked" if check else "skipped",
    }


def run_c_export(
    checkpoint: Path,
    out: Path | None = None,
    data_dir: str | None = None,
    allow_download: bool = True,
    log: Callable[[str], None] = print,
    temperature: float | None = None,
    min_confidence: float | None = None,
) -> dict[str, Any]:
    """`export --format c`: the checkpoint as a folder of C99 (see export/c_export.py), with the
    same calibration as the ONNX export (given, stored in the checkpoint, or fitted on its
    validation split). The folder is written whole or not at all (see write_c)."""
    from .c_export import unsupported, write_c

    checkpoint = Path(checkpoint)
    out = Path(out) if out else checkpoint.with_name(checkpoint.stem + "_c")
    if temperature is not None and not (0 < temperature < float("inf")):
        raise UsageError(f"--temperature {temperature}: must be a positive number")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: --format c writes a folder, and this is a file")
    model, state = load_model(checkpoint)
    min_confidence = choose_min_confidence(state, min_confidence)
    if missing := unsupported(model.cfg):
        raise UsageError(
            f"{checkpoint}: the C engine does not run {' or '.join(missing)} yet; "
            "export it as ONNX (--format onnx)"
        )
    temperature_used, source = choose_temperature(model, state, temperature, data_dir, allow_download)
    fold_temperature(model, temperature_used)
    written = write_c(model, out, min_confidence, temperature_used)
    log(f"wrote {len(written)} files to {out}/ (temperature {temperature_used:.4f}: {source})")
    return {"out": str(out), "files": [str(p) for p in written], "temperature": temperature_used}
