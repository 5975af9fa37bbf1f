"""Probe: shift-averaged predictions (test-time augmentation), ensembles and shared errors.

    python scripts/probe_views.py runs/r5.pt runs/r8.pt ... --data-dir ../shared/mnist

For each checkpoint, accuracy on the validation split (the seeded 5,000 of `vit-edge train`) and on
the test set, from the plain image and from the softmax averaged over the image and its four
one-pixel shifts; then the ensemble of all, and how many images most of the models get wrong.
A probe for docs/recipes.md, not part of the package: `predict` classifies the plain image.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from vit_edge.checkpoint import load_model
from vit_edge.data import load_split, train_val_split
from vit_edge.train import predict_logits

SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))  # (rows, columns); MNIST borders are blank


def views(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    """Softmax of every shifted view: (len(SHIFTS), n, 10)."""
    out = []
    for dy, dx in SHIFTS:
        shifted = np.roll(images, (dy, dx), axis=(1, 2))
        out.append(torch.softmax(predict_logits(model, torch.from_numpy(shifted)).float(), 1).numpy())
    return np.stack(out)


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return 100 * float((probs.argmax(1) == labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", type=Path, nargs="+")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--limit", type=int, default=None, help="first N images of each split (smoke runs)")
    args = parser.parse_args()

    train_images, train_labels = load_split("train", args.data_dir, allow_download=False)
    split = train_val_split(train_images, train_labels)
    test_images, test_labels = load_split("test", args.data_dir, allow_download=False)
    sets = {
        "val": (split.val_images[: args.limit], split.val_labels[: args.limit]),
        "test": (test_images[: args.limit], test_labels[: args.limit]),
    }
    probs: dict[str, list[np.ndarray]] = {name: [] for name in sets}
    print("checkpoint | val | val, 5 views | test | test, 5 views")
    for path in args.checkpoints:
        model, _ = load_model(path)
        row = [path.stem]
        for name, (images, labels) in sets.items():
            p = views(model.eval(), images)
            probs[name].append(p)
            row += [f"{accuracy(p[0], labels):.2f}", f"{accuracy(p.mean(0), labels):.2f}"]
        print(" | ".join(row))
    for name, (_, labels) in sets.items():
        plain = np.stack([p[0] for p in probs[name]])
        wrong = (plain.argmax(2) != labels).sum(0)
        most = (wrong > len(plain) / 2).sum()
        print(
            f"{name}: ensemble of {len(plain)} {accuracy(plain.mean(0), labels):.2f}%; "
            f"{(wrong == len(plain)).sum()} images wrong in every model, {most} in most of them"
        )


if __name__ == "__main__":
    main()
