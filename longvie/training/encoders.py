"""The frozen encoders training needs: the Wan VAE, the text encoder and the CLIP image encoder.

Training only ever *encodes* with them (and decodes single frames for the re-encode and
regenerate degradations), so they sit behind one small interface, :class:`TrainingEncoders`.
Two implementations:

- :class:`PipelineEncoders`: the real ones (umT5-XXL, CLIP ViT-H/14, the Wan VAE) as the inference
  side's ``ClipPipeline`` loads and runs them from a weights folder;
- :func:`tiny_encoders`: a tiny *randomly initialised* diffusers VAE plus fixed random text and
  image embedders, sized for :data:`longvie.config.TINY_CONFIG`. They exist so the whole training
  path runs on a CPU in tests; they encode nothing meaningful.

Latents are normalised with the VAE's ``latents_mean`` / ``latents_std`` and taken as the mode of
the posterior, as upstream does for every encode.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn


class TrainingEncoders(Protocol):
    """Frozen encoders; videos are float (B, 3, T, H, W) in [-1, 1]."""

    def encode(self, video: torch.Tensor) -> torch.Tensor: ...  # -> normalised latents (B, 16, F, h, w)

    def decode(self, latents: torch.Tensor) -> torch.Tensor: ...  # -> (B, 3, T, H, W) in [-1, 1]

    def encode_text(self, captions: list[str]) -> torch.Tensor: ...  # -> (B, L, text_dim)

    def encode_image(self, image: torch.Tensor) -> torch.Tensor: ...  # (B, 3, H, W) -> (B, N, image_dim)


class WanVAECodec:
    """diffusers ``AutoencoderKLWan`` with upstream's latent normalisation (and mode, not a sample)."""

    def __init__(self, vae: nn.Module) -> None:
        self.vae = vae.eval().requires_grad_(False)
        self.mean = torch.tensor(vae.config.latents_mean, dtype=torch.float32).view(1, -1, 1, 1, 1)
        self.std = torch.tensor(vae.config.latents_std, dtype=torch.float32).view(1, -1, 1, 1, 1)

    def _dtype(self) -> torch.dtype:
        return next(self.vae.parameters()).dtype

    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> torch.Tensor:
        z = self.vae.encode(video.to(self._dtype())).latent_dist.mode().float()
        return (z - self.mean.to(z.device)) / self.std.to(z.device)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        z = latents.float() * self.std.to(latents.device) + self.mean.to(latents.device)
        return self.vae.decode(z.to(self._dtype())).sample.float().clamp(-1, 1)


class PipelineEncoders:
    """The inference side's encoders (``longvie.pipeline.ClipPipeline``) behind :class:`TrainingEncoders`.

    Training and inference then encode with the very same code: VAE normalisation, umT5 with
    zeroed padding, CLIP penultimate features.
    """

    def __init__(self, pipeline) -> None:  # longvie.pipeline.ClipPipeline
        self.pipeline = pipeline

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        return self.pipeline.encode_video(video)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.pipeline.decode(latents).float().clamp(-1, 1)

    def encode_text(self, captions: list[str]) -> torch.Tensor:
        return torch.cat([self.pipeline.encode_text(c) for c in captions], dim=0)

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        pixels = ((image.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        return torch.cat([self.pipeline.encode_image(p) for p in pixels], dim=0)


class TinyEncoders(WanVAECodec):
    """Randomly initialised stand-ins sized for the tiny configuration (tests and smoke runs only)."""

    def __init__(self, text_dim: int, image_dim: int, seed: int = 0, text_tokens: int = 8, image_tokens: int = 5
                 ) -> None:
        from diffusers import AutoencoderKLWan

        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            vae = AutoencoderKLWan(base_dim=8, z_dim=16, dim_mult=[1, 2, 2, 2], num_res_blocks=1, attn_scales=[],
                                   temperal_downsample=[False, True, True])
            self.text_table = torch.randn(256, text_dim) * 0.5
            self.image_proj = torch.randn(3 * 4, image_dim) * 0.5
        finally:
            torch.random.set_rng_state(generator_state)
        super().__init__(vae)
        self.text_tokens, self.image_tokens = text_tokens, image_tokens

    def encode_text(self, captions: list[str]) -> torch.Tensor:
        """Bytes of the caption (first ``text_tokens``) looked up in a fixed random table, zero-padded."""
        out = torch.zeros(len(captions), self.text_tokens, self.text_table.shape[1])
        for i, caption in enumerate(captions):
            data = caption.encode("utf-8")[: self.text_tokens]
            if data:
                out[i, : len(data)] = self.text_table[torch.tensor(list(data))]
        return out

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        """``image_tokens`` rows of a 2x2 pooled image through a fixed random projection."""
        pooled = torch.nn.functional.adaptive_avg_pool2d(image.float().cpu(), 2).flatten(1)  # (B, 12)
        token = pooled @ self.image_proj
        return token[:, None].expand(-1, self.image_tokens, -1).contiguous()


def tiny_encoders(text_dim: int, image_dim: int, seed: int = 0) -> TinyEncoders:
    return TinyEncoders(text_dim, image_dim, seed)
