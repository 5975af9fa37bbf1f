"""Where one training epoch of the default recipe goes: data, augmentation, forward, backward,
optimizer, EMA, timed step by step on real MNIST and scaled to a full epoch.

    python scripts/profile_epoch.py --data-dir ../shared/mnist [--steps 40] [--precision fp32|bf16]

Each part is timed with a wall clock around it (CPU work is synchronous), over --steps steps after a
few warm-up steps, then scaled to the epoch's steps (60,000 images at the recipe's batch size).
Prints one JSON object: seconds per epoch for each part and the total.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from vit_edge.config import MNIST_TRAIN_IMAGES, TRAINED_MODEL, TrainConfig
from vit_edge.train import Trainer, load_tensors, lr_factor


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = TrainConfig(val_size=0, precision=args.precision, compile=args.compile)
    data = load_tensors(cfg, args.data_dir, False, torch.device("cpu"))
    t = Trainer(TRAINED_MODEL, cfg, data, torch.device("cpu"))
    seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def part(name: str):
        start = time.perf_counter()
        yield
        seconds[name] += time.perf_counter() - start

    order = torch.randperm(len(data.y_train), generator=t.gen)
    warmup = 10 if args.compile else 5  # the first compiled steps compile
    for i in range(warmup + args.steps):
        if i == warmup:
            seconds.clear()
        idx = order[i * t.batch : (i + 1) * t.batch]
        with part("data (index, to float)"):
            x = data.x_train[idx].float().div_(255)
            y = data.y_train[idx]
        with part("augmentation (affine + elastic)"):
            x = t.augment(x, generator=t.gen)
        with part("forward + loss"):
            for group in t.optimizer.param_groups:
                group["lr"] = cfg.lr * lr_factor(t.step, t.warmup, t.total_steps, cfg.min_lr_ratio)
            with t.autocast():
                logits, _ = t.forward_heads(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
        with part("backward"):
            t.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        with part("optimizer (clip + AdamW)"):
            torch.nn.utils.clip_grad_norm_(t.model.parameters(), cfg.grad_clip)
            t.optimizer.step()
        with part("EMA"):
            t.ema.update(t.model, t.step)
        t.step += 1
    per_epoch = MNIST_TRAIN_IMAGES // t.batch / args.steps
    report = {k: round(v * per_epoch, 2) for k, v in seconds.items()}
    report["total"] = round(sum(seconds.values()) * per_epoch, 2)
    run = {"precision": args.precision, "compile": args.compile, "threads": args.threads}
    print(json.dumps({**run, "seconds_per_epoch": report}))


if __name__ == "__main__":
    main()
