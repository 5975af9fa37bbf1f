"""Training: AdamW, warmup + cosine, gradient clipping, optional EMA, best-by-validation checkpoints."""

from __future__ import annotations

import math
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from . import checkpoint, plots
from .augment import AffineAugment
from .config import DEFAULT_CHECKPOINT, TrainConfig, ViTConfig, check_threads, usable_cores
from .data import load_split, train_val_split
from .device import fileio
from .errors import CheckpointError, TrainingInterrupted, UsageError
from .inference import pick_device, predict_logits
from .model import ViT, count_parameters, describe
from .teacher import averaged_probabilities, load_teacher


def lr_factor(step: int, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """Linear warmup to 1, then cosine down to min_ratio at the last step."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def resolve_precision(precision: str, dev: torch.device) -> str:
    """ "auto" -> "bf16" on CUDA, "fp32" on CPU; "bf16" on a CPU without native bf16 is refused."""
    if precision == "auto":
        return "bf16" if dev.type == "cuda" else "fp32"
    if precision == "bf16" and dev.type == "cpu" and not cpu_has_bf16():
        raise UsageError("--precision bf16: this CPU has no native bf16 matmuls (it would be slower)")
    return precision


def check_compile(cfg: TrainConfig) -> None:
    """torch.compile builds C++ kernels on the first step: refuse up front where it cannot."""
    if not cfg.compile:
        return
    from torch._inductor import config as inductor

    cxx = inductor.cpp.cxx[-1]  # the compiler inductor will call: $CXX, else g++ (clang++ on macOS)
    if not shutil.which(cxx):
        raise UsageError(f"--compile needs the C++ compiler {cxx} on PATH (or $CXX naming another)")


def cpu_has_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def param_groups(model: ViT, weight_decay: float) -> list[dict[str, Any]]:
    """Decay matrices only: biases, norms, the CLS token and position embeddings stay undecayed."""
    decay = [p for p in model.parameters() if p.ndim >= 2 and p.shape[0] > 1]
    keep = [p for p in model.parameters() if not (p.ndim >= 2 and p.shape[0] > 1)]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": keep, "weight_decay": 0.0}]


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
        self.statistics = _statistics(self.model)  # found once: update() runs every step

    @torch.no_grad()
    def update(self, model: ViT, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        ema = list(self.model.parameters())
        torch._foreach_lerp_(ema, [p.detach() for p in model.parameters()], 1 - decay)
        # BatchNorm's running statistics (the conv stem) are the trained model's own, not averaged
        if self.statistics:
            for mine, theirs in zip(self.statistics, _statistics(model), strict=True):
                mine.copy_(theirs)


def _statistics(model: ViT) -> list[torch.Tensor]:
    """BatchNorm's running statistics (none without the conv stem: LSA's mask is no statistic)."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    return [b for m in norms for b in m.buffers()]


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


@dataclass
class Tensors:
    """The split dataset as tensors on the training device: uint8 images, int64 labels."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    outliers: torch.Tensor | None = None  # uint8 (n, 1, 28, 28) marks that are not digits
    # `train --data`: MNIST training images (uint8 (n, 1, 28, 28), labels) mixed into every batch
    mix_x: torch.Tensor | None = None
    mix_y: torch.Tensor | None = None


def load_tensors(cfg: TrainConfig, data_dir: str | None, allow_download: bool, dev: torch.device) -> Tensors:
    images, labels = load_split("train", data_dir, allow_download)
    split = train_val_split(images, labels, cfg.val_size)
    n = min(cfg.subset or len(split.train_images), len(split.train_images))

    def tensor(a) -> torch.Tensor:
        return torch.from_numpy(a.copy()).to(dev)

    outliers = None
    if cfg.outliers:
        from .outliers import fragment_digits, make_bank

        sources = fragment_digits(split.train_images[:n], split.train_labels[:n])
        outliers = tensor(make_bank(cfg.outlier_bank, cfg.seed, sources, cfg.outlier_kinds)).unsqueeze(1)
    return Tensors(
        tensor(split.train_images[:n]).unsqueeze(1),
        tensor(split.train_labels[:n].astype("int64")),
        tensor(split.val_images),
        tensor(split.val_labels.astype("int64")),
        outliers,
    )


class Trainer:
    """One training run's state: model, EMA, optimizer, RNG, schedule, and the step it is at."""

    def __init__(
        self,
        model_cfg: ViTConfig,
        cfg: TrainConfig,
        data: Tensors,
        dev: torch.device,
        teachers: list | None = None,
    ):
        self.cfg, self.data, self.dev = cfg, data, dev
        self.precision = resolve_precision(cfg.precision, dev)  # once: autocast() runs every step
        self.teachers = teachers or []
        torch.manual_seed(cfg.seed)
        self.model = ViT(model_cfg).to(dev)
        self.optimizer = torch.optim.AdamW(param_groups(self.model, cfg.weight_decay), lr=cfg.lr)
        self.ema = EMA(self.model, cfg.ema_decay) if cfg.ema_decay else None
        # compiled for training only: evaluation, the EMA copy and export run the eager module
        self.forward_heads = self.model.forward_heads
        if cfg.compile:
            self.forward_heads = torch.compile(self.forward_heads)
        self.gen = torch.Generator(device=dev).manual_seed(cfg.seed)
        self.augment = AffineAugment(cfg.degrees, cfg.translate, cfg.scale, cfg.elastic)
        n = len(data.y_train)
        # a --data run: a share of every batch is MNIST (cfg.mix), the rest the user's images
        self.n_mix = round(cfg.batch_size * cfg.mix) if data.mix_x is not None else 0
        self.batch = min(cfg.batch_size - self.n_mix, n)
        self.steps_per_epoch = n // self.batch  # whole batches only: every step has the same size
        self.total_steps = self.steps_per_epoch * cfg.epochs
        self.warmup = min(self.total_steps, max(1, round(cfg.warmup_epochs * self.steps_per_epoch)))
        self.step = 0
        self.agreement_sum = torch.zeros((), device=dev)  # teachers' answer == label, summed over steps
        self.resume_rng: torch.Tensor | None = None

    def autocast(self):
        """bf16 autocast of the forward pass when the run's precision says so (see resolve_precision)."""
        return torch.autocast(self.dev.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    @property
    def eval_model(self) -> ViT:
        return self.ema.model if self.ema else self.model

    def train_step(self, idx: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        x, y = self.data.x_train[idx], self.data.y_train[idx]
        if self.n_mix:
            mixed = torch.randint(len(self.data.mix_y), (self.n_mix,), device=self.dev, generator=self.gen)
            x, y = torch.cat([x, self.data.mix_x[mixed]]), torch.cat([y, self.data.mix_y[mixed]])
        n_in = len(x)
        if self.data.outliers is not None:
            n_out = (max(1, n_in // 2),)
            pick = torch.randint(len(self.data.outliers), n_out, device=self.dev, generator=self.gen)
            x = torch.cat([x, self.data.outliers[pick]])
        x = self.augment(x.float().div_(255), generator=self.gen)
        for group in self.optimizer.param_groups:
            group["lr"] = cfg.lr * lr_factor(self.step, self.warmup, self.total_steps, cfg.min_lr_ratio)
        with self.autocast():
            logits, distilled = self.forward_heads(x)
        logits, distilled, x, outlier_loss = self.split_outliers(logits.float(), distilled, x, n_in)
        loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
        loss = loss + cfg.outliers * outlier_loss
        if self.teachers:
            loss = 0.5 * loss + 0.5 * self.distillation_loss(x, distilled.float(), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        if self.ema:
            self.ema.update(self.model, self.step)
        self.step += 1
        return loss.detach()

    def split_outliers(self, logits, distilled, x, n_in: int):
        """The digits' part of the batch, and the outliers' cross-entropy against the uniform answer
        (minus the mean log-probability over the 10 classes), on every head the model has."""
        if self.data.outliers is None:
            return logits, distilled, x, torch.zeros((), device=logits.device)
        heads = [logits] if distilled is None else [logits, distilled.float()]
        outlier_loss = sum(-F.log_softmax(h[n_in:], dim=-1).mean() for h in heads) / len(heads)
        distilled = None if distilled is None else distilled[:n_in]
        return logits[:n_in], distilled, x[:n_in], outlier_loss

    def distillation_loss(self, x: torch.Tensor, distilled: torch.Tensor, labels: torch.Tensor):
        """The distillation head against the teachers on this very augmented batch (DeiT).

        hard: cross-entropy with the teachers' averaged answer; soft: KL divergence from their averaged
        probabilities at temperature tau, times tau^2 so its gradients keep their size (Hinton et al.).
        """
        tau = self.cfg.distill_temperature if self.cfg.distillation == "soft" else 1.0
        with torch.no_grad():
            target = averaged_probabilities([t(x) for t in self.teachers], tau)
            self.agreement_sum += (target.argmax(1) == labels).float().mean()
        if self.cfg.distillation == "hard":
            return F.cross_entropy(distilled, target.argmax(1))
        log_p = F.log_softmax(distilled / tau, dim=-1)
        return F.kl_div(log_p, target, reduction="batchmean") * tau**2

    def train_epoch(self, label: str) -> float:
        """One pass over the training images in a fresh random order; returns the mean loss."""
        self.model.train()
        order = torch.randperm(len(self.data.y_train), device=self.dev, generator=self.gen)
        loss_sum = torch.zeros((), device=self.dev)
        self.agreement_sum = torch.zeros((), device=self.dev)
        bar = _progress(self.steps_per_epoch * self.batch, label)
        for i in range(self.steps_per_epoch):
            loss = self.train_step(order[i * self.batch : (i + 1) * self.batch])
            loss_sum += loss
            if not bar.disable and i % 10 == 0:
                bar.set_postfix(loss=f"{loss.item():.4f}")
            bar.update(self.batch)
        bar.close()
        return loss_sum.item() / self.steps_per_epoch

    def state(self, epoch: int, metrics: dict[str, Any]) -> dict[str, Any]:
        state = {
            "config": self.model.cfg.to_dict(),
            "model": self.eval_model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.gen.get_state(),
            # drop-path and dropout draw from torch's global generator: without it a resumed run
            # would differ from an uninterrupted one
            "torch_rng": torch.get_rng_state(),
            "epoch": epoch,
            "metrics": metrics,
        }
        if self.ema:
            state["raw_model"] = self.model.state_dict()
        return state

    def start_from(self, path: Path) -> None:
        """Fine-tuning: another run's (averaged) weights as the starting point, its training state left."""
        state = checkpoint.load(path)
        saved_cfg = checkpoint.model_config(state, path)
        if saved_cfg != self.model.cfg:
            raise UsageError(f"--init: {path} holds {saved_cfg}; pass the same model options")
        checkpoint.load_weights(self.model, state["model"], path)
        if self.ema:
            checkpoint.load_weights(self.ema.model, state["model"], path)

    def restore(self, path: Path) -> tuple[int, dict[str, Any]]:
        """Load a saved run's state; returns its epoch and metrics."""
        state = checkpoint.load(path)
        saved_cfg = checkpoint.model_config(state, path)
        if saved_cfg != self.model.cfg:
            raise UsageError(f"--resume: {path} holds {saved_cfg}; pass the same model options")
        if not all(k in state for k in ("optimizer", "generator", "epoch", "metrics")):
            raise UsageError(f"--resume: {path} holds no training state (a released model?); drop --resume")
        if self.ema and "raw_model" not in state:
            raise UsageError(f"--resume: {path} was trained without --ema; pass the same options")
        checkpoint.load_weights(self.model, state.get("raw_model", state["model"]), path)
        if self.ema:
            checkpoint.load_weights(self.ema.model, state["model"], path)
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            self.gen.set_state(state["generator"])
            # set just before the next epoch: logging the model's size builds a ViT, which draws
            # from the same generator in the uninterrupted run before epoch 1
            self.resume_rng = state.get("torch_rng")
            epoch = int(state["epoch"])
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise CheckpointError(f"{path}: training state does not match this run ({e})") from None
        self.step = epoch * self.steps_per_epoch
        return epoch, state["metrics"]


def train(
    model_cfg: ViTConfig,
    cfg: TrainConfig,
    out: Path = Path(DEFAULT_CHECKPOINT),
    data_dir: str | None = None,
    device: str = "auto",
    threads: int | None = None,
    resume: bool = False,
    allow_download: bool = True,
    log: Callable[[str], None] = print,
    teachers: list[Path] | tuple = (),
    init: Path | None = None,
    own_data: Path | None = None,
) -> dict[str, Any]:
    """Train, keeping the best checkpoint by validation accuracy at `out`. Returns the metrics.

    teachers: saved teacher CNNs (`vit-edge teacher`); the model then gets DeiT's distillation token.
    init: a checkpoint of the same model options to start from (fine-tuning) instead of random weights.
    own_data: a folder of the user's labelled images (vit_edge.own_digits): trained on with MNIST
    mixed in, validated on a stratified part of it, the last epoch kept, then calibrated on it.
    """
    cfg.check()
    if teachers and not model_cfg.distill:
        model_cfg = replace(model_cfg, distill=True)
    if model_cfg.distill and not teachers:
        raise UsageError("a distillation token needs a teacher: pass --teacher PATH")
    check_threads(threads)
    out = Path(out)
    dev = pick_device(device)
    resolve_precision(cfg.precision, dev)  # refuses bf16 on a CPU without it, before any work
    check_compile(cfg)
    torch.set_num_threads(threads or usable_cores())  # small matmuls scale to a few cores, not beyond
    last_path, metrics_path = out.with_suffix(".last.pt"), out.with_suffix(".metrics.json")
    curves_path = out.with_suffix(".curves.png")
    if resume and not (last_path.exists() or out.exists()):
        raise UsageError(f"--resume: no run saved at {out} to continue (drop --resume to start one)")
    fileio.check_writable_folder(out, "--out")
    for leftover in fileio.remove_stale_temporaries(out, last_path, metrics_path, curves_path):
        log(f"removed {leftover}, left by an interrupted save")
    saved = {"epoch": 0}  # the last epoch on disk, for an honest message on Ctrl-C
    try:
        metrics, data, held_out = _run(
            model_cfg, cfg, out, data_dir, dev, resume, allow_download, log, saved, teachers, init, own_data
        )
    except KeyboardInterrupt:
        if resume and saved["epoch"] == 0:
            raise TrainingInterrupted(
                "interrupted before training resumed; the saved run is intact; "
                "rerun the same command with --resume to continue"
            ) from None
        if saved["epoch"] == 0:
            raise TrainingInterrupted(
                "interrupted before the first checkpoint: nothing was saved; "
                "rerun the same command without --resume to start again"
            ) from None
        raise TrainingInterrupted(
            f"interrupted; epochs up to {saved['epoch']} are saved ({last_path}); "
            "rerun the same command with --resume to continue"
        ) from None
    if own_data is not None:
        from . import own_digits

        init_state = checkpoint.load(Path(init)) if init is not None else None
        report = own_digits.finish(out, held_out, own_data, init_state, data_dir, allow_download, log)
        metrics["own_data"] = report
        fileio.write_json(metrics_path, metrics)
        for line in own_digits.format_report(report, "your validation split"):
            log(line)
        log(f"kept the last epoch; checkpoint {out}, metrics {metrics_path}")
        return metrics
    kept = (
        f"best val_acc {100 * metrics['best_val_accuracy']:.2f}% at epoch {metrics['best_epoch']}"
        if len(data.y_val)
        else f"no validation split: kept the last epoch, {metrics['best_epoch']}"
    )
    log(f"{kept}; checkpoint {out}, metrics {metrics_path}")  # fmt: skip
    return metrics


def _run(
    model_cfg,
    cfg,
    out,
    data_dir,
    dev,
    resume,
    allow_download,
    log,
    saved,
    teacher_paths=(),
    init=None,
    own_data=None,
) -> tuple[dict[str, Any], Tensors, Any]:
    """Load the data, build or restore the run, and train its remaining epochs."""
    last_path, metrics_path = out.with_suffix(".last.pt"), out.with_suffix(".metrics.json")
    curves_path = out.with_suffix(".curves.png")
    held_out = None  # a --data run's (vit_edge.own_digits.HeldOut)
    if own_data is None:
        data = load_tensors(cfg, data_dir, allow_download, dev)
    else:
        from . import own_digits

        data, held_out = own_digits.load_tensors(cfg, Path(own_data), data_dir, allow_download, dev, log)
    teachers = [load_teacher(p, dev) for p in teacher_paths]
    trainer = Trainer(model_cfg, cfg, data, dev, teachers)
    metrics: dict[str, Any] = {
        "config": model_cfg.to_dict(), "train": asdict(cfg), "history": [],
        "best_epoch": 0, "best_val_accuracy": 0.0, "train_seconds": 0.0,
        "params": count_parameters(trainer.model), "device": str(dev), "threads": torch.get_num_threads(),
        "precision": trainer.precision,
        "n_train": len(data.y_train), "n_val": len(data.y_val),
        "teachers": [{"path": str(p), "sha256": fileio.sha256(p)} for p in teacher_paths],
        "init": None if init is None else {"path": str(init), "sha256": fileio.sha256(Path(init))},
        "data": None if own_data is None else str(own_data),
    }  # fmt: skip
    if cfg.outliers:
        metrics["outlier_bank"] = len(data.outliers)
    start_epoch = 0
    if init is not None and not resume:
        trainer.start_from(Path(init))
        log(f"starting from the weights of {init}")
    if resume:
        source = last_path if last_path.exists() else out
        start_epoch, previous = trainer.restore(source)
        if [t["sha256"] for t in previous.get("teachers", [])] != [t["sha256"] for t in metrics["teachers"]]:
            raise UsageError(
                f"--resume: {source} was trained with other teachers; pass the same --teacher files"
            )
        metrics = previous | {"train": metrics["train"]}  # this run's hyperparameters, e.g. more epochs
        log(f"resuming from epoch {start_epoch} ({source})")
    if start_epoch >= cfg.epochs:
        log(f"nothing to do: already trained {start_epoch} of {cfg.epochs} epochs")
        return metrics, data, held_out
    pictures = f", {curves_path} (curves)" if plots.available() else ""
    log(f"writing {out} (kept checkpoint), {last_path} (latest epoch), {metrics_path}{pictures}")
    compiled = ", compiled" if cfg.compile else ""
    mixed = f" (+ {trainer.n_mix} MNIST images a batch)" if trainer.n_mix else ""
    log(f"{describe(model_cfg)}; {len(data.y_train)} train{mixed} / {len(data.y_val)} val images on {dev}, "
        f"{torch.get_num_threads()} threads, {metrics['precision']}{compiled}")  # fmt: skip

    saved["epoch"] = start_epoch
    if trainer.resume_rng is not None:
        torch.set_rng_state(trainer.resume_rng)
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        t0 = time.perf_counter()
        train_loss = trainer.train_epoch(f"epoch {epoch}/{cfg.epochs}")
        seconds = time.perf_counter() - t0
        val_acc, val_loss = validate(trainer.eval_model, data)
        best = record_epoch(metrics, keep_last=own_data is not None, row={
            "epoch": epoch, "train_loss": train_loss, "val_accuracy": val_acc, "val_loss": val_loss,
            "lr": trainer.optimizer.param_groups[0]["lr"], "seconds": seconds,
            "images_per_s": trainer.steps_per_epoch * trainer.batch / seconds,
        })  # fmt: skip
        if teachers:  # how often the teachers' answer is the label: hard distillation's information
            agreement = trainer.agreement_sum.item() / trainer.steps_per_epoch
            metrics["history"][-1]["teacher_agreement"] = agreement
        state = trainer.state(epoch, metrics)
        if best:
            checkpoint.save(out, state)
        checkpoint.save(last_path, state)
        saved["epoch"] = epoch
        fileio.write_json(metrics_path, metrics)
        if plots.available():
            plots.training_curves(metrics, curves_path)
        log(epoch_line(metrics["history"][-1], cfg.epochs, best))
    return metrics, data, held_out


def validate(model: ViT, data: Tensors) -> tuple[float | None, float | None]:
    """Validation accuracy and loss; None, None when no images are held out (--val-size 0)."""
    if len(data.y_val) == 0:
        return None, None
    return accuracy_and_loss(model, data.x_val, data.y_val)


def record_epoch(metrics: dict[str, Any], row: dict[str, Any], keep_last: bool = False) -> bool:
    """Append an epoch to the history; True when it is the best so far by validation accuracy.

    Without a validation split (or with keep_last: a --data run, whose few validation images tie
    many epochs at 100%) every epoch is "best", so the checkpoint holds the last one.
    """
    metrics["history"].append(row)
    metrics["train_seconds"] += row["seconds"]
    if keep_last:
        metrics["best_epoch"], metrics["best_val_accuracy"] = row["epoch"], row["val_accuracy"]
        return True
    if row["val_accuracy"] is None:
        metrics["best_epoch"] = row["epoch"]
        return True
    best = row["val_accuracy"] > metrics["best_val_accuracy"]
    if best:
        metrics["best_epoch"], metrics["best_val_accuracy"] = row["epoch"], row["val_accuracy"]
    return best


def epoch_line(row: dict[str, Any], epochs: int, best: bool) -> str:
    if row["val_accuracy"] is None:
        val, best = "no validation", False
    else:
        val = f"val_acc {100 * row['val_accuracy']:.2f}%  val_loss {row['val_loss']:.4f}"
    if "teacher_agreement" in row:
        val += f"  teachers=label {100 * row['teacher_agreement']:.2f}%"
    return (
        f"epoch {row['epoch']}/{epochs}  loss {row['train_loss']:.4f}  {val}  "
        f"{row['images_per_s']:.0f} img/s  {row['seconds']:.1f}s" + ("  *best" if best else "")
    )
