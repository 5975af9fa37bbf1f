"""Random affine augmentation on whole batches, on the training device (no per-sample Python)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AffineAugment:
    degrees: float = 10.0  # rotation in [-degrees, +degrees]
    translate: float = 0.1  # shift in [-translate, +translate] of the image size
    scale: float = 0.1  # zoom in [1 - scale, 1 + scale]

    @property
    def enabled(self) -> bool:
        return bool(self.degrees or self.translate or self.scale)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x: (B, C, H, W) float in [0, 1], background 0. Returns a transformed copy."""
        if not self.enabled:
            return x
        b = x.shape[0]

        def uniform(limit: float) -> torch.Tensor:
            r = torch.rand(b, device=x.device, generator=generator)
            return (2 * r - 1) * limit

        angle = uniform(math.radians(self.degrees))
        # affine_grid maps output to input coordinates, so dividing by the zoom enlarges the digit.
        inv_zoom = 1.0 / (1.0 + uniform(self.scale))
        shift = torch.stack([uniform(2 * self.translate), uniform(2 * self.translate)], dim=1)
        cos, sin = torch.cos(angle) * inv_zoom, torch.sin(angle) * inv_zoom
        theta = torch.stack(
            [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
        )
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
