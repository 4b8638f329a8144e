"""GameCraft's sampler for one action chunk: flow matching (shift 5, Euler), CFG, hybrid history.

What upstream's ``HunyuanVideoGamePipeline.__call__`` does per step, re-derived:
- schedule: sigmas = shift(linspace(1, 0, steps + 1)) with shift(t) = s t / (1 + (s - 1) t),
  timesteps = 1000 sigma (``FlowMatchDiscreteScheduler``, reverse, Euler);
- the DiT input is latents 16 | conditioning latents 16 | mask 1. First action (10 latents): the
  conditioning is the image latent in frame 0 (mask 1) and zeros elsewhere, and latent frame 0 is
  overwritten with the image latent before every step. Continuation (18 latents): the first 9 are
  the previous action's 9 latents (the history) in both the latents and the conditioning (mask 1);
- CFG batches [negative prompt + identity-pose camera, prompt + action camera] and mixes
  uncond + g (cond - uncond); only the frames after the conditioning are stepped;
- deepcache (50 steps only): steps 11, 13, ..., 39 re-run just the last single-stream block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from baselines.gamecraft.model import DeepCache, GameCraftTransformer, deepcache_reuse_steps


@dataclass(frozen=True)
class FlowSchedule:
    """Sigmas (steps + 1, float32) and the model timesteps (1000 sigma) of upstream's scheduler."""

    sigmas: torch.Tensor
    timesteps: torch.Tensor

    @classmethod
    def make(cls, steps: int, shift: float) -> FlowSchedule:
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        t = torch.linspace(1, 0, steps + 1)
        sigmas = (shift * t) / (1 + (shift - 1) * t)
        return cls(sigmas=sigmas, timesteps=(sigmas[:-1] * 1000).to(torch.float32))


def _conditioning(latents: torch.Tensor, image_latent: torch.Tensor | None, history: torch.Tensor | None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """(latents with the conditioning written in, conditioning latents, mask, first stepped frame)."""
    frames = latents.shape[2]
    latents = latents.clone()
    cond = torch.zeros_like(latents)
    mask = torch.zeros(latents.shape[0], 1, *latents.shape[2:], dtype=latents.dtype, device=latents.device)
    if history is None:
        if image_latent is None:
            raise ValueError("the first action needs the image latent")
        latents[:, :, 0] = image_latent[:, :, -1]
        cond[:, :, 0] = image_latent[:, :, -1]
        mask[:, :, 0] = 1.0
        return latents, cond, mask, 1
    half = frames // 2
    if history.shape[2] != half:
        raise ValueError(f"history has {history.shape[2]} latents, a continuation of {frames} needs {half}")
    latents[:, :, :half] = history
    cond[:, :, :half] = history
    mask[:, :, :half] = 1.0
    return latents, cond, mask, half


def denoise_step(model: GameCraftTransformer, latents: torch.Tensor, image_latent: torch.Tensor | None,
                 history: torch.Tensor | None, schedule: FlowSchedule, index: int, *, cfg_scale: float,
                 text: torch.Tensor, text_mask: torch.Tensor, pooled: torch.Tensor, plucker: torch.Tensor,
                 cache: DeepCache | None = None, reuse_cache: bool = False) -> torch.Tensor:
    """One Euler step; ``text``/``text_mask``/``pooled``/``plucker`` are batched [uncond, cond]."""
    latents, cond, mask, first = _conditioning(latents, image_latent, history)
    model_in = torch.cat([latents, cond, mask], dim=1)
    guided_batch = cfg_scale > 1.0
    if guided_batch:
        model_in = torch.cat([model_in, model_in])
    else:
        text, text_mask, pooled, plucker = text[1:], text_mask[1:], pooled[1:], plucker[1:]
    dtype = next(model.parameters()).dtype
    t = schedule.timesteps[index].to(model_in.device).repeat(model_in.shape[0])
    pred = model(model_in.to(dtype), t, text.to(dtype), text_mask, pooled.to(dtype), plucker,
                 cache=cache, reuse_cache=reuse_cache).float()
    if guided_batch:
        uncond, cond_pred = pred.chunk(2)
        pred = uncond + cfg_scale * (cond_pred - uncond)
    dt = schedule.sigmas[index + 1] - schedule.sigmas[index]
    latents[:, :, first:] = latents[:, :, first:].float() + pred[:, :, first:] * dt
    return latents


def sample_action(model: GameCraftTransformer, noise: torch.Tensor, image_latent: torch.Tensor | None,
                  history: torch.Tensor | None, schedule: FlowSchedule, *, cfg_scale: float, text: torch.Tensor,
                  text_mask: torch.Tensor, pooled: torch.Tensor, plucker: torch.Tensor, deepcache: bool = True,
                  on_step: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """The 9 new latents of one action (noise: 10 latents for the first action, 18 for a continuation)."""
    steps = len(schedule.timesteps)
    reuse = deepcache_reuse_steps(steps) if deepcache else frozenset()
    cache = DeepCache() if deepcache else None
    latents = noise.float()
    for index in range(steps):
        latents = denoise_step(model, latents, image_latent, history, schedule, index, cfg_scale=cfg_scale,
                               text=text, text_mask=text_mask, pooled=pooled, plucker=plucker, cache=cache,
                               reuse_cache=index in reuse)
        if on_step is not None:
            on_step(index, steps)
    first = 1 if history is None else latents.shape[2] // 2
    return latents[:, :, first:]


__all__ = ["FlowSchedule", "denoise_step", "sample_action"]
