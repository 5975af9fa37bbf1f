"""A small convnet teacher for DeiT-style distillation (training time only; never shipped).

The net is a well-known MNIST recipe: 3x3 / 5x5 conv blocks with BatchNorm and ReLU, strided 5x5
convolutions instead of pooling, dropout 0.4; Adam with a one-cycle schedule and the ViT's own
rotation / shift / zoom augmentation. Issue 21 measured one such net at 99.58% validation and 99.68%
test after 12 epochs on this 2-core CPU.

    vit-edge teacher --data-dir ../shared/mnist --out runs/teacher.pt
    vit-edge train --data-dir ../shared/mnist --teacher runs/teacher.pt
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import checkpoint
from .augment import AffineAugment
from .config import MNIST_MEAN, MNIST_STD, check_threads, usable_cores
from .data import load_split
from .device import fileio
from .errors import DataError, UsageError
from .inference import pick_device, predict_logits

FORMAT = "vit-edge-teacher"


def _conv(c_in: int, c_out: int, k: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, k, stride, padding=k // 2 if stride > 1 else 0, bias=False),
            nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]  # fmt: skip


class TeacherCNN(nn.Module):
    """28x28 pixels in [0, 1] -> 10 logits; about 0.33M parameters."""

    def __init__(self, dropout: float = 0.4):
        super().__init__()
        self.features = nn.Sequential(
            *_conv(1, 32, 3), *_conv(32, 32, 3), *_conv(32, 32, 5, 2), nn.Dropout(dropout),  # 28 -> 24 -> 12
            *_conv(32, 64, 3), *_conv(64, 64, 3), *_conv(64, 64, 5, 2), nn.Dropout(dropout),  # 12 -> 8 -> 4
            *_conv(64, 128, 4), nn.Flatten(), nn.Dropout(dropout),  # 4 -> 1
        )  # fmt: skip
        self.classifier = nn.Linear(128, 10)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features((pixels - MNIST_MEAN) / MNIST_STD))


@dataclass
class TeacherConfig:
    epochs: int = 12
    batch_size: int = 128
    lr: float = 3e-3  # the one-cycle peak
    val_size: int = 5_000  # the same seeded split as the ViT's
    seed: int = 0
    degrees: float = 10.0
    translate: float = 0.1
    scale: float = 0.1


def train_teacher(
    cfg: TeacherConfig,
    out: Path,
    data_dir: str | None = None,
    device: str = "auto",
    threads: int | None = None,
    allow_download: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train one teacher and save it (weights only) at out; returns its metrics."""
    from .train import load_tensors  # the ViT trainer's data path: same split, uint8 on the device

    if cfg.epochs < 1:
        raise UsageError("--epochs must be >= 1")
    check_threads(threads)
    dev = pick_device(device)
    torch.set_num_threads(threads or usable_cores())
    fileio.check_writable_folder(out, "--out")
    torch.manual_seed(cfg.seed)
    data = load_tensors(_as_train_config(cfg), data_dir, allow_download, dev)
    model = TeacherCNN().to(dev)
    steps = len(data.y_train) // min(cfg.batch_size, len(data.y_train))
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, cfg.lr, total_steps=steps * cfg.epochs)
    augment = AffineAugment(cfg.degrees, cfg.translate, cfg.scale)
    gen = torch.Generator(device=dev).manual_seed(cfg.seed)
    log(f"writing {out}; teacher CNN, {sum(p.numel() for p in model.parameters()):,} params, "
        f"{len(data.y_train)} train / {len(data.y_val)} val images on {dev}")  # fmt: skip
    history, t_start = [], time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.randperm(len(data.y_train), device=dev, generator=gen)
        t0 = time.perf_counter()
        for i in range(steps):
            idx = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            x = augment(data.x_train[idx].float().div_(255), generator=gen)
            loss = F.cross_entropy(model(x), data.y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        val = _accuracy(model, data.x_val, data.y_val) if len(data.y_val) else None
        history.append({"epoch": epoch, "val_accuracy": val, "seconds": time.perf_counter() - t0})
        shown = f"val_acc {100 * val:.2f}%  " if val is not None else ""
        log(f"teacher epoch {epoch}/{cfg.epochs}  {shown}{history[-1]['seconds']:.1f}s")
    metrics: dict[str, Any] = {
        "train": asdict(cfg),
        "history": history,
        "train_seconds": time.perf_counter() - t_start,
    }
    metrics["val_accuracy"] = history[-1]["val_accuracy"]
    try:
        test_images, test_labels = load_split("test", data_dir, allow_download)
        x_test = torch.from_numpy(test_images.copy()).to(dev)
        metrics["test_accuracy"] = _accuracy(
            model, x_test, torch.from_numpy(test_labels.astype("int64")).to(dev)
        )
    except DataError:  # the test set is for reporting only
        metrics["test_accuracy"] = None
    save_teacher(out, model, metrics)
    return metrics


def _as_train_config(cfg: TeacherConfig):
    from .config import TrainConfig

    return TrainConfig(val_size=cfg.val_size, batch_size=cfg.batch_size, seed=cfg.seed)


def _accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    logits = predict_logits(model, images)
    return (logits.argmax(1) == labels.to(logits.device)).float().mean().item()


def averaged_probabilities(logits: list[torch.Tensor], tau: float = 1.0) -> torch.Tensor:
    """The teachers' probabilities at temperature tau, averaged: what a student distils from."""
    return torch.stack([(z.float() / tau).softmax(-1) for z in logits]).mean(0)


def ensemble_accuracy(teachers: list[nn.Module], images: torch.Tensor, labels: torch.Tensor) -> dict:
    """Each teacher's accuracy on uint8 images, and that of their averaged probabilities: what
    `vit-edge train --teacher A --teacher B` distils from. A student inherits the ensemble's
    mistakes (docs/distillation.md), so this is the ceiling to check before any student run."""
    logits = [predict_logits(t, images) for t in teachers]
    labels = labels.to(logits[0].device)
    wrong = averaged_probabilities(logits).argmax(1) != labels
    return {
        "each": [round((z.argmax(1) == labels).float().mean().item(), 6) for z in logits],
        "ensemble": round(1 - wrong.float().mean().item(), 6),
        "ensemble_errors": int(wrong.sum()),
    }


def shared_errors(
    students: dict[str, nn.Module], teachers: list[nn.Module], images: torch.Tensor, labels: torch.Tensor
) -> dict[str, dict]:
    """Each student's errors on uint8 images, and how many of them the averaged teachers make too:
    how much of the teachers' ceiling a distilled student took on (docs/distillation.md). The
    teachers run once for all the students."""
    teachers_answer = averaged_probabilities([predict_logits(t, images) for t in teachers]).argmax(1)
    teachers_wrong = teachers_answer.cpu() != labels
    report = {}
    for name, student in students.items():
        wrong = predict_logits(student, images).argmax(1).cpu() != labels
        report[name] = {
            "errors": int(wrong.sum()),
            "shared_with_teachers": int((wrong & teachers_wrong).sum()),
        }
    return report


def save_teacher(path: Path, model: TeacherCNN, metrics: dict[str, Any]) -> None:
    checkpoint.save(Path(path), {"model": model.state_dict(), "metrics": metrics}, fmt=FORMAT)


def load_teacher(path: Path, device: torch.device) -> TeacherCNN:
    """A saved teacher in eval mode, read weights-only; refuses anything else in one line."""
    state = checkpoint.read(path, FORMAT, "teacher", "train one with `vit-edge teacher`")
    model = TeacherCNN()
    checkpoint.load_weights(model, state.get("model"), path)
    return model.to(device).eval()
