"""RAFT's correlation lookup as one Triton kernel per pyramid level, writing the update block's input directly.

Why: compiled, RAFT's lookup is the native cuDNN sampler fed by copies. On an H100 one clip spent about
21 ms of its 139 ms of kernels there (``benchmarks/RESULTS.md``): the sampler itself, a copy of every grid
before it, and the casts and ``cat``/``permute`` that turn its (N, 1, 9, 9) windows into the (B, 324, h, w)
features the motion encoder reads. Inductor's own gather (``lookup=window``) measured no faster: it
decomposes the window into per-point gathers and relayouts afterwards.

Here one program handles a block of query pixels of one image at one level. It loads the (2r+2)^2 block of
the query's map that the window touches, one row at a time, twice (shifted by a column) so that the blend
along x needs no register shuffles. It blends in fp32 with the fraction shared by every window point (the
window arithmetic of :mod:`evaluators.vbench.window_lookup`: the same values as ``grid_sample`` up to
rounding). Then it stores the 81 values of each query straight into their channels of the output, coalesced
along the query pixels. The pyramid can stay in the volume's half precision: every half value is exact in
fp32, so nothing is lost by skipping the fp32 copy the grid_sample path makes.

The op ``longvgenbench_raft::window_features`` runs this kernel on CUDA and the same arithmetic in plain
torch elsewhere (:func:`window_features_reference`, which the tests compare the kernel with under Triton's
CPU interpreter). It is opaque to ``torch.compile`` (a fake implementation gives the output's shape).
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from evaluators.vbench.window_lookup import window_bilinear

BLOCK_QUERIES = 64


def window_features_reference(levels: list[torch.Tensor], coords: torch.Tensor, radius: int) -> torch.Tensor:
    """(B, L * (2r+1)^2, h, w) fp32 features around ``coords`` (B, 2, h, w), level l read at ``coords / 2^l``.

    ``levels``: L maps (B * h * w, 1, H_l, W_l), one per query pixel (RAFT's correlation pyramid). Channel
    ``l * side^2 + i * side + j`` holds the sample at ``x + i - r, y + j - r`` (torchvision's CorrBlock order).
    """
    batch, _, height, width = coords.shape
    centres = coords.permute(0, 2, 3, 1).reshape(batch * height * width, 2).float()
    sampled = []
    for level in levels:
        window = window_bilinear(level, centres, radius).float()
        sampled.append(window.reshape(batch, height, width, -1))
        centres = centres / 2
    return torch.cat(sampled, dim=-1).permute(0, 3, 1, 2).contiguous()


@functools.cache
def _kernel() -> Any:
    """The Triton kernel, built on first use (Triton is imported only where the op runs on CUDA, or in tests)."""
    import triton
    import triton.language as tl

    @triton.jit
    def window_features_kernel(volume, coords, out, queries, map_height, map_width, scale, channel_offset,
                               out_channels, RADIUS: tl.constexpr, SIDE: tl.constexpr, ROWS: tl.constexpr,
                               BLOCK: tl.constexpr, COLS: tl.constexpr):
        # SIDE = 2 * RADIUS + 1 and ROWS = SIDE + 1 come as arguments: a value computed in the kernel is no constexpr,
        # which tl.static_range needs when compiled (Triton's CPU interpreter does not check it)
        block = tl.program_id(0)
        image = tl.program_id(1).to(tl.int64)
        query = block * BLOCK + tl.arange(0, BLOCK)
        valid = query < queries
        query64 = query.to(tl.int64)
        coord_base = image * 2 * queries + query64
        cx = tl.load(coords + coord_base, mask=valid, other=0.0).to(tl.float32) * scale
        cy = tl.load(coords + coord_base + queries, mask=valid, other=0.0).to(tl.float32) * scale
        # keep windows that lie wholly outside the map wholly outside, and the integer conversion in range
        cx = tl.minimum(tl.maximum(cx, -(RADIUS + 2.0)), map_width + RADIUS + 1.0)
        cy = tl.minimum(tl.maximum(cy, -(RADIUS + 2.0)), map_height + RADIUS + 1.0)
        x_floor = tl.floor(cx)
        y_floor = tl.floor(cy)
        fx = (cx - x_floor)[:, None]
        fy = (cy - y_floor)[:, None]
        first_col = x_floor.to(tl.int32) - RADIUS
        first_row = y_floor.to(tl.int32) - RADIUS
        col = tl.arange(0, COLS)
        col_left = first_col[:, None] + col[None, :]  # the window's column i reads block columns i and i + 1
        col_right = col_left + 1
        in_window = (col < SIDE)[None, :]
        left_ok = (col_left >= 0) & (col_left < map_width) & in_window & valid[:, None]
        right_ok = (col_right >= 0) & (col_right < map_width) & in_window & valid[:, None]
        map_base = (image * queries + query64) * map_height * map_width
        out_base = image * out_channels * queries + query64
        previous = tl.zeros((BLOCK, COLS), dtype=tl.float32)
        for r in tl.static_range(ROWS):
            row = first_row + r
            row_ok = ((row >= 0) & (row < map_height))[:, None]
            row_base = (map_base + row.to(tl.int64) * map_width)[:, None]
            left = tl.load(volume + row_base + col_left, mask=left_ok & row_ok, other=0.0).to(tl.float32)
            right = tl.load(volume + row_base + col_right, mask=right_ok & row_ok, other=0.0).to(tl.float32)
            current = left * (1.0 - fx) + right * fx  # column i: blended along x at x + i - r
            if r > 0:
                value = previous * (1.0 - fy) + current * fy  # window row j = r - 1: y + j - r
                channel = channel_offset + col * SIDE + (r - 1)
                target = out + out_base[:, None] + channel[None, :].to(tl.int64) * queries
                tl.store(target, value, mask=in_window & valid[:, None])
            previous = current

    return window_features_kernel


def window_features_triton(levels: list[torch.Tensor], coords: torch.Tensor, radius: int) -> torch.Tensor:
    """:func:`window_features_reference` through the Triton kernel (CUDA, or CPU under ``TRITON_INTERPRET=1``)."""
    batch, _, height, width = coords.shape
    side = 2 * radius + 1
    queries = height * width
    out = torch.empty((batch, len(levels) * side * side, height, width), dtype=torch.float32, device=coords.device)
    coords = coords.contiguous()
    kernel = _kernel()
    cols = 1 << (side - 1).bit_length()  # the window's columns, padded to a power of two
    grid = ((queries + BLOCK_QUERIES - 1) // BLOCK_QUERIES, batch)
    for index, level in enumerate(levels):
        volume = level.contiguous()
        kernel[grid](volume, coords, out, queries, volume.shape[-2], volume.shape[-1], 0.5**index,
                     index * side * side, out.shape[1], RADIUS=radius, SIDE=side, ROWS=side + 1, BLOCK=BLOCK_QUERIES,
                     COLS=cols)
    return out


@torch.library.custom_op("longvgenbench_raft::window_features", mutates_args=())
def window_features(levels: list[torch.Tensor], coords: torch.Tensor, radius: int) -> torch.Tensor:
    """RAFT's correlation features (see :func:`window_features_reference`); the Triton kernel on CUDA."""
    return window_features_reference(levels, coords, radius)


@window_features.register_kernel("cuda")
def _window_features_cuda(levels: list[torch.Tensor], coords: torch.Tensor, radius: int) -> torch.Tensor:
    return window_features_triton(levels, coords, radius)


@window_features.register_fake
def _window_features_fake(levels: list[torch.Tensor], coords: torch.Tensor, radius: int) -> torch.Tensor:
    batch, _, height, width = coords.shape
    return coords.new_empty((batch, len(levels) * (2 * radius + 1) ** 2, height, width), dtype=torch.float32)
