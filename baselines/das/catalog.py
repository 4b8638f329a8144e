"""The weight files of DiffusionAsShader, for the core weights registry (entry-point group ``longvgenbench.weights``).

The Hub repository ``EXCAI/Diffusion-As-Shader`` is a whole diffusers pipeline folder (upstream's
``testing/inference.py`` loads it with ``from_pretrained``): ``transformer/`` (CogVideoX-5B-I2V +
18 tracking blocks, safetensors shards), ``vae/``, ``text_encoder/`` (T5-XXL), ``tokenizer/``,
``scheduler/``. Its commit hash and the files' sha256 could not be looked up from this workplace
(no Hub access): they are recorded as unpinned (``main``, ``sha256=None``); pin them on a machine
with network before quoting results. What is pinned is the expected tensor list: the header check
in ``checkpoint.py`` refuses any transformer whose names or shapes differ from the model.

Local layout: the folder is ``$LONGVGENBENCH_CACHE/weights/diffusion-as-shader/`` (or the
adapter's ``weights=`` option), the Hub folder as downloaded.
"""

from __future__ import annotations

from pathlib import Path

from longvgenbench.errors import WeightsUnavailableError
from longvgenbench.paths import cache_dir
from longvgenbench.weights import HubSource, WeightFile

#: The branch the files were published on; replace with the commit hash once looked up.
UNPINNED_REVISION = "main"
DAS_REPO = "EXCAI/Diffusion-As-Shader"
FOLDER_NAME = "diffusion-as-shader"
NEEDED = ("transformer/config.json", "vae/config.json", "text_encoder/config.json", "tokenizer",
          "scheduler/scheduler_config.json")

DAS_TRANSFORMER_CONFIG = WeightFile(
    key="das-transformer-config", filename="das-transformer-config.json",
    source=HubSource(DAS_REPO, "transformer/config.json", UNPINNED_REVISION), licence="Apache-2.0 (DiffusionAsShader)",
    description="DiffusionAsShader transformer config (CogVideoX-5B-I2V + 18 tracking blocks)")
DAS_TRANSFORMER_INDEX = WeightFile(
    key="das-transformer-index", filename="das-transformer-index.json",
    source=HubSource(DAS_REPO, "transformer/diffusion_pytorch_model.safetensors.index.json", UNPINNED_REVISION),
    licence="Apache-2.0 (DiffusionAsShader)",
    description="DiffusionAsShader transformer shard index")
DAS_SCHEDULER = WeightFile(
    key="das-scheduler-config", filename="das-scheduler-config.json",
    source=HubSource(DAS_REPO, "scheduler/scheduler_config.json", UNPINNED_REVISION),
    licence="Apache-2.0 (DiffusionAsShader)", description="DiffusionAsShader scheduler config (CogVideoX DDIM)")

WEIGHT_FILES = (DAS_TRANSFORMER_CONFIG, DAS_TRANSFORMER_INDEX, DAS_SCHEDULER)


def weights_folder() -> Path:
    return cache_dir() / "weights" / FOLDER_NAME


def official_weights_folder() -> Path:
    """The folder with the official pipeline, or ``WeightsUnavailableError`` naming the first missing part."""
    root = weights_folder()
    absent = [root / part for part in NEEDED if not (root / part).exists()]
    if absent:
        raise WeightsUnavailableError(
            "DiffusionAsShader weights", absent[0],
            f"on a machine with network: `huggingface-cli download {DAS_REPO} --local-dir {root}` "
            f"(the whole pipeline folder); or pass -O weights=<folder>")
    return root


__all__ = ["DAS_REPO", "WEIGHT_FILES", "official_weights_folder", "weights_folder"]
