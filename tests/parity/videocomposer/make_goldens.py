"""Run the PUBLISHED VideoComposer UNet and DDIM sampler at a tiny configuration and save what they compute.

Not part of the test suite: run by hand on a checkout of ali-vilab/videocomposer that lives OUTSIDE
this repository (README.md beside this file gives the commands). It imports upstream's
``tools/videocomposer/unet_sd.py`` and ``artist/ops/diffusion.py`` unchanged, with these run-time
substitutes for packages that need CUDA or are not installed (each listed in goldens.json):

- ``xformers.ops.memory_efficient_attention`` -> ``torch.nn.functional.scaled_dot_product_attention``
  on the same (batch * heads, tokens, head_dim) tensors (xformers is CUDA-only);
- ``fairscale.nn.checkpoint.checkpoint_wrapper`` -> identity (gradient checkpointing; no effect on values);
- ``flash_attn.flash_attention.FlashAttention`` -> a placeholder class (imported by ``mha_flash.py``,
  never used by ``UNetSD_temporal``);
- ``artist.ops`` is entered without running its ``__init__`` (which imports oss2, skvideo, ...);
- the ``linear_sd`` beta schedule is one line of ``inference_single.py`` (a module that needs CUDA,
  pynvml and open_clip to import); it is reproduced here as written there.

Writes ``goldens.safetensors`` + ``goldens.json`` here and the official tensor list of the REAL-size
model (built on the meta device from upstream's class) to
``baselines/videocomposer/official_unet_tensors.json``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(HERE))
import fixtures  # noqa: E402

PATCHES = [
    "xformers.ops.memory_efficient_attention := torch.nn.functional.scaled_dot_product_attention (CUDA-only)",
    "fairscale.nn.checkpoint.checkpoint_wrapper := identity (gradient checkpointing only)",
    "flash_attn.flash_attention.FlashAttention := placeholder class (imported, unused by UNetSD_temporal)",
    "artist.ops package entered without its __init__ (oss2/skvideo imports); artist/ops/diffusion.py unchanged",
    "linear_sd betas reproduced from inference_single.py: linspace(0.00085**0.5, 0.012**0.5, 1000, float64)**2",
]


def _stub(name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


def install_stubs(upstream: Path) -> None:
    def memory_efficient_attention(q, k, v, attn_bias=None, op=None):
        assert attn_bias is None
        return F.scaled_dot_product_attention(q, k, v)

    xformers = _stub("xformers")
    xformers.ops = _stub("xformers.ops", memory_efficient_attention=memory_efficient_attention)
    _stub("fairscale")
    _stub("fairscale.nn")
    _stub("fairscale.nn.checkpoint", checkpoint_wrapper=lambda module, *a, **k: module)
    _stub("flash_attn")
    _stub("flash_attn.flash_attention", FlashAttention=type("FlashAttention", (torch.nn.Module,), {}))
    artist = _stub("artist")
    artist.__path__ = [str(upstream / "artist")]
    ops = _stub("artist.ops")
    ops.__path__ = [str(upstream / "artist" / "ops")]


def build_upstream(unet_sd, config: dict, compositions: list[str]):
    cfg = types.SimpleNamespace(resume=True)
    return unet_sd.UNetSD_temporal(cfg=cfg, temporal_attention=True, temporal_attn_times=1, use_checkpoint=False,
                                   use_fps_condition=False, use_sim_mask=False, video_compositions=compositions,
                                   dropout=0.1, misc_dropout=0.5, p_all_zero=0.1, p_all_keep=0.1,
                                   zero_y=None, black_image_feature=None, **config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", type=Path, required=True, help="checkout of ali-vilab/videocomposer")
    parser.add_argument("--upstream-commit", required=True)
    parser.add_argument("--extra-path", type=Path, required=True, help="folder with einops / rotary-embedding-torch")
    args = parser.parse_args()
    sys.path[:0] = [str(args.upstream), str(args.extra_path)]
    install_stubs(args.upstream)
    unet_sd = importlib.import_module("tools.videocomposer.unet_sd")
    diffusion_mod = importlib.import_module("artist.ops.diffusion")
    compositions = ["text", "mask", "depthmap", "sketch", "motion", "image", "local_image", "single_sketch"]

    # 1. the official tensor list, from upstream's class at the published configuration (config.py)
    real = {"in_dim": 4, "concat_dim": 8, "dim": 320, "y_dim": 1024, "context_dim": 1024, "out_dim": 4,
            "dim_mult": [1, 2, 4, 4], "num_heads": 8, "head_dim": 64, "num_res_blocks": 2,
            "attn_scales": [1.0, 0.5, 0.25]}
    with torch.device("meta"):
        big = build_upstream(unet_sd, real, compositions)
    official = {n: list(t.shape) for n, t in big.state_dict().items()}
    (REPO / "baselines" / "videocomposer" / "official_unet_tensors.json").write_text(json.dumps({
        "source": f"ali-vilab/videocomposer@{args.upstream_commit} tools/videocomposer/unet_sd.py UNetSD_temporal, "
                  "configs/exp06 + tools/videocomposer/config.py (video_compositions: all 8), built on the meta device",
        "num_tensors": len(official), "num_parameters": int(sum(np.prod(s) for s in official.values())),
        "tensors": official}, indent=0, sort_keys=True) + "\n")
    del big

    # 2. the tiny model with deterministic weights
    torch.manual_seed(0)
    model = build_upstream(unet_sd, fixtures.UPSTREAM_TINY, compositions).eval()
    state = {n: torch.from_numpy(fixtures.weight_value(n, tuple(t.shape))) for n, t in model.state_dict().items()}
    model.load_state_dict(state, strict=True)
    data = {k: torch.from_numpy(v) for k, v in fixtures.inputs().items()}
    spatial = {"depth": data["depth"], "local_image": data["local_image"], "motion": data["motion"]}
    cond = {"y": data["y"], "image": data["image"], **spatial}
    uncond = {"y": data["zero_y"], "image": torch.zeros_like(data["image"]), **spatial}
    t = torch.full((1,), fixtures.TIMESTEP, dtype=torch.long)
    betas = torch.linspace(0.00085 ** 0.5, 0.0120 ** 0.5, 1000, dtype=torch.float64) ** 2
    diffusion = diffusion_mod.GaussianDiffusion(betas=betas, mean_type="eps", var_type="fixed_small",
                                                loss_type="mse", rescale_timesteps=False)
    out: dict[str, torch.Tensor] = {}
    started = time.perf_counter()
    with torch.no_grad():
        out["forward_cond"] = model(data["x"], t, **cond)
        out["forward_uncond"] = model(data["x"], t, **uncond)
        out["forward_text_only"] = model(data["x"], t, y=data["y"])
        step, x0 = diffusion.ddim_sample(data["x"], t, model, [cond, uncond], guide_scale=9.0, ddim_timesteps=50,
                                         eta=0.0)
        out["ddim_step1"], out["ddim_step1_x0"] = step, x0
        out["ddim_loop_50"] = diffusion.ddim_sample_loop(data["x"], model, [cond, uncond], guide_scale=9.0,
                                                         ddim_timesteps=50, eta=0.0)
    seconds = time.perf_counter() - started
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in out.items()}, str(HERE / "goldens.safetensors"))
    (HERE / "goldens.json").write_text(json.dumps({
        "upstream": "ali-vilab/videocomposer", "upstream_commit": args.upstream_commit,
        "command": " ".join(sys.argv), "torch": torch.__version__, "numpy": np.__version__,
        "python": platform.python_version(), "machine": platform.machine(),
        "einops": importlib.import_module("einops").__version__,
        "tiny_config_upstream": fixtures.UPSTREAM_TINY, "tiny_config_ours": fixtures.OURS_TINY,
        "video_compositions": compositions, "frames": fixtures.FRAMES, "timestep": fixtures.TIMESTEP,
        "guide_scale": 9.0, "ddim_timesteps": 50, "eta": 0.0, "patches": PATCHES,
        "outputs": {k: list(v.shape) for k, v in out.items()}, "seconds": round(seconds, 2),
        "weights": "fixtures.weight_value(name, shape) for every upstream state_dict name (regenerated by the test)",
    }, indent=1) + "\n")
    print(f"wrote {len(out)} outputs in {seconds:.1f} s; official list: {len(official)} tensors")


if __name__ == "__main__":
    main()
