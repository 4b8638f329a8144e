"""Flow-matching Euler sampler of LongVie 2 (upstream DiffSynth ``FlowMatchScheduler``, shift 5).

Sigmas are ``shift*s / (1 + (shift-1)*s)`` for ``s = 1 - k/steps`` (k = 0..steps-1), then a last
Euler step to 0; the timestep is ``1000*sigma``, rounded to bf16 before the embedding as upstream
does (995.93 -> 996). CFG runs the whole model, control path included, on the positive and the
negative prompt; by default both passes are batched into one forward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from longvie.config import SamplerConfig
from longvie.cross_cache import CrossAttentionCache
from longvie.model import LongVie2Transformer


def flow_sigmas(steps: int, shift: float) -> torch.Tensor:
    """The ``steps + 1`` sigmas (float32) from 1 down to the terminal 0."""
    s = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float32)[:-1]
    sigmas = shift * s / (1 + (shift - 1) * s)
    return torch.cat([sigmas, torch.zeros(1, dtype=torch.float32)])


def model_timestep(sigma: torch.Tensor | float, round_bf16: bool) -> torch.Tensor:
    """The timestep the model sees for ``sigma`` (upstream rounds it to bf16)."""
    t = torch.as_tensor(sigma, dtype=torch.float32) * 1000.0
    return t.to(torch.bfloat16).to(torch.float32) if round_bf16 else t


@dataclass(frozen=True)
class Conditioning:
    """Everything a clip's denoising is conditioned on (batch 1, already on the model's device)."""

    text: torch.Tensor  # (1, 512, text_dim)
    negative_text: torch.Tensor  # (1, 512, text_dim)
    image_embeds: torch.Tensor  # (1, 257, image_dim) CLIP penultimate features
    image_condition: torch.Tensor  # (1, 20, F, H, W) mask 4 | image latents 16
    dense: torch.Tensor | None = None  # (1, 36, F, H, W)
    sparse: torch.Tensor | None = None  # (1, 36, F, H, W)
    history: torch.Tensor | None = None  # (1, 16, Fh, H, W)

    def doubled(self) -> Conditioning:
        """The batch of two for batched CFG: positive first, negative second."""
        def two(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else torch.cat([t, t])
        return replace(self, text=torch.cat([self.text, self.negative_text]), negative_text=self.negative_text,
                       image_embeds=two(self.image_embeds), image_condition=two(self.image_condition),
                       dense=two(self.dense), sparse=two(self.sparse), history=two(self.history))


@dataclass(frozen=True)
class CrossCaches:
    """Cross-attention keys and values of a clip's text contexts, computed once for all its steps (each
    None when the model does not cache them): the positive prompt, the negative one, both as one batch."""

    positive: CrossAttentionCache | None = None
    negative: CrossAttentionCache | None = None
    doubled: CrossAttentionCache | None = None


@torch.no_grad()
def cross_caches(model: LongVie2Transformer, cond: Conditioning, cfg_scale: float, batched: bool,
                 doubled: Conditioning | None) -> CrossCaches:
    """The caches the steps of ``sample`` will use (none unless ``model.cache_cross_attention``).

    Built without autograd wherever it is called from: sampling never differentiates through them, and keys that
    required grad would make every compiled block recompile (an H100 run spent 48 s doing so).
    """
    if not model.cache_cross_attention:
        return CrossCaches()
    dtype = next(model.parameters()).dtype

    def cache(text: torch.Tensor, image: torch.Tensor) -> CrossAttentionCache:
        return model.cross_attention_cache(text.to(dtype), image.to(dtype))

    if cfg_scale == 1.0:
        return CrossCaches(positive=cache(cond.text, cond.image_embeds))
    if batched:
        doubled = doubled or cond.doubled()
        return CrossCaches(doubled=cache(doubled.text, doubled.image_embeds))
    return CrossCaches(positive=cache(cond.text, cond.image_embeds),
                       negative=cache(cond.negative_text, cond.image_embeds))


def velocity(model: LongVie2Transformer, latents: torch.Tensor, timestep: torch.Tensor, cond: Conditioning,
             text: torch.Tensor, cache: CrossAttentionCache | None = None) -> torch.Tensor:
    dtype = next(model.parameters()).dtype
    return model(latents.to(dtype), timestep.to(latents.device).expand(latents.shape[0]), text.to(dtype),
                 cond.image_embeds.to(dtype), cond.image_condition.to(dtype),
                 dense=None if cond.dense is None else cond.dense.to(dtype),
                 sparse=None if cond.sparse is None else cond.sparse.to(dtype),
                 history=None if cond.history is None else cond.history.to(dtype), cross_cache=cache).float()


def guided_velocity(model: LongVie2Transformer, latents: torch.Tensor, timestep: torch.Tensor, cond: Conditioning,
                    cfg_scale: float, batched: bool, doubled: Conditioning | None = None,
                    caches: CrossCaches = CrossCaches()) -> torch.Tensor:
    """``neg + cfg * (pos - neg)``; one forward of batch 2 when ``batched``, else two of batch 1.

    Batched, a model with ``broadcast_guidance`` on gets the latents once and the two texts as a batch
    (``LongVie2Transformer.forward`` shares everything before cross-attention); others get both doubled.
    """
    if cfg_scale == 1.0:
        return velocity(model, latents, timestep, cond, cond.text, caches.positive)
    if batched and getattr(model, "broadcast_guidance", False):  # one stream of latents, text of batch 2
        doubled = doubled or cond.doubled()
        pos, neg = velocity(model, latents, timestep, cond, doubled.text, caches.doubled).chunk(2)
    elif batched:
        doubled = doubled or cond.doubled()
        pos, neg = velocity(model, torch.cat([latents, latents]), timestep, doubled, doubled.text,
                            caches.doubled).chunk(2)
    else:
        pos = velocity(model, latents, timestep, cond, cond.text, caches.positive)
        neg = velocity(model, latents, timestep, cond, cond.negative_text, caches.negative)
    return neg + cfg_scale * (pos - neg)


@torch.no_grad()
def sample(model: LongVie2Transformer, start: torch.Tensor, cond: Conditioning, config: SamplerConfig,
           batched_cfg: bool = True, on_step: Callable[[int, int], None] | None = None,
           caches: CrossCaches | None = None) -> torch.Tensor:
    """Denoise ``start`` (float32 latents, frame 0 already blended) with Euler steps; float32 result.

    ``caches``: the clip's cross-attention caches if the caller built them (``cross_caches`` with the same
    model, conditioning, guidance scale and batching); built here otherwise.
    """
    sigmas = flow_sigmas(config.steps, config.shift)
    latents = start.float().clone()
    doubled = cond.doubled() if batched_cfg and config.cfg_scale != 1.0 else None
    if caches is None:
        caches = cross_caches(model, cond, config.cfg_scale, batched_cfg, doubled)
    for k in range(config.steps):
        t = model_timestep(sigmas[k], config.round_timestep_bf16)
        v = guided_velocity(model, latents, t, cond, config.cfg_scale, batched_cfg, doubled, caches)
        latents = latents + v * (sigmas[k + 1] - sigmas[k]).item()
        if on_step is not None:
            on_step(k + 1, config.steps)
    return latents


__all__ = ["Conditioning", "CrossCaches", "cross_caches", "flow_sigmas", "guided_velocity", "model_timestep", "sample",
           "velocity"]
