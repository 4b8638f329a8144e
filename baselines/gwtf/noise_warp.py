"""Go-with-the-Flow's noise warping: move a Gaussian noise field along optical flow, staying Gaussian.

The algorithm (Burgert et al., "Go-with-the-Flow", CVPR 2025, Alg. 1; upstream
``noise_warp.warp_xyωc``): every pixel of the warp state carries a sub-pixel offset (dx, dy), a
weight w and C noise channels. One warp along a forward flow F does two things at once:

- **expansion** (pixels that nothing moves into): each target pixel p looks up the state at the
  nearest pixel to p - F(p); a hole gets weight 1;
- **contraction** (pixels that sources move into): every source pixel q lands on
  round(q + F(q)); all sources landing on one pixel are merged weight-wise: noise =
  sum(w n) / sqrt(sum(w^2)), weight = sum(w). A source leaving the frame is replaced by the
  initial state (zero offset, weight 1, zero noise) at its own place.

Where contraction lands, expansion is discarded. Then both halves are *regaussianised* together:
pixels that share one noise value (copies of one source) are split into independent samples
whose sum is the source (value / sqrt(count) + zero-mean fresh noise within the group), and
their weights divided by the count. The weights are renormalised to mean 1 (+1e-5, then raised
to 0.9999 so they drift towards 1). The result is standard Gaussian per pixel and follows the flow.

Upstream warps at a high resolution (``resize_flow`` = 8 on flow computed at half the video
size, i.e. 32x the latent resolution for CogVideoX: 1920x2880 for 60x90 latents) and then
area-downsamples to the latent size (multiplying by the factor, which keeps unit variance), once
per video frame (49); the latent video then takes every 4th frame's noise (``nearest``, the
default LoRA ``I2V5B_final_i38800_nearest``) or the mean of each group of frames (``blend``,
``blend_norm``). Finally the *degradation* mixes in fresh noise:
``(alpha * fresh + (1 - alpha) * warped) / sqrt(alpha^2 + (1 - alpha)^2)`` (default 0.5).

Randomness comes only from the ``torch.Generator`` given, so a seed fixes the noise.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import torch
import torch.nn.functional as F

TEMPORAL_DOWNSAMPLING = ("nearest", "blend", "blend_norm")
_X, _Y, _W = 0, 1, 2  # state channels: offset x, offset y, weight; noise from 3 on


def initial_state(noise: torch.Tensor) -> torch.Tensor:
    """The warp state (3 + C, H, W) of a fresh noise field (C, H, W): zero offsets, unit weights."""
    zeros = torch.zeros_like(noise[:1])
    return torch.cat([zeros, zeros, torch.ones_like(noise[:1]), noise])


def regaussianize(noise: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Split runs of copied noise values into independent Gaussian samples that sum to the copied value.

    Pixels are grouped by the value of channel 0 (copies of one source share it exactly). Each
    pixel of a group of n becomes value / sqrt(n) plus fresh noise minus the group's mean of
    that fresh noise. Returns the noise and the per-pixel group size (1, H, W).
    """
    c, h, w = noise.shape
    _, inverse, counts = torch.unique(noise[0].reshape(-1), return_inverse=True, return_counts=True)
    fresh = torch.randn(noise.shape, generator=generator, device=noise.device, dtype=noise.dtype)
    flat = fresh.reshape(c, -1)
    sums = torch.zeros((c, counts.numel()), device=noise.device, dtype=noise.dtype).index_add_(1, inverse, flat)
    means = sums / counts.to(noise.dtype)
    count_image = counts.to(noise.dtype)[inverse].reshape(1, h, w)
    zero_mean = fresh - means[:, inverse].reshape(c, h, w)
    return noise / count_image.sqrt() + zero_mean, count_image


def _pixel_grid(h: int, w: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=dtype), torch.arange(w, device=device, dtype=dtype),
                            indexing="ij")
    return xs, ys


def _scatter_add(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    out = torch.zeros((values.shape[0], size), device=values.device, dtype=values.dtype)
    return out.index_add_(1, index, values)


def warp_state(state: torch.Tensor, flow: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One warp of the state (3 + C, H, W) along the forward flow (2, H, W) in pixels (dx, dy)."""
    if state.ndim != 3 or state.shape[0] < 4:
        raise ValueError(f"state must be (3 + C, H, W) with C >= 1, got {tuple(state.shape)}")
    channels, h, w = state.shape
    if flow.shape != (2, h, w):
        raise ValueError(f"flow must be (2, {h}, {w}), got {tuple(flow.shape)}")
    flow = flow.to(state.dtype)
    xs, ys = _pixel_grid(h, w, state.device, state.dtype)
    init = torch.zeros_like(state)
    init[_W] = 1.0

    # expansion: nearest lookup at p - F(p); outside the frame reads zeros, then weight 0 -> 1
    src_x, src_y = torch.round(xs - flow[0]), torch.round(ys - flow[1])
    inside = (src_x >= 0) & (src_x < w) & (src_y >= 0) & (src_y < h)
    gather = (src_y.clamp(0, h - 1) * w + src_x.clamp(0, w - 1)).long().reshape(-1)
    expand = state.reshape(channels, -1)[:, gather].reshape(channels, h, w) * inside
    expand[_W] = torch.where(expand[_W] == 0, torch.ones_like(expand[_W]), expand[_W])

    # contraction: every source moves to round(q + offset + F(q)); leavers restart as init in place
    shrink_src = state.clone()
    shrink_src[:2] += flow
    land_x, land_y = torch.round(xs + shrink_src[_X]), torch.round(ys + shrink_src[_Y])
    stays = (land_x >= 0) & (land_x < w) & (land_y >= 0) & (land_y < h)
    shrink_src = torch.where(stays[None], shrink_src, init)
    step = torch.round(shrink_src[:2])
    shrink_src[:2] = 0.0  # sub-pixel offsets are dropped (upstream's default xy_mode="none")
    target = ((ys + step[1]) * w + (xs + step[0])).long().reshape(-1)
    landed = _scatter_add(torch.ones((1, h * w), device=state.device, dtype=state.dtype), target, h * w)
    landed = (landed > 0).reshape(1, h, w)
    expand = torch.where(landed, init, expand)

    # regaussianise both halves together (copies in either half are split), spread the weights
    both = torch.cat([shrink_src, expand], dim=2)
    both[3:], counts = regaussianize(both[3:], generator)
    both[_W] = torch.nan_to_num(both[_W] / counts[0])
    shrink_src, expand = both[:, :, :w], both[:, :, w:]

    weight = shrink_src[_W].reshape(1, -1)
    merged_weight = _scatter_add(weight, target, h * w)
    merged = torch.empty_like(state)
    merged[_W] = merged_weight.reshape(h, w)
    merged[:2] = (_scatter_add(shrink_src[:2].reshape(2, -1) * weight, target, h * w) / merged_weight).reshape(2, h, w)
    energy = _scatter_add(weight ** 2, target, h * w).sqrt()
    merged[3:] = (_scatter_add(shrink_src[3:].reshape(channels - 3, -1) * weight, target, h * w) / energy
                  ).reshape(channels - 3, h, w)

    out = torch.where(landed, merged, expand)
    out[_W] = out[_W] / out[_W].mean() + 1e-5
    out[_W] = out[_W] ** 0.9999
    return out


def resize_flow(flow: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """A (2, h, w) flow in pixels resized to (2, height, width), its vectors scaled to the new pixels."""
    _, h, w = flow.shape
    if (h, w) == (height, width):
        return flow.clone()
    grow = height >= h and width >= w
    mode = "bilinear" if grow else "area"
    out = F.interpolate(flow[None], size=(height, width), mode=mode, **({"align_corners": False} if grow else {}))[0]
    out[0] *= width / w
    out[1] *= height / h
    return out


def downscale_noise(noise: torch.Tensor, factor: int) -> torch.Tensor:
    """Area-average ``factor`` x ``factor`` blocks and multiply by ``factor``: unit variance is kept."""
    if factor == 1:
        return noise
    return F.avg_pool2d(noise[None], factor)[0] * factor


def warped_noise_video(flows: Iterable[torch.Tensor], channels: int, height: int, width: int, upscale: int,
                       generator: torch.Generator | None = None, device: str | torch.device = "cpu") -> torch.Tensor:
    """Noise for 1 + len(flows) frames at ``height x width`` (F, C, H, W), warped at ``upscale``x that size.

    ``flows`` are forward flows between consecutive frames, each (2, h, w) in pixels of its own
    size (resized and rescaled to the warp size here).
    """
    if upscale < 1:
        raise ValueError(f"upscale must be >= 1, got {upscale}")
    big_h, big_w = height * upscale, width * upscale
    noise = torch.randn((channels, big_h, big_w), generator=generator, device=device, dtype=torch.float32)
    state = initial_state(noise)
    frames = [downscale_noise(state[3:], upscale)]
    for flow in flows:
        state = warp_state(state, resize_flow(flow.to(device, torch.float32), big_h, big_w), generator)
        # upstream's read-out (noise * w / sqrt(w^2) at the warp size) is the noise itself, as w > 0
        frames.append(downscale_noise(state[3:], upscale))
    return torch.stack(frames)


def temporal_downsample(noise: torch.Tensor, latent_frames: int, mode: str = "nearest") -> torch.Tensor:
    """Per-frame noise (F, C, H, W) -> per-latent-frame noise (L, C, H, W), as upstream's inference.

    ``nearest``: frames round(i (F - 1) / (L - 1)) (every 4th of 49 -> 13); ``blend``: the mean of
    each of L near-equal consecutive groups; ``blend_norm``: that mean divided by its per-pixel
    std over channels (groups as upstream splits a list into L: the first F mod L are one longer).
    """
    if mode not in TEMPORAL_DOWNSAMPLING:
        raise ValueError(f"temporal downsampling must be one of {TEMPORAL_DOWNSAMPLING}, got {mode!r}")
    count = noise.shape[0]
    if mode == "nearest":
        step = (count - 1) / (latent_frames - 1) if count > 1 and latent_frames > 1 else 0.0
        return noise[[round(i * step) for i in range(latent_frames)]]
    size, extra = divmod(count, latent_frames)  # the first ``extra`` groups are one frame longer
    bounds = [i * size + min(i, extra) for i in range(latent_frames + 1)]
    groups = torch.stack([noise[a:b].mean(0) for a, b in itertools.pairwise(bounds)])
    if mode == "blend_norm":
        groups = groups / groups.std(1, keepdim=True)
    return groups


def mix_new_noise(noise: torch.Tensor, alpha: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """The degradation: a variance-preserving blend with fresh noise (alpha = 1 destroys the warp)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"degradation must be in [0, 1], got {alpha}")
    fresh = torch.randn(noise.shape, generator=generator, device=noise.device, dtype=noise.dtype)
    return (fresh * alpha + noise * (1 - alpha)) / (alpha ** 2 + (1 - alpha) ** 2) ** 0.5


__all__ = ["TEMPORAL_DOWNSAMPLING", "downscale_noise", "initial_state", "mix_new_noise", "regaussianize",
           "resize_flow", "temporal_downsample", "warp_state", "warped_noise_video"]
