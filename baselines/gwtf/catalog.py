"""The Go-with-the-Flow LoRA files, for the core weights registry (``longvgenbench.weights``).

File names are those of upstream's inference script (``cut_and_drag_inference.lora_urls``:
``https://huggingface.co/Eyeline-Research/Go-with-the-Flow/resolve/main/<name>.safetensors``).
Revision: upstream downloads from ``main``; its commit hash and the files' sha256 could not be
looked up from this workplace, so they are recorded unpinned (the registry says so). Pin them on
a machine with network before quoting results. The expected tensor names and shapes are pinned
instead (``lora.py``), which the loader checks before loading.
"""

from __future__ import annotations

from baselines.gwtf.lora import DEFAULT_LORA, I2V_LORAS
from longvgenbench.weights import HubSource, WeightFile

GWTF_REPO = "Eyeline-Research/Go-with-the-Flow"
UNPINNED_REVISION = "main"
LICENCE = "Modified Apache-2.0 (Eyeline-Research/Go-with-the-Flow; credit all authors in productions)"


def weight_key(lora_name: str) -> str:
    """Registry key of a LoRA by its upstream name, e.g. ``gwtf-I2V5B_final_i38800_nearest``."""
    return "gwtf-" + lora_name.removesuffix("_lora_weights")


WEIGHT_FILES = tuple(
    WeightFile(key=weight_key(name), filename=f"{name}.safetensors",
               source=HubSource(GWTF_REPO, f"{name}.safetensors", UNPINNED_REVISION), licence=LICENCE,
               description=f"Go-with-the-Flow LoRA for CogVideoX-5B-I2V ({mode} temporal noise downsampling"
                           f"{', upstream default' if name == DEFAULT_LORA else ''})")
    for name, mode in I2V_LORAS.items())

__all__ = ["GWTF_REPO", "WEIGHT_FILES", "weight_key"]
