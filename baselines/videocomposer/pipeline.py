"""One VideoComposer pass: conditions -> 50 DDIM steps with guidance -> 16 decoded frames.

As upstream's ``inference_single``: the conditional pass gets the caption's tokens, the CLIP image
token and the spatial conditions; the unconditional pass gets the empty prompt's tokens, a zero
image embedding (its ``pre_image_condition`` token is kept) and the SAME spatial conditions, so
guidance acts on text and style only. Upstream runs under fp16 autocast on CUDA; ``autocast``
picks that (or bf16, or none for fp32, which the parity tests use).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from baselines.videocomposer.config import SamplerConfig
from baselines.videocomposer.encoders import OpenClipEncoders, decode_latents, to_uint8
from baselines.videocomposer.sampler import DDIMSampler
from baselines.videocomposer.unet import VideoComposerUNet


@dataclass(frozen=True, eq=False)
class PassInputs:
    """What one pass is conditioned on (arrays already in VideoComposer's conventions, see ``conditions``)."""

    first_frame: np.ndarray  # uint8 (size, size, 3)
    caption: str
    depth: np.ndarray | None = None  # float32 (1, F, misc, misc), near = large
    motion: np.ndarray | None = None  # float32 (2, F, size, size)


class VideoComposerPipeline:
    """UNet + VAE + OpenCLIP on one device, sampling one 16-frame pass at a time."""

    def __init__(self, unet: VideoComposerUNet, vae: torch.nn.Module, clip: OpenClipEncoders, sampler: SamplerConfig,
                 device: str = "cpu", autocast: torch.dtype | None = None) -> None:
        self.unet, self.vae, self.clip = unet.to(device).eval(), vae.to(device).eval(), clip
        clip.model.to(device)
        self.config, self.device, self.autocast = sampler, torch.device(device), autocast
        self.sampler = DDIMSampler(sampler)
        factor = 2 ** (len(vae.config.block_out_channels) - 1)
        if unet.config.latent_size * factor != sampler.size:
            raise ValueError(f"the UNet's latent grid ({unet.config.latent_size}) times the VAE's factor ({factor}) "
                             f"must equal the frame size {sampler.size}")
        missing = [c for c in ("depth", "motion", "local_image") if c in sampler.conditions
                   and c not in unet.config.conditions]
        if missing:
            raise ValueError(f"the UNet has no STC branch for {missing}")
        self._empty_text: torch.Tensor | None = None

    def noise_shape(self) -> tuple[int, ...]:
        side = self.unet.config.latent_size
        return (1, self.unet.config.in_dim, self.config.num_frames, side, side)

    def _autocast(self):
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast)

    def model_kwargs(self, inputs: PassInputs) -> tuple[dict, dict]:
        """The conditional and unconditional keyword arguments of the UNet."""
        use = set(self.config.conditions)
        f, dev = self.config.num_frames, self.device
        if self._empty_text is None:
            self._empty_text = self.clip.text([""]).to(dev)
        spatial: dict[str, torch.Tensor] = {}
        if "depth" in use:
            if inputs.depth is None:
                raise ValueError("the 'depth' condition is on but the pass has no depth")
            spatial["depth"] = torch.from_numpy(inputs.depth)[None].to(dev)
        if "local_image" in use:
            from baselines.videocomposer.conditions import local_image_condition

            local = local_image_condition(inputs.first_frame, f, self.config.misc_size)
            spatial["local_image"] = torch.from_numpy(local)[None].to(dev)
        if "motion" in use:
            if inputs.motion is None:
                raise ValueError("the 'motion' condition is on but the pass has no motion vectors")
            spatial["motion"] = torch.from_numpy(inputs.motion)[None].to(dev)
        text = self.clip.text([inputs.caption]).to(dev) if "text" in use else self._empty_text
        cond = {"y": text, **spatial}
        uncond = {"y": self._empty_text, **spatial}
        if "image" in use:
            image = self.clip.image(inputs.first_frame).to(dev)
            cond["image"], uncond["image"] = image, torch.zeros_like(image)
        return cond, uncond

    @torch.no_grad()
    def denoise_latents(self, inputs: PassInputs, noise: torch.Tensor,
                        on_step: Callable[[int, int], None] | None = None) -> torch.Tensor:
        cond, uncond = self.model_kwargs(inputs)

        def denoise(x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.unet(x, t, **cond).float(), self.unet(x, t, **uncond).float()

        with self._autocast():
            return self.sampler.sample(noise.to(self.device, torch.float32), denoise, on_step)

    @torch.no_grad()
    def generate(self, inputs: PassInputs, noise: torch.Tensor,
                 on_step: Callable[[int, int], None] | None = None) -> np.ndarray:
        """uint8 (F, size, size, 3) frames of one pass."""
        latents = self.denoise_latents(inputs, noise, on_step)
        with self._autocast():
            pixels = decode_latents(self.vae, latents)
        return to_uint8(pixels[0])


def seeded_noise(shape: tuple[int, ...], *keys: int) -> torch.Tensor:
    """Standard normal noise drawn on the CPU from a seed made of ``keys`` (same on every device and run)."""
    seed = 0
    for key in keys:
        seed = (seed * 1_000_003 + int(key)) % (2 ** 63 - 1)
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float32)


__all__ = ["PassInputs", "VideoComposerPipeline", "seeded_noise"]
