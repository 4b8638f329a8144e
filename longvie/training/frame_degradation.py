"""Degrading the conditioning frame (stage II) and the history frames (stage III) like a generated one.

At inference every clip after the first starts from a *generated* frame, which has been through
the VAE and the sampler, and has drifted in colour. Training on clean first frames only would
let errors compound; LongVie 2 therefore trains on frames degraded in the same ways:

- re-encode: ``(decode o encode)^K`` with the model's own VAE;
- regenerate: noise the frame's latent to a small sigma of the 50-step inference schedule and
  denoise it back with ``k`` Euler steps (``k`` < 15) of the model itself;
- colour drift (:func:`longvie.training.degradations.colour_drift`).

A :class:`FrameDegradation` first draws a :class:`DegradationPlan` (cheap, testable for its
statistics), then :func:`apply_plan` executes it with a :class:`LatentCodec` and a regenerator.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from longvie.training.degradations import colour_drift

INFERENCE_STEPS = 50
INFERENCE_SHIFT = 5.0


class LatentCodec(Protocol):
    """The VAE as training needs it: pixels in [-1, 1] (B, 3, T, H, W) <-> normalised latents (B, 16, F, h, w)."""

    def encode(self, video: torch.Tensor) -> torch.Tensor: ...

    def decode(self, latents: torch.Tensor) -> torch.Tensor: ...


# velocity(latents (B, C, F, h, w), timestep () float = 1000 * sigma) -> (B, C, F, h, w)
VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class DegradationPlan:
    """What to do to one frame (or one stack of history frames)."""

    kind: str = "none"  # "none" | "reencode" | "regenerate"
    amount: int = 0  # re-encode rounds K, or regeneration steps k
    colour_strength: float | None = None

    @property
    def degraded(self) -> bool:
        return self.kind != "none" or self.colour_strength is not None


@dataclass(frozen=True)
class FrameDegradation:
    """Probabilities of upstream's data pipeline (its pre-computed files become online operations)."""

    probability: float  # of a quality degradation (re-encode or regenerate)
    reencode_share: float  # of quality degradations that are re-encodes; the rest regenerate
    reencode_rounds: tuple[int, ...]
    reencode_weights: tuple[float, ...]
    regenerate_steps: tuple[int, ...]
    regenerate_weights: tuple[float, ...]
    colour_probability: float
    colour_strength: tuple[float, float]

    def __post_init__(self) -> None:
        if len(self.reencode_rounds) != len(self.reencode_weights):
            raise ValueError("reencode_rounds and reencode_weights differ in length")
        if len(self.regenerate_steps) != len(self.regenerate_weights):
            raise ValueError("regenerate_steps and regenerate_weights differ in length")
        if any(k < 1 or k >= 15 for k in self.regenerate_steps):
            raise ValueError(f"regeneration steps must lie in [1, 14] (t < 15), got {self.regenerate_steps}")
        if any(k < 1 for k in self.reencode_rounds):
            raise ValueError(f"re-encode rounds must be >= 1, got {self.reencode_rounds}")

    def plan(self, rng: np.random.Generator) -> DegradationPlan:
        kind, amount = "none", 0
        if rng.random() < self.probability:
            if rng.random() < self.reencode_share:
                kind, amount = "reencode", _weighted_choice(rng, self.reencode_rounds, self.reencode_weights)
            else:
                kind, amount = "regenerate", _weighted_choice(rng, self.regenerate_steps, self.regenerate_weights)
        strength = None
        if rng.random() < self.colour_probability:
            strength = float(rng.uniform(*self.colour_strength))
        return DegradationPlan(kind=kind, amount=amount, colour_strength=strength)


def _weighted_choice(rng: np.random.Generator, values: tuple[int, ...], weights: tuple[float, ...]) -> int:
    p = np.asarray(weights, dtype=np.float64)
    return int(values[int(rng.choice(len(values), p=p / p.sum()))])


# Conditioning frame: p 0.1; 40% recon_k (k = 0..4, weights 5..1; recon_k is read as k + 1 round trips),
# 60% inv_step_k (k in {1, 2, 3, 4, 6}, weights 6:4:3:2:1); colour drift p 0.1, strength U(0.1, 0.2).
FIRST_FRAME_DEGRADATION = FrameDegradation(
    probability=0.1, reencode_share=0.4, reencode_rounds=(1, 2, 3, 4, 5), reencode_weights=(5, 4, 3, 2, 1),
    regenerate_steps=(1, 2, 3, 4, 6), regenerate_weights=(6, 4, 3, 2, 1),
    colour_probability=0.1, colour_strength=(0.1, 0.2))

# History: p 0.05; 40% recon_k (k = 0..7, weights 8..1), 60% inv_step_k (k in {1, 5, 8}, weights 8:5:1);
# colour drift p 0.05, strength U(0.1, 0.3).
HISTORY_DEGRADATION = FrameDegradation(
    probability=0.05, reencode_share=0.4, reencode_rounds=(1, 2, 3, 4, 5, 6, 7, 8),
    reencode_weights=(8, 7, 6, 5, 4, 3, 2, 1), regenerate_steps=(1, 5, 8), regenerate_weights=(8, 5, 1),
    colour_probability=0.05, colour_strength=(0.1, 0.3))

NO_FRAME_DEGRADATION = FrameDegradation(
    probability=0.0, reencode_share=0.0, reencode_rounds=(1,), reencode_weights=(1,), regenerate_steps=(1,),
    regenerate_weights=(1,), colour_probability=0.0, colour_strength=(0.0, 0.0))


def inference_sigmas(num_steps: int = INFERENCE_STEPS, shift: float = INFERENCE_SHIFT) -> torch.Tensor:
    """The sampler's sigmas, 5s/(1+4s) for s = 1 - k/num_steps, k = 0..num_steps-1, then a terminal 0."""
    s = 1.0 - torch.arange(num_steps, dtype=torch.float64) / num_steps
    return torch.cat([shift * s / (1.0 + (shift - 1.0) * s), torch.zeros(1, dtype=torch.float64)])


def regenerate_latents(latents: torch.Tensor, velocity: VelocityFn, steps: int,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Noise ``latents`` to the sigma ``steps`` Euler steps before the end of the sampler and denoise back.

    x = (1 - sigma) z + sigma eps at sigma = sigmas[50 - steps], then ``x += v * (sigma_next - sigma)``.
    """
    if not 1 <= steps < INFERENCE_STEPS:
        raise ValueError(f"steps must lie in [1, {INFERENCE_STEPS - 1}], got {steps}")
    sigmas = inference_sigmas()
    tail = sigmas[INFERENCE_STEPS - steps:]
    noise = torch.randn(latents.shape, generator=generator, dtype=torch.float32).to(latents.device, latents.dtype)
    x = (1.0 - float(tail[0])) * latents + float(tail[0]) * noise
    for sigma, sigma_next in itertools.pairwise(tail):
        timestep = torch.tensor(1000.0 * float(sigma), dtype=torch.float32, device=latents.device)
        x = x + velocity(x, timestep).to(x.dtype) * float(sigma_next - sigma)
    return x


def _to_unit(frames: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (1, 3, T, H, W) in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device).float()
    return (x / 127.5 - 1.0).permute(3, 0, 1, 2)[None]


def _to_uint8(video: torch.Tensor) -> np.ndarray:
    x = ((video[0].permute(1, 2, 3, 0).float().clamp(-1, 1) + 1.0) * 127.5).round()
    return x.to(torch.uint8).cpu().numpy()


@torch.no_grad()
def apply_plan(frames: np.ndarray, plan: DegradationPlan, rng: np.random.Generator, *,
               codec: LatentCodec | None = None, velocity: VelocityFn | None = None,
               device: torch.device | str = "cpu", generator: torch.Generator | None = None) -> np.ndarray:
    """Execute ``plan`` on uint8 (T, H, W, 3) frames (one conditioning frame: T = 1); returns uint8 frames.

    Frames are degraded independently, each as a 1-frame video (batched along the batch axis),
    since each stands for a single generated frame and a 1-frame encode keeps the VAE's temporal
    chunking out of it.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    out = frames
    if plan.kind != "none":
        if codec is None:
            raise ValueError(f"a {plan.kind!r} degradation needs the VAE (codec)")
        if plan.kind == "regenerate" and velocity is None:
            raise ValueError("a 'regenerate' degradation needs the denoiser (velocity)")
        video = _to_unit(frames, torch.device(device)).permute(2, 1, 0, 3, 4)  # (T, 3, 1, H, W)
        if plan.kind == "reencode":
            for _ in range(plan.amount):
                video = codec.decode(codec.encode(video)).clamp(-1, 1)
        elif plan.kind == "regenerate":
            assert velocity is not None
            video = codec.decode(regenerate_latents(codec.encode(video), velocity, plan.amount, generator))
        else:
            raise ValueError(f"unknown degradation kind {plan.kind!r}")
        out = _to_uint8(video.permute(2, 1, 0, 3, 4))
    if plan.colour_strength is not None:
        out = colour_drift(out, rng, plan.colour_strength)
    return out
