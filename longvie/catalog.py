"""The weight files LongVie 2 needs, for the core weights registry (entry-point group ``longvgenbench.weights``).

Revisions (the Hub itself cannot be reached from this workplace; these come from public records):
- ``Wan-AI/Wan2.1-I2V-14B-480P-Diffusers`` @ ``b184e23a8a16b20f108f727c902e769e873ffc73``: the revision
  several independent public projects pin this repository to (found with the code search, e.g. benchmark
  and workflow manifests quoting ``Wan-AI/Wan2.1-I2V-14B-480P-Diffusers@b184e23a...``).
- ``Wan-AI/Wan2.1-I2V-14B-480P`` @ ``6b73f84e66371cdfe870c72acd6826e1d61cf279``: the Hugging Face cache
  snapshot folder name (``models--Wan-AI--Wan2.1-I2V-14B-480P/snapshots/6b73f84e...``) in several
  independent public scripts and configs. Its DiT is sharded in 7 files
  (``diffusion_pytorch_model-0000N-of-00007.safetensors``, from a public list of the repository's files).
- ``Vchitect/LongVie2``: no public record of a commit hash was found; recorded as ``UNPINNED_REVISION``
  ("main"), which the registry reports as unpinned. Pin it on a machine with network before quoting results.
- Qwen2.5-VL-7B-Instruct (the caption refiner) is the builder's registered, pinned folder
  (``longvgenbench.build.estimators.catalog.QWEN25_VL_7B``).
No file sizes or sha256 of these files were found in public records (``sha256=None``: reported as
unpinned by hash). The expected tensor names and shapes are pinned instead (the header checks in
``checkpoint.py`` refuse any file that differs), which is what guards against the silent partial
loads of upstream.

The whole model lives in one folder (``longvie.loading`` describes the layout):
``$LONGVGENBENCH_CACHE/weights/longvie2/``. The two LongVie 2 files go to its ``longvie2/``
folder; the Wan2.1 diffusers port goes to the folder itself, or the original Wan2.1 repository's DiT
shards + ``config.json`` (registered here as ``wan2.1-i2v-14b-480p:<file>``, fetched straight into the
folder) with the diffusers port's component folders beside them.
"""

from __future__ import annotations

from pathlib import Path

from longvgenbench.errors import WeightsUnavailableError
from longvgenbench.paths import cache_dir
from longvgenbench.weights import HubSource, WeightFile

#: The branch the files were published on; replace with the commit hash once looked up.
UNPINNED_REVISION = "main"
WAN_DIFFUSERS_REPO = "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"
WAN_DIFFUSERS_REVISION = "b184e23a8a16b20f108f727c902e769e873ffc73"
WAN_ORIGINAL_REPO = "Wan-AI/Wan2.1-I2V-14B-480P"
WAN_ORIGINAL_REVISION = "6b73f84e66371cdfe870c72acd6826e1d61cf279"
WAN_ORIGINAL_SHARDS = 7
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
                     WAN_DIFFUSERS_REVISION),
    licence="Apache-2.0", description="Wan2.1-I2V-14B-480P (diffusers port): transformer shard index")


def _wan_original(path: str, what: str) -> WeightFile:
    return WeightFile(key=f"wan2.1-i2v-14b-480p:{path}", filename=f"longvie2/{path}",
                      source=HubSource(WAN_ORIGINAL_REPO, path, WAN_ORIGINAL_REVISION), licence="Apache-2.0",
                      description=f"Wan2.1-I2V-14B-480P (original format): {what}")


#: The original-format DiT: Wan's config.json, the shard index and the shards, fetched into weights_folder().
WAN_ORIGINAL_DIT = (
    _wan_original("config.json", "DiT config (Wan's own format)"),
    _wan_original("diffusion_pytorch_model.safetensors.index.json", "DiT shard index"),
    *(_wan_original(f"diffusion_pytorch_model-{i:05d}-of-{WAN_ORIGINAL_SHARDS:05d}.safetensors", f"DiT shard {i}")
      for i in range(1, WAN_ORIGINAL_SHARDS + 1)),
)

WEIGHT_FILES = (LONGVIE2_CONTROL, LONGVIE2_DIT, WAN_TRANSFORMER_INDEX, *WAN_ORIGINAL_DIT)


def weights_folder() -> Path:
    return cache_dir() / "weights" / "longvie2"


def official_weights_folder(with_controller: bool = True) -> Path:
    """The folder with the official weights, or ``WeightsUnavailableError`` saying how to make it."""
    root = weights_folder()
    original = any(root.glob("diffusion_pytorch_model*.safetensors"))  # the original Wan layout
    needed = [root / "vae", root / "text_encoder"] if original else [root / "transformer", root / "vae",
                                                                       root / "text_encoder"]
    if with_controller:
        needed.append(root / "longvie2" / "control.safetensors")
    absent = [p for p in needed if not p.exists()]
    if absent:
        raise WeightsUnavailableError(
            "LongVie 2 / Wan2.1 I2V weights", absent[0],
            f"on a machine with network: `huggingface-cli download {WAN_DIFFUSERS_REPO} --revision "
            f"{WAN_DIFFUSERS_REVISION} --local-dir {root}` (or the original format: `longvgenbench weights fetch "
            f"{' '.join(w.key for w in WAN_ORIGINAL_DIT)}` plus the diffusers port without transformer/), then "
            f"`longvgenbench weights fetch longvie2-control longvie2-dit` and copy them to "
            f"{root / 'longvie2'}/control.safetensors and dit.safetensors; or pass weights=<folder>")
    return root


__all__ = ["LONGVIE2_CONTROL", "LONGVIE2_DIT", "WAN_DIFFUSERS_REVISION", "WAN_ORIGINAL_DIT", "WAN_ORIGINAL_REVISION",
           "WEIGHT_FILES", "official_weights_folder", "weights_folder"]
