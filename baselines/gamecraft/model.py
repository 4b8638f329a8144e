"""The Hunyuan-GameCraft-1.0 transformer: diffusers' HunyuanVideo DiT + GameCraft's camera encoder.

GameCraft's DiT is HunyuanVideo's (20 dual-stream + 40 single-stream blocks, width 3072, 24 heads,
token refiner, no guidance embedding) with two changes, both here:
- the patch embedding takes 33 channels: noisy latents 16 | history/first-frame latents 16 | mask 1;
- ``camera_net`` (``CameraNet``) encodes the per-pixel Plücker maps of the action (6 channels at
  full pixel resolution: pixel-unshuffle by 8, two 1x1 conv + GroupNorm + ReLU stages, each
  followed by a temporal halving that keeps the first frame, a zero-initialised 1x1 conv to 16
  channels and a 1x2x2 patch embedding to the DiT width, times a learned scale) and its tokens are
  *added* to the video tokens right after patchify. History latents get the camera code of an
  all-zero map (upstream: ``camera_net(zeros)`` for the 1 image latent or the 9 history latents).

The blocks, RoPE, timestep/text embeddings, final norm and projection are diffusers'
``HunyuanVideoTransformer3DModel`` modules (they implement HunyuanVideo exactly); only the forward
loop is ours, for the camera tokens and upstream's "deepcache" (in cached steps only the last
single-stream block runs, on the input it had in the last full step; upstream's default for 50 steps).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class GameCraftConfig:
    """Shape of the GameCraft DiT (``HYVideo-T/2`` upstream) and of its camera encoder."""

    num_layers: int = 20
    num_single_layers: int = 40
    num_heads: int = 24
    head_dim: int = 128
    mlp_ratio: float = 4.0
    latent_channels: int = 16
    text_dim: int = 4096
    pooled_dim: int = 768
    refiner_layers: int = 2
    rope_axes: tuple[int, int, int] = (16, 56, 56)
    rope_theta: float = 256.0
    patch_size: int = 2
    camera_in_channels: int = 6
    camera_downscale: int = 8

    def __post_init__(self) -> None:
        if sum(self.rope_axes) != self.head_dim:
            raise ValueError(f"rope_axes {self.rope_axes} must sum to head_dim {self.head_dim}")

    @property
    def dim(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def in_channels(self) -> int:
        """latents | conditioning latents | mask (upstream's ``multitask_mask_training_type='concat'``)."""
        return 2 * self.latent_channels + 1

    def diffusers_config(self) -> dict:
        return {"in_channels": self.in_channels, "out_channels": self.latent_channels,
                "num_attention_heads": self.num_heads, "attention_head_dim": self.head_dim,
                "num_layers": self.num_layers, "num_single_layers": self.num_single_layers,
                "num_refiner_layers": self.refiner_layers, "mlp_ratio": self.mlp_ratio,
                "patch_size": self.patch_size, "patch_size_t": 1, "qk_norm": "rms_norm", "guidance_embeds": False,
                "text_embed_dim": self.text_dim, "pooled_projection_dim": self.pooled_dim,
                "rope_theta": self.rope_theta, "rope_axes_dim": tuple(self.rope_axes), "image_condition_type": None}

    def to_dict(self) -> dict:
        data = asdict(self)
        data["rope_axes"] = list(self.rope_axes)
        return data


REAL_CONFIG = GameCraftConfig()
#: Same structure at CPU size (refiner depth 2 is hard-coded upstream, so it stays).
TINY_CONFIG = GameCraftConfig(num_layers=2, num_single_layers=2, num_heads=2, head_dim=16, text_dim=24,
                              pooled_dim=20, rope_axes=(4, 6, 6))


class CameraNet(nn.Module):
    """GameCraft's action encoder: (B, F, 6, H, W) Plücker maps -> (B, F', dim) tokens (names as upstream)."""

    def __init__(self, in_channels: int, downscale: int, out_channels: int, patch_size: int, dim: int) -> None:
        super().__init__()
        start = in_channels * downscale**2
        self.unshuffle = nn.PixelUnshuffle(downscale)
        self.encode_first = nn.Sequential(nn.Conv2d(start, start // 2, 1), nn.GroupNorm(2, start // 2), nn.ReLU())
        self.encode_second = nn.Sequential(nn.Conv2d(start // 2, start // 4, 1), nn.GroupNorm(2, start // 4),
                                           nn.ReLU())
        self.final_proj = nn.Conv2d(start // 4, out_channels, 1)
        self.scale = nn.Parameter(torch.ones(1))
        self.camera_in = _PatchEmbed(patch_size, out_channels, dim)

    @staticmethod
    def compress_time(x: torch.Tensor, frames: int) -> torch.Tensor:
        """Halve the frame axis by average pooling, keeping the first frame of each clip on its own.

        Odd counts keep frame 0 and pool the rest in pairs (33 -> 17 -> 9, the VAE's 4x causal
        compression); even counts pool everything; 34 and 66 (training's image + clip and history +
        clip) are treated as two odd halves."""
        batch_frames, channels, height, width = x.shape
        batch = batch_frames // frames
        seq = x.reshape(batch, frames, channels, height, width).permute(0, 3, 4, 2, 1).reshape(-1, channels, frames)

        def keep_first(part: torch.Tensor) -> torch.Tensor:
            rest = part[..., 1:]
            if rest.shape[-1] > 0:
                rest = F.avg_pool1d(rest, kernel_size=2, stride=2)
            return torch.cat([part[..., :1], rest], dim=-1)

        if frames in (34, 66):
            seq = torch.cat([keep_first(seq[..., : frames // 2]), keep_first(seq[..., frames // 2:])], dim=-1)
        elif frames % 2 == 1:
            seq = keep_first(seq)
        else:
            seq = F.avg_pool1d(seq, kernel_size=2, stride=2)
        out_frames = seq.shape[-1]
        seq = seq.reshape(batch, height, width, channels, out_frames).permute(0, 4, 3, 1, 2)
        return seq.reshape(batch * out_frames, channels, height, width)

    def forward(self, plucker: torch.Tensor) -> torch.Tensor:
        batch, frames = plucker.shape[:2]
        x = self.unshuffle(plucker.flatten(0, 1))
        x = self.compress_time(self.encode_first(x), frames)
        x = self.compress_time(self.encode_second(x), x.shape[0] // batch)
        x = self.final_proj(x)
        x = x.reshape(batch, -1, *x.shape[1:]).permute(0, 2, 1, 3, 4)  # (B, C, F', h, w)
        return self.camera_in(x) * self.scale


class _PatchEmbed(nn.Module):
    """Conv3d patchify (1 x p x p) flattened to tokens; the attribute is ``proj`` as upstream."""

    def __init__(self, patch_size: int, in_channels: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv3d(in_channels, dim, kernel_size=(1, patch_size, patch_size),
                              stride=(1, patch_size, patch_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


@dataclass
class DeepCache:
    """Upstream's deepcache: the input of the last single-stream block from the last full step (mutable)."""

    hidden: torch.Tensor | None = None
    full_steps: int = 0
    reused_steps: int = 0
    history: list[bool] = field(default_factory=list)


def deepcache_reuse_steps(num_steps: int) -> frozenset[int]:
    """Steps that reuse the cache upstream: only with 50 steps, the odd steps 11..39."""
    if num_steps != 50:
        return frozenset()
    full = set(range(0, 10)) | set(range(10, 40, 2)) | set(range(40, 50))
    return frozenset(set(range(50)) - full)


class GameCraftTransformer(nn.Module):
    """``transformer`` (diffusers HunyuanVideo DiT, 33 input channels) + ``camera_net``."""

    def __init__(self, config: GameCraftConfig = REAL_CONFIG) -> None:
        super().__init__()
        from diffusers import HunyuanVideoTransformer3DModel

        self.config = config
        self.transformer = HunyuanVideoTransformer3DModel(**config.diffusers_config())
        self.camera_net = CameraNet(config.camera_in_channels, config.camera_downscale, config.latent_channels,
                                    config.patch_size, config.dim)

    def camera_tokens(self, plucker: torch.Tensor, latent_frames: int) -> torch.Tensor:
        """Camera tokens for ``latent_frames`` latents: zero-map codes for the conditioning latents first."""
        generated = self.camera_net(plucker)
        extra = latent_frames - (1 + (plucker.shape[1] - 1) // 4)
        if extra == 0:
            return generated
        if extra == 1:  # first action: the image latent (upstream encodes 4 zero frames -> 1 latent)
            return torch.cat([self.camera_net(torch.zeros_like(plucker[:, :4])), generated], dim=1)
        if extra == latent_frames // 2:  # continuation: history latents get the code of an all-zero map
            return torch.cat([self.camera_net(torch.zeros_like(plucker)), generated], dim=1)
        raise ValueError(f"{latent_frames} latent frames do not fit {plucker.shape[1]} camera frames "
                         f"(GameCraft runs 9, 10 or 18 latents for 33 frames)")

    def forward(self, hidden_states: torch.Tensor, timestep: torch.Tensor, text: torch.Tensor,
                text_mask: torch.Tensor, pooled: torch.Tensor, plucker: torch.Tensor,
                cache: DeepCache | None = None, reuse_cache: bool = False) -> torch.Tensor:
        """Velocity for (B, 33, F, h, w) inputs; ``plucker`` (B, 33, 6, 8h, 8w)."""
        base = self.transformer
        batch, _, frames, height, width = hidden_states.shape
        p = self.config.patch_size
        rotary = base.rope(hidden_states)
        temb, _ = base.time_text_embed(timestep, pooled, None)
        tokens = base.x_embedder(hidden_states)
        tokens = tokens + self.camera_tokens(plucker.to(tokens.dtype), frames)
        context = base.context_embedder(text, timestep, text_mask)
        video_len, text_len = tokens.shape[1], context.shape[1]
        valid = video_len + text_mask.sum(dim=1, dtype=torch.int)
        keys = torch.arange(video_len + text_len, device=tokens.device)[None] < valid[:, None]
        mask = keys[:, None, None, :]
        args = (mask, rotary, None, video_len)
        if reuse_cache:
            if cache is None or cache.hidden is None:
                raise RuntimeError("deepcache reuse requested before any full step filled the cache")
            tokens, context = cache.hidden
            tokens, context = base.single_transformer_blocks[-1](tokens, context, temb, *args)
            cache.reused_steps += 1
        else:
            for block in base.transformer_blocks:
                tokens, context = block(tokens, context, temb, *args)
            last = len(base.single_transformer_blocks) - 1
            for index, block in enumerate(base.single_transformer_blocks):
                if index == last and cache is not None:
                    cache.hidden = (tokens, context)
                tokens, context = block(tokens, context, temb, *args)
            if cache is not None:
                cache.full_steps += 1
        out = base.proj_out(base.norm_out(tokens, temb))
        out = out.reshape(batch, frames, height // p, width // p, -1, 1, p, p)
        return out.permute(0, 4, 1, 5, 2, 6, 3, 7).flatten(6, 7).flatten(4, 5).flatten(2, 3)


def build_on_meta(config: GameCraftConfig = REAL_CONFIG) -> GameCraftTransformer:
    """The model with every tensor on the meta device (shapes only, no memory)."""
    with torch.device("meta"):
        return GameCraftTransformer(config)


__all__ = ["REAL_CONFIG", "TINY_CONFIG", "CameraNet", "DeepCache", "GameCraftConfig", "GameCraftTransformer",
           "build_on_meta", "deepcache_reuse_steps"]
