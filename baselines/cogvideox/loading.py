"""A CogVideoX-5B-I2V diffusers folder -> the pipeline's components, checked before the large reads.

Every component is loaded with its library's own ``from_pretrained`` from the Hub repository's
layout (the tests write tiny random folders in the same layout with ``save_pretrained``, see
``baselines.cogvideox.tiny``), with ``HF_HUB_OFFLINE`` semantics: a local folder or nothing. A
missing folder raises ``WeightsUnavailableError`` naming it and the download command.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from baselines.cogvideox.catalog import COMPONENTS, download_command
from longvgenbench.errors import WeightsUnavailableError


@dataclass
class CogVideoXComponents:
    """The modules of ``CogVideoXImageToVideoPipeline`` (mutable: they move between devices)."""

    transformer: Any  # diffusers CogVideoXTransformer3DModel (or a subclass, e.g. DiffusionAsShader's)
    vae: Any  # diffusers AutoencoderKLCogVideoX
    text_encoder: Any  # transformers T5EncoderModel
    tokenizer: Any
    scheduler: Any  # diffusers CogVideoXDPMScheduler


def check_folder(root: Path | str, components: tuple[str, ...] = COMPONENTS) -> Path:
    root = Path(root)
    for sub in components:
        if not (root / sub).is_dir():
            raise WeightsUnavailableError(f"CogVideoX-5B-I2V {sub}", root / sub,
                                          f"the folder must have the layout of THUDM/CogVideoX-5b-I2V: "
                                          f"`{download_command(root)}`")
    return root


def load_transformer(root: Path | str, dtype: torch.dtype):
    from diffusers import CogVideoXTransformer3DModel

    return CogVideoXTransformer3DModel.from_pretrained(Path(root) / "transformer", torch_dtype=dtype,
                                                       local_files_only=True)


def load_components(root: Path | str, dtype: torch.dtype, transformer: Any | None = None) -> CogVideoXComponents:
    """All components from ``root``; ``transformer`` replaces the folder's own (e.g. a subclass's)."""
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDPMScheduler
    from transformers import AutoTokenizer, T5EncoderModel

    root = check_folder(root, COMPONENTS if transformer is None else tuple(c for c in COMPONENTS
                                                                          if c != "transformer"))
    return CogVideoXComponents(
        transformer=transformer if transformer is not None else load_transformer(root, dtype),
        vae=AutoencoderKLCogVideoX.from_pretrained(root / "vae", torch_dtype=dtype, local_files_only=True),
        text_encoder=T5EncoderModel.from_pretrained(root / "text_encoder", dtype=dtype, local_files_only=True),
        tokenizer=AutoTokenizer.from_pretrained(root / "tokenizer", local_files_only=True),
        scheduler=CogVideoXDPMScheduler.from_pretrained(root / "scheduler", local_files_only=True),
    )


def make_pipeline(components: CogVideoXComponents):
    """diffusers' ``CogVideoXImageToVideoPipeline`` over ``components`` (what Go-with-the-Flow calls)."""
    from diffusers import CogVideoXImageToVideoPipeline

    return CogVideoXImageToVideoPipeline(tokenizer=components.tokenizer, text_encoder=components.text_encoder,
                                         vae=components.vae, transformer=components.transformer,
                                         scheduler=components.scheduler)


__all__ = ["CogVideoXComponents", "check_folder", "load_components", "load_transformer", "make_pipeline"]
