"""Where Hunyuan-GameCraft's weights come from and how a weights folder is read (checked before loading).

Hub: ``tencent/Hunyuan-GameCraft-1.0`` (licence: Tencent Hunyuan Community License). The revision
and sha256 could not be looked up from this workplace (no Hub access), so the records are marked
unpinned (``UNPINNED_REVISION``, ``sha256=None``); pin them before quoting results. The tensor
names and shapes ARE pinned: ``checkpoint.official_shapes`` (865 tensors, checked against the
published model definition in tests/parity/gamecraft) refuses any file that differs.

Folder layout (``$LONGVGENBENCH_CACHE/weights/hunyuan-gamecraft/`` or ``weights=<folder>``)::

    gamecraft_models/mp_rank_00_model_states.pt          # official DiT (+ _distill.pt: 8 steps, CFG 1)
    vae/ text_encoder/ tokenizer/ text_encoder_2/ tokenizer_2/   # HunyuanVideo diffusers-port layout
    gamecraft_config.json                                 # optional: a non-default DiT size (tests)

GameCraft's ``stdmodels`` (VAE ``884-16c-hy0801``, llava-llama-3-8b-v1_1, CLIP-L) are
HunyuanVideo's; the diffusers port ``hunyuanvideo-community/HunyuanVideo`` has them in the layout
above (an assumption: not compared byte for byte here, no network).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from baselines.gamecraft.model import REAL_CONFIG, GameCraftConfig
from longvgenbench.errors import WeightsUnavailableError
from longvgenbench.paths import cache_dir
from longvgenbench.weights import HubSource, WeightFile

UNPINNED_REVISION = "main"
GAMECRAFT_REPO = "tencent/Hunyuan-GameCraft-1.0"
HUNYUANVIDEO_DIFFUSERS_REPO = "hunyuanvideo-community/HunyuanVideo"
LICENCE = "Tencent Hunyuan Community License"
CHECKPOINTS = {"standard": "mp_rank_00_model_states.pt", "distill": "mp_rank_00_model_states_distill.pt"}

GAMECRAFT_DIT = WeightFile(
    key="hunyuan-gamecraft-dit", filename="mp_rank_00_model_states.pt",
    source=HubSource(GAMECRAFT_REPO, "gamecraft_models/mp_rank_00_model_states.pt", UNPINNED_REVISION),
    licence=LICENCE, description="Hunyuan-GameCraft-1.0 DiT + CameraNet (865 tensors, 12.8B parameters)")
GAMECRAFT_DIT_DISTILL = WeightFile(
    key="hunyuan-gamecraft-dit-distill", filename="mp_rank_00_model_states_distill.pt",
    source=HubSource(GAMECRAFT_REPO, "gamecraft_models/mp_rank_00_model_states_distill.pt", UNPINNED_REVISION),
    licence=LICENCE, description="Hunyuan-GameCraft-1.0 distilled DiT (8 steps, CFG 1.0; same 865 tensors)")
GAMECRAFT_VAE = WeightFile(
    key="hunyuan-gamecraft-vae", filename="hyvae-pytorch_model.pt",
    source=HubSource(GAMECRAFT_REPO, "stdmodels/vae_3d/hyvae/pytorch_model.pt", UNPINNED_REVISION),
    licence=LICENCE, description="HunyuanVideo causal 3D VAE 884-16c-hy0801 (upstream naming; the adapter reads "
                                 "the diffusers port in vae/)")

WEIGHT_FILES = (GAMECRAFT_DIT, GAMECRAFT_DIT_DISTILL, GAMECRAFT_VAE)


def weights_folder() -> Path:
    return cache_dir() / "weights" / "hunyuan-gamecraft"


@dataclass(frozen=True)
class GameCraftFolder:
    """A weights folder whose files are all present (the DiT is checked later, by its header)."""

    root: Path
    checkpoint: Path
    config: GameCraftConfig

    @classmethod
    def find(cls, root: Path | str | None = None, variant: str = "standard") -> GameCraftFolder:
        if variant not in CHECKPOINTS:
            raise ValueError(f"variant must be one of {sorted(CHECKPOINTS)}, got {variant!r}")
        root = Path(root) if root is not None else weights_folder()
        checkpoint = root / "gamecraft_models" / CHECKPOINTS[variant]
        if not checkpoint.is_file():
            raise WeightsUnavailableError(
                f"Hunyuan-GameCraft-1.0 DiT ({variant})", checkpoint,
                f"on a machine with network: `huggingface-cli download {GAMECRAFT_REPO} gamecraft_models/"
                f"{CHECKPOINTS[variant]} --local-dir {root}` (or `longvgenbench weights fetch "
                f"{GAMECRAFT_DIT.key if variant == 'standard' else GAMECRAFT_DIT_DISTILL.key}` and copy it there); "
                f"or pass weights=<folder>")
        for sub in ("vae", "text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2"):
            if not (root / sub).is_dir():
                raise WeightsUnavailableError(
                    f"HunyuanVideo {sub} (used by GameCraft)", root / sub,
                    f"`huggingface-cli download {HUNYUANVIDEO_DIFFUSERS_REPO} --local-dir {root} --include "
                    f"'vae/*' 'text_encoder/*' 'tokenizer/*' 'text_encoder_2/*' 'tokenizer_2/*'`")
        config_path = root / "gamecraft_config.json"
        config = REAL_CONFIG
        if config_path.is_file():
            data = json.loads(config_path.read_text())
            data["rope_axes"] = tuple(data.get("rope_axes", REAL_CONFIG.rope_axes))
            config = GameCraftConfig(**data)
        return cls(root, checkpoint, config)


def load_components(root: Path, dtype: torch.dtype = torch.float32):
    """VAE (fp32 by default), Llama text encoder, CLIP text encoder and their tokenizers."""
    from diffusers import AutoencoderKLHunyuanVideo
    from transformers import AutoTokenizer, CLIPTextModel, LlamaModel

    from baselines.gamecraft.pipeline import GameCraftComponents

    return GameCraftComponents(
        vae=AutoencoderKLHunyuanVideo.from_pretrained(root / "vae", torch_dtype=torch.float32),
        text_encoder=LlamaModel.from_pretrained(root / "text_encoder", dtype=dtype),
        tokenizer=AutoTokenizer.from_pretrained(root / "tokenizer"),
        text_encoder_2=CLIPTextModel.from_pretrained(root / "text_encoder_2", dtype=dtype),
        tokenizer_2=AutoTokenizer.from_pretrained(root / "tokenizer_2"))


__all__ = ["CHECKPOINTS", "GAMECRAFT_DIT", "GAMECRAFT_DIT_DISTILL", "WEIGHT_FILES", "GameCraftFolder",
           "load_components", "weights_folder"]
