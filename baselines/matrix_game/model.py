"""Matrix-Game-2.0's causal generator (``CausalWanModel`` of the universal model), streaming path.

A Wan2.1-1.3B-shaped DiT (30 blocks, width 1536) conditioned on an image (CLIP features through
``img_emb``, cross-attention only: no text), on the first-frame latent (``cond_concat``: 4 mask
channels + 16 latent channels concatenated to the 16 noisy channels) and on keyboard/mouse rows
through the action modules of the first 15 blocks. It denoises ``num_frame_per_block`` latent
frames at a time with per-frame timesteps, attending through caches of the last
``local_attn_size`` latent frames (``GeneratorCaches``). Parameter names are upstream's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from baselines.matrix_game.action_module import ActionCaches, ActionModule
from baselines.matrix_game.config import MatrixGameConfig
from baselines.matrix_game.layers import (
    FrameCache,
    RMSNorm,
    WanLayerNorm,
    apply_video_rope,
    attention,
    rope_table,
    sinusoidal_embedding,
)


@dataclass
class GeneratorCaches:
    """Everything the streaming generator remembers between blocks (one per transformer block)."""

    self_attn: list[FrameCache]
    actions: list[ActionCaches | None]
    context: list[tuple[torch.Tensor, torch.Tensor] | None]

    @classmethod
    def empty(cls, cfg: MatrixGameConfig, tokens_per_frame: int) -> GeneratorCaches:
        acts = [ActionCaches(FrameCache(cfg.local_attn_size, 1), FrameCache(cfg.local_attn_size, 1))
                if i in cfg.action.blocks else None for i in range(cfg.num_layers)]
        return cls([FrameCache(cfg.local_attn_size, tokens_per_frame) for _ in range(cfg.num_layers)], acts,
                   [None] * cfg.num_layers)


class SelfAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int, eps: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.norm_q, self.norm_k = RMSNorm(dim, eps), RMSNorm(dim, eps)

    def forward(self, x: torch.Tensor, grid: tuple[int, int, int], table: torch.Tensor, cache: FrameCache,
                start_frame: int) -> torch.Tensor:
        b, s, _ = x.shape
        q = self.norm_q(self.q(x)).view(b, s, self.num_heads, -1)
        k = self.norm_k(self.k(x)).view(b, s, self.num_heads, -1)
        v = self.v(x).view(b, s, self.num_heads, -1)
        q = apply_video_rope(q, grid, table, start_frame).type_as(v)
        k = apply_video_rope(k, grid, table, start_frame).type_as(v)
        ck, cv = cache.update(k, v, start_frame)
        return self.o(attention(q, ck, cv).flatten(2))


class CrossAttention(nn.Module):
    """Cross-attention on the image context (upstream's ``i2v_cross_attn`` without a text part)."""

    def __init__(self, dim: int, num_heads: int, eps: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.norm_q, self.norm_k = RMSNorm(dim, eps), RMSNorm(dim, eps)

    def forward(self, x: torch.Tensor, context: torch.Tensor, cache: list, index: int) -> torch.Tensor:
        b = x.shape[0]
        q = self.norm_q(self.q(x)).view(b, -1, self.num_heads, x.shape[-1] // self.num_heads)
        if cache[index] is None:
            k = self.norm_k(self.k(context)).view(b, -1, self.num_heads, q.shape[-1])
            cache[index] = (k, self.v(context).view(b, -1, self.num_heads, q.shape[-1]))
        k, v = cache[index]
        return self.o(attention(q, k, v).flatten(2))


class Block(nn.Module):
    def __init__(self, cfg: MatrixGameConfig, index: int) -> None:
        super().__init__()
        dim = cfg.dim
        self.index = index
        self.norm1 = WanLayerNorm(dim, cfg.eps)
        self.self_attn = SelfAttention(dim, cfg.num_heads, cfg.eps)
        self.norm3 = WanLayerNorm(dim, cfg.eps, elementwise_affine=True)
        self.cross_attn = CrossAttention(dim, cfg.num_heads, cfg.eps)
        self.norm2 = WanLayerNorm(dim, cfg.eps)
        self.ffn = nn.Sequential(nn.Linear(dim, cfg.ffn_dim), nn.GELU(approximate="tanh"), nn.Linear(cfg.ffn_dim, dim))
        self.modulation = nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)
        self.action_model = ActionModule(cfg.action, dim) if index in cfg.action.blocks else None

    def forward(self, x: torch.Tensor, e: torch.Tensor, grid: tuple[int, int, int], table: torch.Tensor,
                context: torch.Tensor, mouse: torch.Tensor | None, keyboard: torch.Tensor, caches: GeneratorCaches,
                start_frame: int) -> torch.Tensor:
        f = e.shape[1]
        s = x.shape[1] // f
        mod = (self.modulation.unsqueeze(1) + e).chunk(6, dim=2)

        def modulated(norm: nn.Module, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
            return (norm(x).unflatten(1, (f, s)) * (1 + scale) + shift).flatten(1, 2)

        y = self.self_attn(modulated(self.norm1, mod[0], mod[1]), grid, table, caches.self_attn[self.index],
                           start_frame)
        x = x + (y.unflatten(1, (f, s)) * mod[2]).flatten(1, 2)
        x = x + self.cross_attn(self.norm3(x.to(context.dtype)), context, caches.context, self.index)
        if self.action_model is not None:
            x = self.action_model(x.to(context.dtype), grid, mouse, keyboard, caches.actions[self.index], start_frame)
        y = self.ffn(modulated(self.norm2, mod[3], mod[4]))
        return x + (y.unflatten(1, (f, s)) * mod[5]).flatten(1, 2)


class Head(nn.Module):
    def __init__(self, cfg: MatrixGameConfig) -> None:
        super().__init__()
        self.norm = WanLayerNorm(cfg.dim, cfg.eps)
        self.head = nn.Linear(cfg.dim, math.prod(cfg.patch_size) * cfg.out_dim)
        self.modulation = nn.Parameter(torch.randn(1, 2, cfg.dim) / cfg.dim**0.5)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        f = e.shape[1]
        shift, scale = (self.modulation.unsqueeze(1) + e).chunk(2, dim=2)
        return self.head(self.norm(x).unflatten(1, (f, x.shape[1] // f)) * (1 + scale) + shift)


class MLPProj(nn.Module):
    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, in_dim), nn.GELU(),
                                  nn.Linear(in_dim, out_dim), nn.LayerNorm(out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class MatrixGameGenerator(nn.Module):
    """The causal generator; ``forward`` runs one block of latent frames through the caches."""

    def __init__(self, cfg: MatrixGameConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_embedding = nn.Conv3d(cfg.in_dim, cfg.dim, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.time_embedding = nn.Sequential(nn.Linear(cfg.freq_dim, cfg.dim), nn.SiLU(), nn.Linear(cfg.dim, cfg.dim))
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(cfg.dim, 6 * cfg.dim))
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.num_layers))
        self.head = Head(cfg)
        self.img_emb = MLPProj(cfg.image_dim, cfg.dim)
        self._rope = rope_table(cfg.head_dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond_concat: torch.Tensor, visual_context: torch.Tensor,
                keyboard: torch.Tensor, mouse: torch.Tensor | None, caches: GeneratorCaches,
                start_frame: int) -> torch.Tensor:
        """Flow prediction (B, out_dim, F, H, W) for latent frames [start_frame, start_frame + F).

        ``t`` is (B, F) per-frame timesteps; ``keyboard`` / ``mouse`` hold the action rows of
        video frames 0 .. 4 (start_frame + F - 1) (all rows so far, as upstream passes them).
        """
        x = self.patch_embedding(torch.cat([x, cond_concat], dim=1))
        grid = (int(x.shape[2]), int(x.shape[3]), int(x.shape[4]))
        x = x.flatten(2).transpose(1, 2)
        e = self.time_embedding(sinusoidal_embedding(self.cfg.freq_dim, t.flatten()).type_as(x))
        e0 = self.time_projection(e).unflatten(1, (6, self.cfg.dim)).unflatten(0, t.shape)
        context = self.img_emb(visual_context)
        for block in self.blocks:
            x = block(x, e0, grid, self._rope, context, mouse, keyboard, caches, start_frame)
        x = self.head(x, e.unflatten(0, t.shape).unsqueeze(2))
        b, c = x.shape[0], self.cfg.out_dim
        pt, ph, pw = self.cfg.patch_size
        x = x.reshape(b, *grid, pt, ph, pw, c)
        x = torch.einsum("bfhwpqrc->bcfphqwr", x)
        return x.reshape(b, c, grid[0] * pt, grid[1] * ph, grid[2] * pw)
