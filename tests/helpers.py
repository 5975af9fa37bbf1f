"""Shared test helpers (importable by name: tests/ is on sys.path under pytest's rootdir)."""

from __future__ import annotations

from pathlib import Path

import torch

from vit_edge import checkpoint
from vit_edge.config import ViTConfig
from vit_edge.model import ViT

SMALL = ViTConfig(patch_size=7, dim=32, depth=2, heads=4)
# The same small shape as `vit-edge train` options (two heads: fast), one thread.
SMALL_ARGS = ["--patch-size", "7", "--dim", "32", "--depth", "2", "--heads", "2", "--threads", "1"]


def random_model(cfg: ViTConfig = SMALL, seed: int = 0, scale: float = 0.2) -> ViT:
    """A model with random, non-trivial weights (so logits differ clearly between inputs)."""
    torch.manual_seed(seed)
    model = ViT(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn_like(p))
    return model


def save_checkpoint(model: ViT, path: Path) -> Path:
    checkpoint.save(path, {"config": model.cfg.to_dict(), "model": model.state_dict(), "epoch": 0})
    return path


def one_line_error(err: str) -> str:
    """The single line a failed command prints: asserts there is one, with no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def md5s(folder: Path) -> dict[str, str]:
    """md5 of every file under folder (links as their target path), to show nothing was clobbered."""
    import hashlib

    out = {}
    for p in sorted(Path(folder).rglob("*")):
        if p.is_symlink():
            out[str(p)] = "link->" + str(p.readlink())
        elif p.is_file():
            out[str(p)] = hashlib.md5(p.read_bytes()).hexdigest()
    return out
