"""What the VBench image-model dimensions share: device preprocessing, precision, batching, the consistency formula.

VBench 0.1.5 decodes a video into a float tensor of uint8 values and applies torchvision
transforms to it; its quirks matter for the numbers and are reproduced here exactly, but on the
device and for a whole batch at once:

- ``Resize(224)`` on a *tensor*: the shorter side becomes 224 and the longer ``int(224 * long / short)``
  (truncated), ``F.interpolate`` with ``align_corners=False`` and **no antialias**, on float values
  in 0-255 without rounding or clamping (VBench's frames are float, so torchvision does neither);
- ``CenterCrop(224)``: top/left offsets ``int(round((size - 224) / 2))`` (Python's rounding);
- ``/255`` then ``Normalize(mean, std)``.

Precision: ``fp32`` reproduces VBench within 1e-4; ``fp16`` / ``bf16`` run the model under CUDA
autocast (preprocessing and the final cosine/linear maths stay fp32). ``auto`` is fp16 on CUDA
(what VBench's own CLIP uses on a GPU) and fp32 elsewhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from longvgenbench.errors import OptionError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

PRECISIONS = ("auto", "fp32", "fp16", "bf16")


def resolve_precision(precision: str, device: str) -> str:
    """The precision actually used: ``auto`` -> fp16 on CUDA, fp32 elsewhere; half precisions need CUDA."""
    if precision not in PRECISIONS:
        raise OptionError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    on_cuda = torch.device(device).type == "cuda"
    if precision == "auto":
        return "fp16" if on_cuda else "fp32"
    if precision != "fp32" and not on_cuda:
        raise OptionError(f"precision {precision!r} needs a CUDA device (got {device!r}); use fp32 on the CPU")
    return precision


def autocast(precision: str, device: str) -> contextlib.AbstractContextManager:
    """CUDA autocast for fp16/bf16, nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def shorter_side_size(height: int, width: int, size: int) -> tuple[int, int]:
    """torchvision ``Resize(size)``'s output (H, W) for an int size: shorter side = size, longer truncated."""
    short, long = (height, width) if height <= width else (width, height)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if height <= width else (new_long, new_short)


def resize_shorter_side(frames: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """VBench's ``Resize(size, antialias=False)`` on float (B, 3, H, W) frames; no rounding, no clamping."""
    height, width = frames.shape[-2:]
    out_size = shorter_side_size(height, width, size)
    if out_size == (height, width):
        return frames
    return F.interpolate(frames, size=out_size, mode=mode, align_corners=False, antialias=False)


def center_crop(frames: torch.Tensor, size: int) -> torch.Tensor:
    """torchvision ``CenterCrop(size)`` for images at least ``size`` on each side."""
    height, width = frames.shape[-2:]
    if height < size or width < size:
        raise ValueError(f"center_crop({size}) needs an image at least that large, got {height}x{width}")
    top, left = int(round((height - size) / 2.0)), int(round((width - size) / 2.0))
    return frames[..., top : top + size, left : left + size]


def as_device_uint8(frames: np.ndarray | torch.Tensor, device: str) -> torch.Tensor:
    """uint8 (T, H, W, 3) frames on ``device``: a tensor already there as it is (the engine's shared upload of the
    clip, see ``evaluators._frames.frames_source``), numpy frames copied once."""
    if isinstance(frames, torch.Tensor):
        return frames.to(device, non_blocking=True)
    return torch.from_numpy(np.ascontiguousarray(frames)).to(device, non_blocking=True)


def to_device_float(frames: np.ndarray | torch.Tensor, device: str) -> torch.Tensor:
    """uint8 (T, H, W, 3) frames -> float32 (T, 3, H, W) on ``device`` holding 0-255 (converted there)."""
    return as_device_uint8(frames, device).permute(0, 3, 1, 2).float()


def normalise(frames: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """``/255`` then ``Normalize(mean, std)``, in the same order of operations as VBench."""
    mean_t = torch.tensor(mean, device=frames.device, dtype=frames.dtype).view(1, 3, 1, 1)
    std_t = torch.tensor(std, device=frames.device, dtype=frames.dtype).view(1, 3, 1, 1)
    return (frames / 255.0 - mean_t) / std_t


def dino_preprocess(frames: torch.Tensor, size: int = 224) -> torch.Tensor:
    """VBench ``dino_transform``: shorter side -> size (bilinear, no antialias, no crop), /255, ImageNet stats."""
    return normalise(resize_shorter_side(frames, size, "bilinear"), IMAGENET_MEAN, IMAGENET_STD)


def clip_preprocess(frames: torch.Tensor, size: int = 224) -> torch.Tensor:
    """VBench ``clip_transform``: shorter side -> size (bicubic, no antialias), centre crop, /255, CLIP stats."""
    return normalise(center_crop(resize_shorter_side(frames, size, "bicubic"), size), CLIP_MEAN, CLIP_STD)


def batched_features(
    frames: np.ndarray | torch.Tensor, device: str, batch_size: int, preprocess: Callable[[torch.Tensor], torch.Tensor],
    model: Callable[[torch.Tensor], torch.Tensor], precision: str,
) -> torch.Tensor:
    """Float32 features (T, D) of every frame, computed in batches on the device; no host sync per batch."""
    outputs = []
    with torch.inference_mode():
        for batch in _batches(frames, batch_size):
            pixels = preprocess(to_device_float(batch, device))
            with autocast(precision, device):
                outputs.append(model(pixels).float())
    return torch.cat(outputs)


def _batches(frames: np.ndarray | torch.Tensor, batch_size: int) -> Iterator[np.ndarray | torch.Tensor]:
    for start in range(0, frames.shape[0], max(1, batch_size)):
        yield frames[start : start + batch_size]


def consistency_terms(features: torch.Tensor, first: torch.Tensor | None = None,
                      previous: torch.Tensor | None = None) -> torch.Tensor:
    """VBench's per-frame consistency s_i = (max(0, cos(f_{i-1}, f_i)) + max(0, cos(f_0, f_i))) / 2.

    ``features`` (T, D) are L2-normalised here as VBench does. Without ``first``/``previous`` the
    terms are for i = 1..T-1 of this sequence (T-1 values); with them (features of an earlier part
    of the same video) the sequence continues: every row of ``features`` gets a term (T values).
    """
    feats = F.normalize(features.float(), dim=-1, p=2)
    if first is None or previous is None:
        anchor, prev, current = feats[:1], feats[:-1], feats[1:]
    else:
        anchor = F.normalize(first.float().reshape(1, -1), dim=-1, p=2)
        prev = torch.cat([F.normalize(previous.float().reshape(1, -1), dim=-1, p=2), feats[:-1]])
        current = feats
    sim_prev = F.cosine_similarity(prev, current, dim=-1).clamp(min=0.0)
    sim_first = F.cosine_similarity(anchor.expand_as(current), current, dim=-1).clamp(min=0.0)
    return (sim_prev + sim_first) / 2


def check_batch_size(batch_size: int) -> int:
    if int(batch_size) < 1:
        raise OptionError(f"batch_size must be at least 1, got {batch_size!r}")
    return int(batch_size)
