"""GPU timing case for Go-with-the-Flow: CogVideoX-5B-I2V (+ its rank-2048 LoRA, unfused as upstream) in bf16.

Real-size random weights: built on the meta device, materialised on ``device`` and initialised
there (seconds for 5.6B parameters). Times ``measure_steps`` CFG denoising steps (batch 2, as
``CogVideoXImageToVideoPipeline`` does with guidance 6) of one native segment (49 frames =
13 latent frames, 480x720), the noise warping of one segment (48 warps of a 16-channel field
at 1920x2880 along a smooth random flow, then downsampled to 60x90) and, unless ``tiny``, the
VAE encode of the first frame + decode of the 13 latent frames. One benchmark clip is one
native segment of 30 steps: the per-clip figure is PROJECTED from these parts (said so in the
result); T5 text encoding is not timed. Imports nothing from ``longvgenbench.video_io``.
"""

from __future__ import annotations

import time

import torch

from baselines.cogvideox import configs
from baselines.gwtf import noise_warp
from baselines.gwtf.lora import LORA_MODULES, LORA_RANK
from benchmarks.speed_cases._common import materialise as _materialise
from benchmarks.speed_cases._common import seconds_per_step
from benchmarks.speed_cases._common import sync as _sync

STEPS, CFG, FRAMES, HEIGHT, WIDTH, FPS = 30, 6.0, 49, 480, 720, 8.0
SEGMENTS_PER_CLIP = 1  # baselines.cogvideox.grid: one native segment spans one 81-frame clip
NOISE_UPSCALE = 32


def _transformer(config: dict, rank: int, device: str, dtype: torch.dtype) -> tuple[torch.nn.Module, str]:
    with torch.device("meta"):
        model = configs.build_transformer(config)
        try:
            from peft import LoraConfig, inject_adapter_in_model
        except ImportError:
            lora = "LoRA NOT included (peft missing): the step is the base model's"
        else:
            inject_adapter_in_model(LoraConfig(r=rank, lora_alpha=rank, target_modules=list(LORA_MODULES)), model,
                                    adapter_name="gwtf")
            lora = f"rank-{rank} LoRA on attn1 {'/'.join(LORA_MODULES)} unfused (PEFT, as diffusers loads it)"
    return _materialise(model, device, dtype), lora


def _rotary(config: dict, latent_frames: int, device: str):
    from diffusers.models.embeddings import get_3d_rotary_pos_embed
    from diffusers.pipelines.cogvideo.pipeline_cogvideox_image2video import get_resize_crop_region_for_grid

    p = config["patch_size"]
    gh, gw = config["sample_height"] // p, config["sample_width"] // p
    crops = get_resize_crop_region_for_grid((gh, gw), gw, gh)
    return get_3d_rotary_pos_embed(embed_dim=config["attention_head_dim"], crops_coords=crops, grid_size=(gh, gw),
                                   temporal_size=latent_frames, device=torch.device(device))


def _time_noise(frames: int, latent_h: int, latent_w: int, upscale: int, device: str) -> float:
    flow_h, flow_w = latent_h * 4, latent_w * 4  # half the native size, as upstream computes its flow
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, flow_h, device=device), torch.linspace(-1, 1, flow_w, device=device),
                            indexing="ij")
    flows = [torch.stack([2.0 * torch.cos(3 * ys + 0.1 * t), 1.5 * torch.sin(2 * xs - 0.1 * t)])
             for t in range(frames - 1)]
    g = torch.Generator(device=device).manual_seed(0)
    _sync(device)
    start = time.perf_counter()
    with torch.no_grad():
        per_frame = noise_warp.warped_noise_video(flows, configs.LATENT_CHANNELS, latent_h, latent_w, upscale, g,
                                                  device)
        latents = noise_warp.temporal_downsample(per_frame, (frames - 1) // 4 + 1, "nearest")
        noise_warp.mix_new_noise(latents, 0.5, g)
    _sync(device)
    return time.perf_counter() - start


def measure(device: str, tiny: bool, measure_steps: int) -> dict:
    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    frames, height, width = (9, 32, 48) if tiny else (FRAMES, HEIGHT, WIDTH)
    config = configs.tiny_transformer_config(frames, height, width) if tiny else configs.REAL_TRANSFORMER
    rank = 4 if tiny else LORA_RANK
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    transformer, lora_note = _transformer(config, rank, device, dtype)
    _, latent_frames, channels, lh, lw = configs.latent_shape(frames, height, width)
    latents = torch.randn(2, latent_frames, 2 * channels, lh, lw, device=device, dtype=dtype)  # noise + image latents
    text = torch.randn(2, configs.TEXT_TOKENS, config["text_embed_dim"], device=device, dtype=dtype)
    timestep = torch.tensor([500, 500], device=device)
    rotary = _rotary(config, latent_frames, device)

    def step() -> None:
        transformer(hidden_states=latents, encoder_hidden_states=text, timestep=timestep,
                    image_rotary_emb=rotary, return_dict=False)

    per_step = seconds_per_step(step, measure_steps, device)
    noise_seconds = _time_noise(frames, lh, lw, NOISE_UPSCALE, device)
    vae_seconds = None
    if not tiny:
        del transformer
        with torch.device("meta"):
            vae = configs.build_vae(configs.REAL_VAE)
        vae = _materialise(vae, device, dtype)
        image = torch.randn(1, 3, 1, height, width, device=device, dtype=dtype)
        z = torch.randn(1, channels, latent_frames, lh, lw, device=device, dtype=dtype)
        with torch.no_grad():
            _sync(device)
            start = time.perf_counter()
            vae.encode(image)
            vae.decode(z)
            _sync(device)
            vae_seconds = time.perf_counter() - start
    per_clip = SEGMENTS_PER_CLIP * (STEPS * per_step + noise_seconds + (vae_seconds or 0.0))
    return {
        "model": "go-with-the-flow",
        "native": {"frames": frames, "height": height, "width": width, "fps": FPS, "steps": STEPS, "cfg": CFG},
        "segments_per_clip": SEGMENTS_PER_CLIP,
        "seconds_per_step": per_step,
        "measured_steps": measure_steps,
        "projected_seconds_per_clip": per_clip,
        "noise_warp_seconds": noise_seconds,
        "vae_seconds": vae_seconds,
        "peak_gpu_gib": torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None,
        "notes": f"projected: 1 segment x (30 CFG steps (batch 2) + noise warp at {NOISE_UPSCALE}x latent res + "
                 f"VAE encode/decode); random weights ({dtype}); {lora_note}; T5 not timed"
                 + ("; TINY config" if tiny else ""),
    }
