"""Model and training configuration: plain dataclasses, importable without torch."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields

from .errors import UsageError

MNIST_TRAIN_IMAGES = 60_000
# Where `vit-edge train` writes its run and where evaluate / export look for it by default.
DEFAULT_CHECKPOINT = "runs/vit-edge.pt"
DEFAULT_OPSET = 17  # the TorchScript exporter's opset (see docs/exporter.md)
# predict marks answers whose calibrated confidence is under this, for a model that records no
# min_confidence of its own; a release records the value chosen on validation data (0.95 today,
# scripts/release.py) and export records --min-confidence.
DEFAULT_MIN_CONFIDENCE = 0.9

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # of the MNIST training pixels scaled to [0, 1]


# the kinds of non-digit mark vit_edge.outliers draws, in the order its bank was first drawn
OUTLIER_KINDS = ("glyph", "strokes", "shape", "noise", "scribble", "curl", "fragment")


@dataclass(frozen=True)
class ViTConfig:
    image_size: int = 28
    channels: int = 1
    patch_size: int = 4
    dim: int = 64
    depth: int = 6
    heads: int = 4
    mlp_ratio: float = 2.0
    dropout: float = 0.0
    drop_path: float = 0.1  # stochastic depth of the last block; earlier blocks get less (training only)
    num_classes: int = 10
    # Options with published evidence (issue 21); off in this base shape, on in TRAINED_MODEL:
    distill: bool = False  # DeiT's distillation token with its own head (Touvron et al., 2021)
    spt: bool = False  # shifted patch tokenization (Lee et al., 2021)
    lsa: bool = False  # locality self-attention: learnable temperature, no self-attention to itself
    # LayerNorm on each flattened patch before the projection, as in Lee et al.'s SPT. Off by default:
    # it scales a near-empty patch's faint noise up to unit variance, and a model trained with it fell
    # from 99.45% to 41% on validation digits with noise of 2/255 added (docs/distillation.md).
    patch_norm: bool = False
    # The tokenizer: "patch" cuts PxP patches (with SPT's shifted copies under spt); "conv" is the
    # paper's hybrid (section 3.1) with Xiao et al.'s (2021) early convolutions: 3x3 convolutions
    # with BatchNorm, 28x28 -> 14x14 -> 7x7, each of the 49 positions a token (so 4x4 pixels each).
    stem: str = "patch"
    # "cls": the head reads the CLS token (the paper); "seq": an attention-weighted mean of all the
    # output tokens (sequence pooling, Hassani et al., 2021), the CLS token kept as one of them.
    pool: str = "cls"

    def __post_init__(self) -> None:
        conv = self.stem == "conv"
        checks = {
            "stem must be patch or conv": self.stem in ("patch", "conv"),
            "pool must be cls or seq": self.pool in ("cls", "seq"),
            "the conv stem makes 4x4-pixel tokens: patch_size must be 4": not conv or self.patch_size == 4,
            "the conv stem replaces the patches: spt and patch_norm do not apply": not (
                conv and (self.spt or self.patch_norm)
            ),
            "image_size must be a multiple of patch_size": self.image_size % self.patch_size == 0,
            "dim must be a multiple of heads": self.dim % self.heads == 0,
            "sizes must be positive": min(self.patch_size, self.dim, self.depth, self.heads) > 0,
            "mlp_ratio must be positive and finite": 0 < self.mlp_ratio < math.inf,
            "dropout must be in [0, 1)": 0 <= self.dropout < 1,
            "drop_path must be in [0, 1)": 0 <= self.drop_path < 1,
        }
        for message, ok in checks.items():
            if not ok:
                raise ValueError(f"{message} ({self})")

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid**2

    @property
    def num_tokens(self) -> int:
        return self.num_patches + 1 + int(self.distill)  # + CLS (+ distillation token)

    @property
    def stem_channels(self) -> tuple[int, int]:
        """The conv stem's two hidden widths (its last convolution outputs dim)."""
        return (32, 64)

    @property
    def patch_dim(self) -> int:
        # SPT flattens each patch of the image and of its four diagonally shifted copies
        return self.channels * self.patch_size**2 * (5 if self.spt else 1)

    @property
    def mlp_dim(self) -> int:
        return int(self.dim * self.mlp_ratio)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ViTConfig:
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        # SPT checkpoints from before patch_norm was its own option always had the patch LayerNorm
        d.setdefault("patch_norm", bool(d.get("spt")))
        return cls(**d)


# The packaged model's shape and `vit-edge train`'s default: SPT + LSA (without the patch LayerNorm)
# beat the plain ViT by issue 21's two-seed rule (docs/distillation.md). ViTConfig's own defaults stay
# the plain ViT, so a saved config without these keys still means the model it was saved from.
TRAINED_MODEL = ViTConfig(spt=True, lsa=True)


@dataclass
class TrainConfig:
    """Defaults are the released recipe (with TRAINED_MODEL): `vit-edge train` with no options trains
    it on 55,000 images (5,000 held out), and `vit-edge train --val-size 0 --seed 1` on all 60,000
    reproduces the packaged model."""

    epochs: int = 40
    batch_size: int = 128
    lr: float = 1.5e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 2.0
    min_lr_ratio: float = 0.01
    label_smoothing: float = 0.1
    ema_decay: float = 0.999  # exponential moving average of the weights; 0 turns it off
    grad_clip: float = 1.0
    seed: int = 0
    subset: int | None = None  # train on the first N training images (smoke runs)
    val_size: int = 5_000
    degrees: float = 10.0  # augmentation: rotation in [-degrees, +degrees]
    translate: float = 0.1  # shift up to this fraction of the image size
    scale: float = 0.1  # zoom in [1 - scale, 1 + scale]
    elastic: float = 1.0  # elastic warp: RMS displacement in pixels
    # With --teacher: "hard" trains the distillation head on the teachers' answer (DeiT's choice on
    # ImageNet); "soft" on their probabilities at distill_temperature (Hinton et al., 2015), which
    # still carries information when the teachers almost always agree with the label, as on MNIST.
    distillation: str = "hard"
    distill_temperature: float = 3.0  # DeiT's tau for soft distillation
    # The forward pass under bf16 autocast (weights, optimizer and loss stay float32): "auto" is bf16
    # on CUDA (as every GPU run so far) and float32 on CPU. On a CPU with native bf16 (AVX-512 BF16,
    # AMX), bf16 with `compile` made a two-thread epoch 1.39x faster and learned the same curve as
    # float32 within the seed-to-seed band (docs/training-speed.md); it stays an option.
    precision: str = "auto"
    # torch.compile of the training forward pass (inductor fuses the element-wise work; needs a C++
    # compiler); evaluation and export stay eager.
    compile: bool = False
    # Outlier exposure (Hendrycks et al., 2019): each step also sees batch_size / 2 marks that are not
    # digits (vit_edge.outliers), and this weight times their cross-entropy against the uniform answer
    # joins the loss. 0.5 is the paper's weight; 0 turns it off.
    outliers: float = 0.0
    outlier_bank: int = 20_000  # how many such marks are drawn (seeded) before the first step
    # which kinds of mark (OUTLIER_KINDS, comma-separated), so that a bank drawn before a
    # kind was added is drawn again exactly
    outlier_kinds: str = "all"
    # `train --data DIR` (your own digits): the share of each batch drawn from MNIST's training
    # images when --data-dir holds them, so that handwriting is not forgotten, and the share of each
    # class of DIR held out (stratified) to measure and calibrate the fine-tuned model
    mix: float = 0.5
    val_fraction: float = 0.2

    def check(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                option = "ema" if f.name == "ema_decay" else f.name.replace("_", "-")
                raise UsageError(f"--{option} must be a finite number, not {value}")
        problems = {
            "--epochs must be >= 1": self.epochs < 1,
            "--batch-size must be >= 1": self.batch_size < 1,
            "--lr must be > 0": not self.lr > 0,
            "--weight-decay must be >= 0": self.weight_decay < 0,
            "--subset must be >= 1": self.subset is not None and self.subset < 1,
            "--label-smoothing must be in [0, 1)": not 0 <= self.label_smoothing < 1,
            "--ema must be in [0, 1)": not 0 <= self.ema_decay < 1,
            "--elastic must be >= 0": self.elastic < 0,
            "--degrees must be in [0, 180]": not 0 <= self.degrees <= 180,
            "--translate must be in [0, 1)": not 0 <= self.translate < 1,
            "--scale must be in [0, 1)": not 0 <= self.scale < 1,
            "--warmup-epochs must be >= 0": self.warmup_epochs < 0,
            "--distillation must be hard or soft": self.distillation not in ("hard", "soft"),
            "--distill-temperature must be > 0": not self.distill_temperature > 0,
            "--precision must be auto, bf16 or fp32": self.precision not in ("auto", "bf16", "fp32"),
            "--outliers must be >= 0": self.outliers < 0,
            "--mix must be in [0, 1)": not 0 <= self.mix < 1,
            "--val-fraction must be in (0, 0.5]": not 0 < self.val_fraction <= 0.5,
            "--outlier-bank must be >= 1": self.outlier_bank < 1,
            f"--outlier-kinds must be 'all' or names from {','.join(OUTLIER_KINDS)}": (
                self.outlier_kinds != "all" and not set(self.outlier_kinds.split(",")) <= set(OUTLIER_KINDS)
            ),
            f"--val-size must be in [0, {MNIST_TRAIN_IMAGES - 1}] (MNIST has {MNIST_TRAIN_IMAGES:,} "
            "training images)": not 0 <= self.val_size < MNIST_TRAIN_IMAGES,
        }
        for message, bad in problems.items():
            if bad:
                raise UsageError(message)


# Named recipes for `vit-edge train --recipe NAME`: the options that differ from the defaults (option
# names as `vit-edge train` spells them, dashes as underscores). Options given on the command line win.
PLAIN_VIT = {"spt": False, "lsa": False}  # the recipes below were measured without SPT and LSA
RECIPES: dict[str, dict[str, float | bool]] = {
    "default": {},
    "plain": {"epochs": 75, **PLAIN_VIT},  # the plain ViT of the f2 release
    "long": {"epochs": 80, "elastic": 1.0, "drop_path": 0.1, "dim": 96, **PLAIN_VIT},
    "wide": {"epochs": 100, "elastic": 1.0, "drop_path": 0.2, "dim": 128, **PLAIN_VIT},
}
# `train --data DIR` starts from the packaged model with these, unless --recipe or the options say
# otherwise; an epoch is then one pass over DIR's training images (docs/own-digits.md: measured)
FINE_TUNE = {
    "epochs": 30, "batch_size": 64, "lr": 3e-4, "warmup_epochs": 1.0, "outliers": 0.5,
    "outlier_bank": 5_000, "val_size": 5_000,
}  # fmt: skip


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def check_threads(threads: int | None, option: str = "--threads") -> None:
    """More threads than cores only slows a run down (a huge count runs for minutes): refuse it."""
    cores = usable_cores()
    if threads is not None and not 1 <= threads <= cores:
        raise UsageError(
            f"{option} {threads}: must be between 1 and the {cores} usable cores of this machine"
        )
