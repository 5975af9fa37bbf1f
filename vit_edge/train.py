"""Training: AdamW, warmup + cosine, gradient clipping, optional EMA, best-by-validation checkpoints."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from . import checkpoint, plots
from .augment import AffineAugment
from .config import TrainConfig, ViTConfig
from .data import load_split, train_val_split
from .errors import UsageError, VitEdgeError
from .model import ViT, count_parameters, describe

DEFAULT_OUT = Path("runs/vit-edge.pt")


class TrainingInterrupted(VitEdgeError):
    exit_code = 130


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: CUDA is not available on this machine (use --device cpu)")
    if name not in ("cpu", "cuda"):
        raise UsageError(f"--device {name}: expected auto, cpu or cuda")
    return torch.device(name)


def default_threads() -> int:
    """All cores this process may use: small matmuls scale to a few cores, not beyond."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def lr_factor(step: int, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """Linear warmup to 1, then cosine down to min_ratio at the last step."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def param_groups(model: ViT, weight_decay: float) -> list[dict[str, Any]]:
    """Decay matrices only: biases, norms, the CLS token and position embeddings stay undecayed."""
    decay = [p for p in model.parameters() if p.ndim >= 2 and p.shape[0] > 1]
    keep = [p for p in model.parameters() if not (p.ndim >= 2 and p.shape[0] > 1)]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": keep, "weight_decay": 0.0}]


@torch.inference_mode()
def predict_logits(model: ViT, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Logits for uint8 images (n, 28, 28) on the model's device, in batches."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(images), batch_size):
        x = images[i : i + batch_size].to(device).float().div_(255).unsqueeze(1)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out.append(model(x).float())
    return torch.cat(out) if out else torch.empty(0, model.cfg.num_classes)


def accuracy_and_loss(model: ViT, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    logits = predict_logits(model, images)
    labels = labels.to(logits.device).long()
    acc = (logits.argmax(1) == labels).float().mean().item()
    return acc, F.cross_entropy(logits, labels).item()


class EMA:
    """Exponential moving average of the weights; evaluated and saved in place of the raw weights.

    The decay warms up as min(decay, (1 + t) / (10 + t)) so that short runs average recent
    weights instead of the random initialisation.
    """

    def __init__(self, model: ViT, decay: float):
        self.decay = decay
        self.model = ViT(model.cfg).to(next(model.parameters()).device)
        self.model.load_state_dict(model.state_dict())
        self.model.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: ViT, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        ema = list(self.model.parameters())
        torch._foreach_lerp_(ema, [p.detach() for p in model.parameters()], 1 - decay)


def _progress(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="img",
        unit_scale=True,
        leave=False,
        disable=not sys.stderr.isatty(),
        file=sys.stderr,
    )


def train(
    model_cfg: ViTConfig,
    cfg: TrainConfig,
    out: Path = DEFAULT_OUT,
    data_dir: str | None = None,
    device: str = "auto",
    threads: int | None = None,
    resume: bool = False,
    allow_download: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train, keeping the best checkpoint by validation accuracy at `out`. Returns the metrics."""
    cfg.check()
    out = Path(out)
    dev = pick_device(device)
    torch.set_num_threads(threads or default_threads())
    last_path = out.with_suffix(".last.pt")
    metrics_path = out.with_suffix(".metrics.json")

    images, labels = load_split("train", data_dir, allow_download)
    split = train_val_split(images, labels, cfg.val_size)
    n_train = min(cfg.subset or len(split.train_images), len(split.train_images))
    x_train = torch.from_numpy(split.train_images[:n_train].copy()).to(dev).unsqueeze(1)
    y_train = torch.from_numpy(split.train_labels[:n_train].astype("int64")).to(dev)
    x_val = torch.from_numpy(split.val_images.copy()).to(dev)
    y_val = torch.from_numpy(split.val_labels.astype("int64")).to(dev)

    torch.manual_seed(cfg.seed)
    model = ViT(model_cfg).to(dev)
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr)
    ema = EMA(model, cfg.ema_decay) if cfg.ema_decay else None
    gen = torch.Generator(device=dev).manual_seed(cfg.seed)
    augment = AffineAugment(cfg.degrees, cfg.translate, cfg.scale)
    batch = min(cfg.batch_size, n_train)
    steps_per_epoch = n_train // batch  # whole batches only: every step sees the same batch size
    total_steps = steps_per_epoch * cfg.epochs
    warmup = min(total_steps, max(1, round(cfg.warmup_epochs * steps_per_epoch)))
    metrics: dict[str, Any] = {
        "config": model_cfg.to_dict(),
        "train": _jsonable(cfg),
        "history": [],
        "best_epoch": 0,
        "best_val_accuracy": 0.0,
        "train_seconds": 0.0,
        "params": count_parameters(model),
        "device": str(dev),
        "threads": torch.get_num_threads(),
        "n_train": n_train,
        "n_val": len(x_val),
    }
    start_epoch = 0
    if resume:
        start_epoch, metrics = _restore(
            last_path if last_path.exists() else out, model_cfg, model, optimizer, ema, gen, metrics
        )
        log(f"resuming from epoch {start_epoch} ({last_path if last_path.exists() else out})")
    if start_epoch >= cfg.epochs:
        log(f"nothing to do: already trained {start_epoch} of {cfg.epochs} epochs")
        return metrics
    log(
        f"{describe(model_cfg)}; {n_train} train / {len(x_val)} val images on {dev}, "
        f"{torch.get_num_threads()} threads"
    )

    step = start_epoch * steps_per_epoch
    epoch = start_epoch
    try:
        for epoch in range(start_epoch + 1, cfg.epochs + 1):
            model.train()
            t0 = time.perf_counter()
            order = torch.randperm(n_train, device=dev, generator=gen)
            loss_sum = torch.zeros((), device=dev)
            bar = _progress(steps_per_epoch * batch, f"epoch {epoch}/{cfg.epochs}")
            for i in range(steps_per_epoch):
                idx = order[i * batch : (i + 1) * batch]
                x = augment(x_train[idx].float().div_(255), generator=gen)
                for group in optimizer.param_groups:
                    group["lr"] = cfg.lr * lr_factor(step, warmup, total_steps, cfg.min_lr_ratio)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                    logits = model(x)
                loss = F.cross_entropy(logits.float(), y_train[idx], label_smoothing=cfg.label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                optimizer.step()
                if ema:
                    ema.update(model, step)
                loss_sum += loss.detach()
                step += 1
                if not bar.disable and i % 10 == 0:
                    elapsed = time.perf_counter() - t0
                    bar.set_postfix(loss=f"{loss.item():.4f}", img_s=f"{(i + 1) * batch / elapsed:.0f}")
                bar.update(batch)
            bar.close()
            seconds = time.perf_counter() - t0
            eval_model = ema.model if ema else model
            val_acc, val_loss = accuracy_and_loss(eval_model, x_val, y_val)
            row = {
                "epoch": epoch,
                "train_loss": loss_sum.item() / steps_per_epoch,
                "val_accuracy": val_acc,
                "val_loss": val_loss,
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": seconds,
                "images_per_s": steps_per_epoch * batch / seconds,
            }
            metrics["history"].append(row)
            metrics["train_seconds"] += seconds
            best = val_acc > metrics["best_val_accuracy"]
            if best:
                metrics["best_epoch"], metrics["best_val_accuracy"] = epoch, val_acc
            state = _state(model, optimizer, ema, gen, epoch, metrics)
            if best:
                checkpoint.save(out, state)
            checkpoint.save(last_path, state)
            checkpoint.write_json(metrics_path, metrics)
            if plots.available():
                plots.training_curves(metrics, out.with_suffix(".curves.png"))
            log(
                f"epoch {epoch}/{cfg.epochs}  loss {row['train_loss']:.4f}  "
                f"val_acc {100 * val_acc:.2f}%  val_loss {val_loss:.4f}  "
                f"{row['images_per_s']:.0f} img/s  {seconds:.1f}s" + ("  *best" if best else "")
            )
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            f"interrupted in epoch {epoch}; checkpoints up to epoch {epoch - 1} are intact "
            f"({out}); rerun the same command with --resume to continue"
        ) from None
    log(
        f"best val_acc {100 * metrics['best_val_accuracy']:.2f}% at epoch {metrics['best_epoch']}; "
        f"checkpoint {out}, metrics {metrics_path}"
    )
    return metrics


def _state(model, optimizer, ema, gen, epoch, metrics) -> dict[str, Any]:
    state = {
        "config": model.cfg.to_dict(),
        "model": (ema.model if ema else model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "generator": gen.get_state(),
        "epoch": epoch,
        "metrics": metrics,
    }
    if ema:
        state["raw_model"] = model.state_dict()
    return state


def _restore(path, model_cfg, model, optimizer, ema, gen, metrics) -> tuple[int, dict[str, Any]]:
    state = checkpoint.load(path)
    saved_cfg = ViTConfig.from_dict(state.get("config", {}))
    if saved_cfg != model_cfg:
        raise UsageError(f"--resume: {path} holds {saved_cfg}; pass the same model options")
    if "optimizer" not in state or "generator" not in state:
        raise UsageError(f"--resume: {path} holds no training state")
    if ema and "raw_model" not in state:
        raise UsageError(f"--resume: {path} was trained without --ema; pass the same options")
    model.load_state_dict(state.get("raw_model", state["model"]))
    if ema:
        ema.model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    gen.set_state(state["generator"])
    restored = state["metrics"]
    restored["train"] = metrics["train"]
    return int(state["epoch"]), restored


def _jsonable(cfg: TrainConfig) -> dict[str, Any]:
    return asdict(cfg)
