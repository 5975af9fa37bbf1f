"""Time the two attention paths, fused `scaled_dot_product_attention` and explicit matmuls, on CPU.

    python scripts/probe_attention.py [--dim 64] [--threads 2] [--repeats 3]

Training: the median of 20 `Trainer.train_step` calls (augmentation, forward, backward, clipping,
AdamW, EMA) at batch 128 on random digits. Inference: the median forward pass at batch 1 and 256.
The paths alternate `--repeats` times so that a slow spell on a shared machine hits both.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from vit_edge.config import TrainConfig, ViTConfig
from vit_edge.train import Tensors, Trainer

PATHS = {"fused": False, "explicit": True}


def median_ms(fn: Callable[[], object], calls: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * sorted(times)[len(times) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    images = torch.randint(0, 256, (1280, 1, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (1280,))
    data = Tensors(images, labels, images[:0, 0], labels[:0])
    trainer = Trainer(ViTConfig(dim=args.dim), TrainConfig(), data, torch.device("cpu"))
    model, batch = trainer.model, torch.arange(128)
    x1, x256 = torch.rand(1, 1, 28, 28), torch.rand(256, 1, 28, 28)

    def infer(x: torch.Tensor) -> None:
        model.eval()
        with torch.inference_mode():
            model(x)
        model.train()

    rows: dict[str, list[list[float]]] = {name: [] for name in PATHS}
    for _ in range(args.repeats):
        for name, explicit in PATHS.items():
            model.set_explicit_attention(explicit)
            rows[name].append([
                median_ms(lambda: trainer.train_step(batch), 20),
                median_ms(lambda: infer(x1), 200),
                median_ms(lambda: infer(x256), 20),
            ])  # fmt: skip
    print(f"D{args.dim}, {args.threads} threads, medians in ms, one column per repeat")
    for i, what in enumerate(["train step, batch 128", "inference, batch 1", "inference, batch 256"]):
        for name in PATHS:
            print(f"{what:22s} {name:8s} " + "  ".join(f"{r[i]:7.2f}" for r in rows[name]))


if __name__ == "__main__":
    main()
