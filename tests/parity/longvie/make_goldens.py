"""Make the LongVie 2 parity goldens by running the *upstream* implementation (not part of the test suite).

Why: "same weights, same numbers". This script builds upstream's own ``WanModel`` +
``WanModelDualControl`` + ``WanVideoVAE`` (Vchitect/LongVie, a DiffSynth-Studio fork) at a tiny
size with deterministic random weights, writes those weights in the OFFICIAL file formats
(original Wan naming for the base DiT, ``control.safetensors``, the ``dit.safetensors``
self-attention overlay, and the VAE converted to diffusers' layout with diffusers' own
converter, i.e. how the diffusers port of the Wan VAE was made), then runs upstream's
``LongViePipeline.__call__`` on fixed inputs and records what it computes: the conditioning
tensors, the first forward pass, the latents after steps 1 and 2, the final latents, the decoded
video and its uint8 frames. ``tests/test_longvie_parity.py`` loads the weights through our real
loading path and compares.

It runs with the repo's virtualenv (it needs torch, diffusers, safetensors) against a checkout
of upstream that is NOT in the repo::

    git --git-dir=<mirror of Vchitect/LongVie> archive HEAD | tar x -C /tmp/longvie_upstream
    pip install --target /tmp/upstream_deps einops   # upstream's only missing import here
    HF_HUB_OFFLINE=1 .venv/bin/python tests/parity/longvie/make_goldens.py \\
        --upstream /tmp/longvie_upstream --upstream-commit 2727f85... --extra-path /tmp/upstream_deps

Run-time patches of upstream (printed into goldens.json; none changes a computation):
- ``modelscope`` (only ``snapshot_download``, a downloader) is replaced by a stub module;
- ``transformers.modeling_utils.PretrainedConfig`` is aliased to ``transformers.PretrainedConfig``
  (transformers 5 moved it; only an unrelated StepVideo module imports it at package import);
- flash-attn / sage-attention flags are forced off, so upstream's attention is
  ``F.scaled_dot_product_attention`` (its own CPU fallback);
- upstream's ``img_emb`` MLP hard-codes a 1280-wide CLIP input; it is built at ``IMAGE_DIM``
  instead (same layers, smaller), to keep the golden files small;
- the text encoder and CLIP encoder are replaced by fixed embeddings (``prompter.encode_prompt``
  and ``image_encoder.encode_image`` return stored tensors): their parity is not in scope;
- ``model_fn`` sees the timestep rounded to bf16, as it does in upstream's real (bf16) pipeline
  (``timestep.to(self.torch_dtype)``); everything else runs in fp32.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent

#: Tiny configuration both sides can build. head_dim 24: upstream splits RoPE as
#: (d - 2*(d//3), d//3, d//3), diffusers as (d - 4*(d//6), 2*(d//6), 2*(d//6)); they agree iff d % 6 == 0.
DIM, NUM_HEADS, FFN_DIM, NUM_LAYERS, CONTROL_LAYERS = 48, 2, 64, 3, 2
TEXT_DIM, FREQ_DIM, IMAGE_DIM, EPS = 16, 16, 16, 1e-6
VAE_DIM, VAE_MULT, VAE_RES_BLOCKS = 4, [1, 2, 4, 4], 2
HEIGHT, WIDTH, FRAMES, HISTORY_FRAMES = 32, 48, 9, 8
STEPS, CFG, SHIFT, SEED = 50, 5.0, 5.0, 0
TEXT_TOKENS, IMAGE_TOKENS = 512, 257
POSITIVE, NEGATIVE = "positive caption", "negative caption"


def import_upstream(root: Path, extra: list[str]) -> dict[str, types.ModuleType]:
    sys.path.insert(0, str(root))
    sys.path.extend(extra)
    stub = types.ModuleType("modelscope")

    def offline(*args: object, **kwargs: object) -> None:
        raise RuntimeError("modelscope is stubbed out: no downloads while making goldens")

    stub.snapshot_download = offline
    sys.modules["modelscope"] = stub
    import transformers
    import transformers.modeling_utils as modeling_utils

    if not hasattr(modeling_utils, "PretrainedConfig"):
        modeling_utils.PretrainedConfig = transformers.PretrainedConfig
    from diffsynth.models import wan_video_dit_dual_control as dual
    from diffsynth.models import wan_video_vae as vae
    from diffsynth.pipelines import wan_video_new_longvie as pipeline

    for module in (dual, pipeline):
        for flag in ("FLASH_ATTN_3_AVAILABLE", "FLASH_ATTN_2_AVAILABLE", "SAGE_ATTN_AVAILABLE"):
            if hasattr(module, flag):
                setattr(module, flag, False)
    return {"dual": dual, "vae": vae, "pipeline": pipeline}


@contextlib.contextmanager
def small_image_mlp(dual: types.ModuleType):
    original = dual.MLP

    def build(in_dim: int, out_dim: int, has_pos_emb: bool = False) -> torch.nn.Module:
        assert in_dim == 1280, "upstream changed its img_emb construction"
        return original(IMAGE_DIM, out_dim, has_pos_emb=has_pos_emb)

    dual.MLP = build
    try:
        yield
    finally:
        dual.MLP = original


def fill_random(modules: list[tuple[str, torch.nn.Module]], seed: int) -> None:
    """Deterministic weights, exactly representable in bf16 (the files are bf16, as the official ones)."""
    g = torch.Generator().manual_seed(seed)
    for prefix, module in modules:
        for name, p in sorted(module.named_parameters()):
            full = f"{prefix}.{name}"
            if name.endswith("bias"):
                value = 0.1 * torch.randn(p.shape, generator=g)
            elif name.endswith("gamma") or p.ndim == 1:
                value = 1.0 + 0.1 * torch.randn(p.shape, generator=g)
            elif "modulation" in name:
                value = torch.randn(p.shape, generator=g) / p.shape[-1] ** 0.5
            elif p.ndim >= 2:
                value = torch.randn(p.shape, generator=g) / (p[0].numel() ** 0.5)
            else:
                raise AssertionError(f"no init rule for {full} {tuple(p.shape)}")
            with torch.no_grad():
                p.copy_(value.to(torch.bfloat16).float())


def build_upstream(mods: dict[str, types.ModuleType]) -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module,
                                                                dict[str, torch.Tensor]]:
    dual, vae_mod = mods["dual"], mods["vae"]
    with small_image_mlp(dual):
        dit = dual.WanModel(dim=DIM, in_dim=36, ffn_dim=FFN_DIM, out_dim=16, text_dim=TEXT_DIM, freq_dim=FREQ_DIM,
                            eps=EPS, patch_size=(1, 2, 2), num_heads=NUM_HEADS, num_layers=NUM_LAYERS,
                            has_image_input=True)
    controller = dual.WanModelDualControl(dim=DIM, ffn_dim=FFN_DIM, eps=EPS, num_heads=NUM_HEADS,
                                          num_layers=NUM_LAYERS, has_image_input=True, control_layers=CONTROL_LAYERS)
    # WanVideoVAE.__init__ builds the real 127M-parameter VideoVAE_; let it build the tiny one instead
    # (its latent mean/std and scale stay upstream's own).
    original = vae_mod.VideoVAE_
    vae_mod.VideoVAE_ = lambda z_dim=16: original(dim=VAE_DIM, z_dim=z_dim, dim_mult=VAE_MULT,
                                                  num_res_blocks=VAE_RES_BLOCKS)
    try:
        vae = vae_mod.WanVideoVAE(z_dim=16)
    finally:
        vae_mod.VideoVAE_ = original
    fill_random([("dit", dit), ("controller", controller), ("vae", vae.model)], seed=1234)
    # dit.safetensors: an overlay of every block's self-attention, different from the base values.
    g = torch.Generator().manual_seed(99)
    overlay = {}
    for name, t in dit.state_dict().items():
        if ".self_attn." in name:
            overlay[name] = (t + 0.05 * torch.randn(t.shape, generator=g)).to(torch.bfloat16)
    return dit.eval(), controller.eval(), vae, overlay


def save_weights(out: Path, dit: torch.nn.Module, controller: torch.nn.Module, vae: torch.nn.Module,
                 overlay: dict[str, torch.Tensor]) -> None:
    from diffusers import AutoencoderKLWan
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers
    from safetensors.torch import save_file

    def bf16(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.detach().to(torch.bfloat16).contiguous() for k, v in state.items()}

    (out / "transformer").mkdir(parents=True, exist_ok=True)
    (out / "longvie2").mkdir(parents=True, exist_ok=True)
    save_file(bf16(dit.state_dict()), str(out / "transformer" / "diffusion_pytorch_model.safetensors"))
    config = {"_class_name": "WanTransformer3DModel", "patch_size": [1, 2, 2], "num_attention_heads": NUM_HEADS,
              "attention_head_dim": DIM // NUM_HEADS, "in_channels": 36, "out_channels": 16, "text_dim": TEXT_DIM,
              "freq_dim": FREQ_DIM, "ffn_dim": FFN_DIM, "num_layers": NUM_LAYERS, "cross_attn_norm": True,
              "qk_norm": "rms_norm_across_heads", "eps": EPS, "image_dim": IMAGE_DIM, "added_kv_proj_dim": DIM,
              "rope_max_seq_len": 1024, "pos_embed_seq_len": None}
    (out / "transformer" / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    save_file(bf16(controller.state_dict()), str(out / "longvie2" / "control.safetensors"))
    save_file({k: v.contiguous() for k, v in overlay.items()}, str(out / "longvie2" / "dit.safetensors"))
    converted = convert_wan_vae_to_diffusers(vae.model.state_dict())
    ours = AutoencoderKLWan(base_dim=VAE_DIM, z_dim=16, dim_mult=VAE_MULT, num_res_blocks=VAE_RES_BLOCKS,
                            latents_mean=[float(x) for x in vae.mean], latents_std=[float(x) for x in vae.std])
    ours.load_state_dict(converted, strict=True)
    ours.to(torch.bfloat16).save_pretrained(out / "vae")


def make_inputs() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(7)

    def pixels(*shape: int) -> torch.Tensor:
        # smooth-ish content (low-frequency pattern + noise) so the VAE sees image-like input
        base = torch.rand(*shape[:-3], 4, 6, 3, generator=g)
        up = torch.nn.functional.interpolate(base.reshape(-1, 4, 6, 3).permute(0, 3, 1, 2), size=shape[-3:-1],
                                             mode="bilinear", align_corners=False).permute(0, 2, 3, 1)
        noisy = up.reshape(*shape) * 220 + 20 * torch.rand(*shape, generator=g)
        return noisy.clamp(0, 255).round().to(torch.uint8)

    def text(length: int) -> torch.Tensor:
        t = torch.randn(1, TEXT_TOKENS, TEXT_DIM, generator=g)
        t[:, length:] = 0  # umT5 embeddings past the true length are zero
        return t

    return {"first_frame": pixels(HEIGHT, WIDTH, 3), "depth": pixels(FRAMES, HEIGHT, WIDTH, 3),
            "track": pixels(FRAMES, HEIGHT, WIDTH, 3), "history": pixels(HISTORY_FRAMES, HEIGHT, WIDTH, 3),
            "context_positive": text(7), "context_negative": text(11),
            "clip_feature": torch.randn(1, IMAGE_TOKENS, IMAGE_DIM, generator=g)}


def run_upstream(mods: dict[str, types.ModuleType], dit: torch.nn.Module, controller: torch.nn.Module,
                 vae: torch.nn.Module, inputs: dict[str, torch.Tensor], with_history: bool) -> dict[str, torch.Tensor]:
    from PIL import Image

    pipeline_mod = mods["pipeline"]
    pipe = pipeline_mod.LongViePipeline(device="cpu", torch_dtype=torch.float32)
    pipe.dit, pipe.dual_controller, pipe.vae = dit, controller, vae
    contexts = {POSITIVE: inputs["context_positive"], NEGATIVE: inputs["context_negative"]}
    pipe.prompter.encode_prompt = lambda prompt, positive=True, device="cpu": contexts[prompt].clone()
    pipe.image_encoder = types.SimpleNamespace(encode_image=lambda images: inputs["clip_feature"].clone())
    record: dict[str, torch.Tensor] = {}
    calls = {"model": 0, "step": 0}
    model_fn = pipe.model_fn

    def recording_model_fn(**kwargs: object) -> torch.Tensor:
        timestep = kwargs["timestep"].to(torch.bfloat16).to(torch.float32)  # upstream's bf16 pipeline
        out = model_fn(**{**kwargs, "timestep": timestep})
        if calls["model"] == 0:
            record.update({"forward_latents": kwargs["latents"].clone(), "forward_timestep": timestep.clone(),
                           "forward_y": kwargs["y"].clone(), "forward_dense": kwargs["dense"].clone(),
                           "forward_sparse": kwargs["sparse"].clone(), "forward_output": out.clone()})
            if kwargs.get("history_latents") is not None:
                record["forward_history"] = kwargs["history_latents"].clone()
        calls["model"] += 1
        return out

    pipe.model_fn = recording_model_fn
    step = pipe.scheduler.step

    def recording_step(*args: object, **kwargs: object) -> torch.Tensor:
        out = step(*args, **kwargs)
        calls["step"] += 1
        if calls["step"] in (1, 2):
            record[f"latents_step{calls['step']}"] = out.clone()
        return out

    pipe.scheduler.step = recording_step
    to_video = pipe.vae_output_to_video

    def recording_to_video(video: torch.Tensor) -> list:
        record["decoded"] = video.clone()
        frames = to_video(video)
        record["frames"] = torch.from_numpy(np.stack([np.asarray(f) for f in frames]))
        return frames

    pipe.vae_output_to_video = recording_to_video
    decode = pipe.vae.decode

    def recording_decode(latents: torch.Tensor, **kwargs: object) -> torch.Tensor:
        record["latents_final"] = latents.clone()
        return decode(latents, **kwargs)

    pipe.vae.decode = recording_decode

    def pil(a: torch.Tensor) -> list:
        return [Image.fromarray(f.numpy()) for f in a]

    noise = None
    if with_history:
        noise = pipe.generate_noise((1, 16, 1 + (FRAMES - 1) // 4, HEIGHT // 8, WIDTH // 8), seed=SEED)
    _, returned_noise = pipe(prompt=POSITIVE, negative_prompt=NEGATIVE,
                             input_image=Image.fromarray(inputs["first_frame"].numpy()), seed=SEED, tiled=False,
                             height=HEIGHT, width=WIDTH, num_frames=FRAMES, cfg_scale=CFG, num_inference_steps=STEPS,
                             sigma_shift=SHIFT, dense_video=pil(inputs["depth"]), sparse_video=pil(inputs["track"]),
                             history=pil(inputs["history"]) if with_history else [],
                             noise=None if noise is None else noise.clone(), progress_bar_cmd=lambda x: x)
    record["noise"] = returned_noise.clone()
    record["model_calls"] = torch.tensor([calls["model"]])
    return record


def upstream_commit(root: Path, given: str | None) -> str:
    if given:
        return given
    try:
        return subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], check=True, capture_output=True,
                              text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (pass --upstream-commit)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", type=Path, required=True, help="checkout of Vchitect/LongVie")
    parser.add_argument("--upstream-commit", default=None)
    parser.add_argument("--extra-path", action="append", default=[], help="extra sys.path entries (e.g. einops)")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)  # reproducible reductions
    mods = import_upstream(args.upstream.resolve(), args.extra_path)
    dit, controller, vae, overlay = build_upstream(mods)
    save_weights(args.out / "weights", dit, controller, vae, overlay)  # the base file holds pre-overlay weights
    # upstream's from_pretrained: dit.safetensors loaded non-strictly on top of the base
    missing, unexpected = dit.load_state_dict({k: v.float() for k, v in overlay.items()}, strict=False)
    assert not unexpected and len(missing) == len(dit.state_dict()) - len(overlay)
    inputs = make_inputs()
    goldens: dict[str, torch.Tensor] = {f"input.{k}": v for k, v in inputs.items()}
    for tag, with_history in (("history", True), ("first", False)):
        for k, v in run_upstream(mods, dit, controller, vae, inputs, with_history).items():
            goldens[f"{tag}.{k}"] = v.contiguous()
    from safetensors.torch import save_file

    save_file(goldens, str(args.out / "goldens.safetensors"))
    import diffusers

    meta = {
        "what": "LongVie 2 parity goldens: upstream LongViePipeline at a tiny size, fp32 on CPU",
        "upstream": {"repo": "Vchitect/LongVie", "commit": upstream_commit(args.upstream, args.upstream_commit)},
        "command": " ".join(["python", "tests/parity/longvie/make_goldens.py", *sys.argv[1:]]),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "diffusers": diffusers.__version__, "numpy": np.__version__},
        "config": {"dim": DIM, "num_heads": NUM_HEADS, "ffn_dim": FFN_DIM, "num_layers": NUM_LAYERS,
                   "control_layers": CONTROL_LAYERS, "text_dim": TEXT_DIM, "freq_dim": FREQ_DIM,
                   "image_dim": IMAGE_DIM, "eps": EPS, "vae_dim": VAE_DIM, "vae_dim_mult": VAE_MULT,
                   "vae_num_res_blocks": VAE_RES_BLOCKS},
        "sampling": {"height": HEIGHT, "width": WIDTH, "num_frames": FRAMES, "history_frames": HISTORY_FRAMES,
                     "steps": STEPS, "cfg_scale": CFG, "shift": SHIFT, "seed": SEED, "positive": POSITIVE,
                     "negative": NEGATIVE},
        "patches": ["modelscope stubbed (downloader only)",
                    "transformers.modeling_utils.PretrainedConfig aliased (transformers 5)",
                    "flash-attn/sage flags forced off: attention is F.scaled_dot_product_attention",
                    f"img_emb MLP built with a {IMAGE_DIM}-wide input instead of 1280",
                    "text/CLIP encoders replaced by fixed embeddings",
                    "model_fn timestep rounded to bf16 as in upstream's bf16 pipeline"],
        "model_calls": {"history": int(goldens["history.model_calls"]), "first": int(goldens["first.model_calls"])},
    }
    (args.out / "goldens.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
