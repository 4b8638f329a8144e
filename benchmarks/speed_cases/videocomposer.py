"""GPU timing case for VideoComposer: the 1.41B-parameter 3D UNet (+ STC encoders) and the SD-2.1 VAE, bf16.

Real-size random weights: the UNet is built on the meta device, materialised on ``device`` and
initialised there. Times ``measure_steps`` DDIM steps of one native pass (16 frames at 256x256:
latents 4x16x32x32) with upstream's guidance (two separate UNet passes per step, conditional and
unconditional, scale 9.0) conditioned as the adapter does by default (caption tokens 77x1024, a
CLIP image token, depth and first frame at 384x384 through the STC encoders) and, unless ``tiny``,
the VAE decode of the 16 frames. One benchmark clip is 2 passes of 50 steps (``baselines/
videocomposer/grid.py``): the per-clip figure is PROJECTED as 2 x (50 x seconds per step + VAE
decode); OpenCLIP text/image encoding (once per pass, tens of milliseconds) is not timed.
Upstream runs under fp16 autocast with fp32 weights; this case uses bf16 weights as the other
speed cases do. Imports nothing from ``longvgenbench.video_io``.
"""

from __future__ import annotations

import time

import torch

from baselines.videocomposer.config import TINY_UNET, UNetConfig
from baselines.videocomposer.unet import VideoComposerUNet
from benchmarks.speed_cases._common import materialise as _materialise
from benchmarks.speed_cases._common import sync as _sync

STEPS, CFG, FRAMES, SIZE, FPS, MISC = 50, 9.0, 16, 256, 4.0, 384
PASSES_PER_CLIP = 2  # baselines/videocomposer/grid.py: 21 native frames per 81-frame clip
SD21_VAE = {"in_channels": 3, "out_channels": 3, "down_block_types": ["DownEncoderBlock2D"] * 4,
            "up_block_types": ["UpDecoderBlock2D"] * 4, "block_out_channels": [128, 256, 512, 512],
            "layers_per_block": 2, "latent_channels": 4, "norm_num_groups": 32, "sample_size": 768}


def measure(device: str, tiny: bool, measure_steps: int) -> dict:
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    config = TINY_UNET if tiny else UNetConfig()
    misc, side = (32, config.latent_size) if tiny else (MISC, config.latent_size)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    built = time.perf_counter()
    with torch.device("meta"):
        unet = VideoComposerUNet(config)
    unet = _materialise(unet, device, dtype)
    build_seconds = time.perf_counter() - built
    g = torch.Generator(device=device).manual_seed(1)
    x = torch.randn(1, 4, FRAMES, side, side, device=device, generator=g, dtype=dtype)
    spatial = {"depth": torch.rand(1, 1, FRAMES, misc, misc, device=device, generator=g, dtype=dtype) * 10,
               "local_image": torch.rand(1, 3, FRAMES, misc, misc, device=device, generator=g, dtype=dtype)}
    y = torch.randn(1, 77, config.context_dim, device=device, generator=g, dtype=dtype)
    image = torch.randn(1, 1, config.image_dim, device=device, generator=g, dtype=dtype)
    cond = {"y": y, "image": image, **spatial}
    uncond = {"y": torch.zeros_like(y), "image": torch.zeros_like(image), **spatial}

    def step(t: int) -> torch.Tensor:
        ts = torch.full((1,), t, device=device, dtype=torch.long)
        c, u = unet(x, ts, **cond), unet(x, ts, **uncond)
        return u + CFG * (c - u)

    with torch.no_grad():
        step(981)  # warm-up (kernels, allocator)
        _sync(device)
        started = time.perf_counter()
        for k in range(measure_steps):
            step(981 - 20 * k)
        _sync(device)
        per_step = (time.perf_counter() - started) / max(1, measure_steps)
        vae_seconds = None
        if not tiny:
            from diffusers import AutoencoderKL

            with torch.device("meta"):
                vae = AutoencoderKL(**SD21_VAE)
            vae = _materialise(vae, device, dtype)
            latents = torch.randn(FRAMES, 4, side, side, device=device, generator=g, dtype=dtype)
            vae.decode(latents[:1])  # warm-up
            _sync(device)
            started = time.perf_counter()
            vae.decode(latents)
            _sync(device)
            vae_seconds = time.perf_counter() - started
            del vae
    per_pass = STEPS * per_step + (vae_seconds or 0.0)
    peak = torch.cuda.max_memory_allocated() / 2 ** 30 if device.startswith("cuda") else None
    return {
        "model": "videocomposer" + (" (tiny)" if tiny else ""),
        "native": {"frames": FRAMES, "height": SIZE, "width": SIZE, "fps": FPS, "steps": STEPS, "cfg": CFG},
        "segments_per_clip": PASSES_PER_CLIP,
        "seconds_per_step": round(per_step, 4),
        "measured_steps": measure_steps,
        "projected_seconds_per_clip": round(PASSES_PER_CLIP * per_pass, 2),
        "vae_seconds": None if vae_seconds is None else round(vae_seconds, 3),
        "peak_gpu_gib": None if peak is None else round(peak, 2),
        "notes": (f"PROJECTED per clip = {PASSES_PER_CLIP} passes x ({STEPS} steps x seconds_per_step + VAE decode of "
                  f"16 frames); a step = 2 UNet passes (cond + uncond, as upstream); {dtype} random weights "
                  f"(upstream: fp16 autocast); OpenCLIP encoding not timed; UNet built in {build_seconds:.1f} s; "
                  f"{sum(p.numel() for p in unet.parameters()):,} UNet parameters"),
    }


__all__ = ["measure"]
