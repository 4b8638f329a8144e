"""The weight files Matrix-Game-2.0 (universal model) needs, for the core weights registry.

Hub repository ``Skywork/Matrix-Game-2.0`` (upstream: ``huggingface-cli download
Skywork/Matrix-Game-2.0 --local-dir Matrix-Game-2.0``). The file paths below are those upstream's
README and ``inference.py`` name (``Wan2.1_VAE.pth``, the open-clip XLM-RoBERTa ViT-H/14
checkpoint) plus the universal generator as recalled from the Hub listing
(``base_distilled_model/base_distill.safetensors``); the Hub could not be reached from this
workplace, so neither the commit hash nor the sha256 are pinned (``UNPINNED_REVISION``, reported
as unpinned by ``longvgenbench weights list``). The generator's tensor names and shapes ARE pinned
(``official_names``): the header check refuses any other file.

Folder layout the adapter reads (``weights_folder()``): ``generator.safetensors`` (the universal
generator), ``vae/`` and ``image_encoder/`` (diffusers ``AutoencoderKLWan`` and transformers
``CLIPVisionModel`` folders: the Wan2.1 VAE and the CLIP ViT-H/14 image encoder as published in
``Wan-AI/Wan2.1-I2V-14B-480P-Diffusers``, the same networks as upstream's .pth files).
"""

from __future__ import annotations

from pathlib import Path

from longvgenbench.errors import WeightsUnavailableError
from longvgenbench.paths import cache_dir
from longvgenbench.weights import HubSource, WeightFile

UNPINNED_REVISION = "main"
REPO = "Skywork/Matrix-Game-2.0"
WAN_DIFFUSERS_REPO = "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"

GENERATOR = WeightFile(
    key="matrix-game-2-universal", filename="matrix-game-2-universal.safetensors",
    source=HubSource(REPO, "base_distilled_model/base_distill.safetensors", UNPINNED_REVISION),
    licence="MIT (Skywork/Matrix-Game-2.0 model card; verify before redistribution)",
    description="Matrix-Game-2.0 universal causal generator (30 blocks, width 1536, action modules on blocks 0-14)")
VAE = WeightFile(
    key="matrix-game-2-wan-vae", filename="matrix-game-2-Wan2.1_VAE.pth",
    source=HubSource(REPO, "Wan2.1_VAE.pth", UNPINNED_REVISION), licence="Apache-2.0 (Wan2.1)",
    description="Wan2.1 VAE as shipped with Matrix-Game-2.0 (original Wan .pth layout)")
WEIGHT_FILES = (GENERATOR, VAE)


def weights_folder() -> Path:
    return cache_dir() / "weights" / "matrix-game-2"


def official_weights_folder() -> Path:
    """The folder with the weights in the adapter's layout, or a ``WeightsUnavailableError`` saying how."""
    root = weights_folder()
    needed = [root / "generator.safetensors", root / "vae", root / "image_encoder"]
    absent = [p for p in needed if not p.exists()]
    if absent:
        raise WeightsUnavailableError(
            "Matrix-Game-2.0 weights", absent[0],
            f"on a machine with network: `longvgenbench weights fetch {GENERATOR.key}` and copy it to "
            f"{root / 'generator.safetensors'}; `huggingface-cli download {WAN_DIFFUSERS_REPO} --include 'vae/*' "
            f"'image_encoder/*' --local-dir {root}`; or pass weights=<folder>")
    return root
