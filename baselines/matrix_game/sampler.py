"""Matrix-Game-2.0's few-step streaming sampler (upstream ``pipeline/causal_inference.py``), written out.

The distilled universal model denoises ``num_frame_per_block`` (3) latent frames at a time with
three flow-matching steps, then runs the block once more at t = ``context_noise`` (0) so the KV
caches hold the clean block before the next one starts. The arithmetic follows upstream exactly:

- schedule: ``FlowMatchScheduler(shift=5, sigma_min=0, extra_one_step=True)`` with 1000 training
  steps: sigma_k = shift s_k / (1 + (shift - 1) s_k), s = linspace(1, 0, 1001)[:-1], t_k = 1000 sigma_k
  (float32, as upstream);
- ``warp_denoising_step``: the published steps 1000/666/333 become t[1000 - step] of that table
  with a 0 appended (so the model sees the warped float timesteps, not the integers);
- x0 = x_t - sigma_t * flow in float64, sigma_t the table's sigma nearest to t (upstream's
  ``_convert_flow_pred_to_x0``), cast back to the flow's dtype;
- between steps x0 is re-noised to the next step: (1 - sigma) x0 + sigma * fresh Gaussian noise
  (upstream's ``add_noise``; its ``randn_like`` draws come from our seeded generator here, so a
  segment is reproducible on any device);
- actions: the block ending at latent frame f sees the keyboard/mouse rows of video frames
  0 .. 4 (f - 1) (upstream's ``cond_current``), the image conditions of its own latent frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from baselines.matrix_game.config import MatrixGameConfig
from baselines.matrix_game.model import GeneratorCaches, MatrixGameGenerator

TRAIN_STEPS = 1000


@dataclass(frozen=True, eq=False)
class FlowTable:
    """Upstream's 1000-step training schedule: ``sigmas[k]`` and ``timesteps[k]`` (float32)."""

    sigmas: torch.Tensor
    timesteps: torch.Tensor

    @classmethod
    def make(cls, shift: float, train_steps: int = TRAIN_STEPS) -> FlowTable:
        sigmas = torch.linspace(1.0, 0.0, train_steps + 1)[:-1]
        sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)
        return cls(sigmas=sigmas, timesteps=sigmas * train_steps)

    def denoising_timesteps(self, steps: tuple[int, ...]) -> torch.Tensor:
        """The warped float timesteps of the published integer steps (``warp_denoising_step: true``)."""
        table = torch.cat([self.timesteps, torch.tensor([0.0])])
        return table[len(self.timesteps) - torch.tensor(steps, dtype=torch.long)]

    def _index(self, t: torch.Tensor, double: bool) -> torch.Tensor:
        steps = self.timesteps.double() if double else self.timesteps
        t = t.double() if double else t
        return torch.argmin((steps.unsqueeze(0).to(t.device) - t.unsqueeze(1)).abs(), dim=1)

    def to_x0(self, flow: torch.Tensor, xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x0 of (B, C, F, H, W) ``flow`` at per-frame timesteps ``t`` (B, F), in float64 as upstream."""
        sigma = self.sigmas.double().to(flow.device)[self._index(t.flatten(), True)]
        sigma = sigma.view(t.shape[0], 1, t.shape[1], 1, 1)
        return (xt.double() - sigma * flow.double()).to(flow.dtype)

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """(1 - sigma) x0 + sigma noise at per-frame timesteps ``t`` (B, F)."""
        sigma = self.sigmas.to(noise.device)[self._index(t.flatten().to(self.timesteps.dtype), False)]
        sigma = sigma.view(t.shape[0], 1, t.shape[1], 1, 1)
        return ((1 - sigma) * x0 + sigma * noise).type_as(noise)


@dataclass(frozen=True, eq=False)
class BlockConditions:
    """What the generator is conditioned on for a whole segment (batch 1)."""

    cond_concat: torch.Tensor  # (1, 20, L, h, w): 4 mask channels + the VAE latent of [image, zeros...]
    visual_context: torch.Tensor  # (1, tokens, image_dim): CLIP penultimate features of the image
    keyboard: torch.Tensor  # (1, 1 + 4 (L - 1), 4)
    mouse: torch.Tensor | None  # (1, 1 + 4 (L - 1), 2)


def denoise_block(model: MatrixGameGenerator, table: FlowTable, timesteps: torch.Tensor, noise: torch.Tensor,
                  conditions: BlockConditions, caches: GeneratorCaches, start: int,
                  draw_noise: Callable[[tuple[int, ...]], torch.Tensor], context_noise: float = 0.0,
                  on_step: Callable[[], None] | None = None) -> torch.Tensor:
    """The clean latents of one block (frames [start, start + n)), caches refreshed with them."""
    n = noise.shape[2]
    rows = 1 + 4 * (start + n - 1)
    cond = conditions.cond_concat[:, :, start:start + n]
    keyboard = conditions.keyboard[:, :rows]
    mouse = None if conditions.mouse is None else conditions.mouse[:, :rows]
    x = noise
    x0 = noise
    for index, current in enumerate(timesteps):
        t = torch.full((x.shape[0], n), float(current), device=x.device, dtype=torch.float32)
        flow = model(x, t, cond, conditions.visual_context, keyboard, mouse, caches, start)
        x0 = table.to_x0(flow, x, t)
        if index < len(timesteps) - 1:
            nxt = torch.full_like(t, float(timesteps[index + 1]))
            x = table.add_noise(x0, draw_noise(tuple(x0.shape)).to(x0.device, x0.dtype), nxt)
        if on_step is not None:
            on_step()
    t0 = torch.full((x.shape[0], n), float(context_noise), device=x.device, dtype=torch.float32)
    model(x0, t0, cond, conditions.visual_context, keyboard, mouse, caches, start)
    return x0


@torch.no_grad()
def sample_segment(model: MatrixGameGenerator, cfg: MatrixGameConfig, conditions: BlockConditions,
                   generator: torch.Generator, on_step: Callable[[], None] | None = None) -> torch.Tensor:
    """All latents (1, 16, L, h, w) of one segment from fresh caches; every random draw comes from ``generator``.

    The initial noise of all L frames is drawn first (upstream's ``sampled_noise``), then each
    re-noising draw in order, all on the CPU, so the segment does not depend on the device.
    """
    _, _, frames, h, w = conditions.cond_concat.shape
    per_block = cfg.num_frame_per_block
    if frames % per_block:
        raise ValueError(f"{frames} latent frames are not whole blocks of {per_block}")
    device = conditions.cond_concat.device
    dtype = conditions.cond_concat.dtype
    noise = torch.randn((1, cfg.out_dim, frames, h, w), generator=generator).to(device, dtype)

    def draw(shape: tuple[int, ...]) -> torch.Tensor:
        return torch.randn(shape, generator=generator)

    _, ph, pw = cfg.patch_size
    caches = GeneratorCaches.empty(cfg, (h // ph) * (w // pw))
    table = FlowTable.make(cfg.timestep_shift)
    timesteps = table.denoising_timesteps(cfg.denoising_steps)
    blocks = [denoise_block(model, table, timesteps, noise[:, :, s:s + per_block], conditions, caches, s, draw,
                            float(cfg.context_noise), on_step) for s in range(0, frames, per_block)]
    return torch.cat(blocks, dim=2)


__all__ = ["TRAIN_STEPS", "BlockConditions", "FlowTable", "denoise_block", "sample_segment"]
