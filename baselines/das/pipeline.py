"""One DiffusionAsShader clip (49 frames at 480x720): encode the conditions, denoise, decode.

What the published inference does (``testing/inference.py`` + ``CogVideoXImageToVideoPipelineTracking``
at IGL-HKUST/DiffusionAsShader 81890a7), which this reproduces step by step on diffusers' modules:

- the tracking video (uint8 / 255, i.e. in [0, 1], *not* mapped to [-1, 1] as in training) is VAE
  encoded (a sample of the latent distribution) and scaled; its first frame (mapped to [-1, 1]) is
  encoded like the I2V image and zero-padded to the latent length; both are concatenated on the
  channel axis into the branch input (``tracking_range="signed"`` feeds [-1, 1] as in training);
- the first frame is encoded (a sample), scaled and zero-padded, and concatenated to the latents;
- ``CogVideoXDPMScheduler`` (``timestep_spacing="trailing"``), 50 steps, CFG 6 with upstream's
  dynamic CFG and its negative prompt, a batch of two (negative, positive) per step;
- the VAE runs with tiling enabled (it changes the numbers at 480x720, so it is on by default);
- random draws in upstream's order from one CPU generator seeded with the seed: the image latent
  sample, the initial noise, the tracking image's latent sample, a noise tensor upstream draws and
  discards, then the scheduler's noise of every step. Upstream samples the tracking video's latent
  from the *global* RNG, unseeded; here it has its own generator seeded with the seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from baselines.das.model import DiffusionAsShaderTransformer

#: The negative prompt of upstream's inference scripts.
UPSTREAM_NEGATIVE_PROMPT = ("The video is not of a high quality, it has a low resolution. Watermark present in each "
                            "frame. The background is solid. Strange body and strange trajectory. Distortion.")
TRACKING_RANGES = ("unit", "signed")


@dataclass(frozen=True)
class DasSampler:
    """Generation settings; defaults are upstream's published inference."""

    steps: int = 50
    guidance_scale: float = 6.0
    dynamic_cfg: bool = True
    num_frames: int = 49
    height: int = 480
    width: int = 720
    negative_prompt: str = UPSTREAM_NEGATIVE_PROMPT
    tracking_range: str = "unit"
    vae_tiling: bool = True

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if (self.num_frames - 1) % 4:
            raise ValueError(f"num_frames must be 4k + 1 (the VAE's temporal compression), got {self.num_frames}")
        if self.height % 16 or self.width % 16:
            raise ValueError(f"height and width must be multiples of 16, got {self.height}x{self.width}")
        if self.tracking_range not in TRACKING_RANGES:
            raise ValueError(f"tracking_range must be one of {TRACKING_RANGES}, got {self.tracking_range!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CogVideoXParts:
    """The frozen parts around the transformer (mutable: they move between devices)."""

    vae: Any  # diffusers AutoencoderKLCogVideoX
    scheduler: Any  # diffusers CogVideoXDPMScheduler (trailing)
    text_encoder: Any = None  # transformers T5EncoderModel (None: pass embeddings)
    tokenizer: Any = None


@dataclass(frozen=True)
class ClipConditions:
    """Latents every step reuses: (1, F, C, h, w) each."""

    image_latents: torch.Tensor
    tracking_input: torch.Tensor  # tracking video latents ++ tracking first-frame latents (channels)


def pixels_signed(frames: np.ndarray) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float32 channels-first in [-1, 1], computed as upstream (x / 255 * 2 - 1)."""
    x = torch.from_numpy(np.array(frames, copy=True)).float() / 255.0
    return 2.0 * x.movedim(-1, -3) - 1.0


def pixels_unit(frames: np.ndarray) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float32 channels-first in [0, 1]."""
    return (torch.from_numpy(np.array(frames, copy=True)).float() / 255.0).movedim(-1, -3)


def to_uint8(video: torch.Tensor) -> np.ndarray:
    """Decoded (1, 3, T, H, W) in [-1, 1] -> uint8 (T, H, W, 3), rounding like diffusers' ``numpy_to_pil``."""
    x = (video[0].float() / 2 + 0.5).clamp(0, 1).permute(1, 2, 3, 0).cpu().numpy()
    return (x * 255).round().astype(np.uint8)


def dynamic_guidance(scale: float, t: int, steps: int) -> float:
    """Upstream's dynamic CFG (note: it feeds the *timestep value* where a step index would be expected)."""
    return 1 + scale * ((1 - math.cos(math.pi * ((steps - t) / steps) ** 5.0)) / 2)


class DasClipPipeline:
    """Encoders + tracking transformer + DPM sampler for one clip."""

    def __init__(self, transformer: DiffusionAsShaderTransformer, parts: CogVideoXParts, sampler: DasSampler,
                 device: str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        self.transformer, self.parts, self.sampler = transformer, parts, sampler
        self.device, self.dtype = torch.device(device), dtype
        transformer.to(self.device, dtype).eval()
        parts.vae.to(self.device, dtype).eval()
        if parts.text_encoder is not None:
            parts.text_encoder.to(self.device, dtype).eval()
        if sampler.vae_tiling:
            parts.vae.enable_tiling()
        cfg = parts.vae.config
        self.spatial = 2 ** (len(cfg.block_out_channels) - 1)
        self.temporal = int(cfg.temporal_compression_ratio)
        self.scaling = float(cfg.scaling_factor)

    # -- shapes ----------------------------------------------------------------------------------
    def latent_frames(self) -> int:
        return (self.sampler.num_frames - 1) // self.temporal + 1

    def noise_shape(self) -> tuple[int, ...]:
        ch = self.transformer.config.out_channels
        return (1, self.latent_frames(), ch, self.sampler.height // self.spatial, self.sampler.width // self.spatial)

    def rotary(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """3D RoPE as diffusers' CogVideoX 1.0 I2V pipeline builds it."""
        from diffusers.models.embeddings import get_3d_rotary_pos_embed
        from diffusers.pipelines.cogvideo.pipeline_cogvideox_image2video import get_resize_crop_region_for_grid

        cfg = self.transformer.config
        if not cfg.use_rotary_positional_embeddings:
            return None
        p = cfg.patch_size
        grid_h, grid_w = self.sampler.height // (self.spatial * p), self.sampler.width // (self.spatial * p)
        crops = get_resize_crop_region_for_grid((grid_h, grid_w), cfg.sample_width // p, cfg.sample_height // p)
        return get_3d_rotary_pos_embed(embed_dim=cfg.attention_head_dim, crops_coords=crops,
                                       grid_size=(grid_h, grid_w), temporal_size=self.latent_frames(),
                                       device=self.device)

    # -- conditions ------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_prompt(self, text: str) -> torch.Tensor:
        """T5 embeddings (1, L, D), padded/truncated to the transformer's text length as diffusers does."""
        if self.parts.text_encoder is None or self.parts.tokenizer is None:
            raise ValueError("this pipeline has no text encoder: pass prompt embeddings")
        ids = self.parts.tokenizer([text], padding="max_length", max_length=self.transformer.config.max_text_seq_length,
                                   truncation=True, add_special_tokens=True, return_tensors="pt").input_ids
        return self.parts.text_encoder(ids.to(self.device))[0].to(self.dtype)

    def _encode_sample(self, video: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(1, 3, T, H, W) -> scaled latent sample (1, F, C, h, w)."""
        dist = self.parts.vae.encode(video.to(self.device, self.dtype)).latent_dist
        return (dist.sample(generator=generator) * self.scaling).permute(0, 2, 1, 3, 4)

    def _image_latents(self, image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        first = self._encode_sample(image[None, :, None], generator)
        pad = torch.zeros((1, self.latent_frames() - 1, *first.shape[2:]), dtype=first.dtype, device=first.device)
        return torch.cat([first, pad], dim=1)

    @torch.no_grad()
    def conditions(self, first_frame: np.ndarray, track: np.ndarray, generator: torch.Generator,
                   track_generator: torch.Generator) -> ClipConditions:
        """Encode the first frame and the tracking video (uint8, at the working size) in upstream's RNG order."""
        s = self.sampler
        if first_frame.shape != (s.height, s.width, 3):
            raise ValueError(f"first frame must be {s.height}x{s.width}x3, got {first_frame.shape}")
        if track.shape != (s.num_frames, s.height, s.width, 3):
            raise ValueError(f"track video must be {s.num_frames}x{s.height}x{s.width}x3, got {track.shape}")
        track_pixels = pixels_unit(track) if s.tracking_range == "unit" else pixels_signed(track)
        track_latents = self._encode_sample(track_pixels.permute(1, 0, 2, 3)[None], track_generator)
        image_latents = self._image_latents(pixels_signed(first_frame), generator)
        self.initial_noise = torch.randn(self.noise_shape(), generator=generator, dtype=self.dtype)
        track_image_latents = self._image_latents(pixels_signed(track[0]), generator)
        torch.randn(self.noise_shape(), generator=generator)  # upstream draws (and discards) a second noise here
        return ClipConditions(image_latents, torch.cat([track_latents, track_image_latents], dim=2))

    # -- sampling --------------------------------------------------------------------------------
    @torch.no_grad()
    def denoise(self, conditions: ClipConditions, prompt: torch.Tensor, negative: torch.Tensor,
                noise: torch.Tensor, generator: torch.Generator,
                on_step: Callable[[int, torch.Tensor], None] | None = None) -> torch.Tensor:
        """The DPM loop with batched CFG; ``on_step(i, latents)`` after every step."""
        s, scheduler = self.sampler, self.parts.scheduler
        scheduler.set_timesteps(s.steps, device=self.device)
        timesteps = scheduler.timesteps
        latents = noise.to(self.device, self.dtype) * scheduler.init_noise_sigma
        embeds = torch.cat([negative, prompt]).to(self.device, self.dtype)
        image = torch.cat([conditions.image_latents] * 2)
        tracking = torch.cat([conditions.tracking_input] * 2)
        rope = self.rotary()
        old_x0 = None
        for i, t in enumerate(timesteps):
            model_in = scheduler.scale_model_input(torch.cat([latents] * 2), t)
            model_in = torch.cat([model_in, image], dim=2)
            pred = self.transformer(model_in, embeds, t.expand(2), tracking_maps=tracking, image_rotary_emb=rope,
                                    return_dict=False)[0].float()
            scale = dynamic_guidance(s.guidance_scale, int(t.item()), s.steps) if s.dynamic_cfg else s.guidance_scale
            uncond, cond = pred.chunk(2)
            pred = uncond + scale * (cond - uncond)
            latents, old_x0 = scheduler.step(pred, old_x0, t, timesteps[i - 1] if i > 0 else None, latents,
                                             eta=0.0, generator=generator, return_dict=False)
            latents = latents.to(self.dtype)
            if on_step is not None:
                on_step(i, latents)
        return latents

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents (1, F, C, h, w) -> video (1, 3, T, H, W) in [-1, 1]."""
        return self.parts.vae.decode(latents.permute(0, 2, 1, 3, 4) / self.scaling).sample

    def generate(self, first_frame: np.ndarray, track: np.ndarray, caption: str, seed: int,
                 prompt_embeds: tuple[torch.Tensor, torch.Tensor] | None = None,
                 on_step: Callable[[int, torch.Tensor], None] | None = None) -> np.ndarray:
        """A whole clip: uint8 (num_frames, height, width, 3)."""
        generator = torch.Generator().manual_seed(int(seed))
        track_generator = torch.Generator().manual_seed(int(seed))
        if prompt_embeds is None:
            prompt_embeds = (self.encode_prompt(caption), self.encode_prompt(self.sampler.negative_prompt))
        conditions = self.conditions(first_frame, track, generator, track_generator)
        self.last_conditions = conditions
        latents = self.denoise(conditions, prompt_embeds[0], prompt_embeds[1], self.initial_noise, generator,
                               on_step)
        return to_uint8(self.decode(latents))


__all__ = ["UPSTREAM_NEGATIVE_PROMPT", "ClipConditions", "CogVideoXParts", "DasClipPipeline", "DasSampler",
           "dynamic_guidance", "pixels_signed", "pixels_unit", "to_uint8"]
