"""The weight files VideoComposer uses, for the core weights registry (entry-point group ``longvgenbench.weights``).

Upstream (ali-vilab/videocomposer, ``model_weights/readme.md``) puts six files in ``model_weights/``;
the ones this adapter loads are the UNet, the SD-2.1 VAE and OpenCLIP ViT-H/14 (text and image
towers). MiDaS DPT-Large is listed for completeness: the adapter takes depth from the split's depth
control, not from MiDaS. The two sketch networks (PiDiNet, sketch simplification) are not listed:
the adapter uses no sketch condition.

Revisions (no network here; these come from public records, found with the public code index):
- ModelScope ``damo/VideoComposer`` @ ``v1.0.0``: the revision upstream's own README
  (ali-vilab/videocomposer ``README.md``, ``snapshot_download('damo/VideoComposer', ...,
  revision='v1.0.0')``) downloads. It is a ModelScope tag, not a content hash.
- ``stabilityai/stable-diffusion-2-1-base`` @ ``5ede9e4bf3e3fd1cb0ef2f7a3fff13ee514fdf06``: the
  Hugging Face cache snapshot folder name (``models--stabilityai--stable-diffusion-2-1-base/
  snapshots/5ede9e4b...``) in training/inference scripts of three independent public projects
  (older snapshots ``1f758383...`` and ``dcd3ee64...`` also appear, less often).
- ``laion/CLIP-ViT-H-14-laion2B-s32B-b79K`` @ ``1c2b8495b28150b8a4922ee1c8edee224c284c0c``: the
  cache snapshot folder name in three independent public files, one of them naming
  ``snapshots/1c2b8495.../open_clip_pytorch_model.bin`` itself (snapshot ``de081ac0...`` also
  appears, twice).
- MiDaS DPT-Large: a GitHub release asset (fixed URL); its name carries the sha256 prefix
  ``2f21e586`` (torch hub convention).
No sha256 or size of any of these files was found in public records (``sha256=None``: reported
as unpinned by hash). The UNet's tensor names and shapes are pinned too
(``official_unet_tensors.json``), which is what guards against the silent partial loads of upstream.

Folder the adapter reads (``loading.py``): ``$LONGVGENBENCH_CACHE/weights/videocomposer/`` with
``unet/non_ema_228000.pth``, ``vae/`` (diffusers ``AutoencoderKL`` folder) and
``open_clip/open_clip_pytorch_model.bin``.
"""

from __future__ import annotations

from longvgenbench.weights import HubSource, UrlSource, WeightFile

UNPINNED = "main"
#: revisions from the public records cited in the module docstring
MODELSCOPE_REVISION = "v1.0.0"
MODELSCOPE = ("https://modelscope.cn/api/v1/models/damo/VideoComposer/repo?Revision="
              f"{MODELSCOPE_REVISION}&FilePath=model_weights/")
SD21_REPO = "stabilityai/stable-diffusion-2-1-base"
SD21_REVISION = "5ede9e4bf3e3fd1cb0ef2f7a3fff13ee514fdf06"
OPENCLIP_REPO = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"
OPENCLIP_REVISION = "1c2b8495b28150b8a4922ee1c8edee224c284c0c"

VIDEOCOMPOSER_UNET = WeightFile(
    key="videocomposer-unet", filename="videocomposer-non_ema_228000.pth",
    source=UrlSource(MODELSCOPE + "non_ema_228000.pth"),
    licence="MIT (ali-vilab/videocomposer code); weights: see the ModelScope damo/VideoComposer model card (not "
            "verified from here)",
    description="VideoComposer UNetSD_temporal, step 228000, non-EMA (1574 tensors, 1,413,435,636 parameters)")
SD21_VAE = WeightFile(
    key="videocomposer-sd21-vae", filename="videocomposer-sd21-vae.safetensors",
    source=HubSource(SD21_REPO, "vae/diffusion_pytorch_model.safetensors", SD21_REVISION),
    licence="CreativeML Open RAIL++-M",
    description="Stable Diffusion 2.1 VAE (diffusers port of the first stage of v2-1_512-ema-pruned.ckpt)")
SD21_VAE_CONFIG = WeightFile(
    key="videocomposer-sd21-vae-config", filename="videocomposer-sd21-vae-config.json",
    source=HubSource(SD21_REPO, "vae/config.json", SD21_REVISION), licence="CreativeML Open RAIL++-M",
    description="Stable Diffusion 2.1 VAE config (diffusers)")
SD21_ORIGINAL = WeightFile(
    key="videocomposer-sd21-original", filename="v2-1_512-ema-pruned.ckpt",
    source=HubSource(SD21_REPO, "v2-1_512-ema-pruned.ckpt", SD21_REVISION), licence="CreativeML Open RAIL++-M",
    description="Stable Diffusion 2.1 base checkpoint as upstream loads it (its VAE = the diffusers port above)")
OPENCLIP_VIT_H = WeightFile(
    key="videocomposer-openclip-vit-h-14", filename="open_clip_pytorch_model.bin",
    source=HubSource(OPENCLIP_REPO, "open_clip_pytorch_model.bin", OPENCLIP_REVISION), licence="MIT",
    description="OpenCLIP ViT-H/14 laion2b_s32b_b79k (text: penultimate layer; image: projected embedding)")
MIDAS_DPT_LARGE = WeightFile(
    key="videocomposer-midas-dpt-large", filename="dpt_large-midas-2f21e586.pt",
    source=UrlSource("https://github.com/isl-org/DPT/releases/download/1_0/dpt_large-midas-2f21e586.pt"),
    licence="MIT", description="MiDaS v3 DPT-Large (upstream's midas_v3_dpt_large.pth); NOT loaded by the adapter, "
                               "which takes depth from the split")

WEIGHT_FILES = (VIDEOCOMPOSER_UNET, SD21_VAE, SD21_VAE_CONFIG, SD21_ORIGINAL, OPENCLIP_VIT_H, MIDAS_DPT_LARGE)

__all__ = ["MIDAS_DPT_LARGE", "OPENCLIP_VIT_H", "SD21_VAE", "VIDEOCOMPOSER_UNET", "WEIGHT_FILES"]
