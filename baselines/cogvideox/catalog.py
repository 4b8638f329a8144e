"""The CogVideoX-5B-I2V weight files, for the core weights registry (``longvgenbench.weights``).

Revisions: the Hub commit hash of ``THUDM/CogVideoX-5b-I2V`` and the sha256 of its files could not
be looked up from this workplace (no Hub access); they are recorded as ``UNPINNED_REVISION`` with
``sha256=None``, which the registry reports as unpinned. Pin them on a machine with network
before quoting results. The component configs are pinned instead (``configs.py``), and
diffusers' ``from_pretrained`` refuses a folder whose tensors do not fit them.

The whole base model lives in one diffusers folder: ``$LONGVGENBENCH_CACHE/weights/cogvideox-5b-i2v/``
(``transformer/``, ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``), the layout of
the Hub repository itself, so one ``huggingface-cli download`` fills it.
"""

from __future__ import annotations

from pathlib import Path

from longvgenbench.errors import WeightsUnavailableError
from longvgenbench.paths import cache_dir
from longvgenbench.weights import HubSource, WeightFile

UNPINNED_REVISION = "main"
COGVIDEOX_I2V_REPO = "THUDM/CogVideoX-5b-I2V"
COGVIDEOX_LICENCE = "CogVideoX LICENSE (THUDM; transformer weights) / Apache-2.0 (code, VAE)"
FOLDER_NAME = "cogvideox-5b-i2v"
#: sub-folders the loader needs (the Hub repository's layout)
COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")

TRANSFORMER_INDEX = WeightFile(
    key="cogvideox-5b-i2v-transformer-index", filename="cogvideox-5b-i2v-transformer-index.json",
    source=HubSource(COGVIDEOX_I2V_REPO, "transformer/diffusion_pytorch_model.safetensors.index.json",
                     UNPINNED_REVISION),
    licence=COGVIDEOX_LICENCE,
    description="CogVideoX-5B-I2V transformer shard index (42 blocks, 5,570,479,680 parameters)")
VAE = WeightFile(
    key="cogvideox-5b-i2v-vae", filename="cogvideox-5b-i2v-vae.safetensors",
    source=HubSource(COGVIDEOX_I2V_REPO, "vae/diffusion_pytorch_model.safetensors", UNPINNED_REVISION),
    licence=COGVIDEOX_LICENCE, description="CogVideoX-5B-I2V 3D causal VAE (215,583,907 parameters)")

WEIGHT_FILES = (TRANSFORMER_INDEX, VAE)


def weights_folder() -> Path:
    return cache_dir() / "weights" / FOLDER_NAME


def download_command(root: Path) -> str:
    return f"huggingface-cli download {COGVIDEOX_I2V_REPO} --local-dir {root}"


def official_weights_folder() -> Path:
    """The folder with the official base weights, or ``WeightsUnavailableError`` saying how to make it."""
    root = weights_folder()
    absent = [root / sub for sub in COMPONENTS if not (root / sub).is_dir()]
    if absent:
        raise WeightsUnavailableError("CogVideoX-5B-I2V weights", absent[0],
                                      f"on a machine with network: `{download_command(root)}` "
                                      f"(or pass weights=<a folder with {', '.join(COMPONENTS)}>)")
    return root


__all__ = ["COGVIDEOX_I2V_REPO", "COMPONENTS", "WEIGHT_FILES", "official_weights_folder", "weights_folder"]
