"""GPU timing case for DiffusionAsShader: CogVideoX-5B-I2V + 18 tracking blocks in bf16, random weights.

Real-size model (``baselines.das.model.REAL_CONFIG``, 1,495 tensors, about 8.18B elements) built on
the meta device, materialised on ``device`` and initialised there. Times ``measure_steps``
denoising steps as upstream's pipeline runs them (batch 2 for CFG 6, the tracking branch fed
every step) of one native segment (49 frames = 13 latent frames, 480x720) and, unless ``tiny``,
the VAE work of one segment with tiling on as upstream: encode the 49-frame tracking video, the
first frame and the tracking video's first frame, decode 13 latent frames. One benchmark clip is
one native segment of 50 steps (``baselines/cogvideox/grid.py``): the per-clip figure is
PROJECTED from these parts (said so in the result); T5 text encoding is not timed. Imports
nothing from ``longvgenbench.video_io``.
"""

from __future__ import annotations

import time

import torch

from baselines.cogvideox import configs
from baselines.das.model import REAL_CONFIG, DiffusionAsShaderTransformer
from benchmarks.speed_cases._common import seconds_per_step
from benchmarks.speed_cases._common import sync as _sync

STEPS, CFG, FRAMES, HEIGHT, WIDTH, FPS = 50, 6.0, 49, 480, 720, 8.0
SEGMENTS_PER_CLIP = 1  # baselines.cogvideox.grid: one native segment spans one 81-frame clip


def _materialise(model: torch.nn.Module, device: str, dtype: torch.dtype) -> torch.nn.Module:
    model = model.to_empty(device=device)
    g = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.02, generator=g)
        for b in model.buffers():
            b.zero_()
    return model.to(dtype).eval()


def _rotary(config, latent_frames: int, device: str):
    from diffusers.models.embeddings import get_3d_rotary_pos_embed
    from diffusers.pipelines.cogvideo.pipeline_cogvideox_image2video import get_resize_crop_region_for_grid

    p = config.patch_size
    gh, gw = config.sample_height // p, config.sample_width // p
    crops = get_resize_crop_region_for_grid((gh, gw), gw, gh)
    return get_3d_rotary_pos_embed(embed_dim=config.attention_head_dim, crops_coords=crops, grid_size=(gh, gw),
                                   temporal_size=latent_frames, device=torch.device(device))


def _time_vae(device: str, dtype: torch.dtype, latent_frames: int, lh: int, lw: int) -> float:
    with torch.device("meta"):
        vae = configs.build_vae(configs.REAL_VAE)
    vae = _materialise(vae, device, dtype)
    vae.enable_tiling()  # upstream's inference enables slicing and tiling
    track = torch.rand(1, 3, FRAMES, HEIGHT, WIDTH, device=device, dtype=dtype)
    image = torch.rand(1, 3, 1, HEIGHT, WIDTH, device=device, dtype=dtype) * 2 - 1
    z = torch.randn(1, configs.LATENT_CHANNELS, latent_frames, lh, lw, device=device, dtype=dtype)
    with torch.no_grad():
        _sync(device)
        start = time.perf_counter()
        vae.encode(track).latent_dist.sample()
        vae.encode(image).latent_dist.sample()
        vae.encode(image).latent_dist.sample()  # the tracking video's first frame, encoded like the image
        vae.decode(z)
        _sync(device)
    return time.perf_counter() - start


def measure(device: str, tiny: bool, measure_steps: int) -> dict:
    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    if tiny:
        from baselines.das.tiny import tiny_transformer_config

        frames, height, width = 9, 96, 160
        config = tiny_transformer_config(frames, height, width)
    else:
        frames, height, width, config = FRAMES, HEIGHT, WIDTH, REAL_CONFIG
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with torch.device("meta"):
        transformer = DiffusionAsShaderTransformer(**config)
    transformer = _materialise(transformer, device, dtype)
    elements = sum(p.numel() for p in transformer.parameters())
    _, latent_frames, channels, lh, lw = configs.latent_shape(frames, height, width)
    latents = torch.randn(2, latent_frames, 2 * channels, lh, lw, device=device, dtype=dtype)  # noise + image
    tracking = torch.randn(2, latent_frames, 2 * channels, lh, lw, device=device, dtype=dtype)  # track + its frame 0
    text = torch.randn(2, config["max_text_seq_length"], config["text_embed_dim"], device=device, dtype=dtype)
    timestep = torch.tensor([500, 500], device=device)
    rotary = _rotary(transformer.config, latent_frames, device)

    def step() -> None:
        transformer(latents, text, timestep, tracking_maps=tracking, image_rotary_emb=rotary, return_dict=False)

    per_step = seconds_per_step(step, measure_steps, device)
    vae_seconds = None
    if not tiny:
        del transformer
        vae_seconds = _time_vae(device, dtype, latent_frames, lh, lw)
    per_clip = SEGMENTS_PER_CLIP * (STEPS * per_step + (vae_seconds or 0.0))
    return {
        "model": "diffusion-as-shader",
        "native": {"frames": frames, "height": height, "width": width, "fps": FPS, "steps": STEPS, "cfg": CFG},
        "segments_per_clip": SEGMENTS_PER_CLIP,
        "seconds_per_step": per_step,
        "measured_steps": measure_steps,
        "projected_seconds_per_clip": per_clip,
        "vae_seconds": vae_seconds,
        "peak_gpu_gib": torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None,
        "notes": f"projected: 1 segment x (50 CFG steps (batch 2, tracking branch of "
                 f"{config['num_tracking_blocks']} blocks) + VAE with tiling: encode 49-frame track video + 2 "
                 f"frames, decode 13 latents); random weights ({dtype}, {elements} parameters); T5 not timed"
                 + ("; TINY config, VAE not timed" if tiny else ""),
    }
