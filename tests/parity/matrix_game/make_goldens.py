"""Make the Matrix-Game-2.0 parity goldens by running the PUBLISHED code, outside this repository.

Run with a Python environment that has torch, diffusers, einops, safetensors and tqdm (not this
repo's venv; see README.md), pointing ``--upstream`` at a checkout of the published Matrix-Game-2
sources. Nothing of the published code is copied here: it is imported from the checkout.

Run-time patches (CPU, fp32, no flash-attn), all applied in ``install_patches``:
- ``flash_attn`` is not installed: a stand-in module's ``flash_attn_func`` is
  ``scaled_dot_product_attention`` on (B, L, H, D) tensors (flash-attn's default scale);
- upstream's ``wan.modules.attention.attention`` falls back to SDPA *in bf16* without flash-attn,
  and ``flash_attention`` asserts CUDA: both names are rebound, where the causal model and the
  cross-attention import them, to the same fp32 SDPA;
- ``torch.cuda.current_device`` (used by ``posemb_layers`` to place RoPE tables) returns "cpu";
- ``wan/__init__.py`` and ``wan/modules/__init__.py`` import the whole Wan package (T5, VAE,
  image2video); they are skipped by registering bare packages, and the tokenizer / VAE / video
  export modules that ``utils.wan_wrapper`` and ``pipeline`` import are empty stand-ins (unused);
- ``CausalWanModel`` hard-codes ``MLPProj(1280, dim)``: the tiny model builds it with 16 inputs;
- ``CausalInferencePipeline`` hard-codes 30 blocks, 880 tokens per frame and the real head
  sizes in its cache initialisers: the tiny pipeline gets the same caches at tiny sizes;
- ``torch.randn_like`` (upstream's only random draw inside ``inference``: the re-noising between
  steps) draws from a generator seeded with ``RENOISE_SEED`` and records each draw, so our sampler
  replays the same noise.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import types
from pathlib import Path

import torch
import torch.nn.functional as F

TINY_ACTION = {"blocks": [0], "enable_keyboard": True, "enable_mouse": True, "heads_num": 2, "hidden_size": 8,
               "img_hidden_size": 24, "keyboard_dim_in": 4, "keyboard_hidden_dim": 128, "mouse_dim_in": 2,
               "mouse_hidden_dim": 128, "mouse_qk_dim_list": [8, 28, 28], "patch_size": [1, 2, 2], "qk_norm": True,
               "qkv_bias": False, "rope_dim_list": [8, 28, 28], "rope_theta": 256, "vae_time_compression_ratio": 4,
               "windows_size": 3}
# upstream's action RoPE table is built for 64-dim heads whatever the config says (``get_rotary_pos_embed(...,
# 64, mouse_qk_dim_list)``), so the tiny action modules keep 64-dim heads (2 heads x 64) and the real RoPE split.
TINY_MODEL = {"model_type": "i2v", "dim": 24, "ffn_dim": 48, "num_heads": 2, "num_layers": 2, "in_dim": 36,
              "out_dim": 16, "freq_dim": 256, "eps": 1e-6, "local_attn_size": 6, "sink_size": 0, "text_len": 512,
              "action_config": TINY_ACTION}
IMAGE_DIM, CONTEXT_TOKENS = 16, 5
# upstream's keyboard attention asserts 880 tokens per frame (44 x 80 latents, 352 x 640 video), so the tiny
# run keeps the real latent size; 3 blocks of 3 frames, the third rolls the 6-frame caches. The inputs are
# drawn from seeded generators (``make_inputs``, shared with the test) instead of being stored (2 MB each).
LATENT_FRAMES, LATENT_H, LATENT_W = 9, 44, 80
INPUT_SEED, RENOISE_SEED = 2, 3


def sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                         is_causal=bool(kwargs.get("causal", False)))
    return out.transpose(1, 2).contiguous()


def install_patches(upstream: Path) -> None:
    from diffusers.loaders import FromOriginalModelMixin, PeftAdapterMixin  # noqa: F401  (before the stand-in:
    from diffusers.models.modeling_utils import ModelMixin  # noqa: F401  diffusers probes flash_attn's spec)

    flash = types.ModuleType("flash_attn")
    flash.flash_attn_func = sdpa
    sys.modules["flash_attn"] = flash
    for name, sub in (("wan", "wan"), ("wan.modules", "wan/modules")):
        package = types.ModuleType(name)
        package.__path__ = [str(upstream / sub)]
        sys.modules[name] = package
    stand_ins = {"wan.modules.tokenizers": {"HuggingfaceTokenizer": object}, "wan.modules.vae": {"_video_vae": None},
                 "utils.visualize": {"process_video": None}}
    for name, attrs in stand_ins.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        sys.modules[name] = module
    torch.cuda.current_device = lambda: "cpu"
    sys.path.insert(0, str(upstream))
    import wan.modules.causal_model as causal_model
    import wan.modules.model as model

    causal_model.attention = sdpa
    model.flash_attention = sdpa
    original = causal_model.MLPProj
    causal_model.MLPProj = lambda in_dim, out_dim: original(IMAGE_DIM, out_dim)


def randomise(module: torch.nn.Module, seed: int) -> None:
    """Deterministic random weights everywhere (upstream zero-initialises the action projections), rounded to
    fp16 so the committed file is half the size; both sides compute in fp32 from the same values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(module.named_parameters()):
            scale = 0.3 if p.ndim == 1 else 1.0 / max(1, p.shape[-1]) ** 0.5
            base = 1.0 if name.endswith(("norm_q.weight", "norm_k.weight", "norm3.weight")) else 0.0
            p.copy_((base + scale * torch.randn(p.shape, generator=g)).half().float())  # stored as fp16


def tiny_caches(pipe, cfg: dict, tokens_per_frame: int) -> None:
    """Upstream's three cache initialisers, at the tiny model's sizes (same dict layout)."""
    a, n, heads = cfg["action_config"], cfg["num_layers"], cfg["num_heads"]
    window = cfg["local_attn_size"]

    def zeros(*shape):
        return torch.zeros(shape)

    def entry(k, v, **extra):
        return {"k": k, "v": v, "global_end_index": torch.tensor([0]), "local_end_index": torch.tensor([0]), **extra}

    d = cfg["dim"] // heads
    pipe.kv_cache1 = [entry(zeros(1, window * tokens_per_frame, heads, d), zeros(1, window * tokens_per_frame,
                                                                                 heads, d)) for _ in range(n)]
    kd, md, ah = a["keyboard_hidden_dim"], a["mouse_hidden_dim"], a["heads_num"]
    pipe.kv_cache_keyboard = [entry(zeros(1, window, ah, kd // ah), zeros(1, window, ah, kd // ah)) for _ in range(n)]
    pipe.kv_cache_mouse = [entry(zeros(tokens_per_frame, window, ah, md // ah),
                                 zeros(tokens_per_frame, window, ah, md // ah)) for _ in range(n)]
    pipe.crossattn_cache = [{"k": zeros(1, CONTEXT_TOKENS, heads, d), "v": zeros(1, CONTEXT_TOKENS, heads, d),
                             "is_init": False} for _ in range(n)]


def make_inputs(seed: int = INPUT_SEED) -> dict[str, torch.Tensor]:
    """The tiny run's inputs, from a seeded CPU generator (the test draws the same ones)."""
    g = torch.Generator().manual_seed(seed)
    rows = 1 + 4 * (LATENT_FRAMES - 1)
    keyboard = (torch.rand(1, rows, 4, generator=g) > 0.6).float()
    mouse = 0.1 * torch.randint(-1, 2, (1, rows, 2), generator=g).float()
    return {"keyboard": keyboard, "mouse": mouse,
            "noise": torch.randn(1, 16, LATENT_FRAMES, LATENT_H, LATENT_W, generator=g),
            "cond_concat": torch.randn(1, 20, LATENT_FRAMES, LATENT_H, LATENT_W, generator=g),
            "visual_context": torch.randn(1, CONTEXT_TOKENS, IMAGE_DIM, generator=g)}


def summary(x: torch.Tensor, name: str) -> dict[str, torch.Tensor]:
    """A strided sample (every 8th row/column) and the per channel-and-frame means of a (1, C, F, H, W) tensor."""
    return {f"{name}_sample": x[:, :, :, ::8, ::8].contiguous(), f"{name}_means": x.double().mean(dim=(3, 4))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", type=Path, required=True, help="checkout of the published Matrix-Game-2 code")
    parser.add_argument("--commit", default="unknown", help="commit of that checkout (recorded)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "goldens")
    args = parser.parse_args()
    install_patches(args.upstream.resolve())
    from pipeline.causal_inference import CausalInferencePipeline
    from safetensors.torch import save_file
    from utils.wan_wrapper import WanDiffusionWrapper

    torch.manual_seed(0)
    wrapper = WanDiffusionWrapper(model_config=TINY_MODEL, timestep_shift=5.0, is_causal=True)
    randomise(wrapper, seed=1)
    wrapper.eval()
    settings = types.SimpleNamespace(denoising_step_list=[1000, 666, 333], warp_denoising_step=True,
                                     num_frame_per_block=3, context_noise=0, model_kwargs={})
    pipe = CausalInferencePipeline(settings, device="cpu", generator=wrapper,
                                   vae_decoder=lambda latents, *cache: (latents, list(cache)))
    pipe.num_transformer_blocks = TINY_MODEL["num_layers"]
    pipe.frame_seq_length = (LATENT_H // 2) * (LATENT_W // 2)
    pipe._initialize_kv_cache = lambda **kw: None  # replaced by tiny_caches below, called from inference()
    pipe._initialize_kv_cache_mouse_and_keyboard = lambda **kw: tiny_caches(pipe, TINY_MODEL, pipe.frame_seq_length)
    pipe._initialize_crossattn_cache = lambda **kw: None

    inputs = make_inputs()
    keyboard, mouse = inputs["keyboard"], inputs["mouse"]
    conditions = {"cond_concat": inputs["cond_concat"], "visual_context": inputs["visual_context"],
                  "keyboard_cond": keyboard, "mouse_cond": mouse}

    draws: list[torch.Tensor] = []
    original_randn_like = torch.randn_like

    renoise = torch.Generator().manual_seed(RENOISE_SEED)

    def recording_randn_like(x, *a, **kw):
        out = torch.randn(x.shape, generator=renoise, dtype=x.dtype)
        draws.append(out.clone())
        return out

    flows: list[torch.Tensor] = []
    forward = wrapper.model.forward

    def recording_forward(*a, **kw):
        out = forward(*a, **kw)
        flows.append(out.detach().clone())
        return out

    wrapper.model.forward = recording_forward
    torch.randn_like = recording_randn_like
    with torch.no_grad():
        latents = pipe.inference(noise=inputs["noise"], conditional_dict=dict(conditions), return_latents=True)
    torch.randn_like = original_randn_like
    timesteps = pipe.denoising_step_list.float()
    goldens = {"timesteps": timesteps, **summary(latents, "latents"), **summary(flows[0], "first_flow"),
               **summary(flows[8], "last_block_first_flow"),
               **summary(torch.cat(draws).permute(1, 0, 2, 3)[None], "renoise"),
               **{f"input_{k}_sum": v.double().sum() for k, v in inputs.items()}}
    args.out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in goldens.items()}, str(args.out / "goldens.safetensors"))
    save_file({k: v.detach().half().contiguous() for k, v in wrapper.state_dict().items()},
              str(args.out / "tiny_official.safetensors"))
    (args.out / "goldens.json").write_text(json.dumps({
        "upstream": "SkyworkAI/Matrix-Game (Matrix-Game-2), fork hathibelagal-dev/Matrix-Game",
        "commit": args.commit, "python": platform.python_version(), "torch": torch.__version__,
        "diffusers": __import__("diffusers").__version__, "tiny_model": TINY_MODEL, "image_dim": IMAGE_DIM,
        "latent": [LATENT_FRAMES, LATENT_H, LATENT_W], "input_seed": INPUT_SEED,
        "renoise_seed": RENOISE_SEED, "renoise_shapes": [list(d.shape) for d in draws],
        "forwards": len(flows), "renoise_draws": len(draws),
        "command": " ".join(sys.argv)}, indent=1))
    print(f"{len(flows)} generator forwards, {len(draws)} re-noising draws -> {args.out}")


if __name__ == "__main__":
    main()
