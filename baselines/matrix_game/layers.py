"""Building blocks of Matrix-Game-2.0's causal generator: norms, RoPE, windowed KV caches, attention.

Why not diffusers' ``WanTransformerBlock``: Matrix-Game-2.0 inserts its action module between
the cross-attention and the feed-forward, modulates per latent frame (``e`` is B x F x 6 x C) and
attends through rolling KV caches of the last ``local_attn_size`` latent frames; none of that fits
the diffusers block, so the block is written out here with the official parameter names (the
checkpoint then loads without renaming; ``official_names`` lists them).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    """Wan's RMS norm (float32 inside, learned scale)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


class UnscaledRMSNorm(nn.Module):
    """The action module's RMS norm: upstream stores a ``weight`` but its forward never applies it.

    Kept faithfully (the weight is loaded, checked for shape, and ignored), in the input's dtype.
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)


class WanLayerNorm(nn.LayerNorm):
    def __init__(self, dim: int, eps: float = 1e-6, elementwise_affine: bool = False) -> None:
        super().__init__(dim, eps=eps, elementwise_affine=elementwise_affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).type_as(x)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Non-causal attention on (B, L, H, D) tensors (upstream: flash-attn with its default scale)."""
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    return out.transpose(1, 2)


def sinusoidal_embedding(dim: int, position: torch.Tensor) -> torch.Tensor:
    """Wan's timestep sinusoid, computed in float64 as upstream does."""
    half = dim // 2
    position = position.to(torch.float64)
    sinusoid = torch.outer(position, torch.pow(10000, -torch.arange(half, dtype=torch.float64,
                                                                      device=position.device).div(half)))
    return torch.cat([torch.cos(sinusoid), torch.sin(sinusoid)], dim=1)


def rope_table(head_dim: int, max_len: int = 1024, theta: float = 10000.0) -> torch.Tensor:
    """Complex RoPE table (max_len, head_dim / 2): time, height and width parts side by side (Wan)."""

    def params(dim: int) -> torch.Tensor:
        freqs = torch.outer(torch.arange(max_len, dtype=torch.float64),
                            1.0 / torch.pow(theta, torch.arange(0, dim, 2, dtype=torch.float64).div(dim)))
        return torch.polar(torch.ones_like(freqs), freqs)

    d = head_dim
    with torch.device("cpu"):  # a plain table, also when the model is built on the meta device
        return torch.cat([params(d - 4 * (d // 6)), params(2 * (d // 6)), params(2 * (d // 6))], dim=1)


def apply_video_rope(x: torch.Tensor, grid: tuple[int, int, int], table: torch.Tensor,
                     start_frame: int) -> torch.Tensor:
    """3D RoPE of (B, F*H*W, heads, D) tokens whose first frame is latent frame ``start_frame``."""
    b, length, n, d = x.shape
    c = d // 2
    f, h, w = grid
    parts = table.to(x.device).split([c - 2 * (c // 3), c // 3, c // 3], dim=1)
    freqs = torch.cat([parts[0][start_frame:start_frame + f].view(f, 1, 1, -1).expand(f, h, w, -1),
                       parts[1][:h].view(1, h, 1, -1).expand(f, h, w, -1),
                       parts[2][:w].view(1, 1, w, -1).expand(f, h, w, -1)], dim=-1).reshape(length, 1, -1)
    xc = torch.view_as_complex(x.to(torch.float64).reshape(b, length, n, -1, 2))
    return torch.view_as_real(xc * freqs).flatten(3).type_as(x)


def action_rope(rope_dims: tuple[int, ...], theta: float, length: int = 7500) -> tuple[torch.Tensor, torch.Tensor]:
    """The action module's (cos, sin) tables (length, sum(rope_dims)) on a (length, 1, 1) grid.

    Only the time part rotates: the height and width positions are all 0 (cos 1, sin 0).
    """
    cos_parts, sin_parts = [], []
    with torch.device("cpu"):  # a plain table, also when the model is built on the meta device
        return _action_rope(rope_dims, theta, length, cos_parts, sin_parts)


def _action_rope(rope_dims: tuple[int, ...], theta: float, length: int, cos_parts: list, sin_parts: list
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    for i, dim in enumerate(rope_dims):
        pos = torch.arange(length, dtype=torch.float32) if i == 0 else torch.zeros(length)
        freqs = 1.0 / (theta ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))
        angles = torch.outer(pos, freqs)
        cos_parts.append(angles.cos().repeat_interleave(2, dim=1))
        sin_parts.append(angles.sin().repeat_interleave(2, dim=1))
    return torch.cat(cos_parts, 1), torch.cat(sin_parts, 1)


def apply_action_rope(x: torch.Tensor, table: tuple[torch.Tensor, torch.Tensor], start: int) -> torch.Tensor:
    """Interleaved RoPE along dim 1 of (B, T, H, D), positions start .. start + T - 1."""
    cos, sin = (t[start:start + x.shape[1]].to(x.device)[None, :, None, :] for t in table)
    xf = x.float()
    real, imag = xf.reshape(*xf.shape[:-1], -1, 2).unbind(-1)
    rotated = torch.stack([-imag, real], dim=-1).flatten(3)
    return (xf * cos + rotated * sin).type_as(x)


@dataclass
class FrameCache:
    """Keys/values of the last ``window`` latent frames (dim 1 = frames x tokens_per_frame).

    A call for frames [start, start + n) replaces any cached copy of those frames (the denoising
    steps of one block rewrite the same slots, as upstream's cache does), then keeps only the last
    ``window`` frames, which is exactly what upstream's rolling cache attends to.
    """

    window: int
    tokens_per_frame: int
    k: torch.Tensor | None = None
    v: torch.Tensor | None = None
    first_frame: int = 0

    def update(self, k: torch.Tensor, v: torch.Tensor, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        n = k.shape[1] // self.tokens_per_frame
        if self.k is None or start <= self.first_frame:
            keep_k, keep_v, first = k[:, :0], v[:, :0], start
        else:
            cut = (start - self.first_frame) * self.tokens_per_frame
            keep_k, keep_v, first = self.k[:, :cut], self.v[:, :cut], self.first_frame
        all_k, all_v = torch.cat([keep_k, k], 1), torch.cat([keep_v, v], 1)
        frames = all_k.shape[1] // self.tokens_per_frame
        drop = max(0, frames - self.window)
        self.k = all_k[:, drop * self.tokens_per_frame:]
        self.v = all_v[:, drop * self.tokens_per_frame:]
        self.first_frame = first + drop
        assert self.first_frame + self.k.shape[1] // self.tokens_per_frame == start + n
        return self.k, self.v
