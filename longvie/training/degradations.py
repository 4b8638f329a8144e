"""The degradations LongVie 2 trains with, so the model survives its own imperfect outputs.

Three families (paper §3, upstream ``trainers/utils.py`` and the pipeline's model function):

- feature level (stage I): the dense (depth) control features are scaled by a random lambda, so
  the model does not lean on depth alone. The paper draws lambda ~ U[0.05, 1] with probability
  alpha (not given); upstream's code scales the patch-embedded dense tokens by U(0.8, 1.2) with
  p = 0.05. Both are presets of :class:`FeatureDegradation`.
- data level, on the depth video: random multi-scale fusion and box blur (p = 0.05 per clip in
  upstream's history dataset), one or both in random order.
- first frame (stage II) and history (stage III): repeated VAE re-encoding, partial noising and
  denoising with a few steps, and a spatially varying colour drift. Upstream reads pre-computed
  degraded images from hard-coded paths and ships no generator; we degrade online with the
  model's own VAE and denoiser (see :mod:`longvie.training.first_frame`).

Randomness comes from a ``numpy.random.Generator`` passed in, so a seeded run draws the same
degradations every time.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

MULTI_SCALES = (1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125)


@dataclass(frozen=True)
class FeatureDegradation:
    """With ``probability``, the dense control features are multiplied by lambda ~ U[low, high]."""

    probability: float
    low: float
    high: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must lie in [0, 1], got {self.probability}")
        if not self.low <= self.high:
            raise ValueError(f"need low <= high, got [{self.low}, {self.high}]")

    def sample_scale(self, rng: np.random.Generator) -> float:
        """lambda for one training step: 1.0 when the degradation is not applied."""
        if rng.random() >= self.probability:
            return 1.0
        return float(rng.uniform(self.low, self.high))


# The paper's lambda range; alpha is not published, so upstream code's probability is used.
PAPER_FEATURE_DEGRADATION = FeatureDegradation(probability=0.05, low=0.05, high=1.0)
# What upstream's released model function does (patch-embedded dense tokens scaled by U(0.8, 1.2)).
UPSTREAM_CODE_FEATURE_DEGRADATION = FeatureDegradation(probability=0.05, low=0.8, high=1.2)
NO_FEATURE_DEGRADATION = FeatureDegradation(probability=0.0, low=1.0, high=1.0)


def _as_nchw(depth: torch.Tensor) -> tuple[torch.Tensor, bool]:
    if depth.ndim == 3:
        return depth[:, None], True
    if depth.ndim == 4:
        return depth, False
    raise ValueError(f"depth must be (T, H, W) or (T, C, H, W), got shape {tuple(depth.shape)}")


def multi_scale_fusion(depth: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Blend the depth at scales 1 ... 1/32 (one scale dropped at random) with random normalised weights.

    Each scale is a bilinear down- and up-sampling (no antialias, as upstream); ``depth`` is float
    (T, H, W) or (T, C, H, W) in [0, 1]. Loses fine structure the way a coarse depth estimate does.
    """
    x, squeezed = _as_nchw(depth)
    dropped = int(rng.integers(len(MULTI_SCALES)))
    scales = [s for i, s in enumerate(MULTI_SCALES) if i != dropped]
    weights = rng.random(len(scales))
    weights = weights / weights.sum()
    height, width = x.shape[-2:]
    out = torch.zeros_like(x)
    for scale, weight in zip(scales, weights, strict=True):
        if scale == 1.0:
            level = x
        else:
            small = F.interpolate(x, size=(max(1, int(height * scale)), max(1, int(width * scale))),
                                  mode="bilinear", align_corners=False)
            level = F.interpolate(small, size=(height, width), mode="bilinear", align_corners=False)
        out = out + level * float(weight)
    return out[:, 0] if squeezed else out


def box_blur(depth: torch.Tensor, kernel_size: int, count_include_pad: bool = True) -> torch.Tensor:
    """Average over a ``kernel_size`` square (odd), stride 1, same size out.

    ``count_include_pad=True`` is upstream's ``avg_pool2d`` default: the zero padding pulls the
    borders towards 0 (= near, in the protocol's depth). Kept by default for fidelity.
    """
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
    x, squeezed = _as_nchw(depth)
    out = F.avg_pool2d(x, kernel_size=kernel_size, stride=1, padding=kernel_size // 2,
                       count_include_pad=count_include_pad)
    return out[:, 0] if squeezed else out


@dataclass(frozen=True)
class DepthAugmentation:
    """Data-level degradation of the depth control (upstream: p = 0.05 in the history dataset, 0 otherwise)."""

    probability: float = 0.05
    blur_probability: float = 0.9
    kernel_min: int = 3
    kernel_max: int = 15

    def __call__(self, depth: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """``depth`` float in [0, 1]; one or both augmentations (1/3 : 2/3, as upstream) in random order."""
        if rng.random() >= self.probability:
            return depth
        methods = ["fusion", "blur"]
        rng.shuffle(methods)
        count = min(int(rng.integers(1, 4)), len(methods))  # upstream: randint(1, 3) over two methods
        out = depth.float()
        for method in methods[:count]:
            if method == "fusion":
                out = multi_scale_fusion(out, rng)
            elif rng.random() < self.blur_probability:
                k = int(rng.integers(self.kernel_min, self.kernel_max + 1))
                out = box_blur(out, k if k % 2 == 1 else k + 1)
        return out.clamp(0.0, 1.0)


def colour_drift(frames: np.ndarray, rng: np.random.Generator, strength: float, spatial_var: float = 0.3) -> np.ndarray:
    """Pull every pixel towards one tint by a smooth, spatially varying amount (diffusion-style colour drift).

    ``frames``: uint8 (H, W, 3) or (T, H, W, 3); one tint and one mask for all frames. The tint is
    the mean colour + U(-0.1, 0.1) per channel; the mask is uniform noise blurred with a Gaussian
    of sigma 0.08 W, min-max normalised, then ``strength * (1 + spatial_var * (mask - 0.5))``.
    """
    if frames.dtype != np.uint8 or frames.shape[-1] != 3 or frames.ndim not in (3, 4):
        raise ValueError(f"colour_drift expects uint8 (H, W, 3) or (T, H, W, 3), got {frames.dtype} {frames.shape}")
    img = frames.astype(np.float32) / 255.0
    height, width = img.shape[-3:-1]
    tint = np.clip(img.reshape(-1, 3).mean(axis=0) + rng.uniform(-0.1, 0.1, 3), 0.0, 1.0).astype(np.float32)
    noise = rng.random((height, width), dtype=np.float32)
    mask = cv2.GaussianBlur(noise, (0, 0), sigmaX=width * 0.08)
    span = float(mask.max() - mask.min())
    mask = (mask - mask.min()) / span if span > 0 else np.full_like(mask, 0.5)
    mask = np.clip(strength * (1.0 + spatial_var * (mask - 0.5)), 0.0, 1.0)[..., None]
    out = (1.0 - mask) * img + mask * tint
    # Rounded (upstream truncates, which darkens every pixel by half a level on average).
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)
