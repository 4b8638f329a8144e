"""One Matrix-Game-2.0 segment end to end: image preparation, VAE + CLIP conditions, sampling, VAE decode.

Follows upstream's ``inference.py`` (universal mode):
- image: centre-cropped to the working aspect (upstream ``_resizecrop``: PIL crop with the same
  float box), resized to the working size (torchvision, bilinear with antialias, as its
  ``v2.Resize``), scaled to [-1, 1];
- ``cond_concat``: the Wan VAE latent (distribution mean, normalised with the VAE's
  ``latents_mean`` / ``latents_std``) of the image followed by 4 (L - 1) black ([-1, 1] zero)
  frames, behind 4 mask channels that are 1 on latent frame 0 and 0 elsewhere;
- ``visual_context``: the CLIP ViT-H/14 vision tower's penultimate hidden states (upstream's
  ``use_31_block``; transformers' ``hidden_states[-2]``) of the image resized (bicubic) to the
  encoder's square input and normalised with CLIP's mean/std;
- decode: the whole segment's latents at once (diffusers' Wan decoder is causal frame by frame,
  which is what upstream's streaming decoder with its cache computes), clamped to [-1, 1],
  (x + 1) x 127.5 truncated to uint8 (upstream's ``astype(np.uint8)``).

Components (diffusers ``AutoencoderKLWan`` and transformers ``CLIPVisionModel`` folders) stand in
for upstream's ``Wan2.1_VAE.pth`` and open-clip ``.pth``: the same networks, published in that
layout in ``Wan-AI/Wan2.1-I2V-14B-480P-Diffusers`` (see ``catalog``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from baselines.matrix_game.config import ActionConfig, MatrixGameConfig
from baselines.matrix_game.model import MatrixGameGenerator
from baselines.matrix_game.sampler import BlockConditions, sample_segment

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CONFIG_FILE = "matrix_game_config.json"
MASK_CHANNELS = 4


def config_from_dict(values: dict[str, Any]) -> MatrixGameConfig:
    """A MatrixGameConfig from ``as_dict()`` output (JSON lists back to tuples)."""
    def tupled(d: dict[str, Any]) -> dict[str, Any]:
        return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}

    values = dict(values)
    action = ActionConfig(**tupled(values.pop("action", {})))
    return MatrixGameConfig(**tupled(values), action=action)


def folder_config(root: Path) -> MatrixGameConfig:
    """The generator config of a weights folder: ``matrix_game_config.json`` if present, else the universal model."""
    path = Path(root) / CONFIG_FILE
    return config_from_dict(json.loads(path.read_text())) if path.exists() else MatrixGameConfig()


def crop_resize(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """Upstream's ``_resizecrop`` (centre crop to height:width) then ``v2.Resize((height, width), antialias)``."""
    import torchvision.transforms.functional as TF

    image = Image.fromarray(np.ascontiguousarray(frame))
    w, h = image.size
    if h / w > height / width:
        new_w, new_h = int(w), int(int(w) * height / width)
    else:
        new_h, new_w = int(h), int(int(h) * width / height)
    image = image.crop(((w - new_w) / 2, (h - new_h) / 2, (w + new_w) / 2, (h + new_h) / 2))
    image = TF.resize(image, [height, width], interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    return np.asarray(image)


def to_unit_range(frame: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float32 (1, 3, 1, H, W) in [-1, 1] (``ToTensor`` then ``Normalize(0.5, 0.5)``)."""
    x = torch.from_numpy(np.array(frame, copy=True)).permute(2, 0, 1).float() / 255.0
    return ((x - 0.5) / 0.5)[None, :, None]


def latent_frames_for(video_frames: int, per_block: int) -> int:
    """Latent frames (whole blocks) whose decoded video (1 + 4 (L - 1) frames) has at least ``video_frames``."""
    latents = max(1, -(-(int(video_frames) - 1) // 4) + 1)
    return -(-latents // per_block) * per_block


@dataclass
class MatrixGameComponents:
    """The generator and the frozen modules around it (mutable: they move between devices)."""

    generator: MatrixGameGenerator
    vae: Any  # diffusers AutoencoderKLWan
    image_encoder: Any  # transformers CLIPVisionModel


def load_components(root: Path, cfg: MatrixGameConfig, dtype: torch.dtype) -> MatrixGameComponents:
    """Generator (header checked) + VAE + image encoder of a weights folder, on the CPU."""
    from diffusers import AutoencoderKLWan
    from transformers import CLIPVisionModel

    from baselines.matrix_game.checkpoint import load_generator

    generator = load_generator(Path(root) / "generator.safetensors", cfg, "cpu", dtype)
    vae = AutoencoderKLWan.from_pretrained(Path(root) / "vae", torch_dtype=torch.float32)
    image_encoder = CLIPVisionModel.from_pretrained(Path(root) / "image_encoder", torch_dtype=dtype)
    return MatrixGameComponents(generator, vae.eval(), image_encoder.eval())


class SegmentPipeline:
    """Encoders + generator + sampler for one segment of ``video_frames`` native frames."""

    def __init__(self, components: MatrixGameComponents, cfg: MatrixGameConfig, height: int, width: int,
                 device: str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        self.components, self.cfg = components, cfg
        self.height, self.width = int(height), int(width)
        self.device, self.dtype = torch.device(device), dtype
        components.generator.to(self.device, dtype).eval()
        components.vae.to(self.device).eval()
        components.image_encoder.to(self.device).eval()

    def _latent_scale(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.components.vae.config
        mean = torch.tensor(cfg.latents_mean, dtype=like.dtype, device=like.device).view(1, -1, 1, 1, 1)
        inv_std = 1.0 / torch.tensor(cfg.latents_std, dtype=like.dtype, device=like.device).view(1, -1, 1, 1, 1)
        return mean, inv_std

    @torch.no_grad()
    def encode_conditions(self, image: torch.Tensor, latent_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``cond_concat`` (1, 20, L, h, w) and ``visual_context`` of a [-1, 1] image (1, 3, 1, H, W)."""
        vae = self.components.vae
        video = torch.cat([image, torch.zeros_like(image).repeat(1, 1, 4 * (latent_frames - 1), 1, 1)], dim=2)
        mu = vae.encode(video.to(self.device, vae.dtype)).latent_dist.mean.float()
        mean, inv_std = self._latent_scale(mu)
        latent = (mu - mean) * inv_std
        mask = torch.ones_like(latent)
        mask[:, :, 1:] = 0
        cond_concat = torch.cat([mask[:, :MASK_CHANNELS], latent], dim=1)
        encoder = self.components.image_encoder
        size = int(encoder.config.image_size)
        pixels = F.interpolate(image[:, :, 0].to(self.device, torch.float32), size=(size, size), mode="bicubic",
                               align_corners=False)
        pixels = pixels * 0.5 + 0.5
        mean_c = torch.tensor(CLIP_MEAN, device=self.device).view(1, 3, 1, 1)
        std_c = torch.tensor(CLIP_STD, device=self.device).view(1, 3, 1, 1)
        out = encoder(((pixels - mean_c) / std_c).to(encoder.dtype), output_hidden_states=True)
        return cond_concat.to(self.dtype), out.hidden_states[-2].to(self.dtype)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """uint8 (1 + 4 (L - 1), H, W, 3) frames of (1, 16, L, h, w) latents."""
        vae = self.components.vae
        z = latents.to(self.device, torch.float32)
        mean, inv_std = self._latent_scale(z)
        video = vae.decode((z / inv_std + mean).to(vae.dtype), return_dict=False)[0]
        pixels = ((video[0].float().clamp(-1, 1) + 1) * 127.5).clamp(0, 255)
        return pixels.permute(1, 2, 3, 0).cpu().numpy().astype(np.uint8)

    def generate(self, first_frame: np.ndarray, keyboard: np.ndarray, mouse: np.ndarray, seed: int,
                 on_step: Any = None) -> np.ndarray:
        """uint8 native frames of one segment from a fresh cache (``keyboard``/``mouse``: one row per frame)."""
        latent_frames = latent_frames_for(keyboard.shape[0], self.cfg.num_frame_per_block)
        rows = 1 + 4 * (latent_frames - 1)
        if keyboard.shape[0] != rows or mouse.shape[0] != rows:
            raise ValueError(f"{latent_frames} latent frames take {rows} action rows, got keyboard "
                             f"{keyboard.shape} and mouse {mouse.shape}")
        image = to_unit_range(crop_resize(first_frame, self.height, self.width))
        cond_concat, visual = self.encode_conditions(image, latent_frames)
        conditions = BlockConditions(
            cond_concat=cond_concat, visual_context=visual,
            keyboard=torch.from_numpy(keyboard)[None].to(self.device, self.dtype),
            mouse=torch.from_numpy(mouse)[None].to(self.device, self.dtype))
        generator = torch.Generator("cpu").manual_seed(int(seed) % (2**63))
        latents = sample_segment(self.components.generator, self.cfg, conditions, generator, on_step)
        return self.decode(latents)


__all__ = ["CLIP_MEAN", "CLIP_STD", "CONFIG_FILE", "MatrixGameComponents", "SegmentPipeline", "config_from_dict",
           "crop_resize", "folder_config", "latent_frames_for", "load_components", "to_unit_range"]
