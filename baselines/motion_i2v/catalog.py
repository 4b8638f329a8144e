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
# Stage 2's image VAE: upstream converts the ``first_stage_model.*`` tensors of this LDM-format
# single file (Realistic Vision V5.1 "noVAE" by SG_161222, a Civitai model). Upstream's only download
# step is the Hub clone, so it is expected at this path of the clone (not verified here: no Hub
# access). No public sha256 found: unpinned.
STAGE2_VAE_SINGLE_FILE = "models/stage2/DreamBooth_LoRA/realisticVisionV51_v20Novae.safetensors"
STAGE2_VAE_LICENCE = "CreativeML OpenRAIL-M (Realistic Vision V5.1, SG_161222; via hf://wangfuyun/Motion-I2V)"

STAGE2_VAE_WEIGHT = WeightFile(
    key="stage2-vae", filename=Path(STAGE2_VAE_SINGLE_FILE).name,
    source=HubSource(REPO, STAGE2_VAE_SINGLE_FILE, UNPINNED_REVISION), licence=STAGE2_VAE_LICENCE,
    description="Motion-I2V stage 2 image VAE (LDM single file, Realistic Vision V5.1 noVAE)")

WEIGHT_FILES = (
    *(WeightFile(key=key, filename=f"motion-i2v-{key}{Path(path).suffix}",
                 source=HubSource(REPO, path, UNPINNED_REVISION), licence=LICENCE, description=description)
      for key, path, description in (
          ("stage1-unet", STAGE1_UNET, "Motion-I2V stage 1 (motion fields) UNet, 1278 tensors"),
          ("stage1-flow-vae", STAGE1_FLOW_VAE, "Motion-I2V stage 1 flow VAE"),
          ("stage2-motion", STAGE2_MOTION, "Motion-I2V stage 2 motion-augmented temporal modules"),
          ("stage2-unet", STAGE2_PERSONAL_UNET, "Motion-I2V stage 2 personalised (Realistic Vision) UNet overlay"),
      )),
    STAGE2_VAE_WEIGHT,
)


def weights_folder() -> Path:
    return cache_dir() / "weights" / "motion-i2v"


def stage2_vae_file(root: Path) -> Path:
    """Stage 2's VAE single file: in the clone at ``root``, else a ``longvgenbench weights fetch stage2-vae`` copy."""
    from longvgenbench import weights

    in_clone = root / STAGE2_VAE_SINGLE_FILE
    if in_clone.is_file():
        return in_clone
    fetched = weights.locate(STAGE2_VAE_WEIGHT)
    if fetched is not None:
        return fetched
    raise WeightsUnavailableError(
        "Motion-I2V stage 2 VAE (LDM single file)", in_clone,
        f"it is part of `git clone https://huggingface.co/{REPO}`; or, for this file alone, "
        f"`LONGVGENBENCH_ONLINE=1 longvgenbench weights fetch stage2-vae` on a machine with network, "
        f"or copy {in_clone.name} to {in_clone}")


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
