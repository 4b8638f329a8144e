"""A tiny Go-with-the-Flow LoRA in the official naming, for the tiny CogVideoX transformer."""

from __future__ import annotations

from pathlib import Path

import torch

from baselines.gwtf.lora import expected_lora_tensors

TINY_RANK = 4


def write_tiny_lora(path: Path, num_layers: int = 2, inner_dim: int = 32, rank: int = TINY_RANK, seed: int = 7,
                    drop: str | None = None) -> Path:
    """Random lora_A / lora_B (B non-zero so the LoRA changes the output); ``drop`` leaves one tensor out."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(seed)
    state = {name: (0.2 * torch.randn(shape, generator=g)).contiguous()
             for name, shape in expected_lora_tensors(num_layers, inner_dim, rank).items() if name != drop}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path
