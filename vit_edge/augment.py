"""Random affine and elastic augmentation on whole batches, on the training device (no per-sample Python)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

ELASTIC_SIGMA = 4.0  # pixels; the smoothing of Simard et al. (2003) for MNIST


def _gaussian_kernel(sigma: float, device: torch.device) -> torch.Tensor:
    radius = math.ceil(3 * sigma)
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


@dataclass(frozen=True)
class AffineAugment:
    degrees: float = 10.0  # rotation in [-degrees, +degrees]
    translate: float = 0.1  # shift in [-translate, +translate] of the image size
    scale: float = 0.1  # zoom in [1 - scale, 1 + scale]
    elastic: float = 0.0  # RMS of a smooth random displacement field, in pixels; 0 = off

    @property
    def enabled(self) -> bool:
        return bool(self.degrees or self.translate or self.scale or self.elastic)

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
        if self.elastic:
            grid = grid + self.displacement(x, generator)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def displacement(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Simard-style elastic field: uniform noise smoothed by a Gaussian, (B, H, W, 2) grid units."""
        b, _, h, w = x.shape
        noise = torch.rand(b * 2, 1, h, w, device=x.device, generator=generator) * 2 - 1
        k = _gaussian_kernel(ELASTIC_SIGMA, x.device)
        pad = len(k) // 2
        field = F.conv2d(noise, k.view(1, 1, 1, -1), padding=(0, pad))
        field = F.conv2d(field, k.view(1, 1, -1, 1), padding=(pad, 0))
        # Smoothed U(-1, 1) noise has std sqrt(1/3) * sum(k^2) away from the border: scale it to
        # `elastic` pixels, then to grid units, where the image spans 2.
        field = field * (self.elastic / (math.sqrt(1 / 3) * float((k**2).sum())))
        field = field.view(b, 2, h, w).permute(0, 2, 3, 1)
        return field * torch.tensor([2 / w, 2 / h], device=x.device)
