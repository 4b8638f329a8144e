"""The weight files Motion-I2V needs (``longvgenbench.weights`` entry point ``motion_i2v``).

Upstream's README: ``git clone https://huggingface.co/wangfuyun/Motion-I2V``; ``scripts/app.py``
reads the paths below from that clone. The Hub commit, sizes and sha256 could not be looked up
from this workplace (no Hub access): recorded as the branch ``main`` (unpinned) with no sha256;
pin them on a machine with network before quoting results. The header checks in
``checkpoint.py`` pin the tensor names and shapes instead.

Only what image + text generation uses is listed: the stage-1 ControlNet (``controlnet.bin``)
is for user drags and the adapter runs stage 1 without it (see ``pipeline.py``).
"""

from __future__ import annotations

from pathlib import Path

from longvgenbench.errors import WeightsUnavailableError
from longvgenbench.paths import cache_dir
from longvgenbench.weights import HubSource, WeightFile

REPO = "wangfuyun/Motion-I2V"
UNPINNED_REVISION = "main"
LICENCE = "see hf://wangfuyun/Motion-I2V (SD 1.5 parts: CreativeML OpenRAIL-M)"

STAGE1_UNET = "models/stage1/StableDiffusion-FlowGen/unet/diffusion_pytorch_model.bin"
STAGE1_FLOW_VAE = "models/stage1/StableDiffusion-FlowGen/vae_flow/diffusion_pytorch_model.bin"
STAGE2_BASE = "models/stage2/StableDiffusion"
STAGE2_MOTION = "models/stage2/Motion_Module/motion_block.bin"
STAGE2_PERSONAL_UNET = "models/stage2/DreamBooth_LoRA/realistic_unet.ckpt"

WEIGHT_FILES = tuple(
    WeightFile(key=key, filename=f"motion-i2v-{key}{Path(path).suffix}",
               source=HubSource(REPO, path, UNPINNED_REVISION), licence=LICENCE, description=description)
    for key, path, description in (
        ("stage1-unet", STAGE1_UNET, "Motion-I2V stage 1 (motion fields) UNet, 1278 tensors"),
        ("stage1-flow-vae", STAGE1_FLOW_VAE, "Motion-I2V stage 1 flow VAE"),
        ("stage2-motion", STAGE2_MOTION, "Motion-I2V stage 2 motion-augmented temporal modules"),
        ("stage2-unet", STAGE2_PERSONAL_UNET, "Motion-I2V stage 2 personalised (Realistic Vision) UNet overlay"),
    ))


def weights_folder() -> Path:
    return cache_dir() / "weights" / "motion-i2v"


def official_weights_folder() -> Path:
    """The clone of the Hub repository, or ``WeightsUnavailableError`` naming the first missing file."""
    root = weights_folder()
    for rel in (STAGE1_UNET, STAGE1_FLOW_VAE, STAGE2_BASE, STAGE2_MOTION, STAGE2_PERSONAL_UNET):
        if not (root / rel).exists():
            raise WeightsUnavailableError(
                "Motion-I2V weights", root / rel,
                f"on a machine with network: `git clone https://huggingface.co/{REPO} {root}` "
                f"(about 17 GB), or pass weights=<that folder>")
    return root
