"""Make the DiffusionAsShader parity goldens by running the PUBLISHED implementation (never imported by the repo).

Run it with a Python that has the published code's requirements (a venv outside this repository)
and a checkout of IGL-HKUST/DiffusionAsShader; see README.md for the exact command. It writes:

- ``official_transformer_tensors.json``: every tensor name and shape of upstream's
  ``CogVideoXTransformer3DModelTracking`` at the real configuration (CogVideoX-5B-I2V's transformer
  config + ``num_tracking_blocks=18``), built on the meta device;
- ``weights/``: a tiny pipeline folder in the official layout, its transformer saved by upstream's
  own ``save_pretrained`` (deterministic random weights, every join non-zero so the branch matters);
- ``goldens.safetensors`` + ``goldens.json``: inputs and what upstream's
  ``CogVideoXImageToVideoPipelineTracking.__call__`` computed from them.

Run-time patches to upstream (listed in goldens.json too): ``torch.compile`` is the identity (the
pipeline compiles its transformer in ``__init__``; the CPU run does not need it); for the tensor list
only, ``nn.Module.to_empty`` and the explicit ``device="cpu"`` of upstream's ``__init__`` are kept on
the meta device so the 5B model is never materialised.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
SEED = 42
# CogVideoX-5B-I2V's transformer/config.json (diffusers port, THUDM/CogVideoX-5b-I2V)
REAL = dict(num_attention_heads=48, attention_head_dim=64, in_channels=32, out_channels=16, time_embed_dim=512,
            text_embed_dim=4096, num_layers=42, sample_width=90, sample_height=60, sample_frames=49, patch_size=2,
            temporal_compression_ratio=4, max_text_seq_length=226, spatial_interpolation_scale=1.875,
            temporal_interpolation_scale=1.0, use_rotary_positional_embeddings=True,
            use_learned_positional_embeddings=True, num_tracking_blocks=18)
TINY = dict(num_attention_heads=2, attention_head_dim=16, in_channels=8, out_channels=4, time_embed_dim=16,
            text_embed_dim=16, num_layers=3, sample_width=20, sample_height=12, sample_frames=9, patch_size=2,
            temporal_compression_ratio=4, max_text_seq_length=8, spatial_interpolation_scale=1.875,
            temporal_interpolation_scale=1.0, use_rotary_positional_embeddings=True,
            use_learned_positional_embeddings=True, num_tracking_blocks=2)
TINY_VAE = dict(block_out_channels=(8, 8, 16, 16), latent_channels=4, layers_per_block=1, norm_num_groups=4,
                temporal_compression_ratio=4, sample_height=96, sample_width=160, scaling_factor=0.7)
# CogVideoX-5B-I2V's scheduler/scheduler_config.json
SCHEDULER = dict(beta_end=0.012, beta_schedule="scaled_linear", beta_start=0.00085, clip_sample=False,
                 num_train_timesteps=1000, prediction_type="v_prediction", rescale_betas_zero_snr=True,
                 set_alpha_to_one=True, snr_shift_scale=1.0, steps_offset=0, timestep_spacing="trailing")
FRAMES, HEIGHT, WIDTH, STEPS, GUIDANCE = 9, 96, 160, 50, 6.0
NEGATIVE = ("The video is not of a high quality, it has a low resolution. Watermark present in each frame. "
            "The background is solid. Strange body and strange trajectory. Distortion.")


def tensor_list(upstream_cls) -> dict[str, list[int]]:
    real_to_empty = torch.nn.Module.to_empty
    real_linear_init = torch.nn.Linear.__init__

    def meta_linear(self, *args, **kwargs):
        kwargs["device"] = "meta"
        real_linear_init(self, *args, **kwargs)

    torch.nn.Module.to_empty = lambda self, *, device, recurse=True: self
    torch.nn.Linear.__init__ = meta_linear
    try:
        with torch.device("meta"):
            model = upstream_cls(**REAL)
    finally:
        torch.nn.Module.to_empty, torch.nn.Linear.__init__ = real_to_empty, real_linear_init
    return {name: list(t.shape) for name, t in model.state_dict().items()}


def track_video(rng: np.random.Generator) -> np.ndarray:
    """A DaS-style track render: black background, coloured squares moving right by 1 px per frame."""
    video = np.zeros((FRAMES, HEIGHT, WIDTH, 3), np.uint8)
    ys, xs = np.meshgrid(np.arange(2, HEIGHT - 2, 6), np.arange(2, WIDTH - 12, 6), indexing="ij")
    for t in range(FRAMES):
        for y, x in zip(ys.ravel(), xs.ravel(), strict=True):
            colour = (255 * x // WIDTH, 255 * y // HEIGHT, 128)
            video[t, y:y + 2, x + t:x + t + 2] = colour
    return video


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True, help="checkout of IGL-HKUST/DiffusionAsShader")
    parser.add_argument("--upstream-commit", required=True)
    parser.add_argument("--out", default=str(HERE))
    args = parser.parse_args()
    sys.path.insert(0, args.upstream)
    out = Path(args.out)
    torch.compile = lambda model, *a, **k: model  # patch: no compilation on CPU
    import diffusers
    import transformers
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXDPMScheduler
    from models.cogvideox_tracking import CogVideoXImageToVideoPipelineTracking, CogVideoXTransformer3DModelTracking
    from PIL import Image
    from safetensors.torch import save_file

    names = tensor_list(CogVideoXTransformer3DModelTracking)
    (out / "official_transformer_tensors.json").write_text(json.dumps(
        {"source": f"IGL-HKUST/DiffusionAsShader@{args.upstream_commit} models/cogvideox_tracking.py",
         "config": REAL, "num_tensors": len(names), "num_elements": int(sum(np.prod(s) for s in names.values())),
         "tensors": names}, indent=1) + "\n")

    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModelTracking(**TINY)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in sorted(transformer.named_parameters()):
            fan = p.shape[-1] if p.ndim > 1 else 1
            p.copy_(torch.randn(p.shape, generator=gen) / max(fan, 1) ** 0.5 * (0.5 if p.ndim > 1 else 0.1))
            if p.ndim == 1 and "norm" in name and name.endswith("weight"):
                p.add_(1.0)
    transformer.eval()
    torch.manual_seed(2)
    vae = AutoencoderKLCogVideoX(**TINY_VAE).eval()
    scheduler = CogVideoXDDIMScheduler(**SCHEDULER)
    weights = out / "weights"
    transformer.save_pretrained(weights / "transformer")
    vae.save_pretrained(weights / "vae")
    scheduler.save_pretrained(weights / "scheduler")

    rng = np.random.default_rng(3)
    first = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    track = track_video(rng)
    prompt = torch.from_numpy(rng.standard_normal((1, TINY["max_text_seq_length"], 16)).astype(np.float32))
    negative = torch.from_numpy(rng.standard_normal((1, TINY["max_text_seq_length"], 16)).astype(np.float32))

    pipe = CogVideoXImageToVideoPipelineTracking(tokenizer=None, text_encoder=None, vae=vae, transformer=transformer,
                                                 scheduler=scheduler)
    # as testing/inference.py: DPM scheduler with trailing spacing, VAE slicing + tiling, [0, 1] tracking video
    pipe.scheduler = CogVideoXDPMScheduler.from_config(pipe.scheduler.config, timestep_spacing="trailing")
    pipe.vae.enable_slicing()
    pipe.vae.enable_tiling()
    tracking_maps = torch.from_numpy(track).permute(0, 3, 1, 2).float() / 255.0
    tracking_first_frame = tracking_maps[0:1]
    torch.manual_seed(SEED)  # upstream samples the tracking latents from the global RNG
    with torch.no_grad():
        dist = pipe.vae.encode(tracking_maps.unsqueeze(0).permute(0, 2, 1, 3, 4)).latent_dist
        tracking_latents = (dist.sample() * pipe.vae.config.scaling_factor).permute(0, 2, 1, 3, 4)

    captured: dict[str, torch.Tensor] = {}

    def grab_forward(module, args_, kwargs, output):
        if "forward.output" not in captured:
            captured["forward.hidden_states"] = kwargs["hidden_states"].clone()
            captured["forward.tracking_maps"] = kwargs["tracking_maps"].clone()
            captured["forward.encoder_hidden_states"] = kwargs["encoder_hidden_states"].clone()
            captured["forward.timestep"] = kwargs["timestep"].clone()
            captured["forward.rope_cos"], captured["forward.rope_sin"] = (t.clone() for t in kwargs["image_rotary_emb"])
            captured["forward.output"] = output[0].clone()

    transformer.register_forward_hook(grab_forward, with_kwargs=True)

    # record the latents after every scheduler step (upstream's own callback path raises: it deletes
    # negative_prompt_embeds before the callback reads it); functools.wraps keeps step's signature, which
    # the pipeline inspects to decide whether to pass the generator and eta
    real_step, steps_done = pipe.scheduler.step, []

    @functools.wraps(real_step)
    def recording_step(*a, **k):
        out = real_step(*a, **k)
        captured[f"latents.step{len(steps_done)}"] = out[0].clone()
        steps_done.append(1)
        return out

    pipe.scheduler.step = recording_step

    with torch.no_grad():
        result = pipe(image=Image.fromarray(first), prompt_embeds=prompt, negative_prompt_embeds=negative,
                      height=HEIGHT, width=WIDTH, num_frames=FRAMES, num_inference_steps=STEPS, use_dynamic_cfg=True,
                      guidance_scale=GUIDANCE, generator=torch.Generator().manual_seed(SEED),
                      tracking_maps=tracking_latents, tracking_image=tracking_first_frame,
                      output_type="np").frames
    video = np.asarray(result[0], dtype=np.float32)  # (T, H, W, 3) in [0, 1]
    frames = (video * 255).round().astype(np.uint8)  # as diffusers' numpy_to_pil before export_to_video
    keep = {k: v for k, v in captured.items() if k.startswith("forward.") or k in
            ("latents.step0", "latents.step1", "latents.step2", f"latents.step{STEPS - 1}")}
    tensors = {"input.first_frame": torch.from_numpy(first), "input.track": torch.from_numpy(track),
               "input.prompt_embeds": prompt, "input.negative_prompt_embeds": negative,
               "tracking_latents": tracking_latents,
               "output.frames": torch.from_numpy(frames), **keep}
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(out / "goldens.safetensors"))
    (out / "goldens.json").write_text(json.dumps({
        "upstream": f"IGL-HKUST/DiffusionAsShader@{args.upstream_commit}",
        "entry": "models/cogvideox_tracking.py CogVideoXImageToVideoPipelineTracking.__call__ "
                 "(as testing/inference.py)",
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "diffusers": diffusers.__version__, "transformers": transformers.__version__},
        "command": " ".join(sys.argv), "seed": SEED, "frames": FRAMES, "height": HEIGHT, "width": WIDTH,
        "steps": STEPS, "guidance_scale": GUIDANCE, "use_dynamic_cfg": True, "negative_prompt": "embeddings given",
        "tiny_transformer": TINY, "tiny_vae": TINY_VAE, "scheduler": SCHEDULER,
        "patches": ["torch.compile -> identity",
                    "tensor list only: nn.Module.to_empty no-op and nn.Linear forced to the meta device"],
        "notes": "prompt embeddings are given instead of a T5 encoder; torch.manual_seed(seed) before the tracking "
                 "video's VAE sample (upstream leaves the global RNG unseeded there)"}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
