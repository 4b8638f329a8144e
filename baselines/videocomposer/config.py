"""VideoComposer's configuration: the published UNet, its sampler, and tiny test configurations.

The published values come from ``tools/videocomposer/config.py`` and ``inference_single.py`` of
ali-vilab/videocomposer (commit 490ed21): a 3D UNet of width 320 with multipliers (1, 2, 4, 4),
two residual blocks per level, spatial cross-attention at the three finest scales, a temporal
transformer after every spatial one, a temporal convolution inside every residual block, and an
STC encoder (per condition: conv stack to the latent grid + a transformer over frames). Upstream
fixes two widths in code rather than config (the image-embedding MLP is 1024 wide and the
decoder's cross-attention reads a 1024-wide context); here they are fields (``image_dim``,
``context_dim``) so tests can shrink them, and the real values equal upstream's constants.

Sampling (upstream inference): DDPM ``linear_sd`` betas (0.00085 -> 0.012, 1000 steps), epsilon
prediction, DDIM 50 steps with eta 0 at timesteps 981, 961, ..., 1, classifier-free guidance 9.0
(``inference_single`` passes 9.0, overriding ``cfg.guide_scale = 6.0``), 16 frames at 256x256
(latents 4x16x32x32), the clip's frames sampled at 4 fps (``feature_framerate``), fp16 autocast.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

#: Every condition the published checkpoint has an STC branch for, with its input channels.
#: (Upstream's ``video_compositions`` also lists 'text' and 'image', which are context tokens,
#: and has a 'canny' branch that the published configuration does not build.)
STC_CHANNELS: dict[str, int] = {"depth": 1, "motion": 2, "masked": 4, "sketch": 1, "single_sketch": 1,
                                "local_image": 3}
#: Upstream's attribute names of each branch: ``<name>_embedding`` and ``<after>_embedding_after``.
STC_MODULES: dict[str, tuple[str, str]] = {
    "depth": ("depth_embedding", "depth_embedding_after"),
    "motion": ("motion_embedding", "motion_embedding_after"),
    "masked": ("masked_embedding", "mask_embedding_after"),
    "sketch": ("sketch_embedding", "sketch_embedding_after"),
    "single_sketch": ("single_sketch_embedding", "single_sketch_embedding_after"),
    "local_image": ("local_image_embedding", "local_image_embedding_after"),
}


@dataclass(frozen=True)
class UNetConfig:
    """Shape of the VideoComposer UNet (``UNetSD_temporal``). Defaults are the published model."""

    in_dim: int = 4
    concat_dim: int = 8
    dim: int = 320
    context_dim: int = 1024  # OpenCLIP ViT-H/14 text width; the decoder hard-codes 1024 upstream
    image_dim: int = 1024  # OpenCLIP ViT-H/14 image embedding; hard-coded 1024 upstream
    out_dim: int = 4
    dim_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_heads: int = 8  # heads of the first temporal transformer (its width is num_heads * head_dim)
    head_dim: int = 64
    num_res_blocks: int = 2
    attn_scales: tuple[float, ...] = (1.0, 0.5, 0.25)
    stc_pool: int = 128  # the STC encoders pool to this size, then halve twice: latent side = stc_pool / 4
    stc_layers: int = 1
    conditions: tuple[str, ...] = tuple(STC_CHANNELS)

    def __post_init__(self) -> None:
        unknown = [c for c in self.conditions if c not in STC_CHANNELS]
        if unknown:
            raise ValueError(f"unknown VideoComposer conditions {unknown}; known: {list(STC_CHANNELS)}")
        widths = [self.dim * m for m in (1, *self.dim_mult)]
        if any(w % 32 for w in widths):
            raise ValueError(f"every UNet width must be a multiple of 32 (GroupNorm(32)), got {widths}")
        if self.stc_pool % 4:
            raise ValueError(f"stc_pool must be a multiple of 4, got {self.stc_pool}")

    @property
    def latent_size(self) -> int:
        return self.stc_pool // 4

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> UNetConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown UNet config fields {unknown}")
        fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**fixed)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


@dataclass(frozen=True)
class SamplerConfig:
    """DDIM sampling as upstream's ``inference_single`` runs it."""

    steps: int = 50
    guide_scale: float = 9.0
    eta: float = 0.0
    num_timesteps: int = 1000
    beta_start: float = 0.00085
    beta_end: float = 0.0120
    num_frames: int = 16
    fps: float = 4.0  # upstream's feature_framerate: the clip is resampled to 4 fps before conditioning
    size: int = 256
    misc_size: int = 384  # spatial conditions (depth, first frame) are given at this size
    vit_size: int = 224  # the CLIP image embedding's input
    depth_clamp: float = 10.0  # upstream: midas / depth_std (20), clamped to [0, depth_clamp]
    conditions: tuple[str, ...] = field(default=("text", "image", "local_image", "depth"))

    def __post_init__(self) -> None:
        if self.steps < 1 or self.num_timesteps % self.steps:
            raise ValueError(f"steps must divide {self.num_timesteps} (upstream's DDIM stride), got {self.steps}")
        allowed = {"text", "image", "local_image", "depth", "motion"}
        bad = [c for c in self.conditions if c not in allowed]
        if bad:
            raise ValueError(f"conditions {bad} are not supported; choose from {sorted(allowed)}")

    def to_dict(self) -> dict:
        return asdict(self)


#: Tiny UNet for CPU tests of the adapter (latents 8x8, videos 16x16 with a 2x VAE).
TINY_UNET = UNetConfig(dim=32, context_dim=32, image_dim=32, dim_mult=(1, 2), num_heads=2, head_dim=16,
                       num_res_blocks=1, attn_scales=(1.0,), stc_pool=32,
                       conditions=("depth", "motion", "local_image"))

__all__ = ["STC_CHANNELS", "STC_MODULES", "TINY_UNET", "SamplerConfig", "UNetConfig"]
