"""The maintained-library parts of VideoComposer: OpenCLIP ViT-H/14 (text + image) and the SD-2.1 VAE.

Text: upstream's ``FrozenOpenCLIPEmbedder(layer='penultimate')`` runs every residual block of the
text tower but the last, then ``ln_final`` (77 tokens x 1024). The empty prompt's embedding is the
unconditional context. Image: ``encode_image`` of the projected tower (1024), preprocessed like
upstream's ``vit_transforms`` (halve while the short side >= 448, bicubic resize of the short side
to 224, centre crop, CLIP mean/std). VAE: diffusers' ``AutoencoderKL`` (the SD-2.1 first stage);
latents are scaled by 0.18215 as upstream.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

VAE_SCALE = 0.18215
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def vit_crop(frame: np.ndarray, size: int) -> np.ndarray:
    """Upstream's ``CenterCrop`` for the CLIP image: box-halving, bicubic short side -> ``size``, centre crop."""
    img = Image.fromarray(frame)
    while min(img.size) >= 2 * size:
        img = img.resize((img.width // 2, img.height // 2), resample=Image.BOX)
    scale = size / min(img.size)
    img = img.resize((round(scale * img.width), round(scale * img.height)), resample=Image.BICUBIC)
    x1, y1 = (img.width - size) // 2, (img.height - size) // 2
    return np.asarray(img.crop((x1, y1, x1 + size, y1 + size)))


class OpenClipEncoders:
    """Text (penultimate layer) and image embeddings from one open_clip ``CLIP`` model."""

    def __init__(self, model: torch.nn.Module, vit_size: int = 224) -> None:
        self.model = model.eval().requires_grad_(False)
        self.vit_size = vit_size

    @property
    def device(self) -> torch.device:
        return self.model.positional_embedding.device

    @torch.no_grad()
    def text(self, captions: list[str]) -> torch.Tensor:
        import open_clip

        m = self.model
        tokens = open_clip.tokenize(captions, context_length=m.positional_embedding.shape[0]).to(self.device)
        x = m.token_embedding(tokens) + m.positional_embedding
        batch_first = getattr(m.transformer, "batch_first", True)
        if not batch_first:
            x = x.transpose(0, 1)
        for block in m.transformer.resblocks[:-1]:
            x = block(x, attn_mask=m.attn_mask)
        if not batch_first:
            x = x.transpose(0, 1)
        return m.ln_final(x).float()

    @torch.no_grad()
    def image(self, frame: np.ndarray) -> torch.Tensor:
        """(1, 1, D) embedding of a uint8 (H, W, 3) frame."""
        crop = vit_crop(frame, self.vit_size).astype(np.float32) / 255.0
        mean, std = np.asarray(CLIP_MEAN, np.float32), np.asarray(CLIP_STD, np.float32)
        pixels = torch.from_numpy(((crop - mean) / std).transpose(2, 0, 1)).unsqueeze(0).to(self.device)
        return self.model.encode_image(pixels).float().unsqueeze(1)


@torch.no_grad()
def decode_latents(vae: torch.nn.Module, latents: torch.Tensor, chunk: int = 16) -> torch.Tensor:
    """(B, 4, F, h, w) latents -> (B, 3, F, H, W) pixels in [-1, 1] (frame by frame, ``chunk`` at a time)."""
    b, c, f, h, w = latents.shape
    flat = (latents / VAE_SCALE).permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
    param = next(vae.parameters())
    decoded = torch.cat([vae.decode(part.to(param.dtype)).sample.float() for part in flat.split(chunk)])
    return decoded.view(b, f, 3, decoded.shape[-2], decoded.shape[-1]).permute(0, 2, 1, 3, 4)


def to_uint8(pixels: torch.Tensor) -> np.ndarray:
    """(3, F, H, W) in [-1, 1] -> uint8 (F, H, W, 3): x * 0.5 + 0.5 clamped to [0, 1] as upstream, then rounded."""
    unit = (pixels.float() * 0.5 + 0.5).clamp(0, 1)
    return (unit * 255.0).round().to(torch.uint8).permute(1, 2, 3, 0).cpu().numpy()


__all__ = ["VAE_SCALE", "OpenClipEncoders", "decode_latents", "to_uint8", "vit_crop"]
