"""Build the real pipeline from a clone of ``wangfuyun/Motion-I2V`` (paths as in upstream's ``scripts/app.py``).

Every UNet file is header-checked first (``checkpoint.py``): stage 1's UNet must hold exactly
the published stage-1 tensors; stage 2 is SD 1.5's UNet (every non-temporal tensor), then the
motion modules, then the personalised UNet overlay (each a subset, every name and shape checked).
Stage 1 encodes the image with SD 1.5's ``vae`` folder (upstream's ``vae_img``); stage 2's VAE is
converted from the LDM single file ``realisticVisionV51_v20Novae.safetensors`` as upstream does
(``ldm_vae.py``), with SD 1.5's VAE config read from the local clone.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from baselines.motion_i2v import catalog
from baselines.motion_i2v.checkpoint import check_header, expected_for, official_tensors
from baselines.motion_i2v.config import stage1_config, stage2_config
from baselines.motion_i2v.ldm_vae import load_ldm_vae
from baselines.motion_i2v.pipeline import Components, MotionI2VPipeline
from baselines.motion_i2v.unet3d import MotionI2VUNet


def _load(model: torch.nn.Module, path: Path, *, partial: bool) -> None:
    check_header(path, expected_for(model), partial=partial)
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    model.load_state_dict(state, strict=not partial)


def load_pipeline(weights: str | None, device: str, *, steps: int, guidance: float) -> MotionI2VPipeline:
    from diffusers import AutoencoderKL
    from transformers import CLIPTextModel, CLIPTokenizer

    root = Path(weights) if weights else catalog.official_weights_folder()
    stage1 = root / "models" / "stage1" / "StableDiffusion-FlowGen"
    stage2 = root / catalog.STAGE2_BASE
    vae_file = catalog.stage2_vae_file(root)  # before anything heavy is read: fail fast without it
    unet1 = MotionI2VUNet(stage1_config())
    if expected_for(unet1) != official_tensors()["stage1_unet"]:
        raise AssertionError("stage-1 UNet definition drifted from official_tensors.json")
    _load(unet1, root / catalog.STAGE1_UNET, partial=False)
    unet2 = MotionI2VUNet(stage2_config())
    _load(unet2, stage2 / "unet" / "diffusion_pytorch_model.bin", partial=True)
    _load(unet2, root / catalog.STAGE2_MOTION, partial=True)
    _load(unet2, root / catalog.STAGE2_PERSONAL_UNET, partial=True)
    flow_vae = AutoencoderKL.from_config(json.loads((stage1 / "vae" / "config.json").read_text()))
    flow_vae.load_state_dict(torch.load(root / catalog.STAGE1_FLOW_VAE, map_location="cpu", weights_only=True))
    parts = Components(
        tokenizer1=CLIPTokenizer.from_pretrained(stage1, subfolder="tokenizer"),
        text_encoder1=CLIPTextModel.from_pretrained(stage1, subfolder="text_encoder"),
        tokenizer2=CLIPTokenizer.from_pretrained(stage2, subfolder="tokenizer"),
        text_encoder2=CLIPTextModel.from_pretrained(stage2, subfolder="text_encoder"),
        image_vae=AutoencoderKL.from_pretrained(stage2, subfolder="vae"),
        flow_vae=flow_vae, unet1=unet1, unet2=unet2,
        video_vae=load_ldm_vae(vae_file, json.loads((stage2 / "vae" / "config.json").read_text())))
    for module in (parts.text_encoder1, parts.text_encoder2, parts.image_vae, parts.flow_vae, unet1, unet2,
                   parts.video_vae):
        module.to(device).eval()
    return MotionI2VPipeline(parts, device, steps=steps, guidance=guidance)
