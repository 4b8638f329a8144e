"""Make the GameCraft parity goldens by running the PUBLISHED Hunyuan-GameCraft-1.0 code (not ours).

Run OUTSIDE this repository's venv, on a checkout of Tencent-Hunyuan/Hunyuan-GameCraft-1.0 (see
README.md beside this file for the exact commands). Writes into ``goldens/``:
- ``tiny_official.pt``: deterministic random weights of upstream's ``HYVideoDiffusionTransformer``
  at a tiny config, saved exactly as upstream's checkpoints are (``{"module": state_dict}``);
- ``official_names_real.json``: every tensor name and shape of the model at the REAL config
  (built on the meta device from upstream's own class);
- ``plucker.safetensors``: upstream's Plücker maps (``ActionToPoseFromID`` +
  ``GetPoseEmbedsFromPoses``) for every action at a small pixel size, cond and uncond;
- ``forward.safetensors``: inputs and upstream outputs of the transformer (first action: 10 latents;
  continuation: 18 latents; a deepcache reuse call) and of one denoising step with upstream's
  ``FlowMatchDiscreteScheduler`` (shift 5, 50 steps, Euler), CFG 2.0 batched [uncond, cond];
- ``goldens.json``: versions, upstream commit, the command and the config.

Run-time patches (CPU, no flash-attn): ``flash_attn`` is replaced by an SDPA function over the same
``cu_seqlens`` segments, ``get_cu_seqlens`` builds its tensor on the CPU instead of ``cuda``, and
``DISABLE_SP=1`` selects upstream's single-GPU attention path. Nothing else is changed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import types
from pathlib import Path

os.environ["DISABLE_SP"] = "1"
os.environ["CPU_OFFLOAD"] = "0"

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
TINY = {"depth_double_blocks": 2, "depth_single_blocks": 2, "rope_dim_list": [4, 6, 6], "hidden_size": 32,
        "num_heads": 2, "mlp_width_ratio": 4}
TEXT_DIM, POOLED_DIM, TEXT_LEN = 24, 20, 7
HEIGHT, WIDTH = 16, 32  # pixels; latents 2 x 4
#: frames of each Plücker map kept in the golden file (all 33 at full size would be megabytes)
KEPT_FRAMES = [0, 1, 2, 16, 32]
ACTIONS = [("w", 0.2), ("s", 0.5), ("a", 0.3), ("d", 1.0), ("left_rot", 10.0), ("right_rot", 25.0),
           ("up_rot", 5.0), ("down_rot", 15.0)]


def sdpa_varlen(q, k, v, cu_q, cu_kv, max_q, max_kv, *args, **kwargs):
    """flash_attn_varlen_func semantics with SDPA: attention inside each cu_seqlens segment."""
    out = torch.empty_like(q)
    for start, stop in zip(cu_q[:-1].tolist(), cu_q[1:].tolist(), strict=True):
        if stop > start:
            qs, ks, vs = (t[start:stop].transpose(0, 1)[None] for t in (q, k, v))
            out[start:stop] = F.scaled_dot_product_attention(qs, ks, vs)[0].transpose(0, 1)
    return out


def install_flash_attn_stub() -> None:
    from importlib.machinery import ModuleSpec

    interface = types.ModuleType("flash_attn.flash_attn_interface")
    interface.flash_attn_varlen_func = sdpa_varlen
    interface.__spec__ = ModuleSpec("flash_attn.flash_attn_interface", None)
    package = types.ModuleType("flash_attn")
    package.__spec__ = ModuleSpec("flash_attn", None)
    package.flash_attn_interface = interface
    sys.modules["flash_attn"] = package
    sys.modules["flash_attn.flash_attn_interface"] = interface


def cpu_cu_seqlens(text_mask, img_len):
    batch = text_mask.shape[0]
    text_len = text_mask.sum(dim=1)
    max_len = text_mask.shape[1] + img_len
    cu = torch.zeros([2 * batch + 1], dtype=torch.int32)
    for i in range(batch):
        cu[2 * i + 1] = i * max_len + text_len[i] + img_len
        cu[2 * i + 2] = (i + 1) * max_len
    return cu


def randomise(model: torch.nn.Module, seed: int) -> None:
    """Deterministic non-trivial weights (upstream zero-inits several layers, which would hide errors)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            noise = torch.randn(p.shape, generator=gen)
            if name.endswith("norm.weight") or "norm" in name.split(".")[-2]:
                p.copy_(1.0 + 0.1 * noise)
            elif name.endswith("scale"):
                p.copy_(1.0 + 0.2 * noise)
            else:
                p.copy_(noise * (0.3 / max(1.0, p[0].numel()) ** 0.5) if p.ndim > 1 else 0.05 * noise)


def model_args():
    return types.SimpleNamespace(text_projection="single_refiner", text_states_dim=TEXT_DIM, use_attention_mask=True,
                                 text_states_dim_2=POOLED_DIM)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="checkout of Tencent-Hunyuan/Hunyuan-GameCraft-1.0")
    parser.add_argument("--commit", default="unknown", help="the checkout's commit hash (recorded)")
    parser.add_argument("--out", default=str(HERE / "goldens"))
    args = parser.parse_args()
    install_flash_attn_stub()
    sys.path.insert(0, args.upstream)
    import diffusers
    from hymm_sp.diffusion.schedulers import FlowMatchDiscreteScheduler
    from hymm_sp.modules import models as up_models
    from hymm_sp.sample_inference import ActionToPoseFromID, GetPoseEmbedsFromPoses
    from safetensors.torch import save_file

    up_models.get_cu_seqlens = cpu_cu_seqlens
    up_models.HUNYUAN_VIDEO_CONFIG["tiny"] = TINY
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)

    # 1. names and shapes at the real config (meta device, upstream's class)
    with torch.device("meta"):
        real = up_models.HYVideoDiffusionTransformer(
            types.SimpleNamespace(text_projection="single_refiner", text_states_dim=4096, use_attention_mask=True,
                                  text_states_dim_2=768),
            in_channels=16, out_channels=16, multitask_mask_training_type="concat",
            **up_models.HUNYUAN_VIDEO_CONFIG["HYVideo-T/2"])
    names = {k: list(v.shape) for k, v in real.state_dict().items()}
    (out / "official_names_real.json").write_text(json.dumps(names, indent=0, sort_keys=True))
    del real

    # 2. Plücker maps of every action
    tensors = {}
    for key, value in ACTIONS:
        poses = ActionToPoseFromID(key, value=value)
        cond, uncond, _ = GetPoseEmbedsFromPoses(poses, HEIGHT, WIDTH, 33, False, 0)
        tensors[f"{key}.cond"], tensors[f"{key}.uncond"] = cond, uncond
    save_file({k: v[KEPT_FRAMES].contiguous() for k, v in tensors.items()}, str(out / "plucker.safetensors"))

    # 3. the tiny model, its weights in the official format, forwards and one step
    torch.manual_seed(0)
    model = up_models.HYVideoDiffusionTransformer(model_args(), in_channels=16, out_channels=16,
                                                 multitask_mask_training_type="concat", **TINY).float().eval()
    randomise(model, 1234)
    torch.save({"module": model.state_dict()}, out / "tiny_official.pt")
    gen = torch.Generator().manual_seed(99)
    text = torch.randn(2, TEXT_LEN, TEXT_DIM, generator=gen)
    text_mask = torch.tensor([[1, 1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1, 0]])
    pooled = torch.randn(2, POOLED_DIM, generator=gen)
    cam = torch.stack([tensors["w.uncond"], tensors["left_rot.cond"]])  # [uncond, cond] as the pipeline batches
    io = {"text": text, "text_mask": text_mask, "pooled": pooled, "cam": cam}
    # RoPE as upstream's sampler builds it (37 / 69 frames -> 10 / 18 latents), then a deepcache reuse
    from hymm_sp.helpers import get_nd_rotary_pos_embed_new
    for frames in (10, 18):
        x = torch.randn(2, 33, frames, HEIGHT // 8, WIDTH // 8, generator=gen)
        t = torch.tensor([937.5, 937.5])
        io[f"x{frames}"], io[f"t{frames}"] = x, t
        cos, sin = get_nd_rotary_pos_embed_new(TINY["rope_dim_list"], [frames, HEIGHT // 16, WIDTH // 16],
                                               theta=256, use_real=True, theta_rescale_factor=1)
        io[f"out{frames}"] = model(x, t, text_states=text, text_mask=text_mask, text_states_2=pooled,
                                        freqs_cos=cos, freqs_sin=sin, cam_latents=cam, return_dict=False)
        io[f"cached_out{frames}"] = model(x, t * 0.5, text_states=text, text_mask=text_mask, text_states_2=pooled,
                                          freqs_cos=cos, freqs_sin=sin, cam_latents=cam, return_dict=False,
                                          is_cache=True)
    # one denoising step of the first action, as pipeline_hunyuan_video_game.__call__ composes it
    scheduler = FlowMatchDiscreteScheduler(shift=5.0, reverse=True, solver="euler")
    scheduler.set_timesteps(50)
    t0 = scheduler.timesteps[0]
    latents = torch.randn(1, 16, 10, HEIGHT // 8, WIDTH // 8, generator=gen)
    image_latent = torch.randn(1, 16, 1, HEIGHT // 8, WIDTH // 8, generator=gen)
    io["step_latents"], io["step_image_latent"] = latents.clone(), image_latent
    latents[:, :, 0] = image_latent[:, :, -1]
    gt = image_latent.repeat(1, 1, 10, 1, 1)
    gt[:, :, 1:] = 0.0
    mask = torch.zeros(1, 1, 10, HEIGHT // 8, WIDTH // 8)
    mask[:, :, 0] = 1.0
    model_in = torch.cat([torch.cat([latents, gt, mask], dim=1)] * 2)
    cos, sin = get_nd_rotary_pos_embed_new(TINY["rope_dim_list"], [10, HEIGHT // 16, WIDTH // 16], theta=256,
                                           use_real=True, theta_rescale_factor=1)
    pred = model(model_in, t0.repeat(2), text_states=text, text_mask=text_mask, text_states_2=pooled,
                 freqs_cos=cos, freqs_sin=sin, cam_latents=cam, return_dict=False)
    uncond, cond = pred.chunk(2)
    guided = uncond + 2.0 * (cond - uncond)
    latents[:, :, 1:] = scheduler.step(guided[:, :, 1:], t0, latents[:, :, 1:], return_dict=False)[0]
    io["step_out"], io["step_t0"], io["sigmas"] = latents, t0.reshape(1), scheduler.sigmas
    save_file({k: v.contiguous() for k, v in io.items()}, str(out / "forward.safetensors"))
    meta = {"upstream": "https://github.com/Tencent-Hunyuan/Hunyuan-GameCraft-1.0", "commit": args.commit,
            "torch": torch.__version__, "diffusers": diffusers.__version__, "python": sys.version.split()[0],
            "command": " ".join([Path(sys.executable).name, *sys.argv]), "tiny_config": TINY,
            "text_dim": TEXT_DIM, "pooled_dim": POOLED_DIM, "pixels": [HEIGHT, WIDTH], "actions": ACTIONS,
            "patches": ["flash_attn -> SDPA over cu_seqlens segments", "get_cu_seqlens on CPU", "DISABLE_SP=1"],
            "git_describe": subprocess.run(["git", "-C", args.upstream, "rev-parse", "HEAD"], capture_output=True,
                                           text=True).stdout.strip() or None}
    (out / "goldens.json").write_text(json.dumps(meta, indent=2))
    print(f"wrote goldens to {out}")


if __name__ == "__main__":
    main()
