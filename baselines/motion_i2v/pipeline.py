"""Motion-I2V's two-stage sampling for one native segment (image + text -> 16 frames).

Follows the published pipelines (``flowgen/pipelines/pipeline_flow_gen.py``,
``animation/pipelines/pipeline_animation.py``) for image + text input:

1. stage 1: the first frame, in [0, 1] as the published demo passes it (not [-1, 1]), is
   VAE-encoded and repeated over the 15 later frames; DDIM with CFG denoises the flow latents
   conditioned on it and on the strides 8..120; the flow VAE decodes them; the flow is
   ``(x * 2 - 1).clamp(-1, 1)`` scaled by the width/height, and frame 0 gets zero flow.
   The published demo also runs a ControlNet on user drags; with no drags its input is a
   constant, and image + text generation here runs stage 1 without it (as the ComfyUI port does).
2. stage 2: the first frame in [-1, 1] is encoded (stage 2's own VAE, see ``Components``);
   every step re-imposes it on latent frame 0; the UNet attends to first-frame features warped
   along the flow; frames decoded one by one, ``(x / 2 + 0.5).clamp(0, 1)``, to uint8 by truncation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from diffusers import AutoencoderKL, DDIMScheduler

from baselines.motion_i2v.config import (
    FLOW_STRIDES,
    NATIVE_CFG,
    NATIVE_FRAMES,
    NATIVE_STEPS,
    NEGATIVE_PROMPT,
    SCHEDULER_STAGE1,
    SCHEDULER_STAGE2,
    VAE_SCALE,
)
from baselines.motion_i2v.unet3d import MotionI2VUNet


@dataclass(frozen=True)
class Components:
    """Everything sampling needs (either stage's own CLIP text encoder and tokenizer).

    ``image_vae`` encodes stage 1's condition image (SD 1.5's VAE, upstream's ``vae_img``);
    ``video_vae`` encodes the first frame and decodes the video in stage 2 (upstream converts it
    from Realistic Vision's LDM single file, see ``ldm_vae.py``).
    """

    tokenizer1: object
    text_encoder1: torch.nn.Module
    tokenizer2: object
    text_encoder2: torch.nn.Module
    image_vae: AutoencoderKL
    flow_vae: AutoencoderKL
    unet1: MotionI2VUNet
    unet2: MotionI2VUNet
    video_vae: AutoencoderKL


def _encode_text(tokenizer, encoder: torch.nn.Module, prompts: list[str], device: torch.device) -> torch.Tensor:
    ids = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids.to(device)
    return encoder(ids)[0]


class MotionI2VPipeline:
    def __init__(self, parts: Components, device: str = "cpu", steps: int = NATIVE_STEPS,
                 guidance: float = NATIVE_CFG, negative_prompt: str = NEGATIVE_PROMPT) -> None:
        self.parts = parts
        self.device = torch.device(device)
        self.steps = steps
        self.guidance = guidance
        self.negative_prompt = negative_prompt

    def _cfg(self, unet: MotionI2VUNet, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor, **kw) -> torch.Tensor:
        pred = unet(torch.cat([x] * 2), t, text, **kw).to(x.dtype)
        uncond, cond = pred.chunk(2)
        return uncond + self.guidance * (cond - uncond)

    @torch.no_grad()
    def flow(self, image01: torch.Tensor, prompt: str, generator: torch.Generator) -> torch.Tensor:
        """Stage 1: (1, 3, H, W) in [0, 1] -> flow (F, 2, H, W) in pixels, frame 0 zero."""
        p = self.parts
        _, _, h, w = image01.shape
        later = NATIVE_FRAMES - 1
        text = _encode_text(p.tokenizer1, p.text_encoder1, [self.negative_prompt, prompt], self.device)
        image_latent = p.image_vae.encode(image01).latent_dist.sample(generator) * VAE_SCALE
        image_latent = image_latent[:, :, None].expand(-1, -1, later, -1, -1)
        sched = DDIMScheduler(**SCHEDULER_STAGE1)
        sched.set_timesteps(self.steps)
        latents = torch.randn((1, 4, later, h // 8, w // 8), generator=generator, device=self.device)
        latents = latents * sched.init_noise_sigma
        stride = torch.tensor([FLOW_STRIDES[:later]], device=self.device)
        for t in sched.timesteps:
            x = torch.cat([image_latent, latents], dim=1)
            guided = self._cfg(p.unet1, x, t, text, stride=stride)
            latents = sched.step(guided, t, latents).prev_sample
        frames = latents[0].permute(1, 0, 2, 3) / VAE_SCALE
        flow = torch.cat([p.flow_vae.decode(f[None]).sample for f in frames])
        flow = (flow[:, :2] * 2 - 1).clamp(-1, 1)
        flow = flow * torch.tensor([w, h], device=self.device, dtype=flow.dtype).view(1, 2, 1, 1)
        return torch.cat([torch.zeros(1, 2, h, w, device=self.device, dtype=flow.dtype), flow])

    @torch.no_grad()
    def video(self, image01: torch.Tensor, flow: torch.Tensor, prompt: str, generator: torch.Generator) -> np.ndarray:
        """Stage 2: the first frame and the flow -> uint8 (F, H, W, 3)."""
        p = self.parts
        _, _, h, w = image01.shape
        text = _encode_text(p.tokenizer2, p.text_encoder2, [self.negative_prompt, prompt], self.device)
        sched = DDIMScheduler(**SCHEDULER_STAGE2)
        sched.set_timesteps(self.steps)
        latents = torch.randn((1, 4, NATIVE_FRAMES, h // 8, w // 8), generator=generator, device=self.device)
        latents = latents * sched.init_noise_sigma
        first = p.video_vae.encode(image01 * 2 - 1).latent_dist.sample(generator)[:, :, None] * VAE_SCALE
        flows = flow[None].expand(2, -1, -1, -1, -1)
        for t in sched.timesteps:
            latents[:, :, 0:1] = first
            guided = self._cfg(p.unet2, latents, t, text, flow=flows)
            latents = sched.step(guided, t, latents).prev_sample
        latents[:, :, 0:1] = first
        frames = latents[0].permute(1, 0, 2, 3) / VAE_SCALE
        video = torch.cat([p.video_vae.decode(f[None]).sample for f in frames])
        video = (video / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).float().cpu().numpy()
        return (video * 255).astype(np.uint8)

    def __call__(self, first_frame: np.ndarray, prompt: str, seed: int) -> np.ndarray:
        """uint8 (H, W, 3) at the native size -> uint8 (16, H, W, 3); frame 0 is the decoded first frame."""
        generator = torch.Generator(device=self.device).manual_seed(int(seed))
        image01 = torch.from_numpy(first_frame).to(self.device).permute(2, 0, 1)[None].float() / 255.0
        flow = self.flow(image01, prompt, generator)
        return self.video(image01, flow, prompt, generator)
