"""GPU timing case for matrix-game-2: real-size causal generator with random bf16 weights.

One benchmark clip (81 frames at 16 fps, treated one native frame per grid frame) is 21 latent
frames at 44x80 = 7 blocks of 3 latent frames; each block takes 3 denoising forwards (timesteps
1000/666/333 warped, upstream's distilled schedule, no CFG) plus 1 forward at t=0 that refreshes
the KV caches: 28 generator forwards per clip. ``measure_steps`` forwards are timed with the caches
in their steady state (full window of 6 latent frames); the per-clip figure is PROJECTED from them.
With ``tiny=False`` the Wan2.1 VAE (diffusers ``AutoencoderKLWan``, random weights) encodes the
81-frame conditioning video and decodes 21 latents, timed separately. Imports nothing from
``longvgenbench.video_io``.
"""

from __future__ import annotations

import time

import torch

from baselines.matrix_game.config import MatrixGameConfig
from baselines.matrix_game.model import GeneratorCaches, MatrixGameGenerator
from benchmarks.speed_cases._common import sync as _sync

NATIVE = {"frames": 81, "height": 352, "width": 640, "fps": 16.0, "steps": 3, "cfg": 1.0}
FORWARDS_PER_BLOCK = 4
BLOCKS_PER_CLIP = 7


def _build(cfg: MatrixGameConfig, device: str, dtype: torch.dtype) -> MatrixGameGenerator:
    with torch.device("meta"):
        model = MatrixGameGenerator(cfg)
    model = model.to_empty(device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.02, generator=gen)
    return model.to(dtype).eval()


def measure(device: str, tiny: bool, measure_steps: int) -> dict:
    cfg = MatrixGameConfig.tiny() if tiny else MatrixGameConfig()
    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    h, w = (8, 12) if tiny else (44, 80)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    model = _build(cfg, device, dtype)
    tokens = (h // 2) * (w // 2)
    caches = GeneratorCaches.empty(cfg, tokens)
    ctx = torch.randn(1, 257, cfg.image_dim, device=device, dtype=dtype)
    rows = 1 + 4 * 20
    keyboard = torch.zeros(1, rows, cfg.action.keyboard_dim_in, device=device, dtype=dtype)
    mouse = torch.zeros(1, rows, cfg.action.mouse_dim_in, device=device, dtype=dtype)

    def forward(start: int, t: float) -> None:
        x = torch.randn(1, 16, 3, h, w, device=device, dtype=dtype)
        cond = torch.randn(1, 20, 3, h, w, device=device, dtype=dtype)
        n = 1 + 4 * (start + 2)
        model(x, torch.full((1, 3), t, device=device), cond, ctx, keyboard[:, :n], mouse[:, :n], caches, start)

    with torch.no_grad():
        for start in (0, 3):  # warm-up, and fill the 6-frame window
            forward(start, 1000.0)
            forward(start, 0.0)
        _sync(device)
        began = time.perf_counter()
        for i in range(measure_steps):
            forward(6, (1000.0, 666.0, 333.0, 0.0)[i % 4])
        _sync(device)
        per_step = (time.perf_counter() - began) / measure_steps
    vae_seconds = None
    notes = [f"{FORWARDS_PER_BLOCK * BLOCKS_PER_CLIP} generator forwards per clip (7 blocks x (3 steps + 1 cache "
             "refresh)); projected_seconds_per_clip = that many x seconds_per_step (projected, not measured end "
             "to end); CLIP image encoding (once per clip) not timed"]
    if not tiny:
        try:
            from diffusers import AutoencoderKLWan

            with torch.device("meta"):
                vae = AutoencoderKLWan()
            vae = vae.to_empty(device=device)
            gen = torch.Generator(device=device).manual_seed(1)
            with torch.no_grad():
                for p in vae.parameters():
                    p.normal_(0.0, 0.02, generator=gen)
            vae = vae.to(dtype).eval()
            video = torch.zeros(1, 3, 81, 352, 640, device=device, dtype=dtype)
            with torch.no_grad():
                _sync(device)
                began = time.perf_counter()
                latents = vae.encode(video).latent_dist.mode()
                vae.decode(latents)
                _sync(device)
                vae_seconds = time.perf_counter() - began
        except Exception as exc:  # the timing of the generator stays useful without the VAE
            notes.append(f"VAE not timed: {type(exc).__name__}: {exc}")
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None
    per_clip = per_step * FORWARDS_PER_BLOCK * BLOCKS_PER_CLIP + (vae_seconds or 0.0)
    return {"model": "matrix-game-2", "native": NATIVE, "segments_per_clip": 1, "seconds_per_step": per_step,
            "measured_steps": measure_steps, "projected_seconds_per_clip": per_clip, "vae_seconds": vae_seconds,
            "peak_gpu_gib": peak, "tiny": tiny, "dtype": str(dtype), "notes": "; ".join(notes)}
