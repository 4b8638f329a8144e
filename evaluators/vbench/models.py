"""Loading the official checkpoints into maintained architectures (timm for DINO, open_clip for OpenAI CLIP).

- DINO ViT-B/16 (``dino_vitbase16_pretrain.pth``): facebookresearch/dino's state dict uses the same
  parameter names as timm's ``vit_base_patch16_224`` without a head, so it loads strictly. What timm
  does differently is the position-embedding interpolation for non-square inputs (VBench feeds
  e.g. 224x388 frames): DINO calls ``F.interpolate(..., scale_factor=((h+0.1)/14, (w+0.1)/14),
  mode='bicubic')``, which samples at other positions than timm's size-based resampling. The forward
  below therefore runs timm's patch embedding, blocks and norm, with DINO's interpolation, cached
  per input size.
- OpenAI CLIP (``ViT-B-32.pt``, ``ViT-L-14.pt``): TorchScript archives of fp16 weights; open_clip
  rebuilds the architecture from the state dict (QuickGELU, sizes inferred) as the ``clip`` package
  does. Only the image tower is kept on the device.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from longvgenbench.errors import WeightsUnavailableError


def _load_state(path: Path, what: str) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say which and why
        raise WeightsUnavailableError(what, path, f"cannot be read as a PyTorch state dict ({exc})") from exc
    if not isinstance(state, dict):
        raise WeightsUnavailableError(what, path, f"holds a {type(state).__name__}, not a state dict")
    return state


class DinoViT(nn.Module):
    """DINO's ViT-B/16 forward (CLS token after the final norm) on timm modules."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        super().__init__()
        import timm

        self.vit = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=0)
        missing, unexpected = self.vit.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"not a DINO ViT-B/16 state dict: missing {missing[:5]}, unexpected {unexpected[:5]}")
        self.patch = self.vit.patch_embed.patch_size[0]
        self._pos_cache: dict[tuple[int, int, torch.dtype, torch.device], torch.Tensor] = {}

    def position_embedding(self, rows: int, cols: int) -> torch.Tensor:
        """DINO's ``interpolate_pos_encoding`` for a rows x cols patch grid (scale-factor bicubic, +0.1).

        Eager calls cache the table. A compiled graph computes it inline instead (a few microseconds) and never
        stores it: a tensor a graph made and a dict kept would, under CUDA graphs, live in memory that the next
        replay overwrites.
        """
        pos = self.vit.pos_embed
        key = (rows, cols, pos.dtype, pos.device)
        if key in self._pos_cache:
            return self._pos_cache[key]
        grid = int(math.sqrt(pos.shape[1] - 1))
        if rows * cols == grid * grid and rows == cols:
            return pos
        patch_pos = pos[:, 1:].reshape(1, grid, grid, -1).permute(0, 3, 1, 2)
        patch_pos = F.interpolate(patch_pos.float(), scale_factor=((rows + 0.1) / grid, (cols + 0.1) / grid),
                                  mode="bicubic")
        if patch_pos.shape[-2:] != (rows, cols):
            raise RuntimeError(f"DINO position interpolation gave {patch_pos.shape[-2:]}, not {rows}x{cols}")
        patch_pos = patch_pos.permute(0, 2, 3, 1).reshape(1, rows * cols, -1).to(pos.dtype)
        table = torch.cat([pos[:, :1], patch_pos], dim=1)
        if not torch.compiler.is_compiling():
            self._pos_cache[key] = table
        return table

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        tokens = self.vit.patch_embed.proj(pixels)  # conv stride 16: trailing rows/cols that do not fill a patch drop
        rows, cols = tokens.shape[-2:]
        tokens = tokens.flatten(2).transpose(1, 2)
        cls = self.vit.cls_token.expand(tokens.shape[0], -1, -1)
        tokens = torch.cat([cls, tokens], dim=1) + self.position_embedding(rows, cols)
        tokens = self.vit.norm(self.vit.blocks(tokens))
        return tokens[:, 0]


def load_dino(path: Path, device: str) -> DinoViT:
    state = _load_state(path, f"DINO ViT-B/16 checkpoint {path.name}")
    try:
        model = DinoViT(state)
    except ValueError as exc:
        raise WeightsUnavailableError(f"DINO ViT-B/16 checkpoint {path.name}", path, str(exc)) from exc
    return model.eval().requires_grad_(False).to(device)


def load_openai_clip_visual(path: Path, device: str) -> nn.Module:
    """The image tower of an OpenAI CLIP checkpoint (TorchScript archive or plain state dict), fp32."""
    from open_clip.model import build_model_from_openai_state_dict

    what = f"OpenAI CLIP checkpoint {path.name}"
    try:
        with warnings.catch_warnings():  # torch deprecates TorchScript; OpenAI's files are TorchScript archives
            warnings.simplefilter("ignore", FutureWarning)
            state = torch.jit.load(str(path), map_location="cpu").state_dict()
    except RuntimeError:
        state = _load_state(path, what)
    try:
        model = build_model_from_openai_state_dict(dict(state))
    except (KeyError, RuntimeError, ValueError) as exc:
        raise WeightsUnavailableError(what, path, f"is not an OpenAI CLIP ViT state dict ({exc})") from exc
    visual = model.visual.float()  # the OpenAI weights are fp16 values; fp32 holds them exactly
    return visual.eval().requires_grad_(False).to(device)


def load_linear_head(path: Path, device: str, in_features: int = 768) -> nn.Linear:
    head = nn.Linear(in_features, 1)
    state = _load_state(path, f"linear head {path.name}")
    try:
        head.load_state_dict(state)
    except RuntimeError as exc:
        raise WeightsUnavailableError(f"linear head {path.name}", path, f"is not a Linear({in_features}, 1)") from exc
    return head.eval().requires_grad_(False).to(device)
