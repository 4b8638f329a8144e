"""Motion-I2V's video UNet (both stages), with the published checkpoints' parameter names.

Frames are folded into the batch (``(b f) c h w``) for every per-frame layer, which is exactly
what the published "inflated" 3D convolutions and group norms compute; diffusers' 2D resnets,
spatial transformers and resamplers are used for those, so only the temporal modules and the
embeddings are written here. Module names follow the published model definitions so an official
state dict loads by name (``checkpoint.py`` lists and checks them).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.models.attention import FeedForward
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.resnet import Downsample2D, ResnetBlock2D, Upsample2D
from diffusers.models.transformers.transformer_2d import Transformer2DModel
from torch import nn

from baselines.motion_i2v.config import UNet3DConfig
from baselines.motion_i2v.softsplat import splat_average


class PositionalEncoding(nn.Module):
    """Sinusoidal positions over the temporal axis; ``pe`` is a saved buffer in the checkpoints."""

    def __init__(self, dim: int, max_len: int) -> None:
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
        pe = torch.zeros(1, max_len, dim)
        pe[0, :, 0::2] = torch.sin(position * div_term)
        pe[0, :, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pe[:, : x.size(1)]


class TemporalAttention(nn.Module):
    """Self-attention along time at every pixel (AnimateDiff's "Temporal_Self").

    With ``flow`` (stage 2) the keys and values also hold the first frame's features
    forward-warped to every later frame, interleaved as [f0, w1, f1, w2, f2, ...] with positions
    0..2F-2, and the queries are the real frames (the even positions).
    """

    def __init__(self, dim: int, heads: int, max_len: int) -> None:
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])
        self.pos_encoder = PositionalEncoding(dim, max_len)

    def _attend(self, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        n, lq, c = q.shape
        lk = kv.shape[1]
        head = c // self.heads
        query = self.to_q(q).view(n, lq, self.heads, head).transpose(1, 2)
        key = self.to_k(kv).view(n, lk, self.heads, head).transpose(1, 2)
        value = self.to_v(kv).view(n, lk, self.heads, head).transpose(1, 2)
        out = F.scaled_dot_product_attention(query, key, value)
        out = out.transpose(1, 2).reshape(n, lq, c)
        return self.to_out[1](self.to_out[0](out))

    def forward(self, x: torch.Tensor, frames: int, hw: tuple[int, int], flow: torch.Tensor | None) -> torch.Tensor:
        bf, d, c = x.shape
        b = bf // frames
        if flow is None:
            seq = self.pos_encoder(x.view(b, frames, d, c).permute(0, 2, 1, 3).reshape(b * d, frames, c))
            out = self._attend(seq, seq)
        else:
            warped = warp_first_frame(x.view(b, frames, d, c), flow, hw)  # b, frames-1, d, c
            real = x.view(b, frames, d, c)
            inter = torch.empty(b, 2 * frames - 1, d, c, dtype=x.dtype, device=x.device)
            inter[:, 0::2] = real
            inter[:, 1::2] = warped.to(x.dtype)
            seq = self.pos_encoder(inter.permute(0, 2, 1, 3).reshape(b * d, 2 * frames - 1, c))
            out = self._attend(seq[:, ::2], seq)
        return out.view(b, d, frames, c).permute(0, 2, 1, 3).reshape(bf, d, c)


def warp_first_frame(x: torch.Tensor, flow: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Forward-splat frame 0's features (``x``: b, F, h*w, c) along ``flow`` (b, F, 2, H, W in pixels of H x W).

    The flow is resized bilinearly to the feature map and its vectors scaled by the size ratio,
    then frame 0 is splatted to frames 1..F-1 with bilinear weights, averaged ("avg" softmax
    splatting), in float32 as published. As published, the first-frame features are tiled
    frame-major (``repeat``) while the flows are batch-major, so with a batch of several videos
    (classifier-free guidance runs two) the warped features of video i, frame l come from
    video ``(i * (F - 1) + l) % b``; kept so the published checkpoints see what they were used with.
    """
    b, frames, _, c = x.shape
    h, w = hw
    fb, fl, _, fh, fw = flow.shape
    small = F.interpolate(flow.reshape(fb * fl, 2, fh, fw).float(), size=(h, w), mode="bilinear")
    ratio = torch.tensor([fw / w, fh / h], dtype=small.dtype, device=small.device).view(1, 2, 1, 1)
    small = (small / ratio).view(fb, fl, 2, h, w)[:, 1:]
    first = x[:, 0].float().view(b, h, w, c).permute(0, 3, 1, 2).repeat(frames - 1, 1, 1, 1)
    warped = splat_average(first, small.reshape(b * (frames - 1), 2, h, w))
    return warped.view(b, frames - 1, c, h * w).permute(0, 1, 3, 2)


class TemporalTransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, max_len: int) -> None:
        super().__init__()
        self.attention_blocks = nn.ModuleList([TemporalAttention(dim, heads, max_len) for _ in range(2)])
        self.norms = nn.ModuleList([nn.LayerNorm(dim) for _ in range(2)])
        self.ff = FeedForward(dim, dropout=0.0, activation_fn="geglu")
        self.ff_norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, frames: int, hw: tuple[int, int], flow: torch.Tensor | None) -> torch.Tensor:
        for attention, norm in zip(self.attention_blocks, self.norms, strict=True):
            x = attention(norm(x), frames, hw, flow) + x
        return self.ff(self.ff_norm(x)) + x


class TemporalTransformer(nn.Module):
    def __init__(self, channels: int, heads: int, max_len: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(32, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, channels)
        self.transformer_blocks = nn.ModuleList([TemporalTransformerBlock(channels, heads, max_len)])
        self.proj_out = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor, frames: int, flow: torch.Tensor | None) -> torch.Tensor:
        bf, c, h, w = x.shape
        hidden = self.norm(x).permute(0, 2, 3, 1).reshape(bf, h * w, c)
        hidden = self.proj_in(hidden)
        for block in self.transformer_blocks:
            hidden = block(hidden, frames, (h, w), flow)
        hidden = self.proj_out(hidden).reshape(bf, h, w, c).permute(0, 3, 1, 2)
        return hidden + x


class MotionModule(nn.Module):
    def __init__(self, channels: int, cfg: UNet3DConfig) -> None:
        super().__init__()
        self.temporal_transformer = TemporalTransformer(channels, cfg.motion_heads, cfg.motion_max_len)

    def forward(self, x: torch.Tensor, frames: int, flow: torch.Tensor | None) -> torch.Tensor:
        return self.temporal_transformer(x, frames, flow)


def _resnet(cin: int, cout: int, temb: int, cfg: UNet3DConfig) -> ResnetBlock2D:
    return ResnetBlock2D(in_channels=cin, out_channels=cout, temb_channels=temb, eps=cfg.norm_eps,
                         groups=cfg.norm_num_groups, dropout=0.0)


def _spatial(channels: int, cfg: UNet3DConfig) -> Transformer2DModel:
    return Transformer2DModel(num_attention_heads=cfg.attention_heads,
                              attention_head_dim=channels // cfg.attention_heads, in_channels=channels, num_layers=1,
                              cross_attention_dim=cfg.cross_attention_dim, norm_num_groups=cfg.norm_num_groups)


class Block(nn.Module):
    """A down, mid or up block: resnets, optional spatial attentions, one motion module per resnet."""

    def __init__(self, resnets: list[ResnetBlock2D], attentions: list[Transformer2DModel] | None,
                 channels: int, cfg: UNet3DConfig, motion_count: int) -> None:
        super().__init__()
        self.resnets = nn.ModuleList(resnets)
        if attentions is not None:
            self.attentions = nn.ModuleList(attentions)
        self.motion_modules = nn.ModuleList([MotionModule(channels, cfg) for _ in range(motion_count)])

    @property
    def has_attention(self) -> bool:
        return hasattr(self, "attentions")

    def layer(self, i: int, x: torch.Tensor, temb: torch.Tensor, context: torch.Tensor, frames: int,
              flow: torch.Tensor | None) -> torch.Tensor:
        x = self.resnets[i](x, temb)
        if self.has_attention:
            x = self.attentions[i](x, encoder_hidden_states=context, return_dict=False)[0]
        return self.motion_modules[i](x, frames, flow)


class MotionI2VUNet(nn.Module):
    """``forward(sample (b, c, f, h, w), timestep, text (b, n, d), stride=..., flow=...) -> noise (b, c', f, h, w)``."""

    def __init__(self, cfg: UNet3DConfig) -> None:
        super().__init__()
        self.cfg = cfg
        ch = cfg.block_out_channels
        temb = ch[0] * 4
        levels = len(ch)
        self.conv_in = nn.Conv2d(cfg.in_channels, ch[0], 3, padding=1)
        self.time_proj = Timesteps(ch[0], True, 0)
        self.time_embedding = TimestepEmbedding(ch[0], temb)
        if cfg.stride_embedding:
            self.stride_embedding = TimestepEmbedding(ch[0], temb)
        self.down_blocks = nn.ModuleList()
        cout = ch[0]
        for i in range(levels):
            cin, cout = cout, ch[i]
            last = i == levels - 1
            block = Block([_resnet(cin if j == 0 else cout, cout, temb, cfg) for j in range(cfg.layers_per_block)],
                          None if last else [_spatial(cout, cfg) for _ in range(cfg.layers_per_block)],
                          cout, cfg, cfg.layers_per_block)
            if not last:
                block.downsamplers = nn.ModuleList([Downsample2D(cout, use_conv=True, out_channels=cout, padding=1,
                                                                 name="op")])
            self.down_blocks.append(block)
        self.mid_block = Block([_resnet(ch[-1], ch[-1], temb, cfg) for _ in range(2)], [_spatial(ch[-1], cfg)],
                               ch[-1], cfg, 1)
        self.up_blocks = nn.ModuleList()
        rev = list(reversed(ch))
        cout = rev[0]
        for i in range(levels):
            prev, cout = cout, rev[i]
            cin = rev[min(i + 1, levels - 1)]
            n = cfg.layers_per_block + 1
            resnets = [_resnet((prev if j == 0 else cout) + (cin if j == n - 1 else cout), cout, temb, cfg)
                       for j in range(n)]
            block = Block(resnets, None if i == 0 else [_spatial(cout, cfg) for _ in range(n)], cout, cfg, n)
            if i < levels - 1:
                block.upsamplers = nn.ModuleList([Upsample2D(cout, use_conv=True, out_channels=cout)])
            self.up_blocks.append(block)
        self.conv_norm_out = nn.GroupNorm(cfg.norm_num_groups, ch[0], eps=cfg.norm_eps)
        self.conv_act = nn.SiLU()
        self.conv_out = nn.Conv2d(ch[0], cfg.out_channels, 3, padding=1)

    def _embedding(self, timestep: torch.Tensor, b: int, frames: int, stride: torch.Tensor | None,
                   dtype: torch.dtype) -> torch.Tensor:
        """Per-frame embedding (b*f, d): stage 1 adds the stride embedding, stage 2 gives frame 0 timestep 1."""
        device = self.conv_in.weight.device
        t = timestep.reshape(-1).to(device).expand(b) if timestep.numel() == 1 else timestep.to(device)
        emb = self.time_embedding(self.time_proj(t).to(dtype))  # b, d
        if self.cfg.stride_embedding:
            if stride is None:
                raise ValueError("stage 1 needs the frame strides")
            s = stride.to(device).reshape(-1, frames).expand(b, frames).reshape(-1)
            emb = emb[:, None] + self.stride_embedding(self.time_proj(s).to(dtype)).view(b, frames, -1)
        elif self.cfg.warped_motion:
            one = self.time_embedding(self.time_proj(torch.ones(b, device=device)).to(dtype))
            emb = torch.cat([one[:, None], emb[:, None].expand(b, frames - 1, -1)], dim=1)
        else:
            emb = emb[:, None].expand(b, frames, -1)
        return emb.reshape(b * frames, -1)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor | float, text: torch.Tensor, *,
                stride: torch.Tensor | None = None, flow: torch.Tensor | None = None) -> torch.Tensor:
        b, _, frames, h, w = sample.shape
        if self.cfg.warped_motion and flow is None:
            raise ValueError("stage 2 needs the stage-1 flow (b, frames, 2, H, W)")
        dtype = self.conv_in.weight.dtype
        timestep = torch.as_tensor(timestep)
        temb = self._embedding(timestep, b, frames, stride, dtype)
        context = text.repeat_interleave(frames, dim=0)
        flow = flow if self.cfg.warped_motion else None
        x = self.conv_in(sample.permute(0, 2, 1, 3, 4).reshape(b * frames, -1, h, w))
        skips = [x]
        for block in self.down_blocks:
            for i in range(len(block.resnets)):
                x = block.layer(i, x, temb, context, frames, flow)
                skips.append(x)
            if hasattr(block, "downsamplers"):
                x = block.downsamplers[0](x)
                skips.append(x)
        mid = self.mid_block
        x = mid.resnets[0](x, temb)
        x = mid.attentions[0](x, encoder_hidden_states=context, return_dict=False)[0]
        x = mid.motion_modules[0](x, frames, flow)
        x = mid.resnets[1](x, temb)
        for block in self.up_blocks:
            for i in range(len(block.resnets)):
                x = torch.cat([x, skips.pop()], dim=1)
                x = block.layer(i, x, temb, context, frames, flow)
            if hasattr(block, "upsamplers"):
                size = skips[-1].shape[-2:] if skips else None
                x = block.upsamplers[0](x, output_size=size)
        x = self.conv_out(self.conv_act(self.conv_norm_out(x)))
        return x.view(b, frames, -1, h, w).permute(0, 2, 1, 3, 4)
