"""The weight files LongVie 2 needs, for the core weights registry (entry-point group ``longvgenbench.weights``).

Revisions: the Hub commit hashes and sha256 of these files could not be looked up from this
workplace (no Hub access). They are recorded as ``UNPINNED_REVISION`` with ``sha256=None``, which
the registry reports as unpinned; pin them (commit hash, size, sha256) on a machine with network
before quoting results. The expected tensor names and shapes are pinned instead (the header
checks in ``checkpoint.py`` refuse any file that differs), which is what guards against the
silent partial loads of upstream.

The whole model lives in one folder (``longvie.loading`` describes the layout):
``$LONGVGENBENCH_CACHE/weights/longvie2/``. The two LongVie 2 files go to its ``longvie2/``
folder; the Wan2.1 diffusers port goes to the folder itself.
"""

from __future__ import annotations

from pathlib import Path

from longvgenbench.errors import WeightsUnavailableError
from longvgenbench.paths import cache_dir
from longvgenbench.weights import HubSource, WeightFile

#: The branch the files were published on; replace with the commit hash once looked up.
UNPINNED_REVISION = "main"
WAN_DIFFUSERS_REPO = "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"
WAN_ORIGINAL_REPO = "Wan-AI/Wan2.1-I2V-14B-480P"
LONGVIE2_REPO = "Vchitect/LongVie2"

LONGVIE2_CONTROL = WeightFile(
    key="longvie2-control", filename="longvie2-control.safetensors",
    source=HubSource(LONGVIE2_REPO, "control.safetensors", UNPINNED_REVISION), licence="Apache-2.0 (Vchitect/LongVie)",
    description="LongVie 2 dual controller (800 tensors, 2,633,637,888 parameters)")
LONGVIE2_DIT = WeightFile(
    key="longvie2-dit", filename="longvie2-dit.safetensors",
    source=HubSource(LONGVIE2_REPO, "dit.safetensors", UNPINNED_REVISION), licence="Apache-2.0 (Vchitect/LongVie)",
    description="LongVie 2 self-attention overlay of the 40 Wan2.1 blocks (400 tensors, 4,195,532,800 parameters)")
WAN_TRANSFORMER_INDEX = WeightFile(
    key="wan2.1-i2v-14b-480p-transformer-index", filename="wan2.1-i2v-14b-480p-transformer-index.json",
    source=HubSource(WAN_DIFFUSERS_REPO, "transformer/diffusion_pytorch_model.safetensors.index.json",
                     UNPINNED_REVISION),
    licence="Apache-2.0", description="Wan2.1-I2V-14B-480P (diffusers port): transformer shard index")

WEIGHT_FILES = (LONGVIE2_CONTROL, LONGVIE2_DIT, WAN_TRANSFORMER_INDEX)


def weights_folder() -> Path:
    return cache_dir() / "weights" / "longvie2"


def official_weights_folder(with_controller: bool = True) -> Path:
    """The folder with the official weights, or ``WeightsUnavailableError`` saying how to make it."""
    root = weights_folder()
    needed = [root / "transformer", root / "vae", root / "text_encoder"]
    if with_controller:
        needed.append(root / "longvie2" / "control.safetensors")
    absent = [p for p in needed if not p.exists()]
    if absent:
        raise WeightsUnavailableError(
            "LongVie 2 / Wan2.1 I2V weights", absent[0],
            f"on a machine with network: `huggingface-cli download {WAN_DIFFUSERS_REPO} --local-dir {root}`, then "
            f"`longvgenbench weights fetch longvie2-control longvie2-dit` and copy them to "
            f"{root / 'longvie2'}/control.safetensors and dit.safetensors; or pass weights=<folder>")
    return root


__all__ = ["LONGVIE2_CONTROL", "LONGVIE2_DIT", "WEIGHT_FILES", "official_weights_folder", "weights_folder"]
