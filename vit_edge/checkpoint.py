"""Checkpoints: plain tensors and Python containers, written atomically, read with weights_only."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError
from .model import ViT, ViTConfig

FORMAT = "vit-edge-checkpoint"
FORMAT_VERSION = 1


def atomic_write(path: Path, write: Any) -> None:
    """Call write(tmp_path), then rename onto path: readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def save(path: Path, state: dict[str, Any]) -> None:
    state = {"format": FORMAT, "format_version": FORMAT_VERSION, **state}
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint without unpickling arbitrary objects; raise CheckpointError if not ours."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist (train one with `vit-edge train`)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for truncated or foreign files
        raise CheckpointError(f"checkpoint {path} is unreadable ({_why_unreadable(path, e)})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a vit-edge checkpoint")
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: unsupported checkpoint version {state.get('format_version')}")
    return state


def _why_unreadable(path: Path, error: Exception) -> str:
    """A short reason: torch's own messages for foreign files are cryptic ("101") or run on."""
    if path.stat().st_size == 0:
        return "empty file"
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive
        with open(path, "rb") as f:
            zip_header = f.read(4) == b"PK\x03\x04"
        return "truncated or damaged file" if zip_header else "not a PyTorch checkpoint file"
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return reason[:200]


def load_model(path: Path) -> tuple[ViT, dict[str, Any]]:
    """The model of a checkpoint, in eval mode, and the checkpoint's state."""
    state = load(path)
    try:
        model = ViT(ViTConfig.from_dict(state["config"]))
        model.load_state_dict(state["model"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: checkpoint does not hold a valid model ({e})") from None
    return model.eval(), state


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")
