"""MUSIQ's multi-scale patch input built on the image's device, and a MUSIQ wrapper that uses it.

Why: pyiqa's ``get_multiscale_patches`` builds its position, scale and mask rows, and the zero padding
up to each scale's sequence length, as CPU tensors and copies them to the GPU for every batch and
every scale. Those pageable host-to-device copies (plus the ``copy_`` kernels behind them) took about
a quarter of MUSIQ's GPU time on an H100 profile of one 81-frame clip. Here every tensor is made on
``image.device`` from Python ints (shapes only: no host sync, no numpy), the small rows are made once
per shape, and the patches come from a reshape when the patch size equals the stride (pyiqa's
``unfold`` after "SAME" padding gives the same numbers for that case, as a data copy).

The result is the tensor pyiqa's ``get_multiscale_patches`` returns, value for value
(``tests/test_musiq_patches.py`` checks ``torch.equal``); only its memory layout may differ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from longvgenbench.errors import OptionError

# (device, dtype, grid, count_h, count_w, scale_id) -> (3, count_h * count_w) rows: hashed position, scale, mask
_ROWS_CACHE: dict[tuple[torch.device, torch.dtype, int, int, int, int], torch.Tensor] = {}
_ROWS_CACHE_MAX = 64


def hashed_axis_index(grid_size: int, count: int, device: torch.device | str) -> torch.Tensor:
    """float32 (count,): which of ``grid_size`` hash cells each of ``count`` patches along one axis falls in.

    pyiqa gets this from ``F.interpolate(arange(grid_size), count, mode='nearest')``, whose index is
    ``min(floor(j * s), grid_size - 1)`` with ``s = float32(grid_size) / count`` and the product in float32.
    An integer ``j * grid_size // count`` differs from that for some counts (205, 235, ... for a grid of 10),
    so the float32 arithmetic is reproduced: the quotient is rounded to float32 by a float64 -> float32
    cast (Python's float64 quotient rounded again to float32 is the correctly rounded float32 quotient:
    53 >= 2 * 24 + 2 bits), then multiplied in float32. Everything is made on ``device``.
    """
    scale = torch.full((), grid_size / count, dtype=torch.float64, device=device).to(torch.float32)
    index = torch.arange(count, dtype=torch.float32, device=device) * scale
    return index.floor().clamp(max=grid_size - 1)


def _extra_rows(grid_size: int, count_h: int, count_w: int, scale_id: int, device: torch.device,
                dtype: torch.dtype) -> torch.Tensor:
    """(3, count_h * count_w) in ``dtype``: hashed spatial position (row-major), scale id, input mask (1)."""
    rows_h = hashed_axis_index(grid_size, count_h, device)
    rows_w = hashed_axis_index(grid_size, count_w, device)
    position = (rows_h.unsqueeze(1) * grid_size + rows_w.unsqueeze(0)).reshape(1, -1)
    scale = torch.full_like(position, float(scale_id))
    mask = torch.ones_like(position)
    return torch.cat([position, scale, mask]).to(dtype)


def _cached_extra_rows(grid_size: int, count_h: int, count_w: int, scale_id: int, device: torch.device,
                       dtype: torch.dtype) -> torch.Tensor:
    """:func:`_extra_rows`, made once per shape in eager mode; traced under ``torch.compile`` (which folds it)."""
    if torch.compiler.is_compiling():
        return _extra_rows(grid_size, count_h, count_w, scale_id, device, dtype)
    key = (device, dtype, grid_size, count_h, count_w, scale_id)
    rows = _ROWS_CACHE.get(key)
    if rows is None:
        if len(_ROWS_CACHE) >= _ROWS_CACHE_MAX:
            _ROWS_CACHE.clear()
        rows = _ROWS_CACHE[key] = _extra_rows(grid_size, count_h, count_w, scale_id, device, dtype)
    return rows


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding of one axis (before, after), as pyiqa computes it (may be negative: a crop)."""
    total = (math.ceil(size / stride) - 1) * stride + kernel - size
    return total // 2, total - total // 2


def _patch_tokens(image: torch.Tensor, patch_size: int, patch_stride: int) -> torch.Tensor:
    """(n, count_h * count_w, c * patch_size**2): every patch flattened channel-major, as pyiqa's unfold orders it."""
    n, c, h, w = image.shape
    top, bottom = _same_padding(h, patch_size, patch_stride)
    left, right = _same_padding(w, patch_size, patch_stride)
    padded = F.pad(image, (left, right, top, bottom)) if (top, bottom, left, right) != (0, 0, 0, 0) else image
    count_h, count_w = math.ceil(h / patch_stride), math.ceil(w / patch_stride)
    if patch_size == patch_stride:  # non-overlapping patches: a reshape, no im2col kernel
        blocks = padded.reshape(n, c, count_h, patch_size, count_w, patch_size)
        return blocks.permute(0, 2, 4, 1, 3, 5).reshape(n, count_h * count_w, c * patch_size * patch_size)
    return F.unfold(padded, patch_size, stride=patch_stride).transpose(1, 2)


def _scale_tokens(image: torch.Tensor, patch_size: int, patch_stride: int, hse_grid_size: int, scale_id: int,
                  max_seq_len: int) -> torch.Tensor:
    """(n, L, c * patch_size**2 + 3) for one scale: patches, then position, scale id and mask columns;
    L = ``max_seq_len`` (cut, or zero-padded: padded tokens have mask 0) unless it is negative (all patches)."""
    n, _, h, w = image.shape
    tokens = _patch_tokens(image, patch_size, patch_stride)
    rows = _cached_extra_rows(hse_grid_size, math.ceil(h / patch_stride), math.ceil(w / patch_stride), scale_id,
                              image.device, tokens.dtype)
    out = torch.cat([tokens, rows.t().unsqueeze(0).expand(n, -1, -1)], dim=2)
    if max_seq_len >= 0:
        count = out.shape[1]
        out = out[:, :max_seq_len] if count >= max_seq_len else F.pad(out, (0, 0, 0, max_seq_len - count))
    return out


def multiscale_patches(image: torch.Tensor, patch_size: int = 32, patch_stride: int = 32, hse_grid_size: int = 10,
                       longer_side_lengths: Sequence[int] = (224, 384),
                       max_seq_len_from_original_res: int | None = -1,
                       dtype: torch.dtype | None = None) -> torch.Tensor:
    """pyiqa's ``get_multiscale_patches`` on ``image``'s device: (n, tokens, c * patch_size**2 + 3).

    ``image`` is (n, c, h, w) (or (c, h, w)). For each longer-side length (sorted), the image is resized
    (bicubic, aspect kept, ``round`` of the scaled sides), cut into patches, given hashed positions, its
    scale id and a mask, and cut or zero-padded to ``ceil(length / stride)**2`` tokens; then the image
    itself at scale id ``len(longer_side_lengths)`` with ``max_seq_len_from_original_res`` tokens (negative:
    all of them; None: no original-resolution scale). Defaults are MUSIQ's (``MUSIQ.data_preprocess_opts``).

    ``dtype``: cast each (resized) image to it before cutting patches. Under CUDA autocast the bicubic
    resize returns float32 even for half inputs, so pyiqa cuts two of three scales in float32 and the
    model's first convolution casts them to half; cutting patches only copies values, so casting first
    gives that convolution the same numbers at half the bytes. Positions (< grid**2), scale ids and the
    mask are exact in half precision. None keeps pyiqa's dtypes exactly.
    """
    if image.dim() == 3:
        image = image.unsqueeze(0)
    if image.dim() != 4:
        raise OptionError(f"MUSIQ patches need an (n, c, h, w) image, got shape {tuple(image.shape)}")
    _, _, h, w = image.shape
    outputs = []
    lengths = sorted(longer_side_lengths)
    for scale_id, length in enumerate(lengths):
        ratio = length / max(h, w)
        resized = F.interpolate(image, (round(h * ratio), round(w * ratio)), mode="bicubic", align_corners=False)
        if dtype is not None:
            resized = resized.to(dtype)
        outputs.append(_scale_tokens(resized, patch_size, patch_stride, hse_grid_size, scale_id,
                                     math.ceil(length / patch_stride) ** 2))
    if max_seq_len_from_original_res is not None:
        original = image if dtype is None else image.to(dtype)
        outputs.append(_scale_tokens(original, patch_size, patch_stride, hse_grid_size, len(lengths),
                                     max_seq_len_from_original_res))
    return torch.cat(outputs, dim=1)  # promotes mixed dtypes (float32 resizes + a half original) as pyiqa's does


class DevicePatchedMUSIQ(torch.nn.Module):
    """pyiqa's MUSIQ in eval mode with its patch extraction replaced by :func:`multiscale_patches`.

    ``forward(x)`` (x: (b, 3, h, w) in [0, 1]) returns what ``MUSIQ.forward(x)`` returns with
    ``return_mos=True, return_dist=False`` in eval mode: the same submodule calls in the same order, on
    the same patch values. The MOS weighting (pyiqa's ``dist_to_mos``: the distribution times 1..C, summed)
    is done with a device ``arange`` instead of a copied CPU one. The MUSIQ stays a submodule (``musiq``),
    so the checkpoint is loaded into pyiqa's class first and the wrapper added after.

    ``patch_dtype``: passed to :func:`multiscale_patches` (the autocast dtype: the first convolution sees
    the same numbers as in pyiqa's path, see there). Inference only: pyiqa's training mode expects inputs
    already cut into patches.
    """

    def __init__(self, musiq: torch.nn.Module, patch_dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.musiq = musiq
        self.patch_dtype = patch_dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        musiq = self.musiq
        if musiq.training:
            raise OptionError("DevicePatchedMUSIQ is for inference: call .eval() (pyiqa's training mode takes "
                              "pre-cut patches)")
        x = (x - 0.5) * 2  # MUSIQ's [-1, 1] input range
        x = multiscale_patches(x, **musiq.data_preprocess_opts, dtype=self.patch_dtype)
        b, seq_len, _ = x.shape
        spatial_positions = x[:, :, -3]
        scale_positions = x[:, :, -2]
        masks = x[:, :, -1].bool()
        x = x[:, :, :-3].reshape(-1, 3, musiq.patch_size, musiq.patch_size)
        x = musiq.conv_root(x)
        x = musiq.gn_root(x)
        x = musiq.root_pool(x)
        x = musiq.block1(x)
        x = x.permute(0, 2, 3, 1).reshape(b, seq_len, -1)  # TensorFlow's channel order, as pyiqa
        x = musiq.embedding(x)
        x = musiq.transformer_encoder(x, spatial_positions, scale_positions, masks)
        dist = musiq.head(x[:, 0]).reshape(b, 1, -1).mean(dim=1)  # one crop per image
        levels = torch.arange(1, dist.shape[-1] + 1, device=dist.device).to(dist)
        return (dist * levels).sum(dim=-1, keepdim=True)
