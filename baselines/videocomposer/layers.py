"""The building blocks of VideoComposer's UNet, with the attribute names of the published checkpoint.

Written from the published model definition (``tools/videocomposer/unet_sd.py``); the module
tree (and so every ``state_dict`` name) is kept identical so the official ``non_ema_228000.pth``
loads without renaming. Behaviour follows upstream in inference mode: dropout is off, the
condition drop-path is the identity, and upstream's xformers attention is plain scaled
dot-product attention (``F.scaled_dot_product_attention``, softmax scale 1/sqrt(head dim)).
Upstream spells the temporal convolution inside every residual block ``temopral_conv``; the
name is kept because the checkpoint uses it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _heads_first(x: torch.Tensor, heads: int) -> torch.Tensor:
    b, n, c = x.shape
    return x.view(b, n, heads, c // heads).transpose(1, 2)


def _heads_last(x: torch.Tensor) -> torch.Tensor:
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


class CrossAttention(nn.Module):
    """Multi-head attention of the transformer blocks (self-attention when no context is given)."""

    def __init__(self, query_dim: int, context_dim: int | None, heads: int, dim_head: int) -> None:
        super().__init__()
        inner = heads * dim_head
        context_dim = query_dim if context_dim is None else context_dim
        self.heads = heads
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, query_dim), nn.Dropout(0.0))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        context = x if context is None else context
        q, k, v = (_heads_first(p(t), self.heads) for p, t in ((self.to_q, x), (self.to_k, context),
                                                                 (self.to_v, context)))
        return self.to_out(_heads_last(F.scaled_dot_product_attention(q, k, v)))


class GEGLU(nn.Module):
    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, gate = self.proj(x).chunk(2, dim=-1)
        return x * F.gelu(gate)


class FeedForward(nn.Module):
    """``net``: (GEGLU | Linear+GELU), dropout, Linear; 4x inner width as upstream."""

    def __init__(self, dim: int, dim_out: int | None = None, glu: bool = False) -> None:
        super().__init__()
        inner = dim * 4
        project_in = GEGLU(dim, inner) if glu else nn.Sequential(nn.Linear(dim, inner), nn.GELU())
        self.net = nn.Sequential(project_in, nn.Dropout(0.0), nn.Linear(inner, dim if dim_out is None else dim_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class BasicTransformerBlock(nn.Module):
    """Self-attention, cross-attention (self-attention again when there is no context), GEGLU FFN."""

    def __init__(self, dim: int, heads: int, dim_head: int, context_dim: int | None) -> None:
        super().__init__()
        self.attn1 = CrossAttention(dim, None, heads, dim_head)
        self.ff = FeedForward(dim, glu=True)
        self.attn2 = CrossAttention(dim, context_dim, heads, dim_head)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context) + x
        return self.ff(self.norm3(x)) + x


class SpatialTransformer(nn.Module):
    """Per-frame attention over the pixels of one latent frame, cross-attending to text + image."""

    def __init__(self, channels: int, heads: int, dim_head: int, context_dim: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.norm = nn.GroupNorm(32, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, inner)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(inner, heads, dim_head, context_dim)])
        self.proj_out = nn.Linear(channels, inner)  # upstream's argument order; channels == inner

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        y = self.proj_in(self.norm(x).flatten(2).transpose(1, 2))
        for block in self.transformer_blocks:
            y = block(y, context)
        y = self.proj_out(y).transpose(1, 2).reshape(n, c, h, w)
        return y + x


class TemporalTransformer(nn.Module):
    """Attention over the frames at every latent pixel (self-attention only, 1x1 conv projections)."""

    def __init__(self, channels: int, heads: int, dim_head: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.norm = nn.GroupNorm(32, channels, eps=1e-6)
        self.proj_in = nn.Conv1d(channels, inner, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(inner, heads, dim_head, None)])
        self.proj_out = nn.Conv1d(inner, channels, 1)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        """``x``: (batch * frames, C, H, W), frames contiguous per video."""
        bf, c, h, w = x.shape
        b = bf // frames
        video = x.view(b, frames, c, h, w).permute(0, 2, 1, 3, 4)  # b c f h w
        y = self.norm(video).permute(0, 3, 4, 1, 2).reshape(b * h * w, c, frames)
        y = self.proj_in(y).transpose(1, 2)  # (b h w) f c
        for block in self.transformer_blocks:
            y = block(y)
        y = self.proj_out(y.transpose(1, 2))  # (b h w) c f
        y = y.view(b, h, w, c, frames).permute(0, 4, 3, 1, 2).reshape(bf, c, h, w)
        return y + x


class TemporalConvBlock(nn.Module):
    """Four (GroupNorm, SiLU, [dropout], 3x1x1 conv) stages with a residual; ``TemporalConvBlock_v2`` upstream."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.GroupNorm(32, channels), nn.SiLU(),
                                   nn.Conv3d(channels, channels, (3, 1, 1), padding=(1, 0, 0)))
        for name in ("conv2", "conv3", "conv4"):
            setattr(self, name, nn.Sequential(nn.GroupNorm(32, channels), nn.SiLU(), nn.Dropout(0.0),
                                              nn.Conv3d(channels, channels, (3, 1, 1), padding=(1, 0, 0))))

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        bf, c, h, w = x.shape
        video = x.view(bf // frames, frames, c, h, w).permute(0, 2, 1, 3, 4)
        y = self.conv4(self.conv3(self.conv2(self.conv1(video))))
        return x + y.permute(0, 2, 1, 3, 4).reshape(bf, c, h, w)


class ResBlock(nn.Module):
    """Residual block with the timestep embedding added after the first conv, then a temporal conv."""

    def __init__(self, channels: int, emb_channels: int, out_channels: int | None = None) -> None:
        super().__init__()
        out = channels if out_channels is None else out_channels
        self.in_layers = nn.Sequential(nn.GroupNorm(32, channels), nn.SiLU(), nn.Conv2d(channels, out, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, out))
        self.out_layers = nn.Sequential(nn.GroupNorm(32, out), nn.SiLU(), nn.Dropout(0.0),
                                        nn.Conv2d(out, out, 3, padding=1))
        self.skip_connection = nn.Identity() if out == channels else nn.Conv2d(channels, out, 1)
        self.temopral_conv = TemporalConvBlock(out)  # sic: the checkpoint's spelling

    def forward(self, x: torch.Tensor, emb: torch.Tensor, frames: int) -> torch.Tensor:
        h = self.in_layers(x) + self.emb_layers(emb).to(x.dtype)[..., None, None]
        h = self.skip_connection(x) + self.out_layers(h)
        return self.temopral_conv(h, frames)


class Downsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


# -- STC encoder --------------------------------------------------------------------------------
class FrameAttention(nn.Module):
    """Attention of the STC transformer (fused qkv without bias)."""

    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        self.heads = heads
        self.to_qkv = nn.Linear(dim, heads * dim_head * 3, bias=False)
        self.to_out = nn.Sequential(nn.Linear(heads * dim_head, dim), nn.Dropout(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (_heads_first(t, self.heads) for t in self.to_qkv(x).chunk(3, dim=-1))
        return self.to_out(_heads_last(F.scaled_dot_product_attention(q, k, v)))


class PreNorm(nn.Module):
    def __init__(self, dim: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.norm(x)) + x


class FrameTransformer(nn.Module):
    """The STC encoder's temporal transformer (``Transformer_v2`` upstream): 2 heads of ``dim``."""

    def __init__(self, dim: int, depth: int = 1) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.ModuleList([PreNorm(dim, FrameAttention(dim, 2, dim)),
                                                    FeedForward(dim, dim)]) for _ in range(depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attn, ff in self.layers:
            x = attn(x)
            x = ff(x) + x
        return x


def stc_spatial(in_channels: int, concat_dim: int, pool: int) -> nn.Sequential:
    """The STC encoder's per-frame conv stack: pool to ``pool`` then two stride-2 convs (``pool / 4``)."""
    wide = concat_dim * 4
    return nn.Sequential(nn.Conv2d(in_channels, wide, 3, padding=1), nn.SiLU(), nn.AdaptiveAvgPool2d((pool, pool)),
                         nn.Conv2d(wide, wide, 3, stride=2, padding=1), nn.SiLU(),
                         nn.Conv2d(wide, concat_dim, 3, stride=2, padding=1))


def encode_condition(spatial: nn.Module, temporal: nn.Module, condition: torch.Tensor) -> torch.Tensor:
    """One condition (b, c, f, H, W) -> its STC features (b, concat_dim, f, h, w) on the latent grid."""
    b, c, f, hh, ww = condition.shape
    feats = spatial(condition.permute(0, 2, 1, 3, 4).reshape(b * f, c, hh, ww))
    _, d, h, w = feats.shape
    seq = feats.view(b, f, d, h, w).permute(0, 3, 4, 1, 2).reshape(b * h * w, f, d)
    seq = temporal(seq)
    return seq.view(b, h, w, f, d).permute(0, 4, 3, 1, 2)


__all__ = ["BasicTransformerBlock", "CrossAttention", "Downsample", "FeedForward", "FrameTransformer", "ResBlock",
           "SpatialTransformer", "TemporalConvBlock", "TemporalTransformer", "Upsample", "encode_condition",
           "stc_spatial"]
