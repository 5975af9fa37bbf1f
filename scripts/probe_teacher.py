"""Probe: how good, and how cheap on this CPU, is a small convnet teacher for distilling into the ViT?

    python scripts/probe_teacher.py --data-dir ../shared/mnist [--epochs 15]

Trains a small CNN (not shipped: the released model stays a pure ViT) on the same 55,000 / 5,000
split, with the same augmentation, optimizer and schedule code as `vit-edge train`, and prints its
validation accuracy per epoch and its seconds per epoch. A teacher that is both clearly better than
the ViT on validation and cheap is what DeiT-style distillation would need.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn

from vit_edge.augment import AffineAugment
from vit_edge.config import MNIST_MEAN, MNIST_STD, TrainConfig
from vit_edge.train import load_tensors, lr_factor


class SmallCNN(nn.Module):
    def __init__(self, width: int = 32):
        super().__init__()
        w = width

        def conv(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
            )

        self.features = nn.Sequential(
            conv(1, w), conv(w, w), nn.MaxPool2d(2), conv(w, 2 * w), conv(2 * w, 2 * w), nn.MaxPool2d(2),
            conv(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )  # fmt: skip
        self.head = nn.Linear(4 * w, 10)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.head(self.features((pixels - MNIST_MEAN) / MNIST_STD))


@torch.inference_mode()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    logits = torch.cat(
        [model(images[i : i + 1000].float().div(255).unsqueeze(1)) for i in range(0, len(images), 1000)]
    )
    return (logits.argmax(1) == labels).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--width", type=int, default=32)
    args = parser.parse_args()
    cfg = TrainConfig(epochs=args.epochs, lr=2e-3, weight_decay=5e-4)
    data = load_tensors(cfg, args.data_dir, False, torch.device("cpu"))
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = SmallCNN(args.width)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    augment = AffineAugment(cfg.degrees, cfg.translate, cfg.scale, cfg.elastic)
    steps = len(data.y_train) // cfg.batch_size
    total, warmup, step = steps * cfg.epochs, round(cfg.warmup_epochs * steps), 0
    rows = []
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        order = torch.randperm(len(data.y_train), generator=gen)
        for i in range(steps):
            idx = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            x = augment(data.x_train[idx].float().div_(255), generator=gen)
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * lr_factor(step, warmup, total, cfg.min_lr_ratio)
            loss = F.cross_entropy(model(x), data.y_train[idx], label_smoothing=cfg.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
        rows.append({"epoch": epoch, "seconds": time.perf_counter() - t0,
                     "val_accuracy": accuracy(model, data.x_val, data.y_val)})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"params": params, "best_val": max(r["val_accuracy"] for r in rows)}))


if __name__ == "__main__":
    main()
