"""GPU timing case for Hunyuan-GameCraft-1.0: the 12.8B DiT + CameraNet with random bf16 weights.

Builds the model on the meta device, materialises it on ``device`` and fills it deterministically
(seconds, not minutes, for 12.8B parameters), then times CFG denoising steps (batch 2) of a
continuation action at the native size: 18 latents (9 history + 9 new) at 704x1216 (88x152
latents, 60,192 video tokens + 256 text tokens) with the Plücker maps of 33 frames through
CameraNet. Upstream's default 50 steps use deepcache: 35 full steps and 15 that re-run only the
last single-stream block; both kinds are timed. Unless ``tiny``: HunyuanVideo's VAE (diffusers
``AutoencoderKLHunyuanVideo``, real config, random weights, tiled as upstream) encoding one
image and decoding one action's 9 latents to 33 frames.

One benchmark clip (81 frames at 16 fps = 125 native frames at 25 fps) takes 125/33 = 3.79
actions on average, each decoded once, plus one re-decode per segment (the adapter re-decodes the
last action to start the next segment). The per-clip figure is PROJECTED from these per-step and
per-decode times. Text encoders (Llama-3-8B, CLIP-L; once per caption) are not timed. Imports
nothing from ``longvgenbench.video_io``.
"""

from __future__ import annotations

import time

import torch

from baselines.gamecraft.camera import action_plucker
from baselines.gamecraft.model import REAL_CONFIG, TINY_CONFIG, DeepCache, GameCraftTransformer
from benchmarks.speed_cases._common import seconds_per_step
from benchmarks.speed_cases._common import sync as _sync

ACTIONS_PER_CLIP = 125 / 33
STEPS, CFG, FULL_STEPS, CACHED_STEPS = 50, 2.0, 35, 15


def _build(tiny: bool, device: str, dtype: torch.dtype) -> GameCraftTransformer:
    with torch.device("meta"):
        model = GameCraftTransformer(TINY_CONFIG if tiny else REAL_CONFIG)
    model = model.to_empty(device=device)
    g = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1 and ("norm" in name or name.endswith("scale")):
                p.fill_(1.0)
            else:
                p.normal_(0, 0.02, generator=g)
    return model.to(dtype).eval()


def measure(device: str, tiny: bool, measure_steps: int) -> dict:
    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    config = TINY_CONFIG if tiny else REAL_CONFIG
    height, width = (32, 48) if tiny else (704, 1216)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    build_start = time.perf_counter()
    model = _build(tiny, device, dtype)
    _sync(device)
    build_seconds = time.perf_counter() - build_start
    cond, uncond = action_plucker("w", 0.2, height, width)
    plucker = torch.stack([uncond, cond]).to(device, torch.bfloat16).to(dtype)
    x = torch.randn(2, config.in_channels, 18, height // 8, width // 8, device=device, dtype=dtype)
    t = torch.full((2,), 937.5, device=device)
    text = torch.randn(2, 256, config.text_dim, device=device, dtype=dtype)
    mask = torch.zeros(2, 256, dtype=torch.long, device=device)
    mask[:, :40] = 1
    pooled = torch.randn(2, config.pooled_dim, device=device, dtype=dtype)
    cache = DeepCache()
    with torch.no_grad():
        full = seconds_per_step(lambda: model(x, t, text, mask, pooled, plucker, cache=cache), measure_steps, device)
        cached = seconds_per_step(lambda: model(x, t, text, mask, pooled, plucker, cache=cache, reuse_cache=True),
                                  measure_steps, device)
    model = cache = None  # free the DiT before the VAE runs
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    vae_decode = vae_encode = None
    if not tiny:
        from diffusers import AutoencoderKLHunyuanVideo

        vae = AutoencoderKLHunyuanVideo().to(device, torch.float16).eval()
        vae.enable_tiling()
        with torch.no_grad():
            image = torch.randn(1, 3, 1, height, width, device=device, dtype=torch.float16)
            vae_encode = seconds_per_step(lambda: vae.encode(image), 1, device)
            latents = torch.randn(1, 16, 9, height // 8, width // 8, device=device, dtype=torch.float16)
            vae_decode = seconds_per_step(lambda: vae.decode(latents), 1, device)
    per_action = FULL_STEPS * full + CACHED_STEPS * cached + (vae_decode or 0.0)
    per_clip = ACTIONS_PER_CLIP * per_action + (vae_decode or 0.0)
    return {
        "model": "hunyuan-gamecraft",
        "native": {"frames": 33, "height": height, "width": width, "fps": 25.0, "steps": STEPS, "cfg": CFG},
        "segments_per_clip": ACTIONS_PER_CLIP,
        "seconds_per_step": full,
        "seconds_per_cached_step": cached,
        "measured_steps": measure_steps,
        "projected_seconds_per_clip": per_clip,
        "vae_seconds": vae_decode,
        "vae_encode_seconds": vae_encode,
        "build_seconds": build_seconds,
        "peak_gpu_gib": torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None,
        "notes": "PROJECTED per clip: 3.79 actions x (35 full + 15 deepcache CFG steps, batch 2, 18 latents "
                 "incl. 9 history + one 9-latent VAE decode) + one re-decode per segment; random bf16 weights, "
                 "no offload, no fp8; text encoders not timed" + ("; TINY config" if tiny else ""),
    }
