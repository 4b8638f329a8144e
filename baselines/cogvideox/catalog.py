"""The CogVideoX-5B-I2V weight files, for the core weights registry (``longvgenbench.weights``).

Revision (the Hub itself cannot be reached from this workplace; this comes from public records):
``THUDM/CogVideoX-5b-I2V`` @ ``c5c783ca1606069b9996dc56f207cc2e681691ed``: the Hugging Face cache
snapshot folder name (``models--THUDM--CogVideoX-5b-I2V/snapshots/c5c783ca...``) in the training
script of DiffusionAsShader's development repository (``skygoo2000/cogshader``,
``train_image_to_video_sft.sh`` at commit ``bf5923c2``), so the revision DiffusionAsShader was
trained from, and in two files of an unrelated FLUX + CogVideoX application found with the
public code index's exact-string search. (One other public script, ``tedlasai/gencam``
``cogvideox/ImageToVideo.py``, loads snapshot ``a6f0f4858a8395e7429d82493864ce92bf73af11``; both
are real commits of the repository, which one is newer is not recorded.)
No sha256 or size of the files was found in public records (``sha256=None``: reported as
unpinned by hash). The component configs are pinned too (``configs.py``), and diffusers'
``from_pretrained`` refuses a folder whose tensors do not fit them.

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
#: from the public records cited in the module docstring
COGVIDEOX_I2V_REVISION = "c5c783ca1606069b9996dc56f207cc2e681691ed"
COGVIDEOX_LICENCE = "CogVideoX LICENSE (THUDM; transformer weights) / Apache-2.0 (code, VAE)"
FOLDER_NAME = "cogvideox-5b-i2v"
#: sub-folders the loader needs (the Hub repository's layout)
COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")

TRANSFORMER_INDEX = WeightFile(
    key="cogvideox-5b-i2v-transformer-index", filename="cogvideox-5b-i2v-transformer-index.json",
    source=HubSource(COGVIDEOX_I2V_REPO, "transformer/diffusion_pytorch_model.safetensors.index.json",
                     COGVIDEOX_I2V_REVISION),
    licence=COGVIDEOX_LICENCE,
    description="CogVideoX-5B-I2V transformer shard index (42 blocks, 5,570,479,680 parameters)")
VAE = WeightFile(
    key="cogvideox-5b-i2v-vae", filename="cogvideox-5b-i2v-vae.safetensors",
    source=HubSource(COGVIDEOX_I2V_REPO, "vae/diffusion_pytorch_model.safetensors", COGVIDEOX_I2V_REVISION),
    licence=COGVIDEOX_LICENCE, description="CogVideoX-5B-I2V 3D causal VAE (215,583,907 parameters)")

WEIGHT_FILES = (TRANSFORMER_INDEX, VAE)


def weights_folder() -> Path:
    return cache_dir() / "weights" / FOLDER_NAME


def download_command(root: Path) -> str:
    return f"huggingface-cli download {COGVIDEOX_I2V_REPO} --revision {COGVIDEOX_I2V_REVISION} --local-dir {root}"


def official_weights_folder() -> Path:
    """The folder with the official base weights, or ``WeightsUnavailableError`` saying how to make it."""
    root = weights_folder()
    absent = [root / sub for sub in COMPONENTS if not (root / sub).is_dir()]
    if absent:
        raise WeightsUnavailableError("CogVideoX-5B-I2V weights", absent[0],
                                      f"on a machine with network: `{download_command(root)}` "
                                      f"(or pass weights=<a folder with {', '.join(COMPONENTS)}>)")
    return root


__all__ = ["COGVIDEOX_I2V_REPO", "COGVIDEOX_I2V_REVISION", "COMPONENTS", "WEIGHT_FILES", "official_weights_folder",
           "weights_folder"]
