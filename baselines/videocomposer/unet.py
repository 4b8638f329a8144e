"""VideoComposer's 3D UNet (``UNetSD_temporal``) with its STC condition encoders.

Layout, as the published model builds it (and as the official checkpoint names it):
``input_blocks.0`` = [conv in (latent + STC features), temporal transformer], then per level
``num_res_blocks`` x [ResBlock (+ spatial transformer + temporal transformer at the attention
scales)] and a strided-conv ``Downsample`` between levels; ``middle_block`` = [ResBlock, spatial,
temporal, ResBlock]; ``output_blocks`` mirror the encoder with skip concatenation and a nearest
``Upsample`` + conv; ``out`` = GroupNorm, SiLU, conv. Every spatial layer works on
(batch * frames, C, H, W); temporal layers regroup the frames of each video.

Conditions: each spatial condition (depth, motion vectors, first frame = ``local_image``, ...) goes
through its STC branch onto the latent grid and the branches are *summed* into ``concat_dim``
channels concatenated to the noisy latent. The text tokens (77 x 1024) and one image token (the
CLIP image embedding through ``pre_image_condition``) form the cross-attention context; with no
text, upstream uses the embedding of the empty prompt (``zero_y``), which the caller passes.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from baselines.videocomposer.config import STC_CHANNELS, STC_MODULES, UNetConfig
from baselines.videocomposer.layers import (
    Downsample,
    FrameTransformer,
    ResBlock,
    SpatialTransformer,
    TemporalTransformer,
    Upsample,
    encode_condition,
    stc_spatial,
)


def sinusoidal_embedding(timesteps: torch.Tensor, dim: int) -> torch.Tensor:
    """Upstream's timestep embedding: [cos, sin] of t * 10000^(-i / half), in float32."""
    half = dim // 2
    t = timesteps.float()
    freqs = torch.pow(10000, -torch.arange(half, device=t.device).to(t).div(half))
    angles = torch.outer(t, freqs)
    out = torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)
    if dim % 2:
        out = torch.cat([out, torch.zeros_like(out[:, :1])], dim=1)
    return out


class VideoComposerUNet(nn.Module):
    """The denoiser: ``forward(x, t, y, image=..., depth=..., ...) -> eps`` with x (B, 4, F, h, w)."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = c = config
        embed_dim = c.dim * 4
        self.time_embed = nn.Sequential(nn.Linear(c.dim, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim))
        self.pre_image_condition = nn.Sequential(nn.Linear(c.image_dim, c.image_dim), nn.SiLU(),
                                                 nn.Linear(c.image_dim, c.context_dim))
        for name in c.conditions:
            spatial, temporal = STC_MODULES[name]
            setattr(self, spatial, stc_spatial(STC_CHANNELS[name], c.concat_dim, c.stc_pool))
            setattr(self, temporal, FrameTransformer(c.concat_dim, c.stc_layers))

        enc_dims = [c.dim * m for m in (1, *c.dim_mult)]
        dec_dims = [c.dim * m for m in (c.dim_mult[-1], *c.dim_mult[::-1])]
        shortcut_dims = [c.dim]
        scale = 1.0
        self.input_blocks = nn.ModuleList([nn.ModuleList([
            nn.Conv2d(c.in_dim + c.concat_dim, c.dim, 3, padding=1),
            TemporalTransformer(c.dim, c.num_heads, c.head_dim)])])
        for level, (dim_in, dim_out) in enumerate(itertools.pairwise(enc_dims)):
            for j in range(c.num_res_blocks):
                block = nn.ModuleList([ResBlock(dim_in, embed_dim, dim_out)])
                if scale in c.attn_scales:
                    block.append(SpatialTransformer(dim_out, dim_out // c.head_dim, c.head_dim, c.context_dim))
                    block.append(TemporalTransformer(dim_out, dim_out // c.head_dim, c.head_dim))
                dim_in = dim_out
                self.input_blocks.append(block)
                shortcut_dims.append(dim_out)
                if level != len(c.dim_mult) - 1 and j == c.num_res_blocks - 1:
                    self.input_blocks.append(Downsample(dim_out))
                    shortcut_dims.append(dim_out)
                    scale /= 2.0
        self.middle_block = nn.ModuleList([
            ResBlock(dim_out, embed_dim),
            SpatialTransformer(dim_out, dim_out // c.head_dim, c.head_dim, c.context_dim),
            TemporalTransformer(dim_out, dim_out // c.head_dim, c.head_dim),
            ResBlock(dim_out, embed_dim)])
        self.output_blocks = nn.ModuleList()
        for level, (dim_in, dim_out) in enumerate(itertools.pairwise(dec_dims)):
            for j in range(c.num_res_blocks + 1):
                block = nn.ModuleList([ResBlock(dim_in + shortcut_dims.pop(), embed_dim, dim_out)])
                if scale in c.attn_scales:
                    block.append(SpatialTransformer(dim_out, dim_out // c.head_dim, c.head_dim, c.context_dim))
                    block.append(TemporalTransformer(dim_out, dim_out // c.head_dim, c.head_dim))
                dim_in = dim_out
                if level != len(c.dim_mult) - 1 and j == c.num_res_blocks:
                    block.append(Upsample(dim_out))
                    scale *= 2.0
                self.output_blocks.append(block)
        self.out = nn.Sequential(nn.GroupNorm(32, dim_out), nn.SiLU(), nn.Conv2d(dim_out, c.out_dim, 3, padding=1))

    # -- conditions ----------------------------------------------------------------------------
    def stc_features(self, x: torch.Tensor, conditions: dict[str, torch.Tensor | None]) -> torch.Tensor:
        """The summed STC features (B, concat_dim, F, h, w) of the given spatial conditions.

        Summed in upstream's order (depth, local_image, motion, canny, sketch, single_sketch, masked),
        which matters for the last bits of a float sum.
        """
        b, _, f, h, w = x.shape
        concat = x.new_zeros(b, self.config.concat_dim, f, h, w)
        for name in ("depth", "local_image", "motion", "sketch", "single_sketch", "masked"):
            value = conditions.get(name)
            if value is None:
                continue
            if name not in self.config.conditions:
                raise ValueError(f"this UNet has no STC branch for {name!r} (it has {list(self.config.conditions)})")
            spatial, temporal = STC_MODULES[name]
            concat = concat + encode_condition(getattr(self, spatial), getattr(self, temporal), value.to(x.dtype))
        return concat

    def context(self, y: torch.Tensor, image: torch.Tensor | None) -> torch.Tensor:
        """Cross-attention tokens: the text tokens, then the image token when an image embedding is given."""
        parts = [y]
        if image is not None:
            parts.append(self.pre_image_condition(image))
        return torch.cat(parts, dim=1)

    # -- forward -------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor, image: torch.Tensor | None = None,
                **conditions: torch.Tensor | None) -> torch.Tensor:
        """``x`` (B, 4, F, h, w) noisy latents, ``t`` (B,) timesteps, ``y`` (B, 77, context_dim) text tokens,
        ``image`` (B, 1, image_dim) or None, spatial conditions (B, C, F, H, W) by name; returns eps."""
        b, _, f, h, w = x.shape
        x = torch.cat([x, self.stc_features(x, conditions)], dim=1)
        x = x.permute(0, 2, 1, 3, 4).reshape(b * f, -1, h, w)
        emb = self.time_embed(sinusoidal_embedding(t, self.config.dim).to(x.dtype)).repeat_interleave(f, dim=0)
        context = self.context(y.to(x.dtype), None if image is None else image.to(x.dtype))
        context = context.repeat_interleave(f, dim=0)
        skips = []
        for block in self.input_blocks:
            x = self._run(block, x, emb, context, f)
            skips.append(x)
        x = self._run(self.middle_block, x, emb, context, f)
        for block in self.output_blocks:
            x = self._run(block, torch.cat([x, skips.pop()], dim=1), emb, context, f)
        x = self.out(x)
        return x.view(b, f, -1, h, w).permute(0, 2, 1, 3, 4)

    @staticmethod
    def _run(block: nn.Module, x: torch.Tensor, emb: torch.Tensor, context: torch.Tensor, frames: int) -> torch.Tensor:
        layers = block if isinstance(block, nn.ModuleList) else [block]
        for layer in layers:
            if isinstance(layer, ResBlock):
                x = layer(x, emb, frames)
            elif isinstance(layer, SpatialTransformer):
                x = layer(x, context)
            elif isinstance(layer, TemporalTransformer):
                x = layer(x, frames)
            else:
                x = layer(x)
        return x


def parameter_shapes(config: UNetConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor name and shape of a UNet at ``config`` (built on the meta device: no memory)."""
    with torch.device("meta"):
        model = VideoComposerUNet(config)
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


__all__ = ["VideoComposerUNet", "parameter_shapes", "sinusoidal_embedding"]
