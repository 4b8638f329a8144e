"""The flow-matching training schedule of LongVie 2 (upstream: shift 5, 1000 training timesteps).

Upstream trains with DiffSynth's ``FlowMatchScheduler(shift=5, sigma_min=0, extra_one_step=True)``
set to 1000 steps in training mode. Reproducing its exact table matters: the timestep index is
drawn uniformly over the 1000 *shifted* entries (so high noise levels are drawn more often than
a uniform sigma would give), and every loss is multiplied by a Gaussian bump over the timestep
value that is normalised to sum to 1000. We compute the same table here rather than importing a
scheduler, so the numbers are pinned by our own unit tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

NUM_TRAIN_TIMESTEPS = 1000
SHIFT = 5.0


@dataclass(frozen=True)
class NoisedBatch:
    """One training draw: the noisy latents, the flow-matching target and the loss weight of its timestep."""

    timestep: torch.Tensor  # () float: 1000 * sigma, the value the denoiser is conditioned on
    sigma: torch.Tensor  # () float
    noisy: torch.Tensor  # (B, C, F, H, W) = (1 - sigma) x0 + sigma eps
    target: torch.Tensor  # (B, C, F, H, W) = eps - x0
    weight: torch.Tensor  # () float: the timestep weight every loss is multiplied by


class TrainingSchedule:
    """Sigmas, timesteps and per-timestep loss weights of upstream's training scheduler."""

    def __init__(self, num_steps: int = NUM_TRAIN_TIMESTEPS, shift: float = SHIFT) -> None:
        if num_steps < 2:
            raise ValueError(f"the training schedule needs at least 2 steps, got {num_steps}")
        self.num_steps = num_steps
        self.shift = shift
        base = torch.linspace(1.0, 0.0, num_steps + 1, dtype=torch.float64)[:-1]  # extra_one_step, sigma_min 0
        self.sigmas = shift * base / (1.0 + (shift - 1.0) * base)
        self.timesteps = self.sigmas * NUM_TRAIN_TIMESTEPS
        # Gaussian bump over the timestep value, shifted to a minimum of 0, normalised to sum to num_steps.
        bump = torch.exp(-2.0 * ((self.timesteps - num_steps / 2) / num_steps) ** 2)
        bump = bump - bump.min()
        self.weights = bump * (num_steps / bump.sum())

    def sample_index(self, generator: torch.Generator | None = None) -> int:
        """A timestep index drawn uniformly over the table (as upstream's ``torch.randint``)."""
        return int(torch.randint(0, self.num_steps, (1,), generator=generator).item())

    def noised(self, x0: torch.Tensor, noise: torch.Tensor, index: int) -> NoisedBatch:
        """Noise ``x0`` to the table's entry ``index``: x_t = (1 - sigma) x0 + sigma eps, target v = eps - x0."""
        if noise.shape != x0.shape:
            raise ValueError(f"noise {tuple(noise.shape)} and latents {tuple(x0.shape)} differ in shape")
        sigma = self.sigmas[index].to(x0.dtype)
        return NoisedBatch(
            timestep=self.timesteps[index].to(torch.float32),
            sigma=sigma,
            noisy=(1.0 - sigma) * x0 + sigma * noise,
            target=noise - x0,
            weight=self.weights[index].to(torch.float32),
        )
