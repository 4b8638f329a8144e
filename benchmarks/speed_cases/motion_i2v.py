"""GPU timing case for Motion-I2V: both UNets at real size with random bf16 weights.

Times ``measure_steps`` CFG denoising steps of each stage at the native size (16 frames,
320x512, batch 2 for CFG) and, unless ``tiny``, the SD 1.5 VAE encode + 16-frame decode. One
benchmark clip needs 3 native segments of 25 steps of both stages: the per-clip figure is
PROJECTED from the per-step times (said so in the result). Imports nothing from video_io.
"""

from __future__ import annotations

import time

import torch

from baselines.motion_i2v.config import (
    NATIVE_CFG,
    NATIVE_FPS,
    NATIVE_FRAMES,
    NATIVE_HEIGHT,
    NATIVE_STEPS,
    NATIVE_WIDTH,
    TINY,
    stage1_config,
    stage2_config,
)
from baselines.motion_i2v.unet3d import MotionI2VUNet
from benchmarks.speed_cases._common import seconds_per_step
from benchmarks.speed_cases._common import sync as _sync

SEGMENTS_PER_CLIP = 3  # baselines.motion_i2v.adapter.native_segments_per_clip(81, 16.0)


def _build(cfg, device: str, dtype: torch.dtype) -> MotionI2VUNet:
    with torch.device("meta"):
        model = MotionI2VUNet(cfg)
    model = model.to_empty(device=device)
    g = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.02, generator=g)
        for name, buf in model.named_buffers():
            if name.endswith("pe"):
                fresh = type(model.get_submodule(name.rsplit(".", 1)[0]))(buf.shape[-1], buf.shape[1])
                buf.copy_(fresh.pe.to(device))
    return model.to(dtype).eval()


def measure(device: str, tiny: bool, measure_steps: int) -> dict:
    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    overrides = TINY if tiny else {}
    h, w = (64, 64) if tiny else (NATIVE_HEIGHT, NATIVE_WIDTH)
    text_dim = TINY["cross_attention_dim"] if tiny else 768
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    unet1 = _build(stage1_config(**overrides), device, dtype)
    unet2 = _build(stage2_config(**overrides), device, dtype)
    text = torch.randn(2, 77, text_dim, device=device, dtype=dtype)
    x1 = torch.randn(2, 8, NATIVE_FRAMES - 1, h // 8, w // 8, device=device, dtype=dtype)
    x2 = torch.randn(2, 4, NATIVE_FRAMES, h // 8, w // 8, device=device, dtype=dtype)
    stride = torch.arange(8, 8 * NATIVE_FRAMES, 8, device=device)[None]
    flow = 5 * torch.randn(2, NATIVE_FRAMES, 2, h, w, device=device, dtype=dtype)
    t = torch.tensor(500, device=device)
    times = {}
    with torch.no_grad():
        for key, run in (("stage1", lambda: unet1(x1, t, text, stride=stride)),
                         ("stage2", lambda: unet2(x2, t, text, flow=flow))):
            times[key] = seconds_per_step(run, measure_steps, device)
    vae_seconds = None
    if not tiny:
        from diffusers import AutoencoderKL

        vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                            up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2, latent_channels=4,
                            sample_size=512).to(device, dtype).eval()
        image = torch.randn(1, 3, h, w, device=device, dtype=dtype)
        with torch.no_grad():
            _sync(device)
            start = time.perf_counter()
            vae.encode(image)
            for _ in range(NATIVE_FRAMES):
                vae.decode(torch.randn(1, 4, h // 8, w // 8, device=device, dtype=dtype))
            _sync(device)
            vae_seconds = time.perf_counter() - start
    per_step = times["stage1"] + times["stage2"]
    per_segment = NATIVE_STEPS * per_step + (vae_seconds or 0.0)
    return {
        "model": "motion-i2v",
        "native": {"frames": NATIVE_FRAMES, "height": h, "width": w, "fps": NATIVE_FPS, "steps": NATIVE_STEPS,
                   "cfg": NATIVE_CFG},
        "segments_per_clip": SEGMENTS_PER_CLIP,
        "seconds_per_step": per_step,
        "seconds_per_step_by_stage": times,
        "measured_steps": measure_steps,
        "projected_seconds_per_clip": SEGMENTS_PER_CLIP * per_segment,
        "vae_seconds": vae_seconds,
        "peak_gpu_gib": torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None,
        "notes": "projected: 3 segments x (25 steps x (stage-1 + stage-2 CFG step) + VAE); random bf16 weights; "
                 "text encoders and the flow VAE decode (15 frames) not timed" + ("; TINY config" if tiny else ""),
    }
