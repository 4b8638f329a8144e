"""Correlation-window lookups as one gather of an integer block and a bilinear blend (AMT-S and RAFT).

Why: AMT-S and RAFT read, for every query pixel and pyramid level, a (2r+1) x (2r+1) window of a
small 2-D correlation map around a fractional centre, through ``F.grid_sample`` (bilinear, zeros
padding, ``align_corners=True``). Compiled, Inductor decomposes that into 4 scattered gathers per
window point: 196 loads per query at r = 3, 324 at r = 4. But every window point is the centre plus
an *integer* offset, so all points share the centre's fractional part: the window is a bilinear
blend of one (2r+2) x (2r+2) block of integer-position values (64 or 100 loads, rows contiguous),
with the fractional weights computed once per query.

Values equal grid_sample's up to rounding, not bit for bit: grid_sample normalises and un-normalises
every point's coordinate (``2x/(W-1) - 1`` by the caller, back to pixels inside) and takes each
point's own floor and fraction; here the fraction is taken once from the un-normalised centre. The
difference is the slope of the map times a few ulp of the coordinate (tests bound it).

Out-of-range samples: grid_sample's zeros padding is per *corner* (a window point straddling the
border blends its in-range corners with zeros). Here the block's row and column indices are clamped
into the map for the gather and the out-of-range ones masked to zero afterwards: per corner, as there.
(Padding the volume by a ring of zeros instead would save the mask, but the volume is the large
tensor, (h*w)^2 values per image: padding per call copies all of it, and padding once when the
pyramid is built would change what the grid_sample path stores. The mask is 2 * (2r+2) compares per
query, nothing next to the loads.)

Pure tensor code with static shapes: no data-dependent Python control flow and no host syncs, so it
compiles into one fused gather-and-blend kernel. Centres must be finite (as the callers' are).

One deliberate difference: on a map with a side of 1 (a pyramid level of frames under 128 px) the
callers' normalisation divides by zero and grid_sample returns NaN; the window returns the bilinear
value, zeros outside. Benchmark frames never get there.
"""

from __future__ import annotations

import torch

from longvgenbench.errors import OptionError

LOOKUP_CHOICES = ("grid_sample", "window")
#: RAFT also has ``triton``: :mod:`evaluators.vbench.triton_lookup`, one kernel per level writing its features.
RAFT_LOOKUP_CHOICES = (*LOOKUP_CHOICES, "triton")


def check_lookup(lookup: str, choices: tuple[str, ...] = LOOKUP_CHOICES) -> str:
    """``lookup`` if it is one of ``choices``, else an :class:`OptionError` naming them."""
    if lookup not in choices:
        raise OptionError(f"lookup must be one of {choices}, got {lookup!r}")
    return lookup


def _block_indices(start: torch.Tensor, block: int, size: int, radius: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, block) clamped integer positions ``start - radius + k`` along one axis, and which were inside the map.

    ``start`` (the floored centre, float) is clamped first to a range that keeps every window that lies wholly
    outside the map wholly outside, so huge centres never overflow the integer conversion.
    """
    first = start.clamp(-(block + radius), size + radius).to(torch.int64) - radius
    positions = first[:, None] + torch.arange(block, device=start.device)
    inside = (positions >= 0) & (positions < size)
    return positions.clamp(0, size - 1), inside


def window_bilinear(volume: torch.Tensor, centres: torch.Tensor, radius: int) -> torch.Tensor:
    """Bilinear samples of each query's map in a (2r+1)^2 window around its centre.

    ``volume`` (N, 1, H, W): one map per query (N = batch * query pixels, as AMT-S and RAFT build it);
    ``centres`` (N, 2): x, y in pixels, pixel centres at integers (``align_corners=True``). Returns
    (N, 2r+1, 2r+1) with ``out[n, i, j]`` the sample at ``x = cx + i - r, y = cy + j - r``: the first
    window axis runs along x, as in the callers' ``grid_sample`` grids (their offsets come from
    ``meshgrid(steps, steps, indexing="ij")`` with the first component added to x). The result is a
    transposed view (the gather reads rows, which are contiguous in memory); ``reshape`` it, not ``view``.
    Dtype: the type promotion of the volume's and the centres' (a half-precision volume gathers half the
    bytes and blends in fp32 with fp32 centres).
    """
    if volume.dim() != 4 or volume.shape[1] != 1:
        raise ValueError(f"volume must be (N, 1, H, W), got {tuple(volume.shape)}")
    if centres.shape != (volume.shape[0], 2):
        raise ValueError(f"centres must be ({volume.shape[0]}, 2), got {tuple(centres.shape)}")
    count, _, height, width = volume.shape
    block = 2 * radius + 2
    x_floor, y_floor = torch.floor(centres[:, 0]), torch.floor(centres[:, 1])
    frac_x = (centres[:, 0] - x_floor)[:, None, None]
    frac_y = (centres[:, 1] - y_floor)[:, None, None]
    columns, columns_inside = _block_indices(x_floor, block, width, radius)
    rows, rows_inside = _block_indices(y_floor, block, height, radius)
    index = (rows[:, :, None] * width + columns[:, None, :]).reshape(count, block * block)
    values = torch.gather(volume.reshape(count, height * width), 1, index).view(count, block, block)
    inside = rows_inside[:, :, None] & columns_inside[:, None, :]
    values = torch.where(inside, values, torch.zeros((), dtype=values.dtype, device=values.device))
    # separable blend: along x within each block row, then along y; rows are y, columns x
    along_x = values[:, :, :-1] * (1 - frac_x) + values[:, :, 1:] * frac_x
    along_y = along_x[:, :-1, :] * (1 - frac_y) + along_x[:, 1:, :] * frac_y
    return along_y.transpose(1, 2)
