"""A tiny random VideoComposer weights folder in the real layout (``loading.py``), for tests and smoke runs.

Every file is written the way the official one is stored (UNet: a torch pickle of a state dict;
VAE: a diffusers ``save_pretrained`` folder; OpenCLIP: a state-dict ``.bin``) plus the small
``config.json`` files that tell the loader the non-published sizes, so loading a tiny model runs
exactly the code that loads the real one. 16x16 frames (latents 8x8, a 2x VAE), conditions at 32 px.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from baselines.videocomposer.config import TINY_UNET, UNetConfig
from baselines.videocomposer.loading import CLIP_FILE, UNET_FILE
from baselines.videocomposer.unet import VideoComposerUNet

TINY_SIZE = 16
TINY_MISC_SIZE = 32
TINY_CLIP = {"embed_dim": 32,
             "vision_cfg": {"image_size": 224, "layers": 1, "width": 32, "head_width": 16, "patch_size": 32},
             "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2}}
TINY_VAE = {"in_channels": 3, "out_channels": 3, "down_block_types": ["DownEncoderBlock2D"] * 2,
            "up_block_types": ["UpDecoderBlock2D"] * 2, "block_out_channels": [32, 32], "layers_per_block": 1,
            "latent_channels": 4, "norm_num_groups": 32, "sample_size": TINY_SIZE}


def randomise(module: torch.nn.Module, seed: int) -> None:
    """Deterministic non-zero weights (upstream zero-initialises output layers, which would hide bugs)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            if param.ndim == 1 and "weight" in name:
                param.copy_(1.0 + 0.1 * torch.randn(param.shape, generator=generator))
            else:
                fan_in = max(1, param[0].numel()) if param.ndim > 1 else 1
                param.copy_(torch.randn(param.shape, generator=generator) * (0.5 / fan_in ** 0.5 if param.ndim > 1
                                                                              else 0.05))


def write_tiny_weights(root: Path | str, seed: int = 0, unet: UNetConfig = TINY_UNET) -> Path:
    """Write a tiny folder at ``root`` and return it."""
    import open_clip  # noqa: F401 (fails early with a clear ImportError)
    from diffusers import AutoencoderKL
    from open_clip.model import CLIP

    root = Path(root)
    (root / UNET_FILE).parent.mkdir(parents=True, exist_ok=True)
    model = VideoComposerUNet(unet)
    randomise(model, seed)
    torch.save(model.state_dict(), root / UNET_FILE)
    (root / UNET_FILE).with_name("config.json").write_text(json.dumps(unet.to_dict()))
    torch.manual_seed(seed)
    vae = AutoencoderKL(**TINY_VAE)
    randomise(vae, seed + 1)
    vae.save_pretrained(root / "vae")
    clip = CLIP(**TINY_CLIP)
    randomise(clip, seed + 2)
    (root / CLIP_FILE).parent.mkdir(parents=True, exist_ok=True)
    torch.save(clip.state_dict(), root / CLIP_FILE)
    (root / CLIP_FILE).with_name("config.json").write_text(json.dumps(TINY_CLIP))
    return root


__all__ = ["TINY_MISC_SIZE", "TINY_SIZE", "write_tiny_weights"]
