"""A tiny random DiffusionAsShader pipeline folder in the official layout (tests; nothing is downloaded).

The transformer is ours saved with diffusers' ``save_pretrained`` (the same names as the official
checkpoint); the VAE, T5, tokenizer and scheduler come from the shared CogVideoX tiny builders.
The default size (9 frames of 96x160) is one at which the VAE's tiling (on by default, as upstream)
divides the frame exactly as at 480x720.
"""

from __future__ import annotations

from pathlib import Path

import torch

from baselines.cogvideox import configs
from baselines.cogvideox.tiny import WORDS, write_tokenizer
from baselines.das.model import DiffusionAsShaderTransformer


def tiny_transformer_config(native_frames: int = 9, height: int = 96, width: int = 160) -> dict:
    configs.check_native_size(native_frames, height, width)
    return dict(num_tracking_blocks=1, num_attention_heads=2, attention_head_dim=16,
                in_channels=2 * configs.LATENT_CHANNELS, out_channels=configs.LATENT_CHANNELS, time_embed_dim=16,
                text_embed_dim=16, num_layers=2,
                sample_width=width // configs.VAE_SPATIAL, sample_height=height // configs.VAE_SPATIAL,
                sample_frames=native_frames, max_text_seq_length=8, use_rotary_positional_embeddings=True,
                use_learned_positional_embeddings=True)


def write_tiny_folder(root: Path, native_frames: int = 9, height: int = 96, width: int = 160, seed: int = 0) -> Path:
    """Write a complete tiny folder; the tracking joins are random (non-zero) so the branch matters."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    transformer = DiffusionAsShaderTransformer(**tiny_transformer_config(native_frames, height, width))
    with torch.no_grad():
        for join in transformer.joins():
            join.weight.normal_(0, 0.2)
    transformer.save_pretrained(root / "transformer")
    configs.build_vae(configs.tiny_vae_config(height, width)).save_pretrained(root / "vae")
    configs.build_text_encoder({**configs.TINY_TEXT_ENCODER, "vocab_size": len(WORDS) + 3}).save_pretrained(
        root / "text_encoder")
    write_tokenizer(root / "tokenizer")
    configs.build_scheduler().save_pretrained(root / "scheduler")
    return root


__all__ = ["tiny_transformer_config", "write_tiny_folder"]
