"""A tiny random Matrix-Game-2.0 weights folder in the adapter's layout, built offline.

The generator is ``MatrixGameConfig.tiny()`` saved in the official naming (``model.`` prefix, as
upstream's ``WanDiffusionWrapper`` state dict), with its config in ``matrix_game_config.json``;
the Wan VAE and the CLIP vision tower are randomly initialised at toy size and written with their
libraries' own ``save_pretrained``, so ``pipeline.load_components`` reads the folder exactly as it
reads the real one. For tests and the tiny speed case; nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from baselines.matrix_game.config import MatrixGameConfig
from baselines.matrix_game.model import MatrixGameGenerator
from baselines.matrix_game.pipeline import CONFIG_FILE


def write_tiny_folder(root: Path, cfg: MatrixGameConfig | None = None, seed: int = 0) -> Path:
    from diffusers import AutoencoderKLWan
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModel

    cfg = cfg or MatrixGameConfig.tiny()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    state = MatrixGameGenerator(cfg).state_dict()
    save_file({f"model.{k}": v.detach().contiguous() for k, v in state.items()}, str(root / "generator.safetensors"))
    (root / CONFIG_FILE).write_text(json.dumps(cfg.as_dict(), indent=1))
    AutoencoderKLWan(base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1).save_pretrained(root / "vae")
    CLIPVisionModel(CLIPVisionConfig(hidden_size=cfg.image_dim, intermediate_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, image_size=28, patch_size=14)
                    ).save_pretrained(root / "image_encoder")
    return root


__all__ = ["write_tiny_folder"]
