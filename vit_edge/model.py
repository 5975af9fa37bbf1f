"""The Vision Transformer of "An Image is Worth 16x16 Words" (Dosovitskiy et al., 2020), for 28x28 digits.

pixels in [0, 1] -> normalise -> cut into PxP patches -> linear projection -> prepend CLS
-> + position embeddings -> L x Block(LN -> MHSA -> +, LN -> MLP -> +) -> LN -> head(CLS) -> logits

Tokens travel as a 2-D (batch * tokens, width) matrix between blocks: every Linear is then a plain
Gemm in ONNX with its bias folded in, and only attention reshapes to (batch, heads, tokens, head_dim).
Shapes other than the batch are Python ints from the config, so the exported graph has no shape
arithmetic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import MNIST_MEAN, MNIST_STD, ViTConfig


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention over all tokens, with no mask: every token sees every token."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.tokens, self.dim, self.heads = cfg.num_tokens, cfg.dim, cfg.heads
        self.head_dim = cfg.dim // cfg.heads
        self.dropout = cfg.dropout
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
        self.proj = nn.Linear(cfg.dim, cfg.dim)
        # None picks the faster path per call (below); True forces the explicit matmuls, which export
        # to a lean ONNX graph; False forces the fused kernel.
        self.explicit: bool | None = None
        self.lsa = cfg.lsa
        if cfg.lsa:
            # LSA (Lee et al., 2021): a learnable softmax temperature, starting at 1/sqrt(d) ...
            self.scale = nn.Parameter(torch.tensor(self.head_dim**-0.5))
            # ... and no token attends to itself, which sharpens attention to the others: -inf added
            # on the diagonal (one Add in the exported graph, where masked_fill exported a Where)
            eye = torch.eye(cfg.num_tokens, dtype=torch.bool)
            bias = torch.zeros(eye.shape).masked_fill(eye, float("-inf"))
            self.register_buffer("self_mask", bias, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B*N, C)
        # (B, 3H, N, hd), then three (B, H, N, hd) slices: one Reshape, Transpose and Split exported
        qkv = self.qkv(x).reshape(-1, self.tokens, 3 * self.heads, self.head_dim).transpose(1, 2)
        q, k, v = qkv.split(self.heads, dim=1)
        p = self.dropout if self.training else 0.0
        # With 50 tokens the fused kernel's backward is slow on CPU: explicit matmuls train 15% faster
        # there (measured), while the fused kernel wins on CUDA and for CPU inference.
        explicit = self.explicit
        if explicit is None:
            explicit = x.requires_grad and x.device.type == "cpu"
        if self.lsa:
            scores = (q * self.scale) @ k.transpose(-2, -1)
            weights = (scores + self.self_mask).softmax(dim=-1)
            y = F.dropout(weights, p, self.training) @ v
        elif explicit:
            weights = ((q * self.head_dim**-0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
            y = F.dropout(weights, p, self.training) @ v
        else:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        y = y.transpose(1, 2).reshape(-1, self.dim)  # heads back side by side: (B*N, C)
        return self.proj(y)


class MLP(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.fc1 = nn.Linear(cfg.dim, cfg.mlp_dim)
        self.fc2 = nn.Linear(cfg.mlp_dim, cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(F.gelu(self.fc1(x))))


class DropPath(nn.Module):
    """Stochastic depth (Huang et al., 2016): while training, drop a residual branch for whole images."""

    def __init__(self, p: float, tokens: int):
        super().__init__()
        self.p, self.tokens = p, tokens

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B*N, C)
        if not self.training or self.p == 0:
            return x
        keep = 1 - self.p
        mask = x.new_empty(x.shape[0] // self.tokens, 1, 1).bernoulli_(keep).div_(keep)
        return (x.view(-1, self.tokens, x.shape[-1]) * mask).view_as(x)


class Block(nn.Module):
    """A pre-LN transformer encoder block: x + MHSA(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, cfg: ViTConfig, drop_path: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.dim)
        self.attn = MultiHeadSelfAttention(cfg)
        self.norm2 = nn.LayerNorm(cfg.dim)
        self.mlp = MLP(cfg)
        self.drop = nn.Dropout(cfg.dropout)
        self.drop_path = DropPath(drop_path, cfg.num_tokens)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.drop(self.attn(self.norm1(x))))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class ConvStem(nn.Module):
    """The hybrid's tokenizer: a small CNN whose 7x7 feature map is the token sequence.

    conv3x3 1->32 (BN, ReLU) at 28x28, conv3x3/2 32->64 (BN, ReLU) to 14x14, conv3x3/2 64->dim (BN)
    to 7x7; export folds each BatchNorm into its convolution (fold_batchnorm).
    """

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        c1, c2 = cfg.stem_channels
        widths = [(cfg.channels, c1, 1), (c1, c2, 2), (c2, cfg.dim, 2)]
        self.convs = nn.ModuleList(nn.Conv2d(i, o, 3, s, 1, bias=False) for i, o, s in widths)
        self.norms = nn.ModuleList(nn.BatchNorm2d(o) for _, o, _ in widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, 28, 28) -> (B, 49, dim)
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            x = norm(conv(x))
            x = F.relu(x) if i < len(self.convs) - 1 else x
        return x.flatten(2).transpose(1, 2)


class SeqPool(nn.Module):
    """Sequence pooling (Hassani et al., 2021): a learned softmax weight per token, then the mean."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.score = nn.Linear(cfg.dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, N, C) -> (B, C)
        weights = self.score(x).softmax(dim=1)  # (B, N, 1)
        return (weights * x).sum(dim=1)


class ViT(nn.Module):
    """Takes pixels in [0, 1], shape (B, C, H, W); returns class logits (B, num_classes)."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.stem == "conv":
            self.stem = ConvStem(cfg)
        else:
            self.patch_embed = nn.Linear(cfg.patch_dim, cfg.dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_tokens, cfg.dim))
        self.drop = nn.Dropout(cfg.dropout)
        # DeiT's linear rule: block i drops its branches with probability drop_path * i / (depth - 1).
        rates = torch.linspace(0, cfg.drop_path, cfg.depth).tolist()
        self.blocks = nn.ModuleList(Block(cfg, rate) for rate in rates)
        if cfg.lsa:  # one LSA mask for every block (one constant in the exported graph)
            for block in self.blocks[1:]:
                block.attn.self_mask = self.blocks[0].attn.self_mask
        self.norm = nn.LayerNorm(cfg.dim)
        # The paper's MLP head: one hidden tanh layer on the CLS embedding.
        self.head = nn.Sequential(nn.Linear(cfg.dim, cfg.dim), nn.Tanh(), nn.Linear(cfg.dim, cfg.num_classes))
        # Options (issue 21); the default model has none of these modules, so its initialisation, and
        # every run of the default recipe, is unchanged.
        if cfg.patch_norm:  # Lee et al.'s SPT normalises each flattened patch before the projection
            self.patch_norm = nn.LayerNorm(cfg.patch_dim)
        if cfg.distill:  # DeiT: a second token, learning from a teacher through its own linear head
            self.dist_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
            self.head_dist = nn.Linear(cfg.dim, cfg.num_classes)
        if cfg.pool == "seq":
            self.pool = SeqPool(cfg)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Xavier, not timm's trunc_normal(0.02): at this width the tiny init left attention uniform
        # and training stalled (21% vs 59% train accuracy after 100 steps, measured).
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        if self.cfg.distill:
            nn.init.trunc_normal_(self.dist_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm | nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Conv2d):  # He et al.'s init for ReLU networks, as in ResNet
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def set_explicit_attention(self, explicit: bool | None = True) -> ViT:
        """True: explicit matmuls; False: the fused kernel; None: the faster one per call."""
        for block in self.blocks:
            block.attn.explicit = explicit
        return self

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, num_patches, C*P*P), patches in row-major order."""
        g, p = self.cfg.grid, self.cfg.patch_size
        c = self.cfg.patch_dim // (p * p)
        x = x.reshape(-1, c, g, p, g, p).permute(0, 2, 4, 1, 3, 5)
        return x.reshape(-1, g * g, c * p * p)

    def shifted(self, x: torch.Tensor) -> torch.Tensor:
        """SPT: the image and its four copies shifted diagonally by half a patch, as channels."""
        s, n = self.cfg.patch_size // 2, self.cfg.image_size
        padded = F.pad(x, (s, s, s, s))  # zeros: MNIST's black background
        corners = [padded[..., dy : dy + n, dx : dx + n] for dy in (0, 2 * s) for dx in (0, 2 * s)]
        return torch.cat([x, *corners], dim=1)

    def forward_heads(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The CLS head's logits, and the distillation head's (None without the token)."""
        cfg = self.cfg
        if cfg.stem == "conv":
            x = self.stem((pixels - MNIST_MEAN) / MNIST_STD)  # (B, num_patches, C)
        else:  # SPT shifts in black pixels, so it shifts before normalising
            x = self.patchify(((self.shifted(pixels) if cfg.spt else pixels) - MNIST_MEAN) / MNIST_STD)
            x = self.patch_embed(self.patch_norm(x) if cfg.patch_norm else x)  # (B, num_patches, C)
        # CLS (and distillation) token rows: zero rows padded in front, then one constant added, the
        # tokens' own rows plus their position embeddings (the same sums as cat then add; the
        # exported graph has no batch-shape arithmetic for it)
        extra = [self.cls_token] + ([self.dist_token] if cfg.distill else [])
        rows = torch.cat([*extra, x.new_zeros(1, cfg.num_patches, cfg.dim)], dim=1)
        x = F.pad(x, (0, 0, len(extra), 0)) + (rows + self.pos_embed)  # (B, N, C); one constant in ONNX
        x = self.drop(x).reshape(-1, cfg.dim)  # (B*N, C)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x.reshape(-1, cfg.num_tokens, cfg.dim))
        logits = self.head(self.pool(x) if cfg.pool == "seq" else x[:, 0])
        return logits, (self.head_dist(x[:, 1]) if cfg.distill else None)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        logits, distilled = self.forward_heads(pixels)
        # DeiT at inference: the two heads' outputs averaged; one graph, the same contract
        return logits if distilled is None else (logits + distilled) / 2


@torch.no_grad()
def fold_batchnorm(model: ViT) -> ViT:
    """Fold the conv stem's BatchNorms (eval statistics) into their convolutions, in place.

    conv(x) * g / sqrt(var + eps) + (b - mean * g / sqrt(var + eps)): one Conv with a bias, so the
    exported graph has no BatchNormalization and a C engine needs none.
    """
    if model.cfg.stem != "conv":
        return model
    stem = model.stem
    for i, (conv, norm) in enumerate(zip(stem.convs, stem.norms, strict=True)):
        factor = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        folded = nn.Conv2d(conv.in_channels, conv.out_channels, 3, conv.stride, 1, bias=True)
        folded.weight.copy_(conv.weight * factor[:, None, None, None])
        folded.bias.copy_(norm.bias - norm.running_mean * factor)
        stem.convs[i], stem.norms[i] = folded, nn.Identity()
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def flops_per_image(cfg: ViTConfig) -> int:
    """Multiply-add FLOPs (2 per MAC) of one forward pass; norms, softmax and GELU left out."""
    n, d, m = cfg.num_tokens, cfg.dim, cfg.mlp_dim
    if cfg.stem == "conv":
        (c1, c2), side = cfg.stem_channels, cfg.image_size
        convs = [(side, cfg.channels, c1), (side // 2, c1, c2), (side // 4, c2, d)]  # (output side, in, out)
        patch = sum(s * s * 9 * i * o for s, i, o in convs)
    else:
        patch = cfg.num_patches * cfg.patch_dim * d
    attention = n * d * 3 * d + 2 * n * n * d + n * d * d  # qkv, QK^T and AV, proj
    mlp = 2 * n * d * m
    head = d * d + d * cfg.num_classes * (2 if cfg.distill else 1) + (n * d if cfg.pool == "seq" else 0)
    return 2 * (patch + cfg.depth * (attention + mlp) + head)


def describe(cfg: ViTConfig) -> str:
    params = count_parameters(ViT(cfg))
    return (
        f"ViT patch {cfg.patch_size}, dim {cfg.dim}, depth {cfg.depth}, heads {cfg.heads}, "
        f"mlp x{cfg.mlp_ratio:g}: {params / 1e6:.3f}M params, "
        f"{flops_per_image(cfg) / 1e6:.1f} MFLOPs/image"
    )


__all__ = [
    "MLP",
    "Block",
    "DropPath",
    "MultiHeadSelfAttention",
    "ViT",
    "ConvStem",
    "SeqPool",
    "ViTConfig",
    "count_parameters",
    "fold_batchnorm",
    "describe",
    "flops_per_image",
]
