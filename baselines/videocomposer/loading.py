"""Build VideoComposer from a weights folder; the UNet checkpoint is checked before any tensor loads.

Folder layout (``$LONGVGENBENCH_CACHE/weights/videocomposer/`` by default):

- ``unet/non_ema_228000.pth``: the official UNet (torch pickle of a state dict); ``unet/config.json``
  (``UNetConfig`` fields) only for non-published sizes (the tests' tiny models);
- ``vae/``: a diffusers ``AutoencoderKL`` folder (``config.json`` + weights), the SD-2.1 VAE;
- ``open_clip/open_clip_pytorch_model.bin``: OpenCLIP ViT-H/14 (laion2b_s32b_b79k);
  ``open_clip/config.json`` (an open_clip model config) only for non-published sizes.

The tests write tiny random models in exactly this layout, so the real loading code is what they run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from baselines.videocomposer.checkpoint import load_checked
from baselines.videocomposer.config import UNetConfig
from baselines.videocomposer.encoders import OpenClipEncoders
from baselines.videocomposer.unet import VideoComposerUNet
from longvgenbench.errors import WeightsUnavailableError
from longvgenbench.paths import cache_dir

UNET_FILE = "unet/non_ema_228000.pth"
CLIP_FILE = "open_clip/open_clip_pytorch_model.bin"
CLIP_ARCH = "ViT-H-14"


def weights_folder() -> Path:
    return cache_dir() / "weights" / "videocomposer"


def _how_to_get(root: Path) -> str:
    return (f"on a machine with network run `longvgenbench weights fetch videocomposer-unet videocomposer-sd21-vae "
            f"videocomposer-sd21-vae-config videocomposer-openclip-vit-h-14`, then place them as {root}/{UNET_FILE}, "
            f"{root}/vae/diffusion_pytorch_model.safetensors + {root}/vae/config.json and {root}/{CLIP_FILE}; "
            f"or pass weights=<folder> with that layout")


@dataclass(frozen=True)
class WeightsFolder:
    """The files of one VideoComposer weights folder, checked for presence."""

    root: Path
    unet: Path
    vae: Path
    clip: Path

    @classmethod
    def find(cls, root: Path | str | None = None) -> WeightsFolder:
        root = Path(root) if root is not None else weights_folder()
        files = {"VideoComposer UNet (non_ema_228000.pth)": root / UNET_FILE,
                 "SD-2.1 VAE (diffusers folder)": root / "vae" / "config.json",
                 "OpenCLIP ViT-H/14 (open_clip_pytorch_model.bin)": root / CLIP_FILE}
        for what, path in files.items():
            if not path.exists():
                raise WeightsUnavailableError(what, path, _how_to_get(root))
        return cls(root, root / UNET_FILE, root / "vae", root / CLIP_FILE)

    def unet_config(self) -> UNetConfig:
        path = self.unet.parent / "config.json"
        return UNetConfig.from_dict(json.loads(path.read_text())) if path.is_file() else UNetConfig()


def load_unet(folder: WeightsFolder, dtype: torch.dtype = torch.float32) -> VideoComposerUNet:
    """Meta-build the UNet, compare the checkpoint's names and shapes, then load it."""
    with torch.device("meta"):
        model = VideoComposerUNet(folder.unet_config())
    return load_checked(model, folder.unet, dtype).eval()


def load_vae(folder: WeightsFolder, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    from diffusers import AutoencoderKL

    return AutoencoderKL.from_pretrained(folder.vae, torch_dtype=dtype).eval()


def load_clip(folder: WeightsFolder, vit_size: int = 224) -> OpenClipEncoders:
    """OpenCLIP from its ``.bin`` (loaded with ``weights_only=True``, strictly) on the published or a given config."""
    import open_clip
    from open_clip.model import CLIP

    config_path = folder.clip.parent / "config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else open_clip.get_model_config(CLIP_ARCH)
    if config is None:
        raise WeightsUnavailableError(f"open_clip's {CLIP_ARCH} config", None, "upgrade open_clip_torch")
    model = CLIP(**config)
    state = torch.load(folder.clip, map_location="cpu", weights_only=True)
    result = model.load_state_dict(state, strict=False)
    bad = [n for n in result.missing_keys] + [n for n in result.unexpected_keys if "position_ids" not in n]
    if bad:
        from baselines.videocomposer.checkpoint import CheckpointError

        raise CheckpointError(f"{folder.clip} does not match open_clip {CLIP_ARCH}: {len(result.missing_keys)} "
                              f"missing, {len(result.unexpected_keys)} unexpected (e.g. {bad[:8]})")
    return OpenClipEncoders(model, vit_size)


__all__ = ["CLIP_FILE", "UNET_FILE", "WeightsFolder", "load_clip", "load_unet", "load_vae", "weights_folder"]
