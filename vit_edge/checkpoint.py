"""Checkpoints: plain tensors and Python containers, written atomically, read with weights_only."""

from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from .device.fileio import atomic_write
from .errors import CheckpointError
from .model import ViT, ViTConfig

FORMAT = "vit-edge-checkpoint"
FORMAT_VERSION = 1


def save(path: Path, state: dict[str, Any], fmt: str = FORMAT) -> None:
    """Write plain tensors and containers atomically, marked with their format (a checkpoint or a teacher)."""
    state = {"format": fmt, "format_version": FORMAT_VERSION, **state}
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def read(path: Path, fmt: str, what: str, how_to_make: str) -> dict[str, Any]:
    """A file written by save(..., fmt), read weights-only; anything else is one CheckpointError line."""
    path = Path(path)
    if not path.is_file():
        found = "is a folder" if path.is_dir() else "does not exist"
        raise CheckpointError(f"{what} {path} {found} ({how_to_make})")
    try:
        with warnings.catch_warnings():  # torch warns twice about legacy (non-zip) files first
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for truncated or foreign files
        raise CheckpointError(f"{what} {path} is unreadable ({_why_unreadable(path, e)})") from None
    if not isinstance(state, dict) or state.get("format") != fmt:
        raise CheckpointError(f"{path} is not a vit-edge {what} (no vit-edge format mark)")
    return state


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint without unpickling arbitrary objects; raise CheckpointError if not ours."""
    state = read(
        path,
        FORMAT,
        "checkpoint",
        "train one with `vit-edge train`, or use the shipped one: --checkpoint models/vit-edge.pt "
        "in a source checkout",
    )
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: unsupported checkpoint version {state.get('format_version')!r}")
    if not isinstance(state.get("config"), dict):
        raise CheckpointError(f"{path}: checkpoint's config is not a mapping of model options")
    return state


def _why_unreadable(path: Path, error: Exception) -> str:
    """A short reason: torch's own messages for foreign files are cryptic ("101") or run on."""
    if path.stat().st_size == 0:
        return "empty file"
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive
        with open(path, "rb") as f:
            head = f.read(4)
        if head == b"PK\x03\x04":
            return "truncated or damaged file"
        if head[:1] == b"\x80":
            return "a plain pickle, not a PyTorch checkpoint; vit-edge loads weights only"
        return "not a PyTorch checkpoint file"
    if isinstance(error, pickle.UnpicklingError) and "weights_only" in str(error).lower():
        return "it holds Python objects other than weights, which vit-edge refuses to unpickle"
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return reason[:160]


def model_config(state: dict[str, Any], path: Path) -> ViTConfig:
    try:
        return ViTConfig.from_dict(state["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(
            f"{path}: checkpoint's config is not a valid model ({_first_line(e)})"
        ) from None


def load_weights(model: ViT, weights: Any, path: Path) -> None:
    """Load a state dict, refusing missing, unexpected or wrongly shaped tensors in one line."""
    if not isinstance(weights, dict):
        raise CheckpointError(f"{path}: checkpoint holds no model weights")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    shaped = [
        k
        for k in expected
        if k in weights and (not torch.is_tensor(weights[k]) or weights[k].shape != expected[k].shape)
    ]
    for what, keys in (("misses", missing), ("has unexpected", extra), ("has wrongly shaped", shaped)):
        if keys:
            more = f" and {len(keys) - 1} more" if len(keys) > 1 else ""
            raise CheckpointError(
                f"{path}: weights do not match the model in its config: {what} {keys[0]}{more}"
            )
    try:
        model.load_state_dict(weights)
    except (RuntimeError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: weights do not load ({_first_line(e)})") from None


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:160]


def load_model(path: Path) -> tuple[ViT, dict[str, Any]]:
    """The model of a checkpoint, in eval mode, and the checkpoint's state."""
    state = load(path)
    model = ViT(model_config(state, path))
    load_weights(model, state.get("model"), path)
    return model.eval(), state
