"""Configurations of Motion-I2V's two UNets and its published inference settings.

Both stages are Stable Diffusion 1.5 UNets inflated to video the AnimateDiff way (per-frame 2D
layers, one temporal "motion module" after every resnet) as in the published code
(G-U-N/Motion-I2V, ``flowgen/models/unet3d.py`` and ``animation/models/forward_unet.py`` with
``configs/*/inference/inference.yaml``). They differ in three places, each a field here:

- stage 1 (motion fields) takes the first frame's latent beside the noisy flow latent
  (``in_channels`` 8) and adds a per-frame "stride" embedding (frame offset 8, 16, ..., 120) to
  the timestep embedding;
- stage 2 (video) uses motion-augmented temporal attention: every temporal attention also attends
  to the first frame's features forward-warped along the stage-1 flow, and frame 0 (the given
  image) gets the embedding of timestep 1 instead of the current one.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Published inference settings (``scripts/app.py`` of G-U-N/Motion-I2V, commit bc787e1).
NATIVE_FRAMES = 16
NATIVE_HEIGHT = 320
NATIVE_WIDTH = 512
#: The published demo saves its videos with AnimateDiff's ``save_videos_grid`` default of 8 fps.
NATIVE_FPS = 8.0
NATIVE_STEPS = 25
NATIVE_CFG = 7.0
#: Frame offsets fed to stage 1's stride embedding (``list(range(8, 121, 8))``).
FLOW_STRIDES = tuple(range(8, 121, 8))
VAE_SCALE = 0.18215
#: The demo's negative prompt, verbatim.
NEGATIVE_PROMPT = (
    "(blur, haze, deformed iris, deformed pupils, semi-realistic, cgi, 3d, render, sketch, cartoon, drawing, anime, "
    "mutated hands and fingers:1.4), (deformed, distorted, disfigured:1.3), poorly drawn, bad anatomy, wrong anatomy, "
    "extra limb, missing limb, floating limbs, disconnected limbs, mutation, mutated, ugly, disgusting, amputation")
#: DDIM as in ``configs/configs_flowgen/inference/inference.yaml`` (stage 2's file omits the last two keys;
#: diffusers' defaults then give steps_offset 0 and clip_sample True, which is what the published code ran).
SCHEDULER_STAGE1 = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "linear", "steps_offset": 1,
                    "clip_sample": False}
SCHEDULER_STAGE2 = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "linear"}


@dataclass(frozen=True)
class UNet3DConfig:
    """One Motion-I2V UNet. Defaults are the real (SD 1.5) sizes."""

    in_channels: int = 4
    out_channels: int = 4
    block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280)
    layers_per_block: int = 2
    attention_heads: int = 8  # SD 1.5's ``attention_head_dim: 8`` is a head count in its era of diffusers
    cross_attention_dim: int = 768
    norm_num_groups: int = 32
    norm_eps: float = 1e-5
    motion_heads: int = 8
    motion_max_len: int = 32
    #: stage 1: per-frame stride embedding; stage 2: flow-warped temporal attention
    stride_embedding: bool = False
    warped_motion: bool = False

    def __post_init__(self) -> None:
        if len(self.block_out_channels) < 2:
            raise ValueError("a Motion-I2V UNet needs at least two resolution levels")
        for c in self.block_out_channels:
            # the motion modules' GroupNorm is hard-wired to 32 groups upstream
            if c % 32 or c % self.norm_num_groups or c % self.attention_heads or c % self.motion_heads:
                raise ValueError(f"block width {c} must divide by 32, the group count and both head counts")


def stage1_config(**overrides) -> UNet3DConfig:
    """The motion-field UNet: first-frame latent + noisy flow latent in, flow-latent noise out."""
    return UNet3DConfig(**{"in_channels": 8, "out_channels": 4, "stride_embedding": True, **overrides})


def stage2_config(**overrides) -> UNet3DConfig:
    """The video UNet with motion-augmented temporal attention."""
    return UNet3DConfig(**{"in_channels": 4, "out_channels": 4, "warped_motion": True, **overrides})


#: A tiny configuration for tests and parity goldens (every code path, seconds on a CPU).
TINY = {"block_out_channels": (32, 64), "layers_per_block": 1, "attention_heads": 2,
        "cross_attention_dim": 32, "motion_heads": 2}
