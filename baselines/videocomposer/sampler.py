"""VideoComposer's DDIM sampler with classifier-free guidance, in upstream's arithmetic.

Upstream (``artist/ops/diffusion.py``) keeps the schedule in float64, indexes it per step and casts
it to the latents' dtype, predicts x0 from eps, *re-derives* eps from that x0 and then takes the
DDIM step; its timesteps are ``1 + arange(0, 1000, 1000 // steps)`` reversed (981, 961, ..., 1 for
50 steps), the previous timestep is ``t - stride`` clamped at 0 (so the last step goes to
alpha_cumprod[0], not to 1). Guidance: eps = u + scale * (c - u) with two separate forward passes.
The same order of operations is kept so a step matches upstream to float rounding.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from baselines.videocomposer.config import SamplerConfig

#: ``denoise(x, t) -> (eps_conditional, eps_unconditional)``
Denoiser = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class DDIMSampler:
    """The published schedule (``linear_sd`` betas) and DDIM update (eta 0 by default)."""

    def __init__(self, config: SamplerConfig) -> None:
        self.config = config
        n = config.num_timesteps
        betas = torch.linspace(config.beta_start ** 0.5, config.beta_end ** 0.5, n, dtype=torch.float64) ** 2
        self.alphas_cumprod = torch.cumprod(1 - betas, dim=0)
        self.sqrt_recip = torch.sqrt(1.0 / self.alphas_cumprod)
        self.sqrt_recipm1 = torch.sqrt(1.0 / self.alphas_cumprod - 1)
        self.stride = n // config.steps

    def timesteps(self) -> list[int]:
        n = self.config.num_timesteps
        steps = (1 + torch.arange(0, n, self.stride)).clamp(0, n - 1).flip(0)
        return [int(s) for s in steps]

    def _at(self, table: torch.Tensor, t: int, like: torch.Tensor) -> torch.Tensor:
        return table[t].to(device=like.device, dtype=like.dtype)

    def step(self, xt: torch.Tensor, t: int, denoise: Denoiser,
             noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One DDIM step from timestep ``t``; returns (x_{t-stride}, predicted x0)."""
        t_batch = torch.full((xt.shape[0],), t, dtype=torch.long, device=xt.device)
        cond, uncond = denoise(xt, t_batch)
        out = uncond + self.config.guide_scale * (cond - uncond)
        recip, recipm1 = self._at(self.sqrt_recip, t, xt), self._at(self.sqrt_recipm1, t, xt)
        x0 = recip * xt - recipm1 * out
        eps = (recip * xt - x0) / recipm1
        alphas = self._at(self.alphas_cumprod, t, xt)
        alphas_prev = self._at(self.alphas_cumprod, max(t - self.stride, 0), xt)
        sigmas = self.config.eta * torch.sqrt((1 - alphas_prev) / (1 - alphas) * (1 - alphas / alphas_prev))
        direction = torch.sqrt(1 - alphas_prev - sigmas ** 2) * eps
        xt_1 = torch.sqrt(alphas_prev) * x0 + direction
        if self.config.eta and t != 0:
            if noise is None:
                raise ValueError("eta > 0 needs a noise tensor for every step")
            xt_1 = xt_1 + sigmas * noise
        return xt_1, x0

    def sample(self, noise: torch.Tensor, denoise: Denoiser,
               on_step: Callable[[int, int], None] | None = None) -> torch.Tensor:
        xt = noise
        steps = self.timesteps()
        for k, t in enumerate(steps):
            xt, _ = self.step(xt, t, denoise)
            if on_step is not None:
                on_step(k + 1, len(steps))
        return xt


__all__ = ["DDIMSampler", "Denoiser"]
