"""Validation accuracy of checkpoints with faint noise added to every pixel (a JPEG's or a scanner's
speckle on the background): a model that reads empty patches as signal falls apart here.

    python scripts/faint_noise.py runs/base40.last.pt runs/sptlsa40.last.pt --data-dir ../shared/mnist \\
        --val-size 10000

Noise: |N(0, 1)| * A / 255 for A in 0, 2, 4, 8, the same draw for every model, on the held-out split
(the test set stays unread). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from vit_edge.checkpoint import load_model
from vit_edge.data import load_split, train_val_split
from vit_edge.inference import predict_logits

AMPLITUDES = (0, 2, 4, 8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", type=Path, nargs="+")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--val-size", type=int, default=10_000)
    args = parser.parse_args()
    images, labels = load_split("train", args.data_dir, allow_download=False)
    split = train_val_split(images, labels, args.val_size)
    clean = torch.from_numpy(split.val_images.copy()).float()
    truth = torch.from_numpy(split.val_labels.astype("int64"))
    speckle = torch.randn(clean.shape, generator=torch.Generator().manual_seed(0)).abs()
    report = {}
    for path in args.checkpoints:
        model = load_model(path)[0]
        report[str(path)] = {
            f"{a}/255": round(
                (predict_logits(model, noisy(clean, speckle, a)).argmax(1) == truth).float().mean().item(), 4
            )
            for a in AMPLITUDES
        }
    print(json.dumps(report, indent=2))


def noisy(clean: torch.Tensor, speckle: torch.Tensor, amplitude: float) -> torch.Tensor:
    """uint8 images with speckle * amplitude grey levels added, rounded and clipped."""
    return (clean + speckle * amplitude).round().clamp(0, 255).to(torch.uint8)


if __name__ == "__main__":
    main()
