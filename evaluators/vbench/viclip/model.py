"""ViCLIP (InternVid's video CLIP), written for inference and for the official checkpoint's tensor names.

No maintained library ships ViCLIP, so the two towers are built here from open_clip's transformer
blocks (the same parameter names as the official checkpoint: ``resblocks.N.attn.in_proj_weight``,
``ln_1``, ``mlp.c_fc``, ``mlp.c_proj``, ``ln_2``) plus the ViCLIP-specific parts:

- vision: a ``Conv3d`` patch embedding with temporal kernel 1 (i.e. per-frame 14x14 patches), the
  spatial position embedding on every frame, a learned temporal embedding per frame, then **joint
  space-time attention** over all ``T * N`` patch tokens plus one class token; the output is the
  class token after ``ln_post``, times ``proj``. A one-frame input gets the mean temporal embedding
  (as upstream does); any other frame count must equal the checkpoint's (8).
- text: OpenAI CLIP's causal text transformer with a 32-token context; the feature is the EOT
  position (the largest token id) after ``ln_final``, times ``text_projection``.

Sizes are inferred from the state dict (:meth:`ViCLIPConfig.from_state_dict`), so a tiny random
checkpoint with the official names loads through exactly the code path of the real one.
Head counts follow the official 64-dimensional heads (1024 -> 16, 768 -> 12).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from open_clip.transformer import LayerNorm, LayerNormFp32, QuickGELU, Transformer
from torch import nn

HEAD_DIM = 64


@dataclass(frozen=True)
class ViCLIPConfig:
    """The sizes of a ViCLIP; the defaults are ViCLIP-L/14 as VBench builds it."""

    vision_width: int = 1024
    vision_layers: int = 24
    patch_size: int = 14
    image_size: int = 224
    num_frames: int = 8
    text_width: int = 768
    text_layers: int = 12
    embed_dim: int = 768
    vocab_size: int = 49408
    context_length: int = 32

    @property
    def vision_heads(self) -> int:
        return max(1, self.vision_width // HEAD_DIM)

    @property
    def text_heads(self) -> int:
        return max(1, self.text_width // HEAD_DIM)

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor]) -> ViCLIPConfig:
        """The sizes an official-layout state dict encodes (raises KeyError/ValueError for other layouts)."""
        conv = state["vision_encoder.conv1.weight"]
        if conv.ndim != 5 or conv.shape[2] != 1 or conv.shape[1] != 3:
            raise ValueError(f"vision_encoder.conv1.weight must be (width, 3, 1, p, p), got {tuple(conv.shape)}")
        grid = math.isqrt(state["vision_encoder.positional_embedding"].shape[0] - 1)
        return cls(
            vision_width=conv.shape[0], vision_layers=_count_layers(state, "vision_encoder.transformer"),
            patch_size=conv.shape[-1], image_size=grid * conv.shape[-1],
            num_frames=state["vision_encoder.temporal_positional_embedding"].shape[1],
            text_width=state["text_encoder.token_embedding.weight"].shape[1],
            text_layers=_count_layers(state, "text_encoder.transformer"),
            embed_dim=state["vision_encoder.proj"].shape[1],
            vocab_size=state["text_encoder.token_embedding.weight"].shape[0],
            context_length=state["text_encoder.positional_embedding"].shape[0],
        )


def _count_layers(state: Mapping[str, torch.Tensor], prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"\.resblocks\.(\d+)\.")
    indices = {int(m.group(1)) for key in state if (m := pattern.match(key))}
    if not indices or indices != set(range(len(indices))):
        raise ValueError(f"{prefix}: resblocks must be numbered 0..N-1, found {sorted(indices)[:8]}")
    return len(indices)


class ViCLIPVision(nn.Module):
    """The video tower: (B, T, 3, H, W) normalised frames -> (B, embed_dim) features (not normalised)."""

    def __init__(self, config: ViCLIPConfig) -> None:
        super().__init__()
        width, patch = config.vision_width, config.patch_size
        self.num_frames = config.num_frames
        self.conv1 = nn.Conv3d(3, width, (1, patch, patch), (1, patch, patch), bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.positional_embedding = nn.Parameter(torch.zeros((config.image_size // patch) ** 2 + 1, width))
        self.temporal_positional_embedding = nn.Parameter(torch.zeros(1, config.num_frames, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, config.vision_layers, config.vision_heads, act_layer=QuickGELU,
                                       norm_layer=LayerNorm, batch_first=True)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(torch.zeros(width, config.embed_dim))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        batch, frames = video.shape[:2]
        if frames != 1 and frames != self.num_frames:
            raise ValueError(f"ViCLIP takes 1 or {self.num_frames} frames, got {frames}")
        weight = self.conv1.weight[:, :, 0]  # temporal kernel 1: a 2D patch embedding per frame
        x = nn.functional.conv2d(video.flatten(0, 1), weight, stride=weight.shape[-1])  # (B*T, C, g, g)
        x = x.flatten(2).transpose(1, 2)  # (B*T, N, C)
        x = x + self.positional_embedding[1:].to(x.dtype)
        x = x.unflatten(0, (batch, frames))  # (B, T, N, C)
        temporal = self.temporal_positional_embedding
        temporal = temporal.mean(1, keepdim=True) if frames == 1 else temporal
        x = x + temporal.unsqueeze(2).to(x.dtype)
        x = x.transpose(1, 2).flatten(1, 2)  # (B, N*T, C): patch-major, frame-minor, as upstream orders them
        cls = (self.class_embedding + self.positional_embedding[0]).to(x.dtype).expand(batch, 1, -1)
        x = self.ln_pre(torch.cat([cls, x], dim=1))
        x = self.transformer(x)
        return self.ln_post(x[:, 0]) @ self.proj.to(x.dtype)


class ViCLIPText(nn.Module):
    """The text tower: (B, L) token ids -> (B, embed_dim) features (not normalised)."""

    def __init__(self, config: ViCLIPConfig) -> None:
        super().__init__()
        width = config.text_width
        self.token_embedding = nn.Embedding(config.vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.zeros(config.context_length, width))
        self.transformer = Transformer(width, config.text_layers, config.text_heads, act_layer=QuickGELU,
                                       norm_layer=LayerNormFp32, batch_first=True)
        self.ln_final = LayerNormFp32(width)
        self.text_projection = nn.Parameter(torch.zeros(width, config.embed_dim))
        mask = torch.full((config.context_length, config.context_length), float("-inf")).triu_(1)
        self.register_buffer("causal_mask", mask, persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.token_embedding(tokens) + self.positional_embedding
        x = self.transformer(x, attn_mask=self.causal_mask)
        x = self.ln_final(x)
        eot = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]
        return eot @ self.text_projection.to(eot.dtype)


class ViCLIP(nn.Module):
    """Both towers under the official names ``vision_encoder.*``, ``text_encoder.*`` and ``temp``."""

    def __init__(self, config: ViCLIPConfig) -> None:
        super().__init__()
        self.config = config
        self.vision_encoder = ViCLIPVision(config)
        self.text_encoder = ViCLIPText(config)
        self.temp = nn.Parameter(torch.tensor(0.01))  # training temperature; in the checkpoint, unused here

    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        return self.vision_encoder(video)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.text_encoder(tokens)
