"""PyTorch inference helpers shared by training, evaluation, export and the benchmark (torch side)."""

from __future__ import annotations

import torch

from .errors import UsageError
from .model import ViT


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: CUDA is not available on this machine (use --device cpu)")
    if name not in ("cpu", "cuda"):
        raise UsageError(f"--device {name}: expected auto, cpu or cuda")
    return torch.device(name)


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
