"""Make the Motion-I2V parity goldens by running the PUBLISHED model code (outside this repository).

Run with a separate interpreter that has diffusers 0.11.1 (what upstream pins), from a checkout of
G-U-N/Motion-I2V (see README.md here for the exact commands). Writes into this folder:

- ``baselines/motion_i2v/official_tensors.json``: every parameter/buffer name and
  shape of both published UNets at the REAL configuration (built on the meta device);
- ``goldens/stage{1,2}_outputs.safetensors``: what the published code computed for one CFG
  denoising step of a tiny configuration (UNet noise prediction for the batch of 2, guided
  prediction, DDIM step); the weights and inputs are NOT stored: ``fixtures.py`` draws them by
  name on both sides;
- ``goldens/tiny_tensors.json``: the tiny UNets' parameter and buffer names and shapes as the
  published code names them (the test draws the weights from this list, not from our model);
- ``goldens/meta.json``: versions, commit, command, and a fingerprint of every array drawn.

Run-time patches (the published code is not edited): ``cupy`` is replaced by a module with a no-op ``memoize`` and
``softsplat.softsplat`` by a plain-torch "avg" forward splat written below (the published kernel
is CUDA-only); nothing else is patched.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("motion_i2v_parity_fixtures", HERE / "fixtures.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)  # by path: the upstream checkout is on sys.path too
TINY = {"block_out_channels": (32, 64), "layers_per_block": 1, "attention_head_dim": 2,
        "cross_attention_dim": 32}
MOTION = {"num_attention_heads": 8, "num_transformer_block": 1, "attention_block_types": ["Temporal_Self"] * 2,
          "temporal_position_encoding": True, "temporal_position_encoding_max_len": 32,
          "temporal_attention_dim_div": 1}


def torch_softsplat(tenIn, tenFlow, tenMetric, strMode):
    assert strMode == "avg" and tenMetric is None
    n, c, h, w = tenIn.shape
    src = torch.cat([tenIn, tenIn.new_ones(n, 1, h, w)], 1)
    out = torch.zeros(n, c + 1, h * w, dtype=src.dtype)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=src.dtype), torch.arange(w, dtype=src.dtype), indexing="ij")
    fx, fy = xs + tenFlow[:, 0], ys + tenFlow[:, 1]
    x0, y0 = fx.floor(), fy.floor()
    for dx in (0, 1):
        for dy in (0, 1):
            cx, cy = x0 + dx, y0 + dy
            wgt = (1 - (fx - cx).abs()) * (1 - (fy - cy).abs())
            ok = (cx >= 0) & (cx < w) & (cy >= 0) & (cy < h)
            for b in range(n):
                m = ok[b].reshape(-1)
                idx = (cy[b] * w + cx[b]).reshape(-1)[m].long()
                out[b].index_add_(1, idx, (src[b].reshape(c + 1, -1) * wgt[b].reshape(1, -1))[:, m])
    out = out.view(n, c + 1, h, w)
    return out[:, :-1] / (out[:, -1:] + 1e-7)


def patch_cuda_only() -> None:
    cupy = types.ModuleType("cupy")
    cupy.memoize = lambda **_: (lambda fn: fn)  # the kernel compiler is decorated at import time, never called
    sys.modules["cupy"] = cupy
    import animation.models.softsplat as softsplat

    softsplat.softsplat = torch_softsplat
    del sys.modules["cupy"]  # einops would take any module named cupy for the real one


def unet_kwargs(in_channels: int, heads: int, tiny: bool) -> dict:
    base = {"in_channels": in_channels, "out_channels": 4, "sample_size": 64,
            "down_block_types": ["CrossAttnDownBlock3D"] * 3 + ["DownBlock3D"],
            "up_block_types": ["UpBlock3D"] + ["CrossAttnUpBlock3D"] * 3,
            "block_out_channels": (320, 640, 1280, 1280), "layers_per_block": 2, "attention_head_dim": 8,
            "cross_attention_dim": 768, "use_inflated_groupnorm": True, "unet_use_cross_frame_attention": False,
            "unet_use_temporal_attention": False, "use_motion_module": True,
            "motion_module_resolutions": [1, 2, 4, 8], "motion_module_mid_block": True,
            "motion_module_decoder_only": False, "motion_module_type": "Vanilla",
            "motion_module_kwargs": {**MOTION, "num_attention_heads": heads}}
    if tiny:
        base.update(TINY)
        base["down_block_types"] = ["CrossAttnDownBlock3D", "DownBlock3D"]
        base["up_block_types"] = ["UpBlock3D", "CrossAttnUpBlock3D"]
    return base


def names_and_shapes(model: torch.nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def tiny_layout(model: torch.nn.Module) -> dict[str, dict[str, list[int]]]:
    """The tiny UNet's tensors as the published code names them: the parameters (drawn by name in
    ``fixtures.py``) and the buffers (the positional encodings, which both sides compute)."""
    params = {k: list(v.shape) for k, v in model.named_parameters()}
    buffers = {k: list(v.shape) for k, v in model.state_dict().items() if k not in params}
    return {"parameters": params, "buffers": buffers}


def randomise(model: torch.nn.Module, stage: int) -> dict[str, np.ndarray]:
    """Set every parameter to its named value from ``fixtures.py``; return the values drawn."""
    drawn = {}
    with torch.no_grad():
        for name, p in model.named_parameters():
            drawn[name] = fixtures.weight_value(stage, name, tuple(p.shape))
            p.copy_(torch.from_numpy(drawn[name]))
    return drawn


def drawn_fingerprint(weights: dict[str, np.ndarray], inputs: dict[str, np.ndarray]) -> str:
    return fixtures.fingerprint({**{f"weight/{k}": v for k, v in weights.items()},
                                 **{f"input/{k}": v for k, v in inputs.items()}})


def main() -> None:
    sys.path.insert(0, str(Path.cwd()))  # the Motion-I2V checkout
    patch_cuda_only()
    import diffusers
    from animation.models.forward_unet import UNet3DConditionModel as VideoUNet
    from diffusers import DDIMScheduler
    from flowgen.models.unet3d import UNet3DConditionModel as FlowUNet
    from safetensors.torch import save_file

    official = {}
    with torch.device("meta"):
        official["stage1_unet"] = names_and_shapes(FlowUNet(**unet_kwargs(8, 8, tiny=False)))
        official["stage2_unet"] = names_and_shapes(VideoUNet(**unet_kwargs(4, 8, tiny=False)))
    names_file = HERE.parents[2] / "baselines" / "motion_i2v" / "official_tensors.json"
    names_file.write_text(json.dumps(official, indent=0, sort_keys=True))

    out = HERE / "goldens"
    out.mkdir(exist_ok=True)
    guidance = fixtures.GUIDANCE
    layout, fingerprints = {}, {}

    flow_unet = FlowUNet(**unet_kwargs(8, 2, tiny=True)).eval()
    layout["stage1_unet"] = tiny_layout(flow_unet)
    arrays = fixtures.inputs(1)
    fingerprints["stage1"] = drawn_fingerprint(randomise(flow_unet, 1), arrays)
    x_in = {k: torch.from_numpy(v) for k, v in arrays.items()}
    sched1 = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="linear", steps_offset=1,
                           clip_sample=False)
    sched1.set_timesteps(25)
    t1 = sched1.timesteps[fixtures.STEP_INDEX]
    with torch.no_grad():
        x = torch.cat([x_in["image_latent"], x_in["flow_latent"]], 1)
        pred = flow_unet(torch.cat([x] * 2), t1, x_in["stride"], encoder_hidden_states=x_in["text"]).sample
        uncond, cond = pred.chunk(2)
        guided = uncond + guidance * (cond - uncond)
        step = sched1.step(guided, t1, x_in["flow_latent"]).prev_sample
    save_file({k: v.contiguous() for k, v in {
        "timestep": torch.tensor([int(t1)]), "noise_pred": pred, "guided": guided, "prev_sample": step}.items()},
              str(out / "stage1_outputs.safetensors"))

    video_unet = VideoUNet(**unet_kwargs(4, 2, tiny=True)).eval()
    layout["stage2_unet"] = tiny_layout(video_unet)
    arrays = fixtures.inputs(2)
    fingerprints["stage2"] = drawn_fingerprint(randomise(video_unet, 2), arrays)
    x_in = {k: torch.from_numpy(v) for k, v in arrays.items()}
    sched2 = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="linear")
    sched2.set_timesteps(25)
    t2 = sched2.timesteps[fixtures.STEP_INDEX]
    with torch.no_grad():
        lat = x_in["latents"].clone()
        lat[:, :, 0:1] = x_in["first_latent"]
        pred = video_unet(torch.cat([lat] * 2), t2, encoder_hidden_states=x_in["text"],
                          flow_pre=x_in["flow"][None].repeat(2, 1, 1, 1, 1)).sample
        uncond, cond = pred.chunk(2)
        guided = uncond + guidance * (cond - uncond)
        step = sched2.step(guided, t2, lat).prev_sample
    save_file({k: v.contiguous() for k, v in {
        "timestep": torch.tensor([int(t2)]), "noise_pred": pred, "guided": guided, "prev_sample": step}.items()},
              str(out / "stage2_outputs.safetensors"))
    (out / "tiny_tensors.json").write_text(json.dumps(layout, sort_keys=True, separators=(",", ":")))
    meta = {"upstream": "G-U-N/Motion-I2V", "commit": sys.argv[1] if len(sys.argv) > 1 else "unknown",
            "diffusers": diffusers.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "guidance": guidance, "frames": fixtures.FRAMES, "latent_size": [fixtures.LATENT, fixtures.LATENT],
            "tiny": {**TINY, "motion_heads": 2},
            "drawn_fingerprints": fingerprints,
            "patched": ["cupy -> module with a no-op memoize",
                        "softsplat.softsplat -> torch avg splat (make_goldens.py)"],
            "command": "cd <Motion-I2V checkout> && <venv>/bin/python <repo>/tests/parity/motion_i2v/make_goldens.py"
                       " <commit>"}
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    print("wrote", out)


if __name__ == "__main__":
    main()
